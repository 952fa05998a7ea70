/// Tree access through a context (a domain, maybe inside a transaction), permission checks
/// and the node-changing operations, following tools/xenstored/core.c and transaction.c.
///
/// Transactions: the first access to a path inside a transaction records the committed
/// node's generation (or its absence) and a private copy; reads and writes then use the
/// copy. TRANSACTION_END "T" fails with EAGAIN if any recorded path changed generation
/// meanwhile, else the modified copies are written back and the queued watches fire.
extension XenStore {

    // MARK: Node access

    /// Committed write outside any transaction (no permission or quota checks).
    func putCommitted(_ path: [UInt8], _ node: XSNode) {
        generation &+= 1
        var n = node
        n.generation = generation
        let old = nodes.exchange(path, n)
        accountCommitted(path, old: old, new: n)
    }

    /// Node count and memory of committed nodes, per owner.
    func accountCommitted(_ path: [UInt8], old: XSNode?, new: XSNode?) {
        adjust(&nodeCounts, from: old?.owner, to: new?.owner)
        if let o = old {
            let v = (nodeBytes[o.owner] ?? 0) - XenStore.cost(path, o)
            nodeBytes[o.owner] = v == 0 ? nil : v
        }
        if let n = new {
            let v = (nodeBytes[n.owner] ?? 0) + XenStore.cost(path, n)
            nodeBytes[n.owner] = v == 0 ? nil : v
        }
    }

    func adjust(_ counts: inout XSMap<UInt16, Int>, from: UInt16?, to: UInt16?) {
        if from == to { return }
        if let f = from {
            let v = (counts[f] ?? 0) - 1
            counts[f] = v == 0 ? nil : v
        }
        if let t = to {
            let v = (counts[t] ?? 0) + 1
            counts[t] = v == 0 ? nil : v
        }
    }

    /// The node at `path` as `ctx` sees it. Inside a transaction the first access is recorded
    /// with a private copy of the node, charged to the domain (ENOSPC once the transaction
    /// touched `nodesPerTransaction` nodes or the copy does not fit the domain's quota).
    func fetch(_ path: [UInt8], _ ctx: XSContext) throws(XenStoreError) -> XSNode? {
        guard let tx = ctx.tx else { return nodes[path] }
        if let t = tx.accessed.find(path), let e = t.value { return e.node }
        let n = nodes[path]
        let e = XSTxEntry(baseGeneration: n?.generation, node: n, modified: false, originalPerms: n?.perms)
        if !ctx.privileged {
            if tx.accessed.count >= limits.nodesPerTransaction { throw .enospc }
            try checkMemory(ctx.domid, adding: XSCost.txEntry(e) &+ XSNodeTree<XSTxEntry>.insertBound(path))
        }
        let added = tx.accessed.insert(path, e)
        tx.bytes &+= XSCost.txEntry(e) &+ added
        return n
    }

    /// The domain a change of a node owned by `owner` is charged to: the owner, or inside a
    /// transaction the transaction's domain (its copy is what the hypervisor holds until
    /// the commit, which charges the owner again).
    func payer(_ owner: UInt16, _ ctx: XSContext) -> UInt16 { ctx.tx != nil ? ctx.domid : owner }

    /// What replacing `old` (already fetched in `ctx`) by `new` at `path` adds to the charge.
    func changeCost(_ path: [UInt8], old: XSNode, new: XSNode, _ ctx: XSContext) -> Int {
        if ctx.tx != nil { return XSCost.snapshot(new) &- XSCost.snapshot(old) }
        return XSCost.node(path, new) &- XSCost.node(path, old)
    }

    /// Writes `node` (new generation) in `ctx`'s view. Quota checks are the caller's.
    func store(_ path: [UInt8], _ node: XSNode, _ ctx: XSContext) {
        guard let tx = ctx.tx else { putCommitted(path, node); return }
        generation &+= 1
        var n = node
        n.generation = generation
        let old = put(n, at: path, in: tx)
        adjust(&tx.ownerDelta, from: old?.owner, to: n.owner)
    }

    func erase(_ path: [UInt8], _ ctx: XSContext) {
        guard let tx = ctx.tx else {
            if let old = nodes.removeValue(forKey: path) { accountCommitted(path, old: old, new: nil) }
            return
        }
        let old = put(nil, at: path, in: tx)
        adjust(&tx.ownerDelta, from: old?.owner, to: nil)
    }

    /// Sets `tx`'s view of `path` to `node` (nil: deleted), recording the committed node's
    /// generation first if the transaction had not touched it; returns the node it replaced.
    func put(_ node: XSNode?, at path: [UInt8], in tx: XSTransaction) -> XSNode? {
        if let t = tx.accessed.find(path), var e = t.value {
            let old = e.node
            let before = XSCost.txEntry(e)
            e.node = node
            e.modified = true
            t.value = e
            tx.bytes &+= XSCost.txEntry(e) &- before
            return old
        }
        let m = nodes[path]
        let e = XSTxEntry(baseGeneration: m?.generation, node: node, modified: true, originalPerms: m?.perms)
        let added = tx.accessed.insert(path, e)
        tx.bytes &+= XSCost.txEntry(e) &+ added
        return m
    }

    /// Takes `name` out of `parent`'s child list; a list emptied by removals gives its room
    /// back (it is charged by capacity). False if the name was not there.
    func removeChild(_ name: [UInt8], of parent: inout XSNode) -> Bool {
        guard let idx = parent.children.firstIndex(of: name) else { return false }
        work.units &+= parent.childBytes
        parent.children.remove(at: idx)
        parent.childBytes &-= name.count &+ 1
        if parent.children.capacity > 8 && parent.children.count &* 4 < parent.children.capacity {
            var shrunk = [[UInt8]]()
            shrunk.reserveCapacity(parent.children.count &* 2)
            shrunk.append(contentsOf: parent.children)
            parent.children = shrunk
        }
        return true
    }

    /// Nodes `domid` owns as `ctx` sees them.
    func ownedCount(_ domid: UInt16, _ ctx: XSContext) -> Int {
        (nodeCounts[domid] ?? 0) + (ctx.tx?.ownerDelta[domid] ?? 0)
    }

    // MARK: Permissions

    /// xenstored's perm_for_conn: the privileged domain and the owner get everything;
    /// else the first live entry naming the domain (or DOMID_ANY), else the owner entry's access.
    func access(_ domid: UInt16, privileged: Bool, _ perms: [XenStorePermission]) -> XSAccess {
        if privileged { return .all }
        guard let first = perms.first else { return [] }
        if first.domid == domid { return .all }
        var i = 1
        while i < perms.count {
            let p = perms[i]
            if !p.ignored && (p.domid == domid || p.domid == XenStoreWire.domidAny) {
                return XSAccess(rawValue: p.access.rawValue)
            }
            i += 1
        }
        return XSAccess(rawValue: first.access.rawValue)
    }

    func access(_ ctx: XSContext, _ perms: [XenStorePermission]) -> XSAccess {
        access(ctx.domid, privileged: ctx.privileged, perms)
    }

    /// Lengths of the proper ancestors of canonical `path`, root first ("/a/b/c": "/",
    /// "/a", "/a/b"). Special names ("@x") have "/" as their parent, as XSPath.parent says.
    func ancestorLengths(_ path: [UInt8]) -> [Int] {
        var out: [Int] = [1]
        guard path.first == XSPath.slash else { return out }
        var i = 1
        while i < path.count {
            if path[i] == XSPath.slash { out.append(i) }
            i &+= 1
        }
        work.units &+= path.count
        return out
    }

    /// The deepest existing proper ancestor of `path` as `ctx` sees it: its length among
    /// `ancestorLengths(path)` and its node. The root always exists. Existence is monotone
    /// along a path (a node's parent exists), so a binary search needs log2(depth) lookups
    /// where walking up needs depth of them. (Inside a transaction whose copies went stale
    /// the view may not be monotone; such a transaction fails its commit with EAGAIN.)
    func nearestAncestor(_ path: [UInt8], _ ctx: XSContext) throws(XenStoreError) -> (index: Int, lengths: [Int], node: XSNode?) {
        let lengths = ancestorLengths(path)
        if path.first != XSPath.slash { return (0, lengths, try fetch(XSPath.root, ctx)) }
        var lo = 0, hi = lengths.count &- 1
        var found: XSNode? = nil
        var foundAt = -1
        while lo < hi {
            let mid = lo &+ (hi &- lo &+ 1) / 2
            if let n = try fetch(Array(path[0..<lengths[mid]]), ctx) {
                lo = mid
                found = n
                foundAt = mid
            } else {
                hi = mid &- 1
            }
        }
        if foundAt != lo { found = try fetch(Array(path[0..<lengths[lo]]), ctx) }
        return (lo, lengths, found)
    }

    /// Access `ctx` has to the nearest existing ancestor of `path` (xenstored's ask_parents).
    func ancestorAccess(_ path: [UInt8], _ ctx: XSContext) throws(XenStoreError) -> XSAccess {
        guard let n = try nearestAncestor(path, ctx).node else { return [] }
        return access(ctx, n.perms)
    }

    /// The node at `path` if `ctx` has all of `need` on it. A missing node gives ENOENT only
    /// when the nearest existing ancestor grants some of `need`, else EACCES, so that
    /// existence is not revealed (xenstored's get_node_chk_perm / errno_from_parents).
    func checkedNode(_ path: [UInt8], _ need: XSAccess, _ ctx: XSContext) throws(XenStoreError) -> XSNode {
        if let n = try fetch(path, ctx) {
            if access(ctx, n.perms).isSuperset(of: need) { return n }
            throw .eacces
        }
        let a = try ancestorAccess(path, ctx)
        throw a.isDisjoint(with: need) ? .eacces : .enoent
    }

    func canonical(_ raw: ArraySlice<UInt8>, _ ctx: XSContext, special: Bool) throws(XenStoreError) -> (path: [UInt8], relative: Bool) {
        work.units &+= raw.count
        return try XSPath.canonicalize(raw, domid: ctx.domid, privileged: ctx.privileged, allowSpecial: special,
                                       maxDepth: limits.maxDepth)
    }

    // MARK: Watches

    /// Fires (or, inside a transaction, queues) the watches matching a change of `path`.
    /// `subtree`: watches on `path` or any ancestor match; else only watches on `path` itself.
    func changed(_ path: [UInt8], subtree: Bool, extraPerms: [XenStorePermission]?, _ ctx: XSContext) {
        guard let tx = ctx.tx else {
            fire(path, subtree: subtree, extraPerms: extraPerms)
            return
        }
        // Every path changed in a transaction has an entry (store/erase made it).
        if let t = tx.accessed.find(path), var e = t.value {
            if e.event >= 0 && e.event < tx.events.count {
                if subtree { tx.events[e.event].subtree = true }
                return
            }
            e.event = tx.events.count
            t.value = e
        }
        tx.events.append(XSTxEvent(path: path, subtree: subtree))
        tx.bytes &+= XSCost.txEvent(path)
    }

    /// Queues a WATCH_EVENT for every matching watch of every connection allowed to see it:
    /// one that can read the node (with its old or new permissions) or its parent.
    /// The candidates come from the watch index: watches on `path` (and with `subtree` on
    /// its ancestors), found in one walk down the path; they go out in domid order, each
    /// domain's in the order it set them, a watch per backlog action (XSFanOut).
    func fire(_ path: [UInt8], subtree: Bool, extraPerms: [XenStorePermission]?) {
        work.units &+= path.count
        queueFanOut(path, subtree: subtree, extraPerms: extraPerms)
    }

    func watchEventPath(_ path: [UInt8], _ w: XSWatch) -> [UInt8] {
        guard w.relativePrefix > 0, path.count > w.relativePrefix else { return path }
        return Array(path[w.relativePrefix...])
    }

    // MARK: Operations

    /// Creates `path` and any missing parents (xenstored's create_node): new nodes inherit
    /// the parent's permissions, and a domain owns what it creates. Everything it will be
    /// charged is checked before anything changes.
    /// True when it is done (the caller fires the watches); false when the nodes are made
    /// by a job that fires them when done.
    func create(_ path: [UInt8], value: ArraySlice<UInt8>, _ ctx: XSContext) throws(XenStoreError) -> Bool {
        let near = try nearestAncestor(path, ctx)
        guard let parentNode = near.node else { throw .enoent }
        let parentPath = Array(path[0..<near.lengths[near.index]])
        // Lengths of the nodes to create, top first; the last is `path` itself.
        var missing: [Int] = []
        var k = near.index &+ 1
        while k < near.lengths.count { missing.append(near.lengths[k]); k &+= 1 }
        missing.append(path.count)
        let topLength = missing[0]
        let topName = topLength &- parentPath.count &- (parentPath.count == 1 ? 0 : 1)
        if !ctx.privileged {
            if ownedCount(ctx.domid, ctx) &+ missing.count > limits.nodesPerDomain { throw .enospc }
            if value.count > limits.nodeSize { throw .enospc }
            if parentNode.value.count &+ parentNode.childBytes &+ topName &+ 1 > limits.nodeSize { throw .enospc }
            // New nodes (each with a child list of one, but the last), the parent's list
            // grown (at most doubled), and inside a transaction each new entry's place.
            var add = 0
            var prev = parentPath.count
            for len in missing {
                let nameLength = len &- prev &- (prev == 1 ? 0 : 1)
                add &+= XSCost.array(nameLength) &* 2 &+ XSCost.array(4 &* parentNode.perms.count)
                    &+ XSCost.array(8) &+ XSCost.nodeFixed
                if ctx.tx != nil { add &+= XSCost.txEntryFixed &+ XSCost.array(4 &* parentNode.perms.count) }
                prev = len
            }
            add &+= XSCost.array(value.count)
            if ctx.tx != nil { add &+= XSNodeTree<XSTxEntry>.insertBound(path) }
            try checkMemory(ctx.domid, adding: add)
            // The parent's child list grows: its owner pays (in a transaction, the
            // transaction's domain), so a domain cannot grow a directory it was only given
            // write access to past its owner's quota.
            let room = XSCost.listRoom(parentNode.children)
            let grown = XSCost.listRoom(count: parentNode.children.count &+ 1, allocated: true)
            let growth = XSCost.array(8 &* grown) &- XSCost.array(8 &* room)
            if growth > 0 { try checkMemory(payer(parentNode.owner, ctx), adding: growth) }
        }
        let c = XSCreation(path: path, missing: missing, parentPath: parentPath, parentNode: parentNode,
                           value: Array(value), ctx: ctx)
        if missing.count == 1 {
            // One new node: done here.
            while !creationAction(c) {}
            return true
        }
        // Several: a node per backlog action (XenStoreSteps.swift), the watches fire last.
        c.fire = true
        job = .creation(c)
        return false
    }

    func opWrite(_ rawPath: ArraySlice<UInt8>, _ value: ArraySlice<UInt8>, _ ctx: XSContext) throws(XenStoreError) {
        let path = try canonical(rawPath, ctx, special: false).path
        if !ctx.privileged && value.count > limits.nodeSize { throw .enospc }
        work.units &+= value.count
        do throws(XenStoreError) {
            var node = try checkedNode(path, .write, ctx)
            let old = node
            if !ctx.privileged && value.count &+ node.childBytes > limits.nodeSize { throw .enospc }
            node.value = Array(value)
            if !ctx.privileged {
                try checkMemory(payer(old.owner, ctx), adding: changeCost(path, old: old, new: node, ctx))
            }
            store(path, node, ctx)
        } catch {
            guard error == .enoent else { throw error }
            if try !create(path, value: value, ctx) { return }
        }
        changed(path, subtree: true, extraPerms: nil, ctx)
    }

    func opMkdir(_ rawPath: ArraySlice<UInt8>, _ ctx: XSContext) throws(XenStoreError) {
        let path = try canonical(rawPath, ctx, special: false).path
        do throws(XenStoreError) {
            _ = try checkedNode(path, .write, ctx)
            return                                  // exists already: fine
        } catch {
            guard error == .enoent else { throw error }
        }
        if try create(path, value: [], ctx) { changed(path, subtree: true, extraPerms: nil, ctx) }
    }

    func opRemove(_ rawPath: ArraySlice<UInt8>, _ ctx: XSContext) throws(XenStoreError) {
        let path = try canonical(rawPath, ctx, special: false).path
        do throws(XenStoreError) {
            _ = try checkedNode(path, .write, ctx)
        } catch {
            guard error == .enoent else { throw error }
            // Not there: fine if the parent is.
            if try fetch(XSPath.parent(path), ctx) != nil { return }
            throw .enoent
        }
        if path.count == 1 && path[0] == XSPath.slash { throw .einval }
        try beginRemoval(path, ctx)
    }

    /// Deletes `path` and everything below it (no permission checks; the caller did them).
    /// Watches fire per node, children first: exact matches for descendants, subtree
    /// matches for `path` itself (xenstored's rm_node / delnode_sub). All at once; a ring's
    /// XS_RM does the same in steps (`beginRemoval`, XenStoreSteps.swift).
    func removeTree(_ path: [UInt8], _ ctx: XSContext) throws(XenStoreError) {
        let r = try makeRemoval(path, ctx)
        while try !removalAction(r) {}
    }

    func opSetPermissions(_ rawPath: ArraySlice<UInt8>, _ newPerms: [XenStorePermission], _ ctx: XSContext) throws(XenStoreError) {
        guard let owner = newPerms.first else { throw .einval }
        if !ctx.privileged && newPerms.count > limits.permissionsPerNode { throw .enospc }
        // An owner that is not a live domain: xenstored reports ENOENT.
        guard isKnownDomain(owner.domid) else { throw .enoent }
        var perms = newPerms
        perms[0].ignored = false
        var i = 1
        while i < perms.count {
            perms[i].ignored = !(isKnownDomain(perms[i].domid) || perms[i].domid == XenStoreWire.domidAny)
            i += 1
        }
        let path = try canonical(rawPath, ctx, special: true).path
        var node = try checkedNode(path, [.write, .owner], ctx)
        // Unprivileged domains may not give their nodes away.
        if !ctx.privileged && owner.domid != node.owner { throw .eperm }
        let old = node
        node.perms = perms
        if !ctx.privileged {
            try checkMemory(payer(old.owner, ctx), adding: changeCost(path, old: old, new: node, ctx))
        }
        store(path, node, ctx)
        changed(path, subtree: true, extraPerms: old.perms, ctx)
    }
}
