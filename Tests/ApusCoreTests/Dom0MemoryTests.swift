import Testing
@testable import ApusCore

/// Dom0's 1:1 banks on QEMU virt's RAM (1 GiB at 0x40000000 unless said otherwise), with the
/// hypervisor in the first 64 MiB and the boot modules of Dom0Fixtures reserved.
@Suite struct Dom0MemoryTests {
    let ram = [PhysicalRange(base: 0x4000_0000, size: 1 << 30)]
    let reserved = [PhysicalRange(base: 0x4000_0000, size: 64 << 20),
                    Dom0Fixtures.kernel, Dom0Fixtures.ramdisk, Dom0Fixtures.domUKernel]
    let mib: UInt64 = 1 << 20

    @Test func powerOfTwoBank0AsHighAsTheBandAllows() throws {
        // 512 MiB-aligned chunks: 0x40000000 holds the hypervisor, 0x60000000 is free.
        let banks = try Dom0Memory.allocate(ram: ram, reserved: reserved, size: 512 * mib)
        #expect(banks == [PhysicalRange(base: 0x6000_0000, size: 512 * mib)])
    }

    @Test func laterChunksMergeIntoBank0() throws {
        // 512 MiB at 0x60000000, then 256 MiB at 0x50000000 joins it from below.
        let banks = try Dom0Memory.allocate(ram: ram, reserved: reserved, size: 768 * mib)
        #expect(banks == [PhysicalRange(base: 0x5000_0000, size: 768 * mib)])
    }

    @Test func sizeRoundsUpTo2MiB() throws {
        let banks = try Dom0Memory.allocate(ram: ram, reserved: reserved, size: 510 * mib + 1)
        // 510 MiB + 1 -> 512 MiB: one power-of-two chunk.
        #expect(banks == [PhysicalRange(base: 0x6000_0000, size: 512 * mib)])
    }

    @Test func smallChunkBelowBank0IsRefusedAsXenDoes() {
        // 880 of the 896 free MiB: 512 + 256 MiB make 0x50000000..0x80000000; of the last
        // 112 MiB, a 64 MiB chunk fits only at 0x44000000, under bank 0 and smaller than
        // 128 MiB: insert_11_bank refuses it, and there is no RAM above 4 GiB to try.
        #expect(throws: Dom0BootError.memoryNotAllocatable(requested: 880 * mib, unallocated: 112 * mib)) {
            try Dom0Memory.allocate(ram: ram, reserved: reserved, size: 880 * mib)
        }
    }

    @Test func highMemoryAfterLowMemoryRunsOut() throws {
        let twoBanks = ram + [PhysicalRange(base: 0x1_0000_0000, size: 1 << 30)]
        let banks = try Dom0Memory.allocate(ram: twoBanks, reserved: reserved, size: 1536 * mib)
        // Bank 0 below 4 GiB (512 MiB, then 256 MiB merged below it); when no 128 MiB chunk is
        // left below 4 GiB, the rest comes from the top of high memory (512 + 256 MiB, merged).
        #expect(banks == [PhysicalRange(base: 0x5000_0000, size: 768 * mib),
                          PhysicalRange(base: 0x1_1000_0000, size: 768 * mib)])
        for b in banks {
            for r in reserved { #expect(!b.overlaps(r)) }
        }
    }

    @Test func dom0MemLargerThanFreeRAM() {
        // 1 GiB of RAM minus 64 MiB of hypervisor and 64 MiB of modules: 896 MiB free.
        #expect(throws: Dom0BootError.memoryTooLarge(requested: 1024 * mib, available: 896 * mib)) {
            try Dom0Memory.allocate(ram: ram, reserved: reserved, size: 1024 * mib)
        }
    }

    @Test func extendedRegionsAreHostRAMDom0DoesNotHave() {
        let banks = [PhysicalRange(base: 0x6000_0000, size: 512 * mib)]
        let grant = PhysicalRange(base: 0x4008_0000, size: 0x4_0000)
        let regions = Dom0Memory.extendedRegions(ram: ram, dom0Banks: banks, reservedMemory: [], grantTable: grant)
        // 0x400C0000..0x60000000, shrunk to 2 MiB boundaries.
        #expect(regions == [PhysicalRange(base: 0x4020_0000, size: 0x6000_0000 - 0x4020_0000)])
        let small = Dom0Memory.extendedRegions(ram: ram, dom0Banks: [PhysicalRange(base: 0x4400_0000, size: 960 * mib)],
                                               reservedMemory: [], grantTable: grant)
        #expect(small.isEmpty, "regions under 64 MiB are not offered")
    }
}
