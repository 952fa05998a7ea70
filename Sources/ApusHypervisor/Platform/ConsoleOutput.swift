#if hasFeature(Embedded)
import AArch64
import ApusCore

/// A domain's console output on its way to the board's UART.
enum ConsoleOutput {
    static func write(domain id: Int, _ byte: UInt8) {
        apus_spin_lock(&Hypervisor.consoleLock)
        if let prefix = Hypervisor.console.passThrough(domain: id, byte) {
            apus_spin_unlock(&Hypervisor.consoleLock)
            guard byte != 0x0D else { return }
            apus_spin_lock(&PhysicalUART.lock)
            if prefix {
                PhysicalUART.putByte(0x28); PhysicalUART.putByte(0x64)      // "(d"
                for b in decimal(id) { PhysicalUART.putByte(b) }
                PhysicalUART.putByte(0x29); PhysicalUART.putByte(0x20)      // ") "
            }
            if byte == 0x0A { PhysicalUART.putByte(0x0D) }
            PhysicalUART.putByte(byte)
            apus_spin_unlock(&PhysicalUART.lock)
            return
        }
        let out = Hypervisor.console.output(domain: id, byte)
        apus_spin_unlock(&Hypervisor.consoleLock)
        if !out.isEmpty { Log.raw(out) }
    }
}
#endif
