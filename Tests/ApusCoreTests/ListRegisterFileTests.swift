import Testing
@testable import ApusCore

@Suite struct ListRegisterFileTests {
    @Test func tracksEntriesInUseAndChanged() {
        var f = ListRegisterFile(count: 4)
        #expect(f.count == 4 && f.inUse == 0 && f.changed == 0)
        f[2] = 0xA0
        f[0] = 0xB0
        #expect(f.inUse == 0b0101)
        #expect(f.takeChanged() == 0b0101)
        #expect(f.changed == 0)
        f[2] = 0xA0                                   // same value: nothing to write
        #expect(f.changed == 0)
        f[2] = 0
        #expect(f.inUse == 0b0001)
        #expect(f.takeChanged() == 0b0100)
    }

    @Test func observedValuesAreNotWrittenBack() {
        var f = ListRegisterFile(count: 4)
        f.observe(3, 0x77)
        #expect(f[3] == 0x77)
        #expect(f.inUse == 0b1000)
        #expect(f.changed == 0)
    }

    @Test func countIsClampedToTheArchitecturalMaximum() {
        #expect(ListRegisterFile(count: 40).count == 16)
        #expect(ListRegisterFile(count: -1).count == 0)
        #expect(Array(ListRegisterFile(count: 3)) == [0, 0, 0])
    }

    @Test func theVGICFillsItLikeAnArray() {
        let g = VGIC(vcpus: 1)
        g.distributorControl = 2
        g.update(27, vcpu: 0) { $0.enabled = true }
        g.raise(27, vcpu: 0)
        var f = ListRegisterFile(count: 4)
        #expect(g.fill(vcpu: 0, lrs: &f) == false)
        #expect(f.takeChanged() == 0b0001)
        #expect(ListRegister(raw: f[0]).virtualID == 27)
        #expect(ListRegister(raw: f[0]).state == .pending)
    }
}
