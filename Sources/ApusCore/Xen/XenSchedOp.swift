/// sched_op (hypercall 29) and vm_assist (hypercall 21)
/// (xen/common/sched/core.c do_sched_op / do_poll, xen/common/domain.c domain_shutdown /
/// do_vm_assist).
extension XenHost {
    @inline(never)   // out of `dispatch`, which then stays small (XenHost.dispatch)
    func schedOp<P: XenPlatform>(cmd: UInt32, arg: UInt64, caller: XenCaller, platform: P) -> XenHypercallResult {
        func r(_ v: Int64, _ a: XenAction = .none) -> XenHypercallResult { XenHypercallResult(v, a) }
        let efault = r(XenErrno.EFAULT.result)
        let me = caller.domain
        switch cmd {
        case SchedOp.yield:
            return r(0, .yield)

        case SchedOp.block:
            return r(0, .block)

        case SchedOp.shutdown:
            guard let reason = platform.readU32(arg) else { return efault }
            return r(0, shutdown(me, reason: UInt8(truncatingIfNeeded: reason)))

        case SchedOp.shutdownCode:
            guard let reason = platform.readU32(arg) else { return efault }
            withDomain(me) { d in
                if d.shutdownCode == nil { d.shutdownCode = UInt8(truncatingIfNeeded: reason) }
            }
            return r(0)

        case SchedOp.poll:
            typealias L = XenLayout.SchedPoll
            // Field by field (no buffer): poll is on the event hot path.
            guard arg <= UInt64.max - UInt64(L.size),
                  let ports = platform.readU64(arg &+ UInt64(L.ports)),
                  let n = platform.readU32(arg &+ UInt64(L.nrPorts)),
                  let timeout = platform.readU64(arg &+ UInt64(L.timeout)) else { return efault }
            if n > SchedOp.maxPollPorts { return r(XenErrno.EINVAL.result) }
            var last: UInt32 = 0
            var i: UInt32 = 0
            while i < n {
                guard let port = platform.readU32(ports &+ UInt64(i) &* 4) else { return efault }
                do {
                    // Already pending: return at once without blocking.
                    if try events.pollPort(domain: me, port: port, memory: platform) { return r(0) }
                } catch { return r(error.result) }
                last = port
                i += 1
            }
            events.setPoll(domain: me, vcpu: caller.vcpu, n == 1 ? .port(last) : .any)
            return r(0, .poll(deadline: timeout == 0 ? nil : timeout))

        case SchedOp.remoteShutdown:
            typealias L = XenLayout.SchedRemoteShutdown
            guard let b = platform.readStruct(arg, size: L.size) else { return efault }
            let target = XenBytes.u16(b, L.domainID)
            guard isLive(target) else { return r(XenErrno.ESRCH.result) }
            // xsm_schedop_shutdown(XSM_DM_PRIV)
            guard policy.mayRemoteShutdown(caller: me, target: target) else { return r(XenErrno.EPERM.result) }
            return r(0, shutdown(target, reason: UInt8(truncatingIfNeeded: XenBytes.u32(b, L.reason))))

        case SchedOp.watchdog:
            // Domain watchdogs need hypervisor timers; not offered.
            guard platform.readStruct(arg, size: 8) != nil else { return efault }
            return r(XenErrno.ENOSYS.result)

        case SchedOp.pinOverride:
            return r(policy.mayPinOverride(caller: me) ? XenErrno.ENOSYS.result : XenErrno.EPERM.result)

        default:
            return r(XenErrno.ENOSYS.result)
        }
    }

    /// domain_shutdown(): the first reason (or an earlier SCHEDOP_shutdown_code) sticks; only
    /// the first call shuts the domain down.
    func shutdown(_ id: XenDomainID, reason: UInt8) -> XenAction {
        withDomain(id) { d -> XenAction in
            if d.shutdownCode == nil { d.shutdownCode = reason }
            guard !d.shuttingDown else { return .none }
            d.shuttingDown = true
            return .shutdown(domain: id, reason: d.shutdownCode ?? reason)
        } ?? .none
    }

    /// The domain shut down by another way than SCHEDOP_shutdown (PSCI SYSTEM_OFF or
    /// SYSTEM_RESET, a crash): getdomaininfo reports it as Xen's domain_shutdown() leaves it.
    public func recordShutdown(_ id: XenDomainID, code: UInt8) {
        _ = shutdown(id, reason: code)
    }

    /// The hypervisor restarted or rebuilt the domain: clear its shutdown state.
    public func clearShutdown(_ id: XenDomainID) {
        withDomain(id) { d in
            d.shutdownCode = nil
            d.shuttingDown = false
        }
    }

    @inline(never)   // out of `dispatch`, which then stays small (XenHost.dispatch)
    func vmAssist(cmd: UInt32, type: UInt32, caller: XenCaller) -> Int64 {
        guard type < 64, VMAssist.validMaskArm & (1 << UInt64(type)) != 0 else { return XenErrno.EINVAL.result }
        let bit = UInt64(1) << UInt64(type)
        switch cmd {
        case VMAssist.enable:
            withDomain(caller.domain) { $0.vmAssist |= bit }
            return 0
        case VMAssist.disable:
            withDomain(caller.domain) { $0.vmAssist &= ~bit }
            return 0
        default:
            return XenErrno.ENOSYS.result
        }
    }
}
