import Foundation

/// Sequential read of a virtio-blk disk by Debian's Linux (`dd if=/dev/vda of=/dev/null bs=1M`):
/// Linux alone, as Apus's dom0 and as Xen 4.17's dom0, the same kernel and initrd-xen
/// (`apus.ddbench=N`: load the modules, read N MiB, print `DDBENCH mib=N start=T0 end=T1`
/// from /proc/uptime, power off), one after the other in one run.
///
/// Not under icount: a guest waiting for I/O idles, and with `-icount sleep=off` QEMU then
/// moves the virtual clock on to the next timer deadline at once, so the read's guest time
/// measures timer deadlines, not work (Linux alone read 256 MiB in 612-855 "guest seconds",
/// both dom0s in 0.43). The guest's clock follows the host's here: the read's guest seconds
/// are its real duration, host noise included.
struct DiskMeasurement: Codable {
    var setup: String
    var mib: Int
    /// Guest seconds the read took (nil when the guest never printed its line).
    var guestSeconds: Double?
    var wallSeconds: Double
    /// Every run's guest seconds, when there were several.
    var runs: [Double]? = nil
    /// MiB per guest second.
    var mibPerSecond: Double? { guestSeconds.flatMap { $0 > 0 ? Double(mib) / $0 : nil } }
}

enum DiskBenchmark {
    static let mib = 256

    /// The three setups; `disk` is a file of at least `mib` MiB.
    static func setups(_ s: BenchSetups, initrd: String, disk: String) -> [BenchSetups.Setup] {
        let args = "quiet apus.dom0 apus.ddbench=\(mib)"
        let drive = ["-drive", "if=none,id=d0,format=raw,readonly=on,file=\(disk)", "-device", "virtio-blk-device,drive=d0"]
        var out: [BenchSetups.Setup] = []
        out.append(.init(name: "linux-native", argv: [s.qemu, "-M", "virt,gic-version=3", "-cpu", "cortex-a57", "-m", "512"]
            + BenchSetups.plain + drive
            + ["-kernel", s.kernel, "-initrd", initrd, "-append", "console=ttyAMA0 " + args]))
        out.append(.init(name: "apus-dom0", argv: [s.apus, "run", "--cpus", "1", "--memory", "1024",
                                                    "--image", s.image, "--timeout", "900",
                                                    "--dom0-kernel", s.kernel, "--dom0-ramdisk", initrd, "--dom0-memory", "512",
                                                    "--dom0-cmdline", "console=hvc0 " + args, "--disk", disk + ",ro"]))
        if let xen = s.xen {
            out.append(.init(name: "xen-dom0", argv: [s.qemu, "-M", "virt,virtualization=on,gic-version=3", "-cpu", "cortex-a57",
                                                       "-m", "1024"] + BenchSetups.plain + drive
                + ["-kernel", xen, "-append", "dom0_mem=512M console=dtuart dtuart=/pl011@9000000",
                   "-device", "guest-loader,addr=0x49000000,kernel=\(s.kernel),bootargs=console=hvc0 \(args)",
                   "-device", "guest-loader,addr=0x50000000,initrd=\(initrd)"]))
        }
        return out
    }

    /// A sparse file of `mib` MiB (QEMU reads its holes as zeros, at host speed).
    static func disk(in work: String) throws -> String {
        let path = work + "/ddbench.img"
        FileManager.default.createFile(atPath: path, contents: nil)
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try h.truncate(atOffset: UInt64(mib) << 20)
        try h.close()
        return path
    }

    static func measure(_ setup: BenchSetups.Setup, log: String, timeout: Double = 900) -> DiskMeasurement {
        let t0 = Date()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: setup.argv[0])
        p.arguments = Array(setup.argv.dropFirst())
        FileManager.default.createFile(atPath: log, contents: nil)
        let out = FileHandle(forWritingAtPath: log)!
        p.standardOutput = out
        p.standardError = out
        p.standardInput = FileHandle.nullDevice
        var m = DiskMeasurement(setup: setup.name, mib: mib, guestSeconds: nil, wallSeconds: 0)
        do { try p.run() } catch { return m }
        while p.isRunning && Date().timeIntervalSince(t0) < timeout {
            Thread.sleep(forTimeInterval: 0.2)
            if result(in: log) != nil { break }
        }
        if p.isRunning { Thread.sleep(forTimeInterval: 0.3); p.terminate() }
        p.waitUntilExit()
        try? out.close()
        m.guestSeconds = result(in: log)
        m.wallSeconds = Date().timeIntervalSince(t0)
        return m
    }

    /// The run with the median read time (a failed run makes the setup count as failed).
    static func median(_ runs: [DiskMeasurement]) -> DiskMeasurement {
        guard var m = runs.sorted(by: { ($0.guestSeconds ?? .infinity) < ($1.guestSeconds ?? .infinity) })
                .dropFirst(runs.count / 2).first else {
            return DiskMeasurement(setup: "?", mib: mib, guestSeconds: nil, wallSeconds: 0)
        }
        if runs.contains(where: { $0.guestSeconds == nil }) { m.guestSeconds = nil }
        m.runs = runs.compactMap(\.guestSeconds)
        return m
    }

    /// end - start of the `DDBENCH mib=N start=T0 end=T1` line.
    static func result(in log: String) -> Double? {
        guard let text = try? String(contentsOfFile: log, encoding: .utf8),
              let line = text.split(whereSeparator: { $0.isNewline }).first(where: { $0.contains("DDBENCH mib=") }) else { return nil }
        func field(_ name: String) -> Double? {
            guard let r = line.range(of: name + "=") else { return nil }
            return Double(line[r.upperBound...].prefix { $0.isNumber || $0 == "." })
        }
        guard let a = field("start"), let b = field("end") else { return nil }
        return b - a
    }
}
