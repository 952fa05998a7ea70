import ApusCore
import ArgumentParser
import Foundation

/// `apus bench`: the Debian guest's boot cost under Apus, next to the same guest with
/// no hypervisor and under Debian's Xen 4.17, all in the same QEMU with
/// `-icount shift=0,sleep=off`, in one run; micro-benchmarks measured in instructions by the
/// bare-metal guests (hypercall, event channel, timer interrupt, context switch), Apus next to
/// Xen; a long hostile run, with Apus's longest lock hold and longest stretch at EL2 with
/// interrupts masked over it; and the worst-case timer latency of a neighbour next to a
/// hostile domain. Prints a table, or JSON with --json.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure Apus against Linux alone and Xen 4.17 (guest boot, micro-benchmarks, hostile run, image size).")

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @Option(help: "Console modes to measure: quiet, verbose or both.")
    var console: String = "both"

    @Flag(name: .customLong("no-xen"), help: "Skip the Xen 4.17 runs (they need Debian's xen-hypervisor package).")
    var noXen = false

    @Option(help: ArgumentHelp("Parts to run, comma separated: boot (one Linux domain), two (two Linux domains), micro (bare-metal micro-benchmarks), hostile (the long hostile run, with Apus's lock figures), neighbour (timer latency next to a hostile domain), disk (a 256 MiB virtio-blk read in dom0), xl (xl create and destroy of a Debian domU from dom0), pv (a domU's PV disk and network served by dom0), or all.", valueName: "parts"))
    var only: String = "all"

    @Option(help: "Runs of each Linux boot setup, taken in turn across setups; the run with the median wall time is reported (guest times under icount repeat exactly, wall times vary with the host's load).")
    var runs = 3

    @Option(help: ArgumentHelp("Use this hypervisor image (flat or ELF) instead of building one (for every part: the hostile part's lock figures then need an image built with `apus build --lock-profile`).", valueName: "file"))
    var image: String?

    @Option(help: ArgumentHelp("Build the bare-metal guests into this folder (default .cache/bench/guests).", valueName: "dir"))
    var guests: String?

    @Option(name: .customLong("hostile-ops"), help: "Operations of the long hostile run.")
    var hostileOps = 1_000_000

    @Option(name: .customLong("hostile-xenabi"), help: "Percent of the hostile operations that are Xen-ABI-shaped hypercalls.")
    var hostileXenABI = 20

    @Option(name: .customLong("lock-ops"), help: "Operations of the second, shorter hostile run (1 CPU, icount) that gives Apus's lock figures in instructions (0: skip it).")
    var lockOps = 20_000

    @Option(name: .customLong("neighbour-samples"), help: "Timer samples per mode and round of the neighbour (guests/vtlat n=).")
    var neighbourSamples = 1000

    @Option(name: .customLong("neighbour-rounds"), help: "Rounds of the neighbour's measurement counted per run (with hostile: rounds that began once hostile was into its random operations).")
    var neighbourRounds = 5

    static let parts = ["boot", "two", "micro", "hostile", "neighbour", "disk", "xl", "pv"]

    func run() throws {
        try Apus.reporting {
            let parts = Set(only == "all" ? BenchCommand.parts : only.split(separator: ",").map(String.init))
            for p in parts where !BenchCommand.parts.contains(p) {
                throw ToolFailure.usage("--only: unknown part '\(p)' (boot, two, micro, hostile, neighbour, disk, xl, pv or all)")
            }
            let root = try PackageRoot.find()
            let qemu = try QEMU.find()
            let log: (String) -> Void = { if !json { FileHandle.standardError.write(Data(($0 + "\n").utf8)) } }
            let work = root + "/.cache/bench"
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
            let linux = parts.contains("boot") || parts.contains("two") || parts.contains("disk") || parts.contains("xl") || parts.contains("pv")
            let guest = linux ? try GuestImages.fetch(cacheDir: root + "/.cache/guest", log: log) : nil
            // Without Xen (no network, no package) the Apus figures are still measured.
            var xen: String? = nil, xenMissing: String? = noXen ? "not run (--no-xen)" : nil
            if !noXen {
                do { xen = try GuestImages.fetchXen(cacheDir: root + "/.cache/guest", log: log) } catch {
                    xenMissing = "Xen 4.17 not available: \(error)"
                    log("[bench] \(xenMissing!); measuring Apus only")
                }
            }
            let hypervisor: String
            if let image {
                guard FileManager.default.isReadableFile(atPath: image) else { throw ToolFailure.usage("--image \(image): no such file") }
                hypervisor = try ImageBuild.flatImage(image, scratch: work)
            } else {
                let build = ImageBuild(root: root)
                try build.run(quiet: true, guests: false)
                hypervisor = build.imagePath
            }

            let setups = BenchSetups(qemu: qemu, apus: CommandLine.arguments[0], image: hypervisor,
                                     kernel: guest?.image ?? "", initrd: guest?.initrdBench ?? "", xen: xen, work: work)
            // One round measures every Linux setup once. A setup's files (xl.cfg, Xen's boot DTB)
            // are written just before it runs, so setups sharing a file name cannot mix.
            let rounds = max(runs, 1)
            func round(_ r: Int) throws -> [BootMeasurement] {
                let of = rounds > 1 ? " (run \(r + 1) of \(rounds))" : ""
                var out: [BootMeasurement] = []
                if parts.contains("boot") {
                    let modes = console == "both" ? ["quiet", "verbose"] : [console]
                    for mode in modes {
                        let args = "console=ttyAMA0 panic=-1" + (mode == "quiet" ? " quiet" : "")
                        for s in try setups.all(bootargs: args) {
                            log("[bench] \(s.name), \(mode) console\(of)…")
                            out.append(BootBenchmark.measure(setup: s.name, console: mode, argv: s.argv,
                                                             log: work + "/\(s.name)-\(mode).log"))
                        }
                    }
                }
                if parts.contains("two") {
                    // Two domains side by side (256 MiB, 1 vCPU each), on Apus and as Xen dom0less domUs.
                    let two = "console=ttyAMA0 panic=-1 quiet"
                    for s in try setups.twoDomains(bootargs: two) {
                        log("[bench] \(s.name), two domains\(of)…")
                        out.append(BootBenchmark.measure(setup: s.name, console: "quiet", argv: s.argv,
                                                         log: work + "/\(s.name).log", domains: 2))
                    }
                }
                return out
            }
            // Round after round, so that a slow spell of the host falls on every setup alike.
            var all: [[BootMeasurement]] = []
            for r in 0..<rounds {
                let one = try round(r)
                if all.isEmpty { all = one.map { [$0] } } else { for i in 0..<min(all.count, one.count) { all[i].append(one[i]) } }
            }
            let results = all.map(BootMeasurement.median)
            var micro: [MicroRow]? = nil, hostile: [HostileRun]? = nil
            var locks: [LockFigures]? = nil, lockNotes: [String] = [], neighbour: NeighbourReport? = nil
            if parts.contains("micro") || parts.contains("hostile") || parts.contains("neighbour") {
                let dir = guests ?? work + "/guests"
                try buildGuests(root: root, into: dir, log: log)
                let g = BareMetalSetups(setups: setups, guests: dir)
                if parts.contains("micro") { micro = try runMicro(g, log: log) }
                if parts.contains("hostile") {
                    // Lock figures need lock profiling compiled in: an image of its own, so the
                    // other parts measure the ordinary one.
                    var profiled = g
                    if image == nil {
                        log("[bench] building the image with lock profiling (apus build --lock-profile)…")
                        var build = ImageBuild(root: root)
                        build.lockProfile = true
                        try build.run(quiet: true, guests: false)
                        profiled.setups.image = build.imagePath
                    }
                    hostile = try runHostile(profiled, log: log)
                    (locks, lockNotes) = try runLockFigures(profiled, log: log)
                }
                if parts.contains("neighbour") { neighbour = try runNeighbour(g, log: log) }
            }
            var disk: [DiskMeasurement]? = nil
            if parts.contains("disk") {
                let initrd = try GuestImages.fetchXenGuest(cacheDir: root + "/.cache/guest", log: log)
                let file = try DiskBenchmark.disk(in: work)
                // Round after round (real time: the host's slow spells fall on every setup alike);
                // each setup's median read.
                let list = DiskBenchmark.setups(setups, initrd: initrd, disk: file)
                var all: [[DiskMeasurement]] = list.map { _ in [] }
                for r in 0..<rounds {
                    for (i, s) in list.enumerated() {
                        log("[bench] disk: \(DiskBenchmark.mib) MiB read, \(s.name) (run \(r + 1) of \(rounds))…")
                        all[i].append(DiskBenchmark.measure(s, log: work + "/disk-\(s.name).log"))
                    }
                }
                disk = all.map(DiskBenchmark.median)
            }
            var toolstack: [ToolstackMeasurement]? = nil
            if parts.contains("xl"), let guest {
                let dom0Initrd = try GuestImages.fetchXenGuest(cacheDir: root + "/.cache/guest", log: log)
                let file = try ToolstackBenchmark.disk(in: work, kernel: guest.image, initrd: guest.initrdTest)
                let list = ToolstackBenchmark.setups(setups, dom0Initrd: dom0Initrd, disk: file)
                var all: [[ToolstackMeasurement]] = list.map { _ in [] }
                for r in 0..<rounds {
                    for (i, s) in list.enumerated() {
                        log("[bench] xl: create and destroy a Debian domU, \(s.name) (run \(r + 1) of \(rounds))…")
                        all[i].append(ToolstackBenchmark.measure(s, log: work + "/xl-\(s.name).log"))
                    }
                }
                toolstack = all.map(ToolstackBenchmark.median)
            }
            var pv: [PVMeasurement]? = nil
            if parts.contains("pv"), let guest {
                // Guest time under icount repeats exactly: one run of each setup.
                let dom0Initrd = try GuestImages.fetchXenGuest(cacheDir: root + "/.cache/guest", log: log)
                let file = try ToolstackBenchmark.disk(in: work, kernel: guest.image, initrd: dom0Initrd, name: "pvbench.img")
                pv = PVBenchmark.setups(setups, dom0Initrd: dom0Initrd, disk: file).map { s in
                    log("[bench] pv: a domU's PV disk and network served by dom0, \(s.name)…")
                    return PVBenchmark.measure(s, log: work + "/pv-\(s.name).log")
                }
            }
            var report = BenchReport(boots: results, apusImageBytes: fileSize(hypervisor),
                                     xenImageBytes: xen.map(fileSize), micro: micro, hostile: hostile)
            report.locks = locks
            report.locksNotes = lockNotes
            report.neighbour = neighbour
            report.disk = disk
            report.toolstack = toolstack
            report.pv = pv
            report.xenMissing = xenMissing
            print(json ? report.json() : report.table())
        }
    }

    func runMicro(_ g: BareMetalSetups, log: (String) -> Void) throws -> [MicroRow] {
        var rows: [MicroRow] = []
        for c in MicroCase.all {
            let tag = c.metrics[0]
            log("[bench] micro \(tag) (\(c.guest), \(c.domains.count) domain(s)) on Apus…")
            let a = MicroBenchmark.run(argv: try g.apus(c, name: tag), log: g.setups.work + "/micro-\(tag)-apus.log",
                                       metrics: c.metrics, domains: c.domains.count)
            var x: MicroRun? = nil
            if g.setups.xen != nil {
                log("[bench] micro \(tag) on Xen 4.17…")
                x = MicroBenchmark.run(argv: try g.xen(c, name: tag), log: g.setups.work + "/micro-\(tag)-xen.log",
                                       metrics: c.metrics, domains: c.domains.count)
            }
            // A figure comes with what the guest added to its line, and with a failure of any
            // domain of the run (a figure without a clean run is suspect).
            func note(_ r: MicroRun, _ m: String) -> String? {
                let parts = [MicroBenchmark.describe(r.notes[m]), r.failure].compactMap { $0 }
                return parts.isEmpty ? nil : parts.joined(separator: "; ")
            }
            for m in c.metrics {
                let av = a.values[m], xv = x?.values[m]
                rows.append(MicroRow(benchmark: m, apus: av, xen: xv,
                                     apusOverXen: av.flatMap { v in xv.map { v / $0 } },
                                     apusNote: note(a, m), xenNote: x.map { note($0, m) } ?? "not run"))
            }
        }
        return rows
    }

    /// Apus's lock figures, from the last line of the hypervisor's running maxima in a log:
    /// over the long hostile run (2 CPUs, no icount: ns of the board's real time, with the
    /// waits of one CPU for a lock the other holds, and the host's noise), and over a shorter
    /// hostile run on one CPU under icount (ns = instructions: the hypervisor's own path
    /// lengths, repeatable). Measured on a loaded two-core host: 10,000 operations take about
    /// 2 s on two CPUs without icount, 40 s on one CPU under icount and 150 s on two CPUs under
    /// icount (QEMU then runs the CPUs in turn on one thread, and an interval measured on one
    /// CPU also counts the other's turns), so the million operations of the long run are only
    /// practical without icount, and the icount run is a short one on one CPU.
    func runLockFigures(_ g: BareMetalSetups, log: (String) -> Void) throws -> ([LockFigures], [String]) {
        var figures: [LockFigures] = [], notes: [String] = []
        func take(_ path: String, run: String, clock: String) {
            let text = ConsoleRun.read(path)
            guard var f = LockFigures.parse(text) else {
                // the hypervisor prints its maxima when a domain ends for good
                let why = text.contains("TEST PASS hostile") || text.contains("TEST FAIL hostile") ? ""
                    : " (hostile gave no verdict before the run was stopped, so no domain ended)"
                notes.append(run + ": no \"\(LockFigures.marker)\" line in \(path)" + why)
                return
            }
            f.run = run
            f.clock = clock
            f.log = path
            figures.append(f)
        }
        take(g.setups.work + "/hostile-apus.log", run: "the hostile run above (ops=\(hostileOps) xenabi=\(hostileXenABI)), 2 CPUs",
             clock: "real time")
        if lockOps > 0 {
            let args = "ops=\(lockOps) xenabi=\(hostileXenABI)"
            // On a loaded two-core host: about 250 operations a second, and the peer's reboots
            // and crashes of its first 20 s of guest time take some 3.5 minutes under icount.
            let timeout = max(600, Double(lockOps) / 20)
            let path = g.setups.work + "/locks-icount-apus.log"
            log("[bench] hostile (\(args)) next to memcheck on one CPU under icount, for the lock figures…")
            // The same attack classes as the long run on Apus (with hostile's peer domain).
            let argv = HostileBenchmark.withEveryAttackClass(try g.apusLockRun(args: args, timeout: timeout))
            let verdicts = argv.contains { $0.hasSuffix("/hostile-peer.cfg") } ? 2 : 1
            var verdictAt: Date? = nil
            ConsoleRun.run(argv: argv, log: path, timeout: timeout, poll: 0.5) { text in
                // each hostile domain ends after its verdict, and the hypervisor then prints its
                // maxima (a hypervisor without them: 10 s after the last verdict is enough)
                if text.contains("Apus PANIC") { return true }
                let given = text.ranges(of: "TEST PASS hostile") + text.ranges(of: "TEST FAIL hostile")
                guard given.count >= verdicts, let last = given.map(\.upperBound).max() else { return false }
                if verdictAt == nil { verdictAt = Date() }
                return text[last...].contains(LockFigures.maskedMarker) || Date().timeIntervalSince(verdictAt!) > 10
            }
            take(path, run: "hostile \(args) (2 vCPUs" + (argv.contains { $0.hasSuffix("/hostile-peer.cfg") } ? ", every class, + peer" : "") + ") + memcheck, 1 CPU, icount", clock: "instructions")
        }
        return (figures, notes)
    }

    /// vtlat alone on CPU 1, then next to hostile on CPU 0, on Apus and on Xen 4.17.
    func runNeighbour(_ g: BareMetalSetups, log: (String) -> Void) throws -> NeighbourReport {
        // vtlat measures round after round until the run is stopped; hostile has more
        // operations than the measurement lasts.
        let vtlatArgs = "n=\(neighbourSamples) rounds=0"
        let hostileArgs = "ops=\(max(hostileOps, 1_000_000)) xenabi=\(hostileXenABI)"
        let rounds = max(neighbourRounds, 1)
        let timeout = 120.0 + Double(rounds * neighbourSamples) / 50
        var runs: [NeighbourRun] = []
        for scenario in ["alone", "hostile"] {
            let with = scenario == "hostile"
            log("[bench] neighbour: vtlat (\(vtlatArgs)) on CPU 1\(with ? ", hostile (\(hostileArgs)) on CPU 0" : " alone"), on Apus…")
            runs.append(NeighbourBenchmark.run(setup: "apus", scenario: scenario,
                                               argv: try g.apusNeighbour(vtlat: vtlatArgs, hostile: with ? hostileArgs : nil,
                                                                         timeout: timeout),
                                               log: g.setups.work + "/neighbour-\(scenario)-apus.log", rounds: rounds,
                                               timeout: timeout))
            if g.setups.xen != nil {
                log("[bench] neighbour: vtlat\(with ? " next to hostile" : " alone") on Xen 4.17…")
                runs.append(NeighbourBenchmark.run(setup: "xen", scenario: scenario,
                                                   argv: try g.xenNeighbour(vtlat: vtlatArgs, hostile: with ? hostileArgs : nil),
                                                   log: g.setups.work + "/neighbour-\(scenario)-xen.log", rounds: rounds,
                                                   timeout: timeout))
            }
        }
        return NeighbourReport(runs: runs, vtlatArgs: vtlatArgs, hostileArgs: hostileArgs, roundsWanted: rounds)
    }

    func runHostile(_ g: BareMetalSetups, log: (String) -> Void) throws -> [HostileRun] {
        var runs: [HostileRun] = []
        let args = "ops=\(hostileOps) xenabi=\(hostileXenABI)"
        // Apus runs every attack class with hostile's peer (HostileBenchmark): about 3.7 ms of
        // wall time per operation on a loaded two-core host (200,000 operations did not end
        // within the former 2.5 ms each); 6.7 ms each leaves room. The lock figures need the
        // run to end: the hypervisor prints them when hostile's domain ends.
        let timeout = max(600, Double(hostileOps) / 150)
        log("[bench] hostile (\(args)) next to memcheck on Apus…")
        runs.append(HostileBenchmark.run(setup: "apus", argv: try g.apusHostile(args: args, timeout: timeout),
                                         log: g.setups.work + "/hostile-apus.log", ops: hostileOps, timeout: timeout))
        if g.setups.xen != nil {
            log("[bench] hostile (\(args)) next to memcheck on Xen 4.17…")
            runs.append(HostileBenchmark.run(setup: "xen", argv: try g.xenHostile(args: args),
                                             log: g.setups.work + "/hostile-xen.log", ops: hostileOps, timeout: timeout))
        }
        return runs
    }

    /// guests/build.sh with the toolchain of the swift in use.
    func buildGuests(root: String, into dir: String, log: (String) -> Void) throws {
        log("[bench] building the bare-metal guests into \(dir)…")
        var env = ProcessInfo.processInfo.environment
        if env["SWIFT_TOOLCHAIN_BIN"] == nil, let swift = Subprocess.findTool("swift") {
            env["SWIFT_TOOLCHAIN_BIN"] = (swift as NSString).deletingLastPathComponent
        }
        let names = Set(MicroCase.all.map(\.guest) + ["vtlat"]).sorted() + ["hostile", "memcheck"]
        let end = try Subprocess.spawn("/bin/bash", [root + "/guests/build.sh", dir] + names, output: .file(dir + ".build.log"),
                                       stdinNull: true, environment: env, directory: root).run()
        guard end == .exited(0) else { throw ToolFailure("building the bare-metal guests failed (see \(dir).build.log)") }
    }

    func fileSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
    }
}

/// Command lines for the bare-metal guests: `apus run` with xl.cfg files, or Xen 4.17 dom0less.
struct BareMetalSetups {
    var setups: BenchSetups
    var guests: String

    func image(_ guest: String) -> String { guests + "/" + guest + ".img" }

    func cfg(_ path: String, name: String, kernel: String, memory: Int, vcpus: Int = 1, cpus: String? = nil,
             extra: String) throws -> String {
        try """
        name = "\(name)"
        memory = \(memory)
        vcpus = \(vcpus)
        kernel = "\(kernel)"
        extra = "\(extra)"
        """.appending(cpus.map { "\ncpus = \"\($0)\"" } ?? "").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// vtlat pinned to CPU 1 (`cpus = "1"`), with hostile (1 vCPU) pinned to CPU 0 when
    /// `hostile` gives its bootargs; 2 CPUs, no icount. The files are named for the part, so
    /// that the hostile run's own hostile.cfg is never overwritten.
    func apusNeighbour(vtlat: String, hostile: String?, timeout: Double) throws -> [String] {
        var cfgs: [String] = []
        if let hostile {
            cfgs.append(try cfg(setups.work + "/neighbour-hostile.cfg", name: "hostile", kernel: image("hostile"),
                                memory: 64, cpus: "0", extra: hostile))
        }
        cfgs.append(try cfg(setups.work + "/neighbour-vtlat.cfg", name: "vtlat", kernel: image("vtlat"), memory: 64,
                            cpus: "1", extra: vtlat))
        return [setups.apus, "run", "--cpus", "2", "--memory", "1024", "--image", setups.image,
                "--timeout", String(Int(timeout) + 30)] + cfgs
    }

    /// The same as Xen 4.17 dom0less domUs (hostile first, so vtlat is domain 2 as on Apus).
    /// Debian's Xen 4.17 cannot pin a dom0less domU: it has no boot-time cpupools
    /// (CONFIG_BOOT_TIME_CPUPOOLS is off) and no null scheduler, and dom0less has no affinity
    /// property. With one vCPU per domain on two CPUs, credit2 leaves each on a CPU of its own.
    func xenNeighbour(vtlat: String, hostile: String?) throws -> [String] {
        var doms: [BenchSetups.XenDomain] = []
        if let hostile { doms.append(BenchSetups.XenDomain(kernel: image("hostile"), bootargs: hostile, memoryMiB: 64)) }
        doms.append(BenchSetups.XenDomain(kernel: image("vtlat"), bootargs: vtlat, memoryMiB: 64))
        return try setups.xenDom0less(domains: doms, boardCPUs: 2, boardMiB: 1024,
                                      name: "neighbour-" + (hostile == nil ? "alone" : "hostile"), icount: false)
    }

    func apus(_ c: MicroCase, name: String) throws -> [String] {
        var cfgs: [String] = []
        for (i, args) in c.domains.enumerated() {
            cfgs.append(try cfg(setups.work + "/micro-\(name)-\(i + 1).cfg", name: "\(c.guest)\(i + 1)",
                                kernel: image(c.guest), memory: 64, extra: args))
        }
        return [setups.apus, "run", "--icount", "--cpus", String(c.boardCPUs), "--memory", "1024",
                "--image", setups.image, "--timeout", "170"] + cfgs
    }

    func xen(_ c: MicroCase, name: String) throws -> [String] {
        let doms = c.domains.map { BenchSetups.XenDomain(kernel: image(c.guest), bootargs: $0, memoryMiB: 64) }
        return try setups.xenDom0less(domains: doms, boardCPUs: c.boardCPUs, boardMiB: 1024, name: "micro-" + name,
                                      xenArgs: c.xenArgs)
    }

    func apusHostile(args: String, timeout: Double) throws -> [String] {
        let h = try cfg(setups.work + "/hostile.cfg", name: "hostile", kernel: image("hostile"), memory: 64, vcpus: 2,
                        extra: args)
        let m = try cfg(setups.work + "/memcheck.cfg", name: "memcheck", kernel: image("memcheck"), memory: 128,
                        extra: "passes=0")
        return [setups.apus, "run", "--cpus", "2", "--memory", "2048", "--image", setups.image,
                "--timeout", String(Int(timeout) + 60), h, m]
    }

    /// hostile (2 vCPUs) and memcheck on a one-CPU board under icount, for the lock figures.
    /// Its files are in their own folder (`locks/hostile.cfg`, and the peer's that
    /// HostileBenchmark.withEveryAttackClass adds next to it), apart from the long run's.
    func apusLockRun(args: String, timeout: Double) throws -> [String] {
        let dir = setups.work + "/locks"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let h = try cfg(dir + "/hostile.cfg", name: "hostile", kernel: image("hostile"), memory: 64, vcpus: 2, extra: args)
        let m = try cfg(dir + "/memcheck.cfg", name: "memcheck", kernel: image("memcheck"), memory: 128, extra: "passes=0")
        return [setups.apus, "run", "--icount", "--cpus", "1", "--memory", "1024", "--image", setups.image,
                "--timeout", String(Int(timeout) + 30), h, m]
    }

    func xenHostile(args: String) throws -> [String] {
        try setups.xenDom0less(domains: [
            BenchSetups.XenDomain(kernel: image("hostile"), bootargs: args, memoryMiB: 64, vcpus: 2),
            BenchSetups.XenDomain(kernel: image("memcheck"), bootargs: "passes=0", memoryMiB: 128),
        ], boardCPUs: 2, boardMiB: 2048, name: "hostile", icount: false)
    }
}

/// The QEMU command lines being compared. Every setup gives the guest one CPU and
/// 512 MiB and the same kernel, initramfs and command line.
struct BenchSetups {
    var qemu, apus, image, kernel, initrd: String
    var xen: String?
    var work: String

    struct Setup { var name: String; var argv: [String] }
    static let icount = ["-icount", "shift=0,sleep=off"]
    static let plain = ["-display", "none", "-nic", "none", "-no-reboot", "-serial", "stdio", "-monitor", "none"]

    /// Dom0 on Apus and, with Xen, on Xen 4.17: the same kernel, `initrd` and command line
    /// (`console=hvc0 ` is put before `args`), 512 MiB on a 1 GiB board, one CPU under icount,
    /// `disk` as its read-only virtio disk (Xen's dom0 through QEMU's guest-loader).
    func dom0(initrd: String, args: String, disk: String) -> [Setup] {
        var out = [Setup(name: "apus-dom0", argv: [apus, "run", "--icount", "--cpus", "1", "--memory", "1024",
                                                   "--image", image, "--timeout", "900",
                                                   "--dom0-kernel", kernel, "--dom0-ramdisk", initrd, "--dom0-memory", "512",
                                                   "--dom0-cmdline", "console=hvc0 " + args, "--disk", disk + ",ro"])]
        if let xen {
            let drive = ["-drive", "if=none,id=d0,format=raw,readonly=on,file=\(disk)", "-device", "virtio-blk-device,drive=d0"]
            out.append(Setup(name: "xen-dom0", argv: [qemu, "-M", "virt,virtualization=on,gic-version=3", "-cpu", "cortex-a57",
                                                      "-m", "1024"] + BenchSetups.plain + BenchSetups.icount + drive
                + ["-kernel", xen, "-append", "dom0_mem=512M console=dtuart dtuart=/pl011@9000000",
                   "-device", "guest-loader,addr=0x49000000,kernel=\(kernel),bootargs=console=hvc0 \(args)",
                   "-device", "guest-loader,addr=0x50000000,initrd=\(initrd)"]))
        }
        return out
    }

    func all(bootargs: String) throws -> [Setup] {
        var s: [Setup] = []
        s.append(Setup(name: "linux-native", argv: [qemu, "-M", "virt,gic-version=3", "-cpu", "cortex-a57", "-m", "512"]
            + BenchSetups.plain + BenchSetups.icount + ["-kernel", kernel, "-initrd", initrd, "-append", bootargs]))
        let cfg = work + "/bench.cfg"
        try """
        name = "bench"
        memory = 512
        vcpus = 1
        kernel = "\(kernel)"
        ramdisk = "\(initrd)"
        extra = "\(bootargs)"
        """.write(toFile: cfg, atomically: true, encoding: .utf8)
        s.append(Setup(name: "apus-domU", argv: [apus, "run", "--icount", "--cpus", "1", "--memory", "1024",
                                                 "--image", image, "--timeout", "600", cfg]))
        // The same kernel as Apus's control domain (issue 11): 512 MiB 1:1, console hvc0, as xen-dom0 below.
        s.append(Setup(name: "apus-dom0", argv: [apus, "run", "--icount", "--cpus", "1", "--memory", "1024",
                                                 "--image", image, "--timeout", "600",
                                                 "--dom0-kernel", kernel, "--dom0-ramdisk", initrd, "--dom0-memory", "512",
                                                 "--dom0-cmdline", bootargs.replacingOccurrences(of: "ttyAMA0", with: "hvc0")]))
        if let xen {
            s.append(Setup(name: "xen-dom0less-domU", argv: try xenDom0less(xen: xen, bootargs: bootargs)))
            s.append(Setup(name: "xen-dom0", argv: [qemu, "-M", "virt,virtualization=on,gic-version=3", "-cpu", "cortex-a57",
                                                    "-m", "1024"] + BenchSetups.plain + BenchSetups.icount
                + ["-kernel", xen, "-append", "dom0_mem=512M console=dtuart dtuart=/pl011@9000000",
                   "-device", "guest-loader,addr=0x49000000,kernel=\(kernel),bootargs=\(bootargs.replacingOccurrences(of: "ttyAMA0", with: "hvc0"))",
                   "-device", "guest-loader,addr=0x50000000,initrd=\(initrd)"]))
        }
        return s
    }

    /// Two domains at once: Apus with two xl.cfg files, Xen with two dom0less domUs.
    ///
    /// Xen 4.17 does not boot on a board of two or more CPUs under icount in QEMU 7.2: CPU 0
    /// waits forever in the stop_machine rendezvous of its boot-time alternatives patching
    /// ("Adding cpu 1 to runqueue 0" is its last line, with sched=credit2, credit or null alike)
    /// while CPU 1 sleeps in the idle loop's WFI and icount's round-robin never runs it. So the
    /// two-CPU case, which Apus boots under icount, is measured for Xen without icount (its guest
    /// times are then QEMU's real-time clock, for the record, next to the same run of Apus), and
    /// both also boot the two domains on one CPU under icount, where the figures compare.
    func twoDomains(bootargs: String) throws -> [Setup] {
        var s: [Setup] = []
        var cfgs: [String] = []
        for i in 1...2 {
            let cfg = work + "/bench\(i).cfg"
            try """
            name = "bench\(i)"
            memory = 256
            vcpus = 1
            kernel = "\(kernel)"
            ramdisk = "\(initrd)"
            extra = "\(bootargs)"
            """.write(toFile: cfg, atomically: true, encoding: .utf8)
            cfgs.append(cfg)
        }
        func apusRun(_ cpus: Int, icount: Bool) -> [String] {
            [apus, "run"] + (icount ? ["--icount"] : []) + ["--cpus", String(cpus), "--memory", "2048",
                                                             "--image", image, "--timeout", "600"] + cfgs
        }
        let doms = [XenDomain(kernel: kernel, ramdisk: initrd, bootargs: bootargs, memoryMiB: 256),
                    XenDomain(kernel: kernel, ramdisk: initrd, bootargs: bootargs, memoryMiB: 256)]
        s.append(Setup(name: "apus-2domU", argv: apusRun(2, icount: true)))
        s.append(Setup(name: "apus-2domU-1cpu", argv: apusRun(1, icount: true)))
        if xen != nil {
            s.append(Setup(name: "xen-dom0less-2domU-1cpu", argv: try xenDom0less(domains: doms, boardCPUs: 1, boardMiB: 2048,
                                                                                   name: "2domU-1cpu")))
        }
        s.append(Setup(name: "apus-2domU-noicount", argv: apusRun(2, icount: false)))
        if xen != nil {
            s.append(Setup(name: "xen-dom0less-2domU-noicount", argv: try xenDom0less(domains: doms, boardCPUs: 2, boardMiB: 2048,
                                                                                       name: "2domU", icount: false)))
        }
        return s
    }

    /// One dom0less domU: an arm64 Image (Linux or a bare-metal guest), optional initrd.
    struct XenDomain {
        var kernel: String
        var ramdisk: String? = nil
        var bootargs: String
        var memoryMiB: Int
        var vcpus = 1
    }

    /// Xen booting one dom0less domU and no dom0, the closest match to an Apus domain.
    func xenDom0less(xen: String, bootargs: String) throws -> [String] {
        try xenDom0less(domains: [XenDomain(kernel: kernel, ramdisk: initrd, bootargs: bootargs, memoryMiB: 512)],
                        boardCPUs: 1, boardMiB: 1024, name: "1")
    }

    /// Xen booting dom0less domUs and no dom0 (vPL011 console, no PV drivers), domain ids 1, 2, ...
    /// in order. The boot DTB is QEMU's plus Xen's /chosen nodes; `xenArgs` is added to Xen's
    /// command line.
    func xenDom0less(domains: [XenDomain], boardCPUs: Int, boardMiB: Int, name: String, xenArgs: String = "",
                     icount: Bool = true) throws -> [String] {
        guard let xen else { throw ToolFailure("no Xen binary") }
        let cpus = String(boardCPUs), mem = String(boardMiB)
        let machine = ["-M", "virt,virtualization=on,gic-version=3", "-cpu", "cortex-a57", "-smp", cpus, "-m", mem]
        let dump = work + "/xen-virt-\(cpus)-\(mem).dtb"
        let dumpArgs = ["-M", "virt,virtualization=on,gic-version=3,dumpdtb=" + dump, "-cpu", "cortex-a57", "-smp", cpus, "-m", mem,
                        "-display", "none", "-nic", "none", "-serial", "none", "-monitor", "none"]
        let p = Process()
        p.executableURL = URL(fileURLWithPath: qemu)
        p.arguments = dumpArgs
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run(); p.waitUntilExit()
        var dt = try DeviceTree.parse([UInt8](FileManager.default.contents(atPath: dump) ?? Data()))
        func size(_ path: String) throws -> UInt64 {
            UInt64((try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0)
        }
        var loaders: [String] = []
        var nodes: [DTNode] = []
        for (i, d) in domains.enumerated() {
            // One copy of the modules per domain, as Xen's own dom0less tests lay them out
            // (shared module ranges make Xen 4.17 stall at boot).
            let kAddr: UInt64 = 0x5000_0000 + UInt64(i) * 0x400_0000, iAddr = kAddr + 0x200_0000
            loaders += ["-device", "loader,file=\(d.kernel),addr=0x\(String(kAddr, radix: 16)),force-raw=on"]
            var domU = DTNode(name: "domU\(i + 1)")
            domU.properties = [
                .strings("compatible", ["xen,domain"]), .u32("#address-cells", 2), .u32("#size-cells", 2),
                .u64("memory", UInt64(d.memoryMiB) * 1024), .u32("cpus", UInt32(d.vcpus)), .empty("vpl011"),
            ]
            domU.children = [
                DTNode(name: "module@" + String(kAddr, radix: 16), properties: [
                    .strings("compatible", ["multiboot,kernel", "multiboot,module"]),
                    .cells("reg", [0, UInt32(kAddr), 0, UInt32(try size(d.kernel))]), .string("bootargs", d.bootargs)]),
            ]
            if let r = d.ramdisk {
                loaders += ["-device", "loader,file=\(r),addr=0x\(String(iAddr, radix: 16)),force-raw=on"]
                domU.children.append(DTNode(name: "module@" + String(iAddr, radix: 16), properties: [
                    .strings("compatible", ["multiboot,ramdisk", "multiboot,module"]),
                    .cells("reg", [0, UInt32(iAddr), 0, UInt32(try size(r))])]))
            }
            nodes.append(domU)
        }
        _ = dt.root.withNode(atPath: "/chosen", creatingMissing: true) { chosen in
            chosen.setProperty(.u32("#address-cells", 2))
            chosen.setProperty(.u32("#size-cells", 2))
            chosen.setProperty(.string("xen,xen-bootargs", "console=dtuart dtuart=/pl011@9000000" + (xenArgs.isEmpty ? "" : " " + xenArgs)))
            for n in nodes { chosen.setChild(n) }
        }
        let out = work + "/xen-dom0less-\(name).dtb"
        _ = FileManager.default.createFile(atPath: out, contents: Data(dt.serialize()))
        return [qemu] + machine + BenchSetups.plain + (icount ? BenchSetups.icount : []) + ["-dtb", out, "-kernel", xen] + loaders
    }
}

struct BenchReport: Codable {
    var boots: [BootMeasurement]
    var apusImageBytes: Int
    var xenImageBytes: Int?
    /// Micro-benchmarks in instructions (nil when not run).
    var micro: [MicroRow]? = nil
    /// The long hostile run (nil when not run).
    var hostile: [HostileRun]? = nil
    /// Apus's longest lock hold and longest stretch at EL2 with interrupts masked, over the
    /// hostile run (nil when not run or when the log has no figures: `locksNote` says why).
    var locks: [LockFigures]? = nil
    var locksNotes: [String]? = nil
    /// The neighbour's timer latency alone and next to hostile (nil when not run).
    var neighbour: NeighbourReport? = nil
    /// The virtio-blk read in dom0 (nil when not run).
    var disk: [DiskMeasurement]? = nil
    /// xl create / destroy from dom0 (nil when not run).
    var toolstack: [ToolstackMeasurement]? = nil
    var pv: [PVMeasurement]? = nil
    /// Why there are no Xen figures (nil when Xen ran).
    var xenMissing: String? = nil

    static let twoDomainSetups: Set<String> = ["apus-2domU", "apus-2domU-1cpu", "xen-dom0less-2domU-1cpu",
                                               "apus-2domU-noicount", "xen-dom0less-2domU-noicount"]
    var oneDomainBoots: [BootMeasurement] { boots.filter { !BenchReport.twoDomainSetups.contains($0.setup) } }
    var twoDomainBoots: [BootMeasurement] { boots.filter { BenchReport.twoDomainSetups.contains($0.setup) } }

    func time(_ setup: String, _ console: String) -> Double? {
        boots.first { $0.setup == setup && $0.console == console }?.guestInitSeconds
    }
    func boot(_ setup: String) -> BootMeasurement? { boots.first { $0.setup == setup } }

    /// apusOver*: Apus's domU; apusDom0Over*: Apus's dom0 (issue 11's goal: at most Xen's dom0,
    /// within 1 % of native).
    struct Ratio: Codable {
        var console: String; var apusOverNative: Double?; var apusOverXenDomU: Double?; var apusOverXenDom0: Double?
        var apusDom0OverNative: Double?; var apusDom0OverXenDom0: Double?
    }
    var ratios: [Ratio] {
        Set(oneDomainBoots.map(\.console)).sorted().map { c in
            func r(_ setup: String, _ other: String) -> Double? { time(setup, c).flatMap { x in time(other, c).map { x / $0 } } }
            return Ratio(console: c, apusOverNative: r("apus-domU", "linux-native"), apusOverXenDomU: r("apus-domU", "xen-dom0less-domU"),
                         apusOverXenDom0: r("apus-domU", "xen-dom0"),
                         apusDom0OverNative: r("apus-dom0", "linux-native"), apusDom0OverXenDom0: r("apus-dom0", "xen-dom0"))
        }
    }

    /// Two Linux domains: Apus over Xen, guest time (the later domain's "Run /init") and wall time.
    /// `apusOverXenWall` compares the median runs, `apusOverXenWallFastest` the fastest runs
    /// (see BootMeasurement.fastestWallSeconds).
    struct TwoDomainRatio: Codable {
        var board: String; var apusOverXenGuestTime: Double?; var apusOverXenWall: Double?; var apusOverXenWallFastest: Double?
    }
    var twoDomainRatios: [TwoDomainRatio] {
        [("1 CPU, icount", "apus-2domU-1cpu", "xen-dom0less-2domU-1cpu"),
         ("2 CPUs, no icount", "apus-2domU-noicount", "xen-dom0less-2domU-noicount")].compactMap { label, a, x in
            guard let a = boot(a), let x = boot(x) else { return nil }
            return TwoDomainRatio(board: label,
                                  apusOverXenGuestTime: a.guestInitSeconds.flatMap { g in x.guestInitSeconds.map { g / $0 } },
                                  apusOverXenWall: x.guestInitSeconds == nil ? nil : a.wallSeconds / max(x.wallSeconds, 0.001),
                                  apusOverXenWallFastest: x.guestInitSeconds == nil ? nil
                                      : a.fastestWallSeconds / max(x.fastestWallSeconds, 0.001))
        }
    }

    func json() -> String {
        struct Out: Codable { var report: BenchReport; var ratios: [Ratio]; var twoDomainRatios: [TwoDomainRatio] }
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: (try? e.encode(Out(report: self, ratios: ratios, twoDomainRatios: twoDomainRatios))) ?? Data(),
                      as: UTF8.self)
    }

    /// Says how many runs a wall time is the median of (and, with `fastest`, what fastest_s is).
    func wallNote(_ boots: [BootMeasurement], fastest: Bool = false) -> String {
        guard let n = boots.compactMap({ $0.wallSecondsRuns?.count }).max(), n > 1 else { return "" }
        return "; wall_s: median of \(n) runs" + (fastest ? ", fastest_s: the fastest of them" : "")
    }

    /// Apus's lock figures over the hostile runs, against the goal.
    func lockTable() -> String {
        func us(_ ns: Int) -> String { String(format: "%.1f", Double(ns) / 1000) }
        func pad(_ t: String, _ n: Int) -> String { t.count >= n ? t + " " : t.padding(toLength: n, withPad: " ", startingAt: 0) }
        var s = "Longest lock hold and longest at EL2 with interrupts masked (us; running maxima since boot; goal: under 50 us)\n\n"
        let all = locks ?? []
        if let names = all.first?.locks.map(\.name) {
            s += pad("clock", 14) + names.map { pad($0, 11) }.joined() + pad("any lock", 11) + pad("goal", 6) + pad("EL2 masked", 12) + "goal   run\n"
            for l in all {
                s += pad(l.clock, 14)
                s += names.map { n in pad(l.locks.first { $0.name == n }.map { us($0.ns) } ?? "-", 11) }.joined()
                s += pad(us(l.maxLockHoldNs), 11) + pad(l.lockHoldUnderGoal ? "met" : "NOT", 6)
                s += pad(us(l.maskedAtEL2Ns), 12) + pad(l.maskedUnderGoal ? "met" : "NOT", 7) + l.run + "\n"
            }
        }
        for n in locksNotes ?? [] { s += "apus: " + n + "\n" }
        s += "xen 4.17: n/a (Xen has no such counters)\n"
        return s
    }

    /// The neighbour's worst-case timer latency, alone and next to hostile, Apus and Xen.
    func neighbourTable(_ n: NeighbourReport) -> String {
        func us(_ v: Double?) -> String { v.map { String(format: "%.1f", $0 / 1000) } ?? "-" }
        func r(_ v: Double?) -> String { v.map { String(format: "%.2f", $0) } ?? "-" }
        func pad(_ t: String, _ n: Int) -> String { t.count >= n ? t + " " : t.padding(toLength: n, withPad: " ", startingAt: 0) }
        func goals(_ twice: Bool?, _ xen: Bool?) -> String {
            [twice.map { $0 ? "2x: met" : "2x: NOT met" } ?? "2x: -", xen.map { $0 ? "xen: met" : "xen: NOT met" } ?? "xen: -"]
                .joined(separator: ", ")
        }
        var s = "Neighbour timer latency: guests/vtlat (\(n.vtlatArgs), \(n.roundsWanted) rounds counted) on CPU 1, alone and next to\n"
        s += "guests/hostile (\(n.hostileArgs), 1 vCPU) on CPU 0; 2 CPUs, no icount: us of the emulated board's real time.\n"
        s += "Xen 4.17 cannot pin dom0less domUs: credit2 gives its two 1-vCPU domains a CPU each. Goals: <= 2x alone, <= Xen's.\n\n"
        s += "mode  figure            apus alone  apus+hostile  ratio   xen alone  xen+hostile  ratio   apus/xen  goals\n"
        for row in n.rows {
            let mode = row.mode.hasSuffix("wfi") ? "wfi" : "spin"
            s += pad(mode, 6) + pad("worst case", 18) + pad(us(row.apusAloneMaxNs), 12) + pad(us(row.apusHostileMaxNs), 14)
            s += pad(r(row.apusRatio), 8) + pad(us(row.xenAloneMaxNs), 11) + pad(us(row.xenHostileMaxNs), 13) + pad(r(row.xenRatio), 8)
            s += pad(r(row.apusOverXen), 10) + goals(row.atMostTwiceAlone, row.atMostXen) + "\n"
            func ratio(_ a: Double?, _ b: Double?) -> Double? { a.flatMap { x in b.map { x / $0 } } }
            s += pad("", 6) + pad("median round max", 18) + pad(us(row.apusAloneRoundMaxNs), 12) + pad(us(row.apusHostileRoundMaxNs), 14)
            s += pad(r(ratio(row.apusHostileRoundMaxNs, row.apusAloneRoundMaxNs)), 8) + pad(us(row.xenAloneRoundMaxNs), 11)
            s += pad(us(row.xenHostileRoundMaxNs), 13) + pad(r(ratio(row.xenHostileRoundMaxNs, row.xenAloneRoundMaxNs)), 8)
            s += pad(r(ratio(row.apusHostileRoundMaxNs, row.xenHostileRoundMaxNs)), 10)
            s += goals(row.roundMaxAtMostTwiceAlone, row.roundMaxAtMostXen) + "\n"
        }
        s += "\nrun            rounds  left out  wfi p50/p99      spin p50/p99     hostile ops during   wall_s  note\n"
        for run in n.runs {
            let w = run.mode("vtimer-latency-wfi"), sp = run.mode("vtimer-latency-spin")
            s += pad(run.setup + " " + run.scenario, 15) + pad(String(run.rounds), 8) + pad(String(run.roundsLeftOut), 10)
            s += pad(us(w?.p50Ns) + "/" + us(w?.p99Ns), 17) + pad(us(sp?.p50Ns) + "/" + us(sp?.p99Ns), 17)
            let ops = run.hostileOpsBefore.map { b in "\(b)-" + (run.hostileOpsAfter.map(String.init) ?? "?") } ?? "-"
            s += pad(ops, 21) + pad(String(format: "%.1f", run.wallSeconds), 8) + (run.failure ?? "") + "\n"
        }
        return s
    }

    func table() -> String {
        func f(_ v: Double?, _ digits: Int = 4) -> String { v.map { String(format: "%.\(digits)f", $0) } ?? "-" }
        func pad(_ t: String, _ n: Int) -> String { t.count >= n ? t + " " : t.padding(toLength: n, withPad: " ", startingAt: 0) }
        var s = ""
        if !oneDomainBoots.isEmpty {
            s += "Guest boot to \"Run /init\" (guest seconds under -icount shift=0,sleep=off; 1 vCPU, 512 MiB)" + wallNote(oneDomainBoots) + "\n\n"
            s += "setup                console   guest_init_s   wall_s\n"
            for b in oneDomainBoots {
                s += pad(b.setup, 21) + pad(b.console, 10) + pad(f(b.guestInitSeconds), 15) + f(b.wallSeconds, 1) + "\n"
            }
            s += "\nratio                console   apus/native   apus/xen-domU   apus/xen-dom0   apus-dom0/native   apus-dom0/xen-dom0\n"
            for r in ratios {
                s += pad("", 21) + pad(r.console, 10) + pad(f(r.apusOverNative), 14)
                s += pad(f(r.apusOverXenDomU), 16) + pad(f(r.apusOverXenDom0), 16)
                s += pad(f(r.apusDom0OverNative), 19) + f(r.apusDom0OverXenDom0) + "\n"
            }
        }
        if let disk, !disk.isEmpty {
            if !s.isEmpty { s += "\n" }
            s += "Virtio-blk sequential read of \(DiskBenchmark.mib) MiB in dom0 (dd bs=1M; 1 CPU, icount: busy guest time = instructions, see DiskBenchmark)\n\n"
            s += "setup                instr_per_MiB   busy_s     read_wall_s   run_wall_s   vs native   vs xen-dom0\n"
            let native = disk.first { $0.setup == "linux-native" }?.busySeconds
            let xenDom0 = disk.first { $0.setup == "xen-dom0" }?.busySeconds
            for d in disk {
                s += pad(d.setup, 21) + pad(d.instructionsPerMiB.map { String(format: "%.0f", $0) } ?? "-", 16)
                s += pad(f(d.busySeconds, 4), 11) + pad(f(d.readWallSeconds, 2), 14) + pad(f(d.wallSeconds, 1), 13)
                s += pad(f(d.busySeconds.flatMap { g in native.map { g / $0 } }), 12) + f(d.busySeconds.flatMap { g in xenDom0.map { g / $0 } }) + "\n"
            }
        }
        if let toolstack, !toolstack.isEmpty {
            if !s.isEmpty { s += "\n" }
            s += ToolstackBenchmark.table(toolstack, format: f, pad: pad)
        }
        if let pv, !pv.isEmpty {
            if !s.isEmpty { s += "\n" }
            s += PVBenchmark.table(pv, format: f, pad: pad)
        }
        if !twoDomainBoots.isEmpty {
            if !s.isEmpty { s += "\n" }
            s += "Two Linux domains (256 MiB, 1 vCPU each, quiet console): \"Run /init\" of each (guest seconds)" + wallNote(twoDomainBoots, fastest: true) + "\n\n"
            s += "setup                          board            guest_init_s   wall_s   fastest_s   per domain\n"
            for b in twoDomainBoots {
                let board = b.setup.hasSuffix("-1cpu") ? "1 CPU, icount" : b.setup.hasSuffix("-noicount") ? "2 CPUs, real time" : "2 CPUs, icount"
                s += pad(b.setup, 31) + pad(board, 17) + pad(f(b.guestInitSeconds), 15) + pad(f(b.wallSeconds, 1), 9)
                s += pad(f(b.fastestWallSeconds, 1), 12)
                s += (b.domainInitSeconds ?? []).map { f($0) }.joined(separator: ", ") + "\n"
            }
            s += "xen-dom0less-2domU             2 CPUs, icount   not run: Xen 4.17 hangs at boot with 2+ CPUs under icount\n"
            for r in twoDomainRatios {
                s += "apus/xen, " + pad(r.board + ":", 22) + "guest time " + f(r.apusOverXenGuestTime) + ", wall " + f(r.apusOverXenWall, 3)
                s += " (fastest runs " + f(r.apusOverXenWallFastest, 3) + ")\n"
            }
        }
        if let micro {
            if !s.isEmpty { s += "\n" }
            s += "Micro-benchmarks (instructions, icount; bare-metal guests, 1 CPU)\n\n"
            s += "benchmark              apus        xen 4.17    apus/xen   note\n"
            for r in micro {
                var note: [String] = []
                if let n = r.apusNote { note.append("apus: " + n) }
                if let n = r.xenNote { note.append("xen: " + n) }
                s += pad(r.benchmark, 23) + pad(f(r.apus, 1), 12) + pad(f(r.xen, 1), 12) + pad(f(r.apusOverXen, 3), 11)
                s += note.joined(separator: "; ") + "\n"
            }
        }
        if let hostile {
            if !s.isEmpty { s += "\n" }
            s += "Hostile run (guests/hostile, 2 vCPUs, next to guests/memcheck; 2 CPUs, no icount)\n\n"
            s += "setup   ops        done       violations   hostile   wall_s    neighbour alive   memcheck passes   panic\n"
            for h in hostile {
                s += pad(h.setup, 8) + pad(String(h.ops), 11) + pad(h.opsDone.map(String.init) ?? "-", 11)
                let verdict = h.hostile.hasPrefix("FAIL") ? "FAIL" : h.hostile
                s += pad(h.violations.map(String.init) ?? "-", 13) + pad(verdict, 10) + pad(f(h.wallSeconds, 1), 10)
                s += pad(h.neighbourAlive ? "yes" : "no", 18) + pad(String(h.neighbourPasses), 18) + (h.hypervisorPanic ? "yes" : "no") + "\n"
            }
            for h in hostile where h.hostile.hasPrefix("FAIL") { s += h.setup + ": hostile " + h.hostile + "\n" }
            s += "\n" + lockTable()
        }
        if let neighbour {
            if !s.isEmpty { s += "\n" }
            s += neighbourTable(neighbour)
        }
        if let xenMissing { s += (s.isEmpty ? "" : "\n") + "xen: " + xenMissing + "\n" }
        if !s.isEmpty { s += "\n" }
        s += "image size: apus \(apusImageBytes) bytes"
        if let x = xenImageBytes { s += ", xen 4.17 \(x) bytes (apus/xen \(f(Double(apusImageBytes) / Double(x), 3)))" }
        return s
    }
}
