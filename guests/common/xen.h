/* Xen hypercalls and structures for the test guests (header only: nothing is linked into the
 * guests that do not include it). Layouts from xen/include/public (arm64: AAPCS64, LE,
 * xen_ulong_t and xen_pfn_t 64-bit, guest handles 8 bytes). Include after guest.h.
 *
 * Also the helpers of the micro-benchmark guests: under QEMU `-icount shift=0,sleep=off` one
 * nanosecond of guest time is one instruction, so the counter (CNTVCT_EL0, 62.5 MHz on QEMU
 * virt: 16 instructions a tick) measures instructions; results are printed as
 * "BENCH <name> <instructions per iteration, 2 decimals>". */
#ifndef GUEST_XEN_H
#define GUEST_XEN_H

typedef unsigned short u16;

/* ---- hypercall numbers (public/xen.h) ---- */
#define __HYPERVISOR_memory_op        12
#define __HYPERVISOR_multicall        13
#define __HYPERVISOR_xen_version      17
#define __HYPERVISOR_console_io       18
#define __HYPERVISOR_sysctl           35
#define __HYPERVISOR_domctl           36
#define __HYPERVISOR_grant_table_op   20
#define __HYPERVISOR_vcpu_op          24
#define __HYPERVISOR_sched_op         29
#define __HYPERVISOR_event_channel_op 32
#define __HYPERVISOR_hvm_op           34

#define XENVER_version      0
#define SCHEDOP_yield       0
#define SCHEDOP_block       1
#define SCHEDOP_shutdown    2
#define SCHEDOP_poll        3
#define SHUTDOWN_poweroff   0
#define XENMEM_add_to_physmap     7
#define XENMAPSPACE_shared_info   0
#define EVTCHNOP_bind_interdomain 0
#define EVTCHNOP_send             4
#define EVTCHNOP_alloc_unbound    6
#define EVTCHNOP_unmask           9
#define DOMID_SELF 0x7FF0u
#define XEN_EVTCHN_PPI 31       /* the event-channel upcall interrupt (INTID 31) */

#define XEN_EPERM   1
#define XEN_ENOENT  2
#define XEN_EINVAL 22
#define XEN_ENOSYS 38

/* ---- structures ---- */
struct evtchn_alloc_unbound { u16 dom, remote_dom; u32 port; };                    /* 8 bytes */
struct evtchn_bind_interdomain { u16 remote_dom; u16 pad; u32 remote_port; u32 local_port; }; /* 12 */
struct evtchn_send { u32 port; };
struct xen_add_to_physmap { u16 domid; u16 size; u32 space; u64 idx; u64 gpfn; };  /* 24 bytes */
struct sched_poll { u64 ports; u32 nr_ports; u32 pad; u64 timeout; };             /* 24 bytes */
struct sched_shutdown { u32 reason; };

/* shared_info (2-level event channels): vcpu_info[0] at 0 (48 bytes: upcall_pending u8 @0,
 * upcall_mask u8 @1, evtchn_pending_sel u64 @8), evtchn_pending[64] u64 at 48, evtchn_mask at 560. */
#define SHINFO_UPCALL_PENDING 0
#define SHINFO_PENDING_SEL    8
#define SHINFO_PENDING       48
#define SHINFO_MASK         560

/* hvc #0xEA1: number in x16, arguments in x0..x4, result in x0. Xen may clobber x0-x4 and x16
 * (debug builds do), so all of them are outputs here. */
static inline s64 xen_hc(u64 nr, u64 a0, u64 a1, u64 a2, u64 a3, u64 a4)
{
    register u64 r16 __asm__("x16") = nr;
    register u64 r0 __asm__("x0") = a0;
    register u64 r1 __asm__("x1") = a1;
    register u64 r2 __asm__("x2") = a2;
    register u64 r3 __asm__("x3") = a3;
    register u64 r4 __asm__("x4") = a4;
    __asm__ volatile("hvc #0xea1" : "+r"(r0), "+r"(r1), "+r"(r2), "+r"(r3), "+r"(r4), "+r"(r16) : : "memory");
    return (s64)r0;
}
static inline s64 xen_hc2(u64 nr, u64 a0, u64 a1) { return xen_hc(nr, a0, a1, 0, 0, 0); }

/* Atomic bit operations on a shared 64-bit word (exclusives: cortex-a57 has no LSE atomics). */
static inline void atomic_clear_bit64(volatile u64 *w, u32 bit)
{
    u64 tmp, fail;
    __asm__ volatile("1: ldaxr %0, [%2]\n"
                     "   bic %0, %0, %3\n"
                     "   stlxr %w1, %0, [%2]\n"
                     "   cbnz %w1, 1b\n"
                     : "=&r"(tmp), "=&r"(fail) : "r"(w), "r"(1UL << bit) : "memory");
}
static inline void atomic_set_bit64(volatile u64 *w, u32 bit)
{
    u64 tmp, fail;
    __asm__ volatile("1: ldaxr %0, [%2]\n"
                     "   orr %0, %0, %3\n"
                     "   stlxr %w1, %0, [%2]\n"
                     "   cbnz %w1, 1b\n"
                     : "=&r"(tmp), "=&r"(fail) : "r"(w), "r"(1UL << bit) : "memory");
}

/* Maps shared_info at guest frame gpfn (XENMEM_add_to_physmap, XENMAPSPACE_shared_info). */
static inline s64 xen_map_shared_info(u64 gpfn)
{
    static struct xen_add_to_physmap xatp;
    xatp.domid = DOMID_SELF;
    xatp.size = 0;
    xatp.space = XENMAPSPACE_shared_info;
    xatp.idx = 0;
    xatp.gpfn = gpfn;
    return xen_hc2(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, (u64)&xatp);
}

/* ---- benchmark helpers ---- */
/* Counter ticks to nanoseconds (= instructions under -icount shift=0), without overflow. */
static inline u64 bench_ticks_to_ns(u64 t)
{
    u64 f = cntfrq();
    return t / f * 1000000000UL + (t % f) * 1000000000UL / f;
}

/* Prints "BENCH <name> <ns / n with 2 decimals>" without the end of line (bench_value), or with
 * it (bench_print). */
static inline void bench_value(const char *name, u64 ns, u64 n)
{
    if (n == 0)
        n = 1;
    u64 c = (ns * 100 + n / 2) / n;
    kprintf("BENCH %s %lu.%02lu", name, c / 100, c % 100);
}
static inline void bench_print(const char *name, u64 ns, u64 n)
{
    bench_value(name, ns, n);
    kprintf("\n");
}

/* A page of RAM nothing else uses, for shared_info: past the image (+64 KiB) and past the DTB. */
static inline u64 bench_free_page(u64 dtb, u64 image_end)
{
    u64 p = ((image_end + 0xfff) & ~0xfffUL) + 0x10000;
    u64 dtb_size = __builtin_bswap32(*(volatile u32 *)(dtb + 4));
    if (p + 0x1000 > dtb && p < dtb + dtb_size)
        p = ((dtb + dtb_size + 0xfff) & ~0xfffUL) + 0x10000;
    return p;
}

#endif
