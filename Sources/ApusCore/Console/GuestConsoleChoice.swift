/// Which of a domain's two consoles reach the board console.
///
/// A Linux guest that finds Xen registers the PV console (hvc0) as a console of its own, on top
/// of any `console=` on its command line (Linux's Xen start-up code prefers hvc before the command
/// line is parsed), and replays its log on each. With both printed, every kernel line would
/// appear twice. On Xen only one of them reaches a person: a dom0less domU's PV console has no
/// reader without xenconsoled. Here the PV console is always served (its ring must be drained,
/// or the guest waits on it), and it is left unprinted only when the emulated PL011 already
/// carries the guest's console: the domain has one and its command line names it (`ttyAMA`)
/// and names no hvc console. Any other case prints it, so that a guest whose named console
/// goes nowhere (`console=tty0`, or no PL011) is still heard.
public enum GuestConsoleChoice {
    public static func printsPVConsole(bootargs: [UInt8], hasPL011: Bool) -> Bool {
        var namesPL011 = false
        let key: [UInt8] = Array("console=".utf8)
        for word in bootargs.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A }) {
            guard word.count > key.count, word.starts(with: key) else { continue }
            let device = word.dropFirst(key.count)
            if device.starts(with: Array("hvc".utf8)) { return true }
            if device.starts(with: Array("ttyAMA".utf8)) { namesPL011 = true }
        }
        return !(hasPL011 && namesPL011)
    }
}
