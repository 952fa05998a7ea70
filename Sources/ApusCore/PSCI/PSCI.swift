/// The guest's view of firmware: PSCI 1.1 and SMCCC 1.1 over `hvc #0` (or a trapped
/// `smc #0`), as Xen's vPSCI presents them (xen/arch/arm/vpsci.c). Decoding and the
/// result codes live here; the hypervisor supplies the vCPU operations.
public enum PSCIFunction: UInt32, Sendable {
    case smcccVersion = 0x8000_0000
    case smcccArchFeatures = 0x8000_0001
    case smcccArchWorkaround1 = 0x8000_8000
    case smcccArchWorkaround2 = 0x8000_7FFF
    case smcccArchWorkaround3 = 0x8000_3FFF
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

    /// What the board's CPUs and firmware offer against Spectre v2, SSBD and Spectre-BHB,
    /// decided once at boot (`SpectreMitigations.decide`) and read by every guest's
    /// SMCCC_ARCH_FEATURES. Written before any guest runs.
    nonisolated(unsafe) public static var mitigations = SpectreMitigations.none

    /// Xen's fast path for the workaround calls through `hvc #0` (arm64/entry.S guest_sync),
    /// which Apus's lower-EL sync vector (AArch64/vectors.S) implements in assembly: this is
    /// its table, pinned by PSCITests.
    /// the workaround already ran on the way in, so the guest gets straight back with x0 and
    /// x1 zeroed (WORKAROUND_1 and _3), or x0...x3 zeroed (WORKAROUND_2). Returns how many
    /// registers from x0 up to zero, or nil for any other call. Through a trapped `smc #0`
    /// Xen takes its slow path instead (`handle`: x0 unchanged).
    @inline(__always)
    public static func hvcFastPathClears(_ x0: UInt64) -> Int? {
        switch UInt32(truncatingIfNeeded: x0) {
        case 0x8000_8000, 0x8000_3FFF: return 2
        case 0x8000_7FFF: return 4
        default: return nil
        }
    }

    /// Handles one call. `x` are the guest's x0...x3. Returns the value for x0 and the action.
    public static func handle<D: PSCIDomainView>(_ x0: UInt64, _ x1: UInt64, _ x2: UInt64, _ x3: UInt64,
                                                 domain: D) -> (result: UInt64, action: PSCIAction) {
        handle(x0, x1, x2, x3, domain: domain, mitigations: mitigations)
    }

    public static func handle<D: PSCIDomainView>(_ x0: UInt64, _ x1: UInt64, _ x2: UInt64, _ x3: UInt64,
                                                 domain: D, mitigations m: SpectreMitigations) -> (result: UInt64, action: PSCIAction) {
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
            // Xen's handle_arch (vsmc.c): only the three workarounds are discoverable, and
            // only as the board allows; SMCCC_VERSION and ARCH_FEATURES themselves are not
            // listed (NOT_SUPPORTED), since SMCCC_VERSION is how a caller finds ARCH_FEATURES.
            switch UInt32(truncatingIfNeeded: a1) {
            case PSCIFunction.smcccArchWorkaround1.rawValue:
                return (m.advertiseWorkaround1 ? 0 : r(.notSupported), .none)
            case PSCIFunction.smcccArchWorkaround2.rawValue:
                switch m.ssbd {
                case .unknown: return (r(.notSupported), .none)
                case .runtime: return (0, .none)
                case .mitigated, .forceEnabled: return (UInt64(bitPattern: -2), .none)   // NOT_REQUIRED
                }
            case PSCIFunction.smcccArchWorkaround3.rawValue:
                return (m.advertiseWorkaround3 ? 0 : r(.notSupported), .none)
            default:
                return (r(.notSupported), .none)
            }
        case .smcccArchWorkaround1, .smcccArchWorkaround2, .smcccArchWorkaround3:
            // No return value (Xen leaves x0 as it was). Workarounds 1 and 3 already ran on
            // the way in (the hardened vectors); workaround 2 only matters when the firmware
            // lets the mitigation be switched per guest, which Apus does not do (it keeps
            // the firmware's mitigation on for everyone: `SSBDState.forceEnabled`).
            return (x0, .none)
        case .psciVersion: return (version, .none)
        case .psciFeatures:
            guard a1 <= 0xFFFF_FFFF, let f = PSCIFunction(rawValue: UInt32(a1)) else { return (r(.notSupported), .none) }
            switch f {
            case .smcccArchFeatures, .smcccArchWorkaround1, .smcccArchWorkaround2, .smcccArchWorkaround3:
                return (r(.notSupported), .none)
            default: return (0, .none)
            }
        case .migrateInfoType: return (2, .none)                 // no Trusted OS to migrate
        case .cpuSuspend32, .cpuSuspend64: return (0, .waitForInterrupt)
        case .cpuOff: return (r(.denied), .stopCaller)           // x0 only seen if the stop fails
        case .systemOff: return (0, .powerOffDomain)
        case .systemReset: return (0, .rebootDomain)
        case .cpuOn32, .cpuOn64:
            guard let v = vcpuIndex(mpidr: a1, count: domain.vcpuCount) else { return (r(.invalidParameters), .none) }
            // As Xen's do_common_cpu_on: only a Thumb entry (bit 0) is refused for a 64-bit
            // guest, and before the target's state is looked at.
            guard a2 & 1 == 0 else { return (r(.invalidAddress), .none) }
            switch domain.powerState(ofVCPU: v) {
            case .on: return (r(.alreadyOn), .none)
            case .onPending: return (r(.onPending), .none)
            case .off: return (0, .startVCPU(vcpu: v, entry: a2, context: a3))
            }
        case .affinityInfo32, .affinityInfo64:
            // As Xen's do_psci_0_2_affinity_info: levels 0 to 3, the affinity fields below the
            // level are ignored; ON if any vCPU in that group is on, OFF otherwise (also when
            // no vCPU has that affinity). A vCPU being started is ON_PENDING at level 0 and
            // makes its group ON above (Xen starts vCPUs synchronously: it is ON at once).
            guard a2 <= 3 else { return (r(.invalidParameters), .none) }
            let fields: [UInt64] = [0xFF, 0xFF00, 0xFF_0000, 0xFF_0000_0000]
            var mask: UInt64 = 0
            for l in Int(a2)..<4 { mask |= fields[l] }
            let target = a1 & mask
            var pending = false
            for v in 0..<domain.vcpuCount where mpidr(ofVCPU: v) & mask == target {
                switch domain.powerState(ofVCPU: v) {
                case .on: return (0, .none)
                case .onPending: pending = true
                case .off: break
                }
            }
            return (pending ? (a2 == 0 ? 2 : 0) : 1, .none)
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

/// The state of the Speculative Store Bypass mitigation (SMCCC_ARCH_WORKAROUND_2), as
/// Xen's `enum ssbd_state` (cpuerrata.c) with its default command line.
public enum SSBDState: Sendable, Equatable {
    /// The firmware does not know of it.
    case unknown
    /// Switchable per caller (Xen's default, and what it keeps when the firmware is too
    /// old to ask: SMCCC below 1.1).
    case runtime
    /// The CPUs are not affected (firmware answered NOT_REQUIRED).
    case mitigated
    /// Apus turned it on for good at boot (the firmware said it is needed).
    case forceEnabled
}

/// What a CPU runs on every exception from a guest to EL2 against branch-predictor
/// attacks (Xen's hardened vectors, arm64/bpi.S).
public enum BranchHardening: Sendable, Equatable {
    case none
    /// SMCCC_ARCH_WORKAROUND_1 or _3 to the firmware (SMC conduit).
    case firmwareCall(fid: UInt32)
    /// Spectre-BHB: `count` taken branches, then a speculation barrier.
    case branchLoop(count: UInt32)
    /// Spectre-BHB: the CLRBHB instruction (FEAT_CLRBHB).
    case clearBHB

    /// The per-CPU word the exception vectors read (vectors.S): 0 nothing, 1 CLRBHB,
    /// a function ID (bit 31 set) an SMC to the firmware, anything else a loop count.
    public var vectorWord: UInt32 {
        switch self {
        case .none: return 0
        case .clearBHB: return 1
        case .firmwareCall(let fid): return fid
        case .branchLoop(let n): return n
        }
    }
}

/// The board's answers and the CPU's identity, as Xen's cpuerrata.c reads them.
public struct FirmwareSMCCC: Sendable, Equatable {
    /// SMCCC version (0x10000 = 1.0 when the firmware cannot be asked).
    public var version: UInt32
    /// ARCH_FEATURES results (low 32 bits, signed) for workarounds 1, 2 and 3; nil when
    /// the firmware was not asked (SMCCC below 1.1).
    public var workaround1: Int32?
    public var workaround2: Int32?
    public var workaround3: Int32?
    public init(version: UInt32, workaround1: Int32? = nil, workaround2: Int32? = nil, workaround3: Int32? = nil) {
        self.version = version; self.workaround1 = workaround1; self.workaround2 = workaround2; self.workaround3 = workaround3
    }
}

/// Spectre v2 / SSBD / BHB handling for one board, decided as Xen 4.17 decides it
/// (xen/arch/arm/cpuerrata.c, arm_errata[] with CONFIG_ARM64_HARDEN_BRANCH_PREDICTOR and
/// CONFIG_ARM_SSBD) and answered to guests as its vsmc.c does.
public struct SpectreMitigations: Sendable, Equatable {
    /// ARCH_FEATURES(WORKAROUND_1) answers SUCCESS: Xen's ARM_HARDEN_BRANCH_PREDICTOR or
    /// ARM_WORKAROUND_BHB_SMCC_3 capability, set by the CPU model alone (MIDR) even when
    /// the firmware cannot run the workaround.
    public var advertiseWorkaround1: Bool
    /// ARCH_FEATURES(WORKAROUND_3) answers SUCCESS (ARM_WORKAROUND_BHB_SMCC_3).
    public var advertiseWorkaround3: Bool
    public var ssbd: SSBDState
    /// Run on every exception from a guest.
    public var hardening: BranchHardening
    /// Call SMCCC_ARCH_WORKAROUND_2(1) on each CPU at boot.
    public var enableSSBDInFirmware: Bool
    /// Xen's boot warnings, when the CPU needs a workaround the firmware does not offer.
    public var missingWorkaround1: Bool
    public var missingBHBWorkaround: Bool

    public static let none = SpectreMitigations(advertiseWorkaround1: false, advertiseWorkaround3: false, ssbd: .unknown,
                                                hardening: .none, enableSSBDInFirmware: false,
                                                missingWorkaround1: false, missingBHBWorkaround: false)

    public static let smcccArchWorkaround1: UInt32 = 0x8000_8000
    public static let smcccArchWorkaround2: UInt32 = 0x8000_7FFF
    public static let smcccArchWorkaround3: UInt32 = 0x8000_3FFF

    /// Arm part numbers (MIDR_EL1.PartNum, implementer 0x41).
    enum Part: UInt32 { case a57 = 0xD07, a72 = 0xD08, a73 = 0xD09, a75 = 0xD0A, a76 = 0xD0B, a77 = 0xD0D,
                        a78 = 0xD41, a78c = 0xD4B, x1 = 0xD44, x2 = 0xD48, a710 = 0xD47,
                        n1 = 0xD0C, n2 = 0xD49, v1 = 0xD40 }

    /// `midr`: MIDR_EL1; `csv2`: ID_AA64PFR0_EL1.CSV2; `ecbhb`: ID_AA64MMFR1_EL1.ECBHB != 0;
    /// `clearBHB`: ID_AA64ISAR2_EL1.CLRBHB != 0; `firmwareIsSMC`: the PSCI conduit is SMC
    /// (Xen refuses to boot otherwise; Apus then never calls the firmware from its vectors).
    public static func decide(midr: UInt64, csv2: UInt64, ecbhb: Bool, clearBHB: Bool,
                              firmware f: FirmwareSMCCC, firmwareIsSMC: Bool = true) -> SpectreMitigations {
        var m = SpectreMitigations.none
        let arm = (midr >> 24) & 0xFF == 0x41
        let part = arm ? Part(rawValue: UInt32((midr >> 4) & 0xFFF)) : nil
        let variant = (midr >> 20) & 0xF
        let smccc11 = f.version >= 0x1_0001 && firmwareIsSMC

        // ARM_HARDEN_BRANCH_PREDICTOR: every A57, A72 r0pX (enable_smccc_arch_workaround_1).
        let harden = part == .a57 || (part == .a72 && variant == 0)
        // Spectre-BHB (enable_spectre_bhb_workaround), by model.
        var bhbLoop: UInt32 = 0
        var bhbSMCC3 = false
        switch part {
        case .a72 where variant >= 1: bhbLoop = 8
        case .a76, .a77, .n1: bhbLoop = 24
        case .a78, .a78c, .x1, .x2, .a710, .n2, .v1: bhbLoop = 32
        case .a73, .a75: bhbSMCC3 = true
        default: break
        }
        m.advertiseWorkaround1 = harden || bhbSMCC3
        m.advertiseWorkaround3 = bhbSMCC3

        func workaround1() -> Bool {
            guard csv2 == 0 else { return false }                // not needed
            guard smccc11, let r = f.workaround1, r >= 0 else { m.missingWorkaround1 = true; return false }
            m.hardening = .firmwareCall(fid: smcccArchWorkaround1)
            return true
        }
        if harden { _ = workaround1() }
        if bhbLoop != 0 || bhbSMCC3, csv2 != 3, !ecbhb {
            if clearBHB {
                m.hardening = .clearBHB
            } else if bhbLoop != 0 {
                m.hardening = .branchLoop(count: bhbLoop)
            } else if smccc11, let r = f.workaround3, r >= 0 {
                m.hardening = .firmwareCall(fid: smcccArchWorkaround3)
            } else if !(smccc11 && workaround1()) {
                m.missingBHBWorkaround = true
            }
        }

        // SSBD (has_ssbd_mitigation): Xen's state starts as "runtime" and only a firmware
        // of SMCCC 1.1 or later changes it.
        m.ssbd = .runtime
        if smccc11, let r = f.workaround2 {
            switch r {
            case -1: m.ssbd = .unknown
            case -2: m.ssbd = .mitigated
            case 0:
                // Required. Xen flips it per guest on every entry and exit; Apus keeps it on.
                m.ssbd = .forceEnabled
                m.enableSSBDInFirmware = true
            default: break                                       // 1: not required on this CPU
            }
        }
        return m
    }
}
