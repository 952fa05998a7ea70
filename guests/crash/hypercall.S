// Xen hypercall: number in x16, arguments in x0..x4, hvc #0xEA1 (xen/include/public/arch-arm.h).
    .text
    .global xen_hypercall2
xen_hypercall2:
    mov     x16, x0
    mov     x0, x1
    mov     x1, x2
    hvc     #0xEA1
    ret
