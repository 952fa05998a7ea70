/// Request dispatch (xenstored's process_message and the do_* handlers) and the ring service.
extension XenStore {

    static let ok: [UInt8] = [0x4F, 0x4B, 0x00]            // "OK\0"

    /// Handles one complete message (header + payload) from `domid` and returns the reply
    /// message(s) for that domain's response ring: always exactly one (the reply or an
    /// XS_ERROR with the request's req_id and tx_id). Watch events produced on the way are
    /// queued per domain (`pendingWatchEvents(for:)`, `domainsWithPendingEvents()`).
    public func handle(_ message: [UInt8], from domid: UInt16) -> [[UInt8]] {
        finishBacklog()
        if let r = begin(message, from: domid, conn: nil) { return [r] }
        handledReply = nil
        finishBacklog()
        let r = handledReply ?? XenStore.errorReply(requestID: 0, transactionID: 0, .eio)
        handledReply = nil
        return [r]
    }

    /// Handles one message (the backlog must be empty): its reply if the request is done,
    /// else nil, and the reply goes to `conn` (nil: `handledReply`) once the backlog the
    /// request left (a removal, a commit, watch firings) is done.
    func begin(_ message: [UInt8], from domid: UInt16, conn replyTo: XSConnection?) -> [UInt8]? {
        guard let h = XenStoreHeader(message) else {
            return XenStore.errorReply(requestID: 0, transactionID: 0, .einval)
        }
        guard h.length <= UInt32(XenStoreWire.payloadMax),
              Int(h.length) == message.count - XenStoreWire.headerSize else {
            return XenStore.errorReply(requestID: h.requestID, transactionID: h.transactionID, .einval)
        }
        guard let conn = connections[domid] else {
            return XenStore.errorReply(requestID: h.requestID, transactionID: h.transactionID, .eacces)
        }
        let payload = message[XenStoreWire.headerSize...]
        var reply: [UInt8]
        do throws(XenStoreError) {
            let r = try execute(h, payload, conn)
            if r.count <= XenStoreWire.payloadMax {
                reply = XenStoreWire.message(type: h.type, requestID: h.requestID, transactionID: h.transactionID, payload: r)
            } else {
                reply = XenStore.errorReply(requestID: h.requestID, transactionID: h.transactionID, .e2big)
            }
        } catch {
            reply = XenStore.errorReply(requestID: h.requestID, transactionID: h.transactionID, error)
        }
        if !hasBacklog { return reply }
        pending = XSPendingReply(conn: replyTo, type: h.type, requestID: h.requestID,
                                 transactionID: h.transactionID, reply: job == nil ? reply : nil)
        return nil
    }

    static func errorReply(requestID: UInt32, transactionID: UInt32, _ e: XenStoreError) -> [UInt8] {
        var p = e.wireName
        p.append(0)
        return XenStoreWire.message(type: XenStoreMessageType.error.rawValue, requestID: requestID,
                                    transactionID: transactionID, payload: p)
    }

    static func requiresPrivilege(_ t: XenStoreMessageType) -> Bool {
        switch t {
        case .control, .introduce, .release, .isDomainIntroduced, .resume, .setTarget,
             .setFeature, .getQuota, .setQuota:
            return true
        default:
            return false
        }
    }

    /// The reply payload of a successful request.
    func execute(_ h: XenStoreHeader, _ payload: ArraySlice<UInt8>, _ conn: XSConnection) throws(XenStoreError) -> [UInt8] {
        guard let type = XenStoreMessageType(rawValue: h.type) else { throw .einval }
        if type == .watchEvent || type == .error { throw .einval }
        let privileged = policy.isXenStorePrivileged(conn.domid)
        if XenStore.requiresPrivilege(type) && !privileged { throw .eacces }
        var tx: XSTransaction? = nil
        if type != .watch && type != .unwatch && h.transactionID != 0 {
            guard let t = conn.transactions[h.transactionID] else { throw .enoent }
            tx = t
        }
        let ctx = XSContext(domid: conn.domid, privileged: privileged, tx: tx)

        switch type {
        case .read:
            guard let arg = xsOneArg(payload) else { throw .einval }
            let path = try canonical(arg, ctx, special: false).path
            return try checkedNode(path, .read, ctx).value

        case .directory:
            guard let arg = xsOneArg(payload) else { throw .einval }
            let path = try canonical(arg, ctx, special: false).path
            return XenStore.childList(try checkedNode(path, .read, ctx))

        case .directoryPart:
            guard xsCountNULs(payload) == 2 else { throw .einval }
            let s = xsStrings(payload)
            let path = try canonical(s[0], ctx, special: false).path
            let node = try checkedNode(path, .read, ctx)
            return XenStore.directoryPart(node, offset: xsParseOffset(s[1]))

        case .getPermissions:
            guard let arg = xsOneArg(payload) else { throw .einval }
            let path = try canonical(arg, ctx, special: true).path
            var out = [UInt8]()
            for p in try checkedNode(path, .read, ctx).perms {
                out.append(contentsOf: p.wireString)
                out.append(0)
            }
            return out

        case .write:
            guard let nul = payload.firstIndex(of: 0) else { throw .einval }
            try opWrite(payload[payload.startIndex..<nul], payload[(nul + 1)...], ctx)
            return XenStore.ok

        case .mkdir:
            guard let arg = xsOneArg(payload) else { throw .einval }
            try opMkdir(arg, ctx)
            return XenStore.ok

        case .rm:
            guard let arg = xsOneArg(payload) else { throw .einval }
            try opRemove(arg, ctx)
            return XenStore.ok

        case .setPermissions:
            let n = xsCountNULs(payload)
            guard n >= 2 else { throw .einval }
            let s = xsStrings(payload)
            if !privileged && n - 1 > limits.permissionsPerNode { throw .enospc }
            var perms = [XenStorePermission]()
            var i = 1
            while i < s.count {
                guard let p = XenStorePermission.parse(s[i]) else { throw .einval }
                perms.append(p)
                i += 1
            }
            try opSetPermissions(s[0], perms, ctx)
            return XenStore.ok

        case .watch:
            let s = xsStrings(payload)
            guard s.count == 2 || s.count == 3 else { throw .einval }
            let (path, relative) = try canonical(s[0], ctx, special: true)
            let token = Array(s[1])
            for w in conn.watches where w.path == path && w.token == token { throw .eexist }
            if !privileged && conn.watches.count >= limits.watchesPerDomain { throw .enospc }
            let cost = XSCost.watch(path: path, token: token.count)
            if !privileged { try checkMemory(conn.domid, adding: cost) }
            conn.watchBytes += cost
            let w = XSWatch(path: path, token: token,
                            relativePrefix: relative ? XSPath.home(conn.domid).count + 1 : 0)
            addWatch(conn, w)
            // Fired once straight away (queued behind this reply).
            enqueueEvent(conn, path: watchEventPath(path, w), token: token)
            return XenStore.ok

        case .unwatch:
            let s = xsStrings(payload)
            guard s.count == 2 else { throw .einval }
            let path = try canonical(s[0], ctx, special: true).path
            let token = Array(s[1])
            guard let i = conn.watches.firstIndex(where: { $0.path == path && $0.token == token }) else { throw .enoent }
            removeWatch(conn, at: i)
            return XenStore.ok

        case .resetWatches:
            forgetConnectionState(conn)
            return XenStore.ok

        case .transactionStart:
            if tx != nil { throw .ebusy }
            if !privileged && conn.transactions.count >= limits.transactionsPerDomain { throw .enospc }
            var id = conn.nextTransactionID
            while id == 0 || conn.transactions.contains(id) { id &+= 1 }
            conn.nextTransactionID = id &+ 1
            if !privileged { try checkMemory(conn.domid, adding: XSCost.transactionFixed) }
            conn.transactions[id] = XSTransaction(id: id, work: work)
            var out = xsDecimal(id)
            out.append(0)
            return out

        case .transactionEnd:
            guard let arg = xsOneArg(payload), arg.count == 1,
                  arg[arg.startIndex] == 0x54 || arg[arg.startIndex] == 0x46 else { throw .einval }
            guard let t = tx else { throw .enoent }
            conn.transactions.removeValue(forKey: t.id)
            if arg[arg.startIndex] == 0x54 {             // "T": commit, in steps
                beginCommit(t, XSContext(domid: conn.domid, privileged: privileged, tx: nil))
            } else {
                dispose(t)
            }
            return XenStore.ok

        case .getDomainPath:
            guard let arg = xsOneArg(payload), let d = xsParseDomid(arg) else { throw .einval }
            var out = XSPath.home(d)
            out.append(0)
            return out

        case .isDomainIntroduced:
            guard let arg = xsOneArg(payload), let d = xsParseDomid(arg) else { throw .einval }
            let yes = d == XenStoreWire.domidSelf || isIntroduced(d)
            return [yes ? 0x54 : 0x46, 0]

        case .release:
            guard let arg = xsOneArg(payload), let d = xsParseDomid(arg) else { throw .einval }
            if d == XenStore.privilegedDomid { throw .einval }
            guard release(domid: d) else { throw .enoent }
            return XenStore.ok

        case .control, .introduce, .resume, .setTarget, .getFeature, .setFeature, .getQuota, .setQuota:
            // Domains are introduced by the hypervisor itself, not over the wire.
            throw .enosys

        case .watchEvent, .error:
            throw .einval
        }
    }

    /// DIRECTORY payload: each child name followed by NUL.
    static func childList(_ node: XSNode) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(node.childBytes)
        for c in node.children {
            out.append(contentsOf: c)
            out.append(0)
        }
        return out
    }

    /// DIRECTORY_PART payload, as xenstored's send_directory_part builds it: the node's
    /// generation and NUL, then as many whole child names from byte `offset` of the child
    /// list as fit in a payload, then an extra NUL if the list ends there.
    static func directoryPart(_ node: XSNode, offset: Int) -> [UInt8] {
        var out = xsDecimal(node.generation)
        out.append(0)
        let list = childList(node)
        if offset >= list.count {
            out.append(0)
            return out
        }
        let maxLen = XenStoreWire.payloadMax - out.count - 1
        var len = 0
        var pos = offset
        while pos < list.count {
            var end = pos
            while end < list.count && list[end] != 0 { end += 1 }
            let nameLen = end - pos
            if len + nameLen >= maxLen { break }
            len += nameLen + 1
            pos = end + 1
        }
        let stop = offset + len <= list.count ? offset + len : list.count
        out.append(contentsOf: list[offset..<stop])
        if stop == list.count { out.append(0) }
        return out
    }

    // MARK: Ring service

    /// Serves `domid`'s xenstore page: writes queued output, then reads and answers requests
    /// (stopping while replies pile up unread), then writes replies and watch events.
    /// Call it when the domain signals its xenstore event channel and when
    /// `domainsWithPendingEvents()` lists it; raise the channel if `notify` is set.
    public func service<P: XenStoreRingPage>(domid: UInt16, page: inout P) -> XenStoreServiceResult {
        guard let conn = connections[domid] else { return XenStoreServiceResult(notify: false, broken: true, moreWork: false) }
        if conn.ring.isBroken { return XenStoreServiceResult(notify: false, broken: true, moreWork: false) }
        let consumedBefore = conn.ring.consumedBytes
        let producedBefore = conn.ring.producedBytes
        var handled = 0
        var moreWork = false
        let workBefore = work.units
        moveEvents(conn)
        work.units &+= conn.ring.flush(&page)
        var backlogActions = 0
        while !conn.ring.isBroken {
            if hasBacklog {
                // A request in steps (this domain's or another's), its watch firings, or
                // clean-up: no new request until it is done. At least one action per call,
                // so that every call makes progress.
                if backlogActions > 0 && work.units &- workBefore >= limits.workPerService { break }
                backlogAction()
                backlogActions &+= 1
                moveEvents(conn)
                work.units &+= conn.ring.flush(&page)
                continue
            }
            // Backpressure: while the response ring is full, take no new requests.
            if conn.ring.pendingOutputBytes > 0 { break }
            // Budget: a bounded number of requests and of work per call; the caller
            // continues (now or at a later trap) while `moreWork` says so.
            if handled >= limits.requestsPerService || work.units &- workBefore >= limits.workPerService {
                moreWork = conn.ring.hasPendingInput(page)
                break
            }
            let msgs = conn.ring.consumeRequests(&page, maxMessages: 1)
            guard let m = msgs.first else { break }
            handled += 1
            work.units &+= m.count
            if let r = begin(m, from: domid, conn: conn) {
                work.units &+= r.count
                conn.ring.enqueue(r)
            }
            moveEvents(conn)
            work.units &+= conn.ring.flush(&page)
        }
        if conn.ring.isBroken {
            // As xenstored's ignore_connection: forget watches, transactions and queues
            // (the watches and the transactions' copies go in backlog steps).
            forgetConnectionState(conn)
            conn.events = []
            pendingDomains.removeValue(forKey: domid)
        }
        // Work left in the backlog: whoever is served next continues it.
        if hasBacklog && !conn.ring.isBroken { moreWork = true }
        let notify = conn.ring.consumedBytes != consumedBefore || conn.ring.producedBytes != producedBefore
        return XenStoreServiceResult(notify: notify, broken: conn.ring.isBroken, moreWork: moreWork)
    }

    /// Moves queued watch events into the ring's output queue.
    func moveEvents(_ conn: XSConnection) {
        pendingDomains.removeValue(forKey: conn.domid)
        if conn.events.isEmpty { return }
        conn.ring.enqueue(conn.events)
        conn.events = []
    }

    /// Whether `domid`'s connection was given up because of a ring protocol violation.
    public func isBroken(_ domid: UInt16) -> Bool {
        connections[domid]?.ring.isBroken ?? false
    }
}
