/// What the Xen ABI keeps per domain besides event channels and grant tables:
/// identity, HVM params, vm_assist bits, shutdown state and per-vCPU runstate.
public struct XenDomainConfig: Sendable {
    public var vcpus: Int
    /// The control domain (with `serviceEndpoint`: the hypervisor's own endpoint): the role
    /// the policy gives it at creation (`role`; XenPolicy decides what that allows).
    public var privileged: Bool = false
    public var directMapped: Bool = false
    /// xen_domain_handle_t: the domain's UUID (16 bytes).
    public var handle: [UInt8] = [UInt8](repeating: 0, count: 16)
    /// max_evtchn_port (dom0less domUs: 1023).
    public var maxEventChannelPort: UInt32 = EventChannelTable.defaultMaxPort
    /// max_grant_frames (Xen 4.17 default: 64).
    public var maxGrantFrames: UInt32 = GrantTable.defaultMaxFrames
    /// Grant mappings this domain may hold at once (maptrack handles).
    public var maxGrantMappings: UInt32 = GrantTable.defaultMaxMappings
    /// A hypervisor-implemented endpoint with no guest memory (see EventChannelTable).
    public var serviceEndpoint: Bool = false
    /// Made by the toolstack (createdomain): its shutdown only stops it and tells the
    /// toolstack (VIRQ_DOM_EXC), which decides what follows, as on Xen.
    public var builtByToolstack: Bool = false

    public init(vcpus: Int) { self.vcpus = vcpus }

    /// The domain's role in the policy (XenPolicy), from `privileged` and `serviceEndpoint`.
    public var role: XenDomainRole {
        guard privileged else { return .domU }
        return serviceEndpoint ? .service : .control
    }
}

public struct XenDomainState: Sendable {
    public let id: XenDomainID
    public let vcpuCount: UInt32
    public var config: XenDomainConfig
    /// HVM params (index < HVM_NR_PARAMS), set by the hypervisor / toolstack.
    public var hvmParams: [UInt64]
    /// vm_assist bits (only runstate_update_flag on Arm).
    public var vmAssist: UInt64 = 0
    /// SCHEDOP_shutdown_code / first shutdown reason.
    public var shutdownCode: UInt8? = nil
    public var shuttingDown = false
    /// The toolstack's pause count (XEN_DOMCTL_pausedomain / unpausedomain), 0...255.
    public var pauseCount: UInt8 = 0
    /// XEN_DOMCTL_set_paging_mempool_size, as the toolstack set it (bytes).
    public var pagingPoolBytes: UInt64 = 0
    public var runstate: [XenVCPURunstate]
    /// VCPUOP_register_runstate_memory_area (guest virtual), per vCPU.
    public var runstateArea: [UInt64?]

    public init(id: XenDomainID, config: XenDomainConfig, now: UInt64 = 0) {
        let n = max(1, min(config.vcpus, 4096))
        self.id = id
        self.vcpuCount = UInt32(n)
        self.config = config
        hvmParams = [UInt64](repeating: 0, count: Int(HVMParam.count))
        runstate = [XenVCPURunstate](repeating: XenVCPURunstate(state: .offline, at: now), count: n)
        runstateArea = [UInt64?](repeating: nil, count: n)
    }

    public func hasVCPU(_ vcpu: UInt32) -> Bool { vcpu < vcpuCount }

    public var runstateUpdateFlag: Bool { vmAssist & (1 << UInt64(VMAssist.runstateUpdateFlag)) != 0 }

    public var versionCaller: XenVersionCaller {
        XenVersionCaller(domain: id, directMapped: config.directMapped, handle: config.handle)
    }
}
