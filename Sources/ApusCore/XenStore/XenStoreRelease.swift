/// A domain's release in bounded steps (Xen's preemptible domain_kill: the caller does one
/// step per hold of its lock and lets other work in between).
///
/// `XenStore.beginRelease` disconnects the domain at once (no request of it is taken any
/// more, its transactions and queued events are gone, its watches match nothing); the
/// watches leave the index and the tree work follows in `releaseStep`s, each stopped once it has done its budget of work units (plus at most
/// one node's removal or visit, see `XenStore.releaseActionBound`):
/// 1. its home and /vm entry are removed, a node at a time, children first (the order and
///    the watch events of one `removeTree`);
/// 2. the nodes it still owns elsewhere are searched (the walk stops once as many were
///    found as it owns) and removed the same way;
/// 3. every other node is walked once to disable permission entries naming it
///    (`forgetDomain`), then @releaseDomain fires.
///
/// Between steps the tree stays consistent: a node's child list names only nodes that
/// exist (a removed node leaves its parent's list as it goes). Other domains' requests may
/// come between steps; they cannot make new nodes owned by, or granting to, the released
/// domain (it is unknown from `beginRelease` on: SET_PERMS refuses it as owner and
/// disables entries naming it). The caller must not introduce the domid again before the
/// release has finished.
public final class XenStoreRelease {
    public let domid: UInt16
    enum Phase { case dropWatches, removeHome, removeVM, findOwned, removeOwned, forget, fire, finished }
    var phase = Phase.dropWatches
    let vmPath: [UInt8]?
    /// The connection, gone from `connections` already: its watches leave the index a few
    /// at a time (with no connection they match nothing meanwhile).
    var connection: XSConnection?
    /// The subtree being removed now (its root), if any.
    var removing: [UInt8]? = nil
    /// Owned nodes found (pre-order), and the next one to remove.
    var owned: [[UInt8]] = []
    var nextOwned = 0
    var ownedLeft = 0
    /// The walk's stack (paths only where they are needed: the owned-node search).
    var walk: [([UInt8], XSTrieNode<XSNode>)] = []
    var forgetWalk: [XSTrieNode<XSNode>] = []
    var moved = 0

    init(domid: UInt16, connection: XSConnection) {
        self.domid = domid
        self.vmPath = connection.vmPath
        self.connection = connection
    }

    public var isFinished: Bool { phase == .finished }
}

extension XenStore {
    /// Starts releasing `domid`: disconnects it now (as `release` does first); the tree
    /// work is left to `releaseStep`. Nil (nothing done) for domain 0 or a domain not
    /// introduced.
    public func beginRelease(domid: UInt16) -> XenStoreRelease? {
        guard domid != XenStore.privilegedDomid, let conn = connections.removeValue(forKey: domid) else { return nil }
        pendingDomains.removeValue(forKey: domid)
        // Its transactions (their copies freed in backlog steps) and queued events go.
        for t in conn.transactions.values { dispose(t) }
        conn.transactions = XSMap<UInt32, XSTransaction>()
        conn.events = []
        return XenStoreRelease(domid: domid, connection: conn)
    }

    /// Work one node's removal or visit may add past a step's budget: a walk down a path
    /// of at most `maxPathBytes` bytes, the parent's child list moved, the watches on the
    /// path and its ancestors matched. A bound for the tests, not a promise for paths the
    /// hypervisor itself made longer.
    public func releaseActionBound(maxPathBytes: Int, watches: Int) -> Int {
        // Lookups of the node, its parent and its children (name compares), building the
        // child's path, the parent's child bytes, events queued.
        8 &* maxPathBytes &+ limits.nodeSize &* 2 &+ watches &* (XenStoreWire.headerSize &+ maxPathBytes &+ 64) &+ 64
    }

    /// Does work units of `r` until `budget` is used up (the last action may go past it by
    /// `releaseActionBound`); true once the release has finished (@releaseDomain fired).
    /// The store's backlog (a request in steps, watch firings) goes first: a release is
    /// not done in the middle of a request, and its own watch firings are delivered by
    /// its steps.
    @discardableResult
    public func releaseStep(_ r: XenStoreRelease, budget: Int) -> Bool {
        let start = work.units
        // At least one action per step, whatever the budget: every step makes progress.
        repeat {
            if !backlogAction() {
                if r.isFinished { return true }
                _ = releaseAction(r)
            }
        } while work.units &- start < budget
        return r.isFinished && !hasBacklog
    }

    /// One bounded action of the release; true when it has finished.
    private func releaseAction(_ r: XenStoreRelease) -> Bool {
        let ctx = privilegedContext
        switch r.phase {
        case .dropWatches:
            // Watch by watch, as `dropWatches`, which a one-shot release did first.
            if let conn = r.connection, !conn.watches.isEmpty {
                work.units &+= 1
                removeWatch(conn, at: conn.watches.count &- 1)
                return false
            }
            r.connection?.watchBytes = 0
            r.connection = nil
            r.phase = .removeHome
            let home = XSPath.home(r.domid)
            if nodes[home] != nil { r.removing = home }
            return false
        case .removeHome, .removeVM, .removeOwned:
            if let root = r.removing {
                if removeOneNode(root, ctx) { r.removing = nil }
                return false
            }
            switch r.phase {
            case .removeHome:
                r.phase = .removeVM
                if let vm = r.vmPath, nodes[vm] != nil { r.removing = vm }
            case .removeVM:
                r.ownedLeft = nodeCounts[r.domid] ?? 0
                r.phase = r.ownedLeft > 0 ? .findOwned : .forget
                if r.ownedLeft > 0 {
                    var i = nodes.root.kids.count &- 1
                    while i >= 0 { r.walk.append((nodes.root.names[i], nodes.root.kids[i])); i &-= 1 }
                } else {
                    r.forgetWalk = [nodes.root]
                }
            default:
                // Parents come first: removing one removes the owned nodes below it too.
                while r.nextOwned < r.owned.count {
                    let p = r.owned[r.nextOwned]
                    r.nextOwned &+= 1
                    work.units &+= 1
                    if nodes[p] != nil { r.removing = p; return false }
                }
                r.owned = []
                r.phase = .forget
                r.forgetWalk = [nodes.root]
            }
            return false
        case .findOwned:
            // The same pre-order as `XSNodeTree.forEach`, stopped once every owned node was seen.
            guard r.ownedLeft > 0, let (p, n) = r.walk.popLast() else {
                r.walk = []
                r.phase = .removeOwned
                return false
            }
            work.units &+= 1
            if let v = n.value, v.owner == r.domid { r.owned.append(p); r.ownedLeft &-= 1 }
            var j = n.kids.count &- 1
            while j >= 0 {
                let cp = XSPath.child(p, n.names[j])
                work.units &+= cp.count
                r.walk.append((cp, n.kids[j]))
                j &-= 1
            }
            return false
        case .forget:
            guard let n = r.forgetWalk.popLast() else {
                forgetDomainAccounting(r.domid, moved: r.moved)
                r.phase = .fire
                return false
            }
            work.units &+= 1 &+ n.kids.count
            if var v = n.value {
                work.units &+= v.perms.count
                n.value = nil          // keep the value's storage unique while it changes
                if forget(r.domid, in: &v) { r.moved &+= 1 }
                n.value = v
            }
            r.forgetWalk.append(contentsOf: n.kids)
            return false
        case .fire:
            fire(XenStore.releaseDomainPath, subtree: false, extraPerms: nil)
            r.phase = .finished
            return true
        case .finished:
            return true
        }
    }

    /// Removes one node of the subtree at `root`: its first leaf in post-order (first child
    /// first: the order of `removeTree`'s events), which leaves its parent's child list,
    /// or `root` itself once it is a leaf, as `removeTree` ends. True when `root` is gone.
    private func removeOneNode(_ root: [UInt8], _ ctx: XSContext) -> Bool {
        guard var n = nodes[root] else { return true }
        var p = root
        while let first = n.children.first {
            let cp = XSPath.child(p, first)
            work.units &+= cp.count
            guard let c = nodes[cp] else {
                // A child list naming a missing node (not expected): the name goes.
                n.children.removeFirst()
                n.childBytes &-= first.count &+ 1
                putCommitted(p, n)
                return false
            }
            p = cp
            n = c
        }
        if p == root {
            // removeTree of a leaf: nothing happens without the parent.
            let parentPath = XSPath.parent(root)
            guard var parentNode = nodes[parentPath] else { return true }
            changed(root, subtree: true, extraPerms: n.perms, ctx)
            erase(root, ctx)
            if removeChild(XSPath.basename(root), of: &parentNode) { store(parentPath, parentNode, ctx) }
            return true
        }
        changed(p, subtree: false, extraPerms: n.perms, ctx)
        erase(p, ctx)
        // Its parent is below `root` (or `root`), and `p` was its first child.
        let parentPath = XSPath.parent(p)
        if var parentNode = nodes[parentPath], let name = parentNode.children.first {
            work.units &+= parentNode.childBytes
            parentNode.children.removeFirst()
            parentNode.childBytes &-= name.count &+ 1
            putCommitted(parentPath, parentNode)
        }
        return false
    }
}
