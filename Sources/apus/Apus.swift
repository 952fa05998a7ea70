import ApusCore
import ArgumentParser
import Foundation

@main
struct Apus: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apus hypervisor host tool",
        version: ApusVersion.version,
        subcommands: [BuildCommand.self, RunCommand.self, FetchGuestCommand.self, BenchCommand.self])

    /// Runs a command's body, turning a ToolFailure into the tool's one-line message and exit status.
    static func reporting(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let failure as ToolFailure {
            FileHandle.standardError.write(Data("apus: \(failure.message)\n".utf8))
            throw ExitCode(failure.exitCode)
        }
    }
}
