/// What the vGIC reads and writes as a vCPU's list registers: the hypervisor's fixed-size
/// `ListRegisterFile`; tests use plain arrays.
public protocol ListRegisterSet: RandomAccessCollection, MutableCollection where Element == UInt64, Index == Int {}

extension Array: ListRegisterSet where Element == UInt64 {}

/// A vCPU's list registers (ICH_LR<n>_EL2) as the hypervisor keeps them: stored inline (no
/// heap buffer, so the trap path has nothing to reference-count or check for uniqueness),
/// with a mask of the entries in use and a mask of the entries changed since the hardware was
/// last written, so only those are read back or written.
public struct ListRegisterFile: ListRegisterSet, Sendable {
    /// GICv3 has at most 16 list registers (ICH_VTR_EL2.ListRegs is 4 bits).
    public static let capacity = 16
    private var slots = InlineArray<16, UInt64>(repeating: 0)
    public let count: Int
    /// Bit n: entry n is not zero.
    public private(set) var inUse: UInt16 = 0
    /// Bit n: entry n changed since `takeChanged()` was last called.
    public private(set) var changed: UInt16 = 0

    public init(count: Int) { self.count = Swift.min(Swift.max(count, 0), ListRegisterFile.capacity) }

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }

    public subscript(n: Int) -> UInt64 {
        get {
            precondition(n >= 0 && n < count, "list register index")
            return slots[n]
        }
        set {
            precondition(n >= 0 && n < count, "list register index")
            guard slots[n] != newValue else { return }
            slots[n] = newValue
            let bit = UInt16(1) << UInt16(n)
            changed |= bit
            if newValue != 0 { inUse |= bit } else { inUse &= ~bit }
        }
    }

    /// The entries changed since the last call (to be written to the hardware), and forgets them.
    public mutating func takeChanged() -> UInt16 {
        let c = changed
        changed = 0
        return c
    }

    /// Records what the hardware holds now without marking it as to be written back.
    public mutating func observe(_ n: Int, _ value: UInt64) {
        let before = changed
        self[n] = value
        changed = before
    }
}
