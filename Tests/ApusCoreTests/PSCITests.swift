import Testing
@testable import ApusCore

private struct FakeDomain: PSCIDomainView {
    var states: [VCPUPowerState]
    var vcpuCount: Int { states.count }
    func powerState(ofVCPU index: Int) -> VCPUPowerState { states[index] }
}

private func code(_ r: PSCIResult) -> UInt64 { UInt64(bitPattern: r.rawValue) }

private func call(_ x0: UInt64, _ x1: UInt64 = 0, _ x2: UInt64 = 0, _ x3: UInt64 = 0,
                  states: [VCPUPowerState] = [.on, .off]) -> (result: UInt64, action: PSCIAction) {
    VirtualPSCI.handle(x0, x1, x2, x3, domain: FakeDomain(states: states))
}

@Suite struct PSCITests {
    // MARK: identification

    @Test func versions() {
        let v = call(0x8400_0000)
        #expect(v.result == 0x0001_0001, "PSCI 1.1")
        #expect(v.action == .none)
        let s = call(0x8000_0000)
        #expect(s.result == 0x0001_0001, "SMCCC 1.1")
        #expect(s.action == .none)
    }

    @Test func resultCodesAreSignExtended() {
        #expect(code(.notSupported) == 0xFFFF_FFFF_FFFF_FFFF)
        #expect(code(.invalidParameters) == 0xFFFF_FFFF_FFFF_FFFE)
        #expect(code(.denied) == 0xFFFF_FFFF_FFFF_FFFD)
        #expect(code(.alreadyOn) == 0xFFFF_FFFF_FFFF_FFFC)
        #expect(code(.onPending) == 0xFFFF_FFFF_FFFF_FFFB)
        #expect(code(.invalidAddress) == 0xFFFF_FFFF_FFFF_FFF7)
    }

    /// Xen's handle_arch: SMCCC_VERSION and ARCH_FEATURES are not themselves listed.
    @Test func smcccArchFeaturesListsOnlyTheWorkarounds() {
        #expect(call(0x8000_0001, 0x8000_0000).result == code(.notSupported), "SMCCC_VERSION")
        #expect(call(0x8000_0001, 0x8000_0001).result == code(.notSupported), "SMCCC_ARCH_FEATURES")
        #expect(call(0x8000_0001, 0x8400_0000).result == code(.notSupported))
        #expect(call(0x8000_0001, 0x8000_0000).action == .none)
    }

    /// With no mitigation known (the default before boot decides), nothing is offered.
    @Test func smcccArchFeaturesWithoutMitigations() {
        let m = SpectreMitigations.none
        let d = FakeDomain(states: [.on])
        for fid: UInt64 in [0x8000_8000, 0x8000_7FFF, 0x8000_3FFF] {
            #expect(VirtualPSCI.handle(0x8000_0001, fid, 0, 0, domain: d, mitigations: m).result == code(.notSupported))
        }
    }

    /// Cortex-A57 r1p0 under QEMU 7.2's PSCI 0.2 (no SMCCC_VERSION): Xen 4.17 still sets
    /// ARM_HARDEN_BRANCH_PREDICTOR by MIDR (WORKAROUND_1 advertised), keeps ssbd_state at its
    /// default "runtime" (WORKAROUND_2 advertised), has no BHB entry for the A57.
    @Test func smcccArchFeaturesOnQEMUCortexA57() {
        let m = SpectreMitigations.decide(midr: 0x411F_D070, csv2: 0, ecbhb: false, clearBHB: false,
                                          firmware: FirmwareSMCCC(version: 0x1_0000))
        let d = FakeDomain(states: [.on])
        func af(_ fid: UInt64) -> UInt64 { VirtualPSCI.handle(0x8000_0001, fid, 0, 0, domain: d, mitigations: m).result }
        #expect(af(0x8000_8000) == 0, "WORKAROUND_1")
        #expect(af(0x8000_7FFF) == 0, "WORKAROUND_2")
        #expect(af(0x8000_3FFF) == code(.notSupported), "WORKAROUND_3")
        #expect(af(0xFFFF_FFFF_8000_8000) == 0, "SMC32: the upper half of w1 is not part of the argument")
        #expect(m.hardening == .none, "the firmware cannot run it")
        #expect(m.missingWorkaround1, "Xen warns: No support for ARM_SMCCC_ARCH_WORKAROUND_1")
        #expect(!m.missingBHBWorkaround)
        #expect(!m.enableSSBDInFirmware)
        #expect(m.ssbd == .runtime)
    }

    @Test func workaroundCallsHaveNoReturnValue() {
        let m = SpectreMitigations.decide(midr: 0x411F_D070, csv2: 0, ecbhb: false, clearBHB: false,
                                          firmware: FirmwareSMCCC(version: 0x1_0000))
        let d = FakeDomain(states: [.on])
        for fid: UInt64 in [0x8000_8000, 0x8000_7FFF, 0x8000_3FFF, 0xFFFF_FFFF_8000_8000] {
            let r = VirtualPSCI.handle(fid, 1, 2, 3, domain: d, mitigations: m)
            #expect(r.result == fid, "x0 is left as it was, as Xen does")
            #expect(r.action == .none)
        }
    }

    /// Through hvc #0, Xen 4.17 answers the workaround calls in entry.S (seen on the board:
    /// x0 = 0 after each); other calls go to the SMCCC handler.
    @Test func hvcFastPathForTheWorkarounds() {
        #expect(VirtualPSCI.hvcFastPathClears(0x8000_8000) == 2, "WORKAROUND_1: x0, x1")
        #expect(VirtualPSCI.hvcFastPathClears(0x8000_3FFF) == 2, "WORKAROUND_3: x0, x1")
        #expect(VirtualPSCI.hvcFastPathClears(0x8000_7FFF) == 4, "WORKAROUND_2: x0...x3")
        #expect(VirtualPSCI.hvcFastPathClears(0xFFFF_FFFF_8000_8000) == 2, "W0 only")
        #expect(VirtualPSCI.hvcFastPathClears(0x8000_0001) == nil)
        #expect(VirtualPSCI.hvcFastPathClears(0x8400_0000) == nil)
        #expect(VirtualPSCI.hvcFastPathClears(0x8000_8001) == nil)
    }

    @Test func mitigationDecisions() {
        let fw11 = FirmwareSMCCC(version: 0x1_0001, workaround1: 0, workaround2: -1, workaround3: -1)
        // A57 with a firmware that offers WORKAROUND_1: it runs on every guest exit.
        let a57 = SpectreMitigations.decide(midr: 0x411F_D070, csv2: 0, ecbhb: false, clearBHB: false, firmware: fw11)
        #expect(a57.hardening == .firmwareCall(fid: 0x8000_8000))
        #expect(a57.hardening.vectorWord == 0x8000_8000)
        #expect(a57.advertiseWorkaround1 && !a57.advertiseWorkaround3 && !a57.missingWorkaround1)
        #expect(a57.ssbd == .unknown, "firmware: WORKAROUND_2 NOT_SUPPORTED")
        // ... unless the CPU says it is not affected (CSV2).
        let csv2 = SpectreMitigations.decide(midr: 0x411F_D070, csv2: 1, ecbhb: false, clearBHB: false, firmware: fw11)
        #expect(csv2.hardening == .none && csv2.advertiseWorkaround1 && !csv2.missingWorkaround1)
        // A57 behind an HVC conduit: Xen refuses such a board; Apus never calls from the vectors.
        let hvc = SpectreMitigations.decide(midr: 0x411F_D070, csv2: 0, ecbhb: false, clearBHB: false, firmware: fw11,
                                            firmwareIsSMC: false)
        #expect(hvc.hardening == .none && hvc.missingWorkaround1)
        // A72 r0p0 as the A57; A72 r1p0 and later: the 8-branch BHB loop, WORKAROUND_1 not advertised.
        #expect(SpectreMitigations.decide(midr: 0x410F_D080, csv2: 0, ecbhb: false, clearBHB: false, firmware: fw11).hardening
                == .firmwareCall(fid: 0x8000_8000))
        let a72 = SpectreMitigations.decide(midr: 0x411F_D080, csv2: 0, ecbhb: false, clearBHB: false, firmware: fw11)
        #expect(a72.hardening == .branchLoop(count: 8) && a72.hardening.vectorWord == 8)
        #expect(!a72.advertiseWorkaround1)
        #expect(SpectreMitigations.decide(midr: 0x411F_D080, csv2: 3, ecbhb: false, clearBHB: false, firmware: fw11).hardening == .none)
        #expect(SpectreMitigations.decide(midr: 0x411F_D080, csv2: 0, ecbhb: true, clearBHB: false, firmware: fw11).hardening == .none)
        #expect(SpectreMitigations.decide(midr: 0x411F_D080, csv2: 0, ecbhb: false, clearBHB: true, firmware: fw11).hardening.vectorWord == 1)
        // A73: WORKAROUND_3 from the firmware; if absent, WORKAROUND_1 covers both.
        var fw3 = fw11; fw3.workaround3 = 0
        let a73 = SpectreMitigations.decide(midr: 0x410F_D090, csv2: 0, ecbhb: false, clearBHB: false, firmware: fw3)
        #expect(a73.hardening == .firmwareCall(fid: 0x8000_3FFF))
        #expect(a73.advertiseWorkaround1 && a73.advertiseWorkaround3)
        #expect(SpectreMitigations.decide(midr: 0x410F_D090, csv2: 0, ecbhb: false, clearBHB: false, firmware: fw11).hardening
                == .firmwareCall(fid: 0x8000_8000))
        let old = SpectreMitigations.decide(midr: 0x410F_D090, csv2: 0, ecbhb: false, clearBHB: false,
                                            firmware: FirmwareSMCCC(version: 0x1_0000))
        #expect(old.hardening == .none && old.missingBHBWorkaround)
        // An unaffected core (Cortex-A53): nothing, and nothing advertised but SSBD's default.
        let a53 = SpectreMitigations.decide(midr: 0x410F_D034, csv2: 0, ecbhb: false, clearBHB: false, firmware: fw11)
        #expect(a53.hardening == .none && !a53.advertiseWorkaround1 && !a53.missingWorkaround1)
    }

    @Test func ssbdStates() {
        func state(_ r: Int32?) -> SpectreMitigations {
            SpectreMitigations.decide(midr: 0x410F_D034, csv2: 0, ecbhb: false, clearBHB: false,
                                      firmware: FirmwareSMCCC(version: 0x1_0001, workaround2: r))
        }
        let d = FakeDomain(states: [.on])
        func af(_ m: SpectreMitigations) -> UInt64 { VirtualPSCI.handle(0x8000_0001, 0x8000_7FFF, 0, 0, domain: d, mitigations: m).result }
        #expect(state(-1).ssbd == .unknown && af(state(-1)) == code(.notSupported))
        #expect(state(-2).ssbd == .mitigated && af(state(-2)) == UInt64(bitPattern: -2), "NOT_REQUIRED")
        #expect(state(0).ssbd == .forceEnabled && state(0).enableSSBDInFirmware && af(state(0)) == UInt64(bitPattern: -2))
        #expect(state(1).ssbd == .runtime && !state(1).enableSSBDInFirmware && af(state(1)) == 0)
    }

    @Test(arguments: [
        0x8000_0000, 0x8400_0000, 0x8400_0001, 0x8400_0002, 0x8400_0003, 0x8400_0004, 0x8400_0006,
        0x8400_0008, 0x8400_0009, 0x8400_000A, 0xC400_0001, 0xC400_0003, 0xC400_0004,
    ] as [UInt64])
    func psciFeaturesOfImplementedFunctions(_ fid: UInt64) {
        let r = call(0x8400_000A, fid)
        #expect(r.result == 0)
        #expect(r.action == .none)
    }

    @Test(arguments: [
        0x8000_0001,                 // SMCCC_ARCH_FEATURES is discovered through SMCCC_VERSION, not PSCI_FEATURES
        0x8000_8000, 0x8000_7FFF, 0x8000_3FFF,   // the workarounds: through ARCH_FEATURES only
        0x8400_0005,                 // MIGRATE
        0x8400_0007,                 // MIGRATE_INFO_UP_CPU
        0x8400_000E,                 // SYSTEM_SUSPEND
        0x8400_0012,                 // SYSTEM_RESET2
        0xC400_0002,                 // there is no 64-bit CPU_OFF
        0x0,
    ] as [UInt64])
    func psciFeaturesOfOtherFunctions(_ fid: UInt64) {
        #expect(call(0x8400_000A, fid).result == code(.notSupported))
    }

    @Test func psciFeaturesTruncatesItsSMC32Argument() {
        #expect(call(0x8400_000A, 0xDEAD_BEEF_8400_0000).result == 0)
        #expect(call(0x8400_000A, 0x0000_0001_8400_0005).result == code(.notSupported))
    }

    @Test func migrateInfoType() {
        let r = call(0x8400_0006)
        #expect(r.result == 2, "Trusted OS not present or does not require migration")
        #expect(r.action == .none)
    }

    // MARK: power actions

    @Test func cpuSuspendWaitsForAnInterrupt() {
        for fid: UInt64 in [0x8400_0001, 0xC400_0001] {
            let r = call(fid, 0x1, 0x4008_0000, 0)
            #expect(r.result == 0)
            #expect(r.action == .waitForInterrupt)
        }
    }

    @Test func cpuOffStopsTheCaller() {
        let r = call(0x8400_0002)
        #expect(r.action == .stopCaller)
        #expect(r.result == code(.denied), "only seen by the guest if stopping failed")
    }

    @Test func systemOffAndReset() {
        #expect(call(0x8400_0008) == (0, .powerOffDomain))
        #expect(call(0x8400_0009) == (0, .rebootDomain))
    }

    // MARK: CPU_ON

    @Test func cpuOn64StartsAnOffVCPU() {
        let r = call(0xC400_0003, 1, 0x4008_0000, 0xDEAD_BEEF_0000_1234, states: [.on, .off])
        #expect(r.result == 0)
        #expect(r.action == .startVCPU(vcpu: 1, entry: 0x4008_0000, context: 0xDEAD_BEEF_0000_1234))
    }

    @Test func cpuOnTargetStates() {
        let states: [VCPUPowerState] = [.on, .on, .onPending, .off]
        for fid: UInt64 in [0x8400_0003, 0xC400_0003] {
            #expect(call(fid, 0, 0x4008_0000, 0, states: states) == (code(.alreadyOn), .none), "self")
            #expect(call(fid, 1, 0x4008_0000, 0, states: states) == (code(.alreadyOn), .none))
            #expect(call(fid, 2, 0x4008_0000, 0, states: states) == (code(.onPending), .none))
            #expect(call(fid, 3, 0x4008_0000, 7, states: states) == (0, .startVCPU(vcpu: 3, entry: 0x4008_0000, context: 7)))
            #expect(call(fid, 4, 0x4008_0000, 0, states: states) == (code(.invalidParameters), .none), "no such vCPU")
            #expect(call(fid, 0x10, 0x4008_0000, 0, states: states) == (code(.invalidParameters), .none), "Aff0 16")
        }
    }

    /// Xen's do_common_cpu_on refuses only a Thumb entry (bit 0) for a 64-bit guest, and
    /// does so before it looks at the target's state.
    @Test func cpuOnRejectsAThumbEntry() {
        for entry: UInt64 in [0x4008_0001, 0x4008_0003] {
            #expect(call(0xC400_0003, 1, entry, 0) == (code(.invalidAddress), .none))
            #expect(call(0xC400_0003, 0, entry, 0, states: [.on, .off]) == (code(.invalidAddress), .none), "before ALREADY_ON")
        }
        #expect(call(0xC400_0003, 1, 0x4008_0002, 0) == (0, .startVCPU(vcpu: 1, entry: 0x4008_0002, context: 0)))
        #expect(call(0xC400_0003, 1, 0x4008_0004, 0).result == 0)
    }

    @Test func cpuOn32TruncatesArguments() {
        let r = call(0x8400_0003, 0xFFFF_FFFF_0000_0001, 0xFFFF_FFFF_4008_0000, 0x1_0000_0005)
        #expect(r.result == 0)
        #expect(r.action == .startVCPU(vcpu: 1, entry: 0x4008_0000, context: 5))
        // The same registers through the 64-bit call name an affinity no vCPU has.
        #expect(call(0xC400_0003, 0xFFFF_FFFF_0000_0001, 0x4008_0000, 0) == (code(.invalidParameters), .none))
        // Truncation applies to the alignment check too.
        #expect(call(0x8400_0003, 1, 0x1_0000_0001, 0) == (code(.invalidAddress), .none))
        #expect(call(0x8400_0003, 1, 0x1_0000_0000, 0).result == 0)
    }

    @Test func cpuOnInTheSecondCluster() {
        var states = [VCPUPowerState](repeating: .on, count: 20)
        states[18] = .off
        let r = call(0xC400_0003, 0x102, 0x4100_0000, 0, states: states)
        #expect(r.action == .startVCPU(vcpu: 18, entry: 0x4100_0000, context: 0))
        #expect(call(0xC400_0003, 0x104, 0x4100_0000, 0, states: states).result == code(.invalidParameters),
                "vCPU 20 of 20")
    }

    // MARK: AFFINITY_INFO

    @Test func affinityInfoLevel0() {
        let states: [VCPUPowerState] = [.on, .off, .onPending]
        for fid: UInt64 in [0x8400_0004, 0xC400_0004] {
            #expect(call(fid, 0, 0, states: states) == (0, .none), "ON")
            #expect(call(fid, 1, 0, states: states) == (1, .none), "OFF")
            #expect(call(fid, 2, 0, states: states) == (2, .none), "ON_PENDING")
            #expect(call(fid, 3, 0, states: states) == (1, .none), "no such vCPU: OFF, as Xen")
            #expect(call(fid, 0x1_0000, 0, states: states) == (1, .none), "Aff2 1: no vCPU there")
        }
    }

    /// Xen's do_psci_0_2_affinity_info: levels 0...3; the fields below the level are
    /// ignored, and the group is ON when any vCPU in it is on.
    @Test func affinityInfoHigherLevels() {
        var states = [VCPUPowerState](repeating: .off, count: 18)
        for level: UInt64 in [1, 2, 3] {
            #expect(call(0xC400_0004, 0x5, level, states: states) == (1, .none), "all off")
            #expect(call(0x8400_0004, 0x5, level, states: states) == (1, .none))
        }
        states[17] = .on                                      // MPIDR 0x101
        #expect(call(0xC400_0004, 0x100, 1, states: states) == (0, .none), "cluster 1 has an ON vCPU")
        #expect(call(0xC400_0004, 0x1FF, 1, states: states) == (0, .none), "Aff0 ignored at level 1")
        #expect(call(0xC400_0004, 0x000, 1, states: states) == (1, .none), "cluster 0 is all off")
        #expect(call(0xC400_0004, 0x1_0000, 2, states: states) == (1, .none))
        #expect(call(0xC400_0004, 0xFFFF, 2, states: states) == (0, .none), "Aff1 and Aff0 ignored at level 2")
        #expect(call(0xC400_0004, 0, 3, states: states) == (0, .none))
        #expect(call(0xC400_0004, 0, 4, states: states) == (code(.invalidParameters), .none))
        states[17] = .onPending
        #expect(call(0xC400_0004, 0x100, 1, states: states) == (0, .none), "a vCPU coming up makes its cluster ON")
        #expect(call(0xC400_0004, 0x101, 0, states: states) == (2, .none), "and is ON_PENDING itself")
    }

    @Test func affinityInfo32TruncatesArguments() {
        let states: [VCPUPowerState] = [.on, .off]
        #expect(call(0x8400_0004, 0xABCD_0000_0000_0001, 0x1_0000_0000, states: states) == (1, .none))
        #expect(call(0xC400_0004, 0, 0x1_0000_0000, states: states) == (code(.invalidParameters), .none))
    }

    // MARK: unknown calls

    @Test(arguments: [
        0x8400_0005, 0x8400_0007, 0x8400_000B, 0x8400_000E, 0x8400_0012, 0xC400_0002, 0xC400_0012,
        0xC600_0000, 0x8600_0000, 0x0, 0x1, 0xFFFF_FFFF,
    ] as [UInt64])
    func unknownFunctionsAreNotSupported(_ fid: UInt64) {
        let r = call(fid, 1, 0x4008_0000, 0)
        #expect(r.result == 0xFFFF_FFFF_FFFF_FFFF)
        #expect(r.action == .none)
    }

    /// SMCCC: the function identifier is W0. Callers (e.g. Linux before 4.16, see commit
    /// "arm/arm64: smccc: Make function identifiers an unsigned quantity") may leave the
    /// upper half of x0 sign-extended; Xen (vsmccc) and KVM only look at the low 32 bits.
    @Test func functionIdIsW0() {
        #expect(call(0xFFFF_FFFF_8400_0000).result == 0x0001_0001)
        #expect(call(0xFFFF_FFFF_8400_000A, 0x8400_0000).result == 0)
        #expect(call(0x0000_0001_8400_0009) == (0, .rebootDomain))
    }

    // MARK: MPIDR <-> vCPU index

    @Test func mpidrOfVCPU() {
        #expect(VirtualPSCI.mpidr(ofVCPU: 0) == 0)
        #expect(VirtualPSCI.mpidr(ofVCPU: 1) == 1)
        #expect(VirtualPSCI.mpidr(ofVCPU: 15) == 0xF)
        #expect(VirtualPSCI.mpidr(ofVCPU: 16) == 0x100)
        #expect(VirtualPSCI.mpidr(ofVCPU: 17) == 0x101)
        #expect(VirtualPSCI.mpidr(ofVCPU: 40) == 0x208)
        #expect(VirtualPSCI.mpidr(ofVCPU: 127) == 0x70F)
    }

    @Test func vcpuIndexRoundTrips() {
        for i in 0..<128 {
            #expect(VirtualPSCI.vcpuIndex(mpidr: VirtualPSCI.mpidr(ofVCPU: i), count: 128) == i)
        }
    }

    @Test func vcpuIndexRejectsBadAffinities() {
        #expect(VirtualPSCI.vcpuIndex(mpidr: 2, count: 2) == nil, "beyond the vCPU count")
        #expect(VirtualPSCI.vcpuIndex(mpidr: 0x101, count: 17) == nil)
        #expect(VirtualPSCI.vcpuIndex(mpidr: 0x101, count: 18) == 17)
        #expect(VirtualPSCI.vcpuIndex(mpidr: 0x10, count: 128) == nil, "Aff0 is at most 15")
        #expect(VirtualPSCI.vcpuIndex(mpidr: 0xFF, count: 128) == nil)
        #expect(VirtualPSCI.vcpuIndex(mpidr: 0x1_0000, count: 128) == nil, "Aff2")
        #expect(VirtualPSCI.vcpuIndex(mpidr: 0x1_0000_0000, count: 128) == nil, "Aff3")
        #expect(VirtualPSCI.vcpuIndex(mpidr: 0x100_0000_0000, count: 128) == nil, "above Aff3")
        #expect(VirtualPSCI.vcpuIndex(mpidr: 0x0100_0000, count: 128) == nil, "MT/bits 24..")
        #expect(VirtualPSCI.vcpuIndex(mpidr: 0, count: 0) == nil, "no vCPUs at all")
    }
}
