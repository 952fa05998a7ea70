/// vcpu_op (hypercall 24) as on Arm: only VCPUOP_register_vcpu_info and
/// VCPUOP_register_runstate_memory_area; everything else -EINVAL (xen/arch/arm/domain.c
/// do_vcpu_op, xen/common/domain.c map_vcpu_info / common_vcpu_op).
extension XenHost {
    @inline(never)   // out of `dispatch`, which then stays small (XenHost.dispatch)
    func vcpuOp<P: XenPlatform>(cmd: UInt32, vcpu: UInt32, arg: UInt64, caller: XenCaller, platform: P) -> Int64 {
        guard let d = domain(caller.domain), d.hasVCPU(vcpu) else { return XenErrno.ENOENT.result }
        switch cmd {
        case VCPUOp.registerVCPUInfo:
            typealias L = XenLayout.VCPURegisterVCPUInfo
            guard let b = platform.readStruct(arg, size: L.size) else { return XenErrno.EFAULT.result }
            do {
                try registerVCPUInfo(vcpu: vcpu, gfn: XenBytes.u64(b, L.mfn), offset: XenBytes.u32(b, L.offset),
                                     caller: caller, platform: platform)
                return 0
            } catch { return error.result }

        case VCPUOp.registerRunstateMemoryArea:
            guard let b = platform.readStruct(arg, size: XenLayout.VCPURegisterRunstateArea.size) else {
                return XenErrno.EFAULT.result
            }
            let area = XenBytes.u64(b, 0)
            withDomain(caller.domain) { $0.runstateArea[Int(vcpu)] = area == 0 ? nil : area }
            if area != 0 { hasRunstateArea[Int(caller.domain)] = true }
            if area != 0 {
                // Written at once (plain copy, faults ignored): the caller's own state as is,
                // another vCPU's with the time in its current state added.
                let rs = vcpu == caller.vcpu ? d.runstate[Int(vcpu)] : d.runstate[Int(vcpu)].snapshot(at: platform.now())
                _ = platform.write(area, rs.encoded())
            }
            return 0

        default:
            return XenErrno.EINVAL.result
        }
    }

    /// map_vcpu_info(): moves `vcpu`'s vcpu_info to (gfn, offset), copying its current content
    /// (or zeroing it), then sets every pending_sel bit and marks events pending so nothing
    /// is lost (the guest sees one spurious upcall).
    func registerVCPUInfo<P: XenPlatform>(vcpu: UInt32, gfn: UInt64, offset: UInt32, caller: XenCaller,
                                          platform: P) throws(XenErrno) {
        typealias V = XenLayout.VCPUInfo
        let dom = caller.domain
        guard let table = events.table(dom) else { throw .ESRCH }
        if offset > UInt32(XenPage.size) - UInt32(V.size) { throw .ENXIO }
        if UInt64(offset) & (V.alignment - 1) != 0 { throw .ENXIO }
        if table.registeredVCPUInfo[Int(vcpu)] != nil { throw .EINVAL }
        // Run this command on yourself or on other offline VCPUs.
        if vcpu != caller.vcpu && !platform.isVCPUDown(domain: dom, vcpu: vcpu) { throw .EINVAL }
        guard gfn >> (64 - XenPage.shift) == 0, platform.isRAM(domain: dom, gfn: gfn) else { throw .EINVAL }

        let gpa = (gfn << XenPage.shift) | UInt64(offset)
        var image = [UInt8](repeating: 0, count: V.size)
        if let old = table.vcpuInfoAddress(vcpu) {
            var b: [UInt8] = []
            if platform.read(domain: dom, old, into: &b, count: V.size), b.count == V.size { image = b }
        }
        guard platform.write(domain: dom, gpa, image) else { throw .EINVAL }
        events.setVCPUInfo(domain: dom, vcpu: vcpu, gpa: gpa)
        _ = platform.store64(domain: dom, gpa &+ UInt64(V.pendingSel), ~0)
        if events.table(dom)?.markEventsPending(vcpu: vcpu, memory: platform) == true {
            platform.deliver(EventDelivery(domain: dom, vcpu: vcpu, upcall: true))
        }
    }
}
