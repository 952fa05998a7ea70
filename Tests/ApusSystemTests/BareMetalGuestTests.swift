import Testing

/// The small guests in guests/ prove one behaviour each; they print TEST PASS/FAIL.
@Suite(.serialized) struct BareMetalGuestTests {
    func guestConfig(_ name: String, vcpus: Int = 1) -> (String, String) {
        ("\(name).cfg", """
        name = "\(name)"
        memory = 64
        vcpus = \(vcpus)
        kernel = "\(SystemHarness.guestImage(name))"
        """)
    }

    @Test func faultsAreInjectedIntoTheGuest() throws {
        let r = try SystemHarness.run([guestConfig("faults")], timeout: 120)
        #expect(r.status == 0, "apus run exited \(r.status): \(r.stderr)")
        #expect(r.contains("(d1) TEST PASS faults"))
        // unmapped MMIO gives an external abort at EL1 (EC 0x25), reported once by the hypervisor
        #expect(r.contains("EC 0x25 ESR_EL1=0x96000010 FAR_EL1=0x10000000"))
        #expect(r.contains("(XEN) d1v0: unhandled read from 0x10000000"))
        // an unknown HVC immediate is an undefined instruction, as on Xen
        #expect(r.contains("hvc #0x1234: EC 0x0"))
        #expect(r.contains("(XEN) Apus: no domain left, powering off the board"))
        // SMCCC workaround discovery answers exactly as Xen 4.17 (Debian 4.17.7) on this board
        // (QEMU 7.2 virt, Cortex-A57, PSCI 0.2 firmware without SMCCC_VERSION): these two lines
        // are what the same guest printed under Xen (guests/xen-check.sh faults).
        #expect(r.contains("(f) SMCCC_VERSION 0x10001 ARCH_FEATURES: WORKAROUND_1 0 WORKAROUND_2 0 WORKAROUND_3 -1 VERSION -1"))
        #expect(r.contains("(f) calls: WORKAROUND_1 x0=0x0 WORKAROUND_2(1) x0=0x0 WORKAROUND_3 x0=0x0"))
        // ... and the hypervisor says what Xen says at boot about the firmware.
        #expect(r.contains("(XEN) Using SMC Calling Convention v1.0"))
        #expect(r.contains("(XEN) **** No support for ARM_SMCCC_ARCH_WORKAROUND_1. ****"))
        // MDCR_EL2.TDE clear: the guest's BRK goes to its own EL1 vector (Linux's WARN()).
        #expect(r.contains("(g) brk #0x800: EC 0x3c ISS 0x800 ELR=insn"))
        // HCR_EL2.TSW: set/way maintenance traps and is emulated (once per run of operations).
        #expect(r.contains("(h) 128 x dc cisw/csw/isw: still running"))
        #expect(r.contains("(XEN) d1v0: set/way cache maintenance trapped"))
        // GICR_WAKER reads as zero before any write, as on Xen.
        #expect(r.contains("(i) GICR_WAKER 0x0"))
    }

    @Test func virtualTimerInterruptArrives() throws {
        let r = try SystemHarness.run([guestConfig("vtimer")], timeout: 120)
        #expect(r.status == 0, "apus run exited \(r.status): \(r.stderr)")
        #expect(r.contains("(d1) TEST PASS vtimer"))
        #expect(r.contains("6 timer interrupts, 0 spurious"))
    }

    /// The EL1 physical timer is the hypervisor's: the guest's CNTP_* accesses trap and are
    /// emulated, its interrupt (PPI 30) raised from the EL2 timer, in WFI or running.
    @Test func emulatedPhysicalTimerInterruptArrives() throws {
        let r = try SystemHarness.run([guestConfig("ptimer")], timeout: 120)
        #expect(r.status == 0, "apus run exited \(r.status): \(r.stderr)")
        #expect(r.contains("(d1) TEST PASS ptimer"))
        #expect(r.contains("ptimer: 6 timer interrupts, 0 spurious, 0 other"))
        #expect(r.contains("ptimer: tick 5 CVAL"))
    }

    @Test func secondaryVCPUStartsWithPSCI() throws {
        let r = try SystemHarness.run([guestConfig("smp", vcpus: 2)], timeout: 120)
        #expect(r.status == 0, "apus run exited \(r.status): \(r.stderr)")
        #expect(r.contains("(d1) TEST PASS smp"))
        #expect(r.contains("vCPU 1 up: x0=0x1234 MPIDR_EL1=0x80000001"))
        #expect(r.contains("CPU_ON(7) -> -2 INVALID_PARAMETERS"))
        #expect(r.contains("SGI 1 from vCPU 1: 1 taken on vCPU 0"))
        // A vCPU blocked in WFI is woken by another vCPU's GICD/GICR write that makes its interrupt deliverable.
        #expect(r.contains("SPI 40 enabled by vCPU 0 while vCPU 1 waited in WFI: 1 taken on vCPU 1"))
        #expect(r.contains("PPI 20 enabled in vCPU 1's redistributor by vCPU 0: 1 taken on vCPU 1"))
    }
}
