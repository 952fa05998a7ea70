// The few C runtime symbols an Embedded Swift image needs, written freestanding
// (-fno-builtin keeps the compiler from turning these loops into calls to themselves),
// plus the EL2 heap and spinlocks. No FP/SIMD: the target is general-regs-only.
#if defined(__aarch64__)
#include "AArch64.h"

void *apus_cpu_objects[APUS_MAX_CPUS];
// What each CPU runs on an exception from a guest (vectors.S, BranchHardening.vectorWord).
uint32_t apus_bp_harden[APUS_MAX_CPUS];

// Bytes one DC ZVA zeroes, or 0 when it may not be used (DCZID_EL0.DZP, or a block size
// other than the 64 bytes the loop below assumes). Read on first use.
static int64_t zva_block = -1;

// Zeroes [p, p + n) with DC ZVA, p and n multiples of 256: a domain's RAM is zeroed
// before the domain gets it, 64 bytes an instruction instead of 8 (256 MiB was ~100M
// instructions of 8-byte stores, most of a domain build). DC ZVA needs Normal memory, so
// only with the EL2 MMU on (SCTLR_EL2.M); the caller falls back to stores otherwise.
static int zero_by_zva(uint8_t *p, size_t n) {
    if (zva_block < 0) {
        uint64_t dczid;
        __asm__ volatile("mrs %0, dczid_el0" : "=r"(dczid));
        zva_block = ((dczid & 0x10) == 0 && (4u << (dczid & 0xf)) == 64) ? 64 : 0;
    }
    uint64_t sctlr;
    __asm__ volatile("mrs %0, sctlr_el2" : "=r"(sctlr));
    if (zva_block != 64 || (sctlr & 1) == 0) return 0;
    for (uint8_t *end = p + n; p < end; p += 256) {
        __asm__ volatile("dc zva, %0" :: "r"(p) : "memory");
        __asm__ volatile("dc zva, %0" :: "r"(p + 64) : "memory");
        __asm__ volatile("dc zva, %0" :: "r"(p + 128) : "memory");
        __asm__ volatile("dc zva, %0" :: "r"(p + 192) : "memory");
    }
    return 1;
}

void *memset(void *d, int c, size_t n) {
    uint8_t *p = d;
    uint64_t v = (uint8_t)c;
    v |= v << 8; v |= v << 16; v |= v << 32;
    while (n && ((uint64_t)p & 7)) { *p++ = (uint8_t)c; n--; }
    if (c == 0 && n >= 4096) {
        for (; n && ((uint64_t)p & 255); n -= 8, p += 8) *(uint64_t *)p = 0;
        size_t bulk = n & ~(size_t)255;
        if (zero_by_zva(p, bulk)) { p += bulk; n -= bulk; }
    }
    for (; n >= 8; n -= 8, p += 8) *(uint64_t *)p = v;
    while (n--) *p++ = (uint8_t)c;
    return d;
}

// Unaligned loads and stores are fine once the MMU is on: EL2 runs with SCTLR_EL2.A clear
// and RAM is Normal memory. Before that (the boot CPU's first steps) every access is to
// Device memory, where they fault; apus_enable_mmu sets this flag.
unsigned char apus_mmu_on;
typedef uint32_t __attribute__((aligned(1), may_alias)) u32_any;
typedef uint64_t __attribute__((aligned(1), may_alias)) u64_any;

void *memcpy(void *d, const void *s, size_t n) {
    uint8_t *dp = d; const uint8_t *sp = s;
    // Small copies (the tail of a value Swift moves, a few bytes of a hypercall result) are
    // on the trap paths: two overlapping accesses instead of a byte loop.
    if (n < 16 && apus_mmu_on) {
        if (n >= 8) {
            uint64_t a = *(const u64_any *)sp, b = *(const u64_any *)(sp + n - 8);
            *(u64_any *)dp = a; *(u64_any *)(dp + n - 8) = b;
        } else if (n >= 4) {
            uint32_t a = *(const u32_any *)sp, b = *(const u32_any *)(sp + n - 4);
            *(u32_any *)dp = a; *(u32_any *)(dp + n - 4) = b;
        } else {
            while (n--) *dp++ = *sp++;
        }
        return d;
    }
    if ((((uint64_t)dp | (uint64_t)sp) & 7) == 0) {
        // 64 bytes a round for bulk copies (a domain's kernel and initrd at build and reboot).
        for (; n >= 64; n -= 64, dp += 64, sp += 64) {
            uint64_t a = ((const uint64_t *)sp)[0], b = ((const uint64_t *)sp)[1];
            uint64_t c = ((const uint64_t *)sp)[2], e = ((const uint64_t *)sp)[3];
            uint64_t f = ((const uint64_t *)sp)[4], g = ((const uint64_t *)sp)[5];
            uint64_t h = ((const uint64_t *)sp)[6], i = ((const uint64_t *)sp)[7];
            ((uint64_t *)dp)[0] = a; ((uint64_t *)dp)[1] = b;
            ((uint64_t *)dp)[2] = c; ((uint64_t *)dp)[3] = e;
            ((uint64_t *)dp)[4] = f; ((uint64_t *)dp)[5] = g;
            ((uint64_t *)dp)[6] = h; ((uint64_t *)dp)[7] = i;
        }
        // 32 bytes a round (two LDP/STP pairs): trap frames (272 bytes) are copied at every
        // vCPU switch.
        for (; n >= 32; n -= 32, dp += 32, sp += 32) {
            uint64_t a = ((const uint64_t *)sp)[0], b = ((const uint64_t *)sp)[1];
            uint64_t c = ((const uint64_t *)sp)[2], e = ((const uint64_t *)sp)[3];
            ((uint64_t *)dp)[0] = a; ((uint64_t *)dp)[1] = b;
            ((uint64_t *)dp)[2] = c; ((uint64_t *)dp)[3] = e;
        }
        for (; n >= 8; n -= 8, dp += 8, sp += 8) *(uint64_t *)dp = *(const uint64_t *)sp;
    } else if (apus_mmu_on) {
        // Misaligned (a packet at an odd offset: netback's grant copies): unaligned 8-byte
        // accesses, which Normal memory allows once the MMU is on, instead of a byte loop.
        for (; n >= 32; n -= 32, dp += 32, sp += 32) {
            uint64_t a = ((const u64_any *)sp)[0], b = ((const u64_any *)sp)[1];
            uint64_t c = ((const u64_any *)sp)[2], e = ((const u64_any *)sp)[3];
            ((u64_any *)dp)[0] = a; ((u64_any *)dp)[1] = b;
            ((u64_any *)dp)[2] = c; ((u64_any *)dp)[3] = e;
        }
        for (; n >= 8; n -= 8, dp += 8, sp += 8) *(u64_any *)dp = *(const u64_any *)sp;
    }
    while (n--) *dp++ = *sp++;
    return d;
}

void *memmove(void *d, const void *s, size_t n) {
    uint8_t *dp = d; const uint8_t *sp = s;
    if (dp == sp || n == 0) return d;
    if (dp < sp || dp >= sp + n) return memcpy(d, s, n);
    // Backwards (an array shifting up, e.g. a sorted insert): 8 bytes a step when both ends
    // allow it, since a guest can make such shifts long (grant tables' active entries).
    while (n && ((uintptr_t)(dp + n) & 7)) { n--; dp[n] = sp[n]; }
    if ((((uintptr_t)(sp + n)) & 7) == 0) {
        while (n >= 8) { n -= 8; *(uint64_t *)(dp + n) = *(const uint64_t *)(sp + n); }
    }
    while (n--) dp[n] = sp[n];
    return d;
}

int memcmp(const void *a, const void *b, size_t n) {
    const uint8_t *x = a, *y = b;
    for (size_t i = 0; i < n; i++) if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
    return 0;
}

size_t strlen(const char *s) { size_t n = 0; while (s[n]) n++; return n; }

// Spinlocks: a free lock goes to whichever CPU asks first, and a CPU that has failed
// APUS_LOCK_PATIENCE times reserves it (bits 8-15: its index + 1; nobody else takes the lock
// until it has), so a CPU taking a lock in a loop cannot starve another for long.
// Not ticket locks, which these were: a ticket lock hands the lock over in arrival order,
// and when the board's CPUs are threads of a busy host (QEMU's multi-threaded TCG, or any
// hypervisor below us) the next ticket's CPU is often not running. The CPU that released the
// lock and wants it again then spins until the host runs the other thread (~4 ms here), at
// every handover: a vCPU switch took tens of milliseconds and a runnable vCPU waited seconds
// (issue 10, the psci-race stall; Linux as a guest falls back to test-and-set for the same
// reason, virt_spin_lock). Bit 0: held.
#define APUS_LOCK_PATIENCE (1u << 16)

void apus_spin_lock(uint32_t *lock) {
    uint32_t expected = 0;
    // Free and reserved by nobody: the usual case, one exclusive pair.
    if (__atomic_compare_exchange_n(lock, &expected, 1u, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) return;
    uint64_t cpu;
    __asm__ volatile("mrs %0, tpidr_el2" : "=r"(cpu));      // this CPU's index (PerCPU)
    uint32_t me = (uint32_t)((cpu & 0xff) + 1) << 8;
    uint32_t tries = 0;
    for (;;) {
        uint32_t w = __atomic_load_n(lock, __ATOMIC_RELAXED);
        uint32_t reserved = w & 0xff00;
        if (!(w & 1) && (reserved == 0 || reserved == me)) {
            // Taken, and our reservation (if it was ours) used up.
            if (__atomic_compare_exchange_n(lock, &w, 1u, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) return;
            continue;
        }
        if (++tries >= APUS_LOCK_PATIENCE && reserved == 0)
            __atomic_compare_exchange_n(lock, &w, w | me, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
        __asm__ volatile("yield");
    }
}
void apus_spin_unlock(uint32_t *lock) {
    // Only the held byte (bits 0-7, little-endian), with one store: a reservation made
    // meanwhile (bits 8-15) stays, and a waiter's exclusive pair on the word fails and retries.
    __atomic_store_n((uint8_t *)lock, (uint8_t)0, __ATOMIC_RELEASE);
}

uint64_t apus_atomic_or64(uint64_t *p, uint64_t bits) { return __atomic_fetch_or(p, bits, __ATOMIC_SEQ_CST); }
uint64_t apus_atomic_and64(uint64_t *p, uint64_t bits) { return __atomic_fetch_and(p, bits, __ATOMIC_SEQ_CST); }
uint32_t apus_atomic_cas32(uint32_t *p, uint32_t expected, uint32_t desired) {
    __atomic_compare_exchange_n(p, &expected, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return expected;                       // the value found: the swap happened iff it was `expected`
}

// ---- heap: power-of-two size classes with free lists, large blocks from a bump ----
// Allocation happens mostly at boot (domains, tables); classes keep free() O(1) and
// make fragmentation bounded. Every block carries a 16-byte header with its class.
// The bump region starts after the image; boot trims it to what boot used (plus a little),
// and once it is spent the heap grows by whole 2 MiB chunks of the board's free RAM
// (apus_heap_grow: the pool the toolstack's domains also take their RAM from).
#define HEAP_CLASSES 20            // 16 B .. 8 MiB
#define HEAP_CHUNK (2ULL << 20)
static uint64_t heap_next, heap_end, heap_base;
static uint64_t heap_taken;        // RAM the heap holds: its boot region and every chunk since
static uint64_t heap_live;         // bytes in blocks handed out and not freed
static void *free_lists[HEAP_CLASSES];
static uint32_t heap_lock;

void apus_heap_init(uint64_t base, uint64_t size) {
    heap_base = heap_next = (base + 15) & ~15ULL;
    heap_end = base + size;
    heap_taken = size;
}
uint64_t apus_heap_used(void) { return heap_live; }
uint64_t apus_heap_taken(void) { return heap_taken; }

// Boot is done: the boot region ends `headroom` bytes past what boot used, on a chunk
// boundary. Returns the new end (what follows it is free RAM again).
uint64_t apus_heap_trim(uint64_t headroom) {
    apus_spin_lock(&heap_lock);
    uint64_t end = (heap_next + headroom + HEAP_CHUNK - 1) & ~(HEAP_CHUNK - 1);
    if (end < heap_end) { heap_taken -= heap_end - end; heap_end = end; }
    end = heap_end;
    apus_spin_unlock(&heap_lock);
    return end;
}

static int size_class(size_t n) {
    size_t sz = 16; int c = 0;
    while (sz < n && c < HEAP_CLASSES - 1) { sz <<= 1; c++; }
    return sz >= n ? c : -1;
}

extern void apus_out_of_memory(uint64_t request) __attribute__((noreturn));
// A run of whole chunks of `bytes` from the board's free RAM, or 0 (before the pool exists,
// or none left). Called with heap_lock held: the pool's lock is a leaf and it allocates nothing.
extern uint64_t apus_heap_grow(uint64_t bytes);

static void *heap_alloc(size_t n, size_t align) {
    if (align < 16) align = 16;
    int c = size_class(n < align ? align : n);
    if (c < 0) apus_out_of_memory(n);
    size_t bytes = (size_t)16 << c;
    apus_spin_lock(&heap_lock);
    void *p = 0;
    // A freed block is reused when it has the alignment asked for (page tables given back
    // by a rebooting domain come back as page tables).
    if (free_lists[c] && ((uint64_t)free_lists[c] & (uint64_t)(align - 1)) == 0) {
        p = free_lists[c];
        free_lists[c] = *(void **)p;
    } else {
        // header sits just below the aligned payload
        uint64_t payload = (heap_next + 16 + align - 1) & ~(uint64_t)(align - 1);
        if (payload + bytes > heap_end) {
            // The rest of the region is left unused (less than this block).
            uint64_t size = (bytes + 16 + align + HEAP_CHUNK - 1) & ~(HEAP_CHUNK - 1);
            uint64_t grown = apus_heap_grow(size);
            if (!grown) { apus_spin_unlock(&heap_lock); apus_out_of_memory(n); }
            heap_next = grown;
            heap_end = grown + size;
            heap_taken += size;
            payload = (heap_next + 16 + align - 1) & ~(uint64_t)(align - 1);
        }
        heap_next = payload + bytes;
        p = (void *)payload;
    }
    ((uint64_t *)p)[-2] = (uint64_t)c;
    heap_live += bytes;
    apus_spin_unlock(&heap_lock);
    return p;
}

void *malloc(size_t n) { return heap_alloc(n, 16); }
int posix_memalign(void **out, size_t align, size_t n) { *out = heap_alloc(n, align); return 0; }
void *aligned_alloc(size_t align, size_t n) { return heap_alloc(n, align); }
void *calloc(size_t a, size_t b) { size_t n = a * b; void *p = heap_alloc(n, 16); memset(p, 0, n); return p; }
void free(void *p) {
    if (!p) return;
    uint64_t c = ((uint64_t *)p)[-2];
    if (c >= HEAP_CLASSES) return;          // not ours: leak rather than corrupt
    apus_spin_lock(&heap_lock);
    *(void **)p = free_lists[c];
    free_lists[c] = p;
    heap_live -= (uint64_t)16 << c;
    apus_spin_unlock(&heap_lock);
}

// ---- console hook for print() ----
static void (*console_putc)(uint8_t);
void apus_set_console(void (*putc)(uint8_t)) { console_putc = putc; }
int putchar(int c) { if (console_putc) console_putc((uint8_t)c); return c; }

// Hashing seeds: determinism beats secrecy here; nothing hashes guest-chosen keys.
void arc4random_buf(void *buf, size_t n) {
    uint8_t *p = buf; uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < n; i++) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; p[i] = (uint8_t)x; }
}
#endif
