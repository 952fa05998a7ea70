import Testing
@testable import ApusCore

/// XenPolicy: every question answered for the control domain, the hypervisor's service
/// endpoint, a domU on itself and a domU on another domain (Xen's XSM dummy defaults), and
/// the same answers seen through XenHost's hypercalls.
@Suite struct XenPolicyTests {
    /// Domain 0 the control domain, 1 and 2 domUs, 3 the service endpoint; 4 has no domain.
    static func policy() -> XenPolicy {
        let p = XenPolicy(maxDomains: 8)
        p.setRole(.control, for: 0)
        p.setRole(.domU, for: 1)
        p.setRole(.domU, for: 2)
        p.setRole(.service, for: 3)
        return p
    }

    static let control: XenDomainID = 0, domU: XenDomainID = 1, other: XenDomainID = 2, service: XenDomainID = 3

    // MARK: roles

    @Test func rolesComeFromTheConfigAndOutOfRangeIDsHaveNone() {
        var c = XenDomainConfig(vcpus: 1)
        #expect(c.role == .domU)
        c.serviceEndpoint = true
        #expect(c.role == .domU, "a service endpoint without privilege is an ordinary domain")
        c.privileged = true
        #expect(c.role == .service)
        c.serviceEndpoint = false
        #expect(c.role == .control)

        let p = Self.policy()
        #expect(p.role(of: Self.control) == .control && p.role(of: Self.service) == .service)
        #expect(p.role(of: 4) == .none && p.role(of: 9) == .none && p.role(of: XenDomID.selfID) == .none)
        p.setRole(.control, for: 9)                         // out of range: ignored
        #expect(p.role(of: 9) == .none)
        #expect(p.isControlDomain(Self.control) && p.isControlDomain(Self.service))
        #expect(!p.isControlDomain(Self.domU) && !p.isControlDomain(4))
        #expect(p.isHardwareDomain(Self.control) && !p.isHardwareDomain(Self.domU))
    }

    @Test func globalVIRQsGoToTheControlDomainNeverTheServiceEndpoint() {
        let p = Self.policy()
        #expect(p.globalVIRQDomain == Self.control)
        p.forget(Self.control)
        #expect(p.globalVIRQDomain == nil, "the service endpoint runs no guest")
        #expect(p.role(of: Self.control) == .none && !p.mayControl(caller: Self.control, target: nil))
    }

    // MARK: Xen's default actions

    @Test func defaultActionsAreXensDummyPolicy() {
        let p = Self.policy()
        // (action, control on domU, service on domU, domU on itself, domU on another)
        let table: [(XenPolicyAction, Bool, Bool, Bool, Bool)] = [
            (.hook, true, true, true, true),
            (.target, true, true, true, false),
            (.xsPriv, true, true, false, false),
            (.dmPriv, true, true, false, false),
            (.priv, true, true, false, false),
        ]
        for (action, c, s, own, another) in table {
            #expect(p.allows(action, caller: Self.control, target: Self.domU) == c, "\(action)")
            #expect(p.allows(action, caller: Self.service, target: Self.domU) == s, "\(action)")
            #expect(p.allows(action, caller: Self.domU, target: Self.domU) == own, "\(action)")
            #expect(p.allows(action, caller: Self.domU, target: Self.other) == another, "\(action)")
        }
        #expect(!p.allows(.target, caller: 4, target: Self.domU), "no domain acts on another")
        #expect(p.allows(.target, caller: 4, target: 4))
    }

    /// is_priv_for(): a device model passes XSM_TARGET, XSM_XS_PRIV and XSM_DM_PRIV on its
    /// target, never XSM_PRIV, and loses the target when either domain goes.
    @Test func aDeviceModelActsOnItsTargetOnly() {
        let p = Self.policy()
        p.setTarget(Self.other, of: Self.domU)
        #expect(p.target(of: Self.domU) == Self.other)
        #expect(p.mayActOn(caller: Self.domU, target: Self.other))
        #expect(p.allows(.xsPriv, caller: Self.domU, target: Self.other))
        #expect(p.mayRemoteShutdown(caller: Self.domU, target: Self.other))
        #expect(p.mayMapForeign(caller: Self.domU, owner: Self.other))
        #expect(!p.mayControl(caller: Self.domU, target: Self.other))
        #expect(!p.mayActOn(caller: Self.domU, target: Self.control))
        #expect(!p.mayActOn(caller: Self.other, target: Self.domU), "the relation has a direction")
        p.forget(Self.other)
        #expect(p.target(of: Self.domU) == nil && !p.mayActOn(caller: Self.domU, target: Self.other))
        p.setTarget(Self.other, of: Self.domU)
        p.forget(Self.domU)
        #expect(p.target(of: Self.domU) == nil)
    }

    // MARK: the questions

    /// Each question for the control domain and the service endpoint on a domU, a domU on
    /// itself and a domU on another domain.
    @Test func eachQuestionForEachRole() {
        let p = Self.policy()
        typealias Q = (XenDomainID, XenDomainID) -> Bool
        let questions: [(String, Q, Bool, Bool, Bool, Bool)] = [
            ("mayActOn", { p.mayActOn(caller: $0, target: $1) }, true, true, true, false),
            ("mayControl", { p.mayControl(caller: $0, target: $1) }, true, true, false, false),
            ("mayRemoteShutdown", { p.mayRemoteShutdown(caller: $0, target: $1) }, true, true, false, false),
            ("mayMapForeign", { p.mayMapForeign(caller: $0, owner: $1) }, true, true, false, false),
            ("mayPinOverride", { a, _ in p.mayPinOverride(caller: a) }, true, true, false, false),
            ("mayUseConsoleIO", { a, _ in p.mayUseConsoleIO(caller: a) }, true, true, false, false),
            ("isXenStorePrivileged", { a, _ in p.isXenStorePrivileged(a) }, true, true, false, false),
            ("mayBindInterdomain", { p.mayBindInterdomain($0, $1) }, true, true, true, true),
            ("maySend", { p.maySend($0, $1) }, true, true, true, true),
            ("mayGrant", { p.mayGrant(user: $0, granter: $1) }, true, true, true, true),
        ]
        for (name, ask, c, s, own, another) in questions {
            #expect(ask(Self.control, Self.domU) == c, "\(name): control domain")
            #expect(ask(Self.service, Self.domU) == s, "\(name): service endpoint")
            #expect(ask(Self.domU, Self.domU) == own, "\(name): domU on itself")
            #expect(ask(Self.domU, Self.other) == another, "\(name): domU on another")
        }
        #expect(p.mayControl(caller: Self.control, target: nil) && !p.mayControl(caller: Self.domU, target: nil), "sysctl")
        // dev_mmio: the hardware domain into itself only.
        #expect(p.mayMapDeviceMMIO(caller: Self.control, target: Self.control))
        #expect(p.mayMapDeviceMMIO(caller: Self.service, target: Self.service))
        #expect(!p.mayMapDeviceMMIO(caller: Self.control, target: Self.domU))
        #expect(!p.mayMapDeviceMMIO(caller: Self.domU, target: Self.domU))
        #expect(!p.mayMapDeviceMMIO(caller: Self.domU, target: Self.other))
        #expect(p.maxExtentOrder(caller: Self.control) == 18 && p.maxExtentOrder(caller: Self.service) == 18)
        #expect(p.maxExtentOrder(caller: Self.domU) == 9)
        #expect(!p.isXenStorePrivileged(40_000))
    }

    @Test func xenVersionHidesOnlyCommandlineAndBuildIDFromDomUs() {
        let p = Self.policy()
        for cmd in XenVersionOp.version...XenVersionOp.guestHandle {
            #expect(p.mayXenVersion(caller: Self.domU, cmd: cmd), "cmd \(cmd)")
        }
        for cmd in [XenVersionOp.commandline, XenVersionOp.buildID, 99] {
            #expect(!p.mayXenVersion(caller: Self.domU, cmd: cmd), "cmd \(cmd)")
            #expect(p.mayXenVersion(caller: Self.control, cmd: cmd) && p.mayXenVersion(caller: Self.service, cmd: cmd))
        }
    }

    /// The communication rule (XenHost.setPolicy) is asked only between two different domains.
    @Test func theCommunicationRuleIsNeverAskedForADomainAndItself() {
        let p = Self.policy()
        var asked: [(XenDomainID, XenDomainID)] = []
        p.communication = { a, b in asked.append((a, b)); return !(a == 1 && b == 2) }
        #expect(p.mayBindInterdomain(1, 1) && p.maySend(2, 2) && p.mayGrant(user: 1, granter: 1))
        #expect(asked.isEmpty)
        #expect(!p.mayBindInterdomain(1, 2) && !p.maySend(1, 2) && !p.mayGrant(user: 1, granter: 2))
        #expect(p.mayBindInterdomain(2, 1) && p.mayGrant(user: 2, granter: 1))
        #expect(asked.count == 5)
    }

    // MARK: through XenHost

    /// The host gives each domain its config's role at install and takes it at beginDestroy;
    /// its event-channel and grant switches ask the same policy.
    @Test func theHostKeepsOnePolicyForItsDomains() {
        let r = XenRig(privileged1: true)
        var svc = XenDomainConfig(vcpus: 1)
        svc.serviceEndpoint = true
        svc.privileged = true
        r.host.createDomain(5, svc)
        #expect(r.host.policy.role(of: 1) == .control && r.host.policy.role(of: 2) == .domU)
        #expect(r.host.policy.role(of: 5) == .service && r.host.policy.role(of: 3) == .none)
        #expect(r.host.events.policy === r.host.policy && r.host.grants.policy === r.host.policy)
        r.host.setPolicy { _, _ in false }
        #expect(!r.host.policy.mayGrant(user: 2, granter: 1) && !r.host.events.policy.maySend(2, 1))
        r.host.beginDestroy(1)
        #expect(r.host.policy.role(of: 1) == .none && r.host.policy.globalVIRQDomain == nil)
        r.host.destroyDomain(2, platform: r.mem)
        #expect(r.host.policy.role(of: 2) == .none)
    }

    /// A domU's domctl, sysctl and foreign mapping are -EPERM; the control domain's pass.
    @Test func aDomUsControlOperationsAreRefusedTheControlDomainsPass() {
        let r = XenDomainBuildTests.rig()               // 1: control domain, 2: domU
        let info = XenControlTests.envelope(XenDomctl.size, cmd: XenDomctl.getDomainInfo) {
            XenBytes.put16(&$0, XenDomctl.domain, 1)
        }
        #expect(XenControlTests.domctl(r, info, dom: 2).0 == XenErrno.EPERM.result)
        #expect(XenControlTests.domctl(r, info, dom: 1).0 == 0)
        let physinfo = XenControlTests.envelope(XenSysctl.size, cmd: XenSysctl.physinfo)
        #expect(XenControlTests.sysctl(r, physinfo, dom: 2).0 == XenErrno.EPERM.result)
        #expect(XenControlTests.sysctl(r, physinfo, dom: 1).0 == 0)
        let cmd = UInt64(MemoryOp.addToPhysmapBatch)
        let byDomU = XenForeignMemoryTests.batch(r, idxs: [0x4_0000], gfns: [0x5_0000], owner: 1, dom: 2)
        #expect(XenForeignMemoryTests.memoryOp(r, cmd, byDomU, dom: 2).result == XenErrno.EPERM.result)
        #expect(r.mem.mapForeignCalls.isEmpty)
        let byControl = XenForeignMemoryTests.batch(r, idxs: [0x4_0000], gfns: [0x5_0000], owner: 2)
        #expect(XenForeignMemoryTests.memoryOp(r, cmd, byControl).result == 0)
        #expect(r.mem.mapForeignCalls.count == 1 && r.host.foreignMappings(of: 2) == 1)
    }

    /// console_io: the policy lets the control domain only; XenHost passes the call on to
    /// the platform, whose console answers for the calling domain (ControlConsole).
    @Test func consoleIOIsTheControlDomainsAndReachesThePlatform() {
        let r = XenRig(privileged1: true)
        #expect(r.host.policy.mayUseConsoleIO(caller: 1) && !r.host.policy.mayUseConsoleIO(caller: 2))
        #expect(r.call(XenHypercallNumber.consoleIO, 0, 5, XenRig.scratch, dom: 1).result == 0)
        #expect(r.mem.consoleCalls.count == 1)
    }

    /// A XenStore's own policy: its domain 0 (the hypervisor) is its privileged connection.
    @Test func theStoresPrivilegedConnectionIsItsDomainZero() {
        let s = XenStore()
        #expect(s.policy.isXenStorePrivileged(XenStore.privilegedDomid))
        #expect(!s.policy.isXenStorePrivileged(1) && !s.policy.isXenStorePrivileged(0x7FEF))
    }
}
