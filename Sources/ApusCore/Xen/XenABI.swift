/// Numbers of Xen's public guest ABI for 64-bit Arm, as Xen 4.17 defines them
/// (xen/include/public/{xen,event_channel,grant_table,memory,vcpu,sched,version,features}.h,
/// hvm/{params,hvm_op}.h, errno.h). Struct layouts are in `XenLayout`.

/// A Xen domain id (`domid_t`).
public typealias XenDomainID = UInt16

public enum XenDomID {
    public static let firstReserved: XenDomainID = 0x7FF0
    public static let selfID: XenDomainID = 0x7FF0    // DOMID_SELF
    public static let io: XenDomainID = 0x7FF1
    public static let xen: XenDomainID = 0x7FF2
    public static let cow: XenDomainID = 0x7FF3
    public static let invalid: XenDomainID = 0x7FF4
    public static let idle: XenDomainID = 0x7FFF
}

/// `__HYPERVISOR_*`: the hypercall number a guest puts in x16 before `hvc #0xEA1`.
public enum XenHypercallNumber {
    public static let hvcImmediate: UInt16 = 0xEA1
    public static let schedOpCompat: UInt64 = 6      // deprecated on Arm
    public static let platformOp: UInt64 = 7
    public static let memoryOp: UInt64 = 12
    public static let multicall: UInt64 = 13
    public static let eventChannelOpCompat: UInt64 = 16  // deprecated on Arm
    public static let xenVersion: UInt64 = 17
    public static let consoleIO: UInt64 = 18
    public static let physdevOpCompat: UInt64 = 19   // deprecated on Arm
    public static let grantTableOp: UInt64 = 20
    public static let vmAssist: UInt64 = 21
    public static let vcpuOp: UInt64 = 24
    public static let xsmOp: UInt64 = 27
    public static let schedOp: UInt64 = 29
    public static let eventChannelOp: UInt64 = 32
    public static let physdevOp: UInt64 = 33
    public static let hvmOp: UInt64 = 34
    public static let sysctl: UInt64 = 35
    public static let domctl: UInt64 = 36
    public static let argoOp: UInt64 = 39
    public static let dmOp: UInt64 = 41
    public static let hypfsOp: UInt64 = 42
    /// Xen's hypercall table has 64 slots; anything above is -ENOSYS.
    public static let count: UInt64 = 64
}

/// A Xen errno (public/errno.h). Hypercalls return it negated.
public struct XenErrno: Error, Equatable, Sendable {
    public let code: Int32
    public init(_ code: Int32) { self.code = code }
    /// The value a hypercall returns in x0: `-code`.
    public var result: Int64 { -Int64(code) }

    public static let EPERM = XenErrno(1)
    public static let ENOENT = XenErrno(2)
    public static let ESRCH = XenErrno(3)
    public static let EIO = XenErrno(5)
    public static let ENXIO = XenErrno(6)
    public static let E2BIG = XenErrno(7)
    public static let EAGAIN = XenErrno(11)
    public static let ENOMEM = XenErrno(12)
    public static let EACCES = XenErrno(13)
    public static let EFAULT = XenErrno(14)
    public static let EBUSY = XenErrno(16)
    public static let EEXIST = XenErrno(17)
    public static let EINVAL = XenErrno(22)
    public static let ENOSPC = XenErrno(28)
    public static let EDOM = XenErrno(33)
    public static let ENOSYS = XenErrno(38)
    public static let ENODATA = XenErrno(61)
    public static let ETIME = XenErrno(62)
    public static let EOVERFLOW = XenErrno(75)
    public static let EILSEQ = XenErrno(84)
    public static let EOPNOTSUPP = XenErrno(95)
    public static let ENOBUFS = XenErrno(105)
}

/// `EVTCHNOP_*` (event_channel.h).
public enum EventChannelOp {
    public static let bindInterdomain: UInt32 = 0
    public static let bindVIRQ: UInt32 = 1
    public static let bindPIRQ: UInt32 = 2
    public static let close: UInt32 = 3
    public static let send: UInt32 = 4
    public static let status: UInt32 = 5
    public static let allocUnbound: UInt32 = 6
    public static let bindIPI: UInt32 = 7
    public static let bindVCPU: UInt32 = 8
    public static let unmask: UInt32 = 9
    public static let reset: UInt32 = 10
    public static let initControl: UInt32 = 11
    public static let expandArray: UInt32 = 12
    public static let setPriority: UInt32 = 13
    public static let resetCont: UInt32 = 14
}

/// `EVTCHNSTAT_*`.
public enum EventChannelStatusCode {
    public static let closed: UInt32 = 0
    public static let unbound: UInt32 = 1
    public static let interdomain: UInt32 = 2
    public static let pirq: UInt32 = 3
    public static let virq: UInt32 = 4
    public static let ipi: UInt32 = 5
}

/// `VIRQ_*` (xen.h). V = per-vCPU, G = global (bound on vCPU 0 only).
public enum XenVIRQ {
    public static let timer: UInt32 = 0       // V
    public static let debug: UInt32 = 1       // V
    public static let console: UInt32 = 2     // G
    public static let domExc: UInt32 = 3      // G
    public static let tbuf: UInt32 = 4        // G
    public static let debugger: UInt32 = 6    // G
    public static let xenoprof: UInt32 = 7    // V
    public static let conRing: UInt32 = 8     // G
    public static let pcpuState: UInt32 = 9   // G
    public static let memEvent: UInt32 = 10   // G
    public static let argo: UInt32 = 11       // G
    public static let enomem: UInt32 = 12     // G
    public static let xenpmu: UInt32 = 13     // V
    public static let arch0: UInt32 = 16      // ARCH_0...7: global on Arm
    public static let count: UInt32 = 24      // NR_VIRQS

    /// `virq_is_global()`: everything but TIMER, DEBUG, XENOPROF and XENPMU.
    public static func isGlobal(_ virq: UInt32) -> Bool {
        !(virq == timer || virq == debug || virq == xenoprof || virq == xenpmu)
    }
}

/// `GNTTABOP_*` (grant_table.h).
public enum GrantTableOp {
    public static let mapGrantRef: UInt32 = 0
    public static let unmapGrantRef: UInt32 = 1
    public static let setupTable: UInt32 = 2
    public static let dumpTable: UInt32 = 3
    public static let transfer: UInt32 = 4
    public static let copy: UInt32 = 5
    public static let querySize: UInt32 = 6
    public static let unmapAndReplace: UInt32 = 7
    public static let setVersion: UInt32 = 8
    public static let getStatusFrames: UInt32 = 9
    public static let getVersion: UInt32 = 10
    public static let swapGrantRef: UInt32 = 11
    public static let cacheFlush: UInt32 = 12
    /// The command is the low 12 bits; the rest is continuation state (cache_flush only).
    public static let commandMask: UInt32 = 0xFFF
}

/// `GNTST_*`: per-operation status codes written into grant-table op structs.
public enum GrantStatus {
    public static let okay: Int16 = 0
    public static let generalError: Int16 = -1
    public static let badDomain: Int16 = -2
    public static let badGntref: Int16 = -3
    public static let badHandle: Int16 = -4
    public static let badVirtAddr: Int16 = -5
    public static let badDevAddr: Int16 = -6
    public static let noDeviceSpace: Int16 = -7
    public static let permissionDenied: Int16 = -8
    public static let badPage: Int16 = -9
    public static let badCopyArg: Int16 = -10
    public static let addressTooBig: Int16 = -11
    public static let eagain: Int16 = -12
    public static let noSpace: Int16 = -13
}

/// `GTF_*`: grant entry flags (v1 entry `flags`).
public enum GrantFlags {
    public static let invalid: UInt16 = 0
    public static let permitAccess: UInt16 = 1
    public static let acceptTransfer: UInt16 = 2
    public static let transitive: UInt16 = 3
    public static let typeMask: UInt16 = 3
    public static let readonly: UInt16 = 1 << 2
    public static let reading: UInt16 = 1 << 3
    public static let writing: UInt16 = 1 << 4
    public static let pwt: UInt16 = 1 << 5
    public static let pcd: UInt16 = 1 << 6
    public static let pat: UInt16 = 1 << 7
    public static let subPage: UInt16 = 1 << 8
}

/// `GNTMAP_*`: map_grant_ref flags.
public enum GrantMapFlags {
    public static let deviceMap: UInt32 = 1 << 0
    public static let hostMap: UInt32 = 1 << 1
    public static let readonly: UInt32 = 1 << 2
    public static let applicationMap: UInt32 = 1 << 3
    public static let containsPTE: UInt32 = 1 << 4
    /// Apus's own mark on a maptrack entry, never a guest's flag: the granter, built by
    /// the toolstack, was destroyed while this mapping existed. Its page stays mapped (held
    /// as a foreign mapping, XenHost.foreignMaps) until the mapper unmaps the handle, as
    /// Xen's page reference keeps it.
    static let orphan: UInt32 = 1 << 31
}

/// `GNTCOPY_*`: gnttab_copy flags.
public enum GrantCopyFlags {
    public static let sourceGref: UInt16 = 1 << 0
    public static let destGref: UInt16 = 1 << 1
}

/// `XENMEM_*` (memory.h). The command's low 6 bits; the rest is a continuation extent.
public enum MemoryOp {
    public static let increaseReservation: UInt32 = 0
    public static let decreaseReservation: UInt32 = 1
    public static let maximumRAMPage: UInt32 = 2
    public static let currentReservation: UInt32 = 3
    public static let maximumReservation: UInt32 = 4
    public static let populatePhysmap: UInt32 = 6
    public static let addToPhysmap: UInt32 = 7
    public static let removeFromPhysmap: UInt32 = 15
    public static let getSharingFreedPages: UInt32 = 18
    public static let getSharingSharedPages: UInt32 = 19
    public static let addToPhysmapBatch: UInt32 = 23
    public static let acquireResource: UInt32 = 28
    public static let extentShift: UInt64 = 6
    public static let commandMask: UInt64 = (1 << 6) - 1
}

/// `XENMAPSPACE_*`.
public enum MapSpace {
    public static let sharedInfo: UInt32 = 0
    public static let grantTable: UInt32 = 1
    public static let gmfn: UInt32 = 2
    public static let gmfnRange: UInt32 = 3
    public static let gmfnForeign: UInt32 = 4
    public static let devMMIO: UInt32 = 5
    /// `XENMAPIDX_grant_table_status`.
    public static let grantTableStatusIndex: UInt64 = 0x8000_0000
}

/// `VCPUOP_*` (vcpu.h). On Arm only the two `register_*` calls exist.
public enum VCPUOp {
    public static let initialise: UInt32 = 0
    public static let up: UInt32 = 1
    public static let down: UInt32 = 2
    public static let isUp: UInt32 = 3
    public static let getRunstateInfo: UInt32 = 4
    public static let registerRunstateMemoryArea: UInt32 = 5
    public static let setPeriodicTimer: UInt32 = 6
    public static let stopPeriodicTimer: UInt32 = 7
    public static let setSingleshotTimer: UInt32 = 8
    public static let stopSingleshotTimer: UInt32 = 9
    public static let registerVCPUInfo: UInt32 = 10
}

/// `RUNSTATE_*`.
public enum XenRunstate: UInt32, Sendable {
    case running = 0
    case runnable = 1
    case blocked = 2
    case offline = 3
    /// `XEN_RUNSTATE_UPDATE`: set in state_entry_time while the area is rewritten.
    public static let updateFlag: UInt64 = 1 << 63
}

/// `SCHEDOP_*` and `SHUTDOWN_*` (sched.h).
public enum SchedOp {
    public static let yield: UInt32 = 0
    public static let block: UInt32 = 1
    public static let shutdown: UInt32 = 2
    public static let poll: UInt32 = 3
    public static let remoteShutdown: UInt32 = 4
    public static let shutdownCode: UInt32 = 5
    public static let watchdog: UInt32 = 6
    public static let pinOverride: UInt32 = 7
    /// do_poll's "fairly arbitrary limit".
    public static let maxPollPorts: UInt32 = 128
}

public enum ShutdownReason {
    public static let poweroff: UInt8 = 0
    public static let reboot: UInt8 = 1
    public static let suspend: UInt8 = 2
    public static let crash: UInt8 = 3
    public static let watchdog: UInt8 = 4
    public static let softReset: UInt8 = 5
}

/// `VMASST_*` (xen.h). Arm accepts only runstate_update_flag.
public enum VMAssist {
    public static let enable: UInt32 = 0
    public static let disable: UInt32 = 1
    public static let runstateUpdateFlag: UInt32 = 5
    public static let validMaskArm: UInt64 = 1 << 5
}

/// `HVMOP_*` and `HVM_PARAM_*` (hvm/hvm_op.h, hvm/params.h).
public enum HVMOp {
    public static let setParam: UInt64 = 0
    public static let getParam: UInt64 = 1
    public static let guestRequestVMEvent: UInt64 = 24
}

public enum HVMParam {
    public static let callbackIRQ: UInt32 = 0
    public static let storePFN: UInt32 = 1
    public static let storeEvtchn: UInt32 = 2
    public static let consolePFN: UInt32 = 17
    public static let consoleEvtchn: UInt32 = 18
    public static let monitorRingPFN: UInt32 = 28
    public static let count: UInt32 = 39   // HVM_NR_PARAMS in 4.17

    /// HVM_PARAM_CALLBACK_IRQ value Xen gives a domain whose upcall is `ppi`
    /// (type PPI in bits 63:56, active-low level flag in bits 15:8).
    public static func callbackPPI(_ ppi: UInt32) -> UInt64 {
        (2 << 56) | (2 << 8) | UInt64(ppi)
    }
}

/// `XENVER_*` (version.h).
public enum XenVersionOp {
    public static let version: UInt32 = 0
    public static let extraversion: UInt32 = 1
    public static let compileInfo: UInt32 = 2
    public static let capabilities: UInt32 = 3
    public static let changeset: UInt32 = 4
    public static let platformParameters: UInt32 = 5
    public static let getFeatures: UInt32 = 6
    public static let pagesize: UInt32 = 7
    public static let guestHandle: UInt32 = 8
    public static let commandline: UInt32 = 9
    public static let buildID: UInt32 = 10
}

/// `XENFEAT_*` (features.h): bit numbers in submap 0.
public enum XenFeature {
    public static let writablePageTables: UInt32 = 0
    public static let autoTranslatedPhysmap: UInt32 = 2
    public static let dom0: UInt32 = 11
    public static let memoryOpVnodeSupported: UInt32 = 13
    public static let armSMCCCSupported: UInt32 = 14
    public static let notDirectMapped: UInt32 = 16
    public static let directMapped: UInt32 = 17
}

/// The event-channel upcall interrupt Xen gives every Arm guest (GUEST_EVTCHN_PPI).
public enum XenUpcall {
    public static let ppi: UInt32 = 31
}

/// Page geometry (4 KiB granule) shared by every Xen structure here.
public enum XenPage {
    public static let shift: UInt64 = 12
    public static let size: UInt64 = 4096
    /// `INVALID_GFN`.
    public static let invalidGFN: UInt64 = ~0
}
