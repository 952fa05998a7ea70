/// All domains' event-channel tables, and the operations that cross domains
/// (xen/common/event_channel.c). `caller` is the domain making the hypercall; what it
/// may do to other domains' channels is the policy's (XenPolicy) to say.
public struct EventChannelStatus: Equatable, Sendable {
    public var status: UInt32
    public var vcpu: UInt32
    /// unbound: the domain allowed to bind; interdomain: the peer.
    public var dom: XenDomainID? = nil
    /// interdomain: the peer's port.
    public var port: UInt32? = nil
    public var virq: UInt32? = nil
}

public struct EventChannelSwitch {
    public private(set) var tables: [EventChannelTable?]
    /// Who may do what (XenHost shares its own): XSM_TARGET for alloc_unbound, status and
    /// reset, the communication rule at bind_interdomain and send (-EPERM when refused).
    public let policy: XenPolicy

    /// Domain ids 0 ..< maxDomains can exist. Without a policy, a default one of its own.
    public init(maxDomains: Int = 64, policy: XenPolicy? = nil) {
        tables = [EventChannelTable?](repeating: nil, count: max(1, min(maxDomains, Int(XenDomID.firstReserved))))
        self.policy = policy ?? XenPolicy(maxDomains: maxDomains)
    }

    func slot(_ id: XenDomainID) -> Int? {
        let i = Int(id)
        return i < tables.count && tables[i] != nil ? i : nil
    }

    public func table(_ id: XenDomainID) -> EventChannelTable? {
        slot(id).flatMap { tables[$0] }
    }

    /// Creates `id`'s table; false if the id is out of range or taken.
    public mutating func addDomain(_ id: XenDomainID, vcpus: Int, maxPort: UInt32 = EventChannelTable.defaultMaxPort,
                                   serviceEndpoint: Bool = false) -> Bool {
        install(EventChannelTable(domain: id, vcpus: vcpus, maxPort: maxPort, serviceEndpoint: serviceEndpoint))
    }

    /// Installs a table built outside the lock (XenHost.prepareDomain); false if the id is
    /// out of range or taken.
    mutating func install(_ table: EventChannelTable) -> Bool {
        let i = Int(table.domain)
        guard i < tables.count, tables[i] == nil else { return false }
        tables[i] = table
        return true
    }

    // MARK: teardown (XenHost.destroyStep), one port per call

    /// `d->is_dying = DOMDYING_dying` for the event-channel side: from now on no port can be
    /// allocated in `id`, none can be bound to it and nothing sent to it is delivered.
    mutating func markDying(_ id: XenDomainID) {
        with(id) { $0.isDying = true }
    }

    /// Is `id` a domain being torn down?
    func isDying(_ id: XenDomainID) -> Bool {
        guard let s = slot(id) else { return false }
        return tables[s]!.isDying
    }

    /// Does port `port` of `id` still need closing (anything but free or reserved)?
    func needsClose(_ id: XenDomainID, port: UInt32) -> Bool {
        guard let s = slot(id) else { return false }
        return tables[s]!.channel(port)?.state.isUsable ?? false
    }

    /// A port of service endpoint `endpoint` still waiting for `id` to bind: in Xen,
    /// xenconsoled and xenstored close their ends when @releaseDomain fires; the endpoint
    /// has nobody to do it, and without this every reboot of a domain would leak its
    /// console and store ports in domain 0 until no domain could get them back.
    func isServicePortWaiting(endpoint: Int, port: UInt32, for id: XenDomainID) -> Bool {
        guard endpoint < tables.count, Int(id) != endpoint, let t = tables[endpoint], t.isServiceEndpoint else {
            return false
        }
        return t.channel(port)?.state == .unbound(remote: id)
    }

    /// `validPorts` of `endpoint` if it is a service endpoint other than `id`, else 0.
    func servicePorts(endpoint: Int, other id: XenDomainID) -> UInt32 {
        guard endpoint < tables.count, Int(id) != endpoint, let t = tables[endpoint], t.isServiceEndpoint else { return 0 }
        return t.validPorts
    }

    func validPorts(_ id: XenDomainID) -> UInt32 {
        guard let s = slot(id) else { return 0 }
        return tables[s]!.validPorts
    }

    /// The end of evtchn_destroy(): every port is closed, the table goes.
    mutating func dropTable(_ id: XenDomainID) {
        guard let s = slot(id) else { return }
        tables[s] = nil
    }

    /// Runs `body` on `id`'s table in place; nil if there is no such domain.
    mutating func with<R, E: Error>(_ id: XenDomainID, _ body: (inout EventChannelTable) throws(E) -> R) throws(E) -> R? {
        // In place: copying the table out and back costs more than the work itself on the
        // event hot path (send, poll).
        guard let s = slot(id) else { return nil }
        return try body(&tables[s]!)
    }

    /// `rcu_lock_domain_by_any_id()`: DOMID_SELF is the caller.
    func resolve(_ dom: XenDomainID, caller: XenDomainID) -> XenDomainID? {
        let d = dom == XenDomID.selfID ? caller : dom
        return slot(d) != nil ? d : nil
    }

    // MARK: guest operations

    /// EVTCHNOP_alloc_unbound: a port in `dom` that `remote` may bind to.
    public mutating func allocUnbound(caller: XenDomainID, dom: XenDomainID,
                                      remote: XenDomainID) throws(XenErrno) -> UInt32 {
        guard let d = resolve(dom, caller: caller) else { throw .ESRCH }
        guard let port = try with(d, { (t) throws(XenErrno) -> UInt32 in try t.allocateFree() }) else { throw .ESRCH }
        // xsm_evtchn_unbound(): XSM SILO (Xen 4.17 as Debian boots it) looks the remote domain
        // up first (-ESRCH if it does not exist), then applies XSM_TARGET (XenPolicy.mayActOn).
        // A dying remote counts as gone: the teardown closes the service endpoints' ports
        // waiting for it once, so none may be created behind it.
        guard let r = resolve(remote, caller: caller), !isDying(r) else {
            with(d) { $0.releaseIfStillFree(port) }
            throw .ESRCH
        }
        guard policy.mayActOn(caller: caller, target: d) else {
            with(d) { $0.releaseIfStillFree(port) }
            throw .EPERM
        }
        with(d) { $0.update(port) { $0.state = .unbound(remote: r) } }
        return port
    }

    /// EVTCHNOP_bind_interdomain: connects a new local port to `remotePort` of `remoteDom`,
    /// which must be unbound and waiting for the caller. The new local port is set pending
    /// (Xen does so in case notifications were lost while unbound).
    public mutating func bindInterdomain<M: GuestPhysicalMemory>(caller: XenDomainID, remoteDom: XenDomainID,
                                                               remotePort: UInt32, memory: M)
        throws(XenErrno) -> (port: UInt32, delivery: EventDelivery?) {
        guard let rd = resolve(remoteDom, caller: caller), slot(caller) != nil else { throw .ESRCH }
        guard let lport = try with(caller, { (t) throws(XenErrno) -> UInt32 in try t.allocateFree() }) else {
            throw .ESRCH
        }
        // A dying remote's ports are closed or about to be (Xen's evtchn_destroy): -EINVAL,
        // as for a port its teardown has already closed.
        guard !isDying(rd), let rch = table(rd)?.channel(remotePort), rch.state == .unbound(remote: caller) else {
            with(caller) { $0.releaseIfStillFree(lport) }
            throw .EINVAL
        }
        guard policy.mayBindInterdomain(caller, rd) else {
            with(caller) { $0.releaseIfStillFree(lport) }
            throw .EPERM
        }
        with(caller) { $0.update(lport) { $0.state = .interdomain(remote: rd, remotePort: remotePort) } }
        with(rd) { $0.update(remotePort) { $0.state = .interdomain(remote: caller, remotePort: lport) } }
        let delivery = with(caller) { t -> EventDelivery? in
            t.setPending(port: lport, vcpu: t.channels[Int(lport)].notifyVCPU, memory: memory)
        } ?? nil
        return (lport, delivery)
    }

    /// EVTCHNOP_bind_virq.
    public mutating func bindVIRQ(caller: XenDomainID, virq: UInt32, vcpu: UInt32) throws(XenErrno) -> UInt32 {
        guard let t = table(caller) else { throw .ESRCH }
        guard virq < XenVIRQ.count else { throw .EINVAL }
        if XenVIRQ.isGlobal(virq) && vcpu != 0 { throw .EINVAL }
        guard t.hasVCPU(vcpu) else { throw .ENOENT }
        if t.virqPort(virq: virq, vcpu: vcpu) != 0 { throw .EEXIST }
        let port = try with(caller, { (t) throws(XenErrno) -> UInt32 in
            let port = try t.allocateFree()
            t.update(port) { $0 = EventChannel(state: .virq(virq), notifyVCPU: vcpu) }
            t.setVIRQPort(virq: virq, vcpu: vcpu, port: port)
            return port
        })
        guard let port else { throw .ESRCH }
        return port
    }

    /// EVTCHNOP_bind_ipi.
    public mutating func bindIPI(caller: XenDomainID, vcpu: UInt32) throws(XenErrno) -> UInt32 {
        guard let t = table(caller) else { throw .ESRCH }
        guard t.hasVCPU(vcpu) else { throw .ENOENT }
        let port = try with(caller, { (t) throws(XenErrno) -> UInt32 in
            let port = try t.allocateFree()
            t.update(port) { $0 = EventChannel(state: .ipi, notifyVCPU: vcpu) }
            return port
        })
        guard let port else { throw .ESRCH }
        return port
    }

    /// EVTCHNOP_close (evtchn_close): the port becomes free with its pending bit cleared;
    /// an interdomain peer goes back to unbound, waiting for this domain again.
    public mutating func closePort<M: GuestPhysicalMemory>(domain: XenDomainID, port: UInt32, memory: M) throws(XenErrno) {
        guard let t = table(domain), let ch = t.channel(port) else { throw .EINVAL }
        switch ch.state {
        case .free, .reserved:
            throw .EINVAL
        case .unbound, .ipi:
            break
        case .virq(let virq):
            let owner = XenVIRQ.isGlobal(virq) ? 0 : ch.notifyVCPU
            with(domain) { $0.setVIRQPort(virq: virq, vcpu: owner, port: 0) }
        case .interdomain(let remote, let remotePort):
            with(remote) { rt in
                if case .interdomain(let back, let backPort)? = rt.channel(remotePort)?.state,
                   back == domain, backPort == port {
                    rt.update(remotePort) { $0.state = .unbound(remote: domain) }
                }
            }
        }
        with(domain) { t in
            t.clearPending(port: port, memory: memory)
            t.free(port)
        }
    }

    /// EVTCHNOP_send: interdomain -> the peer's port becomes pending; IPI -> this port;
    /// unbound -> silently dropped; anything else -EINVAL.
    public mutating func send<M: GuestPhysicalMemory>(caller: XenDomainID, port: UInt32, memory: M)
        throws(XenErrno) -> EventDelivery? {
        // The channel only, not a copy of the caller's whole table (the hot path of every notify).
        guard let s = slot(caller), let ch = tables[s]?.channel(port) else { throw .EINVAL }
        switch ch.state {
        case .interdomain(let remote, let remotePort):
            guard policy.maySend(caller, remote) else { throw .EPERM }
            return with(remote) { rt -> EventDelivery? in
                // A dying peer gets nothing new: dropped, as on an unbound port.
                guard !rt.isDying, let rch = rt.channel(remotePort), rch.state.isUsable else { return nil }
                return rt.setPending(port: remotePort, vcpu: rch.notifyVCPU, memory: memory)
            } ?? nil
        case .ipi:
            return with(caller) { $0.setPending(port: port, vcpu: ch.notifyVCPU, memory: memory) } ?? nil
        case .unbound:
            return nil
        default:
            throw .EINVAL
        }
    }

    /// EVTCHNOP_status.
    public func status(caller: XenDomainID, dom: XenDomainID, port: UInt32)
        throws(XenErrno) -> EventChannelStatus {
        guard let d = resolve(dom, caller: caller), let t = table(d) else { throw .ESRCH }
        guard let ch = t.channel(port) else { throw .EINVAL }
        guard policy.mayActOn(caller: caller, target: d) else { throw .EPERM }
        var s = EventChannelStatus(status: EventChannelStatusCode.closed, vcpu: ch.notifyVCPU)
        switch ch.state {
        case .free, .reserved:
            break
        case .unbound(let remote):
            s.status = EventChannelStatusCode.unbound
            s.dom = remote
        case .interdomain(let remote, let remotePort):
            s.status = EventChannelStatusCode.interdomain
            s.dom = remote
            s.port = remotePort
        case .virq(let virq):
            s.status = EventChannelStatusCode.virq
            s.virq = virq
        case .ipi:
            s.status = EventChannelStatusCode.ipi
        }
        return s
    }

    /// EVTCHNOP_bind_vcpu: only global VIRQs, unbound and interdomain ports move.
    public mutating func bindVCPU(caller: XenDomainID, port: UInt32, vcpu: UInt32) throws(XenErrno) {
        guard let t = table(caller) else { throw .ESRCH }
        guard t.hasVCPU(vcpu) else { throw .ENOENT }
        guard let ch = t.channel(port) else { throw .EINVAL }
        switch ch.state {
        case .virq(let virq):
            guard XenVIRQ.isGlobal(virq) else { throw .EINVAL }
        case .unbound, .interdomain:
            break
        default:
            throw .EINVAL
        }
        with(caller) { $0.update(port) { $0.notifyVCPU = vcpu } }
    }

    /// EVTCHNOP_unmask: any valid port, whatever its state (evtchn_unmask() in Xen 4.17
    /// does not look at it; a free port notifies vCPU 0).
    public func unmask<M: GuestPhysicalMemory>(caller: XenDomainID, port: UInt32, memory: M)
        throws(XenErrno) -> EventDelivery? {
        guard let t = table(caller), t.isValid(port) else { throw .EINVAL }
        return t.unmask(port: port, memory: memory)
    }

    /// EVTCHNOP_reset / EVTCHNOP_reset_cont (`resuming`) for the caller itself: closes every
    /// port but 0 (peers become unbound). Resetting another domain needs it paused by a
    /// controller; here that is -EINVAL (the hypervisor tears a domain down with XenHost.destroyStep).
    /// As Xen's evtchn_reset(), it asks `preempt` after every 64th port (not at the port a
    /// resumed reset starts from, so each call makes progress) and then returns true: the
    /// caller continues with EVTCHNOP_reset_cont. A new reset while one is in progress, or a
    /// reset_cont without one, is -EBUSY.
    public mutating func reset<M: GuestPhysicalMemory>(caller: XenDomainID, dom: XenDomainID,
                                                     resuming: Bool = false, memory: M,
                                                     preempt: () -> Bool = { false }) throws(XenErrno) -> Bool {
        guard let d = resolve(dom, caller: caller) else { throw .ESRCH }
        guard policy.mayActOn(caller: caller, target: d) else { throw .EPERM }
        guard d == caller, let s = slot(d) else { throw .EINVAL }
        let next = tables[s]!.resetNext
        let start: UInt32 = resuming ? next : (next == 0 ? 1 : 0)
        if start == 0 { throw .EBUSY }
        tables[s]!.resetNext = start
        var p = start
        // The table is read in place each round, not bound to a copy: closePort changes it,
        // and a copy per port would make a reset quadratic in the domain's ports.
        while let ports = tables[s]?.validPorts, p < ports, (tables[s]?.activeCount ?? 0) > 0 {
            try? closePort(domain: d, port: p, memory: memory)
            if p & 0x3F == 0 && p != start && preempt() {
                tables[s]!.resetNext = p
                return true
            }
            p += 1
        }
        tables[s]!.resetNext = 0
        return false
    }

    /// SCHEDOP_poll's per-port check (`evtchn_port_poll`): 1 pending, 0 not, -EINVAL bad port.
    public func pollPort<M: GuestPhysicalMemory>(domain: XenDomainID, port: UInt32, memory: M) throws(XenErrno) -> Bool {
        guard let t = table(domain), let ch = t.channel(port), ch.state.isUsable else { throw .EINVAL }
        return t.isPending(port: port, memory: memory)
    }

    public mutating func setPoll(domain: XenDomainID, vcpu: UInt32, _ state: EventPollState) {
        with(domain) { $0.setPoll(vcpu, state) }
    }

    // MARK: hypervisor side

    /// send_guest_vcpu_virq / send_guest_global_virq: raises `virq` (global ones are bound on
    /// vCPU 0 and delivered to the port's notify vCPU).
    public mutating func raiseVIRQ<M: GuestPhysicalMemory>(domain: XenDomainID, vcpu: UInt32, virq: UInt32,
                                                         memory: M) -> EventDelivery? {
        guard let t = table(domain), !t.isDying, virq < XenVIRQ.count else { return nil }
        let global = XenVIRQ.isGlobal(virq)
        let port = t.virqPort(virq: virq, vcpu: global ? 0 : vcpu)
        guard port != 0, let ch = t.channel(port), ch.state.isUsable else { return nil }
        let target = global ? ch.notifyVCPU : vcpu
        return with(domain) { $0.setPending(port: port, vcpu: target, memory: memory) } ?? nil
    }

    /// Makes `port` of `domain` pending as if its peer had sent (for hypervisor-implemented
    /// backends and service endpoints).
    public mutating func raise<M: GuestPhysicalMemory>(domain: XenDomainID, port: UInt32, memory: M) -> EventDelivery? {
        guard let s = slot(domain), !tables[s]!.isDying, let ch = tables[s]!.channel(port), ch.state.isUsable else {
            return nil
        }
        return with(domain) { $0.setPending(port: port, vcpu: ch.notifyVCPU, memory: memory) } ?? nil
    }

    /// Toolstack-style alloc_unbound without permission checks (e.g. xenstore/console ports
    /// of a boot-time domain, like Xen's alloc_xenstore_evtchn).
    public mutating func allocateUnbound(in domain: XenDomainID, remote: XenDomainID) throws(XenErrno) -> UInt32 {
        guard slot(domain) != nil else { throw .ESRCH }
        if isDying(remote) { throw .ESRCH }
        let port = try with(domain, { (t) throws(XenErrno) -> UInt32 in
            let port = try t.allocateFree()
            t.update(port) { $0.state = .unbound(remote: remote) }
            return port
        })
        guard let port else { throw .ESRCH }
        return port
    }

    /// Where the domain's shared_info is (set by XENMAPSPACE_shared_info).
    public mutating func setSharedInfo(domain: XenDomainID, gfn: UInt64?) {
        with(domain) { $0.sharedInfoGFN = gfn }
    }

    public mutating func setVCPUInfo(domain: XenDomainID, vcpu: UInt32, gpa: UInt64) {
        with(domain) { t in
            guard t.hasVCPU(vcpu) else { return }
            t.registeredVCPUInfo[Int(vcpu)] = gpa
        }
    }
}
