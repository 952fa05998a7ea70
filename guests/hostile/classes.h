/*
 * hostile: attack classes (g)-(m), included by hostile.c (they use its PRNG, its exception
 * bookkeeping and its probes). All are off unless bootarg more=PCT is given: that share of the
 * random operations is drawn from the classes named by classes=MASK (default 0x1ff, all), so
 * runs without more= keep their exact random sequence.
 *
 *  (g) 0x01 every vCPU at once: the other vCPUs stop waiting in WFI and attack while vCPU 0 does
 *      its own operations: random Xen hypercalls with arguments in their own slice of the
 *      scratch area, PSCI queries (AFFINITY_INFO, FEATURES, VERSION), SGIs to themselves, to
 *      vCPU 0 and to all (INTIDs 2-13), reads of the distributor, SCHEDOP_yield.
 *  (h) 0x02 lifecycle: vCPU 0 calls CPU_ON on the other vCPUs (and absent ones) while they call
 *      CPU_OFF on themselves at random (with (g)); with life_ms=MS each boot that starts before
 *      the board's counter reaches MS ms checks that the RAM it wrote before the previous boot
 *      ended reads zero again, writes it, starts its other vCPUs hammering hypercalls and then
 *      reboots (SCHEDOP_shutdown reboot, PSCI SYSTEM_RESET) or crashes (SCHEDOP_shutdown crash),
 *      from vCPU 0 or from another vCPU in mid-attack (lifeact=MASK: 1 reboot, 2 reset, 4 crash,
 *      8 suspend and 16 poweroff through SCHEDOP_shutdown, which end the domain for good: the
 *      boot that does one of those prints no verdict).
 *  (i) 0x04 its own RAM: hypercall pointers and gfns inside its RAM (a victim region between the
 *      image and the scratch area, 2 MiB blocks it has not touched yet included): xen_version
 *      buffers, add_to_physmap(shared_info) over its own gfns, setup_table frame lists, runstate
 *      areas and vcpu_info, hvm params, event-channel structs, multicalls.
 *  (j) 0x08 a cooperating peer (bootarg peer=DOMID, a second hostile with peer= naming this one):
 *      each grants 16 pages to the other (even refs read-only, a mailbox with its unbound port in
 *      ref 8), maps and unmaps batches of up to 16 of the peer's grants (read-only ones also
 *      asked for writable: that must fail), grant-copies in batches both ways (into read-only
 *      grants: must fail; offsets and lengths past the page), binds to the peer's port, sends,
 *      closes and allocates again. The peer may reboot at any time (its own life_ms).
 *  (k) 0x10 XenStore and PV console rings: valid requests (writes, reads, deep paths up to 3000
 *      bytes, directory of other domains, permissions), transaction storms, watch storms with
 *      writes that fire them, privileged and unknown request types, and, rarely, malformed
 *      headers (oversized length) and ring indexes; console output with in/out index abuse.
 *  (l) 0x20 the emulated PL011: every offset and access size (writes spare DR, IBRD, FBRD, LCR_H
 *      and CR, which the guest needs for its own output).
 *  (m) 0x40 traps: UDF, HLT, DCPS, SVC at EL1 (each must raise exactly its exception);
 *      instruction fetches inside its own RAM (untouched blocks read as zero: UDF #0); one
 *      instruction at EL0 (hvc, smc, svc, EL1 system registers, loads outside RAM, which must
 *      come back as a data abort from a lower EL with the right FAR, loads of its RAM and of
 *      the distributor, DC CIVAC). With el0irq=N, each EL0 instruction is preceded by arming
 *      the virtual timer 0..N-1 ticks ahead (swept), so that its interrupt lands at every point
 *      of the way into EL0 and back (instruction-precise under icount). Every EL0 round trip
 *      must come back from the EL0 code (ELR_EL1 at its instruction or the SVC after it).
 *  (n) 0x80 BRK at EL1 and at EL0: a software breakpoint exception (EC 0x3c) at the BRK, as
 *      Linux expects for its BUG()/WARN() (brk #0x800), not an undefined instruction.
 *  (o) 0x100 stage-1 table walks inside its RAM: for one load the guest turns its MMU on with
 *      an identity map (1 GiB blocks: devices, RAM) whose third entry is a table in a 2 MiB
 *      block of its own RAM that nobody has written (zero: every entry invalid), or in RAM it
 *      has touched and zeroed, or outside its RAM. The walk's stage-2 fault on an untouched
 *      block must be resolved by the hypervisor (populate, retry) so that the guest sees its
 *      own level-2 translation fault (EC 0x25, DFSC 0x06, FAR = the address); a table outside
 *      RAM may give any data abort at that address.
 * Not done: stage-1 table walks that fault inside RAM (the guest runs with its MMU off).
 *
 * The totals line "classes: g=N h=N i=N j=N k=N l=N m=N n=N o=N" counts the operations of each class.
 */

#define MC_SMP    0x01
#define MC_LIFE   0x02
#define MC_OWNRAM 0x04
#define MC_PEER   0x08
#define MC_RINGS  0x10
#define MC_UART   0x20
#define MC_TRAPS  0x40
#define MC_BRK    0x80
#define MC_WALK   0x100
#define MC_ALL    0x1ff
#define NCLASS 9

static u64 opt_more, opt_classes = MC_ALL, opt_peer, opt_life_ms, opt_lifeact = 7, opt_el0irq;
static u64 rng_seed_head;       /* first 8 bytes of /chosen/rng-seed (life_boot prints it) */
static u64 mc_count[NCLASS];                /* vCPU 0's operations per class; (g) from g_ops */
static volatile u64 g_ops[MAXCPU], g_offs[MAXCPU];
static volatile u32 sec_attack;              /* the other vCPUs attack while 1 */
static int mc_on(u64 bit) { return opt_more && (opt_classes & bit); }

#define BLK 0x200000UL
static u64 fetch_lo, fetch_hi, walk_lo, walk_hi, peer_lo, map_lo, victim_lo, victim_hi;
static int regions_ok;

static inline void w16(u64 a, u64 v) { *(volatile u16 *)a = (u16)v; }
static inline void w32(u64 a, u64 v) { *(volatile u32 *)a = (u32)v; }
static inline void w64(u64 a, u64 v) { *(volatile u64 *)a = v; }
static inline u64 r16(u64 a) { return *(volatile u16 *)a; }
static inline u64 r32(u64 a) { return *(volatile u32 *)a; }
static inline u64 r64(u64 a) { return *(volatile u64 *)a; }
static inline void dmb_ish(void) { __asm__ volatile("dmb ish" ::: "memory"); }

/* Own RAM between the image and the scratch area, in 2 MiB blocks: 2 for instruction fetches
 * and 2 for stage-1 tables (never written by anyone), 1 for the peer (grant table frame,
 * granted pages, copy buffers, argument structs), 1 where the peer's grants are mapped, the
 * rest is the victim region of (i). */
static void regions_init(void)
{
    u64 lo = ((img_hi + BLK - 1) & ~(BLK - 1)) + BLK, hi = scratch_lo & ~(BLK - 1);
    if (!scratch_hi || hi < lo + 8 * BLK)
        return;
    fetch_lo = lo;
    fetch_hi = lo + 2 * BLK;
    walk_lo = fetch_hi;
    walk_hi = walk_lo + 2 * BLK;
    peer_lo = walk_hi;
    map_lo = peer_lo + BLK;
    victim_lo = map_lo + BLK;
    victim_hi = hi;
    regions_ok = 1;
}
#define ARGP (peer_lo + 48 * 4096UL)        /* hypercall argument structs of (j) and (k) */

static u64 ms_now(void) { return cntvct() / (cntfrq() / 1000); }

static s64 evt_send(u64 port)
{
    w32(ARGP + 4000, port);
    return xen_hc(__HYPERVISOR_event_channel_op, EVTCHNOP_send, ARGP + 4000, 0, 0, 0);
}

/* ---------------- (g) the other vCPUs ---------------- */
static u64 sec_rnd(u64 *s)
{
    u64 x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* One attack from a vCPU other than 0: nothing here can fault. */
static void sec_attack_once(u32 cpu, u64 *s)
{
    u64 slice = scratch_lo + (u64)cpu * 0x8000, r = sec_rnd(s);
    g_ops[cpu]++;
    switch (r % 8) {
    case 0: {                                    /* SGIs 2-13: self, vCPU 0, everyone (IRM) */
        u64 id = 2 + (r >> 8) % 12, v;
        u64 t = (r >> 16) % 3;
        v = t == 2 ? 1UL << 40 : 1UL << (t == 0 ? cpu : 0);
        write_sysreg(icc_sgi1r_el1, id << 24 | v);
        isb();
        break;
    }
    case 1: {
        static const u64 fids[] = { PSCI_VERSION, PSCI_AFFINITY_INFO, 0x8400000a /* FEATURES */, 0x80000000,
                                    0x80000001, 0x84000006 /* MIGRATE_INFO_TYPE */ };
        u64 f = fids[(r >> 8) % 6];
        hvc_call(f, f == 0x8400000a ? fids[(r >> 16) % 6] : (r >> 16) % 8, 0, 0);
        break;
    }
    case 2:
        (void)mmio_read32(GICD_BASE + ((r >> 8) % 3) * 4);     /* CTLR, TYPER, IIDR */
        break;
    case 3:
        xen_hc(__HYPERVISOR_sched_op, SCHEDOP_yield, 0, 0, 0, 0);
        break;
    default: {                                   /* a hypercall with arguments in our slice */
        static const u64 nrs[] = { 17, 20, 32, 24, 34, 12, 13 };
        u64 nr = nrs[(r >> 8) % 7], cmd = (r >> 16) % 16, p = slice + ((r >> 24) % 0x7000 & ~7UL);
        for (u64 k = 0; k < 8; k++) {
            u64 w = sec_rnd(s);
            u64 v = (w & 3) == 0 ? slice + (w >> 8) % 0x7000 : (w & 3) == 1 ? 0x7ff0 : (w & 3) == 2 ? (w >> 8) % 64
                                                                                                   : slice >> 12;
            w64(p + 8 * k, v);
        }
        if (nr == 24 && cmd <= 2)
            cmd = 3;
        if (nr == 12 && cmd != 7)
            cmd = 3 + (r >> 32) % 3;                 /* only queries, and add_to_physmap over the slice */
        if (nr == 13) {                          /* multicall: one xen_version entry */
            w64(p, 17);
            w64(p + 16, cmd % 12);
            w64(p + 24, slice + 0x7800);
            cmd = p;
            p = 1;
        }
        if (nr == 32 && cmd == 10)
            cmd = 5;                             /* not EVTCHNOP_reset: (j) and (k) keep their ports */
        s64 ret = xen_hc(nr, cmd, p, (r >> 40) % 4, 0, 0);
        if (ret < 0)
            g_offs[cpu]++;
        break;
    }
    }
}

static void sec_attack_loop(u32 cpu, u64 ctx)
{
    u64 s = opt_seed ^ (0x9e3779b97f4a7c15UL * (cpu + 1)) ^ cntvct() ^ ctx;
    if (!s)
        s = 1;
    while (flag_read(&sec_attack)) {
        sec_attack_once(cpu, &s);
        if ((opt_classes & MC_LIFE) && sec_rnd(&s) % 400 == 0) {
            irq_disable();
            hvc_call(PSCI_CPU_OFF, 0, 0, 0);     /* vCPU 0 will CPU_ON us again (h) */
        }
    }
}

/* ---------------- (h) lifecycle ---------------- */
static volatile u32 life_go;                 /* the other vCPU takes the lifecycle action */
static volatile u64 life_action;

static void life_act(u64 a)
{
    static struct { u32 reason; } req __attribute__((aligned(8)));
    if (a == 1) {
        hvc_call(0x84000009 /* SYSTEM_RESET */, 0, 0, 0);
        return;
    }
    /* SHUTDOWN_reboot, SHUTDOWN_crash, SHUTDOWN_suspend, SHUTDOWN_poweroff */
    req.reason = a == 0 ? 1 : a == 2 ? 3 : a == 3 ? 2 : 0;
    xen_hc(__HYPERVISOR_sched_op, SCHEDOP_shutdown, (u64)&req, 0, 0, 0);
}

/* Called at boot with life_ms: returns only when the board's counter is past life_ms. */
static void life_boot(u64 dtb_lo, u64 dtb_hi)
{
    u64 now = ms_now();
    if (now >= opt_life_ms)
        return;
    /* the first word of every 2 MiB block past the image: written below, must be zero again */
    u64 lo = ((img_hi + BLK - 1) & ~(BLK - 1)), hi = scratch_hi ? scratch_lo : lo, bad = 0, n = 0;
    for (u64 a = lo; a < hi; a += BLK, n++)
        if (!(a >= dtb_lo && a < dtb_hi) && r64(a) != 0 && !bad)
            bad = a;
    if (bad) {
        say("life: boot at %lu ms: memory was NOT zeroed: 0x%lx at 0x%lx", now, r64(bad), bad);
        fail_now("a restarted domain found the previous boot's RAM");
    }
    for (u64 a = lo; a < hi; a += BLK)
        if (!(a >= dtb_lo && a < dtb_hi))
            w64(a, 0x6c6966650000UL | a);
    u64 acts[5], na = 0;
    for (u64 k = 0; k < 5; k++)
        if (opt_lifeact & (1UL << k))
            acts[na++] = k;
    if (!na)
        return;
    u64 a = acts[(cntvct() >> 4) % na];
    int from_other = ncpu > 1 && (cntvct() >> 6) % 2;
    /* the boot's rng-seed (its first 8 bytes): every boot must get its own */
    say("life: boot at %lu ms, %lu blocks read zero; %s from vCPU %d; rng-seed %lx", now, n,
        a == 0 ? "reboot" : a == 1 ? "SYSTEM_RESET" : a == 2 ? "crash" : a == 3 ? "suspend" : "poweroff", from_other,
        rng_seed_head);
    /* the other vCPUs hammer hypercalls meanwhile; one of them may do it */
    life_action = a;
    flag_write(&sec_attack, 1);
    for (int c = 1; c < ncpu && c < MAXCPU; c++)
        hvc_call(PSCI_CPU_ON, (u64)c, (u64)secondary_entry, 0x11fe00 | (u64)c);
    if (from_other) {
        flag_write(&life_go, 1);
        u64 s = cntvct() | 1, end = cntvct() + ms_to_ticks(2000);
        while (cntvct() < end)
            sec_attack_once(0, &s);              /* until the domain goes away under us */
        say("life: the other vCPU did not end the boot within 2 s");
    }
    for (volatile int i = 0; i < 20000; i++)
        ;
    life_act(a);
    fail_now("lifecycle action %lu returned", a);
}

static u64 h_on, h_ok;
static void op_life(void)
{
    u64 c = rndn(8) == 0 ? ncpu + rndn(4) : 1 + rndn(ncpu > 1 ? ncpu - 1 : 1);
    if (rndn(3) == 0) {
        hvc_call(PSCI_AFFINITY_INFO, c, 0, 0);
        return;
    }
    s64 r = (s64)hvc_call(PSCI_CPU_ON, c, (u64)secondary_entry, 0x77e00 | c);
    h_on++;
    h_ok += r == 0;
}

/* ---------------- (i) its own RAM ---------------- */
static u64 i_zero, i_neg, i_vinfo;
static u64 victim_ptr(void)
{
    u64 span = victim_hi - victim_lo;
    switch (rndn(4)) {
    case 0: return victim_hi - 8 * (1 + rndn(8));                              /* running off the region */
    case 1: return victim_lo + rndn(span / BLK) * BLK + BLK - 8 * (1 + rndn(4)); /* into the next block */
    default: return victim_lo + (rndn(span) & ~7UL);
    }
}
static u64 victim_gfn(void) { return (victim_lo + rndn(victim_hi - victim_lo)) >> 12; }

static void op_ownram(void)
{
    u64 p = victim_ptr();
    int write = rndn(4) != 0;          /* else: the hypervisor reads what is there (maybe an untouched block) */
    s64 r = 0;
    switch (rndn(9)) {
    case 0: case 1:
        r = xen_hc(__HYPERVISOR_xen_version, rndn(12), p, 0, 0, 0);
        break;
    case 2:                                         /* add_to_physmap(shared_info or no such space) */
        if (write) {
            w16(p, DOMID_SELF);
            w16(p + 2, 0);
            u64 space = rndn(2) ? 0 : 2 + rndn(8);
            if (space == 1 && mc_on(MC_PEER))
                space = 0;
            w32(p + 4, space);
            w64(p + 8, rndn(4));
            w64(p + 16, victim_gfn());
        }
        r = xen_hc(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, p, 0, 0, 0);
        break;
    case 3:                                         /* setup_table / query_size */
        if (write) {
            w16(p, DOMID_SELF);
            w32(p + 4, 1 + rndn(4));
            w64(p + 8, 0);
            w64(p + 16, victim_ptr());
        }
        r = xen_hc(__HYPERVISOR_grant_table_op, rndn(2) ? 2 : 6, p, 1, 0, 0);
        break;
    case 4:                                         /* runstate area / vcpu_info in our RAM */
        if (rndn(4) == 0) {
            w64(p, victim_gfn());
            w32(p + 8, rndn(4096 - 64) & ~63UL);
            w32(p + 12, 0);
            r = xen_hc(__HYPERVISOR_vcpu_op, 10, rndn(ncpu), p, 0, 0);
            i_vinfo += r == 0;
        } else {
            w64(p, victim_ptr());
            r = xen_hc(__HYPERVISOR_vcpu_op, 5, rndn(ncpu), p, 0, 0);
        }
        break;
    case 5:                                         /* hvm params */
        if (write) {
            w16(p, DOMID_SELF);
            w32(p + 4, rndn(40));
            w64(p + 8, rndn(2) ? victim_gfn() : rndn(64));
        }
        r = xen_hc(__HYPERVISOR_hvm_op, rndn(3) ? 1 : 0, p, 0, 0, 0);
        break;
    case 6: {                                       /* event channels, not close/reset */
        u64 cmd = rndn(13);
        if (cmd == 3 || cmd == 10)
            cmd = 5;
        if (write)
            for (int k = 0; k < 4; k++)
                w64(p + 8 * k, rndn(2) ? rndn(64) : DOMID_SELF | (u64)rndn(64) << 32);
        r = xen_hc(__HYPERVISOR_event_channel_op, cmd, p, 0, 0, 0);
        break;
    }
    case 7: {                                       /* multicall, entries in our RAM */
        u64 n = 1 + rndn(8);
        p = victim_lo + (rndn(victim_hi - victim_lo - 64 * n) & ~7UL);
        for (u64 k = 0; k < n; k++) {
            w64(p + 64 * k, rndn(2) ? 17 : 32);
            w64(p + 64 * k + 8, 0);
            w64(p + 64 * k + 16, rndn(2) ? rndn(12) : 5);
            w64(p + 64 * k + 24, victim_ptr());
            for (int j = 4; j < 8; j++)
                w64(p + 64 * k + 8 * j, rndn(64));
        }
        r = xen_hc(__HYPERVISOR_multicall, p, n, 0, 0, 0);
        break;
    }
    default:                                        /* XENVER_get_features reads and writes at p */
        r = xen_hc(__HYPERVISOR_xen_version, 6, p, 0, 0, 0);
        break;
    }
    if (r == 0)
        i_zero++;
    else if (r < 0)
        i_neg++;
}

/* ---------------- (j) the cooperating peer ---------------- */
#define G_REF0 8
#define G_NREF 16
#define MAILBOX_MAGIC 0x686f7374696c6521UL
#define GPAGE(i) (peer_lo + (1 + (u64)(i)) * 4096)      /* granted page i (ref G_REF0 + i) */
#define LBUF(i) (peer_lo + (32 + (u64)(i)) * 4096)      /* local copy buffers */
static u64 j_local_port, j_peer_port;
static u32 j_bound[8];
static int j_nbound;
struct jmap { u64 addr; u32 handle, used; };
static struct jmap jmaps[16];
static u64 j_maps, j_map_ok, j_unmaps, j_unmap_ok, j_copies, j_copy_ok, j_binds, j_bind_ok, j_sends, j_closes,
    j_mailbox;

static void j_publish(void)
{
    u64 gt = peer_lo;
    w16(ARGP, DOMID_SELF);
    w16(ARGP + 2, 0);
    w32(ARGP + 4, 1);                                   /* XENMAPSPACE_grant_table */
    w64(ARGP + 8, 0);
    w64(ARGP + 16, gt >> 12);
    xen_hc(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, ARGP, 0, 0, 0);
    for (u64 i = 0; i < G_NREF; i++) {
        u64 e = gt + 8 * (G_REF0 + i);
        w16(e + 2, opt_peer);
        w32(e + 4, GPAGE(i) >> 12);
        dmb_ish();
        w16(e, 1 | (i % 2 == 0 ? 4 : 0));               /* permit_access, even refs read-only */
    }
    if (!j_local_port) {
        w16(ARGP, DOMID_SELF);
        w16(ARGP + 2, opt_peer);
        w32(ARGP + 4, 0);
        if (xen_hc(__HYPERVISOR_event_channel_op, EVTCHNOP_alloc_unbound, ARGP, 0, 0, 0) == 0)
            j_local_port = r32(ARGP + 4);
    }
    w64(GPAGE(0), MAILBOX_MAGIC);
    w64(GPAGE(0) + 8, j_local_port);
    w64(GPAGE(0) + 16, cntvct());
}

static void j_map_batch(void)
{
    u64 n = 1 + rndn(16), p = ARGP;
    u32 slot[16];
    for (u64 k = 0; k < n; k++) {
        u32 s = rndn(16);
        for (int t = 0; t < 16 && jmaps[s].used && rndn(20); t++)
            s = (s + 1) % 16;                          /* a free slot, but sometimes a mapped one */
        slot[k] = s;
        u64 ref = rndn(8) == 0 ? rndn(64) : G_REF0 + rndn(G_NREF);
        u64 dom = rndn(10) == 0 ? (rndn(2) ? DOMID_SELF : rndn(8)) : opt_peer;
        w64(p + 32 * k, map_lo + s * 4096UL);
        w32(p + 32 * k + 8, 2 | (rndn(2) ? 4 : 0));   /* GNTMAP_host_map, maybe readonly */
        w32(p + 32 * k + 12, ref);
        w16(p + 32 * k + 16, dom);
        w16(p + 32 * k + 18, 0);
        w32(p + 32 * k + 20, 0);
        w64(p + 32 * k + 24, 0);
    }
    xen_hc(__HYPERVISOR_grant_table_op, 0, p, n, 0, 0);
    j_maps += n;
    for (u64 k = 0; k < n; k++) {
        s64 st = (short)r16(p + 32 * k + 18);
        if (st != 0)
            continue;
        j_map_ok++;
        u32 flags = r32(p + 32 * k + 8), ref = r32(p + 32 * k + 12), dom = r16(p + 32 * k + 16);
        if (!(flags & 4) && dom == opt_peer && ref >= G_REF0 && ref < G_REF0 + G_NREF && ref % 2 == 0)
            check_failed("(j) a read-only grant (ref %u of d%lu) was mapped writable", ref, opt_peer);
        if (jmaps[slot[k]].used)
            continue;                                  /* a second mapping at the same address */
        jmaps[slot[k]].used = 1;
        jmaps[slot[k]].addr = r64(p + 32 * k);
        jmaps[slot[k]].handle = r32(p + 32 * k + 20);
        /* the page is readable (the peer may have gone meanwhile: an abort is then fine) */
        arm(ARM_INSN, hp_ldrx_insn);
        hp_ldrx(jmaps[slot[k]].addr + rndn(512) * 8, 0);
        disarm();
        if (!(flags & 4) && ref % 2 == 1) {
            arm(ARM_INSN, hp_strx_insn);
            hp_strx(jmaps[slot[k]].addr + 64 + (rndn(4000) & ~7UL) % 4000, rnd());
            disarm();
        }
    }
}

static void j_unmap_batch(void)
{
    u64 n = 0, p = ARGP;
    u32 slot[17];
    for (u32 s = 0; s < 16; s++)
        if (jmaps[s].used && rndn(4)) {
            w64(p + 24 * n, jmaps[s].addr);
            w64(p + 24 * n + 8, 0);
            w32(p + 24 * n + 16, jmaps[s].handle);
            w32(p + 24 * n + 20, 0);
            slot[n++] = s;
        }
    if (rndn(4) == 0) {                              /* a handle that is not ours, or the wrong address */
        w64(p + 24 * n, map_lo + rndn(16) * 4096);
        w64(p + 24 * n + 8, 0);
        w32(p + 24 * n + 16, rndn(2) ? rndn(64) : rnd());
        w32(p + 24 * n + 20, 0);
        slot[n++] = 99;
    }
    if (!n)
        return;
    xen_hc(__HYPERVISOR_grant_table_op, 1, p, n, 0, 0);
    j_unmaps += n;
    for (u64 k = 0; k < n; k++) {
        s64 st = (short)r16(p + 24 * k + 20);
        j_unmap_ok += st == 0;
        if (slot[k] != 99)
            jmaps[slot[k]].used = 0;                   /* done, or gone with the peer */
    }
}

static void j_copy_batch(void)
{
    u64 n = 1 + rndn(16), p = ARGP;
    int ro_dest[16];
    for (u64 k = 0; k < n; k++) {
        u64 e = p + 40 * k;
        u64 len = rndn(4) ? 1 + rndn(4096) : rndn(8), soff = rndn(4096), doff = rndn(4096);
        if (rndn(3))
            soff = doff = 0;
        u64 lb = LBUF(rndn(16)) >> 12;
        u64 peer_ref = G_REF0 + rndn(G_NREF);
        int from_peer = rndn(2);
        if (from_peer) {                              /* peer's grant -> our page */
            w64(e, peer_ref);
            w16(e + 8, opt_peer);
            w16(e + 10, soff);
            w64(e + 16, lb);
            w16(e + 24, DOMID_SELF);
            w16(e + 26, doff);
            w16(e + 34, 1);                           /* GNTCOPY_source_gref */
        } else {                                      /* our page -> peer's grant */
            w64(e, lb);
            w16(e + 8, DOMID_SELF);
            w16(e + 10, soff);
            w64(e + 16, peer_ref);
            w16(e + 24, opt_peer);
            w16(e + 26, doff);
            w16(e + 34, 2);                           /* GNTCOPY_dest_gref */
        }
        ro_dest[k] = !from_peer && peer_ref % 2 == 0;
        w16(e + 32, len);
        w16(e + 36, 0);
    }
    xen_hc(__HYPERVISOR_grant_table_op, 5, p, n, 0, 0);
    j_copies += n;
    for (u64 k = 0; k < n; k++) {
        s64 st = (short)r16(p + 40 * k + 36);
        j_copy_ok += st == 0;
        u64 len = r16(p + 40 * k + 32), doff = r16(p + 40 * k + 26), soff = r16(p + 40 * k + 10);
        if (st == 0 && ro_dest[k] && len)
            check_failed("(j) a grant copy into read-only ref %lu of d%lu succeeded", r64(p + 40 * k + 16), opt_peer);
        if (st == 0 && (doff + len > 4096 || soff + len > 4096))
            check_failed("(j) a grant copy past the page succeeded (offsets %lu/%lu, length %lu)", soff, doff, len);
    }
}

static void j_events(void)
{
    switch (rndn(5)) {
    case 0: {                                        /* the peer's port, from its mailbox */
        w64(ARGP, G_REF0);
        w16(ARGP + 8, opt_peer);
        w16(ARGP + 10, 0);
        w64(ARGP + 16, LBUF(0) >> 12);
        w16(ARGP + 24, DOMID_SELF);
        w16(ARGP + 26, 0);
        w16(ARGP + 32, 24);
        w16(ARGP + 34, 1);
        w16(ARGP + 36, 0);
        xen_hc(__HYPERVISOR_grant_table_op, 5, ARGP, 1, 0, 0);
        if ((short)r16(ARGP + 36) == 0 && r64(LBUF(0)) == MAILBOX_MAGIC) {
            j_peer_port = r64(LBUF(0) + 8);
            j_mailbox++;
        }
        if (j_nbound < 8 && (j_peer_port || rndn(4) == 0)) {
            w16(ARGP, opt_peer);
            w32(ARGP + 4, j_peer_port ? j_peer_port : rndn(64));
            w32(ARGP + 8, 0);
            s64 r = xen_hc(__HYPERVISOR_event_channel_op, EVTCHNOP_bind_interdomain, ARGP, 0, 0, 0);
            j_binds++;
            if (r == 0) {
                j_bind_ok++;
                j_bound[j_nbound++] = r32(ARGP + 8);
            }
        }
        break;
    }
    case 1: case 2:                                  /* sends, a burst */
        for (int k = 0; k < 1 + (int)rndn(32); k++) {
            u64 port = j_nbound && rndn(4) ? j_bound[rndn(j_nbound)] : rndn(4) ? j_local_port : rndn(64);
            evt_send(port);
            j_sends++;
        }
        break;
    case 3:                                          /* close one, or our unbound port */
        if (j_nbound && rndn(2)) {
            u32 k = rndn(j_nbound);
            w32(ARGP, j_bound[k]);
            xen_hc(__HYPERVISOR_event_channel_op, 3, ARGP, 0, 0, 0);
            j_bound[k] = j_bound[--j_nbound];
        } else if (j_local_port && rndn(8) == 0) {
            w32(ARGP, j_local_port);
            xen_hc(__HYPERVISOR_event_channel_op, 3, ARGP, 0, 0, 0);
            j_local_port = 0;
            j_publish();
        }
        j_closes++;
        break;
    default:
        w32(ARGP, j_nbound ? j_bound[0] : j_local_port);
        xen_hc(__HYPERVISOR_event_channel_op, 5 /* status */, ARGP, 0, 0, 0);
        break;
    }
}

static void op_peer(void)
{
    switch (rndn(10)) {
    case 0: j_publish(); break;
    case 1: case 2: j_map_batch(); break;
    case 3: case 4: j_unmap_batch(); break;
    case 5: case 6: j_copy_batch(); break;
    default: j_events(); break;
    }
}

/* ---------------- (k) XenStore and PV console rings ---------------- */
static u64 k_store, k_store_port, k_cons, k_cons_port;
static u64 k_msgs, k_bytes, k_full, k_bad, k_cons_bytes, k_unsent;
static u8 kbuf[4200];

static u64 hvm_get(u32 idx)
{
    w16(ARGP + 3000, DOMID_SELF);
    w32(ARGP + 3004, idx);
    w64(ARGP + 3008, 0);
    return xen_hc(__HYPERVISOR_hvm_op, 1, ARGP + 3000, 0, 0, 0) == 0 ? r64(ARGP + 3008) : 0;
}

static void rings_init(void)
{
    k_store = hvm_get(1) << 12;
    k_store_port = hvm_get(2);
    k_cons = hvm_get(17) << 12;
    k_cons_port = hvm_get(18);
    say("(k) XenStore ring 0x%lx port %lu, console ring 0x%lx port %lu", k_store, k_store_port, k_cons, k_cons_port);
}

/* Writes n bytes of kbuf into the request ring as space allows (the hypervisor serves the ring
 * when notified). Then drops whatever responses came. */
static void xs_put(u64 n)
{
    u64 done = 0;
    int stall = 0;
    while (done < n && stall < 16) {
        u32 cons = r32(k_store + 2048), prod = r32(k_store + 2052);
        u32 used = prod - cons;
        if (used > 1024)
            break;                                   /* broken indexes: the connection is gone */
        u32 space = 1024 - used;
        if (!space) {                                /* replies first: the server holds requests back */
            w32(k_store + 2056, r32(k_store + 2060));
            if (evt_send(k_store_port) < 0) {
                k_unsent++;                          /* our own random EVTCHNOP_close took the port */
                break;
            }
            stall++;
            if (!k_full++)
                say("(k) XenStore ring full: req %u/%u rsp %u/%u connection %u error %u, after %lu bytes", r32(k_store + 2048),
                    r32(k_store + 2052), r32(k_store + 2056), r32(k_store + 2060), r32(k_store + 2068),
                    r32(k_store + 2072), k_bytes);
            continue;
        }
        u64 chunk = n - done < space ? n - done : space;
        for (u64 i = 0; i < chunk; i++)
            *(volatile u8 *)(k_store + ((prod + i) & 1023)) = kbuf[done + i];
        dmb_ish();
        w32(k_store + 2052, prod + (u32)chunk);
        done += chunk;
        if (evt_send(k_store_port) < 0) {
            k_unsent++;
            break;
        }
    }
    k_bytes += done;
    w32(k_store + 2056, r32(k_store + 2060));       /* responses and watch events: dropped */
}

static u64 xs_path(u64 at, int deep)
{
    static const char roots[10][20] = { "data/h", "/local/domain/0/x", "/", "/local/domain", "@releaseDomain",
                                        "control/shutdown", "..//x/./y", "/tool", "device/vif/0", "data/w" };
    const char *s = roots[rndn(10)];
    u64 n = at;
    while (*s && n < 4100)
        kbuf[n++] = (u8)*s++;
    kbuf[n++] = (u8)('0' + rndn(10));
    if (deep) {
        u64 d = 1 + rndn(1500);
        for (u64 i = 0; i < d && n < 4090; i++) {
            kbuf[n++] = '/';
            kbuf[n++] = (u8)('a' + rndn(26));
        }
    }
    kbuf[n++] = 0;
    return n;
}

static void xs_msg(u32 type, u32 tx, u64 len)
{
    u32 h[4] = { type, (u32)rnd(), tx, (u32)len };
    for (int i = 0; i < 16; i++)
        kbuf[i] = (u8)(h[i / 4] >> (8 * (i % 4)));
    xs_put(16 + (len > 4096 ? 0 : len));        /* an oversized header: just the header */
    k_msgs++;
}

static void op_rings(void)
{
    if (!k_store && !k_cons)
        return;
    u64 r = rndn(100);
    if (r < 75 && k_store) {
        u64 n;
        switch (rndn(12)) {
        case 0: case 1:                              /* write, maybe deep */
            n = xs_path(16, rndn(4) == 0);
            for (u64 i = 0; i < rndn(64); i++)
                kbuf[n++] = (u8)('A' + rndn(26));
            xs_msg(11, rndn(8) ? 0 : rndn(4), n - 16);
            break;
        case 2: case 3: {                           /* read, directory, get_perms, rm, mkdir */
            static const u32 t[] = { 2, 1, 3, 13, 12, 22 };
            n = xs_path(16, rndn(8) == 0);
            xs_msg(t[rndn(6)], 0, n - 16);
            break;
        }
        case 4: {                                   /* watch storm, then writes that fire them */
            u64 w = 1 + rndn(32);
            for (u64 i = 0; i < w; i++) {
                n = 16;
                const char *s = "data/w";
                while (*s)
                    kbuf[n++] = (u8)*s++;
                kbuf[n++] = (u8)('0' + i % 10);
                kbuf[n++] = 0;
                kbuf[n++] = 't';
                kbuf[n++] = (u8)('a' + i % 26);
                kbuf[n++] = 0;
                xs_msg(rndn(6) ? 4 : 5, 0, n - 16);
            }
            for (u64 i = 0; i < w; i++) {
                n = 16;
                const char *s = "data/w";
                while (*s)
                    kbuf[n++] = (u8)*s++;
                kbuf[n++] = (u8)('0' + i % 10);
                kbuf[n++] = 0;
                kbuf[n++] = 'v';
                xs_msg(11, 0, n - 16);
            }
            break;
        }
        case 5: {                                   /* transaction storm */
            u64 t = 1 + rndn(24);
            for (u64 i = 0; i < t; i++) {
                kbuf[16] = 0;
                xs_msg(6, 0, 1);
            }
            for (u64 i = 0; i < t; i++) {
                kbuf[16] = rndn(2) ? 'T' : 'F';
                kbuf[17] = 0;
                xs_msg(7, 1 + rndn(64), 2);
            }
            break;
        }
        case 6:                                     /* set_perms on our own nodes */
            n = xs_path(16, 0);
            kbuf[n++] = 'b';
            kbuf[n++] = (u8)('0' + rndn(4));
            kbuf[n++] = 0;
            kbuf[n++] = "rwbn"[rndn(4)];
            kbuf[n++] = (u8)('0' + rndn(10));
            kbuf[n++] = 0;
            xs_msg(14, 0, n - 16);
            break;
        case 7: {                                   /* privileged or unknown types, random payload */
            static const u32 t[] = { 8, 9, 10, 15, 16, 17, 18, 19, 20, 21, 23, 24, 25, 0, 99, 0xffff };
            n = 16 + rndn(200);
            for (u64 i = 16; i < n; i++)
                kbuf[i] = (u8)(rndn(4) ? 'a' + rndn(26) : rndn(256));
            xs_msg(t[rndn(16)], rndn(4) ? 0 : (u32)rnd(), n - 16);
            break;
        }
        case 8:                                     /* a payload without its NUL, a path of 3000 */
            n = 16 + 2000 + rndn(1000);
            for (u64 i = 16; i < n; i++)
                kbuf[i] = (u8)('a' + rndn(26));
            xs_msg(rndn(2) ? 11 : 2, 0, n - 16);
            break;
        case 9:
            if (rndn(400) == 0) {                   /* malformed: the connection may end here */
                k_bad++;
                if (rndn(2)) {
                    xs_msg(11, 0, 4097 + rndn(60000));
                } else {
                    w32(k_store + 2052, r32(k_store + 2052) + 1025 + rndn(1000000));
                    evt_send(k_store_port);
                }
                break;
            }
            /* fall through */
        default:
            kbuf[16] = 0;
            xs_msg(rndn(2) ? 10 : 1, 0, 1);         /* get_domain_path, directory "" */
            break;
        }
    } else if (k_cons) {                            /* console out ring */
        u32 cons = r32(k_cons + 3080), prod = r32(k_cons + 3084);
        if (rndn(500) == 0) {
            k_bad++;
            if (rndn(2))
                w32(k_cons + 3084, prod + 2049 + rndn(100000));
            else
                w32(k_cons + 3080, cons - 1 - rndn(5000));   /* the back end's index */
        } else if (prod - cons <= 2048) {
            u64 n = 1 + rndn(200), space = 2048 - (prod - cons);
            if (n > space)
                n = space;
            for (u64 i = 0; i < n; i++)
                *(volatile u8 *)(k_cons + 1024 + ((prod + i) & 2047)) = (u8)(i + 1 == n && rndn(2) ? '\n' : 0x20 + rndn(95));
            dmb_ish();
            w32(k_cons + 3084, prod + (u32)n);
            k_cons_bytes += n;
        }
        w32(k_cons + 3072, r32(k_cons + 3076));      /* in ring: consumed */
        evt_send(k_cons_port);
    }
}

/* ---------------- (l) the emulated PL011 ---------------- */
static u64 l_faults;
static void op_uart(void)
{
    u64 r = rndn(10), off = r < 6 ? rndn(0x50) : r < 8 ? 0xfe0 + rndn(0x20) : rndn(0x1000);
    int kind = rndn(10);
    if (kind >= A_W8 && kind != A_LDP) {
        int len = kind == A_W8 ? 1 : kind == A_W16 ? 2 : kind == A_W32 ? 4 : kind == A_W64 ? 8 : 16;
        u64 a = off & ~(u64)((len > 8 ? 8 : len) - 1);
        for (u64 o = a; o < a + len; o++)
            if (o < 4 || (o >= 0x24 && o < 0x34))   /* DR, IBRD, FBRD, LCR_H, CR */
                kind = A_R32;
    }
    l_faults += mmio_attack(UART_BASE + off, kind, rnd());
}

/* ---------------- (m) traps ---------------- */
u64 hp_el0(u64 pc, u64 arg);
extern u64 el0_elr, el0_far;
extern u32 el0_code[];
static u64 m_el1, m_fetch, m_fetch_first, m_el0, m_el0_abort;
static u8 fetched[128];

static void op_traps(void)
{
    u64 r = rndn(4);
    if (r == 0) {                                    /* EL1: each must raise exactly its exception */
        u32 imm = rndn(0x10000), insn;
        u64 want_ec, want_where = W_AT;
        switch (1 + rndn(4)) {
        case 1: insn = imm; want_ec = 0; break;                                 /* UDF */
        case 2: insn = 0xd4400000 | imm << 5; want_ec = 0; break;               /* HLT */
        case 3: insn = 0xd4a00001 | (u32)rndn(3); want_ec = 0; break;            /* DCPS1-3 */
        default: insn = 0xd4000001 | imm << 5; want_ec = 0x15; want_where = W_AFTER; break;   /* SVC */
        }
        struct hx_regs hr;
        memset(&hr, 0, sizeof(hr));
        for (int k = 0; k < 8; k++)
            hr.x[k] = rnd();
        int took = run_insn(insn, &hr);
        m_el1++;
        if (!took || x_count != 1 || ESR_EC(x_esr) != want_ec || x_where != want_where)
            check_failed("(m) insn 0x%08x at EL1: %lu exceptions, EC 0x%lx (expected one, EC 0x%lx)", insn, x_count,
                         ESR_EC(x_esr), want_ec);
    } else if (r == 1) {                             /* a fetch in our RAM: zero, so UDF #0 */
        u64 a = fetch_lo + (rndn(fetch_hi - fetch_lo) & ~3UL);
        u64 page = (a - fetch_lo) >> 12;
        m_fetch_first += !((fetched[page / 8 % 128] >> (page % 8)) & 1);
        fetched[page / 8 % 128] |= 1 << (page % 8);
        arm(ARM_FETCH, (void *)a);
        hp_exec(a);
        disarm();
        m_fetch++;
        if (x_count != 1 || ESR_EC(x_esr) != 0)
            check_failed("(m) executing its own zeroed RAM at 0x%lx: %lu exceptions, EC 0x%lx FAR 0x%lx (expected "
                         "UDF: EC 0x0)", a, x_count, ESR_EC(x_esr), x_far);
    } else {                                         /* one instruction at EL0 */
        u32 imm = rndn(0x10000), insn;
        u64 arg = rnd(), want_abort = 0;
        switch (rndn(10)) {
        case 0: insn = 0xd4000002 | imm << 5; break;                            /* HVC */
        case 1: insn = 0xd4000002 | 0xea1 << 5; break;                          /* HVC #0xEA1 */
        case 2: insn = 0xd4000003 | imm << 5; break;                            /* SMC */
        case 3: insn = 0xd4000001 | imm << 5; break;                            /* SVC */
        case 4: insn = 0xd5000000 | (u32)rndn(2) << 21 | 1u << 20 | (u32)rndn(1 << 16) << 5; break; /* EL1 sysregs */
        case 5: insn = 0xd518cba0; break;                                       /* MSR ICC_SGI1R_EL1, x0 */
        case 6:
            insn = 0xf9400041;                                                  /* LDR x1, [x2] */
            arg = ntargets ? targets[rndn(ntargets)].addr & ~7UL : 0x10000000;
            want_abort = 1;
            break;
        case 7: insn = 0xf9400041; arg = victim_lo + (rndn(victim_hi - victim_lo) & ~7UL); break;
        case 8: insn = 0xb9400041; arg = GICD_BASE + 4 * rndn(3); break;       /* LDR w1, [x2]: the vGICD */
        default: insn = 0xd50b7e22; arg = rndn(2) ? arg : 0x10000000; break;    /* DC CIVAC, x2 */
        }
        el0_code[0] = insn;
        el0_code[1] = 0xd4000001 | 0x7e1 << 5;                                 /* SVC #0x7e1: back */
        dsb();
        __asm__ volatile("ic iallu" ::: "memory");
        dsb();
        isb();
        if (opt_el0irq) {                            /* an interrupt somewhere on the way in or out */
            write_sysreg(cntv_cval_el0, cntvct() + m_el0 % opt_el0irq);
            write_sysreg(cntv_ctl_el0, 1);
            isb();
        }
        u64 esr = hp_el0((u64)el0_code, arg), ec = ESR_EC(esr);
        m_el0++;
        if (ec == 0x16 || ec == 0x17)
            check_failed("(m) insn 0x%08x at EL0 was taken as an HVC/SMC call (ESR 0x%lx)", insn, esr);
        /* Whatever the instruction did, the exception that ended the trip came from the EL0 code:
         * the faulting instruction, the one after it, or the SVC back. */
        if (el0_elr < (u64)el0_code || el0_elr > (u64)el0_code + 8)
            check_failed("(m) insn 0x%08x at EL0: the exception back came from 0x%lx, outside its EL0 code at 0x%lx "
                         "(ESR 0x%lx)", insn, el0_elr, (u64)el0_code, esr);
        if (want_abort) {
            int ok = ec == 0x24 && el0_far == arg && el0_elr == (u64)el0_code;
            m_el0_abort += ok;
            if (!ok && !(ec == 0x15 && (esr & 0xffff) == 0x7e1 && in_own_device(arg)))
                check_failed("(m) EL0 load at 0x%lx: ESR 0x%lx FAR 0x%lx ELR 0x%lx (expected a data abort from EL0, "
                             "EC 0x24)", arg, esr, el0_far, el0_elr);
        }
        irq_enable();
    }
}

/* ---------------- (n) BRK ---------------- */
static u64 n_el1, n_el0;
static void op_brk(void)
{
    u32 insn = 0xd4200000 | (u32)rndn(0x10000) << 5;
    if (rndn(2)) {
        struct hx_regs hr;
        memset(&hr, 0, sizeof(hr));
        run_insn(insn, &hr);
        n_el1++;
        if (x_count != 1 || ESR_EC(x_esr) != 0x3c || x_where != W_AT)
            check_failed("(n) BRK 0x%08x at EL1: %lu exceptions, EC 0x%lx (expected a BRK exception, EC 0x3c)", insn,
                         x_count, ESR_EC(x_esr));
    } else {
        el0_code[0] = insn;
        el0_code[1] = 0xd4000001 | 0x7e1 << 5;
        dsb();
        __asm__ volatile("ic iallu" ::: "memory");
        dsb();
        isb();
        u64 esr = hp_el0((u64)el0_code, 0);
        n_el0++;
        if (ESR_EC(esr) != 0x3c || el0_elr != (u64)el0_code)
            check_failed("(n) BRK 0x%08x at EL0: ESR 0x%lx ELR 0x%lx (expected a BRK exception, EC 0x3c)", insn, esr,
                         el0_elr);
        irq_enable();
    }
}

/* ---------------- (o) stage-1 table walks ---------------- */
static u64 o_walks, o_untouched, o_outside, o_dfsc[64];
static u64 o_l1[512] __attribute__((aligned(4096)));
static u8 walked[256];

static void op_walk(void)
{
    u64 r = rndn(8), l2;
    if (r < 6) {                                       /* a page of the never-written blocks */
        u64 page = rndn((walk_hi - walk_lo) >> 12);
        l2 = walk_lo + (page << 12);
        o_untouched += !((walked[page / 8 % 256] >> (page % 8)) & 1);
        walked[page / 8 % 256] |= 1 << (page % 8);
    } else if (r == 6) {                               /* RAM it zeroes itself */
        l2 = victim_lo + (rndn(victim_hi - victim_lo) & ~0xfffUL);
        for (u64 k = 0; k < 512; k++)
            w64(l2 + 8 * k, 0);
    } else {                                           /* no RAM at all */
        l2 = ntargets ? targets[rndn(ntargets)].addr & ~0xfffUL : 0x10000000;
        o_outside++;
    }
    /* attr 0 device-nGnRnE, attr 1 normal non-cacheable; L1 blocks: AF, EL1 RW */
    o_l1[0] = 0x00000000UL | 1UL << 10 | 0 << 2 | 1;
    o_l1[1] = 0x40000000UL | 1UL << 10 | 1 << 2 | 1;
    o_l1[2] = l2 | 3;                                  /* table: VA 2-3 GiB */
    for (int k = 3; k < 512; k++)
        o_l1[k] = 0;
    u64 va = 0x80000000UL + (rndn(0x40000000) & ~7UL);
    u64 sctlr = read_sysreg(sctlr_el1), tcr = read_sysreg(tcr_el1), mair = read_sysreg(mair_el1),
        ttbr = read_sysreg(ttbr0_el1);
    irq_disable();
    dsb();
    write_sysreg(mair_el1, 0x4400);
    write_sysreg(tcr_el1, 25UL | 1UL << 23 /* EPD1 */ | 2UL << 32 /* IPS 40 bits */);
    write_sysreg(ttbr0_el1, (u64)o_l1);
    isb();
    __asm__ volatile("tlbi vmalle1" ::: "memory");
    dsb();
    isb();
    write_sysreg(sctlr_el1, sctlr | 1);               /* M: stage 1 on, caches as they were */
    isb();
    arm(ARM_INSN, hp_ldrx_insn);
    hp_ldrx(va, 0);
    disarm();
    write_sysreg(sctlr_el1, sctlr);
    isb();
    write_sysreg(ttbr0_el1, ttbr);
    write_sysreg(tcr_el1, tcr);
    write_sysreg(mair_el1, mair);
    isb();
    __asm__ volatile("tlbi vmalle1" ::: "memory");
    dsb();
    isb();
    irq_enable();
    o_walks++;
    u64 dfsc = x_esr & 0x3f;
    o_dfsc[dfsc]++;
    if (x_count != 1 || ESR_EC(x_esr) != 0x25 || x_far != va)
        check_failed("(o) load at VA 0x%lx, level-2 table at 0x%lx: %lu exceptions, EC 0x%lx FAR 0x%lx (expected a "
                     "data abort at that address)", va, l2, x_count, ESR_EC(x_esr), x_far);
    else if (r < 7 && dfsc != 0x06)
        check_failed("(o) load at VA 0x%lx through a zeroed level-2 table in its RAM at 0x%lx: DFSC 0x%lx (expected "
                     "0x06, a level-2 translation fault)", va, l2, dfsc);
}

/* ---------------- dispatch and report ---------------- */
static void op_more(void)
{
    static const u64 bits[] = { MC_LIFE, MC_OWNRAM, MC_PEER, MC_RINGS, MC_UART, MC_TRAPS, MC_BRK, MC_WALK };
    u64 avail[8], n = 0;
    for (int k = 0; k < 8; k++)
        if ((opt_classes & bits[k]) && (bits[k] != MC_LIFE || ncpu > 1) && (bits[k] != MC_PEER || opt_peer) &&
            (regions_ok || (bits[k] != MC_OWNRAM && bits[k] != MC_PEER && bits[k] != MC_TRAPS && bits[k] != MC_RINGS &&
                            bits[k] != MC_WALK)))
            avail[n++] = k;
    if (!n)
        return;
    u64 k = avail[rndn(n)];
    mc_count[1 + k]++;
    switch (k) {
    case 0: op_life(); break;
    case 1: op_ownram(); break;
    case 2: op_peer(); break;
    case 3: op_rings(); break;
    case 4: op_uart(); break;
    case 5: op_traps(); break;
    case 6: op_brk(); break;
    default: op_walk(); break;
    }
}

static void more_report(void)
{
    u64 g = 0;
    for (int c = 1; c < MAXCPU; c++)
        g += g_ops[c];
    mc_count[0] = g;
    say("classes: g=%lu h=%lu i=%lu j=%lu k=%lu l=%lu m=%lu n=%lu o=%lu", mc_count[0], mc_count[1], mc_count[2],
        mc_count[3], mc_count[4], mc_count[5], mc_count[6], mc_count[7], mc_count[8]);
    say("(g) other vCPUs: %lu %lu %lu ops (%lu %lu %lu negative)", g_ops[1], g_ops[2], g_ops[3], g_offs[1], g_offs[2],
        g_offs[3]);
    say("(h) CPU_ON %lu (%lu succeeded); (i) %lu returned 0, %lu negative, %lu vcpu_info moves", h_on, h_ok, i_zero,
        i_neg, i_vinfo);
    say("(j) maps %lu/%lu unmaps %lu/%lu copies %lu/%lu binds %lu/%lu sends %lu closes %lu mailbox %lu", j_map_ok, j_maps,
        j_unmap_ok, j_unmaps, j_copy_ok, j_copies, j_bind_ok, j_binds, j_sends, j_closes, j_mailbox);
    say("(k) %lu XenStore messages (%lu bytes, ring full %lu, port closed %lu), console %lu bytes, %lu malformed; store "
        "error field %lu", k_msgs, k_bytes, k_full, k_unsent, k_cons_bytes, k_bad, k_store ? r32(k_store + 2072) : 0);
    say("(l) %lu PL011 faults; (m) %lu EL1 traps, %lu fetches (%lu first), %lu at EL0 (%lu aborts); (n) BRK %lu+%lu",
        l_faults, m_el1, m_fetch, m_fetch_first, m_el0, m_el0_abort, n_el1, n_el0);
    say("(o) %lu walks (%lu through untouched tables, %lu tables outside RAM): DFSC 0x06 %lu, 0x07 %lu, 0x10 %lu, "
        "0x15 %lu, 0x16 %lu", o_walks, o_untouched, o_outside, o_dfsc[6], o_dfsc[7], o_dfsc[0x10], o_dfsc[0x15],
        o_dfsc[0x16]);
}
