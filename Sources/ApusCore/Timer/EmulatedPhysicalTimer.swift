/// The EL1 physical timer (CNTP_CTL_EL0, CNTP_CVAL_EL0, CNTP_TVAL_EL0) of one vCPU,
/// emulated as Xen does: the registers trap (CNTHCTL_EL2.EL1PCEN = 0) because the real
/// timer belongs to the hypervisor's CPU, not to whichever vCPU runs there. The guest
/// reads the physical counter directly (EL1PCTEN = 1), so compare values are physical
/// counts. The interrupt (PPI 30) is raised once per expiry, as Xen's vtimer does.
public struct EmulatedPhysicalTimer: Equatable, Sendable {
    public enum Register: Equatable, Sendable { case control, compare, timerValue }

    public static let enable: UInt64 = 1
    public static let interruptMask: UInt64 = 1 << 1
    public static let interruptStatus: UInt64 = 1 << 2

    /// ENABLE and IMASK as the guest wrote them.
    public private(set) var control: UInt64 = 0
    public private(set) var compare: UInt64 = 0
    /// The interrupt for the current setting has been raised already.
    public private(set) var fired = false

    public init() {}

    var enabled: Bool { control & EmulatedPhysicalTimer.enable != 0 }
    var masked: Bool { control & EmulatedPhysicalTimer.interruptMask != 0 }

    /// The register's value at physical count `count`.
    public func read(_ r: Register, count: UInt64) -> UInt64 {
        switch r {
        case .control:
            // ISTATUS: the timer condition holds (meaningful only while enabled).
            return control | (enabled && count >= compare ? EmulatedPhysicalTimer.interruptStatus : 0)
        case .compare:
            return compare
        case .timerValue:
            // TVAL is CVAL - count as a signed 32-bit value; bits [63:32] read as zero.
            return UInt64(UInt32(truncatingIfNeeded: compare &- count))
        }
    }

    /// A guest write at physical count `count`. Any change of the setting re-arms the interrupt.
    public mutating func write(_ r: Register, _ value: UInt64, count: UInt64) {
        switch r {
        case .control:
            let c = value & (EmulatedPhysicalTimer.enable | EmulatedPhysicalTimer.interruptMask)
            if c != control { fired = false }
            control = c
        case .compare:
            compare = value
            fired = false
        case .timerValue:
            // TVAL is a signed 32-bit offset from now.
            compare = count &+ UInt64(bitPattern: Int64(Int32(truncatingIfNeeded: value)))
            fired = false
        }
    }

    /// The physical count at which the interrupt is due, nil while it cannot fire.
    public var deadline: UInt64? { enabled && !masked && !fired ? compare : nil }

    /// At count `count`: true when the interrupt must be raised now (it is then marked raised).
    public mutating func expire(count: UInt64) -> Bool {
        guard let d = deadline, count >= d else { return false }
        fired = true
        return true
    }
}
