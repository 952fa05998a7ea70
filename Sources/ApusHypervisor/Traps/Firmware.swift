#if hasFeature(Embedded)
import AArch64
import ApusCore

/// SMCCC/PSCI calls from a guest (HVC #0 or a trapped SMC #0).
enum Firmware {
    static func call(_ frame: UnsafeMutablePointer<apus_frame>, _ v: VCPU, _ d: Domain) {
        let (result, action) = d.withLock {
            VirtualPSCI.handle(frame.x(0), frame.x(1), frame.x(2), frame.x(3), domain: d)
        }
        frame.setX(0, result)
        switch action {
        case .none, .waitForInterrupt:
            break
        case .stopCaller:
            v.stopping = true
        case .startVCPU(let index, let entry, let context):
            let t = d.vcpus[index]
            let others: UInt64 = d.withLock {
                d.vgic.releaseListRegisters(vcpu: index, lrs: t.lrs)
                t.reset(entry: entry, x0: context)
                return ListRegisters.takeCrossKicks(d)
            }
            Scheduler.powerOn(t)
            ListRegisters.kick(d, others)            // SPIs it held, routed to others
        case .powerOffDomain:
            Domains.shutdown(d, .poweroff)
        case .rebootDomain:
            Domains.shutdown(d, .reboot)
        }
    }
}

#endif
