/// One domain's event channels (xen/common/event_channel.c), 2-level ABI.
///
/// Ports are allocated lazily in buckets of 64 (Xen's `valid_evtchns`); a port below
/// `validPorts` exists even if free. Port 0 is reserved at creation, as in evtchn_init().
/// The pending/mask bits themselves live in the guest's shared_info page, reached through
/// `GuestPhysicalMemory` (see EventChannel2L.swift).

public enum EventChannelState: Equatable, Sendable {
    case free
    case reserved
    /// Waiting for `remote` to bind_interdomain to it.
    case unbound(remote: XenDomainID)
    case interdomain(remote: XenDomainID, remotePort: UInt32)
    case virq(UInt32)
    case ipi

    /// `evtchn_usable()`: anything but free and reserved.
    public var isUsable: Bool {
        switch self {
        case .free, .reserved: return false
        default: return true
        }
    }
}

public struct EventChannel: Equatable, Sendable {
    public var state: EventChannelState = .free
    /// The vCPU whose vcpu_info receives the upcall (`notify_vcpu_id`).
    public var notifyVCPU: UInt32 = 0
}

/// SCHEDOP_poll state of a vCPU (`poll_evtchn` and the domain's poll_mask).
public enum EventPollState: Equatable, Sendable {
    case none
    /// Woken by any event of the domain (nr_ports != 1).
    case any
    case port(UInt32)
}

public struct EventChannelTable: Sendable {
    public static let portsPerBucket: UInt32 = 64
    /// EVTCHN_2L_NR_CHANNELS.
    public static let twoLevelPorts: UInt32 = 4096
    /// Xen's default for a dom0less domU (max_evtchn_port = 1023).
    public static let defaultMaxPort: UInt32 = 1023

    public let domain: XenDomainID
    public let vcpuCount: UInt32
    /// `max_evtchn_port`: the highest port that may be allocated.
    public let maxPort: UInt32
    /// A hypervisor-implemented endpoint (no guest memory): events to it are reported
    /// in `EventDelivery.servicePort` instead of being written to a shared_info page.
    public let isServiceEndpoint: Bool

    public private(set) var channels: [EventChannel]
    /// `virq_to_evtchn[]` per vCPU, flattened: index vcpu * NR_VIRQS + virq; 0 = unbound.
    private var virqPorts: [UInt32]
    /// Allocated ports (not counting reserved port 0): `active_evtchns`.
    public private(set) var activeCount: Int = 0

    /// Where the guest mapped shared_info (XENMAPSPACE_shared_info), as a frame number.
    public internal(set) var sharedInfoGFN: UInt64? = nil
    /// vcpu_info registered with VCPUOP_register_vcpu_info (guest physical), per vCPU.
    public internal(set) var registeredVCPUInfo: [UInt64?]
    public internal(set) var polling: [EventPollState]
    /// `next_evtchn`: the port an EVTCHNOP_reset preempted at (0: no reset in progress).
    public internal(set) var resetNext: UInt32 = 0

    public init(domain: XenDomainID, vcpus: Int, maxPort: UInt32 = EventChannelTable.defaultMaxPort,
                serviceEndpoint: Bool = false) {
        let n = max(1, min(vcpus, 4096))
        self.domain = domain
        self.vcpuCount = UInt32(n)
        self.maxPort = min(maxPort, EventChannelTable.twoLevelPorts - 1)
        self.isServiceEndpoint = serviceEndpoint
        channels = [EventChannel](repeating: EventChannel(), count: Int(EventChannelTable.portsPerBucket))
        channels[0].state = .reserved
        virqPorts = [UInt32](repeating: 0, count: n * Int(XenVIRQ.count))
        registeredVCPUInfo = [UInt64?](repeating: nil, count: n)
        polling = [EventPollState](repeating: .none, count: n)
    }

    /// `valid_evtchns`.
    public var validPorts: UInt32 { UInt32(channels.count) }

    /// `port_is_valid()`.
    public func isValid(_ port: UInt32) -> Bool { port < validPorts }

    public func channel(_ port: UInt32) -> EventChannel? {
        isValid(port) ? channels[Int(port)] : nil
    }

    public func hasVCPU(_ vcpu: UInt32) -> Bool { vcpu < vcpuCount }

    /// The port bound to `virq` on `vcpu` (global VIRQs live on vCPU 0), 0 if none.
    public func virqPort(virq: UInt32, vcpu: UInt32) -> UInt32 {
        guard virq < XenVIRQ.count, hasVCPU(vcpu) else { return 0 }
        return virqPorts[Int(vcpu) * Int(XenVIRQ.count) + Int(virq)]
    }

    mutating func setVIRQPort(virq: UInt32, vcpu: UInt32, port: UInt32) {
        guard virq < XenVIRQ.count, hasVCPU(vcpu) else { return }
        virqPorts[Int(vcpu) * Int(XenVIRQ.count) + Int(virq)] = port
    }

    mutating func update(_ port: UInt32, _ body: (inout EventChannel) -> Void) {
        guard isValid(port) else { return }
        body(&channels[Int(port)])
    }

    /// `evtchn_allocate_port()`: claims `port`, growing the table bucket by bucket.
    mutating func allocate(_ port: UInt32) throws(XenErrno) {
        guard port <= maxPort, port < EventChannelTable.twoLevelPorts else { throw .ENOSPC }
        if isValid(port) {
            guard channels[Int(port)].state == .free else { throw .EBUSY }
        } else {
            while port >= validPorts {
                channels.append(contentsOf: [EventChannel](repeating: EventChannel(),
                                                           count: Int(EventChannelTable.portsPerBucket)))
            }
        }
        activeCount += 1
    }

    /// `get_free_port()`: the lowest free port.
    mutating func allocateFree() throws(XenErrno) -> UInt32 {
        var port: UInt32 = 0
        while port <= maxPort {
            do {
                try allocate(port)
                return port
            } catch {
                if error != .EBUSY { throw error }
            }
            port += 1
        }
        throw .ENOSPC
    }

    /// `check_free_port()`: undoes an allocation whose port stayed free (error paths).
    mutating func releaseIfStillFree(_ port: UInt32) {
        if isValid(port), channels[Int(port)].state == .free { activeCount -= 1 }
    }

    /// `evtchn_free()` bookkeeping (the pending bit is cleared by the caller).
    mutating func free(_ port: UInt32) {
        guard isValid(port) else { return }
        channels[Int(port)] = EventChannel()
        activeCount -= 1
    }

    /// Guest physical address of shared_info, if mapped.
    public var sharedInfoAddress: UInt64? {
        sharedInfoGFN.map { $0 << XenPage.shift }
    }

    /// Guest physical address of `vcpu`'s vcpu_info: the registered one, else (vCPU 0 only)
    /// the slot in shared_info; nil when Xen would use its dummy vcpu_info.
    public func vcpuInfoAddress(_ vcpu: UInt32) -> UInt64? {
        guard hasVCPU(vcpu) else { return nil }
        if let r = registeredVCPUInfo[Int(vcpu)] { return r }
        if vcpu < UInt32(XenLayout.SharedInfo.legacyVCPUs), let s = sharedInfoAddress {
            return s &+ UInt64(XenLayout.SharedInfo.vcpuInfo0) &+ UInt64(vcpu) &* UInt64(XenLayout.VCPUInfo.size)
        }
        return nil
    }

    mutating func setPoll(_ vcpu: UInt32, _ state: EventPollState) {
        guard hasVCPU(vcpu) else { return }
        polling[Int(vcpu)] = state
    }
}
