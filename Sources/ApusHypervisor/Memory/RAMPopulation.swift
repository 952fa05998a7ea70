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

    /// Zeroes block `b`, cleans it to RAM (a guest may read it with its caches off) and
    /// maps it. Caller holds Xen.lock. False when the p2m has no table left for it.
    func populate(block b: Int) -> Bool {
        let offset = ramBlocks.offset(ofBlock: b)
        let host = ram.base + offset
        PhysicalMemory.zero(host, count: RAMBlocks.blockSize)
        PhysicalMemory.cleanToPoC(host, count: RAMBlocks.blockSize)
        do throws(TranslationError) {
            try p2m.map(input: ramBlocks.base + offset, output: host, size: RAMBlocks.blockSize,
                        kind: .normal, permissions: .all)
        } catch { return false }
        // No TLB maintenance: an entry that faulted is never cached. The barrier makes the
        // new descriptor visible to the table walkers before the guest retries its access.
        arch_dsb_ish()
        ramBlocks.setPopulated(b)
        return true
    }

    /// A guest's stage-2 translation fault at `ipa`: true when the access should simply be
    /// retried, because it was the first touch of a RAM block (now populated) or another
    /// vCPU populated the block meanwhile. False for everything else (a hole in RAM,
    /// MMIO, or no p2m table left), which the caller handles as before.
    func populateOnFault(_ ipa: UInt64) -> Bool {
        // `ram` is immutable: most faults (device MMIO) are told apart without the lock.
        guard ipa >= GuestLayout.ram0Base, ipa - GuestLayout.ram0Base < ram.size else { return false }
        return Xen.locked {
            guard let b = ramBlocks.block(containing: ipa) else { return false }
            if ramBlocks.isPopulated(b) { return p2m.lookup(ipa) != nil }
            return populate(block: b)
        }
    }
}
#endif
