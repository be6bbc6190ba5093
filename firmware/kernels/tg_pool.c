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
 * sum >= 0 and c = n - 1 - n/2 for sum < 0 (the floor of a shifted, non-negative numerator N): SSUB16 + SEL
 * pick c + 128 n per int16 lane from the sign, SADD16 adds it (0 <= N <= 255 n + n/2 < 2^15 for n <= 128),
 * and SMULWB / SMULWT by m = ceil(2^24 / n) give floor(N m / 2^16) = 2^8 floor(N / n) + fraction, exact
 * because N (m n - 2^24) < 2^24 for every N in range and n <= 128 (tests/test_mcu_pools.py checks every
 * (n, sum) exhaustively). The quotients land in bits 8-15 of each product: two PKHBT, one UXTB16 ror 8,
 * one AND and one ORR pack the 4 lanes, EOR 0x80808080 takes the 128 back off. Pixels with more than 128
 * taps, and the last channels % 4, take the C99 loop.
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

/* One row of COLS taps (COLS >= 1) at T, C_N bytes apart: two taps per step, then the odd one.
 * W0, W1 scratch; T and K clobbered; STEP2 / STEP1: the two-tap / one-tap operation. */
#define TG_POOL_ROW_ASM(STEP2, STEP1)                                     \
    "subs   %[k], %[k], #2\n\t"                                           \
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
    STEP1                                                                 \
    "3:\n\t"

/* int16-pair sums of lanes 0/2 (a02) and 1/3 (a13) over one row of taps */
TG_INLINE void tg_pool_sum_row(uint32_t *a02, uint32_t *a13, const int8_t *t, int32_t cols, int32_t c_n)
{
    uint32_t a = *a02, b = *a13, w0, w1;
    int32_t k = cols;
    __asm__(TG_POOL_ROW_ASM("sxtab16 %[a], %[a], %[w0]\n\t"
                            "sxtab16 %[b], %[b], %[w0], ror #8\n\t"
                            "sxtab16 %[a], %[a], %[w1]\n\t"
                            "sxtab16 %[b], %[b], %[w1], ror #8\n\t",
                            "sxtab16 %[a], %[a], %[w0]\n\t"
                            "sxtab16 %[b], %[b], %[w0], ror #8\n\t")
            : [a] "+r"(a), [b] "+r"(b), [t] "+r"(t), [k] "+r"(k), [w0] "=&r"(w0), [w1] "=&r"(w1)
            : [cn] "r"(c_n)
            : "cc");
    *a02 = a;
    *a13 = b;
}

/* per int8 lane maximum of m and one row of taps */
TG_INLINE uint32_t tg_pool_max_row(uint32_t m, const int8_t *t, int32_t cols, int32_t c_n)
{
    uint32_t w0, w1, x;
    int32_t k = cols;
    __asm__(TG_POOL_ROW_ASM("ssub8  %[x], %[w0], %[m]\n\t"
                            "sel    %[m], %[w0], %[m]\n\t"
                            "ssub8  %[x], %[w1], %[m]\n\t"
                            "sel    %[m], %[w1], %[m]\n\t",
                            "ssub8  %[x], %[w0], %[m]\n\t"
                            "sel    %[m], %[w0], %[m]\n\t")
            : [m] "+r"(m), [t] "+r"(t), [k] "+r"(k), [w0] "=&r"(w0), [w1] "=&r"(w1), [x] "=&r"(x)
            : [cn] "r"(c_n)
            : "cc");
    return m;
}

/* two int16 lanes of sums -> two floor((sum + 128 n + c) / n) * 2^8 + fraction (see above) */
TG_INLINE void tg_pool_div2(uint32_t acc, uint32_t cpos, uint32_t cneg, uint32_t m, uint32_t *lo, uint32_t *hi)
{
    uint32_t t;
    __asm__("ssub16 %[t], %[a], %[z]\n\t"
            "sel    %[t], %[p], %[n]\n\t"
            "sadd16 %[a], %[a], %[t]\n\t"
            "smulwb %[t], %[m], %[a]\n\t"
            "smulwt %[a], %[m], %[a]"
            : [a] "+r"(acc), [t] "=&r"(t)
            : [z] "r"(0), [p] "r"(cpos), [n] "r"(cneg), [m] "r"(m)
            : "cc");
    *lo = t;
    *hi = acc;
}

TG_INLINE uint32_t tg_pool_pack_q(uint32_t q0, uint32_t q2, uint32_t q1, uint32_t q3)
{
    uint32_t t02, t13;
    __asm__("pkhbt   %[x], %[q0], %[q2], lsl #16\n\t"
            "pkhbt   %[y], %[q1], %[q3], lsl #16\n\t"
            "uxtb16  %[x], %[x], ror #8\n\t"
            "and     %[y], %[y], #0xff00ff00\n\t"
            "orr     %[x], %[x], %[y]\n\t"
            "eor     %[x], %[x], #0x80808080"
            : [x] "=&r"(t02), [y] "=&r"(t13)
            : [q0] "r"(q0), [q2] "r"(q2), [q1] "r"(q1), [q3] "r"(q3));
    return t02;
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

static void tg_avgpool_dsp_s8(const tg_pool_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t c_n = p->channels;
    const int32_t c4 = c_n & ~3;
    const int32_t row_step = p->in_w * c_n;
    const int clamp = p->act_min > -128 || p->act_max < 127;
    const uint32_t lo4 = tg_splat4(p->act_min), hi4 = tg_splat4(p->act_max);
    int32_t last_n = -1;
    uint32_t m = 0, cpos = 0, cneg = 0;
    int32_t b, oy, ox, c, r;
    for (b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + (size_t)b * p->in_h * row_step;
        for (oy = 0; oy < p->out_h; oy++) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            const int32_t ky0 = tg_max_i32(0, -y0);
            const int32_t rows0 = tg_min_i32(p->k_h, p->in_h - y0) - ky0;
            for (ox = 0; ox < p->out_w; ox++, output += c_n) {
                TG_POOL_WINDOW()
                const int32_t n = rows0 * cols0;
                if (rows0 <= 0 || cols0 <= 0 || n > 128) {
                    tg_avgpool_px_c(base, rows0, cols0, row_step, c_n, 0, c_n, p, output);
                    continue;
                }
                if (n != last_n) {
                    const uint32_t h = (uint32_t)n / 2u;
                    m = ((1u << 24) + (uint32_t)n - 1u) / (uint32_t)n;
                    cpos = (128u * (uint32_t)n + h) * 0x10001u;
                    cneg = (128u * (uint32_t)n + (uint32_t)n - 1u - h) * 0x10001u;
                    last_n = n;
                }
                for (c = 0; c < c4; c += 4) {
                    uint32_t a02 = 0, a13 = 0, q0, q1, q2, q3, v;
                    const int8_t *row = base + c;
                    for (r = 0; r < rows; r++, row += row_step) {
                        tg_pool_sum_row(&a02, &a13, row, cols, c_n);
                    }
                    tg_pool_div2(a02, cpos, cneg, m, &q0, &q2);
                    tg_pool_div2(a13, cpos, cneg, m, &q1, &q3);
                    v = tg_pool_pack_q(q0, q2, q1, q3);
                    if (clamp) {
                        v = tg_pool_clamp4(v, lo4, hi4);
                    }
                    tg_st32(output + c, v);
                }
                if (c4 < c_n) {
                    tg_avgpool_px_c(base, rows0, cols0, row_step, c_n, c4, c_n, p, output);
                }
            }
        }
    }
}

static void tg_maxpool_dsp_s8(const tg_pool_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t c_n = p->channels;
    const int32_t c4 = c_n & ~3;
    const int32_t row_step = p->in_w * c_n;
    const int clamp = p->act_min > -128 || p->act_max < 127;
    const uint32_t lo4 = tg_splat4(p->act_min), hi4 = tg_splat4(p->act_max);
    int32_t b, oy, ox, c, r;
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
                for (c = 0; c < c4; c += 4) {
                    uint32_t v = 0x80808080u;
                    const int8_t *row = base + c;
                    for (r = 0; r < rows; r++, row += row_step) {
                        v = tg_pool_max_row(v, row, cols, c_n);
                    }
                    if (clamp) {
                        v = tg_pool_clamp4(v, lo4, hi4);
                    }
                    tg_st32(output + c, v);
                }
                if (c4 < c_n) {
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
