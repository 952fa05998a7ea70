import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Child processes started with posix_spawn rather than Foundation's Process: QEMU must stay in our
/// process group and inherit the terminal as is (Process may move the child to a new group, and a
/// background group reading the terminal is stopped with SIGTTIN), and we want its pid for waitpid.
struct Subprocess {
    let pid: pid_t
    let executable: String

    /// Where a child's standard output and error go.
    enum Output {
        /// The same as ours (the console).
        case inherit
        /// Both into this file, truncated first.
        case file(String)
        case discard
    }

    /// Starts `executable` (a path, or a name looked up in PATH) with `arguments`.
    /// Standard input is ours unless `stdinNull`.
    static func spawn(_ executable: String, _ arguments: [String], output: Output = .inherit,
                      stdinNull: Bool = false, environment: [String: String]? = nil,
                      directory: String? = nil) throws -> Subprocess {
        guard let path = executable.contains("/") ? executable : findTool(executable) else {
            throw ToolFailure("\(executable) not found in PATH")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if stdinNull { posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0) }
        switch output {
        case .inherit: break
        case .file(let f):
            posix_spawn_file_actions_addopen(&actions, 1, f, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        case .discard:
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        // posix_spawn has no working-directory action everywhere; a shell-free way is to change ours
        // around the call (the tool is single-threaded at this point).
        let previous = FileManager.default.currentDirectoryPath
        if let directory, !FileManager.default.changeCurrentDirectoryPath(directory) {
            throw ToolFailure("cannot enter \(directory)")
        }
        defer { if directory != nil { _ = FileManager.default.changeCurrentDirectoryPath(previous) } }

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        let env = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer { for p in env ?? [] { free(p) } }

        var pid: pid_t = 0
        let rc = env.map { posix_spawn(&pid, path, &actions, nil, argv, $0) }
            ?? posix_spawn(&pid, path, &actions, nil, argv, environ)
        guard rc == 0 else {
            throw ToolFailure("cannot start \(path): \(String(cString: strerror(rc)))")
        }
        return Subprocess(pid: pid, executable: path)
    }

    /// How a child ended.
    enum Termination: Equatable {
        case exited(Int32)
        case signaled(Int32)

        /// The shell's convention: the status, or 128 + the signal.
        var shellStatus: Int32 {
            switch self {
            case .exited(let s): return s
            case .signaled(let s): return 128 + s
            }
        }
    }

    /// Waits for the child; with `block == false`, nil while it is still running.
    func wait(block: Bool = true) -> Termination? {
        var status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, block ? 0 : WNOHANG)
            if r == 0 { return nil }
            if r < 0 && errno == EINTR { continue }
            if r < 0 { return .exited(127) }
            break
        }
        // The W* macros are not imported into Swift: decode the wait status by hand.
        let signal = status & 0x7F
        return signal == 0 ? .exited((status >> 8) & 0xFF) : .signaled(signal)
    }

    func run() throws -> Termination { wait()! }

    func signal(_ sig: Int32) { kill(pid, sig) }

    /// SIGTERM (QEMU then restores the terminal and exits cleanly), SIGKILL if it is still there
    /// after `grace` seconds.
    @discardableResult
    func terminate(grace: Double = 2) -> Termination {
        signal(SIGTERM)
        let deadline = Date().addingTimeInterval(grace)
        while Date() < deadline {
            if let t = wait(block: false) { return t }
            usleep(20_000)
        }
        signal(SIGKILL)
        return wait()!
    }

    /// The full path of an executable found in PATH.
    static func findTool(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") where !dir.isEmpty {
            let candidate = dir + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
