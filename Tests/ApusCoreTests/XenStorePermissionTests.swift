import Testing
@testable import ApusCore

@Suite struct XenStorePermissionTests {
    @Test func domainCannotTouchAnotherDomainsHome() {
        let s = XenStore.twoDomains()
        #expect(s.readValue("/local/domain/2/name", from: 1).errorName == "EACCES")
        #expect(s.req(XS.directory, xz("/local/domain/2"), from: 1).errorName == "EACCES")
        #expect(s.writeValue("/local/domain/2/data/x", "1", from: 1).errorName == "EACCES")
        #expect(s.req(XS.mkdir, xz("/local/domain/2/data/y"), from: 1).errorName == "EACCES")
        #expect(s.req(XS.rm, xz("/local/domain/2/data"), from: 1).errorName == "EACCES")
        #expect(s.req(XS.getPerms, xz("/local/domain/2"), from: 1).errorName == "EACCES")
        #expect(s.req(XS.setPerms, xz("/local/domain/2", "b1"), from: 1).errorName == "EACCES")
        // Existence is not revealed: a missing node under someone else's home is EACCES too.
        #expect(s.readValue("/local/domain/2/nonexistent", from: 1).errorName == "EACCES")
        #expect(s.readValue("/local/domain/1/nonexistent", from: 1).errorName == "ENOENT")
        // Nor the tree above.
        #expect(s.req(XS.directory, xz("/local/domain"), from: 1).errorName == "EACCES")
        #expect(s.req(XS.directory, xz("/"), from: 1).errorName == "EACCES")
        #expect(s.writeValue("/newtop", "x", from: 1).errorName == "EACCES")
    }

    @Test func ownerCanReadWriteItsHome() {
        let s = XenStore.twoDomains()
        #expect(s.readValue("name", from: 1).text == "alpha")
        #expect(s.readValue("domid", from: 2).text == "2")
        #expect(s.writeValue("newkey", "v", from: 1).payload == xsOK)
        #expect(s.readValue("/local/domain/1/newkey", from: 1).text == "v")
        #expect(s.req(XS.directory, xz(""), from: 1).errorName == "EINVAL", "empty path")
        #expect(s.req(XS.directory, xz("/local/domain/1"), from: 1).strings.contains("control"))
    }

    @Test func privilegedSeesAndChangesEverything() {
        let s = XenStore.twoDomains()
        #expect(s.readValue("/local/domain/2/name", from: 0).text == "beta")
        #expect(s.writeValue("/local/domain/2/data/fromhv", "1", from: 0).payload == xsOK)
        #expect(s.readValue("data/fromhv", from: 2).text == "1")
        #expect(s.req(XS.setPerms, xz("/local/domain/2/data/fromhv", "n1"), from: 0).payload == xsOK)
        #expect(s.readValue("data/fromhv", from: 2).errorName == "EACCES", "now owned by 1, no access for others")
        #expect(s.readValue("/local/domain/2/data/fromhv", from: 1).text == "1")
        #expect(s.req(XS.directory, xz("/local/domain"), from: 0).strings == ["0", "1", "2"])
        #expect(s.readValue("/local/domain/0/name", from: 0).text == "Domain-0")
        // The privileged API does the same without messages.
        #expect(s.read(xb("/local/domain/1/name")) == xb("alpha"))
        #expect(s.read(xb("bad//path")) == nil)
        #expect(s.read(xb("name")) == xb("Domain-0"), "relative to /local/domain/0")
        #expect(s.directory(xb("/local/domain/1/control"))?.contains(xb("shutdown")) == true)
        #expect(s.permissions(of: xb("@introduceDomain")) == [XenStorePermission(domid: 0, access: .none)])
        #expect(throws: XenStoreError.einval) { try s.write(xb("/bad/"), []) }
        try? s.write(xb("/local/domain/1/data/api"), xb("x"))
        #expect(s.readValue("data/api", from: 1).text == "x")
    }

    @Test func grantingReadAndWrite() {
        let s = XenStore.twoDomains()
        _ = s.writeValue("data/shared", "hello", from: 1)
        #expect(s.readValue("/local/domain/1/data/shared", from: 2).errorName == "EACCES")
        #expect(s.req(XS.setPerms, xz("data/shared", "n1", "r2"), from: 1).payload == xsOK)
        #expect(s.readValue("/local/domain/1/data/shared", from: 2).text == "hello")
        #expect(s.writeValue("/local/domain/1/data/shared", "x", from: 2).errorName == "EACCES")
        #expect(s.req(XS.setPerms, xz("data/shared", "n1", "w2"), from: 1).payload == xsOK)
        #expect(s.writeValue("/local/domain/1/data/shared", "x", from: 2).payload == xsOK)
        #expect(s.readValue("/local/domain/1/data/shared", from: 2).errorName == "EACCES", "write-only")
        // The default (owner entry's access) applies to unlisted domains.
        #expect(s.req(XS.setPerms, xz("data/shared", "r1"), from: 1).payload == xsOK)
        #expect(s.readValue("/local/domain/1/data/shared", from: 2).text == "x")
        // A listed entry overrides the default.
        #expect(s.req(XS.setPerms, xz("data/shared", "b1", "n2"), from: 1).payload == xsOK)
        #expect(s.readValue("/local/domain/1/data/shared", from: 2).errorName == "EACCES")
    }

    @Test func domidAnyEntryMatchesEveryone() {
        let s = XenStore.twoDomains()
        _ = s.writeValue("data/pub", "p", from: 1)
        #expect(s.req(XS.setPerms, xz("data/pub", "n1", "r32757"), from: 1).payload == xsOK)
        #expect(s.readValue("/local/domain/1/data/pub", from: 2).text == "p")
    }

    @Test func createdNodesInheritPermissionsAndCreatorOwnsThem() {
        let s = XenStore.twoDomains()
        _ = s.writeValue("data/dir", "", from: 1)
        #expect(s.req(XS.setPerms, xz("data/dir", "n1", "b2"), from: 1).payload == xsOK)
        // Domain 2 may create below it; the new nodes are its own, with the rest inherited.
        let before = s.nodeCount(ownedBy: 2)
        #expect(s.writeValue("/local/domain/1/data/dir/a/b", "v", from: 2).payload == xsOK)
        #expect(s.req(XS.getPerms, xz("/local/domain/1/data/dir/a"), from: 2).payload == xz("n2", "b2"))
        #expect(s.req(XS.getPerms, xz("/local/domain/1/data/dir/a/b"), from: 2).payload == xz("n2", "b2"))
        #expect(s.nodeCount(ownedBy: 2) == before + 2)
        // Nodes created by the privileged domain keep the parent's owner.
        _ = s.writeValue("/local/domain/1/data/hv", "1", from: 0)
        #expect(s.req(XS.getPerms, xz("/local/domain/1/data/hv"), from: 0).payload == xz("n1", "r0"))
    }

    @Test func onlyTheOwnerSetsPermissionsAndCannotGiveNodesAway() {
        let s = XenStore.twoDomains()
        _ = s.writeValue("data/n", "", from: 1)
        #expect(s.req(XS.setPerms, xz("data/n", "n1", "b2"), from: 1).payload == xsOK)
        // Write access is not ownership.
        #expect(s.req(XS.setPerms, xz("/local/domain/1/data/n", "n2"), from: 2).errorName == "EACCES")
        // The owner may not hand the node to another domain.
        #expect(s.req(XS.setPerms, xz("data/n", "n2"), from: 1).errorName == "EPERM")
        // The privileged domain may.
        #expect(s.req(XS.setPerms, xz("/local/domain/1/data/n", "n2"), from: 0).payload == xsOK)
        #expect(s.req(XS.getPerms, xz("/local/domain/1/data/n"), from: 2).payload == xz("n2"))
    }

    @Test func setPermsOwnerMustBeALiveDomain() {
        let s = XenStore.twoDomains()
        #expect(s.req(XS.setPerms, xz("/local/domain/1/data", "n9"), from: 0).errorName == "ENOENT")
        // Entries for unknown domains are kept but never match.
        #expect(s.req(XS.setPerms, xz("/local/domain/1/data", "n1", "r9"), from: 0).payload == xsOK)
        #expect(s.req(XS.getPerms, xz("/local/domain/1/data"), from: 0).payload == xz("n1", "r9"))
        s.introduce(domid: 9, name: xb("late"))
        #expect(s.readValue("/local/domain/1/data", from: 9).errorName == "EACCES")
    }

    @Test func specialPathsHavePermissions() {
        let s = XenStore.twoDomains()
        #expect(s.req(XS.getPerms, xz("@releaseDomain"), from: 0).payload == xz("n0"))
        #expect(s.req(XS.getPerms, xz("@releaseDomain"), from: 1).errorName == "EACCES")
        #expect(s.req(XS.setPerms, xz("@releaseDomain", "n0", "r1"), from: 0).payload == xsOK)
        #expect(s.req(XS.getPerms, xz("@releaseDomain"), from: 1).payload == xz("n0", "r1"))
        #expect(s.req(XS.getPerms, xz("@other"), from: 0).errorName == "ENOENT")
        #expect(s.readValue("@releaseDomain", from: 0).errorName == "EINVAL", "READ takes no special names")
    }

    @Test func introducedHomeLooksLikeDom0less() {
        let s = XenStore()
        #expect(s.introduce(domid: 5, name: xb("guest"),
                            setup: XenStoreDomainSetup(vcpus: 2, memoryKiB: 262144, storeEventChannel: 1, storeRingGFN: 0x39001)))
        #expect(!s.introduce(domid: 5, name: xb("again")))
        #expect(!s.introduce(domid: 0, name: xb("zero")))
        #expect(!s.introduce(domid: 0x7FF0, name: xb("self")))
        let home = "/local/domain/5"
        let expected: [(String, String)] = [
            ("name", "guest"), ("domid", "5"), ("vm", "/vm/00000000-0000-0000-0000-000000000005"),
            ("cpu/0/availability", "online"), ("cpu/1/availability", "online"),
            ("memory/static-max", "262144"), ("memory/target", "262144"),
            ("control/shutdown", ""), ("control/feature-poweroff", "1"),
            ("control/platform-feature-xs_reset_watches", "1"), ("device", ""), ("data", ""),
            ("store/port", "1"), ("store/ring-ref", "233473"),
        ]
        for (k, v) in expected {
            let r = s.readValue(k, from: 5)
            #expect(r.type == XS.read && r.text == v, "\(k)")
            #expect(s.req(XS.getPerms, xz("\(home)/\(k)"), from: 0).payload == xz("n5", "r0"), "\(k)")
        }
        #expect(s.req(XS.getPerms, xz(home), from: 0).payload == xz("n5", "r0"))
        #expect(s.readValue("/vm/00000000-0000-0000-0000-000000000005/name", from: 0).text == "guest")
        #expect(s.readValue("/vm/00000000-0000-0000-0000-000000000005/name", from: 5).errorName == "EACCES")
        #expect(s.nodeCount(ownedBy: 5) > 20)
        // The domain may write into its control directory (Linux writes feature flags).
        #expect(s.writeValue("control/feature-balloon", "1", from: 5).payload == xsOK)
    }

    @Test func releaseRemovesHomeAndForgetsTheDomain() {
        let s = XenStore.twoDomains()
        _ = s.writeValue("/local/domain/1/data/forone", "x", from: 1)
        _ = s.req(XS.setPerms, xz("/local/domain/1/data/forone", "n1", "r2"), from: 1)
        // Domain 2 creates a node outside its home where 1 lets it.
        _ = s.req(XS.setPerms, xz("/local/domain/1/data", "n1", "b2"), from: 1)
        #expect(s.writeValue("/local/domain/1/data/by2", "y", from: 2).payload == xsOK)
        #expect(s.release(domid: 2))
        #expect(!s.release(domid: 2))
        #expect(!s.isIntroduced(2))
        #expect(s.readValue("/local/domain/2", from: 0).errorName == "ENOENT")
        #expect(s.nodeCount(ownedBy: 2) == 0)
        // Its leftover node is removed (Xen gives it to dom0; see docs/xen-interfaces.md);
        // entries naming 2 are disabled.
        #expect(s.req(XS.getPerms, xz("/local/domain/1/data/by2"), from: 0).errorName == "ENOENT")
        #expect(s.req(XS.getPerms, xz("/local/domain/1/data/forone"), from: 0).payload == xz("n1", "r2"))
        // A new domain 2 does not inherit the old one's grants.
        s.introduce(domid: 2, name: xb("beta2"))
        #expect(s.readValue("/local/domain/1/data/forone", from: 2).errorName == "EACCES")
        #expect(s.readValue("/local/domain/1/data/by2", from: 2).errorName == "EACCES")
        #expect(s.readValue("name", from: 2).text == "beta2")
        // Messages from a domain that is not introduced are refused.
        #expect(s.release(domid: 2))
        #expect(s.readValue("name", from: 2).errorName == "EACCES")
    }

    @Test func privilegedOnlyRequests() {
        let s = XenStore.twoDomains()
        for t in [XS.introduce, XS.release, XS.resume, XS.setTarget, XS.isIntroduced, UInt32(0), UInt32(24), UInt32(25), UInt32(26)] {
            #expect(s.req(t, xz("2"), from: 1).errorName == "EACCES", "type \(t)")
        }
        // From the privileged domain: RELEASE works, the others are not offered over the wire.
        #expect(s.req(XS.introduce, xz("3", "0", "1"), from: 0).errorName == "ENOSYS")
        #expect(s.req(XS.release, xz("2"), from: 0).payload == xsOK)
        #expect(!s.isIntroduced(2))
        #expect(s.req(XS.release, xz("2"), from: 0).errorName == "ENOENT")
        #expect(s.req(XS.release, xz("0"), from: 0).errorName == "EINVAL")
    }
}
