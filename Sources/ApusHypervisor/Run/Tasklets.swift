#if hasFeature(Embedded)
import AArch64
import ApusCore

/// Deferred bounded work at EL2, as Xen's tasklets and its preemptible domain_kill /
/// relinquish_resources: EL2 runs with interrupts masked and cannot be preempted, so work
/// that can be long (a domain's teardown, its reload at a reboot) is cut into steps of at
/// most ~20 us, and a CPU does one step at a time and then goes back to a guest or to its
/// idle WFI, where interrupts are taken, before the next.
///
/// Steps run at the end of a trap from a guest (`Trap.lower`) and in the idle loop
/// (`Scheduler.run`). A CPU that did a step and sees work left arms its EL2 timer to come
/// back soon (`soon`): at once when idle, after `guestGap` of its guest's time otherwise,
/// so that a guest on that CPU keeps running between steps even if it never traps (with
/// an immediate self-kick, the interrupt is taken before the guest's first instruction,
/// and a CPU that always has work left would never run its guest again). The XenStore
/// ring service that a trap leaves unfinished continues the same way.
///
/// A job is a `DomainJob` (teardown at destroy, teardown and reload at reboot): at most one
/// per domain, one CPU at a time on it. The queue is guarded by Hypervisor.stateLock
/// (it holds the lifecycle flags the jobs change).
enum Tasklets {
    /// Under Hypervisor.stateLock.
    nonisolated(unsafe) private static var jobs: [DomainJob] = []
    /// Whether `jobs` is not empty: set under the lock, read without it (a stale false is
    /// followed by the kick `schedule` sends).
    nonisolated(unsafe) private(set) static var pending = false

    /// Guest time a CPU's own guest gets between two steps of deferred work (20 us).
    static var guestGap: UInt64 { Xen.nsToTicks(20_000) }

    /// Queues `job`; false (nothing queued) when its domain already has one.
    @discardableResult
    static func schedule(_ job: DomainJob) -> Bool {
        let added: Bool = Hypervisor.withStateLock { _ in
            if jobs.contains(where: { $0.domain === job.domain }) { return false }
            jobs.append(job)
            pending = true
            return true
        }
        guard added else { return false }
        // Every CPU may help: an idle one wakes for it, and this one comes back to it soon.
        for c in Hypervisor.cpus where c.online { Scheduler.kickCPU(c.index) }
        soon(PerCPU.this)
        return true
    }

    /// Whether `d` has a job queued or running.
    static func hasJob(_ d: Domain, _ held: borrowing StateLocked) -> Bool {
        jobs.contains { $0.domain === d }
    }

    /// One step of deferred work, if there is any this CPU may do (none when the only jobs
    /// are on other CPUs right now). Called with no lock held.
    static func runOne(_ cpu: PerCPU) {
        // One bounded piece of work per step: a store call or a job's step, in turn when
        // both wait, so that a domain that keeps its XenStore ring busy cannot hold back
        // another domain's teardown or reboot.
        let serviceTurn = !pending || !cpu.lastStepWasService
        if serviceTurn && Xen.continueServices() {
            cpu.lastStepWasService = true
            if pending { soon(cpu) }
            return
        }
        cpu.lastStepWasService = false
        guard pending else { return }
        let job: DomainJob? = Hypervisor.withStateLock { _ in
            guard let j = jobs.first(where: { !$0.running }) else { return nil }
            j.running = true
            return j
        }
        guard let job else { return }
        let finished = job.step()
        let left: Bool = Hypervisor.withStateLock { _ in
            job.running = false
            if finished { jobs.removeAll { $0 === job } }
            pending = !jobs.isEmpty
            return pending
        }
        if finished { job.completed() }
        if left || Xen.serviceQueued || Xen.watchersQueued { soon(cpu) }
    }

    /// Brings this CPU back to deferred work soon: its EL2 timer fires at once when it is
    /// idle, after `guestGap` when a guest runs here.
    static func soon(_ cpu: PerCPU) {
        let at = Scheduler.now &+ (cpu.current == nil ? 0 : guestGap)
        if cpu.deferredDue { return }                         // a step comes at this trap's exit
        if let t = cpu.deferredAt, t <= at { return }
        cpu.deferredAt = at
        Scheduler.programTimer(cpu)
    }
}
#endif
