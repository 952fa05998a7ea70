#if hasFeature(Embedded)
import AArch64
import ApusCore

/// One physical CPU: its affinity, the vCPU on it now, and the vCPU whose EL1
/// registers are loaded (so a vCPU that comes back to the same CPU skips a restore).
final class PerCPU {
    let index: Int
    let mpidr: UInt64
    var online = false
    var current: VCPU?
    var loaded: VCPU?
    /// When the running vCPU's timeslice ends (physical count), if it has one.
    var sliceEnd: UInt64? = nil
    /// The timeslice ended and another vCPU waits: switch at the end of this trap.
    /// Set by this CPU, or by another to move this CPU's vCPU off it (setvcpuaffinity,
    /// followed by a kick): a Bool, a stale read only delays the move to the next trap.
    var needResched = false
    /// A woken vCPU takes this CPU when the running one's rate limit expires (physical count;
    /// 0: none): wake-up preemption that had to wait (FairScheduler.preemption). Written by
    /// any CPU (one aligned store) before it kicks this one, which arms its timer for it.
    var preemptAt: UInt64 = 0
    /// Tasklets.runOne's last step served XenStore rather than a job (they take turns).
    var lastStepWasService = false
    /// Dom0's CONSOLEIO_write bytes, printed once the hypercall has dropped the Xen lock
    /// (ControlConsole.flush).
    var consoleOut: [UInt8] = []
    /// The switch that follows is a SCHEDOP_yield: the yielding vCPU goes behind the others.
    var yielded = false
    /// Whether the running vCPU's WFI traps (see Hypervisor.trapWFI).
    var wfiTrapped = false
    /// Physical count when this CPU last began running hypervisor code (Latency).
    var el2Since: UInt64 = 0
    /// What began this CPU's current EL2 stretch (Latency, profile builds only).
    var el2Tag: UInt64 = 0
    var el2Arg: UInt64 = 0
    /// Set/way emulation (SystemRegisters.setWay): the last trap on this CPU was a set/way
    /// operation of `setWayOwner`, whose domain's RAM has been flushed since.
    var setWayBatch = false
    var setWayPrevious = false
    var setWayOwner: ObjectIdentifier? = nil
    /// Deferred work (Tasklets) comes back to this CPU at this physical count: its EL2
    /// timer is armed for it.
    var deferredAt: UInt64? = nil
    /// ... and that time has come: the next trap exit or idle-loop pass does a step.
    var deferredDue = false

    init(index: Int, mpidr: UInt64) {
        self.index = index
        self.mpidr = mpidr
    }

    /// This CPU's object, from the table the trap path also reads (set at boot, before any
    /// code could ask).
    static var this: PerCPU { Unmanaged<PerCPU>.fromOpaque(apus_this_cpu_object()!).takeUnretainedValue() }

    /// Runs `body` with this CPU, its running vCPU and that vCPU's domain, without reference
    /// counting: a trap's hottest path. CPU objects, vCPUs and domains live as long as the
    /// board (held by `Hypervisor.cpus`, `Domain.vcpus`, `Hypervisor.domains`), so a borrowed
    /// reference stays valid even if `current` changes inside `body`. Nil when this CPU runs
    /// no vCPU.
    @inline(__always)
    static func withCurrent<R>(_ body: (PerCPU, VCPU, Domain) -> R) -> R? {
        guard let raw = apus_this_cpu_object() else { return nil }
        return Unmanaged<PerCPU>.fromOpaque(raw)._withUnsafeGuaranteedRef { cpu in
            guard let v = cpu.currentRef else { return nil }
            return v._withUnsafeGuaranteedRef { v in
                v.domainRef._withUnsafeGuaranteedRef { d in body(cpu, v, d) }
            }
        }
    }

    /// `current`, borrowed: reading it this way costs no retain and release.
    var currentRef: Unmanaged<VCPU>? {
        if let v = current { return .passUnretained(v) }
        return nil
    }
}

/// Proof that Hypervisor.stateLock is held (lent by `withStateLock`).
struct StateLocked: ~Copyable { fileprivate init() {} }

/// Global hypervisor state. Set up by the boot CPU before any other CPU starts;
/// after that the arrays do not change shape, only the objects in them.
enum Hypervisor {
    nonisolated(unsafe) static var cpus: [PerCPU] = []
    nonisolated(unsafe) static var domains: [Domain] = []
    nonisolated(unsafe) static var console = ConsoleMux()
    nonisolated(unsafe) static var consoleLock: UInt32 = 0
    /// Guards each domain's lifecycle flags (alive, restartPending, restartClaimed):
    /// whether the board still has a domain, and which CPU rebuilds a rebooting one.
    nonisolated(unsafe) fileprivate static var stateLock: UInt32 = 0

    @inline(__always)
    static func withStateLock<R>(_ body: (borrowing StateLocked) -> R) -> R {
        apus_spin_lock(&stateLock)
        let t0 = Latency.stamp()
        let r = body(StateLocked())
        Latency.held(.state, since: t0)
        apus_spin_unlock(&stateLock)
        return r
    }
    nonisolated(unsafe) static var psciUsesHVC = false
    nonisolated(unsafe) static var uartIntid: UInt32 = 0
    /// The control domain, when there is one (its devices' interrupts go to it).
    nonisolated(unsafe) static var control: Domain? = nil
    /// Bit n: SPI n (< 1024) is a device of dom0's, delivered to its vGIC.
    nonisolated(unsafe) static var dom0SPIs = InlineArray<16, UInt64>(repeating: 0)
    nonisolated(unsafe) static var physicalAddressRange: UInt64 = 2
    /// The board's RAM in pages and one past the highest frame (set once at boot, for sysctl
    /// physinfo; its free pages are RAMPool's, read live).
    nonisolated(unsafe) static var ramFacts: (total: UInt64, maxMFN: UInt64) = (0, 0)
    nonisolated(unsafe) static var counterFrequency: UInt64 = 62_500_000
    /// The board's /chosen/rng-seed, from which each guest's is derived.
    nonisolated(unsafe) static var rngSeed: [UInt8] = []

    /// HCR_EL2 while a guest runs: stage 2 on (VM), set/way invalidation as clean
    /// (SWIO), physical IRQ/FIQ/SError to EL2 (IMO/FMO/AMO), broadcast TLB and cache
    /// maintenance (FB, BSU=inner), WFI trapped (TWI), SMC trapped (TSC), implementation-defined
    /// registers trapped (TIDCP), set/way cache maintenance trapped (TSW: a guest must not
    /// clean or invalidate lines of other domains, and by set/way it cannot reach its own
    /// lines on other CPUs or in a system cache; Xen traps it too), EL1 is AArch64 (RW).
    static let guestHCR: UInt64 = (1 << 0) | (1 << 1) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 9)
        | (1 << 10) | (1 << 19) | (1 << 20) | (1 << 22) | (1 << 31)
    /// HCR_EL2.TWI: WFI traps so the vCPU can give its CPU away. Only set while another
    /// vCPU could use the CPU: a vCPU alone on its CPU waits in a real WFI, which wakes on
    /// its (virtual) interrupts at no cost (Xen's vwfi=native, KVM does the same).
    static let trapWFI: UInt64 = 1 << 13

    static func domain(_ id: Int) -> Domain? {
        // Boot-time domains are built in id order from 0 (dom0) or 1 (only a domain that
        // failed to build leaves a gap); the toolstack's are added in any order, and a
        // released one stays in its slot until a new domain takes it.
        let first = domains.first?.id ?? 1
        if id >= first && id - first < domains.count {
            let d = domains[id - first]
            if d.id == id && !d.released { return d }
        }
        for d in domains where d.id == id && !d.released { return d }
        return nil
    }

    /// PSCI call to the board's firmware, through the conduit its DTB names.
    static func firmwareCall(_ fn: UInt64, _ a1: UInt64 = 0, _ a2: UInt64 = 0, _ a3: UInt64 = 0) -> UInt64 {
        psciUsesHVC ? arch_hvc(fn, a1, a2, a3) : arch_smc(fn, a1, a2, a3)
    }

    static func powerOffBoard() -> Never {
        Log.line { Log.put("Apus: no domain left, powering off the board") }
        _ = firmwareCall(0x8400_0008)
        apus_halt_forever()
    }
}

@inline(never)
func apus_halt_forever() -> Never {
    while true { arch_irq_disable(); arch_wfi() }
}
#endif
