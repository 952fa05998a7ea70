/// State of one virtual interrupt as the guest's GICv3 sees it (Arm IHI 0069,
/// "interrupt handling state machine"). Pending is split in two: `latch` (edge
/// events, ISPENDR writes) and `line` (a level-sensitive source held high), so a
/// level interrupt whose source is still asserted becomes pending again once the
/// guest deactivates it, without the device having to re-raise it.
public struct VirtualInterrupt: Sendable, Equatable {
    public var enabled = false
    public var latch = false
    public var line = false
    public var active = false
    /// Edge-triggered (ICFGR 0b10) or level-sensitive (0b00).
    public var edge = false
    public var priority: UInt8 = 0
    public var group1 = true
    /// Sitting in one of the owning vCPU's list registers: the hardware owns its
    /// pending/active state until the list register is synced back.
    public var inListRegister = false
    /// ICPENDR was written while the hardware held the pending state: take it back.
    public var clearRequested = false
    /// In a list register as pending+active because the vGIC holds it active (an
    /// ISACTIVER write), not because the guest acknowledged it: the hardware never
    /// signals it, so the list register may be taken back when another interrupt
    /// needs it.
    public var parked = false
    /// A physical SPI of the same INTID passed through (dom0's devices): it goes into list
    /// registers with the HW bit, so the guest's deactivation also deactivates the physical
    /// interrupt (no maintenance trap, and a level line that is still asserted simply
    /// interrupts again). The hypervisor leaves the physical one active until then, so it is
    /// raised at most once per activation. Its pending and active state belong to the
    /// hardware: ISPENDR, ICPENDR, ISACTIVER and ICACTIVER ignore it, as Xen's vGIC does for
    /// hardware IRQs.
    public var hardware = false

    public init() {}

    public var isPending: Bool { latch || (!edge && line) }
    /// Wants a list register: pending, enabled, not already in one.
    public var wantsDelivery: Bool { enabled && isPending && !inListRegister }
}

/// ICH_LR<n>_EL2 (Arm IHI 0069 12.4.6).
public struct ListRegister: Equatable, Sendable {
    public var raw: UInt64
    public init(raw: UInt64) { self.raw = raw }

    public enum State: UInt64, Sendable { case invalid = 0, pending = 1, active = 2, pendingActive = 3 }

    /// `hardware`: HW = 1 with pINTID = `virtualID` (bits [44:32], where the EOI
    /// maintenance bit would otherwise be: a hardware entry never asks for one).
    public init(virtualID: UInt32, priority: UInt8, group1: Bool, state: State, eoiMaintenance: Bool,
                hardware: Bool = false) {
        var v = UInt64(virtualID) | (UInt64(priority) << 48) | (state.rawValue << 62)
        if group1 { v |= 1 << 60 }
        if hardware {
            v |= ListRegister.hwBit | (UInt64(virtualID & 0x1FFF) << 32)
        } else if eoiMaintenance {
            v |= 1 << 41
        }
        raw = v
    }
    public static let hwBit: UInt64 = 1 << 61
    public var isHardware: Bool { raw & ListRegister.hwBit != 0 }
    /// The physical INTID a hardware entry deactivates.
    public var physicalID: UInt32 { UInt32(truncatingIfNeeded: raw >> 32) & 0x1FFF }
    public var virtualID: UInt32 { UInt32(truncatingIfNeeded: raw) }
    public var state: State { State(rawValue: raw >> 62)! }
    public var priority: UInt8 { UInt8(truncatingIfNeeded: raw >> 48) }
    public var isFree: Bool { state == .invalid }
}
