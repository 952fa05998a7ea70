import Testing

/// The harness's reading of interleaved console output (no QEMU involved).
@Suite struct ConsoleUntangleTests {
    @Test func aWholeLineInsideTheFocusedDomainsPartialLineIsMovedOut() {
        let raw = "(d1) grant: peer wrote: written by the mapping(d2) TEST PASS grant\r\n domain\r\n(d1) TEST PASS grant\r\n"
        let r = SystemHarness.Run(status: 0, output: SystemHarness.untangle(raw), stderr: "")
        #expect(r.domainLines(1) == ["grant: peer wrote: written by the mapping domain", "TEST PASS grant"])
        #expect(r.domainLines(2) == ["TEST PASS grant"])
    }

    @Test func severalInsertedLinesAndAHypervisorLine() {
        let raw = "(d1) TEST PASS gr(XEN) d2 (mapper): powered off\r\n(d2) x\r\nant\r\n(XEN) done\r\n"
        let out = SystemHarness.untangle(raw)
        #expect(out == "(XEN) d2 (mapper): powered off\n(d2) x\n(d1) TEST PASS grant\n(XEN) done\n")
    }

    @Test func ordinaryOutputIsUnchanged() {
        let raw = "(XEN) a\r\n(d1) b (c) 2026\r\n(d2) c\r\n"
        #expect(SystemHarness.untangle(raw) == "(XEN) a\n(d1) b (c) 2026\n(d2) c\n")
    }
}
