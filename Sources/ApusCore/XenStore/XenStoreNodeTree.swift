/// The store's nodes kept as a tree of path components ("/", "local", "domain", "1", ...),
/// each level a sorted array of child names. A lookup walks the path once, so its cost is
/// O(path length x log(children per node)) whatever the number of nodes, and an insert or
/// remove shifts one node's child arrays only (at most a few thousand entries), never the
/// whole store (XSMap's sorted arrays shift every entry: O(nodes) per insert).
///
/// Keys are canonical paths: "/a/b" is the components "/", "a", "b"; "/" is "/"; special
/// names ("@releaseDomain") are one component at the top. Canonical paths have no empty
/// components, so the encoding is one-to-one.
final class XSTrieNode<Value> {
    var names: [[UInt8]] = []
    var kids: [XSTrieNode<Value>] = []
    var value: Value?

    init() {}

    /// Index of the child named path[start..<end], or where it would go. Adds the bytes it
    /// compared to `work`.
    func search(_ path: [UInt8], _ start: Int, _ end: Int, _ work: inout Int) -> (found: Bool, index: Int) {
        var lo = 0, hi = names.count
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            let c = xsCompareName(names[mid], path, start, end, &work)
            if c == 0 { return (true, mid) }
            if c < 0 { lo = mid + 1 } else { hi = mid }
        }
        return (false, lo)
    }

    /// Gives back child-array capacity after removals, so that what a node's arrays hold
    /// stays within 4x its children (the quota charges per child, see XSCost).
    func shrinkIfSparse() {
        let cap = names.capacity
        guard cap > 8, names.count &* 4 < cap else { return }
        var n = [[UInt8]](), k = [XSTrieNode<Value>]()
        n.reserveCapacity(names.count &* 2)
        k.reserveCapacity(names.count &* 2)
        n.append(contentsOf: names)
        k.append(contentsOf: kids)
        names = n
        kids = k
    }
}

/// Compares a stored name with path[start..<end] (lexicographic, shorter first).
@inline(__always)
func xsCompareName(_ name: [UInt8], _ path: [UInt8], _ start: Int, _ end: Int, _ work: inout Int) -> Int {
    let len = end &- start
    let n = name.count < len ? name.count : len
    var i = 0
    while i < n {
        let x = name[i], y = path[start &+ i]
        if x != y { work &+= i &+ 1; return x < y ? -1 : 1 }
        i &+= 1
    }
    work &+= n &+ 1
    return name.count == len ? 0 : (name.count < len ? -1 : 1)
}

/// The store's work counter, shared by its trees.
final class XSWork {
    var units = 0
    init() {}
}

final class XSNodeTree<Value> {
    let root = XSTrieNode<Value>()
    private(set) var count = 0
    /// Bytes compared and moved by lookups and updates are added here.
    let work: XSWork

    init(work: XSWork) { self.work = work }

    /// Heap bytes of one trie object holding a `Value`, with its child arrays' headers and
    /// its slots in its parent's arrays (see XSCost.nodeFixed), plus its name.
    static func trieNodeBytes(nameLength: Int) -> Int {
        XSCost.block(32 &+ MemoryLayout<Value?>.stride) &+ 416 &+ 128 &+ XSCost.array(nameLength)
    }

    /// At most what inserting `path` allocates: a trie node per component.
    static func insertBound(_ path: [UInt8]) -> Int {
        var total = 0
        var s = 0
        while s < path.count {
            let e = componentEnd(path, s)
            if e == s { break }
            total &+= trieNodeBytes(nameLength: e &- s)
            s = nextStart(path, s, e)
        }
        return total
    }

    /// End of the component starting at `start` (the first one of an absolute path is "/").
    @inline(__always)
    static func componentEnd(_ path: [UInt8], _ start: Int) -> Int {
        if start == 0 && path.first == XSPath.slash { return 1 }
        var e = start
        while e < path.count && path[e] != XSPath.slash { e &+= 1 }
        return e
    }

    /// Start of the component after the one ending at `end`.
    @inline(__always)
    static func nextStart(_ path: [UInt8], _ start: Int, _ end: Int) -> Int {
        if start == 0 && end == 1 && path.first == XSPath.slash { return 1 }
        return end < path.count ? end &+ 1 : end
    }

    /// One step of a walk down `path`: the component starting at `s` looked up among `n`'s
    /// children (`index`: where it is, or would go), its end and where the next starts;
    /// nil for an empty component (not a canonical path).
    @inline(__always)
    func child(of n: XSTrieNode<Value>, _ path: [UInt8], _ s: Int) -> (found: Bool, index: Int, end: Int, next: Int)? {
        let e = XSNodeTree.componentEnd(path, s)
        if e == s { return nil }
        let r = n.search(path, s, e, &work.units)
        return (r.found, r.index, e, XSNodeTree.nextStart(path, s, e))
    }

    func find(_ path: [UInt8]) -> XSTrieNode<Value>? {
        if path.isEmpty { return nil }
        var n = root
        var s = 0
        while s < path.count {
            guard let c = child(of: n, path, s), c.found else { return nil }
            n = n.kids[c.index]
            s = c.next
        }
        return n
    }

    subscript(path: [UInt8]) -> Value? {
        get { find(path)?.value }
        set {
            if let v = newValue { insert(path, v) } else { removeValue(forKey: path) }
        }
    }

    var isEmpty: Bool { count == 0 }

    func contains(_ path: [UInt8]) -> Bool { find(path)?.value != nil }

    /// Sets the value at `path`; returns the heap bytes of the trie nodes it had to add.
    @discardableResult
    func insert(_ path: [UInt8], _ value: Value) -> Int {
        guard let (n, added) = slot(path) else { return 0 }
        if n.value == nil { count &+= 1 }
        n.value = value
        return added
    }

    /// Sets the value at `path` and returns the one it replaced: one walk down the path.
    @discardableResult
    func exchange(_ path: [UInt8], _ value: Value) -> Value? {
        guard let (n, _) = slot(path) else { return nil }
        let old = n.value
        if old == nil { count &+= 1 }
        n.value = value
        return old
    }

    /// The trie node for `path`, made with any missing ones (nil for an empty or
    /// malformed path), and the heap bytes of those it added.
    private func slot(_ path: [UInt8]) -> (XSTrieNode<Value>, Int)? {
        if path.isEmpty { return nil }
        var added = 0
        var n = root
        var s = 0
        while s < path.count {
            guard let c = child(of: n, path, s) else { return nil }
            if c.found {
                n = n.kids[c.index]
            } else {
                let k = XSTrieNode<Value>()
                n.names.insert(Array(path[s..<c.end]), at: c.index)
                n.kids.insert(k, at: c.index)
                work.units &+= n.names.count &- c.index &+ c.end &- s
                added &+= XSNodeTree.trieNodeBytes(nameLength: c.end &- s)
                n = k
            }
            s = c.next
        }
        return (n, added)
    }

    @discardableResult
    func removeValue(forKey path: [UInt8]) -> Value? {
        if path.isEmpty { return nil }
        var chain: [(XSTrieNode<Value>, Int)] = []
        var n = root
        var s = 0
        while s < path.count {
            guard let c = child(of: n, path, s), c.found else { return nil }
            chain.append((n, c.index))
            n = n.kids[c.index]
            s = c.next
        }
        guard let old = n.value else { return nil }
        n.value = nil
        count &-= 1
        // Prune trie nodes left with neither a value nor children.
        var i = chain.count &- 1
        while i >= 0 {
            let (p, idx) = chain[i]
            let child = p.kids[idx]
            if child.value != nil || !child.names.isEmpty { break }
            p.names.remove(at: idx)
            p.kids.remove(at: idx)
            work.units &+= p.names.count &- idx
            p.shrinkIfSparse()
            i &-= 1
        }
        return old
    }

    /// The values at `path` and at each of its ancestors in the tree ("/", "/a", "/a/b"
    /// for "/a/b"), root first: one walk down the path.
    func forEachPrefix(of path: [UInt8], _ body: (Value) -> Void) {
        var n = root
        var s = 0
        while s < path.count {
            guard let c = child(of: n, path, s), c.found else { return }
            n = n.kids[c.index]
            if let v = n.value { body(v) }
            s = c.next
        }
    }

    /// Every (path, value), parents before children, siblings in name order.
    func forEach(_ body: ([UInt8], Value) -> Void) {
        var stack: [([UInt8], XSTrieNode<Value>)] = []
        var i = root.kids.count &- 1
        while i >= 0 { stack.append((root.names[i], root.kids[i])); i &-= 1 }
        while let (p, n) = stack.popLast() {
            if let v = n.value { body(p, v) }
            var j = n.kids.count &- 1
            while j >= 0 {
                stack.append((XSPath.child(p, n.names[j]), n.kids[j]))
                j &-= 1
            }
        }
    }

    /// Changes every value in place (no paths built).
    func updateAll(_ body: (inout Value) -> Void) {
        var stack: [XSTrieNode<Value>] = [root]
        while let n = stack.popLast() {
            if var v = n.value {
                n.value = nil          // keep the value's storage unique while it changes
                body(&v)
                n.value = v
            }
            stack.append(contentsOf: n.kids)
        }
    }
}
