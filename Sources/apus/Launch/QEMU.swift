import Foundation

/// Command lines for qemu-system-aarch64.
enum QEMU {
    static let executable = "qemu-system-aarch64"

    static func find() throws -> String {
        guard let path = Subprocess.findTool(executable) else {
            throw ToolFailure.usage("\(executable) not found (run scripts/setup.sh)")
        }
        return path
    }

    /// QEMU's generated DTB for `board`, as the real run will see it (minus our /chosen additions).
    /// `extra` are the user's --qemu-arg options: devices they add appear in the DTB too.
    static func dumpDeviceTree(_ qemu: String, board: Board, extra: [String], to path: String) throws -> [UInt8] {
        // No console at all here: a stdio chardev would switch the terminal to raw mode for nothing.
        let args = ["-M", Board.machine + ",dumpdtb=" + escape(path)] + board.machineArguments
            + ["-display", "none", "-serial", "none", "-monitor", "none", "-nic", "none"] + extra
        let log = path + ".log"
        let end = try Subprocess.spawn(qemu, args, output: .file(log), stdinNull: true).run()
        guard end == .exited(0), let data = FileManager.default.contents(atPath: path) else {
            let why = (try? String(contentsOfFile: log, encoding: .utf8))?
                .split(separator: "\n").last.map(String.init) ?? "exit status \(end.shellStatus)"
            throw ToolFailure("\(executable) could not dump the board's device tree: \(why)")
        }
        return [UInt8](data)
    }

    /// The run: the hypervisor ELF as `-kernel` (QEMU enters it at EL2 with the DTB's address in x0),
    /// the boot modules as raw loader blobs, and the board UART on our terminal.
    ///
    /// The serial port is a stdio chardev without QEMU's mux (no -nographic): every byte typed,
    /// Ctrl-C and Ctrl-A included, goes to the hypervisor's console (`signal=off` stops QEMU from
    /// treating Ctrl-C as its own), and the `logfile` copy is what `apus run` watches for panics.
    /// `devices` are dom0's (Dom0Devices.qemuArguments), placed before the user's --qemu-arg ones.
    /// `restartOnReset`: the board restarts when the hypervisor resets it (dom0's reboot or
    /// crash, as Xen restarts the machine): QEMU reloads the image, the DTB and the modules and
    /// the hypervisor boots again; without it QEMU ends there (-no-reboot).
    static func runArguments(board: Board, image: String, dtb: String, modules: [(path: String, address: UInt64)],
                             devices: [String] = [], log: String, icount: Bool, extra: [String],
                             restartOnReset: Bool = false) -> [String] {
        var args = ["-M", Board.machine] + board.machineArguments
        args += ["-display", "none", "-nic", "none"] + (restartOnReset ? [] : ["-no-reboot"])
        args += ["-chardev", "stdio,id=con,signal=off,logfile=" + escape(log), "-serial", "chardev:con", "-monitor", "none"]
        args += ["-kernel", image, "-dtb", dtb]
        for m in modules {
            args += ["-device", "loader,file=\(escape(m.path)),addr=0x\(String(m.address, radix: 16)),force-raw=on"]
        }
        // One virtual nanosecond per instruction, no sleeping when idle: guest-visible time then
        // depends only on the instructions run, so timings compare across hosts and runs.
        if icount { args += ["-icount", "shift=0,sleep=off"] }
        return args + devices + extra
    }

    /// A value inside a QEMU option list, where ',' separates options and ',,' is a literal comma.
    static func escape(_ value: String) -> String { value.replacingOccurrences(of: ",", with: ",,") }

    /// A command line a user can paste into a shell.
    static func shellLine(_ executable: String, _ args: [String]) -> String {
        ([executable] + args).map { a in
            a.allSatisfy({ $0.isLetter || $0.isNumber || "-_./=,:@%+".contains($0) }) && !a.isEmpty
                ? a : "'" + a.replacingOccurrences(of: "'", with: "'\\''") + "'"
        }.joined(separator: " ")
    }
}
