#if hasFeature(Embedded)
import AArch64
import ApusCore

/// What follows a domain's stop while the board runs on, as deferred work (Tasklets): its
/// teardown when destroyed, its teardown, rebuild and reload when it reboots. Xen does the
/// same with domain_kill's preemptible steps and the toolstack's rebuild; here every step
/// is bounded and CPUs go back to guests or idle in between.
///
/// The domain is not alive and none of its vCPUs is on (so it does not run) for as long as
/// the job is queued; a reboot job keeps `restartPending` (the board does not power off) and
/// `restartClaimed` (nobody starts another rebuild) set until the domain has restarted or is
/// known dead. One job per domain at most (`Tasklets.schedule`), and a destroyed domain is
/// not restarted (`Domains.shutdown`), so nothing is torn down or freed twice.
final class DomainJob {
    enum Kind { case destroy, reboot }
    private enum Phase { case quiesce, teardown, rebuild, introduce, load, failedTeardown, restart, dead }

    let domain: Domain
    let kind: Kind
    /// A CPU is doing a step of it (under Hypervisor.stateLock).
    var running = false
    private var phase: Phase
    private var teardown: Xen.DomainTeardown
    private var load: BootLoad? = nil

    init(_ d: Domain, _ kind: Kind) {
        domain = d
        self.kind = kind
        teardown = Xen.DomainTeardown(d)
        // Destroy: other CPUs' vCPUs of it leave at their next trap (they were kicked), and
        // its memory is never used again, so its Xen state may go at once, as before.
        phase = kind == .reboot ? .quiesce : .teardown
    }

    /// One bounded step; true when the job is over (`completed` follows, out of the queue).
    func step() -> Bool {
        let d = domain
        switch phase {
        case .quiesce:
            // Its other vCPUs leave their CPUs at their next trap (they were kicked): its
            // p2m and RAM are replaced only when none of them can touch them any more.
            for c in Hypervisor.cpus {
                if let v = c.current, v.domainID == d.id { return false }
            }
            d.restarts += 1
            phase = .teardown
        case .teardown:
            // Xen state first: peers' mappings of its grants go before its RAM is forgotten,
            // so nothing they write reaches the new boot.
            guard teardown.step() else { return false }
            if kind == .destroy { phase = .dead; return true }
            phase = .rebuild
        case .rebuild:
            if Xen.reset(d, enhanced: d.spec.xenEnhanced) {
                phase = .introduce
            } else {
                failed()
            }
        case .introduce:
            // Its XenStore home, a few writes per step (each fires the watches on its path).
            guard Xen.introduceStep(d) else { return false }
            load = BootLoad(d)
            phase = .load
        case .load:
            switch load?.step() ?? .failed {
            case .more: break
            case .done: load = nil; phase = .restart; return true
            case .failed: load = nil; failed()
            }
        case .failedTeardown:
            guard teardown.step() else { return false }
            phase = .dead
            return true
        case .restart, .dead:
            return true
        }
        return false
    }

    /// Not restarted: it stays dead, as after on_crash = "destroy"; the Xen state `reset` set
    /// up again goes too.
    private func failed() {
        Log.line { Log.put("d"); Log.dec(domain.id); Log.put(": no memory for the p2m, not restarted") }
        teardown = Xen.DomainTeardown(domain)
        phase = .failedTeardown
    }

    /// The job is out of the queue: a rebuilt domain starts (vCPU 0 on), a reboot that
    /// failed leaves it dead, and the board powers off if no domain is left.
    func completed() {
        let d = domain
        guard kind == .reboot else {
            ToolstackDomains.destroyed(d)          // a toolstack domain's memory goes back
            return
        }
        if phase == .restart {
            d.withLock { held in held.resetDevices() }
            Hypervisor.withStateLock { _ in
                d.withLock { _ in d.alive = true }
                d.restartPending = false                 // only now: until here the board must not power off
                d.restartClaimed = false
            }
            Domains.start(d)
            return
        }
        let anyAlive = Hypervisor.withStateLock { _ in
            d.restartPending = false
            d.restartClaimed = false
            return Hypervisor.domains.contains { $0.alive || $0.restartPending }
        }
        if !anyAlive { Hypervisor.powerOffBoard() }
    }
}
#endif
