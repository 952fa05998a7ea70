/// Dom0's device tree, built from the board's as Xen 4.17's prepare_dtb_hwdom / handle_node
/// build it (xen/arch/arm/domain_build.c): the board's tree copied, minus what the
/// hypervisor keeps (its UART, the GIC's and timer's hypervisor-only parts, the boot modules,
/// dom0less domains, PSCI, CPUs, memory, PMU), with the GIC, timer, /chosen, /memory, /cpus,
/// /psci and /hypervisor nodes written for dom0. Building it also lists what dom0 gets of the
/// hardware: the MMIO to map 1:1 and the SPIs to route (`Dom0Hardware`).
public struct Dom0DeviceTree: Sendable {
    /// Dom0's RAM banks (machine = guest physical), sorted (Dom0Memory.allocate).
    public var banks: [PhysicalRange]
    public var vcpus: Int
    public var bootargs: [UInt8]
    /// Where the initrd is loaded in dom0's RAM, nil without one.
    public var initrd: PhysicalRange?
    /// The grant-table window (Xen uses host RAM that is never dom0's: its own image).
    public var grantTable: PhysicalRange
    /// Xen's extended regions, after the grant window in the /hypervisor `reg` (Dom0Memory.extendedRegions).
    public var extendedRegions: [PhysicalRange] = []
    /// The event-channel upcall PPI (INTID). Xen gives the hardware domain the lowest free PPI;
    /// Apus gives every domain GuestLayout.eventChannelPPI.
    public var eventChannelPPI: UInt32 = UInt32(GuestLayout.eventChannelPPI)
    /// MMIO the hypervisor keeps for itself (its console UART): a device node with a `reg` in
    /// one of these is left out, with its children, as Xen leaves out what it uses.
    public var hypervisorDevices: [PhysicalRange]
    /// The board's RAM: no passed-through device may claim any of it.
    public var hostRAM: [PhysicalRange]
    /// /chosen/rng-seed for dom0 (the board's own seed is the hypervisor's and is never copied).
    public var rngSeed: [UInt8]? = nil

    public init(banks: [PhysicalRange], vcpus: Int, bootargs: [UInt8], initrd: PhysicalRange?,
                grantTable: PhysicalRange, hypervisorDevices: [PhysicalRange], hostRAM: [PhysicalRange]) {
        self.banks = banks
        self.vcpus = vcpus
        self.bootargs = bootargs
        self.initrd = initrd
        self.grantTable = grantTable
        self.hypervisorDevices = hypervisorDevices
        self.hostRAM = hostRAM
    }
}

/// What dom0 gets: its device tree and the hardware behind it.
public struct Dom0Hardware: Equatable, Sendable {
    public var tree: DeviceTree
    /// MMIO of every device passed through (CPU addresses, as in the DT; the hypervisor maps
    /// the pages holding them 1:1 as device memory), sorted by address, each once.
    public var mmio: [PhysicalRange]
    /// SPIs of those devices, sorted by INTID, each once.
    public var spis: [Dom0SPI]
    /// /reserved-memory regions: RAM outside dom0's banks that dom0 maps 1:1 as memory.
    public var reservedMemory: [PhysicalRange]
    /// The host's timer PPIs dom0's timer node names: secure physical, non-secure physical, virtual.
    public var timerPPIs: [UInt32]
}

public enum Dom0DeviceTreeError: Error, Equatable, Sendable {
    /// The board has no GICv3 node with a distributor and a redistributor region.
    case noGIC
    /// The board has no arch timer node with its three PPIs.
    case noTimer
    case noMemory
    case badVCPUs
    /// The event-channel PPI is not a PPI, or the timer uses it.
    case badEventChannelPPI(UInt32)
    /// A value does not fit the root's #address-cells / #size-cells.
    case cannotEncode
    /// The grant-table window is empty or overlaps dom0's RAM or a passed-through device.
    case badGrantTable
    /// A device to pass through claims RAM (its path).
    case deviceInRAM([UInt8])
    /// A device to pass through shares a page with the hypervisor's UART or GIC (its path).
    case deviceSharesPage([UInt8])
    /// A device to pass through uses an interrupt of a device the hypervisor keeps.
    case interruptShared(path: [UInt8], intid: UInt32)
}

extension Dom0DeviceTree {
    public func build(from host: DeviceTree) throws(Dom0DeviceTreeError) -> Dom0Hardware {
        guard !banks.isEmpty else { throw .noMemory }
        guard vcpus >= 1 && vcpus <= Dom0BootSpec.maxVCPUs else { throw .badVCPUs }
        guard grantTable.size > 0, grantTable.base <= UInt64.max &- grantTable.size,
              !banks.contains(where: { $0.overlaps(grantTable) }) else { throw .badGrantTable }
        var walk = try Dom0TreeWalk(spec: self, host: host)
        guard !walk.timerPPIs.contains(eventChannelPPI), eventChannelPPI >= 16, eventChannelPPI < 32 else {
            throw .badEventChannelPPI(eventChannelPPI)
        }
        var root = try walk.copy(host.root, path: [UInt8(ascii: "/")], parentCells: .defaults,
                                 interruptParent: nil, addresses: AddressPath()) ?? DTNode(name: [])
        try walk.checkSharedInterrupts()
        if !walk.sawChosen { root.children.append(walk.chosen(DTNode(name: "chosen"))) }
        let cells = host.root.childCellCounts
        root.children.append(try walk.hypervisorNode(cells))
        root.children.append(Dom0TreeWalk.psciNode())
        root.children.append(walk.cpusNode(host))
        root.children.append(try Dom0TreeWalk.memoryNode(banks, cells))
        if !walk.reservedMemory.isEmpty { root.children.append(try Dom0TreeWalk.memoryNode(walk.reservedMemory, cells)) }

        for m in walk.mmio where m.overlaps(grantTable) { throw .badGrantTable }
        return Dom0Hardware(tree: DeviceTree(root: root), mmio: walk.mmio, spis: walk.spis,
                            reservedMemory: walk.reservedMemory, timerPPIs: walk.timerPPIs)
    }
}
