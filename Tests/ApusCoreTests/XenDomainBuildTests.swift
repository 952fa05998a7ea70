import Testing
@testable import ApusCore

/// What `xl create` asks of the hypervisor to build a domain (XenDomainBuild.swift,
/// XenVCPUContext.swift, XenForeignMemory.swift, the sysctls of libxl's NUMA placement),
/// driven through the hypercalls with the fake platform, byte by byte where the ABI
/// matters. Domain 1 is the control domain (2 vCPUs), domain 2 a domU (1 vCPU, not
/// paused); the host has 8 slots, so the toolstack's ids are 1...6.
@Suite struct XenDomainBuildTests {
    static func rig() -> XenRig {
        let r = XenRig(privileged1: true)
        r.mem.acceptBuilds()
        return r
    }

    static let handle: [UInt8] = (0..<16).map { UInt8(0xA0 + $0) }

    /// A createdomain libxl would send for an Arm guest: hvm | hap, 2 vCPUs, 1023 event
    /// channels, 32 grant frames, grant v1, GIC native, no SPIs, and a clock_frequency the
    /// hypervisor must overwrite.
    static func createOp(domain: UInt16 = 0, _ fill: (inout [UInt8]) -> Void = { _ in }) -> [UInt8] {
        typealias L = XenDomctl.CreateDomain
        return XenControlTests.envelope(XenDomctl.size, cmd: XenDomctl.createDomain) { b in
            XenBytes.put16(&b, XenDomctl.domain, domain)
            for i in 0..<16 { b[L.handle + i] = handle[i] }
            XenBytes.put32(&b, L.flags, L.flagHVM | L.flagHAP)
            XenBytes.put32(&b, L.maxVCPUs, 2)
            XenBytes.put32(&b, L.maxEvtchnPort, 1023)
            XenBytes.put32(&b, L.maxGrantFrames, 32)
            XenBytes.put32(&b, L.maxMaptrackFrames, 1024)
            XenBytes.put32(&b, L.grantOpts, 1)
            b[L.gicVersion] = L.gicNative
            XenBytes.put32(&b, L.clockFrequency, 0xDEAD_BEEF)
            fill(&b)
        }
    }

    /// createdomain from domain 1: the result and the struct as it is in memory afterwards.
    static func create(_ r: XenRig, domain: UInt16 = 0, _ fill: (inout [UInt8]) -> Void = { _ in }) -> (Int64, [UInt8]) {
        XenControlTests.domctl(r, createOp(domain: domain, fill))
    }

    /// A domctl `cmd` on `domain` from domain 1.
    static func domctl(_ r: XenRig, _ cmd: UInt32, domain: UInt16, _ fill: (inout [UInt8]) -> Void = { _ in }) -> (Int64, [UInt8]) {
        XenControlTests.domctl(r, XenControlTests.envelope(XenDomctl.size, cmd: cmd) { b in
            XenBytes.put16(&b, XenDomctl.domain, domain)
            fill(&b)
        })
    }

    // MARK: createdomain

    @Test func createDomainWritesBackOnlyTheNewIDGICv3AndAZeroClockFrequency() {
        let r = Self.rig()
        let sent = Self.createOp()
        let (rc, o) = Self.create(r)
        #expect(rc == 0)
        var expected = sent
        XenBytes.put16(&expected, XenDomctl.domain, 3)                       // 1 and 2 exist
        expected[XenDomctl.CreateDomain.gicVersion] = XenDomctl.CreateDomain.gicV3
        XenBytes.put32(&expected, XenDomctl.CreateDomain.clockFrequency, 0)
        #expect(o == expected)
        #expect(o[8...9] == [3, 0] && o[72] == 2 && o[80...83] == [0, 0, 0, 0])
        #expect(r.mem.createDomainCalls.count == 1)
        #expect(r.mem.createDomainCalls.first.map { $0 == (3, 2, 32) } == true, "2 vCPUs, one group of 32 SPIs")
    }

    @Test func createdDomainIsPausedOnceBuiltByToolstackWithTheHandleAndLimitsAsked() throws {
        let r = Self.rig()
        #expect(Self.create(r).0 == 0)
        let d = try #require(r.host.domain(3))
        #expect(d.pauseCount == 1 && d.vcpuCount == 2)
        #expect(d.config.builtByToolstack && r.host.isBuiltByToolstack(3) && !r.host.isBuiltByToolstack(2))
        #expect(!d.config.privileged)
        #expect(d.config.handle == Self.handle)
        #expect(d.config.maxEventChannelPort == 1023)
        #expect(r.host.grants.table(3)?.maxFrames == 32)
        #expect(r.mem.pauses.isEmpty, "the platform made it paused: no setPaused")
        // getdomaininfo: paused, with its handle.
        typealias I = XenDomctl.DomainInfo
        let (_, info) = Self.domctl(r, XenDomctl.getDomainInfo, domain: 3)
        #expect(XenBytes.u16(info, XenDomctl.union + I.domain) == 3)
        #expect(XenBytes.u32(info, XenDomctl.union + I.flags) & XenControl.DomainFlag.paused != 0)
        #expect(Array(info[(XenDomctl.union + I.handle)..<(XenDomctl.union + I.handle + 16)]) == Self.handle)
        // The toolstack's unpause is the one that lets it run.
        #expect(Self.domctl(r, XenDomctl.unpauseDomain, domain: 3).0 == 0)
        #expect(r.mem.pauses.count == 1 && r.mem.pauses[0] == (3, false))
        // max_grant_frames -1: the default.
        #expect(Self.create(r) { XenBytes.put32(&$0, XenDomctl.CreateDomain.maxGrantFrames, UInt32(bitPattern: -1)) }.0 == 0)
        #expect(r.host.grants.table(4)?.maxFrames == GrantTable.defaultMaxFrames)
    }

    @Test func createDomainGivesTheAskedIDOrEEXISTForATakenOrDyingOneOrEINVALAboveTheLimit() {
        let r = Self.rig()
        let (rc, o) = Self.create(r, domain: 5)
        #expect(rc == 0 && XenBytes.u16(o, XenDomctl.domain) == 5 && r.host.domain(5) != nil)
        #expect(Self.create(r, domain: 5).0 == XenErrno.EEXIST.result)
        #expect(Self.create(r, domain: 2).0 == XenErrno.EEXIST.result)
        #expect(r.host.beginDestroy(5))
        #expect(Self.create(r, domain: 5).0 == XenErrno.EEXIST.result, "still dying")
        #expect(Self.create(r, domain: 7).0 == XenErrno.EINVAL.result, "the service endpoint's slot")
        #expect(Self.create(r, domain: 0x7FEF).0 == XenErrno.EINVAL.result)
        #expect(r.mem.createDomainCalls.map(\.id) == [5], "the platform is asked only for a free id")
        // A reserved id (DOMID_SELF and above) asks for the rover.
        let (rc2, o2) = Self.create(r, domain: XenDomID.selfID)
        let given = XenBytes.u16(o2, XenDomctl.domain)
        #expect(rc2 == 0 && (3...6).contains(given) && given != 5 && r.host.domain(given) != nil)
        // The platform refusing an asked id: -ENOMEM, nothing installed.
        r.mem.acceptCreateDomain = { $0 != 4 }
        #expect(Self.create(r, domain: 4).0 == XenErrno.ENOMEM.result)
        #expect(r.host.domain(4) == nil)
    }

    @Test func roverGivesTheNextFreeIDAfterTheLastCreatedAndWrapsAround() {
        let r = Self.rig()
        func next() -> (Int64, UInt16) {
            let (rc, o) = Self.create(r)
            return (rc, XenBytes.u16(o, XenDomctl.domain))
        }
        #expect(next() == (0, 3))
        #expect(next() == (0, 4))
        r.host.destroyDomain(3, platform: r.mem)
        #expect(next() == (0, 5), "3 is free again, but the rover goes on")
        #expect(next() == (0, 6))
        #expect(next() == (0, 3), "wrapped past 1 and 2")
        let asked = r.mem.createDomainCalls.count
        #expect(next().0 == XenErrno.ENOMEM.result, "1...6 all taken")
        #expect(r.mem.createDomainCalls.count == asked, "nothing to ask the platform")
    }

    @Test func roverPassesOverAnIDThePlatformStillHolds() {
        let r = Self.rig()
        r.mem.acceptCreateDomain = { $0 != 3 }       // domain 3's pages still mapped by dom0
        let (rc, o) = Self.create(r)
        #expect(rc == 0 && XenBytes.u16(o, XenDomctl.domain) == 4)
        #expect(r.mem.createDomainCalls.map(\.id) == [3, 4])
        #expect(r.host.domain(3) == nil && r.host.domain(4) != nil)
        r.mem.acceptCreateDomain = { _ in false }
        #expect(Self.create(r).0 == XenErrno.ENOMEM.result)
        #expect(r.mem.createDomainCalls.map(\.id) == [3, 4, 5, 6, 3], "every free id tried once, from after 4")
    }

    @Test func createDomainRefusesWhatArmXenRefusesBeforeAskingThePlatform() {
        typealias L = XenDomctl.CreateDomain
        let cases: [(String, Int64, (inout [UInt8]) -> Void)] = [
            ("hvm without hap", XenErrno.EINVAL.result, { XenBytes.put32(&$0, L.flags, L.flagHVM) }),
            ("an extra CDF flag", XenErrno.EINVAL.result, { XenBytes.put32(&$0, L.flags, L.flagHVM | L.flagHAP | 1 << 5) }),
            ("iommu_opts", XenErrno.EINVAL.result, { XenBytes.put32(&$0, L.iommuOpts, 1) }),
            ("vmtrace_size", XenErrno.EINVAL.result, { XenBytes.put32(&$0, L.vmtraceSize, 0x1000) }),
            ("no vCPU", XenErrno.EINVAL.result, { XenBytes.put32(&$0, L.maxVCPUs, 0) }),
            ("9 vCPUs", XenErrno.EINVAL.result, { XenBytes.put32(&$0, L.maxVCPUs, XenHost.maxVCPUsPerDomain + 1) }),
            ("grant v2", XenErrno.EINVAL.result, { XenBytes.put32(&$0, L.grantOpts, 2) }),
            ("grant version 0", XenErrno.EINVAL.result, { XenBytes.put32(&$0, L.grantOpts, 0) }),
            ("0 grant frames", XenErrno.EINVAL.result, { XenBytes.put32(&$0, L.maxGrantFrames, 0) }),
            ("65 grant frames", XenErrno.EINVAL.result, { XenBytes.put32(&$0, L.maxGrantFrames, 65) }),
            ("-2 grant frames", XenErrno.EINVAL.result, { XenBytes.put32(&$0, L.maxGrantFrames, UInt32(bitPattern: -2)) }),
            ("-2 maptrack frames", XenErrno.EINVAL.result, { XenBytes.put32(&$0, L.maxMaptrackFrames, UInt32(bitPattern: -2)) }),
            ("GICv2", XenErrno.EOPNOTSUPP.result, { $0[L.gicVersion] = L.gicV2 }),
            ("GIC 3", XenErrno.EOPNOTSUPP.result, { $0[L.gicVersion] = 3 }),
            ("OP-TEE", XenErrno.EINVAL.result, { XenBytes.put16(&$0, L.teeType, 1) }),
            ("961 SPIs", XenErrno.EINVAL.result, { XenBytes.put32(&$0, L.nrSPIs, 961) }),
            ("cpupool 1", XenErrno.ENOENT.result, { XenBytes.put32(&$0, L.cpupoolID, 1) }),
        ]
        let r = Self.rig()
        for (what, errno, fill) in cases {
            let sent = Self.createOp(fill)
            let (rc, o) = XenControlTests.domctl(r, sent)
            #expect(rc == errno, "\(what)")
            #expect(o == sent, "\(what): nothing written back")
        }
        #expect(r.mem.createDomainCalls.isEmpty && r.host.domain(3) == nil)
        #expect(XenControlTests.domctl(r, Self.createOp(), dom: 2).0 == XenErrno.EPERM.result, "a domU")
        #expect(r.mem.createDomainCalls.isEmpty)
    }

    @Test func createDomainAsksThePlatformForWholeGroupsOf32SPIsAndTheVCPUCount() {
        let r = Self.rig()
        for (spis, vcpus) in [(UInt32(0), UInt32(1)), (32, 8), (33, 2), (960, 4)] {
            let (rc, o) = Self.create(r) { b in
                XenBytes.put32(&b, XenDomctl.CreateDomain.nrSPIs, spis)
                XenBytes.put32(&b, XenDomctl.CreateDomain.maxVCPUs, vcpus)
            }
            #expect(rc == 0)
            #expect(XenBytes.u32(o, XenDomctl.CreateDomain.nrSPIs) == spis, "nr_spis is IN only")
            r.host.destroyDomain(XenBytes.u16(o, XenDomctl.domain), platform: r.mem)
        }
        #expect(r.mem.createDomainCalls.map(\.spis) == [32, 32, 64, 960])
        #expect(r.mem.createDomainCalls.map(\.vcpus) == [1, 8, 2, 4])
    }

    // MARK: sub-ops on the new domain

    @Test func maxVCPUsAcceptsOnlyTheCountGivenAtCreation() {
        let r = Self.rig()
        #expect(Self.create(r).0 == 0)
        func maxVCPUs(_ n: UInt32) -> Int64 {
            Self.domctl(r, XenDomctl.maxVCPUs, domain: 3) { XenBytes.put32(&$0, XenDomctl.Single.value, n) }.0
        }
        #expect(maxVCPUs(2) == 0)
        #expect(maxVCPUs(1) == XenErrno.EINVAL.result && maxVCPUs(3) == XenErrno.EINVAL.result)
        #expect(Self.domctl(r, XenDomctl.maxVCPUs, domain: 4).0 == XenErrno.ESRCH.result)
    }

    @Test func maxMemGivesThePlatformKiBShiftedRightByTwoAsPages() {
        let r = Self.rig()
        #expect(Self.create(r).0 == 0)
        func maxMem(_ kib: UInt64) -> Int64 {
            Self.domctl(r, XenDomctl.maxMem, domain: 3) { XenBytes.put64(&$0, XenDomctl.Single.value, kib) }.0
        }
        #expect(maxMem(256 * 1024) == 0)
        #expect(maxMem(1023) == 0)
        #expect(maxMem(0x1_0000_0000_0003) == 0)
        #expect(r.mem.maxMemoryCalls.map(\.pages) == [0x1_0000, 255, 0x4000_0000_0000])
        #expect(r.mem.maxMemoryCalls.allSatisfy { $0.domain == 3 })
        r.mem.acceptMaxMemory = false
        #expect(maxMem(512 * 1024) == XenErrno.ENOMEM.result)
    }

    @Test func addressSizeIs64OnlyAndGetAddressSizeWrites64() {
        let r = Self.rig()
        #expect(Self.create(r).0 == 0)
        func set(_ bits: UInt32) -> Int64 {
            Self.domctl(r, XenDomctl.setAddressSize, domain: 3) { XenBytes.put32(&$0, XenDomctl.Single.value, bits) }.0
        }
        #expect(set(64) == 0)
        #expect(set(32) == XenErrno.EINVAL.result && set(0) == XenErrno.EINVAL.result)
        let (rc, o) = Self.domctl(r, XenDomctl.getAddressSize, domain: 3) { b in
            for i in XenDomctl.union..<XenDomctl.size { b[i] = 0xEE }
        }
        #expect(rc == 0)
        #expect(Array(o[16..<24]) == [64, 0, 0, 0, 0xEE, 0xEE, 0xEE, 0xEE], "a u32")
    }

    @Test func setDomainHandleReplacesTheHandleGetDomainInfoReports() {
        let r = Self.rig()
        let h: [UInt8] = (0..<16).map { UInt8(0x10 * ($0 % 16) | 0x5) }
        #expect(Self.domctl(r, XenDomctl.setDomainHandle, domain: 2) { b in
            for i in 0..<16 { b[XenDomctl.Single.value + i] = h[i] }
        }.0 == 0)
        #expect(r.host.domain(2)?.config.handle == h)
        let (_, info) = Self.domctl(r, XenDomctl.getDomainInfo, domain: 2)
        let at = XenDomctl.union + XenDomctl.DomainInfo.handle
        #expect(Array(info[at..<(at + 16)]) == h)
    }

    @Test func pagingMempoolSizeIsKeptInWholePagesAndReadBack() {
        let r = Self.rig()
        #expect(Self.create(r).0 == 0)
        func set(_ bytes: UInt64) -> Int64 {
            Self.domctl(r, XenDomctl.setPagingMempoolSize, domain: 3) { XenBytes.put64(&$0, XenDomctl.Single.value, bytes) }.0
        }
        func get() -> (Int64, UInt64) {
            let (rc, o) = Self.domctl(r, XenDomctl.getPagingMempoolSize, domain: 3) { XenBytes.put64(&$0, XenDomctl.Single.value, ~0) }
            return (rc, XenBytes.u64(o, XenDomctl.Single.value))
        }
        #expect(get() == (0, 0))
        #expect(set(0x80_0000) == 0)
        #expect(get() == (0, 0x80_0000))
        #expect(set(0x80_0800) == XenErrno.EINVAL.result, "not whole pages")
        #expect(get() == (0, 0x80_0000), "kept")
    }

    @Test func nodeAffinityIsNodeZeroInTheCallersBitmap() {
        let r = Self.rig()
        typealias N = XenDomctl.NodeAffinity
        #expect(Self.domctl(r, XenDomctl.setNodeAffinity, domain: 2).0 == 0)
        r.mem.poke(1, XenRig.scratch2, [0xFF, 0xFF, 0xFF])
        #expect(Self.domctl(r, XenDomctl.getNodeAffinity, domain: 2) { b in
            XenBytes.put64(&b, N.handle, XenRig.scratch2)
            XenBytes.put32(&b, N.bits, 16)
        }.0 == 0)
        #expect(r.out(3, at: XenRig.scratch2) == [1, 0, 0xFF], "node 0 only, 16 bits, nothing beyond")
        #expect(Self.domctl(r, XenDomctl.getNodeAffinity, domain: 2) { b in
            XenBytes.put64(&b, N.handle, 0x10)
            XenBytes.put32(&b, N.bits, 8)
        }.0 == XenErrno.EFAULT.result)
    }

    @Test func cacheFlushPassesTheRangeAndRefusesMoreThan2To18FramesOrAWrap() {
        let r = Self.rig()
        typealias C = XenDomctl.CacheFlush
        func flush(_ start: UInt64, _ count: UInt64) -> Int64 {
            Self.domctl(r, XenDomctl.cacheFlush, domain: 2) { b in
                XenBytes.put64(&b, C.startPFN, start)
                XenBytes.put64(&b, C.count, count)
            }.0
        }
        #expect(flush(0x4_0000, 16) == 0)
        #expect(flush(0x4_0000, 1 << 18) == 0)
        #expect(flush((1 << 36) - 1, 1) == 0)
        #expect(flush(0x4_0000, (1 << 18) + 1) == XenErrno.EINVAL.result)
        #expect(flush(1 << 36, 1) == XenErrno.EINVAL.result)
        #expect(flush(~0, 2) == XenErrno.EINVAL.result)
        #expect(r.mem.cacheFlushCalls.count == 3)
        #expect(r.mem.cacheFlushCalls.map(\.gfn) == [0x4_0000, 0x4_0000, (1 << 36) - 1])
        #expect(r.mem.cacheFlushCalls.map(\.count) == [16, 1 << 18, 1])
        #expect(r.mem.cacheFlushCalls.allSatisfy { $0.domain == 2 })
    }

    // MARK: setvcpucontext

    /// A 352-byte arm64 vcpu_guest_context: Linux's boot protocol (x0 = DTB, EL1h, DAIF set).
    static func context(flags: UInt32 = XenVCPUContext.flagOnline, cpsr: UInt64 = 0x3C5, spsrEL1: UInt64 = 0) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: XenVCPUContext.size)
        XenBytes.put32(&b, 0, flags)
        for i in 0..<31 { XenBytes.put64(&b, 8 + 8 * i, 0x1000 + UInt64(i)) }
        XenBytes.put64(&b, 256, 0x4008_0000)                       // pc64
        XenBytes.put64(&b, 264, cpsr)
        XenBytes.put64(&b, 272, spsrEL1)
        for i in 280..<296 { b[i] = 0xAA }                           // spsr_fiq... (AArch32 only)
        XenBytes.put64(&b, 296, 0x11)                                // sp_el0
        XenBytes.put64(&b, 304, 0x22)                                // sp_el1
        XenBytes.put64(&b, 312, 0x33)                                // elr_el1
        XenBytes.put64(&b, 320, 0x30D0_0800)                         // sctlr
        XenBytes.put64(&b, 328, 0x55)                                // ttbcr
        XenBytes.put64(&b, 336, 0x66)                                // ttbr0
        XenBytes.put64(&b, 344, 0x77)                                // ttbr1
        return b
    }

    @Test func vcpuContextParsesEveryFieldAtItsArm64Offset() throws {
        let c = try #require(XenVCPUContext(Self.context(spsrEL1: 0x5)))
        #expect(c.flags == 1 && c.online)
        #expect(c.x == (0..<31).map { 0x1000 + UInt64($0) })
        #expect(c.pc == 0x4008_0000 && c.cpsr == 0x3C5 && c.spsrEL1 == 0x5)
        #expect(c.spEL0 == 0x11 && c.spEL1 == 0x22 && c.elrEL1 == 0x33)
        #expect(c.sctlr == 0x30D0_0800 && c.ttbcr == 0x55 && c.ttbr0 == 0x66 && c.ttbr1 == 0x77)
        #expect(XenVCPUContext(Self.context(flags: 0))?.online == false)
        #expect(XenVCPUContext(Array(Self.context().prefix(351))) == nil, "short")
        #expect(XenVCPUContext() == XenVCPUContext(Self.zeroContext), "the reset context: all zero, down")
    }

    static let zeroContext = [UInt8](repeating: 0, count: XenVCPUContext.size)

    @Test func onlyAArch64EL0tEL1tAndEL1hArePSTATEsAVCPUMayStartIn() {
        for mode in UInt64(0)..<32 {
            let ok = mode == 0 || mode == 4 || mode == 5
            #expect(XenVCPUContext.validPSR(mode) == ok, "mode \(mode)")
            #expect(XenVCPUContext.validPSR(0xF_0000_03C0 | mode) == ok, "mode \(mode) with DAIF and flags")
            #expect((XenVCPUContext(Self.context(cpsr: mode)) != nil) == ok, "cpsr mode \(mode)")
            if mode != 0 {
                #expect((XenVCPUContext(Self.context(spsrEL1: 0x3C0 | mode)) != nil) == ok, "spsr_el1 mode \(mode)")
            }
        }
        #expect(XenVCPUContext(Self.context(cpsr: 0x13)) == nil, "AArch32 SVC")
        #expect(XenVCPUContext(Self.context(cpsr: 0x3C9)) == nil, "EL2h")
        #expect(XenVCPUContext(Self.context(spsrEL1: 0)) != nil, "a zero SPSR_EL1 is not checked")
    }

    @Test func setVCPUContextGivesThePlatformTheParsedContextOfAPausedDomainsVCPU() throws {
        let r = Self.rig()
        #expect(Self.create(r).0 == 0)
        r.mem.poke(1, XenRig.scratch2, Self.context())
        typealias V = XenDomctl.VCPUContext
        let (rc, _) = Self.domctl(r, XenDomctl.setVCPUContext, domain: 3) { b in
            XenBytes.put32(&b, V.vcpu, 1)
            XenBytes.put64(&b, V.context, XenRig.scratch2)
        }
        #expect(rc == 0)
        let call = try #require(r.mem.vcpuContextCalls.first)
        #expect(r.mem.vcpuContextCalls.count == 1 && call.domain == 3 && call.vcpu == 1)
        #expect(call.context == XenVCPUContext(Self.context()))
        // A null handle: the vCPU is reset (an all-zero context, down).
        #expect(Self.domctl(r, XenDomctl.setVCPUContext, domain: 3) { XenBytes.put32(&$0, V.vcpu, 0) }.0 == 0)
        #expect(r.mem.vcpuContextCalls.count == 2 && r.mem.vcpuContextCalls[1].vcpu == 0)
        #expect(r.mem.vcpuContextCalls[1].context == XenVCPUContext() && !r.mem.vcpuContextCalls[1].context.online)
    }

    @Test func setVCPUContextRefusesItsOwnDomainARunningDomainABadVCPUOrPSTATEAndAFault() {
        let r = Self.rig()
        #expect(Self.create(r).0 == 0)
        typealias V = XenDomctl.VCPUContext
        func set(_ dom: UInt16, vcpu: UInt32 = 0, _ ctx: [UInt8]? = Self.context(), at: UInt64 = XenRig.scratch2) -> Int64 {
            if let ctx { r.mem.poke(1, XenRig.scratch2, ctx) }
            return Self.domctl(r, XenDomctl.setVCPUContext, domain: dom) { b in
                XenBytes.put32(&b, V.vcpu, vcpu)
                XenBytes.put64(&b, V.context, at)
            }.0
        }
        #expect(set(1) == XenErrno.EINVAL.result, "the caller's own domain")
        #expect(set(2) == XenErrno.EBUSY.result, "domain 2 is not paused")
        #expect(set(3, vcpu: 2) == XenErrno.EINVAL.result, "domain 3 has 2 vCPUs")
        #expect(set(3, at: 0x10) == XenErrno.EFAULT.result)
        #expect(set(3, Self.context(cpsr: 0x3C9)) == XenErrno.EINVAL.result, "EL2h")
        #expect(set(3, Self.context(spsrEL1: 0x13)) == XenErrno.EINVAL.result, "AArch32 SPSR_EL1")
        #expect(set(4) == XenErrno.ESRCH.result)
        #expect(r.mem.vcpuContextCalls.isEmpty)
        r.mem.acceptVCPUContext = false
        #expect(set(3) == XenErrno.EINVAL.result, "the platform refuses")
        #expect(r.mem.vcpuContextCalls.count == 1)
        // Once the toolstack paused domain 2, it may be set.
        r.mem.acceptVCPUContext = true
        #expect(Self.domctl(r, XenDomctl.pauseDomain, domain: 2).0 == 0)
        #expect(set(2) == 0)
    }
}

// MARK: - memory_op of a domain build

@Suite struct XenForeignMemoryTests {
    static let list = XenRig.scratch2                  // extent lists / idxs
    static let gpfns = XenRig.scratch2 + 0x1000
    static let errs = XenRig.scratch2 + 0x2000

    static func rig() -> XenRig { XenDomainBuildTests.rig() }

    static func memoryOp(_ r: XenRig, _ cmd: UInt64, _ bytes: [UInt8], dom: XenDomainID = 1) -> XenHypercallResult {
        r.mem.poke(dom, XenRig.scratch, bytes)
        return r.call(XenHypercallNumber.memoryOp, cmd, XenRig.scratch, dom: dom)
    }

    static func u64s(_ values: [UInt64]) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 8 * values.count)
        for (i, v) in values.enumerated() { XenBytes.put64(&b, 8 * i, v) }
        return b
    }

    static func reservation(_ r: XenRig, _ extents: [UInt64], order: UInt32 = 0, domid: UInt16 = XenDomID.selfID,
                            dom: XenDomainID = 1) -> [UInt8] {
        typealias L = XenMemoryLayout.Reservation
        r.mem.poke(dom, list, u64s(extents))
        var b = [UInt8](repeating: 0, count: L.size)
        XenBytes.put64(&b, L.extentStart, list)
        XenBytes.put64(&b, L.nrExtents, UInt64(extents.count))
        XenBytes.put32(&b, L.extentOrder, order)
        XenBytes.put16(&b, L.domid, domid)
        return b
    }

    /// add_to_physmap_batch of gmfn_foreign: `owner`'s frames `idxs` at `gfns` of `domid`;
    /// errs prefilled with 0x55.
    static func batch(_ r: XenRig, idxs: [UInt64], gfns: [UInt64], owner: UInt16, domid: UInt16 = XenDomID.selfID,
                      space: UInt16 = UInt16(MapSpace.gmfnForeign), dom: XenDomainID = 1) -> [UInt8] {
        typealias L = XenMemoryLayout.AddToPhysmapBatch
        r.mem.poke(dom, list, u64s(idxs))
        r.mem.poke(dom, gpfns, u64s(gfns))
        r.mem.poke(dom, errs, [UInt8](repeating: 0x55, count: 4 * idxs.count + 4))
        var b = [UInt8](repeating: 0, count: L.size)
        XenBytes.put16(&b, L.domid, domid)
        XenBytes.put16(&b, L.space, space)
        XenBytes.put16(&b, L.count, UInt16(idxs.count))
        XenBytes.put16(&b, L.foreignDomid, owner)
        XenBytes.put64(&b, L.idxs, list)
        XenBytes.put64(&b, L.gpfns, gpfns)
        XenBytes.put64(&b, L.errs, errs)
        return b
    }

    static func remove(_ r: XenRig, gfn: UInt64, domid: UInt16 = XenDomID.selfID, dom: XenDomainID = 1) -> Int64 {
        var b = [UInt8](repeating: 0, count: XenMemoryLayout.RemoveFromPhysmap.size)
        XenBytes.put16(&b, XenMemoryLayout.RemoveFromPhysmap.domid, domid)
        XenBytes.put64(&b, XenMemoryLayout.RemoveFromPhysmap.gpfn, gfn)
        return memoryOp(r, UInt64(MemoryOp.removeFromPhysmap), b, dom: dom).result
    }

    static func acquire(domid: UInt16, type: UInt16 = XenMemoryLayout.AcquireResource.grantTable, id: UInt32 = 0,
                        frames: UInt32, frame: UInt64 = 0, frameList: UInt64, pad: UInt32 = 0) -> [UInt8] {
        typealias L = XenMemoryLayout.AcquireResource
        var b = [UInt8](repeating: 0, count: L.size)
        XenBytes.put16(&b, L.domid, domid)
        XenBytes.put16(&b, L.type, type)
        XenBytes.put32(&b, L.id, id)
        XenBytes.put32(&b, L.nrFrames, frames)
        XenBytes.put32(&b, L.pad, pad)
        XenBytes.put64(&b, L.frame, frame)
        XenBytes.put64(&b, L.frameList, frameList)
        return b
    }

    static func acquireResult(_ r: XenRig, _ b: [UInt8], dom: XenDomainID = 1) -> Int64 {
        memoryOp(r, UInt64(MemoryOp.acquireResource), b, dom: dom).result
    }

    static let einval: [UInt8] = [0xEA, 0xFF, 0xFF, 0xFF]        // -22 as an i32

    // MARK: populate_physmap / decrease_reservation

    @Test func populatePhysmapPopulatesEachAlignedExtentOfAnotherDomainAndReturnsTheCountDone() {
        let r = Self.rig()
        let cmd = UInt64(MemoryOp.populatePhysmap)
        let b = Self.reservation(r, [0x4_0000, 0x4_0200, 0x4_0401, 0x4_0600], order: 9, domid: 2)
        #expect(Self.memoryOp(r, cmd, b) == XenHypercallResult(2), "stops at the misaligned third extent")
        #expect(r.mem.populateCalls.map(\.gfn) == [0x4_0000, 0x4_0200])
        #expect(r.mem.populateCalls.allSatisfy { $0.domain == 2 && $0.order == 9 })
        // The platform refusing the second extent: a short count.
        r.mem.populateCalls = []
        r.mem.acceptPopulate = { _, gfn, _ in gfn != 0x4_0200 }
        #expect(Self.memoryOp(r, cmd, b) == XenHypercallResult(1))
        // Not above 2^36 frames.
        #expect(Self.memoryOp(r, cmd, Self.reservation(r, [1 << 36], domid: 2)) == XenHypercallResult(0))
        #expect(r.mem.populateCalls.count == 2)
    }

    @Test func reservationOnAnotherDomainOrAboveMaxOrderDoesNothingWithoutPrivilege() {
        let r = Self.rig()
        let cmd = UInt64(MemoryOp.populatePhysmap)
        #expect(Self.memoryOp(r, cmd, Self.reservation(r, [0x4_0000], domid: 1, dom: 2), dom: 2) == XenHypercallResult(0))
        #expect(Self.memoryOp(r, cmd, Self.reservation(r, [0x4_0000], order: 10, dom: 2), dom: 2) == XenHypercallResult(0),
                "a domU's max order is 9")
        #expect(Self.memoryOp(r, cmd, Self.reservation(r, [0x4_0000], domid: 9)) == XenHypercallResult(0), "no domain 9")
        #expect(Self.memoryOp(r, cmd, Self.reservation(r, [0], order: 19, domid: 2)) == XenHypercallResult(0),
                "the control domain's max order is 18")
        #expect(r.mem.populateCalls.isEmpty)
        #expect(Self.memoryOp(r, cmd, Self.reservation(r, [0x4_0200], order: 9, dom: 2), dom: 2) == XenHypercallResult(1))
        #expect(Self.memoryOp(r, cmd, Self.reservation(r, [0x4_0000], order: 18, domid: 2)) == XenHypercallResult(1))
        #expect(r.mem.populateCalls.map(\.domain) == [2, 2])
    }

    @Test func reservationContinuesAfter256ExtentsWithTheDoneCountAboveTheCommand() {
        for op in [MemoryOp.populatePhysmap, MemoryOp.decreaseReservation] {
            let r = Self.rig()
            let cmd = UInt64(op)
            let b = Self.reservation(r, (0..<300).map { 0x4_0000 + $0 }, domid: 2)
            let first = Self.memoryOp(r, cmd, b)
            #expect(first.reissue == XenArguments(256 << 6 | cmd, XenRig.scratch), "op \(op)")
            #expect(first.action == .none)
            let done = op == MemoryOp.populatePhysmap ? r.mem.populateCalls.count : r.mem.depopulateCalls.count
            #expect(done == 256)
            let second = r.call(XenHypercallNumber.memoryOp, first.reissue!.x0, first.reissue!.x1)
            #expect(second == XenHypercallResult(300), "the whole count at the end")
            let all = op == MemoryOp.populatePhysmap ? r.mem.populateCalls.map(\.gfn) : r.mem.depopulateCalls.map(\.gfn)
            #expect(all == (0..<300).map { 0x4_0000 + $0 }, "each extent once, in order")
        }
    }

    @Test func reservationStopsWhereThePreemptCheckSaysButNeverBeforeItsFirstExtent() {
        let r = Self.rig()
        r.mem.preemptWhen = { $0 == 3 || $0 == 4 }
        let cmd = UInt64(MemoryOp.populatePhysmap)
        let b = Self.reservation(r, (0..<8).map { 0x4_0000 + $0 }, domid: 2)
        let first = Self.memoryOp(r, cmd, b)
        #expect(first.reissue == XenArguments(3 << 6 | cmd, XenRig.scratch))
        #expect(r.mem.preemptChecks == 3 && r.mem.populateCalls.count == 3, "asked before extents 1, 2 and 3")
        let second = r.call(XenHypercallNumber.memoryOp, first.reissue!.x0, first.reissue!.x1)
        #expect(second.reissue == XenArguments(4 << 6 | cmd, XenRig.scratch), "extent 3 done before the next question")
        #expect(r.call(XenHypercallNumber.memoryOp, second.reissue!.x0, second.reissue!.x1) == XenHypercallResult(8))
        #expect(r.mem.populateCalls.map(\.gfn) == (0..<8).map { 0x4_0000 + $0 })
    }

    @Test func decreaseReservationUndoesAForeignMappingAndDepopulatesEveryOtherFrame() {
        let r = Self.rig()
        #expect(Self.memoryOp(r, UInt64(MemoryOp.addToPhysmapBatch), Self.batch(r, idxs: [0x4_0005], gfns: [0x5_0000], owner: 2))
                == XenHypercallResult(0))
        #expect(r.host.foreignMappings(of: 2) == 1)
        let cmd = UInt64(MemoryOp.decreaseReservation)
        #expect(Self.memoryOp(r, cmd, Self.reservation(r, [0x5_0000, 0x4_0010])) == XenHypercallResult(2))
        #expect(r.mem.unmapForeignCalls == [FakeXen.ForeignUnmapCall(mapper: 1, gfn: 0x5_0000, owner: 2, page: .ram(gfn: 0x4_0005))])
        #expect(r.mem.depopulateCalls.count == 1 && r.mem.depopulateCalls[0] == (1, 0x4_0010))
        #expect(r.host.foreignMappings(of: 2) == 0)
        // An extent of order 1: both frames; a frame the platform does not have stops it.
        #expect(Self.memoryOp(r, cmd, Self.reservation(r, [0x4_0020], order: 1)) == XenHypercallResult(1))
        #expect(r.mem.depopulateCalls.map(\.gfn) == [0x4_0010, 0x4_0020, 0x4_0021])
        r.mem.acceptDepopulate = { _, gfn in gfn != 0x4_0040 && gfn != 0x4_0031 }
        #expect(Self.memoryOp(r, cmd, Self.reservation(r, [0x4_0030, 0x4_0040])) == XenHypercallResult(1))
        #expect(Self.memoryOp(r, cmd, Self.reservation(r, [0x4_0030], order: 1)) == XenHypercallResult(0))
    }

    // MARK: add_to_physmap_batch

    @Test func addToPhysmapBatchWritesEachIndexsResultAsAnI32AndSucceeds() {
        let r = Self.rig()
        r.mem.acceptMapForeign = { $0.gfn != 0x5_0002 }
        let b = Self.batch(r, idxs: [0x4_0000, 0x4_0001, 0x4_0002], gfns: [0x5_0000, 1 << 36, 0x5_0002], owner: 2)
        #expect(Self.memoryOp(r, UInt64(MemoryOp.addToPhysmapBatch), b) == XenHypercallResult(0))
        #expect(r.out(16, at: Self.errs) == [0, 0, 0, 0] + Self.einval + Self.einval + [0x55, 0x55, 0x55, 0x55])
        #expect(r.mem.mapForeignCalls == [
            FakeXen.ForeignMapCall(mapper: 1, gfn: 0x5_0000, owner: 2, page: .ram(gfn: 0x4_0000), readOnly: false),
            FakeXen.ForeignMapCall(mapper: 1, gfn: 0x5_0002, owner: 2, page: .ram(gfn: 0x4_0002), readOnly: false),
        ], "frame 2^36 is refused before the platform is asked")
        #expect(r.host.foreignMappings(of: 2) == 1)
        // Mapping another page at the same frame replaces the first mapping.
        let again = Self.batch(r, idxs: [0x4_0009], gfns: [0x5_0000], owner: 2)
        #expect(Self.memoryOp(r, UInt64(MemoryOp.addToPhysmapBatch), again) == XenHypercallResult(0))
        #expect(r.mem.unmapForeignCalls == [FakeXen.ForeignUnmapCall(mapper: 1, gfn: 0x5_0000, owner: 2, page: .ram(gfn: 0x4_0000))])
        #expect(r.host.foreignMappings(of: 2) == 1)
    }

    @Test func addToPhysmapBatchRefusalsAreTheWholeCallsAndTouchNoErr() {
        let r = Self.rig()
        let cmd = UInt64(MemoryOp.addToPhysmapBatch)
        func call(_ b: [UInt8], dom: XenDomainID = 1) -> Int64 { Self.memoryOp(r, cmd, b, dom: dom).result }
        #expect(call(Self.batch(r, idxs: [0x4_0000], gfns: [0x4_0050], owner: 1, dom: 2), dom: 2) == XenErrno.EPERM.result,
                "only the control domain maps foreign pages")
        #expect(call(Self.batch(r, idxs: [0x4_0000], gfns: [0x5_0000], owner: 1)) == XenErrno.EINVAL.result, "its own pages")
        #expect(call(Self.batch(r, idxs: [0x4_0000], gfns: [0x5_0000], owner: XenDomID.selfID)) == XenErrno.EINVAL.result,
                "DOMID_SELF is the mapper too")
        #expect(call(Self.batch(r, idxs: [0x4_0000], gfns: [0x5_0000], owner: 9)) == XenErrno.ESRCH.result)
        #expect(call(Self.batch(r, idxs: [0x4_0000], gfns: [0x5_0000], owner: 2, domid: 9)) == XenErrno.ESRCH.result)
        #expect(call(Self.batch(r, idxs: [0x4_0000], gfns: [0x5_0000], owner: 2, space: UInt16(MapSpace.gmfnRange)))
                == XenErrno.EOPNOTSUPP.result)
        #expect(call(Self.batch(r, idxs: [0x4_0000], gfns: [0x5_0000], owner: 2, space: UInt16(MapSpace.gmfn)))
                == XenErrno.ENOSYS.result)
        #expect(r.out(4, at: Self.errs) == [0x55, 0x55, 0x55, 0x55])
        #expect(r.mem.mapForeignCalls.isEmpty && r.host.foreignMappings(of: 2) == 0)
        #expect(r.call(XenHypercallNumber.memoryOp, cmd, 0x10).result == XenErrno.EFAULT.result)
    }

    @Test func addToPhysmapBatchContinuesAfter256IndexesAndFillsTheRestOfErrsOnReissue() {
        let r = Self.rig()
        let cmd = UInt64(MemoryOp.addToPhysmapBatch)
        let b = Self.batch(r, idxs: (0..<300).map { 0x4_0000 + $0 }, gfns: (0..<300).map { 0x5_0000 + $0 }, owner: 2)
        let first = Self.memoryOp(r, cmd, b)
        #expect(first.reissue == XenArguments(256 << 6 | cmd, XenRig.scratch))
        #expect(r.out(4 * 256, at: Self.errs).allSatisfy { $0 == 0 })
        #expect(r.out(4 * 44 + 4, at: Self.errs + 4 * 256).allSatisfy { $0 == 0x55 }, "the rest not yet")
        #expect(r.call(XenHypercallNumber.memoryOp, first.reissue!.x0, first.reissue!.x1) == XenHypercallResult(0))
        #expect(r.out(4 * 300, at: Self.errs).allSatisfy { $0 == 0 })
        #expect(r.out(4, at: Self.errs + 4 * 300) == [0x55, 0x55, 0x55, 0x55], "nothing past the last index")
        #expect(r.mem.mapForeignCalls.map(\.gfn) == (0..<300).map { 0x5_0000 + $0 })
        #expect(r.host.foreignMappings(of: 2) == 300)
    }

    // MARK: remove_from_physmap

    @Test func removeFromPhysmapUndoesAForeignMappingElseDepopulatesElseENOENT() {
        let r = Self.rig()
        #expect(Self.memoryOp(r, UInt64(MemoryOp.addToPhysmapBatch), Self.batch(r, idxs: [0x4_0007], gfns: [0x5_0000], owner: 2))
                == XenHypercallResult(0))
        #expect(Self.remove(r, gfn: 0x5_0000) == 0)
        #expect(r.mem.unmapForeignCalls == [FakeXen.ForeignUnmapCall(mapper: 1, gfn: 0x5_0000, owner: 2, page: .ram(gfn: 0x4_0007))])
        #expect(r.mem.depopulateCalls.isEmpty && r.host.foreignMappings(of: 2) == 0)
        r.mem.acceptDepopulate = { _, _ in false }
        #expect(Self.remove(r, gfn: 0x5_0000) == XenErrno.ENOENT.result, "nothing there any more")
        #expect(r.mem.depopulateCalls.count == 1 && r.mem.depopulateCalls[0] == (1, 0x5_0000))
        r.mem.acceptDepopulate = { _, _ in true }
        #expect(Self.remove(r, gfn: 0x4_0010, domid: 2) == 0, "the control domain on another domain's RAM")
        #expect(r.mem.depopulateCalls.count == 2 && r.mem.depopulateCalls[1] == (2, 0x4_0010))
        #expect(r.mem.unmapForeignCalls.count == 1)
        #expect(Self.remove(r, gfn: 1 << 36) == XenErrno.EINVAL.result)
        #expect(Self.remove(r, gfn: 0x4_0010, domid: 1, dom: 2) == XenErrno.EPERM.result)
        #expect(Self.remove(r, gfn: 0x4_0010, domid: 9) == XenErrno.ESRCH.result)
        #expect(r.mem.depopulateCalls.count == 2)
    }

    /// Xen's p2m forgets a xenheap page's frame when its mapping goes (p2m_put_l3_page), as
    /// forgetXenPage does when a mapping replaces it: removing a grant frame's mapping must
    /// leave the table with no frame there, so that acquire_resource maps it home again.
    @Test func removeFromPhysmapOfAGrantFrameForgetsWhereTheFrameWas() {
        let r = Self.rig()
        var xatp = [UInt8](repeating: 0, count: 24)
        XenBytes.put16(&xatp, 0, XenDomID.selfID)
        XenBytes.put32(&xatp, 4, MapSpace.grantTable)
        XenBytes.put64(&xatp, 16, 0x4_0050)
        #expect(r.callWith(XenHypercallNumber.memoryOp, UInt64(MemoryOp.addToPhysmap), xatp, dom: 2) == 0)
        #expect(r.host.grants.table(2)?.frameGFN[0] == 0x4_0050)
        #expect(Self.remove(r, gfn: 0x4_0050, dom: 2) == 0)
        #expect(r.host.grants.table(2)?.frameGFN[0] == nil)
        // Xen then lets the guest map the frame again elsewhere (gnttab_map_frame: no -EBUSY).
        XenBytes.put64(&xatp, 16, 0x4_0051)
        #expect(r.callWith(XenHypercallNumber.memoryOp, UInt64(MemoryOp.addToPhysmap), xatp, dom: 2) == 0)
    }

    // MARK: acquire_resource

    @Test func acquireResourceWithoutAFrameListWritesOnlyNrFramesTheMaxGrantFrames() {
        let r = Self.rig()
        #expect(XenDomainBuildTests.create(r).0 == 0)                   // domain 3, 32 frames
        typealias L = XenMemoryLayout.AcquireResource
        for (dom, max) in [(UInt16(3), UInt32(32)), (2, GrantTable.defaultMaxFrames)] {
            let sent = Self.acquire(domid: dom, frames: 0, frame: 0x1234, frameList: 0)
            #expect(Self.acquireResult(r, sent) == 0)
            var expected = sent
            XenBytes.put32(&expected, L.nrFrames, max)
            #expect(r.out(L.size, at: XenRig.scratch) == expected, "domain \(dom)")
        }
        #expect(Self.acquireResult(r, Self.acquire(domid: 3, frames: 1, frameList: 0)) == XenErrno.EINVAL.result,
                "a size query asks for no frame")
    }

    @Test func acquireResourceMapsGrantFramesAtTheCallersFramesAfterPuttingThemHome() {
        let r = Self.rig()
        #expect(XenDomainBuildTests.create(r).0 == 0)
        r.mem.poke(1, Self.list, Self.u64s([0x5_0000, 0x5_0001]))
        r.mem.xenPageMaps = []
        #expect(Self.acquireResult(r, Self.acquire(domid: 3, frames: 2, frameList: Self.list)) == 0)
        let home = GuestLayout.grantTableBase >> 12
        #expect(r.mem.xenPageMaps.count == 2)
        #expect(r.mem.xenPageMaps.map(\.0) == [3, 3] && r.mem.xenPageMaps.map(\.2) == [home, home + 1])
        #expect(r.mem.xenPageMaps.map(\.1) == [.grantFrame(0), .grantFrame(1)])
        #expect(r.host.grants.table(3)?.frameGFN[0] == 0x3_8000 && r.host.grants.table(3)?.frameGFN[1] == 0x3_8001)
        #expect(r.mem.mapForeignCalls == [
            FakeXen.ForeignMapCall(mapper: 1, gfn: 0x5_0000, owner: 3, page: .xen(.grantFrame(0)), readOnly: false),
            FakeXen.ForeignMapCall(mapper: 1, gfn: 0x5_0001, owner: 3, page: .xen(.grantFrame(1)), readOnly: false),
        ])
        #expect(r.host.foreignMappings(of: 3) == 2)
        // Frame 1 again, elsewhere: already home, only mapped for the caller.
        r.mem.poke(1, Self.list, Self.u64s([0x5_0010]))
        #expect(Self.acquireResult(r, Self.acquire(domid: 3, frames: 1, frame: 1, frameList: Self.list)) == 0)
        #expect(r.mem.xenPageMaps.count == 2 && r.mem.mapForeignCalls.count == 3)
        #expect(r.mem.mapForeignCalls[2].gfn == 0x5_0010 && r.mem.mapForeignCalls[2].page == .xen(.grantFrame(1)))
        // A domain that mapped its frame itself keeps it where it is.
        var xatp = [UInt8](repeating: 0, count: 24)
        XenBytes.put16(&xatp, 0, XenDomID.selfID)
        XenBytes.put32(&xatp, 4, MapSpace.grantTable)
        XenBytes.put64(&xatp, 16, 0x4_0050)
        #expect(r.callWith(XenHypercallNumber.memoryOp, UInt64(MemoryOp.addToPhysmap), xatp, dom: 2) == 0)
        let maps = r.mem.xenPageMaps.count
        r.mem.poke(1, Self.list, Self.u64s([0x5_0020]))
        #expect(Self.acquireResult(r, Self.acquire(domid: 2, frames: 1, frameList: Self.list)) == 0)
        #expect(r.mem.xenPageMaps.count == maps && r.host.grants.table(2)?.frameGFN[0] == 0x4_0050)
        #expect(r.mem.mapForeignCalls.last == FakeXen.ForeignMapCall(mapper: 1, gfn: 0x5_0020, owner: 2,
                                                                      page: .xen(.grantFrame(0)), readOnly: false))
    }

    @Test func acquireResourceRefusals() {
        let r = Self.rig()
        #expect(XenDomainBuildTests.create(r).0 == 0)                   // domain 3, 32 frames
        r.mem.poke(1, Self.list, Self.u64s((0..<33).map { 0x5_0000 + $0 }))
        func acquire(_ b: [UInt8], dom: XenDomainID = 1) -> Int64 { Self.acquireResult(r, b, dom: dom) }
        let l = Self.list
        #expect(acquire(Self.acquire(domid: 3, frames: 1, frameList: l, pad: 1)) == XenErrno.EINVAL.result, "pad")
        #expect(acquire(Self.acquire(domid: 3, type: 0, frames: 1, frameList: l)) == XenErrno.EOPNOTSUPP.result, "ioreq server")
        #expect(acquire(Self.acquire(domid: 3, type: 2, frames: 1, frameList: l)) == XenErrno.EOPNOTSUPP.result, "vmtrace")
        #expect(acquire(Self.acquire(domid: 3, id: 1, frames: 1, frameList: l)) == XenErrno.EINVAL.result, "status frames")
        #expect(acquire(Self.acquire(domid: 2, frames: 33, frameList: l)) == XenErrno.E2BIG.result, "33 frames of 64")
        #expect(acquire(Self.acquire(domid: 3, frames: 2, frame: 31, frameList: l)) == XenErrno.EINVAL.result, "past 32")
        #expect(acquire(Self.acquire(domid: 3, frames: 1, frame: 1 << 32, frameList: l)) == XenErrno.EINVAL.result)
        #expect(acquire(Self.acquire(domid: XenDomID.selfID, frames: 1, frameList: l)) == XenErrno.EINVAL.result, "its own")
        #expect(acquire(Self.acquire(domid: 9, frames: 1, frameList: l)) == XenErrno.ESRCH.result)
        r.mem.poke(2, Self.list, Self.u64s([0x4_0060]))
        #expect(acquire(Self.acquire(domid: 1, frames: 1, frameList: l), dom: 2) == XenErrno.EPERM.result)
        #expect(r.mem.mapForeignCalls.isEmpty)
        #expect(acquire(Self.acquire(domid: 3, frames: 1, frameList: 0x10)) == XenErrno.EFAULT.result)
        #expect(r.call(XenHypercallNumber.memoryOp, UInt64(MemoryOp.acquireResource), 0x10).result == XenErrno.EFAULT.result)
        r.mem.refuseXenPageAt = [0x3_8000]
        #expect(acquire(Self.acquire(domid: 3, frames: 1, frameList: l)) == XenErrno.ENOMEM.result, "no home for frame 0")
        #expect(r.mem.mapForeignCalls.isEmpty && r.host.grants.table(3)?.frameGFN[0] == nil)
    }

    // MARK: XenForeignTable

    @Test func foreignTableFindsReplacesAndRemovesByMapperAndFrame() {
        var t = XenForeignTable()
        func m(_ owner: XenDomainID, _ gfn: UInt64) -> XenForeignMapping { XenForeignMapping(owner: owner, page: .ram(gfn: gfn)) }
        func gfnOf(_ x: XenForeignMapping) -> UInt64 { if case .ram(let g) = x.page { return g }; return .max }
        let keys: [(XenDomainID, UInt64)] = [(2, 5), (1, 0xF_FFFF_FFFF), (1, 3), (2, 0), (1, 4)]
        for (i, k) in keys.enumerated() { t[XenForeignKey(mapper: k.0, gfn: k.1)] = m(9, UInt64(i)) }
        #expect(t.count == 5)
        #expect(Set(t.mappings.map { gfnOf($0) }) == [0, 1, 2, 3, 4], "every mapping, in any order")
        #expect(t[XenForeignKey(mapper: 1, gfn: 4)] == m(9, 4))
        #expect(t[XenForeignKey(mapper: 3, gfn: 4)] == nil && t[XenForeignKey(mapper: 1, gfn: 5)] == nil)
        t[XenForeignKey(mapper: 1, gfn: 4)] = m(7, 70)
        #expect(t.count == 5 && t[XenForeignKey(mapper: 1, gfn: 4)] == m(7, 70))
        #expect(t.removeValue(forKey: XenForeignKey(mapper: 2, gfn: 0)) == m(9, 3))
        #expect(t.removeValue(forKey: XenForeignKey(mapper: 2, gfn: 0)) == nil)
        t[XenForeignKey(mapper: 6, gfn: 6)] = nil
        #expect(t.count == 4 && t[XenForeignKey(mapper: 2, gfn: 5)] == m(9, 0))
    }

    /// A kernel's worth of page mappings made and undone in a mixed order (tombstones,
    /// growth): every lookup stays right and the table ends empty.
    @Test func foreignTableKeepsTenThousandMappingsThroughGrowthAndTombstones() {
        var t = XenForeignTable()
        let gfns = (0..<10_000).map { UInt64(0x6_0000 + ($0 * 7919) % 10_000) }
        for g in gfns { t[XenForeignKey(mapper: 0, gfn: g)] = XenForeignMapping(owner: 3, page: .ram(gfn: g + 1)) }
        #expect(t.count == 10_000)
        for g in gfns.prefix(5_000) { #expect(t.removeValue(forKey: XenForeignKey(mapper: 0, gfn: g)) != nil) }
        for g in gfns.prefix(5_000) { #expect(t[XenForeignKey(mapper: 0, gfn: g)] == nil) }
        for g in gfns.dropFirst(5_000) { #expect(t[XenForeignKey(mapper: 0, gfn: g)] == XenForeignMapping(owner: 3, page: .ram(gfn: g + 1))) }
        for g in gfns.prefix(5_000) { t[XenForeignKey(mapper: 1, gfn: g)] = XenForeignMapping(owner: 4, page: .ram(gfn: g)) }
        #expect(t.count == 10_000 && t[XenForeignKey(mapper: 1, gfn: gfns[0])]?.owner == 4)
        for g in gfns.dropFirst(5_000) { t[XenForeignKey(mapper: 0, gfn: g)] = nil }
        for g in gfns.prefix(5_000) { t[XenForeignKey(mapper: 1, gfn: g)] = nil }
        #expect(t.count == 0 && t.mappings.isEmpty)
    }
}

// MARK: - the sysctls of libxl's NUMA placement, and the toolstack's view of shutdowns

@Suite struct XenToolstackSysctlTests {
    static func numaInfo(_ r: XenRig, count: UInt32, mem: UInt64 = 0, distance: UInt64 = 0) -> (Int64, [UInt8]) {
        typealias N = XenSysctl.NUMAInfo
        return XenControlTests.sysctl(r, XenControlTests.envelope(XenSysctl.size, cmd: XenSysctl.numaInfo) { b in
            XenBytes.put32(&b, N.count, count)
            XenBytes.put64(&b, N.memInfo, mem)
            XenBytes.put64(&b, N.distance, distance)
        })
    }

    static func cpuTopo(_ r: XenRig, count: UInt32, buffer: UInt64 = 0) -> (Int64, [UInt8]) {
        typealias T = XenSysctl.CPUTopoInfo
        return XenControlTests.sysctl(r, XenControlTests.envelope(XenSysctl.size, cmd: XenSysctl.cpuTopoInfo) { b in
            XenBytes.put32(&b, T.count, count)
            XenBytes.put64(&b, T.buffer, buffer)
        })
    }

    @Test func numaInfoGivesOneNodeWithAllTheRAMAndCountOnlyForNullHandles() {
        let r = XenControlTests.rig()
        let (rc, o) = Self.numaInfo(r, count: 0)
        #expect(rc == 0 && XenBytes.u32(o, XenSysctl.NUMAInfo.count) == 1)
        let mem = XenRig.scratch2, dist = XenRig.scratch2 + 0x100
        r.mem.poke(1, mem, [UInt8](repeating: 0xEE, count: 20))
        r.mem.poke(1, dist, [UInt8](repeating: 0xEE, count: 8))
        let (rc2, o2) = Self.numaInfo(r, count: 4, mem: mem, distance: dist)
        #expect(rc2 == 0 && XenBytes.u32(o2, XenSysctl.NUMAInfo.count) == 1, "one node written")
        #expect(r.out(20, at: mem) == [0, 0, 0, 0x80, 0, 0, 0, 0] + [0, 0, 0, 0x20, 0, 0, 0, 0] + [0xEE, 0xEE, 0xEE, 0xEE],
                "memsize 0x8_0000 pages, memfree 0x2_0000 pages, in bytes")
        #expect(r.out(8, at: dist) == [10, 0, 0, 0, 0xEE, 0xEE, 0xEE, 0xEE])
    }

    @Test func numaInfoWithNoSlotIsENOBUFSWithTheNodeCountWrittenBack() {
        let r = XenControlTests.rig()
        let mem = XenRig.scratch2
        r.mem.poke(1, mem, [UInt8](repeating: 0xEE, count: 16))
        let (rc, o) = Self.numaInfo(r, count: 0, mem: mem)
        #expect(rc == XenErrno.ENOBUFS.result)
        #expect(Array(o[8..<12]) == [1, 0, 0, 0])
        #expect(r.out(16, at: mem).allSatisfy { $0 == 0xEE }, "nothing written")
        #expect(Self.numaInfo(r, count: 0, distance: mem).0 == XenErrno.ENOBUFS.result)
    }

    @Test func cpuTopoInfoPutsEveryCPUInCore0Socket0Node0AndIsENOBUFSWithTooFewSlots() {
        let r = XenControlTests.rig()                                     // 2 CPUs
        let (rc, o) = Self.cpuTopo(r, count: 0)
        #expect(rc == 0 && Array(o[8..<12]) == [2, 0, 0, 0])
        let buf = XenRig.scratch2
        r.mem.poke(1, buf, [UInt8](repeating: 0xEE, count: 28))
        let (rc2, o2) = Self.cpuTopo(r, count: 1, buffer: buf)
        #expect(rc2 == XenErrno.ENOBUFS.result && Array(o2[8..<12]) == [2, 0, 0, 0])
        #expect(r.out(28, at: buf).allSatisfy { $0 == 0xEE }, "nothing written")
        let (rc3, o3) = Self.cpuTopo(r, count: 8, buffer: buf)
        #expect(rc3 == 0 && Array(o3[8..<12]) == [2, 0, 0, 0])
        #expect(r.out(28, at: buf) == [UInt8](repeating: 0, count: 24) + [0xEE, 0xEE, 0xEE, 0xEE], "two 12-byte records")
        #expect(Self.cpuTopo(r, count: 2, buffer: 0x10).0 == XenErrno.EFAULT.result)
    }

    @Test func domainExceptionGoesToTheControlDomainsVIRQDomExcNotToTheServiceEndpoint() {
        let r = XenControlTests.rig()
        var svc = XenDomainConfig(vcpus: 1)
        svc.serviceEndpoint = true
        svc.privileged = true
        #expect(r.host.createDomain(0, svc))
        let port = r.bindVIRQ(XenVIRQ.domExc, vcpu: 0)
        #expect(port > 0)
        r.mem.delivered = []
        r.host.raiseDomainException(platform: r.mem)
        #expect(r.mem.delivered == [EventDelivery(domain: 1, vcpu: 0, upcall: true)])
        #expect(r.pendingWord(1, 0) & 1 << UInt64(port) != 0)
        // No control domain: nobody hears it.
        let plain = XenRig()
        #expect(plain.bindVIRQ(XenVIRQ.domExc, vcpu: 0) > 0)
        plain.mem.delivered = []
        plain.host.raiseDomainException(platform: plain.mem)
        #expect(plain.mem.delivered.isEmpty)
    }

    @Test func recordShutdownKeepsTheFirstCodeAsGetDomainInfoReportsIt() {
        let r = XenControlTests.rig()
        r.host.recordShutdown(2, code: 3)
        r.host.recordShutdown(2, code: 0)
        #expect(r.host.domain(2)?.shuttingDown == true && r.host.domain(2)?.shutdownCode == 3)
        let (_, info) = XenDomainBuildTests.domctl(r, XenDomctl.getDomainInfo, domain: 2)
        let flags = XenBytes.u32(info, XenDomctl.union + XenDomctl.DomainInfo.flags)
        #expect(flags & XenControl.DomainFlag.shutdown != 0 && flags >> 16 & 0xFF == 3, "crash")
        r.host.recordShutdown(9, code: 1)                                 // no such domain: nothing
        r.host.clearShutdown(2)
        r.host.recordShutdown(2, code: 1)
        #expect(r.host.domain(2)?.shutdownCode == 1, "a rebuilt domain's next shutdown")
    }
}
