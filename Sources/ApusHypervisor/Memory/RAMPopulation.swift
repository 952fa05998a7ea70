#if hasFeature(Embedded)
import AArch64
import ApusCore

/// A domain's RAM is zeroed and mapped at its first touch (RAMBlocks says why and in which
/// grain). First touches come from three places:
/// - the guest's stage-2 translation fault (MMIO.handle, instruction aborts): a whole 2 MiB
///   block, zeroed with no lock held (`populateOnFault`);
/// - the hypervisor reaching guest memory inside a hypercall (arguments, shared pages,
///   granted frames) or mapping a Xen page over RAM: one 4 KiB page, under the p2m lock
///   (`P2MLocked.populatePage`), so no lock is ever held across a block's zeroing;
/// - loading the kernel, initrd and DTB while none of the domain's vCPUs runs
///   (`BootLoad`: blocks claimed, zeroed a chunk per step, mapped, then filled).
extension Domain {
    /// A guest's stage-2 translation fault at `ipa`: true when the access should simply be
    /// retried, because it was the first touch of RAM (now populated), or another CPU is
    /// populating it or did so meanwhile. False for everything else (a hole in RAM, MMIO,
    /// or no p2m table left), which the caller handles as before.
    @inline(never)      // rare: the MMIO path that calls it stays small
    func populateOnFault(_ ipa: UInt64) -> Bool {
        // `ram` is immutable: most faults (device MMIO) are told apart without the lock.
        guard ipa >= ramIPA, ipa - ramIPA < ram.size else { return false }
        enum Next { case retry, fault, zero(block: Int, chunk: Int) }
        let next: Next = withP2M { held in
            guard let b = held.blocks.block(containing: ipa) else { return .fault }
            switch held.blocks.state(b) {
            case .populated:
                // Mapped meanwhile by another vCPU; a hole stays a fault.
                return held.p2m.lookup(ipa) != nil ? .retry : .fault
            case .partial:
                // Pages of it were populated one by one: this one joins them.
                if held.blocks.isPagePopulated(ipa) { return held.p2m.lookup(ipa) != nil ? .retry : .fault }
                return held.populatePage(ipa) ? .retry : .fault
            case .untouched, .claimed:
                // One chunk per fault; with every chunk taken, another CPU finishes the block.
                guard let c = held.blocks.takeChunk(b) else { return .retry }
                return .zero(block: b, chunk: c)
            }
        }
        switch next {
        case .retry: return true
        case .fault: return false
        case .zero(let b, let c):
            // With no lock held: nobody else maps, zeroes or reads this chunk while its block
            // is claimed. The guest's retried access faults again for the next chunk.
            zero(block: b, chunk: c)
            return withP2M { held in !held.blocks.chunkZeroed(b, c) || held.mapBlock(b) }
        }
    }

    /// Zeroes chunk `c` of block `b` and cleans it to RAM (no lock held: the caller owns the
    /// chunk, taken from a claimed block).
    func zero(block b: Int, chunk c: Int) {
        let host = ram.base + UInt64(b) * RAMBlocks.blockSize + UInt64(c) * RAMBlocks.chunkSize
        PhysicalMemory.zero(host, count: RAMBlocks.chunkSize)
        PhysicalMemory.flushToRAM(host, count: RAMBlocks.chunkSize)
    }
}

extension P2MLocked {
    /// Maps claimed block `b`, now zeroed, whole; false (the block untouched again) when the
    /// p2m has no table left for it.
    func mapBlock(_ b: Int) -> Bool {
        let offset = UInt64(b) * RAMBlocks.blockSize
        do throws(TranslationError) {
            try p2m.map(input: blocks.base + offset, output: domain.ram.base + offset, size: RAMBlocks.blockSize,
                        kind: .normal, permissions: .all)
        } catch {
            blocks.unclaim(b)
            return false
        }
        // No TLB maintenance: an entry that faulted is never cached. The barrier makes the
        // new descriptor visible to the table walkers before the guest retries its access.
        arch_dsb_ish()
        blocks.setPopulated(b)
        return true
    }

    /// The hypervisor's first touch of the RAM page at `ipa` (Xen's memory is all scrubbed
    /// already; here the page is zeroed now): zeroed, cleaned to RAM and mapped alone,
    /// its block partial. A block being zeroed whole by another CPU is waited for. False
    /// when `ipa` is not RAM or the p2m has no table left.
    func populatePage(_ ipa: UInt64) -> Bool {
        guard settle(ipa) != nil else { return false }
        return blocks.isPagePopulated(ipa) || mapHomePage(ipa)
    }

    /// Maps the RAM page at `ipa` to its own frame, replacing whatever was mapped there (a
    /// Xen page, a granted frame); a page never populated before is zeroed first, so the
    /// guest gets zeros back and not what the frame held in an earlier boot. Caller has
    /// settled its block.
    func mapHomePage(_ ipa: UInt64) -> Bool {
        let page = ipa & ~(RAMBlocks.pageSize - 1)
        guard let host = domain.translate(page, length: RAMBlocks.pageSize) else { return false }
        // In dom0's further banks every page is populated (mapped at build, never zeroed).
        let inBlocks = blocks.block(containing: page) != nil
        if inBlocks && !blocks.isPagePopulated(page) {
            PhysicalMemory.zero(host, count: RAMBlocks.pageSize)
            PhysicalMemory.flushToRAM(host, count: RAMBlocks.pageSize)
        }
        let replacing = p2m.lookup(page) != nil
        do throws(TranslationError) {
            try p2m.map(input: page, output: host, size: RAMBlocks.pageSize, kind: .normal, permissions: .all)
        } catch { return false }
        if replacing { changed() } else { arch_dsb_ish() }
        if inBlocks { blocks.setPagePopulated(page) }
        return true
    }

    /// populate_physmap of `count` pages from `gpa` on RAM the domain already has: the
    /// pages it gave back (populated, now unmapped) are mapped again; pages never touched
    /// stay for their first touch, so nothing is zeroed here. A block nobody touched is
    /// passed over whole (an order-18 extent of a fresh domain is 512 checks, not 2^18).
    /// In dom0's further banks (not in `blocks`) every page is its own and mapped back.
    func mapBackGivenPages(_ gpa: UInt64, count: UInt64) -> Bool {
        var p: UInt64 = 0
        while p < count {
            let a = gpa + (p << 12)
            if let b = blocks.block(containing: a), blocks.state(b) == .untouched {
                let next = (a & ~(RAMBlocks.blockSize - 1)) + RAMBlocks.blockSize
                p += (next - a) >> 12
                continue
            }
            let inBlocks = blocks.block(containing: a) != nil
            if p2m.lookup(a) == nil && (!inBlocks || blocks.isPagePopulated(a)) {
                guard mapHomePage(a) else { return false }
            }
            p += 1
        }
        return true
    }

    /// Maps `host` at `gfn` (a Xen page, a granted frame) over whatever was there. Over RAM
    /// nobody touched, the block goes partial rather than being populated whole: its other
    /// pages stay RAM, populated at their own first touch.
    func mapForeign(gfn: UInt64, host: UInt64, permissions: MemoryPermissions) -> Bool {
        guard gfn < 1 << 27 else { return false }                      // 39-bit IPA space
        let gpa = gfn << 12
        replacingPage(gpa)
        do throws(TranslationError) {
            try p2m.map(input: gpa, output: host, size: RAMBlocks.pageSize, kind: .normal, permissions: permissions)
        } catch { return false }
        changed()
        return true
    }

    /// Removes the mapping at `gfn` (outside RAM: a hole again).
    func unmap(gfn: UInt64) -> Bool {
        guard gfn < 1 << 27 else { return false }
        let gpa = gfn << 12
        replacingPage(gpa)
        do throws(TranslationError) { try p2m.unmap(input: gpa, size: RAMBlocks.pageSize) } catch { return false }
        changed()
        return true
    }

    /// The page at `gpa` is about to stop being the domain's RAM: no CPU may be zeroing its
    /// block, and untouched RAM around it goes partial (populated page by page) rather than
    /// being mapped whole over it later.
    private func replacingPage(_ gpa: UInt64) {
        if let b = settle(gpa), blocks.state(b) == .untouched { blocks.markPartial(b) }
    }

    /// An existing mapping changed: the shared-page cache is stale. (TLBs are not: the
    /// table replaced the entry break-before-make, invalidating this domain's VMID only.)
    private func changed() {
        generation &+= 1
    }

    /// The block of `ipa`, once no CPU is zeroing it any more; nil outside RAM. Chunks of it
    /// nobody has taken yet are zeroed here, with the p2m lock dropped (the hypervisor
    /// cannot wait for a guest's next fault); chunks another CPU is zeroing are waited for.
    /// This is the one path that can zero up to a whole block in one trap: a hypervisor
    /// access racing a guest's own first touch of the same block.
    func settle(_ ipa: UInt64) -> Int? {
        guard let b = blocks.block(containing: ipa) else { return nil }
        while blocks.state(b) == .claimed {
            if let c = blocks.takeChunk(b) {
                unlocked { domain.zero(block: b, chunk: c) }
                if blocks.chunkZeroed(b, c) { _ = mapBlock(b) }
            } else {
                unlocked { arch_yield() }
            }
        }
        return b
    }

    /// Host address of populated RAM [ipa, ipa + length), its untouched pages populated
    /// first; nil outside RAM or when a page could not be mapped.
    func populatedRAM(_ ipa: UInt64, length: UInt64) -> UInt64? {
        guard length > 0, let pa = domain.translate(ipa, length: length) else { return nil }
        if blocks.block(containing: ipa) == nil { return pa }          // dom0's further banks: mapped at build
        var page = ipa & ~(RAMBlocks.pageSize - 1)
        while page < ipa &+ length {
            if !blocks.isPagePopulated(page) { guard populatePage(page) else { return nil } }
            page &+= RAMBlocks.pageSize
        }
        return pa
    }

    /// Host address of guest physical `gpa` (within one page) for a shared-page access, or
    /// nil when unmapped or lacking the permission; RAM nobody touched yet is populated
    /// first. The p2m maps only the domain's RAM, its Xen pages and pages granted to it,
    /// so the result is memory the domain may touch. The last page looked up is cached
    /// until the p2m changes (shared_info, vcpu_info and grant entries are touched at every
    /// event).
    func sharedAddress(_ gpa: UInt64, write: Bool) -> UInt64? {
        let gfn = gpa >> 12
        if let c = sharedPage, c.gfn == gfn, c.generation == generation {
            guard !write || c.writable else { return nil }
            return c.host | (gpa & 0xFFF)
        }
        guard let m = p2m.lookup(gpa) ?? firstTouch(gpa) else { return nil }
        guard m.kind == .normal, m.permissions.contains(.read) else { return nil }
        let writable = m.permissions.contains(.write)
        sharedPage = (gfn, m.outputAddress & ~0xFFF, writable, generation)
        guard !write || writable else { return nil }
        return m.outputAddress
    }

    @inline(never)      // rare: the shared-page path stays small
    private func firstTouch(_ gpa: UInt64) -> Mapping? {
        guard blocks.isFirstTouch(gpa), populatePage(gpa) else { return nil }
        return p2m.lookup(gpa)
    }
}
#endif
