/*
 * Single-producer (interrupt handler) / single-consumer (main loop) byte ring buffer.
 * Internal to firmware/runtime. TG_UART_RX_BUFFER must be a power of two.
 */
#ifndef TG_RING_H
#define TG_RING_H

#include <stdint.h>

#ifndef TG_UART_RX_BUFFER
#define TG_UART_RX_BUFFER 2048u  /* > one maximal protocol frame (1041 bytes) */
#endif

#if (TG_UART_RX_BUFFER & (TG_UART_RX_BUFFER - 1u)) != 0
#error "TG_UART_RX_BUFFER must be a power of two"
#endif

typedef struct {
    volatile uint32_t head;   /* written by the producer only */
    volatile uint32_t tail;   /* written by the consumer only */
    volatile uint32_t dropped;
    uint8_t buf[TG_UART_RX_BUFFER];
} tg_ring_t;

/* Producer side (interrupt handler). */
static inline void tg_ring_push(tg_ring_t *r, uint8_t byte)
{
    uint32_t head = r->head;
    if (head - r->tail >= TG_UART_RX_BUFFER) {
        r->dropped = r->dropped + 1u;
        return;
    }
    r->buf[head & (TG_UART_RX_BUFFER - 1u)] = byte;
    __asm__ volatile("" : : : "memory");   /* data before the index */
    r->head = head + 1u;
}

/* Consumer side (main loop). Returns 1 if a byte was taken. */
static inline int tg_ring_pop(tg_ring_t *r, uint8_t *byte)
{
    uint32_t tail = r->tail;
    if (tail == r->head) {
        return 0;
    }
    __asm__ volatile("" : : : "memory");   /* index before the data */
    *byte = r->buf[tail & (TG_UART_RX_BUFFER - 1u)];
    __asm__ volatile("" : : : "memory");
    r->tail = tail + 1u;
    return 1;
}

#endif /* TG_RING_H */
