/// The emulated SBSA UART (a PL011 subset) each domain gets at Xen's vPL011 address,
/// as Xen's xen/arch/arm/vpl011.c presents it: DR, RSR, FR, RIS, MIS, IMSC, ICR.
/// Transmit never blocks (bytes go straight to the hypervisor console); receive
/// is a 32-byte FIFO filled from the console when this domain has the input focus.
///
/// Behind the FIFO waits a backlog of up to 4 KiB, which refills it as the guest reads:
/// text pasted or piped into the console arrives whole. The board's UART hands bytes over
/// as fast as they come, faster than a guest drains 32 of them, and Xen's vPL011 drops
/// what does not fit its FIFO; Apus drops only past the backlog.
public struct VirtualPL011: Sendable {
    public static let base: UInt64 = 0x2200_0000
    public static let size: UInt64 = 0x1000
    /// INTID 32 (GIC_SPI 0 in the guest's device tree).
    public static let intid = 32
    public static let fifoSize = 32
    public static let backlogSize = 4096
    /// Bytes held in all: the FIFO the guest sees plus the backlog behind it.
    public static let capacity = fifoSize + backlogSize

    // Register offsets
    static let dr: UInt64 = 0x00, rsr: UInt64 = 0x04, fr: UInt64 = 0x18
    static let imsc: UInt64 = 0x38, ris: UInt64 = 0x3C, mis: UInt64 = 0x40, icr: UInt64 = 0x44
    // Interrupt bits
    static let rxi: UInt32 = 1 << 4, txi: UInt32 = 1 << 5, rti: UInt32 = 1 << 6
    // FR bits
    static let rxfe: UInt32 = 1 << 4, txff: UInt32 = 1 << 5, rxff: UInt32 = 1 << 6, txfe: UInt32 = 1 << 7

    /// One ring for FIFO and backlog: the guest sees its first `fifoSize` bytes.
    var rx = [UInt8](repeating: 0, count: VirtualPL011.capacity)
    var rxHead = 0, rxCount = 0
    public private(set) var interruptMask: UInt32 = 0
    var rawStatus: UInt32 = 0

    public init() { updateStatus() }

    /// Level of the interrupt line (RIS & IMSC).
    public var interruptLine: Bool { rawStatus & interruptMask != 0 }
    /// Bytes that can still be received (FIFO and backlog).
    public var receiveSpace: Int { VirtualPL011.capacity - rxCount }

    mutating func updateStatus() {
        // TX is always ready; RX raises both "fifo level" and "timeout" so the
        // driver drains it whichever it waits for.
        rawStatus = VirtualPL011.txi
        if rxCount > 0 { rawStatus |= VirtualPL011.rxi | VirtualPL011.rti }
    }

    /// A byte from the console for this domain. False when FIFO and backlog are full (dropped).
    @discardableResult
    public mutating func receive(_ byte: UInt8) -> Bool {
        guard rxCount < VirtualPL011.capacity else { return false }
        rx[(rxHead + rxCount) % VirtualPL011.capacity] = byte
        rxCount += 1
        updateStatus()
        return true
    }

    /// A guest read. Returns nil for an offset or width the UART does not have.
    public mutating func read(offset: UInt64, size: Int) -> UInt64? {
        guard size == 2 || size == 4 || (size == 1 && offset == VirtualPL011.dr) else { return nil }
        switch offset {
        case VirtualPL011.dr:
            guard rxCount > 0 else { return 0 }
            let b = rx[rxHead]
            rxHead = (rxHead + 1) % VirtualPL011.capacity
            rxCount -= 1
            updateStatus()
            return UInt64(b)
        case VirtualPL011.rsr: return 0
        case VirtualPL011.fr:
            var f = VirtualPL011.txfe
            if rxCount == 0 { f |= VirtualPL011.rxfe }
            if rxCount >= VirtualPL011.fifoSize { f |= VirtualPL011.rxff }
            return UInt64(f)
        case VirtualPL011.imsc: return UInt64(interruptMask)
        case VirtualPL011.ris: return UInt64(rawStatus)
        case VirtualPL011.mis: return UInt64(rawStatus & interruptMask)
        case VirtualPL011.icr: return 0
        default:
            // Peripheral/PrimeCell ID registers and the rest: RAZ, like Xen.
            return offset < VirtualPL011.size ? 0 : nil
        }
    }

    /// A guest write. Returns the byte to print for a DR write, and whether the offset was valid.
    public mutating func write(offset: UInt64, size: Int, value: UInt64) -> (valid: Bool, output: UInt8?) {
        guard size == 2 || size == 4 || (size == 1 && offset == VirtualPL011.dr) else { return (false, nil) }
        switch offset {
        case VirtualPL011.dr: return (true, UInt8(truncatingIfNeeded: value))
        case VirtualPL011.imsc: interruptMask = UInt32(truncatingIfNeeded: value) & 0x7FF
        case VirtualPL011.icr:
            // Clearing is momentary: status recomputes from the FIFO state.
            updateStatus()
        default: break
        }
        return (offset < VirtualPL011.size, nil)
    }
}
