// Writing a DTB, laid out as dtc does: header, reservation map, structure block, strings block.
// Version 17 (last compatible 16). Property names are stored once each in the strings block.
// Names must not contain NUL bytes (they are written NUL-terminated); the parser never
// produces such names.

extension DeviceTree {
    public func serialize() -> [UInt8] {
        var strings = FDTStringTable()
        var structure: [UInt8] = []
        emit(root, into: &structure, strings: &strings)
        structure.appendBE32(FDT.tokenEnd)

        // The reservation map must be 8-byte aligned; the 40-byte header already ends on 8.
        let reservationOffset = FDT.headerSize
        let reservationSize = (memoryReservations.count + 1) * 16
        let structureOffset = reservationOffset + reservationSize
        let stringsOffset = structureOffset + structure.count
        let totalSize = stringsOffset + strings.bytes.count

        var out: [UInt8] = []
        out.reserveCapacity(totalSize)
        // Sizes beyond 4 GiB cannot be expressed; such a tree is not a real device tree.
        out.appendBE32(FDT.magic)
        out.appendBE32(UInt32(truncatingIfNeeded: totalSize))
        out.appendBE32(UInt32(truncatingIfNeeded: structureOffset))
        out.appendBE32(UInt32(truncatingIfNeeded: stringsOffset))
        out.appendBE32(UInt32(truncatingIfNeeded: reservationOffset))
        out.appendBE32(FDT.version)
        out.appendBE32(FDT.lastCompatibleVersion)
        out.appendBE32(bootCPUID)
        out.appendBE32(UInt32(truncatingIfNeeded: strings.bytes.count))
        out.appendBE32(UInt32(truncatingIfNeeded: structure.count))
        for r in memoryReservations {
            out.appendBE64(r.address)
            out.appendBE64(r.size)
        }
        out.appendBE64(0)
        out.appendBE64(0)
        out.append(contentsOf: structure)
        out.append(contentsOf: strings.bytes)
        return out
    }

    private func emit(_ node: DTNode, into out: inout [UInt8], strings: inout FDTStringTable) {
        out.appendBE32(FDT.tokenBeginNode)
        out.append(contentsOf: node.name)
        out.append(0)
        padTo4(&out)
        for p in node.properties {
            out.appendBE32(FDT.tokenProp)
            out.appendBE32(UInt32(truncatingIfNeeded: p.value.count))
            out.appendBE32(strings.offset(of: p.name))
            out.append(contentsOf: p.value)
            padTo4(&out)
        }
        for child in node.children { emit(child, into: &out, strings: &strings) }
        out.appendBE32(FDT.tokenEndNode)
    }

    private func padTo4(_ out: inout [UInt8]) {
        while out.count % 4 != 0 { out.append(0) }
    }
}

/// The strings block under construction: each distinct name once, in first-use order.
struct FDTStringTable {
    var bytes: [UInt8] = []
    /// Start offset and length of each stored name. A linear search is fine: trees have
    /// tens of distinct property names, and it avoids hashing in the hypervisor.
    var entries: [(offset: Int, length: Int)] = []

    mutating func offset(of name: [UInt8]) -> UInt32 {
        for e in entries where dtBytesEqual(bytes, e.offset..<(e.offset + e.length), name) {
            return UInt32(truncatingIfNeeded: e.offset)
        }
        let offset = bytes.count
        bytes.append(contentsOf: name)
        bytes.append(0)
        entries.append((offset, name.count))
        return UInt32(truncatingIfNeeded: offset)
    }
}
