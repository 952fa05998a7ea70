import ApusCore
import Foundation

/// Where the demo guest's files are once fetched.
struct GuestPaths {
    /// The Debian arm64 cloud kernel, decompressed (arm64 `Image` format).
    var image: String
    /// Interactive initramfs: banner and a shell on the console.
    var initrdDemo: String
    /// Test initramfs: prints APUS-GUEST-UP, CPUS=, DATE0=/DATE1= around `sleep 1`, the "Run /init" line, powers off.
    var initrdTest: String
    /// Benchmark initramfs: prints the "Run /init" line and powers off at once.
    var initrdBench: String
    /// The static arm64 busybox the initramfs images are made of.
    var busybox: String
}

struct GuestImagesError: Error, CustomStringConvertible {
    var description: String
}

/// Fetches the demo guest: Debian's arm64 cloud kernel and static busybox, through apt with arm64 package
/// lists kept in the cache (the host's apt setup is not touched), then builds the initramfs images.
///
/// Layout of `cacheDir` (by convention `<repo>/.cache/guest`):
///
///     apt/lists, apt/cache   arm64 package lists and apt's cache
///     debs/                  the downloaded .deb files
///     root/                  the unpacked packages
///     Image, busybox         the kernel (decompressed) and busybox
///     initrd-demo.cpio, initrd-test.cpio
///
/// Every step is skipped when its output exists; the initramfs images are rebuilt (cheaply, in memory)
/// and only rewritten when their content changed, so editing the /init scripts takes effect.
struct GuestImages {
    static let kernelMetaPackage = "linux-image-cloud-arm64"
    static let busyboxPackage = "busybox-static"

    static func fetch(cacheDir: String, log: (String) -> Void) throws -> GuestPaths {
        let cache = URL(fileURLWithPath: cacheDir).standardizedFileURL.path
        let fm = FileManager.default
        let paths = GuestPaths(image: cache + "/Image", initrdDemo: cache + "/initrd-demo.cpio",
                               initrdTest: cache + "/initrd-test.cpio", initrdBench: cache + "/initrd-bench.cpio",
                               busybox: cache + "/busybox")
        try fm.createDirectory(atPath: cache, withIntermediateDirectories: true)

        if !fm.fileExists(atPath: paths.image) || !fm.fileExists(atPath: paths.busybox) {
            try fetchPackages(cache: cache, paths: paths, log: log)
        } else {
            log("[fetch] kernel and busybox: cached in \(cache)")
        }

        let busybox = try [UInt8](Data(contentsOf: URL(fileURLWithPath: paths.busybox)))
        try writeIfChanged(paths.initrdDemo, GuestInitramfs.demo(busybox: busybox), log: log)
        try writeIfChanged(paths.initrdTest, GuestInitramfs.test(busybox: busybox), log: log)
        try writeIfChanged(paths.initrdBench, GuestInitramfs.bench(busybox: busybox), log: log)
        return paths
    }

    // MARK: - Steps

    private static func fetchPackages(cache: String, paths: GuestPaths, log: (String) -> Void) throws {
        for tool in ["apt-get", "apt-cache", "dpkg-deb", "zcat"] where findTool(tool) == nil {
            throw GuestImagesError(description:
                "\(tool) not found: fetching the demo guest needs apt and dpkg (a Debian or Ubuntu host) and gzip")
        }
        let fm = FileManager.default
        let lists = cache + "/apt/lists", aptCache = cache + "/apt/cache", debs = cache + "/debs"
        for dir in [lists + "/partial", aptCache + "/archives/partial", debs] {
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        // The same options as the Xen anchor script: arm64 lists of their own, the host's apt unchanged.
        let apt = ["-oAPT::Architecture=arm64", "-oAPT::Architectures=arm64",
                   "-oDir::State::Lists=" + lists, "-oDir::Cache=" + aptCache]

        var listsFresh = false
        let haveLists = (try? fm.contentsOfDirectory(atPath: lists))?.contains { $0.contains("binary-arm64_Packages") } ?? false
        if haveLists {
            log("[fetch] apt lists (arm64): cached")
        } else {
            log("[fetch] apt lists (arm64)…")
            try run("apt-get", apt + ["-q", "update"])
            listsFresh = true
        }

        log("[fetch] resolving \(kernelMetaPackage)…")
        var kernelPackage = try resolveKernel(apt)
        log("[fetch] kernel package: \(kernelPackage)")

        var wanted = [kernelPackage, busyboxPackage]
        do {
            try download(wanted, into: debs, apt: apt, log: log)
        } catch where !listsFresh {
            // Cached lists can name a version the archive no longer has: refresh once and retry.
            log("[fetch] download failed with cached lists; refreshing apt lists (arm64)…")
            try run("apt-get", apt + ["-q", "update"])
            kernelPackage = try resolveKernel(apt)
            wanted = [kernelPackage, busyboxPackage]
            try download(wanted, into: debs, apt: apt, log: log)
        }

        log("[fetch] unpacking \(wanted.joined(separator: ", "))…")
        let root = cache + "/root"
        try? fm.removeItem(atPath: root)
        try fm.createDirectory(atPath: root, withIntermediateDirectories: true)
        for package in wanted {
            guard let deb = try cachedDeb(package, in: debs) else {
                throw GuestImagesError(description: "\(package): no .deb in \(debs) after download")
            }
            try run("dpkg-deb", ["-x", deb, root])
        }

        log("[fetch] kernel Image…")
        let boot = root + "/boot"
        guard let vmlinuz = try fm.contentsOfDirectory(atPath: boot).sorted().first(where: { $0.hasPrefix("vmlinuz-") })
        else { throw GuestImagesError(description: "no vmlinuz-* in \(boot) (package \(kernelPackage))") }
        try decompressKernel(boot + "/" + vmlinuz, to: paths.image)

        log("[fetch] busybox…")
        let bb = root + "/bin/busybox"
        guard fm.fileExists(atPath: bb) else {
            throw GuestImagesError(description: "no bin/busybox in \(busyboxPackage)")
        }
        try? fm.removeItem(atPath: paths.busybox)
        try fm.copyItem(atPath: bb, toPath: paths.busybox)
        try fm.setAttributes([.posixPermissions: 0o755], ofItemAtPath: paths.busybox)
        try? fm.removeItem(atPath: root) // the unpacked trees are large and no longer needed
    }

    /// The versioned kernel package the meta-package depends on, e.g. `linux-image-6.1.0-37-cloud-arm64`.
    private static func resolveKernel(_ apt: [String]) throws -> String {
        let out = try run("apt-cache", apt + ["depends", kernelMetaPackage])
        for line in out.split(separator: "\n") {
            let words = line.split(separator: " ")
            if words.count >= 2, words[0].hasSuffix("Depends:"), words[1].hasPrefix("linux-image-") {
                return String(words[1])
            }
        }
        throw GuestImagesError(description: "apt-cache depends \(kernelMetaPackage) named no linux-image package:\n\(out)")
    }

    private static func download(_ packages: [String], into debs: String, apt: [String], log: (String) -> Void) throws {
        var missing: [String] = []
        for p in packages where try cachedDeb(p, in: debs) == nil { missing.append(p) }
        if missing.isEmpty {
            log("[fetch] packages: cached")
            return
        }
        log("[fetch] downloading \(missing.joined(separator: ", "))…")
        try run("apt-get", apt + ["-q", "download"] + missing, in: debs)
    }

    /// A downloaded `<package>_<version>_arm64.deb` in `debs` (the newest by name if several).
    private static func cachedDeb(_ package: String, in debs: String) throws -> String? {
        let names = try FileManager.default.contentsOfDirectory(atPath: debs)
        return names.filter { $0.hasPrefix(package + "_") && $0.hasSuffix(".deb") }.sorted().last.map { debs + "/" + $0 }
    }

    /// Debian's arm64 vmlinuz is a gzip-compressed `Image`; a raw Image is copied as is.
    private static func decompressKernel(_ vmlinuz: String, to image: String) throws {
        let fm = FileManager.default
        let head = try FileHandle(forReadingFrom: URL(fileURLWithPath: vmlinuz)).read(upToCount: 64) ?? Data()
        let tmp = image + ".part"
        try? fm.removeItem(atPath: tmp)
        if head.count >= 2 && head[head.startIndex] == 0x1F && head[head.startIndex + 1] == 0x8B {
            _ = fm.createFile(atPath: tmp, contents: nil)
            let out = try FileHandle(forWritingTo: URL(fileURLWithPath: tmp))
            defer { try? out.close() }
            try run("zcat", [vmlinuz], stdout: out)
        } else {
            try fm.copyItem(atPath: vmlinuz, toPath: tmp)
        }
        // arm64 Image header: "ARM\x64" at offset 0x38.
        let check = try FileHandle(forReadingFrom: URL(fileURLWithPath: tmp)).read(upToCount: 64) ?? Data()
        guard check.count >= 0x3C, Array(check[(check.startIndex + 0x38)..<(check.startIndex + 0x3C)]) == [0x41, 0x52, 0x4D, 0x64]
        else {
            try? fm.removeItem(atPath: tmp)
            throw GuestImagesError(description:
                "\(vmlinuz) is not a gzip-compressed or raw arm64 Image (EFI zboot kernels are not handled)")
        }
        try? fm.removeItem(atPath: image)
        try fm.moveItem(atPath: tmp, toPath: image)
    }

    private static func writeIfChanged(_ path: String, _ bytes: [UInt8], log: (String) -> Void) throws {
        let name = (path as NSString).lastPathComponent
        let data = Data(bytes)
        if let old = FileManager.default.contents(atPath: path), old == data {
            log("[fetch] \(name): up to date (\(bytes.count) bytes)")
            return
        }
        log("[fetch] \(name) (\(bytes.count) bytes)…")
        try data.write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    // MARK: - Processes

    private static func findTool(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
        for dir in path.split(separator: ":") where !dir.isEmpty {
            let candidate = dir + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Runs a tool, returning its standard output; a non-zero exit throws with the tail of its error output.
    @discardableResult
    private static func run(_ tool: String, _ arguments: [String], in directory: String? = nil,
                            stdout: FileHandle? = nil) throws -> String {
        guard let executable = findTool(tool) else {
            throw GuestImagesError(description: "\(tool) not found in PATH")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        if let directory { p.currentDirectoryURL = URL(fileURLWithPath: directory) }
        var env = ProcessInfo.processInfo.environment
        env["DEBIAN_FRONTEND"] = "noninteractive"
        env["LC_ALL"] = "C"
        p.environment = env
        p.standardInput = FileHandle.nullDevice
        let outPipe = Pipe(), errPipe = Pipe()
        p.standardOutput = stdout ?? outPipe
        p.standardError = errPipe
        try p.run()
        // Drain standard error on another thread so a chatty tool cannot block on a full pipe.
        let errBox = OutputBox()
        Thread { errBox.finish(errPipe.fileHandleForReading.readDataToEndOfFile()) }.start()
        let out = stdout == nil ? outPipe.fileHandleForReading.readDataToEndOfFile() : Data()
        p.waitUntilExit()
        let errData = errBox.wait()
        guard p.terminationStatus == 0 else {
            let err = String(decoding: errData, as: UTF8.self)
            let tail = err.split(separator: "\n").suffix(8).joined(separator: "\n")
            throw GuestImagesError(description:
                "\(tool) \(arguments.joined(separator: " ")) failed (exit \(p.terminationStatus))\(tail.isEmpty ? "" : ":\n" + tail)")
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Hands a pipe's contents from the reading thread to the caller.
    private final class OutputBox: @unchecked Sendable {
        private let ready = DispatchSemaphore(value: 0)
        private var data = Data()
        func finish(_ d: Data) { data = d; ready.signal() }
        func wait() -> Data { ready.wait(); return data }
    }
}

extension GuestImages {
    static let xenPackage = "xen-hypervisor-4.17-arm64"

    /// Debian's Xen 4.17 hypervisor for arm64 (only `apus bench` needs it: it is the
    /// reference Apus is measured against). Cached as <cache>/xen.
    static func fetchXen(cacheDir: String, log: (String) -> Void) throws -> String {
        let cache = URL(fileURLWithPath: cacheDir).standardizedFileURL.path
        let xen = cache + "/xen"
        let fm = FileManager.default
        if fm.fileExists(atPath: xen) { log("[fetch] Xen 4.17: cached"); return xen }
        let lists = cache + "/apt/lists", aptCache = cache + "/apt/cache", debs = cache + "/debs"
        for dir in [lists + "/partial", aptCache + "/archives/partial", debs] {
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        let apt = ["-oAPT::Architecture=arm64", "-oAPT::Architectures=arm64",
                   "-oDir::State::Lists=" + lists, "-oDir::Cache=" + aptCache]
        if try cachedDeb(xenPackage, in: debs) == nil {
            log("[fetch] downloading \(xenPackage)…")
            if (try? run("apt-get", apt + ["-q", "download", xenPackage], in: debs)) == nil {
                try run("apt-get", apt + ["-q", "update"])
                try run("apt-get", apt + ["-q", "download", xenPackage], in: debs)
            }
        }
        guard let deb = try cachedDeb(xenPackage, in: debs) else {
            throw GuestImagesError(description: "\(xenPackage): no .deb after download")
        }
        let root = cache + "/xen-root"
        try? fm.removeItem(atPath: root)
        try run("dpkg-deb", ["-x", deb, root])
        // boot/ also holds xen-4.17-arm64.config and .efi: take the plain image.
        guard let name = try fm.contentsOfDirectory(atPath: root + "/boot").first(where: {
            $0.hasPrefix("xen-4.17") && !$0.hasSuffix(".config") && !$0.hasSuffix(".efi") }) else {
            throw GuestImagesError(description: "no boot/xen-4.17* in \(xenPackage)")
        }
        try fm.copyItem(atPath: root + "/boot/" + name, toPath: xen)
        try? fm.removeItem(atPath: root)
        log("[fetch] Xen 4.17: \(xen)")
        return xen
    }
}
