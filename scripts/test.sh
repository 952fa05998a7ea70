#!/usr/bin/env bash
# Runs every Apus test: host unit tests of the portable core, then system tests
# that boot the real hypervisor image in QEMU with bare-metal test guests and
# Debian's arm64 Linux. Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH=/opt/swift/usr/bin:$PATH
swift build --product apus
.build/debug/apus build
.build/debug/apus fetch-guest
swift test
