import Testing
@testable import ApusCore

private func r(_ base: UInt64, _ size: UInt64) -> PhysicalRange { PhysicalRange(base: base, size: size) }
private let miB: UInt64 = 1 << 20
private let giB: UInt64 = 1 << 30

@Suite struct PhysicalAllocatorTests {
    @Test func physicalRangeBasics() {
        #expect(r(0x1000, 0x2000).end == 0x3000)
        #expect(r(0x1000, 0x2000).overlaps(r(0x2FFF, 1)))
        #expect(!r(0x1000, 0x2000).overlaps(r(0x3000, 1)), "end is exclusive")
        #expect(!r(0x1000, 0x2000).overlaps(r(0x0, 0x1000)))
        #expect(r(0x1000, 0x2000).overlaps(r(0x0, 0x1001)))
        #expect(r(0x1000, 0x10).overlaps(r(0, 0x10_0000)), "containment")
    }

    @Test func banksAreSortedAndEmptyOrWrappingBanksDropped() {
        let a = PhysicalAllocator(banks: [r(0x2_0000_0000, giB), r(0x4000_0000, giB), r(0x9000_0000, 0),
                                          r(UInt64.max - 0xFFF, 0x2000)],
                                  reserved: [])
        #expect(a.free == [r(0x4000_0000, giB), r(0x2_0000_0000, giB)])
        #expect(a.totalFree == 2 * giB)
    }

    @Test func reservedRangesAreRemoved() {
        // QEMU virt: RAM at 1 GiB, the hypervisor in its first 2 MiB, the DTB and a module further up.
        let a = PhysicalAllocator(banks: [r(0x4000_0000, giB)],
                                  reserved: [r(0x4000_0000, 2 * miB), r(0x4800_0000, 0x1_0000), r(0x4A00_0000, 0x80_0000)])
        #expect(a.free == [r(0x4020_0000, 0x4800_0000 - 0x4020_0000),
                           r(0x4801_0000, 0x4A00_0000 - 0x4801_0000),
                           r(0x4A80_0000, 0x8000_0000 - 0x4A80_0000)])
        #expect(a.totalFree == giB - 2 * miB - 0x1_0000 - 0x80_0000)
    }

    @Test func reservedRangesOverlappingBankEdgesAndSpanningBanks() {
        let a = PhysicalAllocator(banks: [r(0x1000_0000, 0x1000_0000), r(0x3000_0000, 0x1000_0000)],
                                  reserved: [r(0x0800_0000, 0x0900_0000),          // covers the start of bank 1
                                             r(0x1F00_0000, 0x1200_0000),          // end of bank 1 to start of bank 2
                                             r(0x5000_0000, 0x1000)])              // outside all RAM
        #expect(a.free == [r(0x1100_0000, 0x0E00_0000), r(0x3100_0000, 0x0F00_0000)])
    }

    @Test func reservingEverythingLeavesNothing() {
        var a = PhysicalAllocator(banks: [r(0x4000_0000, giB)], reserved: [r(0, 0x1_0000_0000)])
        #expect(a.free.isEmpty)
        #expect(a.totalFree == 0)
        #expect(a.allocate(size: 0x1000, alignment: 0x1000) == nil)
    }

    @Test func removeIsANoOpWhereNothingIsFree() {
        var a = PhysicalAllocator(banks: [r(0x4000_0000, giB)], reserved: [])
        a.remove(r(0x1000, 0x1000))
        a.remove(r(0x4000_0000, 0))
        #expect(a.free == [r(0x4000_0000, giB)])
    }

    @Test func allocationsAreAlignedAndLowestFirst() throws {
        var a = PhysicalAllocator(banks: [r(0x4000_0000, giB)], reserved: [r(0x4000_0000, 2 * miB)])
        let bigResult = a.allocate(size: 16 * miB, alignment: 32 * miB)
        let big = try #require(bigResult)
        #expect(big == r(0x4200_0000, 16 * miB))
        #expect(big.base % (32 * miB) == 0)
        // The gap skipped for alignment is still free and is used next.
        let smallResult = a.allocate(size: 0x1000, alignment: 0x1000)
        let small = try #require(smallResult)
        #expect(small == r(0x4020_0000, 0x1000))
        let nextResult = a.allocate(size: 2 * miB, alignment: 2 * miB)
        let next = try #require(nextResult)
        #expect(next == r(0x4040_0000, 2 * miB))
        #expect(a.totalFree == giB - 2 * miB - 16 * miB - 0x1000 - 2 * miB)
        for x in [big, small, next] {
            #expect(!a.free.contains { $0.overlaps(x) }, "allocated memory is no longer free")
        }
    }

    @Test func allocationSkipsRangesTooSmallAfterAlignment() throws {
        var a = PhysicalAllocator(banks: [r(0x1000, 0x3000), r(0x10_0000, 0x10_0000)], reserved: [])
        // The first range has 3 pages but only one 8K-aligned page pair start at 0x2000: [0x2000, 0x4000).
        #expect(a.allocate(size: 0x2000, alignment: 0x2000) == r(0x2000, 0x2000))
        // Nothing aligned to 1 MiB with 2 MiB left: the second range is only 1 MiB.
        #expect(a.allocate(size: 2 * miB, alignment: miB) == nil)
        #expect(a.allocate(size: miB, alignment: miB) == r(0x10_0000, miB))
        #expect(a.free == [r(0x1000, 0x1000)])
    }

    @Test func exhaustionReturnsNilAndChangesNothing() throws {
        var a = PhysicalAllocator(banks: [r(0x4000_0000, 64 * miB)], reserved: [])
        #expect(a.allocate(size: 64 * miB + 0x1000, alignment: 0x1000) == nil)
        #expect(a.free == [r(0x4000_0000, 64 * miB)])
        let allResult = a.allocate(size: 64 * miB, alignment: 64 * miB)
        let all = try #require(allResult)
        #expect(all == r(0x4000_0000, 64 * miB))
        #expect(a.free.isEmpty)
        #expect(a.allocate(size: 0x1000, alignment: 1) == nil)
    }

    @Test func invalidRequestsReturnNil() {
        var a = PhysicalAllocator(banks: [r(0x4000_0000, giB)], reserved: [])
        #expect(a.allocate(size: 0, alignment: 0x1000) == nil)
        #expect(a.allocate(size: 0x1000, alignment: 0) == nil)
        #expect(a.allocate(size: 0x1000, alignment: 0x3000) == nil, "not a power of two")
        #expect(a.free == [r(0x4000_0000, giB)])
    }

    @Test func releaseMergesWithBothNeighbours() throws {
        var a = PhysicalAllocator(banks: [r(0x4000_0000, giB)], reserved: [])
        let xResult = a.allocate(size: 2 * miB, alignment: 2 * miB)
        let x = try #require(xResult)
        let yResult = a.allocate(size: 2 * miB, alignment: 2 * miB)
        let y = try #require(yResult)
        let zResult = a.allocate(size: 2 * miB, alignment: 2 * miB)
        let z = try #require(zResult)
        #expect([x.base, y.base, z.base] == [0x4000_0000, 0x4020_0000, 0x4040_0000])
        a.release(x)
        a.release(z)
        #expect(a.free == [r(0x4000_0000, 2 * miB), r(0x4040_0000, giB - 4 * miB)])
        a.release(y)
        #expect(a.free == [r(0x4000_0000, giB)], "back to one range")
        #expect(a.totalFree == giB)
        // And the whole bank can be handed out in one piece again.
        #expect(a.allocate(size: giB, alignment: giB) == r(0x4000_0000, giB))
    }

    @Test func releaseKeepsSeparateRangesApart() {
        var a = PhysicalAllocator(banks: [r(0x4000_0000, giB)], reserved: [r(0x4000_0000, giB)])
        a.release(r(0x5000_0000, miB))
        a.release(r(0x4000_0000, miB))
        #expect(a.free == [r(0x4000_0000, miB), r(0x5000_0000, miB)], "sorted, not merged across a gap")
        a.release(r(0x4000_0000, 0))
        #expect(a.free.count == 2, "empty release is ignored")
    }

    @Test func overlappingReleaseDoesNotDoubleCount() {
        var a = PhysicalAllocator(banks: [r(0x4000_0000, 4 * miB)], reserved: [])
        a.release(r(0x4010_0000, 4 * miB))
        #expect(a.free == [r(0x4000_0000, 5 * miB)])
        #expect(a.totalFree == 5 * miB)
    }
}
