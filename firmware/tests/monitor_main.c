/*
 * Test firmware for `tinygen monitor` (tests/test_monitor.py): a known sequence of lines
 * with a system reset in the middle.
 *
 * Boot 0: a banner line {"tinygen":...}, lines "line 0000 ..." to "line 0999 ...", the
 *         protocol's BOOT frame, an inference-result line {"selftest":...}, a line of
 *         non-text bytes, then a system reset (AIRCR.SYSRESETREQ).
 * Boot 1: the BOOT frame first (no banner: the monitor must notice the reset from the
 *         frame), lines "line 1000 ..." to "line 1999 ...", "done", semihosting exit 0.
 *
 * A .noinit boot counter survives the reset (QEMU reloads the ELF's loadable sections on a
 * system reset, .noinit is not one of them). Links the protocol with the toy application
 * of proto_host_app.c, only for its BOOT frame.
 */
#include "tg_proto.h"
#include "tg_runtime.h"

#define LINES_PER_BOOT 1000u
#define BOOT_MAGIC 0x6d6f6e31u   /* "mon1" */
#define AIRCR (*(volatile uint32_t *)0xE000ED0Cu)

static uint32_t s_magic __attribute__((section(".noinit")));
static uint32_t s_boot __attribute__((section(".noinit")));

static void uart_write(const uint8_t *data, size_t len)
{
    if (len) {
        tg_uart_write(data, len);
    }
}

static void put_line(uint32_t i)
{
    /* "line 0042 0x5a5a0042 ..." with a fixed-width number and a checksum */
    tg_puts("line ");
    tg_putc((char)('0' + (i / 1000u) % 10u));
    tg_putc((char)('0' + (i / 100u) % 10u));
    tg_putc((char)('0' + (i / 10u) % 10u));
    tg_putc((char)('0' + i % 10u));
    tg_putc(' ');
    tg_put_hex32(i * 2654435761u);
    tg_puts(" the quick brown fox\n");
}

int main(void)
{
    uint32_t i;
    static const uint8_t noise[] = {0x80, 0xff, 0x01, 0x9b, 0xfe, 0x07, '\n'};

    tg_board_init();
    if (s_magic != BOOT_MAGIC) {
        s_magic = BOOT_MAGIC;
        s_boot = 0u;
    } else {
        s_boot++;
    }

    if (s_boot == 0u) {
        tg_puts("{\"tinygen\":\"test\",\"model\":\"monitor_test\",\"board\":\"");
        tg_puts(tg_board_name);
        tg_puts("\",\"clock_hz\":");
        tg_put_u32(tg_clock_hz);
        tg_puts(",\"outputs\":[{\"shape\":[1,3],\"dtype\":\"int8\",\"scale\":0.5,\"zero_point\":1}]}\n");
        for (i = 0u; i < LINES_PER_BOOT; i++) {
            put_line(i);
        }
        tg_proto_init(uart_write);
        tg_puts("{\"selftest\":{\"seed\":1,\"status\":0,\"cycles\":250000,\"outputs\":[{\"bytes\":3,"
                "\"values\":[-5,9,3]}]}}\n");
        tg_uart_write(noise, sizeof noise);
        tg_puts("resetting\n");
        for (i = 0u; i < 100000u; i++) {   /* let the UART drain */
            __asm__ volatile("nop");
        }
        __asm__ volatile("dsb" : : : "memory");
        AIRCR = 0x05FA0000u | (1u << 2);
        for (;;) {
        }
    }

    tg_proto_init(uart_write);
    for (i = LINES_PER_BOOT; i < 2u * LINES_PER_BOOT; i++) {
        put_line(i);
    }
    tg_puts("done\n");
    s_magic = 0u;
    tg_exit(0);
}
