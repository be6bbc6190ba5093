/*
 * AVERAGE_POOL_2D and MAX_POOL_2D, int8 and int16 (TFLM reference_integer_ops::AveragePool /
 * MaxPool): only window taps inside the input count; the average rounds half away from zero with
 * C's truncating division by the number of taps inside (int32 sum); the result is clamped to the
 * fused activation range (input and output share their quantization). One body per op, instantiated
 * for int8_t and int16_t.
 */
#include "tg_kernels.h"
#include "tg_requant.h"

static int32_t tg_max_i32(int32_t a, int32_t b) { return a > b ? a : b; }
static int32_t tg_min_i32(int32_t a, int32_t b) { return a < b ? a : b; }

/* the average: half away from zero, C's truncating division by the taps inside (none: 0) */
static int32_t tg_pool_avg(int32_t acc, int32_t count)
{
    if (count <= 0) {
        return 0;
    }
    return acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
}

static int32_t tg_pool_max(int32_t m, int32_t count)
{
    (void)count;
    return m;
}

static int32_t tg_add_i32(int32_t a, int32_t b) { return a + b; }

/* One pooling body: ACC starts at INIT, takes each tap inside the window as ACC = STEP(ACC, tap), and the
 * output is FINISH(ACC, taps inside), clamped to the activation range. */
#define TG_POOL(NAME, T, INIT, STEP, FINISH)                                                                  \
    static void NAME(const tg_pool_params_t *p, const T *input, T *output)                                          \
    {                                                                                                         \
        const int32_t c_n = p->channels;                                                                      \
        int32_t b, oy, ox, c, ky, kx;                                                                         \
        for (b = 0; b < p->batches; b++) {                                                                    \
            const T *in_b = input + (size_t)b * p->in_h * p->in_w * c_n;                                      \
            for (oy = 0; oy < p->out_h; oy++) {                                                               \
                const int32_t y0 = oy * p->stride_h - p->pad_top;                                             \
                const int32_t ky0 = tg_max_i32(0, -y0);                                                       \
                const int32_t ky1 = tg_min_i32(p->k_h, p->in_h - y0);                                         \
                for (ox = 0; ox < p->out_w; ox++) {                                                           \
                    const int32_t x0 = ox * p->stride_w - p->pad_left;                                        \
                    const int32_t kx0 = tg_max_i32(0, -x0);                                                   \
                    const int32_t kx1 = tg_min_i32(p->k_w, p->in_w - x0);                                     \
                    const int32_t count = (ky1 - ky0) * (kx1 - kx0);                                          \
                    for (c = 0; c < c_n; c++) {                                                               \
                        int32_t acc = (INIT);                                                                 \
                        for (ky = ky0; ky < ky1; ky++) {                                                      \
                            const T *row = in_b + ((size_t)(y0 + ky) * p->in_w + (size_t)(x0 + kx0)) * c_n + c; \
                            for (kx = kx0; kx < kx1; kx++, row += c_n) {                                      \
                                acc = STEP(acc, *row);                                                        \
                            }                                                                                 \
                        }                                                                                     \
                        *output++ = (T)tg_clamp(FINISH(acc, count), p->act_min, p->act_max);                  \
                    }                                                                                         \
                }                                                                                             \
            }                                                                                                 \
        }                                                                                                     \
    }

#if !TG_DSP
TG_POOL(tg_avgpool_c_s8, int8_t, 0, tg_add_i32, tg_pool_avg)
TG_POOL(tg_maxpool_c_s8, int8_t, -128, tg_max_i32, tg_pool_max)
#endif
TG_POOL(tg_avgpool_c_s16, int16_t, 0, tg_add_i32, tg_pool_avg)
TG_POOL(tg_maxpool_c_s16, int16_t, -32768, tg_max_i32, tg_pool_max)

#if TG_DSP
/*
 * Cortex-M DSP variants of the int8 pools: 4 channels per 32-bit word, the window walked per group of 4
 * channels with the running result in registers, no per-tap bounds checks (the valid window is clipped once
 * per output pixel); a window that covers whole input rows is walked as one run of taps.
 *
 * Average: SXTAB16 adds lanes 0/2 and 1/3 of each tap word to two int16-pair accumulators (|sum| <=
 * 128 * n fits int16 for n <= 128 taps). The rounded division of TFLM, (sum + n/2) / n for sum > 0 and
 * (sum - n/2) / n otherwise, truncating, equals floor((sum + 128 n + c) / n) - 128 with c = n/2 for
 * sum >= 0 and c = n - 1 - n/2 for sum < 0 (the floor of a shifted, non-negative numerator N; c is one less
 * for a negative sum when n is even, the same when n is odd): AND takes each int16 lane's sign bit where n
 * is even, SSUB16 subtracts it from 128 n + n/2, SADD16 adds the sum (0 <= N <= 255 n + n/2 < 2^15 for
 * n <= 128), and SMULWB / SMULWT by m = ceil(2^24 / n) give floor(N m / 2^16) = 2^8 floor(N / n) + fraction, exact
 * because N (m n - 2^24) < 2^24 for every N in range and n <= 128 (tests/test_mcu_pools.py checks every
 * (n, sum) exhaustively). The quotients land in bits 8-15 of each product: two PKHBT, one UXTB16 ror 8,
 * one AND and one ORR pack the 4 lanes, EOR 0x80808080 takes the 128 back off. Pixels with more than 128
 * taps take the C99 loop.
 *
 * The last channels % 4 are one more group of 4 overlapping the previous one (its outputs written twice, with
 * the same values); only layers of 1-3 channels take the C99 loop.
 *
 * Max: SSUB8 + SEL per tap word: 4 lane maxima in 2 instructions. Both clamp to the activation range with
 * SSUB8 + SEL (skipped when the range is the whole int8 range).
 */

/* one pixel, channels [c0, c1), the C99 way (int32 sums, the division of tg_pool_avg) */
static void tg_avgpool_px_c(const int8_t *base, int32_t rows, int32_t cols, int32_t row_step, int32_t c_n,
                            int32_t c0, int32_t c1, const tg_pool_params_t *p, int8_t *out)
{
    int32_t c, r, k;
    for (c = c0; c < c1; c++) {
        int32_t acc = 0;
        const int8_t *row = base + c;
        for (r = 0; r < rows; r++, row += row_step) {
            for (k = 0; k < cols; k++) {
                acc += row[(size_t)k * c_n];
            }
        }
        out[c] = (int8_t)tg_clamp(tg_pool_avg(acc, rows * cols), p->act_min, p->act_max);
    }
}

static void tg_maxpool_px_c(const int8_t *base, int32_t rows, int32_t cols, int32_t row_step, int32_t c_n,
                            int32_t c0, int32_t c1, const tg_pool_params_t *p, int8_t *out)
{
    int32_t c, r, k;
    for (c = c0; c < c1; c++) {
        int32_t m = -128;
        const int8_t *row = base + c;
        for (r = 0; r < rows; r++, row += row_step) {
            for (k = 0; k < cols; k++) {
                m = tg_max_i32(m, row[(size_t)k * c_n]);
            }
        }
        out[c] = (int8_t)tg_clamp(m, p->act_min, p->act_max);
    }
}

/* per int8 lane: max(v, lo4) then min(., hi4), GE flags set and read in one asm statement */
TG_INLINE uint32_t tg_pool_clamp4(uint32_t v, uint32_t lo4, uint32_t hi4)
{
    uint32_t t;
    __asm__("ssub8  %[t], %[v], %[lo]\n\t"
            "sel    %[v], %[v], %[lo]\n\t"
            "ssub8  %[t], %[v], %[hi]\n\t"
            "sel    %[v], %[hi], %[v]"
            : [v] "+r"(v), [t] "=&r"(t)
            : [lo] "r"(lo4), [hi] "r"(hi4)
            : "cc");
    return v;
}

/* A window of ROWS rows (in/out, >= 1) of COLS taps (>= 1) from T: taps C_N bytes apart, rows SKIP bytes apart
 * after a row's last tap + C_N; two taps per step, then the odd one. W0, W1 scratch; T, K and R clobbered;
 * STEP2 / STEP1: the operation on taps W0 and W1 / on W0. */
#define TG_POOL_WINDOW_ASM(STEP2, STEP1)                                  \
    "0:\n\t"                                                              \
    "subs   %[k], %[cols], #2\n\t"                                        \
    "blt    2f\n"                                                         \
    "1:\n\t"                                                              \
    "ldr    %[w0], [%[t]]\n\t"                                            \
    "ldr    %[w1], [%[t], %[cn]]\n\t"                                     \
    "add    %[t], %[t], %[cn], lsl #1\n\t"                                \
    "subs   %[k], %[k], #2\n\t"                                           \
    STEP2                                                                 \
    "bge    1b\n"                                                         \
    "2:\n\t"                                                              \
    "lsls   %[k], %[k], #31\n\t"                                          \
    "beq    3f\n\t"                                                       \
    "ldr    %[w0], [%[t]]\n\t"                                            \
    "add    %[t], %[t], %[cn]\n\t"                                        \
    STEP1                                                                 \
    "3:\n\t"                                                              \
    "add    %[t], %[t], %[skip]\n\t"                                      \
    "subs   %[r], %[r], #1\n\t"                                           \
    "bgt    0b\n\t"

/* int16-pair sums of lanes 0/2 (returned in *a02) and 1/3 (*a13) over a window of taps, from zero */
TG_INLINE void tg_pool_sum_window(uint32_t *a02, uint32_t *a13, const int8_t *t, int32_t rows, int32_t cols,
                                  int32_t c_n, int32_t skip)
{
    uint32_t a = 0, b = 0, w0, w1;
    int32_t k, r = rows;
    __asm__(TG_POOL_WINDOW_ASM("sxtab16 %[a], %[a], %[w0]\n\t"
                               "sxtab16 %[b], %[b], %[w0], ror #8\n\t"
                               "sxtab16 %[a], %[a], %[w1]\n\t"
                               "sxtab16 %[b], %[b], %[w1], ror #8\n\t",
                               "sxtab16 %[a], %[a], %[w0]\n\t"
                               "sxtab16 %[b], %[b], %[w0], ror #8\n\t")
            : [a] "+&r"(a), [b] "+&r"(b), [t] "+&r"(t), [k] "=&r"(k), [r] "+&r"(r), [w0] "=&r"(w0), [w1] "=&r"(w1)
            : [cols] "r"(cols), [cn] "r"(c_n), [skip] "r"(skip)
            : "cc");
    *a02 = a;
    *a13 = b;
}

/* per int8 lane maximum over a window of taps, from -128 */
TG_INLINE uint32_t tg_pool_max_window(const int8_t *t, int32_t rows, int32_t cols, int32_t c_n, int32_t skip)
{
    uint32_t m = 0x80808080u, w0, w1, x;
    int32_t k, r = rows;
    __asm__(TG_POOL_WINDOW_ASM("ssub8  %[x], %[w0], %[m]\n\t"
                               "sel    %[m], %[w0], %[m]\n\t"
                               "ssub8  %[x], %[w1], %[m]\n\t"
                               "sel    %[m], %[w1], %[m]\n\t",
                               "ssub8  %[x], %[w0], %[m]\n\t"
                               "sel    %[m], %[w0], %[m]\n\t")
            : [m] "+&r"(m), [t] "+&r"(t), [k] "=&r"(k), [r] "+&r"(r), [w0] "=&r"(w0), [w1] "=&r"(w1), [x] "=&r"(x)
            : [cols] "r"(cols), [cn] "r"(c_n), [skip] "r"(skip)
            : "cc");
    return m;
}

/* The per-pixel constants of the DSP average (see above). */
typedef struct {
    int32_t rows, cols, c_n, skip; /* skip: from after a row's last tap to the next row's first */
    uint32_t m;     /* ceil(2^24 / n) */
    uint32_t cpos;  /* 128 n + n/2 in both int16 lanes */
    uint32_t emask; /* n even: 0x00010001 (negative sums take 1 less), n odd: 0 */
    uint32_t lo4, hi4;
    int32_t clamp;
} tg_avg_px_t;

/* the sums of lanes 0/2 (a02) and 1/3 (a13) -> 4 int8 averages in one word (see above): per int16 lane
 * N = sum + 128 n + n/2 - [sum < 0 and n even], floor(N m / 2^16) = 2^8 floor(N / n) + fraction */
TG_INLINE uint32_t tg_pool_avg4(uint32_t a02, uint32_t a13, uint32_t m, uint32_t cpos, uint32_t emask)
{
    uint32_t t0, t1;
    __asm__("and     %[t0], %[e], %[a], lsr #15\n\t"
            "and     %[t1], %[e], %[b], lsr #15\n\t"
            "ssub16  %[t0], %[c], %[t0]\n\t"
            "ssub16  %[t1], %[c], %[t1]\n\t"
            "sadd16  %[a], %[a], %[t0]\n\t"
            "sadd16  %[b], %[b], %[t1]\n\t"
            "smulwb  %[t0], %[m], %[a]\n\t"
            "smulwt  %[a], %[m], %[a]\n\t"
            "smulwb  %[t1], %[m], %[b]\n\t"
            "smulwt  %[b], %[m], %[b]\n\t"
            "pkhbt   %[t0], %[t0], %[a], lsl #16\n\t"
            "pkhbt   %[t1], %[t1], %[b], lsl #16\n\t"
            "uxtb16  %[t0], %[t0], ror #8\n\t"
            "and     %[t1], %[t1], #0xff00ff00\n\t"
            "orr     %[t0], %[t0], %[t1]\n\t"
            "eor     %[t0], %[t0], #0x80808080"
            : [a] "+&r"(a02), [b] "+&r"(a13), [t0] "=&r"(t0), [t1] "=&r"(t1)
            : [m] "r"(m), [c] "r"(cpos), [e] "r"(emask));
    return t0;
}

#if defined(__GNUC__) || defined(__clang__)
#define TG_POOL_NOINLINE __attribute__((noinline)) /* its own register allocation: no spills in the loop */
#else
#define TG_POOL_NOINLINE
#endif

/* one output pixel, channel groups of 4 from base to base + 4 * groups (groups >= 1) */
TG_POOL_NOINLINE static void tg_avgpool_px_dsp(const int8_t *base, int8_t *out, int32_t groups, const tg_avg_px_t *px)
{
    const int32_t rows = px->rows, cols = px->cols, c_n = px->c_n, skip = px->skip;
    do {
        uint32_t a02, a13, v;
        tg_pool_sum_window(&a02, &a13, base, rows, cols, c_n, skip);
        v = tg_pool_avg4(a02, a13, px->m, px->cpos, px->emask);
        if (px->clamp) {
            v = tg_pool_clamp4(v, px->lo4, px->hi4);
        }
        tg_st32(out, v);
        base += 4;
        out += 4;
    } while (--groups > 0);
}

/* The window of output pixel (oy, ox) clipped to the input: its first tap, rows and columns. */
#define TG_POOL_WINDOW()                                                                                      \
    const int32_t x0 = ox * p->stride_w - p->pad_left;                                                        \
    const int32_t kx0 = tg_max_i32(0, -x0);                                                                   \
    const int32_t cols0 = tg_min_i32(p->k_w, p->in_w - x0) - kx0;                                             \
    const int8_t *base = in_b + ((size_t)(y0 + ky0) * p->in_w + (size_t)(x0 + kx0)) * c_n;                   \
    int32_t rows = rows0, cols = cols0;                                                                       \
    if (cols * c_n == row_step) { /* whole input rows: one run of taps */                                     \
        cols *= rows;                                                                                         \
        rows = 1;                                                                                             \
    }

/* with_c: windows of more than 128 taps, empty windows or fewer than 4 channels may occur (C for those);
 * 0 (tg_avgpool4_s8: the generator proved none does) links no C per-pixel code. */
TG_INLINE void tg_avgpool_dsp_body(const tg_pool_params_t *p, const int8_t *input, int8_t *output, int with_c)
{
    const int32_t c_n = p->channels;
    const int32_t c4 = c_n & ~3;
    const int32_t row_step = p->in_w * c_n;
    int32_t last_n = -1;
    tg_avg_px_t px;
    int32_t b, oy, ox;
    px.c_n = c_n;
    px.clamp = p->act_min > -128 || p->act_max < 127;
    px.lo4 = tg_splat4(p->act_min);
    px.hi4 = tg_splat4(p->act_max);
    px.m = px.cpos = px.emask = 0;
    for (b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + (size_t)b * p->in_h * row_step;
        for (oy = 0; oy < p->out_h; oy++) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            const int32_t ky0 = tg_max_i32(0, -y0);
            const int32_t rows0 = tg_min_i32(p->k_h, p->in_h - y0) - ky0;
            for (ox = 0; ox < p->out_w; ox++, output += c_n) {
                TG_POOL_WINDOW()
                const int32_t n = rows0 * cols0;
                if (with_c && (rows0 <= 0 || cols0 <= 0 || n > 128)) {
                    tg_avgpool_px_c(base, rows0, cols0, row_step, c_n, 0, c_n, p, output);
                    continue;
                }
                if (n != last_n) {
                    px.m = ((1u << 24) + (uint32_t)n - 1u) / (uint32_t)n;
                    px.cpos = (128u * (uint32_t)n + (uint32_t)n / 2u) * 0x10001u;
                    px.emask = (n & 1) ? 0u : 0x00010001u;
                    last_n = n;
                }
                if (c4) {
                    px.rows = rows;
                    px.cols = cols;
                    px.skip = row_step - cols * c_n;
                    tg_avgpool_px_dsp(base, output, c4 >> 2, &px);
                }
                if (c4 < c_n && c4) { /* the last channels: one more group overlapping the previous one */
                    tg_avgpool_px_dsp(base + c_n - 4, output + c_n - 4, 1, &px);
                } else if (with_c && c4 < c_n) {
                    tg_avgpool_px_c(base, rows0, cols0, row_step, c_n, c4, c_n, p, output);
                }
            }
        }
    }
}

static void tg_avgpool_dsp_s8(const tg_pool_params_t *p, const int8_t *input, int8_t *output)
{
    tg_avgpool_dsp_body(p, input, output, 1);
}

static void tg_maxpool_dsp_s8(const tg_pool_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t c_n = p->channels;
    const int32_t c4 = c_n & ~3;
    const int32_t row_step = p->in_w * c_n;
    const int clamp = p->act_min > -128 || p->act_max < 127;
    const uint32_t lo4 = tg_splat4(p->act_min), hi4 = tg_splat4(p->act_max);
    int32_t b, oy, ox, c;
    for (b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + (size_t)b * p->in_h * row_step;
        for (oy = 0; oy < p->out_h; oy++) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            const int32_t ky0 = tg_max_i32(0, -y0);
            const int32_t rows0 = tg_min_i32(p->k_h, p->in_h - y0) - ky0;
            for (ox = 0; ox < p->out_w; ox++, output += c_n) {
                TG_POOL_WINDOW()
                if (rows0 <= 0 || cols0 <= 0) {
                    tg_maxpool_px_c(base, rows0, cols0, row_step, c_n, 0, c_n, p, output);
                    continue;
                }
                const int32_t skip = row_step - cols * c_n;
                for (c = 0; c < c4; c += 4) {
                    uint32_t v = tg_pool_max_window(base + c, rows, cols, c_n, skip);
                    if (clamp) {
                        v = tg_pool_clamp4(v, lo4, hi4);
                    }
                    tg_st32(output + c, v);
                }
                if (c4 < c_n && c4) { /* the last channels: one more group overlapping the previous one */
                    uint32_t v = tg_pool_max_window(base + c_n - 4, rows, cols, c_n, skip);
                    if (clamp) {
                        v = tg_pool_clamp4(v, lo4, hi4);
                    }
                    tg_st32(output + c_n - 4, v);
                } else if (c4 < c_n) {
                    tg_maxpool_px_c(base, rows0, cols0, row_step, c_n, c4, c_n, p, output);
                }
            }
        }
    }
}
#endif /* TG_DSP */

void tg_avgpool_s8(const tg_pool_params_t *p, const int8_t *input, int8_t *output)
{
#if TG_DSP
    tg_avgpool_dsp_s8(p, input, output);
#else
    tg_avgpool_c_s8(p, input, output);
#endif
}

/* tg_avgpool_s8 where every window has 1-128 taps and there are at least 4 channels (the generator checks): a
 * DSP build links no C per-pixel code */
void tg_avgpool4_s8(const tg_pool_params_t *p, const int8_t *input, int8_t *output)
{
#if TG_DSP
    tg_avgpool_dsp_body(p, input, output, 0);
#else
    tg_avgpool_c_s8(p, input, output);
#endif
}

void tg_maxpool_s8(const tg_pool_params_t *p, const int8_t *input, int8_t *output)
{
#if TG_DSP
    tg_maxpool_dsp_s8(p, input, output);
#else
    tg_maxpool_c_s8(p, input, output);
#endif
}

void tg_avgpool_s16(const tg_pool_params_t *p, const int16_t *input, int16_t *output)
{
    tg_avgpool_c_s16(p, input, output);
}

void tg_maxpool_s16(const tg_pool_params_t *p, const int16_t *input, int16_t *output)
{
    tg_maxpool_c_s16(p, input, output);
}
