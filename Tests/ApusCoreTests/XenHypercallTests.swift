import Testing
@testable import ApusCore

@Suite struct XenMemoryOpTests {
    let rig = XenRig(mapShared: false)

    func xatp(dom: XenDomainID = XenDomID.selfID, space: UInt32, idx: UInt64 = 0, gpfn: UInt64, size: UInt16 = 0) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 24)
        XenBytes.put16(&b, 0, dom)
        XenBytes.put16(&b, 2, size)
        XenBytes.put32(&b, 4, space)
        XenBytes.put64(&b, 8, idx)
        XenBytes.put64(&b, 16, gpfn)
        return b
    }

    func add(_ b: [UInt8], cmd: UInt64 = UInt64(MemoryOp.addToPhysmap), caller: XenDomainID = 1) -> Int64 {
        rig.callWith(XenHypercallNumber.memoryOp, cmd, b, dom: caller)
    }

    @Test func sharedInfoMapping() {
        #expect(add(xatp(space: MapSpace.sharedInfo, gpfn: XenRig.shared1)) == 0)
        #expect(rig.host.events.table(1)?.sharedInfoGFN == XenRig.shared1)
        #expect(rig.mem.xenPageMaps.count == 1 && rig.mem.xenPageMaps[0] == (1, .sharedInfo, XenRig.shared1))
        #expect(add(xatp(space: MapSpace.sharedInfo, gpfn: 0x4_0099)) == XenErrno.EBUSY.result, "mapped once")
        #expect(add(xatp(dom: 2, space: MapSpace.sharedInfo, idx: 1, gpfn: 0x4_0099), caller: 2) == XenErrno.EINVAL.result,
                "idx must be 0")
        #expect(add(xatp(dom: 2, space: MapSpace.sharedInfo, gpfn: ~0), caller: 2) == XenErrno.EINVAL.result, "INVALID_GFN")
        #expect(add(xatp(dom: 2, space: MapSpace.sharedInfo, gpfn: 0x4_0099)) == XenErrno.EPERM.result, "another domain")
        #expect(add(xatp(dom: 9, space: MapSpace.sharedInfo, gpfn: 0x4_0099)) == XenErrno.ESRCH.result)
        rig.mem.refuseXenPageAt = [0x4_0098]
        #expect(add(xatp(dom: 2, space: MapSpace.sharedInfo, gpfn: 0x4_0098), caller: 2) == XenErrno.EINVAL.result)
        #expect(rig.host.events.table(2)?.sharedInfoGFN == nil)
    }

    @Test func privilegedDomainMapsForOthers() {
        let r = XenRig(mapShared: false, privileged1: true)
        var b = xatp(dom: 2, space: MapSpace.sharedInfo, gpfn: 0x4_0077)
        #expect(r.callWith(XenHypercallNumber.memoryOp, UInt64(MemoryOp.addToPhysmap), b) == 0)
        #expect(r.host.events.table(2)?.sharedInfoGFN == 0x4_0077)
        b = xatp(dom: 2, space: MapSpace.devMMIO, gpfn: 0x4_0077)
        #expect(r.callWith(XenHypercallNumber.memoryOp, UInt64(MemoryOp.addToPhysmap), b) == XenErrno.EACCES.result,
                "dev_mmio only for the hardware domain itself")
    }

    @Test func otherSpacesAndOps() {
        #expect(add(xatp(space: MapSpace.gmfn, gpfn: 0x4_0001)) == XenErrno.ENOSYS.result)
        #expect(add(xatp(space: MapSpace.gmfnForeign, gpfn: 0x4_0001)) == XenErrno.ENOSYS.result)
        #expect(add(xatp(space: MapSpace.devMMIO, gpfn: 0x4_0001)) == XenErrno.EACCES.result)
        #expect(add(xatp(space: 77, gpfn: 0x4_0001)) == XenErrno.ENOSYS.result)
        #expect(add(xatp(space: MapSpace.gmfnRange, gpfn: 0x4_0001, size: 0)) == 0, "empty range")
        #expect(add(xatp(space: MapSpace.gmfnRange, gpfn: 0x4_0001, size: 3)) == XenErrno.ENOSYS.result)
        #expect(add(xatp(space: MapSpace.gmfnRange, idx: ~0, gpfn: 0x4_0001, size: 3)) == XenErrno.EOVERFLOW.result)
        #expect(add(xatp(space: MapSpace.gmfnRange, gpfn: 0x4_0001, size: 3), cmd: 7 | 4 << 6) == XenErrno.EILSEQ.result)
        #expect(add(xatp(space: MapSpace.sharedInfo, gpfn: 0x4_0001), cmd: 7 | 0x10000 << 6) == XenErrno.EDOM.result)
        #expect(rig.call(XenHypercallNumber.memoryOp, 7, 0x20).result == XenErrno.EFAULT.result)
        // An empty reservation: no extent done; nothing mapped at frame 0: -ENOENT.
        #expect(rig.call(XenHypercallNumber.memoryOp, UInt64(MemoryOp.populatePhysmap), XenRig.scratch).result == 0)
        #expect(rig.call(XenHypercallNumber.memoryOp, UInt64(MemoryOp.removeFromPhysmap), XenRig.scratch).result == XenErrno.ENOENT.result)
        #expect(rig.call(XenHypercallNumber.memoryOp, 11, XenRig.scratch).result == XenErrno.ENOSYS.result, "XENMEM_exchange")
        #expect(rig.call(XenHypercallNumber.memoryOp, UInt64(MemoryOp.getSharingSharedPages), 0).result == 0)
    }
}

@Suite struct XenVCPUOpTests {
    let rig = XenRig()

    @Test func registerVCPUInfoChecks() {
        #expect(registerVCPUInfo(rig, vcpu: 0, gfn: 0x4_0030, offset: 4096 - 48 + 8) == XenErrno.ENXIO.result, "crosses the page")
        #expect(registerVCPUInfo(rig, vcpu: 0, gfn: 0x4_0030, offset: 12) == XenErrno.ENXIO.result, "misaligned")
        #expect(registerVCPUInfo(rig, vcpu: 0, gfn: 0x3_0000, offset: 0) == XenErrno.EINVAL.result, "not RAM")
        #expect(registerVCPUInfo(rig, vcpu: 0, gfn: ~0, offset: 0) == XenErrno.EINVAL.result)
        #expect(registerVCPUInfo(rig, vcpu: 1, gfn: 0x4_0030, offset: 0, caller: 0) == XenErrno.EINVAL.result,
                "vCPU 1 is up and not the caller")
        #expect(registerVCPUInfo(rig, vcpu: 0, gfn: 0x4_0030, offset: 4096 - 48) == 0, "last slot of the page")
        #expect(registerVCPUInfo(rig, vcpu: 0, gfn: 0x4_0031, offset: 0) == XenErrno.EINVAL.result, "only once")
        #expect(rig.call(XenHypercallNumber.vcpuOp, UInt64(VCPUOp.registerVCPUInfo), 2, XenRig.scratch2).result
                == XenErrno.ENOENT.result)
        #expect(rig.call(XenHypercallNumber.vcpuOp, UInt64(VCPUOp.registerVCPUInfo), 1, 0x30, vcpu: 1).result
                == XenErrno.EFAULT.result)
        for cmd in [VCPUOp.initialise, VCPUOp.up, VCPUOp.down, VCPUOp.isUp, VCPUOp.getRunstateInfo,
                    VCPUOp.setPeriodicTimer, VCPUOp.setSingleshotTimer, 11, 99] {
            #expect(rig.call(XenHypercallNumber.vcpuOp, UInt64(cmd), 0, XenRig.scratch).result == XenErrno.EINVAL.result)
        }
    }

    @Test func registerRunstateAreaWritesItAtOnce() {
        rig.host.setRunstate(domain: 1, vcpu: 0, .running, at: 1_000)
        rig.host.setRunstate(domain: 1, vcpu: 1, .runnable, at: 1_500)
        let area: UInt64 = 0x4005_0000
        rig.mem.set64(1, XenRig.scratch, area)
        #expect(rig.call(XenHypercallNumber.vcpuOp, UInt64(VCPUOp.registerRunstateMemoryArea), 0, XenRig.scratch, now: 5_000).result == 0)
        let mine = rig.mem.peek(1, area, 48)!
        #expect(XenBytes.u32(mine, 0) == 0 && XenBytes.u64(mine, 8) == 1_000, "own state as recorded")
        #expect(XenBytes.u64(mine, 16 + 3 * 8) == 1_000, "offline until 1000")
        // Another vCPU's area gets the time in its current state added.
        rig.mem.set64(1, XenRig.scratch, area + 64)
        #expect(rig.call(XenHypercallNumber.vcpuOp, UInt64(VCPUOp.registerRunstateMemoryArea), 1, XenRig.scratch, now: 5_000).result == 0)
        let other = rig.mem.peek(1, area + 64, 48)!
        #expect(XenBytes.u32(other, 0) == 1 && XenBytes.u64(other, 16 + 8) == 3_500)
        #expect(rig.host.domain(1)?.runstateArea == [area, area + 64])
        // A bad area is accepted (Xen on Arm cannot check it) and simply not written.
        rig.mem.set64(1, XenRig.scratch, 0x10)
        #expect(rig.call(XenHypercallNumber.vcpuOp, UInt64(VCPUOp.registerRunstateMemoryArea), 0, XenRig.scratch).result == 0)
        rig.mem.set64(1, XenRig.scratch, 0)
        #expect(rig.call(XenHypercallNumber.vcpuOp, UInt64(VCPUOp.registerRunstateMemoryArea), 0, XenRig.scratch).result == 0)
        #expect(rig.host.domain(1)?.runstateArea[0] == nil, "0 unregisters")
    }
}

@Suite struct XenRunstateTests {
    @Test func accountingAcrossStateChanges() {
        var r = XenVCPURunstate(state: .offline, at: 0)
        r.change(to: .running, at: 100)
        r.change(to: .blocked, at: 350)
        r.change(to: .runnable, at: 400)
        r.change(to: .running, at: 410)
        #expect(r.time == [250, 10, 50, 100])
        #expect(r.state == .running && r.stateEntryTime == 410)
        #expect(r.snapshot(at: 500).time == [340, 10, 50, 100])
        r.change(to: .blocked, at: 300)                     // clock went backwards: nothing charged
        #expect(r.time == [250, 10, 50, 100] && r.stateEntryTime == 300)
        let b = r.encoded()
        #expect(XenBytes.u32(b, 0) == 2 && XenBytes.u64(b, 8) == 300 && XenBytes.u64(b, 16) == 250)
        #expect(XenBytes.u64(r.encoded(updating: true), 8) == UInt64(300) | XenRunstate.updateFlag)
    }

    @Test func areaUpdateFollowsTheUpdateFlagProtocol() {
        let rig = XenRig()
        let area: UInt64 = 0x4005_0000
        rig.mem.set64(1, XenRig.scratch, area)
        #expect(rig.call(XenHypercallNumber.vcpuOp, UInt64(VCPUOp.registerRunstateMemoryArea), 0, XenRig.scratch).result == 0)
        rig.host.setRunstate(domain: 1, vcpu: 0, .running, at: 0x0102_0304)

        // Without the assist: one plain write.
        rig.mem.virtualWrites = []
        rig.host.updateRunstateArea(domain: 1, vcpu: 0, memory: rig.mem)
        #expect(rig.mem.virtualWrites.count == 1)
        #expect(rig.mem.virtualWrites[0].0 == area && rig.mem.virtualWrites[0].1 == rig.host.domain(1)!.runstate[0].encoded())

        // With VMASST_TYPE_runstate_update_flag: flag byte, whole area with flag, flag byte cleared.
        #expect(rig.call(XenHypercallNumber.vmAssist, UInt64(VMAssist.enable), UInt64(VMAssist.runstateUpdateFlag)).result == 0)
        rig.mem.virtualWrites = []
        rig.host.updateRunstateArea(domain: 1, vcpu: 0, memory: rig.mem)
        let w = rig.mem.virtualWrites
        #expect(w.count == 3)
        #expect(w[0].0 == area + 15 && w[0].1 == [0x80])
        #expect(w[1].0 == area && XenBytes.u64(w[1].1, 8) == 0x0102_0304 | 1 << 63)
        #expect(w[2].0 == area + 15 && w[2].1 == [0x00])
        #expect(rig.mem.u64(1, area + 8) == 0x0102_0304, "final image has no flag")
        // No area registered for vCPU 1: nothing written.
        rig.mem.virtualWrites = []
        rig.host.updateRunstateArea(domain: 1, vcpu: 1, memory: rig.mem)
        #expect(rig.mem.virtualWrites.isEmpty)
    }

    @Test func vmAssistChecks() {
        let rig = XenRig()
        #expect(rig.call(XenHypercallNumber.vmAssist, 0, 2).result == XenErrno.EINVAL.result, "writable_pagetables is x86")
        #expect(rig.call(XenHypercallNumber.vmAssist, 0, 64).result == XenErrno.EINVAL.result)
        #expect(rig.call(XenHypercallNumber.vmAssist, 2, 5).result == XenErrno.ENOSYS.result)
        #expect(rig.call(XenHypercallNumber.vmAssist, 0, 5).result == 0)
        #expect(rig.host.domain(1)?.runstateUpdateFlag == true)
        #expect(rig.call(XenHypercallNumber.vmAssist, 1, 5).result == 0)
        #expect(rig.host.domain(1)?.runstateUpdateFlag == false)
    }
}

@Suite struct XenHVMOpTests {
    let rig = XenRig()

    func param(_ op: UInt64, dom: XenDomainID = XenDomID.selfID, index: UInt32, value: UInt64 = 0,
               caller: XenDomainID = 1) -> (Int64, UInt64) {
        var b = [UInt8](repeating: 0, count: 16)
        XenBytes.put16(&b, 0, dom)
        XenBytes.put32(&b, 4, index)
        XenBytes.put64(&b, 8, value)
        let rc = rig.callWith(XenHypercallNumber.hvmOp, op, b, dom: caller)
        return (rc, rig.mem.u64(caller, XenRig.scratch + 8))
    }

    @Test func guestReadsItsParams() {
        rig.host.setHVMParam(domain: 1, index: HVMParam.consolePFN, value: 0x3_9000)
        rig.host.setHVMParam(domain: 1, index: HVMParam.consoleEvtchn, value: 3)
        rig.host.setHVMParam(domain: 1, index: HVMParam.callbackIRQ, value: HVMParam.callbackPPI(31))
        #expect(param(HVMOp.getParam, index: HVMParam.consolePFN) == (0, 0x3_9000))
        #expect(param(HVMOp.getParam, index: HVMParam.consoleEvtchn) == (0, 3))
        #expect(param(HVMOp.getParam, index: HVMParam.storePFN) == (0, 0))
        #expect(param(HVMOp.getParam, index: HVMParam.callbackIRQ).1 == HVMParam.callbackPPI(31))
        #expect(param(HVMOp.getParam, index: HVMParam.monitorRingPFN).0 == XenErrno.EPERM.result)
        #expect(param(HVMOp.getParam, index: 4).0 == XenErrno.EINVAL.result)
        #expect(param(HVMOp.getParam, index: 39).0 == XenErrno.EINVAL.result)
        #expect(param(HVMOp.getParam, index: 0xFFFF_FFFF).0 == XenErrno.EINVAL.result)
        #expect(param(HVMOp.getParam, dom: 2, index: HVMParam.storePFN).0 == XenErrno.EPERM.result)
        #expect(param(HVMOp.getParam, dom: 8, index: HVMParam.storePFN).0 == XenErrno.ESRCH.result)
        #expect(rig.host.setHVMParam(domain: 1, index: 39, value: 1) == false)
    }

    @Test func guestSetsNothingControlDomainSetsOthers() {
        #expect(param(HVMOp.setParam, index: HVMParam.storePFN, value: 5).0 == XenErrno.EPERM.result)
        #expect(param(HVMOp.setParam, index: 7, value: 5).0 == XenErrno.EINVAL.result)
        let r = XenRig(privileged1: true)
        var b = [UInt8](repeating: 0, count: 16)
        XenBytes.put16(&b, 0, 2)
        XenBytes.put32(&b, 4, HVMParam.storeEvtchn)
        XenBytes.put64(&b, 8, 9)
        #expect(r.callWith(XenHypercallNumber.hvmOp, HVMOp.setParam, b) == 0)
        #expect(r.host.domain(2)?.hvmParams[Int(HVMParam.storeEvtchn)] == 9)
        XenBytes.put32(&b, 4, HVMParam.monitorRingPFN)
        #expect(r.callWith(XenHypercallNumber.hvmOp, HVMOp.getParam, b) == 0, "toolstack may read another's monitor ring")
    }

    @Test func otherHVMOps() {
        #expect(rig.call(XenHypercallNumber.hvmOp, HVMOp.guestRequestVMEvent, 0).result == 0)
        #expect(rig.call(XenHypercallNumber.hvmOp, HVMOp.guestRequestVMEvent, 8).result == XenErrno.EINVAL.result)
        #expect(rig.call(XenHypercallNumber.hvmOp, 2, XenRig.scratch).result == XenErrno.ENOSYS.result)
        #expect(rig.call(XenHypercallNumber.hvmOp, 1 | 1 << 32, XenRig.scratch).result == XenErrno.ENOSYS.result,
                "op is an unsigned long")
        #expect(rig.call(XenHypercallNumber.hvmOp, HVMOp.getParam, 0x10).result == XenErrno.EFAULT.result)
    }
}

@Suite struct XenSchedOpTests {
    let rig = XenRig()
    let sched = XenHypercallNumber.schedOp

    func shutdown(_ cmd: UInt32, _ reason: UInt32, dom: XenDomainID = 1) -> XenHypercallResult {
        rig.mem.set32(dom, XenRig.scratch, reason)
        return rig.call(sched, UInt64(cmd), XenRig.scratch, dom: dom)
    }

    @Test func yieldAndBlock() {
        #expect(rig.call(sched, UInt64(SchedOp.yield)) == XenHypercallResult(0, .yield))
        #expect(rig.call(sched, UInt64(SchedOp.block)) == XenHypercallResult(0, .block))
        #expect(rig.call(sched, 99) == XenHypercallResult(XenErrno.ENOSYS.result))
        #expect(rig.call(sched, UInt64(SchedOp.watchdog), XenRig.scratch).result == XenErrno.ENOSYS.result)
        #expect(rig.call(sched, UInt64(SchedOp.pinOverride), XenRig.scratch).result == XenErrno.EPERM.result)
    }

    @Test func shutdownReasons() {
        for reason in [ShutdownReason.poweroff, ShutdownReason.reboot, ShutdownReason.suspend,
                       ShutdownReason.crash, ShutdownReason.watchdog] {
            let r = XenRig()
            r.mem.set32(1, XenRig.scratch, UInt32(reason))
            #expect(r.call(sched, UInt64(SchedOp.shutdown), XenRig.scratch)
                    == XenHypercallResult(0, .shutdown(domain: 1, reason: reason)))
        }
        #expect(shutdown(SchedOp.shutdown, 0x101) == XenHypercallResult(0, .shutdown(domain: 1, reason: 1)), "u8 reason")
        #expect(shutdown(SchedOp.shutdown, 0) == XenHypercallResult(0), "already shutting down")
        rig.host.clearShutdown(1)
        #expect(shutdown(SchedOp.shutdown, 0) == XenHypercallResult(0, .shutdown(domain: 1, reason: 0)))
        #expect(rig.call(sched, UInt64(SchedOp.shutdown), 0x10).result == XenErrno.EFAULT.result)
    }

    @Test func shutdownCodeWinsOverTheLaterReason() {
        #expect(shutdown(SchedOp.shutdownCode, UInt32(ShutdownReason.suspend)) == XenHypercallResult(0))
        #expect(shutdown(SchedOp.shutdownCode, UInt32(ShutdownReason.crash)) == XenHypercallResult(0), "first code sticks")
        #expect(shutdown(SchedOp.shutdown, UInt32(ShutdownReason.poweroff))
                == XenHypercallResult(0, .shutdown(domain: 1, reason: ShutdownReason.suspend)))
        #expect(rig.call(sched, UInt64(SchedOp.shutdownCode), 0x10).result == XenErrno.EFAULT.result)
    }

    @Test func remoteShutdown() {
        var b = [UInt8](repeating: 0, count: 8)
        XenBytes.put16(&b, 0, 2)
        XenBytes.put32(&b, 4, 1)
        #expect(rig.callWith(sched, UInt64(SchedOp.remoteShutdown), b) == XenErrno.EPERM.result)
        let r = XenRig(privileged1: true)
        r.mem.poke(1, XenRig.scratch, b)
        #expect(r.call(sched, UInt64(SchedOp.remoteShutdown), XenRig.scratch) == XenHypercallResult(0, .shutdown(domain: 2, reason: 1)))
        XenBytes.put16(&b, 0, XenDomID.selfID)
        r.mem.poke(1, XenRig.scratch, b)
        #expect(r.call(sched, UInt64(SchedOp.remoteShutdown), XenRig.scratch).result == XenErrno.ESRCH.result,
                "remote_shutdown takes a real domain id")
    }

    func poll(_ ports: [UInt32], timeout: UInt64 = 0, vcpu: UInt32 = 0, n: UInt32? = nil) -> XenHypercallResult {
        for (i, p) in ports.enumerated() { rig.mem.set32(1, XenRig.scratch2 + UInt64(4 * i), p) }
        var b = [UInt8](repeating: 0, count: 24)
        XenBytes.put64(&b, 0, XenRig.scratch2)
        XenBytes.put32(&b, 8, n ?? UInt32(ports.count))
        XenBytes.put64(&b, 16, timeout)
        rig.mem.poke(1, XenRig.scratch, b)
        return rig.call(sched, UInt64(SchedOp.poll), XenRig.scratch, vcpu: vcpu)
    }

    @Test func pollBlocksUnlessAPortIsPending() {
        let a = UInt32(rig.bindIPI(vcpu: 0)), c = UInt32(rig.bindIPI(vcpu: 0))
        #expect(poll([a, c], timeout: 5_000) == XenHypercallResult(0, .poll(deadline: 5_000)))
        #expect(rig.host.events.table(1)?.polling[0] == .any)
        rig.host.endPoll(domain: 1, vcpu: 0)
        #expect(rig.host.events.table(1)?.polling[0] == EventPollState.none)
        #expect(poll([a]) == XenHypercallResult(0, .poll(deadline: nil)))
        #expect(rig.host.events.table(1)?.polling[0] == .port(a))
        rig.host.endPoll(domain: 1, vcpu: 0)
        #expect(rig.send(c) == 0)
        #expect(poll([a, c]) == XenHypercallResult(0), "c is pending: no block")
        #expect(rig.host.events.table(1)?.polling[0] == EventPollState.none)
    }

    @Test func pollChecks() {
        #expect(poll([], n: 129).result == XenErrno.EINVAL.result, "at most 128 ports")
        #expect(poll([77]).result == XenErrno.EINVAL.result, "free port")
        #expect(poll([5000]).result == XenErrno.EINVAL.result, "invalid port")
        var b = [UInt8](repeating: 0, count: 24)
        XenBytes.put64(&b, 0, 0x10)
        XenBytes.put32(&b, 8, 1)
        #expect(rig.callWith(sched, UInt64(SchedOp.poll), b) == XenErrno.EFAULT.result, "unreadable port list")
        #expect(rig.call(sched, UInt64(SchedOp.poll), 0x10).result == XenErrno.EFAULT.result)
        #expect(rig.host.events.table(1)?.polling[0] == EventPollState.none)
    }
}

@Suite struct XenDispatchTests {
    let rig = XenRig()

    @Test func unknownAndRefusedHypercalls() {
        for nr: UInt64 in [0, 1, 6, 16, 19, 33, 41, 42, 63, 64, 1000, ~0] {
            #expect(rig.call(nr, 0, 0) == XenHypercallResult(XenErrno.ENOSYS.result), "hypercall \(nr)")
        }
        // sysctl and domctl exist: their envelope at address 0 cannot be read (XenControlTests).
        for nr: UInt64 in [35, 36] {
            #expect(rig.call(nr, 0, 0) == XenHypercallResult(XenErrno.EFAULT.result), "hypercall \(nr)")
        }
    }

    @Test func consoleIOIsTheHypervisors() {
        #expect(rig.call(XenHypercallNumber.consoleIO, 0, 5, XenRig.scratch).result == 0)
        #expect(rig.mem.consoleCalls.count == 1 && rig.mem.consoleCalls[0] == (0, 5, XenRig.scratch))
    }

    @Test func unknownCallerOrVCPU() {
        #expect(rig.call(XenHypercallNumber.xenVersion, 0, 0, dom: 6).result == XenErrno.ESRCH.result)
        #expect(rig.call(XenHypercallNumber.xenVersion, 0, 0, vcpu: 2).result == XenErrno.ESRCH.result)
    }

    @Test func domainLifecycle() {
        #expect(!rig.host.createDomain(1, XenDomainConfig(vcpus: 1)), "id taken")
        #expect(!rig.host.createDomain(8, XenDomainConfig(vcpus: 1)), "beyond maxDomains")
        #expect(rig.host.createDomain(3, XenDomainConfig(vcpus: 1)))
        rig.host.destroyDomain(3, platform: rig.mem)
        #expect(rig.host.domain(3) == nil && rig.host.events.table(3) == nil && rig.host.grants.table(3) == nil)
        #expect(rig.host.createDomain(3, XenDomainConfig(vcpus: 1)), "id reusable")
    }
}
