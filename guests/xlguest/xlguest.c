/*
 * xlguest: a domain that Debian's `xl create` builds in dom0 (issue 12). It has no UART:
 * its console is the PV console ring xenconsoled serves, found as Xen's toolstack leaves
 * it (HVM params CONSOLE_PFN and CONSOLE_EVTCHN, the ring at Xen's magic page). It checks
 * the boot protocol libxl gave it (x0 = a DTB with its memory), prints its verdict there
 * and powers off with PSCI SYSTEM_OFF, after which xl destroys it (on_poweroff).
 * Bootargs (xl.cfg extra=): hold=MS keeps it running that long first (yielding its CPU),
 * so that dom0 sees it in `xl list`; crash=1 ends it with SCHEDOP_shutdown(SHUTDOWN_crash)
 * instead, as a paravirtualised kernel reports a panic (xl applies on_crash).
 */
#include "guest.h"
#include "fdt_extra.h"
#include "xen.h"

#define HVMOP_get_param          1
#define HVM_PARAM_CONSOLE_PFN   17
#define HVM_PARAM_CONSOLE_EVTCHN 18

/* struct xencons_interface: in[1024], out[2048], then the four indexes. */
#define CONS_OUT      1024
#define CONS_OUT_SIZE 2048
#define CONS_OUT_CONS 3080
#define CONS_OUT_PROD 3084

struct hvm_param { u16 domid; u16 pad; u32 index; u64 value; };

const char guest_name[] = "xlguest";

static volatile u8 *ring;
static u32 port;

static s64 get_param(u32 index, u64 *value)
{
    static struct hvm_param p;
    p.domid = DOMID_SELF;
    p.index = index;
    s64 r = xen_hc2(__HYPERVISOR_hvm_op, HVMOP_get_param, (u64)&p);
    *value = p.value;
    return r;
}

static void notify(void)
{
    static u32 send;
    send = port;
    xen_hc2(__HYPERVISOR_event_channel_op, EVTCHNOP_send, (u64)&send);
}

static u32 index_read(u32 off) { dsb(); return *(volatile u32 *)(ring + off); }

static void pv_putc(char c)
{
    u32 prod = index_read(CONS_OUT_PROD);
    /* Full: xenconsoled drains it once told. */
    while (prod - index_read(CONS_OUT_CONS) >= CONS_OUT_SIZE) {
        notify();
        xen_hc2(__HYPERVISOR_sched_op, SCHEDOP_yield, 0);
    }
    ring[CONS_OUT + (prod & (CONS_OUT_SIZE - 1))] = (u8)c;
    dsb();
    *(volatile u32 *)(ring + CONS_OUT_PROD) = prod + 1;
    dsb();
    if (c == '\n')
        notify();
}

int main(u64 dtb)
{
    u64 pfn = 0, evtchn = 0;
    if (get_param(HVM_PARAM_CONSOLE_PFN, &pfn) != 0 || get_param(HVM_PARAM_CONSOLE_EVTCHN, &evtchn) != 0 || pfn == 0)
        finish();                         /* nowhere to say anything: powers off at once */
    ring = (volatile u8 *)(pfn << 12);
    port = (u32)evtchn;
    console_hook = pv_putc;
    say("console ring at gfn %x, event channel %u", (u32)pfn, port);

    u64 base = 0, size = 0;
    if (!check_dtb(dtb))
        check_failed("x0 is not a device tree");
    else if (!dtb_memory(dtb, &base, &size))
        check_failed("no memory node");
    else
        say("memory %x+%x MiB", (u32)base, (u32)(size >> 20));
    s64 v = xen_hc2(__HYPERVISOR_xen_version, XENVER_version, 0);
    say("running on Xen %d.%d", (int)(v >> 16), (int)(v & 0xffff));

    static char args[256];
    u64 hold = 0;
    fdtx_bootargs(dtb, args, sizeof(args));
    fdtx_bootarg_u64(args, "hold", &hold);
    if (hold) {
        say("holding %u ms", (u32)hold);
        u64 end = cntvct() + ms_to_ticks(hold);
        while (cntvct() < end)
            xen_hc2(__HYPERVISOR_sched_op, SCHEDOP_yield, 0);
    }
    u64 crash = 0;
    fdtx_bootarg_u64(args, "crash", &crash);
    if (crash) {
        static u32 reason = 3;              /* SHUTDOWN_crash */
        say("crashing on purpose");
        xen_hc2(__HYPERVISOR_sched_op, SCHEDOP_shutdown, (u64)&reason);
        fail_now("still running after SCHEDOP_shutdown(crash)");
    }
    finish();
}
