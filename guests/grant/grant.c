/*
 * grant: two domains share memory only by grant, and signal each other with an
 * interdomain event channel (Xen's grant table v1 and 2-level event ABI).
 *
 *   grant=offer peer=2  (domain 1): grants page P read-write and page Q read-only to the
 *       peer, offers an unbound port, then waits for the peer's event and checks that the
 *       peer wrote into P (and that Q is unchanged).
 *   grant=map peer=1    (domain 2): binds to the port, maps both grants into its p2m,
 *       reads them, writes P, gets a data abort writing the read-only mapping, unmaps,
 *       checks that unmapped means unmapped, and sends the event.
 * Both print "TEST PASS grant" on success. Works unchanged under Xen 4.17 dom0less.
 */
#include "guest.h"
#include "fdt_extra.h"

const char guest_name[] = "grant";

typedef unsigned short u16;
typedef short s16;

u64 xen_call(u64 nr, u64 a0, u64 a1, u64 a2);
void probe_write(u64 addr, u32 value);
extern char probe_write_insn[];

#define HC_MEMORY_OP 12
#define HC_GRANT_TABLE_OP 20
#define HC_EVENT_CHANNEL_OP 32
#define XENMEM_add_to_physmap 7
#define XENMAPSPACE_shared_info 0
#define XENMAPSPACE_grant_table 1
#define GNTTABOP_map_grant_ref 0
#define GNTTABOP_unmap_grant_ref 1
#define EVTCHNOP_bind_interdomain 0
#define EVTCHNOP_send 4
#define EVTCHNOP_alloc_unbound 6
#define DOMID_SELF 0x7FF0
#define GTF_permit_access 1
#define GTF_readonly (1 << 2)
#define GNTMAP_host_map (1 << 1)
#define GNTMAP_readonly (1 << 2)

#define REF_RW 8
#define REF_RO 9
/* Where the mapper puts the granted pages: guest-physical space outside its RAM. */
#define MAP_RW 0x70000000UL
#define MAP_RO 0x70001000UL

static u8 page_p[4096] __attribute__((aligned(4096)));
static u8 page_q[4096] __attribute__((aligned(4096)));
static u8 shared_info[4096] __attribute__((aligned(4096)));
static u8 grant_frame[4096] __attribute__((aligned(4096)));

static const char offer_text[] = "granted by the offering domain";
static const char reply_text[] = "written by the mapping domain";

struct add_to_physmap { u16 domid; u16 size; u32 space; u64 idx; u64 gpfn; };
struct map_grant_ref { u64 host_addr; u32 flags; u32 ref; u16 dom; s16 status; u32 handle; u64 dev_bus_addr; };
struct unmap_grant_ref { u64 host_addr; u64 dev_bus_addr; u32 handle; s16 status; };
struct alloc_unbound { u16 dom; u16 remote_dom; u32 port; };
struct bind_interdomain { u16 remote_dom; u16 pad; u32 remote_port; u32 local_port; };


static volatile u64 faults, fault_far;

static int on_sync(struct exc_frame *f, u64 kind)
{
    (void)kind;
    if (f->elr != (u64)probe_write_insn) return 0;
    faults++;
    fault_far = f->far;
    f->elr += 4;
    return 1;
}

static s64 map_space(u32 space, u64 idx, void *page)
{
    struct add_to_physmap a = { DOMID_SELF, 0, space, idx, (u64)page >> 12 };
    return (s64)xen_call(HC_MEMORY_OP, XENMEM_add_to_physmap, (u64)&a, 0);
}

static int strsame(const volatile u8 *a, const char *b)
{
    for (; *b; a++, b++) if (*a != (u8)*b) return 0;
    return *a == 0;
}

static void copy(volatile u8 *d, const char *s) { while ((*d++ = (u8)*s++)) ; }

static volatile u64 *pending_word(void) { return (volatile u64 *)(shared_info + 48); }

/* Waits until `port` is pending in shared_info (event delivery without interrupts). */
static int wait_port(u32 port, u64 ms)
{
    u64 end = cntvct() + ms_to_ticks(ms);
    while (cntvct() < end) {
        dsb();
        if (pending_word()[port / 64] & (1UL << (port % 64))) return 1;
    }
    return 0;
}

static void offer(u64 peer)
{
    CHECK(map_space(XENMAPSPACE_grant_table, 0, grant_frame) == 0, "add_to_physmap(grant_table 0) failed");
    copy(page_p, offer_text);
    copy(page_q, offer_text);
    volatile u16 *e = (volatile u16 *)grant_frame;
    volatile u32 *e32 = (volatile u32 *)grant_frame;
    /* v1 entry: flags u16 @0, domid u16 @2, frame u32 @4; flags last, so the entry is whole. */
    e[REF_RW * 4 + 1] = (u16)peer; e32[REF_RW * 2 + 1] = (u32)((u64)page_p >> 12);
    e[REF_RO * 4 + 1] = (u16)peer; e32[REF_RO * 2 + 1] = (u32)((u64)page_q >> 12);
    dsb();
    e[REF_RW * 4] = GTF_permit_access;
    e[REF_RO * 4] = GTF_permit_access | GTF_readonly;
    dsb();
    struct alloc_unbound u = { DOMID_SELF, (u16)peer, 0 };
    s64 r = (s64)xen_call(HC_EVENT_CHANNEL_OP, EVTCHNOP_alloc_unbound, (u64)&u, 0);
    CHECK(r == 0, "alloc_unbound returned %d", (int)r);
    say("offered refs %d (rw) and %d (ro) and port %u to d%u", REF_RW, REF_RO, u.port, (u32)peer);
    if (!wait_port(u.port, 20000)) fail_now("no event from the peer");
    say("event on port %u", u.port);
    CHECK(strsame(page_p, reply_text), "the peer's write did not reach the granted page");
    CHECK(strsame(page_q, offer_text), "the read-only page changed");
    /* Xen leaves GTF_reading/GTF_writing set only while mapped: both clear after the unmap. */
    CHECK((e[REF_RW * 4] & 0x18) == 0 && (e[REF_RO * 4] & 0x18) == 0, "grant still in use after unmap");
    say("peer wrote: %s", (const char *)page_p);
}

static void map(u64 peer)
{
    sync_hook = on_sync;
    /* The peer's port number depends on what else it has bound (a domain with xen,enhanced
     * already holds its console and xenstore ports): try the low ports until one is the
     * unbound port offered to us (anything else is -EINVAL). */
    struct bind_interdomain b = { (u16)peer, 0, 1, 0 };
    s64 r = -1;
    u64 end = cntvct() + ms_to_ticks(20000);
    while (cntvct() < end && r != 0) {
        for (u32 port = 1; port < 16 && r != 0; port++) {
            b.remote_port = port;
            r = (s64)xen_call(HC_EVENT_CHANNEL_OP, EVTCHNOP_bind_interdomain, (u64)&b, 0);
        }
    }
    if (r != 0) fail_now("bind_interdomain to d%u returned %d", (u32)peer, (int)r);
    say("bound to d%u port %u as local port %u", (u32)peer, b.remote_port, b.local_port);
    struct map_grant_ref m[2] = {
        { MAP_RW, GNTMAP_host_map, REF_RW, (u16)peer, 0, 0, 0 },
        { MAP_RO, GNTMAP_host_map | GNTMAP_readonly, REF_RO, (u16)peer, 0, 0, 0 },
    };
    r = (s64)xen_call(HC_GRANT_TABLE_OP, GNTTABOP_map_grant_ref, (u64)m, 2);
    CHECK(r == 0 && m[0].status == 0 && m[1].status == 0, "map_grant_ref: %d, status %d %d",
          (int)r, (int)m[0].status, (int)m[1].status);
    volatile u8 *rw = (volatile u8 *)MAP_RW, *ro = (volatile u8 *)MAP_RO;
    CHECK(strsame(rw, offer_text) && strsame(ro, offer_text), "granted pages do not hold the offer");
    copy(rw, reply_text);
    probe_write(MAP_RO, 0x41414141);
    CHECK(faults == 1 && fault_far == MAP_RO, "write to the read-only grant did not fault (faults %u)", (u32)faults);
    CHECK(strsame(ro, offer_text), "read-only grant was written");
    struct unmap_grant_ref u[2] = { { MAP_RW, 0, m[0].handle, 0 }, { MAP_RO, 0, m[1].handle, 0 } };
    r = (s64)xen_call(HC_GRANT_TABLE_OP, GNTTABOP_unmap_grant_ref, (u64)u, 2);
    CHECK(r == 0 && u[0].status == 0 && u[1].status == 0, "unmap_grant_ref: %d, status %d %d",
          (int)r, (int)u[0].status, (int)u[1].status);
    probe_write(MAP_RW, 0x42424242);
    CHECK(faults == 2, "the unmapped grant is still writable");
    say("mapped, wrote, unmapped; read-only write faulted");
    struct { u32 port; } s = { b.local_port };
    r = (s64)xen_call(HC_EVENT_CHANNEL_OP, EVTCHNOP_send, (u64)&s, 0);
    CHECK(r == 0, "send returned %d", (int)r);
}

int main(u64 dtb)
{
    static char args[256];
    fdtx_bootargs(dtb, args, sizeof args);
    u64 peer = 0;
    if (!fdtx_bootarg_u64(args, "peer", &peer)) fail_now("no peer= in bootargs");
    CHECK(map_space(XENMAPSPACE_shared_info, 0, shared_info) == 0, "add_to_physmap(shared_info) failed");
    int offering = 0;
    for (const char *p = args; *p; p++)
        if (p[0] == 'o' && p[1] == 'f' && p[2] == 'f' && p[3] == 'e' && p[4] == 'r') offering = 1;
    if (offering) offer(peer); else map(peer);
    finish();
}
