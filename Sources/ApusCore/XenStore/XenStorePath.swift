/// Paths and permissions of the store, with xenstored's rules (tools/xenstored/core.c).

/// One entry of a node's permission list, as in "n0", "r5", "b7".
/// Entry 0 names the owner and the access of every domain not listed later.
public struct XenStorePermission: Equatable, Sendable {
    public enum Access: UInt8, Sendable {
        case none = 0, read = 1, write = 2, both = 3

        /// 'n', 'r', 'w', 'b'.
        public var letter: UInt8 {
            switch self {
            case .none: return 0x6E
            case .read: return 0x72
            case .write: return 0x77
            case .both: return 0x62
            }
        }
    }

    public var domid: UInt16
    public var access: Access
    /// Set for entries naming a domain that is not (or no longer) introduced: kept in the
    /// list, reported by GET_PERMS, but never matched (xenstored's XS_PERM_IGNORE).
    public var ignored: Bool

    public init(domid: UInt16, access: Access, ignored: Bool = false) {
        self.domid = domid; self.access = access; self.ignored = ignored
    }

    /// "r5" etc., without NUL.
    public var wireString: [UInt8] {
        var s: [UInt8] = [access.letter]
        s.append(contentsOf: xsDecimal(domid))
        return s
    }

    /// Parses "<n|r|w|b><domid>" (domid decimal or 0x-hex, <= 65535). Nil if malformed.
    public static func parse(_ s: ArraySlice<UInt8>) -> XenStorePermission? {
        guard let first = s.first else { return nil }
        let access: Access
        switch first {
        case 0x6E: access = .none
        case 0x72: access = .read
        case 0x77: access = .write
        case 0x62: access = .both
        default: return nil
        }
        let digits = s.dropFirst()
        guard !digits.isEmpty else { return nil }
        var value: UInt32 = 0
        if digits.count > 2, digits[digits.startIndex] == 0x30,
           digits[digits.startIndex + 1] == 0x78 || digits[digits.startIndex + 1] == 0x58 {
            let hex = digits.dropFirst(2)
            guard hex.count <= 4 else { return nil }
            for c in hex {
                let d: UInt32
                switch c {
                case 0x30...0x39: d = UInt32(c &- 0x30)
                case 0x61...0x66: d = UInt32(c &- 0x61) + 10
                case 0x41...0x46: d = UInt32(c &- 0x41) + 10
                default: return nil
                }
                value = value << 4 | d
            }
        } else {
            guard digits.count <= 5 else { return nil }
            for c in digits {
                guard c >= 0x30, c <= 0x39 else { return nil }
                value = value * 10 + UInt32(c &- 0x30)
            }
            guard value <= 0xFFFF else { return nil }
        }
        return XenStorePermission(domid: UInt16(value), access: access)
    }
}

/// Access bits as xenstored computes them for a connection.
struct XSAccess: OptionSet {
    let rawValue: UInt8
    static let read = XSAccess(rawValue: 1)
    static let write = XSAccess(rawValue: 2)
    static let owner = XSAccess(rawValue: 4)
    static let all: XSAccess = [.read, .write, .owner]
}

enum XSPath {
    static let slash: UInt8 = 0x2F
    static let at: UInt8 = 0x40
    static let root: [UInt8] = [0x2F]
    static let localDomain: [UInt8] = xsBytes("/local/domain")

    /// xenstored's valid_chars: ASCII alphanumerics and "-/_@".
    @inline(__always)
    static func isValidChar(_ c: UInt8) -> Bool {
        switch c {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2D, 0x2F, 0x5F, 0x40: return true
        default: return false
        }
    }

    /// "/local/domain/<domid>".
    static func home(_ domid: UInt16) -> [UInt8] {
        var p = localDomain
        p.append(slash)
        p.append(contentsOf: xsDecimal(domid))
        return p
    }

    /// Parent of a canonical path; "/" for top-level nodes and for special ("@...") names.
    static func parent(_ path: [UInt8]) -> [UInt8] {
        var i = path.count - 1
        while i > 0 {
            if path[i] == slash { return Array(path[0..<i]) }
            i -= 1
        }
        return root
    }

    /// Last component (the whole name for special paths).
    static func basename(_ path: [UInt8]) -> [UInt8] {
        var i = path.count - 1
        while i >= 0 {
            if path[i] == slash { return Array(path[(i + 1)...]) }
            i -= 1
        }
        return path
    }

    static func child(_ parent: [UInt8], _ name: [UInt8]) -> [UInt8] {
        var p = parent
        if parent.count != 1 || parent[0] != slash { p.append(slash) }
        p.append(contentsOf: name)
        return p
    }

    /// xenstored's is_child (no depth limit): `child` equals `parent`, or lies below it.
    static func isChild(_ child: [UInt8], of parent: [UInt8]) -> Bool {
        guard child.count >= parent.count else { return false }
        var i = 0
        while i < parent.count {
            if child[i] != parent[i] { return false }
            i += 1
        }
        if parent.count == 1 && parent[0] == slash { return true }
        return child.count == parent.count || child[parent.count] == slash
    }

    /// Length of a "/local/domain/<up to 5 digits>/" prefix of `path`, else 0
    /// (the part xenstored does not count against the relative path limit).
    static func localPrefixLength(_ path: [UInt8]) -> Int {
        let base = localDomain.count
        guard path.count > base + 1 else { return 0 }
        var i = 0
        while i < base {
            if path[i] != localDomain[i] { return 0 }
            i += 1
        }
        guard path[base] == slash else { return 0 }
        var j = base + 1
        var digits = 0
        while j < path.count, digits < 5, path[j] >= 0x30, path[j] <= 0x39 { j += 1; digits += 1 }
        guard digits > 0, j < path.count, path[j] == slash else { return 0 }
        return j + 1
    }

    /// xenstored's canonicalize: validates a path from `domid` and makes it absolute.
    /// Relative paths are under /local/domain/<domid>; "@..." names only when `allowSpecial`.
    /// Unprivileged paths may have at most `maxDepth` components (an Apus limit, see
    /// XenStoreLimits.maxDepth).
    static func canonicalize(_ raw: ArraySlice<UInt8>, domid: UInt16, privileged: Bool,
                             allowSpecial: Bool, maxDepth: Int = Int.max) throws(XenStoreError) -> (path: [UInt8], relative: Bool) {
        // Every failure is EINVAL, so the cheap checks go first and the scan stops at the
        // first fault: a hostile path of 1500 levels costs 33 of them, not 3000 bytes of
        // passes (issue 10).
        var relative = false
        let name: [UInt8]
        if let first = raw.first, first == at {
            guard allowSpecial else { throw .einval }
            if raw.count > XenStoreWire.absolutePathMax { throw .einval }
            name = Array(raw)
        } else if let first = raw.first, first == slash {
            if raw.count > XenStoreWire.absolutePathMax { throw .einval }
            name = Array(raw)
        } else {
            relative = true
            // An unprivileged relative path: all of it counts against the relative limit.
            if !privileged && raw.count >= XenStoreWire.relativePathMax { throw .einval }
            var p = home(domid)
            if p.count &+ 1 &+ raw.count > XenStoreWire.absolutePathMax { throw .einval }
            p.append(slash)
            p.append(contentsOf: raw)
            name = p
        }
        if name.count > 1, name[name.count - 1] == slash { throw .einval }
        // One pass: valid characters, no empty component, at most `maxDepth` levels.
        let limit = privileged ? Int.max : maxDepth
        let ok: Bool = name.withUnsafeBufferPointer { b in
            var depth = b.count > 1 && b[0] == slash ? 1 : 0
            if b.count > 0 && !isValidChar(b[0]) { return false }
            var i = 1
            while i < b.count {
                let c = b[i]
                if !isValidChar(c) { return false }
                if c == slash {
                    if b[i &- 1] == slash { return false }
                    depth &+= 1
                    if depth > limit { return false }
                }
                i &+= 1
            }
            return true
        }
        if !ok { throw .einval }
        if !privileged && name.count - localPrefixLength(name) >= XenStoreWire.relativePathMax { throw .einval }
        return (name, relative)
    }
}
