/*
 * tinygen firmware application: the logic every generated firmware runs, on bare metal
 * (tg_main.c) and under Arduino (tg_port_arduino.cpp + the sketch's setup()/loop()).
 *
 *   tg_board_init();        board: clock, serial port with RX interrupt, cycle counter
 *   tg_fw_start();          banner line, self-test line, protocol BOOT frame
 *   for (;;) tg_fw_poll();  serve the framed serial protocol (firmware/protocol)
 *
 * Serial output, one JSON object per line, before the protocol's frames:
 *   {"tinygen":"<fw version>","model":"<name>","sha256":"<16 hex>","board":"<id>","clock_hz":N,
 *    "inputs":[{"shape":[...],"dtype":"int8","scale":S,"zero_point":Z}],"outputs":[...],
 *    "arena_bytes":N,"layers":N,"stack_bytes":N,"protocol":1}
 *   {"selftest":{"seed":N,"inputs":[{"bytes":N,"crc32":"0x..."}],"status":0,"cycles":N,
 *    "outputs":[{"bytes":N,"crc32":"0x...","values":[...]}],"stack_used":N}}
 * (non-int8 outputs carry "hex": their raw little-endian bytes, instead of "values";
 * stack_bytes / stack_used only on bare metal).
 *
 * The self-test input k is the LCG stream (tg_fw_test_vector) from TG_FW_TEST_SEED + k,
 * as int8, or for a float32 input (q - zero_point) * scale of those bytes q;
 * tinygen.project.selftest_inputs() computes the same values on the host.
 *
 * Build-time switches:
 *   TG_FW_EXIT_AFTER_SELFTEST  exit (tg_exit: semihosting on QEMU) right after the
 *                              self-test line, with status 0 when the model ran
 *   TG_FW_EXIT_ON_RESET        the protocol's RESET command exits with status 0
 *                              instead of resetting the system
 *   TG_FW_NO_SELFTEST          skip the self-test run
 *   TG_FW_OUTPUT_MAX_VALUES    most output values printed in the self-test line (4096)
 *
 * Platform hooks (tg_main.c for bare metal, tg_port_arduino.cpp for Arduino).
 */
#ifndef TG_FW_H
#define TG_FW_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TG_FW_LCG_MUL 1664525u
#define TG_FW_LCG_ADD 1013904223u

void tg_fw_start(void);
void tg_fw_poll(void);

/* Status of the self-test inference: 0 ok, the invoke's error code otherwise,
 * -1 when it did not run. */
int tg_fw_selftest_status(void);

/* n bytes of the test vector: x = x * 1664525 + 1013904223 (mod 2^32) from x = seed,
 * byte i = bits 31..24 of the (i+1)-th x. */
void tg_fw_test_vector(uint8_t *dst, size_t n, uint32_t seed);

/* ---- platform hooks ---- */
void tg_fw_platform_reset(void);   /* system reset, does not return */
void tg_fw_platform_flush(void);   /* push buffered serial output out */

#ifdef __cplusplus
}
#endif

#endif /* TG_FW_H */
