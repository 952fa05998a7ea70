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
            d.withLock { t.reset(entry: entry, x0: context) }
            Scheduler.powerOn(t)
        case .powerOffDomain:
            Domains.shutdown(d, .poweroff)
        case .rebootDomain:
            Domains.shutdown(d, .reboot)
        }
    }
}

/// Xen hypercalls (hvc #0xEA1): number in x16, arguments in x0-x4, result in x0.
enum Hypercalls {
    static let ENOSYS: Int64 = -38, EFAULT: Int64 = -14, EINVAL: Int64 = -22

    static func dispatch(_ frame: UnsafeMutablePointer<apus_frame>, _ v: VCPU, _ d: Domain) {
        let result: Int64
        switch frame.x(16) {
        case 29: result = schedOp(frame, v, d)
        default: result = ENOSYS                       // as Xen answers a hypercall it does not offer
        }
        frame.setX(0, UInt64(bitPattern: result))
    }

    /// sched_op: yield (0), block (1: as WFI), shutdown (2) with a reason.
    static func schedOp(_ frame: UnsafeMutablePointer<apus_frame>, _ v: VCPU, _ d: Domain) -> Int64 {
        switch frame.x(0) {
        case 0:
            PerCPU.this.needResched = Scheduler.locked { Scheduler.policy.hasCompetition(cpu: PerCPU.this.index) }
            return 0
        case 1:
            return 0
        case 2:
            guard let reason = GuestAccess(domain: d).readVirtual32(frame.x(1)) else { return EFAULT }
            switch reason {
            case 0: Domains.shutdown(d, .poweroff)
            case 1: Domains.shutdown(d, .reboot)
            case 3, 4: Domains.shutdown(d, .crash)         // crash, watchdog
            case 2: return ENOSYS                          // suspend: no toolstack to resume it
            default: return EINVAL
            }
            return 0
        default:
            return ENOSYS
        }
    }
}
#endif
