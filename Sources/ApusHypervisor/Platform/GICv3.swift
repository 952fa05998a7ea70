#if hasFeature(Embedded)
import AArch64
import ApusCore

/// The board's GICv3 as EL2 uses it: distributor set-up once, each CPU's
/// redistributor and system-register CPU interface, SGIs to kick other CPUs,
/// and the list registers through which guests get their virtual interrupts.
enum GICv3 {
    nonisolated(unsafe) static var distributor: UInt64 = 0
    nonisolated(unsafe) static var redistributorRegion: UInt64 = 0
    nonisolated(unsafe) static var redistributorRegionSize: UInt64 = 0
    nonisolated(unsafe) static var listRegisterCount = 0

    /// Physical interrupts EL2 handles.
    static let kickSGI: UInt32 = 0
    static let maintenancePPI: UInt32 = 25
    static let hypervisorTimerPPI: UInt32 = 26
    static let virtualTimerPPI: UInt32 = 27
    /// SPIs the distributor implements (GICD_TYPER.ITLinesNumber): dom0's vGIC has as many.
    nonisolated(unsafe) static var spiCount = 0

    static func initDistributor() {
        let d = distributor
        mmio_write32(d, 0)                                     // disable while configuring
        while mmio_read32(d) & (1 << 31) != 0 {}               // RWP
        let lines = Int((mmio_read32(d + 4) & 0x1F) + 1) * 32
        spiCount = min(lines, 1020) - 32
        var i = 32
        while i < lines {
            mmio_write32(d + 0x80 + UInt64(i / 8), 0xFFFF_FFFF)   // group 1
            mmio_write32(d + 0x180 + UInt64(i / 8), 0xFFFF_FFFF)  // disable
            mmio_write32(d + 0x280 + UInt64(i / 8), 0xFFFF_FFFF)  // clear pending
            i += 32
        }
        i = 32
        while i < lines { mmio_write32(d + 0x400 + UInt64(i), 0xA0A0_A0A0); i += 4 }
        // ARE + EnableGrp1 (+Grp0); with one security state (QEMU without EL3) bit 1 is Grp1.
        mmio_write32(d, 1 << 4)
        while mmio_read32(d) & (1 << 31) != 0 {}
        mmio_write32(d, (1 << 4) | (1 << 1) | 1)
        while mmio_read32(d) & (1 << 31) != 0 {}
    }

    /// The redistributor frame whose GICR_TYPER affinity matches this CPU's MPIDR.
    static func redistributor(forMPIDR mpidr: UInt64) -> UInt64? {
        let want = (mpidr & 0xFF_FFFF) | ((mpidr >> 32) & 0xFF) << 24
        var frame = redistributorRegion
        while frame < redistributorRegion + redistributorRegionSize {
            let typer = mmio_read64(frame + 8)
            if typer >> 32 == want { return frame }
            if typer & (1 << 4) != 0 { break }                 // Last
            frame += typer & 2 != 0 ? 0x4_0000 : 0x2_0000      // VLPIS (bit 1) frames are twice as large
        }
        return nil
    }

    static func initCPU(mpidr: UInt64) {
        guard let rd = redistributor(forMPIDR: mpidr) else {
            Log.line { Log.put("GICv3: no redistributor for MPIDR "); Log.hex(mpidr) }
            return
        }
        // Wake the redistributor.
        let waker = rd + 0x14
        mmio_write32(waker, mmio_read32(waker) & ~UInt32(2))
        while mmio_read32(waker) & 4 != 0 {}
        let sgi = rd + 0x1_0000
        mmio_write32(sgi + 0x80, 0xFFFF_FFFF)                  // group 1
        mmio_write32(sgi + 0x180, 0xFFFF_FFFF)                 // disable all
        var i: UInt64 = 0
        while i < 32 { mmio_write32(sgi + 0x400 + i, 0xA0A0_A0A0); i += 4 }
        // Enable what EL2 handles: the kick SGI, maintenance, hypervisor and virtual timers.
        let enable = (UInt32(1) << kickSGI) | (1 << maintenancePPI) | (1 << hypervisorTimerPPI) | (1 << virtualTimerPPI)
        mmio_write32(sgi + 0x100, enable)
        while mmio_read32(rd) & (1 << 3) != 0 {}               // RWP

        // CPU interface: system registers at EL2, and let EL1 use its (virtual) ones.
        write_icc_sre_el2(0xF)                                 // SRE, DFB, DIB, Enable(EL1 access)
        arch_isb()
        write_icc_pmr_el1(0xFF)
        write_icc_bpr1_el1(0)
        // EOImode 1: EOIR only drops the priority and DIR deactivates, so that a device's
        // SPI handed to dom0 stays active until dom0's own deactivation does it through
        // the list register's HW bit (as Xen does).
        write_icc_ctlr_el1(2)
        write_icc_igrpen1_el1(1)
        arch_isb()

        listRegisterCount = Int(read_ich_vtr_el2() & 0x1F) + 1
        for n in 0..<listRegisterCount { writeListRegister(n, 0) }
        write_ich_ap1r0_el2(0)
        write_ich_vmcr_el2(0)
        write_ich_hcr_el2(1)                                   // En
    }

    /// GICD_ICFGR<n>: edge-triggered (0b10) or level-sensitive (0b00), as Xen's irq_set_type.
    static func configureSPI(_ intid: UInt32, edge: Bool) {
        let reg = distributor + 0xC00 + UInt64(intid / 16) * 4
        let shift = UInt32(2 * (intid % 16))
        let v = mmio_read32(reg) & ~(UInt32(3) << shift)
        mmio_write32(reg, v | (edge ? UInt32(2) << shift : 0))
    }

    /// GICD_ICENABLER for one SPI (routing unchanged).
    static func maskSPI(_ intid: UInt32) {
        mmio_write32(distributor + 0x180 + UInt64(intid / 32) * 4, 1 << (intid % 32))
    }

    static func enableSPI(_ intid: UInt32, targetMPIDR: UInt64) {
        let d = distributor
        let route = (targetMPIDR & 0xFF_FFFF) | ((targetMPIDR >> 32) & 0xFF) << 32
        mmio_write64(d + 0x6000 + 8 * UInt64(intid), route)
        mmio_write32(d + 0x100 + UInt64(intid / 32) * 4, 1 << (intid % 32))
    }

    /// Sends SGI `intid` to the CPU with affinity `mpidr`.
    static func sendSGI(_ intid: UInt32, toMPIDR mpidr: UInt64) {
        let aff0 = mpidr & 0xFF
        var v = (UInt64(intid) << 24) | (1 << (aff0 % 16)) | ((aff0 / 16) << 44)
        v |= ((mpidr >> 8) & 0xFF) << 16 | ((mpidr >> 16) & 0xFF) << 32 | ((mpidr >> 32) & 0xFF) << 48
        arch_dsb_sy()
        write_icc_sgi1r_el1(v)
        arch_isb()
    }

    static func acknowledge() -> UInt32 { UInt32(truncatingIfNeeded: read_icc_iar1_el1() & 0xFF_FFFF) }
    /// Priority drop and deactivation: done with `intid` at EL2.
    static func endOfInterrupt(_ intid: UInt32) {
        write_icc_eoir1_el1(UInt64(intid))
        write_icc_dir_el1(UInt64(intid))
    }
    /// Priority drop only: `intid` stays active until a guest's deactivation (a list
    /// register with the HW bit) or `deactivate`.
    static func dropPriority(_ intid: UInt32) { write_icc_eoir1_el1(UInt64(intid)) }
    static func deactivate(_ intid: UInt32) { write_icc_dir_el1(UInt64(intid)) }

    static func readListRegister(_ n: Int) -> UInt64 {
        switch n {
        case 0: return read_ich_lr0_el2()
        case 1: return read_ich_lr1_el2()
        case 2: return read_ich_lr2_el2()
        case 3: return read_ich_lr3_el2()
        case 4: return read_ich_lr4_el2()
        case 5: return read_ich_lr5_el2()
        case 6: return read_ich_lr6_el2()
        case 7: return read_ich_lr7_el2()
        case 8: return read_ich_lr8_el2()
        case 9: return read_ich_lr9_el2()
        case 10: return read_ich_lr10_el2()
        case 11: return read_ich_lr11_el2()
        case 12: return read_ich_lr12_el2()
        case 13: return read_ich_lr13_el2()
        case 14: return read_ich_lr14_el2()
        default: return read_ich_lr15_el2()
        }
    }

    static func writeListRegister(_ n: Int, _ v: UInt64) {
        switch n {
        case 0: write_ich_lr0_el2(v)
        case 1: write_ich_lr1_el2(v)
        case 2: write_ich_lr2_el2(v)
        case 3: write_ich_lr3_el2(v)
        case 4: write_ich_lr4_el2(v)
        case 5: write_ich_lr5_el2(v)
        case 6: write_ich_lr6_el2(v)
        case 7: write_ich_lr7_el2(v)
        case 8: write_ich_lr8_el2(v)
        case 9: write_ich_lr9_el2(v)
        case 10: write_ich_lr10_el2(v)
        case 11: write_ich_lr11_el2(v)
        case 12: write_ich_lr12_el2(v)
        case 13: write_ich_lr13_el2(v)
        case 14: write_ich_lr14_el2(v)
        default: write_ich_lr15_el2(v)
        }
    }
}
#endif
