/*
 * A minimal stand-in for the Arduino core's Arduino.h, enough to compile-check tinygen's
 * sketch and Arduino port (firmware/app/tg_port_arduino.cpp) without a core installed.
 * Declarations only: nothing here is linked or run.
 */
#ifndef TG_TEST_ARDUINO_STUB_H
#define TG_TEST_ARDUINO_STUB_H

#include <stddef.h>
#include <stdint.h>

class TgStubSerial {
public:
    void begin(unsigned long baud);
#if defined(ARDUINO_ARCH_ESP32)
    void updateBaudRate(unsigned long baud);   /* arduino-esp32's HardwareSerial */
#endif
    size_t write(const uint8_t *buffer, size_t size);
    size_t write(uint8_t byte);
    int read(void);
    int available(void);
    void flush(void);
    explicit operator bool() const;
};
extern TgStubSerial Serial;

void delay(unsigned long ms);

#define LOW 0
#define HIGH 1
#define INPUT 0
#define OUTPUT 1
/* The host implementation logs every pin change to stderr as "pin P=V". */
void pinMode(uint8_t pin, uint8_t mode);
void digitalWrite(uint8_t pin, uint8_t value);

#if defined(ARDUINO_ARCH_ESP32)
class TgStubEsp {
public:
    uint32_t getCycleCount(void);
    void restart(void);
};
extern TgStubEsp ESP;
#endif

void setup(void);
void loop(void);

#endif
