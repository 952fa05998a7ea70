import Testing
@testable import ApusCore

private let block = RAMBlocks.blockSize

@Suite struct RAMBlocksTests {
    @Test func blocksOfAddressesAndRanges() {
        let r = RAMBlocks(base: 0x4000_0000, size: 256 << 20)
        #expect(r.count == 128)
        #expect(r.block(containing: 0x4000_0000) == 0)
        #expect(r.block(containing: 0x401F_FFFF) == 0)
        #expect(r.block(containing: 0x4020_0000) == 1)
        #expect(r.block(containing: 0x4FFF_FFFF) == 127)
        #expect(r.block(containing: 0x5000_0000) == nil, "end is exclusive")
        #expect(r.block(containing: 0x3FFF_FFFF) == nil)
        #expect(r.blocks(0x401F_F000, length: 0x2000) == 0..<2, "a range across a block edge spans both")
        #expect(r.blocks(0x4000_0000, length: 256 << 20) == 0..<128)
        #expect(r.blocks(0x4FFF_F000, length: 0x1000) == 127..<128)
        #expect(r.offset(ofBlock: 3) == 3 * block)
    }

    @Test func rangesLeavingTheRAMOrEmptyAreRefused() {
        let r = RAMBlocks(base: 0x4000_0000, size: 64 << 20)
        #expect(r.blocks(0x4000_0000, length: 0) == nil)
        #expect(r.blocks(0x43FF_F000, length: 0x2000) == nil, "runs past the end")
        #expect(r.blocks(0x3FFF_F000, length: 0x2000) == nil, "starts below the base")
        #expect(r.blocks(0x4000_1000, length: UInt64.max) == nil, "no wrap-around")
        #expect(r.blocks(UInt64.max - 0xFFF, length: 0x1000) == nil)
    }

    @Test func populationIsTrackedPerBlockAndForgotten() {
        var r = RAMBlocks(base: 0x4000_0000, size: 130 * block)       // more than two words of bits
        #expect(r.populatedBytes == 0)
        #expect(r.isFirstTouch(0x4000_0000))
        r.setPopulated(0); r.setPopulated(64); r.setPopulated(129)
        r.setPopulated(130); r.setPopulated(-1)                           // outside: ignored
        #expect(r.isPopulated(0) && r.isPopulated(64) && r.isPopulated(129))
        #expect(!r.isPopulated(1) && !r.isPopulated(63) && !r.isPopulated(130))
        #expect(r.populatedBytes == 3 * block)
        #expect(!r.isFirstTouch(0x4000_0000 + 64 * block + 0x1234))
        #expect(r.isFirstTouch(0x4000_0000 + 65 * block))
        #expect(!r.isFirstTouch(0x4000_0000 + 130 * block), "outside the RAM is never a first touch")
        r.forgetAll()
        #expect(r.populatedBytes == 0)
        #expect(!r.isPopulated(64))
    }

    /// A toolstack domain's bank gives back its unpopulated tail: only untouched blocks go,
    /// the rest keep their state, and the RAM ends where the blocks do.
    @Test func truncateDropsOnlyUntouchedTailBlocks() {
        var r = RAMBlocks(base: 0x4000_0000, size: 10 * block)
        r.setPopulated(1)
        r.markPartial(3)
        _ = r.setPagePopulated(0x4000_0000 + 3 * block + 0x5000)
        let refused = r.truncate(toBlocks: 3)
        #expect(!refused, "block 3 is partial")
        #expect(r.count == 10 && r.size == 10 * block)
        let ok = r.truncate(toBlocks: 4)
        #expect(ok)
        #expect(r.count == 4 && r.size == 4 * block)
        #expect(r.isPopulated(1) && r.state(3) == .partial)
        #expect(!r.isFirstTouch(0x4000_0000 + 3 * block + 0x5000) && r.isFirstTouch(0x4000_0000 + 3 * block))
        #expect(r.block(containing: 0x4000_0000 + 4 * block) == nil, "past the new end")
        #expect(r.populatedBytes == block + 0x1000)
        let same = r.truncate(toBlocks: 4), grow = r.truncate(toBlocks: 5)
        #expect(same && !grow)
    }

    @Test func aClaimedBlockBelongsToItsZeroerUntilMappedOrGivenUp() {
        var r = RAMBlocks(base: 0x4000_0000, size: 8 * block)
        let ok1 = r.claim(2)
        #expect(ok1)
        #expect(r.state(2) == .claimed)
        let ok2 = r.claim(2)
        #expect(!ok2, "a second CPU faulting on it retries instead of zeroing it again")
        let ok3 = r.setPagePopulated(0x4000_0000 + 2 * block)
        #expect(!ok3, "a page of a block being zeroed whole cannot be populated alone")
        #expect(r.isFirstTouch(0x4000_0000 + 2 * block), "not readable until it is mapped")
        r.unclaim(2)
        #expect(r.state(2) == .untouched)
        let ok4 = r.claim(2)
        #expect(ok4)
        r.setPopulated(2)
        #expect(r.isPopulated(2) && r.populatedBytes == block)
        let ok5 = r.claim(2)
        #expect(!ok5 && !r.setPagePopulated(0x4000_0000 + 2 * block + 0x3000))
    }

    @Test func theHypervisorsFirstTouchPopulatesOnePageAndTheBlockGoesPartial() {
        var r = RAMBlocks(base: 0x4000_0000, size: 8 * block)
        let page = 0x4000_0000 + 3 * block + 0x5000
        let ok6 = r.setPagePopulated(page + 0x123)
        #expect(ok6)
        #expect(r.state(3) == .partial)
        #expect(r.isPagePopulated(page) && !r.isFirstTouch(page + 0xFFF))
        #expect(r.isFirstTouch(page + 0x1000), "the next page is still untouched")
        #expect(r.isFirstTouch(page - 0x1000))
        let ok7 = r.claim(3)
        #expect(!ok7, "a partial block is never zeroed whole again")
        r.setPopulated(3)
        #expect(r.state(3) == .partial, "nor mapped whole over its pages")
        let ok8 = r.setPagePopulated(0x4000_0000 + 4 * block - 0x1000)
        #expect(ok8, "last page of the block")
        #expect(r.populatedBytes == 2 * 0x1000)
        let ok9 = r.setPagePopulated(0x4000_0000 + 8 * block)
        #expect(!ok9, "outside the RAM")
        r.forgetAll()
        #expect(r.state(3) == .untouched && r.populatedBytes == 0 && r.isFirstTouch(page))
    }

    @Test func aGuestsFirstTouchZeroesOneChunkPerFaultAndTheLastMapsTheBlock() {
        var r = RAMBlocks(base: 0x4000_0000, size: 8 * block)
        var taken: [Int] = []
        // Two vCPUs faulting on the same block share its chunks, each taken once.
        while let c = r.takeChunk(5) { taken.append(c) }
        #expect(taken == Array(0..<RAMBlocks.chunksPerBlock))
        #expect(r.state(5) == .claimed)
        let first = r.setPagePopulated(0x4000_0000 + 5 * block)
        #expect(!first, "no page of a block being zeroed whole is populated alone")
        var last = false
        for c in taken.reversed() {
            #expect(!last, "the block is ready only after its last chunk")
            last = r.chunkZeroed(5, c)
        }
        #expect(last)
        r.setPopulated(5)
        #expect(r.isPopulated(5) && r.takeChunk(5) == nil)
        // A claim given up leaves nothing behind.
        let c0 = r.takeChunk(6)
        #expect(c0 == 0)
        r.unclaim(6)
        #expect(r.state(6) == .untouched && r.takeChunk(6) == 0)
        #expect(RAMBlocks.chunkSize * UInt64(RAMBlocks.chunksPerBlock) == block)
    }
}
