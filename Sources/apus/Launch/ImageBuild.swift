import Foundation

/// Building the hypervisor image and the bare-metal test guests from the source tree.
struct ImageBuild {
    let root: String

    /// With Apus's lock profiling compiled in (`-D APUS_LOCK_PROFILE`, Latency.swift): the
    /// image prints its longest lock holds and EL2 stretches, at a cost on every trap. Built in
    /// a scratch folder of its own, so the ordinary image is not rebuilt after it.
    var lockProfile = false

    static let scratch = ".build-image"
    var scratchDirectory: String { lockProfile ? ".build-image-profile" : ImageBuild.scratch }
    var elfPath: String { root + "/" + scratchDirectory + "/aarch64-none-none-elf/release/ApusHypervisor" }
    /// The flat image QEMU boots: an arm64 Linux `Image` (start.S has the header), so that `-kernel`
    /// enters it with the DTB's address in x0 as it does for Linux and Xen. Given the ELF instead,
    /// QEMU would load it at its link address but pass no DTB.
    var imagePath: String { elfPath + ".bin" }
    var guestsDirectory: String { root + "/" + ImageBuild.scratch + "/guests" }

    /// Runs the builds. Quiet: their output goes to a log that is shown (its tail) only on failure,
    /// so `apus run` does not bury the console under compiler progress lines. `apus run` needs only
    /// the image (`guests: false`): several runs at once (the system tests) must not rebuild the
    /// test guests under each other's feet.
    func run(quiet: Bool, guests: Bool = true) throws {
        guard let swift = Subprocess.findTool("swift") ?? existing("/opt/swift/usr/bin/swift") else {
            throw ToolFailure("swift not found in PATH (the toolchain is expected in /opt/swift/usr/bin)")
        }
        // guests/build.sh takes clang and lld from the same toolchain as swift.
        var env = ProcessInfo.processInfo.environment
        if env["SWIFT_TOOLCHAIN_BIN"] == nil { env["SWIFT_TOOLCHAIN_BIN"] = (swift as NSString).deletingLastPathComponent }

        try step("hypervisor image", swift,
                 ["build", "-c", "release", "--triple", "aarch64-none-none-elf", "--toolset", "toolset.json",
                  "--product", "ApusHypervisor",
                  // Whole-program LTO across ApusCore, AArch64 and the image: about a sixth
                  // smaller and a tenth fewer instructions on the trap paths.
                  "--experimental-lto-mode=full", "--scratch-path", scratchDirectory]
                    + (lockProfile ? ["-Xswiftc", "-DAPUS_LOCK_PROFILE"] : []),
                 env: env, quiet: quiet)
        let toolchain = (swift as NSString).deletingLastPathComponent
        let objcopy = existing(toolchain + "/llvm-objcopy") ?? "llvm-objcopy"
        // Written aside and renamed: a concurrent run must never boot a half-written image.
        let partial = imagePath + ".partial-\(getpid())"
        try step("flat image", objcopy, ["-O", "binary", elfPath, partial], env: env, quiet: quiet)
        guard rename(partial, imagePath) == 0 else { throw ToolFailure("could not move \(partial) to \(imagePath)") }
        if guests {
            try step("test guests", "/bin/bash", ["guests/build.sh", ImageBuild.scratch + "/guests"], env: env, quiet: quiet)
        }
        guard FileManager.default.fileExists(atPath: imagePath) else {
            throw ToolFailure("the build succeeded but left no image at \(imagePath)")
        }
    }

    private func step(_ what: String, _ tool: String, _ args: [String], env: [String: String], quiet: Bool) throws {
        let log = NSTemporaryDirectory() + "apus-build-\(getpid()).log"
        defer { try? FileManager.default.removeItem(atPath: log) }
        let child = try Subprocess.spawn(tool, args, output: quiet ? .file(log) : .inherit, stdinNull: true,
                                         environment: env, directory: root)
        let end = try child.run()
        guard end == .exited(0) else {
            if quiet, let text = try? String(contentsOfFile: log, encoding: .utf8) {
                let tail = text.split(separator: "\n", omittingEmptySubsequences: false).suffix(40)
                FileHandle.standardError.write(Data((tail.joined(separator: "\n") + "\n").utf8))
            }
            throw ToolFailure("building the \(what) failed (exit status \(end.shellStatus))")
        }
    }

    /// `image` as QEMU must get it: a flat image is used as is, an ELF is converted into `scratch`.
    static func flatImage(_ image: String, scratch: String) throws -> String {
        let head = FileHandle(forReadingAtPath: image).flatMap { try? $0.read(upToCount: 4) } ?? Data()
        guard head == Data([0x7F, 0x45, 0x4C, 0x46]) else { return image }
        let bin = scratch + "/" + (image as NSString).lastPathComponent + ".bin"
        let objcopy = ["/opt/swift/usr/bin/llvm-objcopy"].first { FileManager.default.isExecutableFile(atPath: $0) }
            ?? "llvm-objcopy"
        let end = try Subprocess.spawn(objcopy, ["-O", "binary", image, bin], stdinNull: true).run()
        guard end == .exited(0) else { throw ToolFailure("llvm-objcopy could not make a flat image of \(image)") }
        return bin
    }

    private func existing(_ path: String) -> String? {
        FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }
}
