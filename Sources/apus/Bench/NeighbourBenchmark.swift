import Foundation

/// The worst-case virtual-timer latency of a neighbour (guests/vtlat, 1 vCPU, on CPU 1 of a
/// two-CPU board) alone, and while guests/hostile (1 vCPU, on CPU 0) attacks the hypervisor
/// (Apus issue 10: at most 2x alone, and at most Xen's), on Apus and on Xen 4.17 dom0less.
///
/// The board runs without icount: Xen 4.17 does not boot on two CPUs under icount (see
/// BenchSetups.twoDomains), and under icount QEMU runs the CPUs in turn on one thread, so an
/// interrupt due on CPU 1 would wait for CPU 0's turn to end: a latency of QEMU, not of the
/// hypervisor. Figures are therefore nanoseconds of the emulated board's real-time clock, and
/// carry the host's own scheduling noise (the 99th percentile is given next to the maximum).
struct NeighbourRun: Codable {
    /// "apus" or "xen"; "alone" or "hostile".
    var setup: String
    var scenario: String
    /// Per mode ("vtimer-latency-wfi", "vtimer-latency-spin"): the figures vtlat printed.
    var modes: [Mode]
    /// With hostile: it was in its random operations before vtlat took its first sample and
    /// gave no verdict before vtlat's last one (nil when alone).
    var hostileThroughout: Bool? = nil
    /// hostile's operations reported done when vtlat finished (nil when alone).
    var hostileOpsDone: Int? = nil
    var failure: String? = nil
    var wallSeconds = 0.0

    struct Mode: Codable {
        var name: String
        var samples: Int?
        var minNs: Double?, maxNs: Double?, meanNs: Double?, p50Ns: Double?, p99Ns: Double?
    }

    func mode(_ name: String) -> Mode? { modes.first { $0.name == name } }
}

/// One mode's worst case: alone, with hostile, the ratio, on both hypervisors, and the goals.
struct NeighbourRow: Codable {
    var mode: String
    var apusAloneMaxNs: Double?, apusHostileMaxNs: Double?, apusRatio: Double?
    var xenAloneMaxNs: Double?, xenHostileMaxNs: Double?, xenRatio: Double?
    /// Apus with hostile over Xen with hostile.
    var apusOverXen: Double?
    /// The 99th percentiles, for the record (the maxima carry the host's noise).
    var apusAloneP99Ns: Double?, apusHostileP99Ns: Double?, xenAloneP99Ns: Double?, xenHostileP99Ns: Double?
    /// Goals: Apus with hostile at most 2x Apus alone; at most Xen with hostile (nil: no figure).
    var atMostTwiceAlone: Bool?
    var atMostXen: Bool?
}

struct NeighbourReport: Codable {
    var runs: [NeighbourRun]
    var rows: [NeighbourRow]
    var vtlatArgs: String
    var hostileArgs: String

    init(runs: [NeighbourRun], vtlatArgs: String, hostileArgs: String) {
        self.runs = runs
        self.vtlatArgs = vtlatArgs
        self.hostileArgs = hostileArgs
        func run(_ s: String, _ c: String) -> NeighbourRun? {
            runs.first { $0.setup == s && $0.scenario == c && $0.failure == nil }
        }
        func ratio(_ a: Double?, _ b: Double?) -> Double? { a.flatMap { x in b.flatMap { $0 > 0 ? x / $0 : nil } } }
        rows = NeighbourBenchmark.modes.map { m in
            let aa = run("apus", "alone")?.mode(m), ah = run("apus", "hostile")?.mode(m)
            let xa = run("xen", "alone")?.mode(m), xh = run("xen", "hostile")?.mode(m)
            let r = ratio(ah?.maxNs, aa?.maxNs)
            let ax = ratio(ah?.maxNs, xh?.maxNs)
            return NeighbourRow(mode: m, apusAloneMaxNs: aa?.maxNs, apusHostileMaxNs: ah?.maxNs, apusRatio: r,
                                xenAloneMaxNs: xa?.maxNs, xenHostileMaxNs: xh?.maxNs, xenRatio: ratio(xh?.maxNs, xa?.maxNs),
                                apusOverXen: ax, apusAloneP99Ns: aa?.p99Ns, apusHostileP99Ns: ah?.p99Ns,
                                xenAloneP99Ns: xa?.p99Ns, xenHostileP99Ns: xh?.p99Ns,
                                atMostTwiceAlone: r.map { $0 <= 2 }, atMostXen: ax.map { $0 <= 1 })
        }
    }
}

enum NeighbourBenchmark {
    static let modes = ["vtimer-latency-wfi", "vtimer-latency-spin"]

    /// Runs argv until vtlat gave its verdict (or a panic, QEMU's end, the timeout), then
    /// reads the figures. With `hostile`, also checks that hostile attacked throughout.
    static func run(setup: String, scenario: String, argv: [String], log: String, timeout: Double) -> NeighbourRun {
        let t0 = Date()
        let text = ConsoleRun.run(argv: argv, log: log, timeout: timeout, poll: 0.5) { text in
            text.contains("TEST PASS vtlat") || text.contains("TEST FAIL vtlat") || text.contains("Apus PANIC")
        }
        var r = parse(text, setup: setup, scenario: scenario, timeout: timeout)
        r.wallSeconds = Date().timeIntervalSince(t0)
        return r
    }

    /// The figures of one run's console text.
    static func parse(_ text: String, setup: String, scenario: String, timeout: Double) -> NeighbourRun {
        let lines = text.split(whereSeparator: \.isNewline).map { $0.replacingOccurrences(of: "\r", with: "") }
        var run = NeighbourRun(setup: setup, scenario: scenario, modes: [])
        let bench = MicroBenchmark.parse(lines.map { Substring($0) }).values
        for m in modes {
            var mode = NeighbourRun.Mode(name: m, meanNs: bench[m])
            // "vtlat: vtimer-latency-wfi: 2000 samples, min 44461, max 268413 instructions"
            if let l = lines.first(where: { $0.contains(m + ": ") && $0.contains(" samples, min ") }) {
                mode.samples = number(after: m + ": ", in: l).map { Int($0) }
                mode.minNs = number(after: " min ", in: l)
                mode.maxNs = number(after: " max ", in: l)
            }
            // "vtlat: vtimer-latency-wfi: percentiles of 2000 samples: p50 61949, p99 134589"
            if let l = lines.first(where: { $0.contains(m + ": percentiles of ") }) {
                mode.p50Ns = number(after: " p50 ", in: l)
                mode.p99Ns = number(after: " p99 ", in: l)
            }
            run.modes.append(mode)
        }
        let vtlatEnd = lines.firstIndex { $0.contains("TEST PASS vtlat") || $0.contains("TEST FAIL vtlat") }
        if let f = lines.first(where: { $0.contains("TEST FAIL vtlat") }) {
            run.failure = String(f[f.range(of: "TEST FAIL")!.lowerBound...])
        } else if lines.contains(where: { $0.contains("Apus PANIC") }) {
            run.failure = "hypervisor panic"
        } else if vtlatEnd == nil || run.modes.contains(where: { $0.maxNs == nil }) {
            run.failure = ConsoleRun.lastGuestWords(lines.map { Substring($0) }) ?? "no result within \(Int(timeout)) s"
        }
        if scenario == "hostile" {
            let progress = lines.indices.filter { lines[$0].contains("hostile: ") && lines[$0].contains(" ops, violations ") }
            let measuring = lines.firstIndex { $0.contains("vtlat: measuring") }
            let hostileEnd = lines.firstIndex { $0.contains("TEST PASS hostile") || $0.contains("TEST FAIL hostile") }
            if let measuring, let vtlatEnd {
                let started = progress.contains { $0 < measuring }
                let stillOn = hostileEnd.map { $0 > vtlatEnd } ?? true
                run.hostileThroughout = started && stillOn
                run.hostileOpsDone = progress.last { $0 < vtlatEnd }
                    .flatMap { number(after: "hostile: ", in: lines[$0]) }.map { Int($0) } ?? 0
            } else {
                run.hostileThroughout = false
            }
        }
        return run
    }

    /// The integer right after `key` in `line` (digits and a leading minus sign).
    static func number(after key: String, in line: String) -> Double? {
        guard let r = line.range(of: key) else { return nil }
        let digits = line[r.upperBound...].prefix { $0.isNumber || $0 == "-" }
        return Double(digits)
    }
}
