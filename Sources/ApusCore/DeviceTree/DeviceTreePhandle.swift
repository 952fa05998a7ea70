// Phandles: 32-bit node identifiers that other properties use to refer to a node
// (`interrupt-parent`, `clocks`, ...). 0 and 0xffffffff are not valid phandles.
// Old trees may carry "linux,phandle" instead of (or as well as) "phandle".

extension DTNode {
    /// This node's phandle, if it has a valid one.
    public var phandle: UInt32? {
        let p = property("phandle") ?? property("linux,phandle")
        guard let p, p.value.count == 4, let v = p.u32(), v != 0, v != UInt32.max else { return nil }
        return v
    }

    /// The node carrying `phandle`, with its path and parent cell counts.
    public func node(withPhandle phandle: UInt32) -> DTNodeMatch? {
        guard phandle != 0, phandle != UInt32.max else { return nil }
        var found: DTNodeMatch?
        forEachNode { path, node, cells in
            if found == nil, node.phandle == phandle {
                found = DTNodeMatch(path: path, node: node, parentCells: cells)
            }
        }
        return found
    }

    /// The largest phandle used in the tree, 0 when none.
    public var maxPhandle: UInt32 {
        var result: UInt32 = 0
        forEachNode { _, node, _ in
            if let p = node.phandle, p > result { result = p }
        }
        return result
    }

    /// A phandle not used anywhere in the tree (one above the largest), or nil when the
    /// largest valid value is taken. Assign it with `.u32("phandle", value)`.
    public var nextFreePhandle: UInt32? {
        let top = maxPhandle
        guard top < UInt32.max &- 1 else { return nil }
        return top &+ 1
    }
}
