#if hasFeature(Embedded)
import AArch64
import ApusCore

/// Running vCPUs on a physical CPU. Each vCPU is placed on one CPU at domain build
/// time; a CPU runs the first vCPU of its queue that is on, and waits in WFI (so an
/// idle CPU costs no instructions) when none is.
enum Scheduler {
    /// The CPU's main loop: never returns. Called at boot and whenever the vCPU that
    /// was running stops.
    static func run() -> Never {
        let cpu = PerCPU.this
        while true {
            if let v = pickRunnable(cpu) { enter(v, on: cpu) }
            arch_wfi()
            Interrupts.handlePending(cpu: cpu, frame: nil)
        }
    }

    static func pickRunnable(_ cpu: PerCPU) -> VCPU? {
        for v in cpu.runQueue {
            guard let d = Hypervisor.domain(v.domainID), d.alive else { continue }
            if v.power == .on { return v }
        }
        return nil
    }

    /// Loads `v` on this CPU and enters the guest; does not return.
    static func enter(_ v: VCPU, on cpu: PerCPU) -> Never {
        guard let d = Hypervisor.domain(v.domainID) else { run() }
        if cpu.loaded !== v || v.needsRestore {
            v.el1.restore()
            apus_fp_restore(&v.fp)
            cpu.loaded = v
            v.needsRestore = false
        }
        write_vttbr_el2(d.vttbr)
        write_vmpidr_el2((1 << 31) | VirtualPSCI.mpidr(ofVCPU: v.index))
        write_vpidr_el2(read_midr_el1())
        write_hcr_el2(Hypervisor.guestHCR)
        write_cntvoff_el2(d.counterOffset)
        arch_isb()
        arch_tlbi_vmalls12e1is()
        for n in 0..<v.lrs.count { GICv3.writeListRegister(n, v.lrs[n]) }
        write_ich_hcr_el2(1)
        d.withLock { d.vgic.needsFill[v.index] = true }
        cpu.current = v
        let frame = UnsafeMutablePointer<apus_frame>(bitPattern: UInt(apus_stack_top(UInt64(cpu.index)) - 272))!
        frame.pointee = v.frame
        ListRegisters.fill(v, d)
        apus_enter_guest(frame)
    }

    /// Takes the running vCPU off this CPU, keeping all its state in the VCPU object.
    static func switchOut(_ v: VCPU, frame: UnsafeMutablePointer<apus_frame>, cpu: PerCPU) {
        v.frame = frame.pointee
        for n in 0..<v.lrs.count { v.lrs[n] = GICv3.readListRegister(n); GICv3.writeListRegister(n, 0) }
        v.el1.save()
        apus_fp_save(&v.fp)
        cpu.current = nil
        arch_dsb_sy()
        arch_sev()                                   // a CPU waiting for this vCPU to leave (reboot)
        write_hcr_el2(0x8000_0000)
        arch_isb()
    }

    /// Makes sure the CPU running `v` notices new work for it.
    static func kick(_ v: VCPU) {
        let me = PerCPU.this
        guard v.pcpu != me.index, v.pcpu < Hypervisor.cpus.count else { return }
        GICv3.sendSGI(GICv3.kickSGI, toMPIDR: Hypervisor.cpus[v.pcpu].mpidr)
    }

    static func kick(domain d: Domain, vcpu index: Int?) {
        guard let i = index, i >= 0, i < d.vcpus.count else { return }
        kick(d.vcpus[i])
    }
}

/// Moving virtual interrupts between the vGIC's state and the list registers of
/// the running vCPU.
enum ListRegisters {
    /// After the guest ran: fold the list registers back into the vGIC. Only list
    /// registers in use are read, and the vGIC lock is taken only when one changed.
    static func sync(_ v: VCPU, _ d: Domain) {
        var changed = false
        for i in 0..<v.lrs.count where v.lrs[i] != 0 {
            let now = GICv3.readListRegister(i)
            if now != v.lrs[i] { v.lrs[i] = now; changed = true }
        }
        guard changed else { return }
        var lrs = v.lrs
        d.withLock { d.vgic.sync(vcpu: v.index, lrs: &lrs) }
        for i in 0..<lrs.count where lrs[i] == 0 && v.lrs[i] != 0 { GICv3.writeListRegister(i, 0) }
        v.lrs = lrs
    }

    /// Before the guest runs: load deliverable interrupts; ask for a maintenance
    /// interrupt (NPIE) when more are waiting than list registers are free.
    static func fill(_ v: VCPU, _ d: Domain) {
        // Unlocked peek: whoever sets needsFill does so under the lock and then kicks
        // this CPU, so a stale false here is followed by another trap.
        guard d.vgic.needsFill[v.index] else { return }
        var lrs = v.lrs
        let more = d.withLock { d.vgic.fill(vcpu: v.index, lrs: &lrs) }
        for i in 0..<lrs.count where lrs[i] != v.lrs[i] { GICv3.writeListRegister(i, lrs[i]) }
        v.lrs = lrs
        write_ich_hcr_el2(more ? (1 | (1 << 3)) : 1)
    }
}
#endif
