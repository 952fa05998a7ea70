import Foundation

/// The long hostile run: guests/hostile (2 vCPUs, a million randomized attacks, a share of them
/// Xen-ABI-shaped hypercalls) next to guests/memcheck (its RAM checked pass after pass, forever),
/// on a two-CPU board without icount (wall time is what counts here). It ends when hostile gave
/// its verdict and memcheck completed another full pass after it. On Apus it runs every attack
/// class of guests/hostile/classes.h (`more=`), with a second hostile domain as the peer of the
/// grant and event-channel class (see `withEveryAttackClass`).
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
    /// Operations per attack class (g-n) from hostile's "classes:" line; nil when not run.
    var classes: [String: Int]? = nil
}

enum HostileBenchmark {
    /// Share of hostile's random operations drawn from the classes (g)-(o) on Apus.
    static let morePercent = 20

    /// The Apus command line with every attack class: the hostile domain's `extra` gets
    /// `more=... classes=0x1ff peer=2`, and a second hostile domain (its peer, which also reboots,
    /// resets and crashes itself during the board's first 20 s) is added right after it, so
    /// memcheck is domain 3. The xl.cfg files are the ones BenchCommand wrote; a command line
    /// without a hostile.cfg is returned unchanged (Xen's dom0less run keeps its bootargs).
    static func withEveryAttackClass(_ argv: [String]) -> [String] {
        guard let i = argv.firstIndex(where: { $0.hasSuffix("/hostile.cfg") }),
              let text = try? String(contentsOfFile: argv[i], encoding: .utf8) else { return argv }
        func classes(_ cfg: String, peer: Int, extra: String, name: String?) -> String {
            let lines = cfg.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
                let l = String(line)
                if l.hasPrefix("extra = \""), l.hasSuffix("\"") {
                    return String(l.dropLast()) + " more=\(morePercent) classes=0x1ff peer=\(peer)\(extra)\""
                }
                if let name, l.hasPrefix("name = ") { return "name = \"\(name)\"" }
                return l
            }
            let body = lines.joined(separator: "\n")
            return body + (body.hasSuffix("\n") ? "" : "\n") + "on_crash = \"restart\"\n"
        }
        let peerPath = (argv[i] as NSString).deletingLastPathComponent + "/hostile-peer.cfg"
        do {
            try classes(text, peer: 2, extra: "", name: nil).write(toFile: argv[i], atomically: true, encoding: .utf8)
            try classes(text, peer: 1, extra: " seed=0x5eed0f1057113e02 life_ms=20000", name: "hostile-peer")
                .write(toFile: peerPath, atomically: true, encoding: .utf8)
        } catch {
            return argv
        }
        var out = argv
        out.insert(peerPath, at: i + 1)
        return out
    }

    /// "hostile: classes: g=N h=N ..." -> ["g": N, ...] (the last such line, not the peer's).
    static func classCounts(_ lines: [String]) -> [String: Int]? {
        guard let l = lines.last(where: { !$0.hasPrefix("(d2) ") && $0.contains("hostile: classes: ") }),
              let r = l.range(of: "hostile: classes: ") else { return nil }
        var out: [String: Int] = [:]
        for w in l[r.upperBound...].split(separator: " ") {
            let kv = w.split(separator: "=")
            if kv.count == 2, let v = Int(kv[1]) { out[String(kv[0])] = v }
        }
        return out
    }

    static func run(setup: String, argv: [String], log: String, ops: Int, timeout: Double) -> HostileRun {
        let argv = setup == "apus" ? withEveryAttackClass(argv) : argv
        // With the peer, both hostile domains give a verdict.
        let verdicts = argv.contains { $0.hasSuffix("/hostile-peer.cfg") } ? 2 : 1
        let t0 = Date()
        var verdictAt: Double? = nil
        var mark = 0
        ConsoleRun.run(argv: argv, log: log, timeout: timeout, poll: 0.5) { text in
            let passes = memcheckPasses(text)
            let given = text.components(separatedBy: "TEST PASS hostile").count + text.components(separatedBy: "TEST FAIL hostile").count - 2
            if verdictAt == nil, given >= verdicts {
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
        if let f = lines.first(where: { $0.contains("TEST FAIL hostile") }) {
            run.hostile = "FAIL" + f[f.range(of: "TEST FAIL hostile")!.upperBound...]
        } else if text.contains("TEST PASS hostile") {
            run.hostile = "PASS"
        }
        run.classes = classCounts(lines)
        // "hostile: 1000000 ops, violations 0, storms 0, ..."
        for line in lines where !line.hasPrefix("(d2) ") {     // not the peer's
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
