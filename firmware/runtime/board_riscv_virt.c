/*
 * tinygen board port: QEMU's RISC-V `virt` machine with an RV32IMAC hart in machine mode
 * (qemu-system-riscv32 -M virt -bios none).
 *
 * Serial: NS16550A UART at 0x10000000 (QEMU's first -serial), polled: the receive FIFO is read
 * in tg_uart_read(). QEMU only takes bytes from the host while the FIFO has room, so nothing is
 * lost while an inference runs (the host's writes wait instead); tg_uart_rx_dropped() counts
 * receiver overruns (LSR.OE), which QEMU never reports.
 *
 * tg_cycles(): the 64-bit `mcycle` counter. Under QEMU -icount shift=0 it counts virtual ns,
 * i.e. instructions executed, deterministically (the same unit as the Cortex-M boards).
 *
 * tg_exit(): QEMU's SiFive test device ("finisher") at 0x100000: 0x5555 ends QEMU with status 0,
 * (code << 16) | 0x3333 with status `code`.
 */
#include "tg_port.h"

#ifndef TG_BOARD_ID
#define TG_BOARD_ID "qemu-riscv32"
#endif
#ifndef TG_CLOCK_HZ
#define TG_CLOCK_HZ 1000000000u
#endif

#define TG_REG8(addr) (*(volatile uint8_t *)(uintptr_t)(addr))
#define TG_REG32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

#define UART_BASE 0x10000000u
#define UART_RBR  TG_REG8(UART_BASE + 0u)   /* DLAB = 0, read */
#define UART_THR  TG_REG8(UART_BASE + 0u)   /* DLAB = 0, write */
#define UART_IER  TG_REG8(UART_BASE + 1u)
#define UART_FCR  TG_REG8(UART_BASE + 2u)
#define UART_LCR  TG_REG8(UART_BASE + 3u)
#define UART_LSR  TG_REG8(UART_BASE + 5u)
#define LSR_DR    0x01u
#define LSR_OE    0x02u
#define LSR_THRE  0x20u

#define FINISHER  TG_REG32(0x00100000u)

const char tg_board_name[] = TG_BOARD_ID;
const uint32_t tg_clock_hz = TG_CLOCK_HZ;

static uint32_t s_overruns;

void tg_board_init(void)
{
    UART_IER = 0u;        /* polled */
    UART_LCR = 0x03u;     /* 8N1, DLAB = 0 (QEMU ignores the divisor) */
    UART_FCR = 0x07u;     /* FIFOs on and cleared */
}

void tg_board_irq(uint32_t irqn)
{
    (void)irqn;
}

void tg_uart_write(const uint8_t *data, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        while (!(UART_LSR & LSR_THRE)) {
        }
        UART_THR = data[i];
    }
}

int tg_uart_read(uint8_t *byte)
{
    uint8_t lsr = UART_LSR;
    if (lsr & LSR_OE) {
        s_overruns++;
    }
    if (!(lsr & LSR_DR)) {
        return 0;
    }
    *byte = UART_RBR;
    return 1;
}

uint32_t tg_uart_rx_dropped(void)
{
    return s_overruns;
}

uint64_t tg_cycles(void)
{
    uint32_t hi, lo, hi2;
    do {
        __asm__ volatile(".option push\n\t.option arch, +zicsr\n\tcsrr %0, mcycleh\n\t.option pop" : "=r"(hi));
        __asm__ volatile(".option push\n\t.option arch, +zicsr\n\tcsrr %0, mcycle\n\t.option pop" : "=r"(lo));
        __asm__ volatile(".option push\n\t.option arch, +zicsr\n\tcsrr %0, mcycleh\n\t.option pop" : "=r"(hi2));
    } while (hi != hi2);
    return ((uint64_t)hi << 32) | lo;
}

void tg_exit(int code)
{
    FINISHER = code == 0 ? 0x5555u : (((uint32_t)code & 0xFFFFu) << 16) | 0x3333u;
    for (;;) {
    }
}
