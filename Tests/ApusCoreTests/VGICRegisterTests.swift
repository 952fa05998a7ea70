import Testing
@testable import ApusCore

// GICv3 register offsets (Arm IHI 0069).
private enum GICD {
    static let ctlr: UInt64 = 0x0000, typer: UInt64 = 0x0004, iidr: UInt64 = 0x0008
    static let igroupr: UInt64 = 0x0080, isenabler: UInt64 = 0x0100, icenabler: UInt64 = 0x0180
    static let ispendr: UInt64 = 0x0200, icpendr: UInt64 = 0x0280
    static let isactiver: UInt64 = 0x0300, icactiver: UInt64 = 0x0380
    static let ipriorityr: UInt64 = 0x0400, itargetsr: UInt64 = 0x0800, icfgr: UInt64 = 0x0C00
    static let irouter: UInt64 = 0x6000, pidr2: UInt64 = 0xFFE8
}

private enum GICR {
    static let stride: UInt64 = 0x2_0000
    static let sgiBase: UInt64 = 0x1_0000
    static let ctlr: UInt64 = 0x0000, iidr: UInt64 = 0x0004, typer: UInt64 = 0x0008, waker: UInt64 = 0x0014
    static let propbaser: UInt64 = 0x0070, pendbaser: UInt64 = 0x0078, pidr2: UInt64 = 0xFFE8
    /// Offset of an SGI_base register of vCPU `v`'s redistributor.
    static func sgi(_ v: Int, _ off: UInt64) -> UInt64 { UInt64(v) * stride + sgiBase + off }
    static func rd(_ v: Int, _ off: UInt64) -> UInt64 { UInt64(v) * stride + off }
}

/// What an access that faulted reads as in these tests (after recording an issue).
private let faulted: UInt64 = 0xDEAD_BEEF_DEAD_BEEF

extension VGIC {
    fileprivate func rd(_ off: UInt64, _ size: Int = 4, sourceLocation: SourceLocation = #_sourceLocation) -> UInt64 {
        guard case .handled(let v) = readDistributor(offset: off, size: size) else {
            Issue.record("GICD read of offset \(off) size \(size) faulted", sourceLocation: sourceLocation)
            return faulted
        }
        return v
    }
    fileprivate func wd(_ off: UInt64, _ value: UInt64, _ size: Int = 4, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(writeDistributor(offset: off, size: size, value: value) == .handled(0), sourceLocation: sourceLocation)
    }
    fileprivate func rr(_ off: UInt64, _ size: Int = 4, sourceLocation: SourceLocation = #_sourceLocation) -> UInt64 {
        guard case .handled(let v) = readRedistributor(offset: off, size: size) else {
            Issue.record("GICR read of offset \(off) size \(size) faulted", sourceLocation: sourceLocation)
            return faulted
        }
        return v
    }
    fileprivate func wr(_ off: UInt64, _ value: UInt64, _ size: Int = 4, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(writeRedistributor(offset: off, size: size, value: value) == .handled(0), sourceLocation: sourceLocation)
    }
}

@Suite struct VGICRegisterTests {
    // MARK: identification

    @Test func layout() {
        #expect(GICv3Layout.distributorBase == 0x0300_1000)
        #expect(GICv3Layout.distributorSize == 0x1_0000)
        #expect(GICv3Layout.redistributorBase == 0x0302_0000)
        #expect(GICv3Layout.redistributorStride == 0x2_0000)
    }

    @Test func distributorControl() {
        let g = VGIC(vcpus: 2)
        #expect(g.rd(GICD.ctlr) == 0x50, "ARE (bit 4) and DS (bit 6) read as one; groups disabled")
        #expect(!g.groupsEnabled)
        g.wd(GICD.ctlr, 0x2)
        #expect(g.rd(GICD.ctlr) == 0x52)
        #expect(g.groupsEnabled)
        g.wd(GICD.ctlr, 0xFFFF_FFFF)
        #expect(g.rd(GICD.ctlr) == 0x53, "only EnableGrp0/1 are writable")
        #expect(g.distributorControl == 3)
        g.wd(GICD.ctlr, 0)
        #expect(g.rd(GICD.ctlr) == 0x50)
        #expect(!g.groupsEnabled)
    }

    @Test func distributorTyper() {
        let typer = VGIC(vcpus: 2).rd(GICD.typer)
        #expect(typer & 0x1F == 1, "ITLinesNumber: 32 SPIs -> INTIDs up to 63")
        #expect((typer >> 19) & 0x1F == 9, "IDbits: 10-bit INTIDs")
        #expect(typer & (1 << 17) == 0, "no LPIs")
        #expect(typer & (1 << 16) == 0, "no MBIS")
        #expect(typer & (1 << 25) != 0, "No1N")
        #expect((typer >> 5) & 7 == 1, "CPUNumber: 2 vCPUs, as Xen (min(vCPUs, 8) - 1)")
        #expect(typer == 0x0248_0021)
        #expect((VGIC(vcpus: 12).rd(GICD.typer) >> 5) & 7 == 7)
        #expect((VGIC(vcpus: 1).rd(GICD.typer) >> 5) & 7 == 0)
        #expect(VGIC(vcpus: 1, spis: 64).rd(GICD.typer) & 0x1F == 2)
        #expect(VGIC(vcpus: 1, spis: 96).rd(GICD.typer) & 0x1F == 3)
    }

    @Test func identificationRegisters() {
        let g = VGIC(vcpus: 2)
        #expect(g.rd(GICD.iidr) == 0x43B)
        #expect(g.rd(GICD.pidr2) == 0x3B)
        #expect((g.rd(GICD.pidr2) >> 4) & 0xF == 3, "ArchRev = GICv3")
        #expect(g.rr(GICR.rd(0, GICR.iidr)) == 0x43B)
        #expect(g.rr(GICR.rd(0, GICR.pidr2)) == 0x3B)
        #expect(g.rr(GICR.rd(1, GICR.pidr2)) == 0x3B)
        #expect(g.rr(GICR.rd(0, GICR.ctlr)) == 0)
    }

    // MARK: enable

    @Test func distributorEnableSetAndClear() {
        let g = VGIC(vcpus: 2)
        g.wd(GICD.isenabler + 4, 0x21)                      // SPIs 32 and 37
        #expect(g.spis[0].enabled && g.spis[5].enabled)
        #expect(!g.spis[1].enabled)
        #expect(g.rd(GICD.isenabler + 4) == 0x21)
        #expect(g.rd(GICD.icenabler + 4) == 0x21, "ICENABLER reads the same state")
        g.wd(GICD.isenabler + 4, 0)
        #expect(g.rd(GICD.isenabler + 4) == 0x21, "writing 0 to ISENABLER changes nothing")
        g.wd(GICD.icenabler + 4, 0x1)
        #expect(g.rd(GICD.isenabler + 4) == 0x20)
        #expect(!g.spis[0].enabled && g.spis[5].enabled)
        g.wd(GICD.icenabler + 4, 0)
        #expect(g.rd(GICD.isenabler + 4) == 0x20, "writing 0 to ICENABLER changes nothing")
    }

    @Test func distributorPrivateBankIsRAZWI() {
        let g = VGIC(vcpus: 2)
        #expect(g.rd(GICD.isenabler) == 0, "SGIs/PPIs belong to the redistributors")
        g.wd(GICD.isenabler, 0xFFFF_FFFF)
        g.wd(GICD.ispendr, 0xFFFF_FFFF)
        #expect(g.rd(GICD.isenabler) == 0)
        #expect(g.irq(27, vcpu: 0).enabled == false)
        #expect(g.irq(27, vcpu: 1).latch == false)
        #expect(g.rd(GICD.isenabler + 8) == 0, "beyond the last SPI")
        g.wd(GICD.isenabler + 8, 0xFFFF_FFFF)
        #expect(g.rd(GICD.isenabler + 8) == 0)
    }

    @Test func redistributorEnableAndSGIsAlwaysEnabled() {
        let g = VGIC(vcpus: 2)
        #expect(g.rr(GICR.sgi(0, GICD.isenabler)) == 0xFFFF, "SGIs enabled from reset")
        g.wr(GICR.sgi(0, GICD.icenabler), 0xFFFF_FFFF)
        #expect(g.rr(GICR.sgi(0, GICD.isenabler)) == 0xFFFF, "SGIs cannot be disabled")
        g.wr(GICR.sgi(0, GICD.isenabler), 1 << 27)
        #expect(g.rr(GICR.sgi(0, GICD.isenabler)) == 0x0800_FFFF)
        #expect(g.irq(27, vcpu: 0).enabled)
        #expect(g.rr(GICR.sgi(1, GICD.isenabler)) == 0xFFFF, "banked per vCPU")
        #expect(!g.irq(27, vcpu: 1).enabled)
        g.wr(GICR.sgi(0, GICD.icenabler), 1 << 27)
        #expect(g.rr(GICR.sgi(0, GICD.icenabler)) == 0xFFFF)
        #expect(g.rr(GICR.sgi(0, GICD.isenabler + 4)) == 0, "only INTIDs 0...31 live in a redistributor")
    }

    @Test func groupRegistersReadAllGroup1() {
        let g = VGIC(vcpus: 1)
        #expect(g.rd(GICD.igroupr + 4) == 0xFFFF_FFFF)
        #expect(g.rd(GICD.igroupr) == 0)
        #expect(g.rr(GICR.sgi(0, GICD.igroupr)) == 0xFFFF_FFFF)
        g.wd(GICD.igroupr + 4, 0)
        #expect(g.rd(GICD.igroupr + 4) == 0xFFFF_FFFF, "group 0 is not offered")
    }

    // MARK: pending and active

    @Test func pendingSetAndClear() {
        let g = VGIC(vcpus: 2)
        g.wd(GICD.ispendr + 4, 1 << 1)                      // SPI 33
        #expect(g.spis[1].latch)
        #expect(g.rd(GICD.ispendr + 4) == 2)
        #expect(g.rd(GICD.icpendr + 4) == 2)
        g.wd(GICD.icpendr + 4, 1 << 1)
        #expect(g.rd(GICD.ispendr + 4) == 0)
        #expect(!g.spis[1].latch)
        // Redistributor: PPI 27 on vCPU 1 only.
        g.wr(GICR.sgi(1, GICD.ispendr), 1 << 27)
        #expect(g.rr(GICR.sgi(1, GICD.ispendr)) == 1 << 27)
        #expect(g.rr(GICR.sgi(0, GICD.ispendr)) == 0)
        g.wr(GICR.sgi(1, GICD.icpendr), 1 << 27)
        #expect(g.rr(GICR.sgi(1, GICD.ispendr)) == 0)
    }

    @Test func levelLineStaysPendingThroughICPENDR() {
        let g = VGIC(vcpus: 1)
        g.setLine(34, vcpu: 0, high: true)
        #expect(g.rd(GICD.ispendr + 4) == 1 << 2)
        g.wd(GICD.icpendr + 4, 1 << 2)
        #expect(g.rd(GICD.ispendr + 4) == 1 << 2, "a level interrupt whose line is high stays pending")
        g.setLine(34, vcpu: 0, high: false)
        #expect(g.rd(GICD.ispendr + 4) == 0)
        // An edge interrupt ignores the line.
        g.wd(GICD.icfgr + 8, 2 << 4)                        // SPI 34 edge
        g.setLine(34, vcpu: 0, high: true)
        #expect(g.rd(GICD.ispendr + 4) == 0)
    }

    @Test func interruptInAListRegisterReadsPendingUntilActive() {
        let g = VGIC(vcpus: 1)
        g.wd(GICD.ctlr, 2)
        g.wd(GICD.isenabler + 4, 1 << 8)                    // SPI 40
        g.raise(40, vcpu: 0)
        var lrs = [UInt64](repeating: 0, count: 4)
        _ = g.fill(vcpu: 0, lrs: &lrs)
        #expect(g.spis[8].inListRegister && !g.spis[8].latch)
        #expect(g.rd(GICD.ispendr + 4) == 1 << 8)
        lrs[0] = ListRegister(virtualID: 40, priority: 0, group1: true, state: .active, eoiMaintenance: false).raw
        g.sync(vcpu: 0, lrs: &lrs)
        #expect(g.rd(GICD.ispendr + 4) == 0)
        #expect(g.rd(GICD.isactiver + 4) == 1 << 8)
    }

    @Test func activeSetAndClear() {
        let g = VGIC(vcpus: 2)
        g.wd(GICD.isactiver + 4, 1 << 3)                    // SPI 35
        #expect(g.spis[3].active)
        #expect(g.rd(GICD.isactiver + 4) == 8)
        #expect(g.rd(GICD.icactiver + 4) == 8)
        g.wd(GICD.icactiver + 4, 1 << 3)
        #expect(g.rd(GICD.isactiver + 4) == 0)
        g.wr(GICR.sgi(0, GICD.isactiver), 1 << 5)           // SGI 5
        #expect(g.irq(5, vcpu: 0).active)
        #expect(g.rr(GICR.sgi(0, GICD.icactiver)) == 1 << 5)
        #expect(g.rr(GICR.sgi(1, GICD.isactiver)) == 0)
        g.wr(GICR.sgi(0, GICD.icactiver), 1 << 5)
        #expect(!g.irq(5, vcpu: 0).active)
    }

    // MARK: priority

    @Test func priorityByteAndWordAccess() {
        let g = VGIC(vcpus: 2)
        g.wd(GICD.ipriorityr + 33, 0xA0, 1)
        #expect(g.spis[1].priority == 0xA0)
        #expect(g.rd(GICD.ipriorityr + 33, 1) == 0xA0)
        #expect(g.rd(GICD.ipriorityr + 32) == 0x0000_A000)
        g.wd(GICD.ipriorityr + 36, 0x4433_2211)
        #expect(g.spis[4...7].map(\.priority) == [0x11, 0x22, 0x33, 0x44])
        #expect(g.rd(GICD.ipriorityr + 38, 1) == 0x33)
        #expect(g.rd(GICD.ipriorityr + 36) == 0x4433_2211)
        // A byte write leaves its neighbours alone.
        g.wd(GICD.ipriorityr + 37, 0xFF, 1)
        #expect(g.rd(GICD.ipriorityr + 36) == 0x4433_FF11)
        // Last SPI: INTID 63.
        g.wd(GICD.ipriorityr + 60, 0x8000_0000)
        #expect(g.spis[31].priority == 0x80)
        #expect(g.rd(GICD.ipriorityr + 63, 1) == 0x80)
    }

    @Test func priorityOfPrivateInterruptsLivesInTheRedistributor() {
        let g = VGIC(vcpus: 2)
        g.wd(GICD.ipriorityr + 27, 0x80, 1)
        #expect(g.irq(27, vcpu: 0).priority == 0, "GICD_IPRIORITYR for INTIDs < 32 is RAZ/WI")
        #expect(g.rd(GICD.ipriorityr + 24) == 0)
        g.wr(GICR.sgi(1, GICD.ipriorityr + 27), 0x80, 1)
        #expect(g.irq(27, vcpu: 1).priority == 0x80)
        #expect(g.irq(27, vcpu: 0).priority == 0)
        #expect(g.rr(GICR.sgi(1, GICD.ipriorityr + 24)) == 0x8000_0000)
        g.wr(GICR.sgi(1, GICD.ipriorityr), 0x1020_3040)
        #expect((0...3).map { g.irq($0, vcpu: 1).priority } == [0x40, 0x30, 0x20, 0x10])
    }

    @Test func priorityBeyondTheLastSPIIsRAZWI() {
        let g = VGIC(vcpus: 1)
        g.wd(GICD.ipriorityr + 64, 0xFFFF_FFFF)
        #expect(g.rd(GICD.ipriorityr + 64) == 0)
        #expect(g.spis.allSatisfy { $0.priority == 0 })
    }

    // MARK: configuration

    @Test func sgiConfigurationIsFixedEdge() {
        let g = VGIC(vcpus: 1)
        #expect(g.rr(GICR.sgi(0, GICD.icfgr)) == 0xAAAA_AAAA, "every SGI edge-triggered")
        g.wr(GICR.sgi(0, GICD.icfgr), 0)
        #expect(g.rr(GICR.sgi(0, GICD.icfgr)) == 0xAAAA_AAAA)
        #expect((0...15).allSatisfy { g.irq($0, vcpu: 0).edge })
    }

    @Test func ppiAndSPIConfiguration() {
        let g = VGIC(vcpus: 2)
        #expect(g.rr(GICR.sgi(0, GICD.icfgr + 4)) == 0, "PPIs level by default")
        g.wr(GICR.sgi(0, GICD.icfgr + 4), 2 << (2 * (27 - 16)))
        #expect(g.irq(27, vcpu: 0).edge)
        #expect(!g.irq(27, vcpu: 1).edge)
        #expect(g.rr(GICR.sgi(0, GICD.icfgr + 4)) == 2 << 22)
        // SPIs 32...47 in GICD_ICFGR2.
        g.wd(GICD.icfgr + 8, 0x8)
        #expect(g.spis[1].edge)
        #expect(g.rd(GICD.icfgr + 8) == 0x8)
        g.wd(GICD.icfgr + 8, 0x0)
        #expect(!g.spis[1].edge)
        // The distributor's copy of the private range is RAZ/WI.
        #expect(g.rd(GICD.icfgr) == 0)
        #expect(g.rd(GICD.icfgr + 4) == 0)
    }

    // MARK: routing

    @Test func irouter64Bit() {
        let g = VGIC(vcpus: 2)
        let off = GICD.irouter + 8 * 33
        g.wd(off, 0x0000_0000_8000_0001, 8)
        #expect(g.rd(off, 8) == 1, "Interrupt_Routing_Mode is not offered (No1N)")
        #expect(g.spiRoute[1] == 1)
        // Aff3 is IROUTER[39:32], as in MPIDR_EL1; [63:40] and [30:24] are RES0.
        g.wd(off, 0x5_0000_0100, 8)
        #expect(g.rd(off, 8) == 0x5_0000_0100, "Aff3 kept")
        #expect(g.rd(off + 4) == 0x5)
        g.wd(off, 0xFFFF_FFFF_FFFF_FFFF, 8)
        #expect(g.rd(off, 8) == 0xFF_00FF_FFFF, "affinity fields only")
    }

    @Test func irouter32BitHalves() {
        let g = VGIC(vcpus: 2)
        let off = GICD.irouter + 8 * 34
        g.wd(off, 0x0000_0100)
        g.wd(off + 4, 0x5)
        #expect(g.rd(off, 8) == 0x5_0000_0100)
        #expect(g.rd(off) == 0x100)
        #expect(g.rd(off + 4) == 0x5)
        g.wd(off, 0x8000_0001)
        #expect(g.rd(off, 8) == 0x5_0000_0001, "low-half write keeps Aff3")
        g.wd(off + 4, 0xFFFF_FF00)
        #expect(g.rd(off, 8) == 0x1, "high-half write keeps the low half")
    }

    @Test func irouterOutsideTheSPIsIsRAZWI() {
        let g = VGIC(vcpus: 2)
        g.wd(GICD.irouter + 8 * 27, 1, 8)
        #expect(g.rd(GICD.irouter + 8 * 27, 8) == 0)
        g.wd(GICD.irouter + 8 * 64, 1, 8)
        #expect(g.rd(GICD.irouter + 8 * 64, 8) == 0)
        #expect(g.spiRoute.allSatisfy { $0 == 0 })
        #expect(g.readDistributor(offset: GICD.irouter + 8 * 33, size: 2) == .fault)
        #expect(g.readDistributor(offset: GICD.irouter + 8 * 33, size: 1) == .fault)
        #expect(g.writeDistributor(offset: GICD.irouter + 8 * 33, size: 2, value: 1) == .fault)
    }

    // MARK: redistributor frames

    @Test func redistributorTyper() {
        let g = VGIC(vcpus: 3)
        #expect(g.rr(GICR.rd(0, GICR.typer), 8) == 0)
        #expect(g.rr(GICR.rd(1, GICR.typer), 8) == 0x1_0000_0100)
        #expect(g.rr(GICR.rd(2, GICR.typer), 8) == 0x2_0000_0210, "Last on the final frame")
        #expect(g.rr(GICR.rd(2, GICR.typer)) == 0x210)
        #expect(g.rr(GICR.rd(2, GICR.typer + 4)) == 0x2)
        #expect(g.readRedistributor(offset: GICR.rd(0, GICR.typer), size: 2) == .fault)
        #expect(g.readRedistributor(offset: GICR.rd(0, GICR.typer + 4), size: 8) == .fault)
    }

    @Test func redistributorTyperInTheSecondCluster() {
        let g = VGIC(vcpus: 17)
        let t16 = g.rr(GICR.rd(16, GICR.typer), 8)
        #expect(t16 >> 32 == 0x100, "Aff1 = 1, Aff0 = 0")
        #expect((t16 >> 8) & 0xFFFF == 16, "Processor_Number")
        #expect(t16 & (1 << 4) != 0, "Last")
        let t15 = g.rr(GICR.rd(15, GICR.typer), 8)
        #expect(t15 >> 32 == 0xF)
        #expect(t15 & (1 << 4) == 0)
    }

    /// Xen's vgic-v3 reads GICR_WAKER as zero and ignores writes: a guest that polls
    /// ChildrenAsleep without writing ProcessorSleep first must see the redistributor awake.
    @Test func redistributorWakerReadsAsZero() {
        let g = VGIC(vcpus: 2)
        #expect(g.rr(GICR.rd(0, GICR.waker)) == 0, "awake before any write")
        #expect(g.rr(GICR.rd(1, GICR.waker)) == 0)
        g.wr(GICR.rd(0, GICR.waker), 2)
        #expect(g.rr(GICR.rd(0, GICR.waker)) == 0, "ProcessorSleep is not writable")
        g.wr(GICR.rd(0, GICR.waker), 0)
        #expect(g.rr(GICR.rd(0, GICR.waker)) == 0)
    }

    @Test func beyondTheLastFrameIsRAZWI() {
        let g = VGIC(vcpus: 2)
        #expect(g.readRedistributor(offset: GICR.rd(2, GICR.typer), size: 8) == .handled(0))
        #expect(g.readRedistributor(offset: GICR.rd(2, GICR.pidr2), size: 4) == .handled(0))
        #expect(g.writeRedistributor(offset: GICR.sgi(2, GICD.isenabler), size: 4, value: 0xFFFF_FFFF) == .handled(0))
        #expect((0..<g.vcpuCount).allSatisfy { v in (16..<32).allSatisfy { !g.irq($0, vcpu: v).enabled } })
        #expect(g.needsFill == [false, false])
    }

    @Test func badWidthsFault() {
        let g = VGIC(vcpus: 2)
        #expect(g.readDistributor(offset: GICD.ctlr, size: 8) == .fault)
        #expect(g.readDistributor(offset: GICD.ctlr, size: 2) == .fault)
        #expect(g.writeDistributor(offset: GICD.ctlr, size: 1, value: 3) == .fault)
        #expect(g.distributorControl == 0)
        #expect(g.readDistributor(offset: GICD.isenabler + 4, size: 8) == .fault)
        #expect(g.readDistributor(offset: GICD.isenabler + 4, size: 1) == .fault)
        #expect(g.writeDistributor(offset: GICD.isenabler + 4, size: 2, value: 1) == .fault)
        #expect(!g.spis[0].enabled)
        #expect(g.readDistributor(offset: GICD.ipriorityr + 32, size: 2) == .fault)
        #expect(g.readDistributor(offset: GICD.ipriorityr + 32, size: 8) == .fault)
        #expect(g.writeDistributor(offset: GICD.ipriorityr + 32, size: 8, value: ~0) == .fault)
        #expect(g.spis[0].priority == 0)
        #expect(g.readDistributor(offset: GICD.icfgr + 8, size: 1) == .fault)
        #expect(g.readDistributor(offset: GICD.itargetsr + 32, size: 2) == .fault)
        #expect(g.readRedistributor(offset: GICR.rd(0, GICR.waker), size: 8) == .fault)
        #expect(g.writeRedistributor(offset: GICR.rd(0, GICR.waker), size: 2, value: 0) == .fault)
        #expect(g.rr(GICR.rd(0, GICR.waker)) == 0)
        #expect(g.readRedistributor(offset: GICR.sgi(0, GICD.isenabler), size: 8) == .fault)
        #expect(g.readRedistributor(offset: GICR.sgi(0, 0x0F00), size: 8) == .fault)
        #expect(g.writeRedistributor(offset: GICR.sgi(0, 0x0F00), size: 2, value: 0) == .fault)
    }

    @Test func razRegisters() {
        let g = VGIC(vcpus: 2)
        #expect(g.rd(GICD.itargetsr + 32) == 0)
        #expect(g.rd(GICD.itargetsr + 33, 1) == 0)
        #expect(g.rd(0x0010) == 0, "GICD_STATUSR")
        #expect(g.rr(GICR.rd(0, GICR.propbaser), 8) == 0, "LPIs not offered; 64-bit access accepted")
        #expect(g.rr(GICR.rd(0, GICR.pendbaser), 8) == 0)
        #expect(g.rr(GICR.sgi(0, 0x0F00)) == 0)
        g.wr(GICR.rd(0, GICR.propbaser), 0xFFFF_FFFF, 8)
        #expect(g.rr(GICR.rd(0, GICR.propbaser), 8) == 0)
    }

    @Test func writesMarkVCPUsForARefill() {
        let g = VGIC(vcpus: 3)
        #expect(g.needsFill == [false, false, false])
        g.wr(GICR.sgi(1, GICD.isenabler), 1 << 27)
        #expect(g.needsFill == [false, true, false], "a redistributor write concerns its own vCPU")
        g.needsFill = [false, false, false]
        g.wd(GICD.irouter + 8 * 32, 2)
        g.needsFill = [false, false, false]
        g.wd(GICD.isenabler + 4, 1)
        #expect(g.needsFill == [false, false, true], "a distributor write concerns the vCPU the SPI is routed to")
    }
}
