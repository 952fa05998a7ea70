/* The timed loops of nullcall: identical but for the hvc. */
    .text
    .global nullcall_loop
    .balign 64
nullcall_loop:                 /* x0 = n; returns x0 of the last call */
    mov     x9, x0
1:  mov     x16, #17           /* __HYPERVISOR_xen_version */
    mov     x0, #0             /* XENVER_version */
    mov     x1, #0
    hvc     #0xea1
    subs    x9, x9, #1
    b.ne    1b
    ret

    .global nop_loop
    .balign 64
nop_loop:
    mov     x9, x0
1:  mov     x16, #17
    mov     x0, #0
    mov     x1, #0
    nop
    subs    x9, x9, #1
    b.ne    1b
    ret
