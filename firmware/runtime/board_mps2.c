/*
 * tinygen board port: Arm MPS2/MPS3 FPGA images as emulated by QEMU: mps2-an386 (Cortex-M4F,
 * the defaults below), mps2-an500 (Cortex-M7), mps2-an505 (Cortex-M33), mps3-an547
 * (Cortex-M55). The board file's cflags set TG_MPS_UART_BASE / TG_MPS_UART_RX_IRQN where the
 * image differs from AN386.
 *
 * Serial: CMSDK APB UART0 (QEMU's first -serial): AN385/386/500 at 0x40004000, RX interrupt =
 * IRQ 0; AN505 at 0x50200000 (Secure alias), RX IRQ 32; AN547 at 0x59303000, RX IRQ 33.
 * Only RX uses its interrupt; TX is polled.
 *
 * tg_cycles(): SysTick from the processor clock (CLKSOURCE = 1, SYSCLK: 25 MHz on MPS2,
 * 20 MHz on AN505, 32 MHz on AN547). With QEMU -icount shift=0 one instruction takes 1
 * virtual ns, so one tick = 1e9 / TG_CLOCK_HZ instructions (40, 50, 31.25) and the port
 * returns ticks * 1e9 / TG_CLOCK_HZ: instruction-equivalents with a resolution of one tick,
 * deterministic run to run.
 *
 * Register layout from the Cortex-M System Design Kit TRM (CMSDK APB UART).
 */
#include "tg_cortexm.h"
#include "tg_port.h"
#include "tg_ring.h"

#ifndef TG_BOARD_ID
#define TG_BOARD_ID "mps2-an386"
#endif
#ifndef TG_CLOCK_HZ
#define TG_CLOCK_HZ 25000000u
#endif
#ifndef TG_UART_BAUD
#define TG_UART_BAUD 115200u
#endif

#ifndef TG_MPS_UART_BASE
#define TG_MPS_UART_BASE 0x40004000u
#endif
#ifndef TG_MPS_UART_RX_IRQN
#define TG_MPS_UART_RX_IRQN 0u
#endif

#define UART0_BASE      TG_MPS_UART_BASE
#define UART_DATA       TG_REG32(UART0_BASE + 0x00u)
#define UART_STATE      TG_REG32(UART0_BASE + 0x04u)
#define UART_CTRL       TG_REG32(UART0_BASE + 0x08u)
#define UART_INTSTATUS  TG_REG32(UART0_BASE + 0x0Cu)   /* write 1 to clear (INTCLEAR) */
#define UART_BAUDDIV    TG_REG32(UART0_BASE + 0x10u)
#define UART_STATE_TXFULL  (1u << 0)
#define UART_STATE_RXFULL  (1u << 1)
#define UART_STATE_RXOVR   (1u << 3)
#define UART_CTRL_TXEN     (1u << 0)
#define UART_CTRL_RXEN     (1u << 1)
#define UART_CTRL_RXINTEN  (1u << 3)
#define UART_INT_RX        (1u << 1)
#define UART0_RX_IRQN      TG_MPS_UART_RX_IRQN

const char tg_board_name[] = TG_BOARD_ID;
const uint32_t tg_clock_hz = TG_CLOCK_HZ;

static tg_ring_t s_rx;

/* The serial port's set-up, interrupt and output, outside any inference: compiled for size (the 12 KB kernels +
 * runtime budget); tg_cycles stays as it was (the benchmarks' per-layer hooks). */
#if defined(__GNUC__) && !defined(__clang__)
#define TG_BOARD_COLD __attribute__((optimize("Os")))
#else
#define TG_BOARD_COLD
#endif

TG_BOARD_COLD void tg_board_init(void)
{
    uint32_t div = TG_CLOCK_HZ / TG_UART_BAUD;     /* 217; QEMU only requires >= 16 */
    UART_CTRL = 0u;
    UART_BAUDDIV = div < 16u ? 16u : div;
    UART_INTSTATUS = 0xFu;
    UART_CTRL = UART_CTRL_TXEN | UART_CTRL_RXEN | UART_CTRL_RXINTEN;
    tg_nvic_enable(UART0_RX_IRQN);
    tg_systick_start();
    __asm__ volatile("cpsie i" : : : "memory");
}

TG_BOARD_COLD void tg_board_irq(uint32_t irqn)
{
    if (irqn == UART0_RX_IRQN) {
        /* Clear first, then drain: a byte arriving meanwhile re-raises the interrupt. */
        UART_INTSTATUS = UART_INT_RX;
        while (UART_STATE & UART_STATE_RXFULL) {
            tg_ring_push(&s_rx, (uint8_t)UART_DATA);
        }
        if (UART_STATE & UART_STATE_RXOVR) {
            UART_STATE = UART_STATE_RXOVR;           /* write 1 to clear */
            s_rx.dropped = s_rx.dropped + 1u;
        }
        return;
    }
    tg_nvic_disable(irqn);
}

TG_BOARD_COLD void tg_uart_write(const uint8_t *data, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        while (UART_STATE & UART_STATE_TXFULL) {
        }
        UART_DATA = data[i];
    }
}

int tg_uart_set_baud(uint32_t baud, int apply)
{
    uint32_t div = baud ? TG_CLOCK_HZ / baud : 0u;
    if (div < 16u) {                  /* the CMSDK UART needs BAUDDIV >= 16 */
        return -1;
    }
    if (apply) {
        while (UART_STATE & UART_STATE_TXFULL) {
        }
        UART_BAUDDIV = div;           /* (QEMU ignores the rate) */
    }
    return 0;
}

int tg_uart_read(uint8_t *byte)
{
    return tg_ring_pop(&s_rx, byte);
}

uint32_t tg_uart_rx_dropped(void)
{
    return s_rx.dropped;
}

uint64_t tg_cycles(void)
{
    /* ticks * 1e9 / clock without overflow or rounding drift (31.25 ns per tick at 32 MHz). */
    uint64_t ticks = tg_systick_ticks();
    return (ticks / TG_CLOCK_HZ) * 1000000000ull + ((ticks % TG_CLOCK_HZ) * 1000000000ull) / TG_CLOCK_HZ;
}

void tg_exit(int code)
{
    /* The MPS2 target only exists under QEMU (or a debugger): semihosting is safe. */
    tg_semihost_exit(code);
    __asm__ volatile("cpsid i" : : : "memory");
    for (;;) {
    }
}
