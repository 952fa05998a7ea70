/// Xen's guest physical memory map for Arm domains (xen/include/public/arch-arm.h),
/// kept so that guests built for Xen find everything where they expect it.
public enum GuestLayout {
    public static let ram0Base: UInt64 = 0x4000_0000
    public static let ram0MaxSize: UInt64 = 0xC000_0000          // 3 GiB
    public static let ram1Base: UInt64 = 0x2_0000_0000
    /// GUEST_GNTTAB_BASE/SIZE: where the guest maps its grant table frames; `reg` 0 of the
    /// `/hypervisor` DT node.
    public static let grantTableBase: UInt64 = 0x3800_0000
    public static let grantTableSize: UInt64 = 0x100_0000
    /// GUEST_MAGIC_BASE/SIZE: the toolstack's "magic" pages. xl (tools/libs/guest/xg_dom_arm.c,
    /// alloc_magic_pages) populates 4 pages from the base: console ring at +0, XenStore ring at +1,
    /// the mem_access ring at +2 and the vuart ring at +3 (page offsets), and publishes their frame
    /// numbers in HVM_PARAM_CONSOLE_PFN and HVM_PARAM_STORE_PFN. Dom0less (Xen 4.17
    /// tools/helpers/init-dom0less.c) puts the XenStore page at the same +1.
    public static let magicBase: UInt64 = 0x3900_0000
    public static let magicSize: UInt64 = 0x100_0000
    public static let magicConsolePage: UInt64 = 0        // CONSOLE_PFN_OFFSET
    public static let magicXenStorePage: UInt64 = 1       // XENSTORE_PFN_OFFSET
    public static let magicMemAccessPage: UInt64 = 2      // MEMACCESS_PFN_OFFSET
    public static let magicVUARTPage: UInt64 = 3          // VUART_PFN_OFFSET
    /// GUEST_EVTCHN_PPI: the event-channel upcall, `interrupts` of the `/hypervisor` node.
    public static let eventChannelPPI = 31
    public static let virtualTimerPPI = 27
    public static let physicalTimerPPI = 30
    public static let securePhysicalTimerPPI = 29
    public static let hypervisorTimerPPI = 26
}

/// The arm64 Linux `Image` header (Documentation/arch/arm64/booting.rst).
public struct LinuxImageHeader: Equatable, Sendable {
    public var textOffset: UInt64
    public var imageSize: UInt64
    public var flags: UInt64

    /// Parses the first 64 bytes; nil if the magic "ARM\x64" is missing.
    public init?(_ b: [UInt8]) {
        guard b.count >= 64, b[56] == 0x41, b[57] == 0x52, b[58] == 0x4D, b[59] == 0x64 else { return nil }
        func u64(_ o: Int) -> UInt64 {
            var v: UInt64 = 0
            for i in 0..<8 { v |= UInt64(b[o + i]) << UInt64(8 * i) }
            return v
        }
        textOffset = u64(8)
        imageSize = u64(16)
        flags = u64(24)
    }
}

/// Where a Linux kernel, its initrd and its DTB go in a domain's RAM: the kernel
/// at the bottom (2 MiB aligned + text_offset), the initrd at the top, the DTB
/// in the 2 MiB-aligned slot below the initrd (booting.rst: the DTB must not share
/// a 2 MiB region with anything that needs other attributes).
public struct GuestBootPlacement: Equatable, Sendable {
    public var kernel: UInt64
    public var initrd: UInt64
    public var dtb: UInt64

    public static func place(ramBase: UInt64, ramSize: UInt64, kernelSize: UInt64, imageSize: UInt64,
                             textOffset: UInt64, initrdSize: UInt64, dtbSize: UInt64) -> GuestBootPlacement? {
        let twoMiB: UInt64 = 0x20_0000
        // imageSize comes from the kernel's header: untrusted, so bounded before any addition.
        guard ramSize >= 4 * twoMiB, ramSize <= 1 << 40, ramBase <= 1 << 48, textOffset < twoMiB, dtbSize <= twoMiB,
              kernelSize <= ramSize, imageSize <= ramSize, initrdSize <= ramSize else { return nil }
        let kernel = ramBase + textOffset
        let kernelEnd = kernel + max(kernelSize, imageSize)
        let top = ramBase + ramSize
        guard initrdSize <= top - ramBase else { return nil }
        let initrd = (top - initrdSize) & ~UInt64(0xFFF)
        guard initrd >= ramBase + twoMiB else { return nil }
        let dtb = ((initrd - dtbSize) & ~(twoMiB - 1))
        guard dtb >= kernelEnd, dtb >= ramBase else { return nil }
        return GuestBootPlacement(kernel: kernel, initrd: initrd, dtb: dtb)
    }
}

/// Where a domain's virtual GICv3 is in its guest physical space: Xen's guest layout
/// (GUEST_GICV3_GICD_BASE, GUEST_GICV3_GICR0_BASE) for domUs, the board's own GIC
/// addresses for a direct-mapped dom0 (as Xen gives its hardware domain).
public struct GuestGICLayout: Equatable, Sendable {
    public var distributor: UInt64
    public var redistributors: UInt64
    public var redistributorsSize: UInt64

    public init(distributor: UInt64, redistributors: UInt64, redistributorsSize: UInt64) {
        self.distributor = distributor
        self.redistributors = redistributors
        self.redistributorsSize = redistributorsSize
    }

    public static let domU = GuestGICLayout(distributor: GICv3Layout.distributorBase,
                                            redistributors: GICv3Layout.redistributorBase,
                                            redistributorsSize: GICv3Layout.redistributorRegionSize)
}
