import Testing
@testable import ApusCore

/// Simulates CPUs asking the scheduler what to run, each running its pick until the
/// returned deadline (or a fixed tick when there is none).
func simulate(_ s: FairScheduler, for duration: UInt64, tick: UInt64 = 1_000_000) {
    var next = [UInt64](repeating: 0, count: s.cpuCount)
    var now: UInt64 = 0
    while now < duration {
        for c in 0..<s.cpuCount where next[c] <= now {
            let (_, until) = s.pick(cpu: c, now: now)
            next[c] = min(until ?? now + tick, duration)
            if next[c] <= now { next[c] = now + tick }
        }
        now = next.min()!
    }
    for c in 0..<s.cpuCount { _ = s.pick(cpu: c, now: duration) }     // charge the last stretch
}

@Suite struct FairSchedulerTests {
    let second: UInt64 = 1_000_000_000

    @Test func weightsShareOneCPUTwoToOneWithinFivePercent() {
        let s = FairScheduler(cpus: 1, policy: .fair)
        let a = s.add(weight: 512, capPercent: 0, affinity: ~0)
        let b = s.add(weight: 256, capPercent: 0, affinity: ~0)
        _ = s.wake(a, now: 0); _ = s.wake(b, now: 0)
        simulate(s, for: second)
        let ra = Double(s.entities[a].totalRun), rb = Double(s.entities[b].totalRun)
        #expect(abs(ra / rb - 2.0) / 2.0 < 0.05, "ratio \(ra / rb)")
        #expect(s.entities[a].totalRun + s.entities[b].totalRun == second)
    }

    @Test func equalWeightsOnTwoCPUsWithThreeVCPUsShareFairly() {
        let s = FairScheduler(cpus: 2, policy: .fair)
        let ids = (0..<3).map { _ in s.add(weight: 256, capPercent: 0, affinity: ~0) }
        for i in ids { _ = s.wake(i, now: 0) }
        simulate(s, for: second)
        for i in ids {
            let share = Double(s.entities[i].totalRun) / Double(second)
            #expect(abs(share - 2.0 / 3.0) < 0.05, "vCPU \(i) got \(share)")
        }
    }

    @Test func capLimitsAVCPUEvenWhenTheCPUIsOtherwiseIdle() {
        let s = FairScheduler(cpus: 1, policy: .fair)
        let a = s.add(weight: 256, capPercent: 25, affinity: ~0)
        _ = s.wake(a, now: 0)
        simulate(s, for: second)
        let share = Double(s.entities[a].totalRun) / Double(second)
        #expect(share <= 0.26 && share >= 0.20, "capped share \(share)")
    }

    @Test func hardAffinityKeepsAVCPUOnItsCPUs() {
        let s = FairScheduler(cpus: 2, policy: .fair)
        let pinned = s.add(weight: 256, capPercent: 0, affinity: 0b10)
        let free = s.add(weight: 256, capPercent: 0, affinity: ~0)
        _ = s.wake(pinned, now: 0); _ = s.wake(free, now: 0)
        for t in 0..<100 {
            let (v0, _) = s.pick(cpu: 0, now: UInt64(t) * 1_000_000)
            #expect(v0 != pinned)
            _ = s.pick(cpu: 1, now: UInt64(t) * 1_000_000)
        }
    }

    @Test func blockedVCPUIsNotPickedAndWakeNamesAnIdleCPU() {
        let s = FairScheduler(cpus: 2, policy: .fair)
        let a = s.add(weight: 256, capPercent: 0, affinity: ~0)
        #expect(s.wake(a, now: 0) == 0)
        #expect(s.pick(cpu: 0, now: 0).vcpu == a)
        s.block(a, now: 5)
        #expect(s.pick(cpu: 0, now: 10).vcpu == nil)
        #expect(s.pick(cpu: 1, now: 10).vcpu == nil)
        #expect(s.wake(a, now: 20) == 0)
        #expect(s.pick(cpu: 1, now: 21).vcpu == a)
        #expect(s.entities[a].totalRun == 5)
    }

    /// SCHEDOP_yield: the yielder goes behind the other runnable vCPU even when its own
    /// virtual time is lower (it would otherwise be picked again, and the yield would only
    /// switch it out and back in); alone, it keeps the CPU.
    @Test func yieldingVCPUGoesBehindTheOthers() {
        let s = FairScheduler(cpus: 1, policy: .fair)
        let a = s.add(weight: 256, capPercent: 0, affinity: ~0)
        let b = s.add(weight: 256, capPercent: 0, affinity: ~0)
        _ = s.wake(a, now: 0)
        _ = s.wake(b, now: 0)
        #expect(s.pick(cpu: 0, now: 0).vcpu == a)
        #expect(s.pick(cpu: 0, now: 1_000_000).vcpu == b)        // b has run less
        #expect(s.pick(cpu: 0, now: 3_000_000).vcpu == a)        // b ran longer: a's turn
        // a has run 1 ms, b 2 ms: without the yield a would be picked again.
        #expect(s.pick(cpu: 0, now: 3_000_100, yielding: true).vcpu == b)
        #expect(s.pick(cpu: 0, now: 3_000_200, yielding: true).vcpu == a)
        s.block(b, now: 3_000_300)
        #expect(s.pick(cpu: 0, now: 3_000_400, yielding: true).vcpu == a)   // nobody to yield to
    }

    @Test func sleepingDoesNotBankCreditAgainstBusyVCPUs() {
        let s = FairScheduler(cpus: 1, policy: .fair)
        let busy = s.add(weight: 256, capPercent: 0, affinity: ~0)
        let sleeper = s.add(weight: 256, capPercent: 0, affinity: ~0)
        _ = s.wake(busy, now: 0)
        simulate(s, for: second)                     // busy alone for a second
        _ = s.wake(sleeper, now: second)
        // From here the two share: the sleeper must not monopolise the CPU for a second.
        var sleeperRun: UInt64 = 0
        var now = second
        for _ in 0..<20 {
            let (v, until) = s.pick(cpu: 0, now: now)
            let end = until ?? now + 1_000_000
            if v == sleeper { sleeperRun += end - now }
            now = end
        }
        let span = now - second
        #expect(Double(sleeperRun) / Double(span) < 0.7)
    }

    @Test func noSharingGivesEachVCPUItsOwnCPUAndExtrasWait() {
        let s = FairScheduler(cpus: 2, policy: .noSharing)
        let a = s.add(weight: 256, capPercent: 0, affinity: ~0)
        let b = s.add(weight: 256, capPercent: 0, affinity: ~0)
        let c = s.add(weight: 256, capPercent: 0, affinity: ~0)
        for i in [a, b, c] { _ = s.wake(i, now: 0) }
        let p0 = s.pick(cpu: 0, now: 0), p1 = s.pick(cpu: 1, now: 0)
        #expect(p0.vcpu == a && p0.until == nil)
        #expect(p1.vcpu == b && p1.until == nil)
        #expect(s.pick(cpu: 0, now: 50).vcpu == a)     // never preempted for c
        #expect(s.entities[c].ownedCPU == nil)
    }

    /// credit2's rate limit (sysctl scheduler_op): a picked vCPU keeps its CPU for the rate
    /// limit when that is longer than the 10 ms timeslice; a shorter one (or none) leaves
    /// the timeslice as it is. A cap's budget still ends the turn earlier.
    @Test func aRateLimitAboveTheTimesliceLengthensEachTurn() {
        let ms: UInt64 = 1_000_000
        let s = FairScheduler(cpus: 1, policy: .fair)
        let a = s.add(weight: 256, capPercent: 0, affinity: ~0)
        let b = s.add(weight: 256, capPercent: 0, affinity: ~0)
        _ = s.wake(a, now: 0); _ = s.wake(b, now: 0)
        #expect(s.rateLimitMicroseconds == 1000 && s.timeslice == 10 * ms)
        #expect(s.pick(cpu: 0, now: 0) == (a, 10 * ms))
        s.setRateLimit(microseconds: 25_000, clockUnits: 25 * ms)
        #expect(s.rateLimitMicroseconds == 25_000 && s.timeslice == 25 * ms)
        #expect(s.pick(cpu: 0, now: 10 * ms) == (b, 35 * ms), "now + the rate limit")
        #expect(s.pick(cpu: 0, now: 35 * ms) == (a, 60 * ms))
        s.setRateLimit(microseconds: 5000, clockUnits: 5 * ms)
        #expect(s.pick(cpu: 0, now: 60 * ms) == (b, 70 * ms), "5 ms is within the 10 ms timeslice")
        s.setRateLimit(microseconds: 0, clockUnits: 0)
        #expect(s.pick(cpu: 0, now: 70 * ms) == (a, 80 * ms))
        let capped = FairScheduler(cpus: 1, policy: .fair)
        let c = capped.add(weight: 256, capPercent: 20, affinity: ~0)
        _ = capped.wake(c, now: 0)
        capped.setRateLimit(microseconds: 50_000, clockUnits: 50 * ms)
        #expect(capped.pick(cpu: 0, now: 0) == (c, 20 * ms), "20 % of the 100 ms cap period")
    }

    @Test func hasCompetitionOnlyWhenSomeoneElseCouldRun() {
        let s = FairScheduler(cpus: 1, policy: .fair)
        let a = s.add(weight: 256, capPercent: 0, affinity: ~0)
        let b = s.add(weight: 256, capPercent: 0, affinity: ~0)
        _ = s.wake(a, now: 0)
        _ = s.pick(cpu: 0, now: 0)
        #expect(!s.hasCompetition(cpu: 0))
        _ = s.wake(b, now: 1)
        #expect(s.hasCompetition(cpu: 0))
    }

    // Wake-up preemption (credit2's): a vCPU that slept takes a CPU from one ahead of it in
    // virtual time once that one has run its minimum, instead of waiting for the slice end.

    @Test func aWokenVCPUPreemptsOneThatRanPastTheMinimumAndIsAheadOfIt() {
        let s = FairScheduler(cpus: 1, policy: .fair)
        let hog = s.add(weight: 256, capPercent: 0, affinity: ~0)
        let sleeper = s.add(weight: 256, capPercent: 0, affinity: ~0)
        _ = s.wake(hog, now: 0)
        #expect(s.pick(cpu: 0, now: 0).vcpu == hog)
        #expect(s.wake(sleeper, now: 2_000_000) == nil)              // no idle CPU
        #expect(s.minimumRun == 1_000_000)
        #expect(s.preemption(for: sleeper, now: 2_000_000).map { [$0.cpu, Int($0.at)] } == [0, 2_000_000])
        #expect(s.pick(cpu: 0, now: 2_000_000).vcpu == sleeper)
    }

    @Test func wakeUpPreemptionWaitsForTheRateLimitAndNeverTakesAVCPUBehindTheWokenOne() {
        let s = FairScheduler(cpus: 1, policy: .fair)
        let a = s.add(weight: 256, capPercent: 0, affinity: ~0)
        let b = s.add(weight: 256, capPercent: 0, affinity: ~0)
        _ = s.wake(a, now: 0)
        _ = s.pick(cpu: 0, now: 0)
        _ = s.wake(b, now: 500_000)
        // a ran 0.5 ms of the 1 ms minimum: b takes its CPU when a has run 1 ms.
        #expect(s.preemption(for: b, now: 500_000).map { [$0.cpu, Int($0.at)] } == [0, 1_000_000])
        // The toolstack's rate limit replaces the default: 0 allows it at once.
        s.setRateLimit(microseconds: 0, clockUnits: 0)
        #expect(s.preemption(for: b, now: 500_000).map { [$0.cpu, Int($0.at)] } == [0, 500_000])
        // b runs for 20 ms, then blocks; a (behind b now) is running again when b wakes.
        _ = s.pick(cpu: 0, now: 500_000)
        #expect(s.entities[b].state == .running(cpu: 0))
        s.block(b, now: 20_500_000)
        _ = s.pick(cpu: 0, now: 20_500_000)
        _ = s.wake(b, now: 21_000_000)
        #expect(s.preemption(for: b, now: 21_000_000) == nil)        // a is behind b: no preemption
    }

    @Test func wakeUpPreemptionRespectsAffinityAndNeverHappensUnderNoSharing() {
        let s = FairScheduler(cpus: 2, policy: .fair)
        let x = s.add(weight: 256, capPercent: 0, affinity: 0b01)
        let y = s.add(weight: 256, capPercent: 0, affinity: 0b10)
        let z = s.add(weight: 256, capPercent: 0, affinity: 0b10)
        _ = s.wake(x, now: 0); _ = s.wake(y, now: 0)
        _ = s.pick(cpu: 0, now: 0); _ = s.pick(cpu: 1, now: 0)
        _ = s.wake(z, now: 5_000_000)
        #expect(s.preemption(for: z, now: 5_000_000)?.cpu == 1)      // only CPU 1 is allowed
        let n = FairScheduler(cpus: 1, policy: .noSharing)
        let p = n.add(weight: 256, capPercent: 0, affinity: ~0)
        let q = n.add(weight: 256, capPercent: 0, affinity: ~0)
        _ = n.wake(p, now: 0); _ = n.pick(cpu: 0, now: 0); _ = n.wake(q, now: 5_000_000)
        #expect(n.preemption(for: q, now: 5_000_000) == nil)
    }
}
