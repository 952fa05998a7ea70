// The hypervisor image's entry points are the @_cdecl functions in Boot.swift, called
// from start.S; this file only exists because an executable target needs top-level code.
#if !hasFeature(Embedded)
print("ApusHypervisor is the EL2 image: build it with `apus build` (aarch64-none-none-elf).")
#endif
