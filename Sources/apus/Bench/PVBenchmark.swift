import Foundation

/// PV disk and network throughput (issue 13) of a Debian domU served by dom0's xen-blkback
/// and xen-netback, on Apus and on Xen 4.17: the same dom0 (kernel and initrd-xen,
/// `apus.xl apus.pvbench=K:I`) and the same domU (Debian's kernel and initrd-xen, 192 MiB,
/// 1 vCPU) from a virtio disk; one CPU under `-icount shift=0,sleep=off`.
///
/// The domU's PV disk is a 64 MiB raw file in dom0's RAM (tmpfs, through a loop device), so
/// no host I/O is timed: under icount an idle board waiting for QEMU's disk thread would let
/// the clock jump to the next timer deadline (see DiskBenchmark). The domU times, on its own
/// clock, a 64 MiB sequential read and a 64 MiB write (`conv=fsync`) of `/dev/xvda` and a
/// 64 MiB HTTP fetch from dom0 over its vif; dom0 times a 32 MiB fetch from the domU (its
/// root is a tmpfs of half its RAM). Dom0 prints `PVBENCH mib=64 upmib=32 read=NS write=NS
/// down=NS up=NS`. With one CPU, a guest ns is an
/// instruction of whoever runs (dom0, the domU or the hypervisor): ns per MiB is the
/// board's instructions per MiB moved, and MiB/s is per guest second.
struct PVMeasurement: Codable {
    var setup: String
    var mib: Int?
    /// domU -> dom0 moves less: the domU serves it from its RAM.
    var upMiB: Int?
    var readSeconds: Double?
    var writeSeconds: Double?
    /// dom0 -> domU and domU -> dom0 over the bridge.
    var downSeconds: Double?
    var upSeconds: Double?
    var wallSeconds: Double

    func rate(_ s: Double?, mib m: Int? = nil) -> Double? { s.flatMap { $0 > 0 ? Double(m ?? mib ?? 0) / $0 : nil } }
    var upRate: Double? { rate(upSeconds, mib: upMiB) }
}

enum PVBenchmark {
    static func setups(_ s: BenchSetups, dom0Initrd: String, disk: (path: String, arg: String)) -> [BenchSetups.Setup] {
        s.dom0(initrd: dom0Initrd, args: "quiet apus.dom0 apus.xl apus.pvbench=\(disk.arg)", disk: disk.path)
    }

    static func measure(_ setup: BenchSetups.Setup, log: String, timeout: Double = 1200) -> PVMeasurement {
        let t0 = Date()
        let text = ConsoleRun.run(argv: setup.argv, log: log, timeout: timeout, poll: 0.1) { text in
            text.contains("PVBENCH mib=") || text.contains("PVBENCH-FAILED") || text.contains("XENTEST end")
        }
        var m = PVMeasurement(setup: setup.name, wallSeconds: Date().timeIntervalSince(t0))
        guard let line = text.split(whereSeparator: { $0.isNewline }).first(where: { $0.contains("PVBENCH mib=") }) else { return m }
        // Every field follows a space ("PVBENCH mib=64 upmib=32 read=...").
        func field(_ name: String) -> Double? { NeighbourBenchmark.number(after: " \(name)=", in: String(line)) }
        m.mib = field("mib").map { Int($0) }
        m.upMiB = field("upmib").map { Int($0) }
        m.readSeconds = field("read").map { $0 / 1e9 }
        m.writeSeconds = field("write").map { $0 / 1e9 }
        m.downSeconds = field("down").map { $0 / 1e9 }
        m.upSeconds = field("up").map { $0 / 1e9 }
        return m
    }

    static func table(_ rows: [PVMeasurement], format f: (Double?, Int) -> String, pad: (String, Int) -> String) -> String {
        var s = "PV disk and network of a Debian domU (192 MiB, 1 vCPU) served by dom0's blkback and netback (1 CPU, icount: MiB per guest second, see PVBenchmark)\n\n"
        s += "setup        disk_read   disk_write   net_dom0_to_domU   net_domU_to_dom0   run_wall_s\n"
        for r in rows {
            s += pad(r.setup, 13) + pad(f(r.rate(r.readSeconds), 1), 12) + pad(f(r.rate(r.writeSeconds), 1), 13)
            s += pad(f(r.rate(r.downSeconds), 1), 19) + pad(f(r.upRate, 1), 19) + f(r.wallSeconds, 1) + "\n"
        }
        if let a = rows.first(where: { $0.setup == "apus-dom0" }), let x = rows.first(where: { $0.setup == "xen-dom0" }) {
            func ratio(_ p: Double?, _ q: Double?) -> String { f(p.flatMap { p in q.map { p / $0 } }, 2) }
            s += "apus/xen throughput (goal >= 1.2): disk read \(ratio(a.rate(a.readSeconds), x.rate(x.readSeconds))), "
            s += "disk write \(ratio(a.rate(a.writeSeconds), x.rate(x.writeSeconds))), "
            s += "dom0 to domU \(ratio(a.rate(a.downSeconds), x.rate(x.downSeconds))), "
            s += "domU to dom0 \(ratio(a.upRate, x.upRate))\n"
        }
        return s
    }
}
