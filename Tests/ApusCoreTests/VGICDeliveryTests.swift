import Testing
@testable import ApusCore

/// ICC_SGI1R_EL1 value (Arm IHI 0069 12.11.19).
private func sgi1r(intid: UInt64, targets: UInt64 = 0, aff1: UInt64 = 0, aff2: UInt64 = 0, aff3: UInt64 = 0,
                   rs: UInt64 = 0, broadcast: Bool = false) -> UInt64 {
    targets | aff1 << 16 | intid << 24 | aff2 << 32 | (broadcast ? 1 << 40 : 0) | rs << 44 | aff3 << 48
}

/// A VGIC with group 1 enabled and the given SPIs/PPIs enabled.
private func enabledVGIC(vcpus: Int = 2, enable: [Int] = []) -> VGIC {
    let g = VGIC(vcpus: vcpus)
    g.distributorControl = 2
    for id in enable {
        for v in 0..<vcpus { g.update(id, vcpu: v) { $0.enabled = true } }
    }
    return g
}

private func decoded(_ lrs: [UInt64]) -> [UInt32] {
    lrs.filter { $0 != 0 }.map { ListRegister(raw: $0).virtualID }
}

/// The list register value a guest leaves behind after it has finished with `intid`.
private func finished(_ intid: UInt32) -> UInt64 {
    ListRegister(virtualID: intid, priority: 0, group1: true, state: .invalid, eoiMaintenance: false).raw
}

@Suite struct VGICDeliveryTests {
    // MARK: list register encoding

    @Test func listRegisterLayout() {
        let lr = ListRegister(virtualID: 27, priority: 0xA0, group1: true, state: .pending, eoiMaintenance: true)
        #expect(lr.raw == 27 | UInt64(0xA0) << 48 | UInt64(1) << 60 | UInt64(1) << 62 | UInt64(1) << 41)
        #expect(lr.virtualID == 27 && lr.priority == 0xA0 && lr.state == .pending && !lr.isFree)
        #expect(ListRegister(virtualID: 40, priority: 0, group1: false, state: .pendingActive, eoiMaintenance: false).raw
                == 40 | UInt64(3) << 62)
        #expect(ListRegister(raw: UInt64(2) << 62 | 33).state == .active)
        #expect(ListRegister(raw: 33).isFree)
    }

    @Test func interruptState() {
        var i = VirtualInterrupt()
        #expect(!i.isPending && !i.wantsDelivery)
        i.line = true
        #expect(i.isPending, "level: line high is pending")
        i.edge = true
        #expect(!i.isPending, "edge: the line does not count")
        i.latch = true
        #expect(i.isPending && !i.wantsDelivery, "disabled")
        i.enabled = true
        #expect(i.wantsDelivery)
        i.inListRegister = true
        #expect(!i.wantsDelivery)
    }

    // MARK: SGIs

    @Test func sgiToOneTarget() {
        let g = enabledVGIC()
        #expect(g.sendSGI(from: 0, value: sgi1r(intid: 3, targets: 0b10)) == [1])
        #expect(g.irq(3, vcpu: 1).latch)
        #expect(!g.irq(3, vcpu: 0).latch)
        #expect(g.needsFill == [false, true])
    }

    @Test func sgiToSelfAndSeveral() {
        let g = enabledVGIC(vcpus: 4)
        #expect(g.sendSGI(from: 0, value: sgi1r(intid: 15, targets: 0b1101)) == [0, 2, 3])
        #expect((0..<4).map { g.irq(15, vcpu: $0).latch } == [true, false, true, true])
    }

    @Test func sgiBroadcastExcludesTheSender() {
        let g = enabledVGIC(vcpus: 4)
        // With IRM set the target list and affinity fields are ignored.
        #expect(g.sendSGI(from: 1, value: sgi1r(intid: 5, targets: 0b10, aff1: 3, broadcast: true)) == [0, 2, 3])
        #expect((0..<4).map { g.irq(5, vcpu: $0).latch } == [true, false, true, true])
    }

    @Test func sgiToTheSecondCluster() {
        let g = enabledVGIC(vcpus: 20)
        // Aff1 = 1: target list bit n is vCPU 16 + n; bit 4 would be vCPU 20, which does not exist.
        #expect(g.sendSGI(from: 0, value: sgi1r(intid: 1, targets: 0b1_1001, aff1: 1)) == [16, 19])
        #expect(g.irq(1, vcpu: 16).latch && g.irq(1, vcpu: 19).latch)
        #expect(!g.irq(1, vcpu: 0).latch && !g.irq(1, vcpu: 3).latch)
    }

    @Test func sgiToAffinitiesNoVCPUHas() {
        let g = enabledVGIC(vcpus: 20)
        #expect(g.sendSGI(from: 0, value: sgi1r(intid: 1, targets: 1, rs: 1)).isEmpty, "RS != 0: Aff0 16...")
        #expect(g.sendSGI(from: 0, value: sgi1r(intid: 1, targets: 1, aff2: 1)).isEmpty)
        #expect(g.sendSGI(from: 0, value: sgi1r(intid: 1, targets: 1, aff3: 1)).isEmpty)
        #expect(g.sendSGI(from: 0, value: sgi1r(intid: 1, targets: 1, aff1: 2)).isEmpty, "cluster 2 is empty")
        #expect((0..<g.vcpuCount).allSatisfy { !g.irq(1, vcpu: $0).latch })
        #expect(g.needsFill.allSatisfy { !$0 })
    }

    @Test func sgiRaisedAgainWhileInAListRegisterKicksItsOwner() {
        let g = enabledVGIC()
        _ = g.sendSGI(from: 0, value: sgi1r(intid: 2, targets: 0b10))
        var lrs = [UInt64](repeating: 0, count: 4)
        _ = g.fill(vcpu: 1, lrs: &lrs)
        #expect(decoded(lrs) == [2])
        #expect(!g.needsFill[1])
        // Still pending in its list register: the owner is kicked to look at it again.
        #expect(g.sendSGI(from: 0, value: sgi1r(intid: 2, targets: 0b10)) == [1])
        #expect(g.irq(2, vcpu: 1).latch)
        #expect(g.needsFill == [false, true])
        _ = g.fill(vcpu: 1, lrs: &lrs)
        #expect(decoded(lrs) == [2], "merged into the pending list register, not loaded twice")
        #expect(ListRegister(raw: lrs[0]).state == .pending)
        #expect(!g.irq(2, vcpu: 1).latch)
    }

    // MARK: fill

    @Test func fillInPriorityOrder() {
        let g = enabledVGIC(vcpus: 2, enable: [27, 40, 41, 42])
        g.update(40, vcpu: 0) { $0.priority = 0x80 }
        g.update(41, vcpu: 0) { $0.priority = 0x20 }
        g.update(42, vcpu: 0) { $0.priority = 0x80 }
        g.update(27, vcpu: 0) { $0.priority = 0x40 }
        for id in [42, 40, 41, 27] { g.raise(id, vcpu: 0) }
        var lrs = [UInt64](repeating: 0, count: 5)
        #expect(g.fill(vcpu: 0, lrs: &lrs) == false)
        #expect(decoded(lrs) == [41, 27, 40, 42], "lower value first; equal priority by INTID")
        #expect(lrs[4] == 0)
        let first = ListRegister(raw: lrs[0])
        #expect(first.priority == 0x20)
        #expect(first.state == .pending)
        #expect(first.raw & (1 << 60) != 0, "group 1")
        for id in [27, 40, 41, 42] {
            #expect(g.irq(id, vcpu: 0).inListRegister)
            #expect(!g.irq(id, vcpu: 0).latch, "latch moves to the list register")
        }
        #expect(g.needsFill[0] == false)
        #expect(g.deliverable(vcpu: 0).isEmpty)
    }

    @Test func fillLimitedByFreeListRegisters() {
        let g = enabledVGIC(vcpus: 1, enable: [32, 33, 34, 35, 36])
        for (n, id) in [32, 33, 34, 35, 36].enumerated() {
            g.update(id, vcpu: 0) { $0.priority = UInt8(0x10 * (5 - n)) }   // 36 best, 32 worst
            g.raise(id, vcpu: 0)
        }
        let busy = ListRegister(virtualID: 27, priority: 0, group1: true, state: .active, eoiMaintenance: false).raw
        var lrs: [UInt64] = [busy, 0, busy, 0]
        #expect(g.fill(vcpu: 0, lrs: &lrs) == true, "some remain: ask for a maintenance interrupt")
        #expect(lrs[0] == busy && lrs[2] == busy, "occupied list registers untouched")
        #expect(ListRegister(raw: lrs[1]).virtualID == 36)
        #expect(ListRegister(raw: lrs[3]).virtualID == 35)
        #expect(g.needsFill[0], "still owed a refill")
        #expect(g.deliverable(vcpu: 0) == [34, 33, 32])
        #expect(g.spis[0].latch && !g.spis[0].inListRegister)

        // The guest finishes with 36; the next best goes in.
        lrs[1] = finished(36)
        g.sync(vcpu: 0, lrs: &lrs)
        #expect(lrs[1] == 0)
        #expect(g.fill(vcpu: 0, lrs: &lrs) == true)
        #expect(ListRegister(raw: lrs[1]).virtualID == 34)
        lrs[0] = 0; lrs[2] = 0
        #expect(g.fill(vcpu: 0, lrs: &lrs) == false)
        #expect(Set(decoded(lrs)) == [32, 33, 34, 35])
        #expect(!g.needsFill[0])
    }

    @Test func eoiMaintenanceOnlyForAssertedLevelLines() {
        let g = enabledVGIC(vcpus: 1, enable: [27, 40, 41])
        g.update(41, vcpu: 0) { $0.edge = true }
        g.raise(1, vcpu: 0)                                 // SGI: edge
        g.raise(41, vcpu: 0)                                // SPI configured edge
        g.raise(40, vcpu: 0)                                // SPI level (reset default), pended by ISPENDR-like latch
        g.setLine(27, vcpu: 0, high: true)                  // PPI level, line high
        var lrs = [UInt64](repeating: 0, count: 4)
        _ = g.fill(vcpu: 0, lrs: &lrs)
        var eoi: [UInt32: Bool] = [:]
        for lr in lrs.map(ListRegister.init(raw:)) { eoi[lr.virtualID] = lr.raw & (1 << 41) != 0 }
        #expect(eoi == [1: false, 41: false, 40: false, 27: true],
                "a level line still asserted may stay so at EOI (look again); only latched (40): no trap at EOI")
    }

    @Test func fillDoesNothingUnlessNeeded() {
        let g = enabledVGIC(vcpus: 1, enable: [40])
        g.update(40, vcpu: 0) { $0.latch = true }
        #expect(g.needsFill[0], "an interrupt that comes to want a list register marks its owner")
        g.needsFill[0] = false                              // as if nobody had asked for a refill
        var lrs = [UInt64](repeating: 0, count: 4)
        #expect(g.fill(vcpu: 0, lrs: &lrs) == false)
        #expect(lrs == [0, 0, 0, 0])
        // hasDeliverable trusts needsFill as fill does.
        #expect(!g.hasDeliverable(vcpu: 0))
        g.needsFill[0] = true
        #expect(g.hasDeliverable(vcpu: 0))
        #expect(g.fill(vcpu: 0, lrs: &lrs) == false)
        #expect(decoded(lrs) == [40])
    }

    @Test func activeAndPendingGoesInAsPendingActive() {
        let g = enabledVGIC(vcpus: 1, enable: [40])
        g.update(40, vcpu: 0) { $0.active = true }
        g.raise(40, vcpu: 0)
        var lrs = [UInt64](repeating: 0, count: 2)
        _ = g.fill(vcpu: 0, lrs: &lrs)
        #expect(ListRegister(raw: lrs[0]).state == .pendingActive)
    }

    @Test func parkedActiveInterruptsGiveWayToOnesTheGuestCanTake() {
        // SPIs made active (ISACTIVER) and pending fill every list register as
        // pending+active, which the hardware never signals: a self-SGI must still get in.
        let g = enabledVGIC(vcpus: 1, enable: [40, 41, 42, 43])
        for id in 40...43 { g.update(id, vcpu: 0) { $0.active = true; $0.priority = 0 }; g.raise(id, vcpu: 0) }
        var lrs = [UInt64](repeating: 0, count: 4)
        _ = g.fill(vcpu: 0, lrs: &lrs)
        #expect(lrs.allSatisfy { ListRegister(raw: $0).state == .pendingActive })
        g.update(0, vcpu: 0) { $0.priority = 0x80 }
        #expect(g.raise(0, vcpu: 0) == 0)
        #expect(g.fill(vcpu: 0, lrs: &lrs), "the parked SPI taken back still waits")
        #expect(decoded(lrs).contains(0))
        let evicted = (40...43).filter { !g.spis[$0 - 32].inListRegister }
        #expect(evicted.count == 1)
        #expect(g.spis[evicted[0] - 32].active && g.spis[evicted[0] - 32].isPending)
    }

    /// Issue 10 (hostile classes g+m+o): SGIs the guest had given a priority its PMR masks sat
    /// in three of the four list registers for good, and another vCPU's flood of urgent SGIs
    /// went through the fourth one by one; room was made only when every list register was
    /// taken, so the virtual timer (PPI 27, 0x80) never got in and the guest waited for it in
    /// vain. The least urgent pending entries must give way to the more urgent ones waiting.
    @Test func maskedPendingEntriesGiveWayToMoreUrgentOnesWhileOthersFlood() {
        let g = enabledVGIC(vcpus: 2, enable: [27])
        for id in [5, 6, 7] { g.update(id, vcpu: 0) { $0.priority = 0xFF } }   // below the guest's PMR
        for id in [2, 3] { g.update(id, vcpu: 0) { $0.priority = 0x00 } }
        g.update(27, vcpu: 0) { $0.priority = 0x80 }
        var lrs = [UInt64](repeating: 0, count: 4)
        for id in [5, 6, 7] { _ = g.sendSGI(from: 1, value: sgi1r(intid: UInt64(id), targets: 1)) }
        _ = g.fill(vcpu: 0, lrs: &lrs)
        _ = g.sendSGI(from: 1, value: sgi1r(intid: 2, targets: 1))
        _ = g.fill(vcpu: 0, lrs: &lrs)
        #expect(Set(decoded(lrs)) == [2, 5, 6, 7])
        var timerIn = false
        for round in 0..<8 {
            // The guest takes and finishes the urgent SGI; the next one is already on its way.
            let n = lrs.firstIndex { ListRegister(raw: $0).priority == 0 && $0 != 0 }!
            let taken = ListRegister(raw: lrs[n]).virtualID
            lrs[n] = finished(taken)
            g.sync(vcpu: 0, lrs: &lrs)
            if round == 0 { g.raise(27, vcpu: 0) }                                  // the timer fires
            _ = g.sendSGI(from: 1, value: sgi1r(intid: taken == 2 ? 3 : 2, targets: 1))
            _ = g.fill(vcpu: 0, lrs: &lrs)
            if decoded(lrs).contains(27) { timerIn = true; break }
        }
        #expect(timerIn, "PPI 27 (0x80) must get a list register before SGIs masked at 0xFF: \(lrs.map { String($0, radix: 16) })")
        // The entry that gave way is pending in the vGIC again, and a refill is still owed.
        let waiting = [5, 6, 7].filter { !g.irq($0, vcpu: 0).inListRegister }
        #expect(waiting.count == 1 && g.irq(waiting[0], vcpu: 0).latch)
        #expect(g.needsFill[0])
    }

    /// A passed-through device SPI goes into a list register with the HW bit and its own
    /// INTID as the physical one, never with an EOI maintenance request (that bit is part
    /// of pINTID then): the guest's deactivation deactivates the device's interrupt.
    @Test func passedThroughSPIsUseTheHWBitWithTheirOwnINTID() {
        let g = enabledVGIC(vcpus: 1, enable: [40, 41])
        let g2 = VGIC(vcpus: 1, spis: 64)
        g2.distributorControl = 2
        g2.update(79, vcpu: 0) { $0.enabled = true }
        g2.passThroughHardware(79)
        g.passThroughHardware(40)
        g.update(40, vcpu: 0) { $0.edge = false }                   // level per ICFGR: no matter
        g.raise(40, vcpu: 0)
        _ = g.setLine(41, vcpu: 0, high: true)
        var lrs = [UInt64](repeating: 0, count: 4)
        _ = g.fill(vcpu: 0, lrs: &lrs)
        let hw = lrs.map(ListRegister.init(raw:)).first { $0.virtualID == 40 }!
        #expect(hw.isHardware && hw.physicalID == 40 && hw.state == .pending)
        #expect(hw.raw == 40 | UInt64(40) << 32 | UInt64(1) << 61 | UInt64(1) << 60 | UInt64(1) << 62)
        let soft = lrs.map(ListRegister.init(raw:)).first { $0.virtualID == 41 }!
        #expect(!soft.isHardware && soft.raw & (1 << 41) != 0, "an emulated level line still asks for its EOI")
        g2.raise(79, vcpu: 0)
        var lrs2 = [UInt64](repeating: 0, count: 4)
        _ = g2.fill(vcpu: 0, lrs: &lrs2)
        #expect(ListRegister(raw: lrs2[0]).physicalID == 79 && ListRegister(raw: lrs2[0]).virtualID == 79)
        g.reset()
        #expect(g.irq(40, vcpu: 0).hardware && !g.irq(41, vcpu: 0).hardware, "the routing survives a reset")
    }

    /// Its pending and active state are the device's: the guest's ISPENDR, ICPENDR,
    /// ISACTIVER and ICACTIVER writes leave it alone (as Xen's vGIC does for hardware IRQs).
    @Test func aPassedThroughSPIsStateIgnoresSetAndClearPendingAndActive() {
        let g = enabledVGIC(vcpus: 1, enable: [40, 42])
        g.passThroughHardware(40)
        let word: UInt64 = 1 << 8 | 1 << 10                         // INTIDs 40 and 42 in word 1
        _ = g.writeDistributor(offset: 0x204, size: 4, value: word)  // ISPENDR1
        #expect(!g.irq(40, vcpu: 0).isPending && g.irq(42, vcpu: 0).isPending)
        _ = g.writeDistributor(offset: 0x304, size: 4, value: word)  // ISACTIVER1
        #expect(!g.irq(40, vcpu: 0).active && g.irq(42, vcpu: 0).active)
        g.raise(40, vcpu: 0)
        var lrs = [UInt64](repeating: 0, count: 4)
        _ = g.fill(vcpu: 0, lrs: &lrs)
        // Acknowledged by the guest: active in its list register.
        for n in lrs.indices where ListRegister(raw: lrs[n]).virtualID == 40 {
            lrs[n] = (lrs[n] & ~(UInt64(3) << 62)) | (ListRegister.State.active.rawValue << 62)
        }
        g.sync(vcpu: 0, lrs: &lrs)
        _ = g.writeDistributor(offset: 0x384, size: 4, value: word)  // ICACTIVER1
        _ = g.writeDistributor(offset: 0x284, size: 4, value: word)  // ICPENDR1
        _ = g.fill(vcpu: 0, lrs: &lrs)
        let hw = lrs.map(ListRegister.init(raw:)).first { $0.virtualID == 40 }
        #expect(hw?.state == .active, "still the guest's to deactivate")
    }

    /// Raised again while the guest still has it active (a race with its deactivation): not
    /// made pending+active, loaded again once the entry is free. A vCPU reset hands back the
    /// physical INTIDs it had active, for the hypervisor to deactivate.
    @Test func aPassedThroughSPIIsNeverPendingAndActiveAndAResetHandsItBack() {
        let g = enabledVGIC(vcpus: 1, enable: [40])
        g.passThroughHardware(40)
        g.raise(40, vcpu: 0)
        var lrs = [UInt64](repeating: 0, count: 4)
        _ = g.fill(vcpu: 0, lrs: &lrs)
        lrs[0] = (lrs[0] & ~(UInt64(3) << 62)) | (ListRegister.State.active.rawValue << 62)
        g.sync(vcpu: 0, lrs: &lrs)
        g.raise(40, vcpu: 0)
        _ = g.fill(vcpu: 0, lrs: &lrs)
        #expect(ListRegister(raw: lrs[0]).state == .active && decoded(lrs) == [40])
        #expect(g.releaseListRegisters(vcpu: 0, lrs: lrs) == [40])
        let g2 = enabledVGIC(vcpus: 1, enable: [40])
        g2.passThroughHardware(40)
        g2.raise(40, vcpu: 0)
        var lrs2 = [UInt64](repeating: 0, count: 4)
        _ = g2.fill(vcpu: 0, lrs: &lrs2)
        lrs2[0] = finished(40)                                       // deactivated by the guest
        g2.sync(vcpu: 0, lrs: &lrs2)
        g2.raise(40, vcpu: 0)
        _ = g2.fill(vcpu: 0, lrs: &lrs2)
        #expect(ListRegister(raw: lrs2[0]).state == .pending && ListRegister(raw: lrs2[0]).isHardware)
        #expect(g2.releaseListRegisters(vcpu: 0, lrs: lrs2).isEmpty, "pending only: the physical one is not active")
    }

    @Test func acknowledgedAndRaisedAgainIsNotParked() {
        let g = enabledVGIC(vcpus: 1, enable: [40, 41, 42, 43])
        for id in 40...43 { g.raise(id, vcpu: 0) }
        var lrs = [UInt64](repeating: 0, count: 4)
        _ = g.fill(vcpu: 0, lrs: &lrs)
        // The guest acknowledges all four; they are raised again while active.
        for n in 0..<4 { lrs[n] = (lrs[n] & ~(UInt64(3) << 62)) | (ListRegister.State.active.rawValue << 62) }
        g.sync(vcpu: 0, lrs: &lrs)
        for id in 40...43 { g.raise(id, vcpu: 0) }
        _ = g.fill(vcpu: 0, lrs: &lrs)
        #expect(lrs.allSatisfy { ListRegister(raw: $0).state == .pendingActive })
        g.update(0, vcpu: 0) { $0.priority = 0 }
        g.raise(0, vcpu: 0)
        _ = g.fill(vcpu: 0, lrs: &lrs)
        #expect(!decoded(lrs).contains(0), "interrupts the guest is handling keep their list registers")
    }

    // MARK: sources

    @Test func raiseKicksTheOwnerOnlyWhenDeliverable() {
        let g = enabledVGIC(vcpus: 2)
        #expect(g.raise(40, vcpu: 0) == nil, "disabled")
        #expect(g.spis[8].latch)
        #expect(g.needsFill == [false, false])
        #expect(g.raise(27, vcpu: 1) == nil)
        g.update(27, vcpu: 1) { $0.enabled = true }
        g.update(27, vcpu: 1) { $0.latch = false }
        #expect(g.raise(27, vcpu: 1) == 1)
        #expect(g.needsFill == [false, true])
        #expect(!g.irq(27, vcpu: 0).latch, "PPIs are per vCPU")
    }

    @Test func raiseRejectsInvalidIds() {
        let g = enabledVGIC(vcpus: 2)
        #expect(g.raise(64, vcpu: 0) == nil)
        #expect(g.raise(-1, vcpu: 0) == nil)
        #expect(g.raise(5, vcpu: 2) == nil)
        #expect(g.setLine(64, vcpu: 0, high: true) == nil)
        #expect(g.setLine(27, vcpu: -1, high: true) == nil)
        #expect(g.needsFill == [false, false])
    }

    @Test func enablingAPendingInterruptDeliversIt() {
        let g = enabledVGIC(vcpus: 2)
        g.raise(40, vcpu: 0)
        var lrs = [UInt64](repeating: 0, count: 4)
        #expect(g.fill(vcpu: 0, lrs: &lrs) == false)
        #expect(lrs == [0, 0, 0, 0], "disabled interrupts are not delivered")
        #expect(!g.hasDeliverable(vcpu: 0))
        #expect(g.writeDistributor(offset: 0x104, size: 4, value: 1 << 8) == .handled(0))
        #expect(g.needsFill == [true, false], "the SPI's owner (IROUTER 0) refills")
        #expect(g.fill(vcpu: 0, lrs: &lrs) == false)
        #expect(decoded(lrs) == [40])
    }

    @Test func groupDisabledDeliversNothing() {
        let g = enabledVGIC(vcpus: 1, enable: [27, 40])
        g.distributorControl = 0
        g.raise(27, vcpu: 0)
        g.raise(40, vcpu: 0)
        var lrs = [UInt64](repeating: 0, count: 4)
        #expect(g.fill(vcpu: 0, lrs: &lrs) == false)
        #expect(lrs == [0, 0, 0, 0])
        #expect(!g.hasDeliverable(vcpu: 0))
        #expect(g.writeDistributor(offset: 0, size: 4, value: 2) == .handled(0))
        #expect(g.hasDeliverable(vcpu: 0))
        #expect(g.fill(vcpu: 0, lrs: &lrs) == false)
        #expect(decoded(lrs) == [27, 40])
    }

    // MARK: sync

    @Test func syncFreesFinishedInterrupts() {
        let g = enabledVGIC(vcpus: 1, enable: [40])
        g.raise(40, vcpu: 0)
        var lrs = [UInt64](repeating: 0, count: 2)
        _ = g.fill(vcpu: 0, lrs: &lrs)
        #expect(!g.needsFill[0])
        lrs[0] = finished(40)
        g.sync(vcpu: 0, lrs: &lrs)
        #expect(lrs == [0, 0])
        #expect(!g.spis[8].inListRegister && !g.spis[8].active)
        #expect(g.needsFill[0], "a list register came free")
        #expect(g.fill(vcpu: 0, lrs: &lrs) == false)
        #expect(lrs == [0, 0], "an edge delivered once is not delivered again")
    }

    @Test func syncRecordsTheActiveState() {
        let g = enabledVGIC(vcpus: 1, enable: [40])
        g.raise(40, vcpu: 0)
        var lrs = [UInt64](repeating: 0, count: 2)
        _ = g.fill(vcpu: 0, lrs: &lrs)
        let pendingLR = lrs[0]
        g.sync(vcpu: 0, lrs: &lrs)
        #expect(lrs[0] == pendingLR, "still pending: left alone")
        #expect(!g.spis[8].active && g.spis[8].inListRegister)
        lrs[0] = ListRegister(virtualID: 40, priority: 0, group1: true, state: .active, eoiMaintenance: false).raw
        let activeLR = lrs[0]
        g.sync(vcpu: 0, lrs: &lrs)
        #expect(lrs[0] == activeLR)
        #expect(g.spis[8].active && g.spis[8].inListRegister)
        lrs[0] = finished(40)
        g.sync(vcpu: 0, lrs: &lrs)
        #expect(!g.spis[8].active && !g.spis[8].inListRegister)
    }

    @Test func syncDropsListRegistersWithBadIds() {
        let g = enabledVGIC(vcpus: 1)
        var lrs = [ListRegister(virtualID: 1020, priority: 0, group1: true, state: .pending, eoiMaintenance: false).raw]
        g.sync(vcpu: 0, lrs: &lrs)
        #expect(lrs == [0])
    }

    /// A level interrupt loaded as a latched event (no EOI maintenance) whose line then rises
    /// while it sits in the list register gets EOI maintenance at the next fill.
    @Test func lineRisingWhileLoadedAsksForEOIMaintenance() {
        let g = enabledVGIC(vcpus: 1, enable: [40])
        g.raise(40, vcpu: 0)
        var lrs = [UInt64](repeating: 0, count: 2)
        _ = g.fill(vcpu: 0, lrs: &lrs)
        #expect(decoded(lrs) == [40])
        #expect(lrs[0] & (1 << 41) == 0, "only latched: the guest's EOI needs no trap")
        #expect(g.setLine(40, vcpu: 0, high: true) == 0, "kicks its owner")
        _ = g.fill(vcpu: 0, lrs: &lrs)
        #expect(lrs[0] & (1 << 41) != 0, "the line is high now: look again at the EOI")
    }

    @Test func levelInterruptStillHighIsDeliveredAgain() {
        let g = enabledVGIC(vcpus: 1, enable: [27])
        #expect(g.setLine(27, vcpu: 0, high: true) == 0)
        #expect(g.setLine(27, vcpu: 0, high: true) == nil, "no new edge, no kick")
        var lrs = [UInt64](repeating: 0, count: 2)
        _ = g.fill(vcpu: 0, lrs: &lrs)
        #expect(decoded(lrs) == [27])
        #expect(lrs[0] & (1 << 41) != 0, "EOI maintenance: the guest's EOI brings the hypervisor back")
        // The guest acknowledges, handles and deactivates it, but the timer condition still holds.
        lrs[0] = finished(27)
        g.sync(vcpu: 0, lrs: &lrs)
        #expect(g.fill(vcpu: 0, lrs: &lrs) == false)
        #expect(decoded(lrs) == [27], "re-delivered")
        // Now the source drops the line before the guest finishes.
        g.setLine(27, vcpu: 0, high: false)
        lrs[0] = finished(27)
        g.sync(vcpu: 0, lrs: &lrs)
        _ = g.fill(vcpu: 0, lrs: &lrs)
        #expect(lrs == [0, 0])
    }

    @Test func edgeRaisedWhileActiveIsDeliveredAgain() {
        let g = enabledVGIC(vcpus: 1, enable: [40])
        g.update(40, vcpu: 0) { $0.edge = true }
        g.raise(40, vcpu: 0)
        var lrs = [UInt64](repeating: 0, count: 2)
        _ = g.fill(vcpu: 0, lrs: &lrs)
        // The guest acknowledges it: active in the list register.
        lrs[0] = ListRegister(virtualID: 40, priority: 0, group1: true, state: .active, eoiMaintenance: false).raw
        g.sync(vcpu: 0, lrs: &lrs)
        #expect(g.spis[8].active)
        // A new edge while the guest handles it: kick the owner (its EOI would not trap).
        #expect(g.raise(40, vcpu: 0) == 0)
        #expect(g.needsFill[0])
        #expect(g.fill(vcpu: 0, lrs: &lrs) == false)
        #expect(decoded(lrs) == [40], "not loaded twice")
        #expect(ListRegister(raw: lrs[0]).state == .pendingActive, "taken again after the guest's EOI")
        #expect(lrs[1] == 0)
        #expect(!g.spis[8].latch, "the edge is now held by the list register")
        // The hardware drops active at EOI, the guest takes it again and finishes.
        lrs[0] = finished(40)
        g.sync(vcpu: 0, lrs: &lrs)
        _ = g.fill(vcpu: 0, lrs: &lrs)
        #expect(lrs == [0, 0], "two edges, two deliveries, no third")
    }

    @Test func edgeRaisedAfterTheListRegisterEmptiesIsDelivered() {
        let g = enabledVGIC(vcpus: 1, enable: [40])
        g.update(40, vcpu: 0) { $0.edge = true }
        g.raise(40, vcpu: 0)
        var lrs = [UInt64](repeating: 0, count: 2)
        _ = g.fill(vcpu: 0, lrs: &lrs)
        lrs[0] = finished(40)
        g.sync(vcpu: 0, lrs: &lrs)
        _ = g.fill(vcpu: 0, lrs: &lrs)
        #expect(lrs == [0, 0])
        #expect(g.raise(40, vcpu: 0) == 0)
        #expect(g.fill(vcpu: 0, lrs: &lrs) == false)
        #expect(decoded(lrs) == [40])
        #expect(ListRegister(raw: lrs[0]).state == .pending)
    }

    @Test func disabledInterruptInAListRegisterIsNotKicked() {
        let g = enabledVGIC(vcpus: 1, enable: [40])
        g.raise(40, vcpu: 0)
        var lrs = [UInt64](repeating: 0, count: 2)
        _ = g.fill(vcpu: 0, lrs: &lrs)
        g.update(40, vcpu: 0) { $0.enabled = false }
        #expect(g.raise(40, vcpu: 0) == nil)
        #expect(!g.needsFill[0])
    }

    @Test func resetReturnsToThePowerOnState() {
        let g = enabledVGIC(vcpus: 2, enable: [27, 40])
        _ = g.writeDistributor(offset: 0x6000 + 8 * 40, size: 8, value: 1, vcpu: 0)
        g.raise(27, vcpu: 1)
        g.raise(40, vcpu: 0)
        g.reset()
        let fresh = VGIC(vcpus: 2)
        for v in 0..<2 { for id in 0..<g.intidLimit { #expect(g.irq(id, vcpu: v) == fresh.irq(id, vcpu: v)) } }
        #expect(g.privateWant == [0, 0] && g.spiWant == [0])
        #expect(g.spiRoute == fresh.spiRoute && g.distributorControl == 0 && g.crossKicks == 0)
        #expect(g.needsFill == [false, false])
    }

    // MARK: kicks for register writes made by another vCPU

    @Test func enablingAnotherVCPUsPendingPPIInItsRedistributorKicksIt() {
        let g = enabledVGIC(vcpus: 2)
        _ = g.raise(20, vcpu: 1)                                  // pending, disabled
        g.needsFill = [false, false]
        let isenabler0 = GICv3Layout.redistributorStride + 0x1_0000 + 0x100
        #expect(g.writeRedistributor(offset: isenabler0, size: 4, value: 1 << 20, writer: 0) == .handled(0))
        #expect(g.crossKicks == 0b10)
        #expect(g.needsFill[1])
        #expect(g.deliverable(vcpu: 1) == [20])
    }

    @Test func enablingAnSPIRoutedToAnotherVCPUKicksItsOwnerOnly() {
        let g = enabledVGIC(vcpus: 2)
        _ = g.raise(40, vcpu: 0)                                  // routed to vCPU 0, disabled
        g.needsFill = [false, false]
        #expect(g.writeDistributor(offset: 0x104, size: 4, value: 1 << 8, vcpu: 1) == .handled(0))
        #expect(g.crossKicks == 0b01)
        #expect(g.needsFill == [true, false])
    }

    @Test func aWriteToTheWritersOwnStateKicksNobody() {
        let g = enabledVGIC(vcpus: 2)
        _ = g.raise(40, vcpu: 0)
        _ = g.raise(20, vcpu: 0)
        #expect(g.writeDistributor(offset: 0x104, size: 4, value: 1 << 8, vcpu: 0) == .handled(0))
        #expect(g.writeRedistributor(offset: 0x1_0000 + 0x100, size: 4, value: 1 << 20, writer: 0) == .handled(0))
        #expect(g.crossKicks == 0)
        #expect(g.needsFill[0])
    }

    @Test func disablingAnInterruptNobodyWantsKicksNobody() {
        let g = enabledVGIC(vcpus: 2, enable: [40])
        #expect(g.writeDistributor(offset: 0x184, size: 4, value: 1 << 8, vcpu: 1) == .handled(0))
        #expect(g.crossKicks == 0)
    }

    @Test func reroutingAPendingSPIKicksItsNewOwner() {
        let g = enabledVGIC(vcpus: 2, enable: [45])
        _ = g.raise(45, vcpu: 0)
        g.crossKicks = 0
        g.needsFill = [false, false]
        #expect(g.writeDistributor(offset: 0x6000 + 8 * 45, size: 8, value: 1, vcpu: 0) == .handled(0))
        #expect(g.crossKicks == 0b10)
        #expect(g.needsFill[1])
    }

    @Test func anSPIStillHeldByItsPreviousTargetIsThatVCPUsBusiness() {
        let g = enabledVGIC(vcpus: 2, enable: [40])
        _ = g.writeDistributor(offset: 0x6000 + 8 * 40, size: 8, value: 1, vcpu: 0)   // to vCPU 1
        _ = g.raise(40, vcpu: 0)
        var lrs1 = [UInt64](repeating: 0, count: 4)
        _ = g.fill(vcpu: 1, lrs: &lrs1)
        #expect(decoded(lrs1) == [40])
        _ = g.writeDistributor(offset: 0x6000 + 8 * 40, size: 8, value: 0, vcpu: 0)   // back to vCPU 0
        g.needsFill = [false, false]
        g.crossKicks = 0
        #expect(g.writeDistributor(offset: 0x184, size: 4, value: 1 << 8, vcpu: 0) == .handled(0))  // ICENABLER
        #expect(g.needsFill[1], "vCPU 1 holds it in a list register")
        #expect(g.crossKicks == 0b10)
        _ = g.fill(vcpu: 1, lrs: &lrs1)
        #expect(lrs1 == [0, 0, 0, 0], "a disabled pending interrupt goes back to the vGIC")
    }

    @Test func enablingTheDistributorKicksTheOtherVCPUs() {
        let g = VGIC(vcpus: 3)
        #expect(g.writeDistributor(offset: 0, size: 4, value: 2, vcpu: 1) == .handled(0))
        #expect(g.crossKicks == 0b101)
        #expect(g.needsFill == [true, true, true])
    }

    // MARK: SPI routing

    @Test func spiGoesToTheVCPUNamedByIROUTER() {
        let g = enabledVGIC(vcpus: 2, enable: [45])
        #expect(g.writeDistributor(offset: 0x6000 + 8 * 45, size: 8, value: 1) == .handled(0))
        g.needsFill = [false, false]
        #expect(g.raise(45, vcpu: 0) == 1, "the vcpu argument does not matter for SPIs")
        #expect(g.needsFill == [false, true])
        #expect(g.deliverable(vcpu: 0).isEmpty)
        #expect(g.deliverable(vcpu: 1) == [45])
        var lrs0 = [UInt64](repeating: 0, count: 2), lrs1 = lrs0
        g.needsFill = [true, true]
        _ = g.fill(vcpu: 0, lrs: &lrs0)
        _ = g.fill(vcpu: 1, lrs: &lrs1)
        #expect(lrs0 == [0, 0])
        #expect(decoded(lrs1) == [45])
    }

    /// An SPI re-routed to vCPU 1 while it sat in vCPU 0's list register, raised again there:
    /// when vCPU 0 finishes with it, vCPU 1 (its owner now) must be marked and named for a kick,
    /// or it would wait (blocked in WFI) for an unrelated interrupt.
    @Test func spiFreedFromAnotherVCPUsListRegisterGoesToItsNewOwner() {
        let g = enabledVGIC(vcpus: 2, enable: [45])
        g.raise(45, vcpu: 0)
        var lrs0 = [UInt64](repeating: 0, count: 2), lrs1 = lrs0
        _ = g.fill(vcpu: 0, lrs: &lrs0)
        #expect(decoded(lrs0) == [45])
        #expect(g.writeDistributor(offset: 0x6000 + 8 * 45, size: 8, value: 1) == .handled(0))   // IROUTER: vCPU 1
        g.raise(45, vcpu: 0)                                // pending again while in vCPU 0's list register
        _ = g.fill(vcpu: 1, lrs: &lrs1)                     // vCPU 1 looks: still held by vCPU 0
        #expect(lrs1 == [0, 0])
        g.crossKicks = 0
        lrs0[0] = finished(45)                              // vCPU 0's guest finishes with it
        g.sync(vcpu: 0, lrs: &lrs0)
        #expect(g.needsFill[1])
        #expect(g.crossKicks == 0b10, "vCPU 1 is named for a kick")
        #expect(g.hasDeliverable(vcpu: 1))
        _ = g.fill(vcpu: 1, lrs: &lrs1)
        #expect(decoded(lrs1) == [45])
    }

    /// PSCI CPU_ON after CPU_OFF: what the vCPU's saved list registers held comes back to the
    /// vGIC (pending stays pending, active is forgotten), so it can be delivered again.
    @Test func releasedListRegistersComeBackToTheVGIC() {
        let g = enabledVGIC(vcpus: 1, enable: [27, 40])
        g.raise(27, vcpu: 0)
        g.raise(40, vcpu: 0)
        var lrs = [UInt64](repeating: 0, count: 2)
        _ = g.fill(vcpu: 0, lrs: &lrs)
        #expect(Set(decoded(lrs)) == [27, 40])
        // The guest acknowledged 27 (active) and powered the vCPU off; 40 is still pending.
        let i27 = lrs.firstIndex { ListRegister(raw: $0).virtualID == 27 }!
        lrs[i27] = (lrs[i27] & ~(UInt64(3) << 62)) | (ListRegister.State.active.rawValue << 62)
        g.releaseListRegisters(vcpu: 0, lrs: lrs)
        #expect(!g.irq(27, vcpu: 0).inListRegister && !g.irq(27, vcpu: 0).active && !g.irq(27, vcpu: 0).isPending)
        #expect(!g.irq(40, vcpu: 0).inListRegister && g.irq(40, vcpu: 0).isPending)
        var fresh = [UInt64](repeating: 0, count: 2)
        _ = g.fill(vcpu: 0, lrs: &fresh)
        #expect(decoded(fresh) == [40])
        g.raise(27, vcpu: 0)
        _ = g.fill(vcpu: 0, lrs: &fresh)
        #expect(Set(decoded(fresh)) == [27, 40], "27 can be delivered again")
    }

    @Test func spiRoutingByAff1() {
        let g = VGIC(vcpus: 20)
        g.spiRoute[13] = 0x102
        #expect(g.targetVCPU(ofSPI: 45) == 18)
        #expect(g.owner(of: 45, vcpu: 3) == 18)
        #expect(g.owner(of: 27, vcpu: 3) == 3, "private interrupts belong to their vCPU")
    }

    @Test func spiRoutedToNoVCPUFallsBackToVCPU0() {
        let g = VGIC(vcpus: 2)
        g.spiRoute[13] = 5                                  // Aff0 = 5: no such vCPU
        #expect(g.targetVCPU(ofSPI: 45) == 0)
        g.spiRoute[13] = 0x10                               // Aff0 = 16
        #expect(g.targetVCPU(ofSPI: 45) == 0)
    }

    /// IROUTER's Aff2 and Aff3 are part of the affinity: 0.1.0.1 or 1.0.0.1 name no vCPU
    /// (every vCPU has Aff2 = Aff3 = 0), so they must not reach vCPU 1.
    @Test func spiRoutedToANonZeroAff2OrAff3FallsBackToVCPU0() {
        let g = VGIC(vcpus: 2)
        g.spiRoute[13] = 0x1_0001                           // Aff2 = 1, Aff0 = 1
        #expect(g.targetVCPU(ofSPI: 45) == 0)
        g.spiRoute[13] = 0x1_0000_0001                      // Aff3 = 1, Aff0 = 1
        #expect(g.targetVCPU(ofSPI: 45) == 0)
    }

    @Test func hasDeliverableFollowsPendingEnabledState() {
        let g = enabledVGIC(vcpus: 2, enable: [27])
        #expect(!g.hasDeliverable(vcpu: 1))
        g.raise(27, vcpu: 1)
        #expect(g.hasDeliverable(vcpu: 1))
        #expect(!g.hasDeliverable(vcpu: 0))
    }

    /// The want masks (what the trap-return and WFI paths read instead of scanning) always
    /// equal `wantsDelivery` of every interrupt, through a long random mix of raises, lines,
    /// enables, register writes and fills (fixed seed).
    @Test func wantMasksFollowEveryInterruptState() {
        let g = enabledVGIC(vcpus: 2, enable: [27, 33, 40, 60])
        var rng: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ n: Int) -> Int {
            rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17
            return Int(rng % UInt64(n))
        }
        var lrs = [[UInt64]](repeating: [UInt64](repeating: 0, count: 4), count: 2)
        for _ in 0..<5000 {
            let id = next(g.intidLimit), v = next(2)
            switch next(6) {
            case 0: g.raise(id, vcpu: v)
            case 1: g.setLine(id, vcpu: v, high: next(2) == 0)
            case 2: g.update(id, vcpu: v) { $0.enabled.toggle() }
            case 3: _ = g.fill(vcpu: v, lrs: &lrs[v])
            case 4:
                // The guest finished one list register.
                let n = next(4)
                if lrs[v][n] != 0 { lrs[v][n] &= ~(UInt64(3) << 62) }
                g.sync(vcpu: v, lrs: &lrs[v])
            case 5:
                // A vCPU writes an enable or pending bank: an SPI word of the distributor,
                // or the private word of either redistributor.
                let bank = UInt64(0x100 + 0x80 * next(4)), bit = UInt64(1) << UInt64(next(32))
                if next(2) == 0 {
                    _ = g.writeDistributor(offset: bank + 4, size: 4, value: bit, vcpu: v)
                } else {
                    let frame = UInt64(next(2)) * GICv3Layout.redistributorStride + 0x1_0000
                    _ = g.writeRedistributor(offset: frame + bank, size: 4, value: bit, writer: v)
                }
            default: g.needsFill = [true, true]
            }
            for vc in 0..<2 {
                var p: UInt32 = 0
                for i in 0..<VGIC.privateCount where g.irq(i, vcpu: vc).wantsDelivery { p |= 1 << UInt32(i) }
                #expect(g.privateWant[vc] == p)
            }
            var w: UInt64 = 0
            for s in 0..<g.spiCount where g.spis[s].wantsDelivery { w |= 1 << UInt64(s) }
            #expect(g.spiWant[0] == w)
        }
    }
}
