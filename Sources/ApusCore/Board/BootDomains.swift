/// Boot-time domains described in the boot DTB with Xen's dom0less bindings
/// (docs/misc/arm/device-tree/booting.txt): /chosen/<node> with
/// compatible = "xen,domain", memory (KiB), cpus, vpl011, xen,enhanced, and
/// module sub-nodes "multiboot,kernel" / "multiboot,ramdisk" carrying reg and bootargs.
public struct BootDomain: Equatable, Sendable {
    public var name: [UInt8]
    public var memoryKiB: UInt64
    public var vcpus: Int
    public var kernel: PhysicalRange
    public var ramdisk: PhysicalRange?
    public var bootargs: [UInt8]
    public var vpl011: Bool
    /// `xen,enhanced`: absent → disabled; no value or "enabled" → enabled; "no-xenstore".
    public var xenEnhanced: XenEnhanced
    /// True when the domain gets Xen's PV interfaces at all (either enhanced mode).
    public var enhanced: Bool { xenEnhanced != .disabled }
    /// Scheduling (xl.cfg cpu_weight, cpu_cap, cpus), carried as `apus,cpu-weight`,
    /// `apus,cpu-cap` and `apus,hard-affinity` (a CPU bit mask); Xen's defaults when absent.
    public var weight: Int = 256
    public var capPercent: Int = 0
    public var affinity: UInt64 = ~0
    /// What follows a poweroff, reboot or crash (xl.cfg on_poweroff/on_reboot/on_crash,
    /// carried as `apus,on-poweroff` etc.); xl's defaults when absent.
    public var onPoweroff: LifecycleAction = .destroy
    public var onReboot: LifecycleAction = .restart
    public var onCrash: LifecycleAction = .destroy
}

/// The part of xl's on_* actions a hypervisor carries out by itself.
public enum LifecycleAction: Equatable, Sendable {
    case destroy
    case restart
    /// Keep the domain's memory and state, stopped, for inspection.
    case preserve

    /// xl names; "rename-restart" and "coredump-restart" restart, "coredump-destroy"
    /// destroys (no core dumps are written).
    public init?(xlName: [UInt8]) {
        func dtBytesEqual(_ b: [UInt8], _ s: StaticString) -> Bool { ApusCore.dtBytesEqual(b, 0..<b.count, s) }
        if dtBytesEqual(xlName, "destroy") || dtBytesEqual(xlName, "coredump-destroy") { self = .destroy }
        else if dtBytesEqual(xlName, "restart") || dtBytesEqual(xlName, "rename-restart")
                    || dtBytesEqual(xlName, "coredump-restart") { self = .restart }
        else if dtBytesEqual(xlName, "preserve") { self = .preserve }
        else { return nil }
    }
}

public enum BootDomainError: Error, Equatable, Sendable {
    case missingMemory(name: [UInt8])
    case missingKernel(name: [UInt8])
    case badCPUs(name: [UInt8])
    case badModule(name: [UInt8])
    /// `xen,enhanced` with a value other than "enabled" or "no-xenstore".
    case badXenEnhanced(name: [UInt8])
}

extension BootDomain {
    /// Each entry is a domain or the reason it cannot be built (it is skipped; the others boot).
    public static func parseAll(_ dt: DeviceTree) -> [Result<BootDomain, BootDomainError>] {
        guard let chosen = dt.node(atPath: "/chosen") else { return [] }
        var out: [Result<BootDomain, BootDomainError>] = []
        for n in chosen.children where n.isCompatible(with: "xen,domain") {
            out.append(parse(n))
        }
        return out
    }

    static func parse(_ n: DTNode) -> Result<BootDomain, BootDomainError> {
        let name = n.property("apus,name")?.string ?? n.name
        guard let mem = n.property("memory"), let kib = mem.value.count == 8 ? mem.u64() : mem.u32().map(UInt64.init),
              kib > 0 else { return .failure(.missingMemory(name: name)) }
        let cpus = Int(n.property("cpus")?.u32() ?? 1)
        guard cpus >= 1 && cpus <= 128 else { return .failure(.badCPUs(name: name)) }
        let cells = n.childCellCounts
        var kernel: PhysicalRange?
        var ramdisk: PhysicalRange?
        var bootargs = n.property("bootargs")?.string ?? []
        for m in n.children {
            let isKernel = m.isCompatible(with: "multiboot,kernel")
            let isRamdisk = m.isCompatible(with: "multiboot,ramdisk")
            guard isKernel || isRamdisk else { continue }
            guard let r = m.reg(cells)?.first, r.size > 0, r.address <= UInt64.max - r.size else {
                return .failure(.badModule(name: name))
            }
            let range = PhysicalRange(base: r.address, size: r.size)
            if isKernel {
                kernel = range
                if let a = m.property("bootargs")?.string { bootargs = a }
            } else {
                ramdisk = range
            }
        }
        guard let k = kernel else { return .failure(.missingKernel(name: name)) }
        var enhanced = XenEnhanced.disabled
        if let p = n.property("xen,enhanced") {
            guard let e = XenEnhanced(propertyValue: p.value) else { return .failure(.badXenEnhanced(name: name)) }
            enhanced = e
        }
        var d = BootDomain(name: name, memoryKiB: kib, vcpus: cpus, kernel: k, ramdisk: ramdisk,
                           bootargs: bootargs, vpl011: n.property("vpl011") != nil, xenEnhanced: enhanced)
        if let w = n.property("apus,cpu-weight")?.u32() { d.weight = Int(min(max(w, 1), 65535)) }
        if let c = n.property("apus,cpu-cap")?.u32() { d.capPercent = Int(min(c, 12800)) }
        if let a = n.property("apus,hard-affinity")?.u64(), a != 0 { d.affinity = a }
        if let s = n.property("apus,on-poweroff")?.string, let a = LifecycleAction(xlName: s) { d.onPoweroff = a }
        if let s = n.property("apus,on-reboot")?.string, let a = LifecycleAction(xlName: s) { d.onReboot = a }
        if let s = n.property("apus,on-crash")?.string, let a = LifecycleAction(xlName: s) { d.onCrash = a }
        return .success(d)
    }
}
