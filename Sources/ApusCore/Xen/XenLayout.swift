/// Byte offsets and sizes of the Xen public structures on arm64 (AAPCS64, little-endian,
/// xen_ulong_t / xen_pfn_t / guest handles all 8 bytes and 8-byte aligned).
public enum XenLayout {
    /// `struct vcpu_info` (48 bytes on Arm: arch_vcpu_info is empty).
    public enum VCPUInfo {
        public static let size = 48
        public static let alignment: UInt64 = 8
        public static let upcallPending = 0          // u8
        public static let upcallMask = 1             // u8 (pad0 on Arm)
        public static let pendingSel = 8             // xen_ulong_t
        public static let time = 16                  // struct vcpu_time_info (32 bytes)
        public static let timeVersion = 16
        public static let timeSystemTime = 32
    }

    /// `struct shared_info` (1088 bytes), 2-level event bitmaps for 4096 ports.
    public enum SharedInfo {
        public static let size = 1088
        public static let vcpuInfo0 = 0              // vcpu_info[XEN_LEGACY_MAX_VCPUS = 1]
        public static let evtchnPending = 48         // xen_ulong_t[64]
        public static let evtchnMask = 560           // xen_ulong_t[64]
        public static let wcVersion = 1072
        public static let wcSec = 1076
        public static let wcNsec = 1080
        public static let wcSecHi = 1084
        public static let legacyVCPUs = 1
    }

    /// `struct vcpu_runstate_info` (48 bytes).
    public enum RunstateInfo {
        public static let size = 48
        public static let state = 0                  // int
        public static let stateEntryTime = 8         // u64, bit 63 = XEN_RUNSTATE_UPDATE
        public static let time = 16                  // u64[4]
    }

    /// `struct multicall_entry`: op, result, args[6].
    public enum MulticallEntry {
        public static let size = 64
        public static let op = 0
        public static let result = 8
        public static let args = 16
    }

    public enum EvtchnAllocUnbound {          // dom u16, remote_dom u16, port u32
        public static let size = 8
        public static let dom = 0, remoteDom = 2, port = 4
    }
    public enum EvtchnBindInterdomain {       // remote_dom u16, remote_port u32, local_port u32
        public static let size = 12
        public static let remoteDom = 0, remotePort = 4, localPort = 8
    }
    public enum EvtchnBindVIRQ {              // virq, vcpu, port
        public static let size = 12
        public static let virq = 0, vcpu = 4, port = 8
    }
    public enum EvtchnBindIPI {               // vcpu, port
        public static let size = 8
        public static let vcpu = 0, port = 4
    }
    /// evtchn_close, evtchn_send, evtchn_unmask: a single port.
    public enum EvtchnPort {
        public static let size = 4
        public static let port = 0
    }
    public enum EvtchnStatus {                // dom u16, port, status, vcpu, union
        public static let size = 24
        public static let dom = 0, port = 4, status = 8, vcpu = 12
        public static let unionDom = 16, unionPort = 20, unionVIRQ = 16
    }
    public enum EvtchnBindVCPU {              // port, vcpu
        public static let size = 8
        public static let port = 0, vcpu = 4
    }
    public enum EvtchnReset {                 // dom u16
        public static let size = 2
        public static let dom = 0
    }
    public enum EvtchnInitControl {           // control_gfn u64, offset, vcpu, link_bits u8, pad[7]
        public static let size = 24
    }
    public enum EvtchnSetPriority {           // port, priority
        public static let size = 8
        public static let port = 0, priority = 4
    }

    /// `struct grant_entry_v1`: 512 per 4 KiB frame.
    public enum GrantEntryV1 {
        public static let size = 8
        public static let flags = 0, domid = 2, frame = 4
        public static let perFrame: UInt32 = 512
    }
    public enum GnttabMapGrantRef {           // host_addr, flags, ref, dom, status, handle, dev_bus_addr
        public static let size = 32
        public static let hostAddr = 0, flags = 8, ref = 12, dom = 16, status = 18
        public static let handle = 20, devBusAddr = 24
    }
    public enum GnttabCacheFlush {            // union { dev_bus_addr, ref } u64, offset u16, length u16, op u32
        public static let size = 16
        public static let address = 0, offset = 8, length = 10, op = 12
    }
    public enum GnttabUnmapGrantRef {         // host_addr, dev_bus_addr, handle, status
        public static let size = 24
        public static let hostAddr = 0, devBusAddr = 8, handle = 16, status = 20
    }
    public enum GnttabSetupTable {            // dom u16, nr_frames u32, status i16, frame_list handle
        public static let size = 24
        public static let dom = 0, nrFrames = 4, status = 8, frameList = 16
    }
    public enum GnttabCopy {                  // source{u(8), domid, offset}, dest{...}, len, flags, status
        public static let size = 40
        public static let sourceRef = 0, sourceDomid = 8, sourceOffset = 10
        public static let destRef = 16, destDomid = 24, destOffset = 26
        public static let len = 32, flags = 34, status = 36
    }
    public enum GnttabQuerySize {             // dom u16, nr_frames, max_nr_frames, status i16
        public static let size = 16
        public static let dom = 0, nrFrames = 4, maxNrFrames = 8, status = 12
    }
    public enum GnttabSetVersion {            // version u32
        public static let size = 4
    }
    public enum GnttabGetVersion {            // dom u16, pad u16, version u32
        public static let size = 8
        public static let dom = 0, version = 4
    }

    /// `struct xen_add_to_physmap`: domid u16, size u16, space u32, idx u64, gpfn u64.
    public enum AddToPhysmap {
        public static let size = 24
        public static let domid = 0, sizeField = 2, space = 4, idx = 8, gpfn = 16
    }

    public enum VCPURegisterVCPUInfo {        // mfn u64, offset u32, rsvd u32
        public static let size = 16
        public static let mfn = 0, offset = 8
    }
    public enum VCPURegisterRunstateArea {    // addr (guest handle / VA)
        public static let size = 8
    }

    public enum HVMParamStruct {              // domid u16, pad u16, index u32, value u64
        public static let size = 16
        public static let domid = 0, index = 4, value = 8
    }

    public enum SchedShutdown {               // reason u32
        public static let size = 4
    }
    public enum SchedPoll {                   // ports handle, nr_ports u32, timeout u64
        public static let size = 24
        public static let ports = 0, nrPorts = 8, timeout = 16
    }
    public enum SchedRemoteShutdown {         // domain_id u16, reason u32
        public static let size = 8
        public static let domainID = 0, reason = 4
    }

    public enum FeatureInfo {                 // submap_idx u32, submap u32
        public static let size = 8
        public static let submapIndex = 0, submap = 4
    }
    public enum CompileInfo {                 // compiler[64], compile_by[16], compile_domain[32], compile_date[32]
        public static let size = 144
        public static let compiler = 0, compileBy = 64, compileDomain = 80, compileDate = 112
    }
    public static let extraversionSize = 16
    public static let capabilitiesSize = 1024
    public static let changesetSize = 64
    public static let commandlineSize = 1024
    public static let domainHandleSize = 16
}
