/*
 * ADD, SUB, MUL on int8 with numpy/TFLM broadcasting (TFLM reference_integer_ops::Add /
 * Mul and their broadcast loops): shapes are left-padded to TG_MAX_DIMS axes, broadcast
 * axes of an input have stride 0. The output is written in order, element i after reading
 * element i of each input, so output == input 0 is safe when input 0 is not broadcast.
 */
#include "tg_kernels.h"
#include "tg_mve.h"
#include "tg_requant.h"

static int8_t tg_add_one(const tg_add_params_t *p, int32_t a, int32_t b)
{
    const int32_t x1 = tg_wrap_shl(a + p->input1_offset, (int)p->left_shift);
    const int32_t x2 = tg_wrap_shl(b + p->input2_offset, (int)p->left_shift);
    const int32_t s1 = tg_mbqm_lt1(x1, p->input1_multiplier, p->input1_shift);
    const int32_t s2 = tg_mbqm_lt1(x2, p->input2_multiplier, p->input2_shift);
    const int32_t raw = p->subtract ? tg_wrap_sub(s1, s2) : tg_wrap_add(s1, s2);
    const int32_t out = tg_mbqm_lt1(raw, p->output_multiplier, p->output_shift);
    return (int8_t)tg_offset_clamp(out, p->output_offset, p->act_min, p->act_max);
}

static int8_t tg_mul_one(const tg_mul_params_t *p, int32_t a, int32_t b)
{
    const int32_t prod = (a + p->input1_offset) * (b + p->input2_offset);
    const int32_t out = tg_mbqm(prod, p->output_multiplier, p->output_shift);
    return (int8_t)tg_offset_clamp(out, p->output_offset, p->act_min, p->act_max);
}

/* The broadcast loop, shared by the binary kernels through a macro (keeps the per-element
 * function inlined). */
#define TG_BCAST_LOOP(S, A, B, OUT, ONE, P)                                                     \
    do {                                                                                        \
        int32_t i0, i1, i2, i3, i4;                                                             \
        if (!(S)->broadcast) {                                                                  \
            int32_t i_;                                                                         \
            for (i_ = 0; i_ < (S)->size; i_++) {                                                \
                (OUT)[i_] = ONE((P), (A)[i_], (B)[i_]);                                         \
            }                                                                                   \
            break;                                                                              \
        }                                                                                       \
        for (i0 = 0; i0 < (S)->dims[0]; i0++) {                                                 \
            for (i1 = 0; i1 < (S)->dims[1]; i1++) {                                             \
                for (i2 = 0; i2 < (S)->dims[2]; i2++) {                                         \
                    const int8_t *a_ = (A) + i0 * (S)->a_strides[0] + i1 * (S)->a_strides[1]    \
                                       + i2 * (S)->a_strides[2];                                \
                    const int8_t *b_ = (B) + i0 * (S)->b_strides[0] + i1 * (S)->b_strides[1]    \
                                       + i2 * (S)->b_strides[2];                                \
                    for (i3 = 0; i3 < (S)->dims[3]; i3++) {                                     \
                        const int8_t *a3_ = a_ + i3 * (S)->a_strides[3];                        \
                        const int8_t *b3_ = b_ + i3 * (S)->b_strides[3];                        \
                        const int32_t sa_ = (S)->a_strides[4], sb_ = (S)->b_strides[4];         \
                        for (i4 = 0; i4 < (S)->dims[4]; i4++) {                                 \
                            *(OUT)++ = ONE((P), a3_[i4 * sa_], b3_[i4 * sb_]);                  \
                        }                                                                       \
                    }                                                                           \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
    } while (0)

#if TG_DSP
/* One TFLM int8 ADD/SUB rescaling step: SaturatingRoundingDoublingHighMul(x, m) as SMMULR(2x, m),
 * then RoundingDivideByPOT by e as (2y + 2^e - (y < 0) [+ offset * 2^(e+1)]) >> (e + 1) (see
 * tg_rq_dsp): exact under the generator's bounds (dsp = 1). er = e + 1. */
TG_INLINE int32_t tg_add_step(int32_t x2, int32_t m, int32_t round, int32_t er)
{
    int32_t y;
    __asm__("smmulr %0, %1, %2" : "=r"(y) : "r"(x2), "r"(m));
    return (round + (int32_t)((uint32_t)y << 1) + (y >> 31)) >> er;
}

/* The clamp of an output: one SSAT where the activation range is the full int8 range (sat, a constant where
 * the loops below inline it), else the two bounds. */
TG_INLINE int32_t tg_eltwise_clamp(int32_t o, int32_t amin, int32_t amax, int sat)
{
    if (sat) {
        __asm__("ssat %0, #8, %1" : "=r"(o) : "r"(o));
        return o;
    }
    o = o < amin ? amin : o;
    return o > amax ? amax : o;
}

/* Elements 0, per, 2 per, ... below n of the full input f of one periodic value (kk: its rescaled part and the
 * offsets), one copy per clamp kind, so that the loop keeps its constants in registers. */
TG_INLINE void tg_add_period_run(const int8_t *f, int8_t *out, int32_t n, int32_t per, int32_t kk, int32_t kx,
                                 int32_t mo, int32_t ro, int32_t eo, int32_t amin, int32_t amax, int sat)
{
    int32_t j;
    for (j = 0; j < n; j += per) {
        out[j] = (int8_t)tg_eltwise_clamp(tg_add_step(kk + (int32_t)f[j] * kx, mo, ro, eo), amin, amax, sat);
    }
}

/* One input full, the other periodic (p->period values repeated along the flat output, e.g. a
 * per-channel bias [C]), the full input's real multiplier exactly 1/2 (the generator checks it), so its
 * rescaled value is (q + offset) << 19: each periodic value is rescaled once, exactly, then the full input
 * is walked with stride `period`: one multiply-add and one SMMULR step (the output's) per element.
 * Element j is read before it is written, so output == input 0 (full) is safe. */
__attribute__((noinline)) static void tg_add_dsp_period(const tg_add_params_t *p, const int8_t *a, const int8_t *b,
                                                        int8_t *out)
{
    const int32_t f1 = p->full; /* 1: input 1 is the full one */
    const int8_t *f = f1 ? b : a, *q = f1 ? a : b;
    const int32_t negf = p->subtract && f1; /* SUB: input 1's rescaled value is subtracted */
    const int32_t c0x = (int32_t)((uint32_t)(f1 ? p->input2_offset : p->input1_offset) << 20);
    const int32_t c0 = negf ? -c0x : c0x;
    const int32_t kx = negf ? -(1 << 20) : (1 << 20); /* 2 * (q << 19), negated for SUB's input 1 */
    const int32_t qoff = f1 ? p->input1_offset : p->input2_offset;
    const int32_t qm = f1 ? p->input1_multiplier : p->input2_multiplier;
    const int32_t qs = f1 ? p->input1_shift : p->input2_shift;
    const int32_t mo = p->output_multiplier, ro = p->round_out, eo = 1 - p->output_shift;
    const int32_t amin = p->act_min, amax = p->act_max;
    const int32_t n = p->shape.size, per = p->period;
    int32_t c;
    const int sat = amin == -128 && amax == 127;
    for (c = 0; c < per; c++) {
        int32_t k = tg_mbqm_lt1(tg_wrap_shl((int32_t)q[c] + qoff, (int)p->left_shift), qm, qs);
        const int32_t kk = c0 + 2 * (p->subtract && !f1 ? -k : k);
        if (sat) {
            tg_add_period_run(f + c, out + c, n - c, per, kk, kx, mo, ro, eo, -128, 127, 1);
        } else {
            tg_add_period_run(f + c, out + c, n - c, per, kk, kx, mo, ro, eo, amin, amax, 0);
        }
    }
}

/* No broadcast, and input xi's real multiplier is exactly 1/2 (m = 2^30, shift 0: the larger-scale input of
 * every ADD / SUB, TFLM's multiplier = scale / (2 * max scale)): its rescaled value is exactly
 * (q + offset) << 19, so 2 (s1 +- s2) is one shift-add away from the other input's SMMULR step. negx / negy:
 * SUB negates input 1 (x or y). One pass; element j is read before it is written (in place is safe).
 * The ADD (not SUB) of at least TG_ADD_LUT_MIN elements: the other input's part c0 + 2 sy of raw2 depends on its
 * int8 value alone: computed once for the 256 values into lut (1 KB of stack), then one load per element instead
 * of its SMMULR step (12 instructions per element instead of 18 with the full int8 range, one SSAT; 16 instead of
 * 20 with a clamp). */
#define TG_ADD_LUT_MIN 256
TG_INLINE void tg_add_lut_loop(const int8_t *x, const int8_t *y, int8_t *out, const int8_t *end, const int32_t *lut,
                               int32_t mo, int32_t ro, int32_t eo, int32_t amin, int32_t amax, int sat)
{
    while (x < end) {
        const int32_t raw2 = lut[*y++] + (int32_t)((uint32_t)(int32_t)*x++ << 20);
        *out++ = (int8_t)tg_eltwise_clamp(tg_add_step(raw2, mo, ro, eo), amin, amax, sat);
    }
}

__attribute__((noinline)) static void tg_add_half(const tg_add_params_t *p, const int8_t *x, const int8_t *y,
                                                  int8_t *out, int xi)
{
    const int32_t negx = p->subtract && xi, negy = p->subtract && !xi;
    const int32_t c0x = (int32_t)((uint32_t)(xi ? p->input2_offset : p->input1_offset) << 20);
    const int32_t c0 = negx ? -c0x : c0x;
    const int32_t kx = negx ? -(1 << 20) : (1 << 20), ky = negy ? -2 : 2;
    const int32_t offy = (int32_t)((uint32_t)(xi ? p->input1_offset : p->input2_offset) << 21);
    const int32_t my = xi ? p->input1_multiplier : p->input2_multiplier;
    const int32_t ry = xi ? p->round1 : p->round2;
    const int32_t ey = 1 - (xi ? p->input1_shift : p->input2_shift);
    const int32_t mo = p->output_multiplier, ro = p->round_out, eo = 1 - p->output_shift;
    const int32_t amin = p->act_min, amax = p->act_max;
    const int8_t *end = x + p->shape.size;
    if (!p->subtract && p->shape.size >= TG_ADD_LUT_MIN) {
        int32_t lut[256], v;
        for (v = 0; v < 256; v++) {
            lut[v] = c0 + 2 * tg_add_step(offy + (int32_t)((uint32_t)(v - 128) << 21), my, ry, ey);
        }
        if (amin == -128 && amax == 127) {
            tg_add_lut_loop(x, y, out, end, lut + 128, mo, ro, eo, -128, 127, 1);
        } else {
            tg_add_lut_loop(x, y, out, end, lut + 128, mo, ro, eo, amin, amax, 0);
        }
        return;
    }
    /* SUB, or too few elements for the table */
    while (x < end) {
        const int32_t sy = tg_add_step(offy + ((int32_t)*y++ << 21), my, ry, ey);
        const int32_t raw2 = c0 + (int32_t)*x++ * kx + sy * ky;
        *out++ = (int8_t)tg_eltwise_clamp(tg_add_step(raw2, mo, ro, eo), amin, amax, 0);
    }
}

static void tg_add_dsp(const tg_add_params_t *p, const int8_t *a, const int8_t *b, int8_t *output)
{
    const int xi = (p->half & 1) ? 0 : 1; /* the generator sets dsp without a period only with half != 0 */
    tg_add_half(p, xi ? b : a, xi ? a : b, output, xi);
}
#endif

/* Three entry points, chosen by the generator (tinygen/ops/elementwise.py, _add_dsp_fields), so that a firmware
 * links only the ADD / SUB code its ops use: tg_add_s8 the general kernel (Helium where it applies: no broadcast,
 * the rescalings' shifts <= 0, tg_mve.c; else TFLM's broadcast loop), tg_add_half_s8 for `dsp` without a
 * broadcast (tg_add_dsp) and tg_add_period_s8 for `dsp` with a periodic input (tg_add_dsp_period): the DSP kernels
 * on a DSP build (Helium first where it applies, as in tg_add_s8), the general code elsewhere. */
#if TG_MVE
#define TG_ADD_MVE(p, a, b, output)                                                                         \
    if (!(p)->shape.broadcast && (p)->input1_shift <= 0 && (p)->input2_shift <= 0 && (p)->output_shift <= 0) { \
        tg_add_mve(p, a, b, output);                                                                        \
        return;                                                                                             \
    }
#else
#define TG_ADD_MVE(p, a, b, output)
#endif

void tg_add_s8(const tg_add_params_t *p, const int8_t *a, const int8_t *b, int8_t *output)
{
    TG_ADD_MVE(p, a, b, output)
    TG_BCAST_LOOP(&p->shape, a, b, output, tg_add_one, p);
}

void tg_add_half_s8(const tg_add_params_t *p, const int8_t *a, const int8_t *b, int8_t *output)
{
#if TG_DSP
    TG_ADD_MVE(p, a, b, output)
    tg_add_dsp(p, a, b, output);
#else
    tg_add_s8(p, a, b, output);
#endif
}

void tg_add_period_s8(const tg_add_params_t *p, const int8_t *a, const int8_t *b, int8_t *output)
{
#if TG_DSP
    tg_add_dsp_period(p, a, b, output); /* a periodic input is a broadcast: never Helium's */
#else
    tg_add_s8(p, a, b, output);
#endif
}

#if TG_DSP
/* MUL: TFLM's MultiplyByQuantizedMultiplier(prod, m, shift) as SMMULR(prod << (left + 1), m) and
 * RoundingDivideByPOT as in tg_add_step; exact where the generator proved it (|prod| <= 255 * 255). */
TG_INLINE int32_t tg_mul_step(int32_t prod, int32_t m, int32_t ls1, int32_t round, int32_t er)
{
    int32_t y;
    __asm__("smmulr %0, %1, %2" : "=r"(y) : "r"((int32_t)((uint32_t)prod << ls1)), "r"(m));
    return (round + (int32_t)((uint32_t)y << 1) + (y >> 31)) >> er;
}

/* The periodic MUL's elements 0, per, 2 per, ... below n of the full input f times one periodic value (k, kf: the
 * value with its offset, times the full input's offset), per clamp kind (see tg_add_period_run). */
TG_INLINE void tg_mul_period_run(const int8_t *f, int8_t *out, int32_t n, int32_t per, int32_t k, int32_t kf,
                                 int32_t m, int32_t ls1, int32_t r, int32_t er, int32_t lo, int32_t hi, int32_t zo,
                                 int sat)
{
    int32_t j;
    for (j = 0; j < n; j += per) {
        out[j] = (int8_t)(tg_eltwise_clamp(tg_mul_step((int32_t)f[j] * k + kf, m, ls1, r, er), lo, hi, sat) + zo);
    }
}

/* The MUL without broadcast, per clamp kind (see tg_add_period_run). */
TG_INLINE void tg_mul_flat_run(const tg_mul_params_t *p, const int8_t *a, const int8_t *b, int8_t *out, int32_t m,
                               int32_t ls1, int32_t r, int32_t er, int32_t lo, int32_t hi, int32_t zo, int sat)
{
    const int32_t o1 = p->input1_offset, o2 = p->input2_offset, n = p->shape.size;
    int32_t j;
    for (j = 0; j < n; j++) {
        const int32_t o = tg_mul_step(((int32_t)a[j] + o1) * ((int32_t)b[j] + o2), m, ls1, r, er);
        out[j] = (int8_t)(tg_eltwise_clamp(o, lo, hi, sat) + zo);
    }
}

__attribute__((noinline)) static void tg_mul_dsp(const tg_mul_params_t *p, const int8_t *a, const int8_t *b,
                                                 int8_t *out)
{
    const int32_t m = p->output_multiplier, ls1 = p->lshift1, er = p->rshift1, r = p->round;
    const int32_t zo = p->offset_folded ? 0 : p->output_offset;
    const int32_t lo = p->act_min - zo, hi = p->act_max - zo;
    const int sat = zo == 0 && lo == -128 && hi == 127; /* one SSAT */
    int32_t c;
    if (p->period == 0) {
        if (sat) {
            tg_mul_flat_run(p, a, b, out, m, ls1, r, er, -128, 127, 0, 1);
        } else {
            tg_mul_flat_run(p, a, b, out, m, ls1, r, er, lo, hi, zo, 0);
        }
        return;
    }
    {
        const int32_t f1 = p->full, per = p->period, n = p->shape.size;
        const int8_t *f = f1 ? b : a, *q = f1 ? a : b;
        const int32_t foff = f1 ? p->input2_offset : p->input1_offset;
        const int32_t qoff = f1 ? p->input1_offset : p->input2_offset;
        for (c = 0; c < per; c++) {
            const int32_t k = (int32_t)q[c] + qoff;
            if (sat) {
                tg_mul_period_run(f + c, out + c, n - c, per, k, k * foff, m, ls1, r, er, -128, 127, 0, 1);
            } else {
                tg_mul_period_run(f + c, out + c, n - c, per, k, k * foff, m, ls1, r, er, lo, hi, zo, 0);
            }
        }
    }
}
#endif

void tg_mul_s8(const tg_mul_params_t *p, const int8_t *a, const int8_t *b, int8_t *output)
{
#if TG_DSP
    if (p->dsp && (p->period > 0 || !p->shape.broadcast)) {
        tg_mul_dsp(p, a, b, output);
        return;
    }
#endif
    TG_BCAST_LOOP(&p->shape, a, b, output, tg_mul_one, p);
}
