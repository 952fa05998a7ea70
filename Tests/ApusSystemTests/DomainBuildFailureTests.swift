import Testing

/// A domain that cannot be built at boot is reported and skipped; the others start (Xen's
/// dom0less builder panics instead, see docs/usage.md).
@Suite(.serialized) struct DomainBuildFailureTests {
    @Test func aDomainThatFailsToBuildIsSkippedAndTheOthersRun() throws {
        // The host tool checks that the kernel file exists, not what it is: a cpio archive
        // given as kernel passes `apus run` and is refused by the hypervisor's Image check.
        let broken = ("broken.cfg", """
        name = "broken"
        memory = 32
        kernel = "\(SystemHarness.debian("initrd-test.cpio"))"
        """)
        let good = ("good.cfg", """
        name = "good"
        memory = 32
        kernel = "\(SystemHarness.guestImage("vtimer"))"
        """)
        let r = try SystemHarness.run([broken, good], timeout: 120)
        #expect(r.status == 0, "apus run exited \(r.status): \(r.stderr)")
        #expect(r.contains("(XEN) d1 (broken): not built: kernel is not an arm64 Image"))
        // The keyboard goes to the first domain that exists.
        #expect(r.contains("(XEN) *** Serial input to DOM2 (type 'CTRL-a' three times to switch input)"))
        #expect(r.domainLines(2).contains { $0.hasPrefix("TEST PASS") }, "\(r.domainLines(2))")
        #expect(r.contains("(XEN) Apus: no domain left, powering off the board"))
    }
}
