/*
 * tinygen board port: STM32H743 (NUCLEO-H743ZI2), Cortex-M7 at 480 MHz with caches on.
 *
 *   Clock   HSE 8 MHz from the ST-Link's MCO (bypass mode) or, if it does not come up within
 *           a bounded wait, HSI 64 MHz; either one / DIVM1 -> 2 MHz PLL1 input, x DIVN1 480 =
 *           960 MHz VCO, / DIVP1 2 = 480 MHz sys_ck. AXI/AHB = sys_ck / 2 = 240 MHz,
 *           APB1..4 = 120 MHz.
 *           480 MHz needs voltage scale 0 (VOS1 + the SYSCFG over-drive, revision V silicon;
 *           revision Y parts stop at 400 MHz: build with -DTG_STM32H7_400MHZ for them) and
 *           4 flash wait states with WRHIGHFREQ = 2 (RM0433 table "FLASH recommended number of
 *           wait states and programming delay", AXI clock 225..240 MHz at VOS0).
 *   Caches  I-cache and D-cache enabled as the ARMv7-M architecture manual prescribes
 *           (invalidate all / by set-way, then CCR.IC / CCR.DC, with DSB/ISB). The default
 *           memory map makes flash write-through and the AXI SRAM (the arena) write-back
 *           cacheable; no DMA runs, so no maintenance is needed after start-up.
 *   Serial  USART3 on PD8 (TX) / PD9 (RX), alternate function 7: the ST-Link V3 virtual COM
 *           port. Kernel clock = pclk1 (RCC_D2CCIP2R reset value), 8N1, oversampling 16.
 *   Cycles  DWT CYCCNT (32 bits, core clock) extended to 64 bits with SysTick (also the core
 *           clock, widened in its overflow interrupt by tg_systick.c): both count the same
 *           clock, so SysTick supplies the high bits and CYCCNT the exact low ones.
 *
 * Register addresses and fields written from the STM32H742/743/750/753 reference manual (RM0433)
 * and the ARMv7-M Architecture Reference Manual (caches, DWT). Cannot be run here: there is no
 * QEMU model of the STM32H7; the port is compiled and linked by the tests.
 */
#include "tg_cortexm.h"
#include "tg_port.h"
#include "tg_ring.h"

#ifndef TG_BOARD_ID
#define TG_BOARD_ID "nucleo-h743zi2"
#endif
#ifndef TG_UART_BAUD
#define TG_UART_BAUD 115200u
#endif
#ifdef TG_STM32H7_400MHZ
#define TG_H7_DIVN 400u                 /* 2 MHz x 400 = 800 MHz VCO / 2 = 400 MHz (VOS1, rev Y) */
#define TG_H7_FLASH_WS 2u               /* AXI 200 MHz at VOS1: 2 wait states, WRHIGHFREQ 2 */
#else
#define TG_H7_DIVN 480u                 /* 2 MHz x 480 = 960 MHz VCO / 2 = 480 MHz (VOS0, rev V) */
#define TG_H7_FLASH_WS 4u
#endif
#ifndef TG_CLOCK_HZ
#define TG_CLOCK_HZ (TG_H7_DIVN * 1000000u)
#endif
#define TG_APB1_HZ (TG_CLOCK_HZ / 4u)   /* sys_ck / HPRE 2 / D2PPRE1 2 */

const char tg_board_name[] = TG_BOARD_ID;
const uint32_t tg_clock_hz = TG_CLOCK_HZ;

static tg_ring_t s_rx;

/* RCC (0x58024400) */
#define RCC_BASE      0x58024400u
#define RCC_CR        TG_REG32(RCC_BASE + 0x000u)
#define RCC_CFGR      TG_REG32(RCC_BASE + 0x010u)
#define RCC_D1CFGR    TG_REG32(RCC_BASE + 0x018u)
#define RCC_D2CFGR    TG_REG32(RCC_BASE + 0x01Cu)
#define RCC_D3CFGR    TG_REG32(RCC_BASE + 0x020u)
#define RCC_PLLCKSELR TG_REG32(RCC_BASE + 0x028u)
#define RCC_PLLCFGR   TG_REG32(RCC_BASE + 0x02Cu)
#define RCC_PLL1DIVR  TG_REG32(RCC_BASE + 0x030u)
#define RCC_PLL1FRACR TG_REG32(RCC_BASE + 0x034u)
#define RCC_AHB4ENR   TG_REG32(RCC_BASE + 0x0E0u)
#define RCC_APB1LENR  TG_REG32(RCC_BASE + 0x0E8u)
#define RCC_APB4ENR   TG_REG32(RCC_BASE + 0x0F4u)
#define RCC_CR_HSEON   (1u << 16)
#define RCC_CR_HSERDY  (1u << 17)
#define RCC_CR_HSEBYP  (1u << 18)
#define RCC_CR_PLL1ON  (1u << 24)
#define RCC_CR_PLL1RDY (1u << 25)

/* PWR (0x58024800) */
#define PWR_CSR1      TG_REG32(0x58024804u)
#define PWR_CR3       TG_REG32(0x5802480Cu)
#define PWR_D3CR      TG_REG32(0x58024818u)
#define PWR_CSR1_ACTVOSRDY (1u << 13)
#define PWR_CR3_BYPASS (1u << 0)
#define PWR_CR3_LDOEN  (1u << 1)
#define PWR_CR3_SCUEN  (1u << 2)
#define PWR_D3CR_VOSRDY (1u << 13)

/* SYSCFG (0x58000400): PWRCR.ODEN selects VOS0 on top of VOS1 */
#define SYSCFG_PWRCR  TG_REG32(0x5800042Cu)

/* Embedded flash interface (0x52002000) */
#define FLASH_ACR     TG_REG32(0x52002000u)

/* GPIOD (0x58020C00) */
#define GPIOD_BASE    0x58020C00u
#define GPIOD_MODER   TG_REG32(GPIOD_BASE + 0x00u)
#define GPIOD_OSPEEDR TG_REG32(GPIOD_BASE + 0x08u)
#define GPIOD_PUPDR   TG_REG32(GPIOD_BASE + 0x0Cu)
#define GPIOD_AFRH    TG_REG32(GPIOD_BASE + 0x24u)

/* USART3 (0x40004800), IRQ 39 */
#define USART3_BASE   0x40004800u
#define USART_CR1     TG_REG32(USART3_BASE + 0x00u)
#define USART_CR2     TG_REG32(USART3_BASE + 0x04u)
#define USART_CR3     TG_REG32(USART3_BASE + 0x08u)
#define USART_BRR     TG_REG32(USART3_BASE + 0x0Cu)
#define USART_ISR     TG_REG32(USART3_BASE + 0x1Cu)
#define USART_ICR     TG_REG32(USART3_BASE + 0x20u)
#define USART_RDR     TG_REG32(USART3_BASE + 0x24u)
#define USART_TDR     TG_REG32(USART3_BASE + 0x28u)
#define USART3_IRQN   39u
#define USART_CR1_UE     (1u << 0)
#define USART_CR1_RE     (1u << 2)
#define USART_CR1_TE     (1u << 3)
#define USART_CR1_RXNEIE (1u << 5)
#define USART_ISR_ORE    (1u << 3)
#define USART_ISR_RXNE   (1u << 5)
#define USART_ISR_TC     (1u << 6)
#define USART_ISR_TXE    (1u << 7)
#define USART_ICR_ORECF  (1u << 3)

/* Cortex-M7 cache maintenance (ARMv7-M, system control space) */
#define SCB_CCR       TG_REG32(0xE000ED14u)
#define SCB_CCSIDR    TG_REG32(0xE000ED80u)
#define SCB_CSSELR    TG_REG32(0xE000ED84u)
#define SCB_ICIALLU   TG_REG32(0xE000EF50u)
#define SCB_DCISW     TG_REG32(0xE000EF60u)
#define SCB_CCR_DC    (1u << 16)
#define SCB_CCR_IC    (1u << 17)

/* Debug: DEMCR.TRCENA, DWT (the M7's DWT has a software lock) */
#define DEMCR         TG_REG32(0xE000EDFCu)
#define DWT_CTRL      TG_REG32(0xE0001000u)
#define DWT_CYCCNT    TG_REG32(0xE0001004u)
#define DWT_LAR       TG_REG32(0xE0001FB0u)

static int tg_wait(volatile uint32_t *reg, uint32_t mask, uint32_t limit)
{
    uint32_t i;
    for (i = 0u; i < limit; i++) {
        if ((*reg & mask) != 0u) {
            return 1;
        }
    }
    return 0;
}

static void tg_caches_enable(void)
{
    uint32_t ccsidr, sets, ways, way_shift, line_shift, set, way;

    /* I-cache: invalidate all, then enable. */
    tg_dsb_isb();
    SCB_ICIALLU = 0u;
    tg_dsb_isb();
    SCB_CCR |= SCB_CCR_IC;
    tg_dsb_isb();

    /* D-cache: select the level-1 data cache, invalidate every line by set/way, enable. */
    SCB_CSSELR = 0u;
    tg_dsb_isb();
    ccsidr = SCB_CCSIDR;
    sets = ((ccsidr >> 13) & 0x7FFFu) + 1u;
    ways = ((ccsidr >> 3) & 0x3FFu) + 1u;
    line_shift = (ccsidr & 7u) + 4u;               /* log2(bytes per line) */
    way_shift = 32u;
    while (way_shift > 0u && (1u << (32u - way_shift)) < ways) {
        way_shift--;                              /* 32 - ceil(log2(ways)) */
    }
    for (set = 0u; set < sets; set++) {
        for (way = 0u; way < ways; way++) {
            SCB_DCISW = (way_shift < 32u ? (way << way_shift) : 0u) | (set << line_shift);
        }
    }
    tg_dsb_isb();
    SCB_CCR |= SCB_CCR_DC;
    tg_dsb_isb();
}

static void tg_clock_init(void)
{
    uint32_t src, divm;

    /* Supply: LDO (the NUCLEO-H743ZI2 has no SMPS). CR3 is write-once after power-on. */
    PWR_CR3 = (PWR_CR3 & ~(PWR_CR3_BYPASS | PWR_CR3_SCUEN)) | PWR_CR3_LDOEN;
    (void)tg_wait(&PWR_CSR1, PWR_CSR1_ACTVOSRDY, 1000000u);

    /* VOS1, then (480 MHz) the over-drive that makes it VOS0. */
    PWR_D3CR = (PWR_D3CR & ~(3u << 14)) | (3u << 14);
    (void)tg_wait(&PWR_D3CR, PWR_D3CR_VOSRDY, 1000000u);
#ifndef TG_STM32H7_400MHZ
    RCC_APB4ENR |= 1u << 1;                         /* SYSCFGEN */
    (void)RCC_APB4ENR;
    SYSCFG_PWRCR |= 1u;                             /* ODEN */
    (void)tg_wait(&PWR_D3CR, PWR_D3CR_VOSRDY, 1000000u);
#endif

    /* Flash wait states before the clock goes up; AXI clock > 185 MHz: WRHIGHFREQ = 2. */
    FLASH_ACR = (FLASH_ACR & ~0x3Fu) | TG_H7_FLASH_WS | (2u << 4);
    while ((FLASH_ACR & 0xFu) != TG_H7_FLASH_WS) {
    }

    /* HSE 8 MHz in bypass (ST-Link MCO); fall back to HSI 64 MHz when it does not start. */
    RCC_CR |= RCC_CR_HSEBYP;
    RCC_CR |= RCC_CR_HSEON;
    if (tg_wait(&RCC_CR, RCC_CR_HSERDY, 2000000u)) {
        src = 2u;                                   /* PLLSRC = HSE */
        divm = 4u;                                  /* 8 MHz / 4 = 2 MHz */
    } else {
        RCC_CR &= ~(RCC_CR_HSEON | RCC_CR_HSEBYP);
        src = 0u;                                   /* PLLSRC = HSI (64 MHz, HSIDIV 1 after reset) */
        divm = 32u;                                 /* 64 MHz / 32 = 2 MHz */
    }

    /* PLL1: input 2 MHz (PLL1RGE = 1: 2..4 MHz), wide VCO, integer mode, only P output on. */
    RCC_CR &= ~RCC_CR_PLL1ON;
    while (RCC_CR & RCC_CR_PLL1RDY) {
    }
    RCC_PLLCKSELR = (RCC_PLLCKSELR & ~((0x3Fu << 4) | 3u)) | (divm << 4) | src;
    RCC_PLLCFGR = (RCC_PLLCFGR & ~0x7FFu & ~(7u << 16)) | (1u << 2) | (1u << 16);
    RCC_PLL1FRACR = 0u;
    /* DIVN1 = N - 1, DIVP1 = P - 1 (2), DIVQ1 / DIVR1 = 2 (outputs unused). */
    RCC_PLL1DIVR = (TG_H7_DIVN - 1u) | (1u << 9) | (1u << 16) | (1u << 24);
    RCC_CR |= RCC_CR_PLL1ON;
    while ((RCC_CR & RCC_CR_PLL1RDY) == 0u) {
    }

    /* D1CPRE /1 (core 480), HPRE /2 (AXI/AHB 240), D1PPRE /2, D2PPRE1/2 /2, D3PPRE /2 (120). */
    RCC_D1CFGR = (0u << 8) | (4u << 4) | 8u;
    RCC_D2CFGR = (4u << 8) | (4u << 4);
    RCC_D3CFGR = (4u << 4);

    /* System clock switch to PLL1 (SW = 3), wait for SWS. */
    RCC_CFGR = (RCC_CFGR & ~7u) | 3u;
    while (((RCC_CFGR >> 3) & 7u) != 3u) {
    }
}

static void tg_pins_init(void)
{
    RCC_AHB4ENR |= 1u << 3;                         /* GPIODEN */
    RCC_APB1LENR |= 1u << 18;                       /* USART3EN */
    (void)RCC_APB1LENR;
    /* PD8 TX, PD9 RX: alternate function mode, AF7, high speed, pull-up on RX. */
    GPIOD_MODER = (GPIOD_MODER & ~((3u << 16) | (3u << 18))) | (2u << 16) | (2u << 18);
    GPIOD_OSPEEDR |= (2u << 16) | (2u << 18);
    GPIOD_PUPDR = (GPIOD_PUPDR & ~(3u << 18)) | (1u << 18);
    GPIOD_AFRH = (GPIOD_AFRH & ~0xFFu) | 7u | (7u << 4);
}

static void tg_dwt_start(void)
{
    DEMCR |= 1u << 24;                              /* TRCENA */
    DWT_LAR = 0xC5ACCE55u;                          /* unlock (Cortex-M7 CoreSight lock) */
    DWT_CYCCNT = 0u;
    DWT_CTRL |= 1u;                                 /* CYCCNTENA */
}

void tg_board_init(void)
{
    tg_caches_enable();
    tg_clock_init();
    tg_pins_init();
    USART_CR1 = 0u;
    USART_CR2 = 0u;
    USART_CR3 = 0u;
    USART_BRR = (TG_APB1_HZ + TG_UART_BAUD / 2u) / TG_UART_BAUD;
    USART_CR1 = USART_CR1_UE | USART_CR1_TE | USART_CR1_RE | USART_CR1_RXNEIE;
    tg_nvic_enable(USART3_IRQN);
    tg_dwt_start();
    tg_systick_start();
    __asm__ volatile("cpsie i" : : : "memory");
}

void tg_board_irq(uint32_t irqn)
{
    if (irqn == USART3_IRQN) {
        uint32_t isr = USART_ISR;
        if (isr & USART_ISR_RXNE) {
            tg_ring_push(&s_rx, (uint8_t)USART_RDR);
        }
        if (isr & USART_ISR_ORE) {
            USART_ICR = USART_ICR_ORECF;
            s_rx.dropped = s_rx.dropped + 1u;
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
    uint32_t brr = tg_brr_for(TG_APB1_HZ, baud), cr1;
    if (brr == 0u) {
        return -1;
    }
    if (apply) {
        while ((USART_ISR & USART_ISR_TC) == 0u) {   /* the last byte has left */
        }
        cr1 = USART_CR1;
        USART_CR1 = cr1 & ~USART_CR1_UE;             /* BRR is writable with UE = 0 only */
        USART_BRR = brr;
        USART_CR1 = cr1;
    }
    return 0;
}

void tg_uart_write(const uint8_t *data, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        while ((USART_ISR & USART_ISR_TXE) == 0u) {
        }
        USART_TDR = data[i];
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
    /* Both counters run from the core clock; SysTick was started a few cycles after CYCCNT
     * was zeroed, so they agree to within a small constant far below 2^31: the signed
     * difference of the low words corrects SysTick's reading to CYCCNT's. */
    uint32_t primask = tg_irq_save();
    uint64_t wide = tg_systick_ticks();
    uint32_t exact = DWT_CYCCNT;
    tg_irq_restore(primask);
    return wide + (uint64_t)(int64_t)(int32_t)(exact - (uint32_t)wide);
}

void tg_exit(int code)
{
    (void)code;
    __asm__ volatile("cpsid i" : : : "memory");
    for (;;) {
    }
}
