/*
 * evtping: interdomain event-channel round trip, in instructions under QEMU
 * -icount shift=0,sleep=off (see common/xen.h). Two domains run this image; the bootargs give
 * each its role: "evtping=a peer=<B's domid>" and "evtping=b peer=<A's domid>" (dom0less domUs
 * without dom0 are 1 and 2 on Xen; `apus run a.cfg b.cfg` gives 1 and 2 too).
 *
 *  1. Both map shared_info at a free page of their RAM (XENMEM_add_to_physmap,
 *     XENMAPSPACE_shared_info) to see their evtchn_pending bits.
 *  2. A: EVTCHNOP_alloc_unbound(dom = DOMID_SELF, remote_dom = peer): its first free port (1 on
 *     a plain dom0less domU; later if the hypervisor allocated console/xenstore ports first).
 *     B: EVTCHNOP_bind_interdomain(peer, p) for p = 1..63 until one binds (only the port A
 *     allocated for B does; the others fail with -EINVAL), retried with SCHEDOP_yield in between
 *     while A has not allocated it yet; then it clears the pending bit Xen sets on the new port
 *     and sends a first event.
 *  3. A times n ping-pongs: EVTCHNOP_send, wait for B's answer, clear the pending bit. B waits,
 *     clears, sends back, n times.
 *
 * Waiting (bootarg wait=): poll (default) masks the port and blocks in SCHEDOP_poll on it
 * (Linux's xen_poll_irq), so the hypervisor wakes the domain without an upcall interrupt;
 * irq unmasks the port and sleeps in WFI until the upcall PPI 31 arrives (Linux's normal path:
 * vcpu_info upcall_pending and pending_sel are cleared like its 2-level handler does); spin
 * busy-polls the pending bit (sensible only with one CPU per domain).
 *
 * A prints "BENCH evtping <instructions per round trip>" (with wait=irq: evtping-irq, with
 * wait=spin: evtping-spin). Both finish with TEST PASS/FAIL and PSCI SYSTEM_OFF.
 * /chosen/bootargs: evtping=a|b, peer=DOMID, n=N (round trips, default 2000), wait=poll|irq|spin
 * (written wait=0|1|2 is accepted too).
 */
#include "guest.h"
#include "fdt_extra.h"
#include "xen.h"

const char guest_name[] = "evtping";
extern char _image_end[];

#define VTIMER_INTID 27
enum { W_POLL, W_IRQ, W_SPIN };
static int wait_mode = W_POLL;
static u64 shinfo;
static volatile u64 upcalls, nother;

static volatile u64 *pending_word(u32 port) { return (volatile u64 *)(shinfo + SHINFO_PENDING + (port / 64) * 8); }
static volatile u64 *mask_word(u32 port) { return (volatile u64 *)(shinfo + SHINFO_MASK + (port / 64) * 8); }
static int is_pending(u32 port) { dsb(); return (*pending_word(port) >> (port % 64)) & 1; }

static int irq_handler(struct exc_frame *f, u64 kind)
{
    (void)f, (void)kind;
    u64 iar; u32 intid;
    if (!gic_ack(&iar, &intid))
        return 1;
    if (intid == XEN_EVTCHN_PPI) {
        /* as Linux's 2-level handler: upcall_pending = 0, then take pending_sel; the port
         * bits themselves are cleared by the waiter */
        *(volatile u8 *)(shinfo + SHINFO_UPCALL_PENDING) = 0;
        dsb();
        volatile u64 *sel = (volatile u64 *)(shinfo + SHINFO_PENDING_SEL);
        u64 tmp, fail;
        __asm__ volatile("1: ldaxr %0, [%2]\n   stlxr %w1, xzr, [%2]\n   cbnz %w1, 1b\n"
                         : "=&r"(tmp), "=&r"(fail) : "r"(sel) : "memory");
        upcalls++;
    } else if (intid == VTIMER_INTID) {
        write_sysreg(cntv_ctl_el0, 0);
        isb();
    } else {
        nother++;
    }
    write_sysreg(icc_eoir1_el1, iar);
    isb();
    return 1;
}

/* Waits for an event on port and clears it. */
static void wait_event(u32 port)
{
    static u32 poll_port;
    static struct sched_poll poll;
    switch (wait_mode) {
    case W_POLL:
        while (!is_pending(port)) {
            poll_port = port;
            poll.ports = (u64)&poll_port;
            poll.nr_ports = 1;
            poll.timeout = 0;
            s64 r = xen_hc2(__HYPERVISOR_sched_op, SCHEDOP_poll, (u64)&poll);
            if (r < 0)
                fail_now("SCHEDOP_poll: %ld", r);
        }
        break;
    case W_IRQ:
        irq_disable();
        while (!is_pending(port)) {
            wfi();
            irq_enable();
            isb();
            irq_disable();
        }
        irq_enable();
        break;
    default:
        while (!is_pending(port))
            ;
    }
    atomic_clear_bit64(pending_word(port), port % 64);
}

static void send(u32 port)
{
    static struct evtchn_send s;
    s.port = port;
    s64 r = xen_hc2(__HYPERVISOR_event_channel_op, EVTCHNOP_send, (u64)&s);
    if (r < 0)
        fail_now("EVTCHNOP_send(%u): %ld", port, r);
}

static const char *errname(s64 r)
{
    switch (-r) {
    case XEN_EPERM: return " (-EPERM: on Xen, XSM SILO forbids channels between domUs: boot it with xsm=dummy)";
    case XEN_ENOSYS: return " (-ENOSYS: no event channels)";
    case XEN_EINVAL: return " (-EINVAL)";
    case XEN_ENOENT: return " (-ENOENT)";
    default: return "";
    }
}

static void setup_port(u32 port)
{
    if (wait_mode == W_IRQ) {
        atomic_clear_bit64(mask_word(port), port % 64);
        static struct evtchn_send u;      /* evtchn_unmask has the same layout: { port } */
        u.port = port;
        xen_hc2(__HYPERVISOR_event_channel_op, EVTCHNOP_unmask, (u64)&u);
    } else {
        atomic_set_bit64(mask_word(port), port % 64);
    }
}

int main(u64 dtb)
{
    char args[160];
    u64 n = 2000, peer = 0, w = W_POLL;
    check_dtb(dtb);
    fdtx_bootargs(dtb, args, sizeof(args));
    fdtx_bootarg_u64(args, "n", &n);
    fdtx_bootarg_u64(args, "peer", &peer);
    int role = 0;
    for (const char *p = args; *p; p++) {
        if ((p == args || p[-1] == ' ') && p[0] == 'e' && p[1] == 'v' && p[2] == 't' && p[3] == 'p' &&
            p[4] == 'i' && p[5] == 'n' && p[6] == 'g' && p[7] == '=')
            role = p[8];
        if ((p == args || p[-1] == ' ') && p[0] == 'w' && p[1] == 'a' && p[2] == 'i' && p[3] == 't' && p[4] == '=')
            w = p[5] == 'i' || p[5] == '1' ? W_IRQ : p[5] == 's' || p[5] == '2' ? W_SPIN : W_POLL;
    }
    wait_mode = (int)w;
    if ((role != 'a' && role != 'b') || peer == 0 || peer >= 0x7ff0)
        fail_now("bootargs \"%s\": need evtping=a|b and peer=<the other domain's id>", args);
    if (n == 0)
        n = 1;
    say("bootargs \"%s\": role %c, peer %lu, %lu round trips, wait=%s", args, role, peer, n,
        wait_mode == W_POLL ? "poll" : wait_mode == W_IRQ ? "irq" : "spin");

    u64 page = bench_free_page(dtb, (u64)_image_end);
    s64 r = xen_map_shared_info(page >> 12);
    if (r < 0)
        fail_now("XENMEM_add_to_physmap(shared_info, gpfn 0x%lx): %ld%s", page >> 12, r, errname(r));
    shinfo = page;
    say("shared_info mapped at 0x%lx", page);

    /* the virtual timer (B's final sleep) always, the upcall interrupt with wait=irq */
    write_sysreg(cntv_ctl_el0, 0);
    gicd_enable();
    u64 rd = gicr_for_this_cpu();
    gicr_wake(rd);
    gic_enable_ppi_sgi(rd, VTIMER_INTID, 0xa0);
    if (wait_mode == W_IRQ)
        gic_enable_ppi_sgi(rd, XEN_EVTCHN_PPI, 0xa0);
    gic_cpu_if_init();
    irq_hook = irq_handler;

    u32 port;
    if (role == 'a') {
        static struct evtchn_alloc_unbound au;
        au.dom = DOMID_SELF;
        au.remote_dom = (u16)peer;
        r = xen_hc2(__HYPERVISOR_event_channel_op, EVTCHNOP_alloc_unbound, (u64)&au);
        if (r < 0)
            fail_now("EVTCHNOP_alloc_unbound(remote %lu): %ld%s", peer, r, errname(r));
        port = au.port;
        setup_port(port);
        say("port %u allocated for domain %lu; waiting for its first event", port, peer);
        wait_event(port);
        say("domain %lu is connected", peer);
        u64 t0 = cntvct();
        for (u64 i = 0; i < n; i++) {
            send(port);
            wait_event(port);
        }
        u64 t1 = cntvct();
        u64 ns = bench_ticks_to_ns(t1 - t0);
        say("%lu round trips: %lu ns", n, ns);
        bench_print(wait_mode == W_POLL ? "evtping" : wait_mode == W_IRQ ? "evtping-irq" : "evtping-spin", ns, n);
    } else {
        static struct evtchn_bind_interdomain bi;
        u64 tries = 0, deadline = cntvct() + ms_to_ticks(2000);
        u32 remote = 0;
        /* A's port is its first free one: 1 on a plain domain, later when the hypervisor has
         * already allocated some (the console and xenstore ports of a xen,enhanced domain).
         * Only the one A allocated for us binds; the others answer -EINVAL. */
        for (;;) {
            for (remote = 1; remote < 64; remote++) {
                bi.remote_dom = (u16)peer;
                bi.remote_port = remote;
                bi.local_port = 0;
                tries++;
                r = xen_hc2(__HYPERVISOR_event_channel_op, EVTCHNOP_bind_interdomain, (u64)&bi);
                if (r == 0 || (r != -XEN_EINVAL && r != -XEN_ENOENT))
                    break;
            }
            if (r == 0)
                break;
            if ((r != -XEN_EINVAL && r != -XEN_ENOENT) || cntvct() > deadline)
                fail_now("EVTCHNOP_bind_interdomain(domain %lu, ports 1-63): %ld%s after %lu tries", peer, r,
                         errname(r), tries);
            xen_hc2(__HYPERVISOR_sched_op, SCHEDOP_yield, 0);
        }
        port = bi.local_port;
        setup_port(port);
        /* Xen sets the new local port pending ("we may have lost notifications on the remote
         * unbound port"): that is not one of A's events. */
        atomic_clear_bit64(pending_word(port), port % 64);
        say("bound local port %u to domain %lu port %u (%lu tries)", port, peer, remote, tries);
        send(port);
        for (u64 i = 0; i < n; i++) {
            wait_event(port);
            send(port);
        }
        /* let A print its figure first (on Apus the console of one domain can cut into a line of
         * the other's): sleep 5 ms in WFI, free under icount */
        u64 until = cntvct() + ms_to_ticks(5);
        write_sysreg(cntv_cval_el0, until);
        write_sysreg(cntv_ctl_el0, 1);
        isb();
        irq_disable();
        while (cntvct() < until) {
            wfi();
            irq_enable();
            isb();
            irq_disable();
        }
        irq_enable();
        say("answered %lu events", n);

    }
    irq_disable();
    if (wait_mode == W_IRQ)
        say("%lu upcall interrupts, %lu others", upcalls, nother);
    CHECK(nother == 0, "%lu unexpected interrupts", nother);
    return 0;
}
