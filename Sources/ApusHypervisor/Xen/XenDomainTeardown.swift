#if hasFeature(Embedded)
import AArch64
import ApusCore

extension Xen {
    /// A domain's Xen state going away in bounded steps (Xen's domain_kill with its
    /// preemptible relinquish_resources): one hold of the Xen lock per `step`, each doing a
    /// bounded amount of work, so that a CPU tearing a domain down goes back to a guest or
    /// to idle between holds (Tasklets) and other CPUs wait for one step at most.
    final class DomainTeardown {
        enum Stage { case begin, channels, store, finished }
        let domain: Domain
        private(set) var stage = Stage.begin
        private var release: XenStoreRelease? = nil

        init(_ d: Domain) { domain = d }

        /// One step; true once the domain's Xen state is gone (at once for a domain without any).
        func step() -> Bool {
            let d = domain
            let id = XenDomainID(d.id)
            switch stage {
            case .begin:
                guard d.xen != nil else { stage = .finished; return true }
                // The domain is dying first: nothing new can reach it (no hypercall of it is
                // taken, no channel bound to it, no grant of it mapped).
                locked { x in _ = x.host.beginDestroy(id) }
                stage = .channels
            case .channels:
                // Its channels close (peers see them unbound), grant mappings go both ways.
                if locked({ x in x.host.destroyStep(id, platform: XenBoard(current: nil), budget: teardownBudget) }) {
                    // Disconnected from the XenStore in the same hold: it takes no request more.
                    release = locked { x in x.store.beginRelease(domid: id) }
                    stage = .store
                }
            case .store:
                // Its home and nodes go, entries naming it are disabled, @releaseDomain fires.
                if let r = release, !locked({ x in x.store.releaseStep(r, budget: releaseBudget) }) { break }
                release = nil
                // Its service ports are closed and may be handed out again: forget them (port 0 is never one).
                d.xen?.consoleService = 0
                d.xen?.storeService = 0
                stage = .finished
                // The removals and @releaseDomain fired other domains' watches: served by
                // later steps (Tasklets), one store call each.
                watchersQueued = true
                Tasklets.soon(PerCPU.this)
                return true
            case .finished:
                return true
            }
            return false
        }
    }

    /// XenStore work units per release step. Measured under icount at the end of a hostile
    /// run, a release costs about 55 ns per work unit at EL2 (node removals allocate and
    /// fire watches beyond what the units count): 256 units is some 15 us, plus one node's
    /// removal (4,096, a service call's budget, was 236 us).
    static let releaseBudget = 256
}
#endif
