import Testing
@testable import ApusCore

/// GNTTABOP_cache_flush (Xen 4.17's cache_flush): a dom0 backend cleans or invalidates the
/// caches over a page of its own or one a guest granted it, by machine address (the
/// dev_bus_addr its map returned), as Linux's swiotlb-xen does around DMA to foreign pages.
extension XenGrantTableTests {
    static let clean: UInt32 = 1 << 0, inval: UInt32 = 1 << 1, sourceGref: UInt32 = 1 << 31

    func flush(_ maddr: UInt64, offset: UInt16 = 0, length: UInt16 = 64, op: UInt32, caller: XenDomainID = 2,
               opaque: UInt32 = 0) -> Int64 {
        var b = [UInt8](repeating: 0, count: 16)
        XenBytes.put64(&b, 0, maddr)
        XenBytes.put16(&b, 8, offset)
        XenBytes.put16(&b, 10, length)
        XenBytes.put32(&b, 12, op)
        return rig.callWith(gnt, UInt64(GrantTableOp.cacheFlush | opaque << 12), b, dom: caller, x2: 1)
    }

    @Test func cacheFlushOfAGrantedAndMappedPage() {
        grant(8)
        let (st, _, bus) = map(8)
        #expect(st == GrantStatus.okay)
        #expect(flush(bus, offset: 128, length: 256, op: Self.clean) == 0)
        #expect(flush(bus, op: Self.inval) == 0)
        #expect(flush(bus, op: Self.clean | Self.inval) == 0)
        #expect(rig.mem.cacheOps.count == 3)
        #expect(rig.mem.cacheOps[0].0 == bus + 128 && rig.mem.cacheOps[0].1 == 256)
        #expect(rig.mem.cacheOps[0].2 && !rig.mem.cacheOps[0].3)
        #expect(!rig.mem.cacheOps[1].2 && rig.mem.cacheOps[1].3)
        #expect(rig.mem.cacheOps[2].2 && rig.mem.cacheOps[2].3)
    }

    @Test func cacheFlushOfAPageNotGrantedToTheCallerIsRefused() {
        let page = FakeXen.machineAddress(domain: 1, gfn: XenGrantTableTests.grantedGFN)
        #expect(flush(page, op: Self.clean) == XenErrno.EINVAL.result, "domain 1's RAM, no grant")
        grant(8)
        #expect(flush(page, op: Self.clean) == XenErrno.EINVAL.result, "granted but not mapped")
        let (_, handle, _) = map(8)
        #expect(unmap(handle) == GrantStatus.okay)
        #expect(flush(page, op: Self.clean) == XenErrno.EINVAL.result, "no longer mapped")
        #expect(flush(0x1234_5000, op: Self.clean) == XenErrno.EINVAL.result, "no domain's RAM")
        #expect(rig.mem.cacheOps.isEmpty)
        // Its own RAM needs no grant.
        #expect(flush(page, op: Self.clean, caller: 1) == 0)
        #expect(rig.mem.cacheOps.count == 1)
    }

    @Test func cacheFlushArgumentsAreCheckedAsXenChecksThem() {
        grant(8)
        let bus = map(8).2
        #expect(flush(bus, offset: 4096, length: 0, op: Self.clean) == XenErrno.EINVAL.result)
        #expect(flush(bus, offset: 0, length: 4097, op: Self.clean) == XenErrno.EINVAL.result)
        #expect(flush(bus, offset: 4000, length: 97, op: Self.clean) == XenErrno.EINVAL.result)
        #expect(flush(bus, op: Self.sourceGref | Self.clean) == XenErrno.EINVAL.result, "GNTTAB_CACHE_SOURCE_GREF")
        #expect(flush(bus, op: 1 << 2) == XenErrno.EINVAL.result)
        #expect(flush(bus, length: 0, op: Self.clean) == 0, "nothing to do")
        #expect(flush(bus, op: 0) == 0, "nothing to do")
        #expect(flush(bus, length: 0, op: Self.clean, opaque: 5) == XenErrno.EILSEQ.result, "an empty entry mid-scan")
        #expect(rig.mem.cacheOps.isEmpty)
        // A command with opaque bits is refused for every other grant op.
        #expect(rig.callWith(gnt, UInt64(GrantTableOp.querySize | 1 << 12), [UInt8](repeating: 0, count: 16), x2: 1)
                == XenErrno.EINVAL.result)
    }
}
