/*
 * vtimer: the EL1 virtual timer (CNTV_*) interrupts the guest through the virtual GICv3.
 * Five 10 ms deadlines (alternately programmed with CNTV_CVAL_EL0 and CNTV_TVAL_EL0) must each
 * raise exactly one interrupt with INTID 27, never before CNTVCT >= CVAL. The first wait polls
 * with a timeout (diagnoses a missing interrupt); the others sleep in WFI. Finally, a timer that
 * expires while CNTV_CTL.IMASK is set must not interrupt until IMASK is cleared, and a deadline
 * at 2^64-1 must neither fire nor hang the board.
 */
#include "guest.h"

/* guests/ptimer builds this same test for the EL1 physical timer (CNTP_*, PPI 30, CNTPCT),
 * which the hypervisor emulates: it defines PHYSICAL_TIMER before including this file. */
/* One more macro level, so TIMER_* expand before read_sysreg/write_sysreg stringify them. */
#define timer_read(r) read_sysreg(r)
#define timer_write(r, v) write_sysreg(r, v)
#ifdef PHYSICAL_TIMER
const char guest_name[] = "ptimer";
#define VTIMER_INTID 30
#define TIMER_CTL cntp_ctl_el0
#define TIMER_CVAL cntp_cval_el0
#define TIMER_TVAL cntp_tval_el0
static inline u64 timer_count(void) { isb(); return read_sysreg(cntpct_el0); }
#else
const char guest_name[] = "vtimer";
#define VTIMER_INTID 27
#define TIMER_CTL cntv_ctl_el0
#define TIMER_CVAL cntv_cval_el0
#define TIMER_TVAL cntv_tval_el0
static inline u64 timer_count(void) { return cntvct(); }
#endif
#define CTL_ENABLE  1u
#define CTL_IMASK   2u
#define CTL_ISTATUS 4u

static volatile u32 nirq, nspurious, nother, other_intid;
static volatile u64 fire_vct, fire_cval, fire_ctl;

static int irq_handler(struct exc_frame *f, u64 kind)
{
    (void)f, (void)kind;
    u64 iar; u32 intid;
    if (!gic_ack(&iar, &intid)) {
        nspurious++;
        return 1;
    }
    if (intid == VTIMER_INTID) {
        fire_vct = timer_count();
        fire_cval = timer_read(TIMER_CVAL);
        fire_ctl = timer_read(TIMER_CTL);
        timer_write(TIMER_CTL, 0);      /* stop it: the line is level-triggered */
        isb();
        nirq++;
    } else {
        nother++;
        other_intid = intid;
    }
    write_sysreg(icc_eoir1_el1, iar);
    isb();
    return 1;
}

static u64 ticks_to_us(u64 t) { return t * 1000000 / cntfrq(); }

/* Wait (IRQs masked around WFI, so a wake-up cannot be lost) until nirq > seen. */
static void wait_irq_wfi(u32 seen, u64 deadline)
{
    irq_disable();
    while (nirq == seen) {
        if (timer_count() > deadline)
            break;
        wfi();
        irq_enable();
        isb();
        irq_disable();
    }
    irq_enable();
}

static void wait_irq_poll(u32 seen, u64 deadline)
{
    irq_enable();
    while (flag_read(&nirq) == seen && timer_count() < deadline)
        ;
}

int main(u64 dtb)
{
    check_dtb(dtb);
    u64 freq = cntfrq();
    say("CNTFRQ_EL0=%lu Hz, CNTVCT_EL0=0x%lx", freq, timer_count());
    if (freq == 0)
        fail_now("CNTFRQ_EL0 is 0");

    timer_write(TIMER_CTL, 0);
    gicd_enable();
    u64 rd = gicr_for_this_cpu();
    say("redistributor at 0x%lx (GICR_TYPER=0x%lx)", rd, mmio_read64(rd + 8));
    gicr_wake(rd);
    gic_enable_ppi_sgi(rd, VTIMER_INTID, 0xa0);
    gic_cpu_if_init();
    irq_hook = irq_handler;

    const u64 period = ms_to_ticks(10);
    for (u32 i = 0; i < 5; i++) {
        int use_tval = i & 1;
        u64 start = timer_count(), cval;
        if (use_tval) {
            timer_write(TIMER_TVAL, period);
            isb();
            cval = timer_read(TIMER_CVAL);
        } else {
            cval = start + period;
            timer_write(TIMER_CVAL, cval);
        }
        timer_write(TIMER_CTL, CTL_ENABLE);
        isb();
        u64 deadline = timer_count() + ms_to_ticks(2000);
        if (i == 0)
            wait_irq_poll(i, deadline);
        else
            wait_irq_wfi(i, deadline);
        if (nirq != i + 1) {
            fail_now("tick %u: no virtual timer interrupt within 2 s (nirq=%u, CTL=0x%lx, CNTVCT-CVAL=%ld, "
                     "other IRQs %u, last INTID %u)", i + 1, nirq, timer_read(TIMER_CTL),
                     (s64)(timer_count() - cval), nother, other_intid);
        }
        u64 late = fire_vct - fire_cval;
        say("tick %u %s: armed 0x%lx CVAL 0x%lx, IRQ %u at 0x%lx (+%lu ticks, %lu us), CTL 0x%lx%s", i + 1,
            use_tval ? "TVAL" : "CVAL", start, fire_cval, VTIMER_INTID, fire_vct, late, ticks_to_us(late), fire_ctl,
            i == 0 ? " [polled]" : " [wfi]");
        CHECK(fire_cval == cval, "tick %u: CVAL read in the handler 0x%lx != programmed 0x%lx", i + 1, fire_cval, cval);
        CHECK(cval >= start + period, "tick %u: TVAL gave CVAL 0x%lx < start+period 0x%lx", i + 1, cval, start + period);
        CHECK(fire_vct >= fire_cval, "tick %u: interrupt %lu ticks before the deadline", i + 1, fire_cval - fire_vct);
        CHECK(fire_ctl & CTL_ISTATUS, "tick %u: CTL.ISTATUS clear in the handler (CTL=0x%lx)", i + 1, fire_ctl);
    }

    /* A disabled timer must stay quiet. */
    u64 t = timer_count() + ms_to_ticks(30);
    while (timer_count() < t)
        ;
    CHECK(nirq == 5, "%u timer interrupts after the timer was disabled", nirq - 5);

    /* IMASK: expiry while masked raises nothing; clearing IMASK delivers it. */
    u64 cval = timer_count() + ms_to_ticks(5);
    timer_write(TIMER_CVAL, cval);
    timer_write(TIMER_CTL, CTL_ENABLE | CTL_IMASK);
    isb();
    t = cval + ms_to_ticks(20);
    while (timer_count() < t)
        ;
    u64 ctl = timer_read(TIMER_CTL);
    say("masked timer 20 ms past its deadline: CTL=0x%lx, interrupts so far %u", ctl, nirq);
    CHECK(nirq == 5, "interrupt delivered while CTL.IMASK was set");
    CHECK(ctl & CTL_ISTATUS, "CTL.ISTATUS clear after the deadline (CTL=0x%lx)", ctl);
    timer_write(TIMER_CTL, CTL_ENABLE);
    isb();
    wait_irq_poll(5, timer_count() + ms_to_ticks(2000));
    CHECK(nirq == 6, "no interrupt after clearing CTL.IMASK");
    if (nirq == 6)
        say("IMASK cleared: IRQ %u at 0x%lx (CVAL 0x%lx)", VTIMER_INTID, fire_vct, fire_cval);

    /* A deadline at the end of time (CVAL = 2^64 - 1, enabled) never fires, and nothing
     * hangs: QEMU 7.2's timer model spins forever, taking the whole board with it, when
     * CVAL + CNTVOFF_EL2 overflows, so the hypervisor must not run guests with an offset that
     * a guest's own (untrapped) CVAL write can overflow. 20 ms later we must still be here. */
    timer_write(TIMER_CTL, 0);
    timer_write(TIMER_CVAL, ~0UL);
    timer_write(TIMER_CTL, CTL_ENABLE);
    isb();
    t = timer_count() + ms_to_ticks(20);
    while (timer_count() < t)
        ;
    ctl = timer_read(TIMER_CTL);
    timer_write(TIMER_CTL, 0);
    isb();
    say("deadline 0x%lx: 20 ms later CTL=0x%lx, interrupts %u", ~0UL, ctl, nirq);
    CHECK(nirq == 6 && !(ctl & CTL_ISTATUS), "a deadline at 2^64-1 fired (CTL=0x%lx, interrupts %u)", ctl, nirq);

    irq_disable();
    say("%u timer interrupts, %u spurious, %u other", nirq, nspurious, nother);
    CHECK(nother == 0, "%u interrupts with unexpected INTID (last %u)", nother, other_intid);
    return 0;
}
