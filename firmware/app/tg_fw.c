/*
 * tinygen firmware application logic (see tg_fw.h): banner, self-test on a built-in
 * test vector, then the framed serial protocol over the model's tg_app.h interface.
 * C99, no malloc, no printf: output goes through tg_runtime.h's tg_puts & co.
 */
#include "tg_fw.h"

#include <string.h>

#include "tg_app.h"
#include "tg_fw_config.h"
#include "tg_proto.h"
#include "tg_runtime.h"

#ifndef TG_FW_OUTPUT_MAX_VALUES
#define TG_FW_OUTPUT_MAX_VALUES 4096
#endif

static int s_selftest_status = -1;

void tg_fw_test_vector(uint8_t *dst, size_t n, uint32_t seed)
{
    uint32_t x = seed;
    size_t i;
    for (i = 0; i < n; i++) {
        x = x * TG_FW_LCG_MUL + TG_FW_LCG_ADD;
        dst[i] = (uint8_t)(x >> 24);
    }
}

int tg_fw_selftest_status(void)
{
    return s_selftest_status;
}

static void put_str_field(const char *key, const char *value)
{
    tg_puts(",\"");
    tg_puts(key);
    tg_puts("\":\"");
    tg_puts(value);
    tg_putc('"');
}

static void put_u32_field(const char *key, uint32_t value)
{
    tg_puts(",\"");
    tg_puts(key);
    tg_puts("\":");
    tg_put_u32(value);
}

static void banner(void)
{
    const tg_app_model_info_t *info = tg_app_model_info();
    tg_puts("{\"tinygen\":\"");
    tg_puts(info->fw_version);
    tg_putc('"');
    put_str_field("model", info->model_name);
    tg_puts(",\"sha256\":\"");
    tg_put_hex_bytes(info->sha256, 8u);
    tg_putc('"');
    put_str_field("board", info->board_name);
    put_u32_field("clock_hz", info->clock_hz);
    tg_putc(',');
    tg_puts(TG_FW_IO_JSON);
    put_u32_field("arena_bytes", info->arena_bytes);
    put_u32_field("layers", (uint32_t)tg_app_num_layers());
#if !defined(TG_ARDUINO)
    put_u32_field("stack_bytes", (uint32_t)tg_stack_size());
#endif
    put_u32_field("protocol", TG_PROTO_VERSION);
    tg_puts("}\n");
}

static void put_output(int k)
{
    static const int dtypes[TG_FW_NUM_OUTPUTS] = TG_FW_OUTPUT_DTYPE_LIST;
    const int8_t *out = tg_app_output_buffer(k);
    int i, nbytes = tg_app_output_bytes(k), nvals = nbytes;

    tg_puts("{\"bytes\":");
    tg_put_u32((uint32_t)nbytes);
    tg_puts(",\"crc32\":\"");
    tg_put_hex32(tg_proto_crc32(0u, (const uint8_t *)out, (size_t)nbytes));
    tg_putc('"');
    if (dtypes[k] == TG_DTYPE_INT8) {
        if (nvals > TG_FW_OUTPUT_MAX_VALUES) {
            nvals = TG_FW_OUTPUT_MAX_VALUES;
            tg_puts(",\"truncated\":1");
        }
        tg_puts(",\"values\":[");
        for (i = 0; i < nvals; i++) {
            if (i > 0) {
                tg_putc(',');
            }
            tg_put_i32(out[i]);
        }
        tg_putc(']');
    } else if (nbytes <= 4 * TG_FW_OUTPUT_MAX_VALUES) {
        tg_puts(",\"hex\":\"");   /* raw little-endian bytes */
        tg_put_hex_bytes((const uint8_t *)out, (size_t)nbytes);
        tg_putc('"');
    }
    tg_putc('}');
}

/* Input k of the self-test (see TG_FW_TEST_SEED in tg_fw_config.h). */
static void fill_input(int k)
{
    static const int dtypes[TG_FW_NUM_INPUTS] = TG_FW_INPUT_DTYPE_LIST;
    static const float scales[TG_FW_NUM_INPUTS] = TG_FW_INPUT_TEST_SCALE_LIST;
    static const int32_t zps[TG_FW_NUM_INPUTS] = TG_FW_INPUT_TEST_ZP_LIST;
    uint8_t *buf = (uint8_t *)tg_app_input_buffer(k);
    size_t i, n = (size_t)tg_app_input_bytes(k);
    uint32_t x = TG_FW_TEST_SEED + (uint32_t)k;

    if (dtypes[k] == TG_DTYPE_FLOAT32) {
        for (i = 0; i + 4u <= n; i += 4u) {
            float f;
            x = x * TG_FW_LCG_MUL + TG_FW_LCG_ADD;
            f = (float)((int32_t)(int8_t)(uint8_t)(x >> 24) - zps[k]) * scales[k];
            memcpy(&buf[i], &f, sizeof f);
        }
    } else {
        tg_fw_test_vector(buf, n, x);
    }
}

static void selftest(void)
{
    uint64_t cycles = 0u;
    int k, status;

    tg_puts("{\"selftest\":{\"seed\":");
    tg_put_u32(TG_FW_TEST_SEED);
    tg_puts(",\"inputs\":[");
    for (k = 0; k < tg_app_num_inputs(); k++) {
        fill_input(k);
        tg_puts(k > 0 ? ",{\"bytes\":" : "{\"bytes\":");
        tg_put_u32((uint32_t)tg_app_input_bytes(k));
        tg_puts(",\"crc32\":\"");
        tg_put_hex32(tg_proto_crc32(0u, (const uint8_t *)tg_app_input_buffer(k), (size_t)tg_app_input_bytes(k)));
        tg_puts("\"}");
    }
    tg_putc(']');
    status = tg_app_invoke(&cycles);
    s_selftest_status = status;
    tg_puts(",\"status\":");
    tg_put_i32(status);
    tg_puts(",\"cycles\":");
    tg_put_u64(cycles);
    if (status == 0) {
        tg_puts(",\"outputs\":[");
        for (k = 0; k < tg_app_num_outputs(); k++) {
            if (k > 0) {
                tg_putc(',');
            }
            put_output(k);
        }
        tg_putc(']');
    }
#if !defined(TG_ARDUINO)
    put_u32_field("stack_used", (uint32_t)tg_stack_used());
#endif
    tg_puts("}}\n");
}

static void proto_write(const uint8_t *data, size_t len)
{
    if (len == 0u) {
        tg_fw_platform_flush();
        return;
    }
    tg_uart_write(data, len);
}

/* ---- link speed (SET_BAUD): keep the new rate only once a good frame arrives at it ---- */
#ifndef TG_UART_BAUD
#define TG_UART_BAUD 115200u
#endif

__attribute__((weak)) int tg_uart_set_baud(uint32_t baud, int apply)
{
    (void)baud;
    (void)apply;
    return -1;       /* this port cannot change its rate (or it does not matter: USB CDC) */
}

static uint8_t s_baud_probing;       /* switched; no good frame at the new rate yet */
static uint64_t s_baud_deadline;     /* tg_cycles() by which one must arrive (about 1 s) */
static uint32_t s_baud_ok0, s_baud_bad0;

static void baud_switch(void)
{
    const tg_proto_stats_t *st = tg_proto_stats();
    tg_fw_platform_flush();           /* the acknowledgement leaves at the old rate */
    if (tg_uart_set_baud(tg_proto_new_baud(), 1) != 0) {
        return;
    }
    s_baud_ok0 = st->frames_ok;
    s_baud_bad0 = st->frames_bad;
    s_baud_deadline = tg_cycles() + (uint64_t)tg_clock_hz;
    s_baud_probing = 1u;
}

static void baud_check(void)
{
    const tg_proto_stats_t *st = tg_proto_stats();
    if (!s_baud_probing) {
        return;
    }
    if (st->frames_ok != s_baud_ok0) {
        s_baud_probing = 0u;          /* the host's probe came through: keep the rate */
    } else if (st->frames_bad != s_baud_bad0 || tg_cycles() > s_baud_deadline) {
        tg_uart_set_baud(TG_UART_BAUD, 1);   /* a damaged frame, or nothing: back to the default */
        s_baud_probing = 0u;
    }
}

void tg_fw_start(void)
{
    banner();
#if !defined(TG_FW_NO_SELFTEST)
    selftest();
#endif
    tg_fw_platform_flush();
#if defined(TG_FW_EXIT_AFTER_SELFTEST)
    tg_exit(s_selftest_status == 0 ? 0 : 1);
#endif
    tg_proto_set_baud_hook(tg_uart_set_baud);
    tg_proto_init(proto_write);
}

void tg_fw_poll(void)
{
    uint8_t byte;
    int evt;
    while (tg_uart_read(&byte)) {
        evt = tg_proto_feed(byte);
        if (evt == TG_PROTO_EVT_RESET) {
            tg_fw_platform_flush();
#if defined(TG_FW_EXIT_ON_RESET)
            tg_exit(0);
#else
            tg_fw_platform_reset();
#endif
        } else if (evt == TG_PROTO_EVT_BAUD) {
            baud_switch();
        }
    }
    baud_check();
}
