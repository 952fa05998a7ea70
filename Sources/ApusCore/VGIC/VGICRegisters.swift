/// MMIO emulation of the GICv3 distributor and redistributors at Xen's guest
/// addresses (arch-arm.h: GICD 0x03001000, GICR 0x03020000, 128 KiB per vCPU).
/// Registers without meaning here (LPIs, security, GICv2 targets) read as zero and
/// ignore writes, as Xen's vgic-v3 does.
public enum GICv3Layout {
    public static let distributorBase: UInt64 = 0x0300_1000
    public static let distributorSize: UInt64 = 0x1_0000
    public static let redistributorBase: UInt64 = 0x0302_0000
    public static let redistributorRegionSize: UInt64 = 0x100_0000
    public static let redistributorStride: UInt64 = 0x2_0000
    /// GICD_PIDR2 / GICR_PIDR2: ArchRev 3 (GICv3).
    static let pidr2: UInt32 = 0x3B
    /// Arm as implementer, like Xen's emulation.
    static let iidr: UInt32 = 0x43B
}

public enum MMIOResult: Equatable, Sendable {
    case handled(UInt64)
    /// The access is not one a GIC accepts (bad width, beyond the region): the
    /// guest gets a data abort, as on hardware.
    case fault
}

extension VGIC {
    // MARK: distributor

    public func readDistributor(offset: UInt64, size: Int) -> MMIOResult {
        if offset >= 0x6000 && offset < 0x7FE0 {
            guard size == 8 || size == 4 else { return .fault }
            let n = Int((offset - 0x6000) / 8)
            guard n >= VGIC.privateCount, n < intidLimit else { return .handled(0) }
            let v = spiRoute[n - VGIC.privateCount]
            return .handled(size == 8 ? v : (offset & 4 == 0 ? v & 0xFFFF_FFFF : v >> 32))
        }
        if let r = readBanked(offset: offset, size: size, vcpu: 0, distributor: true) { return r }
        guard size == 4 else { return .fault }
        switch offset {
        case 0x0000: return .handled(UInt64(distributorControl) | (1 << 4) | (1 << 6))  // ARE, DS
        case 0x0004:
            // ITLinesNumber, CPUNumber = min(vCPUs, 8) - 1 (as Xen), IDbits = 10 - 1, no LPIs,
            // no MBIS, No1N=1 (1 of N routing is not offered: Xen accepts it but always routes
            // to vCPU 0, so saying so is the honest answer; Linux never asks for it)
            let lines = UInt64(intidLimit / 32 - 1)
            let cpus = UInt64(max(min(vcpuCount, 8), 1) - 1)
            return .handled(lines | (cpus << 5) | (9 << 19) | (1 << 25))
        case 0x0008: return .handled(UInt64(GICv3Layout.iidr))
        case 0xFFE8: return .handled(UInt64(GICv3Layout.pidr2))
        default: return .handled(0)
        }
    }

    /// `vcpu` is the vCPU making the access: a change that makes another vCPU's interrupt
    /// deliverable names that vCPU in `crossKicks`, for the hypervisor to kick (it may be
    /// blocked in WFI).
    public func writeDistributor(offset: UInt64, size: Int, value: UInt64, vcpu: Int = 0) -> MMIOResult {
        guard vcpu >= 0, vcpu < vcpuCount else { return .handled(0) }
        if offset >= 0x6000 && offset < 0x7FE0 {
            guard size == 8 || size == 4 else { return .fault }
            let n = Int((offset - 0x6000) / 8)
            guard n >= VGIC.privateCount, n < intidLimit else { return .handled(0) }
            let i = n - VGIC.privateCount
            // Interrupt_Routing_Mode (bit 31) = 1 of N is not offered (No1N): keep affinity only.
            let mask: UInt64 = 0xFF_00FF_FFFF                      // Aff3 [39:32], Aff2, Aff1, Aff0
            if size == 8 { spiRoute[i] = value & mask }
            else if offset & 4 == 0 { spiRoute[i] = (spiRoute[i] & ~0xFFFF_FFFF) | (value & 0xFFFF_FFFF & mask) }
            else { spiRoute[i] = (spiRoute[i] & 0xFFFF_FFFF) | ((value & 0xFF) << 32) }
            touched(n, vcpu: vcpu, by: vcpu)        // its new owner loads it; a vCPU holding it looks again
            return .handled(0)
        }
        if let r = writeBanked(offset: offset, size: size, value: value, vcpu: vcpu, by: vcpu, distributor: true) { return r }
        guard size == 4 else { return .fault }
        if offset == 0 {
            distributorControl = UInt32(truncatingIfNeeded: value) & 3
            // Group enables gate every delivery: each vCPU looks again.
            for o in 0..<vcpuCount {
                needsFill[o] = true
                if o != vcpu && o < 64 { crossKicks |= UInt64(1) << UInt64(o) }
            }
        }
        return .handled(0)
    }

    /// A register write changed `intid`: its owner refills (a held list register may need
    /// its priority, pending or enable state brought up to date) and, when the owner is not
    /// the writer and the interrupt wants or holds a list register, is kicked. An SPI held in
    /// a list register is the business of the vCPU holding it, which after an IROUTER change
    /// is not its owner: that vCPU refills (and is kicked) too.
    private func touched(_ intid: Int, vcpu: Int, by writer: Int) {
        let o = owner(of: intid, vcpu: vcpu)
        let s = irq(intid, vcpu: vcpu)
        note(o, by: writer, kick: s.wantsDelivery || s.inListRegister)
        if s.inListRegister && intid >= VGIC.privateCount {
            let h = spiHolder[intid - VGIC.privateCount]
            if h != o { note(h, by: writer, kick: true) }
        }
    }

    // MARK: redistributors

    /// `offset` is from the start of the redistributor region.
    public func readRedistributor(offset: UInt64, size: Int) -> MMIOResult {
        let vcpu = Int(offset / GICv3Layout.redistributorStride)
        guard vcpu < vcpuCount else { return .handled(0) }          // RAZ beyond the last frame
        let off = offset % GICv3Layout.redistributorStride
        if off >= 0x1_0000 {
            if let r = readBanked(offset: off - 0x1_0000, size: size, vcpu: vcpu, distributor: false) { return r }
            return size == 4 ? .handled(0) : .fault
        }
        switch off {
        case 0x0008, 0x000C:
            // GICR_TYPER: affinity in [63:32], processor number, Last on the final frame.
            var typer = VirtualPSCI.mpidr(ofVCPU: vcpu) << 32 | UInt64(vcpu) << 8
            if vcpu == vcpuCount - 1 { typer |= 1 << 4 }
            if size == 8 && off == 8 { return .handled(typer) }
            guard size == 4 else { return .fault }
            return .handled(off == 8 ? typer & 0xFFFF_FFFF : typer >> 32)
        default: break
        }
        guard size == 4 || (size == 8 && (off == 0x70 || off == 0x78)) else { return .fault }
        switch off {
        case 0x0004: return .handled(UInt64(GICv3Layout.iidr))
        // GICR_WAKER: power management is not emulated and the redistributor is always
        // awake (Xen's vgic-v3 reads it as zero): a guest that polls ChildrenAsleep without
        // first clearing ProcessorSleep must not wait forever.
        case 0x0014: return .handled(0)
        case 0xFFE8: return .handled(UInt64(GICv3Layout.pidr2))
        default: return .handled(0)
        }
    }

    /// `offset` is from the start of the redistributor region; `writer` is the vCPU making
    /// the access (a vCPU may write another's redistributor).
    public func writeRedistributor(offset: UInt64, size: Int, value: UInt64, writer: Int = 0) -> MMIOResult {
        let vcpu = Int(offset / GICv3Layout.redistributorStride)
        guard vcpu < vcpuCount else { return .handled(0) }
        let off = offset % GICv3Layout.redistributorStride
        if off >= 0x1_0000 {
            if let r = writeBanked(offset: off - 0x1_0000, size: size, value: value, vcpu: vcpu, by: writer, distributor: false) { return r }
            return size == 4 ? .handled(0) : .fault
        }
        guard size == 4 || (size == 8 && (off == 0x70 || off == 0x78)) else { return .fault }
        return .handled(0)                                          // GICR_WAKER and the rest: WI
    }

    // MARK: per-interrupt register banks shared by GICD and GICR_SGI_base

    /// INTIDs covered by a bank access: in the distributor, ids below 32 are the
    /// redistributors' business (RAZ/WI); in a redistributor only ids 0...31 exist.
    private func bankRange(first: Int, count: Int, distributor: Bool) -> Range<Int>? {
        let lo = distributor ? max(first, VGIC.privateCount) : first
        let hi = distributor ? min(first + count, intidLimit) : min(first + count, VGIC.privateCount)
        return lo < hi ? lo..<hi : nil
    }

    private func readBanked(offset: UInt64, size: Int, vcpu: Int, distributor: Bool) -> MMIOResult? {
        switch offset {
        case 0x0080..<0x0100, 0x0100..<0x0180, 0x0180..<0x0200, 0x0200..<0x0280,
             0x0280..<0x0300, 0x0300..<0x0380, 0x0380..<0x0400:
            guard size == 4 else { return .fault }
            let bank = (offset - 0x80) / 0x80            // 0 group, 1 isenable, 2 icenable, 3 ispend, 4 icpend, 5 isactive, 6 icactive
            let first = Int((offset & 0x7F) / 4) * 32
            var v: UInt64 = 0
            guard let r = bankRange(first: first, count: 32, distributor: distributor) else { return .handled(0) }
            for id in r {
                let s = irq(id, vcpu: vcpu)
                let bit: Bool
                switch bank {
                case 0: bit = s.group1
                case 1, 2: bit = s.enabled
                case 3, 4: bit = s.isPending || s.inListRegister && !s.active
                default: bit = s.active
                }
                if bit { v |= 1 << UInt64(id - first) }
            }
            return .handled(v)
        case 0x0400..<0x0800:
            guard size == 1 || size == 4 else { return .fault }
            let first = Int(offset - 0x400)
            var v: UInt64 = 0
            guard let r = bankRange(first: first, count: size, distributor: distributor) else { return .handled(0) }
            for id in r { v |= UInt64(irq(id, vcpu: vcpu).priority) << UInt64(8 * (id - first)) }
            return .handled(v)
        case 0x0C00..<0x0D00:
            guard size == 4 else { return .fault }
            let first = Int((offset - 0xC00) / 4) * 16
            var v: UInt64 = 0
            guard let r = bankRange(first: first, count: 16, distributor: distributor) else { return .handled(0) }
            for id in r where irq(id, vcpu: vcpu).edge { v |= 2 << UInt64(2 * (id - first)) }
            return .handled(v)
        case 0x0800..<0x0C00, 0x0D00..<0x0E00, 0x0E00..<0x0F00:
            return size == 4 || size == 1 ? .handled(0) : .fault   // ITARGETSR, IGRPMODR, NSACR
        default:
            return nil
        }
    }

    /// `vcpu` selects the bank of private interrupts (the redistributor written; for the
    /// distributor, the writer); `writer` is the vCPU making the access.
    private func writeBanked(offset: UInt64, size: Int, value: UInt64, vcpu: Int, by writer: Int, distributor: Bool) -> MMIOResult? {
        switch offset {
        case 0x0080..<0x0400:
            guard size == 4 else { return .fault }
            let bank = (offset - 0x80) / 0x80
            let first = Int((offset & 0x7F) / 4) * 32
            guard let r = bankRange(first: first, count: 32, distributor: distributor) else { return .handled(0) }
            for id in r where value & (1 << UInt64(id - first)) != 0 {
                // A passed-through SPI's pending and active state is the device's.
                if bank >= 3 && bank <= 6 && irq(id, vcpu: vcpu).hardware { continue }
                update(id, vcpu: vcpu) { s in
                    switch bank {
                    case 1: s.enabled = true
                    case 2: if id >= 16 { s.enabled = false }     // SGIs stay enabled
                    case 3: s.latch = true
                    case 4: s.latch = false; if s.inListRegister { s.clearRequested = true }
                    case 5: s.active = true
                    case 6: s.active = false
                    default: break                                  // IGROUPR: group 1 only
                    }
                }
                touched(id, vcpu: vcpu, by: writer)
            }
            return .handled(0)
        case 0x0400..<0x0800:
            guard size == 1 || size == 4 else { return .fault }
            let first = Int(offset - 0x400)
            guard let r = bankRange(first: first, count: size, distributor: distributor) else { return .handled(0) }
            for id in r {
                update(id, vcpu: vcpu) { $0.priority = UInt8(truncatingIfNeeded: value >> UInt64(8 * (id - first))) }
                touched(id, vcpu: vcpu, by: writer)
            }
            return .handled(0)
        case 0x0C00..<0x0D00:
            guard size == 4 else { return .fault }
            let first = Int((offset - 0xC00) / 4) * 16
            guard let r = bankRange(first: first, count: 16, distributor: distributor) else { return .handled(0) }
            for id in r where id >= 16 {                            // SGI configuration is fixed
                update(id, vcpu: vcpu) { $0.edge = (value >> UInt64(2 * (id - first))) & 2 != 0 }
                touched(id, vcpu: vcpu, by: writer)
            }
            return .handled(0)
        case 0x0800..<0x0C00, 0x0D00..<0x0E00, 0x0E00..<0x0F00:
            return size == 4 || size == 1 ? .handled(0) : .fault
        default:
            return nil
        }
    }

    // MARK: SGIs from ICC_SGI1R_EL1

    /// Decodes a guest write of ICC_SGI1R_EL1 and raises the SGI on each target.
    /// Returns the vCPUs to kick.
    public func sendSGI(from sender: Int, value: UInt64) -> [Int] {
        let intid = Int((value >> 24) & 0xF)
        let irm = value & (1 << 40) != 0
        var targets: [Int] = []
        if irm {
            for v in 0..<vcpuCount where v != sender { targets.append(v) }
        } else {
            let aff1 = Int((value >> 16) & 0xFF)
            let rs = Int((value >> 44) & 0xF)
            let aff2 = (value >> 32) & 0xFF, aff3 = (value >> 48) & 0xFF
            guard aff2 == 0, aff3 == 0, rs == 0 else { return [] }    // no vCPU has such an affinity
            for bit in 0..<16 where value & (1 << UInt64(bit)) != 0 {
                let v = aff1 * 16 + bit
                if v < vcpuCount { targets.append(v) }
            }
        }
        var kick: [Int] = []
        for t in targets { if let k = raise(intid, vcpu: t) { kick.append(k) } }
        return kick
    }
}
