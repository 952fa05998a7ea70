/*
 * faults: how the hypervisor reflects guest mistakes back to the guest.
 *  (a) loads/stores to unmapped guest-physical addresses -> synchronous Data Abort at EL1
 *      (ESR_EL1.EC 0x25, FAR_EL1 = address, ELR_EL1 = the access)
 *  (b) hvc with an unknown immediate -> Undefined Instruction (EC 0x0) at EL1
 *  (c) unknown SMCCC function ids via hvc #0 -> NOT_SUPPORTED (-1) in x0
 *  (d) smc #0 is handled as an SMCCC call (PSCI_VERSION answers), smc #1 -> undefined
 *  (e) MSR to the read-only MPIDR_EL1 encoding -> undefined at EL1, MPIDR unchanged
 *  (f) SMCCC 1.1 discovery as Linux does it: SMCCC_VERSION, ARCH_FEATURES of workarounds
 *      1/2/3, then each workaround called (answers printed, compared with Xen 4.17's)
 *  (g) BRK #0x800 (Linux's WARN) reaches the guest's own EL1 vector: EC 0x3C, ISS 0x800
 *  (h) DC CISW/CSW/ISW (set/way) are trapped and emulated: the guest runs on
 *  (i) GICR_WAKER reads as zero before any write (as Xen's vGIC)
 */
#include "guest.h"

const char guest_name[] = "faults";

extern char probe_load_insn[], probe_store_insn[], probe_hvc_imm_insn[], probe_smc0_insn[],
    probe_smc1_insn[], probe_msr_mpidr_insn[], probe_brk_insn[];
void probe_brk(void);
u64 probe_load(u64 addr, u64 marker);
void probe_store(u64 addr, u32 value);
u64 probe_hvc_imm(u64 x0);
u64 probe_smc0(u64 fn);
u64 probe_smc1(u64 fn);
void probe_msr_mpidr(u64 v);

#define MARKER 0x5a5a5a5aUL
enum { NONE, AT, AFTER };

static volatile u64 expect_pc;
static volatile u64 t_count, t_esr, t_far, t_elr, t_spsr, t_where;

static int sync_handler(struct exc_frame *f, u64 kind)
{
    (void)kind;
    u64 pc = expect_pc;
    if (!pc)
        return 0;
    if (f->elr == pc) {
        t_where = AT;
        f->elr += 4;          /* skip the faulting instruction */
    } else if (f->elr == pc + 4) {
        t_where = AFTER;      /* already past it: resume there */
    } else {
        return 0;
    }
    t_count++;
    t_esr = f->esr;
    t_far = f->far;
    t_elr = f->elr;
    t_spsr = f->spsr;
    return 1;
}

static void arm(void *insn)
{
    t_count = t_esr = t_far = t_elr = t_spsr = 0;
    t_where = NONE;
    expect_pc = (u64)insn;
}

static void disarm(void) { expect_pc = 0; }

static const char *where_name(void)
{
    return t_where == AT ? "ELR=insn" : t_where == AFTER ? "ELR=insn+4" : "none";
}

static void expect_dabt(const char *what, u64 addr, int is_store)
{
    u64 v = 0;
    arm(is_store ? (void *)probe_store_insn : (void *)probe_load_insn);
    if (is_store)
        probe_store(addr, 0xa5a5a5a5u);
    else
        v = probe_load(addr, MARKER);
    disarm();
    if (t_count == 0) {
        check_failed("(a) %s 0x%lx %s: no exception%s", is_store ? "store to" : "load from", addr, what,
                     is_store ? "" : " (load returned a value)");
        if (!is_store)
            say("(a)   load returned 0x%lx", v);
        return;
    }
    say("(a) %s 0x%lx (%s): EC 0x%lx ESR_EL1=0x%lx FAR_EL1=0x%lx %s SPSR.M=0x%lx", is_store ? "store" : "load ", addr,
        what, ESR_EC(t_esr), t_esr, t_far, where_name(), t_spsr & 0xf);
    CHECK(ESR_EC(t_esr) == 0x25, "(a) %s 0x%lx: EC 0x%lx, expected 0x25 (data abort, same EL)", what, addr, ESR_EC(t_esr));
    CHECK(t_far == addr, "(a) %s 0x%lx: FAR_EL1 0x%lx", what, addr, t_far);
    CHECK(t_where == AT, "(a) %s 0x%lx: ELR_EL1 does not point at the access", what, addr);
    CHECK((t_spsr & 0xf) == 5, "(a) %s: SPSR_EL1.M 0x%lx, expected EL1h", what, t_spsr & 0xf);
    if (!is_store)
        CHECK(v == MARKER, "(a) %s 0x%lx: destination register changed to 0x%lx", what, addr, v);
}

int main(u64 dtb)
{
    say("start: CurrentEL=%lu SCTLR_EL1=0x%lx MPIDR_EL1=0x%lx", read_sysreg(CurrentEL) >> 2,
        read_sysreg(sctlr_el1), read_sysreg(mpidr_el1));
    check_dtb(dtb);
    sync_hook = sync_handler;

    /* (a) unmapped guest-physical addresses */
    expect_dabt("unmapped", 0x10000000UL, 0);
    expect_dabt("unmapped", 0x20000000UL, 0);
    expect_dabt("unmapped", 0x20000000UL, 1);
    expect_dabt("past vPL011", UART_BASE + 0x1000, 0);
    u64 rb, rs;
    if (dtb_memory(dtb, &rb, &rs)) {
        say("RAM (first bank) 0x%lx..0x%lx", rb, rb + rs);
        expect_dabt("just above RAM", rb + rs, 0);
        expect_dabt("just above RAM", rb + rs, 1);
    } else {
        check_failed("no /memory node in the DTB");
    }

    /* (b) hvc with an immediate that is neither 0 (SMCCC) nor 0xEA1 (Xen hypercall) */
    arm(probe_hvc_imm_insn);
    u64 r = probe_hvc_imm(PSCI_VERSION);
    disarm();
    if (t_count == 0) {
        check_failed("(b) hvc #0x1234: no exception (x0 = 0x%lx)", r);
    } else {
        say("(b) hvc #0x1234: EC 0x%lx ESR_EL1=0x%lx %s%s", ESR_EC(t_esr), t_esr, where_name(),
            t_where == AT ? " (at the hvc)" : " (after the hvc, as Xen does)");
        CHECK(ESR_EC(t_esr) == 0, "(b) hvc #0x1234: EC 0x%lx, expected 0 (unknown)", ESR_EC(t_esr));
        CHECK(r == PSCI_VERSION, "(b) hvc #0x1234 changed x0 to 0x%lx (treated as SMCCC?)", r);
    }

    /* (c) SMCCC via hvc #0 */
    u64 pv = hvc_call(PSCI_VERSION, 0, 0, 0);
    say("(c) hvc #0 PSCI_VERSION -> 0x%lx (%lu.%lu)", pv, (pv >> 16) & 0xffff, pv & 0xffff);
    CHECK(pv >= 0x2 && pv < 0x80000000UL, "(c) PSCI_VERSION returned 0x%lx", pv);
    r = hvc_call(SMCCC_VERSION, 0, 0, 0);
    say("(c) hvc #0 SMCCC_VERSION -> 0x%lx", r);
    r = hvc_call(0x8200ff00UL, 0, 0, 0);
    say("(c) hvc #0 fn 0x8200ff00 (SiP, SMC32) -> 0x%lx", r);
    CHECK((u32)r == 0xffffffffu, "(c) unknown SMC32 fn 0x8200ff00 returned 0x%lx, expected -1", r);
    r = hvc_call(0xc400ff00UL, 0, 0, 0);
    say("(c) hvc #0 fn 0xc400ff00 (standard, SMC64) -> 0x%lx", r);
    CHECK(r == (u64)-1, "(c) unknown SMC64 fn 0xc400ff00 returned 0x%lx, expected -1", r);
    r = hvc_call(0xc600ff00UL, 0, 0, 0);
    say("(c) hvc #0 fn 0xc600ff00 (hypervisor, SMC64) -> 0x%lx", r);
    CHECK(r == (u64)-1, "(c) unknown SMC64 fn 0xc600ff00 returned 0x%lx, expected -1", r);

    /* (d) smc from the guest */
    arm(probe_smc0_insn);
    r = probe_smc0(PSCI_VERSION);
    disarm();
    if (t_count) {
        check_failed("(d) smc #0 PSCI_VERSION: exception EC 0x%lx %s", ESR_EC(t_esr), where_name());
    } else {
        say("(d) smc #0 PSCI_VERSION -> 0x%lx", r);
        CHECK(r == pv, "(d) smc #0 PSCI_VERSION returned 0x%lx, hvc gave 0x%lx", r, pv);
    }
    arm(probe_smc1_insn);
    r = probe_smc1(PSCI_VERSION);
    disarm();
    if (t_count) {
        say("(d) smc #1: EC 0x%lx ESR_EL1=0x%lx %s", ESR_EC(t_esr), t_esr, where_name());
        CHECK(ESR_EC(t_esr) == 0, "(d) smc #1: EC 0x%lx, expected 0 (unknown)", ESR_EC(t_esr));
        CHECK(t_where == AT, "(d) smc #1: ELR_EL1 not at the smc");
        CHECK(r == PSCI_VERSION, "(d) smc #1 changed x0 to 0x%lx", r);
    } else {
        check_failed("(d) smc #1: no exception, x0 = 0x%lx", r);
    }

    /* (e) write to a read-only system register */
    u64 mpidr = read_sysreg(mpidr_el1);
    arm(probe_msr_mpidr_insn);
    probe_msr_mpidr(mpidr ^ 0xff);
    disarm();
    if (t_count) {
        say("(e) msr MPIDR_EL1: EC 0x%lx ESR_EL1=0x%lx %s", ESR_EC(t_esr), t_esr, where_name());
        CHECK(ESR_EC(t_esr) == 0, "(e) msr MPIDR_EL1: EC 0x%lx, expected 0", ESR_EC(t_esr));
        CHECK(t_where == AT, "(e) msr MPIDR_EL1: ELR_EL1 not at the msr");
    } else {
        check_failed("(e) msr MPIDR_EL1: no exception");
    }
    CHECK(read_sysreg(mpidr_el1) == mpidr, "(e) MPIDR_EL1 changed to 0x%lx", read_sysreg(mpidr_el1));

    /* (f) SMCCC workaround discovery, as Linux's spectre-v2/v4/BHB code */
    u64 sv = hvc_call(SMCCC_VERSION, 0, 0, 0);
    u64 af1 = hvc_call(0x80000001UL, 0x80008000UL, 0, 0);
    u64 af2 = hvc_call(0x80000001UL, 0x80007fffUL, 0, 0);
    u64 af3 = hvc_call(0x80000001UL, 0x80003fffUL, 0, 0);
    u64 afv = hvc_call(0x80000001UL, SMCCC_VERSION, 0, 0);
    say("(f) SMCCC_VERSION 0x%lx ARCH_FEATURES: WORKAROUND_1 %ld WORKAROUND_2 %ld WORKAROUND_3 %ld VERSION %ld",
        sv, (long)(int)af1, (long)(int)af2, (long)(int)af3, (long)(int)afv);
    u64 w1 = hvc_call(0x80008000UL, 0, 0, 0);
    u64 w2 = hvc_call(0x80007fffUL, 1, 0, 0);
    u64 w3 = hvc_call(0x80003fffUL, 0, 0, 0);
    say("(f) calls: WORKAROUND_1 x0=0x%lx WORKAROUND_2(1) x0=0x%lx WORKAROUND_3 x0=0x%lx", w1, w2, w3);
    CHECK(sv == 0x10001, "(f) SMCCC_VERSION 0x%lx, expected 1.1", sv);

    /* (g) a guest's BRK is the guest's */
    arm(probe_brk_insn);
    probe_brk();
    disarm();
    if (t_count) {
        say("(g) brk #0x800: EC 0x%lx ISS 0x%lx %s", ESR_EC(t_esr), t_esr & 0x1ffffff, where_name());
        CHECK(ESR_EC(t_esr) == 0x3c, "(g) brk #0x800: EC 0x%lx, expected 0x3c (BRK)", ESR_EC(t_esr));
        CHECK((t_esr & 0xffff) == 0x800, "(g) brk #0x800: comment 0x%lx", t_esr & 0xffff);
        CHECK(t_where == AT, "(g) brk #0x800: ELR_EL1 not at the brk");
    } else {
        check_failed("(g) brk #0x800: no exception at EL1");
    }

    /* (h) set/way maintenance over a few sets and ways of L1 (level 0 in the operand) */
    u64 n = 0;
    for (u64 way = 0; way < 2; way++)
        for (u64 set = 0; set < 64; set++, n++) {
            u64 op = (way << 30) | (set << 6);
            __asm__ volatile("dc cisw, %0" :: "r"(op) : "memory");
            __asm__ volatile("dc csw, %0" :: "r"(op) : "memory");
            __asm__ volatile("dc isw, %0" :: "r"(op) : "memory");
        }
    __asm__ volatile("dsb sy" ::: "memory");
    say("(h) %lu x dc cisw/csw/isw: still running", n);

    /* (i) GICR_WAKER of this vCPU's redistributor, never written */
    u32 waker = mmio_read32(0x03020000UL + 0x14);
    say("(i) GICR_WAKER 0x%x", waker);
    CHECK(waker == 0, "(i) GICR_WAKER 0x%x, expected 0 (Xen: RAZ)", waker);

    sync_hook = NULL;
    return 0;
}
