/* crash: a guest that crashes on purpose, the way a paravirtualised Linux reports a
 * panic to Xen: SCHEDOP_shutdown with SHUTDOWN_crash (hvc #0xEA1, x16 = 29). With
 * xl.cfg on_crash = "restart" the hypervisor must bring it back (a fresh boot: its
 * memory is zeroed), while the other domains keep running.
 *
 * At every start it reads all of its RAM outside its image and its DTB, which must be
 * zero, then writes a pattern over it before crashing: a restart that kept any of the
 * previous boot's memory prints "memory was NOT zeroed". */
#include "guest.h"
#include "fdt_extra.h"

const char guest_name[] = "crash";

u64 xen_hypercall2(u64 nr, u64 a0, u64 a1);

struct sched_shutdown { u32 reason; };
static struct sched_shutdown request;
static volatile u32 booted_before;      /* zeroed memory on every restart: stays 0 */

extern char _image_start[], _image_end[];

#define PATTERN 0xa5c3a5c3deadbeefUL

/* RAM that is not ours: every bank, less the pages of the image and of the DTB. */
static u64 bank_base[FDTX_MAX_BANKS], bank_size[FDTX_MAX_BANKS];
static int banks;
static u64 skip_lo[2], skip_hi[2];

static int skipped(u64 page)
{
    for (int i = 0; i < 2; i++)
        if (page + 4096 > skip_lo[i] && page < skip_hi[i])
            return 1;
    return 0;
}

/* Every word of the RAM that is not ours: with fill, written with the pattern; without,
 * checked to read zero. Returns the first word that did not (0 if none: no word of it is
 * at 0); *bytes counts the bytes swept before it. */
static u64 sweep(int fill, u64 *bytes)
{
    *bytes = 0;
    for (int b = 0; b < banks; b++)
        for (u64 p = bank_base[b]; p + 4096 <= bank_base[b] + bank_size[b]; p += 4096) {
            if (skipped(p))
                continue;
            for (u64 a = p; a < p + 4096; a += 8) {
                if (fill)
                    *(volatile u64 *)a = PATTERN ^ a;
                else if (*(volatile u64 *)a != 0)
                    return a;
            }
            *bytes += 4096;
        }
    return 0;
}

int main(u64 dtb)
{
    banks = fdtx_memory_banks(dtb, bank_base, bank_size, FDTX_MAX_BANKS);
    if (banks == 0)
        fail_now("no /memory banks in the DTB");
    skip_lo[0] = (u64)_image_start & ~0xfffUL;
    skip_hi[0] = ((u64)_image_end + 0xfff) & ~0xfffUL;
    u32 be = *(volatile u32 *)(dtb + 4);            /* fdt header: totalsize, big-endian */
    skip_lo[1] = dtb & ~0xfffUL;
    skip_hi[1] = (dtb + __builtin_bswap32(be) + 0xfff) & ~0xfffUL;
    u64 checked, bad = sweep(0, &checked);
    if (booted_before || bad)
        say("started (memory was NOT zeroed: 0x%lx at 0x%lx)", bad ? *(volatile u64 *)bad : 0, bad);
    else
        say("started (memory was zeroed: %lu KiB checked)", checked >> 10);
    booted_before = 1;
    u64 filled;
    sweep(1, &filled);
    for (volatile u64 i = 0; i < 2000000; i++) { }
    request.reason = 3;                 /* SHUTDOWN_crash */
    say("crashing now");
    s64 r = (s64)xen_hypercall2(29, 2 /* SCHEDOP_shutdown */, (u64)&request);
    fail_now("SCHEDOP_shutdown(crash) returned %d", (int)r);
}
