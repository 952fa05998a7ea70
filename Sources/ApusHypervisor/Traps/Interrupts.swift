#if hasFeature(Embedded)
import AArch64
import ApusCore

/// Physical interrupts taken by EL2: from a guest (IRQ exception) or polled in
/// the idle loop after WFI.
enum Interrupts {
    static func handlePending(cpu: PerCPU, frame: UnsafeMutablePointer<apus_frame>?) {
        while true {
            let id = GICv3.acknowledge()
            if id >= 1020 { return }                           // spurious: nothing left
            switch id {
            case GICv3.virtualTimerPPI:
                // Mask the guest's timer and hand the guest a virtual PPI 27; the guest
                // unmasks it when it programs the next deadline (Xen does the same).
                write_cntv_ctl_el0(read_cntv_ctl_el0() | 2)
                if let v = cpu.current, let d = Hypervisor.domain(v.domainID) {
                    _ = d.withLock { d.vgic.raise(GuestLayout.virtualTimerPPI, vcpu: v.index) }
                }
            case Hypervisor.uartIntid where Hypervisor.uartIntid != 0:
                ConsoleInput.drain()
            default:
                break                                          // kick SGI, maintenance: work happens on return
            }
            GICv3.endOfInterrupt(id)
        }
    }
}

/// Bytes typed on the board's UART: routed by the console multiplexer.
enum ConsoleInput {
    static func drain() {
        while let b = PhysicalUART.getByte() {
            apus_spin_lock(&Hypervisor.consoleLock)
            let r = Hypervisor.console.input(b)
            let message = r == .switched ? Hypervisor.console.focusMessage : ""
            apus_spin_unlock(&Hypervisor.consoleLock)
            switch r {
            case .toDomain(let id, let byte):
                guard let d = Hypervisor.domain(id), d.alive else { continue }
                let target: Int? = d.withLock {
                    d.uart.receive(byte)
                    return d.vgic.setLine(VirtualPL011.intid, vcpu: 0, high: d.uart.interruptLine)
                }
                Scheduler.kick(domain: d, vcpu: target)
            case .switched:
                Log.raw(Array(message.utf8))
            case .toHypervisor(let byte):
                DebugKeys.handle(byte)
            case .swallowed:
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
            Log.line { Log.put("'h' help, 'q' domains and vCPUs, 'i' virtual interrupt state") }
        case 0x69:                                              // i
            for d in Hypervisor.domains {
                for v in d.vcpus {
                    let pending = d.withLock { d.vgic.deliverable(vcpu: v.index) }
                    Log.line {
                        Log.put("d"); Log.dec(d.id); Log.put("v"); Log.dec(v.index)
                        Log.put(d.vgic.needsFill[v.index] ? " needs-fill" : " filled")
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
            for d in Hypervisor.domains {
                Log.line {
                    Log.put("d"); Log.dec(d.id); Log.put(" ")
                    Log.bytes(d.spec.name)
                    Log.put(d.alive ? " running" : " dead")
                    Log.put(" mem "); Log.dec(Int(d.ram.size >> 20)); Log.put(" MiB at "); Log.hex(d.ram.base)
                    for v in d.vcpus { Log.put(" v"); Log.dec(v.index); Log.put("@cpu"); Log.dec(v.pcpu) }
                }
            }
        default:
            break
        }
    }
}
#endif
