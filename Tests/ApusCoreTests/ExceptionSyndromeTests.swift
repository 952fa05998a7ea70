import Testing
@testable import ApusCore

/// ESR_EL2 values built from the Arm ARM field layout: EC [31:26], IL [25], ISS [24:0].
private func esr(ec: UInt64, iss: UInt64, il: Bool = true) -> UInt64 { ec << 26 | (il ? 1 << 25 : 0) | iss }

/// Data abort ISS: ISV [24], SAS [23:22], SSE [21], SRT [20:16], SF [15], AR [14], S1PTW [7], WnR [6], DFSC [5:0].
private func dabtISS(isv: Bool, sas: UInt64 = 0, sse: Bool = false, srt: UInt64 = 0, sf: Bool = false,
                     s1ptw: Bool = false, wnr: Bool = false, dfsc: UInt64) -> UInt64 {
    (isv ? 1 << 24 : 0) | sas << 22 | (sse ? 1 << 21 : 0) | srt << 16 | (sf ? 1 << 15 : 0)
        | (s1ptw ? 1 << 7 : 0) | (wnr ? 1 << 6 : 0) | dfsc
}

/// MSR/MRS ISS: Op0 [21:20], Op2 [19:17], Op1 [16:14], CRn [13:10], Rt [9:5], CRm [4:1], Direction [0] (1 = read).
private func sysregISS(op0: UInt64, op1: UInt64, crn: UInt64, crm: UInt64, op2: UInt64, rt: UInt64, read: Bool) -> UInt64 {
    op0 << 20 | op2 << 17 | op1 << 14 | crn << 10 | rt << 5 | crm << 1 | (read ? 1 : 0)
}

@Suite struct ExceptionSyndromeTests {
    // MARK: data aborts

    @Test func wordStoreToMMIO() {
        // str w1, [x0] faulting at stage 2 (translation fault, level 2).
        let raw = esr(ec: 0x24, iss: dabtISS(isv: true, sas: 2, srt: 1, wnr: true, dfsc: 0x06))
        #expect(raw == 0x9381_0046)
        let e = ExceptionSyndrome(raw)
        #expect(e.exceptionClass == 0x24)
        #expect(e.knownClass == .dataAbortLower)
        #expect(e.instructionIs32Bit)
        #expect(e.iss == 0x0181_0046)
        let d = e.dataAbort
        #expect(d.isValid)
        #expect(d.accessSize == 4)
        #expect(!d.signExtend)
        #expect(d.register == 1)
        #expect(!d.is64BitRegister)
        #expect(d.isWrite)
        #expect(!d.onStage1Walk)
        #expect(d.statusCode == 0x06)
        #expect(d.isTranslationFault && !d.isPermissionFault && !d.isAccessFlagFault)
    }

    @Test func signExtendingHalfwordLoad() {
        // ldrsh x30, [x2]: 2 bytes, sign-extended into a 64-bit register; translation fault level 3.
        let raw = esr(ec: 0x24, iss: dabtISS(isv: true, sas: 1, sse: true, srt: 30, sf: true, dfsc: 0x07))
        #expect(raw == 0x937E_8007)
        let d = ExceptionSyndrome(raw).dataAbort
        #expect(d.isValid && d.accessSize == 2 && d.signExtend && d.register == 30 && d.is64BitRegister)
        #expect(!d.isWrite)
        #expect(d.isTranslationFault)
    }

    @Test func accessSizesAndXZR() {
        for (sas, bytes) in [(0, 1), (1, 2), (2, 4), (3, 8)] as [(UInt64, Int)] {
            let d = ExceptionSyndrome(esr(ec: 0x24, iss: dabtISS(isv: true, sas: sas, srt: 31, sf: true, wnr: true, dfsc: 4))).dataAbort
            #expect(d.accessSize == bytes)
            #expect(d.register == 31, "xzr")
        }
    }

    @Test func faultStatusCodes() {
        for level: UInt64 in 0...3 {
            let t = ExceptionSyndrome(esr(ec: 0x24, iss: dabtISS(isv: false, dfsc: 0x04 | level))).dataAbort
            #expect(t.isTranslationFault && !t.isPermissionFault && !t.isAccessFlagFault)
            let a = ExceptionSyndrome(esr(ec: 0x24, iss: dabtISS(isv: false, dfsc: 0x08 | level))).dataAbort
            #expect(a.isAccessFlagFault && !a.isTranslationFault && !a.isPermissionFault)
            let p = ExceptionSyndrome(esr(ec: 0x24, iss: dabtISS(isv: false, wnr: true, dfsc: 0x0C | level))).dataAbort
            #expect(p.isPermissionFault && !p.isTranslationFault && !p.isAccessFlagFault)
            #expect(p.isWrite && !p.isValid)
        }
        let sync = ExceptionSyndrome(esr(ec: 0x24, iss: dabtISS(isv: false, dfsc: 0x10))).dataAbort
        #expect(!sync.isTranslationFault && !sync.isPermissionFault && !sync.isAccessFlagFault, "synchronous external abort")
        let addressSize = ExceptionSyndrome(esr(ec: 0x24, iss: dabtISS(isv: false, dfsc: 0x01))).dataAbort
        #expect(!addressSize.isTranslationFault)
    }

    @Test func stage1WalkFault() {
        let d = ExceptionSyndrome(esr(ec: 0x24, iss: dabtISS(isv: false, s1ptw: true, dfsc: 0x07))).dataAbort
        #expect(d.onStage1Walk)
        #expect(!d.isValid)
        #expect(d.statusCode == 7)
    }

    @Test func dataAbortAtEL2() {
        let e = ExceptionSyndrome(esr(ec: 0x25, iss: dabtISS(isv: false, wnr: true, dfsc: 0x05)))
        #expect(e.raw == 0x9600_0045)
        #expect(e.knownClass == .dataAbortSame)
        #expect(e.className.description == "data abort at EL2")
    }

    @Test func issDoesNotIncludeISS2OrTheClass() {
        // ESR_EL2[36:32] is ISS2 (FEAT_LS64 and friends); it must not leak into ISS or EC.
        let e = ExceptionSyndrome(0x1F_0000_0000 | esr(ec: 0x24, iss: dabtISS(isv: true, sas: 3, srt: 5, dfsc: 6)))
        #expect(e.exceptionClass == 0x24)
        #expect(e.iss == UInt32(dabtISS(isv: true, sas: 3, srt: 5, dfsc: 6)))
        #expect(e.dataAbort.register == 5)
    }

    // MARK: system registers

    @Test func msrICCSGI1R() {
        // msr icc_sgi1r_el1, x2
        let raw = esr(ec: 0x18, iss: sysregISS(op0: 3, op1: 0, crn: 12, crm: 11, op2: 5, rt: 2, read: false))
        #expect(raw == 0x623A_3056)
        let e = ExceptionSyndrome(raw)
        #expect(e.knownClass == .sysreg64)
        let s = e.systemRegister
        #expect(!s.isRead)
        #expect(s.register == 2)
        #expect((s.op0, s.op1, s.crn, s.crm, s.op2) == (3, 0, 12, 11, 5))
        #expect(s.encoding == .iccSGI1R)
        #expect(s.encoding != .iccASGI1R && s.encoding != .iccSGI0R)
    }

    @Test func mrsICCSGI1R() {
        // mrs x0, icc_sgi1r_el1 (write-only register, but the trap still decodes)
        let raw = esr(ec: 0x18, iss: sysregISS(op0: 3, op1: 0, crn: 12, crm: 11, op2: 5, rt: 0, read: true))
        #expect(raw == 0x623A_3017)
        let s = ExceptionSyndrome(raw).systemRegister
        #expect(s.isRead)
        #expect(s.register == 0)
        #expect(s.encoding == .iccSGI1R)
    }

    @Test func timerAndDebugRegisters() {
        let ctl = ExceptionSyndrome(esr(ec: 0x18, iss: sysregISS(op0: 3, op1: 3, crn: 14, crm: 2, op2: 1, rt: 5, read: false)))
        #expect(ctl.raw == 0x6232_F8A4)
        #expect(ctl.systemRegister.encoding == .cntpCTL)
        #expect(ctl.systemRegister.register == 5)
        let tval = ExceptionSyndrome(esr(ec: 0x18, iss: sysregISS(op0: 3, op1: 3, crn: 14, crm: 2, op2: 0, rt: 30, read: true)))
        #expect(tval.systemRegister.encoding == .cntpTVAL)
        #expect(tval.systemRegister.register == 30)
        let cval = ExceptionSyndrome(esr(ec: 0x18, iss: sysregISS(op0: 3, op1: 3, crn: 14, crm: 2, op2: 2, rt: 1, read: false)))
        #expect(cval.systemRegister.encoding == .cntpCVAL)
        let cnt = ExceptionSyndrome(esr(ec: 0x18, iss: sysregISS(op0: 3, op1: 3, crn: 14, crm: 0, op2: 1, rt: 1, read: true)))
        #expect(cnt.systemRegister.encoding == .cntpct)
        let oslar = ExceptionSyndrome(esr(ec: 0x18, iss: sysregISS(op0: 2, op1: 0, crn: 1, crm: 0, op2: 4, rt: 31, read: false)))
        #expect(oslar.systemRegister.encoding == .oslarEL1)
        #expect(oslar.systemRegister.register == 31)
        let mdscr = ExceptionSyndrome(esr(ec: 0x18, iss: sysregISS(op0: 2, op1: 0, crn: 0, crm: 2, op2: 2, rt: 3, read: true)))
        #expect(mdscr.systemRegister.encoding == .mdscrEL1)
        #expect(mdscr.systemRegister.encoding != .oslsrEL1)
    }

    @Test func systemRegisterPacking() {
        #expect(SystemRegister.iccSGI1R.value == (3 << 14 | 0 << 11 | 12 << 7 | 11 << 3 | 5))
        #expect(SystemRegister(op0: 3, op1: 0, crn: 12, crm: 11, op2: 5) == .iccSGI1R)
        let all: [SystemRegister] = [.iccSGI1R, .iccASGI1R, .iccSGI0R, .cntpTVAL, .cntpCTL, .cntpCVAL, .cntpct,
                                     .oslarEL1, .oslsrEL1, .osdlrEL1, .mdscrEL1]
        #expect(Set(all).count == all.count, "all distinct")
    }

    // MARK: calls and waits

    @Test func hvcImmediate() {
        let e = ExceptionSyndrome(esr(ec: 0x16, iss: 0xEA1))
        #expect(e.raw == 0x5A00_0EA1)
        #expect(e.knownClass == .hvc64)
        #expect(e.immediate16 == 0xEA1)
        #expect(e.className.description == "HVC")
        #expect(ExceptionSyndrome(esr(ec: 0x16, iss: 0)).immediate16 == 0)
    }

    @Test func smc() {
        let e = ExceptionSyndrome(esr(ec: 0x17, iss: 0))
        #expect(e.raw == 0x5E00_0000)
        #expect(e.knownClass == .smc64)
        #expect(e.immediate16 == 0)
    }

    @Test func wfiAndWfe() {
        let wfi = ExceptionSyndrome(esr(ec: 0x01, iss: 0))
        #expect(wfi.raw == 0x0600_0000)
        #expect(wfi.knownClass == .wfx)
        #expect(!wfi.isWFE)
        let wfe = ExceptionSyndrome(esr(ec: 0x01, iss: 1))
        #expect(wfe.raw == 0x0600_0001)
        #expect(wfe.knownClass == .wfx)
        #expect(wfe.isWFE)
        #expect(wfe.className.description == "WFI/WFE")
    }

    @Test func brk() {
        // brk #1: what a Swift runtime trap compiles to.
        let e = ExceptionSyndrome(esr(ec: 0x3C, iss: 1))
        #expect(e.raw == 0xF200_0001)
        #expect(e.knownClass == .brk64)
        #expect(e.immediate16 == 1)
        #expect(e.className.description == "BRK (Swift runtime trap)")
    }

    @Test func classNamesAndUnknownClasses() {
        #expect(ExceptionSyndrome(0).knownClass == .unknown)
        #expect(!ExceptionSyndrome(0).instructionIs32Bit)
        #expect(ExceptionSyndrome(0).className.description == "unknown reason")
        #expect(ExceptionSyndrome(esr(ec: 0x24, iss: 0)).className.description == "data abort from lower EL")
        #expect(ExceptionSyndrome(esr(ec: 0x20, iss: 0)).knownClass == .instructionAbortLower)
        #expect(ExceptionSyndrome(esr(ec: 0x2F, iss: 0)).className.description == "SError")
        for ec: UInt64 in [0x02, 0x3F, 0x11, 0x13] {
            let e = ExceptionSyndrome(esr(ec: ec, iss: 0))
            #expect(e.exceptionClass == UInt8(ec))
            #expect(e.knownClass == nil)
            #expect(e.className.description == "unhandled exception class")
        }
    }
}
