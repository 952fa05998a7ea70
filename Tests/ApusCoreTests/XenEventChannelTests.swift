import Testing
@testable import ApusCore

@Suite struct XenEventChannelTests {
    let rig = XenRig()
    let EINVAL = XenErrno.EINVAL.result

    // MARK: allocation

    @Test func portZeroIsReservedAndPortsStartAtOne() {
        #expect(rig.state(1, 0) == .reserved)
        #expect(rig.allocUnbound(dom: 1, remote: 2) == 1)
        #expect(rig.allocUnbound(dom: XenDomID.selfID, remote: 2, caller: 1) == 2)
        #expect(rig.state(1, 1) == .unbound(remote: 2))
        #expect(rig.host.events.table(1)?.activeCount == 2)
        #expect(rig.close(0) == EINVAL, "the reserved port cannot be closed")
    }

    @Test func allocUnboundChecks() {
        #expect(rig.allocUnbound(dom: 2, remote: 1, caller: 1) == XenErrno.EPERM.result, "a domU allocates only for itself")
        #expect(rig.allocUnbound(dom: 7, remote: 1, caller: 1) == XenErrno.ESRCH.result)
        #expect(rig.host.events.table(2)?.activeCount == 0, "the refused allocation was undone")
        // DOMID_SELF as remote means the caller.
        let p = rig.allocUnbound(dom: 1, remote: XenDomID.selfID)
        #expect(rig.state(1, UInt32(p)) == .unbound(remote: 1))
        // Output written back in place; the input fields are kept.
        #expect(rig.out(8) == [1, 0, 0xF0, 0x7F, UInt8(p), 0, 0, 0])
        // Bad argument pointer.
        #expect(rig.call(XenHypercallNumber.eventChannelOp, UInt64(EventChannelOp.allocUnbound), 0x10).result
                == XenErrno.EFAULT.result)
    }

    /// Issue 14: Xen 4.17 (XSM SILO, Debian's default; FLASK answers -EPERM) refuses a
    /// remote domain that does not exist, after the port was found and before XSM_TARGET.
    @Test func allocUnboundNeedsAnExistingRemote() {
        #expect(rig.allocUnbound(dom: 1, remote: 7) == XenErrno.ESRCH.result)
        #expect(rig.allocUnbound(dom: XenDomID.selfID, remote: 0x7FF5) == XenErrno.ESRCH.result)
        #expect(rig.host.events.table(1)?.activeCount == 0, "no port is left behind")
        #expect(rig.allocUnbound(dom: 2, remote: 7, caller: 1) == XenErrno.ESRCH.result, "before the permission check")
        #expect(rig.allocUnbound(dom: 1, remote: 2) == 1)
    }

    @Test func privilegedDomainAllocatesForOthers() {
        let r = XenRig(privileged1: true)
        #expect(r.allocUnbound(dom: 2, remote: 1, caller: 1) == 1)
        #expect(r.state(2, 1) == .unbound(remote: 1))
    }

    @Test func tableGrowsLazilyAndRunsOut() {
        let r = XenRig { $0.maxEventChannelPort = 100 }
        #expect(r.host.events.table(1)?.validPorts == 64)
        for i in 1...63 { #expect(r.allocUnbound(dom: 1, remote: 2) == Int64(i)) }
        #expect(r.host.events.table(1)?.validPorts == 64)
        #expect(r.allocUnbound(dom: 1, remote: 2) == 64)
        #expect(r.host.events.table(1)?.validPorts == 128, "one more bucket")
        for _ in 65...100 { _ = r.allocUnbound(dom: 1, remote: 2) }
        #expect(r.allocUnbound(dom: 1, remote: 2) == XenErrno.ENOSPC.result)
        #expect(r.close(37) == 0)
        #expect(r.allocUnbound(dom: 1, remote: 2) == 37, "lowest free port is reused")
        #expect(r.send(120) == EINVAL, "valid but free port")
        #expect(r.send(128) == EINVAL, "beyond valid ports")
    }

    // MARK: interdomain

    @Test func bindInterdomainConnectsBothEnds() {
        let p2 = UInt32(rig.allocUnbound(dom: 2, remote: 1))
        let p1 = rig.bindInterdomain(dom: 1, remote: 2, port: p2)
        #expect(p1 == 1)
        #expect(rig.state(1, 1) == .interdomain(remote: 2, remotePort: p2))
        #expect(rig.state(2, p2) == .interdomain(remote: 1, remotePort: 1))
        // The new local port is made pending (lost-notification fixup).
        #expect(rig.pendingWord(1, 0) == 1 << 1)
        #expect(rig.mem.delivered == [EventDelivery(domain: 1, vcpu: 0, upcall: true)])
    }

    @Test func bindInterdomainChecks() {
        let p2 = UInt32(rig.allocUnbound(dom: 2, remote: 1))
        #expect(rig.bindInterdomain(dom: 1, remote: 5, port: p2) == XenErrno.ESRCH.result)
        #expect(rig.bindInterdomain(dom: 1, remote: 2, port: 9) == EINVAL, "not an unbound port")
        #expect(rig.bindInterdomain(dom: 1, remote: 2, port: 999_999) == EINVAL, "invalid port")
        let other = UInt32(rig.allocUnbound(dom: 2, remote: 2))
        #expect(rig.bindInterdomain(dom: 1, remote: 2, port: other) == EINVAL, "unbound for someone else")
        rig.host.setPolicy { _, _ in false }
        #expect(rig.bindInterdomain(dom: 1, remote: 2, port: p2) == XenErrno.EPERM.result)
        #expect(rig.host.events.table(1)?.activeCount == 0, "failed binds leave no port behind")
        rig.host.setPolicy { _, _ in true }
        #expect(rig.bindInterdomain(dom: 1, remote: 2, port: p2) == 1)
        #expect(rig.bindInterdomain(dom: 1, remote: 2, port: p2) == EINVAL, "already connected")
    }

    @Test func loopbackInterdomain() {
        let a = UInt32(rig.allocUnbound(dom: 1, remote: 1))
        let b = UInt32(rig.bindInterdomain(dom: 1, remote: XenDomID.selfID, port: a))
        #expect(rig.state(1, a) == .interdomain(remote: 1, remotePort: b))
        #expect(rig.state(1, b) == .interdomain(remote: 1, remotePort: a))
        rig.guestAcknowledge(1)
        rig.mem.set64(1, rig.sharedBase(1) + 48, 0)
        #expect(rig.send(b) == 0)
        #expect(rig.pendingWord(1, 0) == 1 << UInt64(a))
    }

    @Test func closeInterdomainLeavesPeerUnbound() {
        let p2 = UInt32(rig.allocUnbound(dom: 2, remote: 1))
        let p1 = UInt32(rig.bindInterdomain(dom: 1, remote: 2, port: p2))
        #expect(rig.pendingWord(1, 0) & (1 << UInt64(p1)) != 0)
        #expect(rig.close(p1) == 0)
        #expect(rig.state(1, p1) == .free)
        #expect(rig.pendingWord(1, 0) & (1 << UInt64(p1)) == 0, "pending cleared on close")
        #expect(rig.state(2, p2) == .unbound(remote: 1))
        #expect(rig.send(p2, dom: 2) == 0, "send on unbound is silently dropped")
        // Domain 1 can connect again.
        #expect(rig.bindInterdomain(dom: 1, remote: 2, port: p2) == Int64(p1))
        #expect(rig.close(p1) == 0)
        #expect(rig.close(p1) == EINVAL, "double close")
        #expect(rig.close(p2, dom: 2) == 0)
        #expect(rig.state(2, p2) == .free)
    }

    @Test func sendInterdomainSetsPeerPending() {
        let p2 = UInt32(rig.allocUnbound(dom: 2, remote: 1))
        let p1 = UInt32(rig.bindInterdomain(dom: 1, remote: 2, port: p2))
        rig.mem.delivered = []
        #expect(rig.send(p1) == 0)
        #expect(rig.pendingWord(2, 0) == 1 << UInt64(p2))
        #expect(rig.upcallPending(2) == 1)
        #expect(rig.pendingSel(2) == 1)
        #expect(rig.mem.delivered == [EventDelivery(domain: 2, vcpu: 0, upcall: true)])
        rig.host.setPolicy { a, b in !(a == 1 && b == 2) }
        #expect(rig.send(p1) == XenErrno.EPERM.result)
    }

    // MARK: VIRQ / IPI

    @Test func bindVIRQRules() {
        #expect(rig.bindVIRQ(24, vcpu: 0) == EINVAL)
        #expect(rig.bindVIRQ(0xFFFF_FFFF, vcpu: 0) == EINVAL)
        #expect(rig.bindVIRQ(XenVIRQ.console, vcpu: 1) == EINVAL, "global VIRQs only on vCPU 0")
        #expect(rig.bindVIRQ(XenVIRQ.timer, vcpu: 2) == XenErrno.ENOENT.result)
        #expect(rig.bindVIRQ(XenVIRQ.timer, vcpu: 1) == 1)
        #expect(rig.bindVIRQ(XenVIRQ.timer, vcpu: 0) == 2, "per-vCPU: one per vCPU")
        #expect(rig.out(12) == [0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0], "virq, vcpu kept; port written")
        #expect(rig.bindVIRQ(XenVIRQ.timer, vcpu: 1) == XenErrno.EEXIST.result)
        #expect(rig.state(1, 1) == .virq(XenVIRQ.timer))
        #expect(rig.host.events.table(1)?.channel(1)?.notifyVCPU == 1)
        #expect(rig.close(1) == 0)
        #expect(rig.bindVIRQ(XenVIRQ.timer, vcpu: 1) == 1, "rebinding after close")
        #expect(rig.send(1) == EINVAL, "VIRQ ports cannot be sent on")
    }

    @Test func raiseVIRQDeliversToTheBoundVCPU() {
        let r = XenRig()
        let reg = UInt64(0x4_0020)
        #expect(registerVCPUInfo(r, vcpu: 1, gfn: reg, offset: 64, caller: 0) == XenErrno.EINVAL.result,
                "vCPU 1 is up: only it may register its own")
        #expect(registerVCPUInfo(r, vcpu: 1, gfn: reg, offset: 64) == 0)
        // The guest handles the spurious upcall of the registration.
        r.mem.poke(1, reg << 12 + 64, [0])
        r.mem.set64(1, reg << 12 + 64 + 8, 0)
        r.mem.delivered = []
        let t = UInt32(r.bindVIRQ(XenVIRQ.timer, vcpu: 1))
        r.host.raiseVIRQ(domain: 1, vcpu: 1, virq: XenVIRQ.timer, platform: r.mem)
        #expect(r.mem.delivered == [EventDelivery(domain: 1, vcpu: 1, upcall: true)])
        #expect(r.pendingWord(1, 0) == 1 << UInt64(t))
        #expect(r.mem.u64(1, reg << 12 + 64 + 8) & 1 == 1, "vCPU 1's own selector")
        r.host.raiseVIRQ(domain: 1, vcpu: 0, virq: XenVIRQ.timer, platform: r.mem)
        #expect(r.mem.delivered.count == 1, "vCPU 0 has no timer VIRQ bound")
        // A global VIRQ follows bind_vcpu.
        let c = UInt32(r.bindVIRQ(XenVIRQ.console, vcpu: 0))
        var b = [UInt8](repeating: 0, count: 8)
        XenBytes.put32(&b, 0, c)
        XenBytes.put32(&b, 4, 1)
        #expect(r.evtchn(EventChannelOp.bindVCPU, b) == 0)
        r.mem.delivered = []
        r.mem.poke(1, reg << 12 + 64, [0])                  // vCPU 1 handled the timer event
        r.mem.set64(1, reg << 12 + 64 + 8, 0)
        r.host.raiseVIRQ(domain: 1, vcpu: 0, virq: XenVIRQ.console, platform: r.mem)
        #expect(r.mem.delivered == [EventDelivery(domain: 1, vcpu: 1, upcall: true)])
    }

    @Test func ipiGoesToItsVCPU() {
        #expect(rig.bindIPI(vcpu: 2) == XenErrno.ENOENT.result)
        let p = UInt32(rig.bindIPI(vcpu: 0))
        #expect(rig.state(1, p) == .ipi)
        rig.mem.delivered = []
        #expect(rig.send(p) == 0)
        #expect(rig.pendingWord(1, 0) == 1 << UInt64(p))
        #expect(rig.mem.delivered == [EventDelivery(domain: 1, vcpu: 0, upcall: true)])
        #expect(rig.close(p) == 0)
        #expect(rig.send(p) == EINVAL)
    }

    // MARK: status / bind_vcpu

    func status(_ port: UInt32, dom: XenDomainID = XenDomID.selfID, caller: XenDomainID = 1) -> (Int64, [UInt8]) {
        var b = [UInt8](repeating: 0xEE, count: 24)
        XenBytes.put16(&b, 0, dom)
        XenBytes.put32(&b, 4, port)
        let rc = rig.evtchn(EventChannelOp.status, b, dom: caller)
        return (rc, rig.out(24, dom: caller))
    }

    @Test func statusReportsEveryState() {
        let u = UInt32(rig.allocUnbound(dom: 1, remote: 2))
        let p2 = UInt32(rig.allocUnbound(dom: 2, remote: 1))
        let i = UInt32(rig.bindInterdomain(dom: 1, remote: 2, port: p2))
        let v = UInt32(rig.bindVIRQ(XenVIRQ.debug, vcpu: 1))
        let ipi = UInt32(rig.bindIPI(vcpu: 1))

        var (rc, b) = status(0)
        #expect(rc == 0 && XenBytes.u32(b, 8) == EventChannelStatusCode.closed)
        #expect(Array(b[16..<24]) == [UInt8](repeating: 0xEE, count: 8), "union untouched")
        (rc, b) = status(u)
        #expect(XenBytes.u32(b, 8) == EventChannelStatusCode.unbound && XenBytes.u16(b, 16) == 2)
        (rc, b) = status(i)
        #expect(XenBytes.u32(b, 8) == EventChannelStatusCode.interdomain)
        #expect(XenBytes.u16(b, 16) == 2 && XenBytes.u32(b, 20) == p2)
        (rc, b) = status(v)
        #expect(XenBytes.u32(b, 8) == EventChannelStatusCode.virq && XenBytes.u32(b, 16) == XenVIRQ.debug)
        #expect(XenBytes.u32(b, 12) == 1, "vcpu")
        (rc, b) = status(ipi)
        #expect(XenBytes.u32(b, 8) == EventChannelStatusCode.ipi && XenBytes.u32(b, 12) == 1)
        (rc, b) = status(63)
        #expect(rc == 0 && XenBytes.u32(b, 8) == EventChannelStatusCode.closed, "free port")
        #expect(status(64).0 == EINVAL)
        #expect(status(1, dom: 2).0 == XenErrno.EPERM.result)
        #expect(status(1, dom: 9).0 == XenErrno.ESRCH.result)
    }

    @Test func bindVCPURules() {
        func bind(_ port: UInt32, _ vcpu: UInt32) -> Int64 {
            var b = [UInt8](repeating: 0, count: 8)
            XenBytes.put32(&b, 0, port)
            XenBytes.put32(&b, 4, vcpu)
            return rig.evtchn(EventChannelOp.bindVCPU, b)
        }
        let timer = UInt32(rig.bindVIRQ(XenVIRQ.timer, vcpu: 0))
        let console = UInt32(rig.bindVIRQ(XenVIRQ.console, vcpu: 0))
        let ipi = UInt32(rig.bindIPI(vcpu: 0))
        let unbound = UInt32(rig.allocUnbound(dom: 1, remote: 2))
        let p2 = UInt32(rig.allocUnbound(dom: 2, remote: 1))
        let inter = UInt32(rig.bindInterdomain(dom: 1, remote: 2, port: p2))
        #expect(bind(timer, 1) == EINVAL, "per-vCPU VIRQ")
        #expect(bind(ipi, 1) == EINVAL)
        #expect(bind(0, 1) == EINVAL, "reserved")
        #expect(bind(500, 1) == EINVAL)
        #expect(bind(console, 2) == XenErrno.ENOENT.result)
        #expect(bind(console, 1) == 0 && bind(unbound, 1) == 0 && bind(inter, 1) == 0)
        #expect(rig.host.events.table(1)?.channel(inter)?.notifyVCPU == 1)
        // Closing resets the binding to vCPU 0.
        #expect(rig.close(unbound) == 0)
        #expect(rig.host.events.table(1)?.channel(unbound)?.notifyVCPU == 0)
    }

    // MARK: reset and the rest

    @Test func resetClosesEverythingAndPeersBecomeUnbound() {
        let p2 = UInt32(rig.allocUnbound(dom: 2, remote: 1))
        _ = rig.bindInterdomain(dom: 1, remote: 2, port: p2)
        _ = rig.bindVIRQ(XenVIRQ.timer, vcpu: 0)
        _ = rig.bindIPI(vcpu: 1)
        _ = rig.allocUnbound(dom: 1, remote: 2)
        var b = [UInt8](repeating: 0, count: 2)
        XenBytes.put16(&b, 0, 2)
        #expect(rig.evtchn(EventChannelOp.reset, b) == XenErrno.EPERM.result, "another domain")
        XenBytes.put16(&b, 0, 9)
        #expect(rig.evtchn(EventChannelOp.reset, b) == XenErrno.ESRCH.result)
        XenBytes.put16(&b, 0, XenDomID.selfID)
        #expect(rig.evtchn(EventChannelOp.reset, b) == 0)
        #expect(rig.host.events.table(1)?.activeCount == 0)
        for p in UInt32(1)...4 { #expect(rig.state(1, p) == .free) }
        #expect(rig.state(1, 0) == .reserved)
        #expect(rig.state(2, p2) == .unbound(remote: 1))
        #expect(rig.pendingWord(1, 0) == 0, "pending bits cleared")
        #expect(rig.bindVIRQ(XenVIRQ.timer, vcpu: 0) == 1, "VIRQ slots freed")
        #expect(rig.evtchn(EventChannelOp.resetCont, b) == XenErrno.EBUSY.result, "no reset in progress")
    }

    /// EVTCHNOP_reset closes up to max_evtchn_port ports: like Xen's evtchn_reset() it asks
    /// hypercall_preempt_check() every 64 ports and continues as EVTCHNOP_reset_cont.
    @Test func aResetIsPreemptedEvery64PortsAndContinues() {
        let p2 = UInt32(rig.allocUnbound(dom: 2, remote: 1))
        #expect(rig.bindInterdomain(dom: 1, remote: 2, port: p2) == 1)
        for _ in 0..<199 { _ = rig.bindIPI(vcpu: 0) }               // ports 2...200
        rig.mem.preemptWhen = { _ in true }
        var b = [UInt8](repeating: 0, count: 2)
        XenBytes.put16(&b, 0, XenDomID.selfID)
        rig.mem.poke(1, XenRig.scratch, b)
        let arg = XenRig.scratch
        let cont = XenArguments(UInt64(EventChannelOp.resetCont), arg, 0, 0x33, 0x44)
        rig.mem.current = 1
        func call(_ cmd: UInt32) -> XenHypercallResult {
            rig.host.hypercall(XenHypercallNumber.eventChannelOp, XenArguments(0xFFFF_0000_0000_0000 | UInt64(cmd), arg, 0, 0x33, 0x44),
                               caller: XenCaller(domain: 1, vcpu: 0), platform: rig.mem)
        }
        #expect(call(EventChannelOp.reset) == XenHypercallResult.restart(cont))
        #expect(rig.host.events.table(1)?.activeCount == 200 - 64, "ports 1...64 closed")
        #expect(rig.state(2, p2) == .unbound(remote: 1))
        #expect(call(EventChannelOp.reset).result == XenErrno.EBUSY.result, "a reset is in progress")
        #expect(call(EventChannelOp.resetCont) == XenHypercallResult.restart(cont))
        #expect(rig.host.events.table(1)?.activeCount == 200 - 128)
        #expect(call(EventChannelOp.resetCont) == XenHypercallResult.restart(cont))
        #expect(call(EventChannelOp.resetCont) == XenHypercallResult(0), "ports 193...200: done")
        #expect(rig.host.events.table(1)?.activeCount == 0)
        #expect(call(EventChannelOp.resetCont).result == XenErrno.EBUSY.result, "nothing left to continue")
        #expect(rig.mem.preemptChecks == 3)
        // Unpreempted, a reset is one call again.
        _ = rig.bindIPI(vcpu: 0)
        rig.mem.poke(1, XenRig.scratch, b)
        rig.mem.preemptWhen = { _ in false }
        #expect(call(EventChannelOp.reset) == XenHypercallResult(0))
        #expect(rig.host.events.table(1)?.activeCount == 0)
    }

    @Test func fifoAndUnsupportedOps() {
        #expect(rig.evtchn(EventChannelOp.initControl, [UInt8](repeating: 0, count: 24)) == XenErrno.ENOSYS.result)
        #expect(rig.call(XenHypercallNumber.eventChannelOp, UInt64(EventChannelOp.initControl), 8).result == XenErrno.EFAULT.result)
        #expect(rig.evtchn(EventChannelOp.expandArray, [UInt8](repeating: 0, count: 8)) == XenErrno.EOPNOTSUPP.result)
        #expect(rig.evtchn(EventChannelOp.setPriority, [1, 0, 0, 0, 7, 0, 0, 0]) == XenErrno.ENOSYS.result)
        #expect(rig.evtchn(EventChannelOp.setPriority, [0, 2, 0, 0, 7, 0, 0, 0]) == EINVAL)
        #expect(rig.evtchn(EventChannelOp.bindPIRQ, [UInt8](repeating: 0, count: 12)) == EINVAL)
        #expect(rig.evtchn(15, []) == XenErrno.ENOSYS.result)
        #expect(rig.evtchn(0xFFFF_FFFF, []) == XenErrno.ENOSYS.result)
        for cmd in [EventChannelOp.send, EventChannelOp.close, EventChannelOp.unmask, EventChannelOp.status,
                    EventChannelOp.bindVIRQ, EventChannelOp.bindIPI, EventChannelOp.bindVCPU, EventChannelOp.reset,
                    EventChannelOp.bindInterdomain] {
            #expect(rig.call(XenHypercallNumber.eventChannelOp, UInt64(cmd), 0xFFFF_FFFF_FFFF_FFF0).result
                    == XenErrno.EFAULT.result, "cmd \(cmd)")
        }
    }

    @Test func destroyingADomainUnbindsItsPeers() {
        let p2 = UInt32(rig.allocUnbound(dom: 2, remote: 1))
        _ = rig.bindInterdomain(dom: 1, remote: 2, port: p2)
        rig.host.destroyDomain(1, platform: rig.mem)
        #expect(rig.host.events.table(1) == nil)
        #expect(rig.state(2, p2) == .unbound(remote: 1))
        #expect(rig.call(XenHypercallNumber.eventChannelOp, 4, XenRig.scratch, dom: 1).result == XenErrno.ESRCH.result)
    }

    /// Issue 4: the hypervisor's service endpoint (domain 0) gives its console and store
    /// ports back when their domain is destroyed, so rebooting a domain forever keeps working.
    @Test func aThousandDomainLifetimesDoNotExhaustTheServiceEndpoint() throws {
        let host = XenHost(maxDomains: 4)
        let mem = FakeXen(domains: [1])
        var svc = XenDomainConfig(vcpus: 1)
        svc.serviceEndpoint = true
        svc.privileged = true
        #expect(host.createDomain(0, svc))
        var failures = 0
        for _ in 0..<1000 {
            guard host.createDomain(1, XenDomainConfig(vcpus: 1)) else { failures += 1; continue }
            for _ in 0..<2 {                                 // console and store
                do throws(XenErrno) {
                    let g = try host.allocateUnbound(in: 1, remote: 0)
                    let s = try host.events.bindInterdomain(caller: 0, remoteDom: 1, remotePort: g, memory: mem)
                    if s.port == 0 || s.port > 2 { failures += 1 }
                } catch { failures += 1 }
            }
            host.destroyDomain(1, platform: mem)
        }
        #expect(failures == 0)
        #expect(host.events.table(0)?.activeCount == 0)
        // Ports the endpoint allocated for a domain that never bound them go too; others stay.
        #expect(host.createDomain(1, XenDomainConfig(vcpus: 1)))
        #expect(host.createDomain(2, XenDomainConfig(vcpus: 1)))
        let waiting = try host.allocateUnbound(in: 0, remote: 1)
        let other = try host.allocateUnbound(in: 0, remote: 2)
        host.destroyDomain(1, platform: mem)
        #expect(host.events.table(0)?.channel(waiting)?.state == .free)
        #expect(host.events.table(0)?.channel(other)?.state == .unbound(remote: 2))
    }

    @Test func serviceEndpointReceivesEventsWithoutMemory() {
        var c = XenDomainConfig(vcpus: 1)
        c.serviceEndpoint = true
        #expect(rig.host.createDomain(5, c))
        let svc = try! rig.host.allocateUnbound(in: 5, remote: 1)
        let p1 = UInt32(rig.bindInterdomain(dom: 1, remote: 5, port: svc))
        rig.mem.delivered = []
        #expect(rig.send(p1) == 0)
        #expect(rig.mem.delivered == [EventDelivery(domain: 5, vcpu: 0, upcall: false, servicePort: svc)])
        // The hypervisor answers on its end.
        rig.guestAcknowledge(1)
        rig.mem.set64(1, rig.sharedBase(1) + 48, 0)
        rig.host.notify(domain: 1, port: p1, platform: rig.mem)
        #expect(rig.pendingWord(1, 0) == 1 << UInt64(p1))
    }
}

/// VCPUOP_register_vcpu_info through the hypercall.
func registerVCPUInfo(_ r: XenRig, vcpu: UInt32, gfn: UInt64, offset: UInt32, dom: XenDomainID = 1,
                      caller: UInt32? = nil) -> Int64 {
    var b = [UInt8](repeating: 0, count: 16)
    XenBytes.put64(&b, 0, gfn)
    XenBytes.put32(&b, 8, offset)
    r.mem.poke(dom, XenRig.scratch2, b)
    return r.call(XenHypercallNumber.vcpuOp, UInt64(VCPUOp.registerVCPUInfo), UInt64(vcpu), XenRig.scratch2,
                  dom: dom, vcpu: caller ?? vcpu).result
}
