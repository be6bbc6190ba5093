/*
 * tinygen kernels: TFLite Micro's integer requantization arithmetic in C99.
 *
 * Bit-exact with tinygen/fixedpoint.py (and so with TFLM's reference kernels):
 * the gemmlowp "double rounding" MultiplyByQuantizedMultiplier with a 64-bit
 * intermediate product, and the fixed-point helpers the softmax needs.
 *
 * Everything here avoids signed-overflow undefined behaviour: wrapping int32
 * arithmetic is done in uint32_t and converted back (gcc/clang/armcc define the
 * conversion as modulo 2^32). Right shifts of negative values are arithmetic on
 * every supported compiler.
 */
#ifndef TG_REQUANT_H
#define TG_REQUANT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define TG_INLINE static inline __attribute__((always_inline))
#else
#define TG_INLINE static inline
#endif

#define TG_INT32_MIN ((int32_t)(-2147483647 - 1))
#define TG_INT32_MAX ((int32_t)2147483647)

/* a + b with two's complement wrap-around (C's int32 overflow is undefined). */
TG_INLINE int32_t tg_wrap_add(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

TG_INLINE int32_t tg_wrap_sub(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a - (uint32_t)b);
}

/* x * 2^n wrapped to int32 (0 <= n <= 31). */
TG_INLINE int32_t tg_wrap_shl(int32_t x, int n)
{
    return (int32_t)((uint32_t)x << n);
}

TG_INLINE int32_t tg_clamp(int32_t x, int32_t lo, int32_t hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

/* clamp(x + offset, lo, hi) without int32 overflow (x may be near the int32 limits). */
TG_INLINE int32_t tg_offset_clamp(int32_t x, int32_t offset, int32_t lo, int32_t hi)
{
    const int64_t v = (int64_t)x + offset;
    return v < lo ? lo : (v > hi ? hi : (int32_t)v);
}

/* gemmlowp SaturatingRoundingDoublingHighMul(a, b): round(a * b / 2^31), saturating. */
TG_INLINE int32_t tg_srdhm(int32_t a, int32_t b)
{
    int64_t ab;
    int64_t nudge;
    if (a == TG_INT32_MIN && b == TG_INT32_MIN) {
        return TG_INT32_MAX;
    }
    ab = (int64_t)a * (int64_t)b;
    nudge = ab >= 0 ? (int64_t)(1 << 30) : (int64_t)(1 - (1 << 30));
    /* C division truncates toward zero, as gemmlowp's does */
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

/* gemmlowp RoundingDivideByPOT(x, exponent): x / 2^exponent rounded half away from zero (0 <= exponent <= 31). */
TG_INLINE int32_t tg_rdbpot(int32_t x, int exponent)
{
    const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* TFLM MultiplyByQuantizedMultiplier(x, multiplier, shift): shift > 0 shifts left first. */
TG_INLINE int32_t tg_mbqm(int32_t x, int32_t multiplier, int32_t shift)
{
    const int left = shift > 0 ? (int)shift : 0;
    const int right = shift > 0 ? 0 : (int)-shift;
    return tg_rdbpot(tg_srdhm(tg_wrap_shl(x, left), multiplier), right);
}

/* TFLM MultiplyByQuantizedMultiplierSmallerThanOneExp (shift <= 0). */
TG_INLINE int32_t tg_mbqm_lt1(int32_t x, int32_t multiplier, int32_t shift)
{
    return tg_rdbpot(tg_srdhm(x, multiplier), (int)-shift);
}

/* TFLM MultiplyByQuantizedMultiplierGreaterThanOne (left_shift >= 0). */
TG_INLINE int32_t tg_mbqm_gt1(int32_t x, int32_t multiplier, int32_t left_shift)
{
    return tg_srdhm(tg_wrap_shl(x, (int)left_shift), multiplier);
}

/* The common end of TFLM's int8 conv / depthwise / fully-connected kernels:
 * acc (already including the bias) -> requantize -> + output zero point -> clamp. */
TG_INLINE int8_t tg_requant_s8(int32_t acc, int32_t multiplier, int32_t shift, int32_t output_zp,
                               int32_t act_min, int32_t act_max)
{
    return (int8_t)tg_offset_clamp(tg_mbqm(acc, multiplier, shift), output_zp, act_min, act_max);
}

#ifdef __cplusplus
}
#endif

#endif /* TG_REQUANT_H */
