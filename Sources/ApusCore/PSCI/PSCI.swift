/// The guest's view of firmware: PSCI 1.1 and SMCCC 1.1 over `hvc #0` (or a trapped
/// `smc #0`), as Xen's vPSCI presents them (xen/arch/arm/vpsci.c). Decoding and the
/// result codes live here; the hypervisor supplies the vCPU operations.
public enum PSCIFunction: UInt32, Sendable {
    case smcccVersion = 0x8000_0000
    case smcccArchFeatures = 0x8000_0001
    case psciVersion = 0x8400_0000
    case cpuSuspend32 = 0x8400_0001
    case cpuOff = 0x8400_0002
    case cpuOn32 = 0x8400_0003
    case affinityInfo32 = 0x8400_0004
    case migrateInfoType = 0x8400_0006
    case systemOff = 0x8400_0008
    case systemReset = 0x8400_0009
    case psciFeatures = 0x8400_000A
    case cpuSuspend64 = 0xC400_0001
    case cpuOn64 = 0xC400_0003
    case affinityInfo64 = 0xC400_0004
}

public enum PSCIResult: Int64, Sendable {
    case success = 0
    case notSupported = -1
    case invalidParameters = -2
    case denied = -3
    case alreadyOn = -4
    case onPending = -5
    case internalFailure = -6
    case notPresent = -7
    case disabled = -8
    case invalidAddress = -9
}

public enum VCPUPowerState: Sendable, Equatable {
    case on
    case off
    case onPending
}

/// What the hypervisor must do after a call, beyond writing x0.
public enum PSCIAction: Sendable, Equatable {
    case none
    /// The calling vCPU stops; it can be started again with CPU_ON.
    case stopCaller
    /// Start vCPU `vcpu` at `entry` (guest physical) with x0 = `context`.
    case startVCPU(vcpu: Int, entry: UInt64, context: UInt64)
    case powerOffDomain
    case rebootDomain
    /// CPU_SUSPEND: behaves like WFI (Xen does the same).
    case waitForInterrupt
}

/// What the vPSCI needs from the domain: how many vCPUs and their states.
public protocol PSCIDomainView {
    var vcpuCount: Int { get }
    func powerState(ofVCPU index: Int) -> VCPUPowerState
}

public enum VirtualPSCI {
    public static let version: UInt64 = 0x0001_0001          // PSCI 1.1
    public static let smcccVersion: UInt64 = 0x0001_0001     // SMCCC 1.1

    /// Handles one call. `x` are the guest's x0...x3. Returns the value for x0 and the action.
    public static func handle<D: PSCIDomainView>(_ x0: UInt64, _ x1: UInt64, _ x2: UInt64, _ x3: UInt64,
                                                 domain: D) -> (result: UInt64, action: PSCIAction) {
        func r(_ v: PSCIResult) -> UInt64 { UInt64(bitPattern: v.rawValue) }
        // SMC32 calls carry 32-bit arguments; the upper halves are ignored.
        let is64 = x0 & 0x4000_0000 != 0
        let a1 = is64 ? x1 : x1 & 0xFFFF_FFFF
        let a2 = is64 ? x2 : x2 & 0xFFFF_FFFF
        let a3 = is64 ? x3 : x3 & 0xFFFF_FFFF
        // SMCCC: the function ID is W0; the upper half of x0 is ignored (as Xen and KVM do).
        guard let fn = PSCIFunction(rawValue: UInt32(truncatingIfNeeded: x0)) else {
            return (r(.notSupported), .none)
        }
        switch fn {
        case .smcccVersion: return (smcccVersion, .none)
        case .smcccArchFeatures:
            // Only SMCCC_VERSION and ARCH_FEATURES themselves; no workaround calls exist here.
            let q = a1 & 0xFFFF_FFFF
            return (q == 0x8000_0000 || q == 0x8000_0001) ? (0, .none) : (r(.notSupported), .none)
        case .psciVersion: return (version, .none)
        case .psciFeatures:
            guard a1 <= 0xFFFF_FFFF, let f = PSCIFunction(rawValue: UInt32(a1)) else { return (r(.notSupported), .none) }
            switch f {
            case .smcccArchFeatures: return (r(.notSupported), .none)
            default: return (0, .none)
            }
        case .migrateInfoType: return (2, .none)                 // no Trusted OS to migrate
        case .cpuSuspend32, .cpuSuspend64: return (0, .waitForInterrupt)
        case .cpuOff: return (r(.denied), .stopCaller)           // x0 only seen if the stop fails
        case .systemOff: return (0, .powerOffDomain)
        case .systemReset: return (0, .rebootDomain)
        case .cpuOn32, .cpuOn64:
            guard let v = vcpuIndex(mpidr: a1, count: domain.vcpuCount) else { return (r(.invalidParameters), .none) }
            switch domain.powerState(ofVCPU: v) {
            case .on: return (r(.alreadyOn), .none)
            case .onPending: return (r(.onPending), .none)
            case .off:
                guard a2 & 3 == 0 else { return (r(.invalidAddress), .none) }
                return (0, .startVCPU(vcpu: v, entry: a2, context: a3))
            }
        case .affinityInfo32, .affinityInfo64:
            guard a2 == 0 else { return (r(.invalidParameters), .none) }    // only level 0
            guard let v = vcpuIndex(mpidr: a1, count: domain.vcpuCount) else { return (r(.invalidParameters), .none) }
            switch domain.powerState(ofVCPU: v) {
            case .on: return (0, .none)
            case .off: return (1, .none)
            case .onPending: return (2, .none)
            }
        }
    }

    /// vCPU i has MPIDR affinity Aff0 = i % 16, Aff1 = i / 16 (Xen's vcpuid_to_vaffinity).
    public static func mpidr(ofVCPU i: Int) -> UInt64 {
        UInt64(i % 16) | (UInt64(i / 16) << 8)
    }

    public static func vcpuIndex(mpidr: UInt64, count: Int) -> Int? {
        guard mpidr & ~UInt64(0xFF_00FF_FFFF) == 0 else { return nil }
        let aff0 = Int(mpidr & 0xFF), aff1 = Int((mpidr >> 8) & 0xFF)
        guard aff0 < 16, mpidr >> 16 & 0xFF == 0, mpidr >> 32 == 0 else { return nil }
        let i = aff1 * 16 + aff0
        return i < count ? i : nil
    }
}
