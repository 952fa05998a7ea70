/// A domain's introduction in bounded steps, the counterpart of `XenStoreRelease`: the
/// writes that build its home and /vm entry each fire the watches on their path and its
/// ancestors, and a neighbour may hold many such watches (128 on "/" is within Xen's
/// quota), so the ~40 writes of one introduction are not done in one hold of the
/// hypervisor's lock.
///
/// `XenStore.beginIntroduce` connects the domain at once (its ring may be served from then
/// on) and plans the writes; `introduceStep` does them in order, each step stopped once it
/// has done its budget of work units (at least one write per step), and fires
/// @introduceDomain last. Between steps the home is partly built, as it is while a Xen
/// toolstack writes it node by node; the domain does not run before its introduction has
/// finished (the hypervisor starts it afterwards).
public final class XenStoreIntroduction {
    public let domid: UInt16
    enum Write {
        case removeTree([UInt8])
        case mkdir([UInt8])
        case permissions([UInt8], [XenStorePermission])
        case value([UInt8], [UInt8])
        /// cpu/<n>/availability = "online" (its path made when it is written).
        case cpu(Int)
    }
    var writes: [Write] = []
    var next = 0
    /// The writes are planned by the first `introduceStep`, not by `beginIntroduce` (some
    /// 120 paths made: a hold of its own).
    var planned = false
    let name: [UInt8]
    let setup: XenStoreDomainSetup

    init(domid: UInt16, name: [UInt8], setup: XenStoreDomainSetup) {
        self.domid = domid; self.name = name; self.setup = setup
    }

    public var isFinished: Bool { next > writes.count }
}

extension XenStore {
    /// Connects `domid`; its home /local/domain/<domid> (owned by the domain, readable by
    /// 0, as init-dom0less writes it) and /vm/<uuid> are planned and written by
    /// `introduceStep`s. Nil (nothing done) if the domid is 0, reserved or already
    /// introduced.
    public func beginIntroduce(domid: UInt16, name: [UInt8], setup: XenStoreDomainSetup = XenStoreDomainSetup()) -> XenStoreIntroduction? {
        guard domid != XenStore.privilegedDomid, domid < XenStoreWire.domidFirstReserved,
              !connections.contains(domid) else { return nil }
        connections[domid] = XSConnection(domid: domid)
        return XenStoreIntroduction(domid: domid, name: name, setup: setup)
    }

    /// The writes of `intro` (its first step).
    func planIntroduction(_ intro: XenStoreIntroduction) {
        intro.planned = true
        let domid = intro.domid, name = intro.name, setup = intro.setup
        guard let conn = connections[domid] else {
            intro.next = 1                  // released meanwhile: nothing to do
            return
        }
        func add(_ w: XenStoreIntroduction.Write) { intro.writes.append(w) }
        let home = XSPath.home(domid)
        if nodes[home] != nil { add(.removeTree(home)) }
        var uuid = setup.uuid ?? xsBytes("00000000-0000-0000-0000-")
        if setup.uuid == nil { uuid.append(contentsOf: xsHex(UInt64(domid), width: 12)) }
        var vm = xsBytes("/vm/")
        vm.append(contentsOf: uuid)
        var validUUID = !uuid.isEmpty
        for c in uuid where !XSPath.isValidChar(c) || c == XSPath.slash { validUUID = false }
        add(.mkdir(home))
        add(.permissions(home, [XenStorePermission(domid: domid, access: .none),
                                XenStorePermission(domid: 0, access: .read)]))
        func put(_ rel: StaticString, _ value: [UInt8]) { add(.value(XSPath.child(home, xsBytes(rel)), value)) }
        if validUUID {
            if nodes[vm] != nil { add(.removeTree(vm)) }
            add(.value(XSPath.child(vm, xsBytes("name")), name))
            add(.value(XSPath.child(vm, xsBytes("uuid")), uuid))
            conn.vmPath = vm
            put("vm", vm)
        }
        put("name", name)
        put("domid", xsDecimal(domid))
        put("cpu", [])
        var cpu = 0
        while cpu < setup.vcpus && cpu < 512 {
            add(.cpu(cpu))
            cpu += 1
        }
        if let kib = setup.memoryKiB {
            put("memory/static-max", xsDecimal(kib))
            put("memory/target", xsDecimal(kib))
            put("memory/videoram", xsBytes("-1"))
        }
        put("device", [])
        put("device/suspend/event-channel", [])
        put("control", [])
        put("control/shutdown", [])
        put("control/feature-poweroff", xsBytes("1"))
        put("control/feature-reboot", xsBytes("1"))
        put("control/feature-suspend", [])
        put("control/sysrq", [])
        put("control/platform-feature-multiprocessor-suspend", xsBytes("1"))
        put("control/platform-feature-xs_reset_watches", xsBytes("1"))
        put("data", [])
        put("drivers", [])
        put("feature", [])
        put("attr", [])
        put("error", [])
        if let port = setup.storeEventChannel { put("store/port", xsDecimal(port)) }
        if let gfn = setup.storeRingGFN { put("store/ring-ref", xsDecimal(gfn)) }
        work.units &+= 64 &* intro.writes.count
    }

    /// Does the planned writes of `intro` until `budget` work units are used up (at least
    /// one write per step, which may go past the budget by that write's work); true once
    /// they are all done and @introduceDomain has fired.
    @discardableResult
    public func introduceStep(_ intro: XenStoreIntroduction, budget: Int) -> Bool {
        if !intro.planned {
            planIntroduction(intro)
            return false
        }
        let start = work.units
        repeat {
            // The store's backlog first (a request in steps, watch firings, this
            // introduction's own removals and firings).
            if backlogAction() { continue }
            if intro.next >= intro.writes.count {
                if intro.next == intro.writes.count {
                    fire(XenStore.introduceDomainPath, subtree: false, extraPerms: nil)
                    intro.next += 1
                    continue
                }
                return true
            }
            let w = intro.writes[intro.next]
            intro.next += 1
            work.units &+= 1
            // Privileged writes of valid paths cannot fail; keep going regardless.
            let ctx = privilegedContext
            do throws(XenStoreError) {
                switch w {
                case .removeTree(let p): if nodes[p] != nil { try beginRemoval(p, ctx) }
                case .mkdir(let p): try opMkdir(p[...], ctx)
                case .permissions(let p, let perms): try opSetPermissions(p[...], perms, ctx)
                case .value(let p, let v): try opWrite(p[...], v[...], ctx)
                case .cpu(let n):
                    var p = XSPath.child(XSPath.home(intro.domid), xsBytes("cpu"))
                    p = XSPath.child(p, xsDecimal(UInt32(n)))
                    try opWrite(XSPath.child(p, xsBytes("availability"))[...], xsBytes("online")[...], ctx)
                }
            } catch {}
        } while work.units &- start < budget
        return intro.isFinished && !hasBacklog
    }
}
