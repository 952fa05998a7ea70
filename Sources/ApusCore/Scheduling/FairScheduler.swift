/// Deciding which vCPU each physical CPU runs. Two policies, as Xen offers them:
///
/// - `.fair` (Xen's credit schedulers): vCPUs share the CPUs in proportion to their
///   domain's weight (xl.cfg `cpu_weight`, default 256), never above their cap
///   (`cpu_cap`, percent of one CPU, 0 = none), only on CPUs their hard affinity
///   allows (`cpus`). It is a virtual-time scheduler: a vCPU's clock advances by the
///   time it ran divided by its weight, and the runnable vCPU with the earliest clock
///   runs next, for at most one timeslice. Xen credit2's context-switch rate limit
///   (`xl sched-credit2 -s -r`: the least time a picked vCPU runs before another may take
///   its CPU) is kept by never preempting before the timeslice ends: a rate limit longer
///   than the timeslice lengthens it.
/// - `.noSharing` (Xen's null scheduler): each vCPU owns one CPU for good; vCPUs that
///   find no free CPU wait. No timeslices, no preemption: for real-time guests.
///
/// Pure bookkeeping over a caller-supplied clock (nanoseconds), so the policies are
/// tested on the host with a simulated one.
public final class FairScheduler {
    public enum Policy: Sendable, Equatable { case fair, noSharing }
    public enum State: Sendable, Equatable { case offline, runnable, running(cpu: Int), blocked }

    public struct Entity: Sendable {
        public var weight: UInt64
        /// Percent of one CPU; 0 means uncapped.
        public var capPercent: UInt64
        /// Bit n set: may run on CPU n.
        public var affinity: UInt64
        public var state: State = .offline
        /// Weighted run time (ns * defaultWeight / weight).
        public var virtualTime: UInt64 = 0
        /// Run time in the current cap period.
        public var periodUsed: UInt64 = 0
        public var startedAt: UInt64 = 0
        /// The CPU a no-sharing vCPU owns.
        public var ownedCPU: Int? = nil
        /// Total time run, for the debug keys and tests.
        public var totalRun: UInt64 = 0
    }

    public static let defaultWeight: UInt64 = 256
    /// Xen credit2's default rate limit (sched_ratelimit_us), in microseconds.
    public static let defaultRateLimitMicroseconds: UInt32 = 1000
    public let policy: Policy
    public let cpuCount: Int
    /// The timeslice the scheduler was made with.
    public let baseTimeslice: UInt64
    /// The rate limit as the toolstack set it, in microseconds (0: none).
    public private(set) var rateLimitMicroseconds: UInt32 = FairScheduler.defaultRateLimitMicroseconds
    /// The same in clock units. 0 until `setRateLimit`: the default 1 ms is within any
    /// timeslice the hypervisor uses (10 ms), so there is nothing to lengthen.
    public private(set) var rateLimit: UInt64 = 0
    /// How long a picked vCPU runs before another may take its CPU: the base timeslice, or
    /// the rate limit when that is longer.
    public var timeslice: UInt64 { max(baseTimeslice, rateLimit) }
    /// Whether the toolstack has set the rate limit (before that, the default 1 ms applies).
    private var rateLimitSet = false
    /// The least a running vCPU keeps its CPU before a woken one may take it
    /// (`preemption`): the rate limit as set, else Xen credit2's default of 1 ms, taken
    /// as a tenth of the base timeslice (10 ms) in the caller's clock.
    public var minimumRun: UInt64 { rateLimitSet ? rateLimit : baseTimeslice / 10 }
    public let capPeriod: UInt64
    public private(set) var entities: [Entity] = []
    /// Per CPU: the entity running there.
    public private(set) var running: [Int?]
    var periodStart: UInt64 = 0

    public init(cpus: Int, policy: Policy, timeslice: UInt64 = 10_000_000, capPeriod: UInt64 = 100_000_000) {
        self.cpuCount = max(1, min(cpus, 64))
        self.policy = policy
        self.baseTimeslice = max(timeslice, 1)
        self.capPeriod = max(capPeriod, 1)
        running = [Int?](repeating: nil, count: self.cpuCount)
    }

    /// Adds a vCPU (offline until `wake`). Returns its id. Weight is clamped to 1...65535.
    public func add(weight: Int, capPercent: Int, affinity: UInt64) -> Int {
        let all: UInt64 = cpuCount >= 64 ? ~0 : (1 << UInt64(cpuCount)) - 1
        var e = Entity(weight: UInt64(max(1, min(weight, 65535))), capPercent: UInt64(max(0, min(capPercent, 6400))),
                       affinity: affinity & all == 0 ? all : affinity & all)
        if policy == .noSharing {
            // The first CPU the affinity allows that nobody owns yet.
            for c in 0..<cpuCount where e.affinity & (1 << UInt64(c)) != 0 && !entities.contains(where: { $0.ownedCPU == c }) {
                e.ownedCPU = c
                break
            }
        }
        entities.append(e)
        return entities.count - 1
    }

    func valid(_ id: Int) -> Bool { id >= 0 && id < entities.count }

    /// The toolstack's scheduler_op putinfo: a new weight (1...65535) and cap (percent of one
    /// CPU, 0 = none), charged from the next accounting on.
    public func setParameters(_ id: Int, weight: Int?, capPercent: Int?) {
        guard valid(id) else { return }
        if let w = weight { entities[id].weight = UInt64(max(1, min(w, 65535))) }
        if let c = capPercent { entities[id].capPercent = UInt64(max(0, min(c, 6400))) }
    }

    /// sysctl scheduler_op putinfo: the rate limit, `microseconds` as the toolstack gave it
    /// (reported back as is) and `clockUnits` the same span in the caller's clock. It applies
    /// from the next pick on.
    public func setRateLimit(microseconds: UInt32, clockUnits: UInt64) {
        rateLimitMicroseconds = microseconds
        rateLimit = clockUnits
        rateLimitSet = true
    }

    /// setvcpuaffinity: the CPUs the vCPU may run on from its next pick, limited to this
    /// board's; nil (nothing changed) when none of them is left, or under the no-sharing
    /// policy, where each vCPU owns the CPU it was given at boot.
    public func setAffinity(_ id: Int, _ mask: UInt64) -> UInt64? {
        guard valid(id), policy != .noSharing else { return nil }
        let all: UInt64 = cpuCount >= 64 ? ~0 : (1 << UInt64(cpuCount)) - 1
        guard mask & all != 0 else { return nil }
        entities[id].affinity = mask & all
        return mask & all
    }

    /// The lowest virtual time among vCPUs that want a CPU: where a waking vCPU starts,
    /// so sleeping does not bank credit to starve the others later.
    var floorTime: UInt64 {
        var m: UInt64 = .max
        for e in entities {
            switch e.state {
            case .runnable, .running: m = min(m, e.virtualTime)
            default: break
            }
        }
        return m == .max ? 0 : m
    }

    /// Makes a vCPU runnable. Returns an idle CPU that should be woken to run it, if any.
    public func wake(_ id: Int, now: UInt64) -> Int? {
        guard valid(id) else { return nil }
        switch entities[id].state {
        case .runnable, .running: return nil
        default: break
        }
        let floor = floorTime
        entities[id].virtualTime = max(entities[id].virtualTime, floor > baseTimeslice ? floor - baseTimeslice : 0)
        entities[id].state = .runnable
        for c in 0..<cpuCount where running[c] == nil && mayRun(id, on: c) { return c }
        return nil
    }

    /// Wake-up preemption, as credit2's: after `wake` found no idle CPU, the CPU whose
    /// running vCPU the woken `id` should replace, and when. A vCPU that slept (an I/O
    /// completion, a timer, an event from its backend) then does not wait for a timeslice to
    /// end. That is a CPU `id` may run on whose vCPU is ahead of it in virtual time (counting
    /// what it has run so far); of several, the one furthest ahead. The switch may happen once
    /// that vCPU has run `minimumRun` since it was picked (credit2's rate limit, which also
    /// reschedules when it expires): `at` is now or that moment. Nil: wait for a timeslice end.
    /// Never under no-sharing.
    public func preemption(for id: Int, now: UInt64) -> (cpu: Int, at: UInt64)? {
        guard policy == .fair, valid(id), entities[id].state == .runnable else { return nil }
        var best: (cpu: Int, at: UInt64)? = nil
        var bestLead: UInt64 = 0
        let mine = entities[id].virtualTime
        for c in 0..<cpuCount where mayRun(id, on: c) {
            guard let cur = running[c] else { continue }
            let started = entities[cur].startedAt
            let ran = now >= started ? now - started : 0
            let clock = entities[cur].virtualTime &+ ran * FairScheduler.defaultWeight / entities[cur].weight
            guard clock > mine else { continue }
            let lead = clock - mine
            let at = ran >= minimumRun ? now : started &+ minimumRun
            if let b = best, b.at < at || (b.at == at && bestLead >= lead) { continue }
            best = (c, at)
            bestLead = lead
        }
        return best
    }

    /// The running or runnable vCPU stops wanting a CPU (WFI with nothing pending, CPU_OFF...).
    public func block(_ id: Int, now: UInt64) { stop(id, now: now, to: .blocked) }
    public func offline(_ id: Int, now: UInt64) { stop(id, now: now, to: .offline) }

    func stop(_ id: Int, now: UInt64, to state: State) {
        guard valid(id) else { return }
        if case .running(let c) = entities[id].state { charge(id, now: now); running[c] = nil }
        entities[id].state = state
    }

    func mayRun(_ id: Int, on cpu: Int) -> Bool {
        let e = entities[id]
        guard e.affinity & (1 << UInt64(cpu)) != 0 else { return false }
        if policy == .noSharing { return e.ownedCPU == cpu }
        return e.capPercent == 0 || e.periodUsed < capPeriod * e.capPercent / 100
    }

    func charge(_ id: Int, now: UInt64) {
        let ran = now >= entities[id].startedAt ? now - entities[id].startedAt : 0
        entities[id].startedAt = now
        entities[id].totalRun &+= ran
        entities[id].periodUsed &+= ran
        entities[id].virtualTime &+= ran * FairScheduler.defaultWeight / entities[id].weight
    }

    func rollPeriod(now: UInt64) {
        guard now >= periodStart + capPeriod else { return }
        periodStart = now - (now - periodStart) % capPeriod
        for i in 0..<entities.count { entities[i].periodUsed = 0 }
    }

    /// What `cpu` runs from `now` on: the vCPU that was running there is charged and
    /// competes again. Returns the vCPU (nil: idle) and when to ask again (nil: only
    /// when something changes), which is the end of its timeslice or of its cap budget.
    /// `yielding`: the running vCPU gave its turn away (SCHEDOP_yield): it goes behind every
    /// other vCPU that may run here, as in Xen's schedulers, whatever its virtual time.
    public func pick(cpu: Int, now: UInt64, yielding: Bool = false) -> (vcpu: Int?, until: UInt64?) {
        guard cpu >= 0, cpu < cpuCount else { return (nil, nil) }
        var yielder: Int? = nil
        if let cur = running[cpu] {
            charge(cur, now: now)
            entities[cur].state = .runnable
            running[cpu] = nil
            if yielding { yielder = cur }
        }
        rollPeriod(now: now)
        var best: Int? = nil
        for i in 0..<entities.count where i != yielder && entities[i].state == .runnable && mayRun(i, on: cpu) {
            if let b = best, entities[b].virtualTime <= entities[i].virtualTime { continue }
            best = i
        }
        if best == nil, let y = yielder, mayRun(y, on: cpu) { best = y }
        guard let b = best else {
            // Capped vCPUs waiting for the next period: ask again then.
            let waiting = entities.contains { $0.state == .runnable && $0.capPercent > 0 }
            return (nil, waiting && policy == .fair ? periodStart + capPeriod : nil)
        }
        entities[b].state = .running(cpu: cpu)
        entities[b].startedAt = now
        running[cpu] = b
        if policy == .noSharing { return (b, nil) }
        var until = now + timeslice
        let e = entities[b]
        if e.capPercent > 0 {
            let budget = capPeriod * e.capPercent / 100
            let left = budget > e.periodUsed ? budget - e.periodUsed : 0
            until = min(until, now + left)
        }
        return (b, until)
    }

    /// True when some other vCPU could use `cpu` now (so the running one should be
    /// preempted at its slice end rather than left alone).
    public func hasCompetition(cpu: Int) -> Bool {
        entities.indices.contains { entities[$0].state == .runnable && mayRun($0, on: cpu) }
    }
}
