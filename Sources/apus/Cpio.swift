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
        # As a Xen domU, xl shutdown and xl reboot make Linux run /sbin/poweroff or
        # /sbin/reboot, which signal init: the shell runs in the background so that the
        # traps act at once rather than when it exits.
        trap 'poweroff -f' USR1 USR2
        trap 'reboot -f' TERM
        setsid cttyhack sh &
        wait
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
        # apus.memcheck=N on the command line: a Linux that keeps checking its memory (the
        # isolation test's neighbour): a 16 MiB random file in RAM (rootfs) checksummed N
        # times, half a second apart, then power off.
        n=$(sed -n 's/.*apus\\.memcheck=\\([0-9]*\\).*/\\1/p' /proc/cmdline)
        if [ -n "$n" ]; then
            dd if=/dev/urandom of=/pattern bs=1M count=16 2>/dev/null
            ref=$(md5sum /pattern | cut -d' ' -f1)
            echo "LINUXMEM reference $ref"
            i=1
            while [ $i -le $n ]; do
                now=$(md5sum /pattern | cut -d' ' -f1)
                if [ "$now" = "$ref" ]; then echo "LINUXMEM pass $i ok"; else echo "LINUXMEM pass $i CORRUPT $now"; fi
                usleep 500000
                i=$((i + 1))
            done
            echo "LINUXMEM done"
            poweroff -f
        fi
        # apus.stay on the command line (a domU that xl manages): up until it is told to
        # stop. xl shutdown: Linux's orderly poweroff runs /sbin/poweroff, which sends init
        # SIGUSR2; xl reboot: its orderly reboot runs /sbin/reboot, which sends SIGTERM.
        if grep -q 'apus\\.stay' /proc/cmdline; then
            trap 'echo APUS-GUEST-POWEROFF; poweroff -f' USR2 USR1
            trap 'echo APUS-GUEST-REBOOT; reboot -f' TERM
            echo "CPUS=$(nproc)"
            dmesg | grep "Run /init"
            while true; do sleep 1; done
        fi
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

    /// Xen-interface test guest (initrd-xen.cpio): Debian's xenstore tools against the domain's
    /// XenStore, /sys/hypervisor, the xenbus device, the Xen driver modules. Every check prints a line:
    ///
    ///     XENTEST <name>=<value>                       a value read
    ///     XENTEST <name> ok                            an action done
    ///     XENTEST <name>: <line>                       each line of a listing, then "XENTEST <name> ok"
    ///     XENTEST <name> FAILED exit=<status>: <text>  any of them failing (143: killed after 20 s)
    ///
    /// between `XENTEST begin <kernel release>` and `XENTEST end`, then powers off. Without Xen
    /// (native, or a domain without the hypervisor node) it reaches the end the same way, the Xen
    /// checks reported FAILED.
    static let xenInit = #"""
        #!/bin/sh
        export PATH=/bin:/sbin:/usr/bin:/usr/sbin
        mount -t proc proc /proc
        mount -t sysfs sysfs /sys
        mount -t devtmpfs devtmpfs /dev 2>/dev/null
        mkdir -p /dev/pts && mount -t devpts devpts /dev/pts 2>/dev/null    # xenconsoled's ptys
        # What udev makes on a full system; the hotplug scripts' locks stat /dev/stdin.
        ln -sf /proc/self/fd /dev/fd; ln -sf fd/0 /dev/stdin; ln -sf fd/1 /dev/stdout; ln -sf fd/2 /dev/stderr
        echo APUS-GUEST-UP
        # apus.ddbench=N (apus bench --only disk): the modules, then N MiB read from /dev/vda
        # timed by the guest's own clock (/proc/uptime: elapsed and idle seconds), and
        # nothing else. Under icount, elapsed minus idle is the instructions the CPU ran.
        n=$(sed -n 's/.*apus\.ddbench=\([0-9]*\).*/\1/p' /proc/cmdline)
        if [ -n "$n" ]; then
            for m in $(cat /etc/xen-modules); do insmod "$m" 2>/dev/null; done
            # /proc/timer_list has both in ns ("now at", and CPU 0's idle_sleeptime plus
            # iowait_sleeptime: idle while a task waits for I/O counts as iowait); /proc/uptime
            # only to 10 ms.
            clocks() { awk '/^now at/ { now = $3 } /(idle|iowait)_sleeptime/ && seen[$1]++ == 0 { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+$/) { idle += $i; break } } END { printf "%s %.0f\n", now, idle }' /proc/timer_list; }
            echo "DDBENCH-START"
            c0=$(clocks)
            dd if=/dev/vda of=/dev/null bs=1M count="$n" 2>/dev/null
            c1=$(clocks)
            echo "DDBENCH mib=$n start=${c0% *} end=${c1% *} idlestart=${c0#* } idleend=${c1#* }"
            poweroff -f
        fi
        # apus.shell (scripts/demo.sh): a control domain for people. The Xen modules and xenfs,
        # Debian's toolstack started as its /etc/init.d/xen does (xenstored, xen-init-dom0,
        # xenconsoled), the domU on the first virtio disk (apus.domu=K:I: its kernel, K bytes,
        # at 0, its initrd, I bytes, at the next MiB) put in /domu with /etc/xen/debian.cfg,
        # then a shell; leaving it powers the board off.
        if grep -q 'apus\.shell' /proc/cmdline; then
            for m in $(cat /etc/xen-modules); do insmod "$m" 2>/dev/null; done
            mount -t xenfs xenfs /proc/xen
            mkdir -p /run/xen /run/xenstored /var/lib/xen /var/log/xen/console /var/lock /etc/xen
            [ -e /var/run ] || ln -s /run /var/run
            echo 'autoballoon="off"' > /etc/xen/xl.conf
            xenstored --pid-file /run/xenstore.pid
            i=0
            while ! xenstore-read -s / >/dev/null 2>&1 && [ $i -lt 80 ]; do usleep 250000; i=$((i + 1)); done
            xen-init-dom0 >/dev/null
            init-dom0less >/dev/null 2>&1
            xenconsoled --pid-file /run/xenconsoled.pid
            # The bridge of the domUs' PV networks (vif = [ 'bridge=xenbr0' ]; docs/pv-devices.md).
            brctl addbr xenbr0 && ip addr add 192.0.2.129/25 dev xenbr0 && ip link set xenbr0 up
            d=$(sed -n 's/.*apus\.domu=\([0-9]*:[0-9]*\).*/\1/p' /proc/cmdline)
            if [ -n "$d" ]; then
                kb=${d%:*}; ib=${d#*:}; km=$(( (kb + 1048575) / 1048576 ))
                mkdir -p /domu
                dd if=/dev/vda bs=1M count=$km 2>/dev/null | head -c "$kb" > /domu/Image
                dd if=/dev/vda bs=1M skip=$km 2>/dev/null | head -c "$ib" > /domu/initrd.cpio
                printf 'name = "debian"\nkernel = "/domu/Image"\nramdisk = "/domu/initrd.cpio"\nextra = "console=hvc0"\nmemory = 256\nvcpus = 2\n' > /etc/xen/debian.cfg
            fi
            /bin/busybox --install -s 2>/dev/null
            hostname apus-dom0
            # /init is the shell's parent, not a real init: poweroff and reboot act directly.
            printf "alias poweroff='poweroff -f'\nalias reboot='reboot -f'\nalias halt='poweroff -f'\n" > /etc/profile
            export ENV=/etc/profile PS1='\h:\w# '
            echo
            echo "Apus dom0: Debian $(uname -r) with Xen 4.17's toolstack (xl, xenstored, xenconsoled)."
            echo "Try: xl list; xl create -c /etc/xen/debian.cfg (Ctrl-] leaves the domU's console);"
            echo "xl console debian; xl shutdown debian; poweroff ends dom0 and the board."
            echo
            setsid cttyhack sh
            poweroff -f
        fi
        echo "XENTEST begin $(uname -r)"
        T=20

        # value NAME CMD...: "NAME=<output>" (newlines as spaces)
        value() {
            name=$1; shift
            out=$(timeout $T "$@" 2>&1); rc=$?
            out=$(printf '%s' "$out" | tr '\n' ' ')
            if [ $rc -eq 0 ]; then echo "XENTEST $name=$out"; else echo "XENTEST $name FAILED exit=$rc: $out"; fi
            return $rc
        }
        # action NAME CMD...: "NAME ok"
        action() {
            name=$1; shift
            out=$(timeout $T "$@" 2>&1); rc=$?
            out=$(printf '%s' "$out" | tr '\n' ' ')
            if [ $rc -eq 0 ]; then echo "XENTEST $name ok${out:+: $out}"; else echo "XENTEST $name FAILED exit=$rc: $out"; fi
            return $rc
        }
        # listing NAME CMD...: "NAME: <line>" per line, then "NAME ok"
        listing() {
            name=$1; shift
            timeout $T "$@" >/tmp/out 2>&1; rc=$?
            while IFS= read -r line; do echo "XENTEST $name: $line"; done </tmp/out
            if [ $rc -eq 0 ]; then echo "XENTEST $name ok"; else echo "XENTEST $name FAILED exit=$rc"; fi
            return $rc
        }

        echo "XENTEST consoles=$(cut -d' ' -f1 /proc/consoles | tr '\n' ' ')"
        # The time of day the kernel set from shared_info's wallclock (no RTC in a domU).
        echo "XENTEST date=$(date +%s)"
        dmesg | grep -i xen | head -n 40 | while IFS= read -r line; do echo "XENTEST dmesg: $line"; done

        # /sys/hypervisor (CONFIG_XEN_SYS_HYPERVISOR, built in)
        value hypervisor-type cat /sys/hypervisor/type
        if v=$(cat /sys/hypervisor/version/major 2>&1) && v=$v.$(cat /sys/hypervisor/version/minor 2>&1) \
            && v=$v$(cat /sys/hypervisor/version/extra 2>&1); then
            echo "XENTEST hypervisor-version=$v"
        else
            rc=$?; echo "XENTEST hypervisor-version FAILED exit=$rc: $v"
        fi

        # libxenstore opens $XENSTORED_PATH, else /var/run/xenstored/socket, else /dev/xen/xenbus
        # if it exists, else /proc/xen/xenbus. The xenbus driver (built in) registers the misc
        # device xen/xenbus; devtmpfs makes the node, else make it from /proc/misc.
        if [ ! -e /dev/xen/xenbus ]; then
            minor=$(awk '$2 == "xen/xenbus" { print $1 }' /proc/misc)
            [ -n "$minor" ] && mkdir -p /dev/xen && mknod /dev/xen/xenbus c 10 "$minor"
        fi
        value xenbus-device ls -l /dev/xen/xenbus

        # apus.xswait (a boot-time domU next to a control domain): its XenStore is dom0's
        # xenstored, reachable once init-dom0less there has introduced it. Until then Linux's
        # xenbus waits (HVM_PARAM_STORE_PFN reads ~0, "xenstore_late_init" holds the store
        # channel) and nothing may touch /dev/xen/xenbus: Linux 6.1 probes at the first
        # request and oopses on the missing ring. Once connected the channel is "xenbus".
        if grep -q 'apus\.xswait' /proc/cmdline; then
            i=0
            while ! grep -q 'xenbus' /proc/interrupts && [ $i -lt 120 ]; do sleep 1; i=$((i + 1)); done
            echo "XENTEST xenstore-waited=$i"
        fi

        # XenStore with Debian's tools; relative paths are under the domain's home /local/domain/<domid>.
        # Skipped with apus.dom0 on the command line: a control domain's XenStore is its own
        # xenstored, which this guest does not start.
        if ! grep -q 'apus\.dom0' /proc/cmdline; then
        domid=
        value domid xenstore-read domid && domid=$out
        value name xenstore-read name
        action write xenstore-write data/apus-test hello
        value readback xenstore-read data/apus-test
        home=/local/domain/${domid:-unknown}
        value readback-absolute xenstore-read "$home/data/apus-test"
        listing list xenstore-list "$home"
        listing ls xenstore-ls -f "$home"
        # Another domain's home is not writable: expected to be refused.
        out=$(timeout $T xenstore-write /local/domain/0/data/apus-test intruder 2>&1); rc=$?
        out=$(printf '%s' "$out" | tr '\n' ' ')
        if [ $rc -eq 0 ]; then echo "XENTEST foreign-write ALLOWED"
        elif [ $rc -eq 143 ]; then echo "XENTEST foreign-write FAILED exit=$rc: $out"
        else echo "XENTEST foreign-write refused exit=$rc: $out"; fi
        fi

        # The Xen drivers Debian's cloud kernel has as modules (event channels, xenfs, grant mapping)
        for m in $(cat /etc/xen-modules); do
            action "insmod $(basename "$m" .ko)" insmod "$m"
        done
        if [ -d /proc/xen ]; then
            action xenfs mount -t xenfs xenfs /proc/xen
            listing proc-xen ls /proc/xen
            value capabilities cat /proc/xen/capabilities
        else
            echo "XENTEST xenfs FAILED exit=1: no /proc/xen"
        fi
        listing dev-xen ls /dev/xen

        # apus.pvdomu (a domU that dom0's xl gave PV devices, see apus.pv): its disks xvda
        # (read whole: md5, then a marker written at 2 MiB) and xvdb (a marker at 0), its
        # network eth0 as 192.0.2.130/25 (a file fetched from dom0 over HTTP, one served to it),
        # then the devices dom0 plugs in and out while it runs (xvdc, eth1). Lines go to
        # its console, which dom0's xenconsoled logs; then it powers off.
        # apus.pvbenchdomu (apus bench --only pv): 64 MiB read from and written to its PV disk
        # and fetched from dom0 over its PV network, each timed on its own clock (guest ns:
        # instructions under icount); then it serves 32 MiB for dom0 to fetch and waits.
        if grep -q 'apus\.pvbenchdomu' /proc/cmdline; then
            now() { awk '/^now at/ { print $3; exit }' /proc/timer_list; }
            i=0; while [ ! -e /dev/xvda ] && [ $i -lt 2400 ]; do usleep 25000; i=$((i + 1)); done
            ip link set eth0 up && ip addr add 192.0.2.130/25 dev eth0
            t0=$(now); dd if=/dev/xvda of=/dev/null bs=1M count=64 2>/dev/null; t1=$(now)
            dd if=/dev/zero of=/dev/xvda bs=1M count=64 conv=fsync 2>/dev/null; t2=$(now)
            i=0; while ! wget -q -O /dev/null http://192.0.2.129:8080/ping 2>/dev/null && [ $i -lt 100 ]; do usleep 100000; i=$((i + 1)); done
            t3=$(now); wget -q -O /dev/null http://192.0.2.129:8080/net.bin || echo "PVBENCH-DOMU-FAILED: wget $?"; t4=$(now)
            echo "PVBENCH-DOMU read=$((t1 - t0)) write=$((t2 - t1)) down=$((t4 - t3))"
            # (Its root is a tmpfs of half its RAM, which initrd-xen's files already use in part.)
            mkdir -p /www && head -c 33554432 /dev/zero > /www/up.bin && httpd -p 192.0.2.130:8080 -h /www
            echo "PVBENCH-DOMU-READY"
            while true; do sleep 100; done
        fi
        # apus.pvpeer: a second domU on dom0's bridge (192.0.2.131/25) fetches 8 MiB from the
        # first (apus.pvdomu) over HTTP: domU to domU through dom0's netback and bridge.
        if grep -q 'apus\.pvpeer' /proc/cmdline; then
            T=120
            action pv-peer-net-up sh -c 'ip link set eth0 up && ip addr add 192.0.2.131/25 dev eth0'
            value pv-peer-md5 sh -c 'wget -q -O - http://192.0.2.130:8080/up.bin | md5sum | cut -d" " -f1'
            echo "XENTEST pv-peer-done"
            poweroff -f
        fi
        # apus.pvwriter: writes to its PV disk xvda until dom0 destroys it.
        if grep -q 'apus\.pvwriter' /proc/cmdline; then
            i=0; while [ ! -e /dev/xvda ] && [ $i -lt 240 ]; do usleep 250000; i=$((i + 1)); done
            echo "XENTEST pv-writing"
            while true; do dd if=/dev/urandom of=/dev/xvda bs=65536 count=128 conv=fsync 2>/dev/null; done
        fi
        if grep -q 'apus\.pvdomu' /proc/cmdline; then
            T=300
            appear() { i=0; while [ ! -e "$1" ] && [ $i -lt 240 ]; do usleep 250000; i=$((i + 1)); done; [ -e "$1" ]; }
            vanish() { i=0; while [ -e "$1" ] && [ $i -lt 240 ]; do usleep 250000; i=$((i + 1)); done; [ ! -e "$1" ]; }
            appear /dev/xvda && echo "XENTEST pv-xvda ok"
            value pv-xvda-sectors cat /sys/block/xvda/size
            value pv-xvda-md5 sh -c 'md5sum /dev/xvda | cut -d" " -f1'
            action pv-xvda-write sh -c 'echo APUS-DOMU-WROTE-THIS | dd of=/dev/xvda bs=1024 seek=2048 conv=notrunc,fsync 2>/dev/null'
            appear /dev/xvdb && echo "XENTEST pv-xvdb ok"
            value pv-xvdb-sectors cat /sys/block/xvdb/size
            action pv-xvdb-write sh -c 'echo APUS-DOMU-FILE | dd of=/dev/xvdb conv=notrunc,fsync 2>/dev/null'
            action pv-net-up sh -c 'ip link set eth0 up && ip addr add 192.0.2.130/25 dev eth0'
            value pv-net-down-md5 sh -c 'wget -q -O - http://192.0.2.129:8080/down.bin | md5sum | cut -d" " -f1'
            mkdir -p /www
            head -c 8388608 /dev/xvda > /www/up.bin
            value pv-net-up-md5 sh -c 'md5sum /www/up.bin | cut -d" " -f1'
            action pv-httpd httpd -p 192.0.2.130:8080 -h /www
            echo "XENTEST pv-ready-for-attach"
            appear /dev/xvdc && echo "XENTEST pv-xvdc ok"
            value pv-xvdc-md5 sh -c 'md5sum /dev/xvdc | cut -d" " -f1'
            vanish /dev/xvdc && echo "XENTEST pv-xvdc-detached ok"
            appear /sys/class/net/eth1 && echo "XENTEST pv-eth1 ok"
            value pv-eth1-mac cat /sys/class/net/eth1/address
            vanish /sys/class/net/eth1 && echo "XENTEST pv-eth1-detached ok"
            echo "XENTEST pv-done"
            poweroff -f
        fi

        # apus.rebootonce on the command line (a control domain with a --disk): the first
        # boot writes a marker 2 MiB into the disk and reboots; the next finds it and goes on.
        if grep -q 'apus\.rebootonce' /proc/cmdline; then
            if dd if=/dev/vda bs=1024 skip=2048 count=1 2>/dev/null | grep -q APUS-DOM0-REBOOTED; then
                echo "XENTEST second-boot ok"
            else
                echo APUS-DOM0-REBOOTED | dd of=/dev/vda bs=1024 seek=2048 conv=notrunc,fsync 2>/dev/null
                echo "XENTEST rebooting"
                reboot -f
            fi
        fi

        # apus.xl on the command line (a control domain): Debian's toolstack started as its
        # /etc/init.d/xen does (C xenstored, then xen-init-dom0), then `xl info` and `xl list`.
        if grep -q 'apus\.xl' /proc/cmdline; then
            mkdir -p /run/xen /run/xenstored /var/lib/xen /var/log/xen /var/lock /etc/xen
            [ -e /var/run ] || ln -s /run /var/run
            echo 'autoballoon="off"' > /etc/xen/xl.conf
            action xenstored xenstored --pid-file /run/xenstore.pid
            i=0
            while ! xenstore-read -s / >/dev/null 2>&1 && [ $i -lt 80 ]; do usleep 250000; i=$((i + 1)); done
            action xen-init-dom0 xen-init-dom0
            value dom0-name xenstore-read /local/domain/0/name
            # Boot-time domains join this xenstored as on Xen 4.17: init-dom0less gives each
            # xen,enhanced one its XenStore ring and introduces it (named dom0less-<id>).
            action init-dom0less init-dom0less
            for n in $(xenstore-list /local/domain 2>/dev/null); do
                echo "XENTEST xs-domain: $n $(xenstore-read /local/domain/$n/name 2>&1) $(xenstore-read /local/domain/$n/store/port 2>/dev/null)"
            done
            listing xl-info xl info
            listing xl-list xl list
            listing xl-dmesg sh -c 'xl dmesg | head -n 20'
            # apus.xldomu=N: domain N paused and unpaused with xl (its CPU time, xl list's
            # Time(s), before, 2 s into the pause and 2 s after it), its credit2 weight set,
            # its vCPU pinned to CPU 1, and then destroyed.
            n=$(sed -n 's/.*apus\.xldomu=\([0-9]*\).*/\1/p' /proc/cmdline)
            if [ -n "$n" ]; then
                cputime() { xl list "$n" 2>/dev/null | awk 'NR == 2 { print $NF }'; }
                action xl-pause xl pause "$n"
                t1=$(cputime); sleep 2; t2=$(cputime)
                listing xl-list-paused xl list "$n"
                listing xl-vcpu-list xl vcpu-list "$n"
                action xl-unpause xl unpause "$n"
                sleep 2; t3=$(cputime)
                echo "XENTEST pause-cputime=$t1,$t2,$t3"
                action xl-sched-set xl sched-credit2 -d "$n" -w 512 -c 50
                listing xl-sched xl sched-credit2 -d "$n"
                # The pool's parameters (sysctl scheduler_op): credit2's rate limit.
                listing xl-sched-pool xl sched-credit2 -s
                action xl-sched-pool-set xl sched-credit2 -s -r 20000
                listing xl-sched-pool-after xl sched-credit2 -s
                action xl-sched-pool-reset xl sched-credit2 -s -r 1000
                action xl-vcpu-pin xl vcpu-pin "$n" 0 1
                listing xl-vcpu-pinned xl vcpu-list "$n"
                # xl rename (XenStore: /local/domain/N/name); xl top runs xentop, here in
                # batch mode (no terminal) for one round.
                action xl-rename xl rename "$n" apus-renamed
                listing xl-list-renamed xl list "$n"
                listing xl-top xentop -b -i 1
                action xl-destroy xl destroy "$n"
                sleep 1
                listing xl-list-after xl list
            fi
            # apus.xlcreate=BYTES: a guest image of BYTES bytes at 6 MiB into the first virtio
            # disk is started with `xl create` (xenconsoled serving its PV console, logged):
            # it shows in xl list while it holds for 3 s, powers off and is destroyed by xl.
            # Then 20 more create/poweroff/destroy cycles; xl info's free memory before the
            # first and after the last.
            s=$(sed -n 's/.*apus\.xlcreate=\([0-9]*\).*/\1/p' /proc/cmdline)
            if [ -n "$s" ]; then
                mkdir -p /var/log/xen/console
                dd if=/dev/vda bs=1M skip=6 count=1 2>/dev/null | head -c "$s" > /tmp/xlguest.img
                action xenconsoled xenconsoled --pid-file /run/xenconsoled.pid --log=guest
                free() { xl info | awk '/^free_memory/ { print $3 }'; }
                gone() { i=0; while xl list xlguest >/dev/null 2>&1 && [ $i -lt 120 ]; do usleep 250000; i=$((i + 1)); done; }
                f0=$(free)
                cfg() { printf 'name = "xlguest"\nkernel = "/tmp/xlguest.img"\nmemory = 32\nvcpus = 1\nextra = "%s"\non_poweroff = "destroy"\n' "$1" > /etc/xen/xlguest.cfg; }
                cfg hold=3000
                action xl-create xl create /etc/xen/xlguest.cfg
                listing xl-list-created xl list
                gone
                listing xlguest-console cat /var/log/xen/console/guest-xlguest.log
                listing xl-list-after-poweroff xl list
                cfg hold=0
                ok=0
                for c in $(seq 20); do xl create -q /etc/xen/xlguest.cfg >/dev/null 2>&1 && gone && ok=$((ok + 1)); done
                sleep 1
                echo "XENTEST xl-cycles=$ok"
                echo "XENTEST xl-free-memory=$f0,$(free)"
                # on_crash="restart": it crashes at every boot and xl makes a new domain of it
                # each time, until xl destroy; then the free memory again.
                printf 'name = "xlguest"\nkernel = "/tmp/xlguest.img"\nmemory = 32\nvcpus = 1\nextra = "crash=1 hold=1500"\non_crash = "restart"\n' > /etc/xen/xlguest.cfg
                action xl-create-crashing xl create /etc/xen/xlguest.cfg
                sleep 5
                value xl-crash-domid xl domid xlguest
                action xl-destroy-crashing xl destroy xlguest
                gone
                listing xl-crash-log grep -i -E "crash|restart|destroy" /var/log/xen/xl-xlguest.log
                sleep 1
                echo "XENTEST xl-free-memory-after-crashes=$(free)"
            fi
            # apus.pv=K:O:I: a Debian domU with PV disks and a PV network served by this
            # domain's blkback and netback, created with xl: its kernel (K bytes at 0 of the
            # second virtio disk), initrd-xen (I bytes at O MiB), the third virtio disk as its
            # xvda (phy:), a file in dom0 as xvdb (through a loop device), a vif on the bridge
            # xenbr0 (192.0.2.129/25 here: the board's upper half of TEST-NET; QEMU's user
            # network on eth0 has the lower). While it runs (apus.pvdomu), xl block-attach and
            # block-detach a file as xvdc, network-attach and network-detach a second vif.
            # After it is gone: the backends' XenStore entries, the loop devices, the marker
            # it wrote into the file, and xl info's free memory before and after.
            p=$(sed -n 's/.*apus\.pv=\([0-9]*:[0-9]*:[0-9]*\).*/\1/p' /proc/cmdline)
            if [ -n "$p" ]; then
                T=120
                kb=${p%%:*}; rest=${p#*:}; io=${rest%:*}; ib=${rest#*:}; km=$(( (kb + 1048575) / 1048576 ))
                mkdir -p /domu /var/log/xen/console /www
                dd if=/dev/vdb bs=1M count=$km 2>/dev/null | head -c "$kb" > /domu/Image
                dd if=/dev/vdb bs=1M skip=$io 2>/dev/null | head -c "$ib" > /domu/initrd-xen.cpio
                pidof xenconsoled >/dev/null || action xenconsoled xenconsoled --pid-file /run/xenconsoled.pid --log=guest
                log=/var/log/xen/console/guest-pv.log
                waitlog() { i=0; while ! grep -q "$1" "$log" 2>/dev/null && [ $i -lt 1200 ]; do usleep 250000; i=$((i + 1)); done; grep -q "$1" "$log"; }
                free() { xl info | awk '/^free_memory/ { print $3 }'; }
                action pv-bridge sh -c 'brctl addbr xenbr0 && ip addr add 192.0.2.129/25 dev xenbr0 && ip link set xenbr0 up'
                head -c 8388608 /dev/urandom > /www/down.bin
                value pv-net-down-md5-dom0 sh -c 'md5sum /www/down.bin | cut -d" " -f1'
                action pv-httpd-dom0 httpd -p 192.0.2.129:8080 -h /www
                dd if=/dev/zero of=/tmp/file.img bs=1M count=16 2>/dev/null
                head -c 4194304 /dev/urandom > /tmp/hot.img
                value pv-xvdc-md5-dom0 sh -c 'md5sum /tmp/hot.img | cut -d" " -f1'
                # Free memory is compared with no other domain coming or going: wait until
                # dom0 is alone (a boot-time domain may still be running its checks).
                i=0; while [ "$(xl list | wc -l)" -gt 2 ] && [ $i -lt 480 ]; do usleep 250000; i=$((i + 1)); done
                f0=$(free)
                printf '%s\n' 'name = "pv"' 'kernel = "/domu/Image"' 'ramdisk = "/domu/initrd-xen.cpio"' \
                    'extra = "console=hvc0 apus.pvdomu"' 'memory = 192' 'vcpus = 2' \
                    "disk = [ 'phy:/dev/vdc,xvda,w', '/tmp/file.img,raw,xvdb,rw' ]" \
                    "vif = [ 'bridge=xenbr0,mac=00:16:3e:00:00:02' ]" > /etc/xen/pv.cfg
                action xl-create-pv xl create /etc/xen/pv.cfg
                listing xl-block-list-pv xl block-list pv
                listing xl-network-list-pv xl network-list pv
                if waitlog "XENTEST pv-ready-for-attach"; then
                    value pv-net-up-md5-dom0 sh -c 'wget -q -O - http://192.0.2.130:8080/up.bin | md5sum | cut -d" " -f1'
                    printf '%s\n' 'name = "pv2"' 'kernel = "/domu/Image"' 'ramdisk = "/domu/initrd-xen.cpio"' \
                        'extra = "console=hvc0 apus.pvpeer"' 'memory = 128' 'vcpus = 1' \
                        "vif = [ 'bridge=xenbr0,mac=00:16:3e:00:00:04' ]" > /etc/xen/pv2.cfg
                    action xl-create-pv2 xl create /etc/xen/pv2.cfg
                    peer=/var/log/xen/console/guest-pv2.log
                    i=0; while ! grep -q "XENTEST pv-peer-done" "$peer" 2>/dev/null && [ $i -lt 1200 ]; do usleep 250000; i=$((i + 1)); done
                    listing pv-peer grep "XENTEST pv-peer" "$peer"
                    action xl-block-attach xl block-attach pv /tmp/hot.img,raw,xvdc,ro
                    waitlog "XENTEST pv-xvdc-md5" && action xl-block-detach xl block-detach pv xvdc
                    waitlog "XENTEST pv-xvdc-detached" && action xl-network-attach xl network-attach pv bridge=xenbr0 mac=00:16:3e:00:00:03
                    waitlog "XENTEST pv-eth1-mac" && action xl-network-detach xl network-detach pv 1
                    waitlog "XENTEST pv-done"
                else
                    echo "XENTEST pv-ready-for-attach FAILED"
                fi
                i=0; while xl list pv >/dev/null 2>&1 && [ $i -lt 240 ]; do usleep 250000; i=$((i + 1)); done
                sleep 1
                listing pv-domu grep -E "XENTEST (pv|insmod xen-blkfront|insmod xen-netfront)" "$log"
                listing pv-backends-after sh -c 'xenstore-ls -f /local/domain/0/backend | grep -E "/(vbd|vif)/" || true'
                listing pv-loops-after losetup -a
                value pv-file-marker sh -c 'head -c 14 /tmp/file.img'
                echo "XENTEST pv-free-memory=$f0,$(free)"
                # A domU destroyed while it writes to its file-backed disk: the backend and the
                # loop device go, dom0's memory comes back (no grant or page is left mapped).
                dd if=/dev/zero of=/tmp/file2.img bs=1M count=8 2>/dev/null
                printf '%s\n' 'name = "pvw"' 'kernel = "/domu/Image"' 'ramdisk = "/domu/initrd-xen.cpio"' \
                    'extra = "console=hvc0 apus.pvwriter"' 'memory = 128' 'vcpus = 1' \
                    "disk = [ '/tmp/file2.img,raw,xvda,rw' ]" > /etc/xen/pvw.cfg
                f1=$(free)
                log=/var/log/xen/console/guest-pvw.log
                action xl-create-pvw xl create /etc/xen/pvw.cfg
                waitlog "XENTEST pv-writing" && sleep 3 && action xl-destroy-pvw xl destroy pvw
                sleep 2
                listing pv-backends-after-destroy sh -c 'xenstore-ls -f /local/domain/0/backend | grep -E "/(vbd|vif)/" || true'
                listing pv-loops-after-destroy losetup -a
                value pv-file2-readable sh -c 'md5sum /tmp/file2.img | cut -d" " -f1'
                echo "XENTEST pv-free-memory-destroy=$f1,$(free)"
                T=20
            fi
            # apus.pvbench=K:I (apus bench --only pv): the domU of the first virtio disk (kernel K
            # bytes at 0, initrd-xen I bytes at the next MiB) with a 64 MiB raw file in dom0's
            # RAM (tmpfs, through a loop device) as its PV disk and a vif on xenbr0; it times
            # its disk and dom0 -> domU (apus.pvbenchdomu), dom0 times 32 MiB domU -> dom0.
            b=$(sed -n 's/.*apus\.pvbench=\([0-9]*:[0-9]*\).*/\1/p' /proc/cmdline)
            if [ -n "$b" ]; then
                kb=${b%:*}; ib=${b#*:}; km=$(( (kb + 1048575) / 1048576 ))
                mkdir -p /domu /var/log/xen/console /www
                dd if=/dev/vda bs=1M count=$km 2>/dev/null | head -c "$kb" > /domu/Image
                dd if=/dev/vda bs=1M skip=$km 2>/dev/null | head -c "$ib" > /domu/initrd.cpio
                pidof xenconsoled >/dev/null || xenconsoled --pid-file /run/xenconsoled.pid --log=guest
                log=/var/log/xen/console/guest-pvbench.log
                now() { awk '/^now at/ { print $3; exit }' /proc/timer_list; }
                brctl addbr xenbr0 && ip addr add 192.0.2.129/25 dev xenbr0 && ip link set xenbr0 up
                head -c 67108864 /dev/urandom > /tmp/pvdisk.img
                head -c 67108864 /dev/zero > /www/net.bin
                echo pong > /www/ping
                httpd -p 192.0.2.129:8080 -h /www
                printf '%s\n' 'name = "pvbench"' 'kernel = "/domu/Image"' 'ramdisk = "/domu/initrd.cpio"' \
                    'extra = "console=hvc0 quiet apus.pvbenchdomu"' 'memory = 192' 'vcpus = 1' \
                    "disk = [ '/tmp/pvdisk.img,raw,xvda,rw' ]" "vif = [ 'bridge=xenbr0,mac=00:16:3e:00:00:02' ]" > /etc/xen/pvbench.cfg
                echo "PVBENCH-START"
                xl create -q /etc/xen/pvbench.cfg
                i=0; while ! grep -q PVBENCH-DOMU-READY "$log" 2>/dev/null && [ $i -lt 24000 ]; do usleep 25000; i=$((i + 1)); done
                t0=$(now); wget -q -O /dev/null http://192.0.2.130:8080/up.bin; rc=$?; t1=$(now)
                d=$(grep -o 'PVBENCH-DOMU [a-z0-9= ]*' "$log")
                if [ $rc != 0 ] || grep -q PVBENCH-DOMU-FAILED "$log"; then echo "PVBENCH-FAILED: wget $rc"; grep PVBENCH "$log"
                elif [ -n "$d" ]; then echo "PVBENCH mib=64 upmib=32 ${d#PVBENCH-DOMU } up=$((t1 - t0))"; fi
                xl destroy pvbench
            fi
            # apus.xlbench=K:I (apus bench --only xl; no comma: QEMU's -device options split at one): the Debian domU from the first virtio
            # disk (kernel K bytes at 0, initrd I bytes at the next MiB) created with xl (1
            # vCPU, 128 MiB, quiet); guest ns from dom0's clock (/proc/timer_list) until xl
            # create returns and until the domU's /init prints APUS-GUEST-UP, then until
            # `xl destroy` has made it gone; xl info's free memory before, while it ran, and
            # with four paused 64 MiB domains.
            b=$(sed -n 's/.*apus\.xlbench=\([0-9]*:[0-9]*\).*/\1/p' /proc/cmdline)
            if [ -n "$b" ]; then
                kb=${b%:*}; ib=${b#*:}; km=$(( (kb + 1048575) / 1048576 ))
                mkdir -p /domu /var/log/xen/console
                dd if=/dev/vda bs=1M count=$km 2>/dev/null | head -c "$kb" > /domu/Image
                dd if=/dev/vda bs=1M skip=$km 2>/dev/null | head -c "$ib" > /domu/initrd.cpio
                pidof xenconsoled >/dev/null || action xenconsoled xenconsoled --pid-file /run/xenconsoled.pid --log=guest
                log=/var/log/xen/console/guest-bench.log
                printf 'name = "bench"\nkernel = "/domu/Image"\nramdisk = "/domu/initrd.cpio"\nextra = "console=hvc0 quiet apus.stay"\nmemory = 128\nvcpus = 1\n' > /etc/xen/bench.cfg
                now() { awk '/^now at/ { print $3; exit }' /proc/timer_list; }
                mem() { xl info | awk '/^free_memory/ { print $3 }'; }
                f0=$(mem)
                echo "XLBENCH-START"
                t0=$(now)
                xl create -q /etc/xen/bench.cfg
                t1=$(now)
                i=0; while ! grep -q APUS-GUEST-UP "$log" 2>/dev/null && [ $i -lt 6000 ]; do usleep 10000; i=$((i + 1)); done
                t2=$(now)
                echo "XLBENCH-UP"
                f1=$(mem)
                t3=$(now)
                xl destroy bench
                i=0; while xl list bench >/dev/null 2>&1 && [ $i -lt 3000 ]; do usleep 10000; i=$((i + 1)); done
                t4=$(now)
                # The hypervisor's memory per domain: four more built (64 MiB each, paused),
                # free memory then, and all four destroyed.
                for n in 1 2 3 4; do
                    sed -e "s/^name = .*/name = \"hold$n\"/" -e 's/^memory = .*/memory = 64/' /etc/xen/bench.cfg > /etc/xen/hold$n.cfg
                    xl create -q -p /etc/xen/hold$n.cfg
                done
                f2=$(mem)
                for n in 1 2 3 4; do xl destroy hold$n; done
                grep -q APUS-GUEST-UP "$log" && echo "XLBENCH create=$((t1 - t0)) up=$((t2 - t0)) destroy=$((t4 - t3)) free0=$f0 free1=$f1 free2=$f2"
            fi
            # apus.xllinux=K,I: a Debian domU from the second virtio disk (its kernel, K bytes,
            # at 0 and its initrd, I bytes, at the next MiB), created with xl with 2 vCPUs and
            # its console logged by xenconsoled; xl list, vcpu-list, pause, unpause,
            # vcpu-pin, reboot (xl makes a new domain of it) and shutdown -w.
            l=$(sed -n 's/.*apus\.xllinux=\([0-9]*,[0-9]*\).*/\1/p' /proc/cmdline)
            if [ -n "$l" ]; then
                kb=${l%,*}; ib=${l#*,}; km=$(( (kb + 1048575) / 1048576 ))
                mkdir -p /domu /var/log/xen/console
                dd if=/dev/vdb bs=1M count=$km 2>/dev/null | head -c "$kb" > /domu/Image
                dd if=/dev/vdb bs=1M skip=$km 2>/dev/null | head -c "$ib" > /domu/initrd.cpio
                pidof xenconsoled >/dev/null || action xenconsoled xenconsoled --pid-file /run/xenconsoled.pid --log=guest
                log=/var/log/xen/console/guest-debian.log
                inits() { n=$(grep -c "APUS-GUEST-UP" "$log" 2>/dev/null); echo "${n:-0}"; }
                waitinit() { i=0; while [ "$(inits)" -lt "$1" ] && [ $i -lt 240 ]; do usleep 250000; i=$((i + 1)); done; }
                printf 'name = "debian"\nkernel = "/domu/Image"\nramdisk = "/domu/initrd.cpio"\nextra = "console=hvc0 apus.stay"\nmemory = 128\nvcpus = 2\n' > /etc/xen/debian.cfg
                action xl-create-linux xl create /etc/xen/debian.cfg
                waitinit 1
                listing xl-list-linux xl list
                # xl uptime: dom0's from /proc/uptime, the domU's from the start_time libxl
                # wrote under /vm (init-dom0less writes a relative /local/domain/N/vm, so
                # xl uptime cannot find a boot-time domain's: the same on Xen 4.17).
                listing xl-uptime-linux xl uptime Domain-0 debian
                action xl-pause-linux xl pause debian
                listing xl-list-linux-paused xl list debian
                action xl-unpause-linux xl unpause debian
                action xl-vcpu-pin-linux xl vcpu-pin debian 1 0
                listing xl-vcpu-list-linux xl vcpu-list debian
                value linux-domid xl domid debian
                action xl-reboot-linux xl reboot debian
                waitinit 2
                value linux-domid-rebooted xl domid debian
                action xl-shutdown-linux xl shutdown -w debian
                listing xl-list-after-shutdown xl list
                listing debian-console grep -E "APUS-GUEST|Run /init|CPUS=|reboot: |Power down|xen" "$log"
            fi
        fi

        # apus.rtc on the command line: an RTC alarm 2 s ahead (the PL031's level-sensitive
        # interrupt); the interrupt counts of the pl031 line before and after.
        if grep -q 'apus\.rtc' /proc/cmdline; then
            count() { awk '/pl031/ { n = 0; for (i = 2; i <= NF; i++) if ($i ~ /^[0-9]+$/) n += $i; else break; print n }' /proc/interrupts; }
            b=$(count)
            echo +2 > /sys/class/rtc/rtc0/wakealarm
            sleep 4
            echo "XENTEST rtc-irqs=${b:-none}->$(count)"
        fi

        # apus.disk on the command line: the first virtio disk is read whole (its md5) and a
        # marker written at 1 MiB into it, synced (the test finds it in the image afterwards).
        if grep -q 'apus\.disk' /proc/cmdline; then
            value disk-md5 sh -c 'md5sum /dev/vda | cut -d" " -f1'
            action disk-write sh -c 'echo APUS-DOM0-WROTE-THIS | dd of=/dev/vda bs=1024 seek=1024 conv=notrunc,fsync 2>/dev/null'
        fi

        # apus.httpd on the command line: the first network device up as 192.0.2.15 and
        # busybox httpd on port 80 serving a marker page; /init waits (at most 120 s) until
        # /cgi-bin/done has been fetched (the test asks for it once it has the page).
        if grep -q 'apus\.httpd' /proc/cmdline; then
            mkdir -p /www/cgi-bin
            echo APUS-DOM0-HTTPD > /www/index.html
            printf '#!/bin/sh\necho "Content-Type: text/plain"\necho\necho bye\ntouch /tmp/done\n' > /www/cgi-bin/done
            chmod 755 /www/cgi-bin/done
            action net-up sh -c 'ip link set eth0 up && ip addr add 192.0.2.15/24 dev eth0'
            action httpd httpd -p 80 -h /www
            i=0
            while [ ! -e /tmp/done ] && [ $i -lt 240 ]; do usleep 500000; i=$((i + 1)); done
            if [ -e /tmp/done ]; then echo "XENTEST httpd-fetched ok"; else echo "XENTEST httpd-fetched FAILED exit=1: nobody came"; fi
        fi

        echo "XENTEST end"
        poweroff -f

        """#

    /// Applets the Xen guest's /init needs on top of `applets`.
    /// losetup, logger and brctl are for the hotplug scripts (block, vif-bridge), which run
    /// with PATH=/usr/bin:/usr/sbin:...:/sbin:/bin.
    static let xenApplets = ["timeout", "insmod", "lsmod", "rmmod", "readlink", "ip", "httpd",
                             "losetup", "logger", "brctl", "wget"]

    /// The Xen test guest: busybox, `files` (the xenstore tools, their libraries and the dynamic
    /// loader, kernel modules, /etc/xen-modules: see GuestImages.fetchXenGuest) and `xenInit`.
    static func xen(busybox: [UInt8], files: [NewcArchive.Entry]) -> [UInt8] {
        var a = base(busybox: busybox)
        for applet in xenApplets {
            a.addSymlink("/bin/" + applet, target: "busybox")
        }
        for entry in files { a.add(entry) }
        a.addFile("/init", data: Array(xenInit.utf8), permissions: 0o755)
        return a.bytes()
    }

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
        // Where the kernel looks for them (poweroff_cmd, reboot_cmd): a Xen domU's
        // orderly shutdown (xl shutdown) runs /sbin/poweroff, which signals init.
        a.addSymlink("/sbin/poweroff", target: "/bin/busybox")
        a.addSymlink("/sbin/reboot", target: "/bin/busybox")
        return a
    }
}
