/* u64 vtlat_edge(u64 *first): *first = CNTVCT_EL0, then spin until the counter moves on;
 * returns the number of spins (5 instructions each: add, isb, mrs, cmp, b.eq). */
    .text
    .global vtlat_edge
    .balign 64
vtlat_edge:
    isb
    mrs     x1, cntvct_el0
    str     x1, [x0]
    mov     x2, #0
1:  add     x2, x2, #1
    isb
    mrs     x3, cntvct_el0
    cmp     x3, x1
    b.eq    1b
    mov     x0, x2
    ret
