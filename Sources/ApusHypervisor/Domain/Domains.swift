#if hasFeature(Embedded)
import AArch64
import ApusCore

/// Building boot-time domains and tearing them down.
enum Domains {
    nonisolated(unsafe) static var nextCPU = 0

    /// Builds one domain: zeroed RAM, its p2m, kernel/initrd/DTB loaded, vCPU 0 ready.
    /// On failure the reason is logged and nil returned; the other domains still boot.
    static func build(id: Int, _ b: BootDomain, allocator: inout PhysicalAllocator) -> Domain? {
        func fail(_ why: StaticString) -> Domain? {
            Log.line { Log.put("d"); Log.dec(id); Log.put(" ("); Log.bytes(b.name); Log.put("): not built: "); Log.put(why) }
            return nil
        }
        let twoMiB: UInt64 = 0x20_0000
        let bytes = (b.memoryKiB &* 1024 &+ twoMiB &- 1) & ~(twoMiB - 1)
        guard b.memoryKiB <= GuestLayout.ram0MaxSize / 1024, bytes >= 8 * twoMiB else {
            return fail("memory must be between 16 MiB and 3 GiB")
        }
        guard let ram = allocator.allocate(size: bytes, alignment: twoMiB) else { return fail("not enough free RAM") }
        PhysicalMemory.zero(ram.base, count: ram.size)

        guard var p2m = TranslationTable<HeapTableMemory>(regime: .stage2, memory: HeapTableMemory()) else {
            return fail("no memory for the p2m")
        }
        do throws(TranslationError) {
            try p2m.map(input: GuestLayout.ram0Base, output: ram.base, size: ram.size, kind: .normal, permissions: .all)
        } catch { return fail("p2m mapping failed") }

        // Kernel: an arm64 Image (with header) goes at RAM base + text_offset.
        let head = PhysicalMemory.bytes(at: b.kernel.base, count: 64)
        guard let image = LinuxImageHeader(head) else { return fail("kernel is not an arm64 Image") }
        let guestDT = GuestDeviceTree(memorySize: ram.size, vcpus: b.vcpus, bootargs: b.bootargs,
                                      initrd: nil, vpl011: b.vpl011)
        let dtbEstimate: UInt64 = 0x1_0000
        guard let place = GuestBootPlacement.place(
            ramBase: GuestLayout.ram0Base, ramSize: ram.size, kernelSize: b.kernel.size,
            imageSize: image.imageSize, textOffset: image.textOffset,
            initrdSize: b.ramdisk?.size ?? 0, dtbSize: dtbEstimate) else { return fail("kernel, initrd and DTB do not fit in its RAM") }

        let spec = DomainSpec(name: b.name, memory: ram.size, vcpus: b.vcpus, kernel: b.kernel,
                              ramdisk: b.ramdisk, bootargs: b.bootargs, vpl011: b.vpl011)
        let d = Domain(id: id, spec: spec, ram: ram, p2m: p2m)
        PhysicalMemory.copy(to: d.translate(place.kernel, length: b.kernel.size)!, from: b.kernel.base, count: b.kernel.size)
        var dt = guestDT
        if let rd = b.ramdisk {
            PhysicalMemory.copy(to: d.translate(place.initrd, length: rd.size)!, from: rd.base, count: rd.size)
            dt.initrd = PhysicalRange(base: place.initrd, size: rd.size)
        }
        let blob = dt.build().serialize()
        guard UInt64(blob.count) <= dtbEstimate else { return fail("guest DTB too large") }
        PhysicalMemory.store(blob, at: d.translate(place.dtb, length: UInt64(blob.count))!)

        for i in 0..<b.vcpus {
            let pcpu = nextCPU % Hypervisor.cpus.count
            nextCPU += 1
            let v = VCPU(domainID: id, index: i, pcpu: pcpu, listRegisters: GICv3.listRegisterCount)
            d.vcpus.append(v)
            Hypervisor.cpus[pcpu].runQueue.append(v)
        }
        d.vcpus[0].reset(entry: place.kernel, x0: place.dtb)
        d.vcpus[0].power = .on
        d.counterOffset = read_cntpct_el0()

        Log.line {
            Log.put("d"); Log.dec(id); Log.put(" ("); Log.bytes(b.name); Log.put("): "); Log.dec(Int(ram.size >> 20))
            Log.put(" MiB at "); Log.hex(ram.base); Log.put(", "); Log.dec(b.vcpus); Log.put(" vCPU(s), kernel at ")
            Log.hex(place.kernel); Log.put(", DTB at "); Log.hex(place.dtb)
        }
        return d
    }

    /// The domain stops for good: its vCPUs leave their CPUs at their next trap (the
    /// kicks make that immediate). With no domain left, the board powers off.
    static func destroy(_ d: Domain, reason: StaticString) {
        apus_spin_lock(&Hypervisor.stateLock)
        let wasAlive = d.alive
        d.alive = false
        for v in d.vcpus { v.power = .off }
        let anyAlive = Hypervisor.domains.contains { $0.alive }
        apus_spin_unlock(&Hypervisor.stateLock)
        guard wasAlive else { return }
        Log.line { Log.put("d"); Log.dec(d.id); Log.put(" ("); Log.bytes(d.spec.name); Log.put("): "); Log.put(reason) }
        for v in d.vcpus { Scheduler.kick(v) }
        if !anyAlive { Hypervisor.powerOffBoard() }
    }
}
#endif
