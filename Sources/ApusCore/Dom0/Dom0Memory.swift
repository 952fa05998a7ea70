/// Dom0's RAM for a direct-mapped dom0 (guest physical = machine physical), following
/// Xen/Arm 4.17's allocate_memory_11 (xen/arch/arm/domain_build.c):
/// - chunks are powers of two, each aligned to its size (what Xen's buddy allocator returns);
/// - bank 0 is the largest chunk that fits, at least min(dom0_mem, 128 MiB), found in the
///   lowest address band (Xen's zones: addresses of the same bit length) below 4 GiB;
/// - then the largest chunks that fit, below 4 GiB first, then anywhere; a chunk under
///   bank 0 is refused unless it is at least 128 MiB; banks are kept sorted and adjacent
///   chunks merged (insert_11_bank).
/// Where Xen's heap would hand out a chunk depends on everything Xen allocated before dom0;
/// Apus takes, among the candidates, the one at the highest address (Xen's free lists give
/// out the most recently freed, highest blocks first). Sizes are in 2 MiB blocks, not Xen's
/// 4 KiB pages: Apus maps guest RAM in 2 MiB blocks (RAMBlocks).
public enum Dom0Memory {
    public static let blockSize: UInt64 = 0x20_0000
    /// Xen's NR_MEM_BANKS in 4.17.
    public static let maxBanks = 256
    static let lowmemLimit: UInt64 = 1 << 32
    static let minBankBelowBank0: UInt64 = 128 << 20
    /// Xen's min_order: after a failure, chunk sizes go no smaller than 4 MiB.
    static let minChunk: UInt64 = 4 << 20

    /// RAM free for dom0: `ram` minus `reserved`, in whole 2 MiB blocks, sorted by address.
    public static func freeBlocks(ram: [PhysicalRange], reserved: [PhysicalRange]) -> [PhysicalRange] {
        var out: [PhysicalRange] = []
        for f in PhysicalAllocator(banks: ram, reserved: reserved).free {
            guard f.base <= UInt64.max &- (blockSize &- 1) else { continue }
            let start = (f.base &+ blockSize &- 1) & ~(blockSize &- 1)
            let end = f.end & ~(blockSize &- 1)
            if end > start { out.append(PhysicalRange(base: start, size: end &- start)) }
        }
        return out
    }

    /// Dom0's banks, sorted by address: `size` bytes (rounded up to 2 MiB) of `ram` outside
    /// `reserved` (the hypervisor, the boot DTB, the boot modules, /reserved-memory and
    /// /memreserve/ regions, other domains' RAM).
    public static func allocate(ram: [PhysicalRange], reserved: [PhysicalRange], size requested: UInt64)
        throws(Dom0BootError) -> [PhysicalRange] {
        var free = freeBlocks(ram: ram, reserved: reserved)
        var available: UInt64 = 0
        for f in free { available &+= f.size }
        guard requested <= UInt64.max &- blockSize else { throw .memoryTooLarge(requested: requested, available: available) }
        let size = max((requested &+ blockSize &- 1) & ~(blockSize &- 1), blockSize)
        guard size <= available else { throw .memoryTooLarge(requested: size, available: available) }

        var banks: [PhysicalRange] = []
        var unassigned = size
        let minLow = ceilPowerOfTwo(min(size, minBankBelowBank0))

        // Bank 0: the largest chunk possible, as low as possible.
        var lowmem = false
        var chunk = floorPowerOfTwo(unassigned)
        while chunk >= minLow {
            if let c = takeLowestBand(&free, size: chunk, limit: lowmemLimit) {
                banks.append(c)
                unassigned &-= chunk
                lowmem = true
                break
            }
            chunk >>= 1
        }

        chunk = floorPowerOfTwo(unassigned)
        while unassigned > 0 && banks.count < maxBanks {
            guard let c = takeHighest(&free, size: chunk, limit: lowmem ? lowmemLimit : UInt64.max) else {
                chunk >>= 1
                if lowmem && chunk < minLow {
                    chunk = floorPowerOfTwo(unassigned)
                    lowmem = false
                    continue
                }
                if chunk >= minChunk { continue }
                break
            }
            if insert(c, into: &banks) {
                unassigned &-= c.size
                chunk = floorPowerOfTwo(unassigned)
                continue
            }
            // Xen frees the chunk again: here it was never taken out of `free` for good.
            release(c, into: &free)
            if banks.count == maxBanks { break }
            if lowmem {
                chunk = floorPowerOfTwo(unassigned)
                lowmem = false
                continue
            }
            break
        }
        guard unassigned == 0 else { throw .memoryNotAllocatable(requested: size, unallocated: unassigned) }
        return banks
    }

    /// Xen's insert_11_bank: merge with a neighbour, or insert in address order; false when
    /// the chunk lies below bank 0 and is smaller than 128 MiB, or no bank is left.
    static func insert(_ c: PhysicalRange, into banks: inout [PhysicalRange]) -> Bool {
        if banks.isEmpty { banks.append(c); return true }
        if c.size < minBankBelowBank0 && c.end < banks[0].base { return false }
        var i = 0
        while i < banks.count {
            if banks[i].base == c.end {
                banks[i] = PhysicalRange(base: c.base, size: banks[i].size &+ c.size)
                return true
            }
            if banks[i].end == c.base {
                banks[i].size &+= c.size
                return true
            }
            if c.end < banks[i].base && banks.count < maxBanks {
                banks.insert(c, at: i)
                return true
            }
            i &+= 1
        }
        guard banks.count < maxBanks else { return false }
        banks.append(c)
        return true
    }

    /// The highest chunk of `size` (aligned to `size`) inside `free` and below `limit`, taken out.
    static func takeHighest(_ free: inout [PhysicalRange], size: UInt64, limit: UInt64) -> PhysicalRange? {
        guard let c = highest(in: free, size: size, from: 0, to: limit) else { return nil }
        take(c, from: &free)
        return c
    }

    /// Xen's bank-0 search (MEMF_bits from the chunk's order up to 32): the lowest address band
    /// [2^(b-1), 2^b) holding a chunk, and in it the highest chunk.
    static func takeLowestBand(_ free: inout [PhysicalRange], size: UInt64, limit: UInt64) -> PhysicalRange? {
        var bits = size.trailingZeroBitCount
        while bits <= limit.trailingZeroBitCount && bits < 64 {
            let low: UInt64 = bits == 0 ? 0 : UInt64(1) << UInt64(bits &- 1)
            if let c = highest(in: free, size: size, from: low, to: UInt64(1) << UInt64(bits)) {
                take(c, from: &free)
                return c
            }
            bits &+= 1
        }
        return nil
    }

    /// The highest `size`-aligned chunk of `size` bytes within [from, to) and inside one free range.
    static func highest(in free: [PhysicalRange], size: UInt64, from: UInt64, to: UInt64) -> PhysicalRange? {
        var best: PhysicalRange?
        for f in free {
            let lo = max(f.base, from)
            let hi = min(f.end, to)
            guard hi > lo, hi &- lo >= size else { continue }
            let start = (hi &- size) & ~(size &- 1)
            guard start >= lo else { continue }
            if let b = best, b.base >= start { continue }
            best = PhysicalRange(base: start, size: size)
        }
        return best
    }

    static func take(_ c: PhysicalRange, from free: inout [PhysicalRange]) {
        var a = PhysicalAllocator(banks: [], reserved: [])
        for f in free { a.release(f) }
        a.remove(c)
        free = a.free
    }

    static func release(_ c: PhysicalRange, into free: inout [PhysicalRange]) {
        var a = PhysicalAllocator(banks: [], reserved: [])
        for f in free { a.release(f) }
        a.release(c)
        free = a.free
    }

    /// The largest power of two not above `v` (v > 0).
    static func floorPowerOfTwo(_ v: UInt64) -> UInt64 {
        v == 0 ? 0 : UInt64(1) << UInt64(63 &- v.leadingZeroBitCount)
    }

    /// The smallest power of two not below `v` (0 < v <= 2^63).
    static func ceilPowerOfTwo(_ v: UInt64) -> UInt64 {
        let f = floorPowerOfTwo(v)
        return f == v ? v : f << 1
    }

    /// Xen's extended regions for a dom0 without an IOMMU (find_unallocated_memory): host RAM
    /// that is not dom0's, not /reserved-memory and not the grant-table window, each region
    /// shrunk to 2 MiB boundaries and kept when at least 64 MiB. Guest-physical space where
    /// dom0 may map foreign pages; the host RAM behind those addresses is never dom0's.
    public static func extendedRegions(ram: [PhysicalRange], dom0Banks: [PhysicalRange],
                                       reservedMemory: [PhysicalRange], grantTable: PhysicalRange) -> [PhysicalRange] {
        var out: [PhysicalRange] = []
        for r in freeBlocks(ram: ram, reserved: dom0Banks + reservedMemory + [grantTable]) where r.size >= 64 << 20 {
            out.append(r)
        }
        return out
    }
}
