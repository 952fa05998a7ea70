import Testing

/// What `apus run` refuses before anything boots, and how it ends a run.
@Suite(.serialized) struct HostToolTests {
    @Test func unknownKeyIsRefusedWithFileLineAndKey() throws {
        let r = try SystemHarness.run([("bad.cfg", "name = \"x\"\nmemroy = 64\nkernel = \"k\"\n")], timeout: 30)
        #expect(r.status == 2)
        #expect(r.stderr.contains("bad.cfg:2: unknown key 'memroy'"))
        #expect(!r.contains("(XEN)"))
    }

    @Test func missingKernelFileIsRefused() throws {
        let r = try SystemHarness.run([("nok.cfg", "name = \"x\"\nmemory = 64\nkernel = \"/nonexistent/Image\"\n")], timeout: 30)
        #expect(r.status == 2)
        #expect(r.stderr.contains("nok.cfg"))
        #expect(r.stderr.contains("kernel"))
    }

    @Test func tooMuchMemoryIsRefused() throws {
        let cfg = "name = \"big\"\nmemory = 65536\nkernel = \"\(SystemHarness.guestImage("faults"))\"\n"
        let r = try SystemHarness.run([("big.cfg", cfg)], timeout: 30)
        #expect(r.status == 2)
        #expect(r.stderr.contains("big.cfg"))
        #expect(r.stderr.contains("memory"))
    }

    @Test func timeoutEndsTheRunWithStatus124() throws {
        // The demo initramfs waits at a shell forever when no input comes: the run must reach
        // that shell (its prompt, PS1 '\\h:\\w# ' with hostname apus-demo, on the console) and
        // still be there when the timeout ends it, so 124 is the timeout's doing and not a
        // board that hung or stopped early.
        let cfg = """
        name = "idle"
        memory = 128
        kernel = "\(SystemHarness.debian("Image"))"
        ramdisk = "\(SystemHarness.debian("initrd-demo.cpio"))"
        extra = "console=ttyAMA0 quiet"
        """
        let r = try SystemHarness.run([("idle.cfg", cfg)], timeout: 60)
        #expect(r.status == 124)
        #expect(r.stderr.contains("timed out"))
        #expect(r.contains("(d1) apus-demo:/# "), "no shell prompt before the timeout: \(r.domainLines(1).suffix(5))")
        #expect(!r.contains("PANIC"))
        #expect(!r.contains("no domain left"), "the domain ended before the timeout")
    }
}
