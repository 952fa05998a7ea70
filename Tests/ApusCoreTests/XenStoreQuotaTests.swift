import Testing
@testable import ApusCore

@Suite struct XenStoreQuotaTests {
    @Test func nodeQuota() {
        var limits = XenStoreLimits()
        limits.nodesPerDomain = 50
        let s = XenStore.twoDomains(limits: limits)
        var created = 0
        var last: XSReply? = nil
        for i in 0..<100 {
            let r = s.writeValue("data/k\(i)", "", from: 1)
            if r.isError { last = r; break }
            created += 1
        }
        #expect(last?.errorName == "ENOSPC")
        #expect(s.nodeCount(ownedBy: 1) == 50)
        // Overwriting an existing node needs no new node.
        #expect(s.writeValue("data/k0", "value", from: 1).payload == xsOK)
        // A write that would create several nodes fails as a whole.
        _ = s.req(XS.rm, xz("data/k0"), from: 1)
        #expect(s.writeValue("data/deep/er", "", from: 1).errorName == "ENOSPC")
        #expect(s.readValue("data/deep", from: 1).errorName == "ENOENT")
        #expect(s.writeValue("data/one", "", from: 1).payload == xsOK)
        // Removing frees quota.
        _ = s.req(XS.rm, xz("data"), from: 1)
        #expect(s.writeValue("data/again", "", from: 1).payload == xsOK)
        // Domain 0 has none.
        for i in 0..<60 { #expect(s.writeValue("/hv/k\(i)", "", from: 0).payload == xsOK) }
    }

    @Test func defaultNodeQuotaIs1000() {
        let s = XenStore.twoDomains()
        // Spread over directories: one node's child list is limited by the node size too.
        for g in 0..<10 { #expect(s.req(XS.mkdir, xz("data/g\(g)"), from: 2).payload == xsOK) }
        var i = 0
        while s.nodeCount(ownedBy: 2) < 1000 && i < 2000 {
            #expect(s.writeValue("data/g\(i / 100)/n\(i)", "", from: 2).payload == xsOK)
            i += 1
        }
        #expect(s.nodeCount(ownedBy: 2) == 1000)
        #expect(s.writeValue("feature/one-more", "", from: 2).errorName == "ENOSPC")
    }

    @Test func valueSize() {
        let s = XenStore.twoDomains()
        let max = String(repeating: "v", count: 2048)
        #expect(s.writeValue("data/big", max, from: 1).payload == xsOK)
        #expect(s.readValue("data/big", from: 1).payload.count == 2048)
        #expect(s.writeValue("data/big", max + "v", from: 1).errorName == "ENOSPC")
        #expect(s.writeValue("data/new", max + "v", from: 1).errorName == "ENOSPC")
        // Value plus child names count: a node with children has less room.
        _ = s.writeValue("data/dir/child", "", from: 1)
        #expect(s.writeValue("data/dir", max, from: 1).errorName == "ENOSPC")
        // The privileged domain may write up to what a message carries.
        let huge = String(repeating: "h", count: 4000)
        #expect(s.writeValue("/local/domain/1/data/hv", huge, from: 0).payload == xsOK)
        #expect(s.readValue("data/hv", from: 1).payload.count == 4000)
    }

    @Test func childListSize() {
        var limits = XenStoreLimits()
        limits.nodeSize = 64
        let s = XenStore.twoDomains(limits: limits)
        var ok = 0
        for i in 0..<20 {
            let r = s.writeValue("data/child\(i)", "", from: 1)
            if r.isError { #expect(r.errorName == "ENOSPC"); break }
            ok += 1
        }
        #expect(ok > 0 && ok < 20)
    }

    @Test func permissionListLength() {
        let s = XenStore.twoDomains()
        _ = s.writeValue("data/p", "", from: 1)
        #expect(s.req(XS.setPerms, xz("data/p", "n1", "r2", "r3", "r4", "r5"), from: 1).payload == xsOK)
        #expect(s.req(XS.setPerms, xz("data/p", "n1", "r2", "r3", "r4", "r5", "r6"), from: 1).errorName == "ENOSPC")
        #expect(s.req(XS.setPerms, xz("/local/domain/1/data/p", "n1", "r2", "r3", "r4", "r5", "r6"), from: 0).payload == xsOK)
    }

    @Test func pathLengths() {
        let s = XenStore.twoDomains()
        // Relative part (below /local/domain/<id>/) must stay under 2048 bytes.
        let rel2047 = "data/" + String(repeating: "a", count: 2042)
        #expect(rel2047.utf8.count == 2047)
        #expect(s.writeValue(rel2047, "", from: 1).payload == xsOK)
        let rel2048 = rel2047 + "b"
        #expect(s.writeValue(rel2048, "", from: 1).errorName == "EINVAL")
        #expect(s.writeValue("/local/domain/1/" + rel2048, "", from: 1).errorName == "EINVAL", "same path, absolute")
        // Absolute paths up to 3072 for the privileged domain, never more.
        let abs3072 = "/" + String(repeating: "x", count: 3071)
        #expect(s.writeValue(abs3072, "", from: 0).payload == xsOK)
        #expect(s.writeValue(abs3072 + "x", "", from: 0).errorName == "EINVAL")
        // Outside /local/domain the whole path counts for a domain.
        #expect(s.readValue("/" + String(repeating: "y", count: 2047), from: 1).errorName == "EINVAL")
    }

    @Test func replyLargerThanAPayloadIsE2BIG() {
        let s = XenStore.twoDomains()
        for i in 0..<300 { _ = s.writeValue("/wide/entry-number-\(i)", "", from: 0) }
        let r = s.req(XS.directory, xz("/wide"), from: 0, req: 31)
        #expect(r == XSReply(xsMsg(XS.error, xz("E2BIG"), req: 31)))
    }
}
