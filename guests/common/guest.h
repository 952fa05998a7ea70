/* Shared declarations for the Apus/Xen bare-metal test guests. */
#ifndef GUEST_H
#define GUEST_H

/* Everything is local to the image: no GOT, no dynamic relocations (position independence).
 * Deliberately not popped, so declarations in the including file are hidden too. */
#pragma GCC visibility push(hidden)

typedef unsigned long u64;
typedef long s64;
typedef unsigned int u32;
typedef int s32;
typedef unsigned char u8;
typedef unsigned long uptr;

#define NULL ((void *)0)

/* ---- Xen's documented domU memory map (public/arch-arm.h) ---- */
#define UART_BASE      0x22000000UL   /* vPL011 (SBSA UART) */
#define GICD_BASE      0x03001000UL   /* GICv3 distributor */
#define GICR_BASE      0x03020000UL   /* GICv3 redistributors, 0x20000 per vCPU */
#define GICR_STRIDE    0x20000UL
#define GICR_SGI_OFF   0x10000UL

/* ---- PSCI / SMCCC ---- */
#define SMCCC_VERSION        0x80000000UL
#define PSCI_VERSION         0x84000000UL
#define PSCI_CPU_OFF         0x84000002UL
#define PSCI_CPU_ON          0xC4000003UL
#define PSCI_AFFINITY_INFO   0xC4000004UL
#define PSCI_SYSTEM_OFF      0x84000008UL
#define PSCI_SUCCESS              0
#define PSCI_NOT_SUPPORTED        (-1)
#define PSCI_INVALID_PARAMETERS   (-2)
#define PSCI_DENIED               (-3)
#define PSCI_ALREADY_ON           (-4)

/* hvc #0 / smc #0 with x0..x3 = args; returns x0 (head.S) */
u64 hvc_call(u64 fn, u64 a1, u64 a2, u64 a3);
u64 smc_call(u64 fn, u64 a1, u64 a2, u64 a3);

/* ---- system registers ---- */
#define read_sysreg(r) ({ u64 __v; __asm__ volatile("mrs %0, " #r : "=r"(__v)); __v; })
#define write_sysreg(r, v) do { u64 __v = (u64)(v); __asm__ volatile("msr " #r ", %0" : : "r"(__v) : "memory"); } while (0)
#define isb() __asm__ volatile("isb" ::: "memory")
#define dsb() __asm__ volatile("dsb sy" ::: "memory")
#define irq_enable()  __asm__ volatile("msr daifclr, #2" ::: "memory")
#define irq_disable() __asm__ volatile("msr daifset, #2" ::: "memory")
#define wfi() __asm__ volatile("wfi" ::: "memory")

/* Single aligned MMIO accesses with a simple addressing mode (ISV=1 for the hypervisor). */
static inline u32 mmio_read32(u64 a) { u32 v; __asm__ volatile("ldr %w0, [%1]" : "=r"(v) : "r"(a) : "memory"); return v; }
static inline void mmio_write32(u64 a, u32 v) { __asm__ volatile("str %w0, [%1]" : : "r"(v), "r"(a) : "memory"); }
static inline u64 mmio_read64(u64 a) { u64 v; __asm__ volatile("ldr %0, [%1]" : "=r"(v) : "r"(a) : "memory"); return v; }

/* Plain shared-memory flag accessors (MMU off: Device-nGnRnE, no cache coherency issues). */
static inline u32 flag_read(volatile u32 *p) { dsb(); u32 v = *p; dsb(); return v; }
static inline void flag_write(volatile u32 *p, u32 v) { dsb(); *p = v; dsb(); }

/* ---- console / reporting (lib.c) ---- */
extern const char guest_name[];     /* defined by each guest, used as line prefix */
void uart_putc(char c);
extern void (*console_hook)(char c);   /* replaces the UART when set */
void uart_puts(const char *s);
void kprintf(const char *fmt, ...);  /* %s %c %d %u %x %p, l/ll modifiers, width/0-pad */
void say(const char *fmt, ...);     /* "<guest_name>: " + message + "\n" */
/* Records a failure (prints "<name>: FAIL: ..."); the first one becomes the TEST FAIL reason. */
void check_failed(const char *fmt, ...);
#define CHECK(cond, ...) do { if (!(cond)) check_failed(__VA_ARGS__); } while (0)
int failures(void);
/* Print TEST PASS/FAIL and power off with PSCI SYSTEM_OFF. Never returns. */
void __attribute__((noreturn)) finish(void);
void __attribute__((noreturn)) fail_now(const char *fmt, ...);

/* ---- exceptions ---- */
struct exc_frame {
    u64 x[31];
    u64 elr, spsr, esr, far;
    u64 pad;
};
/* kind = vector index 0..15 (0-3 current EL SP0, 4-7 current EL SPx, 8-11 lower A64, 12-15 lower A32);
 * within each group: 0 sync, 1 irq, 2 fiq, 3 serror. */
#define EXC_SYNC 4
#define EXC_IRQ  5
/* A hook returns nonzero when it handled the exception (it may change f->elr). */
typedef int (*exc_hook_t)(struct exc_frame *f, u64 kind);
extern exc_hook_t sync_hook;
extern exc_hook_t irq_hook;
#define ESR_EC(esr) (((esr) >> 26) & 0x3f)

/* ---- timer ---- */
static inline u64 cntvct(void) { isb(); return read_sysreg(cntvct_el0); }
static inline u64 cntfrq(void) { return read_sysreg(cntfrq_el0); }
u64 ms_to_ticks(u64 ms);

/* ---- GICv3 (lib.c) ---- */
u64 mpidr_aff(void);                /* MPIDR_EL1 affinity fields Aff3..Aff0 packed as in GICR_TYPER[63:32] */
void gicd_enable(void);             /* GICD_CTLR = ARE_NS | EnableGrp1A | EnableGrp1 */
u64 gicr_for_this_cpu(void);        /* RD_base of this CPU's redistributor (checks GICR_TYPER.Affinity) */
void gicr_wake(u64 rd);
void gic_enable_ppi_sgi(u64 rd, u32 intid, u8 prio);
void gic_cpu_if_init(void);         /* ICC_SRE_EL1.SRE, PMR = 0xff, BPR1 = 0, IGRPEN1 = 1 */
/* The usual set-up of the timer guests: virtual timer stopped, distributor on, this CPU's
 * redistributor awake with `intid` enabled at priority 0xa0, CPU interface on, `handler` as
 * the IRQ hook (interrupts stay masked). Returns the redistributor. */
u64 gic_setup_ppi(u32 intid, exc_hook_t handler);
/* Acknowledges the highest-priority pending group-1 interrupt (ICC_IAR1_EL1): *iar is the
 * value to write back to ICC_EOIR1_EL1, *intid its INTID. Returns 0 for a spurious
 * acknowledge (INTID 1020-1023: nothing to end). Inline: vtlat times the handler's entry. */
static inline int gic_ack(u64 *iar, u32 *intid)
{
    *iar = read_sysreg(icc_iar1_el1);
    *intid = *iar & 0xffffff;
    return !(*intid >= 1020 && *intid <= 1023);
}

/* ---- misc ---- */
extern u64 boot_dtb;                /* x0 at entry */
int check_dtb(u64 dtb);             /* checks FDT magic, prints it */
int dtb_memory(u64 dtb, u64 *base, u64 *size);  /* first /memory reg pair */
void *memset(void *d, int c, unsigned long n);
int main(u64 dtb);
void secondary_main(u64 context_id);

#endif
