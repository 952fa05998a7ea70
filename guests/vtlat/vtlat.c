/*
 * vtlat: virtual-timer interrupt latency, in instructions under QEMU -icount shift=0,sleep=off
 * (see common/xen.h): from the moment CNTVCT_EL0 reaches CNTV_CVAL_EL0 (the timer condition)
 * to the first instruction of the guest's IRQ handler that reads the counter. It includes
 * the hypervisor's path (its own timer interrupt, injection of virtual PPI 27, return to the
 * guest) and this guest's exception entry (common/head.S saves 31 registers, ~50 instructions,
 * the same under every hypervisor).
 *
 * Two ways of waiting, n samples each (the first 2 are warm-up and not counted):
 *  - wfi: IRQs masked, WFI (trapped: the vCPU blocks in the hypervisor and its CPU idles),
 *    unmask when woken;
 *  - spin: IRQs unmasked, the vCPU busy-loops on a flag (it keeps its CPU).
 * Deadlines are `delta` ticks ahead (default 6250 = 100 us, more than Xen's 50 us timer slop).
 *
 * Sub-tick precision: the counter ticks every 16 instructions, so the handler reads it and then
 * spins on it until the next tick (vtlat_edge in edge.S, 5 instructions an iteration); the
 * number of iterations places the first read within the tick (to +-3 instructions).
 *
 * Prints "BENCH vtimer-latency-wfi <instructions>" and "BENCH vtimer-latency-spin <...>" (the
 * mean), a line with min and max per mode, and one with the median and 99th percentile of the
 * first 4096 samples (the tail is what a neighbour of a busy domain feels).
 * /chosen/bootargs: n=N (samples per mode, default 200), delta=TICKS, delay=MS (wait that long
 * before the first sample, default 0; "measuring" is printed when the wait is over), rounds=R
 * (measure both modes R times, each round announced by "round R: measuring"; 0 = until the
 * board is stopped; default 1). `apus bench` runs rounds next to a hostile domain and counts
 * only those that began after hostile was into its random operations.
 */
#include "guest.h"
#include "fdt_extra.h"
#include "xen.h"

const char guest_name[] = "vtlat";

#define VTIMER_INTID 27
u64 vtlat_edge(u64 *first);          /* edge.S: first = CNTVCT; returns spins until it changed */

static volatile u64 nirq, nother, fired_first, fired_spins, fired_cval;

#define KEPT_SAMPLES 4096
static s64 kept[KEPT_SAMPLES];

/* Shell sort: a few thousand samples, no library. */
static void sort_samples(s64 *a, u64 n)
{
    for (u64 gap = n / 2; gap > 0; gap /= 2)
        for (u64 i = gap; i < n; i++) {
            s64 v = a[i];
            u64 j = i;
            for (; j >= gap && a[j - gap] > v; j -= gap)
                a[j] = a[j - gap];
            a[j] = v;
        }
}

static int irq_handler(struct exc_frame *f, u64 kind)
{
    (void)f;
    (void)kind;
    u64 first;
    u64 spins = vtlat_edge(&first);    /* the first thing: the read that timestamps the entry */
    u64 iar; u32 intid;
    if (!gic_ack(&iar, &intid))
        return 1;
    if (intid == VTIMER_INTID) {
        fired_first = first;
        fired_spins = spins;
        fired_cval = read_sysreg(cntv_cval_el0);
        write_sysreg(cntv_ctl_el0, 0);   /* level-triggered: stop it */
        isb();
        nirq++;
    } else {
        nother++;
    }
    write_sysreg(icc_eoir1_el1, iar);
    isb();
    return 1;
}

/* Latency of the last interrupt in ns (= instructions under icount). The handler's first read
 * happened in tick `first`, about 5 * spins instructions before tick first + 1 began (+-3);
 * the timer condition became true when tick `cval` began. */
static s64 last_latency_ns(void)
{
    u64 ipt = bench_ticks_to_ns(1024) / 1024;     /* ns (instructions) per tick: 16 on QEMU virt */
    s64 t_read = (s64)((fired_first + 1) * ipt) - (s64)(5 * fired_spins) + 2;
    return t_read - (s64)(fired_cval * ipt);
}

static void run(const char *name, int spin, u64 n, u64 delta)
{
    s64 sum = 0, min = 0x7fffffffffffffffL, max = -min;
    u64 counted = 0;
    for (u64 i = 0; i < n + 2; i++) {
        u64 seen = nirq;
        irq_disable();
        u64 cval = cntvct() + delta;
        write_sysreg(cntv_cval_el0, cval);
        write_sysreg(cntv_ctl_el0, 1);
        isb();
        u64 deadline = cval + ms_to_ticks(1000);
        if (spin) {
            irq_enable();
            while (nirq == seen && cntvct() < deadline)
                ;
        } else {
            while (nirq == seen && cntvct() < deadline) {
                wfi();
                irq_enable();
                isb();
                irq_disable();
            }
            irq_enable();
        }
        if (nirq == seen)
            fail_now("%s sample %lu: no timer interrupt within 1 s of the deadline", name, i);
        CHECK(fired_cval == cval, "%s: CVAL 0x%lx in the handler, programmed 0x%lx", name, fired_cval, cval);
        s64 l = last_latency_ns();
        CHECK(l >= 0, "%s sample %lu: interrupt %ld instructions before the deadline", name, i, -l);
        if (i < 2)
            continue;
        sum += l;
        counted++;
        if (l < min)
            min = l;
        if (l > max)
            max = l;
        if (counted <= KEPT_SAMPLES)
            kept[counted - 1] = l;
    }
    say("%s: %lu samples, min %ld, max %ld instructions", name, counted, min, max);
    u64 k = counted < KEPT_SAMPLES ? counted : KEPT_SAMPLES;
    sort_samples(kept, k);
    say("%s: percentiles of %lu samples: p50 %ld, p99 %ld", name, k, kept[k / 2], kept[(k * 99) / 100]);
    bench_print(name, (u64)(sum > 0 ? sum : 0), counted);
}

int main(u64 dtb)
{
    char args[128];
    u64 n = 200, delta = 6250, delay = 0, rounds = 1;
    check_dtb(dtb);
    fdtx_bootargs(dtb, args, sizeof(args));
    fdtx_bootarg_u64(args, "n", &n);
    fdtx_bootarg_u64(args, "delta", &delta);
    fdtx_bootarg_u64(args, "delay", &delay);
    fdtx_bootarg_u64(args, "rounds", &rounds);
    if (n == 0)
        n = 1;
    say("bootargs \"%s\": %lu samples per mode, deadline %lu ticks ahead, CNTFRQ_EL0=%lu Hz", args, n, delta,
        cntfrq());
    if (delay) {
        u64 until = cntvct() + ms_to_ticks(delay);
        while (cntvct() < until)
            ;
        say("measuring (after %lu ms)", delay);
    }

    gic_setup_ppi(VTIMER_INTID, irq_handler);

    for (u64 r = 1; rounds == 0 || r <= rounds; r++) {
        if (rounds != 1)
            say("round %lu: measuring", r);
        run("vtimer-latency-wfi", 0, n, delta);
        run("vtimer-latency-spin", 1, n, delta);
    }
    irq_disable();
    CHECK(nother == 0, "%lu interrupts other than the virtual timer", nother);
    return 0;
}
