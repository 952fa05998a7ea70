import Foundation

/// The worst-case virtual-timer latency of a neighbour (guests/vtlat, 1 vCPU, on CPU 1 of a
/// two-CPU board) alone, and while guests/hostile (1 vCPU, on CPU 0) attacks the hypervisor
/// (Apus issue 10: at most 2x alone, and at most Xen's), on Apus and on Xen 4.17 dom0less.
///
/// The board runs without icount: Xen 4.17 does not boot on two CPUs under icount (see
/// BenchSetups.twoDomains), and under icount QEMU runs the CPUs in turn on one thread, so an
/// interrupt due on CPU 1 would wait for CPU 0's turn to end: a latency of QEMU, not of the
/// hypervisor. Figures are therefore nanoseconds of the emulated board's real-time clock, and
/// carry the host's own scheduling noise: vtlat measures in rounds, and the median of the
/// rounds' worst cases is given next to the worst case of all.
struct NeighbourRun: Codable {
    /// "apus" or "xen"; "alone" or "hostile".
    var setup: String
    var scenario: String
    /// Per mode ("vtimer-latency-wfi", "vtimer-latency-spin"), over the rounds counted.
    var modes: [Mode]
    /// vtlat's rounds counted, and those left out because hostile was not yet into its random
    /// operations when they began.
    var rounds = 0
    var roundsLeftOut = 0
    /// With hostile: its operations reported done before the first counted round and before
    /// the end of the last one (nil when alone).
    var hostileOpsBefore: Int? = nil
    var hostileOpsAfter: Int? = nil
    var failure: String? = nil
    var wallSeconds = 0.0

    struct Mode: Codable {
        var name: String
        var samples = 0
        /// Over all counted samples: the least and the worst case.
        var minNs: Double?, maxNs: Double?
        /// Medians over the rounds of each round's worst case, mean, median and 99th percentile.
        var roundMaxMedianNs: Double?, meanNs: Double?, p50Ns: Double?, p99Ns: Double?
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
    /// Goals on the worst case: Apus with hostile at most 2x Apus alone; at most Xen with
    /// hostile (nil: no figure).
    var atMostTwiceAlone: Bool?
    var atMostXen: Bool?
    /// The same on the median of the rounds' worst cases, which the host's own scheduling
    /// (other QEMUs preempting a vCPU thread) disturbs much less than the single worst sample.
    var apusAloneRoundMaxNs: Double?, apusHostileRoundMaxNs: Double?, xenAloneRoundMaxNs: Double?, xenHostileRoundMaxNs: Double?
    var roundMaxAtMostTwiceAlone: Bool?
    var roundMaxAtMostXen: Bool?
}

struct NeighbourReport: Codable {
    var runs: [NeighbourRun]
    var rows: [NeighbourRow]
    var vtlatArgs: String
    var hostileArgs: String
    var roundsWanted: Int

    init(runs: [NeighbourRun], vtlatArgs: String, hostileArgs: String, roundsWanted: Int) {
        self.runs = runs
        self.vtlatArgs = vtlatArgs
        self.hostileArgs = hostileArgs
        self.roundsWanted = roundsWanted
        func run(_ s: String, _ c: String) -> NeighbourRun? {
            runs.first { $0.setup == s && $0.scenario == c && $0.rounds > 0 }
        }
        func ratio(_ a: Double?, _ b: Double?) -> Double? { a.flatMap { x in b.flatMap { $0 > 0 ? x / $0 : nil } } }
        rows = NeighbourBenchmark.modes.map { m in
            let aa = run("apus", "alone")?.mode(m), ah = run("apus", "hostile")?.mode(m)
            let xa = run("xen", "alone")?.mode(m), xh = run("xen", "hostile")?.mode(m)
            let r = ratio(ah?.maxNs, aa?.maxNs), ax = ratio(ah?.maxNs, xh?.maxNs)
            let rr = ratio(ah?.roundMaxMedianNs, aa?.roundMaxMedianNs), rx = ratio(ah?.roundMaxMedianNs, xh?.roundMaxMedianNs)
            return NeighbourRow(mode: m, apusAloneMaxNs: aa?.maxNs, apusHostileMaxNs: ah?.maxNs, apusRatio: r,
                                xenAloneMaxNs: xa?.maxNs, xenHostileMaxNs: xh?.maxNs, xenRatio: ratio(xh?.maxNs, xa?.maxNs),
                                apusOverXen: ax, atMostTwiceAlone: r.map { $0 <= 2 }, atMostXen: ax.map { $0 <= 1 },
                                apusAloneRoundMaxNs: aa?.roundMaxMedianNs, apusHostileRoundMaxNs: ah?.roundMaxMedianNs,
                                xenAloneRoundMaxNs: xa?.roundMaxMedianNs, xenHostileRoundMaxNs: xh?.roundMaxMedianNs,
                                roundMaxAtMostTwiceAlone: rr.map { $0 <= 2 }, roundMaxAtMostXen: rx.map { $0 <= 1 })
        }
    }
}

enum NeighbourBenchmark {
    static let modes = ["vtimer-latency-wfi", "vtimer-latency-spin"]

    /// Runs argv until `rounds` rounds of vtlat counted (or vtlat ended, a panic, QEMU's end,
    /// the timeout), then reads the figures.
    static func run(setup: String, scenario: String, argv: [String], log: String, rounds: Int, timeout: Double) -> NeighbourRun {
        let t0 = Date()
        let text = ConsoleRun.run(argv: argv, log: log, timeout: timeout, poll: 0.5) { text in
            if text.contains("TEST PASS vtlat") || text.contains("TEST FAIL vtlat") || text.contains("Apus PANIC") { return true }
            return parse(text, setup: setup, scenario: scenario, limit: rounds).rounds >= rounds
        }
        var r = parse(text, setup: setup, scenario: scenario, limit: rounds)
        r.wallSeconds = Date().timeIntervalSince(t0)
        if r.failure == nil, r.rounds < rounds {
            r.failure = "\(r.rounds) of \(rounds) rounds within \(Int(timeout)) s"
                + (ConsoleRun.lastGuestWords(text.split(whereSeparator: \.isNewline)).map { " (" + $0 + ")" } ?? "")
        }
        return r
    }

    /// The figures of one run's console text: vtlat's rounds ("vtlat: round R: measuring",
    /// then per mode "...: N samples, min A, max B instructions", "...: percentiles of N
    /// samples: p50 C, p99 D" and "BENCH <mode> <mean>"). With hostile, a round counts when it
    /// began after hostile's first progress line ("hostile: N ops, violations ...") and ended
    /// before hostile's verdict: hostile was then attacking during all of it. The first `limit`
    /// rounds that count are taken (the board may finish another before it is stopped), so
    /// that every setup gives the same number of samples.
    static func parse(_ text: String, setup: String, scenario: String, limit: Int = Int.max) -> NeighbourRun {
        let lines = text.split(whereSeparator: \.isNewline).map { $0.replacingOccurrences(of: "\r", with: "") }
        var run = NeighbourRun(setup: setup, scenario: scenario, modes: [])
        if let f = lines.first(where: { $0.contains("TEST FAIL vtlat") || $0.contains("vtlat: FAIL") }) {
            run.failure = String(f[f.range(of: "FAIL")!.lowerBound...])
        } else if lines.contains(where: { $0.contains("Apus PANIC") }) {
            run.failure = "hypervisor panic"
        }
        let progress = lines.indices.filter { lines[$0].contains("hostile: ") && lines[$0].contains(" ops, violations ") }
        let hostileEnd = lines.firstIndex { $0.contains("TEST PASS hostile") || $0.contains("TEST FAIL hostile") } ?? lines.count
        func ops(_ i: Int) -> Int? { number(after: "hostile: ", in: lines[i]).map { Int($0) } }
        var starts = lines.indices.filter { lines[$0].contains("vtlat: round ") && lines[$0].contains(": measuring") }
        if starts.isEmpty, let one = lines.firstIndex(where: { $0.contains("vtlat: bootargs") }) { starts = [one] }
        struct Round { var max: Double, min: Double, mean: Double?, p50: Double?, p99: Double?, samples: Int }
        var perMode: [String: [Round]] = [:]
        for (k, start) in starts.enumerated() where run.rounds < limit {
            let end = k + 1 < starts.count ? starts[k + 1] : lines.count
            let span = lines[start..<end]
            var found: [String: Round] = [:]
            var last = start
            for m in modes {
                guard let i = span.firstIndex(where: { $0.contains(m + ": ") && $0.contains(" samples, min ") }),
                      let j = span.firstIndex(where: { $0.contains(m + ": percentiles of ") }),
                      let max = number(after: " max ", in: lines[i]), let min = number(after: " min ", in: lines[i]) else { continue }
                let mean = MicroBenchmark.parse(span.map { Substring($0) }).values[m]
                found[m] = Round(max: max, min: min, mean: mean, p50: number(after: " p50 ", in: lines[j]),
                                 p99: number(after: " p99 ", in: lines[j]),
                                 samples: number(after: m + ": ", in: lines[i]).map { Int($0) } ?? 0)
                last = Swift.max(last, i, j)
            }
            guard found.count == modes.count else { continue }     // a round cut short
            if scenario == "hostile" {
                guard let first = progress.first, first < start, last < hostileEnd else { run.roundsLeftOut += 1; continue }
                if run.rounds == 0 { run.hostileOpsBefore = progress.last { $0 < start }.flatMap(ops) }
                run.hostileOpsAfter = progress.last { $0 < last }.flatMap(ops)
            }
            run.rounds += 1
            for (m, r) in found { perMode[m, default: []].append(r) }
        }
        func median(_ v: [Double]) -> Double? { v.isEmpty ? nil : v.sorted()[v.count / 2] }
        for m in modes {
            let r = perMode[m] ?? []
            run.modes.append(NeighbourRun.Mode(name: m, samples: r.reduce(0) { $0 + $1.samples }, minNs: r.map(\.min).min(),
                                               maxNs: r.map(\.max).max(), roundMaxMedianNs: median(r.map(\.max)),
                                               meanNs: median(r.compactMap(\.mean)), p50Ns: median(r.compactMap(\.p50)),
                                               p99Ns: median(r.compactMap(\.p99))))
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
