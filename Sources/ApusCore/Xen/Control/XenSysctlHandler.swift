/// sysctl (hypercall 35): the board as the toolstack sees it. Today: physinfo, sched_id,
/// getdomaininfolist and the cpupool queries `xl info` and `xl list` make, readconsole
/// (`xl dmesg`) and credit2's scheduler_op (`xl sched-credit2 -s`); other sub-ops answer
/// -ENOSYS. Only the control domain gets past `controlEnvelope` (-EPERM).
extension XenHost {
    @inline(never)   // out of `dispatch`
    func sysctl<P: XenPlatform>(arg: UInt64, caller: XenCaller, platform: P) -> Int64 {
        let (read, error) = controlEnvelope(arg, size: XenSysctl.size, caller: caller, platform: platform)
        guard var op = read else { return error }
        var result: Int64 = 0
        switch XenBytes.u32(op, XenSysctl.cmd) {
        case XenSysctl.physinfo:
            physinfo(&op, platform.boardFacts())
        case XenSysctl.schedID:
            XenBytes.put32(&op, XenSysctl.SchedID.schedID, XenControl.schedulerCredit2)
        case XenSysctl.getDomainInfoList:
            result = domainInfoList(&op, platform: platform)
        case XenSysctl.readConsole:
            result = readConsole(&op, platform: platform)
        case XenSysctl.cpupoolOp:
            result = cpupoolOp(&op, board: platform.boardFacts(), platform: platform)
        case XenSysctl.schedulerOp:
            result = schedulerOp(&op, platform: platform)
        case XenSysctl.numaInfo, XenSysctl.cpuTopoInfo:
            // libxl's NUMA placement at every xl create. -ENOBUFS still copies the count back.
            result = XenBytes.u32(op, XenSysctl.cmd) == XenSysctl.numaInfo
                ? numaInfo(&op, board: platform.boardFacts(), platform: platform)
                : cpuTopoInfo(&op, board: platform.boardFacts(), platform: platform)
            if result == XenErrno.ENOBUFS.result && !platform.write(arg, op) { return XenErrno.EFAULT.result }
        default:
            return XenErrno.ENOSYS.result
        }
        guard result == 0 else { return result }
        return platform.write(arg, op) ? 0 : XenErrno.EFAULT.result
    }

    /// XEN_SYSCTL_readconsole: up to `count` bytes of the hypervisor's console ring into
    /// `buffer`; `count` becomes the bytes copied and `index` the next place to read from.
    /// At most 64 KiB per call (xl dmesg asks for 16 KiB at a time).
    func readConsole<P: XenPlatform>(_ op: inout [UInt8], platform: P) -> Int64 {
        typealias L = XenSysctl.ReadConsole
        let max = min(XenBytes.u32(op, L.count), 64 * 1024)
        let r = platform.readConsoleRing(index: XenBytes.u32(op, L.index), max: max,
                                         incremental: op[L.incremental] != 0, clear: op[L.clear] != 0)
        if !r.bytes.isEmpty && !platform.write(XenBytes.u64(op, L.buffer), r.bytes) { return XenErrno.EFAULT.result }
        XenBytes.put32(&op, L.count, UInt32(r.bytes.count))
        XenBytes.put32(&op, L.index, r.next)
        return 0
    }

    /// XEN_SYSCTL_physinfo as Arm Xen 4.17 fills it: one thread per core, every CPU in one
    /// socket and one node (no NUMA on Arm), cpu_khz = the generic timer's rate.
    func physinfo(_ op: inout [UInt8], _ b: XenBoardFacts) {
        typealias L = XenSysctl.Physinfo
        for i in L.threadsPerCore..<XenSysctl.size { op[i] = 0 }
        XenBytes.put32(&op, L.threadsPerCore, 1)
        XenBytes.put32(&op, L.coresPerSocket, b.cpus)
        XenBytes.put32(&op, L.nrCPUs, b.cpus)
        XenBytes.put32(&op, L.maxCPUID, b.cpus &- 1)
        XenBytes.put32(&op, L.nrNodes, 1)
        XenBytes.put32(&op, L.maxNodeID, 0)
        XenBytes.put32(&op, L.cpuKHz, b.cpuKHz)
        XenBytes.put32(&op, L.capabilities, XenControl.physcapHVM | XenControl.physcapHAP | XenControl.physcapGnttabV1)
        XenBytes.put64(&op, L.totalPages, b.totalPages)
        XenBytes.put64(&op, L.freePages, b.freePages)
        XenBytes.put64(&op, L.maxMFN, b.maxMFN)
    }

    /// XEN_SYSCTL_getdomaininfolist: the domains with id >= first_domain, at most
    /// max_domains, each a 120-byte record; num_domains says how many (0 past the last).
    func domainInfoList<P: XenPlatform>(_ op: inout [UInt8], platform: P) -> Int64 {
        typealias L = XenSysctl.DomainInfoList
        let first = XenBytes.u16(op, L.firstDomain)
        let max = Int(min(XenBytes.u32(op, L.maxDomains), UInt32(domains.count)))
        let buffer = XenBytes.u64(op, L.buffer)
        var n = 0
        for id in listedDomainIDs(from: first) where n < max {
            let record = domainInfoRecord(id, platform: platform)
            guard platform.write(buffer &+ UInt64(n * XenDomctl.DomainInfo.size), record) else {
                return XenErrno.EFAULT.result
            }
            n += 1
        }
        XenBytes.put32(&op, L.numDomains, UInt32(n))
        return 0
    }

    /// XEN_SYSCTL_cpupool_op: one pool, 0, with every CPU and every domain, under credit2.
    /// INFO finds the first pool with an id >= cpupool_id (-ENOENT past the last);
    /// FREEINFO gives the CPUs in no pool (none). Creating and moving pools: -EOPNOTSUPP.
    func cpupoolOp<P: XenPlatform>(_ op: inout [UInt8], board: XenBoardFacts, platform: P) -> Int64 {
        typealias L = XenSysctl.CpupoolOp
        let handle = XenBytes.u64(op, L.cpumapHandle), nrBits = XenBytes.u32(op, L.cpumapBits)
        switch XenBytes.u32(op, L.op) {
        case L.info:
            guard XenBytes.u32(op, L.cpupoolID) == 0 else { return XenErrno.ENOENT.result }
            XenBytes.put32(&op, L.schedID, XenControl.schedulerCredit2)
            XenBytes.put32(&op, L.nDom, UInt32(listedDomainIDs(from: 0).count))
            return writeBitmap(handle: handle, nrBits: nrBits, cpuBitmap(~0, cpus: board.cpus), memory: platform)
                ? 0 : XenErrno.EFAULT.result
        case L.freeinfo:
            return writeBitmap(handle: handle, nrBits: nrBits, [], memory: platform) ? 0 : XenErrno.EFAULT.result
        default:
            return XenErrno.EOPNOTSUPP.result
        }
    }

    /// XEN_SYSCTL_scheduler_op as Xen 4.17's sched_adjust_global and csched2_sys_cntl: a cmd
    /// but putinfo and getinfo -EINVAL, a pool but 0 -ESRCH, a scheduler but credit2 -EINVAL;
    /// putinfo sets the rate limit (0 turns it off; outside 100...500000 µs -EINVAL), and
    /// both answer the rate limit in force.
    func schedulerOp<P: XenPlatform>(_ op: inout [UInt8], platform: P) -> Int64 {
        typealias L = XenSysctl.SchedulerOp
        let cmd = XenBytes.u32(op, L.cmd)
        guard cmd == L.putInfo || cmd == L.getInfo else { return XenErrno.EINVAL.result }
        guard XenBytes.u32(op, L.cpupoolID) == 0 else { return XenErrno.ESRCH.result }
        guard XenBytes.u32(op, L.schedID) == XenControl.schedulerCredit2 else { return XenErrno.EINVAL.result }
        if cmd == L.putInfo {
            let us = XenBytes.u32(op, L.rateLimit)
            guard us == 0 || (us >= L.rateLimitMin && us <= L.rateLimitMax) else { return XenErrno.EINVAL.result }
            guard platform.setSchedulerRateLimit(us) else { return XenErrno.ENOSYS.result }
        }
        XenBytes.put32(&op, L.rateLimit, platform.schedulerRateLimit())
        return 0
    }

    /// XEN_SYSCTL_numainfo: one node with all the RAM, distance 10 to itself. Null handles
    /// ask only for the count; fewer slots than nodes: -ENOBUFS with the count.
    func numaInfo<P: XenPlatform>(_ op: inout [UInt8], board: XenBoardFacts, platform: P) -> Int64 {
        typealias L = XenSysctl.NUMAInfo
        let mem = XenBytes.u64(op, L.memInfo), distance = XenBytes.u64(op, L.distance)
        if mem != 0 || distance != 0 {
            guard XenBytes.u32(op, L.count) >= 1 else {
                XenBytes.put32(&op, L.count, 1)
                return XenErrno.ENOBUFS.result
            }
            if mem != 0 {
                var m = [UInt8](repeating: 0, count: 16)
                XenBytes.put64(&m, 0, board.totalPages << 12)
                XenBytes.put64(&m, 8, board.freePages << 12)
                guard platform.write(mem, m) else { return XenErrno.EFAULT.result }
            }
            if distance != 0 {
                var d = [UInt8](repeating: 0, count: 4)
                XenBytes.put32(&d, 0, 10)
                guard platform.write(distance, d) else { return XenErrno.EFAULT.result }
            }
        }
        XenBytes.put32(&op, L.count, 1)
        return 0
    }

    /// XEN_SYSCTL_cputopoinfo: each CPU in core 0, socket 0, node 0 (Arm Xen's cpu_to_core
    /// and cpu_to_socket are 0).
    func cpuTopoInfo<P: XenPlatform>(_ op: inout [UInt8], board: XenBoardFacts, platform: P) -> Int64 {
        typealias L = XenSysctl.CPUTopoInfo
        let buffer = XenBytes.u64(op, L.buffer)
        if buffer != 0 {
            guard XenBytes.u32(op, L.count) >= board.cpus else {
                XenBytes.put32(&op, L.count, board.cpus)
                return XenErrno.ENOBUFS.result
            }
            let all = [UInt8](repeating: 0, count: L.elementSize * Int(board.cpus))
            guard platform.write(buffer, all) else { return XenErrno.EFAULT.result }
        }
        XenBytes.put32(&op, L.count, board.cpus)
        return 0
    }
}
