import Foundation

/// Boots the real hypervisor image in QEMU through `apus run` and collects what the
/// board's console printed. The image, the test guests and the Debian guest must
/// have been built and fetched first (scripts/test.sh does `apus build` and
/// `apus fetch-guest`); a missing piece fails the test rather than skipping it.
struct SystemHarness {
    static let root: URL = {
        var u = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { u.deleteLastPathComponent() }
        return u
    }()

    static var apus: String { root.appendingPathComponent(".build/debug/apus").path }
    static func guestImage(_ name: String) -> String { root.appendingPathComponent(".build-image/guests/\(name).img").path }
    static func debian(_ file: String) -> String { root.appendingPathComponent(".cache/guest/\(file)").path }

    struct Run {
        var status: Int32
        var output: String
        var stderr: String
        func contains(_ s: String) -> Bool { output.contains(s) }
        /// Lines of the domain's console (prefix "(dN) " removed).
        func domainLines(_ id: Int) -> [String] {
            // The console ends lines with \r\n, which Swift treats as one Character: split on any newline.
            output.split(whereSeparator: { $0.isNewline }).compactMap { line in
                let l = line.replacingOccurrences(of: "\r", with: "")
                let p = "(d\(id)) "
                return l.hasPrefix(p) ? String(l.dropFirst(p.count)) : nil
            }
        }
        /// Lines with a "(XEN) " or "(dN) " prefix after their start: one console line printed
        /// inside another, which the console must never do (it ends an unfinished line first).
        var tangledLines: [String] {
            output.split(whereSeparator: { $0.isNewline }).map(String.init).filter { line in
                let c = Array(line.utf8)
                return c.indices.dropFirst().contains { i in
                    guard c[i] == 0x28 else { return false }
                    if c[i...].starts(with: Array("(XEN) ".utf8)) { return true }
                    var j = i + 1
                    guard j < c.count, c[j] == 0x64 else { return false }
                    j += 1
                    let digits = j
                    while j < c.count, c[j] >= 0x30, c[j] <= 0x39 { j += 1 }
                    return j > digits && c[j...].starts(with: Array(") ".utf8))
                }
            }
        }
    }

    /// Writes `configs` (file name → xl.cfg text) to a fresh folder and runs them.
    static func run(_ configs: [(String, String)], arguments: [String] = [], timeout: Int = 240,
                    input: String? = nil, inputDelay: Double = 0) throws -> Run {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("apus-st-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var paths: [String] = []
        for (name, text) in configs {
            let p = dir.appendingPathComponent(name)
            try text.write(to: p, atomically: true, encoding: .utf8)
            paths.append(p.path)
        }
        return try launch([apus, "run", "--timeout", String(timeout)] + arguments + paths, input: input, inputDelay: inputDelay)
    }

    static func launch(_ argv: [String], input: String?, inputDelay: Double) throws -> Run {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: argv[0])
        p.arguments = Array(argv.dropFirst())
        p.currentDirectoryURL = root
        // Console output goes to files (no pipe reader to keep up with a chatty guest).
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("apus-st-\(UUID().uuidString)")
        let outPath = base.path + ".out", errPath = base.path + ".err"
        FileManager.default.createFile(atPath: outPath, contents: nil)
        FileManager.default.createFile(atPath: errPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: outPath); try? FileManager.default.removeItem(atPath: errPath) }
        p.standardOutput = FileHandle(forWritingAtPath: outPath)
        p.standardError = FileHandle(forWritingAtPath: errPath)
        let inp = Pipe()
        p.standardInput = inp
        try p.run()
        if let text = input {
            // Type line by line, once the guest has had time to reach its shell.
            let writer = inp.fileHandleForWriting
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            Thread.detachNewThread {
                Thread.sleep(forTimeInterval: inputDelay)
                for line in lines {
                    writer.write(Data((line + "\n").utf8))
                    Thread.sleep(forTimeInterval: 0.5)
                }
            }
        }
        p.waitUntilExit()
        // APUS_KEEP_CONSOLE=DIR keeps each run's console there (debugging a passing test).
        if let keep = ProcessInfo.processInfo.environment["APUS_KEEP_CONSOLE"] {
            try? FileManager.default.createDirectory(atPath: keep, withIntermediateDirectories: true)
            try? FileManager.default.copyItem(atPath: outPath, toPath: keep + "/" + base.lastPathComponent + ".out")
        }
        let out = FileManager.default.contents(atPath: outPath) ?? Data()
        let err = FileManager.default.contents(atPath: errPath) ?? Data()
        return Run(status: p.terminationStatus, output: String(decoding: out, as: UTF8.self),
                   stderr: String(decoding: err, as: UTF8.self))
    }

    /// Waits for `marker` in the console output instead of sleeping a fixed time.
    static func waitFor(_ marker: String, in data: () -> String, timeout: Double) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end { if data().contains(marker) { return true }; Thread.sleep(forTimeInterval: 0.2) }
        return false
    }
}
