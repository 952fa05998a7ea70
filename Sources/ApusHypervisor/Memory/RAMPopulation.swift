#if hasFeature(Embedded)
import AArch64
import ApusCore

/// A domain's RAM is zeroed and mapped one 2 MiB block at a time, at its first touch
/// (RAMBlocks says why). First touches come from three places: a stage-2 translation
/// fault of the guest (MMIO.handle, instruction aborts), the hypervisor reaching guest
/// memory (loading the kernel, hypercall arguments, shared pages, grants), and a Xen page
/// mapped over RAM (the block must be whole before a 4 KiB page splits it). Everything
/// here runs under Xen.lock, which already orders every other p2m change.
extension Domain {
    /// Host address of RAM [ipa, ipa + length), every block of it populated first; nil
    /// outside RAM or when a block could not be mapped. Caller holds Xen.lock.
    func populatedRAM(_ ipa: UInt64, length: UInt64) -> UInt64? {
        guard let pa = translate(ipa, length: length), let range = ramBlocks.blocks(ipa, length: length) else { return nil }
        for b in range where !ramBlocks.isPopulated(b) {
            guard populate(block: b) else { return nil }
        }
        return pa
    }

    /// Populates the block of `ipa` when it is RAM nobody has touched yet: true when it did
    /// so, false when there was nothing to do or the block could not be mapped. Caller holds
    /// Xen.lock.
    func populateIfUntouched(_ ipa: UInt64) -> Bool {
        guard let b = ramBlocks.block(containing: ipa), !ramBlocks.isPopulated(b) else { return false }
        return populate(block: b)
    }

    /// Zeroes block `b` and cleans it to RAM (a guest may read it with its caches off), then
    /// maps it. Caller holds Xen.lock. False when the p2m has no table left for it. At most
    /// one 2 MiB block per call: the lock is held for one block's zeroing.
    func populate(block b: Int) -> Bool {
        zero(block: b)
        return map(block: b)
    }

    private func zero(block b: Int) {
        let host = ram.base + ramBlocks.offset(ofBlock: b)
        PhysicalMemory.zero(host, count: RAMBlocks.blockSize)
        PhysicalMemory.flushToRAM(host, count: RAMBlocks.blockSize)
    }

    /// Caller holds Xen.lock.
    private func map(block b: Int) -> Bool {
        let offset = ramBlocks.offset(ofBlock: b)
        do throws(TranslationError) {
            try p2m.map(input: ramBlocks.base + offset, output: ram.base + offset, size: RAMBlocks.blockSize,
                        kind: .normal, permissions: .all)
        } catch { return false }
        // No TLB maintenance: an entry that faulted is never cached. The barrier makes the
        // new descriptor visible to the table walkers before the guest retries its access.
        arch_dsb_ish()
        ramBlocks.setPopulated(b)
        return true
    }

    /// Populates the blocks under `ranges`, which are about to be filled (kernel, initrd,
    /// DTB), and returns the ranges' host addresses; nil if one is not RAM or a block could
    /// not be mapped. Only for a domain that is being built or rebooted: none of its vCPUs
    /// runs and no other domain reaches its RAM (its grants are gone), so nobody can write a
    /// block between its zeroing and its mapping. That lets the zeroing, the long part,
    /// happen outside Xen.lock, and skip blocks a range covers whole (the copy overwrites
    /// every byte of them, and is flushed to RAM by the caller).
    func populateForLoad(_ ranges: [(ipa: UInt64, length: UInt64)]) -> [UInt64]? {
        var fresh: [Int] = []
        let hosts: [UInt64]? = Xen.locked {
            var out: [UInt64] = []
            for r in ranges {
                guard let pa = translate(r.ipa, length: r.length), let bs = ramBlocks.blocks(r.ipa, length: r.length) else { return nil }
                out.append(pa)
                for b in bs where !ramBlocks.isPopulated(b) && !fresh.contains(b) { fresh.append(b) }
            }
            return out
        }
        guard let hosts else { return nil }
        for b in fresh {
            let start = ramBlocks.base + ramBlocks.offset(ofBlock: b)
            let whole = ranges.contains { r in r.ipa <= start && start - r.ipa <= r.length &- RAMBlocks.blockSize && r.length >= RAMBlocks.blockSize }
            if !whole { zero(block: b) }
        }
        let mapped: Bool = Xen.locked {
            for b in fresh where !ramBlocks.isPopulated(b) {
                guard map(block: b) else { return false }
            }
            return true
        }
        return mapped ? hosts : nil
    }

    /// A guest's stage-2 translation fault at `ipa`: true when the access should simply be
    /// retried, because it was the first touch of a RAM block (now populated) or another
    /// vCPU populated the block meanwhile. False for everything else (a hole in RAM,
    /// MMIO, or no p2m table left), which the caller handles as before.
    @inline(never)      // rare: the MMIO path that calls it stays small
    func populateOnFault(_ ipa: UInt64) -> Bool {
        // `ram` is immutable: most faults (device MMIO) are told apart without the lock.
        guard ipa >= GuestLayout.ram0Base, ipa - GuestLayout.ram0Base < ram.size else { return false }
        return Xen.locked {
            // Another vCPU populated it meanwhile when it is mapped now; a hole stays a fault.
            populateIfUntouched(ipa) || p2m.lookup(ipa) != nil
        }
    }
}
#endif
