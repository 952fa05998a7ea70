/* Console, reporting, exception dispatch, PSCI and GICv3 helpers for the test guests. */
#include "guest.h"

u64 boot_dtb;
exc_hook_t sync_hook;
exc_hook_t irq_hook;
static int nfail;
static char first_fail[120];

/* ---------------- console: vPL011 / SBSA UART ---------------- */
#define UART_DR 0x00
#define UART_FR 0x18
#define UART_FR_TXFF (1u << 5)

/* Set by a guest without a UART (a domain xl builds has none unless vuart= asks for
 * one): every console byte goes here instead. */
void (*console_hook)(char c);

void uart_putc(char c)
{
    if (console_hook) {
        console_hook(c);
        return;
    }
    while (mmio_read32(UART_BASE + UART_FR) & UART_FR_TXFF)
        ;
    mmio_write32(UART_BASE + UART_DR, (u8)c);
}

void uart_puts(const char *s)
{
    while (*s)
        uart_putc(*s++);
}

/* Minimal formatter writing into a sink (UART or a bounded buffer). */
struct sink { char *buf; unsigned long len, cap; };

static void emit(struct sink *s, char c)
{
    if (s->buf) {
        if (s->len + 1 < s->cap)
            s->buf[s->len++] = c;
    } else {
        uart_putc(c);
    }
}

static void emit_num(struct sink *s, u64 v, unsigned base, int neg, int width, char pad)
{
    char tmp[24];
    int n = 0;
    do {
        unsigned d = (unsigned)(v % base);
        tmp[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v /= base;
    } while (v);
    if (neg)
        tmp[n++] = '-';
    for (int i = n; i < width; i++)
        emit(s, pad);
    while (n)
        emit(s, tmp[--n]);
}

static void vformat(struct sink *s, const char *fmt, __builtin_va_list ap)
{
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            emit(s, *fmt);
            continue;
        }
        fmt++;
        char pad = ' ';
        int width = 0, lng = 0;
        if (*fmt == '0') {
            pad = '0';
            fmt++;
        }
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        while (*fmt == 'l') {
            lng = 1;
            fmt++;
        }
        switch (*fmt) {
        case 'd': {
            s64 v = lng ? __builtin_va_arg(ap, long) : __builtin_va_arg(ap, int);
            emit_num(s, v < 0 ? (u64)-v : (u64)v, 10, v < 0, width, pad);
            break;
        }
        case 'u': {
            u64 v = lng ? __builtin_va_arg(ap, unsigned long) : __builtin_va_arg(ap, unsigned int);
            emit_num(s, v, 10, 0, width, pad);
            break;
        }
        case 'x': {
            u64 v = lng ? __builtin_va_arg(ap, unsigned long) : __builtin_va_arg(ap, unsigned int);
            emit_num(s, v, 16, 0, width, pad);
            break;
        }
        case 'p':
            emit(s, '0');
            emit(s, 'x');
            emit_num(s, (u64)__builtin_va_arg(ap, void *), 16, 0, width, pad);
            break;
        case 's': {
            const char *str = __builtin_va_arg(ap, const char *);
            while (*str)
                emit(s, *str++);
            break;
        }
        case 'c':
            emit(s, (char)__builtin_va_arg(ap, int));
            break;
        case '%':
            emit(s, '%');
            break;
        case 0:
            return;
        default:
            emit(s, '%');
            emit(s, *fmt);
        }
    }
}

void kprintf(const char *fmt, ...)
{
    struct sink s = { 0, 0, 0 };
    __builtin_va_list ap;
    __builtin_va_start(ap, fmt);
    vformat(&s, fmt, ap);
    __builtin_va_end(ap);
}

void say(const char *fmt, ...)
{
    struct sink s = { 0, 0, 0 };
    __builtin_va_list ap;
    uart_puts(guest_name);
    uart_puts(": ");
    __builtin_va_start(ap, fmt);
    vformat(&s, fmt, ap);
    __builtin_va_end(ap);
    uart_putc('\n');
}

static void vfail(const char *fmt, __builtin_va_list ap)
{
    char buf[120];
    struct sink s = { buf, 0, sizeof(buf) };
    vformat(&s, fmt, ap);
    buf[s.len] = 0;
    if (nfail++ == 0) {
        for (unsigned long i = 0; i <= s.len; i++)
            first_fail[i] = buf[i];
    }
    say("FAIL: %s", buf);
}

void check_failed(const char *fmt, ...)
{
    __builtin_va_list ap;
    __builtin_va_start(ap, fmt);
    vfail(fmt, ap);
    __builtin_va_end(ap);
}

int failures(void) { return nfail; }

void finish(void)
{
    irq_disable();
    if (nfail == 0)
        kprintf("TEST PASS %s\n", guest_name);
    else if (nfail == 1)
        kprintf("TEST FAIL %s: %s\n", guest_name, first_fail);
    else
        kprintf("TEST FAIL %s: %s (+%d more)\n", guest_name, first_fail, nfail - 1);
    u64 r = hvc_call(PSCI_SYSTEM_OFF, 0, 0, 0);
    say("PSCI SYSTEM_OFF returned 0x%lx", r);
    for (;;)
        wfi();
}

void fail_now(const char *fmt, ...)
{
    __builtin_va_list ap;
    __builtin_va_start(ap, fmt);
    vfail(fmt, ap);
    __builtin_va_end(ap);
    finish();
}

void *memset(void *d, int c, unsigned long n)
{
    volatile u8 *p = d;   /* volatile: keep the compiler from turning this into a memset call */
    while (n--)
        *p++ = (u8)c;
    return d;
}

u64 ms_to_ticks(u64 ms) { return cntfrq() * ms / 1000; }

/* ---------------- exceptions ---------------- */
static const char *exc_kind_name(u64 kind)
{
    switch (kind & 3) {
    case 0: return "sync";
    case 1: return "irq";
    case 2: return "fiq";
    default: return "serror";
    }
}

void exc_dispatch(struct exc_frame *f, u64 kind)
{
    exc_hook_t hook = NULL;
    if (kind == EXC_SYNC)
        hook = sync_hook;
    else if (kind == EXC_IRQ)
        hook = irq_hook;
    if (hook && hook(f, kind))
        return;
    irq_disable();
    sync_hook = NULL;   /* a fault while reporting must not loop through the hook */
    irq_hook = NULL;
    fail_now("unexpected %s exception (vector %lu): ESR_EL1=0x%lx (EC 0x%lx) ELR_EL1=0x%lx FAR_EL1=0x%lx",
             exc_kind_name(kind), kind, f->esr, ESR_EC(f->esr), f->elr, f->far);
}

void __attribute__((weak)) secondary_main(u64 context_id)
{
    (void)context_id;
    for (;;)
        wfi();
}

/* ---------------- device tree ---------------- */
static u32 be32(u32 v) { return __builtin_bswap32(v); }

int check_dtb(u64 dtb)
{
    if (dtb == 0 || (dtb & 7) != 0) {
        check_failed("x0 at entry (0x%lx) is not an 8-byte aligned DTB address", dtb);
        return 0;
    }
    u32 magic = be32(*(volatile u32 *)dtb);
    u32 size = be32(*(volatile u32 *)(dtb + 4));
    if (magic != 0xd00dfeed) {
        check_failed("no FDT magic at x0=0x%lx (read 0x%x)", dtb, magic);
        return 0;
    }
    say("DTB at 0x%lx, %u bytes", dtb, size);
    return 1;
}

/* ---------------- GICv3 ---------------- */
#define GICD_CTLR        0x0000
#define GICD_CTLR_RWP    (1u << 31)
#define GICR_TYPER       0x0008
#define GICR_TYPER_LAST  (1u << 4)
#define GICR_WAKER       0x0014
#define GICR_IGROUPR0    0x0080
#define GICR_ISENABLER0  0x0100
#define GICR_IPRIORITYR  0x0400

u64 mpidr_aff(void)
{
    u64 m = read_sysreg(mpidr_el1);
    return (m & 0xffffff) | ((m >> 32) & 0xff) << 24;
}

void gicd_enable(void)
{
    /* ARE_NS (bit 4) | EnableGrp1A (bit 1) | EnableGrp1 (bit 0): what Linux writes */
    mmio_write32(GICD_BASE + GICD_CTLR, (1u << 4) | (1u << 1) | 1u);
    u64 t0 = cntvct();
    while (mmio_read32(GICD_BASE + GICD_CTLR) & GICD_CTLR_RWP)
        if (cntvct() - t0 > ms_to_ticks(1000))
            fail_now("GICD_CTLR.RWP stuck");
}

u64 gicr_for_this_cpu(void)
{
    u64 aff = mpidr_aff();
    for (u64 i = 0; i < 64; i++) {
        u64 rd = GICR_BASE + i * GICR_STRIDE;
        u64 typer = mmio_read64(rd + GICR_TYPER);
        if ((typer >> 32) == aff)
            return rd;
        if (typer & GICR_TYPER_LAST)
            break;
    }
    fail_now("no redistributor with affinity 0x%lx", aff);
}

void gicr_wake(u64 rd)
{
    u32 w = mmio_read32(rd + GICR_WAKER);
    mmio_write32(rd + GICR_WAKER, w & ~(1u << 1));        /* ProcessorSleep = 0 */
    u64 t0 = cntvct();
    while (mmio_read32(rd + GICR_WAKER) & (1u << 2))       /* ChildrenAsleep */
        if (cntvct() - t0 > ms_to_ticks(1000))
            fail_now("GICR_WAKER.ChildrenAsleep stuck");
}

void gic_enable_ppi_sgi(u64 rd, u32 intid, u8 prio)
{
    u64 sgi = rd + GICR_SGI_OFF;
    mmio_write32(sgi + GICR_IGROUPR0, mmio_read32(sgi + GICR_IGROUPR0) | (1u << intid));  /* Group 1 */
    u64 pa = sgi + GICR_IPRIORITYR + (intid & ~3u);
    u32 shift = (intid & 3) * 8;
    u32 p = mmio_read32(pa);
    mmio_write32(pa, (p & ~(0xffu << shift)) | ((u32)prio << shift));
    mmio_write32(sgi + GICR_ISENABLER0, 1u << intid);
}

void gic_cpu_if_init(void)
{
    write_sysreg(icc_sre_el1, read_sysreg(icc_sre_el1) | 1);
    isb();
    write_sysreg(icc_pmr_el1, 0xff);
    write_sysreg(icc_bpr1_el1, 0);
    write_sysreg(icc_igrpen1_el1, 1);
    isb();
}

u64 gic_setup_ppi(u32 intid, exc_hook_t handler)
{
    write_sysreg(cntv_ctl_el0, 0);
    gicd_enable();
    u64 rd = gicr_for_this_cpu();
    gicr_wake(rd);
    gic_enable_ppi_sgi(rd, intid, 0xa0);
    gic_cpu_if_init();
    irq_hook = handler;
    return rd;
}

/* First /memory node's first (base, size) pair, assuming the root's #address-cells and
 * #size-cells (default 2/2). Returns 0 if not found. Enough for Xen's and Apus's domU trees. */
static u32 fdt32(u64 p) { return be32(*(volatile u32 *)p); }

static int streq_prefix(u64 s, const char *prefix)
{
    for (; *prefix; prefix++, s++)
        if (*(volatile char *)s != *prefix)
            return 0;
    return 1;
}

static u64 strend(u64 s)
{
    while (*(volatile char *)s)
        s++;
    return s;
}

int dtb_memory(u64 dtb, u64 *base, u64 *size)
{
    if (fdt32(dtb) != 0xd00dfeed)
        return 0;
    u64 st = dtb + fdt32(dtb + 8), strs = dtb + fdt32(dtb + 12);
    u32 acells = 2, scells = 2;
    int depth = 0, in_memory = 0;
    u64 p = st;
    for (int guard = 0; guard < 100000; guard++) {
        u32 tag = fdt32(p);
        p += 4;
        if (tag == 1) {                     /* FDT_BEGIN_NODE */
            depth++;
            in_memory = depth == 2 && streq_prefix(p, "memory");
            p = (strend(p) + 4) & ~3ul;
        } else if (tag == 2) {              /* FDT_END_NODE */
            depth--;
            in_memory = 0;
        } else if (tag == 3) {              /* FDT_PROP */
            u32 len = fdt32(p), nameoff = fdt32(p + 4);
            u64 val = p + 8, name = strs + nameoff;
            if (depth == 1 && streq_prefix(name, "#address-cells") && len == 4)
                acells = fdt32(val);
            else if (depth == 1 && streq_prefix(name, "#size-cells") && len == 4)
                scells = fdt32(val);
            else if (in_memory && streq_prefix(name, "reg") && *(volatile char *)(name + 3) == 0 &&
                     len >= 4 * (acells + scells) && acells <= 2 && scells <= 2) {
                u64 b = 0, s = 0;
                for (u32 i = 0; i < acells; i++)
                    b = (b << 32) | fdt32(val + 4 * i);
                for (u32 i = 0; i < scells; i++)
                    s = (s << 32) | fdt32(val + 4 * (acells + i));
                *base = b;
                *size = s;
                return 1;
            }
            p = (val + len + 3) & ~3ul;
        } else if (tag == 4) {              /* FDT_NOP */
        } else {
            return 0;                       /* FDT_END or garbage */
        }
    }
    return 0;
}
