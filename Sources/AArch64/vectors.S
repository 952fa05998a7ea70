// EL2 exception vectors. Exceptions from the guest (lower EL, AArch64) save the
// guest's registers in an apus_frame at the top of this CPU's EL2 stack and call
// apus_trap_lower(frame, kind) in Swift; when it returns, the (possibly changed)
// frame is restored and the guest resumes. Exceptions taken at EL2 itself are
// hypervisor bugs: they save a frame too and call apus_trap_current, which panics.
#if defined(__aarch64__)
#define FRAME_SIZE 272

.macro VENTRY kind, target
    .balign 0x80
    sub     sp, sp, #FRAME_SIZE
    stp     x0, x1, [sp, #0]
    mov     x1, #\kind
    b       \target
.endm

    .text
    .balign 0x800
    .global apus_vectors
apus_vectors:
    VENTRY 0, current_common   // current EL, SP_EL0: sync
    VENTRY 1, current_common   //   irq
    VENTRY 2, current_common   //   fiq
    VENTRY 3, current_common   //   serror
    VENTRY 0, current_common   // current EL, SP_ELx: sync
    VENTRY 1, current_common
    VENTRY 2, current_common
    VENTRY 3, current_common
    VENTRY 0, lower_sync       // lower EL, AArch64: sync
    VENTRY 1, lower_common     //   irq
    VENTRY 2, lower_common     //   fiq
    VENTRY 3, lower_common     //   serror
    VENTRY 4, current_common   // lower EL, AArch32: never allowed (HCR_EL2.RW=1)
    VENTRY 4, current_common
    VENTRY 4, current_common
    VENTRY 4, current_common

.macro SAVE_REST
    stp     x2, x3, [sp, #16]
    SAVE_FROM_X4
.endm

.macro SAVE_FROM_X4
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
    mrs     x2, elr_el2
    mrs     x3, spsr_el2
    stp     x30, x2, [sp, #240]
    mrs     x2, esr_el2
    stp     x3, x2, [sp, #256]
.endm

.macro HARDEN
    stp     x2, x3, [sp, #16]
    // Leaving a guest: the branch-predictor hardening this CPU needs (Xen's bp hardening
    // vectors, arm64/bpi.S), before any indirect branch of the hypervisor. Only x0-x3 are
    // used; the guest's are already saved.
    mrs     x2, tpidr_el2
    adrp    x3, apus_bp_harden
    add     x3, x3, :lo12:apus_bp_harden
    ldr     w0, [x3, x2, lsl #2]
    cbz     w0, 3f
    tbnz    w0, #31, 1f
    cmp     w0, #1
    b.ne    2f
    hint    #22                         // CLRBHB (Spectre-BHB)
    isb
    b       3f
1:  smc     #0                          // SMCCC_ARCH_WORKAROUND_1/3: firmware keeps x4-x17
    b       3f
2:  b       . + 4                       // Spectre-BHB: w0 taken branches, then a barrier
    subs    w0, w0, #1
    b.ne    2b
    dsb     nsh
    isb
3:
.endm

lower_sync:                             // synchronous: first the SMCCC workaround fast path
    HARDEN
    // The SMCCC workaround calls through `hvc #0` (ARM_SMCCC_ARCH_WORKAROUND_1, _2, _3):
    // the hardening above already ran, so the guest goes straight back, with x0 and x1
    // zeroed (x0-x3 for _2), as Xen's guest_sync fast path does. Linux on a Cortex-A57
    // makes WORKAROUND_1 calls at every switch between user tasks; through the whole trap
    // path each cost some 190 instructions more than on Xen.
    mrs     x2, esr_el2
    movz    w3, #0x5A00, lsl #16        // EC = HVC64, IL, imm16 = 0
    cmp     w2, w3
    b.ne    lower_save
    ldr     w2, [sp, #0]                // the guest's w0 (the function id)
    mov     w3, #0x8000
    movk    w3, #0x8000, lsl #16        // 0x80008000: WORKAROUND_1
    cmp     w2, w3
    b.eq    6f
    movk    w3, #0x3FFF                 // 0x80003FFF: WORKAROUND_3
    cmp     w2, w3
    b.eq    6f
    movk    w3, #0x7FFF                 // 0x80007FFF: WORKAROUND_2
    cmp     w2, w3
    b.ne    lower_save
    mov     x2, xzr
    mov     x3, xzr
    b       7f
6:  ldp     x2, x3, [sp, #16]
7:  mov     x0, xzr
    mov     x1, xzr
    add     sp, sp, #FRAME_SIZE
    eret
    dsb     nsh                         // no straight-line speculation past the eret
    isb

lower_common:                           // interrupts, SErrors: no fast path to check
    HARDEN
lower_save:                             // x0, x1 (kind) and x2, x3 are saved
    SAVE_FROM_X4
    mov     x0, sp
    bl      apus_trap_lower
    // fall through
    .global apus_return_to_guest
apus_return_to_guest:
    ldp     x30, x2, [sp, #240]
    ldr     x3, [sp, #256]
    msr     elr_el2, x2
    msr     spsr_el2, x3
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
    ldp     x0, x1, [sp, #0]
    add     sp, sp, #FRAME_SIZE
    eret

current_common:
    SAVE_REST
    mov     x0, sp
    bl      apus_trap_current           // panics; does not return
    b       apus_halt

    // apus_enter_guest(frame): frame sits at the top of this CPU's stack.
    .global apus_enter_guest
apus_enter_guest:
    mov     sp, x0
    b       apus_return_to_guest
#endif
