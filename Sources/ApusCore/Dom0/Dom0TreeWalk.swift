// The walk over the board's tree that decides, node by node, what dom0 sees
// (Xen 4.17 handle_node, in its order: skipped kinds, the GIC and timer replaced, what
// the hypervisor uses left out, IOMMUs left out, users of PPIs left out, the rest copied
// and its resources given to dom0 by handle_device).

struct Dom0TreeWalk {
    let spec: Dom0DeviceTree
    let gicPath: [UInt8]
    let gicPhandle: UInt32
    let gicNode: DTNode
    let timerNode: DTNode
    let timerPPIs: [UInt32]
    let controllers: InterruptControllers
    /// Pages dom0 must never map: the hypervisor's devices and the GIC's frames (ITS included).
    let hypervisorOnly: [PhysicalRange]

    var mmio: [PhysicalRange] = []
    var spis: [Dom0SPI] = []
    var reservedMemory: [PhysicalRange] = []
    var sawChosen = false
    var timerDone = false
    /// SPIs of the devices left to the hypervisor, and the passed-through ones with their node.
    var hypervisorSPIs: [UInt32] = []
    var passthroughSPIs: [(path: [UInt8], intid: UInt32)] = []

    init(spec: Dom0DeviceTree, host: DeviceTree) throws(Dom0DeviceTreeError) {
        self.spec = spec
        guard let gic = host.nodes(compatibleWith: "arm,gic-v3").first, let regs = gic.reg, regs.count >= 2,
              let phandle = gic.node.phandle ?? host.nextFreePhandle else { throw .noGIC }
        gicPath = gic.path
        gicPhandle = phandle
        controllers = InterruptControllers(tree: host, gicPhandle: phandle, gic: gic.node)
        gicNode = try Dom0TreeWalk.makeGICNode(gic, phandle: phandle)

        var only = spec.hypervisorDevices
        for r in regs where r.size > 0 { only.append(PhysicalRange(base: r.address, size: r.size)) }
        for child in gic.node.children {
            for r in child.reg(gic.node.childCellCounts) ?? [] where r.size > 0 {
                only.append(PhysicalRange(base: r.address, size: r.size))
            }
        }
        hypervisorOnly = only

        // The timer's PPIs: secure physical, non-secure physical, virtual (then EL2 ones, not dom0's).
        let timer = host.nodes(compatibleWith: "arm,armv8-timer").first ?? host.nodes(compatibleWith: "arm,armv7-timer").first
        let rootParent = host.root.property("interrupt-parent")?.u32()
        guard let t = timer else { throw .noTimer }
        let ints = controllers.interrupts(of: t.node, inheritedParent: rootParent)
        guard ints.count >= 3, ints[0].kind == .ppi, ints[1].kind == .ppi, ints[2].kind == .ppi else { throw .noTimer }
        timerPPIs = [ints[0].intid, ints[1].intid, ints[2].intid]
        timerNode = Dom0TreeWalk.makeTimerNode(ppis: timerPPIs, gicPhandle: phandle,
                                               clockFrequency: t.node.property("clock-frequency"))
    }

    static let skipped: [StaticString] = [
        "xen,domain", "xen,domain-shared-memory-v1", "xen,evtchn-v1", "xen,xen",
        "xen,multiboot-module", "multiboot,module",
        // Apus also reads module nodes that name only their kind (BootModules).
        "multiboot,kernel", "multiboot,ramdisk", "xen,linux-zimage", "xen,linux-initrd",
        "arm,psci", "arm,psci-0.2", "arm,psci-1.0",
        "arm,cortex-a7-pmu", "arm,cortex-a15-pmu", "arm,cortex-a53-edac", "arm,armv8-pmuv3",
        "arm,armv7-timer-mem",
    ]
    static let gics: [StaticString] = ["arm,gic-v3", "arm,gic-400", "arm,cortex-a15-gic", "arm,cortex-a9-gic", "arm,cortex-a7-gic"]
    static let iommus: [StaticString] = ["arm,smmu-v1", "arm,smmu-v2", "arm,mmu-400", "arm,mmu-401", "arm,mmu-500", "arm,smmu-v3"]

    static func compatibleWithAny(_ n: DTNode, _ list: [StaticString]) -> Bool {
        guard let c = n.property("compatible") else { return false }
        for s in list where c.containsString(s) { return true }
        return false
    }

    /// Dom0's copy of `node` (nil when dom0 does not see it), its resources collected.
    mutating func copy(_ node: DTNode, path: [UInt8], parentCells: DTCellCounts, interruptParent: UInt32?,
                       addresses: AddressPath) throws(Dom0DeviceTreeError) -> DTNode? {
        let isRoot = path.count == 1
        var regs: [PhysicalRange] = []
        var ints: [GICInterrupt] = []
        if !isRoot {
            if Dom0TreeWalk.compatibleWithAny(node, Dom0TreeWalk.skipped) || dtBytesEqual(path, "/cpus")
                || (node.property("device_type")?.containsString("memory") ?? false) { return nil }
            if path == gicPath { return gicNode }
            if node.property("interrupt-controller") != nil && Dom0TreeWalk.compatibleWithAny(node, Dom0TreeWalk.gics) {
                return nil                                          // a secondary GIC
            }
            if node.isCompatible(with: "arm,armv8-timer") || node.isCompatible(with: "arm,armv7-timer") {
                if timerDone { return nil }
                timerDone = true
                return timerNode
            }
            regs = addresses.regs(of: node, parentCells: parentCells)
            ints = controllers.interrupts(of: node, inheritedParent: interruptParent)
            if regs.contains(where: { r in spec.hypervisorDevices.contains { $0.overlaps(r) } }) {
                for i in ints where i.kind == .spi { hypervisorSPIs.append(i.intid) }
                return nil
            }
            if Dom0TreeWalk.compatibleWithAny(node, Dom0TreeWalk.iommus) { return nil }
            // The vGIC cannot route a hardware PPI: a device using one is not dom0's.
            if ints.contains(where: { $0.kind == .ppi }) { return nil }
            // Xen warns and copies a host /hypervisor; Apus drops it: its own replaces it.
            if dtBytesEqual(path, "/hypervisor") { return nil }
        }

        var out = DTNode(name: node.name)
        let forDomU = node.property("xen,passthrough") != nil
        for p in node.properties where !p.hasName("xen,passthrough") { out.properties.append(p) }
        if forDomU { out.setProperty(.string("status", "disabled")) }
        let isChosen = dtBytesEqual(path, "/chosen")
        if isChosen {
            sawChosen = true
            out = chosen(out)
        }
        let disabled = node.property("status")?.containsString("disabled") ?? false
        let isPCI = node.property("device_type")?.containsString("pci") ?? false
        if !isRoot && !isChosen && !forDomU && !disabled {
            if path.count > 17 && dtBytesEqual(path, 0..<17, "/reserved-memory/") {
                reservedMemory.append(contentsOf: regs)
            } else {
                try passThrough(path, regs: regs, interrupts: ints)
                if isPCI { try passThroughBridge(path, node, parentCells: parentCells, addresses: addresses) }
            }
        }

        let childParent = node.property("interrupt-parent")?.u32() ?? interruptParent
        var childAddresses = addresses
        if !isRoot { childAddresses.buses.append(isPCI ? .none : BusTranslation(bus: node, parentCells: parentCells)) }
        let cells = node.childCellCounts
        for child in node.children {
            var childPath = path
            if !isRoot { childPath.append(UInt8(ascii: "/")) }
            childPath.append(contentsOf: child.name)
            if let c = try copy(child, path: childPath, parentCells: cells, interruptParent: childParent,
                                addresses: childAddresses) {
                out.children.append(c)
            }
        }
        if isRoot { finish() }
        return out
    }

    /// A device's MMIO and SPIs become dom0's, unless they would hand it RAM or a page the
    /// hypervisor keeps.
    mutating func passThrough(_ path: [UInt8], regs: [PhysicalRange], interrupts: [GICInterrupt])
        throws(Dom0DeviceTreeError) {
        for r in regs {
            if spec.hostRAM.contains(where: { $0.overlaps(r) }) { throw .deviceInRAM(path) }
            let page: UInt64 = 0x1000
            let start = r.base & ~(page &- 1)
            let end = r.end > UInt64.max &- (page &- 1) ? UInt64.max : (r.end &+ page &- 1) & ~(page &- 1)
            let pages = PhysicalRange(base: start, size: end &- start)
            if hypervisorOnly.contains(where: { $0.overlaps(pages) }) { throw .deviceSharesPage(path) }
            mmio.append(r)
        }
        for i in interrupts where i.kind == .spi {
            // Flags 1 and 2 are edge triggers, 4 and 8 levels (the GIC binding).
            spis.append(Dom0SPI(intid: i.intid, edgeTriggered: i.flags & 3 != 0))
            passthroughSPIs.append((path, i.intid))
        }
    }

    /// A PCI host bridge (Xen's map_device_children): its `ranges` windows are MMIO for dom0
    /// and its `interrupt-map` SPIs are routed to it.
    mutating func passThroughBridge(_ path: [UInt8], _ node: DTNode, parentCells: DTCellCounts,
                                    addresses: AddressPath) throws(Dom0DeviceTreeError) {
        var windows: [PhysicalRange] = []
        if let r = node.property("ranges"),
           let ws = BusTranslation.windows(r, childCells: node.childAddressCells,
                                           parentCells: parentCells.addressCells, sizeCells: node.childSizeCells) {
            for w in ws where w.size > 0 && w.parent <= UInt64.max &- w.size {
                if let cpu = addresses.toCPU(PhysicalRange(base: w.parent, size: w.size)) { windows.append(cpu) }
            }
        }
        try passThrough(path, regs: windows, interrupts: controllers.interruptMap(of: node))
    }

    /// Sorted, each once; an SPI of a device the hypervisor keeps may not also be dom0's.
    mutating func finish() {
        mmio.sort { $0.base != $1.base ? $0.base < $1.base : $0.size < $1.size }
        var m: [PhysicalRange] = []
        for r in mmio where m.last != r { m.append(r) }
        mmio = m
        spis.sort { $0.intid < $1.intid }
        var s: [Dom0SPI] = []
        for i in spis where s.last?.intid != i.intid { s.append(i) }
        spis = s
    }

    func checkSharedInterrupts() throws(Dom0DeviceTreeError) {
        for p in passthroughSPIs where hypervisorSPIs.contains(p.intid) {
            throw .interruptShared(path: p.path, intid: p.intid)
        }
    }
}
