/// ESR_ELx decoding (Arm ARM D17.2.37). The hypervisor reads ESR_EL2 on every trap
/// from a guest; this turns the raw value into what the trap handlers dispatch on,
/// and into words for a panic dump.
public struct ExceptionSyndrome: Equatable, Sendable {
    public let raw: UInt64
    public init(_ raw: UInt64) { self.raw = raw }

    public var exceptionClass: UInt8 { UInt8(truncatingIfNeeded: (raw >> 26) & 0x3F) }
    public var iss: UInt32 { UInt32(truncatingIfNeeded: raw & 0x1FF_FFFF) }
    /// IL: the trapped instruction was 32 bits (always, for AArch64).
    public var instructionIs32Bit: Bool { raw & (1 << 25) != 0 }

    public enum Class: UInt8, Sendable {
        case unknown = 0x00
        case wfx = 0x01
        case simdFP = 0x07
        case illegalState = 0x0E
        case svc64 = 0x15
        case hvc64 = 0x16
        case smc64 = 0x17
        case sysreg64 = 0x18
        case sve = 0x19
        case instructionAbortLower = 0x20
        case instructionAbortSame = 0x21
        case pcAlignment = 0x22
        case dataAbortLower = 0x24
        case dataAbortSame = 0x25
        case spAlignment = 0x26
        case serror = 0x2F
        case breakpointLower = 0x30
        case softwareStepLower = 0x32
        case watchpointLower = 0x34
        case brk64 = 0x3C
    }
    public var knownClass: Class? { Class(rawValue: exceptionClass) }

    /// HVC/SMC immediate (ISS[15:0]).
    public var immediate16: UInt16 { UInt16(truncatingIfNeeded: raw & 0xFFFF) }

    /// WFx: bit 0 of ISS says WFE (1) or WFI (0).
    public var isWFE: Bool { raw & 1 != 0 }

    public var dataAbort: DataAbort { DataAbort(iss: iss) }
    public var systemRegister: SystemRegisterAccess { SystemRegisterAccess(iss: iss) }

    /// A short name for dumps ("data abort from lower EL").
    public var className: StaticString {
        switch knownClass {
        case .unknown: return "unknown reason"
        case .wfx: return "WFI/WFE"
        case .simdFP: return "FP/SIMD access"
        case .illegalState: return "illegal execution state"
        case .svc64: return "SVC"
        case .hvc64: return "HVC"
        case .smc64: return "SMC"
        case .sysreg64: return "MSR/MRS/system instruction"
        case .sve: return "SVE access"
        case .instructionAbortLower: return "instruction abort from lower EL"
        case .instructionAbortSame: return "instruction abort at EL2"
        case .pcAlignment: return "PC alignment fault"
        case .dataAbortLower: return "data abort from lower EL"
        case .dataAbortSame: return "data abort at EL2"
        case .spAlignment: return "SP alignment fault"
        case .serror: return "SError"
        case .breakpointLower: return "breakpoint"
        case .softwareStepLower: return "software step"
        case .watchpointLower: return "watchpoint"
        case .brk64: return "BRK (Swift runtime trap)"
        case nil: return "unhandled exception class"
        }
    }
}

/// ISS of a data abort (EC 0x24/0x25). When `isValid` (ISV) the access is a single
/// load/store of a general register that the hypervisor can emulate.
public struct DataAbort: Equatable, Sendable {
    public let iss: UInt32
    public init(iss: UInt32) { self.iss = iss }
    public var isValid: Bool { iss & (1 << 24) != 0 }
    /// Access size in bytes: 1, 2, 4 or 8.
    public var accessSize: Int { 1 << Int((iss >> 22) & 3) }
    public var signExtend: Bool { iss & (1 << 21) != 0 }
    /// Register number: 0...30, or 31 meaning XZR.
    public var register: Int { Int((iss >> 16) & 0x1F) }
    /// 64-bit register (SF); otherwise Wn and the upper half is zeroed.
    public var is64BitRegister: Bool { iss & (1 << 15) != 0 }
    public var isWrite: Bool { iss & (1 << 6) != 0 }
    /// Fault on a stage-2 walk for a stage-1 table access (S1PTW).
    public var onStage1Walk: Bool { iss & (1 << 7) != 0 }
    /// Fault status code (DFSC); 0b0001LL translation faults, 0b0011LL permission faults.
    public var statusCode: UInt8 { UInt8(truncatingIfNeeded: iss & 0x3F) }
    public var isTranslationFault: Bool { statusCode & 0x3C == 0x04 }
    public var isPermissionFault: Bool { statusCode & 0x3C == 0x0C }
    public var isAccessFlagFault: Bool { statusCode & 0x3C == 0x08 }
}

/// ISS of a trapped MSR/MRS (EC 0x18). `encoding` packs op0/op1/CRn/CRm/op2 the same
/// way as `SystemRegister` so handlers can switch on named registers.
public struct SystemRegisterAccess: Equatable, Sendable {
    public let iss: UInt32
    public init(iss: UInt32) { self.iss = iss }
    public var isRead: Bool { iss & 1 != 0 }
    public var register: Int { Int((iss >> 5) & 0x1F) }
    public var op0: UInt32 { (iss >> 20) & 3 }
    public var op2: UInt32 { (iss >> 17) & 7 }
    public var op1: UInt32 { (iss >> 14) & 7 }
    public var crn: UInt32 { (iss >> 10) & 0xF }
    public var crm: UInt32 { (iss >> 1) & 0xF }
    public var encoding: SystemRegister { SystemRegister(op0: op0, op1: op1, crn: crn, crm: crm, op2: op2) }
}

/// A system register named by its encoding (op0, op1, CRn, CRm, op2).
public struct SystemRegister: Equatable, Hashable, Sendable {
    public let value: UInt32
    public init(op0: UInt32, op1: UInt32, crn: UInt32, crm: UInt32, op2: UInt32) {
        value = (op0 << 14) | (op1 << 11) | (crn << 7) | (crm << 3) | op2
    }
    // GICv3 SGI generation: trapped to EL2 when HCR_EL2.IMO is set.
    public static let iccSGI1R = SystemRegister(op0: 3, op1: 0, crn: 12, crm: 11, op2: 5)
    public static let iccASGI1R = SystemRegister(op0: 3, op1: 1, crn: 12, crm: 11, op2: 6)
    public static let iccSGI0R = SystemRegister(op0: 3, op1: 2, crn: 12, crm: 11, op2: 7)
    // EL1 physical timer: trapped because CNTHCTL_EL2.EL1PCEN is clear.
    public static let cntpTVAL = SystemRegister(op0: 3, op1: 3, crn: 14, crm: 2, op2: 0)
    public static let cntpCTL = SystemRegister(op0: 3, op1: 3, crn: 14, crm: 2, op2: 1)
    public static let cntpCVAL = SystemRegister(op0: 3, op1: 3, crn: 14, crm: 2, op2: 2)
    public static let cntpct = SystemRegister(op0: 3, op1: 3, crn: 14, crm: 0, op2: 1)
    // Debug/OS lock registers that Linux touches at boot when MDCR_EL2 traps them.
    public static let oslarEL1 = SystemRegister(op0: 2, op1: 0, crn: 1, crm: 0, op2: 4)
    public static let oslsrEL1 = SystemRegister(op0: 2, op1: 0, crn: 1, crm: 1, op2: 4)
    public static let osdlrEL1 = SystemRegister(op0: 2, op1: 0, crn: 1, crm: 3, op2: 4)
    public static let mdscrEL1 = SystemRegister(op0: 2, op1: 0, crn: 0, crm: 2, op2: 2)
}
