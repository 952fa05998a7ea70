import Testing
@testable import ApusCore

private func r(_ base: UInt64, _ size: UInt64) -> PhysicalRange { PhysicalRange(base: base, size: size) }
private let miB: UInt64 = 1 << 20
private let chunk = ChunkPool.chunkSize

@Suite struct ChunkPoolTests {
    @Test func onlyWholeAlignedChunksInsideTheRangesAreFree() {
        // What boot leaves on QEMU virt: ragged edges around domains and the hypervisor.
        let p = ChunkPool(ranges: [r(0x4010_0000, 0x40_0000),          // 0x40100000-0x40500000: one whole chunk (0x40200000)
                                   r(0x4800_0000, 0x60_0000),          // three chunks
                                   r(0x5000_1000, 0x20_0000)])         // crosses a boundary: none whole
        #expect(p.freeChunks == 4)
        #expect(p.freeBytes == 4 * chunk)
        #expect(p.base == 0x4020_0000)
        #expect(p.isFree(0) && !p.isFree(1))
        #expect(p.isFree(Int((0x4800_0000 - 0x4020_0000) / chunk)))
        #expect(ChunkPool(ranges: [r(0x4000_1000, 0x1F_F000)]).freeChunks == 0, "less than a chunk")
        var empty = ChunkPool(ranges: [])
        #expect(empty.allocate(chunks: 1) == nil)
    }

    @Test func allocateTakesTheLowestRunThatFitsAndReleaseGivesItBack() {
        var p = ChunkPool(ranges: [r(0x4000_0000, 4 * chunk), r(0x4000_0000 + 6 * chunk, 8 * chunk)])
        #expect(p.freeChunks == 12)
        let a = p.allocate(chunks: 3)
        #expect(a == r(0x4000_0000, 3 * chunk))
        // Four in a row are not left in the first range (one chunk): the second range.
        let b = p.allocate(chunks: 4)
        #expect(b == r(0x4000_0000 + 6 * chunk, 4 * chunk))
        #expect(p.allocate(chunks: 1) == r(0x4000_0000 + 3 * chunk, chunk))
        #expect(p.freeChunks == 4)
        #expect(p.allocate(chunks: 5) == nil, "only four left")
        let released = p.release(a!)
        #expect(released)
        #expect(p.freeChunks == 7)
        #expect(p.allocate(bytes: 2 * chunk + 1) == r(0x4000_0000, 3 * chunk), "bytes round up to chunks")
    }

    @Test func releaseRefusesWhatThePoolDidNotHandOut() {
        var p = ChunkPool(ranges: [r(0x4000_0000, 8 * chunk)])
        let a = p.allocate(chunks: 2)!
        let refused = [r(a.base + 0x1000, chunk),                  // not on a chunk boundary
                       r(a.base, chunk + 0x1000),                  // not whole chunks
                       r(0x3FE0_0000, chunk),                      // below the pool
                       r(0x4000_0000 + 7 * chunk, 2 * chunk),      // past its end
                       r(a.base, 3 * chunk)]                       // the third chunk is free already
        for x in refused {
            let ok = p.release(x)
            #expect(!ok, "\(x)")
        }
        #expect(p.freeChunks == 6, "nothing changed")
        let first = p.release(a), second = p.release(a)
        #expect(first && !second, "a double release is refused")
        #expect(p.freeChunks == 8)
    }

    /// Random allocations and releases against a model: the pool never hands out a chunk
    /// twice and its count matches.
    @Test func randomUseMatchesAModel() {
        var p = ChunkPool(ranges: [r(0x4000_0000, 200 * chunk)])
        var held: [PhysicalRange] = []
        var seed: UInt64 = 0x1234_5678
        func next() -> UInt64 { seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17; return seed }
        for _ in 0..<5_000 {
            if next() % 3 != 0 || held.isEmpty {
                if let a = p.allocate(chunks: Int(next() % 9) + 1) {
                    #expect(!held.contains { $0.overlaps(a) })
                    held.append(a)
                }
            } else {
                let i = Int(next() % UInt64(held.count))
                let ok = p.release(held.remove(at: i))
                #expect(ok)
            }
            #expect(p.freeChunks == 200 - held.reduce(0) { $0 + Int($1.size / chunk) })
        }
    }
}
