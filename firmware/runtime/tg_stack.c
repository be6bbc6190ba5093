/*
 * Stack high-water mark. The stack occupies [__stack_limit, _estack) at the top of RAM
 * (templates/linker.ld.j2). tg_stack_paint() (called by the reset handler before main)
 * fills the unused part with TG_STACK_PAINT_WORD; tg_stack_used() finds the lowest word
 * that no longer holds the pattern.
 */
#include "tg_runtime.h"

/* Cold code (once per run): compiled for size, the 12 KB kernels + runtime budget. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("Os")
#endif

extern uint32_t __stack_limit[];
extern uint32_t _estack[];

void tg_stack_paint(void)
{
    volatile uint32_t *p = __stack_limit;
    uint32_t *sp;
#if defined(__riscv)
    __asm__ volatile("mv %0, sp" : "=r"(sp));
#else
    __asm__ volatile("mov %0, sp" : "=r"(sp));
#endif
    /* Leave a margin below the live stack pointer for this function's own frame. */
    while ((uint32_t *)p < sp - 16) {
        *p++ = TG_STACK_PAINT_WORD;
    }
}

size_t tg_stack_used(void)
{
    const volatile uint32_t *p = __stack_limit;
    while ((const uint32_t *)p < _estack && *p == TG_STACK_PAINT_WORD) {
        p++;
    }
    return (size_t)((uintptr_t)_estack - (uintptr_t)p);
}

size_t tg_stack_size(void)
{
    return (size_t)((uintptr_t)_estack - (uintptr_t)__stack_limit);
}
