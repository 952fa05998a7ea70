/// VMSAv8-64 translation tables with the 4 KiB granule, as used twice by Apus:
/// the hypervisor's own EL2 stage-1 map, and each domain's stage-2 map (the p2m).
/// Both start at level 1 with a 39-bit input range (T0SZ = 25, one 512-entry root),
/// which covers Xen's guest layout (RAM bank 1 ends below 0x8000000000).
///
/// The table memory is abstract (`TranslationTableMemory`) so the same builder runs
/// on the host in tests and on the board over physical memory.
public protocol TranslationTableMemory {
    /// A zeroed, 4 KiB-aligned table; nil when out of memory.
    mutating func allocateTable() -> UInt64?
    func readEntry(table: UInt64, index: Int) -> UInt64
    mutating func writeEntry(table: UInt64, index: Int, _ value: UInt64)
    /// Gives a table back (only ever called by `releaseTables`, when no walker can see it).
    mutating func freeTable(_ table: UInt64)
    /// Break-before-make, the middle step: a valid entry translating [input, input + size)
    /// in the table rooted at `root` has just been written invalid; before the new entry
    /// is written, no TLB of any CPU may still hold a translation through the old one
    /// (ARM ARM D8.16.1). The board does DSB, TLBI by IPA for the domain's VMID (stage 2)
    /// or by VA (EL2), DSB.
    mutating func invalidateTLB(root: UInt64, regime: TranslationRegime, input: UInt64, size: UInt64)
}

extension TranslationTableMemory {
    public mutating func freeTable(_ table: UInt64) {}
}

public enum TranslationRegime: Sendable {
    case el2Stage1
    case stage2
}

public enum MemoryKind: Sendable, Equatable {
    /// Normal, inner/outer write-back cacheable, inner shareable.
    case normal
    /// Device-nGnRE.
    case device
}

public struct MemoryPermissions: OptionSet, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let read = MemoryPermissions(rawValue: 1)
    public static let write = MemoryPermissions(rawValue: 2)
    public static let execute = MemoryPermissions(rawValue: 4)
    public static let all: MemoryPermissions = [.read, .write, .execute]
}

public struct Mapping: Equatable, Sendable {
    public var outputAddress: UInt64
    public var kind: MemoryKind
    public var permissions: MemoryPermissions
    public var level: Int
}

public enum TranslationError: Error, Equatable, Sendable {
    case misaligned
    case outOfRange
    case outOfMemory
    case alreadyMapped
}

public struct TranslationTable<Memory: TranslationTableMemory> {
    public static var inputBits: Int { 39 }
    public static var pageSize: UInt64 { 4096 }
    /// MAIR_EL2 layout the EL2 descriptors refer to: index 0 Device-nGnRE, index 1 Normal WB.
    public static var mairEL2: UInt64 { 0x04 | (0xFF << 8) }

    public let regime: TranslationRegime
    public let root: UInt64
    public var memory: Memory

    public init?(regime: TranslationRegime, memory: Memory) {
        var m = memory
        guard let r = m.allocateTable() else { return nil }
        self.regime = regime
        self.root = r
        self.memory = m
    }

    static func shift(level: Int) -> UInt64 { UInt64(12 + 9 * (3 - level)) }
    static func blockSize(level: Int) -> UInt64 { 1 << shift(level: level) }
    static func index(_ va: UInt64, level: Int) -> Int { Int((va >> shift(level: level)) & 0x1FF) }
    static var outputMask: UInt64 { 0x0000_FFFF_FFFF_F000 }

    /// Leaf attributes for this regime.
    func leafAttributes(kind: MemoryKind, permissions: MemoryPermissions) -> UInt64 {
        var d: UInt64 = 1 << 10                                  // AF
        switch regime {
        case .el2Stage1:
            d |= (kind == .normal ? 1 : 0) << 2                  // AttrIndx
            d |= (kind == .normal ? 3 : 2) << 8                  // SH: inner / outer
            d |= 1 << 6                                          // AP[1]: RES1 with one privilege level
            if !permissions.contains(.write) { d |= 1 << 7 }     // AP[2]: read-only
            if !permissions.contains(.execute) { d |= 1 << 54 }  // XN
        case .stage2:
            d |= (kind == .normal ? 0xF : 0x1) << 2              // MemAttr
            d |= (kind == .normal ? 3 : 0) << 8
            if permissions.contains(.read) { d |= 1 << 6 }       // S2AP
            if permissions.contains(.write) { d |= 1 << 7 }
            if !permissions.contains(.execute) { d |= 1 << 54 }
        }
        return d
    }

    func decode(_ d: UInt64, level: Int) -> Mapping {
        var perms: MemoryPermissions = []
        let kind: MemoryKind
        switch regime {
        case .el2Stage1:
            kind = (d >> 2) & 7 == 1 ? .normal : .device
            perms.insert(.read)
            if d & (1 << 7) == 0 { perms.insert(.write) }
        case .stage2:
            kind = (d >> 2) & 0xF == 0xF ? .normal : .device
            if d & (1 << 6) != 0 { perms.insert(.read) }
            if d & (1 << 7) != 0 { perms.insert(.write) }
        }
        if d & (1 << 54) == 0 { perms.insert(.execute) }
        let out = d & Self.outputMask & ~(Self.blockSize(level: level) - 1)
        return Mapping(outputAddress: out, kind: kind, permissions: perms, level: level)
    }

    /// Maps [input, input+size) to [output, output+size), using the largest blocks
    /// alignment allows. Existing mappings in the range are replaced; a block that
    /// only partly overlaps is split first.
    public mutating func map(input: UInt64, output: UInt64, size: UInt64,
                             kind: MemoryKind, permissions: MemoryPermissions) throws(TranslationError) {
        let page = Self.pageSize
        guard input % page == 0, output % page == 0, size % page == 0 else { throw .misaligned }
        let limit: UInt64 = 1 << UInt64(Self.inputBits)
        let outputLimit: UInt64 = 1 << 48
        guard size <= limit, input <= limit - size, size <= outputLimit, output <= outputLimit - size else { throw .outOfRange }
        var va = input, pa = output, left = size
        while left > 0 {
            var level = 1
            while level < 3 {
                let bs = Self.blockSize(level: level)
                if va % bs == 0 && pa % bs == 0 && left >= bs { break }
                level += 1
            }
            let desc = pa | leafAttributes(kind: kind, permissions: permissions) | (level == 3 ? 3 : 1)
            try setLeaf(va: va, level: level, descriptor: desc)
            let bs = Self.blockSize(level: level)
            va += bs; pa += bs; left -= bs
        }
    }

    /// Removes mappings in [input, input+size); splits blocks at the edges.
    public mutating func unmap(input: UInt64, size: UInt64) throws(TranslationError) {
        let page = Self.pageSize
        guard input % page == 0, size % page == 0 else { throw .misaligned }
        let limit: UInt64 = 1 << UInt64(Self.inputBits)
        guard size <= limit, input <= limit - size else { throw .outOfRange }
        var va = input, left = size
        while left > 0 {
            var level = 1
            while level < 3 {
                let bs = Self.blockSize(level: level)
                if va % bs == 0 && left >= bs { break }
                level += 1
            }
            try setLeaf(va: va, level: level, descriptor: 0)
            let bs = Self.blockSize(level: level)
            va += bs; left -= bs
        }
    }

    /// Writes `new` over the valid entry `old` at `table[index]`, which translates
    /// [input, input + size): break-before-make (invalid entry, TLB invalidation, new entry),
    /// so that no CPU ever walks two translations of one address at once (which the
    /// architecture calls a TLB conflict, and which may give a mix of both).
    mutating func replaceValid(table: UInt64, index: Int, new: UInt64, input: UInt64, size: UInt64) {
        memory.writeEntry(table: table, index: index, 0)
        memory.invalidateTLB(root: root, regime: regime, input: input, size: size)
        if new != 0 { memory.writeEntry(table: table, index: index, new) }
    }

    /// Walks to `level` for `va`, creating or splitting tables on the way, and writes the leaf.
    /// Valid entries are never overwritten in place (`replaceValid`).
    mutating func setLeaf(va: UInt64, level: Int, descriptor: UInt64) throws(TranslationError) {
        var table = root
        var l = 1
        while l < level {
            let i = Self.index(va, level: l)
            let e = memory.readEntry(table: table, index: i)
            if e & 3 == 3 {
                table = e & Self.outputMask
            } else {
                guard let next = memory.allocateTable() else { throw .outOfMemory }
                if e & 3 == 1 {
                    // Split a block into the next level, keeping its attributes; the new
                    // table replaces the block break-before-make.
                    let childSize = Self.blockSize(level: l + 1)
                    let attrs = e & ~Self.outputMask & ~UInt64(3)
                    let base = e & Self.outputMask & ~(Self.blockSize(level: l) - 1)
                    let type: UInt64 = l + 1 == 3 ? 3 : 1
                    for j in 0..<512 {
                        memory.writeEntry(table: next, index: j, (base + UInt64(j) * childSize) | attrs | type)
                    }
                    let bs = Self.blockSize(level: l)
                    replaceValid(table: table, index: i, new: next | 3, input: va & ~(bs - 1), size: bs)
                } else {
                    memory.writeEntry(table: table, index: i, next | 3)
                }
                table = next
            }
            l += 1
        }
        // A table being replaced by a block or an invalid entry: its pages are left to
        // the pool (mappings change rarely; reclaiming is not worth the complexity).
        let i = Self.index(va, level: level)
        let old = memory.readEntry(table: table, index: i)
        if old & 1 == 0 {
            if descriptor != old { memory.writeEntry(table: table, index: i, descriptor) }
        } else if old != descriptor {
            // A valid leaf or table (everything below it) goes: break-before-make.
            let bs = Self.blockSize(level: level)
            replaceValid(table: table, index: i, new: descriptor, input: va & ~(bs - 1), size: bs)
        }
    }

    /// Frees every table of the tree, the root included: the table must not be used again.
    /// Only when nothing walks it any more (no vCPU of the domain on a CPU, TLBs invalidated).
    public mutating func releaseTables() {
        func release(_ table: UInt64, level: Int) {
            if level < 3 {
                for i in 0..<512 {
                    let e = memory.readEntry(table: table, index: i)
                    if e & 3 == 3 { release(e & Self.outputMask, level: level + 1) }
                }
            }
            memory.freeTable(table)
        }
        release(root, level: 1)
    }

    /// Software walk: what `va` maps to, or nil.
    public func lookup(_ va: UInt64) -> Mapping? {
        guard va < (1 << UInt64(Self.inputBits)) else { return nil }
        var table = root
        for level in 1...3 {
            let e = memory.readEntry(table: table, index: Self.index(va, level: level))
            switch e & 3 {
            case 0, 2: return nil
            case 1:
                if level == 3 { return nil }
                var m = decode(e, level: level)
                m.outputAddress |= va & (Self.blockSize(level: level) - 1)
                return m
            default:
                if level == 3 {
                    var m = decode(e, level: 3)
                    m.outputAddress |= va & 0xFFF
                    return m
                }
                table = e & Self.outputMask
            }
        }
        return nil
    }

    /// TCR_EL2 for this table (non-VHE EL2): T0SZ=25, 4K granule, WB-WA walks, inner shareable.
    public static func tcrEL2(physicalAddressRange: UInt64) -> UInt64 {
        let ps = min(physicalAddressRange & 7, 5)
        return (1 << 31) | (1 << 23) | (ps << 16) | (3 << 12) | (1 << 10) | (1 << 8) | 25
    }

    /// VTCR_EL2 for a stage-2 table: T0SZ=25 (39-bit IPA), SL0=1 (start at level 1).
    public static func vtcrEL2(physicalAddressRange: UInt64) -> UInt64 {
        let ps = min(physicalAddressRange & 7, 5)
        return (1 << 31) | (ps << 16) | (3 << 12) | (1 << 10) | (1 << 8) | (1 << 6) | 25
    }
}
