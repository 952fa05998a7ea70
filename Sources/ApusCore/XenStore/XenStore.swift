/// The XenStore service: the tree every domain's xenbus talks to, with xenstored's
/// permission, watch, transaction and quota semantics (tools/xenstored). It has no dom0
/// to serve: domain 0 is the hypervisor itself and is privileged.
///
/// Single-threaded: the caller serialises all calls (one lock around the instance).
///
/// Entry points:
/// - `introduce(domid:name:setup:)` / `release(domid:)` when a domain is built / destroyed;
/// - `service(domid:page:)` when the domain signals its xenstore event channel (reads the
///   request ring, answers, writes replies and queued watch events);
/// - `domainsWithPendingEvents()` after any call: those domains got watch events and need a
///   `service` (and an event-channel kick if it returns `notify`);
/// - `handle(_:from:)` / `pendingWatchEvents(for:)` for message-level use without a ring;
/// - `read`/`write`/`mkdir`/`remove`/`setPermissions`/... for the hypervisor's own use.

/// Per-domain limits (xenstored's default quotas). Domain 0 (privileged) is exempt.
public struct XenStoreLimits: Sendable {
    /// Nodes a domain may own ("nodes", 1000).
    public var nodesPerDomain = 1000
    /// Value plus child-name bytes of one node written by a domain ("node-size", 2048).
    public var nodeSize = 2048
    /// Watches per domain ("watches", 128).
    public var watchesPerDomain = 128
    /// Open transactions per domain ("transactions", 10).
    public var transactionsPerDomain = 10
    /// Nodes one transaction may touch ("transaction-nodes", 1024).
    public var nodesPerTransaction = 1024
    /// Entries in a SET_PERMS list ("node-permissions", 5).
    public var permissionsPerNode = 5
    /// Heap bytes a domain may make the store hold (xenstored's "memory", a 2.5 MiB hard
    /// quota of payload bytes): the nodes it owns, its watches, and everything its open
    /// transactions keep (see XSCost: Apus charges heap blocks with their headers and
    /// rounding, so the figure is larger than xenstored's for the same use). 6 MiB lets a
    /// domain have 1000 nodes of 2048-byte values (about 4.9 MiB charged), 128 watches and
    /// 10 transactions at once, as xenstored's defaults allow.
    public var memoryPerDomain = 6 * 1024 * 1024
    /// Watch events plus unsent replies queued for one domain; further events are dropped.
    public var pendingOutputBytes = 65536
    /// Requests handled per `service` call before it returns with `moreWork`.
    public var requestsPerService = 64
    /// Work units (bytes compared, copied or moved; see `XenStore.workUnits`) after which
    /// a `service` call takes no further request and returns with `moreWork`. One request
    /// costs at most `XenStore.maxWorkPerRequest(for:)` on top.
    public var workPerService = 16384
    /// Path components (slashes) of a path an unprivileged domain may name. xenstored has
    /// no such limit (only 2048 bytes, ~1000 levels); Linux and Xen's toolstack stay below
    /// 12. Bounds the nodes one request creates and the ancestors it looks at.
    public var maxDepth = 32

    public init() {}
}

/// Extra facts written into a new domain's home (as Xen's init-dom0less does).
public struct XenStoreDomainSetup: Sendable {
    /// vCPUs: cpu/<n>/availability = "online" for n < vcpus (at most 512).
    public var vcpus: Int
    /// Guest RAM in KiB: memory/static-max and memory/target (Linux's balloon driver
    /// aims at memory/target, so give the real size or nothing).
    public var memoryKiB: UInt64?
    /// The domain's UUID text; default "00000000-0000-0000-0000-<domid in 12 hex digits>".
    public var uuid: [UInt8]?
    /// store/port and store/ring-ref (informational: Linux uses the HVM params).
    public var storeEventChannel: UInt32?
    public var storeRingGFN: UInt64?

    public init(vcpus: Int = 0, memoryKiB: UInt64? = nil, uuid: [UInt8]? = nil,
                storeEventChannel: UInt32? = nil, storeRingGFN: UInt64? = nil) {
        self.vcpus = vcpus; self.memoryKiB = memoryKiB; self.uuid = uuid
        self.storeEventChannel = storeEventChannel; self.storeRingGFN = storeRingGFN
    }
}

/// What `service` did.
public struct XenStoreServiceResult: Equatable, Sendable {
    /// Indices moved: raise the domain's xenstore event channel.
    public var notify: Bool
    /// The connection is (now) broken: the guest violated the ring protocol; it is ignored
    /// until `release`.
    public var broken: Bool
    /// Requests are left in the ring (per-call budget used up): call `service` again.
    public var moreWork: Bool

    public init(notify: Bool, broken: Bool, moreWork: Bool) {
        self.notify = notify; self.broken = broken; self.moreWork = moreWork
    }
}

struct XSNode {
    var value: [UInt8]
    var children: [[UInt8]] = []
    var childBytes = 0
    var perms: [XenStorePermission]
    var generation: UInt64 = 0

    var owner: UInt16 { perms.first?.domid ?? 0 }
}

struct XSWatch {
    var path: [UInt8]
    var token: [UInt8]
    /// Bytes stripped from event paths of a watch set with a relative path ("home/").
    var relativePrefix: Int
    /// Registration order across the store (events go out in domid, then this, order).
    var sequence: UInt64 = 0
    /// The watching domain (set when registered).
    var domid: UInt16 = 0
}

struct XSTxEntry {
    /// Generation of the committed node when first touched; nil if it did not exist.
    var baseGeneration: UInt64?
    /// The transaction's view of the node (nil: absent/deleted).
    var node: XSNode?
    var modified: Bool
    var originalPerms: [XenStorePermission]?
    /// Index of this path's queued watch firing in the transaction's `events`, or -1.
    var event = -1
}

struct XSTxEvent {
    var path: [UInt8]
    var subtree: Bool
}

final class XSTransaction {
    let id: UInt32
    var accessed: XSNodeTree<XSTxEntry>
    var events: [XSTxEvent] = []
    var ownerDelta = XSMap<UInt16, Int>()
    /// Heap bytes charged to the owning domain: the transaction itself, its entries (with
    /// their private node copies) and queued watch firings (XSCost).
    var bytes = XSCost.transactionFixed

    init(id: UInt32, work: XSWork) {
        self.id = id
        accessed = XSNodeTree<XSTxEntry>(work: work)
    }
}

final class XSConnection {
    let domid: UInt16
    var watches: [XSWatch] = []
    var watchBytes = 0
    var transactions = XSMap<UInt32, XSTransaction>()
    var nextTransactionID: UInt32 = 1
    /// Queued WATCH_EVENT messages, back to back (one array: no per-event allocation).
    var events: [UInt8] = []
    var droppedEvents = 0
    var ring = XenStoreRing()
    var vmPath: [UInt8]?

    init(domid: UInt16) { self.domid = domid }
}

struct XSContext {
    let domid: UInt16
    /// The policy's answer for `domid` (XenPolicy.isXenStorePrivileged), asked once per
    /// request as xenstored keeps it with the connection.
    let privileged: Bool
    let tx: XSTransaction?
}

public final class XenStore {
    public static let privilegedDomid: UInt16 = 0
    public static let introduceDomainPath: [UInt8] = xsBytes("@introduceDomain")
    public static let releaseDomainPath: [UInt8] = xsBytes("@releaseDomain")

    public let limits: XenStoreLimits
    /// Which connections are privileged (XenPolicy.isXenStorePrivileged). The store's own:
    /// its domain 0, the hypervisor, is the service endpoint.
    public let policy: XenPolicy
    /// Work units done so far (bytes compared in lookups, copied into the tree, moved in
    /// child arrays, of requests read and replies written, watches matched): what a call
    /// costs, whatever the tree looks like.
    let work = XSWork()
    var nodes: XSNodeTree<XSNode>
    /// Every connection's watches by watched path, so that a change is matched against the
    /// watches on its own path and its ancestors only, not against all of them.
    var watchIndex: XSNodeTree<[XSWatch]>
    /// Last watch registration number.
    var watchSequence: UInt64 = 0
    var nodeCounts = XSMap<UInt16, Int>()
    var nodeBytes = XSMap<UInt16, Int>()
    var connections = XSMap<UInt16, XSConnection>()
    var pendingDomains = XSMap<UInt16, Bool>()

    var generation: UInt64 = 0

    /// Work a request left to be done in bounded actions (XenStoreSteps.swift): while any
    /// of it is left, no other request is taken, so a request done in steps is still atomic
    /// as every domain sees it (xenstored serves one request at a time too).
    /// The watch firings not yet delivered, oldest first (from `fanOutHead`).
    var fanOuts: [XSFanOut] = []
    var fanOutHead = 0
    /// Clean-up with nothing to answer: transactions' trees to free, watches to drop.
    var chores: [XSChore] = []
    /// A removal or commit in progress.
    var job: XSJob?
    /// The request whose reply waits for the backlog to be done.
    var pending: XSPendingReply?
    /// The reply `handle` is waiting for (when the backlog it finished was its own request's).
    var handledReply: [UInt8]?
    /// How the last job with nobody to answer ended (`finishBacklog` returns it).
    var lastJobError: XenStoreError?

    public init(limits: XenStoreLimits = XenStoreLimits()) {
        self.limits = limits
        let p = XenPolicy(maxDomains: Int(XenStore.privilegedDomid) + 1)
        p.setRole(.service, for: XenStore.privilegedDomid)
        policy = p
        nodes = XSNodeTree<XSNode>(work: work)
        watchIndex = XSNodeTree<[XSWatch]>(work: work)
        let n0 = [XenStorePermission(domid: 0, access: .none)]
        putCommitted(XSPath.root, XSNode(value: [], perms: n0))
        putCommitted(XenStore.introduceDomainPath, XSNode(value: [], perms: n0))
        putCommitted(XenStore.releaseDomainPath, XSNode(value: [], perms: n0))
        connections[XenStore.privilegedDomid] = XSConnection(domid: XenStore.privilegedDomid)
        // The hypervisor is "domain 0": give it the home Xen's dom0 has.
        let home0 = XSPath.home(0)
        try? write(XSPath.child(home0, xsBytes("name")), xsBytes("Domain-0"))
        try? write(XSPath.child(home0, xsBytes("domid")), xsBytes("0"))
    }

    var privilegedContext: XSContext { XSContext(domid: XenStore.privilegedDomid, privileged: true, tx: nil) }

    // MARK: Domains

    /// Domains with a connection (introduced), including 0.
    public func isIntroduced(_ domid: UInt16) -> Bool { connections.contains(domid) }

    /// Connects a domain and builds its home /local/domain/<domid> (owned by the domain,
    /// readable by 0, as init-dom0less writes it), /vm/<uuid>, then fires @introduceDomain,
    /// all at once (`beginIntroduce` + `introduceStep` do it in bounded steps).
    /// False if the domid is 0, reserved or already introduced.
    @discardableResult
    public func introduce(domid: UInt16, name: [UInt8], setup: XenStoreDomainSetup = XenStoreDomainSetup()) -> Bool {
        guard let intro = beginIntroduce(domid: domid, name: name, setup: setup) else { return false }
        while !introduceStep(intro, budget: .max) {}
        return true
    }

    /// Disconnects a domain: drops its watches, transactions, queued events and ring state,
    /// removes /local/domain/<domid> and its /vm entry, removes every other node it still
    /// owns (with what lies below it), disables permission entries naming it, then fires
    /// @releaseDomain.
    ///
    /// Xen's xenstored gives a released domain's remaining nodes to dom0, whose toolstack
    /// cleans up after it. Apus has no toolstack, and domain 0 (the hypervisor) has no quota:
    /// nodes handed to it would let two cooperating domains grow the store without bound
    /// (one grants the other write access, the other fills it and is rebooted, again and
    /// again). So they are removed, as the toolstack would, and their watches fire.
    ///
    /// One call does it all; the hypervisor does the same in bounded steps
    /// (`beginRelease`, `releaseStep`: XenStoreRelease.swift) between which other work runs.
    @discardableResult
    public func release(domid: UInt16) -> Bool {
        guard let r = beginRelease(domid: domid) else { return false }
        while !releaseStep(r, budget: Int.max) {}
        return true
    }

    /// Permission entries naming `domid` after its release are ignored from now on (and a
    /// node it still owns, which `release` leaves only if it could not remove it, goes to
    /// domain 0). Touched nodes get a new generation so open transactions that saw them
    /// conflict. (A release does this a node at a time: `forget(_:in:)` per node, then
    /// `forgetDomainAccounting`.)
    func forgetDomain(_ domid: UInt16) {
        var moved = 0
        nodes.updateAll { n in if forget(domid, in: &n) { moved += 1 } }
        forgetDomainAccounting(domid, moved: moved)
    }

    /// `forgetDomain` for one node: true when the node was `domid`'s and went to domain 0.
    func forget(_ domid: UInt16, in n: inout XSNode) -> Bool {
        var changed = false
        var moved = false
        if let first = n.perms.first, first.domid == domid {
            n.perms[0].domid = XenStore.privilegedDomid
            moved = true
            changed = true
        }
        var j = 1
        while j < n.perms.count {
            if n.perms[j].domid == domid && !n.perms[j].ignored {
                n.perms[j].ignored = true
                changed = true
            }
            j += 1
        }
        if changed {
            generation &+= 1
            n.generation = generation
        }
        return moved
    }

    /// The end of `forgetDomain`: `moved` nodes of `domid` went to domain 0.
    func forgetDomainAccounting(_ domid: UInt16, moved: Int) {
        if moved > 0 {
            // Not expected (see release); keep the accounting right if it happens.
            nodeCounts[XenStore.privilegedDomid] = (nodeCounts[XenStore.privilegedDomid] ?? 0) + moved
            nodeBytes[XenStore.privilegedDomid] = (nodeBytes[XenStore.privilegedDomid] ?? 0) + (nodeBytes[domid] ?? 0)
        }
        nodeCounts.removeValue(forKey: domid)
        nodeBytes.removeValue(forKey: domid)
    }

    // MARK: Watches

    /// Registers a watch with its connection and the index.
    func addWatch(_ conn: XSConnection, _ w: XSWatch) {
        var w = w
        watchSequence &+= 1
        w.sequence = watchSequence
        w.domid = conn.domid
        conn.watches.append(w)
        // The list is changed in place in its tree node (taken out for the change, so that
        // its storage is not shared and copied with every watch in it).
        watchIndex.insert(w.path, watchIndex[w.path] ?? [])
        guard let t = watchIndex.find(w.path), var list = t.value else { return }
        t.value = nil
        // Kept in delivery order (domid, then registration): a firing merges the lists of
        // a path and its ancestors a watch at a time (XSFanOut) instead of sorting them.
        var lo = 0, hi = list.count
        while lo < hi {
            let mid = lo &+ (hi &- lo) / 2
            if list[mid].domid <= w.domid { lo = mid &+ 1 } else { hi = mid }
        }
        work.units &+= list.count &- lo
        list.insert(w, at: lo)
        t.value = list
    }

    /// Removes `conn.watches[i]` from the connection and the index.
    func removeWatch(_ conn: XSConnection, at i: Int) {
        let w = conn.watches.remove(at: i)
        conn.watchBytes &-= XSCost.watch(path: w.path, token: w.token.count)
        guard let t = watchIndex.find(w.path), var list = t.value else { return }
        t.value = nil                       // unshared while it changes, as in addWatch
        var k = 0
        while k < list.count && list[k].sequence != w.sequence { k &+= 1 }
        work.units &+= k &+ 1
        if k < list.count { list.remove(at: k) }
        t.value = list
        if list.isEmpty { watchIndex.removeValue(forKey: w.path) }
    }

    /// Forgets all of a connection's watches (at once; `forgetConnectionState` in steps).
    func dropWatches(_ conn: XSConnection) {
        while !conn.watches.isEmpty { removeWatch(conn, at: conn.watches.count &- 1) }
        conn.watchBytes = 0
    }

    /// Whether a domid may appear in a permission list as a live domain.
    func isKnownDomain(_ domid: UInt16) -> Bool {
        domid == XenStore.privilegedDomid || connections.contains(domid)
    }

    // MARK: Watch event queues

    /// Drains the WATCH_EVENT messages queued for `domid` (message-level use; `service`
    /// drains them into the ring itself).
    public func pendingWatchEvents(for domid: UInt16) -> [[UInt8]] {
        finishBacklog()
        guard let conn = connections[domid] else { return [] }
        let q = conn.events
        conn.events = []
        pendingDomains.removeValue(forKey: domid)
        var out: [[UInt8]] = []
        var i = 0
        while i &+ XenStoreWire.headerSize <= q.count {
            let len = Int(xsLE32(q, i &+ 12))
            let end = i &+ XenStoreWire.headerSize &+ len
            if end > q.count { break }
            out.append(Array(q[i..<end]))
            i = end
        }
        return out
    }

    /// Domains that got watch events since they were last serviced/drained, in domid order.
    /// The caller runs `service` for each (and kicks its event channel if told to).
    public func domainsWithPendingEvents() -> [UInt16] {
        pendingDomains.keys
    }

    /// Watch events dropped for `domid` because its queue was full.
    public func droppedWatchEvents(for domid: UInt16) -> Int {
        connections[domid]?.droppedEvents ?? 0
    }

    /// Number of nodes `domid` owns (quota accounting).
    public func nodeCount(ownedBy domid: UInt16) -> Int { nodeCounts[domid] ?? 0 }

    /// Bytes charged to `domid` against `limits.memoryPerDomain`.
    public func memoryUsed(by domid: UInt16) -> Int {
        var total = nodeBytes[domid] ?? 0
        if let conn = connections[domid] {
            total &+= conn.watchBytes
            for t in conn.transactions.values { total &+= t.bytes }
        }
        return total
    }

    /// Work units done by this store so far (see `XenStoreLimits.workPerService`).
    public var workUnits: Int { work.units }

    /// Heap bytes charged for one committed node (XSCost.node).
    static func cost(_ path: [UInt8], _ node: XSNode) -> Int { XSCost.node(path, node) }

    /// ENOSPC when charging `add` more bytes to unprivileged `domid` would pass its quota.
    func checkMemory(_ domid: UInt16, adding add: Int) throws(XenStoreError) {
        if policy.isXenStorePrivileged(domid) || add <= 0 { return }
        if memoryUsed(by: domid) &+ add > limits.memoryPerDomain { throw .enospc }
    }

    func enqueueEvent(_ conn: XSConnection, path: [UInt8], token: [UInt8]) {
        guard !conn.ring.isBroken else { return }
        let size = XenStoreWire.headerSize &+ path.count &+ token.count &+ 2
        work.units &+= size
        if conn.events.count &+ conn.ring.pendingOutputBytes &+ size > limits.pendingOutputBytes {
            conn.droppedEvents &+= 1
            return
        }
        // XenStoreWire.watchEvent, built in place in the queue.
        xsAppendLE32(&conn.events, XenStoreMessageType.watchEvent.rawValue)
        xsAppendLE32(&conn.events, 0)
        xsAppendLE32(&conn.events, 0)
        xsAppendLE32(&conn.events, UInt32(truncatingIfNeeded: path.count &+ token.count &+ 2))
        conn.events.append(contentsOf: path)
        conn.events.append(0)
        conn.events.append(contentsOf: token)
        conn.events.append(0)
        pendingDomains[conn.domid] = true
    }

    // MARK: Privileged API (the hypervisor acting as domain 0; paths absolute, canonical)

    /// READ as domain 0 (nil if invalid or absent). Relative paths are under /local/domain/0.
    public func read(_ path: [UInt8]) -> [UInt8]? {
        finishBacklog()
        guard let c = try? XSPath.canonicalize(path[...], domid: 0, privileged: true, allowSpecial: false) else { return nil }
        return nodes[c.path]?.value
    }

    public func directory(_ path: [UInt8]) -> [[UInt8]]? {
        finishBacklog()
        guard let c = try? XSPath.canonicalize(path[...], domid: 0, privileged: true, allowSpecial: false) else { return nil }
        return nodes[c.path]?.children
    }

    public func permissions(of path: [UInt8]) -> [XenStorePermission]? {
        finishBacklog()
        guard let c = try? XSPath.canonicalize(path[...], domid: 0, privileged: true, allowSpecial: true) else { return nil }
        return nodes[c.path]?.perms
    }

    /// WRITE as domain 0 (creates missing parents; fires watches). These calls do their
    /// whole work at once, with any backlog left by a ring's request before them.
    public func write(_ path: [UInt8], _ value: [UInt8]) throws(XenStoreError) {
        finishBacklog()
        defer { finishBacklog() }
        try opWrite(path[...], value[...], privilegedContext)
    }

    public func mkdir(_ path: [UInt8]) throws(XenStoreError) {
        finishBacklog()
        defer { finishBacklog() }
        try opMkdir(path[...], privilegedContext)
    }

    public func remove(_ path: [UInt8]) throws(XenStoreError) {
        finishBacklog()
        try opRemove(path[...], privilegedContext)
        if let e = finishBacklog() { throw e }
    }

    public func setPermissions(_ path: [UInt8], _ perms: [XenStorePermission]) throws(XenStoreError) {
        finishBacklog()
        defer { finishBacklog() }
        try opSetPermissions(path[...], perms, privilegedContext)
    }
}
