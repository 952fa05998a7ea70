// Paths like "/cpus/cpu@0". Lookup follows Linux: a component without a unit address
// also matches a node by base name ("/memory" finds "memory@40000000").

/// Splits a path into the byte ranges of its components, or nil if it is not absolute.
/// Empty components (a trailing or doubled '/') are skipped.
func dtPathComponents(_ path: [UInt8]) -> [Range<Int>]? {
    guard let first = path.first, first == UInt8(ascii: "/") else { return nil }
    var result: [Range<Int>] = []
    var start = 1
    var i = 1
    while i <= path.count {
        if i == path.count || path[i] == UInt8(ascii: "/") {
            if i > start { result.append(start..<i) }
            start = i &+ 1
        }
        i &+= 1
    }
    return result
}

extension DTNode {
    /// The node at an absolute `path` below this node (taken as the root); "/" is this node.
    public func node(atPath path: StaticString) -> DTNode? { node(atPath: dtBytes(path)) }

    public func node(atPath path: [UInt8]) -> DTNode? {
        guard let components = dtPathComponents(path) else { return nil }
        var current = self
        for range in components {
            guard let i = current.childIndex(matching: path, range) else { return nil }
            current = current.children[i]
        }
        return current
    }

    /// Runs `body` on the node at `path`. With `creatingMissing`, absent nodes along the path
    /// are created (with the component's text as their full name); otherwise a missing node
    /// gives nil. Nil also for a path that is not absolute.
    @discardableResult
    public mutating func withNode<R>(atPath path: [UInt8], creatingMissing: Bool = false,
                                     _ body: (inout DTNode) -> R) -> R? {
        guard let components = dtPathComponents(path) else { return nil }
        return withNode(path, components[...], creatingMissing, body)
    }

    @discardableResult
    public mutating func withNode<R>(atPath path: StaticString, creatingMissing: Bool = false,
                                     _ body: (inout DTNode) -> R) -> R? {
        withNode(atPath: dtBytes(path), creatingMissing: creatingMissing, body)
    }

    private mutating func withNode<R>(_ path: [UInt8], _ components: ArraySlice<Range<Int>>,
                                      _ create: Bool, _ body: (inout DTNode) -> R) -> R? {
        guard let range = components.first else { return body(&self) }
        let rest = components.dropFirst()
        if let i = childIndex(matching: path, range) {
            return children[i].withNode(path, rest, create, body)
        }
        guard create else { return nil }
        children.append(DTNode(name: Array(path[range])))
        return children[children.count &- 1].withNode(path, rest, create, body)
    }

    /// Makes sure the node at `path` exists, creating missing nodes; false for a relative path.
    @discardableResult
    public mutating func ensureNode(atPath path: [UInt8]) -> Bool {
        withNode(atPath: path, creatingMissing: true) { _ in true } ?? false
    }

    @discardableResult
    public mutating func ensureNode(atPath path: StaticString) -> Bool {
        ensureNode(atPath: dtBytes(path))
    }

    /// Sets a property on the node at `path`, creating the node (and its parents) if missing.
    @discardableResult
    public mutating func setProperty(_ property: DTProperty, atPath path: StaticString) -> Bool {
        withNode(atPath: path, creatingMissing: true) { $0.setProperty(property) } != nil
    }

    @discardableResult
    public mutating func setProperty(_ property: DTProperty, atPath path: [UInt8]) -> Bool {
        withNode(atPath: path, creatingMissing: true) { $0.setProperty(property) } != nil
    }

    /// Removes and returns the node at `path` (not the root itself).
    @discardableResult
    public mutating func removeNode(atPath path: [UInt8]) -> DTNode? {
        guard let components = dtPathComponents(path), let last = components.last else { return nil }
        let parentComponents = components.dropLast()
        return withNode(path, parentComponents, false) { parent -> DTNode? in
            guard let i = parent.childIndex(matching: path, last) else { return nil }
            return parent.children.remove(at: i)
        } ?? nil
    }

    @discardableResult
    public mutating func removeNode(atPath path: StaticString) -> DTNode? {
        removeNode(atPath: dtBytes(path))
    }
}
