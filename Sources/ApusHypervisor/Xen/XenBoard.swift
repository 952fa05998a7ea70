#if hasFeature(Embedded)
import AArch64
import ApusCore

/// The hypervisor's side of the Xen ABI core (`XenPlatform`): guest memory through the
/// MMU and the p2m, p2m changes for Xen pages and grants, and event delivery into the vGIC.
/// Every call happens under `Xen.lock`; p2m changes of Xen and grant pages happen only
/// there, so the p2m walks below see a stable table.
struct XenBoard: XenPlatform {
    /// The domain whose vCPU is loaded on this CPU (hypercall caller, or the vCPU being
    /// switched in): guest virtual addresses are translated with its live stage 1.
    let current: Domain?
    /// Physical count when the hypercall this platform serves began (nil: not a hypercall,
    /// never preempted). Kept here rather than per CPU: the check is on the same CPU.
    var since: UInt64? = nil

    // MARK: guest virtual memory (hypercall arguments)

    func read(_ gva: UInt64, into buffer: inout [UInt8], count: Int) -> Bool {
        guard let d = current, count >= 0, let b = GuestAccess(domain: d).readVirtual(gva, count: count) else { return false }
        buffer = b
        return true
    }

    func write(_ gva: UInt64, _ bytes: [UInt8]) -> Bool {
        guard let d = current else { return false }
        return GuestAccess(domain: d).writeVirtual(gva, bytes)
    }

    // Aligned words (the usual hypercall argument) take one translation and one load and no
    // buffer; anything else goes through `read`.
    func readU32(_ gva: UInt64) -> UInt32? {
        guard let d = current else { return nil }
        let g = GuestAccess(domain: d)
        guard gva & 3 == 0 else { return g.readVirtual32(gva) }
        return g.hostAddress(virtual: gva, length: 4, write: false).map { mmio_read32($0) }
    }

    func readU64(_ gva: UInt64) -> UInt64? {
        guard let d = current else { return nil }
        let g = GuestAccess(domain: d)
        guard gva & 7 == 0 else {
            guard gva <= UInt64.max - 8, let lo = g.readVirtual32(gva), let hi = g.readVirtual32(gva &+ 4) else { return nil }
            return UInt64(lo) | UInt64(hi) << 32
        }
        return g.hostAddress(virtual: gva, length: 8, write: false).map { mmio_read64($0) }
    }

    // MARK: guest physical memory (shared pages)

    /// Host address of [gpa, gpa+length) in `domain`'s p2m, within one page, or nil when
    /// unmapped or lacking the permission. The p2m only ever maps the domain's RAM, its Xen
    /// pages and pages granted to it, so the result is memory the domain may touch.
    static func hostAddress(domain: XenDomainID, _ gpa: UInt64, length: UInt64, write: Bool) -> UInt64? {
        guard length > 0, length <= 4096, gpa <= UInt64.max - length,
              gpa & ~0xFFF == (gpa &+ length &- 1) & ~0xFFF,
              let d = Hypervisor.domain(Int(domain)) else { return nil }
        return d.withP2M { held in held.sharedAddress(gpa, write: write) }
    }

    func read(domain: XenDomainID, _ gpa: UInt64, into buffer: inout [UInt8], count: Int) -> Bool {
        guard count >= 0, count <= 1 << 20 else { return false }
        var out: [UInt8] = []
        var at = gpa, left = UInt64(count)
        while left > 0 {
            let chunk = min(left, 4096 - (at & 0xFFF))
            guard let pa = XenBoard.hostAddress(domain: domain, at, length: chunk, write: false) else { return false }
            out += PhysicalMemory.bytes(at: pa, count: Int(chunk))
            at &+= chunk; left -= chunk
        }
        buffer = out
        return true
    }

    /// Frame to frame: both translated, then one memcpy (netback copies every received
    /// packet this way; through a buffer it cost tens of thousands of instructions a packet).
    func copy(source: XenDomainID, _ from: UInt64, dest: XenDomainID, _ to: UInt64, count: Int) -> Bool {
        guard count > 0 else { return count == 0 }
        // hostAddress refuses a range over 4096 bytes or across a page boundary.
        guard let src = XenBoard.hostAddress(domain: source, from, length: UInt64(count), write: false),
              let dst = XenBoard.hostAddress(domain: dest, to, length: UInt64(count), write: true) else { return false }
        PhysicalMemory.copy(to: dst, from: src, count: UInt64(count))
        return true
    }

    func write(domain: XenDomainID, _ gpa: UInt64, _ bytes: [UInt8]) -> Bool {
        var at = gpa, done = 0
        while done < bytes.count {
            let chunk = min(bytes.count - done, Int(4096 - (at & 0xFFF)))
            guard let pa = XenBoard.hostAddress(domain: domain, at, length: UInt64(chunk), write: true) else { return false }
            PhysicalMemory.store(bytes, from: done, count: chunk, at: pa)
            at &+= UInt64(chunk); done += chunk
        }
        return true
    }

    // Single loads and stores of naturally aligned words (the defaults build buffers). A
    // misaligned one is refused like an unmapped one: the ABI's shared words are aligned.
    func load16(domain: XenDomainID, _ gpa: UInt64) -> UInt16? {
        guard gpa & 1 == 0, let pa = XenBoard.hostAddress(domain: domain, gpa, length: 2, write: false) else { return nil }
        return mmio_read16(pa)
    }

    func load32(domain: XenDomainID, _ gpa: UInt64) -> UInt32? {
        guard gpa & 3 == 0, let pa = XenBoard.hostAddress(domain: domain, gpa, length: 4, write: false) else { return nil }
        return mmio_read32(pa)
    }

    func load64(domain: XenDomainID, _ gpa: UInt64) -> UInt64? {
        guard gpa & 7 == 0, let pa = XenBoard.hostAddress(domain: domain, gpa, length: 8, write: false) else { return nil }
        return mmio_read64(pa)
    }

    func store8(domain: XenDomainID, _ gpa: UInt64, _ value: UInt8) -> Bool {
        guard let pa = XenBoard.hostAddress(domain: domain, gpa, length: 1, write: true) else { return false }
        mmio_write8(pa, value)
        return true
    }

    func store64(domain: XenDomainID, _ gpa: UInt64, _ value: UInt64) -> Bool {
        guard gpa & 7 == 0, let pa = XenBoard.hostAddress(domain: domain, gpa, length: 8, write: true) else { return false }
        mmio_write64(pa, value)
        return true
    }

    // The guest changes these words concurrently: real atomics, not read-modify-write.
    func fetchOr64(domain: XenDomainID, _ gpa: UInt64, _ bits: UInt64) -> UInt64? {
        guard gpa & 7 == 0, let pa = XenBoard.hostAddress(domain: domain, gpa, length: 8, write: true) else { return nil }
        return apus_atomic_or64(UnsafeMutablePointer<UInt64>(bitPattern: UInt(pa))!, bits)
    }

    func fetchAnd64(domain: XenDomainID, _ gpa: UInt64, _ bits: UInt64) -> UInt64? {
        guard gpa & 7 == 0, let pa = XenBoard.hostAddress(domain: domain, gpa, length: 8, write: true) else { return nil }
        return apus_atomic_and64(UnsafeMutablePointer<UInt64>(bitPattern: UInt(pa))!, bits)
    }

    func compareExchange32(domain: XenDomainID, _ gpa: UInt64, expected: UInt32, desired: UInt32) -> UInt32? {
        guard gpa & 3 == 0, let pa = XenBoard.hostAddress(domain: domain, gpa, length: 4, write: true) else { return nil }
        return apus_atomic_cas32(UnsafeMutablePointer<UInt32>(bitPattern: UInt(pa))!, expected, desired)
    }

    // MARK: events

    func deliver(_ event: EventDelivery) {
        if let port = event.servicePort { Xen.queueService(port: port) }
        guard let d = Hypervisor.domain(Int(event.domain)) else { return }
        if event.upcall, Int(event.vcpu) < d.vcpus.count {
            _ = d.withLock { held in held.withVGIC { $0.raise(GuestLayout.eventChannelPPI, vcpu: Int(event.vcpu)) } }
            Scheduler.kick(d.vcpus[Int(event.vcpu)])
        }
        for w in event.wake where Int(w) < d.vcpus.count { Scheduler.kick(d.vcpus[Int(w)]) }
    }

    // MARK: p2m

    func isRAM(domain: XenDomainID, gfn: UInt64) -> Bool {
        guard gfn < 1 << 27, let d = Hypervisor.domain(Int(domain)) else { return false }
        if d.extraPages.contains(where: { $0.gfn == gfn }) { return true }      // a toolstack domain's magic page
        let gpa = gfn << 12
        guard let home = d.translate(gpa, length: 4096) else { return false }
        return d.withP2M { held in
            // Mapped: RAM unless replaced by a Xen or granted page. Unmapped: RAM nobody
            // touched yet, or a hole.
            if let m = held.p2m.lookup(gpa) { return m.outputAddress == home }
            return held.blocks.isFirstTouch(gpa)
        }
    }

    func mapXenPage(domain: XenDomainID, _ page: XenSharedPage, gfn: UInt64) -> Bool {
        guard let d = Hypervisor.domain(Int(domain)), let x = d.xen else { return false }
        let host: UInt64
        switch page {
        case .sharedInfo:
            host = x.sharedInfo
        case .grantFrame(let i):
            guard let h = x.grantFrame(Int(i)) else { return false }
            host = h
        }
        guard Xen.mapPage(d, gfn: gfn, host: host, permissions: [.read, .write]) else { return false }
        if page == .sharedInfo { Wallclock.publish(into: host, domain: d) }
        return true
    }

    func mapGrant(mapper: XenDomainID, gfn: UInt64, granter: XenDomainID, frame: UInt64, readOnly: Bool) -> UInt64? {
        guard frame < 1 << 27, let m = Hypervisor.domain(Int(mapper)),
              let g = Hypervisor.domain(Int(granter)),
              let hpa = ToolstackDomains.foreignHost(g, .ram(gfn: frame)) else { return nil }
        guard Xen.mapPage(m, gfn: gfn, host: hpa, permissions: readOnly ? [.read] : [.read, .write]) else { return nil }
        return hpa
    }

    func unmapGrant(mapper: XenDomainID, gfn: UInt64, granter: XenDomainID, frame: UInt64) -> Bool {
        guard gfn < 1 << 27, frame < 1 << 27, let m = Hypervisor.domain(Int(mapper)),
              let g = Hypervisor.domain(Int(granter)),
              let hpa = g.extraPages.first(where: { $0.gfn == frame })?.host ?? g.translate(frame << 12, length: 4096) else { return false }
        return m.withP2M { held in
            guard let now = held.p2m.lookup(gfn << 12), now.outputAddress == hpa else { return false }
            // Over the mapper's own RAM the RAM page comes back (it was only hidden); elsewhere a hole.
            if m.translate(gfn << 12, length: 4096) != nil { return held.mapHomePage(gfn << 12) }
            return held.unmap(gfn: gfn)
        }
    }

    func isVCPUDown(domain: XenDomainID, vcpu: UInt32) -> Bool {
        guard let d = Hypervisor.domain(Int(domain)), Int(vcpu) < d.vcpus.count else { return true }
        return d.vcpus[Int(vcpu)].power != .on
    }

    /// Xen's hypercall_preempt_check(): a hypercall that has run for `preemptAfterNS` (the
    /// Xen lock held all along) stops at its next safe point and continues in a later trap,
    /// so that other CPUs waiting for the lock, and this CPU's interrupts, wait no longer
    /// than that. Guest time: under icount the same instructions always preempt at the
    /// same point.
    func now() -> UInt64 { Xen.nowNS }

    func boardFacts() -> XenBoardFacts {
        let r = Hypervisor.ramFacts
        // Free: what a new domain can have now (toolstack domains take from it and give back;
        // the hypervisor's heap grows by it and keeps RAMPool.heapReserve of it).
        return XenBoardFacts(cpus: UInt32(Hypervisor.cpus.count), cpuKHz: UInt32(read_cntfrq_el0() / 1000),
                             totalPages: r.total, freePages: RAMPool.domainFreeBytes >> 12, maxMFN: r.maxMFN)
    }

    func setPaused(_ domain: XenDomainID, _ paused: Bool) {
        guard let d = Hypervisor.domain(Int(domain)) else { return }
        if !paused { ToolstackDomains.trimBank(d) }
        Scheduler.setPaused(d, paused)
    }

    func vcpuPlacement(domain: XenDomainID, vcpu: UInt32) -> (cpu: UInt32, hardAffinity: UInt64) {
        guard let d = Hypervisor.domain(Int(domain)), Int(vcpu) < d.vcpus.count else { return (0, ~0) }
        let v = d.vcpus[Int(vcpu)]
        let affinity = Scheduler.locked { Scheduler.policy.entities[v.schedID].affinity }
        return (UInt32(v.runningOn ?? v.lastCPU), affinity)
    }

    func schedulerParameters(domain: XenDomainID) -> (weight: UInt16, cap: UInt16)? {
        guard let d = Hypervisor.domain(Int(domain)), let v = d.vcpus.first else { return nil }
        let e = Scheduler.locked { Scheduler.policy.entities[v.schedID] }
        return (UInt16(truncatingIfNeeded: e.weight), UInt16(truncatingIfNeeded: e.capPercent))
    }

    func setSchedulerParameters(domain: XenDomainID, weight: UInt16?, cap: UInt16?) {
        guard let d = Hypervisor.domain(Int(domain)) else { return }
        Scheduler.locked {
            for v in d.vcpus {
                Scheduler.policy.setParameters(v.schedID, weight: weight.map { Int($0) }, capPercent: cap.map { Int($0) })
            }
        }
    }

    func schedulerRateLimit() -> UInt32 {
        Scheduler.locked { Scheduler.policy.rateLimitMicroseconds }
    }

    /// The scheduler's clock is the physical counter. Slices already handed out keep their end.
    func setSchedulerRateLimit(_ microseconds: UInt32) -> Bool {
        let ticks = Xen.nsToTicks(UInt64(microseconds) * 1000)
        Scheduler.locked { Scheduler.policy.setRateLimit(microseconds: microseconds, clockUnits: ticks) }
        return true
    }

    func setVCPUAffinity(domain: XenDomainID, vcpu: UInt32, mask: UInt64) -> UInt64? {
        guard let d = Hypervisor.domain(Int(domain)), Int(vcpu) < d.vcpus.count else { return nil }
        let v = d.vcpus[Int(vcpu)]
        let now: UInt64? = Scheduler.locked { Scheduler.policy.setAffinity(v.schedID, mask) }
        // Running on a CPU it may no longer use: that CPU reschedules at its next trap,
        // which the kick makes immediate, and its pick moves the vCPU.
        if let m = now, let c = v.runningOn, c < Hypervisor.cpus.count, m & (1 << UInt64(c)) == 0 {
            Hypervisor.cpus[c].needResched = true
            Scheduler.kick(v)
        }
        return now
    }

    func readConsoleRing(index: UInt32, max: UInt32, incremental: Bool, clear: Bool) -> (bytes: [UInt8], next: UInt32) {
        var r: (bytes: [UInt8], next: UInt32) = ([], index)
        Log.withConsole { _, _ in
            r = Log.ring?.read(index: index, max: max, incremental: incremental, clear: clear) ?? ([], index)
        }
        return r
    }

    /// A domain's RAM is all its own from its build (Xen's tot_pages and max_pages), its
    /// shared_info a hypervisor page whose machine frame Arm Xen reports.
    func domainFacts(_ domain: XenDomainID) -> XenDomainFacts? {
        guard let d = Hypervisor.domain(Int(domain)) else { return nil }
        // A toolstack domain has what populate_physmap gave it, up to max_mem.
        let pages = d.spec.toolstack ? d.toolstackPages : d.ramSize >> 12
        let max = d.spec.toolstack ? d.maxPages : pages
        return XenDomainFacts(totPages: pages, maxPages: max, sharedInfoFrame: (d.xen?.sharedInfo ?? 0) >> 12)
    }

    // MARK: building domains (ToolstackDomains)

    func createDomain(_ id: XenDomainID, vcpus: UInt32, spis: UInt32) -> Bool {
        ToolstackDomains.create(id, vcpus: vcpus, spis: spis)
    }

    func setMaxMemory(_ domain: XenDomainID, pages: UInt64) -> Bool {
        guard let d = Hypervisor.domain(Int(domain)) else { return false }
        return ToolstackDomains.setMaxMemory(d, pages: pages)
    }

    func populate(domain: XenDomainID, gfn: UInt64, order: UInt32) -> Bool {
        guard let d = Hypervisor.domain(Int(domain)) else { return false }
        return ToolstackDomains.populate(d, gfn: gfn, order: order)
    }

    func depopulate(domain: XenDomainID, gfn: UInt64) -> Bool {
        guard let d = Hypervisor.domain(Int(domain)) else { return false }
        return ToolstackDomains.depopulate(d, gfn: gfn)
    }

    func mapForeign(mapper: XenDomainID, gfn: UInt64, owner: XenDomainID, _ page: XenForeignPage, readOnly: Bool) -> Bool {
        guard let m = Hypervisor.domain(Int(mapper)), let o = Hypervisor.domain(Int(owner)) else { return false }
        return ToolstackDomains.mapForeign(mapper: m, gfn: gfn, owner: o, page, readOnly: readOnly)
    }

    func unmapForeign(mapper: XenDomainID, gfn: UInt64, owner: XenDomainID, _ page: XenForeignPage) {
        // The owner may be destroyed already: its memory waits for this (awaitingRelease),
        // and it stays in the table, not released, until then.
        guard let m = Hypervisor.domain(Int(mapper)), let o = Hypervisor.domain(Int(owner)) else { return }
        ToolstackDomains.unmapForeign(mapper: m, gfn: gfn, owner: o)
    }

    func setVCPUContext(domain: XenDomainID, vcpu: UInt32, _ context: XenVCPUContext) -> Bool {
        guard let d = Hypervisor.domain(Int(domain)) else { return false }
        return ToolstackDomains.setContext(d, vcpu: Int(vcpu), context)
    }

    func cacheFlush(domain: XenDomainID, gfn: UInt64, count: UInt64) {
        guard let d = Hypervisor.domain(Int(domain)) else { return }
        ToolstackDomains.cacheFlush(d, gfn: gfn, count: count)
    }

    func hypercallPreemptCheck() -> Bool {
        guard let t0 = since else { return false }
        return read_cntpct_el0() &- t0 > XenBoard.preemptAfterTicks
    }

    static let preemptAfterNS: UInt64 = 20_000
    nonisolated(unsafe) static var preemptAfterTicks: UInt64 = .max

    func frameOwner(machineAddress maddr: UInt64) -> (domain: XenDomainID, gfn: UInt64)? {
        for d in Hypervisor.domains where !d.released {
            if maddr >= d.ram.base && maddr - d.ram.base < d.ram.size {
                return (XenDomainID(d.id), (d.ramIPA + (maddr - d.ram.base)) >> 12)
            }
            if d.moreRAMHolds(maddr, length: 1) { return (XenDomainID(d.id), maddr >> 12) }   // direct-mapped
        }
        return nil
    }

    /// Through the hypervisor's own identity map of RAM (cacheable, as the guest's alias).
    func cacheMaintenance(machineAddress maddr: UInt64, length: Int, clean: Bool, invalidate: Bool) {
        let n = UInt64(length)
        if clean && invalidate { arch_dcache_flush_poc(maddr, n) }
        else if invalidate { arch_dcache_inval_poc(maddr, n) }
        else if clean { arch_dcache_clean_poc(maddr, n) }
    }

    /// Only the control domain may use console_io (issue 11). Xen 4.17 also lets dom0less domUs
    /// (d->is_console; Debian's Xen answers a domU's CONSOLEIO_write with 0): Apus does not,
    /// so that no domain but dom0 reaches the hypervisor's console (docs/dom0.md).
    func consoleIO(caller: XenCaller, cmd: UInt64, count: UInt64, buffer: UInt64) -> Int64 {
        guard let d = current, d.id == Int(caller.domain) else { return XenErrno.EPERM.result }
        return ControlConsole.io(d, cmd: cmd, count: count, buffer: buffer)
    }
}
#endif
