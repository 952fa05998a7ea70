#if hasFeature(Embedded)
import AArch64
import ApusCore

/// Running vCPUs on physical CPUs with the core's `FairScheduler` (or its no-sharing
/// policy, `sched=null`). Time is the physical counter. A CPU with nothing to run
/// waits in WFI with interrupts masked at EL2, so an idle CPU costs nothing; the EL2
/// physical timer (PPI 26) ends timeslices and wakes vCPUs blocked in WFI when their
/// virtual timer is due.
enum Scheduler {
    nonisolated(unsafe) static var policy: FairScheduler!
    nonisolated(unsafe) static var lock: UInt32 = 0
    /// vCPU objects by scheduler id.
    nonisolated(unsafe) static var vcpus: [VCPU] = []

    static var now: UInt64 { read_cntpct_el0() }

    @inline(__always)
    static func locked<R>(_ body: () -> R) -> R {
        apus_spin_lock(&lock)
        let t0 = Latency.stamp()
        let r = body()
        Latency.held(.scheduler, since: t0)
        apus_spin_unlock(&lock)
        return r
    }

    /// The CPU's main loop: never returns. Called at boot and whenever the vCPU that
    /// was running leaves the CPU.
    static func run() -> Never {
        let cpu = PerCPU.this
        var stepped = false
        while true {
            let t = now
            let yielding = cpu.yielded
            cpu.yielded = false
            cpu.needResched = false                     // this pick is the switch it asked for
            cpu.preemptAt = 0
            let (id, until) = locked { policy.pick(cpu: cpu.index, now: t, yielding: yielding) }
            cpu.sliceEnd = until
            if let i = id {
                // Borrowed, not retained: entering the guest never returns to release it.
                let v = Unmanaged.passUnretained(vcpus[i])
                enter(v, on: cpu)
                continue                                 // it may not run: pick again
            }
            // Idle: deferred work this CPU armed its timer for is due now (there is no guest
            // here to give time to first). One step, then a pick (the step may have made a
            // vCPU runnable here: a rebooted domain's, and the wake does not kick this CPU),
            // then WFI, which the timer, armed again at once when work is left, ends at
            // once: interrupts are taken between steps.
            if !stepped {
                if cpu.deferredAt != nil { cpu.deferredAt = nil; cpu.deferredDue = true }
                if cpu.deferredDue {
                    cpu.deferredDue = false
                    Tasklets.runOne(cpu)
                    stepped = true
                    continue
                }
            }
            stepped = false
            programTimer(cpu)
            Latency.el2Ends(cpu)
            arch_wfi()
            Latency.el2Begins(cpu)
            Interrupts.handlePending(cpu: cpu)
        }
    }

    /// Loads `v` on this CPU and enters the guest. Returns only when `v` may not run: its
    /// domain stopped (poweroff, reboot, destroy) while it waited for a CPU, so it was still
    /// in the run queue. It leaves the queue here; a rebooting domain's memory is being
    /// rebuilt and none of its old vCPUs may touch it.
    static func enter(_ ref: Unmanaged<VCPU>, on cpu: PerCPU) {
        // The vCPU and its domain are borrowed (the scheduler's and the domain table's
        // references keep them): apus_enter_guest does not return, so a reference this
        // function held would never be released, and a destroyed domain's objects would
        // never be freed.
        ref._withUnsafeGuaranteedRef { v in
            v.domainRef._withUnsafeGuaranteedRef { d in enter(v, d, on: cpu) }
        }
    }

    private static func enter(_ v: VCPU, _ d: Domain, on cpu: PerCPU) {
        let t = now
        let admitted: Bool = locked {
            guard v.power == .on, d.alive, !d.paused else { policy.offline(v.schedID, now: t); return false }
            v.runningOn = cpu.index                  // from here a kick reaches it on this CPU
            v.lastCPU = cpu.index
            return true
        }
        guard admitted else { return }
        if cpu.loaded !== v || v.needsRestore {
            v.el1.restore()
            apus_fp_restore(&v.fp)
            cpu.loaded = v
            v.needsRestore = false
        }
        write_vttbr_el2(d.vttbr)
        write_vmpidr_el2((1 << 31) | VirtualPSCI.mpidr(ofVCPU: v.index))
        write_vpidr_el2(read_midr_el1())
        // WFI trapping as last set on this CPU; programTimer below brings it up to date.
        write_hcr_el2(Hypervisor.guestHCR | (cpu.wfiTrapped ? Hypervisor.trapWFI : 0))
        arch_isb()
        // VMIDs tag the TLB, so a domain switch needs no flush. Another vCPU of the same
        // domain than the one that ran here last does: local flush, this CPU only (the
        // broadcast flush this was would drop the domain's entries on every CPU at every entry).
        if d.lastVCPURan[cpu.index] != v.index {
            arch_tlbi_vmalls12e1()
            d.lastVCPURan[cpu.index] = v.index
        }
        for n in 0..<v.lrs.count { GICv3.writeListRegister(n, v.lrs[n]) }
        _ = v.lrs.takeChanged()                      // all written
        write_ich_hcr_el2(1)
        locked { v.kicked = false; v.wakeAt = nil }          // runningOn was set on admission
        cpu.current = v
        Xen.switchedIn(v, d)
        if v.polling { Xen.endPoll(v) }
        PhysicalTimer.check(v, d, count: now)           // expired while it waited for a CPU
        programTimer(cpu)
        let frame = UnsafeMutablePointer<apus_frame>(bitPattern: UInt(apus_stack_top(UInt64(cpu.index)) - 272))!
        frame.pointee = v.frame
        ListRegisters.fill(v, d)
        Latency.el2Ends(cpu)
        apus_enter_guest(frame)
    }

    /// Takes the running vCPU off this CPU, keeping all its state in the VCPU object;
    /// `leaving`: it goes offline (its run state says so).
    static func switchOut(_ v: VCPU, frame: UnsafeMutablePointer<apus_frame>, cpu: PerCPU, leaving: Bool = false) {
        v.frame = frame.pointee
        for n in 0..<v.lrs.count { v.lrs.observe(n, GICv3.readListRegister(n)); GICv3.writeListRegister(n, 0) }
        write_ich_hcr_el2(0)                         // no maintenance interrupts for a vCPU that left
        v.el1.save()                                 // also stops its virtual timer on this CPU
        apus_fp_save(&v.fp)
        v.needsRestore = true
        let blocked: Bool = locked { v.runningOn = nil; return v.blocked }
        Xen.runstate(v, leaving ? .offline : blocked ? .blocked : .runnable)
        cpu.current = nil
        arch_dsb_sy()
        arch_sev()                                   // a CPU waiting for this vCPU to leave (reboot)
        write_hcr_el2(0x8000_0000)
        arch_isb()
    }

    /// The vCPU on this CPU stops wanting it (powered off, domain gone): leave for good.
    static func leave(_ v: VCPU, frame: UnsafeMutablePointer<apus_frame>, cpu: PerCPU) {
        let t = now
        locked { policy.offline(v.schedID, now: t) }
        switchOut(v, frame: frame, cpu: cpu, leaving: true)
    }

    /// The toolstack paused `d` (domctl pausedomain): each vCPU on a CPU traps and leaves
    /// it (Trap.lower), one blocked in WFI is woken and refused at entry. Unpaused: every
    /// powered-on vCPU competes for a CPU again (one that was blocked gets a spurious wake-up,
    /// which WFI allows).
    static func setPaused(_ d: Domain, _ paused: Bool) {
        d.paused = paused
        arch_dsb_ish()
        for v in d.vcpus where v.power == .on {
            if paused {
                kick(v)
            } else {
                let t = now
                woke(locked { wakeLocked(v.schedID, now: t) })
            }
        }
    }

    /// A vCPU is powered on (domain start, PSCI CPU_ON): it competes for a CPU.
    /// A vCPU claimed with CPU_ON (ON_PENDING) becomes runnable, unless its domain
    /// stopped or reset meanwhile (then it stays off: the claim lapsed).
    static func powerOn(_ v: VCPU) {
        let d = v.domain
        let on = d.withLock { held -> Bool in
            guard v.power == .onPending, d.alive else { return false }
            v.setPower(.on, held)
            return true
        }
        guard on else { return }
        let t = now
        woke(locked { wakeLocked(v.schedID, now: t) })
    }

    /// Where a woken vCPU goes (the scheduler lock held): an idle CPU, or a CPU whose vCPU
    /// it should take, now or when that one's rate limit expires (wake-up preemption,
    /// FairScheduler.preemption), or nowhere yet.
    private static func wakeLocked(_ id: Int, now t: UInt64) -> Wake {
        if let c = policy.wake(id, now: t) { return .idle(c) }
        if let p = policy.preemption(for: id, now: t) { return .preempt(p.cpu, at: p.at) }
        return .waits
    }

    enum Wake { case idle(Int), preempt(Int, at: UInt64), waits }

    /// After a wake: an idle CPU runs the vCPU; a CPU it preempts switches at the end of its
    /// current trap (this one's) or at the kick (another's): a vCPU that slept, say for its
    /// backend's event, then runs within the rate limit rather than a whole timeslice later.
    /// Otherwise every CPU re-arms its timeslice timer so that the newcomer gets a turn (a
    /// CPU running a vCPU alone has no slice timer).
    static func woke(_ w: Wake) {
        switch w {
        case .idle(let c):
            kickCPU(c)
        case .preempt(let c, let at):
            let here = PerCPU.this
            let target = c == here.index ? here : c >= 0 && c < Hypervisor.cpus.count ? Hypervisor.cpus[c] : nil
            guard let target else { return }
            let due = at <= now
            if due {
                target.needResched = true                // a Bool: a stale read delays the switch to the next trap
            } else if target.preemptAt == 0 || at < target.preemptAt {
                target.preemptAt = at                    // its timer ends the running vCPU's turn then
            }
            if target !== here {
                kickCPU(c)                               // its kick handler re-arms its timer
            } else if !due {
                programTimer(here)                       // (due: this trap's exit switches)
            }
        case .waits:
            for c in Hypervisor.cpus where c.index != PerCPU.this.index && c.online { kickCPU(c.index) }
            programTimer(PerCPU.this)
        }
    }

    /// Makes sure `v` notices new work: the CPU running it traps, or, when it is
    /// blocked in WFI, it becomes runnable (and an idle CPU is woken for it).
    static func kick(_ v: VCPU) {
        let t = now
        var target: Int? = nil
        var wake: Wake? = nil
        locked {
            v.kicked = true
            if let c = v.runningOn { target = c }
            else if v.blocked && v.power == .on {
                v.blocked = false
                v.wakeAt = nil
                wake = wakeLocked(v.schedID, now: t)
            }
        }
        if let c = target { kickCPU(c) }
        if let w = wake { woke(w) }
    }

    @inline(__always)
    static func kick(domain d: Domain, vcpu index: Int?) {
        guard let i = index else { return }                  // the usual case on a trap: nobody
        kickVCPU(d, i)
    }

    static func kickVCPU(_ d: Domain, _ i: Int) {
        guard i >= 0, i < d.vcpus.count else { return }
        kick(d.vcpus[i])
    }

    static func kickCPU(_ c: Int) {
        guard c != PerCPU.this.index, c >= 0, c < Hypervisor.cpus.count else { return }
        GICv3.sendSGI(GICv3.kickSGI, toMPIDR: Hypervisor.cpus[c].mpidr)
    }

    /// WFI with nothing to wake for: the vCPU blocks until an interrupt for it is
    /// raised, or until its virtual timer is due (or `deadline`, a physical count, for
    /// SCHEDOP_poll). Returns false (keep running) when something is already pending.
    static func blockInWFI(_ v: VCPU, _ d: Domain, frame: UnsafeMutablePointer<apus_frame>, cpu: PerCPU,
                           deadline: UInt64? = nil) -> Bool {
        if d.withLock({ held in held.withVGIC { $0.hasDeliverable(vcpu: v.index) } }) { return false }
        for n in 0..<v.lrs.count {
            let s = ListRegister(raw: v.lrs[n]).state
            if s == .pending || s == .pendingActive { return false }
        }
        let ctl = read_cntv_ctl_el0()
        var wake: UInt64? = nil
        if ctl & 1 != 0 && ctl & 2 == 0 {
            if ctl & 4 != 0 { return false }                         // timer condition already met
            wake = read_cntv_cval_el0()                              // virtual = physical count
        }
        // SCHEDOP_poll's timeout and the emulated physical timer wake it too.
        let other = min(deadline ?? .max, v.ptimer.deadline ?? .max)
        if other != .max {
            if other <= now { return false }
            wake = min(wake ?? .max, other)
        }
        let t = now
        let blocked: Bool = locked {
            if v.kicked { v.kicked = false; return false }           // an interrupt raced with us
            v.blocked = true
            v.wakeAt = wake
            v.wakeCPU = cpu.index
            policy.block(v.schedID, now: t)
            return true
        }
        guard blocked else { return false }
        switchOut(v, frame: frame, cpu: cpu)
        return true
    }

    /// The EL2 timer's next deadline: the end of the running vCPU's slice when others
    /// wait for this CPU, and the earliest virtual-timer wake of vCPUs blocked here.
    static func programTimer(_ cpu: PerCPU) {
        var deadline: UInt64 = .max
        var shared = false
        locked {
            shared = policy.hasCompetition(cpu: cpu.index)
            // (A slice already over with a switch pending needs no timer: it would fire at once, forever.)
            if cpu.current != nil, !cpu.needResched, let s = cpu.sliceEnd, shared { deadline = s }
            else if cpu.current == nil, let s = cpu.sliceEnd { deadline = s }       // capped vCPUs waiting
            if let p = cpu.current?.ptimer.deadline { deadline = min(deadline, p) }
            for v in vcpus where v.blocked && v.wakeCPU == cpu.index {
                if let w = v.wakeAt { deadline = min(deadline, w) }
            }
        }
        if let t = cpu.deferredAt { deadline = min(deadline, t) }
        if cpu.preemptAt != 0 && cpu.current != nil && !cpu.needResched { deadline = min(deadline, cpu.preemptAt) }
        // Competition appeared or went away: follow it with WFI trapping.
        if cpu.current != nil && shared != cpu.wfiTrapped {
            cpu.wfiTrapped = shared
            write_hcr_el2(Hypervisor.guestHCR | (shared ? Hypervisor.trapWFI : 0))
        }
        if deadline == .max {
            write_cnthp_ctl_el2(0)
        } else {
            write_cnthp_cval_el2(deadline)
            write_cnthp_ctl_el2(1)
        }
    }

    /// PPI 26: wake vCPUs whose virtual timer is due (they get PPI 27), and ask for a
    /// reschedule when the running vCPU's slice is over and someone else waits.
    static func timerExpired(_ cpu: PerCPU) {
        write_cnthp_ctl_el2(0)
        let t = now
        // Deferred work's time has come: done at the end of this trap or idle pass (not
        // here: the timer, re-armed below, must not stay asserted for it).
        if let d = cpu.deferredAt, d <= t { cpu.deferredAt = nil; cpu.deferredDue = true }
        var due: [VCPU] = []
        locked {
            for v in vcpus where v.blocked && v.wakeCPU == cpu.index {
                if let w = v.wakeAt, w <= t { v.wakeAt = nil; due.append(v) }
            }
        }
        for v in due {
            let d = v.domain
            // The wake may be a SCHEDOP_poll timeout or the physical timer, not the virtual timer.
            if v.el1.cntvCtl & 3 == 1, v.el1.cntvCval <= t {
                _ = d.withLock { held in held.withVGIC { $0.raise(GuestLayout.virtualTimerPPI, vcpu: v.index) } }
            }
            PhysicalTimer.check(v, d, count: t)
            kick(v)
        }
        if let v = cpu.current { PhysicalTimer.check(v, v.domain, count: t) }
        if cpu.preemptAt != 0 && cpu.preemptAt <= t {
            // A woken vCPU waited for the running one's rate limit: the pick decides.
            cpu.preemptAt = 0
            if cpu.current != nil { cpu.needResched = true }
        }
        if cpu.current != nil, let s = cpu.sliceEnd, s <= t {
            if locked({ policy.hasCompetition(cpu: cpu.index) }) { cpu.needResched = true }
            else { cpu.sliceEnd = t &+ policy.timeslice }
        }
        programTimer(cpu)
    }
}

/// Moving virtual interrupts between the vGIC's state and the list registers of
/// the running vCPU.
enum ListRegisters {
    /// After the guest ran: fold the list registers back into the vGIC. Only list
    /// registers in use are read, and the vGIC lock is taken only when one changed.
    static func sync(_ v: VCPU, _ d: Domain) {
        var used = v.lrs.inUse
        guard used != 0 else { return }
        var moved = false
        while used != 0 {
            let n = used.trailingZeroBitCount
            used &= used &- 1
            let now = GICv3.readListRegister(n)
            if now != v.lrs[n] { v.lrs.observe(n, now); moved = true }
        }
        guard moved else { return }
        let others: UInt64 = d.withLock { held in
            held.withVGIC { $0.sync(vcpu: v.index, lrs: &v.lrs) }
            return takeCrossKicks(held)
        }
        writeChanged(v)
        kick(d, others)
    }

    /// Writes the list registers the vGIC changed to the hardware.
    static func writeChanged(_ v: VCPU) {
        var c = v.lrs.takeChanged()
        while c != 0 {
            let n = c.trailingZeroBitCount
            c &= c &- 1
            GICv3.writeListRegister(n, v.lrs[n])
        }
    }

    /// vCPUs the vGIC marked for a refill on behalf of this one (an SPI routed to another
    /// vCPU came back from our list registers).
    static func takeCrossKicks(_ held: borrowing DomainLocked) -> UInt64 {
        held.withVGIC { vgic in
            let k = vgic.crossKicks
            vgic.crossKicks = 0
            return k
        }
    }

    @inline(__always)
    static func kick(_ d: Domain, _ mask: UInt64) {
        guard mask != 0 else { return }                      // the usual case: nobody
        var m = mask
        while m != 0 {
            Scheduler.kick(domain: d, vcpu: m.trailingZeroBitCount)
            m &= m &- 1
        }
    }

    /// Before the guest runs: load deliverable interrupts; when more are waiting than
    /// list registers are free, ask for the underflow maintenance interrupt (UIE: at
    /// most one list register still valid). Not NPIE: with every list register holding
    /// an active interrupt the guest has not finished, "no pending entry" would hold
    /// at once and forever, and a guest could keep the CPU in maintenance interrupts.
    @inline(__always)       // on every return to a guest: the usual "nothing to load" costs a test
    static func fill(_ v: VCPU, _ d: Domain) {
        if d.mayNeedFill(v.index) { refill(v, d) }
    }

    @inline(never)
    private static func refill(_ v: VCPU, _ d: Domain) {
        let (more, others): (Bool, UInt64) = d.withLock { held in
            (held.withVGIC { $0.fill(vcpu: v.index, lrs: &v.lrs) }, takeCrossKicks(held))
        }
        writeChanged(v)
        write_ich_hcr_el2(more ? (1 | (1 << 1)) : 1)
        kick(d, others)
    }
}
#endif
