/// multicall (hypercall 13): runs an array of `struct multicall_entry` (64 bytes: op,
/// result, args[6]) and stores each sub-call's return value in its `result`
/// (xen/common/multicall.c, arch_do_multicall_call on Arm: ops beyond the table get
/// -ENOSYS, nested multicalls -EINVAL). Xen has no count limit but preempts; here at most
/// `multicallBatch` entries run per trap and the multicall is then restarted with the rest.
/// A sub-call that restarts itself (a long grant batch) has its new arguments written back
/// into its entry, and the multicall restarts at that entry.
extension XenHost {
    func multicall<P: XenPlatform>(_ a: XenArguments, caller: XenCaller, platform: P) -> XenHypercallResult {
        typealias L = XenLayout.MulticallEntry
        let list = a.x0
        let count = UInt32(truncatingIfNeeded: a.x1)
        let batch = max(1, multicallBatch)
        var action = XenAction.none
        var i: UInt32 = 0

        func restart(at index: UInt32) -> XenHypercallResult {
            XenHypercallResult(0, .restart(XenArguments(list &+ UInt64(index) &* UInt64(L.size),
                                                        UInt64(count - index), a.x2, a.x3, a.x4)))
        }

        while i < count {
            if i > 0 && i % batch == 0 { return restart(at: i) }
            let entry = list &+ UInt64(i) &* UInt64(L.size)
            guard let b = platform.readStruct(entry, size: L.size) else {
                return XenHypercallResult(XenErrno.EFAULT.result, action)
            }
            let op = XenBytes.u64(b, L.op)
            func arg(_ n: Int) -> UInt64 { XenBytes.u64(b, L.args + 8 * n) }
            let sub: XenHypercallResult
            if op >= XenHypercallNumber.count {
                sub = XenHypercallResult(XenErrno.ENOSYS.result)
            } else {
                sub = dispatch(op, XenArguments(arg(0), arg(1), arg(2), arg(3), arg(4)),
                               caller: caller, platform: platform, inMulticall: true)
            }
            if case .restart(let next) = sub.action {
                var e = b
                for (n, v) in [next.x0, next.x1, next.x2, next.x3, next.x4].enumerated() {
                    XenBytes.put64(&e, L.args + 8 * n, v)
                }
                guard platform.write(entry, e) else { return XenHypercallResult(XenErrno.EFAULT.result, action) }
                return restart(at: i)
            }
            guard platform.writeU64(entry &+ UInt64(L.result), sub.x0) else {
                return XenHypercallResult(XenErrno.EFAULT.result, action)
            }
            if sub.action.weight > action.weight { action = sub.action }
            i += 1
        }
        return XenHypercallResult(0, action)
    }
}
