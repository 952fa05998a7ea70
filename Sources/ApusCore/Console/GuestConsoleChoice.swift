/// Which of a domain's two consoles reach the board console.
///
/// A Linux guest that finds Xen registers the PV console (hvc0) as a console of its own, on top
/// of any `console=` on its command line (Linux's Xen start-up code prefers hvc before the command
/// line is parsed), and replays its log on each. With both printed, every kernel line would
/// appear twice. On Xen only one of them reaches a person: a dom0less domU's PV console has no
/// reader without xenconsoled. Here the PV console is always served (its ring must be drained,
/// or the guest waits on it), and it is printed unless the command line names consoles and
/// none of them is hvc, i.e. `console=ttyAMA0` alone.
public enum GuestConsoleChoice {
    public static func printsPVConsole(bootargs: [UInt8]) -> Bool {
        var namesConsole = false
        for word in bootargs.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A }) {
            let key: [UInt8] = Array("console=".utf8)
            guard word.count > key.count, word.starts(with: key) else { continue }
            namesConsole = true
            let device = word.dropFirst(key.count)
            if device.starts(with: Array("hvc".utf8)) { return true }
        }
        return !namesConsole
    }
}
