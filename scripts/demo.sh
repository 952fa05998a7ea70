#!/usr/bin/env bash
# The Apus demo: Debian's unmodified arm64 Linux as a domain on Apus, on QEMU's
# virt board, to an interactive busybox shell. Type `poweroff` to end it (the
# board powers off with the last domain); Ctrl-A three times switches the
# console between the domain and the hypervisor.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH=/opt/swift/usr/bin:$PATH
swift build --product apus
.build/debug/apus build --quiet
.build/debug/apus fetch-guest
exec .build/debug/apus run examples/debian.cfg
