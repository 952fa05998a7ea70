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
        let old = nodes[path]
        nodes[path] = n
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
    /// (ENOSPC once the transaction touched `nodesPerTransaction` nodes).
    func fetch(_ path: [UInt8], _ ctx: XSContext) throws(XenStoreError) -> XSNode? {
        guard let tx = ctx.tx else { return nodes[path] }
        let s = tx.accessed.search(path)
        if s.found { return tx.accessed.values[s.index].node }
        if !ctx.privileged {
            if tx.accessed.count >= limits.nodesPerTransaction { throw .enospc }
            try checkMemory(ctx.domid, adding: path.count + 64)
        }
        tx.bytes += path.count + 64
        let n = nodes[path]
        tx.accessed[path] = XSTxEntry(baseGeneration: n?.generation, node: n, modified: false, originalPerms: n?.perms)
        return n
    }

    /// Writes `node` (new generation) in `ctx`'s view. Quota checks are the caller's.
    func store(_ path: [UInt8], _ node: XSNode, _ ctx: XSContext) {
        guard let tx = ctx.tx else { putCommitted(path, node); return }
        tx.bytes += node.value.count
        generation &+= 1
        var n = node
        n.generation = generation
        let s = tx.accessed.search(path)
        let old: XSNode?
        if s.found {
            old = tx.accessed.values[s.index].node
            tx.accessed.updateValue(at: s.index) { $0.node = n; $0.modified = true }
        } else {
            let m = nodes[path]
            old = m
            tx.accessed[path] = XSTxEntry(baseGeneration: m?.generation, node: n, modified: true, originalPerms: m?.perms)
        }
        adjust(&tx.ownerDelta, from: old?.owner, to: n.owner)
    }

    func erase(_ path: [UInt8], _ ctx: XSContext) {
        guard let tx = ctx.tx else {
            if let old = nodes.removeValue(forKey: path) { accountCommitted(path, old: old, new: nil) }
            return
        }
        let s = tx.accessed.search(path)
        let old: XSNode?
        if s.found {
            old = tx.accessed.values[s.index].node
            tx.accessed.updateValue(at: s.index) { $0.node = nil; $0.modified = true }
        } else {
            let m = nodes[path]
            old = m
            tx.accessed[path] = XSTxEntry(baseGeneration: m?.generation, node: nil, modified: true, originalPerms: m?.perms)
        }
        adjust(&tx.ownerDelta, from: old?.owner, to: nil)
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

    /// Access `ctx` has to the nearest existing ancestor of `path` (xenstored's ask_parents).
    func ancestorAccess(_ path: [UInt8], _ ctx: XSContext) throws(XenStoreError) -> XSAccess {
        var p = path
        repeat {
            p = XSPath.parent(p)
            if let n = try fetch(p, ctx) { return access(ctx, n.perms) }
        } while !(p.count == 1 && p[0] == XSPath.slash)
        return []
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
        try XSPath.canonicalize(raw, domid: ctx.domid, privileged: ctx.privileged, allowSpecial: special)
    }

    // MARK: Watches

    /// Fires (or, inside a transaction, queues) the watches matching a change of `path`.
    /// `subtree`: watches on `path` or any ancestor match; else only watches on `path` itself.
    func changed(_ path: [UInt8], subtree: Bool, extraPerms: [XenStorePermission]?, _ ctx: XSContext) {
        guard let tx = ctx.tx else {
            fire(path, subtree: subtree, extraPerms: extraPerms)
            return
        }
        if let i = tx.eventIndex[path] {
            if subtree { tx.events[i].subtree = true }
        } else {
            tx.eventIndex[path] = tx.events.count
            tx.events.append(XSTxEvent(path: path, subtree: subtree))
        }
    }

    /// Queues a WATCH_EVENT for every matching watch of every connection allowed to see it:
    /// one that can read the node (with its old or new permissions) or its parent.
    func fire(_ path: [UInt8], subtree: Bool, extraPerms: [XenStorePermission]?) {
        let nodePerms = nodes[path]?.perms
        let parentPerms = nodes[XSPath.parent(path)]?.perms
        var c = 0
        while c < connections.count {
            let conn = connections.values[c]
            c += 1
            if conn.watches.isEmpty { continue }
            let privileged = conn.domid == XenStore.privilegedDomid
            var permitted = false
            if let p = extraPerms, access(conn.domid, privileged: privileged, p).contains(.read) { permitted = true }
            if !permitted, let p = nodePerms, access(conn.domid, privileged: privileged, p).contains(.read) { permitted = true }
            if !permitted, let p = parentPerms, access(conn.domid, privileged: privileged, p).contains(.read) { permitted = true }
            if !permitted { continue }
            for w in conn.watches {
                let match = subtree ? XSPath.isChild(path, of: w.path) : w.path == path
                if match { enqueueEvent(conn, path: watchEventPath(path, w), token: w.token) }
            }
        }
    }

    func watchEventPath(_ path: [UInt8], _ w: XSWatch) -> [UInt8] {
        guard w.relativePrefix > 0, path.count > w.relativePrefix else { return path }
        return Array(path[w.relativePrefix...])
    }

    // MARK: Operations

    /// Creates `path` and any missing parents (xenstored's create_node): new nodes inherit
    /// the parent's permissions, and a domain owns what it creates.
    func create(_ path: [UInt8], value: ArraySlice<UInt8>, _ ctx: XSContext) throws(XenStoreError) {
        var missing: [[UInt8]] = [path]
        var parentPath = XSPath.parent(path)
        var parentNode: XSNode
        while true {
            if let n = try fetch(parentPath, ctx) { parentNode = n; break }
            if parentPath.count == 1 && parentPath[0] == XSPath.slash { throw .enoent }
            missing.append(parentPath)
            parentPath = XSPath.parent(parentPath)
        }
        let topName = XSPath.basename(missing[missing.count - 1])
        if !ctx.privileged {
            if ownedCount(ctx.domid, ctx) + missing.count > limits.nodesPerDomain { throw .enospc }
            if value.count > limits.nodeSize { throw .enospc }
            if parentNode.value.count + parentNode.childBytes + topName.count + 1 > limits.nodeSize { throw .enospc }
            var add = value.count
            for p in missing { add += 2 * p.count + 4 * parentNode.perms.count + 64 }
            try checkMemory(ctx.domid, adding: add)
        }
        var k = missing.count - 1
        while k >= 0 {
            let p = missing[k]
            let name = XSPath.basename(p)
            parentNode.children.append(name)
            parentNode.childBytes += name.count + 1
            store(parentPath, parentNode, ctx)
            var perms = parentNode.perms
            if !ctx.privileged && !perms.isEmpty { perms[0].domid = ctx.domid; perms[0].ignored = false }
            parentNode = XSNode(value: k == 0 ? Array(value) : [], perms: perms)
            parentPath = p
            k -= 1
        }
        store(parentPath, parentNode, ctx)
    }

    func opWrite(_ rawPath: ArraySlice<UInt8>, _ value: ArraySlice<UInt8>, _ ctx: XSContext) throws(XenStoreError) {
        let path = try canonical(rawPath, ctx, special: false).path
        if !ctx.privileged && value.count > limits.nodeSize { throw .enospc }
        do throws(XenStoreError) {
            var node = try checkedNode(path, .write, ctx)
            if !ctx.privileged {
                if value.count + node.childBytes > limits.nodeSize { throw .enospc }
                try checkMemory(node.owner, adding: value.count - node.value.count)
            }
            node.value = Array(value)
            store(path, node, ctx)
        } catch {
            guard error == .enoent else { throw error }
            try create(path, value: value, ctx)
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
        try create(path, value: [], ctx)
        changed(path, subtree: true, extraPerms: nil, ctx)
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
        try removeTree(path, ctx)
    }

    /// Deletes `path` and everything below it (no permission checks; the caller did them).
    /// Watches fire per node, children first: exact matches for descendants, subtree
    /// matches for `path` itself (xenstored's rm_node / delnode_sub).
    func removeTree(_ path: [UInt8], _ ctx: XSContext) throws(XenStoreError) {
        let parentPath = XSPath.parent(path)
        guard var parentNode = try fetch(parentPath, ctx) else { throw .einval }
        // Collect the subtree first (all reads, so a transaction's node limit can stop us
        // before anything changed). Pre-order, iterative: paths can be ~1500 levels deep.
        var order: [([UInt8], XSNode)] = []
        var stack: [[UInt8]] = [path]
        while let p = stack.popLast() {
            guard let n = try fetch(p, ctx) else { continue }
            order.append((p, n))
            for c in n.children { stack.append(XSPath.child(p, c)) }
        }
        var i = order.count - 1
        while i >= 0 {
            let (p, n) = order[i]
            changed(p, subtree: i == 0, extraPerms: n.perms, ctx)
            erase(p, ctx)
            i -= 1
        }
        let name = XSPath.basename(path)
        if let idx = parentNode.children.firstIndex(of: name) {
            parentNode.children.remove(at: idx)
            parentNode.childBytes -= name.count + 1
            store(parentPath, parentNode, ctx)
        }
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
        let old = node.perms
        node.perms = perms
        store(path, node, ctx)
        changed(path, subtree: true, extraPerms: old, ctx)
    }

    // MARK: Transactions

    func commit(_ tx: XSTransaction, _ ctx: XSContext) throws(XenStoreError) {
        // Conflicts: anything this transaction looked at has changed since.
        var i = 0
        while i < tx.accessed.count {
            let e = tx.accessed.values[i]
            if nodes[tx.accessed.keys[i]]?.generation != e.baseGeneration { throw .eagain }
            i += 1
        }
        // Quota, against the committed counts of now.
        var delta = XSMap<UInt16, Int>()
        i = 0
        while i < tx.accessed.count {
            let e = tx.accessed.values[i]
            if e.modified { adjust(&delta, from: nodes[tx.accessed.keys[i]]?.owner, to: e.node?.owner) }
            i += 1
        }
        if !ctx.privileged {
            var d = 0
            while d < delta.count {
                let dom = delta.keys[d], add = delta.values[d]
                if add > 0 && dom != XenStore.privilegedDomid && (nodeCounts[dom] ?? 0) + add > limits.nodesPerDomain {
                    throw .enospc
                }
                d += 1
            }
        }
        i = 0
        while i < tx.accessed.count {
            let e = tx.accessed.values[i]
            let key = tx.accessed.keys[i]
            if e.modified {
                if let n = e.node {
                    putCommitted(key, n)
                } else if let old = nodes.removeValue(forKey: key) {
                    accountCommitted(key, old: old, new: nil)
                }
            }
            i += 1
        }
        for ev in tx.events {
            fire(ev.path, subtree: ev.subtree, extraPerms: tx.accessed[ev.path]?.originalPerms)
        }
    }
}
