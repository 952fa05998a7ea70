/// What domctl and sysctl share: reading the envelope and Xen's order of refusals
/// (do_domctl / do_sysctl: an unreadable struct is -EFAULT, a wrong interface version
/// -EACCES, then the policy's XenPolicy.mayControl: only the control domain, -EPERM for
/// every other), and the bitmap and domain-record encodings both use.
extension XenHost {
    /// The envelope of `size` bytes at `arg`, or the error to return. `targetAt`: where the
    /// 16-bit domain the operation acts on is (domctl's `domain`; nil for sysctl).
    func controlEnvelope<P: XenPlatform>(_ arg: UInt64, size: Int, targetAt: Int? = nil, caller: XenCaller,
                                         platform: P) -> (op: [UInt8]?, error: Int64) {
        guard let op = platform.readStruct(arg, size: size) else { return (nil, XenErrno.EFAULT.result) }
        guard XenBytes.u32(op, 4) == XenControl.interfaceVersion else { return (nil, XenErrno.EACCES.result) }
        let target = targetAt.map { XenBytes.u16(op, $0) }
        guard policy.mayControl(caller: caller.domain, target: target) else { return (nil, XenErrno.EPERM.result) }
        return (op, 0)
    }

    /// Domains the toolstack sees, in id order: every domain but the hypervisor's own
    /// service endpoint (it stands in for xenstored and xenconsoled for boot-time domains
    /// and is no domain of Xen's).
    func listedDomainIDs(from first: XenDomainID) -> [XenDomainID] {
        var out: [XenDomainID] = []
        var i = Int(first)
        while i < domains.count {
            if let d = domains[i], !d.config.serviceEndpoint { out.append(XenDomainID(i)) }
            i += 1
        }
        return out
    }

    /// `getdomaininfo()` (xen/common/domctl.c) for domain `id`: the 120-byte record.
    func domainInfoRecord<P: XenPlatform>(_ id: XenDomainID, platform: P) -> [UInt8] {
        typealias L = XenDomctl.DomainInfo
        var r = [UInt8](repeating: 0, count: L.size)
        guard let d = domain(id) else { return r }
        let facts = platform.domainFacts(id)
        let now = platform.now()
        var flags = XenControl.DomainFlag.hvmGuest | XenControl.DomainFlag.hap
        if isDying(id) { flags |= XenControl.DomainFlag.dying }
        if d.shuttingDown {
            flags |= XenControl.DomainFlag.shutdown
            flags |= UInt32(d.shutdownCode ?? 0) << XenControl.DomainFlag.shutdownShift
        }
        if d.pauseCount > 0 { flags |= XenControl.DomainFlag.paused }
        var online: UInt32 = 0, blocked = 0, running = false
        var cpuTime: UInt64 = 0
        for v in 0..<d.vcpuCount {
            let s = d.runstate[Int(v)].snapshot(at: now)
            cpuTime &+= s.time[Int(XenRunstate.running.rawValue)]
            guard !platform.isVCPUDown(domain: id, vcpu: v) else { continue }
            online += 1
            if s.state == .running { running = true }
            if s.state == .blocked { blocked += 1 }
        }
        // As Xen: blocked when every online vCPU is, running when any is (none online: neither).
        if online > 0 && blocked == Int(online) { flags |= XenControl.DomainFlag.blocked }
        if running { flags |= XenControl.DomainFlag.running }
        XenBytes.put16(&r, L.domain, id)
        XenBytes.put32(&r, L.flags, flags)
        XenBytes.put64(&r, L.totPages, facts?.totPages ?? 0)
        XenBytes.put64(&r, L.maxPages, facts?.maxPages ?? 0)
        XenBytes.put64(&r, L.sharedInfoFrame, facts?.sharedInfoFrame ?? 0)
        XenBytes.put64(&r, L.cpuTime, cpuTime)
        XenBytes.put32(&r, L.onlineVCPUs, online)
        XenBytes.put32(&r, L.maxVCPUID, d.vcpuCount &- 1)
        for (i, b) in d.config.handle.prefix(16).enumerated() { r[L.handle + i] = b }
        r[L.gpaddrBits] = facts?.gpaddrBits ?? 39
        return r
    }

    /// The bytes of a CPU bitmap of `cpus` CPUs with the CPUs of `mask` set.
    func cpuBitmap(_ mask: UInt64, cpus: UInt32) -> [UInt8] {
        var m = [UInt8](repeating: 0, count: Int((cpus + 7) / 8))
        for c in 0..<Int(min(cpus, 64)) where mask & (1 << UInt64(c)) != 0 { m[c / 8] |= 1 << UInt8(c % 8) }
        return m
    }

    /// Writes `bits` (bit n = byte n/8, bit n%8) to the guest's xenctl_bitmap of `nrBits`:
    /// as Xen's bitmap_to_xenctl_bitmap, the guest's bytes beyond ours are zeroed and ours
    /// beyond the guest's are dropped.
    func writeBitmap<M: GuestMemory>(handle: UInt64, nrBits: UInt32, _ bits: [UInt8], memory: M) -> Bool {
        let bytes = Int((UInt64(nrBits) + 7) / 8)
        guard bytes > 0 else { return true }
        guard bytes <= 4096 else { return false }
        var out = [UInt8](repeating: 0, count: bytes)
        for i in 0..<min(bytes, bits.count) { out[i] = bits[i] }
        return memory.write(handle, out)
    }
}
