import ApusCore
import ArgumentParser
import Foundation

/// `apus run`: boots domains described by xl.cfg files on the hypervisor in QEMU.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Boot domains from xl.cfg files on Apus in QEMU.",
        discussion: """
            The console is this terminal: everything typed goes to the hypervisor (Ctrl-A three times \
            switches between domains). Exit status: 0 when the board powers off, 1 on a hypervisor panic, \
            124 on --timeout, 2 for a bad configuration, else QEMU's own status.
            With --dtb, the given boot DTB (e.g. a Xen dom0less one) is used unchanged and its modules \
            are loaded with --module FILE@ADDR.
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

    @Option(help: ArgumentHelp("Use this boot DTB unchanged instead of generating one.", valueName: "file"))
    var dtb: String?

    @Option(name: .customLong("module"),
            help: ArgumentHelp("With --dtb: load FILE at ADDR (hex with 0x, or decimal).", valueName: "file@addr"))
    var modules: [String] = []

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

        var domains: [PlannedDomain] = []
        var loads: [(path: String, address: UInt64)] = []
        if let dtb {
            guard configs.isEmpty else { throw ToolFailure.usage("--dtb describes the domains: give no .cfg files with it") }
            try checkReadable(dtb, "--dtb")
            loads = try modules.map(parseModule)
        } else {
            guard modules.isEmpty else { throw ToolFailure.usage("--module needs --dtb (.cfg files name their own modules)") }
            guard !configs.isEmpty else { throw ToolFailure.usage("no domain: give one or more .cfg files (or --dtb)") }
            domains = try DomainPlan.make(configPaths: configs, board: board)
            loads = domains.flatMap { $0.modules.map { (path: $0.path, address: $0.address) } }
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
            let bytes = [UInt8](FileManager.default.contents(atPath: dtb) ?? Data())
            do { _ = try DeviceTree.parse(bytes) } catch { throw ToolFailure.usage("\(dtb): not a device tree blob (\(error))") }
        } else {
            let boardDTB = try QEMU.dumpDeviceTree(qemu, board: board, extra: qemuArguments, to: work + "/virt.dtb")
            bootDTB = work + "/boot.dtb"
            guard sched == "credit" || sched == "credit2" || sched == "null" else {
                throw ToolFailure.usage("--sched: unknown scheduler '\(sched)' (credit, credit2 or null)")
            }
            try write(BootDeviceTree.make(board: boardDTB, domains: domains, boardCPUs: cpus,
                                          hypervisorArgs: "sched=\(sched == "null" ? "null" : "credit2")"), to: bootDTB)
        }
        if let saveDTB { try write([UInt8](FileManager.default.contents(atPath: bootDTB) ?? Data()), to: saveDTB) }

        let args = QEMU.runArguments(board: board, image: hypervisor, dtb: bootDTB, modules: loads,
                                     log: log ?? work + "/console.log", icount: icount, extra: qemuArguments)
        if verbose || dryRun {
            for d in domains {
                for m in d.modules {
                    note("\(d.config.name): \(m.kind == .kernel ? "kernel " : "ramdisk") 0x\(String(m.address, radix: 16)) "
                         + "\(m.size) bytes \(m.path)")
                }
            }
            note(QEMU.shellLine(qemu, args))
        }
        if dryRun { return 0 }
        return try QEMUSession(qemu: qemu, arguments: args, logPath: log ?? work + "/console.log", timeout: timeout).run()
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
