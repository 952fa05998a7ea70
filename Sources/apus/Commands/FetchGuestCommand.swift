import ArgumentParser
import Foundation

/// `apus fetch-guest`: the Debian arm64 Linux kernel and the busybox initramfs images the demo and
/// the tests use (the Xen test guest's with Debian's xenstore tools).
struct FetchGuestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch-guest",
        abstract: "Download the Linux guest (kernel, busybox, xenstore tools) into .cache/guest.",
        discussion: "Each step is skipped when its output is already there.")

    func run() throws {
        try Apus.reporting {
            let cache = try PackageRoot.find() + "/.cache/guest"
            let paths: GuestPaths
            let initrdXen: String
            do {
                paths = try GuestImages.fetch(cacheDir: cache, log: { print($0) })
                initrdXen = try GuestImages.fetchXenGuest(cacheDir: cache, log: { print($0) })
            } catch let e as GuestImagesError {
                throw ToolFailure(e.description)
            }
            print("kernel:           \(paths.image)")
            print("initrd (demo):    \(paths.initrdDemo)")
            print("initrd (test):    \(paths.initrdTest)")
            print("initrd (bench):   \(paths.initrdBench)")
            print("initrd (xen):     \(initrdXen)")
        }
    }
}
