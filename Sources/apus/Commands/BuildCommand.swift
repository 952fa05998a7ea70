import ArgumentParser
import Foundation

/// `apus build`: the hypervisor image and the bare-metal test guests.
struct BuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Build the hypervisor image and the test guests.",
        discussion: """
            Runs `swift build` for the aarch64-none-none-elf image in .build-image and guests/build.sh \
            into .build-image/guests. Both are incremental.
            """)

    @Flag(name: .long, help: "Show build output only if the build fails.")
    var quiet = false

    @Flag(name: .long, help: "Compile in lock profiling (as Xen's CONFIG_LOCK_PROFILE): the image prints its longest lock holds and EL2 stretches when a domain ends. Built into .build-image-profile.")
    var lockProfile = false

    func run() throws {
        try Apus.reporting {
            var build = ImageBuild(root: try PackageRoot.find())
            build.lockProfile = lockProfile
            try build.run(quiet: quiet, guests: !lockProfile)
            let elf = try ELFImage(path: build.elfPath)
            let flat = (try? FileManager.default.attributesOfItem(atPath: build.imagePath)[.size] as? NSNumber)?.uint64Value ?? 0
            print("image: \(build.imagePath)")
            print("  \(flat) bytes (\(kib(flat)) KiB) loaded at 0x\(String(elf.start, radix: 16)) "
                  + "(PT_LOAD \(elf.loadableBytes) bytes), \(kib(elf.end - elf.start)) KiB in memory with bss")
            print("  ELF with symbols: \(build.elfPath)")
            if !lockProfile { print("test guests: \(build.guestsDirectory)") }
        }
    }

    private func kib(_ n: UInt64) -> UInt64 { (n + 1023) / 1024 }
}
