import Foundation
import Testing

/// Debian's unmodified kernel and Debian's own xenstore tools against Apus's Xen interfaces
/// (issue 4): the `hypervisor` DT node, hypercalls, event channels, the PV console hvc0 and the
/// in-hypervisor XenStore. The guest is `initrd-xen.cpio` (`apus fetch-guest`); its /init prints
/// `XENTEST <name>=<value>`, `XENTEST <name> ok`, `XENTEST <name>: <line>` and, for anything
/// that fails, `XENTEST <name> FAILED exit=<status>: <output>` (see GuestInitramfs.xenInit).
@Suite(.serialized) struct XenGuestTests {
    static let domainName = "xenguest"

    static func config(extra: String, more: String = "") -> (String, String) {
        ("\(domainName).cfg", """
        name = "\(domainName)"
        memory = 256
        vcpus = 1
        kernel = "\(SystemHarness.debian("Image"))"
        ramdisk = "\(SystemHarness.debian("initrd-xen.cpio"))"
        extra = "\(extra)"
        \(more)
        """)
    }

    /// One boot on hvc0 (an xl.cfg with no `xen_enhanced`: the Xen interfaces are there, as
    /// with xl on Xen; the vPL011 is there too), shared by the tests that read its output.
    /// A guest whose xenstore calls hang needs up to 20 s for each of them: hence the timeout.
    static let hvcRun = Result { try SystemHarness.run([config(extra: "console=hvc0")], timeout: 600) }

    /// The same guest in a domain without the Xen interfaces, on the vPL011.
    static let plainRun = Result {
        try SystemHarness.run([config(extra: "console=ttyAMA0", more: "xen_enhanced = \"disabled\"")], timeout: 600)
    }

    /// The value of `XENTEST <name>=<value>`, if the guest printed one.
    static func value(_ name: String, in lines: [String]) -> String? {
        lines.first { $0.hasPrefix("XENTEST \(name)=") }.map { String($0.dropFirst("XENTEST \(name)=".count)) }
    }

    /// Every `XENTEST ... FAILED ...` line (for the failure messages).
    static func failures(_ lines: [String]) -> String {
        lines.filter { $0.hasPrefix("XENTEST ") && $0.contains(" FAILED") }.joined(separator: "\n")
    }

    @Test func debianBootsToUserspaceOnTheXenConsole() throws {
        let r = try Self.hvcRun.get()
        #expect(r.status == 0, "apus run exited \(r.status): \(r.stderr)")
        let lines = r.domainLines(1)
        // The kernel found the hypervisor node and, with console=hvc0 only, everything after
        // (its log replayed on hvc0, then /init's output) came through the PV console ring.
        #expect(lines.contains { $0.contains("Xen 4.17 support found") }, "no Xen found; the domain printed:\n\(lines.suffix(40).joined(separator: "\n"))")
        #expect(lines.contains { $0.contains("Run /init as init process") })
        #expect(lines.contains("APUS-GUEST-UP"))
        #expect(lines.contains { $0.hasPrefix("XENTEST begin ") })
        #expect(lines.contains { $0.hasPrefix("XENTEST consoles=hvc0") })
        #expect(lines.contains("XENTEST hypervisor-type=xen"), "\(Self.failures(lines))")
        // Its clock came from shared_info's wallclock (the board RTC): within a few minutes of
        // the host's, where a guest without it would start at 1970.
        let date = Self.value("date", in: lines).flatMap { Double($0) } ?? 0
        #expect(abs(date - Date().timeIntervalSince1970) < 600, "guest date \(date)")
        #expect(Self.value("hypervisor-version", in: lines)?.hasPrefix("4.17") == true, "\(Self.failures(lines))")
        #expect(lines.contains { $0.hasPrefix("XENTEST xenbus-device=c") }, "no /dev/xen/xenbus: \(Self.failures(lines))")
        // The vPL011 is still there (probed, just not the console).
        #expect(lines.contains { $0.contains("ttyAMA0 at MMIO 0x22000000") })
        #expect(lines.contains("XENTEST end"))
        #expect(lines.contains { $0.contains("reboot: Power down") })
        #expect(r.contains("(XEN) Apus: no domain left, powering off the board"))
    }

    @Test func debianXenstoreToolsReadAndWriteTheDomainsOwnNodes() throws {
        let r = try Self.hvcRun.get()
        #expect(r.status == 0, "apus run exited \(r.status): \(r.stderr)")
        let lines = r.domainLines(1)
        let failed = Self.failures(lines)
        #expect(Self.value("domid", in: lines) == "1", "\(failed)")
        #expect(Self.value("name", in: lines) == Self.domainName, "\(failed)")
        #expect(lines.contains("XENTEST write ok"), "\(failed)")
        #expect(Self.value("readback", in: lines) == "hello", "\(failed)")
        #expect(Self.value("readback-absolute", in: lines) == "hello", "\(failed)")
        // xenstore-list of /local/domain/1, and xenstore-ls -f of the same.
        let list = lines.filter { $0.hasPrefix("XENTEST list: ") }.map { String($0.dropFirst("XENTEST list: ".count)) }
        for node in ["name", "domid", "data", "control", "device"] {
            #expect(list.contains(node), "xenstore-list /local/domain/1 gave \(list)")
        }
        #expect(lines.contains("XENTEST list ok"))
        #expect(lines.contains("XENTEST ls: /local/domain/1/name = \"\(Self.domainName)\""), "\(failed)")
        #expect(lines.contains("XENTEST ls: /local/domain/1/domid = \"1\""))
        #expect(lines.contains("XENTEST ls: /local/domain/1/data/apus-test = \"hello\""))
        #expect(lines.contains("XENTEST ls ok"))
        // Another domain's home is not the guest's to write.
        #expect(lines.contains { $0.hasPrefix("XENTEST foreign-write refused") && $0.contains("could not write path") },
                "\(lines.filter { $0.contains("foreign-write") })")
        #expect(lines.contains("XENTEST end"))
    }

    @Test func withoutXenEnhancedTheGuestSeesNoXen() throws {
        let r = try Self.plainRun.get()
        #expect(r.status == 0, "apus run exited \(r.status): \(r.stderr)")
        let lines = r.domainLines(1)
        #expect(lines.contains("APUS-GUEST-UP"))
        #expect(lines.contains { $0.hasPrefix("XENTEST consoles=ttyAMA0") })
        #expect(!lines.contains { $0.contains("Xen 4.17 support found") })
        #expect(!lines.contains { $0.hasPrefix("XENTEST hypervisor-type=") })
        #expect(lines.contains { $0.hasPrefix("XENTEST hypervisor-type FAILED") })
        #expect(lines.contains { $0.hasPrefix("XENTEST xenbus-device FAILED") })
        #expect(lines.contains { $0.hasPrefix("XENTEST domid FAILED exit=1: xenstore-read: xs_open") })
        #expect(lines.contains("XENTEST end"))
        #expect(lines.contains { $0.contains("reboot: Power down") })
    }
}
