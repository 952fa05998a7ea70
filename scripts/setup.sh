#!/usr/bin/env bash
# Installs what Apus needs on a fresh Debian machine of this kind: QEMU for the
# reference board, and GNU cpio, the second reader the unit tests check the initramfs
# writer against (NewcArchiveTests.systemCpioReadsIt fails without it). Swift 6.3 is expected at /opt/swift (it ships with the machine).
# The guest kernel and busybox come later, from `apus fetch-guest`.
set -euo pipefail
need=()
command -v qemu-system-aarch64 >/dev/null || need+=(qemu-system-arm)
command -v zcat >/dev/null || need+=(gzip)
command -v dpkg-deb >/dev/null || need+=(dpkg)
[ -x /usr/bin/cpio ] || need+=(cpio)
if [ ${#need[@]} -gt 0 ]; then
  echo "[setup] installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ ! -x /opt/swift/usr/bin/swift ] && ! command -v swift >/dev/null; then
  echo "[setup] Swift 6.3 not found (expected at /opt/swift)" >&2
  exit 1
fi
