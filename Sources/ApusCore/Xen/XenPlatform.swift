/// What the Xen ABI core needs from the hypervisor, beyond guest memory access.
/// Used only as a generic constraint. Calls happen while the hypervisor holds whatever
/// lock serialises `XenHost` (the core itself does no locking).
public protocol XenPlatform: GuestMemory, GuestPhysicalMemory {
    /// An event needs the hypervisor: if `upcall`, raise PPI 31 (level) on
    /// (event.domain, event.vcpu) and wake that vCPU if it waits; unblock every vCPU in
    /// `wake` (SCHEDOP_poll); if `servicePort` is set, the event is for a hypervisor service.
    func deliver(_ event: EventDelivery)

    /// Is `gfn` ordinary RAM of `domain` (not MMIO, not a grant or Xen page)? Granted frames
    /// and vcpu_info pages must be.
    func isRAM(domain: XenDomainID, gfn: UInt64) -> Bool

    /// Map a page the hypervisor provides for `domain` (its shared_info, or grant-table frame
    /// `index`) at `gfn` in the domain's p2m, read-write, replacing whatever was there.
    /// The page is zero when first created and keeps its content. False if the p2m refuses.
    func mapXenPage(domain: XenDomainID, _ page: XenSharedPage, gfn: UInt64) -> Bool

    /// Map `granter`'s RAM frame `frame` at `gfn` in `mapper`'s p2m (read-only if asked),
    /// replacing what was there. Returns the host physical address (reported to the guest
    /// as dev_bus_addr), or nil if the p2m refuses.
    func mapGrant(mapper: XenDomainID, gfn: UInt64, granter: XenDomainID, frame: UInt64, readOnly: Bool) -> UInt64?

    /// Remove the mapping at `gfn` of `mapper` if it still maps `granter`'s `frame`
    /// (guest_physmap_remove_page); false otherwise.
    func unmapGrant(mapper: XenDomainID, gfn: UInt64, granter: XenDomainID, frame: UInt64) -> Bool

    /// The domain whose RAM holds machine address `maddr`, and the guest frame it is at there
    /// (Xen's page_get_owner); nil for memory no domain owns (the hypervisor's, devices).
    func frameOwner(machineAddress maddr: UInt64) -> (domain: XenDomainID, gfn: UInt64)?

    /// GNTTABOP_cache_flush's maintenance of [maddr, maddr + length) (within one page).
    func cacheMaintenance(machineAddress maddr: UInt64, length: Int, clean: Bool, invalidate: Bool)

    /// The vCPU is down (never started or stopped with PSCI CPU_OFF).
    func isVCPUDown(domain: XenDomainID, vcpu: UInt32) -> Bool

    /// console_io (hypercall 18) is the hypervisor's own: return x0.
    func consoleIO(caller: XenCaller, cmd: UInt64, count: UInt64, buffer: UInt64) -> Int64

    /// Xen's `hypercall_preempt_check()`: should the hypercall stop at this safe point and
    /// continue in a later trap? Asked between the units of a guest-sized batch (multicall
    /// entries, grant map/unmap/copy entries, ports of an event-channel reset), never before
    /// the first unit of a trap, so every trap makes progress. True when this trap has done
    /// enough expensive work (e.g. populated a RAM block) or something else wants the CPU
    /// (an interrupt is pending, another vCPU waits for the lock); the hypercall then ends
    /// with a continuation exactly as Xen's would. Default: never (the fixed batch limits
    /// `XenHost.multicallBatch` and `grantBatch` still bound a trap).
    func hypercallPreemptCheck() -> Bool

    /// The hypervisor's monotonic time in ns (Xen's NOW()). Asked only by the few hypercalls
    /// that need it, not read on every hypercall.
    func now() -> UInt64

    /// The board as sysctl physinfo reports it.
    func boardFacts() -> XenBoardFacts

    /// What the toolstack's getdomaininfo reports of `domain` that only the hypervisor knows
    /// (memory, the shared_info frame, pause state); nil when it has no such domain.
    func domainFacts(_ domain: XenDomainID) -> XenDomainFacts?

    /// The toolstack paused `domain` (its pause count went 0 -> 1: its vCPUs must stop
    /// running) or unpaused it (1 -> 0: they may run again).
    func setPaused(_ domain: XenDomainID, _ paused: Bool)

    /// The physical CPU `vcpu` of `domain` runs on (or last ran on) and its hard affinity
    /// (bit n: may run on CPU n).
    func vcpuPlacement(domain: XenDomainID, vcpu: UInt32) -> (cpu: UInt32, hardAffinity: UInt64)

    /// The credit2 parameters of `domain` (its first vCPU's weight and cap), nil when none.
    func schedulerParameters(domain: XenDomainID) -> (weight: UInt16, cap: UInt16)?

    /// scheduler_op putinfo for every vCPU of `domain` (nil: keep).
    func setSchedulerParameters(domain: XenDomainID, weight: UInt16?, cap: UInt16?)

    /// credit2's context-switch rate limit in microseconds (sysctl scheduler_op getinfo):
    /// the value last set, Xen's 1000 until then.
    func schedulerRateLimit() -> UInt32

    /// sysctl scheduler_op putinfo: the rate limit (0, or within 100...500000 µs: the core
    /// checks). False when there is no scheduler to give it to.
    func setSchedulerRateLimit(_ microseconds: UInt32) -> Bool

    /// setvcpuaffinity (hard): the effective mask, nil when refused.
    func setVCPUAffinity(domain: XenDomainID, vcpu: UInt32, mask: UInt64) -> UInt64?

    /// XEN_SYSCTL_readconsole on the hypervisor's console ring (ConsoleRing.read).
    func readConsoleRing(index: UInt32, max: UInt32, incremental: Bool, clear: Bool) -> (bytes: [UInt8], next: UInt32)

    // MARK: building domains (the toolstack's createdomain, memory_op on other domains)

    /// createdomain: the hypervisor's half of domain `id`: `vcpus` vCPUs (all down), a vGIC
    /// with `spis` SPIs, an empty p2m, no RAM yet; paused. False when there is no room
    /// (the slot is still in use, no memory).
    func createDomain(_ id: XenDomainID, vcpus: UInt32, spis: UInt32) -> Bool

    /// max_mem: `pages` may be the domain's. The first call reserves its RAM bank (at
    /// GUEST_RAM0_BASE); later ones may not go past it. False when refused.
    func setMaxMemory(_ domain: XenDomainID, pages: UInt64) -> Bool

    /// populate_physmap of 2^`order` frames at `gfn` (aligned) for `domain`: they become
    /// RAM the domain owns, zero at first sight. False when not possible (outside what
    /// the domain may have, above max_mem).
    func populate(domain: XenDomainID, gfn: UInt64, order: UInt32) -> Bool

    /// decrease_reservation of frame `gfn` of `domain`: no longer mapped. A direct-mapped
    /// domain keeps the page (Xen: it can only be populated back at the same frame).
    /// False when nothing is there.
    func depopulate(domain: XenDomainID, gfn: UInt64) -> Bool

    /// A foreign mapping: `owner`'s page (RAM frame or one of its Xen pages) at `gfn` of
    /// `mapper`, replacing what was there. The page stays the owner's and stays allocated
    /// while mapped, even after the owner is destroyed. False when it is not the owner's.
    func mapForeign(mapper: XenDomainID, gfn: UInt64, owner: XenDomainID, _ page: XenForeignPage, readOnly: Bool) -> Bool

    /// Removes a foreign mapping `mapForeign` made (the mapper's own RAM page comes back
    /// where it was direct-mapped).
    func unmapForeign(mapper: XenDomainID, gfn: UInt64, owner: XenDomainID, _ page: XenForeignPage)

    /// setvcpucontext on a paused domain's vCPU. False when refused.
    func setVCPUContext(domain: XenDomainID, vcpu: UInt32, _ context: XenVCPUContext) -> Bool

    /// XEN_DOMCTL_cacheflush: clean and invalidate `count` frames from `gfn` of `domain`
    /// to the point of coherency (what the toolstack wrote, before the guest runs with its
    /// caches off). Frames it does not have are skipped.
    func cacheFlush(domain: XenDomainID, gfn: UInt64, count: UInt64)
}

/// A page of another domain that a foreign mapping names.
public enum XenForeignPage: Equatable, Sendable {
    /// Its RAM at this guest frame.
    case ram(gfn: UInt64)
    /// One of its Xen pages (acquire_resource: a grant-table frame).
    case xen(XenSharedPage)
}

/// The board, for sysctl physinfo.
public struct XenBoardFacts: Equatable, Sendable {
    public var cpus: UInt32
    /// The generic timer's frequency in kHz (Xen/Arm's cpu_khz).
    public var cpuKHz: UInt32
    public var totalPages: UInt64
    public var freePages: UInt64
    /// One past the highest RAM frame.
    public var maxMFN: UInt64

    public init(cpus: UInt32, cpuKHz: UInt32, totalPages: UInt64, freePages: UInt64, maxMFN: UInt64) {
        self.cpus = cpus; self.cpuKHz = cpuKHz; self.totalPages = totalPages
        self.freePages = freePages; self.maxMFN = maxMFN
    }
}

/// A domain as the hypervisor sees it, for getdomaininfo.
public struct XenDomainFacts: Equatable, Sendable {
    public var totPages: UInt64
    public var maxPages: UInt64
    /// Machine frame of its shared_info page (Arm Xen reports the MFN).
    public var sharedInfoFrame: UInt64
    /// Bits of guest physical address its p2m translates.
    public var gpaddrBits: UInt8

    public init(totPages: UInt64, maxPages: UInt64, sharedInfoFrame: UInt64, gpaddrBits: UInt8 = 39) {
        self.totPages = totPages; self.maxPages = maxPages; self.sharedInfoFrame = sharedInfoFrame
        self.gpaddrBits = gpaddrBits
    }
}

extension XenPlatform {
    public func hypercallPreemptCheck() -> Bool { false }
    public func boardFacts() -> XenBoardFacts { XenBoardFacts(cpus: 1, cpuKHz: 62_500, totalPages: 0, freePages: 0, maxMFN: 0) }
    public func domainFacts(_ domain: XenDomainID) -> XenDomainFacts? { nil }
    public func setPaused(_ domain: XenDomainID, _ paused: Bool) {}
    public func schedulerParameters(domain: XenDomainID) -> (weight: UInt16, cap: UInt16)? { nil }
    public func setSchedulerParameters(domain: XenDomainID, weight: UInt16?, cap: UInt16?) {}
    public func schedulerRateLimit() -> UInt32 { FairScheduler.defaultRateLimitMicroseconds }
    public func setSchedulerRateLimit(_ microseconds: UInt32) -> Bool { false }
    public func setVCPUAffinity(domain: XenDomainID, vcpu: UInt32, mask: UInt64) -> UInt64? { nil }
    public func vcpuPlacement(domain: XenDomainID, vcpu: UInt32) -> (cpu: UInt32, hardAffinity: UInt64) { (0, ~0) }
    public func readConsoleRing(index: UInt32, max: UInt32, incremental: Bool, clear: Bool) -> (bytes: [UInt8], next: UInt32) {
        ([], index)
    }
    public func frameOwner(machineAddress maddr: UInt64) -> (domain: XenDomainID, gfn: UInt64)? { nil }
    public func cacheMaintenance(machineAddress maddr: UInt64, length: Int, clean: Bool, invalidate: Bool) {}
    public func createDomain(_ id: XenDomainID, vcpus: UInt32, spis: UInt32) -> Bool { false }
    public func setMaxMemory(_ domain: XenDomainID, pages: UInt64) -> Bool { false }
    public func populate(domain: XenDomainID, gfn: UInt64, order: UInt32) -> Bool { false }
    public func depopulate(domain: XenDomainID, gfn: UInt64) -> Bool { false }
    public func mapForeign(mapper: XenDomainID, gfn: UInt64, owner: XenDomainID, _ page: XenForeignPage, readOnly: Bool) -> Bool { false }
    public func unmapForeign(mapper: XenDomainID, gfn: UInt64, owner: XenDomainID, _ page: XenForeignPage) {}
    public func setVCPUContext(domain: XenDomainID, vcpu: UInt32, _ context: XenVCPUContext) -> Bool { false }
    public func cacheFlush(domain: XenDomainID, gfn: UInt64, count: UInt64) {}
}

/// Pages Xen owns and maps into a guest on XENMEM_add_to_physmap.
public enum XenSharedPage: Equatable, Sendable {
    case sharedInfo
    case grantFrame(UInt32)
}

/// Who makes a hypercall (the time, when a hypercall needs it, is `XenPlatform.now()`).
public struct XenCaller: Equatable, Sendable {
    public var domain: XenDomainID
    public var vcpu: UInt32

    public init(domain: XenDomainID, vcpu: UInt32) {
        self.domain = domain
        self.vcpu = vcpu
    }
}

/// Hypercall arguments x0...x4.
public struct XenArguments: Equatable, Sendable {
    public var x0: UInt64, x1: UInt64, x2: UInt64, x3: UInt64, x4: UInt64
    public init(_ x0: UInt64 = 0, _ x1: UInt64 = 0, _ x2: UInt64 = 0, _ x3: UInt64 = 0, _ x4: UInt64 = 0) {
        self.x0 = x0; self.x1 = x1; self.x2 = x2; self.x3 = x3; self.x4 = x4
    }
}

/// What the hypervisor must do with the calling vCPU after writing the result to x0 (or
/// the registers of a reissue, XenHypercallResult.reissue).
public enum XenAction: Equatable, Sendable {
    case none
    /// SCHEDOP_yield: let another vCPU run.
    case yield
    /// SCHEDOP_block: clear PSTATE.I in the guest's saved SPSR, then block the vCPU until an
    /// interrupt is pending for it (no block if one already is).
    case block
    /// SCHEDOP_poll: block until one of the polled ports fires (`deliver` lists the vCPU in
    /// `wake`), an interrupt is pending (then call `XenHost.endPoll`), or `deadline` (ns,
    /// hypervisor time) passes (also `endPoll`). Do not block if an interrupt is already pending.
    case poll(deadline: UInt64?)
    /// Stop all vCPUs of `domain` for `reason` (SHUTDOWN_*: 0 poweroff, 1 reboot, 2 suspend,
    /// 3 crash, 4 watchdog, 5 soft reset).
    case shutdown(domain: XenDomainID, reason: UInt8)
    /// XEN_DOMCTL_destroydomain: tear `domain` down (after the hypercall, with no lock held).
    case destroy(domain: XenDomainID)
}

/// A hypercall's outcome. Small on purpose: it is returned on every hypercall, and the
/// null hypercall's cost is mostly the moving of this value.
public struct XenHypercallResult: Equatable, Sendable {
    /// x0 (a negative errno on failure); ignored when `reissue` is set.
    public var result: Int64
    public var action: XenAction
    /// Set when the guest must issue the hypercall again: the hypervisor sets x0-x4 to these
    /// (x0 is not the result), rewinds the PC by 4, and then performs `action` (Xen's
    /// hypercall_create_continuation on Arm). Two cases:
    /// - preempted (`.restart`, action `.none`): a long multicall, grant batch or
    ///   EVTCHNOP_reset stopped after its budget, to go on at the next trap;
    /// - a multicall whose entry asked for `.yield`, `.block`, `.poll` or `.shutdown` before
    ///   the last entry: it stops there (in Xen the action raises SCHEDULE_SOFTIRQ, so the
    ///   next entry's hypercall_preempt_check() is true) and the guest issues the remaining
    ///   entries when the vCPU runs again.
    public var reissue: XenArguments?

    public init(_ result: Int64, _ action: XenAction = .none, continuation: XenArguments? = nil) {
        self.result = result
        self.action = action
        self.reissue = continuation
    }

    /// Preempted: reissue with `next` (x0-x4), no action.
    public static func restart(_ next: XenArguments) -> XenHypercallResult {
        XenHypercallResult(0, .none, continuation: next)
    }

    /// x0 as the register value.
    public var x0: UInt64 { UInt64(bitPattern: result) }
}
