// The only C header the Swift side imports: system-register shims, the trap frame,
// and the runtime entry points written in assembly. Everything here is
// AArch64-only; on the host the header is empty so the package still builds.
#pragma once
#include <stdint.h>
#include <stddef.h>

#if defined(__aarch64__)

// Saved by the exception vectors on the EL2 stack, in this order (vectors.S).
typedef struct apus_frame {
    uint64_t x[31];
    uint64_t elr;
    uint64_t spsr;
    uint64_t esr;
} apus_frame;

#define APUS_SYSREG(name)                                                     \
    static inline uint64_t read_##name(void) {                                \
        uint64_t v; __asm__ volatile("mrs %0, " #name : "=r"(v)); return v;   \
    }                                                                         \
    static inline void write_##name(uint64_t v) {                             \
        __asm__ volatile("msr " #name ", %0" ::"r"(v) : "memory");            \
    }

// EL2 control
APUS_SYSREG(currentel)
APUS_SYSREG(mpidr_el1)
APUS_SYSREG(midr_el1)
APUS_SYSREG(hcr_el2)
APUS_SYSREG(sctlr_el2)
APUS_SYSREG(tcr_el2)
APUS_SYSREG(mair_el2)
APUS_SYSREG(ttbr0_el2)
APUS_SYSREG(vtcr_el2)
APUS_SYSREG(vttbr_el2)
APUS_SYSREG(esr_el2)
APUS_SYSREG(far_el2)
APUS_SYSREG(hpfar_el2)
APUS_SYSREG(elr_el2)
APUS_SYSREG(spsr_el2)
APUS_SYSREG(vbar_el2)
APUS_SYSREG(cptr_el2)
APUS_SYSREG(mdcr_el2)
APUS_SYSREG(hstr_el2)
APUS_SYSREG(vmpidr_el2)
APUS_SYSREG(vpidr_el2)
APUS_SYSREG(tpidr_el2)
APUS_SYSREG(cnthctl_el2)
APUS_SYSREG(cntvoff_el2)
APUS_SYSREG(cnthp_ctl_el2)
APUS_SYSREG(cnthp_cval_el2)
APUS_SYSREG(id_aa64mmfr0_el1)
APUS_SYSREG(id_aa64pfr0_el1)
APUS_SYSREG(id_aa64mmfr1_el1)
static inline uint64_t read_id_aa64isar2_el1(void) {
    uint64_t v; __asm__ volatile("mrs %0, s3_0_c0_c6_2" : "=r"(v)); return v;
}
// Guest EL1 state the hypervisor sets up or switches
APUS_SYSREG(sctlr_el1)
APUS_SYSREG(tcr_el1)
APUS_SYSREG(ttbr0_el1)
APUS_SYSREG(ttbr1_el1)
APUS_SYSREG(mair_el1)
APUS_SYSREG(amair_el1)
APUS_SYSREG(vbar_el1)
APUS_SYSREG(contextidr_el1)
APUS_SYSREG(tpidr_el1)
APUS_SYSREG(tpidr_el0)
APUS_SYSREG(tpidrro_el0)
APUS_SYSREG(sp_el1)
APUS_SYSREG(sp_el0)
APUS_SYSREG(elr_el1)
APUS_SYSREG(spsr_el1)
APUS_SYSREG(esr_el1)
APUS_SYSREG(far_el1)
APUS_SYSREG(afsr0_el1)
APUS_SYSREG(afsr1_el1)
APUS_SYSREG(par_el1)
APUS_SYSREG(cpacr_el1)
APUS_SYSREG(csselr_el1)
APUS_SYSREG(cntkctl_el1)
APUS_SYSREG(actlr_el1)
// Timers
APUS_SYSREG(cntfrq_el0)
APUS_SYSREG(cntpct_el0)
APUS_SYSREG(cntvct_el0)
APUS_SYSREG(cntv_ctl_el0)
APUS_SYSREG(cntv_cval_el0)
// GICv3 physical CPU interface (used by EL2 itself)
APUS_SYSREG(icc_sre_el2)
APUS_SYSREG(icc_sre_el1)
APUS_SYSREG(pmcr_el0)
APUS_SYSREG(icc_pmr_el1)
APUS_SYSREG(icc_bpr1_el1)
APUS_SYSREG(icc_ctlr_el1)
APUS_SYSREG(icc_igrpen1_el1)
APUS_SYSREG(icc_iar1_el1)
APUS_SYSREG(icc_eoir1_el1)
APUS_SYSREG(icc_dir_el1)
APUS_SYSREG(icc_sgi1r_el1)
// GICv3 virtualisation control (list registers and friends)
APUS_SYSREG(ich_hcr_el2)
APUS_SYSREG(ich_vtr_el2)
APUS_SYSREG(ich_vmcr_el2)
APUS_SYSREG(ich_misr_el2)
APUS_SYSREG(ich_elrsr_el2)
APUS_SYSREG(ich_ap0r0_el2)
APUS_SYSREG(ich_ap1r0_el2)
APUS_SYSREG(ich_lr0_el2)
APUS_SYSREG(ich_lr1_el2)
APUS_SYSREG(ich_lr2_el2)
APUS_SYSREG(ich_lr3_el2)
APUS_SYSREG(ich_lr4_el2)
APUS_SYSREG(ich_lr5_el2)
APUS_SYSREG(ich_lr6_el2)
APUS_SYSREG(ich_lr7_el2)
APUS_SYSREG(ich_lr8_el2)
APUS_SYSREG(ich_lr9_el2)
APUS_SYSREG(ich_lr10_el2)
APUS_SYSREG(ich_lr11_el2)
APUS_SYSREG(ich_lr12_el2)
APUS_SYSREG(ich_lr13_el2)
APUS_SYSREG(ich_lr14_el2)
APUS_SYSREG(ich_lr15_el2)

static inline void arch_isb(void) { __asm__ volatile("isb" ::: "memory"); }
static inline void arch_dsb_sy(void) { __asm__ volatile("dsb sy" ::: "memory"); }
static inline void arch_dsb_ish(void) { __asm__ volatile("dsb ish" ::: "memory"); }
static inline void arch_wfi(void) { __asm__ volatile("wfi" ::: "memory"); }
static inline void arch_wfe(void) { __asm__ volatile("wfe" ::: "memory"); }
static inline void arch_sev(void) { __asm__ volatile("sev" ::: "memory"); }
static inline void arch_yield(void) { __asm__ volatile("yield" ::: "memory"); }
static inline void arch_irq_enable(void) { __asm__ volatile("msr daifclr, #2" ::: "memory"); }
static inline void arch_irq_disable(void) { __asm__ volatile("msr daifset, #2" ::: "memory"); }
// Whole-TLB maintenance of the EL2 regime.
static inline void arch_tlbi_alle2(void) { __asm__ volatile("dsb ishst; tlbi alle2; dsb ish; isb" ::: "memory"); }
// This CPU only: stage 1 and 2 entries of the VMID in VTTBR_EL2.
static inline void arch_tlbi_vmalls12e1(void) { __asm__ volatile("dsb nshst; tlbi vmalls12e1; dsb nsh; isb" ::: "memory"); }
// This CPU only: every EL1&0 entry of every VMID.
static inline void arch_tlbi_alle1(void) { __asm__ volatile("dsb nshst; tlbi alle1; dsb nsh; isb" ::: "memory"); }
// Every VMID's stage 1+2 entries on all CPUs: after a p2m change of a domain that may not
// be the one loaded here (grant unmap on teardown), without switching VTTBR to it.
static inline void arch_tlbi_alle1is(void) { __asm__ volatile("dsb ishst; tlbi alle1is; dsb ish; isb" ::: "memory"); }
// Xen's flush_guest_tlb for one domain (p2m_flush_tlb): every stage 1 and stage 2 entry of
// the VMID in `vttbr`, on every CPU, and nobody else's. TLBI acts on the VMID in VTTBR_EL2,
// so it is switched to the domain's (interrupts masked, so nothing runs on the borrowed
// VMID) and back.
static inline void arch_flush_guest_tlb(uint64_t vttbr) {
    uint64_t daif, old;
    __asm__ volatile("mrs %0, daif; msr daifset, #3" : "=r"(daif) :: "memory");
    old = read_vttbr_el2();
    if (old != vttbr) { write_vttbr_el2(vttbr); arch_isb(); }
    __asm__ volatile("dsb ishst; tlbi vmalls12e1is; dsb ish; isb" ::: "memory");
    if (old != vttbr) { write_vttbr_el2(old); arch_isb(); }
    __asm__ volatile("msr daif, %0" :: "r"(daif) : "memory");
}
// Break-before-make for one 4 KiB page of a domain: its stage 2 entry by IPA, then the
// combined stage 1+2 entries of the VMID (which are not tagged with the IPA), all CPUs.
static inline void arch_flush_guest_tlb_ipa(uint64_t vttbr, uint64_t ipa) {
    uint64_t daif, old;
    __asm__ volatile("mrs %0, daif; msr daifset, #3" : "=r"(daif) :: "memory");
    old = read_vttbr_el2();
    if (old != vttbr) { write_vttbr_el2(vttbr); arch_isb(); }
    __asm__ volatile("dsb ishst; tlbi ipas2e1is, %0; dsb ish; tlbi vmalle1is; dsb ish; isb"
                     :: "r"((ipa >> 12) & 0xFFFFFFFFFull) : "memory");
    if (old != vttbr) { write_vttbr_el2(old); arch_isb(); }
    __asm__ volatile("msr daif, %0" :: "r"(daif) : "memory");
}
// The hypervisor's own stage 1: one page by VA, all CPUs.
static inline void arch_tlbi_vae2is(uint64_t va) {
    __asm__ volatile("dsb ishst; tlbi vae2is, %0; dsb ish; isb" :: "r"((va >> 12) & 0xFFFFFFFFFFFull) : "memory");
}
static inline void arch_tlbi_alle2is(void) { __asm__ volatile("dsb ishst; tlbi alle2is; dsb ish; isb" ::: "memory"); }
// Every CPU's instruction caches (a rebooted domain's new code may start on any CPU).
static inline void arch_ic_ialluis(void) { __asm__ volatile("ic ialluis; dsb ish; isb" ::: "memory"); }
// Orders a table's contents before the descriptor that links it in, for other CPUs' walkers.
static inline void arch_dmb_ishst(void) { __asm__ volatile("dmb ishst" ::: "memory"); }
static inline void arch_dc_civac(uint64_t va) { __asm__ volatile("dc civac, %0" ::"r"(va) : "memory"); }

// Address translation from EL2, returning PAR_EL1. AT S12E1R/W: a guest virtual address
// through the guest's stage 1 and its p2m, as the guest would (hypercall arguments). AT
// S1E1R/W: stage 1 alone, PAR_EL1 holding the IPA; used when the full walk stopped at
// stage 2 (a RAM block not yet populated), to learn which block.
#define APUS_AT(name, op)                                                                  \
    static inline uint64_t arch_at_##name(uint64_t va) {                                  \
        uint64_t par;                                                                     \
        __asm__ volatile("at " op ", %1; isb; mrs %0, par_el1" : "=r"(par) : "r"(va) : "memory"); \
        return par;                                                                       \
    }
APUS_AT(s12e1r, "s12e1r")
APUS_AT(s12e1w, "s12e1w")
APUS_AT(s1e1r, "s1e1r")
APUS_AT(s1e1w, "s1e1w")

// Cleans and invalidates [pa, pa + n) to the point of coherency (DC CIVAC, line size from
// CTR_EL0.DminLine), as Xen's flush_page_to_ram: memory the hypervisor wrote for a guest
// (zeroed blocks, its kernel) must be in RAM for a guest running with its caches off, and
// no line of the hypervisor's cacheable alias may linger to be read later instead of what
// that guest wrote.
static inline void arch_dcache_flush_poc(uint64_t pa, uint64_t n) {
    uint64_t ctr;
    __asm__ volatile("mrs %0, ctr_el0" : "=r"(ctr));
    uint64_t line = 4ull << ((ctr >> 16) & 0xf);
    uint64_t a = pa & ~(line - 1), end = pa + n;
    for (; a + 4 * line <= end; a += 4 * line) {
        arch_dc_civac(a); arch_dc_civac(a + line); arch_dc_civac(a + 2 * line); arch_dc_civac(a + 3 * line);
    }
    for (; a < end; a += line) arch_dc_civac(a);
    __asm__ volatile("dsb sy" ::: "memory");
}

// GNTTABOP_cache_flush (Xen's clean_dcache_va_range / invalidate_dcache_va_range): clean
// [pa, pa + n) to the point of coherency (DC CVAC), or invalidate it (DC IVAC), where the
// partial lines at either end are cleaned and invalidated so that no bytes outside the range
// are lost.
static inline uint64_t arch_dcache_line(void) {
    uint64_t ctr;
    __asm__ volatile("mrs %0, ctr_el0" : "=r"(ctr));
    return 4ull << ((ctr >> 16) & 0xf);
}
static inline void arch_dcache_clean_poc(uint64_t pa, uint64_t n) {
    uint64_t line = arch_dcache_line();
    for (uint64_t a = pa & ~(line - 1); a < pa + n; a += line) __asm__ volatile("dc cvac, %0" ::"r"(a) : "memory");
    __asm__ volatile("dsb sy" ::: "memory");
}
static inline void arch_dcache_inval_poc(uint64_t pa, uint64_t n) {
    uint64_t line = arch_dcache_line(), end = pa + n;
    uint64_t a = pa & ~(line - 1);
    if (a != pa) { arch_dc_civac(a); a += line; }
    for (; a + line <= end; a += line) __asm__ volatile("dc ivac, %0" ::"r"(a) : "memory");
    if (a < end) arch_dc_civac(a);
    __asm__ volatile("dsb sy" ::: "memory");
}

// Atomics on words a guest shares with the hypervisor (event-channel bitmaps, vcpu_info):
// runtime.c, exclusive-monitor loops (the Cortex-A57 has no LSE atomics).
uint64_t apus_atomic_or64(uint64_t *p, uint64_t bits);
uint64_t apus_atomic_and64(uint64_t *p, uint64_t bits);
uint32_t apus_atomic_cas32(uint32_t *p, uint32_t expected, uint32_t desired);

// Secure monitor call for PSCI towards the firmware (QEMU's built-in PSCI on virt).
static inline uint64_t arch_smc(uint64_t fn, uint64_t a1, uint64_t a2, uint64_t a3) {
    register uint64_t x0 __asm__("x0") = fn;
    register uint64_t x1 __asm__("x1") = a1;
    register uint64_t x2 __asm__("x2") = a2;
    register uint64_t x3 __asm__("x3") = a3;
    __asm__ volatile("smc #0" : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3) :: "memory");
    return x0;
}
static inline uint64_t arch_hvc(uint64_t fn, uint64_t a1, uint64_t a2, uint64_t a3) {
    register uint64_t x0 __asm__("x0") = fn;
    register uint64_t x1 __asm__("x1") = a1;
    register uint64_t x2 __asm__("x2") = a2;
    register uint64_t x3 __asm__("x3") = a3;
    __asm__ volatile("hvc #0" : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3) :: "memory");
    return x0;
}

// Volatile MMIO accessors: single accesses the optimizer may neither merge nor drop.
static inline uint32_t mmio_read32(uint64_t addr) { return *(volatile uint32_t *)addr; }
static inline void mmio_write32(uint64_t addr, uint32_t v) { *(volatile uint32_t *)addr = v; }
static inline uint8_t mmio_read8(uint64_t addr) { return *(volatile uint8_t *)addr; }
static inline void mmio_write8(uint64_t addr, uint8_t v) { *(volatile uint8_t *)addr = v; }
static inline uint16_t mmio_read16(uint64_t addr) { return *(volatile uint16_t *)addr; }
static inline uint64_t mmio_read64(uint64_t addr) { return *(volatile uint64_t *)addr; }
static inline void mmio_write64(uint64_t addr, uint64_t v) { *(volatile uint64_t *)addr = v; }

// Provided by start.S / runtime.c
extern uint64_t apus_bss_end(void);
extern uint64_t apus_secondary_entry_pa(void);
extern void apus_enter_guest(apus_frame *frame) __attribute__((noreturn));
extern void apus_enable_mmu(uint64_t ttbr0, uint64_t tcr, uint64_t mair);
extern void apus_heap_init(uint64_t base, uint64_t size);
extern uint64_t apus_heap_used(void);
extern uint64_t apus_heap_taken(void);
extern uint64_t apus_heap_trim(uint64_t headroom);
extern void apus_set_console(void (*putc)(uint8_t));
extern uint64_t apus_stack_top(uint64_t cpu);
extern void apus_cpu_boot_params(uint64_t cpu, uint64_t ttbr0, uint64_t tcr, uint64_t mair);
extern void apus_spin_lock(uint32_t *lock);
extern void apus_spin_unlock(uint32_t *lock);
#define APUS_MAX_CPUS 8

// Each CPU's own object (the hypervisor's PerCPU), by the index start.S keeps in TPIDR_EL2.
// Set once per CPU at boot; the trap path reads it without reference counting.
extern void *apus_cpu_objects[APUS_MAX_CPUS];
static inline void *apus_this_cpu_object(void) {
    uint64_t i;
    __asm__ volatile("mrs %0, tpidr_el2" : "=r"(i));
    return i < APUS_MAX_CPUS ? apus_cpu_objects[i] : 0;
}
static inline void apus_set_cpu_object(uint64_t cpu, void *object) {
    if (cpu < APUS_MAX_CPUS) apus_cpu_objects[cpu] = object;
}
// Branch-predictor hardening run by the lower-EL vectors of each CPU: 0 nothing, 1 CLRBHB,
// an SMCCC function ID (bit 31) an SMC to the firmware, otherwise a branch-loop count.
extern uint32_t apus_bp_harden[APUS_MAX_CPUS];
static inline void apus_set_bp_harden(uint64_t cpu, uint32_t word) {
    if (cpu < APUS_MAX_CPUS) apus_bp_harden[cpu] = word;
}

#endif

#if defined(__aarch64__)
// FP/SIMD state of a vCPU (32 x 128-bit + FPSR + FPCR), saved only when a CPU switches
// between vCPUs: EL2 code itself never touches these registers.
typedef struct apus_fp_state { uint64_t q[64]; uint64_t fpsr; uint64_t fpcr; } apus_fp_state;
extern void apus_fp_save(apus_fp_state *s);
extern void apus_fp_restore(const apus_fp_state *s);
extern void *malloc(size_t n);
extern void *memcpy(void *d, const void *s, size_t n);
extern void *memset(void *d, int c, size_t n);
extern int posix_memalign(void **out, size_t align, size_t n);
extern void free(void *p);
#endif
