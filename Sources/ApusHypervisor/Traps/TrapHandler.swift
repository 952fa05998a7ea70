#if hasFeature(Embedded)
import AArch64
import ApusCore

/// Every exception from a guest lands here (vectors.S). The guest's registers are
/// in `frame`; on return they are restored and the guest resumes, unless its vCPU
/// stopped, in which case this CPU goes back to its scheduler loop.
@_cdecl("apus_trap_lower")
func apusTrapLower(_ frame: UnsafeMutablePointer<apus_frame>, _ kind: UInt64) {
    if Panic.active { apus_halt_forever() }
    let handled: Void? = PerCPU.withCurrent { cpu, v, d in
        #if APUS_LOCK_PROFILE
        // What began this stretch, for the lock profile (compiled out of ordinary images).
        Latency.el2Begins(cpu, tag: (frame.pointee.esr << 32) | (kind << 16) | (frame.pointee.x.16 & 0xFFFF))
        cpu.el2Arg = (frame.pointee.x.0 << 32) | (frame.pointee.x.1 & 0xFFFF_FFFF)
        #endif
        Trap.lower(frame, kind, cpu, v, d)
        Latency.el2Ends(cpu)
    }
    if handled == nil { Panic.now("trap from a guest with no vCPU on this CPU", frame: frame) }
}

enum Trap {
    /// A trap from the guest, with the CPU, the vCPU that ran and its domain borrowed.
    static func lower(_ frame: UnsafeMutablePointer<apus_frame>, _ kind: UInt64, _ cpu: PerCPU, _ v: VCPU, _ d: Domain) {
        // A run of set/way operations ends at any other trap (SystemRegisters.setWay).
        cpu.setWayPrevious = cpu.setWayBatch
        cpu.setWayBatch = false
        ListRegisters.sync(v, d)
        switch kind {
        case 0: Synchronous.handle(frame, v, d)
        case 1, 2:
            v.traps[TrapKind.interrupt] &+= 1
            Interrupts.handlePending(cpu: cpu, v, d)
        default:
            d.reportOnce(0x5E_0000) { Log.line { Log.put("d"); Log.dec(d.id); Log.put(": SError from guest, ESR "); Log.hex(frame.pointee.esr) } }
        }
        if !d.alive || v.power != .on || v.stopping || d.paused {
            Scheduler.leave(v, frame: frame, cpu: cpu)
            if v.stopping { d.withLock { held in v.setPower(.off, held); v.stopping = false } }
            if d.restartPending { Domains.finishRestart(d) }
            Scheduler.run()
        }
        if cpu.needResched {
            cpu.needResched = false
            Scheduler.switchOut(v, frame: frame, cpu: cpu)
            Scheduler.run()
        }
        // The trap exit: deferred work whose time has come (its timer brought us here).
        if cpu.deferredDue {
            cpu.deferredDue = false
            Tasklets.runOne(cpu)
        }
        ListRegisters.fill(v, d)
    }
}

/// What guests trap on, counted per vCPU and printed when a domain ends: where a guest's
/// time in the hypervisor goes.
enum TrapKind {
    static let firmware = 0, hypercall = 1, sysreg = 2, gicd = 3, gicr = 4, uart = 5, otherMMIO = 6,
               wfi = 7, interrupt = 8, other = 9, count = 10
    static let names: [StaticString] = ["psci", "hypercall", "sysreg", "gicd", "gicr", "uart", "mmio", "wfi", "irq", "other"]

    /// The kind of a synchronous trap; nil for data aborts, which MMIO.handle counts once
    /// it knows which device was accessed.
    static func classify(_ esr: ExceptionSyndrome, _ cls: ExceptionSyndrome.Class?) -> Int? {
        switch cls {
        case .hvc64: return esr.immediate16 == 0 ? firmware : hypercall
        case .smc64: return firmware
        case .sysreg64: return sysreg
        case .wfx: return wfi
        case .dataAbortLower: return nil
        default: return other
        }
    }

    static func report(_ d: Domain) {
        Latency.report()
        var total = [UInt64](repeating: 0, count: count)
        for v in d.vcpus { for i in 0..<count { total[i] &+= v.traps[i] } }
        Log.line {
            Log.put("d"); Log.dec(d.id); Log.put(" traps:")
            for i in 0..<count where total[i] > 0 { Log.put(" "); Log.put(names[i]); Log.put(" "); Log.dec(Int(total[i])) }
        }
    }
}

enum Synchronous {
    static func handle(_ frame: UnsafeMutablePointer<apus_frame>, _ v: VCPU, _ d: Domain) {
        let esr = ExceptionSyndrome(frame.pointee.esr)
        // The hottest trap, a Xen hypercall (HVC #0xEA1), before any decoding: the class
        // lookup below is a call and a table jump.
        if esr.raw & 0xFC00_FFFF == 0x5800_0EA1 {
            v.traps[TrapKind.hypercall] &+= 1
            Xen.hypercall(frame, v, d)
            return
        }
        let cls = esr.knownClass                    // decoded once: a table lookup, not free
        if let k = TrapKind.classify(esr, cls) { v.traps[k] &+= 1 }
        switch cls {
        case .hvc64:
            // ELR already points past the HVC.
            switch esr.immediate16 {
            // SMCCC/PSCI. The workaround calls never get here: the sync vector answers them
            // (vectors.S, VirtualPSCI.hvcFastPathClears).
            case 0: Firmware.call(frame, v, d)
            case 0xEA1: Xen.hypercall(frame, v, d)
            default:
                // Xen's behaviour: undefined instruction, returning after the HVC.
                GuestFault.undefined(frame, pc: frame.pointee.elr)
            }
        case .smc64:
            // A trapped SMC leaves ELR on the SMC itself. Guests reach the same
            // SMCCC services as through HVC #0 (Xen forwards nothing to firmware).
            frame.skipInstruction()
            if esr.immediate16 == 0 { Firmware.call(frame, v, d) }
            else { GuestFault.undefined(frame, pc: frame.pointee.elr &- 4) }
        case .sysreg64:
            SystemRegisters.handle(frame, esr.systemRegister, v, d)
        case .dataAbortLower:
            MMIO.handle(frame, esr.dataAbort, v, d)
        case .instructionAbortLower:
            instructionAbort(frame, esr, v, d)
        case .wfx:
            frame.skipInstruction()
            // WFE is a hint (spin-wait); WFI with nothing pending gives the CPU away.
            if !esr.isWFE, Scheduler.blockInWFI(v, d, frame: frame, cpu: PerCPU.this) { Scheduler.run() }
        case .illegalState:
            d.reportOnce(0x0E) { Log.line { Log.put("d"); Log.dec(d.id); Log.put(": illegal exception return at "); Log.hex(frame.pointee.elr) } }
            Domains.shutdown(d, .crash)
        default:
            d.reportOnce(0xEC_0000_0000 | UInt64(esr.exceptionClass)) {
                Log.line { Log.put("d"); Log.dec(d.id); Log.put(": unhandled trap, ESR "); Log.hex(esr.raw); Log.put(" at "); Log.hex(frame.pointee.elr) }
            }
            GuestFault.undefined(frame, pc: frame.pointee.elr)
        }
    }

    /// Rare, and kept out of `handle` so that the hypercall and MMIO paths stay inlined.
    @inline(never)
    static func instructionAbort(_ frame: UnsafeMutablePointer<apus_frame>, _ esr: ExceptionSyndrome, _ v: VCPU, _ d: Domain) {
        let va = read_far_el2()
        // The first instruction fetched from a fresh RAM block (IFSC and HPFAR as for data).
        if esr.dataAbort.isTranslationFault, d.populateOnFault(MMIO.faultIPA(va: va)) { return }
        d.reportOnce(0x1A_0000_0000_0000 | va) {
            Log.line { Log.put("d"); Log.dec(d.id); Log.put("v"); Log.dec(v.index); Log.put(": instruction abort at "); Log.hex(va) }
        }
        GuestFault.instructionAbort(frame, va: va)
    }
}
#endif
