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

    /// The vCPU is down (never started or stopped with PSCI CPU_OFF).
    func isVCPUDown(domain: XenDomainID, vcpu: UInt32) -> Bool

    /// console_io (hypercall 18) is the hypervisor's own: return x0.
    func consoleIO(caller: XenCaller, cmd: UInt64, count: UInt64, buffer: UInt64) -> Int64
}

/// Pages Xen owns and maps into a guest on XENMEM_add_to_physmap.
public enum XenSharedPage: Equatable, Sendable {
    case sharedInfo
    case grantFrame(UInt32)
}

/// Who makes a hypercall, and when.
public struct XenCaller: Equatable, Sendable {
    public var domain: XenDomainID
    public var vcpu: UInt32
    /// The hypervisor's monotonic time in ns (Xen's NOW()).
    public var now: UInt64

    public init(domain: XenDomainID, vcpu: UInt32, now: UInt64 = 0) {
        self.domain = domain
        self.vcpu = vcpu
        self.now = now
    }
}

/// Hypercall arguments x0...x4.
public struct XenArguments: Equatable, Sendable {
    public var x0: UInt64, x1: UInt64, x2: UInt64, x3: UInt64, x4: UInt64
    public init(_ x0: UInt64 = 0, _ x1: UInt64 = 0, _ x2: UInt64 = 0, _ x3: UInt64 = 0, _ x4: UInt64 = 0) {
        self.x0 = x0; self.x1 = x1; self.x2 = x2; self.x3 = x3; self.x4 = x4
    }
}

/// What the hypervisor must do with the calling vCPU after writing the result to x0.
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
    /// Preempted: do not write x0; set x0-x4 to these and rewind the PC by 4 so the guest
    /// issues the hypercall again (Xen's hypercall_create_continuation on Arm).
    case restart(XenArguments)

    /// When a multicall batches several calls, the one that affects the vCPU most wins.
    var weight: Int {
        switch self {
        case .none: return 0
        case .yield: return 1
        case .block, .poll: return 2
        case .shutdown: return 3
        case .restart: return 4
        }
    }
}

public struct XenHypercallResult: Equatable, Sendable {
    /// x0 (a negative errno on failure); ignore for `.restart`.
    public var result: Int64
    public var action: XenAction

    public init(_ result: Int64, _ action: XenAction = .none) {
        self.result = result
        self.action = action
    }

    /// x0 as the register value.
    public var x0: UInt64 { UInt64(bitPattern: result) }
}
