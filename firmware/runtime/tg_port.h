/*
 * tinygen board port interface.
 *
 * Every board port (firmware/runtime/board_<port>.c) implements these functions.
 * Application code (generated inference code, the serial protocol, tests) only
 * talks to the board through this header and tg_runtime.h.
 *
 * Build-time macros, passed by the build (see tinygen/firmware_build.py):
 *   TG_BOARD_ID    string literal, the board id ("qemu-stm32f4")
 *   TG_CLOCK_HZ    core clock in Hz after tg_board_init()
 *   TG_UART_BAUD   serial baud rate
 *   TG_QEMU        defined on emulated boards: no clock setup, semihosting exit
 */
#ifndef TG_PORT_H
#define TG_PORT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Clock, serial port (with RX interrupt), cycle counter. Call first in main(). */
void tg_board_init(void);

/* Blocking write of len bytes to the serial port. Safe to call from handlers. */
void tg_uart_write(const uint8_t *data, size_t len);

/* Non-blocking read from the interrupt-filled receive ring buffer.
 * Returns 1 and stores the byte if one was available, 0 otherwise. */
int tg_uart_read(uint8_t *byte);

/* Link speed (the protocol's SET_BAUD). apply = 0: returns 0 when the port can run at
 * `baud` (8N1), else -1. apply = 1: waits until the bytes written so far have left, then
 * switches (returns 0, or -1 without switching). Ports whose rate is irrelevant (USB CDC)
 * or fixed keep tg_fw.c's weak default, which always says no. */
int tg_uart_set_baud(uint32_t baud, int apply);

/* Bytes lost since boot because the receive ring buffer was full or the UART overran. */
uint32_t tg_uart_rx_dropped(void);

/*
 * 64-bit monotonic cycle counter (SysTick, 24-bit hardware counter extended in its
 * overflow interrupt; CLKSOURCE = processor clock).
 *   - Real boards: core clock cycles (TG_CLOCK_HZ per second).
 *   - QEMU with -icount shift=0: one guest instruction advances virtual time by 1 ns,
 *     and the port scales SysTick ticks to instruction-equivalents (virtual ns):
 *     mps2-an386 (25 MHz SysTick): ticks * 40, resolution 40 instructions;
 *     netduinoplus2 (168 MHz): ticks * 125 / 21, resolution ~6 instructions.
 *     The count is deterministic run to run, and both QEMU boards report the same
 *     unit ("instructions executed"), so numbers compare across them.
 *   - QEMU without -icount: SysTick follows the host clock; numbers are meaningless.
 */
uint64_t tg_cycles(void);

/* Stop: semihosting SYS_EXIT_EXTENDED on QEMU (QEMU's exit status = code);
 * on real boards, interrupts off and an endless loop. */
void tg_exit(int code) __attribute__((noreturn));

extern const char tg_board_name[];   /* == TG_BOARD_ID */
extern const uint32_t tg_clock_hz;   /* == TG_CLOCK_HZ */

/* Called by the startup code for every external interrupt (irqn = exception number - 16). */
void tg_board_irq(uint32_t irqn);

#ifdef __cplusplus
}
#endif

#endif /* TG_PORT_H */
