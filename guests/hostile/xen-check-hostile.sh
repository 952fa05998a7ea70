#!/usr/bin/env bash
# Dev tool (two-domain variant of guests/xen-check.sh): boot `hostile` and `memcheck` side by
# side as dom0less domUs under the reference Xen 4.17 in QEMU. hostile attacks the hypervisor
# and its neighbour; memcheck keeps verifying its RAM (passes=0: forever). The run passes when
# hostile prints TEST PASS and memcheck completes at least one more full pass after that
# without a TEST FAIL.
#   guests/hostile/xen-check-hostile.sh
# Env: ANCHOR_DIR (the xen binary; default ~/.cache/xen-anchor), OUT (build dir, default
#      /tmp/apus-guests-xen2), TIMEOUT (s, default 300), HOSTILE_CPUS (default 2),
#      HOSTILE_ARGS (bootargs, e.g. "seed=0x1234 ops=20000"), MEMCHECK_ARGS (default "passes=0"),
#      XEN_ARGS (extra Xen command line, default "loglvl=all guest_loglvl=none/warning": Xen's
#      default rate limiting of guest-triggered messages; with guest_loglvl=all every SGI sent to
#      an absent vCPU prints a line and the run takes many minutes).
# The full Xen console log is kept in $OUT/hostile+memcheck.xen.log.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
ANCHOR_DIR=${ANCHOR_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/xen-anchor}
XEN=$ANCHOR_DIR/xen
OUT=${OUT:-/tmp/apus-guests-xen2}
TIMEOUT=${TIMEOUT:-300}
HOSTILE_CPUS=${HOSTILE_CPUS:-2}
HOSTILE_ARGS=${HOSTILE_ARGS:-}
MEMCHECK_ARGS=${MEMCHECK_ARGS:-passes=0}
[ -f "$XEN" ] || { echo "no Xen binary at $XEN (run /work/shared/anchors/xen-anchor.sh fetch)" >&2; exit 2; }
"$HERE/build.sh" "$OUT" hostile memcheck >/dev/null

MACHINE="virt,virtualization=on,gic-version=3"
QOPTS=(-cpu cortex-a57 -smp 2 -m 2048)
[ -f "$OUT/virt.dtb" ] || qemu-system-aarch64 -M "$MACHINE,dumpdtb=$OUT/virt.dtb" "${QOPTS[@]}" -nographic -nic none >/dev/null 2>&1
H_ADDR=0x50000000
M_ADDR=0x50200000
name=hostile+memcheck
log=$OUT/$name.xen.log
dtc -q -I dtb -O dts "$OUT/virt.dtb" | HSZ=$(stat -c %s "$OUT/hostile.img") MSZ=$(stat -c %s "$OUT/memcheck.img") \
  HCPU=$HOSTILE_CPUS HADDR=$H_ADDR MADDR=$M_ADDR HARGS="$HOSTILE_ARGS" MARGS="$MEMCHECK_ARGS" \
  XARGS="${XEN_ARGS-loglvl=all guest_loglvl=none/warning}" python3 -c "
import os, sys
d = sys.stdin.read(); s = d.index('\tchosen {'); e = d.index('};', s) + 3
env = os.environ
def dom(n, cpus, addr, size, args):
    return '''\t\tdomU%d { compatible = \"xen,domain\"; #address-cells = <1>; #size-cells = <1>;
\t\t\tmemory = <0 0x40000>; cpus = <%s>; vpl011;
\t\t\tmodule@%x { compatible = \"multiboot,kernel\", \"multiboot,module\"; reg = <0x%x %d>; bootargs = \"%s\"; };
\t\t};
''' % (n, cpus, addr, addr, size, args)
print(d[:s] + '''\tchosen {
\t\tstdout-path = \"/pl011@9000000\";
\t\t#address-cells = <2>; #size-cells = <2>;
\t\txen,xen-bootargs = \"console=dtuart dtuart=/pl011@9000000 %s\";
''' % env['XARGS'] + dom(1, env['HCPU'], int(env['HADDR'], 16), int(env['HSZ']), env['HARGS'])
  + dom(2, '1', int(env['MADDR'], 16), int(env['MSZ']), env['MARGS']) + '''\t};
''' + d[e:])" > "$OUT/$name.dts"
dtc -q -I dts -O dtb "$OUT/$name.dts" -o "$OUT/$name.dtb"
timeout "$TIMEOUT" qemu-system-aarch64 -nographic -no-reboot -nic none -M "$MACHINE" "${QOPTS[@]}" \
  -dtb "$OUT/$name.dtb" -kernel "$XEN" -device "loader,file=$OUT/hostile.img,addr=$H_ADDR" \
  -device "loader,file=$OUT/memcheck.img,addr=$M_ADDR" > "$log" 2>&1 &
pid=$!
# Wait for hostile's verdict, then for one more complete memcheck pass (or a memcheck verdict).
state=hostile
for _ in $(seq 1 $((TIMEOUT * 5))); do
  kill -0 "$pid" 2>/dev/null || break
  if grep -aqE 'TEST FAIL' "$log"; then sleep 2; break; fi
  if [ $state = hostile ] && grep -aq 'TEST PASS hostile' "$log"; then
    state=memcheck
    mark=$(grep -ac 'memcheck: pass [0-9]* ok' "$log" || true)
  fi
  if [ $state = memcheck ]; then
    grep -aq 'TEST PASS memcheck' "$log" && { sleep 1; break; }
    now=$(grep -ac 'memcheck: pass [0-9]* ok' "$log" || true)
    [ "$now" -ge $((mark + 2)) ] && break     # the pass running at hostile's end, and one more
  fi
  sleep 0.2
done
kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
echo "=== hostile (cpus=$HOSTILE_CPUS, \"$HOSTILE_ARGS\") + memcheck (\"$MEMCHECK_ARGS\") under Xen 4.17 ==="
grep -a -E '\(d[12]\)|d[12]v|DOM[12]|domain [12]|Unhandled|panic|Panic|Assertion|FATAL' "$log" | tr -d '\r' | grep -av 'hostile: (a) 0x' || true
rc=0
if grep -aq "TEST PASS hostile" "$log"; then echo "--> hostile: PASS"; else echo "--> hostile: FAIL (log: $log)"; rc=1; fi
if grep -aq "TEST FAIL memcheck" "$log"; then echo "--> memcheck: FAIL (log: $log)"; rc=1
elif [ "$(grep -ac 'memcheck: pass [0-9]* ok' "$log" || true)" -ge $((${mark:-0} + 2)) ] || grep -aq 'TEST PASS memcheck' "$log"; then
  echo "--> memcheck: PASS ($(grep -ac 'memcheck: pass [0-9]* ok' "$log") passes, $((${mark:-0})) done when hostile finished)"
else echo "--> memcheck: no complete pass after hostile finished (log: $log)"; rc=1; fi
exit $rc
