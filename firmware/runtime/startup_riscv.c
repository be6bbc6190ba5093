/*
 * RISC-V (RV32, machine mode) startup for tinygen firmware: stack, .data copy, .bss clear,
 * trap reporting.
 *
 * Linker symbols as on Cortex-M (templates/linker.ld.j2): _estack, _sidata/_sdata/_edata,
 * _sbss/_ebss. The firmware links with --no-relax, so gp is not used.
 *
 * A trap (illegal instruction, access fault, ecall, ...) prints one JSON line on the serial port,
 * {"fault":N,"pc":"0x...","lr":"0x...","mtval":"0x..."} with N = mcause (exception code), then
 * tg_exit(128 + N).
 */
#include <stdint.h>

#include "tg_port.h"
#include "tg_runtime.h"

extern uint32_t _sidata[];
extern uint32_t _sdata[];
extern uint32_t _edata[];
extern uint32_t _sbss[];
extern uint32_t _ebss[];

int main(void);

void Reset_Handler(void) __attribute__((naked, section(".text.reset")));
void tg_trap_entry(void) __attribute__((naked, aligned(4)));
void tg_trap_report(uint32_t ra) __attribute__((used, noreturn));
static void tg_start(void) __attribute__((used, noinline, noreturn));

void Reset_Handler(void)
{
    __asm__ volatile(
        "la sp, _estack\n\t"
        "la t0, tg_trap_entry\n\t"
        ".option push\n\t"
        ".option arch, +zicsr\n\t"
        "csrw mtvec, t0\n\t"
        ".option pop\n\t"
        "j tg_start\n\t");
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
    tg_stack_paint();
    tg_exit(main());
}

/* Direct-mode trap vector: hand ra (the caller of the faulting code) to the reporter. */
void tg_trap_entry(void)
{
    __asm__ volatile(
        "mv a0, ra\n\t"
        "j tg_trap_report\n\t");
}

void tg_trap_report(uint32_t ra)
{
    uint32_t cause, epc, tval;
    __asm__ volatile(".option push\n\t.option arch, +zicsr\n\tcsrr %0, mcause\n\t.option pop" : "=r"(cause));
    __asm__ volatile(".option push\n\t.option arch, +zicsr\n\tcsrr %0, mepc\n\t.option pop" : "=r"(epc));
    __asm__ volatile(".option push\n\t.option arch, +zicsr\n\tcsrr %0, mtval\n\t.option pop" : "=r"(tval));
    cause &= 0xFFu;
    tg_puts("\n{\"fault\":");
    tg_put_u32(cause);
    tg_puts(",\"pc\":\"");
    tg_put_hex32(epc);
    tg_puts("\",\"lr\":\"");
    tg_put_hex32(ra);
    tg_puts("\",\"mtval\":\"");
    tg_put_hex32(tval);
    tg_puts("\"}\n");
    tg_exit(128 + (int)cause);
}
