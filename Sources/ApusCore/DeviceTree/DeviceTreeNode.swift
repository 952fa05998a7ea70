/// A device tree node. A value type: a parsed tree is an independent copy of the blob,
/// and the host tool edits it freely before serializing.
public struct DTNode: Equatable, Sendable {
    /// The full node name including any unit address, e.g. "memory@40000000".
    /// The root node's name is empty.
    public var name: [UInt8]
    public var properties: [DTProperty]
    public var children: [DTNode]

    public init(name: [UInt8], properties: [DTProperty] = [], children: [DTNode] = []) {
        self.name = name
        self.properties = properties
        self.children = children
    }

    public init(name: String, properties: [DTProperty] = [], children: [DTNode] = []) {
        self.init(name: Array(name.utf8), properties: properties, children: children)
    }

    /// Index of the '@' that separates the base name from the unit address.
    private var atIndex: Int? {
        var i = 0
        while i < name.count {
            if name[i] == UInt8(ascii: "@") { return i }
            i &+= 1
        }
        return nil
    }

    /// The name without its unit address ("memory" for "memory@40000000").
    public var baseName: [UInt8] {
        guard let at = atIndex else { return name }
        return Array(name[0..<at])
    }

    /// The unit address text after '@' ("40000000"), or nil when there is none.
    public var unitAddress: [UInt8]? {
        guard let at = atIndex else { return nil }
        return Array(name[(at &+ 1)...])
    }

    /// The unit address parsed as hexadecimal, when it is a single plain hex number.
    public var unitAddressValue: UInt64? {
        guard let text = unitAddress, !text.isEmpty, text.count <= 16 else { return nil }
        var result: UInt64 = 0
        for c in text {
            let digit: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = c &- UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = c &- UInt8(ascii: "a") &+ 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = c &- UInt8(ascii: "A") &+ 10
            default: return nil
            }
            result = result << 4 | UInt64(digit)
        }
        return result
    }

    // MARK: Lookup

    public func hasName(_ other: StaticString) -> Bool { dtBytesEqual(name, other) }
    public func hasName(_ other: [UInt8]) -> Bool { name == other }

    public func property(_ name: StaticString) -> DTProperty? {
        for p in properties where p.hasName(name) { return p }
        return nil
    }

    public func property(_ name: [UInt8]) -> DTProperty? {
        for p in properties where p.name == name { return p }
        return nil
    }

    /// The child with exactly this full name (including any unit address).
    public func child(named name: StaticString) -> DTNode? {
        for c in children where c.hasName(name) { return c }
        return nil
    }

    public func child(named name: [UInt8]) -> DTNode? {
        for c in children where c.name == name { return c }
        return nil
    }

    /// True if the `compatible` list contains `s`.
    public func isCompatible(with s: StaticString) -> Bool {
        property("compatible")?.containsString(s) ?? false
    }

    public func isCompatible(with s: [UInt8]) -> Bool {
        property("compatible")?.containsString(s) ?? false
    }

    /// Index of the child named by `path[range]`. A component with a unit address must match
    /// exactly; one without matches an exact name first, then the first child whose base name
    /// it is (so "/memory" finds "memory@40000000", as Linux's path lookup does).
    func childIndex(matching path: [UInt8], _ range: Range<Int>) -> Int? {
        var i = 0
        while i < children.count {
            let name = children[i].name
            if dtBytesEqual(name, 0..<name.count, path, range) { return i }
            i &+= 1
        }
        var j = range.lowerBound
        while j < range.upperBound {
            if path[j] == UInt8(ascii: "@") { return nil }
            j &+= 1
        }
        i = 0
        while i < children.count {
            let name = children[i].name
            if name.count > range.count, name[range.count] == UInt8(ascii: "@"),
               dtBytesEqual(name, 0..<range.count, path, range) {
                return i
            }
            i &+= 1
        }
        return nil
    }
}

#if !hasFeature(Embedded)
extension DTNode {
    public var nameString: String { String(decoding: name, as: UTF8.self) }
}
#endif
