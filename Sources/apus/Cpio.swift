import ApusCore

/// The demo guests' initramfs images: busybox, a few folders, /dev/console and an /init script,
/// written as uncompressed newc cpio (which every Linux kernel unpacks).
enum GuestInitramfs {
    /// Applets linked in the archive itself, so /init and the shell work before anything runs.
    /// (The demo /init also runs `busybox --install -s` for the rest.)
    static let applets = [
        "sh", "ash", "ls", "cat", "echo", "printf", "mount", "umount", "dmesg", "grep", "poweroff", "reboot",
        "halt", "sleep", "date", "uname", "nproc", "ps", "free", "uptime", "head", "tail", "mkdir", "rmdir",
        "rm", "cp", "mv", "ln", "touch", "chmod", "df", "du", "wc", "sort", "uniq", "cut", "tr", "sed", "awk",
        "find", "xargs", "env", "true", "false", "test", "[", "id", "hostname", "kill", "pidof", "seq", "stat",
        "sync", "which", "yes", "clear", "setsid", "cttyhack", "top", "vi", "less", "more", "hexdump", "md5sum",
        "sha256sum", "dd", "time", "watch", "mknod", "basename", "dirname", "expr", "usleep", "cmp", "diff",
    ]

    /// Interactive demo: banner, then a shell on the console; leaving the shell powers the domain off.
    static let demoInit = """
        #!/bin/sh
        export PATH=/bin:/sbin:/usr/bin:/usr/sbin
        mount -t proc proc /proc
        mount -t sysfs sysfs /sys
        mount -t devtmpfs devtmpfs /dev 2>/dev/null
        mkdir -p /dev/pts && mount -t devpts devpts /dev/pts 2>/dev/null
        /bin/busybox --install -s 2>/dev/null
        hostname apus-demo
        echo
        echo "Apus demo guest: $(uname -r), $(nproc) CPUs"
        echo "Leave the shell (exit or Ctrl-D) or type poweroff to stop the domain; reboot restarts it."
        echo
        export ENV=/etc/profile
        setsid cttyhack sh
        poweroff -f

        """

    /// Shell start-up for the demo: /init is the shell's parent, not a real init, so poweroff/reboot
    /// must not signal PID 1 but act directly.
    static let demoProfile = """
        export PATH=/bin:/sbin:/usr/bin:/usr/sbin
        export PS1='\\h:\\w# '
        alias poweroff='poweroff -f'
        alias reboot='reboot -f'
        alias halt='poweroff -f'

        """

    /// Non-interactive test guest: fixed marker lines that a test harness matches on the console.
    static let testInit = """
        #!/bin/sh
        export PATH=/bin:/sbin:/usr/bin:/usr/sbin
        mount -t proc proc /proc
        mount -t sysfs sysfs /sys
        mount -t devtmpfs devtmpfs /dev 2>/dev/null
        echo APUS-GUEST-UP
        echo "CPUS=$(nproc)"
        echo "UPTIME0=$(cut -d' ' -f1 /proc/uptime)"
        echo "DATE0=$(date +%s)"
        sleep 1
        echo "DATE1=$(date +%s)"
        echo "UPTIME1=$(cut -d' ' -f1 /proc/uptime)"
        dmesg | grep "Run /init"
        poweroff -f

        """

    /// Benchmark guest: as little as possible after the kernel hands over to /init, so the
    /// figure that matters (the dmesg time of "Run /init") is all a run costs.
    static let benchInit = """
        #!/bin/sh
        mount -t proc proc /proc
        echo APUS-GUEST-UP
        dmesg | grep "Run /init"
        poweroff -f

        """

    static func bench(busybox: [UInt8]) -> [UInt8] {
        var a = base(busybox: busybox)
        a.addFile("/init", data: Array(benchInit.utf8), permissions: 0o755)
        return a.bytes()
    }

    static func demo(busybox: [UInt8]) -> [UInt8] {
        var a = base(busybox: busybox)
        a.addFile("/etc/profile", data: Array(demoProfile.utf8))
        a.addFile("/init", data: Array(demoInit.utf8), permissions: 0o755)
        return a.bytes()
    }

    static func test(busybox: [UInt8]) -> [UInt8] {
        var a = base(busybox: busybox)
        a.addFile("/init", data: Array(testInit.utf8), permissions: 0o755)
        return a.bytes()
    }

    private static func base(busybox: [UInt8]) -> NewcArchive {
        var a = NewcArchive()
        for dir in ["/bin", "/sbin", "/usr/bin", "/usr/sbin", "/etc", "/proc", "/sys", "/dev", "/tmp", "/root"] {
            a.addDirectory(dir, permissions: dir == "/tmp" ? 0o1777 : 0o755)
        }
        // The kernel opens /dev/console for init's stdin/stdout/stderr before devtmpfs is mounted.
        a.addCharacterDevice("/dev/console", major: 5, minor: 1)
        a.addFile("/bin/busybox", data: busybox, permissions: 0o755)
        for applet in applets {
            a.addSymlink("/bin/" + applet, target: "busybox")
        }
        return a
    }
}
