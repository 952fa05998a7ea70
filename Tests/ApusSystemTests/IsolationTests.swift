import Testing

/// A hostile guest attacks the hypervisor and its neighbour (100,000 randomized
/// operations from a fixed seed: foreign memory, GIC registers it does not own, EL1/EL2
/// system registers, random HVC/SMC/hypercalls, SGI floods) while a neighbour keeps
/// verifying a pattern over its whole RAM and counting its timer ticks.
@Suite(.serialized) struct IsolationTests {
    let hostile = ("hostile.cfg", """
    name = "hostile"
    memory = 64
    vcpus = 2
    kernel = "\(SystemHarness.guestImage("hostile"))"
    """)

    @Test func hostileGuestCannotHurtItsNeighbourOrTheHypervisor() throws {
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

    /// The same attack next to Debian's Linux, which keeps checksumming 16 MiB of its RAM
    /// (initrd-test with apus.memcheck=N) while the hostile guest runs. (This run once hung
    /// the board: the hostile guest's random CNTV_CVAL_EL0 writes overflowed QEMU 7.2's
    /// CVAL + CNTVOFF; guests now run with no counter offset, see Domains.start.)
    @Test func hostileGuestNextToALinuxThatChecksItsMemory() throws {
        let linux = ("linux.cfg", """
        name = "linux"
        memory = 128
        kernel = "\(SystemHarness.debian("Image"))"
        ramdisk = "\(SystemHarness.debian("initrd-test.cpio"))"
        extra = "console=ttyAMA0 quiet apus.memcheck=40"
        """)
        let r = try SystemHarness.run([hostile, linux], timeout: 400)
        #expect(r.status == 0, "apus run exited \(r.status): \(r.stderr)")
        #expect(!r.contains("PANIC"))
        let h = r.domainLines(1), l = r.domainLines(2)
        #expect(h.contains("TEST PASS hostile"))
        #expect(l.filter { $0.hasPrefix("LINUXMEM pass ") && $0.hasSuffix(" ok") }.count == 40, "\(l.suffix(20))")
        #expect(!l.contains { $0.contains("CORRUPT") })
        #expect(l.contains("LINUXMEM done"))
        // The checks overlapped the attack: Linux's first pass came before the hostile guest finished.
        let all = r.output.split(whereSeparator: { $0.isNewline }).map(String.init)
        let firstPass = all.firstIndex { $0.contains("(d2) LINUXMEM pass 1 ok") }
        let hostileDone = all.firstIndex { $0.contains("TEST PASS hostile") }
        #expect(firstPass != nil && hostileDone != nil && firstPass! < hostileDone!)
    }

    /// Two hostile guests that cooperate (hostile.c `more=`, classes (g)-(m) of
    /// guests/hostile/classes.h: every vCPU at once, CPU_ON/CPU_OFF races and reboot loops,
    /// hypercall pointers and gfns inside their own RAM, grants and event channels between the
    /// two in batches, XenStore and PV console ring traffic, the emulated PL011, EL1/EL0 traps
    /// and instruction fetches in their RAM), next to memcheck. Class (o) has a test of its own
    /// below; (n), and (o) together with (g) and (m), are findings (disabled tests). hostile2
    /// reboots, resets and crashes itself (life_ms) for the board's first 6 s while hostile1
    /// maps its grants.
    static func cooperatingHostiles(classes: String, ops: Int, life: Bool = true) -> [(String, String)] {
        (1...2).map { n in
            ("hostile\(n).cfg", """
            name = "hostile\(n)"
            memory = 64
            vcpus = 2
            kernel = "\(SystemHarness.guestImage("hostile"))"
            extra = "console=ttyAMA0 ops=\(ops) more=50 classes=\(classes) peer=\(3 - n) seed=\(n)\(n == 2 && life ? " life_ms=6000" : "")"
            on_crash = "restart"
            """)
        }
    }

    /// Parses "hostile: classes: g=N h=N ..." into letter -> count.
    static func classCounts(_ lines: [String]) -> [String: Int] {
        guard let l = lines.last(where: { $0.hasPrefix("hostile: classes: ") }) else { return [:] }
        var out: [String: Int] = [:]
        for w in l.dropFirst("hostile: classes: ".count).split(separator: " ") {
            let kv = w.split(separator: "=")
            if kv.count == 2, let v = Int(kv[1]) { out[String(kv[0])] = v }
        }
        return out
    }

    @Test func everyAttackClassFromTwoCooperatingHostilesNextToMemcheck() throws {
        let memcheck = ("memcheck.cfg", """
        name = "memcheck"
        memory = 128
        kernel = "\(SystemHarness.guestImage("memcheck"))"
        extra = "passes=12"
        """)
        let r = try SystemHarness.run(Self.cooperatingHostiles(classes: "0x7f", ops: 30000) + [memcheck], timeout: 300)
        #expect(r.status == 0, "apus run exited \(r.status): \(r.stderr)")
        #expect(!r.contains("PANIC"))
        for id in [1, 2] {
            let h = r.domainLines(id)
            #expect(h.contains("TEST PASS hostile"), "d\(id): \(h.filter { $0.contains("FAIL") }.prefix(5))")
            #expect(h.contains { $0.hasPrefix("hostile: 30000 ops, violations 0,") })
            let counts = Self.classCounts(h)
            for c in ["g", "h", "i", "j", "k", "l", "m"] {
                #expect((counts[c] ?? 0) > 0, "d\(id): class (\(c)) never ran: \(counts)")
            }
            // The peers really shared: some grant maps and copies of the other's pages succeeded.
            let j = h.last { $0.hasPrefix("hostile: (j) maps ") } ?? ""
            #expect(!j.hasPrefix("hostile: (j) maps 0/") && !j.contains(" copies 0/"), "d\(id): \(j)")
        }
        // hostile2's reboot loop: restarted at least once while hostile1 attacked it.
        #expect(r.contains("(XEN) d2 (hostile2): rebooted, restarting") || r.contains("(XEN) d2 (hostile2): crashed, restarting"))
        #expect(!r.domainLines(2).contains { $0.contains("NOT zeroed") })
        let m = r.domainLines(3)
        #expect(m.filter { $0.hasPrefix("memcheck: pass ") && $0.contains(" ok ") }.count == 12)
        #expect(m.contains("TEST PASS memcheck"))
        // memcheck ran next to the attack: its first pass came before hostile1's verdict.
        let all = r.output.split(whereSeparator: { $0.isNewline }).map(String.init)
        let firstPass = all.firstIndex { $0.contains("(d3) memcheck: pass 1 ok") }
        let hostileDone = all.firstIndex { $0.contains("(d1) TEST PASS hostile") }
        #expect(firstPass != nil && hostileDone != nil && firstPass! < hostileDone!)
        #expect(r.contains("(XEN) Apus: no domain left, powering off the board"))
    }

    /// Class (o): one hostile turns its stage-1 MMU on for single loads whose level-2 table lies
    /// in RAM nobody wrote (the walk's stage-2 fault must be resolved so the guest sees its own
    /// level-2 translation fault), in RAM it zeroed, or outside its RAM; next to memcheck.
    @Test func stageOneTableWalksThroughUntouchedRAM() throws {
        let r = try Self.walker(classes: "0x100")
        #expect(r.status == 0, "apus run exited \(r.status): \(r.stderr)")
        #expect(!r.contains("PANIC"))
        let h = r.domainLines(1)
        #expect(h.contains("TEST PASS hostile"), "\(h.filter { $0.contains("FAIL") }.prefix(5))")
        #expect((Self.classCounts(h)["o"] ?? 0) > 0)
        // Some walks went through tables in blocks nobody had touched, and all of those ended
        // in the guest's own level-2 translation fault (the guest checks each one).
        let o = h.last { $0.hasPrefix("hostile: (o) ") } ?? ""
        #expect(o.hasPrefix("hostile: (o) ") && !o.contains("(0 through untouched tables"), "\(o)")
        #expect(r.domainLines(2).contains("TEST PASS memcheck"))
        #expect(r.contains("(XEN) Apus: no domain left, powering off the board"))
    }

    /// Class (m) with el0irq=8: before each EL0 round trip the virtual timer is armed 0-7 ticks
    /// ahead, so that under icount its interrupt lands on every instruction of the way into EL0
    /// and back. Finding (issue 10): hostile's hp_el0 wrote ELR_EL1 and SPSR_EL1 with interrupts
    /// unmasked at EL1; an interrupt taken before its ERET left ELR_EL1 at the interrupted
    /// instruction, so the ERET ran hp_el0's own MSR SPSR_EL1 at EL0 (EC 0x0, ELR 0x4000e9c8: the
    /// "EL0 load outside RAM injected as EC 0") or returned to itself at EL1 forever (the hostile
    /// that made no progress). A guest bug, not the hypervisor's: Apus injected the data abort
    /// right. Deterministic under icount; one vCPU, no neighbour.
    @Test func anInterruptOnTheWayIntoEL0LeavesTheRoundTripIntact() throws {
        let r = try SystemHarness.run([("el0irq.cfg", """
        name = "el0irq"
        memory = 64
        vcpus = 1
        kernel = "\(SystemHarness.guestImage("hostile"))"
        extra = "ops=5000 more=100 classes=0x40 el0irq=8"
        """)], arguments: ["--icount"], timeout: 60)
        #expect(r.status == 0, "apus run exited \(r.status): \(r.stderr)")
        let h = r.domainLines(1)
        #expect(h.contains("TEST PASS hostile"), "\(h.filter { $0.contains("FAIL") }.prefix(3))")
        // Every trip had a timer interrupt on its way, and each of them reached the guest.
        let m = h.last { $0.hasPrefix("hostile: (l) ") } ?? ""
        let irqs = h.last { $0.hasPrefix("hostile: totals: irqs on vCPU0 ") } ?? ""
        let trips = Self.number(before: " at EL0", in: m), vtimer = Self.number(before: " vtimer", in: irqs)
        #expect(trips > 1000 && vtimer >= trips, "\(m) / \(irqs)")
    }

    /// The decimal number that ends right before `marker` in `line` (0 when there is none).
    static func number(before marker: String, in line: String) -> Int {
        guard let r = line.range(of: marker) else { return 0 }
        let digits = line[..<r.lowerBound].reversed().prefix { $0.isNumber }
        return Int(String(digits.reversed())) ?? 0
    }

    static func walker(classes: String, extra: String = "") throws -> SystemHarness.Run {
        try SystemHarness.run([("walker.cfg", """
        name = "walker"
        memory = 64
        vcpus = 2
        kernel = "\(SystemHarness.guestImage("hostile"))"
        extra = "console=ttyAMA0 ops=20000 more=50 classes=\(classes)\(extra)"
        """), ("memcheck.cfg", """
        name = "memcheck"
        memory = 128
        kernel = "\(SystemHarness.guestImage("memcheck"))"
        extra = "passes=6"
        """)], timeout: 240)
    }

    /// Classes (g), (m) and (o) together next to memcheck, with a health probe every 500
    /// operations (40 instead of 2). Finding (issue 10): the probe's virtual timer interrupt
    /// did not arrive within 1 s although EL2 had taken the physical one: SGIs the guest had
    /// given a priority below its PMR (class (b)) held three of the four list registers for
    /// good, vCPU 1's flood of urgent SGIs (class (g)) went through the fourth, and the vGIC
    /// made room only when every list register was taken (VGICDeliveryTests
    /// .maskedPendingEntriesGiveWayToMoreUrgentOnesWhileOthersFlood, the deterministic test).
    /// Before the fix this failed in 1 of 4 runs as configured here (timing-dependent), and in
    /// 10 of 11 with a hostile build that also printed its progress every 500 operations;
    /// after it, 8 of 8 such runs passed.
    @Test
    func tableWalksWithTrapsFromEveryVCPUKeepTheVirtualTimer() throws {
        let r = try Self.walker(classes: "0x141", extra: " probe=500")
        #expect(r.status == 0, "apus run exited \(r.status): \(r.stderr)")
        let h = r.domainLines(1)
        #expect(h.contains("TEST PASS hostile"), "\(h.filter { $0.contains("FAIL") }.prefix(5))")
        let probes = h.last { $0.hasPrefix("hostile: health probes ok: ") } ?? ""
        #expect(Self.number(before: ";", in: probes) >= 40, "\(probes)")
        let counts = Self.classCounts(h)
        for c in ["g", "m", "o"] { #expect((counts[c] ?? 0) > 0, "class (\(c)) never ran: \(counts)") }
        #expect(r.domainLines(2).contains("TEST PASS memcheck"))
    }

    /// Class (n): BRK at EL1 and EL0 must be a breakpoint exception (EC 0x3c) at the BRK.
    @Test
    func brkInAGuestIsABreakpointException() throws {
        let r = try SystemHarness.run([("hostile.cfg", """
        name = "hostile"
        memory = 64
        vcpus = 2
        kernel = "\(SystemHarness.guestImage("hostile"))"
        extra = "ops=2000 more=50 classes=0x80"
        """)], timeout: 120)
        #expect(r.status == 0, "apus run exited \(r.status): \(r.stderr)")
        let h = r.domainLines(1)
        #expect(h.contains("TEST PASS hostile"), "\(h.filter { $0.contains("FAIL") }.prefix(3))")
        #expect((Self.classCounts(h)["n"] ?? 0) > 0)
    }

    /// Lifecycle ends (class (h), lifeact 8 and 16): one hostile suspends itself and another
    /// powers itself off with SCHEDOP_shutdown, each from vCPU 0 or from vCPU 1 while vCPU 0
    /// hammers hypercalls. Only that domain stops (Apus has no toolstack to resume a suspended
    /// one); memcheck completes its passes and the board powers off when it is done.
    @Test func suspendAndShutdownEndOnlyThatDomain() throws {
        let cfgs = [("suspender", 8), ("shutter", 16)].map { name, act in
            ("\(name).cfg", """
            name = "\(name)"
            memory = 64
            vcpus = 2
            kernel = "\(SystemHarness.guestImage("hostile"))"
            extra = "ops=1000 life_ms=600000 lifeact=\(act)"
            """)
        }
        let memcheck = ("memcheck.cfg", """
        name = "memcheck"
        memory = 128
        kernel = "\(SystemHarness.guestImage("memcheck"))"
        extra = "passes=3"
        """)
        let r = try SystemHarness.run(cfgs + [memcheck], timeout: 120)
        #expect(r.status == 0, "apus run exited \(r.status): \(r.stderr)")
        #expect(!r.contains("PANIC"))
        #expect(r.domainLines(1).contains { $0.hasPrefix("hostile: life: boot at ") && $0.contains("; suspend from vCPU ") })
        #expect(r.contains("(XEN) d1 (suspender): suspended (no toolstack to resume it), stopped"))
        #expect(r.domainLines(2).contains { $0.hasPrefix("hostile: life: boot at ") && $0.contains("; poweroff from vCPU ") })
        #expect(r.contains("(XEN) d2 (shutter): powered off"))
        #expect(!r.contains("restarting"))
        #expect(!r.contains("TEST FAIL"))
        #expect(r.domainLines(3).filter { $0.hasPrefix("memcheck: pass ") && $0.contains(" ok ") }.count == 3)
        #expect(r.domainLines(3).contains("TEST PASS memcheck"))
        #expect(r.contains("(XEN) Apus: no domain left, powering off the board"))
    }
}
