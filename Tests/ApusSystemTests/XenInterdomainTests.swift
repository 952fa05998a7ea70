import Testing

/// Two bare-metal domains that share memory only by grant and signal each other through an
/// interdomain event channel (guests/grant): Xen's grant table v1 and 2-level event ABI,
/// with read-only grants enforced by the p2m.
@Suite(.serialized) struct XenInterdomainTests {
    @Test func twoDomainsExchangeAnEventAndAGrantedPage() throws {
        func cfg(_ name: String, _ args: String) -> (String, String) {
            ("\(name).cfg", """
            name = "\(name)"
            memory = 32
            kernel = "\(SystemHarness.guestImage("grant"))"
            extra = "\(args)"
            """)
        }
        let r = try SystemHarness.run([cfg("offer", "grant=offer peer=2"), cfg("mapper", "grant=map peer=1")], timeout: 120)
        #expect(r.status == 0, "apus run exited \(r.status): \(r.stderr)")
        #expect(!r.contains("PANIC"))
        let offer = r.domainLines(1), mapper = r.domainLines(2)
        // The mapper read the offered page through its own p2m, wrote the read-write one,
        // took a data abort on the read-only one and on the page after unmapping it.
        #expect(mapper.contains("grant: mapped, wrote, unmapped; read-only write faulted"), "\(mapper)")
        #expect(mapper.contains("TEST PASS grant"))
        // The offering domain saw the event and the mapper's bytes in its own page.
        #expect(offer.contains { $0.hasPrefix("grant: event on port ") }, "\(offer)")
        #expect(offer.contains("grant: peer wrote: written by the mapping domain"))
        // Domain 1 has the keyboard, so its output is printed as it comes; a hypervisor line
        // (domain 2 powering off) or domain 2's line that comes meanwhile ends its partial
        // line and shows it again, so each of its lines is there whole.
        #expect(offer.contains("TEST PASS grant"), "\(offer)")
        #expect(r.tangledLines.isEmpty, "\(r.tangledLines)")
        #expect(!r.contains("TEST FAIL"))
    }
}
