/* UNIDIRECTIONAL_SEQUENCE_LSTM, int8 activations and weights, int16 cell state (TFLM's integer LSTM),
 * and 16x8 (int16 activations, int8 weights, int64 accumulators).
 * See tinygen/ops/recurrent.py for the arithmetic; the parameters are computed there. */
#include "tg_kernels.h"
#include "tg_requant.h"

static int16_t tg_sat16(int32_t v)
{
    return (int16_t)(v > 32767 ? 32767 : (v < -32768 ? -32768 : v));
}

/* TFLM int16 LOGISTIC (input multiplier 3, no shift): Q3.12 -> Q0.15 */
static int16_t tg_sigmoid16(const uint16_t *tab, int16_t x)
{
    int32_t v = (int32_t)x * 3;
    uint32_t a = (uint32_t)(v < 0 ? -v : v);
    uint32_t uh = a >> 9, r;
    if (uh >= 255u) {
        r = 0x7FFFu << 10;
    } else {
        uint32_t ua = tab[uh], ub = tab[uh + 1];
        r = (ua << 9) + (a & 0x1FFu) * (ub - ua);
    }
    r = v >= 0 ? r + (1u << 9) : (1u << 25) - r + (1u << 9) - 1u;
    return (int16_t)(r >> 10);
}

/* TFLM int16 TANH with (multiplier, right shift) */
static int16_t tg_tanh16(const uint16_t *tab, int16_t x, int32_t mult, int32_t shift)
{
    int32_t rnd = shift > 0 ? (1 << (shift - 1)) : 0;
    int32_t v = ((int32_t)x * mult + rnd) >> shift;
    uint32_t a = (uint32_t)(v < 0 ? -v : v);
    uint32_t uh = a >> 8;
    int32_t r;
    if (uh >= 255u) {
        r = (int32_t)(0xFFFFu << 8);
    } else {
        uint32_t ua = tab[uh], ub = tab[uh + 1];
        r = (int32_t)((ua << 8) + (a & 0xFFu) * (ub - ua));
    }
    r = v >= 0 ? r - (1 << 23) + (1 << 7) : -r + (1 << 23) + (1 << 7) - 1;
    return (int16_t)(r >> 8);
}

/* one int8 x int8 -> int32 dot product of length n (DSP build: SMLAD on four int8 pairs per step;
 * the sums are exact integers either way, so both paths give the same result) */
static int32_t tg_dot_s8(const int8_t *a, const int8_t *w, int32_t n)
{
    int32_t acc = 0, k = 0;
#if TG_DSP
    int32_t acc2 = 0;
    for (; k + 4 <= n; k += 4) {
        uint32_t va = tg_ld32(a + k), vw = tg_ld32(w + k);
        acc = tg_smlad(tg_sxtb16(va), tg_sxtb16(vw), acc);
        acc2 = tg_smlad(tg_sxtb16_ror8(va), tg_sxtb16_ror8(vw), acc2);
    }
    acc += acc2;
#endif
    for (; k < n; k++) acc += (int32_t)a[k] * (int32_t)w[k];
    return acc;
}

/* one gate of one unit: act(sat16(FC_in(x) + FC_rec(h))) (0 sigmoid, 1 tanh) */
static int16_t tg_lstm_gate(const tg_lstm_params_t *p, const tg_lstm_gate_t *g, const int8_t *x, const int8_t *h,
                            int32_t s, int act)
{
    int32_t a = tg_dot_s8(x, g->w_in + s * p->n_input, p->n_input) + g->b_in[s];
    int32_t r = tg_dot_s8(h, g->w_rec + s * p->n_state, p->n_state) + g->b_rec[s];
    int32_t av = tg_clamp(tg_mbqm(a, g->m_in, g->s_in), -32768, 32767);
    int32_t rv = tg_clamp(tg_mbqm(r, g->m_rec, g->s_rec), -32768, 32767);
    int16_t z = tg_sat16(av + rv);
    return act ? tg_tanh16(p->sigmoid_table, z, 3, 0) : tg_sigmoid16(p->sigmoid_table, z);
}

void tg_lstm_reset(const tg_lstm_params_t *p, int8_t *hidden, int16_t *cell)
{
    for (int32_t i = 0; i < p->batch * p->n_state; i++) {
        hidden[i] = (int8_t)p->hidden_zp;
        cell[i] = 0;
    }
}

/* The unit's cell update from its four gates (forget, input, cell, output): the new cell state into *c, and
 * the new hidden value before the clamp to the output type (hidden zero point added). int8 and int16 alike. */
static int32_t tg_lstm_cell(const tg_lstm_params_t *p, int16_t fg, int16_t ig, int16_t cg, int16_t og, int16_t *c)
{
    int32_t fc = tg_clamp(tg_mbqm((int32_t)fg * *c, p->forget_m, p->forget_s), -32768, 32767);
    int32_t ic = tg_clamp(tg_mbqm((int32_t)ig * cg, p->input_m, p->input_s), -32768, 32767);
    int32_t nc = tg_sat16(fc + ic);
    if (p->cell_clip > 0) nc = tg_clamp(nc, -p->cell_clip, p->cell_clip);
    *c = (int16_t)nc;
    int16_t th = tg_tanh16(p->sigmoid_table, (int16_t)nc, p->cell_tanh_mult, p->cell_tanh_shift);
    return p->hidden_zp + tg_mbqm((int32_t)th * og, p->output_m, p->output_s);
}

/* The steps of every batch row for activations of type T (GATE: its gate function, LO..HI: its range):
 * row (b, t) of the input / output is [B, T, *] or time major [T, B, *]. The caller has S, input, output,
 * hidden, cell. */
#define TG_LSTM_STEPS(T, GATE, LO, HI)                                                                        \
    for (int32_t b = 0; b < p->batch; b++) {                                                                  \
        T *h = hidden + b * S;                                                                                \
        int16_t *c = cell + b * S;                                                                            \
        for (int32_t t = 0; t < p->steps; t++) {                                                              \
            int32_t row = p->time_major ? t * p->batch + b : b * p->steps + t;                                \
            const T *x = input + row * p->n_input;                                                            \
            T *y = output + row * S;                                                                          \
            for (int32_t s = 0; s < S; s++) {                                                                 \
                int16_t fg = GATE(p, &p->gates[1], x, h, s, 0);                                               \
                int16_t ig = GATE(p, &p->gates[0], x, h, s, 0);                                               \
                int16_t cg = GATE(p, &p->gates[2], x, h, s, p->cell_tanh);                                    \
                int16_t og = GATE(p, &p->gates[3], x, h, s, 0);                                               \
                y[s] = (T)tg_clamp(tg_lstm_cell(p, fg, ig, cg, og, &c[s]), (LO), (HI));                       \
            }                                                                                                 \
            for (int32_t s = 0; s < S; s++) h[s] = y[s];                                                      \
        }                                                                                                     \
    }

/* One unit at a time: its four gates, its cell state (updated in place: only this unit reads it), its new
 * hidden value into the output row; the hidden state (read by every unit's recurrent product) is
 * replaced by the output row once the step is done. No scratch memory. */
void tg_lstm_s8(const tg_lstm_params_t *p, const int8_t *input, int8_t *output, int8_t *hidden, int16_t *cell)
{
    const int32_t S = p->n_state;
    if (p->reset) tg_lstm_reset(p, hidden, cell);
    TG_LSTM_STEPS(int8_t, tg_lstm_gate, -128, 127);
}

/* ------------------------------------------------------------------ 16x8 */

/* int16 x int8 dot product in int64 (DSP builds: SMLALD on two pairs, the int16 inputs regrouped as lanes
 * 0/2 and 1/3 to meet SXTB16's widened weights; exact either way) */
static int64_t tg_dot_s16_s8(const int16_t *a, const int8_t *w, int32_t n)
{
    int64_t acc = 0;
    int32_t k = 0;
#if TG_DSP
    for (; k + 4 <= n; k += 4) {
        const uint32_t x01 = tg_ld32(a + k), x23 = tg_ld32(a + k + 2), wv = tg_ld32(w + k);
        const uint32_t even = (x01 & 0xFFFFu) | (x23 << 16), odd = (x01 >> 16) | (x23 & 0xFFFF0000u);
        acc = __smlald((int16x2_t)tg_sxtb16(wv), (int16x2_t)even, acc);
        acc = __smlald((int16x2_t)tg_sxtb16_ror8(wv), (int16x2_t)odd, acc);
    }
#endif
    for (; k < n; k++) acc += (int32_t)a[k] * (int32_t)w[k];
    return acc;
}

static int16_t tg_lstm_gate16(const tg_lstm_params_t *p, const tg_lstm_gate_t *g, const int16_t *x, const int16_t *h,
                              int32_t s, int act)
{
    int64_t a = tg_dot_s16_s8(x, g->w_in + s * p->n_input, p->n_input) + g->b_in64[s];
    int64_t r = tg_dot_s16_s8(h, g->w_rec + s * p->n_state, p->n_state);
    int32_t av = tg_clamp(tg_mbqm64(a, g->m_in, g->s_in), -32768, 32767);
    int32_t rv = tg_clamp(tg_mbqm64(r, g->m_rec, g->s_rec), -32768, 32767);
    int16_t z = tg_sat16(av + rv);
    return act ? tg_tanh16(p->sigmoid_table, z, 3, 0) : tg_sigmoid16(p->sigmoid_table, z);
}

/* As tg_lstm_s8, one unit at a time, with int16 activations (SMLALD gate products in DSP builds). */
void tg_lstm_s16(const tg_lstm_params_t *p, const int16_t *input, int16_t *output, int16_t *hidden, int16_t *cell)
{
    const int32_t S = p->n_state;
    if (p->reset) {
        for (int32_t i = 0; i < p->batch * S; i++) {
            hidden[i] = (int16_t)p->hidden_zp;
            cell[i] = 0;
        }
    }
    TG_LSTM_STEPS(int16_t, tg_lstm_gate16, -32768, 32767);
}
