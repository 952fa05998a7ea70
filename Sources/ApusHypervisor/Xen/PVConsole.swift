#if hasFeature(Embedded)
import AArch64
import ApusCore

/// The PV console (io/console.h) served by the hypervisor, as xenconsoled serves it in
/// Xen's dom0: the guest's output goes to the board console with its `(dN) ` prefix, like
/// its vPL011 output (unless its command line names only another console), and keyboard
/// input for the domain is put in the `in` ring.
/// Layout: in[1024] @0, out[2048] @1024, in_cons @3072, in_prod @3076, out_cons @3080,
/// out_prod @3084. The guest owns the producer indices: they are read once and checked.
enum PVConsole {
    static let inRing: UInt64 = 0, inSize: UInt32 = 1024
    static let outRing: UInt64 = 1024, outSize: UInt32 = 2048
    static let inCons: UInt64 = 3072, inProd: UInt64 = 3076, outCons: UInt64 = 3080, outProd: UInt64 = 3084

    /// Drains the `out` ring (at most one ring's worth per event).
    static func serviceOutput(_ d: Domain, _ x: XenDomainPages) {
        guard let page = x.console else { return }
        var bytes: [UInt8] = []
        Xen.locked { held in
            let cons = mmio_read32(page + outCons)
            let prod = mmio_read32(page + outProd)
            arch_dsb_ish()
            var n = prod &- cons
            // A producer index more than a ring ahead is garbage: skip to it, print nothing.
            if n > outSize { n = 0 }
            var i: UInt32 = 0
            while i < n {
                bytes.append(mmio_read8(page + outRing + UInt64((cons &+ i) & (outSize - 1))))
                i += 1
            }
            arch_dsb_ish()
            mmio_write32(page + outCons, prod)
            held.host.notify(domain: XenDomainID(d.id), port: x.consolePort, platform: XenBoard(current: nil))
        }
        // Drained either way (the guest waits for room); printed unless the guest named
        // another console only, which Linux then prints to as well.
        guard d.printsPVConsole else { return }
        for b in bytes { ConsoleOutput.write(domain: d.id, b) }
    }

    /// A key typed for the domain; false when its `in` ring is full (the byte is dropped,
    /// as a UART drops bytes on overrun).
    static func input(_ d: Domain, _ byte: UInt8) -> Bool {
        guard let x = d.xen, let page = x.console else { return false }
        let ok: Bool = Xen.locked { held in
            let cons = mmio_read32(page + inCons)
            let prod = mmio_read32(page + inProd)
            guard prod &- cons < inSize else { return false }
            mmio_write8(page + inRing + UInt64(prod & (inSize - 1)), byte)
            arch_dsb_ish()
            mmio_write32(page + inProd, prod &+ 1)
            held.host.notify(domain: XenDomainID(d.id), port: x.consolePort, platform: XenBoard(current: nil))
            return true
        }
        return ok
    }
}
#endif
