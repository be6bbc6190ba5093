/*
 * Cortex-M startup for tinygen firmware: vector table, reset handler, fault reporting.
 *
 * Linker symbols (templates/linker.ld.j2): _estack (initial SP, top of RAM),
 * _sidata/_sdata/_edata (.data load address and RAM range), _sbss/_ebss.
 *
 * Every external interrupt enters tg_irq_entry(), which calls the board's
 * tg_board_irq(irqn). TG_NUM_IRQS sets the table size (default 98 covers the
 * STM32F4 family; a board's cflags may lower it).
 *
 * Faults print one JSON line on the serial port, {"fault":N,"pc":"0x...",...} with N the
 * exception number (3 = HardFault), then tg_exit(128 + N): QEMU exits with that status.
 */
#include <stdint.h>

#include "tg_cortexm.h"
#include "tg_port.h"
#include "tg_runtime.h"

/* Cold code (serial output helpers / start-up and fault reports, outside any inference): compiled for size, the
 * 12 KB kernels + runtime budget of the DS-CNN / MobileNet / MCUNet firmwares (tg_io.c -200 B, start-up -40 B on
 * Cortex-M4). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("Os")
#endif

#ifndef TG_NUM_IRQS
#define TG_NUM_IRQS 98
#endif

extern uint32_t _estack[];
extern uint32_t _sidata[];
extern uint32_t _sdata[];
extern uint32_t _edata[];
extern uint32_t _sbss[];
extern uint32_t _ebss[];

int main(void);

void Reset_Handler(void);
void tg_fault_report(const uint32_t *frame) __attribute__((used, noreturn));
void tg_fault_entry(void) __attribute__((naked));
static void tg_irq_entry(void);
static void tg_start(void) __attribute__((noinline, noreturn));

void NMI_Handler(void) __attribute__((weak, alias("tg_fault_entry")));
void HardFault_Handler(void) __attribute__((weak, alias("tg_fault_entry")));
void MemManage_Handler(void) __attribute__((weak, alias("tg_fault_entry")));
void BusFault_Handler(void) __attribute__((weak, alias("tg_fault_entry")));
void UsageFault_Handler(void) __attribute__((weak, alias("tg_fault_entry")));
void SVC_Handler(void) __attribute__((weak, alias("tg_fault_entry")));
void DebugMon_Handler(void) __attribute__((weak, alias("tg_fault_entry")));
void PendSV_Handler(void) __attribute__((weak, alias("tg_fault_entry")));
void SysTick_Handler(void) __attribute__((weak, alias("tg_fault_entry")));

typedef union {
    void (*handler)(void);
    void *sp;
} tg_vector_t;

__attribute__((section(".isr_vector"), used))
const tg_vector_t tg_vectors[16 + TG_NUM_IRQS] = {
    [0] = {.sp = _estack},
    [1] = {Reset_Handler},
    [2] = {NMI_Handler},
    [3] = {HardFault_Handler},
    [4] = {MemManage_Handler},
    [5] = {BusFault_Handler},
    [6] = {UsageFault_Handler},
    [11] = {SVC_Handler},
    [12] = {DebugMon_Handler},
    [14] = {PendSV_Handler},
    [15] = {SysTick_Handler},
    [16 ... (16 + TG_NUM_IRQS - 1)] = {tg_irq_entry},   /* GNU range designator */
};

/* Weak default: an interrupt nobody claimed is disabled so it cannot storm. */
__attribute__((weak)) void tg_board_irq(uint32_t irqn)
{
    tg_nvic_disable(irqn);
}

static void tg_irq_entry(void)
{
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    tg_board_irq((ipsr & 0x1FFu) - 16u);
}

void Reset_Handler(void)
{
    /* Enable CP10/CP11 (the FPU) before anything that might use a VFP register. */
    TG_SCB_CPACR |= 0xFu << 20;
    tg_dsb_isb();
    tg_start();
}

static void tg_start(void)
{
    volatile uint32_t *dst;
    const uint32_t *src;

    for (src = _sidata, dst = _sdata; dst < _edata;) {
        *dst++ = *src++;
    }
    for (dst = _sbss; dst < _ebss;) {
        *dst++ = 0u;
    }
    TG_SCB_VTOR = (uint32_t)(uintptr_t)tg_vectors;
    tg_dsb_isb();
    tg_stack_paint();
    tg_exit(main());
}

/* Picks the stacked exception frame (MSP or PSP, from EXC_RETURN bit 2). */
void tg_fault_entry(void)
{
    __asm__ volatile(
        "tst lr, #4\n\t"
        "ite eq\n\t"
        "mrseq r0, msp\n\t"
        "mrsne r0, psp\n\t"
        "b tg_fault_report\n\t");
}

void tg_fault_report(const uint32_t *frame)
{
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    ipsr &= 0x1FFu;
    tg_puts("\n{\"fault\":");
    tg_put_u32(ipsr);
    tg_puts(",\"pc\":\"");
    tg_put_hex32(frame[6]);
    tg_puts("\",\"lr\":\"");
    tg_put_hex32(frame[5]);
    tg_puts("\",\"cfsr\":\"");
    tg_put_hex32(TG_SCB_CFSR);
    tg_puts("\",\"hfsr\":\"");
    tg_put_hex32(TG_SCB_HFSR);
    tg_puts("\"}\n");
    tg_exit(128 + (int)ipsr);
}
