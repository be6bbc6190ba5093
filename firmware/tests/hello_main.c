/*
 * Runtime smoke test firmware (tests/test_qemu_runtime.py).
 *
 * Prints, one JSON object per line:
 *   {"board":"<id>","clock_hz":<hz>}
 *   {"bench_cycles":<n>,"bench_iters":<n>,"checksum":"0x...","fpu":250}
 *   {"stack_used":<bytes>,"stack_size":<bytes>}
 *   {"ready":1}
 * then echoes every received byte (proving interrupt-driven RX) until it receives
 * 'q' (semihosting exit 0) or 'Q' (exit 7, to check exit-status plumbing).
 */
#include "tg_runtime.h"

#define BENCH_ITERS 10000u

/* A fixed integer loop: same instruction count on every run. */
__attribute__((noinline)) static uint32_t bench_kernel(uint32_t iters)
{
    uint32_t x = 12345u;
    uint32_t acc = 0u;
    uint32_t i;
    for (i = 0; i < iters; i++) {
        x = x * 1664525u + 1013904223u;
        acc ^= x >> 7;
        __asm__ volatile("" : "+r"(acc));
    }
    return acc;
}

/* Exercises the FPU (faults if CPACR was not set up). */
__attribute__((noinline)) static int32_t fpu_check(float a)
{
    volatile float f = a;
    f = f * f + 0.25f;
    return (int32_t)(f * 100.0f);
}

int main(void)
{
    uint32_t checksum;
    uint64_t cycles;
    uint8_t byte;

    tg_board_init();

    tg_puts("{\"board\":\"");
    tg_puts(tg_board_name);
    tg_puts("\",\"clock_hz\":");
    tg_put_u32(tg_clock_hz);
    tg_puts("}\n");

    tg_bench_begin();
    checksum = bench_kernel(BENCH_ITERS);
    cycles = tg_bench_end();

    tg_puts("{\"bench_cycles\":");
    tg_put_u64(cycles);
    tg_puts(",\"bench_iters\":");
    tg_put_u32(BENCH_ITERS);
    tg_puts(",\"checksum\":\"");
    tg_put_hex32(checksum);
    tg_puts("\",\"fpu\":");
    tg_put_i32(fpu_check(1.5f));
    tg_puts("}\n");

    tg_puts("{\"stack_used\":");
    tg_put_u32((uint32_t)tg_stack_used());
    tg_puts(",\"stack_size\":");
    tg_put_u32((uint32_t)tg_stack_size());
    tg_puts("}\n");

    tg_puts("{\"ready\":1}\n");

    for (;;) {
        if (tg_uart_read(&byte)) {
            if (byte == 'q') {
                tg_exit(0);
            }
            if (byte == 'Q') {
                tg_exit(7);
            }
            tg_uart_write(&byte, 1u);
        }
    }
}
