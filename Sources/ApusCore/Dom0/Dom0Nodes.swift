// The nodes Xen 4.17 writes itself into dom0's tree (domain_build.c make_gic_node with
// gicv3_make_hwdom_dt_node, make_timer_node, write_properties for /chosen,
// make_hypervisor_node, make_psci_node, make_cpus_node, make_memory_node).

extension Dom0TreeWalk {
    /// Xen's interrupt specifier for a PPI: <1, INTID - 16, CPU mask 0xf << 8 | level-low 8>.
    static func ppiSpecifier(_ intid: UInt32) -> [UInt32] { [1, intid &- 16, 0xF08] }

    /// The vGICv3 at the board's addresses: the host's phandle (so every `interrupt-parent`
    /// still points at it), compatible and cell counts, the distributor and the first
    /// #redistributor-regions redistributor regions. No children: the ITS is not emulated
    /// (Xen 4.17 as Debian builds it has no CONFIG_HAS_ITS), so dom0 has no MSI controller.
    static func makeGICNode(_ gic: DTNodeMatch, phandle: UInt32) throws(Dom0DeviceTreeError) -> DTNode {
        let host = gic.node
        let regions = Int(host.property("#redistributor-regions")?.u32() ?? 1)
        let entryBytes = (gic.parentCells.addressCells &+ gic.parentCells.sizeCells) &* 4
        guard regions >= 1, regions <= 64, entryBytes > 0, let reg = host.property("reg"),
              reg.value.count >= (regions &+ 1) &* entryBytes else { throw .noGIC }
        var n = DTNode(name: "interrupt-controller")
        n.properties.append(.u32("phandle", phandle))
        if let a = host.property("#address-cells") { n.properties.append(a) }
        if let s = host.property("#size-cells") { n.properties.append(s) }
        n.properties.append(.u32("#interrupt-cells", 3))
        n.properties.append(.empty("interrupt-controller"))
        if let c = host.property("compatible") { n.properties.append(c) }
        n.properties.append(.u32("#redistributor-regions", UInt32(regions)))
        n.properties.append(.bytes("reg", Array(reg.value[0..<((regions &+ 1) &* entryBytes)])))
        return n
    }

    /// The arch timer with the host's PPIs (a domU gets Xen's fixed 29/30/27), always
    /// level-low as Xen emulates it; the board's `clock-frequency` if it has one.
    static func makeTimerNode(ppis: [UInt32], gicPhandle: UInt32, clockFrequency: DTProperty?) -> DTNode {
        var n = DTNode(name: "timer")
        n.properties.append(.string("compatible", "arm,armv8-timer"))
        var cells: [UInt32] = []
        for p in ppis { cells.append(contentsOf: ppiSpecifier(p)) }
        n.properties.append(.cells("interrupts", cells))
        n.properties.append(.u32("interrupt-parent", gicPhandle))
        if let f = clockFrequency { n.properties.append(f) }
        return n
    }

    static let chosenDropped: [StaticString] = [
        "xen,xen-bootargs", "xen,dom0-bootargs", "bootargs", "linux,initrd-start", "linux,initrd-end",
        "stdout-path", "linux,uefi-system-table", "linux,uefi-mmap-start", "linux,uefi-mmap-size",
        "linux,uefi-mmap-desc-size", "linux,uefi-mmap-desc-ver",
        // Apus: the board's seed feeds the hypervisor's own randomness; dom0 gets its own.
        "rng-seed",
    ]

    /// /chosen without Xen's and the boot loader's properties, then dom0's command line and
    /// initrd (8-byte cells, as Xen patches them in initrd_load).
    func chosen(_ host: DTNode) -> DTNode {
        var n = host
        n.properties = []
        for p in host.properties {
            var dropped = false
            for name in Dom0TreeWalk.chosenDropped where p.hasName(name) { dropped = true }
            if !dropped { n.properties.append(p) }
        }
        if !spec.bootargs.isEmpty { n.properties.append(.string(Array("bootargs".utf8), spec.bootargs)) }
        if let i = spec.initrd {
            n.properties.append(.u64("linux,initrd-start", i.base))
            n.properties.append(.u64("linux,initrd-end", i.end))
        }
        if let seed = spec.rngSeed { n.properties.append(.bytes("rng-seed", seed)) }
        return n
    }

    /// /hypervisor: reg 0 the grant-table window, then the extended regions; the upcall PPI.
    func hypervisorNode(_ cells: DTCellCounts) throws(Dom0DeviceTreeError) -> DTNode {
        var entries = [RegEntry(address: spec.grantTable.base, size: spec.grantTable.size)]
        for r in spec.extendedRegions { entries.append(RegEntry(address: r.base, size: r.size)) }
        guard let reg = DTProperty.reg(entries, addressCells: cells.addressCells, sizeCells: cells.sizeCells) else {
            throw .cannotEncode
        }
        var n = DTNode(name: "hypervisor")
        n.properties = [
            .strings("compatible", ["xen,xen-4.17", "xen,xen"]),
            reg,
            .cells("interrupts", Dom0TreeWalk.ppiSpecifier(spec.eventChannelPPI)),
            .u32("interrupt-parent", gicPhandle),
        ]
        return n
    }

    /// PSCI over HVC. Xen writes its own PSCI 0.1 function numbers in cpu_on/cpu_off; Apus
    /// writes the SMCCC ones its vPSCI serves, as in a domU's tree (Linux uses the
    /// standard IDs anyway once it sees psci-0.2).
    static func psciNode() -> DTNode {
        var n = DTNode(name: "psci")
        n.properties = [
            .strings("compatible", ["arm,psci-1.0", "arm,psci-0.2", "arm,psci"]),
            .string("method", "hvc"),
            .u32("cpu_off", 0x8400_0002),
            .u32("cpu_on", 0xC400_0003),
        ]
        return n
    }

    /// One cpu@<vMPIDR> per vCPU, with the board's first CPU's compatible and clock-frequency.
    func cpusNode(_ host: DeviceTree) -> DTNode {
        var first: DTNode?
        for c in host.node(atPath: "/cpus")?.children ?? [] where c.property("device_type")?.containsString("cpu") ?? false {
            first = c
            break
        }
        var n = DTNode(name: "cpus")
        n.properties = [.u32("#address-cells", 1), .u32("#size-cells", 0)]
        for i in 0..<spec.vcpus {
            let mpidr = VirtualPSCI.mpidr(ofVCPU: i)
            var c = DTNode(name: Array("cpu@".utf8) + hex(mpidr))
            c.properties.append(first?.property("compatible") ?? .strings("compatible", ["arm,armv8"]))
            c.properties.append(.string("device_type", "cpu"))
            c.properties.append(.u32("reg", UInt32(truncatingIfNeeded: mpidr)))
            if let f = first?.property("clock-frequency") { c.properties.append(f) }
            c.properties.append(.string("enable-method", "psci"))
            n.children.append(c)
        }
        return n
    }

    /// memory@<first bank> listing `ranges` in the root's cells.
    static func memoryNode(_ ranges: [PhysicalRange], _ cells: DTCellCounts) throws(Dom0DeviceTreeError) -> DTNode {
        var entries: [RegEntry] = []
        for r in ranges { entries.append(RegEntry(address: r.base, size: r.size)) }
        guard let first = ranges.first,
              let reg = DTProperty.reg(entries, addressCells: cells.addressCells, sizeCells: cells.sizeCells) else {
            throw .cannotEncode
        }
        var n = DTNode(name: Array("memory@".utf8) + hex(first.base))
        n.properties = [.string("device_type", "memory"), reg]
        return n
    }
}
