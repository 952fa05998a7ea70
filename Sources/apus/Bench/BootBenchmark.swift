import Foundation

/// One boot of the Debian guest in QEMU with `-icount shift=0,sleep=off`, so the
/// guest's clock counts instructions: its dmesg time of "Run /init" is then a
/// repeatable measure of everything executed before userspace, hypervisor included.
struct BootMeasurement: Codable {
    var setup: String
    var console: String
    /// dmesg time of "Run /init", in guest seconds (nil if the guest never got there).
    var guestInitSeconds: Double?
    var wallSeconds: Double
    /// With several domains: each one's "Run /init" time, in the order they printed.
    var domainInitSeconds: [Double]? = nil
    /// Every run's wall time, when the setup ran more than once.
    var wallSecondsRuns: [Double]? = nil

    /// The fastest run's wall time: the host's load only ever adds time, so this is the
    /// closest to the setup's own cost when a slow spell hits some runs.
    var fastestWallSeconds: Double { wallSecondsRuns?.min() ?? wallSeconds }

    /// The run with the median wall time stands for all; a run that failed (no "Run /init")
    /// makes the whole setup count as failed rather than being hidden by the others.
    static func median(_ runs: [BootMeasurement]) -> BootMeasurement {
        guard var m = runs.sorted(by: { $0.wallSeconds < $1.wallSeconds }).dropFirst(runs.count / 2).first else {
            return BootMeasurement(setup: "?", console: "?", guestInitSeconds: nil, wallSeconds: 0)
        }
        if runs.contains(where: { $0.guestInitSeconds == nil }) { m.guestInitSeconds = nil }
        if runs.count > 1 { m.wallSecondsRuns = runs.map(\.wallSeconds) }
        return m
    }
}

enum BootBenchmark {
    /// Runs `argv`, stops when the guest has printed its "Run /init" line after the
    /// marker (or QEMU exits, or `timeout` passes), and reads the time.
    static func measure(setup: String, console: String, argv: [String], log: String, timeout: Double = 300,
                        domains: Int = 1) -> BootMeasurement {
        let t0 = Date()
        ConsoleRun.run(argv: argv, log: log, timeout: timeout, poll: 0.1) { _ in
            domains == 1 ? runInitTime(in: log) != nil : runInitTimes(in: log).count >= domains
        }
        let time = runInitTime(in: log)
        var m = BootMeasurement(setup: setup, console: console, guestInitSeconds: time,
                                wallSeconds: Date().timeIntervalSince(t0))
        if domains > 1 {
            let all = runInitTimes(in: log)
            m.domainInitSeconds = all
            m.guestInitSeconds = all.count >= domains ? all.max() : nil
        }
        return m
    }

    /// The time in "[    0.806218] Run /init as init process" printed after the
    /// guest's marker (with a quiet console the kernel does not print it; /init's
    /// `dmesg | grep` does).
    /// Every "Run /init" time printed after the first marker (one per domain).
    static func runInitTimes(in log: String) -> [Double] {
        guard let data = FileManager.default.contents(atPath: log) else { return [] }
        let text = String(decoding: data, as: UTF8.self)
        guard let marker = text.range(of: "APUS-GUEST-UP") else { return [] }
        var out: [Double] = []
        for line in text[marker.lowerBound...].split(whereSeparator: { $0.isNewline }) where line.contains("] Run /init") {
            guard let open = line.lastIndex(of: "["), let close = line.lastIndex(of: "]"), open < close else { continue }
            if let v = Double(line[line.index(after: open)..<close].trimmingCharacters(in: .whitespaces)) { out.append(v) }
        }
        return out
    }

    static func runInitTime(in log: String) -> Double? {
        guard let data = FileManager.default.contents(atPath: log) else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        guard let marker = text.range(of: "APUS-GUEST-UP") else { return nil }
        for line in text[marker.upperBound...].split(separator: "\n") where line.contains("] Run /init") {
            guard let open = line.firstIndex(of: "["), let close = line.firstIndex(of: "]"), open < close else { continue }
            let inside = line[line.index(after: open)..<close].trimmingCharacters(in: .whitespaces)
            if let v = Double(inside) { return v }
        }
        return nil
    }
}
