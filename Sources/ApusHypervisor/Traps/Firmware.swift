#if hasFeature(Embedded)
import AArch64
import ApusCore

/// SMCCC/PSCI calls from a guest (HVC #0 or a trapped SMC #0).
enum Firmware {
    @inline(never)                      // rare: kept out of the hypercall trap path
    static func call(_ frame: UnsafeMutablePointer<apus_frame>, _ v: VCPU, _ d: Domain) {
        // PSCI decides and the decision takes effect in one hold of the domain's lock: two
        // CPU_ONs for one vCPU, or CPU_ON racing CPU_OFF or a domain reset, each see the
        // state the other left (the second CPU_ON gets ON_PENDING or ALREADY_ON; a target
        // claimed here never runs if the domain stopped before it was powered on).
        let (result, action, others): (UInt64, PSCIAction, UInt64) = d.withLock { held in
            let (result, action) = VirtualPSCI.handle(frame.x(0), frame.x(1), frame.x(2), frame.x(3), domain: d)
            switch action {
            case .startVCPU where !d.alive:
                // The domain is stopping or resetting (its vCPUs are all off): nothing starts.
                return (UInt64(bitPattern: PSCIResult.denied.rawValue), PSCIAction.none, 0)
            case .startVCPU(let index, let entry, let context):
                let t = d.vcpus[index]
                // A device interrupt it had acknowledged is deactivated here: its list
                // register, which would have done it, is gone with the vCPU's state.
                for pirq in held.vgic.releaseListRegisters(vcpu: index, lrs: t.lrs) { GICv3.deactivate(pirq) }
                t.reset(entry: entry, x0: context)
                t.setPower(.onPending, held)
                return (result, action, ListRegisters.takeCrossKicks(held))
            case .stopCaller:
                v.stopping = true
            default:
                break
            }
            return (result, action, 0)
        }
        frame.setX(0, result)
        switch action {
        case .none, .waitForInterrupt, .stopCaller:
            break
        case .startVCPU(let index, _, _):
            Scheduler.powerOn(d.vcpus[index])
            ListRegisters.kick(d, others)            // SPIs it held, routed to others
        case .powerOffDomain:
            Domains.shutdown(d, .poweroff)
        case .rebootDomain:
            Domains.shutdown(d, .reboot)
        }
    }
}

#endif
