// Xen hypercall: number in x16, arguments in x0..x4, hvc #0xEA1 (public/arch-arm.h).
// u64 xen_call(u64 nr, u64 a0, u64 a1, u64 a2)
    .text
    .global xen_call
xen_call:
    mov     x16, x0
    mov     x0, x1
    mov     x1, x2
    mov     x2, x3
    hvc     #0xEA1
    ret

// void probe_write(u64 addr, u32 value): a store the test expects to fault.
    .global probe_write, probe_write_insn
probe_write:
probe_write_insn:
    str     w1, [x0]
    ret
