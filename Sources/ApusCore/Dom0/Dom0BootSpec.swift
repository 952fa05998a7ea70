/// The control domain (dom0) the boot DTB asks for, read with Xen 4.17's bindings
/// (docs/misc/arm/device-tree/booting.txt, xen/arch/arm/bootfdt.c, domain_build.c):
/// a `multiboot,kernel` (or `xen,linux-zimage`) module node under /chosen whose parent is
/// not a `xen,domain` node, an optional ramdisk module, its command line, and the
/// `dom0_mem=`, `dom0_max_vcpus=` and `sched=` options of `xen,xen-bootargs`.
public struct Dom0BootSpec: Equatable, Sendable {
    /// Where the boot loader put the kernel image (machine addresses).
    public var kernel: PhysicalRange
    public var ramdisk: PhysicalRange?
    /// Dom0's command line: `xen,dom0-bootargs`, else the kernel module's `bootargs`,
    /// else `/chosen/bootargs`.
    public var cmdline: [UInt8]
    public var memory: Dom0MemoryRequest
    public var vcpus: Int
    /// Xen's scheduler for the whole board (`sched=`).
    public var scheduler: XenScheduler
    /// Xen's own command line as Xen picks it (`xen,xen-bootargs`, else `/chosen/bootargs`
    /// when dom0's command line came from elsewhere).
    public var xenCommandLine: [UInt8]

    public init(kernel: PhysicalRange, ramdisk: PhysicalRange?, cmdline: [UInt8], memory: Dom0MemoryRequest,
                vcpus: Int, scheduler: XenScheduler, xenCommandLine: [UInt8]) {
        self.kernel = kernel
        self.ramdisk = ramdisk
        self.cmdline = cmdline
        self.memory = memory
        self.vcpus = vcpus
        self.scheduler = scheduler
        self.xenCommandLine = xenCommandLine
    }

    /// Xen's MAX_VIRT_CPUS on arm64: `dom0_max_vcpus` above it is cut to it.
    public static let maxVCPUs = 128
}

/// Why the boot DTB's dom0 cannot be built. Each is one clear line before anything boots.
public enum Dom0BootError: Error, Equatable, Sendable {
    /// A dom0 is asked for (no dom0less domain, a dom0 ramdisk or `xen,dom0-bootargs`, or the
    /// caller requires one) but no module is its kernel.
    case noKernel
    /// Two module nodes are dom0 kernels (paths of both).
    case twoKernels([UInt8], [UInt8])
    case twoRamdisks([UInt8], [UInt8])
    /// A module node whose `reg` is not one non-empty range.
    case badModule(path: [UInt8])
    /// Two boot modules share bytes (paths of both).
    case overlappingModules([UInt8], [UInt8])
    /// An option of `xen,xen-bootargs` Apus reads has a value it cannot parse (the whole option).
    case badOption([UInt8])
    /// `dom0_mem` asks for more than the free RAM (bytes, after rounding to 2 MiB).
    case memoryTooLarge(requested: UInt64, available: UInt64)
    /// The free RAM is enough in total but too fragmented for Xen's 1:1 allocation
    /// (power-of-two chunks, bank 0 of at least min(dom0_mem, 128 MiB)).
    case memoryNotAllocatable(requested: UInt64, unallocated: UInt64)

#if !hasFeature(Embedded)
    /// The one-line message the host tool prints.
    public var message: String {
        func s(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }
        func mib(_ v: UInt64) -> String { "\(v >> 20) MiB" }
        switch self {
        case .noKernel: return "dom0: no dom0 kernel (a multiboot,kernel module under /chosen outside any xen,domain node)"
        case .twoKernels(let a, let b): return "dom0: two dom0 kernels, \(s(a)) and \(s(b))"
        case .twoRamdisks(let a, let b): return "dom0: two dom0 ramdisks, \(s(a)) and \(s(b))"
        case .badModule(let p): return "dom0: boot module \(s(p)) needs one non-empty reg range"
        case .overlappingModules(let a, let b): return "dom0: boot modules \(s(a)) and \(s(b)) overlap"
        case .badOption(let o): return "dom0: cannot parse \(s(o)) in xen,xen-bootargs"
        case .memoryTooLarge(let r, let a): return "dom0: dom0_mem is \(mib(r)) but only \(mib(a)) of RAM are free"
        case .memoryNotAllocatable(let r, let u):
            return "dom0: cannot allocate \(mib(r)) 1:1 in power-of-two banks (\(mib(u)) left over)"
        }
    }
#endif
}

extension Dom0BootSpec {
    /// The dom0 the boot DTB describes; nil when it describes none and need not (a dom0less
    /// board, as before). `physicalCPUs` gives dom0's vCPU count when `dom0_max_vcpus` does
    /// not. With `required` (the host tool asked for a dom0), a missing kernel is an error
    /// even next to dom0less domains.
    public static func parse(_ dt: DeviceTree, physicalCPUs: Int, required: Bool = false)
        throws(Dom0BootError) -> Dom0BootSpec? {
        let modules = try BootModules.scan(dt)
        var kernel: BootModule?
        var ramdisk: BootModule?
        for m in modules where !m.domU {
            switch m.kind {
            case .kernel:
                if let k = kernel { throw .twoKernels(k.path, m.path) }
                kernel = m
            case .ramdisk:
                if let r = ramdisk { throw .twoRamdisks(r.path, m.path) }
                ramdisk = m
            case .xsmPolicy, .deviceTree, .unknown:
                break
            }
        }
        let chosen = dt.node(atPath: "/chosen")
        let dom0Bootargs = chosen?.property("xen,dom0-bootargs")?.string
        let hasDom0less = chosen?.children.contains { $0.isCompatible(with: "xen,domain") } ?? false
        let rdFromNode = ramdisk.map { !dtBytesEqual($0.path, "/chosen/linux,initrd-start") } ?? false
        guard let k = kernel else {
            // Xen 4.17 boots dom0less-only when there are xen,domain nodes and no dom0 kernel.
            if required || !hasDom0less || rdFromNode || dom0Bootargs != nil { throw .noKernel }
            return nil
        }

        // Command lines (bootfdt.c boot_fdt_cmdline, domain_build.c write_properties).
        let moduleArgs = (k.bootargs?.isEmpty ?? true) ? nil : k.bootargs
        let chosenArgs = chosen?.property("bootargs")?.string
        let xenLine: [UInt8]
        if let x = chosen?.property("xen,xen-bootargs")?.string { xenLine = x }
        else if dom0Bootargs != nil || moduleArgs != nil { xenLine = chosenArgs ?? [] }
        else { xenLine = [] }
        let cmdline = dom0Bootargs ?? moduleArgs ?? chosenArgs ?? []

        let options = try XenCommandLine.parse(xenLine)
        var vcpus = options.dom0MaxVCPUs == 0 ? physicalCPUs : options.dom0MaxVCPUs
        vcpus = min(max(vcpus, 1), Dom0BootSpec.maxVCPUs)
        return Dom0BootSpec(kernel: k.range, ramdisk: ramdisk?.range, cmdline: cmdline, memory: options.dom0Memory,
                            vcpus: vcpus, scheduler: options.scheduler, xenCommandLine: xenLine)
    }
}
