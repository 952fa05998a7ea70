import Testing
@testable import ApusCore

@Suite struct XenStoreTransactionTests {
    func start(_ s: XenStore, _ domid: UInt16) -> UInt32 {
        let r = s.req(XS.txStart, xz(""), from: domid)
        return UInt32(r.strings[0])!
    }

    @Test func commitAppliesChangesAndFiresWatchesThen() {
        let s = XenStore.twoDomains()
        _ = s.req(XS.watch, xz("data", "w"), from: 1)
        _ = s.events(for: 1)
        let t = start(s, 1)
        #expect(s.writeValue("data/a", "1", from: 1, tx: t).payload == xsOK)
        #expect(s.writeValue("data/b/c", "2", from: 1, tx: t).payload == xsOK)
        // Visible inside, invisible outside.
        #expect(s.readValue("data/a", from: 1, tx: t).text == "1")
        #expect(s.req(XS.directory, xz("data"), from: 1, tx: t).strings == ["a", "b"])
        #expect(s.readValue("data/a", from: 1).errorName == "ENOENT")
        #expect(s.events(for: 1).isEmpty, "no events before commit")
        #expect(s.req(XS.txEnd, xz("T"), from: 1, tx: t).payload == xsOK)
        #expect(s.readValue("data/a", from: 1).text == "1")
        #expect(s.readValue("data/b/c", from: 1).text == "2")
        #expect(s.events(for: 1).map { $0.0 } == ["data/a", "data/b/c"])
        // The id is gone.
        #expect(s.readValue("data/a", from: 1, tx: t).errorName == "ENOENT")
    }

    @Test func conflictingWriteGivesEAGAIN() {
        let s = XenStore.twoDomains()
        _ = s.writeValue("data/x", "0", from: 1)
        let t = start(s, 1)
        #expect(s.readValue("data/x", from: 1, tx: t).text == "0")
        #expect(s.writeValue("data/y", "1", from: 1, tx: t).payload == xsOK)
        // Someone changes what the transaction read.
        _ = s.writeValue("/local/domain/1/data/x", "changed", from: 0)
        #expect(s.req(XS.txEnd, xz("T"), from: 1, tx: t).errorName == "EAGAIN")
        #expect(s.readValue("data/y", from: 1).errorName == "ENOENT", "nothing applied")
        #expect(s.req(XS.txEnd, xz("T"), from: 1, tx: t).errorName == "ENOENT", "ended anyway")
        // The retry (as xenbus clients do) succeeds.
        let t2 = start(s, 1)
        _ = s.readValue("data/x", from: 1, tx: t2)
        _ = s.writeValue("data/y", "1", from: 1, tx: t2)
        #expect(s.req(XS.txEnd, xz("T"), from: 1, tx: t2).payload == xsOK)
        #expect(s.readValue("data/y", from: 1).text == "1")
    }

    @Test func conflictingDeleteAndCreate() {
        let s = XenStore.twoDomains()
        _ = s.writeValue("data/x", "0", from: 1)
        let t = start(s, 1)
        _ = s.readValue("data/x", from: 1, tx: t)
        _ = s.req(XS.rm, xz("/local/domain/1/data/x"), from: 0)
        #expect(s.req(XS.txEnd, xz("T"), from: 1, tx: t).errorName == "EAGAIN")
        // Reading a missing node records its absence.
        let t2 = start(s, 1)
        #expect(s.readValue("data/x", from: 1, tx: t2).errorName == "ENOENT")
        _ = s.writeValue("/local/domain/1/data/x", "new", from: 0)
        #expect(s.req(XS.txEnd, xz("T"), from: 1, tx: t2).errorName == "EAGAIN")
    }

    @Test func unrelatedWritesDoNotConflict() {
        let s = XenStore.twoDomains()
        _ = s.writeValue("data/x", "0", from: 1)
        let t = start(s, 1)
        _ = s.readValue("data/x", from: 1, tx: t)
        _ = s.writeValue("data/z", "1", from: 1)
        _ = s.writeValue("data/other", "2", from: 2)
        #expect(s.req(XS.txEnd, xz("T"), from: 1, tx: t).payload == xsOK)
    }

    @Test func twoInterferingTransactions() {
        // transaction.c example 4: TA1 reads A writes B, TA2 reads B writes A.
        let s = XenStore.twoDomains()
        _ = s.writeValue("data/A", "a", from: 1)
        _ = s.writeValue("data/B", "b", from: 1)
        let t1 = start(s, 1), t2 = start(s, 1)
        #expect(t1 != t2)
        _ = s.readValue("data/A", from: 1, tx: t1)
        _ = s.readValue("data/B", from: 1, tx: t2)
        _ = s.writeValue("data/B", "from1", from: 1, tx: t1)
        _ = s.writeValue("data/A", "from2", from: 1, tx: t2)
        #expect(s.req(XS.txEnd, xz("T"), from: 1, tx: t1).payload == xsOK)
        #expect(s.req(XS.txEnd, xz("T"), from: 1, tx: t2).errorName == "EAGAIN")
        #expect(s.readValue("data/A", from: 1).text == "a")
        #expect(s.readValue("data/B", from: 1).text == "from1")
    }

    @Test func abortDiscards() {
        let s = XenStore.twoDomains()
        _ = s.req(XS.watch, xz("data", "w"), from: 1)
        _ = s.events(for: 1)
        let t = start(s, 1)
        _ = s.writeValue("data/gone", "1", from: 1, tx: t)
        _ = s.req(XS.rm, xz("data"), from: 1, tx: t)
        #expect(s.readValue("data", from: 1, tx: t).errorName == "ENOENT")
        #expect(s.req(XS.txEnd, xz("F"), from: 1, tx: t).payload == xsOK)
        #expect(s.readValue("data", from: 1).payload == [])
        #expect(s.readValue("data/gone", from: 1).errorName == "ENOENT")
        #expect(s.events(for: 1).isEmpty)
    }

    @Test func removeInsideATransaction() {
        let s = XenStore.twoDomains()
        _ = s.writeValue("data/t/a", "1", from: 1)
        _ = s.writeValue("data/t/b", "2", from: 1)
        _ = s.req(XS.watch, xz("data/t", "w"), from: 1)
        _ = s.events(for: 1)
        let before = s.nodeCount(ownedBy: 1)
        let t = start(s, 1)
        #expect(s.req(XS.rm, xz("data/t"), from: 1, tx: t).payload == xsOK)
        #expect(s.readValue("data/t/a", from: 1).text == "1", "still there outside")
        #expect(s.req(XS.txEnd, xz("T"), from: 1, tx: t).payload == xsOK)
        #expect(s.readValue("data/t/a", from: 1).errorName == "ENOENT")
        #expect(s.req(XS.directory, xz("data"), from: 1).strings == [])
        #expect(s.nodeCount(ownedBy: 1) == before - 3)
        #expect(s.events(for: 1).map { $0.0 } == ["data/t"])
    }

    @Test func transactionErrors() {
        let s = XenStore.twoDomains()
        #expect(s.readValue("name", from: 1, tx: 99).errorName == "ENOENT", "unknown tx id")
        #expect(s.req(XS.txEnd, xz("T"), from: 1).errorName == "ENOENT", "no transaction")
        let t = start(s, 1)
        #expect(s.req(XS.txStart, xz(""), from: 1, tx: t).errorName == "EBUSY", "no nesting")
        #expect(s.req(XS.txEnd, xz("X"), from: 1, tx: t).errorName == "EINVAL")
        #expect(s.req(XS.txEnd, xz("TT"), from: 1, tx: t).errorName == "EINVAL")
        #expect(s.req(XS.txEnd, xb("T"), from: 1, tx: t).errorName == "EINVAL", "missing NUL")
        // Transactions belong to their connection.
        #expect(s.readValue("name", from: 2, tx: t).errorName == "ENOENT")
        #expect(s.req(XS.txEnd, xz("F"), from: 1, tx: t).payload == xsOK)
    }

    @Test func transactionQuota() {
        let s = XenStore.twoDomains()
        var ids: [UInt32] = []
        for _ in 0..<10 { ids.append(start(s, 1)) }
        #expect(Set(ids).count == 10)
        #expect(s.req(XS.txStart, xz(""), from: 1).errorName == "ENOSPC")
        #expect(s.req(XS.txEnd, xz("F"), from: 1, tx: ids[3]).payload == xsOK)
        #expect(s.req(XS.txStart, xz(""), from: 1).type == XS.txStart)
    }

    @Test func transactionNodeLimit() {
        var limits = XenStoreLimits()
        limits.nodesPerTransaction = 8
        let s = XenStore.twoDomains(limits: limits)
        for i in 0..<10 { _ = s.writeValue("data/n\(i)", "", from: 1) }
        let t = start(s, 1)
        var firstFailure: String? = nil
        for i in 0..<10 where firstFailure == nil {
            firstFailure = s.readValue("data/n\(i)", from: 1, tx: t).errorName
        }
        #expect(firstFailure == "ENOSPC")
        // The transaction is still usable for what it already touched and can be committed.
        #expect(s.readValue("data/n0", from: 1, tx: t).payload == [])
        #expect(s.req(XS.txEnd, xz("T"), from: 1, tx: t).payload == xsOK)
    }

    @Test func nodeQuotaCheckedAtCommit() {
        var limits = XenStoreLimits()
        limits.nodesPerDomain = 40
        let s = XenStore.twoDomains(limits: limits)
        let have = s.nodeCount(ownedBy: 1)
        let room = 40 - have
        let t1 = start(s, 1), t2 = start(s, 1)
        for i in 0..<room { #expect(s.writeValue("data/a\(i)", "", from: 1, tx: t1).payload == xsOK) }
        #expect(s.writeValue("data/over", "", from: 1, tx: t1).errorName == "ENOSPC")
        for i in 0..<room { #expect(s.writeValue("data/b\(i)", "", from: 1, tx: t2).payload == xsOK) }
        #expect(s.req(XS.txEnd, xz("T"), from: 1, tx: t1).payload == xsOK)
        #expect(s.nodeCount(ownedBy: 1) == 40)
        // t2 fits on its own but not on top of t1 (it conflicts on data too).
        let r = s.req(XS.txEnd, xz("T"), from: 1, tx: t2).errorName
        #expect(r == "EAGAIN" || r == "ENOSPC")
        #expect(s.nodeCount(ownedBy: 1) == 40)
    }

    @Test func releaseConflictsOpenTransactionsOfOthers() {
        let s = XenStore.twoDomains()
        _ = s.writeValue("data", "", from: 1)
        _ = s.req(XS.setPerms, xz("data", "n1", "b2"), from: 1)
        _ = s.writeValue("/local/domain/1/data/by2", "", from: 2)
        let t = start(s, 1)
        _ = s.readValue("data/by2", from: 1, tx: t)
        _ = s.writeValue("data/by2", "x", from: 1, tx: t)
        s.release(domid: 2)
        #expect(s.req(XS.txEnd, xz("T"), from: 1, tx: t).errorName == "EAGAIN")
    }
}
