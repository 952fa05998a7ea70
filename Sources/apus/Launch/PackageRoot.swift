import Foundation

/// The Apus source tree: where the image is built and where caches live.
enum PackageRoot {
    /// The first folder, walking up from the current directory and then from the tool's own location,
    /// holding the Apus Package.swift. The tool is usually run from inside the tree, but `swift run`
    /// from elsewhere or a copied binary under .build-tool still find it through the executable's path.
    static func find() throws -> String {
        var starts = [FileManager.default.currentDirectoryPath]
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            starts.append((exe as NSString).deletingLastPathComponent)
        } else if let arg0 = CommandLine.arguments.first {
            starts.append(URL(fileURLWithPath: arg0).deletingLastPathComponent().path)
        }
        for start in starts {
            var dir = URL(fileURLWithPath: start).standardizedFileURL
            while true {
                if isApusPackage(dir.appendingPathComponent("Package.swift").path) { return dir.path }
                let parent = dir.deletingLastPathComponent()
                if parent.path == dir.path { break }
                dir = parent
            }
        }
        throw ToolFailure("cannot find the Apus source tree (a Package.swift with name: \"Apus\") "
                          + "above \(starts.joined(separator: " or "))")
    }

    private static func isApusPackage(_ path: String) -> Bool {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return false }
        return text.contains("name: \"Apus\"")
    }
}
