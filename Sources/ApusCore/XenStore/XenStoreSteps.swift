/// Requests done in bounded steps (issue 10: no request may hold the hypervisor's Xen lock
/// for long).
///
/// A few requests do work that grows with what they act on: XS_RM of a subtree (a node at
/// a time, ~1000 of them within a domain's quota), a transaction's commit (every node it
/// touched, up to `nodesPerTransaction`), a watch firing (every watch on the path and its
/// ancestors: 128 per domain), freeing a transaction's copies, dropping 128 watches. That
/// work is kept as the store's backlog and done in actions of bounded work:
/// - `fanOuts`: watch firings, a watch per action, in the order they were made;
/// - `chores`: a transaction tree's node freed, a watch dropped, per action;
/// - `job`: the removal or commit in progress, a node per action.
/// The request's reply is sent once the backlog is done (its watch events are queued by
/// then, as before). While there is a backlog the store takes no other request (`service`
/// of any domain, `releaseStep` and `introduceStep` work on the backlog first), so a request
/// done in steps is as atomic for every domain as one done at once: xenstored serves one
/// request at a time too. The ring's indices stay where they are meanwhile: the domain's
/// next requests wait in its ring.

/// One watch firing being delivered: the watches on the changed path (and with `subtree`
/// on its ancestors) as they were at the change, each list in delivery order (domid, then
/// registration), merged a watch at a time; permissions as they were at the change.
/// (A class: an action works on it in place, without copying its arrays.)
final class XSFanOut {
    let path: [UInt8]
    let lists: [[XSWatch]]
    var cursors: [Int]
    let extraPerms: [XenStorePermission]?
    let nodePerms: [XenStorePermission]?
    let parentPerms: [XenStorePermission]?
    var current: UInt16? = nil
    var permitted = false

    init(path: [UInt8], lists: [[XSWatch]], extraPerms: [XenStorePermission]?,
         nodePerms: [XenStorePermission]?, parentPerms: [XenStorePermission]?) {
        self.path = path; self.lists = lists; self.extraPerms = extraPerms
        self.nodePerms = nodePerms; self.parentPerms = parentPerms
        cursors = [Int](repeating: 0, count: lists.count)
    }
}

enum XSChore {
    /// Frees one node of a finished transaction's tree (its children follow).
    case free(XSTrieNode<XSTxEntry>)
    /// Drops one watch of a connection (the rest follow).
    case dropWatches(XSConnection)
}

/// XS_RM's removal (xenstored's rm_node / delnode_sub, `removeTree` at once): the subtree
/// is read first, a node per action (in a transaction a read may fail, before anything
/// changed), then deleted children first, a node per action, each firing its watches
/// (exact matches for descendants, subtree matches for the top), then the top leaves its
/// parent's child list.
final class XSRemoval {
    let path: [UInt8]
    let ctx: XSContext
    let parentPath: [UInt8]
    var parentNode: XSNode
    /// The walk: a node's path, its children, the next one to look at (from the last).
    var stack: [([UInt8], [[UInt8]], Int)] = []
    var order: [([UInt8], XSNode)] = []
    /// Erasing: index into `order` of the next node (from the last), -1 when done.
    var next = -1
    var collecting = true

    init(path: [UInt8], ctx: XSContext, parentPath: [UInt8], parentNode: XSNode) {
        self.path = path; self.ctx = ctx; self.parentPath = parentPath; self.parentNode = parentNode
    }
}

/// TRANSACTION_END "T": every node the transaction touched is checked (generation: a
/// conflict is EAGAIN) and its changes counted against quotas, a node per action; then
/// the changes are written back, a node per action, then its queued watches fire.
final class XSCommit {
    let tx: XSTransaction
    let ctx: XSContext
    /// The walk over the transaction's tree (parents first, siblings in name order): a
    /// node's path, its trie node, the next child to visit.
    var walk: [([UInt8], XSTrieNode<XSTxEntry>, Int)] = []
    var modified: [([UInt8], XSTxEntry)] = []
    var delta = XSMap<UInt16, Int>()
    var bytes = XSMap<UInt16, Int>()
    enum Phase { case check, apply, events }
    var phase = Phase.check
    var next = 0

    init(tx: XSTransaction, ctx: XSContext) {
        self.tx = tx; self.ctx = ctx
        walk = [([], tx.accessed.root, 0)]
    }
}

/// A write or mkdir whose path has several missing levels (up to `maxDepth`): a node
/// per action, top first (xenstored's create_node), each added to its parent's list; the
/// watches fire once the last is there.
final class XSCreation {
    let path: [UInt8]
    let missing: [Int]
    var next = 0
    var parentPath: [UInt8]
    var parentNode: XSNode
    let value: [UInt8]
    let ctx: XSContext
    var fire = false

    init(path: [UInt8], missing: [Int], parentPath: [UInt8], parentNode: XSNode, value: [UInt8], ctx: XSContext) {
        self.path = path; self.missing = missing; self.parentPath = parentPath
        self.parentNode = parentNode; self.value = value; self.ctx = ctx
    }
}

enum XSJob {
    case removal(XSRemoval)
    case commit(XSCommit)
    case creation(XSCreation)
}

/// A reply held back until the backlog its request left is done.
struct XSPendingReply {
    /// The connection to answer; nil: `handle`'s caller.
    let conn: XSConnection?
    let type: UInt32
    let requestID: UInt32
    let transactionID: UInt32
    /// The reply, when the request itself is done; nil: the job's outcome decides.
    var reply: [UInt8]?
}

extension XenStore {
    /// Work units charged for every backlog action on top of its bytes.
    static let actionUnits = 48

    var hasBacklog: Bool {
        fanOutHead < fanOuts.count || !chores.isEmpty || job != nil || pending != nil
    }

    /// One bounded action of the backlog; false when there was none. The held reply goes
    /// out (that is an action too) once everything before it is done.
    @discardableResult
    func backlogAction() -> Bool {
        if !hasBacklog { return false }
        // What an action costs apart from the bytes it moves (objects made and freed,
        // lookups): measured at EL2 as 2-4 us for a watch event or a freed node.
        work.units &+= XenStore.actionUnits
        if fanOutHead < fanOuts.count { fanOutAction(); return true }
        if let j = job { jobAction(j); return true }
        if let c = chores.popLast() { choreAction(c); return true }
        if let p = pending {
            pending = nil
            deliver(p)
            return true
        }
        return false
    }

    /// Works on the backlog: at least one action, then until `budget` work units are used;
    /// true once it is done.
    @discardableResult
    func workOnBacklog(budget: Int) -> Bool {
        let start = work.units
        repeat {
            if !backlogAction() { return true }
        } while work.units &- start < budget
        return !hasBacklog
    }

    /// Does the whole backlog at once (message-level and hypervisor-side calls). Returns
    /// the error of a job that had nobody to answer (a privileged XS_RM), if it failed.
    @discardableResult
    func finishBacklog() -> XenStoreError? {
        while backlogAction() {}
        let e = lastJobError
        lastJobError = nil
        return e
    }

    // MARK: Replies

    func deliver(_ p: XSPendingReply) {
        let message = p.reply ?? XenStore.errorReply(requestID: p.requestID, transactionID: p.transactionID, .eio)
        guard let conn = p.conn else { handledReply = message; return }
        // A released (or broken) connection is answered no more.
        guard let live = connections[conn.domid], live === conn else { return }
        conn.ring.enqueue(message)
        // Its `service` writes it out (and the watch events behind it).
        pendingDomains[conn.domid] = true
    }

    /// The reply of the job that just finished (`error` nil: it succeeded).
    func jobFinished(_ error: XenStoreError?) {
        job = nil
        guard var p = pending, p.reply == nil else {
            lastJobError = error
            return
        }
        if let e = error {
            p.reply = XenStore.errorReply(requestID: p.requestID, transactionID: p.transactionID, e)
        } else {
            p.reply = XenStoreWire.message(type: p.type, requestID: p.requestID, transactionID: p.transactionID,
                                           payload: XenStore.ok)
        }
        pending = p
    }

    // MARK: Watch firings

    /// Queues a watch firing (see `fire`): the lists are taken now (no copy: arrays are
    /// shared until changed), the events are made by `fanOutAction`s.
    func queueFanOut(_ path: [UInt8], subtree: Bool, extraPerms: [XenStorePermission]?) {
        var lists: [[XSWatch]] = []
        if subtree {
            watchIndex.forEachPrefix(of: path) { list in if !list.isEmpty { lists.append(list) } }
        } else if let list = watchIndex[path], !list.isEmpty {
            lists.append(list)
        }
        if lists.isEmpty { return }
        let f = XSFanOut(path: path, lists: lists, extraPerms: extraPerms, nodePerms: nodes[path]?.perms,
                         parentPerms: nodes[XSPath.parent(path)]?.perms)
        fanOuts.append(f)
    }

    /// Delivers the next watch of the oldest firing: the first in (domid, registration)
    /// order among the lists' heads. A domain gets the event if it can read the node (with
    /// its old or new permissions) or its parent.
    func fanOutAction() {
        let f = fanOuts[fanOutHead]
        var best = -1
        var bestDomid: UInt16 = 0
        var bestSequence: UInt64 = 0
        var i = 0
        let n = f.lists.count
        while i < n {
            let c = f.cursors[i]
            if c < f.lists[i].count {
                let d = f.lists[i][c].domid, q = f.lists[i][c].sequence
                if best < 0 || d < bestDomid || (d == bestDomid && q < bestSequence) {
                    best = i; bestDomid = d; bestSequence = q
                }
            }
            i &+= 1
        }
        work.units &+= 1 &+ n
        if best < 0 {
            fanOutHead &+= 1
            if fanOutHead == fanOuts.count {
                fanOuts.removeAll(keepingCapacity: fanOuts.capacity <= 64)
                fanOutHead = 0
            }
            return
        }
        let w = f.lists[best][f.cursors[best]]
        f.cursors[best] &+= 1
        if w.domid != f.current {
            f.current = w.domid
            let privileged = policy.isXenStorePrivileged(w.domid)
            var permitted = false
            if let p = f.extraPerms, access(w.domid, privileged: privileged, p).contains(.read) { permitted = true }
            if !permitted, let p = f.nodePerms, access(w.domid, privileged: privileged, p).contains(.read) { permitted = true }
            if !permitted, let p = f.parentPerms, access(w.domid, privileged: privileged, p).contains(.read) { permitted = true }
            f.permitted = permitted
        }
        if f.permitted, let c = connections[w.domid] {
            enqueueEvent(c, path: watchEventPath(f.path, w), token: w.token)
        }
    }

    // MARK: Chores

    /// A transaction is over: its tree is freed a node at a time.
    func dispose(_ tx: XSTransaction) {
        chores.append(.free(tx.accessed.root))
    }

    /// A connection's watches and transactions go (reset_watches, a broken ring), in steps.
    func forgetConnectionState(_ conn: XSConnection) {
        for t in conn.transactions.values { dispose(t) }
        conn.transactions = XSMap<UInt32, XSTransaction>()
        if !conn.watches.isEmpty { chores.append(.dropWatches(conn)) } else { conn.watchBytes = 0 }
    }

    func choreAction(_ c: XSChore) {
        switch c {
        case .free(let n):
            // A child at a time (the last first), then the node's own copy.
            work.units &+= 1
            if let k = n.kids.popLast() {
                n.names.removeLast()
                chores.append(c)
                chores.append(.free(k))
            } else {
                n.names = []
                n.value = nil
            }
        case .dropWatches(let conn):
            if !conn.watches.isEmpty {
                work.units &+= 1
                removeWatch(conn, at: conn.watches.count &- 1)
            }
            if conn.watches.isEmpty { conn.watchBytes = 0 } else { chores.append(c) }
        }
    }

    // MARK: Jobs

    func jobAction(_ j: XSJob) {
        switch j {
        case .removal(let r):
            do throws(XenStoreError) {
                if try removalAction(r) { jobFinished(nil) }
            } catch {
                jobFinished(error)
            }
        case .creation(let c):
            if creationAction(c) { jobFinished(nil) }
        case .commit(let c):
            do throws(XenStoreError) {
                if try commitAction(c) { jobFinished(nil) }
            } catch {
                dispose(c.tx)
                jobFinished(error)
            }
        }
    }

    /// Starts deleting `path` and everything below it (no permission checks; the caller did
    /// them). The work is done by `removalAction`s.
    func beginRemoval(_ path: [UInt8], _ ctx: XSContext) throws(XenStoreError) {
        job = .removal(try makeRemoval(path, ctx))
    }

    func makeRemoval(_ path: [UInt8], _ ctx: XSContext) throws(XenStoreError) -> XSRemoval {
        let parentPath = XSPath.parent(path)
        guard let parentNode = try fetch(parentPath, ctx) else { throw .einval }
        return XSRemoval(path: path, ctx: ctx, parentPath: parentPath, parentNode: parentNode)
    }

    /// One node of a removal; true when it is done.
    func removalAction(_ r: XSRemoval) throws(XenStoreError) -> Bool {
        let ctx = r.ctx
        if r.collecting {
            // Pre-order, last child first (the order `removeTree` had), a node per action:
            // all reads, so a transaction's node limit stops it before anything changed.
            var p = r.path
            if !r.order.isEmpty || !r.stack.isEmpty {
                guard let (parent, kids, i) = r.stack.popLast() else {
                    r.collecting = false
                    r.next = r.order.count &- 1
                    return false
                }
                if i < 0 { return false }
                r.stack.append((parent, kids, i &- 1))
                p = XSPath.child(parent, kids[i])
            }
            work.units &+= 1 &+ p.count
            if let n = try fetch(p, ctx) {
                r.order.append((p, n))
                r.stack.append((p, n.children, n.children.count &- 1))
            } else if r.order.isEmpty {
                // The top is gone: only its name in the parent's list goes.
                r.collecting = false
                r.next = -1
            }
            return false
        }
        if r.next >= 0 {
            let (p, n) = r.order[r.next]
            changed(p, subtree: r.next == 0, extraPerms: n.perms, ctx)
            erase(p, ctx)
            work.units &+= 1
            r.order.removeLast()
            r.next &-= 1
            return false
        }
        var parentNode = r.parentNode
        if removeChild(XSPath.basename(r.path), of: &parentNode) { store(r.parentPath, parentNode, ctx) }
        return true
    }

    /// One node of a creation (the checks were made before it started); true when done.
    func creationAction(_ c: XSCreation) -> Bool {
        let ctx = c.ctx
        if c.next < c.missing.count {
            let p = Array(c.path[0..<c.missing[c.next]])
            let name = XSPath.basename(p)
            work.units &+= p.count
            c.parentNode.children.append(name)
            c.parentNode.childBytes &+= name.count &+ 1
            store(c.parentPath, c.parentNode, ctx)
            var perms = c.parentNode.perms
            if !ctx.privileged && !perms.isEmpty { perms[0].domid = ctx.domid; perms[0].ignored = false }
            c.parentNode = XSNode(value: c.next == c.missing.count &- 1 ? c.value : [], perms: perms)
            c.parentPath = p
            c.next &+= 1
            return false
        }
        store(c.parentPath, c.parentNode, ctx)
        if c.fire { changed(c.path, subtree: true, extraPerms: nil, ctx) }
        return true
    }

    /// Starts committing `tx` (already taken from its connection); `ctx` outside it.
    func beginCommit(_ tx: XSTransaction, _ ctx: XSContext) {
        job = .commit(XSCommit(tx: tx, ctx: ctx))
    }

    /// One node (or watch firing) of a commit; true when it is done.
    func commitAction(_ c: XSCommit) throws(XenStoreError) -> Bool {
        switch c.phase {
        case .check:
            if let (parent, pt, i) = c.walk.popLast() {
                if i >= pt.kids.count { return false }
                c.walk.append((parent, pt, i &+ 1))
                let t = pt.kids[i]
                // The root's only child is "/" (or a special name): a path of its own.
                let key = parent.isEmpty ? pt.names[i] : XSPath.child(parent, pt.names[i])
                work.units &+= 1 &+ key.count
                c.walk.append((key, t, 0))
                guard let e = t.value else { return false }
                // Conflicts: anything this transaction looked at has changed since.
                let old = nodes[key]
                if old?.generation != e.baseGeneration { throw .eagain }
                guard e.modified else { return false }
                adjust(&c.delta, from: old?.owner, to: e.node?.owner)
                if let o = old { c.bytes[o.owner] = (c.bytes[o.owner] ?? 0) &- XSCost.node(key, o) }
                if let n = e.node { c.bytes[n.owner] = (c.bytes[n.owner] ?? 0) &+ XSCost.node(key, n) }
                c.modified.append((key, e))
                return false
            }
            // Quota, against the committed counts and charges of now (the transaction's
            // own charge is already given back: it is no longer open).
            if !c.ctx.privileged {
                var d = 0
                while d < c.delta.count {
                    let dom = c.delta.keys[d], add = c.delta.values[d]
                    if add > 0 && !policy.isXenStorePrivileged(dom) && (nodeCounts[dom] ?? 0) + add > limits.nodesPerDomain {
                        throw .enospc
                    }
                    d += 1
                }
                d = 0
                while d < c.bytes.count {
                    try checkMemory(c.bytes.keys[d], adding: c.bytes.values[d])
                    d += 1
                }
                work.units &+= c.delta.count &+ c.bytes.count
            }
            c.phase = .apply
            c.next = 0
            return false
        case .apply:
            if c.next < c.modified.count {
                let (key, e) = c.modified[c.next]
                c.modified[c.next] = ([], e)        // its path is no longer needed
                c.next &+= 1
                work.units &+= 1
                if let n = e.node {
                    putCommitted(key, n)
                } else if let old = nodes.removeValue(forKey: key) {
                    accountCommitted(key, old: old, new: nil)
                }
                return false
            }
            c.modified = []
            c.phase = .events
            c.next = 0
            return false
        case .events:
            if c.next < c.tx.events.count {
                let ev = c.tx.events[c.next]
                c.next &+= 1
                work.units &+= 1
                fire(ev.path, subtree: ev.subtree, extraPerms: c.tx.accessed[ev.path]?.originalPerms)
                return false
            }
            dispose(c.tx)
            return true
        }
    }
}
