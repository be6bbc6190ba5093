/*
 * MLPerf Tiny energy mode on Arduino-core boards: the timestamp pin (TG_ML_TIMESTAMP_PIN;
 * Nano 33 BLE: D7, ESP32-DevKitC: GPIO4) idles high and is pulled low for a timestamp.
 */
#include <Arduino.h>

#ifndef TG_ML_TIMESTAMP_PIN
#if defined(ARDUINO_ARCH_ESP32)
#define TG_ML_TIMESTAMP_PIN 4
#else
#define TG_ML_TIMESTAMP_PIN 7
#endif
#endif

extern "C" void tg_mlperf_timestamp_pin_init(void)
{
    digitalWrite(TG_ML_TIMESTAMP_PIN, HIGH);
    pinMode(TG_ML_TIMESTAMP_PIN, OUTPUT);
    digitalWrite(TG_ML_TIMESTAMP_PIN, HIGH);
}

extern "C" void tg_mlperf_timestamp_pin(int level)
{
    digitalWrite(TG_ML_TIMESTAMP_PIN, level ? HIGH : LOW);
}
