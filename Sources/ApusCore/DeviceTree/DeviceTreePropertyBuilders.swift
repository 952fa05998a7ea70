// Constructors for the usual property value shapes. Names accept String (so literals work
// and the host tool can pass user input) or raw bytes; only the UTF-8 bytes are kept.

extension DTProperty {
    public static func empty(_ name: [UInt8]) -> DTProperty { DTProperty(name: name, value: []) }
    public static func empty(_ name: String) -> DTProperty { .empty(Array(name.utf8)) }

    public static func bytes(_ name: [UInt8], _ value: [UInt8]) -> DTProperty {
        DTProperty(name: name, value: value)
    }
    public static func bytes(_ name: String, _ value: [UInt8]) -> DTProperty {
        .bytes(Array(name.utf8), value)
    }

    public static func u32(_ name: [UInt8], _ v: UInt32) -> DTProperty { .cells(name, [v]) }
    public static func u32(_ name: String, _ v: UInt32) -> DTProperty { .cells(Array(name.utf8), [v]) }

    /// A 64-bit value as two cells, most significant first.
    public static func u64(_ name: [UInt8], _ v: UInt64) -> DTProperty {
        var value: [UInt8] = []
        value.appendBE64(v)
        return DTProperty(name: name, value: value)
    }
    public static func u64(_ name: String, _ v: UInt64) -> DTProperty { .u64(Array(name.utf8), v) }

    public static func cells(_ name: [UInt8], _ cells: [UInt32]) -> DTProperty {
        var value: [UInt8] = []
        value.reserveCapacity(cells.count &* 4)
        for cell in cells { value.appendBE32(cell) }
        return DTProperty(name: name, value: value)
    }
    public static func cells(_ name: String, _ cells: [UInt32]) -> DTProperty {
        .cells(Array(name.utf8), cells)
    }

    /// A NUL-terminated string value.
    public static func string(_ name: [UInt8], _ s: [UInt8]) -> DTProperty { .strings(name, [s]) }
    public static func string(_ name: String, _ s: String) -> DTProperty {
        .strings(Array(name.utf8), [Array(s.utf8)])
    }

    /// A string list: each string NUL-terminated, back to back.
    public static func strings(_ name: [UInt8], _ list: [[UInt8]]) -> DTProperty {
        var value: [UInt8] = []
        for s in list {
            value.append(contentsOf: s)
            value.append(0)
        }
        return DTProperty(name: name, value: value)
    }
    public static func strings(_ name: String, _ list: [String]) -> DTProperty {
        var bytes: [[UInt8]] = []
        for s in list { bytes.append(Array(s.utf8)) }
        return .strings(Array(name.utf8), bytes)
    }

    /// A `reg` property: (address, size) pairs encoded with the parent's cell counts.
    /// Nil if a cell count is not 0...2 or a value does not fit in its cells.
    public static func reg(_ entries: [RegEntry], addressCells: Int, sizeCells: Int) -> DTProperty? {
        var cells: [UInt32] = []
        for entry in entries {
            guard appendNumber(entry.address, cells: addressCells, to: &cells),
                  appendNumber(entry.size, cells: sizeCells, to: &cells) else { return nil }
        }
        return .cells("reg", cells)
    }

    private static func appendNumber(_ n: UInt64, cells count: Int, to cells: inout [UInt32]) -> Bool {
        switch count {
        case 0: return n == 0
        case 1:
            guard n <= UInt64(UInt32.max) else { return false }
            cells.append(UInt32(n))
            return true
        case 2:
            cells.append(UInt32(truncatingIfNeeded: n >> 32))
            cells.append(UInt32(truncatingIfNeeded: n))
            return true
        default: return false
        }
    }
}
