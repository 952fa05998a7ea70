/// domctl (hypercall 36): one domain, as the toolstack manages it. Today: getdomaininfo,
/// which xenstored, xenconsoled and every xl command rely on; other sub-ops answer -ENOSYS.
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
            return XenErrno.ENOSYS.result
        }
        return platform.write(arg, op) ? 0 : XenErrno.EFAULT.result
    }
}
