/*
 * libFuzzer target for the device side of the protocol.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 *       -Ifirmware/protocol firmware/protocol/tg_proto.c firmware/tests/proto_host_app.c \
 *       firmware/tests/proto_fuzz.c -o proto_fuzz
 *
 * Each input is fed byte by byte to a freshly initialised receiver (toy app of
 * proto_host_app.c). The first byte picks the mode: even = the rest is raw
 * wire bytes; odd = the rest is a list of (cmd u8, length u16 LE, payload)
 * records that the harness wraps into valid frames (correct CRC and COBS), so
 * that the command handlers are reached without the fuzzer guessing CRCs. Checks, besides the sanitizers: every byte the device
 * writes forms valid frames (COBS, CRC, magic, length), and after the input a
 * valid PING still gets its echo. Also round-trips the input through the
 * standalone COBS encoder/decoder.
 */
#include "tg_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint8_t g_seg[TG_PROTO_MAX_ENCODED];
static size_t g_seg_len;
static int g_seg_overflow;
static uint16_t g_last_seq;
static uint8_t g_last_cmd;
static uint8_t g_last_payload[TG_PROTO_MAX_PAYLOAD];
static size_t g_last_len;

static void fail(const char *why)
{
    fprintf(stderr, "proto_fuzz: %s\n", why);
    abort();
}

static void check_frame(void)
{
    static uint8_t frame[TG_PROTO_MAX_FRAME];
    size_t n = tg_proto_cobs_decode(g_seg, g_seg_len, frame, sizeof frame);
    uint32_t crc;
    if (n == (size_t)-1)
        fail("device sent invalid COBS");
    if (n < TG_PROTO_HEADER_SIZE + TG_PROTO_CRC_SIZE)
        fail("device sent a short frame");
    crc = (uint32_t)frame[n - 4] | ((uint32_t)frame[n - 3] << 8) | ((uint32_t)frame[n - 2] << 16) |
          ((uint32_t)frame[n - 1] << 24);
    if (crc != tg_proto_crc32(0, frame, n - 4))
        fail("device sent a bad CRC");
    if (frame[0] != TG_PROTO_MAGIC)
        fail("device sent a bad magic byte");
    if ((size_t)(frame[4] | (frame[5] << 8)) != n - TG_PROTO_HEADER_SIZE - TG_PROTO_CRC_SIZE)
        fail("device sent a bad length field");
    g_last_seq = (uint16_t)(frame[1] | (frame[2] << 8));
    g_last_cmd = frame[3];
    g_last_len = n - TG_PROTO_HEADER_SIZE - TG_PROTO_CRC_SIZE;
    memcpy(g_last_payload, frame + TG_PROTO_HEADER_SIZE, g_last_len);
}

static void sink(const uint8_t *data, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        if (data[i] == 0) {
            if (g_seg_overflow)
                fail("device sent an oversized frame");
            if (g_seg_len)
                check_frame();
            g_seg_len = 0;
        } else if (g_seg_len < sizeof g_seg) {
            g_seg[g_seg_len++] = data[i];
        } else {
            g_seg_overflow = 1;
        }
    }
}

static void feed(const uint8_t *data, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (tg_proto_feed(data[i]) == TG_PROTO_EVT_RESET)
            tg_proto_init(sink);
}

static void check_cobs_roundtrip(const uint8_t *data, size_t size)
{
    static uint8_t enc[4096 + 4096 / 254 + 2];
    static uint8_t dec[4096];
    size_t n, m;
    if (size > 4096)
        size = 4096;
    n = tg_proto_cobs_encode(data, size, enc, sizeof enc);
    if (n == (size_t)-1 || memchr(enc, 0, n))
        fail("COBS encode");
    m = tg_proto_cobs_decode(enc, n, dec, sizeof dec);
    if (m != size || memcmp(dec, data, size) != 0)
        fail("COBS round trip");
    /* decoding arbitrary bytes into a small buffer must stay in bounds */
    (void)tg_proto_cobs_decode(data, size, dec, 17);
}

/* structured mode: wrap records into valid frames */
static void feed_records(const uint8_t *data, size_t size)
{
    static uint8_t frame[TG_PROTO_MAX_FRAME];
    static uint8_t wire[TG_PROTO_MAX_ENCODED + 2];
    uint16_t seq = 1;
    size_t pos = 0;
    while (pos + 3 <= size) {
        uint8_t cmd = data[pos];
        size_t len = (size_t)(data[pos + 1] | (data[pos + 2] << 8)) % (TG_PROTO_MAX_PAYLOAD + 1);
        size_t n;
        uint32_t crc;
        pos += 3;
        if (len > size - pos)
            len = size - pos;
        frame[0] = TG_PROTO_MAGIC;
        frame[1] = (uint8_t)seq;
        frame[2] = (uint8_t)(seq >> 8);
        frame[3] = cmd;
        frame[4] = (uint8_t)len;
        frame[5] = (uint8_t)(len >> 8);
        memcpy(frame + TG_PROTO_HEADER_SIZE, data + pos, len);
        pos += len;
        crc = tg_proto_crc32(0, frame, TG_PROTO_HEADER_SIZE + len);
        frame[TG_PROTO_HEADER_SIZE + len] = (uint8_t)crc;
        frame[TG_PROTO_HEADER_SIZE + len + 1] = (uint8_t)(crc >> 8);
        frame[TG_PROTO_HEADER_SIZE + len + 2] = (uint8_t)(crc >> 16);
        frame[TG_PROTO_HEADER_SIZE + len + 3] = (uint8_t)(crc >> 24);
        n = tg_proto_cobs_encode(frame, TG_PROTO_HEADER_SIZE + len + TG_PROTO_CRC_SIZE, wire + 1, sizeof wire - 2);
        if (n == (size_t)-1)
            fail("encoding a record");
        wire[0] = 0;
        wire[n + 1] = 0;
        feed(wire, n + 2);
        g_last_cmd = 0;
        seq++;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t ping_payload[5] = {'p', 'i', 'n', 'g', 0};
    uint8_t frame[TG_PROTO_HEADER_SIZE + sizeof ping_payload + TG_PROTO_CRC_SIZE];
    uint8_t wire[sizeof frame + 4];
    uint32_t crc;
    size_t n;

    g_seg_len = 0;
    g_seg_overflow = 0;
    tg_proto_init(sink);
    if (size > 0 && (data[0] & 1))
        feed_records(data + 1, size - 1);
    else if (size > 0)
        feed(data + 1, size - 1);

    /* a valid PING (seq 0x4242) after a delimiter must be answered */
    frame[0] = TG_PROTO_MAGIC;
    frame[1] = 0x42;
    frame[2] = 0x42;
    frame[3] = TG_CMD_PING;
    frame[4] = sizeof ping_payload;
    frame[5] = 0;
    memcpy(frame + TG_PROTO_HEADER_SIZE, ping_payload, sizeof ping_payload);
    crc = tg_proto_crc32(0, frame, TG_PROTO_HEADER_SIZE + sizeof ping_payload);
    frame[sizeof frame - 4] = (uint8_t)crc;
    frame[sizeof frame - 3] = (uint8_t)(crc >> 8);
    frame[sizeof frame - 2] = (uint8_t)(crc >> 16);
    frame[sizeof frame - 1] = (uint8_t)(crc >> 24);
    wire[0] = 0;
    n = tg_proto_cobs_encode(frame, sizeof frame, wire + 1, sizeof wire - 2);
    if (n == (size_t)-1)
        fail("encoding the PING");
    wire[1 + n] = 0;
    g_last_cmd = 0;
    feed(wire, n + 2);
    if (g_last_cmd != (TG_CMD_PING | TG_PROTO_REPLY_FLAG) || g_last_seq != 0x4242 ||
        g_last_len != sizeof ping_payload || memcmp(g_last_payload, ping_payload, sizeof ping_payload) != 0)
        fail("no PING reply after the input");

    check_cobs_roundtrip(data, size);
    return 0;
}
