// The boot modules a boot loader (or `apus run --module`) describes in the boot DTB, as
// Xen 4.17 finds them (xen/arch/arm/bootfdt.c process_multiboot_node): nodes up to depth 3
// with a module compatible; a module whose parent is a `xen,domain` node belongs to that
// dom0less domain, any other to dom0.

public enum BootModuleKind: Equatable, Sendable {
    case kernel
    case ramdisk
    case xsmPolicy
    /// `multiboot,device-tree`: a partial device tree for a dom0less domain.
    case deviceTree
    /// A third or later module of no known kind (Xen would test it for XSM's magic).
    case unknown
}

public struct BootModule: Equatable, Sendable {
    /// Path of the module node, e.g. "/chosen/module@4a000000".
    public var path: [UInt8]
    public var range: PhysicalRange
    public var kind: BootModuleKind
    /// True when the module belongs to a dom0less domain (its parent is `xen,domain`).
    public var domU: Bool
    /// The node's own `bootargs` (for a kernel: its command line), nil when absent.
    public var bootargs: [UInt8]?

    public init(path: [UInt8], range: PhysicalRange, kind: BootModuleKind, domU: Bool, bootargs: [UInt8]? = nil) {
        self.path = path
        self.range = range
        self.kind = kind
        self.domU = domU
        self.bootargs = bootargs
    }
}

public enum BootModules {
    /// Every boot module of the tree in document order, or the first problem: a module
    /// whose `reg` is not one non-empty range, or two modules that overlap.
    /// Besides Xen's `multiboot,module` / `xen,multiboot-module` nodes, a node whose only
    /// compatible names its kind (`multiboot,kernel` and friends) counts too, as Apus's
    /// dom0less parser has always accepted.
    public static func scan(_ dt: DeviceTree) throws(Dom0BootError) -> [BootModule] {
        var found: [BootModule] = []
        var unknownSeen = 0
        var failure: Dom0BootError?
        visit(dt.root, path: [UInt8(ascii: "/")], depth: 0, parentIsDomain: false,
              parentCells: .defaults, into: &found, unknownSeen: &unknownSeen, failure: &failure)
        if let f = failure { throw f }
        // Legacy initrd: /chosen/linux,initrd-start and -end (4- or 8-byte cells) give dom0 a ramdisk.
        if let chosen = dt.node(atPath: "/chosen"),
           let s = chosen.property("linux,initrd-start"), let e = chosen.property("linux,initrd-end") {
            guard let start = cellValue(s), let end = cellValue(e), end > start else {
                throw .badModule(path: Array("/chosen/linux,initrd-start".utf8))
            }
            found.append(BootModule(path: Array("/chosen/linux,initrd-start".utf8),
                                    range: PhysicalRange(base: start, size: end &- start), kind: .ramdisk, domU: false))
        }
        var i = 0
        while i < found.count {
            var j = i &+ 1
            while j < found.count {
                if found[i].range.overlaps(found[j].range) {
                    throw .overlappingModules(found[i].path, found[j].path)
                }
                j &+= 1
            }
            i &+= 1
        }
        return found
    }

    /// A 4- or 8-byte cell value.
    static func cellValue(_ p: DTProperty) -> UInt64? {
        switch p.value.count {
        case 4: return p.u32().map { UInt64($0) }
        case 8: return p.u64()
        default: return nil
        }
    }

    static func isModule(_ n: DTNode) -> Bool {
        guard let c = n.property("compatible") else { return false }
        return c.containsString("multiboot,module") || c.containsString("xen,multiboot-module")
            || c.containsString("multiboot,kernel") || c.containsString("multiboot,ramdisk")
            || c.containsString("xen,linux-zimage") || c.containsString("xen,linux-initrd")
    }

    /// The module kind from its compatible; unknown kinds are guessed by order, as Xen does
    /// (the first unknown is a kernel, the second a ramdisk).
    static func kind(of n: DTNode, unknownSeen: inout Int) -> BootModuleKind {
        if n.isCompatible(with: "multiboot,kernel") || n.isCompatible(with: "xen,linux-zimage") { return .kernel }
        if n.isCompatible(with: "multiboot,ramdisk") || n.isCompatible(with: "xen,linux-initrd") { return .ramdisk }
        if n.isCompatible(with: "xen,xsm-policy") { return .xsmPolicy }
        if n.isCompatible(with: "multiboot,device-tree") { return .deviceTree }
        unknownSeen &+= 1
        switch unknownSeen {
        case 1: return .kernel
        case 2: return .ramdisk
        default: return .unknown
        }
    }

    /// Depth-first up to depth 3 (the root is depth 0), as Xen's early scan looks for modules.
    private static func visit(_ node: DTNode, path: [UInt8], depth: Int, parentIsDomain: Bool,
                              parentCells: DTCellCounts, into found: inout [BootModule],
                              unknownSeen: inout Int, failure: inout Dom0BootError?) {
        guard failure == nil else { return }
        if depth > 0 && isModule(node) {
            guard let regs = node.reg(parentCells), regs.count == 1, regs[0].size > 0,
                  regs[0].address <= UInt64.max &- regs[0].size else {
                failure = .badModule(path: path)
                return
            }
            let k = kind(of: node, unknownSeen: &unknownSeen)
            found.append(BootModule(path: path, range: PhysicalRange(base: regs[0].address, size: regs[0].size),
                                    kind: k, domU: parentIsDomain, bootargs: node.property("bootargs")?.string))
            return
        }
        guard depth < 3 else { return }
        let isDomain = node.isCompatible(with: "xen,domain")
        // A node without #address-cells / #size-cells passes its parent's on, as Xen's
        // device_tree_for_each_node does (not the DT spec's 2/1): QEMU's guest-loader, which
        // Xen users boot dom0 with, writes /chosen/module@ nodes with 2+2-cell reg under a
        // /chosen that has no cell counts.
        let cells = DTCellCounts(addressCells: node.property("#address-cells")?.u32().map { Int($0) } ?? parentCells.addressCells,
                                 sizeCells: node.property("#size-cells")?.u32().map { Int($0) } ?? parentCells.sizeCells)
        for child in node.children {
            var childPath = path
            if childPath.count > 1 { childPath.append(UInt8(ascii: "/")) }
            childPath.append(contentsOf: child.name)
            visit(child, path: childPath, depth: depth &+ 1, parentIsDomain: isDomain, parentCells: cells,
                  into: &found, unknownSeen: &unknownSeen, failure: &failure)
        }
    }
}
