import Testing
@testable import ApusCore

// Issue 10: a reboot introduced the domain again (some 40 writes, each firing the watches
// on its path and its ancestors) in one hold of the hypervisor's Xen lock: 690 us at each
// reboot of a hostile run's peer, whose neighbour held 128 watches. The introduction is now
// done in bounded steps (beginIntroduce / introduceStep); whatever the budget, the steps
// give exactly what the one-shot introduction gives.

struct XenStoreIntroductionTests {
    /// Domain 1 introduced, watching "/" 100 times (its events are filtered out by the new
    /// nodes' permissions, but each write matches them); dom0 watches the new domain's home
    /// and @introduceDomain; then domain 3 is introduced with `budget` per step.
    static func introduceThree(budget: Int?) -> (XenStore, steps: Int, maxStepWork: Int) {
        let s = XenStore.twoDomains()
        for i in 0..<100 { _ = s.req(XS.watch, xz("/", "root\(i)"), from: 1) }
        _ = s.req(XS.watch, xz("@introduceDomain", "intro"), from: 1)
        _ = s.req(XS.watch, xz("/local/domain/3", "home"), from: 0)
        _ = s.req(XS.watch, xz("@introduceDomain", "intro0"), from: 0)
        for d: UInt16 in 0...3 { _ = s.events(for: d) }
        let setup = XenStoreDomainSetup(vcpus: 3, memoryKiB: 65536, storeEventChannel: 2, storeRingGFN: 0x39001)
        guard let budget else {
            #expect(s.introduce(domid: 3, name: xb("gamma"), setup: setup))
            return (s, 1, 0)
        }
        guard let intro = s.beginIntroduce(domid: 3, name: xb("gamma"), setup: setup) else {
            Issue.record("not introduced")
            return (s, 0, 0)
        }
        #expect(s.beginIntroduce(domid: 3, name: xb("gamma")) == nil, "introduced once only")
        var steps = 0, maxWork = 0
        while true {
            let before = s.workUnits
            let done = s.introduceStep(intro, budget: budget)
            steps += 1
            maxWork = max(maxWork, s.workUnits - before)
            if done { break }
            #expect(steps < 10_000)
            if steps >= 10_000 { break }
        }
        #expect(intro.isFinished)
        return (s, steps, maxWork)
    }

    /// `observable()` without the memory figures: a watch's charge is the heap's real
    /// allocation size, which can differ by an allocator rounding between two stores built
    /// alike (the domains' node counts stay compared).
    static func tree(_ s: XenStore) -> [String] {
        s.observable().map { line in
            guard let r = line.range(of: " memory ") else { return line }
            let rest = line[r.upperBound...].drop { $0.isNumber }
            return String(line[..<r.lowerBound]) + String(rest)
        }
    }

    @Test func everyBudgetGivesTheOneShotIntroduction() {
        let reference = Self.tree(Self.introduceThree(budget: nil).0)
        #expect(reference.contains { $0.contains("/local/domain/3/store/ring-ref") })
        #expect(reference.contains { $0.hasPrefix("d0 events") && $0.hasSuffix("@introduceDomain intro0") },
                "@introduceDomain fires last")
        for budget in [1, 2, 3, 5, 8, 40, 100, 256, 1_000, 100_000] {
            let (s, steps, _) = Self.introduceThree(budget: budget)
            #expect(Self.tree(s) == reference, "budget \(budget)")
            if budget == 1 { #expect(steps > 30, "one write per step: \(steps) steps") }
        }
    }

    /// A step stops at its budget: it goes past it by one write's work at most (a write
    /// here fires 100 watches on "/" plus the few on its own path).
    @Test func aStepStopsAtItsBudget() {
        let (_, steps, maxWork) = Self.introduceThree(budget: 256)
        let oneWrite = Self.introduceThree(budget: 1).maxStepWork
        #expect(oneWrite >= 100, "a write fires the 100 watches on /: \(oneWrite) units")
        #expect(maxWork <= 256 + oneWrite)
        #expect(steps > 10)
    }

    /// The domain is connected from the first step on (its ring can be served); a second
    /// introduction of it is refused until it has been released.
    @Test func theDomainIsConnectedAtOnce() {
        let s = XenStore.twoDomains()
        let intro = s.beginIntroduce(domid: 3, name: xb("gamma"))
        #expect(intro != nil)
        #expect(s.isIntroduced(3))
        #expect(!s.introduce(domid: 3, name: xb("again")))
    }
}
