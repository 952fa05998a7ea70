// Byte-level helpers shared by the device tree code.
//
// Names and strings are kept as raw bytes and compared byte by byte: String equality
// and hashing would pull Unicode tables into the hypervisor image, and device tree
// names are plain ASCII anyway.

/// Compares a byte range of `bytes` with the UTF-8 bytes of a static string.
/// The caller guarantees `range` lies inside `bytes`.
@inline(__always)
func dtBytesEqual(_ bytes: [UInt8], _ range: Range<Int>, _ name: StaticString) -> Bool {
    name.withUTF8Buffer { buffer in
        guard buffer.count == range.count else { return false }
        var i = 0
        while i < buffer.count {
            if bytes[range.lowerBound &+ i] != buffer[i] { return false }
            i &+= 1
        }
        return true
    }
}

/// Compares a byte range of `bytes` with all of `other`.
@inline(__always)
func dtBytesEqual(_ bytes: [UInt8], _ range: Range<Int>, _ other: [UInt8]) -> Bool {
    dtBytesEqual(bytes, range, other, 0..<other.count)
}

/// Compares two byte ranges; the caller guarantees each range lies inside its array.
func dtBytesEqual(_ a: [UInt8], _ ra: Range<Int>, _ b: [UInt8], _ rb: Range<Int>) -> Bool {
    guard ra.count == rb.count else { return false }
    var i = 0
    while i < ra.count {
        if a[ra.lowerBound &+ i] != b[rb.lowerBound &+ i] { return false }
        i &+= 1
    }
    return true
}

@inline(__always)
func dtBytesEqual(_ bytes: [UInt8], _ name: StaticString) -> Bool {
    dtBytesEqual(bytes, 0..<bytes.count, name)
}

/// The bytes of a static string, for building names from literals.
func dtBytes(_ name: StaticString) -> [UInt8] {
    name.withUTF8Buffer { Array($0) }
}

extension Array where Element == UInt8 {
    /// Appends `value` in big-endian order (the FDT byte order).
    @inline(__always)
    mutating func appendBE32(_ value: UInt32) {
        append(UInt8(truncatingIfNeeded: value >> 24))
        append(UInt8(truncatingIfNeeded: value >> 16))
        append(UInt8(truncatingIfNeeded: value >> 8))
        append(UInt8(truncatingIfNeeded: value))
    }

    @inline(__always)
    mutating func appendBE64(_ value: UInt64) {
        appendBE32(UInt32(truncatingIfNeeded: value >> 32))
        appendBE32(UInt32(truncatingIfNeeded: value))
    }

    /// Reads a big-endian 32-bit word at `offset`, or nil if it does not fit.
    @inline(__always)
    func readBE32(at offset: Int) -> UInt32? {
        guard offset >= 0, offset <= count &- 4 else { return nil }
        return UInt32(self[offset]) << 24 | UInt32(self[offset &+ 1]) << 16
            | UInt32(self[offset &+ 2]) << 8 | UInt32(self[offset &+ 3])
    }

    @inline(__always)
    func readBE64(at offset: Int) -> UInt64? {
        guard let hi = readBE32(at: offset), let lo = readBE32(at: offset &+ 4) else { return nil }
        return UInt64(hi) << 32 | UInt64(lo)
    }
}

/// Rounds up to a multiple of 4 (FDT token alignment); `value` is a small non-negative size.
@inline(__always)
func dtAlign4(_ value: Int) -> Int { (value &+ 3) & ~3 }
