// Decoding `reg`: each entry is an address of the parent's #address-cells cells followed by a
// size of its #size-cells cells. The parent's counts default to 2 and 1 when absent (spec 2.3.5).

/// One (address, size) pair of a `reg` property.
public struct RegEntry: Equatable, Sendable {
    public var address: UInt64
    public var size: UInt64

    public init(address: UInt64, size: UInt64) {
        self.address = address
        self.size = size
    }
}

/// The cell counts a node imposes on its children's `reg` entries.
public struct DTCellCounts: Equatable, Sendable {
    public var addressCells: Int
    public var sizeCells: Int

    public init(addressCells: Int, sizeCells: Int) {
        self.addressCells = addressCells
        self.sizeCells = sizeCells
    }

    /// What a parent without #address-cells / #size-cells implies.
    public static let defaults = DTCellCounts(addressCells: 2, sizeCells: 1)
}

extension DTProperty {
    /// Decodes the value as (address, size) pairs. Nil if a cell count is outside 0...2
    /// (values would not fit in 64 bits; e.g. PCI's 3 address cells) or the value length
    /// is not a whole number of entries.
    public func reg(addressCells: Int, sizeCells: Int) -> [RegEntry]? {
        guard (0...2).contains(addressCells), (0...2).contains(sizeCells) else { return nil }
        let entryCells = addressCells &+ sizeCells
        if value.isEmpty { return [] }
        guard entryCells > 0, value.count % (entryCells &* 4) == 0 else { return nil }
        let count = value.count / (entryCells &* 4)
        var result: [RegEntry] = []
        result.reserveCapacity(count)
        var cell = 0
        for _ in 0..<count {
            guard let address = number(atCell: cell, count: addressCells),
                  let size = number(atCell: cell &+ addressCells, count: sizeCells) else { return nil }
            result.append(RegEntry(address: address, size: size))
            cell &+= entryCells
        }
        return result
    }
}

extension DTNode {
    /// #address-cells for this node's children (2 when absent or malformed).
    public var childAddressCells: Int {
        guard let v = property("#address-cells")?.u32() else { return DTCellCounts.defaults.addressCells }
        return Int(v)
    }

    /// #size-cells for this node's children (1 when absent or malformed).
    public var childSizeCells: Int {
        guard let v = property("#size-cells")?.u32() else { return DTCellCounts.defaults.sizeCells }
        return Int(v)
    }

    public var childCellCounts: DTCellCounts {
        DTCellCounts(addressCells: childAddressCells, sizeCells: childSizeCells)
    }

    /// This node's `reg`, decoded with the cell counts of its parent. Nil if absent or malformed.
    public func reg(addressCells: Int, sizeCells: Int) -> [RegEntry]? {
        property("reg")?.reg(addressCells: addressCells, sizeCells: sizeCells)
    }

    public func reg(_ parentCells: DTCellCounts) -> [RegEntry]? {
        reg(addressCells: parentCells.addressCells, sizeCells: parentCells.sizeCells)
    }
}
