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
        let (apt, debs, haveLists) = try privateApt(cache)

        var listsFresh = false
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

    /// apt with arm64 package lists and cache of our own under `<cache>/apt` (the same options
    /// as the Xen anchor script), so the host's apt configuration is never touched. Returns
    /// its options, the folder .deb files go to, and whether the lists were fetched before.
    private static func privateApt(_ cache: String) throws -> (options: [String], debs: String, haveLists: Bool) {
        let lists = cache + "/apt/lists", aptCache = cache + "/apt/cache", debs = cache + "/debs"
        for dir in [lists + "/partial", aptCache + "/archives/partial", debs] {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        let options = ["-oAPT::Architecture=arm64", "-oAPT::Architectures=arm64",
                       "-oDir::State::Lists=" + lists, "-oDir::Cache=" + aptCache]
        let haveLists = (try? FileManager.default.contentsOfDirectory(atPath: lists))?
            .contains { $0.contains("binary-arm64_Packages") } ?? false
        return (options, debs, haveLists)
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
        let (apt, debs, _) = try privateApt(cache)
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

// MARK: - Xen test guest

/// The Xen-interface test guest: `initrd-xen.cpio` is busybox plus Debian's own xenstore tools
/// (`xenstore-utils`) with the shared libraries they load, and the Xen driver modules the cloud
/// kernel builds as modules. Its /init (`GuestInitramfs.xenInit`) prints `XENTEST` marker lines.
///
/// Extra layout of `cacheDir`:
///
///     xen-guest/             the files the image adds to busybox, laid out as in the guest
///                            (usr/bin/xenstore*, the libraries, /lib/ld-linux-aarch64.so.1,
///                            lib/modules/<release>/..., etc/xen-modules), with a .stamp
///     initrd-xen.cpio
extension GuestImages {
    /// Debian packages the guest's files come from: the tools and the closure of their package
    /// dependencies (libgcc-s1 is libc6's: glibc loads libgcc_s.so.1 itself for pthread_cancel).
    static let xenToolPackages = ["xenstore-utils", "libxenstore4", "libxentoolcore1", "libc6", "libgcc-s1",
                                  // Debian's toolstack for a control domain (xl, xenstored, xenconsoled,
                                  // xen-init-dom0, init-dom0less) and the closure of the libraries they load.
                                  "xen-utils-4.17", "libxenmisc4.17", "libxencall1", "libxendevicemodel1",
                                  "libxenevtchn1", "libxenforeignmemory1", "libxengnttab1", "libxenhypfs1",
                                  "libxentoollog1", "libyajl2", "libfdt1", "libuuid1", "zlib1g",
                                  // xentop (what `xl top` runs)
                                  "libncurses6", "libtinfo6",
                                  // libxl's hotplug scripts for PV disks and networks (/etc/xen/scripts,
                                  // from xen-utils-common) are bash scripts that take their locks with
                                  // flock(1): busybox has neither.
                                  "xen-utils-common", "bash", "util-linux"]
    /// The toolstack's programs, at Debian's paths; `usr/sbin/<name>` links to each (Debian's
    /// wrapper there picks /usr/lib/xen-<major>.<minor> from /sys/hypervisor: here it is fixed).
    static let xenToolstackPrograms = ["xl", "xenstored", "xenconsoled", "xen-init-dom0", "init-dom0less", "xentop"].map { "usr/lib/xen-4.17/bin/" + $0 }
    /// Other programs taken from the packages (at their own paths): what the hotplug scripts run.
    static let hotplugPrograms = ["bin/bash", "usr/bin/flock"]
    /// The hotplug scripts libxl runs for a `disk=` (block) and a `vif=` (vif-bridge), with
    /// the files they source.
    static let hotplugScripts = ["block", "block-common.sh", "hotplugpath.sh", "locking.sh", "logging.sh",
                                 "vif-bridge", "vif-common.sh", "xen-hotplug-common.sh",
                                 "xen-network-common.sh", "xen-script-common.sh"].map { "etc/xen/scripts/" + $0 }
    /// Kernel modules loaded by /init (their `depends=` are added and loaded first). The xenbus
    /// device /dev/xen/xenbus, hvc0 and /sys/hypervisor are built into Debian's cloud kernel.
    /// virtio-mmio, -blk and -net are for a control domain's own devices (`apus run --disk`,
    /// `--hostfwd`); in a domU they find no device and stay idle.
    /// The PV backends (blkback, netback, with loop for file-backed disks and the bridge
    /// vif-bridge adds ports to) serve domUs from a control domain; the PV frontends are
    /// a domU's disks and networks. None of them is autoloaded (there is no udev), so all are
    /// loaded: a backend in a domU, or a frontend with no device, stays idle.
    static let xenModules = ["xen-evtchn", "xenfs", "xen-gntdev", "virtio-mmio", "virtio-blk", "virtio-net",
                             "xen-blkback", "xen-netback", "loop", "bridge", "xen-blkfront", "xen-netfront"]
    /// Libraries glibc opens with dlopen (not in any DT_NEEDED): included when the packages have them.
    static let xenDlopened = ["libgcc_s.so.1"]
    /// Where the dynamic loader looks without an ld.so.cache (Debian's multiarch directories first).
    static let librarySearchPath = ["lib/aarch64-linux-gnu", "usr/lib/aarch64-linux-gnu", "lib", "usr/lib"]
    /// Bumped when the selection logic changes, so a cached xen-guest/ is rebuilt.
    static let xenGuestLayoutVersion = 6
    /// Debian's Xen public headers (`usr/include/xen`), unpacked to `<cache>/xen-include` for
    /// the test that checks Apus's domctl/sysctl layouts against them (XenHeaderLayoutTests);
    /// not part of any guest.
    static let xenHeaderPackage = "libxen-dev"

    /// Builds `<cache>/initrd-xen.cpio` (after `fetch`, which provides the kernel and busybox).
    /// Returns its path.
    static func fetchXenGuest(cacheDir: String, log: (String) -> Void) throws -> String {
        let cache = URL(fileURLWithPath: cacheDir).standardizedFileURL.path
        let image = cache + "/Image", busyboxPath = cache + "/busybox"
        let output = cache + "/initrd-xen.cpio"
        let staging = cache + "/xen-guest"
        let fm = FileManager.default
        guard fm.fileExists(atPath: image), fm.fileExists(atPath: busyboxPath) else {
            throw GuestImagesError(description: "the kernel and busybox must be fetched before the Xen test guest")
        }
        let release = try kernelRelease(image)
        let stamp = """
            layout \(xenGuestLayoutVersion)
            kernel \(release)
            packages \(xenToolPackages.joined(separator: " "))
            modules \(xenModules.joined(separator: " "))

            """
        if fm.contents(atPath: staging + "/.stamp") == Data(stamp.utf8),
           fm.fileExists(atPath: cache + "/xen-include/xen/domctl.h") {
            log("[fetch] Xen guest files (xenstore tools, modules for \(release)): cached")
        } else {
            try stageXenGuest(cache: cache, staging: staging, release: release, log: log)
            try Data(stamp.utf8).write(to: URL(fileURLWithPath: staging + "/.stamp"))
        }

        let busybox = try [UInt8](Data(contentsOf: URL(fileURLWithPath: busyboxPath)))
        var extra: [NewcArchive.Entry] = []
        for rel in try treeEntries(staging) {
            let path = staging + "/" + rel
            let attrs = try fm.attributesOfItem(atPath: path)
            let perms = UInt32((attrs[.posixPermissions] as? NSNumber)?.intValue ?? 0o644)
            switch attrs[.type] as? FileAttributeType {
            case .typeDirectory?:
                continue // added (0755) with the first entry inside
            case .typeSymbolicLink?:
                extra.append(NewcArchive.Entry(path: rel, permissions: 0o777,
                                               kind: .symlink(target: try fm.destinationOfSymbolicLink(atPath: path))))
            case .typeRegular?:
                let data = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
                extra.append(NewcArchive.Entry(path: rel, permissions: perms, kind: .file(data)))
            default:
                throw GuestImagesError(description: "\(path): unexpected file type")
            }
        }
        try writeIfChanged(output, GuestInitramfs.xen(busybox: busybox, files: extra), log: log)
        return output
    }

    /// Downloads and unpacks the packages, then copies what the guest needs into `staging`.
    private static func stageXenGuest(cache: String, staging: String, release: String, log: (String) -> Void) throws {
        for tool in ["apt-get", "dpkg-deb"] where findTool(tool) == nil {
            throw GuestImagesError(description: "\(tool) not found: fetching the Xen test guest needs apt and dpkg")
        }
        let fm = FileManager.default
        let (apt, debs, haveLists) = try privateApt(cache)
        let kernelPackage = "linux-image-" + release
        let wanted = xenToolPackages + [kernelPackage, xenHeaderPackage]
        var listsFresh = false
        if !haveLists {
            log("[fetch] apt lists (arm64)…")
            try run("apt-get", apt + ["-q", "update"])
            listsFresh = true
        }
        do {
            try download(wanted, into: debs, apt: apt, log: log)
        } catch where !listsFresh {
            log("[fetch] download failed with cached lists; refreshing apt lists (arm64)…")
            try run("apt-get", apt + ["-q", "update"])
            try download(wanted, into: debs, apt: apt, log: log)
        }

        let unpack = cache + "/xen-unpack"
        try? fm.removeItem(atPath: unpack)
        try? fm.removeItem(atPath: staging)
        defer { try? fm.removeItem(atPath: unpack) } // the kernel tree alone is large
        let tools = unpack + "/tools", kernel = unpack + "/kernel"
        try fm.createDirectory(atPath: tools, withIntermediateDirectories: true)
        try fm.createDirectory(atPath: kernel, withIntermediateDirectories: true)
        try fm.createDirectory(atPath: staging, withIntermediateDirectories: true)
        log("[fetch] unpacking \(xenToolPackages.joined(separator: ", "))…")
        for package in xenToolPackages {
            guard let deb = try cachedDeb(package, in: debs) else {
                throw GuestImagesError(description: "\(package): no .deb in \(debs) after download")
            }
            try run("dpkg-deb", ["-x", deb, tools])
        }

        // Xen's public headers, for the layout test.
        let headers = unpack + "/headers", include = cache + "/xen-include"
        guard let hdeb = try cachedDeb(xenHeaderPackage, in: debs) else {
            throw GuestImagesError(description: "\(xenHeaderPackage): no .deb in \(debs) after download")
        }
        try fm.createDirectory(atPath: headers, withIntermediateDirectories: true)
        try run("dpkg-deb", ["-x", hdeb, headers])
        try? fm.removeItem(atPath: include)
        try fm.createDirectory(atPath: include, withIntermediateDirectories: true)
        try fm.copyItem(atPath: headers + "/usr/include/xen", toPath: include + "/xen")
        log("[fetch] Xen public headers: \(include)/xen")

        // The tools: /usr/bin/xenstore and its xenstore-* names (hard links in the package,
        // symbolic links here); links into packages we do not take (xenstore-control) are left out.
        log("[fetch] xenstore tools and the libraries they load…")
        var copied = Set<String>()
        var elfQueue: [String] = []
        var firstOfInode: [Int: String] = [:]
        let bin = "usr/bin"
        for name in try fm.contentsOfDirectory(atPath: tools + "/" + bin).sorted() where name.hasPrefix("xenstore") {
            let rel = bin + "/" + name
            let attrs = try fm.attributesOfItem(atPath: tools + "/" + rel)
            if attrs[.type] as? FileAttributeType == .typeSymbolicLink {
                // xenstore-control links to Debian's wrapper script (xen-utils-common), which
                // picks a versioned directory that xenstore-utils does not ship.
                guard let chain = resolve(rel, in: tools), !chain.last!.hasPrefix("usr/lib/xen-common/") else {
                    log("[fetch]   leaving out \(rel) (links outside the packages)")
                    continue
                }
                try stage(chain, from: tools, to: staging, copied: &copied)
                elfQueue.append(chain.last!)
                continue
            }
            let inode = (attrs[.systemFileNumber] as? NSNumber)?.intValue ?? -1
            if let first = firstOfInode[inode] {
                try fm.createSymbolicLink(atPath: staging + "/" + rel, withDestinationPath: (first as NSString).lastPathComponent)
                copied.insert(rel)
            } else {
                firstOfInode[inode] = rel
                try stage([rel], from: tools, to: staging, copied: &copied)
                elfQueue.append(rel)
            }
        }
        guard !elfQueue.isEmpty else { throw GuestImagesError(description: "xenstore-utils has no usr/bin/xenstore*") }
        try fm.createDirectory(atPath: staging + "/usr/sbin", withIntermediateDirectories: true)
        for rel in xenToolstackPrograms {
            guard let chain = resolve(rel, in: tools) else { throw GuestImagesError(description: "xen-utils-4.17 has no \(rel)") }
            try stage(chain, from: tools, to: staging, copied: &copied)
            elfQueue.append(chain.last!)
            let name = (rel as NSString).lastPathComponent
            try fm.createSymbolicLink(atPath: staging + "/usr/sbin/" + name, withDestinationPath: "../lib/xen-4.17/bin/" + name)
            copied.insert("usr/sbin/" + name)
        }

        for rel in hotplugPrograms {
            guard let chain = resolve(rel, in: tools) else { throw GuestImagesError(description: "no \(rel) in the packages") }
            try stage(chain, from: tools, to: staging, copied: &copied)
            elfQueue.append(chain.last!)
        }
        for rel in hotplugScripts {
            guard let chain = resolve(rel, in: tools) else { throw GuestImagesError(description: "xen-utils-common has no \(rel)") }
            try stage(chain, from: tools, to: staging, copied: &copied)
        }

        // What ldd would list: the program interpreter and the DT_NEEDED closure, found the way
        // ld.so finds them without a cache (its default directories), symbolic links included.
        func library(_ soname: String, neededBy who: String) throws -> [String] {
            for dir in librarySearchPath {
                if let chain = resolve(dir + "/" + soname, in: tools) { return chain }
            }
            throw GuestImagesError(description: "\(soname), needed by \(who), is in none of \(xenToolPackages.joined(separator: ", "))")
        }
        for soname in xenDlopened {
            let chain = try library(soname, neededBy: "glibc (dlopen)")
            try stage(chain, from: tools, to: staging, copied: &copied)
            elfQueue.append(chain.last!)
        }
        var scanned = Set<String>()
        while let rel = elfQueue.popLast() {
            guard scanned.insert(rel).inserted else { continue }
            let info: ELFDependencies
            do { info = try ELFDependencies.read(tools + "/" + rel) } catch { throw GuestImagesError(description: "\(rel): \(error)") }
            var chains: [[String]] = []
            if let interp = info.interpreter {
                let relInterp = String(interp.drop(while: { $0 == "/" }))
                guard let chain = resolve(relInterp, in: tools) else {
                    throw GuestImagesError(description: "\(rel): interpreter \(interp) is not in libc6")
                }
                chains.append(chain)
            }
            for soname in info.needed { chains.append(try library(soname, neededBy: rel)) }
            for chain in chains {
                try stage(chain, from: tools, to: staging, copied: &copied)
                elfQueue.append(chain.last!)
            }
        }
        for rel in copied.sorted() { log("[fetch]   /\(rel)") }

        // Kernel modules, from the package of the kernel the Image is.
        log("[fetch] kernel modules for \(release): \(xenModules.joined(separator: ", "))…")
        guard let kdeb = try cachedDeb(kernelPackage, in: debs) else {
            throw GuestImagesError(description: "\(kernelPackage): no .deb in \(debs)")
        }
        try run("dpkg-deb", ["-x", kdeb, kernel])
        let modulesDir = "lib/modules/" + release
        var byName: [String: String] = [:] // module name with '-' → path relative to kernel root
        if let walker = fm.enumerator(atPath: kernel + "/" + modulesDir) {
            while let item = walker.nextObject() as? String {
                let base = (item as NSString).lastPathComponent
                for suffix in [".ko", ".ko.xz", ".ko.zst", ".ko.gz"] where base.hasSuffix(suffix) {
                    byName[String(base.dropLast(suffix.count)).replacingOccurrences(of: "_", with: "-")] = modulesDir + "/" + item
                }
            }
        }
        var order: [String] = []
        var visiting = Set<String>()
        func add(_ module: String) throws {
            let name = module.replacingOccurrences(of: "_", with: "-")
            if order.contains(name) { return }
            guard visiting.insert(name).inserted else { throw GuestImagesError(description: "module dependency loop at \(name)") }
            guard let rel = byName[name] else {
                throw GuestImagesError(description: "module \(name) is not in \(kernelPackage)")
            }
            guard rel.hasSuffix(".ko") else {
                throw GuestImagesError(description: "\(rel): compressed modules are not handled (busybox insmod loads plain .ko)")
            }
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: kernel + "/" + rel)))
            for dep in modinfo(bytes, "depends").split(separator: ",") where !dep.isEmpty { try add(String(dep)) }
            try stage([rel], from: kernel, to: staging, copied: &copied)
            order.append(name)
        }
        for m in xenModules { try add(m) }
        let list = order.map { "/" + byName[$0]! + "\n" }.joined()
        try fm.createDirectory(atPath: staging + "/etc", withIntermediateDirectories: true)
        try Data(list.utf8).write(to: URL(fileURLWithPath: staging + "/etc/xen-modules"))
        log("[fetch]   load order: \(order.joined(separator: ", "))")
    }

    /// The release the Image reports ("Linux version 6.1.0-37-cloud-arm64 ..."), which names its package.
    private static func kernelRelease(_ image: String) throws -> String {
        let data = try Data(contentsOf: URL(fileURLWithPath: image), options: .alwaysMapped)
        let marker = Data("Linux version ".utf8)
        guard let r = data.range(of: marker) else {
            throw GuestImagesError(description: "\(image): no \"Linux version\" string")
        }
        var end = r.upperBound
        while end < data.endIndex, data[end] > 0x20, data[end] < 0x7F, end - r.upperBound < 128 { end += 1 }
        let release = String(decoding: data[r.upperBound..<end], as: UTF8.self)
        guard !release.isEmpty else { throw GuestImagesError(description: "\(image): empty kernel release") }
        return release
    }

    /// A `key=value` of a module's .modinfo section (empty if absent).
    private static func modinfo(_ bytes: [UInt8], _ key: String) -> String {
        let pattern = [UInt8(0)] + Array((key + "=").utf8)
        var i = 0
        while i + pattern.count <= bytes.count {
            if bytes[i] == 0, bytes[i + 1] == pattern[1], bytes[(i + 1)..<(i + pattern.count)].elementsEqual(pattern[1...]) {
                var end = i + pattern.count
                while end < bytes.count, bytes[end] != 0 { end += 1 }
                return String(decoding: bytes[(i + pattern.count)..<end], as: UTF8.self)
            }
            i += 1
        }
        return ""
    }

    /// Follows symbolic links of `rel` inside `root` (never the host's tree). Returns every path
    /// visited, the regular file last, or nil if the chain leaves the tree or dangles.
    private static func resolve(_ rel: String, in root: String) -> [String]? {
        let fm = FileManager.default
        var chain: [String] = []
        var current = rel
        for _ in 0..<16 {
            chain.append(current)
            guard let attrs = try? fm.attributesOfItem(atPath: root + "/" + current) else { return nil }
            switch attrs[.type] as? FileAttributeType {
            case .typeRegular?:
                return chain
            case .typeSymbolicLink?:
                guard let dest = try? fm.destinationOfSymbolicLink(atPath: root + "/" + current) else { return nil }
                let joined = dest.hasPrefix("/") ? dest : (current as NSString).deletingLastPathComponent + "/" + dest
                var parts: [Substring] = []
                for c in joined.split(separator: "/") where c != "." {
                    if c == ".." { if parts.popLast() == nil { return nil } } else { parts.append(c) }
                }
                current = parts.joined(separator: "/")
            default:
                return nil
            }
        }
        return nil
    }

    /// Copies paths (files or symbolic links, as they are) from one tree to the same place in another.
    private static func stage(_ paths: [String], from root: String, to staging: String, copied: inout Set<String>) throws {
        let fm = FileManager.default
        for rel in paths where !copied.contains(rel) {
            let src = root + "/" + rel, dst = staging + "/" + rel
            try fm.createDirectory(atPath: (dst as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            if (try fm.attributesOfItem(atPath: src))[.type] as? FileAttributeType == .typeSymbolicLink {
                try fm.createSymbolicLink(atPath: dst, withDestinationPath: try fm.destinationOfSymbolicLink(atPath: src))
            } else {
                try fm.copyItem(atPath: src, toPath: dst)
            }
            copied.insert(rel)
        }
    }

    /// Every path under `root` (relative, sorted, parents before children), except the stamp.
    private static func treeEntries(_ root: String) throws -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: root) else {
            throw GuestImagesError(description: "cannot read \(root)")
        }
        var all: [String] = []
        while let item = walker.nextObject() as? String {
            if item != ".stamp" { all.append(item) }
        }
        return all.sorted()
    }
}

/// The program interpreter and DT_NEEDED names of a 64-bit little-endian ELF file: what `ldd`
/// starts from, read without running anything (the files are arm64, the host need not be).
struct ELFDependencies {
    var interpreter: String?
    var needed: [String]

    static func read(_ path: String) throws -> ELFDependencies {
        let b = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        func fail(_ why: String) -> GuestImagesError { GuestImagesError(description: "\(path): \(why)") }
        func u16(_ o: Int) -> Int { Int(b[o]) | Int(b[o + 1]) << 8 }
        func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }
        func u64(_ o: Int) -> Int { u32(o) | u32(o + 4) << 32 }
        func cString(_ o: Int) throws -> String {
            guard o >= 0, o < b.count else { throw fail("string offset out of range") }
            var e = o
            while e < b.count, b[e] != 0 { e += 1 }
            return String(decoding: b[o..<e], as: UTF8.self)
        }
        guard b.count >= 64, b[0] == 0x7F, b[1] == 0x45, b[2] == 0x4C, b[3] == 0x46 else { throw fail("not an ELF file") }
        guard b[4] == 2, b[5] == 1 else { throw fail("not a 64-bit little-endian ELF file") }
        guard u16(18) == 183 else { throw fail("not an AArch64 ELF file (e_machine \(u16(18)))") }
        let phoff = u64(0x20), phentsize = u16(0x36), phnum = u16(0x38)
        guard phentsize >= 56, phoff + phnum * phentsize <= b.count else { throw fail("bad program headers") }
        var interpreter: String?
        var dynamic: (offset: Int, size: Int)?
        var loads: [(vaddr: Int, offset: Int, size: Int)] = []
        for i in 0..<phnum {
            let h = phoff + i * phentsize
            let type = u32(h), offset = u64(h + 0x08), vaddr = u64(h + 0x10), filesz = u64(h + 0x20)
            switch type {
            case 1: loads.append((vaddr, offset, filesz))           // PT_LOAD
            case 2: dynamic = (offset, filesz)                      // PT_DYNAMIC
            case 3: interpreter = try cString(offset)               // PT_INTERP
            default: break
            }
        }
        guard let dyn = dynamic else { return ELFDependencies(interpreter: interpreter, needed: []) }
        guard dyn.offset + dyn.size <= b.count else { throw fail("PT_DYNAMIC out of range") }
        var strtab: Int?
        var neededOffsets: [Int] = []
        var o = dyn.offset
        while o + 16 <= dyn.offset + dyn.size {
            let tag = u64(o), value = u64(o + 8)
            if tag == 0 { break }                                   // DT_NULL
            if tag == 1 { neededOffsets.append(value) }             // DT_NEEDED
            if tag == 5 { strtab = value }                          // DT_STRTAB (an address)
            o += 16
        }
        guard !neededOffsets.isEmpty else { return ELFDependencies(interpreter: interpreter, needed: []) }
        guard let addr = strtab, let seg = loads.first(where: { addr >= $0.vaddr && addr < $0.vaddr + $0.size }) else {
            throw fail("DT_STRTAB is in no PT_LOAD segment")
        }
        let base = addr - seg.vaddr + seg.offset
        return ELFDependencies(interpreter: interpreter, needed: try neededOffsets.map { try cString(base + $0) })
    }
}
