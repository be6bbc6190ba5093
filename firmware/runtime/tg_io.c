/* Tiny output helpers: no printf, no libc. */
#include "tg_runtime.h"

/* Cold code (serial output helpers / start-up and fault reports, outside any inference): compiled for size, the
 * 12 KB kernels + runtime budget of the DS-CNN / MobileNet / MCUNet firmwares (tg_io.c -200 B, start-up -40 B on
 * Cortex-M4). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("Os")
#endif

static const char tg_hex_digits[16] = {'0', '1', '2', '3', '4', '5', '6', '7',
                                       '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};

void tg_putc(char c)
{
    uint8_t b = (uint8_t)c;
    tg_uart_write(&b, 1u);
}

void tg_puts(const char *s)
{
    size_t n = 0u;
    while (s[n] != '\0') {
        n++;
    }
    tg_uart_write((const uint8_t *)s, n);
}

void tg_put_u32(uint32_t v)
{
    char buf[10];
    size_t i = sizeof buf;
    do {
        buf[--i] = (char)('0' + (v % 10u));
        v /= 10u;
    } while (v != 0u);
    tg_uart_write((const uint8_t *)&buf[i], sizeof buf - i);
}

void tg_put_i32(int32_t v)
{
    if (v < 0) {
        tg_putc('-');
        tg_put_u32((uint32_t)0u - (uint32_t)v);
    } else {
        tg_put_u32((uint32_t)v);
    }
}

void tg_put_u64(uint64_t v)
{
    /* One digit per 64-bit division (libgcc's __aeabi_uldivmod: quotient and remainder in one call). Cold
     * (reports after the run), so small rather than fast: the 12 KB kernels + runtime budget. */
    char buf[20];
    size_t i = sizeof buf;
    if ((v >> 32) == 0u) {
        tg_put_u32((uint32_t)v); /* 32-bit divisions by 10 are multiplications */
        return;
    }
    do {
        buf[--i] = (char)('0' + (uint32_t)(v % 10u));
        v /= 10u;
    } while (v != 0u);
    tg_uart_write((const uint8_t *)&buf[i], sizeof buf - i);
}

void tg_put_hex8(uint8_t v)
{
    char buf[2];
    buf[0] = tg_hex_digits[v >> 4];
    buf[1] = tg_hex_digits[v & 0xFu];
    tg_uart_write((const uint8_t *)buf, 2u);
}

void tg_put_hex32(uint32_t v)
{
    char buf[10];
    int i;
    buf[0] = '0';
    buf[1] = 'x';
    for (i = 0; i < 8; i++) {
        buf[2 + i] = tg_hex_digits[(v >> (28 - 4 * i)) & 0xFu];
    }
    tg_uart_write((const uint8_t *)buf, sizeof buf);
}

void tg_put_hex_bytes(const uint8_t *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        tg_put_hex8(p[i]);
    }
}
