import Testing
@testable import ApusCore

/// Table memory for tests: a dictionary of 512-entry tables, with a budget of tables
/// so that running out of memory can be provoked.
private struct FakeTableMemory: TranslationTableMemory {
    /// Everything the table did to memory and TLBs, in order: break-before-make is an order.
    enum Event: Equatable {
        case write(table: UInt64, index: Int, value: UInt64)
        case invalidate(input: UInt64, size: UInt64)
    }
    var events: [Event] = []
    var tables: [UInt64: [UInt64]] = [:]
    var nextTable: UInt64 = 0x7000_0000
    var limit: Int

    init(limit: Int = 1000) { self.limit = limit }

    mutating func allocateTable() -> UInt64? {
        guard tables.count < limit else { return nil }
        let t = nextTable
        nextTable += 0x1000
        tables[t] = [UInt64](repeating: 0, count: 512)
        return t
    }

    func readEntry(table: UInt64, index: Int) -> UInt64 {
        guard index >= 0 && index < 512, let t = tables[table] else {
            Issue.record("read of entry \(index) of \(table), which is not an allocated table")
            return 0
        }
        return t[index]
    }

    mutating func freeTable(_ table: UInt64) {
        if tables.removeValue(forKey: table) == nil { Issue.record("free of \(table), which is not an allocated table") }
    }

    mutating func writeEntry(table: UInt64, index: Int, _ value: UInt64) {
        guard index >= 0 && index < 512, tables[table] != nil else {
            Issue.record("write of entry \(index) of \(table), which is not an allocated table")
            return
        }
        let old = tables[table]![index]
        if old & 1 != 0, value & 1 != 0, old != value {
            Issue.record("valid entry \(index) of \(table) rewritten in place (\(old) -> \(value)): no break-before-make")
        }
        tables[table]![index] = value
        events.append(.write(table: table, index: index, value: value))
    }

    mutating func invalidateTLB(root: UInt64, regime: TranslationRegime, input: UInt64, size: UInt64) {
        events.append(.invalidate(input: input, size: size))
    }
}

private typealias Table = TranslationTable<FakeTableMemory>

private let kiB: UInt64 = 1 << 10
private let miB: UInt64 = 1 << 20
private let giB: UInt64 = 1 << 30
private let addressMask: UInt64 = 0x0000_FFFF_FFFF_F000

private func makeTable(_ regime: TranslationRegime, limit: Int = 1000) throws -> Table {
    try #require(Table(regime: regime, memory: FakeTableMemory(limit: limit)))
}

extension TranslationTable where Memory == FakeTableMemory {
    /// Raw descriptor of the entry at `level` that translates `va` (walking through table entries).
    fileprivate func entry(for va: UInt64, level: Int) -> UInt64? {
        var table = root
        for l in 1...level {
            let e = memory.readEntry(table: table, index: Self.index(va, level: l))
            if l == level { return e }
            guard e & 3 == 3 else { return nil }
            table = e & addressMask
        }
        return nil
    }
}

@Suite struct TranslationTableTests {
    @Test func releaseTablesFreesTheWholeTree() throws {
        var t = try #require(Table(regime: .stage2, memory: FakeTableMemory()))
        try t.map(input: 0x4000_0000, output: 0x8000_0000, size: 1 << 30, kind: .normal, permissions: .all)
        try t.map(input: 0x3800_0000, output: 0x9000_0000, size: 0x1000, kind: .normal, permissions: .all)
        try t.map(input: 0x4020_1000, output: 0x9000_1000, size: 0x1000, kind: .normal, permissions: .read)
        #expect(t.memory.tables.count > 2)
        t.releaseTables()
        #expect(t.memory.tables.isEmpty, "every table, the root too, went back")
    }

    // MARK: construction

    @Test func rootIsAllocatedAndEmpty() throws {
        let t = try makeTable(.stage2)
        #expect(t.memory.tables.count == 1)
        #expect(t.memory.tables[t.root] == [UInt64](repeating: 0, count: 512))
        #expect(t.lookup(0) == nil)
        #expect(t.lookup(0x4000_0000) == nil)
    }

    @Test func initFailsWithoutMemoryForTheRoot() {
        #expect(Table(regime: .stage2, memory: FakeTableMemory(limit: 0)) == nil)
        #expect(Table(regime: .el2Stage1, memory: FakeTableMemory(limit: 0)) == nil)
    }

    @Test func geometry() {
        #expect(Table.inputBits == 39)
        #expect(Table.pageSize == 4096)
        #expect(Table.blockSize(level: 1) == giB)
        #expect(Table.blockSize(level: 2) == 2 * miB)
        #expect(Table.blockSize(level: 3) == 4 * kiB)
        // MAIR_EL2: Attr0 = Device-nGnRE (0x04), Attr1 = Normal inner/outer WB RW-allocate (0xFF).
        #expect(Table.mairEL2 & 0xFF == 0x04)
        #expect((Table.mairEL2 >> 8) & 0xFF == 0xFF)
        #expect(Table.mairEL2 >> 16 == 0)
    }

    // MARK: block selection

    @Test func oneGiBBlockWhenBothSidesAreGiBAligned() throws {
        var t = try makeTable(.stage2)
        try t.map(input: 0x4000_0000, output: 0x1_0000_0000, size: giB, kind: .normal, permissions: .all)
        #expect(t.memory.tables.count == 1, "a level-1 block needs no further table")
        let e = try #require(t.entry(for: 0x4000_0000, level: 1))
        #expect(e & 3 == 1, "block descriptor")
        #expect(e & addressMask == 0x1_0000_0000)
        let m = try #require(t.lookup(0x4000_0000 + 0x1234_5678))
        #expect(m.level == 1)
        #expect(m.outputAddress == 0x1_1234_5678)
        #expect(t.lookup(0x3FFF_FFFF) == nil)
        #expect(t.lookup(0x8000_0000) == nil)
        #expect(t.lookup(0x7FFF_FFFF)?.outputAddress == 0x1_3FFF_FFFF)
    }

    @Test func twoMiBBlockWhenAlignedTo2MiB() throws {
        var t = try makeTable(.stage2)
        try t.map(input: 0x4020_0000, output: 0x8060_0000, size: 2 * miB, kind: .normal, permissions: .all)
        #expect(t.memory.tables.count == 2)
        let l1 = try #require(t.entry(for: 0x4020_0000, level: 1))
        #expect(l1 & 3 == 3, "level 1 now points to a table")
        let e = try #require(t.entry(for: 0x4020_0000, level: 2))
        #expect(e & 3 == 1)
        #expect(e & addressMask == 0x8060_0000)
        let m = try #require(t.lookup(0x4020_0000 + 0x1_2345))
        #expect(m.level == 2)
        #expect(m.outputAddress == 0x8060_0000 + 0x1_2345)
        #expect(t.lookup(0x4000_0000) == nil)
        #expect(t.lookup(0x4040_0000) == nil)
    }

    @Test func fourKiBPagesOtherwise() throws {
        var t = try makeTable(.stage2)
        try t.map(input: 0x4000_1000, output: 0x9000_5000, size: 0x3000, kind: .normal, permissions: .all)
        #expect(t.memory.tables.count == 3)
        for i: UInt64 in 0..<3 {
            let e = try #require(t.entry(for: 0x4000_1000 + i * 0x1000, level: 3))
            #expect(e & 3 == 3, "page descriptor")
            #expect(e & addressMask == 0x9000_5000 + i * 0x1000)
        }
        let m = try #require(t.lookup(0x4000_2ABC))
        #expect(m.level == 3)
        #expect(m.outputAddress == 0x9000_6ABC)
        #expect(t.lookup(0x4000_0FFF) == nil)
        #expect(t.lookup(0x4000_4000) == nil)
    }

    @Test func largestBlocksAlongAnUnalignedRange() throws {
        var t = try makeTable(.stage2)
        // 4K page, 2M block, then 1G, then 2M, then a 4K page.
        let start: UInt64 = 0x3FDF_F000
        let size: UInt64 = 0x1000 + 2 * miB + giB + 2 * miB + 0x1000
        try t.map(input: start, output: start + 0x1_0000_0000, size: size, kind: .normal, permissions: .all)
        #expect(t.lookup(0x3FDF_F000)?.level == 3)
        #expect(t.lookup(0x3FE0_0000)?.level == 2)
        #expect(t.lookup(0x4000_0000)?.level == 1)
        #expect(t.lookup(0x7FFF_FFFF)?.level == 1)
        #expect(t.lookup(0x8000_0000)?.level == 2)
        #expect(t.lookup(0x8020_0000)?.level == 3)
        #expect(t.lookup(0x8020_1000) == nil)
        #expect(t.lookup(0x3FDF_E000) == nil)
        for va: UInt64 in [0x3FDF_F123, 0x3FE0_0004, 0x5555_5555, 0x801F_FFFF, 0x8020_0FFF] {
            #expect(t.lookup(va)?.outputAddress == va + 0x1_0000_0000)
        }
    }

    @Test func outputAlignmentLimitsTheBlockSize() throws {
        var t = try makeTable(.stage2)
        // Input is 1G aligned but output only 2M aligned: 2M blocks.
        try t.map(input: 0x4000_0000, output: 0x8020_0000, size: giB, kind: .normal, permissions: .all)
        #expect(t.lookup(0x4000_0000)?.level == 2)
        #expect(t.lookup(0x7FE0_0000)?.level == 2)
        #expect(t.lookup(0x7FFF_FFFF)?.outputAddress == 0xC01F_FFFF)
        // Input 2M aligned, output only 4K aligned: pages.
        try t.map(input: 0x1_0000_0000, output: 0x9000_1000, size: 2 * miB, kind: .normal, permissions: .all)
        #expect(t.lookup(0x1_0000_0000)?.level == 3)
        #expect(t.lookup(0x1_001F_F000)?.outputAddress == 0x9020_0000)
    }

    @Test func sizeSmallerThanABlockUsesSmallerBlocks() throws {
        var t = try makeTable(.stage2)
        try t.map(input: 0x4000_0000, output: 0x4000_0000, size: giB - 0x1000, kind: .normal, permissions: .all)
        #expect(t.lookup(0x4000_0000)?.level == 2)
        #expect(t.lookup(0x7FC0_0000)?.level == 2)
        #expect(t.lookup(0x7FE0_0000)?.level == 3)
        #expect(t.lookup(0x7FFF_E000)?.level == 3)
        #expect(t.lookup(0x7FFF_F000) == nil)
    }

    @Test func zeroSizeMapsNothing() throws {
        var t = try makeTable(.stage2)
        try t.map(input: 0x4000_0000, output: 0x4000_0000, size: 0, kind: .normal, permissions: .all)
        #expect(t.lookup(0x4000_0000) == nil)
        #expect(t.memory.tables.count == 1)
    }

    // MARK: descriptor bits: stage 2

    @Test func stage2NormalPageDescriptor() throws {
        var t = try makeTable(.stage2)
        try t.map(input: 0x4000_1000, output: 0x8000_1000, size: 0x1000, kind: .normal, permissions: .all)
        let e = try #require(t.entry(for: 0x4000_1000, level: 3))
        // OA | AF | SH=11 | S2AP=11 | MemAttr=1111 | page
        #expect(e == 0x8000_1000 | 1 << 10 | 3 << 8 | 3 << 6 | 0xF << 2 | 3)
        #expect(e == 0x8000_17FF)
        #expect(e & (1 << 54) == 0, "executable")
    }

    @Test func stage2DeviceBlockDescriptor() throws {
        var t = try makeTable(.stage2)
        try t.map(input: 0x0800_0000, output: 0x0800_0000, size: 2 * miB, kind: .device, permissions: [.read, .write])
        let e = try #require(t.entry(for: 0x0800_0000, level: 2))
        #expect(e & 3 == 1)
        #expect(e & (1 << 10) != 0, "AF")
        #expect((e >> 2) & 0xF == 0b0001, "MemAttr Device-nGnRE")
        #expect((e >> 6) & 3 == 3, "S2AP read/write")
        #expect(e & (1 << 54) != 0, "XN")
        #expect(e == 0x0800_0000 | 1 << 54 | 1 << 10 | 3 << 6 | 1 << 2 | 1)
    }

    @Test func stage2AccessPermissionBits() throws {
        let cases: [(MemoryPermissions, UInt64)] = [
            ([], 0), ([.read], 1), ([.write], 2), ([.read, .write], 3), ([.read, .execute], 1), (.all, 3),
        ]
        for (perms, s2ap) in cases {
            var t = try makeTable(.stage2)
            try t.map(input: 0x4000_0000, output: 0x4000_0000, size: 0x1000, kind: .normal, permissions: perms)
            let e = try #require(t.entry(for: 0x4000_0000, level: 3))
            #expect((e >> 6) & 3 == s2ap, "S2AP for \(perms.rawValue)")
            #expect((e >> 54) & 1 == (perms.contains(.execute) ? 0 : 1), "XN for \(perms.rawValue)")
            #expect(e & (1 << 10) != 0)
            let m = try #require(t.lookup(0x4000_0000))
            #expect(m.permissions == perms, "lookup decodes \(perms.rawValue)")
            #expect(m.kind == .normal)
        }
    }

    // MARK: descriptor bits: EL2 stage 1

    @Test func el2NormalPageDescriptor() throws {
        var t = try makeTable(.el2Stage1)
        try t.map(input: 0x4000_0000, output: 0x4000_0000, size: 0x1000, kind: .normal, permissions: .all)
        let e = try #require(t.entry(for: 0x4000_0000, level: 3))
        #expect((e >> 2) & 7 == 1, "AttrIndx 1 = Normal WB in MAIR_EL2")
        #expect((e >> 8) & 3 == 3, "inner shareable")
        #expect(e & (1 << 7) == 0, "AP[2] = 0: writable")
        #expect(e & (1 << 10) != 0, "AF")
        #expect(e & (1 << 54) == 0, "executable")
        #expect(e & addressMask == 0x4000_0000)
        #expect(e & 3 == 3)
    }

    @Test func el2DeviceDescriptor() throws {
        var t = try makeTable(.el2Stage1)
        try t.map(input: 0x0900_0000, output: 0x0900_0000, size: 0x1000, kind: .device, permissions: [.read, .write])
        let e = try #require(t.entry(for: 0x0900_0000, level: 3))
        #expect((e >> 2) & 7 == 0, "AttrIndx 0 = Device-nGnRE")
        #expect((e >> 8) & 3 == 2, "outer shareable")
        #expect(e & (1 << 7) == 0)
        #expect(e & (1 << 54) != 0, "XN")
        #expect(e & (1 << 10) != 0)
        let m = try #require(t.lookup(0x0900_0004))
        #expect(m.kind == .device)
        #expect(m.permissions == [.read, .write])
        #expect(m.outputAddress == 0x0900_0004)
    }

    @Test func el2ReadOnlyAndExecuteBits() throws {
        let cases: [(MemoryPermissions, readOnly: Bool, xn: Bool)] = [
            ([.read], true, true), ([.read, .execute], true, false), ([.read, .write], false, true), (.all, false, false),
        ]
        for c in cases {
            var t = try makeTable(.el2Stage1)
            try t.map(input: 0x4000_0000, output: 0x4000_0000, size: 2 * miB, kind: .normal, permissions: c.0)
            let e = try #require(t.entry(for: 0x4000_0000, level: 2))
            #expect((e & (1 << 7) != 0) == c.readOnly, "AP[2] for \(c.0.rawValue)")
            #expect((e & (1 << 54) != 0) == c.xn, "XN for \(c.0.rawValue)")
            #expect(t.lookup(0x4000_0000)?.permissions == c.0)
        }
    }

    // MARK: lookup

    @Test func lookupReportsKindPermissionsAndOffset() throws {
        var t = try makeTable(.stage2)
        try t.map(input: 0x0, output: 0x4_0000_0000, size: giB, kind: .normal, permissions: [.read, .write])
        try t.map(input: 0x4000_0000, output: 0x0900_0000, size: 0x1000, kind: .device, permissions: [.read, .write])
        #expect(t.lookup(0x1234_5678) == Mapping(outputAddress: 0x4_1234_5678, kind: .normal,
                                                permissions: [.read, .write], level: 1))
        #expect(t.lookup(0x4000_0FFC) == Mapping(outputAddress: 0x0900_0FFC, kind: .device,
                                                permissions: [.read, .write], level: 3))
    }

    @Test func lookupBeyondInputRangeIsNil() throws {
        var t = try makeTable(.stage2)
        try t.map(input: 0, output: 0, size: giB, kind: .normal, permissions: .all)
        #expect(t.lookup(1 << 39) == nil)
        #expect(t.lookup((1 << 39) + 0x1000) == nil, "must not wrap to entry 0")
        #expect(t.lookup(UInt64.max) == nil)
    }

    @Test func reservedLevel3EncodingIsNotAMapping() throws {
        var t = try makeTable(.stage2)
        try t.map(input: 0x4000_0000, output: 0x4000_0000, size: 0x2000, kind: .normal, permissions: .all)
        // A level-3 entry with bits[1:0] = 01 is reserved (invalid), not a block.
        let l2 = try #require(t.entry(for: 0x4000_0000, level: 2))
        t.memory.writeEntry(table: l2 & addressMask, index: 1, 0)            // (the fake checks BBM)
        t.memory.writeEntry(table: l2 & addressMask, index: 1, 0x4000_1000 | 1 << 10 | 1)
        #expect(t.lookup(0x4000_1000) == nil)
        #expect(t.lookup(0x4000_0000) != nil)
    }

    // MARK: remapping and splitting

    @Test func remapOfOnePageSplitsA2MiBBlock() throws {
        var t = try makeTable(.stage2)
        try t.map(input: 0x4000_0000, output: 0x8000_0000, size: 2 * miB, kind: .normal, permissions: [.read, .write])
        let block = try #require(t.entry(for: 0x4000_0000, level: 2))
        try t.map(input: 0x4000_5000, output: 0x0900_0000, size: 0x1000, kind: .device, permissions: [.read])

        #expect(t.lookup(0x4000_5010) == Mapping(outputAddress: 0x0900_0010, kind: .device, permissions: [.read], level: 3))
        // Every other page keeps the block's translation and attributes.
        let attrs = block & ~addressMask & ~UInt64(3)
        for j: UInt64 in 0..<512 where j != 5 {
            let va = 0x4000_0000 + j * 0x1000
            let e = try #require(t.entry(for: va, level: 3))
            #expect(e == (0x8000_0000 + j * 0x1000) | attrs | 3, "page \(j)")
        }
        #expect(t.lookup(0x4000_4FFF) == Mapping(outputAddress: 0x8000_4FFF, kind: .normal,
                                                permissions: [.read, .write], level: 3))
        #expect(t.lookup(0x401F_F000)?.outputAddress == 0x801F_F000)
        #expect(t.lookup(0x4020_0000) == nil)
    }

    @Test func unmapOfOnePageSplitsA1GiBBlockTwice() throws {
        var t = try makeTable(.stage2)
        try t.map(input: 0x4000_0000, output: 0x1_4000_0000, size: giB, kind: .normal, permissions: .all)
        let block = try #require(t.entry(for: 0x4000_0000, level: 1))
        let attrs = block & ~addressMask & ~UInt64(3)
        try t.unmap(input: 0x5000_3000, size: 0x1000)
        #expect(t.lookup(0x5000_3000) == nil)
        #expect(t.lookup(0x5000_3FFF) == nil)
        // The 2M blocks of the split 1G block, except the one that was split again.
        for j: UInt64 in 0..<512 where j != 0x80 {
            let va = 0x4000_0000 + j * 2 * miB
            let e = try #require(t.entry(for: va, level: 2))
            #expect(e == (0x1_4000_0000 + j * 2 * miB) | attrs | 1, "2M block \(j)")
        }
        // The pages of the split 2M block.
        for j: UInt64 in 0..<512 where j != 3 {
            let e = try #require(t.entry(for: 0x5000_0000 + j * 0x1000, level: 3))
            #expect(e == (0x1_5000_0000 + j * 0x1000) | attrs | 3, "page \(j)")
        }
        #expect(t.lookup(0x5000_2FFF)?.outputAddress == 0x1_5000_2FFF)
        #expect(t.lookup(0x5000_4000)?.outputAddress == 0x1_5000_4000)
        #expect(t.lookup(0x4000_0000)?.level == 2)
        #expect(t.lookup(0x7FFF_FFFF)?.outputAddress == 0x1_7FFF_FFFF)
        #expect(t.lookup(0x7FFF_FFFF)?.permissions == .all)
    }

    @Test func remapReplacesAnExistingBlock() throws {
        var t = try makeTable(.stage2)
        try t.map(input: 0x4000_0000, output: 0x4000_0000, size: giB, kind: .normal, permissions: .all)
        try t.map(input: 0x4000_0000, output: 0x8000_0000, size: giB, kind: .device, permissions: [.read])
        #expect(t.lookup(0x4000_0100) == Mapping(outputAddress: 0x8000_0100, kind: .device, permissions: [.read], level: 1))
    }

    @Test func blockMapReplacesATableOfPages() throws {
        var t = try makeTable(.stage2)
        try t.map(input: 0x4000_0000, output: 0x9000_0000, size: 0x4000, kind: .device, permissions: [.read])
        try t.map(input: 0x4000_0000, output: 0x8000_0000, size: 2 * miB, kind: .normal, permissions: .all)
        #expect(t.lookup(0x4000_1000) == Mapping(outputAddress: 0x8000_1000, kind: .normal, permissions: .all, level: 2))
    }

    // MARK: unmap

    @Test func unmapRemovesOnlyTheRange() throws {
        var t = try makeTable(.stage2)
        try t.map(input: 0x4000_0000, output: 0x8000_0000, size: 0x3000, kind: .normal, permissions: .all)
        try t.unmap(input: 0x4000_1000, size: 0x1000)
        #expect(t.lookup(0x4000_0000)?.outputAddress == 0x8000_0000)
        #expect(t.lookup(0x4000_1000) == nil)
        #expect(t.lookup(0x4000_2000)?.outputAddress == 0x8000_2000)
    }

    @Test func unmapOfAWholeBlockClearsTheEntry() throws {
        var t = try makeTable(.stage2)
        try t.map(input: 0x4000_0000, output: 0x4000_0000, size: giB, kind: .normal, permissions: .all)
        try t.unmap(input: 0x4000_0000, size: giB)
        #expect(t.entry(for: 0x4000_0000, level: 1) == 0)
        #expect(t.lookup(0x4000_0000) == nil)
        #expect(t.lookup(0x7FFF_FFFF) == nil)
        #expect(t.memory.tables.count == 1)
    }

    @Test func unmapAcrossBlockBoundaries() throws {
        var t = try makeTable(.stage2)
        try t.map(input: 0x4000_0000, output: 0x4000_0000, size: 2 * giB, kind: .normal, permissions: .all)
        // From the last page of the first GiB through the first 2 MiB + 4 KiB of the second.
        try t.unmap(input: 0x7FFF_F000, size: 0x1000 + 2 * miB + 0x1000)
        #expect(t.lookup(0x7FFF_EFFF)?.outputAddress == 0x7FFF_EFFF)
        #expect(t.lookup(0x7FFF_F000) == nil)
        #expect(t.lookup(0x8000_0000) == nil)
        #expect(t.lookup(0x8020_0000) == nil)
        #expect(t.lookup(0x8020_1000)?.outputAddress == 0x8020_1000)
        #expect(t.lookup(0xBFFF_FFFF)?.outputAddress == 0xBFFF_FFFF)
    }

    // MARK: errors

    @Test func misalignedArguments() throws {
        var t = try makeTable(.stage2)
        #expect(throws: TranslationError.misaligned) {
            try t.map(input: 0x4000_0800, output: 0x4000_0000, size: 0x1000, kind: .normal, permissions: .all)
        }
        #expect(throws: TranslationError.misaligned) {
            try t.map(input: 0x4000_0000, output: 0x4000_0004, size: 0x1000, kind: .normal, permissions: .all)
        }
        #expect(throws: TranslationError.misaligned) {
            try t.map(input: 0x4000_0000, output: 0x4000_0000, size: 0x1001, kind: .normal, permissions: .all)
        }
        #expect(throws: TranslationError.misaligned) { try t.unmap(input: 0x10, size: 0x1000) }
        #expect(throws: TranslationError.misaligned) { try t.unmap(input: 0x1000, size: 0x10) }
        #expect(t.lookup(0x4000_0000) == nil)
    }

    @Test func outOfRangeArguments() throws {
        var t = try makeTable(.stage2)
        let top: UInt64 = 1 << 39
        #expect(throws: TranslationError.outOfRange) {
            try t.map(input: top, output: 0, size: 0x1000, kind: .normal, permissions: .all)
        }
        #expect(throws: TranslationError.outOfRange) {
            try t.map(input: top - 0x1000, output: 0, size: 0x2000, kind: .normal, permissions: .all)
        }
        #expect(throws: TranslationError.outOfRange) {
            try t.map(input: 0, output: 0, size: top + 0x1000, kind: .normal, permissions: .all)
        }
        #expect(throws: TranslationError.outOfRange) {
            try t.map(input: 0, output: 1 << 48, size: 0x1000, kind: .normal, permissions: .all)
        }
        #expect(throws: TranslationError.outOfRange) {
            try t.map(input: 0, output: (1 << 48) - 0x1000, size: 0x2000, kind: .normal, permissions: .all)
        }
        #expect(throws: TranslationError.outOfRange) { try t.unmap(input: top, size: 0x1000) }
        #expect(throws: TranslationError.outOfRange) { try t.unmap(input: top - 0x1000, size: 0x2000) }
        #expect(t.memory.tables.count == 1, "nothing was built")
    }

    @Test func lastPagesOfTheInputAndOutputSpaces() throws {
        var t = try makeTable(.stage2)
        let top: UInt64 = 1 << 39
        try t.map(input: top - 0x1000, output: 0x4000_0000, size: 0x1000, kind: .normal, permissions: .all)
        #expect(t.lookup(top - 1)?.outputAddress == 0x4000_0FFF)
        try t.unmap(input: top - 0x1000, size: 0x1000)
        #expect(t.lookup(top - 1) == nil)
        // Output addresses are 48 bits: [2^48 - 4K, 2^48) is the last page that can be mapped.
        let lastByte: UInt64 = (1 << 48) - 1
        #expect(throws: Never.self) {
            try t.map(input: 0x1000, output: (1 << 48) - 0x1000, size: 0x1000, kind: .normal, permissions: .all)
        }
        #expect(t.lookup(0x1FFF)?.outputAddress == lastByte)
        #expect(throws: Never.self) {
            try t.map(input: 0, output: (1 << 48) - 2 * miB, size: 2 * miB, kind: .device, permissions: [.read])
        }
        #expect(t.lookup(0x1F_FFFF)?.outputAddress == lastByte)
    }

    @Test func outOfMemoryWhenTablesRunOut() throws {
        // Root only: a 1G block fits, a 4K page needs two more tables.
        var t = try makeTable(.stage2, limit: 1)
        try t.map(input: 0, output: 0, size: giB, kind: .normal, permissions: .all)
        #expect(throws: TranslationError.outOfMemory) {
            try t.map(input: 0x4000_0000, output: 0x4000_0000, size: 0x1000, kind: .normal, permissions: .all)
        }
        var t2 = try makeTable(.stage2, limit: 2)
        #expect(throws: TranslationError.outOfMemory) {
            try t2.map(input: 0x4000_0000, output: 0x4000_0000, size: 0x1000, kind: .normal, permissions: .all)
        }
        var t3 = try makeTable(.stage2, limit: 3)
        try t3.map(input: 0x4000_0000, output: 0x4000_0000, size: 0x1000, kind: .normal, permissions: .all)
        #expect(t3.lookup(0x4000_0000) != nil)
    }

    @Test func failedSplitLeavesTheBlockMapped() throws {
        var t = try makeTable(.stage2, limit: 2)
        try t.map(input: 0x4000_0000, output: 0x8000_0000, size: 2 * miB, kind: .normal, permissions: .all)
        #expect(throws: TranslationError.outOfMemory) {
            try t.map(input: 0x4000_1000, output: 0x9000_0000, size: 0x1000, kind: .device, permissions: [.read])
        }
        #expect(throws: TranslationError.outOfMemory) { try t.unmap(input: 0x4000_1000, size: 0x1000) }
        #expect(t.lookup(0x4000_1234) == Mapping(outputAddress: 0x8000_1234, kind: .normal, permissions: .all, level: 2))
    }

    // MARK: control registers

    @Test func tcrEL2Fields() {
        for parange: UInt64 in 0...7 {
            let tcr = Table.tcrEL2(physicalAddressRange: parange)
            #expect(tcr & 0x3F == 25, "T0SZ")
            #expect((tcr >> 8) & 3 == 1, "IRGN0 write-back")
            #expect((tcr >> 10) & 3 == 1, "ORGN0 write-back")
            #expect((tcr >> 12) & 3 == 3, "SH0 inner shareable")
            #expect((tcr >> 14) & 3 == 0, "TG0 4K")
            #expect((tcr >> 16) & 7 == min(parange, 5), "PS from PARange \(parange)")
            #expect(tcr & (1 << 23) != 0 && tcr & (1 << 31) != 0, "RES1 bits")
            #expect(tcr & ~UInt64(0x8087_FF3F) == 0, "nothing else set")
        }
        #expect(Table.tcrEL2(physicalAddressRange: 2) == 0x8082_3519)
    }

    @Test func vtcrEL2Fields() {
        for parange: UInt64 in 0...7 {
            let vtcr = Table.vtcrEL2(physicalAddressRange: parange)
            #expect(vtcr & 0x3F == 25, "T0SZ: 39-bit IPA")
            #expect((vtcr >> 6) & 3 == 1, "SL0 = 1: start at level 1")
            #expect((vtcr >> 8) & 3 == 1, "IRGN0")
            #expect((vtcr >> 10) & 3 == 1, "ORGN0")
            #expect((vtcr >> 12) & 3 == 3, "SH0")
            #expect((vtcr >> 14) & 3 == 0, "TG0 4K")
            #expect((vtcr >> 16) & 7 == min(parange, 5), "PS from PARange \(parange)")
            #expect(vtcr & (1 << 31) != 0, "RES1")
            #expect(vtcr & ~UInt64(0x8007_FFFF) == 0, "nothing else set")
        }
        #expect(Table.vtcrEL2(physicalAddressRange: 5) == 0x8005_3559)
        // PARange values above 48 bits (52-bit, reserved) clamp to 48 bits with a 4K granule.
        #expect((Table.vtcrEL2(physicalAddressRange: 6) >> 16) & 7 == 5)
        #expect((Table.vtcrEL2(physicalAddressRange: 0x16) >> 16) & 7 == 5, "only PARange bits [2:0] are used")
    }

    // MARK: break-before-make

    /// The table entry at `level` on the walk of `va`, and its index.
    private func slot(_ t: Table, _ va: UInt64, level: Int) -> (table: UInt64, index: Int) {
        var table = t.root
        for l in 1..<level { table = t.memory.readEntry(table: table, index: Table.index(va, level: l)) & addressMask }
        return (table, Table.index(va, level: level))
    }

    @Test func leafReplacedBreakBeforeMake() throws {
        var t = try makeTable(.stage2)
        try t.map(input: 0x4000_1000, output: 0x8000_0000, size: 4 * kiB, kind: .normal, permissions: .all)
        let (l3, i) = slot(t, 0x4000_1000, level: 3)
        let new = try #require(t.entry(for: 0x4000_1000, level: 3)) & ~addressMask | 0x9000_0000
        t.memory.events = []
        try t.map(input: 0x4000_1000, output: 0x9000_0000, size: 4 * kiB, kind: .normal, permissions: .all)
        #expect(t.memory.events == [.write(table: l3, index: i, value: 0),
                                    .invalidate(input: 0x4000_1000, size: 4 * kiB),
                                    .write(table: l3, index: i, value: new)])
    }

    @Test func blockSplitIntoATableBreakBeforeMake() throws {
        var t = try makeTable(.stage2)
        try t.map(input: 0x4000_0000, output: 0x8000_0000, size: 2 * miB, kind: .normal, permissions: .all)
        let (l2, i) = slot(t, 0x4000_0000, level: 2)
        t.memory.events = []
        try t.map(input: 0x4000_1000, output: 0x9000_0000, size: 4 * kiB, kind: .normal, permissions: [.read])
        let l3 = try #require(t.entry(for: 0x4000_0000, level: 2)) & addressMask
        let e = t.memory.events
        // The new table is filled first (it is not yet reachable), then the block goes.
        #expect(e.prefix(512).allSatisfy { if case .write(let tb, _, let v) = $0 { return tb == l3 && v & 3 == 3 } else { return false } })
        #expect(Array(e[512..<515]) == [.write(table: l2, index: i, value: 0),
                                        .invalidate(input: 0x4000_0000, size: 2 * miB),
                                        .write(table: l2, index: i, value: l3 | 3)])
        // Then the page inside it, itself valid after the split: break-before-make again.
        #expect(Array(e[515...]).count == 3)
        #expect(e[515] == .write(table: l3, index: 1, value: 0))
        #expect(e[516] == .invalidate(input: 0x4000_1000, size: 4 * kiB))
        #expect(t.lookup(0x4000_1000)?.outputAddress == 0x9000_0000)
        #expect(t.lookup(0x4000_2000)?.outputAddress == 0x8000_2000)
    }

    @Test func tableReplacedByABlockBreakBeforeMake() throws {
        var t = try makeTable(.stage2)
        try t.map(input: 0x4000_0000, output: 0x8000_0000, size: 8 * kiB, kind: .normal, permissions: .all)
        let (l2, i) = slot(t, 0x4000_0000, level: 2)
        t.memory.events = []
        try t.map(input: 0x4000_0000, output: 0xA000_0000, size: 2 * miB, kind: .normal, permissions: .all)
        let block = try #require(t.entry(for: 0x4000_0000, level: 2))
        #expect(block & 3 == 1 && block & addressMask == 0xA000_0000)
        #expect(t.memory.events == [.write(table: l2, index: i, value: 0),
                                    .invalidate(input: 0x4000_0000, size: 2 * miB),
                                    .write(table: l2, index: i, value: block)])
    }

    @Test func unmapInvalidatesAfterClearing() throws {
        var t = try makeTable(.stage2)
        try t.map(input: 0x4000_0000, output: 0x8000_0000, size: 2 * miB, kind: .normal, permissions: .all)
        let (l2, i) = slot(t, 0x4000_0000, level: 2)
        t.memory.events = []
        try t.unmap(input: 0x4000_0000, size: 2 * miB)
        #expect(t.memory.events == [.write(table: l2, index: i, value: 0),
                                    .invalidate(input: 0x4000_0000, size: 2 * miB)])
    }

    @Test func invalidEntriesNeedNoInvalidation() throws {
        var t = try makeTable(.stage2)
        try t.map(input: 0x4000_0000, output: 0x8000_0000, size: 2 * miB, kind: .normal, permissions: .all)
        try t.unmap(input: 0x5000_0000, size: 4 * kiB)               // nothing there
        try t.map(input: 0x4000_0000, output: 0x8000_0000, size: 2 * miB, kind: .normal, permissions: .all)  // the same
        #expect(!t.memory.events.contains { if case .invalidate = $0 { return true } else { return false } })
    }
}
