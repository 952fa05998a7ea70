/* crash: a guest that crashes on purpose, the way a paravirtualised Linux reports a
 * panic to Xen: SCHEDOP_shutdown with SHUTDOWN_crash (hvc #0xEA1, x16 = 29). With
 * xl.cfg on_crash = "restart" the hypervisor must bring it back (a fresh boot: its
 * memory is zeroed), while the other domains keep running. */
#include "guest.h"

const char guest_name[] = "crash";

u64 xen_hypercall2(u64 nr, u64 a0, u64 a1);

struct sched_shutdown { u32 reason; };
static struct sched_shutdown request;
static volatile u32 booted_before;      /* zeroed memory on every restart: stays 0 */

int main(u64 dtb)
{
    (void)dtb;
    say("started (memory was %s)", booted_before ? "NOT zeroed" : "zeroed");
    booted_before = 1;
    for (volatile u64 i = 0; i < 2000000; i++) { }
    request.reason = 3;                 /* SHUTDOWN_crash */
    say("crashing now");
    s64 r = (s64)xen_hypercall2(29, 2 /* SCHEDOP_shutdown */, (u64)&request);
    fail_now("SCHEDOP_shutdown(crash) returned %d", (int)r);
}
