import Testing
@testable import ApusCore

private func text(_ s: String) -> [UInt8] { Array(s.utf8) }

/// Builds, serializes and parses back, so every check sees what the guest will see.
private func guestTree(memory: UInt64 = 256 << 20, vcpus: Int = 2, bootargs: String = "console=ttyAMA0 root=/dev/ram",
                       initrd: PhysicalRange? = PhysicalRange(base: 0x4800_0000, size: 0x12_3456),
                       vpl011: Bool = true, base: UInt64? = nil, hypervisor: Bool = false) throws -> DeviceTree {
    var g = GuestDeviceTree(memorySize: memory, vcpus: vcpus, bootargs: text(bootargs), initrd: initrd, vpl011: vpl011,
                            hypervisorNode: hypervisor)
    if let b = base { g.memoryBase = b }
    return try DeviceTree.parse(g.build().serialize())
}

@Suite struct GuestDeviceTreeTests {
    @Test func serializesAndParsesBackUnchanged() throws {
        let built = GuestDeviceTree(memorySize: 1 << 30, vcpus: 3, bootargs: text("x"), initrd: nil, vpl011: true).build()
        #expect(try DeviceTree.parse(built.serialize()) == built)
    }

    @Test func rngSeedOnlyWhenGiven() throws {
        var g = GuestDeviceTree(memorySize: 1 << 30, vcpus: 1, bootargs: text("x"), initrd: nil, vpl011: true)
        #expect(try DeviceTree.parse(g.build().serialize()).node(atPath: "/chosen")?.property("rng-seed") == nil)
        g.rngSeed = [UInt8](repeating: 0xA5, count: 32)
        let chosen = try #require(try DeviceTree.parse(g.build().serialize()).node(atPath: "/chosen"))
        #expect(chosen.property("rng-seed")?.value == [UInt8](repeating: 0xA5, count: 32))
    }

    @Test func root() throws {
        let dt = try guestTree()
        #expect(dt.root.property("compatible")?.strings == [text("xen,xenvm-4.17"), text("xen,xenvm")])
        #expect(dt.root.childCellCounts == DTCellCounts(addressCells: 2, sizeCells: 2))
        let parent = try #require(dt.root.property("interrupt-parent")?.u32())
        let gic = try #require(dt.node(withPhandle: parent))
        #expect(gic.node.isCompatible(with: "arm,gic-v3"), "interrupt-parent names the GIC")
    }

    @Test func memory() throws {
        let dt = try guestTree(memory: 256 << 20)
        let m = try #require(dt.lookup(path: "/memory"))
        #expect(m.path == text("/memory@40000000"))
        #expect(m.node.property("device_type")?.string == text("memory"))
        #expect(m.reg == [RegEntry(address: 0x4000_0000, size: 256 << 20)])
        #expect(dt.root.nodes(deviceType: "memory").count == 1)

        let high = try guestTree(memory: 5 << 30, base: 0x2_0000_0000)
        let h = try #require(high.lookup(path: "/memory"))
        #expect(h.path == text("/memory@200000000"))
        #expect(h.reg == [RegEntry(address: 0x2_0000_0000, size: 5 << 30)])
    }

    @Test func oneCPUNodePerVCPU() throws {
        let dt = try guestTree(vcpus: 2)
        let cpus = try #require(dt.node(atPath: "/cpus"))
        #expect(cpus.childCellCounts == DTCellCounts(addressCells: 1, sizeCells: 0))
        let nodes = dt.root.nodes(deviceType: "cpu")
        #expect(nodes.map(\.path) == [text("/cpus/cpu@0"), text("/cpus/cpu@1")])
        #expect(nodes.compactMap { $0.reg?.first?.address } == [0, 1])
        for n in nodes {
            #expect(n.node.property("enable-method")?.string == text("psci"))
            #expect(n.node.isCompatible(with: "arm,armv8"))
        }
    }

    @Test func cpuRegIsTheMPIDRBeyondSixteenVCPUs() throws {
        let dt = try guestTree(vcpus: 20)
        let nodes = dt.root.nodes(deviceType: "cpu")
        #expect(nodes.count == 20)
        let regs = nodes.compactMap { $0.reg?.first?.address }
        #expect(regs == (0..<20).map { VirtualPSCI.mpidr(ofVCPU: $0) })
        #expect(regs[16] == 0x100)
        #expect(nodes[16].path == text("/cpus/cpu@100"))
        #expect(nodes[19].path == text("/cpus/cpu@103"))
        #expect(nodes[15].path == text("/cpus/cpu@f"))
    }

    @Test func psciOverHVC() throws {
        let dt = try guestTree()
        let psci = try #require(dt.nodes(compatibleWith: "arm,psci-1.0").first)
        #expect(psci.node.isCompatible(with: "arm,psci-0.2"))
        #expect(psci.node.property("method")?.string == text("hvc"))
        #expect(psci.node.property("cpu_on")?.u32() == 0xC400_0003)
        #expect(psci.node.property("cpu_off")?.u32() == 0x8400_0002)
    }

    @Test func gicV3() throws {
        for vcpus in [1, 2, 5] {
            let dt = try guestTree(vcpus: vcpus)
            let gics = dt.nodes(compatibleWith: "arm,gic-v3")
            #expect(gics.count == 1)
            let gic = try #require(gics.first)
            #expect(gic.path == text("/interrupt-controller@3001000"))
            #expect(gic.reg == [RegEntry(address: 0x0300_1000, size: 0x1_0000),
                                RegEntry(address: 0x0302_0000, size: 0x2_0000 * UInt64(vcpus))])
            #expect(gic.node.property("#interrupt-cells")?.u32() == 3)
            #expect(gic.node.property("interrupt-controller")?.isEmpty == true)
            #expect(gic.node.property("#redistributor-regions")?.u32() == 1)
            #expect(gic.node.property("phandle")?.u32() == 0xFDE8)
        }
    }

    @Test func timerPPIs() throws {
        let dt = try guestTree()
        let timer = try #require(dt.nodes(compatibleWith: "arm,armv8-timer").first)
        let cells = try #require(timer.node.property("interrupts")?.cells)
        #expect(cells.count == 12)
        // Secure physical, non-secure physical, virtual, hypervisor: PPIs 13, 14, 11, 10.
        #expect(stride(from: 0, to: 12, by: 3).map { cells[$0] } == [1, 1, 1, 1], "all PPIs")
        #expect(stride(from: 1, to: 12, by: 3).map { cells[$0] } == [13, 14, 11, 10])
        #expect(stride(from: 1, to: 12, by: 3).map { Int(cells[$0]) + 16 } ==
                [GuestLayout.securePhysicalTimerPPI, GuestLayout.physicalTimerPPI,
                 GuestLayout.virtualTimerPPI, GuestLayout.hypervisorTimerPPI])
        #expect(stride(from: 2, to: 12, by: 3).map { cells[$0] & 0xF } == [8, 8, 8, 8], "level-low")
    }

    @Test func vpl011() throws {
        let dt = try guestTree(vpl011: true)
        let uart = try #require(dt.nodes(compatibleWith: "arm,sbsa-uart").first)
        #expect(uart.path == text("/sbsa-uart@22000000"))
        #expect(uart.reg == [RegEntry(address: 0x2200_0000, size: 0x1000)])
        #expect(uart.node.property("interrupts")?.cells == [0, 0, 4], "SPI 0 = INTID 32, level-high")
        #expect(uart.node.property("interrupt-parent")?.u32() == 0xFDE8)
        #expect(dt.node(atPath: "/chosen")?.property("stdout-path")?.string == text("/sbsa-uart@22000000"))
        #expect(dt.stdoutNode?.path == text("/sbsa-uart@22000000"))
    }

    @Test func noVPL011() throws {
        let dt = try guestTree(vpl011: false)
        #expect(dt.nodes(compatibleWith: "arm,sbsa-uart").isEmpty)
        #expect(dt.node(atPath: "/chosen")?.property("stdout-path") == nil)
        #expect(dt.stdoutNode == nil)
    }

    @Test func noHypervisorNodeByDefault() throws {
        let g = GuestDeviceTree(memorySize: 1 << 30, vcpus: 1, bootargs: [], initrd: nil, vpl011: true)
        #expect(!g.hypervisorNode)
        let dt = try guestTree()
        #expect(dt.node(atPath: "/hypervisor") == nil)
        #expect(dt.nodes(compatibleWith: "xen,xen").isEmpty)
        // Not in the blob at all: a guest must not find Xen by searching the strings either.
        let blob = g.build().serialize()
        #expect(!contains(blob, text("xen,xen\0")))
        #expect(!contains(blob, text("hypervisor")))
    }

    /// The node Xen 4.17 gives a domU (domain_build.c make_hypervisor_node, libxl_arm.c).
    @Test func hypervisorNodeAsXen() throws {
        let dt = try guestTree(vcpus: 2, hypervisor: true)
        let h = try #require(dt.lookup(path: "/hypervisor"))
        #expect(h.path == text("/hypervisor"), "no unit address, as Xen")
        #expect(h.node.property("compatible")?.value == text("xen,xen-4.17\0xen,xen\0"))
        #expect(h.node.property("reg")?.cells == [0x0, 0x3800_0000, 0x0, 0x0100_0000], "2+2 cells")
        #expect(h.reg == [RegEntry(address: GuestLayout.grantTableBase, size: GuestLayout.grantTableSize)])
        #expect(h.node.property("interrupts")?.cells == [1, 15, 0xF08], "PPI 15 = INTID 31, level-low, all CPUs")
        #expect(Int(try #require(h.node.property("interrupts")?.cells?[1])) + 16 == GuestLayout.eventChannelPPI)
        let parent = try #require(h.node.property("interrupt-parent")?.u32())
        #expect(parent == 0xFDE8)
        #expect(dt.node(withPhandle: parent)?.node.isCompatible(with: "arm,gic-v3") == true)
        #expect(h.node.properties.map(\.name) == [text("compatible"), text("reg"), text("interrupts"),
                                                  text("interrupt-parent")], "Xen's order")
        #expect(h.node.children.isEmpty)
        #expect(dt.root.children.last?.name == text("hypervisor"), "last in the root, as Xen writes it")
    }

    @Test func hypervisorNodeLeavesTheRestAlone() throws {
        let plain = GuestDeviceTree(memorySize: 256 << 20, vcpus: 2, bootargs: text("x"), initrd: nil, vpl011: true)
        var xen = plain
        xen.hypervisorNode = true
        var withNode = xen.build()
        #expect(try DeviceTree.parse(withNode.serialize()) == withNode, "round-trips")
        withNode.root.children.removeLast()
        #expect(withNode == plain.build(), "only the node is added")
        #expect(try guestTree(vpl011: false, hypervisor: true).node(atPath: "/hypervisor") != nil, "without vpl011 too")
    }

    @Test func chosen() throws {
        let dt = try guestTree(bootargs: "console=ttyAMA0 earlycon", initrd: PhysicalRange(base: 0x4800_0000, size: 0x12_3456))
        let chosen = try #require(dt.node(atPath: "/chosen"))
        #expect(chosen.property("bootargs")?.string == text("console=ttyAMA0 earlycon"))
        let start = try #require(chosen.property("linux,initrd-start"))
        let end = try #require(chosen.property("linux,initrd-end"))
        #expect(start.value.count == 8 && end.value.count == 8, "64-bit values")
        #expect(start.u64() == 0x4800_0000)
        #expect(end.u64() == 0x4812_3456, "end is exclusive")
    }

    @Test func chosenWithoutInitrd() throws {
        let dt = try guestTree(bootargs: "", initrd: nil)
        let chosen = try #require(dt.node(atPath: "/chosen"))
        #expect(chosen.property("linux,initrd-start") == nil)
        #expect(chosen.property("linux,initrd-end") == nil)
        #expect(chosen.property("bootargs")?.value == [0], "an empty string")
    }

    @Test func phandlesAreUnique() throws {
        let dt = try guestTree(vcpus: 4)
        var seen: [UInt32] = []
        dt.root.forEachNode { _, node, _ in
            if let p = node.property("phandle")?.u32() { seen.append(p) }
        }
        #expect(Set(seen).count == seen.count)
        #expect(seen.contains(0xFDE8))
    }

    /// The guest's tree describes a board the hypervisor's own discovery would accept.
    @Test func discoverableAsABoard() throws {
        let dt = try guestTree(memory: 512 << 20, vcpus: 3)
        let b = try BoardInfo.discover(dt)
        #expect(b.memory == [PhysicalRange(base: 0x4000_0000, size: 512 << 20)])
        #expect(b.cpus == [0, 1, 2])
        #expect(b.gicDistributor == PhysicalRange(base: 0x0300_1000, size: 0x1_0000))
        #expect(b.gicRedistributors == PhysicalRange(base: 0x0302_0000, size: 0x6_0000))
        #expect(b.hasPSCI && b.psciUsesHVC)
    }

    @Test func hexUnitAddresses() {
        #expect(hex(0) == text("0"))
        #expect(hex(0xF) == text("f"))
        #expect(hex(0x2200_0000) == text("22000000"))
        #expect(hex(0xABC_DEF0) == text("abcdef0"))
        #expect(hex(UInt64.max) == text("ffffffffffffffff"))
    }
}

private func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
    guard !needle.isEmpty, haystack.count >= needle.count else { return false }
    for i in 0...(haystack.count - needle.count) where Array(haystack[i..<(i + needle.count)]) == needle { return true }
    return false
}
