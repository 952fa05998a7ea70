/// The device tree a domain boots with: what Xen's libxl/dom0less domain builder
/// gives an Arm guest (memory, vCPUs, PSCI over HVC, GICv3, arch timer, vPL011),
/// at the addresses of Xen's guest memory map; with `hypervisorNode`, also the `/hypervisor`
/// node that tells the guest it runs on Xen.
public struct GuestDeviceTree {
    public var memoryBase: UInt64 = GuestLayout.ram0Base
    public var memorySize: UInt64
    public var vcpus: Int
    public var bootargs: [UInt8]
    public var initrd: PhysicalRange?
    public var vpl011: Bool
    /// The `/hypervisor` node (Xen's PV interfaces: grant table area, event-channel PPI):
    /// on for a domain with `xen,enhanced`, off for a plain Arm guest.
    public var hypervisorNode: Bool = false
    /// `/chosen/rng-seed` for the guest (see GuestEntropy); Xen gives a domU none, so its
    /// Linux boots with an uninitialised RNG and spends time gathering entropy.
    public var rngSeed: [UInt8]? = nil

    public init(memorySize: UInt64, vcpus: Int, bootargs: [UInt8], initrd: PhysicalRange?, vpl011: Bool,
                hypervisorNode: Bool = false) {
        self.memorySize = memorySize
        self.vcpus = vcpus
        self.bootargs = bootargs
        self.initrd = initrd
        self.vpl011 = vpl011
        self.hypervisorNode = hypervisorNode
    }

    static let gicPhandle: UInt32 = 0xFDE8             // Xen's GUEST_PHANDLE_GIC
    static let clockPhandle: UInt32 = 0xFDE9

    func reg(_ base: UInt64, _ size: UInt64) -> [UInt32] {
        [UInt32(truncatingIfNeeded: base >> 32), UInt32(truncatingIfNeeded: base),
         UInt32(truncatingIfNeeded: size >> 32), UInt32(truncatingIfNeeded: size)]
    }

    public func build() -> DeviceTree {
        var root = DTNode(name: [])
        root.properties = [
            .cells("#address-cells", [2]), .cells("#size-cells", [2]),
            .strings("compatible", ["xen,xenvm-4.17", "xen,xenvm"]),
            .string("model", "XENVM-4.17"),
            .cells("interrupt-parent", [GuestDeviceTree.gicPhandle]),
        ]

        var chosen = DTNode(name: "chosen")
        chosen.properties.append(.string(Array("bootargs".utf8), bootargs))
        if let i = initrd {
            chosen.properties.append(.u64("linux,initrd-start", i.base))
            chosen.properties.append(.u64("linux,initrd-end", i.end))
        }
        if vpl011 { chosen.properties.append(.string("stdout-path", "/sbsa-uart@22000000")) }
        if let seed = rngSeed { chosen.properties.append(.bytes("rng-seed", seed)) }
        root.children.append(chosen)

        var mem = DTNode(name: Array("memory@".utf8) + hex(memoryBase))
        mem.properties = [.string("device_type", "memory"), .cells("reg", reg(memoryBase, memorySize))]
        root.children.append(mem)

        var cpus = DTNode(name: "cpus")
        cpus.properties = [.cells("#address-cells", [1]), .cells("#size-cells", [0])]
        for i in 0..<vcpus {
            let mpidr = VirtualPSCI.mpidr(ofVCPU: i)
            var c = DTNode(name: Array("cpu@".utf8) + hex(mpidr))
            c.properties = [
                .string("device_type", "cpu"), .strings("compatible", ["arm,armv8"]),
                .cells("reg", [UInt32(mpidr)]), .string("enable-method", "psci"),
            ]
            cpus.children.append(c)
        }
        root.children.append(cpus)

        var psci = DTNode(name: "psci")
        psci.properties = [
            .strings("compatible", ["arm,psci-1.0", "arm,psci-0.2", "arm,psci"]),
            .string("method", "hvc"),
            .cells("cpu_off", [0x8400_0002]), .cells("cpu_on", [0xC400_0003]),
        ]
        root.children.append(psci)

        var gic = DTNode(name: Array("interrupt-controller@".utf8) + hex(GICv3Layout.distributorBase))
        let rdSize = GICv3Layout.redistributorStride * UInt64(vcpus)
        gic.properties = [
            .strings("compatible", ["arm,gic-v3"]),
            .cells("#interrupt-cells", [3]), .cells("#address-cells", [2]), .cells("#size-cells", [2]),
            .empty("interrupt-controller"), .cells("#redistributor-regions", [1]),
            .cells("reg", reg(GICv3Layout.distributorBase, GICv3Layout.distributorSize)
                        + reg(GICv3Layout.redistributorBase, rdSize)),
            .cells("phandle", [GuestDeviceTree.gicPhandle]),
        ]
        root.children.append(gic)

        var timer = DTNode(name: "timer")
        timer.properties = [
            .strings("compatible", ["arm,armv8-timer"]),
            .cells("interrupts", [1, 13, 0xF08, 1, 14, 0xF08, 1, 11, 0xF08, 1, 10, 0xF08]),
        ]
        root.children.append(timer)

        if vpl011 {
            var uart = DTNode(name: Array("sbsa-uart@".utf8) + hex(VirtualPL011.base))
            uart.properties = [
                .strings("compatible", ["arm,sbsa-uart"]),
                .cells("reg", reg(VirtualPL011.base, VirtualPL011.size)),
                .cells("interrupts", [0, UInt32(VirtualPL011.intid - 32), 4]),
                .cells("interrupt-parent", [GuestDeviceTree.gicPhandle]),
                .cells("current-speed", [115200]),
            ]
            root.children.append(uart)
        }
        if hypervisorNode { root.children.append(hypervisor()) }
        return DeviceTree(root: root)
    }

    /// Xen 4.17's node for a domU (xen/arch/arm/domain_build.c make_hypervisor_node, last in the
    /// root as there; libxl_arm.c writes the same for xl guests; binding in Linux's
    /// Documentation/devicetree/bindings/arm/xen.txt). Xen also appends "extended regions" to
    /// `reg` (unused guest-physical space where a guest may map foreign pages); Apus offers none
    /// yet; Linux then maps foreign grants over ballooned-out RAM pages, as on Xen before 4.16.
    func hypervisor() -> DTNode {
        var n = DTNode(name: "hypervisor")
        // Xen's PPI encoding (set_interrupt): <is-PPI, PPI number, cpumask << 8 | type>, with
        // type 8 = active-low level and cpumask 0xf "all CPUs" (ignored by GICv3), as the timer's.
        let ppi = UInt32(GuestLayout.eventChannelPPI - 16)
        n.properties = [
            .strings("compatible", ["xen,xen-4.17", "xen,xen"]),
            // reg 0: the grant table area, in the root's 2+2 cells.
            .cells("reg", reg(GuestLayout.grantTableBase, GuestLayout.grantTableSize)),
            .cells("interrupts", [1, ppi, 0xF08]),
            .cells("interrupt-parent", [GuestDeviceTree.gicPhandle]),
        ]
        return n
    }
}

/// Lower-case hex digits without leading zeros, for unit addresses.
public func hex(_ v: UInt64) -> [UInt8] {
    if v == 0 { return [0x30] }
    var n = v, d: [UInt8] = []
    while n > 0 { let x = UInt8(n & 0xF); d.append(x < 10 ? 0x30 + x : 0x57 + x); n >>= 4 }
    return d.reversed()
}
