/// Why a flattened device tree blob was rejected.
/// Offsets are byte offsets from the start of the blob, to help locate the damage.
public enum FDTError: Error, Equatable {
    /// Fewer bytes than the 40-byte header.
    case truncatedHeader
    case badMagic(UInt32)
    /// `version` below 16, or a `last_comp_version` newer than 17 (we only understand up to 17).
    case unsupportedVersion(version: UInt32, lastCompatibleVersion: UInt32)
    /// `totalsize` claims more bytes than were supplied.
    case totalSizeTooLarge(totalSize: UInt32, available: Int)
    /// `totalsize` is smaller than the header itself.
    case totalSizeTooSmall(UInt32)
    /// A block's offset or size reaches outside `totalsize`.
    case blockOutOfBounds(FDTBlock)
    /// A block offset that the format requires to be aligned is not.
    case misalignedBlock(FDTBlock)
    /// The memory reservation map has no (0, 0) terminator inside the blob.
    case unterminatedReservationMap
    /// The structure block ended before an FDT_END token.
    case truncatedStructure(offset: Int)
    /// A node name runs to the end of the structure block without a NUL.
    case unterminatedNodeName(offset: Int)
    /// A token value that is not BEGIN_NODE, END_NODE, PROP, NOP or END.
    case badToken(offset: Int, token: UInt32)
    /// A property's value length reaches past the structure block.
    case propertyOutOfBounds(offset: Int)
    /// A property's name offset is outside the strings block.
    case stringOffsetOutOfRange(offset: Int, nameOffset: UInt32)
    /// A property name in the strings block has no NUL before the block ends.
    case unterminatedString(offset: Int, nameOffset: UInt32)
    /// A property appears outside any node.
    case propertyOutsideNode(offset: Int)
    /// END_NODE without a matching BEGIN_NODE.
    case unexpectedEndNode(offset: Int)
    /// FDT_END while nodes are still open.
    case unclosedNode(offset: Int)
    /// A second top-level node after the root was closed.
    case multipleRoots(offset: Int)
    /// The structure block holds no root node.
    case missingRoot
    /// Nodes nest deeper than `FDT.maxDepth`.
    case tooDeep(offset: Int)
}

/// The blocks of a flattened device tree, for error reports.
public enum FDTBlock: Equatable, Sendable {
    case memoryReservationMap
    case structure
    case strings
}
