import Testing
@testable import ApusCore

private func parse(_ text: String, file: String = "web.cfg", dir: String = "/etc/apus") throws -> DomainConfig {
    try DomainConfig.parse(text: text, fileName: file, directory: dir)
}

/// The one-line message of the error `text` produces, or nil if it parses.
private func failure(_ text: String, file: String = "web.cfg") -> String? {
    do {
        _ = try DomainConfig.parse(text: text, fileName: file, directory: "/etc/apus")
        return nil
    } catch {
        return error.description
    }
}

private let base = "name = \"web\"\nkernel = \"Image\"\n"

@Suite struct XLConfigTests {
    @Test func minimalFileGetsXlDefaults() throws {
        let c = try parse(base)
        #expect(c.fileName == "web.cfg")
        #expect(c.name == "web")
        #expect(c.kernel == "/etc/apus/Image")
        #expect(c.memoryMiB == 128 && c.maxMemoryMiB == 128)
        #expect(c.vcpus == 1 && c.maxVCPUs == 1)
        #expect(c.ramdisk == nil)
        #expect(c.cmdline == nil)
        #expect(c.cpus == .any)
        #expect(c.cpuWeight == 256 && c.cpuCap == 0)
        #expect(c.onPoweroff == .destroy && c.onReboot == .restart && c.onCrash == .destroy)
        #expect(c.type == .pvh)
        #expect(c.vuart == false)
        #expect(c.xenEnhanced == .enabled, "an xl-created Xen guest on Arm always gets the hypervisor node")
        #expect(c.warnings.isEmpty)
    }

    @Test func fullFile() throws {
        let c = try parse("""
            # Apus demo guest
            name = "web"
            type = "pvh"
            kernel = "guests/Image"
            ramdisk = '/srv/initrd.cpio'
            memory = 0x200        # 512 MiB
            maxmem = 512
            vcpus = 2
            maxvcpus = 4
            cpus = "0-1,3"
            cpu_weight = 512
            cpu_cap = 150
            on_poweroff = "destroy"
            on_reboot = "rename-restart"
            on_crash = 'coredump-restart'
            vuart = "sbsa_uart"
            xen_enhanced = "no-xenstore"
            extra = "console=ttyAMA0 quiet"
            root = "/dev/ram0"
            """)
        #expect(c.name == "web")
        #expect(c.kernel == "/etc/apus/guests/Image")
        #expect(c.ramdisk == "/srv/initrd.cpio")
        #expect(c.memoryMiB == 512 && c.maxMemoryMiB == 512)
        #expect(c.vcpus == 2 && c.maxVCPUs == 4)
        #expect(c.cpus == .only([0, 1, 3]))
        #expect(c.cpuWeight == 512 && c.cpuCap == 150)
        #expect(c.onPoweroff == .destroy && c.onReboot == .renameRestart && c.onCrash == .coredumpRestart)
        #expect(c.vuart)
        #expect(c.xenEnhanced == .noXenstore)
        #expect(c.cmdline == "root=/dev/ram0 console=ttyAMA0 quiet")
        #expect(c.warnings.isEmpty)
    }

    @Test func quotedNumbersAndBareNumbersAsStrings() throws {
        let c = try parse(base + "memory = \"256\"\nextra = 42\nvpl011 = 1")
        #expect(c.memoryMiB == 256)
        #expect(c.cmdline == "42")
        #expect(c.vuart)
    }

    @Test func commandLineComposition() throws {
        #expect(try parse(base + "extra = \"quiet\"").cmdline == "quiet")
        #expect(try parse(base + "root = \"/dev/vda\"").cmdline == "root=/dev/vda")
        #expect(try parse(base + "cmdline = \"a b\"").cmdline == "a b")
        #expect(try parse(base + "extra = \"console=hvc0\"\nextra += \" quiet\"").cmdline == "console=hvc0 quiet")
        let c = try parse(base + "cmdline = \"a\"\nroot = \"/dev/vda\"")
        #expect(c.cmdline == "a")
        #expect(c.warnings == ["web.cfg:3: warning: cmdline: ignoring root and extra in favour of cmdline"])
    }

    @Test func maxmemAboveMemoryIsAcceptedWithAWarning() throws {
        let c = try parse(base + "memory = 256\nmaxmem = 1024")
        #expect(c.memoryMiB == 256 && c.maxMemoryMiB == 1024)
        #expect(c.warnings == [
            "web.cfg:4: warning: maxmem: 1024 MiB is ignored: Apus has no ballooning, the domain gets memory (256 MiB)",
        ])
    }

    @Test func actionsAndAffinities() throws {
        for a in DomainAction.all {
            #expect(try parse(base + "on_crash = \"\(a.xlName)\"").onCrash == a)
        }
        #expect(try parse(base + "cpus = \"all\"").cpus == .any)
        #expect(try parse(base + "cpus = \"all,^0\"").cpus == .all(except: [0]))
        #expect(try parse(base + "cpus = \"^1-2\"").cpus == .all(except: [1, 2]))
        #expect(try parse(base + "cpus = \"0-3,^1,2\"").cpus == .only([0, 2, 3]))
        #expect(try parse(base + "cpus = \"2, 0\"").cpus == .only([0, 2]))
        #expect(try parse(base + "cpus = 3").cpus == .only([3]))
        #expect(CPUAffinity.all(except: [1]).cpus(boardCPUs: 4) == [0, 2, 3])
        #expect(CPUAffinity.only([1, 5]).cpus(boardCPUs: 4) == [1])
    }

    /// Apus's key mirroring dom0less `xen,enhanced`; 1/0 as xl writes booleans.
    @Test func xenEnhanced() throws {
        #expect(try parse(base + "xen_enhanced = \"enabled\"").xenEnhanced == .enabled)
        #expect(try parse(base + "xen_enhanced = 'no-xenstore'").xenEnhanced == .noXenstore)
        #expect(try parse(base + "xen_enhanced = \"disabled\"").xenEnhanced == .disabled)
        #expect(try parse(base + "xen_enhanced = 1").xenEnhanced == .enabled)
        #expect(try parse(base + "xen_enhanced = 0").xenEnhanced == .disabled)
        #expect(try parse(base + "xen_enhanced = \"0\"").xenEnhanced == .disabled)
        #expect(try parse(base + "xen_enhanced = 0\nxen_enhanced = \"enabled\"").xenEnhanced == .enabled, "the last wins")
        #expect(try parse(base + "xen_enhanced = \"no\"\nxen_enhanced += \"-xenstore\"").xenEnhanced == .noXenstore,
                "+= joins strings, as for the other string keys")
    }

    @Test func pathResolution() {
        #expect(DomainConfig.joinPath("/etc/apus", "Image") == "/etc/apus/Image")
        #expect(DomainConfig.joinPath("/etc/apus/", "Image") == "/etc/apus/Image")
        #expect(DomainConfig.joinPath("/etc/apus//", "./guests/Image") == "/etc/apus/guests/Image")
        #expect(DomainConfig.joinPath("/etc/apus", "../Image") == "/etc/apus/../Image")
        #expect(DomainConfig.joinPath("/etc/apus", "/boot/Image") == "/boot/Image")
        #expect(DomainConfig.joinPath("cfg", "Image") == "cfg/Image")
        #expect(DomainConfig.joinPath("", "Image") == "Image")
        #expect(DomainConfig.joinPath(".", "./Image") == "Image")
        #expect(DomainConfig.joinPath("/", "Image") == "/Image")
    }

    @Test func relativeRamdiskUsesTheConfigFolder() throws {
        let c = try parse(base + "ramdisk = \"./initrd.cpio\"", dir: "guests")
        #expect(c.kernel == "guests/Image")
        #expect(c.ramdisk == "guests/initrd.cpio")
    }

    @Test func missingAndUnknownKeys() {
        #expect(failure("kernel = \"Image\"") == "web.cfg: missing required key 'name'")
        #expect(failure("name = \"web\"") == "web.cfg: missing required key 'kernel'")
        #expect(failure("") == "web.cfg: missing required key 'name'")
        #expect(failure(base + "\n\nmemroy = 128") == "web.cfg:5: unknown key 'memroy'")
        #expect(failure(base + "Memory = 128") == "web.cfg:3: unknown key 'Memory'")
        #expect(failure(base + "xen_enhance = 1") == "web.cfg:3: unknown key 'xen_enhance'")
        do {
            _ = try DomainConfig.parse(text: base + "memroy = 1", fileName: "web.cfg", directory: "")
            Issue.record("expected an error")
        } catch {
            #expect(error == XLConfigError(.unknownKey, file: "web.cfg", line: 3, key: "memroy",
                                           message: "unknown key 'memroy'"))
        }
    }

    @Test func unsupportedKeys() {
        #expect(failure(base + "dtdev = [\"/soc/ethernet\"]") ==
            "web.cfg:3: dtdev: not supported by Apus (device passthrough)")
        #expect(failure(base + "irqs = [ 42 ]") == "web.cfg:3: irqs: not supported by Apus (device passthrough)")
        #expect(failure(base + "iomem = [\"0x10000,1\"]") == "web.cfg:3: iomem: not supported by Apus (device passthrough)")
        #expect(failure(base + "device_tree = \"passthrough.dtb\"") ==
            "web.cfg:3: device_tree: not supported by Apus (device passthrough)")
        #expect(failure(base + "disk = [\"phy:/dev/vg/web,xvda,w\"]") ==
            "web.cfg:3: disk: not supported by Apus (virtual devices other than the console)")
        #expect(failure(base + "uuid = \"8a3e1d3c-0000-4000-8000-000000000001\"") ==
            "web.cfg:3: uuid: not supported by Apus (this xl option is not implemented)")
        #expect(failure(base + "bootloader = \"pygrub\"") ==
            "web.cfg:3: bootloader: not supported by Apus (bootloaders: give kernel= directly)")
    }

    @Test func valueErrors() {
        #expect(failure(base + "memory = \"lots\"") == "web.cfg:3: memory: expected an integer, got \"lots\"")
        #expect(failure(base + "memory = 12x") == "web.cfg:3: memory: expected an integer, got 12x")
        #expect(failure(base + "memory = [128]") == "web.cfg:3: memory: expected an integer, got a list")
        #expect(failure(base + "memory = 0") == "web.cfg:3: memory: must be at least 1 MiB, got 0")
        #expect(failure(base + "memory = \"-64\"") == "web.cfg:3: memory: must be at least 1 MiB, got -64")
        #expect(failure(base + "memory = 128\nmemory += 1") == "web.cfg:4: memory: can't use += with a number")
        #expect(failure(base + "memory = 256\nmaxmem = 128") == "web.cfg:4: maxmem: 128 MiB is less than memory (256 MiB)")
        #expect(failure(base + "vcpus = 0") == "web.cfg:3: vcpus: must be between 1 and 128, got 0")
        #expect(failure(base + "vcpus = 129") == "web.cfg:3: vcpus: must be between 1 and 128, got 129")
        #expect(failure(base + "vcpus = 4\nmaxvcpus = 2") == "web.cfg:4: maxvcpus: must be between 4 and 128, got 2")
        #expect(failure(base + "cpu_weight = 0") == "web.cfg:3: cpu_weight: must be between 1 and 65535, got 0")
        #expect(failure(base + "vcpus = 2\ncpu_cap = 201") == "web.cfg:4: cpu_cap: must be between 0 and 200, got 201")
        #expect(failure("name = [\"web\"]\nkernel = \"Image\"") == "web.cfg:1: name: expected a string, got a list")
        #expect(failure("name = \"\"\nkernel = \"Image\"") == "web.cfg:1: name: must not be empty")
        #expect(failure("name = \"web\"\nkernel = ''") == "web.cfg:2: kernel: must not be empty")
        #expect(failure(base + "ramdisk = \"\"") == "web.cfg:3: ramdisk: must not be empty")
        #expect(failure(base + "on_crash = \"explode\"") ==
            "web.cfg:3: on_crash: expected one of destroy, restart, preserve, rename-restart, coredump-destroy, coredump-restart, got \"explode\"")
        #expect(failure(base + "on_reboot = [\"restart\"]") == "web.cfg:3: on_reboot: expected a string, got a list")
        #expect(failure(base + "type = \"hvm\"") == "web.cfg:3: type: only \"pvh\" is supported on Arm, got \"hvm\"")
        #expect(failure(base + "type = \"pv\"") == "web.cfg:3: type: only \"pvh\" is supported on Arm, got \"pv\"")
        #expect(failure(base + "vuart = \"uart\"") == "web.cfg:3: vuart: only \"sbsa_uart\" is supported on Arm, got \"uart\"")
        #expect(failure(base + "vpl011 = \"yes\"") == "web.cfg:3: vpl011: expected 0 or 1, got \"yes\"")
        #expect(failure(base + "extra = [\"a\"]") == "web.cfg:3: extra: expected a string, got a list")
        let enhanced = "expected \"enabled\", \"no-xenstore\" or \"disabled\" (or 1/0), got "
        #expect(failure(base + "xen_enhanced = \"yes\"") == "web.cfg:3: xen_enhanced: " + enhanced + "\"yes\"")
        #expect(failure(base + "xen_enhanced = \"Enabled\"") == "web.cfg:3: xen_enhanced: " + enhanced + "\"Enabled\"")
        #expect(failure(base + "\nxen_enhanced = 2") == "web.cfg:4: xen_enhanced: " + enhanced + "2")
        #expect(failure(base + "xen_enhanced = \"\"") == "web.cfg:3: xen_enhanced: " + enhanced + "\"\"")
        #expect(failure(base + "xen_enhanced = [\"enabled\"]") == "web.cfg:3: xen_enhanced: " + enhanced + "a list")
    }

    @Test func affinityErrors() {
        #expect(failure(base + "cpus = \"0-x\"") ==
            "web.cfg:3: cpus: expected CPUs such as \"0-3\", \"0,2\", \"all\" or \"all,^1\", got \"0-x\"")
        #expect(failure(base + "cpus = \"0,,1\"") ==
            "web.cfg:3: cpus: expected CPUs such as \"0-3\", \"0,2\", \"all\" or \"all,^1\", got \"0,,1\"")
        #expect(failure(base + "cpus = \"3-1\"") == "web.cfg:3: cpus: the range 3-1 goes backwards")
        #expect(failure(base + "cpus = \"0-5000\"") == "web.cfg:3: cpus: CPU 5000 is more than 1023")
        #expect(failure(base + "cpus = \"1,^1\"") == "web.cfg:3: cpus: \"1,^1\" leaves no CPU")
        #expect(failure(base + "cpus = \"nodes:0\"") == "web.cfg:3: cpus: NUMA node affinity (\"nodes:\") is not supported")
        #expect(failure(base + "cpus = [\"0\", \"1\"]") ==
            "web.cfg:3: cpus: per-vCPU affinity lists are not supported: use one string such as \"0-3\"")
    }

    @Test func syntaxErrorsCarryTheFileName() {
        #expect(failure("name = \"web\nkernel = 'x'", file: "db.cfg") == "db.cfg:1: syntax error: unterminated string")
    }
}
