import Testing
@testable import ApusCore

private func domain(_ file: String, name: String, memory: Int, vcpus: Int = 1, cpus: String? = nil) throws -> DomainConfig {
    var text = "name = \"\(name)\"\nkernel = \"Image\"\nmemory = \(memory)\nvcpus = \(vcpus)\n"
    if let cpus { text += "cpus = \"\(cpus)\"\n" }
    return try DomainConfig.parse(text: text, fileName: file, directory: "")
}

private func message(_ body: () throws(XLConfigError) -> Void) -> String? {
    do {
        try body()
        return nil
    } catch {
        return error.description
    }
}

@Suite struct XLConfigValidationTests {
    @Test func oneDomainAgainstTheBoard() throws {
        let web = try domain("web.cfg", name: "web", memory: 4096)
        #expect(message { () throws(XLConfigError) in try web.validate(boardMemoryMiB: 2048, boardCPUs: 4) } ==
            "web.cfg: memory: 4096 MiB is more than the board's 2048 MiB")
        try web.validate(boardMemoryMiB: 4096, boardCPUs: 1)

        let wide = try domain("wide.cfg", name: "wide", memory: 128, vcpus: 8)
        try wide.validate(boardMemoryMiB: 1024, boardCPUs: 2) // vCPUs may outnumber physical CPUs

        var tooMany = wide
        tooMany.vcpus = 200
        #expect(message { () throws(XLConfigError) in try tooMany.validate(boardMemoryMiB: 1024, boardCPUs: 2) } ==
            "wide.cfg: vcpus: 200 is outside 1...128")

        let pinned = try domain("pin.cfg", name: "pin", memory: 128, cpus: "2-5")
        #expect(message { () throws(XLConfigError) in try pinned.validate(boardMemoryMiB: 1024, boardCPUs: 4) } ==
            "pin.cfg: cpus: CPU 4 does not exist: the board has CPUs 0-3")
        try pinned.validate(boardMemoryMiB: 1024, boardCPUs: 6)

        let excluded = try domain("ex.cfg", name: "ex", memory: 128, cpus: "^0")
        #expect(message { () throws(XLConfigError) in try excluded.validate(boardMemoryMiB: 1024, boardCPUs: 1) } ==
            "ex.cfg: cpus: excludes every CPU of the board (CPU 0)")
        try excluded.validate(boardMemoryMiB: 1024, boardCPUs: 2)
    }

    @Test func errorFields() throws {
        let web = try domain("web.cfg", name: "web", memory: 4096)
        do {
            try web.validate(boardMemoryMiB: 2048, boardCPUs: 4)
            Issue.record("expected an error")
        } catch {
            #expect(error.kind == .boardLimit)
            #expect(error.file == "web.cfg" && error.line == nil && error.key == "memory")
        }
    }

    @Test func domainsTogether() throws {
        let a = try domain("a.cfg", name: "a", memory: 512)
        let b = try domain("b.cfg", name: "b", memory: 1024)
        let c = try domain("c.cfg", name: "c", memory: 512)
        try DomainConfig.validate([a, b, c], boardMemoryMiB: 2048, boardCPUs: 2, hypervisorMiB: 0, perDomainOverheadMiB: 0)
        try DomainConfig.validate([], boardMemoryMiB: 2048, boardCPUs: 2, hypervisorMiB: 64, perDomainOverheadMiB: 4)

        #expect(message { () throws(XLConfigError) in
            try DomainConfig.validate([a, b, c], boardMemoryMiB: 2048, boardCPUs: 2, hypervisorMiB: 64, perDomainOverheadMiB: 0)
        } == "c.cfg: memory: 512 MiB does not fit: the board's 2048 MiB minus 64 MiB for Apus and 1536 MiB for a.cfg, b.cfg leaves 448 MiB")

        #expect(message { () throws(XLConfigError) in
            try DomainConfig.validate([b], boardMemoryMiB: 1024, boardCPUs: 2, hypervisorMiB: 16, perDomainOverheadMiB: 0)
        } == "b.cfg: memory: 1024 MiB does not fit: the board's 1024 MiB minus 16 MiB for Apus leaves 1008 MiB")

        #expect(message { () throws(XLConfigError) in
            try DomainConfig.validate([a, c], boardMemoryMiB: 1024, boardCPUs: 2, hypervisorMiB: 0, perDomainOverheadMiB: 4)
        } == "c.cfg: memory: 512 MiB does not fit: the board's 1024 MiB minus 0 MiB for Apus and 516 MiB for a.cfg leaves 508 MiB, and each domain needs 4 MiB more than its memory")

        let a2 = try domain("a2.cfg", name: "a", memory: 128)
        #expect(message { () throws(XLConfigError) in
            try DomainConfig.validate([a, b, a2], boardMemoryMiB: 8192, boardCPUs: 2, hypervisorMiB: 64, perDomainOverheadMiB: 0)
        } == "a2.cfg: name: 'a' is already the name of the domain in a.cfg")

        // Each domain is also checked alone.
        let big = try domain("big.cfg", name: "big", memory: 4096)
        #expect(message { () throws(XLConfigError) in
            try DomainConfig.validate([a, big], boardMemoryMiB: 2048, boardCPUs: 2, hypervisorMiB: 64, perDomainOverheadMiB: 0)
        } == "big.cfg: memory: 4096 MiB is more than the board's 2048 MiB")
    }
}
