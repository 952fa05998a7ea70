import ApusCore
import ArgumentParser
import Foundation

/// `apus run`: boots a control domain (dom0) and/or domains described by xl.cfg files on the
/// hypervisor in QEMU.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Boot dom0 and domains from xl.cfg files on Apus in QEMU.",
        discussion: """
            The console is this terminal: everything typed goes to the hypervisor (Ctrl-A three times \
            switches between domains). Exit status: 0 when the board powers off, 1 on a hypervisor panic, \
            124 on --timeout, 2 for a bad configuration, else QEMU's own status.
            --dom0-kernel asks for a control domain as Xen boots one: its modules, dom0_mem, \
            dom0_max_vcpus and xen,dom0-bootargs go into the boot DTB; the .cfg files are then \
            dom0less domUs next to it. --disk and --hostfwd give dom0 virtio-mmio devices.
            With --dtb, the given boot DTB (e.g. a Xen dom0 or dom0less one) is used unchanged and its \
            modules are loaded with --module FILE@ADDR.
            """)

    @Option(help: "Physical CPUs of the board (1-\(Board.maxCPUs)).")
    var cpus = 2

    @Option(help: ArgumentHelp("vCPU scheduler: credit (fair share with weights and caps) or null (one vCPU per CPU, no sharing), as Xen's sched=.", valueName: "name"))
    var sched = "credit"

    @Option(help: "Board RAM in MiB.")
    var memory = 2048

    @Option(help: "Stop QEMU after this many seconds (0: never).")
    var timeout: Double = 0

    @Flag(help: "Deterministic guest time: one virtual ns per instruction (-icount shift=0,sleep=off).")
    var icount = false

    @Flag(name: .customLong("no-reboot"),
          help: "End the run when the board resets (dom0's reboot or crash) instead of restarting it, as QEMU's -no-reboot.")
    var noReboot = false

    @Option(help: ArgumentHelp("Use this boot DTB unchanged instead of generating one.", valueName: "file"))
    var dtb: String?

    @Option(name: .customLong("module"),
            help: ArgumentHelp("With --dtb: load FILE at ADDR (hex with 0x, or decimal).", valueName: "file@addr"))
    var modules: [String] = []

    @Option(name: .customLong("dom0-kernel"),
            help: ArgumentHelp("Boot a control domain (dom0) with this arm64 kernel Image.", valueName: "file"))
    var dom0Kernels: [String] = []

    @Option(name: .customLong("dom0-ramdisk"), help: ArgumentHelp("Dom0's initramfs.", valueName: "file"))
    var dom0Ramdisks: [String] = []

    @Option(name: .customLong("dom0-cmdline"),
            help: ArgumentHelp("Dom0's kernel command line (xen,dom0-bootargs; default \"\(Dom0Request.defaultCmdline)\").",
                               valueName: "text"))
    var dom0Cmdline: String?

    @Option(name: .customLong("dom0-memory"),
            help: ArgumentHelp("Dom0's RAM in MiB (dom0_mem; default \(Dom0Request.defaultMemoryMiB), as Xen's).", valueName: "MiB"))
    var dom0Memory: Int?

    @Option(name: .customLong("dom0-vcpus"),
            help: ArgumentHelp("Dom0's vCPUs (dom0_max_vcpus, 1-\(Dom0Request.maxVCPUs); default one per board CPU).", valueName: "n"))
    var dom0VCPUs: Int?

    @Option(name: .customLong("disk"),
            help: ArgumentHelp("A raw disk image for dom0, a virtio-blk device (repeat: vda, vdb... in order; ',ro' read-only).",
                               valueName: "file[,ro]"))
    var disks: [String] = []

    @Option(name: .customLong("hostfwd"),
            help: ArgumentHelp("Forward 127.0.0.1:HOSTPORT to dom0's TCP GUESTPORT (repeat; one virtio-net, restricted user networking).",
                               valueName: "hostport:guestport"))
    var hostForwards: [String] = []

    @Option(name: .customLong("qemu-arg"), parsing: .unconditionalSingleValue,
            help: ArgumentHelp("An extra QEMU argument (repeat for several).", valueName: "arg"))
    var qemuArguments: [String] = []

    @Option(help: ArgumentHelp("Also write the console to this file.", valueName: "file"))
    var log: String?

    @Option(help: ArgumentHelp("Use this hypervisor image (flat or ELF) instead of building one.", valueName: "file"))
    var image: String?

    @Option(name: .customLong("save-dtb"), help: ArgumentHelp("Write the boot DTB to this file too.", valueName: "file"))
    var saveDTB: String?

    @Flag(name: .customLong("dry-run"), help: "Prepare everything and print the QEMU command instead of running it (its temporary files are kept).")
    var dryRun = false

    @Flag(help: "Print module placement and the QEMU command line before starting.")
    var verbose = false

    @Argument(help: ArgumentHelp("xl.cfg files, one per domain.", valueName: "domain.cfg"))
    var configs: [String] = []

    func run() throws {
        try Apus.reporting {
            let status = try launch()
            if status != 0 { throw ExitCode(status) }
        }
    }

    private func launch() throws -> Int32 {
        // Everything the user can get wrong is checked before anything is built or started.
        guard (1...Board.maxCPUs).contains(cpus) else {
            throw ToolFailure.usage("--cpus \(cpus): the hypervisor runs on 1 to \(Board.maxCPUs) CPUs")
        }
        guard memory >= 128 else { throw ToolFailure.usage("--memory \(memory): at least 128 MiB") }
        guard timeout >= 0 else { throw ToolFailure.usage("--timeout must not be negative") }
        let board = Board(cpus: cpus, memoryMiB: memory)
        let dom0 = try dom0Request()
        let devices = try Dom0Devices.parse(disks: disks, hostForwards: hostForwards)

        var plan = BoardPlan(dom0: nil, domUs: [])
        var loads: [(path: String, address: UInt64)] = []
        if let dtb {
            guard configs.isEmpty else { throw ToolFailure.usage("--dtb describes the domains: give no .cfg files with it") }
            try checkReadable(dtb, "--dtb")
            loads = try modules.map(parseModule)
            try checkLoads(loads, board: board)
            try BootDTBCheck.check(dtb, board: board, needsDom0: devices.isEmpty ? nil : deviceOption)
        } else {
            guard modules.isEmpty else { throw ToolFailure.usage("--module needs --dtb (.cfg files name their own modules)") }
            guard !configs.isEmpty || dom0 != nil else {
                throw ToolFailure.usage("no domain: give --dom0-kernel, one or more .cfg files, or --dtb")
            }
            if dom0 == nil, !devices.isEmpty {
                throw ToolFailure.usage("\(deviceOption) needs a dom0 (--dom0-kernel, or a --dtb with one): its devices are dom0's")
            }
            guard sched == "credit" || sched == "credit2" || sched == "null" else {
                throw ToolFailure.usage("--sched: unknown scheduler '\(sched)' (credit, credit2 or null)")
            }
            plan = try DomainPlan.make(configPaths: configs, dom0: dom0, board: board)
            loads = plan.modules.map { (path: $0.path, address: $0.address) }
        }
        if let image { try checkReadable(image, "--image") }
        let qemu = try QEMU.find()

        let work = try makeTemporaryDirectory()
        defer { if !dryRun { try? FileManager.default.removeItem(atPath: work) } }

        let hypervisor: String
        if let image {
            hypervisor = try ImageBuild.flatImage(image, scratch: work)
        } else {
            let build = ImageBuild(root: try PackageRoot.find())
            try build.run(quiet: true, guests: false)
            hypervisor = build.imagePath
        }
        let bootDTB: String
        if let dtb {
            bootDTB = dtb
        } else {
            // The dump runs without dom0's devices: the virt board lists all its virtio-mmio
            // transports whether or not a device is plugged, and so no disk is opened and no
            // host port bound twice.
            let boardDTB = try QEMU.dumpDeviceTree(qemu, board: board, extra: qemuArguments, to: work + "/virt.dtb")
            bootDTB = work + "/boot.dtb"
            try write(BootDeviceTree.make(board: boardDTB, dom0: plan.dom0, domains: plan.domUs, boardCPUs: cpus,
                                          hypervisorArgs: "sched=\(sched == "null" ? "null" : "credit2")"), to: bootDTB)
        }
        if let saveDTB { try write([UInt8](FileManager.default.contents(atPath: bootDTB) ?? Data()), to: saveDTB) }

        let args = QEMU.runArguments(board: board, image: hypervisor, dtb: bootDTB, modules: loads,
                                     devices: devices.qemuArguments,
                                     log: log ?? work + "/console.log", icount: icount, extra: qemuArguments,
                                     restartOnReset: !noReboot)
        if verbose || dryRun {
            func describe(_ owner: String, _ m: BootModule) {
                note("\(owner): \(m.kind == .kernel ? "kernel " : "ramdisk") 0x\(String(m.address, radix: 16)) "
                     + "\(m.size) bytes \(m.path)")
            }
            if let d = plan.dom0 {
                d.modules.forEach { describe("dom0", $0) }
                note("dom0: \(d.request.xenBootargs), bootargs \"\(d.request.cmdline)\"")
            }
            for d in plan.domUs { d.modules.forEach { describe(d.config.name, $0) } }
            note(QEMU.shellLine(qemu, args))
        }
        if dryRun { return 0 }
        return try QEMUSession(qemu: qemu, arguments: args, logPath: log ?? work + "/console.log", timeout: timeout).run()
    }

    /// The first dom0 device option given, for messages.
    private var deviceOption: String { disks.isEmpty ? "--hostfwd" : "--disk" }

    /// Dom0's options as one request; nil when none is given. Any dom0 option without a kernel,
    /// or two kernels or ramdisks, is refused here.
    private func dom0Request() throws -> Dom0Request? {
        if dom0Kernels.count > 1 {
            throw ToolFailure.usage("two dom0 kernels: --dom0-kernel \(dom0Kernels[0]) and --dom0-kernel \(dom0Kernels[1])")
        }
        if dom0Ramdisks.count > 1 {
            throw ToolFailure.usage("two dom0 ramdisks: --dom0-ramdisk \(dom0Ramdisks[0]) and --dom0-ramdisk \(dom0Ramdisks[1])")
        }
        let given = [(!dom0Kernels.isEmpty, "--dom0-kernel"), (!dom0Ramdisks.isEmpty, "--dom0-ramdisk"),
                     (dom0Cmdline != nil, "--dom0-cmdline"), (dom0Memory != nil, "--dom0-memory"),
                     (dom0VCPUs != nil, "--dom0-vcpus")].first(where: { $0.0 })?.1
        if dtb != nil, let option = given {
            throw ToolFailure.usage("--dtb describes dom0 too: give no \(option) with it")
        }
        guard let kernel = dom0Kernels.first else {
            if let option = given {
                throw ToolFailure.usage("\(option) needs --dom0-kernel: no dom0 kernel given")
            }
            return nil
        }
        let memoryMiB = dom0Memory ?? Dom0Request.defaultMemoryMiB
        guard memoryMiB > 0 else { throw ToolFailure.usage("--dom0-memory \(memoryMiB): at least 1 MiB") }
        let vcpus = dom0VCPUs ?? cpus
        guard (1...Dom0Request.maxVCPUs).contains(vcpus) else {
            throw ToolFailure.usage("--dom0-vcpus \(vcpus): 1 to \(Dom0Request.maxVCPUs) (Xen's limit)")
        }
        return Dom0Request(kernel: kernel, ramdisk: dom0Ramdisks.first, cmdline: dom0Cmdline ?? Dom0Request.defaultCmdline,
                           memoryMiB: memoryMiB, vcpus: vcpus)
    }

    /// `--module` files must lie in board RAM and not overlap (QEMU would refuse its loader
    /// blobs), each sized as QEMU reads it, through symbolic links.
    private func checkLoads(_ loads: [(path: String, address: UInt64)], board: Board) throws {
        var ranges: [(String, UInt64, UInt64)] = []
        for (path, address) in loads {
            let size: UInt64
            switch ModuleFile.size(path) {
            case .success(let s): size = s
            case .failure(let p): throw ToolFailure.usage("--module \(path)@0x\(String(address, radix: 16)): \(p)")
            }
            let (end, overflow) = address.addingReportingOverflow(size)
            if overflow || address < Board.ramBase || end > board.ramEnd {
                throw ToolFailure.usage("--module \(path)@0x\(String(address, radix: 16)) (\(size) bytes) is outside the board's RAM "
                                        + "(0x\(String(Board.ramBase, radix: 16))-0x\(String(board.ramEnd, radix: 16)), --memory \(board.memoryMiB))")
            }
            if let other = ranges.first(where: { $0.1 < end && address < $0.2 }) {
                throw ToolFailure.usage("--module \(path)@0x\(String(address, radix: 16)) (\(size) bytes) overlaps "
                                        + "--module \(other.0)@0x\(String(other.1, radix: 16)) (\(other.2 - other.1) bytes)")
            }
            ranges.append((path, address, end))
        }
    }

    /// `FILE@ADDR`, split at the last '@' so file names may contain one.
    private func parseModule(_ spec: String) throws -> (path: String, address: UInt64) {
        guard let at = spec.lastIndex(of: "@") else { throw ToolFailure.usage("--module \(spec): expected FILE@ADDR") }
        let path = String(spec[..<at]), text = spec[spec.index(after: at)...].lowercased()
        let address = text.hasPrefix("0x") ? UInt64(text.dropFirst(2), radix: 16) : UInt64(text)
        guard let address, !path.isEmpty else { throw ToolFailure.usage("--module \(spec): expected FILE@ADDR") }
        try checkReadable(path, "--module")
        return (path, address)
    }

    private func checkReadable(_ path: String, _ option: String) throws {
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw ToolFailure.usage("\(option) \(path): no such file")
        }
    }

    private func makeTemporaryDirectory() throws -> String {
        var template = Array((NSTemporaryDirectory() + "apus-run.XXXXXX").utf8CString)
        guard let p = mkdtemp(&template) else { throw ToolFailure("cannot create a temporary folder") }
        return String(cString: p)
    }

    private func write(_ bytes: [UInt8], to path: String) throws {
        do { try Data(bytes).write(to: URL(fileURLWithPath: path)) } catch {
            throw ToolFailure("cannot write \(path): \(error.localizedDescription)")
        }
    }

    private func note(_ line: String) { FileHandle.standardError.write(Data("apus: \(line)\n".utf8)) }
}
