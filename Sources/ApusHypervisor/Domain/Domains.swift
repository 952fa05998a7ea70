#if hasFeature(Embedded)
import AArch64
import ApusCore

/// Building boot-time domains and tearing them down.
enum Domains {
    /// Page tables one domain's p2m may use: its RAM in 2 MiB blocks needs a handful; the
    /// rest is for 4 KiB pages a guest has mapped over blocks (shared_info, grant frames,
    /// granted pages) and for blocks populated page by page (RAMBlocks), each costing one
    /// table at most. Past it such a mapping fails (-ENOMEM style errors from the Xen
    /// core), nothing else: what one domain can make the hypervisor allocate is bounded.
    static func p2mTableBudget(_ ramSize: UInt64) -> Int { 264 + Int(ramSize / RAMBlocks.blockSize) }
    /// Builds one domain: its RAM reserved (zeroed block by block at first touch), an empty
    /// p2m, kernel/initrd/DTB loaded, vCPU 0 ready.
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
        guard let p2m = TranslationTable<HeapTableMemory>(regime: .stage2, memory: HeapTableMemory(budget: Domains.p2mTableBudget(bytes), vmid: UInt64(id & 0xFF))) else {
            return fail("no memory for the p2m")
        }

        // Kernel: an arm64 Image (with header) goes at RAM base + text_offset.
        let head = PhysicalMemory.bytes(at: b.kernel.base, count: 64)
        guard let image = LinuxImageHeader(head) else { return fail("kernel is not an arm64 Image") }
        let guestDT = GuestDeviceTree(memorySize: ram.size, vcpus: b.vcpus, bootargs: b.bootargs,
                                      initrd: nil, vpl011: b.vpl011, hypervisorNode: b.xenEnhanced != .disabled)
        let dtbEstimate: UInt64 = 0x1_0000
        guard let place = GuestBootPlacement.place(
            ramBase: GuestLayout.ram0Base, ramSize: ram.size, kernelSize: b.kernel.size,
            imageSize: image.imageSize, textOffset: image.textOffset,
            initrdSize: b.ramdisk?.size ?? 0, dtbSize: dtbEstimate) else { return fail("kernel, initrd and DTB do not fit in its RAM") }

        let spec = DomainSpec(name: b.name, memory: ram.size, vcpus: b.vcpus, kernel: b.kernel,
                              ramdisk: b.ramdisk, bootargs: b.bootargs, vpl011: b.vpl011,
                              xenEnhanced: b.xenEnhanced)
        let d = Domain(id: id, spec: spec, ram: ram, p2m: p2m)
        var dt = guestDT
        if let rd = b.ramdisk { dt.initrd = PhysicalRange(base: place.initrd, size: rd.size) }
        var boot = BootImage(kernelIPA: place.kernel, initrdIPA: place.initrd, dtbIPA: place.dtb, tree: dt)
        // Every boot's DTB has the same size (only the seed's bytes change): checked once.
        guard UInt64(boot.dtb(domain: id, boot: 0).count) <= dtbEstimate else { return fail("guest DTB too large") }
        d.boot = boot
        guard load(d) else { return fail("no memory for the p2m") }

        for i in 0..<b.vcpus {
            let sid = Scheduler.policy.add(weight: b.weight, capPercent: b.capPercent, affinity: b.affinity)
            let v = VCPU(domain: d, index: i, schedID: sid, listRegisters: GICv3.listRegisterCount)
            d.vcpus.append(v)
            Scheduler.vcpus.append(v)
        }
        d.lifecycle = (b.onPoweroff, b.onReboot, b.onCrash)
        guard Xen.setUp(d, enhanced: b.xenEnhanced) else { return fail("no memory for its Xen interfaces") }
        start(d)

        Log.line {
            Log.put("d"); Log.dec(id); Log.put(" ("); Log.bytes(b.name); Log.put("): "); Log.dec(Int(ram.size >> 20))
            Log.put(" MiB at "); Log.hex(ram.base); Log.put(", "); Log.dec(b.vcpus); Log.put(" vCPU(s), kernel at ")
            Log.hex(place.kernel); Log.put(", DTB at "); Log.hex(place.dtb)
        }
        return d
    }

    /// Copies kernel, initrd and DTB into the domain's RAM, their blocks populated first
    /// (`BootLoad`'s steps, all of them now: at board boot no guest runs yet). No vCPU of
    /// the domain runs. False when a block could not be mapped.
    static func load(_ d: Domain) -> Bool {
        let l = BootLoad(d)
        while true {
            switch l.step() {
            case .more: continue
            case .done: return true
            case .failed: return false
            }
        }
    }

    /// vCPU 0 on at the kernel entry with x0 = DTB.
    ///
    /// The guest's virtual counter is the board's (CNTVOFF_EL2 = 0, set once at boot), where Xen starts it near
    /// zero at domain creation: QEMU 7.2's generic-timer model loops forever, and the whole
    /// board with it, when a guest's CNTV_CVAL_EL0 plus the offset overflows 64 bits, and CVAL
    /// writes cannot be trapped on Armv8.0. With no offset no CVAL can overflow.
    static func start(_ d: Domain) {
        guard let b = d.boot else { return }
        d.withLock { held in
            d.vcpus[0].reset(entry: b.kernelIPA, x0: b.dtbIPA)
            d.vcpus[0].setPower(.onPending, held)
        }
        Scheduler.powerOn(d.vcpus[0])
    }

    enum ShutdownReason { case poweroff, reboot, crash }

    /// Dom0 stopped: the machine halts or restarts, with Xen's words (hwdom_shutdown). A
    /// crash restarts it, as Xen does without `noreboot` (after no delay here).
    static func controlDomainStopped(_ reason: ShutdownReason) -> Never {
        switch reason {
        case .poweroff:
            Log.line { Log.put("Hardware Dom0 halted: halting machine") }
            _ = Hypervisor.firmwareCall(0x8400_0008)                 // PSCI SYSTEM_OFF
        case .reboot:
            Log.line { Log.put("Hardware Dom0 shutdown: rebooting machine") }
            _ = Hypervisor.firmwareCall(0x8400_0009)                 // PSCI SYSTEM_RESET
        case .crash:
            Log.line { Log.put("Hardware Dom0 crashed: rebooting machine") }
            _ = Hypervisor.firmwareCall(0x8400_0009)
        }
        apus_halt_forever()
    }

    /// The domain shut down (PSCI SYSTEM_OFF/RESET, SCHEDOP_shutdown, or a crash):
    /// its xl.cfg on_* action decides what follows. It stops now; a restart happens in
    /// `finishRestart` once none of its vCPUs is on a CPU.
    static func shutdown(_ d: Domain, _ reason: ShutdownReason) {
        if d.spec.control {
            TrapKind.report(d)                 // where dom0's time in the hypervisor went
            controlDomainStopped(reason)
        }
        if d.spec.toolstack {
            stopForToolstack(d, reason)
            return
        }
        let action: LifecycleAction
        switch reason {
        case .poweroff: action = d.lifecycle.poweroff
        case .reboot: action = d.lifecycle.reboot
        case .crash: action = d.lifecycle.crash
        }
        let what: StaticString = reason == .poweroff ? "powered off" : reason == .reboot ? "rebooted" : "crashed"
        switch action {
        case .destroy:
            destroy(d, reason: what)
        case .preserve:
            d.preserved = true
            destroy(d, reason: what)
            Log.line { Log.put("d"); Log.dec(d.id); Log.put(": preserved (on_* = preserve), memory kept") }
        case .restart:
            let accepted = Hypervisor.withStateLock { held -> Bool in
                // A destroyed domain (torn down, or being torn down) stays dead: a peer's
                // remote reboot of it would otherwise leave a restart nobody carries out.
                guard d.alive || d.restartPending else { return false }
                d.restartPending = true
                stopVCPUs(d, held)
                return true
            }
            guard accepted else { return }
            Log.line { Log.put("d"); Log.dec(d.id); Log.put(" ("); Log.bytes(d.spec.name); Log.put("): "); Log.put(what); Log.put(", restarting") }
            for v in d.vcpus { Scheduler.kick(v) }
        }
    }

    /// A toolstack domain shut down: as on Xen, it stops (its vCPUs off, the shutdown code
    /// in getdomaininfo) and dom0 hears of it (VIRQ_DOM_EXC); xl applies on_poweroff,
    /// on_reboot and on_crash (it destroys the domain and may create it again).
    private static func stopForToolstack(_ d: Domain, _ reason: ShutdownReason) {
        let code: UInt8 = reason == .poweroff ? 0 : reason == .reboot ? 1 : 3
        let first = d.withLock { held -> Bool in
            let on = d.vcpus.contains { $0.power != .off }
            for v in d.vcpus { v.setPower(.off, held) }
            return on
        }
        for v in d.vcpus { Scheduler.kick(v) }
        Xen.locked { x in
            x.withHost { h in
                h.recordShutdown(XenDomainID(d.id), code: code)
                h.raiseDomainException(platform: XenBoard(current: nil))
            }
        }
        guard first else { return }
        let what: StaticString = reason == .poweroff ? "powered off" : reason == .reboot ? "rebooted" : "crashed"
        Log.line { Log.put("d"); Log.dec(d.id); Log.put(" ("); Log.bytes(d.spec.name); Log.put("): "); Log.put(what); Log.put(", left to the toolstack") }
    }

    /// Called on the CPU that handled the reset, after its vCPU left: queues the rebuild
    /// (a DomainJob, in bounded steps across traps: its other vCPUs leave their CPUs, its
    /// Xen state goes, a fresh p2m with every RAM block unpopulated, so zeroed again at its
    /// first touch, the kernel, initrd and DTB reloaded); it restarts once that is complete.
    static func finishRestart(_ d: Domain) {
        // Several of its vCPUs may leave at once: exactly one CPU queues the rebuild.
        let mine = Hypervisor.withStateLock { _ in
            let mine = d.restartPending && !d.restartClaimed
            if mine { d.restartClaimed = true }
            return mine
        }
        guard mine else { return }
        Tasklets.schedule(DomainJob(d, .reboot))
    }

    /// Not alive, every vCPU off (a CPU_ON claim in flight lapses), in one hold of the
    /// domain's lock.
    private static func stopVCPUs(_ d: Domain, _ state: borrowing StateLocked) {
        d.withLock { held in
            d.alive = false
            for v in d.vcpus { v.setPower(.off, held) }
        }
    }

    /// The domain stops for good: its vCPUs leave their CPUs at their next trap (the
    /// kicks make that immediate). With no domain left, the board powers off.
    static func destroy(_ d: Domain, reason: StaticString) {
        let (wasAlive, anyAlive) = Hypervisor.withStateLock { held in
            let wasAlive = d.alive
            stopVCPUs(d, held)
            return (wasAlive, Hypervisor.domains.contains { $0.alive || $0.restartPending })
        }
        guard wasAlive else { return }
        Log.line { Log.put("d"); Log.dec(d.id); Log.put(" ("); Log.bytes(d.spec.name); Log.put("): "); Log.put(reason) }
        for v in d.vcpus { Scheduler.kick(v) }
        TrapKind.report(d)
        // With no domain left the board goes off: nothing of this one needs undoing.
        if !anyAlive { Hypervisor.powerOffBoard() }
        // Its Xen state goes in bounded steps across traps (a DomainJob), not in this one.
        Tasklets.schedule(DomainJob(d, .destroy))
    }
}
#endif
