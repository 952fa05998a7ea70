/// A writer for cpio archives in the "newc" (SVR4, no CRC) format, the one Linux reads as an initramfs.
///
/// Each entry is a 110-byte ASCII header — the magic `070701` then 13 fields of 8 upper-case hex digits:
/// ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize
/// (with its NUL), check (0) — followed by the NUL-terminated name padded to a multiple of 4 bytes
/// (counting from the header's start) and the data padded to a multiple of 4. The archive ends with an
/// entry named `TRAILER!!!`.
///
/// Paths are stored without a leading `/`. Missing parent folders are added automatically (as 0755
/// folders) before an entry, because the kernel's unpacker does not create them.
/// Device nodes need no privileges here: the archive only describes them and the kernel creates them.
public struct NewcArchive: Sendable {
    public enum Kind: Equatable, Sendable {
        case file([UInt8])
        case directory
        case symlink(target: String)
        case characterDevice(major: UInt32, minor: UInt32)
        case blockDevice(major: UInt32, minor: UInt32)

        /// The S_IFMT bits.
        public var typeBits: UInt32 {
            switch self {
            case .file: return 0o100000
            case .directory: return 0o040000
            case .symlink: return 0o120000
            case .characterDevice: return 0o020000
            case .blockDevice: return 0o060000
            }
        }
    }

    public struct Entry: Equatable, Sendable {
        /// The path inside the archive, without a leading `/`.
        public var path: String
        /// Permission bits (including setuid/setgid/sticky); the type bits come from `kind`.
        public var permissions: UInt32
        public var kind: Kind
        public var uid: UInt32 = 0
        public var gid: UInt32 = 0

        public init(path: String, permissions: UInt32, kind: Kind, uid: UInt32 = 0, gid: UInt32 = 0) {
            self.path = path
            self.permissions = permissions
            self.kind = kind
            self.uid = uid
            self.gid = gid
        }

        public var mode: UInt32 { kind.typeBits | (permissions & 0o7777) }
    }

    public private(set) var entries: [Entry] = []
    /// The modification time written in every header (0 keeps archives reproducible).
    public var mtime: UInt32

    public init(mtime: UInt32 = 0) {
        self.mtime = mtime
    }

    public mutating func addDirectory(_ path: String, permissions: UInt32 = 0o755) {
        add(Entry(path: path, permissions: permissions, kind: .directory))
    }

    public mutating func addFile(_ path: String, data: [UInt8], permissions: UInt32 = 0o644) {
        add(Entry(path: path, permissions: permissions, kind: .file(data)))
    }

    public mutating func addSymlink(_ path: String, target: String) {
        add(Entry(path: path, permissions: 0o777, kind: .symlink(target: target)))
    }

    public mutating func addCharacterDevice(_ path: String, major: UInt32, minor: UInt32, permissions: UInt32 = 0o600) {
        add(Entry(path: path, permissions: permissions, kind: .characterDevice(major: major, minor: minor)))
    }

    public mutating func addBlockDevice(_ path: String, major: UInt32, minor: UInt32, permissions: UInt32 = 0o600) {
        add(Entry(path: path, permissions: permissions, kind: .blockDevice(major: major, minor: minor)))
    }

    /// Adds an entry, first adding folders for any of its parents not yet in the archive.
    /// An entry whose path is already in the archive replaces nothing: the kernel applies both in order.
    public mutating func add(_ entry: Entry) {
        var e = entry
        e.path = NewcArchive.normalized(entry.path)
        let components = e.path.utf8.split(separator: 0x2F)
        var prefix = ""
        for c in components.dropLast() {
            prefix += (prefix.isEmpty ? "" : "/") + String(decoding: c, as: UTF8.self)
            if !entries.contains(where: { $0.path == prefix }) {
                entries.append(Entry(path: prefix, permissions: 0o755, kind: .directory))
            }
        }
        entries.append(e)
    }

    /// The whole archive, trailer included.
    public func bytes() -> [UInt8] {
        var out: [UInt8] = []
        var size = 0
        for e in entries { size += 124 + e.path.utf8.count + NewcArchive.payload(e.kind).count }
        out.reserveCapacity(size + 128)
        var ino: UInt32 = 1
        for e in entries {
            let nlink: UInt32 = e.kind == .directory ? 2 : 1
            let (rmaj, rmin): (UInt32, UInt32)
            switch e.kind {
            case .characterDevice(let ma, let mi), .blockDevice(let ma, let mi): (rmaj, rmin) = (ma, mi)
            default: (rmaj, rmin) = (0, 0)
            }
            NewcArchive.appendEntry(to: &out, name: e.path, ino: ino, mode: e.mode, uid: e.uid, gid: e.gid,
                                    nlink: nlink, mtime: mtime, data: NewcArchive.payload(e.kind),
                                    rdevMajor: rmaj, rdevMinor: rmin)
            ino += 1
        }
        NewcArchive.appendEntry(to: &out, name: "TRAILER!!!", ino: 0, mode: 0, uid: 0, gid: 0, nlink: 1,
                                mtime: 0, data: [], rdevMajor: 0, rdevMinor: 0)
        return out
    }

    /// The 110-byte header of one entry (without the name).
    public static func header(ino: UInt32, mode: UInt32, uid: UInt32, gid: UInt32, nlink: UInt32, mtime: UInt32,
                              fileSize: UInt32, devMajor: UInt32 = 0, devMinor: UInt32 = 0,
                              rdevMajor: UInt32, rdevMinor: UInt32, nameSize: UInt32) -> [UInt8] {
        var h: [UInt8] = Array("070701".utf8)
        h.reserveCapacity(110)
        for field in [ino, mode, uid, gid, nlink, mtime, fileSize, devMajor, devMinor,
                      rdevMajor, rdevMinor, nameSize, 0] {
            appendHex8(&h, field)
        }
        return h
    }

    static func appendEntry(to out: inout [UInt8], name: String, ino: UInt32, mode: UInt32, uid: UInt32,
                            gid: UInt32, nlink: UInt32, mtime: UInt32, data: [UInt8],
                            rdevMajor: UInt32, rdevMinor: UInt32) {
        let nameBytes = Array(name.utf8)
        let start = out.count
        out += header(ino: ino, mode: mode, uid: uid, gid: gid, nlink: nlink, mtime: mtime,
                      fileSize: UInt32(truncatingIfNeeded: data.count), rdevMajor: rdevMajor, rdevMinor: rdevMinor,
                      nameSize: UInt32(truncatingIfNeeded: nameBytes.count + 1))
        out += nameBytes
        out.append(0)
        pad(&out, from: start)
        out += data
        pad(&out, from: start)
    }

    private static func payload(_ kind: Kind) -> [UInt8] {
        switch kind {
        case .file(let data): return data
        case .symlink(let target): return Array(target.utf8)
        case .directory, .characterDevice, .blockDevice: return []
        }
    }

    private static func pad(_ out: inout [UInt8], from start: Int) {
        while (out.count - start) % 4 != 0 { out.append(0) }
    }

    private static func appendHex8(_ out: inout [UInt8], _ value: UInt32) {
        var shift: UInt32 = 28
        while true {
            let nibble = UInt8(truncatingIfNeeded: (value >> shift) & 0xF)
            out.append(nibble < 10 ? 0x30 + nibble : 0x41 + nibble - 10)
            if shift == 0 { break }
            shift -= 4
        }
    }

    /// Strips leading `/` and `./`, and repeated or trailing `/`.
    static func normalized(_ path: String) -> String {
        var parts: [String] = []
        for c in path.utf8.split(separator: 0x2F) {
            let s = String(decoding: c, as: UTF8.self)
            if s == "." { continue }
            parts.append(s)
        }
        var result = ""
        for p in parts { result += (result.isEmpty ? "" : "/") + p }
        return result
    }
}
