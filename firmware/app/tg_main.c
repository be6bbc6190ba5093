/*
 * Bare-metal main for tinygen firmware (Cortex-M and RISC-V, firmware/runtime): board init, then
 * the application loop of tg_fw.c. Also the platform hooks tg_fw.c needs.
 */
#include "tg_fw.h"
#include "tg_port.h"

#define TG_AIRCR (*(volatile uint32_t *)0xE000ED0Cu)
#define TG_AIRCR_VECTKEY 0x05FA0000u
#define TG_AIRCR_SYSRESETREQ (1u << 2)

int main(void)
{
    tg_board_init();
    tg_fw_start();
    for (;;) {
        tg_fw_poll();
    }
}

void tg_fw_platform_flush(void)
{
    /* tg_uart_write is blocking: nothing is buffered. */
}

void tg_fw_platform_reset(void)
{
    volatile uint32_t spin;
    /* Let the last bytes leave the UART shift register (a few character times). */
    for (spin = 0u; spin < 200000u; spin++) {
    }
#if defined(__riscv)
    /* The RISC-V port is QEMU's virt machine: its SiFive test device resets the system (0x7777). */
    __asm__ volatile("fence" : : : "memory");
    *(volatile uint32_t *)0x00100000u = 0x7777u;
#else
    __asm__ volatile("dsb" : : : "memory");
    TG_AIRCR = TG_AIRCR_VECTKEY | TG_AIRCR_SYSRESETREQ;
    __asm__ volatile("dsb" : : : "memory");
#endif
    for (;;) {
    }
}
