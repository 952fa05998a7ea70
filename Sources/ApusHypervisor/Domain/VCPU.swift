#if hasFeature(Embedded)
import AArch64
import ApusCore

/// EL1 system registers that belong to a vCPU and must follow it between
/// physical CPUs. Saved only when a CPU switches to another vCPU.
struct EL1Context {
    var sctlr: UInt64 = 0x30D0_0800        // RES1 bits, MMU and caches off (booting.rst)
    var tcr: UInt64 = 0, ttbr0: UInt64 = 0, ttbr1: UInt64 = 0
    var mair: UInt64 = 0, amair: UInt64 = 0, vbar: UInt64 = 0
    var contextidr: UInt64 = 0, tpidr1: UInt64 = 0, tpidr0: UInt64 = 0, tpidrro0: UInt64 = 0
    var sp0: UInt64 = 0, sp1: UInt64 = 0, elr1: UInt64 = 0, spsr1: UInt64 = 0
    var esr1: UInt64 = 0, far1: UInt64 = 0, afsr0: UInt64 = 0, afsr1: UInt64 = 0
    var par: UInt64 = 0, cpacr: UInt64 = 0, csselr: UInt64 = 0, cntkctl: UInt64 = 0
    var cntvCtl: UInt64 = 0, cntvCval: UInt64 = 0
    var vmcr: UInt64 = 0, ap1r0: UInt64 = 0

    mutating func save() {
        sctlr = read_sctlr_el1(); tcr = read_tcr_el1(); ttbr0 = read_ttbr0_el1(); ttbr1 = read_ttbr1_el1()
        mair = read_mair_el1(); amair = read_amair_el1(); vbar = read_vbar_el1()
        contextidr = read_contextidr_el1(); tpidr1 = read_tpidr_el1(); tpidr0 = read_tpidr_el0()
        tpidrro0 = read_tpidrro_el0(); sp0 = read_sp_el0(); sp1 = read_sp_el1()
        elr1 = read_elr_el1(); spsr1 = read_spsr_el1(); esr1 = read_esr_el1(); far1 = read_far_el1()
        afsr0 = read_afsr0_el1(); afsr1 = read_afsr1_el1(); par = read_par_el1()
        cpacr = read_cpacr_el1(); csselr = read_csselr_el1(); cntkctl = read_cntkctl_el1()
        cntvCtl = read_cntv_ctl_el0(); cntvCval = read_cntv_cval_el0()
        // Stop this vCPU's timer from firing on a CPU that now runs another.
        write_cntv_ctl_el0(0)
        vmcr = read_ich_vmcr_el2(); ap1r0 = read_ich_ap1r0_el2()
    }

    func restore() {
        write_sctlr_el1(sctlr); write_tcr_el1(tcr); write_ttbr0_el1(ttbr0); write_ttbr1_el1(ttbr1)
        write_mair_el1(mair); write_amair_el1(amair); write_vbar_el1(vbar)
        write_contextidr_el1(contextidr); write_tpidr_el1(tpidr1); write_tpidr_el0(tpidr0)
        write_tpidrro_el0(tpidrro0); write_sp_el0(sp0); write_sp_el1(sp1)
        write_elr_el1(elr1); write_spsr_el1(spsr1); write_esr_el1(esr1); write_far_el1(far1)
        write_afsr0_el1(afsr0); write_afsr1_el1(afsr1); write_par_el1(par)
        write_cpacr_el1(cpacr); write_csselr_el1(csselr); write_cntkctl_el1(cntkctl)
        write_cntv_cval_el0(cntvCval); write_cntv_ctl_el0(cntvCtl)
        write_ich_vmcr_el2(vmcr); write_ich_ap1r0_el2(ap1r0)
    }
}

final class VCPU {
    /// Its domain (Xen's v->domain). Strong on purpose: a domain is never freed, and a vCPU
    /// that escaped a failed build keeps its domain valid; the cycle is the board's lifetime.
    let domain: Domain
    var domainID: Int { domain.id }
    let index: Int
    /// Its entity in the scheduler.
    let schedID: Int
    /// The CPU it is on now (under the scheduler lock).
    var runningOn: Int? = nil
    /// The CPU it last entered on (Xen's v->processor, for getvcpuinfo): written on entry.
    var lastCPU = 0
    /// Blocked in WFI, waiting for an interrupt (under the scheduler lock).
    var blocked = false
    /// Physical count at which its virtual timer fires while blocked, and the CPU
    /// whose EL2 timer watches for it.
    var wakeAt: UInt64? = nil
    var wakeCPU = 0
    /// Something was raised for it since it last entered the guest: do not block.
    var kicked = false
    /// It called PSCI CPU_OFF and is still on its CPU: PSCI keeps reporting it on (so
    /// a CPU_ON racing with the stop gets ALREADY_ON) until it has left.
    var stopping = false
    /// Where a set/way flush of its domain's RAM continues (SystemRegisters.setWay), nil
    /// when none is under way.
    var setWayCursor: Int? = nil
    /// Blocked in SCHEDOP_poll: the Xen core's poll state is cleared when it runs again.
    var polling = false
    /// Its EL1 physical timer, emulated (the real one is the hypervisor's).
    var ptimer = EmulatedPhysicalTimer()
    /// Traps taken from this vCPU by kind (TrapKind), for profiling: only its CPU writes them.
    var traps = InlineArray<10, UInt64>(repeating: 0)      // TrapKind.count; inline: no uniqueness check per trap
    /// PSCI's view of it: changed only under its domain's lock (`setPower`), so that
    /// CPU_ON, CPU_OFF, a domain reset and AFFINITY_INFO each see and act on one state.
    private(set) var power: VCPUPowerState = .off
    /// Guest general registers while not on a CPU.
    var frame = apus_frame()
    var el1 = EL1Context()
    var fp = apus_fp_state()
    /// Its list registers: what the hardware holds while it runs (read back after a trap only
    /// where an entry is in use), their saved values while it does not.
    var lrs: ListRegisterFile
    /// `domain`, borrowed (no retain and release).
    var domainRef: Unmanaged<Domain> { .passUnretained(domain) }

    /// Set by reset: the saved EL1 state must be loaded even on the CPU that ran it last.
    var needsRestore = true

    init(domain: Domain, index: Int, schedID: Int, listRegisters: Int) {
        self.domain = domain
        self.index = index
        self.schedID = schedID
        lrs = ListRegisterFile(count: listRegisters)
        precondition(traps.count == TrapKind.count, "one trap counter per TrapKind")
    }

    func setPower(_ state: VCPUPowerState, _ held: borrowing DomainLocked) {
        precondition(held.domain === domain, "power changes under the vCPU's own domain's lock")
        power = state
    }

    /// Architectural reset state for a (re)started vCPU: EL1h, interrupts masked,
    /// MMU off, x0 = `x0`, PC = `entry`.
    func reset(entry: UInt64, x0: UInt64) {
        frame = apus_frame()
        frame.x.0 = x0
        frame.elr = entry
        frame.spsr = 0x3C5
        el1 = EL1Context()
        fp = apus_fp_state()
        lrs = ListRegisterFile(count: lrs.count)
        needsRestore = true
        stopping = false
        setWayCursor = nil
        ptimer = EmulatedPhysicalTimer()
    }
}
#endif
