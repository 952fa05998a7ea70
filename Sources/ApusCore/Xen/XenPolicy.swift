/// Who may do what: the one place the Xen core decides privilege, in the manner of Xen's XSM
/// dummy policy (xen/include/xsm/dummy.h). Each domain has a role, given when it is created
/// (`XenDomainConfig.role`) and taken away when its teardown begins; the handlers ask the
/// named questions below and never look at a role or a flag themselves.
///
/// The questions map to Xen's default actions (`xsm_default_action`):
///
/// | action | allowed when |
/// |---|---|
/// | XSM_HOOK | always |
/// | XSM_TARGET | the caller acts on itself, on its target, or is the control domain |
/// | XSM_XS_PRIV | as XSM_DM_PRIV (Apus has no xenstore domain) |
/// | XSM_DM_PRIV | the target is the caller's target (device model), or the caller is the control domain |
/// | XSM_PRIV | the caller is the control domain |
///
/// One instance is shared by a `XenHost` and its event-channel and grant switches, so a
/// role given at `install` is seen by every check at once. A `XenStore` has its own: its
/// connection ids are the store's (domain 0 there is the store's own privileged connection).
/// A FLASK-like policy (labels and an access-vector table) would replace the bodies of these
/// questions; the handlers would not change.
public final class XenPolicy {
    /// Each domain's role by id (`.none`: no domain, or one being torn down).
    private var roles: [XenDomainRole]
    /// Each domain's target (`d->target`, XEN_DOMCTL_set_target): the domain a device model
    /// or stub domain serves, on which XSM_TARGET and XSM_DM_PRIV actions pass.
    private var targets: [XenDomainID?]
    /// Targets set (forgetting a domain clears the targets naming it only when there are any).
    private var targetCount = 0
    /// The rule for event channels and grants between two different domains (Xen's
    /// xsm_evtchn_interdomain, xsm_evtchn_send, xsm_grant_mapref and xsm_grant_copy: XSM_HOOK,
    /// any two domains, in the default policy). `XenHost.setPolicy` replaces it.
    public var communication: (XenDomainID, XenDomainID) -> Bool = { _, _ in true }

    /// Domain ids 0 ..< maxDomains can have a role; every other id is `.none`.
    public init(maxDomains: Int = 64) {
        let n = max(1, min(maxDomains, Int(XenDomID.firstReserved)))
        roles = [XenDomainRole](repeating: .none, count: n)
        targets = [XenDomainID?](repeating: nil, count: n)
    }

    // MARK: roles

    public func role(of id: XenDomainID) -> XenDomainRole {
        Int(id) < roles.count ? roles[Int(id)] : .none
    }

    public func setRole(_ role: XenDomainRole, for id: XenDomainID) {
        guard Int(id) < roles.count else { return }
        roles[Int(id)] = role
    }

    /// XEN_DOMCTL_set_target: `id` becomes a device model of `target` (nil: of none).
    public func setTarget(_ target: XenDomainID?, of id: XenDomainID) {
        guard Int(id) < targets.count else { return }
        if targets[Int(id)] != nil { targetCount -= 1 }
        if target != nil { targetCount += 1 }
        targets[Int(id)] = target
    }

    public func target(of id: XenDomainID) -> XenDomainID? {
        Int(id) < targets.count ? targets[Int(id)] : nil
    }

    /// `id`'s teardown began (or it is gone): no role, no target, and no device model keeps
    /// it as its target (a new domain with that id is not theirs).
    public func forget(_ id: XenDomainID) {
        setRole(.none, for: id)
        setTarget(nil, of: id)
        guard targetCount > 0 else { return }
        for i in 0..<targets.count where targets[i] == id { setTarget(nil, of: XenDomainID(i)) }
    }

    /// `is_control_domain()`: the control domain, and the hypervisor's service endpoint,
    /// which stands in for dom0's xenstored and xenconsoled.
    public func isControlDomain(_ id: XenDomainID) -> Bool {
        let r = role(of: id)
        return r == .control || r == .service
    }

    /// `is_hardware_domain()`: Apus's control domain is also its hardware domain.
    public func isHardwareDomain(_ id: XenDomainID) -> Bool { isControlDomain(id) }

    /// Where `send_global_virq()` sends (VIRQ_DOM_EXC...): the control domain that runs a
    /// guest, the first if there were several; nil without one.
    public var globalVIRQDomain: XenDomainID? {
        for i in 0..<roles.count where roles[i] == .control { return XenDomainID(i) }
        return nil
    }

    // MARK: Xen's default actions

    /// `xsm_default_action(action, caller, target)`.
    public func allows(_ action: XenPolicyAction, caller: XenDomainID, target: XenDomainID?) -> Bool {
        switch action {
        case .hook:
            return true
        case .target:
            if caller == target { return true }
        case .xsPriv, .dmPriv, .priv:
            break
        }
        if action != .priv, let t = target, self.target(of: caller) == t { return true }
        return isControlDomain(caller)
    }

    // MARK: the questions the handlers ask

    /// XSM_TARGET: act on `target`'s own state: event channels (alloc_unbound for it,
    /// status, reset), its grant table (setup_table, query_size, get_version), HVM params,
    /// add_to_physmap and remove_from_physmap, populate_physmap and decrease_reservation,
    /// acquire_resource of its grant table (Xen: XSM_DM_PRIV, which refuses a domain its own
    /// frames; Apus lets a domain map its own).
    public func mayActOn(caller: XenDomainID, target: XenDomainID) -> Bool {
        allows(.target, caller: caller, target: target)
    }

    /// domctl (`target`: its `domain` field) and sysctl (`target` nil): XSM_PRIV. (Xen
    /// lets a device model do the four pass-through domctls, and a xenstore domain
    /// getdomaininfo; Apus offers neither.)
    public func mayControl(caller: XenDomainID, target: XenDomainID?) -> Bool {
        allows(.priv, caller: caller, target: target)
    }

    /// SCHEDOP_remote_shutdown: XSM_DM_PRIV (`xsm_schedop_shutdown`).
    public func mayRemoteShutdown(caller: XenDomainID, target: XenDomainID) -> Bool {
        allows(.dmPriv, caller: caller, target: target)
    }

    /// XENMEM_add_to_physmap_batch of `owner`'s frames (gmfn_foreign): XSM_DM_PRIV. (Xen:
    /// XSM_TARGET, but a domain's own frames are no foreign mapping: -EINVAL after this.)
    public func mayMapForeign(caller: XenDomainID, owner: XenDomainID) -> Bool {
        allows(.dmPriv, caller: caller, target: owner)
    }

    /// XENMAPSPACE_dev_mmio (`xatp_permission_check`): the hardware domain, into itself only
    /// (-EACCES otherwise).
    public func mayMapDeviceMMIO(caller: XenDomainID, target: XenDomainID) -> Bool {
        isHardwareDomain(caller) && target == caller
    }

    /// SCHEDOP_pin_override: the hardware domain.
    public func mayPinOverride(caller: XenDomainID) -> Bool { isHardwareDomain(caller) }

    /// `max_order()` of populate_physmap and decrease_reservation extents: 18 (1 GiB) for the
    /// control domain, 9 (2 MiB) for others.
    public func maxExtentOrder(caller: XenDomainID) -> UInt32 { isControlDomain(caller) ? 18 : 9 }

    /// `xsm_xen_version`: version, platform_parameters and get_features ignore the policy;
    /// extraversion, compile_info, capabilities, changeset, pagesize and guest_handle are
    /// XSM_HOOK; the rest (commandline, build_id) XSM_PRIV.
    public func mayXenVersion(caller: XenDomainID, cmd: UInt32) -> Bool {
        switch cmd {
        case XenVersionOp.version, XenVersionOp.platformParameters, XenVersionOp.getFeatures:
            return true
        case XenVersionOp.extraversion, XenVersionOp.compileInfo, XenVersionOp.capabilities,
             XenVersionOp.changeset, XenVersionOp.pagesize, XenVersionOp.guestHandle:
            return allows(.hook, caller: caller, target: nil)
        default:
            return allows(.priv, caller: caller, target: nil)
        }
    }

    /// console_io: XSM_PRIV (Xen 4.17 also lets `d->is_console` domains, its dom0less domUs;
    /// Apus does not). The hypervisor's console_io answers it for the domain itself today
    /// (ControlConsole: `Domain.spec.control`, the same domain); XenHost passes the call on.
    public func mayUseConsoleIO(caller: XenDomainID) -> Bool {
        allows(.priv, caller: caller, target: nil)
    }

    /// EVTCHNOP_bind_interdomain between `a` and `b` (`xsm_evtchn_interdomain`, XSM_HOOK):
    /// the communication rule; a domain and itself always.
    public func mayBindInterdomain(_ a: XenDomainID, _ b: XenDomainID) -> Bool {
        a == b || communication(a, b)
    }

    /// EVTCHNOP_send from `a` to its peer `b` (`xsm_evtchn_send`, XSM_HOOK): the same rule.
    public func maySend(_ a: XenDomainID, _ b: XenDomainID) -> Bool { mayBindInterdomain(a, b) }

    /// Grant map and copy by `user` of `granter`'s grants (`xsm_grant_mapref`,
    /// `xsm_grant_copy`: XSM_HOOK): the communication rule; a domain and itself always.
    public func mayGrant(user: XenDomainID, granter: XenDomainID) -> Bool {
        user == granter || communication(user, granter)
    }

    /// XenStore's privileged connection (xenstored's `!domain_is_unprivileged`): every
    /// request, any node, no quota. The control domain and the service endpoint.
    public func isXenStorePrivileged(_ domid: UInt16) -> Bool { isControlDomain(domid) }
}

/// A domain's role in the policy.
public enum XenDomainRole: UInt8, Sendable {
    /// No domain, or one being torn down: passes only XSM_HOOK.
    case none
    /// An ordinary guest: acts on itself only.
    case domU
    /// The control domain, which is also the hardware domain (dom0).
    case control
    /// The hypervisor's own service endpoint (the xenconsoled and xenstored of boot-time
    /// domains): privileged as the control domain, but it runs no guest, so global VIRQs do
    /// not go to it.
    case service
}

/// Xen's `xsm_default_t` (XSM_OTHER is a question of its own here).
public enum XenPolicyAction: Sendable {
    case hook, target, xsPriv, dmPriv, priv
}
