/// Domain creation and destruction in steps short enough to run under the board-wide Xen
/// lock, as Xen's domain_create() allocates before publishing the domain and domain_kill()
/// / domain_relinquish_resources() are preemptible, with `d->is_dying` set first.
///
/// Destruction:
///
///     locked { x in x.host.beginDestroy(id) }                 // O(1): the domain is dying
///     while !locked({ x in x.host.destroyStep(id, platform: p, budget: 256) }) {}
///
/// From `beginDestroy` on, the domain makes no hypercall (-ESRCH), nothing new can be made
/// with it (ports allocated in it or bound to it, unbound ports waiting for it, grant maps
/// and copies of its grants all fail as below), events sent to it are dropped, and each
/// `destroyStep` removes a bounded part of what it had. The set of things left can only
/// shrink, so the step cursors below never miss one.
///
/// What a dying domain answers (Xen 4.17 finds a dying domain by id but refuses new state:
/// get_free_port() is -EINVAL on `is_dying`; Apus, which reuses the id at a reboot and holds
/// no page references, treats it as gone wherever Xen's answer depends on how far the
/// teardown got):
///   - its own hypercalls: -ESRCH (it has no vCPU any more);
///   - EVTCHNOP_alloc_unbound in it: -EINVAL (get_free_port); for it as remote: -ESRCH;
///   - EVTCHNOP_bind_interdomain to it: -EINVAL (its port is, or is about to be, closed);
///   - EVTCHNOP_send to it, VIRQs and service notifications for it: dropped (no delivery);
///   - GNTTABOP_map_grant_ref / copy of its grants: GNTST_bad_domain;
///   - any op naming it by id (hvm_op, get_version, remote_shutdown): -ESRCH.
///
/// Creation: `XenHost.prepareDomain` builds the tables (the allocations) touching no
/// shared state, so it runs before the lock; `install` publishes them in O(1).

/// Costs of teardown work, in units of `destroyStep`'s budget. A slot (port, maptrack
/// entry, domain) that holds nothing to remove costs `examine`; one whose content is
/// released (a port closed, a mapping unmapped and unpinned) costs `release`, which
/// includes the platform's p2m change or shared_info atomics (about a microsecond on the
/// board against a few nanoseconds for a look). A step may end early rather than go over
/// its budget, but always does at least one slot, so every step makes progress.
public enum XenTeardownCost {
    public static let examine = 1
    public static let release = 16
}

/// Where a dying domain's teardown stands.
struct XenTeardown {
    enum Phase {
        /// gnttab_release_mappings(): its own maptrack, handle by handle.
        case ownMappings
        /// Other domains' mappings of its grants: mapper by mapper, handle by handle.
        case foreignMappings
        /// evtchn_destroy(): its ports, one by one (peers become unbound).
        case ports
        /// Service endpoints' ports still waiting for it (see EventChannelSwitch).
        case servicePorts
        /// Its tables go and the slot is free.
        case finish
    }

    var phase = Phase.ownMappings
    /// Handle or port within the phase.
    var index = 0
    /// Mapper or service endpoint slot within the phase.
    var other = 0

    mutating func enter(_ p: Phase) {
        phase = p
        index = 0
        other = 0
    }
}

/// A domain's Xen state built outside the lock (`XenHost.prepareDomain`), to be published
/// by `XenHost.install`.
public struct XenPreparedDomain {
    public let id: XenDomainID
    let events: EventChannelTable
    let grants: GrantTable
    let state: XenDomainState
}

extension XenHost {
    // MARK: creation

    /// Builds domain `id`'s event-channel table, grant table and domain state (everything
    /// creation allocates) without touching any shared state: call it without the lock.
    public static func prepareDomain(_ id: XenDomainID, _ config: XenDomainConfig, now: UInt64 = 0)
        -> XenPreparedDomain {
        XenPreparedDomain(
            id: id,
            events: EventChannelTable(domain: id, vcpus: config.vcpus, maxPort: config.maxEventChannelPort,
                                      serviceEndpoint: config.serviceEndpoint),
            grants: GrantTable(domain: id, maxFrames: config.maxGrantFrames, maxMappings: config.maxGrantMappings),
            state: XenDomainState(id: id, config: config, now: now))
    }

    /// Publishes a prepared domain, in O(1) (the tables are moved, not copied: `prepared`
    /// is taken, set to nil, so no second reference makes the first write copy them).
    /// False, leaving `prepared` as it was, if the slot is out of range, taken or still
    /// dying.
    public func install(_ prepared: inout XenPreparedDomain?) -> Bool {
        guard let p = prepared else { return false }
        let i = Int(p.id)
        guard i < domains.count, domains[i] == nil, teardowns[i] == nil,
              events.table(p.id) == nil, grants.table(p.id) == nil else { return false }
        prepared = nil
        guard events.install(p.events), grants.install(p.grants) else { return false }
        domains[i] = p.state
        vcpuCounts[i] = p.state.vcpuCount
        policy.setRole(p.state.config.role, for: p.id)
        hasRunstateArea[i] = false
        return true
    }

    // MARK: destruction

    /// The hot-path copies of slot `i` (XenHost's vcpuCounts, hasRunstateArea) and its
    /// role: a dying or freed slot makes no hypercalls and has no privilege.
    private func clearSlotCaches(_ i: Int) {
        vcpuCounts[i] = 0
        policy.forget(XenDomainID(i))
        hasRunstateArea[i] = false
    }

    /// `d->is_dying = DOMDYING_dying`, in O(1): `id` stops making hypercalls and nothing new
    /// can be made with it (see above). False if there is no such domain or it is already dying.
    @discardableResult
    public func beginDestroy(_ id: XenDomainID) -> Bool {
        let i = Int(id)
        guard i < domains.count, domains[i] != nil, teardowns[i] == nil else { return false }
        teardowns[i] = XenTeardown()
        clearSlotCaches(i)
        events.markDying(id)
        grants.markDying(id)
        return true
    }

    /// Does at most `budget` units (`XenTeardownCost`) of `id`'s teardown (at least one slot,
    /// so each call makes progress) and returns true once everything is gone and the slot is
    /// free (also at once if there is no such domain). Begins the destruction if
    /// `beginDestroy` was not called. The caller may release its lock between steps.
    public func destroyStep<P: XenPlatform>(_ id: XenDomainID, platform: P, budget: Int) -> Bool {
        let i = Int(id)
        lastDestroyStepUnits = 0
        guard i < domains.count, domains[i] != nil else { return true }
        if teardowns[i] == nil { beginDestroy(id) }
        var t = teardowns[i]!
        var spent = 0
        /// May a slot of cost `c` be done in this step?
        func fits(_ c: Int) -> Bool { spent == 0 || (spent <= budget && c <= budget - spent) }

        step: while true {
            switch t.phase {
            case .ownMappings:
                guard t.index < grants.maptrackCount(id) else { t.enter(.foreignMappings); continue }
                let busy = grants.mapping(mapper: i, handle: t.index) != nil
                let c = busy ? XenTeardownCost.release : XenTeardownCost.examine
                guard fits(c) else { break step }
                if busy { grants.releaseOwnMapping(id, handle: t.index, platform: platform) }
                spent += c
                t.index += 1

            case .foreignMappings:
                guard t.other < grants.tables.count else { t.enter(.ports); continue }
                // A mapper holding none of its grants (any more) is passed over whole.
                guard t.other != i, grants.mappingCount(mapper: t.other, granter: id) > 0,
                      t.index < grants.maptrackCount(XenDomainID(t.other)) else {
                    guard fits(XenTeardownCost.examine) else { break step }
                    spent += XenTeardownCost.examine
                    t.other += 1
                    t.index = 0
                    continue
                }
                let busy = grants.mapping(mapper: t.other, handle: t.index, granter: id) != nil
                let c = busy ? XenTeardownCost.release : XenTeardownCost.examine
                guard fits(c) else { break step }
                if busy { releaseForeignGrantMapping(mapper: t.other, handle: t.index, granter: id, platform: platform) }
                spent += c
                t.index += 1

            case .ports:
                guard t.index < Int(events.validPorts(id)) else { t.enter(.servicePorts); continue }
                if t.index == 0 { t.index = 1; continue }          // port 0 stays reserved
                let port = UInt32(t.index)
                let busy = events.needsClose(id, port: port)
                let c = busy ? XenTeardownCost.release : XenTeardownCost.examine
                guard fits(c) else { break step }
                if busy { try? events.closePort(domain: id, port: port, memory: platform) }
                spent += c
                t.index += 1

            case .servicePorts:
                guard t.other < events.tables.count else { t.enter(.finish); continue }
                let ports = Int(events.servicePorts(endpoint: t.other, other: id))
                guard t.index < ports else {
                    guard fits(XenTeardownCost.examine) else { break step }
                    spent += XenTeardownCost.examine
                    t.other += 1
                    t.index = 0
                    continue
                }
                if t.index == 0 { t.index = 1; continue }
                let port = UInt32(t.index)
                let busy = events.isServicePortWaiting(endpoint: t.other, port: port, for: id)
                let c = busy ? XenTeardownCost.release : XenTeardownCost.examine
                guard fits(c) else { break step }
                if busy { try? events.closePort(domain: XenDomainID(t.other), port: port, memory: platform) }
                spent += c
                t.index += 1

            case .finish:
                guard fits(XenTeardownCost.release) else { break step }
                grants.dropTable(id)
                events.dropTable(id)
                domains[i] = nil
                clearSlotCaches(i)
                teardowns[i] = nil
                lastDestroyStepUnits = spent + XenTeardownCost.release
                return true
            }
        }
        teardowns[i] = t
        lastDestroyStepUnits = spent
        return false
    }
}
