/*
 * switch_x86_64.S — the context switch (System V AMD64 ABI).
 *
 * void weft__ctx_switch(void **save_sp, void *new_sp)
 *   Pushes the callee-saved registers (rbp, rbx, r12-r15) on the current
 *   stack, stores rsp in *save_sp, loads new_sp and pops the same registers
 *   from it. Caller-saved registers are already dead across a call, so this
 *   is all the ABI requires. MXCSR and the x87 control word are not switched:
 *   tasks share the thread's floating-point environment (docs/runtime.md).
 *
 * A new task's stack is laid out by sched.c as: six zero registers, the
 * address of weft__task_trampoline, and zeros above it. The trampoline is
 * entered with rsp 16-byte aligned, so its call into C meets the ABI; it marks
 * rip undefined so debuggers and unwinders stop there.
 */
#if defined(__x86_64__)
    .text
    .globl  weft__ctx_switch
    .type   weft__ctx_switch, @function
    .p2align 4
weft__ctx_switch:
    .cfi_startproc
    endbr64
    pushq   %rbp
    pushq   %rbx
    pushq   %r12
    pushq   %r13
    pushq   %r14
    pushq   %r15
    movq    %rsp, (%rdi)
    movq    %rsi, %rsp
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    ret
    .cfi_endproc
    .size   weft__ctx_switch, .-weft__ctx_switch

    .globl  weft__task_trampoline
    .type   weft__task_trampoline, @function
    .p2align 4
weft__task_trampoline:
    .cfi_startproc
    .cfi_undefined rip
    endbr64
    xorl    %ebp, %ebp
    call    weft__task_main
    ud2
    .cfi_endproc
    .size   weft__task_trampoline, .-weft__task_trampoline
#else
#error "weft: context switch is implemented for x86-64 only (see docs/runtime.md)"
#endif
    .section .note.GNU-stack,"",@progbits
