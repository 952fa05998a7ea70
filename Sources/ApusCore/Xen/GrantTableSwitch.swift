/// All domains' grant tables and the grant operations that cross domains
/// (map_grant_ref, unmap_common, gnttab_copy, setup_table, query_size of
/// xen/common/grant_table.c with Arm's create/replace_grant_host_mapping).
public struct GrantMapRequest: Equatable, Sendable {
    /// Guest physical address in the caller where the page appears (Arm: auto-translated).
    public var hostAddr: UInt64
    public var flags: UInt32
    public var ref: UInt32
    public var dom: XenDomainID
    public init(hostAddr: UInt64, flags: UInt32, ref: UInt32, dom: XenDomainID) {
        self.hostAddr = hostAddr; self.flags = flags; self.ref = ref; self.dom = dom
    }
}

public struct GrantMapResult: Equatable, Sendable {
    public var status: Int16
    public var handle: UInt32? = nil
    public var devBusAddr: UInt64? = nil
}

/// One side of a gnttab_copy: a grant reference of `domain` or (DOMID_SELF only) a frame.
public struct GrantCopyPointer: Equatable, Sendable {
    /// grant_ref_t when the matching GNTCOPY_*_gref flag is set, else a frame number.
    public var refOrFrame: UInt64
    public var domain: XenDomainID
    public var offset: UInt16
    public init(refOrFrame: UInt64, domain: XenDomainID, offset: UInt16) {
        self.refOrFrame = refOrFrame; self.domain = domain; self.offset = offset
    }
}

public struct GrantCopyRequest: Equatable, Sendable {
    public var source: GrantCopyPointer
    public var dest: GrantCopyPointer
    public var length: UInt16
    public var flags: UInt16
    public init(source: GrantCopyPointer, dest: GrantCopyPointer, length: UInt16, flags: UInt16) {
        self.source = source; self.dest = dest; self.length = length; self.flags = flags
    }
}

public struct GrantTableSwitch {
    public private(set) var tables: [GrantTable?]
    /// Who may do what (XenHost shares its own): may a domain map or copy another's grants
    /// (false gives GNTST_permission_denied), set up or query another's table (XSM_TARGET)?
    public let policy: XenPolicy

    /// Without a policy, a default one of its own.
    public init(maxDomains: Int = 64, policy: XenPolicy? = nil) {
        tables = [GrantTable?](repeating: nil, count: max(1, min(maxDomains, Int(XenDomID.firstReserved))))
        self.policy = policy ?? XenPolicy(maxDomains: maxDomains)
    }

    func slot(_ id: XenDomainID) -> Int? {
        let i = Int(id)
        return i < tables.count && tables[i] != nil ? i : nil
    }

    public func table(_ id: XenDomainID) -> GrantTable? { slot(id).flatMap { tables[$0] } }

    public mutating func addDomain(_ id: XenDomainID, maxFrames: UInt32 = GrantTable.defaultMaxFrames,
                                   maxMappings: UInt32 = GrantTable.defaultMaxMappings) -> Bool {
        install(GrantTable(domain: id, maxFrames: maxFrames, maxMappings: maxMappings))
    }

    /// Installs a table built outside the lock (XenHost.prepareDomain); false if the id is
    /// out of range or taken.
    mutating func install(_ table: GrantTable) -> Bool {
        let i = Int(table.domain)
        guard i < tables.count, tables[i] == nil else { return false }
        tables[i] = table
        return true
    }

    // MARK: teardown (XenHost.destroyStep), one maptrack entry per call
    //
    // gnttab_release_mappings() and, because Apus holds no page references, the removal of
    // every other domain's mappings of the dying domain's grants, so no domain keeps its
    // memory.

    mutating func markDying(_ id: XenDomainID) {
        with(id) { $0.isDying = true }
    }

    func isDying(_ id: XenDomainID) -> Bool {
        guard let s = slot(id) else { return false }
        return tables[s]!.isDying
    }

    func maptrackCount(_ id: XenDomainID) -> Int {
        guard let s = slot(id) else { return 0 }
        return tables[s]!.maptrack.count
    }

    /// How many of `mapper`'s mappings are of `granter`'s grants (0 if no such mapper).
    func mappingCount(mapper: Int, granter: XenDomainID) -> UInt32 {
        guard mapper < tables.count, let t = tables[mapper] else { return 0 }
        return t.mappingCount(of: granter)
    }

    /// grant_map_exists: `user` holds a pin on a grant of `owner`'s frame `frame`.
    func grantsFrame(owner: XenDomainID, to user: XenDomainID, frame: UInt64) -> Bool {
        guard let t = table(owner) else { return false }
        return t.active.contains { $0.pin != 0 && $0.user == user && $0.frame == frame }
    }

    /// Handle `handle` of `mapper`, if it maps one of `granter`'s grants (any granter: nil).
    func mapping(mapper: Int, handle: Int, granter: XenDomainID? = nil) -> GrantMapping? {
        guard mapper < tables.count, let t = tables[mapper], handle < t.maptrack.count,
              let m = t.maptrack[handle] else { return nil }
        if let granter, m.granter != granter { return nil }
        return m
    }

    /// One of `id`'s own mappings: unmapped from its p2m, the granter's pin dropped, the
    /// handle forgotten.
    mutating func releaseOwnMapping<P: XenPlatform>(_ id: XenDomainID, handle: Int, platform: P) {
        guard let m = mapping(mapper: Int(id), handle: handle) else { return }
        if m.flags & GrantMapFlags.hostMap != 0, let act = table(m.granter)?.activeEntry(m.ref) {
            _ = platform.unmapGrant(mapper: id, gfn: m.hostGFN, granter: m.granter, frame: act.frame)
        }
        release(granter: m.granter, ref: m.ref, readOnly: m.flags & GrantMapFlags.readonly != 0, memory: platform)
        with(id) { $0.setMapping(UInt32(handle), nil) }
    }

    /// `mapper`'s mapping `handle` of dying `granter`'s grant: removed from its p2m, the
    /// handle invalid from now on (its unmap gets GNTST_bad_handle). The granter's pin is
    /// not dropped: its table goes as a whole.
    mutating func removeForeignMapping<P: XenPlatform>(mapper: Int, handle: Int, granter: XenDomainID,
                                                       keepHandle: Bool = false, platform: P) {
        guard let m = mapping(mapper: mapper, handle: handle, granter: granter) else { return }
        if m.flags & GrantMapFlags.hostMap != 0, let act = table(granter)?.activeEntry(m.ref) {
            _ = platform.unmapGrant(mapper: XenDomainID(mapper), gfn: m.hostGFN, granter: granter, frame: act.frame)
        }
        if !keepHandle { tables[mapper]?.releaseHandle(UInt32(handle)) }
    }

    /// `mapper`'s mapping `handle` outlives its dying granter (GrantMapFlags.orphan): the
    /// handle stays valid for the mapper's unmap.
    mutating func orphanMapping(mapper: Int, handle: Int) {
        guard var m = mapping(mapper: mapper, handle: handle) else { return }
        m.flags |= GrantMapFlags.orphan
        tables[mapper]?.setMapping(UInt32(handle), m)
    }

    mutating func dropTable(_ id: XenDomainID) {
        guard let s = slot(id) else { return }
        tables[s] = nil
    }

    mutating func with<R>(_ id: XenDomainID, _ body: (inout GrantTable) -> R) -> R? {
        guard let s = slot(id) else { return nil }
        return body(&tables[s]!)
    }

    // MARK: entry flags in guest memory

    /// `_set_status_v1()`: checks the entry (unless already pinned) and sets GTF_reading
    /// (and GTF_writing) with a bounded compare-and-swap loop.
    static func setStatus<M: GuestPhysicalMemory>(granter: XenDomainID, entry: UInt64?, pinned: Bool,
                                                  readOnly: Bool, forMapping: Bool, user: XenDomainID,
                                                  memory: M) -> Int16 {
        guard let entry, var combo = memory.load32(domain: granter, entry) else { return GrantStatus.generalError }
        let mask = GrantFlags.typeMask | (forMapping ? GrantFlags.subPage : 0)
        var retries = 0
        while true {
            let flags = UInt16(truncatingIfNeeded: combo)
            let domid = UInt16(truncatingIfNeeded: combo >> 16)
            if !pinned && (flags & mask != GrantFlags.permitAccess || domid != user) {
                return GrantStatus.generalError
            }
            var new = flags | GrantFlags.reading
            if !readOnly {
                if flags & GrantFlags.readonly != 0 { return GrantStatus.generalError }
                new |= GrantFlags.writing
            }
            let raw = UInt32(domid) << 16 | UInt32(new)
            guard let prev = memory.compareExchange32(domain: granter, entry, expected: combo, desired: raw) else {
                return GrantStatus.generalError
            }
            if prev == combo { return GrantStatus.okay }
            if retries == 4 { return GrantStatus.generalError }
            retries += 1
            combo = prev
        }
    }

    /// gnttab_clear_flags() on the entry's flags.
    static func clearFlags<M: GuestPhysicalMemory>(granter: XenDomainID, entry: UInt64?, _ bits: UInt16, memory: M) {
        guard let entry, var combo = memory.load32(domain: granter, entry) else { return }
        for _ in 0..<16 {
            let raw = combo & ~UInt32(bits)
            if raw == combo { return }
            guard let prev = memory.compareExchange32(domain: granter, entry, expected: combo, desired: raw) else { return }
            if prev == combo { return }
            combo = prev
        }
    }

    /// `reduce_status_for_pin()`.
    static func reduceStatus<M: GuestPhysicalMemory>(granter: XenDomainID, entry: UInt64?, pin: UInt32,
                                                     readOnly: Bool, memory: M) {
        var clear: UInt16 = pin == 0 ? GrantFlags.reading : 0
        if !readOnly && pin & (GrantPin.hostWriteMask | GrantPin.deviceWriteMask) == 0 { clear |= GrantFlags.writing }
        if clear != 0 { clearFlags(granter: granter, entry: entry, clear, memory: memory) }
    }

    /// Pins `ref` of `granter` for `user` (the common part of map_grant_ref and
    /// acquire_grant_for_copy). Returns the status and, on success, the pinned frame.
    mutating func acquire<P: XenPlatform>(granter: XenDomainID, ref: UInt32, user: XenDomainID, readOnly: Bool,
                                          forMapping: Bool, platform: P) -> (status: Int16, frame: UInt64) {
        // (No copy of the table is kept: see `release`.)
        guard let (count, entry, found) = with(granter, { t in (t.entryCount, t.entryAddress(ref), t.activeEntry(ref)) }) else {
            return (GrantStatus.badDomain, 0)
        }
        guard ref < count else { return (GrantStatus.badGntref, 0) }
        let inc = readOnly ? GrantPin.hostReadInc : GrantPin.hostWriteInc
        var act = found ?? ActiveGrant(ref: ref, pin: 0, user: user, frame: 0)
        let pinned = act.pin != 0
        if pinned && (act.user != user || act.pin & GrantPin.overflowMask(inc) != 0) {
            return (GrantStatus.generalError, 0)
        }
        if !pinned || (!readOnly && act.pin & (GrantPin.hostWriteMask | GrantPin.deviceWriteMask) == 0) {
            let rc = GrantTableSwitch.setStatus(granter: granter, entry: entry, pinned: pinned, readOnly: readOnly,
                                                forMapping: forMapping, user: user, memory: platform)
            if rc != GrantStatus.okay { return (rc, 0) }
            if !pinned {
                guard let e = entry, let frame = platform.load32(domain: granter, e &+ UInt64(XenLayout.GrantEntryV1.frame)),
                      platform.isRAM(domain: granter, gfn: UInt64(frame)) else {
                    GrantTableSwitch.reduceStatus(granter: granter, entry: entry, pin: act.pin, readOnly: readOnly,
                                                  memory: platform)
                    return (GrantStatus.badPage, 0)
                }
                act = ActiveGrant(ref: ref, pin: 0, user: user, frame: UInt64(frame))
            }
        }
        act.pin += inc
        let stored = act
        with(granter) { $0.setActive(stored) }
        return (GrantStatus.okay, act.frame)
    }

    /// Drops one pin taken by `acquire` (release_grant_for_copy / unmap completion).
    mutating func release<M: GuestPhysicalMemory>(granter: XenDomainID, ref: UInt32, readOnly: Bool, memory: M) {
        // Read through `with`, not a copy of the table: a copy alive across the write below
        // would make Swift copy the whole active array (copy-on-write) at every unmap.
        guard let (found, entry) = with(granter, { t in (t.activeEntry(ref), t.entryAddress(ref)) }),
              var act = found else { return }
        let inc = readOnly ? GrantPin.hostReadInc : GrantPin.hostWriteInc
        let mask = readOnly ? GrantPin.hostReadMask : GrantPin.hostWriteMask
        guard act.pin & mask != 0 else { return }
        act.pin -= inc
        let stored = act
        with(granter) { $0.setActive(stored) }
        GrantTableSwitch.reduceStatus(granter: granter, entry: entry, pin: act.pin,
                                      readOnly: readOnly, memory: memory)
    }

    // MARK: operations

    /// GNTTABOP_map_grant_ref for one entry.
    public mutating func map<P: XenPlatform>(caller: XenDomainID, _ op: GrantMapRequest, platform: P) -> GrantMapResult {
        let ro = op.flags & GrantMapFlags.readonly != 0
        guard op.flags & (GrantMapFlags.hostMap | GrantMapFlags.deviceMap) != 0 else {
            return GrantMapResult(status: GrantStatus.badGntref)
        }
        // Arm guests are paging_mode_external: no device, application or PTE mappings.
        if op.flags & (GrantMapFlags.deviceMap | GrantMapFlags.applicationMap | GrantMapFlags.containsPTE) != 0 {
            return GrantMapResult(status: GrantStatus.generalError)
        }
        // A dying granter (or caller) is as good as gone: its teardown may already have
        // passed the maptrack a new mapping would go into.
        guard slot(op.dom) != nil, slot(caller) != nil, !isDying(op.dom), !isDying(caller) else {
            return GrantMapResult(status: GrantStatus.badDomain)
        }
        guard policy.mayGrant(user: caller, granter: op.dom) else {
            return GrantMapResult(status: GrantStatus.permissionDenied)
        }
        guard let handle = with(caller, { $0.allocateHandle() }) ?? nil else {
            return GrantMapResult(status: GrantStatus.noSpace)
        }
        let got = acquire(granter: op.dom, ref: op.ref, user: caller, readOnly: ro, forMapping: true, platform: platform)
        guard got.status == GrantStatus.okay else {
            with(caller) { $0.releaseHandle(handle) }
            return GrantMapResult(status: got.status)
        }
        // create_grant_host_mapping(): no cache attributes, host_map (+readonly) only.
        let entry = table(op.dom)?.entryAddress(op.ref)
        let flags = entry.flatMap { platform.load16(domain: op.dom, $0) } ?? 0
        let cacheFlags = flags & (GrantFlags.pat | GrantFlags.pwt | GrantFlags.pcd)
        let gfn = op.hostAddr >> XenPage.shift
        var devBus: UInt64? = nil
        if cacheFlags == 0 && op.flags & ~GrantMapFlags.readonly == GrantMapFlags.hostMap {
            devBus = platform.mapGrant(mapper: caller, gfn: gfn, granter: op.dom, frame: got.frame, readOnly: ro)
        }
        guard let devBus else {
            release(granter: op.dom, ref: op.ref, readOnly: ro, memory: platform)
            with(caller) { $0.releaseHandle(handle) }
            return GrantMapResult(status: GrantStatus.generalError)
        }
        with(caller) {
            $0.setMapping(handle, GrantMapping(granter: op.dom, ref: op.ref, flags: op.flags, hostGFN: gfn))
        }
        return GrantMapResult(status: GrantStatus.okay, handle: handle, devBusAddr: devBus)
    }

    /// GNTTABOP_unmap_grant_ref for one entry (unmap_common + unmap_common_complete).
    /// With host_addr 0 nothing is unmapped and the handle stays valid, as in Xen.
    public mutating func unmap<P: XenPlatform>(caller: XenDomainID, hostAddr: UInt64, handle: UInt32,
                                               platform: P) -> Int16 {
        guard let found = with(caller, { $0.mapping(handle) }), let m = found, m.flags != 0,
              m.flags & GrantMapFlags.orphan == 0 else { return GrantStatus.badHandle }
        guard let active = with(m.granter, { t in m.ref < t.entryCount ? t.activeEntry(m.ref) : nil }),
              let act = active else {
            return GrantStatus.badHandle
        }
        guard hostAddr != 0, m.flags & GrantMapFlags.hostMap != 0 else { return GrantStatus.okay }
        // The handle's own mapping, not another one of the same frame: otherwise a guest with
        // two mappings could drop one handle's record while its p2m entry stays, and keep
        // the page after the granter is gone (Xen holds a page reference instead).
        guard hostAddr >> XenPage.shift == m.hostGFN else { return GrantStatus.generalError }
        guard platform.unmapGrant(mapper: caller, gfn: hostAddr >> XenPage.shift, granter: m.granter, frame: act.frame) else {
            return GrantStatus.generalError
        }
        with(caller) { $0.releaseHandle(handle) }
        release(granter: m.granter, ref: m.ref, readOnly: m.flags & GrantMapFlags.readonly != 0, memory: platform)
        return GrantStatus.okay
    }

    /// GNTTABOP_copy for one entry.
    public mutating func copy<P: XenPlatform>(caller: XenDomainID, _ op: GrantCopyRequest, platform: P) -> Int16 {
        let srcIsRef = op.flags & GrantCopyFlags.sourceGref != 0
        let dstIsRef = op.flags & GrantCopyFlags.destGref != 0
        // gnttab_copy_lock_domain(): frames only from DOMID_SELF.
        if op.source.domain != XenDomID.selfID && !srcIsRef { return GrantStatus.permissionDenied }
        let sd = op.source.domain == XenDomID.selfID ? caller : op.source.domain
        guard slot(sd) != nil, !isDying(sd) else { return GrantStatus.badDomain }
        if op.dest.domain != XenDomID.selfID && !dstIsRef { return GrantStatus.permissionDenied }
        let dd = op.dest.domain == XenDomID.selfID ? caller : op.dest.domain
        guard slot(dd) != nil, !isDying(dd) else { return GrantStatus.badDomain }
        guard policy.mayGrant(user: caller, granter: sd), policy.mayGrant(user: caller, granter: dd) else {
            return GrantStatus.permissionDenied
        }

        // Source, read-only.
        var srcFrame: UInt64
        let srcRef = UInt32(truncatingIfNeeded: op.source.refOrFrame)
        if srcIsRef {
            let got = acquire(granter: sd, ref: srcRef, user: caller, readOnly: true, forMapping: false, platform: platform)
            guard got.status == GrantStatus.okay else { return got.status }
            srcFrame = got.frame
        } else {
            srcFrame = op.source.refOrFrame
            guard platform.isRAM(domain: sd, gfn: srcFrame) else { return GrantStatus.badPage }
        }
        // Destination, writable.
        var dstFrame: UInt64
        let dstRef = UInt32(truncatingIfNeeded: op.dest.refOrFrame)
        if dstIsRef {
            let got = acquire(granter: dd, ref: dstRef, user: caller, readOnly: false, forMapping: false, platform: platform)
            guard got.status == GrantStatus.okay else {
                if srcIsRef { release(granter: sd, ref: srcRef, readOnly: true, memory: platform) }
                return got.status
            }
            dstFrame = got.frame
        } else {
            dstFrame = op.dest.refOrFrame
            guard platform.isRAM(domain: dd, gfn: dstFrame) else {
                if srcIsRef { release(granter: sd, ref: srcRef, readOnly: true, memory: platform) }
                return GrantStatus.badPage
            }
        }

        var status = GrantStatus.okay
        let len = Int(op.length)
        if Int(op.source.offset) + len > Int(XenPage.size) || Int(op.dest.offset) + len > Int(XenPage.size) {
            status = GrantStatus.badCopyArg
        } else if len > 0 {
            let from = (srcFrame << XenPage.shift) &+ UInt64(op.source.offset)
            let to = (dstFrame << XenPage.shift) &+ UInt64(op.dest.offset)
            if !platform.copy(source: sd, from, dest: dd, to, count: len) { status = GrantStatus.generalError }
        }
        if srcIsRef { release(granter: sd, ref: srcRef, readOnly: true, memory: platform) }
        if dstIsRef { release(granter: dd, ref: dstRef, readOnly: false, memory: platform) }
        return status
    }

    /// GNTTABOP_query_size: (nr_frames, max_nr_frames) or a GNTST status.
    public func querySize(caller: XenDomainID, dom: XenDomainID)
        -> (status: Int16, frames: UInt32, maxFrames: UInt32) {
        let d = dom == XenDomID.selfID ? caller : dom
        guard let t = table(d) else { return (GrantStatus.badDomain, 0, 0) }
        guard policy.mayActOn(caller: caller, target: d) else { return (GrantStatus.permissionDenied, 0, 0) }
        return (GrantStatus.okay, t.frameCount, t.maxFrames)
    }

    /// GNTTABOP_setup_table: grows the table to `frames` and returns each frame's guest
    /// frame number (INVALID_GFN for frames the guest has not mapped), or a GNTST status.
    public mutating func setupTable(caller: XenDomainID, dom: XenDomainID, frames: UInt32)
        -> (status: Int16, gfns: [UInt64]) {
        let d = dom == XenDomID.selfID ? caller : dom
        guard let t = table(d) else { return (GrantStatus.badDomain, []) }
        guard policy.mayActOn(caller: caller, target: d) else { return (GrantStatus.permissionDenied, []) }
        guard frames <= t.maxFrames else { return (GrantStatus.generalError, []) }
        _ = with(d) { $0.grow(to: frames) }
        var gfns: [UInt64] = []
        for i in 0..<Int(frames) { gfns.append(t.frameGFN[i] ?? XenPage.invalidGFN) }
        return (GrantStatus.okay, gfns)
    }

    /// XENMAPSPACE_grant_table bookkeeping (gnttab_map_frame / gnttab_get_shared_frame_mfn):
    /// grows the table to cover `index`; -EINVAL beyond max, -EBUSY if already mapped at
    /// another frame (Xen would move it; Apus keeps one place per frame). Mapping it again
    /// at the same frame is allowed: a toolstack domain's frames are at GUEST_GNTTAB_BASE
    /// from its grant seeding on, where Linux maps them too.
    mutating func prepareFrameMapping(domain: XenDomainID, index: UInt32, gfn: UInt64? = nil) throws(XenErrno) {
        try grow(domain: domain, toCover: index)
        guard let t = table(domain) else { throw .ESRCH }
        if let now = t.frameGFN[Int(index)], now != gfn { throw .EBUSY }
    }

    /// The table covers frame `index` (-EINVAL beyond its max).
    mutating func grow(domain: XenDomainID, toCover index: UInt32) throws(XenErrno) {
        guard let t = table(domain) else { throw .ESRCH }
        if index >= t.frameCount {
            guard index < UInt32.max, with(domain, { $0.grow(to: index + 1) }) == true else { throw .EINVAL }
        }
    }

    mutating func setFrameGFN(domain: XenDomainID, index: UInt32, gfn: UInt64?) {
        with(domain) { t in
            guard Int(index) < t.frameGFN.count else { return }
            t.frameGFN[Int(index)] = gfn
        }
    }
}
