/* SVDF, int8 input/output, int16 (or int8) state and time weights (TFLM's integer SVDF).
 * See tinygen/ops/svdf.py for the arithmetic; the parameters are computed there.
 *
 * The time products are int32 sums that wrap as TFLM's int32 scratch does: they are accumulated in
 * uint32_t here (defined wrapping in C; SMLAD wraps too), so the state zero point can be folded into
 * the bias. No scratch memory: each unit's sum is formed from its rank filters directly. */
#include <string.h>

#include "tg_kernels.h"
#include "tg_requant.h"

/* int8 x int8 dot product of length n, wrapping (SMLAD on four int8 pairs per step in DSP builds) */
static uint32_t tg_svdf_dot_s8(const int8_t *a, const int8_t *w, int32_t n)
{
    uint32_t acc = 0;
    int32_t k = 0;
#if TG_DSP
    int32_t acc1 = 0, acc2 = 0;
    for (; k + 4 <= n; k += 4) {
        uint32_t va = tg_ld32(a + k), vw = tg_ld32(w + k);
        acc1 = tg_smlad(tg_sxtb16(va), tg_sxtb16(vw), acc1);
        acc2 = tg_smlad(tg_sxtb16_ror8(va), tg_sxtb16_ror8(vw), acc2);
    }
    acc = (uint32_t)acc1 + (uint32_t)acc2;
#endif
    for (; k < n; k++) acc += (uint32_t)((int32_t)a[k] * (int32_t)w[k]);
    return acc;
}

/* int16 x int16 dot product of length n, wrapping (SMLAD on two int16 pairs per step in DSP builds) */
static uint32_t tg_svdf_dot_s16(const int16_t *a, const int16_t *w, int32_t n)
{
    uint32_t acc = 0;
    int32_t k = 0;
#if TG_DSP
    int32_t acc1 = 0, acc2 = 0;
    for (; k + 4 <= n; k += 4) {
        acc1 = tg_smlad(tg_ld32(a + k), tg_ld32(w + k), acc1);
        acc2 = tg_smlad(tg_ld32(a + k + 2), tg_ld32(w + k + 2), acc2);
    }
    acc = (uint32_t)acc1 + (uint32_t)acc2;
#endif
    for (; k < n; k++) acc += (uint32_t)((int32_t)a[k] * (int32_t)w[k]);
    return acc;
}

/* The state one step back in time: every element moves down by one (TFLM shifts the whole buffer; the
 * newest column is overwritten afterwards). newlib-nano's memmove copies bytes one by one: DSP builds
 * move 32-bit words (unaligned loads are fine on Cortex-M3 and up), the portable path elements. */
static void tg_svdf_shift16(int16_t *st, int32_t n)
{
    int32_t i = 0;
#if TG_DSP
    if (((uintptr_t)st & 3u) == 0) {
        for (; i + 3 <= n; i += 2) tg_st32(st + i, tg_ld32(st + i + 1));
    }
#endif
    for (; i + 1 < n; i++) st[i] = st[i + 1];
}

static void tg_svdf_shift8(int8_t *st, int32_t n)
{
    int32_t i = 0;
#if TG_DSP
    if (((uintptr_t)st & 3u) == 0) {
        for (; i + 5 <= n; i += 4) tg_st32(st + i, tg_ld32(st + i + 1));
    }
#endif
    for (; i + 1 < n; i++) st[i] = st[i + 1];
}

#if TG_DSP
/* feature products of filters f and f + 1 at once: each input word is loaded and widened once */
static void tg_svdf_dot2_s8(const int8_t *x, const int8_t *w0, const int8_t *w1, int32_t n, int32_t *d0, int32_t *d1)
{
    int32_t a0 = 0, b0 = 0, a1 = 0, b1 = 0, k = 0;
    for (; k + 4 <= n; k += 4) {
        uint32_t vx = tg_ld32(x + k), u0 = tg_ld32(w0 + k), u1 = tg_ld32(w1 + k);
        uint32_t xe = tg_sxtb16(vx), xo = tg_sxtb16_ror8(vx);
        a0 = tg_smlad(xe, tg_sxtb16(u0), a0);
        b0 = tg_smlad(xo, tg_sxtb16_ror8(u0), b0);
        a1 = tg_smlad(xe, tg_sxtb16(u1), a1);
        b1 = tg_smlad(xo, tg_sxtb16_ror8(u1), b1);
    }
    uint32_t s0 = (uint32_t)a0 + (uint32_t)b0, s1 = (uint32_t)a1 + (uint32_t)b1;
    for (; k < n; k++) {
        s0 += (uint32_t)((int32_t)x[k] * (int32_t)w0[k]);
        s1 += (uint32_t)((int32_t)x[k] * (int32_t)w1[k]);
    }
    *d0 = (int32_t)s0;
    *d1 = (int32_t)s1;
}
#endif

/* the newest state value of filter f: the requantized feature product saturated to the state type, plus
 * the zero point (as the tflite_micro package does it: the caller's narrowing cast wraps) */
static int32_t tg_svdf_newest(const tg_svdf_params_t *p, int32_t acc, int32_t f, int32_t lo, int32_t hi)
{
    acc = (int32_t)((uint32_t)acc + (uint32_t)p->f_bias[f]);
    return tg_clamp(tg_mbqm(acc, p->m1, p->s1), lo, hi) + p->state_zp;
}

static int32_t tg_svdf_feature(const tg_svdf_params_t *p, const int8_t *x, int32_t f, int32_t lo, int32_t hi)
{
    return tg_svdf_newest(p, (int32_t)tg_svdf_dot_s8(x, p->w_feature + f * p->n_input, p->n_input), f, lo, hi);
}

/* every filter's newest state value (column M - 1 of its row), for one batch row */
#define TG_SVDF_FEATURES(T, LO, HI)                                                                         \
    do {                                                                                                     \
        int32_t f = 0;                                                                                       \
        TG_SVDF_FEATURE_PAIRS(T, LO, HI);                                                                    \
        for (; f < F; f++) st[f * M + M - 1] = (T)tg_svdf_feature(p, x, f, LO, HI);                         \
    } while (0)

#if TG_DSP
#define TG_SVDF_FEATURE_PAIRS(T, LO, HI)                                                                    \
    for (; f + 2 <= F; f += 2) {                                                                             \
        int32_t d0, d1;                                                                                      \
        tg_svdf_dot2_s8(x, p->w_feature + f * p->n_input, p->w_feature + (f + 1) * p->n_input, p->n_input,  \
                        &d0, &d1);                                                                           \
        st[f * M + M - 1] = (T)tg_svdf_newest(p, d0, f, LO, HI);                                             \
        st[(f + 1) * M + M - 1] = (T)tg_svdf_newest(p, d1, f + 1, LO, HI);                                   \
    }
#else
#define TG_SVDF_FEATURE_PAIRS(T, LO, HI) ((void)0)
#endif

static int8_t tg_svdf_out(const tg_svdf_params_t *p, uint32_t acc)
{
    return (int8_t)tg_clamp(p->out_zp + tg_mbqm((int32_t)acc, p->m2, p->s2), -128, 127);
}

/* Each unit of batch b: the bias plus the rank filters' state rows (st) dotted with their time weights (wt),
 * requantized into output row b. DOT is the state type's dot product (uint32 wrap-around sum). */
#define TG_SVDF_UNITS(DOT)                                                                                    \
    do {                                                                                                      \
        for (int32_t u = 0; u < U; u++) {                                                                     \
            uint32_t acc = (uint32_t)p->bias[u];                                                              \
            for (int32_t r = 0; r < p->rank; r++) {                                                           \
                int32_t f = u * p->rank + r;                                                                  \
                acc += DOT(st + f * M, wt + f * M, M);                                                        \
            }                                                                                                 \
            output[b * U + u] = tg_svdf_out(p, acc);                                                          \
        }                                                                                                     \
    } while (0)

void tg_svdf_s8_s16(const tg_svdf_params_t *p, const int8_t *input, int8_t *output, int16_t *state)
{
    const int32_t F = p->n_filter, M = p->memory, U = p->n_filter / p->rank, n = p->batch * F * M;
    const int16_t *wt = (const int16_t *)p->w_time;
    if (p->reset) {
        for (int32_t i = 0; i < n; i++) state[i] = (int16_t)p->reset_fill;
    }
    tg_svdf_shift16(state, n);
    for (int32_t b = 0; b < p->batch; b++) {
        const int8_t *x = input + b * p->n_input;
        int16_t *st = state + b * F * M;
        TG_SVDF_FEATURES(int16_t, -32768, 32767);
        TG_SVDF_UNITS(tg_svdf_dot_s16);
    }
}

void tg_svdf_s8_s8(const tg_svdf_params_t *p, const int8_t *input, int8_t *output, int8_t *state)
{
    const int32_t F = p->n_filter, M = p->memory, U = p->n_filter / p->rank, n = p->batch * F * M;
    const int8_t *wt = (const int8_t *)p->w_time;
    if (p->reset) memset(state, p->reset_fill & 0xFF, (size_t)n);
    tg_svdf_shift8(state, n);
    for (int32_t b = 0; b < p->batch; b++) {
        const int8_t *x = input + b * p->n_input;
        int8_t *st = state + b * F * M;
        TG_SVDF_FEATURES(int8_t, -128, 127);
        TG_SVDF_UNITS(tg_svdf_dot_s8);
    }
}
