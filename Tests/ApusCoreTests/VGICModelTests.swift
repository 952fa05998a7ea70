import Testing
@testable import ApusCore

/// The guest's side of a GICv3 virtual CPU interface, as the hardware runs it from the list
/// registers (Arm IHI 0069, 4.8 and 12.4.6; EOImode 0, so an EOI also deactivates): enough of
/// it to let the vGIC meet a guest that keeps changing its state, as the hostile guest does.
private struct GuestCPUInterface {
    var lrs: [UInt64]
    /// What the hypervisor last wrote to the list registers or read back from them.
    var shadow: [UInt64]
    var pmr: UInt8 = 0xF8
    /// INTIDs taken by the guest, in order.
    var taken: [Int] = []

    init(listRegisters: Int) { lrs = [UInt64](repeating: 0, count: listRegisters); shadow = lrs }

    /// ICH_HCR_EL2.UIE as the hypervisor last set it: a maintenance interrupt when at most one
    /// list register is valid.
    var underflowWanted = false
    var maintenanceDue: Bool {
        underflowWanted && lrs.filter { $0 != 0 && ListRegister(raw: $0).state != .invalid }.count <= 1
    }

    /// Acknowledged and not yet finished: the guest is in its handler, interrupts masked.
    var inHandler: Int? = nil

    /// The guest acknowledges the most urgent pending entry its PMR lets through (with no
    /// running priority: one handler at a time) and stays in its handler.
    mutating func acknowledge() -> Int? {
        guard inHandler == nil else { return nil }
        var best = -1
        for n in lrs.indices where lrs[n] != 0 {
            let lr = ListRegister(raw: lrs[n])
            guard lr.state == .pending, lr.priority < pmr else { continue }
            if best < 0 || lr.priority < ListRegister(raw: lrs[best]).priority { best = n }
        }
        guard best >= 0 else { return nil }
        let id = Int(ListRegister(raw: lrs[best]).virtualID)
        lrs[best] = (lrs[best] & ~(UInt64(3) << 62)) | (ListRegister.State.active.rawValue << 62)
        inHandler = id
        taken.append(id)
        return id
    }

    /// EOI (mode 0): the active entry of that INTID becomes invalid, or pending when it was
    /// pending+active; with none, nothing happens to the list registers.
    mutating func endOfInterrupt() {
        guard let id = inHandler else { return }
        inHandler = nil
        for n in lrs.indices where lrs[n] != 0 && Int(ListRegister(raw: lrs[n]).virtualID) == id {
            switch ListRegister(raw: lrs[n]).state {
            case .active: lrs[n] &= ~(UInt64(3) << 62); return
            case .pendingActive: lrs[n] = (lrs[n] & ~(UInt64(3) << 62)) | (ListRegister.State.pending.rawValue << 62); return
            default: continue
            }
        }
    }

    /// Acknowledge and EOI at once. Returns the INTID taken.
    mutating func takeOne() -> Int? {
        guard let id = acknowledge() else { return nil }
        endOfInterrupt()
        return id
    }
}

/// The XenStore tests' SplitMix64 generator, so a failure names its seed and repeats.
private typealias SplitMix = XSSplitMix
extension XSSplitMix {
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

/// Randomized runs of two vCPUs against the vGIC: the guest writes its redistributor's
/// enable, pending, active and priority registers and its PMR at random, sends SGIs to
/// itself and to the other vCPU, and takes what the list registers signal. After every
/// step the vGIC's books must agree with the list registers, and at every health probe
/// (the hostile guest's: clear every active state, enable SGI 0 at priority 0x80, send it
/// to itself) SGI 0 must reach the guest.
@Suite struct VGICModelTests {
    private static let sgiBase: UInt64 = 0x1_0000

    /// A trap, as `ListRegisters.sync` takes it: the vGIC hears of the list registers only
    /// when one changed since the hypervisor last wrote or read them.
    private func trap(_ g: VGIC, _ cpu: inout GuestCPUInterface, vcpu: Int) {
        guard cpu.lrs != cpu.shadow else { return }
        g.sync(vcpu: vcpu, lrs: &cpu.lrs)
        cpu.shadow = cpu.lrs
    }

    private func resume(_ g: VGIC, _ cpu: inout GuestCPUInterface, vcpu: Int) {
        cpu.underflowWanted = g.fill(vcpu: vcpu, lrs: &cpu.lrs)
        cpu.shadow = cpu.lrs
        _ = g.crossKicks
        g.crossKicks = 0
    }

    /// Every valid list register names an interrupt the vGIC marks as held by one, once.
    private func booksAgree(_ g: VGIC, _ cpu: GuestCPUInterface, vcpu: Int) -> String? {
        var seen: Set<Int> = [], finished: Set<Int> = []
        for n in cpu.lrs.indices where cpu.lrs[n] != 0 && ListRegister(raw: cpu.lrs[n]).state == .invalid {
            finished.insert(Int(ListRegister(raw: cpu.lrs[n]).virtualID))   // the guest is done; synced at the next trap
        }
        for n in cpu.lrs.indices where cpu.lrs[n] != 0 && ListRegister(raw: cpu.lrs[n]).state != .invalid {
            let id = Int(ListRegister(raw: cpu.lrs[n]).virtualID)
            guard g.isValid(intid: id) else { return "LR\(n) holds invalid INTID \(id)" }
            guard seen.insert(id).inserted else { return "INTID \(id) in two list registers" }
            guard g.irq(id, vcpu: vcpu).inListRegister else { return "LR\(n) holds \(id), which the vGIC does not mark as held" }
        }
        for id in 0..<VGIC.privateCount where g.irq(id, vcpu: vcpu).inListRegister && !seen.contains(id) && !finished.contains(id) {
            return "INTID \(id) marked as held by a list register that does not hold it"
        }
        return nil
    }

    private func sgi(_ intid: Int, to target: Int) -> UInt64 { UInt64(intid) << 24 | UInt64(1) << UInt64(target) }

    private func randomStep(_ g: VGIC, _ cpus: inout [GuestCPUInterface], _ r: inout SplitMix) {
        let v = r.below(2)
        let rd = UInt64(v) * GICv3Layout.redistributorStride + VGICModelTests.sgiBase
        trap(g, &cpus[v], vcpu: v)
        switch r.below(14) {
        case 10: _ = g.sendSGI(from: v, value: sgi(0, to: v))
        // The distributor's SPIs 32-63: enable, pend, activate (parked in list registers), priorities.
        case 11: _ = g.writeDistributor(offset: [0x104, 0x184, 0x204, 0x284, 0x304, 0x384][r.below(6)], size: 4,
                                        value: r.next() & 0xFFFF_FFFF, vcpu: v)
        case 12: _ = g.writeDistributor(offset: 0x420 + UInt64(r.below(8) * 4), size: 4, value: r.next() & 0xFFFF_FFFF, vcpu: v)
        case 13: g.raise(32 + r.below(32), vcpu: v)
        case 0: _ = g.writeRedistributor(offset: rd + 0x100, size: 4, value: r.next() & 0xFFFF_FFFF, writer: v)   // ISENABLER0
        case 1: _ = g.writeRedistributor(offset: rd + 0x180, size: 4, value: r.next() & 0xFFFF_FFFF, writer: v)   // ICENABLER0
        case 2: _ = g.writeRedistributor(offset: rd + 0x200, size: 4, value: r.next() & 0xFFFF_FFFF, writer: v)   // ISPENDR0
        case 3: _ = g.writeRedistributor(offset: rd + 0x280, size: 4, value: r.next() & 0xFFFF_FFFF, writer: v)   // ICPENDR0
        case 4: _ = g.writeRedistributor(offset: rd + 0x300, size: 4, value: r.next() & 0xFFFF_FFFF, writer: v)   // ISACTIVER0
        case 5: _ = g.writeRedistributor(offset: rd + 0x380, size: 4, value: r.next() & 0xFFFF_FFFF, writer: v)   // ICACTIVER0
        case 6: _ = g.writeRedistributor(offset: rd + 0x400 + UInt64(r.below(8) * 4), size: 4,
                                          value: r.next() & 0xFFFF_FFFF, writer: v)                                // IPRIORITYR
        case 7: cpus[v].pmr = [0xF8, 0xF0, 0x80, 0x00, 0xFF][r.below(5)]
        default:
            // SGI floods, mostly to the other vCPU at urgent priorities (the hostile's class e/g).
            for _ in 0..<(1 + r.below(4)) {
                let target = r.below(3) == 0 ? v : 1 - v
                for k in g.sendSGI(from: v, value: sgi(r.below(16), to: target)) where k != v {
                    trap(g, &cpus[k], vcpu: k); resume(g, &cpus[k], vcpu: k)
                }
            }
        }
        resume(g, &cpus[v], vcpu: v)
        if cpus[v].inHandler != nil && r.below(2) == 0 { cpus[v].endOfInterrupt() }
        switch r.below(4) {
        case 0: _ = cpus[v].acknowledge()             // a trap comes while the handler runs
        default: for _ in 0..<r.below(3) { _ = cpus[v].takeOne() }
        }
    }

    /// The hostile guest's health probe, on vCPU 0. Returns nil when SGI 0 arrived.
    private func healthProbe(_ g: VGIC, _ cpus: inout [GuestCPUInterface]) -> String? {
        let rd = VGICModelTests.sgiBase
        cpus[0].endOfInterrupt()
        trap(g, &cpus[0], vcpu: 0)
        _ = g.writeRedistributor(offset: rd + 0x380, size: 4, value: 0xFFFF_FFFF, writer: 0)   // ICACTIVER0
        _ = g.writeRedistributor(offset: rd + 0x100, size: 4, value: 1 << 0 | 1 << 27, writer: 0)
        _ = g.writeRedistributor(offset: rd + 0x400, size: 1, value: 0x80, writer: 0)
        _ = g.writeRedistributor(offset: rd + 0x41B, size: 1, value: 0x80, writer: 0)
        cpus[0].pmr = 0xF8
        resume(g, &cpus[0], vcpu: 0)
        trap(g, &cpus[0], vcpu: 0)
        _ = g.sendSGI(from: 0, value: sgi(0, to: 0))
        resume(g, &cpus[0], vcpu: 0)
        let before = cpus[0].taken.count
        // The guest spins and nothing else traps (its other vCPU is idle, no timer is due):
        // only the maintenance interrupt the hypervisor asked for brings it back to EL2.
        for _ in 0..<64 {
            while cpus[0].takeOne() != nil {}
            if cpus[0].taken[before...].contains(0) { return nil }
            guard cpus[0].maintenanceDue else { break }
            trap(g, &cpus[0], vcpu: 0)
            resume(g, &cpus[0], vcpu: 0)
        }
        let pending = g.readRedistributor(offset: rd + 0x200, size: 4)
        return "SGI 0 not taken and nothing brings the vCPU back to EL2; ISPENDR0 \(pending), LRs \(cpus[0].lrs.map { String($0, radix: 16) }), SGI 0 \(g.irq(0, vcpu: 0))"
    }

    @Test(arguments: (UInt64(1)...16).map { $0 })
    func randomGuestsKeepTheBooksAndTheHealthProbePasses(seed: UInt64) {
        let g = VGIC(vcpus: 2)
        g.distributorControl = 2
        var cpus = [GuestCPUInterface(listRegisters: 4), GuestCPUInterface(listRegisters: 4)]
        var r = SplitMix(seed: seed)
        for step in 1...20_000 {
            randomStep(g, &cpus, &r)
            for v in 0..<2 {
                if let bad = booksAgree(g, cpus[v], vcpu: v) {
                    Issue.record("seed \(seed), step \(step), vCPU \(v): \(bad)")
                    return
                }
            }
            if step % 500 == 0, let bad = healthProbe(g, &cpus) {
                Issue.record("seed \(seed), step \(step): health probe: \(bad)")
                return
            }
        }
    }
}
