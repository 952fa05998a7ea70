import Foundation

/// Sequential read of a virtio-blk disk by Debian's Linux (`dd if=/dev/vda of=/dev/null bs=1M`):
/// Linux alone, as Apus's dom0 and as Xen 4.17's dom0, the same kernel and initrd-xen
/// (`apus.ddbench=N`: load the modules, read N MiB, print `DDBENCH mib=N start=T0 end=T1
/// idlestart=I0 idleend=I1`, ns from /proc/timer_list, power off), one after the other in one run,
/// each under `-icount shift=0,sleep=off` with one CPU.
///
/// The figure is the guest's busy time, (T1 - T0) - (I1 - I0), I being CPU 0's idle plus
/// I/O-wait time: under icount a nanosecond is
/// an instruction, and while the CPU waits for the disk QEMU moves the clock on to the next
/// timer deadline at once, which lands in the idle time. Busy time is therefore the
/// instructions the CPU ran during the read, the hypervisor's included (the guest sees its
/// trap time as its own), and does not depend on how fast the host serves the file. The
/// elapsed guest time (T1 - T0) is not a measure of anything under icount (it is mostly
/// timer deadlines: Linux alone read 256 MiB in 612-855 "guest seconds"); the read's real
/// time, between the `DDBENCH-START` line and the result in the console log, is given too.
struct DiskMeasurement: Codable {
    var setup: String
    var mib: Int
    /// Guest busy seconds during the read (= instructions / 1e9 under icount); nil when the
    /// guest never printed its line.
    var busySeconds: Double?
    /// The read's real time (host clock, from the two console lines; ±0.05 s).
    var readWallSeconds: Double?
    /// The whole run's real time (boot included).
    var wallSeconds: Double
    /// Every run's busy seconds, when there were several.
    var runs: [Double]? = nil
    /// Instructions per MiB read.
    var instructionsPerMiB: Double? { busySeconds.map { $0 * 1e9 / Double(mib) } }
}

enum DiskBenchmark {
    static let mib = 256

    /// The three setups; `disk` is a file of at least `mib` MiB.
    static func setups(_ s: BenchSetups, initrd: String, disk: String) -> [BenchSetups.Setup] {
        let args = "quiet apus.dom0 apus.ddbench=\(mib)"
        let drive = ["-drive", "if=none,id=d0,format=raw,readonly=on,file=\(disk)", "-device", "virtio-blk-device,drive=d0"]
        let native = BenchSetups.Setup(name: "linux-native", argv: [s.qemu, "-M", "virt,gic-version=3", "-cpu", "cortex-a57", "-m", "512"]
            + BenchSetups.plain + BenchSetups.icount + drive
            + ["-kernel", s.kernel, "-initrd", initrd, "-append", "console=ttyAMA0 " + args])
        return [native] + s.dom0(initrd: initrd, args: args, disk: disk)
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
        var readStart: Date? = nil, readWall: Double? = nil
        let text = ConsoleRun.run(argv: setup.argv, log: log, timeout: timeout, poll: 0.05) { text in
            if readStart == nil && text.contains("DDBENCH-START") { readStart = Date() }
            guard result(in: text) != nil else { return false }
            readWall = readStart.map { Date().timeIntervalSince($0) }
            return true
        }
        return DiskMeasurement(setup: setup.name, mib: mib, busySeconds: result(in: text), readWallSeconds: readWall,
                               wallSeconds: Date().timeIntervalSince(t0))
    }

    /// The run with the median busy time (a failed run makes the setup count as failed).
    static func median(_ runs: [DiskMeasurement]) -> DiskMeasurement {
        guard var m = runs.sorted(by: { ($0.busySeconds ?? .infinity) < ($1.busySeconds ?? .infinity) })
                .dropFirst(runs.count / 2).first else {
            return DiskMeasurement(setup: "?", mib: mib, busySeconds: nil, readWallSeconds: nil, wallSeconds: 0)
        }
        if runs.contains(where: { $0.busySeconds == nil }) { m.busySeconds = nil }
        m.runs = runs.compactMap(\.busySeconds)
        return m
    }

    /// (end - start) - (idleend - idlestart) of the `DDBENCH mib=N ...` line: busy seconds.
    static func result(in text: String) -> Double? {
        guard let line = text.split(whereSeparator: { $0.isNewline }).first(where: { $0.contains("DDBENCH mib=") }) else { return nil }
        func field(_ name: String) -> Double? {
            guard let r = line.range(of: " " + name + "=") else { return nil }
            return Double(line[r.upperBound...].prefix { $0.isNumber || $0 == "." })
        }
        guard let a = field("start"), let b = field("end"), let i0 = field("idlestart"), let i1 = field("idleend") else { return nil }
        return max(0, (b - a) - (i1 - i0)) / 1e9                     // ns (/proc/timer_list)
    }
}
