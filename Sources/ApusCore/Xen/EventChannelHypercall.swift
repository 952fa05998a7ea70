/// event_channel_op (hypercall 32): argument decoding of do_event_channel_op().
/// Structures are read whole from the guest (-EFAULT if unreadable), changed, and written
/// back whole, as Xen's copy_from_guest / __copy_to_guest do.
extension XenHost {
    @inline(never)   // out of `dispatch`, which then stays small (XenHost.dispatch)
    func eventChannelOp<P: XenPlatform>(cmd: UInt32, arg: UInt64, caller: XenCaller, platform: P) -> Int64 {
        let me = caller.domain
        let efault = XenErrno.EFAULT.result
        func deliver(_ d: EventDelivery?) {
            if let d, !d.isEmpty { platform.deliver(d) }
        }
        func read(_ size: Int) -> [UInt8]? { platform.readStruct(arg, size: size) }
        func put(_ b: [UInt8]) -> Int64 { platform.write(arg, b) ? 0 : efault }

        switch cmd {
        case EventChannelOp.allocUnbound:
            typealias L = XenLayout.EvtchnAllocUnbound
            guard var b = read(L.size) else { return efault }
            do {
                let port = try events.allocUnbound(caller: me, dom: XenBytes.u16(b, L.dom),
                                                   remote: XenBytes.u16(b, L.remoteDom))
                XenBytes.put32(&b, L.port, port)
                return put(b)
            } catch { return error.result }

        case EventChannelOp.bindInterdomain:
            typealias L = XenLayout.EvtchnBindInterdomain
            guard var b = read(L.size) else { return efault }
            do {
                let r = try events.bindInterdomain(caller: me, remoteDom: XenBytes.u16(b, L.remoteDom),
                                                   remotePort: XenBytes.u32(b, L.remotePort), memory: platform)
                deliver(r.delivery)
                XenBytes.put32(&b, L.localPort, r.port)
                return put(b)
            } catch { return error.result }

        case EventChannelOp.bindVIRQ:
            typealias L = XenLayout.EvtchnBindVIRQ
            guard var b = read(L.size) else { return efault }
            do {
                let port = try events.bindVIRQ(caller: me, virq: XenBytes.u32(b, L.virq), vcpu: XenBytes.u32(b, L.vcpu))
                XenBytes.put32(&b, L.port, port)
                return put(b)
            } catch { return error.result }

        case EventChannelOp.bindIPI:
            typealias L = XenLayout.EvtchnBindIPI
            guard var b = read(L.size) else { return efault }
            do {
                let port = try events.bindIPI(caller: me, vcpu: XenBytes.u32(b, L.vcpu))
                XenBytes.put32(&b, L.port, port)
                return put(b)
            } catch { return error.result }

        case EventChannelOp.bindPIRQ:
            // No physical IRQs are routed to guests here (nr_pirqs = 0).
            guard read(12) != nil else { return efault }
            return XenErrno.EINVAL.result

        case EventChannelOp.close:
            guard let port = platform.readU32(arg) else { return efault }
            do {
                try events.closePort(domain: me, port: port, memory: platform)
                return 0
            } catch { return error.result }

        case EventChannelOp.send:
            guard let port = platform.readU32(arg) else { return efault }
            do {
                deliver(try events.send(caller: me, port: port, memory: platform))
                return 0
            } catch { return error.result }

        case EventChannelOp.status:
            typealias L = XenLayout.EvtchnStatus
            guard var b = read(L.size) else { return efault }
            do {
                let s = try events.status(caller: me, dom: XenBytes.u16(b, L.dom), port: XenBytes.u32(b, L.port))
                XenBytes.put32(&b, L.status, s.status)
                XenBytes.put32(&b, L.vcpu, s.vcpu)
                if let virq = s.virq { XenBytes.put32(&b, L.unionVIRQ, virq) }
                if let dom = s.dom { XenBytes.put16(&b, L.unionDom, dom) }
                if let port = s.port { XenBytes.put32(&b, L.unionPort, port) }
                return put(b)
            } catch { return error.result }

        case EventChannelOp.bindVCPU:
            typealias L = XenLayout.EvtchnBindVCPU
            guard let b = read(L.size) else { return efault }
            do {
                try events.bindVCPU(caller: me, port: XenBytes.u32(b, L.port), vcpu: XenBytes.u32(b, L.vcpu))
                return 0
            } catch { return error.result }

        case EventChannelOp.unmask:
            guard let port = platform.readU32(arg) else { return efault }
            do {
                deliver(try events.unmask(caller: me, port: port, memory: platform))
                return 0
            } catch { return error.result }

        case EventChannelOp.reset, EventChannelOp.resetCont:
            // `dispatch` sends these to eventChannelReset first: they may need a continuation.
            return eventChannelReset(cmd: cmd, arg: arg, caller: caller, platform: platform).result

        case EventChannelOp.initControl:
            // No FIFO ABI: Linux falls back to the 2-level ABI on any error.
            guard read(XenLayout.EvtchnInitControl.size) != nil else { return efault }
            return XenErrno.ENOSYS.result

        case EventChannelOp.expandArray:
            guard read(8) != nil else { return efault }
            return XenErrno.EOPNOTSUPP.result      // evtchn_fifo_expand_array without FIFO

        case EventChannelOp.setPriority:
            typealias L = XenLayout.EvtchnSetPriority
            guard let b = read(L.size) else { return efault }
            guard events.table(me)?.channel(XenBytes.u32(b, L.port)) != nil else { return XenErrno.EINVAL.result }
            return XenErrno.ENOSYS.result          // the 2-level ABI has no priorities

        default:
            return XenErrno.ENOSYS.result
        }
    }

    /// EVTCHNOP_reset and EVTCHNOP_reset_cont: preemptible, continued as Xen's
    /// hypercall_create_continuation(__HYPERVISOR_event_channel_op, "ih", EVTCHNOP_reset_cont, arg).
    @inline(never)   // out of `dispatch`, which then stays small (XenHost.dispatch)
    func eventChannelReset<P: XenPlatform>(cmd: UInt32, arg: UInt64, caller: XenCaller, platform: P,
                                           original: XenArguments? = nil) -> XenHypercallResult {
        guard let b = platform.readStruct(arg, size: XenLayout.EvtchnReset.size) else {
            return XenHypercallResult(XenErrno.EFAULT.result)
        }
        do {
            let more = try events.reset(caller: caller.domain, dom: XenBytes.u16(b, XenLayout.EvtchnReset.dom),
                                        resuming: cmd == EventChannelOp.resetCont, memory: platform,
                                        preempt: { platform.hypercallPreemptCheck() })
            guard more else { return XenHypercallResult(0) }
            let a = original ?? XenArguments(UInt64(cmd), arg)
            return XenHypercallResult.restart(XenArguments(UInt64(EventChannelOp.resetCont), arg, a.x2, a.x3, a.x4))
        } catch { return XenHypercallResult(error.result) }
    }
}
