import ArgumentParser
import Foundation

/// `apus fetch-guest`: the Debian arm64 Linux kernel and busybox initramfs images the demo uses.
struct FetchGuestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch-guest",
        abstract: "Download the demo Linux guest (kernel and busybox) into .cache/guest.",
        discussion: "Each step is skipped when its output is already there.")

    func run() throws {
        try Apus.reporting {
            let cache = try PackageRoot.find() + "/.cache/guest"
            let paths: GuestPaths
            do {
                paths = try GuestImages.fetch(cacheDir: cache, log: { print($0) })
            } catch let e as GuestImagesError {
                throw ToolFailure(e.description)
            }
            print("kernel:           \(paths.image)")
            print("initrd (demo):    \(paths.initrdDemo)")
            print("initrd (test):    \(paths.initrdTest)")
        }
    }
}
