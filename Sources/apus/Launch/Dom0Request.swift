/// The control domain `apus run --dom0-kernel ...` asks for, in the terms of Xen's boot DTB:
/// module nodes for the kernel and ramdisk, `xen,dom0-bootargs`, and `dom0_mem=` /
/// `dom0_max_vcpus=` on Xen's own command line (docs/misc/arm/device-tree/booting.txt,
/// docs/misc/xen-command-line.pandoc).
struct Dom0Request {
    var kernel: String
    var ramdisk: String?
    var cmdline: String
    var memoryMiB: Int
    var vcpus: Int

    /// Xen/Arm's dom0 size when `dom0_mem` is not given (it warns "PLEASE SPECIFY dom0_mem").
    static let defaultMemoryMiB = 512
    /// Dom0's console is hvc0 (`console_io`), as on Xen.
    static let defaultCmdline = "console=hvc0"
    /// Xen's MAX_VIRT_CPUS on arm64.
    static let maxVCPUs = 128

    /// What the hypervisor will give dom0: `dom0_mem` rounded up to the 2 MiB blocks it maps RAM in.
    var allocatedMiB: Int { (memoryMiB + 1) & ~1 }

    /// Dom0's part of `xen,xen-bootargs`.
    var xenBootargs: String { "dom0_mem=\(memoryMiB)M dom0_max_vcpus=\(vcpus)" }
}

/// Dom0 placed on the board: its request and where its modules go.
struct PlannedDom0 {
    var request: Dom0Request
    var kernel: BootModule
    var ramdisk: BootModule?
    var modules: [BootModule] { [kernel] + (ramdisk.map { [$0] } ?? []) }
}
