/// Everything the hypervisor needs to build dom0, in one call from the boot DTB and the
/// board: the bindings, the 1:1 banks, where kernel, initrd and DTB go in bank 0, dom0's
/// device tree (final bytes) and the hardware to map and route. Pure: the hypervisor copies
/// the modules, maps `banks`, `hardware.mmio` and `hardware.reservedMemory` 1:1 and routes
/// `hardware.spis`.
public struct Dom0Plan: Equatable, Sendable {
    public var spec: Dom0BootSpec
    public var banks: [PhysicalRange]
    /// Addresses in bank 0 (guest physical = machine physical).
    public var placement: GuestBootPlacement
    public var hardware: Dom0Hardware
    /// `hardware.tree` serialized, to copy to `placement.dtb`.
    public var dtb: [UInt8]
}

public enum Dom0PlanError: Error, Equatable, Sendable {
    case boot(Dom0BootError)
    case tree(Dom0DeviceTreeError)
    /// The kernel is not an arm64 Image, or kernel, initrd and DTB do not fit in bank 0.
    case doesNotFit
}

extension Dom0Memory {
    /// Host RAM no domain may have: /memreserve/ entries and static /reserved-memory regions
    /// (Xen keeps both out of its heap).
    public static func hostReserved(_ dt: DeviceTree) -> [PhysicalRange] {
        var out: [PhysicalRange] = []
        for r in dt.memoryReservations where r.size > 0 && r.address <= UInt64.max &- r.size {
            out.append(PhysicalRange(base: r.address, size: r.size))
        }
        return out + reservedMemory(dt)
    }

    /// The static regions of /reserved-memory (RAM set aside for devices or firmware).
    public static func reservedMemory(_ dt: DeviceTree) -> [PhysicalRange] {
        var out: [PhysicalRange] = []
        if let resv = dt.node(atPath: "/reserved-memory") {
            let path = AddressPath(buses: [BusTranslation(bus: resv, parentCells: dt.root.childCellCounts)])
            for c in resv.children { out.append(contentsOf: path.regs(of: c, parentCells: resv.childCellCounts)) }
        }
        return out
    }
}

extension Dom0Plan {
    /// Nil when the boot DTB has no dom0 (and `required` is false).
    /// - `reserved`: host RAM already taken (the hypervisor with its heap, the boot DTB,
    ///   other domains' RAM); boot modules, /memreserve/ and /reserved-memory are added here.
    /// - `grantTable`: the grant window, in host RAM dom0 never has (inside the hypervisor's).
    /// - `kernelHeader`: the first 64 bytes of the kernel module (an arm64 Image header).
    public static func make(boot dt: DeviceTree, board: BoardInfo, reserved: [PhysicalRange],
                            grantTable: PhysicalRange, kernelHeader: [UInt8], rngSeed: [UInt8]? = nil,
                            required: Bool = false) throws(Dom0PlanError) -> Dom0Plan? {
        let spec: Dom0BootSpec
        let banks: [PhysicalRange]
        var taken = reserved + Dom0Memory.hostReserved(dt)
        do throws(Dom0BootError) {
            guard let s = try Dom0BootSpec.parse(dt, physicalCPUs: board.cpus.count, required: required) else { return nil }
            spec = s
            for m in try BootModules.scan(dt) { taken.append(m.range) }
            let free = Dom0Memory.freeBlocks(ram: board.memory, reserved: taken)
            var available: UInt64 = 0
            for f in free { available &+= f.size }
            banks = try Dom0Memory.allocate(ram: board.memory, reserved: taken, size: spec.memory.size(available: available))
        } catch {
            throw .boot(error)
        }
        guard let image = LinuxImageHeader(kernelHeader), let bank0 = banks.first else { throw .doesNotFit }

        var builder = Dom0DeviceTree(banks: banks, vcpus: spec.vcpus, bootargs: spec.cmdline,
                                     initrd: spec.ramdisk.map { PhysicalRange(base: 0, size: $0.size) },
                                     grantTable: grantTable, hypervisorDevices: board.uart.map { [$0] } ?? [],
                                     hostRAM: board.memory)
        builder.rngSeed = rngSeed
        builder.extendedRegions = Dom0Memory.extendedRegions(ram: board.memory, dom0Banks: banks,
                                                             reservedMemory: Dom0Memory.reservedMemory(dt),
                                                             grantTable: grantTable)
        // The tree's size does not depend on where the initrd goes (8-byte cells): build it
        // once to size it, place the modules, then build it with the initrd's address.
        let sized: Int
        do throws(Dom0DeviceTreeError) { sized = try builder.build(from: dt).tree.serialize().count } catch { throw .tree(error) }
        guard let place = GuestBootPlacement.place(
            ramBase: bank0.base, ramSize: bank0.size, kernelSize: spec.kernel.size,
            imageSize: image.imageSize, textOffset: image.textOffset,
            initrdSize: spec.ramdisk?.size ?? 0, dtbSize: UInt64(sized)) else { throw .doesNotFit }
        if let r = spec.ramdisk { builder.initrd = PhysicalRange(base: place.initrd, size: r.size) }
        let hw: Dom0Hardware
        do throws(Dom0DeviceTreeError) { hw = try builder.build(from: dt) } catch { throw .tree(error) }
        return Dom0Plan(spec: spec, banks: banks, placement: place, hardware: hw, dtb: hw.tree.serialize())
    }
}
