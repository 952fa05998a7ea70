/*
 * nullcall: the cost of a hypercall round trip, guest -> hypervisor -> guest, measured in
 * instructions under QEMU -icount shift=0,sleep=off (see common/xen.h).
 *
 * The call is Xen's customary null hypercall: xen_version(XENVER_version, NULL), `hvc #0xEA1`
 * with x16 = 17, x0 = 0; Xen 4.17 answers 0x00040011. The loop (calls.S) runs it n times; the
 * same loop with a `nop` instead of the `hvc` is timed too and subtracted, so the figure is the
 * hypercall alone. Whatever the call returns is reported with the figure ("rc=..."): a
 * hypervisor that answers -ENOSYS (-38) is measured all the same, but that is the cost of its
 * unknown-hypercall path, not of xen_version.
 *
 * Prints "BENCH nullcall <instructions per call> rc=0x..." then powers off (PSCI SYSTEM_OFF).
 * /chosen/bootargs: n=N (calls, default 20000).
 */
#include "guest.h"
#include "fdt_extra.h"
#include "xen.h"

const char guest_name[] = "nullcall";

u64 nullcall_loop(u64 n);   /* returns x0 of the last call */
u64 nop_loop(u64 n);

int main(u64 dtb)
{
    char args[128];
    u64 n = 20000;
    check_dtb(dtb);
    fdtx_bootargs(dtb, args, sizeof(args));
    fdtx_bootarg_u64(args, "n", &n);
    if (n == 0)
        n = 1;
    say("bootargs \"%s\": %lu calls, CNTFRQ_EL0=%lu Hz", args, n, cntfrq());

    s64 rc = xen_hc2(__HYPERVISOR_xen_version, XENVER_version, 0);
    say("xen_version(XENVER_version) = 0x%lx%s", (u64)rc,
        rc == -XEN_ENOSYS ? " (-ENOSYS: the hypervisor has no xen_version)" : "");

    /* console_io: Apus refuses it (-EPERM) to every domain but dom0; Xen 4.17 lets a dom0less
     * domU use it (d->is_console). Reported, the system test checks Apus's answer. */
    static const char hello[] = "hello";
    s64 cio = xen_hc(__HYPERVISOR_console_io, 0 /* CONSOLEIO_write */, 5, (u64)hello, 0, 0);
    say("console_io(CONSOLEIO_write) = %ld", cio);

    /* The toolstack's hypercalls at Xen 4.17's interface version 0x15: only the control
     * domain may use them; every other domain gets -EPERM, on Xen and on Apus. */
    static u32 op[36];                         /* 144 bytes: a domctl, or a 136-byte sysctl */
    op[0] = 3; op[1] = 0x15;                   /* XEN_SYSCTL_physinfo */
    say("sysctl(XEN_SYSCTL_physinfo) = %ld", (s64)xen_hc(__HYPERVISOR_sysctl, (u64)op, 0, 0, 0, 0));
    for (int i = 0; i < 36; i++) op[i] = 0;
    op[0] = 5; op[1] = 0x15;                   /* XEN_DOMCTL_getdomaininfo, domain 0 */
    say("domctl(XEN_DOMCTL_getdomaininfo) = %ld", (s64)xen_hc(__HYPERVISOR_domctl, (u64)op, 0, 0, 0, 0));

    /* warm up, then time: n null calls, and the same loop without the hvc */
    nullcall_loop(n / 10 + 1);
    nop_loop(n / 10 + 1);
    u64 t0 = cntvct();
    u64 last = nullcall_loop(n);
    u64 t1 = cntvct();
    nop_loop(n);
    u64 t2 = cntvct();
    u64 calls = bench_ticks_to_ns(t1 - t0), loop = bench_ticks_to_ns(t2 - t1);
    say("%lu calls: %lu ns; the empty loop: %lu ns", n, calls, loop);
    CHECK((s64)last == rc, "the last call returned 0x%lx, the first 0x%lx", last, (u64)rc);
    bench_value("nullcall", calls > loop ? calls - loop : 0, n);
    kprintf(" rc=0x%lx\n", (u64)rc);
    return 0;
}
