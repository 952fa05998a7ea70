import ApusCore
import Foundation

/// A file QEMU loads into board RAM for the hypervisor: a domain's kernel or ramdisk.
struct BootModule {
    enum Kind { case kernel, ramdisk }
    var kind: Kind
    var path: String
    var size: UInt64
    var address: UInt64
}

/// One domain ready to boot: its configuration and where its modules go.
struct PlannedDomain {
    var config: DomainConfig
    var kernel: BootModule
    var ramdisk: BootModule?
    var modules: [BootModule] { [kernel] + (ramdisk.map { [$0] } ?? []) }
}

/// Everything `apus run` places on the board: dom0 (when asked for) and the dom0less domUs.
struct BoardPlan {
    var dom0: PlannedDom0?
    var domUs: [PlannedDomain]
    /// Every boot module, in placement order (ascending addresses, none overlapping).
    var modules: [BootModule] { (dom0?.modules ?? []) + domUs.flatMap(\.modules) }
}

/// From xl.cfg files and dom0's options to domains placed on the board. Every check that can
/// fail happens here, before anything is built or started.
enum DomainPlan {
    /// Parses and checks the configuration files and dom0's request, then places their modules
    /// at the top of RAM: dom0's first, then each domU's in command-line order.
    static func make(configPaths: [String], dom0: Dom0Request? = nil, board: Board) throws -> BoardPlan {
        var configs: [DomainConfig] = []
        var sources: [String: String] = [:]
        for path in configPaths {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ToolFailure.usage("\(path): cannot read the file")
            }
            let config: DomainConfig
            do {
                config = try DomainConfig.parse(text: text, fileName: path,
                                                directory: (path as NSString).deletingLastPathComponent)
            } catch {
                throw ToolFailure.usage(error.description)
            }
            for w in config.warnings { FileHandle.standardError.write(Data("apus: \(w)\n".utf8)) }
            sources[path] = text
            configs.append(config)
        }

        // Module sizes first: the space they take at the top of RAM is not available to domains.
        var sized: [(DomainConfig, kernel: UInt64, ramdisk: UInt64?)] = []
        for c in configs {
            let text = sources[c.fileName] ?? ""
            let k = try moduleSize(c.kernel, key: "kernel", config: c, text: text)
            let r = try c.ramdisk.map { try moduleSize($0, key: "ramdisk", config: c, text: text) }
            sized.append((c, k, r))
        }
        let dom0Kernel = try dom0.map { try optionFileSize($0.kernel, "--dom0-kernel") }
        let dom0Ramdisk = try dom0?.ramdisk.map { try optionFileSize($0, "--dom0-ramdisk") }
        let dom0Space = align(dom0Kernel ?? 0) + align(dom0Ramdisk ?? 0)
        let moduleSpace = sized.reduce(dom0Space) { $0 + align($1.kernel) + align($1.ramdisk ?? 0) }
        let moduleMiB = Int((moduleSpace + (1 << 20) - 1) >> 20)
        if Board.hypervisorMiB + moduleMiB > board.memoryMiB {
            throw ToolFailure.usage("the kernels and ramdisks take \(moduleMiB) MiB: with \(Board.hypervisorMiB) MiB "
                                    + "for Apus they do not fit in the board's \(board.memoryMiB) MiB (--memory)")
        }
        do {
            // The modules stay in RAM while domains run (the hypervisor keeps them reserved), so they
            // count as part of what Apus itself uses.
            try DomainConfig.validate(configs, boardMemoryMiB: board.memoryMiB, boardCPUs: board.cpus,
                                      hypervisorMiB: Board.hypervisorMiB + moduleMiB, perDomainOverheadMiB: 0)
        } catch {
            throw ToolFailure.usage(error.description)
        }
        if let dom0 {
            // Dom0 and the domUs share what Apus and the modules leave. (Xen 4.17 builds dom0
            // first, then the dom0less domains: start_xen calls create_dom0, then create_domUs;
            // only the sum matters here.) The domUs were checked above, so a shortfall is dom0's.
            let domUMiB = configs.reduce(0) { $0 + $1.memoryMiB }
            let free = board.memoryMiB - Board.hypervisorMiB - moduleMiB - domUMiB
            if dom0.allocatedMiB > free {
                var why = "the board's \(board.memoryMiB) MiB (--memory) minus \(Board.hypervisorMiB) MiB for Apus"
                    + " and \(moduleMiB) MiB of kernels and ramdisks"
                if domUMiB > 0 { why += " and \(domUMiB) MiB for the domUs" }
                throw ToolFailure.usage("--dom0-memory \(dom0.memoryMiB): dom0 does not fit: \(why) "
                                        + "leaves \(max(0, free)) MiB")
            }
        }

        // Packed at the top of RAM, dom0's first, then the domUs' in command-line order, each on a
        // 2 MiB boundary: the domains' memory is then one free range between the hypervisor and
        // the modules.
        var next = board.ramEnd - moduleSpace
        func place(_ kind: BootModule.Kind, _ path: String, _ size: UInt64) -> BootModule {
            defer { next += align(size) }
            return BootModule(kind: kind, path: path, size: size, address: next)
        }
        let plannedDom0 = dom0.map { d in
            PlannedDom0(request: d, kernel: place(.kernel, d.kernel, dom0Kernel ?? 0),
                        ramdisk: dom0Ramdisk.map { place(.ramdisk, d.ramdisk!, $0) })
        }
        let domUs = sized.map { c, k, r in
            let kernel = place(.kernel, c.kernel, k)
            let ramdisk = r.map { place(.ramdisk, c.ramdisk!, $0) }
            return PlannedDomain(config: c, kernel: kernel, ramdisk: ramdisk)
        }
        return BoardPlan(dom0: plannedDom0, domUs: domUs)
    }

    static func align(_ size: UInt64) -> UInt64 {
        (size + Board.moduleAlignment - 1) & ~(Board.moduleAlignment - 1)
    }

    /// The size of a kernel or ramdisk file; a missing, unreadable or empty file is reported with the
    /// configuration line that names it.
    private static func moduleSize(_ path: String, key: String, config: DomainConfig, text: String) throws -> UInt64 {
        func fail(_ why: String) -> ToolFailure {
            var at = config.fileName
            if let line = lineOf(key, in: text, fileName: config.fileName) { at += ":\(line)" }
            return .usage("\(at): \(key): \(path): \(why)")
        }
        switch ModuleFile.size(path) {
        case .success(let size): return size
        case .failure(let problem): throw fail(problem.description)
        }
    }

    /// The size of a module named by an option (`--dom0-kernel FILE`).
    private static func optionFileSize(_ path: String, _ option: String) throws -> UInt64 {
        switch ModuleFile.size(path) {
        case .success(let size): return size
        case .failure(let problem): throw ToolFailure.usage("\(option) \(path): \(problem.description)")
        }
    }

    /// The line of the setting that took effect for `key` (the last one).
    private static func lineOf(_ key: String, in text: String, fileName: String) -> Int? {
        (try? XLConfigSyntax.parse(text: text, fileName: fileName))?.last { $0.key == key }?.line
    }
}
