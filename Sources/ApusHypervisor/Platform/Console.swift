#if hasFeature(Embedded)
import AArch64
import ApusCore

/// The board's PL011, found in the DTB (stdout-path). Polled transmit, interrupt-driven
/// receive. Until the DTB is parsed nothing is printed.
enum PhysicalUART {
    nonisolated(unsafe) static var base: UInt64 = 0
    nonisolated(unsafe) static var lock: UInt32 = 0

    static func putByte(_ b: UInt8) {
        guard base != 0 else { return }
        while mmio_read32(base + 0x18) & (1 << 5) != 0 {}     // TXFF
        mmio_write32(base, UInt32(b))
    }

    static func getByte() -> UInt8? {
        guard base != 0, mmio_read32(base + 0x18) & (1 << 4) == 0 else { return nil }   // RXFE
        return UInt8(truncatingIfNeeded: mmio_read32(base))
    }

    /// Interrupt on receive (RXIM | RTIM); the GIC side is set up by the caller.
    static func enableReceiveInterrupt() {
        guard base != 0 else { return }
        mmio_write32(base + 0x44, 0x7FF)                       // clear all
        mmio_write32(base + 0x38, (1 << 4) | (1 << 6))
    }
}

/// The console multiplexer's output, straight to the UART. Whoever prints through it
/// holds PhysicalUART.lock (or is the panic path, which owns the board).
struct UARTSink: ConsoleSink {
    func put(_ byte: UInt8) { Log.emit(byte) }
}

/// Printing without String formatting: the hypervisor's log lines are built from
/// static text, decimal and hex numbers. Everything except a panic prints under the
/// console multiplexer's lock and then the UART's, so that lines from different CPUs
/// do not interleave and no line lands inside the focused domain's unfinished one.
enum Log {
    /// Runs `body` holding Hypervisor.consoleLock, then PhysicalUART.lock: always in this
    /// order, and never consoleLock while holding the UART's.
    static func withConsole(_ body: (inout ConsoleMux, inout UARTSink) -> Void) {
        apus_spin_lock(&Hypervisor.consoleLock)
        apus_spin_lock(&PhysicalUART.lock)
        let t0 = Latency.stamp()
        var uart = UARTSink()
        body(&Hypervisor.console, &uart)
        Latency.held(.console, since: t0)
        apus_spin_unlock(&PhysicalUART.lock)
        apus_spin_unlock(&Hypervisor.consoleLock)
    }

    /// The hypervisor's own lines, kept for `xl dmesg` (sysctl readconsole) as Xen's conring
    /// keeps them: under Hypervisor.consoleLock (Log.line), set once at boot.
    nonisolated(unsafe) static var ring: ConsoleRing? = nil
    /// Set while Log.line prints: what is printed then also goes to `ring`.
    nonisolated(unsafe) static var recording = false

    @inline(__always)
    static func emit(_ b: UInt8) {
        PhysicalUART.putByte(b)
        if recording && b != 0x0D { ring?.append(b) }
    }

    static func put(_ s: StaticString) {
        s.withUTF8Buffer { buf in
            for b in buf {
                if b == 0x0A { PhysicalUART.putByte(0x0D) }
                emit(b)
            }
        }
    }

    static func hex(_ v: UInt64) {
        emit(0x30); emit(0x78)
        var started = false
        for i in stride(from: 60, through: 0, by: -4) {
            let d = UInt8((v >> UInt64(i)) & 0xF)
            if d != 0 || started || i == 0 {
                started = true
                emit(d < 10 ? 0x30 + d : 0x57 + d)
            }
        }
    }

    /// No allocation: the out-of-memory report prints with it.
    static func dec(_ v: Int) { var u = UARTSink(); putDecimal(v, to: &u) }

    static func bytes(_ b: [UInt8]) { for c in b { emit(c) } }

    /// One "(XEN) ..." line; the body closure prints with put/hex/dec (and takes no lock).
    static func line(_ body: () -> Void) {
        withConsole { mux, uart in
            mux.beginHypervisorLine(to: &uart)
            recording = true
            put("(XEN) ")
            body()
            put("\n")
            recording = false
            mux.endHypervisorLine(to: &uart)
        }
    }
}
#endif
