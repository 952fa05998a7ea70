/// multicall (hypercall 13): runs an array of `struct multicall_entry` (64 bytes: op,
/// result, args[6]) and stores each sub-call's return value in its `result`
/// (xen/common/multicall.c, arch_do_multicall_call on Arm: ops beyond the table get
/// -ENOSYS, nested multicalls -EINVAL).
///
/// Xen has no count limit but asks hypercall_preempt_check() before every entry but the
/// first of a trap; so does this one (`XenPlatform.hypercallPreemptCheck`), and at most
/// `multicallBatch` entries run per trap. Stopping creates Xen's continuation
/// ("hi": x0 = the next entry, x1 = the entries left; x2-x4 as they were).
///
/// A sub-call that restarts itself (a long grant batch) has its new arguments written back
/// into its entry, and the multicall restarts at that entry.
///
/// An entry that yields, blocks, polls or shuts down ends the batch after its result is
/// stored: in Xen the action raises SCHEDULE_SOFTIRQ, so the next entry's preempt check
/// stops the multicall with a continuation, and the vCPU resumes it when it runs again.
/// Here the action comes back with that continuation (`XenHypercallResult.continuation`),
/// so no action is lost to a later entry and no entry runs after the vCPU should have
/// stopped.
extension XenHost {
    @inline(never)   // out of `dispatch`, which then stays small (XenHost.dispatch)
    func multicall<P: XenPlatform>(_ a: XenArguments, caller: XenCaller, platform: P) -> XenHypercallResult {
        typealias L = XenLayout.MulticallEntry
        let list = a.x0
        let count = UInt32(truncatingIfNeeded: a.x1)
        let batch = max(1, multicallBatch)
        var i: UInt32 = 0

        /// hypercall_create_continuation(__HYPERVISOR_multicall, "hi", call_list, nr_calls - i).
        func rest(at index: UInt32) -> XenArguments {
            XenArguments(list &+ UInt64(index) &* UInt64(L.size), UInt64(count - index), a.x2, a.x3, a.x4)
        }

        while i < count {
            if i > 0 && (i % batch == 0 || platform.hypercallPreemptCheck()) {
                return .restart(rest(at: i))
            }
            let entry = list &+ UInt64(i) &* UInt64(L.size)
            guard let b = platform.readStruct(entry, size: L.size) else {
                return XenHypercallResult(XenErrno.EFAULT.result)
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
            if let next = sub.reissue {
                var e = b
                for (n, v) in [next.x0, next.x1, next.x2, next.x3, next.x4].enumerated() {
                    XenBytes.put64(&e, L.args + 8 * n, v)
                }
                guard platform.write(entry, e) else { return XenHypercallResult(XenErrno.EFAULT.result) }
                return .restart(rest(at: i))
            }
            guard platform.writeU64(entry &+ UInt64(L.result), sub.x0) else {
                // The sub-call's action still stands (its state change happened).
                return XenHypercallResult(XenErrno.EFAULT.result, sub.action)
            }
            i += 1
            if sub.action != .none {
                return XenHypercallResult(0, sub.action, continuation: i < count ? rest(at: i) : nil)
            }
        }
        return XenHypercallResult(0)
    }
}
