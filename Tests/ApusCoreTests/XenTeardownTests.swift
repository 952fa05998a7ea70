import Testing
@testable import ApusCore

/// A board where domain 1 did a lot: interdomain ports with 2 in both directions, a VIRQ,
/// an IPI, unbound ports, console/store-style ports with the service endpoint 0 (and one
/// endpoint port still waiting for it), pending events, mappings of 2's and 3's grants
/// (some read-only, one of its own grants), and 2 mapping many of its grants. Domain 3
/// and 2 share a mapping that has nothing to do with 1. Built through the same calls each
/// time, so two instances end byte for byte alike if torn down alike.
struct BusyBoard {
    static let frameGFN: UInt64 = 0x3_8000            // grant frames from 0x38000000
    static let sharedGFN: UInt64 = 0x4_0010
    static let grantedGFN: UInt64 = 0x4_0040          // frames granted (RAM of the granter)
    static let ownMapBase: UInt64 = 0x6000_0000       // where 1 maps 2's grants
    static let foreignMapBase: UInt64 = 0x7000_0000   // where 2 maps 1's grants

    let host: XenHost
    let mem: FakeXen
    /// Ports of 2 bound to 1 (interdomain) and ports of 2 waiting for 1 (unbound).
    var peerPorts: [UInt32] = []
    /// A port of 1 still unbound, waiting for 2.
    var waitingFor2: UInt32 = 0

    init(ports: Int = 150, mappings: Int = 120, maxPort1: UInt32 = EventChannelTable.defaultMaxPort) {
        host = XenHost(maxDomains: 8)
        mem = FakeXen(domains: [1, 2, 3])
        var svc = XenDomainConfig(vcpus: 1)
        svc.serviceEndpoint = true
        svc.privileged = true
        #expect(host.createDomain(0, svc))
        var c1 = XenDomainConfig(vcpus: 2)
        c1.maxEventChannelPort = maxPort1
        #expect(host.createDomain(1, c1))
        #expect(host.createDomain(2, XenDomainConfig(vcpus: 1)))
        #expect(host.createDomain(3, XenDomainConfig(vcpus: 1)))
        for d: XenDomainID in [1, 2, 3] {
            #expect(physmap(d, MapSpace.sharedInfo, 0, BusyBoard.sharedGFN) == 0)
            for f in 0..<UInt64((mappings + 2) / 512 + 1) {
                #expect(physmap(d, MapSpace.grantTable, f, BusyBoard.frameGFN + f) == 0)
            }
        }
        do throws(XenErrno) {
            // Service endpoint: console and store ports bound by 0, one port waiting for 1.
            for _ in 0..<2 {
                let g = try host.allocateUnbound(in: 1, remote: 0)
                _ = try host.events.bindInterdomain(caller: 0, remoteDom: 1, remotePort: g, memory: mem)
            }
            _ = try host.allocateUnbound(in: 0, remote: 1)
            // Interdomain with 2, in both directions; events pending on some.
            for k in 0..<ports {
                if k % 3 == 2 {
                    let p1 = try host.events.allocUnbound(caller: 1, dom: 1, remote: 2)
                    let r = try host.events.bindInterdomain(caller: 2, remoteDom: 1, remotePort: p1, memory: mem)
                    peerPorts.append(r.port)
                } else {
                    let p2 = try host.events.allocUnbound(caller: 2, dom: 2, remote: 1)
                    _ = try host.events.bindInterdomain(caller: 1, remoteDom: 2, remotePort: p2, memory: mem)
                    peerPorts.append(p2)
                    if k % 5 == 0 { _ = try host.events.send(caller: 2, port: p2, memory: mem) }
                }
            }
            peerPorts.append(try host.events.allocUnbound(caller: 2, dom: 2, remote: 1))
            _ = try host.events.bindVIRQ(caller: 1, virq: 0, vcpu: 1)
            _ = try host.events.bindIPI(caller: 1, vcpu: 1)
            _ = try host.events.allocUnbound(caller: 1, dom: 1, remote: 3)
            waitingFor2 = try host.events.allocUnbound(caller: 1, dom: 1, remote: 2)
        } catch {
            Issue.record("setup: \(error)")
        }
        // Grants both ways, with holes in the maptracks.
        for k in 0..<mappings {
            let ref = UInt32(k)
            grant(2, ref, to: 1, frame: BusyBoard.grantedGFN + UInt64(k % 64))
            #expect(map(mapper: 1, granter: 2, ref: ref, at: BusyBoard.ownMapBase + UInt64(k) << 12,
                        readOnly: k % 4 == 0) == GrantStatus.okay)
            grant(1, ref, to: 2, frame: BusyBoard.grantedGFN + UInt64(k % 32))
            #expect(map(mapper: 2, granter: 1, ref: ref, at: BusyBoard.foreignMapBase + UInt64(k) << 12,
                        readOnly: k % 3 == 0) == GrantStatus.okay)
        }
        let selfRef = UInt32(mappings)
        grant(1, selfRef, to: 1, frame: BusyBoard.grantedGFN)
        #expect(map(mapper: 1, granter: 1, ref: selfRef, at: 0x5000_0000) == GrantStatus.okay)
        grant(3, 0, to: 1, frame: BusyBoard.grantedGFN + 1)
        #expect(map(mapper: 1, granter: 3, ref: 0, at: 0x5000_1000) == GrantStatus.okay)
        grant(3, 1, to: 2, frame: BusyBoard.grantedGFN + 2)
        #expect(map(mapper: 2, granter: 3, ref: 1, at: 0x5000_2000) == GrantStatus.okay)
        if mappings > 7 {
            #expect(host.grants.unmap(caller: 1, hostAddr: BusyBoard.ownMapBase + 5 << 12, handle: 5, platform: mem)
                    == GrantStatus.okay)
            #expect(host.grants.unmap(caller: 2, hostAddr: BusyBoard.foreignMapBase + 7 << 12, handle: 7, platform: mem)
                    == GrantStatus.okay)
        }
        mem.unmapGrantCalls = 0
    }

    /// XENMEM_add_to_physmap by `dom` for itself.
    func physmap(_ dom: XenDomainID, _ space: UInt32, _ idx: UInt64, _ gfn: UInt64) -> Int64 {
        var b = [UInt8](repeating: 0, count: 24)
        XenBytes.put16(&b, 0, XenDomID.selfID)
        XenBytes.put32(&b, 4, space)
        XenBytes.put64(&b, 8, idx)
        XenBytes.put64(&b, 16, gfn)
        mem.poke(dom, XenRig.scratch, b)
        mem.current = dom
        return host.hypercall(XenHypercallNumber.memoryOp, XenArguments(UInt64(MemoryOp.addToPhysmap), XenRig.scratch),
                              caller: XenCaller(domain: dom, vcpu: 0), platform: mem).result
    }

    func entryAddr(_ ref: UInt32) -> UInt64 { (BusyBoard.frameGFN << 12) + UInt64(ref) * 8 }

    /// The granter writes a v1 entry permitting `dom`.
    func grant(_ granter: XenDomainID, _ ref: UInt32, to dom: XenDomainID, frame: UInt64) {
        mem.set16(granter, entryAddr(ref), GrantFlags.permitAccess)
        mem.set16(granter, entryAddr(ref) + 2, dom)
        mem.set32(granter, entryAddr(ref) + 4, UInt32(frame))
    }

    func flags(_ granter: XenDomainID, _ ref: UInt32) -> UInt16 { mem.u16(granter, entryAddr(ref)) }

    func map(mapper: XenDomainID, granter: XenDomainID, ref: UInt32, at addr: UInt64, readOnly: Bool = false) -> Int16 {
        let flags = GrantMapFlags.hostMap | (readOnly ? GrantMapFlags.readonly : 0)
        return host.grants.map(caller: mapper, GrantMapRequest(hostAddr: addr, flags: flags, ref: ref, dom: granter),
                               platform: mem).status
    }

    /// Everything a teardown may change, to compare two boards.
    struct Snapshot: Equatable {
        var pages: [XenDomainID: [UInt64: [UInt8]]]
        var grantMaps: [FakeXen.GrantMapKey: UInt64]
        var delivered: [EventDelivery]
        var channels: [[EventChannel]?]
        var activeCounts: [Int?]
        var active: [[ActiveGrant]?]
        var maptracks: [[GrantMapping?]?]
        var domains: [Bool]
    }

    var snapshot: Snapshot {
        let ids: [XenDomainID] = [0, 1, 2, 3, 4]
        return Snapshot(
            pages: mem.pages,
            grantMaps: mem.grantMaps.mapValues { $0.frame | ($0.readOnly ? 1 << 63 : 0) },
            delivered: mem.delivered,
            channels: ids.map { host.events.table($0)?.channels },
            activeCounts: ids.map { host.events.table($0)?.activeCount },
            active: ids.map { host.grants.table($0)?.active },
            maptracks: ids.map { host.grants.table($0)?.maptrack },
            domains: ids.map { host.domain($0) != nil })
    }

    /// Work left in domain 1's teardown that costs XenTeardownCost.release each.
    var releasesLeft: Int {
        let ports = host.events.table(1)?.activeCount ?? 0
        let waiting = (host.events.table(0)?.channels ?? []).filter { $0.state == .unbound(remote: 1) }.count
        let own = (host.grants.table(1)?.maptrack ?? []).compactMap { $0 }.count
        var foreign = 0
        for d: XenDomainID in [0, 2, 3] { foreign += Int(host.grants.table(d)?.mappingCount(of: 1) ?? 0) }
        return ports + waiting + own + foreign
    }
}

@Suite struct XenTeardownTests {
    /// Destroys domain 1 with `budget` per step; returns the units of each step, after
    /// checking that no step did more than its budget (or one slot, below the cost of one)
    /// and that the platform was asked no more than the step's releases.
    func destroyInSteps(_ b: BusyBoard, budget: Int) -> [Int] {
        #expect(b.host.beginDestroy(1))
        var units: [Int] = []
        while true {
            let releasesBefore = b.releasesLeft
            let unmapsBefore = b.mem.unmapGrantCalls
            let done = b.host.destroyStep(1, platform: b.mem, budget: budget)
            let u = b.host.lastDestroyStepUnits
            units.append(u)
            let released = releasesBefore - (done ? 0 : b.releasesLeft)
            #expect(u <= max(budget, XenTeardownCost.release), "step \(units.count): \(u) units, budget \(budget)")
            #expect(released * XenTeardownCost.release <= max(budget, XenTeardownCost.release))
            #expect(b.mem.unmapGrantCalls - unmapsBefore <= max(released, 1))
            if done { break }
            #expect(units.count < 1_000_000)
        }
        return units
    }

    @Test func stepwiseTeardownEndsExactlyAsOneShot() {
        let reference = BusyBoard()
        reference.host.destroyDomain(1, platform: reference.mem)
        let expected = reference.snapshot
        var totals: Set<Int> = []
        for budget in [1, 2, 15, 16, 17, 40, 100, 256, 1000, Int.max] {
            let b = BusyBoard()
            let units = destroyInSteps(b, budget: budget)
            #expect(b.snapshot == expected, "budget \(budget)")
            totals.insert(units.reduce(0, +))
        }
        #expect(totals.count == 1, "the same work whatever the budget: \(totals)")
    }

    @Test func oneShotTeardownUndoesEverythingDomainOneHad() {
        let b = BusyBoard()
        let mappedOf2 = (b.host.grants.table(2)?.active ?? []).filter { $0.user == 1 }.count
        #expect(mappedOf2 > 0)
        b.host.destroyDomain(1, platform: b.mem)
        #expect(b.host.domain(1) == nil && b.host.events.table(1) == nil && b.host.grants.table(1) == nil)
        // Peers' ports: unbound, waiting for 1 again.
        for p in b.peerPorts { #expect(b.host.events.table(2)?.channel(p)?.state == .unbound(remote: 1), "port \(p)") }
        // The service endpoint got its ports back.
        #expect(b.host.events.table(0)?.activeCount == 0)
        // No mapping of 1's grants anywhere, none by 1; 2's and 3's pins by 1 released.
        #expect(b.host.grants.table(2)?.mappingCount(of: 1) == 0)
        // 2's handles of 1's grants are orphans: nothing mapped any more, kept for 2's unmap.
        #expect(b.host.grants.table(2)?.maptrack.compactMap { $0 }
                    .allSatisfy { $0.granter == 3 || $0.flags & GrantMapFlags.orphan != 0 } == true)
        #expect(b.mem.grantMaps.keys.map { $0.mapper } == [2] && b.mem.grantMaps.keys.map { $0.granter } == [3])
        #expect(b.host.grants.table(2)?.active.contains { $0.user == 1 } == false)
        #expect(b.host.grants.table(3)?.active.map(\.ref) == [1], "only 2's mapping of 3's ref 1 stays pinned")
        #expect(b.flags(2, 0) == GrantFlags.permitAccess && b.flags(2, 1) == GrantFlags.permitAccess)
        #expect(b.flags(3, 0) == GrantFlags.permitAccess)
        #expect(b.flags(3, 1) == GrantFlags.permitAccess | GrantFlags.reading | GrantFlags.writing)
        // 2's handles of 1's grants no longer unmap a grant (the hypercall path answers
        // them as orphans).
        #expect(b.host.grants.unmap(caller: 2, hostAddr: BusyBoard.foreignMapBase, handle: 0, platform: b.mem)
                == GrantStatus.badHandle)
    }

    /// Worst case of the issue: 1023 bound ports and 4096 grant mappings (2048 each way);
    /// steps of 256 units each do at most 16 releases, and their number is about work/256.
    @Test func aFullDomainIsTornDownInStepsOfBoundedWork() {
        let b = BusyBoard(ports: 1017, mappings: 2048)
        #expect(b.host.events.table(1)?.activeCount == 1023, "every port of 1 in use")
        #expect(b.host.grants.table(1)?.maptrack.count == 2050)
        #expect(b.host.grants.table(2)?.maptrack.count == 2049)
        let releases = b.releasesLeft
        #expect(releases > 5000)
        let units = destroyInSteps(b, budget: 256)
        let work = units.reduce(0, +)
        #expect(work >= releases * XenTeardownCost.release)
        #expect(units.dropLast().allSatisfy { $0 > 256 - XenTeardownCost.release && $0 <= 256 })
        // Every step but the last stopped only when the next slot would not fit.
        #expect(units.count >= (work + 255) / 256)
        #expect(units.count <= work / (256 - XenTeardownCost.release + 1) + 1)
        #expect(b.mem.unmapGrantCalls == 2048 - 1 + 2048 - 1 + 2, "one p2m change per mapping, both ways")
        #expect(b.host.domain(1) == nil)
    }

    // MARK: while dying

    @Test func aDyingDomainCanBeReachedByNothingNew() {
        let rig = XenRig()
        let gnt = XenHypercallNumber.grantTableOp
        // Ports: one of 1 waiting for 2, one of 2 waiting for 1, one bound both ways.
        let p1 = UInt32(rig.allocUnbound(dom: 1, remote: 2))
        let p2 = UInt32(rig.allocUnbound(dom: 2, remote: 1))
        let q2 = UInt32(rig.allocUnbound(dom: 2, remote: 1))
        let q1 = UInt32(rig.bindInterdomain(dom: 1, remote: 2, port: q2))
        // A grant of 1 mapped by 2, and one to copy from.
        #expect(BusyBoard.physmapRig(rig, 1, MapSpace.grantTable, 0, BusyBoard.frameGFN) == 0)
        BusyBoard.grantRig(rig, 1, 3, to: 2, frame: BusyBoard.grantedGFN)
        BusyBoard.grantRig(rig, 1, 4, to: 2, frame: BusyBoard.grantedGFN)
        let mapped = rig.host.grants.map(caller: 2, GrantMapRequest(hostAddr: 0x6000_0000, flags: GrantMapFlags.hostMap,
                                                                    ref: 3, dom: 1), platform: rig.mem)
        #expect(mapped.status == GrantStatus.okay)

        #expect(rig.host.beginDestroy(1))
        #expect(!rig.host.beginDestroy(1), "once")
        #expect(rig.host.isDying(1) && !rig.host.isLive(1))

        // Its own hypercalls: -ESRCH, even the null one.
        #expect(rig.call(XenHypercallNumber.xenVersion, 0, dom: 1).result == XenErrno.ESRCH.result)
        // Event channels.
        #expect(rig.bindInterdomain(dom: 2, remote: 1, port: p1) == XenErrno.EINVAL.result)
        #expect(rig.state(1, p1) == .unbound(remote: 2))
        #expect(rig.allocUnbound(dom: 2, remote: 1) == XenErrno.ESRCH.result)
        #expect(throws: XenErrno.EINVAL) { _ = try rig.host.allocateUnbound(in: 1, remote: 2) }
        #expect(throws: XenErrno.ESRCH) { _ = try rig.host.allocateUnbound(in: 2, remote: 1) }
        // The guest had handled every event (binding set q1 pending).
        rig.guestAcknowledge(1)
        rig.mem.set64(1, rig.sharedBase(1) + 48, 0)
        rig.mem.delivered = []
        let pendingBefore = rig.pendingWord(1, 0)
        #expect(pendingBefore == 0)
        #expect(rig.send(q2, dom: 2) == 0, "sending to a dying peer is not an error")
        #expect(rig.pendingWord(1, 0) == pendingBefore && rig.mem.delivered.isEmpty, "but nothing is delivered")
        rig.host.notify(domain: 1, port: q1, platform: rig.mem)
        rig.host.raiseVIRQ(domain: 1, vcpu: 0, virq: 0, platform: rig.mem)
        #expect(rig.pendingWord(1, 0) == pendingBefore && rig.mem.delivered.isEmpty)
        // Grants: no new map or copy of its grants, in either direction.
        var m = [UInt8](repeating: 0, count: 32)
        XenBytes.put64(&m, 0, 0x6000_1000)
        XenBytes.put32(&m, 8, GrantMapFlags.hostMap)
        XenBytes.put32(&m, 12, 4)
        XenBytes.put16(&m, 16, 1)
        #expect(rig.callWith(gnt, UInt64(GrantTableOp.mapGrantRef), m, dom: 2, x2: 1) == 0)
        #expect(Int16(bitPattern: rig.mem.u16(2, XenRig.scratch + 18)) == GrantStatus.badDomain)
        for (src, dst) in [(UInt16(1), XenDomID.selfID), (XenDomID.selfID, UInt16(1))] {
            var c = [UInt8](repeating: 0, count: 40)
            XenBytes.put64(&c, 0, src == 1 ? 4 : BusyBoard.grantedGFN)
            XenBytes.put16(&c, 8, src)
            XenBytes.put64(&c, 16, dst == 1 ? 4 : BusyBoard.grantedGFN)
            XenBytes.put16(&c, 24, dst)
            XenBytes.put16(&c, 32, 8)
            XenBytes.put16(&c, 34, (src == 1 ? GrantCopyFlags.sourceGref : 0) | (dst == 1 ? GrantCopyFlags.destGref : 0))
            #expect(rig.callWith(gnt, UInt64(GrantTableOp.copy), c, dom: 2, x2: 1) == 0)
            #expect(Int16(bitPattern: rig.mem.u16(2, XenRig.scratch + 36)) == GrantStatus.badDomain)
        }
        #expect(rig.mem.grantMaps.count == 1)
        // Ops naming it: -ESRCH.
        var h = [UInt8](repeating: 0, count: 16)
        XenBytes.put16(&h, 0, 1)
        XenBytes.put32(&h, 4, HVMParam.storeEvtchn)
        #expect(rig.callWith(XenHypercallNumber.hvmOp, HVMOp.getParam, h, dom: 2) == XenErrno.ESRCH.result)
        // The slot is not free yet.
        #expect(!rig.host.createDomain(1, XenDomainConfig(vcpus: 1)))
        // What removes state still works: 2 unmaps its mapping of 1's grant itself.
        #expect(rig.host.grants.unmap(caller: 2, hostAddr: 0x6000_0000, handle: mapped.handle!, platform: rig.mem)
                == GrantStatus.okay)
        #expect(rig.mem.grantMaps.isEmpty)

        // Torn down; the slot takes a new domain 1, which can bind what waits for it.
        var steps = 0
        while !rig.host.destroyStep(1, platform: rig.mem, budget: 1) { steps += 1 }
        #expect(steps > 3)
        #expect(!rig.host.isDying(1) && rig.host.domain(1) == nil)
        #expect(rig.state(2, q2) == .unbound(remote: 1) && rig.state(2, p2) == .unbound(remote: 1))
        #expect(rig.host.createDomain(1, XenDomainConfig(vcpus: 1)))
        #expect(rig.host.isLive(1))
        #expect(rig.call(XenHypercallNumber.xenVersion, 0, dom: 1).result > 0)
        #expect(rig.bindInterdomain(dom: 1, remote: 2, port: p2) > 0)
        #expect(rig.state(2, p2) != .unbound(remote: 1))
    }

    @Test func preparedDomainsInstallOnceIntoAFreeSlot() {
        let host = XenHost(maxDomains: 4)
        var p: XenPreparedDomain? = XenHost.prepareDomain(2, XenDomainConfig(vcpus: 3))
        #expect(host.domain(2) == nil, "preparing touches nothing shared")
        #expect(host.install(&p))
        #expect(p == nil, "taken")
        #expect(host.domain(2)?.vcpuCount == 3 && host.events.table(2) != nil && host.grants.table(2) != nil)
        var again: XenPreparedDomain? = XenHost.prepareDomain(2, XenDomainConfig(vcpus: 1))
        #expect(!host.install(&again) && again != nil, "slot taken: left to the caller")
        var out: XenPreparedDomain? = XenHost.prepareDomain(9, XenDomainConfig(vcpus: 1))
        #expect(!host.install(&out), "out of range")
        host.beginDestroy(2)
        #expect(!host.install(&again), "still dying")
        #expect(host.destroyStep(2, platform: FakeXen(domains: [2]), budget: 1_000))
        #expect(host.install(&again))
        #expect(host.domain(2)?.vcpuCount == 1)
    }

    @Test func destroyStepOfNoDomainIsDone() {
        let host = XenHost(maxDomains: 4)
        #expect(host.destroyStep(3, platform: FakeXen(domains: []), budget: 1))
        #expect(host.destroyStep(200, platform: FakeXen(domains: []), budget: 1))
        #expect(!host.beginDestroy(3))
    }
}

extension BusyBoard {
    static func physmapRig(_ rig: XenRig, _ dom: XenDomainID, _ space: UInt32, _ idx: UInt64, _ gfn: UInt64) -> Int64 {
        var b = [UInt8](repeating: 0, count: 24)
        XenBytes.put16(&b, 0, XenDomID.selfID)
        XenBytes.put32(&b, 4, space)
        XenBytes.put64(&b, 8, idx)
        XenBytes.put64(&b, 16, gfn)
        return rig.callWith(XenHypercallNumber.memoryOp, UInt64(MemoryOp.addToPhysmap), b, dom: dom)
    }

    static func grantRig(_ rig: XenRig, _ granter: XenDomainID, _ ref: UInt32, to dom: XenDomainID, frame: UInt64) {
        let e = (BusyBoard.frameGFN << 12) + UInt64(ref) * 8
        rig.mem.set16(granter, e, GrantFlags.permitAccess)
        rig.mem.set16(granter, e + 2, dom)
        rig.mem.set32(granter, e + 4, UInt32(frame))
    }
}
