/*
 * psci-race: two vCPUs call PSCI CPU_ON for the same third vCPU at the same moment, round
 * after round (issue 10, finding 9). Needs 3 vCPUs; it means something only on 2 or more
 * physical CPUs with QEMU's multi-threaded TCG, where the two calls really meet in the
 * hypervisor.
 *
 * vCPU 0 and vCPU 1 are the callers, vCPU 2 the target. In each round r:
 *  - vCPU 0 picks a moment 1 ms ahead on the virtual counter and publishes it with r; both
 *    callers sleep in WFI on their virtual timers until just before it, spin to it and issue
 *    CPU_ON(2, secondary_entry, context), context id = CTX_MAGIC | r << 1 | caller. The
 *    moment is shifted for one caller by up to 96 counter ticks (+-1.5 us at 62.5 MHz),
 *    sweeping over the rounds, so the two calls meet in every relative timing; how many
 *    rounds had both calls within 100 us of each other is reported (on a busy host a QEMU
 *    vCPU thread is sometimes not running when its moment comes);
 *  - PSCI allows one winner: exactly one call returns SUCCESS, the other ALREADY_ON (the
 *    target already runs) or ON_PENDING (it is claimed but not yet running);
 *  - the target, at its entry point, counts its entry for round r (from x0) and keeps the
 *    context id, waits until vCPU 0 has seen both results, then calls CPU_OFF;
 *  - vCPU 0 waits (in WFI, naps of 100 us) for the entry and for AFFINITY_INFO(2) == OFF, each
 *    within WATCHDOG_MS on the virtual counter: a target that never enters, or never turns
 *    off again, ends the test with the round's number (a vCPU marked on that never runs, or
 *    one left running after its CPU_OFF).
 * It fails on: two SUCCESS in a round, none, a loser's answer other than ALREADY_ON or
 * ON_PENDING, a target entered more than once in a round (a second CPU_ON wiped the running
 * vCPU's registers), entered with the loser's context id, or a hang as above.
 * Bootarg rounds=N (default 2000, at most MAX_ROUNDS); off_ms=MS (default WATCHDOG_MS): the wait
 * for OFF after the entry ends the test after MS ms (a tighter watchdog that catches a runnable
 * vCPU 2 left waiting for a CPU, the scheduler stall of issue 10).
 *
 * With bootarg reset_ms=MS: CPU_ON racing SYSTEM_RESET instead, one race per boot (the
 * domain's on_reboot must be "restart"). Each boot first checks what the last one left: after
 * 10 ms vCPUs 1 and 2 must be OFF and vCPU 2 must not have entered (a CPU_ON acting after
 * the reset's "every vCPU off" leaves it marked on in the new boot, running unasked or
 * never); then vCPU 1 calls CPU_ON(2) while vCPU 0 calls SYSTEM_RESET at the same moment
 * (same timing as the rounds). The first boot that starts once the board's counter is past
 * MS ms only checks and prints the verdict; the number of boots is the hypervisor's count
 * of restarts.
 */
#include "guest.h"
#include "fdt_extra.h"
#include "xen.h"

const char guest_name[] = "psci-race";

extern char secondary_entry[];

#define CALLER_B   1
#define TARGET     2
#define CTX_MAGIC  0xace0000000000000UL
#define CTX_B      0xb0b0UL                      /* vCPU 1's own start */
#define MAX_ROUNDS 20000u
/* A round's waits end the test after this long. Generous: on main a runnable vCPU 2 was seen
 * to wait up to ~3.5 s for a CPU now and then (a scheduler matter, not PSCI's), while a vCPU
 * marked on that never runs waits forever. */
#define WATCHDOG_MS 10000
#define PSCI_ON_PENDING (-5)
#define PSCI_SYSTEM_RESET 0x84000009UL
#define CTX_B_RESET 0xb0b1UL                     /* vCPU 1's start in reset mode */
#define CTX_RESET  0xacf0000000000000UL          /* vCPU 2's start in reset mode */
#define REPORT_MAX 8                             /* failure lines printed per kind */

static u64 opt_rounds = 2000;
static u64 opt_reset_ms;                         /* reset mode: reboot until the board's counter passes this */
static u64 opt_off_ms = WATCHDOG_MS;             /* off_ms=: watchdog on the wait for OFF after the entry */

/* Shared words; MMU off, so every access is to Device memory (flag_read/flag_write). */
static volatile u32 b_up, b_ready, go, b_done, results_in;
static volatile u64 go_at;                       /* virtual count at which both callers call */
static u64 early;                                /* callers wake this long before go_at */
static volatile s64 offset_b;                    /* vCPU 1 calls this many ticks after go_at */
static volatile s64 res_b;
static volatile u64 b_called;                    /* virtual count just before vCPU 1's HVC */
static volatile u32 entries[MAX_ROUNDS + 1];     /* target entries per round */
static volatile u64 entry_ctx[MAX_ROUNDS + 1];   /* context id of the last entry */
static volatile u32 stray_entries;               /* entries with a context id of no round */
static volatile u64 stray_ctx;
static volatile u32 armed;                       /* reset mode: the racing CPU_ON may start vCPU 2 */
static volatile u32 unasked;                     /* reset mode: vCPU 2 entries before that */
static volatile u32 t_yields;                    /* target: SCHEDOP_yields in its current entry */
static volatile u64 t_last;                      /* target: virtual count at its last step */
static volatile u32 t_stage;                     /* target: 1 entered, 2 yielding, 3 calling CPU_OFF */

#define VTIMER_INTID 27

/* The virtual timer's interrupt: stop the timer if it fired (level-triggered), end it. A stale
 * one taken after the timer was armed again leaves the new deadline alone. */
static int timer_irq(struct exc_frame *f, u64 kind)
{
    (void)f, (void)kind;
    u64 iar; u32 intid;
    if (!gic_ack(&iar, &intid))
        return 1;
    if (intid == VTIMER_INTID && (read_sysreg(cntv_ctl_el0) & 4)) {
        write_sysreg(cntv_ctl_el0, 0);
        isb();
    }
    write_sysreg(icc_eoir1_el1, iar);
    isb();
    return 1;
}

/* Waits in WFI for the virtual timer at `at`. A QEMU vCPU thread that slept is run again at
 * once when its timer fires (the host favours a thread that slept over ones that computed), so
 * two callers that both sleep to nearly the same moment both run then, even on a busy host. */
static void sleep_until(u64 at)
{
    write_sysreg(cntv_cval_el0, at);
    write_sysreg(cntv_ctl_el0, 1);
    isb();
    irq_disable();
    while (cntvct() < at) {
        wfi();
        irq_enable();
        isb();
        irq_disable();
    }
}

static s64 psci(u64 fn, u64 a1, u64 a2, u64 a3) { return (s64)hvc_call(fn, a1, a2, a3); }
static void yield(void) { xen_hc(__HYPERVISOR_sched_op, SCHEDOP_yield, 0, 0, 0, 0); }
static u64 round_ctx(u32 r, u32 caller) { return CTX_MAGIC | ((u64)r << 1) | caller; }

/* A table of names, not pointers: a table of pointers would need relocations. */
static const char psci_names[10][20] = {
    "SUCCESS", "NOT_SUPPORTED", "INVALID_PARAMETERS", "DENIED", "ALREADY_ON",
    "ON_PENDING", "INTERNAL_FAILURE", "NOT_PRESENT", "DISABLED", "INVALID_ADDRESS",
};

static const char *psci_name(s64 r) { return r <= 0 && r >= -9 ? psci_names[-r] : "?"; }

/* vCPU 2: one entry per CPU_ON that started it. */
static void __attribute__((noreturn)) target_main(u64 ctx)
{
    if (ctx == CTX_RESET) {
        /* Reset mode: stays ON (SYSTEM_RESET ends it), so that AFFINITY_INFO shows a start
         * left over from the previous boot even when this count was cleared with .bss. */
        if (!flag_read(&armed))
            unasked++;
        for (;;)
            wfi();
    }
    u64 r = (ctx >> 1) & 0x7fffffffUL;
    if ((ctx & ~0xffffffffUL) != CTX_MAGIC || r == 0 || r > opt_rounds) {
        stray_ctx = ctx;
        stray_entries++;
    } else {
        t_yields = 0;
        t_stage = 1;
        t_last = cntvct();
        entries[r]++;
        entry_ctx[r] = ctx;
        dsb();
        /* Both callers have their answers before this round's target may leave. */
        while (flag_read(&results_in) < r) {
            t_stage = 2;
            t_yields++;
            t_last = cntvct();
            yield();
        }
    }
    t_stage = 3;
    t_last = cntvct();
    psci(PSCI_CPU_OFF, 0, 0, 0);
    for (;;)
        wfi();
}

/* vCPU 1: the second caller. Never prints (vCPU 0 does). */
static void __attribute__((noreturn)) caller_b(void)
{
    gic_setup_ppi(VTIMER_INTID, timer_irq);
    u64 nap = ms_to_ticks(1) / 10;
    flag_write(&b_up, 1);
    for (u32 r = 1;; r++) {
        flag_write(&b_ready, r);
        while (flag_read(&go) != r)
            sleep_until(cntvct() + nap);
        u64 at = go_at + offset_b;
        sleep_until(go_at - early);
        while (cntvct() < at)
            ;
        b_called = cntvct();
        res_b = psci(PSCI_CPU_ON, TARGET, (u64)secondary_entry, round_ctx(r, 1));
        flag_write(&b_done, r);
    }
}

/* Reset mode, vCPU 1: CPU_ON(2) at vCPU 0's moment, then wait for the reset. */
static void __attribute__((noreturn)) caller_b_reset(void)
{
    gic_setup_ppi(VTIMER_INTID, timer_irq);
    u64 nap = ms_to_ticks(1) / 10;
    flag_write(&b_up, 1);
    while (!flag_read(&go))
        sleep_until(cntvct() + nap);
    u64 at = go_at + offset_b;
    sleep_until(go_at - early);
    while (cntvct() < at)
        ;
    psci(PSCI_CPU_ON, TARGET, (u64)secondary_entry, CTX_RESET);
    for (;;)
        wfi();
}

void secondary_main(u64 ctx)
{
    u64 me = read_sysreg(mpidr_el1) & 0xff;
    if (me == CALLER_B && ctx == CTX_B)
        caller_b();
    if (me == CALLER_B && ctx == CTX_B_RESET)
        caller_b_reset();
    target_main(ctx);
}

static s64 affinity_info(u64 target) { return psci(PSCI_AFFINITY_INFO, target, 0, 0); }

/* Waits (spinning) for *p == v; 0 after WATCHDOG_MS. */
static int spin_until(volatile u32 *p, u32 v)
{
    u64 deadline = cntvct() + ms_to_ticks(WATCHDOG_MS);
    while (flag_read(p) != v)
        if (cntvct() > deadline)
            return 0;
    return 1;
}

/* Sets go_at 1 ms ahead and the callers' offsets: vCPU 1 calls offset_b ticks after go_at,
 * vCPU 0 at the returned count. */
static u64 pick_moment(s64 shift)
{
    u64 at = cntvct() + ms_to_ticks(1);
    go_at = at;
    offset_b = shift > 0 ? shift : 0;
    return shift < 0 ? at + (u64)-shift : at;
}

/* Reset mode: one boot (see the top of the file). */
static void __attribute__((noreturn)) reset_boot(void)
{
    u64 nap = ms_to_ticks(1) / 10, settle = cntvct() + ms_to_ticks(10);
    while (cntvct() < settle)
        sleep_until(cntvct() + nap);
    s64 a1 = affinity_info(CALLER_B), a2 = affinity_info(TARGET);
    u64 now_ms = cntvct() * 1000 / cntfrq();
    if (a1 != 1 || a2 != 1 || unasked) {
        say("reset: what the SYSTEM_RESET that raced CPU_ON(%u) left (AFFINITY_INFO 1 = OFF):", TARGET);
        check_failed("boot at %lu ms: AFFINITY_INFO(%u) %ld, AFFINITY_INFO(%u) %ld, vCPU %u entered unasked %u times",
                     now_ms, CALLER_B, a1, TARGET, a2, TARGET, unasked);
        finish();
    }
    if (now_ms >= opt_reset_ms) {
        say("reset: boot at %lu ms: vCPUs %u and %u OFF and vCPU %u not entered after every SYSTEM_RESET that "
            "raced CPU_ON(%u)", now_ms, CALLER_B, TARGET, TARGET, TARGET);
        finish();
    }
    s64 r0 = psci(PSCI_CPU_ON, CALLER_B, (u64)secondary_entry, CTX_B_RESET);
    if (r0 != 0 || !spin_until(&b_up, 1))
        fail_now("CPU_ON(%u) -> %ld %s, vCPU 1 %s", CALLER_B, r0, psci_name(r0), b_up ? "up" : "never came up");
    /* No round number survives the reset: the shift comes from the counter. */
    u64 at = pick_moment(((s64)((cntvct() >> 4) & 63) - 32) * 3);
    flag_write(&armed, 1);
    flag_write(&go, 1);
    sleep_until(go_at - early);
    while (cntvct() < at)
        ;
    psci(PSCI_SYSTEM_RESET, 0, 0, 0);
    fail_now("SYSTEM_RESET returned");
}

int main(u64 dtb)
{
    check_dtb(dtb);
    char args[128];
    fdtx_bootargs(dtb, args, sizeof(args));
    fdtx_bootarg_u64(args, "rounds", &opt_rounds);
    fdtx_bootarg_u64(args, "reset_ms", &opt_reset_ms);
    fdtx_bootarg_u64(args, "off_ms", &opt_off_ms);
    if (opt_rounds == 0 || opt_rounds > MAX_ROUNDS)
        fail_now("rounds=%lu: 1 to %u", opt_rounds, MAX_ROUNDS);
    int cpus = fdtx_cpu_count(dtb);
    early = ms_to_ticks(1) / 5;
    if (cpus < 3)
        fail_now("needs 3 vCPUs, the domain has %d", cpus);
    gic_setup_ppi(VTIMER_INTID, timer_irq);
    if (opt_reset_ms)
        reset_boot();
    say("%d vCPUs, %lu rounds of two simultaneous CPU_ON(%u)", cpus, opt_rounds, TARGET);

    s64 r0 = psci(PSCI_CPU_ON, CALLER_B, (u64)secondary_entry, CTX_B);
    if (r0 != 0 || !spin_until(&b_up, 1))
        fail_now("CPU_ON(%u) -> %ld %s, vCPU 1 %s", CALLER_B, r0, psci_name(r0), b_up ? "up" : "never came up");
    s64 a = affinity_info(TARGET);
    if (a != 1)
        fail_now("AFFINITY_INFO(%u) = %ld before the first round, expected 1 (OFF)", TARGET, a);

    u32 already_on = 0, on_pending = 0, two_success = 0, no_success = 0, odd_answer = 0;
    u32 double_entry = 0, wrong_ctx = 0;
    u64 close_ticks = ms_to_ticks(1) / 10, close = 0, nap = ms_to_ticks(1) / 10;
    u64 longest_off = 0;                         /* longest wait from entry seen to OFF seen */
    u32 longest_round = 0;
    u64 t0 = cntvct();
    for (u32 r = 1; r <= opt_rounds; r++) {
        if (!spin_until(&b_ready, r))
            fail_now("round %u: vCPU 1 not ready within %u ms", r, WATCHDOG_MS);
        /* A common moment on the virtual counter (one clock for both callers, unlike a flag
         * that vCPU 1 sees a little late), one caller shifted by -96..+93 ticks: calls that
         * reach the hypervisor within about 1 us of each other are the ones that meet there. */
        u64 at = pick_moment(((s64)(r % 64) - 32) * 3);
        flag_write(&go, r);
        sleep_until(go_at - early);
        while (cntvct() < at)
            ;
        u64 a_called = cntvct();
        s64 ra = psci(PSCI_CPU_ON, TARGET, (u64)secondary_entry, round_ctx(r, 0));
        if (!spin_until(&b_done, r))
            fail_now("round %u: vCPU 1's CPU_ON did not return within %u ms", r, WATCHDOG_MS);
        s64 rb = res_b;
        /* How close the two calls came: vCPU 1's thread may not be running when vCPU 0 says go
         * (QEMU's vCPU threads share the host's cores), then its call comes alone. */
        u64 skew = b_called > a_called ? b_called - a_called : a_called - b_called;
        if (skew < close_ticks)
            close++;
        flag_write(&results_in, r);

        int winner = -1;
        if (ra == 0 && rb == 0) {
            if (two_success++ < REPORT_MAX)
                check_failed("round %u: both CPU_ON(%u) returned SUCCESS", r, TARGET);
        } else if (ra != 0 && rb != 0) {
            if (no_success++ < REPORT_MAX)
                check_failed("round %u: no CPU_ON(%u) succeeded: %ld %s and %ld %s", r, TARGET, ra, psci_name(ra),
                             rb, psci_name(rb));
        } else {
            winner = ra == 0 ? 0 : 1;
            s64 loser = ra == 0 ? rb : ra;
            if (loser == PSCI_ALREADY_ON)
                already_on++;
            else if (loser == PSCI_ON_PENDING)
                on_pending++;
            else if (odd_answer++ < REPORT_MAX)
                check_failed("round %u: the losing CPU_ON(%u) returned %ld %s, not ALREADY_ON/ON_PENDING",
                             r, TARGET, loser, psci_name(loser));
        }

        /* The target runs on a CPU a caller leaves: both wait in WFI (which traps while a
         * third vCPU wants a CPU) rather than spinning, so their host threads stay favoured. */
        u64 deadline = cntvct() + ms_to_ticks(WATCHDOG_MS);
        while (flag_read(&entries[r]) == 0) {
            if (cntvct() > deadline) {
                a = affinity_info(TARGET);
                check_failed("round %u: vCPU %u never ran within %u ms (AFFINITY_INFO %ld, CPU_ONs %ld, %ld)", r, TARGET,
                             WATCHDOG_MS, a, ra, rb);
                finish();
            }
            sleep_until(cntvct() + nap);
        }
        u64 entered = cntvct();
        deadline = entered + ms_to_ticks(opt_off_ms);
        while ((a = affinity_info(TARGET)) != 1) {
            if (cntvct() > deadline) {
                say("round %u: vCPU %u stage %u, %u yields, last step %lu us ago", r, TARGET, t_stage, t_yields,
                    (cntvct() - t_last) * 1000000 / cntfrq());
                check_failed("round %u: vCPU %u not OFF %lu ms after its entry (AFFINITY_INFO %ld, %u entries, CPU_ONs "
                             "%ld, %ld)", r, TARGET, opt_off_ms, a, entries[r], ra, rb);
                finish();
            }
            sleep_until(cntvct() + nap);
        }
        if (cntvct() - entered > longest_off) {
            longest_off = cntvct() - entered;
            longest_round = r;
        }
        if (entries[r] != 1 && double_entry++ < REPORT_MAX)
            check_failed("round %u: vCPU %u entered %u times", r, TARGET, entries[r]);
        if (winner >= 0 && entry_ctx[r] != round_ctx(r, winner) && wrong_ctx++ < REPORT_MAX)
            check_failed("round %u: vCPU %u entered with x0=0x%lx, the winner's is 0x%lx", r, TARGET,
                         entry_ctx[r], round_ctx(r, winner));
        if (r % 1000 == 0)
            say("round %u: %lu ms", r, (cntvct() - t0) * 1000 / cntfrq());
    }

    /* A late start (a second CPU_ON acting after the target's CPU_OFF) would show up as an
     * entry counted after its round was checked. */
    u64 settle = cntvct() + ms_to_ticks(100);
    while (cntvct() < settle)
        yield();
    u32 late = 0;
    for (u32 r = 1; r <= opt_rounds; r++)
        if (entries[r] != 1)
            late++;
    a = affinity_info(TARGET);
    say("%lu rounds in %lu ms, %lu of them with the two calls within 100 us of each other", opt_rounds,
        (cntvct() - t0) * 1000 / cntfrq(), close);
    say("longest wait for vCPU %u to be OFF after its entry: %lu ms (round %u)", TARGET,
        longest_off * 1000 / cntfrq(), longest_round);
    say("%lu rounds: SUCCESS + ALREADY_ON %u, SUCCESS + ON_PENDING %u; two SUCCESS %u, no SUCCESS %u, "
        "other answer %u; entered more than once %u, with the loser's context id %u; rounds without exactly one "
        "entry at the end %u, stray entries %u; AFFINITY_INFO(%u) at the end %ld",
        opt_rounds, already_on, on_pending, two_success, no_success, odd_answer,
        double_entry, wrong_ctx, late, stray_entries, TARGET, a);
    CHECK(already_on + on_pending == opt_rounds, "%lu of %lu rounds had one SUCCESS and one ALREADY_ON/ON_PENDING",
          (u64)(already_on + on_pending), opt_rounds);
    CHECK(late == 0, "%u rounds did not end with exactly one entry", late);
    CHECK(stray_entries == 0, "vCPU %u entered %u times with a context id of no round (0x%lx)", TARGET, stray_entries,
          stray_ctx);
    CHECK(a == 1, "AFFINITY_INFO(%u) = %ld after the last round, expected 1 (OFF)", TARGET, a);
    return 0;
}
