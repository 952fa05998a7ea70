// Xen's own command line (`/chosen/xen,xen-bootargs`), the options that shape dom0:
// `dom0_mem=`, `dom0_max_vcpus=` and `sched=`. Syntax as Xen 4.17 parses it
// (xen/common/kernel.c cmdline_parse, xen/lib parse_size_and_unit); other options are ignored.

/// Xen's schedulers (`sched=`); Xen 4.17's default is credit2.
public enum XenScheduler: Equatable, Sendable {
    case credit
    case credit2
    case rtds
    case arinc653
    case null

    /// The scheduler a `sched=` value names; nil for a name Xen does not know (Xen then
    /// warns and keeps its default, as the caller does).
    public init?(name: [UInt8]) {
        if dtBytesEqual(name, "credit") { self = .credit }
        else if dtBytesEqual(name, "credit2") { self = .credit2 }
        else if dtBytesEqual(name, "rtds") { self = .rtds }
        else if dtBytesEqual(name, "arinc653") { self = .arinc653 }
        else if dtBytesEqual(name, "null") { self = .null }
        else { return nil }
    }
}

/// How much RAM dom0 asked for. Xen/Arm 4.17 takes one plain size; the `min:`/`max:` items
/// are x86's syntax (`dom0_mem=[min:S,][max:S,][S]`), accepted here as bounds on the size.
public struct Dom0MemoryRequest: Equatable, Sendable {
    /// The size given, nil when only bounds (or nothing) were given.
    public var amount: UInt64?
    public var minimum: UInt64?
    public var maximum: UInt64?

    /// Xen/Arm's default without `dom0_mem=` (it prints "PLEASE SPECIFY dom0_mem").
    public static let defaultSize: UInt64 = 512 << 20

    public init(amount: UInt64? = nil, minimum: UInt64? = nil, maximum: UInt64? = nil) {
        self.amount = amount
        self.minimum = minimum
        self.maximum = maximum
    }

    /// The size to allocate given the RAM that is free: the amount (else all free RAM when
    /// only a maximum bounds it, as x86 does, else the 512 MiB default), clamped to
    /// [minimum, maximum].
    public func size(available: UInt64) -> UInt64 {
        var s = amount ?? (maximum != nil ? available : Dom0MemoryRequest.defaultSize)
        if let hi = maximum, s > hi { s = hi }
        if let lo = minimum, s < lo { s = lo }
        return s
    }
}

/// The dom0 options of Xen's command line.
public struct XenCommandLine: Equatable, Sendable {
    public var dom0Memory = Dom0MemoryRequest()
    /// `dom0_max_vcpus=`: 0 (or absent) means one vCPU per physical CPU.
    public var dom0MaxVCPUs: Int = 0
    public var scheduler: XenScheduler = .credit2
    /// A `sched=` value Xen does not know (kept so the caller can warn as Xen does).
    public var unknownScheduler: [UInt8]?

    public init() {}

    /// Parses the options Apus uses; a later option overrides an earlier one, as in Xen.
    public static func parse(_ line: [UInt8]) throws(Dom0BootError) -> XenCommandLine {
        var c = XenCommandLine()
        var i = 0
        while i < line.count {
            while i < line.count && line[i] == UInt8(ascii: " ") { i &+= 1 }
            let start = i
            while i < line.count && line[i] != UInt8(ascii: " ") { i &+= 1 }
            guard i > start else { continue }
            let token = Array(line[start..<i])
            guard let eq = token.firstIndex(of: UInt8(ascii: "=")) else { continue }
            let name = Array(token[0..<eq])
            let value = Array(token[(eq &+ 1)...])
            if dtBytesEqual(name, "dom0_mem") {
                c.dom0Memory = try parseDom0Mem(value)
            } else if dtBytesEqual(name, "dom0_max_vcpus") {
                guard let n = parseInteger(value), n <= UInt64(Int32.max) else { throw .badOption(token) }
                c.dom0MaxVCPUs = Int(n)
            } else if dtBytesEqual(name, "sched") {
                if let s = XenScheduler(name: value) {
                    c.scheduler = s
                    c.unknownScheduler = nil
                } else {
                    c.unknownScheduler = value
                }
            }
        }
        return c
    }

    /// `dom0_mem=`: a size, or comma-separated `min:`/`max:` items and a size.
    static func parseDom0Mem(_ value: [UInt8]) throws(Dom0BootError) -> Dom0MemoryRequest {
        var r = Dom0MemoryRequest()
        let bad = Dom0BootError.badOption(Array("dom0_mem=".utf8) + value)
        var start = 0
        while start <= value.count {
            var end = start
            while end < value.count && value[end] != UInt8(ascii: ",") { end &+= 1 }
            var item = Array(value[start..<end])
            var slot = 0                                    // 0 amount, 1 min, 2 max
            if item.count > 4 && dtBytesEqual(item, 0..<4, "min:") { slot = 1; item.removeFirst(4) }
            else if item.count > 4 && dtBytesEqual(item, 0..<4, "max:") { slot = 2; item.removeFirst(4) }
            guard let size = parseSize(item) else { throw bad }
            switch slot {
            case 1: r.minimum = size
            case 2: r.maximum = size
            default: r.amount = size
            }
            start = end &+ 1
        }
        // Xen/Arm: a zero size is "not given" (512 MiB with a warning).
        if r.amount == 0 { r.amount = nil }
        return r
    }

    /// Xen's parse_size_and_unit with nothing left over: a number (decimal, 0x hex or 0 octal)
    /// and an optional unit B, K, M, G or T (either case); no unit means KiB. Nil on overflow.
    static func parseSize(_ s: [UInt8]) -> UInt64? {
        guard !s.isEmpty else { return nil }
        var digitsEnd = s.count
        var shift: UInt64 = 10
        switch s[s.count &- 1] {
        case UInt8(ascii: "B"), UInt8(ascii: "b"): shift = 0; digitsEnd &-= 1
        case UInt8(ascii: "K"), UInt8(ascii: "k"): shift = 10; digitsEnd &-= 1
        case UInt8(ascii: "M"), UInt8(ascii: "m"): shift = 20; digitsEnd &-= 1
        case UInt8(ascii: "G"), UInt8(ascii: "g"): shift = 30; digitsEnd &-= 1
        case UInt8(ascii: "T"), UInt8(ascii: "t"): shift = 40; digitsEnd &-= 1
        default: break
        }
        // 'b' and 'B' are also hex digits: Xen reads "0x1b" as the number 0x1b, in KiB.
        if shift == 0, s.count > 2, s[0] == UInt8(ascii: "0"), s[1] | 0x20 == UInt8(ascii: "x") {
            digitsEnd = s.count
            shift = 10
        }
        guard let n = parseInteger(Array(s[0..<digitsEnd])), n <= UInt64.max >> shift else { return nil }
        return n << shift
    }

    /// simple_strtoull with base 0 and nothing left over; nil when empty, malformed or too big.
    static func parseInteger(_ s: [UInt8]) -> UInt64? {
        var i = 0
        var base: UInt64 = 10
        if s.count > 2, s[0] == UInt8(ascii: "0"), s[1] | 0x20 == UInt8(ascii: "x") { base = 16; i = 2 }
        else if s.count > 1, s[0] == UInt8(ascii: "0") { base = 8; i = 1 }
        guard i < s.count else { return nil }
        var n: UInt64 = 0
        while i < s.count {
            let c = s[i]
            let d: UInt64
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt64(c &- UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt64(c &- UInt8(ascii: "a")) &+ 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt64(c &- UInt8(ascii: "A")) &+ 10
            default: return nil
            }
            guard d < base else { return nil }
            let (m, o1) = n.multipliedReportingOverflow(by: base)
            let (a, o2) = m.addingReportingOverflow(d)
            guard !o1, !o2 else { return nil }
            n = a
            i &+= 1
        }
        return n
    }
}
