import Testing
@testable import ApusCore

@Suite struct XenMulticallTests {
    let rig = XenRig()
    static let list: UInt64 = 0x4006_0000

    func entry(_ op: UInt64, _ args: [UInt64]) -> [UInt8] {
        var b = [UInt8](repeating: 0xAB, count: 64)
        XenBytes.put64(&b, 0, op)
        for i in 0..<6 { XenBytes.put64(&b, 16 + 8 * i, i < args.count ? args[i] : 0) }
        return b
    }

    func run(_ entries: [[UInt8]], count: UInt32? = nil, at list: UInt64 = XenMulticallTests.list) -> XenHypercallResult {
        rig.mem.poke(1, list, entries.flatMap { $0 })
        return rig.call(XenHypercallNumber.multicall, list, UInt64(count ?? UInt32(entries.count)))
    }

    func result(_ i: Int) -> Int64 { Int64(bitPattern: rig.mem.u64(1, XenMulticallTests.list + UInt64(64 * i) + 8)) }

    @Test func resultsAreWrittenPerEntry() {
        let p = UInt32(rig.bindIPI(vcpu: 0))
        rig.mem.set32(1, XenRig.scratch2, p)
        let r = run([
            entry(XenHypercallNumber.xenVersion, [0]),
            entry(XenHypercallNumber.eventChannelOp, [UInt64(EventChannelOp.send), XenRig.scratch2]),
            entry(XenHypercallNumber.xenVersion, [7, 0]),
            entry(XenHypercallNumber.eventChannelOp, [UInt64(EventChannelOp.send), 0x10]),
            entry(64, []),
            entry(XenHypercallNumber.multicall, [XenMulticallTests.list, 1]),
            entry(XenHypercallNumber.schedOp, [UInt64(SchedOp.yield)]),
        ])
        #expect(r == XenHypercallResult(0, .yield))
        #expect(result(0) == 0x4_0011)
        #expect(result(1) == 0)
        #expect(rig.pendingWord(1, 0) == 1 << UInt64(p), "the send happened")
        #expect(result(2) == 4096)
        #expect(result(3) == XenErrno.EFAULT.result)
        #expect(result(4) == XenErrno.ENOSYS.result, "op beyond the table")
        #expect(result(5) == XenErrno.EINVAL.result, "no nested multicall")
        #expect(result(6) == 0)
        // Only `result` changed in each entry.
        #expect(rig.mem.u64(1, XenMulticallTests.list) == XenHypercallNumber.xenVersion)
        #expect(rig.mem.u64(1, XenMulticallTests.list + 16) == 0)
    }

    /// As in Xen, where the action raises SCHEDULE_SOFTIRQ and the next entry's
    /// hypercall_preempt_check() stops the multicall: each action ends the batch and the
    /// remaining entries come back as the continuation the vCPU issues when it runs again.
    @Test func anActionEndsTheBatchAndTheRestFollowsAsAContinuation() {
        rig.mem.set32(1, XenRig.scratch2, 0)
        let list = XenMulticallTests.list
        rig.mem.poke(1, list, [
            entry(XenHypercallNumber.schedOp, [UInt64(SchedOp.yield)]),
            entry(XenHypercallNumber.schedOp, [UInt64(SchedOp.shutdown), XenRig.scratch2]),
            entry(XenHypercallNumber.schedOp, [UInt64(SchedOp.block)]),
        ].flatMap { $0 })
        rig.mem.current = 1
        let r = rig.host.hypercall(XenHypercallNumber.multicall, XenArguments(list, 3, 0x22, 0x33, 0x44),
                                   caller: XenCaller(domain: 1, vcpu: 0), platform: rig.mem)
        #expect(r == XenHypercallResult(0, .yield, continuation: XenArguments(list + 64, 2, 0x22, 0x33, 0x44)))
        #expect(r.reissue == XenArguments(list + 64, 2, 0x22, 0x33, 0x44))
        #expect(result(0) == 0)
        #expect(rig.host.domain(1)?.shuttingDown == false, "the shutdown entry has not run yet")
        let r2 = rig.call(XenHypercallNumber.multicall, list + 64, 2)
        #expect(r2 == XenHypercallResult(0, .shutdown(domain: 1, reason: 0), continuation: XenArguments(list + 128, 1)))
        let r3 = rig.call(XenHypercallNumber.multicall, list + 128, 1)
        #expect(r3 == XenHypercallResult(0, .block), "the last entry: nothing left to continue")
        #expect(r3.reissue == nil)
    }

    @Test func boundsAndFaults() {
        #expect(run([], count: 0) == XenHypercallResult(0))
        #expect(rig.call(XenHypercallNumber.multicall, 0x10, 1).result == XenErrno.EFAULT.result)
        // The list runs off the end of RAM after the first entry.
        let last = 0x4010_0000 - UInt64(64)
        let r = run([entry(XenHypercallNumber.xenVersion, [0])], count: 2, at: last)
        #expect(r.result == XenErrno.EFAULT.result)
        #expect(Int64(bitPattern: rig.mem.u64(1, last + 8)) == 0x4_0011, "the first entry was done")
        // nr_calls is 32-bit: the upper half of x1 is ignored.
        rig.mem.poke(1, XenMulticallTests.list, entry(XenHypercallNumber.xenVersion, [0]))
        #expect(rig.call(XenHypercallNumber.multicall, XenMulticallTests.list, 1 << 32).result == 0)
    }

    @Test func longListsRestartInBatches() {
        rig.host.multicallBatch = 4
        let entries = (0..<10).map { _ in entry(XenHypercallNumber.xenVersion, [0]) }
        let r = run(entries)
        #expect(r == .restart(XenArguments(XenMulticallTests.list + 4 * 64, 6)))
        #expect(result(3) == 0x4_0011 && result(4) != 0x4_0011)
        let r2 = rig.call(XenHypercallNumber.multicall, XenMulticallTests.list + 4 * 64, 6)
        #expect(r2 == .restart(XenArguments(XenMulticallTests.list + 8 * 64, 2)))
        let r3 = rig.call(XenHypercallNumber.multicall, XenMulticallTests.list + 8 * 64, 2)
        #expect(r3 == XenHypercallResult(0))
        for i in 0..<10 { #expect(result(i) == 0x4_0011) }
    }

    @Test func aRestartingSubcallRestartsTheMulticallAtItsEntry() {
        rig.host.grantBatch = 2
        // Three unmaps of bad handles: the grant op does two, then asks to restart.
        var ops: [UInt8] = []
        for _ in 0..<3 {
            var u = [UInt8](repeating: 0, count: 24)
            XenBytes.put32(&u, 16, 77)
            ops += u
        }
        rig.mem.poke(1, XenRig.scratch2, ops)
        let r = run([
            entry(XenHypercallNumber.xenVersion, [0]),
            entry(XenHypercallNumber.grantTableOp, [UInt64(GrantTableOp.unmapGrantRef), XenRig.scratch2, 3]),
        ])
        #expect(r == .restart(XenArguments(XenMulticallTests.list + 64, 1)))
        // The entry now describes the remaining work.
        let e = rig.mem.peek(1, XenMulticallTests.list + 64, 64)!
        #expect(XenBytes.u64(e, 0) == XenHypercallNumber.grantTableOp)
        #expect(XenBytes.u64(e, 16) == UInt64(GrantTableOp.unmapGrantRef))
        #expect(XenBytes.u64(e, 24) == XenRig.scratch2 + 2 * 24 && XenBytes.u64(e, 32) == 1)
        let r2 = rig.call(XenHypercallNumber.multicall, XenMulticallTests.list + 64, 1)
        #expect(r2 == XenHypercallResult(0))
        #expect(result(1) == 0)
        for i in 0..<3 {
            #expect(Int16(bitPattern: rig.mem.u16(1, XenRig.scratch2 + UInt64(24 * i) + 20)) == GrantStatus.badHandle)
        }
    }

    /// Issue 10: an action is never dropped because a later entry restarts.
    @Test func aShutdownIsNotLostWhenALaterEntryRestarts() {
        rig.host.grantBatch = 2
        var ops: [UInt8] = []
        for _ in 0..<3 {
            var u = [UInt8](repeating: 0, count: 24)
            XenBytes.put32(&u, 16, 77)
            ops += u
        }
        rig.mem.poke(1, XenRig.scratch2, ops)
        rig.mem.set32(1, XenRig.scratch2 + 0x100, 1)            // SHUTDOWN_reboot
        let r = run([
            entry(XenHypercallNumber.schedOp, [UInt64(SchedOp.shutdown), XenRig.scratch2 + 0x100]),
            entry(XenHypercallNumber.grantTableOp, [UInt64(GrantTableOp.unmapGrantRef), XenRig.scratch2, 3]),
        ])
        #expect(r.action == .shutdown(domain: 1, reason: 1), "the domain is marked shutting down: it must stop")
        #expect(rig.host.domain(1)?.shuttingDown == true)
        #expect(result(0) == 0)
        #expect(rig.mem.u16(1, XenRig.scratch2 + 20) == 0, "the later entry did not run yet")
        #expect(r.reissue == XenArguments(XenMulticallTests.list + 64, 1), "it runs when the vCPU comes back")
        let r2 = rig.call(XenHypercallNumber.multicall, XenMulticallTests.list + 64, 1)
        #expect(r2 == .restart(XenArguments(XenMulticallTests.list + 64, 1)))
        #expect(rig.call(XenHypercallNumber.multicall, XenMulticallTests.list + 64, 1) == XenHypercallResult(0))
        #expect(Int16(bitPattern: rig.mem.u16(1, XenRig.scratch2 + 2 * 24 + 20)) == GrantStatus.badHandle)
    }
}
