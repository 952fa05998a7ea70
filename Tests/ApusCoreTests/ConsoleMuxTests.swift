import Testing
@testable import ApusCore

private let ctrlA: UInt8 = 0x01

private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

/// What the UART would have printed.
private struct Screen: ConsoleSink {
    var bytes: [UInt8] = []
    mutating func put(_ byte: UInt8) { bytes.append(byte) }
}

extension ConsoleMux {
    /// What one byte of domain `id`'s output prints.
    fileprivate mutating func output(domain id: Int, _ byte: UInt8) -> [UInt8] {
        var s = Screen()
        write(domain: id, byte, to: &s)
        return s.bytes
    }

    /// Everything printed for `s` written by domain `id`, one byte at a time.
    fileprivate mutating func write(_ id: Int, _ s: String) -> String {
        var out: [UInt8] = []
        for b in s.utf8 { out += output(domain: id, b) }
        return String(decoding: out, as: UTF8.self)
    }

    /// A hypervisor line as Log.line prints it.
    fileprivate mutating func hypervisorLine(_ body: String) -> String {
        var s = Screen()
        beginHypervisorLine(to: &s)
        for b in "(XEN) \(body)\r\n".utf8 { s.put(b) }
        endHypervisorLine(to: &s)
        return String(decoding: s.bytes, as: UTF8.self)
    }

    fileprivate mutating func printedFocusMessage() -> String {
        var s = Screen()
        printFocusMessage(to: &s)
        return String(decoding: s.bytes, as: UTF8.self)
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

    @Test func emptyFocusedLineGetsItsPrefix() {
        var m = twoDomains()
        #expect(m.write(1, "\n") == "(d1) \r\n")
        #expect(m.write(1, "a\r") == "(d1) a", "a CR prints nothing, mid-line too")
        #expect(m.write(1, "\r\n") == "\r\n")
    }

    // MARK: the focused domain's open line

    /// Another domain's whole line does not land inside the focused domain's partial line:
    /// that line is ended, the other line printed, then the partial line shown again.
    @Test func anotherDomainsLineWhileTheFocusedDomainIsMidLine() {
        var m = twoDomains()
        var screen = m.write(1, "grant: peer wrote: written by the mapping")
        #expect(screen == "(d1) grant: peer wrote: written by the mapping")
        #expect(m.write(2, "TEST PASS gr") == "")
        #expect(m.write(2, "ant\n") == "\r\n(d2) TEST PASS grant\r\n(d1) grant: peer wrote: written by the mapping")
        screen = m.write(1, " domain\n")
        #expect(screen == " domain\r\n")
        #expect(m.write(2, "next\n") == "(d2) next\r\n", "nothing open: nothing to end or show again")
    }

    @Test func aHypervisorLineWhileTheFocusedDomainIsMidLine() {
        var m = twoDomains()
        #expect(m.write(1, "login: ro") == "(d1) login: ro")
        #expect(m.hypervisorLine("d2 (x): powered off") == "\r\n(XEN) d2 (x): powered off\r\n(d1) login: ro")
        #expect(m.write(1, "ot\n") == "ot\r\n")
        #expect(m.hypervisorLine("done") == "(XEN) done\r\n")
    }

    @Test func hypervisorLinesWithoutDomains() {
        var m = ConsoleMux()                         // early boot
        #expect(m.hypervisorLine("Apus") == "(XEN) Apus\r\n")
        #expect(m.printedFocusMessage() == "(XEN) *** Serial input to Xen (type 'CTRL-a' three times to switch input)\r\n")
    }

    /// Focus moves while the old owner is mid-line: the focus message starts on a line of its
    /// own and the old owner's text comes back, with its prefix, when its line is complete.
    @Test func focusSwitchMidLine() {
        var m = twoDomains()
        var screen = m.write(1, "ab")
        m.switchFocus()
        screen += m.printedFocusMessage()
        screen += m.write(1, "c")
        screen += m.write(2, "x\n")
        screen += m.write(1, "\nd\n")
        #expect(screen == "(d1) ab\r\n(XEN) *** Serial input to DOM2 (type 'CTRL-a' three times to switch input)\r\n"
                + "(d2) x\r\n(d1) abc\r\n(d1) d\r\n")
        // Focus back to domain 1 (via the hypervisor): nothing of "ab" comes back again.
        m.switchFocus(); m.switchFocus()
        #expect(m.focusedDomain == 1)
        #expect(m.printedFocusMessage().hasSuffix("to switch input)\r\n"))
        #expect(m.write(1, "e\n") == "(d1) e\r\n")
    }

    /// Without the focus message in between, the next domain's text still starts a new line.
    @Test func theNextOwnerEndsALineLeftOpen() {
        var m = twoDomains()
        #expect(m.write(1, "ab") == "(d1) ab")
        m.switchFocus()
        #expect(m.write(2, "x") == "\r\n(d2) x")
        #expect(m.write(1, "c\n") == "\r\n(d1) abc\r\n(d2) x", "the held line, then d2's open line again")
    }

    /// A domain that gets the focus with text held (say its shell prompt) shows it after the
    /// focus message, where the user types.
    @Test func gainingFocusShowsTheHeldLine() {
        var m = twoDomains()
        #expect(m.write(2, "# ") == "")
        m.switchFocus()
        #expect(m.printedFocusMessage() == "(XEN) *** Serial input to DOM2 (type 'CTRL-a' three times to switch input)\r\n(d2) # ")
        #expect(m.write(2, "ls\n") == "ls\r\n", "the prompt is not printed twice")
    }

    /// A domain removed with its line open: the next line starts on a line of its own.
    @Test func removingTheOpenLinesOwner() {
        var m = twoDomains()
        #expect(m.write(1, "ab") == "(d1) ab")
        m.removeDomain(1)
        #expect(m.focusedDomain == 2)
        #expect(m.write(2, "x") == "\r\n(d2) x")
    }

    /// What is kept to show again is bounded: the last `lineLimit` bytes of an over-long line.
    @Test func anOverLongFocusedLineIsShownAgainBounded() {
        var m = twoDomains()
        let limit = ConsoleMux.lineLimit
        let long = (0..<(2 * limit + 7)).map { UInt8(0x41 + $0 % 26) }
        var out: [UInt8] = []
        for b in long { out += m.output(domain: 1, b) }
        #expect(out == bytes("(d1) ") + long, "the focused domain's line is not split")
        out = m.output(domain: 2, 0x0A)
        #expect(out == bytes("\r\n(d2) \r\n(d1) ") + long.suffix(limit))
        // Focus moves on: the kept part goes back to the line buffer, and comes out whole.
        m.switchFocus()
        out = m.output(domain: 1, 0x0A)
        #expect(out == bytes("\r\n(d1) ") + long.suffix(limit) + [0x0D, 0x0A])
    }

    /// A prompt's terminal query (busybox asks for the cursor position) is not asked again
    /// when the line is shown again; other escape sequences (colours) are kept.
    @Test func terminalQueriesAreNotRepeated() {
        var m = twoDomains()
        #expect(m.write(1, "\u{1B}[1;32m#\u{1B}[0m \u{1B}[6nl\u{1B}[c") == "(d1) \u{1B}[1;32m#\u{1B}[0m \u{1B}[6nl\u{1B}[c")
        #expect(m.hypervisorLine("x") == "\r\n(XEN) x\r\n(d1) \u{1B}[1;32m#\u{1B}[0m l")
        m.switchFocus()
        #expect(m.write(1, "s\n") == "\r\n(d1) \u{1B}[1;32m#\u{1B}[0m ls\r\n")
    }

    @Test func decimalPrintingWithoutAnArray() {
        for v in [-3, 0, 5, 9, 10, 99, 100, 12345] {
            var s = Screen()
            putDecimal(v, to: &s)
            #expect(s.bytes == decimal(v))
        }
    }
}
