import Testing
@testable import ApusCore

/// Domain 1 grants, domain 2 maps / copies.
@Suite struct XenGrantTableTests {
    static let frameGFN: UInt64 = 0x3_8000             // grant area 0x38000000
    static let grantedGFN: UInt64 = 0x4_0040            // a RAM page of domain 1
    static let hostAddr: UInt64 = 0x6000_0000           // where domain 2 maps it
    let rig = XenRig()
    let gnt = XenHypercallNumber.grantTableOp

    init() {
        #expect(addGrantFrame(dom: 1, index: 0, gfn: XenGrantTableTests.frameGFN) == 0)
    }

    func addGrantFrame(dom: XenDomainID, index: UInt64, gfn: UInt64) -> Int64 {
        var b = [UInt8](repeating: 0, count: 24)
        XenBytes.put16(&b, 0, XenDomID.selfID)
        XenBytes.put32(&b, 4, MapSpace.grantTable)
        XenBytes.put64(&b, 8, index)
        XenBytes.put64(&b, 16, gfn)
        return rig.callWith(XenHypercallNumber.memoryOp, UInt64(MemoryOp.addToPhysmap), b, dom: dom)
    }

    func entryAddr(_ ref: UInt32) -> UInt64 { XenGrantTableTests.frameGFN << 12 + UInt64(ref) * 8 }

    /// The granter writes a v1 entry.
    func grant(_ ref: UInt32, to dom: XenDomainID = 2, frame: UInt64 = XenGrantTableTests.grantedGFN,
               flags: UInt16 = GrantFlags.permitAccess) {
        rig.mem.set16(1, entryAddr(ref), flags)
        rig.mem.set16(1, entryAddr(ref) + 2, dom)
        rig.mem.set32(1, entryAddr(ref) + 4, UInt32(frame))
    }

    func flags(_ ref: UInt32) -> UInt16 { rig.mem.u16(1, entryAddr(ref)) }

    func mapOp(_ ref: UInt32, flags: UInt32 = GrantMapFlags.hostMap, dom: XenDomainID = 1,
               host: UInt64 = XenGrantTableTests.hostAddr) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 32)
        XenBytes.put64(&b, 0, host)
        XenBytes.put32(&b, 8, flags)
        XenBytes.put32(&b, 12, ref)
        XenBytes.put16(&b, 16, dom)
        XenBytes.put32(&b, 20, 0xDEAD_BEEF)
        return b
    }

    /// Maps one grant as domain 2: (status, handle, dev_bus_addr).
    func map(_ ref: UInt32, flags: UInt32 = GrantMapFlags.hostMap, dom: XenDomainID = 1,
             host: UInt64 = XenGrantTableTests.hostAddr, caller: XenDomainID = 2) -> (Int16, UInt32, UInt64) {
        #expect(rig.callWith(gnt, UInt64(GrantTableOp.mapGrantRef), mapOp(ref, flags: flags, dom: dom, host: host),
                             dom: caller, x2: 1) == 0)
        let b = rig.out(32, dom: caller)
        return (Int16(bitPattern: XenBytes.u16(b, 18)), XenBytes.u32(b, 20), XenBytes.u64(b, 24))
    }

    func unmap(_ handle: UInt32, host: UInt64 = XenGrantTableTests.hostAddr, caller: XenDomainID = 2) -> Int16 {
        var b = [UInt8](repeating: 0, count: 24)
        XenBytes.put64(&b, 0, host)
        XenBytes.put32(&b, 16, handle)
        XenBytes.put16(&b, 20, 0x7777)
        #expect(rig.callWith(gnt, UInt64(GrantTableOp.unmapGrantRef), b, dom: caller, x2: 1) == 0)
        return Int16(bitPattern: rig.mem.u16(caller, XenRig.scratch + 20))
    }

    // MARK: size and frames

    @Test func querySizeReportsCurrentAndMaxFrames() {
        var b = [UInt8](repeating: 0xEE, count: 16)
        XenBytes.put16(&b, 0, XenDomID.selfID)
        #expect(rig.callWith(gnt, UInt64(GrantTableOp.querySize), b, x2: 1) == 0)
        let o = rig.out(16)
        #expect(XenBytes.u32(o, 4) == 1 && XenBytes.u32(o, 8) == 64 && XenBytes.u16(o, 12) == 0)
        XenBytes.put16(&b, 0, 2)
        #expect(rig.callWith(gnt, UInt64(GrantTableOp.querySize), b, x2: 1) == 0)
        #expect(Int16(bitPattern: rig.mem.u16(1, XenRig.scratch + 12)) == GrantStatus.permissionDenied)
        #expect(rig.mem.u32(1, XenRig.scratch + 4) == 0xEEEE_EEEE, "outputs untouched on error")
        XenBytes.put16(&b, 0, 9)
        #expect(rig.callWith(gnt, UInt64(GrantTableOp.querySize), b, x2: 1) == 0)
        #expect(Int16(bitPattern: rig.mem.u16(1, XenRig.scratch + 12)) == GrantStatus.badDomain)
        #expect(rig.callWith(gnt, UInt64(GrantTableOp.querySize), b, x2: 2) == XenErrno.EINVAL.result)
        #expect(rig.call(gnt, UInt64(GrantTableOp.querySize), 0x10, 1).result == XenErrno.EFAULT.result)
    }

    @Test func addToPhysmapGrantFrames() {
        #expect(rig.mem.xenPageMaps.last! == (1, .grantFrame(0), XenGrantTableTests.frameGFN))
        #expect(addGrantFrame(dom: 1, index: 0, gfn: 0x3_8009) == XenErrno.EBUSY.result, "already mapped")
        #expect(addGrantFrame(dom: 1, index: 3, gfn: 0x3_8003) == 0)
        #expect(rig.host.grants.table(1)?.frameCount == 4, "grown to cover index 3")
        #expect(addGrantFrame(dom: 1, index: 64, gfn: 0x3_8040) == XenErrno.EINVAL.result, "max 64 frames")
        #expect(addGrantFrame(dom: 1, index: 0x1_0000_0002, gfn: 0x3_8002) == 0, "index is an unsigned int")
        #expect(rig.host.grants.table(1)?.frameGFN[2] == 0x3_8002)
        rig.mem.refuseXenPageAt = [0x3_8005]
        #expect(addGrantFrame(dom: 1, index: 5, gfn: 0x3_8005) == XenErrno.EINVAL.result, "p2m refused")
        #expect(rig.host.grants.table(1)?.frameGFN[5] == nil)
    }

    @Test func setupTableListsFrameGFNs() {
        var b = [UInt8](repeating: 0, count: 24)
        XenBytes.put16(&b, 0, XenDomID.selfID)
        XenBytes.put32(&b, 4, 3)
        XenBytes.put64(&b, 16, XenRig.scratch2)
        #expect(rig.callWith(gnt, UInt64(GrantTableOp.setupTable), b, x2: 1) == 0)
        #expect(rig.mem.u16(1, XenRig.scratch + 8) == 0)
        #expect(rig.mem.u64(1, XenRig.scratch2) == XenGrantTableTests.frameGFN)
        #expect(rig.mem.u64(1, XenRig.scratch2 + 8) == ~0, "frame 1 exists but is not mapped")
        #expect(rig.mem.u64(1, XenRig.scratch2 + 16) == ~0)
        #expect(rig.host.grants.table(1)?.frameCount == 3)
        XenBytes.put32(&b, 4, 65)
        #expect(rig.callWith(gnt, UInt64(GrantTableOp.setupTable), b, x2: 1) == 0)
        #expect(Int16(bitPattern: rig.mem.u16(1, XenRig.scratch + 8)) == GrantStatus.generalError)
        XenBytes.put32(&b, 4, 2)
        XenBytes.put64(&b, 16, 0x1000)
        #expect(rig.callWith(gnt, UInt64(GrantTableOp.setupTable), b, x2: 1) == 0)
        #expect(Int16(bitPattern: rig.mem.u16(1, XenRig.scratch + 8)) == GrantStatus.badVirtAddr)
        #expect(rig.callWith(gnt, UInt64(GrantTableOp.setupTable), b, x2: 0) == XenErrno.EINVAL.result)
    }

    // MARK: map / unmap

    @Test func mapSetsReadingAndWritingAndMapsThePage() {
        grant(8)
        let (st, handle, bus) = map(8)
        #expect(st == GrantStatus.okay)
        #expect(handle == 0)
        #expect(bus == 0x8_0000_0000 | XenGrantTableTests.grantedGFN << 12)
        #expect(flags(8) == GrantFlags.permitAccess | GrantFlags.reading | GrantFlags.writing)
        #expect(rig.mem.u16(1, entryAddr(8) + 2) == 2, "domid intact")
        let key = FakeXen.GrantMapKey(mapper: 2, gfn: XenGrantTableTests.hostAddr >> 12, granter: 1)
        #expect(rig.mem.grantMaps[key]?.frame == XenGrantTableTests.grantedGFN)
        #expect(rig.mem.grantMaps[key]?.readOnly == false)
        #expect(rig.host.grants.table(1)?.activeEntry(8)?.pin == 1)

        #expect(unmap(handle) == GrantStatus.okay)
        #expect(flags(8) == GrantFlags.permitAccess)
        #expect(rig.mem.grantMaps.isEmpty)
        #expect(rig.host.grants.table(1)?.activeEntry(8) == nil)
        #expect(unmap(handle) == GrantStatus.badHandle, "handle freed")
    }

    @Test func readOnlyMappings() {
        grant(9, flags: GrantFlags.permitAccess | GrantFlags.readonly)
        #expect(map(9).0 == GrantStatus.generalError, "read-only grant mapped writable")
        #expect(flags(9) == GrantFlags.permitAccess | GrantFlags.readonly, "flags untouched")
        let (st, h, _) = map(9, flags: GrantMapFlags.hostMap | GrantMapFlags.readonly)
        #expect(st == GrantStatus.okay)
        #expect(flags(9) == GrantFlags.permitAccess | GrantFlags.readonly | GrantFlags.reading)
        #expect(rig.mem.grantMaps.first?.value.readOnly == true)
        #expect(unmap(h) == GrantStatus.okay)
        #expect(flags(9) == GrantFlags.permitAccess | GrantFlags.readonly)
    }

    @Test func permissionRules() {
        grant(10, to: 3)
        #expect(map(10).0 == GrantStatus.generalError, "granted to another domain")
        grant(11, flags: GrantFlags.invalid)
        #expect(map(11).0 == GrantStatus.generalError, "no GTF_permit_access")
        grant(12, flags: GrantFlags.acceptTransfer)
        #expect(map(12).0 == GrantStatus.generalError, "wrong type")
        grant(13, flags: GrantFlags.permitAccess | GrantFlags.subPage)
        #expect(map(13).0 == GrantStatus.generalError, "sub-page grants cannot be mapped")
        grant(14, flags: GrantFlags.permitAccess | GrantFlags.pcd)
        #expect(map(14).0 == GrantStatus.generalError, "cache attributes refused on Arm")
        #expect(flags(14) == GrantFlags.permitAccess | GrantFlags.pcd, "reading/writing undone")
        grant(15, frame: 0x9_9999)
        #expect(map(15).0 == GrantStatus.badPage, "granted frame is not RAM")
        #expect(flags(15) == GrantFlags.permitAccess)
        #expect(map(16_000).0 == GrantStatus.badGntref, "beyond the table")
        #expect(map(600).0 == GrantStatus.badGntref, "only one frame")
        #expect(map(8, dom: 9).0 == GrantStatus.badDomain)
        #expect(map(8, dom: XenDomID.selfID).0 == GrantStatus.badDomain, "map takes a real domain id")
        #expect(map(8, flags: 0).0 == GrantStatus.badGntref, "neither host nor device map")
        grant(8)
        #expect(map(8, flags: GrantMapFlags.hostMap | GrantMapFlags.deviceMap).0 == GrantStatus.generalError)
        #expect(map(8, flags: GrantMapFlags.hostMap | GrantMapFlags.containsPTE).0 == GrantStatus.generalError)
        #expect(map(8, flags: GrantMapFlags.hostMap | 1 << 16).0 == GrantStatus.generalError, "avail bits")
        rig.host.setPolicy { user, granter in !(user == 2 && granter == 1) }
        #expect(map(8).0 == GrantStatus.permissionDenied)
        rig.host.setPolicy { _, _ in true }
        rig.mem.refuseGrantMapAt = [XenGrantTableTests.hostAddr >> 12]
        #expect(map(8).0 == GrantStatus.generalError, "p2m refused")
        #expect(flags(8) == GrantFlags.permitAccess, "pin and flags undone")
        #expect(rig.host.grants.table(2)?.maptrack.compactMap { $0 }.isEmpty == true)
        rig.mem.refuseGrantMapAt = []
        #expect(map(8).0 == GrantStatus.okay)
    }

    @Test func pinnedEntryKeepsFlagsUntilTheLastUnmap() {
        grant(20)
        let a = map(20, flags: GrantMapFlags.hostMap | GrantMapFlags.readonly, host: 0x6000_0000)
        let b = map(20, host: 0x6000_1000)
        #expect(a.0 == 0 && b.0 == 0 && a.1 != b.1)
        #expect(rig.host.grants.table(1)?.activeEntry(20)?.pin == 0x101)
        #expect(flags(20) == GrantFlags.permitAccess | GrantFlags.reading | GrantFlags.writing)
        // Once pinned by domain 2 the entry may change without affecting the pin...
        rig.mem.set16(1, entryAddr(20) + 2, 3)
        #expect(map(20, flags: GrantMapFlags.hostMap | GrantMapFlags.readonly, host: 0x6000_2000).0 == 0,
                "already pinned by domain 2: domid not rechecked")
        #expect(map(20, host: 0x6000_3000, caller: 1).0 == GrantStatus.generalError, "pinned by another domain")
        #expect(unmap(b.1, host: 0x6000_1000) == 0)
        #expect(flags(20) == GrantFlags.permitAccess | GrantFlags.reading, "no writer left")
        #expect(unmap(a.1, host: 0x6000_0000) == 0)
        #expect(unmap(2, host: 0x6000_2000) == 0)
        #expect(flags(20) == GrantFlags.permitAccess)
    }

    @Test func unmapChecks() {
        grant(21)
        let (_, h, _) = map(21)
        #expect(unmap(h, host: 0) == GrantStatus.okay, "host_addr 0: nothing done")
        #expect(rig.host.grants.table(2)?.mapping(h) != nil, "handle still valid")
        #expect(unmap(h, host: 0x7000_0000) == GrantStatus.generalError, "not mapped there")
        #expect(unmap(99) == GrantStatus.badHandle)
        #expect(unmap(0xFFFF_FFFF) == GrantStatus.badHandle)
        #expect(unmap(h) == GrantStatus.okay)
    }

    @Test func mappingOverASharedPageForgetsIt() {
        grant(22)
        #expect(map(22, host: XenRig.shared2 << 12).0 == 0)
        #expect(rig.host.events.table(2)?.sharedInfoGFN == nil, "shared_info was replaced in the p2m")
        #expect(rig.mapSharedInfo(2, gfn: 0x4_0050) == 0, "so it can be mapped again")
    }

    @Test func maptrackRunsOutAndSelfGrantsWork() {
        let r = XenRig { $0.maxGrantMappings = 2 }
        var b = [UInt8](repeating: 0, count: 24)
        XenBytes.put16(&b, 0, XenDomID.selfID)
        XenBytes.put32(&b, 4, MapSpace.grantTable)
        XenBytes.put64(&b, 16, XenGrantTableTests.frameGFN)
        #expect(r.callWith(XenHypercallNumber.memoryOp, UInt64(MemoryOp.addToPhysmap), b) == 0)
        // Domain 1 grants to itself and maps three times.
        r.mem.set16(1, entryAddr(1), GrantFlags.permitAccess)
        r.mem.set16(1, entryAddr(1) + 2, 1)
        r.mem.set32(1, entryAddr(1) + 4, UInt32(XenGrantTableTests.grantedGFN))
        var statuses: [Int16] = []
        for i in 0..<3 {
            let op = mapOp(1, flags: GrantMapFlags.hostMap | GrantMapFlags.readonly, dom: 1,
                           host: 0x6000_0000 + UInt64(i) << 12)
            #expect(r.callWith(gnt, UInt64(GrantTableOp.mapGrantRef), op, dom: 1, x2: 1) == 0)
            statuses.append(Int16(bitPattern: r.mem.u16(1, XenRig.scratch + 18)))
        }
        #expect(statuses == [GrantStatus.okay, GrantStatus.okay, GrantStatus.noSpace])
        #expect(r.host.grants.table(1)?.activeEntry(1)?.pin == 0x200, "the refused map took no pin")
        var g = GrantTable(domain: 1, maxMappings: 2)
        #expect(g.allocateHandle() == 0 && g.allocateHandle() == 1 && g.allocateHandle() == nil)
        g.releaseHandle(0)
        #expect(g.allocateHandle() == 0)
    }

    // MARK: copy

    func copyOp(src: (UInt64, XenDomainID, UInt16), dst: (UInt64, XenDomainID, UInt16), len: UInt16,
                flags: UInt16) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 40)
        XenBytes.put64(&b, 0, src.0); XenBytes.put16(&b, 8, src.1); XenBytes.put16(&b, 10, src.2)
        XenBytes.put64(&b, 16, dst.0); XenBytes.put16(&b, 24, dst.1); XenBytes.put16(&b, 26, dst.2)
        XenBytes.put16(&b, 32, len); XenBytes.put16(&b, 34, flags)
        return b
    }

    func copy(_ op: [UInt8], caller: XenDomainID = 2) -> Int16 {
        #expect(rig.callWith(gnt, UInt64(GrantTableOp.copy), op, dom: caller, x2: 1) == 0)
        return Int16(bitPattern: rig.mem.u16(caller, XenRig.scratch + 36))
    }

    @Test func copyFromAGrantIntoOwnFrame() {
        grant(30, flags: GrantFlags.permitAccess | GrantFlags.readonly)
        rig.mem.poke(1, XenGrantTableTests.grantedGFN << 12 + 100, Array("hello grant".utf8))
        let mine: UInt64 = 0x4_0060
        let st = copy(copyOp(src: (30, 1, 100), dst: (mine, XenDomID.selfID, 8), len: 11, flags: GrantCopyFlags.sourceGref))
        #expect(st == GrantStatus.okay)
        #expect(rig.mem.peek(2, mine << 12 + 8, 11)! == Array("hello grant".utf8))
        #expect(flags(30) == GrantFlags.permitAccess | GrantFlags.readonly, "pins released")
        #expect(rig.host.grants.table(1)?.activeEntry(30) == nil)
    }

    @Test func copyIntoAGrant() {
        grant(31)
        rig.mem.poke(2, 0x4_0061 << 12, [1, 2, 3, 4])
        let st = copy(copyOp(src: (0x4_0061, XenDomID.selfID, 0), dst: (31, 1, 4092), len: 4, flags: GrantCopyFlags.destGref))
        #expect(st == GrantStatus.okay)
        #expect(rig.mem.peek(1, XenGrantTableTests.grantedGFN << 12 + 4092, 4)! == [1, 2, 3, 4])
        #expect(flags(31) == GrantFlags.permitAccess)
        grant(32, flags: GrantFlags.permitAccess | GrantFlags.readonly)
        #expect(copy(copyOp(src: (0x4_0061, XenDomID.selfID, 0), dst: (32, 1, 0), len: 4, flags: GrantCopyFlags.destGref))
                == GrantStatus.generalError, "read-only grant as destination")
    }

    @Test func copyChecks() {
        grant(33)
        let own = (UInt64(0x4_0062), XenDomID.selfID, UInt16(0))
        #expect(copy(copyOp(src: (0x4_0040, 1, 0), dst: own, len: 4, flags: 0)) == GrantStatus.permissionDenied,
                "frames only from DOMID_SELF")
        #expect(copy(copyOp(src: (33, 9, 0), dst: own, len: 4, flags: GrantCopyFlags.sourceGref)) == GrantStatus.badDomain)
        #expect(copy(copyOp(src: (9999, 1, 0), dst: own, len: 4, flags: GrantCopyFlags.sourceGref)) == GrantStatus.badGntref)
        #expect(copy(copyOp(src: (33, 1, 4000), dst: own, len: 200, flags: GrantCopyFlags.sourceGref))
                == GrantStatus.badCopyArg, "source crosses the page")
        #expect(copy(copyOp(src: (33, 1, 0), dst: (0x4_0062, XenDomID.selfID, 0xFFFF), len: 0xFFFF,
                            flags: GrantCopyFlags.sourceGref)) == GrantStatus.badCopyArg)
        #expect(flags(33) == GrantFlags.permitAccess, "released after the failed copy")
        #expect(copy(copyOp(src: (0x1234, XenDomID.selfID, 0), dst: own, len: 4, flags: 0)) == GrantStatus.badPage)
        #expect(copy(copyOp(src: (33, 1, 0), dst: (0x1234, XenDomID.selfID, 0), len: 4, flags: GrantCopyFlags.sourceGref))
                == GrantStatus.badPage)
        #expect(flags(33) == GrantFlags.permitAccess)
        grant(34, to: 3)
        #expect(copy(copyOp(src: (34, 1, 0), dst: own, len: 4, flags: GrantCopyFlags.sourceGref)) == GrantStatus.generalError)
        #expect(copy(copyOp(src: own, dst: own, len: 0, flags: 0)) == GrantStatus.okay, "empty copy")
    }

    // MARK: batching and argument checks

    @Test func bigBatchesRestart() {
        rig.host.grantBatch = 4
        for ref in UInt32(40)..<UInt32(50) { grant(ref) }
        var ops: [UInt8] = []
        for (i, ref) in (UInt32(40)..<UInt32(50)).enumerated() {
            ops += mapOp(ref, host: 0x6000_0000 + UInt64(i) * 0x1000)
        }
        rig.mem.poke(2, XenRig.scratch, ops)
        let r = rig.call(gnt, UInt64(GrantTableOp.mapGrantRef), XenRig.scratch, 10, dom: 2)
        #expect(r == .restart(XenArguments(0, XenRig.scratch + 4 * 32, 6)))
        #expect(rig.host.grants.table(2)?.maptrack.count == 4)
        let r2 = rig.call(gnt, 0, XenRig.scratch + 4 * 32, 6, dom: 2)
        #expect(r2 == .restart(XenArguments(0, XenRig.scratch + 8 * 32, 2)))
        let r3 = rig.call(gnt, 0, XenRig.scratch + 8 * 32, 2, dom: 2)
        #expect(r3 == XenHypercallResult(0))
        for i in 0..<10 { #expect(rig.mem.u16(2, XenRig.scratch + UInt64(i) * 32 + 18) == 0) }
        #expect(rig.mem.grantMaps.count == 10)
    }

    @Test func commandAndCountChecks() {
        #expect(rig.call(gnt, UInt64(GrantTableOp.mapGrantRef), XenRig.scratch, 0x8000_0000).result == XenErrno.EINVAL.result)
        #expect(rig.call(gnt, UInt64(GrantTableOp.mapGrantRef) | 0x1000, XenRig.scratch, 1).result == XenErrno.EINVAL.result)
        #expect(rig.call(gnt, UInt64(GrantTableOp.mapGrantRef), XenRig.scratch, 0).result == 0)
        #expect(rig.call(gnt, UInt64(GrantTableOp.mapGrantRef), 0x10, 1).result == XenErrno.EFAULT.result)
        #expect(rig.call(gnt, UInt64(GrantTableOp.transfer), XenRig.scratch, 1).result == XenErrno.ENOSYS.result)
        #expect(rig.call(gnt, 99, XenRig.scratch, 1).result == XenErrno.ENOSYS.result)
        rig.mem.set32(1, XenRig.scratch, 1)
        #expect(rig.call(gnt, UInt64(GrantTableOp.setVersion), XenRig.scratch, 1).result == 0)
        rig.mem.set32(1, XenRig.scratch, 2)
        #expect(rig.call(gnt, UInt64(GrantTableOp.setVersion), XenRig.scratch, 1).result == XenErrno.ENOSYS.result)
        #expect(rig.mem.u32(1, XenRig.scratch) == 1, "current version written back")
        rig.mem.set32(1, XenRig.scratch, 3)
        #expect(rig.call(gnt, UInt64(GrantTableOp.setVersion), XenRig.scratch, 1).result == XenErrno.EINVAL.result)
        rig.mem.set64(1, XenRig.scratch, UInt64(XenDomID.selfID))
        #expect(rig.call(gnt, UInt64(GrantTableOp.getVersion), XenRig.scratch, 1).result == 0)
        #expect(rig.mem.u32(1, XenRig.scratch + 4) == 1)
        rig.mem.set64(1, XenRig.scratch, 2)
        #expect(rig.call(gnt, UInt64(GrantTableOp.getVersion), XenRig.scratch, 1).result == XenErrno.EPERM.result)
    }

    /// Two mappings of one frame: unmapping handle A at B's address must not remove B's
    /// mapping under A's name (B's record would then be gone while its page stays mapped,
    /// and survive the granter's destruction).
    @Test func unmapNeedsTheHandlesOwnAddress() {
        grant(22)
        let a = map(22, host: 0x6000_0000), b = map(22, host: 0x6000_1000)
        #expect(a.0 == 0 && b.0 == 0)
        #expect(unmap(a.1, host: 0x6000_1000) == GrantStatus.generalError)
        #expect(rig.mem.grantMaps.count == 2, "both mappings still there")
        rig.host.destroyDomain(1, platform: rig.mem)
        #expect(rig.mem.grantMaps.isEmpty, "the granter's destruction removed every mapping of its page")
    }

    @Test func destroyingTheGranterUnmapsItsPagesEverywhere() {
        grant(50)
        let (st, h, _) = map(50)
        #expect(st == 0)
        rig.host.destroyDomain(1, platform: rig.mem)
        #expect(rig.mem.grantMaps.isEmpty)
        // The mapper's own unmap still succeeds, once (Xen keeps the handle until then).
        #expect(unmap(h) == GrantStatus.okay)
        #expect(unmap(h) == GrantStatus.badHandle)
    }

    @Test func destroyingTheMapperReleasesItsPins() {
        grant(51)
        #expect(map(51).0 == 0)
        rig.host.destroyDomain(2, platform: rig.mem)
        #expect(rig.mem.grantMaps.isEmpty)
        #expect(flags(51) == GrantFlags.permitAccess)
        #expect(rig.host.grants.table(1)?.activeEntry(51) == nil)
    }
}
