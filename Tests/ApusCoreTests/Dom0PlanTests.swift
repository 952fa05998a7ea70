import Testing
@testable import ApusCore

private typealias F = Dom0Fixtures

/// The one call the hypervisor makes: QEMU virt with 1 GiB, the hypervisor in its first 64 MiB.
@Suite struct Dom0PlanTests {
    static let hypervisor = PhysicalRange(base: 0x4000_0000, size: 64 << 20)
    static let grant = PhysicalRange(base: 0x4008_0000, size: 0x4_0000)

    /// An arm64 Image header: text_offset 0, image_size 34 MiB, the "ARM\x64" magic.
    static var imageHeader: [UInt8] {
        var h = [UInt8](repeating: 0, count: 64)
        let size: UInt64 = 34 << 20
        for i in 0..<8 { h[16 + i] = UInt8(truncatingIfNeeded: size >> UInt64(8 * i)) }
        h[56] = 0x41; h[57] = 0x52; h[58] = 0x4D; h[59] = 0x64
        return h
    }

    static func plan(_ dt: DeviceTree) throws(Dom0PlanError) -> Dom0Plan? {
        let board = try! BoardInfo.discover(dt)
        return try Dom0Plan.make(boot: dt, board: board, reserved: [hypervisor], grantTable: grant, kernelHeader: imageHeader)
    }

    @Test func standardBoot() throws {
        let p = try #require(try Self.plan(F.standardBoot()))
        #expect(p.banks == [PhysicalRange(base: 0x6000_0000, size: 512 << 20)])
        #expect(p.placement.kernel == 0x6000_0000)
        #expect(p.placement.initrd == 0x8000_0000 - F.ramdisk.size, "top of bank 0")
        #expect(p.placement.dtb + UInt64(p.dtb.count) <= p.placement.initrd)
        let t = try DeviceTree.parse(p.dtb)
        #expect(t == p.hardware.tree)
        #expect(t.node(atPath: "/chosen")?.property("linux,initrd-start")?.u64() == p.placement.initrd)
        #expect(t.node(atPath: "/chosen")?.property("linux,initrd-end")?.u64() == 0x8000_0000)
        // Grant window, then the extended region: RAM that is not dom0's, from 2 MiB up.
        #expect(t.node(atPath: "/hypervisor")?.property("reg")?.cells
                == [0, 0x4008_0000, 0, 0x4_0000, 0, 0x4020_0000, 0, 0x1FE0_0000])
        #expect(t.node(atPath: "/cpus")?.children.count == 2)
        #expect(!p.hardware.mmio.contains { $0.overlaps(F.uart) })
    }

    @Test func dom0lessOnlyAndErrors() throws {
        #expect(try Self.plan(F.bootTree(modules: [F.domU(kernel: F.domUKernel)], properties: [])) == nil)
        let big = F.bootTree(modules: [F.module(["multiboot,kernel", "multiboot,module"], F.kernel)],
                             properties: [.string("xen,xen-bootargs", "dom0_mem=1G")])
        // 1 GiB minus the hypervisor's 64 MiB and the 32 MiB kernel.
        #expect(throws: Dom0PlanError.boot(.memoryTooLarge(requested: 1 << 30, available: 928 << 20))) {
            try Self.plan(big)
        }
    }
}
