// Checks of parsed domain configurations against a board: what `parse` cannot know.

extension DomainConfig {
    /// Checks this domain alone against the board: its memory fits in the board's RAM, its vCPU count is
    /// within Apus's limit and its `cpus` affinity names CPUs the board has.
    /// More vCPUs than physical CPUs is allowed (they are time-shared), as in Xen.
    public func validate(boardMemoryMiB: Int, boardCPUs: Int) throws(XLConfigError) {
        func limit(_ key: String, _ message: String) -> XLConfigError {
            XLConfigError(.boardLimit, file: fileName, key: key, message: message)
        }
        if memoryMiB > boardMemoryMiB {
            throw limit("memory", "\(memoryMiB) MiB is more than the board's \(boardMemoryMiB) MiB")
        }
        if vcpus < 1 || vcpus > DomainConfig.vcpuLimit {
            throw limit("vcpus", "\(vcpus) is outside 1...\(DomainConfig.vcpuLimit)")
        }
        let boardList = boardCPUs == 1 ? "CPU 0" : "CPUs 0-\(boardCPUs - 1)"
        switch cpus {
        case .only(let list):
            for c in list where c >= boardCPUs {
                throw limit("cpus", "CPU \(c) does not exist: the board has \(boardList)")
            }
        case .all:
            if cpus.cpus(boardCPUs: boardCPUs).isEmpty {
                throw limit("cpus", "excludes every CPU of the board (\(boardList))")
            }
        }
    }

    /// Checks the domains that will run together on one board: each one alone (see `validate`), no two
    /// with the same name, and all of them fitting in the board's memory.
    ///
    /// - Parameters:
    ///   - hypervisorMiB: memory the board keeps for Apus itself (image, heap, page tables), not given to domains.
    ///   - perDomainOverheadMiB: memory each domain costs on top of its `memory` (stage-2 tables, grant and
    ///     console pages, ...).
    public static func validate(_ configs: [DomainConfig], boardMemoryMiB: Int, boardCPUs: Int,
                                hypervisorMiB: Int, perDomainOverheadMiB: Int) throws(XLConfigError) {
        var used = 0
        var placed = ""
        for (i, config) in configs.enumerated() {
            try config.validate(boardMemoryMiB: boardMemoryMiB, boardCPUs: boardCPUs)
            for other in configs[..<i] where other.name == config.name {
                throw XLConfigError(.conflict, file: config.fileName, key: "name",
                                    message: "'\(config.name)' is already the name of the domain in \(other.fileName)")
            }
            let need = config.memoryMiB + perDomainOverheadMiB
            if hypervisorMiB + used + need > boardMemoryMiB {
                var message = "\(config.memoryMiB) MiB does not fit: the board's \(boardMemoryMiB) MiB"
                message += " minus \(hypervisorMiB) MiB for Apus"
                if !placed.isEmpty { message += " and \(used) MiB for \(placed)" }
                message += " leaves \(max(0, boardMemoryMiB - hypervisorMiB - used)) MiB"
                if perDomainOverheadMiB > 0 {
                    message += ", and each domain needs \(perDomainOverheadMiB) MiB more than its memory"
                }
                throw XLConfigError(.conflict, file: config.fileName, key: "memory", message: message)
            }
            used += need
            placed += (placed.isEmpty ? "" : ", ") + config.fileName
        }
    }
}
