/// Which 2 MiB blocks of a domain's RAM are populated: zeroed and mapped in its p2m.
///
/// A domain's RAM is reserved in full when the domain is built, but each block is zeroed
/// and mapped only when something first touches it: the guest (a stage-2 translation
/// fault), the hypervisor loading its kernel, or a hypercall or grant reaching it. Xen
/// scrubs all of a domain's memory when allocating it; most of a freshly booted Linux's
/// RAM is never touched (about 200 of 256 MiB at "Run /init"), and zeroing it is most of
/// the cost of building the domain. The guarantee is Xen's: a domain never sees a byte it
/// did not write or the hypervisor did not put there. A reboot forgets every block, so a
/// restarted domain is zeroed again the same way, block by block.
public struct RAMBlocks: Sendable {
    public static let blockSize: UInt64 = 0x20_0000

    /// Guest physical base and size of the RAM (size a multiple of `blockSize`).
    public let base: UInt64
    public let size: UInt64
    private var bits: [UInt64]

    public init(base: UInt64, size: UInt64) {
        precondition(base % RAMBlocks.blockSize == 0 && size % RAMBlocks.blockSize == 0, "RAM in whole 2 MiB blocks")
        self.base = base
        self.size = size
        bits = [UInt64](repeating: 0, count: Int((size / RAMBlocks.blockSize + 63) / 64))
    }

    public var count: Int { Int(size / RAMBlocks.blockSize) }

    /// The block holding guest physical `ipa`, nil outside the RAM.
    public func block(containing ipa: UInt64) -> Int? {
        guard ipa >= base, ipa - base < size else { return nil }
        return Int((ipa - base) / RAMBlocks.blockSize)
    }

    /// The blocks [ipa, ipa + length) spans, nil unless all of it is RAM and length > 0.
    public func blocks(_ ipa: UInt64, length: UInt64) -> Range<Int>? {
        guard length > 0, ipa >= base, length <= size, ipa - base <= size - length else { return nil }
        let first = (ipa - base) / RAMBlocks.blockSize
        let last = (ipa - base + length - 1) / RAMBlocks.blockSize
        return Int(first)..<Int(last + 1)
    }

    /// Offset of block `b` from the RAM's start (guest and host alike: RAM is contiguous).
    public func offset(ofBlock b: Int) -> UInt64 { UInt64(b) * RAMBlocks.blockSize }

    public func isPopulated(_ b: Int) -> Bool {
        guard b >= 0, b < count else { return false }
        return bits[b >> 6] & (1 << UInt64(b & 63)) != 0
    }

    public mutating func setPopulated(_ b: Int) {
        guard b >= 0, b < count else { return }
        bits[b >> 6] |= 1 << UInt64(b & 63)
    }

    /// Every block unpopulated again (the domain reboots with a fresh p2m).
    public mutating func forgetAll() {
        for i in bits.indices { bits[i] = 0 }
    }

    /// Whether `ipa` is RAM in a block not yet populated: an access there is a first touch.
    public func isFirstTouch(_ ipa: UInt64) -> Bool {
        guard let b = block(containing: ipa) else { return false }
        return !isPopulated(b)
    }

    /// Bytes populated so far.
    public var populatedBytes: UInt64 {
        var n = 0
        for w in bits { n += w.nonzeroBitCount }
        return UInt64(n) * RAMBlocks.blockSize
    }
}
