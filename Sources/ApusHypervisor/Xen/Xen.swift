#if hasFeature(Embedded)
import AArch64
import ApusCore

/// The Xen guest interfaces of the whole board: one `XenHost` (hypercalls, event channels,
/// grants) and one `XenStore`, both behind `lock`. The hypervisor itself is Xen domain 0, a
/// service endpoint without memory: the PV console and XenStore rings of every domain are
/// served here, as xenconsoled and xenstored do in Xen's dom0.
enum Xen {
    /// Guarded by `lock`, reached only through `locked` (XenLocked).
    nonisolated(unsafe) fileprivate static var hostState: XenHost! = nil
    /// The same XenHost, never released: the hypercall path calls it through a guaranteed
    /// reference (`XenLocked.withHost`) instead of retaining and releasing it every time.
    nonisolated(unsafe) fileprivate static var hostRef: Unmanaged<XenHost>? = nil
    nonisolated(unsafe) fileprivate static var storeState: XenStore! = nil
    nonisolated(unsafe) fileprivate static var lock: UInt32 = 0
    /// Service ports (domain 0) signalled while `lock` was held; drained after it is dropped.
    /// Under `lock`: `queueService` is called only from XenBoard.deliver, which only the Xen
    /// core calls, inside `locked`.
    nonisolated(unsafe) fileprivate static var pendingService: [UInt32] = []
    /// Set with `pendingService` (under the lock), read without it: a hypercall that queued
    /// no service does not pay for the lock and the queue again.
    nonisolated(unsafe) static var serviceQueued = false
    /// The hypervisor's own end of the boot-time domains' console and XenStore channels
    /// (xenconsoled and xenstored in Xen's dom0). Not domain 0: with a control domain that id
    /// is dom0's (xl, xenstored and /local/domain/0 expect it there); it is the id after the
    /// last boot-time domain. Set once at boot.
    nonisolated(unsafe) static var serviceDomain: XenDomainID = 0

    /// Xen's guest layout (arch-arm.h, xg_dom_arm.c): console ring at the first magic
    /// page, xenstore ring at the second.
    static let consoleGFN: UInt64 = GuestLayout.magicBase >> 12
    static let storeGFN: UInt64 = (GuestLayout.magicBase >> 12) + 1

    /// `maxDomains`: boot-time domains besides dom0, ids 1...maxDomains. The table has room
    /// for the domains the toolstack creates after them; the service endpoint takes its
    /// last slot.
    static func boot(maxDomains: Int) {
        let slots = max(ToolstackDomains.maxDomains, maxDomains + 2)
        serviceDomain = XenDomainID(slots - 1)
        let h = XenHost(maxDomains: slots)
        // Xen's default policy (the dummy XSM): any two domains may bind channels and grant.
        h.setPolicy { _, _ in true }
        var svc = XenDomainConfig(vcpus: 1)
        svc.serviceEndpoint = true
        svc.privileged = true
        h.createDomain(serviceDomain, svc, now: nowNS)
        hostState = h
        hostRef = Unmanaged.passRetained(h)
        // One service call's work is one hold of the Xen lock. XenStore's work units are
        // bytes compared, copied or moved, but a unit costs 30-55 ns at EL2 once allocation
        // and watch matching are counted (measured under icount at the end of a hostile
        // run): 4,096 units held the lock up to 170 us, 512 keep a call near 25 us. A
        // request bigger than that still completes in its call; the rest of a busy ring
        // continues at the next trap (Tasklets).
        var limits = XenStoreLimits()
        limits.workPerService = 512
        storeState = XenStore(limits: limits)
        ready = true
    }

    /// Set once at boot, before any other CPU starts: read without the lock.
    nonisolated(unsafe) private(set) static var ready = false

    /// Runs `body` holding Xen.lock, which guards the Xen ABI state of every domain
    /// (XenHost: event channels, grants, hypercall state) and the hypervisor's XenStore.
    /// Taken before a domain's p2m lock and its domain lock (docs/architecture.md, "Locks").
    @inline(__always)
    static func locked<R>(file: StaticString = #fileID, line: UInt = #line, _ body: (borrowing XenLocked) -> R) -> R {
        apus_spin_lock(&lock)
        let t0 = Latency.stamp()
        let r = body(XenLocked())
        Latency.held(.xen, since: t0, file: file, line: line)
        apus_spin_unlock(&lock)
        return r
    }

    /// Hypervisor time in ns (Xen's NOW()), from the physical counter.
    static var nowNS: UInt64 { ticksToNS(read_cntpct_el0()) }

    static func ticksToNS(_ t: UInt64) -> UInt64 {
        let f = max(Hypervisor.counterFrequency, 1)
        return (t / f) &* 1_000_000_000 &+ (t % f) &* 1_000_000_000 / f
    }

    static func nsToTicks(_ ns: UInt64) -> UInt64 {
        let f = Hypervisor.counterFrequency
        return (ns / 1_000_000_000) &* f &+ (ns % 1_000_000_000) &* f / 1_000_000_000
    }

    // MARK: domains

    /// Gives domain `d` its Xen state: hypercalls, event channels and grants for every
    /// domain (as Xen gives dom0less domUs), plus the console and XenStore rings and their
    /// HVM params when it asked for PV interfaces (`xen,enhanced`).
    /// With `introduceNow` false, the domain's XenStore introduction is left to
    /// `introduceStep` (a reboot does it in bounded steps, DomainJob); the domain must not
    /// run before it has finished.
    static func setUp(_ d: Domain, enhanced: XenEnhanced, introduceNow: Bool = true) -> Bool {
        guard let pages = d.xen ?? XenDomainPages(maxGrantFrames: Int(GrantTable.defaultMaxFrames)) else { return false }
        d.xen = pages
        let id = XenDomainID(d.id)
        // Its tables are allocated before the lock; publishing them under it is O(1).
        var prepared: XenPreparedDomain? = XenHost.prepareDomain(id, XenDomainConfig(vcpus: d.vcpus.count), now: nowNS)
        let ok = locked { x in
            guard x.host.install(&prepared) else { return false }
            guard enhanced != .disabled else { return true }
            // With a control domain, its xenstored serves every domain's XenStore, as on Xen
            // 4.17: the store channel's remote end is dom0 and HVM_PARAM_STORE_PFN reads ~0
            // ("not ready") until init-dom0less in dom0 has given the domain a ring, set the
            // parameter and introduced it; Linux waits for the channel's first event
            // (xenbus_late_init). The PV console stays the hypervisor's (Xen gives such
            // domains none).
            let storeInDom0 = enhanced == .enabled && Hypervisor.control != nil
            if pages.console == nil { pages.console = PhysicalMemory.allocatePages(1) }
            if enhanced == .enabled && !storeInDom0 && pages.store == nil { pages.store = PhysicalMemory.allocatePages(1) }
            guard let console = pages.console else { return false }
            guard mapPage(d, gfn: consoleGFN, host: console, permissions: [.read, .write]),
                  let (cg, cs) = serviceChannel(x, for: id) else { return false }
            pages.consolePort = cg; pages.consoleService = cs
            x.host.setHVMParam(domain: id, index: HVMParam.consolePFN, value: consoleGFN)
            x.host.setHVMParam(domain: id, index: HVMParam.consoleEvtchn, value: UInt64(cg))
            if storeInDom0 {
                guard let port = try? x.host.allocateUnbound(in: id, remote: 0) else { return false }
                pages.storePort = port
                x.host.setHVMParam(domain: id, index: HVMParam.storePFN, value: ~0)
                x.host.setHVMParam(domain: id, index: HVMParam.storeEvtchn, value: UInt64(port))
                return true
            }
            guard let s = pages.store else { return true }
            guard mapPage(d, gfn: storeGFN, host: s, permissions: [.read, .write]),
                  let (sg, ss) = serviceChannel(x, for: id) else { return false }
            pages.storePort = sg; pages.storeService = ss
            var page = RingPage(base: s)
            XenStoreRing.initialize(&page, eventChannel: sg)
            x.host.setHVMParam(domain: id, index: HVMParam.storePFN, value: storeGFN)
            x.host.setHVMParam(domain: id, index: HVMParam.storeEvtchn, value: UInt64(sg))
            pages.introduction = x.store.beginIntroduce(domid: id, name: d.spec.name,
                                                         setup: XenStoreDomainSetup(vcpus: d.vcpus.count, memoryKiB: d.ramSize >> 10,
                                                                                    storeEventChannel: sg, storeRingGFN: storeGFN))
            return true
        }
        if ok && introduceNow { while !introduceStep(d) {} }
        return ok
    }

    /// The control domain's Xen state: privileged (XSM_PRIV checks pass, XENFEAT_dom0),
    /// direct-mapped. No console or XenStore ring: its console is console_io (hvc0) and its
    /// XenStore is its own xenstored, as on Xen.
    static func setUpControl(_ d: Domain) -> Bool {
        guard let pages = d.xen ?? XenDomainPages(maxGrantFrames: Int(GrantTable.defaultMaxFrames)) else { return false }
        d.xen = pages
        var config = XenDomainConfig(vcpus: d.vcpus.count)
        config.privileged = true
        config.directMapped = true
        var prepared: XenPreparedDomain? = XenHost.prepareDomain(XenDomainID(d.id), config, now: nowNS)
        return locked { x in x.host.install(&prepared) }
    }

    /// One bounded step of `d`'s XenStore introduction (one hold of the Xen lock); true once
    /// it has finished (or there is none).
    static func introduceStep(_ d: Domain) -> Bool {
        guard let pages = d.xen, let intro = pages.introduction else { return true }
        let done = locked { x in x.store.introduceStep(intro, budget: introduceBudget) }
        if done {
            pages.introduction = nil
            // @introduceDomain and the new nodes fired other domains' watches: served by
            // the next deferred steps (the job's caller arms them), one store call each.
            watchersQueued = true
        }
        return done
    }

    /// XenStore work units per introduction step: a write costs a few units plus one per
    /// watch it fires, and a unit some 30-55 ns at EL2 (XenDomainTeardown.releaseBudget).
    static let introduceBudget = 256

    /// An unbound port in the guest for domain 0, bound at once by the hypervisor's end
    /// (the toolstack's alloc_unbound plus xenconsoled/xenstored binding to it).
    static func serviceChannel(_ x: borrowing XenLocked, for id: XenDomainID) -> (guest: UInt32, service: UInt32)? {
        do throws(XenErrno) {
            let g = try x.host.allocateUnbound(in: id, remote: serviceDomain)
            let s = try x.host.events.bindInterdomain(caller: serviceDomain, remoteDom: id, remotePort: g,
                                                    memory: XenBoard(current: nil))
            return (g, s.port)
        } catch {
            return nil
        }
    }

    /// Forgets the domain's Xen state: its channels close (peers see them unbound), grant
    /// mappings go in both directions, its XenStore home is removed (@releaseDomain fires).
    /// All of it in this call, a bounded step per hold of the lock (`DomainTeardown`); a
    /// domain that stops while others run is torn down by a DomainJob instead, the steps
    /// spread over traps (Tasklets).
    static func tearDown(_ d: Domain) {
        let t = DomainTeardown(d)
        while !t.step() {}
    }

    /// Work units per teardown step (XenTeardownCost: 16 per port closed or mapping removed).
    static let teardownBudget = 128

    /// A domain rebooting, once its Xen state is torn down (`DomainTeardown` finished, so
    /// its XenStore release too: only then may `setUp` introduce it again): a fresh, empty
    /// p2m (every RAM block populated again at its first touch, so zeroed) and its Xen
    /// pages zeroed, its Xen interfaces set up again.
    /// False (the domain must not run again) when no table is left for the new p2m.
    static func reset(_ d: Domain, enhanced: XenEnhanced) -> Bool {
        // The new root first: on failure the domain keeps nothing it could run with.
        guard let p2m = TranslationTable<HeapTableMemory>(regime: .stage2, memory: HeapTableMemory(budget: Domains.p2mTableBudget(d.ram.size), vmid: d.vmid)) else { return false }
        let oldVTTBR = d.vttbr
        var old = d.withP2M { held in held.replace(with: p2m) }
        arch_flush_guest_tlb(oldVTTBR)                 // this domain's VMID only
        // No vCPU of the domain is on a CPU (finishRestart waited) and no TLB holds the
        // old tree any more: its tables can go.
        old.releaseTables()
        d.xen?.zero()
        if !setUp(d, enhanced: enhanced, introduceNow: false) {
            Log.line { Log.put("d"); Log.dec(d.id); Log.put(": Xen interfaces not set up after reboot") }
        }
        return true
    }

    // MARK: p2m

    static func mapPage(_ d: Domain, gfn: UInt64, host: UInt64, permissions: MemoryPermissions) -> Bool {
        d.withP2M { held in held.mapForeign(gfn: gfn, host: host, permissions: permissions) }
    }

    static func unmapPage(_ d: Domain, gfn: UInt64) -> Bool {
        d.withP2M { held in held.unmap(gfn: gfn) }
    }

    // MARK: hypercalls

    /// `hvc #0xEA1`: number in x16, arguments in x0-x4, result in x0.
    static func hypercall(_ frame: UnsafeMutablePointer<apus_frame>, _ v: VCPU, _ d: Domain) {
        let caller = XenCaller(domain: XenDomainID(d.id), vcpu: UInt32(v.index))
        let args = XenArguments(frame.x(0), frame.x(1), frame.x(2), frame.x(3), frame.x(4))
        let t0 = read_cntpct_el0()
        let r = locked { x in
            x.withHost { h in h.hypercall(frame.x(16), args, caller: caller, platform: XenBoard(current: d, since: t0)) }
        }
        if serviceQueued { runServices() }
        if d.spec.control && !PerCPU.this.consoleOut.isEmpty { ControlConsole.flush(d) }
        if let a = r.reissue {
            // Preempted (a long multicall or grant batch), or a multicall that stopped at an
            // entry's action: the guest issues it again for the rest, after that action.
            // Written before the action, which may save this frame (block, poll).
            frame.setX(0, a.x0); frame.setX(1, a.x1); frame.setX(2, a.x2); frame.setX(3, a.x3); frame.setX(4, a.x4)
            frame.pointee.elr &-= 4
        } else {
            frame.setX(0, r.x0)
        }
        switch r.action {
        case .none:
            break
        case .yield:
            let cpu = PerCPU.this
            cpu.needResched = Scheduler.locked { Scheduler.policy.hasCompetition(cpu: cpu.index) }
            cpu.yielded = cpu.needResched
        case .block:
            // SCHEDOP_block enables event delivery (local_event_delivery_enable) and waits.
            frame.pointee.spsr &= ~UInt64(0x80)
            if Scheduler.blockInWFI(v, d, frame: frame, cpu: PerCPU.this) { Scheduler.run() }
        case .poll(let deadline):
            v.polling = true
            let wake = deadline.map { nsToTicks($0) }
            if Scheduler.blockInWFI(v, d, frame: frame, cpu: PerCPU.this, deadline: wake) { Scheduler.run() }
            endPoll(v)
        case .shutdown(let id, let reason):
            guard let target = Hypervisor.domain(Int(id)) else { break }
            switch reason {
            case 0: Domains.shutdown(target, .poweroff)
            case 1, 5: Domains.shutdown(target, .reboot)          // reboot, soft reset
            case 2:
                // Suspend: there is no toolstack to save and resume it; it stays stopped.
                Domains.destroy(target, reason: "suspended (no toolstack to resume it), stopped")
            default: Domains.shutdown(target, .crash)             // crash, watchdog
            }
        case .destroy(let id):
            // XEN_DOMCTL_destroydomain (xl destroy): whatever its on_* settings say.
            guard let target = Hypervisor.domain(Int(id)), !target.spec.control else { break }
            Domains.destroy(target, reason: "destroyed by the toolstack")
        }
    }

    /// The vCPU left SCHEDOP_poll (an event, an interrupt or the timeout).
    static func endPoll(_ v: VCPU) {
        guard v.polling else { return }
        v.polling = false
        locked { x in x.host.endPoll(domain: XenDomainID(v.domainID), vcpu: UInt32(v.index)) }
    }

    // MARK: runstate

    /// Scheduler transitions of a vCPU, for VCPUOP_get_runstate_info and the runstate area.
    static func runstate(_ v: VCPU, _ state: XenRunstate) {
        guard ready else { return }
        let t = nowNS
        locked { x in x.host.setRunstate(domain: XenDomainID(v.domainID), vcpu: UInt32(v.index), state, at: t) }
    }

    /// update_runstate_area(): `v` was just loaded on this CPU (its stage 1 is live).
    static func switchedIn(_ v: VCPU, _ d: Domain) {
        guard ready, d.xen != nil else { return }
        let t = nowNS
        locked { x in
            x.host.setRunstate(domain: XenDomainID(d.id), vcpu: UInt32(v.index), .running, at: t)
            x.host.updateRunstateArea(domain: XenDomainID(d.id), vcpu: UInt32(v.index), memory: XenBoard(current: d))
        }
    }

    // MARK: services

    static func queueService(port: UInt32) {
        if !pendingService.contains(port) { pendingService.append(port) }
        serviceQueued = true
    }

    /// Serves the rings whose event channels fired, then XenStore watch events for anyone:
    /// every console ring (cheap: one ring's bytes under the console lock), but at most one
    /// budgeted XenStore `service` call in all. A trap runs at EL2 with interrupts masked,
    /// and each store call can take up to ~40 us of a big request; two or three of them in
    /// one trap (the store port of a domain, then each watcher's ring) made the longest
    /// stretch at EL2 81 us (issue 10's goal is 50). What is left stays queued and
    /// continues through Tasklets, one call per step.
    static func runServices() {
        guard ready, serviceQueued || watchersQueued else { return }
        var storeCallLeft = true
        let ports: [UInt32] = locked { _ in
            let p = pendingService
            pendingService = []
            serviceQueued = false
            return p
        }
        var requeue: [UInt32] = []
        for port in ports {
            for d in Hypervisor.domains {
                guard let x = d.xen else { continue }
                if x.consoleService == port && x.console != nil { PVConsole.serviceOutput(d, x) }
                if x.storeService == port && x.store != nil {
                    if storeCallLeft {
                        storeCallLeft = false
                        serviceStore(d, x)
                        watchersQueued = true            // a write may have fired other domains' watches
                    } else {
                        requeue.append(port)
                    }
                }
            }
        }
        if storeCallLeft && watchersQueued { storeCallLeft = !serviceOneWatcher() }
        if !requeue.isEmpty { locked { _ in for p in requeue { queueService(port: p) } } }
        if serviceQueued || watchersQueued {
            // Not an immediate self-kick (an SGI): that is taken before the guest here runs a
            // single instruction, so a peer that keeps its ring full would starve it.
            Tasklets.soon(PerCPU.this)
        }
    }

    /// Watch events (or replies) queued for domains by another domain's request wait:
    /// set without the lock by the CPU that served the request, read by any.
    nonisolated(unsafe) static var watchersQueued = false

    /// One budgeted `service` call on `d`'s XenStore ring, under the Xen lock. Requests or
    /// backlog left for another call queue its port again (the caller arms Tasklets).
    static func serviceStore(_ d: Domain, _ x: XenDomainPages) {
        guard let s = x.store else { return }
        let id = XenDomainID(d.id)
        locked { held in
            var page = RingPage(base: s)
            let r = held.store.service(domid: id, page: &page)
            if r.notify { held.host.notify(domain: id, port: x.storePort, platform: XenBoard(current: nil)) }
            if r.moreWork { queueService(port: x.storeService) }
        }
    }

    /// Deferred work's turn on this CPU (Tasklets.runOne): serve what an earlier trap left
    /// queued. True when it did a store call (the step's budget is used).
    @discardableResult
    static func continueServices() -> Bool {
        guard serviceQueued || watchersQueued else { return false }
        runServices()
        return true
    }

    /// Serves the ring of one domain that has watch events (or replies) waiting; true when
    /// it made a store call. Clears `watchersQueued` once nobody waits.
    static func serviceOneWatcher() -> Bool {
        watchersQueued = false
        guard ready else { return false }
        let waiting: [UInt16] = locked { x in x.store.domainsWithPendingEvents() }
        for (i, id) in waiting.enumerated() {
            guard let d = Hypervisor.domain(Int(id)), let x = d.xen, x.store != nil else { continue }
            serviceStore(d, x)
            if i + 1 < waiting.count { watchersQueued = true }
            return true
        }
        return false
    }
}

/// Proof that Xen.lock is held, lent by `Xen.locked` for the length of its body: the
/// XenHost and the XenStore are reachable only through it.
struct XenLocked: ~Copyable {
    fileprivate init() {}
    var host: XenHost { _read { yield Xen.hostState } }
    /// `host` for the hot paths: no retain and release around the call.
    @inline(__always)
    func withHost<R>(_ body: (XenHost) -> R) -> R { Xen.hostRef.unsafelyUnwrapped._withUnsafeGuaranteedRef(body) }
    var store: XenStore { _read { yield Xen.storeState } }
}

/// A ring page in hypervisor-owned memory shared with a guest: 32-bit indices with
/// single-copy-atomic accesses, bytes, and a full barrier (xen_mb()).
struct RingPage: XenStoreRingPage {
    let base: UInt64
    func loadIndex(at offset: Int) -> UInt32 { mmio_read32(base + UInt64(offset & 0xFFC)) }
    mutating func storeIndex(_ value: UInt32, at offset: Int) { mmio_write32(base + UInt64(offset & 0xFFC), value) }
    func loadByte(at offset: Int) -> UInt8 { mmio_read8(base + UInt64(offset & 0xFFF)) }
    mutating func storeByte(_ value: UInt8, at offset: Int) { mmio_write8(base + UInt64(offset & 0xFFF), value) }
    func barrier() { arch_dsb_ish() }
}
#endif
