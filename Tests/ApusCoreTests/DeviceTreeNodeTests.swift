import Testing
@testable import ApusCore

@Suite struct DeviceTreeNodeTests {
    var tree: DeviceTree {
        let uart = DTNode(name: "pl011@9000000", properties: [
            .strings("compatible", ["arm,pl011", "arm,primecell"]), .cells("reg", [0, 0x0900_0000, 0, 0x1000]),
        ])
        let uart2 = DTNode(name: "pl011@9040000", properties: [
            .strings("compatible", ["arm,pl011", "arm,primecell"]), .cells("reg", [0, 0x0904_0000, 0, 0x1000]),
            .u32("phandle", 0x8005),
        ])
        let gic = DTNode(name: "intc@8000000", properties: [
            .string("compatible", "arm,gic-v3"), .u32("phandle", 0x8003), .u32("#address-cells", 2),
        ])
        let bus = DTNode(name: "bus", properties: [.u32("#address-cells", 1), .u32("#size-cells", 1)],
                         children: [DTNode(name: "dev@100", properties: [.string("compatible", "arm,pl011"),
                                                                         .cells("reg", [0x100, 0x10])])])
        let root = DTNode(name: [], properties: [.u32("#address-cells", 2), .u32("#size-cells", 2)], children: [
            DTNode(name: "aliases", properties: [.string("serial0", "/pl011@9040000"), .string("bad", "relative")]),
            DTNode(name: "chosen", properties: [.string("stdout-path", "serial0:115200n8")]),
            DTNode(name: "memory@40000000", properties: [.string("device_type", "memory")]),
            uart, uart2, gic, bus,
        ])
        return DeviceTree(root: root)
    }

    @Test func nameParts() {
        let n = DTNode(name: "memory@40000000")
        #expect(n.baseName == dtText("memory"))
        #expect(n.unitAddress == dtText("40000000"))
        #expect(n.unitAddressValue == 0x4000_0000)
        let plain = DTNode(name: "chosen")
        #expect(plain.baseName == dtText("chosen"))
        #expect(plain.unitAddress == nil)
        #expect(plain.unitAddressValue == nil)
        #expect(DTNode(name: "x@").unitAddress == [])
        #expect(DTNode(name: "x@").unitAddressValue == nil)
        #expect(DTNode(name: "pci@0,1").unitAddressValue == nil)
        #expect(DTNode(name: "big@11112222333344445").unitAddressValue == nil)
        #expect(DTNode(name: "cpu@AbC").unitAddressValue == 0xABC)
        #expect(DTNode(name: "root").nameString == "root")
    }

    @Test func propertyAndChildLookup() {
        let root = tree.root
        #expect(root.property("#size-cells")?.u32() == 2)
        #expect(root.property(dtText("#size-cells"))?.u32() == 2)
        #expect(root.property("missing") == nil)
        #expect(root.child(named: "chosen") != nil)
        #expect(root.child(named: dtText("intc@8000000")) != nil)
        #expect(root.child(named: "memory") == nil)      // child(named:) wants the full name
        #expect(root.child(named: "intc@8000000")?.isCompatible(with: "arm,gic-v3") == true)
    }

    @Test func pathLookup() {
        let t = tree
        #expect(t.node(atPath: "/") == t.root)
        #expect(t.node(atPath: "/chosen")?.name == dtText("chosen"))
        #expect(t.node(atPath: "/memory")?.name == dtText("memory@40000000"))
        #expect(t.node(atPath: "/memory@40000000")?.name == dtText("memory@40000000"))
        #expect(t.node(atPath: "/memory@0") == nil)
        #expect(t.node(atPath: "/pl011")?.name == dtText("pl011@9000000"))   // first by base name
        #expect(t.node(atPath: "/bus/dev@100") != nil)
        #expect(t.node(atPath: "/bus/dev") != nil)
        #expect(t.node(atPath: "/bus/dev/") != nil)
        #expect(t.node(atPath: "/bus/nothing") == nil)
        #expect(t.node(atPath: "/chosen/x") == nil)
        #expect(t.node(atPath: "") == nil)
        #expect(t.root.node(atPath: "/bus/dev@100")?.name == dtText("dev@100"))
        #expect(t.root.node(atPath: "bus") == nil)        // DTNode paths must be absolute
    }

    @Test func aliasesAndStdout() throws {
        let t = tree
        #expect(t.node(atPath: "serial0")?.name == dtText("pl011@9040000"))
        #expect(t.node(atPath: "serial1") == nil)
        #expect(t.node(atPath: "bad") == nil)
        let console = try #require(t.stdoutNode)
        #expect(console.path == dtText("/pl011@9040000"))
        #expect(console.reg == [RegEntry(address: 0x0904_0000, size: 0x1000)])
    }

    @Test func lookupGivesPathAndParentCells() throws {
        let m = try #require(tree.lookup(path: "/bus/dev"))
        #expect(m.path == dtText("/bus/dev@100"))
        #expect(m.parentCells == DTCellCounts(addressCells: 1, sizeCells: 1))
        #expect(m.reg == [RegEntry(address: 0x100, size: 0x10)])
        #expect(tree.lookup(path: "/")?.path == dtText("/"))
    }

    @Test func compatibleSearch() {
        let matches = tree.nodes(compatibleWith: "arm,pl011")
        #expect(matches.map(\.path) == [dtText("/pl011@9000000"), dtText("/pl011@9040000"), dtText("/bus/dev@100")])
        #expect(matches[0].reg == [RegEntry(address: 0x0900_0000, size: 0x1000)])
        #expect(matches[2].parentCells == DTCellCounts(addressCells: 1, sizeCells: 1))
        #expect(tree.nodes(compatibleWith: dtText("arm,gic-v3")).count == 1)
        #expect(tree.nodes(compatibleWith: "arm,gic-v2").isEmpty)
        #expect(tree.root.nodes(deviceType: "memory").map(\.path) == [dtText("/memory@40000000")])
    }

    @Test func phandles() throws {
        let t = tree
        let gic = try #require(t.node(withPhandle: 0x8003))
        #expect(gic.path == dtText("/intc@8000000"))
        #expect(t.node(withPhandle: 0x1234) == nil)
        #expect(t.node(withPhandle: 0) == nil)
        #expect(t.node(withPhandle: 0xFFFF_FFFF) == nil)
        #expect(t.root.maxPhandle == 0x8005)
        #expect(t.nextFreePhandle == 0x8006)
        #expect(DeviceTree().nextFreePhandle == 1)
        // The old "linux,phandle" spelling counts too; malformed values do not.
        let old = DTNode(name: [], children: [DTNode(name: "a", properties: [.u32("linux,phandle", 7)]),
                                              DTNode(name: "b", properties: [.bytes("phandle", [1, 2])])])
        #expect(old.node(withPhandle: 7)?.path == dtText("/a"))
        #expect(old.maxPhandle == 7)
        let full = DTNode(name: [], properties: [.u32("phandle", 0xFFFF_FFFE)])
        #expect(full.nextFreePhandle == nil)
    }

    @Test func propertyMutation() {
        var n = DTNode(name: "n", properties: [.u32("a", 1), .u32("b", 2)])
        n.setProperty(.u32("a", 10))
        #expect(n.properties == [.u32("a", 10), .u32("b", 2)])   // replaced in place
        n.setProperty(.empty("c"))
        #expect(n.properties.count == 3)
        let b = n.removeProperty(named: "b")
        #expect(b == .u32("b", 2))
        let b2 = n.removeProperty(named: "b")
        #expect(b2 == nil)
        let c = n.removeProperty(named: dtText("c"))
        #expect(c == .empty("c"))
        #expect(n.properties == [.u32("a", 10)])
    }

    @Test func childMutation() {
        var n = DTNode(name: [])
        n.setChild(DTNode(name: "a", properties: [.u32("x", 1)]))
        n.setChild(DTNode(name: "b"))
        n.setChild(DTNode(name: "a", properties: [.u32("x", 2)]))
        #expect(n.children.map(\.name) == [dtText("a"), dtText("b")])
        #expect(n.child(named: "a")?.property("x")?.u32() == 2)
        n.withChild(named: dtText("c")) { $0.setProperty(.empty("new")) }
        n.withChild(named: dtText("a")) { $0.setProperty(.empty("more")) }
        #expect(n.child(named: "c")?.property("new") != nil)
        #expect(n.child(named: "a")?.properties.count == 2)
        let b = n.removeChild(named: "b")
        #expect(b?.name == dtText("b"))
        let a = n.removeChild(named: dtText("a"))
        #expect(a?.name == dtText("a"))
        let z = n.removeChild(named: "zzz")
        #expect(z == nil)
        #expect(n.children.map(\.name) == [dtText("c")])
    }

    @Test func getOrCreateAtPath() {
        var t = tree
        let created = t.root.ensureNode(atPath: "/hypervisor/events")
        #expect(created)
        #expect(t.node(atPath: "/hypervisor/events") != nil)
        let setChosen = t.root.setProperty(.string("bootargs", "quiet"), atPath: "/chosen")
        #expect(setChosen)
        #expect(t.node(atPath: "/chosen")?.property("bootargs")?.string == dtText("quiet"))
        #expect(t.node(atPath: "/chosen")?.property("stdout-path") != nil)   // existing node kept
        let setNew = t.root.setProperty(.u32("x", 1), atPath: dtText("/a/b@1"))
        #expect(setNew)
        #expect(t.node(atPath: "/a/b")?.property("x")?.u32() == 1)
        // Existing nodes are found by base name as in lookups, not duplicated.
        let before = t.root.children.count
        t.root.withNode(atPath: "/memory", creatingMissing: true) { $0.setProperty(.u32("y", 2)) }
        #expect(t.root.children.count == before)
        #expect(t.node(atPath: "/memory@40000000")?.property("y")?.u32() == 2)
        // Without creation a missing node gives nil and changes nothing.
        let r: Int? = t.root.withNode(atPath: "/nothing/here") { _ in 1 }
        #expect(r == nil)
        #expect(t.node(atPath: "/nothing") == nil)
        let relative = t.root.ensureNode(atPath: "relative")
        #expect(!relative)
        let rootName = t.root.withNode(atPath: "/") { $0.name }
        #expect(rootName == [])
    }

    @Test func removeAtPath() {
        var t = tree
        let removed = t.root.removeNode(atPath: "/bus/dev")
        #expect(removed?.name == dtText("dev@100"))
        #expect(t.node(atPath: "/bus")?.children.isEmpty == true)
        let again = t.root.removeNode(atPath: "/bus/dev")
        #expect(again == nil)
        let root = t.root.removeNode(atPath: "/")
        #expect(root == nil)
        let chosen = t.root.removeNode(atPath: dtText("/chosen"))
        #expect(chosen?.name == dtText("chosen"))
        #expect(t.node(atPath: "/chosen") == nil)
    }
}
