#if hasFeature(Embedded)
import AArch64
import ApusCore

/// Physical memory as EL2 sees it: identity-mapped, so a physical address is also
/// the pointer. This file and GuestMemory.swift are where raw pointers live.
enum PhysicalMemory {
    static func read64(_ pa: UInt64) -> UInt64 {
        UnsafePointer<UInt64>(bitPattern: UInt(pa))!.pointee
    }
    static func write64(_ pa: UInt64, _ v: UInt64) {
        UnsafeMutablePointer<UInt64>(bitPattern: UInt(pa))!.pointee = v
    }
    static func copy(to dst: UInt64, from src: UInt64, count: UInt64) {
        guard count > 0 else { return }
        _ = memcpy(UnsafeMutableRawPointer(bitPattern: UInt(dst))!, UnsafeRawPointer(bitPattern: UInt(src))!, Int(count))
    }
    static func zero(_ pa: UInt64, count: UInt64) {
        guard count > 0 else { return }
        _ = memset(UnsafeMutableRawPointer(bitPattern: UInt(pa))!, 0, Int(count))
    }
    /// Writes [pa, pa + count) back from the caches to RAM and drops it from them (see
    /// arch_dcache_flush_poc).
    static func flushToRAM(_ pa: UInt64, count: UInt64) {
        guard count > 0 else { return }
        arch_dcache_flush_poc(pa, count)
    }
    static func bytes(at pa: UInt64, count: Int) -> [UInt8] {
        guard count > 0 else { return [] }
        let p = UnsafeRawPointer(bitPattern: UInt(pa))!
        return [UInt8](unsafeUninitializedCapacity: count) { buf, n in
            _ = memcpy(buf.baseAddress!, p, count)
            n = count
        }
    }
    static func store(_ b: [UInt8], at pa: UInt64) { store(b, from: 0, count: b.count, at: pa) }
    /// `count` bytes of `b` from index `start` (within it) to `pa`.
    static func store(_ b: [UInt8], from start: Int, count: Int, at pa: UInt64) {
        guard count > 0, start >= 0, start <= b.count - count else { return }
        let p = UnsafeMutableRawPointer(bitPattern: UInt(pa))!
        b.withUnsafeBytes { _ = memcpy(p, $0.baseAddress! + start, count) }
    }
    static func allocatePages(_ count: Int) -> UInt64? {
        var p: UnsafeMutableRawPointer? = nil
        _ = posix_memalign(&p, 4096, count * 4096)
        guard let q = p else { return nil }
        _ = memset(q, 0, count * 4096)
        return UInt64(UInt(bitPattern: q))
    }
}

/// Gives back a page from `PhysicalMemory.allocatePages`.
func apus_free_page(_ pa: UInt64) {
    free(UnsafeMutableRawPointer(bitPattern: UInt(pa)))
}

/// Translation tables kept in hypervisor heap pages. A domain's p2m gets a budget: the
/// guest makes the hypervisor split blocks (grant maps, Xen pages, each needing a table),
/// and must not be able to use up the heap that way.
struct HeapTableMemory: TranslationTableMemory {
    var budget: Int = .max
    /// The VMID of the domain whose p2m this is (nil: not known, every VMID is flushed).
    var vmid: UInt64? = nil
    mutating func allocateTable() -> UInt64? {
        guard budget > 0, let t = PhysicalMemory.allocatePages(1) else { return nil }
        budget -= 1
        return t
    }
    mutating func freeTable(_ table: UInt64) {
        free(UnsafeMutableRawPointer(bitPattern: UInt(table)))
        budget += 1
    }
    func readEntry(table: UInt64, index: Int) -> UInt64 { PhysicalMemory.read64(table + UInt64(index) * 8) }
    mutating func writeEntry(table: UInt64, index: Int, _ value: UInt64) {
        // A valid descriptor may link a table just filled (a new or split table, on a p2m
        // other CPUs walk while its RAM is populated): its entries must be seen first.
        if value & 1 != 0 { arch_dmb_ishst() }
        PhysicalMemory.write64(table + UInt64(index) * 8, value)
    }
    /// Break-before-make (TranslationTable.replaceValid): the old translation leaves every TLB.
    mutating func invalidateTLB(root: UInt64, regime: TranslationRegime, input: UInt64, size: UInt64) {
        switch regime {
        case .el2Stage1:
            if size == 4096 { arch_tlbi_vae2is(input) } else { arch_tlbi_alle2is() }
        case .stage2:
            guard let vmid else { return arch_tlbi_alle1is() }
            let vttbr = root | (vmid << 48)
            if size == 4096 { arch_flush_guest_tlb_ipa(vttbr, input) } else { arch_flush_guest_tlb(vttbr) }
        }
    }
}
#endif
