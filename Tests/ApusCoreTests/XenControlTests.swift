import Testing
@testable import ApusCore

/// The toolstack's sysctl and domctl (hypercalls 35 and 36) at Xen 4.17's interface version
/// 0x15: the envelope's refusals in Xen's order, and the records `xl info`, `xl list`,
/// xenstored and xenconsoled read, byte by byte at the offsets of Debian's libxen-dev headers
/// (../shared/notes/xen-dom0-toolstack.md 2.3-2.6).
@Suite struct XenControlTests {
    /// Domain 1 is the control domain (2 vCPUs), domain 2 a domU (1 vCPU).
    static func rig() -> XenRig { XenRig(privileged1: true) }

    /// A domctl or sysctl envelope of `size` bytes: cmd, version, then `fill`.
    static func envelope(_ size: Int, cmd: UInt32, version: UInt32 = 0x15, _ fill: (inout [UInt8]) -> Void = { _ in }) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: size)
        XenBytes.put32(&b, 0, cmd)
        XenBytes.put32(&b, 4, version)
        fill(&b)
        return b
    }

    static func sysctl(_ r: XenRig, _ op: [UInt8], dom: XenDomainID = 1, now: UInt64 = 0) -> (Int64, [UInt8]) {
        r.mem.poke(dom, XenRig.scratch, op)
        let rc = r.call(XenHypercallNumber.sysctl, XenRig.scratch, dom: dom, now: now).result
        return (rc, r.out(XenSysctl.size, dom: dom))
    }

    static func domctl(_ r: XenRig, _ op: [UInt8], dom: XenDomainID = 1, now: UInt64 = 0) -> (Int64, [UInt8]) {
        r.mem.poke(dom, XenRig.scratch, op)
        let rc = r.call(XenHypercallNumber.domctl, XenRig.scratch, dom: dom, now: now).result
        return (rc, r.out(XenDomctl.size, dom: dom))
    }

    // MARK: envelope

    /// do_sysctl/do_domctl: -EFAULT for an unreadable struct, -EACCES for another interface
    /// version (whoever asks: libxc's "need to rebuild the user-space tool set?"), then
    /// -EPERM for every domain but the control domain.
    @Test func refusalsComeInXensOrder() {
        let r = Self.rig()
        let physinfo = Self.envelope(XenSysctl.size, cmd: XenSysctl.physinfo)
        #expect(Self.sysctl(r, physinfo, dom: 2).0 == XenErrno.EPERM.result)
        #expect(Self.domctl(r, Self.envelope(XenDomctl.size, cmd: XenDomctl.getDomainInfo), dom: 2).0 == XenErrno.EPERM.result)
        #expect(Self.sysctl(r, Self.envelope(XenSysctl.size, cmd: XenSysctl.physinfo, version: 0x14), dom: 2).0
                == XenErrno.EACCES.result)
        #expect(Self.domctl(r, Self.envelope(XenDomctl.size, cmd: XenDomctl.getDomainInfo, version: 0x16)).0
                == XenErrno.EACCES.result)
        #expect(r.call(XenHypercallNumber.sysctl, 0x1000).result == XenErrno.EFAULT.result, "outside RAM")
        #expect(Self.sysctl(r, Self.envelope(XenSysctl.size, cmd: 99)).0 == XenErrno.ENOSYS.result)
        #expect(Self.domctl(r, Self.envelope(XenDomctl.size, cmd: 99) { XenBytes.put16(&$0, XenDomctl.domain, 2) }).0
                == XenErrno.ENOSYS.result)
        #expect(Self.domctl(r, Self.envelope(XenDomctl.size, cmd: 99) { XenBytes.put16(&$0, XenDomctl.domain, 7) }).0
                == XenErrno.ESRCH.result, "the domain is looked up first, as Xen's do_domctl does")
    }

    // MARK: sysctl

    @Test func physinfoDescribesTheBoardAsArmXenDoes() {
        let r = Self.rig()
        let (rc, o) = Self.sysctl(r, Self.envelope(XenSysctl.size, cmd: XenSysctl.physinfo) { b in
            for i in 8..<b.count { b[i] = 0xEE }                  // whatever the caller left
        })
        #expect(rc == 0)
        typealias L = XenSysctl.Physinfo
        #expect(XenBytes.u32(o, L.threadsPerCore) == 1 && XenBytes.u32(o, L.coresPerSocket) == 2)
        #expect(XenBytes.u32(o, L.nrCPUs) == 2 && XenBytes.u32(o, L.maxCPUID) == 1)
        #expect(XenBytes.u32(o, L.nrNodes) == 1 && XenBytes.u32(o, L.maxNodeID) == 0)
        #expect(XenBytes.u32(o, L.cpuKHz) == 62_500)
        #expect(XenBytes.u32(o, L.capabilities) == 0x109, "hvm | hap | gnttab_v1")
        #expect(XenBytes.u32(o, L.archCapabilities) == 0)
        #expect(XenBytes.u64(o, L.totalPages) == 0x8_0000 && XenBytes.u64(o, L.freePages) == 0x2_0000)
        #expect(XenBytes.u64(o, L.scrubPages) == 0 && XenBytes.u64(o, L.outstandingPages) == 0)
        #expect(XenBytes.u64(o, L.maxMFN) == 0xC_0000)
        #expect(o[L.hwCap..<(L.hwCap + 32)].allSatisfy { $0 == 0 })
        #expect(XenBytes.u32(o, 0) == XenSysctl.physinfo && XenBytes.u32(o, 4) == 0x15, "the envelope comes back")
    }

    @Test func theSchedulerIsCredit2InSchedIDAndPoolZero() {
        let r = Self.rig()
        let (rc, o) = Self.sysctl(r, Self.envelope(XenSysctl.size, cmd: XenSysctl.schedID))
        #expect(rc == 0 && XenBytes.u32(o, XenSysctl.SchedID.schedID) == 6)
        typealias P = XenSysctl.CpupoolOp
        let map = XenRig.scratch2
        r.mem.poke(1, map, [0xFF, 0xFF, 0xFF, 0xFF])
        let (rc2, o2) = Self.sysctl(r, Self.envelope(XenSysctl.size, cmd: XenSysctl.cpupoolOp) { b in
            XenBytes.put32(&b, P.op, P.info)
            XenBytes.put64(&b, P.cpumapHandle, map)
            XenBytes.put32(&b, P.cpumapBits, 32)
        })
        #expect(rc2 == 0)
        #expect(XenBytes.u32(o2, P.cpupoolID) == 0 && XenBytes.u32(o2, P.schedID) == 6)
        #expect(XenBytes.u32(o2, P.nDom) == 2)
        #expect(r.out(4, at: map) == [0b11, 0, 0, 0], "CPUs 0 and 1, the rest of the caller's bytes zeroed")
        // The next pool after 0: none.
        let (rc3, _) = Self.sysctl(r, Self.envelope(XenSysctl.size, cmd: XenSysctl.cpupoolOp) { b in
            XenBytes.put32(&b, P.op, P.info)
            XenBytes.put32(&b, P.cpupoolID, 1)
        })
        #expect(rc3 == XenErrno.ENOENT.result)
        r.mem.poke(1, map, [0xFF])
        let (rc4, _) = Self.sysctl(r, Self.envelope(XenSysctl.size, cmd: XenSysctl.cpupoolOp) { b in
            XenBytes.put32(&b, P.op, P.freeinfo)
            XenBytes.put64(&b, P.cpumapHandle, map)
            XenBytes.put32(&b, P.cpumapBits, 8)
        })
        #expect(rc4 == 0 && r.out(1, at: map) == [0], "no CPU is outside pool 0")
    }

    /// getdomaininfolist from first_domain, at most max_domains, 120 bytes each; 0 records
    /// past the last domain (libxl_list_domain stops there). The hypervisor's own service
    /// endpoint is no domain of the toolstack's.
    @Test func domainInfoListWalksTheDomainsInIDOrder() {
        let r = Self.rig()
        var svc = XenDomainConfig(vcpus: 1)
        svc.serviceEndpoint = true
        svc.privileged = true
        r.host.createDomain(5, svc)
        r.mem.facts[2] = XenDomainFacts(totPages: 8192, maxPages: 8192, sharedInfoFrame: 0x4_8123)
        typealias L = XenSysctl.DomainInfoList
        func list(first: UInt16, max: UInt32) -> (Int64, UInt32, [UInt8]) {
            let (rc, o) = Self.sysctl(r, Self.envelope(XenSysctl.size, cmd: XenSysctl.getDomainInfoList) { b in
                XenBytes.put16(&b, L.firstDomain, first)
                XenBytes.put32(&b, L.maxDomains, max)
                XenBytes.put64(&b, L.buffer, XenRig.scratch2)
            })
            return (rc, XenBytes.u32(o, L.numDomains), r.out(4 * 120, at: XenRig.scratch2))
        }
        let all = list(first: 0, max: 1024)
        #expect(all.0 == 0 && all.1 == 2)
        #expect(XenBytes.u16(all.2, 0) == 1 && XenBytes.u16(all.2, 120) == 2)
        #expect(XenBytes.u64(all.2, 120 + 8) == 8192 && XenBytes.u64(all.2, 120 + 48) == 0x4_8123)
        let fromTwo = list(first: 2, max: 1024)
        #expect(fromTwo.1 == 1 && XenBytes.u16(fromTwo.2, 0) == 2)
        #expect(list(first: 3, max: 1024).1 == 0, "the service endpoint (5) is not listed")
        #expect(list(first: 0, max: 1).1 == 1)
    }

    /// xl dmesg's loop: readconsole with incremental=1 from index 0, then from the index it
    /// got back, until count comes back 0.
    @Test func readConsoleHandsOutTheRingIncrementally() {
        let r = Self.rig()
        for b in "(XEN) Apus 0.1.0\n(XEN) d1: up\n".utf8 { r.mem.consoleRing.append(b) }
        typealias L = XenSysctl.ReadConsole
        func read(index: UInt32, count: UInt32, clear: Bool = false) -> (Int64, UInt32, UInt32, [UInt8]) {
            let (rc, o) = Self.sysctl(r, Self.envelope(XenSysctl.size, cmd: XenSysctl.readConsole) { b in
                b[L.clear] = clear ? 1 : 0
                b[L.incremental] = 1
                XenBytes.put32(&b, L.index, index)
                XenBytes.put64(&b, L.buffer, XenRig.scratch2)
                XenBytes.put32(&b, L.count, count)
            })
            let n = XenBytes.u32(o, L.count)
            return (rc, n, XenBytes.u32(o, L.index), r.out(Int(n), at: XenRig.scratch2))
        }
        let first = read(index: 0, count: 10)
        #expect(first.0 == 0 && first.1 == 10 && first.2 == 10 && first.3 == Array("(XEN) Apus".utf8))
        let rest = read(index: first.2, count: 16 * 1024)
        #expect(rest.1 == 20 && String(decoding: rest.3, as: UTF8.self) == " 0.1.0\n(XEN) d1: up\n")
        #expect(read(index: rest.2, count: 16 * 1024).1 == 0, "caught up")
        _ = read(index: 0, count: 16 * 1024, clear: true)                 // xl dmesg -c
        #expect(read(index: 0, count: 16 * 1024).1 == 0, "cleared")
        #expect(Self.sysctl(r, Self.envelope(XenSysctl.size, cmd: XenSysctl.readConsole), dom: 2).0 == XenErrno.EPERM.result)
    }

    // MARK: domctl

    /// pausedomain/unpausedomain keep Xen's count: the platform hears only 0 -> 1 and 1 -> 0;
    /// nobody pauses itself (-EINVAL), unpausing below 0 is -EINVAL, more than 255 deep
    /// -EOVERFLOW, a domain that does not exist -ESRCH; getdomaininfo shows the paused flag.
    @Test func pauseAndUnpauseCountAsXensDo() {
        let r = Self.rig()
        func op(_ cmd: UInt32, _ dom: UInt16) -> Int64 {
            Self.domctl(r, Self.envelope(XenDomctl.size, cmd: cmd) { XenBytes.put16(&$0, XenDomctl.domain, dom) }).0
        }
        #expect(op(XenDomctl.pauseDomain, 2) == 0 && op(XenDomctl.pauseDomain, 2) == 0)
        #expect(r.mem.pauses.count == 1 && r.mem.pauses[0] == (2, true))
        let (_, info) = Self.domctl(r, Self.envelope(XenDomctl.size, cmd: XenDomctl.getDomainInfo) {
            XenBytes.put16(&$0, XenDomctl.domain, 2)
        })
        #expect(XenBytes.u32(info, XenDomctl.union + XenDomctl.DomainInfo.flags) & XenControl.DomainFlag.paused != 0)
        #expect(op(XenDomctl.unpauseDomain, 2) == 0 && r.mem.pauses.count == 1, "still paused once")
        #expect(op(XenDomctl.unpauseDomain, 2) == 0 && r.mem.pauses.count == 2 && r.mem.pauses[1] == (2, false))
        #expect(op(XenDomctl.unpauseDomain, 2) == XenErrno.EINVAL.result)
        #expect(op(XenDomctl.pauseDomain, 1) == XenErrno.EINVAL.result, "the caller itself")
        #expect(op(XenDomctl.pauseDomain, 3) == XenErrno.ESRCH.result)
        for _ in 0..<255 { _ = op(XenDomctl.pauseDomain, 2) }
        #expect(op(XenDomctl.pauseDomain, 2) == XenErrno.EOVERFLOW.result)
        #expect(Self.domctl(r, Self.envelope(XenDomctl.size, cmd: XenDomctl.pauseDomain) {
            XenBytes.put16(&$0, XenDomctl.domain, 1)
        }, dom: 2).0 == XenErrno.EPERM.result, "a domU pausing dom0")
    }

    /// destroydomain: the hypervisor tears the domain down after the hypercall (an action);
    /// never the caller itself, never a domain that does not exist.
    @Test func destroyDomainAsksTheHypervisorToTearItDown() {
        let r = Self.rig()
        func destroy(_ dom: UInt16, by caller: XenDomainID = 1) -> XenHypercallResult {
            r.mem.poke(caller, XenRig.scratch, Self.envelope(XenDomctl.size, cmd: XenDomctl.destroyDomain) {
                XenBytes.put16(&$0, XenDomctl.domain, dom)
            })
            return r.call(XenHypercallNumber.domctl, XenRig.scratch, dom: caller)
        }
        #expect(destroy(2) == XenHypercallResult(0, .destroy(domain: 2)))
        #expect(destroy(1) == XenHypercallResult(XenErrno.EINVAL.result))
        #expect(destroy(4) == XenHypercallResult(XenErrno.ESRCH.result))
        #expect(destroy(1, by: 2) == XenHypercallResult(XenErrno.EPERM.result))
    }

    /// scheduler_op with credit2's id: getinfo reads weight and cap, putinfo sets them
    /// (weight 0 keeps it, cap 0 removes it, more than 100% per vCPU is -EINVAL); another
    /// scheduler's id is -EINVAL.
    @Test func schedulerOpGetsAndPutsCredit2sWeightAndCap() {
        let r = Self.rig()
        typealias S = XenDomctl.SchedulerOp
        func sched(_ cmd: UInt32, id: UInt32 = 6, weight: UInt16 = 0, cap: UInt16 = 0) -> (Int64, [UInt8]) {
            Self.domctl(r, Self.envelope(XenDomctl.size, cmd: XenDomctl.schedulerOp) { b in
                XenBytes.put16(&b, XenDomctl.domain, 2)
                XenBytes.put32(&b, S.schedID, id)
                XenBytes.put32(&b, S.cmd, cmd)
                XenBytes.put16(&b, S.weight, weight)
                XenBytes.put16(&b, S.cap, cap)
            })
        }
        let (rc, o) = sched(S.getInfo)
        #expect(rc == 0 && XenBytes.u16(o, S.weight) == 256 && XenBytes.u16(o, S.cap) == 0)
        #expect(sched(S.putInfo, weight: 512, cap: 50).0 == 0)
        #expect(r.mem.schedulerParams[2]! == (512, 50))
        #expect(sched(S.putInfo, weight: 0, cap: 0).0 == 0)
        #expect(r.mem.schedulerParams[2]! == (512, 0), "weight kept, cap removed")
        #expect(sched(S.putInfo, weight: 1, cap: 101).0 == XenErrno.EINVAL.result, "one vCPU: at most 100%")
        #expect(sched(S.getInfo, id: 5).0 == XenErrno.EINVAL.result, "credit, not credit2")
    }

    /// setvcpuaffinity (xl vcpu-pin): the hard map goes to the scheduler, and the effective
    /// map comes back in the caller's bitmap; a map with none of the board's CPUs -EINVAL.
    @Test func setVCPUAffinityPinsAndReportsTheEffectiveMap() {
        let r = Self.rig()
        typealias A = XenDomctl.VCPUAffinity
        func pin(_ byte: UInt8) -> Int64 {
            r.mem.poke(1, XenRig.scratch2, [byte, 0xFF])
            return Self.domctl(r, Self.envelope(XenDomctl.size, cmd: XenDomctl.setVCPUAffinity) { b in
                XenBytes.put16(&b, XenDomctl.domain, 2)
                XenBytes.put32(&b, A.flags, A.hard)
                XenBytes.put64(&b, A.hardHandle, XenRig.scratch2); XenBytes.put32(&b, A.hardBits, 16)
            }).0
        }
        #expect(pin(0b0111) == 0 && r.mem.placement.hardAffinity == 0b11)
        #expect(r.out(2, at: XenRig.scratch2) == [0b11, 0], "the effective map: the board has two CPUs")
        #expect(pin(0b0001) == 0 && r.mem.placement.hardAffinity == 0b01)
        #expect(pin(0b0100) == XenErrno.EINVAL.result, "no CPU of the board")
    }

    /// What `xl vcpu-list` reads: getvcpuinfo (online, blocked, running, cpu_time, cpu) and
    /// getvcpuaffinity (hard from the scheduler, soft: every CPU), bitmaps zero-filled.
    @Test func vcpuInfoAndAffinityDescribeEachVCPU() {
        let r = Self.rig()
        r.host.setRunstate(domain: 2, vcpu: 0, .running, at: 100)
        typealias I = XenDomctl.VCPUInfo
        let (rc, o) = Self.domctl(r, Self.envelope(XenDomctl.size, cmd: XenDomctl.getVCPUInfo) {
            XenBytes.put16(&$0, XenDomctl.domain, 2)
        }, now: 1_100)
        #expect(rc == 0 && o[I.online] == 1 && o[I.blocked] == 0 && o[I.running] == 1)
        #expect(XenBytes.u64(o, I.cpuTime) == 1_000 && XenBytes.u32(o, I.cpu) == 1)
        #expect(Self.domctl(r, Self.envelope(XenDomctl.size, cmd: XenDomctl.getVCPUInfo) {
            XenBytes.put16(&$0, XenDomctl.domain, 2); XenBytes.put32(&$0, I.vcpu, 1)
        }).0 == XenErrno.EINVAL.result, "domain 2 has one vCPU")
        typealias A = XenDomctl.VCPUAffinity
        r.mem.poke(1, XenRig.scratch2, [0xFF, 0xFF])
        r.mem.poke(1, XenRig.scratch2 + 16, [0, 0])
        let (rc2, _) = Self.domctl(r, Self.envelope(XenDomctl.size, cmd: XenDomctl.getVCPUAffinity) { b in
            XenBytes.put16(&b, XenDomctl.domain, 2)
            XenBytes.put32(&b, A.flags, A.hard | A.soft)
            XenBytes.put64(&b, A.hardHandle, XenRig.scratch2); XenBytes.put32(&b, A.hardBits, 16)
            XenBytes.put64(&b, A.softHandle, XenRig.scratch2 + 16); XenBytes.put32(&b, A.softBits, 16)
        })
        #expect(rc2 == 0)
        #expect(r.out(2, at: XenRig.scratch2) == [0b10, 0], "hard: CPU 1 only")
        #expect(r.out(2, at: XenRig.scratch2 + 16) == [0b11, 0], "soft: both CPUs")
    }

    /// getdomaininfo answers for the first domain at or after the one asked (its id in the
    /// envelope's domain field), -ESRCH past the last, -EINVAL for reserved ids.
    @Test func getDomainInfoFindsTheNextDomainAndFillsItsRecord() {
        let r = Self.rig()
        r.mem.facts[1] = XenDomainFacts(totPages: 131_072, maxPages: 131_072, sharedInfoFrame: 0x7_0001)
        r.host.setRunstate(domain: 1, vcpu: 0, .running, at: 1_000)
        r.host.setRunstate(domain: 1, vcpu: 1, .blocked, at: 1_000)
        func info(_ dom: UInt16, now: UInt64 = 5_000) -> (Int64, [UInt8]) {
            Self.domctl(r, Self.envelope(XenDomctl.size, cmd: XenDomctl.getDomainInfo) { b in
                XenBytes.put16(&b, XenDomctl.domain, dom)
            }, now: now)
        }
        typealias L = XenDomctl.DomainInfo
        let u = XenDomctl.union
        let (rc, o) = info(0)
        #expect(rc == 0 && XenBytes.u16(o, XenDomctl.domain) == 1 && XenBytes.u16(o, u + L.domain) == 1)
        let flags = XenBytes.u32(o, u + L.flags)
        #expect(flags == XenControl.DomainFlag.hvmGuest | XenControl.DomainFlag.hap | XenControl.DomainFlag.running)
        #expect(XenBytes.u64(o, u + L.totPages) == 131_072 && XenBytes.u64(o, u + L.maxPages) == 131_072)
        #expect(XenBytes.u64(o, u + L.sharedInfoFrame) == 0x7_0001)
        #expect(XenBytes.u64(o, u + L.cpuTime) == 4_000, "vCPU 0 ran from 1,000 to 5,000 ns")
        #expect(XenBytes.u32(o, u + L.onlineVCPUs) == 2 && XenBytes.u32(o, u + L.maxVCPUID) == 1)
        #expect(o[u + L.gpaddrBits] == 39)
        #expect(XenBytes.u32(o, u + L.cpupool) == 0)

        // Domain 2: both of nothing running and all online vCPUs blocked; shut down for reboot.
        r.host.setRunstate(domain: 2, vcpu: 0, .blocked, at: 0)
        _ = r.host.withDomain(2) { d in d.shuttingDown = true; d.shutdownCode = 1 }
        let (rc2, o2) = info(2)
        #expect(rc2 == 0)
        #expect(XenBytes.u32(o2, u + L.flags) == XenControl.DomainFlag.hvmGuest | XenControl.DomainFlag.hap
                | XenControl.DomainFlag.blocked | XenControl.DomainFlag.shutdown | 1 << 16)
        #expect(info(3).0 == XenErrno.ESRCH.result)
        #expect(info(0x7FF0).0 == XenErrno.EINVAL.result)
        // A vCPU that is down is neither online nor counted as running.
        r.mem.downVCPUs = [0]
        let (_, o3) = info(1)
        #expect(XenBytes.u32(o3, u + L.onlineVCPUs) == 1)
        #expect(XenBytes.u32(o3, u + L.flags) & XenControl.DomainFlag.running == 0)
    }
}

/// The scheduler's side of scheduler_op and setvcpuaffinity.
@Suite struct FairSchedulerToolstackTests {
    @Test func parametersAndAffinityChangeAtRunTime() {
        let s = FairScheduler(cpus: 2, policy: .fair)
        let id = s.add(weight: 256, capPercent: 0, affinity: ~0)
        s.setParameters(id, weight: 1024, capPercent: nil)
        #expect(s.entities[id].weight == 1024 && s.entities[id].capPercent == 0)
        s.setParameters(id, weight: nil, capPercent: 30)
        #expect(s.entities[id].weight == 1024 && s.entities[id].capPercent == 30)
        #expect(s.setAffinity(id, 0b110) == 0b10, "limited to the board's CPUs")
        #expect(s.setAffinity(id, 0b100) == nil && s.entities[id].affinity == 0b10)
        // The vCPU, runnable, is picked only on the CPU it may use.
        _ = s.wake(id, now: 0)
        #expect(s.pick(cpu: 0, now: 0).vcpu == nil && s.pick(cpu: 1, now: 0).vcpu == id)
        let null = FairScheduler(cpus: 2, policy: .noSharing)
        let n = null.add(weight: 256, capPercent: 0, affinity: ~0)
        #expect(null.setAffinity(n, 0b10) == nil, "the null scheduler's vCPUs own their CPU")
    }
}
