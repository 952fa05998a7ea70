/// The Xen guest ABI of a whole machine: every domain's Xen-visible state, and the
/// hypercall entry point the trap handler calls for `hvc #0xEA1`.
///
///     let r = host.hypercall(x16, XenArguments(x0, x1, x2, x3, x4),
///                            caller: XenCaller(domain: d, vcpu: v), platform: p)
///     if let a = r.reissue { x0...x4 = a; elr -= 4 } else { x0 = r.x0 }; act on r.action
///
/// Not thread-safe: the hypervisor serialises calls (one lock around the host is enough;
/// the guest-shared words are updated with the platform's atomics).
public final class XenHost {
    public var version = XenVersionInfo()
    public var events: EventChannelSwitch
    public var grants: GrantTableSwitch
    public internal(set) var domains: [XenDomainState?]
    /// vCPUs of each existing domain (0: none), so the hypercall path checks its caller
    /// without touching (and retaining) the domain's state.
    var vcpuCounts: [UInt32]
    /// Who may do what (roles given at `install`, taken at `beginDestroy`); shared with
    /// `events` and `grants`.
    public let policy: XenPolicy
    /// Some vCPU of the domain registered a runstate area (asked at every vCPU switch).
    var hasRunstateArea: [Bool]
    /// Where the teardown of each dying domain stands (nil: alive or no domain).
    var teardowns: [XenTeardown?]
    /// Cost of the last `destroyStep`, in `XenTeardownCost` units (tests, statistics).
    public internal(set) var lastDestroyStepUnits = 0
    /// The id createdomain gave last (Xen's domid rover).
    var lastCreatedID = 0
    /// Foreign mappings (add_to_physmap_batch gmfn_foreign, acquire_resource) by mapper
    /// and mapper frame, so that remove_from_physmap finds what it undoes.
    var foreignMaps = XenForeignTable()
    /// Multicall entries handled per trap before the multicall is restarted.
    public var multicallBatch: UInt32 = 32
    /// Grant map/unmap/copy entries handled per trap before the call is restarted.
    public var grantBatch: UInt32 = 64

    public init(maxDomains: Int = 64) {
        let n = max(1, min(maxDomains, Int(XenDomID.firstReserved)))
        policy = XenPolicy(maxDomains: n)
        events = EventChannelSwitch(maxDomains: n, policy: policy)
        grants = GrantTableSwitch(maxDomains: n, policy: policy)
        domains = [XenDomainState?](repeating: nil, count: n)
        vcpuCounts = [UInt32](repeating: 0, count: n)
        hasRunstateArea = [Bool](repeating: false, count: n)
        teardowns = [XenTeardown?](repeating: nil, count: n)
    }

    /// The policy's rule for event channels and grants: may `a` and `b` talk?
    public func setPolicy(_ allow: @escaping (XenDomainID, XenDomainID) -> Bool) {
        policy.communication = allow
    }

    public func domain(_ id: XenDomainID) -> XenDomainState? {
        Int(id) < domains.count ? domains[Int(id)] : nil
    }

    /// `rcu_lock_domain_by_any_id()`; a dying domain is not found (-ESRCH): nothing new
    /// may be done to it.
    func resolve(_ dom: XenDomainID, caller: XenDomainID) -> XenDomainID? {
        let d = dom == XenDomID.selfID ? caller : dom
        return isLive(d) ? d : nil
    }

    /// Domain `id` exists and is not being torn down.
    public func isLive(_ id: XenDomainID) -> Bool {
        Int(id) < domains.count && domains[Int(id)] != nil && teardowns[Int(id)] == nil
    }

    /// Domain `id` is being torn down (between `beginDestroy` and the last `destroyStep`).
    public func isDying(_ id: XenDomainID) -> Bool {
        Int(id) < teardowns.count && teardowns[Int(id)] != nil
    }

    func withDomain<R>(_ id: XenDomainID, _ body: (inout XenDomainState) -> R) -> R? {
        let i = Int(id)
        guard i < domains.count, domains[i] != nil else { return nil }
        return body(&domains[i]!)       // in place: no copy of the state out and back
    }

    /// Creates domain `id` (all its vCPUs start offline at `now`); false if it exists (or is
    /// still dying) or is out of range. `prepareDomain` + `install`.
    @discardableResult
    public func createDomain(_ id: XenDomainID, _ config: XenDomainConfig, now: UInt64 = 0) -> Bool {
        var prepared: XenPreparedDomain? = XenHost.prepareDomain(id, config, now: now)
        return install(&prepared)
    }

    /// Destroys `id` at once: `beginDestroy` and `destroyStep` until done. Closes its event
    /// channels (peers become unbound), tears down grant mappings in both directions
    /// (unmapping them through the platform) and forgets it. For tests and callers that
    /// may hold the lock that long; the hypervisor uses the steps.
    public func destroyDomain<P: XenPlatform>(_ id: XenDomainID, platform: P) {
        guard domain(id) != nil else { return }
        beginDestroy(id)
        while !destroyStep(id, platform: platform, budget: Int.max) {}
    }

    // MARK: hypercalls

    /// Handles hypercall `number` (x16) with arguments x0-x4 from `caller`.
    public func hypercall<P: XenPlatform>(_ number: UInt64, _ args: XenArguments, caller: XenCaller,
                                          platform: P) -> XenHypercallResult {
        dispatch(number, args, caller: caller, platform: platform, inMulticall: false)
    }

    func dispatch<P: XenPlatform>(_ number: UInt64, _ a: XenArguments, caller: XenCaller, platform: P,
                                  inMulticall: Bool) -> XenHypercallResult {
        // Hot path: no copy of the domain's state (its arrays would be retained and released
        // on every hypercall), only its vCPU count. Each hypercall's handler is kept out of
        // line (@inline(never)), so this switch saves no registers it does not use and each
        // handler writes its result in place: the null hypercall costs a few instructions.
        let slot = Int(caller.domain)
        // A dying domain has no vCPUs any more (beginDestroy): -ESRCH.
        guard slot < vcpuCounts.count, caller.vcpu < vcpuCounts[slot] else {
            return XenHypercallResult(XenErrno.ESRCH.result)
        }
        func int(_ x: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: x) }
        switch number {
        case XenHypercallNumber.memoryOp:
            return memoryOp(cmd: a.x0, arg: a.x1, caller: caller, platform: platform)
        case XenHypercallNumber.multicall:
            if inMulticall { return XenHypercallResult(XenErrno.EINVAL.result) }
            return multicall(a, caller: caller, platform: platform)
        case XenHypercallNumber.xenVersion:
            // XENVER_version is the customary null hypercall: answer it without copying anything.
            if int(a.x0) == XenVersionOp.version {
                return XenHypercallResult(Int64(version.major) << 16 | Int64(version.minor & 0xFFFF))
            }
            return XenHypercallResult(xenVersion(cmd: int(a.x0), arg: a.x1, caller: caller, platform: platform))
        case XenHypercallNumber.consoleIO:
            return XenHypercallResult(consoleIO(a, caller: caller, platform: platform))
        case XenHypercallNumber.grantTableOp:
            return grantTableOp(a, caller: caller, platform: platform)
        case XenHypercallNumber.vmAssist:
            return XenHypercallResult(vmAssist(cmd: int(a.x0), type: int(a.x1), caller: caller))
        case XenHypercallNumber.vcpuOp:
            return XenHypercallResult(vcpuOp(cmd: int(a.x0), vcpu: int(a.x1), arg: a.x2, caller: caller,
                                             platform: platform))
        case XenHypercallNumber.schedOp:
            return schedOp(cmd: int(a.x0), arg: a.x1, caller: caller, platform: platform)
        case XenHypercallNumber.eventChannelOp:
            let cmd = int(a.x0)
            if cmd == EventChannelOp.reset || cmd == EventChannelOp.resetCont {
                // The one event-channel op that may need a continuation.
                return eventChannelReset(cmd: cmd, arg: a.x1, caller: caller, platform: platform, original: a)
            }
            return XenHypercallResult(eventChannelOp(cmd: cmd, arg: a.x1, caller: caller, platform: platform))
        case XenHypercallNumber.hvmOp:
            return XenHypercallResult(hvmOp(op: a.x0, arg: a.x1, caller: caller, platform: platform))
        case XenHypercallNumber.sysctl:
            return XenHypercallResult(sysctl(arg: a.x0, caller: caller, platform: platform))
        case XenHypercallNumber.domctl:
            return domctl(arg: a.x0, caller: caller, platform: platform)
        default:
            // physdev_op (-ENOSYS on Arm), the deprecated compat calls, and what Apus does
            // not offer (platform_op, dm_op, argo, hypfs, xsm: FLASK is not built in, and
            // libxl carries on without labels).
            return XenHypercallResult(XenErrno.ENOSYS.result)
        }
    }

    @inline(never)   // out of `dispatch` (see there)
    func xenVersion<P: XenPlatform>(cmd: UInt32, arg: UInt64, caller: XenCaller, platform: P) -> Int64 {
        guard let me = domain(caller.domain) else { return XenErrno.ESRCH.result }
        return XenVersion.handle(cmd: cmd, arg: arg, info: version, caller: me.versionCaller, policy: policy,
                                 memory: platform)
    }

    @inline(never)   // out of `dispatch` (see there)
    func consoleIO<P: XenPlatform>(_ a: XenArguments, caller: XenCaller, platform: P) -> Int64 {
        platform.consoleIO(caller: caller, cmd: a.x0, count: a.x1, buffer: a.x2)
    }

    // MARK: Xen pages in a guest's p2m

    /// A new mapping at `gfn` of `domain` replaced whatever Xen page was there (as Xen's p2m
    /// resets a xenheap page's gfn when its mapping is overwritten).
    func forgetXenPage(domain: XenDomainID, gfn: UInt64) {
        if events.table(domain)?.sharedInfoGFN == gfn { events.setSharedInfo(domain: domain, gfn: nil) }
        if let i = grants.table(domain)?.frameIndex(at: gfn) { grants.setFrameGFN(domain: domain, index: i, gfn: nil) }
    }

    // MARK: services for the hypervisor

    /// Raises `virq` for `domain` (global VIRQs go to the vCPU the port is bound to).
    public func raiseVIRQ<P: XenPlatform>(domain: XenDomainID, vcpu: UInt32, virq: UInt32, platform: P) {
        if let d = events.raiseVIRQ(domain: domain, vcpu: vcpu, virq: virq, memory: platform), !d.isEmpty {
            platform.deliver(d)
        }
    }

    /// VIRQ_DOM_EXC to the control domain (xenstored binds it): a domain shut down, or was
    /// destroyed (send_global_virq: to the hardware domain, on the vCPU its port is on).
    public func raiseDomainException<P: XenPlatform>(platform: P) {
        guard let d = policy.globalVIRQDomain else { return }
        raiseVIRQ(domain: d, vcpu: 0, virq: XenVIRQ.domExc, platform: platform)
    }

    /// Made by the toolstack: its shutdown waits for the toolstack's decision.
    public func isBuiltByToolstack(_ id: XenDomainID) -> Bool { domain(id)?.config.builtByToolstack ?? false }

    /// Makes `port` of `domain` pending as if its peer had sent (hypervisor-side backends).
    public func notify<P: XenPlatform>(domain: XenDomainID, port: UInt32, platform: P) {
        if let d = events.raise(domain: domain, port: port, memory: platform), !d.isEmpty {
            platform.deliver(d)
        }
    }

    /// `vcpu_update_evtchn_irq()`: is evtchn_upcall_pending set in the vCPU's vcpu_info?
    /// `deliver` already reports every 0 -> 1 transition; a vGIC that treats PPI 31 as a
    /// level can resample it with this on guest exit, as Xen's new vGIC does.
    public func upcallPending<M: GuestPhysicalMemory>(domain: XenDomainID, vcpu: UInt32, memory: M) -> Bool {
        guard let info = events.table(domain)?.vcpuInfoAddress(vcpu),
              let w = memory.load64(domain: domain, info) else { return false }
        return w & 0xFF != 0
    }

    /// The vCPU left SCHEDOP_poll for another reason (interrupt, deadline).
    public func endPoll(domain: XenDomainID, vcpu: UInt32) {
        events.setPoll(domain: domain, vcpu: vcpu, .none)
    }

    /// Sets an HVM param as the toolstack does (e.g. console/xenstore PFN and event channel).
    @discardableResult
    public func setHVMParam(domain: XenDomainID, index: UInt32, value: UInt64) -> Bool {
        guard index < HVMParam.count else { return false }
        return withDomain(domain) { $0.hvmParams[Int(index)] = value } != nil
    }

    /// A new unbound port in `domain` for `remote`, without permission checks (toolstack).
    public func allocateUnbound(in domain: XenDomainID, remote: XenDomainID) throws(XenErrno) -> UInt32 {
        try events.allocateUnbound(in: domain, remote: remote)
    }

    // MARK: runstate

    /// Records a run state change of a vCPU (running when put on a CPU, runnable when
    /// preempted, blocked when waiting, offline when down).
    public func setRunstate(domain: XenDomainID, vcpu: UInt32, _ state: XenRunstate, at now: UInt64) {
        withDomain(domain) { d in
            guard d.hasVCPU(vcpu) else { return }
            d.runstate[Int(vcpu)].change(to: state, at: now)
        }
    }

    public func runstate(domain: XenDomainID, vcpu: UInt32, at now: UInt64) -> XenVCPURunstate? {
        guard let d = self.domain(domain), d.hasVCPU(vcpu) else { return nil }
        return d.runstate[Int(vcpu)].snapshot(at: now)
    }

    /// update_runstate_area(): call right after `vcpu` is switched in, with `memory`
    /// translating that vCPU's virtual addresses. Does nothing without a registered area.
    public func updateRunstateArea<M: GuestMemory>(domain: XenDomainID, vcpu: UInt32, memory: M) {
        guard Int(domain) < hasRunstateArea.count, hasRunstateArea[Int(domain)],
              let d = self.domain(domain), d.hasVCPU(vcpu), let area = d.runstateArea[Int(vcpu)] else { return }
        d.runstate[Int(vcpu)].writeArea(at: area, updateFlag: d.runstateUpdateFlag, memory: memory)
    }
}
