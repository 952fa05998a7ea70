#!/usr/bin/env bash
# The Apus demo: Debian's unmodified arm64 Linux as the control domain (dom0) on Apus, on
# QEMU's virt board, with Debian's own Xen toolstack: a busybox shell where
# `xl create -c /etc/xen/debian.cfg` starts a Debian domU (its kernel and initrd come on a
# virtio disk). Type `poweroff` in dom0 to end it (the board powers off with dom0);
# Ctrl-A three times switches the console between dom0 and the hypervisor.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH=/opt/swift/usr/bin:$PATH
swift build --product apus
.build/debug/apus build --quiet
.build/debug/apus fetch-guest
g=.cache/guest
k=$(stat -c %s $g/Image); i=$(stat -c %s $g/initrd-demo.cpio)
# The domU's disk: the kernel at 0, the initrd at the next MiB.
{ cat $g/Image; head -c $(( (k + 1048575) / 1048576 * 1048576 - k )) /dev/zero; cat $g/initrd-demo.cpio; } > $g/domu-disk.img
exec .build/debug/apus run --dom0-kernel $g/Image --dom0-ramdisk $g/initrd-xen.cpio --disk $g/domu-disk.img \
    --dom0-cmdline "console=hvc0 quiet apus.shell apus.domu=$k:$i"
