/* More device-tree lookups for the test guests (fdt_extra.c): all /memory banks, the vCPU
 * count, /chosen/bootargs and "key=value" options in it. Include after guest.h. */
#ifndef FDT_EXTRA_H
#define FDT_EXTRA_H

#define FDTX_MAX_BANKS 8

/* Every (base, size) pair of every /memory* node (root #address-cells/#size-cells, default 2/2).
 * Returns the number of banks stored (at most max), 0 if none or no valid FDT. */
int fdtx_memory_banks(u64 dtb, u64 *base, u64 *size, int max);

/* Number of /cpus/cpu@* nodes (0 if none). */
int fdtx_cpu_count(u64 dtb);

/* Copies /chosen/bootargs (NUL-terminated, truncated to cap - 1). Returns its length, or -1 when
 * there is no such property (buf is then ""). */
int fdtx_bootargs(u64 dtb, char *buf, u32 cap);

/* The first 8 bytes of /chosen/NAME, big-endian, in *out (fewer bytes: zero-padded). Returns
 * 1 if the property exists, else 0. */
int fdtx_chosen_head(u64 dtb, const char *name, u64 *out);

/* Finds "key=VALUE" as a whole word in args; VALUE is decimal or 0x-prefixed hex. Returns 1 and
 * sets *out if found and well formed, else 0. */
int fdtx_bootarg_u64(const char *args, const char *key, u64 *out);

#endif
