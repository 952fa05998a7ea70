#if hasFeature(Embedded)
import AArch64
import ApusCore

/// Building the control domain (dom0) from the plan `Dom0Plan.make` drew up from the boot
/// DTB (docs/dom0.md): domain 0, its RAM direct-mapped (guest physical = machine physical),
/// its vGIC at the board's GIC addresses, the board's devices that the hypervisor does not
/// keep mapped 1:1, console over console_io, privileged in the Xen ABI.
enum Dom0Build {
    /// The DTB's dom0, planned; nil when there is none. A dom0 that is asked for but cannot
    /// be built stops the board with one line saying why (Xen panics).
    static func plan(_ dt: DeviceTree, board: BoardInfo, reserved: [PhysicalRange],
                     grantTable: PhysicalRange) -> Dom0Plan? {
        let head: [UInt8]
        do throws(Dom0BootError) {
            guard let s = try Dom0BootSpec.parse(dt, physicalCPUs: board.cpus.count) else { return nil }
            head = s.kernel.size >= 64 ? PhysicalMemory.bytes(at: s.kernel.base, count: 64) : []
        } catch {
            stop(error)
        }
        do throws(Dom0PlanError) {
            return try Dom0Plan.make(boot: dt, board: board, reserved: reserved, grantTable: grantTable,
                                     kernelHeader: head, rngSeed: GuestEntropy.seed(board: Hypervisor.rngSeed, domain: 0, boot: 0))
        } catch {
            switch error {
            case .boot(let e): stop(e)
            case .tree: stop("dom0: the board's device tree cannot be turned into dom0's")
            case .doesNotFit: stop("dom0: the kernel is not an arm64 Image, or kernel, initrd and DTB do not fit in its first RAM bank")
            }
        }
    }

    static func stop(_ why: StaticString) -> Never {
        Log.line { Log.put("Panic: "); Log.put(why) }
        Hypervisor.powerOffBoard()
    }

    /// The host tool reports these with their details before QEMU starts (Dom0BootError.message).
    static func stop(_ e: Dom0BootError) -> Never {
        switch e {
        case .noKernel: stop("dom0: no dom0 kernel")
        case .twoKernels: stop("dom0: two dom0 kernels")
        case .twoRamdisks: stop("dom0: two dom0 ramdisks")
        case .badModule: stop("dom0: a boot module needs one non-empty reg range")
        case .overlappingModules: stop("dom0: two boot modules overlap")
        case .badOption: stop("dom0: an option of xen,xen-bootargs cannot be parsed")
        case .memoryTooLarge: stop("dom0: dom0_mem is larger than the free RAM")
        case .memoryNotAllocatable: stop("dom0: dom0_mem cannot be allocated 1:1 in power-of-two banks")
        }
    }

    /// Domain 0 from `plan`: RAM, p2m with the board's devices, kernel/initrd/DTB loaded,
    /// vCPU 0 ready.
    static func build(_ plan: Dom0Plan, board: BoardInfo) -> Domain {
        // Xen gives dom0 power-of-two chunks, so a dom0_mem that is not one may be several
        // banks: the first (lowest) holds kernel, initrd and DTB and is the Domain's `ram`;
        // the others are `moreRAM`, mapped whole here as bank 0 is.
        guard let bank = plan.banks.first else { stop("dom0: no RAM bank") }
        let more = Array(plan.banks.dropFirst())
        let spec = DomainSpec(name: Array("Domain-0".utf8), memory: bank.size, vcpus: plan.spec.vcpus,
                              kernel: plan.spec.kernel, ramdisk: plan.spec.ramdisk, bootargs: plan.spec.cmdline,
                              vpl011: false, xenEnhanced: .enabled, control: true)
        // The board's devices take tables of their own: a few per region at most (2 MiB blocks).
        let budget = plan.banks.reduce(0) { $0 + Domains.p2mTableBudget($1.size) } + 16 * plan.hardware.mmio.count + 64
        guard let p2m = TranslationTable<HeapTableMemory>(regime: .stage2, memory: HeapTableMemory(budget: budget, vmid: 0)) else {
            stop("dom0: no memory for its p2m")
        }
        let gic = GuestGICLayout(distributor: board.gicDistributor.base, redistributors: board.gicRedistributors.base,
                                 redistributorsSize: board.gicRedistributors.size)
        let spis = max(32, min(GICv3.spiCount, 960))
        let d = Domain(id: 0, spec: spec, ram: bank, p2m: p2m, ramIPA: bank.base, gic: gic, spis: spis, moreRAM: more)
        var boot = BootImage(kernelIPA: plan.placement.kernel, initrdIPA: plan.placement.initrd,
                             dtbIPA: plan.placement.dtb, tree: nil)
        boot.serialized = (plan.dtb, nil)
        d.boot = boot
        guard Domains.load(d) else { stop("dom0: no memory for its p2m") }
        mapAllRAM(d)
        mapDevices(d, plan.hardware, moreRAM: more)

        for i in 0..<plan.spec.vcpus {
            let sid = Scheduler.policy.add(weight: 256, capPercent: 0, affinity: ~0)
            let v = VCPU(domain: d, index: i, schedID: sid, listRegisters: GICv3.listRegisterCount)
            d.vcpus.append(v)
            Scheduler.vcpus.append(v)
        }
        // Xen halts or restarts the machine when dom0 stops (Domains.shutdown).
        d.lifecycle = (.destroy, .destroy, .destroy)
        guard Xen.setUpControl(d) else { stop("dom0: no memory for its Xen interfaces") }
        Domains.start(d)
        Log.line {
            Log.put("d0 (Domain-0): "); Log.dec(Int(bank.size >> 20)); Log.put(" MiB at "); Log.hex(bank.base)
            for b in more { Log.put(" + "); Log.dec(Int(b.size >> 20)); Log.put(" MiB at "); Log.hex(b.base) }
            Log.put(" (1:1), "); Log.dec(plan.spec.vcpus); Log.put(" vCPU(s), kernel at "); Log.hex(plan.placement.kernel)
            Log.put(", DTB at "); Log.hex(plan.placement.dtb); Log.put(", "); Log.dec(plan.hardware.mmio.count)
            Log.put(" device regions")
        }
        return d
    }

    /// Dom0's devices' SPIs reach its vGIC: each is configured as its device tree says and
    /// routed to this (the boot) CPU, which hands it to dom0 (`Interrupts.toControlDomain`).
    /// Each is a hardware interrupt in dom0's vGIC: it reaches dom0 through a list register
    /// with the HW bit, and dom0's EOI deactivates the physical one (as on Xen). A level
    /// line still asserted then simply interrupts again.
    static func routeInterrupts(_ d: Domain, _ hw: Dom0Hardware, bootCPU mpidr: UInt64) {
        let spis = d.withLock { $0.vgic.spiCount }
        for spi in hw.spis where spi.intid >= 32 && spi.intid < 1020 && Int(spi.intid) - 32 < spis {
            let word = Int(spi.intid / 64), bit = UInt64(1) << UInt64(spi.intid % 64)
            Hypervisor.dom0SPIs[word] |= bit
            d.withLock { held in held.withVGIC { $0.passThroughHardware(Int(spi.intid)) } }
            GICv3.configureSPI(spi.intid, edge: spi.edgeTriggered)
            GICv3.enableSPI(spi.intid, targetMPIDR: mpidr)
        }
    }

    /// Dom0's whole bank mapped now, in 2 MiB blocks, and not zeroed: it is RAM fresh from the
    /// board's reset that no domain had (the boot modules and the hypervisor are outside it),
    /// and dom0 may read any domain's memory anyway. As Xen maps dom0's RAM when it builds it;
    /// zeroing each block at dom0's first touch cost its boot 0.4 % (issue 11's benchmark).
    static func mapAllRAM(_ d: Domain) {
        d.withP2M { held in
            for b in 0..<held.blocks.count where held.blocks.claim(b) {
                if !held.mapBlock(b) { break }
            }
        }
    }

    /// The board's devices dom0 drives: MMIO 1:1 as device memory, /reserved-memory 1:1 as
    /// normal memory. A region beyond the p2m's input range (QEMU's 512 GiB high PCIe window
    /// at 2^39) is left out and said so.
    static func mapDevices(_ d: Domain, _ hw: Dom0Hardware, moreRAM: [PhysicalRange]) {
        func map(_ r: PhysicalRange, _ kind: MemoryKind, _ perms: MemoryPermissions) {
            let base = r.base & ~0xFFF
            let size = (r.end - base + 0xFFF) & ~0xFFF
            let ok: Bool = d.withP2M { held in
                do throws(TranslationError) {
                    try held.p2m.map(input: base, output: base, size: size, kind: kind, permissions: perms)
                    return true
                } catch { return false }
            }
            if !ok { Log.line { Log.put("d0: not mapped: "); Log.hex(base); Log.put(" size "); Log.hex(size) } }
        }
        for r in hw.mmio { map(r, .device, [.read, .write]) }
        for r in hw.reservedMemory { map(r, .normal, .all) }
        // Dom0's further RAM banks: fresh from the board's reset like bank 0 (mapAllRAM).
        for r in moreRAM { map(r, .normal, .all) }
    }
}
#endif
