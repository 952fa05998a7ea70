/*
 * hostile: accesses at known instruction addresses (so the exception handler can check ELR_EL1
 * and skip exactly the faulting instruction), and the runner for generated instructions.
 */
    .text

/* ---- (a)/(b) single accesses. Loads: x0 = address, x1 = marker (returned if skipped). ---- */
    .macro LOAD name, insn
    .global hp_\name, hp_\name\()_insn
    .balign 8
hp_\name:
    mov     x2, x0
    mov     x0, x1
hp_\name\()_insn:
    \insn
    ret
    .endm

    LOAD ldrb, "ldrb w0, [x2]"
    LOAD ldrh, "ldrh w0, [x2]"
    LOAD ldrw, "ldr w0, [x2]"
    LOAD ldrx, "ldr x0, [x2]"
    LOAD ldarw, "ldar w0, [x2]"

/* Stores: x0 = address, x1 = value */
    .macro STORE name, insn
    .global hp_\name, hp_\name\()_insn
    .balign 8
hp_\name:
hp_\name\()_insn:
    \insn
    ret
    .endm

    STORE strb, "strb w1, [x0]"
    STORE strh, "strh w1, [x0]"
    STORE strw, "str w1, [x0]"
    STORE strx, "str x1, [x0]"
    STORE stp, "stp x1, x1, [x0]"
    STORE dccivac, "dc civac, x0"

/* void hp_ldp(u64 addr, u64 marker, u64 out[2]): ldp (no syndrome: ISV = 0) */
    .global hp_ldp, hp_ldp_insn
    .balign 8
hp_ldp:
    mov     x3, x1
    mov     x4, x1
hp_ldp_insn:
    ldp     x3, x4, [x0]
    stp     x3, x4, [x2]
    ret

/* void hp_ldr_pre(u64 addr, u64 marker, u64 out[2]): ldr x, [base, #8]! with base = addr - 8;
 * out[0] = loaded value (marker if skipped), out[1] = base afterwards (unchanged on an abort) */
    .global hp_ldr_pre, hp_ldr_pre_insn
    .balign 8
hp_ldr_pre:
    sub     x3, x0, #8
    mov     x4, x1
hp_ldr_pre_insn:
    ldr     x4, [x3, #8]!
    stp     x4, x3, [x2]
    ret

/* void hp_str_post(u64 addr, u64 value, u64 out[2]): str w, [base], #16 with base = addr;
 * out[1] = base afterwards */
    .global hp_str_post, hp_str_post_insn
    .balign 8
hp_str_post:
    mov     x3, x0
hp_str_post_insn:
    str     w1, [x3], #16
    stp     xzr, x3, [x2]
    ret

/* void hp_ldr_post(u64 addr, u64 marker, u64 out[2]): ldr w, [base], #4 */
    .global hp_ldr_post, hp_ldr_post_insn
    .balign 8
hp_ldr_post:
    mov     x3, x0
    mov     x4, x1
hp_ldr_post_insn:
    ldr     w4, [x3], #4
    stp     x4, x3, [x2]
    ret

/* void hp_exec(u64 addr): branch to addr; an instruction abort comes back here (the handler
 * resumes at x30). */
    .global hp_exec
    .balign 8
hp_exec:
    stp     x29, x30, [sp, #-16]!
    blr     x0
    ldp     x29, x30, [sp], #16
    ret

/*
 * void hx_run(struct hx_regs *r): runs the instruction at r->code (followed by a `ret`) with
 * x0-x7 and x16 loaded from r->x[], and x19-x28 loaded with r->cs[]; afterwards stores x0-x7,
 * x16 and x19-x28 back so the caller can see results and check that the callee-saved ones
 * survived.
 * struct hx_regs { u64 x[8]; u64 x16; u64 cs[10]; u64 code; }  (offsets 0, 64, 72, 152)
 */
    .global hx_run
    .balign 8
hx_run:
    stp     x29, x30, [sp, #-112]!
    mov     x29, sp
    stp     x19, x20, [sp, #16]
    stp     x21, x22, [sp, #32]
    stp     x23, x24, [sp, #48]
    stp     x25, x26, [sp, #64]
    stp     x27, x28, [sp, #80]
    str     x0, [sp, #96]
    mov     x9, x0
    ldp     x19, x20, [x9, #72]
    ldp     x21, x22, [x9, #88]
    ldp     x23, x24, [x9, #104]
    ldp     x25, x26, [x9, #120]
    ldp     x27, x28, [x9, #136]
    ldr     x10, [x9, #152]
    ldr     x16, [x9, #64]
    ldp     x6, x7, [x9, #48]
    ldp     x4, x5, [x9, #32]
    ldp     x2, x3, [x9, #16]
    ldp     x0, x1, [x9, #0]
    blr     x10
    ldr     x9, [sp, #96]
    stp     x0, x1, [x9, #0]
    stp     x2, x3, [x9, #16]
    stp     x4, x5, [x9, #32]
    stp     x6, x7, [x9, #48]
    str     x16, [x9, #64]
    stp     x19, x20, [x9, #72]
    stp     x21, x22, [x9, #88]
    stp     x23, x24, [x9, #104]
    stp     x25, x26, [x9, #120]
    stp     x27, x28, [x9, #136]
    ldp     x19, x20, [sp, #16]
    ldp     x21, x22, [sp, #32]
    ldp     x23, x24, [sp, #48]
    ldp     x25, x26, [sp, #64]
    ldp     x27, x28, [sp, #80]
    ldp     x29, x30, [sp], #112
    ret

/* A page of its own for the generated instruction (self-modifying code invalidates a whole
 * page's translations in emulators). */
    .section .bss.hx_code, "aw", %nobits
    .balign 4096
    .global hx_code
hx_code:
    .space 4096

/*
 * (m) u64 hp_el0(u64 pc, u64 arg): runs the code at pc at EL0 (SP_EL0 on a stack of its own,
 * interrupts masked), x0 = x2 = arg, through a private vector table whose lower-EL entries
 * come back here; returns ESR_EL1 of the exception that ended it (el0_elr, el0_far: its
 * ELR_EL1 and FAR_EL1). Exceptions at EL1 meanwhile go to the guest's usual vectors.
 * Interrupts are masked at EL1 from the start (and stay masked on return: the caller unmasks
 * them): an IRQ taken between the writes of ELR_EL1/SPSR_EL1 and the ERET would leave ELR_EL1
 * at the interrupted instruction (the handler's own exception return restores it so), and the
 * ERET would then run this routine's own instructions, at EL0 (an UNDEFINED MSR SPSR_EL1: EC 0x0
 * with ELR inside hp_el0, reported as if the EL0 instruction had been refused) or at EL1 with
 * the interrupted SPSR (an ERET to itself, forever).
 */
    .text
    .global hp_el0, el0_elr, el0_far
    .balign 8
hp_el0:
    msr     daifset, #0xf
    stp     x29, x30, [sp, #-112]!
    mov     x29, sp
    stp     x19, x20, [sp, #16]
    stp     x21, x22, [sp, #32]
    stp     x23, x24, [sp, #48]
    stp     x25, x26, [sp, #64]
    stp     x27, x28, [sp, #80]
    mrs     x9, vbar_el1
    str     x9, [sp, #96]
    adr     x10, el0_vectors
    msr     vbar_el1, x10
    adrp    x11, el0_stack
    add     x11, x11, #4096
    msr     sp_el0, x11
    msr     elr_el1, x0
    mov     x12, #0x3c0                 /* EL0t, DAIF masked */
    msr     spsr_el1, x12
    mov     x0, x1
    mov     x2, x1
    isb
    eret
el0_return:                            /* SP_EL1 is what it was at the eret */
    mrs     x0, esr_el1
    mrs     x1, elr_el1
    mrs     x2, far_el1
    adrp    x3, el0_elr
    str     x1, [x3, :lo12:el0_elr]
    adrp    x3, el0_far
    str     x2, [x3, :lo12:el0_far]
    ldr     x9, [sp, #96]
    msr     vbar_el1, x9
    isb
    ldp     x19, x20, [sp, #16]
    ldp     x21, x22, [sp, #32]
    ldp     x23, x24, [sp, #48]
    ldp     x25, x26, [sp, #64]
    ldp     x27, x28, [sp, #80]
    ldp     x29, x30, [sp], #112
    ret

    .balign 0x800
el0_vectors:
    .irp k, 0,1,2,3,4,5,6,7
    .balign 0x80
    b       vectors + \k * 0x80
    .endr
    .irp k, 8,9,10,11,12,13,14,15
    .balign 0x80
    b       el0_return
    .endr

    .data
    .balign 8
el0_elr: .quad 0
el0_far: .quad 0

/* EL0's code page and stack (pages of their own, as hx_code). */
    .section .bss.el0, "aw", %nobits
    .balign 4096
    .global el0_code
el0_code:
    .space 4096
el0_stack:
    .space 4096
