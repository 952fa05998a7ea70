import Testing
import Foundation

/// Debian's unmodified arm64 kernel with a busybox initramfs, as a domain on Apus.
@Suite(.serialized) struct LinuxGuestTests {
    func debianConfig(initrd: String, vcpus: Int = 2, extra: String = "console=ttyAMA0") -> (String, String) {
        ("debian.cfg", """
        name = "debian"
        memory = 256
        vcpus = \(vcpus)
        kernel = "\(SystemHarness.debian("Image"))"
        ramdisk = "\(SystemHarness.debian(initrd))"
        extra = "\(extra)"
        """)
    }

    @Test func debianReachesUserspaceWithTwoCPUsAndPowersOff() throws {
        let r = try SystemHarness.run([debianConfig(initrd: "initrd-test.cpio")], timeout: 300)
        #expect(r.status == 0, "apus run exited \(r.status): \(r.stderr)")
        let lines = r.domainLines(1)
        #expect(lines.contains { $0.contains("Machine model: XENVM-4.17") })
        #expect(lines.contains { $0.contains("smp: Brought up 1 node, 2 CPUs") })
        #expect(lines.contains("APUS-GUEST-UP"))
        #expect(lines.contains("CPUS=2"))
        // `sleep 1` measured by the guest's own clock (virtual timer and counter)
        func value(_ key: String) -> Double? {
            lines.first { $0.hasPrefix(key + "=") }.flatMap { Double($0.dropFirst(key.count + 1).split(separator: " ")[0]) }
        }
        let t0 = try #require(value("UPTIME0")), t1 = try #require(value("UPTIME1"))
        #expect(t1 - t0 >= 1.0 && t1 - t0 < 3.0, "sleep 1 took \(t1 - t0) s of guest time")
        #expect(lines.contains { $0.contains("reboot: Power down") })
        #expect(r.contains("(XEN) Apus: no domain left, powering off the board"))
    }

    @Test func keyboardInputReachesTheGuestShell() throws {
        // The second line arrives in one piece, as pasted text does: 320 bytes at once, ten
        // times the UART's FIFO.
        let pasted = String(repeating: "0123456789", count: 30)
        let r = try SystemHarness.run([debianConfig(initrd: "initrd-demo.cpio", vcpus: 1)], timeout: 300,
                                      input: "echo typed-$((6*7))\nx=\(pasted); echo pasted-${#x}\npoweroff", inputDelay: 25)
        #expect(r.status == 0, "apus run exited \(r.status): \(r.stderr)")
        #expect(r.domainLines(1).contains { $0.hasPrefix("typed-42") })
        #expect(r.domainLines(1).contains { $0.hasPrefix("pasted-300") }, "a pasted line arrives whole")
    }
}
