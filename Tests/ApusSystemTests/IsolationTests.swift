import Testing

/// A hostile guest attacks the hypervisor and its neighbour (100,000 randomized
/// operations from a fixed seed: foreign memory, GIC registers it does not own, EL1/EL2
/// system registers, random HVC/SMC/hypercalls, SGI floods) while a neighbour keeps
/// verifying a pattern over its whole RAM and counting its timer ticks.
@Suite(.serialized) struct IsolationTests {
    @Test func hostileGuestCannotHurtItsNeighbourOrTheHypervisor() throws {
        let hostile = ("hostile.cfg", """
        name = "hostile"
        memory = 64
        vcpus = 2
        kernel = "\(SystemHarness.guestImage("hostile"))"
        """)
        let memcheck = ("memcheck.cfg", """
        name = "memcheck"
        memory = 128
        kernel = "\(SystemHarness.guestImage("memcheck"))"
        """)
        let r = try SystemHarness.run([hostile, memcheck], timeout: 400)
        #expect(r.status == 0, "apus run exited \(r.status): \(r.stderr)")
        #expect(!r.contains("PANIC"))
        let h = r.domainLines(1), m = r.domainLines(2)
        // Every access outside its RAM faulted; all 100,000 operations completed; no
        // interrupt it did not own was delivered to it.
        #expect(h.contains { $0.contains("accesses outside RAM/devices:") && $0.contains("faulted;") })
        #expect(h.contains { $0.hasPrefix("hostile: 100000 ops, violations 0,") })
        // Its own GIC still works after the abuse (self-SGI and timer health probes).
        #expect(h.contains("TEST PASS hostile"))
        // The neighbour's memory stayed intact and it kept being scheduled.
        #expect(m.contains("TEST PASS memcheck"))
        #expect(m.filter { $0.hasPrefix("memcheck: pass ") && $0.contains(" ok ") }.count >= 20)
        #expect(r.contains("(XEN) Apus: no domain left, powering off the board"))
    }
}
