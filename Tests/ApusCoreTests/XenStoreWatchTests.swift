import Testing
@testable import ApusCore

@Suite struct XenStoreWatchTests {
    @Test func writeByOneDomainFiresAnothersWatch() {
        let s = XenStore.twoDomains()
        _ = s.writeValue("data/box", "", from: 1)
        _ = s.req(XS.setPerms, xz("data/box", "n1", "b2"), from: 1)
        #expect(s.req(XS.watch, xz("data/box", "mine"), from: 1).payload == xsOK)
        #expect(s.events(for: 1).map { $0.0 } == ["data/box"])
        #expect(s.domainsWithPendingEvents().isEmpty)
        #expect(s.writeValue("/local/domain/1/data/box/msg", "hi", from: 2).payload == xsOK)
        #expect(s.domainsWithPendingEvents() == [1])
        // Relative watch: relative event path. Byte-exact message.
        #expect(s.pendingWatchEvents(for: 1) == [xsMsg(XS.watchEvent, xz("data/box/msg", "mine"))])
        #expect(s.domainsWithPendingEvents().isEmpty)
        #expect(s.pendingWatchEvents(for: 2).isEmpty, "the writer has no watch")
    }

    @Test func absoluteWatchGivesAbsolutePaths() {
        let s = XenStore.twoDomains()
        _ = s.req(XS.watch, xz("/local/domain/1/data", "abs"), from: 1)
        _ = s.events(for: 1)
        _ = s.writeValue("data/k", "v", from: 1)
        #expect(s.events(for: 1).map { $0.0 } == ["/local/domain/1/data/k"])
    }

    @Test func noEventsForUnreadableNodes() {
        let s = XenStore.twoDomains()
        // Domain 2 watches domain 1's home: allowed to set, but it cannot read anything there.
        #expect(s.req(XS.watch, xz("/local/domain/1", "spy"), from: 2).payload == xsOK)
        _ = s.events(for: 2)
        _ = s.writeValue("data/secret", "x", from: 1)
        #expect(s.events(for: 2).isEmpty)
        // Once readable, events flow.
        _ = s.req(XS.setPerms, xz("data/secret", "n1", "r2"), from: 1)
        let e = s.events(for: 2)
        #expect(e.count == 1 && e[0].0 == "/local/domain/1/data/secret", "a permission change is a change")
        _ = s.writeValue("data/secret", "y", from: 1)
        #expect(s.events(for: 2).map { $0.0 } == ["/local/domain/1/data/secret"])
    }

    @Test func losingReadAccessStillReportsThePermissionChange() {
        let s = XenStore.twoDomains()
        _ = s.writeValue("data/p", "x", from: 1)
        _ = s.req(XS.setPerms, xz("data/p", "n1", "r2"), from: 1)
        _ = s.req(XS.watch, xz("/local/domain/1/data/p", "w"), from: 2)
        _ = s.events(for: 2)
        _ = s.req(XS.setPerms, xz("data/p", "n1"), from: 1)
        #expect(s.events(for: 2).count == 1, "old permissions count")
        _ = s.writeValue("data/p", "z", from: 1)
        #expect(s.events(for: 2).isEmpty)
    }

    @Test func watchMatchesSubtreeNotSiblingsWithCommonPrefix() {
        let s = XenStore.twoDomains()
        _ = s.req(XS.watch, xz("data/a", "t"), from: 1)
        _ = s.events(for: 1)
        _ = s.writeValue("data/ab", "x", from: 1)
        _ = s.writeValue("data/a", "x", from: 1)
        _ = s.writeValue("data/a/b/c", "x", from: 1)
        #expect(s.events(for: 1).map { $0.0 } == ["data/a", "data/a/b/c"])
    }

    @Test func rootWatchSeesEverythingReadable() {
        let s = XenStore.twoDomains()
        _ = s.req(XS.watch, xz("/", "all"), from: 0)
        _ = s.events(for: 0)
        _ = s.writeValue("data/x", "1", from: 2)
        #expect(s.events(for: 0).map { $0.0 } == ["/local/domain/2/data/x"])
    }

    @Test func removalFiresForTheRemovedRootAndWatchedDescendants() {
        let s = XenStore.twoDomains()
        _ = s.writeValue("data/tree/a/x", "1", from: 1)
        _ = s.writeValue("data/tree/b", "2", from: 1)
        _ = s.req(XS.watch, xz("data", "parent"), from: 1)
        _ = s.req(XS.watch, xz("data/tree/a/x", "leaf"), from: 1)
        _ = s.req(XS.watch, xz("data/tree/zzz", "missing"), from: 1)
        _ = s.events(for: 1)
        #expect(s.req(XS.rm, xz("data/tree"), from: 1).payload == xsOK)
        let e = s.events(for: 1)
        #expect(e.contains { $0 == ("data/tree/a/x", "leaf") })
        #expect(e.contains { $0 == ("data/tree", "parent") })
        #expect(e.count == 2, "\(e)")
        // The descendant's event comes before the root's.
        #expect(e.last! == ("data/tree", "parent"))
    }

    @Test func duplicateWatchAndUnwatchRules() {
        let s = XenStore.twoDomains()
        #expect(s.req(XS.watch, xz("data", "t"), from: 1).payload == xsOK)
        #expect(s.req(XS.watch, xz("data", "t"), from: 1).errorName == "EEXIST")
        #expect(s.req(XS.watch, xz("/local/domain/1/data", "t"), from: 1).errorName == "EEXIST", "same node")
        #expect(s.req(XS.watch, xz("data", "u"), from: 1).payload == xsOK, "other token")
        #expect(s.req(XS.unwatch, xz("/local/domain/1/data", "t"), from: 1).payload == xsOK)
        _ = s.events(for: 1)
        _ = s.writeValue("data/q", "", from: 1)
        #expect(s.events(for: 1).map { $0.1 } == ["u"])
        #expect(s.req(XS.unwatch, xz("data"), from: 1).errorName == "EINVAL")
        // Watches may name paths that do not exist (yet).
        #expect(s.req(XS.watch, xz("device/vif", "dev"), from: 1).payload == xsOK)
        #expect(s.events(for: 1).map { $0.0 } == ["device/vif"])
    }

    @Test func specialWatchesFireForThePrivilegedWatcher() {
        let s = XenStore()
        _ = s.req(XS.watch, xz("@introduceDomain", "in"), from: 0)
        _ = s.req(XS.watch, xz("@releaseDomain", "out"), from: 0)
        #expect(s.events(for: 0).map { $0.0 } == ["@introduceDomain", "@releaseDomain"])
        s.introduce(domid: 3, name: xb("c"))
        #expect(s.events(for: 0).map { "\($0.0) \($0.1)" } == ["@introduceDomain in"])
        s.introduce(domid: 4, name: xb("d"))
        _ = s.events(for: 0)
        // Unprivileged watchers cannot read the special nodes: no events.
        _ = s.req(XS.watch, xz("@releaseDomain", "x"), from: 4)
        _ = s.events(for: 4)
        s.release(domid: 3)
        #expect(s.events(for: 0).map { "\($0.0) \($0.1)" } == ["@releaseDomain out"])
        #expect(s.events(for: 4).isEmpty)
    }

    @Test func eventQueueIsBounded() {
        var limits = XenStoreLimits()
        limits.pendingOutputBytes = 600
        let s = XenStore.twoDomains(limits: limits)
        _ = s.req(XS.watch, xz("data", "t"), from: 1)
        _ = s.events(for: 1)
        for i in 0..<50 { _ = s.writeValue("data/k\(i)", "", from: 1) }
        let e = s.pendingWatchEvents(for: 1)
        #expect(e.reduce(0) { $0 + $1.count } <= 600)
        #expect(e.count > 5 && e.count < 50)
        #expect(s.droppedWatchEvents(for: 1) == 50 - e.count)
    }

    @Test func watchQuota() {
        var limits = XenStoreLimits()
        limits.watchesPerDomain = 3
        let s = XenStore.twoDomains(limits: limits)
        for i in 0..<3 { #expect(s.req(XS.watch, xz("data", "t\(i)"), from: 1).payload == xsOK) }
        #expect(s.req(XS.watch, xz("data", "t3"), from: 1).errorName == "ENOSPC")
        #expect(s.req(XS.unwatch, xz("data", "t0"), from: 1).payload == xsOK)
        #expect(s.req(XS.watch, xz("data", "t3"), from: 1).payload == xsOK)
        // The privileged domain has no quota.
        for i in 0..<5 { #expect(s.req(XS.watch, xz("/", "p\(i)"), from: 0).payload == xsOK) }
    }
}
