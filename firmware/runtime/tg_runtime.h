/*
 * tinygen runtime helpers shared by all boards: tiny output routines (no printf),
 * benchmark markers and the stack high-water mark.
 */
#ifndef TG_RUNTIME_H
#define TG_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "tg_port.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- output (tg_io.c); all write through tg_uart_write ---- */
void tg_putc(char c);
void tg_puts(const char *s);                 /* writes s as is, no newline added */
void tg_put_u32(uint32_t v);                 /* decimal */
void tg_put_i32(int32_t v);                  /* decimal, '-' sign */
void tg_put_u64(uint64_t v);                 /* decimal */
void tg_put_hex8(uint8_t v);                 /* two lower-case hex digits */
void tg_put_hex32(uint32_t v);               /* "0x" + eight lower-case hex digits */
void tg_put_hex_bytes(const uint8_t *p, size_t n); /* 2n hex digits, no separator */

/* ---- benchmark markers (tg_bench.c) ----
 * Out-of-line with compiler memory barriers, so work is neither hoisted into nor sunk
 * out of the measured region; handy as breakpoint/trace anchors too.
 * tg_bench_end() returns tg_cycles() elapsed since the last tg_bench_begin(). */
void tg_bench_begin(void);
uint64_t tg_bench_end(void);

/* ---- stack high-water mark (tg_stack.c) ----
 * The reset handler paints the unused stack with a pattern before main();
 * tg_stack_used() scans for the deepest overwritten word. */
void tg_stack_paint(void);
size_t tg_stack_used(void);
size_t tg_stack_size(void);

#define TG_STACK_PAINT_WORD 0xC5A5C5A5u

#ifdef __cplusplus
}
#endif

#endif /* TG_RUNTIME_H */
