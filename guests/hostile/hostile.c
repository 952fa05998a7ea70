/*
 * hostile: a guest that attacks the hypervisor and its neighbours and checks that every attack
 * ends in a fault, an error or nothing at all, and that it keeps running.
 *
 *  (a) fixed list: loads, stores (all sizes, ldp/stp, writeback forms, ldar) and instruction
 *      fetches at guest-physical addresses outside its RAM and devices (below/above RAM, the
 *      holes of Xen's guest map, the QEMU virt host's own devices, far and beyond-IPA
 *      addresses). Each must raise exactly one synchronous abort at EL1 (EC 0x25 data,
 *      0x21 fetch) with FAR = the address and ELR = the access; the guest skips it. The
 *      loaded register and the base register of writeback forms must be unchanged.
 *  (b) random vGIC register accesses: distributor registers of SPIs it does not use,
 *      IROUTER, SETSPI/CLRSPI, SGIR, ID and reserved offsets, all access sizes; its own
 *      redistributor (WAKER, PROPBASER/PENDBASER, ...) and the frames beyond its vCPUs.
 *      Any outcome is fine (data abort, RAZ/WI, effect) except an interrupt that was never
 *      enabled being delivered.
 *  (c) system registers: trapped EL1 registers (debug, PMU, ICC_SGI*R, CNTP_*, impdef,
 *      set/way cache maintenance), EL2/EL3 registers (must be UNDEFINED: EC 0x0), and
 *      random MSR/MRS/SYS encodings (those in the EL2/EL12/EL3 space must be UNDEFINED too).
 *  (d) hvc #0 / smc #0 with random SMCCC function ids and x1-x7, hvc #0xEA1 with random x16
 *      hypercall numbers and random (pointer) arguments, hvc/smc with random immediates:
 *      each must return (any value) or raise an undefined-instruction exception, and x19-x28
 *      must survive.
 *  (e) SGI floods through ICC_SGI1R_EL1 (to itself, to all others with IRM = 1, to absent
 *      vCPUs), with interrupts masked and unmasked.
 *  (f) only with bootarg xenabi=PCT (that percentage of the random operations; default 0, which
 *      leaves the sequence of (b)-(e) exactly as without it): Xen-ABI-shaped hypercalls,
 *      `hvc #0xEA1` with x16 uniform in 0..63 (every Xen hypercall number and the gaps between
 *      them), x0 mostly a valid sub-command of that hypercall, and x1-x4 mostly pointers to
 *      argument structures in the scratch area filled like real ones (DOMID_SELF and small
 *      domain ids, small ports, vCPU ids, counts, frame numbers outside its RAM, pointers):
 *      this reaches the deeper paths of an event-channel, grant-table, memory_op, vcpu_op,
 *      hvm_op and multicall implementation that random words rarely do. Same rules as (d).
 *
 * Isolation checks on delivered interrupts: an interrupt whose INTID was never enabled (by the
 * guest or the reset state) is a failure; SGI 15 is only ever sent to other (or absent) vCPUs,
 * so SGI 15 arriving at vCPU 0 is a failure. Every 10000 operations the guest restores its own
 * GIC state and checks that a self-SGI (INTID 0) and a virtual timer interrupt (27) still
 * arrive; the random writes never change the priorities of those two INTIDs.
 *
 * Architectural deviations that do not break isolation are printed as "NOTE:" lines and fail
 * the test only with bootarg strict=1 (Xen 4.17 shows all three):
 *  - SGI 14 is only sent with vCPU 0's Aff1.Aff0 but a nonexistent Aff3.Aff2 or RS != 0: its
 *    arrival means ICC_SGI1R_EL1's Aff3/Aff2/RS fields are ignored;
 *  - GICD registers of INTIDs 0-31 with GICD_CTLR.ARE=1 should be RAZ/WI;
 *  - an SGI made pending while masked by its priority must be taken once its priority is raised.
 * Informational only: undefined hvc/smc reported with ELR_EL1 after the instruction.
 *
 * Never done on purpose (they would legitimately stop the guest): PSCI CPU_OFF, SYSTEM_OFF/
 * RESET/RESET2/SUSPEND, CPU_SUSPEND, CPU_FREEZE, MEM_PROTECT; PSCI 0.1 ids 0-3; SCHEDOP
 * (and sched_op_compat) other than yield; VCPUOP_initialise/up/down; writes to SCTLR_EL1,
 * ACTLR_EL1, VBAR_EL1, RMR_EL1, SPSel, DAIF, ALLINT and the ICC CPU-interface registers other
 * than SGI generation. Hypercall pointers and the memory they point to never name the guest's
 * own RAM (outside a scratch area at the top of RAM) nor the gfns of its RAM or devices.
 *
 *  (g)-(o) only with bootarg more=PCT: every vCPU at once, lifecycle, its own RAM, a cooperating
 *      peer domain, XenStore and console rings, the PL011, traps, BRK, table walks; see classes.h.
 *
 * /chosen/bootargs options: seed=0x... (default 0x5eed0f1057113e00), ops=N (default 100000),
 * strict=1, xenabi=PCT (default 0), more=PCT (default 0), classes=MASK (default 0x1ff),
 * peer=DOMID, life_ms=MS, lifeact=MASK (default 7), el0irq=N (default 0); see classes.h;
 * probe=N (default 10000): a health probe of its own GIC every N random operations.
 */
#include "guest.h"
#include "fdt_extra.h"
#include "xen.h"

const char guest_name[] = "hostile";

/* ---------------- probes.S ---------------- */
u64 hp_ldrb(u64 a, u64 m), hp_ldrh(u64 a, u64 m), hp_ldrw(u64 a, u64 m), hp_ldrx(u64 a, u64 m), hp_ldarw(u64 a, u64 m);
void hp_strb(u64 a, u64 v), hp_strh(u64 a, u64 v), hp_strw(u64 a, u64 v), hp_strx(u64 a, u64 v), hp_stp(u64 a, u64 v);
void hp_dccivac(u64 a, u64 v);
void hp_ldp(u64 a, u64 m, u64 *out), hp_ldr_pre(u64 a, u64 m, u64 *out), hp_ldr_post(u64 a, u64 m, u64 *out);
void hp_str_post(u64 a, u64 v, u64 *out);
void hp_exec(u64 a);
extern char hp_ldrb_insn[], hp_ldrh_insn[], hp_ldrw_insn[], hp_ldrx_insn[], hp_ldarw_insn[], hp_strb_insn[],
    hp_strh_insn[], hp_strw_insn[], hp_strx_insn[], hp_stp_insn[], hp_dccivac_insn[], hp_ldp_insn[],
    hp_ldr_pre_insn[], hp_ldr_post_insn[], hp_str_post_insn[];

struct hx_regs {
    u64 x[8];
    u64 x16;
    u64 cs[10];      /* x19..x28 */
    u64 code;
};
void hx_run(struct hx_regs *r);
extern u32 hx_code[];
extern char secondary_entry[];
extern char _image_start[], _image_end[];

/* ---------------- configuration / state ---------------- */
#define MAXCPU 4
#define SGI_OTHERS_ONLY 15        /* never sent to vCPU 0 */
#define SGI_AFF_IGNORED 14        /* sent to Aff3.Aff2 != 0 / RS != 0 with Aff1.Aff0 of vCPU 0 */
#define PROGRESS_EVERY 10000

static u64 opt_seed = 0x5eed0f1057113e00UL, opt_ops = 100000, opt_strict, opt_xenabi, opt_probe = PROGRESS_EVERY;
static u64 bank_base[FDTX_MAX_BANKS], bank_size[FDTX_MAX_BANKS];
static int nbanks, ncpu;
static u64 img_lo, img_hi;
static u64 scratch_lo, scratch_hi;        /* 0, 0 if none */
static u64 rd0;                            /* our redistributor */
static u64 self_aff;                       /* MPIDR affinity of vCPU 0 */

/* ---------------- PRNG ---------------- */
static u64 rs;
static u64 rnd(void)
{
    u64 x = rs;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rs = x;
}
static u64 rndn(u64 n) { return n ? rnd() % n : 0; }

/* ---------------- exception bookkeeping ---------------- */
enum { ARM_NONE, ARM_INSN, ARM_FETCH };
enum { W_NONE, W_AT, W_AFTER };
static volatile u64 arm_pc, arm_mode;
static volatile u64 x_count, x_esr, x_far, x_where;

static int sync_handler(struct exc_frame *f, u64 kind)
{
    (void)kind;
    if (arm_mode == ARM_NONE)
        return 0;
    if (arm_mode == ARM_FETCH) {
        if (f->elr != arm_pc)
            return 0;
        f->elr = f->x[30];           /* back to hp_exec, after its blr */
        x_where = W_AT;
    } else if (f->elr == arm_pc) {
        f->elr += 4;
        x_where = W_AT;
    } else if (f->elr == arm_pc + 4 && (ESR_EC(f->esr) == 0 || ESR_EC(f->esr) == 0x15)) {
        x_where = W_AFTER;           /* Xen reports an undefined hvc with ELR after it; SVC's is after it */
    } else {
        return 0;
    }
    x_count++;
    x_esr = f->esr;
    x_far = f->far;
    return 1;
}

static void arm(u64 mode, const void *pc)
{
    x_count = x_esr = x_far = 0;
    x_where = W_NONE;
    arm_pc = (u64)pc;
    arm_mode = mode;
}
static void disarm(void) { arm_mode = ARM_NONE; }

/* ---------------- interrupts ---------------- */
#define NBITS_EN 5120                       /* INTIDs 0..1023 and extended SPIs 4096..5119 */
static volatile u32 ever_en[NBITS_EN / 32];
static void mark_enabled(u32 intid)
{
    if (intid >= 4096)
        intid = intid - 4096 + 1024;
    if (intid < NBITS_EN)
        ever_en[intid / 32] |= 1u << (intid % 32);
}
static int was_enabled(u32 intid)
{
    if (intid >= 1024 && intid < 4096)
        return 0;
    if (intid >= 4096)
        intid = intid - 4096 + 1024;
    return intid < NBITS_EN && (ever_en[intid / 32] >> (intid % 32)) & 1;
}

static volatile u64 irq_total[MAXCPU], irq_sgi[MAXCPU], irq_spurious[MAXCPU];
static volatile u64 sgi_taken0[16];           /* per SGI on vCPU 0 */
static volatile u64 irq_vtimer, irq_ptimer, irq_ppi_other, irq_spi;
static volatile u64 viol_count, viol_intid, viol_cpu;
static volatile u64 n_sgi14, n_storm;
static volatile u32 storm_id[MAXCPU], storm_run[MAXCPU];
static volatile u64 op_irqs;
static u64 rd_of_cpu[MAXCPU];

static u64 rd64(volatile u64 *p)
{
    dsb();
    return *p;
}

static u32 cpu_index(void) { return read_sysreg(mpidr_el1) & (MAXCPU - 1); }

static void disable_intid(u32 cpu, u32 intid)
{
    if (intid < 32)
        mmio_write32(rd_of_cpu[cpu] + GICR_SGI_OFF + 0x180, 1u << intid);
    else if (intid < 1020)
        mmio_write32(GICD_BASE + 0x180 + (intid / 32) * 4, 1u << (intid % 32));
    else if (intid >= 4096 && intid < 5120)
        mmio_write32(GICD_BASE + 0x1400 + ((intid - 4096) / 32) * 4, 1u << (intid % 32));
}

static int irq_handler(struct exc_frame *f, u64 kind)
{
    (void)kind;
    u32 cpu = cpu_index();
    u64 iar; u32 intid;
    if (!gic_ack(&iar, &intid)) {
        irq_spurious[cpu]++;
        return 1;
    }
    irq_total[cpu]++;
    if (intid == 27) {
        write_sysreg(cntv_ctl_el0, 0);      /* level: stop it */
        isb();
        if (cpu == 0)
            irq_vtimer++;
    } else if (intid == 30) {
        write_sysreg(cntp_ctl_el0, 0);
        isb();
        if (cpu == 0)
            irq_ptimer++;
    }
    if (intid < 16) {
        irq_sgi[cpu]++;
        if (cpu == 0) {
            sgi_taken0[intid]++;
            if (intid == SGI_OTHERS_ONLY && !viol_count++) {
                viol_intid = intid;
                viol_cpu = cpu;
            }
            if (intid == SGI_AFF_IGNORED)
                n_sgi14++;
        }
    } else if (cpu == 0 && !was_enabled(intid)) {
        if (!viol_count++) {
            viol_intid = intid;
            viol_cpu = cpu;
        }
    } else if (intid < 32 && intid != 27 && intid != 30) {
        irq_ppi_other++;
    } else if (intid >= 32) {
        irq_spi++;
    }
    /* Interrupt storms (the same INTID again and again; on vCPU 0 within one operation): disable it. */
    if (intid == storm_id[cpu]) {
        if (++storm_run[cpu] > 1000) {
            disable_intid(cpu, intid);
            n_storm++;
            storm_run[cpu] = 0;
        }
    } else {
        storm_id[cpu] = intid;
        storm_run[cpu] = 1;
    }
    if (cpu == 0 && ++op_irqs > 100000) {
        f->spsr |= 1u << 7;              /* give up on this operation: return with IRQs masked */
        n_storm++;
    }
    write_sysreg(icc_eoir1_el1, iar);
    isb();
    return 1;
}

/* ---------------- address classification ---------------- */
static int in_ram(u64 a)
{
    for (int i = 0; i < nbanks; i++)
        if (a >= bank_base[i] && a - bank_base[i] < bank_size[i])
            return 1;
    return 0;
}
static int in_scratch(u64 a) { return a >= scratch_lo && a < scratch_hi; }

/* Mapped devices of ours: accessing them is not an "outside" access. */
static int in_own_device(u64 a)
{
    return (a >= GICD_BASE && a < GICD_BASE + 0x10000) ||
           (a >= GICR_BASE && a < GICR_BASE + (u64)ncpu * GICR_STRIDE) ||
           (a >= UART_BASE && a < UART_BASE + 0x1000);
}

/* A value must not name our RAM (outside the scratch area) as an address, nor any page of our
 * RAM or devices as a gfn: hypercalls could then write over us or remap us. */
static int bad_word(u64 w)
{
    if (in_ram(w) && !in_scratch(w))
        return 1;
    for (int i = 0; i < nbanks; i++)
        if (w >= bank_base[i] >> 12 && w < (bank_base[i] + bank_size[i] + 0xfff) >> 12)
            return 1;
    if (w >= (GICD_BASE >> 12) && w < ((GICR_BASE + 0x1000000) >> 12))
        return 1;
    if (w == UART_BASE >> 12)
        return 1;
    return 0;
}
static u64 sanitize(u64 v)
{
    for (int i = 0; i < 16; i++) {
        if (!bad_word(v) && !bad_word(v & 0xffffffffUL) && !bad_word(v >> 32))
            return v;
        v ^= (rnd() | 1) << 40 | (rnd() & 0xfffff) << 8;
    }
    return 0xdead0000dead0000UL;
}

/* ---------------- (a) targets ---------------- */
/* Tables hold names inline (no pointers: the image must not need relocations). */
struct target_def { u64 addr; char what[32]; };
struct target { u64 addr; const char *what; };
static const struct target_def fixed_targets[] = {
    { 0x0, "page 0 (host flash)" },
    { 0x1000, "page 1" },
    { 0x00fff000, "below 16 MiB" },
    { 0x01fff000, "below Xen virtio-mmio area" },
    { 0x02fff000, "below vGIC" },
    { 0x03000000, "just below vGICD" },
    { 0x03011000, "past the 64 KiB vGICD" },
    { 0x0301f000, "gap before vGICR" },
    { 0x08000000, "host GICD" },
    { 0x08010000, "host GICC / GICv2m" },
    { 0x08080000, "host GIC ITS" },
    { 0x080a0000, "host GICR" },
    { 0x09000000, "host PL011" },
    { 0x09010000, "host PL031 RTC" },
    { 0x09020000, "host fw_cfg" },
    { 0x09030000, "host GPIO" },
    { 0x0a000000, "host virtio-mmio" },
    { 0x0c000000, "host platform bus" },
    { 0x0e000000, "host secure RAM" },
    { 0x10000000, "host PCIe MMIO" },
    { 0x20000000, "Xen ACPI area" },
    { 0x21fff000, "below vPL011" },
    { 0x22001000, "past vPL011" },
    { 0x3eff0000, "host PCIe PIO" },
    { 0x3f000000, "host PCIe ECAM" },
    { 0x3ffff000, "below the RAM window" },
    { 0x80000000, "2 GiB" },
    { 0xc0000000, "3 GiB" },
    { 0xfffff000, "4 GiB - 4 KiB" },
    { 0x100000000UL, "4 GiB" },
    { 0x200000000UL, "Xen RAM1 base" },
    { 0x1000000000UL, "64 GiB" },
    { 0x4010000000UL, "host high PCIe ECAM" },
    { 0x7ffffff000UL, "top of 39-bit IPA - 4 KiB" },
    { 0x7ffffffff8UL, "top of 39-bit IPA - 8" },
    { 0x8000000000UL, "2^39 (beyond a 39-bit IPA)" },
    { 0xfffffff000UL, "2^40 - 4 KiB" },
    { 0xffffffffff8UL, "2^44 - 8" },
    { 0xfffffffffff8UL, "2^48 - 8" },
};
#define MAX_TARGETS 96
static struct target targets[MAX_TARGETS];
static int ntargets;

static void add_target(u64 a, const char *what)
{
    a &= ~7UL;
    if (ntargets >= MAX_TARGETS || in_ram(a) || in_own_device(a))
        return;
    for (int i = 0; i < ntargets; i++)
        if (targets[i].addr == a)
            return;
    targets[ntargets++] = (struct target){ a, what };
}

/* Places where a hypervisor may or may not have something (Xen's grant-table and magic-page
 * windows, virtio-mmio, redistributor frames beyond our vCPUs): any outcome is fine. */
static const struct target_def maybe_targets[] = {
    { 0x02000000, "Xen virtio-mmio window" },
    { 0x38000000, "Xen grant-table window" },
    { 0x39000000, "Xen magic-page window" },
    { 0x04000000, "last vGICR frame (vCPU 127)" },
    { 0x04020000, "past Xen's vGICR region" },
};

/* ---------------- (a) ---------------- */
static u64 a_probes, a_faults, a_maybe, a_maybe_faults;

enum { V_LDRB, V_LDRH, V_LDRW, V_LDRX, V_LDAR, V_STRB, V_STRH, V_STRW, V_STRX, V_LDP, V_STP, V_LDR_PRE,
       V_LDR_POST, V_STR_POST, V_EXEC, NVARIANTS };
static const char vname[NVARIANTS][16] = { "ldrb", "ldrh", "ldr w", "ldr x", "ldar", "strb", "strh", "str w", "str x",
                                              "ldp", "stp", "ldr x,[b,#8]!", "ldr w,[b],#4", "str w,[b],#16", "exec" };

#define MARKER 0x6d61726b65723132UL

/* Runs one access variant; returns 1 if it faulted. *bad (if not NULL) gets a reason when the
 * outcome differs from "exactly one abort, at this instruction, FAR = addr, registers kept". */
static int access_variant(int v, u64 addr, u64 val, const char **bad, u64 *got)
{
    u64 out[2] = { 0, 0 }, r = MARKER, base_expect = 0;
    int check_base = 0;
    const char *why = NULL;
    switch (v) {
    case V_LDRB: arm(ARM_INSN, hp_ldrb_insn); r = hp_ldrb(addr, MARKER); break;
    case V_LDRH: arm(ARM_INSN, hp_ldrh_insn); r = hp_ldrh(addr, MARKER); break;
    case V_LDRW: arm(ARM_INSN, hp_ldrw_insn); r = hp_ldrw(addr, MARKER); break;
    case V_LDRX: arm(ARM_INSN, hp_ldrx_insn); r = hp_ldrx(addr, MARKER); break;
    case V_LDAR: arm(ARM_INSN, hp_ldarw_insn); r = hp_ldarw(addr, MARKER); break;
    case V_STRB: arm(ARM_INSN, hp_strb_insn); hp_strb(addr, val); break;
    case V_STRH: arm(ARM_INSN, hp_strh_insn); hp_strh(addr, val); break;
    case V_STRW: arm(ARM_INSN, hp_strw_insn); hp_strw(addr, val); break;
    case V_STRX: arm(ARM_INSN, hp_strx_insn); hp_strx(addr, val); break;
    case V_STP: arm(ARM_INSN, hp_stp_insn); hp_stp(addr, val); break;
    case V_LDP:
        arm(ARM_INSN, hp_ldp_insn);
        hp_ldp(addr, MARKER, out);
        r = out[0] == MARKER && out[1] == MARKER ? MARKER : out[0] ^ out[1];
        break;
    case V_LDR_PRE:
        arm(ARM_INSN, hp_ldr_pre_insn);
        hp_ldr_pre(addr, MARKER, out);
        r = out[0];
        check_base = 1;
        base_expect = addr - 8;
        break;
    case V_LDR_POST:
        arm(ARM_INSN, hp_ldr_post_insn);
        hp_ldr_post(addr, MARKER, out);
        r = out[0];
        check_base = 1;
        base_expect = addr;
        break;
    case V_STR_POST:
        arm(ARM_INSN, hp_str_post_insn);
        hp_str_post(addr, val, out);
        check_base = 1;
        base_expect = addr;
        break;
    case V_EXEC: arm(ARM_FETCH, (void *)addr); hp_exec(addr); break;
    }
    disarm();
    int is_load = v <= V_LDAR || v == V_LDP || v == V_LDR_PRE || v == V_LDR_POST;
    u64 ec = ESR_EC(x_esr);
    if (x_count == 0)
        why = "no exception";
    else if (x_count > 1)
        why = "more than one exception";
    else if (ec != (v == V_EXEC ? 0x21u : 0x25u))
        why = v == V_EXEC ? "EC is not 0x21 (instruction abort)" : "EC is not 0x25 (data abort)";
    else if (x_where != W_AT)
        why = "ELR_EL1 is not the faulting instruction";
    else if (x_far != addr)
        why = "FAR_EL1 is not the address";
    else if (is_load && r != MARKER)
        why = "the destination register changed";
    else if (check_base && out[1] != base_expect)
        why = "the base register was written back";
    if (bad)
        *bad = why;
    if (got)
        *got = is_load ? r : x_far;
    return x_count != 0;
}

static void run_fixed_targets(void)
{
    for (unsigned i = 0; i < sizeof(fixed_targets) / sizeof(fixed_targets[0]); i++)
        add_target(fixed_targets[i].addr, fixed_targets[i].what);
    for (int b = 0; b < nbanks; b++) {
        u64 lo = bank_base[b], hi = bank_base[b] + bank_size[b];
        if (lo >= 8) {
            add_target(lo - 8, "just below RAM");
            add_target(lo - 0x1000, "a page below RAM");
            if (lo >= 0x200000)
                add_target(lo - 0x200000, "2 MiB below RAM");
        }
        add_target(hi, "just above RAM (RAM end)");
        add_target(hi + 8, "RAM end + 8");
        add_target(hi + 0x1000, "RAM end + 4 KiB");
        add_target(hi + 0x200000, "RAM end + 2 MiB");
        add_target(hi + 0x10000000, "RAM end + 256 MiB");
        add_target(0x40000000UL + 2 * bank_size[b], "0x40000000 + 2 x RAM size");
    }
    say("(a) %d addresses outside RAM and devices x %d access kinds", ntargets, NVARIANTS);
    for (int t = 0; t < ntargets; t++) {
        u64 a = targets[t].addr;
        int nf = 0;
        u64 esr_d = 0, esr_i = 0;
        for (int v = 0; v < NVARIANTS; v++) {
            const char *bad;
            u64 got;
            a_probes++;
            if (access_variant(v, a, 0xa5a5a5a5a5a5a5a5UL ^ a, &bad, &got)) {
                a_faults++;
                nf++;
                if (v == V_EXEC)
                    esr_i = x_esr;
                else
                    esr_d = x_esr;
            }
            if (bad)
                check_failed("(a) %s 0x%lx (%s): %s (exceptions %lu, ESR_EL1 0x%lx, FAR_EL1 0x%lx, value/FAR 0x%lx)",
                             vname[v], a, targets[t].what, bad, x_count, x_esr, x_far, got);
        }
        say("(a) 0x%010lx %d/%d faulted (data ESR 0x%lx, fetch ESR 0x%lx): %s", a, nf, NVARIANTS, esr_d, esr_i,
            targets[t].what);
    }
    /* maybes: count only (data accesses only: never execute what might be there) */
    for (unsigned i = 0; i < sizeof(maybe_targets) / sizeof(maybe_targets[0]); i++) {
        u64 a = maybe_targets[i].addr;
        if (in_ram(a) || in_own_device(a))
            continue;
        int nf = 0;
        for (int v = 0; v < V_EXEC; v++) {
            a_maybe++;
            nf += access_variant(v, a, 0, NULL, NULL);
            if (x_count && ESR_EC(x_esr) != 0x25)
                check_failed("(a) %s 0x%lx (%s): EC 0x%lx", vname[v], a, maybe_targets[i].what, ESR_EC(x_esr));
        }
        a_maybe_faults += nf;
        say("(a) 0x%010lx %d/%d faulted (any outcome accepted): %s", a, nf, V_EXEC, maybe_targets[i].what);
    }
    /* dc civac outside RAM: a hypervisor may skip it or inject an abort */
    u64 dc_f = 0;
    for (int t = 0; t < ntargets; t++) {
        arm(ARM_INSN, hp_dccivac_insn);
        hp_dccivac(targets[t].addr, 0);
        disarm();
        if (x_count) {
            dc_f++;
            CHECK(ESR_EC(x_esr) == 0x25, "(a) dc civac 0x%lx: EC 0x%lx", targets[t].addr, ESR_EC(x_esr));
        }
    }
    say("(a) dc civac at the same %d addresses: %lu faulted, %lu completed (both fine)", ntargets, dc_f,
        (u64)ntargets - dc_f);
}

/* ---------------- pointers and values for calls ---------------- */
static u64 ptr_gen(void)
{
    for (;;) {
        u64 r = rndn(100), p;
        if (r < 40 && scratch_hi) {
            p = scratch_lo + (rndn(scratch_hi - scratch_lo) & ~7UL);
            if (rndn(50) == 0)
                p += 1 + rndn(7);
        } else if (r < 48 && scratch_hi) {
            p = scratch_hi - 8 * (1 + rndn(16));       /* a struct running off the end of RAM */
        } else if (r < 65 && ntargets) {
            p = targets[rndn(ntargets)].addr + (rndn(256) & ~7UL);
        } else if (r < 73) {
            static const u64 dev[] = { GICD_BASE, GICR_BASE, GICR_BASE + GICR_SGI_OFF, UART_BASE };
            p = dev[rndn(4)] + (rndn(0x1000) & ~7UL);
        } else if (r < 83) {
            p = rnd();
        } else if (r < 90) {
            p = rndn(0x1000);
        } else {
            p = 0xffff000000000000UL | rnd();
        }
        if (!in_ram(p) || in_scratch(p))
            return sanitize(p);
    }
}

static u64 half_gen(void)
{
    switch (rndn(8)) {
    case 0: case 1: return rndn(64);
    case 2: return 0x7ff0 + rndn(8);               /* DOMID_SELF and friends */
    case 3: return 0xffffffffUL - rndn(8);
    case 4: return 0;
    default: return rnd() & 0xffffffffUL;
    }
}

static u64 val_gen(void)
{
    u64 r = rndn(100), v;
    if (r < 25)
        v = rndn(64);
    else if (r < 35)
        v = (u64)-1 - rndn(64);
    else if (r < 55)
        return ptr_gen();
    else if (r < 75)
        v = rnd();
    else if (r < 85)
        v = half_gen() | half_gen() << 32;
    else
        v = 1UL << rndn(64);
    return sanitize(v);
}

static u64 fill_word(void)
{
    u64 r = rndn(10);
    if (r < 3)
        return sanitize(rnd());
    if (r < 4)
        return ptr_gen();
    return sanitize(half_gen() | half_gen() << 32);
}

static void scratch_fill(u64 lo, u64 hi)
{
    if (!scratch_hi)
        return;
    if (lo < scratch_lo)
        lo = scratch_lo;
    if (hi > scratch_hi)
        hi = scratch_hi;
    for (u64 a = lo & ~7UL; a < hi; a += 8)
        *(volatile u64 *)a = fill_word();
}

/* Fresh (sanitized) contents around a pointer argument before it is used. */
static void refresh_around(u64 p)
{
    if (in_scratch(p))
        scratch_fill(p - 64, p + 1024);
}

/* ---------------- generated instructions ---------------- */
static u64 n_reg_corrupt;

static void set_code(u32 insn)
{
    volatile u32 *c = (volatile u32 *)hx_code;
    c[0] = insn;
    c[1] = 0xd65f03c0;                   /* ret */
    dsb();
    __asm__ volatile("ic ivau, %0" : : "r"(hx_code) : "memory");
    dsb();
    isb();
}

/* Runs insn with r->x[], r->x16 loaded. Returns 1 if it raised an exception (x_esr etc.). */
static int run_insn(u32 insn, struct hx_regs *r)
{
    u64 cs[10];
    for (int i = 0; i < 10; i++)
        cs[i] = r->cs[i] = 0xc5c5000000000000UL | (u64)i << 40 | (rnd() & 0xffffffffUL);
    r->code = (u64)hx_code;
    set_code(insn);
    arm(ARM_INSN, hx_code);
    hx_run(r);
    disarm();
    for (int i = 0; i < 10; i++) {
        if (r->cs[i] != cs[i]) {
            if (!n_reg_corrupt++)
                check_failed("x%d changed across insn 0x%08x: 0x%lx -> 0x%lx", 19 + i, insn, cs[i], r->cs[i]);
            break;
        }
    }
    return x_count != 0;
}

static u32 enc_sys(u32 L, u32 op0, u32 op1, u32 crn, u32 crm, u32 op2)
{
    return 0xd5000000u | L << 21 | op0 << 19 | op1 << 16 | crn << 12 | crm << 8 | op2 << 5;   /* Rt = x0 */
}

/* ---------------- SGI values ---------------- */
static u64 sgi_sanitize(u64 v)
{
    u32 irm = (v >> 40) & 1, intid = (v >> 24) & 0xf, list = v & 0xffff;
    u32 aff1 = (v >> 16) & 0xff, aff2 = (v >> 32) & 0xff, aff3 = (v >> 48) & 0xff, rs = (v >> 44) & 0xf;
    u32 a0 = self_aff & 0xff, a1 = (self_aff >> 8) & 0xff, a2 = (self_aff >> 16) & 0xff, a3 = (self_aff >> 24) & 0xff;
    int hits_aff0 = (list >> (a0 & 15)) & 1;
    int self = !irm && aff3 == a3 && aff2 == a2 && aff1 == a1 && rs == (a0 >> 4) && hits_aff0;
    int loose_self = !irm && aff1 == a1 && hits_aff0;           /* what ignores Aff3/Aff2/RS sees */
    u32 want;
    if (self)
        want = intid >= 14 ? intid - 2 : intid;
    else if (loose_self)
        want = SGI_AFF_IGNORED;
    else
        want = (rnd() & 1) ? SGI_OTHERS_ONLY : (intid == SGI_AFF_IGNORED ? 13 : intid);
    return (v & ~(0xfUL << 24)) | (u64)want << 24;
}

static u64 sgi_gen(void)
{
    u64 v = 0;
    u32 r = rndn(100);
    v |= (u64)rndn(16) << 24;
    if (r < 25)
        v |= 1UL << 40;                                        /* IRM: all but self */
    switch (rndn(5)) {
    case 0: v |= 0xffff; break;
    case 1: v |= rnd() & 0xffff; break;
    case 2: v |= 1UL << rndn(16); break;
    default: v |= 1; break;
    }
    if (rndn(4) == 0)
        v |= (rnd() & 0xff) << 16;                             /* Aff1 */
    if (rndn(6) == 0)
        v |= (rnd() & 0xff) << 32;                             /* Aff2 */
    if (rndn(6) == 0)
        v |= (rnd() & 0xff) << 48;                             /* Aff3 */
    if (rndn(8) == 0)
        v |= (rnd() & 0xf) << 44;                              /* RS */
    if (rndn(10) == 0)
        v |= rnd() & 0xff000000f0000000UL & ~(0xfUL << 24);    /* RES0 bits */
    return sgi_sanitize(v);
}

/* ---------------- (b) vGIC ---------------- */
static u64 b_ops, b_faults;

static u64 gicd_offset(void)
{
    static const u32 banks[] = { 0x100, 0x180, 0x200, 0x280, 0x300, 0x380 };
    u32 r = rndn(100);
    if (r < 22) return banks[rndn(6)] + 4 * rndn(32);
    if (r < 30) return 0x400 + 4 * rndn(255);
    if (r < 36) {
        static const u32 b2[] = { 0x80, 0xc00, 0xd00, 0xe00 };
        u32 b = b2[rndn(4)];
        return b + 4 * rndn(b == 0xc00 || b == 0xe00 ? 64 : 32);
    }
    if (r < 50) return 0x6100 + 8 * rndn(988) + (rndn(4) == 0 ? 4 : 0);
    if (r < 54) return 0x800 + 4 * rndn(255);
    if (r < 64) { static const u32 o[] = { 0x0, 0x4, 0x8, 0xc, 0x10, 0x40, 0x48, 0x50, 0x58 }; return o[rndn(9)]; }
    if (r < 70) { static const u32 o[] = { 0xf00, 0xf10, 0xf14, 0xf18, 0xf1c, 0xf20, 0xf24, 0xf28, 0xf2c, 0xf80 }; return o[rndn(10)]; }
    if (r < 76) { static const u32 o[] = { 0x1000, 0x1200, 0x1400, 0x1600, 0x1800, 0x2000, 0x3000, 0x3400, 0x3600 }; return o[rndn(9)] + 4 * rndn(32); }
    if (r < 80) return 0x8000 + 8 * rndn(1024);
    if (r < 84) return 0xffd0 + 4 * rndn(12);
    return rndn(0x10000) & ~3UL;
}

static u64 gicr_offset(void)
{
    u32 r = rndn(100);
    if (r < 30) { static const u32 o[] = { 0x0, 0x4, 0x8, 0xc, 0x10, 0x14, 0x40, 0x48, 0x70, 0x74, 0x78, 0x7c, 0xa0, 0xb0, 0xc0 }; return o[rndn(15)]; }
    if (r < 80) {
        static const u32 o[] = { 0x080, 0x100, 0x180, 0x200, 0x280, 0x300, 0x380, 0x400, 0xc00, 0xc04, 0xd00, 0xe00 };
        u32 b = o[rndn(12)];
        return GICR_SGI_OFF + b + (b == 0x400 ? 4 * rndn(8) : 0);
    }
    if (r < 84) return 0xffd0 + 4 * rndn(12);
    return rndn(0x20000) & ~3UL;
}

static u32 gic_value(void)
{
    switch (rndn(6)) {
    case 0: case 1: return (u32)rnd();
    case 2: return 0xffffffffu;
    case 3: return 0;
    case 4: return 1u << rndn(32);
    default: return (u32)rndn(256);
    }
}

/* Byte lanes of a write at addr..addr+len-1: track enables, keep SGIs 14/15 from being made
 * pending on vCPU 0, and keep LPI table addresses (PROPBASER/PENDBASER) away from our RAM. */
static void gic_write_filter(u64 addr, u8 *bytes, int len)
{
    for (int k = 0; k < len; k++) {
        u64 a = addr + k;
        u8 *b = &bytes[k];
        if (a >= GICD_BASE && a < GICD_BASE + 0x10000) {
            u64 o = a - GICD_BASE;
            if (o >= 0x100 && o < 0x180)
                for (int j = 0; j < 8; j++)
                    if ((*b >> j) & 1)
                        mark_enabled((u32)((o - 0x100) * 8 + j));
            if (o >= 0x1200 && o < 0x1280)
                for (int j = 0; j < 8; j++)
                    if ((*b >> j) & 1)
                        mark_enabled((u32)(4096 + (o - 0x1200) * 8 + j));
            if (o == 0x201)                         /* GICD_ISPENDR0 bits 14, 15 (Xen banks it) */
                *b &= 0x3f;
            if (o == 0x400 || o == 0x41b)           /* priorities of the health-probe INTIDs 0, 27 */
                *b = 0x80;
            if (o == 0xf2e || o == 0xf2f)          /* GICD_SPENDSGIR: SGIs 14, 15 */
                *b = 0;
            if (o == 0xf00 && (*b & 0xf) >= 14)    /* GICD_SGIR INTID */
                *b = (*b & 0xf0) | 13;
        } else if (a >= GICR_BASE && a < GICR_BASE + 0x1000000) {
            u64 fo = (a - GICR_BASE) % GICR_STRIDE;
            if (fo >= GICR_SGI_OFF + 0x100 && fo < GICR_SGI_OFF + 0x180)
                for (int j = 0; j < 8; j++)
                    if ((*b >> j) & 1)
                        mark_enabled((u32)((fo - GICR_SGI_OFF - 0x100) * 8 + j));
            if (a == rd0 + GICR_SGI_OFF + 0x201)   /* own GICR_ISPENDR0 bits 14, 15 */
                *b &= 0x3f;
            if (a == rd0 + GICR_SGI_OFF + 0x400 || a == rd0 + GICR_SGI_OFF + 0x41b)
                *b = 0x80;                          /* priorities of the health-probe INTIDs 0, 27 */
            if (fo >= 0x70 && fo < 0x80) {         /* PROPBASER / PENDBASER: address bits 12..55 */
                u32 bi = fo & 7;
                u64 safe = 0x7f00000000UL | (u64)rndn(0x100) << 16;
                if (bi >= 1 && bi <= 6)
                    *b = (u8)(safe >> (8 * bi));
            }
        }
    }
}

enum { A_R8, A_R16, A_R32, A_R64, A_W8, A_W16, A_W32, A_W64, A_LDP, A_STP };

static int mmio_attack(u64 addr, int kind, u64 val)
{
    int len = kind == A_R8 || kind == A_W8 ? 1 : kind == A_R16 || kind == A_W16 ? 2 :
              kind == A_R32 || kind == A_W32 ? 4 : kind == A_R64 || kind == A_W64 ? 8 : 16;
    addr &= ~(u64)((len > 8 ? 8 : len) - 1);
    u64 out[2];
    if (kind >= A_W8 && kind != A_LDP) {
        u8 bytes[8], again[8];
        int n = len > 8 ? 8 : len;
        for (int k = 0; k < 8; k++)
            bytes[k] = (u8)(val >> (8 * k));
        gic_write_filter(addr, bytes, n);
        if (kind == A_STP) {             /* the same register goes to addr + 8 as well */
            for (int k = 0; k < 8; k++)
                again[k] = bytes[k];
            gic_write_filter(addr + 8, again, 8);
            for (int k = 0; k < 8; k++)
                if (again[k] != bytes[k])
                    for (int j = 0; j < 8; j++)
                        bytes[j] = 0;    /* conflicting filters: write zeros (harmless everywhere) */
        }
        val = 0;
        for (int k = 0; k < n; k++)
            val |= (u64)bytes[k] << (8 * k);
    }
    switch (kind) {
    case A_R8: arm(ARM_INSN, hp_ldrb_insn); hp_ldrb(addr, 0); break;
    case A_R16: arm(ARM_INSN, hp_ldrh_insn); hp_ldrh(addr, 0); break;
    case A_R32: arm(ARM_INSN, hp_ldrw_insn); hp_ldrw(addr, 0); break;
    case A_R64: arm(ARM_INSN, hp_ldrx_insn); hp_ldrx(addr, 0); break;
    case A_W8: arm(ARM_INSN, hp_strb_insn); hp_strb(addr, val); break;
    case A_W16: arm(ARM_INSN, hp_strh_insn); hp_strh(addr, val); break;
    case A_W32: arm(ARM_INSN, hp_strw_insn); hp_strw(addr, val); break;
    case A_W64: arm(ARM_INSN, hp_strx_insn); hp_strx(addr, val); break;
    case A_LDP: arm(ARM_INSN, hp_ldp_insn); hp_ldp(addr, 0, out); break;
    case A_STP: arm(ARM_INSN, hp_stp_insn); hp_stp(addr, val); break;
    }
    disarm();
    if (x_count && ESR_EC(x_esr) != 0x25)
        check_failed("(b) access kind %d at 0x%lx: EC 0x%lx, expected a data abort (0x25) or none", kind, addr,
                     ESR_EC(x_esr));
    return x_count != 0;
}

static void op_gic(void)
{
    u64 base, off;
    u32 r = rndn(100);
    if (r < 55) {
        base = GICD_BASE;
        off = gicd_offset();
    } else if (r < 75) {
        base = rd0;
        off = gicr_offset();
    } else if (r < 93) {
        base = GICR_BASE + rndn(128) * GICR_STRIDE;           /* mostly frames of absent vCPUs */
        off = gicr_offset();
    } else if (r < 97) {
        base = GICD_BASE + 0x10000;                            /* between vGICD and vGICR */
        off = rndn(0xf000) & ~3UL;
    } else {
        base = GICR_BASE + 0x1000000;                          /* past the vGICR region */
        off = rndn(0x40000) & ~3UL;
    }
    u32 k = rndn(100);
    int kind = k < 60 ? A_W32 : k < 75 ? A_R32 : k < 78 ? A_W8 : k < 80 ? A_W16 : k < 82 ? A_R8 : k < 84 ? A_R16 :
               k < 90 ? A_W64 : k < 94 ? A_R64 : k < 97 ? A_STP : A_LDP;
    u64 val = (kind == A_W64 || kind == A_STP) ? ((rndn(3) == 0) ? rnd() : (u64)gic_value() | (u64)gic_value() << 32)
                                                : gic_value();
    if (base == GICD_BASE && off >= 0x6100 && off < 0x8000) {
        if (rndn(3) == 0)
            val = rndn(MAXCPU) | (rndn(2) << 31);             /* IROUTER: a real vCPU or IRM */
    }
    b_ops++;
    b_faults += mmio_attack(base + off, kind, val);
}

/* ---------------- (c) system registers ---------------- */
enum { F_R = 1, F_W = 2, F_UNDEF = 4, F_SGI = 8, F_PTR = 16, F_TIMER = 32 };
struct sreg { u8 op0, op1, crn, crm, op2, flags; char name[28]; };
#define RW (F_R | F_W)
static const struct sreg sregs[] = {
    /* debug (trapped: MDCR_EL2.TDA/TDOSA/TDRA) */
    { 2, 0, 0, 0, 4, RW, "DBGBVR0_EL1" }, { 2, 0, 0, 1, 4, RW, "DBGBVR1_EL1" }, { 2, 0, 0, 5, 4, RW, "DBGBVR5_EL1" },
    { 2, 0, 0, 15, 4, RW, "DBGBVR15_EL1" }, { 2, 0, 0, 0, 5, RW, "DBGBCR0_EL1" }, { 2, 0, 0, 1, 5, RW, "DBGBCR1_EL1" },
    { 2, 0, 0, 0, 6, RW, "DBGWVR0_EL1" }, { 2, 0, 0, 0, 7, RW, "DBGWCR0_EL1" }, { 2, 0, 0, 3, 7, RW, "DBGWCR3_EL1" },
    { 2, 0, 0, 2, 2, RW, "MDSCR_EL1" }, { 2, 0, 0, 2, 0, RW, "MDCCINT_EL1" }, { 2, 0, 1, 0, 4, F_W, "OSLAR_EL1" },
    { 2, 0, 1, 1, 4, F_R, "OSLSR_EL1" }, { 2, 0, 1, 3, 4, RW, "OSDLR_EL1" }, { 2, 0, 1, 4, 4, RW, "DBGPRCR_EL1" },
    { 2, 0, 7, 8, 6, RW, "DBGCLAIMSET_EL1" }, { 2, 0, 7, 9, 6, RW, "DBGCLAIMCLR_EL1" },
    { 2, 0, 7, 14, 6, F_R, "DBGAUTHSTATUS_EL1" }, { 2, 0, 1, 0, 0, F_R, "MDRAR_EL1" }, { 2, 3, 0, 1, 0, F_R, "MDCCSR_EL0" },
    { 2, 3, 0, 4, 0, RW, "DBGDTR_EL0" }, { 2, 3, 0, 5, 0, RW, "DBGDTRTX_EL0" }, { 2, 0, 0, 0, 2, RW, "OSDTRRX_EL1" },
    /* PMU (trapped: MDCR_EL2.TPM/TPMCR) */
    { 3, 3, 9, 12, 0, RW, "PMCR_EL0" }, { 3, 3, 9, 12, 1, RW, "PMCNTENSET_EL0" }, { 3, 3, 9, 12, 2, RW, "PMCNTENCLR_EL0" },
    { 3, 3, 9, 12, 3, RW, "PMOVSCLR_EL0" }, { 3, 3, 9, 12, 4, F_W, "PMSWINC_EL0" }, { 3, 3, 9, 12, 5, RW, "PMSELR_EL0" },
    { 3, 3, 9, 12, 6, F_R, "PMCEID0_EL0" }, { 3, 3, 9, 12, 7, F_R, "PMCEID1_EL0" }, { 3, 3, 9, 13, 0, RW, "PMCCNTR_EL0" },
    { 3, 3, 9, 13, 1, RW, "PMXEVTYPER_EL0" }, { 3, 3, 9, 13, 2, RW, "PMXEVCNTR_EL0" }, { 3, 3, 9, 14, 0, RW, "PMUSERENR_EL0" },
    { 3, 3, 9, 14, 3, RW, "PMOVSSET_EL0" }, { 3, 0, 9, 14, 1, RW, "PMINTENSET_EL1" }, { 3, 0, 9, 14, 2, RW, "PMINTENCLR_EL1" },
    { 3, 3, 14, 8, 0, RW, "PMEVCNTR0_EL0" }, { 3, 3, 14, 12, 0, RW, "PMEVTYPER0_EL0" }, { 3, 3, 14, 15, 7, RW, "PMCCFILTR_EL0" },
    /* GICv3 SGI generation (ICC_SGI1R_EL1 is trapped by Xen) */
    { 3, 0, 12, 11, 5, RW | F_SGI, "ICC_SGI1R_EL1" }, { 3, 0, 12, 11, 6, RW | F_SGI, "ICC_ASGI1R_EL1" },
    { 3, 0, 12, 11, 7, RW | F_SGI, "ICC_SGI0R_EL1" },
    /* timers: EL1 physical timer is trapped by Xen; secure physical timer is not for us */
    { 3, 3, 14, 2, 1, RW | F_TIMER, "CNTP_CTL_EL0" }, { 3, 3, 14, 2, 2, RW | F_TIMER, "CNTP_CVAL_EL0" },
    { 3, 3, 14, 2, 0, RW | F_TIMER, "CNTP_TVAL_EL0" }, { 3, 3, 14, 0, 1, F_R, "CNTPCT_EL0" },
    { 3, 7, 14, 2, 1, RW, "CNTPS_CTL_EL1" }, { 3, 7, 14, 2, 2, RW, "CNTPS_CVAL_EL1" }, { 3, 7, 14, 2, 0, RW, "CNTPS_TVAL_EL1" },
    { 3, 3, 14, 3, 1, RW | F_TIMER, "CNTV_CTL_EL0" }, { 3, 3, 14, 3, 2, RW | F_TIMER, "CNTV_CVAL_EL0" },
    { 3, 3, 14, 3, 0, RW | F_TIMER, "CNTV_TVAL_EL0" }, { 3, 0, 14, 1, 0, RW, "CNTKCTL_EL1" }, { 3, 3, 14, 0, 0, F_W, "CNTFRQ_EL0" },
    /* implementation defined / ID (trapped: HCR_EL2.TIDCP/TACR/TID3) */
    { 3, 0, 1, 0, 1, F_R, "ACTLR_EL1" }, { 3, 1, 15, 2, 0, RW, "S3_1_C15_C2_0 (CPUACTLR)" },
    { 3, 1, 15, 2, 1, RW, "S3_1_C15_C2_1 (CPUECTLR)" }, { 3, 1, 11, 0, 2, RW, "S3_1_C11_C0_2 (L2CTLR)" },
    { 3, 1, 11, 0, 3, RW, "S3_1_C11_C0_3 (L2ECTLR)" }, { 3, 0, 15, 0, 0, RW, "S3_0_C15_C0_0" },
    { 3, 0, 0, 4, 0, RW, "ID_AA64PFR0_EL1" }, { 3, 0, 0, 7, 0, RW, "ID_AA64MMFR0_EL1" }, { 3, 0, 0, 0, 5, RW, "MPIDR_EL1" },
    { 3, 0, 10, 4, 3, RW, "LORC_EL1" }, { 3, 0, 5, 3, 0, RW, "ERRIDR_EL1" },
    /* cache maintenance by set/way (trapped: HCR_EL2.TSW) and by VA */
    { 1, 0, 7, 6, 2, F_W, "DC ISW" }, { 1, 0, 7, 10, 2, F_W, "DC CSW" }, { 1, 0, 7, 14, 2, F_W, "DC CISW" },
    { 1, 0, 7, 6, 1, F_W | F_PTR, "DC IVAC" }, { 1, 3, 7, 10, 1, F_W | F_PTR, "DC CVAC" }, { 1, 3, 7, 14, 1, F_W | F_PTR, "DC CIVAC" },
    { 1, 3, 7, 11, 1, F_W | F_PTR, "DC CVAU" }, { 1, 3, 7, 5, 1, F_W | F_PTR, "IC IVAU" }, { 1, 3, 7, 4, 1, F_W | F_PTR, "DC ZVA" },
    { 1, 0, 7, 8, 0, F_W | F_PTR, "AT S1E1R" }, { 1, 0, 7, 8, 3, F_W | F_PTR, "AT S1E0W" }, { 1, 0, 8, 3, 0, F_W, "TLBI VMALLE1IS" },
    { 1, 0, 8, 3, 1, F_W | F_PTR, "TLBI VAE1IS" }, { 1, 0, 7, 1, 0, F_W, "IC IALLUIS" },
    /* EL2 / EL12 / EL3: UNDEFINED at EL1 */
    { 3, 4, 1, 1, 0, RW | F_UNDEF, "HCR_EL2" }, { 3, 4, 2, 1, 0, RW | F_UNDEF, "VTTBR_EL2" },
    { 3, 4, 2, 1, 2, RW | F_UNDEF, "VTCR_EL2" }, { 3, 4, 12, 0, 0, RW | F_UNDEF, "VBAR_EL2" },
    { 3, 4, 1, 0, 0, RW | F_UNDEF, "SCTLR_EL2" }, { 3, 4, 2, 0, 0, RW | F_UNDEF, "TTBR0_EL2" },
    { 3, 4, 4, 0, 1, RW | F_UNDEF, "ELR_EL2" }, { 3, 4, 4, 0, 0, RW | F_UNDEF, "SPSR_EL2" },
    { 3, 4, 5, 2, 0, RW | F_UNDEF, "ESR_EL2" }, { 3, 4, 6, 0, 0, RW | F_UNDEF, "FAR_EL2" },
    { 3, 4, 13, 0, 2, RW | F_UNDEF, "TPIDR_EL2" }, { 3, 4, 14, 1, 0, RW | F_UNDEF, "CNTHCTL_EL2" },
    { 3, 4, 14, 0, 3, RW | F_UNDEF, "CNTVOFF_EL2" }, { 3, 4, 14, 2, 1, RW | F_UNDEF, "CNTHP_CTL_EL2" },
    { 3, 4, 12, 11, 0, RW | F_UNDEF, "ICH_HCR_EL2" }, { 3, 4, 12, 11, 7, RW | F_UNDEF, "ICH_VMCR_EL2" },
    { 3, 4, 12, 12, 0, RW | F_UNDEF, "ICH_LR0_EL2" }, { 3, 4, 12, 9, 5, RW | F_UNDEF, "ICC_SRE_EL2" },
    { 3, 4, 1, 1, 1, RW | F_UNDEF, "MDCR_EL2" }, { 3, 4, 1, 1, 2, RW | F_UNDEF, "CPTR_EL2" },
    { 3, 4, 1, 1, 3, RW | F_UNDEF, "HSTR_EL2" }, { 3, 4, 0, 0, 5, RW | F_UNDEF, "VMPIDR_EL2" },
    { 3, 4, 0, 0, 0, RW | F_UNDEF, "VPIDR_EL2" }, { 3, 4, 4, 1, 0, RW | F_UNDEF, "SP_EL1" },
    { 3, 6, 1, 1, 0, RW | F_UNDEF, "SCR_EL3" }, { 3, 6, 12, 0, 0, RW | F_UNDEF, "VBAR_EL3" },
    { 3, 6, 1, 0, 0, RW | F_UNDEF, "SCTLR_EL3" }, { 3, 6, 4, 1, 0, RW | F_UNDEF, "SP_EL2" },
    { 2, 4, 0, 7, 0, RW | F_UNDEF, "DBGVCR32_EL2" }, { 3, 5, 1, 0, 0, RW | F_UNDEF, "SCTLR_EL12" },
    { 3, 5, 14, 3, 1, RW | F_UNDEF, "CNTV_CTL_EL02" },
    { 1, 4, 7, 8, 0, F_W | F_UNDEF, "AT S1E2R" }, { 1, 4, 7, 8, 4, F_W | F_UNDEF, "AT S12E1R" },
    { 1, 4, 8, 7, 0, F_W | F_UNDEF, "TLBI ALLE2" }, { 1, 4, 8, 7, 6, F_W | F_UNDEF, "TLBI VMALLS12E1" },
    { 1, 4, 8, 0, 1, F_W | F_UNDEF, "TLBI IPAS2E1IS" }, { 1, 6, 8, 7, 0, F_W | F_UNDEF, "TLBI ALLE3" },
};
#define NSREGS (sizeof(sregs) / sizeof(sregs[0]))

/* Encodings the guest must not write (or touch) because they would stop it legitimately. */
static int denied(u32 L, u32 op0, u32 op1, u32 crn, u32 crm, u32 op2)
{
    if (op0 != 3 || op1 != 0) {
        if (op0 == 3 && op1 == 3 && crn == 4 && crm == 2 && op2 == 1 && !L)
            return 1;                                   /* DAIF */
        return 0;
    }
    if (crn == 1 && crm == 0 && op2 <= 1 && !L)
        return 1;                                       /* SCTLR_EL1, ACTLR_EL1 */
    if (crn == 12 && crm == 0 && (op2 == 0 || op2 == 2) && !L)
        return 1;                                       /* VBAR_EL1, RMR_EL1 */
    if (crn == 4 && crm == 2 && op2 == 0 && !L)
        return 1;                                       /* SPSel */
    if (crn == 4 && crm == 3 && op2 == 0 && !L)
        return 1;                                       /* ALLINT */
    if (crn == 4 && crm == 6 && op2 == 0)
        return 1;                                       /* ICC_PMR_EL1 */
    if (crn == 12 && (crm == 8 || crm == 9 || crm == 11 || crm == 12))
        return !(crm == 11 && op2 >= 5);                /* ICC_*: only SGI generation */
    return 0;
}

static u64 c_ops, c_fixed, c_random, c_undef, c_other, c_strict;
static u64 d_undef_ec[2];

static u64 msr_value(void)
{
    switch (rndn(5)) {
    case 0: return 0;
    case 1: return ~0UL;
    case 2: case 3: return rnd();
    default: return ptr_gen();
    }
}

static void exec_sysreg(u32 L, u32 op0, u32 op1, u32 crn, u32 crm, u32 op2, u32 flags, const char *name)
{
    struct hx_regs r;
    memset(&r, 0, sizeof(r));
    u64 v = msr_value();
    if (flags & F_PTR)
        v = ptr_gen();
    if (flags & F_TIMER) {
        u32 t = rndn(3);
        v = t == 0 ? rndn(8) : t == 1 ? cntvct() + rndn(ms_to_ticks(2)) : rnd();
    }
    if (op0 == 3 && op1 == 0 && crn == 12 && crm == 11 && op2 >= 5)
        v = rndn(2) ? sgi_gen() : sgi_sanitize(v);
    r.x[0] = v;
    int exc = run_insn(enc_sys(L, op0, op1, crn, crm, op2), &r);
    u64 ec = ESR_EC(x_esr);
    int must_undef = (flags & F_UNDEF) || (op1 >= 4 && op1 <= 6);
    if (exc) {
        if (ec == 0)
            c_undef++;
        else
            c_other++;
    }
    if (must_undef) {
        c_strict++;
        if (!exc || ec != 0)
            check_failed("(c) %s %s S%u_%u_C%u_C%u_%u (%s): %s%s", L ? "mrs" : "msr", L ? "from" : "to", op0, op1,
                         crn, crm, op2, name ? name : "random", exc ? "EC is not 0x0, ESR_EL1 " : "no exception",
                         exc ? "" : " (an EL2/EL3 register is accessible from EL1)");
    }
    if (exc && ec != 0 && ec != 0x25 && ec != 0x07 && ec != 0x21)
        check_failed("(c) %s S%u_%u_C%u_C%u_%u (%s): unexpected EC 0x%lx", L ? "mrs" : "msr", op0, op1, crn, crm, op2,
                     name ? name : "random", ec);
    if (exc && ec == 0 && x_where == W_AFTER)
        check_failed("(c) S%u_%u_C%u_C%u_%u: undefined exception with ELR after the instruction", op0, op1, crn, crm, op2);
}

static void op_sysreg(void)
{
    c_ops++;
    if (rndn(100) < 45) {
        const struct sreg *s = &sregs[rndn(NSREGS)];
        u32 L = (s->flags & RW) == RW ? (u32)rndn(2) : (s->flags & F_R) ? 1 : 0;
        if (denied(L, s->op0, s->op1, s->crn, s->crm, s->op2))
            return;
        c_fixed++;
        exec_sysreg(L, s->op0, s->op1, s->crn, s->crm, s->op2, s->flags, s->name);
    } else {
        u32 op0, op1, crn, crm, op2, L;
        do {
            op0 = 1 + rndn(3);
            op1 = rndn(8);
            crn = rndn(16);
            crm = rndn(16);
            op2 = rndn(8);
            L = rndn(2);
        } while (denied(L, op0, op1, crn, crm, op2));
        c_random++;
        exec_sysreg(L, op0, op1, crn, crm, op2, op0 == 1 ? F_PTR : 0, NULL);
    }
}

/* ---------------- (d) SMCCC and hypercalls ---------------- */
static u64 d_ops, d_hvc0, d_smc0, d_xen, d_imm, d_undef, d_neg;

static int psci_safe(u32 n)
{
    switch (n) {
    case 0x0: case 0x3: case 0x4: case 0x5: case 0x6: case 0x7: case 0xa: case 0xd: case 0xf: case 0x10: case 0x11:
    case 0x14:
        return 1;
    default:
        return 0;
    }
}

static int fid_dangerous(u64 x0)
{
    u32 f = (u32)x0;
    if (f <= 3)
        return 1;                                     /* PSCI 0.1 ids (Xen: 1 = CPU_OFF, 2 = CPU_ON) */
    if ((f & 0xbfffffe0u) == 0x84000000u)
        return !psci_safe(f & 0x1f);                  /* PSCI 0.2+ */
    return 0;
}

static u64 smccc_fid(void)
{
    static const u32 known[] = {
        0x80000000, 0x80000001, 0x80000002, 0x80008000, 0x80007fff, 0x80003fff, 0x84000000, 0x84000004,
        0xc4000004, 0x84000006, 0x84000007, 0xc4000007, 0x8400000a, 0x8400000d, 0xc400000d, 0x8400000f,
        0x84000010, 0xc4000010, 0x84000011, 0xc4000011, 0x84000014, 0xc4000014, 0x84000005, 0xc4000005,
        0x84000003, 0xc4000003, 0x84000050, 0x84000051, 0x84000052, 0xc4000053, 0x8400ff00, 0x8400ff01,
        0x8400ff03, 0x8600ff00, 0x8600ff01, 0x8600ff03, 0xc600ff01, 0x82000000, 0x82000001, 0xc2000001,
        0x83000000, 0xb2000000, 0xb200ff01, 0xbf00ff01, 0xbf00ff03, 0x8500ff00, 0xc5000001,
    };
    u64 r = rndn(100), f;
    if (r < 30) {
        f = 0x80000000u | rndn(2) << 30 | rndn(64) << 24 | rndn(0x10000);
        if (rndn(10) == 0)
            f |= (rnd() & 0xff) << 16;
    } else if (r < 55) {
        f = known[rndn(sizeof(known) / sizeof(known[0]))];
    } else if (r < 70) {
        f = rnd();
    } else if (r < 85) {
        f = rnd() & 0xffffffffUL;
    } else {
        f = rndn(0x200);
    }
    if (rndn(2))
        f |= rnd() & 0xffffffff00000000UL;           /* SMC32: upper half must be ignored */
    return f;
}

static void fill_smccc_args(struct hx_regs *r)
{
    do {
        r->x[0] = smccc_fid();
    } while (fid_dangerous(r->x[0]));
    for (int i = 1; i < 8; i++)
        r->x[i] = rndn(3) == 0 ? rndn(4) : val_gen();   /* small: vCPU ids, feature ids */
    if (rndn(4) == 0)
        r->x[1] = smccc_fid();                          /* SMCCC_ARCH_FEATURES / PSCI_FEATURES(id) */
    r->x16 = rnd() | 1UL << 40;
}

static const u32 xen_hypercalls[] = { 7, 12, 13, 17, 18, 20, 21, 24, 27, 29, 32, 33, 34, 35, 36, 38, 39, 41, 42 };

static void xen_filter(u64 nr, u64 *a)
{
    u32 cmd = (u32)a[0];
    if ((nr == 29 || nr == 6) && cmd >= 1 && cmd <= 7)
        a[0] = 0;                                     /* SCHEDOP_yield instead of block/shutdown/poll/... */
    if (nr == 24 && cmd <= 2)
        a[0] = 3;                                     /* VCPUOP_is_up instead of initialise/up/down */
    if (nr == 18)
        a[1] = rndn(64);                              /* console_io: short */
}

static u64 xen_nr(void)
{
    u32 r = rndn(100);
    if (r < 75)
        return xen_hypercalls[rndn(sizeof(xen_hypercalls) / sizeof(xen_hypercalls[0]))];
    if (r < 95)
        return rndn(64);
    return rnd();
}

/* multicall: a small array of filtered entries in the scratch area (op, result, args[6]) */
static u64 build_multicall(u32 n)
{
    u64 e[4][8];
    if (!scratch_hi || n == 0 || n > 4)
        return ptr_gen();
    u64 bytes = n * 64UL;
    u64 p = scratch_lo + (rndn((scratch_hi - scratch_lo - bytes) / 8) * 8);
    for (u32 i = 0; i < n; i++) {
        u64 nr;
        do {
            nr = xen_nr();
        } while (nr == 13);                         /* no nesting */
        e[i][0] = nr;
        e[i][1] = 0;
        e[i][2] = rndn(2) ? rndn(32) : val_gen();
        for (int k = 3; k < 8; k++)
            e[i][k] = rndn(2) ? ptr_gen() : val_gen();
        xen_filter(nr, &e[i][2]);
        for (int k = 3; k < 8; k++)
            refresh_around(e[i][k]);
    }
    /* written last: the refreshes above may have overwritten this area */
    for (u32 i = 0; i < n; i++)
        for (int k = 0; k < 8; k++)
            *(volatile u64 *)(p + i * 64UL + k * 8UL) = e[i][k];
    return p;
}

static void fill_xen_args(struct hx_regs *r)
{
    u64 nr = xen_nr(), a[6];
    a[0] = rndn(2) ? rndn(48) : val_gen();
    for (int k = 1; k < 6; k++)
        a[k] = rndn(2) ? ptr_gen() : val_gen();
    if (nr == 13) {                                  /* multicall(entries, count) */
        u32 n = rndn(5);
        a[0] = build_multicall(n);
        a[1] = rndn(8) == 0 ? rndn(64) + n : n;      /* sometimes more entries than built */
        if (a[1] > n)
            a[1] = n;                                /* ...but never unfiltered ones */
    } else {
        xen_filter(nr, a);
        for (int k = 0; k < 6; k++)
            refresh_around(a[k]);
    }
    for (int k = 0; k < 6; k++)
        r->x[k] = a[k];
    r->x[6] = val_gen();
    r->x[7] = val_gen();
    r->x16 = nr;
}

static void op_call(void)
{
    struct hx_regs r;
    memset(&r, 0, sizeof(r));
    u32 kind = rndn(100), insn;
    d_ops++;
    if (kind < 30) {
        fill_smccc_args(&r);
        insn = 0xd4000002;                            /* hvc #0 */
        d_hvc0++;
    } else if (kind < 45) {
        fill_smccc_args(&r);
        insn = 0xd4000003;                            /* smc #0 */
        d_smc0++;
    } else if (kind < 90) {
        fill_xen_args(&r);
        insn = 0xd4000002 | 0xea1 << 5;               /* hvc #0xEA1 */
        d_xen++;
    } else {
        fill_smccc_args(&r);
        u32 imm;
        int smc = rndn(3) == 0;
        do {
            imm = rndn(0x10000);
        } while (imm == 0 || (!smc && imm == 0xea1));
        insn = (smc ? 0xd4000003 : 0xd4000002) | imm << 5;
        d_imm++;
    }
    if (run_insn(insn, &r)) {
        u64 ec = ESR_EC(x_esr);
        if (ec != 0)
            check_failed("(d) insn 0x%08x x0=0x%lx x16=0x%lx: EC 0x%lx (expected a return or EC 0x0)", insn, r.x[0],
                         r.x16, ec);
        d_undef++;
        d_undef_ec[x_where == W_AFTER]++;
    } else if ((s64)r.x[0] < 0) {
        d_neg++;
    }
}

/* ---------------- (f) Xen-ABI-shaped hypercalls ---------------- */
static u64 f_ops, f_struct, f_undef, f_neg, f_zero;

/* A 16-bit field of a hypercall argument: domain ids (DOMID_SELF and friends, 0-3), ports,
 * vCPU ids, VIRQs, counts, flags. */
static u64 abi_half(void)
{
    switch (rndn(10)) {
    case 0: case 1: return 0x7ff0;                   /* DOMID_SELF */
    case 2: return 0x7ff0 + rndn(8);                 /* DOMID_IO, _XEN, _COW, _INVALID, ... */
    case 3: case 4: return rndn(4);                  /* dom0..3: ourselves or the neighbour */
    case 5: return rndn(16);                         /* ports, VIRQs, vCPUs, commands */
    case 6: return 0;
    case 7: return 1u << rndn(16);
    case 8: return rndn(4096);                       /* any 2-level port */
    default: return rnd() & 0xffff;
    }
}

/* A guest frame number outside our RAM (Xen's grant-table and magic-page windows, holes,
 * above RAM); sanitize() keeps it off our RAM and devices. */
static u64 abi_gfn(void)
{
    switch (rndn(6)) {
    case 0: return sanitize(0x38000 + rndn(4096));
    case 1: return sanitize(0x39000 + rndn(16));
    case 2: return sanitize(rndn(0x3000));
    case 3: return sanitize(((bank_base[0] + bank_size[0]) >> 12) + rndn(0x1000));
    case 4: return sanitize(0x800000 + rndn(0x100000));
    default: return sanitize(rnd() & 0xfffffffffUL);
    }
}

static u64 abi_word(void)
{
    switch (rndn(10)) {
    case 0: case 1: case 2: case 3:
        return sanitize(abi_half() | abi_half() << 16 | abi_half() << 32 | abi_half() << 48);
    case 4: case 5:
        return sanitize(abi_half() | abi_half() << 32);
    case 6:
        return ptr_gen();
    case 7: case 8:
        return abi_gfn();
    default:
        return fill_word();
    }
}

/* An argument structure (256 bytes of ABI-shaped words) in the scratch area; returns its
 * address (or an ordinary hostile pointer if there is no scratch area). */
static u64 abi_struct(void)
{
    if (!scratch_hi || scratch_hi - scratch_lo < 512)
        return ptr_gen();
    u64 p = scratch_lo + rndn((scratch_hi - scratch_lo - 256) / 8) * 8;
    for (int k = 0; k < 32; k++)
        *(volatile u64 *)(p + 8 * k) = abi_word();
    f_struct++;
    return p;
}

/* Mostly a valid sub-command of hypercall nr. */
static u64 abi_cmd(u64 nr)
{
    switch (nr) {
    case 12: return rndn(30);          /* memory_op: XENMEM_* */
    case 17: return rndn(16);          /* xen_version: XENVER_* */
    case 20: return rndn(14);          /* grant_table_op: GNTTABOP_* */
    case 24: return rndn(16);          /* vcpu_op: VCPUOP_* */
    case 29: return rndn(16);          /* sched_op (filtered below) */
    case 32: return rndn(16);          /* event_channel_op: EVTCHNOP_* */
    case 33: return rndn(32);          /* physdev_op */
    case 34: return rndn(8);           /* hvm_op: set/get_param, ... */
    default: return rndn(64);
    }
}

static void op_xen_abi(void)
{
    struct hx_regs r;
    memset(&r, 0, sizeof(r));
    u64 nr = rndn(64), a[6];
    f_ops++;
    if (nr == 13) {                                  /* multicall(entries, count), as in (d) */
        u32 n = rndn(5);
        a[0] = build_multicall(n);
        a[1] = n;
        for (int k = 2; k < 6; k++)
            a[k] = val_gen();
    } else {
        a[0] = rndn(5) ? abi_cmd(nr) : val_gen();
        a[1] = rndn(4) ? abi_struct() : rndn(2) ? ptr_gen() : val_gen();
        if (nr == 24)                                /* vcpu_op(cmd, vcpuid, arg) */
            a[1] = rndn(4) ? rndn(4) : val_gen();
        switch (rndn(4)) {                           /* grant_table_op(cmd, uop, count), ... */
        case 0: a[2] = 1 + rndn(4); break;
        case 1: a[2] = abi_struct(); break;
        case 2: a[2] = ptr_gen(); break;
        default: a[2] = val_gen();
        }
        a[3] = rndn(2) ? abi_struct() : val_gen();
        a[4] = rndn(2) ? ptr_gen() : val_gen();
        a[5] = val_gen();
        xen_filter(nr, a);
    }
    for (int k = 0; k < 6; k++)
        r.x[k] = a[k];
    r.x[6] = val_gen();
    r.x[7] = val_gen();
    r.x16 = nr;
    u32 insn = 0xd4000002 | 0xea1 << 5;               /* hvc #0xEA1 */
    if (run_insn(insn, &r)) {
        u64 ec = ESR_EC(x_esr);
        if (ec != 0)
            check_failed("(f) hypercall %lu x0=0x%lx x1=0x%lx: EC 0x%lx (expected a return or EC 0x0)", nr, a[0],
                         a[1], ec);
        f_undef++;
    } else if ((s64)r.x[0] < 0) {
        f_neg++;
    } else if (r.x[0] == 0) {
        f_zero++;
    }
}

/* ---------------- (e) SGI floods ---------------- */
static u64 e_ops, e_sgis, e_self;

static int sgi_is_self(u64 v)
{
    u32 a0 = self_aff & 0xff;
    return !((v >> 40) & 1) && ((v >> 16) & 0xff) == ((self_aff >> 8) & 0xff) &&
           ((v >> 32) & 0xff) == ((self_aff >> 16) & 0xff) && ((v >> 48) & 0xff) == ((self_aff >> 24) & 0xff) &&
           ((v >> 44) & 0xf) == (a0 >> 4) && ((v >> (a0 & 15)) & 1);
}

static void op_sgi(void)
{
    u32 n = 1 + rndn(32);
    int masked = rndn(2);
    e_ops++;
    if (masked)
        irq_disable();
    for (u32 i = 0; i < n; i++) {
        u64 v = sgi_gen();
        e_self += sgi_is_self(v);
        write_sysreg(icc_sgi1r_el1, v);
    }
    isb();
    e_sgis += n;
    irq_enable();
    isb();
}

static void send_self_sgi(u32 intid);

/* ---------------- health probe: does our own GIC still work? ---------------- */
static u64 probes_ok;

static void health_probe(const char *when)
{
    irq_disable();
    write_sysreg(cntp_ctl_el0, 0);
    write_sysreg(cntv_ctl_el0, 0);
    gicd_enable();
    gicr_wake(rd0);
    mmio_write32(rd0 + GICR_SGI_OFF + 0x380, 0xffffffffu);          /* GICR_ICACTIVER0 */
    gic_enable_ppi_sgi(rd0, 0, 0x80);
    gic_enable_ppi_sgi(rd0, 27, 0x80);
    mark_enabled(0);
    mark_enabled(27);
    gic_cpu_if_init();
    u64 s0 = sgi_taken0[0], t0 = irq_vtimer;
    send_self_sgi(0);
    op_irqs = 0;
    irq_enable();
    u64 deadline = cntvct() + ms_to_ticks(1000);
    while (rd64(&sgi_taken0[0]) == s0 && cntvct() < deadline)
        ;
    int sgi_ok = sgi_taken0[0] != s0;
    write_sysreg(cntv_tval_el0, ms_to_ticks(1));
    write_sysreg(cntv_ctl_el0, 1);
    isb();
    deadline = cntvct() + ms_to_ticks(1000);
    while (rd64(&irq_vtimer) == t0 && cntvct() < deadline)
        ;
    int timer_ok = irq_vtimer != t0;
    write_sysreg(cntv_ctl_el0, 0);
    isb();
    if (!sgi_ok || !timer_ok) {
        u64 sgi = rd0 + GICR_SGI_OFF;
        say("GIC state: GICD_CTLR=0x%x GICR_WAKER=0x%x ISENABLER0=0x%x ISPENDR0=0x%x ISACTIVER0=0x%x "
            "IPRIORITYR0=0x%x IPRIORITYR6=0x%x ICFGR1=0x%x",
            mmio_read32(GICD_BASE), mmio_read32(rd0 + 0x14), mmio_read32(sgi + 0x100), mmio_read32(sgi + 0x200),
            mmio_read32(sgi + 0x300), mmio_read32(sgi + 0x400), mmio_read32(sgi + 0x418), mmio_read32(sgi + 0xc04));
        say("CPU if: RPR=0x%lx HPPIR1=0x%lx PMR=0x%lx CTLR=0x%lx IGRPEN1=0x%lx AP1R0=0x%lx BPR1=0x%lx ISR_EL1=0x%lx "
            "DAIF=0x%lx CNTV_CTL=0x%lx",
            read_sysreg(icc_rpr_el1), read_sysreg(icc_hppir1_el1), read_sysreg(icc_pmr_el1), read_sysreg(icc_ctlr_el1),
            read_sysreg(icc_igrpen1_el1), read_sysreg(icc_ap1r0_el1), read_sysreg(icc_bpr1_el1), read_sysreg(isr_el1),
            read_sysreg(daif), read_sysreg(cntv_ctl_el0));
    }
    CHECK(sgi_ok, "health probe %s: a self-SGI (INTID 0) did not arrive within 1 s after restoring the GIC", when);
    CHECK(timer_ok, "health probe %s: the virtual timer interrupt did not arrive within 1 s", when);
    probes_ok += sgi_ok && timer_ok;
}

/* ---------------- architectural conformance notes ---------------- */
/* Deviations from the GICv3 architecture that are not isolation failures: reported as NOTE
 * lines, fatal only with strict=1. */
static int note_gicd_alias, note_prio_stale, note_prio_early;

static int armed_rw32(u64 addr, int write, u32 *v)
{
    if (write) {
        arm(ARM_INSN, hp_strw_insn);
        hp_strw(addr, *v);
    } else {
        arm(ARM_INSN, hp_ldrw_insn);
        *v = (u32)hp_ldrw(addr, 0);
    }
    disarm();
    return x_count != 0;
}

static void send_self_sgi(u32 intid)
{
    write_sysreg(icc_sgi1r_el1, (self_aff & 0xff0000) << 16 | (self_aff & 0xff00) << 8 |
                                    (self_aff & 0xff000000UL) << 24 | ((self_aff & 0xff) >> 4) << 44 |
                                    (u64)intid << 24 | 1UL << (self_aff & 15));
    isb();
}

static void conformance_checks(void)
{
    /* With GICD_CTLR.ARE set, the distributor registers of INTIDs 0-31 are RAZ/WI. */
    u64 pri = rd0 + GICR_SGI_OFF + 0x41c;              /* priorities of PPIs 28-31 */
    u32 before = mmio_read32(pri), w = 0x90909090u, gd = 0;
    int fw = armed_rw32(GICD_BASE + 0x41c, 1, &w);
    int fr = armed_rw32(GICD_BASE + 0x41c, 0, &gd);
    u32 after = mmio_read32(pri);
    mmio_write32(pri, before);
    note_gicd_alias = after != before || (!fr && gd != 0);
    say("(b) GICD_IPRIORITYR7 with ARE=1: write %s, read %s 0x%x, GICR_IPRIORITYR7 0x%x -> 0x%x: %s",
        fw ? "faulted" : "ok", fr ? "faulted" : "ok", gd, before, after, note_gicd_alias ? "aliased" : "RAZ/WI");

    /* A pending SGI masked by its priority must be taken once its priority is raised. */
    irq_disable();
    gic_enable_ppi_sgi(rd0, 1, 0xf8);
    u64 pmr = read_sysreg(icc_pmr_el1);
    u64 c = sgi_taken0[1];
    irq_enable();
    send_self_sgi(1);
    u64 deadline = cntvct() + ms_to_ticks(20);
    while (rd64(&sgi_taken0[1]) == c && cntvct() < deadline)
        ;
    note_prio_early = sgi_taken0[1] != c;
    u64 b = rd0 + GICR_SGI_OFF + 0x400;
    mmio_write32(b, (mmio_read32(b) & ~0xff00u) | 0x8000u);
    deadline = cntvct() + ms_to_ticks(200);
    while (rd64(&sgi_taken0[1]) == c && cntvct() < deadline)
        ;
    note_prio_stale = !note_prio_early && sgi_taken0[1] == c;
    say("(b) SGI 1 at priority 0xf8 (PMR 0x%lx): %s; at priority 0x80: %s", pmr,
        note_prio_early ? "taken at once" : "held back", sgi_taken0[1] != c ? "taken" : "never taken");
}

#include "classes.h"

/* ---------------- secondaries ---------------- */
static volatile u32 sec_up[MAXCPU];

void secondary_main(u64 ctx)
{
    if ((ctx & ~0xffUL) == 0x11fe00) {            /* (h) life_ms: hammer, or end the boot */
        u32 cpu = cpu_index();
        u64 s = (cntvct() ^ ctx) | 1;
        for (;;) {
            if (flag_read(&life_go))
                life_act(life_action);
            sec_attack_once(cpu, &s);
        }
    }
    __asm__ volatile("msr daifset, #0xd" ::: "memory");
    u32 cpu = cpu_index();
    u64 rd = gicr_for_this_cpu();
    rd_of_cpu[cpu] = rd;
    gicr_wake(rd);
    for (u32 i = 0; i < 16; i++)
        gic_enable_ppi_sgi(rd, i, 0x80);
    gic_cpu_if_init();
    flag_write(&sec_up[cpu], (u32)ctx);
    irq_enable();
    for (;;) {
        if (flag_read(&sec_attack))
            sec_attack_loop(cpu, ctx);           /* (g) */
        wfi();
    }
}

/* ---------------- reporting ---------------- */
/* Lines stay under ~120 characters: Xen's vPL011 backend splits longer ones. */
static void report(u64 done)
{
    say("%lu ops, (b) %lu gic (%lu faults), (c) %lu sysreg (%lu undef, %lu other), (d) %lu calls (%lu undef)", done,
        b_ops, b_faults, c_ops, c_undef, c_other, d_ops, d_undef);
    say("%lu ops, (e) %lu floods (%lu SGIs, %lu to self), irqs %lu (%lu SGI, %lu vt, %lu pt, %lu PPI, %lu SPI)", done,
        e_ops, e_sgis, e_self, irq_total[0], irq_sgi[0], irq_vtimer, irq_ptimer, irq_ppi_other, irq_spi);
    say("%lu ops, violations %lu, storms %lu, spurious %lu, SGI14 %lu, health probes ok %lu", done, viol_count,
        n_storm, irq_spurious[0], n_sgi14, probes_ok);
    if (opt_xenabi)
        say("%lu ops, (f) %lu Xen-ABI calls (%lu structs): %lu returned 0, %lu negative, %lu undef", done, f_ops,
            f_struct, f_zero, f_neg, f_undef);
}

int main(u64 dtb)
{
    __asm__ volatile("msr daifset, #0xd" ::: "memory");   /* D, A, F stay masked throughout */
    say("start: CurrentEL=%lu MPIDR_EL1=0x%lx", read_sysreg(CurrentEL) >> 2, read_sysreg(mpidr_el1));
    check_dtb(dtb);
    char args[256];
    fdtx_bootargs(dtb, args, sizeof(args));
    fdtx_bootarg_u64(args, "seed", &opt_seed);
    fdtx_bootarg_u64(args, "ops", &opt_ops);
    fdtx_bootarg_u64(args, "strict", &opt_strict);
    fdtx_bootarg_u64(args, "xenabi", &opt_xenabi);
    if (opt_xenabi > 100)
        opt_xenabi = 100;
    fdtx_bootarg_u64(args, "more", &opt_more);
    fdtx_bootarg_u64(args, "classes", &opt_classes);
    fdtx_bootarg_u64(args, "peer", &opt_peer);
    fdtx_bootarg_u64(args, "life_ms", &opt_life_ms);
    fdtx_chosen_head(dtb, "rng-seed", &rng_seed_head);
    fdtx_bootarg_u64(args, "lifeact", &opt_lifeact);
    fdtx_bootarg_u64(args, "el0irq", &opt_el0irq);
    fdtx_bootarg_u64(args, "probe", &opt_probe);
    if (!opt_probe)
        opt_probe = PROGRESS_EVERY;
    if (opt_more > 100)
        opt_more = 100;
    rs = opt_seed ? opt_seed : 1;
    nbanks = fdtx_memory_banks(dtb, bank_base, bank_size, FDTX_MAX_BANKS);
    ncpu = fdtx_cpu_count(dtb);
    if (nbanks == 0)
        fail_now("no /memory in the DTB");
    if (ncpu < 1)
        ncpu = 1;
    img_lo = (u64)_image_start;
    img_hi = (u64)_image_end;
    say("bootargs \"%s\": seed=0x%lx ops=%lu strict=%lu; %d vCPUs; image 0x%lx..0x%lx", args, opt_seed, opt_ops,
        opt_strict, ncpu, img_lo, img_hi);
    if (opt_xenabi)
        say("xenabi=%lu: %lu%% of the random operations are Xen-ABI-shaped hypercalls (f)", opt_xenabi, opt_xenabi);
    /* scratch: the top 256 KiB of a RAM bank, not overlapping the image, with no RAM after it */
    for (int i = nbanks - 1; i >= 0 && !scratch_hi; i--) {
        u64 hi = bank_base[i] + bank_size[i], lo = hi - 0x40000;
        if (bank_size[i] >= 0x80000 && !(img_lo < hi && img_hi > lo) && !in_ram(hi)) {
            scratch_lo = lo;
            scratch_hi = hi;
        }
    }
    for (int i = 0; i < nbanks; i++)
        say("RAM bank %d: 0x%lx..0x%lx", i, bank_base[i], bank_base[i] + bank_size[i]);
    say("scratch area for hypercall buffers: 0x%lx..0x%lx", scratch_lo, scratch_hi);
    u32 dtb_size = __builtin_bswap32(*(volatile u32 *)(dtb + 4));
    if (opt_life_ms && (opt_classes & MC_LIFE))
        life_boot(dtb, dtb + dtb_size);
    scratch_fill(scratch_lo, scratch_hi);
    if (opt_more) {
        regions_init();
        say("more=%lu%%: classes 0x%lx (g-o), peer d%lu; own RAM: fetch 0x%lx, peer 0x%lx, maps 0x%lx, victim "
            "0x%lx..0x%lx", opt_more, opt_classes, opt_peer, fetch_lo, peer_lo, map_lo, victim_lo, victim_hi);
        if (regions_ok && dtb < victim_hi && dtb + dtb_size > fetch_lo)
            fail_now("the DTB (0x%lx) lies in the regions of (i)-(m)", dtb);
        if (mc_on(MC_RINGS))
            rings_init();
        if (mc_on(MC_PEER) && opt_peer && regions_ok)
            j_publish();
    }

    sync_hook = sync_handler;
    irq_hook = irq_handler;
    self_aff = mpidr_aff();

    /* our GIC: what the hypervisor enabled by itself counts as enabled */
    gicd_enable();
    rd0 = gicr_for_this_cpu();
    rd_of_cpu[0] = rd0;
    gicr_wake(rd0);
    u32 typer = mmio_read32(GICD_BASE + 4);
    u32 nlines = 32 * ((typer & 0x1f) + 1);
    u32 preset = 0;
    for (u32 n = 0; n < nlines && n < 1024; n += 32) {
        u32 en = n ? mmio_read32(GICD_BASE + 0x100 + n / 8) : mmio_read32(rd0 + GICR_SGI_OFF + 0x100);
        for (u32 j = 0; j < 32; j++)
            if ((en >> j) & 1) {
                mark_enabled(n + j);
                preset++;
            }
    }
    say("GICD_TYPER=0x%x (%u INTIDs), %u enabled at start; redistributor 0x%lx", typer, nlines, preset, rd0);
    for (u32 i = 0; i < 16; i++) {
        gic_enable_ppi_sgi(rd0, i, 0x80);
        mark_enabled(i);
    }
    gic_cpu_if_init();

    /* other vCPUs: up and taking SGIs */
    for (int c = 1; c < ncpu && c < MAXCPU; c++) {
        s64 r = (s64)hvc_call(PSCI_CPU_ON, (u64)c, (u64)secondary_entry, (u64)c);
        u64 deadline = cntvct() + ms_to_ticks(2000);
        while (r == 0 && flag_read(&sec_up[c]) != (u32)c && cntvct() < deadline)
            ;
        say("vCPU %d: CPU_ON -> %ld, %s", c, r, flag_read(&sec_up[c]) == (u32)c ? "up" : "NOT up");
        CHECK(r == 0 && flag_read(&sec_up[c]) == (u32)c, "vCPU %d did not come up", c);
    }

    /* (a) */
    run_fixed_targets();
    say("(a) %lu accesses outside RAM/devices: %lu faulted; %lu at maybe-mapped places: %lu faulted", a_probes, a_faults,
        a_maybe, a_maybe_faults);
    health_probe("after (a)");
    conformance_checks();

    /* (g): the other vCPUs attack from now on */
    if (mc_on(MC_SMP) && ncpu > 1) {
        flag_write(&sec_attack, 1);
        write_sysreg(icc_sgi1r_el1, 2UL << 24 | 1UL << 40);
        isb();
    }

    /* (b)-(e) mixed, (f) with xenabi, (h)-(m) with more */
    irq_enable();
    u64 scratch_refill = 0;
    for (u64 i = 1; i <= opt_ops; i++) {
        op_irqs = 0;
        storm_id[0] = 0xffffffff;
        irq_enable();
        if (opt_more && rndn(100) < opt_more) {       /* no extra random draw without more */
            op_more();
        } else if (opt_xenabi && rndn(100) < opt_xenabi) {   /* no extra random draw without xenabi */
            op_xen_abi();
        } else {
            u32 r = rndn(100);
            if (r < 30)
                op_gic();
            else if (r < 55)
                op_sysreg();
            else if (r < 90)
                op_call();
            else
                op_sgi();
        }
        if (++scratch_refill == 5000) {
            scratch_refill = 0;
            scratch_fill(scratch_lo, scratch_hi);
        }
        if (i % opt_probe == 0 || i == opt_ops)
            health_probe("during the random operations");
        if (i % PROGRESS_EVERY == 0 || i == opt_ops)
            report(i);
    }
    flag_write(&sec_attack, 0);
    irq_disable();
    write_sysreg(cntp_ctl_el0, 0);
    write_sysreg(cntv_ctl_el0, 0);
    isb();

    if (opt_more)
        more_report();
    say("totals: (a) %lu/%lu accesses outside RAM faulted, +%lu/%lu at maybe-mapped places", a_faults, a_probes,
        a_maybe_faults, a_maybe);
    say("totals: (b) %lu vGIC accesses, %lu faults", b_ops, b_faults);
    say("totals: (c) %lu sysreg ops (%lu named, %lu random encodings): %lu undef, %lu other faults", c_ops, c_fixed,
        c_random, c_undef, c_other);
    say("totals: (c) %lu EL2/EL3 accesses, all undefined", c_strict);
    say("totals: (d) %lu calls (hvc #0 %lu, smc #0 %lu, hvc #0xEA1 %lu, other imm %lu)", d_ops, d_hvc0, d_smc0, d_xen,
        d_imm);
    say("totals: (d) %lu undef (%lu with ELR after the insn), %lu negative returns", d_undef, d_undef_ec[1], d_neg);
    say("totals: (e) %lu floods, %lu SGIs (%lu to self)", e_ops, e_sgis, e_self);
    if (opt_xenabi)
        say("totals: (f) %lu Xen-ABI calls, %lu argument structures: %lu returned 0, %lu negative, %lu undef", f_ops,
            f_struct, f_zero, f_neg, f_undef);
    say("totals: irqs on vCPU0 %lu (%lu SGI, %lu vtimer, %lu ptimer, %lu PPI, %lu SPI, %lu spurious), storms %lu",
        irq_total[0], irq_sgi[0], irq_vtimer, irq_ptimer, irq_ppi_other, irq_spi, irq_spurious[0], n_storm);
    for (int c = 1; c < ncpu && c < MAXCPU; c++)
        say("vCPU %d took %lu interrupts (%lu SGIs, %lu spurious)", c, irq_total[c], irq_sgi[c], irq_spurious[c]);
    say("SGIs on vCPU 0 by INTID: %lu %lu %lu %lu %lu %lu %lu %lu %lu %lu %lu %lu %lu %lu %lu %lu", sgi_taken0[0],
        sgi_taken0[1], sgi_taken0[2], sgi_taken0[3], sgi_taken0[4], sgi_taken0[5], sgi_taken0[6], sgi_taken0[7],
        sgi_taken0[8], sgi_taken0[9], sgi_taken0[10], sgi_taken0[11], sgi_taken0[12], sgi_taken0[13], sgi_taken0[14],
        sgi_taken0[15]);
    say("health probes ok: %lu; ISR_EL1=0x%lx", probes_ok, read_sysreg(isr_el1));
    if (viol_count)
        check_failed("%lu interrupts delivered to vCPU %lu that it never enabled or that were never sent to it "
                     "(first INTID %lu)",
                     viol_count, viol_cpu, viol_intid);
    if (n_sgi14) {
        say("NOTE: %lu SGIs for a nonexistent Aff3.Aff2/RS (with vCPU 0's Aff1.Aff0) reached vCPU 0:", n_sgi14);
        say("NOTE:   Aff3, Aff2 and RS of ICC_SGI1R_EL1 are ignored (Xen 4.17 does this)");
        if (opt_strict)
            check_failed("strict: %lu SGIs for nonexistent Aff3.Aff2/RS targets reached vCPU 0", n_sgi14);
    }
    if (note_gicd_alias) {
        say("NOTE: with GICD_CTLR.ARE=1, GICD registers of INTIDs 0-31 are not RAZ/WI: they act on the");
        say("NOTE:   calling vCPU's SGIs/PPIs (Xen 4.17 does this)");
        if (opt_strict)
            check_failed("strict: GICD registers of INTIDs 0-31 are not RAZ/WI with ARE=1");
    }
    if (note_prio_early)
        check_failed("SGI 1 at priority 0xf8 was taken although PMR masks it");
    if (note_prio_stale) {
        say("NOTE: an SGI made pending while masked by its priority was never taken after its priority");
        say("NOTE:   was raised: the priority of a pending interrupt is frozen (Xen 4.17 does this)");
        if (opt_strict)
            check_failed("strict: raising the priority of a pending SGI has no effect");
    }
    if (d_undef_ec[1])
        say("NOTE: %lu undefined hvc/smc had ELR_EL1 after the instruction (Xen 4.17 does this for hvc)",
            d_undef_ec[1]);
    CHECK(n_reg_corrupt == 0, "%lu calls corrupted x19-x28", n_reg_corrupt);
    return 0;
}
