import Testing
@testable import ApusCore

@Suite struct DeviceTreeWriterTests {
    /// / { compatible = "a"; c@1 { compatible = "b"; reg = <1>; }; }; plus one reservation.
    var tinyTree: DeviceTree {
        let child = DTNode(name: "c@1", properties: [.string("compatible", "b"), .u32("reg", 1)])
        let root = DTNode(name: [], properties: [.string("compatible", "a")], children: [child])
        return DeviceTree(root: root, memoryReservations: [MemoryReservation(address: 0x1000, size: 0x2000)],
                          bootCPUID: 3)
    }

    @Test func tinyTreeIsByteExact() {
        var expected: [UInt8] = []
        // Header: 40 bytes, reservation map (1 entry + terminator) = 32 bytes, so struct at 72.
        let structSize: UInt32 = 76, stringsSize: UInt32 = 15
        for w: UInt32 in [0xD00D_FEED, 72 + structSize + stringsSize, 72, 72 + structSize, 40, 17, 16, 3,
                          stringsSize, structSize] {
            expected.dtAppendWord(w)
        }
        for w: UInt32 in [0, 0x1000, 0, 0x2000, 0, 0, 0, 0] { expected.dtAppendWord(w) }
        let structure: [UInt32] = [
            1, 0,                               // BEGIN_NODE ""
            3, 2, 0, 0x6100_0000,               // PROP compatible = "a"
            1, 0x6340_3100,                     // BEGIN_NODE "c@1"
            3, 2, 0, 0x6200_0000,               // PROP compatible = "b" (name shared: offset 0)
            3, 4, 11, 1,                        // PROP reg = <1> (name at offset 11)
            2, 2, 9,                            // END_NODE, END_NODE, END
        ]
        for w in structure { expected.dtAppendWord(w) }
        expected += dtText("compatible") + [0] + dtText("reg") + [0]

        let bytes = tinyTree.serialize()
        #expect(bytes.count == 163)
        #expect(bytes == expected)
    }

    @Test func headerFieldsDescribeTheLayout() throws {
        let bytes = tinyTree.serialize()
        let header = try #require(FDTHeader(bytes))
        #expect(header.magic == FDT.magic)
        #expect(header.version == 17)
        #expect(header.lastCompatibleVersion == 16)
        #expect(Int(header.totalSize) == bytes.count)
        #expect(header.reservationMapOffset % 8 == 0)
        #expect(header.structureOffset % 4 == 0)
        #expect(header.structureOffset + header.structureSize == header.stringsOffset)
        #expect(header.stringsOffset + header.stringsSize == header.totalSize)
        #expect(header.bootCPUID == 3)
    }

    @Test func emptyTreeIsMinimal() {
        let bytes = DeviceTree().serialize()
        // header + reservation terminator + BEGIN_NODE "" + END_NODE + END
        #expect(bytes.count == 40 + 16 + 8 + 4 + 4)
        #expect(bytes.dtWord(at: 56) == 1)
        #expect(bytes.dtWord(at: 64) == 2)
        #expect(bytes.dtWord(at: 68) == 9)
        #expect(FDTHeader(bytes)?.stringsSize == 0)
    }

    @Test func stringsBlockHoldsEachNameOnce() throws {
        var root = DTNode(name: [])
        for i in 0..<10 {
            root.setChild(DTNode(name: "n@\(i)", properties: [.u32("reg", UInt32(i)), .string("status", "okay"),
                                                                  .empty("dma-coherent")]))
        }
        let bytes = DeviceTree(root: root).serialize()
        let header = try #require(FDTHeader(bytes))
        let start = Int(header.stringsOffset)
        let strings = Array(bytes[start..<(start + Int(header.stringsSize))])
        #expect(strings == dtText("reg") + [0] + dtText("status") + [0] + dtText("dma-coherent") + [0])
    }

    @Test func oddLengthValuesArePaddedSoTokensStayAligned() throws {
        let root = DTNode(name: [], properties: [.bytes("x", [1, 2, 3]), .bytes("y", [4]), .u32("z", 5)],
                          children: [DTNode(name: "abcde")])
        let bytes = DeviceTree(root: root).serialize()
        let header = try #require(FDTHeader(bytes))
        #expect(header.structureSize % 4 == 0)
        let s = Int(header.structureOffset)
        #expect(bytes.dtWord(at: s + 8) == 3)                  // PROP x
        #expect(Array(bytes[(s + 20)..<(s + 24)]) == [1, 2, 3, 0])
        #expect(bytes.dtWord(at: s + 24) == 3)                 // PROP y starts aligned
        #expect(bytes.dtWord(at: s + 40) == 3)                 // PROP z
        #expect(bytes.dtWord(at: s + 56) == 1)                 // BEGIN_NODE "abcde"
        #expect(Array(bytes[(s + 60)..<(s + 68)]) == dtText("abcde") + [0, 0, 0])
        #expect(try DeviceTree.parse(bytes).root == root)
    }
}
