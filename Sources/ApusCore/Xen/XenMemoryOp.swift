/// memory_op (hypercall 12): XENMEM_add_to_physmap for the pages Xen owns on Arm
/// (xen/common/memory.c, xen/arch/arm/mm.c xenmem_add_to_physmap_one), and the sub-ops of
/// XenForeignMemory.swift. Other sub-ops: -ENOSYS.
extension XenHost {
    @inline(never)   // out of `dispatch`, which then stays small (XenHost.dispatch)
    func memoryOp<P: XenPlatform>(cmd: UInt64, arg: UInt64, caller: XenCaller, platform: P) -> XenHypercallResult {
        let op = UInt32(truncatingIfNeeded: cmd & MemoryOp.commandMask)
        let startExtent = cmd >> MemoryOp.extentShift
        switch op {
        case MemoryOp.populatePhysmap, MemoryOp.decreaseReservation:
            return reservationOp(populate: op == MemoryOp.populatePhysmap, cmd: cmd, arg: arg, startExtent: startExtent,
                                 caller: caller, platform: platform)
        case MemoryOp.addToPhysmapBatch:
            return addToPhysmapBatch(cmd: cmd, arg: arg, startExtent: startExtent, caller: caller, platform: platform)
        case MemoryOp.removeFromPhysmap:
            return XenHypercallResult(removeFromPhysmap(arg: arg, caller: caller, platform: platform))
        case MemoryOp.acquireResource:
            return XenHypercallResult(acquireResource(arg: arg, caller: caller, platform: platform))
        default:
            return XenHypercallResult(memoryOpSimple(op: op, startExtent: startExtent, arg: arg, caller: caller,
                                                     platform: platform))
        }
    }

    func memoryOpSimple<P: XenPlatform>(op: UInt32, startExtent: UInt64, arg: UInt64, caller: XenCaller,
                                        platform: P) -> Int64 {
        switch op {
        case MemoryOp.addToPhysmap:
            if startExtent > 0xFFFF { return XenErrno.EDOM.result }
            do {
                try addToPhysmap(arg: arg, startExtent: startExtent, caller: caller, platform: platform)
                return 0
            } catch { return error.result }
        case MemoryOp.getSharingFreedPages, MemoryOp.getSharingSharedPages:
            return 0                            // arch_memory_op on Arm
        default:
            return XenErrno.ENOSYS.result
        }
    }

    func addToPhysmap<P: XenPlatform>(arg: UInt64, startExtent: UInt64, caller: XenCaller,
                                      platform: P) throws(XenErrno) {
        typealias L = XenLayout.AddToPhysmap
        guard let b = platform.readStruct(arg, size: L.size) else { throw .EFAULT }
        let space = XenBytes.u32(b, L.space)
        // Foreign mapping is only possible via add_to_physmap_batch.
        if space == MapSpace.gmfnForeign { throw .ENOSYS }
        guard let d = resolve(XenBytes.u16(b, L.domid), caller: caller.domain) else { throw .ESRCH }
        // xatp_permission_check()
        if space == MapSpace.devMMIO && !policy.mayMapDeviceMMIO(caller: caller.domain, target: d) { throw .EACCES }
        guard policy.mayActOn(caller: caller.domain, target: d) else { throw .EPERM }

        let idx = XenBytes.u64(b, L.idx)
        let gfn = XenBytes.u64(b, L.gpfn)
        if gfn == XenPage.invalidGFN { throw .EINVAL }

        switch space {
        case MapSpace.sharedInfo:
            guard idx == 0 else { throw .EINVAL }
            // Xen 4.17 refuses to map the page a second time without unmapping it first.
            if events.table(d)?.sharedInfoGFN != nil { throw .EBUSY }
            guard platform.mapXenPage(domain: d, .sharedInfo, gfn: gfn) else { throw .EINVAL }
            forgetXenPage(domain: d, gfn: gfn)
            events.setSharedInfo(domain: d, gfn: gfn)

        case MapSpace.grantTable:
            // gnttab_get_shared_frame_mfn() takes an unsigned int index.
            let index = UInt32(truncatingIfNeeded: idx)
            try grants.prepareFrameMapping(domain: d, index: index, gfn: gfn)
            guard platform.mapXenPage(domain: d, .grantFrame(index), gfn: gfn) else { throw .EINVAL }
            forgetXenPage(domain: d, gfn: gfn)
            grants.setFrameGFN(domain: d, index: index, gfn: gfn)

        case MapSpace.gmfnRange:
            // Each page would go through XENMAPSPACE_gmfn, which Arm does not implement.
            let size = UInt64(XenBytes.u16(b, L.sizeField))
            if size < startExtent { throw .EILSEQ }
            if gfn &+ size < gfn || idx &+ size < idx { throw .EOVERFLOW }
            if size - startExtent > 0 { throw .ENOSYS }

        default:
            // XENMAPSPACE_gmfn, dev_mmio and unknown spaces.
            throw .ENOSYS
        }
    }
}
