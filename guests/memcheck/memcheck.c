/*
 * memcheck: a quiet neighbour that proves its memory stays its own and that it keeps running.
 *
 * Fills all of its RAM (every /memory bank, except its own image, .bss and stacks) with a
 * pattern derived from each 64-bit word's address and a generation number, then sweeps it
 * again and again: each pass checks that every word still holds generation N-1 and rewrites
 * it with generation N (so a stale or shared page is caught too). It prints
 * "memcheck: pass N ok ..." after each pass and "TEST PASS memcheck" after the last one;
 * the first mismatch ends the test with
 * "TEST FAIL memcheck: at 0x... expected 0x... got 0x...".
 *
 * The virtual timer (INTID 27) ticks every tick_ms meanwhile; the guest counts the ticks and
 * fails if a pass that lasted at least 5 periods saw none (it is not being scheduled or its
 * timer interrupt is lost).
 *
 * /chosen/bootargs options: passes=N (default 20, 0 = forever), seed=0x..., tick_ms=N (default 10).
 */
#include "guest.h"
#include "fdt_extra.h"

const char guest_name[] = "memcheck";

extern char _image_start[], _image_end[];

#define VTIMER_INTID 27
#define CTL_ENABLE   1u

static volatile u64 nticks;
static volatile u32 nspurious, nother, other_intid;
static u64 period;

static int irq_handler(struct exc_frame *f, u64 kind)
{
    (void)f, (void)kind;
    u64 iar; u32 intid;
    if (!gic_ack(&iar, &intid)) {
        nspurious++;
        return 1;
    }
    if (intid == VTIMER_INTID) {
        nticks++;
        /* next deadline, and clear the IMASK bit Xen sets when it forwards the interrupt */
        write_sysreg(cntv_tval_el0, period);
        write_sysreg(cntv_ctl_el0, CTL_ENABLE);
        isb();
    } else {
        nother++;
        other_intid = intid;
    }
    write_sysreg(icc_eoir1_el1, iar);
    isb();
    return 1;
}

static u64 seed;

static inline u64 pattern(u64 addr, u64 gen)
{
    u64 x = (addr ^ (seed + gen * 0xd1b54a32d192ed03UL)) * 0x9e3779b97f4a7c15UL;
    return x ^ (x >> 29);
}

struct mismatch { u64 addr, expected, got; };

/* Checks generation gen-1 (if gen > 0) and writes generation gen over [lo, hi).
 * Returns 0, or 1 with *m filled at the first mismatch (the sweep stops there). */
static int sweep(u64 lo, u64 hi, u64 gen, struct mismatch *m)
{
    volatile u64 *p = (volatile u64 *)lo, *end = (volatile u64 *)hi;
    if (gen == 0) {
        for (; p < end; p += 2) {
            u64 a = (u64)p;
            p[0] = pattern(a, 0);
            p[1] = pattern(a + 8, 0);
        }
        return 0;
    }
    for (; p < end; p += 2) {
        u64 a = (u64)p;
        u64 v0 = p[0], v1 = p[1];
        u64 e0 = pattern(a, gen - 1), e1 = pattern(a + 8, gen - 1);
        if (__builtin_expect(v0 != e0 || v1 != e1, 0)) {
            m->addr = v0 != e0 ? a : a + 8;
            m->expected = v0 != e0 ? e0 : e1;
            m->got = v0 != e0 ? v0 : v1;
            return 1;
        }
        p[0] = pattern(a, gen);
        p[1] = pattern(a + 8, gen);
    }
    return 0;
}

struct region { u64 lo, hi; };

int main(u64 dtb)
{
    check_dtb(dtb);
    char args[256];
    int alen = fdtx_bootargs(dtb, args, sizeof(args));
    u64 passes = 20, tick_ms = 10;
    seed = 0x6d656d636865636bUL;
    fdtx_bootarg_u64(args, "passes", &passes);
    fdtx_bootarg_u64(args, "seed", &seed);
    fdtx_bootarg_u64(args, "tick_ms", &tick_ms);
    if (tick_ms == 0)
        tick_ms = 10;
    say("bootargs \"%s\"%s: passes=%lu%s seed=0x%lx tick_ms=%lu", args, alen < 0 ? " (none)" : "", passes,
        passes ? "" : " (forever)", seed, tick_ms);

    u64 bb[FDTX_MAX_BANKS], bs[FDTX_MAX_BANKS];
    int nb = fdtx_memory_banks(dtb, bb, bs, FDTX_MAX_BANKS);
    if (nb == 0)
        fail_now("no /memory banks in the DTB");

    /* Everything from the image start to the end of .bss + stacks stays ours (page granular). */
    u64 img_lo = (u64)_image_start & ~0xfffUL, img_hi = ((u64)_image_end + 0xfff) & ~0xfffUL;
    say("image 0x%lx..0x%lx (incl. .bss and stacks)", (u64)_image_start, (u64)_image_end);

    struct region rg[2 * FDTX_MAX_BANKS];
    int nr = 0;
    u64 total = 0;
    for (int i = 0; i < nb; i++) {
        u64 lo = (bb[i] + 15) & ~15UL, hi = (bb[i] + bs[i]) & ~15UL;
        say("RAM bank %d: 0x%lx..0x%lx (%lu MiB)", i, bb[i], bb[i] + bs[i], bs[i] >> 20);
        if (img_lo < hi && img_hi > lo) {    /* split around the image */
            if (img_lo > lo)
                rg[nr++] = (struct region){ lo, img_lo };
            if (img_hi < hi)
                rg[nr++] = (struct region){ img_hi, hi };
        } else if (hi > lo) {
            rg[nr++] = (struct region){ lo, hi };
        }
    }
    for (int i = 0; i < nr; i++) {
        say("test region 0x%lx..0x%lx", rg[i].lo, rg[i].hi);
        total += rg[i].hi - rg[i].lo;
    }
    if (total == 0)
        fail_now("nothing to test");

    /* virtual timer, periodic */
    period = ms_to_ticks(tick_ms);
    gic_setup_ppi(VTIMER_INTID, irq_handler);
    write_sysreg(cntv_tval_el0, period);
    write_sysreg(cntv_ctl_el0, CTL_ENABLE);
    isb();
    irq_enable();

    struct mismatch m;
    u64 t0 = cntvct();
    for (int i = 0; i < nr; i++)
        sweep(rg[i].lo, rg[i].hi, 0, &m);
    say("filled %lu MiB in %lu ms", total >> 20, (cntvct() - t0) * 1000 / cntfrq());

    for (u64 pass = 1; passes == 0 || pass <= passes; pass++) {
        u64 ticks0 = nticks, start = cntvct();
        for (int i = 0; i < nr; i++) {
            if (sweep(rg[i].lo, rg[i].hi, pass, &m)) {
                u64 again = *(volatile u64 *)m.addr;
                say("pass %lu: mismatch at 0x%lx: expected 0x%lx got 0x%lx (re-read 0x%lx), generation %lu",
                    pass, m.addr, m.expected, m.got, again, pass - 1);
                fail_now("at 0x%lx expected 0x%lx got 0x%lx", m.addr, m.expected, m.got);
            }
        }
        u64 dt = cntvct() - start, dticks = nticks - ticks0;
        say("pass %lu ok (%lu MiB, %lu ms, %lu timer irqs, %lu total)", pass, total >> 20, dt * 1000 / cntfrq(),
            dticks, nticks);
        if (dticks == 0 && dt >= 5 * period)
            check_failed("pass %lu took %lu ms without a single timer interrupt", pass, dt * 1000 / cntfrq());
        if (failures())
            break;
    }
    irq_disable();
    write_sysreg(cntv_ctl_el0, 0);
    say("%lu timer interrupts, %u spurious, %u other (last INTID %u)", nticks, nspurious, nother, other_intid);
    CHECK(nticks > 0, "no timer interrupt at all");
    CHECK(nother == 0, "%u unexpected interrupts (last INTID %u)", nother, other_intid);
    return 0;
}
