// Parsing a DTB. Every byte is untrusted (it may come from a boot loader or a guest), so each
// offset and length is checked before use and every failure is a thrown FDTError, never a trap.
// Offsets are Ints built from UInt32 fields, so sums of two of them cannot overflow on 64 bits.

extension DeviceTree {
    /// Parses a complete DTB. Bytes past the header's `totalsize` are ignored.
    public static func parse(_ bytes: [UInt8]) throws(FDTError) -> DeviceTree {
        var reader = try FDTReader(bytes)
        return try reader.read()
    }

    /// Parses a DTB in memory (e.g. the blob whose address arrived in x0). `buffer` bounds what
    /// may be read; only the header's `totalsize` bytes are copied out.
    public static func parse(_ buffer: UnsafeRawBufferPointer) throws(FDTError) -> DeviceTree {
        guard let header = FDTHeader(buffer) else { throw .truncatedHeader }
        let count = min(Int(header.totalSize), buffer.count)
        return try parse(Array(buffer[0..<max(count, FDT.headerSize)]))
    }
}

struct FDTReader {
    let bytes: [UInt8]
    let header: FDTHeader
    let structStart: Int
    let structEnd: Int
    let stringsStart: Int
    let stringsEnd: Int
    /// Property names already decoded, by string-block offset, so repeated names share storage.
    var nameCache: [(offset: UInt32, name: [UInt8])] = []

    init(_ bytes: [UInt8]) throws(FDTError) {
        guard let header = FDTHeader(bytes) else { throw .truncatedHeader }
        guard header.magic == FDT.magic else { throw .badMagic(header.magic) }
        guard header.version >= 16, header.lastCompatibleVersion <= FDT.version else {
            throw .unsupportedVersion(version: header.version, lastCompatibleVersion: header.lastCompatibleVersion)
        }
        let total = Int(header.totalSize)
        guard total >= FDT.headerSize else { throw .totalSizeTooSmall(header.totalSize) }
        guard total <= bytes.count else { throw .totalSizeTooLarge(totalSize: header.totalSize, available: bytes.count) }

        let rsv = Int(header.reservationMapOffset)
        guard rsv >= FDT.headerSize, rsv < total else { throw .blockOutOfBounds(.memoryReservationMap) }
        guard rsv % 8 == 0 else { throw .misalignedBlock(.memoryReservationMap) }

        let structStart = Int(header.structureOffset)
        guard structStart >= FDT.headerSize, structStart <= total else { throw .blockOutOfBounds(.structure) }
        guard structStart % 4 == 0 else { throw .misalignedBlock(.structure) }
        // Version 16 headers have no size_dt_struct: the block may run to the end of the blob.
        let structSize = header.version >= 17 ? Int(header.structureSize) : total - structStart
        guard structSize <= total - structStart else { throw .blockOutOfBounds(.structure) }

        let stringsStart = Int(header.stringsOffset)
        let stringsSize = Int(header.stringsSize)
        guard stringsStart <= total, stringsSize <= total - stringsStart else { throw .blockOutOfBounds(.strings) }

        self.bytes = bytes
        self.header = header
        self.structStart = structStart
        self.structEnd = structStart + structSize
        self.stringsStart = stringsStart
        self.stringsEnd = stringsStart + stringsSize
    }

    mutating func read() throws(FDTError) -> DeviceTree {
        let reservations = try readReservations()
        let root = try readStructure()
        return DeviceTree(root: root, memoryReservations: reservations, bootCPUID: header.bootCPUID)
    }

    /// Entries of 16 bytes up to the (0, 0) terminator, which must lie inside the blob.
    func readReservations() throws(FDTError) -> [MemoryReservation] {
        let total = Int(header.totalSize)
        var result: [MemoryReservation] = []
        var pos = Int(header.reservationMapOffset)
        while pos <= total - 16 {
            guard let address = bytes.readBE64(at: pos), let size = bytes.readBE64(at: pos + 8) else { break }
            if address == 0 && size == 0 { return result }
            result.append(MemoryReservation(address: address, size: size))
            pos += 16
        }
        throw .unterminatedReservationMap
    }

    /// A 32-bit word of the structure block, or nil past its end.
    func structWord(at pos: Int) -> UInt32? {
        guard pos >= structStart, pos <= structEnd - 4 else { return nil }
        return bytes.readBE32(at: pos)
    }

    /// Walks the token stream with an explicit stack of open nodes (no recursion on input).
    mutating func readStructure() throws(FDTError) -> DTNode {
        var stack: [DTNode] = []
        var root: DTNode?
        var pos = structStart
        while true {
            let tokenOffset = pos
            guard let token = structWord(at: pos) else { throw .truncatedStructure(offset: pos) }
            pos += 4
            switch token {
            case FDT.tokenBeginNode:
                guard root == nil || !stack.isEmpty else { throw .multipleRoots(offset: tokenOffset) }
                guard stack.count < FDT.maxDepth else { throw .tooDeep(offset: tokenOffset) }
                var end = pos
                while end < structEnd && bytes[end] != 0 { end += 1 }
                guard end < structEnd else { throw .unterminatedNodeName(offset: tokenOffset) }
                stack.append(DTNode(name: Array(bytes[pos..<end])))
                pos = dtAlign4(end + 1)
            case FDT.tokenEndNode:
                guard let node = stack.popLast() else { throw .unexpectedEndNode(offset: tokenOffset) }
                if stack.isEmpty {
                    root = node
                } else {
                    stack[stack.count - 1].children.append(node)
                }
            case FDT.tokenProp:
                guard !stack.isEmpty else { throw .propertyOutsideNode(offset: tokenOffset) }
                guard let length = structWord(at: pos), let nameOffset = structWord(at: pos + 4) else {
                    throw .truncatedStructure(offset: tokenOffset)
                }
                let valueStart = pos + 8
                guard Int(length) <= structEnd - valueStart else { throw .propertyOutOfBounds(offset: tokenOffset) }
                let valueEnd = valueStart + Int(length)
                let name = try propertyName(at: nameOffset, tokenOffset: tokenOffset)
                let property = DTProperty(name: name, value: Array(bytes[valueStart..<valueEnd]))
                stack[stack.count - 1].properties.append(property)
                pos = dtAlign4(valueEnd)
            case FDT.tokenNop:
                continue
            case FDT.tokenEnd:
                guard stack.isEmpty else { throw .unclosedNode(offset: tokenOffset) }
                guard let root else { throw .missingRoot }
                return root
            default:
                throw .badToken(offset: tokenOffset, token: token)
            }
        }
    }

    /// The NUL-terminated name at `nameOffset` in the strings block.
    mutating func propertyName(at nameOffset: UInt32, tokenOffset: Int) throws(FDTError) -> [UInt8] {
        for entry in nameCache where entry.offset == nameOffset { return entry.name }
        guard Int(nameOffset) < stringsEnd - stringsStart else {
            throw .stringOffsetOutOfRange(offset: tokenOffset, nameOffset: nameOffset)
        }
        let start = stringsStart + Int(nameOffset)
        var end = start
        while end < stringsEnd && bytes[end] != 0 { end += 1 }
        guard end < stringsEnd else { throw .unterminatedString(offset: tokenOffset, nameOffset: nameOffset) }
        let name = Array(bytes[start..<end])
        // Bounded so that a blob full of distinct names cannot make lookups quadratic.
        if nameCache.count < 64 { nameCache.append((nameOffset, name)) }
        return name
    }
}
