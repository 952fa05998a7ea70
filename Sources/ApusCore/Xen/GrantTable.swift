/// One domain's grant table, version 1 (xen/common/grant_table.c): the frames the guest
/// mapped with XENMAPSPACE_grant_table (entries live in guest-visible memory, reached
/// through `GuestPhysicalMemory` at the frame's guest physical address), the active
/// (pinned) entries of this domain's grants, and the maptrack handles of the grants this
/// domain has mapped from others.

/// An in-use grant of this domain (Xen's `active_grant_entry`).
public struct ActiveGrant: Equatable, Sendable {
    public var ref: UInt32
    /// GNTPIN counters: host-writable in bits 0-7, host-read-only in bits 8-15
    /// (device bits 16-31 are never used on Arm, where device mappings are refused).
    public var pin: UInt32
    /// The domain using the grant (`act->domid`).
    public var user: XenDomainID
    /// The granting domain's frame, fixed while pinned.
    public var frame: UInt64
}

/// A mapping this domain holds of another domain's grant (Xen's `grant_mapping`).
public struct GrantMapping: Equatable, Sendable {
    public var granter: XenDomainID
    public var ref: UInt32
    /// GNTMAP_host_map and GNTMAP_readonly as mapped.
    public var flags: UInt32
    /// Where it is mapped in this domain (host_addr >> 12).
    public var hostGFN: UInt64
}

enum GrantPin {
    static let hostWriteInc: UInt32 = 1 << 0
    static let hostWriteMask: UInt32 = 0xFF << 0
    static let hostReadInc: UInt32 = 1 << 8
    static let hostReadMask: UInt32 = 0xFF << 8
    static let deviceWriteMask: UInt32 = 0xFF << 16
    /// GNTPIN_incr2oflow_mask: refuse a pin that would reach 128 in its counter.
    static func overflowMask(_ inc: UInt32) -> UInt32 { inc << 7 }
}

public struct GrantTable: Sendable {
    /// INITIAL_NR_GRANT_FRAMES on Arm.
    public static let initialFrames: UInt32 = 1
    /// opt_max_grant_frames (Xen 4.17 default).
    public static let defaultMaxFrames: UInt32 = 64
    public static let defaultMaxMappings: UInt32 = 4096

    public let domain: XenDomainID
    public let maxFrames: UInt32
    public let maxMappings: UInt32
    /// `nr_grant_frames`: grows on setup_table and add_to_physmap.
    public private(set) var frameCount: UInt32 = GrantTable.initialFrames
    /// Guest frame where each grant frame is mapped (nil = not mapped), per frame index.
    public internal(set) var frameGFN: [UInt64?]
    /// Pinned entries, sorted by ref.
    public private(set) var active: [ActiveGrant] = []
    /// Maptrack: mappings held by this domain, indexed by grant handle.
    public private(set) var maptrack: [GrantMapping?] = []
    private var freeHandles: [UInt32] = []
    /// Mappings in `maptrack` per granting domain (index: domain id; grown on demand), so
    /// a granter's teardown skips mappers holding none of its grants and stops scanning a
    /// mapper's maptrack once it has found them all.
    private var mappingsPerGranter: [UInt32] = []
    /// `d->is_dying`: the domain is being torn down (XenHost.beginDestroy); its grants can
    /// be neither mapped nor copied any more.
    public internal(set) var isDying = false

    public init(domain: XenDomainID, maxFrames: UInt32 = GrantTable.defaultMaxFrames,
                maxMappings: UInt32 = GrantTable.defaultMaxMappings) {
        self.domain = domain
        self.maxFrames = max(GrantTable.initialFrames, min(maxFrames, 1024))
        self.maxMappings = min(maxMappings, 1 << 20)
        frameGFN = [UInt64?](repeating: nil, count: Int(self.maxFrames))
    }

    /// `nr_grant_entries()`.
    public var entryCount: UInt32 { frameCount &* XenLayout.GrantEntryV1.perFrame }

    /// gnttab_grow_table(): false beyond max_grant_frames.
    mutating func grow(to frames: UInt32) -> Bool {
        guard frames <= maxFrames else { return false }
        if frames > frameCount { frameCount = frames }
        return true
    }

    /// Guest physical address of entry `ref`, nil if its frame is not mapped or ref is out of range.
    public func entryAddress(_ ref: UInt32) -> UInt64? {
        guard ref < entryCount else { return nil }
        let f = Int(ref / XenLayout.GrantEntryV1.perFrame)
        guard f < frameGFN.count, let gfn = frameGFN[f] else { return nil }
        return (gfn << XenPage.shift) &+ UInt64(ref % XenLayout.GrantEntryV1.perFrame) &* UInt64(XenLayout.GrantEntryV1.size)
    }

    /// Frame index mapped at `gfn`, if any.
    public func frameIndex(at gfn: UInt64) -> UInt32? {
        for i in 0..<frameGFN.count where frameGFN[i] == gfn { return UInt32(i) }
        return nil
    }

    func activeSlot(_ ref: UInt32) -> (found: Bool, index: Int) {
        var lo = 0, hi = active.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if active[mid].ref < ref { lo = mid + 1 } else { hi = mid }
        }
        return (lo < active.count && active[lo].ref == ref, lo)
    }

    public func activeEntry(_ ref: UInt32) -> ActiveGrant? {
        let s = activeSlot(ref)
        return s.found ? active[s.index] : nil
    }

    /// Stores `a`; an entry whose pin dropped to zero is forgotten.
    mutating func setActive(_ a: ActiveGrant) {
        let s = activeSlot(a.ref)
        if a.pin == 0 {
            if s.found { active.remove(at: s.index) }
        } else if s.found {
            active[s.index] = a
        } else {
            active.insert(a, at: s.index)
        }
    }

    /// get_maptrack_handle(): nil when the domain holds `maxMappings` already.
    mutating func allocateHandle() -> UInt32? {
        if let h = freeHandles.popLast() { return h }
        guard UInt32(maptrack.count) < maxMappings else { return nil }
        maptrack.append(nil)
        return UInt32(maptrack.count - 1)
    }

    mutating func setMapping(_ handle: UInt32, _ m: GrantMapping?) {
        guard handle < UInt32(maptrack.count) else { return }
        // An orphan (its granter gone) is no longer one of the granter's mappings.
        if let old = maptrack[Int(handle)], old.flags & GrantMapFlags.orphan == 0 { countMapping(of: old.granter, -1) }
        maptrack[Int(handle)] = m
        if let m, m.flags & GrantMapFlags.orphan == 0 { countMapping(of: m.granter, 1) }
    }

    mutating func releaseHandle(_ handle: UInt32) {
        guard handle < UInt32(maptrack.count) else { return }
        setMapping(handle, nil)
        freeHandles.append(handle)
    }

    private mutating func countMapping(of granter: XenDomainID, _ delta: Int) {
        let g = Int(granter)
        if delta > 0 {
            while mappingsPerGranter.count <= g { mappingsPerGranter.append(0) }
            mappingsPerGranter[g] &+= 1
        } else if g < mappingsPerGranter.count, mappingsPerGranter[g] > 0 {
            mappingsPerGranter[g] -= 1
        }
    }

    /// How many of this domain's mappings are of `granter`'s grants.
    public func mappingCount(of granter: XenDomainID) -> UInt32 {
        Int(granter) < mappingsPerGranter.count ? mappingsPerGranter[Int(granter)] : 0
    }

    public func mapping(_ handle: UInt32) -> GrantMapping? {
        handle < UInt32(maptrack.count) ? maptrack[Int(handle)] : nil
    }
}
