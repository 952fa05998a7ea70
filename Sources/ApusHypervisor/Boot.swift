#if hasFeature(Embedded)
import AArch64
import ApusCore

/// Boot CPU, from start.S with the MMU off and the board's DTB address.
@_cdecl("apus_boot_main")
func apusBootMain(_ dtbAddress: UInt64) -> Never {
    // The boot heap may use up to 48 MiB after the image (`apus run` places boot modules
    // above that); once the domains are built it is trimmed to what boot used, and later
    // growth comes from the board's free RAM in 2 MiB chunks (RAMPool).
    let heapBase = (apus_bss_end() + 0xFFFF) & ~0xFFFF
    let heapSize: UInt64 = 48 << 20
    apus_heap_init(heapBase, heapSize)
    Log.ring = ConsoleRing()                   // before the first line: xl dmesg shows the boot

    // The DTB: copy it (bounded by its own header, at most 4 MiB), then parse. Not Xen's
    // 2 MiB: a tree QEMU dumped (`-machine dumpdtb`, 1 MiB with its free space) and is given
    // back with `-dtb` (apus run --dtb) comes with another 1 MiB of room, just over 2 MiB.
    let header = PhysicalMemory.bytes(at: dtbAddress, count: 8)
    let total = Int(header[4]) << 24 | Int(header[5]) << 16 | Int(header[6]) << 8 | Int(header[7])
    guard header[0] == 0xD0, header[1] == 0x0D, total >= 40, total <= 4 << 20,
          case .some(let dt) = try? DeviceTree.parse(PhysicalMemory.bytes(at: dtbAddress, count: total)),
          case .some(let board) = try? BoardInfo.discover(dt) else {
        // Without a DTB there is no console to report on: stop.
        apus_halt_forever()
    }
    if let u = board.uart { PhysicalUART.base = u.base }
    Log.line { Log.put("Apus "); Log.put("0.1.0"); Log.put(" (Xen 4.17 compatible interfaces), EL2 on CPU "); Log.hex(read_mpidr_el1() & 0xFF_00FF_FFFF) }

    Hypervisor.physicalAddressRange = read_id_aa64mmfr0_el1() & 0xF
    Hypervisor.psciUsesHVC = board.psciUsesHVC
    enableEL2MMU(board: board, heapEnd: heapBase + heapSize)
    Speculation.probeFirmware()

    GICv3.distributor = board.gicDistributor.base
    GICv3.redistributorRegion = board.gicRedistributors.base
    GICv3.redistributorRegionSize = board.gicRedistributors.size
    GICv3.initDistributor()

    let me = read_mpidr_el1() & 0xFF_00FF_FFFF
    var order = [me]
    for c in board.cpus where c != me { order.append(c) }
    for (i, m) in order.enumerated() where i < Int(APUS_MAX_CPUS) {
        let c = PerCPU(index: i, mpidr: m)
        Hypervisor.cpus.append(c)                     // keeps it for the board's lifetime
        apus_set_cpu_object(UInt64(i), Unmanaged.passUnretained(c).toOpaque())
    }
    setUpCPU(Hypervisor.cpus[0])
    Log.line {
        Log.dec(board.cpus.count); Log.put(" CPUs, "); Log.dec(Int(board.memory.reduce(0) { $0 + $1.size } >> 20))
        Log.put(" MiB RAM, GICv3 at "); Log.hex(board.gicDistributor.base); Log.put(", "); Log.dec(GICv3.listRegisterCount)
        Log.put(" list registers, PSCI via "); Log.put(board.psciUsesHVC ? "HVC" : "SMC")
    }

    // Xen's `sched=null` on its command line selects the no-sharing policy.
    let bootargs = dt.node(atPath: "/chosen")?.property("xen,xen-bootargs")?.string ?? []
    let null = containsBytes(bootargs, "sched=null")
    let freq = read_cntfrq_el0()
    Scheduler.policy = FairScheduler(cpus: Hypervisor.cpus.count, policy: null ? .noSharing : .fair,
                                     timeslice: freq / 100, capPeriod: freq / 10)
    Hypervisor.counterFrequency = freq
    XenBoard.preemptAfterTicks = Xen.nsToTicks(XenBoard.preemptAfterNS)
    Log.line { Log.put("scheduler: "); Log.put(null ? "null (one vCPU per CPU, no sharing)" : "fair share (credit), 10 ms timeslice") }

    // Domains from /chosen, in RAM not used by us, the DTB or the boot modules.
    let boots = BootDomain.parseAll(dt)
    var reserved = [PhysicalRange(base: board.memory[0].base, size: heapBase + heapSize - board.memory[0].base),
                    PhysicalRange(base: dtbAddress, size: UInt64(total))]
    for case .success(let b) in boots {
        reserved.append(b.kernel)
        if let r = b.ramdisk { reserved.append(r) }
    }
    Wallclock.discover(rtc: board.rtc)
    Hypervisor.rngSeed = board.rngSeed
    Xen.boot(maxDomains: boots.count)
    // Room for the domains and vCPUs the toolstack adds while other CPUs read these arrays
    // without a lock: they must never move.
    Hypervisor.domains.reserveCapacity(ToolstackDomains.maxDomains)
    Scheduler.vcpus.reserveCapacity(ToolstackDomains.maxVCPUs)
    // Dom0 first, as Xen's create_dom0: its 1:1 banks are chosen before the domUs' RAM.
    // Its grant window is IPA space it has no RAM or device in: the hypervisor's own image,
    // as Xen puts it at _stext (64 frames).
    let grantWindow = PhysicalRange(base: board.memory[0].base, size: UInt64(GrantTable.defaultMaxFrames) << 12)
    // XENVER_commandline (xl info's xen_commandline): Xen's own command line. libxl's
    // autoballoon="auto" reads dom0_mem= there to leave dom0's memory alone.
    Xen.locked { x in x.host.version.commandline = bootargs }
    if let plan = Dom0Build.plan(dt, board: board, reserved: reserved, grantTable: grantWindow) {
        Xen.locked { x in x.host.version.commandline = plan.spec.xenCommandLine }
        let d0 = Dom0Build.build(plan, board: board)
        Hypervisor.domains.append(d0)
        Hypervisor.control = d0
        Dom0Build.routeInterrupts(d0, plan.hardware, bootCPU: read_mpidr_el1() & 0xFF_00FF_FFFF)
        Hypervisor.console.addDomain(0)
        reserved += plan.banks
        reserved += plan.hardware.reservedMemory
        for m in (try? BootModules.scan(dt)) ?? [] { reserved.append(m.range) }
    }
    var allocator = PhysicalAllocator(banks: board.memory, reserved: reserved)
    var id = 1
    for r in boots {
        switch r {
        case .success(let b):
            if let d = Domains.build(id: id, b, allocator: &allocator) {
                Hypervisor.domains.append(d)
                Hypervisor.console.addDomain(d.id)
            }
        case .failure:
            Log.line { Log.put("d"); Log.dec(id); Log.put(": bad domain description in the boot DTB, skipped") }
        }
        id += 1
    }
    // Boot is built: the heap keeps what it used and 2 MiB more, the rest of its 48 MiB is
    // free RAM again. What no domain and not the hypervisor took is the pool the toolstack's
    // domains and the heap's growth take from.
    let heapEnd = apus_heap_trim(2 << 20)
    // Less anything else reserved there (the boot DTB, a module a boot loader put low).
    let tail = PhysicalAllocator(banks: [PhysicalRange(base: heapEnd, size: heapBase + heapSize - heapEnd)],
                                 reserved: Array(reserved.dropFirst()))
    for r in tail.free { allocator.release(r) }
    RAMPool.start(allocator.free)
    // What sysctl physinfo reports: the board's RAM (free pages are the pool's, read live).
    Hypervisor.ramFacts = (total: board.memory.reduce(0) { $0 &+ $1.size } >> 12,
                           maxMFN: board.memory.reduce(0) { max($0, $1.end) } >> 12)
    Log.line {
        Log.put("hypervisor memory: "); Log.dec(Int((heapEnd - board.memory[0].base) >> 10))
        Log.put(" KiB (image and heap, "); Log.dec(Int(apus_heap_used() >> 10)); Log.put(" KiB in use); free for domains: ")
        Log.dec(Int(RAMPool.freeBytes >> 20)); Log.put(" MiB")
    }
    if Hypervisor.domains.isEmpty {
        Log.line { Log.put("no domain to run") }
        Hypervisor.powerOffBoard()
    }

    if let irq = board.uartIntid, board.uart != nil {
        Hypervisor.uartIntid = irq
        GICv3.enableSPI(irq, targetMPIDR: me)
        PhysicalUART.enableReceiveInterrupt()
    }

    // Building the domains held locks while nothing else ran: the figures count from here.
    Latency.reset()
    for c in Hypervisor.cpus.dropFirst() {
        let r = Hypervisor.firmwareCall(0xC400_0003, c.mpidr, apus_secondary_entry_pa(), UInt64(c.index))
        if r != 0 { Log.line { Log.put("CPU "); Log.hex(c.mpidr); Log.put(" did not start: "); Log.hex(r) } }
    }
    // The first domain that was built has the keyboard (DOM1 unless it failed to build).
    Log.withConsole { mux, uart in mux.printFocusMessage(to: &uart) }
    Scheduler.run()
}

/// Secondary CPUs, from start.S with the MMU already on.
@_cdecl("apus_secondary_main")
func apusSecondaryMain(_ index: UInt64) -> Never {
    let cpu = Hypervisor.cpus[Int(index)]
    setUpCPU(cpu)
    Scheduler.run()
}

/// EL2 state every CPU needs before it runs guests.
func setUpCPU(_ cpu: PerCPU) {
    GICv3.initCPU(mpidr: cpu.mpidr)
    write_icc_sre_el1(0x7)                                       // guests use the system-register GIC interface
    write_vtcr_el2(TranslationTable<HeapTableMemory>.vtcrEL2(physicalAddressRange: Hypervisor.physicalAddressRange))
    // Debug, OS-lock and PMU registers trap (TDA, TDOSA, TDRA, TPM, TPMCR), as Xen 4.17
    // sets MDCR_EL2; HPMN keeps the counter count so the PMU stays architecturally
    // consistent. TDE stays clear: a guest's own debug exceptions (BRK, breakpoints,
    // watchpoints, single step) go to its EL1 vectors, so Linux's WARN() (a BRK) and
    // debuggers inside guests work.
    let hpmn = (read_pmcr_el0() >> 11) & 0x1F
    write_mdcr_el2(hpmn | (1 << 5) | (1 << 6) | (1 << 9) | (1 << 10) | (1 << 11))
    Speculation.setUp(cpu: cpu)
    write_cnthctl_el2(1)                                         // EL1PCTEN: counter yes; EL1PCEN: physical timer traps
    write_hstr_el2(0)
    write_cntv_ctl_el0(0)
    write_cntvoff_el2(0)                                         // guests see the board's counter (Domains.start)
    arch_isb()
    arch_tlbi_alle1()                                            // nothing firmware left behind is a guest's
    cpu.online = true
}

/// Spectre v2, Spectre-BHB and SSBD, decided as Xen 4.17 does at boot (psci.c
/// psci_init_smccc, cpuerrata.c; the decision itself is `SpectreMitigations.decide`).
enum Speculation {
    nonisolated(unsafe) static var firmware = FirmwareSMCCC(version: 0x1_0000)

    /// Asks the firmware in Xen's order: SMCCC_VERSION only when PSCI is 1.0 or later and
    /// PSCI_FEATURES lists it (older firmware may not even know the call: QEMU's PSCI 0.2
    /// makes it an undefined instruction), ARCH_FEATURES only from SMCCC 1.1.
    static func probeFirmware() {
        var f = FirmwareSMCCC(version: 0x1_0000)
        func call(_ fn: UInt64, _ a1: UInt64 = 0) -> Int32 { Int32(truncatingIfNeeded: Hypervisor.firmwareCall(fn, a1)) }
        let psci = call(0x8400_0000)
        if psci >= 0x1_0000, call(0x8400_000A, 0x8000_0000) != -1 {
            let v = call(0x8000_0000)
            if v != -1 { f.version = UInt32(bitPattern: v) }
        }
        if f.version >= 0x1_0001 {
            f.workaround1 = call(0x8000_0001, UInt64(SpectreMitigations.smcccArchWorkaround1))
            f.workaround2 = call(0x8000_0001, UInt64(SpectreMitigations.smcccArchWorkaround2))
            f.workaround3 = call(0x8000_0001, UInt64(SpectreMitigations.smcccArchWorkaround3))
        }
        firmware = f
        Log.line {
            Log.put("Using SMC Calling Convention v"); Log.dec(Int(f.version >> 16)); Log.put(".")
            Log.dec(Int(f.version & 0xFFFF))
        }
        let m = decide()
        VirtualPSCI.mitigations = m                       // what every guest's ARCH_FEATURES sees
        if m.missingWorkaround1 {
            Log.line { Log.put("**** No support for ARM_SMCCC_ARCH_WORKAROUND_1. ****") }
            Log.line { Log.put("**** Please update your firmware.                ****") }
        }
        if m.missingBHBWorkaround {
            Log.line { Log.put("**** No support for any spectre BHB workaround.  ****") }
            Log.line { Log.put("**** Please update your firmware.                ****") }
        }
    }

    /// This CPU's decision, from its own MIDR and ID registers.
    static func decide() -> SpectreMitigations {
        SpectreMitigations.decide(midr: read_midr_el1(), csv2: (read_id_aa64pfr0_el1() >> 56) & 0xF,
                                  ecbhb: (read_id_aa64mmfr1_el1() >> 60) & 0xF != 0,
                                  clearBHB: (read_id_aa64isar2_el1() >> 28) & 0xF != 0,
                                  firmware: firmware, firmwareIsSMC: !Hypervisor.psciUsesHVC)
    }

    /// Each CPU, before it runs a guest: its vectors' hardening, and SSBD on in firmware.
    static func setUp(cpu: PerCPU) {
        let m = decide()
        apus_set_bp_harden(UInt64(cpu.index), m.hardening.vectorWord)
        switch m.hardening {
        case .none: break
        case .firmwareCall(let fid):
            Log.line {
                Log.put("CPU"); Log.dec(cpu.index); Log.put(" will call ")
                Log.put(fid == SpectreMitigations.smcccArchWorkaround1 ? "ARM_SMCCC_ARCH_WORKAROUND_1" : "ARM_SMCCC_ARCH_WORKAROUND_3")
                Log.put(" on exception entry")
            }
        case .branchLoop(let n):
            Log.line { Log.put("CPU"); Log.dec(cpu.index); Log.put(" will use "); Log.dec(Int(n)); Log.put(" loops workaround on exception entry") }
        case .clearBHB:
            Log.line { Log.put("CPU"); Log.dec(cpu.index); Log.put(" will use clearBHB instruction on exception entry") }
        }
        if m.enableSSBDInFirmware {
            _ = Hypervisor.firmwareCall(UInt64(SpectreMitigations.smcccArchWorkaround2), 1)
        }
    }
}

/// The hypervisor's own stage-1 map: RAM (identity, normal memory) and the devices
/// it drives, all found in the DTB.
func enableEL2MMU(board: BoardInfo, heapEnd: UInt64) {
    guard var t = TranslationTable<HeapTableMemory>(regime: .el2Stage1, memory: HeapTableMemory()) else {
        apus_halt_forever()
    }
    func map(_ r: PhysicalRange, _ kind: MemoryKind) {
        let base = r.base & ~0xFFF
        let size = (r.end - base + 0xFFF) & ~0xFFF
        do throws(TranslationError) {
            try t.map(input: base, output: base, size: size, kind: kind, permissions: kind == .normal ? .all : [.read, .write])
        } catch {
            Log.line { Log.put("EL2 map failed for "); Log.hex(base) }
        }
    }
    for m in board.memory { map(m, .normal) }
    map(board.gicDistributor, .device)
    map(board.gicRedistributors, .device)
    if let u = board.uart { map(u, .device) }
    if let r = board.rtc { map(r, .device) }               // wallclock for the guests' shared_info
    let tcr = TranslationTable<HeapTableMemory>.tcrEL2(physicalAddressRange: Hypervisor.physicalAddressRange)
    let mair = TranslationTable<HeapTableMemory>.mairEL2
    arch_dsb_sy()
    apus_cpu_boot_params(0, t.root, tcr, mair)
    apus_enable_mmu(t.root, tcr, mair)
}
#endif

#if hasFeature(Embedded)
/// Whether `needle` occurs in `hay` (byte-wise, no String comparison in the image).
func containsBytes(_ hay: [UInt8], _ needle: StaticString) -> Bool {
    let n = needle.withUTF8Buffer { Array($0) }
    guard !n.isEmpty, hay.count >= n.count else { return false }
    for i in 0...(hay.count - n.count) where hay[i] == n[0] {
        var ok = true
        for j in 1..<n.count where hay[i + j] != n[j] { ok = false; break }
        if ok { return true }
    }
    return false
}
#endif
