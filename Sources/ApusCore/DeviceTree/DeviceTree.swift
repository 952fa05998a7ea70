/// An in-memory device tree: what a DTB holds, decoded.
/// `parse` (FDTReader.swift) builds one from bytes; `serialize` (FDTWriter.swift) writes it back.
public struct DeviceTree: Equatable, Sendable {
    public var root: DTNode
    /// Physical ranges the boot loader asked the OS not to use (the DTB's reservation map).
    public var memoryReservations: [MemoryReservation]
    /// The physical ID (MPIDR affinity) of the boot CPU.
    public var bootCPUID: UInt32

    public init(root: DTNode = DTNode(name: []), memoryReservations: [MemoryReservation] = [],
                bootCPUID: UInt32 = 0) {
        self.root = root
        self.memoryReservations = memoryReservations
        self.bootCPUID = bootCPUID
    }

    /// The node at `path`. An absolute path starts at the root; otherwise the first component
    /// is an alias from /aliases (e.g. "serial0" or "serial0/child").
    public func node(atPath path: StaticString) -> DTNode? { lookup(path: dtBytes(path))?.node }
    public func node(atPath path: [UInt8]) -> DTNode? { lookup(path: path)?.node }

    /// Like `node(atPath:)`, but also gives the absolute path and the parent's cell counts
    /// (what is needed to decode the node's `reg`).
    public func lookup(path: StaticString) -> DTNodeMatch? { lookup(path: dtBytes(path)) }

    public func lookup(path: [UInt8]) -> DTNodeMatch? {
        guard let absolute = resolveAlias(path),
              let components = dtPathComponents(absolute) else { return nil }
        var node = root
        var cells = DTCellCounts.defaults
        var resolved: [UInt8] = [UInt8(ascii: "/")]
        for range in components {
            guard let i = node.childIndex(matching: absolute, range) else { return nil }
            cells = node.childCellCounts
            node = node.children[i]
            if resolved.count > 1 { resolved.append(UInt8(ascii: "/")) }
            resolved.append(contentsOf: node.name)
        }
        return DTNodeMatch(path: resolved, node: node, parentCells: cells)
    }

    /// Rewrites a path that starts with an alias name into an absolute path.
    func resolveAlias(_ path: [UInt8]) -> [UInt8]? {
        guard let first = path.first else { return nil }
        if first == UInt8(ascii: "/") { return path }
        var end = 0
        while end < path.count && path[end] != UInt8(ascii: "/") { end += 1 }
        guard let aliases = root.child(named: "aliases"),
              let target = aliases.property(Array(path[0..<end]))?.string,
              target.first == UInt8(ascii: "/") else { return nil }
        return target + path[end...]
    }

    /// The console named by /chosen/stdout-path (options after ':' are dropped).
    public var stdoutNode: DTNodeMatch? {
        guard let chosen = root.child(named: "chosen"),
              let value = chosen.property("stdout-path")?.string ?? chosen.property("linux,stdout-path")?.string
        else { return nil }
        var end = 0
        while end < value.count && value[end] != UInt8(ascii: ":") { end += 1 }
        return lookup(path: Array(value[0..<end]))
    }

    public func nodes(compatibleWith s: StaticString) -> [DTNodeMatch] { root.nodes(compatibleWith: s) }
    public func nodes(compatibleWith s: [UInt8]) -> [DTNodeMatch] { root.nodes(compatibleWith: s) }
    public func node(withPhandle phandle: UInt32) -> DTNodeMatch? { root.node(withPhandle: phandle) }
    public var nextFreePhandle: UInt32? { root.nextFreePhandle }
}

/// One entry of the memory reservation map.
public struct MemoryReservation: Equatable, Sendable {
    public var address: UInt64
    public var size: UInt64

    public init(address: UInt64, size: UInt64) {
        self.address = address
        self.size = size
    }
}
