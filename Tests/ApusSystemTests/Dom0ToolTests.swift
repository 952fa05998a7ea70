import ApusCore
import Foundation
import Testing

/// `apus run`'s side of the control domain: the boot DTB it writes for `--dom0-kernel` and
/// friends (read back with ApusCore's own Xen-binding parser, as the hypervisor reads it),
/// the QEMU devices of `--disk` / `--hostfwd`, and every refusal before QEMU starts.
/// Nothing here boots: each run is `--dry-run` with a placeholder hypervisor image, so a
/// test costs one QEMU device-tree dump at most.
@Suite(.serialized) struct Dom0ToolTests {
    /// A scratch folder with files of chosen sizes and symbolic links to them.
    final class Scratch {
        let dir: URL
        init() throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("apus-dom0-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(at: dir) }

        /// A file of `size` bytes (a repeating pattern, so its content is not all zeros).
        @discardableResult func file(_ name: String, size: Int) throws -> String {
            let path = dir.appendingPathComponent(name).path
            try Data((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7) }).write(to: URL(fileURLWithPath: path))
            return path
        }
        func link(_ name: String, to target: String) throws -> String {
            let path = dir.appendingPathComponent(name).path
            try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: target)
            return path
        }
        func text(_ name: String, _ content: String) throws -> String {
            let path = dir.appendingPathComponent(name).path
            try content.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        func bytes(_ name: String, _ content: [UInt8]) throws -> String {
            let path = dir.appendingPathComponent(name).path
            try Data(content).write(to: URL(fileURLWithPath: path))
            return path
        }
        var image: String { (try? file("apus.img", size: 64)) ?? "" }
        var savedDTB: String { dir.appendingPathComponent("saved.dtb").path }
    }

    /// `apus run --dry-run --image <placeholder> ARGS`; removes the run's temporary folder
    /// (which --dry-run keeps), found from the `-dtb` path of the printed command.
    static func dryRun(_ s: Scratch, _ args: [String]) throws -> SystemHarness.Run {
        let r = try SystemHarness.launch([SystemHarness.apus, "run", "--dry-run", "--image", s.image] + args,
                                         input: nil, inputDelay: 0)
        if let range = r.stderr.range(of: #"-dtb (/[^ ]*/apus-run\.[A-Za-z0-9]+)/boot\.dtb"#, options: .regularExpression) {
            let dir = String(r.stderr[range].dropFirst("-dtb ".count).dropLast("/boot.dtb".count))
            try? FileManager.default.removeItem(atPath: dir)
        }
        return r
    }

    static func savedTree(_ s: Scratch) throws -> DeviceTree {
        let bytes = try #require(FileManager.default.contents(atPath: s.savedDTB))
        return try DeviceTree.parse([UInt8](bytes))
    }

    /// The `-device`/`-drive`/`-netdev` values of the printed QEMU command, in order.
    static func qemuOptions(_ r: SystemHarness.Run, _ option: String) -> [String] {
        guard let line = r.stderr.split(separator: "\n").first(where: { $0.contains("qemu-system-aarch64") }) else { return [] }
        let words = line.split(separator: " ").map(String.init)
        return words.indices.dropLast().filter { words[$0] == option }.map { words[$0 + 1] }
    }

    /// Exit 2 and one line, `apus: ...` containing `message`, with no QEMU command printed.
    static func expectRefusal(_ r: SystemHarness.Run, _ message: String,
                              sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status == 2, "status \(r.status): \(r.stderr)", sourceLocation: sourceLocation)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines.first?.hasPrefix("apus: ") == true, "\(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.contains(message), "expected '\(message)' in: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(!r.stderr.contains("qemu-system-aarch64 -M"), sourceLocation: sourceLocation)
    }

    static let mib = 1 << 20

    // MARK: symbolic links (the issue's bug)

    @Test func symlinkedDomUModulesAreSizedByTheirTargets() throws {
        let s = try Scratch()
        // Both targets larger than the 2 MiB placement granule: sized by the link (a few
        // dozen bytes), the kernel would get one granule and overlap the ramdisk.
        let kernel = try s.file("Image", size: 3 * Self.mib + 123)
        let ramdisk = try s.file("initrd", size: 5 * Self.mib + 7)
        let cfg = try s.text("d.cfg", """
            name = "linked"
            memory = 64
            kernel = "\(try s.link("Image.link", to: kernel))"
            ramdisk = "\(try s.link("initrd.link", to: ramdisk))"
            """)
        let r = try Self.dryRun(s, ["--save-dtb", s.savedDTB, cfg])
        #expect(r.status == 0, "\(r.stderr)")
        let modules = try BootModules.scan(try Self.savedTree(s))
        let k = try #require(modules.first { $0.kind == .kernel })
        let rd = try #require(modules.first { $0.kind == .ramdisk })
        #expect(k.range.size == UInt64(3 * Self.mib + 123))
        #expect(rd.range.size == UInt64(5 * Self.mib + 7))
        #expect(!k.range.overlaps(rd.range))
        // The loader blobs QEMU gets are the same addresses.
        let loaders = Self.qemuOptions(r, "-device").filter { $0.hasPrefix("loader,") }
        #expect(loaders.contains { $0.contains("addr=0x\(String(k.range.base, radix: 16)),") })
        #expect(loaders.contains { $0.contains("addr=0x\(String(rd.range.base, radix: 16)),") })
    }
}
