import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `--disk FILE[,ro]`: a raw disk image for dom0, a virtio-blk device on QEMU's virtio-mmio bus.
struct DiskSpec: Equatable {
    var path: String
    var readOnly: Bool

    /// `FILE` or `FILE,ro`; the file must exist, be a regular file, and be writable unless `ro`.
    static func parse(_ spec: String) throws -> DiskSpec {
        let readOnly = spec.hasSuffix(",ro")
        let path = readOnly ? String(spec.dropLast(3)) : spec
        func fail(_ why: String) -> ToolFailure { .usage("--disk \(spec): \(why)") }
        guard !path.isEmpty else { throw fail("expected FILE or FILE,ro") }
        var st = stat()
        guard stat(path, &st) == 0 else { throw fail("no such file") }
        guard st.st_mode & S_IFMT == S_IFREG else { throw fail("not a regular file (a raw disk image)") }
        guard access(path, R_OK) == 0 else { throw fail("not readable") }
        if !readOnly, access(path, W_OK) != 0 { throw fail("not writable (FILE,ro gives dom0 a read-only disk)") }
        return DiskSpec(path: path, readOnly: readOnly)
    }
}

/// `--hostfwd HOSTPORT:GUESTPORT`: a TCP port of dom0 reachable from this host, at
/// 127.0.0.1:HOSTPORT only.
struct HostForward: Equatable {
    var hostPort: UInt16
    var guestPort: UInt16

    static func parse(_ spec: String) throws -> HostForward {
        let parts = spec.split(separator: ":", omittingEmptySubsequences: false)
        func port(_ s: Substring) -> UInt16? {
            guard !s.isEmpty, s.allSatisfy({ $0.isASCII && $0.isNumber }), let v = UInt16(s), v > 0 else { return nil }
            return v
        }
        guard parts.count == 2, let h = port(parts[0]), let g = port(parts[1]) else {
            throw ToolFailure.usage("--hostfwd \(spec): expected HOSTPORT:GUESTPORT, two TCP ports 1-65535")
        }
        return HostForward(hostPort: h, guestPort: g)
    }
}

/// Dom0's QEMU devices. Both kinds are virtio-mmio devices (`virtio-*-device`, not the PCI
/// ones): the virt board lists its virtio-mmio transports in its device tree as `virtio,mmio`
/// nodes, and the dom0 plan passes those through to dom0 as they are.
struct Dom0Devices {
    var disks: [DiskSpec] = []
    var forwards: [HostForward] = []

    var isEmpty: Bool { disks.isEmpty && forwards.isEmpty }

    static func parse(disks: [String], hostForwards: [String]) throws -> Dom0Devices {
        var d = Dom0Devices()
        var seen: [String: String] = [:]
        for spec in disks {
            let disk = try DiskSpec.parse(spec)
            // The same image twice would be opened twice for writing; QEMU's image locking
            // would refuse that only once QEMU runs.
            let real = URL(fileURLWithPath: disk.path).resolvingSymlinksInPath().path
            if let first = seen[real] { throw ToolFailure.usage("--disk \(spec): the same file as --disk \(first)") }
            seen[real] = spec
            d.disks.append(disk)
        }
        for spec in hostForwards {
            let f = try HostForward.parse(spec)
            if d.forwards.contains(where: { $0.hostPort == f.hostPort }) {
                throw ToolFailure.usage("--hostfwd \(spec): host port \(f.hostPort) is already forwarded")
            }
            d.forwards.append(f)
        }
        return d
    }

    /// `-drive`/`-device` pairs for the disks (raw: a guest-written image is never probed as
    /// another format), then ONE virtio-net on user networking with `restrict=on` (dom0 gets
    /// no route out of the host) and every forward bound to 127.0.0.1 (nothing else on the
    /// network reaches dom0).
    ///
    /// The disks' `-device` options come in reverse: QEMU plugs each `-device` into the free
    /// virtio-mmio transport with the highest address (hw/arm/virt.c create_virtio_devices),
    /// and Linux probes the transports from the lowest address, so the last `-device` is vda.
    /// Reversed, `--disk` order is vda, vdb... (checked by booting Debian's 6.1 kernel on QEMU
    /// 7.2 virt: in command-line order, the first disk was vdb).
    var qemuArguments: [String] {
        var args: [String] = []
        for (i, disk) in disks.enumerated() {
            args += ["-drive", "if=none,id=disk\(i),format=raw,file=\(QEMU.escape(disk.path))"
                        + (disk.readOnly ? ",readonly=on" : "")]
        }
        for i in disks.indices.reversed() {
            args += ["-device", "virtio-blk-device,drive=disk\(i)"]
        }
        if !forwards.isEmpty {
            let fwd = forwards.map { ",hostfwd=tcp:127.0.0.1:\($0.hostPort)-:\($0.guestPort)" }.joined()
            // Inside the board only TEST-NET-1 (192.0.2.0/24): QEMU's gateway .2, DNS .3, DHCP from .15.
            args += ["-netdev", "user,id=net0,restrict=on,net=192.0.2.0/24,host=192.0.2.2,dhcpstart=192.0.2.15" + fwd,
                     "-device", "virtio-net-device,netdev=net0"]
        }
        return args
    }
}
