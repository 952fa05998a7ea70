/// What xl does when a domain powers off, reboots or crashes (`on_poweroff`, `on_reboot`, `on_crash`).
public enum DomainAction: Equatable, Sendable {
    case destroy
    case restart
    case preserve
    case renameRestart
    case coredumpDestroy
    case coredumpRestart

    public static let all: [DomainAction] = [
        .destroy, .restart, .preserve, .renameRestart, .coredumpDestroy, .coredumpRestart,
    ]

    /// The spelling in xl.cfg.
    public var xlName: String {
        switch self {
        case .destroy: return "destroy"
        case .restart: return "restart"
        case .preserve: return "preserve"
        case .renameRestart: return "rename-restart"
        case .coredumpDestroy: return "coredump-destroy"
        case .coredumpRestart: return "coredump-restart"
        }
    }

    public init?(xlName: String) {
        for action in DomainAction.all where action.xlName == xlName {
            self = action
            return
        }
        return nil
    }
}

/// The guest type (`type = "pvh"`). On Arm every guest is PVH-like; xl accepts nothing else there.
public enum DomainType: Equatable, Sendable {
    case pvh
}

/// One domain, as described by an xl.cfg file (see Xen's xl.cfg(5)).
///
/// Keys read: `name` (required), `kernel` (required), `ramdisk`, `cmdline` / `extra` / `root`,
/// `memory`, `maxmem`, `vcpus`, `maxvcpus`, `cpus`, `cpu_weight`, `cpu_cap`,
/// `on_poweroff`, `on_reboot`, `on_crash`, `type`, `vuart`, `vpl011` and `xen_enhanced` (Apus's own).
/// Keys xl knows but Apus does not implement (passthrough, PV devices, ...) are refused with a reason;
/// any other key is refused as unknown.
public struct DomainConfig: Equatable, Sendable {
    /// The file name used in messages (as passed to `parse`).
    public var fileName: String
    public var name: String
    /// `memory`: the domain's RAM in MiB.
    public var memoryMiB: Int
    /// `maxmem`: accepted when at least `memory`, but Apus has no ballooning: the domain gets `memoryMiB`.
    public var maxMemoryMiB: Int
    public var vcpus: Int
    /// `maxvcpus`: vCPUs the domain could bring online; Apus creates `vcpus` of them.
    public var maxVCPUs: Int
    /// `kernel`, resolved against the config file's folder when relative.
    public var kernel: String
    /// `ramdisk`, resolved like `kernel`.
    public var ramdisk: String?
    /// The guest command line, composed like xl: `cmdline`, else `root=<root> <extra>`.
    public var cmdline: String?
    /// `cpus`: hard affinity of every vCPU.
    public var cpus: CPUAffinity
    /// `cpu_weight` (credit scheduler weight, 1...65535).
    public var cpuWeight: Int
    /// `cpu_cap` in percent of one physical CPU (0 = no cap).
    public var cpuCap: Int
    public var onPoweroff: DomainAction
    public var onReboot: DomainAction
    public var onCrash: DomainAction
    public var type: DomainType
    /// An emulated SBSA/PL011 UART for the guest: xl's `vuart = "sbsa_uart"`, or Apus's `vpl011 = 1`
    /// (the name of the dom0less device-tree property).
    public var vuart: Bool
    /// `xen_enhanced`: Xen's PV interfaces (and XenStore) for the guest. xl has no such key: an
    /// xl-created Xen guest on Arm always gets them, a dom0less one only with the `xen,enhanced`
    /// property. The key mirrors that property: "enabled" (default, as xl), "no-xenstore",
    /// "disabled"; 1 and 0 mean "enabled" and "disabled".
    public var xenEnhanced: XenEnhanced
    /// Things xl would print as warnings, already formatted: `web.cfg:4: warning: …`.
    public var warnings: [String]

    public static let defaultMemoryMiB = 128
    public static let defaultCPUWeight = 256
    /// The most vCPUs an Arm domain can have (Xen's MAX_VIRT_CPUS for arm64).
    public static let vcpuLimit = 128

    public init(fileName: String, name: String, kernel: String) {
        self.fileName = fileName
        self.name = name
        self.memoryMiB = DomainConfig.defaultMemoryMiB
        self.maxMemoryMiB = DomainConfig.defaultMemoryMiB
        self.vcpus = 1
        self.maxVCPUs = 1
        self.kernel = kernel
        self.ramdisk = nil
        self.cmdline = nil
        self.cpus = .any
        self.cpuWeight = DomainConfig.defaultCPUWeight
        self.cpuCap = 0
        self.onPoweroff = .destroy
        self.onReboot = .restart
        self.onCrash = .destroy
        self.type = .pvh
        self.vuart = false
        self.xenEnhanced = .enabled
        self.warnings = []
    }

    /// Parses one xl.cfg file. `fileName` is used in messages; `directory` is the folder the file is in,
    /// against which relative `kernel` and `ramdisk` paths are resolved (pure string joining: nothing here
    /// touches the file system).
    public static func parse(text: String, fileName: String, directory: String) throws(XLConfigError) -> DomainConfig {
        let settings = try XLConfigSyntax.parse(text: text, fileName: fileName)
        var d = SettingReader(file: fileName)

        var name: String?
        var kernel: String?
        var ramdisk: String?
        var memory: XLSetting?
        var maxmem: XLSetting?
        var vcpus: XLSetting?
        var maxvcpus: XLSetting?
        var cmdline: XLSetting?
        var root: XLSetting?
        var extra: XLSetting?
        var cpuCap: XLSetting?
        var config = DomainConfig(fileName: fileName, name: "", kernel: "")

        for s in settings {
            switch s.key {
            case "name":
                let v = try d.string(s)
                guard !v.isEmpty else { throw d.invalid(s, "must not be empty") }
                name = v
            case "kernel":
                let v = try d.string(s)
                guard !v.isEmpty else { throw d.invalid(s, "must not be empty") }
                kernel = v
            case "ramdisk":
                let v = try d.string(s)
                guard !v.isEmpty else { throw d.invalid(s, "must not be empty") }
                ramdisk = v
            case "memory": memory = s
            case "maxmem": maxmem = s
            case "vcpus": vcpus = s
            case "maxvcpus": maxvcpus = s
            case "cmdline": cmdline = s
            case "root": root = s
            case "extra": extra = s
            case "cpu_cap": cpuCap = s
            case "cpus":
                config.cpus = try d.affinity(s)
            case "cpu_weight":
                config.cpuWeight = try d.integer(s, in: 1...65535)
            case "on_poweroff": config.onPoweroff = try d.action(s)
            case "on_reboot": config.onReboot = try d.action(s)
            case "on_crash": config.onCrash = try d.action(s)
            case "type":
                let v = try d.string(s)
                guard v == "pvh" else {
                    throw d.invalid(s, "only \"pvh\" is supported on Arm, got \(d.shown(s))")
                }
                config.type = .pvh
            case "vuart":
                let v = try d.string(s)
                guard v == "sbsa_uart" else {
                    throw d.invalid(s, "only \"sbsa_uart\" is supported on Arm, got \(d.shown(s))")
                }
                config.vuart = true
            case "vpl011":
                config.vuart = try d.boolean(s)
            case "xen_enhanced":
                config.xenEnhanced = try d.xenEnhanced(s)
            default:
                if let reason = unsupportedReason(s.key) {
                    throw XLConfigError(.unsupportedKey, file: fileName, line: s.line, key: s.key,
                                        message: "not supported by Apus (\(reason))")
                }
                throw XLConfigError(.unknownKey, file: fileName, line: s.line, key: s.key,
                                    message: "unknown key '\(s.key)'")
            }
        }

        guard let name else { throw missing(fileName, "name") }
        guard let kernel else { throw missing(fileName, "kernel") }
        config.name = name
        config.kernel = joinPath(directory, kernel)
        if let ramdisk { config.ramdisk = joinPath(directory, ramdisk) }

        if let memory {
            config.memoryMiB = try d.integer(memory, atLeast: 1, unit: " MiB")
        }
        config.maxMemoryMiB = config.memoryMiB
        if let maxmem {
            let m = try d.integer(maxmem, atLeast: 1, unit: " MiB")
            guard m >= config.memoryMiB else {
                throw d.invalid(maxmem, "\(m) MiB is less than memory (\(config.memoryMiB) MiB)")
            }
            if m > config.memoryMiB {
                d.warn(maxmem, "\(m) MiB is ignored: Apus has no ballooning, the domain gets memory (\(config.memoryMiB) MiB)")
            }
            config.maxMemoryMiB = m
        }
        if let vcpus {
            config.vcpus = try d.integer(vcpus, in: 1...vcpuLimit)
        }
        config.maxVCPUs = config.vcpus
        if let maxvcpus {
            config.maxVCPUs = try d.integer(maxvcpus, in: config.vcpus...vcpuLimit)
        }
        if let cpuCap {
            // 100 is one physical CPU; a cap above what all the vCPUs together can use is meaningless.
            config.cpuCap = try d.integer(cpuCap, in: 0...(100 * config.maxVCPUs))
        }

        // The command line, as xl's parse_cmdline composes it.
        if let cmdline {
            config.cmdline = try d.string(cmdline)
            if root != nil || extra != nil {
                d.warn(cmdline, "ignoring root and extra in favour of cmdline")
            }
        } else {
            let r = try root.map { (s) throws(XLConfigError) in try d.string(s) }
            let e = try extra.map { (s) throws(XLConfigError) in try d.string(s) }
            if let r, let e {
                config.cmdline = "root=" + r + " " + e
            } else if let r {
                config.cmdline = "root=" + r
            } else {
                config.cmdline = e
            }
        }
        config.warnings = d.warnings
        return config
    }

    /// Joins a path from a config file to the config file's folder: absolute paths and an empty or `.`
    /// folder leave the path alone; leading `./` components are dropped.
    public static func joinPath(_ directory: String, _ path: String) -> String {
        var p = Substring(path)
        if p.isEmpty || p.hasPrefix("/") { return path }
        while p.hasPrefix("./") {
            p = p.dropFirst(2)
            while p.hasPrefix("/") { p = p.dropFirst() }
        }
        var dir = Substring(directory)
        if dir.isEmpty || dir == "." { return String(p) }
        while dir.count > 1 && dir.hasSuffix("/") { dir = dir.dropLast() }
        if dir == "/" { return "/" + p }
        return dir + "/" + p
    }

    /// xl.cfg keys that Apus knows and refuses, with the reason shown to the user.
    static func unsupportedReason(_ key: String) -> String? {
        switch key {
        case "dtdev", "irqs", "iomem", "device_tree", "pci", "passthrough":
            return "device passthrough"
        case "disk", "vif", "vtpm", "vfb", "vkb", "channel", "p9", "pvcalls", "vdispl", "vsnd",
             "usbctrl", "usbdev", "virtio", "vdisk":
            return "virtual devices other than the console"
        case "bootloader", "bootloader_args":
            return "bootloaders: give kernel= directly"
        case "cpus_soft", "cpupool":
            return "soft affinity and CPU pools"
        case "uuid", "seclabel", "init_seclabel", "device_model_version", "device_model_override", "builder",
             "gic_version", "nr_spis", "tee", "max_grant_frames", "max_maptrack_frames", "max_event_channels",
             "driver_domain", "on_watchdog", "on_soft_reset", "dm_restrict", "xen_platform_pci":
            return "this xl option is not implemented"
        default:
            return nil
        }
    }

    private static func missing(_ file: String, _ key: String) -> XLConfigError {
        XLConfigError(.missingKey, file: file, key: key, message: "missing required key '\(key)'")
    }
}

/// Reads typed values out of settings, producing the file/line/key-qualified errors.
private struct SettingReader {
    let file: String
    var warnings: [String] = []

    init(file: String) { self.file = file }

    func invalid(_ s: XLSetting, _ message: String) -> XLConfigError {
        XLConfigError(.invalidValue, file: file, line: s.line, key: s.key, message: message)
    }

    mutating func warn(_ s: XLSetting, _ message: String) {
        warnings.append("\(file):\(s.line): warning: \(s.key): \(message)")
    }

    func shown(_ s: XLSetting) -> String {
        switch s.value {
        case .atom(let a): return a.display
        case .list: return "a list"
        }
    }

    func string(_ s: XLSetting) throws(XLConfigError) -> String {
        guard case .atom(let a) = s.value else {
            throw invalid(s, "expected a string, got a list")
        }
        return a.text
    }

    func integer(_ s: XLSetting) throws(XLConfigError) -> Int {
        guard case .atom(let a) = s.value else {
            throw invalid(s, "expected an integer, got a list")
        }
        guard !s.appended else { throw invalid(s, "can't use += with a number") }
        guard let v = XLConfigSyntax.integer(a.text) else {
            throw invalid(s, "expected an integer, got \(a.display)")
        }
        return v
    }

    func integer(_ s: XLSetting, in range: ClosedRange<Int>) throws(XLConfigError) -> Int {
        let v = try integer(s)
        guard range.contains(v) else {
            throw invalid(s, "must be between \(range.lowerBound) and \(range.upperBound), got \(v)")
        }
        return v
    }

    func integer(_ s: XLSetting, atLeast minimum: Int, unit: String) throws(XLConfigError) -> Int {
        let v = try integer(s)
        guard v >= minimum else { throw invalid(s, "must be at least \(minimum)\(unit), got \(v)") }
        return v
    }

    func boolean(_ s: XLSetting) throws(XLConfigError) -> Bool {
        // xl reads booleans as integers, any non-zero value being true.
        guard case .atom(let a) = s.value, !s.appended, let v = XLConfigSyntax.integer(a.text) else {
            throw invalid(s, "expected 0 or 1, got \(shown(s))")
        }
        return v != 0
    }

    func action(_ s: XLSetting) throws(XLConfigError) -> DomainAction {
        let v = try string(s)
        guard let action = DomainAction(xlName: v) else {
            var names = ""
            for a in DomainAction.all { names += (names.isEmpty ? "" : ", ") + a.xlName }
            throw invalid(s, "expected one of \(names), got \(shown(s))")
        }
        return action
    }

    func xenEnhanced(_ s: XLSetting) throws(XLConfigError) -> XenEnhanced {
        if case .atom(let a) = s.value {
            switch a.text {
            case "enabled", "1": return .enabled
            case "no-xenstore": return .noXenstore
            case "disabled", "0": return .disabled
            default: break
            }
        }
        throw invalid(s, "expected \"enabled\", \"no-xenstore\" or \"disabled\" (or 1/0), got \(shown(s))")
    }

    func affinity(_ s: XLSetting) throws(XLConfigError) -> CPUAffinity {
        guard case .atom(let a) = s.value else {
            throw invalid(s, "per-vCPU affinity lists are not supported: use one string such as \"0-3\"")
        }
        switch CPUAffinity.parse(a.text) {
        case .success(let affinity):
            return affinity
        case .failure(.numaNodes):
            throw invalid(s, "NUMA node affinity (\"nodes:\") is not supported")
        case .failure(.backwardsRange(let lo, let hi)):
            throw invalid(s, "the range \(lo)-\(hi) goes backwards")
        case .failure(.tooHigh(let n)):
            throw invalid(s, "CPU \(n) is more than \(CPUAffinity.maxCPU)")
        case .failure(.empty):
            throw invalid(s, "\(a.display) leaves no CPU")
        case .failure(.syntax):
            throw invalid(s, "expected CPUs such as \"0-3\", \"0,2\", \"all\" or \"all,^1\", got \(a.display)")
        }
    }
}
