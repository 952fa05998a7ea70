import Testing
@testable import ApusCore

private func text(_ s: String) -> [UInt8] { Array(s.utf8) }

private func module(_ name: String, _ compatible: [String], reg: [UInt32], bootargs: String? = nil) -> DTNode {
    var n = DTNode(name: name, properties: [.strings("compatible", compatible), .cells("reg", reg)])
    if let b = bootargs { n.properties.append(.string("bootargs", b)) }
    return n
}

/// A dom0less domain node as in Xen's docs/misc/arm/device-tree/booting.txt.
private func domainNode(_ name: String, cells: (UInt32, UInt32) = (1, 1), properties: [DTProperty],
                        modules: [DTNode]) -> DTNode {
    DTNode(name: name,
           properties: [.strings("compatible", ["xen,domain"]),
                        .u32("#address-cells", cells.0), .u32("#size-cells", cells.1)] + properties,
           children: modules)
}

private func tree(chosen: [DTNode], chosenProperties: [DTProperty] = []) -> DeviceTree {
    DeviceTree(root: DTNode(name: [], properties: [.u32("#address-cells", 2), .u32("#size-cells", 2)], children: [
        DTNode(name: "chosen", properties: [.u32("#address-cells", 1), .u32("#size-cells", 1)] + chosenProperties,
               children: chosen),
    ]))
}

private let kernel1 = module("module@4a000000", ["multiboot,kernel", "multiboot,module"],
                             reg: [0x4A00_0000, 0xFF_FFFF], bootargs: "console=ttyAMA0")
private let ramdisk1 = module("module@4b000000", ["multiboot,ramdisk", "multiboot,module"],
                              reg: [0x4B00_0000, 0x40_0000])

@Suite struct BootDomainTests {
    @Test func fullDomain() throws {
        let dt = tree(chosen: [domainNode("domU1", properties: [
            .cells("memory", [0, 0x2_0000]),        // 128 MiB in KiB, as a 64-bit value
            .u32("cpus", 2), .empty("vpl011"),
        ], modules: [kernel1, ramdisk1])])
        let all = BootDomain.parseAll(dt)
        #expect(all.count == 1)
        let d = try all[0].get()
        #expect(d.name == text("domU1"))
        #expect(d.memoryKiB == 0x2_0000)
        #expect(d.vcpus == 2)
        #expect(d.kernel == PhysicalRange(base: 0x4A00_0000, size: 0xFF_FFFF))
        #expect(d.ramdisk == PhysicalRange(base: 0x4B00_0000, size: 0x40_0000))
        #expect(d.bootargs == text("console=ttyAMA0"))
        #expect(d.vpl011)
        #expect(d.xenEnhanced == .disabled, "no xen,enhanced: a plain Arm guest")
        #expect(!d.enhanced)
    }

    @Test func oneCellMemoryDefaultCPUsAndEnhanced() throws {
        let dt = tree(chosen: [domainNode("domU2", properties: [
            .u32("memory", 0x4_0000), .empty("xen,enhanced"),
        ], modules: [module("module@50000000", ["multiboot,kernel", "multiboot,module"], reg: [0x5000_0000, 0x100_0000])])])
        let d = try #require(try BootDomain.parseAll(dt).first?.get())
        #expect(d.memoryKiB == 0x4_0000)
        #expect(d.vcpus == 1, "cpus defaults to 1")
        #expect(d.xenEnhanced == .enabled, "a bare xen,enhanced means enabled")
        #expect(d.enhanced)
        #expect(!d.vpl011)
        #expect(d.ramdisk == nil)
        #expect(d.bootargs.isEmpty)
    }

    /// Xen's dom0less binding: xen,enhanced absent, empty, "enabled" or "no-xenstore".
    @Test func xenEnhancedValues() throws {
        func enhanced(_ p: DTProperty?) -> Result<BootDomain, BootDomainError> {
            var props: [DTProperty] = [.u32("memory", 0x1_0000)]
            if let p { props.append(p) }
            return BootDomain.parseAll(tree(chosen: [domainNode("d", properties: props, modules: [kernel1])]))[0]
        }
        #expect(try enhanced(nil).get().xenEnhanced == .disabled)
        #expect(try enhanced(.empty("xen,enhanced")).get().xenEnhanced == .enabled)
        #expect(try enhanced(.string("xen,enhanced", "enabled")).get().xenEnhanced == .enabled)
        #expect(try enhanced(.string("xen,enhanced", "no-xenstore")).get().xenEnhanced == .noXenstore)
        #expect(try enhanced(.string("xen,enhanced", "no-xenstore")).get().enhanced)
        // A value without its final NUL is read like the string it spells.
        #expect(try enhanced(.bytes("xen,enhanced", text("no-xenstore"))).get().xenEnhanced == .noXenstore)
    }

    @Test func badXenEnhanced() throws {
        let bad: [DTProperty] = [
            .string("xen,enhanced", "disabled"), .string("xen,enhanced", "Enabled"),
            .string("xen,enhanced", "no_xenstore"), .string("xen,enhanced", ""),
            .strings("xen,enhanced", ["enabled", "no-xenstore"]), .u32("xen,enhanced", 1),
            .bytes("xen,enhanced", text("enabled\0\0")),
        ]
        for p in bad {
            let dt = tree(chosen: [domainNode("a", properties: [.u32("memory", 0x1_0000), p], modules: [kernel1])])
            #expect(BootDomain.parseAll(dt) == [.failure(.badXenEnhanced(name: text("a")))], "\(p.value)")
        }
        // Only that domain is refused.
        let two = tree(chosen: [
            domainNode("ok", properties: [.u32("memory", 0x1_0000), .string("xen,enhanced", "enabled")], modules: [kernel1]),
            domainNode("typo", properties: [.u32("memory", 0x1_0000), .string("xen,enhanced", "enable")],
                       modules: [kernel1]),
        ])
        let all = BootDomain.parseAll(two)
        #expect(try all[0].get().xenEnhanced == .enabled)
        #expect(all[1] == .failure(.badXenEnhanced(name: text("typo"))))
    }

    @Test func xenEnhancedPropertyValues() {
        #expect(XenEnhanced.disabled.propertyValue == nil)
        #expect(XenEnhanced.enabled.propertyValue?.description == "enabled")
        #expect(XenEnhanced.noXenstore.propertyValue?.description == "no-xenstore")
        for e in [XenEnhanced.enabled, .noXenstore] {
            let v = Array(e.propertyValue!.description.utf8) + [0]
            #expect(XenEnhanced(propertyValue: v) == e, "round-trips")
        }
    }

    @Test func twoCellModuleAddresses() throws {
        let k = module("module@1_40000000", ["multiboot,kernel", "multiboot,module"],
                       reg: [0x1, 0x4000_0000, 0x0, 0x0200_0000])
        let r = module("module@1_48000000", ["multiboot,ramdisk", "multiboot,module"],
                       reg: [0x1, 0x4800_0000, 0x1, 0x0000_0000])
        let dt = tree(chosen: [domainNode("big", cells: (2, 2), properties: [.cells("memory", [0x1, 0x0])],
                                          modules: [k, r])])
        let d = try BootDomain.parseAll(dt)[0].get()
        #expect(d.memoryKiB == 0x1_0000_0000)
        #expect(d.kernel == PhysicalRange(base: 0x1_4000_0000, size: 0x200_0000))
        #expect(d.ramdisk == PhysicalRange(base: 0x1_4800_0000, size: 0x1_0000_0000))
    }

    @Test func bootargsOnTheKernelModuleOverrideTheDomainNode() throws {
        let withBoth = tree(chosen: [domainNode("d", properties: [
            .u32("memory", 0x1_0000), .string("bootargs", "from-domain"),
        ], modules: [kernel1])])
        #expect(try BootDomain.parseAll(withBoth)[0].get().bootargs == text("console=ttyAMA0"))

        let domainOnly = tree(chosen: [domainNode("d", properties: [
            .u32("memory", 0x1_0000), .string("bootargs", "from-domain"),
        ], modules: [module("module@4a000000", ["multiboot,kernel", "multiboot,module"], reg: [0x4A00_0000, 0x1000])])])
        #expect(try BootDomain.parseAll(domainOnly)[0].get().bootargs == text("from-domain"))

        // bootargs on the ramdisk are not the kernel's.
        let onRamdisk = tree(chosen: [domainNode("d", properties: [.u32("memory", 0x1_0000)], modules: [
            module("module@4a000000", ["multiboot,kernel"], reg: [0x4A00_0000, 0x1000]),
            module("module@4b000000", ["multiboot,ramdisk"], reg: [0x4B00_0000, 0x1000], bootargs: "nope"),
        ])])
        #expect(try BootDomain.parseAll(onRamdisk)[0].get().bootargs.isEmpty)
    }

    @Test func apusNameOverridesTheNodeName() throws {
        let dt = tree(chosen: [domainNode("domU1", properties: [
            .u32("memory", 0x1_0000), .string("apus,name", "web"),
        ], modules: [kernel1])])
        #expect(try BootDomain.parseAll(dt)[0].get().name == text("web"))
    }

    @Test func missingOrZeroMemory() {
        let none = tree(chosen: [domainNode("a", properties: [], modules: [kernel1])])
        #expect(BootDomain.parseAll(none) == [.failure(.missingMemory(name: text("a")))])
        let zero = tree(chosen: [domainNode("b", properties: [.cells("memory", [0, 0])], modules: [kernel1])])
        #expect(BootDomain.parseAll(zero) == [.failure(.missingMemory(name: text("b")))])
        let empty = tree(chosen: [domainNode("c", properties: [.empty("memory")], modules: [kernel1])])
        #expect(BootDomain.parseAll(empty) == [.failure(.missingMemory(name: text("c")))])
    }

    @Test func missingKernel() {
        let onlyRamdisk = tree(chosen: [domainNode("a", properties: [.u32("memory", 0x1_0000)], modules: [ramdisk1])])
        #expect(BootDomain.parseAll(onlyRamdisk) == [.failure(.missingKernel(name: text("a")))])
        let nothing = tree(chosen: [domainNode("b", properties: [.u32("memory", 0x1_0000)], modules: [])])
        #expect(BootDomain.parseAll(nothing) == [.failure(.missingKernel(name: text("b")))])
        // The error carries apus,name when there is one.
        let named = tree(chosen: [domainNode("c", properties: [.u32("memory", 0x1_0000), .string("apus,name", "db")],
                                             modules: [])])
        #expect(BootDomain.parseAll(named) == [.failure(.missingKernel(name: text("db")))])
    }

    @Test func badCPUs() throws {
        for n: UInt32 in [0, 129, 0xFFFF_FFFF] {
            let dt = tree(chosen: [domainNode("a", properties: [.u32("memory", 0x1_0000), .u32("cpus", n)],
                                              modules: [kernel1])])
            #expect(BootDomain.parseAll(dt) == [.failure(.badCPUs(name: text("a")))], "cpus = \(n)")
        }
        let max = tree(chosen: [domainNode("a", properties: [.u32("memory", 0x1_0000), .u32("cpus", 128)],
                                          modules: [kernel1])])
        #expect(try BootDomain.parseAll(max)[0].get().vcpus == 128)
    }

    @Test func badModules() {
        let zeroSize = tree(chosen: [domainNode("a", properties: [.u32("memory", 0x1_0000)], modules: [
            module("module@4a000000", ["multiboot,kernel"], reg: [0x4A00_0000, 0]),
        ])])
        #expect(BootDomain.parseAll(zeroSize) == [.failure(.badModule(name: text("a")))])
        let malformed = tree(chosen: [domainNode("b", properties: [.u32("memory", 0x1_0000)], modules: [
            module("module@4a000000", ["multiboot,kernel"], reg: [0x4A00_0000, 0x1000, 0x5]),
        ])])
        #expect(BootDomain.parseAll(malformed) == [.failure(.badModule(name: text("b")))])
        let wraps = tree(chosen: [domainNode("c", cells: (2, 2), properties: [.u32("memory", 0x1_0000)], modules: [
            module("module@0", ["multiboot,kernel"], reg: [0xFFFF_FFFF, 0xFFFF_F000, 0, 0x2000]),
        ])])
        #expect(BootDomain.parseAll(wraps) == [.failure(.badModule(name: text("c")))])
        let badRamdisk = tree(chosen: [domainNode("d", properties: [.u32("memory", 0x1_0000)], modules: [
            kernel1, module("module@4b000000", ["multiboot,ramdisk"], reg: [0x4B00_0000, 0]),
        ])])
        #expect(BootDomain.parseAll(badRamdisk) == [.failure(.badModule(name: text("d")))])
    }

    @Test func otherChosenChildrenAreIgnored() throws {
        // Dom0's own modules sit directly in /chosen; other sub-nodes are not domains.
        let dt = tree(chosen: [
            module("module@60000000", ["multiboot,kernel", "multiboot,module"], reg: [0x6000_0000, 0x1000]),
            DTNode(name: "framebuffer@0", properties: [.strings("compatible", ["simple-framebuffer"])]),
            domainNode("domU1", properties: [.u32("memory", 0x1_0000)],
                       modules: [kernel1, DTNode(name: "passthrough", properties: [.string("compatible", "x")])]),
        ], chosenProperties: [.string("bootargs", "console=dtuart"), .string("xen,xen-bootargs", "dom0less")])
        let all = BootDomain.parseAll(dt)
        #expect(all.count == 1)
        #expect(try all[0].get().name == text("domU1"))
    }

    @Test func severalDomainsInOrderWithFailuresInPlace() throws {
        let dt = tree(chosen: [
            domainNode("first", properties: [.u32("memory", 0x1_0000)], modules: [kernel1]),
            domainNode("broken", properties: [.u32("memory", 0x1_0000)], modules: []),
            domainNode("third", properties: [.u32("memory", 0x2_0000), .u32("cpus", 4)], modules: [kernel1, ramdisk1]),
        ])
        let all = BootDomain.parseAll(dt)
        #expect(all.count == 3)
        #expect(try all[0].get().name == text("first"))
        #expect(all[1] == .failure(.missingKernel(name: text("broken"))))
        #expect(try all[2].get().vcpus == 4)
    }

    @Test func noChosenNoDomains() throws {
        #expect(BootDomain.parseAll(DeviceTree()).isEmpty)
        #expect(BootDomain.parseAll(tree(chosen: [])).isEmpty)
        let qemu = try DeviceTree.parse(DeviceTreeFixtures.qemuVirtDTB)
        #expect(BootDomain.parseAll(qemu).isEmpty)
    }
}
