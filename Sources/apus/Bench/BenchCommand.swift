import ApusCore
import ArgumentParser
import Foundation

/// `apus bench`: the Debian guest's boot cost under Apus, next to the same guest with
/// no hypervisor and under Debian's Xen 4.17, all in the same QEMU with
/// `-icount shift=0,sleep=off`, in one run. Prints a table, or JSON with --json.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure Apus against Linux alone and Xen 4.17 (guest boot to userspace, image size).")

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @Option(help: "Console modes to measure: quiet, verbose or both.")
    var console: String = "both"

    @Flag(name: .customLong("no-xen"), help: "Skip the Xen 4.17 runs (they need Debian's xen-hypervisor package).")
    var noXen = false

    func run() throws {
        try Apus.reporting {
            let root = try PackageRoot.find()
            let qemu = try QEMU.find()
            let log: (String) -> Void = { if !json { FileHandle.standardError.write(Data(($0 + "\n").utf8)) } }
            let guest = try GuestImages.fetch(cacheDir: root + "/.cache/guest", log: log)
            let xen = noXen ? nil : try GuestImages.fetchXen(cacheDir: root + "/.cache/guest", log: log)
            let build = ImageBuild(root: root)
            try build.run(quiet: true)
            let work = root + "/.cache/bench"
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)

            let setups = BenchSetups(qemu: qemu, apus: CommandLine.arguments[0], image: build.imagePath,
                                     kernel: guest.image, initrd: guest.initrdBench, xen: xen, work: work)
            var results: [BootMeasurement] = []
            let modes = console == "both" ? ["quiet", "verbose"] : [console]
            for mode in modes {
                let args = "console=ttyAMA0 panic=-1" + (mode == "quiet" ? " quiet" : "")
                for s in try setups.all(bootargs: args) {
                    log("[bench] \(s.name), \(mode) console…")
                    results.append(BootBenchmark.measure(setup: s.name, console: mode, argv: s.argv,
                                                         log: work + "/\(s.name)-\(mode).log"))
                }
            }
            // Two domains side by side on a 2-CPU board (256 MiB, 1 vCPU each), as Xen dom0less domUs.
            let two = "console=ttyAMA0 panic=-1 quiet"
            for s in try setups.twoDomains(bootargs: two) {
                log("[bench] \(s.name), two domains…")
                results.append(BootBenchmark.measure(setup: s.name, console: "quiet", argv: s.argv,
                                                     log: work + "/\(s.name).log", domains: 2))
            }
            let report = BenchReport(boots: results, apusImageBytes: fileSize(build.imagePath),
                                     xenImageBytes: xen.map(fileSize))
            print(json ? report.json() : report.table())
        }
    }

    func fileSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
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
        s.append(Setup(name: "apus-2domU", argv: [apus, "run", "--icount", "--cpus", "2", "--memory", "2048",
                                                  "--image", image, "--timeout", "600"] + cfgs))
        if let xen {
            s.append(Setup(name: "xen-dom0less-2domU", argv: try xenDom0less(xen: xen, bootargs: bootargs, domains: 2)))
        }
        return s
    }

    /// Xen booting dom0less domUs and no dom0, the closest match to Apus domains
    /// (vPL011 console, no PV drivers). The boot DTB is QEMU's plus Xen's /chosen nodes.
    func xenDom0less(xen: String, bootargs: String, domains: Int = 1) throws -> [String] {
        let cpus = String(domains), mem = domains > 1 ? "2048" : "1024"
        let machine = ["-M", "virt,virtualization=on,gic-version=3", "-cpu", "cortex-a57", "-smp", cpus, "-m", mem]
        let dump = work + "/xen-virt.dtb"
        let dumpArgs = ["-M", "virt,virtualization=on,gic-version=3,dumpdtb=" + dump, "-cpu", "cortex-a57", "-smp", cpus, "-m", mem,
                        "-display", "none", "-nic", "none", "-serial", "none", "-monitor", "none"]
        let p = Process()
        p.executableURL = URL(fileURLWithPath: qemu)
        p.arguments = dumpArgs
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run(); p.waitUntilExit()
        var dt = try DeviceTree.parse([UInt8](FileManager.default.contents(atPath: dump) ?? Data()))
        let kernelSize = UInt64(try FileManager.default.attributesOfItem(atPath: kernel)[.size] as! NSNumber as! Int)
        let initrdSize = UInt64(try FileManager.default.attributesOfItem(atPath: initrd)[.size] as! NSNumber as! Int)
        var loaders: [String] = []
        var nodes: [DTNode] = []
        for i in 0..<domains {
            // One copy of the modules per domain, as Xen's own dom0less tests lay them out
            // (shared module ranges make Xen 4.17 stall at boot).
            let kAddr: UInt64 = 0x5000_0000 + UInt64(i) * 0x400_0000, iAddr = kAddr + 0x200_0000
            loaders += ["-device", "loader,file=\(kernel),addr=0x\(String(kAddr, radix: 16)),force-raw=on",
                        "-device", "loader,file=\(initrd),addr=0x\(String(iAddr, radix: 16)),force-raw=on"]
            var domU = DTNode(name: "domU\(i + 1)")
            domU.properties = [
                .strings("compatible", ["xen,domain"]), .u32("#address-cells", 2), .u32("#size-cells", 2),
                .u64("memory", UInt64(domains > 1 ? 256 : 512) * 1024), .u32("cpus", 1), .empty("vpl011"),
            ]
            domU.children = [
                DTNode(name: "module@" + String(kAddr, radix: 16), properties: [
                    .strings("compatible", ["multiboot,kernel", "multiboot,module"]),
                    .cells("reg", [0, UInt32(kAddr), 0, UInt32(kernelSize)]), .string("bootargs", bootargs)]),
                DTNode(name: "module@" + String(iAddr, radix: 16), properties: [
                    .strings("compatible", ["multiboot,ramdisk", "multiboot,module"]),
                    .cells("reg", [0, UInt32(iAddr), 0, UInt32(initrdSize)])]),
            ]
            nodes.append(domU)
        }
        _ = dt.root.withNode(atPath: "/chosen", creatingMissing: true) { chosen in
            chosen.setProperty(.u32("#address-cells", 2))
            chosen.setProperty(.u32("#size-cells", 2))
            chosen.setProperty(.string("xen,xen-bootargs", "console=dtuart dtuart=/pl011@9000000"))
            for n in nodes { chosen.setChild(n) }
        }
        let out = work + "/xen-dom0less-\(domains).dtb"
        FileManager.default.createFile(atPath: out, contents: Data(dt.serialize()))
        return [qemu] + machine + BenchSetups.plain + BenchSetups.icount + ["-dtb", out, "-kernel", xen] + loaders
    }
}

struct BenchReport: Codable {
    var boots: [BootMeasurement]
    var apusImageBytes: Int
    var xenImageBytes: Int?

    func time(_ setup: String, _ console: String) -> Double? {
        boots.first { $0.setup == setup && $0.console == console }?.guestInitSeconds
    }

    struct Ratio: Codable { var console: String; var apusOverNative: Double?; var apusOverXenDomU: Double?; var apusOverXenDom0: Double? }
    var ratios: [Ratio] {
        Set(boots.map(\.console)).sorted().map { c in
            let a = time("apus-domU", c)
            func r(_ other: String) -> Double? { a.flatMap { x in time(other, c).map { x / $0 } } }
            return Ratio(console: c, apusOverNative: r("linux-native"), apusOverXenDomU: r("xen-dom0less-domU"),
                         apusOverXenDom0: r("xen-dom0"))
        }
    }

    func json() -> String {
        struct Out: Codable { var report: BenchReport; var ratios: [Ratio] }
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: (try? e.encode(Out(report: self, ratios: ratios))) ?? Data(), as: UTF8.self)
    }

    func table() -> String {
        func f(_ v: Double?, _ digits: Int = 4) -> String { v.map { String(format: "%.\(digits)f", $0) } ?? "-" }
        var s = "Guest boot to \"Run /init\" (guest seconds under -icount shift=0,sleep=off; 1 vCPU, 512 MiB)\n\n"
        s += "setup                console   guest_init_s   wall_s\n"
        for b in boots {
            s += b.setup.padding(toLength: 21, withPad: " ", startingAt: 0) + b.console.padding(toLength: 10, withPad: " ", startingAt: 0)
            s += f(b.guestInitSeconds).padding(toLength: 15, withPad: " ", startingAt: 0) + f(b.wallSeconds, 1)
            if let d = b.domainInitSeconds { s += "   per domain: " + d.map { f($0) }.joined(separator: ", ") }
            s += "\n"
        }
        s += "\nratio                console   apus/native   apus/xen-domU   apus/xen-dom0\n"
        for r in ratios {
            s += "".padding(toLength: 21, withPad: " ", startingAt: 0) + r.console.padding(toLength: 10, withPad: " ", startingAt: 0)
            s += f(r.apusOverNative).padding(toLength: 14, withPad: " ", startingAt: 0)
            s += f(r.apusOverXenDomU).padding(toLength: 16, withPad: " ", startingAt: 0) + f(r.apusOverXenDom0) + "\n"
        }
        if let a = boots.first(where: { $0.setup == "apus-2domU" }), let x = boots.first(where: { $0.setup == "xen-dom0less-2domU" }) {
            s += "two domains          quiet     apus/xen guest time \(f(a.guestInitSeconds.flatMap { g in x.guestInitSeconds.map { g / $0 } }))"
            s += ", wall \(f(a.wallSeconds / max(x.wallSeconds, 0.001), 3))\n"
        }
        s += "\nimage size: apus \(apusImageBytes) bytes"
        if let x = xenImageBytes { s += ", xen 4.17 \(x) bytes (apus/xen \(f(Double(apusImageBytes) / Double(x), 3)))" }
        return s
    }
}
