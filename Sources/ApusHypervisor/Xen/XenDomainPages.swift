#if hasFeature(Embedded)
import AArch64
import ApusCore

/// Pages the hypervisor owns on behalf of a domain's Xen interfaces, and the event
/// channels of the services it runs for the domain (PV console, XenStore).
final class XenDomainPages {
    /// shared_info: placed in the p2m by XENMEM_add_to_physmap.
    let sharedInfo: UInt64
    /// Grant-table frames, allocated when the guest first maps them.
    var grantFrames: [UInt64]
    /// `xen,enhanced`: PV console ring and (unless no-xenstore) XenStore ring, at Xen's
    /// magic-page addresses.
    var console: UInt64? = nil
    var store: UInt64? = nil
    /// The guest's ports for the two rings, and the hypervisor's ends of them.
    var consolePort: UInt32 = 0, consoleService: UInt32 = 0
    var storePort: UInt32 = 0, storeService: UInt32 = 0
    /// Its XenStore introduction while it is done in steps (a reboot, Xen.introduceStep).
    var introduction: XenStoreIntroduction? = nil

    init?(maxGrantFrames: Int) {
        guard let s = PhysicalMemory.allocatePages(1) else { return nil }
        sharedInfo = s
        grantFrames = [UInt64](repeating: 0, count: maxGrantFrames)
    }

    func grantFrame(_ i: Int) -> UInt64? {
        guard i >= 0, i < grantFrames.count else { return nil }
        if grantFrames[i] == 0, let p = PhysicalMemory.allocatePages(1) { grantFrames[i] = p }
        return grantFrames[i] == 0 ? nil : grantFrames[i]
    }

    /// The domain is gone: its pages go back to the heap.
    func free() {
        apus_free_page(sharedInfo)
        for p in grantFrames where p != 0 { apus_free_page(p) }
        grantFrames = []
        if let c = console { apus_free_page(c) }
        if let s = store { apus_free_page(s) }
        console = nil
        store = nil
    }

    /// A fresh start (domain reboot): every page zero again, as for a new domain.
    func zero() {
        PhysicalMemory.zero(sharedInfo, count: 4096)
        for p in grantFrames where p != 0 { PhysicalMemory.zero(p, count: 4096) }
        if let c = console { PhysicalMemory.zero(c, count: 4096) }
        if let s = store { PhysicalMemory.zero(s, count: 4096) }
    }
}

/// The guest's wallclock: shared_info's wc_* hold the time of day at which the domain's
/// clock read zero (Linux adds its monotonic time to it: xen_read_wallclock). The board's
/// RTC is read once at boot; the counter carries it forward.
enum Wallclock {
    nonisolated(unsafe) static var bootSeconds: UInt64 = 0
    nonisolated(unsafe) static var bootCount: UInt64 = 0

    /// Reads the PL031's data register (seconds since the epoch) if the board has one.
    static func discover(rtc: PhysicalRange?) {
        bootCount = read_cntpct_el0()
        guard let r = rtc else { return }
        bootSeconds = UInt64(mmio_read32(r.base))
    }

    /// Writes wc_version (odd while changing), wc_sec, wc_nsec, wc_sec_hi into the page.
    static func publish(into sharedInfo: UInt64, domain d: Domain) {
        let f = max(Hypervisor.counterFrequency, 1)
        // Time of day when the guest's virtual counter was zero: the board's reset (guests run
        // with no counter offset, see Domains.start), bootCount ticks before the RTC was read.
        var sec = bootSeconds, nsec: UInt64 = 0
        let back = (bootCount % f) &* 1_000_000_000 / f
        sec = sec >= bootCount / f ? sec - bootCount / f : 0
        if back > 0 && sec > 0 { sec -= 1; nsec = 1_000_000_000 - back }
        let base = UnsafeMutablePointer<UInt32>(bitPattern: UInt(sharedInfo))!
        let v = (base + XenLayout.SharedInfo.wcVersion / 4).pointee
        (base + XenLayout.SharedInfo.wcVersion / 4).pointee = v | 1
        arch_dsb_ish()
        (base + XenLayout.SharedInfo.wcSec / 4).pointee = UInt32(truncatingIfNeeded: sec)
        (base + XenLayout.SharedInfo.wcNsec / 4).pointee = UInt32(truncatingIfNeeded: nsec)
        (base + XenLayout.SharedInfo.wcSecHi / 4).pointee = UInt32(truncatingIfNeeded: sec >> 32)
        arch_dsb_ish()
        (base + XenLayout.SharedInfo.wcVersion / 4).pointee = (v | 1) &+ 1
    }
}
#endif
