import Foundation
import Testing
@testable import ApusCore

/// Apus's mirror of Xen 4.17's domctl.h and sysctl.h (XenControlABI.swift), and of the parts of
/// memory.h and arch-arm.h a domain build uses (XenForeignMemory.swift, XenVCPUContext.swift), against Debian's
/// own `libxen-dev` headers: a C file of `_Static_assert`s, one per offset, size and number
/// Apus uses, generated from the Swift constants and compiled for arm64 with clang (the
/// headers are unpacked by `apus fetch-guest` into .cache/guest/xen-include). A constant that
/// disagrees with Debian's headers fails the compile, and the test shows which.
@Suite struct XenHeaderLayoutTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let include = root.appendingPathComponent(".cache/guest/xen-include").path

    /// `(C expression, Apus's value)`.
    static var checks: [(String, Int)] {
        typealias D = XenDomctl
        typealias I = XenDomctl.DomainInfo
        typealias S = XenSysctl
        func dom(_ f: String) -> String { "offsetof(struct xen_domctl, \(f))" }
        func sys(_ f: String) -> String { "offsetof(struct xen_sysctl, \(f))" }
        var c: [(String, Int)] = []
        c += [("sizeof(struct xen_domctl)", D.size), ("sizeof(struct xen_sysctl)", S.size)]
        c += [("XEN_DOMCTL_INTERFACE_VERSION", Int(XenControl.interfaceVersion))]
        c += [("XEN_SYSCTL_INTERFACE_VERSION", Int(XenControl.interfaceVersion))]
        c += [(dom("cmd"), D.cmd), (dom("interface_version"), D.interfaceVersion), (dom("domain"), D.domain)]
        c += [(dom("u"), D.union), (sys("cmd"), S.cmd), (sys("interface_version"), S.interfaceVersion)]
        c += [("XEN_DOMCTL_destroydomain", Int(D.destroyDomain)), ("XEN_DOMCTL_pausedomain", Int(D.pauseDomain))]
        c += [("XEN_DOMCTL_unpausedomain", Int(D.unpauseDomain)), ("XEN_DOMCTL_getdomaininfo", Int(D.getDomainInfo))]
        c += [("XEN_DOMCTL_setvcpuaffinity", Int(D.setVCPUAffinity)), ("XEN_DOMCTL_getvcpuaffinity", Int(D.getVCPUAffinity))]
        c += [("XEN_DOMCTL_getvcpuinfo", Int(D.getVCPUInfo)), ("XEN_DOMCTL_scheduler_op", Int(D.schedulerOp))]
        c += [("XEN_SYSCTL_readconsole", Int(S.readConsole)), ("XEN_SYSCTL_physinfo", Int(S.physinfo))]
        c += [("XEN_SYSCTL_sched_id", Int(S.schedID)), ("XEN_SYSCTL_getdomaininfolist", Int(S.getDomainInfoList))]
        c += [("XEN_SYSCTL_cpupool_op", Int(S.cpupoolOp))]
        c += [("XEN_SYSCTL_CPUPOOL_OP_INFO", Int(S.CpupoolOp.info)), ("XEN_SYSCTL_CPUPOOL_OP_FREEINFO", Int(S.CpupoolOp.freeinfo))]
        c += [("XEN_SCHEDULER_CREDIT2", Int(XenControl.schedulerCredit2))]
        c += [("XEN_SYSCTL_PHYSCAP_hvm", Int(XenControl.physcapHVM)), ("XEN_SYSCTL_PHYSCAP_hap", Int(XenControl.physcapHAP))]
        c += [("XEN_SYSCTL_PHYSCAP_gnttab_v1", Int(XenControl.physcapGnttabV1))]
        c += [("XEN_DOMINF_dying", Int(XenControl.DomainFlag.dying)), ("XEN_DOMINF_hvm_guest", Int(XenControl.DomainFlag.hvmGuest))]
        c += [("XEN_DOMINF_shutdown", Int(XenControl.DomainFlag.shutdown)), ("XEN_DOMINF_paused", Int(XenControl.DomainFlag.paused))]
        c += [("XEN_DOMINF_blocked", Int(XenControl.DomainFlag.blocked)), ("XEN_DOMINF_running", Int(XenControl.DomainFlag.running))]
        c += [("XEN_DOMINF_hap", Int(XenControl.DomainFlag.hap)), ("XEN_DOMINF_shutdownshift", Int(XenControl.DomainFlag.shutdownShift))]
        c += [("XEN_DOMCTL_SCHEDOP_putinfo", Int(D.SchedulerOp.putInfo)), ("XEN_DOMCTL_SCHEDOP_getinfo", Int(D.SchedulerOp.getInfo))]
        c += [("XEN_VCPUAFFINITY_HARD", Int(D.VCPUAffinity.hard)), ("XEN_VCPUAFFINITY_SOFT", Int(D.VCPUAffinity.soft))]
        c += [("sizeof(struct xen_domctl_getdomaininfo)", I.size)]
        let info: [(String, Int)] = [("domain", I.domain), ("flags", I.flags), ("tot_pages", I.totPages),
            ("max_pages", I.maxPages), ("outstanding_pages", I.outstandingPages), ("shr_pages", I.shrPages),
            ("paged_pages", I.pagedPages), ("shared_info_frame", I.sharedInfoFrame), ("cpu_time", I.cpuTime),
            ("nr_online_vcpus", I.onlineVCPUs), ("max_vcpu_id", I.maxVCPUID), ("ssidref", I.ssidref),
            ("handle", I.handle), ("cpupool", I.cpupool), ("gpaddr_bits", I.gpaddrBits)]
        for (f, v) in info {
            c.append(("offsetof(struct xen_domctl_getdomaininfo, \(f))", v))
            c.append((dom("u.getdomaininfo.\(f)"), D.union + v))
        }
        typealias V = D.VCPUInfo
        typealias A = D.VCPUAffinity
        typealias Q = D.SchedulerOp
        c += [(dom("u.getvcpuinfo.vcpu"), V.vcpu), (dom("u.getvcpuinfo.online"), V.online),
              (dom("u.getvcpuinfo.blocked"), V.blocked), (dom("u.getvcpuinfo.running"), V.running),
              (dom("u.getvcpuinfo.cpu_time"), V.cpuTime), (dom("u.getvcpuinfo.cpu"), V.cpu),
              (dom("u.vcpuaffinity.vcpu"), A.vcpu), (dom("u.vcpuaffinity.flags"), A.flags),
              (dom("u.vcpuaffinity.cpumap_hard.bitmap"), A.hardHandle), (dom("u.vcpuaffinity.cpumap_hard.nr_bits"), A.hardBits),
              (dom("u.vcpuaffinity.cpumap_soft.bitmap"), A.softHandle), (dom("u.vcpuaffinity.cpumap_soft.nr_bits"), A.softBits),
              (dom("u.scheduler_op.sched_id"), Q.schedID), (dom("u.scheduler_op.cmd"), Q.cmd),
              (dom("u.scheduler_op.u.credit2.weight"), Q.weight), (dom("u.scheduler_op.u.credit2.cap"), Q.cap)]
        typealias P = S.Physinfo
        typealias R = S.ReadConsole
        typealias L = S.DomainInfoList
        typealias C = S.CpupoolOp
        c += [(sys("u.physinfo.threads_per_core"), P.threadsPerCore), (sys("u.physinfo.cores_per_socket"), P.coresPerSocket),
              (sys("u.physinfo.nr_cpus"), P.nrCPUs), (sys("u.physinfo.max_cpu_id"), P.maxCPUID),
              (sys("u.physinfo.nr_nodes"), P.nrNodes), (sys("u.physinfo.max_node_id"), P.maxNodeID),
              (sys("u.physinfo.cpu_khz"), P.cpuKHz), (sys("u.physinfo.capabilities"), P.capabilities),
              (sys("u.physinfo.arch_capabilities"), P.archCapabilities), (sys("u.physinfo.total_pages"), P.totalPages),
              (sys("u.physinfo.free_pages"), P.freePages), (sys("u.physinfo.scrub_pages"), P.scrubPages),
              (sys("u.physinfo.outstanding_pages"), P.outstandingPages), (sys("u.physinfo.max_mfn"), P.maxMFN),
              (sys("u.physinfo.hw_cap"), P.hwCap), (sys("u.sched_id.sched_id"), S.SchedID.schedID),
              (sys("u.readconsole.clear"), R.clear), (sys("u.readconsole.incremental"), R.incremental),
              (sys("u.readconsole.index"), R.index), (sys("u.readconsole.buffer"), R.buffer), (sys("u.readconsole.count"), R.count),
              (sys("u.getdomaininfolist.first_domain"), L.firstDomain), (sys("u.getdomaininfolist.max_domains"), L.maxDomains),
              (sys("u.getdomaininfolist.buffer"), L.buffer), (sys("u.getdomaininfolist.num_domains"), L.numDomains),
              (sys("u.cpupool_op.op"), C.op), (sys("u.cpupool_op.cpupool_id"), C.cpupoolID),
              (sys("u.cpupool_op.sched_id"), C.schedID), (sys("u.cpupool_op.domid"), C.domid),
              (sys("u.cpupool_op.cpu"), C.cpu), (sys("u.cpupool_op.n_dom"), C.nDom),
              (sys("u.cpupool_op.cpumap.bitmap"), C.cpumapHandle), (sys("u.cpupool_op.cpumap.nr_bits"), C.cpumapBits)]

        // Building a domain (XenDomainBuild.swift): the sub-ops, createdomain with Arm's
        // arch config, the one-field sub-ops, setvcpucontext, cacheflush and node affinity.
        c += [("XEN_DOMCTL_createdomain", Int(D.createDomain)), ("XEN_DOMCTL_max_mem", Int(D.maxMem))]
        c += [("XEN_DOMCTL_setvcpucontext", Int(D.setVCPUContext)), ("XEN_DOMCTL_getvcpucontext", Int(D.getVCPUContext))]
        c += [("XEN_DOMCTL_max_vcpus", Int(D.maxVCPUs)), ("XEN_DOMCTL_setdomainhandle", Int(D.setDomainHandle))]
        c += [("XEN_DOMCTL_set_address_size", Int(D.setAddressSize)), ("XEN_DOMCTL_get_address_size", Int(D.getAddressSize))]
        c += [("XEN_DOMCTL_setnodeaffinity", Int(D.setNodeAffinity)), ("XEN_DOMCTL_getnodeaffinity", Int(D.getNodeAffinity))]
        c += [("XEN_DOMCTL_cacheflush", Int(D.cacheFlush))]
        c += [("XEN_DOMCTL_get_paging_mempool_size", Int(D.getPagingMempoolSize))]
        c += [("XEN_DOMCTL_set_paging_mempool_size", Int(D.setPagingMempoolSize))]
        typealias CD = D.CreateDomain
        c += [(dom("u.createdomain.ssidref"), CD.ssidref), (dom("u.createdomain.handle"), CD.handle),
              (dom("u.createdomain.flags"), CD.flags), (dom("u.createdomain.iommu_opts"), CD.iommuOpts),
              (dom("u.createdomain.max_vcpus"), CD.maxVCPUs), (dom("u.createdomain.max_evtchn_port"), CD.maxEvtchnPort),
              (dom("u.createdomain.max_grant_frames"), CD.maxGrantFrames),
              (dom("u.createdomain.max_maptrack_frames"), CD.maxMaptrackFrames),
              (dom("u.createdomain.grant_opts"), CD.grantOpts), (dom("u.createdomain.vmtrace_size"), CD.vmtraceSize),
              (dom("u.createdomain.cpupool_id"), CD.cpupoolID), (dom("u.createdomain.arch.gic_version"), CD.gicVersion),
              (dom("u.createdomain.arch.tee_type"), CD.teeType), (dom("u.createdomain.arch.nr_spis"), CD.nrSPIs),
              (dom("u.createdomain.arch.clock_frequency"), CD.clockFrequency)]
        c += [("XEN_DOMCTL_CDF_hvm", Int(CD.flagHVM)), ("XEN_DOMCTL_CDF_hap", Int(CD.flagHAP))]
        c += [("XEN_DOMCTL_CONFIG_GIC_NATIVE", Int(CD.gicNative)), ("XEN_DOMCTL_CONFIG_GIC_V2", Int(CD.gicV2))]
        c += [("XEN_DOMCTL_CONFIG_GIC_V3", Int(CD.gicV3))]
        c += [(dom("u.max_mem.max_memkb"), D.Single.value), (dom("u.max_vcpus.max"), D.Single.value),
              (dom("u.address_size.size"), D.Single.value), (dom("u.paging_mempool.size"), D.Single.value),
              (dom("u.setdomainhandle.handle"), D.Single.value),
              (dom("u.vcpucontext.vcpu"), D.VCPUContext.vcpu), (dom("u.vcpucontext.ctxt"), D.VCPUContext.context),
              (dom("u.cacheflush.start_pfn"), D.CacheFlush.startPFN), (dom("u.cacheflush.nr_pfns"), D.CacheFlush.count),
              (dom("u.nodeaffinity.nodemap.bitmap"), D.NodeAffinity.handle),
              (dom("u.nodeaffinity.nodemap.nr_bits"), D.NodeAffinity.bits)]
        c += [("XEN_SYSCTL_cputopoinfo", Int(S.cpuTopoInfo)), ("XEN_SYSCTL_numainfo", Int(S.numaInfo))]
        c += [(sys("u.cputopoinfo.num_cpus"), S.CPUTopoInfo.count), (sys("u.cputopoinfo.cputopo"), S.CPUTopoInfo.buffer),
              ("sizeof(xen_sysctl_cputopo_t)", S.CPUTopoInfo.elementSize),
              (sys("u.numainfo.num_nodes"), S.NUMAInfo.count), (sys("u.numainfo.meminfo"), S.NUMAInfo.memInfo),
              (sys("u.numainfo.distance"), S.NUMAInfo.distance), ("sizeof(xen_sysctl_meminfo_t)", 16)]
        typealias SO = S.SchedulerOp
        c += [("XEN_SYSCTL_scheduler_op", Int(S.schedulerOp)),
              ("XEN_SYSCTL_SCHEDOP_putinfo", Int(SO.putInfo)), ("XEN_SYSCTL_SCHEDOP_getinfo", Int(SO.getInfo)),
              ("XEN_SYSCTL_SCHED_RATELIMIT_MIN", Int(SO.rateLimitMin)), ("XEN_SYSCTL_SCHED_RATELIMIT_MAX", Int(SO.rateLimitMax)),
              (sys("u.scheduler_op.cpupool_id"), SO.cpupoolID), (sys("u.scheduler_op.sched_id"), SO.schedID),
              (sys("u.scheduler_op.cmd"), SO.cmd), (sys("u.scheduler_op.u.sched_credit2.ratelimit_us"), SO.rateLimit)]

        // arm64's vcpu_guest_context (arch-arm.h), as XenVCPUContext parses it.
        typealias O = XenVCPUContext.Offset
        func ctx(_ f: String) -> String { "offsetof(struct vcpu_guest_context, \(f))" }
        c += [("sizeof(struct vcpu_guest_context)", XenVCPUContext.size), ("VGCF_online", Int(XenVCPUContext.flagOnline))]
        c += [(ctx("flags"), O.flags), (ctx("user_regs.x0"), O.regs), (ctx("user_regs.x30"), O.regs + 8 * 30),
              (ctx("user_regs.pc64"), O.pc), (ctx("user_regs.cpsr"), O.cpsr), (ctx("user_regs.spsr_el1"), O.spsrEL1),
              (ctx("user_regs.sp_el0"), O.spEL0), (ctx("user_regs.sp_el1"), O.spEL1), (ctx("user_regs.elr_el1"), O.elrEL1),
              (ctx("sctlr"), O.sctlr), (ctx("ttbcr"), O.ttbcr), (ctx("ttbr0"), O.ttbr0), (ctx("ttbr1"), O.ttbr1)]
        c += [("GUEST_GNTTAB_BASE", Int(GuestLayout.grantTableBase)), ("VIRQ_DOM_EXC", Int(XenVIRQ.domExc))]

        // memory.h's structs of a domain build (XenForeignMemory.swift).
        typealias M = XenMemoryLayout
        func mem(_ s: String, _ f: String) -> String { "offsetof(struct \(s), \(f))" }
        c += [("XENMEM_populate_physmap", Int(MemoryOp.populatePhysmap)),
              ("XENMEM_decrease_reservation", Int(MemoryOp.decreaseReservation)),
              ("XENMEM_add_to_physmap_batch", Int(MemoryOp.addToPhysmapBatch)),
              ("XENMEM_remove_from_physmap", Int(MemoryOp.removeFromPhysmap)),
              ("XENMEM_acquire_resource", Int(MemoryOp.acquireResource)),
              ("XENMAPSPACE_gmfn_foreign", Int(MapSpace.gmfnForeign)), ("XENMAPSPACE_gmfn_range", Int(MapSpace.gmfnRange))]
        c += [("sizeof(struct xen_memory_reservation)", M.Reservation.size),
              (mem("xen_memory_reservation", "extent_start"), M.Reservation.extentStart),
              (mem("xen_memory_reservation", "nr_extents"), M.Reservation.nrExtents),
              (mem("xen_memory_reservation", "extent_order"), M.Reservation.extentOrder),
              (mem("xen_memory_reservation", "mem_flags"), M.Reservation.memFlags),
              (mem("xen_memory_reservation", "domid"), M.Reservation.domid)]
        c += [("sizeof(struct xen_add_to_physmap_batch)", M.AddToPhysmapBatch.size),
              (mem("xen_add_to_physmap_batch", "domid"), M.AddToPhysmapBatch.domid),
              (mem("xen_add_to_physmap_batch", "space"), M.AddToPhysmapBatch.space),
              (mem("xen_add_to_physmap_batch", "size"), M.AddToPhysmapBatch.count),
              (mem("xen_add_to_physmap_batch", "u.foreign_domid"), M.AddToPhysmapBatch.foreignDomid),
              (mem("xen_add_to_physmap_batch", "idxs"), M.AddToPhysmapBatch.idxs),
              (mem("xen_add_to_physmap_batch", "gpfns"), M.AddToPhysmapBatch.gpfns),
              (mem("xen_add_to_physmap_batch", "errs"), M.AddToPhysmapBatch.errs)]
        c += [("sizeof(struct xen_remove_from_physmap)", M.RemoveFromPhysmap.size),
              (mem("xen_remove_from_physmap", "domid"), M.RemoveFromPhysmap.domid),
              (mem("xen_remove_from_physmap", "gpfn"), M.RemoveFromPhysmap.gpfn)]
        c += [("sizeof(struct xen_mem_acquire_resource)", M.AcquireResource.size),
              (mem("xen_mem_acquire_resource", "domid"), M.AcquireResource.domid),
              (mem("xen_mem_acquire_resource", "type"), M.AcquireResource.type),
              (mem("xen_mem_acquire_resource", "id"), M.AcquireResource.id),
              (mem("xen_mem_acquire_resource", "nr_frames"), M.AcquireResource.nrFrames),
              (mem("xen_mem_acquire_resource", "pad"), M.AcquireResource.pad),
              (mem("xen_mem_acquire_resource", "frame"), M.AcquireResource.frame),
              (mem("xen_mem_acquire_resource", "frame_list"), M.AcquireResource.frameList),
              ("XENMEM_resource_grant_table", Int(M.AcquireResource.grantTable)),
              ("XENMEM_resource_grant_table_id_shared", Int(M.AcquireResource.grantShared))]
        return c
    }

    @Test func domctlAndSysctlLayoutsMatchDebiansLibxenDevHeaders() throws {
        guard FileManager.default.fileExists(atPath: Self.include + "/xen/domctl.h") else {
            Issue.record("no Xen headers in \(Self.include): run `apus fetch-guest` (scripts/test.sh does)")
            return
        }
        var src = "#define __XEN_TOOLS__ 1\n#include <stddef.h>\n#include <stdint.h>\n#include <xen/domctl.h>\n#include <xen/sysctl.h>\n#include <xen/memory.h>\n"
        for (i, (expr, value)) in Self.checks.enumerated() {
            src += "_Static_assert((\(expr)) == \(value), \"check \(i): \(expr) is not \(value)\");\n"
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("apus-xenhdr-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("layout.c")
        try src.write(to: file, atomically: true, encoding: .utf8)
        let clang = Process()
        clang.executableURL = URL(fileURLWithPath: "/opt/swift/usr/bin/clang")
        clang.arguments = ["--target=aarch64-linux-gnu", "-ffreestanding", "-fsyntax-only", "-I", Self.include, file.path]
        let err = Pipe()
        clang.standardError = err
        try clang.run()
        let out = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        clang.waitUntilExit()
        #expect(clang.terminationStatus == 0, "\(out.split(separator: "\n").filter { $0.contains("error") }.prefix(10).joined(separator: "\n"))")
        #expect(Self.checks.count > 200, "every constant in use is checked")
    }
}
