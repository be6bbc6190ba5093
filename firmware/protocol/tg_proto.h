/*
 * tinygen framed serial protocol, device side (C99, no malloc).
 *
 * The wire format is described in docs/protocol.md. The constants below are
 * shared with tinygen/protocol.py; tests/test_protocol.py parses this header
 * and fails if the two sides disagree. Keep every constant a plain
 * "#define NAME <integer literal>" line so that it stays parseable.
 *
 * Usage (platform main loop):
 *
 *     static void uart_write(const uint8_t *p, size_t n) { ... n == 0: flush ... }
 *     tg_proto_init(uart_write);              // emits the BOOT frame
 *     for (;;) {
 *         if (tg_proto_feed(uart_getc()) == TG_PROTO_EVT_RESET)
 *             system_reset();                 // or tg_proto_init() again
 *     }
 *
 * The received bytes must not be dropped while tg_proto_feed() dispatches a
 * command (an inference can take seconds): use an interrupt-driven or FIFO
 * backed UART receiver of at least one maximal frame (1041 bytes). The host
 * waits for each reply before the next request, except for input uploads to
 * a device with TG_PROTO_FLAG_GAPS: chunks of at most 1 KB in all unanswered.
 */
#ifndef TG_PROTO_H
#define TG_PROTO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- protocol constants (mirrored in tinygen/protocol.py) ---- */
#define TG_PROTO_VERSION 1
#define TG_PROTO_MAGIC 0xA1             /* first header byte: 0xA0 | version */
#define TG_PROTO_HEADER_SIZE 6          /* magic u8, seq u16, cmd u8, len u16 */
#define TG_PROTO_CRC_SIZE 4
#define TG_PROTO_MAX_PAYLOAD 1024
#define TG_PROTO_MAX_FRAME 1034         /* header + max payload + crc (decoded) */
#define TG_PROTO_MAX_ENCODED 1039       /* COBS-encoded max frame, without the 0x00 delimiters */
#define TG_PROTO_SEQ_NONE 0xFFFF        /* seq of error replies to frames whose header is unreadable */
#define TG_PROTO_SEQ_BOOT 0             /* seq of the unsolicited BOOT frame */
#define TG_PROTO_REPLY_FLAG 0x80        /* successful reply cmd = request cmd | 0x80 */
#define TG_PROTO_SHA_PREFIX 8           /* bytes of the model SHA-256 an INFER_BEGIN may carry */
#define TG_PROTO_MAX_STRING 63          /* longest name string in INFO (longer ones are cut) */
#define TG_PROTO_MAX_TENSORS 8          /* at most this many inputs and this many outputs are described */
#define TG_PROTO_MAX_DIMS 6             /* dims per tensor in INFO */
#define TG_PROTO_INFO_FLAGS 15          /* INFO flags this device sets: PAGED | GAPS | SACK | STATE */
#define TG_PROTO_FLAG_PAGED 1           /* INFO flag bit 0: INFER_RUN takes max_inline u16, PROFILE max_count u16 */
#define TG_PROTO_FLAG_GAPS 2            /* INFO flag bit 1: INFER_CHUNKs on unit boundaries may arrive out of order */
#define TG_PROTO_FLAG_SACK 4            /* INFO flag bit 2: INFER_CHUNK replies carry a bitmap of the units held */
#define TG_PROTO_FLAG_STATE 8           /* INFO flag bit 3: the device understands RESET_STATE */
#define TG_PROTO_SACK_BYTES 16          /* at most this many bitmap bytes (8 units each) after `received` */
#define TG_PROTO_MIN_UNIT 16            /* smallest out-of-order chunk unit (bytes) */
#define TG_PROTO_MAX_UNITS 2048         /* units tracked per input (bitmap bits); larger inputs get larger units */

/* ---- requests (host -> device) ---- */
#define TG_CMD_PING 0x01
#define TG_CMD_INFO 0x02
#define TG_CMD_INFER_BEGIN 0x10
#define TG_CMD_INFER_CHUNK 0x11
#define TG_CMD_INFER_RUN 0x12
#define TG_CMD_OUTPUT_READ 0x13
#define TG_CMD_PROFILE 0x20
#define TG_CMD_LAYER 0x21
#define TG_CMD_RESET 0x30
#define TG_CMD_RESET_STATE 0x31
#define TG_CMD_SET_BAUD 0x32

/* ---- device -> host only ---- */
#define TG_CMD_BOOT 0xFE                /* unsolicited, seq 0, payload: one-line JSON */
#define TG_CMD_ERROR 0xFF               /* payload: code u8, request cmd u8, detail u32 */

/* ---- error codes ---- */
#define TG_ERR_BAD_CRC 1
#define TG_ERR_BAD_LENGTH 2
#define TG_ERR_UNKNOWN_CMD 3
#define TG_ERR_BAD_STATE 4
#define TG_ERR_OUT_OF_RANGE 5
#define TG_ERR_MODEL_MISMATCH 6
#define TG_ERR_OVERFLOW 7
#define TG_ERR_BAD_VERSION 8
#define TG_ERR_BAD_FRAME 9
#define TG_ERR_APP 10
#define TG_ERR_UNAVAILABLE 11

/* tg_proto_feed() return values */
#define TG_PROTO_EVT_NONE 0
#define TG_PROTO_EVT_FRAME 1            /* a complete frame was handled (reply sent) */
#define TG_PROTO_EVT_RESET 2            /* RESET acknowledged: the platform should reset now */
#define TG_PROTO_EVT_BAUD 3             /* SET_BAUD acknowledged: switch to tg_proto_new_baud() now */

/*
 * Output callback: writes len bytes to the serial port. Called several times
 * per frame; a call with len == 0 (data may be NULL) marks the end of a frame
 * and is the place to flush buffered output.
 */
typedef void (*tg_proto_write_fn)(const uint8_t *data, size_t len);

/* Resets all protocol state and sends the BOOT frame through `write`. */
void tg_proto_init(tg_proto_write_fn write);

/* Feeds one received byte. Returns TG_PROTO_EVT_*. */
int tg_proto_feed(uint8_t byte);

/*
 * Link speed (SET_BAUD). `fn(baud, 0)` tells whether the serial port can run at `baud`
 * (0: yes); without a hook, or when it says no, SET_BAUD is answered UNAVAILABLE. After
 * the acknowledgement (at the old rate) tg_proto_feed() returns TG_PROTO_EVT_BAUD: the
 * platform flushes its output, switches to tg_proto_new_baud() and goes back to its
 * default rate unless a good frame arrives at the new one soon (tg_fw.c: 1 s, or at the
 * first damaged frame).
 */
typedef int (*tg_proto_baud_fn)(uint32_t baud, int apply);
void tg_proto_set_baud_hook(tg_proto_baud_fn fn);
uint32_t tg_proto_new_baud(void);

/* CRC-32 (IEEE 802.3, reflected, init and final xor 0xFFFFFFFF), same as zlib.crc32.
 * Pass crc = 0 to start; chain calls with the previous result. */
uint32_t tg_proto_crc32(uint32_t crc, const uint8_t *data, size_t len);

/* COBS helpers (exposed for tests and tools). Return the output length, or
 * (size_t)-1 when the input does not fit `cap` / is not valid COBS. The
 * encoder does not add the 0x00 delimiter. */
size_t tg_proto_cobs_encode(const uint8_t *in, size_t n, uint8_t *out, size_t cap);
size_t tg_proto_cobs_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap);

/* Statistics, for debugging a link. */
typedef struct {
    uint32_t frames_ok;      /* frames dispatched */
    uint32_t frames_bad;     /* CRC / COBS / length / overflow errors */
    uint32_t duplicates;     /* retransmitted requests answered from the reply cache */
} tg_proto_stats_t;
const tg_proto_stats_t *tg_proto_stats(void);

#ifdef __cplusplus
}
#endif

#endif /* TG_PROTO_H */
