/// Constants of the flattened device tree format (Devicetree Specification v0.4, chapter 5).
public enum FDT {
    public static let magic: UInt32 = 0xD00D_FEED
    /// The version we write; we also read version 16 blobs.
    public static let version: UInt32 = 17
    public static let lastCompatibleVersion: UInt32 = 16
    public static let headerSize = 40
    /// Deepest node nesting accepted from untrusted input (the root is depth 1).
    /// Real trees are under 10 deep; the limit bounds the parser's work per byte.
    public static let maxDepth = 64

    static let tokenBeginNode: UInt32 = 1
    static let tokenEndNode: UInt32 = 2
    static let tokenProp: UInt32 = 3
    static let tokenNop: UInt32 = 4
    static let tokenEnd: UInt32 = 9
}

/// The fixed header at the start of a DTB. All fields are big-endian on disk.
public struct FDTHeader: Equatable, Sendable {
    public var magic: UInt32
    public var totalSize: UInt32
    public var structureOffset: UInt32
    public var stringsOffset: UInt32
    public var reservationMapOffset: UInt32
    public var version: UInt32
    public var lastCompatibleVersion: UInt32
    public var bootCPUID: UInt32
    public var stringsSize: UInt32
    /// Only meaningful from version 17 on.
    public var structureSize: UInt32

    /// Decodes the header fields without validating them; nil when fewer than 40 bytes.
    public init?(_ bytes: [UInt8]) {
        guard bytes.count >= FDT.headerSize,
              let magic = bytes.readBE32(at: 0), let totalSize = bytes.readBE32(at: 4),
              let structureOffset = bytes.readBE32(at: 8), let stringsOffset = bytes.readBE32(at: 12),
              let reservationMapOffset = bytes.readBE32(at: 16), let version = bytes.readBE32(at: 20),
              let lastCompatibleVersion = bytes.readBE32(at: 24), let bootCPUID = bytes.readBE32(at: 28),
              let stringsSize = bytes.readBE32(at: 32), let structureSize = bytes.readBE32(at: 36)
        else { return nil }
        self.magic = magic
        self.totalSize = totalSize
        self.structureOffset = structureOffset
        self.stringsOffset = stringsOffset
        self.reservationMapOffset = reservationMapOffset
        self.version = version
        self.lastCompatibleVersion = lastCompatibleVersion
        self.bootCPUID = bootCPUID
        self.stringsSize = stringsSize
        self.structureSize = structureSize
    }

    /// Reads the header from memory that holds (at least the start of) a DTB, e.g. the blob
    /// a boot loader passed in x0, so the caller learns `totalSize` before touching more bytes.
    public init?(_ buffer: UnsafeRawBufferPointer) {
        guard buffer.count >= FDT.headerSize else { return nil }
        self.init(Array(buffer[0..<FDT.headerSize]))
    }
}
