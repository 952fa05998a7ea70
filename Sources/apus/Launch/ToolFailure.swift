/// A failure the tool reports as one line, `apus: <message>`, and the exit status that goes with it.
/// Commands throw it; `Apus.report` prints it, so every path out of the tool looks the same.
struct ToolFailure: Error, CustomStringConvertible {
    var message: String
    var exitCode: Int32

    init(_ message: String, exitCode: Int32 = 1) {
        self.message = message
        self.exitCode = exitCode
    }

    /// A mistake in what the user asked for (arguments, configuration files): exit status 2,
    /// always before anything has been started.
    static func usage(_ message: String) -> ToolFailure { ToolFailure(message, exitCode: 2) }

    var description: String { message }
}
