import Testing
@testable import ApusCore

private typealias F = Dom0Fixtures

/// Dom0's device tree built from QEMU virt's real tree plus Xen's boot bindings.
@Suite struct Dom0DeviceTreeTests {
    static let bank = PhysicalRange(base: 0x6000_0000, size: 512 << 20)
    static let initrd = PhysicalRange(base: 0x6800_0000, size: F.ramdisk.size)
    static let grant = PhysicalRange(base: 0x4008_0000, size: 0x4_0000)

    static func spec() -> Dom0DeviceTree {
        Dom0DeviceTree(banks: [bank], vcpus: 2, bootargs: F.text("console=hvc0 root=/dev/vda"), initrd: initrd,
                       grantTable: grant, hypervisorDevices: [F.uart], hostRAM: F.hostRAM)
    }

    static func build(_ s: Dom0DeviceTree = spec(), host: DeviceTree = F.standardBoot()) throws -> Dom0Hardware {
        try s.build(from: host)
    }

    static func names(_ n: DTNode?) -> [String] { (n?.children ?? []).map(\.nameString) }

    @Test func nodesRemovedKeptAndAdded() throws {
        let t = try Self.build().tree
        let root = Self.names(t.root)
        for gone in ["pl011@9000000", "pmu", "intc@8000000"] { #expect(!root.contains(gone), "\(gone)") }
        for kept in ["virtio_mmio@a000000", "virtio_mmio@a003e00", "pl031@9010000", "fw-cfg@9020000",
                     "pl061@9030000", "pcie@10000000", "flash@0", "apb-pclk", "gpio-keys", "platform-bus@c000000"] {
            #expect(root.contains(kept), "\(kept)")
        }
        #expect(root.filter { $0.hasPrefix("virtio_mmio@") }.count == 32)
        // Replaced in place (GIC, timer), then appended in Xen's order.
        #expect(root.suffix(5) == ["chosen", "hypervisor", "psci", "cpus", "memory@60000000"])
        #expect(root.contains("interrupt-controller") && root.contains("timer"))
        #expect(root.filter { $0 == "psci" || $0 == "cpus" || $0.hasPrefix("memory") }.count == 3, "the host's are gone")
        #expect(Self.names(t.node(atPath: "/chosen")).isEmpty, "module and xen,domain nodes removed")
        #expect(Self.names(t.node(atPath: "/cpus")) == ["cpu@0", "cpu@1"], "no cpu-map: the host's /cpus is gone")
        #expect(t.memoryReservations.isEmpty)
        // The root keeps the board's identity.
        #expect(t.root.property("compatible")?.stringValue == "linux,dummy-virt")
        #expect(try DeviceTree.parse(t.serialize()) == t)
    }

    @Test func chosenRewritten() throws {
        let chosen = try #require(try Self.build().tree.node(atPath: "/chosen"))
        #expect(chosen.properties.map(\.nameString) == ["kaslr-seed", "#address-cells", "#size-cells",
                                                         "bootargs", "linux,initrd-start", "linux,initrd-end"])
        #expect(chosen.property("bootargs")?.string == F.text("console=hvc0 root=/dev/vda"))
        #expect(chosen.property("linux,initrd-start")?.value.count == 8)
        #expect(chosen.property("linux,initrd-start")?.u64() == 0x6800_0000)
        #expect(chosen.property("linux,initrd-end")?.u64() == 0x6900_0000)
        var s = Self.spec()
        s.rngSeed = [1, 2, 3, 4]
        s.initrd = nil
        let seeded = try #require(try Self.build(s).tree.node(atPath: "/chosen"))
        #expect(seeded.property("rng-seed")?.value == [1, 2, 3, 4], "dom0's own seed, never the board's")
        #expect(seeded.property("linux,initrd-start") == nil)
    }

    @Test func memoryNodeListsTheBanks() throws {
        var s = Self.spec()
        s.banks = [PhysicalRange(base: 0x5000_0000, size: 768 << 20), PhysicalRange(base: 0x1_1000_0000, size: 256 << 20)]
        let mem = try #require(try Self.build(s).tree.node(atPath: "/memory@50000000"))
        #expect(mem.property("device_type")?.string == F.text("memory"))
        #expect(mem.property("reg")?.cells == [0, 0x5000_0000, 0, 0x3000_0000, 1, 0x1000_0000, 0, 0x1000_0000])
    }

    @Test func gicAsXenPresentsTheVGICv3() throws {
        let gic = try #require(try Self.build().tree.node(atPath: "/interrupt-controller"))
        #expect(gic.properties.map(\.nameString) == ["phandle", "#address-cells", "#size-cells", "#interrupt-cells",
                                                     "interrupt-controller", "compatible", "#redistributor-regions", "reg"])
        #expect(gic.phandle == 0x8003, "the host's phandle: every interrupt-parent still points at it")
        #expect(gic.property("compatible")?.stringValues == ["arm,gic-v3"])
        #expect(gic.property("#redistributor-regions")?.u32() == 1)
        #expect(gic.property("reg")?.cells == [0, 0x0800_0000, 0, 0x1_0000, 0, 0x080A_0000, 0, 0xF6_0000])
        #expect(gic.children.isEmpty, "no ITS: dom0 has no MSI controller")
        #expect(gic.property("interrupts") == nil && gic.property("ranges") == nil)
    }

    @Test func timerWithTheHostPPIs() throws {
        let hw = try Self.build()
        let timer = try #require(hw.tree.node(atPath: "/timer"))
        #expect(timer.property("compatible")?.stringValues == ["arm,armv8-timer"])
        #expect(timer.property("interrupts")?.cells == [1, 13, 0xF08, 1, 14, 0xF08, 1, 11, 0xF08])
        #expect(timer.property("interrupt-parent")?.u32() == 0x8003)
        #expect(timer.property("always-on") == nil)
        #expect(hw.timerPPIs == [29, 30, 27])
    }

    @Test func hypervisorNode() throws {
        var s = Self.spec()
        s.extendedRegions = [PhysicalRange(base: 0x4020_0000, size: 0x1FE0_0000)]
        let h = try #require(try Self.build(s).tree.node(atPath: "/hypervisor"))
        #expect(h.property("compatible")?.stringValues == ["xen,xen-4.17", "xen,xen"])
        #expect(h.property("reg")?.cells == [0, 0x4008_0000, 0, 0x4_0000, 0, 0x4020_0000, 0, 0x1FE0_0000])
        #expect(h.property("interrupts")?.cells == [1, 15, 0xF08], "PPI 31, level-low, all CPUs")
        #expect(h.property("interrupt-parent")?.u32() == 0x8003)
    }

    @Test func cpusAndPSCI() throws {
        let t = try Self.build().tree
        let cpu1 = try #require(t.node(atPath: "/cpus/cpu@1"))
        #expect(cpu1.property("compatible")?.stringValues == ["arm,cortex-a57"])
        #expect(cpu1.property("reg")?.cells == [1])
        #expect(cpu1.property("enable-method")?.string == F.text("psci"))
        #expect(t.node(atPath: "/psci")?.property("method")?.string == F.text("hvc"), "the board's says smc")
    }

    @Test func passthroughListsDevicesNotTheHypervisors() throws {
        let hw = try Self.build()
        for n in 0..<32 {
            let r = PhysicalRange(base: 0x0A00_0000 + UInt64(n) * 0x200, size: 0x200)
            #expect(hw.mmio.contains(r), "virtio-mmio \(n)")
            #expect(hw.spis.contains(Dom0SPI(intid: 48 + UInt32(n), edgeTriggered: true)), "virtio-mmio SPI \(48 + n)")
        }
        #expect(hw.mmio.contains(PhysicalRange(base: 0x0901_0000, size: 0x1000)), "RTC")
        #expect(hw.mmio.contains(PhysicalRange(base: 0x0902_0000, size: 0x18)), "fw-cfg")
        #expect(hw.mmio.contains(PhysicalRange(base: 0x0903_0000, size: 0x1000)), "GPIO")
        #expect(hw.mmio.contains(PhysicalRange(base: 0, size: 0x400_0000)) && hw.mmio.contains(PhysicalRange(base: 0x400_0000, size: 0x400_0000)))
        // The PCIe host bridge: ECAM, then its I/O and memory windows as the CPU sees them.
        for r in [PhysicalRange(base: 0x40_1000_0000, size: 0x1000_0000), PhysicalRange(base: 0x3EFF_0000, size: 0x1_0000),
                  PhysicalRange(base: 0x1000_0000, size: 0x2EFF_0000), PhysicalRange(base: 0x80_0000_0000, size: 0x80_0000_0000)] {
            #expect(hw.mmio.contains(r), "PCIe \(String(r.base, radix: 16))")
        }
        #expect(hw.mmio.count == 32 + 3 + 2 + 4)
        #expect(hw.spis.contains(Dom0SPI(intid: 34, edgeTriggered: false)), "RTC, level")
        #expect(hw.spis.contains(Dom0SPI(intid: 39, edgeTriggered: false)), "GPIO")
        for i in UInt32(35)...38 { #expect(hw.spis.contains(Dom0SPI(intid: i, edgeTriggered: false)), "PCI INTx \(i)") }
        #expect(hw.spis.count == 32 + 2 + 4)
        #expect(hw.spis.map(\.intid) == hw.spis.map(\.intid).sorted())
        // Not the hypervisor's UART (MMIO, SPI 33) nor any GIC frame.
        #expect(!hw.mmio.contains { $0.overlaps(F.uart) })
        #expect(!hw.spis.contains { $0.intid == 33 })
        #expect(!hw.mmio.contains { $0.overlaps(PhysicalRange(base: 0x0800_0000, size: 0x100_0000)) })
        #expect(hw.reservedMemory.isEmpty)
    }

    /// The QEMU tree with one more root node.
    static func hostWith(_ extra: DTNode) -> DeviceTree {
        var t = F.standardBoot()
        t.root.children.append(extra)
        return t
    }

    static func device(_ name: String, reg: [UInt32], interrupts: [UInt32]? = nil) -> DTNode {
        var n = DTNode(name: name, properties: [.strings("compatible", ["acme,widget"]), .cells("reg", reg)])
        if let i = interrupts { n.properties.append(.cells("interrupts", i)) }
        return n
    }

    @Test func devicesThatWouldReachTheHypervisorAreRefused() {
        let inRAM = Self.hostWith(Self.device("widget@70000000", reg: [0, 0x7000_0000, 0, 0x1000]))
        #expect(throws: Dom0DeviceTreeError.deviceInRAM(F.text("/widget@70000000"))) { try Self.build(host: inRAM) }
        // Not inside the UART's range (so not the hypervisor's device) but in its page.
        var s = Self.spec()
        s.hypervisorDevices = [PhysicalRange(base: 0x0900_0000, size: 0x800)]
        let sharing = Self.hostWith(Self.device("widget@9000800", reg: [0, 0x0900_0800, 0, 0x100]))
        #expect(throws: Dom0DeviceTreeError.deviceSharesPage(F.text("/widget@9000800"))) { try Self.build(s, host: sharing) }
        let stealing = Self.hostWith(Self.device("widget@9100000", reg: [0, 0x0910_0000, 0, 0x1000], interrupts: [0, 1, 4]))
        #expect(throws: Dom0DeviceTreeError.interruptShared(path: F.text("/widget@9100000"), intid: 33)) {
            try Self.build(host: stealing)
        }
    }

    @Test func ppiUsersAndDomUPassthroughDevices() throws {
        let ppi = Self.hostWith(Self.device("widget@9100000", reg: [0, 0x0910_0000, 0, 0x1000], interrupts: [1, 7, 4]))
        let a = try Self.build(host: ppi)
        #expect(a.tree.node(atPath: "/widget@9100000") == nil, "uses a PPI: dropped, as the pmu")
        #expect(!a.mmio.contains { $0.base == 0x0910_0000 })
        var forDomU = Self.device("widget@9100000", reg: [0, 0x0910_0000, 0, 0x1000], interrupts: [0, 60, 4])
        forDomU.properties.append(.empty("xen,passthrough"))
        let b = try Self.build(host: Self.hostWith(forDomU))
        let n = try #require(b.tree.node(atPath: "/widget@9100000"))
        #expect(n.property("status")?.string == F.text("disabled") && n.property("xen,passthrough") == nil)
        #expect(!b.mmio.contains { $0.base == 0x0910_0000 } && !b.spis.contains { $0.intid == 92 })
    }

    @Test func reservedMemoryIsRAMNotMMIO() throws {
        let resv = DTNode(name: "reserved-memory", properties: [
            .u32("#address-cells", 2), .u32("#size-cells", 2), .empty("ranges"),
        ], children: [Self.device("fw@5f000000", reg: [0, 0x5F00_0000, 0, 0x10_0000])])
        let hw = try Self.build(host: Self.hostWith(resv))
        #expect(hw.reservedMemory == [PhysicalRange(base: 0x5F00_0000, size: 0x10_0000)])
        #expect(!hw.mmio.contains { $0.base == 0x5F00_0000 }, "RAM, not a device: no deviceInRAM either")
        // Xen's second memory node, so Linux knows the region is memory.
        #expect(hw.tree.node(atPath: "/memory@5f000000")?.property("reg")?.cells == [0, 0x5F00_0000, 0, 0x10_0000])
        #expect(hw.tree.node(atPath: "/reserved-memory/fw@5f000000") != nil)
    }

    @Test func devicesBehindABusAreTranslated() throws {
        let bus = DTNode(name: "soc", properties: [
            .strings("compatible", ["simple-bus"]), .u32("#address-cells", 1), .u32("#size-cells", 1),
            .cells("ranges", [0, 0, 0x0C00_0000, 0x10_0000]),
        ], children: [Self.device("widget@2000", reg: [0x2000, 0x100], interrupts: [0, 100, 1])])
        let hw = try Self.build(host: Self.hostWith(bus))
        #expect(hw.mmio.contains(PhysicalRange(base: 0x0C00_2000, size: 0x100)))
        #expect(hw.spis.contains(Dom0SPI(intid: 132, edgeTriggered: true)))
        // interrupts-extended: the GIC's entry is routed, the other controller's (2 cells) is
        // not Xen's to route; a phandle that is no interrupt controller (the GPIO block has
        // no #interrupt-cells) ends the list.
        var host = F.standardBoot()
        host.root.children.append(DTNode(name: "intc2", properties: [
            .empty("interrupt-controller"), .u32("#interrupt-cells", 2), .u32("phandle", 0x9000),
        ]))
        var ext = Self.device("widget@9100000", reg: [0, 0x0910_0000, 0, 0x1000])
        ext.properties.append(.cells("interrupts-extended", [0x9000, 3, 0, 0x8003, 0, 101, 4, 0x8005, 0x8003, 0, 102, 4]))
        host.root.children.append(ext)
        let e = try Self.build(host: host)
        #expect(e.spis.contains(Dom0SPI(intid: 133, edgeTriggered: false)))
        #expect(!e.spis.contains { $0.intid == 134 })
        #expect(e.spis.count == 32 + 2 + 4 + 1)
    }

    @Test func badInputs() throws {
        var s = Self.spec()
        s.eventChannelPPI = 30
        #expect(throws: Dom0DeviceTreeError.badEventChannelPPI(30), "the timer's") { try Self.build(s) }
        s = Self.spec()
        s.grantTable = PhysicalRange(base: 0x6000_0000, size: 0x4_0000)
        #expect(throws: Dom0DeviceTreeError.badGrantTable, "inside dom0's RAM") { try Self.build(s) }
        s = Self.spec()
        s.grantTable = PhysicalRange(base: 0x0A00_0000, size: 0x4_0000)
        #expect(throws: Dom0DeviceTreeError.badGrantTable, "over virtio-mmio") { try Self.build(s) }
        var noGIC = F.standardBoot()
        noGIC.root.removeNode(atPath: "/intc@8000000")
        #expect(throws: Dom0DeviceTreeError.noGIC) { try Self.build(host: noGIC) }
    }
}
