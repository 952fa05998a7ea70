/// `xen_version` (hypercall 17) as Xen 4.17 on arm64 answers it (xen/common/kernel.c,
/// XSM dummy policy: version, platform_parameters and get_features are open to all;
/// extraversion, compile_info, capabilities, changeset, pagesize and guest_handle to every
/// guest; commandline and build_id only to the control domain, "<denied>" / -EPERM otherwise).
public struct XenVersionInfo: Sendable {
    public var major: UInt32 = 4
    public var minor: UInt32 = 17
    public var extraversion: [UInt8] = Array(".0".utf8)
    public var compiler: [UInt8] = Array("gcc (Debian 12.2.0-14) 12.2.0".utf8)
    public var compileBy: [UInt8] = Array("pkg-xen-devel".utf8)
    public var compileDomain: [UInt8] = Array("lists.alioth.debian.org".utf8)
    public var compileDate: [UInt8] = Array("Thu Nov 16 09:10:52 UTC 2023".utf8)
    public var changeset: [UInt8] = Array("unavailable".utf8)
    /// Xen's own command line, shown to the control domain only.
    public var commandline: [UInt8] = []
    /// HYPERVISOR_VIRT_START on arm64 (XEN_VIRT_START).
    public var virtStart: UInt64 = 0x20_0000
    /// The CPUs can run AArch32 at EL1: capabilities then also list "xen-3.0-armv7l".
    public var aarch32: Bool = true

    public init() {}

    /// XENVER_version's answer: (major << 16) | minor.
    public var packed: Int64 { Int64(major) << 16 | Int64(minor & 0xFFFF) }

    /// arch_get_xen_caps() for arm64.
    public var capabilities: [UInt8] {
        Array("xen-3.0-aarch64 ".utf8) + (aarch32 ? Array("xen-3.0-armv7l ".utf8) : [])
    }
}

/// What xen_version needs to know about the calling domain (what it may see: XenPolicy).
public struct XenVersionCaller: Sendable {
    public var domain: XenDomainID
    /// A direct-mapped domain (guest physical == host physical).
    public var directMapped: Bool
    /// xen_domain_handle_t (16 bytes, the domain's UUID).
    public var handle: [UInt8]

    public init(domain: XenDomainID, directMapped: Bool = false,
                handle: [UInt8] = [UInt8](repeating: 0, count: 16)) {
        self.domain = domain
        self.directMapped = directMapped
        self.handle = handle
    }
}

public enum XenVersion {
    /// XENVER_get_features submap 0 for a domain (kernel.c with paging_mode_translate on Arm).
    /// `privileged`: the hardware domain (XENFEAT_dom0).
    public static func featureSubmap0(privileged: Bool, directMapped: Bool) -> UInt32 {
        var f: UInt32 = 1 << XenFeature.memoryOpVnodeSupported
        f |= 1 << XenFeature.writablePageTables | 1 << XenFeature.autoTranslatedPhysmap
        if privileged { f |= 1 << XenFeature.dom0 }
        f |= 1 << XenFeature.armSMCCCSupported
        f |= directMapped ? 1 << XenFeature.directMapped : 1 << XenFeature.notDirectMapped
        return f
    }

    /// Handles one call. `cmd` is x0 (an `int`: the low 32 bits), `arg` the guest VA in x1.
    public static func handle<M: GuestMemory>(cmd: UInt32, arg: UInt64, info: XenVersionInfo,
                                              caller: XenVersionCaller, policy: XenPolicy, memory: M) -> Int64 {
        let deny = !policy.mayXenVersion(caller: caller.domain, cmd: cmd)
        var denied: [UInt8] { Array("<denied>".utf8) }      // built only where it is used
        func put(_ bytes: [UInt8]) -> Int64 { memory.write(arg, bytes) ? 0 : XenErrno.EFAULT.result }

        switch cmd {
        case XenVersionOp.version:
            return info.packed
        case XenVersionOp.extraversion:
            return put(XenBytes.cString(info.extraversion, size: XenLayout.extraversionSize))
        case XenVersionOp.compileInfo:
            typealias L = XenLayout.CompileInfo
            var b = [UInt8](repeating: 0, count: L.size)
            let fields: [([UInt8], Int, Int)] = [
                (info.compiler, L.compiler, 64), (info.compileBy, L.compileBy, 16),
                (info.compileDomain, L.compileDomain, 32), (info.compileDate, L.compileDate, 32),
            ]
            for (text, offset, size) in fields {
                let s = XenBytes.cString(text, size: size)
                for i in 0..<size { b[offset + i] = s[i] }
            }
            return put(b)
        case XenVersionOp.capabilities:
            return put(XenBytes.cString(info.capabilities, size: XenLayout.capabilitiesSize))
        case XenVersionOp.changeset:
            return put(XenBytes.cString(info.changeset, size: XenLayout.changesetSize))
        case XenVersionOp.platformParameters:
            return memory.writeU64(arg, info.virtStart) ? 0 : XenErrno.EFAULT.result
        case XenVersionOp.getFeatures:
            guard var fi = memory.readStruct(arg, size: XenLayout.FeatureInfo.size) else {
                return XenErrno.EFAULT.result
            }
            guard XenBytes.u32(fi, XenLayout.FeatureInfo.submapIndex) == 0 else { return XenErrno.EINVAL.result }
            XenBytes.put32(&fi, XenLayout.FeatureInfo.submap,
                           featureSubmap0(privileged: policy.isHardwareDomain(caller.domain),
                                          directMapped: caller.directMapped))
            return put(fi)
        case XenVersionOp.pagesize:
            return arg != 0 ? XenErrno.EINVAL.result : Int64(XenPage.size)
        case XenVersionOp.guestHandle:
            // Open to every guest under the default policy: the domain's own handle.
            var h = [UInt8](repeating: 0, count: XenLayout.domainHandleSize)
            for i in 0..<min(h.count, caller.handle.count) { h[i] = caller.handle[i] }
            return put(h)
        case XenVersionOp.commandline:
            if deny { return put(denied + [0]) }
            return put(XenBytes.cString(info.commandline, size: XenLayout.commandlineSize))
        case XenVersionOp.buildID:
            if deny { return XenErrno.EPERM.result }
            if arg != 0 {
                guard let len = memory.readU32(arg) else { return XenErrno.EFAULT.result }
                if len == 0 { return XenErrno.EINVAL.result }
            }
            return XenErrno.ENODATA.result      // this hypervisor carries no build id note
        default:
            return XenErrno.ENOSYS.result
        }
    }
}
