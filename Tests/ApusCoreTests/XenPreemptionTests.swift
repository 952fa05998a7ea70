import Testing
@testable import ApusCore

/// Guest-sized batches stop where the platform's hypercall_preempt_check() says so and go
/// on in the next trap, with the continuation Xen would create; wherever they stop, the
/// guest ends up with exactly what one uninterrupted run gives it.
///
/// The scenario: domain 2 issues one multicall mixing grant copies (DOMID_SELF frames and
/// grants of domain 1, one bad entry per batch), xen_version, grant maps, an event send and
/// grant unmaps; domain 1 granted refs 10-13.
@Suite struct XenPreemptionTests {
    static let frameGFN: UInt64 = 0x3_8000              // domain 1's grant frame 0
    static let list: UInt64 = 0x4006_0000               // the multicall list (domain 2)
    static let copies: UInt64 = 0x4007_0000             // gnttab_copy arrays
    static let maps: UInt64 = 0x4007_1000               // gnttab_map_grant_ref array
    static let unmaps: UInt64 = 0x4007_2000             // gnttab_unmap_grant_ref array
    static let sendArg: UInt64 = 0x4007_3000
    static let entries = 6
    /// Points where a check is asked: between the 6 entries (5) and between the entries of
    /// each grant batch (copy 4: 3, map 2: 1, copy 2: 1, unmap 3: 2).
    static let preemptionPoints = 12

    struct Run {
        var rig: XenRig
        var traps = 0
        var final = XenHypercallResult(0)
    }

    static func page(_ gfn: UInt64) -> UInt64 { gfn << 12 }

    static func copyOp(src: (UInt64, XenDomainID, UInt16), dst: (UInt64, XenDomainID, UInt16), len: UInt16,
                       flags: UInt16) -> [UInt8] {
        var b = [UInt8](repeating: 0x5A, count: 40)
        XenBytes.put64(&b, 0, src.0); XenBytes.put16(&b, 8, src.1); XenBytes.put16(&b, 10, src.2)
        XenBytes.put64(&b, 16, dst.0); XenBytes.put16(&b, 24, dst.1); XenBytes.put16(&b, 26, dst.2)
        XenBytes.put16(&b, 32, len); XenBytes.put16(&b, 34, flags)
        return b
    }

    static func mapOp(_ ref: UInt32, host: UInt64, readOnly: Bool) -> [UInt8] {
        var b = [UInt8](repeating: 0x5A, count: 32)
        XenBytes.put64(&b, 0, host)
        XenBytes.put32(&b, 8, GrantMapFlags.hostMap | (readOnly ? GrantMapFlags.readonly : 0))
        XenBytes.put32(&b, 12, ref)
        XenBytes.put16(&b, 16, 1)
        return b
    }

    static func unmapOp(host: UInt64, handle: UInt32) -> [UInt8] {
        var b = [UInt8](repeating: 0x5A, count: 24)
        XenBytes.put64(&b, 0, host)
        XenBytes.put32(&b, 16, handle)
        return b
    }

    static func entry(_ op: UInt64, _ args: [UInt64]) -> [UInt8] {
        var b = [UInt8](repeating: 0xAB, count: 64)
        XenBytes.put64(&b, 0, op)
        for i in 0..<6 { XenBytes.put64(&b, 16 + 8 * i, i < args.count ? args[i] : 0) }
        return b
    }

    /// A fresh board with the scenario written into guest memory.
    static func setUp() -> XenRig {
        let rig = XenRig()
        let m = rig.mem
        // Domain 1 grants refs 10...13 to domain 2 (frames 0x40050...), each page patterned.
        var frame = [UInt8](repeating: 0, count: 24)
        XenBytes.put16(&frame, 0, XenDomID.selfID)
        XenBytes.put32(&frame, 4, MapSpace.grantTable)
        XenBytes.put64(&frame, 16, frameGFN)
        #expect(rig.callWith(XenHypercallNumber.memoryOp, UInt64(MemoryOp.addToPhysmap), frame, dom: 1) == 0)
        for ref in UInt32(10)...13 {
            let e = page(frameGFN) + UInt64(ref) * 8
            m.set16(1, e, GrantFlags.permitAccess)
            m.set16(1, e + 2, 2)
            m.set32(1, e + 4, 0x4_0050 + ref)
            m.poke(1, page(0x4_0050 + UInt64(ref)), (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ Int(ref)) })
        }
        // Domain 2's own frames 0x40080...0x40087, each patterned.
        for f in UInt64(0x4_0080)...0x4_0087 {
            m.poke(2, page(f), (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 3 &+ Int(f & 0xFF)) })
        }
        let ipi = UInt32(rig.bindIPI(vcpu: 0, dom: 2))
        m.set32(2, sendArg, ipi)
        let me = XenDomID.selfID
        let copyA = [
            copyOp(src: (0x4_0080, me, 0), dst: (0x4_0081, me, 16), len: 100, flags: 0),
            copyOp(src: (10, 1, 0), dst: (0x4_0082, me, 0), len: 64, flags: GrantCopyFlags.sourceGref),
            copyOp(src: (0x4_0083, me, 8), dst: (11, 1, 100), len: 50, flags: GrantCopyFlags.destGref),
            copyOp(src: (0x4_0083, me, 4090), dst: (0x4_0084, me, 0), len: 100, flags: 0),    // bad copy arg
        ]
        let copyB = [
            // Reads what copyA's first entry wrote: order matters.
            copyOp(src: (0x4_0081, me, 0), dst: (0x4_0085, me, 0), len: 200, flags: 0),
            copyOp(src: (9999, 1, 0), dst: (0x4_0086, me, 0), len: 4, flags: GrantCopyFlags.sourceGref),  // bad ref
        ]
        m.poke(2, copies, (copyA + copyB).flatMap { $0 })
        m.poke(2, maps, mapOp(12, host: 0x6000_0000, readOnly: false) + mapOp(13, host: 0x6000_1000, readOnly: true))
        m.poke(2, unmaps, unmapOp(host: 0x6000_0000, handle: 0) + unmapOp(host: 0x6000_1000, handle: 1)
                          + unmapOp(host: 0x6000_2000, handle: 77))
        let gnt = XenHypercallNumber.grantTableOp
        let list = [
            entry(gnt, [UInt64(GrantTableOp.copy), copies, 4]),
            entry(XenHypercallNumber.xenVersion, [0]),
            entry(gnt, [UInt64(GrantTableOp.mapGrantRef), maps, 2]),
            entry(gnt, [UInt64(GrantTableOp.copy), copies + 4 * 40, 2]),
            entry(XenHypercallNumber.eventChannelOp, [UInt64(EventChannelOp.send), sendArg]),
            entry(gnt, [UInt64(GrantTableOp.unmapGrantRef), unmaps, 3]),
        ]
        m.poke(2, XenPreemptionTests.list, list.flatMap { $0 })
        m.delivered = []
        m.preemptChecks = 0
        return rig
    }

    /// Issues `number` as domain 2 and reissues it for as long as it asks to be restarted.
    static func drive(_ rig: XenRig, _ number: UInt64, _ args: XenArguments, maxTraps: Int = 1000) -> Run {
        var run = Run(rig: rig)
        var a = args
        while run.traps < maxTraps {
            run.traps += 1
            rig.mem.current = 2
            run.final = rig.host.hypercall(number, a, caller: XenCaller(domain: 2, vcpu: 0), platform: rig.mem)
            guard let next = run.final.reissue else { break }
            a = next
        }
        return run
    }

    /// Everything the guests can see: both domains' memory (a multicall entry's arguments
    /// excepted: Xen too rewrites them with a preempted sub-call's continuation, and the
    /// guest may rely only on `result`), the p2m's grant mappings, the events delivered and
    /// the grant pins.
    struct Visible: Equatable {
        var pages: [XenDomainID: [UInt64: [UInt8]]]
        var grantMaps: [FakeXen.GrantMapKey: UInt64]
        var delivered: [EventDelivery]
        var active: [ActiveGrant]
        var final: XenHypercallResult
    }

    static func visible(_ run: Run) -> Visible {
        let m = run.rig.mem
        var pages = m.pages
        for i in 0..<entries {
            let a = list + UInt64(64 * i) + 16
            pages[2]![a >> 12]!.replaceSubrange(Int(a & 0xFFF)..<Int(a & 0xFFF) + 48,
                                                with: [UInt8](repeating: 0, count: 48))
        }
        return Visible(pages: pages, grantMaps: m.grantMaps.mapValues { $0.frame << 1 | ($0.readOnly ? 1 : 0) },
                       delivered: m.delivered, active: run.rig.host.grants.table(1)?.active ?? [],
                       final: run.final)
    }

    static func multicall(preemptWhen: @escaping (Int) -> Bool) -> Run {
        let rig = setUp()
        rig.mem.preemptWhen = preemptWhen
        return drive(rig, XenHypercallNumber.multicall, XenArguments(list, UInt64(entries)))
    }

    @Test func theScenarioDoesWhatItSays() {
        let run = XenPreemptionTests.multicall { _ in false }
        let m = run.rig.mem
        #expect(run.traps == 1 && run.final == XenHypercallResult(0))
        for i in 0..<XenPreemptionTests.entries {
            #expect(m.u64(2, XenPreemptionTests.list + UInt64(64 * i) + 8) == (i == 1 ? 0x4_0011 : 0), "entry \(i)")
        }
        func status(_ base: UInt64, _ size: UInt64, _ off: UInt64, _ i: UInt64) -> Int16 {
            Int16(bitPattern: m.u16(2, base + size * i + off))
        }
        let copies = XenPreemptionTests.copies
        #expect((0..<6).map { status(copies, 40, 36, $0) }
                == [0, 0, 0, GrantStatus.badCopyArg, 0, GrantStatus.badGntref])
        #expect(m.peek(2, XenPreemptionTests.page(0x4_0085) + 16, 16)! == m.peek(2, XenPreemptionTests.page(0x4_0080), 16)!,
                "the second batch copied what the first wrote")
        #expect((0..<2).map { status(XenPreemptionTests.maps, 32, 18, $0) } == [0, 0])
        #expect((0..<3).map { status(XenPreemptionTests.unmaps, 24, 20, $0) } == [0, 0, GrantStatus.badHandle])
        #expect(m.grantMaps.isEmpty && run.rig.host.grants.table(1)?.active == [])
        #expect(m.delivered == [EventDelivery(domain: 2, vcpu: 0, upcall: true)])
        #expect(m.preemptChecks == XenPreemptionTests.preemptionPoints, "every point between two units is a check")
    }

    @Test func aMulticallPreemptedAtAnyOnePointMatchesAnUninterruptedRun() {
        let reference = XenPreemptionTests.visible(XenPreemptionTests.multicall { _ in false })
        for k in 1...XenPreemptionTests.preemptionPoints {
            let run = XenPreemptionTests.multicall { $0 == k }
            #expect(run.traps == 2, "preempted once, at point \(k)")
            #expect(XenPreemptionTests.visible(run) == reference, "preempted at point \(k)")
        }
    }

    @Test func aMulticallPreemptedAtEveryPointMatchesAnUninterruptedRun() {
        let reference = XenPreemptionTests.visible(XenPreemptionTests.multicall { _ in false })
        let run = XenPreemptionTests.multicall { _ in true }
        #expect(run.traps == XenPreemptionTests.preemptionPoints + 1, "one unit of work per trap")
        #expect(XenPreemptionTests.visible(run) == reference)
    }

    @Test func aGrantBatchStopsWithXensContinuation() {
        let rig = XenPreemptionTests.setUp()
        rig.mem.preemptWhen = { _ in true }
        rig.mem.current = 2
        // cmd is an unsigned int: Xen's continuation ("ihi") hands back only its 32 bits.
        let cmd = UInt64(0xFFFF_FFFF) << 32 | UInt64(GrantTableOp.copy)
        let copies = XenPreemptionTests.copies
        var a = XenArguments(cmd, copies, 4, 0x33, 0x44)
        for done in 1...3 {
            let r = rig.host.hypercall(XenHypercallNumber.grantTableOp, a, caller: XenCaller(domain: 2, vcpu: 0),
                                       platform: rig.mem)
            let next = XenArguments(UInt64(GrantTableOp.copy), copies + UInt64(done) * 40, UInt64(4 - done), 0x33, 0x44)
            #expect(r == .restart(next), "after \(done) entries")
            a = next
        }
        let r = rig.host.hypercall(XenHypercallNumber.grantTableOp, a, caller: XenCaller(domain: 2, vcpu: 0),
                                   platform: rig.mem)
        #expect(r == XenHypercallResult(0))
        #expect(rig.mem.preemptChecks == 3, "never asked before the first entry of a trap")
        #expect(Int16(bitPattern: rig.mem.u16(2, copies + 3 * 40 + 36)) == GrantStatus.badCopyArg)
    }

    @Test func theFixedBatchLimitStillBoundsATrap() {
        let rig = XenPreemptionTests.setUp()
        rig.host.multicallBatch = 2
        rig.host.grantBatch = 3
        let run = XenPreemptionTests.drive(rig, XenHypercallNumber.multicall,
                                           XenArguments(XenPreemptionTests.list, UInt64(XenPreemptionTests.entries)))
        // copy 3 | copy 1, version | map 2, copy 2 | send, unmap 3
        #expect(run.traps == 4)
        #expect(XenPreemptionTests.visible(run) == XenPreemptionTests.visible(XenPreemptionTests.multicall { _ in false }))
    }
}
