import Testing
@testable import ApusCore

@Suite struct XenABITests {
    @Test func hypercallNumbersAndErrnos() {
        #expect(XenHypercallNumber.memoryOp == 12 && XenHypercallNumber.multicall == 13)
        #expect(XenHypercallNumber.xenVersion == 17 && XenHypercallNumber.grantTableOp == 20)
        #expect(XenHypercallNumber.vcpuOp == 24 && XenHypercallNumber.schedOp == 29)
        #expect(XenHypercallNumber.eventChannelOp == 32 && XenHypercallNumber.hvmOp == 34)
        #expect(XenErrno.EPERM.result == -1 && XenErrno.EINVAL.result == -22 && XenErrno.EFAULT.result == -14)
        #expect(XenErrno.ENOSYS.result == -38 && XenErrno.ENOSPC.result == -28 && XenErrno.EOPNOTSUPP.result == -95)
        #expect(XenErrno.ESRCH.code == 3 && XenErrno.EEXIST.code == 17 && XenErrno.E2BIG.code == 7)
        #expect(XenHypercallResult(-22).x0 == 0xFFFF_FFFF_FFFF_FFEA)
    }

    @Test func sharedStructureLayouts() {
        // vcpu_info: upcall_pending @0, pending_sel @8, time @16, 48 bytes.
        #expect(XenLayout.VCPUInfo.pendingSel == 8 && XenLayout.VCPUInfo.size == 48)
        // shared_info: pending @48, mask @560, wallclock @1072.
        #expect(XenLayout.SharedInfo.evtchnPending == 48 && XenLayout.SharedInfo.evtchnMask == 560)
        #expect(XenLayout.SharedInfo.evtchnMask - XenLayout.SharedInfo.evtchnPending == 64 * 8)
        #expect(XenLayout.SharedInfo.wcVersion == 1072 && XenLayout.SharedInfo.size == 1088)
        #expect(XenLayout.RunstateInfo.size == 48 && XenLayout.MulticallEntry.size == 64)
        #expect(XenLayout.GrantEntryV1.perFrame * UInt32(XenLayout.GrantEntryV1.size) == 4096)
        #expect(XenLayout.GnttabMapGrantRef.size == 32 && XenLayout.GnttabCopy.size == 40)
        #expect(XenLayout.AddToPhysmap.size == 24 && XenLayout.EvtchnStatus.size == 24)
    }

    @Test func virqScopes() {
        #expect(!XenVIRQ.isGlobal(XenVIRQ.timer) && !XenVIRQ.isGlobal(XenVIRQ.debug))
        #expect(!XenVIRQ.isGlobal(XenVIRQ.xenoprof) && !XenVIRQ.isGlobal(XenVIRQ.xenpmu))
        #expect(XenVIRQ.isGlobal(XenVIRQ.console) && XenVIRQ.isGlobal(XenVIRQ.arch0 + 7))
    }

    @Test func callbackParamEncoding() {
        #expect(HVMParam.callbackPPI(31) == 0x0200_0000_0000_021F)
    }
}

@Suite struct XenVersionTests {
    let rig = XenRig(mapShared: false)
    let va = XenRig.scratch

    func ver(_ cmd: UInt32, arg: UInt64 = XenRig.scratch, dom: XenDomainID = 1) -> Int64 {
        rig.call(XenHypercallNumber.xenVersion, UInt64(cmd), arg, dom: dom).result
    }

    func string(_ n: Int) -> [UInt8] { rig.out(n) }

    @Test func versionIs4_17() {
        #expect(ver(XenVersionOp.version) == 0x4_0011)
        // cmd is an int: the upper half of x0 is ignored.
        #expect(rig.call(XenHypercallNumber.xenVersion, 0x1_0000_0000, 0).result == 0x4_0011)
    }

    @Test func extraversionIsNulPadded16Bytes() {
        rig.mem.poke(1, va, [UInt8](repeating: 0xAA, count: 20))
        #expect(ver(XenVersionOp.extraversion) == 0)
        #expect(string(20) == [0x2E, 0x30] + [UInt8](repeating: 0, count: 14) + [0xAA, 0xAA, 0xAA, 0xAA])
    }

    @Test func capabilitiesCompileInfoChangeset() {
        #expect(ver(XenVersionOp.capabilities) == 0)
        let caps = Array("xen-3.0-aarch64 xen-3.0-armv7l ".utf8)
        #expect(Array(string(1024).prefix(caps.count + 1)) == caps + [0])
        #expect(ver(XenVersionOp.compileInfo) == 0)
        let ci = string(144)
        #expect(Array(ci[0..<4]) == Array("gcc ".utf8))
        #expect(Array(ci[64..<77]) == Array("pkg-xen-devel".utf8) && ci[77] == 0)
        #expect(ver(XenVersionOp.changeset) == 0)
        #expect(Array(string(12)) == Array("unavailable".utf8) + [0])
    }

    @Test func platformParametersAndPagesize() {
        #expect(ver(XenVersionOp.platformParameters) == 0)
        #expect(rig.mem.u64(1, va) == 0x20_0000)
        #expect(ver(XenVersionOp.pagesize, arg: 0) == 4096)
        #expect(ver(XenVersionOp.pagesize, arg: va) == XenErrno.EINVAL.result, "a non-null handle is refused")
    }

    @Test func featuresForADomU() {
        rig.mem.set64(1, va, 0)              // submap_idx 0, submap garbage 0
        #expect(ver(XenVersionOp.getFeatures) == 0)
        let expected: UInt32 = 1 << 0 | 1 << 2 | 1 << 13 | 1 << 14 | 1 << 16
        #expect(rig.mem.u32(1, va + 4) == expected)
        #expect(expected == 0x1_6005)
        rig.mem.set32(1, va, 1)
        #expect(ver(XenVersionOp.getFeatures) == XenErrno.EINVAL.result, "only submap 0 exists")
        #expect(XenVersion.featureSubmap0(privileged: true, directMapped: true) == 1 << 0 | 1 << 2 | 1 << 11 | 1 << 13 | 1 << 14 | 1 << 17)
    }

    @Test func guestHandleIsTheDomainsUUID() {
        let r = XenRig(mapShared: false) { $0.handle = [UInt8](1...16) }
        #expect(r.call(XenHypercallNumber.xenVersion, UInt64(XenVersionOp.guestHandle), va).result == 0)
        #expect(r.out(16) == [UInt8](1...16))
    }

    @Test func commandlineAndBuildIDAreDeniedToDomUs() {
        #expect(ver(XenVersionOp.commandline) == 0)
        #expect(string(9) == Array("<denied>".utf8) + [0])
        #expect(ver(XenVersionOp.buildID) == XenErrno.EPERM.result)
    }

    @Test func privilegedDomainSeesCommandline() {
        let r = XenRig(mapShared: false, privileged1: true)
        r.host.version.commandline = Array("console=dtuart".utf8)
        #expect(r.call(XenHypercallNumber.xenVersion, UInt64(XenVersionOp.commandline), va).result == 0)
        #expect(r.out(15) == Array("console=dtuart".utf8) + [0])
        r.mem.set32(1, va, 0)
        #expect(r.call(XenHypercallNumber.xenVersion, UInt64(XenVersionOp.buildID), va).result == XenErrno.EINVAL.result)
        #expect(r.call(XenHypercallNumber.xenVersion, UInt64(XenVersionOp.buildID), 0).result == XenErrno.ENODATA.result)
    }

    @Test func faultsAndUnknownSubops() {
        let bad: UInt64 = 0x1000
        for cmd in [XenVersionOp.extraversion, XenVersionOp.compileInfo, XenVersionOp.capabilities,
                    XenVersionOp.changeset, XenVersionOp.platformParameters, XenVersionOp.getFeatures,
                    XenVersionOp.guestHandle, XenVersionOp.commandline] {
            #expect(ver(cmd, arg: bad) == XenErrno.EFAULT.result, "cmd \(cmd)")
        }
        #expect(ver(11) == XenErrno.ENOSYS.result)
        #expect(ver(0xFFFF_FFFF) == XenErrno.ENOSYS.result)
    }
}
