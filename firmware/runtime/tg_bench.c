/*
 * Benchmark markers. Kept out of line (noinline) and fenced with compiler memory
 * barriers so that the measured work stays between them and they are never removed.
 * Each marker costs the same fixed number of instructions on every call.
 */
#include "tg_runtime.h"

static volatile uint64_t s_bench_start;

__attribute__((noinline)) void tg_bench_begin(void)
{
    __asm__ volatile("" : : : "memory");
    s_bench_start = tg_cycles();
    __asm__ volatile("" : : : "memory");
}

__attribute__((noinline)) uint64_t tg_bench_end(void)
{
    uint64_t now;
    __asm__ volatile("" : : : "memory");
    now = tg_cycles();
    __asm__ volatile("" : : : "memory");
    return now - s_bench_start;
}
