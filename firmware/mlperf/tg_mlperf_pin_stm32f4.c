/*
 * MLPerf Tiny energy mode on STM32F4 boards (NUCLEO-F446RE): the timestamp pin is PA8, the
 * Arduino header's D7 (the pin the reference submissions use), as an open-drain output that
 * idles high (released); tg_mlperf.c pulls it low for a timestamp.
 * Registers from RM0390 (STM32F446): RCC_AHB1ENR GPIOAEN, GPIOA MODER/OTYPER/BSRR.
 */
#include <stdint.h>

#define TG_REG(a) (*(volatile uint32_t *)(a))
#define RCC_AHB1ENR TG_REG(0x40023830u)
#define GPIOA_MODER TG_REG(0x40020000u)
#define GPIOA_OTYPER TG_REG(0x40020004u)
#define GPIOA_OSPEEDR TG_REG(0x40020008u)
#define GPIOA_BSRR TG_REG(0x40020018u)
#define PIN 8u

void tg_mlperf_timestamp_pin_init(void);
void tg_mlperf_timestamp_pin(int level);

void tg_mlperf_timestamp_pin_init(void)
{
    RCC_AHB1ENR |= 1u;                                   /* GPIOA clock */
    (void)RCC_AHB1ENR;
    GPIOA_BSRR = 1u << PIN;                              /* released (high) before it drives */
    GPIOA_OTYPER |= 1u << PIN;                           /* open drain */
    GPIOA_OSPEEDR |= 2u << (2u * PIN);
    GPIOA_MODER = (GPIOA_MODER & ~(3u << (2u * PIN))) | (1u << (2u * PIN));   /* output */
}

void tg_mlperf_timestamp_pin(int level)
{
    GPIOA_BSRR = level ? (1u << PIN) : (1u << (PIN + 16u));
}
