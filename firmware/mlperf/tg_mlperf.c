/*
 * MLPerf Tiny / EEMBC ULPMark-ML device-under-test (DUT) firmware for a tinygen model.
 *
 * Written by tinygen from the public description of the protocol (mlcommons/tiny,
 * benchmark/api): text commands end with '%', every reply ends with "m-ready\r\n".
 *
 *   name                 m-name-dut-[tinygen BOARD]
 *   profile              m-profile-[ULPMark for tinyML Firmware V0.0.1] and m-model-[ID]
 *   help                 the command list
 *   timestamp            m-lap-us-T (performance mode) / a GPIO pulse (energy mode)
 *   db load N            start loading N bytes (N <= the benchmark's input size): m-[Expecting N bytes]
 *   db HEX...            append bytes given as hex digit pairs; m-load-done when N bytes are in
 *   db print [N [OFF]]   m-buffer-xx-xx-... (8 bytes per line) of N bytes (16) at OFF (0)
 *   infer [N [W]]        W warm-ups (default 10), then N timed inferences between two
 *                        timestamps, then the results line
 *   results              m-results-[f,f,...]: the last inference's result, 3 decimals
 * tinygen additions (the runners never send them):
 *   cycles               m-cycles-[C]: board cycles of the last infer's N timed inferences
 *   output [K]           m-output-[K]-[hex]: output tensor K's raw bytes after the last inference
 *
 * Anything wrong (unknown command, a load larger than the input, bad hex, a command
 * longer than TG_ML_CMD_MAX, infer before the input is complete...) is answered with one
 * "e-[...]" line followed by m-ready, and the DUT keeps serving.
 *
 * Input bytes are interpreted per benchmark (TG_ML_INPUT_KIND, from tg_mlperf_config.h):
 *   TG_ML_IN_RAW      the input tensors' bytes as sent (kws01: int8 features; a user ID)
 *   TG_ML_IN_U8       uint8 pixels, minus 128 into the int8 input (ic01, vww01)
 *   TG_ML_IN_F32      float32 values, quantized with the input's scale and zero point
 *                     (ad01; a float32 model input takes them as they are)
 * and the result per benchmark (TG_ML_RESULT_KIND):
 *   TG_ML_RES_OUTPUTS the dequantized values of every output, in order
 *   TG_ML_RES_MSE     ad01: mean squared difference between the dequantized output and
 *                     the float32 input (the anomaly score)
 *
 * The microsecond timer is the board clock (tg_cycles()): core cycles / MHz on real
 * boards; on QEMU boards (-icount shift=0) the virtual clock, one instruction per ns.
 * Energy mode (-DTG_ML_ENERGY_MODE=1, real boards): timestamps are a low pulse on the
 * board's timestamp pin (tg_mlperf_timestamp_pin, see below), and no m-lap-us lines.
 *
 * C99, no malloc, no printf (newlib-nano has no float formatting): own number output.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tg_fw.h"
#include "tg_mlperf_config.h"
#include "tg_port.h"
#include "tg_runtime.h"

#ifndef TG_ML_CMD_MAX
#define TG_ML_CMD_MAX 80
#endif
#ifndef TG_ML_ENERGY_MODE
#define TG_ML_ENERGY_MODE 0
#endif
#define TG_ML_DEFAULT_WARMUPS 10u
#define TG_ML_PROFILE "ULPMark for tinyML Firmware V0.0.1"

static char s_cmd[TG_ML_CMD_MAX + 1];
static size_t s_cmd_len;
static int s_cmd_overflow;

/* The db buffer: exactly the benchmark's input size. */
static uint8_t s_db[TG_ML_DB_BYTES];
static size_t s_db_expected;    /* N of the last db load (0: none) */
static size_t s_db_pos;         /* bytes loaded so far */
static int s_have_results;
static uint64_t s_last_cycles;

static const uint32_t s_out_bytes[TG_ML_NUM_OUTPUTS] = TG_ML_OUTPUT_BYTES_LIST;
static const uint8_t s_out_dtype[TG_ML_NUM_OUTPUTS] = TG_ML_OUTPUT_DTYPE_LIST;
static const float s_out_scale[TG_ML_NUM_OUTPUTS] = TG_ML_OUTPUT_SCALE_LIST;
static const int32_t s_out_zp[TG_ML_NUM_OUTPUTS] = TG_ML_OUTPUT_ZP_LIST;

/* ------------------------------------------------------------------ output helpers */

static void line(const char *s)
{
    tg_puts(s);
    tg_puts("\r\n");
}

static void error2(const char *a, const char *b)
{
    tg_puts("e-[");
    tg_puts(a);
    tg_puts(b);
    line("]");
}

static void error_u(const char *a, uint32_t v, const char *b)
{
    tg_puts("e-[");
    tg_puts(a);
    tg_put_u32(v);
    tg_puts(b);
    line("]");
}

/* printf("%.3f", v) for a float: the exact binary value, correctly rounded to 3 decimals
 * (ties to even, as glibc and Python do); "-0.000" for small negative values. */
static void put_f3(float v)
{
    double r;
    uint64_t n;
    double fl, frac;
    uint32_t milli, bits;
    if (v != v) {
        tg_puts("nan");
        return;
    }
    memcpy(&bits, &v, sizeof bits);
    if (bits >> 31) {
        tg_putc('-');
        v = -v;
    }
    if (v > 1.0e15f) {
        tg_puts("inf");
        return;
    }
    r = (double)v * 1000.0;          /* exact: 24-bit mantissa times 1000 fits 53 bits */
    n = (uint64_t)r;
    fl = (double)n;
    frac = r - fl;
    if (frac > 0.5 || (frac == 0.5 && (n & 1u))) {
        n++;
    }
    milli = (uint32_t)(n % 1000u);
    tg_put_u64(n / 1000u);
    tg_putc('.');
    tg_putc((char)('0' + milli / 100u));
    tg_putc((char)('0' + (milli / 10u) % 10u));
    tg_putc((char)('0' + milli % 10u));
}

/* ------------------------------------------------------------------ timer, timestamps */

#if !TG_ML_ENERGY_MODE
static uint64_t now_us(void)
{
#if defined(TG_QEMU)
    return tg_cycles() / 1000u;                      /* virtual ns under -icount shift=0 */
#else
    return tg_cycles() / (uint64_t)(TG_ML_CLOCK_HZ / 1000000u);
#endif
}
#endif

#if TG_ML_ENERGY_MODE
/* Energy mode: the runner's IO manager timestamps a falling edge on the DUT's timestamp
 * pin (open drain, pulled up): hold it low for well over 1 us, then release it. */
void tg_mlperf_timestamp_pin_init(void);
void tg_mlperf_timestamp_pin(int level);

static void timestamp(void)
{
    volatile uint32_t spin;
    tg_mlperf_timestamp_pin(0);
    for (spin = 0u; spin < 100000u; spin++) {
    }
    tg_mlperf_timestamp_pin(1);
}
#else
static void timestamp(void)
{
    tg_puts("m-lap-us-");
    tg_put_u64(now_us());
    tg_puts("\r\n");
}
#endif

/* ------------------------------------------------------------------ inference */

static int input_complete(void)
{
    return s_db_expected == TG_ML_DB_BYTES && s_db_pos == TG_ML_DB_BYTES;
}

#if TG_ML_INPUT_KIND == TG_ML_IN_F32
static float db_float(size_t i)
{
    float f;
    memcpy(&f, &s_db[i * 4u], 4u);
    return f;
}
#endif

#if TG_ML_INPUT_KIND == TG_ML_IN_F32 && TG_ML_INPUT0_DTYPE == 9
static int8_t quantize(float x)
{
    /* TFLite Micro's QuantizeFloatToInt8: round(x / scale) + zero point (half away from 0), clamped. */
    float q = x / TG_ML_INPUT0_SCALE;
    int32_t r;
    float back;
    if (!(q == q)) {
        q = 0.0f;                                    /* NaN */
    } else if (q > 1000.0f) {
        q = 1000.0f;                                 /* clamped below anyway */
    } else if (q < -1000.0f) {
        q = -1000.0f;
    }
    r = (int32_t)(q < 0.0f ? q - 0.5f : q + 0.5f);
    back = (float)r;
    /* (q +/- 0.5) truncated is round-half-away except when q + 0.5 rounds up in float:
     * fix with the exact comparison. */
    if (q >= 0.0f && back - q > 0.5f) {
        r--;
    } else if (q < 0.0f && q - back > 0.5f) {
        r++;
    }
    r += TG_ML_INPUT0_ZERO_POINT;
    if (r < -128) {
        r = -128;
    } else if (r > 127) {
        r = 127;
    }
    return (int8_t)r;
}
#endif


/* The db bytes, interpreted for the benchmark, into the model's input buffers. Done for
 * every inference: the arena is reused while the model runs. */
static void load_tensors(void)
{
#if TG_ML_INPUT_KIND == TG_ML_IN_RAW
    static const uint32_t s_in_bytes[TG_ML_NUM_INPUTS] = TG_ML_INPUT_BYTES_LIST;
    size_t off = 0u;
    int k;
    for (k = 0; k < TG_ML_NUM_INPUTS; k++) {
        memcpy(TG_ML_INPUT_BUFFER(k), &s_db[off], s_in_bytes[k]);
        off += s_in_bytes[k];
    }
#elif TG_ML_INPUT_KIND == TG_ML_IN_U8
    uint8_t *dst = (uint8_t *)TG_ML_INPUT_BUFFER(0);
    size_t i;
    for (i = 0; i < TG_ML_DB_BYTES; i++) {
        dst[i] = (uint8_t)(s_db[i] ^ 0x80u);          /* uint8 u -> int8 (u - 128) */
    }
#elif TG_ML_INPUT_KIND == TG_ML_IN_F32
#if TG_ML_INPUT0_DTYPE == 9
    int8_t *dst = (int8_t *)TG_ML_INPUT_BUFFER(0);
    size_t i;
    for (i = 0; i < TG_ML_DB_BYTES / 4u; i++) {
        dst[i] = quantize(db_float(i));
    }
#else
    memcpy(TG_ML_INPUT_BUFFER(0), s_db, TG_ML_DB_BYTES);   /* float32 model input */
#endif
#else
#error "unknown TG_ML_INPUT_KIND"
#endif
}

static int infer_once(void)
{
    load_tensors();
    return TG_ML_RUN();
}

static float output_value(int k, uint32_t i)
{
    const uint8_t *p = (const uint8_t *)TG_ML_OUTPUT_BUFFER(k);
    switch (s_out_dtype[k]) {
    case 0: {                                           /* float32 */
        float f;
        memcpy(&f, &p[i * 4u], 4u);
        return f;
    }
    case 9:                                             /* int8 */
        return (float)((int32_t)(int8_t)p[i] - s_out_zp[k]) * s_out_scale[k];
    case 3:                                             /* uint8 */
        return (float)((int32_t)p[i] - s_out_zp[k]) * s_out_scale[k];
    case 7: {                                           /* int16 */
        int16_t v;
        memcpy(&v, &p[i * 2u], 2u);
        return (float)((int32_t)v - s_out_zp[k]) * (s_out_scale[k] != 0.0f ? s_out_scale[k] : 1.0f);
    }
    case 2: {                                           /* int32 */
        int32_t v;
        memcpy(&v, &p[i * 4u], 4u);
        return (float)v;
    }
    default:
        return 0.0f;
    }
}

static uint32_t output_count(int k)
{
    switch (s_out_dtype[k]) {
    case 0:
    case 2:
        return s_out_bytes[k] / 4u;
    case 7:
        return s_out_bytes[k] / 2u;
    default:
        return s_out_bytes[k];
    }
}

#if TG_ML_RESULT_KIND == TG_ML_RES_MSE
/* Kept out of FMA contraction so the host can recompute it bit for bit. */
__attribute__((optimize("fp-contract=off")))
static float anomaly_score(void)
{
    uint32_t i, n = output_count(0);
    float sum = 0.0f;
    for (i = 0; i < n; i++) {
        float d = output_value(0, i) - db_float(i);
        float sq = d * d;
        sum = sum + sq;
    }
    return sum / (float)n;
}
#endif

static void results(void)
{
    tg_puts("m-results-[");
#if TG_ML_RESULT_KIND == TG_ML_RES_MSE
    put_f3(anomaly_score());
#else
    {
        int k, first = 1;
        for (k = 0; k < TG_ML_NUM_OUTPUTS; k++) {
            uint32_t i, n = output_count(k);
            for (i = 0; i < n; i++) {
                if (!first) {
                    tg_putc(',');
                }
                first = 0;
                put_f3(output_value(k, i));
            }
        }
    }
#endif
    line("]");
}

/* ------------------------------------------------------------------ parsing */

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Next whitespace-separated token of *p (NUL-terminated in place), NULL at the end. */
static char *token(char **p)
{
    char *s = *p, *t;
    while (*s != '\0' && is_space(*s)) {
        s++;
    }
    if (*s == '\0') {
        *p = s;
        return NULL;
    }
    t = s;
    while (*s != '\0' && !is_space(*s)) {
        s++;
    }
    if (*s != '\0') {
        *s++ = '\0';
    }
    *p = s;
    return t;
}

/* Decimal unsigned number (at most 9 digits); -1 when it is not one. */
static int32_t number(const char *s)
{
    int32_t v = 0;
    int n = 0;
    if (s == NULL || *s == '\0') {
        return -1;
    }
    for (; *s != '\0'; s++, n++) {
        if (*s < '0' || *s > '9' || n >= 9) {
            return -1;
        }
        v = v * 10 + (*s - '0');
    }
    return v;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static void cmd_db_load(char *arg)
{
    int32_t n = number(arg);
    if (arg == NULL) {
        error2("Command 'db load' requires the # of bytes", "");
    } else if (n <= 0) {
        error2("Command 'db load' needs a byte count > 0, got ", arg);
    } else if ((uint32_t)n > TG_ML_DB_BYTES) {
        error_u("db load ", (uint32_t)n, " exceeds the input size of " TG_ML_DB_BYTES_STR " bytes");
    } else {
        s_db_expected = (size_t)n;
        s_db_pos = 0u;
        tg_puts("m-[Expecting ");
        tg_put_u32((uint32_t)n);
        line(" bytes]");
    }
}

static void cmd_db_data(const char *hex)
{
    size_t len = strlen(hex), i, nbytes;
    char bad[3];
    if (s_db_expected == 0u) {
        error2("db: no load in progress (send db load N first)", "");
        return;
    }
    if (len & 1u) {
        error2("Insufficent number of hex digits", "");     /* the reference DUT's wording */
        return;
    }
    for (i = 0; i < len; i++) {
        if (hex_digit(hex[i]) < 0) {
            bad[0] = hex[i & ~(size_t)1u];
            bad[1] = hex[i | 1u];
            bad[2] = '\0';
            error2("Invalid hex digit ", bad);
            return;
        }
    }
    nbytes = len / 2u;
    if (s_db_pos >= s_db_expected) {
        error_u("db: all ", (uint32_t)s_db_expected, " bytes already loaded (send db load N to start again)");
        return;
    }
    if (nbytes > s_db_expected - s_db_pos) {
        nbytes = s_db_expected - s_db_pos;               /* the rest is disregarded, as the reference does */
    }
    for (i = 0; i < nbytes; i++) {
        s_db[s_db_pos + i] = (uint8_t)((hex_digit(hex[2u * i]) << 4) | hex_digit(hex[2u * i + 1u]));
    }
    s_db_pos += nbytes;
    if (s_db_pos == s_db_expected) {
        line("m-load-done");
    }
}

static void cmd_db_print(char *a, char *b)
{
    int32_t n = a ? number(a) : 16, off = b ? number(b) : 0;
    int32_t i, end;
    if (n < 0 || off < 0) {
        error2("db print [N=16] [offset=0]: N and offset are decimal numbers", "");
        return;
    }
    if ((uint32_t)off > s_db_pos || (off == 0 && s_db_pos == 0u && n > 0)) {
        error_u("db print: offset beyond the ", (uint32_t)s_db_pos, " bytes loaded");
        return;
    }
    end = off + n;
    if ((uint32_t)end > s_db_pos) {
        end = (int32_t)s_db_pos;
    }
    for (i = off; i < end; i++) {
        if ((i - off) % 8 == 0) {
            tg_puts("m-buffer-");
        }
        tg_put_hex8(s_db[i]);
        if ((i - off) % 8 == 7 || i + 1 == end) {
            tg_puts("\r\n");
        } else {
            tg_putc('-');
        }
    }
}

static void cmd_infer(char *a, char *b)
{
    int32_t n = 1, w = (int32_t)TG_ML_DEFAULT_WARMUPS;
    int32_t i;
    int rc = 0;
    uint64_t t0, t1;
    if (a != NULL) {
        n = number(a);
        if (n <= 0) {
            error2("Inference iterations must be >0, got ", a);
            return;
        }
    }
    if (b != NULL) {
        w = number(b);
        if (w < 0) {
            error2("Inference warmup must be >=0, got ", b);
            return;
        }
    }
    if (!input_complete()) {
        error_u("infer: the input is incomplete: ", (uint32_t)s_db_pos,
                " of " TG_ML_DB_BYTES_STR " bytes loaded (db load " TG_ML_DB_BYTES_STR ", then db HEX...)");
        return;
    }
    tg_puts("m-warmup-start-");
    tg_put_u32((uint32_t)w);
    tg_puts("\r\n");
    for (i = 0; i < w && rc == 0; i++) {
        rc = infer_once();
    }
    line("m-warmup-done");
    tg_puts("m-infer-start-");
    tg_put_u32((uint32_t)n);
    tg_puts("\r\n");
    timestamp();
    t0 = tg_cycles();
    for (i = 0; i < n && rc == 0; i++) {
        rc = infer_once();
    }
    t1 = tg_cycles();
    timestamp();
    line("m-infer-done");
    if (rc != 0) {
        s_have_results = 0;
        error_u("infer: the model failed with status ", (uint32_t)rc, "");
        return;
    }
    s_last_cycles = t1 - t0;
    s_have_results = 1;
    results();
}

static void cmd_output(char *a)
{
    int32_t k = a ? number(a) : 0;
    if (k < 0 || k >= TG_ML_NUM_OUTPUTS) {
        error_u("output K: K is 0 .. ", (uint32_t)(TG_ML_NUM_OUTPUTS - 1), "");
        return;
    }
    if (!s_have_results) {
        error2("output: no inference yet", "");
        return;
    }
    tg_puts("m-output-[");
    tg_put_u32((uint32_t)k);
    tg_puts("]-[");
    tg_put_hex_bytes((const uint8_t *)TG_ML_OUTPUT_BUFFER(k), s_out_bytes[k]);
    line("]");
}

static void cmd_help(void)
{
    line(TG_ML_PROFILE);
    line("");
    line("help         : Print this information");
    line("name         : Print the name of the device");
    line("timestamp    : Generate a timestamp");
    line("db SUBCMD    : Manipulate a generic byte buffer");
    line("  load N     : Allocate N bytes and set load counter");
    line("  db HH[HH]* : Load 8-bit hex byte(s) until N bytes");
    line("  print [N=16] [offset=0]");
    line("             : Print N bytes at offset as hex");
    line("infer N [W=10]: Load input, execute N inferences after W warmup loops");
    line("results      : Return the result fp32 vector");
    line("cycles       : (tinygen) board cycles of the last timed inferences");
    line("output [K=0] : (tinygen) raw bytes of output K after the last inference");
}

static void dispatch(char *cmd)
{
    char *p = cmd;
    char *tok = token(&p);
    if (tok == NULL) {
        error2("Empty command", "");
    } else if (strcmp(tok, "name") == 0) {
        line("m-name-dut-[tinygen " TG_ML_BOARD_ID "]");
    } else if (strcmp(tok, "profile") == 0) {
        line("m-profile-[" TG_ML_PROFILE "]");
        line("m-model-[" TG_ML_MODEL_ID "]");
    } else if (strcmp(tok, "help") == 0) {
        cmd_help();
    } else if (strcmp(tok, "timestamp") == 0) {
        timestamp();
    } else if (strcmp(tok, "db") == 0) {
        char *sub = token(&p);
        if (sub == NULL) {
            error2("Command 'db' requires a subcommand", "");
        } else if (strcmp(sub, "load") == 0) {
            cmd_db_load(token(&p));
        } else if (strcmp(sub, "print") == 0) {
            char *a = token(&p);
            cmd_db_print(a, token(&p));
        } else {
            cmd_db_data(sub);
        }
    } else if (strcmp(tok, "infer") == 0) {
        char *a = token(&p);
        cmd_infer(a, token(&p));
    } else if (strcmp(tok, "results") == 0) {
        if (s_have_results) {
            results();
        } else {
            error2("results: no inference yet", "");
        }
    } else if (strcmp(tok, "cycles") == 0) {
        tg_puts("m-cycles-[");
        tg_put_u64(s_last_cycles);
        line("]");
    } else if (strcmp(tok, "output") == 0) {
        cmd_output(token(&p));
    } else {
        error2("Unknown command: ", tok);
    }
    line("m-ready");
}

/* ------------------------------------------------------------------ main loop (tg_fw.h) */

void tg_fw_start(void)
{
#if TG_ML_ENERGY_MODE
    tg_mlperf_timestamp_pin_init();
    line("m-timestamp-mode-energy");
#else
    line("m-timestamp-mode-performance");
#endif
    timestamp();
    line("m-init-done");
    line("m-ready");
}

void tg_fw_poll(void)
{
    uint8_t c;
    while (tg_uart_read(&c)) {
        if (c == '%') {
            if (s_cmd_overflow) {
                error_u("Command too long (at most ", TG_ML_CMD_MAX, " characters)");
                line("m-ready");
            } else {
                s_cmd[s_cmd_len] = '\0';
                dispatch(s_cmd);
            }
            s_cmd_len = 0u;
            s_cmd_overflow = 0;
        } else if (s_cmd_len < TG_ML_CMD_MAX) {
            /* Control bytes and non-ASCII become spaces: garbage cannot hide a command. */
            s_cmd[s_cmd_len++] = (c >= 0x20u && c < 0x7Fu) ? (char)c : ' ';
        } else {
            s_cmd_overflow = 1;
        }
    }
}

/* tg_fw.h's other entry points (not used by the MLPerf firmware). */
int tg_fw_selftest_status(void)
{
    return -1;
}

void tg_fw_test_vector(uint8_t *dst, size_t n, uint32_t seed)
{
    uint32_t x = seed;
    size_t i;
    for (i = 0; i < n; i++) {
        x = x * TG_FW_LCG_MUL + TG_FW_LCG_ADD;
        dst[i] = (uint8_t)(x >> 24);
    }
}
