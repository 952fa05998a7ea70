/// Which parts of a domain's RAM are populated: zeroed and mapped in its p2m.
///
/// A domain's RAM is reserved in full when the domain is built, but it is zeroed and mapped
/// only when something first touches it. Xen scrubs all of a domain's memory when
/// allocating it; most of a freshly booted Linux's RAM is never touched (about 200 of
/// 256 MiB at "Run /init"), and zeroing it is most of the cost of building the domain. The
/// guarantee is Xen's: a domain never sees a byte it did not write or the hypervisor did
/// not put there. A reboot forgets everything, so a restarted domain is zeroed again.
///
/// Two grains, because the two kinds of first touch differ in who may wait:
/// - the guest's own first touch (a stage-2 fault) populates a whole 2 MiB block, mapped
///   as one block entry. Zeroing 2 MiB is long (~260k instructions), so it happens with no
///   lock held and one chunk (1/16 of the block) per fault: the block is `claim`ed, each
///   fault on it takes the next chunk (`takeChunk`), zeroes it and returns to the guest,
///   whose retried access faults again, until the last chunk is done and the block is
///   mapped. So no trap spends more than a chunk's zeroing at EL2 (interrupts masked),
///   and several vCPUs faulting on the same block share the work.
/// - the hypervisor's first touch inside a hypercall (an argument, a granted frame, a Xen
///   page over RAM) happens under locks that other CPUs wait for, so it populates only the
///   4 KiB page it needs: the block becomes `partial`, and its other pages are populated
///   one at a time at their own first touch.
public struct RAMBlocks: Sendable {
    public static let blockSize: UInt64 = 0x20_0000
    public static let pageSize: UInt64 = 0x1000
    public static let pagesPerBlock = Int(blockSize / pageSize)
    public static let chunksPerBlock = 16
    public static let chunkSize = blockSize / UInt64(chunksPerBlock)

    public enum State: UInt8, Sendable {
        /// Nothing of it is mapped yet.
        case untouched
        /// A CPU is zeroing it (no lock held) to map it as a whole block.
        case claimed
        /// Some of its pages are populated, each mapped on its own.
        case partial
        /// Zeroed and mapped whole.
        case populated
    }

    /// Guest physical base and size of the RAM (size a multiple of `blockSize`).
    public let base: UInt64
    public private(set) var size: UInt64
    private var states: [State]
    /// For claimed blocks: which chunks a CPU has taken to zero, and which are zeroed.
    private var chunksTaken: [UInt16]
    private var chunksDone: [UInt16]
    private static let allChunks = UInt16.max
    /// For partial blocks: one bit per populated page, `pagesPerBlock / 64` words per block
    /// (empty until the first block goes partial: most domains never have one).
    private var pageBits: [UInt64] = []
    private static let wordsPerBlock = pagesPerBlock / 64

    public init(base: UInt64, size: UInt64) {
        precondition(base % RAMBlocks.blockSize == 0 && size % RAMBlocks.blockSize == 0, "RAM in whole 2 MiB blocks")
        self.base = base
        self.size = size
        states = [State](repeating: .untouched, count: Int(size / RAMBlocks.blockSize))
        chunksTaken = [UInt16](repeating: 0, count: states.count)
        chunksDone = chunksTaken
    }

    public var count: Int { states.count }

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

    public func state(_ b: Int) -> State {
        guard b >= 0, b < count else { return .untouched }
        return states[b]
    }

    public func isPopulated(_ b: Int) -> Bool { state(b) == .populated }

    /// untouched -> claimed: true when this caller now owns the block's zeroing (all of
    /// it: its chunks are all taken).
    public mutating func claim(_ b: Int) -> Bool {
        guard b >= 0, b < count, states[b] == .untouched else { return false }
        states[b] = .claimed
        chunksTaken[b] = RAMBlocks.allChunks
        chunksDone[b] = 0
        return true
    }

    /// The next chunk of block `b` to zero (claiming the block if untouched), nil when
    /// every chunk is taken already or the block is not being zeroed whole.
    public mutating func takeChunk(_ b: Int) -> Int? {
        guard b >= 0, b < count else { return nil }
        if states[b] == .untouched {
            states[b] = .claimed
            chunksTaken[b] = 0
            chunksDone[b] = 0
        }
        guard states[b] == .claimed, chunksTaken[b] != RAMBlocks.allChunks else { return nil }
        let c = (~chunksTaken[b]).trailingZeroBitCount
        chunksTaken[b] |= 1 << UInt16(c)
        return c
    }

    /// Chunk `c` of claimed block `b` is zeroed: true when it was the last one (the block
    /// is ready to be mapped).
    public mutating func chunkZeroed(_ b: Int, _ c: Int) -> Bool {
        guard b >= 0, b < count, states[b] == .claimed, c >= 0, c < RAMBlocks.chunksPerBlock else { return false }
        chunksDone[b] |= 1 << UInt16(c)
        return chunksDone[b] == RAMBlocks.allChunks
    }

    /// A claim given up (the block could not be mapped): untouched again.
    public mutating func unclaim(_ b: Int) {
        guard b >= 0, b < count, states[b] == .claimed else { return }
        states[b] = .untouched
        chunksTaken[b] = 0
        chunksDone[b] = 0
    }

    /// Zeroed and mapped whole (from untouched or claimed; a partial block stays partial).
    public mutating func setPopulated(_ b: Int) {
        guard b >= 0, b < count, states[b] == .untouched || states[b] == .claimed else { return }
        states[b] = .populated
    }

    /// Is the RAM page holding `ipa` zeroed (its block whole, or the page itself)?
    public func isPagePopulated(_ ipa: UInt64) -> Bool {
        guard let b = block(containing: ipa) else { return false }
        switch states[b] {
        case .populated: return true
        case .untouched, .claimed: return false
        case .partial:
            let (w, bit) = pageBit(ipa, block: b)
            return pageBits[w] & bit != 0
        }
    }

    /// The page holding `ipa` was zeroed and mapped on its own: its block becomes partial
    /// (from untouched; a claimed block is being zeroed whole and must not be changed).
    /// False when it cannot be (outside RAM, or the block is claimed or already whole).
    @discardableResult
    public mutating func setPagePopulated(_ ipa: UInt64) -> Bool {
        guard let b = block(containing: ipa) else { return false }
        switch states[b] {
        case .claimed, .populated: return false
        case .untouched: markPartial(b)
        case .partial: break
        }
        let (w, bit) = pageBit(ipa, block: b)
        pageBits[w] |= bit
        return true
    }

    /// A page of untouched block `b` is about to be mapped to something other than its RAM
    /// (a Xen page, a granted frame): the block is partial from now on, so that it is never
    /// mapped whole over that page, and its RAM pages are populated one at a time.
    public mutating func markPartial(_ b: Int) {
        guard b >= 0, b < count, states[b] == .untouched else { return }
        if pageBits.isEmpty { pageBits = [UInt64](repeating: 0, count: count * RAMBlocks.wordsPerBlock) }
        states[b] = .partial
    }

    private func pageBit(_ ipa: UInt64, block b: Int) -> (word: Int, bit: UInt64) {
        let page = Int((ipa - base - offset(ofBlock: b)) / RAMBlocks.pageSize)
        return (b * RAMBlocks.wordsPerBlock + page / 64, 1 << UInt64(page % 64))
    }

    /// The RAM ends after its first `n` blocks; false (nothing changes) unless every block
    /// past them is untouched. A toolstack domain's bank gives back what its build did not
    /// populate.
    public mutating func truncate(toBlocks n: Int) -> Bool {
        guard n >= 0, n <= count else { return false }
        for b in n..<count where states[b] != .untouched { return false }
        states.removeLast(count - n)
        chunksTaken.removeLast(chunksTaken.count - n)
        chunksDone.removeLast(chunksDone.count - n)
        if !pageBits.isEmpty { pageBits.removeLast(pageBits.count - n * RAMBlocks.wordsPerBlock) }
        size = UInt64(n) * RAMBlocks.blockSize
        return true
    }

    /// Everything unpopulated again (the domain reboots with a fresh p2m).
    public mutating func forgetAll() {
        for i in states.indices { states[i] = .untouched; chunksTaken[i] = 0; chunksDone[i] = 0 }
        pageBits = []
    }

    /// Whether `ipa` is RAM whose page is not populated: an access there is a first touch.
    public func isFirstTouch(_ ipa: UInt64) -> Bool {
        block(containing: ipa) != nil && !isPagePopulated(ipa)
    }

    /// Bytes populated so far.
    public var populatedBytes: UInt64 {
        var n: UInt64 = 0
        for s in states where s == .populated { n += RAMBlocks.blockSize }
        for w in pageBits { n += UInt64(w.nonzeroBitCount) * RAMBlocks.pageSize }
        return n
    }
}
