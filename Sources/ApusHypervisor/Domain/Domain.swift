#if hasFeature(Embedded)
import AArch64
import ApusCore

/// Where the boot modules go in the domain's RAM, and its device tree (serialized at each
/// boot: every boot gets its own rng-seed).
struct BootImage {
    var kernelIPA: UInt64
    var initrdIPA: UInt64
    var dtbIPA: UInt64
    var tree: GuestDeviceTree

    /// The DTB for boot number `boot` of domain `id`.
    func dtb(domain id: Int, boot: Int) -> [UInt8] {
        var t = tree
        t.rngSeed = GuestEntropy.seed(board: Hypervisor.rngSeed, domain: id, boot: boot)
        return t.build().serialize()
    }
}

/// What a boot-time domain is made from (a /chosen/domU node of the boot DTB).
struct DomainSpec {
    var name: [UInt8]
    var memory: UInt64               // bytes
    var vcpus: Int
    var kernel: PhysicalRange
    var ramdisk: PhysicalRange?
    var bootargs: [UInt8]
    var vpl011: Bool
    /// Xen PV interfaces (`xen,enhanced`): hypervisor DT node, console and XenStore rings.
    var xenEnhanced: XenEnhanced
}

/// A domain: its RAM and p2m, vCPUs, virtual GIC and virtual UART. One spinlock
/// guards the vGIC and UART state, which other CPUs touch to deliver interrupts.
final class Domain {
    let id: Int
    let spec: DomainSpec
    /// Its PV console's output goes to the board console (see GuestConsoleChoice).
    let printsPVConsole: Bool
    let ram: PhysicalRange
    let vmid: UInt64
    var p2m: TranslationTable<HeapTableMemory>
    /// Which 2 MiB blocks of `ram` are zeroed and mapped (RAMPopulation.swift). Under Xen.lock.
    var ramBlocks: RAMBlocks
    var vcpus: [VCPU] = []
    /// `let`: the trap path borrows it from a borrowed domain without a retain; a reboot
    /// resets it in place.
    let vgic: VGIC
    var uart = VirtualPL011()
    /// Pages behind its Xen interfaces (shared_info, grant frames, rings).
    var xen: XenDomainPages? = nil
    /// How the domain was loaded, kept so that a reboot can load it again.
    var boot: BootImage? = nil
    /// A reboot was asked for: the domain is rebuilt once all its vCPUs are off their CPUs.
    var restartPending = false
    var restartClaimed = false
    var restarts = 0
    /// Stopped with on_* = "preserve": memory kept, never runs again.
    var preserved = false
    var lifecycle: (poweroff: LifecycleAction, reboot: LifecycleAction, crash: LifecycleAction) = (.destroy, .restart, .destroy)
    var lock: UInt32 = 0
    var alive = true
    var dtb: [UInt8] = []
    /// The last p2m page XenBoard looked up for shared-page access (shared_info, vcpu_info,
    /// grant entries are touched at every event), valid while `p2mGeneration` is unchanged.
    /// Both are used and changed only under Xen.lock.
    var p2mGeneration: UInt64 = 0
    var lastSharedPage: (gfn: UInt64, host: UInt64, writable: Bool, generation: UInt64)? = nil
    /// Per physical CPU (index < APUS_MAX_CPUS): the vCPU of this domain that ran there last,
    /// -1 for none (Xen's p2m->last_vcpu_ran). TLB entries are tagged by VMID, not by vCPU:
    /// when another vCPU of the same domain comes to a CPU, what the last one left there
    /// (stage-1 entries its guest flushed only locally, on another CPU) must go first.
    var lastVCPURan = InlineArray<8, Int>(repeating: -1)
    /// Faults already reported for this domain, so a looping guest logs once.
    var reportedFaults: [UInt64] = []

    init(id: Int, spec: DomainSpec, ram: PhysicalRange, p2m: TranslationTable<HeapTableMemory>) {
        self.id = id
        self.spec = spec
        self.printsPVConsole = GuestConsoleChoice.printsPVConsole(bootargs: spec.bootargs, hasPL011: spec.vpl011)
        self.ram = ram
        self.vmid = UInt64(id & 0xFF)
        self.p2m = p2m
        self.ramBlocks = RAMBlocks(base: GuestLayout.ram0Base, size: ram.size)
        self.vgic = VGIC(vcpus: spec.vcpus)
        precondition(lastVCPURan.count >= Int(APUS_MAX_CPUS), "a lastVCPURan entry per CPU")
    }

    var vttbr: UInt64 { p2m.root | (vmid << 48) }

    @inline(__always)
    func withLock<R>(_ body: () -> R) -> R {
        apus_spin_lock(&lock)
        let r = body()
        apus_spin_unlock(&lock)
        return r
    }

    /// Guest physical → host physical for RAM, nil outside RAM. Arithmetic only: what is
    /// read or written there goes through `populatedRAM` so that its blocks are zeroed first.
    func translate(_ ipa: UInt64, length: UInt64) -> UInt64? {
        guard ipa >= GuestLayout.ram0Base, length <= ram.size,
              ipa - GuestLayout.ram0Base <= ram.size - length else { return nil }
        return ram.base + (ipa - GuestLayout.ram0Base)
    }

    /// Logs a guest-caused fault once per (kind, address).
    func reportOnce(_ key: UInt64, _ body: () -> Void) {
        guard !reportedFaults.contains(key), reportedFaults.count < 64 else { return }
        reportedFaults.append(key)
        body()
    }
}

extension Domain: PSCIDomainView {
    var vcpuCount: Int { vcpus.count }
    func powerState(ofVCPU index: Int) -> VCPUPowerState { vcpus[index].power }
}
#endif
