/*
 * tinygen board port: STM32F4 (USART + SysTick).
 *
 *   -DTG_STM32_USART=1  USART1 at 0x40011000, IRQ 37 (QEMU netduinoplus2: first -serial)
 *   -DTG_STM32_USART=2  USART2 at 0x40004400, IRQ 38 (NUCLEO-F446RE: PA2/PA3, ST-Link VCP)
 *   -DTG_QEMU           QEMU's STM32F405 model has no RCC (reads as 0): no clock, GPIO or
 *                       flash setup at all, and never wait on RCC ready flags.
 *   -DTG_STM32F446      real STM32F446: HSI 16 MHz -> PLL 180 MHz with over-drive,
 *                       AHB 180 MHz, APB1 45 MHz, APB2 90 MHz, 5 flash wait states.
 *
 * tg_cycles(): on hardware, core clock cycles (SysTick from the processor clock).
 * On QEMU netduinoplus2 SysTick runs from the 168 MHz SYSCLK; with -icount shift=0
 * (1 instruction = 1 virtual ns) the port returns ticks * 125 / 21 = virtual ns =
 * instruction-equivalents, resolution ~6 instructions, deterministic run to run.
 *
 * Register definitions written from the STM32F4 reference manuals (RM0090/RM0390).
 */
#include "tg_cortexm.h"
#include "tg_port.h"
#include "tg_ring.h"

#ifndef TG_BOARD_ID
#define TG_BOARD_ID "stm32f4"
#endif
#ifndef TG_UART_BAUD
#define TG_UART_BAUD 115200u
#endif
#ifndef TG_STM32_USART
#define TG_STM32_USART 1
#endif

#if defined(TG_QEMU)
#ifndef TG_CLOCK_HZ
#define TG_CLOCK_HZ 168000000u          /* fixed SYSCLK of QEMU's netduinoplus2 */
#endif
#define TG_APB1_HZ 42000000u
#define TG_APB2_HZ 84000000u
#elif defined(TG_STM32F446)
#ifndef TG_CLOCK_HZ
#define TG_CLOCK_HZ 180000000u
#endif
#define TG_APB1_HZ (TG_CLOCK_HZ / 4u)
#define TG_APB2_HZ (TG_CLOCK_HZ / 2u)
#else
#error "board_stm32f4.c: define TG_QEMU or TG_STM32F446 (add the clock setup for other parts)"
#endif

#if TG_STM32_USART == 1
#define TG_USART_BASE 0x40011000u
#define TG_USART_IRQN 37u
#define TG_USART_PCLK TG_APB2_HZ
#elif TG_STM32_USART == 2
#define TG_USART_BASE 0x40004400u
#define TG_USART_IRQN 38u
#define TG_USART_PCLK TG_APB1_HZ
#else
#error "TG_STM32_USART must be 1 or 2"
#endif

/* USART registers */
#define USART_SR   TG_REG32(TG_USART_BASE + 0x00u)
#define USART_DR   TG_REG32(TG_USART_BASE + 0x04u)
#define USART_BRR  TG_REG32(TG_USART_BASE + 0x08u)
#define USART_CR1  TG_REG32(TG_USART_BASE + 0x0Cu)
#define USART_CR2  TG_REG32(TG_USART_BASE + 0x10u)
#define USART_CR3  TG_REG32(TG_USART_BASE + 0x14u)
#define USART_SR_ORE   (1u << 3)
#define USART_SR_RXNE  (1u << 5)
#define USART_SR_TC    (1u << 6)
#define USART_SR_TXE   (1u << 7)
#define USART_CR1_RE     (1u << 2)
#define USART_CR1_TE     (1u << 3)
#define USART_CR1_RXNEIE (1u << 5)
#define USART_CR1_UE     (1u << 13)

const char tg_board_name[] = TG_BOARD_ID;
const uint32_t tg_clock_hz = TG_CLOCK_HZ;

static tg_ring_t s_rx;

#if !defined(TG_QEMU)
/* RCC, PWR, FLASH, GPIOA */
#define RCC_CR       TG_REG32(0x40023800u)
#define RCC_PLLCFGR  TG_REG32(0x40023804u)
#define RCC_CFGR     TG_REG32(0x40023808u)
#define RCC_AHB1ENR  TG_REG32(0x40023830u)
#define RCC_APB1ENR  TG_REG32(0x40023840u)
#define RCC_APB2ENR  TG_REG32(0x40023844u)
#define PWR_CR       TG_REG32(0x40007000u)
#define PWR_CSR      TG_REG32(0x40007004u)
#define FLASH_ACR    TG_REG32(0x40023C00u)
#define GPIOA_MODER  TG_REG32(0x40020000u)
#define GPIOA_OSPEEDR TG_REG32(0x40020008u)
#define GPIOA_PUPDR  TG_REG32(0x4002000Cu)
#define GPIOA_AFRL   TG_REG32(0x40020020u)
#define GPIOA_AFRH   TG_REG32(0x40020024u)

static void tg_clock_init(void)
{
    /* PWR clock on, voltage scale 1 (PLL must be off while VOS changes). */
    RCC_APB1ENR |= 1u << 28;
    (void)RCC_APB1ENR;
    PWR_CR = (PWR_CR & ~(3u << 14)) | (3u << 14);

    /* HSI (16 MHz, on after reset) / M=8 -> 2 MHz; *N=180 -> 360 MHz; /P=2 -> 180 MHz;
     * Q=7 and R=2 are valid values for the unused outputs. */
    RCC_PLLCFGR = 8u | (180u << 6) | (0u << 16) | (0u << 22) | (7u << 24) | (2u << 28);
    RCC_CR |= 1u << 24;                               /* PLLON */
    while ((RCC_CR & (1u << 25)) == 0u) {             /* PLLRDY */
    }
    /* Over-drive is required above 168 MHz. */
    PWR_CR |= 1u << 16;                               /* ODEN */
    while ((PWR_CSR & (1u << 16)) == 0u) {            /* ODRDY */
    }
    PWR_CR |= 1u << 17;                               /* ODSWEN */
    while ((PWR_CSR & (1u << 17)) == 0u) {            /* ODSWRDY */
    }
    /* 5 wait states at 180 MHz / 3.3 V, prefetch + instruction and data caches. */
    FLASH_ACR = 5u | (1u << 8) | (1u << 9) | (1u << 10);
    while ((FLASH_ACR & 0xFu) != 5u) {
    }
    /* AHB /1, APB1 /4 (45 MHz), APB2 /2 (90 MHz), then switch SYSCLK to the PLL. */
    RCC_CFGR = (RCC_CFGR & ~((0xFu << 4) | (7u << 10) | (7u << 13))) | (5u << 10) | (4u << 13);
    RCC_CFGR = (RCC_CFGR & ~3u) | 2u;
    while (((RCC_CFGR >> 2) & 3u) != 2u) {
    }
}

static void tg_pins_init(void)
{
    uint32_t tx, rx;
#if TG_STM32_USART == 1
    tx = 9u;                                   /* PA9 / PA10, AF7 */
    rx = 10u;
    RCC_APB2ENR |= 1u << 4;                    /* USART1EN */
#else
    tx = 2u;                                   /* PA2 / PA3, AF7 */
    rx = 3u;
    RCC_APB1ENR |= 1u << 17;                   /* USART2EN */
#endif
    RCC_AHB1ENR |= 1u << 0;                    /* GPIOAEN */
    (void)RCC_AHB1ENR;
    GPIOA_MODER = (GPIOA_MODER & ~((3u << (2u * tx)) | (3u << (2u * rx))))
                  | (2u << (2u * tx)) | (2u << (2u * rx));
    GPIOA_OSPEEDR |= (2u << (2u * tx)) | (2u << (2u * rx));
    GPIOA_PUPDR = (GPIOA_PUPDR & ~(3u << (2u * rx))) | (1u << (2u * rx));   /* RX pull-up */
    if (tx < 8u) {
        GPIOA_AFRL = (GPIOA_AFRL & ~((0xFu << (4u * tx)) | (0xFu << (4u * rx))))
                     | (7u << (4u * tx)) | (7u << (4u * rx));
    } else {
        GPIOA_AFRH = (GPIOA_AFRH & ~((0xFu << (4u * (tx - 8u))) | (0xFu << (4u * (rx - 8u)))))
                     | (7u << (4u * (tx - 8u))) | (7u << (4u * (rx - 8u)));
    }
}
#endif /* !TG_QEMU */

void tg_board_init(void)
{
#if !defined(TG_QEMU)
    tg_clock_init();
    tg_pins_init();
#endif
    /* 8N1, oversampling 16: BRR = pclk / baud (mantissa.fraction in one number). */
    USART_CR1 = 0u;
    USART_CR2 = 0u;
    USART_CR3 = 0u;
    USART_BRR = (TG_USART_PCLK + TG_UART_BAUD / 2u) / TG_UART_BAUD;
    /* QEMU's USART drops received bytes unless UE and RE are set. */
    USART_CR1 = USART_CR1_UE | USART_CR1_TE | USART_CR1_RE | USART_CR1_RXNEIE;
    tg_nvic_enable(TG_USART_IRQN);
    tg_systick_start();
    __asm__ volatile("cpsie i" : : : "memory");
}

void tg_board_irq(uint32_t irqn)
{
    if (irqn == TG_USART_IRQN) {
        uint32_t sr = USART_SR;
        if (sr & (USART_SR_RXNE | USART_SR_ORE)) {
            uint8_t byte = (uint8_t)USART_DR;     /* SR then DR read also clears ORE */
            if (sr & USART_SR_RXNE) {
                tg_ring_push(&s_rx, byte);
            }
            if (sr & USART_SR_ORE) {
                s_rx.dropped = s_rx.dropped + 1u;
            }
        }
        return;
    }
    tg_nvic_disable(irqn);
}

/* BRR for `baud` at `pclk` (oversampling 16), or 0 when out of range or more than 2 % off. */
static uint32_t tg_brr_for(uint32_t pclk, uint32_t baud)
{
    uint32_t brr, actual;
    if (baud == 0u || baud > pclk / 16u) {
        return 0u;
    }
    brr = (pclk + baud / 2u) / baud;
    actual = pclk / brr;
    if ((actual > baud ? actual - baud : baud - actual) > baud / 50u) {
        return 0u;
    }
    return brr;
}

int tg_uart_set_baud(uint32_t baud, int apply)
{
    uint32_t brr = tg_brr_for(TG_USART_PCLK, baud);
    if (brr == 0u) {
        return -1;
    }
    if (apply) {
        while ((USART_SR & USART_SR_TC) == 0u) {   /* the last byte has left */
        }
        USART_BRR = brr;
    }
    return 0;
}

void tg_uart_write(const uint8_t *data, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        while ((USART_SR & USART_SR_TXE) == 0u) {   /* QEMU keeps TXE set */
        }
        USART_DR = data[i];
    }
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
#if defined(TG_QEMU)
    /* 168 MHz ticks -> virtual ns: 1e9 / 168e6 = 125 / 21. */
    return tg_systick_ticks() * 125u / 21u;
#else
    return tg_systick_ticks();
#endif
}

void tg_exit(int code)
{
#if defined(TG_QEMU)
    tg_semihost_exit(code);
#else
    (void)code;
#endif
    __asm__ volatile("cpsid i" : : : "memory");
    for (;;) {
    }
}
