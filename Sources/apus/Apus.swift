import ArgumentParser
import ApusCore

@main
struct Apus: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apus hypervisor host tool")
    func run() throws { print(ApusVersion.version) }
}
