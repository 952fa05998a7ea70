/// The memory_op sub-ops of a domain build and of dom0's balloon (xen/common/memory.c,
/// xen/arch/arm/mm.c): populate_physmap and decrease_reservation (on oneself or, for the
/// control domain, on another domain), add_to_physmap_batch with XENMAPSPACE_gmfn_foreign
/// (Linux's privcmd foreign mapping), remove_from_physmap, and acquire_resource of a grant
/// table (libxenguest's grant seeding).

/// A mapper's frame that holds another domain's page.
public struct XenForeignKey: Equatable, Sendable {
    public var mapper: XenDomainID
    public var gfn: UInt64
    /// Sort key: mapper, then frame (frames are below 2^36).
    var packed: UInt64 { UInt64(mapper) << 40 | gfn }
}

public struct XenForeignMapping: Equatable, Sendable {
    public var owner: XenDomainID
    public var page: XenForeignPage
}

/// Foreign mappings by key: an open-addressing hash table (linear probing, tombstones,
/// doubled at 70 % full). Not Dictionary, whose hashing brings floating point into the EL2
/// image; not a sorted array, whose inserts moved O(n) entries each: libxenguest maps a
/// 27 MiB kernel page by page, and that alone cost 0.5 s of xl create.
public struct XenForeignTable: Sendable {
    private static let empty = UInt64.max, removed = UInt64.max - 1
    private var keys: [UInt64] = []
    private var values: [XenForeignMapping?] = []
    /// Live entries, and live plus tombstones (what the probe sequences cross).
    public private(set) var count = 0
    private var used = 0

    public init() {}

    /// Every mapping, in no particular order.
    public var mappings: [XenForeignMapping] { values.compactMap { $0 } }

    /// Fibonacci hashing of the packed key into the table's power-of-two size.
    private func home(_ k: UInt64, _ mask: Int) -> Int { Int(truncatingIfNeeded: (k &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask }

    private func find(_ k: UInt64) -> Int? {
        guard !keys.isEmpty else { return nil }
        let mask = keys.count - 1
        var i = home(k, mask)
        while keys[i] != XenForeignTable.empty {
            if keys[i] == k { return i }
            i = (i + 1) & mask
        }
        return nil
    }

    private mutating func grow() {
        let old = zip(keys, values).filter { $0.0 < XenForeignTable.removed }
        let size = max(64, keys.count * ((count + 1) * 10 >= keys.count * 5 ? 2 : 1))
        keys = [UInt64](repeating: XenForeignTable.empty, count: size)
        values = [XenForeignMapping?](repeating: nil, count: size)
        used = 0
        count = 0
        for (k, v) in old { insert(k, v!) }
    }

    private mutating func insert(_ k: UInt64, _ v: XenForeignMapping) {
        if (used + 1) * 10 >= keys.count * 7 { grow() }
        let mask = keys.count - 1
        var i = home(k, mask)
        while keys[i] != XenForeignTable.empty && keys[i] != XenForeignTable.removed { i = (i + 1) & mask }
        if keys[i] == XenForeignTable.empty { used += 1 }
        keys[i] = k
        values[i] = v
        count += 1
    }

    public subscript(key: XenForeignKey) -> XenForeignMapping? {
        get { find(key.packed).flatMap { values[$0] } }
        set {
            if let i = find(key.packed) {
                if let v = newValue {
                    values[i] = v
                } else {
                    keys[i] = XenForeignTable.removed
                    values[i] = nil
                    count -= 1
                }
            } else if let v = newValue {
                insert(key.packed, v)
            }
        }
    }

    public mutating func removeValue(forKey key: XenForeignKey) -> XenForeignMapping? {
        let v = self[key]
        if v != nil { self[key] = nil }
        return v
    }
}

/// `struct xen_memory_reservation`, `xen_add_to_physmap_batch`, `xen_remove_from_physmap`,
/// `xen_mem_acquire_resource` (arm64 offsets).
public enum XenMemoryLayout {
    public enum Reservation {
        public static let size = 32
        public static let extentStart = 0, nrExtents = 8, extentOrder = 16, memFlags = 20, domid = 24
    }
    public enum AddToPhysmapBatch {
        public static let size = 32
        public static let domid = 0, space = 2, count = 4, foreignDomid = 6, idxs = 8, gpfns = 16, errs = 24
    }
    public enum RemoveFromPhysmap {
        public static let size = 16
        public static let domid = 0, gpfn = 8
    }
    public enum AcquireResource {
        public static let size = 32
        public static let domid = 0, type = 2, id = 4, nrFrames = 8, pad = 12, frame = 16, frameList = 24
        /// XENMEM_resource_grant_table and its shared-frames id.
        public static let grantTable: UInt16 = 1, grantShared: UInt32 = 0
        /// Frames one call maps at most (Xen's mfn_list on the stack: 32).
        public static let maxFrames: UInt32 = 32
    }
}

extension XenHost {
    /// Foreign mappings one domain may hold at once (dom0's privcmd and gntdev mappings of
    /// domains it builds and serves): what the hypervisor keeps for them is bounded.
    public static let maxForeignMappings = 1 << 16

    /// Extents of populate_physmap / decrease_reservation done per trap at most before the
    /// call continues in the next (Xen checks hypercall_preempt_check() per extent).
    static let extentsPerTrap: UInt64 = 256

    /// XENMEM_populate_physmap (`populate`) and XENMEM_decrease_reservation. Returns the
    /// number of extents done (Xen's answer: a short count, never an errno, once the
    /// reservation was read), or a continuation.
    func reservationOp<P: XenPlatform>(populate: Bool, cmd: UInt64, arg: UInt64, startExtent: UInt64,
                                       caller: XenCaller, platform: P) -> XenHypercallResult {
        typealias L = XenMemoryLayout.Reservation
        guard let b = platform.readStruct(arg, size: L.size) else { return XenHypercallResult(XenErrno.EFAULT.result) }
        let count = XenBytes.u64(b, L.nrExtents)
        let order = XenBytes.u32(b, L.extentOrder)
        let list = XenBytes.u64(b, L.extentStart)
        guard startExtent <= count else { return XenHypercallResult(Int64(startExtent)) }
        // rcu_lock_domain_by_any_id() and xsm_memory_adjust_reservation(XSM_TARGET).
        guard let d = resolve(XenBytes.u16(b, L.domid), caller: caller.domain),
              policy.mayActOn(caller: caller.domain, target: d) else { return XenHypercallResult(Int64(startExtent)) }
        // max_order(): 18 for the control domain, 9 for others (and 0 on another
        // domain's decrease without privilege, already refused above).
        guard order <= policy.maxExtentOrder(caller: caller.domain) else { return XenHypercallResult(Int64(startExtent)) }
        var i = startExtent
        while i < count {
            if i > startExtent, i - startExtent >= XenHost.extentsPerTrap || platform.hypercallPreemptCheck() {
                let next = (i << MemoryOp.extentShift) | (cmd & MemoryOp.commandMask)
                return .restart(XenArguments(next, arg))
            }
            guard list <= UInt64.max - 8 * i, let gfn = platform.readU64(list &+ 8 &* i) else { break }
            let pages = UInt64(1) << UInt64(order)
            guard gfn & (pages - 1) == 0, gfn < 1 << 36 else { break }
            if populate {
                guard platform.populate(domain: d, gfn: gfn, order: order) else { break }
            } else {
                var ok = true
                for p in 0..<pages where !removePage(of: d, gfn: gfn + p, platform: platform) { ok = false; break }
                guard ok else { break }
            }
            i += 1
        }
        return XenHypercallResult(Int64(i))
    }

    /// guest_remove_page(): a foreign mapping there is undone; otherwise the domain's page
    /// goes (a direct-mapped domain keeps it owned).
    func removePage<P: XenPlatform>(of d: XenDomainID, gfn: UInt64, platform: P) -> Bool {
        if let m = foreignMaps.removeValue(forKey: XenForeignKey(mapper: d, gfn: gfn)) {
            platform.unmapForeign(mapper: d, gfn: gfn, owner: m.owner, m.page)
            return true
        }
        // A Xen page there (shared_info, a grant frame) is no longer anywhere in the
        // domain's p2m: Xen forgets its frame (p2m_put_l3_page), so it can be mapped again.
        guard platform.depopulate(domain: d, gfn: gfn) else { return false }
        forgetXenPage(domain: d, gfn: gfn)
        return true
    }

    /// XENMEM_add_to_physmap_batch (Linux's add_to_physmap_range): only gmfn_foreign, as
    /// Arm's privcmd uses it. The call succeeds once its arguments are good; each index's
    /// result goes to `errs`. Continues after `extentsPerTrap` indexes.
    func addToPhysmapBatch<P: XenPlatform>(cmd: UInt64, arg: UInt64, startExtent: UInt64, caller: XenCaller,
                                          platform: P) -> XenHypercallResult {
        typealias L = XenMemoryLayout.AddToPhysmapBatch
        guard let b = platform.readStruct(arg, size: L.size) else { return XenHypercallResult(XenErrno.EFAULT.result) }
        let space = UInt32(XenBytes.u16(b, L.space))
        guard space == MapSpace.gmfnForeign else {
            return XenHypercallResult(space == MapSpace.gmfnRange ? XenErrno.EOPNOTSUPP.result : XenErrno.ENOSYS.result)
        }
        guard let mapper = resolve(XenBytes.u16(b, L.domid), caller: caller.domain) else {
            return XenHypercallResult(XenErrno.ESRCH.result)
        }
        // xatp_permission_check() and xsm_map_gmfn_foreign() (XenPolicy.mayMapForeign).
        let ownerID = XenBytes.u16(b, L.foreignDomid)
        let asked = ownerID == XenDomID.selfID ? caller.domain : ownerID
        guard policy.mayMapForeign(caller: caller.domain, owner: asked) else {
            return XenHypercallResult(XenErrno.EPERM.result)
        }
        guard let owner = resolve(ownerID, caller: caller.domain) else { return XenHypercallResult(XenErrno.ESRCH.result) }
        guard owner != mapper else { return XenHypercallResult(XenErrno.EINVAL.result) }
        let count = UInt64(XenBytes.u16(b, L.count))
        let idxs = XenBytes.u64(b, L.idxs), gpfns = XenBytes.u64(b, L.gpfns), errs = XenBytes.u64(b, L.errs)
        var i = startExtent
        while i < count {
            if i > startExtent, i - startExtent >= XenHost.extentsPerTrap || platform.hypercallPreemptCheck() {
                let next = (i << MemoryOp.extentShift) | (cmd & MemoryOp.commandMask)
                return .restart(XenArguments(next, arg))
            }
            guard idxs <= UInt64.max - 8 * i, gpfns <= UInt64.max - 8 * i, errs <= UInt64.max - 4 * i,
                  let idx = platform.readU64(idxs &+ 8 &* i), let gfn = platform.readU64(gpfns &+ 8 &* i) else {
                return XenHypercallResult(XenErrno.EFAULT.result)
            }
            let r = mapForeign(mapper: mapper, gfn: gfn, owner: owner, .ram(gfn: idx), readOnly: false, platform: platform)
            var e = [UInt8](repeating: 0, count: 4)
            XenBytes.put32(&e, 0, UInt32(bitPattern: Int32(truncatingIfNeeded: r)))
            guard platform.write(errs &+ 4 &* i, e) else { return XenHypercallResult(XenErrno.EFAULT.result) }
            i += 1
        }
        return XenHypercallResult(0)
    }

    /// One foreign mapping, replacing the mapper's earlier one at that frame. 0 or -errno.
    func mapForeign<P: XenPlatform>(mapper: XenDomainID, gfn: UInt64, owner: XenDomainID, _ page: XenForeignPage,
                                    readOnly: Bool, platform: P) -> Int64 {
        guard gfn < 1 << 36, gfn != XenPage.invalidGFN else { return XenErrno.EINVAL.result }
        let key = XenForeignKey(mapper: mapper, gfn: gfn)
        if let old = foreignMaps.removeValue(forKey: key) {
            platform.unmapForeign(mapper: mapper, gfn: gfn, owner: old.owner, old.page)
        } else if foreignMaps.count >= XenHost.maxForeignMappings {
            return XenErrno.ENOMEM.result
        }
        guard platform.mapForeign(mapper: mapper, gfn: gfn, owner: owner, page, readOnly: readOnly) else {
            return XenErrno.EINVAL.result
        }
        forgetXenPage(domain: mapper, gfn: gfn)
        foreignMaps[key] = XenForeignMapping(owner: owner, page: page)
        return 0
    }

    /// XENMEM_remove_from_physmap: a foreign mapping, one of the domain's Xen pages, or its
    /// RAM page at that frame goes; -ENOENT when nothing is there.
    func removeFromPhysmap<P: XenPlatform>(arg: UInt64, caller: XenCaller, platform: P) -> Int64 {
        typealias L = XenMemoryLayout.RemoveFromPhysmap
        guard let b = platform.readStruct(arg, size: L.size) else { return XenErrno.EFAULT.result }
        guard let d = resolve(XenBytes.u16(b, L.domid), caller: caller.domain) else { return XenErrno.ESRCH.result }
        guard policy.mayActOn(caller: caller.domain, target: d) else { return XenErrno.EPERM.result }
        let gfn = XenBytes.u64(b, L.gpfn)
        guard gfn < 1 << 36 else { return XenErrno.EINVAL.result }
        return removePage(of: d, gfn: gfn, platform: platform) ? 0 : XenErrno.ENOENT.result
    }

    /// XENMEM_acquire_resource of a domain's grant table (shared frames): with no frame
    /// list, the number of frames it may have; otherwise its frames `frame`... mapped at
    /// the caller's frames in `frame_list` (Arm's callers are translated).
    func acquireResource<P: XenPlatform>(arg: UInt64, caller: XenCaller, platform: P) -> Int64 {
        typealias L = XenMemoryLayout.AcquireResource
        guard var b = platform.readStruct(arg, size: L.size) else { return XenErrno.EFAULT.result }
        guard XenBytes.u32(b, L.pad) == 0 else { return XenErrno.EINVAL.result }
        guard let d = resolve(XenBytes.u16(b, L.domid), caller: caller.domain) else { return XenErrno.ESRCH.result }
        guard policy.mayActOn(caller: caller.domain, target: d) else { return XenErrno.EPERM.result }
        guard XenBytes.u16(b, L.type) == L.grantTable else { return XenErrno.EOPNOTSUPP.result }
        // Status frames exist only with grant v2, which Arm does not have.
        guard XenBytes.u32(b, L.id) == L.grantShared else { return XenErrno.EINVAL.result }
        let n = XenBytes.u32(b, L.nrFrames), list = XenBytes.u64(b, L.frameList)
        let limit = grants.table(d)?.maxFrames ?? 0
        if list == 0 {
            guard n == 0 else { return XenErrno.EINVAL.result }
            XenBytes.put32(&b, L.nrFrames, limit)
            return platform.write(arg, b) ? 0 : XenErrno.EFAULT.result
        }
        guard n <= L.maxFrames else { return XenErrno.E2BIG.result }
        let first = XenBytes.u64(b, L.frame)
        guard first < 1 << 32, first + UInt64(n) <= UInt64(limit) else { return XenErrno.EINVAL.result }
        guard d != caller.domain else { return XenErrno.EINVAL.result }
        for i in 0..<UInt64(n) {
            guard let gfn = platform.readU64(list &+ 8 &* i) else { return XenErrno.EFAULT.result }
            let index = UInt32(first + i)
            do { try grants.grow(domain: d, toCover: index) } catch { return error.result }
            // Grant entries are read where the granter has its frame: a domain being built
            // has not mapped its table yet, so the frame goes where its device tree says
            // (GUEST_GNTTAB_BASE), where its Linux maps it later.
            if grants.table(d)?.frameGFN[Int(index)] == nil {
                let home = GuestLayout.grantTableBase >> 12 + UInt64(index)
                guard platform.mapXenPage(domain: d, .grantFrame(index), gfn: home) else { return XenErrno.ENOMEM.result }
                forgetXenPage(domain: d, gfn: home)
                grants.setFrameGFN(domain: d, index: index, gfn: home)
            }
            let r = mapForeign(mapper: caller.domain, gfn: gfn, owner: d, .xen(.grantFrame(index)), readOnly: false,
                               platform: platform)
            guard r == 0 else { return r }
        }
        return 0
    }

    /// The foreign mappings `owner`'s pages still have (the hypervisor keeps its memory
    /// while there are any).
    public func foreignMappings(of owner: XenDomainID) -> Int {
        foreignMaps.mappings.reduce(0) { $0 + ($1.owner == owner ? 1 : 0) }
    }
}
