import Testing
@testable import ApusCore

extension XenStore {
    /// Problems with the committed tree and its accounting (empty when consistent).
    func invariantViolations() -> [String] {
        var problems: [String] = []
        var counts: [UInt16: Int] = [:]
        var bytes: [UInt16: Int] = [:]
        var all: [([UInt8], XSNode)] = []
        nodes.forEach { p, n in all.append((p, n)) }
        if all.count != nodes.count { problems.append("count \(nodes.count) vs \(all.count) nodes") }
        for (path, n) in all {
            counts[n.owner, default: 0] += 1
            bytes[n.owner, default: 0] += XenStore.cost(path, n)
            if n.perms.isEmpty { problems.append("no perms \(path)") }
            if n.childBytes != n.children.reduce(0, { $0 + $1.count + 1 }) { problems.append("childBytes \(path)") }
            for c in n.children where nodes[XSPath.child(path, c)] == nil {
                problems.append("missing child \(String(decoding: XSPath.child(path, c), as: UTF8.self))")
            }
            let special = path.first == 0x40
            if path != [0x2F] && !special {
                let parent = XSPath.parent(path)
                if !(nodes[parent]?.children.contains(XSPath.basename(path)) ?? false) {
                    problems.append("orphan \(String(decoding: path, as: UTF8.self))")
                }
            }
        }
        for (i, d) in nodeCounts.keys.enumerated() where counts[d] != nodeCounts.values[i] {
            problems.append("count of \(d): \(nodeCounts.values[i]) vs \(counts[d] ?? 0)")
        }
        for (d, c) in counts where nodeCounts[d] != c { problems.append("count of \(d) missing") }
        for (i, d) in nodeBytes.keys.enumerated() where bytes[d] != nodeBytes.values[i] {
            problems.append("bytes of \(d): \(nodeBytes.values[i]) vs \(bytes[d] ?? 0)")
        }
        for (d, b) in bytes where nodeBytes[d] != b { problems.append("bytes of \(d) missing") }
        return problems
    }
}

@Suite struct XenStoreInvariantTests {
    /// Bytes domain 1 is charged right after it is introduced.
    static let homeBytes = XenStore.twoDomains().memoryUsed(by: 1)

    @Test func memoryQuotaForValues() {
        var limits = XenStoreLimits()
        limits.memoryPerDomain = Self.homeBytes + 100 * 1024
        let s = XenStore.twoDomains(limits: limits)
        let v = String(repeating: "m", count: 2000)
        var ok = 0
        for i in 0..<100 {
            let r = s.writeValue("data/v\(i)", v, from: 1)
            if r.isError { #expect(r.errorName == "ENOSPC"); break }
            ok += 1
        }
        // A 2000-byte value is a 2 KiB heap block plus headers: about 3 KiB per node.
        #expect(ok > 25 && ok < 40, "\(ok)")
        #expect(s.memoryUsed(by: 1) <= limits.memoryPerDomain)
        #expect(s.memoryUsed(by: 1) + 3200 > limits.memoryPerDomain, "refused only when full")
        // Shrinking a value is always allowed; growing one is not.
        #expect(s.writeValue("data/v0", "", from: 1).payload == xsOK)
        #expect(s.writeValue("data/v0", v + v, from: 1).errorName == "ENOSPC")
        // Other domains are unaffected.
        #expect(s.writeValue("data/v", v, from: 2).payload == xsOK)
        #expect(s.invariantViolations() == [])
    }

    @Test func memoryQuotaForWatchesAndTransactions() {
        var limits = XenStoreLimits()
        limits.memoryPerDomain = Self.homeBytes + 48 * 1024
        let s = XenStore.twoDomains(limits: limits)
        let base = s.memoryUsed(by: 1)
        #expect(base == Self.homeBytes)
        let token = String(repeating: "t", count: 3000)
        var watches = 0
        for i in 0..<20 {
            let r = s.req(XS.watch, xz("data/w\(i)", token), from: 1)
            if r.isError { #expect(r.errorName == "ENOSPC"); break }
            watches += 1
        }
        #expect(watches > 3 && watches < 11)
        _ = s.req(XS.resetWatches, xz(""), from: 1)
        #expect(s.memoryUsed(by: 1) == base)
        // A transaction touching many long paths runs out too, and gives it back when it ends.
        let t = UInt32(s.req(XS.txStart, xz(""), from: 1).strings[0])!
        let long = String(repeating: "p", count: 1500)
        var failed = false
        for i in 0..<40 where !failed {
            failed = s.readValue("data/\(long)\(i)", from: 1, tx: t).errorName == "ENOSPC"
        }
        #expect(failed)
        #expect(s.req(XS.txEnd, xz("F"), from: 1, tx: t).payload == xsOK)
        #expect(s.memoryUsed(by: 1) == base)
    }

    @Test func accountingSurvivesRandomOperations() {
        var rng = XSSplitMix(seed: 7)
        var limits = XenStoreLimits()
        limits.nodesPerDomain = 60
        let s = XenStore(limits: limits)
        for d: UInt16 in 1...3 { s.introduce(domid: d, name: xb("d\(d)")) }
        var open: [UInt16: [UInt32]] = [:]
        let names = ["a", "b", "c", "a/b", "a/c", "b/a/c", "c/c", "x"]
        for step in 0..<6000 {
            let d = UInt16(rng.next() % 4)
            let home = d == 0 ? "/local/domain/\(rng.next() % 3 + 1)/data" : "data"
            let path = home + "/" + names[Int(rng.next() % UInt64(names.count))]
            var tx: UInt32 = 0
            if let ts = open[d], !ts.isEmpty, rng.next() % 2 == 0 { tx = ts[Int(rng.next() % UInt64(ts.count))] }
            switch rng.next() % 10 {
            case 0, 1, 2: _ = s.writeValue(path, String(repeating: "v", count: Int(rng.next() % 50)), from: d, tx: tx)
            case 3: _ = s.req(XS.rm, xz(path), from: d, tx: tx)
            case 4: _ = s.req(XS.mkdir, xz(path), from: d, tx: tx)
            case 5: _ = s.req(XS.setPerms, xz(path, "n\(d == 0 ? 1 : d)", "b\(rng.next() % 4)"), from: d, tx: tx)
            case 6:
                let r = s.req(XS.txStart, xz(""), from: d)
                if r.type == XS.txStart { open[d, default: []].append(UInt32(r.strings[0])!) }
            case 7:
                if tx != 0 {
                    _ = s.req(XS.txEnd, xz(rng.next() % 3 == 0 ? "F" : "T"), from: d, tx: tx)
                    open[d]?.removeAll { $0 == tx }
                }
            case 8: _ = s.req(XS.watch, xz(path, "w\(step % 7)"), from: d)
            default: _ = s.readValue(path, from: d, tx: tx)
            }
            for dd: UInt16 in 0...3 { _ = s.pendingWatchEvents(for: dd) }
            if step % 500 == 0 {
                #expect(s.invariantViolations() == [], "step \(step)")
                // A domain occasionally goes away and comes back.
                let victim = UInt16(rng.next() % 3 + 1)
                s.release(domid: victim)
                open[victim] = []
                s.introduce(domid: victim, name: xb("again"))
            }
        }
        #expect(s.invariantViolations() == [])
        for d: UInt16 in 1...3 { #expect(s.nodeCount(ownedBy: d) <= 60) }
    }
}
