#if hasFeature(Embedded)
import AArch64
import ApusCore

/// Physical interrupts taken by EL2: from a guest (IRQ exception) or polled in
/// the idle loop after WFI.
enum Interrupts {
    /// In the idle loop: a virtual timer interrupt has no vCPU to go to (none runs here).
    static func handlePending(cpu: PerCPU) {
        handlePending(cpu: cpu, running: nil) {}
    }

    /// From a guest: the virtual timer's interrupt goes to `v`, the vCPU the trap came from
    /// (passed down, not looked up again).
    static func handlePending(cpu: PerCPU, _ v: VCPU, _ d: Domain) {
        handlePending(cpu: cpu, running: v) { _ = d.withLock { held in held.withVGIC { $0.raise(GuestLayout.virtualTimerPPI, vcpu: v.index) } } }
    }

    /// `running`: the vCPU whose trap this is (its list registers are filled on the way back).
    @inline(__always)
    private static func handlePending(cpu: PerCPU, running: VCPU?, virtualTimer: () -> Void) {
        while true {
            let id = GICv3.acknowledge()
            if id >= 1020 { return }                           // spurious: nothing left
            switch id {
            case GICv3.virtualTimerPPI:
                // Mask the guest's timer and hand the guest a virtual PPI 27; the guest
                // unmasks it when it programs the next deadline (Xen does the same).
                write_cntv_ctl_el0(read_cntv_ctl_el0() | 2)
                virtualTimer()
            case Hypervisor.uartIntid where Hypervisor.uartIntid != 0:
                ConsoleInput.drain()
            case GICv3.hypervisorTimerPPI:
                Scheduler.timerExpired(cpu)
            case GICv3.maintenancePPI:
                // Level-sensitive: it stays asserted until its cause goes. Drop the request
                // now; the refill on the way back asks again if interrupts still wait.
                write_ich_hcr_el2(1)
            case GICv3.kickSGI:
                // New work somewhere: a vCPU for us, or one that needs our slice timer armed.
                // (Services an earlier trap left queued come back through the EL2 timer.)
                // A new deferred job asks every CPU to help: a step at this trap's exit.
                Scheduler.programTimer(cpu)
                if Tasklets.pending { cpu.deferredDue = true }
            default:
                // Only dom0's devices' SPIs are enabled besides the above. Handed over, it
                // stays active until dom0 deactivates it through its list register.
                if toControlDomain(id, running: running) { GICv3.dropPriority(id); continue }
            }
            GICv3.endOfInterrupt(id)
        }
    }

    /// A physical SPI of one of dom0's devices: pending in dom0's vGIC (virq == pirq, as Xen
    /// routes them) as a hardware interrupt, its target vCPU kicked. False when there is
    /// nobody to hand it to (then it is masked: a level line would fire again at once).
    /// When the target is `running`, the vCPU this CPU trapped from, no kick: the trap's
    /// exit fills its list registers (a kick would only take the scheduler lock to find it here).
    @inline(never)
    static func toControlDomain(_ id: UInt32, running: VCPU?) -> Bool {
        guard id >= 32, id < 1024, Hypervisor.dom0SPIs[Int(id / 64)] & (1 << UInt64(id % 64)) != 0 else { return false }
        guard let d = Hypervisor.control, d.alive else { GICv3.maskSPI(id); return false }
        let target: Int? = d.withLock { held in held.withVGIC { $0.raise(Int(id), vcpu: 0) } }
        if let t = target, let r = running, r.domain === d, r.index == t { return true }
        Scheduler.kick(domain: d, vcpu: target)
        return true
    }
}

/// Bytes typed on the board's UART: routed by the console multiplexer.
enum ConsoleInput {
    static func drain() {
        while let b = PhysicalUART.getByte() {
            var r = ConsoleMux.Input.swallowed
            Log.withConsole { mux, uart in
                r = mux.input(b)
                // In the same hold: no domain's byte can come between the switch and the message.
                if r == .switched { mux.printFocusMessage(to: &uart) }
            }
            switch r {
            case .toDomain(let id, let byte):
                guard let d = Hypervisor.domain(id), d.alive else { continue }
                if d.spec.control { ControlConsole.receive(d, byte); continue }
                // Both consoles get the key: the guest reads whichever it uses (hvc0 or ttyAMA0).
                _ = PVConsole.input(d, byte)
                let target: Int? = d.withLock { held in
                    held.uart.receive(byte)
                    return held.vgic.setLine(VirtualPL011.intid, vcpu: 0, high: held.uart.interruptLine)
                }
                Scheduler.kick(domain: d, vcpu: target)
            case .toHypervisor(let byte):
                DebugKeys.handle(byte)
            case .switched, .swallowed:
                break
            }
        }
    }
}

/// The hypervisor's own console keys (input focus on "Xen").
enum DebugKeys {
    static func handle(_ key: UInt8) {
        switch key {
        case 0x68:                                              // h
            Log.line { Log.put("'h' help, 'q' domains and vCPUs, 'r' run queues, 'i' virtual interrupt state") }
        case 0x72:                                              // r
            for c in Hypervisor.cpus {
                let cur = c.current
                Log.line {
                    Log.put("cpu"); Log.dec(c.index); Log.put(": ")
                    if let v = cur { Log.put("running d"); Log.dec(v.domainID); Log.put("v"); Log.dec(v.index) } else { Log.put("idle") }
                }
            }
            let e = Scheduler.locked { Scheduler.policy.entities }
            Log.line {
                Log.put("scheduler: "); Log.put(Scheduler.policy.policy == .fair ? "fair (credit)" : "null (no sharing)")
                Log.put(", runnable:")
                for (i, x) in e.enumerated() where x.state == .runnable {
                    let v = Scheduler.vcpus[i]
                    Log.put(" d"); Log.dec(v.domainID); Log.put("v"); Log.dec(v.index)
                }
            }
            for (i, x) in e.enumerated() {
                let v = Scheduler.vcpus[i]
                Log.line {
                    Log.put("  d"); Log.dec(v.domainID); Log.put("v"); Log.dec(v.index); Log.put(" weight "); Log.dec(Int(x.weight))
                    Log.put(" cap "); Log.dec(Int(x.capPercent)); Log.put("% ran "); Log.dec(Int(x.totalRun / max(Hypervisor.counterFrequency / 1000, 1))); Log.put(" ms")
                }
            }
        case 0x69:                                              // i
            for d in Hypervisor.domains {
                for v in d.vcpus {
                    let pending = d.withLock { held in held.withVGIC { $0.deliverable(vcpu: v.index) } }
                    Log.line {
                        Log.put("d"); Log.dec(d.id); Log.put("v"); Log.dec(v.index)
                        Log.put(d.mayNeedFill(v.index) ? " needs-fill" : " filled")
                        Log.put(" LRs")
                        for lr in v.lrs { Log.put(" "); Log.hex(lr) }
                        Log.put(" waiting")
                        for p in pending { Log.put(" "); Log.dec(p) }
                    }
                }
            }
            for c in Hypervisor.cpus {
                Log.line {
                    Log.put("cpu"); Log.dec(c.index); Log.put(" runs ")
                    if let v = c.current { Log.put("d"); Log.dec(v.domainID); Log.put("v"); Log.dec(v.index) } else { Log.put("nothing") }
                }
            }
        case 0x71:                                              // q
            let free = RAMPool.freeBytes
            Log.line {
                Log.put("hypervisor heap: "); Log.dec(Int(apus_heap_taken() >> 10)); Log.put(" KiB held, ")
                Log.dec(Int(apus_heap_used() >> 10)); Log.put(" KiB in use, grown by ")
                Log.dec(Int(RAMPool.heapGrowth >> 20)); Log.put(" MiB since boot; free for domains: ")
                Log.dec(Int(free >> 20)); Log.put(" MiB")
            }
            for d in Hypervisor.domains {
                let touched = d.withP2M { held in held.blocks.populatedBytes }   // before Log.line: it takes no lock inside
                Log.line {
                    Log.put("d"); Log.dec(d.id); Log.put(" ")
                    Log.bytes(d.spec.name)
                    Log.put(d.alive ? " running" : " dead")
                    Log.put(" mem "); Log.dec(Int(d.ramSize >> 20)); Log.put(" MiB at "); Log.hex(d.ram.base)
                    Log.put(" ("); Log.dec(Int(touched >> 20)); Log.put(" MiB touched)")
                    if d.restarts > 0 { Log.put(", restarted "); Log.dec(d.restarts); Log.put("x") }
                    for v in d.vcpus {
                        Log.put(" v"); Log.dec(v.index)
                        if let c = v.runningOn { Log.put("@cpu"); Log.dec(c) }
                        else { Log.put(v.power != .on ? "(off)" : v.blocked ? "(blocked)" : "(runnable)") }
                    }
                }
            }
        default:
            break
        }
    }
}
#endif
