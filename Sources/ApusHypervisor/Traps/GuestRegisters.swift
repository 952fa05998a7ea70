#if hasFeature(Embedded)
import AArch64
import ApusCore

/// Access to a trapped guest's general registers in its saved frame.
/// Register 31 in a syndrome means XZR: reads as zero, writes vanish.
extension UnsafeMutablePointer where Pointee == apus_frame {
    func x(_ n: Int) -> UInt64 {
        guard n >= 0 && n < 31 else { return 0 }
        return withUnsafeMutablePointer(to: &pointee.x) {
            $0.withMemoryRebound(to: UInt64.self, capacity: 31) { $0[n] }
        }
    }

    func setX(_ n: Int, _ v: UInt64) {
        guard n >= 0 && n < 31 else { return }
        withUnsafeMutablePointer(to: &pointee.x) {
            $0.withMemoryRebound(to: UInt64.self, capacity: 31) { $0[n] = v }
        }
    }

    func skipInstruction() { pointee.elr &+= 4 }
}

/// Exceptions the hypervisor makes the guest take at EL1, as the CPU would.
enum GuestFault {
    /// ESR classes as seen by EL1: from EL0 (lower) or from EL1 itself (current).
    static func vectorOffset(spsr: UInt64) -> UInt64 {
        switch spsr & 0xF {
        case 0x5: return 0x200          // EL1h: current EL, SP_ELx
        case 0x4: return 0x000          // EL1t: current EL, SP_EL0
        default: return 0x400           // EL0: lower EL, AArch64
        }
    }

    static func fromEL0(_ spsr: UInt64) -> Bool { spsr & 0xF == 0 }

    static func inject(_ frame: UnsafeMutablePointer<apus_frame>, esr: UInt64, far: UInt64?, returnAddress: UInt64) {
        let spsr = frame.pointee.spsr
        write_elr_el1(returnAddress)
        write_spsr_el1(spsr)
        write_esr_el1(esr)
        if let f = far { write_far_el1(f) }
        frame.pointee.elr = read_vbar_el1() &+ vectorOffset(spsr: spsr)
        frame.pointee.spsr = 0x3C5                              // EL1h, DAIF masked
    }

    /// Undefined instruction at `pc` (EC 0, IL=1), like an unknown HVC immediate.
    static func undefined(_ frame: UnsafeMutablePointer<apus_frame>, pc: UInt64) {
        inject(frame, esr: 1 << 25, far: nil, returnAddress: pc)
    }

    /// Synchronous external abort on a data access to `va` (DFSC 0b010000), what
    /// a CPU reports for an access to nothing.
    static func dataAbort(_ frame: UnsafeMutablePointer<apus_frame>, va: UInt64, write: Bool) {
        let ec: UInt64 = fromEL0(frame.pointee.spsr) ? 0x24 : 0x25
        var esr = (ec << 26) | (1 << 25) | 0x10
        if write { esr |= 1 << 6 }
        inject(frame, esr: esr, far: va, returnAddress: frame.pointee.elr)
    }

    static func instructionAbort(_ frame: UnsafeMutablePointer<apus_frame>, va: UInt64) {
        let ec: UInt64 = fromEL0(frame.pointee.spsr) ? 0x20 : 0x21
        inject(frame, esr: (ec << 26) | (1 << 25) | 0x10, far: va, returnAddress: frame.pointee.elr)
    }
}
#endif
