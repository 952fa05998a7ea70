import Foundation

/// `xl create` and `xl destroy` of a Debian domU by Debian's toolstack in dom0, on Apus and
/// on Xen 4.17, the same dom0 (kernel and initrd-xen, `apus.xl apus.xlbench=K:I`) and the
/// same domU (Debian's kernel and the test initrd, 128 MiB, 1 vCPU, quiet console) read
/// from a virtio disk; one CPU under `-icount shift=0,sleep=off`.
///
/// Dom0 prints `XLBENCH create=NS up=NS destroy=NS free0=MiB free1=MiB`: guest ns on its own
/// clock from the start of `xl create` until it returns (the build: createdomain, memory,
/// loading, unpause) and until the domU's /init has printed its first line (read from
/// xenconsoled's log every 10 ms), then from `xl destroy` until `xl list` no longer has
/// it; `xl info`'s free memory before and while the domU ran. Under icount a guest ns is an
/// instruction while a CPU runs, and idle time (dom0's polling sleeps, the domU's timer
/// waits) is skipped to the next deadline, the same on both. The real time between the
/// `XLBENCH-START` and `XLBENCH-UP` console lines is given too.
struct ToolstackMeasurement: Codable {
    var setup: String
    var createSeconds: Double?
    var upSeconds: Double?
    var destroySeconds: Double?
    /// free_memory (MiB) lost while the 128 MiB domU ran, minus its 128 MiB: what else the
    /// domain took from the board's free memory (on both, the hypervisor's memory for it
    /// comes out of the same free pages: Xen's heap and p2m pool, Apus's heap growing by
    /// 2 MiB chunks, so one domain reads 0 or 2 there).
    var overheadMiB: Int?
    /// The hypervisor's memory per domain: free_memory lost with four paused 64 MiB domains
    /// built by xl, less their 256 MiB, divided by four.
    var perDomainMiB: Double?
    var upWallSeconds: Double?
    var wallSeconds: Double
}

enum ToolstackBenchmark {
    /// A raw disk: the kernel at 0, the initrd at the next MiB (`apus.xlbench=K:I`).
    static func disk(in work: String, kernel: String, initrd: String, name: String = "xlbench.img") throws -> (path: String, arg: String) {
        let k = try Data(contentsOf: URL(fileURLWithPath: kernel)), i = try Data(contentsOf: URL(fileURLWithPath: initrd))
        let at = (k.count + (1 << 20) - 1) & ~((1 << 20) - 1)
        var d = k + Data(count: at - k.count) + i
        d += Data(count: (1 << 20) - d.count % (1 << 20))
        let path = work + "/" + name
        try d.write(to: URL(fileURLWithPath: path))
        return (path, "\(k.count):\(i.count)")
    }

    static func setups(_ s: BenchSetups, dom0Initrd: String, disk: (path: String, arg: String)) -> [BenchSetups.Setup] {
        s.dom0(initrd: dom0Initrd, args: "quiet apus.dom0 apus.xl apus.xlbench=\(disk.arg)", disk: disk.path)
    }

    static func measure(_ setup: BenchSetups.Setup, log: String, timeout: Double = 900) -> ToolstackMeasurement {
        let t0 = Date()
        var start: Date? = nil, upWall: Double? = nil
        let text = ConsoleRun.run(argv: setup.argv, log: log, timeout: timeout, poll: 0.05) { text in
            if start == nil && text.contains("XLBENCH-START") { start = Date() }
            if upWall == nil && text.contains("XLBENCH-UP") { upWall = start.map { Date().timeIntervalSince($0) } }
            return text.contains("XLBENCH create=") || text.contains("XENTEST end")
        }
        var m = ToolstackMeasurement(setup: setup.name, upWallSeconds: upWall, wallSeconds: Date().timeIntervalSince(t0))
        guard let line = text.split(whereSeparator: { $0.isNewline }).first(where: { $0.contains("XLBENCH create=") }) else { return m }
        func field(_ name: String) -> Double? {
            guard let r = line.range(of: " " + name + "=") ?? line.range(of: name + "=") else { return nil }
            return Double(line[r.upperBound...].prefix { $0.isNumber })
        }
        m.createSeconds = field("create").map { $0 / 1e9 }
        m.upSeconds = field("up").map { $0 / 1e9 }
        m.destroySeconds = field("destroy").map { $0 / 1e9 }
        if let a = field("free0"), let b = field("free1") { m.overheadMiB = Int(a - b) - 128 }
        if let a = field("free0"), let c = field("free2") { m.perDomainMiB = (a - c - 256) / 4 }
        return m
    }

    /// The run with the median time to /init (a failed run makes the setup count as failed).
    static func median(_ runs: [ToolstackMeasurement]) -> ToolstackMeasurement {
        guard var m = runs.sorted(by: { ($0.upSeconds ?? .infinity) < ($1.upSeconds ?? .infinity) })
                .dropFirst(runs.count / 2).first else {
            return ToolstackMeasurement(setup: "?", wallSeconds: 0)
        }
        if runs.contains(where: { $0.upSeconds == nil }) { m.upSeconds = nil }
        return m
    }

    static func table(_ rows: [ToolstackMeasurement], format f: (Double?, Int) -> String, pad: (String, Int) -> String) -> String {
        var s = "xl create / xl destroy of a Debian domU (128 MiB, 1 vCPU) by Debian's toolstack in dom0 (1 CPU, icount: guest seconds on dom0's clock, see ToolstackBenchmark)\n\n"
        s += "setup        create_s   to_init_s   destroy_s   overhead_MiB   hv_MiB_per_domain   to_init_wall_s   run_wall_s\n"
        for r in rows {
            s += pad(r.setup, 13) + pad(f(r.createSeconds, 3), 11) + pad(f(r.upSeconds, 3), 12) + pad(f(r.destroySeconds, 3), 12)
            s += pad(r.overheadMiB.map(String.init) ?? "-", 15) + pad(f(r.perDomainMiB, 2), 20)
            s += pad(f(r.upWallSeconds, 2), 17) + f(r.wallSeconds, 1) + "\n"
        }
        if let a = rows.first(where: { $0.setup == "apus-dom0" }), let x = rows.first(where: { $0.setup == "xen-dom0" }) {
            func ratio(_ p: Double?, _ q: Double?) -> String { f(p.flatMap { p in q.map { p / $0 } }, 3) }
            s += "apus/xen: create \(ratio(a.createSeconds, x.createSeconds)), to init \(ratio(a.upSeconds, x.upSeconds)), "
            s += "destroy \(ratio(a.destroySeconds, x.destroySeconds)), hypervisor memory per domain \(ratio(a.perDomainMiB, x.perDomainMiB)), "
            s += "to init wall \(ratio(a.upWallSeconds, x.upWallSeconds))\n"
        }
        return s
    }
}
