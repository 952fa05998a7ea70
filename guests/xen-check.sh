#!/usr/bin/env bash
# Dev tool: boot each test guest as a dom0less domU (no dom0) under the reference Xen 4.17
# in QEMU, and print what the guest said.
#   guests/xen-check.sh [GUEST...]      (default: every guest)
# Env: ANCHOR_DIR (the xen binary, from /work/shared/anchors/xen-anchor.sh fetch; default
#      ~/.cache/xen-anchor), OUT (build dir, default /tmp/apus-guests-xen), TIMEOUT (s, default 60),
#      XEN_ARGS (extra Xen command line, default "loglvl=all guest_loglvl=all"),
#      ICOUNT=1 (QEMU -icount shift=0,sleep=off: the micro-benchmark guests then print
#      instructions; otherwise their BENCH figures are nanoseconds of QEMU's virtual clock),
#      EXTRA_BOOTARGS (appended to every domain's bootargs, e.g. "n=500 wait=irq"),
#      BOARD_CPUS (the board's CPUs for every guest, instead of the table below).
# Guests of two domains (evtping, ctxswitch) boot both domUs with the bootargs that give each
# its role; such a guest passes when every domain printed TEST PASS.
# Per guest the full Xen console log is kept in $OUT/<guest>.xen.log.
set -euo pipefail
BOARD_CPUS_ALL=${BOARD_CPUS:-}; unset BOARD_CPUS
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
GUEST_ADDR=0x50000000
QICOUNT=(); [ "${ICOUNT:-0}" = 1 ] && QICOUNT=(-icount "${ICOUNT_OPTS:-shift=0,sleep=off}")

# Per guest: vCPUs of its domain (CPUS, default 1), the board's CPUs (BOARD_CPUS, default 2),
# its domains as "vcpus|bootargs" separated by ';' (DOMAINS, default one domain with CPUS[guest]
# vCPUs and no bootargs), and extra Xen options (XEN_EXTRA).
declare -A CPUS=([smp]=2 [psci-race]=3)
declare -A BOARD_CPUS=([evtping]=1 [ctxswitch]=1 [nullcall]=1 [vtlat]=1)
declare -A DOMAINS=([evtping]="1|evtping=a peer=2;1|evtping=b peer=1" [ctxswitch]="1|ctx=a;1|ctx=b")
# Debian's Xen 4.17 boots with XSM SILO, which forbids event channels between two domUs.
declare -A XEN_EXTRA=([evtping]="xsm=dummy")
rc=0
for g in "${GUESTS[@]}"; do
  img=$OUT/$g.img; log=$OUT/$g.xen.log
  ncpu=${CPUS[$g]:-1}
  smp=${BOARD_CPUS_ALL:-${BOARD_CPUS[$g]:-2}}
  doms=${DOMAINS[$g]:-"$ncpu|"}
  ndom=$(awk -F';' '{print NF}' <<<"$doms")
  QOPTS=(-cpu cortex-a57 -smp "$smp" -m 2048)
  [ -f "$OUT/virt-$smp.dtb" ] || qemu-system-aarch64 -M "$MACHINE,dumpdtb=$OUT/virt-$smp.dtb" "${QOPTS[@]}" -nographic -nic none >/dev/null 2>&1
  dtc -q -I dtb -O dts "$OUT/virt-$smp.dtb" | SZ=$(stat -c %s "$img") DOMS="$doms" ADDR=$GUEST_ADDR \
    XARGS="${XEN_ARGS-loglvl=all guest_loglvl=all} ${XEN_EXTRA[$g]:-}" python3 -c "
import os, sys
d = sys.stdin.read(); s = d.index('\tchosen {'); e = d.index('};', s) + 3
sz, addr, xargs = int(os.environ['SZ']), int(os.environ['ADDR'], 16), os.environ['XARGS']
doms = ''
for i, spec in enumerate(os.environ['DOMS'].split(';')):
    ncpu, args = spec.split('|', 1)
    args = (args + ' ' + os.environ.get('EXTRA_BOOTARGS', '')).strip()
    a = addr + i * 0x200000     # one copy of the image per domain, as Xen's own dom0less tests do
    doms += ('\t\tdomU%d { compatible = \"xen,domain\"; #address-cells = <1>; #size-cells = <1>;\n'
             '\t\t\tmemory = <0 0x40000>; cpus = <%s>; vpl011;\n'
             '\t\t\tmodule@%x { compatible = \"multiboot,kernel\", \"multiboot,module\"; reg = <0x%x %d>; bootargs = \"%s\"; };\n'
             '\t\t};\n') % (i + 1, ncpu, a, a, sz, args)
print(d[:s] + '\tchosen {\n\t\tstdout-path = \"/pl011@9000000\";\n\t\t#address-cells = <2>; #size-cells = <2>;\n'
      + '\t\txen,xen-bootargs = \"console=dtuart dtuart=/pl011@9000000 %s\";\n' % xargs.strip() + doms + '\t};\n' + d[e:])
" > "$OUT/$g.dts"
  dtc -q -I dts -O dtb "$OUT/$g.dts" -o "$OUT/$g.dtb"
  loaders=()
  for ((i = 0; i < ndom; i++)); do
    loaders+=(-device "loader,file=$img,addr=$(printf '0x%x' $((GUEST_ADDR + i * 0x200000)))")
  done
  timeout "$TIMEOUT" qemu-system-aarch64 -nographic -no-reboot -nic none -M "$MACHINE" "${QOPTS[@]}" "${QICOUNT[@]}" \
    -dtb "$OUT/$g.dtb" -kernel "$XEN" "${loaders[@]}" > "$log" 2>&1 &
  pid=$!
  # Xen keeps running after the last domU is destroyed: stop once every verdict (plus a moment) is out.
  for _ in $(seq 1 $((TIMEOUT * 5))); do
    [ "$(grep -acE 'TEST (PASS|FAIL)' "$log" || true)" -ge "$ndom" ] && { sleep 2; break; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
  echo "=== $g (Xen 4.17, board CPUs $smp, domains \"$doms\"${QICOUNT[*]:+, icount}) ==="
  grep -a -E '\(d[12]\)|d[12]v|DOM[12]|domain [12]|Unhandled|HVC|SMC' "$log" | tr -d '\r' || true
  if [ "$(grep -ac "TEST PASS $g" "$log" || true)" -ge "$ndom" ]; then echo "--> $g: PASS"
  else echo "--> $g: FAIL (log: $log)"; rc=1; fi
done
exit $rc
