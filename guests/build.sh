#!/usr/bin/env bash
# Build the bare-metal test guests: guests/build.sh OUTDIR [GUEST...]
# Each guests/<name>/ (except common/) becomes OUTDIR/<name>.img, a flat arm64 Linux
# Image (64-byte header, position independent, linked at 0x40000000), plus <name>.elf.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:?usage: $0 OUTDIR [GUEST...]}; shift
TC=${SWIFT_TOOLCHAIN_BIN:-/opt/swift/usr/bin}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
# Objects go to a private folder and images are renamed into place, so two builds at once
# never link each other's half-written objects nor leave a torn image.
OBJ=$(mktemp -d "$OUT/obj.XXXXXX")
trap 'rm -rf "$OBJ"' EXIT

if [ $# -gt 0 ]; then GUESTS=("$@"); else
  GUESTS=(); for d in "$HERE"/*/; do n=$(basename "$d"); [ "$n" != common ] && GUESTS+=("$n"); done
fi

CFLAGS=(--target=aarch64-none-elf -ffreestanding -nostdlib -fno-builtin -mgeneral-regs-only
        -mstrict-align -fPIE -fvisibility=hidden -fno-stack-protector -fno-unwind-tables
        -fno-asynchronous-unwind-tables -O2 -std=gnu11 -Wall -Wextra -Werror -I"$HERE/common")

for g in "${GUESTS[@]}"; do
  [ -d "$HERE/$g" ] || { echo "no guest $g" >&2; exit 1; }
  objs=()
  for src in "$HERE"/common/*.[cS] "$HERE/$g"/*.[cS]; do
    [ -e "$src" ] || continue
    o="$OBJ/$g-$(basename "$(dirname "$src")")-$(basename "$src").o"
    "$TC/clang" "${CFLAGS[@]}" -c "$src" -o "$o"
    objs+=("$o")
  done
  "$TC/ld.lld" -pie --no-dynamic-linker -z norelro --hash-style=sysv -static -nostdlib \
    -T "$HERE/common/guest.ld" -o "$OBJ/$g.elf" "${objs[@]}"
  "$TC/llvm-objcopy" -O binary "$OBJ/$g.elf" "$OBJ/$g.img"
  mv -f "$OBJ/$g.elf" "$OUT/$g.elf"; mv -f "$OBJ/$g.img" "$OUT/$g.img"
  echo "$OUT/$g.img ($(stat -c %s "$OUT/$g.img") bytes)"
done
