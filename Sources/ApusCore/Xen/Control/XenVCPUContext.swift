/// `struct vcpu_guest_context` for arm64 (arch-arm.h, 352 bytes), as the toolstack sets a
/// new domain's first vCPU with XEN_DOMCTL_setvcpucontext: the entry point, x0 = the DTB,
/// PSTATE, and the EL1 translation registers (all zero for Linux's boot protocol).
public struct XenVCPUContext: Equatable, Sendable {
    public static let size = 352
    /// VGCF_online: the vCPU starts up (else it stays down until PSCI CPU_ON).
    public static let flagOnline: UInt32 = 1

    public var flags: UInt32 = 0
    /// x0...x30.
    public var x: [UInt64] = [UInt64](repeating: 0, count: 31)
    public var pc: UInt64 = 0
    public var cpsr: UInt64 = 0
    public var spsrEL1: UInt64 = 0
    public var spEL0: UInt64 = 0, spEL1: UInt64 = 0, elrEL1: UInt64 = 0
    public var sctlr: UInt64 = 0, ttbcr: UInt64 = 0, ttbr0: UInt64 = 0, ttbr1: UInt64 = 0

    public var online: Bool { flags & XenVCPUContext.flagOnline != 0 }

    enum Offset {
        static let flags = 0, regs = 8, pc = 256, cpsr = 264, spsrEL1 = 272
        static let spEL0 = 296, spEL1 = 304, elrEL1 = 312
        static let sctlr = 320, ttbcr = 328, ttbr0 = 336, ttbr1 = 344
    }

    public init() {}

    /// Parses the 352 bytes; nil for a PSTATE Xen refuses for a 64-bit domain
    /// (is_guest_valid_psr: AArch64 EL0t, EL1t or EL1h only, the same for a non-zero
    /// SPSR_EL1).
    public init?(_ b: [UInt8]) {
        guard b.count >= XenVCPUContext.size else { return nil }
        flags = XenBytes.u32(b, Offset.flags)
        for i in 0..<31 { x[i] = XenBytes.u64(b, Offset.regs + 8 * i) }
        pc = XenBytes.u64(b, Offset.pc)
        cpsr = XenBytes.u64(b, Offset.cpsr)
        spsrEL1 = XenBytes.u64(b, Offset.spsrEL1)
        spEL0 = XenBytes.u64(b, Offset.spEL0)
        spEL1 = XenBytes.u64(b, Offset.spEL1)
        elrEL1 = XenBytes.u64(b, Offset.elrEL1)
        sctlr = XenBytes.u64(b, Offset.sctlr)
        ttbcr = XenBytes.u64(b, Offset.ttbcr)
        ttbr0 = XenBytes.u64(b, Offset.ttbr0)
        ttbr1 = XenBytes.u64(b, Offset.ttbr1)
        guard XenVCPUContext.validPSR(cpsr), spsrEL1 == 0 || XenVCPUContext.validPSR(spsrEL1) else { return nil }
    }

    /// AArch64 (M[4] = 0) at EL0t (0), EL1t (4) or EL1h (5).
    public static func validPSR(_ psr: UInt64) -> Bool {
        let mode = psr & 0x1F
        return mode == 0 || mode == 4 || mode == 5
    }
}
