// Translating a node's `reg` into CPU (root) addresses through its ancestors' `ranges`, as
// Xen's dt_device_get_address does before mapping a device into dom0.

/// How one bus maps its children's addresses into its parent's.
enum BusTranslation {
    /// An empty `ranges`: the same addresses.
    case identity
    /// (child base, parent base, size) windows.
    case windows([(child: UInt64, parent: UInt64, size: UInt64)])
    /// No `ranges` (or one Apus cannot read): children's addresses are not CPU addresses.
    case none

    /// The translation `bus` (whose parent has `parentCells`) applies to its children.
    init(bus: DTNode, parentCells: DTCellCounts) {
        guard let r = bus.property("ranges") else { self = .none; return }
        if r.value.isEmpty { self = .identity; return }
        let c = bus.childAddressCells, p = parentCells.addressCells, s = bus.childSizeCells
        guard let w = BusTranslation.windows(r, childCells: c, parentCells: p, sizeCells: s) else {
            self = .none
            return
        }
        self = .windows(w)
    }

    /// Decodes `ranges` entries. A 3-cell child address is PCI's (phys.hi, mid, low): its
    /// low two cells are the address. Nil for cell counts outside what 64 bits hold.
    static func windows(_ r: DTProperty, childCells: Int, parentCells: Int, sizeCells: Int)
        -> [(child: UInt64, parent: UInt64, size: UInt64)]? {
        guard (1...3).contains(childCells), (1...2).contains(parentCells), (1...2).contains(sizeCells),
              let cells = r.cells else { return nil }
        let entry = childCells &+ parentCells &+ sizeCells
        guard cells.count % entry == 0 else { return nil }
        var out: [(child: UInt64, parent: UInt64, size: UInt64)] = []
        var i = 0
        while i < cells.count {
            let childLow = childCells == 3 ? 1 : 0
            guard let child = r.number(atCell: i &+ childLow, count: childCells &- childLow),
                  let parent = r.number(atCell: i &+ childCells, count: parentCells),
                  let size = r.number(atCell: i &+ childCells &+ parentCells, count: sizeCells) else { return nil }
            out.append((child, parent, size))
            i &+= entry
        }
        return out
    }

    /// `range` in the parent's address space, nil when this bus does not pass it through whole.
    func translate(_ range: PhysicalRange) -> PhysicalRange? {
        switch self {
        case .identity: return range
        case .none: return nil
        case .windows(let ws):
            for w in ws where range.base >= w.child && range.size <= w.size && range.base &- w.child <= w.size &- range.size {
                guard w.parent <= UInt64.max &- (range.base &- w.child) &- range.size else { return nil }
                return PhysicalRange(base: w.parent &+ (range.base &- w.child), size: range.size)
            }
            return nil
        }
    }
}

/// The buses between a node and the root, innermost last.
struct AddressPath {
    var buses: [BusTranslation] = []

    /// `range` as the CPU sees it, nil when some bus does not translate it.
    func toCPU(_ range: PhysicalRange) -> PhysicalRange? {
        var r = range
        var i = buses.count
        while i > 0 {
            i &-= 1
            guard let t = buses[i].translate(r) else { return nil }
            r = t
        }
        return r
    }

    /// The CPU ranges of a node's `reg` (entries that do not translate, or are empty, are left out).
    func regs(of node: DTNode, parentCells: DTCellCounts) -> [PhysicalRange] {
        var out: [PhysicalRange] = []
        for e in node.reg(parentCells) ?? [] where e.size > 0 && e.address <= UInt64.max &- e.size {
            if let r = toCPU(PhysicalRange(base: e.address, size: e.size)) { out.append(r) }
        }
        return out
    }
}
