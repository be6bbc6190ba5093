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

/* the newest state value of filter f: the requantized feature product saturated to the state type, plus
 * the zero point (as the tflite_micro package does it: the caller's narrowing cast wraps) */
static int32_t tg_svdf_feature(const tg_svdf_params_t *p, const int8_t *x, int32_t f, int32_t lo, int32_t hi)
{
    int32_t acc = (int32_t)(tg_svdf_dot_s8(x, p->w_feature + f * p->n_input, p->n_input) + (uint32_t)p->f_bias[f]);
    return tg_clamp(tg_mbqm(acc, p->m1, p->s1), lo, hi) + p->state_zp;
}

static int8_t tg_svdf_out(const tg_svdf_params_t *p, uint32_t acc)
{
    return (int8_t)tg_clamp(p->out_zp + tg_mbqm((int32_t)acc, p->m2, p->s2), -128, 127);
}

void tg_svdf_s8_s16(const tg_svdf_params_t *p, const int8_t *input, int8_t *output, int16_t *state)
{
    const int32_t F = p->n_filter, M = p->memory, U = p->n_filter / p->rank, n = p->batch * F * M;
    const int16_t *wt = (const int16_t *)p->w_time;
    if (p->reset) {
        for (int32_t i = 0; i < n; i++) state[i] = (int16_t)p->reset_fill;
    }
    memmove(state, state + 1, (size_t)(n - 1) * sizeof(int16_t)); /* one step back in time */
    for (int32_t b = 0; b < p->batch; b++) {
        const int8_t *x = input + b * p->n_input;
        int16_t *st = state + b * F * M;
        for (int32_t f = 0; f < F; f++) st[f * M + M - 1] = (int16_t)tg_svdf_feature(p, x, f, -32768, 32767);
        for (int32_t u = 0; u < U; u++) {
            uint32_t acc = (uint32_t)p->bias[u];
            for (int32_t r = 0; r < p->rank; r++) {
                int32_t f = u * p->rank + r;
                acc += tg_svdf_dot_s16(st + f * M, wt + f * M, M);
            }
            output[b * U + u] = tg_svdf_out(p, acc);
        }
    }
}

void tg_svdf_s8_s8(const tg_svdf_params_t *p, const int8_t *input, int8_t *output, int8_t *state)
{
    const int32_t F = p->n_filter, M = p->memory, U = p->n_filter / p->rank, n = p->batch * F * M;
    const int8_t *wt = (const int8_t *)p->w_time;
    if (p->reset) memset(state, p->reset_fill & 0xFF, (size_t)n);
    memmove(state, state + 1, (size_t)(n - 1));
    for (int32_t b = 0; b < p->batch; b++) {
        const int8_t *x = input + b * p->n_input;
        int8_t *st = state + b * F * M;
        for (int32_t f = 0; f < F; f++) st[f * M + M - 1] = (int8_t)tg_svdf_feature(p, x, f, -128, 127);
        for (int32_t u = 0; u < U; u++) {
            uint32_t acc = (uint32_t)p->bias[u];
            for (int32_t r = 0; r < p->rank; r++) {
                int32_t f = u * p->rank + r;
                acc += tg_svdf_dot_s8(st + f * M, wt + f * M, M);
            }
            output[b * U + u] = tg_svdf_out(p, acc);
        }
    }
}
