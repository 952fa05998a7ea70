/*
 * smp: PSCI CPU power management and inter-processor interrupts (needs 2 vCPUs).
 *  - PSCI_VERSION >= 0.2; AFFINITY_INFO(1) == OFF before boot
 *  - CPU_ON(7) == INVALID_PARAMETERS (no such vCPU)
 *  - CPU_ON(1, secondary_entry, 0x1234) == SUCCESS; vCPU 1 starts at EL1 with x0 == 0x1234 and
 *    MPIDR_EL1.Aff0 == 1; AFFINITY_INFO(1) == ON; CPU_ON(1) again == ALREADY_ON
 *  - vCPU 1 sends SGI 1 to vCPU 0 through ICC_SGI1R_EL1; vCPU 0 takes it (ICC_IAR1_EL1 == 1)
 *  - vCPU 1 waits in WFI with SPI 40 (routed to it) and PPI 20 pending but disabled; vCPU 0
 *    enables them, the SPI through GICD_ISENABLER1, the PPI through vCPU 1's redistributor:
 *    each must wake vCPU 1 and be taken there (a vGIC change made by one vCPU kicks another)
 *  - vCPU 1 calls CPU_OFF; AFFINITY_INFO(1) becomes OFF
 *  - CPU_ON(1, ..., 0x5678) brings it back once more (context id 0x5678), then CPU_OFF again
 *  - only with bootarg own=MS: who owns a CPU. Every vCPU (vCPU 0 and CPU_ON of each other one
 *    the domain has, up to 4) registers a Xen runstate area (VCPUOP_register_runstate_memory_area)
 *    and busy-loops for MS milliseconds with no trap, watching the area: the hypervisor rewrites
 *    it each time it switches that vCPU in, so a change of state_entry_time while the vCPU never
 *    stopped asking for its CPU means it was preempted (or moved). Each vCPU's line says how
 *    often that happened and how long it was runnable without running; a vCPU that never ran
 *    within MS + 2 s says so. The guest judges nothing here: the scheduler decides what is
 *    right (sched=null: no switch-in at all, and vCPUs beyond the board's CPUs never run; the
 *    fair scheduler time-shares them), so the system test compares the lines.
 */
#include "guest.h"
#include "fdt_extra.h"
#include "xen.h"

const char guest_name[] = "smp";

extern char secondary_entry[];

enum { CMD_NONE, CMD_SGI, CMD_OFF, CMD_WFI };
static volatile u32 sec_up, cmd, sgi_sent;
static volatile u64 sec_ctx, sec_mpidr, sec_el, sec_off_ret;
static volatile u32 off_returned;
static volatile u32 nsgi, nother, last_intid;
static volatile u32 sec_waiting, sec_spi, sec_ppi;

#define SGI_ID 1
#define WAKE_SPI 40
#define WAKE_PPI 20

/* ---- own=MS: a Xen runstate area per vCPU (struct vcpu_runstate_info, 48 bytes) ---- */
#define OWN_MAX 4
#define OWN_CTX 0x0e00u              /* CPU_ON context id of a vCPU started for this phase */
#define VCPUOP_register_runstate_memory_area 5
struct runstate { u32 state, pad; u64 entry_time; u64 time[4]; };
static volatile struct runstate own_area[OWN_MAX] __attribute__((aligned(64)));
static volatile u64 own_switches[OWN_MAX], own_runnable_ns[OWN_MAX], own_spun_ms[OWN_MAX];
static volatile u32 own_done[OWN_MAX];
static volatile s64 own_reg[OWN_MAX];
static u64 opt_own;

/* Registers this vCPU's runstate area, then spins `ms` without trapping, counting rewrites of
 * the area (switch-ins). Records the counts for vCPU 0 to print. */
static void own_spin(u32 me, u64 ms)
{
    static volatile u64 handle[OWN_MAX];
    handle[me] = (u64)&own_area[me];
    own_reg[me] = xen_hc(__HYPERVISOR_vcpu_op, VCPUOP_register_runstate_memory_area, me, (u64)&handle[me], 0, 0);
    dsb();
    u64 last = own_area[me].entry_time, n = 0;
    u64 start = cntvct(), end = start + ms_to_ticks(ms);
    while (cntvct() < end) {
        u64 t = own_area[me].entry_time;
        if (t != last) {
            n++;
            last = t;
        }
    }
    own_switches[me] = n;
    own_runnable_ns[me] = own_area[me].time[1];
    own_spun_ms[me] = ms;
    flag_write(&own_done[me], 1);
}

void secondary_main(u64 ctx)
{
    if ((ctx & ~0xffu) == OWN_CTX) {
        u32 me = (u32)(ctx & 0xff);
        own_spin(me, opt_own);
        hvc_call(PSCI_CPU_OFF, 0, 0, 0);
        for (;;)
            wfi();
    }
    sec_ctx = ctx;
    sec_mpidr = read_sysreg(mpidr_el1);
    sec_el = read_sysreg(CurrentEL) >> 2;
    /* no printing here: vCPU 0 may be printing; it reports what vCPU 1 saw */
    flag_write(&sec_up, 1);
    for (;;) {
        u32 c = flag_read(&cmd);
        if (c == CMD_SGI) {
            write_sysreg(icc_sre_el1, read_sysreg(icc_sre_el1) | 1);
            isb();
            /* TargetList bit 0 (Aff0 = 0), Aff1/2/3 = 0, IRM = 0, INTID in [27:24] */
            write_sysreg(icc_sgi1r_el1, ((u64)SGI_ID << 24) | 1);
            isb();
            flag_write(&cmd, CMD_NONE);
            flag_write(&sgi_sent, 1);
        } else if (c == CMD_WFI) {
            /* PPI 20 pending but disabled on our own redistributor; SPI 40 vCPU 0 set up */
            u64 rd = gicr_for_this_cpu();
            gicr_wake(rd);
            gic_enable_ppi_sgi(rd, WAKE_PPI, 0xa0);
            mmio_write32(rd + GICR_SGI_OFF + 0x180, 1u << WAKE_PPI);     /* ICENABLER0 */
            mmio_write32(rd + GICR_SGI_OFF + 0x200, 1u << WAKE_PPI);     /* ISPENDR0 */
            gic_cpu_if_init();
            irq_enable();
            flag_write(&cmd, CMD_NONE);
            flag_write(&sec_waiting, 1);
            while (!flag_read(&sec_spi) || !flag_read(&sec_ppi))
                wfi();
            irq_disable();
        } else if (c == CMD_OFF) {
            flag_write(&cmd, CMD_NONE);
            sec_off_ret = hvc_call(PSCI_CPU_OFF, 0, 0, 0);
            flag_write(&off_returned, 1);   /* CPU_OFF must not return */
            for (;;)
                wfi();
        }
    }
}

static int irq_handler(struct exc_frame *f, u64 kind)
{
    (void)f, (void)kind;
    u64 iar; u32 intid;
    if (!gic_ack(&iar, &intid))
        return 1;
    if ((read_sysreg(mpidr_el1) & 0xff) == 1) {
        if (intid == WAKE_SPI)
            sec_spi++;
        else if (intid == WAKE_PPI)
            sec_ppi++;
        write_sysreg(icc_eoir1_el1, iar);
        isb();
        return 1;
    }
    last_intid = intid;
    if (intid == SGI_ID)
        nsgi++;
    else
        nother++;
    write_sysreg(icc_eoir1_el1, iar);
    isb();
    return 1;
}

static s64 psci(u64 fn, u64 a1, u64 a2, u64 a3) { return (s64)hvc_call(fn, a1, a2, a3); }

static const char *psci_err(s64 r)
{
    switch (r) {
    case 0: return "SUCCESS";
    case -1: return "NOT_SUPPORTED";
    case -2: return "INVALID_PARAMETERS";
    case -3: return "DENIED";
    case -4: return "ALREADY_ON";
    case -5: return "ON_PENDING";
    case -6: return "INTERNAL_FAILURE";
    case -7: return "NOT_PRESENT";
    case -8: return "DISABLED";
    case -9: return "INVALID_ADDRESS";
    default: return "?";
    }
}

static s64 affinity_info(u64 target) { return psci(PSCI_AFFINITY_INFO, target, 0, 0); }

/* Poll until *p == v or 2 s pass. */
static int wait_flag(volatile u32 *p, u32 v)
{
    u64 deadline = cntvct() + ms_to_ticks(2000);
    while (flag_read(p) != v)
        if (cntvct() > deadline)
            return 0;
    return 1;
}

static int wait_affinity(u64 target, s64 state)
{
    u64 deadline = cntvct() + ms_to_ticks(2000);
    s64 r;
    while ((r = affinity_info(target)) != state)
        if (cntvct() > deadline)
            return 0;
    return 1;
}

static int bring_up(u64 ctx)
{
    flag_write(&sec_up, 0);
    sec_ctx = 0;
    sec_mpidr = 0;
    s64 r = psci(PSCI_CPU_ON, 1, (u64)secondary_entry, ctx);
    say("CPU_ON(1, %p, 0x%lx) -> %ld %s", secondary_entry, ctx, r, psci_err(r));
    if (r != 0) {
        check_failed("CPU_ON(1) returned %ld %s", r, psci_err(r));
        return 0;
    }
    if (!wait_flag(&sec_up, 1)) {
        check_failed("vCPU 1 did not come up within 2 s of CPU_ON (AFFINITY_INFO=%ld)", affinity_info(1));
        return 0;
    }
    say("vCPU 1 up: x0=0x%lx MPIDR_EL1=0x%lx CurrentEL=%lu", sec_ctx, sec_mpidr, sec_el);
    CHECK(sec_ctx == ctx, "vCPU 1 entered with x0=0x%lx, expected context id 0x%lx", sec_ctx, ctx);
    CHECK((sec_mpidr & 0xff00ffffffUL) == 1, "vCPU 1 MPIDR_EL1=0x%lx, expected affinity 0.0.0.1", sec_mpidr);
    CHECK(sec_el == 1, "vCPU 1 entered at EL%lu", sec_el);
    r = affinity_info(1);
    say("AFFINITY_INFO(1) after CPU_ON -> %ld (0 = ON)", r);
    CHECK(r == 0, "AFFINITY_INFO(1) = %ld while vCPU 1 runs, expected 0 (ON)", r);
    return 1;
}

static void take_down(void)
{
    flag_write(&cmd, CMD_OFF);
    if (wait_affinity(1, 1)) {
        say("vCPU 1 called CPU_OFF: AFFINITY_INFO(1) -> 1 (OFF)");
    } else {
        check_failed("AFFINITY_INFO(1) not OFF 2 s after CPU_OFF (now %ld)", affinity_info(1));
    }
    CHECK(!flag_read(&off_returned), "CPU_OFF returned to vCPU 1 (0x%lx)", sec_off_ret);
}

static void spin_ms(u64 ms)
{
    u64 end = cntvct() + ms_to_ticks(ms);
    while (cntvct() < end)
        ;
}

/* Waits up to 2 s for *p to become non-zero. */
static int wait_nonzero(volatile u32 *p)
{
    u64 deadline = cntvct() + ms_to_ticks(2000);
    while (!flag_read(p))
        if (cntvct() > deadline)
            return 0;
    return 1;
}

static void wake_from_wfi(void)
{
    u32 word = WAKE_SPI / 32, bit = 1u << (WAKE_SPI % 32);
    mmio_write32(GICD_BASE + 0x180 + 4 * word, bit);                 /* ICENABLER */
    mmio_write32(GICD_BASE + 0x6000 + 8 * WAKE_SPI, 1);             /* IROUTER: Aff0 1 */
    mmio_write32(GICD_BASE + 0x400 + (WAKE_SPI & ~3u), 0xa0a0a0a0);  /* IPRIORITYR */
    mmio_write32(GICD_BASE + 0x200 + 4 * word, bit);                 /* ISPENDR */
    flag_write(&cmd, CMD_WFI);
    if (!wait_flag(&sec_waiting, 1)) {
        check_failed("vCPU 1 did not report waiting in WFI");
        return;
    }
    spin_ms(20);                                                     /* let it block */
    mmio_write32(GICD_BASE + 0x100 + 4 * word, bit);                 /* ISENABLER */
    int spi = wait_nonzero(&sec_spi);
    say("SPI %u enabled by vCPU 0 while vCPU 1 waited in WFI: %u taken on vCPU 1", WAKE_SPI, sec_spi);
    CHECK(spi && sec_spi == 1, "SPI %u: %u interrupts on vCPU 1 within 2 s, expected 1", WAKE_SPI, sec_spi);
    spin_ms(20);
    mmio_write32(GICR_BASE + GICR_STRIDE + GICR_SGI_OFF + 0x100, 1u << WAKE_PPI);   /* its ISENABLER0 */
    int ppi = wait_nonzero(&sec_ppi);
    say("PPI %u enabled in vCPU 1's redistributor by vCPU 0: %u taken on vCPU 1", WAKE_PPI, sec_ppi);
    CHECK(ppi && sec_ppi == 1, "PPI %u: %u interrupts on vCPU 1 within 2 s, expected 1", WAKE_PPI, sec_ppi);
}

static void own_phase(void)
{
    say("own: every vCPU spins %lu ms watching its runstate area", opt_own);
    u32 started = 1;
    for (u32 c = 1; c < OWN_MAX; c++) {
        s64 r = psci(PSCI_CPU_ON, c, (u64)secondary_entry, OWN_CTX | c);
        if (r == PSCI_INVALID_PARAMETERS)
            break;                    /* no such vCPU: the domain has c vCPUs */
        CHECK(r == 0, "own: CPU_ON(%u) returned %ld %s", c, r, psci_err(r));
        started = c + 1;
    }
    own_spin(0, opt_own);
    u64 deadline = cntvct() + ms_to_ticks(opt_own + 2000);
    for (u32 c = 1; c < started; c++)
        while (!flag_read(&own_done[c]) && cntvct() < deadline)
            ;
    for (u32 c = 0; c < started; c++) {
        if (!flag_read(&own_done[c])) {
            say("own: vCPU %u never ran (AFFINITY_INFO %ld)", c, affinity_info(c));
            continue;
        }
        CHECK(own_reg[c] == 0, "own: vCPU %u: VCPUOP_register_runstate_memory_area -> %ld", c, own_reg[c]);
        say("own: vCPU %u spun %lu ms: switched in %lu times, runnable %lu us", c, own_spun_ms[c], own_switches[c],
            own_runnable_ns[c] / 1000);
    }
}

int main(u64 dtb)
{
    check_dtb(dtb);
    char args[128];
    fdtx_bootargs(dtb, args, sizeof(args));
    fdtx_bootarg_u64(args, "own", &opt_own);
    say("cpu0: MPIDR_EL1=0x%lx", read_sysreg(mpidr_el1));
    s64 v = psci(PSCI_VERSION, 0, 0, 0);
    say("PSCI_VERSION -> 0x%lx", v);
    if (v < 2)
        fail_now("PSCI_VERSION 0x%lx < 0.2", v);

    s64 r = affinity_info(1);
    say("AFFINITY_INFO(1) before CPU_ON -> %ld (1 = OFF)", r);
    CHECK(r == 1, "AFFINITY_INFO(1) = %ld before CPU_ON, expected 1 (OFF)", r);

    r = psci(PSCI_CPU_ON, 7, (u64)secondary_entry, 0);
    say("CPU_ON(7) -> %ld %s", r, psci_err(r));
    CHECK(r == PSCI_INVALID_PARAMETERS, "CPU_ON(7) returned %ld, expected -2 INVALID_PARAMETERS", r);

    if (!bring_up(0x1234))
        finish();

    r = psci(PSCI_CPU_ON, 1, (u64)secondary_entry, 0x9999);
    say("CPU_ON(1) again -> %ld %s", r, psci_err(r));
    CHECK(r == PSCI_ALREADY_ON, "CPU_ON(1) on a running vCPU returned %ld, expected -4 ALREADY_ON", r);

    /* SGI 1 from vCPU 1 to vCPU 0 */
    gicd_enable();
    u64 rd = gicr_for_this_cpu();
    u64 typer1 = mmio_read64(GICR_BASE + GICR_STRIDE + 8);
    say("redistributors: cpu0 at 0x%lx TYPER=0x%lx, next TYPER=0x%lx", rd, mmio_read64(rd + 8), typer1);
    CHECK((typer1 >> 32) == 1, "second redistributor has affinity 0x%lx, expected 1", typer1 >> 32);
    gicr_wake(rd);
    gic_enable_ppi_sgi(rd, SGI_ID, 0xa0);
    gic_cpu_if_init();
    irq_hook = irq_handler;
    irq_enable();
    flag_write(&cmd, CMD_SGI);
    if (!wait_flag(&sgi_sent, 1))
        check_failed("vCPU 1 did not report sending the SGI");
    u64 deadline = cntvct() + ms_to_ticks(2000);
    while (flag_read(&nsgi) == 0 && cntvct() < deadline)
        ;
    irq_disable();
    say("SGI %u from vCPU 1: %u taken on vCPU 0 (IAR %u), %u other", SGI_ID, nsgi, last_intid, nother);
    CHECK(nsgi == 1, "SGI %u from vCPU 1: %u interrupts on vCPU 0, expected 1", SGI_ID, nsgi);
    CHECK(nother == 0, "unexpected interrupt INTID %u", last_intid);

    wake_from_wfi();
    take_down();

    /* once more: CPU_ON after CPU_OFF */
    if (bring_up(0x5678))
        take_down();
    if (opt_own)
        own_phase();
    return 0;
}
