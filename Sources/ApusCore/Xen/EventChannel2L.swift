/// The 2-level event delivery of xen/common/event_2l.c and vcpu_mark_events_pending() of
/// xen/arch/arm/domain.c, acting on the guest's own shared_info and vcpu_info pages:
///
///   set pending:  test_and_set(shared_info.evtchn_pending[port]) — if it was already set, stop;
///                 if !evtchn_mask[port] and !test_and_set(vcpu_info.evtchn_pending_sel[port / 64])
///                 then test_and_set(vcpu_info.evtchn_upcall_pending) and, on its 0 -> 1 only,
///                 inject the upcall PPI (31) into that vCPU.
///   unmask:       if test_and_clear(evtchn_mask[port]) and evtchn_pending[port] and
///                 !test_and_set(pending_sel[port / 64]) then mark events pending as above.

/// What an event requires of the hypervisor.
public struct EventDelivery: Equatable, Sendable {
    public var domain: XenDomainID
    public var vcpu: UInt32
    /// evtchn_upcall_pending went 0 -> 1: raise PPI 31 on (domain, vcpu) and wake it.
    public var upcall: Bool
    /// vCPUs of `domain` blocked in SCHEDOP_poll that must be unblocked.
    public var wake: [UInt32]
    /// Set when `domain` is a hypervisor service endpoint: the event is for the hypervisor.
    public var servicePort: UInt32?

    public init(domain: XenDomainID, vcpu: UInt32, upcall: Bool, wake: [UInt32] = [], servicePort: UInt32? = nil) {
        self.domain = domain
        self.vcpu = vcpu
        self.upcall = upcall
        self.wake = wake
        self.servicePort = servicePort
    }

    /// Nothing for the hypervisor to do.
    public var isEmpty: Bool { !upcall && wake.isEmpty && servicePort == nil }
}

extension EventChannelTable {
    static func wordAndBit(_ port: UInt32) -> (offset: UInt64, bit: UInt64) {
        (UInt64(port / 64) &* 8, UInt64(1) << UInt64(port % 64))
    }

    /// `evtchn_2l_set_pending()` followed by `evtchn_check_pollers()`. The caller has checked
    /// that the channel is usable. Returns nil when nothing changed (already pending, no
    /// shared_info mapped).
    public mutating func setPending<M: GuestPhysicalMemory>(port: UInt32, vcpu: UInt32, memory: M) -> EventDelivery? {
        guard port < EventChannelTable.twoLevelPorts, hasVCPU(vcpu) else { return nil }
        if isServiceEndpoint {
            return EventDelivery(domain: domain, vcpu: vcpu, upcall: false, servicePort: port)
        }
        guard let shared = sharedInfoAddress else { return nil }
        let (word, bit) = EventChannelTable.wordAndBit(port)
        let pendingAddr = shared &+ UInt64(XenLayout.SharedInfo.evtchnPending) &+ word
        guard let old = memory.fetchOr64(domain: domain, pendingAddr, bit), old & bit == 0 else { return nil }

        var upcall = false
        let maskAddr = shared &+ UInt64(XenLayout.SharedInfo.evtchnMask) &+ word
        if let mask = memory.load64(domain: domain, maskAddr), mask & bit == 0 {
            upcall = selectAndMarkPending(port: port, vcpu: vcpu, memory: memory)
        }
        let wake = checkPollers(port: port)
        if !upcall && wake.isEmpty { return nil }
        return EventDelivery(domain: domain, vcpu: vcpu, upcall: upcall, wake: wake)
    }

    /// test_and_set(pending_sel[port / 64]) and, if newly set, vcpu_mark_events_pending().
    func selectAndMarkPending<M: GuestPhysicalMemory>(port: UInt32, vcpu: UInt32, memory: M) -> Bool {
        guard let info = vcpuInfoAddress(vcpu) else { return false }   // Xen's dummy vcpu_info
        let selBit = UInt64(1) << UInt64(port / 64)
        guard let oldSel = memory.fetchOr64(domain: domain, info &+ UInt64(XenLayout.VCPUInfo.pendingSel), selBit),
              oldSel & selBit == 0 else { return false }
        return markEventsPending(vcpu: vcpu, memory: memory)
    }

    /// `vcpu_mark_events_pending()`: test_and_set bit 0 of the word holding
    /// evtchn_upcall_pending; true on its 0 -> 1 transition (inject the PPI then).
    public func markEventsPending<M: GuestPhysicalMemory>(vcpu: UInt32, memory: M) -> Bool {
        guard let info = vcpuInfoAddress(vcpu) else { return false }
        guard let old = memory.fetchOr64(domain: domain, info &+ UInt64(XenLayout.VCPUInfo.upcallPending), 1) else {
            return false
        }
        return old & 1 == 0
    }

    /// `evtchn_2l_clear_pending()`.
    public func clearPending<M: GuestPhysicalMemory>(port: UInt32, memory: M) {
        guard port < EventChannelTable.twoLevelPorts, !isServiceEndpoint, let shared = sharedInfoAddress else { return }
        let (word, bit) = EventChannelTable.wordAndBit(port)
        _ = memory.fetchAnd64(domain: domain, shared &+ UInt64(XenLayout.SharedInfo.evtchnPending) &+ word, ~bit)
    }

    /// `evtchn_2l_unmask()`: on an upcall, the delivery goes to the channel's notify vCPU.
    public func unmask<M: GuestPhysicalMemory>(port: UInt32, memory: M) -> EventDelivery? {
        guard let ch = channel(port), port < EventChannelTable.twoLevelPorts, !isServiceEndpoint,
              let shared = sharedInfoAddress else { return nil }
        let (word, bit) = EventChannelTable.wordAndBit(port)
        guard let oldMask = memory.fetchAnd64(domain: domain, shared &+ UInt64(XenLayout.SharedInfo.evtchnMask) &+ word, ~bit),
              oldMask & bit != 0,
              let pending = memory.load64(domain: domain, shared &+ UInt64(XenLayout.SharedInfo.evtchnPending) &+ word),
              pending & bit != 0 else { return nil }
        guard selectAndMarkPending(port: port, vcpu: ch.notifyVCPU, memory: memory) else { return nil }
        return EventDelivery(domain: domain, vcpu: ch.notifyVCPU, upcall: true)
    }

    /// `evtchn_2l_is_pending()`.
    public func isPending<M: GuestPhysicalMemory>(port: UInt32, memory: M) -> Bool {
        guard port < EventChannelTable.twoLevelPorts, let shared = sharedInfoAddress else { return false }
        let (word, bit) = EventChannelTable.wordAndBit(port)
        guard let w = memory.load64(domain: domain, shared &+ UInt64(XenLayout.SharedInfo.evtchnPending) &+ word) else {
            return false
        }
        return w & bit != 0
    }

    /// `evtchn_2l_is_masked()` (ports beyond the 2-level range count as masked).
    public func isMasked<M: GuestPhysicalMemory>(port: UInt32, memory: M) -> Bool {
        guard port < EventChannelTable.twoLevelPorts else { return true }
        guard let shared = sharedInfoAddress else { return false }
        let (word, bit) = EventChannelTable.wordAndBit(port)
        guard let w = memory.load64(domain: domain, shared &+ UInt64(XenLayout.SharedInfo.evtchnMask) &+ word) else {
            return false
        }
        return w & bit != 0
    }

    /// `evtchn_check_pollers()`: vCPUs polling any port or this one are unblocked.
    mutating func checkPollers(port: UInt32) -> [UInt32] {
        var wake: [UInt32] = []
        for v in 0..<polling.count {
            switch polling[v] {
            case .none: continue
            case .any: break
            case .port(let p): if p != port { continue }
            }
            polling[v] = .none
            wake.append(UInt32(v))
        }
        return wake
    }
}
