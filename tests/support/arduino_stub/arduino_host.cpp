/*
 * Host implementation of tests/support/arduino_stub/Arduino.h: runs a tinygen Arduino
 * sketch as a host process (Serial = stdout/stdin), so the sketch's logic can be checked
 * with the host compiler. main() calls setup() once and loop() until stdin is closed.
 */
#include "Arduino.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

TgStubSerial Serial;
static int s_eof = 0;

void TgStubSerial::begin(unsigned long baud) { (void)baud; }
#if defined(ARDUINO_ARCH_ESP32)
void TgStubSerial::updateBaudRate(unsigned long baud) { (void)baud; }
#endif
size_t TgStubSerial::write(const uint8_t *buffer, size_t size) { return fwrite(buffer, 1, size, stdout); }
size_t TgStubSerial::write(uint8_t byte) { return fwrite(&byte, 1, 1, stdout); }
int TgStubSerial::available(void) { return 0; }
void TgStubSerial::flush(void) { fflush(stdout); }
TgStubSerial::operator bool() const { return true; }

int TgStubSerial::read(void)
{
    unsigned char c;
    ssize_t n = ::read(0, &c, 1);
    if (n == 1) {
        return c;
    }
    if (n == 0) {
        s_eof = 1;
    }
    return -1;
}

void delay(unsigned long ms) { usleep((useconds_t)(ms * 1000u)); }

static int s_pin_level[256];
void pinMode(uint8_t pin, uint8_t mode) { fprintf(stderr, "mode %u=%u\n", pin, mode); }
void digitalWrite(uint8_t pin, uint8_t value)
{
    if (s_pin_level[pin] != value) {
        fprintf(stderr, "pin %u=%u\n", pin, value);
        s_pin_level[pin] = value;
    }
}

#if defined(ARDUINO_ARCH_ESP32)
TgStubEsp ESP;
static uint32_t s_ccount;
uint32_t TgStubEsp::getCycleCount(void) { return s_ccount += 1000u; }
void TgStubEsp::restart(void)
{
    fflush(stdout);
    exit(0);
}
#endif

int main(void)
{
    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
    setup();
    fflush(stdout);
    while (!s_eof) {
        loop();
        fflush(stdout);
        usleep(200);
    }
    return 0;
}
