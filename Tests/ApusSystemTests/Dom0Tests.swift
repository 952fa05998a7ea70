import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// Debian's unmodified arm64 kernel as the control domain (issue 11): `apus run --dom0-kernel`,
/// the same boot bindings Xen 4.17 reads, dom0 direct-mapped with the board's devices, its
/// console hvc0 over console_io, and two dom0less domUs next to it in the same boot.
@Suite(.serialized) struct Dom0Tests {
    /// One boot shared by the tests below: dom0 runs initrd-xen's checks (without XenStore:
    /// `apus.dom0`, no xenstored runs in it yet), reads its virtio disk and writes to it
    /// (`apus.disk`), and powers off; two bare-metal domUs run beside it (nullcall also
    /// checks that console_io is refused to it).
    /// Dom0's virtio-blk disk (`--disk`): 8 MiB of random bytes with the xlguest image at
    /// 6 MiB (dom0's `xl create` boots it: `apus.xlcreate=<its size>`), and their md5.
    static let disk: (path: String, md5: String, xlguestSize: Int) = {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("apus-dom0-disk-\(UUID().uuidString).img").path
        var g = SystemRandomNumberGenerator()
        var bytes = (0..<(8 << 20) / 8).flatMap { _ in withUnsafeBytes(of: g.next()) { Array($0) } }
        let image = [UInt8](FileManager.default.contents(atPath: SystemHarness.guestImage("xlguest")) ?? Data())
        if !image.isEmpty && image.count <= 1 << 20 { bytes.replaceSubrange((6 << 20)..<((6 << 20) + image.count), with: image) }
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return (path, md5(bytes), image.count)
    }()

    /// Dom0's second disk: Debian's kernel at 0 and the test initrd at the next MiB, for the
    /// domU dom0's `xl create` boots (`apus.xllinux=<kernel bytes>,<initrd bytes>`), then
    /// initrd-xen at the MiB after it (`xenAt`, in MiB), for the domU with PV devices
    /// (`apus.pv=<kernel bytes>:<xenAt>:<its bytes>`).
    static let domUDisk: (path: String, kernel: Int, initrd: Int, xenAt: Int, xenInitrd: Int) = {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("apus-domu-disk-\(UUID().uuidString).img").path
        let kernel = [UInt8](FileManager.default.contents(atPath: SystemHarness.debian("Image")) ?? Data())
        let initrd = [UInt8](FileManager.default.contents(atPath: SystemHarness.debian("initrd-test.cpio")) ?? Data())
        let xen = [UInt8](FileManager.default.contents(atPath: SystemHarness.debian("initrd-xen.cpio")) ?? Data())
        func pad(_ b: inout [UInt8]) { b += [UInt8](repeating: 0, count: ((1 << 20) - b.count % (1 << 20)) % (1 << 20)) }
        var bytes = kernel
        pad(&bytes)
        bytes += initrd
        pad(&bytes)
        let xenAt = bytes.count >> 20
        bytes += xen
        pad(&bytes)
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return (path, kernel.count, initrd.count, xenAt, xen.count)
    }()

    /// Dom0's third disk: 256 MiB of random bytes, the xl-created domU's PV disk xvda
    /// (`phy:/dev/vdc`), and their md5.
    static let pvDisk: (path: String, md5: String) = {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("apus-pv-disk-\(UUID().uuidString).img").path
        FileManager.default.createFile(atPath: path, contents: nil)
        if let out = FileHandle(forWritingAtPath: path), let random = FileHandle(forReadingAtPath: "/dev/urandom") {
            for _ in 0..<256 { out.write(random.readData(ofLength: 1 << 20)) }
            try? out.close(); try? random.close()
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/md5sum")
        p.arguments = [path]
        let pipe = Pipe()
        p.standardOutput = pipe
        try? p.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (path, String(text.prefix(32)))
    }()

    static func md5(_ bytes: [UInt8]) -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/md5sum")
        let inp = Pipe(), out = Pipe()
        p.standardInput = inp; p.standardOutput = out
        try? p.run()
        inp.fileHandleForWriting.write(Data(bytes)); try? inp.fileHandleForWriting.close()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return String(text.prefix(32))
    }

    /// `GET path` at 127.0.0.1:`port` over HTTP/1.0: the whole response, nil when nothing answers.
    static func httpGet(port: UInt16, _ path: String) -> String? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = port.bigEndian
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let ok = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard ok == 0 else { return nil }
        let req = Array("GET \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        guard write(fd, req, req.count) == req.count else { return nil }
        var out: [UInt8] = [], buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &buf, buf.count)
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return out.isEmpty ? nil : String(decoding: out, as: UTF8.self)
    }

    /// The host port forwarded to dom0's port 80 (`--hostfwd`), and what was fetched there
    /// while the board ran (written by the fetching thread, read after the run).
    static let httpPort = UInt16.random(in: 20000...60000)
    nonisolated(unsafe) static var fetchedPage: String? = nil

    static let boot = Result {
        // Fetch dom0's page once it answers, then tell it we are done (/cgi-bin/done).
        Thread.detachNewThread {
            let end = Date().addingTimeInterval(600)      // the image may be built first
            while Date() < end {
                if let r = httpGet(port: httpPort, "/"), r.contains("APUS-DOM0-HTTPD") {
                    fetchedPage = r
                    _ = httpGet(port: httpPort, "/cgi-bin/done")
                    return
                }
                Thread.sleep(forTimeInterval: 1)
            }
        }
        return try SystemHarness.run([
            ("nullcall.cfg", """
            name = "nullcall"
            memory = 32
            kernel = "\(SystemHarness.guestImage("nullcall"))"
            extra = "n=1000"
            """),
            ("vtimer.cfg", """
            name = "vtimer"
            memory = 32
            kernel = "\(SystemHarness.guestImage("vtimer"))"
            """),
            // Domain 3, running until the board stops: dom0's xl pauses and unpauses it.
            ("memcheck.cfg", """
            name = "memcheck"
            memory = 32
            kernel = "\(SystemHarness.guestImage("memcheck"))"
            extra = "passes=0"
            """),
            // Domain 4: Debian's Linux with the Xen interfaces (xen_enhanced), its XenStore
            // dom0's xenstored once init-dom0less there has introduced it.
            ("dom0less-linux.cfg", """
            name = "dom0less-linux"
            memory = 192
            kernel = "\(SystemHarness.debian("Image"))"
            ramdisk = "\(SystemHarness.debian("initrd-xen.cpio"))"
            extra = "console=hvc0 apus.xswait"
            """),
        ], arguments: ["--dom0-kernel", SystemHarness.debian("Image"),
                       "--dom0-ramdisk", SystemHarness.debian("initrd-xen.cpio"),
                       "--dom0-cmdline", "console=hvc0 apus.dom0 apus.disk apus.httpd apus.rtc apus.xl apus.xldomu=3 apus.xlcreate=\(disk.xlguestSize) apus.xllinux=\(domUDisk.kernel),\(domUDisk.initrd) apus.pv=\(domUDisk.kernel):\(domUDisk.xenAt):\(domUDisk.xenInitrd)",
                       "--disk", disk.path, "--disk", domUDisk.path, "--disk", pvDisk.path,
                       "--hostfwd", "\(httpPort):80"], timeout: 600)
    }

    /// Debian's own toolstack in dom0 (xen-utils-4.17, unmodified): C xenstored starts and
    /// xen-init-dom0 names dom0 in it, `xl info` reads the board and Xen's version through
    /// sysctl and xen_version, `xl list` lists Domain-0 through getdomaininfolist, and
    /// `xl dmesg` shows the hypervisor's boot lines through readconsole.
    @Test func debiansXenstoredAndXlInfoListAndDmesgRunInDom0() throws {
        let d0 = try Self.boot.get().domainLines(0)
        #expect(d0.contains("XENTEST xenstored ok"), "\(d0.filter { $0.contains("xen") }.suffix(20))")
        #expect(d0.contains { $0.hasPrefix("XENTEST xen-init-dom0 ok") })
        #expect(Self.value("dom0-name", in: d0) == "Domain-0")
        func info(_ key: String) -> String? {
            d0.first { $0.hasPrefix("XENTEST xl-info: \(key) ") }.flatMap { $0.split(separator: ":", maxSplits: 2).last }
                .map { $0.trimmingCharacters(in: .whitespaces) }
        }
        #expect(d0.contains("XENTEST xl-info ok"), "\(d0.filter { $0.contains("xl-info") })")
        #expect(info("xen_major") == "4" && info("xen_minor") == "17")
        #expect(info("xen_scheduler") == "credit2")
        #expect(info("nr_cpus") == "2" && info("threads_per_core") == "1")
        #expect(info("virt_caps") == "hvm hap gnttab-v1")
        #expect(info("total_memory") == "2048", "the board's RAM in MiB")
        #expect(info("xen_caps")?.hasPrefix("xen-3.0-aarch64") == true)
        // Xen's own command line (XENVER_commandline), where libxl looks for dom0_mem=.
        #expect(info("xen_commandline")?.contains("dom0_mem=512M") == true, "\(info("xen_commandline") ?? "none")")
        #expect(d0.contains("XENTEST xl-list ok"), "\(d0.filter { $0.contains("xl-list") })")
        let dom0 = d0.first { $0.hasPrefix("XENTEST xl-list: Domain-0 ") }?.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init) ?? []
        // Name, ID, Mem (MiB), VCPUs, State: dom0 is the one running `xl list`.
        #expect(dom0.count >= 7 && dom0[3] == "0" && dom0[4] == "512" && dom0[5] == "2" && dom0[6].hasPrefix("r"), "\(dom0)")
        // xl dmesg: the hypervisor's own lines from the first (sysctl readconsole).
        let dmesg = d0.filter { $0.hasPrefix("XENTEST xl-dmesg: ") }
        #expect(d0.contains("XENTEST xl-dmesg ok"))
        #expect(dmesg.first?.hasPrefix("XENTEST xl-dmesg: (XEN) Apus ") == true, "\(dmesg.prefix(3))")
        #expect(dmesg.contains { $0.contains("(XEN) d0 (Domain-0): 512 MiB at ") })
    }

    /// `xl pause 3` stops the running memcheck domU (its CPU time stands still and xl list
    /// shows it paused), `xl vcpu-list 3` lists its vCPU, `xl unpause 3` lets it run on, and
    /// its memory is still its own (no "TEST FAIL memcheck").
    @Test func xlPauseStopsADomUAndUnpauseResumesIt() throws {
        let r = try Self.boot.get()
        let d0 = r.domainLines(0)
        #expect(d0.contains("XENTEST xl-pause ok"), "\(d0.filter { $0.contains("xl-") }.suffix(12))")
        // xl warns that it has no /libxl/3/type for a domain it did not create (so on Xen too,
        // for a dom0less domU without init-dom0less): the unpause is done all the same.
        #expect(d0.contains { $0.hasPrefix("XENTEST xl-unpause ok") })
        let times = (Self.value("pause-cputime", in: d0) ?? "").split(separator: ",").compactMap { Double($0) }
        #expect(times.count == 3, "\(Self.value("pause-cputime", in: d0) ?? "none")")
        if times.count == 3 {
            #expect(times[1] == times[0], "no CPU time while paused: \(times)")
            #expect(times[2] > times[1], "running again after the unpause: \(times)")
        }
        let paused = d0.first { $0.hasPrefix("XENTEST xl-list-paused: ") && !$0.contains("Name") }?
            .split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init) ?? []
        #expect(paused.count >= 7 && paused[3] == "3" && paused[6].contains("p"), "\(paused)")
        let vcpu = d0.first { $0.hasPrefix("XENTEST xl-vcpu-list: ") && !$0.contains("Name") }?
            .split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init) ?? []
        // Name ID VCPU CPU State Time(s) Affinity (Hard / Soft)
        #expect(vcpu.count >= 9 && vcpu[3] == "3" && vcpu[4] == "0" && vcpu[8] == "all", "\(vcpu)")
        let memcheck = r.domainLines(3)
        #expect(memcheck.contains { $0.contains("memcheck: pass") }, "\(memcheck.suffix(5))")
        #expect(!memcheck.contains { $0.contains("TEST FAIL") })
    }

    /// After the pause test: `xl sched-credit2` sets and reads back memcheck's weight and
    /// cap, `xl vcpu-pin` pins its vCPU to CPU 1 (xl vcpu-list's hard affinity), and `xl
    /// destroy` ends it: gone from `xl list`, and the hypervisor says why.
    @Test func xlSchedCredit2VcpuPinRenameTopAndDestroyActOnADomU() throws {
        let r = try Self.boot.get()
        let d0 = r.domainLines(0)
        func row(_ name: String) -> [String] {
            d0.first { $0.hasPrefix("XENTEST \(name): ") && !$0.contains("Name") }?
                .split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init) ?? []
        }
        #expect(d0.contains { $0.hasPrefix("XENTEST xl-sched-set ok") }, "\(d0.filter { $0.contains("xl-sched") })")
        // Name ID Weight Cap
        let sched = row("xl-sched")
        #expect(sched.count >= 6 && sched[3] == "3" && sched[4] == "512" && sched[5] == "50", "\(sched)")
        // The pool's rate limit (sysctl scheduler_op): credit2's default, then the one set.
        #expect(d0.contains("XENTEST xl-sched-pool: Cpupool Pool-0: ratelimit=1000us"), "\(d0.filter { $0.contains("xl-sched-pool") })")
        #expect(d0.contains { $0.hasPrefix("XENTEST xl-sched-pool-set ok") })
        #expect(d0.contains("XENTEST xl-sched-pool-after: Cpupool Pool-0: ratelimit=20000us"))
        #expect(d0.contains { $0.hasPrefix("XENTEST xl-vcpu-pin ok") }, "\(d0.filter { $0.contains("xl-vcpu-pin") })")
        // Name ID VCPU CPU State Time(s) Affinity (Hard / Soft)
        let pinned = row("xl-vcpu-pinned")
        #expect(pinned.count >= 9 && pinned[3] == "3" && pinned[8] == "1", "\(pinned)")
        // xl rename: the new name in xl list; xl top's xentop (batch, one round) lists it
        // (its NAME column is 10 wide) and dom0 with their memory in KiB.
        #expect(d0.contains { $0.hasPrefix("XENTEST xl-rename ok") }, "\(d0.filter { $0.contains("xl-rename") })")
        let renamed = row("xl-list-renamed")
        #expect(renamed.count >= 5 && renamed[2] == "apus-renamed" && renamed[3] == "3", "\(renamed)")
        #expect(d0.contains("XENTEST xl-top ok"), "\(d0.filter { $0.contains("xl-top") })")
        let top = d0.filter { $0.hasPrefix("XENTEST xl-top: ") }.map { $0.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init) }
        #expect(top.contains { $0.count > 5 && $0[2] == "apus-renam" && $0[6] == "32768" }, "\(top)")
        #expect(top.contains { $0.count > 5 && $0[2] == "Domain-0" && $0[6] == "524288" }, "\(top)")
        #expect(d0.contains { $0.hasPrefix("XENTEST xl-destroy ok") }, "\(d0.filter { $0.contains("xl-destroy") })")
        #expect(r.contains("(XEN) d3 (memcheck): destroyed by the toolstack"))
        let after = d0.filter { $0.hasPrefix("XENTEST xl-list-after: ") }
        #expect(d0.contains("XENTEST xl-list-after ok") && after.contains { $0.contains("Domain-0") })
        #expect(!after.contains { $0.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst(3).first == "3" }, "\(after)")
    }

    /// `xl create` in dom0 builds a domain from an xl.cfg (Debian's libxl: createdomain,
    /// populate_physmap, foreign mappings of its memory, grant seeding through
    /// acquire_resource, setvcpucontext, unpause): it runs, `xl list` shows it with its 32
    /// MiB and one vCPU, its console lines reach xenconsoled's log through its PV console
    /// ring (grant-mapped by xenconsoled), and when it powers off the hypervisor leaves it to
    /// xl, which destroys it (on_poweroff="destroy"); its memory goes back to the board.
    @Test func xlCreateBuildsADomainWhoseConsoleReachesXenconsoledAndXlDestroysItAtPowerOff() throws {
        let r = try Self.boot.get()
        let d0 = r.domainLines(0)
        #expect(Self.disk.xlguestSize > 0, "the xlguest image is built")
        #expect(d0.contains("XENTEST xenconsoled ok"), "\(d0.filter { $0.contains("xenconsoled") })")
        #expect(d0.contains { $0.hasPrefix("XENTEST xl-create ok") }, "\(d0.filter { $0.contains("xl-create") })")
        // Name ID Mem VCPUs State Time(s)
        let row = d0.first { $0.hasPrefix("XENTEST xl-list-created: xlguest ") }?
            .split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init) ?? []
        #expect(row.count >= 8 && row[4] == "32" && row[5] == "1", "\(row)")
        let id = row.count > 3 ? row[3] : "?"
        #expect(r.contains("(XEN) d\(id): created by the toolstack, 1 vCPU(s)"))
        let console = d0.filter { $0.hasPrefix("XENTEST xlguest-console: ") }.map { String($0.dropFirst("XENTEST xlguest-console: ".count)) }
        #expect(console.contains("xlguest: console ring at gfn 39000, event channel 2"), "\(console)")
        #expect(console.contains("xlguest: memory 40000000+20 MiB"), "\(console)")
        #expect(console.contains("xlguest: running on Xen 4.17"))
        #expect(console.contains("TEST PASS xlguest"), "\(console)")
        #expect(r.contains("(XEN) d\(id) (domain-\(id)): powered off, left to the toolstack"))
        #expect(r.contains("(XEN) d\(id) (domain-\(id)): destroyed by the toolstack"))
        #expect(r.contains("(XEN) d\(id): memory returned (32 MiB)"), "its bank trimmed to the 32 MiB xl populated")
        let after = d0.filter { $0.hasPrefix("XENTEST xl-list-after-poweroff: ") }
        #expect(d0.contains("XENTEST xl-list-after-poweroff ok") && !after.contains { $0.contains("xlguest") }, "\(after)")
        #expect(!r.output.contains("WARNING: CPU"), "no kernel warning in dom0 (gntdev unmaps of a destroyed domain's ring)")
    }

    /// Twenty more create / power-off / destroy cycles all complete, and `xl info`'s
    /// free_memory is what it was before the first domain was created. The hypervisor's
    /// own heap does not grow with the cycles either: what it has in use when each xlguest
    /// is created (its "created by the toolstack" line) stays within 16 KiB from the third
    /// cycle to the twentieth (a released domain is freed when its slot takes a new one).
    @Test func twentyXlCreateCyclesLeaveFreeMemoryWhereItStarted() throws {
        let r = try Self.boot.get()
        let d0 = r.domainLines(0)
        #expect(Self.value("xl-cycles", in: d0) == "20", "\(d0.filter { $0.contains("xl-") }.suffix(6))")
        let free = (Self.value("xl-free-memory", in: d0) ?? "").split(separator: ",").map(String.init)
        #expect(free.count == 2 && free[0] == free[1] && (Int(free[0]) ?? 0) > 0, "\(free)")
        let heap = r.output.split(whereSeparator: \.isNewline).filter { $0.contains(": created by the toolstack, 1 vCPU(s) (hypervisor heap in use: ") }
            .compactMap { Int($0.split(separator: ":").last?.split(separator: " ").first ?? "") }
        // xlguest, then its twenty cycles, then the crashing one's restarts.
        #expect(heap.count >= 21, "\(heap)")
        // A leak of a domain's objects was 16 KiB a cycle; a table of dom0's growing by a
        // page now and then is not one.
        if heap.count >= 21 { #expect(heap[20] - heap[2] <= 16, "heap in use (KiB) at each create: \(heap)") }
    }

    /// xlguest with `crash=1` and on_crash="restart": it reports a crash at every boot
    /// (SCHEDOP_shutdown, SHUTDOWN_crash), the hypervisor leaves it to xl, and xl makes a
    /// new domain of it each time (it comes back) until `xl destroy`; free memory is then
    /// what it was before any xl create.
    @Test func xlRestartsADomainThatCrashesWhenOnCrashSaysRestart() throws {
        let r = try Self.boot.get()
        let d0 = r.domainLines(0)
        #expect(d0.contains { $0.hasPrefix("XENTEST xl-create-crashing ok") }, "\(d0.filter { $0.contains("crash") })")
        let crashed = r.output.split(whereSeparator: \.isNewline).filter { $0.hasSuffix("): crashed, left to the toolstack") || $0.hasSuffix("): crashed, left to the toolstack\r") }
        let firstID = crashed.first.flatMap { $0.split(separator: " ").dropFirst().first }.flatMap { Int($0.dropFirst()) }
        let later = Int(Self.value("xl-crash-domid", in: d0) ?? "")
        #expect(firstID != nil && later != nil && later! > firstID!, "a new domain after the crash: \(crashed) then \(later.map(String.init) ?? "none")")
        #expect(d0.contains("XENTEST xl-crash-log: Action for shutdown reason code 3 is restart"), "\(d0.filter { $0.contains("xl-crash-log") })")
        let before = (Self.value("xl-free-memory", in: d0) ?? "").split(separator: ",").first.map(String.init)
        #expect(before != nil && Self.value("xl-free-memory-after-crashes", in: d0) == before)
    }

    /// The console lines of the Debian domU, from xenconsoled's log in dom0.
    static func domUConsole(_ d0: [String]) -> [String] {
        d0.filter { $0.hasPrefix("XENTEST debian-console: ") }.map { String($0.dropFirst("XENTEST debian-console: ".count)) }
    }

    /// `xl create` of a Debian domU (Debian's kernel and initrd, 128 MiB, 2 vCPUs): it boots
    /// to its /init with both vCPUs, its console reaching xenconsoled, and `xl list` shows it.
    @Test func xlCreatesADebianDomUWithTwoVCPUsThatBootsOnItsPVConsole() throws {
        let r = try Self.boot.get()
        defer { try? FileManager.default.removeItem(atPath: Self.domUDisk.path) }
        let d0 = r.domainLines(0)
        #expect(Self.domUDisk.kernel > 0 && Self.domUDisk.initrd > 0)
        #expect(d0.contains { $0.hasPrefix("XENTEST xl-create-linux ok") }, "\(d0.filter { $0.contains("linux") }.suffix(8))")
        let id = Self.value("linux-domid", in: d0) ?? "?"
        #expect(r.contains("(XEN) d\(id): created by the toolstack, 2 vCPU(s)"))
        // Name ID Mem VCPUs State Time(s)
        let row = d0.first { $0.hasPrefix("XENTEST xl-list-linux: debian ") }?
            .split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init) ?? []
        #expect(row.count >= 8 && row[3] == id && row[4] == "128", "\(row)")
        // xl uptime: Name ID Uptime, dom0's and the domU's (from the start_time libxl wrote).
        let uptime = d0.filter { $0.hasPrefix("XENTEST xl-uptime-linux: ") }.map { $0.split(separator: " ").map(String.init) }
        #expect(d0.contains("XENTEST xl-uptime-linux ok"), "\(uptime)")
        #expect(uptime.contains { $0.count == 5 && $0[2] == "Domain-0" && $0[3] == "0" && $0[4].contains(":") }, "\(uptime)")
        #expect(uptime.contains { $0.count == 5 && $0[2] == "debian" && $0[3] == id && $0[4].hasPrefix("0:00:") }, "\(uptime)")
        let console = Self.domUConsole(d0)
        #expect(console.contains { $0.contains("xen:grant_table: Grant tables using version 1 layout") }, "\(console)")
        #expect(console.contains { $0.contains("Run /init as init process") })
        #expect(console.contains("APUS-GUEST-UP") && console.contains("CPUS=2"), "\(console)")
    }

    /// `xl pause` stops the Debian domU (`--p---`), `xl unpause` lets it go on, and `xl
    /// vcpu-pin debian 1 0` gives its second vCPU the hard affinity CPU 0.
    @Test func xlPauseUnpauseAndVcpuPinActOnTheDebianDomU() throws {
        let d0 = try Self.boot.get().domainLines(0)
        #expect(d0.contains { $0.hasPrefix("XENTEST xl-pause-linux ok") }, "\(d0.filter { $0.contains("linux") }.suffix(8))")
        let paused = d0.first { $0.hasPrefix("XENTEST xl-list-linux-paused: debian ") }?
            .split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init) ?? []
        #expect(paused.count >= 8 && paused[5] == "2" && paused[6].contains("p"), "\(paused)")
        #expect(d0.contains { $0.hasPrefix("XENTEST xl-unpause-linux ok") })
        #expect(d0.contains { $0.hasPrefix("XENTEST xl-vcpu-pin-linux ok") })
        // Name ID VCPU CPU State Time(s) Affinity (Hard / Soft)
        let vcpu1 = d0.filter { $0.hasPrefix("XENTEST xl-vcpu-list-linux: debian ") }
            .map { $0.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init) }
            .first { $0.count >= 9 && $0[4] == "1" } ?? []
        #expect(vcpu1.count >= 9 && vcpu1[8] == "0", "\(vcpu1)")
    }

    /// `xl reboot`: the domU's orderly reboot reaches the hypervisor, which leaves it to xl,
    /// and xl makes a new domain of it (on_reboot="restart") that boots again. `xl shutdown
    /// -w`: its orderly poweroff, xl waits for it, destroys it, and its memory goes back.
    @Test func xlRebootRecreatesTheDebianDomUAndShutdownWaitsForItsPowerOff() throws {
        let r = try Self.boot.get()
        let d0 = r.domainLines(0)
        let first = Self.value("linux-domid", in: d0) ?? "?", second = Self.value("linux-domid-rebooted", in: d0) ?? "?"
        #expect(d0.contains { $0.hasPrefix("XENTEST xl-reboot-linux ok") }, "\(d0.filter { $0.contains("linux") }.suffix(8))")
        #expect(first != second && Int(second) != nil, "a new domain after the reboot: \(first) -> \(second)")
        #expect(r.contains("(XEN) d\(first) (domain-\(first)): rebooted, left to the toolstack"))
        #expect(r.contains("(XEN) d\(second): created by the toolstack, 2 vCPU(s)"))
        let console = Self.domUConsole(d0)
        let ups = console.filter { $0 == "APUS-GUEST-UP" }.count
        #expect(ups == 2 && console.contains("APUS-GUEST-REBOOT") && console.contains("APUS-GUEST-POWEROFF"), "\(console)")
        #expect(d0.contains { $0.hasPrefix("XENTEST xl-shutdown-linux ok") && $0.contains("Domain \(second) has been shut down, reason code 0") },
                "\(d0.filter { $0.contains("xl-shutdown") })")
        #expect(r.contains("(XEN) d\(second) (domain-\(second)): powered off, left to the toolstack"))
        #expect(r.contains("(XEN) d\(first): memory returned (128 MiB)") && r.contains("(XEN) d\(second): memory returned (128 MiB)"))
        let after = d0.filter { $0.hasPrefix("XENTEST xl-list-after-shutdown: ") }
        #expect(d0.contains("XENTEST xl-list-after-shutdown ok") && !after.contains { $0.contains("debian") }, "\(after)")
    }

    /// The banks of the hypervisor's "d0 (Domain-0): N MiB at 0x... + M MiB at 0x..." line.
    static func banks(in output: String) -> [(base: UInt64, size: UInt64)] {
        guard let line = output.split(separator: "\n").first(where: { $0.contains("(XEN) d0 (Domain-0): ") }),
              let start = line.range(of: "(Domain-0): "), let end = line.range(of: " (1:1)") else { return [] }
        return line[start.upperBound..<end.lowerBound].components(separatedBy: " + ").compactMap { part in
            let w = part.split(separator: " ")
            guard w.count == 4, let mib = UInt64(w[0]), w[3].hasPrefix("0x"), let base = UInt64(w[3].dropFirst(2), radix: 16)
            else { return nil }
            return (base, mib << 20)
        }
    }

    /// initrd-xen's `XENTEST <name>=<value>` lines, read as XenGuestTests reads them.
    static func value(_ name: String, in lines: [String]) -> String? { XenGuestTests.value(name, in: lines) }

    @Test func debianIsTheControlDomainOnHvc0AndItsPowerOffHaltsTheBoard() throws {
        let r = try Self.boot.get()
        let d0 = r.domainLines(0)
        #expect(r.status == 0, "apus run exited \(r.status): \(r.stderr)")
        #expect(r.contains("(XEN) d0 (Domain-0): 512 MiB at "), "\(r.output.suffix(3000))")
        #expect(d0.contains { $0.contains("Xen 4.17 support found") }, "\(d0.suffix(30).joined(separator: "\n"))")
        #expect(d0.contains { $0.contains("Run /init as init process") })
        // Everything came through console_io: hvc0 is the only console.
        #expect(d0.contains { $0.hasPrefix("XENTEST consoles=hvc0") })
        #expect(Self.value("hypervisor-type", in: d0) == "xen")
        // Linux's xen_initial_domain(): XENFEAT_dom0 reached it.
        #expect(Self.value("capabilities", in: d0) == "control_d", "\(d0.filter { $0.contains("FAILED") })")
        #expect(d0.contains("XENTEST end"))
        // Xen's words when dom0 powers off, and the board with it.
        #expect(r.contains("(XEN) Hardware Dom0 halted: halting machine"))
        #expect(!r.contains("PANIC"))
    }

    @Test func dom0RAMIsDirectMappedInOneBankOfTheBoard() throws {
        let r = try Self.boot.get()
        let d0 = r.domainLines(0)
        // The hypervisor's line names the bank; Linux sees the same physical range.
        guard let line = r.output.split(separator: "\n").first(where: { $0.contains("(XEN) d0 (Domain-0): ") }),
              let at = line.range(of: " MiB at 0x") else {
            Issue.record("no dom0 line"); return
        }
        let hex = line[at.upperBound...].prefix { $0.isHexDigit }
        let base = UInt64(hex, radix: 16) ?? 0
        #expect(line.contains("(1:1)"))
        let node = String(format: "node   0: [mem 0x%016llx-0x%016llx]", base, base + (512 << 20) - 1)
        #expect(d0.contains { $0.contains(node) }, "expected '\(node)' in dom0's boot log")
    }

    /// Boot-time domains join dom0's xenstored as on Xen 4.17: Debian's init-dom0less gives
    /// each one with the Xen interfaces a XenStore ring (a page it populates in the domain),
    /// grants it, sets HVM_PARAM_STORE_PFN and introduces the domain, so `xenstore-list
    /// /local/domain` in dom0 shows every domain, named dom0less-<id>. The Linux domU's
    /// xenbus, waiting until then, connects: its own reads and writes go to dom0's
    /// xenstored, and another domain's home stays closed to it.
    @Test func initDom0lessPutsBootTimeDomainsInDom0sXenStoreAndTheirLinuxUsesIt() throws {
        let r = try Self.boot.get()
        let d0 = r.domainLines(0)
        #expect(d0.contains { $0.hasPrefix("XENTEST init-dom0less ok") }, "\(d0.filter { $0.contains("dom0less") })")
        let listed = d0.filter { $0.hasPrefix("XENTEST xs-domain: ") }.map { $0.split(separator: " ").map(String.init) }
        // "XENTEST xs-domain: <id> <name> <store port>"
        #expect(listed.contains { $0.count >= 4 && $0[2] == "0" && $0[3] == "Domain-0" }, "\(listed)")
        for id in ["3", "4"] {
            #expect(listed.contains { $0.count == 5 && $0[2] == id && $0[3] == "dom0less-\(id)" && UInt32($0[4]) != nil }, "\(listed)")
        }
        let linux = r.domainLines(4)
        #expect(linux.contains { $0.hasPrefix("XENTEST xenstore-waited=") }, "\(linux.suffix(20))")
        #expect(Self.value("domid", in: linux) == "4", "\(linux.filter { $0.contains("XENTEST") }.prefix(30))")
        #expect(Self.value("name", in: linux) == "dom0less-4")
        #expect(linux.contains { $0.hasPrefix("XENTEST write ok") })
        #expect(Self.value("readback", in: linux) == "hello")
        #expect(Self.value("readback-absolute", in: linux) == "hello")
        #expect(linux.contains { $0.hasPrefix("XENTEST foreign-write refused") }, "\(linux.filter { $0.contains("foreign") })")
    }

    @Test func dom0lessDomUsRunBesideDom0AndConsoleIOIsRefusedToThem() throws {
        let r = try Self.boot.get()
        let nullcall = r.domainLines(1), vtimer = r.domainLines(2)
        #expect(nullcall.contains("TEST PASS nullcall"), "\(nullcall.suffix(10))")
        #expect(nullcall.contains { $0.contains("console_io(CONSOLEIO_write) = -1") })
        // The toolstack's hypercalls are dom0's too: -EPERM.
        #expect(nullcall.contains { $0.contains("sysctl(XEN_SYSCTL_physinfo) = -1") }, "\(nullcall)")
        #expect(nullcall.contains { $0.contains("domctl(XEN_DOMCTL_getdomaininfo) = -1") })
        #expect(vtimer.contains("TEST PASS vtimer"), "\(vtimer.suffix(10))")
    }

    /// The board's virtio-mmio disk, driven by dom0's own virtio-blk driver through its MMIO
    /// (mapped 1:1) and its interrupt (the physical SPI handed to dom0's vGIC).
    @Test func dom0ReadsItsVirtioDiskExactlyAndItsWriteReachesTheImage() throws {
        let r = try Self.boot.get()
        defer { try? FileManager.default.removeItem(atPath: Self.disk.path) }
        let d0 = r.domainLines(0)
        #expect(d0.contains { $0.contains("[vda] 16384 512-byte logical blocks") }, "\(d0.filter { $0.contains("virtio") })")
        #expect(Self.value("disk-md5", in: d0) == Self.disk.md5, "\(d0.filter { $0.contains("disk") })")
        #expect(d0.contains("XENTEST disk-write ok"))
        let image = try #require(FileManager.default.contents(atPath: Self.disk.path))
        let marker = Array("APUS-DOM0-WROTE-THIS\n".utf8)
        #expect(Array(image[(1 << 20)..<((1 << 20) + marker.count)]) == marker)
    }

    /// The lines the PV domU (apus.pvdomu) printed on its console, as dom0's xenconsoled logged them.
    static func pvDomU(_ d0: [String]) -> [String] {
        d0.filter { $0.hasPrefix("XENTEST pv-domu: ") }.map { String($0.dropFirst("XENTEST pv-domu: ".count)) }
    }

    /// Issue 13: `xl create` with `disk=` (a dom0 block device with `phy:`, and a raw file in
    /// dom0 through a loop device) and `vif=` (the bridge xenbr0), served by dom0's own
    /// xen-blkback and xen-netback through Debian's hotplug scripts: the domU's blkfront reads
    /// all 256 MiB of its disk md5-exact and its write reaches the image; its write into the
    /// file-backed disk is in the file after it is gone; 8 MiB go each way over TCP between
    /// dom0 and the domU, and from it to a second domU on the bridge, md5-exact; `xl block-attach`/`block-detach` and
    /// `network-attach`/`network-detach` plug devices in and out while it runs; once it has
    /// powered off, no backend or loop device is left behind (memory: the next test).
    @Test func xlDiskAndVifGiveADomUDom0sBlockbackAndNetbackDevices() throws {
        let r = try Self.boot.get()
        defer { try? FileManager.default.removeItem(atPath: Self.pvDisk.path) }
        let d0 = r.domainLines(0), u = Self.pvDomU(d0)
        #expect(d0.contains { $0.hasPrefix("XENTEST xl-create-pv ok") }, "\(d0.filter { $0.contains("pv") }.suffix(20))")
        #expect(d0.contains { $0.hasPrefix("XENTEST xl-block-list-pv: 51712 0 ") }, "\(d0.filter { $0.contains("block-list") })")
        #expect(d0.contains { $0.hasPrefix("XENTEST xl-network-list-pv: 0   0  00:16:3e:00:00:02") }, "\(d0.filter { $0.contains("network-list") })")
        // The disks: 256 MiB read whole, md5-exact; the writes persist.
        #expect(Self.value("pv-xvda-sectors", in: u) == "524288", "\(u)")
        #expect(Self.value("pv-xvda-md5", in: u) == Self.pvDisk.md5, "\(u)")
        #expect(u.contains("XENTEST pv-xvda-write ok") && u.contains("XENTEST pv-xvdb-write ok"), "\(u)")
        #expect(Self.value("pv-xvdb-sectors", in: u) == "32768")
        #expect(Self.value("pv-file-marker", in: d0) == "APUS-DOMU-FILE", "\(d0.filter { $0.contains("pv-file") })")
        if let image = FileHandle(forReadingAtPath: Self.pvDisk.path) {
            try image.seek(toOffset: 2 << 20)
            let marker = Array("APUS-DOMU-WROTE-THIS\n".utf8)
            #expect([UInt8](image.readData(ofLength: marker.count)) == marker)
            try? image.close()
        } else {
            Issue.record("no PV disk image at \(Self.pvDisk.path)")
        }
        // The network: 8 MiB dom0 -> domU and domU -> dom0 over HTTP on 192.0.2.0/24.
        let down = Self.value("pv-net-down-md5-dom0", in: d0), up = Self.value("pv-net-up-md5", in: u)
        #expect(down != nil && Self.value("pv-net-down-md5", in: u) == down, "\(u.filter { $0.contains("net") })")
        #expect(up != nil && Self.value("pv-net-up-md5-dom0", in: d0) == up, "\(d0.filter { $0.contains("net-up") })")
        // Domain to domain: a second domU on the bridge fetches the first one's 8 MiB.
        #expect(d0.contains { $0.hasPrefix("XENTEST xl-create-pv2 ok") }, "\(d0.filter { $0.contains("pv2") || $0.contains("pv-peer") })")
        #expect(up != nil && d0.contains("XENTEST pv-peer: XENTEST pv-peer-md5=\(up ?? "?")"), "\(d0.filter { $0.contains("pv-peer") })")
        // Hot-plug while it runs.
        #expect(d0.contains("XENTEST xl-block-attach ok") && d0.contains("XENTEST xl-block-detach ok"), "\(d0.filter { $0.contains("block-") })")
        let hot = Self.value("pv-xvdc-md5-dom0", in: d0)
        #expect(hot != nil && Self.value("pv-xvdc-md5", in: u) == hot, "\(u)")
        #expect(u.contains("XENTEST pv-xvdc-detached ok"))
        #expect(d0.contains("XENTEST xl-network-attach ok") && d0.contains("XENTEST xl-network-detach ok"), "\(d0.filter { $0.contains("network-") })")
        #expect(Self.value("pv-eth1-mac", in: u) == "00:16:3e:00:00:03")
        #expect(u.contains("XENTEST pv-eth1-detached ok") && u.contains("XENTEST pv-done"), "\(u.suffix(5))")
        // Nothing left behind.
        #expect(d0.contains("XENTEST pv-backends-after ok") && !d0.contains { $0.hasPrefix("XENTEST pv-backends-after: /") })
        #expect(d0.contains("XENTEST pv-loops-after ok") && !d0.contains { $0.hasPrefix("XENTEST pv-loops-after: ") })
    }

    /// Issue 13: a domU destroyed with `xl destroy` while it writes to its file-backed PV
    /// disk: its backend and loop device go, the file stays readable in dom0, and xl info's
    /// free memory is back where it was before it: no grant or page stays mapped. (Measured
    /// from the end of the test above, not before it: dom0's first grant maps split 2 MiB
    /// blocks of its direct map, and the hypervisor keeps those p2m tables for dom0, as Xen
    /// takes them from dom0's p2m pool; docs/pv-devices.md.)
    @Test func aDomUDestroyedWhileWritingLeavesNoBackendLoopOrMemoryBehind() throws {
        let d0 = try Self.boot.get().domainLines(0)
        #expect(d0.contains("XENTEST xl-destroy-pvw ok"), "\(d0.filter { $0.contains("pvw") })")
        #expect(d0.contains("XENTEST pv-backends-after-destroy ok") && !d0.contains { $0.hasPrefix("XENTEST pv-backends-after-destroy: /") })
        #expect(d0.contains("XENTEST pv-loops-after-destroy ok") && !d0.contains { $0.hasPrefix("XENTEST pv-loops-after-destroy: ") })
        #expect(Self.value("pv-file2-readable", in: d0)?.count == 32)
        let free = Self.value("pv-free-memory-destroy", in: d0)?.split(separator: ",").map(String.init) ?? []
        #expect(free.count == 2 && free[0] == free[1] && !free[0].isEmpty, "\(free)")
    }

    /// The board's virtio-mmio network card, driven by dom0's virtio-net: busybox httpd in dom0
    /// serves a page this host fetches at 127.0.0.1 (QEMU user networking, restrict=on).
    @Test func dom0ServesAPageTheHostFetchesThroughHostfwd() throws {
        let r = try Self.boot.get()
        let d0 = r.domainLines(0)
        #expect(d0.contains("XENTEST net-up ok"), "\(d0.filter { $0.contains("net") || $0.contains("httpd") })")
        #expect(d0.contains("XENTEST httpd ok"))
        let page = try #require(Self.fetchedPage, "nothing fetched from 127.0.0.1:\(Self.httpPort)")
        #expect(page.hasPrefix("HTTP/1.") && page.contains("APUS-DOM0-HTTPD"))
        #expect(d0.contains("XENTEST httpd-fetched ok"))
    }

    /// Keys typed while dom0 has the console reach its shell on hvc0 (CONSOLEIO_read after
    /// VIRQ_CONSOLE), a pasted 300-byte line whole.
    @Test func keyboardInputReachesDom0sShellOnHvc0() throws {
        let pasted = String(repeating: "0123456789", count: 30)
        let r = try SystemHarness.run([], arguments: ["--dom0-kernel", SystemHarness.debian("Image"),
                                                      "--dom0-ramdisk", SystemHarness.debian("initrd-demo.cpio"),
                                                      "--dom0-cmdline", "console=hvc0"], timeout: 300,
                                      input: "echo typed-$((6*7))\nx=\(pasted); echo pasted-${#x}\npoweroff", inputDelay: 25)
        #expect(r.status == 0, "apus run exited \(r.status): \(r.stderr)")
        #expect(r.contains("(XEN) *** Serial input to DOM0 (type 'CTRL-a' three times to switch input)"))
        #expect(r.domainLines(0).contains { $0.hasPrefix("typed-42") }, "\(r.domainLines(0).suffix(10))")
        #expect(r.domainLines(0).contains { $0.hasPrefix("pasted-300") }, "a pasted line arrives whole")
        #expect(r.contains("(XEN) Hardware Dom0 halted: halting machine"))
    }

    /// The README's demo (scripts/demo.sh): dom0's shell with Debian's toolstack running, and
    /// the Debian domU from a virtio disk. Typed at the shell: `xl create` starts the domU
    /// (2 vCPUs, 256 MiB), `xl list` shows it, `xl shutdown -w` waits for its orderly
    /// poweroff (the demo initrd's init acts on Linux's /sbin/poweroff), and `poweroff`
    /// ends dom0 and the board.
    @Test func theDemoDom0ShellCreatesListsAndShutsDownADebianDomUWithXl() throws {
        let g = SystemHarness.debian("") + "/"
        let kernel = [UInt8](FileManager.default.contents(atPath: g + "Image") ?? Data())
        let initrd = [UInt8](FileManager.default.contents(atPath: g + "initrd-demo.cpio") ?? Data())
        let at = (kernel.count + (1 << 20) - 1) & ~((1 << 20) - 1)
        let disk = FileManager.default.temporaryDirectory.appendingPathComponent("apus-demo-domu-\(UUID().uuidString).img").path
        FileManager.default.createFile(atPath: disk, contents: Data(kernel + [UInt8](repeating: 0, count: at - kernel.count) + initrd))
        defer { try? FileManager.default.removeItem(atPath: disk) }
        let r = try SystemHarness.run([], arguments: ["--dom0-kernel", g + "Image", "--dom0-ramdisk", g + "initrd-xen.cpio", "--disk", disk,
                                                      "--dom0-cmdline", "console=hvc0 quiet apus.shell apus.domu=\(kernel.count):\(initrd.count)"],
                                      timeout: 300,
                                      input: "xl create /etc/xen/debian.cfg && sleep 30 && xl list && xl shutdown -w debian; sleep 2; poweroff\n",
                                      inputDelay: 30)
        let d0 = r.domainLines(0)
        #expect(r.status == 0, "apus run exited \(r.status): \(r.stderr)")
        #expect(d0.contains { $0.hasPrefix("Apus dom0: Debian ") }, "\(d0.suffix(12))")
        #expect(r.contains("(XEN) d1: created by the toolstack, 2 vCPU(s)"), "\(d0.suffix(12))")
        let row = d0.first { $0.hasPrefix("debian ") }?.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init) ?? []
        #expect(row.count >= 6 && row[1] == "1" && row[2] == "256" && row[3] == "2", "\(row)")
        #expect(d0.contains("Domain 1 has been shut down, reason code 0"), "\(d0.suffix(12))")
        #expect(r.contains("(XEN) d1 (domain-1): powered off, left to the toolstack"))
        #expect(r.contains("(XEN) Hardware Dom0 halted: halting machine"))
    }

    /// A dom0 that panics (no init; panic=1) restarts itself, and the board restarts with it,
    /// with Xen's line; with `apus run --no-reboot` (QEMU's -no-reboot) the run then ends:
    /// never a hang.
    @Test func aDom0PanicRestartsTheBoardWithXensWords() throws {
        let r = try SystemHarness.run([], arguments: ["--no-reboot", "--dom0-kernel", SystemHarness.debian("Image"),
                                                      "--dom0-ramdisk", SystemHarness.debian("initrd-test.cpio"),
                                                      "--dom0-cmdline", "console=hvc0 rdinit=/nonexistent panic=1"], timeout: 120)
        #expect(r.status == 0, "apus run exited \(r.status): \(r.stderr)")
        #expect(r.domainLines(0).contains { $0.contains("Kernel panic") })
        #expect(r.contains("(XEN) Hardware Dom0 shutdown: rebooting machine"), "\(r.output.suffix(2000))")
    }

    /// Dom0's reboot restarts the board, as Xen restarts the machine: the hypervisor boots
    /// again and dom0 with it, which finds the marker its first boot wrote to its disk and
    /// powers off; the run then ends with status 0.
    @Test func aDom0RebootRestartsTheBoardAndDom0BootsAgain() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("apus-reboot-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let disk = dir.appendingPathComponent("disk.img")
        FileManager.default.createFile(atPath: disk.path, contents: Data(count: 4 << 20))
        let r = try SystemHarness.run([], arguments: ["--dom0-kernel", SystemHarness.debian("Image"),
                                                      "--dom0-ramdisk", SystemHarness.debian("initrd-xen.cpio"),
                                                      "--dom0-cmdline", "console=hvc0 apus.dom0 apus.rebootonce",
                                                      "--disk", disk.path], timeout: 200)
        #expect(r.status == 0, "apus run exited \(r.status): \(r.stderr)")
        #expect(r.contains("(XEN) Hardware Dom0 shutdown: rebooting machine"), "\(r.output.suffix(2000))")
        #expect(r.output.components(separatedBy: "(XEN) Apus 0.1.0").count == 3, "the hypervisor booted twice")
        let d0 = r.domainLines(0)
        #expect(d0.contains("XENTEST rebooting") && d0.contains("XENTEST second-boot ok"))
        #expect(r.contains("(XEN) Hardware Dom0 halted: halting machine"))
    }

    /// The boot DTB a Xen 4.17 user makes for QEMU virt (the board's own tree, QEMU's
    /// guest-loader adding the dom0 kernel and ramdisk module nodes with the kernel's
    /// `bootargs`, Xen's own command line in /chosen/bootargs) boots Apus's dom0 unchanged
    /// through `apus run --dtb FILE --module FILE@ADDR`. Its dom0_mem=768M is not a power of
    /// two: as Xen does, the hypervisor gives dom0 a 512 MiB and a 256 MiB bank, each 1:1,
    /// and Linux finds its RAM in both.
    @Test func xensDom0BootDTBBootsDom0UnchangedWithRAMInTwoBanks() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("apus-xendom0-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let dtb = dir.appendingPathComponent("xen-dom0.dtb").path
        let kernel = SystemHarness.debian("Image"), initrd = SystemHarness.debian("initrd-xen.cpio")
        let q = Process()
        q.executableURL = URL(fileURLWithPath: "/usr/bin/qemu-system-aarch64")
        q.arguments = ["-M", "virt,virtualization=on,gic-version=3,dumpdtb=" + dtb, "-cpu", "cortex-a57", "-smp", "2",
                       "-m", "2048M", "-display", "none", "-serial", "none", "-monitor", "none", "-nic", "none",
                       "-kernel", kernel, "-append", "dom0_mem=768M dom0_max_vcpus=1 console=dtuart dtuart=/pl011@9000000",
                       "-device", "guest-loader,addr=0x49000000,kernel=\(kernel),bootargs=console=hvc0 apus.dom0",
                       "-device", "guest-loader,addr=0x50000000,initrd=\(initrd)"]
        try q.run(); q.waitUntilExit()
        #expect(q.terminationStatus == 0)
        let r = try SystemHarness.launch([SystemHarness.apus, "run", "--timeout", "200", "--cpus", "2", "--memory", "2048",
                                          "--dtb", dtb, "--module", "\(kernel)@0x49000000", "--module", "\(initrd)@0x50000000"],
                                         input: nil, inputDelay: 0)
        #expect(r.status == 0, "apus run exited \(r.status): \(r.stderr)")
        // dom0_mem and dom0_max_vcpus from Xen's command line, the kernel's bootargs from its module node.
        #expect(r.contains(" (1:1), 1 vCPU(s), "))
        let d0 = r.domainLines(0)
        // "d0 (Domain-0): 512 MiB at 0x... + 256 MiB at 0x... (1:1)": Linux's memblock has both.
        let banks = Self.banks(in: r.output)
        #expect(banks.map(\.size) == [512 << 20, 256 << 20], "\(r.output.prefix(3000))")
        for b in banks {
            let node = String(format: "node   0: [mem 0x%016llx-0x%016llx]", b.base, b.base + b.size - 1)
            #expect(d0.contains { $0.contains(node) }, "expected '\(node)' in dom0's boot log")
        }
        #expect(d0.contains { $0.contains("Memory: ") && $0.contains("/786432K available") })
        #expect(d0.contains { $0.contains("Kernel command line: console=hvc0 apus.dom0") })
        #expect(Self.value("capabilities", in: d0) == "control_d")
        #expect(r.contains("(XEN) Hardware Dom0 halted: halting machine"))
    }

    /// A level-sensitive device interrupt of dom0's (the PL031 RTC's alarm): delivered once
    /// through a list register with the HW bit (no storm while the line is high, no loss).
    @Test func dom0GetsItsRTCAlarmALevelSensitiveInterruptOnce() throws {
        let r = try Self.boot.get()
        #expect(Self.value("rtc-irqs", in: r.domainLines(0)) == "0->1", "\(r.domainLines(0).filter { $0.contains("rtc") })")
    }
}
