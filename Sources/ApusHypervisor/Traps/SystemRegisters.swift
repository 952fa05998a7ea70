#if hasFeature(Embedded)
import AArch64
import ApusCore

/// Trapped MSR/MRS. SGI generation is emulated; debug, OS-lock and PMU registers
/// (trapped through MDCR_EL2) read as zero and ignore writes, as on Xen; the EL1
/// physical timer (trapped through CNTHCTL_EL2) is emulated per vCPU, with the EL2
/// timer watching its deadline; anything else is undefined.
enum SystemRegisters {
    static func handle(_ frame: UnsafeMutablePointer<apus_frame>, _ a: SystemRegisterAccess, _ v: VCPU, _ d: Domain) {
        let reg = a.encoding
        if reg == .iccSGI1R || reg == .iccASGI1R || reg == .iccSGI0R {
            guard !a.isRead else { return undefined(frame, a, d) }
            let value = frame.x(a.register)
            let kicks = d.withLock { held in held.vgic.sendSGI(from: v.index, value: value) }
            for k in kicks { Scheduler.kick(domain: d, vcpu: k) }
            return frame.skipInstruction()
        }
        let isDebug = a.op0 == 2
        let isPMU = a.op0 == 3 && a.op1 == 3 && (a.crn == 9 || (a.crn == 14 && a.crm >= 8))
        if let r = physicalTimerRegister(reg) {
            let count = read_cntpct_el0()
            if a.isRead {
                frame.setX(a.register, v.ptimer.read(r, count: count))
            } else {
                v.ptimer.write(r, frame.x(a.register), count: count)
                PhysicalTimer.check(v, d, count: count)          // already due: raise it now
                Scheduler.programTimer(PerCPU.this)
            }
            return frame.skipInstruction()
        }
        if isDebug || isPMU {
            if a.isRead { frame.setX(a.register, 0) }
            return frame.skipInstruction()
        }
        undefined(frame, a, d)
    }

    static func physicalTimerRegister(_ reg: SystemRegister) -> EmulatedPhysicalTimer.Register? {
        switch reg {
        case .cntpCTL: return .control
        case .cntpCVAL: return .compare
        case .cntpTVAL: return .timerValue
        default: return nil
        }
    }

    static func undefined(_ frame: UnsafeMutablePointer<apus_frame>, _ a: SystemRegisterAccess, _ d: Domain) {
        d.reportOnce(0x5C_0000_0000 | UInt64(a.encoding.value)) {
            Log.line {
                Log.put("d"); Log.dec(d.id); Log.put(a.isRead ? ": unhandled MRS" : ": unhandled MSR")
                Log.put(" op0="); Log.dec(Int(a.op0)); Log.put(" op1="); Log.dec(Int(a.op1))
                Log.put(" CRn="); Log.dec(Int(a.crn)); Log.put(" CRm="); Log.dec(Int(a.crm))
                Log.put(" op2="); Log.dec(Int(a.op2)); Log.put(", injecting undefined instruction")
            }
        }
        GuestFault.undefined(frame, pc: frame.pointee.elr)
    }
}
/// Raising the emulated physical timer's interrupt (PPI 30) when it is due.
enum PhysicalTimer {
    static func check(_ v: VCPU, _ d: Domain, count: UInt64) {
        guard v.ptimer.expire(count: count) else { return }
        _ = d.withLock { held in held.vgic.raise(GuestLayout.physicalTimerPPI, vcpu: v.index) }
    }
}
#endif
