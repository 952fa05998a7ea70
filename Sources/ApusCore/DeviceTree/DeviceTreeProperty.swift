/// A device tree property: a name and an uninterpreted big-endian value.
/// The readers below never trap: a value of the wrong shape gives nil.
public struct DTProperty: Equatable, Sendable {
    public var name: [UInt8]
    public var value: [UInt8]

    public init(name: [UInt8], value: [UInt8]) {
        self.name = name
        self.value = value
    }

    /// Builds a property whose name comes from a String (host tool, literals).
    public init(name: String, value: [UInt8]) {
        self.init(name: Array(name.utf8), value: value)
    }

    public func hasName(_ other: StaticString) -> Bool { dtBytesEqual(name, other) }
    public func hasName(_ other: [UInt8]) -> Bool { name == other }

    /// A property with no value (a boolean flag such as `ranges;` or `always-on;`).
    public var isEmpty: Bool { value.isEmpty }

    /// The 32-bit cell at `index` (counted in cells).
    public func u32(at index: Int = 0) -> UInt32? {
        guard index >= 0, index <= Int.max / 4 else { return nil }
        return value.readBE32(at: index &* 4)
    }

    /// The 64-bit value at `index` (counted in 64-bit units, i.e. pairs of cells).
    public func u64(at index: Int = 0) -> UInt64? {
        guard index >= 0, index <= Int.max / 8 else { return nil }
        return value.readBE64(at: index &* 8)
    }

    /// A number made of `count` cells (1 or 2, or 0 meaning 0) starting at cell `cell`:
    /// how `reg`, `ranges` and similar properties encode addresses and sizes.
    public func number(atCell cell: Int, count: Int) -> UInt64? {
        guard cell >= 0, cell <= Int.max / 8 else { return nil }
        switch count {
        case 0: return cell &* 4 <= value.count ? 0 : nil
        case 1: return u32(at: cell).map { UInt64($0) }
        case 2:
            guard let hi = u32(at: cell), let lo = u32(at: cell &+ 1) else { return nil }
            return UInt64(hi) << 32 | UInt64(lo)
        default: return nil
        }
    }

    /// The whole value as cells, or nil if its length is not a multiple of 4.
    public var cells: [UInt32]? {
        guard value.count % 4 == 0 else { return nil }
        var result: [UInt32] = []
        result.reserveCapacity(value.count / 4)
        var offset = 0
        while let cell = value.readBE32(at: offset) {
            result.append(cell)
            offset &+= 4
        }
        return result
    }

    /// The NUL-separated strings of a string-list value (`compatible`, `clock-names`, ...).
    /// A missing final NUL is tolerated; an empty value has no strings.
    public var strings: [[UInt8]] {
        var result: [[UInt8]] = []
        forEachString { range in result.append(Array(value[range])) }
        return result
    }

    /// The first string of the value (the whole value for a simple string property).
    public var string: [UInt8]? {
        var first: [UInt8]?
        forEachString { range in if first == nil { first = Array(value[range]) } }
        return first
    }

    /// True if one of the strings of a string list equals `s` (e.g. a `compatible` entry).
    public func containsString(_ s: StaticString) -> Bool {
        var found = false
        forEachString { range in if !found && dtBytesEqual(value, range, s) { found = true } }
        return found
    }

    public func containsString(_ s: [UInt8]) -> Bool {
        var found = false
        forEachString { range in if !found && dtBytesEqual(value, range, s) { found = true } }
        return found
    }

    /// Index of `s` in the string list (e.g. to find "apb_pclk" in `clock-names`).
    public func indexOfString(_ s: StaticString) -> Int? {
        var index = 0
        var found: Int?
        forEachString { range in
            if found == nil && dtBytesEqual(value, range, s) { found = index }
            index &+= 1
        }
        return found
    }

    /// Calls `body` with the byte range (without NUL) of each string in the value.
    func forEachString(_ body: (Range<Int>) -> Void) {
        var start = 0
        var i = 0
        while i < value.count {
            if value[i] == 0 {
                body(start..<i)
                start = i &+ 1
            }
            i &+= 1
        }
        if start < value.count { body(start..<value.count) }
    }
}

#if !hasFeature(Embedded)
extension DTProperty {
    /// Host-side conveniences for printing; the hypervisor works on bytes.
    public var nameString: String { String(decoding: name, as: UTF8.self) }
    public var stringValue: String? { string.map { String(decoding: $0, as: UTF8.self) } }
    public var stringValues: [String] { strings.map { String(decoding: $0, as: UTF8.self) } }
}
#endif
