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
        // DC ISW / CSW / CISW (op0 1, op1 0, CRn 7, CRm 6/10/14, op2 2), trapped by HCR_EL2.TSW.
        if a.op0 == 1, a.op1 == 0, a.crn == 7, a.op2 == 2, a.crm == 6 || a.crm == 10 || a.crm == 14, !a.isRead {
            if setWay(v, d, cpu: PerCPU.this) { frame.skipInstruction() }
            return
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

    /// Set/way cache maintenance cannot be passed through (it reaches only this CPU's caches,
    /// and every domain's lines in them). Xen 4.17 (p2m_set_way_flush) cleans and
    /// invalidates the domain's whole p2m by VA on the first such operation and then waits,
    /// with HCR_EL2.TVM, for the guest to switch its caches on or off. Apus does the simpler
    /// thing that is as safe: the first operation of a run cleans and invalidates all the
    /// domain's touched RAM to the point of coherency (DC CIVAC; RAM never touched holds
    /// nothing of the guest's), and the rest of the run (consecutive set/way traps of the
    /// same vCPU: a guest's loop over sets and ways) is done by then.
    /// The flush is a continuation, as Xen's p2m_flush_vm is preemptible: each trap cleans
    /// at most `setWayBytesPerTrap` and leaves the instruction to be executed again (false)
    /// until the whole RAM is done (true: the caller steps over it). No lock is held.
    @inline(never)                                   // rare: kept out of the trap path
    static func setWay(_ v: VCPU, _ d: Domain, cpu: PerCPU) -> Bool {
        let me = ObjectIdentifier(v)
        cpu.setWayBatch = true
        if v.setWayCursor == nil {
            if cpu.setWayPrevious && cpu.setWayOwner == me { return true }
            cpu.setWayOwner = me
            v.setWayCursor = 0
        }
        let piece = setWayBytesPerTrap
        // Bank 0 first, then dom0's further banks (mapped whole at build: all touched).
        let pieces = Int(d.ramSize / piece)
        let firstBank = Int(d.ram.size / piece)
        var next = v.setWayCursor ?? 0
        var flushed = false
        while next < pieces && !flushed {
            var offset = UInt64(next) * piece
            if next < firstBank {
                let touched = d.withP2M { held in held.blocks.state(Int(offset / RAMBlocks.blockSize)) != .untouched }
                if touched {
                    arch_dcache_flush_poc(d.ram.base &+ offset, piece)
                    flushed = true
                }
            } else {
                offset -= d.ram.size
                for b in d.moreRAM {
                    if offset < b.size { arch_dcache_flush_poc(b.base &+ offset, piece); break }
                    offset -= b.size
                }
                flushed = true
            }
            next += 1
        }
        guard next >= pieces else {
            v.setWayCursor = next
            return false
        }
        v.setWayCursor = nil
        d.reportOnce(0x5E7_0000) {
            Log.line {
                Log.put("d"); Log.dec(d.id); Log.put("v"); Log.dec(v.index)
                Log.put(": set/way cache maintenance trapped, its touched RAM cleaned and invalidated to PoC")
            }
        }
        return true
    }

    /// 256 KiB: 4,096 cache lines, about 16,000 instructions at EL2 per trap.
    static let setWayBytesPerTrap: UInt64 = 0x4_0000

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
