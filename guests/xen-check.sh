#!/usr/bin/env bash
# Dev tool: boot each test guest as a dom0less domU (no dom0) under the reference Xen 4.17
# in QEMU, and print what the guest said.
#   guests/xen-check.sh [GUEST...]      (default: every guest)
# Env: ANCHOR_DIR (the xen binary, from /work/shared/anchors/xen-anchor.sh fetch; default
#      ~/.cache/xen-anchor), OUT (build dir, default /tmp/apus-guests-xen), TIMEOUT (s, default 60),
#      XEN_ARGS (extra Xen command line, default "loglvl=all guest_loglvl=all").
# Per guest the full Xen console log is kept in $OUT/<guest>.xen.log.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ANCHOR_DIR=${ANCHOR_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/xen-anchor}
XEN=$ANCHOR_DIR/xen
OUT=${OUT:-/tmp/apus-guests-xen}
TIMEOUT=${TIMEOUT:-60}
[ -f "$XEN" ] || { echo "no Xen binary at $XEN (run /work/shared/anchors/xen-anchor.sh fetch)" >&2; exit 2; }
"$HERE/build.sh" "$OUT" "$@" >/dev/null
if [ $# -gt 0 ]; then GUESTS=("$@"); else
  GUESTS=(); for d in "$HERE"/*/; do n=$(basename "$d"); [ "$n" != common ] && GUESTS+=("$n"); done
fi

MACHINE="virt,virtualization=on,gic-version=3"
QOPTS=(-cpu cortex-a57 -smp 2 -m 2048)
[ -f "$OUT/virt.dtb" ] || qemu-system-aarch64 -M "$MACHINE,dumpdtb=$OUT/virt.dtb" "${QOPTS[@]}" -nographic -nic none >/dev/null 2>&1
GUEST_ADDR=0x50000000

declare -A CPUS=([smp]=2)
rc=0
for g in "${GUESTS[@]}"; do
  img=$OUT/$g.img; log=$OUT/$g.xen.log
  ncpu=${CPUS[$g]:-1}
  dtc -q -I dtb -O dts "$OUT/virt.dtb" | SZ=$(stat -c %s "$img") NCPU=$ncpu ADDR=$GUEST_ADDR XARGS="${XEN_ARGS-loglvl=all guest_loglvl=all}" python3 -c "
import os, sys
d = sys.stdin.read(); s = d.index('\tchosen {'); e = d.index('};', s) + 3
sz, ncpu, addr, xargs = int(os.environ['SZ']), os.environ['NCPU'], int(os.environ['ADDR'], 16), os.environ['XARGS']
print(d[:s] + '''\tchosen {
\t\tstdout-path = \"/pl011@9000000\";
\t\t#address-cells = <2>; #size-cells = <2>;
\t\txen,xen-bootargs = \"console=dtuart dtuart=/pl011@9000000 %s\";
\t\tdomU1 { compatible = \"xen,domain\"; #address-cells = <1>; #size-cells = <1>;
\t\t\tmemory = <0 0x40000>; cpus = <%s>; vpl011;
\t\t\tmodule@%x { compatible = \"multiboot,kernel\", \"multiboot,module\"; reg = <0x%x %d>; bootargs = \"\"; };
\t\t};
\t};
''' % (xargs, ncpu, addr, addr, sz) + d[e:])" > "$OUT/$g.dts"
  dtc -q -I dts -O dtb "$OUT/$g.dts" -o "$OUT/$g.dtb"
  timeout "$TIMEOUT" qemu-system-aarch64 -nographic -no-reboot -nic none -M "$MACHINE" "${QOPTS[@]}" \
    -dtb "$OUT/$g.dtb" -kernel "$XEN" -device "loader,file=$img,addr=$GUEST_ADDR" > "$log" 2>&1 &
  pid=$!
  # Xen keeps running after the last domU is destroyed: stop once the verdict (plus a moment) is out.
  for _ in $(seq 1 $((TIMEOUT * 5))); do
    grep -aqE 'TEST (PASS|FAIL)' "$log" && { sleep 2; break; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
  echo "=== $g (Xen 4.17, cpus=$ncpu) ==="
  grep -a -E '\(d1\)|d1v|DOM1|domain 1|Unhandled|HVC|SMC' "$log" | tr -d '\r' || true
  if grep -aq "TEST PASS $g" "$log"; then echo "--> $g: PASS"
  else echo "--> $g: FAIL (log: $log)"; rc=1; fi
done
exit $rc
