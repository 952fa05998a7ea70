import Testing
@testable import ApusCore

private let ctrlA: UInt8 = 0x01

private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

extension ConsoleMux {
    /// Everything printed for `s` written by domain `id`, one byte at a time.
    fileprivate mutating func write(_ id: Int, _ s: String) -> String {
        var out: [UInt8] = []
        for b in s.utf8 { out += output(domain: id, b) }
        return String(decoding: out, as: UTF8.self)
    }

    fileprivate mutating func switchFocus() {
        #expect(input(ctrlA) == .swallowed)
        #expect(input(ctrlA) == .swallowed)
        #expect(input(ctrlA) == .switched)
    }
}

private func twoDomains() -> ConsoleMux {
    var m = ConsoleMux()
    m.addDomain(1)
    m.addDomain(2)
    return m
}

@Suite struct ConsoleMuxTests {
    // MARK: focus

    @Test func noDomainsMeansTheHypervisorHasInput() {
        var m = ConsoleMux()
        #expect(m.focusedDomain == nil)
        #expect(m.input(0x61) == .toHypervisor(0x61))
        m.switchFocus()
        #expect(m.focusedDomain == nil, "nothing else to switch to")
    }

    @Test func theFirstDomainGetsTheKeyboard() {
        var m = ConsoleMux()
        m.addDomain(1)
        #expect(m.focusedDomain == 1)
        m.addDomain(2)
        #expect(m.focusedDomain == 1, "later domains do not steal it")
        #expect(m.domains == [1, 2])
    }

    @Test func ctrlAThreeTimesCyclesFocus() {
        var m = twoDomains()
        m.switchFocus()
        #expect(m.focusedDomain == 2)
        m.switchFocus()
        #expect(m.focusedDomain == nil, "hypervisor")
        m.switchFocus()
        #expect(m.focusedDomain == 1)
        m.switchFocus()
        #expect(m.focusedDomain == 2)
    }

    @Test func otherBytesResetTheCtrlACount() {
        var m = twoDomains()
        #expect(m.input(ctrlA) == .swallowed)
        #expect(m.input(ctrlA) == .swallowed)
        #expect(m.input(0x78) == .toDomain(1, 0x78))
        #expect(m.input(ctrlA) == .swallowed)
        #expect(m.focusedDomain == 1)
        #expect(m.input(ctrlA) == .swallowed)
        #expect(m.input(ctrlA) == .switched)
        #expect(m.focusedDomain == 2)
        // Six in a row: two switches.
        for _ in 0..<2 { m.switchFocus() }
        #expect(m.focusedDomain == 1)
    }

    @Test func inputRouting() {
        var m = twoDomains()
        #expect(m.input(0x0D) == .toDomain(1, 0x0D))
        m.switchFocus()
        #expect(m.input(0x71) == .toDomain(2, 0x71))
        m.switchFocus()
        #expect(m.input(0x71) == .toHypervisor(0x71))
        #expect(m.input(0x00) == .toHypervisor(0x00))
    }

    @Test func focusMessages() {
        var m = twoDomains()
        #expect(m.focusMessage == "(XEN) *** Serial input to DOM1 (type 'CTRL-a' three times to switch input)\n")
        m.switchFocus()
        #expect(m.focusMessage == "(XEN) *** Serial input to DOM2 (type 'CTRL-a' three times to switch input)\n")
        m.switchFocus()
        #expect(m.focusMessage == "(XEN) *** Serial input to Xen (type 'CTRL-a' three times to switch input)\n")
    }

    @Test func removingTheFocusedDomainMovesFocusOn() {
        var m = ConsoleMux()
        for d in [1, 2, 3] { m.addDomain(d) }
        m.switchFocus()
        #expect(m.focusedDomain == 2)
        m.removeDomain(2)
        #expect(m.domains == [1, 3])
        #expect(m.focusedDomain == 3)
        m.removeDomain(3)
        #expect(m.focusedDomain == 1)
        m.removeDomain(1)
        #expect(m.focusedDomain == nil)
        #expect(m.input(0x61) == .toHypervisor(0x61))
    }

    @Test func removingAnotherDomainKeepsFocus() {
        var m = ConsoleMux()
        for d in [1, 2, 3] { m.addDomain(d) }
        m.switchFocus(); m.switchFocus()
        #expect(m.focusedDomain == 3)
        m.removeDomain(1)
        #expect(m.focusedDomain == 3)
        m.removeDomain(7)
        #expect(m.focusedDomain == 3, "unknown id: no change")
    }

    /// Removing a domain listed before the focused one must not hand the keyboard to another domain.
    @Test func removingAnEarlierDomainKeepsFocusOnTheSameDomain() {
        var m = ConsoleMux()
        for d in [1, 2, 3] { m.addDomain(d) }
        m.switchFocus()
        #expect(m.focusedDomain == 2)
        m.removeDomain(1)
        #expect(m.focusedDomain == 2)
    }

    // MARK: output

    @Test func focusedDomainIsPassedOnAsItComes() {
        var m = twoDomains()
        #expect(m.output(domain: 1, 0x68) == bytes("(d1) h"))
        #expect(m.output(domain: 1, 0x69) == bytes("i"))
        #expect(m.output(domain: 1, 0x0A) == [0x0D, 0x0A])
        #expect(m.output(domain: 1, 0x24) == bytes("(d1) $"))
        #expect(m.output(domain: 1, 0x20) == bytes(" "), "a prompt without a newline is shown")
    }

    @Test func carriageReturnsAreDropped() {
        var m = twoDomains()
        #expect(m.write(1, "a\r\nb\r\n") == "(d1) a\r\n(d1) b\r\n")
        #expect(m.write(2, "c\r\nd\r\n") == "(d2) c\r\n(d2) d\r\n")
        #expect(m.output(domain: 1, 0x0D) == [])
        #expect(m.output(domain: 2, 0x0D) == [])
        #expect(m.write(1, "\r\r\n") == "(d1) \r\n", "an empty line still gets its prefix")
    }

    @Test func otherDomainsAreBufferedPerLine() {
        var m = twoDomains()
        #expect(m.output(domain: 2, 0x61) == [])
        #expect(m.output(domain: 2, 0x62) == [])
        #expect(m.output(domain: 2, 0x0A) == bytes("(d2) ab\r\n"))
        #expect(m.write(2, "one\ntwo") == "(d2) one\r\n")
        #expect(m.write(2, "\n") == "(d2) two\r\n")
    }

    @Test func interleavedDomainsDoNotMixWithinALine() {
        var m = ConsoleMux()
        for d in [1, 2, 3] { m.addDomain(d) }
        m.switchFocus(); m.switchFocus(); m.switchFocus()   // hypervisor has the keyboard
        var printed = ""
        for (a, b) in zip("hello\n".utf8, "world\n".utf8) {
            printed += String(decoding: m.output(domain: 2, a), as: UTF8.self)
            printed += String(decoding: m.output(domain: 3, b), as: UTF8.self)
        }
        #expect(printed == "(d2) hello\r\n(d3) world\r\n")
    }

    @Test func longLinesAreSplitAtTheLimit() {
        var m = twoDomains()
        let limit = ConsoleMux.lineLimit
        var out: [UInt8] = []
        for i in 0..<(limit - 1) { out += m.output(domain: 2, UInt8(0x41 + i % 26)) }
        #expect(out.isEmpty)
        out = m.output(domain: 2, 0x2E)
        let expected = bytes("(d2) ") + (0..<(limit - 1)).map { UInt8(0x41 + $0 % 26) } + [0x2E, 0x0D, 0x0A]
        #expect(out == expected)
        #expect(m.write(2, "rest\n") == "(d2) rest\r\n", "the continuation is a new line")
    }

    @Test func lineOfExactlyTheLimitIncludingNewline() {
        var m = twoDomains()
        let text = String(repeating: "x", count: ConsoleMux.lineLimit - 1) + "\n"
        #expect(m.write(2, text) == "(d2) " + String(repeating: "x", count: ConsoleMux.lineLimit - 1) + "\r\n")
        #expect(m.write(2, "y\n") == "(d2) y\r\n", "no extra blank line")
    }

    @Test func unknownDomainPrintsNothing() {
        var m = twoDomains()
        #expect(m.output(domain: 9, 0x41) == [])
        #expect(m.output(domain: 9, 0x0A) == [])
        #expect(m.passThrough(domain: 9, 0x41) == nil)
    }

    @Test func prefixUsesDecimalIds() {
        var m = ConsoleMux()
        m.addDomain(12)
        m.addDomain(0)
        #expect(m.write(12, "x\n") == "(d12) x\r\n")
        #expect(m.write(0, "y\n") == "(d0) y\r\n")
        #expect(decimal(0) == bytes("0"))
        #expect(decimal(7) == bytes("7"))
        #expect(decimal(1234) == bytes("1234"))
        #expect(decimal(-5) == bytes("0"))
    }

    /// A domain's half-written line, held while it had no focus, must come out before
    /// what it writes once it has the focus (and must not reappear later).
    @Test func bufferedLineIsNotLostWhenTheDomainGainsFocus() {
        var m = twoDomains()
        #expect(m.write(2, "ab") == "")
        m.switchFocus()
        #expect(m.focusedDomain == 2)
        let now = m.write(2, "c\n")
        m.switchFocus()
        let later = m.write(2, "d\n")
        #expect(now + later == "(d2) abc\r\n(d2) d\r\n")
    }

    @Test func focusedLineContinuesWithoutPrefixAfterFocusMoves() {
        var m = twoDomains()
        #expect(m.write(1, "ab") == "(d1) ab")
        m.switchFocus()
        #expect(m.write(1, "c\n") == "c\r\n")
        #expect(m.write(1, "d\n") == "(d1) d\r\n")
    }

    // MARK: passThrough

    @Test func passThroughOnlyForTheFocusedDomain() {
        var m = twoDomains()
        #expect(m.passThrough(domain: 2, 0x41) == nil)
        #expect(m.passThrough(domain: 1, 0x41) == true, "line start: print the prefix")
        #expect(m.passThrough(domain: 1, 0x42) == false)
        #expect(m.passThrough(domain: 1, 0x0A) == false)
        #expect(m.passThrough(domain: 1, 0x0D) == false, "a CR never gets a prefix")
        #expect(m.passThrough(domain: 1, 0x43) == true, "the CR did not end the line start")
        m.switchFocus(); m.switchFocus()
        #expect(m.focusedDomain == nil)
        #expect(m.passThrough(domain: 1, 0x41) == nil)
        #expect(m.passThrough(domain: 2, 0x41) == nil)
    }

    @Test func passThroughAndOutputShareTheLineState() {
        var m = twoDomains()
        #expect(m.passThrough(domain: 1, 0x41) == true)
        #expect(m.output(domain: 1, 0x42) == bytes("B"), "mid-line: no prefix")
        #expect(m.output(domain: 1, 0x0A) == [0x0D, 0x0A])
        #expect(m.passThrough(domain: 1, 0x43) == true)
    }
}
