import Foundation

/// Micro-benchmarks measured by the bare-metal guests themselves (guests/nullcall, vtlat,
/// evtping, ctxswitch), each under Apus and under Xen 4.17 dom0less, in QEMU with
/// `-icount shift=0,sleep=off`: one nanosecond of guest time is then one instruction, and each
/// guest prints `BENCH <name> <instructions per iteration>`.
struct MicroCase {
    /// The guest image (guests/<guest>).
    var guest: String
    /// One entry per domain: its bootargs (domain ids are 1, 2, ... in this order on both).
    var domains: [String]
    /// The `BENCH` names this case prints.
    var metrics: [String]
    /// Physical CPUs of the board.
    var boardCPUs = 1
    /// Extra Xen command line.
    var xenArgs = ""

    /// The cases of `apus bench`. Every one runs on a one-CPU board: the two-domain ones then
    /// measure switching that CPU between domains, and Xen 4.17 does not boot on two CPUs under
    /// icount anyway (see BenchSetups.twoDomains).
    static let all: [MicroCase] = [
        MicroCase(guest: "nullcall", domains: [""], metrics: ["nullcall"]),
        MicroCase(guest: "vtlat", domains: [""], metrics: ["vtimer-latency-wfi", "vtimer-latency-spin"]),
        // Debian's Xen boots with XSM SILO, which forbids event channels between two domUs.
        MicroCase(guest: "evtping", domains: ["evtping=a peer=2", "evtping=b peer=1"], metrics: ["evtping"],
                  xenArgs: "xsm=dummy"),
        MicroCase(guest: "evtping", domains: ["evtping=a peer=2 wait=irq", "evtping=b peer=1 wait=irq"],
                  metrics: ["evtping-irq"], xenArgs: "xsm=dummy"),
        MicroCase(guest: "ctxswitch", domains: ["ctx=a", "ctx=b"], metrics: ["yield", "ctxswitch"]),
    ]
}

/// One micro-benchmark figure, Apus next to Xen.
struct MicroRow: Codable {
    var benchmark: String
    /// Instructions per iteration (nil: no figure; the note says why).
    var apus: Double?
    var xen: Double?
    var apusOverXen: Double?
    var apusNote: String?
    var xenNote: String?
}

/// What one run printed: the BENCH figures, their notes (the rest of the line) and a reason
/// when something failed.
struct MicroRun {
    var values: [String: Double] = [:]
    var notes: [String: String] = [:]
    var failure: String?
    var wallSeconds = 0.0
}

enum MicroBenchmark {
    /// Runs argv until every metric was printed and every domain gave its verdict (or QEMU
    /// ended, or the timeout), then reads the figures from the console log.
    static func run(argv: [String], log: String, metrics: [String], domains: Int, timeout: Double = 180) -> MicroRun {
        let t0 = Date()
        var result = MicroRun()
        let text = ConsoleRun.run(argv: argv, log: log, timeout: timeout) { text in
            // Each domain prints its figures before its verdict.
            let lines = text.split(whereSeparator: \.isNewline)
            let verdicts = lines.filter { $0.contains("TEST PASS") || $0.contains("TEST FAIL") }.count
            return verdicts >= domains || lines.contains { $0.contains("Apus PANIC") }
        }
        result.wallSeconds = Date().timeIntervalSince(t0)
        let lines = text.split(whereSeparator: \.isNewline)
        let parsed = parse(lines)
        result.values = parsed.values
        result.notes = parsed.notes
        if let fail = lines.first(where: { $0.contains("TEST FAIL") }) {
            result.failure = String(fail[fail.range(of: "TEST FAIL")!.lowerBound...]).trimmingCharacters(in: .whitespacesAndNewlines)
        } else if lines.contains(where: { $0.contains("Apus PANIC") }) {
            result.failure = "hypervisor panic"
        } else if !metrics.allSatisfy({ result.values[$0] != nil }) {
            result.failure = ConsoleRun.lastGuestWords(lines) ?? "no result within \(Int(timeout)) s"
        }
        return result
    }

    /// "BENCH <name> <value> [note]" anywhere in a line (Apus prefixes "(dN) ", Xen "(XEN) DOMN: ").
    static func parse(_ lines: [Substring]) -> (values: [String: Double], notes: [String: String]) {
        var values: [String: Double] = [:], notes: [String: String] = [:]
        for line in lines {
            guard let r = line.range(of: "BENCH ") else { continue }
            let words = line[r.upperBound...].replacingOccurrences(of: "\r", with: "").split(separator: " ")
            guard words.count >= 2, let v = Double(words[1]), values[String(words[0])] == nil else { continue }
            values[String(words[0])] = v
            if words.count > 2 { notes[String(words[0])] = words[2...].joined(separator: " ") }
        }
        return (values, notes)
    }

    /// A note for a figure: what the guest added to its BENCH line, made readable.
    static func describe(_ note: String?) -> String? {
        guard let note else { return nil }
        if note == "rc=0xffffffffffffffda" { return "-ENOSYS path (no xen_version yet)" }
        if note == "rc=0x40011" { return nil }       // Xen 4.17's answer: nothing to say
        return note
    }
}

/// Runs a command with its console in a log file until `done` says so.
enum ConsoleRun {
    /// Returns the console text. The process is stopped (SIGTERM, which `apus run` passes to QEMU)
    /// when `done` returns true or the timeout passes.
    @discardableResult
    static func run(argv: [String], log: String, timeout: Double, poll: Double = 0.2,
                    done: (String) -> Bool) -> String {
        let t0 = Date()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: argv[0])
        p.arguments = Array(argv.dropFirst())
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        guard let out = FileHandle(forWritingAtPath: log) else { return "" }
        p.standardOutput = out
        p.standardError = out
        p.standardInput = FileHandle.nullDevice
        do { try p.run() } catch { return "" }
        while p.isRunning && Date().timeIntervalSince(t0) < timeout {
            Thread.sleep(forTimeInterval: poll)
            if done(read(log)) { break }
        }
        if p.isRunning {
            Thread.sleep(forTimeInterval: 0.3)
            p.terminate()
        }
        p.waitUntilExit()
        try? out.close()
        return read(log)
    }

    static func read(_ path: String) -> String {
        String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self)
    }

    /// The last line a guest printed, to explain a missing figure.
    static func lastGuestWords(_ lines: [Substring]) -> String? {
        lines.last { $0.hasPrefix("(d") || $0.contains("DOM") }
            .map { "stopped after: " + $0.replacingOccurrences(of: "\r", with: "").trimmingCharacters(in: .whitespaces) }
    }
}
