/*
 * Minimal Cortex-M (ARMv7-M) system register definitions and helpers used by the
 * tinygen runtime. Written from the ARMv7-M Architecture Reference Manual; internal
 * to firmware/runtime.
 */
#ifndef TG_CORTEXM_H
#define TG_CORTEXM_H

#include <stdint.h>

#define TG_REG32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* System control block */
#define TG_SCB_ICSR   TG_REG32(0xE000ED04u)
#define TG_SCB_VTOR   TG_REG32(0xE000ED08u)
#define TG_SCB_CFSR   TG_REG32(0xE000ED28u)
#define TG_SCB_HFSR   TG_REG32(0xE000ED2Cu)
#define TG_SCB_CPACR  TG_REG32(0xE000ED88u)
#define TG_ICSR_PENDSTSET (1u << 26)

/* SysTick */
#define TG_SYST_CSR   TG_REG32(0xE000E010u)
#define TG_SYST_RVR   TG_REG32(0xE000E014u)
#define TG_SYST_CVR   TG_REG32(0xE000E018u)
#define TG_SYST_CSR_ENABLE    (1u << 0)
#define TG_SYST_CSR_TICKINT   (1u << 1)
#define TG_SYST_CSR_CLKSOURCE (1u << 2)   /* 1 = processor clock */

/* NVIC */
#define TG_NVIC_ISER(n) TG_REG32(0xE000E100u + 4u * (n))
#define TG_NVIC_ICER(n) TG_REG32(0xE000E180u + 4u * (n))

static inline void tg_nvic_enable(uint32_t irqn)
{
    TG_NVIC_ISER(irqn >> 5) = 1u << (irqn & 31u);
}

static inline void tg_nvic_disable(uint32_t irqn)
{
    TG_NVIC_ICER(irqn >> 5) = 1u << (irqn & 31u);
}

static inline uint32_t tg_irq_save(void)
{
    uint32_t primask;
    __asm__ volatile("mrs %0, primask\n\tcpsid i" : "=r"(primask) : : "memory");
    return primask;
}

static inline void tg_irq_restore(uint32_t primask)
{
    __asm__ volatile("msr primask, %0" : : "r"(primask) : "memory");
}

static inline void tg_dsb_isb(void)
{
    __asm__ volatile("dsb\n\tisb" : : : "memory");
}

static inline void tg_compiler_barrier(void)
{
    __asm__ volatile("" : : : "memory");
}

/* Semihosting SYS_EXIT_EXTENDED (0x20): QEMU exits with status `code`
 * (plain SYS_EXIT on A32/T32 cannot pass a status). Only under a debugger/QEMU:
 * on a bare board bkpt 0xAB without a debugger escalates to HardFault. */
static inline void tg_semihost_exit(int code)
{
    volatile uint32_t block[2];
    block[0] = 0x20026u;              /* ADP_Stopped_ApplicationExit */
    block[1] = (uint32_t)code;
    register uint32_t r0 __asm__("r0") = 0x20u;
    register uint32_t r1 __asm__("r1") = (uint32_t)(uintptr_t)block;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
}

/* SysTick as a 64-bit counter (tg_systick.c) */
void tg_systick_start(void);
uint64_t tg_systick_ticks(void);

#endif /* TG_CORTEXM_H */
