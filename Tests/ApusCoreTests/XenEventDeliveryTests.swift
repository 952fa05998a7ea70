import Testing
@testable import ApusCore

/// The 2-level ABI bits in the guest's shared_info / vcpu_info, as event_2l.c sets them.
@Suite struct XenEventDeliveryTests {
    let rig = XenRig()

    /// n IPI ports on vCPU 0 of domain 1, the last one returned.
    func ipis(_ n: Int, vcpu: UInt32 = 0) -> [UInt32] {
        (0..<n).map { _ in UInt32(rig.bindIPI(vcpu: vcpu)) }
    }

    @Test func firstEventRaisesTheUpcallOnce() {
        let p = ipis(3)
        #expect(rig.send(p[0]) == 0)
        #expect(rig.pendingWord(1, 0) == 0b10)
        #expect(rig.pendingSel(1) == 1)
        #expect(rig.upcallPending(1) == 1)
        #expect(rig.mem.delivered.count == 1)
        #expect(rig.host.upcallPending(domain: 1, vcpu: 0, memory: rig.mem))
        #expect(!rig.host.upcallPending(domain: 1, vcpu: 1, memory: rig.mem), "no vcpu_info for vCPU 1")
        // Same selector word already set: no new upcall.
        #expect(rig.send(p[1]) == 0)
        #expect(rig.pendingWord(1, 0) == 0b110)
        #expect(rig.mem.delivered.count == 1)
        // Already pending: nothing changes at all.
        #expect(rig.send(p[0]) == 0)
        #expect(rig.mem.delivered.count == 1)
    }

    @Test func upcallOnlyOnItsZeroToOneTransition() {
        let p = ipis(1)[0]
        // The guest cleared the pending bit and selector but not upcall_pending yet.
        #expect(rig.send(p) == 0)
        rig.mem.set64(1, rig.sharedBase(1) + 48, 0)
        rig.mem.set64(1, rig.sharedBase(1) + 8, 0)
        #expect(rig.send(p) == 0)
        #expect(rig.pendingSel(1) == 1, "selector set again")
        #expect(rig.mem.delivered.count == 1, "upcall_pending was still 1: no second PPI")
        // After the guest acknowledges everything, the next event raises the PPI again.
        rig.guestAcknowledge(1)
        rig.mem.set64(1, rig.sharedBase(1) + 48, 0)
        #expect(rig.send(p) == 0)
        #expect(rig.mem.delivered.count == 2)
    }

    @Test func selectorBitFollowsThePortWord() {
        let r = XenRig()
        var last: UInt32 = 0
        for _ in 0..<70 { last = UInt32(r.bindIPI(vcpu: 0)) }
        #expect(last == 70)
        #expect(r.send(last) == 0)
        #expect(r.pendingWord(1, 1) == 1 << 6)
        #expect(r.pendingSel(1) == 1 << 1)
    }

    @Test func maskedPortDoesNotUpcallUntilUnmasked() {
        let p = ipis(1)[0]
        rig.setMask(1, p)
        #expect(rig.send(p) == 0)
        #expect(rig.pendingWord(1, 0) == 1 << UInt64(p), "pending is still recorded")
        #expect(rig.pendingSel(1) == 0 && rig.upcallPending(1) == 0)
        #expect(rig.mem.delivered.isEmpty)
        #expect(rig.unmask(p) == 0)
        #expect(rig.maskWord(1, 0) == 0)
        #expect(rig.pendingSel(1) == 1 && rig.upcallPending(1) == 1)
        #expect(rig.mem.delivered == [EventDelivery(domain: 1, vcpu: 0, upcall: true)])
    }

    @Test func unmaskWithoutPendingOrMaskDoesNothing() {
        let p = ipis(2)
        rig.setMask(1, p[0])
        #expect(rig.unmask(p[0]) == 0)
        #expect(rig.maskWord(1, 0) == 0)
        #expect(rig.mem.delivered.isEmpty, "not pending")
        rig.mem.set64(1, rig.sharedBase(1) + 48, 1 << UInt64(p[1]))
        #expect(rig.unmask(p[1]) == 0)
        #expect(rig.mem.delivered.isEmpty, "was not masked: Xen only propagates on a mask 1 -> 0")
        #expect(rig.unmask(5000) == XenErrno.EINVAL.result)
    }

    /// evtchn_unmask() in Xen 4.17 unmasks any valid port, whatever its state.
    @Test func unmaskingAFreePortClearsItsMaskLikeXen() {
        rig.setMask(1, 60)
        #expect(rig.unmask(60) == 0)
        #expect(rig.maskWord(1, 0) == 0, "mask bit cleared")
        #expect(rig.mem.delivered.isEmpty, "not pending")
        // Pending while masked (the guest set it): the upcall goes to vCPU 0, as for any port.
        rig.setMask(1, 61)
        rig.mem.set64(1, rig.sharedBase(1) + 48, 1 << 61)
        #expect(rig.unmask(61) == 0)
        #expect(rig.pendingSel(1) == 1 && rig.upcallPending(1) == 1)
        #expect(rig.mem.delivered == [EventDelivery(domain: 1, vcpu: 0, upcall: true)])
    }

    @Test func noUpcallForAVCPUWithoutVCPUInfo() {
        let p = ipis(1, vcpu: 1)[0]
        #expect(rig.send(p) == 0)
        #expect(rig.pendingWord(1, 0) == 1 << UInt64(p))
        #expect(rig.pendingSel(1) == 0, "vCPU 1 has only Xen's dummy vcpu_info")
        #expect(rig.mem.delivered.isEmpty)
    }

    @Test func noSharedInfoNoDelivery() {
        let r = XenRig(mapShared: false)
        let p = UInt32(r.bindIPI(vcpu: 0))
        #expect(r.send(p) == 0)
        #expect(r.mem.delivered.isEmpty)
    }

    @Test func registerVCPUInfoMovesAndMarksEverythingPending() {
        // Something is pending for vCPU 0 in shared_info first.
        let p = ipis(1)[0]
        #expect(rig.send(p) == 0)
        rig.mem.delivered = []
        let gfn: UInt64 = 0x4_0030, off: UInt32 = 0x40
        let new = gfn << 12 + UInt64(off)
        rig.mem.poke(1, new, [UInt8](repeating: 0xCC, count: 48))
        rig.mem.set64(1, rig.sharedBase(1) + 16, 0x1234_5678)      // time.version etc.
        #expect(registerVCPUInfo(rig, vcpu: 0, gfn: gfn, offset: off) == 0)
        #expect(rig.mem.u8(1, new) == 1, "upcall_pending copied")
        #expect(rig.mem.u64(1, new + 8) == ~0, "pending_sel = ~0")
        #expect(rig.mem.u64(1, new + 16) == 0x1234_5678, "the rest copied from the old vcpu_info")
        #expect(rig.mem.delivered.isEmpty, "upcall_pending was already 1")
        // vCPU 1 (offline) registered by vCPU 0: zeroed, then marked pending -> one upcall.
        rig.mem.downVCPUs = [1]
        let g1: UInt64 = 0x4_0031
        rig.mem.poke(1, g1 << 12, [UInt8](repeating: 0xCC, count: 48))
        #expect(registerVCPUInfo(rig, vcpu: 1, gfn: g1, offset: 0, caller: 0) == 0)
        #expect(rig.mem.peek(1, g1 << 12, 48)! == [1] + [UInt8](repeating: 0, count: 7) + [UInt8](repeating: 0xFF, count: 8)
                + [UInt8](repeating: 0, count: 32))
        #expect(rig.mem.delivered == [EventDelivery(domain: 1, vcpu: 1, upcall: true)])
        // Events for vCPU 1 now use its own vcpu_info.
        let q = ipis(1, vcpu: 1)[0]
        rig.mem.poke(1, g1 << 12, [0])
        rig.mem.set64(1, g1 << 12 + 8, 0)
        #expect(rig.send(q) == 0)
        #expect(rig.mem.u8(1, g1 << 12) == 1 && rig.mem.u64(1, g1 << 12 + 8) == 1)
        #expect(rig.upcallPending(1) == 1, "vCPU 0's shared_info slot is no longer used for vCPU 1")
    }

    @Test func pollersAreWokenByTheirPort() {
        let p = ipis(2)
        rig.setMask(1, p[0])
        rig.setMask(1, p[1])
        // vCPU 1 polls p[1] only.
        var poll = [UInt8](repeating: 0, count: 24)
        XenBytes.put64(&poll, 0, XenRig.scratch2)
        XenBytes.put32(&poll, 8, 1)
        rig.mem.set32(1, XenRig.scratch2, p[1])
        let r = rig.callWith(XenHypercallNumber.schedOp, UInt64(SchedOp.poll), poll, vcpu: 1)
        #expect(r == 0)
        #expect(rig.host.events.table(1)?.polling[1] == .port(p[1]))
        #expect(rig.send(p[0]) == 0)
        #expect(rig.mem.delivered.isEmpty, "masked, and not the polled port")
        #expect(rig.send(p[1]) == 0)
        #expect(rig.mem.delivered == [EventDelivery(domain: 1, vcpu: 0, upcall: false, wake: [1])])
        #expect(rig.host.events.table(1)?.polling[1] == EventPollState.none)
    }

    @Test func tableLevelDeliveryWithoutTheHypercallLayer() {
        let m = FakeXen(domains: [3])
        var t = EventChannelTable(domain: 3, vcpus: 1)
        t.sharedInfoGFN = 0x4_0001
        let d = t.setPending(port: 200, vcpu: 0, memory: m)
        #expect(d == EventDelivery(domain: 3, vcpu: 0, upcall: true))
        #expect(m.u64(3, 0x4000_1000 + 48 + 3 * 8) == 1 << 8)
        #expect(m.u64(3, 0x4000_1000 + 8) == 1 << 3)
        #expect(t.isPending(port: 200, memory: m) && !t.isMasked(port: 200, memory: m))
        t.clearPending(port: 200, memory: m)
        #expect(!t.isPending(port: 200, memory: m))
        #expect(t.setPending(port: 4096, vcpu: 0, memory: m) == nil, "beyond the 2-level range")
        #expect(t.setPending(port: 1, vcpu: 9, memory: m) == nil, "no such vCPU")
    }
}
