/*
 * ctxswitch: the cost of switching the one physical CPU between two domains, in instructions
 * under QEMU -icount shift=0,sleep=off (see common/xen.h). Two domains run this image on a
 * board with one CPU; bootargs "ctx=a" and "ctx=b" give their roles.
 *
 * Method. There is no memory shared between the domains, so each one watches its own clock:
 * it times every SCHEDOP_yield (sched_op 29, cmd 0) it makes. A yield that finds the other
 * domain runnable switches to it; the other domain's next yield switches back; so such a yield
 * returns after one full cycle: yield + switch to the partner, the partner's return from its own
 * yield, its loop body (a dozen instructions) and its next yield + switch back. That gap is
 * two (yield hypercall + context switch) legs, and half of it is the figure reported:
 * "BENCH ctxswitch <instructions>" = mean gap of switching yields / 2. A yield that finds
 * nobody else runnable returns at once; its cost is the hypercall alone, measured first:
 *
 *  1. calibration: B sleeps (WFI with a timer 10 ms ahead, blocked in the hypervisor) while A
 *     times 200 yields with nobody to switch to (about 0.5 ms), then A sleeps until 30 ms and B
 *     does the same at 10 ms. The mean is printed as "BENCH yield <instructions>" (by A) and
 *     the smallest solo yield sets the threshold: a yield taking more than twice as long
 *     switched.
 *  2. both wake at about the same time (60 ms after their start; the first to wake yields alone
 *     until the other joins, which the threshold tells apart) and time n yields each. Only
 *     gaps above the threshold count as switches; the number observed is printed. The figure
 *     is the mean over the yields that switched; when fewer than 90 % did, the BENCH line says
 *     "switched=S/n"; with fewer than 10 % the run fails (the scheduler does not switch on
 *     yield: Xen's schedulers do, the yielding vCPU goes behind the other runnable ones).
 *
 * /chosen/bootargs: ctx=a|b, n=N (yields, default 5000).
 */
#include "guest.h"
#include "fdt_extra.h"
#include "xen.h"

const char guest_name[] = "ctxswitch";

#define VTIMER_INTID 27
static volatile u64 nticks;

static int irq_handler(struct exc_frame *f, u64 kind)
{
    (void)f, (void)kind;
    u64 iar; u32 intid;
    if (!gic_ack(&iar, &intid))
        return 1;
    if (intid == VTIMER_INTID) {
        write_sysreg(cntv_ctl_el0, 0);
        isb();
        nticks++;
    }
    write_sysreg(icc_eoir1_el1, iar);
    isb();
    return 1;
}

/* Sleeps in WFI (the vCPU blocks in the hypervisor) until CNTVCT reaches t. */
static void sleep_until(u64 t)
{
    while (cntvct() < t) {
        irq_disable();
        u64 seen = nticks;
        write_sysreg(cntv_cval_el0, t);
        write_sysreg(cntv_ctl_el0, 1);
        isb();
        while (nticks == seen) {
            wfi();
            irq_enable();
            isb();
            irq_disable();
        }
        irq_enable();
    }
}

static s64 yield(void) { return xen_hc(__HYPERVISOR_sched_op, SCHEDOP_yield, 0, 0, 0, 0); }

/* n solo yields: returns the sum of their durations (ticks), *min the shortest. */
static u64 solo_yields(u64 n, u64 *min)
{
    u64 sum = 0;
    *min = ~0UL;
    for (u64 i = 0; i < 8; i++)     /* warm-up */
        yield();
    for (u64 i = 0; i < n; i++) {
        u64 t0 = cntvct();
        s64 r = yield();
        u64 d = cntvct() - t0;
        if (r != 0)
            fail_now("SCHEDOP_yield returned %ld", r);
        sum += d;
        if (d < *min)
            *min = d;
    }
    return sum;
}

int main(u64 dtb)
{
    char args[128];
    u64 n = 5000;
    check_dtb(dtb);
    fdtx_bootargs(dtb, args, sizeof(args));
    fdtx_bootarg_u64(args, "n", &n);
    int role = 0;
    for (const char *p = args; *p; p++)
        if ((p == args || p[-1] == ' ') && p[0] == 'c' && p[1] == 't' && p[2] == 'x' && p[3] == '=')
            role = p[4];
    if (role != 'a' && role != 'b')
        fail_now("bootargs \"%s\": need ctx=a or ctx=b", args);
    if (n < 2)
        n = 2;
    u64 start = cntvct(), ms = ms_to_ticks(1);
    say("bootargs \"%s\": role %c, %lu yields, CNTVCT at start 0x%lx", args, role, n, start);

    gic_setup_ppi(VTIMER_INTID, irq_handler);
    irq_enable();

    /* 1. calibration, one domain at a time */
    const u64 ncal = 200;
    u64 solo_min, solo_sum;
    if (role == 'a') {
        solo_sum = solo_yields(ncal, &solo_min);   /* ~0.5 ms, while B sleeps */
        sleep_until(start + 30 * ms);              /* B calibrates at 10 ms and prints */
    } else {
        sleep_until(start + 10 * ms);
        solo_sum = solo_yields(ncal, &solo_min);
    }
    u64 threshold = 2 * solo_min + 1;
    say("solo yield: mean %lu ns, min %lu ticks; a yield over %lu ticks switched", bench_ticks_to_ns(solo_sum) / ncal,
        solo_min, threshold);
    sleep_until(start + 60 * ms);

    /* 2. both yielding */
    u64 switches = 0, gaps = 0, solos = 0, first = 0, last = 0;
    for (u64 i = 0; i < n; i++) {
        u64 t0 = cntvct();
        yield();
        u64 t1 = cntvct(), d = t1 - t0;
        if (d > threshold) {
            if (!switches)
                first = i;
            last = i;
            switches++;
            gaps += d;
        } else {
            solos++;
        }
    }
    if (role == 'b')
        sleep_until(cntvct() + 5 * ms);   /* A prints its figures first (see evtping.c) */
    say("%lu yields: %lu switched (yields %lu..%lu), %lu did not; mean cycle %lu ns", n, switches, first, last, solos,
        switches ? bench_ticks_to_ns(gaps) / switches : 0);
    if (role == 'a') {
        bench_print("yield", bench_ticks_to_ns(solo_sum), ncal);
        if (switches >= n / 10) {
            bench_value("ctxswitch", bench_ticks_to_ns(gaps), 2 * switches);
            if (switches < n * 9 / 10)
                kprintf(" switched=%lu/%lu", switches, n);
            kprintf("\n");
        }
    }
    CHECK(switches >= n / 10, "only %lu of %lu yields switched to the other domain", switches, n);
    irq_disable();
    return 0;
}
