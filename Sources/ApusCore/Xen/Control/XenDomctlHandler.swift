/// domctl (hypercall 36): one domain, as the toolstack manages it. Today: getdomaininfo,
/// which xenstored, xenconsoled and every xl command rely on, pause and unpause (`xl pause`),
/// getvcpuinfo and getvcpuaffinity (`xl vcpu-list`); other sub-ops answer -ENOSYS.
extension XenHost {
    @inline(never)   // out of `dispatch`
    func domctl<P: XenPlatform>(arg: UInt64, caller: XenCaller, platform: P) -> Int64 {
        let (read, error) = controlEnvelope(arg, size: XenDomctl.size, caller: caller, platform: platform)
        guard var op = read else { return error }
        switch XenBytes.u32(op, XenDomctl.cmd) {
        case XenDomctl.getDomainInfo:
            // Xen: the first domain whose id is at least the one asked for (xc_domain_getinfo
            // walks the domains this way; xenstored and xenconsoled compare the id they get).
            let asked = XenBytes.u16(op, XenDomctl.domain)
            guard asked < XenDomID.firstReserved else { return XenErrno.EINVAL.result }
            guard let id = listedDomainIDs(from: asked).first else { return XenErrno.ESRCH.result }
            XenBytes.put16(&op, XenDomctl.domain, id)
            let record = domainInfoRecord(id, platform: platform)
            for i in 0..<record.count { op[XenDomctl.union + i] = record[i] }
        default:
            // The rest act on an existing domain (Xen's rcu_lock_domain_by_id: -ESRCH).
            let target = XenBytes.u16(op, XenDomctl.domain)
            guard isLive(target) else { return XenErrno.ESRCH.result }
            let r = domctl(on: target, &op, caller: caller, platform: platform)
            guard r == 0 else { return r }
        }
        return platform.write(arg, op) ? 0 : XenErrno.EFAULT.result
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
