/// The board's free RAM after boot, in 2 MiB chunks (one bit each): what the toolstack's
/// domains take for their RAM and what the hypervisor's heap grows by. One pool for both, as
/// Xen's xenheap and domheap come out of the same free pages on arm64, so `xl info`'s
/// free_memory counts the hypervisor's own growth too.
///
/// Its storage is fixed when it is made: `allocate` and `release` never allocate memory,
/// so the heap may take a chunk from it while the heap's own lock is held (the pool's lock
/// is a leaf: nothing is called under it).
public struct ChunkPool: Sendable {
    public static let chunkSize: UInt64 = 2 << 20

    /// Address of chunk 0 (2 MiB aligned).
    public let base: UInt64
    /// Chunks the pool spans (free or not).
    public let count: Int
    /// Bit i of word i / 64 set: chunk i is free.
    private var bits: [UInt64]
    public private(set) var freeChunks: Int

    /// The chunks lying wholly inside `ranges` are free; parts of a range smaller than a
    /// chunk (or not on a chunk boundary) are left out.
    public init(ranges: [PhysicalRange]) {
        let c = ChunkPool.chunkSize
        let spans = ranges.compactMap(ChunkPool.wholeChunks)
        guard let lo = spans.map({ $0.start }).min(), let hi = spans.map({ $0.end }).max() else {
            base = 0; count = 0; bits = []; freeChunks = 0
            return
        }
        base = lo
        count = Int((hi - lo) / c)
        bits = [UInt64](repeating: 0, count: (count + 63) / 64)
        freeChunks = 0
        for s in spans {
            for i in Int((s.start - lo) / c)..<Int((s.end - lo) / c) where !isFree(i) {
                setFree(i, true)
                freeChunks += 1
            }
        }
    }

    /// The chunk-aligned part of `r`, nil when it holds no whole chunk.
    private static func wholeChunks(_ r: PhysicalRange) -> (start: UInt64, end: UInt64)? {
        let c = chunkSize
        guard r.size >= c, r.base <= UInt64.max - r.size else { return nil }
        let s = (r.base &+ c &- 1) & ~(c - 1), e = r.end & ~(c - 1)
        return s < e ? (s, e) : nil
    }

    public var freeBytes: UInt64 { UInt64(freeChunks) &* ChunkPool.chunkSize }

    public func isFree(_ i: Int) -> Bool { i >= 0 && i < count && bits[i >> 6] & (1 << UInt64(i & 63)) != 0 }

    private mutating func setFree(_ i: Int, _ free: Bool) {
        if free { bits[i >> 6] |= 1 << UInt64(i & 63) } else { bits[i >> 6] &= ~(1 << UInt64(i & 63)) }
    }

    /// The lowest run of `chunks` free chunks, taken; nil when there is none.
    public mutating func allocate(chunks n: Int) -> PhysicalRange? {
        guard n > 0, n <= freeChunks else { return nil }
        var run = 0, i = 0
        while i < count {
            // Whole words with nothing free are passed over at once.
            if i & 63 == 0 && bits[i >> 6] == 0 { run = 0; i += 64; continue }
            if isFree(i) {
                run += 1
                if run == n {
                    let first = i - n + 1
                    for j in first...i { setFree(j, false) }
                    freeChunks -= n
                    return PhysicalRange(base: base &+ UInt64(first) &* ChunkPool.chunkSize,
                                         size: UInt64(n) &* ChunkPool.chunkSize)
                }
            } else {
                run = 0
            }
            i += 1
        }
        return nil
    }

    /// `bytes` rounded up to whole chunks.
    public mutating func allocate(bytes: UInt64) -> PhysicalRange? {
        guard bytes > 0, bytes <= UInt64(count) &* ChunkPool.chunkSize else { return nil }
        return allocate(chunks: Int((bytes + ChunkPool.chunkSize - 1) / ChunkPool.chunkSize))
    }

    /// Gives back chunks `allocate` handed out. False (and nothing changes) for a range that
    /// is not whole chunks of the pool or holds a chunk that is free already.
    @discardableResult
    public mutating func release(_ r: PhysicalRange) -> Bool {
        let c = ChunkPool.chunkSize
        guard r.size > 0, r.base >= base, r.base & (c - 1) == 0, r.size & (c - 1) == 0,
              (r.base - base) / c + r.size / c <= UInt64(count) else { return false }
        let first = Int((r.base - base) / c), n = Int(r.size / c)
        for j in first..<(first + n) where isFree(j) { return false }
        for j in first..<(first + n) { setFree(j, true) }
        freeChunks += n
        return true
    }
}
