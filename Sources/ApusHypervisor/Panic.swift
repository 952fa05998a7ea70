#if hasFeature(Embedded)
import AArch64
import ApusCore

/// A fault inside the hypervisor: print what a developer needs (the exception
/// decoded, the faulting address, every register) and stop the board.
enum Panic {
    nonisolated(unsafe) static var lock: UInt32 = 0
    /// Set once: every CPU stops at its next trap (and is kicked so it traps now).
    nonisolated(unsafe) static var active = false

    static func now(_ why: StaticString, frame: UnsafeMutablePointer<apus_frame>?) -> Never {
        apus_spin_lock(&lock)
        active = true
        for c in Hypervisor.cpus where c.index != Int(read_tpidr_el2()) { GICv3.sendSGI(GICv3.kickSGI, toMPIDR: c.mpidr) }
        Log.put("\n(XEN) ****************************************\n(XEN) Apus PANIC on CPU")
        Log.dec(Int(read_tpidr_el2())); Log.put(": "); Log.put(why); Log.put("\n")
        if let f = frame {
            let esr = ExceptionSyndrome(f.pointee.esr)
            Log.put("(XEN) ESR_EL2 "); Log.hex(esr.raw); Log.put(" EC "); Log.hex(UInt64(esr.exceptionClass))
            Log.put(" ("); Log.put(esr.className); Log.put(")\n")
            if esr.knownClass == .brk64 && esr.immediate16 == 1 {
                Log.put("(XEN) Swift runtime trap (overflow, bounds or unwrap check failed)\n")
            }
            Log.put("(XEN) PC "); Log.hex(f.pointee.elr); Log.put(" SPSR "); Log.hex(f.pointee.spsr)
            Log.put(" FAR "); Log.hex(read_far_el2()); Log.put(" HPFAR "); Log.hex(read_hpfar_el2()); Log.put("\n")
            for i in 0..<31 {
                Log.put(i < 10 ? "(XEN) x0" : "(XEN) x"); Log.dec(i); Log.put(" "); Log.hex(f.x(i)); Log.put("\n")
            }
        }
        Log.put("(XEN) ****************************************\n(XEN) Board stopped.\n")
        apus_spin_unlock(&lock)
        apus_halt_forever()
    }
}

@_cdecl("apus_trap_current")
func apusTrapCurrent(_ frame: UnsafeMutablePointer<apus_frame>, _ kind: UInt64) {
    switch kind {
    case 0: Panic.now("synchronous exception at EL2", frame: frame)
    case 1, 2: Panic.now("interrupt taken at EL2 (interrupts are masked there)", frame: frame)
    case 3: Panic.now("SError at EL2", frame: frame)
    default: Panic.now("exception from AArch32 (not allowed)", frame: frame)
    }
}

@_cdecl("apus_out_of_memory")
func apusOutOfMemory(_ request: UInt64) -> Never {
    // Printed as a panic is, without the console's lock: the allocation that failed may
    // have been made under it (the console multiplexer's line buffers).
    Log.put("\n(XEN) heap exhausted allocating "); Log.dec(Int(request)); Log.put(" bytes")
    Panic.now("out of memory", frame: nil)
}
#endif
