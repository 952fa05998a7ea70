#if hasFeature(Embedded)
import AArch64
import ApusCore

/// Where the boot modules go in the domain's RAM, and its device tree (serialized at each
/// boot: every boot gets its own rng-seed).
struct BootImage {
    var kernelIPA: UInt64
    var initrdIPA: UInt64
    var dtbIPA: UInt64
    /// Built again (with a fresh rng-seed) at every boot; nil for a fixed DTB (dom0's, from
    /// the board's own: `serialized` holds it).
    var tree: GuestDeviceTree?

    /// The DTB as serialized at the first boot, and where its rng-seed's bytes are in it
    /// (nil: it has none): later boots patch those bytes instead of building and
    /// serializing the tree again, which took 150 us at EL2 under icount in one step of a
    /// reboot.
    var serialized: (bytes: [UInt8], seedAt: Int?)? = nil

    /// The DTB for boot number `boot` of domain `id`.
    mutating func dtb(domain id: Int, boot: Int) -> [UInt8] {
        let seed = GuestEntropy.seed(board: Hypervisor.rngSeed, domain: id, boot: boot)
        if let s = serialized {
            guard let at = s.seedAt, let seed else { return s.bytes }
            var b = s.bytes
            for i in 0..<seed.count { b[at + i] = seed[i] }
            return b
        }
        guard var t = tree else { return [] }
        t.rngSeed = seed
        let b = t.build().serialize()
        if let seed {
            // Kept only if the seed's 32 random bytes occur exactly once (else: built each boot).
            if let at = BootImage.find(seed, in: b), BootImage.find(seed, in: b, from: at + 1) == nil {
                serialized = (b, at)
            }
        } else {
            serialized = (b, nil)
        }
        return b
    }

    private static func find(_ needle: [UInt8], in hay: [UInt8], from start: Int = 0) -> Int? {
        guard !needle.isEmpty, hay.count >= needle.count, start <= hay.count - needle.count else { return nil }
        var i = start
        while i <= hay.count - needle.count {
            var j = 0
            while j < needle.count && hay[i + j] == needle[j] { j += 1 }
            if j == needle.count { return i }
            i += 1
        }
        return nil
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
    /// The control domain (dom0): privileged, direct-mapped, console over console_io.
    var control = false
    /// Made at run time by the toolstack in dom0 (createdomain): memory from populate_physmap,
    /// loaded by dom0, stopped (not restarted) at shutdown for the toolstack to decide.
    var toolstack = false
}

/// A domain: its RAM and p2m, vCPUs, virtual GIC and virtual UART. One spinlock
/// guards the vGIC and UART state, which other CPUs touch to deliver interrupts.
final class Domain {
    let id: Int
    let spec: DomainSpec
    /// Its PV console's output goes to the board console (see GuestConsoleChoice).
    let printsPVConsole: Bool
    /// Set once at build; for a domain the toolstack creates, at its first max_mem, before
    /// it has ever run (`P2MLocked.assignRAM`).
    fileprivate(set) var ram: PhysicalRange
    /// Guest physical address of the start of its RAM: Xen's GUEST_RAM0_BASE for domUs; for
    /// the direct-mapped dom0, `ram.base` itself (guest physical = machine physical).
    let ramIPA: UInt64
    /// Dom0's RAM banks after the first (`ram`), as Xen allocates a dom0_mem that is not a
    /// power of two: direct-mapped (guest physical = machine physical), mapped whole when
    /// dom0 is built, so never populated on first touch. Empty for every other domain.
    let moreRAM: [PhysicalRange]
    /// All its RAM, in bytes.
    var ramSize: UInt64 { moreRAM.reduce(ram.size) { $0 &+ $1.size } }
    /// Where its vGIC's distributor and redistributors are (trapped, never mapped).
    let gic: GuestGICLayout
    let vmid: UInt64
    /// The p2m and what hangs on it, reached only through `withP2M` (P2MLocked).
    fileprivate var p2mTable: TranslationTable<HeapTableMemory>
    fileprivate var p2mBlocks: RAMBlocks
    fileprivate var p2mChanges: UInt64 = 0
    fileprivate var sharedPageCache: (gfn: UInt64, host: UInt64, writable: Bool, generation: UInt64)? = nil
    fileprivate var p2mLock: UInt32 = 0
    fileprivate var p2mHeldSince: UInt64 = 0
    /// VTTBR_EL2 of its vCPUs. Changes only when a reboot replaces the p2m, while none of
    /// them is on a CPU, so the vCPU entry path reads it without the p2m lock.
    fileprivate(set) var vttbr: UInt64 = 0
    var vcpus: [VCPU] = []
    /// Guarded by `lock`, reached only through `withLock` (DomainLocked): its vGIC, its
    /// vPL011, its vCPUs' power states and the faults already reported.
    /// The vGIC is a `let`: the trap path borrows it from a borrowed domain without a
    /// retain; a reboot resets it in place.
    fileprivate let vgicState: VGIC
    /// `vgicState` unretained (DomainLocked.withVGIC).
    fileprivate let vgicRef: Unmanaged<VGIC>
    fileprivate var uartState = VirtualPL011()
    fileprivate var faultsReported: [UInt64] = []
    fileprivate var lock: UInt32 = 0
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
    /// Written holding Hypervisor.stateLock and then `lock`, so either lock is enough to read it.
    var alive = true
    /// Paused by the toolstack (domctl pausedomain): its vCPUs leave their CPUs and none is
    /// admitted until unpaused. Written under the Xen lock (the Xen core keeps the count),
    /// read without a lock on entry and trap exit: a stale read is followed by the kick.
    var paused = false
    var dtb: [UInt8] = []
    /// Toolstack domains (ToolstackDomains), all under the Xen lock: pages it may have
    /// (max_mem), pages populate_physmap gave it, pages outside its RAM bank (Xen's magic
    /// pages: console, XenStore), foreign mappings of its pages by other domains, and
    /// whether its memory goes back to the board once those are gone.
    var maxPages: UInt64 = 0
    var toolstackPages: UInt64 = 0
    /// The end of the highest frame populate_physmap gave it in its bank (0: none): what
    /// the end of its build keeps of the bank (ToolstackDomains.trimBank).
    var bankPopulatedEnd: UInt64 = 0
    var bankTrimmed = false
    var extraPages: [(gfn: UInt64, host: UInt64)] = []
    var foreignRefs = 0
    var awaitingRelease = false
    var released = false
    /// Per physical CPU (index < APUS_MAX_CPUS): the vCPU of this domain that ran there last,
    /// -1 for none (Xen's p2m->last_vcpu_ran). TLB entries are tagged by VMID, not by vCPU:
    /// when another vCPU of the same domain comes to a CPU, what the last one left there
    /// (stage-1 entries its guest flushed only locally, on another CPU) must go first.
    var lastVCPURan = InlineArray<8, Int>(repeating: -1)

    init(id: Int, spec: DomainSpec, ram: PhysicalRange, p2m: TranslationTable<HeapTableMemory>,
         ramIPA: UInt64 = GuestLayout.ram0Base, gic: GuestGICLayout = .domU, spis: Int = 32,
         moreRAM: [PhysicalRange] = []) {
        self.id = id
        self.spec = spec
        self.printsPVConsole = GuestConsoleChoice.printsPVConsole(bootargs: spec.bootargs, hasPL011: spec.vpl011)
        self.ram = ram
        self.ramIPA = ramIPA
        self.moreRAM = moreRAM
        self.gic = gic
        self.vmid = UInt64(id & 0xFF)
        self.p2mTable = p2m
        self.p2mBlocks = RAMBlocks(base: ramIPA, size: ram.size)
        self.vgicState = VGIC(vcpus: spec.vcpus, spis: spis)
        self.vgicRef = Unmanaged.passUnretained(vgicState)
        precondition(lastVCPURan.count >= Int(APUS_MAX_CPUS), "a lastVCPURan entry per CPU")
        vttbr = p2m.root | (vmid << 48)
    }

    /// Runs `body` holding the domain's p2m lock, which guards its p2m, which parts of its
    /// RAM are populated, and the shared-page cache. Taken after Xen.lock when both are
    /// held (docs/architecture.md, "Locks"); held for one descriptor change or one 4 KiB
    /// page's zeroing at most, never for a 2 MiB block's.
    @inline(__always)
    func withP2M<R>(_ body: (borrowing P2MLocked) -> R) -> R {
        apus_spin_lock(&p2mLock)
        p2mHeldSince = Latency.stamp()
        let r = body(P2MLocked(self))
        Latency.held(.p2m, since: p2mHeldSince)
        apus_spin_unlock(&p2mLock)
        return r
    }

    /// Runs `body` holding the domain's lock, which guards its vGIC, vPL011, the power
    /// states of its vCPUs and its fault reports; other CPUs take it to deliver interrupts.
    @inline(__always)
    func withLock<R>(_ body: (borrowing DomainLocked) -> R) -> R {
        apus_spin_lock(&lock)
        let t0 = Latency.stamp()
        let r = body(DomainLocked(self))
        Latency.held(.domain, since: t0)
        apus_spin_unlock(&lock)
        return r
    }

    /// Whether the vGIC may have interrupts to load for vCPU `index`: an unlocked peek at
    /// one word. Whoever sets it does so under the lock and then kicks that vCPU's CPU, so
    /// a stale false is followed by another trap.
    @inline(__always)
    func mayNeedFill(_ index: Int) -> Bool { vgicState.needsFill[index] }

    /// Guest physical → host physical for RAM, nil outside RAM. Arithmetic only: what is
    /// read or written there goes through `P2MLocked.populatedRAM` so that its pages are zeroed first.
    func translate(_ ipa: UInt64, length: UInt64) -> UInt64? {
        guard ipa >= ramIPA, length <= ram.size,
              ipa - ramIPA <= ram.size - length else { return moreRAMHolds(ipa, length: length) ? ipa : nil }
        return ram.base + (ipa - ramIPA)
    }

    /// Whether [address, address + length) lies in one of dom0's further banks (where guest
    /// physical and machine physical are the same address).
    func moreRAMHolds(_ address: UInt64, length: UInt64) -> Bool {
        for b in moreRAM where address >= b.base && length <= b.size && address - b.base <= b.size - length { return true }
        return false
    }

    /// Logs a guest-caused fault once per (kind, address), whichever of its vCPUs hit it
    /// (several may, on several CPUs at once: the list is the domain lock's).
    func reportOnce(_ key: UInt64, _ body: () -> Void) {
        if withLock({ held in held.firstReport(key) }) { body() }
    }
}

/// Proof that a domain's lock is held, lent by `Domain.withLock` for the length of its body.
struct DomainLocked: ~Copyable {
    unowned(unsafe) let domain: Domain
    fileprivate init(_ d: Domain) { domain = d }

    // Borrowed, not copied: no retain of the vGIC and no copy of the UART's buffers on the
    // trap path.
    var vgic: VGIC { _read { yield domain.vgicState } }
    /// The vGIC for the trap paths: reached through the unowned domain, `vgic` is retained
    /// and released around every use (a tenth of a virtual timer interrupt's cost); this
    /// lends it as a guaranteed reference instead (the domain owns it for its lifetime).
    @inline(__always)
    func withVGIC<R>(_ body: (VGIC) -> R) -> R { domain.vgicRef._withUnsafeGuaranteedRef(body) }
    var uart: VirtualPL011 {
        _read { yield domain.uartState }
        nonmutating _modify { yield &domain.uartState }
    }

    /// The first report of `key` (at most 64 kept: a guest cannot grow the list).
    func firstReport(_ key: UInt64) -> Bool {
        guard !domain.faultsReported.contains(key), domain.faultsReported.count < 64 else { return false }
        domain.faultsReported.append(key)
        return true
    }

    /// A reboot: the vGIC, the vPL011 and every vCPU's saved list registers start afresh
    /// (a later CPU_ON would otherwise hand the old boot's interrupts back).
    func resetDevices() {
        domain.vgicState.reset()
        for v in domain.vcpus { v.lrs = ListRegisterFile(count: v.lrs.count) }
        domain.uartState = VirtualPL011()
    }
}

/// Proof that a domain's p2m lock is held, lent by `Domain.withP2M` for the length of its
/// body (non-copyable: it cannot be kept): the p2m, the population state of its RAM and the
/// shared-page cache are reachable only through it (Hafnium's vm_locked).
struct P2MLocked: ~Copyable {
    unowned(unsafe) let domain: Domain
    fileprivate init(_ d: Domain) { domain = d }

    var p2m: TranslationTable<HeapTableMemory> {
        _read { yield domain.p2mTable }
        nonmutating _modify { yield &domain.p2mTable }
    }
    var blocks: RAMBlocks {
        _read { yield domain.p2mBlocks }
        nonmutating _modify { yield &domain.p2mBlocks }
    }
    /// Bumped at every change of an existing mapping: the shared-page cache is valid only
    /// for the generation it was filled in.
    var generation: UInt64 {
        get { domain.p2mChanges }
        nonmutating set { domain.p2mChanges = newValue }
    }
    /// The last p2m page looked up for shared-page access (shared_info, vcpu_info and grant
    /// entries are touched at every event).
    var sharedPage: (gfn: UInt64, host: UInt64, writable: Bool, generation: UInt64)? {
        get { domain.sharedPageCache }
        nonmutating set { domain.sharedPageCache = newValue }
    }

    /// A toolstack domain's RAM bank, reserved at its first max_mem (no vCPU of it has run).
    func assignRAM(_ r: PhysicalRange) {
        domain.ram = r
        domain.p2mBlocks = RAMBlocks(base: domain.ramIPA, size: r.size)
        domain.p2mTable.memory.budget += Domains.p2mTableBudget(r.size) - Domains.p2mTableBudget(0)
    }

    /// The RAM ends after `size` bytes (whole blocks, every block past them untouched):
    /// the tail is returned for the caller to give back. Nil when a tail block was touched.
    func shrinkRAM(to size: UInt64) -> PhysicalRange? {
        let old = domain.ram
        guard size < old.size, domain.p2mBlocks.truncate(toBlocks: Int(size / RAMBlocks.blockSize)) else { return nil }
        domain.ram = PhysicalRange(base: old.base, size: size)
        domain.p2mTable.memory.budget -= Domains.p2mTableBudget(old.size) - Domains.p2mTableBudget(size)
        return PhysicalRange(base: old.base + size, size: old.size - size)
    }

    /// A reboot's fresh, empty p2m: every block untouched again. The old tables are
    /// returned for the caller to release once no TLB can hold them.
    func replace(with fresh: TranslationTable<HeapTableMemory>) -> TranslationTable<HeapTableMemory> {
        let old = domain.p2mTable
        domain.p2mTable = fresh
        domain.p2mBlocks.forgetAll()
        domain.p2mChanges &+= 1
        domain.sharedPageCache = nil
        domain.vttbr = fresh.root | (domain.vmid << 48)
        return old
    }

    /// Releases the p2m lock while `body` runs (waiting for another CPU's work on it) and
    /// takes it again.
    func unlocked(_ body: () -> Void) {
        Latency.held(.p2m, since: domain.p2mHeldSince)
        apus_spin_unlock(&domain.p2mLock)
        body()
        apus_spin_lock(&domain.p2mLock)
        domain.p2mHeldSince = Latency.stamp()
    }
}

extension Domain: PSCIDomainView {
    var vcpuCount: Int { vcpus.count }
    func powerState(ofVCPU index: Int) -> VCPUPowerState { vcpus[index].power }
}
#endif
