#if hasFeature(Embedded)
import AArch64
import ApusCore

/// Domains the toolstack in dom0 creates at run time (xl create): the hypervisor's half of
/// createdomain, max_mem, populate_physmap, decrease_reservation, foreign mappings and
/// setvcpucontext (XenPlatform), and the return of a destroyed domain's memory.
///
/// Every function here runs under the Xen lock (it is called from the Xen core, or takes
/// the lock), which therefore guards each toolstack domain's memory
/// bookkeeping (`Domain.maxPages`, `toolstackPages`, `extraPages`, `foreignRefs`,
/// `awaitingRelease`, `released`).
enum ToolstackDomains {
    /// Scheduler entities of released domains' vCPUs, given to the next ones.
    nonisolated(unsafe) static var freeSchedIDs: [Int] = []
    /// Slots reserved at boot so that adding a domain or a vCPU never moves the arrays
    /// other CPUs read without a lock (Hypervisor.domains, Scheduler.vcpus).
    static let maxDomains = 64
    static let maxVCPUs = 256
    /// Pages outside its RAM bank a domain may have (Xen's four magic pages, and room).
    static let maxExtraPages = 16

    /// createdomain's hypervisor half: a domain with no RAM, `vcpus` vCPUs down, paused.
    static func create(_ id: XenDomainID, vcpus: UInt32, spis: UInt32) -> Bool {
        let n = Int(vcpus)
        // The id's previous holder must be gone (its memory may still be mapped by dom0).
        if let old = Hypervisor.domain(Int(id)), !old.released { return false }
        let fresh = Scheduler.locked { freeSchedIDs.count + (maxVCPUs - Scheduler.vcpus.count) }
        guard fresh >= n, Hypervisor.domains.count < maxDomains || Hypervisor.domains.contains(where: { $0.released }) else {
            return false
        }
        guard let p2m = TranslationTable<HeapTableMemory>(
            regime: .stage2, memory: HeapTableMemory(budget: Domains.p2mTableBudget(0), vmid: UInt64(id & 0xFF))),
            let pages = XenDomainPages(maxGrantFrames: Int(GrantTable.defaultMaxFrames)) else { return false }
        var name: [UInt8] = Array("domain-".utf8)
        name += Array(String(Int(id)).utf8)
        var spec = DomainSpec(name: name, memory: 0, vcpus: n, kernel: PhysicalRange(base: 0, size: 0), ramdisk: nil,
                              bootargs: [], vpl011: false, xenEnhanced: .disabled)
        spec.toolstack = true
        let d = Domain(id: Int(id), spec: spec, ram: PhysicalRange(base: 0, size: 0), p2m: p2m, spis: Int(spis))
        d.xen = pages
        d.paused = true
        d.lifecycle = (.destroy, .destroy, .destroy)
        Scheduler.locked {
            for i in 0..<n {
                let sid: Int
                if let reused = freeSchedIDs.popLast() {
                    sid = reused
                    Scheduler.policy.setParameters(sid, weight: 256, capPercent: 0)
                    _ = Scheduler.policy.setAffinity(sid, ~0)
                } else {
                    sid = Scheduler.policy.add(weight: 256, capPercent: 0, affinity: ~0)
                }
                let v = VCPU(domain: d, index: i, schedID: sid, listRegisters: GICv3.listRegisterCount)
                d.vcpus.append(v)
                if sid < Scheduler.vcpus.count { Scheduler.vcpus[sid] = v } else { Scheduler.vcpus.append(v) }
            }
        }
        if let slot = Hypervisor.domains.firstIndex(where: { $0.released }) {
            let old = Hypervisor.domains[slot]
            Hypervisor.domains[slot] = d
            // The released domain and its vCPUs hold each other (Domain.vcpus, VCPU.domain):
            // let go of its vCPUs so that both are freed, the domain now and each vCPU once
            // its scheduler entity has a new vCPU (until then Scheduler.vcpus keeps it, and it
            // its domain: nothing is freed that a CPU could still reach). No CPU runs them:
            // the domain was released only after its vCPUs had left every CPU.
            old.vcpus.removeAll()
        } else {
            Hypervisor.domains.append(d)
        }
        Log.line {
            Log.put("d"); Log.dec(Int(id)); Log.put(": created by the toolstack, "); Log.dec(n)
            Log.put(" vCPU(s) (hypervisor heap in use: "); Log.dec(Int(apus_heap_used() >> 10)); Log.put(" KiB)")
        }
        return true
    }

    /// max_mem. The first call reserves the RAM bank, whole 2 MiB blocks at
    /// GUEST_RAM0_BASE (at most 3 GiB, Xen's bank 0); later ones stay within it.
    static func setMaxMemory(_ d: Domain, pages: UInt64) -> Bool {
        guard d.spec.toolstack else {
            // Boot-time domains and dom0 have all their RAM already: accept what they hold.
            return pages >= d.ramSize >> 12
        }
        if d.ram.size == 0 {
            let block = RAMBlocks.blockSize
            guard pages <= GuestLayout.ram0MaxSize >> 12 else { return false }
            let bytes = ((pages << 12) + block - 1) & ~(block - 1)
            // From the board's free RAM (what boot left, destroyed domains' banks, less what
            // the heap has grown by), leaving the heap's reserve.
            guard bytes > 0, let r = RAMPool.allocateForDomain(bytes) else { return false }
            d.withP2M { held in held.assignRAM(r) }
        } else if pages > (d.ram.size >> 12) + UInt64(maxExtraPages) {
            return false
        }
        d.maxPages = pages
        return true
    }

    /// populate_physmap for `d` (itself, or the toolstack building it).
    static func populate(_ d: Domain, gfn: UInt64, order: UInt32) -> Bool {
        let count = UInt64(1) << UInt64(order)
        guard gfn < 1 << 27, count <= (1 << 27) - gfn else { return false }
        let gpa = gfn << 12, bytes = count << 12
        if !d.spec.toolstack {
            // Dom0 re-populating a frame it ballooned out: its own page comes back (Xen's
            // direct-mapped populate: gfn == mfn, owned by the domain). Boot-time domUs'
            // RAM is all theirs: only their own pages can come back. A page it gave back
            // is mapped again; one never touched stays for its first touch (so nothing is
            // zeroed here, under the locks).
            if d.translate(gpa, length: bytes) != nil {
                return d.withP2M { held in held.mapBackGivenPages(gpa, count: count) }
            }
            // A boot-time domU's magic page, which init-dom0less in dom0 populates for the
            // XenStore ring it gives the domain (GUEST_MAGIC_BASE + 1): outside its RAM, as
            // for a toolstack domain, and only in the magic region.
            let magic = GuestLayout.magicBase >> 12
            guard !d.spec.control, gfn >= magic, gfn < magic + GuestLayout.magicSize >> 12 else { return false }
            return addExtraPage(d, gfn: gfn, count: count)
        }
        guard d.toolstackPages + count <= d.maxPages else { return false }
        if d.translate(gpa, length: bytes) != nil {
            // In its bank: zeroed and mapped at first touch (RAMBlocks). A frame the domain
            // ballooned out earlier is mapped again now.
            guard d.withP2M({ held in held.mapBackGivenPages(gpa, count: count) }) else { return false }
            d.toolstackPages += count
            d.bankPopulatedEnd = max(d.bankPopulatedEnd, gpa + bytes)
            return true
        }
        // Outside it: single pages (Xen's magic pages at GUEST_MAGIC_BASE).
        guard addExtraPage(d, gfn: gfn, count: count) else { return false }
        d.toolstackPages += 1
        return true
    }

    /// One zeroed heap page mapped at `gfn`, outside the domain's RAM bank (at most
    /// `maxExtraPages` of them per domain).
    private static func addExtraPage(_ d: Domain, gfn: UInt64, count: UInt64) -> Bool {
        guard count == 1, !d.extraPages.contains(where: { $0.gfn == gfn }), d.extraPages.count < maxExtraPages,
              let host = PhysicalMemory.allocatePages(1) else { return false }
        PhysicalMemory.flushToRAM(host, count: 4096)
        guard d.withP2M({ held in held.mapForeign(gfn: gfn, host: host, permissions: [.read, .write]) }) else {
            apus_free_page(host)
            return false
        }
        d.extraPages.append((gfn, host))
        return true
    }

    /// The toolstack's build is done (setvcpucontext, which libxl issues after populating
    /// and loading, or else the first unpause): the blocks of its bank past the highest
    /// frame the toolstack populated go back to the board. libxl's max_mem is the domain's
    /// memory plus 1 MiB of slack (LIBXL_MAXMEM_CONSTANT), which Xen never allocates; the
    /// bank, reserved at max_mem in whole 2 MiB blocks, would otherwise keep it (and its
    /// rounding) for the domain's life. The guest's own populate_physmap stays within what
    /// is left (its memory node, which libxl wrote, is within it).
    static func trimBank(_ d: Domain) {
        guard d.spec.toolstack, !d.bankTrimmed, d.ram.size > 0 else { return }
        d.bankTrimmed = true
        let block = RAMBlocks.blockSize
        let keep = d.bankPopulatedEnd > d.ramIPA
            ? min(d.ram.size, ((d.bankPopulatedEnd - d.ramIPA) + block - 1) & ~(block - 1)) : d.ram.size
        guard keep < d.ram.size, let tail = d.withP2M({ held in held.shrinkRAM(to: keep) }) else { return }
        RAMPool.locked { _ = $0.release(tail) }
    }

    /// decrease_reservation of one frame: unmapped. Dom0 keeps the page (direct-mapped);
    /// a toolstack domain's page stays in its bank, counted out until populated again.
    static func depopulate(_ d: Domain, gfn: UInt64) -> Bool {
        guard gfn < 1 << 27 else { return false }
        let gpa = gfn << 12
        if let i = d.extraPages.firstIndex(where: { $0.gfn == gfn }) {
            guard d.withP2M({ held in held.unmap(gfn: gfn) }) else { return false }
            // Still mapped by dom0 (a console ring): the page waits for the domain's release.
            if d.foreignRefs == 0 {
                apus_free_page(d.extraPages[i].host)
                d.extraPages.remove(at: i)
            }
            d.toolstackPages -= min(d.toolstackPages, 1)
            return true
        }
        guard d.translate(gpa, length: 4096) != nil else { return false }
        let ok = d.withP2M { held -> Bool in
            guard held.p2m.lookup(gpa) != nil || held.blocks.isFirstTouch(gpa) else { return false }
            return held.unmap(gfn: gfn)
        }
        if ok && d.spec.toolstack { d.toolstackPages -= min(d.toolstackPages, 1) }
        return ok
    }

    /// Host address of `owner`'s page for a foreign mapping (its RAM populated first).
    static func foreignHost(_ owner: Domain, _ page: XenForeignPage) -> UInt64? {
        switch page {
        case .ram(let gfn):
            guard gfn < 1 << 27 else { return nil }
            if let e = owner.extraPages.first(where: { $0.gfn == gfn }) { return e.host }
            return owner.withP2M { held in held.populatedRAM(gfn << 12, length: 4096) }
        case .xen(.grantFrame(let i)):
            return owner.xen?.grantFrame(Int(i))
        case .xen(.sharedInfo):
            return owner.xen?.sharedInfo
        }
    }

    static func mapForeign(mapper m: Domain, gfn: UInt64, owner: Domain, _ page: XenForeignPage, readOnly: Bool) -> Bool {
        guard !owner.released, let host = foreignHost(owner, page) else { return false }
        guard m.withP2M({ held in held.mapForeign(gfn: gfn, host: host, permissions: readOnly ? [.read] : [.read, .write]) }) else {
            return false
        }
        owner.foreignRefs += 1
        return true
    }

    static func unmapForeign(mapper m: Domain, gfn: UInt64, owner: Domain) {
        _ = m.withP2M { held in held.unmap(gfn: gfn) }
        owner.foreignRefs -= min(owner.foreignRefs, 1)
        if owner.foreignRefs == 0 && owner.awaitingRelease { release(owner) }
    }

    /// setvcpucontext: the vCPU's registers as the toolstack gives them; online, it is on
    /// (and runs once the domain is unpaused).
    static func setContext(_ d: Domain, vcpu: Int, _ c: XenVCPUContext) -> Bool {
        guard vcpu < d.vcpus.count, d.paused else { return false }
        trimBank(d)
        let v = d.vcpus[vcpu]
        guard v.runningOn == nil else { return false }
        v.reset(entry: c.pc, x0: c.x[0])
        v.frame.x.1 = c.x[1]; v.frame.x.2 = c.x[2]; v.frame.x.3 = c.x[3]
        v.frame.spsr = c.cpsr
        v.el1.sp0 = c.spEL0; v.el1.sp1 = c.spEL1; v.el1.elr1 = c.elrEL1; v.el1.spsr1 = c.spsrEL1
        if c.sctlr != 0 { v.el1.sctlr = c.sctlr }
        v.el1.tcr = c.ttbcr; v.el1.ttbr0 = c.ttbr0; v.el1.ttbr1 = c.ttbr1
        d.withLock { held in v.setPower(c.online ? .onPending : .off, held) }
        if c.online { Scheduler.powerOn(v) }
        return true
    }

    /// XEN_DOMCTL_cacheflush: what dom0 wrote into the domain reaches RAM before its vCPUs
    /// run with caches off.
    static func cacheFlush(_ d: Domain, gfn: UInt64, count: UInt64) {
        var i: UInt64 = 0
        while i < count {
            let g = gfn &+ i
            i += 1
            guard g < 1 << 27 else { break }
            if let e = d.extraPages.first(where: { $0.gfn == g }) { PhysicalMemory.flushToRAM(e.host, count: 4096); continue }
            let host: UInt64? = d.withP2M { held in
                guard let m = held.p2m.lookup(g << 12), m.kind == .normal else { return nil }
                return m.outputAddress & ~0xFFF
            }
            if let h = host { PhysicalMemory.flushToRAM(h, count: 4096) }
        }
    }

    /// The domain was torn down (its DomainJob completed): a toolstack domain's memory goes
    /// back to the board now, or when dom0 has unmapped the last of its pages. Dom0 hears of
    /// every domain's end (VIRQ_DOM_EXC, as Xen's domain_kill sends it): xenstored then drops
    /// a boot-time domain init-dom0less introduced, and fires @releaseDomain.
    static func destroyed(_ d: Domain) {
        Xen.locked { x in
            if d.spec.toolstack {
                if d.foreignRefs == 0 { release(d) } else { d.awaitingRelease = true }
            }
            x.withHost { h in h.raiseDomainException(platform: XenBoard(current: nil)) }
        }
    }

    /// Everything the domain had goes: its p2m (and its VMID's TLB entries), RAM bank,
    /// extra pages, Xen pages, scheduler entities; its slot can take a new domain.
    private static func release(_ d: Domain) {
        guard !d.released else { return }
        d.awaitingRelease = false
        let vttbr = d.vttbr
        d.withP2M { held in held.p2m.releaseTables() }
        arch_flush_guest_tlb(vttbr)
        for e in d.extraPages { apus_free_page(e.host) }
        d.extraPages = []
        d.xen?.free()
        d.xen = nil
        if d.ram.size > 0 { RAMPool.locked { _ = $0.release(d.ram) } }
        d.toolstackPages = 0
        Scheduler.locked {
            for v in d.vcpus {
                Scheduler.policy.offline(v.schedID, now: Scheduler.now)
                freeSchedIDs.append(v.schedID)
            }
        }
        d.released = true
        Log.line { Log.put("d"); Log.dec(d.id); Log.put(": memory returned ("); Log.dec(Int(d.ram.size >> 20)); Log.put(" MiB)") }
    }
}
#endif
