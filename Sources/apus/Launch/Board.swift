/// The board `apus run` emulates: QEMU's virt machine with EL2, GICv3 and Cortex-A57 CPUs.
/// Everything else about it (devices, addresses) is read from the DTB QEMU generates.
struct Board {
    var cpus: Int
    var memoryMiB: Int

    /// Where the virt board's RAM starts.
    static let ramBase: UInt64 = 0x4000_0000
    /// What the hypervisor keeps at the bottom of RAM (its image, bss and 48 MiB heap), plus 2 MiB
    /// for the boot DTB, which QEMU puts on a 2 MiB boundary above the image (at RAM + 128 MiB on
    /// boards of 256 MiB or more) and which stays reserved.
    static let hypervisorMiB = 64 + 2
    /// Boot modules are placed on 2 MiB boundaries, the granule the hypervisor maps and allocates in.
    static let moduleAlignment: UInt64 = 2 << 20
    /// The hypervisor brings up at most this many physical CPUs (APUS_MAX_CPUS).
    static let maxCPUs = 8

    var ramEnd: UInt64 { Board.ramBase + UInt64(memoryMiB) << 20 }

    /// `-M ... -cpu ... -smp ... -m ...`: the same for the DTB dump and the real run, so the DTB
    /// describes the machine that boots.
    var machineArguments: [String] {
        ["-cpu", "cortex-a57", "-smp", String(cpus), "-m", "\(memoryMiB)M"]
    }
    static let machine = "virt,virtualization=on,gic-version=3"
}
