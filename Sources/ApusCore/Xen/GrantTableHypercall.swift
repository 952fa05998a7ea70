/// grant_table_op (hypercall 20): do_grant_table_op(cmd, uop, count) argument decoding.
/// map/unmap/copy ask the platform's hypercall_preempt_check() between entries (never
/// before the first of a trap) and handle at most `grantBatch` entries per trap; then the
/// hypercall is restarted with the remaining ones, as Xen's continuation ("ihi": the 32-bit
/// command, the next entry, the 32-bit count left; x3, x4 as they were), so a huge count
/// cannot hold the CPU. (Xen checks between unmaps only every GNTTAB_UNMAP_BATCH_SIZE
/// entries; checking more often changes nothing the guest sees.)
extension XenHost {
    @inline(never)   // out of `dispatch`, which then stays small (XenHost.dispatch)
    func grantTableOp<P: XenPlatform>(_ a: XenArguments, caller: XenCaller, platform: P) -> XenHypercallResult {
        let cmdFull = UInt32(truncatingIfNeeded: a.x0)
        let uop = a.x1
        let count = UInt32(truncatingIfNeeded: a.x2)
        let me = caller.domain
        let efault = XenHypercallResult(XenErrno.EFAULT.result)
        func r(_ v: Int64) -> XenHypercallResult { XenHypercallResult(v) }

        if Int32(bitPattern: count) < 0 { return r(XenErrno.EINVAL.result) }
        let cmd = cmdFull & GrantTableOp.commandMask
        if cmd != GrantTableOp.cacheFlush && cmdFull & ~GrantTableOp.commandMask != 0 { return r(XenErrno.EINVAL.result) }

        /// Runs `body` on the entries of `size` bytes until done, preempted or grantBatch
        /// entries are done; restarts for the rest.
        func batch(_ size: Int, _ body: (UInt64) -> Bool) -> XenHypercallResult {
            let limit = min(count, max(1, grantBatch))
            var i: UInt32 = 0
            while i < count {
                if i > 0 && (i == limit || platform.hypercallPreemptCheck()) {
                    return XenHypercallResult.restart(XenArguments(UInt64(cmdFull), uop &+ UInt64(i) &* UInt64(size),
                                                                  UInt64(count - i), a.x3, a.x4))
                }
                if !body(uop &+ UInt64(i) &* UInt64(size)) { return efault }
                i += 1
            }
            return r(0)
        }

        switch cmd {
        case GrantTableOp.mapGrantRef:
            typealias L = XenLayout.GnttabMapGrantRef
            return batch(L.size) { addr in
                guard var b = platform.readStruct(addr, size: L.size) else { return false }
                let req = GrantMapRequest(hostAddr: XenBytes.u64(b, L.hostAddr), flags: XenBytes.u32(b, L.flags),
                                          ref: XenBytes.u32(b, L.ref), dom: XenBytes.u16(b, L.dom))
                let res = grants.map(caller: me, req, platform: platform)
                if res.status == GrantStatus.okay {
                    let gfn = req.hostAddr >> XenPage.shift
                    forgetXenPage(domain: me, gfn: gfn)
                }
                XenBytes.put16(&b, L.status, UInt16(bitPattern: res.status))
                if let h = res.handle { XenBytes.put32(&b, L.handle, h) }
                if let d = res.devBusAddr { XenBytes.put64(&b, L.devBusAddr, d) }
                return platform.write(addr, b)
            }

        case GrantTableOp.unmapGrantRef:
            typealias L = XenLayout.GnttabUnmapGrantRef
            return batch(L.size) { addr in
                guard let b = platform.readStruct(addr, size: L.size) else { return false }
                let hostAddr = XenBytes.u64(b, L.hostAddr), handle = XenBytes.u32(b, L.handle)
                let status = grants.table(me)?.mapping(handle).map { $0.flags & GrantMapFlags.orphan != 0 } == true
                    ? unmapOrphan(caller: me, hostAddr: hostAddr, handle: handle, platform: platform)
                    : grants.unmap(caller: me, hostAddr: hostAddr, handle: handle, platform: platform)
                return platform.writeU16(addr &+ UInt64(L.status), UInt16(bitPattern: status))
            }

        case GrantTableOp.copy:
            typealias L = XenLayout.GnttabCopy
            return batch(L.size) { addr in
                guard let b = platform.readStruct(addr, size: L.size) else { return false }
                let op = GrantCopyRequest(
                    source: GrantCopyPointer(refOrFrame: XenBytes.u64(b, L.sourceRef), domain: XenBytes.u16(b, L.sourceDomid),
                                             offset: XenBytes.u16(b, L.sourceOffset)),
                    dest: GrantCopyPointer(refOrFrame: XenBytes.u64(b, L.destRef), domain: XenBytes.u16(b, L.destDomid),
                                           offset: XenBytes.u16(b, L.destOffset)),
                    length: XenBytes.u16(b, L.len), flags: XenBytes.u16(b, L.flags))
                // A v1 grant ref is 32 bits: the union's upper half is ignored for refs.
                let status = grants.copy(caller: me, op, platform: platform)
                return platform.writeU16(addr &+ UInt64(L.status), UInt16(bitPattern: status))
            }

        case GrantTableOp.setupTable:
            typealias L = XenLayout.GnttabSetupTable
            if count != 1 { return r(XenErrno.EINVAL.result) }
            guard let b = platform.readStruct(uop, size: L.size) else { return efault }
            let res = grants.setupTable(caller: me, dom: XenBytes.u16(b, L.dom), frames: XenBytes.u32(b, L.nrFrames))
            var status = res.status
            let list = XenBytes.u64(b, L.frameList)
            for (i, gfn) in res.gfns.enumerated() where !platform.writeU64(list &+ UInt64(i) &* 8, gfn) {
                status = GrantStatus.badVirtAddr
            }
            return platform.writeU16(uop &+ UInt64(L.status), UInt16(bitPattern: status)) ? r(0) : efault

        case GrantTableOp.querySize:
            typealias L = XenLayout.GnttabQuerySize
            if count != 1 { return r(XenErrno.EINVAL.result) }
            guard var b = platform.readStruct(uop, size: L.size) else { return efault }
            let q = grants.querySize(caller: me, dom: XenBytes.u16(b, L.dom))
            if q.status == GrantStatus.okay {
                XenBytes.put32(&b, L.nrFrames, q.frames)
                XenBytes.put32(&b, L.maxNrFrames, q.maxFrames)
            }
            XenBytes.put16(&b, L.status, UInt16(bitPattern: q.status))
            return platform.write(uop, b) ? r(0) : efault

        case GrantTableOp.setVersion:
            guard var b = platform.readStruct(uop, size: XenLayout.GnttabSetVersion.size) else { return efault }
            let v = XenBytes.u32(b, 0)
            let rc: Int64 = v == 1 ? 0 : (v == 2 ? XenErrno.ENOSYS.result : XenErrno.EINVAL.result)
            XenBytes.put32(&b, 0, 1)            // op.version = gt->gt_version
            return platform.write(uop, b) ? r(rc) : efault

        case GrantTableOp.getVersion:
            typealias L = XenLayout.GnttabGetVersion
            guard let b = platform.readStruct(uop, size: L.size) else { return efault }
            guard let d = resolve(XenBytes.u16(b, L.dom), caller: me) else { return r(XenErrno.ESRCH.result) }
            guard policy.mayActOn(caller: me, target: d) else { return r(XenErrno.EPERM.result) }
            var out = [UInt8](repeating: 0, count: 4)
            XenBytes.put32(&out, 0, 1)
            return platform.write(uop &+ UInt64(L.version), out) ? r(0) : efault

        case GrantTableOp.cacheFlush:
            // gnttab_cache_flush: the opaque high bits of the command are Xen's scan position
            // (cur_ref); Apus finds a grant in one look and never continues a scan, so they
            // matter only for Xen's -EILSEQ on an empty entry after a partial one.
            typealias L = XenLayout.GnttabCacheFlush
            let curRef = cmdFull >> 12
            var failed: Int64? = nil
            let res = batch(L.size) { addr in
                guard failed == nil else { return true }
                guard let b = platform.readStruct(addr, size: L.size) else { return false }
                let rc = cacheFlush(caller: me, maddr: XenBytes.u64(b, L.address), offset: XenBytes.u16(b, L.offset),
                                    length: XenBytes.u16(b, L.length), op: XenBytes.u32(b, L.op), curRef: curRef,
                                    platform: platform)
                if rc < 0 { failed = rc }
                return true
            }
            return failed.map { r($0) } ?? res
        default:
            // dump_table, transfer, unmap_and_replace, get_status_frames, swap_grant_ref:
            // not offered.
            return r(XenErrno.ENOSYS.result)
        }
    }
}

extension XenHost {
    /// Xen's cache_flush() for one entry: clean and/or invalidate part of one page, which must
    /// be the caller's own RAM or a frame another domain has granted it (and it has mapped).
    func cacheFlush<P: XenPlatform>(caller: XenDomainID, maddr: UInt64, offset: UInt16, length: UInt16, op: UInt32,
                                    curRef: UInt32, platform: P) -> Int64 {
        let clean: UInt32 = 1 << 0, inval: UInt32 = 1 << 1
        let page = UInt32(XenPage.size)
        guard UInt32(offset) < page, UInt32(length) <= page, UInt32(offset) + UInt32(length) <= page,
              op & ~(clean | inval) == 0 else { return XenErrno.EINVAL.result }
        if length == 0 || op == 0 { return curRef == 0 ? 0 : XenErrno.EILSEQ.result }
        guard let owner = platform.frameOwner(machineAddress: maddr & ~UInt64(page - 1)) else {
            return XenErrno.EINVAL.result              // not RAM of any domain (!mfn_valid or no owner)
        }
        if owner.domain != caller && !grants.grantsFrame(owner: owner.domain, to: caller, frame: owner.gfn) {
            return XenErrno.EINVAL.result              // grant_map_exists found none
        }
        platform.cacheMaintenance(machineAddress: (maddr & ~UInt64(page - 1)) + UInt64(offset), length: Int(length),
                                  clean: op & clean != 0, invalidate: op & inval != 0)
        return 0
    }
}

extension XenHost {
    /// GNTTABOP_unmap_grant_ref of a mapping whose granter was destroyed meanwhile: its page
    /// goes from the mapper's p2m now (the last such mapping lets the hypervisor free the
    /// granter's memory), and the handle is free.
    func unmapOrphan<P: XenPlatform>(caller: XenDomainID, hostAddr: UInt64, handle: UInt32, platform: P) -> Int16 {
        guard let m = grants.table(caller)?.mapping(handle) else { return GrantStatus.badHandle }
        guard hostAddr != 0 else { return GrantStatus.okay }
        guard hostAddr >> XenPage.shift == m.hostGFN else { return GrantStatus.generalError }
        // Only a page kept as a foreign mapping is removed: a revoked mapping's page is gone
        // already, and what the caller has at that frame now is its own.
        if m.flags & GrantMapFlags.hostMap != 0, foreignMaps[XenForeignKey(mapper: caller, gfn: m.hostGFN)] != nil {
            _ = removePage(of: caller, gfn: m.hostGFN, platform: platform)
        }
        _ = grants.with(caller) { $0.releaseHandle(handle) }
        return GrantStatus.okay
    }

    /// Teardown of a dying granter: `mapper`'s mapping `handle` of one of its grants. A
    /// toolstack domain's page stays where the mapper has it, held as a foreign mapping
    /// until the mapper unmaps (dom0's xenstored, xenconsoled and backends must not fault
    /// on a ring they still have). Any other domain's page leaves the mapper now (a
    /// boot-time domain's RAM is its next boot's), but the handle stays an orphan all the
    /// same: the mapper's own unmap later succeeds, as on Xen (Linux's gntdev warns on a
    /// failed unmap when xenstored lets go of a dom0less domain's ring).
    func releaseForeignGrantMapping<P: XenPlatform>(mapper: Int, handle: Int, granter: XenDomainID, platform: P) {
        guard let m = grants.mapping(mapper: mapper, handle: handle, granter: granter),
              m.flags & GrantMapFlags.orphan == 0 else { return }
        let key = XenForeignKey(mapper: XenDomainID(mapper), gfn: m.hostGFN)
        guard domain(granter)?.config.builtByToolstack == true,
              m.flags & GrantMapFlags.hostMap != 0,
              let act = grants.table(granter)?.activeEntry(m.ref), foreignMaps[key] == nil,
              platform.mapForeign(mapper: XenDomainID(mapper), gfn: m.hostGFN, owner: granter, .ram(gfn: act.frame),
                                  readOnly: m.flags & GrantMapFlags.readonly != 0) else {
            grants.removeForeignMapping(mapper: mapper, handle: handle, granter: granter, keepHandle: true, platform: platform)
            grants.orphanMapping(mapper: mapper, handle: handle)
            return
        }
        foreignMaps[key] = XenForeignMapping(owner: granter, page: .ram(gfn: act.frame))
        grants.orphanMapping(mapper: mapper, handle: handle)
    }
}
