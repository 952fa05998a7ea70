/// A domain's virtual GICv3: the distributor (SPIs), one redistributor per vCPU
/// (SGIs and PPIs), and the bookkeeping that moves pending interrupts into each
/// vCPU's list registers. Pure state and rules; the hypervisor serialises access
/// (one lock per domain) and does the system-register work.
public final class VGIC {
    public static let privateCount = 32
    /// SPIs offered to the guest (GICD_TYPER.ITLinesNumber = 1): INTIDs 32...63.
    public let spiCount: Int
    public let vcpuCount: Int

    /// GICD_CTLR: EnableGrp0 (bit 0), EnableGrp1 (bit 1); ARE and DS read as one.
    public var distributorControl: UInt32 = 0
    /// SGIs and PPIs of every vCPU in one flat array (vCPU v's interrupt n at v * 32 + n: one
    /// array to check for uniqueness on a change, not two). Changed only through `update`,
    /// which keeps the want masks; read through `irq(_:vcpu:)`.
    private(set) var banked: [VirtualInterrupt]
    public private(set) var spis: [VirtualInterrupt]
    /// Bit n of `privateWant[v]`: private interrupt n of vCPU v wants a list register
    /// (`wantsDelivery`); bit n%64 of `spiWant[n/64]`: SPI 32+n does. The trap-return and WFI paths
    /// look at these words instead of every interrupt.
    public private(set) var privateWant: [UInt32]
    public private(set) var spiWant: [UInt64]
    /// GICD_IROUTER<n> per SPI, as written by the guest.
    public var spiRoute: [UInt64]
    /// Per SPI: the vCPU whose list register it was last loaded into. Meaningful while the SPI
    /// is `inListRegister`: after IROUTER changes, that vCPU, not the SPI's target, holds it.
    public private(set) var spiHolder: [Int]
    /// Per vCPU: something may have become deliverable since its list registers were
    /// last filled. Keeps the trap-return path from rescanning every interrupt.
    public var needsFill: [Bool]

    public init(vcpus: Int, spis: Int = 32) {
        vcpuCount = max(0, vcpus)
        spiCount = max(0, spis)
        banked = []; self.spis = []; spiRoute = []; spiHolder = []; privateWant = []; spiWant = []
        needsFill = []
        reset()
    }

    /// The state at power-on, in place (a rebooting domain keeps its vGIC object).
    public func reset() {
        distributorControl = 0
        crossKicks = 0
        var priv = VirtualInterrupt()
        banked = [VirtualInterrupt](repeating: priv, count: VGIC.privateCount * vcpuCount)
        priv.edge = true; priv.enabled = true                       // SGIs: edge, always enabled
        for v in 0..<vcpuCount { for i in 0..<16 { banked[v * VGIC.privateCount + i] = priv } }
        // Which SPIs are the board's passed-through ones survives a reset (the routing is the board's).
        let hardware = spis.indices.filter { spis[$0].hardware }
        spis = [VirtualInterrupt](repeating: VirtualInterrupt(), count: spiCount)
        for s in hardware where s < spiCount { spis[s].hardware = true }
        spiRoute = [UInt64](repeating: 0, count: spiCount)
        spiHolder = [Int](repeating: 0, count: spiCount)
        privateWant = [UInt32](repeating: 0, count: vcpuCount)
        spiWant = [UInt64](repeating: 0, count: (spiCount + 63) / 64)
        needsFill = [Bool](repeating: false, count: vcpuCount)
    }

    public var intidLimit: Int { VGIC.privateCount + spiCount }
    public var groupsEnabled: Bool { distributorControl & 3 != 0 }

    public func isValid(intid: Int) -> Bool { intid >= 0 && intid < intidLimit }

    public func irq(_ intid: Int, vcpu: Int) -> VirtualInterrupt {
        intid < VGIC.privateCount ? banked[vcpu * VGIC.privateCount + intid] : spis[intid - VGIC.privateCount]
    }

    /// The one place interrupt state changes. It keeps the want masks, and it keeps the
    /// invariant the return path, WFI and poll rely on: an interrupt that comes to want a list
    /// register marks its owner for a refill (`needsFill`). When that owner is not `vcpu` (an
    /// SPI routed elsewhere, freed from `vcpu`'s list register), it is also noted in
    /// `crossKicks` for the hypervisor to kick.
    public func update(_ intid: Int, vcpu: Int, _ body: (inout VirtualInterrupt) -> Void) {
        if intid < VGIC.privateCount {
            let bit = UInt32(1) << UInt32(intid)
            let was = privateWant[vcpu] & bit != 0            // the mask mirrors wantsDelivery
            let k = vcpu * VGIC.privateCount + intid
            body(&banked[k])
            if banked[k].wantsDelivery {
                privateWant[vcpu] |= bit
                if !was { needsFill[vcpu] = true }
            } else {
                privateWant[vcpu] &= ~bit
            }
        } else {
            let s = intid - VGIC.privateCount
            let bit = UInt64(1) << UInt64(s & 63)
            let was = spiWant[s >> 6] & bit != 0
            body(&spis[s])
            if spis[s].wantsDelivery {
                spiWant[s >> 6] |= bit
                if !was { note(targetVCPU(ofSPI: intid), by: vcpu, kick: true) }
            } else {
                spiWant[s >> 6] &= ~bit
            }
        }
    }

    /// vCPUs (bit per vCPU index) that `update` marked for a refill on behalf of another vCPU;
    /// the hypervisor takes them (and clears this) after the operation and kicks them.
    public var crossKicks: UInt64 = 0

    /// `v` refills; with `kick`, and when `v` is not the vCPU `by` acting now, it is also
    /// named in `crossKicks` (it may be blocked in WFI).
    func note(_ v: Int, by actor: Int, kick: Bool) {
        guard v >= 0, v < vcpuCount else { return }
        needsFill[v] = true
        if kick && v != actor && v < 64 { crossKicks |= UInt64(1) << UInt64(v) }
    }

    /// The vCPU an SPI is delivered to: its IROUTER affinity, vCPU 0 if that names none.
    public func targetVCPU(ofSPI intid: Int) -> Int {
        let r = spiRoute[intid - VGIC.privateCount]
        // IROUTER keeps Aff3 in [39:32], as MPIDR does: the same encoding vcpuIndex expects.
        return VirtualPSCI.vcpuIndex(mpidr: r & 0xFF_00FF_FFFF, count: vcpuCount) ?? 0
    }

    /// The vCPU that must load `intid` into a list register.
    public func owner(of intid: Int, vcpu: Int) -> Int {
        intid < VGIC.privateCount ? vcpu : targetVCPU(ofSPI: intid)
    }

    // MARK: sources

    /// An edge event (SGI, timer, event-channel upcall, ISPENDR). Returns the vCPU to
    /// kick, if any. An interrupt already in a list register is kicked too: its owner
    /// must mark that list register pending again (the guest's EOI does not trap).
    @discardableResult
    public func raise(_ intid: Int, vcpu: Int) -> Int? {
        guard isValid(intid: intid), vcpu >= 0, vcpu < vcpuCount else { return nil }
        update(intid, vcpu: vcpu) { $0.latch = true }
        return noteNewPending(intid, vcpu: vcpu)
    }

    /// A level-sensitive source's line. Returns the vCPU to kick when it newly asserts.
    @discardableResult
    public func setLine(_ intid: Int, vcpu: Int, high: Bool) -> Int? {
        guard isValid(intid: intid), vcpu >= 0, vcpu < vcpuCount else { return nil }
        let was = irq(intid, vcpu: vcpu).line
        update(intid, vcpu: vcpu) { $0.line = high }
        guard high, !was else { return nil }
        return noteNewPending(intid, vcpu: vcpu)
    }

    private func noteNewPending(_ intid: Int, vcpu: Int) -> Int? {
        let s = irq(intid, vcpu: vcpu)
        guard s.enabled, s.inListRegister || s.wantsDelivery else { return nil }
        let o = owner(of: intid, vcpu: vcpu)
        needsFill[o] = true
        return o
    }

    // MARK: list registers

    /// Interrupts `vcpu` should have in list registers, best priority first.
    /// Calls `body` with each interrupt `vcpu` should load (from the want masks, INTID order)
    /// until it returns false.
    private func forEachWanting(vcpu: Int, _ body: (Int) -> Bool) {
        guard groupsEnabled, vcpu >= 0, vcpu < vcpuCount else { return }
        var p = privateWant[vcpu]
        while p != 0 {
            guard body(p.trailingZeroBitCount) else { return }
            p &= p &- 1
        }
        for k in 0..<spiWant.count {
            var w = spiWant[k]
            while w != 0 {
                let id = k * 64 + w.trailingZeroBitCount + VGIC.privateCount
                w &= w &- 1
                if targetVCPU(ofSPI: id) == vcpu { guard body(id) else { return } }
            }
        }
    }

    public func deliverable(vcpu: Int) -> [Int] {
        var out: [Int] = []
        forEachWanting(vcpu: vcpu) { out.append($0); return true }
        guard out.count > 1 else { return out }
        // Active and pending ones (ISACTIVER) cannot be signalled before the guest
        // deactivates them: they come last, after everything the guest can take.
        out.sort { a, b in
            let ia = irq(a, vcpu: vcpu), ib = irq(b, vcpu: vcpu)
            if ia.active != ib.active { return !ia.active }
            return ia.priority != ib.priority ? ia.priority < ib.priority : a < b
        }
        return out
    }

    /// Makes SPI `intid` a passed-through physical one (`VirtualInterrupt.hardware`).
    public func passThroughHardware(_ intid: Int) {
        guard intid >= VGIC.privateCount, isValid(intid: intid) else { return }
        spis[intid - VGIC.privateCount].hardware = true
    }

    /// Folds the hardware's view back after the guest ran: `lrs` are the vCPU's list
    /// registers as read; entries the guest has finished with are freed (set to 0).
    public func sync<L: ListRegisterSet>(vcpu: Int, lrs: inout L) {
        for n in 0..<lrs.count where lrs[n] != 0 {
            let lr = ListRegister(raw: lrs[n])
            let id = Int(lr.virtualID)
            guard isValid(intid: id) else { lrs[n] = 0; continue }
            switch lr.state {
            case .invalid:
                update(id, vcpu: vcpu) { $0.inListRegister = false; $0.active = false; $0.clearRequested = false; $0.parked = false }
                lrs[n] = 0
                needsFill[vcpu] = true
            case .active:
                update(id, vcpu: vcpu) { $0.active = true; $0.parked = false }
            case .pendingActive:
                update(id, vcpu: vcpu) { $0.active = true }
            case .pending:
                // Deactivated by the guest (EOIR/DIR) while parked: it can be taken now.
                update(id, vcpu: vcpu) { $0.active = false; $0.parked = false }
            }
        }
    }

    /// A vCPU is reset (PSCI CPU_ON after CPU_OFF): the interrupts its saved list registers
    /// held come back to the vGIC (a pending one stays pending, an active one is forgotten
    /// with the CPU's state), so none stays marked as held by a list register forever.
    /// Returns the physical INTIDs of hardware entries that were active: nobody will
    /// deactivate them through a list register now, so the hypervisor must.
    @discardableResult
    public func releaseListRegisters<L: ListRegisterSet>(vcpu: Int, lrs: L) -> [UInt32] {
        guard vcpu >= 0, vcpu < vcpuCount else { return [] }
        var physical: [UInt32] = []
        for raw in lrs where raw != 0 {
            let lr = ListRegister(raw: raw)
            let id = Int(lr.virtualID)
            if lr.isHardware && (lr.state == .active || lr.state == .pendingActive) { physical.append(lr.physicalID) }
            guard isValid(intid: id) else { continue }
            let pending = lr.state == .pending || lr.state == .pendingActive
            update(id, vcpu: vcpu) {
                $0.inListRegister = false; $0.active = false; $0.parked = false; $0.clearRequested = false
                if pending { $0.latch = true }
            }
        }
        return physical
    }

    /// Fills free list registers with deliverable interrupts. Returns true when some
    /// remain undelivered (then the caller asks for a maintenance interrupt, NPIE).
    public func fill<L: ListRegisterSet>(vcpu: Int, lrs: inout L) -> Bool {
        guard needsFill[vcpu] else { return false }
        // Interrupts already in a list register follow what the guest did since they
        // were loaded: a new priority is copied in; a pending one that was disabled or
        // cleared (ICENABLER/ICPENDR) is taken back; one raised again becomes
        // pending+active when active, so the guest takes it again after its EOI. (A
        // level line still high is looked at when the EOI brings a maintenance interrupt.)
        for n in 0..<lrs.count where lrs[n] != 0 {
            let lr = ListRegister(raw: lrs[n])
            let id = Int(lr.virtualID)
            guard isValid(intid: id) else { continue }
            let s = irq(id, vcpu: vcpu)
            guard s.inListRegister else { continue }
            lrs[n] = (lrs[n] & ~(UInt64(0xFF) << 48)) | (UInt64(s.priority) << 48)
            // Its level line rose while it sat here: look again at the guest's EOI.
            if !s.edge && s.line && !s.hardware { lrs[n] |= 1 << 41 }
            if s.clearRequested {
                update(id, vcpu: vcpu) { $0.clearRequested = false; $0.latch = false }
                if lr.state == .pending { lrs[n] = 0; update(id, vcpu: vcpu) { $0.inListRegister = false }; continue }
                if lr.state == .pendingActive {
                    lrs[n] = (lrs[n] & ~(3 << 62)) | (ListRegister.State.active.rawValue << 62)
                    if s.parked {
                        // Active only by ISACTIVER and no longer pending: nothing for the hardware.
                        lrs[n] = 0
                        update(id, vcpu: vcpu) { $0.inListRegister = false; $0.parked = false }
                        continue
                    }
                }
            }
            // ICACTIVER/ISACTIVER written while the hardware held the interrupt.
            if !s.active && (lr.state == .active || lr.state == .pendingActive) {
                if lr.state == .active { lrs[n] = 0; update(id, vcpu: vcpu) { $0.inListRegister = false; $0.parked = false }; continue }
                lrs[n] = (lrs[n] & ~(3 << 62)) | (ListRegister.State.pending.rawValue << 62)
                update(id, vcpu: vcpu) { $0.parked = false }
            } else if s.active && lr.state == .pending {
                lrs[n] = (lrs[n] & ~(3 << 62)) | (ListRegister.State.pendingActive.rawValue << 62)
                update(id, vcpu: vcpu) { $0.parked = true }
            }
            if !s.enabled && ListRegister(raw: lrs[n]).state == .pending {
                // Still pending, but not to be signalled while disabled: back to the vGIC.
                lrs[n] = 0
                update(id, vcpu: vcpu) { $0.inListRegister = false; $0.latch = true }
                continue
            }
            guard s.latch else { continue }
            // A hardware entry is never made pending+active: its physical interrupt cannot
            // fire again before the guest deactivates it, so a latch while it is active (a
            // race with that deactivation) waits in the vGIC for the entry to free.
            if s.hardware {
                if ListRegister(raw: lrs[n]).state == .pending { update(id, vcpu: vcpu) { $0.latch = false } }
                continue
            }
            if ListRegister(raw: lrs[n]).state == .active {
                lrs[n] = (lrs[n] & ~(3 << 62)) | (ListRegister.State.pendingActive.rawValue << 62)
                update(id, vcpu: vcpu) { $0.parked = false }         // acknowledged by the guest
            }
            update(id, vcpu: vcpu) { $0.latch = false }
        }
        // The usual case, one new interrupt and a free list register: no list, no sort.
        switch candidates(vcpu: vcpu) {
        case .none:
            needsFill[vcpu] = false
            return false
        case .one(let id):
            if let n = firstFree(&lrs) {
                load(id, vcpu: vcpu, into: n, lrs: &lrs)
                needsFill[vcpu] = false
                return false
            }
        case .several:
            break
        }
        let want = deliverable(vcpu: vcpu)
        // The list registers must hold the most urgent of what is waiting, not only what got
        // there first: pending entries the guest cannot take yet (masked by its priority, or
        // less urgent) give way to better ones, as many as those need. Making room only when
        // every list register was taken let entries masked by the guest's PMR sit in all but
        // one list register forever (an underflow maintenance interrupt never comes with more
        // than one valid), and through that one a flood of urgent SGIs from another vCPU kept
        // the virtual timer out for good (issue 10: the hostile's health probe, classes g+m+o).
        var free = 0
        for n in 0..<lrs.count where lrs[n] == 0 { free += 1 }
        var placed = Swift.min(free, want.count)        // want[0..<placed] go into free list registers
        var w = 0                                       // entries taken back to make room
        while placed < want.count {
            let next = want[placed]
            // A parked entry (pending+active by ISACTIVER) is never signalled: it gives
            // way first to anything the guest can take, whatever the priorities.
            if !irq(next, vcpu: vcpu).active,
               let p = lrs.indices.first(where: { lrs[$0] != 0 && ListRegister(raw: lrs[$0]).state == .pendingActive
                                                  && isValid(intid: Int(ListRegister(raw: lrs[$0]).virtualID))
                                                  && irq(Int(ListRegister(raw: lrs[$0]).virtualID), vcpu: vcpu).parked }) {
                let id = Int(ListRegister(raw: lrs[p]).virtualID)
                update(id, vcpu: vcpu) { $0.inListRegister = false; $0.parked = false; $0.latch = true }
                lrs[p] = 0
                placed += 1
                w += 1
                continue
            }
            // An active interrupt (pending+active by ISACTIVER) cannot be signalled before the
            // guest deactivates it: it gets only a free list register, never one taken from an
            // interrupt the guest can take. (Issue 10: the hostile's SPIs activated at priority 0
            // pushed its self-SGI out; with three parked entries valid, the underflow maintenance
            // interrupt that would have brought the SGI back never came, and it waited seconds.)
            // The ones after it in `want` are active too (they are sorted last).
            guard !irq(next, vcpu: vcpu).active else { break }
            var worst = -1
            for n in 0..<lrs.count where ListRegister(raw: lrs[n]).state == .pending {
                if worst < 0 || ListRegister(raw: lrs[n]).priority > ListRegister(raw: lrs[worst]).priority { worst = n }
            }
            guard worst >= 0, ListRegister(raw: lrs[worst]).priority > irq(next, vcpu: vcpu).priority else { break }
            let id = Int(ListRegister(raw: lrs[worst]).virtualID)
            if isValid(intid: id) { update(id, vcpu: vcpu) { $0.inListRegister = false; $0.latch = true } }
            lrs[worst] = 0
            placed += 1
            w += 1
        }
        var k = 0
        for n in 0..<lrs.count where lrs[n] == 0 {
            guard k < want.count else { break }
            load(want[k], vcpu: vcpu, into: n, lrs: &lrs)
            k += 1
        }
        // Still owed a refill when some did not fit, or were taken back to make room;
        // the maintenance interrupt brings us back.
        let more = k < want.count || w > 0
        needsFill[vcpu] = more
        return more
    }

    /// Puts `id` into list register `n` (free) as pending, or pending+active when the vGIC
    /// holds it active.
    /// An index loop over an `inout` (read-only here): the collection algorithms, or a by-value
    /// parameter, copy the inline list register file (136 bytes) on the trap path.
    private func firstFree<L: ListRegisterSet>(_ lrs: inout L) -> Int? {
        for n in 0..<lrs.count where lrs[n] == 0 { return n }
        return nil
    }

    private func load<L: ListRegisterSet>(_ id: Int, vcpu: Int, into n: Int, lrs: inout L) {
        let v = irq(id, vcpu: vcpu)
        lrs[n] = ListRegister(virtualID: UInt32(id), priority: v.priority, group1: true,
                              state: v.active ? .pendingActive : .pending,
                              // A level-sensitive source still asserted may stay so when the
                              // guest finishes: ask for a maintenance interrupt on EOI to look
                              // again. Not for one only latched (an event-channel upcall, the
                              // timer): that would cost the guest a trap at every EOI.
                              eoiMaintenance: !v.edge && v.line, hardware: v.hardware).raw
        update(id, vcpu: vcpu) { $0.inListRegister = true; $0.latch = false; $0.clearRequested = false; $0.parked = v.active }
        if id >= VGIC.privateCount { spiHolder[id - VGIC.privateCount] = vcpu }
    }

    private enum Candidates { case none, one(Int), several }

    /// What `deliverable` would list, told apart without building the list.
    private func candidates(vcpu: Int) -> Candidates {
        var found: Int? = nil, several = false
        forEachWanting(vcpu: vcpu) { id in
            if found != nil { several = true; return false }
            found = id
            return true
        }
        if several { return .several }
        return found.map { .one($0) } ?? .none
    }

    /// True when `vcpu` has something to run for (used to wake a blocked vCPU).
    /// (Asked on every WFI and poll: answers at the first one, building no list.)
    public func hasDeliverable(vcpu: Int) -> Bool {
        // needsFill is set whenever an interrupt may have become deliverable and cleared only
        // when a fill placed every one: without it there is nothing (fill relies on the same).
        guard vcpu >= 0, vcpu < vcpuCount, needsFill[vcpu] else { return false }
        var any = false
        forEachWanting(vcpu: vcpu) { _ in any = true; return false }
        return any
    }
}
