/// hvm_op (hypercall 34) as on Arm (xen/arch/arm/hvm.c): HVMOP_get_param / set_param with
/// Xen 4.17's allow lists. A domain may read its CALLBACK_IRQ, STORE_PFN/EVTCHN and
/// CONSOLE_PFN/EVTCHN and set none of them (-EPERM); the control domain may read and set
/// them (and MONITOR_RING_PFN) for other domains; any other index is -EINVAL.
extension XenHost {
    static func hvmParamGuestReadable(_ index: UInt32) -> Bool {
        switch index {
        case HVMParam.callbackIRQ, HVMParam.storePFN, HVMParam.storeEvtchn,
             HVMParam.consolePFN, HVMParam.consoleEvtchn:
            return true
        default:
            return false
        }
    }

    @inline(never)   // out of `dispatch`, which then stays small (XenHost.dispatch)
    func hvmOp<P: XenPlatform>(op: UInt64, arg: UInt64, caller: XenCaller, platform: P) -> Int64 {
        switch op {
        case HVMOp.setParam, HVMOp.getParam:
            typealias L = XenLayout.HVMParamStruct
            guard var b = platform.readStruct(arg, size: L.size) else { return XenErrno.EFAULT.result }
            guard let d = resolve(XenBytes.u16(b, L.domid), caller: caller.domain) else { return XenErrno.ESRCH.result }
            // xsm_hvm_param(XSM_TARGET)
            guard policy.mayActOn(caller: caller.domain, target: d) else { return XenErrno.EPERM.result }
            let index = XenBytes.u32(b, L.index)
            let own = d == caller.domain
            if op == HVMOp.setParam {
                guard XenHost.hvmParamGuestReadable(index) || index == HVMParam.monitorRingPFN else {
                    return XenErrno.EINVAL.result
                }
                if own { return XenErrno.EPERM.result }
                setHVMParam(domain: d, index: index, value: XenBytes.u64(b, L.value))
                return 0
            }
            if index == HVMParam.monitorRingPFN {
                if own { return XenErrno.EPERM.result }
            } else if !XenHost.hvmParamGuestReadable(index) {
                return XenErrno.EINVAL.result
            }
            XenBytes.put64(&b, L.value, domain(d)?.hvmParams[Int(index)] ?? 0)
            return platform.write(arg, b) ? 0 : XenErrno.EFAULT.result

        case HVMOp.guestRequestVMEvent:
            return arg == 0 ? 0 : XenErrno.EINVAL.result

        default:
            return XenErrno.ENOSYS.result
        }
    }
}
