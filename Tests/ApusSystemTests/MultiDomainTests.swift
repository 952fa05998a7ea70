import ApusCore
import Foundation
import Testing

/// Several domains on one board (Xen's dom0less): scheduling, lifecycle, console.
@Suite(.serialized) struct MultiDomainTests {
    func linux(_ name: String, initrd: String = "initrd-test.cpio", vcpus: Int = 2) -> (String, String) {
        ("\(name).cfg", """
        name = "\(name)"
        memory = 256
        vcpus = \(vcpus)
        kernel = "\(SystemHarness.debian("Image"))"
        ramdisk = "\(SystemHarness.debian(initrd))"
        extra = "console=ttyAMA0 quiet"
        """)
    }

    func guest(_ image: String, name: String? = nil, vcpus: Int = 1, extra: String = "") -> (String, String) {
        let n = name ?? image
        return ("\(n).cfg", """
        name = "\(n)"
        memory = 64
        vcpus = \(vcpus)
        kernel = "\(SystemHarness.guestImage(image))"
        \(extra)
        """)
    }

    @Test func twoLinuxAndOneBareMetalDomainShareTwoCPUs() throws {
        let r = try SystemHarness.run([linux("linux1"), linux("linux2"), guest("vtimer")], timeout: 300)
        #expect(r.status == 0, "apus run exited \(r.status): \(r.stderr)")
        for id in [1, 2] {
            let lines = r.domainLines(id)
            #expect(lines.contains("APUS-GUEST-UP"), "d\(id) did not reach userspace")
            #expect(lines.contains("CPUS=2"))
        }
        #expect(r.domainLines(3).contains("TEST PASS vtimer"))
        #expect(r.contains("(XEN) Apus: no domain left, powering off the board"))
        #expect(r.tangledLines.isEmpty, "\(r.tangledLines)")
    }

    /// guests/hostile with life_ms: every boot that starts in the board's first 8 s checks that
    /// the RAM its previous boot wrote reads zero again, then crashes (SCHEDOP_shutdown crash,
    /// from vCPU 0 or from vCPU 1 while vCPU 0 hammers hypercalls); on_crash = "restart" brings
    /// it back each time. After that it runs its ordinary attacks and powers off, so the board
    /// must power off by itself (status 0): a board that hangs after a restart times out (124)
    /// and fails. memcheck runs next to it all the while.
    @Test func crashingDomainIsRestartedWhileItsNeighbourRuns() throws {
        let crasher = guest("hostile", name: "crasher", vcpus: 2, extra: """
        extra = "ops=1000 life_ms=8000 lifeact=4"
        on_crash = "restart"
        """)
        let r = try SystemHarness.run([crasher, guest("memcheck", extra: "extra = \"passes=6\"")], timeout: 120)
        #expect(r.status == 0, "apus run exited \(r.status) (124: the board did not power off): \(r.stderr)")
        #expect(!r.contains("PANIC"))
        let restarts = r.output.components(separatedBy: "(XEN) d1 (crasher): crashed, restarting").count - 1
        #expect(restarts >= 2, "restarted \(restarts) times")
        let d1 = r.domainLines(1), d2 = r.domainLines(2)
        #expect(!d1.contains { $0.contains("NOT zeroed") })
        // Each boot that crashed first read the previous boot's blocks as zero.
        let zeroed = d1.filter { $0.hasPrefix("hostile: life: boot at ") && $0.contains(" blocks read zero; crash from vCPU ") }.count
        #expect(zeroed == restarts, "\(zeroed) boots found their RAM zeroed, \(restarts) restarts")
        // Every boot got its own rng-seed (a reboot patches the seed into the DTB it kept).
        let seeds = d1.compactMap { l -> String? in
            guard l.hasPrefix("hostile: life: boot at "), let r = l.range(of: "; rng-seed ") else { return nil }
            return String(l[r.upperBound...])
        }
        #expect(seeds.count == restarts && Set(seeds).count == seeds.count && !seeds.contains("0"),
                "rng-seeds of the boots: \(seeds)")
        // The boot after the last restart ran to its end.
        #expect(d1.contains("TEST PASS hostile"))
        #expect(d2.filter { $0.hasPrefix("memcheck: pass ") && $0.contains(" ok ") }.count == 6)
        #expect(d2.contains("TEST PASS memcheck"))
        // The neighbour ran through the restarts: the first one came before its verdict.
        let all = r.output.split(whereSeparator: { $0.isNewline }).map(String.init)
        let firstRestart = all.firstIndex { $0.contains("(XEN) d1 (crasher): crashed, restarting") }
        let neighbourDone = all.firstIndex { $0.contains("(d2) TEST PASS memcheck") }
        #expect(firstRestart != nil && neighbourDone != nil && firstRestart! < neighbourDone!)
        #expect(r.contains("(XEN) Apus: no domain left, powering off the board"))
        #expect(r.tangledLines.isEmpty, "\(r.tangledLines)")
    }

    @Test func crashWithDefaultOnCrashDestroysOnlyThatDomain() throws {
        let r = try SystemHarness.run([guest("crash"), guest("vtimer")], timeout: 60)
        #expect(r.status == 0, "apus run exited \(r.status): \(r.stderr)")
        #expect(r.contains("(XEN) d1 (crash): crashed"))
        #expect(!r.contains("restarting"))
        #expect(r.domainLines(2).contains("TEST PASS vtimer"))
    }

    /// Three vCPUs on two CPUs, each busy-looping 300 ms while it watches its Xen runstate
    /// area (guests/smp own=): under sched=null vCPUs 0 and 1 own a CPU each and are never
    /// switched in again, and vCPU 2, finding no CPU of its own, never runs. Under the fair
    /// scheduler the same run shows every vCPU switched in several times and vCPU 2 running.
    @Test func nullSchedulerGivesEachVCPUItsOwnCPU() throws {
        let r = try SystemHarness.run([guest("smp", vcpus: 3, extra: "extra = \"own=300\"")],
                                      arguments: ["--sched", "null", "--cpus", "2"], timeout: 60)
        #expect(r.status == 0, "apus run exited \(r.status): \(r.stderr)")
        #expect(r.contains("(XEN) scheduler: null"))
        let lines = r.domainLines(1)
        #expect(lines.contains("TEST PASS smp"))
        for v in 0...1 {
            let own = lines.first { $0.hasPrefix("smp: own: vCPU \(v) ") }
            #expect(own?.hasPrefix("smp: own: vCPU \(v) spun 300 ms: switched in 0 times,") == true,
                    "vCPU \(v) did not keep its CPU: \(own ?? "no report")")
        }
        let third = lines.first { $0.hasPrefix("smp: own: vCPU 2 ") }
        #expect(third?.hasPrefix("smp: own: vCPU 2 never ran") == true, "\(third ?? "no report")")
    }

    @Test func moreVCPUsThanCPUsAreTimeShared() throws {
        // 4 vCPUs of two SMP guests on one physical CPU.
        let r = try SystemHarness.run([guest("smp", name: "smp1", vcpus: 2), guest("smp", name: "smp2", vcpus: 2)],
                                      arguments: ["--cpus", "1"], timeout: 90)
        #expect(r.status == 0, "apus run exited \(r.status): \(r.stderr)")
        #expect(r.domainLines(1).contains("TEST PASS smp"))
        #expect(r.domainLines(2).contains("TEST PASS smp"))
    }

    @Test func ctrlAThreeTimesSwitchesInputToTheHypervisor() throws {
        let r = try SystemHarness.run([linux("shell", initrd: "initrd-demo.cpio", vcpus: 1)], timeout: 120,
                                      input: "\u{1}\u{1}\u{1}\nq\nr\n\u{1}\u{1}\u{1}\npoweroff", inputDelay: 25)
        #expect(r.status == 0, "apus run exited \(r.status): \(r.stderr)")
        #expect(r.contains("(XEN) *** Serial input to Xen (type 'CTRL-a' three times to switch input)"))
        #expect(r.contains("(XEN) d1 shell running mem 256 MiB"))
        #expect(r.contains("(XEN) cpu0: "))
        #expect(r.contains("(XEN) *** Serial input to DOM1 (type 'CTRL-a' three times to switch input)"))
        // The focus moved while the shell's prompt was open: the message is a line of its own.
        #expect(r.tangledLines.isEmpty, "\(r.tangledLines)")
    }

    @Test func duplicateDomainNamesAreRefused() throws {
        let r = try SystemHarness.run([guest("vtimer", name: "same"), ("other.cfg", "name = \"same\"\nmemory = 64\nkernel = \"\(SystemHarness.guestImage("vtimer"))\"\n")], timeout: 30)
        #expect(r.status == 2)
        #expect(r.stderr.contains("same"))
        #expect(!r.contains("(XEN)"))
    }

    /// A boot DTB written for Xen (dom0less bindings, 1/1 cells in the domain node,
    /// Xen's own bootargs) boots unchanged.
    @Test func xenDom0lessDeviceTreeBootsUnchanged() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("apus-dom0less-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let dump = dir.appendingPathComponent("virt.dtb").path
        let q = Process()
        q.executableURL = URL(fileURLWithPath: "/usr/bin/qemu-system-aarch64")
        q.arguments = ["-M", "virt,virtualization=on,gic-version=3,dumpdtb=" + dump, "-cpu", "cortex-a57", "-smp", "2",
                       "-m", "2048M", "-display", "none", "-serial", "none", "-monitor", "none", "-nic", "none"]
        try q.run(); q.waitUntilExit()
        var dt = try DeviceTree.parse([UInt8](try Data(contentsOf: URL(fileURLWithPath: dump))))
        let image = SystemHarness.guestImage("smp")
        let size = UInt32(try FileManager.default.attributesOfItem(atPath: image)[.size] as! Int)
        let domU = DTNode(name: "domU1", properties: [
            .strings("compatible", ["xen,domain"]), .u32("#address-cells", 1), .u32("#size-cells", 1),
            .cells("memory", [0, 0x20000]), .u32("cpus", 2), .empty("vpl011"),
        ], children: [DTNode(name: "module@50000000", properties: [
            .strings("compatible", ["multiboot,kernel", "multiboot,module"]),
            .cells("reg", [0x5000_0000, size]), .string("bootargs", "console=ttyAMA0"),
        ])])
        _ = dt.root.withNode(atPath: "/chosen", creatingMissing: true) { chosen in
            chosen.setProperty(.u32("#address-cells", 2))
            chosen.setProperty(.u32("#size-cells", 2))
            chosen.setProperty(.string("xen,xen-bootargs", "console=dtuart dtuart=/pl011@9000000"))
            chosen.setChild(domU)
        }
        let boot = dir.appendingPathComponent("dom0less.dtb").path
        try Data(dt.serialize()).write(to: URL(fileURLWithPath: boot))
        let r = try SystemHarness.launch([SystemHarness.apus, "run", "--timeout", "60", "--cpus", "2", "--memory", "2048",
                                          "--dtb", boot, "--module", "\(image)@0x50000000"], input: nil, inputDelay: 0)
        #expect(r.status == 0, "apus run exited \(r.status): \(r.stderr)")
        #expect(r.contains("(XEN) d1 (domU1): 128 MiB"))
        #expect(r.domainLines(1).contains("TEST PASS smp"))
    }
}
