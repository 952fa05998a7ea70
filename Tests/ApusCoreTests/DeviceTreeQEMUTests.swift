import Testing
@testable import ApusCore

/// Parsing the device tree QEMU's `virt` machine hands to the hypervisor (DeviceTreeFixtures.swift).
@Suite struct DeviceTreeQEMUTests {
    let tree: DeviceTree

    init() throws {
        tree = try DeviceTree.parse(DeviceTreeFixtures.qemuVirtDTB)
    }

    @Test func header() throws {
        let header = try #require(FDTHeader(DeviceTreeFixtures.qemuVirtDTB))
        #expect(header.version == 17)
        #expect(Int(header.totalSize) == DeviceTreeFixtures.qemuVirtTotalSize)
        #expect(tree.memoryReservations.isEmpty)
        #expect(tree.bootCPUID == 0)
        #expect(tree.root.childCellCounts == DTCellCounts(addressCells: 2, sizeCells: 2))
    }

    @Test func memory() throws {
        let memory = try #require(tree.lookup(path: "/memory"))
        #expect(memory.path == dtText("/memory@40000000"))
        #expect(memory.reg == [RegEntry(address: 0x4000_0000, size: 1 << 30)])
        #expect(tree.root.nodes(deviceType: "memory").count == 1)
    }

    @Test func cpus() throws {
        let cpus = try #require(tree.node(atPath: "/cpus"))
        #expect(cpus.childCellCounts == DTCellCounts(addressCells: 1, sizeCells: 0))
        let cpuNodes = tree.root.nodes(deviceType: "cpu")
        #expect(cpuNodes.count == 2)
        #expect(cpuNodes.map(\.path) == [dtText("/cpus/cpu@0"), dtText("/cpus/cpu@1")])
        #expect(cpuNodes.compactMap { $0.reg?.first?.address } == [0, 1])
        #expect(cpuNodes.allSatisfy { $0.node.isCompatible(with: "arm,cortex-a57") })
        #expect(cpuNodes.allSatisfy { $0.node.property("enable-method")?.containsString("psci") == true })
    }

    @Test func gicV3() throws {
        let gics = tree.nodes(compatibleWith: "arm,gic-v3")
        #expect(gics.count == 1)
        let gic = try #require(gics.first)
        #expect(gic.path == dtText("/intc@8000000"))
        #expect(gic.reg == [RegEntry(address: 0x0800_0000, size: 0x1_0000),
                            RegEntry(address: 0x080A_0000, size: 0xF6_0000)])
        #expect(gic.node.property("interrupt-controller")?.isEmpty == true)
        // The root's interrupt-parent names the GIC by phandle.
        let parent = try #require(tree.root.property("interrupt-parent")?.u32())
        #expect(tree.node(withPhandle: parent)?.path == dtText("/intc@8000000"))
    }

    @Test func uart() throws {
        let uarts = tree.nodes(compatibleWith: "arm,pl011")
        #expect(uarts.count == 1)
        #expect(uarts.first?.reg?.first == RegEntry(address: 0x0900_0000, size: 0x1000))
        #expect(tree.stdoutNode?.path == dtText("/pl011@9000000"))
        #expect(uarts.first?.node.property("clock-names")?.strings == [dtText("uartclk"), dtText("apb_pclk")])
    }

    @Test func psci() throws {
        let psci = try #require(tree.node(atPath: "/psci"))
        #expect(psci.property("method")?.string == dtText("smc"))
        #expect(psci.isCompatible(with: "arm,psci-1.0"))
        #expect(psci.property("cpu_on")?.u32() == 0xC400_0003)
    }

    @Test func timerAndPhandles() throws {
        let timer = try #require(tree.nodes(compatibleWith: "arm,armv8-timer").first)
        #expect(timer.node.property("interrupts")?.cells?.count == 12)
        #expect(timer.node.property("always-on")?.isEmpty == true)
        let next = try #require(tree.nextFreePhandle)
        #expect(next > tree.root.maxPhandle)
        #expect(tree.node(withPhandle: next) == nil)
    }

    @Test func editingForAGuest() throws {
        // What the toolstack does to hand a tree to a guest: replace bootargs, drop a device.
        var t = tree
        t.root.setProperty(.string("bootargs", "console=ttyAMA0"), atPath: "/chosen")
        let removed = t.root.removeNode(atPath: "/pl011")
        #expect(removed != nil)
        let reparsed = try DeviceTree.parse(t.serialize())
        #expect(reparsed.node(atPath: "/chosen")?.property("bootargs")?.string == dtText("console=ttyAMA0"))
        #expect(reparsed.nodes(compatibleWith: "arm,pl011").isEmpty)
    }
}
