/*
 * Common entry for the Apus/Xen test guests: arm64 Linux Image header, primary and
 * secondary entry points, EL1 exception vectors, hvc/smc call helpers.
 *
 * Boot environment (Linux arm64 booting protocol, as given by Xen to a dom0less domU):
 * EL1h, MMU and D-cache off, x0 = physical address of the DTB, DAIF masked.
 * Everything here is position independent (adr/adrp only).
 */
    .section .text.head, "ax"
    .global _start
_start:
    /* arm64 Image header (Documentation/arch/arm64/booting.rst) */
    b       primary_entry          /* code0 */
    .long   0                      /* code1 */
    .quad   0                      /* text_offset */
    .quad   _image_size            /* image_size: file + bss + stacks */
    .quad   0xa                    /* flags: LE, 4K pages, anywhere in RAM */
    .quad   0                      /* res2 */
    .quad   0                      /* res3 */
    .quad   0                      /* res4 */
    .ascii  "ARM\x64"              /* magic */
    .long   0                      /* res5 */

primary_entry:
    mov     x19, x0                /* DTB */
    adrp    x1, __stack_base
    add     x1, x1, :lo12:__stack_base
    add     x1, x1, #0x4000        /* CPU slot 0 */
    mov     sp, x1
    /* clear .bss */
    adrp    x1, __bss_start
    add     x1, x1, :lo12:__bss_start
    adrp    x2, __bss_end
    add     x2, x2, :lo12:__bss_end
1:  cmp     x1, x2
    b.hs    2f
    str     xzr, [x1], #8
    b       1b
2:  adrp    x1, boot_dtb
    str     x19, [x1, :lo12:boot_dtb]
    adr     x1, vectors
    msr     vbar_el1, x1
    isb
    mov     x0, x19
    bl      main
    bl      finish
3:  wfi
    b       3b

/* PSCI CPU_ON entry point: x0 = context id. Stack slot = MPIDR.Aff0 (1..3). */
    .text
    .global secondary_entry
    .balign 8
secondary_entry:
    mrs     x1, mpidr_el1
    and     x1, x1, #3
    add     x1, x1, #1
    adrp    x2, __stack_base
    add     x2, x2, :lo12:__stack_base
    add     x2, x2, x1, lsl #14
    mov     sp, x2
    adr     x1, vectors
    msr     vbar_el1, x1
    isb
    bl      secondary_main
1:  wfi
    b       1b

    .global hvc_call
hvc_call:
    hvc     #0
    ret

    .global smc_call
smc_call:
    smc     #0
    ret

/* ---- EL1 exception vectors ---- */
#define FRAME_SIZE 288

    .macro ventry kind
    .balign 0x80
    sub     sp, sp, #FRAME_SIZE
    stp     x0, x1, [sp, #0]
    mov     x1, #\kind
    b       exc_entry
    .endm

    .balign 0x800
    .global vectors
vectors:
    .irp k, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    ventry \k
    .endr

exc_entry:
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    mrs     x2, elr_el1
    mrs     x3, spsr_el1
    stp     x30, x2, [sp, #240]
    mrs     x2, esr_el1
    stp     x3, x2, [sp, #256]
    mrs     x2, far_el1
    str     x2, [sp, #272]
    mov     x0, sp
    bl      exc_dispatch
    ldp     x30, x2, [sp, #240]
    ldr     x3, [sp, #256]
    msr     elr_el1, x2
    msr     spsr_el1, x3
    ldp     x0, x1, [sp, #0]
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x19, [sp, #144]
    ldp     x20, x21, [sp, #160]
    ldp     x22, x23, [sp, #176]
    ldp     x24, x25, [sp, #192]
    ldp     x26, x27, [sp, #208]
    ldp     x28, x29, [sp, #224]
    add     sp, sp, #FRAME_SIZE
    eret
