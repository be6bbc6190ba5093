/*
 * Runtime self-checks (tests/test_qemu_runtime.py). Build with a short SysTick period,
 * e.g. -DTG_SYSTICK_SHIFT=12, so that the 64-bit extension wraps many times, and with
 * -DBIG_BSS_BYTES=<n> to put a large .bss next to the stack (QEMU ELF-loader pitfall).
 *
 * Prints one JSON object per line:
 *   {"data_ok":1,"bss_ok":1,"bss_bytes":n}
 *   {"c0":n,"c1":n,"c2":n,"iters":N}     cycles for 0, N and 2N loop iterations
 *   {"backwards":n,"max_step":n,"span":n} tg_cycles() read back to back many times
 *   {"ready":1}
 * then waits: 'q' -> exit 0, 'f' -> executes an undefined instruction (fault report, exit 131).
 */
#include "tg_runtime.h"

#ifndef BIG_BSS_BYTES
#define BIG_BSS_BYTES 65536u
#endif
#define LINEAR_ITERS 500000u
#define MONO_READS 100000u

static uint32_t big_bss[BIG_BSS_BYTES / 4u];
volatile uint32_t init_data[4] = {0x11111111u, 0x22222222u, 0xDEADBEEFu, 0x12345678u};

__attribute__((noinline)) static uint32_t spin(uint32_t iters)
{
    uint32_t x = 1u, acc = 0u, i;
    for (i = 0; i < iters; i++) {
        x = x * 1664525u + 1013904223u;
        acc ^= x >> 7;
        __asm__ volatile("" : "+r"(acc));
    }
    return acc;
}

static uint64_t measure(uint32_t iters)
{
    volatile uint32_t sink;
    tg_bench_begin();
    sink = spin(iters);
    (void)sink;
    return tg_bench_end();
}

static const volatile uint64_t u64_probe[3] = {0xFFFFFFFFu, 0x100000000u, 0xFFFFFFFFFFFFFFFFu};

static void put_kv_u64(const char *key, uint64_t v, int last)
{
    tg_putc('"');
    tg_puts(key);
    tg_puts("\":");
    tg_put_u64(v);
    tg_puts(last ? "}\n" : ",");
}

int main(void)
{
    const volatile uint32_t *p = big_bss;
    uint32_t i, bss_ok = 1u, data_ok;
    uint64_t prev, now, first, max_step = 0u;
    uint32_t backwards = 0u;
    uint8_t byte;

    tg_board_init();

    data_ok = init_data[0] == 0x11111111u && init_data[1] == 0x22222222u &&
              init_data[2] == 0xDEADBEEFu && init_data[3] == 0x12345678u;
    for (i = 0; i < BIG_BSS_BYTES / 4u; i++) {
        if (p[i] != 0u) {
            bss_ok = 0u;
        }
    }
    big_bss[0] = 1u;
    big_bss[BIG_BSS_BYTES / 4u - 1u] = 1u;
    tg_puts("{");
    put_kv_u64("data_ok", data_ok, 0);
    put_kv_u64("bss_ok", bss_ok, 0);
    put_kv_u64("bss_bytes", BIG_BSS_BYTES, 0);
    /* tg_put_u64 on both sides of 2^32 (the 32-bit path and the 64-bit one) and at 2^64 - 1 */
    put_kv_u64("u32max", u64_probe[0], 0);
    put_kv_u64("u32max1", u64_probe[1], 0);
    put_kv_u64("u64max", u64_probe[2], 1);

    tg_puts("{");
    put_kv_u64("c0", measure(0u), 0);
    put_kv_u64("c1", measure(LINEAR_ITERS), 0);
    put_kv_u64("c2", measure(2u * LINEAR_ITERS), 0);
    put_kv_u64("iters", LINEAR_ITERS, 1);

    first = prev = tg_cycles();
    for (i = 0; i < MONO_READS; i++) {
        now = tg_cycles();
        if (now < prev) {
            backwards++;
        } else if (now - prev > max_step) {
            max_step = now - prev;
        }
        prev = now;
    }
    tg_puts("{");
    put_kv_u64("backwards", backwards, 0);
    put_kv_u64("max_step", max_step, 0);
    put_kv_u64("span", prev - first, 1);

    tg_puts("{\"ready\":1}\n");
    for (;;) {
        if (tg_uart_read(&byte)) {
            if (byte == 'q') {
                tg_exit(0);
            }
            if (byte == 'f') {
#if defined(__riscv)
                __asm__ volatile("unimp");
#else
                __asm__ volatile("udf #0");
#endif
            }
        }
    }
}
