/// domctl (hypercall 36): one domain, as the toolstack manages it. Today: getdomaininfo,
/// which xenstored, xenconsoled and every xl command rely on, pause and unpause (`xl pause`),
/// getvcpuinfo and getvcpuaffinity (`xl vcpu-list`), setvcpuaffinity (`xl vcpu-pin`),
/// scheduler_op (`xl sched-credit2`) and destroydomain (`xl destroy`); other sub-ops
/// answer -ENOSYS.
extension XenHost {
    @inline(never)   // out of `dispatch`
    func domctl<P: XenPlatform>(arg: UInt64, caller: XenCaller, platform: P) -> XenHypercallResult {
        let (read, error) = controlEnvelope(arg, size: XenDomctl.size, targetAt: XenDomctl.domain, caller: caller,
                                            platform: platform)
        guard var op = read else { return XenHypercallResult(error) }
        switch XenBytes.u32(op, XenDomctl.cmd) {
        case XenDomctl.createDomain:
            let r = createDomain(&op, caller: caller, platform: platform)
            guard r == 0 else { return XenHypercallResult(r) }
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
        let cmd = XenBytes.u32(op, XenDomctl.cmd)
        if let r = domainBuildOp(cmd, on: target, &op, caller: caller, platform: platform) { return r }
        switch cmd {
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
            return vcpuAffinity(&op, of: target, set: true, platform: platform)
        case XenDomctl.getVCPUAffinity:
            return vcpuAffinity(&op, of: target, set: false, platform: platform)
        default:
            return XenErrno.ENOSYS.result
        }
    }

    /// setvcpuaffinity (`set`) and getvcpuaffinity. Set: the hard map, read from the caller's
    /// bitmap, goes to the scheduler, and the effective maps come back (soft: Apus has none,
    /// so the hard one). Get: the hard map, and every CPU as the soft one (Xen's default).
    func vcpuAffinity<P: XenPlatform>(_ op: inout [UInt8], of target: XenDomainID, set: Bool, platform: P) -> Int64 {
        typealias L = XenDomctl.VCPUAffinity
        guard let d = domain(target) else { return XenErrno.ESRCH.result }
        let v = XenBytes.u32(op, L.vcpu), flags = XenBytes.u32(op, L.flags)
        guard v < d.vcpuCount, flags & (L.hard | L.soft) != 0 else { return XenErrno.EINVAL.result }
        let cpus = platform.boardFacts().cpus
        let hardHandle = XenBytes.u64(op, L.hardHandle), hardBits = XenBytes.u32(op, L.hardBits)
        var hard = platform.vcpuPlacement(domain: target, vcpu: v).hardAffinity
        if set && flags & L.hard != 0 {
            let n = Int(min((UInt64(hardBits) + 7) / 8, 8))
            guard let b = n > 0 ? platform.readStruct(hardHandle, size: n) : [] else { return XenErrno.EFAULT.result }
            var want: UInt64 = 0
            for (i, byte) in b.enumerated() { want |= UInt64(byte) << UInt64(8 * i) }
            if hardBits < 64 { want &= (1 << UInt64(hardBits)) - 1 }
            guard let now = platform.setVCPUAffinity(domain: target, vcpu: v, mask: want) else { return XenErrno.EINVAL.result }
            hard = now
        }
        if flags & L.hard != 0,
           !writeBitmap(handle: hardHandle, nrBits: hardBits, cpuBitmap(hard, cpus: cpus), memory: platform) {
            return XenErrno.EFAULT.result
        }
        if flags & L.soft != 0,
           !writeBitmap(handle: XenBytes.u64(op, L.softHandle), nrBits: XenBytes.u32(op, L.softBits),
                        cpuBitmap(set ? hard : ~0, cpus: cpus), memory: platform) {
            return XenErrno.EFAULT.result
        }
        return 0
    }
}
