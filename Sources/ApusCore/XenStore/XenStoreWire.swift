/// The XenStore wire protocol (xen/include/public/io/xs_wire.h, docs/misc/xenstore.txt):
/// a 16-byte little-endian header {type, req_id, tx_id, len} followed by `len` payload bytes,
/// usually NUL-terminated strings. Everything here works on `[UInt8]` (no String), so it is
/// usable in the Embedded hypervisor image.

/// Message types (`enum xsd_sockmsg_type`).
public enum XenStoreMessageType: UInt32, Sendable {
    case control = 0            // was XS_DEBUG
    case directory = 1
    case read = 2
    case getPermissions = 3
    case watch = 4
    case unwatch = 5
    case transactionStart = 6
    case transactionEnd = 7
    case introduce = 8
    case release = 9
    case getDomainPath = 10
    case write = 11
    case mkdir = 12
    case rm = 13
    case setPermissions = 14
    case watchEvent = 15
    case error = 16
    case isDomainIntroduced = 17
    case resume = 18
    case setTarget = 19
    // 20 was XS_RESTRICT (removed)
    case resetWatches = 21
    case directoryPart = 22
    case getFeature = 23
    case setFeature = 24
    case getQuota = 25
    case setQuota = 26
}

/// The errors a reply can carry: exactly the `xsd_errors` table of xs_wire.h (the name is sent).
public enum XenStoreError: UInt8, Error, Equatable, Sendable {
    case einval, eacces, eexist, eisdir, enoent, enomem, enospc, eio, enotempty, enosys
    case erofs, ebusy, eagain, eisconn, e2big, eperm

    /// The string sent in an XS_ERROR reply (without the terminating NUL).
    public var wireName: [UInt8] {
        switch self {
        case .einval: return xsBytes("EINVAL")
        case .eacces: return xsBytes("EACCES")
        case .eexist: return xsBytes("EEXIST")
        case .eisdir: return xsBytes("EISDIR")
        case .enoent: return xsBytes("ENOENT")
        case .enomem: return xsBytes("ENOMEM")
        case .enospc: return xsBytes("ENOSPC")
        case .eio: return xsBytes("EIO")
        case .enotempty: return xsBytes("ENOTEMPTY")
        case .enosys: return xsBytes("ENOSYS")
        case .erofs: return xsBytes("EROFS")
        case .ebusy: return xsBytes("EBUSY")
        case .eagain: return xsBytes("EAGAIN")
        case .eisconn: return xsBytes("EISCONN")
        case .e2big: return xsBytes("E2BIG")
        case .eperm: return xsBytes("EPERM")
        }
    }
}

/// Constants of xs_wire.h.
public enum XenStoreWire {
    public static let headerSize = 16
    /// XENSTORE_PAYLOAD_MAX: longest payload in either direction.
    public static let payloadMax = 4096
    /// XENSTORE_ABS_PATH_MAX / XENSTORE_REL_PATH_MAX.
    public static let absolutePathMax = 3072
    public static let relativePathMax = 2048

    /// Reserved domain ids (xen.h).
    public static let domidSelf: UInt16 = 0x7FF0
    public static let domidFirstReserved: UInt16 = 0x7FF0
    public static let domidAny: UInt16 = 0x7FF5

    /// A complete message: header then payload.
    public static func message(type: UInt32, requestID: UInt32, transactionID: UInt32, payload: [UInt8]) -> [UInt8] {
        var m = [UInt8]()
        m.reserveCapacity(headerSize + payload.count)
        xsAppendLE32(&m, type)
        xsAppendLE32(&m, requestID)
        xsAppendLE32(&m, transactionID)
        xsAppendLE32(&m, UInt32(truncatingIfNeeded: payload.count))
        m.append(contentsOf: payload)
        return m
    }

    public static func message(_ type: XenStoreMessageType, requestID: UInt32 = 0, transactionID: UInt32 = 0,
                               payload: [UInt8]) -> [UInt8] {
        message(type: type.rawValue, requestID: requestID, transactionID: transactionID, payload: payload)
    }

    /// WATCH_EVENT: "<path>\0<token>\0", req_id and tx_id 0.
    public static func watchEvent(path: [UInt8], token: [UInt8]) -> [UInt8] {
        var p = path
        p.append(0)
        p.append(contentsOf: token)
        p.append(0)
        return message(.watchEvent, payload: p)
    }
}

/// A parsed header. `length` is the header's claim, not checked against anything.
public struct XenStoreHeader: Equatable, Sendable {
    public var type: UInt32
    public var requestID: UInt32
    public var transactionID: UInt32
    public var length: UInt32

    public init(type: UInt32, requestID: UInt32, transactionID: UInt32, length: UInt32) {
        self.type = type; self.requestID = requestID; self.transactionID = transactionID; self.length = length
    }

    /// Nil when fewer than 16 bytes are given.
    public init?(_ bytes: [UInt8]) {
        guard bytes.count >= XenStoreWire.headerSize else { return nil }
        type = xsLE32(bytes, 0)
        requestID = xsLE32(bytes, 4)
        transactionID = xsLE32(bytes, 8)
        length = xsLE32(bytes, 12)
    }
}

// MARK: - Byte helpers (no String, no Foundation)

@inline(__always)
func xsBytes(_ s: StaticString) -> [UInt8] {
    s.withUTF8Buffer { Array($0) }
}

/// Little-endian u32 at `offset`; the caller guarantees offset + 4 <= count.
@inline(__always)
func xsLE32(_ b: [UInt8], _ offset: Int) -> UInt32 {
    UInt32(b[offset]) | UInt32(b[offset + 1]) << 8 | UInt32(b[offset + 2]) << 16 | UInt32(b[offset + 3]) << 24
}

@inline(__always)
func xsAppendLE32(_ b: inout [UInt8], _ v: UInt32) {
    b.append(UInt8(truncatingIfNeeded: v))
    b.append(UInt8(truncatingIfNeeded: v >> 8))
    b.append(UInt8(truncatingIfNeeded: v >> 16))
    b.append(UInt8(truncatingIfNeeded: v >> 24))
}

/// Unsigned decimal, as xenstored prints ids and generation counts.
func xsDecimal<T: FixedWidthInteger & UnsignedInteger>(_ value: T) -> [UInt8] {
    var v = UInt64(truncatingIfNeeded: value)
    if v == 0 { return [0x30] }
    var digits = [UInt8]()
    while v > 0 {
        digits.append(0x30 &+ UInt8(truncatingIfNeeded: v % 10))
        v /= 10
    }
    digits.reverse()
    return digits
}

/// Lower-case hexadecimal, zero-padded to `width` digits.
func xsHex(_ value: UInt64, width: Int) -> [UInt8] {
    var out = [UInt8](repeating: 0x30, count: width)
    var v = value
    var i = width - 1
    while i >= 0 {
        let d = UInt8(truncatingIfNeeded: v & 0xF)
        out[i] = d < 10 ? 0x30 &+ d : 0x61 &+ (d &- 10)
        v >>= 4
        i -= 1
    }
    return out
}

/// Strict decimal domid: 1 to 5 digits, value <= 65535.
func xsParseDomid(_ bytes: ArraySlice<UInt8>) -> UInt16? {
    guard !bytes.isEmpty, bytes.count <= 5 else { return nil }
    var v: UInt32 = 0
    for c in bytes {
        guard c >= 0x30, c <= 0x39 else { return nil }
        v = v * 10 + UInt32(c &- 0x30)
    }
    return v <= 0xFFFF ? UInt16(v) : nil
}

/// `atoi` of xenstored's DIRECTORY_PART offset: leading decimal digits, saturating;
/// a leading '-' gives a huge offset (C's negative int seen as unsigned).
func xsParseOffset(_ bytes: ArraySlice<UInt8>) -> Int {
    var v = 0
    var first = true
    for c in bytes {
        if first && c == 0x2D { return Int.max }
        first = false
        guard c >= 0x30, c <= 0x39 else { break }
        if v > (Int.max - 9) / 10 { return Int.max }
        v = v * 10 + Int(c &- 0x30)
    }
    return v
}

/// The NUL-terminated strings of a payload; bytes after the last NUL are ignored
/// (xenstored's get_strings). Each element excludes its NUL.
func xsStrings(_ payload: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
    var out = [ArraySlice<UInt8>]()
    var start = payload.startIndex
    var i = payload.startIndex
    while i < payload.endIndex {
        if payload[i] == 0 {
            out.append(payload[start..<i])
            start = i + 1
        }
        i += 1
    }
    return out
}

/// Number of NUL bytes (xenstore_count_strings).
func xsCountNULs(_ payload: ArraySlice<UInt8>) -> Int {
    payload.withUnsafeBufferPointer { b in
        var n = 0
        var i = 0
        while i < b.count { if b[i] == 0 { n &+= 1 }; i &+= 1 }
        return n
    }
}

/// The single argument of a payload that must be exactly one string and its NUL (xenstored's onearg).
func xsOneArg(_ payload: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
    guard let last = payload.last, last == 0 else { return nil }
    let body = payload.dropLast()
    let nul: Bool = body.withUnsafeBufferPointer { b in
        var i = 0
        while i < b.count { if b[i] == 0 { return true }; i &+= 1 }
        return false
    }
    return nul ? nil : body
}

/// Lexicographic byte order (then shorter first): the order of the store's sorted maps.
@inline(__always)
func xsCompare(_ a: [UInt8], _ b: [UInt8]) -> Int {
    let n = a.count < b.count ? a.count : b.count
    var i = 0
    while i < n {
        let x = a[i], y = b[i]
        if x != y { return x < y ? -1 : 1 }
        i += 1
    }
    return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
}
