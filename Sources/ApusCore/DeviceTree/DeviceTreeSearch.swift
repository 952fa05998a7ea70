// Walking the whole tree. Each visited node comes with its path and the cell counts of its
// parent, because that is what a driver needs to decode the node's `reg`.

/// A node found by a search, with the context needed to interpret it.
public struct DTNodeMatch: Equatable, Sendable {
    /// Absolute path, e.g. "/intc@8000000".
    public var path: [UInt8]
    public var node: DTNode
    /// The parent's #address-cells / #size-cells, which govern this node's `reg`.
    public var parentCells: DTCellCounts

    public init(path: [UInt8], node: DTNode, parentCells: DTCellCounts) {
        self.path = path
        self.node = node
        self.parentCells = parentCells
    }

    /// The node's `reg` decoded with its parent's cell counts.
    public var reg: [RegEntry]? { node.reg(parentCells) }
}

extension DTNode {
    /// Visits this node (as the root, path "/") and all descendants depth-first, parents first.
    /// Recursion depth equals tree depth, which parsing limits to `FDT.maxDepth`.
    public func forEachNode(_ body: (_ path: [UInt8], _ node: DTNode, _ parentCells: DTCellCounts) -> Void) {
        visit(path: [UInt8(ascii: "/")], parentCells: .defaults, body)
    }

    private func visit(path: [UInt8], parentCells: DTCellCounts,
                       _ body: ([UInt8], DTNode, DTCellCounts) -> Void) {
        body(path, self, parentCells)
        let cells = childCellCounts
        for child in children {
            var childPath = path
            if childPath.count > 1 { childPath.append(UInt8(ascii: "/")) }
            childPath.append(contentsOf: child.name)
            child.visit(path: childPath, parentCells: cells, body)
        }
    }

    /// All nodes (this one included) satisfying `predicate`, in depth-first order.
    public func nodes(where predicate: (DTNode) -> Bool) -> [DTNodeMatch] {
        var result: [DTNodeMatch] = []
        forEachNode { path, node, cells in
            if predicate(node) { result.append(DTNodeMatch(path: path, node: node, parentCells: cells)) }
        }
        return result
    }

    /// All nodes whose `compatible` list contains `s`.
    public func nodes(compatibleWith s: StaticString) -> [DTNodeMatch] {
        nodes { $0.isCompatible(with: s) }
    }

    public func nodes(compatibleWith s: [UInt8]) -> [DTNodeMatch] {
        nodes { $0.isCompatible(with: s) }
    }

    /// All nodes whose `device_type` is `type` (e.g. "memory", "cpu").
    public func nodes(deviceType type: StaticString) -> [DTNodeMatch] {
        nodes { node in
            guard let p = node.property("device_type"), let s = p.string else { return false }
            return dtBytesEqual(s, type)
        }
    }
}
