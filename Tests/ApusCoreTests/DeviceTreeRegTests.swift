import Testing
@testable import ApusCore

@Suite struct DeviceTreeRegTests {
    @Test func oneAddressOneSize() {
        let p = DTProperty.cells("reg", [0x100, 0x10, 0x200, 0x20])
        #expect(p.reg(addressCells: 1, sizeCells: 1) == [RegEntry(address: 0x100, size: 0x10),
                                                         RegEntry(address: 0x200, size: 0x20)])
    }

    @Test func twoAddressTwoSize() {
        let p = DTProperty.cells("reg", [0x1, 0x2, 0x3, 0x4, 0, 0x0800_0000, 0, 0x1_0000])
        #expect(p.reg(addressCells: 2, sizeCells: 2) == [RegEntry(address: 0x1_0000_0002, size: 0x3_0000_0004),
                                                         RegEntry(address: 0x0800_0000, size: 0x1_0000)])
    }

    @Test func twoAddressOneSize() {
        let p = DTProperty.cells("reg", [0xFFFF_FFFF, 0xFFFF_F000, 0x1000])
        #expect(p.reg(addressCells: 2, sizeCells: 1) == [RegEntry(address: 0xFFFF_FFFF_FFFF_F000, size: 0x1000)])
    }

    @Test func zeroSizeCellsForCPUs() {
        let p = DTProperty.u32("reg", 0x101)
        #expect(p.reg(addressCells: 1, sizeCells: 0) == [RegEntry(address: 0x101, size: 0)])
    }

    @Test func malformedRegGivesNil() {
        let p = DTProperty.cells("reg", [1, 2, 3])
        #expect(p.reg(addressCells: 1, sizeCells: 1) == nil)      // 3 cells is not whole entries
        #expect(p.reg(addressCells: 3, sizeCells: 0) == nil)      // 96-bit addresses do not fit
        #expect(p.reg(addressCells: -1, sizeCells: 1) == nil)
        #expect(p.reg(addressCells: 0, sizeCells: 0) == nil)
        #expect(DTProperty.bytes("reg", [1, 2, 3, 4, 5]).reg(addressCells: 1, sizeCells: 0) == nil)
        #expect(DTProperty.empty("reg").reg(addressCells: 2, sizeCells: 1) == [])
        #expect(DTProperty.empty("reg").reg(addressCells: 0, sizeCells: 0) == [])
    }

    @Test func cellCountsDefaultTo2And1() {
        let bare = DTNode(name: "bus")
        #expect(bare.childAddressCells == 2)
        #expect(bare.childSizeCells == 1)
        #expect(bare.childCellCounts == .defaults)
        let set = DTNode(name: "bus", properties: [.u32("#address-cells", 1), .u32("#size-cells", 0)])
        #expect(set.childCellCounts == DTCellCounts(addressCells: 1, sizeCells: 0))
        let broken = DTNode(name: "bus", properties: [.bytes("#address-cells", [1])])
        #expect(broken.childAddressCells == 2)
    }

    @Test func nodeRegUsesParentCells() throws {
        let root = DTNode(name: [], children: [
            DTNode(name: "uart@1000", properties: [.cells("reg", [0, 0x1000, 0x100])]),
        ])
        let match = try #require(root.nodes { $0.hasName("uart@1000") }.first)
        #expect(match.parentCells == .defaults)        // root has no #cells: 2/1
        #expect(match.reg == [RegEntry(address: 0x1000, size: 0x100)])
        #expect(match.node.reg(addressCells: 1, sizeCells: 1) == nil)
        #expect(DTNode(name: "x").reg(.defaults) == nil)
    }

    @Test func regBuilderRoundTrips() throws {
        let entries = [RegEntry(address: 0x4000_0000, size: 0x8000_0000), RegEntry(address: 0x1_0000_0000, size: 1)]
        let p = try #require(DTProperty.reg(entries, addressCells: 2, sizeCells: 2))
        #expect(p.name == dtText("reg"))
        #expect(p.cells == [0, 0x4000_0000, 0, 0x8000_0000, 1, 0, 0, 1])
        #expect(p.reg(addressCells: 2, sizeCells: 2) == entries)
        #expect(DTProperty.reg(entries, addressCells: 1, sizeCells: 2) == nil)   // address too big for 1 cell
        #expect(DTProperty.reg(entries, addressCells: 2, sizeCells: 0) == nil)   // sizes are not 0
        #expect(DTProperty.reg([RegEntry(address: 3, size: 0)], addressCells: 1, sizeCells: 0)?.cells == [3])
        #expect(DTProperty.reg(entries, addressCells: 3, sizeCells: 1) == nil)
    }
}
