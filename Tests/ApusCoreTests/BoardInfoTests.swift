import Testing
@testable import ApusCore

/// A small board tree with 2/2 root cells; each piece can be left out.
private func boardTree(memory: [DTNode]? = nil, cpus: DTNode? = nil, gic: DTNode? = nil,
                       extra: [DTNode] = []) -> DeviceTree {
    var root = DTNode(name: [], properties: [.u32("#address-cells", 2), .u32("#size-cells", 2)])
    root.children += memory ?? [DTNode(name: "memory@40000000", properties: [
        .string("device_type", "memory"), .cells("reg", [0, 0x4000_0000, 0, 0x4000_0000]),
    ])]
    if let c = cpus { root.children.append(c) }
    if let g = gic { root.children.append(g) }
    root.children += extra
    return DeviceTree(root: root)
}

private func cpusNode(_ mpidrs: [UInt32]) -> DTNode {
    var n = DTNode(name: "cpus", properties: [.u32("#address-cells", 1), .u32("#size-cells", 0)])
    for m in mpidrs {
        n.children.append(DTNode(name: "cpu@\(String(m, radix: 16))", properties: [
            .string("device_type", "cpu"), .strings("compatible", ["arm,cortex-a53"]), .u32("reg", m),
        ]))
    }
    return n
}

private func gicNode(compatible: String = "arm,gic-v3", regs: [UInt32] = [0, 0x0800_0000, 0, 0x1_0000,
                                                                          0, 0x080A_0000, 0, 0xF6_0000]) -> DTNode {
    DTNode(name: "intc@8000000", properties: [
        .strings("compatible", [compatible]), .cells("reg", regs), .empty("interrupt-controller"),
    ])
}

private func psciNode(_ compatible: [String], method: String) -> DTNode {
    DTNode(name: "psci", properties: [.strings("compatible", compatible), .string("method", method)])
}

@Suite struct BoardInfoTests {
    @Test func qemuVirt() throws {
        let dt = try DeviceTree.parse(DeviceTreeFixtures.qemuVirtDTB)
        let b = try BoardInfo.discover(dt)
        #expect(b.memory == [PhysicalRange(base: 0x4000_0000, size: 1 << 30)])
        #expect(b.cpus == [0, 1])
        #expect(b.gicDistributor == PhysicalRange(base: 0x0800_0000, size: 0x1_0000))
        #expect(b.gicRedistributors == PhysicalRange(base: 0x080A_0000, size: 0xF6_0000))
        #expect(b.uart == PhysicalRange(base: 0x0900_0000, size: 0x1000))
        #expect(b.uartIntid == 33, "interrupts = <GIC_SPI 1 IRQ_TYPE_LEVEL_HIGH>")
        #expect(b.hasPSCI)
        #expect(!b.psciUsesHVC, "QEMU with virtualization=on: firmware at EL3, SMC conduit")
        #expect(b.rtc == PhysicalRange(base: 0x0901_0000, size: 0x1000), "QEMU's PL031 (pl031@9010000)")
    }

    @Test func minimalBoard() throws {
        let b = try BoardInfo.discover(boardTree(cpus: cpusNode([0]), gic: gicNode()))
        #expect(b.memory == [PhysicalRange(base: 0x4000_0000, size: 0x4000_0000)])
        #expect(b.cpus == [0])
        #expect(b.uart == nil)
        #expect(b.uartIntid == nil)
        #expect(b.rtc == nil)
        #expect(!b.hasPSCI)
        #expect(!b.psciUsesHVC)
    }

    @Test func rngSeedFromChosen() throws {
        let seed: [UInt8] = (0..<32).map { UInt8($0) }
        let chosen = DTNode(name: "chosen", properties: [.bytes("rng-seed", seed)])
        #expect(try BoardInfo.discover(boardTree(cpus: cpusNode([0]), gic: gicNode(), extra: [chosen])).rngSeed == seed)
        #expect(try BoardInfo.discover(boardTree(cpus: cpusNode([0]), gic: gicNode())).rngSeed.isEmpty)
    }

    @Test func severalMemoryBanks() throws {
        let mem = [
            DTNode(name: "memory@40000000", properties: [
                .string("device_type", "memory"),
                .cells("reg", [0, 0x4000_0000, 0, 0x8000_0000, 0x8, 0x8000_0000, 0, 0x8000_0000]),
            ]),
            DTNode(name: "memory@100000000", properties: [
                .string("device_type", "memory"), .cells("reg", [0x1, 0, 0, 0x1000_0000, 0x2, 0, 0, 0]),
            ]),
            DTNode(name: "sram@0", properties: [.cells("reg", [0, 0, 0, 0x1000])]),   // not memory
        ]
        let b = try BoardInfo.discover(boardTree(memory: mem, cpus: cpusNode([0]), gic: gicNode()))
        #expect(b.memory == [
            PhysicalRange(base: 0x4000_0000, size: 0x8000_0000),
            PhysicalRange(base: 0x8_8000_0000, size: 0x8000_0000),
            PhysicalRange(base: 0x1_0000_0000, size: 0x1000_0000),
        ], "empty banks are skipped")
    }

    @Test func cpusInDTBOrderIncludingClusters() throws {
        var cpus = cpusNode([0x0, 0x1, 0x100, 0x101])
        cpus.children.append(DTNode(name: "cpu-map", children: [DTNode(name: "cluster0")]))
        cpus.children.append(DTNode(name: "l2-cache0", properties: [.string("compatible", "cache")]))
        let b = try BoardInfo.discover(boardTree(cpus: cpus, gic: gicNode()))
        #expect(b.cpus == [0x0, 0x1, 0x100, 0x101])
    }

    @Test func cpusWithTwoAddressCells() throws {
        var cpus = DTNode(name: "cpus", properties: [.u32("#address-cells", 2), .u32("#size-cells", 0)])
        cpus.children.append(DTNode(name: "cpu@1_0000_0000", properties: [
            .string("device_type", "cpu"), .cells("reg", [0x1, 0x0000_0100]),
        ]))
        let b = try BoardInfo.discover(boardTree(cpus: cpus, gic: gicNode()))
        #expect(b.cpus == [0x1_0000_0100])
    }

    @Test func missingMemory() {
        #expect(throws: BoardError.noMemory) {
            try BoardInfo.discover(boardTree(memory: [], cpus: cpusNode([0]), gic: gicNode()))
        }
        let empty = DTNode(name: "memory@0", properties: [.string("device_type", "memory"), .cells("reg", [0, 0, 0, 0])])
        #expect(throws: BoardError.noMemory) {
            try BoardInfo.discover(boardTree(memory: [empty], cpus: cpusNode([0]), gic: gicNode()))
        }
        #expect(throws: BoardError.noMemory) { try BoardInfo.discover(DeviceTree()) }
    }

    @Test func missingCPUs() {
        #expect(throws: BoardError.noCPUs) { try BoardInfo.discover(boardTree(gic: gicNode())) }
        #expect(throws: BoardError.noCPUs) {
            try BoardInfo.discover(boardTree(cpus: cpusNode([]), gic: gicNode()))
        }
    }

    @Test func missingGICv3() {
        #expect(throws: BoardError.noGICv3) { try BoardInfo.discover(boardTree(cpus: cpusNode([0]))) }
        #expect(throws: BoardError.noGICv3, "a GICv2") {
            try BoardInfo.discover(boardTree(cpus: cpusNode([0]), gic: gicNode(compatible: "arm,cortex-a15-gic",
                                                                            regs: [0, 0x0800_0000, 0, 0x1_0000, 0, 0x0801_0000, 0, 0x1_0000])))
        }
        #expect(throws: BoardError.noGICv3, "no redistributor region") {
            try BoardInfo.discover(boardTree(cpus: cpusNode([0]), gic: gicNode(regs: [0, 0x0800_0000, 0, 0x1_0000])))
        }
    }

    @Test func psciConduit() throws {
        let hvc = try BoardInfo.discover(boardTree(cpus: cpusNode([0]), gic: gicNode(),
                                                   extra: [psciNode(["arm,psci-1.0", "arm,psci-0.2"], method: "hvc")]))
        #expect(hvc.hasPSCI && hvc.psciUsesHVC)
        let smc02 = try BoardInfo.discover(boardTree(cpus: cpusNode([0]), gic: gicNode(),
                                                     extra: [psciNode(["arm,psci-0.2", "arm,psci"], method: "smc")]))
        #expect(smc02.hasPSCI && !smc02.psciUsesHVC)
        let v01 = try BoardInfo.discover(boardTree(cpus: cpusNode([0]), gic: gicNode(),
                                                   extra: [psciNode(["arm,psci"], method: "hvc")]))
        #expect(!v01.hasPSCI, "PSCI 0.1 has no standard function ids")
    }

    @Test func uartFoundWithoutStdoutPath() throws {
        let uart = DTNode(name: "pl011@9000000", properties: [
            .strings("compatible", ["arm,pl011", "arm,primecell"]),
            .cells("reg", [0, 0x0900_0000, 0, 0x1000]),
            .cells("interrupts", [1, 5, 4]),
        ])
        let b = try BoardInfo.discover(boardTree(cpus: cpusNode([0]), gic: gicNode(), extra: [uart]))
        #expect(b.uart == PhysicalRange(base: 0x0900_0000, size: 0x1000))
        #expect(b.uartIntid == 21, "a PPI: 16 + 5")
    }

    @Test func stdoutPathChoosesTheConsole() throws {
        let a = DTNode(name: "pl011@9000000", properties: [
            .strings("compatible", ["arm,pl011"]), .cells("reg", [0, 0x0900_0000, 0, 0x1000]),
            .cells("interrupts", [0, 1, 4]),
        ])
        let b = DTNode(name: "pl011@9040000", properties: [
            .strings("compatible", ["arm,pl011"]), .cells("reg", [0, 0x0904_0000, 0, 0x1000]),
            .cells("interrupts", [0, 8, 4]),
        ])
        let chosen = DTNode(name: "chosen", properties: [.string("stdout-path", "/pl011@9040000:115200n8")])
        let info = try BoardInfo.discover(boardTree(cpus: cpusNode([0]), gic: gicNode(), extra: [chosen, a, b]))
        #expect(info.uart == PhysicalRange(base: 0x0904_0000, size: 0x1000))
        #expect(info.uartIntid == 40)
    }

    @Test func uartWithoutInterrupts() throws {
        let uart = DTNode(name: "pl011@9000000", properties: [
            .strings("compatible", ["arm,pl011"]), .cells("reg", [0, 0x0900_0000, 0, 0x1000]),
        ])
        let b = try BoardInfo.discover(boardTree(cpus: cpusNode([0]), gic: gicNode(), extra: [uart]))
        #expect(b.uart != nil)
        #expect(b.uartIntid == nil)
    }

    @Test func pl031RTC() throws {
        func rtc(_ name: String, _ base: UInt32, status: String? = nil, compatible: [String] = ["arm,pl031", "arm,primecell"]) -> DTNode {
            var n = DTNode(name: name, properties: [
                .strings("compatible", compatible), .cells("reg", [0, base, 0, 0x1000]), .cells("interrupts", [0, 2, 4]),
            ])
            if let status { n.properties.append(.string("status", status)) }
            return n
        }
        let one = try BoardInfo.discover(boardTree(cpus: cpusNode([0]), gic: gicNode(), extra: [rtc("rtc@1c170000", 0x1C17_0000)]))
        #expect(one.rtc == PhysicalRange(base: 0x1C17_0000, size: 0x1000))

        let skipDisabled = try BoardInfo.discover(boardTree(cpus: cpusNode([0]), gic: gicNode(), extra: [
            rtc("rtc@9010000", 0x0901_0000, status: "disabled"), rtc("rtc@9020000", 0x0902_0000, status: "okay"),
        ]))
        #expect(skipDisabled.rtc == PhysicalRange(base: 0x0902_0000, size: 0x1000), "the first one not disabled")

        let onlyDisabled = try BoardInfo.discover(boardTree(cpus: cpusNode([0]), gic: gicNode(), extra: [
            rtc("rtc@9010000", 0x0901_0000, status: "disabled"),
        ]))
        #expect(onlyDisabled.rtc == nil)

        let otherRTC = try BoardInfo.discover(boardTree(cpus: cpusNode([0]), gic: gicNode(), extra: [
            rtc("rtc@9010000", 0x0901_0000, compatible: ["google,goldfish-rtc"]),
        ]))
        #expect(otherRTC.rtc == nil, "only a PL031")

        let noReg = DTNode(name: "rtc", properties: [.strings("compatible", ["arm,pl031"])])
        #expect(try BoardInfo.discover(boardTree(cpus: cpusNode([0]), gic: gicNode(), extra: [noReg])).rtc == nil)
    }
}
