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

/// Printing without String formatting: the hypervisor's log lines are built from
/// static text, decimal and hex numbers. All output holds the console lock so lines
/// from different CPUs do not interleave mid-character-sequence.
enum Log {
    static func raw(_ bytes: [UInt8]) {
        apus_spin_lock(&PhysicalUART.lock)
        for b in bytes { PhysicalUART.putByte(b) }
        apus_spin_unlock(&PhysicalUART.lock)
    }

    static func put(_ s: StaticString) {
        s.withUTF8Buffer { buf in
            for b in buf {
                if b == 0x0A { PhysicalUART.putByte(0x0D) }
                PhysicalUART.putByte(b)
            }
        }
    }

    static func hex(_ v: UInt64) {
        PhysicalUART.putByte(0x30); PhysicalUART.putByte(0x78)
        var started = false
        for i in stride(from: 60, through: 0, by: -4) {
            let d = UInt8((v >> UInt64(i)) & 0xF)
            if d != 0 || started || i == 0 {
                started = true
                PhysicalUART.putByte(d < 10 ? 0x30 + d : 0x57 + d)
            }
        }
    }

    static func dec(_ v: Int) { for b in decimal(v) { PhysicalUART.putByte(b) } }

    static func bytes(_ b: [UInt8]) { for c in b { PhysicalUART.putByte(c) } }

    /// One "(XEN) ..." line; the body closure prints with put/hex/dec.
    static func line(_ body: () -> Void) {
        apus_spin_lock(&PhysicalUART.lock)
        put("(XEN) ")
        body()
        put("\n")
        apus_spin_unlock(&PhysicalUART.lock)
    }
}
#endif
