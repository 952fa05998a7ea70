/* Faulting instructions at known addresses, so the exception handler can check ELR_EL1. */
    .text

/* u64 probe_load(u64 addr, u64 marker): ldr w0,[addr]; returns marker if the load was skipped */
    .global probe_load, probe_load_insn
probe_load:
    mov     x2, x0
    mov     x0, x1
probe_load_insn:
    ldr     w0, [x2]
    ret

/* void probe_store(u64 addr, u32 value) */
    .global probe_store, probe_store_insn
probe_store:
probe_store_insn:
    str     w1, [x0]
    ret

/* u64 probe_hvc_imm(u64 x0): hvc with a non-zero, non-Xen immediate; returns x0 afterwards */
    .global probe_hvc_imm, probe_hvc_imm_insn
probe_hvc_imm:
probe_hvc_imm_insn:
    hvc     #0x1234
    nop                             /* lands here if the exception return skips the hvc */
    ret

/* u64 probe_smc0(u64 fn): smc #0 with x0 = fn; returns x0 afterwards */
    .global probe_smc0, probe_smc0_insn
probe_smc0:
probe_smc0_insn:
    smc     #0
    nop
    ret

/* u64 probe_smc1(u64 fn): smc #1 (not an SMCCC call: immediate must be 0) */
    .global probe_smc1, probe_smc1_insn
probe_smc1:
probe_smc1_insn:
    smc     #1
    nop
    ret

/* void probe_msr_mpidr(u64 v): MSR to the (read-only) MPIDR_EL1 encoding */
    .global probe_msr_mpidr, probe_msr_mpidr_insn
probe_msr_mpidr:
probe_msr_mpidr_insn:
    msr     s3_0_c0_c0_5, x0
    nop
    ret

/* void probe_brk(void): BRK #0x800, the immediate Linux's WARN() uses */
    .global probe_brk, probe_brk_insn
probe_brk:
probe_brk_insn:
    brk     #0x800
    nop
    ret
