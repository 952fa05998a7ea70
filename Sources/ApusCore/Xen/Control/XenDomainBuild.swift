/// The domctl sub-ops with which the toolstack builds a domain (libxl's order, Xen 4.17's
/// answers, xen/common/domctl.c and xen/arch/arm/domctl.c): createdomain, max_vcpus,
/// max_mem, the paging pool size, setdomainhandle, the address size, node affinity,
/// setvcpucontext and cacheflush.
extension XenHost {
    /// Domain ids a toolstack may be given: 1 up to the slot below the service endpoint
    /// (the table's last slot). Xen's ids run to 0x7FEF; Apus's table is sized at boot.
    var toolstackIDLimit: Int { domains.count - 1 }

    /// XEN_DOMCTL_createdomain. On success the new id is at +8 and the Arm fields Xen
    /// fills (gic_version, clock_frequency) are written back with the whole struct.
    func createDomain<P: XenPlatform>(_ op: inout [UInt8], caller: XenCaller, platform: P) -> Int64 {
        typealias L = XenDomctl.CreateDomain
        // sanitise_domain_config() and arch_sanitise_domain_config() on Arm.
        let flags = XenBytes.u32(op, L.flags)
        guard flags == L.flagHVM | L.flagHAP else { return XenErrno.EINVAL.result }
        guard XenBytes.u32(op, L.iommuOpts) == 0, XenBytes.u32(op, L.vmtraceSize) == 0 else {
            return XenErrno.EINVAL.result
        }
        let vcpus = XenBytes.u32(op, L.maxVCPUs)
        guard vcpus >= 1, vcpus <= XenHost.maxVCPUsPerDomain else { return XenErrno.EINVAL.result }
        // Grant version 1 only (Arm's GNTTAB_MAX_VERSION), no other option bits.
        guard XenBytes.u32(op, L.grantOpts) == 1 else { return XenErrno.EINVAL.result }
        let grantFrames = Int32(bitPattern: XenBytes.u32(op, L.maxGrantFrames))
        guard grantFrames == -1 || (grantFrames >= 1 && UInt32(grantFrames) <= GrantTable.defaultMaxFrames) else {
            return XenErrno.EINVAL.result
        }
        let maptrack = Int32(bitPattern: XenBytes.u32(op, L.maxMaptrackFrames))
        guard maptrack >= -1 else { return XenErrno.EINVAL.result }
        let gic = op[L.gicVersion]
        guard gic == L.gicNative || gic == L.gicV3 else { return XenErrno.EOPNOTSUPP.result }
        guard XenBytes.u16(op, L.teeType) == 0 else { return XenErrno.EINVAL.result }
        let spis = XenBytes.u32(op, L.nrSPIs)
        guard spis <= 960 else { return XenErrno.EINVAL.result }
        guard XenBytes.u32(op, L.cpupoolID) == 0 else { return XenErrno.ENOENT.result }

        // The id: the one asked for if in range (-EEXIST when taken), else the next free
        // one after the last given (Xen's rover).
        let asked = Int(XenBytes.u16(op, XenDomctl.domain))
        // The vGIC's SPIs in whole groups of 32, at least one (the vPL011's SPI 32).
        let groups = max(1, (spis + 31) / 32)
        var id: Int
        if asked > 0 && asked < Int(XenDomID.firstReserved) {
            guard asked < toolstackIDLimit else { return XenErrno.EINVAL.result }
            guard domains[asked] == nil, teardowns[asked] == nil else { return XenErrno.EEXIST.result }
            guard platform.createDomain(XenDomainID(asked), vcpus: vcpus, spis: groups * 32) else {
                return XenErrno.ENOMEM.result
            }
            id = asked
        } else {
            // The hypervisor refuses an id whose last domain still has pages mapped by
            // another (it lives on until they are unmapped): the next one is tried.
            var found: Int? = nil
            for candidate in freeDomainIDs() where platform.createDomain(XenDomainID(candidate), vcpus: vcpus, spis: groups * 32) {
                found = candidate
                break
            }
            guard let f = found else { return XenErrno.ENOMEM.result }
            id = f
            lastCreatedID = id                     // only the rover moves it, as in Xen
        }
        var config = XenDomainConfig(vcpus: Int(vcpus))
        config.handle = Array(op[L.handle..<L.handle + 16])
        config.maxEventChannelPort = XenBytes.u32(op, L.maxEvtchnPort)
        if grantFrames > 0 { config.maxGrantFrames = UInt32(grantFrames) }
        config.builtByToolstack = true
        var prepared: XenPreparedDomain? = XenHost.prepareDomain(XenDomainID(id), config, now: platform.now())
        guard install(&prepared) else { return XenErrno.ENOMEM.result }
        // A new domain is paused by the system controller until the toolstack unpauses it.
        _ = withDomain(XenDomainID(id)) { $0.pauseCount = 1 }
        XenBytes.put16(&op, XenDomctl.domain, XenDomainID(id))
        op[L.gicVersion] = L.gicV3
        XenBytes.put32(&op, L.clockFrequency, 0)        // the board's DT gives none: the guest reads CNTFRQ
        return 0
    }

    /// The free ids, in the order Xen's rover gives them: from the one after the last
    /// created, wrapping around.
    private func freeDomainIDs() -> [Int] {
        let n = toolstackIDLimit - 1
        guard n > 0 else { return [] }
        var out: [Int] = []
        for k in 1...n {
            let id = (lastCreatedID + k - 1) % n + 1
            if domains[id] == nil, teardowns[id] == nil { out.append(id) }
        }
        return out
    }

    /// Sub-ops of the build on an existing domain; nil when `cmd` is not one of them.
    func domainBuildOp<P: XenPlatform>(_ cmd: UInt32, on target: XenDomainID, _ op: inout [UInt8],
                                       caller: XenCaller, platform: P) -> Int64? {
        typealias S = XenDomctl.Single
        switch cmd {
        case XenDomctl.maxVCPUs:
            // Every vCPU exists from createdomain on: only that number is accepted.
            guard let d = domain(target) else { return XenErrno.ESRCH.result }
            return XenBytes.u32(op, S.value) == d.vcpuCount ? 0 : XenErrno.EINVAL.result
        case XenDomctl.maxMem:
            // KiB to pages, as Xen (max_pages = max_memkb >> 2).
            let pages = XenBytes.u64(op, S.value) >> 2
            return platform.setMaxMemory(target, pages: pages) ? 0 : XenErrno.ENOMEM.result
        case XenDomctl.setDomainHandle:
            _ = withDomain(target) { $0.config.handle = Array(op[S.value..<S.value + 16]) }
            return 0
        case XenDomctl.setAddressSize:
            // AArch64 guests only (64); Apus runs no AArch32 EL1.
            return XenBytes.u32(op, S.value) == 64 ? 0 : XenErrno.EINVAL.result
        case XenDomctl.getAddressSize:
            XenBytes.put32(&op, S.value, 64)
            return 0
        case XenDomctl.setPagingMempoolSize:
            // Recorded and reported; Apus sizes each p2m's table budget from its RAM.
            let bytes = XenBytes.u64(op, S.value)
            guard bytes & 0xFFF == 0 else { return XenErrno.EINVAL.result }
            _ = withDomain(target) { $0.pagingPoolBytes = bytes }
            return 0
        case XenDomctl.getPagingMempoolSize:
            XenBytes.put64(&op, S.value, domain(target)?.pagingPoolBytes ?? 0)
            return 0
        case XenDomctl.setNodeAffinity:
            return 0                                     // one NUMA node: nothing to choose
        case XenDomctl.getNodeAffinity:
            typealias N = XenDomctl.NodeAffinity
            let ok = writeBitmap(handle: XenBytes.u64(op, N.handle), nrBits: XenBytes.u32(op, N.bits), [1], memory: platform)
            return ok ? 0 : XenErrno.EFAULT.result
        case XenDomctl.setVCPUContext:
            return setVCPUContext(on: target, op, caller: caller, platform: platform)
        case XenDomctl.cacheFlush:
            typealias C = XenDomctl.CacheFlush
            let start = XenBytes.u64(op, C.startPFN), count = XenBytes.u64(op, C.count)
            // Xen: at most 2^MAX_ORDER frames per call, and no wrap.
            guard count <= 1 << 18, start <= (1 << 36) - count else { return XenErrno.EINVAL.result }
            platform.cacheFlush(domain: target, gfn: start, count: count)
            return 0
        default:
            return nil
        }
    }

    /// XEN_DOMCTL_setvcpucontext: never on the caller's own domain; the target must be
    /// paused (Xen pauses it for the call; Apus asks the toolstack to have done so, which
    /// libxl always has: -EBUSY otherwise). A null context handle resets the vCPU (down).
    func setVCPUContext<P: XenPlatform>(on target: XenDomainID, _ op: [UInt8], caller: XenCaller, platform: P) -> Int64 {
        typealias L = XenDomctl.VCPUContext
        guard target != caller.domain else { return XenErrno.EINVAL.result }
        guard let d = domain(target) else { return XenErrno.ESRCH.result }
        let v = XenBytes.u32(op, L.vcpu)
        guard v < d.vcpuCount else { return XenErrno.EINVAL.result }
        guard d.pauseCount > 0 else { return XenErrno.EBUSY.result }
        let handle = XenBytes.u64(op, L.context)
        var context = XenVCPUContext()
        if handle != 0 {
            guard let b = platform.readStruct(handle, size: XenVCPUContext.size) else { return XenErrno.EFAULT.result }
            guard let c = XenVCPUContext(b) else { return XenErrno.EINVAL.result }
            context = c
        }
        return platform.setVCPUContext(domain: target, vcpu: v, context) ? 0 : XenErrno.EINVAL.result
    }

    /// vCPUs a domain the toolstack creates may have (Apus's vGIC and scheduler are sized
    /// for small boards; Xen allows 128 on GICv3).
    public static let maxVCPUsPerDomain: UInt32 = 8
}
