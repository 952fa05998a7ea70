#if hasFeature(Embedded)
import AArch64
import ApusCore

/// Loading a domain's kernel, initrd and DTB into its RAM in bounded steps (a reboot
/// happens while other domains run: the whole load in one trap was milliseconds at EL2
/// with interrupts masked). Each `step` does one of: building the DTB; claiming the blocks
/// under the three ranges; zeroing one 128 KiB chunk of a block they do not cover whole;
/// mapping a few blocks; copying and cleaning to RAM 64 KiB of the kernel or initrd;
/// writing the DTB. None of the domain's vCPUs runs meanwhile and no other domain reaches
/// its RAM (its grants are gone), so the claimed blocks are zeroed and filled with no lock
/// held; blocks a range covers whole are not zeroed at all (the copy overwrites every byte).
/// The boot modules stay reserved in host memory for the board's lifetime, so a reboot
/// can do it again. Board boot runs the same steps to the end (`Domains.load`).
final class BootLoad {
    enum Progress { case more, done, failed }
    private enum Phase { case tree, claim, zero, map, copy, finish }

    let domain: Domain
    private var phase = Phase.tree
    private var dtb: [UInt8] = []
    private var ranges: [(ipa: UInt64, length: UInt64)] = []
    private var dest: [UInt64] = []
    /// Blocks claimed for the load, and those of them to zero (not covered whole).
    private var fresh: [Int] = []
    private var toZero: [Int] = []
    private var next = 0
    private var chunk = 0
    /// Kernel and initrd: (host destination, host source, bytes), and how far the copy is.
    private var copies: [(dst: UInt64, src: UInt64, count: UInt64)] = []
    private var copied: UInt64 = 0

    /// Bytes copied per step: memcpy moves 64 bytes in ~20 instructions, so 64 KiB is about
    /// 20 us under icount with its cache clean.
    static let copyPiece: UInt64 = 0x1_0000
    /// Blocks mapped per step (one descriptor each, a table at most).
    static let mapsPerStep = 4

    init(_ d: Domain) { domain = d }

    func step() -> Progress {
        let d = domain
        guard let b = d.boot else { return .failed }
        let s = d.spec
        switch phase {
        case .tree:
            guard let t = d.boot?.dtb(domain: d.id, boot: d.restarts) else { return .failed }
            dtb = t
            ranges = [(b.kernelIPA, s.kernel.size), (b.dtbIPA, UInt64(dtb.count))]
            if let rd = s.ramdisk, rd.size > 0 { ranges.append((b.initrdIPA, rd.size)) }
            phase = .claim
        case .claim:
            let ok: Bool = d.withP2M { held in
                for r in ranges {
                    guard let pa = d.translate(r.ipa, length: r.length), let bs = held.blocks.blocks(r.ipa, length: r.length) else { return false }
                    dest.append(pa)
                    for blk in bs where held.blocks.claim(blk) { fresh.append(blk) }
                }
                return true
            }
            guard ok else { return .failed }
            for blk in fresh {
                let start = d.ramIPA + UInt64(blk) * RAMBlocks.blockSize
                let whole = ranges.contains { r in r.ipa <= start && start - r.ipa <= r.length &- RAMBlocks.blockSize && r.length >= RAMBlocks.blockSize }
                if !whole { toZero.append(blk) }
            }
            copies = [(dest[0], s.kernel.base, s.kernel.size)]
            if let rd = s.ramdisk, dest.count > 2 { copies.append((dest[2], rd.base, rd.size)) }
            next = 0
            chunk = 0
            phase = .zero
        case .zero:
            guard next < toZero.count else { next = 0; phase = .map; break }
            d.zero(block: toZero[next], chunk: chunk)
            chunk += 1
            if chunk == RAMBlocks.chunksPerBlock { chunk = 0; next += 1 }
        case .map:
            guard next < fresh.count else { next = 0; copied = 0; phase = .copy; break }
            let end = min(next + BootLoad.mapsPerStep, fresh.count)
            let ok: Bool = d.withP2M { held in
                for i in next..<end where !held.mapBlock(fresh[i]) { return false }
                return true
            }
            guard ok else { return .failed }
            next = end
        case .copy:
            guard next < copies.count else { phase = .finish; break }
            let c = copies[next]
            let n = min(BootLoad.copyPiece, c.count - copied)
            PhysicalMemory.copy(to: c.dst + copied, from: c.src + copied, count: n)
            PhysicalMemory.flushToRAM(c.dst + copied, count: n)
            copied += n
            if copied == c.count { copied = 0; next += 1 }
        case .finish:
            dtb.withUnsafeBufferPointer { p in
                if let base = p.baseAddress { PhysicalMemory.copy(to: dest[1], from: UInt64(UInt(bitPattern: base)), count: UInt64(p.count)) }
            }
            PhysicalMemory.flushToRAM(dest[1], count: UInt64(dtb.count))
            dtb = []
            // The previous boot's code may still be in the instruction caches (a reboot).
            arch_ic_ialluis()
            return .done
        }
        return .more
    }
}
#endif
