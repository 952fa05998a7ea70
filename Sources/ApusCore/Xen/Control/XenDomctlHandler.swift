/// domctl (hypercall 36): one domain, as the toolstack manages it. Today: getdomaininfo,
/// which xenstored, xenconsoled and every xl command rely on, pause and unpause (`xl pause`),
/// getvcpuinfo and getvcpuaffinity (`xl vcpu-list`), setvcpuaffinity (`xl vcpu-pin`),
/// scheduler_op (`xl sched-credit2`) and destroydomain (`xl destroy`); other sub-ops
/// answer -ENOSYS.
extension XenHost {
    @inline(never)   // out of `dispatch`
    func domctl<P: XenPlatform>(arg: UInt64, caller: XenCaller, platform: P) -> XenHypercallResult {
        let (read, error) = controlEnvelope(arg, size: XenDomctl.size, caller: caller, platform: platform)
        guard var op = read else { return XenHypercallResult(error) }
        switch XenBytes.u32(op, XenDomctl.cmd) {
        case XenDomctl.getDomainInfo:
            // Xen: the first domain whose id is at least the one asked for (xc_domain_getinfo
            // walks the domains this way; xenstored and xenconsoled compare the id they get).
            let asked = XenBytes.u16(op, XenDomctl.domain)
            guard asked < XenDomID.firstReserved else { return XenHypercallResult(XenErrno.EINVAL.result) }
            guard let id = listedDomainIDs(from: asked).first else { return XenHypercallResult(XenErrno.ESRCH.result) }
            XenBytes.put16(&op, XenDomctl.domain, id)
            let record = domainInfoRecord(id, platform: platform)
            for i in 0..<record.count { op[XenDomctl.union + i] = record[i] }
        default:
            // The rest act on an existing domain (Xen's rcu_lock_domain_by_id: -ESRCH).
            let target = XenBytes.u16(op, XenDomctl.domain)
            guard isLive(target) else { return XenHypercallResult(XenErrno.ESRCH.result) }
            if XenBytes.u32(op, XenDomctl.cmd) == XenDomctl.destroyDomain {
                // domain_kill(): never the caller itself; the teardown is the hypervisor's,
                // after this hypercall (it takes locks above the Xen lock).
                guard target != caller.domain else { return XenHypercallResult(XenErrno.EINVAL.result) }
                return XenHypercallResult(0, .destroy(domain: target))
            }
            let r = domctl(on: target, &op, caller: caller, platform: platform)
            guard r == 0 else { return XenHypercallResult(r) }
        }
        return XenHypercallResult(platform.write(arg, op) ? 0 : XenErrno.EFAULT.result)
    }

    func domctl<P: XenPlatform>(on target: XenDomainID, _ op: inout [UInt8], caller: XenCaller, platform: P) -> Int64 {
        switch XenBytes.u32(op, XenDomctl.cmd) {
        case XenDomctl.pauseDomain:
            // domain_pause_by_systemcontroller: never oneself, at most 255 deep.
            guard target != caller.domain else { return XenErrno.EINVAL.result }
            let r: Int64 = withDomain(target) { d in
                guard d.pauseCount < 255 else { return XenErrno.EOVERFLOW.result }
                d.pauseCount += 1
                return d.pauseCount == 1 ? 1 : 0
            } ?? XenErrno.ESRCH.result
            if r == 1 { platform.setPaused(target, true) }
            return min(r, 0)
        case XenDomctl.unpauseDomain:
            guard target != caller.domain else { return XenErrno.EINVAL.result }
            let r: Int64 = withDomain(target) { d in
                guard d.pauseCount > 0 else { return XenErrno.EINVAL.result }
                d.pauseCount -= 1
                return d.pauseCount == 0 ? 1 : 0
            } ?? XenErrno.ESRCH.result
            if r == 1 { platform.setPaused(target, false) }
            return min(r, 0)
        case XenDomctl.getVCPUInfo:
            typealias L = XenDomctl.VCPUInfo
            guard let d = domain(target) else { return XenErrno.ESRCH.result }
            let v = XenBytes.u32(op, L.vcpu)
            guard v < d.vcpuCount else { return XenErrno.EINVAL.result }
            let s = d.runstate[Int(v)].snapshot(at: platform.now())
            let online = !platform.isVCPUDown(domain: target, vcpu: v)
            op[L.online] = online ? 1 : 0
            op[L.blocked] = online && s.state == .blocked ? 1 : 0
            op[L.running] = online && s.state == .running ? 1 : 0
            XenBytes.put64(&op, L.cpuTime, s.time[Int(XenRunstate.running.rawValue)])
            XenBytes.put32(&op, L.cpu, platform.vcpuPlacement(domain: target, vcpu: v).cpu)
            return 0
        case XenDomctl.schedulerOp:
            // credit2's getinfo/putinfo (xl sched-credit2); another scheduler's id -EINVAL.
            typealias L = XenDomctl.SchedulerOp
            guard XenBytes.u32(op, L.schedID) == XenControl.schedulerCredit2 else { return XenErrno.EINVAL.result }
            guard let d = domain(target) else { return XenErrno.ESRCH.result }
            switch XenBytes.u32(op, L.cmd) {
            case L.getInfo:
                let p = platform.schedulerParameters(domain: target) ?? (256, 0)
                XenBytes.put16(&op, L.weight, p.weight)
                XenBytes.put16(&op, L.cap, p.cap)
            case L.putInfo:
                // Weight 0 keeps the weight; cap 0 removes the cap; a cap above 100% per
                // vCPU is -EINVAL (sched_credit2.c).
                let w = XenBytes.u16(op, L.weight), cap = XenBytes.u16(op, L.cap)
                guard UInt32(cap) <= 100 * d.vcpuCount else { return XenErrno.EINVAL.result }
                platform.setSchedulerParameters(domain: target, weight: w == 0 ? nil : w, cap: cap)
            default:
                return XenErrno.EINVAL.result
            }
            return 0
        case XenDomctl.setVCPUAffinity:
            typealias L = XenDomctl.VCPUAffinity
            guard let d = domain(target) else { return XenErrno.ESRCH.result }
            let v = XenBytes.u32(op, L.vcpu), flags = XenBytes.u32(op, L.flags)
            guard v < d.vcpuCount else { return XenErrno.EINVAL.result }
            guard flags & (L.hard | L.soft) != 0 else { return XenErrno.EINVAL.result }
            let cpus = platform.boardFacts().cpus
            func readMask(_ handle: UInt64, _ bits: UInt32) -> UInt64? {
                let n = Int(min((UInt64(bits) + 7) / 8, 8))
                guard n > 0 else { return 0 }
                guard let b = platform.readStruct(handle, size: n) else { return nil }
                var m: UInt64 = 0
                for (i, byte) in b.enumerated() { m |= UInt64(byte) << UInt64(8 * i) }
                return bits < 64 ? m & ((1 << UInt64(bits)) - 1) : m
            }
            func map(_ mask: UInt64) -> [UInt8] {
                var m = [UInt8](repeating: 0, count: Int((cpus + 7) / 8))
                for c in 0..<Int(min(cpus, 64)) where mask & (1 << UInt64(c)) != 0 { m[c / 8] |= 1 << UInt8(c % 8) }
                return m
            }
            var hard = platform.vcpuPlacement(domain: target, vcpu: v).hardAffinity
            if flags & L.hard != 0 {
                guard let want = readMask(XenBytes.u64(op, L.hardHandle), XenBytes.u32(op, L.hardBits)) else {
                    return XenErrno.EFAULT.result
                }
                guard let now = platform.setVCPUAffinity(domain: target, vcpu: v, mask: want) else {
                    return XenErrno.EINVAL.result
                }
                hard = now
            }
            // Back to the caller: the effective maps (soft: Apus has none, so the hard one).
            if flags & L.hard != 0,
               !writeBitmap(handle: XenBytes.u64(op, L.hardHandle), nrBits: XenBytes.u32(op, L.hardBits), map(hard), memory: platform) {
                return XenErrno.EFAULT.result
            }
            if flags & L.soft != 0,
               !writeBitmap(handle: XenBytes.u64(op, L.softHandle), nrBits: XenBytes.u32(op, L.softBits), map(hard), memory: platform) {
                return XenErrno.EFAULT.result
            }
            return 0
        case XenDomctl.getVCPUAffinity:
            typealias L = XenDomctl.VCPUAffinity
            guard let d = domain(target) else { return XenErrno.ESRCH.result }
            let v = XenBytes.u32(op, L.vcpu), flags = XenBytes.u32(op, L.flags)
            guard v < d.vcpuCount else { return XenErrno.EINVAL.result }
            guard flags & (L.hard | L.soft) != 0 else { return XenErrno.EINVAL.result }
            let cpus = platform.boardFacts().cpus
            let hard = platform.vcpuPlacement(domain: target, vcpu: v).hardAffinity
            func map(_ mask: UInt64) -> [UInt8] {
                var m = [UInt8](repeating: 0, count: Int((cpus + 7) / 8))
                for c in 0..<Int(min(cpus, 64)) where mask & (1 << UInt64(c)) != 0 { m[c / 8] |= 1 << UInt8(c % 8) }
                return m
            }
            // Soft affinity: Apus has none, so every CPU (Xen's default).
            if flags & L.hard != 0,
               !writeBitmap(handle: XenBytes.u64(op, L.hardHandle), nrBits: XenBytes.u32(op, L.hardBits), map(hard), memory: platform) {
                return XenErrno.EFAULT.result
            }
            if flags & L.soft != 0,
               !writeBitmap(handle: XenBytes.u64(op, L.softHandle), nrBits: XenBytes.u32(op, L.softBits), map(~0), memory: platform) {
                return XenErrno.EFAULT.result
            }
            return 0
        default:
            return XenErrno.ENOSYS.result
        }
    }
}
