import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The last signal asked to stop `apus run` (SIGINT, SIGTERM, SIGHUP), 0 if none. Written only by
/// the signal handler, read by the polling loop; a C handler cannot capture, hence the global.
nonisolated(unsafe) private var stopSignal: Int32 = 0

/// One QEMU run, watched: QEMU writes the console straight to our stdout (it inherits it), and we
/// poll its log copy of the console for a hypervisor panic, plus the timeout and our own signals.
struct QEMUSession {
    var qemu: String
    var arguments: [String]
    /// The chardev's logfile: the console as QEMU wrote it.
    var logPath: String
    /// Seconds; 0 means none.
    var timeout: Double

    static let panicMarker = Array("Apus PANIC".utf8)
    static let pollMicroseconds: useconds_t = 100_000

    /// Runs QEMU to the end and gives the exit status for `apus run`.
    func run() throws -> Int32 {
        // A stale log would be read as this run's console before QEMU truncates it.
        try? FileManager.default.removeItem(atPath: logPath)

        // QEMU puts the terminal in raw mode and restores it on a clean exit; if it dies from
        // SIGKILL it cannot, so we restore what we saw.
        var savedTerminal = termios()
        let haveTerminal = isatty(0) == 1 && tcgetattr(0, &savedTerminal) == 0
        defer { if haveTerminal { tcsetattr(0, TCSADRAIN, &savedTerminal) } }

        // The terminal is raw while QEMU runs, so Ctrl-C is a byte for the guest, not a signal; these
        // come from `kill` or a closed terminal. QEMU, started afterwards, gets the default actions back.
        // A signal we were started with ignored (nohup, a background job) stays ignored.
        for s in [SIGINT, SIGTERM, SIGHUP] {
            let previous = signal(s) { stopSignal = $0 }
            if let previous, unsafeBitCast(previous, to: Int.self) == unsafeBitCast(SIG_IGN, to: Int.self) {
                signal(s, SIG_IGN)
            }
        }

        let child = try Subprocess.spawn(qemu, arguments)
        let started = Date()
        var watcher = ConsoleWatcher(path: logPath)
        defer { watcher.stop() }

        while true {
            if let end = child.wait(block: false) {
                watcher.poll() // the last lines may hold a panic that came just before the exit
                if watcher.sawPanic { return finish(watcher, "hypervisor panic (see above)", 1) }
                // QEMU also got the signal (same process group) and exits 0 on SIGINT/SIGTERM:
                // that is still an interruption, not a board that powered off.
                if stopSignal != 0 { return finish(watcher, "stopped by signal \(stopSignal)", 128 + stopSignal) }
                switch end {
                case .exited(0): return 0
                case .exited(let s): return finish(watcher, "\(QEMU.executable) exited with status \(s)", s)
                case .signaled(let s):
                    return finish(watcher, "\(QEMU.executable) was killed by signal \(s)", 128 + s)
                }
            }
            if stopSignal != 0 {
                let s = stopSignal
                child.terminate()
                return finish(watcher, "stopped by signal \(s)", 128 + s)
            }
            watcher.poll()
            if watcher.sawPanic {
                // Give the other CPUs' last lines and the register dump time to reach the console.
                sleepWatching(1, child: child, watcher: &watcher)
                child.terminate()
                watcher.poll()
                return finish(watcher, "hypervisor panic (see above)", 1)
            }
            if timeout > 0 && Date().timeIntervalSince(started) >= timeout {
                child.terminate()
                watcher.poll()
                return finish(watcher, "timed out after \(formatSeconds(timeout)) s", 124)
            }
            usleep(QEMUSession.pollMicroseconds)
        }
    }

    private func sleepWatching(_ seconds: Double, child: Subprocess, watcher: inout ConsoleWatcher) {
        let until = Date().addingTimeInterval(seconds)
        while Date() < until {
            usleep(QEMUSession.pollMicroseconds)
            watcher.poll()
        }
    }

    /// Prints the one-line reason on its own line (the console may have stopped mid-line).
    private func finish(_ watcher: ConsoleWatcher, _ message: String, _ status: Int32) -> Int32 {
        if !watcher.endsWithNewline { FileHandle.standardOutput.write(Data("\n".utf8)) }
        FileHandle.standardError.write(Data("apus: \(message)\n".utf8))
        return status
    }

    private func formatSeconds(_ s: Double) -> String {
        s == s.rounded() ? String(Int(s)) : String(s)
    }
}

/// Follows the console log as QEMU appends to it, looking for the hypervisor's panic banner.
struct ConsoleWatcher {
    let path: String
    private var fd: Int32 = -1
    private var carry: [UInt8] = []
    private(set) var sawPanic = false
    private(set) var endsWithNewline = true

    init(path: String) { self.path = path }

    mutating func poll() {
        if fd < 0 {
            fd = open(path, O_RDONLY)
            if fd < 0 { return } // QEMU has not created it yet
        }
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            let chunk = buffer[0..<n]
            endsWithNewline = chunk.last == UInt8(ascii: "\n")
            if !sawPanic {
                // Keep the end of the previous read so a banner split across reads is still found.
                let text = carry + chunk
                sawPanic = contains(text, QEMUSession.panicMarker)
                carry = Array(text.suffix(QEMUSession.panicMarker.count - 1))
            }
        }
    }

    mutating func stop() {
        if fd >= 0 { close(fd) }
        fd = -1
    }

    private func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard haystack.count >= needle.count else { return false }
        for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] {
            if Array(haystack[i..<(i + needle.count)]) == needle { return true }
        }
        return false
    }
}
