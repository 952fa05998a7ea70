// Entry points of the EL2 image: the boot CPU (_start, from QEMU's loader) and the
// secondaries (apus_secondary_entry, from PSCI CPU_ON). Both run with the MMU off,
// set up a stack and the vectors, and hand over to Swift.
#if defined(__aarch64__)
#define STACK_SIZE   0x8000
#define MAX_CPUS     8
#define CPTR_EL2_RES1 0x33ff   // TFP=0: guests own FP/SIMD; EL2 code is general-regs-only
#define SCTLR_EL2_RES1 0x30c50830

    // The image is an arm64 Linux "Image" (Documentation/arch/arm64/booting.rst), like
    // Xen's: boot loaders (QEMU -kernel, U-Boot booti) then load it at a 2 MiB-aligned
    // RAM base + text_offset and enter it with the DTB address in x0.
    .section .text.boot, "ax"
    .global _start
_start:
    b       boot_entry                  // code0
    .word   0                           // code1
    .quad   0x80000                     // text_offset: we are linked at RAM base + 512 KiB
    .quad   __bss_end - _start          // image_size: what must be free, bss included
    .quad   0x2                         // flags: little-endian, 4 KiB pages, 2 MiB-aligned base
    .quad   0, 0, 0                     // res2-4
    .ascii  "ARM\x64"                  // magic
    .word   0                           // res5 (no PE header)

boot_entry:
    mov     x19, x0                     // board DTB
    adrp    x1, __bss_start
    add     x1, x1, :lo12:__bss_start
    adrp    x2, __bss_end
    add     x2, x2, :lo12:__bss_end
1:  cmp     x1, x2
    b.hs    2f
    stp     xzr, xzr, [x1], #16
    b       1b
2:  mov     x20, #0                     // CPU index 0
    bl      cpu_common_setup
    mov     x0, x19
    bl      apus_boot_main              // Swift; never returns
    b       apus_halt

    // PSCI CPU_ON target: x0 = context id = our CPU index.
    .global apus_secondary_entry
apus_secondary_entry:
    mov     x20, x0
    bl      cpu_common_setup
    adrp    x1, apus_boot_params
    add     x1, x1, :lo12:apus_boot_params
    ldp     x0, x2, [x1]                // ttbr0, tcr
    ldr     x3, [x1, #16]               // mair
    mov     x1, x2
    mov     x2, x3
    bl      apus_enable_mmu
    mov     x0, x20
    bl      apus_secondary_main         // Swift; never returns
    b       apus_halt

// x20 = CPU index. Stack, TPIDR_EL2, vectors, traps-to-EL2 defaults.
cpu_common_setup:
    adrp    x1, apus_stacks
    add     x1, x1, :lo12:apus_stacks
    add     x2, x20, #1
    mov     x3, #STACK_SIZE
    madd    x1, x2, x3, x1
    // The top 272 bytes hold the guest's trap frame (apus_frame) once a vCPU runs here:
    // Scheduler.enter copies it there while still running on this stack, so the boot and
    // scheduler frames start below it.
    sub     sp, x1, #272
    msr     tpidr_el2, x20
    adrp    x1, apus_vectors
    add     x1, x1, :lo12:apus_vectors
    msr     vbar_el2, x1
    mov     x1, #CPTR_EL2_RES1
    msr     cptr_el2, x1
    mov     x1, #SCTLR_EL2_RES1 & 0xffff
    movk    x1, #(SCTLR_EL2_RES1 >> 16), lsl #16
    msr     sctlr_el2, x1               // MMU off, alignment checks off
    msr     daifset, #0xf               // EL2 runs with every interrupt masked
    isb
    ret

    .text
    .global apus_secondary_entry_pa
apus_secondary_entry_pa:
    adrp    x0, apus_secondary_entry
    add     x0, x0, :lo12:apus_secondary_entry
    ret

    .global apus_bss_end
apus_bss_end:                           // first byte after the image's memory
    adrp    x0, __bss_end
    add     x0, x0, :lo12:__bss_end
    ret

    .global apus_stack_top
apus_stack_top:                         // x0 = CPU index -> top of its stack
    adrp    x1, apus_stacks
    add     x1, x1, :lo12:apus_stacks
    add     x0, x0, #1
    mov     x2, #STACK_SIZE
    madd    x0, x0, x2, x1
    ret

    // apus_enable_mmu(ttbr0, tcr, mair): identity-mapped, so execution simply continues.
    .global apus_enable_mmu
apus_enable_mmu:
    msr     mair_el2, x2
    msr     tcr_el2, x1
    msr     ttbr0_el2, x0
    isb
    tlbi    alle2
    dsb     ish
    isb
    mrs     x3, sctlr_el2
    mov     x4, #(1 << 0) | (1 << 2) | (1 << 3)    // M, C, SA
    orr     x4, x4, #(1 << 12)                     // I
    orr     x3, x3, x4
    msr     sctlr_el2, x3
    isb
    adrp    x5, apus_mmu_on                        // memcpy may now use unaligned accesses
    mov     w6, #1
    strb    w6, [x5, :lo12:apus_mmu_on]
    ret

    .global apus_cpu_boot_params
apus_cpu_boot_params:                   // (cpu unused, ttbr0, tcr, mair) for secondaries
    adrp    x0, apus_boot_params
    add     x0, x0, :lo12:apus_boot_params
    stp     x1, x2, [x0]
    str     x3, [x0, #16]
    dsb     sy
    ret

    .global apus_halt
apus_halt:
    msr     daifset, #0xf
1:  wfi
    b       1b

    .bss
    .balign 16
apus_boot_params:
    .skip   32
    .balign 4096
apus_stacks:
    .skip   STACK_SIZE * (MAX_CPUS + 1)
#endif
