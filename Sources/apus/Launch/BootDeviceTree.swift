import ApusCore

/// The boot DTB: QEMU's own description of the board plus Xen's boot bindings under /chosen
/// (docs/misc/arm/device-tree/booting.txt): dom0's modules and command lines, and the dom0less
/// domains, which is where the hypervisor reads its domains (ApusCore Dom0BootSpec,
/// BootDomain.parseAll) and where Xen 4.17 would read them too.
enum BootDeviceTree {
    static func make(board dtb: [UInt8], dom0: PlannedDom0? = nil, domains: [PlannedDomain], boardCPUs: Int = 64,
                     hypervisorArgs: String? = nil) throws -> [UInt8] {
        var dt: DeviceTree
        do {
            dt = try DeviceTree.parse(dtb)
        } catch {
            throw ToolFailure("QEMU's device tree does not decode: \(error)")
        }
        // stdout-path is how the hypervisor finds its UART; QEMU's virt board sets it, but a board
        // that does not gets its first PL011.
        let hasStdout = dt.root.child(named: "chosen")?.property("stdout-path") != nil
        let uart = dt.nodes(compatibleWith: "arm,pl011").first?.path

        dt.root.withChild(named: Array("chosen".utf8)) { chosen in
            if !hasStdout, let uart { chosen.setProperty(.string(Array("stdout-path".utf8), uart)) }
            // Module addresses are above 4 GiB on large boards: two cells each, as Xen's examples use.
            chosen.setProperty(.u32("#address-cells", 2))
            chosen.setProperty(.u32("#size-cells", 2))
            // Xen's own command line property: the hypervisor reads options such as sched=null,
            // and dom0's size from dom0_mem= and dom0_max_vcpus=.
            let xenArgs = [hypervisorArgs, dom0?.request.xenBootargs].compactMap { $0 }.joined(separator: " ")
            if !xenArgs.isEmpty { chosen.setProperty(.string("xen,xen-bootargs", xenArgs)) }
            if let dom0 {
                // Dom0's modules sit directly under /chosen (outside any xen,domain node), its
                // command line in /chosen as Xen's xen,dom0-bootargs.
                chosen.setProperty(.string("xen,dom0-bootargs", dom0.request.cmdline))
                for m in dom0.modules { chosen.setChild(moduleNode(m, bootargs: nil)) }
            }
            for (i, d) in domains.enumerated() {
                chosen.setChild(domainNode(d, name: "domU\(i + 1)", boardCPUs: boardCPUs))
            }
        }
        return dt.serialize()
    }

    static func domainNode(_ d: PlannedDomain, name: String, boardCPUs: Int = 64) -> DTNode {
        var node = DTNode(name: name, properties: [
            .string("compatible", "xen,domain"),
            .u32("#address-cells", 2),
            .u32("#size-cells", 2),
            .u64("memory", UInt64(d.config.memoryMiB) * 1024), // KiB, as Xen's binding has it
            .u32("cpus", UInt32(d.config.vcpus)),
            // The domain's console: the hypervisor multiplexes the board UART between domains'
            // emulated PL011s. Always on for now (xl's vuart is not required).
            .empty("vpl011"),
            // The xl.cfg name, so the console and logs use it rather than "domU1".
            .string("apus,name", d.config.name),
            // Scheduling and lifecycle from xl.cfg (Apus properties: Xen's dom0less binding has none).
            .u32("apus,cpu-weight", UInt32(d.config.cpuWeight)),
            .u32("apus,cpu-cap", UInt32(d.config.cpuCap)),
            .u64("apus,hard-affinity", d.config.cpus.cpus(boardCPUs: min(boardCPUs, 64)).reduce(UInt64(0)) { $0 | (1 << UInt64($1)) }),
            .string("apus,on-poweroff", d.config.onPoweroff.xlName),
            .string("apus,on-reboot", d.config.onReboot.xlName),
            .string("apus,on-crash", d.config.onCrash.xlName),
        ])
        // Xen's PV interfaces, as Xen's dom0less binding asks for them (xl.cfg xen_enhanced);
        // no property means a plain Arm guest.
        if let v = d.config.xenEnhanced.propertyValue {
            node.properties.append(.string("xen,enhanced", v.description))
        }
        node.children.append(moduleNode(d.kernel, bootargs: d.config.cmdline))
        if let r = d.ramdisk { node.children.append(moduleNode(r, bootargs: nil)) }
        return node
    }

    static func moduleNode(_ m: BootModule, bootargs: String?) -> DTNode {
        let kind = m.kind == .kernel ? "multiboot,kernel" : "multiboot,ramdisk"
        var node = DTNode(name: "module@" + String(m.address, radix: 16), properties: [
            .strings("compatible", [kind, "multiboot,module"]),
            .reg([RegEntry(address: m.address, size: m.size)], addressCells: 2, sizeCells: 2)!,
        ])
        if let bootargs { node.properties.append(.string("bootargs", bootargs)) }
        return node
    }
}
