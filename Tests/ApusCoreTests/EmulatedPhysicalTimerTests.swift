import Testing
@testable import ApusCore

@Suite struct EmulatedPhysicalTimerTests {
    typealias T = EmulatedPhysicalTimer

    @Test func disabledTimerNeverFiresAndReportsNoStatus() {
        var t = T()
        t.write(.compare, 100, count: 0)
        #expect(t.deadline == nil)
        do { let fired = t.expire(count: 1000); #expect(!fired) }
        #expect(t.read(.control, count: 1000) == 0)
    }

    @Test func enabledTimerFiresOnceAtItsCompareValue() {
        var t = T()
        t.write(.compare, 500, count: 0)
        t.write(.control, T.enable, count: 0)
        #expect(t.deadline == 500)
        do { let fired = t.expire(count: 499); #expect(!fired) }
        #expect(t.read(.control, count: 499) == T.enable)
        do { let fired = t.expire(count: 500); #expect(fired) }
        #expect(t.read(.control, count: 600) == T.enable | T.interruptStatus)
        // Raised once: the guest must reprogram (or toggle) it to get another.
        do { let fired = t.expire(count: 10_000); #expect(!fired) }
        #expect(t.deadline == nil)
        t.write(.compare, 20_000, count: 10_000)
        #expect(t.deadline == 20_000)
    }

    @Test func maskedTimerShowsStatusButRaisesNothing() {
        var t = T()
        t.write(.control, T.enable | T.interruptMask, count: 0)
        t.write(.compare, 10, count: 0)
        do { let fired = t.expire(count: 50); #expect(!fired) }
        #expect(t.read(.control, count: 50) == T.enable | T.interruptMask | T.interruptStatus)
        t.write(.control, T.enable, count: 50)             // unmasking a met condition raises it
        do { let fired = t.expire(count: 50); #expect(fired) }
    }

    @Test func timerValueIsASigned32BitOffsetFromNow() {
        var t = T()
        t.write(.timerValue, 1000, count: 5000)
        #expect(t.read(.compare, count: 5000) == 6000)
        #expect(t.read(.timerValue, count: 5500) == 500)
        // Past the deadline TVAL goes negative: 0xFFFF_FF9C is -100, upper half zero.
        #expect(t.read(.timerValue, count: 6100) == 0xFFFF_FF9C)
        t.write(.timerValue, 0xFFFF_FFFF_FFFF_FF00, count: 5000)   // -256 (only the low 32 bits count)
        #expect(t.read(.compare, count: 5000) == 5000 - 256)
    }

    @Test func controlKeepsOnlyEnableAndMask() {
        var t = T()
        t.write(.control, 0xFFFF_FFFF_FFFF_FFFF, count: 0)
        #expect(t.control == T.enable | T.interruptMask)
    }
}
