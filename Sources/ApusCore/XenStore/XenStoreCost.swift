/// What the store charges a domain for the memory it makes the hypervisor hold.
///
/// xenstored's "memory" quota counts payload bytes. Apus charges what the EL2 heap
/// (Sources/AArch64/runtime.c) really gives out, so that the quota bounds the heap:
/// every block is a power of two of at least 16 bytes plus a 16-byte header, every Swift
/// array adds a 32-byte header to its elements, and arrays that grow by appending keep up
/// to twice (the store's child arrays: four times, then they are shrunk) the room they use.
/// A domain is charged for
/// - each node it owns: value, name (twice: the parent's child list and the tree's own
///   copy), permissions, child list (by `listRoom`), and `nodeFixed` for the tree object and
///   its slots in the parent;
/// - each node its open transactions touched: the path and a full copy of the node as it
///   was (the copy shares storage with the committed node until that changes, and is then
///   what the transaction keeps alive), plus the slots of the transaction's maps;
/// - each watch: path, token and slot.
/// Watch events and replies waiting for the ring are bounded separately
/// (`XenStoreLimits.pendingOutputBytes`). `XenStore.worstCaseBytes(for:)` adds it all up.
enum XSCost {
    /// Heap bytes of one block asked for `bytes`.
    static func block(_ bytes: Int) -> Int {
        var c = 16
        while c < bytes && c < (1 << 40) { c = c &<< 1 }
        return c &+ 16
    }

    /// Heap bytes of an array holding `elementBytes` bytes of elements (an empty array
    /// shares the runtime's static empty buffer).
    static func array(_ elementBytes: Int) -> Int {
        elementBytes <= 0 ? 0 : block(elementBytes &+ 32)
    }

    /// A node's trie object (header, two array references, the optional node: 80 bytes ->
    /// 144 on the heap), the headers of its three child arrays (the node's child list and
    /// the trie's names and objects, 80 each plus rounding: 416), and its slots in its
    /// parent's three arrays (8 bytes each, kept at most 4x over-allocated, rounded: 128).
    static let nodeFixed = block(32 &+ MemoryLayout<XSNode?>.stride) &+ 416 &+ 128

    /// Length of the last component of a canonical path.
    static func nameLength(_ path: [UInt8]) -> Int {
        var i = path.count &- 1
        while i > 0 && path[i] != XSPath.slash { i &-= 1 }
        if i <= 0 { return path.count }
        return path.count &- i &- 1
    }

    /// The slots a child list is charged for: as many as it can hold at the most, not its
    /// `capacity`. An allocated list never holds more than max(8, 4 x count) (appends double
    /// it, `shrinkIfSparse` and release give room back past 4 x), so this bounds the heap. Not
    /// `capacity` itself: on the host Swift counts the allocator's slack in it
    /// (malloc_usable_size), which varies with the heap's history, so the same store was
    /// charged differently from run to run (flaky XenStoreReleaseTests, XenStoreInvariantTests).
    static func listRoom(count: Int, allocated: Bool) -> Int {
        allocated ? Swift.max(8, 4 &* count) : 0
    }

    static func listRoom(_ children: [[UInt8]]) -> Int {
        listRoom(count: children.count, allocated: children.capacity > 0)
    }

    /// A committed node.
    static func node(_ path: [UInt8], _ n: XSNode) -> Int {
        node(nameLength: nameLength(path), n)
    }

    static func node(nameLength: Int, _ n: XSNode) -> Int {
        array(n.value.count) &+ 2 &* array(nameLength) &+ array(4 &* n.perms.count)
            &+ array(8 &* listRoom(n.children)) &+ nodeFixed
    }

    /// A transaction's private copy of a node: value, child list and names, permissions.
    /// Names: each at most 2 x (length + 32) + 16 = 2 x length + 80, and childBytes counts
    /// length + 1 per name.
    static func snapshot(_ n: XSNode) -> Int {
        array(n.value.count) &+ array(8 &* listRoom(n.children)) &+ 2 &* n.childBytes
            &+ 80 &* n.children.count &+ array(4 &* n.perms.count)
    }

    /// An entry's slots in a transaction's `accessed` map (key reference and entry, in two
    /// arrays that grow by doubling, rounded up).
    static let txEntryFixed = 4 &* (8 &+ MemoryLayout<XSTxEntry>.stride) &+ 16

    /// An entry's copies (its place in the transaction's tree is charged when inserted:
    /// XSNodeTree.insert returns it).
    static func txEntry(_ e: XSTxEntry) -> Int {
        var c = txEntryFixed
        if let n = e.node { c &+= snapshot(n) }
        if let p = e.originalPerms { c &+= array(4 &* p.count) }
        return c
    }

    /// A queued watch firing of a transaction (path, entry in `events`, slot in `eventIndex`).
    static func txEvent(_ path: [UInt8]) -> Int {
        array(path.count) &+ 4 &* MemoryLayout<XSTxEvent>.stride &+ 4 &* 16
    }

    /// An open transaction's object and its slot in the connection's map.
    static let transactionFixed = 256

    /// A watch: path, token, its slots in the connection's list and in the index's list
    /// for its path (with that list's header), and the index's tree nodes for its path
    /// (charged to every watch on the path, though watches on one path share them).
    static func watch(path: [UInt8], token: Int) -> Int {
        array(path.count) &+ array(token) &+ 8 &* MemoryLayout<XSWatch>.stride &+ 80
            &+ XSNodeTree<[XSWatch]>.insertBound(path)
    }
}

extension XenStore {
    /// Heap bytes the store can hold for one domain with `limits`, at most:
    /// - what its quota lets it be charged (`memoryPerDomain`), plus what one request can
    ///   add past its last check (`requestSlack`);
    /// - its queued output: watch events and unsent replies, `pendingOutputBytes` plus one
    ///   reply, in one byte queue that may be twice that size, and the events queue;
    /// - a partly received request (header and a payload buffer), and the request, reply
    ///   and event copies alive while one request is handled;
    /// - its connection, ring state and accounting entries (`connectionFixed`).
    /// The hypervisor sizes its heap as (domains x this) + the store's own nodes. Note that
    /// runtime.c's free lists never merge or split blocks: a block freed in one size class
    /// serves only that class again, so the heap must also allow for that (see
    /// docs/xen-interfaces.md).
    public static func worstCaseBytes(for limits: XenStoreLimits) -> Int {
        let message = XenStoreWire.headerSize &+ XenStoreWire.payloadMax
        let output = 2 &* XSCost.array(2 &* (limits.pendingOutputBytes &+ message))
        let input = XSCost.array(XenStoreWire.headerSize) &+ XSCost.array(XenStoreWire.payloadMax)
        let inFlight = 4 &* XSCost.array(message)
        return limits.memoryPerDomain &+ requestSlack(limits) &+ output &+ input &+ inFlight &+ connectionFixed
    }

    /// `worstCaseBytes(for:)` with the default limits (xenstored's defaults).
    public static let worstCaseBytesPerDomain = worstCaseBytes(for: XenStoreLimits())

    /// The connection object, its ring state, its entries in the store's per-domain maps.
    static let connectionFixed = 2048

    /// What one request may be charged beyond the checks made before it changed anything:
    /// the growth of the child list of the parent of a new node (`listRoom` grows by four
    /// slots a child, and by a block's doubling at most).
    static func requestSlack(_ limits: XenStoreLimits) -> Int {
        XSCost.array(8 &* (limits.nodeSize &+ 1))
    }
}

extension XenStore {
    /// Work units (see `workUnits`) one request costs at most, apart from two things that
    /// grow with what they act on: XS_RM and a transaction's commit cost O(nodes removed or
    /// committed) (at most `nodesPerTransaction` for a commit), and every watch a change
    /// matches adds its event's size (at most the watcher's `pendingOutputBytes` in all).
    ///
    /// A lookup walks the path once: at each level a binary search among the node's
    /// children, whose names a domain's `nodeSize` limits to 2048 bytes together, so a
    /// level costs at most (its name + 1) x (log2 of the children it can have + 1) bytes
    /// compared, at most 12 per path byte, plus 64 per level for the hypervisor's own wide
    /// nodes (/local/domain, /vm). A request does at most 8 lookups per node it creates
    /// (`maxDepth` at most) and 48 more (the binary searches for the nearest ancestor and
    /// the node itself, in a transaction and in the store), and copies each new path once.
    public static func maxWorkPerRequest(for limits: XenStoreLimits) -> Int {
        let path = XenStoreWire.absolutePathMax &+ 1
        let depth = limits.maxDepth &+ 1
        let lookup = 12 &* path &+ 64 &* depth
        let lookups = 8 &* depth &+ 48
        let message = XenStoreWire.headerSize &+ XenStoreWire.payloadMax
        return lookups &* lookup &+ depth &* path &+ 4 &* message
    }
}

extension XenStore {
    /// Work units one backlog action (XenStoreSteps.swift) costs at most: a node of a
    /// removal or commit (its path built, looked up in the store and in a transaction,
    /// its parent's child list, its cost), one watch event of a firing (the merge of up to
    /// `maxDepth` + 1 lists, the event's bytes), a chore. A `service` call stops once its
    /// budget is used, so it does at most `workPerService` plus this, or plus one simple
    /// request (`maxWorkPerRequest`).
    public static func maxWorkPerAction(for limits: XenStoreLimits) -> Int {
        let path = XenStoreWire.absolutePathMax &+ 1
        let message = XenStoreWire.headerSize &+ XenStoreWire.payloadMax
        return 8 &* path &+ 2 &* limits.nodeSize &+ message &+ 2 &* (limits.maxDepth &+ 2)
    }
}
