/// A small ordered map over sorted parallel arrays, used instead of Dictionary/Set:
/// deterministic iteration, no hashing seed, and no floating point (Dictionary's
/// capacity arithmetic uses Double, which the EL2 image built with general-regs-only
/// would need soft-float helpers for). Lookups are binary searches; inserts shift.
protocol XSMapKey {
    static func xsOrder(_ a: Self, _ b: Self) -> Int
}

extension Array: XSMapKey where Element == UInt8 {
    static func xsOrder(_ a: [UInt8], _ b: [UInt8]) -> Int { xsCompare(a, b) }
}

extension UInt16: XSMapKey {
    static func xsOrder(_ a: UInt16, _ b: UInt16) -> Int { a == b ? 0 : (a < b ? -1 : 1) }
}

extension UInt32: XSMapKey {
    static func xsOrder(_ a: UInt32, _ b: UInt32) -> Int { a == b ? 0 : (a < b ? -1 : 1) }
}

struct XSMap<Key: XSMapKey, Value> {
    private(set) var keys: [Key] = []
    private(set) var values: [Value] = []

    init() {}

    var count: Int { keys.count }
    var isEmpty: Bool { keys.isEmpty }

    /// Index of `key`, or where it would be inserted.
    func search(_ key: Key) -> (found: Bool, index: Int) {
        var lo = 0, hi = keys.count
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            let c = Key.xsOrder(keys[mid], key)
            if c == 0 { return (true, mid) }
            if c < 0 { lo = mid + 1 } else { hi = mid }
        }
        return (false, lo)
    }

    subscript(key: Key) -> Value? {
        get {
            let s = search(key)
            return s.found ? values[s.index] : nil
        }
        set {
            let s = search(key)
            if let v = newValue {
                if s.found { values[s.index] = v } else { keys.insert(key, at: s.index); values.insert(v, at: s.index) }
            } else if s.found {
                keys.remove(at: s.index); values.remove(at: s.index)
            }
        }
    }

    func contains(_ key: Key) -> Bool { search(key).found }

    @discardableResult
    mutating func removeValue(forKey key: Key) -> Value? {
        let s = search(key)
        guard s.found else { return nil }
        keys.remove(at: s.index)
        return values.remove(at: s.index)
    }

    mutating func removeAll() { keys.removeAll(); values.removeAll() }

    /// Mutate the value stored at `index` (0..<count) in place.
    mutating func updateValue(at index: Int, _ body: (inout Value) -> Void) {
        body(&values[index])
    }
}
