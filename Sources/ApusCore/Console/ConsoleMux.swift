/// The hypervisor console as Xen users know it: every domain's output goes to the
/// one physical UART with a "(dN) " prefix at the start of each line, and keyboard
/// input goes to one place at a time, moved along by pressing Ctrl-A three times.
///
/// Output from the domain holding the input focus is passed on as it comes (an
/// interactive shell's prompt has no newline); other domains' output is held per
/// line so that concurrent domains do not interleave mid-line.
public struct ConsoleMux: Sendable {
    public static let switchChar: UInt8 = 0x01      // Ctrl-A
    public static let lineLimit = 160

    /// Domain ids in the order input focus visits them; focus index 0 is the hypervisor.
    public private(set) var domains: [Int] = []
    public private(set) var focus = 0
    var ctrlACount = 0
    var partial: [[UInt8]] = []
    var atLineStart: [Bool] = []
    var lastWriter = -1

    public init() {}

    public mutating func addDomain(_ id: Int) {
        domains.append(id); partial.append([]); atLineStart.append(true)
        if domains.count == 1 { focus = 1 }          // a lone domain gets the keyboard, as dom0 does on Xen
    }

    public mutating func removeDomain(_ id: Int) {
        guard let i = domains.firstIndex(of: id) else { return }
        domains.remove(at: i); partial.remove(at: i); atLineStart.remove(at: i)
        if i + 1 < focus { focus -= 1 }                  // same domain keeps the keyboard
        else if focus == i + 1 { focus = domains.isEmpty ? 0 : min(focus, domains.count) }
    }

    /// Domain id that currently receives input, nil for the hypervisor.
    public var focusedDomain: Int? { focus == 0 ? nil : domains[focus - 1] }

    public enum Input: Equatable, Sendable {
        case toDomain(Int, UInt8)
        case toHypervisor(UInt8)
        /// Focus moved; the caller prints `focusMessage`.
        case switched
        case swallowed
    }

    /// One byte typed on the physical console.
    public mutating func input(_ byte: UInt8) -> Input {
        if byte == ConsoleMux.switchChar {
            ctrlACount += 1
            if ctrlACount == 3 {
                ctrlACount = 0
                focus = (focus + 1) % (domains.count + 1)
                return .switched
            }
            return .swallowed
        }
        ctrlACount = 0
        if let d = focusedDomain { return .toDomain(d, byte) }
        return .toHypervisor(byte)
    }

    /// Xen 4.17's wording (xen/drivers/char/console.c): "(XEN) *** Serial input to DOM1 (type 'CTRL-a' three times to switch input)".
    public var focusMessage: String {
        if let d = focusedDomain {
            return "(XEN) *** Serial input to DOM\(d) (type 'CTRL-a' three times to switch input)\n"
        }
        return "(XEN) *** Serial input to Xen (type 'CTRL-a' three times to switch input)\n"
    }

    /// Fast path for the focused domain: nil when the byte must go through
    /// `output` (buffered domain); otherwise whether to print the "(dN) " prefix first.
    /// The caller then prints the byte (a \n as \r\n).
    public mutating func passThrough(domain id: Int, _ byte: UInt8) -> Bool? {
        guard focus > 0, domains[focus - 1] == id, partial[focus - 1].isEmpty else { return nil }
        let i = focus - 1
        let p = atLineStart[i]
        if byte != 0x0D { atLineStart[i] = byte == 0x0A }
        return p && byte != 0x0D
    }

    /// Bytes to print for one byte of a domain's output.
    public mutating func output(domain id: Int, _ byte: UInt8) -> [UInt8] {
        guard let i = domains.firstIndex(of: id) else { return [] }
        if byte == 0x0D { return [] }                 // lines end with \n; \r comes back with it
        if focusedDomain == id {
            var out: [UInt8] = []
            if atLineStart[i] { out += prefix(id) }
            // Text held while the domain had no focus comes first.
            if !partial[i].isEmpty { out += partial[i]; partial[i].removeAll(keepingCapacity: true) }
            if byte == 0x0A { out += [0x0D, 0x0A] } else { out.append(byte) }
            atLineStart[i] = byte == 0x0A
            return out
        }
        partial[i].append(byte)
        if byte == 0x0A || partial[i].count >= ConsoleMux.lineLimit {
            var out = atLineStart[i] ? prefix(id) : []
            for b in partial[i] { if b == 0x0A { out += [0x0D, 0x0A] } else { out.append(b) } }
            atLineStart[i] = byte == 0x0A
            if byte != 0x0A { out += [0x0D, 0x0A]; atLineStart[i] = true }
            partial[i].removeAll(keepingCapacity: true)
            return out
        }
        return []
    }

    func prefix(_ id: Int) -> [UInt8] {
        var p: [UInt8] = [0x28, 0x64]                 // "(d"
        p += decimal(id)
        p += [0x29, 0x20]                             // ") "
        return p
    }
}

/// Decimal digits of a non-negative integer, without String (keeps the image small).
public func decimal(_ v: Int) -> [UInt8] {
    if v <= 0 { return [0x30] }
    var n = v, d: [UInt8] = []
    while n > 0 { d.append(UInt8(0x30 + n % 10)); n /= 10 }
    return d.reversed()
}
