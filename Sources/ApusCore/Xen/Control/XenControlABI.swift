/// The toolstack's hypercalls as Xen 4.17 defines them (xen/include/public/domctl.h and
/// sysctl.h, interface version 0x15), laid out for arm64: the sub-op numbers and the byte
/// offsets inside the 144-byte `struct xen_domctl` and the 136-byte `struct xen_sysctl`
/// that Apus reads and writes. Offsets are absolute (from the start of the envelope).
public enum XenControl {
    public static let interfaceVersion: UInt32 = 0x15

    /// Scheduler ids (domctl.h XEN_SCHEDULER_*). Apus's fair-share policy is reported as
    /// credit2, the default of Debian's Xen 4.17 (weights 1..65535, default 256; caps in %).
    public static let schedulerCredit2: UInt32 = 6

    /// physinfo capability bits (sysctl.h XEN_SYSCTL_PHYSCAP_*): hvm, hap and grant v1, as
    /// Arm Xen 4.17 reports them without an IOMMU. libxl asks for grant version 1 from
    /// the last bit; without it createdomain would get version 0 and fail.
    public static let physcapHVM: UInt32 = 1 << 0
    public static let physcapHAP: UInt32 = 1 << 3
    public static let physcapGnttabV1: UInt32 = 1 << 8

    /// getdomaininfo flags (domctl.h XEN_DOMINF_*).
    public enum DomainFlag {
        public static let dying: UInt32 = 1 << 0
        public static let hvmGuest: UInt32 = 1 << 1
        public static let shutdown: UInt32 = 1 << 2
        public static let paused: UInt32 = 1 << 3
        public static let blocked: UInt32 = 1 << 4
        public static let running: UInt32 = 1 << 5
        public static let hap: UInt32 = 1 << 8
        public static let shutdownShift: UInt32 = 16
    }
}

/// `struct xen_domctl` (hypercall 36).
public enum XenDomctl {
    public static let size = 144
    public static let cmd = 0, interfaceVersion = 4, domain = 8, union = 16

    public static let createDomain: UInt32 = 1
    public static let destroyDomain: UInt32 = 2
    public static let maxMem: UInt32 = 11
    public static let setVCPUContext: UInt32 = 12
    public static let getVCPUContext: UInt32 = 13
    public static let maxVCPUs: UInt32 = 15
    public static let setDomainHandle: UInt32 = 17
    public static let setAddressSize: UInt32 = 35
    public static let getAddressSize: UInt32 = 36
    public static let setNodeAffinity: UInt32 = 68
    public static let getNodeAffinity: UInt32 = 69
    public static let cacheFlush: UInt32 = 71
    public static let getPagingMempoolSize: UInt32 = 85
    public static let setPagingMempoolSize: UInt32 = 86
    public static let setVCPUAffinity: UInt32 = 9
    public static let schedulerOp: UInt32 = 16
    public static let pauseDomain: UInt32 = 3
    public static let unpauseDomain: UInt32 = 4
    public static let getDomainInfo: UInt32 = 5
    public static let getVCPUInfo: UInt32 = 14
    public static let getVCPUAffinity: UInt32 = 25

    /// `struct xen_domctl_getvcpuinfo`.
    public enum VCPUInfo {
        public static let vcpu = 16, online = 20, blocked = 21, running = 22, cpuTime = 24, cpu = 32
    }
    /// `struct xen_domctl_scheduler_op` with credit2's parameters.
    public enum SchedulerOp {
        public static let schedID = 16, cmd = 20, weight = 24, cap = 26
        public static let putInfo: UInt32 = 0, getInfo: UInt32 = 1
    }
    /// `struct xen_domctl_vcpuaffinity`: two xenctl_bitmaps {handle, u32 nr_bits}.
    public enum VCPUAffinity {
        public static let vcpu = 16, flags = 20, hardHandle = 24, hardBits = 32, softHandle = 40, softBits = 48
        public static let hard: UInt32 = 1, soft: UInt32 = 2
    }

    /// `struct xen_domctl_createdomain` with Arm's `xen_arch_domainconfig`.
    public enum CreateDomain {
        public static let ssidref = 16, handle = 20, flags = 36, iommuOpts = 40, maxVCPUs = 44
        public static let maxEvtchnPort = 48, maxGrantFrames = 52, maxMaptrackFrames = 56
        public static let grantOpts = 60, vmtraceSize = 64, cpupoolID = 68
        public static let gicVersion = 72, teeType = 74, nrSPIs = 76, clockFrequency = 80
        /// XEN_DOMCTL_CDF_hvm | XEN_DOMCTL_CDF_hap: what Arm requires.
        public static let flagHVM: UInt32 = 1 << 0, flagHAP: UInt32 = 1 << 1
        /// XEN_DOMCTL_CONFIG_GIC_NATIVE / _V2 / _V3.
        public static let gicNative: UInt8 = 0, gicV2: UInt8 = 1, gicV3: UInt8 = 2
    }
    /// `xen_domctl_max_mem` (u64 KiB), `xen_domctl_max_vcpus` (u32), `xen_domctl_address_size`
    /// (u32), `xen_domctl_paging_mempool` (u64 bytes), `xen_domain_handle_t` (16 bytes): one
    /// field at the start of the union.
    public enum Single { public static let value = 16 }
    /// `xen_domctl_vcpucontext`: u32 vcpu, handle ctxt.
    public enum VCPUContext { public static let vcpu = 16, context = 24 }
    /// `xen_domctl_cacheflush`: start_pfn, nr_pfns.
    public enum CacheFlush { public static let startPFN = 16, count = 24 }
    /// `xen_domctl_nodeaffinity`: one xenctl_bitmap.
    public enum NodeAffinity { public static let handle = 16, bits = 24 }

    /// `struct xen_domctl_getdomaininfo` (120 bytes), at `union` in a domctl and as the
    /// element of sysctl getdomaininfolist's buffer. Offsets within the struct.
    public enum DomainInfo {
        public static let size = 120
        public static let domain = 0, flags = 4, totPages = 8, maxPages = 16, outstandingPages = 24
        public static let shrPages = 32, pagedPages = 40, sharedInfoFrame = 48, cpuTime = 56
        public static let onlineVCPUs = 64, maxVCPUID = 68, ssidref = 72, handle = 76, cpupool = 92
        public static let gpaddrBits = 96
    }
}

/// `struct xen_sysctl` (hypercall 35).
public enum XenSysctl {
    public static let size = 136
    public static let cmd = 0, interfaceVersion = 4

    public static let readConsole: UInt32 = 1
    public static let physinfo: UInt32 = 3
    public static let schedID: UInt32 = 4
    public static let getDomainInfoList: UInt32 = 6
    public static let cpupoolOp: UInt32 = 18
    public static let schedulerOp: UInt32 = 19
    public static let cpuTopoInfo: UInt32 = 16
    public static let numaInfo: UInt32 = 17

    /// `xen_sysctl_cputopoinfo`: u32 num_cpus, handle of {u32 core, socket, node}.
    public enum CPUTopoInfo { public static let count = 8, buffer = 16, elementSize = 12 }
    /// `xen_sysctl_numainfo`: u32 num_nodes, handle meminfo {u64 size, free}, handle distance (u32).
    public enum NUMAInfo { public static let count = 8, memInfo = 16, distance = 24 }

    public enum Physinfo {
        public static let threadsPerCore = 8, coresPerSocket = 12, nrCPUs = 16, maxCPUID = 20
        public static let nrNodes = 24, maxNodeID = 28, cpuKHz = 32, capabilities = 36
        public static let archCapabilities = 40, totalPages = 48, freePages = 56, scrubPages = 64
        public static let outstandingPages = 72, maxMFN = 80, hwCap = 88
    }
    public enum SchedID { public static let schedID = 8 }
    public enum ReadConsole {
        public static let clear = 8, incremental = 9, index = 12, buffer = 16, count = 24
    }
    public enum DomainInfoList {
        public static let firstDomain = 8, maxDomains = 12, buffer = 16, numDomains = 24
    }
    /// `struct xen_sysctl_cpupool_op`; `cpumap` is a xenctl_bitmap {handle, u32 nr_bits}.
    public enum CpupoolOp {
        public static let op = 8, cpupoolID = 12, schedID = 16, domid = 20, cpu = 24, nDom = 28
        public static let cpumapHandle = 32, cpumapBits = 40
        public static let info: UInt32 = 3, freeinfo: UInt32 = 7
    }
    /// `struct xen_sysctl_scheduler_op` with credit2's `xen_sysctl_credit2_schedule` (the
    /// union is 8-aligned: arinc653's member is a 64-bit handle).
    public enum SchedulerOp {
        public static let cpupoolID = 8, schedID = 12, cmd = 16, rateLimit = 24
        public static let putInfo: UInt32 = 0, getInfo: UInt32 = 1
        /// XEN_SYSCTL_SCHED_RATELIMIT_MIN and _MAX, in microseconds (0: no rate limit).
        public static let rateLimitMin: UInt32 = 100, rateLimitMax: UInt32 = 500_000
    }
}
