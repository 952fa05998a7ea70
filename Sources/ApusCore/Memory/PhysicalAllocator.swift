/// Hands out physical memory for domains: the board's RAM banks minus what is
/// reserved (the hypervisor itself, the boot DTB, boot modules). Allocations are
/// aligned and contiguous so that a domain's RAM is a few large stage-2 blocks.
public struct PhysicalRange: Equatable, Sendable {
    public var base: UInt64
    public var size: UInt64
    public init(base: UInt64, size: UInt64) { self.base = base; self.size = size }
    public var end: UInt64 { base &+ size }
    public func overlaps(_ o: PhysicalRange) -> Bool { base < o.end && o.base < end }
}

public struct PhysicalAllocator: Sendable {
    /// Free ranges, sorted by base, non-overlapping.
    public private(set) var free: [PhysicalRange] = []

    public init(banks: [PhysicalRange], reserved: [PhysicalRange]) {
        for b in banks where b.size > 0 && b.base <= UInt64.max - b.size { free.append(b) }
        free.sort { $0.base < $1.base }
        for r in reserved { remove(r) }
    }

    public var totalFree: UInt64 { free.reduce(0) { $0 &+ $1.size } }

    /// Takes `range` out of the free list (no-op where it is not free).
    public mutating func remove(_ r: PhysicalRange) {
        guard r.size > 0 else { return }
        var out: [PhysicalRange] = []
        for f in free {
            if !f.overlaps(r) { out.append(f); continue }
            if f.base < r.base { out.append(PhysicalRange(base: f.base, size: r.base - f.base)) }
            if r.end < f.end { out.append(PhysicalRange(base: r.end, size: f.end - r.end)) }
        }
        free = out
    }

    /// Gives back a range (after a domain is destroyed); merges neighbours.
    public mutating func release(_ r: PhysicalRange) {
        guard r.size > 0 else { return }
        free.append(r)
        free.sort { $0.base < $1.base }
        var merged: [PhysicalRange] = []
        for f in free {
            if let last = merged.last, last.end >= f.base {
                merged[merged.count - 1].size = max(last.end, f.end) - last.base
            } else {
                merged.append(f)
            }
        }
        free = merged
    }

    /// Lowest free range of `size` bytes aligned to `alignment` (a power of two).
    public mutating func allocate(size: UInt64, alignment: UInt64) -> PhysicalRange? {
        guard size > 0, alignment > 0, alignment & (alignment - 1) == 0 else { return nil }
        for f in free {
            guard f.base <= UInt64.max - (alignment - 1) else { continue }
            let start = (f.base + alignment - 1) & ~(alignment - 1)
            guard start <= f.end, f.end - start >= size else { continue }
            let r = PhysicalRange(base: start, size: size)
            remove(r)
            return r
        }
        return nil
    }
}
