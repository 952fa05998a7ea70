import Testing
@testable import ApusCore

private typealias F = Dom0Fixtures

@Suite struct Dom0BootSpecTests {
    @Test func bindingsOfTheStandardBootDTB() throws {
        let spec = try #require(try Dom0BootSpec.parse(F.standardBoot(), physicalCPUs: 4))
        #expect(spec.kernel == F.kernel)
        #expect(spec.ramdisk == F.ramdisk)
        #expect(spec.cmdline == F.text("console=hvc0 root=/dev/vda"), "xen,dom0-bootargs replaces the module's bootargs")
        #expect(spec.memory == Dom0MemoryRequest(amount: 512 << 20))
        #expect(spec.vcpus == 2)
        #expect(spec.scheduler == .null)
        #expect(spec.xenCommandLine == F.text(F.defaultXenArgs))
    }

    @Test func commandLinePrecedence() throws {
        let kernelWithArgs = F.module(["multiboot,kernel", "multiboot,module"], F.kernel, bootargs: "from-module")
        // No xen,dom0-bootargs: the module's bootargs; /chosen/bootargs is then Xen's line.
        var t = F.bootTree(modules: [kernelWithArgs], properties: [.string("bootargs", "dom0_mem=256M")])
        var s = try #require(try Dom0BootSpec.parse(t, physicalCPUs: 2))
        #expect(s.cmdline == F.text("from-module"))
        #expect(s.xenCommandLine == F.text("dom0_mem=256M"))
        #expect(s.memory.amount == 256 << 20)
        // Nothing else: /chosen/bootargs is dom0's, and Xen has no command line.
        let bare = F.module(["multiboot,kernel", "multiboot,module"], F.kernel)
        t = F.bootTree(modules: [bare], properties: [.string("bootargs", "console=hvc0 dom0_mem=256M")])
        s = try #require(try Dom0BootSpec.parse(t, physicalCPUs: 2))
        #expect(s.cmdline == F.text("console=hvc0 dom0_mem=256M"))
        #expect(s.xenCommandLine.isEmpty)
        #expect(s.memory.amount == nil, "Xen read no dom0_mem: 512 MiB default")
        #expect(s.memory.size(available: 1 << 30) == 512 << 20)
        #expect(s.vcpus == 2, "dom0_max_vcpus absent: one vCPU per physical CPU")
        #expect(s.scheduler == .credit2, "Xen 4.17's default scheduler")
    }

    @Test func legacyCompatiblesAndGuessedKinds() throws {
        var t = F.bootTree(modules: [F.module(["xen,linux-zimage", "xen,multiboot-module"], F.kernel),
                                     F.module(["xen,linux-initrd", "xen,multiboot-module"], F.ramdisk)],
                           properties: [])
        var s = try #require(try Dom0BootSpec.parse(t, physicalCPUs: 1))
        #expect(s.kernel == F.kernel && s.ramdisk == F.ramdisk)
        // Plain multiboot,module nodes: the first is the kernel, the second the ramdisk.
        t = F.bootTree(modules: [F.module(["multiboot,module"], F.kernel), F.module(["multiboot,module"], F.ramdisk)],
                       properties: [])
        s = try #require(try Dom0BootSpec.parse(t, physicalCPUs: 1))
        #expect(s.kernel == F.kernel && s.ramdisk == F.ramdisk)
        // The legacy /chosen/linux,initrd-start/end pair is dom0's ramdisk.
        t = F.bootTree(modules: [F.module(["multiboot,kernel", "multiboot,module"], F.kernel)], properties: [
            .u64("linux,initrd-start", F.ramdisk.base), .u32("linux,initrd-end", UInt32(F.ramdisk.end)),
        ])
        s = try #require(try Dom0BootSpec.parse(t, physicalCPUs: 1))
        #expect(s.ramdisk == F.ramdisk)
    }

    /// QEMU's guest-loader (how Xen users boot dom0 on QEMU) writes modules with 2+2-cell reg
    /// under a /chosen without #address-cells/#size-cells: Xen reads them with the root's
    /// counts, inherited, and so does Apus.
    @Test func modulesUnderAChosenWithoutCellCountsUseTheRootsCounts() throws {
        var t = F.bootTree(modules: [F.module(["multiboot,module", "multiboot,kernel"], F.kernel, bootargs: "console=hvc0"),
                                     F.module(["multiboot,module", "multiboot,ramdisk"], F.ramdisk)],
                           properties: [.string("bootargs", "dom0_mem=256M")])
        t.root.withNode(atPath: "/chosen") { chosen in
            chosen.properties.removeAll { $0.name == Array("#address-cells".utf8) || $0.name == Array("#size-cells".utf8) }
        }
        t = try DeviceTree.parse(t.serialize())
        let s = try #require(try Dom0BootSpec.parse(t, physicalCPUs: 2))
        #expect(s.kernel == F.kernel && s.ramdisk == F.ramdisk)
        #expect(s.cmdline == F.text("console=hvc0"))
        #expect(s.memory.amount == 256 << 20)
    }

    @Test func modulesOfDom0lessDomainsAreNotDom0s() throws {
        let t = F.bootTree(modules: [F.domU(kernel: F.domUKernel)], properties: [])
        #expect(try Dom0BootSpec.parse(t, physicalCPUs: 2) == nil, "dom0less only: no dom0, as today")
        let all = try BootModules.scan(t)
        #expect(all == [BootModule(path: F.text("/chosen/domU1/module@4c000000"), range: F.domUKernel, kind: .kernel, domU: true)])
        #expect(throws: Dom0BootError.noKernel) { try Dom0BootSpec.parse(t, physicalCPUs: 2, required: true) }
    }

    @Test func noDom0Kernel() throws {
        // Neither dom0 kernel nor dom0less domain: Xen panics "No Dom0 kernel".
        var t = F.bootTree(modules: [], properties: [.string("xen,xen-bootargs", "dom0_mem=512M")])
        #expect(throws: Dom0BootError.noKernel) { try Dom0BootSpec.parse(t, physicalCPUs: 2) }
        // A dom0 ramdisk next to a dom0less domain asks for a dom0 too.
        t = F.bootTree(modules: [F.module(["multiboot,ramdisk", "multiboot,module"], F.ramdisk),
                                 F.domU(kernel: F.domUKernel)], properties: [])
        #expect(throws: Dom0BootError.noKernel) { try Dom0BootSpec.parse(t, physicalCPUs: 2) }
        t = F.bootTree(modules: [F.domU(kernel: F.domUKernel)], properties: [.string("xen,dom0-bootargs", "console=hvc0")])
        #expect(throws: Dom0BootError.noKernel) { try Dom0BootSpec.parse(t, physicalCPUs: 2) }
    }

    @Test func twoDom0Kernels() {
        let second = PhysicalRange(base: 0x5000_0000, size: 0x100_0000)
        let t = F.bootTree(modules: [F.module(["multiboot,kernel", "multiboot,module"], F.kernel),
                                     F.module(["multiboot,kernel", "multiboot,module"], second)], properties: [])
        #expect(throws: Dom0BootError.twoKernels(F.text("/chosen/module@48000000"), F.text("/chosen/module@50000000"))) {
            try Dom0BootSpec.parse(t, physicalCPUs: 2)
        }
    }

    @Test func overlappingModules() {
        // Dom0's ramdisk runs into the dom0less domain's kernel.
        let long = PhysicalRange(base: F.ramdisk.base, size: F.domUKernel.base - F.ramdisk.base + 0x1000)
        let t = F.bootTree(modules: [F.module(["multiboot,kernel", "multiboot,module"], F.kernel),
                                     F.module(["multiboot,ramdisk", "multiboot,module"], long),
                                     F.domU(kernel: F.domUKernel)], properties: [])
        #expect(throws: Dom0BootError.overlappingModules(F.text("/chosen/module@4a000000"),
                                                         F.text("/chosen/domU1/module@4c000000"))) {
            try Dom0BootSpec.parse(t, physicalCPUs: 2)
        }
    }

    @Test func moduleWithoutARange() {
        var bad = F.module(["multiboot,kernel", "multiboot,module"], F.kernel)
        bad.setProperty(.cells("reg", [0, 0x4800_0000, 0, 0]))
        let t = F.bootTree(modules: [bad], properties: [])
        #expect(throws: Dom0BootError.badModule(path: F.text("/chosen/module@48000000"))) {
            try Dom0BootSpec.parse(t, physicalCPUs: 2)
        }
    }

    @Test func errorLinesForTheHostTool() {
        #expect(Dom0BootError.noKernel.message
                == "dom0: no dom0 kernel (a multiboot,kernel module under /chosen outside any xen,domain node)")
        #expect(Dom0BootError.memoryTooLarge(requested: 2 << 30, available: 896 << 20).message
                == "dom0: dom0_mem is 2048 MiB but only 896 MiB of RAM are free")
        #expect(Dom0BootError.overlappingModules(F.text("/chosen/module@4a000000"), F.text("/chosen/domU1/module@4c000000")).message
                == "dom0: boot modules /chosen/module@4a000000 and /chosen/domU1/module@4c000000 overlap")
    }

    @Test func dom0MemSyntax() throws {
        func mem(_ v: String) throws(Dom0BootError) -> Dom0MemoryRequest {
            try XenCommandLine.parse(Array("dom0_mem=\(v)".utf8)).dom0Memory
        }
        #expect(try mem("512M").amount == 512 << 20)
        #expect(try mem("1g").amount == 1 << 30)
        #expect(try mem("262144").amount == 256 << 20, "no unit: KiB")
        #expect(try mem("0x40000K").amount == 256 << 20)
        #expect(try mem("0x1b").amount == 0x1B << 10, "b is a hex digit here, not the byte unit")
        #expect(try mem("1048576B").amount == 1 << 20)
        #expect(try mem("0").amount == nil, "0 is 'not given'")
        let r = try mem("min:256M,max:1G,2G")
        #expect(r == Dom0MemoryRequest(amount: 2 << 30, minimum: 256 << 20, maximum: 1 << 30))
        #expect(r.size(available: 4 << 30) == 1 << 30)
        #expect(try mem("max:768M").size(available: 512 << 20) == 512 << 20, "max alone: all free RAM up to max")
        #expect(try mem("min:768M,128M").size(available: 1 << 30) == 768 << 20)
        #expect(throws: Dom0BootError.badOption(F.text("dom0_mem=12Q"))) { try mem("12Q") }
        #expect(throws: Dom0BootError.badOption(F.text("dom0_mem=-64M"))) { try mem("-64M") }
        #expect(throws: Dom0BootError.badOption(F.text("dom0_mem=99999999999999T"))) { try mem("99999999999999T") }
        // The last dom0_mem wins, as every Xen option.
        #expect(try XenCommandLine.parse(F.text("dom0_mem=1G  dom0_mem=384M")).dom0Memory.amount == 384 << 20)
    }

    @Test func vcpusAndScheduler() throws {
        let c = try XenCommandLine.parse(F.text("sched=credit dom0_max_vcpus=0x3"))
        #expect(c.scheduler == .credit && c.dom0MaxVCPUs == 3)
        let u = try XenCommandLine.parse(F.text("sched=bfs"))
        #expect(u.scheduler == .credit2 && u.unknownScheduler == F.text("bfs"), "unknown: Xen keeps its default")
        #expect(throws: Dom0BootError.badOption(F.text("dom0_max_vcpus=2-4"))) {
            try XenCommandLine.parse(F.text("dom0_max_vcpus=2-4"))
        }
        let many = F.bootTree(modules: [F.module(["multiboot,kernel", "multiboot,module"], F.kernel)],
                              properties: [.string("xen,xen-bootargs", "dom0_max_vcpus=500")])
        #expect(try Dom0BootSpec.parse(many, physicalCPUs: 2)?.vcpus == 128, "cut to MAX_VIRT_CPUS")
    }
}


/// Boot DTBs for the dom0 tests: QEMU virt's real tree (DeviceTreeFixtures) with Xen's boot
/// bindings added under /chosen, as a boot loader (or `apus run --module`) would.
enum Dom0Fixtures {
    static let kernel = PhysicalRange(base: 0x4800_0000, size: 0x200_0000)
    static let ramdisk = PhysicalRange(base: 0x4A00_0000, size: 0x100_0000)
    static let domUKernel = PhysicalRange(base: 0x4C00_0000, size: 0x100_0000)
    static let uart = PhysicalRange(base: 0x0900_0000, size: 0x1000)
    static let hostRAM = [PhysicalRange(base: 0x4000_0000, size: 1 << 30)]

    static func text(_ s: String) -> [UInt8] { Array(s.utf8) }

    /// A module node in /chosen's 2+2 cells.
    static func module(_ kinds: [String], _ r: PhysicalRange, bootargs: String? = nil) -> DTNode {
        var n = DTNode(name: "module@" + String(r.base, radix: 16),
                       properties: [.strings("compatible", kinds),
                                    .cells("reg", [UInt32(r.base >> 32), UInt32(truncatingIfNeeded: r.base),
                                                   UInt32(r.size >> 32), UInt32(truncatingIfNeeded: r.size)])])
        if let b = bootargs { n.properties.append(.string("bootargs", b)) }
        return n
    }

    static func domU(kernel r: PhysicalRange) -> DTNode {
        DTNode(name: "domU1", properties: [
            .strings("compatible", ["xen,domain"]), .u32("#address-cells", 1), .u32("#size-cells", 1),
            .u32("memory", 0x2_0000), .u32("cpus", 1),
        ], children: [
            DTNode(name: "module@" + String(r.base, radix: 16), properties: [
                .strings("compatible", ["multiboot,kernel", "multiboot,module"]),
                .cells("reg", [UInt32(r.base), UInt32(r.size)]),
            ]),
        ])
    }

    static let defaultXenArgs = "console=dtuart dtuart=/pl011@9000000 dom0_mem=512M dom0_max_vcpus=2 sched=null"

    /// QEMU's tree with `modules` and `properties` added to /chosen (which gets 2+2 cells).
    static func bootTree(modules: [DTNode], properties: [DTProperty]) -> DeviceTree {
        var t = try! DeviceTree.parse(DeviceTreeFixtures.qemuVirtDTB)
        t.root.withNode(atPath: "/chosen") { chosen in
            chosen.setProperty(.u32("#address-cells", 2))
            chosen.setProperty(.u32("#size-cells", 2))
            for p in properties { chosen.setProperty(p) }
            chosen.children.append(contentsOf: modules)
        }
        // Through the bytes, as the hypervisor receives it.
        return try! DeviceTree.parse(t.serialize())
    }

    /// The usual boot DTB: dom0 kernel (with its own bootargs) and ramdisk, xen,dom0-bootargs,
    /// Xen's options, and one dom0less domain.
    static func standardBoot() -> DeviceTree {
        bootTree(modules: [
            module(["multiboot,kernel", "multiboot,module"], kernel, bootargs: "console=ttyAMA0 from-module"),
            module(["multiboot,ramdisk", "multiboot,module"], ramdisk),
            domU(kernel: domUKernel),
        ], properties: [
            .string("xen,xen-bootargs", defaultXenArgs),
            .string("xen,dom0-bootargs", "console=hvc0 root=/dev/vda"),
        ])
    }
}
