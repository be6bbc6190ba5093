/*
 * SysTick as a 64-bit tick counter.
 *
 * SysTick runs from the processor clock (CLKSOURCE = 1) with reload 2^TG_SYSTICK_SHIFT - 1
 * (default 0xFFFFFF, the full 24 bits), so one period is exactly 2^TG_SYSTICK_SHIFT ticks.
 * The overflow interrupt counts periods; tg_systick_ticks() combines that count with
 * the current value. The hardware raises the overflow when the counter steps from 1 to 0,
 * so a value of 0 already belongs to the next period: ticks = periods * P + ((P - value) mod P).
 * A wrap that happened but whose interrupt has not run yet (interrupts masked, or
 * the wrap fell between the two reads) is seen in ICSR.PENDSTSET and counted here.
 *
 * TG_SYSTICK_SHIFT can be lowered (tests use 12) to exercise the wrap logic quickly.
 */
#include "tg_cortexm.h"

#ifndef TG_SYSTICK_SHIFT
#define TG_SYSTICK_SHIFT 24
#endif

#if TG_SYSTICK_SHIFT < 8 || TG_SYSTICK_SHIFT > 24
#error "TG_SYSTICK_SHIFT must be in 8..24"
#endif

#define TG_SYSTICK_PERIOD (1u << TG_SYSTICK_SHIFT)
#define TG_SYSTICK_MASK (TG_SYSTICK_PERIOD - 1u)

static volatile uint32_t s_periods;

void SysTick_Handler(void)
{
    s_periods = s_periods + 1u;
}

void tg_systick_start(void)
{
    uint32_t guard;
    TG_SYST_CSR = 0u;
    TG_SYST_RVR = TG_SYSTICK_MASK;
    TG_SYST_CVR = 0u;              /* any write clears the counter */
    s_periods = 0u;
    TG_SYST_CSR = TG_SYST_CSR_CLKSOURCE | TG_SYST_CSR_TICKINT | TG_SYST_CSR_ENABLE;
    /* The counter holds 0 until the first clock edge reloads it; that 0 is not a wrap.
     * Wait (bounded) for the reload so that the first reading is already in period 0. */
    for (guard = 0u; guard < 100000u && TG_SYST_CVR == 0u; guard++) {
    }
}

uint64_t tg_systick_ticks(void)
{
    uint32_t primask = tg_irq_save();
    uint32_t periods = s_periods;
    uint32_t value = TG_SYST_CVR;
    if (TG_SCB_ICSR & TG_ICSR_PENDSTSET) {
        /* Wrapped, interrupt not taken yet: re-read so the value is from after the wrap. */
        value = TG_SYST_CVR;
        periods += 1u;
    }
    tg_irq_restore(primask);
    return ((uint64_t)periods << TG_SYSTICK_SHIFT) + ((TG_SYSTICK_PERIOD - value) & TG_SYSTICK_MASK);
}
