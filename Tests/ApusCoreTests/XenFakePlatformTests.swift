import Testing
@testable import ApusCore

/// A flat-memory stand-in for the hypervisor: per-domain sparse 4 KiB pages, guest virtual
/// addresses equal to guest physical ones of the calling domain (`current`), and a log of
/// everything the core asked of the platform.
final class FakeXen: XenPlatform {
    static let ramBase: UInt64 = 0x4_0000          // first RAM gfn (0x40000000)
    static let ramPages: UInt64 = 256              // 1 MiB per domain

    var pages: [XenDomainID: [UInt64: [UInt8]]] = [:]
    var ram: [XenDomainID: Range<UInt64>] = [:]
    /// The domain whose virtual addresses `read`/`write` translate.
    var current: XenDomainID = 1
    var delivered: [EventDelivery] = []
    var virtualWrites: [(UInt64, [UInt8])] = []
    var xenPageMaps: [(XenDomainID, XenSharedPage, UInt64)] = []
    var grantMaps: [GrantMapKey: (frame: UInt64, readOnly: Bool)] = [:]
    var refuseGrantMapAt: Set<UInt64> = []
    var refuseXenPageAt: Set<UInt64> = []
    var downVCPUs: Set<UInt32> = []
    var consoleCalls: [(UInt64, UInt64, UInt64)] = []
    /// GNTTABOP_cache_flush's maintenance: (machine address, length, clean, invalidate).
    var cacheOps: [(UInt64, Int, Bool, Bool)] = []
    /// hypercallPreemptCheck(): how many times the core asked, and the answer to the n-th
    /// question (1-based), so a test can preempt a batch at any point it chooses.
    var preemptChecks = 0
    var preemptWhen: (Int) -> Bool = { _ in false }
    /// unmapGrant() calls, whether they removed a mapping or not (teardown step costs).
    var unmapGrantCalls = 0

    struct GrantMapKey: Hashable { var mapper: XenDomainID; var gfn: UInt64; var granter: XenDomainID }

    init(domains: [XenDomainID] = [1, 2]) {
        for d in domains { addRAM(d) }
    }

    func addRAM(_ d: XenDomainID) {
        ram[d] = FakeXen.ramBase..<(FakeXen.ramBase + FakeXen.ramPages)
        var p: [UInt64: [UInt8]] = [:]
        for g in ram[d]! { p[g] = [UInt8](repeating: 0, count: 4096) }
        pages[d] = p
    }

    // MARK: byte access

    func peek(_ d: XenDomainID, _ gpa: UInt64, _ n: Int) -> [UInt8]? {
        var out: [UInt8] = []
        for i in 0..<n {
            let a = gpa &+ UInt64(i)
            guard let page = pages[d]?[a >> 12] else { return nil }
            out.append(page[Int(a & 0xFFF)])
        }
        return out
    }

    @discardableResult
    func poke(_ d: XenDomainID, _ gpa: UInt64, _ bytes: [UInt8]) -> Bool {
        for i in 0..<bytes.count {
            guard pages[d]?[(gpa &+ UInt64(i)) >> 12] != nil else { return false }
        }
        for (i, b) in bytes.enumerated() {
            let a = gpa &+ UInt64(i)
            pages[d]![a >> 12]![Int(a & 0xFFF)] = b
        }
        return true
    }

    func u8(_ d: XenDomainID, _ a: UInt64) -> UInt8 { peek(d, a, 1)![0] }
    func u16(_ d: XenDomainID, _ a: UInt64) -> UInt16 { XenBytes.u16(peek(d, a, 2)!, 0) }
    func u32(_ d: XenDomainID, _ a: UInt64) -> UInt32 { XenBytes.u32(peek(d, a, 4)!, 0) }
    func u64(_ d: XenDomainID, _ a: UInt64) -> UInt64 { XenBytes.u64(peek(d, a, 8)!, 0) }
    func set16(_ d: XenDomainID, _ a: UInt64, _ v: UInt16) { var b = [UInt8](repeating: 0, count: 2); XenBytes.put16(&b, 0, v); poke(d, a, b) }
    func set32(_ d: XenDomainID, _ a: UInt64, _ v: UInt32) { var b = [UInt8](repeating: 0, count: 4); XenBytes.put32(&b, 0, v); poke(d, a, b) }
    func set64(_ d: XenDomainID, _ a: UInt64, _ v: UInt64) { var b = [UInt8](repeating: 0, count: 8); XenBytes.put64(&b, 0, v); poke(d, a, b) }

    // MARK: GuestMemory

    func read(_ gva: UInt64, into buffer: inout [UInt8], count: Int) -> Bool {
        guard let b = peek(current, gva, count) else { return false }
        buffer = b
        return true
    }
    func write(_ gva: UInt64, _ bytes: [UInt8]) -> Bool {
        virtualWrites.append((gva, bytes))
        return poke(current, gva, bytes)
    }

    // MARK: GuestPhysicalMemory

    func read(domain: XenDomainID, _ gpa: UInt64, into buffer: inout [UInt8], count: Int) -> Bool {
        guard let b = peek(domain, gpa, count) else { return false }
        buffer = b
        return true
    }
    func write(domain: XenDomainID, _ gpa: UInt64, _ bytes: [UInt8]) -> Bool { poke(domain, gpa, bytes) }

    // MARK: XenPlatform

    func deliver(_ event: EventDelivery) { delivered.append(event) }
    func isRAM(domain: XenDomainID, gfn: UInt64) -> Bool { ram[domain]?.contains(gfn) ?? false }
    func mapXenPage(domain: XenDomainID, _ page: XenSharedPage, gfn: UInt64) -> Bool {
        if refuseXenPageAt.contains(gfn) { return false }
        xenPageMaps.append((domain, page, gfn))
        pages[domain, default: [:]][gfn] = [UInt8](repeating: 0, count: 4096)
        return true
    }
    func mapGrant(mapper: XenDomainID, gfn: UInt64, granter: XenDomainID, frame: UInt64, readOnly: Bool) -> UInt64? {
        if refuseGrantMapAt.contains(gfn) { return nil }
        grantMaps[GrantMapKey(mapper: mapper, gfn: gfn, granter: granter)] = (frame, readOnly)
        return FakeXen.machineAddress(domain: granter, gfn: frame)
    }
    /// Machine memory of the fake board: domain d's guest frame g at 0x8_0000_0000 + (d - 1) * 4 GiB + g * 4 KiB.
    static func machineAddress(domain d: XenDomainID, gfn: UInt64) -> UInt64 {
        0x8_0000_0000 + UInt64(d &- 1) * 0x1_0000_0000 + (gfn << 12)
    }
    func frameOwner(machineAddress maddr: UInt64) -> (domain: XenDomainID, gfn: UInt64)? {
        guard maddr >= 0x8_0000_0000 else { return nil }
        let d = XenDomainID((maddr - 0x8_0000_0000) >> 32) + 1
        guard ram[d] != nil || pages[d] != nil else { return nil }
        return (d, (maddr & 0xFFFF_FFFF) >> 12)
    }
    func cacheMaintenance(machineAddress maddr: UInt64, length: Int, clean: Bool, invalidate: Bool) {
        cacheOps.append((maddr, length, clean, invalidate))
    }
    func unmapGrant(mapper: XenDomainID, gfn: UInt64, granter: XenDomainID, frame: UInt64) -> Bool {
        unmapGrantCalls += 1
        let k = GrantMapKey(mapper: mapper, gfn: gfn, granter: granter)
        guard let m = grantMaps[k], m.frame == frame else { return false }
        grantMaps[k] = nil
        return true
    }
    func isVCPUDown(domain: XenDomainID, vcpu: UInt32) -> Bool { downVCPUs.contains(vcpu) }
    func consoleIO(caller: XenCaller, cmd: UInt64, count: UInt64, buffer: UInt64) -> Int64 {
        consoleCalls.append((cmd, count, buffer))
        return 0
    }
    /// NOW() for the hypercall being made (XenRig.call's `now:`).
    var clock: UInt64 = 0
    func now() -> UInt64 { clock }

    /// sysctl physinfo's board and getdomaininfo's per-domain facts.
    var board = XenBoardFacts(cpus: 2, cpuKHz: 62_500, totalPages: 0x8_0000, freePages: 0x2_0000, maxMFN: 0xC_0000)
    var facts: [XenDomainID: XenDomainFacts] = [:]
    func boardFacts() -> XenBoardFacts { board }
    func domainFacts(_ domain: XenDomainID) -> XenDomainFacts? { facts[domain] }
    var consoleRing = ConsoleRing(size: 1024)
    /// setPaused calls, and what vcpuPlacement answers.
    var pauses: [(XenDomainID, Bool)] = []
    var placement: (cpu: UInt32, hardAffinity: UInt64) = (1, 0b10)
    func setPaused(_ domain: XenDomainID, _ paused: Bool) { pauses.append((domain, paused)) }
    func vcpuPlacement(domain: XenDomainID, vcpu: UInt32) -> (cpu: UInt32, hardAffinity: UInt64) { placement }
    var schedulerParams: [XenDomainID: (weight: UInt16, cap: UInt16)] = [:]
    func schedulerParameters(domain: XenDomainID) -> (weight: UInt16, cap: UInt16)? { schedulerParams[domain] }
    func setSchedulerParameters(domain: XenDomainID, weight: UInt16?, cap: UInt16?) {
        let old = schedulerParams[domain] ?? (256, 0)
        schedulerParams[domain] = (weight ?? old.weight, cap ?? old.cap)
    }
    /// sysctl scheduler_op's rate limit goes to a real scheduler (clock in ns, as in the
    /// scheduler's own tests).
    let scheduler = FairScheduler(cpus: 2, policy: .fair)
    func schedulerRateLimit() -> UInt32 { scheduler.rateLimitMicroseconds }
    func setSchedulerRateLimit(_ microseconds: UInt32) -> Bool {
        scheduler.setRateLimit(microseconds: microseconds, clockUnits: UInt64(microseconds) * 1000)
        return true
    }
    func setVCPUAffinity(domain: XenDomainID, vcpu: UInt32, mask: UInt64) -> UInt64? {
        let m = mask & 0b11                                   // the fake board's two CPUs
        guard m != 0 else { return nil }
        placement.hardAffinity = m
        return m
    }
    func readConsoleRing(index: UInt32, max: UInt32, incremental: Bool, clear: Bool) -> (bytes: [UInt8], next: UInt32) {
        consoleRing.read(index: index, max: max, incremental: incremental, clear: clear)
    }

    func hypercallPreemptCheck() -> Bool {
        preemptChecks += 1
        return preemptWhen(preemptChecks)
    }

    // MARK: building domains (createdomain, max_mem, memory_op on other domains)
    //
    // Every call is recorded, refused or not. The answers default to the protocol's
    // defaults (false: refused), so that tests written before these existed behave as
    // they did; a test that builds domains says what the hypervisor accepts.

    struct ForeignMapCall: Equatable {
        var mapper: XenDomainID, gfn: UInt64, owner: XenDomainID, page: XenForeignPage, readOnly: Bool
    }
    struct ForeignUnmapCall: Equatable {
        var mapper: XenDomainID, gfn: UInt64, owner: XenDomainID, page: XenForeignPage
    }

    var createDomainCalls: [(id: XenDomainID, vcpus: UInt32, spis: UInt32)] = []
    var acceptCreateDomain: (XenDomainID) -> Bool = { _ in false }
    var maxMemoryCalls: [(domain: XenDomainID, pages: UInt64)] = []
    var acceptMaxMemory = false
    var populateCalls: [(domain: XenDomainID, gfn: UInt64, order: UInt32)] = []
    var acceptPopulate: (XenDomainID, UInt64, UInt32) -> Bool = { _, _, _ in false }
    var depopulateCalls: [(domain: XenDomainID, gfn: UInt64)] = []
    var acceptDepopulate: (XenDomainID, UInt64) -> Bool = { _, _ in false }
    var mapForeignCalls: [ForeignMapCall] = []
    var acceptMapForeign: (ForeignMapCall) -> Bool = { _ in false }
    var unmapForeignCalls: [ForeignUnmapCall] = []
    var vcpuContextCalls: [(domain: XenDomainID, vcpu: UInt32, context: XenVCPUContext)] = []
    var acceptVCPUContext = false
    var cacheFlushCalls: [(domain: XenDomainID, gfn: UInt64, count: UInt64)] = []

    /// Accept everything a domain build asks (each test may still refuse some).
    func acceptBuilds() {
        acceptCreateDomain = { _ in true }
        acceptMaxMemory = true
        acceptPopulate = { _, _, _ in true }
        acceptDepopulate = { _, _ in true }
        acceptMapForeign = { _ in true }
        acceptVCPUContext = true
    }

    func createDomain(_ id: XenDomainID, vcpus: UInt32, spis: UInt32) -> Bool {
        createDomainCalls.append((id, vcpus, spis))
        return acceptCreateDomain(id)
    }
    func setMaxMemory(_ domain: XenDomainID, pages: UInt64) -> Bool {
        maxMemoryCalls.append((domain, pages))
        return acceptMaxMemory
    }
    func populate(domain: XenDomainID, gfn: UInt64, order: UInt32) -> Bool {
        populateCalls.append((domain, gfn, order))
        return acceptPopulate(domain, gfn, order)
    }
    func depopulate(domain: XenDomainID, gfn: UInt64) -> Bool {
        depopulateCalls.append((domain, gfn))
        return acceptDepopulate(domain, gfn)
    }
    func mapForeign(mapper: XenDomainID, gfn: UInt64, owner: XenDomainID, _ page: XenForeignPage, readOnly: Bool) -> Bool {
        let call = ForeignMapCall(mapper: mapper, gfn: gfn, owner: owner, page: page, readOnly: readOnly)
        mapForeignCalls.append(call)
        return acceptMapForeign(call)
    }
    func unmapForeign(mapper: XenDomainID, gfn: UInt64, owner: XenDomainID, _ page: XenForeignPage) {
        unmapForeignCalls.append(ForeignUnmapCall(mapper: mapper, gfn: gfn, owner: owner, page: page))
    }
    func setVCPUContext(domain: XenDomainID, vcpu: UInt32, _ context: XenVCPUContext) -> Bool {
        vcpuContextCalls.append((domain, vcpu, context))
        return acceptVCPUContext
    }
    func cacheFlush(domain: XenDomainID, gfn: UInt64, count: UInt64) {
        cacheFlushCalls.append((domain, gfn, count))
    }
}

/// A host with domains 1 (2 vCPUs) and 2 (1 vCPU), and helpers to call it.
struct XenRig {
    static let shared1: UInt64 = 0x4_0010          // shared_info gfns
    static let shared2: UInt64 = 0x4_0011
    static let scratch: UInt64 = 0x4002_0000       // argument area (VA == GPA)
    static let scratch2: UInt64 = 0x4003_0000

    let host: XenHost
    let mem: FakeXen

    init(vcpus1: Int = 2, mapShared: Bool = true, privileged1: Bool = false, config: (inout XenDomainConfig) -> Void = { _ in }) {
        host = XenHost(maxDomains: 8)
        mem = FakeXen(domains: [1, 2, 3])
        var c1 = XenDomainConfig(vcpus: vcpus1)
        c1.privileged = privileged1
        config(&c1)
        host.createDomain(1, c1)
        host.createDomain(2, XenDomainConfig(vcpus: 1))
        if mapShared {
            #expect(mapSharedInfo(1, gfn: XenRig.shared1) == 0)
            #expect(mapSharedInfo(2, gfn: XenRig.shared2) == 0)
        }
    }

    func call(_ nr: UInt64, _ x0: UInt64 = 0, _ x1: UInt64 = 0, _ x2: UInt64 = 0,
              dom: XenDomainID = 1, vcpu: UInt32 = 0, now: UInt64 = 0) -> XenHypercallResult {
        mem.current = dom
        mem.clock = now
        return host.hypercall(nr, XenArguments(x0, x1, x2), caller: XenCaller(domain: dom, vcpu: vcpu), platform: mem)
    }

    /// Writes `bytes` at the scratch VA of `dom` and calls with arg = that address.
    func callWith(_ nr: UInt64, _ cmd: UInt64, _ bytes: [UInt8], dom: XenDomainID = 1, vcpu: UInt32 = 0,
                  at addr: UInt64 = XenRig.scratch, x2: UInt64 = 0, now: UInt64 = 0) -> Int64 {
        mem.poke(dom, addr, bytes)
        return call(nr, cmd, addr, x2, dom: dom, vcpu: vcpu, now: now).result
    }

    func out(_ n: Int, dom: XenDomainID = 1, at addr: UInt64 = XenRig.scratch) -> [UInt8] {
        mem.peek(dom, addr, n)!
    }

    func mapSharedInfo(_ dom: XenDomainID, gfn: UInt64) -> Int64 {
        var b = [UInt8](repeating: 0, count: 24)
        XenBytes.put16(&b, 0, XenDomID.selfID)
        XenBytes.put32(&b, 4, MapSpace.sharedInfo)
        XenBytes.put64(&b, 16, gfn)
        return callWith(XenHypercallNumber.memoryOp, UInt64(MemoryOp.addToPhysmap), b, dom: dom)
    }

    func evtchn(_ cmd: UInt32, _ bytes: [UInt8], dom: XenDomainID = 1, vcpu: UInt32 = 0) -> Int64 {
        callWith(XenHypercallNumber.eventChannelOp, UInt64(cmd), bytes, dom: dom, vcpu: vcpu)
    }

    /// EVTCHNOP_alloc_unbound in `dom` for `remote`; the port or the error.
    func allocUnbound(dom: XenDomainID, remote: XenDomainID, caller: XenDomainID? = nil) -> Int64 {
        var b = [UInt8](repeating: 0, count: 8)
        XenBytes.put16(&b, 0, dom)
        XenBytes.put16(&b, 2, remote)
        let rc = evtchn(EventChannelOp.allocUnbound, b, dom: caller ?? dom)
        return rc == 0 ? Int64(mem.u32(caller ?? dom, XenRig.scratch + 4)) : rc
    }

    func bindInterdomain(dom: XenDomainID, remote: XenDomainID, port: UInt32) -> Int64 {
        var b = [UInt8](repeating: 0, count: 12)
        XenBytes.put16(&b, 0, remote)
        XenBytes.put32(&b, 4, port)
        let rc = evtchn(EventChannelOp.bindInterdomain, b, dom: dom)
        return rc == 0 ? Int64(mem.u32(dom, XenRig.scratch + 8)) : rc
    }

    func bindVIRQ(_ virq: UInt32, vcpu: UInt32, dom: XenDomainID = 1) -> Int64 {
        var b = [UInt8](repeating: 0, count: 12)
        XenBytes.put32(&b, 0, virq)
        XenBytes.put32(&b, 4, vcpu)
        let rc = evtchn(EventChannelOp.bindVIRQ, b, dom: dom)
        return rc == 0 ? Int64(mem.u32(dom, XenRig.scratch + 8)) : rc
    }

    func bindIPI(vcpu: UInt32, dom: XenDomainID = 1) -> Int64 {
        var b = [UInt8](repeating: 0, count: 8)
        XenBytes.put32(&b, 0, vcpu)
        let rc = evtchn(EventChannelOp.bindIPI, b, dom: dom)
        return rc == 0 ? Int64(mem.u32(dom, XenRig.scratch + 4)) : rc
    }

    func portOp(_ cmd: UInt32, _ port: UInt32, dom: XenDomainID = 1) -> Int64 {
        var b = [UInt8](repeating: 0, count: 4)
        XenBytes.put32(&b, 0, port)
        return evtchn(cmd, b, dom: dom)
    }

    func send(_ port: UInt32, dom: XenDomainID = 1) -> Int64 { portOp(EventChannelOp.send, port, dom: dom) }
    func close(_ port: UInt32, dom: XenDomainID = 1) -> Int64 { portOp(EventChannelOp.close, port, dom: dom) }
    func unmask(_ port: UInt32, dom: XenDomainID = 1) -> Int64 { portOp(EventChannelOp.unmask, port, dom: dom) }

    func state(_ dom: XenDomainID, _ port: UInt32) -> EventChannelState? {
        host.events.table(dom)?.channel(port)?.state
    }

    // shared_info / vcpu_info bits
    func sharedBase(_ dom: XenDomainID) -> UInt64 { (dom == 1 ? XenRig.shared1 : XenRig.shared2) << 12 }
    func pendingWord(_ dom: XenDomainID, _ w: Int) -> UInt64 { mem.u64(dom, sharedBase(dom) + 48 + UInt64(8 * w)) }
    func maskWord(_ dom: XenDomainID, _ w: Int) -> UInt64 { mem.u64(dom, sharedBase(dom) + 560 + UInt64(8 * w)) }
    func setMask(_ dom: XenDomainID, _ port: UInt32) {
        let a = sharedBase(dom) + 560 + UInt64(port / 64) * 8
        mem.set64(dom, a, mem.u64(dom, a) | 1 << UInt64(port % 64))
    }
    func upcallPending(_ dom: XenDomainID) -> UInt8 { mem.u8(dom, sharedBase(dom)) }
    func pendingSel(_ dom: XenDomainID) -> UInt64 { mem.u64(dom, sharedBase(dom) + 8) }
    /// What the guest does in its upcall handler: clear upcall_pending and the selector.
    func guestAcknowledge(_ dom: XenDomainID) {
        mem.poke(dom, sharedBase(dom), [0])
        mem.set64(dom, sharedBase(dom) + 8, 0)
    }
}

@Suite struct XenFakePlatformTests {
    @Test func fakeMemoryIsLittleEndianAndBounded() {
        let m = FakeXen(domains: [1])
        m.set32(1, 0x4000_0000, 0x1122_3344)
        #expect(m.peek(1, 0x4000_0000, 4) == [0x44, 0x33, 0x22, 0x11])
        #expect(m.peek(1, 0x3FFF_FFFF, 2) == nil, "below RAM")
        #expect(m.peek(1, 0x4010_0000 - 1, 2) == nil, "crosses the end of RAM")
        #expect(!m.poke(2, 0x4000_0000, [1]), "no such domain")
    }

    @Test func defaultAtomicsWorkOnTheFake() {
        let m = FakeXen(domains: [1])
        #expect(m.fetchOr64(domain: 1, 0x4000_0008, 0x5) == 0)
        #expect(m.fetchAnd64(domain: 1, 0x4000_0008, ~0x1) == 0x5)
        #expect(m.load64(domain: 1, 0x4000_0008) == 0x4)
        #expect(m.compareExchange32(domain: 1, 0x4000_0008, expected: 3, desired: 9) == 4, "no swap")
        #expect(m.compareExchange32(domain: 1, 0x4000_0008, expected: 4, desired: 9) == 4, "swapped")
        #expect(m.load32(domain: 1, 0x4000_0008) == 9)
        #expect(m.fetchOr64(domain: 1, 0x10, 1) == nil, "outside RAM")
    }

    @Test func domainBuildCallsAreRecordedAndRefusedUntilATestAcceptsThem() {
        let m = FakeXen(domains: [1])
        #expect(!m.createDomain(3, vcpus: 1, spis: 32) && !m.setMaxMemory(3, pages: 1))
        #expect(!m.populate(domain: 3, gfn: 0x4_0000, order: 0) && !m.depopulate(domain: 3, gfn: 0x4_0000))
        #expect(!m.mapForeign(mapper: 1, gfn: 0x5_0000, owner: 3, .ram(gfn: 0x4_0000), readOnly: true))
        #expect(!m.setVCPUContext(domain: 3, vcpu: 0, XenVCPUContext()))
        m.acceptBuilds()
        #expect(m.createDomain(4, vcpus: 2, spis: 64) && m.setMaxMemory(4, pages: 2))
        #expect(m.populate(domain: 4, gfn: 0x4_0000, order: 9) && m.depopulate(domain: 4, gfn: 0x4_0000))
        #expect(m.mapForeign(mapper: 1, gfn: 0x5_0000, owner: 4, .xen(.grantFrame(0)), readOnly: false))
        #expect(m.setVCPUContext(domain: 4, vcpu: 1, XenVCPUContext()))
        m.unmapForeign(mapper: 1, gfn: 0x5_0000, owner: 4, .xen(.grantFrame(0)))
        m.cacheFlush(domain: 4, gfn: 0x4_0000, count: 8)
        #expect(m.createDomainCalls.map(\.id) == [3, 4] && m.maxMemoryCalls.map(\.pages) == [1, 2])
        #expect(m.populateCalls.map(\.order) == [0, 9] && m.depopulateCalls.count == 2)
        #expect(m.mapForeignCalls.map(\.readOnly) == [true, false] && m.vcpuContextCalls.map(\.vcpu) == [0, 1])
        #expect(m.unmapForeignCalls == [FakeXen.ForeignUnmapCall(mapper: 1, gfn: 0x5_0000, owner: 4, page: .xen(.grantFrame(0)))])
        #expect(m.cacheFlushCalls.count == 1 && m.cacheFlushCalls[0] == (4, 0x4_0000, 8))
    }
}
