import Testing
@testable import ApusCore

@Suite struct DeviceTreeRoundTripTests {
    static var richTree: DeviceTree {
        var root = DTNode(name: [], properties: [
            .u32("#address-cells", 2), .u32("#size-cells", 2),
            .strings("compatible", ["linux,dummy-virt", "apus,test"]),
            .string("model", "Apus test board"),
        ])
        root.setChild(DTNode(name: "chosen", properties: [
            .string("bootargs", "console=hvc0 earlycon"), .u64("linux,initrd-start", 0x4800_0000),
        ]))
        root.setChild(DTNode(name: "memory@40000000", properties: [
            .string("device_type", "memory"), .cells("reg", [0, 0x4000_0000, 0, 0x4000_0000]),
        ]))
        var cpus = DTNode(name: "cpus", properties: [.u32("#address-cells", 1), .u32("#size-cells", 0)])
        for i: UInt32 in 0..<4 {
            cpus.setChild(DTNode(name: "cpu@\(i)", properties: [
                .string("device_type", "cpu"), .u32("reg", i), .string("enable-method", "psci"),
                .u32("phandle", 0x10 + i),
            ]))
        }
        root.setChild(cpus)
        root.setChild(DTNode(name: "timer", properties: [.empty("always-on"), .bytes("odd", [1, 2, 3, 4, 5])]))
        var deep = DTNode(name: "leaf")
        for depth in 0..<20 { deep = DTNode(name: "level\(depth)", children: [deep]) }
        root.setChild(deep)
        return DeviceTree(root: root, memoryReservations: [
            MemoryReservation(address: 0x4800_0000, size: 0x10_0000),
            MemoryReservation(address: 0xFFFF_FFFF_0000_0000, size: 0x1000),
        ], bootCPUID: 0x100)
    }

    @Test func builtTreeSurvivesSerializeAndParse() throws {
        let tree = Self.richTree
        let parsed = try DeviceTree.parse(tree.serialize())
        #expect(parsed == tree)
        #expect(parsed.serialize() == tree.serialize())
    }

    @Test func emptyTreeRoundTrips() throws {
        #expect(try DeviceTree.parse(DeviceTree().serialize()) == DeviceTree())
    }

    @Test func qemuTreeRoundTrips() throws {
        let parsed = try DeviceTree.parse(DeviceTreeFixtures.qemuVirtDTB)
        let again = try DeviceTree.parse(parsed.serialize())
        #expect(again == parsed)
    }

    @Test func parsesFromRawMemory() throws {
        let bytes = Self.richTree.serialize() + [0xAA, 0xBB]  // trailing bytes beyond totalsize are ignored
        let tree = try bytes.withUnsafeBytes { buffer throws(FDTError) in try DeviceTree.parse(buffer) }
        #expect(tree == Self.richTree)
    }

    @Test func rawMemoryShorterThanTotalSizeIsRejected() {
        let bytes = Self.richTree.serialize()
        let short = Array(bytes[0..<(bytes.count - 1)])
        #expect(throws: FDTError.totalSizeTooLarge(totalSize: UInt32(bytes.count), available: bytes.count - 1)) {
            try short.withUnsafeBytes { buffer throws(FDTError) in try DeviceTree.parse(buffer) }
        }
        #expect(throws: FDTError.truncatedHeader) {
            try short[0..<20].withUnsafeBytes { buffer throws(FDTError) in try DeviceTree.parse(buffer) }
        }
    }

    @Test func nopTokensAreSkipped() throws {
        var raw = RawFDT()
        raw.nop()
        raw.beginNode("")
        raw.nop()
        raw.prop("a", [1])
        raw.nop()
        raw.beginNode("x")
        raw.endNode()
        raw.nop()
        raw.endNode()
        raw.nop()
        raw.end()
        let tree = try DeviceTree.parse(raw.bytes)
        #expect(tree.root == DTNode(name: [], properties: [.bytes("a", [1])], children: [DTNode(name: "x")]))
    }

    @Test func version16BlobsAreAccepted() throws {
        // Version 16 has no size_dt_struct; the structure block runs to the end of the blob.
        var raw = RawFDT.minimal
        raw.version = 16
        let bytes = raw.bytes(settingHeaderWordAt: 36, to: 0)
        let tree = try DeviceTree.parse(bytes)
        #expect(tree.root.child(named: "n@1")?.property("reg")?.u32() == 1)
    }

    @Test func newerVersionsCompatibleWith16AreAccepted() throws {
        var raw = RawFDT.minimal
        raw.version = 18
        raw.lastCompatibleVersion = 16
        #expect(try DeviceTree.parse(raw.bytes).root.children.count == 1)
    }

    @Test func reservationsAndBootCPUAreKept() throws {
        var raw = RawFDT.minimal
        raw.reservations = [(0x8000_0000, 0x1000), (1, 2)]
        raw.bootCPUID = 7
        let tree = try DeviceTree.parse(raw.bytes)
        #expect(tree.memoryReservations == [MemoryReservation(address: 0x8000_0000, size: 0x1000),
                                            MemoryReservation(address: 1, size: 2)])
        #expect(tree.bootCPUID == 7)
    }
}
