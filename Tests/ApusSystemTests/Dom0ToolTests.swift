import ApusCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif
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
    /// (which --dry-run keeps), found from the console log path of the printed command.
    static func dryRun(_ s: Scratch, _ args: [String]) throws -> SystemHarness.Run {
        let r = try SystemHarness.launch([SystemHarness.apus, "run", "--dry-run", "--image", s.image] + args,
                                         input: nil, inputDelay: 0)
        if let range = r.stderr.range(of: #"logfile=/[^ ]*/apus-run\.[A-Za-z0-9]+/console\.log"#, options: .regularExpression) {
            let dir = String(r.stderr[range].dropFirst("logfile=".count).dropLast("/console.log".count))
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

    // MARK: the boot DTB for --dom0-kernel

    @Test func dom0OptionsWriteXenBootBindings() throws {
        let s = try Scratch()
        let kernel = try s.link("Image.link", to: try s.file("Image", size: 3 * Self.mib + 123))
        let ramdisk = try s.file("initrd", size: 1_000_000)
        let domUKernel = try s.file("domU-Image", size: 2 * Self.mib + 1)
        let cfg = try s.text("u.cfg", "name = \"u1\"\nmemory = 128\nkernel = \"\(domUKernel)\"\n")
        let r = try Self.dryRun(s, ["--cpus", "2", "--memory", "1024", "--save-dtb", s.savedDTB,
                                    "--dom0-kernel", kernel, "--dom0-ramdisk", ramdisk,
                                    "--dom0-cmdline", "console=hvc0 root=/dev/vda rw",
                                    "--dom0-memory", "256", "--dom0-vcpus", "3", cfg])
        #expect(r.status == 0, "\(r.stderr)")
        let dt = try Self.savedTree(s)
        let chosen = try #require(dt.node(atPath: "/chosen"))
        #expect(chosen.property("xen,xen-bootargs")?.stringValue == "sched=credit2 dom0_mem=256M dom0_max_vcpus=3")
        #expect(chosen.property("xen,dom0-bootargs")?.stringValue == "console=hvc0 root=/dev/vda rw")
        #expect(chosen.property("#address-cells")?.u32() == 2 && chosen.property("#size-cells")?.u32() == 2)

        // Read back as the hypervisor reads it (Xen 4.17's bindings).
        let spec = try #require(try Dom0BootSpec.parse(dt, physicalCPUs: 2, required: true))
        #expect(spec.kernel.size == UInt64(3 * Self.mib + 123))   // the link's target
        #expect(spec.ramdisk?.size == 1_000_000)
        #expect(String(decoding: spec.cmdline, as: UTF8.self) == "console=hvc0 root=/dev/vda rw")
        #expect(spec.memory.amount == 256 << 20)
        #expect(spec.vcpus == 3)
        #expect(spec.scheduler == .credit2)

        // Module nodes: dom0's directly under /chosen with Xen's compatibles, the domU's in its
        // xen,domain node; none overlapping (scan refuses overlaps), all in board RAM.
        let modules = try BootModules.scan(dt)
        #expect(modules.count == 3)
        let dom0Kernel = try #require(modules.first { !$0.domU && $0.kind == .kernel })
        let dom0Node = try #require(dt.node(atPath: dom0Kernel.path))
        #expect(dom0Node.property("compatible")?.stringValues == ["multiboot,kernel", "multiboot,module"])
        #expect(String(decoding: dom0Kernel.path, as: UTF8.self).hasPrefix("/chosen/module@"))
        let rdNode = try #require(modules.first { !$0.domU && $0.kind == .ramdisk }.flatMap { dt.node(atPath: $0.path) })
        #expect(rdNode.property("compatible")?.stringValues == ["multiboot,ramdisk", "multiboot,module"])
        let domU = try #require(modules.first { $0.domU })
        #expect(domU.range.size == UInt64(2 * Self.mib + 1))
        for m in modules {
            #expect(m.range.base >= 0x4000_0000 && m.range.end <= 0x4000_0000 + (1024 << 20))
            #expect(m.range.base % UInt64(2 * Self.mib) == 0)
        }
        // QEMU loads each file where the DTB says.
        let loaders = Self.qemuOptions(r, "-device").filter { $0.hasPrefix("loader,") }
        #expect(loaders.count == 3)
        #expect(loaders.contains("loader,file=\(kernel),addr=0x\(String(dom0Kernel.range.base, radix: 16)),force-raw=on"))
        // No dom0 device was asked for: none on the command line.
        #expect(Self.qemuOptions(r, "-drive").isEmpty && Self.qemuOptions(r, "-netdev").isEmpty)
    }

    @Test func dom0DefaultsAreXensAndNeedNoDomU() throws {
        let s = try Scratch()
        let kernel = try s.file("Image", size: 4096)
        let r = try Self.dryRun(s, ["--cpus", "3", "--save-dtb", s.savedDTB, "--sched", "null", "--dom0-kernel", kernel])
        #expect(r.status == 0, "\(r.stderr)")
        let dt = try Self.savedTree(s)
        #expect(dt.node(atPath: "/chosen")?.property("xen,xen-bootargs")?.stringValue
                == "sched=null dom0_mem=512M dom0_max_vcpus=3")
        let spec = try #require(try Dom0BootSpec.parse(dt, physicalCPUs: 3))
        #expect(String(decoding: spec.cmdline, as: UTF8.self) == "console=hvc0")
        #expect(spec.memory.amount == 512 << 20 && spec.vcpus == 3 && spec.ramdisk == nil && spec.scheduler == .null)
        #expect(try BootModules.scan(dt).count == 1)
    }

    // MARK: dom0's devices

    @Test func dom0DevicesAreVirtioMMIOWithRestrictedLoopbackNetworking() throws {
        let s = try Scratch()
        let kernel = try s.file("Image", size: 4096)
        let a = try s.file("a.img", size: 1 << 20), b = try s.file("b.img", size: 1 << 20)
        let r = try Self.dryRun(s, ["--dom0-kernel", kernel, "--disk", a, "--disk", b + ",ro",
                                    "--hostfwd", "8080:80", "--hostfwd", "2222:22"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(Self.qemuOptions(r, "-drive") == ["if=none,id=disk0,format=raw,file=\(a)",
                                                  "if=none,id=disk1,format=raw,file=\(b),readonly=on"])
        #expect(Self.qemuOptions(r, "-netdev")
                == ["user,id=net0,restrict=on,net=192.0.2.0/24,host=192.0.2.2,dhcpstart=192.0.2.15,hostfwd=tcp:127.0.0.1:8080-:80,hostfwd=tcp:127.0.0.1:2222-:22"])
        // All on the virtio-mmio bus: the disks' devices last first (QEMU gives the first
        // -device the highest transport, Linux names the lowest vda), then one network device.
        #expect(Self.qemuOptions(r, "-device").filter { $0.hasPrefix("virtio") }
                == ["virtio-blk-device,drive=disk1", "virtio-blk-device,drive=disk0", "virtio-net-device,netdev=net0"])
    }

    /// QEMU itself takes the printed command (devices, drives, the restricted network with its
    /// loopback forward): run with `-machine dumpdtb=`, it builds the whole machine (opens the
    /// disks, binds the host port) and exits before any CPU runs.
    @Test func qemuAcceptsTheDom0CommandLine() throws {
        let s = try Scratch()
        let kernel = try s.file("Image", size: 4096)
        let a = try s.file("a.img", size: 1 << 20), b = try s.file("b.img", size: 1 << 20)
        let port = try #require(Self.freeLoopbackPort())
        let r = try Self.dryRun(s, ["--dom0-kernel", kernel, "--disk", a, "--disk", b + ",ro", "--hostfwd", "\(port):80",
                                    "--save-dtb", s.savedDTB])
        #expect(r.status == 0, "\(r.stderr)")
        let line = try #require(r.stderr.split(separator: "\n").first { $0.contains("qemu-system-aarch64 -M") })
        var argv = line.dropFirst("apus: ".count).split(separator: " ").map(String.init)
        #expect(argv.allSatisfy { !$0.hasPrefix("'") }, "a quoted argument: \(line)")
        // The run's folder is gone (dryRun removed it): the console log goes to the scratch folder.
        argv = argv.map { $0.hasPrefix("stdio,id=con") ? "stdio,id=con,signal=off,logfile=\(s.dir.path)/console.log" : $0 }
        let dumped = s.dir.appendingPathComponent("qemu.dtb").path
        let dtbIndex = try #require(argv.firstIndex(of: "-dtb"))
        argv[dtbIndex + 1] = s.savedDTB
        let q = try SystemHarness.launch(argv + ["-machine", "dumpdtb=" + dumped], input: nil, inputDelay: 0)
        #expect(q.status == 0, "QEMU refused the command line: \(q.stderr)")
        // What QEMU hands the hypervisor (QEMU adds its seeds to /chosen) still has dom0.
        let handed = try DeviceTree.parse([UInt8](try #require(FileManager.default.contents(atPath: dumped))))
        #expect(try Dom0BootSpec.parse(handed, physicalCPUs: 2) == Dom0BootSpec.parse(try Self.savedTree(s), physicalCPUs: 2))
        #expect(try Dom0BootSpec.parse(handed, physicalCPUs: 2)?.kernel.size == 4096)
    }

    /// A TCP port nobody listens on at 127.0.0.1 right now (the kernel picks it).
    static func freeLoopbackPort() -> UInt16? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0
            }
        }
        return ok ? UInt16(bigEndian: addr.sin_port) : nil
    }

    // MARK: refusals before QEMU starts

    @Test func badDom0InputIsRefusedWithOneLine() throws {
        let s = try Scratch()
        let kernel = try s.file("Image", size: 3 * Self.mib)
        let ramdisk = try s.file("initrd", size: 4096)
        let disk = try s.file("a.img", size: 1 << 20)
        let cfg = try s.text("u.cfg", "name = \"u1\"\nmemory = 512\nkernel = \"\(kernel)\"\n")
        let missing = s.dir.appendingPathComponent("missing.img").path
        let cases: [([String], String)] = [
            (["--dom0-ramdisk", ramdisk, cfg], "--dom0-ramdisk needs --dom0-kernel"),
            (["--dom0-memory", "256", cfg], "--dom0-memory needs --dom0-kernel"),
            (["--dom0-kernel", kernel, "--dom0-kernel", ramdisk], "two dom0 kernels: --dom0-kernel \(kernel) and --dom0-kernel \(ramdisk)"),
            (["--dom0-kernel", missing], "--dom0-kernel \(missing): no such file"),
            (["--disk", disk, cfg], "--disk needs a dom0"),
            (["--hostfwd", "8080:80", cfg], "--hostfwd needs a dom0"),
            (["--dom0-kernel", kernel, "--disk", missing], "--disk \(missing): no such file"),
            (["--dom0-kernel", kernel, "--disk", s.dir.path], "--disk \(s.dir.path): not a regular file"),
            (["--dom0-kernel", kernel, "--hostfwd", "8080"], "--hostfwd 8080: expected HOSTPORT:GUESTPORT"),
            (["--dom0-kernel", kernel, "--hostfwd", "0:80"], "--hostfwd 0:80: expected HOSTPORT:GUESTPORT"),
            (["--dom0-kernel", kernel, "--hostfwd", "65536:80"], "--hostfwd 65536:80: expected HOSTPORT:GUESTPORT"),
            (["--dom0-kernel", kernel, "--hostfwd", "127.0.0.1:8080:80"], "expected HOSTPORT:GUESTPORT"),
            (["--dom0-kernel", kernel, "--hostfwd", "80:80", "--hostfwd", "80:81"], "host port 80 is already forwarded"),
            (["--dom0-kernel", kernel, "--dom0-vcpus", "129"], "--dom0-vcpus 129: 1 to 128"),
            // 512 MiB board: 66 for Apus, 4 of modules, 442 left.
            (["--memory", "512", "--dom0-kernel", kernel, "--dom0-memory", "443"],
             "--dom0-memory 443: dom0 does not fit: the board's 512 MiB (--memory) minus 66 MiB for Apus and 4 MiB of kernels and ramdisks leaves 442 MiB"),
            // 1024 MiB board with a 512 MiB domU: 66 + 8 of modules + 512 leaves 438.
            (["--memory", "1024", "--dom0-kernel", kernel, "--dom0-memory", "440", cfg],
             "and 512 MiB for the domUs leaves 438 MiB"),
        ]
        for (args, message) in cases {
            let r = try Self.dryRun(s, args)
            Self.expectRefusal(r, message)
        }
        // The same sizes that are refused above fit exactly at the limit.
        let fits = try Self.dryRun(s, ["--memory", "512", "--dom0-kernel", kernel, "--dom0-memory", "442"])
        #expect(fits.status == 0, "\(fits.stderr)")
    }

    // MARK: --dtb with a dom0

    /// A Xen-style boot DTB: /chosen with the given module nodes (2+2 cells) and Xen's command line.
    static func xenDTB(modules: [(kind: String, base: UInt64, size: UInt64)], xenArgs: String? = nil,
                       domU: (base: UInt64, size: UInt64)? = nil) -> [UInt8] {
        func module(_ kind: String, _ base: UInt64, _ size: UInt64) -> DTNode {
            DTNode(name: "module@" + String(base, radix: 16), properties: [
                .strings("compatible", [kind, "multiboot,module"]),
                .reg([RegEntry(address: base, size: size)], addressCells: 2, sizeCells: 2)!,
            ])
        }
        var chosen = DTNode(name: "chosen", properties: [.u32("#address-cells", 2), .u32("#size-cells", 2)])
        if let xenArgs { chosen.properties.append(.string("xen,xen-bootargs", xenArgs)) }
        // Dom0's command line only with a dom0 kernel: on its own it asks for a dom0.
        if modules.contains(where: { $0.kind == "multiboot,kernel" }) {
            chosen.properties.append(.string("xen,dom0-bootargs", "console=hvc0"))
        }
        chosen.children = modules.map { module($0.kind, $0.base, $0.size) }
        if let domU {
            chosen.children.append(DTNode(name: "domU1", properties: [
                .string("compatible", "xen,domain"), .u32("#address-cells", 2), .u32("#size-cells", 2),
                .u64("memory", 256 * 1024), .u32("cpus", 1),
            ], children: [module("multiboot,kernel", domU.base, domU.size)]))
        }
        let root = DTNode(name: "", properties: [.u32("#address-cells", 2), .u32("#size-cells", 2)], children: [chosen])
        return DeviceTree(root: root).serialize()
    }

    @Test func dtbWithDom0IsUsedUnchangedWithItsModulesAndDevices() throws {
        let s = try Scratch()
        let kernel = try s.link("Image.link", to: try s.file("Image", size: 3 * Self.mib))
        let disk = try s.file("a.img", size: 1 << 20)
        let dtb = try s.bytes("boot.dtb", Self.xenDTB(modules: [("multiboot,kernel", 0x4800_0000, UInt64(3 * Self.mib))],
                                                     xenArgs: "dom0_mem=256M dom0_max_vcpus=1"))
        let r = try Self.dryRun(s, ["--dtb", dtb, "--module", "\(kernel)@0x48000000", "--disk", disk + ",ro",
                                    "--hostfwd", "8080:80"])
        #expect(r.status == 0, "\(r.stderr)")
        let i = try #require(r.stderr.range(of: " -dtb "))
        #expect(r.stderr[i.upperBound...].hasPrefix(dtb + " "))
        #expect(Self.qemuOptions(r, "-device").contains("loader,file=\(kernel),addr=0x48000000,force-raw=on"))
        #expect(Self.qemuOptions(r, "-drive") == ["if=none,id=disk0,format=raw,file=\(disk),readonly=on"])
        #expect(Self.qemuOptions(r, "-netdev") == ["user,id=net0,restrict=on,net=192.0.2.0/24,host=192.0.2.2,dhcpstart=192.0.2.15,hostfwd=tcp:127.0.0.1:8080-:80"])
    }

    @Test func badDom0DTBIsRefusedWithOneLine() throws {
        let s = try Scratch()
        let mib = UInt64(Self.mib)
        let kernel = try s.link("Image.link", to: try s.file("Image", size: 3 * Self.mib))
        let disk = try s.file("a.img", size: 1 << 20)
        let twoKernels = try s.bytes("two.dtb", Self.xenDTB(modules: [("multiboot,kernel", 0x4800_0000, mib),
                                                                      ("multiboot,kernel", 0x4900_0000, mib)]))
        let overlapping = try s.bytes("overlap.dtb", Self.xenDTB(modules: [("multiboot,kernel", 0x4800_0000, 2 * mib),
                                                                           ("multiboot,ramdisk", 0x4810_0000, mib)]))
        let noKernel = try s.bytes("nokernel.dtb", Self.xenDTB(modules: [("multiboot,ramdisk", 0x4800_0000, mib)],
                                                               domU: (0x4900_0000, mib)))
        let dom0less = try s.bytes("dom0less.dtb", Self.xenDTB(modules: [], domU: (0x4900_0000, mib)))
        let big = try s.bytes("big.dtb", Self.xenDTB(modules: [("multiboot,kernel", 0x4800_0000, mib)],
                                                     xenArgs: "dom0_mem=1G", domU: (0x4900_0000, mib)))
        let fine = try s.bytes("fine.dtb", Self.xenDTB(modules: [("multiboot,kernel", 0x4800_0000, 3 * mib)]))
        let high = try s.bytes("high.dtb", Self.xenDTB(modules: [("multiboot,kernel", 0x5000_0000, mib)]))
        let cases: [([String], String)] = [
            (["--dtb", twoKernels], "\(twoKernels): dom0: two dom0 kernels, /chosen/module@48000000 and /chosen/module@49000000"),
            (["--dtb", overlapping], "\(overlapping): dom0: boot modules /chosen/module@48000000 and /chosen/module@48100000 overlap"),
            (["--dtb", noKernel], "\(noKernel): dom0: no dom0 kernel"),
            (["--dtb", dom0less, "--disk", disk], "--disk needs a dom0, and \(dom0less) describes none"),
            // 1024 MiB board: 66 for Apus, 4 of modules, 256 for the domU leave 698 MiB.
            (["--memory", "1024", "--dtb", big], "\(big): dom0: dom0_mem is 1024 MiB but only 698 MiB of RAM are free"),
            (["--dtb", fine, "--dom0-kernel", kernel], "--dtb describes dom0 too: give no --dom0-kernel with it"),
            (["--dtb", fine, "--dom0-memory", "64"], "--dtb describes dom0 too: give no --dom0-memory with it"),
            (["--dtb", fine, "--disk", disk + "x"], "--disk \(disk)x: no such file"),
            // The link's target is 3 MiB: at 0x48000000 it overlaps a module at 0x48200000.
            (["--dtb", fine, "--module", "\(kernel)@0x48000000", "--module", "\(disk)@0x48200000"],
             "--module \(disk)@0x48200000 (1048576 bytes) overlaps --module \(kernel)@0x48000000 (3145728 bytes)"),
            // A 256 MiB board's RAM ends at 0x50000000.
            (["--memory", "256", "--dtb", fine, "--module", "\(kernel)@0x4ff00000"],
             "--module \(kernel)@0x4ff00000 (3145728 bytes) is outside the board's RAM (0x40000000-0x50000000, --memory 256)"),
            (["--memory", "256", "--dtb", high], "\(high): boot module /chosen/module@50000000 is outside the board's RAM"),
        ]
        for (args, message) in cases {
            Self.expectRefusal(try Self.dryRun(s, args), message)
        }
    }
}
