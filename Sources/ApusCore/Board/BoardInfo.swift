/// What the hypervisor needs to know about the board, read from the DTB the
/// firmware (QEMU) passes in x0, so that nothing board-specific is compiled in.
public struct BoardInfo: Equatable, Sendable {
    public var memory: [PhysicalRange] = []
    /// MPIDR of each CPU, in DTB order.
    public var cpus: [UInt64] = []
    public var gicDistributor = PhysicalRange(base: 0, size: 0)
    public var gicRedistributors = PhysicalRange(base: 0, size: 0)
    public var uart: PhysicalRange?
    public var uartIntid: UInt32?
    /// The PL031 real-time clock, if the board has one (QEMU virt: 0x09010000): where the
    /// wall-clock time Xen guests read from shared_info comes from.
    public var rtc: PhysicalRange?
    /// `/chosen/rng-seed`: entropy the firmware (QEMU) hands the boot program; empty if none.
    public var rngSeed: [UInt8] = []
    /// PSCI conduit: true for HVC, false for SMC.
    public var psciUsesHVC = false
    public var hasPSCI = false

    public init() {}
}

public enum BoardError: Error, Equatable, Sendable {
    case noMemory
    case noCPUs
    case noGICv3
    case noPSCI
}

extension BoardInfo {
    public static func discover(_ dt: DeviceTree) throws(BoardError) -> BoardInfo {
        var b = BoardInfo()
        for m in dt.root.nodes(where: { n in
            n.property("device_type")?.containsString("memory") ?? false
        }) {
            for r in m.reg ?? [] where r.size > 0 { b.memory.append(PhysicalRange(base: r.address, size: r.size)) }
        }
        guard !b.memory.isEmpty else { throw .noMemory }

        if let cpus = dt.lookup(path: "/cpus") {
            let cells = cpus.node.childCellCounts
            for c in cpus.node.children where c.property("device_type")?.containsString("cpu") ?? false {
                if let r = c.reg(cells)?.first { b.cpus.append(r.address) }
            }
        }
        guard !b.cpus.isEmpty else { throw .noCPUs }

        guard let gic = dt.nodes(compatibleWith: "arm,gic-v3").first, let regs = gic.reg, regs.count >= 2 else {
            throw .noGICv3
        }
        b.gicDistributor = PhysicalRange(base: regs[0].address, size: regs[0].size)
        b.gicRedistributors = PhysicalRange(base: regs[1].address, size: regs[1].size)

        let uartNode = dt.stdoutNode ?? dt.nodes(compatibleWith: "arm,pl011").first
        if let u = uartNode, u.node.isCompatible(with: "arm,pl011"), let r = u.reg?.first {
            b.uart = PhysicalRange(base: r.address, size: r.size)
            if let irq = u.node.property("interrupts")?.cells, irq.count >= 2 {
                b.uartIntid = irq[0] == 0 ? irq[1] &+ 32 : irq[1] &+ 16
            }
        }

        // status = "disabled" says the device is not for us to use (e.g. kept by secure firmware).
        let rtcNode = dt.nodes(compatibleWith: "arm,pl031").first { m in
            !(m.node.property("status")?.containsString("disabled") ?? false)
        }
        if let r = rtcNode?.reg?.first, r.size > 0 { b.rtc = PhysicalRange(base: r.address, size: r.size) }

        if let seed = dt.node(atPath: "/chosen")?.property("rng-seed")?.value, seed.count <= 512 { b.rngSeed = seed }

        let psci = dt.nodes(compatibleWith: "arm,psci-1.0").first ?? dt.nodes(compatibleWith: "arm,psci-0.2").first
        if let p = psci {
            b.hasPSCI = true
            b.psciUsesHVC = p.node.property("method")?.containsString("hvc") ?? false
        }
        return b
    }
}
