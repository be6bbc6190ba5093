/*
 * tinygen framed serial protocol, device side. See tg_proto.h and docs/protocol.md.
 *
 * Memory: one receive buffer and one reply buffer of TG_PROTO_MAX_FRAME bytes
 * each (static), a few dozen bytes of state, no malloc, no recursion. Every
 * write into a buffer is bounds-checked against its size, whatever arrives.
 */
#include "tg_proto.h"
#include "tg_app.h"

#include <string.h>

#if TG_PROTO_MAX_FRAME != (TG_PROTO_HEADER_SIZE + TG_PROTO_MAX_PAYLOAD + TG_PROTO_CRC_SIZE)
#error "TG_PROTO_MAX_FRAME must be header + max payload + crc"
#endif
#if TG_PROTO_MAX_ENCODED != (TG_PROTO_MAX_FRAME + (TG_PROTO_MAX_FRAME + 253) / 254)
#error "TG_PROTO_MAX_ENCODED must be the COBS bound of TG_PROTO_MAX_FRAME"
#endif
#if TG_PROTO_MAGIC != (0xA0 | TG_PROTO_VERSION)
#error "TG_PROTO_MAGIC must be 0xA0 | TG_PROTO_VERSION"
#endif
#if TG_PROTO_MAX_DIMS != TG_APP_MAX_DIMS
#error "TG_PROTO_MAX_DIMS and TG_APP_MAX_DIMS differ"
#endif

/* ------------------------------------------------------------------ CRC-32 */

/* Reflected CRC-32 (polynomial 0xEDB88320) processed one nibble at a time:
 * entry n is the CRC register after shifting the 4-bit value n through the
 * polynomial division four times. 64 bytes of table, two lookups per byte. */
static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu,
    0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
    0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
    0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
};

uint32_t tg_proto_crc32(uint32_t crc, const uint8_t *data, size_t len)
{
    size_t i;
    crc = ~crc;
    for (i = 0; i < len; i++) {
        crc ^= data[i];
        crc = (crc >> 4) ^ crc_nibble[crc & 0x0Fu];
        crc = (crc >> 4) ^ crc_nibble[crc & 0x0Fu];
    }
    return ~crc;
}

/* -------------------------------------------------------------------- COBS */

size_t tg_proto_cobs_encode(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    size_t i = 0, o = 0;
    for (;;) {
        size_t j = i;
        while (j < n && in[j] != 0 && j - i < 254)
            j++;
        if (o + 1 + (j - i) > cap)
            return (size_t)-1;
        out[o++] = (uint8_t)(j - i + 1);
        if (j > i) {
            memcpy(out + o, in + i, j - i);
            o += j - i;
        }
        if (j >= n)
            return o;
        /* after a full 254-byte block no zero is implied: re-examine in[j] */
        i = (j - i == 254) ? j : j + 1;
    }
}

size_t tg_proto_cobs_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    size_t i = 0, o = 0;
    while (i < n) {
        uint8_t code = in[i++];
        size_t k;
        if (code == 0)
            return (size_t)-1;
        for (k = 1; k < code; k++) {
            if (i >= n || in[i] == 0 || o >= cap)
                return (size_t)-1;
            out[o++] = in[i++];
        }
        if (code != 0xFF && i < n) {
            if (o >= cap)
                return (size_t)-1;
            out[o++] = 0;
        }
    }
    return o;
}

/* ------------------------------------------------------------------- state */

static tg_proto_write_fn g_write;
static tg_proto_stats_t g_stats;

/* receiver: COBS decoded on the fly into g_rx */
static uint8_t g_rx[TG_PROTO_MAX_FRAME];
static size_t g_rx_len;
static uint8_t g_block_left;   /* data bytes left in the current COBS block */
static uint8_t g_zero_pending; /* the current block ends with an implied zero */
static uint8_t g_in_frame;     /* non-delimiter bytes seen since the last 0x00 */
static uint8_t g_overflow;     /* decoded frame exceeded g_rx: discard until 0x00 */

/* reply buffer; doubles as the cache answering retransmitted requests */
static uint8_t g_tx[TG_PROTO_MAX_FRAME];
static size_t g_tx_len;
static uint8_t g_cache_valid;
static uint16_t g_cache_seq;
static uint8_t g_cache_cmd;
static uint32_t g_cache_crc;

/* inference state */
static int g_cur_input;          /* input selected by the last INFER_BEGIN, -1: none */
static uint32_t g_in_total[TG_PROTO_MAX_TENSORS];
static uint32_t g_in_recv[TG_PROTO_MAX_TENSORS];
static uint32_t g_in_complete;   /* bit i: input i fully received since the last run */
/* chunks out of order (selective repeat): units of g_unit bytes of the selected input that
 * have arrived; g_in_recv stays the contiguous prefix received */
static uint8_t g_have[TG_PROTO_MAX_UNITS / 8];
static uint32_t g_unit;
static uint8_t g_have_output;    /* outputs / profile / layers of a run are readable */
static tg_proto_baud_fn g_baud_fn;  /* the platform's "can the port run at this rate?" */
static uint32_t g_new_baud;      /* the rate of the last acknowledged SET_BAUD */

const tg_proto_stats_t *tg_proto_stats(void) { return &g_stats; }

/* ------------------------------------------------------------ byte helpers */

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* A reply under construction: writes beyond `cap` are dropped and flagged
 * (cannot happen with the sizes used below; checked anyway). */
typedef struct {
    uint8_t *buf;
    size_t cap;
    size_t len;
    int overflow;
} tg_out_t;

static void out_bytes(tg_out_t *o, const void *p, size_t n)
{
    if (n > o->cap - o->len) {
        o->overflow = 1;
        return;
    }
    if (n)
        memcpy(o->buf + o->len, p, n);
    o->len += n;
}

static void out_u8(tg_out_t *o, uint32_t v)
{
    uint8_t b = (uint8_t)v;
    out_bytes(o, &b, 1);
}

static void out_u16(tg_out_t *o, uint32_t v)
{
    uint8_t b[2];
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
    out_bytes(o, b, 2);
}

static void out_u32(tg_out_t *o, uint32_t v)
{
    uint8_t b[4];
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
    b[2] = (uint8_t)(v >> 16);
    b[3] = (uint8_t)(v >> 24);
    out_bytes(o, b, 4);
}

static void out_u64(tg_out_t *o, uint64_t v)
{
    out_u32(o, (uint32_t)v);
    out_u32(o, (uint32_t)(v >> 32));
}

static void out_str(tg_out_t *o, const char *s)
{
    size_t n = 0;
    if (s)
        while (n < TG_PROTO_MAX_STRING && s[n])
            n++;
    out_u8(o, (uint32_t)n);
    out_bytes(o, s, n);
}

static void reply_begin(tg_out_t *o, uint8_t *buf, size_t cap, uint16_t seq, uint8_t cmd)
{
    o->buf = buf;
    o->cap = cap - TG_PROTO_CRC_SIZE;
    o->len = 0;
    o->overflow = 0;
    out_u8(o, TG_PROTO_MAGIC);
    out_u16(o, seq);
    out_u8(o, cmd);
    out_u16(o, 0); /* payload length, patched in reply_end */
}

/* Patches the length, appends the CRC; returns the frame length. */
static size_t reply_end(tg_out_t *o)
{
    size_t payload = o->len - TG_PROTO_HEADER_SIZE;
    uint32_t crc;
    o->buf[4] = (uint8_t)payload;
    o->buf[5] = (uint8_t)(payload >> 8);
    crc = tg_proto_crc32(0, o->buf, o->len);
    o->cap += TG_PROTO_CRC_SIZE;
    out_u32(o, crc);
    return o->len;
}

/* Sends a decoded frame COBS-encoded between two 0x00 delimiters, streaming
 * straight from `buf` (no encode buffer). */
static void send_frame(const uint8_t *buf, size_t n)
{
    static const uint8_t zero = 0;
    size_t i = 0;
    if (!g_write)
        return;
    g_write(&zero, 1);
    for (;;) {
        size_t j = i;
        uint8_t code;
        while (j < n && buf[j] != 0 && j - i < 254)
            j++;
        code = (uint8_t)(j - i + 1);
        g_write(&code, 1);
        if (j > i)
            g_write(buf + i, j - i);
        if (j >= n)
            break;
        i = (j - i == 254) ? j : j + 1;
    }
    g_write(&zero, 1);
    g_write(NULL, 0);
}

/* Error reply to a frame that could not be dispatched: built in a small
 * buffer so that the reply cache stays valid. */
static void send_frame_error(uint16_t seq, uint8_t cmd, uint8_t code, uint32_t detail)
{
    uint8_t buf[TG_PROTO_HEADER_SIZE + 6 + TG_PROTO_CRC_SIZE];
    tg_out_t o;
    size_t n;
    reply_begin(&o, buf, sizeof buf, seq, TG_CMD_ERROR);
    out_u8(&o, code);
    out_u8(&o, cmd);
    out_u32(&o, detail);
    n = reply_end(&o);
    g_stats.frames_bad++;
    send_frame(buf, n);
}

/* ------------------------------------------------------------------- boot */

static const char hexdig[] = "0123456789abcdef";

static void json_str(tg_out_t *o, const char *key, const char *s)
{
    size_t n = 0;
    out_u8(o, '"');
    out_bytes(o, key, strlen(key));
    out_bytes(o, "\":\"", 3);
    if (s) {
        for (; n < TG_PROTO_MAX_STRING && s[n]; n++) {
            uint8_t c = (uint8_t)s[n];
            if (c == '"' || c == '\\') {
                out_u8(o, '\\');
                out_u8(o, c);
            } else if (c < 0x20 || c == 0x7F) {
                out_u8(o, '?');
            } else {
                out_u8(o, c);
            }
        }
    }
    out_u8(o, '"');
}

static void json_uint(tg_out_t *o, const char *key, uint32_t v)
{
    char digits[10];
    int n = 0;
    out_u8(o, '"');
    out_bytes(o, key, strlen(key));
    out_bytes(o, "\":", 2);
    do {
        digits[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v && n < 10);
    while (n > 0)
        out_u8(o, (uint8_t)digits[--n]);
}

static void send_boot(void)
{
    const tg_app_model_info_t *mi = tg_app_model_info();
    tg_out_t o;
    size_t n;
    int i;
    reply_begin(&o, g_tx, sizeof g_tx, TG_PROTO_SEQ_BOOT, TG_CMD_BOOT);
    out_u8(&o, '{');
    json_uint(&o, "boot", 1);
    out_u8(&o, ',');
    json_uint(&o, "proto", TG_PROTO_VERSION);
    out_u8(&o, ',');
    json_uint(&o, "max_payload", TG_PROTO_MAX_PAYLOAD);
    out_u8(&o, ',');
    json_str(&o, "fw", mi ? mi->fw_version : NULL);
    out_u8(&o, ',');
    json_str(&o, "model", mi ? mi->model_name : NULL);
    out_u8(&o, ',');
    json_str(&o, "board", mi ? mi->board_name : NULL);
    out_bytes(&o, ",\"sha256\":\"", 11);
    for (i = 0; i < 32; i++) {
        uint8_t b = (mi && mi->sha256) ? mi->sha256[i] : 0;
        out_u8(&o, (uint8_t)hexdig[b >> 4]);
        out_u8(&o, (uint8_t)hexdig[b & 15]);
    }
    out_bytes(&o, "\"}", 2);
    n = reply_end(&o);
    g_cache_valid = 0; /* g_tx no longer holds a reply */
    send_frame(g_tx, n);
}

/* ---------------------------------------------------------------- commands */

/* Each handler fills `o` (already holding the reply header) and returns 0, or
 * returns an error code with *detail set. */

static int num_layers(void)
{
    int n = tg_app_num_layers();
    if (n < 0)
        return 0;
    return n > 0xFFFF ? 0xFFFF : n;
}

static int clamp_count(int n, int max)
{
    if (n < 0)
        return 0;
    return n > max ? max : n;
}

static uint32_t buffer_bytes(int n) { return n < 0 ? 0u : (uint32_t)n; }

static void out_tensor(tg_out_t *o, const tg_app_tensor_info_t *t, int bytes)
{
    uint32_t scale_bits = 0;
    int d, ndim;
    if (!t) {
        out_u8(o, 0xFF); /* unknown dtype */
        out_u8(o, 0);
        out_u32(o, 0);
        out_u32(o, 0);
        out_u32(o, buffer_bytes(bytes));
        return;
    }
    ndim = t->ndim > TG_PROTO_MAX_DIMS ? TG_PROTO_MAX_DIMS : t->ndim;
    out_u8(o, t->dtype);
    out_u8(o, (uint32_t)ndim);
    for (d = 0; d < ndim; d++)
        out_u32(o, (uint32_t)t->dims[d]);
    memcpy(&scale_bits, &t->scale, sizeof scale_bits);
    out_u32(o, scale_bits);
    out_u32(o, (uint32_t)t->zero_point);
    out_u32(o, buffer_bytes(bytes));
}

static int cmd_info(tg_out_t *o, size_t len, uint32_t *detail)
{
    const tg_app_model_info_t *mi = tg_app_model_info();
    int ni = tg_app_num_inputs(), no = tg_app_num_outputs(), i;
    static const uint8_t nosha[32];
    if (len != 0) {
        *detail = 0;
        return TG_ERR_BAD_LENGTH;
    }
    ni = clamp_count(ni, 255);
    no = clamp_count(no, 255);
    out_u8(o, TG_PROTO_VERSION);
    out_u8(o, TG_PROTO_INFO_FLAGS); /* optional request fields this device understands */
    out_u16(o, TG_PROTO_MAX_PAYLOAD);
    out_u8(o, (uint32_t)ni);
    out_u8(o, (uint32_t)no);
    out_u16(o, (uint32_t)num_layers());
    out_u32(o, mi ? mi->clock_hz : 0);
    out_u32(o, mi ? mi->arena_bytes : 0);
    out_bytes(o, (mi && mi->sha256) ? mi->sha256 : nosha, 32);
    out_str(o, mi ? mi->fw_version : NULL);
    out_str(o, mi ? mi->model_name : NULL);
    out_str(o, mi ? mi->board_name : NULL);
    for (i = 0; i < clamp_count(ni, TG_PROTO_MAX_TENSORS); i++)
        out_tensor(o, tg_app_input_info(i), tg_app_input_bytes(i));
    for (i = 0; i < clamp_count(no, TG_PROTO_MAX_TENSORS); i++)
        out_tensor(o, tg_app_output_info(i), tg_app_output_bytes(i));
    return 0;
}

static void invalidate_run(void)
{
    g_have_output = 0;
}

static int cmd_infer_begin(tg_out_t *o, const uint8_t *p, size_t len, uint32_t *detail)
{
    const tg_app_model_info_t *mi;
    int index, ni;
    uint32_t total, expected;
    if (len != 6 && len != 6 + TG_PROTO_SHA_PREFIX) {
        *detail = 6;
        return TG_ERR_BAD_LENGTH;
    }
    index = p[0];
    total = rd32(p + 2);
    ni = clamp_count(tg_app_num_inputs(), TG_PROTO_MAX_TENSORS);
    if (index >= ni) {
        *detail = (uint32_t)ni;
        return TG_ERR_OUT_OF_RANGE;
    }
    if (len == 6 + TG_PROTO_SHA_PREFIX) {
        mi = tg_app_model_info();
        if (!mi || !mi->sha256 || memcmp(mi->sha256, p + 6, TG_PROTO_SHA_PREFIX) != 0) {
            *detail = 0;
            return TG_ERR_MODEL_MISMATCH;
        }
    }
    expected = buffer_bytes(tg_app_input_bytes(index));
    if (total != expected) {
        *detail = expected;
        return TG_ERR_BAD_LENGTH;
    }
    invalidate_run(); /* writing the input may overwrite the last run's tensors */
    g_cur_input = index;
    g_in_total[index] = total;
    g_in_recv[index] = 0;
    g_unit = TG_PROTO_MIN_UNIT;
    while (g_unit < 0x8000u && (total + g_unit - 1) / g_unit > TG_PROTO_MAX_UNITS)
        g_unit <<= 1;
    memset(g_have, 0, sizeof g_have);
    if (total == 0)
        g_in_complete |= 1u << index;
    else
        g_in_complete &= ~(1u << index);
    out_u8(o, (uint32_t)index);
    out_u32(o, total);
    out_u16(o, TG_PROTO_MAX_PAYLOAD - 4);
    out_u16(o, g_unit); /* chunks aligned to this many bytes may arrive in any order */
    return 0;
}

static int have_unit(uint32_t k) { return (g_have[k >> 3] >> (k & 7)) & 1; }

/* Marks the units wholly inside [begin, end) (the last, short unit when end == total). */
static void mark_units(uint32_t begin, uint32_t end, uint32_t total)
{
    uint32_t k = (begin + g_unit - 1) / g_unit;
    for (; k < TG_PROTO_MAX_UNITS && k * g_unit < end; k++) {
        uint32_t stop = (k + 1) * g_unit;
        if (stop > total)
            stop = total;
        if (stop > end)
            break;
        g_have[k >> 3] |= (uint8_t)(1u << (k & 7));
    }
}

/* Selective acknowledgement (TG_PROTO_FLAG_SACK): bit i of the bitmap (LSB first) tells
 * whether unit recv / g_unit + i arrived, for up to TG_PROTO_SACK_BYTES * 8 units; trailing
 * zero bytes are left out (no unit beyond the prefix: the reply is `received` alone). Each
 * reply so describes every unit near the prefix: one reply that gets through confirms all
 * chunks of a burst, whichever other replies the link lost. */
static void out_sack(tg_out_t *o, uint32_t recv, uint32_t total)
{
    uint8_t map[TG_PROTO_SACK_BYTES];
    uint32_t base = recv / g_unit, units = (total + g_unit - 1) / g_unit, i, n = 0;
    memset(map, 0, sizeof map);
    for (i = 0; i < 8u * TG_PROTO_SACK_BYTES && base + i < units && base + i < TG_PROTO_MAX_UNITS; i++) {
        if (have_unit(base + i)) {
            map[i >> 3] |= (uint8_t)(1u << (i & 7));
            n = (i >> 3) + 1;
        }
    }
    out_bytes(o, map, n);
}

static int cmd_infer_chunk(tg_out_t *o, const uint8_t *p, size_t len, uint32_t *detail)
{
    uint32_t offset, n, total, recv;
    int8_t *dst;
    if (len < 4) {
        *detail = 4;
        return TG_ERR_BAD_LENGTH;
    }
    if (g_cur_input < 0) {
        *detail = 0;
        return TG_ERR_BAD_STATE;
    }
    offset = rd32(p);
    n = (uint32_t)(len - 4);
    total = g_in_total[g_cur_input];
    recv = g_in_recv[g_cur_input];
    /* in order (offset <= bytes received: resends are fine), or out of order when the chunk
     * starts on a unit and ends on one (or at the end of the input) */
    if (offset > recv && (offset % g_unit != 0 || (n % g_unit != 0 && n != total - offset) || n == 0)) {
        *detail = recv;
        return TG_ERR_OUT_OF_RANGE;
    }
    if (offset > total || n > total - offset) {
        *detail = total;
        return TG_ERR_OUT_OF_RANGE;
    }
    dst = tg_app_input_buffer(g_cur_input);
    if (!dst || buffer_bytes(tg_app_input_bytes(g_cur_input)) < total) {
        *detail = 0;
        return TG_ERR_APP;
    }
    if (n)
        memcpy(dst + offset, p + 4, n);
    if (offset <= recv) {
        if (offset + n > recv) {
            mark_units(recv - recv % g_unit, offset + n, total);   /* the prefix is whole */
            recv = offset + n;
        }
    } else {
        mark_units(offset, offset + n, total);
    }
    /* extend the prefix over units that arrived out of order */
    while (recv < total && recv / g_unit < TG_PROTO_MAX_UNITS && have_unit(recv / g_unit)) {
        recv = (recv / g_unit + 1) * g_unit;
        if (recv > total)
            recv = total;
    }
    g_in_recv[g_cur_input] = recv;
    if (recv == total)
        g_in_complete |= 1u << g_cur_input;
    out_u32(o, recv);
    out_sack(o, recv, total);
    return 0;
}

/* Clamps a paged read: returns bytes to send from `offset` of a `total`-byte
 * buffer, at most max_len (0 = no limit) and at most `room`. */
static uint32_t page_len(uint32_t total, uint32_t offset, uint32_t max_len, uint32_t room)
{
    uint32_t n = total - offset;
    if (max_len != 0 && n > max_len)
        n = max_len;
    return n > room ? room : n;
}

static int cmd_infer_run(tg_out_t *o, const uint8_t *p, size_t len, uint32_t *detail)
{
    int ni = tg_app_num_inputs(), no, i;
    uint64_t cycles = 0;
    int rc;
    uint32_t total, n, max_inline = 0;
    const int8_t *out;
    if (len != 0 && len != 2) {
        *detail = 0;
        return TG_ERR_BAD_LENGTH;
    }
    if (len == 2) /* optional: at most this many bytes of output 0 inline (0: as many as fit) */
        max_inline = rd16(p);
    if (ni > TG_PROTO_MAX_TENSORS) {
        *detail = (uint32_t)ni;
        return TG_ERR_OUT_OF_RANGE;
    }
    for (i = 0; i < ni; i++) {
        if (!(g_in_complete & (1u << i))) {
            *detail = (uint32_t)i;
            return TG_ERR_BAD_STATE;
        }
    }
    /* the inputs are consumed whatever happens (the arena may be reused) */
    g_in_complete = 0;
    g_cur_input = -1;
    invalidate_run();
    rc = tg_app_invoke(&cycles);
    if (rc != 0) {
        *detail = (uint32_t)rc;
        return TG_ERR_APP;
    }
    g_have_output = 1;
    no = clamp_count(tg_app_num_outputs(), 255);
    total = no > 0 ? buffer_bytes(tg_app_output_bytes(0)) : 0;
    out = no > 0 ? tg_app_output_buffer(0) : NULL;
    if (!out)
        total = 0;
    n = page_len(total, 0, max_inline, TG_PROTO_MAX_PAYLOAD - 13);
    out_u64(o, cycles);
    out_u8(o, (uint32_t)no);
    out_u32(o, total);
    out_bytes(o, out, n);
    return 0;
}

static int cmd_output_read(tg_out_t *o, const uint8_t *p, size_t len, uint32_t *detail)
{
    int index, no;
    uint32_t offset, max_len, total, n;
    const int8_t *buf;
    if (len != 7) {
        *detail = 7;
        return TG_ERR_BAD_LENGTH;
    }
    if (!g_have_output) {
        *detail = 0;
        return TG_ERR_BAD_STATE;
    }
    index = p[0];
    offset = rd32(p + 1);
    max_len = rd16(p + 5);
    no = clamp_count(tg_app_num_outputs(), 255);
    if (index >= no) {
        *detail = (uint32_t)no;
        return TG_ERR_OUT_OF_RANGE;
    }
    buf = tg_app_output_buffer(index);
    total = buf ? buffer_bytes(tg_app_output_bytes(index)) : 0;
    if (!buf) {
        *detail = 0;
        return TG_ERR_UNAVAILABLE;
    }
    if (offset > total) {
        *detail = total;
        return TG_ERR_OUT_OF_RANGE;
    }
    n = page_len(total, offset, max_len, TG_PROTO_MAX_PAYLOAD - 9);
    out_u8(o, (uint32_t)index);
    out_u32(o, total);
    out_u32(o, offset);
    out_bytes(o, buf + offset, n);
    return 0;
}

static int cmd_profile(tg_out_t *o, const uint8_t *p, size_t len, uint32_t *detail)
{
    int nl, first, count, k, max_count = (TG_PROTO_MAX_PAYLOAD - 6) / 8;
    if (len != 2 && len != 4) {
        *detail = 2;
        return TG_ERR_BAD_LENGTH;
    }
    if (len == 4 && rd16(p + 2) != 0 && rd16(p + 2) < max_count) /* optional: at most this many per page */
        max_count = rd16(p + 2);
    if (!g_have_output) {
        *detail = 0;
        return TG_ERR_BAD_STATE;
    }
    nl = num_layers();
    first = rd16(p);
    if (first > nl) {
        *detail = (uint32_t)nl;
        return TG_ERR_OUT_OF_RANGE;
    }
    count = clamp_count(nl - first, max_count);
    out_u16(o, (uint32_t)nl);
    out_u16(o, (uint32_t)first);
    out_u16(o, (uint32_t)count);
    for (k = first; k < first + count; k++)
        out_u64(o, tg_app_layer_cycles(k));
    return 0;
}

static int cmd_layer(tg_out_t *o, const uint8_t *p, size_t len, uint32_t *detail)
{
    int nl, k, bytes = 0;
    uint32_t offset, max_len, total, n;
    const int8_t *buf;
    if (len != 8) {
        *detail = 8;
        return TG_ERR_BAD_LENGTH;
    }
    if (!g_have_output) {
        *detail = 0;
        return TG_ERR_BAD_STATE;
    }
    k = rd16(p);
    offset = rd32(p + 2);
    max_len = rd16(p + 6);
    nl = num_layers();
    if (k >= nl) {
        *detail = (uint32_t)nl;
        return TG_ERR_OUT_OF_RANGE;
    }
    buf = tg_app_layer_output(k, &bytes);
    if (!buf || bytes < 0) {
        *detail = (uint32_t)k;
        return TG_ERR_UNAVAILABLE;
    }
    total = (uint32_t)bytes;
    if (offset > total) {
        *detail = total;
        return TG_ERR_OUT_OF_RANGE;
    }
    n = page_len(total, offset, max_len, TG_PROTO_MAX_PAYLOAD - 10);
    out_u16(o, (uint32_t)k);
    out_u32(o, total);
    out_u32(o, offset);
    out_bytes(o, buf + offset, n);
    return 0;
}

/* RESET_STATE: the model's state back to its reset values; ends the previous run (a layer re-run
 * after it would start from the state before that run, not from the reset one) */
static int cmd_reset_state(tg_out_t *o, size_t len, uint32_t *detail)
{
    if (len != 0) {
        *detail = 0;
        return TG_ERR_BAD_LENGTH;
    }
    invalidate_run();
    out_u32(o, (uint32_t)tg_app_reset_state());
    return 0;
}

static int cmd_set_baud(tg_out_t *o, const uint8_t *p, size_t len, uint32_t *detail)
{
    uint32_t baud;
    if (len != 4) {
        *detail = 4;
        return TG_ERR_BAD_LENGTH;
    }
    baud = rd32(p);
    if (!g_baud_fn || baud == 0 || g_baud_fn(baud, 0) != 0) {
        *detail = baud;
        return TG_ERR_UNAVAILABLE;
    }
    g_new_baud = baud;
    out_u32(o, baud);
    return 0;
}

void tg_proto_set_baud_hook(tg_proto_baud_fn fn) { g_baud_fn = fn; }

uint32_t tg_proto_new_baud(void) { return g_new_baud; }

static void reset_state(void)
{
    g_cur_input = -1;
    g_in_complete = 0;
    g_have_output = 0;
    memset(g_in_total, 0, sizeof g_in_total);
    memset(g_in_recv, 0, sizeof g_in_recv);
    memset(g_have, 0, sizeof g_have);
    g_unit = TG_PROTO_MIN_UNIT;
    g_cache_valid = 0;
}

/* ---------------------------------------------------------------- receiver */

static void rx_reset(void)
{
    g_rx_len = 0;
    g_block_left = 0;
    g_zero_pending = 0;
    g_in_frame = 0;
    g_overflow = 0;
}

static void rx_put(uint8_t b)
{
    if (g_rx_len >= sizeof g_rx) {
        g_overflow = 1;
        return;
    }
    g_rx[g_rx_len++] = b;
}

static int dispatch(void)
{
    uint16_t seq = rd16(g_rx + 1);
    uint8_t cmd = g_rx[3];
    size_t len = g_rx_len - TG_PROTO_HEADER_SIZE - TG_PROTO_CRC_SIZE;
    const uint8_t *p = g_rx + TG_PROTO_HEADER_SIZE;
    uint32_t crc = rd32(g_rx + g_rx_len - TG_PROTO_CRC_SIZE);
    uint32_t detail = 0;
    int err, evt = TG_PROTO_EVT_FRAME;
    tg_out_t o;

    if (g_cache_valid && seq == g_cache_seq && cmd == g_cache_cmd && crc == g_cache_crc) {
        g_stats.duplicates++;
        send_frame(g_tx, g_tx_len);
        if (cmd == TG_CMD_SET_BAUD && g_tx[3] == (uint8_t)(cmd | TG_PROTO_REPLY_FLAG))
            return TG_PROTO_EVT_BAUD;   /* the ack was lost: the host resends at the old rate */
        return cmd == TG_CMD_RESET ? TG_PROTO_EVT_RESET : TG_PROTO_EVT_FRAME;
    }
    g_cache_valid = 0;
    g_stats.frames_ok++;
    reply_begin(&o, g_tx, sizeof g_tx, seq, (uint8_t)(cmd | TG_PROTO_REPLY_FLAG));
    switch (cmd) {
    case TG_CMD_PING:
        out_bytes(&o, p, len);
        err = 0;
        break;
    case TG_CMD_INFO:
        err = cmd_info(&o, len, &detail);
        break;
    case TG_CMD_INFER_BEGIN:
        err = cmd_infer_begin(&o, p, len, &detail);
        break;
    case TG_CMD_INFER_CHUNK:
        err = cmd_infer_chunk(&o, p, len, &detail);
        break;
    case TG_CMD_INFER_RUN:
        err = cmd_infer_run(&o, p, len, &detail);
        break;
    case TG_CMD_OUTPUT_READ:
        err = cmd_output_read(&o, p, len, &detail);
        break;
    case TG_CMD_PROFILE:
        err = cmd_profile(&o, p, len, &detail);
        break;
    case TG_CMD_LAYER:
        err = cmd_layer(&o, p, len, &detail);
        break;
    case TG_CMD_RESET_STATE:
        err = cmd_reset_state(&o, len, &detail);
        break;
    case TG_CMD_SET_BAUD:
        err = cmd_set_baud(&o, p, len, &detail);
        if (!err)
            evt = TG_PROTO_EVT_BAUD;
        break;
    case TG_CMD_RESET:
        if (len != 0) {
            err = TG_ERR_BAD_LENGTH;
        } else {
            err = 0;
            reset_state();
            evt = TG_PROTO_EVT_RESET;
        }
        break;
    default:
        err = TG_ERR_UNKNOWN_CMD;
        break;
    }
    if (!err && o.overflow) { /* cannot happen with the sizes above; never send a truncated reply */
        err = TG_ERR_OVERFLOW;
        detail = 0;
    }
    if (err) {
        reply_begin(&o, g_tx, sizeof g_tx, seq, TG_CMD_ERROR);
        out_u8(&o, (uint32_t)err);
        out_u8(&o, cmd);
        out_u32(&o, detail);
        evt = TG_PROTO_EVT_FRAME;
    }
    g_tx_len = reply_end(&o);
    g_cache_valid = 1;
    g_cache_seq = seq;
    g_cache_cmd = cmd;
    g_cache_crc = crc;
    send_frame(g_tx, g_tx_len);
    return evt;
}

static int finish_frame(void)
{
    uint16_t seq = g_rx_len >= 3 ? rd16(g_rx + 1) : (uint16_t)TG_PROTO_SEQ_NONE;
    uint8_t cmd = g_rx_len >= 4 ? g_rx[3] : 0;
    uint32_t crc;
    if (g_overflow) {
        send_frame_error(seq, cmd, TG_ERR_OVERFLOW, TG_PROTO_MAX_FRAME);
        return TG_PROTO_EVT_FRAME;
    }
    if (g_block_left != 0 || g_rx_len < TG_PROTO_HEADER_SIZE + TG_PROTO_CRC_SIZE) {
        send_frame_error(seq, cmd, TG_ERR_BAD_FRAME, (uint32_t)g_rx_len);
        return TG_PROTO_EVT_FRAME;
    }
    crc = tg_proto_crc32(0, g_rx, g_rx_len - TG_PROTO_CRC_SIZE);
    if (crc != rd32(g_rx + g_rx_len - TG_PROTO_CRC_SIZE)) {
        send_frame_error(seq, cmd, TG_ERR_BAD_CRC, crc);
        return TG_PROTO_EVT_FRAME;
    }
    if (g_rx[0] != TG_PROTO_MAGIC) {
        send_frame_error(seq, cmd, TG_ERR_BAD_VERSION, TG_PROTO_VERSION);
        return TG_PROTO_EVT_FRAME;
    }
    if ((size_t)rd16(g_rx + 4) != g_rx_len - TG_PROTO_HEADER_SIZE - TG_PROTO_CRC_SIZE) {
        send_frame_error(seq, cmd, TG_ERR_BAD_LENGTH,
                         (uint32_t)(g_rx_len - TG_PROTO_HEADER_SIZE - TG_PROTO_CRC_SIZE));
        return TG_PROTO_EVT_FRAME;
    }
    if (cmd & TG_PROTO_REPLY_FLAG) { /* replies, BOOT and ERROR are never requests */
        send_frame_error(seq, cmd, TG_ERR_UNKNOWN_CMD, 0);
        return TG_PROTO_EVT_FRAME;
    }
    return dispatch();
}

int tg_proto_feed(uint8_t b)
{
    int evt;
    if (b == 0) {
        if (!g_in_frame)
            return TG_PROTO_EVT_NONE; /* empty frame: resynchronisation padding */
        evt = finish_frame();
        rx_reset();
        return evt;
    }
    g_in_frame = 1;
    if (g_overflow)
        return TG_PROTO_EVT_NONE; /* discard until the next delimiter */
    if (g_block_left == 0) { /* b is a COBS code byte */
        if (g_zero_pending)
            rx_put(0);
        g_block_left = (uint8_t)(b - 1);
        g_zero_pending = (uint8_t)(b != 0xFF);
    } else {
        rx_put(b);
        g_block_left--;
    }
    return TG_PROTO_EVT_NONE;
}

void tg_proto_init(tg_proto_write_fn write)
{
    g_write = write;
    memset(&g_stats, 0, sizeof g_stats);
    rx_reset();
    reset_state();
    g_tx_len = 0;
    send_boot();
}
