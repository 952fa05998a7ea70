/* More device-tree lookups for the test guests: see fdt_extra.h. Reads the flattened tree in
 * place (big-endian, no libfdt), tolerating a malformed blob by giving up. */
#include "guest.h"
#include "fdt_extra.h"

#define FDT_BEGIN_NODE 1
#define FDT_END_NODE   2
#define FDT_PROP       3
#define FDT_NOP        4

static u32 rd32(u64 p) { return __builtin_bswap32(*(volatile u32 *)p); }
static char rdc(u64 p) { return *(volatile char *)p; }

static int has_prefix(u64 s, const char *prefix)
{
    for (; *prefix; prefix++, s++)
        if (rdc(s) != *prefix)
            return 0;
    return 1;
}

static int name_is(u64 s, const char *name)
{
    for (; *name; name++, s++)
        if (rdc(s) != *name)
            return 0;
    return rdc(s) == 0;
}

/* Node names of interest, as seen while walking. */
enum { N_OTHER, N_CHOSEN, N_MEMORY, N_CPUS, N_CPU };

struct walk {
    u64 dtb, p, strs;
    int depth;
    int kind[8];           /* kind of the node at each depth (1 = root) */
};

static int walk_init(struct walk *w, u64 dtb)
{
    if (dtb == 0 || (dtb & 3) || rd32(dtb) != 0xd00dfeed)
        return 0;
    w->dtb = dtb;
    w->p = dtb + rd32(dtb + 8);
    w->strs = dtb + rd32(dtb + 12);
    w->depth = 0;
    return 1;
}

/* Advances to the next property; returns its name/value/len and the depth/kind of its node.
 * Returns 0 at the end of the tree (or on garbage). *ncpu (if given)
 * counts the /cpus/cpu@* nodes passed. */
static int walk_next_prop(struct walk *w, u64 *name, u64 *val, u32 *len, int *ncpu)
{
    for (int guard = 0; guard < 200000; guard++) {
        u32 tag = rd32(w->p);
        w->p += 4;
        if (tag == FDT_BEGIN_NODE) {
            u64 n = w->p;
            w->depth++;
            int k = N_OTHER;
            if (w->depth == 2 && name_is(n, "chosen"))
                k = N_CHOSEN;
            else if (w->depth == 2 && has_prefix(n, "memory"))
                k = N_MEMORY;
            else if (w->depth == 2 && name_is(n, "cpus"))
                k = N_CPUS;
            else if (w->depth == 3 && w->kind[2] == N_CPUS && (has_prefix(n, "cpu@") || name_is(n, "cpu")))
                k = N_CPU;
            if (w->depth < 8)
                w->kind[w->depth] = k;
            if (k == N_CPU && ncpu)
                (*ncpu)++;
            while (rdc(w->p))
                w->p++;
            w->p = (w->p + 1 + 3) & ~3ul;
        } else if (tag == FDT_END_NODE) {
            if (--w->depth < 0)
                return 0;
        } else if (tag == FDT_PROP) {
            *len = rd32(w->p);
            *name = w->strs + rd32(w->p + 4);
            *val = w->p + 8;
            w->p = (*val + *len + 3) & ~3ul;
            return 1;
        } else if (tag != FDT_NOP) {
            return 0;
        }
    }
    return 0;
}

static int kind_at(struct walk *w) { return w->depth < 8 && w->depth > 0 ? w->kind[w->depth] : N_OTHER; }

int fdtx_memory_banks(u64 dtb, u64 *base, u64 *size, int max)
{
    struct walk w;
    u64 name, val;
    u32 len, ac = 2, sc = 2;
    int n = 0;
    if (!walk_init(&w, dtb))
        return 0;
    while (walk_next_prop(&w, &name, &val, &len, NULL)) {
        if (w.depth == 1 && name_is(name, "#address-cells") && len == 4)
            ac = rd32(val);
        else if (w.depth == 1 && name_is(name, "#size-cells") && len == 4)
            sc = rd32(val);
        else if (kind_at(&w) == N_MEMORY && name_is(name, "reg") && ac >= 1 && ac <= 2 && sc >= 1 && sc <= 2) {
            u32 cell = 4 * (ac + sc);
            for (u32 off = 0; off + cell <= len && n < max; off += cell) {
                u64 b = 0, s = 0;
                for (u32 i = 0; i < ac; i++)
                    b = (b << 32) | rd32(val + off + 4 * i);
                for (u32 i = 0; i < sc; i++)
                    s = (s << 32) | rd32(val + off + 4 * (ac + i));
                if (s) {
                    base[n] = b;
                    size[n] = s;
                    n++;
                }
            }
        }
    }
    return n;
}

int fdtx_cpu_count(u64 dtb)
{
    struct walk w;
    u64 name, val;
    u32 len;
    int n = 0;
    if (!walk_init(&w, dtb))
        return 0;
    while (walk_next_prop(&w, &name, &val, &len, &n))
        ;
    return n;
}

int fdtx_bootargs(u64 dtb, char *buf, u32 cap)
{
    struct walk w;
    u64 name, val;
    u32 len;
    if (cap)
        buf[0] = 0;
    if (!walk_init(&w, dtb))
        return -1;
    while (walk_next_prop(&w, &name, &val, &len, NULL)) {
        if (kind_at(&w) == N_CHOSEN && name_is(name, "bootargs")) {
            u32 n = 0;
            while (n < len && n + 1 < cap && rdc(val + n)) {
                buf[n] = rdc(val + n);
                n++;
            }
            if (cap)
                buf[n] = 0;
            return (int)n;
        }
    }
    return -1;
}

int fdtx_chosen_head(u64 dtb, const char *name, u64 *out)
{
    struct walk w;
    u64 pname, val;
    u32 len;
    *out = 0;
    if (!walk_init(&w, dtb))
        return 0;
    while (walk_next_prop(&w, &pname, &val, &len, NULL)) {
        if (kind_at(&w) == N_CHOSEN && name_is(pname, name)) {
            for (u32 n = 0; n < 8; n++)
                *out = (*out << 8) | (n < len ? (u8)rdc(val + n) : 0);
            return 1;
        }
    }
    return 0;
}

int fdtx_bootarg_u64(const char *args, const char *key, u64 *out)
{
    const char *p = args;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *k = key, *q = p;
        while (*k && *q == *k) {
            k++;
            q++;
        }
        if (*k == 0 && *q == '=') {
            q++;
            u64 v = 0;
            int digits = 0;
            if (q[0] == '0' && (q[1] == 'x' || q[1] == 'X')) {
                q += 2;
                for (;; q++, digits++) {
                    char c = *q;
                    if (c >= '0' && c <= '9')
                        v = v * 16 + (u64)(c - '0');
                    else if (c >= 'a' && c <= 'f')
                        v = v * 16 + (u64)(c - 'a' + 10);
                    else if (c >= 'A' && c <= 'F')
                        v = v * 16 + (u64)(c - 'A' + 10);
                    else
                        break;
                }
            } else {
                for (; *q >= '0' && *q <= '9'; q++, digits++)
                    v = v * 10 + (u64)(*q - '0');
            }
            if (digits && (*q == 0 || *q == ' ')) {
                *out = v;
                return 1;
            }
        }
        while (*p && *p != ' ')
            p++;
    }
    return 0;
}
