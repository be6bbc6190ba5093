/*
 * tinygen board port for Arduino cores (PlatformIO framework = arduino): the tg_port.h
 * functions on top of `Serial`, a 64-bit cycle counter, and tg_fw.h's platform hooks.
 *
 *   Cortex-M (Arduino Nano 33 BLE, nRF52840, mbed core): DWT CYCCNT, core clock cycles.
 *   ESP32 (arduino-esp32): the Xtensa CCOUNT register (ESP.getCycleCount()).
 * Both 32-bit counters are extended to 64 bits in software: tg_cycles() must be called
 * at least once per wrap (67 s at 64 MHz, 17.9 s at 240 MHz), which every inference's
 * per-layer hooks do.
 *
 * Serial RX is the core's own interrupt-driven buffer. On boards whose Serial is a USB
 * CDC port (TG_SERIAL_WAIT_HOST), tg_board_init() waits for the host to open the port,
 * so the banner is not lost.
 */
#include <Arduino.h>

#include "tg_fw.h"
#include "tg_fw_config.h"
#include "tg_port.h"

extern "C" {
const char tg_board_name[] = TG_BOARD_ID;
const uint32_t tg_clock_hz = TG_CLOCK_HZ;
}

static uint32_t s_cycles_last;
static uint64_t s_cycles_high;

#if defined(ARDUINO_ARCH_ESP32) || defined(ESP32)
static inline uint32_t raw_cycles(void)
{
    return (uint32_t)ESP.getCycleCount();
}
#else
#define TG_DEMCR (*(volatile uint32_t *)0xE000EDFCu)
#define TG_DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define TG_DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)
#define TG_AIRCR (*(volatile uint32_t *)0xE000ED0Cu)
static inline uint32_t raw_cycles(void)
{
    return TG_DWT_CYCCNT;
}
#endif

extern "C" void tg_board_init(void)
{
    Serial.begin(TG_UART_BAUD);
#if defined(TG_SERIAL_WAIT_HOST)
    while (!Serial) {
        delay(10);
    }
#endif
#if !(defined(ARDUINO_ARCH_ESP32) || defined(ESP32))
    TG_DEMCR |= 1u << 24;        /* TRCENA: enable the DWT */
    TG_DWT_CYCCNT = 0u;
    TG_DWT_CTRL |= 1u;           /* CYCCNTENA */
#endif
    s_cycles_last = raw_cycles();
    s_cycles_high = 0u;
}

extern "C" void tg_uart_write(const uint8_t *data, size_t len)
{
    Serial.write(data, len);
}

extern "C" int tg_uart_read(uint8_t *byte)
{
    int c = Serial.read();
    if (c < 0) {
        return 0;
    }
    *byte = (uint8_t)c;
    return 1;
}

#if (defined(ARDUINO_ARCH_ESP32) || defined(ESP32)) && !defined(TG_SERIAL_WAIT_HOST)
/* UART0 behind the board's USB-UART bridge: the rate can change (SET_BAUD). Elsewhere (USB
 * CDC ports such as the Nano 33 BLE's, whose rate is irrelevant) tg_fw.c's default says no. */
extern "C" int tg_uart_set_baud(uint32_t baud, int apply)
{
    if (baud < 9600u || baud > 5000000u) {
        return -1;
    }
    if (apply) {
        Serial.flush();
        Serial.updateBaudRate(baud);
    }
    return 0;
}
#endif

extern "C" uint32_t tg_uart_rx_dropped(void)
{
    return 0u;   /* the core's buffer does not count overruns */
}

/* Only ever called from the sketch's loop context (never from interrupts). */
extern "C" uint64_t tg_cycles(void)
{
    uint32_t now = raw_cycles();
    if (now < s_cycles_last) {
        s_cycles_high += (uint64_t)1u << 32;
    }
    s_cycles_last = now;
    return s_cycles_high | now;
}

extern "C" void tg_exit(int code)
{
    (void)code;
    Serial.flush();
    for (;;) {
        delay(1000);
    }
}

extern "C" void tg_board_irq(uint32_t irqn)
{
    (void)irqn;   /* interrupts belong to the Arduino core */
}

extern "C" void tg_fw_platform_flush(void)
{
    Serial.flush();
}

extern "C" void tg_fw_platform_reset(void)
{
    Serial.flush();
    delay(50);
#if defined(ARDUINO_ARCH_ESP32) || defined(ESP32)
    ESP.restart();
#else
    __asm__ volatile("dsb" : : : "memory");
    TG_AIRCR = 0x05FA0004u;      /* VECTKEY | SYSRESETREQ */
    __asm__ volatile("dsb" : : : "memory");
#endif
    for (;;) {
    }
}
