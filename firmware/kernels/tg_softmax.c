/*
 * SOFTMAX int8 -> int8 / int16 over the last axis (TFLM's quantized reference softmax), and int16 ->
 * int16 (TFLM SoftmaxInt16, tables from tinygen/ops/softmax16.py) at the end of the file.
 *
 * Per row: diff = x - max(row) is in [-255, 0]; exp_table[-diff] holds the Q0.31
 * exp_on_negative_values of the rescaled diff (0 where diff < diff_min), computed by the
 * generator. The sum of exps is accumulated in Q12.19 (each term rounded down 12 bits),
 * inverted with GetReciprocal (Newton-Raphson 1/(1+x)) and every exp scaled by it.
 */
#include "tg_kernels.h"
#include "tg_requant.h"

/* Compiled for size: a model's head (a row of 2-1000 classes once per inference: 0.02 % of the corpus's
 * instructions) next to the 12 KB kernels + runtime budget (tg_softmax_s8 760 -> 616 B on Cortex-M4). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("Os")
#endif

/* gemmlowp RoundingHalfSum on int32: (a + b + sign(a + b)) / 2, truncating. */
static int32_t tg_rounding_half_sum(int32_t a, int32_t b)
{
    const int64_t s = (int64_t)a + (int64_t)b;
    return (int32_t)((s + (s >= 0 ? 1 : -1)) / 2);
}

/* 1 / (1 + a) for a in [0, 1), Q0.31 in and out (three Newton-Raphson steps in Q2.29). */
static int32_t tg_one_over_one_plus_x(int32_t a)
{
    const int32_t half_den = tg_rounding_half_sum(a, TG_INT32_MAX);
    int32_t x = tg_wrap_add(1515870810, tg_srdhm(half_den, -1010580540)); /* 48/17 - 32/17 d */
    int i;
    for (i = 0; i < 3; i++) {
        const int32_t one_minus = tg_wrap_sub((int32_t)1 << 29, tg_srdhm(half_den, x));
        x = tg_wrap_add(x, tg_sat_shl(tg_srdhm(x, one_minus), 2));
    }
    return tg_sat_shl(x, 1);
}

void tg_softmax_s8(const tg_softmax_params_t *p, const int8_t *input, void *output)
{
    const int32_t depth = p->depth;
    int8_t *out8 = (int8_t *)output;
    int16_t *out16 = (int16_t *)output;
    const int32_t lo = p->output_bits == 16 ? -32768 : -128;
    const int32_t hi = p->output_bits == 16 ? 32767 : 127;
    int32_t r, i;
    for (r = 0; r < p->rows; r++) {
        const int8_t *x = input + (size_t)r * depth;
        int32_t max = -128;
        int32_t sum = 0;
        int headroom;
        int32_t recip, exponent;
        for (i = 0; i < depth; i++) {
            if (x[i] > max) {
                max = x[i];
            }
        }
        for (i = 0; i < depth; i++) {
            sum = tg_wrap_add(sum, tg_rdbpot(p->exp_table[max - x[i]], 12));
        }
        /* GetReciprocal(sum, 12) */
        headroom = tg_clz32((uint32_t)sum); /* sum >= 2^19: the row maximum contributes exp(0) */
        recip = tg_one_over_one_plus_x(headroom < 32 ? (int32_t)(((uint32_t)sum << headroom) - 0x80000000u)
                                                     : TG_INT32_MIN);
        exponent = (12 - headroom) + 31 - p->output_bits;
        for (i = 0; i < depth; i++) {
            const int32_t e = p->exp_table[max - x[i]];
            /* RoundingDivideByPOT by 32 or more gives 0 for every int32 (as with a 64-bit shift) */
            const int32_t q = exponent < 32 ? tg_rdbpot(tg_srdhm(recip, e), (int)exponent) : 0;
            const int32_t v = tg_offset_clamp(q, lo, lo, hi);
            if (p->output_bits == 16) {
                out16[(size_t)r * depth + i] = (int16_t)v;
            } else {
                out8[(size_t)r * depth + i] = (int8_t)v;
            }
        }
    }
}

/* ------------------------------------------------------------------ int16 -> int16 (TFLM SoftmaxInt16) */

/* TFLM LUTLookup(int16_t, const int16_t *): 512 steps, 7 fraction bits of linear interpolation. */
static int16_t tg_lut16(int32_t v, const int16_t *lut)
{
    const int32_t index = 256 + (v >> 7);
    const int32_t offset = v & 0x7F;
    const int32_t base = lut[index];
    const int32_t slope = (int16_t)(lut[index + 1] - lut[index]);
    const int32_t delta = (slope * offset + 64) >> 7;
    return (int16_t)(base + delta);
}

static int32_t tg_clamp16(int32_t v)
{
    return v < -32768 ? -32768 : (v > 32767 ? 32767 : v);
}

void tg_softmax_s16(const tg_softmax16_params_t *p, const int16_t *input, int16_t *output)
{
    int32_t r, c;
    for (r = 0; r < p->rows; r++) {
        const int16_t *x = input + (size_t)r * p->depth;
        int16_t *y = output + (size_t)r * p->depth; /* holds the exps between the passes, as TFLM */
        int32_t max_in_row = -32768;
        int32_t sum = 0;
        int headroom, right;
        int32_t shifted, recip;
        for (c = 0; c < p->depth; c++) {
            max_in_row = x[c] > max_in_row ? x[c] : max_in_row;
        }
        for (c = 0; c < p->depth; c++) {
            const int32_t scaled = tg_mbqm(x[c] - max_in_row, p->multiplier, p->shift);
            y[c] = tg_lut16(tg_clamp16(scaled + 32767), p->exp_lut);
            sum += y[c];
        }
        headroom = tg_clz32((uint32_t)sum);
        shifted = (int32_t)((((int64_t)sum << (headroom - 1)) + (1 << 13)) >> 14);
        recip = tg_lut16(tg_clamp16(shifted - ((1 << 15) + (1 << 16))), p->recip_lut);
        right = 31 - headroom;
        for (c = 0; c < p->depth; c++) {
            const int32_t v = (int32_t)(((int64_t)y[c] * recip + ((int64_t)1 << (right - 1))) >> right);
            y[c] = (int16_t)(v < 0 ? 0 : (v > 32767 ? 32767 : v));
        }
    }
}
