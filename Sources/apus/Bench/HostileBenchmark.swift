import Foundation

/// The long hostile run: guests/hostile (2 vCPUs, a million randomized attacks, a share of them
/// Xen-ABI-shaped hypercalls) next to guests/memcheck (its RAM checked pass after pass, forever),
/// on a two-CPU board without icount (wall time is what counts here). It ends when hostile gave
/// its verdict and memcheck completed another full pass after it.
struct HostileRun: Codable {
    var setup: String
    var ops: Int
    /// The last "hostile: N ops, violations V, ..." progress line.
    var opsDone: Int?
    var violations: Int?
    /// "PASS", "FAIL: reason" or "none" (no verdict before the timeout).
    var hostile: String
    /// Seconds from the start of QEMU to hostile's verdict (to the end of the run without one).
    var wallSeconds: Double
    /// memcheck kept verifying its RAM after hostile was done, and never failed.
    var neighbourAlive: Bool
    var neighbourPasses: Int
    var hypervisorPanic: Bool
}

enum HostileBenchmark {
    static func run(setup: String, argv: [String], log: String, ops: Int, timeout: Double) -> HostileRun {
        let t0 = Date()
        var verdictAt: Double? = nil
        var mark = 0
        ConsoleRun.run(argv: argv, log: log, timeout: timeout, poll: 0.5) { text in
            let passes = memcheckPasses(text)
            if verdictAt == nil, text.contains("TEST PASS hostile") || text.contains("TEST FAIL hostile") {
                verdictAt = Date().timeIntervalSince(t0)
                mark = passes
            }
            if text.contains("TEST FAIL memcheck") || text.contains("Apus PANIC") { return true }
            // the pass that was running at hostile's verdict, and one more
            return verdictAt != nil && passes >= mark + 2
        }
        let total = Date().timeIntervalSince(t0)
        let text = ConsoleRun.read(log)
        let lines = text.split(whereSeparator: \.isNewline).map { $0.replacingOccurrences(of: "\r", with: "") }
        var run = HostileRun(setup: setup, ops: ops, opsDone: nil, violations: nil, hostile: "none",
                             wallSeconds: verdictAt ?? total, neighbourAlive: false,
                             neighbourPasses: memcheckPasses(text), hypervisorPanic: text.contains("Apus PANIC"))
        if text.contains("TEST PASS hostile") {
            run.hostile = "PASS"
        } else if let f = lines.first(where: { $0.contains("TEST FAIL hostile") }) {
            run.hostile = "FAIL" + f[f.range(of: "TEST FAIL hostile")!.upperBound...]
        }
        // "hostile: 1000000 ops, violations 0, storms 0, ..."
        for line in lines {
            guard let r = line.range(of: "hostile: "), line.contains(" ops, violations ") else { continue }
            let words = line[r.upperBound...].split(separator: " ")
            if words.count >= 4, let n = Int(words[0]) {
                run.opsDone = n
                run.violations = Int(words[3].trimmingCharacters(in: CharacterSet(charactersIn: ",")))
            }
        }
        run.neighbourAlive = verdictAt != nil && run.neighbourPasses >= mark + 1 && !text.contains("TEST FAIL memcheck")
            && !run.hypervisorPanic
        return run
    }

    static func memcheckPasses(_ text: String) -> Int {
        text.split(whereSeparator: \.isNewline).filter { $0.contains("memcheck: pass ") && $0.contains(" ok") }.count
    }
}
