// Reading a host node's interrupts the way Xen does for dom0 (platform_get_irq,
// dt_for_each_irq_map): only specifiers wired to the primary GIC count; those of other
// interrupt controllers (a GPIO block, a nexus) are not Xen's to route and are left alone.

/// An SPI passed through to dom0: routed to it as a hardware interrupt with virq == pirq.
public struct Dom0SPI: Equatable, Sendable {
    public var intid: UInt32
    /// From the specifier's flags: edge (rising or falling) or level; the physical GIC's
    /// GICD_ICFGR is programmed with it, as Xen's irq_set_type does.
    public var edgeTriggered: Bool

    public init(intid: UInt32, edgeTriggered: Bool) {
        self.intid = intid
        self.edgeTriggered = edgeTriggered
    }
}

/// One GIC interrupt of a host node.
struct GICInterrupt: Equatable {
    enum Kind: Equatable { case spi, ppi, other }
    var kind: Kind
    var intid: UInt32
    var flags: UInt32
}

/// The interrupt controllers of the host tree: phandle -> their cell counts.
struct InterruptControllers {
    var gicPhandle: UInt32
    var gicInterruptCells: Int
    var entries: [(phandle: UInt32, interruptCells: Int, addressCells: Int)] = []

    init(tree: DeviceTree, gicPhandle: UInt32, gic: DTNode) {
        self.gicPhandle = gicPhandle
        self.gicInterruptCells = Int(gic.property("#interrupt-cells")?.u32() ?? 3)
        var list: [(phandle: UInt32, interruptCells: Int, addressCells: Int)] = []
        tree.root.forEachNode { _, node, _ in
            guard let p = node.phandle else { return }
            // #address-cells of an interrupt parent defaults to 0 in interrupt-map (Linux, spec 2.4.3).
            // No #interrupt-cells: not an interrupt parent; a specifier naming it ends the walk.
            let ic = node.property("#interrupt-cells")?.u32().map { Int($0) } ?? -1
            let ac = Int(node.property("#address-cells")?.u32() ?? 0)
            list.append((p, ic, ac))
        }
        entries = list
    }

    func cells(of phandle: UInt32) -> (interruptCells: Int, addressCells: Int)? {
        for e in entries where e.phandle == phandle {
            // Bounded: a malformed count must not make the walk skip past the property.
            guard e.interruptCells >= 0, e.interruptCells <= 16, e.addressCells >= 0, e.addressCells <= 4 else { return nil }
            return (e.interruptCells, e.addressCells)
        }
        return nil
    }

    /// A GIC specifier <type number flags>: type 0 is an SPI (INTID 32 + n), type 1 a PPI
    /// (INTID 16 + n); other types (GICv3.1 extended ranges) and numbers outside the ranges
    /// are `.other`, never routed.
    func decode(_ c: [UInt32], at i: Int) -> GICInterrupt? {
        guard gicInterruptCells >= 3, i >= 0, i <= c.count &- gicInterruptCells else { return nil }
        let type = c[i], n = c[i &+ 1], flags = c[i &+ 2]
        if type == 0 && n < 988 { return GICInterrupt(kind: .spi, intid: 32 &+ n, flags: flags) }
        if type == 1 && n < 16 { return GICInterrupt(kind: .ppi, intid: 16 &+ n, flags: flags) }
        return GICInterrupt(kind: .other, intid: 0, flags: flags)
    }

    /// The GIC interrupts of `node` (`interrupts-extended`, else `interrupts` with the node's
    /// or the inherited interrupt parent).
    func interrupts(of node: DTNode, inheritedParent: UInt32?) -> [GICInterrupt] {
        var out: [GICInterrupt] = []
        if let ext = node.property("interrupts-extended")?.cells {
            var i = 0
            while i < ext.count {
                let p = ext[i]
                guard let cells = self.cells(of: p) else { break }
                if p == gicPhandle, let g = decode(ext, at: i &+ 1) { out.append(g) }
                i = i &+ 1 &+ cells.interruptCells
            }
            return out
        }
        guard let ints = node.property("interrupts")?.cells,
              let parent = node.property("interrupt-parent")?.u32() ?? inheritedParent,
              parent == gicPhandle, gicInterruptCells >= 3 else { return out }
        var i = 0
        while let g = decode(ints, at: i) {
            out.append(g)
            i &+= gicInterruptCells
        }
        return out
    }

    /// The GIC interrupts a PCI host bridge's `interrupt-map` routes its INTx lines to.
    /// Each entry: child unit address (the bridge's #address-cells), child specifier (its
    /// #interrupt-cells), parent phandle, parent unit address and specifier (the parent's counts).
    func interruptMap(of node: DTNode) -> [GICInterrupt] {
        var out: [GICInterrupt] = []
        guard let map = node.property("interrupt-map")?.cells else { return out }
        let childCells = Int(node.property("#address-cells")?.u32() ?? 0) &+ Int(node.property("#interrupt-cells")?.u32() ?? 0)
        guard childCells >= 0, childCells <= 8 else { return out }
        var i = 0
        while i <= map.count &- (childCells &+ 1) {
            let p = map[i &+ childCells]
            guard let cells = self.cells(of: p) else { break }
            let specifier = i &+ childCells &+ 1 &+ cells.addressCells
            if p == gicPhandle, let g = decode(map, at: specifier) { out.append(g) }
            i = specifier &+ cells.interruptCells
        }
        return out
    }
}
