import Foundation
import Testing
@testable import ApusCore

/// Apus's mirror of Xen 4.17's domctl.h and sysctl.h (XenControlABI.swift) against Debian's
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
        return c
    }

    @Test func domctlAndSysctlLayoutsMatchDebiansLibxenDevHeaders() throws {
        guard FileManager.default.fileExists(atPath: Self.include + "/xen/domctl.h") else {
            Issue.record("no Xen headers in \(Self.include): run `apus fetch-guest` (scripts/test.sh does)")
            return
        }
        var src = "#define __XEN_TOOLS__ 1\n#include <stddef.h>\n#include <stdint.h>\n#include <xen/domctl.h>\n#include <xen/sysctl.h>\n"
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
        #expect(Self.checks.count > 90, "every constant in use is checked")
    }
}
