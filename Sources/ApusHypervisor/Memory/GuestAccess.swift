#if hasFeature(Embedded)
import AArch64
import ApusCore

/// The guest-memory boundary: hypercall arguments are guest *virtual* addresses on
/// Arm (Xen translates them with the guest's own stage 1), shared pages are guest
/// physical. Every access is translated and checked to fall inside the domain's
/// RAM; anything else fails and the hypercall returns -EFAULT.
struct GuestAccess {
    let domain: Domain

    /// Host physical address of guest virtual `va` for `length` bytes (within one page),
    /// translated through the guest's stage 1 and stage 2 by the MMU itself (AT S12E1R).
    /// The guest's EL1 translation registers are live: only call while its vCPU is loaded.
    @inline(__always)
    func hostAddress(virtual va: UInt64, length: UInt64, write: Bool) -> UInt64? {
        guard length > 0, length <= 4096, va <= UInt64.max - length,
              va & ~0xFFF == (va + length - 1) & ~0xFFF else { return nil }
        // AT overwrites PAR_EL1, which is the guest's (its vCPU is loaded): kept, as Xen does.
        let guestPAR = read_par_el1()
        defer { write_par_el1(guestPAR) }
        var par = write ? arch_at_s12e1w(va) : arch_at_s12e1r(va)
        // PAR_EL1.S: stage 2 refused it, perhaps a RAM block nobody touched yet.
        if par & 1 != 0, par & (1 << 9) != 0 { par = firstTouch(virtual: va, write: write) }
        guard par & 1 == 0 else { return nil }                    // PAR_EL1.F: translation failed
        let pa = (par & 0x0000_FFFF_FFFF_F000) | (va & 0xFFF)
        // Defence in depth: stage 2 maps only this domain's RAM, but check anyway.
        guard (pa >= domain.ram.base && pa - domain.ram.base <= domain.ram.size - length)
                || domain.moreRAMHolds(pa, length: length) else { return nil }
        return pa
    }

    /// The page behind `va` is populated (RAMBlocks: the hypervisor's first touch takes one
    /// page, under the p2m lock) and the walk tried again; PAR_EL1 of that walk (or a
    /// failed one).
    @inline(never)
    func firstTouch(virtual va: UInt64, write: Bool) -> UInt64 {
        let s1 = write ? arch_at_s1e1w(va) : arch_at_s1e1r(va)
        let ipa = (s1 & 0x0000_FFFF_FFFF_F000) | (va & 0xFFF)
        guard s1 & 1 == 0,
              domain.withP2M({ held in held.blocks.isFirstTouch(ipa) && held.populatePage(ipa) }) else { return 1 }
        return write ? arch_at_s12e1w(va) : arch_at_s12e1r(va)
    }

    func readVirtual(_ va: UInt64, count: Int) -> [UInt8]? {
        var out: [UInt8] = []
        var at = va, left = UInt64(count)
        while left > 0 {
            let chunk = min(left, 4096 - (at & 0xFFF))
            guard let pa = hostAddress(virtual: at, length: chunk, write: false) else { return nil }
            out += PhysicalMemory.bytes(at: pa, count: Int(chunk))
            at &+= chunk; left -= chunk
        }
        return out
    }

    /// Writes `bytes` at guest virtual `va`, page by page; false (nothing more written)
    /// at the first page the guest may not write.
    func writeVirtual(_ va: UInt64, _ bytes: [UInt8]) -> Bool {
        var at = va, done = 0
        while done < bytes.count {
            let chunk = min(bytes.count - done, Int(4096 - (at & 0xFFF)))
            guard let pa = hostAddress(virtual: at, length: UInt64(chunk), write: true) else { return false }
            PhysicalMemory.store(Array(bytes[done..<done + chunk]), at: pa)
            at &+= UInt64(chunk); done += chunk
        }
        return true
    }

    func readVirtual32(_ va: UInt64) -> UInt32? {
        guard let b = readVirtual(va, count: 4) else { return nil }
        return UInt32(b[0]) | UInt32(b[1]) << 8 | UInt32(b[2]) << 16 | UInt32(b[3]) << 24
    }
}
#endif
