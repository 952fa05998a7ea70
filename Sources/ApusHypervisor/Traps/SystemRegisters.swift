#if hasFeature(Embedded)
import AArch64
import ApusCore

/// Trapped MSR/MRS. SGI generation is emulated; debug, OS-lock and PMU registers
/// (trapped through MDCR_EL2) read as zero and ignore writes, as on Xen; the EL1
/// physical timer (trapped through CNTHCTL_EL2) too; anything else is undefined.
enum SystemRegisters {
    static func handle(_ frame: UnsafeMutablePointer<apus_frame>, _ a: SystemRegisterAccess, _ v: VCPU, _ d: Domain) {
        let reg = a.encoding
        if reg == .iccSGI1R || reg == .iccASGI1R || reg == .iccSGI0R {
            guard !a.isRead else { return undefined(frame, a, d) }
            let value = frame.x(a.register)
            let kicks = d.withLock { d.vgic.sendSGI(from: v.index, value: value) }
            for k in kicks { Scheduler.kick(domain: d, vcpu: k) }
            return frame.skipInstruction()
        }
        let isDebug = a.op0 == 2
        let isPMU = a.op0 == 3 && a.op1 == 3 && (a.crn == 9 || (a.crn == 14 && a.crm >= 8))
        let isPhysTimer = reg == .cntpCTL || reg == .cntpCVAL || reg == .cntpTVAL
        if isDebug || isPMU || isPhysTimer {
            if a.isRead { frame.setX(a.register, 0) }
            return frame.skipInstruction()
        }
        undefined(frame, a, d)
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
#endif
