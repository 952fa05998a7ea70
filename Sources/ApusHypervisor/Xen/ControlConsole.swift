#if hasFeature(Embedded)
import AArch64
import ApusCore

/// Dom0's console: `console_io` (Xen's CONSOLEIO_write / CONSOLEIO_read), which Linux's
/// hvc_xen uses as hvc0 in the initial domain. Output is printed with the `(d0)` prefix;
/// keys typed while dom0 has the console focus wait in a small buffer and VIRQ_CONSOLE
/// tells dom0, as Xen's serial_rx does. Only the control domain may use it (Xen 4.17
/// release builds refuse it to others with -EPERM).
enum ControlConsole {
    /// Typed bytes not yet read; past `inputCapacity` the oldest go. (Xen's serial_rx_ring
    /// keeps 128 and drops new ones: a pasted line longer than that arrived cut on Xen.)
    nonisolated(unsafe) private static var input: [UInt8] = []
    nonisolated(unsafe) private static var lock: UInt32 = 0
    static let inputCapacity = 4096
    /// Bytes one CONSOLEIO_write may print (Xen continues longer writes in a continuation;
    /// Linux's hvc_xen writes at most a page).
    static let writeLimit: UInt64 = 4096
    /// Bytes written but not yet printed on one CPU: the printing waits until the hypercall
    /// has dropped the Xen lock (`flush`), as a UART prints 4 KiB in some 350 ms at 115200
    /// baud. A multicall of writes may queue this much; past it a write is -EAGAIN.
    static let pendingLimit = 16 * 1024

    static func io(_ d: Domain, cmd: UInt64, count: UInt64, buffer: UInt64) -> Int64 {
        guard d.spec.control else { return XenErrno.EPERM.result }
        switch cmd {
        case 0:                                             // CONSOLEIO_write
            guard count <= writeLimit else { return XenErrno.EINVAL.result }
            guard count > 0 else { return 0 }
            let cpu = PerCPU.this
            guard cpu.consoleOut.count + Int(count) <= pendingLimit else { return XenErrno.EAGAIN.result }
            guard let bytes = GuestAccess(domain: d).readVirtual(buffer, count: Int(count)) else { return XenErrno.EFAULT.result }
            cpu.consoleOut += bytes
            return 0
        case 1:                                             // CONSOLEIO_read
            let want = Int(min(count, UInt64(inputCapacity)))
            apus_spin_lock(&lock)
            let n = min(want, input.count)
            let out = Array(input.prefix(n))
            input.removeFirst(n)
            apus_spin_unlock(&lock)
            guard n > 0 else { return 0 }
            guard GuestAccess(domain: d).writeVirtual(buffer, out) else { return XenErrno.EFAULT.result }
            return Int64(n)
        default:
            return XenErrno.ENOSYS.result
        }
    }

    /// Prints what CONSOLEIO_write queued on this CPU (called with no lock held, after the
    /// hypercall).
    @inline(never)
    static func flush(_ d: Domain) {
        let cpu = PerCPU.this
        let out = cpu.consoleOut
        cpu.consoleOut = []
        Log.withConsole { mux, uart in for b in out { mux.write(domain: d.id, b, to: &uart) } }
    }

    /// A key typed for dom0.
    static func receive(_ d: Domain, _ byte: UInt8) {
        apus_spin_lock(&lock)
        if input.count >= inputCapacity { input.removeFirst() }
        input.append(byte)
        apus_spin_unlock(&lock)
        Xen.locked { x in
            x.host.raiseVIRQ(domain: XenDomainID(d.id), vcpu: 0, virq: XenVIRQ.console, platform: XenBoard(current: nil))
        }
    }
}
#endif
