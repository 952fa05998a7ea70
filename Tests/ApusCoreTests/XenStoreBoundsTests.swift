import Testing
@testable import ApusCore

// Issue 10, findings 1, 3 and 11: what guests can make the store hold and do per call.

extension XenStore {
    /// Heap bytes held for `domid` as the cost model counts them, walked from the
    /// structures themselves (not from the running charge): nodes it owns, its watches,
    /// its transactions with every private node copy.
    func heldBytes(for domid: UInt16) -> Int {
        var total = 0
        nodes.forEach { p, n in if n.owner == domid { total += XSCost.node(p, n) } }
        if let conn = connections[domid] {
            for w in conn.watches { total += XSCost.watch(path: w.path, token: w.token.count) }
            for t in conn.transactions.values {
                total += XSCost.transactionFixed
                t.accessed.forEach { _, e in total += XSCost.txEntry(e) }
                for ev in t.events { total += XSCost.txEvent(ev.path) }
                // The transaction's tree: one object per path component it touched.
                var stack = [t.accessed.root]
                while let n = stack.popLast() {
                    for (i, k) in n.kids.enumerated() {
                        total += XSNodeTree<XSTxEntry>.trieNodeBytes(nameLength: n.names[i].count)
                        stack.append(k)
                    }
                }
            }
        }
        return total
    }

    /// Value bytes kept alive by `domid`'s open transactions (their copies).
    func transactionValueBytes(for domid: UInt16) -> Int {
        var total = 0
        for t in connections[domid]?.transactions.values ?? [] {
            t.accessed.forEach { _, e in total += e.node?.value.count ?? 0 }
        }
        return total
    }
}

/// A guest on another CPU: whenever the server has consumed the request ring, it is
/// filled again with the next requests (as fast as a racing producer can).
struct XSRacingGuestPage: XenStoreRingPage {
    var ring = XSGuestRing()
    var pending: [UInt8] = []
    var sentMessages = 0
    let makeRequest: (Int) -> [UInt8]

    init(_ makeRequest: @escaping (Int) -> [UInt8]) { self.makeRequest = makeRequest }

    func loadIndex(at offset: Int) -> UInt32 { ring.page.loadIndex(at: offset) }
    mutating func storeIndex(_ value: UInt32, at offset: Int) {
        ring.page.storeIndex(value, at: offset)
        if offset == XenStoreRingLayout.requestConsumer { refill() }
        if offset == XenStoreRingLayout.responseProducer { _ = ring.receive() }
    }
    func loadByte(at offset: Int) -> UInt8 { ring.page.loadByte(at: offset) }
    mutating func storeByte(_ value: UInt8, at offset: Int) { ring.page.storeByte(value, at: offset) }
    func barrier() {}

    mutating func refill() {
        let cons = ring.index(XenStoreRingLayout.requestConsumer)
        let prod = ring.index(XenStoreRingLayout.requestProducer)
        var room = 1024 - Int(prod &- cons)
        while room > 0 {
            if pending.isEmpty { pending = makeRequest(sentMessages); sentMessages += 1 }
            let n = min(room, pending.count)
            ring.send(Array(pending[0..<n]))
            pending.removeFirst(n)
            room -= n
        }
    }
}

@Suite struct XenStoreBoundsTests {
    func start(_ s: XenStore, _ domid: UInt16) -> UInt32 {
        tryStart(s, domid)!
    }

    /// A new transaction's id, nil if refused (ENOSPC when the quota is used up).
    func tryStart(_ s: XenStore, _ domid: UInt16) -> UInt32? {
        let r = s.req(XS.txStart, xz(""), from: domid)
        return r.isError ? nil : UInt32(r.strings[0])
    }

    // Finding 1: ten open transactions over rotating 2 KiB nodes kept every old value
    // alive, charged to nobody (~20 MiB of values, ~40 MiB of heap, for one domain).
    @Test func openTransactionsOverRotatingNodesAreChargedAndRefused() {
        let s = XenStore.twoDomains()
        let value = String(repeating: "v", count: 2048)
        let txs = (0..<10).map { _ in start(s, 1) }
        var refusedAt: Int? = nil
        rounds: for i in 0..<1100 {
            let p = "data/n\(i)"
            let w = s.writeValue(p, value, from: 1)
            if w.isError { #expect(w.errorName == "ENOSPC"); refusedAt = i; break }
            for t in txs {
                let r = s.readValue(p, from: 1, tx: t)
                if r.isError { #expect(r.errorName == "ENOSPC"); refusedAt = i; break rounds }
            }
            #expect(s.req(XS.rm, xz(p), from: 1).payload == xsOK)
        }
        let quota = s.limits.memoryPerDomain
        #expect(refusedAt != nil && refusedAt! < 200, "refused at round \(String(describing: refusedAt))")
        #expect(s.transactionValueBytes(for: 1) < quota / 2)
        #expect(s.heldBytes(for: 1) <= quota)
        #expect(s.memoryUsed(by: 1) == s.heldBytes(for: 1))
        // The neighbour's ordinary use is unaffected, and ending the transactions gives
        // everything back.
        #expect(s.writeValue("data/mine", value, from: 2).payload == xsOK)
        for t in txs { #expect(s.req(XS.txEnd, xz("F"), from: 1, tx: t).payload == xsOK) }
        #expect(s.writeValue("data/again", value, from: 1).payload == xsOK)
        #expect(s.memoryUsed(by: 1) == s.heldBytes(for: 1))
        #expect(s.invariantViolations() == [])
    }

    // Xen's defaults in full at once: 1000 nodes of 2048-byte values, 128 watches,
    // 10 transactions that each touch a few nodes.
    @Test func xenDefaultQuotasStillFitTogether() {
        let s = XenStore.twoDomains()
        let value = String(repeating: "d", count: 2048)
        for g in 0..<10 { #expect(s.req(XS.mkdir, xz("data/g\(g)"), from: 1).payload == xsOK) }
        var i = 0
        while s.nodeCount(ownedBy: 1) < 1000 && i < 2000 {
            let r = s.writeValue("data/g\(i / 100)/n\(i)", value, from: 1)
            #expect(r.payload == xsOK, "node \(i): \(r)")
            if r.isError { break }
            i += 1
        }
        #expect(s.nodeCount(ownedBy: 1) == 1000)
        for w in 0..<128 {
            #expect(s.req(XS.watch, xz("data/g\(w % 10)", "token-\(w)"), from: 1).payload == xsOK)
        }
        for _ in 0..<10 {
            let t = start(s, 1)
            #expect(s.readValue("data/g0/n0", from: 1, tx: t).payload.count == 2048)
            #expect(s.writeValue("data/g1/n100", "small", from: 1, tx: t).payload == xsOK)
            #expect(s.req(XS.directory, xz("data/g2"), from: 1, tx: t).strings.count == 100)
        }
        #expect(s.memoryUsed(by: 1) <= s.limits.memoryPerDomain)
        #expect(s.invariantViolations() == [])
    }

    // Finding 1: the bound the hypervisor sizes its heap from.
    @Test func worstCaseBytesPerDomainIsPublishedAndCoversTheQuota() {
        let l = XenStoreLimits()
        #expect(XenStore.worstCaseBytesPerDomain == XenStore.worstCaseBytes(for: l))
        #expect(XenStore.worstCaseBytesPerDomain >= l.memoryPerDomain + 2 * l.pendingOutputBytes)
        #expect(XenStore.worstCaseBytesPerDomain == 6_891_728)
    }

    // Finding 1: N domains that each push every kind of use to its limit stay within
    // N x worstCaseBytesPerDomain of charged memory.
    @Test func manyDomainsAtTheirLimitsStayWithinTheBound() {
        var limits = XenStoreLimits()
        limits.memoryPerDomain = 256 * 1024
        let s = XenStore(limits: limits)
        let domains: [UInt16] = [1, 2, 3, 4]
        for d in domains { s.introduce(domid: d, name: xb("d\(d)")) }
        let big = String(repeating: "b", count: 2000)
        var refusals = 0
        for d in domains {
            var t = start(s, d)
            for i in 0..<300 {
                _ = s.writeValue("data/k\(i % 60)", big, from: d)
                _ = s.req(XS.watch, xz("data/k\(i)", String(repeating: "t", count: 100 + i)), from: d)
                if s.readValue("data/k\(i % 60)", from: d, tx: t).errorName == "ENOSPC" {
                    refusals += 1
                    if let n = tryStart(s, d) { t = n }
                }
                _ = s.writeValue("data/t\(i)", big, from: d, tx: t)
            }
        }
        #expect(refusals > 0)
        for d in domains {
            #expect(s.memoryUsed(by: d) <= limits.memoryPerDomain)
            #expect(s.heldBytes(for: d) == s.memoryUsed(by: d))
        }
        #expect(s.invariantViolations() == [])
    }

    // Finding 1: a domain given write access to another's directory made the owner's
    // child list grow without a check against the owner's quota.
    @Test func growingSomeoneElsesDirectoryIsChargedToItsOwner() {
        var limits = XenStoreLimits()
        limits.memoryPerDomain = XenStoreInvariantTests.homeBytes + 16 * 1024
        let s = XenStore.twoDomains(limits: limits)
        #expect(s.req(XS.mkdir, xz("data/dir"), from: 2).payload == xsOK)
        #expect(s.req(XS.setPerms, xz("data/dir", "n2", "b1"), from: 2).payload == xsOK)
        // Domain 2 fills its quota to within a few bytes.
        var size = 2048, i = 0
        while size > 0 && i < 200 {
            if s.writeValue("data/fill\(i)", String(repeating: "f", count: size), from: 2).isError { size /= 2 } else { i += 1 }
        }
        var refused = false
        for c in 0..<200 where !refused {
            let r = s.writeValue("/local/domain/2/data/dir/c\(c)", "", from: 1)
            if r.isError { #expect(r.errorName == "ENOSPC"); refused = true }
        }
        #expect(refused)
        #expect(s.memoryUsed(by: 2) <= limits.memoryPerDomain)
        #expect(s.invariantViolations() == [])
    }

    // Finding 11: nodes a released domain created where another let it were handed to
    // domain 0, which has no quota: two domains could grow the store without bound.
    @Test func releasedDomainsLeaveNothingBehind() {
        let s = XenStore.twoDomains()
        let base0 = s.nodeCount(ownedBy: 0)
        let baseNodes = s.nodes.count
        let baseMemory1 = s.memoryUsed(by: 1)
        _ = s.req(XS.watch, xz("data", "w"), from: 1)
        for round in 0..<5 {
            #expect(s.req(XS.setPerms, xz("data", "n1", "b2"), from: 1).payload == xsOK)
            for i in 0..<100 {
                #expect(s.writeValue("/local/domain/1/data/r\(round)/n\(i)", "x", from: 2).payload == xsOK)
            }
            _ = s.events(for: 1)
            #expect(s.release(domid: 2))
            #expect(s.events(for: 1).contains { $0.0 == "data/r\(round)" }, "removal fires watches")
            #expect(s.introduce(domid: 2, name: xb("beta")))
        }
        #expect(s.nodeCount(ownedBy: 0) == base0)
        #expect(s.nodes.count == baseNodes)
        #expect(s.readValue("data/r0", from: 1).errorName == "ENOENT")
        let watch = XSCost.watch(path: xb("/local/domain/1/data"), token: 1)
        // Only the watch is left, and the data node's emptied child list (at most 8 slots:
        // lists are shrunk when more than 3/4 empty).
        #expect(s.memoryUsed(by: 1) <= baseMemory1 + watch + XSCost.array(8 * 8))
        #expect(s.invariantViolations() == [])
    }

    // Finding 3: a path ~900 levels deep made one request create 900 nodes and walk
    // 900 ancestors (xenstored's only limit is 2048 bytes).
    @Test func deepPathsAreRefused() {
        let s = XenStore.twoDomains()
        let before = s.nodeCount(ownedBy: 1)
        let deep = Array(repeating: "a", count: 900).joined(separator: "/")
        let w0 = s.workUnits
        #expect(s.writeValue(deep, "", from: 1).errorName == "EINVAL")
        #expect(s.readValue(deep, from: 1).errorName == "EINVAL")
        #expect(s.workUnits - w0 < 8 * deep.utf8.count)
        #expect(s.nodeCount(ownedBy: 1) == before)
        // /local/domain/1 + 29 levels = 32 components: allowed; one more is not.
        let ok = (0..<29).map { "d\($0)" }.joined(separator: "/")
        #expect(s.writeValue(ok, "v", from: 1).payload == xsOK)
        #expect(s.nodeCount(ownedBy: 1) == before + 29)
        #expect(s.writeValue(ok + "/x", "v", from: 1).errorName == "EINVAL")
        #expect(s.writeValue("/local/domain/1/" + ok + "/x", "v", from: 1).errorName == "EINVAL")
        // The privileged domain is not limited.
        #expect(s.writeValue("/local/domain/1/" + ok + "/x", "v", from: 0).payload == xsOK)
    }

    // Finding 3: a request costs the same in a huge tree as in a small one.
    @Test func requestWorkDoesNotGrowWithTheTree() {
        func work(_ s: XenStore) -> [Int] {
            var out: [Int] = []
            for (type, payload) in [(XS.write, xz("data/probe") + xb("value")), (XS.read, xz("data/probe")),
                                    (XS.directory, xz("data")), (XS.mkdir, xz("data/a/b/c")),
                                    (XS.rm, xz("data/a")), (XS.read, xz("data/absent/deeper/still"))] {
                let w0 = s.workUnits
                _ = s.req(type, payload, from: 1)
                out.append(s.workUnits - w0)
            }
            return out
        }
        let small = XenStore.twoDomains()
        let huge = XenStore.twoDomains()
        for i in 0..<20000 { try! huge.write(xb("/big/b\(i % 97)/n\(i)"), []) }
        #expect(huge.nodes.count > 20000)
        for (a, b) in zip(work(small), work(huge)) {
            // Only the root's one extra child ("big") is compared against on the way down.
            #expect(a > 0 && b <= a + 64, "\(a) vs \(b)")
        }
    }

    // Finding 3: every change was matched against every watch of every domain
    // (domains x 128 x path bytes); now only watches on the path and its ancestors count.
    @Test func changeCostDoesNotGrowWithOtherDomainsWatches() {
        func store() -> XenStore {
            let s = XenStore()
            for d: UInt16 in 1...8 { s.introduce(domid: d, name: xb("d\(d)")) }
            // Domain 1's data is readable by everyone (DOMID_ANY), so all watchers qualify.
            #expect(s.req(XS.setPerms, xz("data", "n1", "r\(XenStoreWire.domidAny)"), from: 1).payload == xsOK)
            return s
        }
        func writeWork(_ s: XenStore) -> Int {
            let w0 = s.workUnits
            #expect(s.writeValue("data/x", "1", from: 1).payload == xsOK)
            return s.workUnits - w0
        }
        let quiet = store(), busy = store()
        for d: UInt16 in 2...8 {
            for w in 0..<128 { #expect(busy.req(XS.watch, xz("data/w\(w)", "t\(w)"), from: d).payload == xsOK) }
        }
        _ = busy.req(XS.watch, xz("/local/domain/1/data/x", "mine"), from: 0)
        _ = busy.events(for: 0)
        let q = writeWork(quiet), b = writeWork(busy)
        // The one matching watch's event is made by backlog actions (XenStoreSteps.swift):
        // its firing, its event, the reply held behind them, each `actionUnits`.
        #expect(b <= q + 200 + 3 * XenStore.actionUnits, "\(q) vs \(b)")
        #expect(busy.events(for: 0).map { $0.1 } == ["mine"], "the matching watch still fires")
    }

    // Finding 3: one `service` call takes requests until its work budget is used, not
    // 64 of them, even when a racing guest keeps the ring full.
    @Test func serviceStopsAtItsWorkBudget() {
        let s = XenStore.twoDomains()
        let value = String(repeating: "w", count: 2000)
        var page = XSRacingGuestPage { i in xsMsg(XS.write, xz("data/race\(i % 20)") + xb(value), req: UInt32(i)) }
        page.refill()
        let w0 = s.workUnits
        let r = s.service(domid: 1, page: &page)
        let used = s.workUnits - w0
        #expect(r.moreWork)
        #expect(used <= s.limits.workPerService + XenStore.maxWorkPerRequest(for: s.limits))
        #expect(s.readValue("data/race0", from: 1).payload.count == 2000)
        #expect(s.readValue("data/race9", from: 1).errorName == "ENOENT", "at most 8 requests served")
    }

    // Finding 3: the worst request we can build stays within the published bound.
    @Test func worstRequestsStayWithinMaxWorkPerRequest() {
        var limits = XenStoreLimits()
        limits.nodesPerDomain = 100_000
        limits.memoryPerDomain = 1 << 30
        let s = XenStore.twoDomains(limits: limits)
        // 28 levels of long names below home, then one or two new ones: 32 components.
        let name = String(repeating: "n", count: 60)
        let stem = (0..<28).map { "\(name)\($0)" }.joined(separator: "/")
        let bound = XenStore.maxWorkPerRequest(for: limits)
        var worst = 0
        for i in 0..<40 {
            for (type, payload) in [(XS.write, xz("\(stem)/x\(i)") + xb(String(repeating: "v", count: 2048))),
                                    (XS.read, xz("\(stem)/x\(i)")), (XS.getPerms, xz("\(stem)/y\(i)")),
                                    (XS.mkdir, xz("\(stem)/z\(i)"))] {
                let w0 = s.workUnits
                _ = s.req(type, payload, from: 1)
                worst = max(worst, s.workUnits - w0)
            }
        }
        let t = start(s, 1)
        for i in 0..<20 {
            let w0 = s.workUnits
            _ = s.req(XS.write, xz("\(stem)/t\(i)") + xb("v"), from: 1, tx: t)
            worst = max(worst, s.workUnits - w0)
        }
        #expect(worst > 0 && worst <= bound, "worst \(worst) bound \(bound)")
    }
}
