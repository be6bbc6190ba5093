/*
 * tinygen kernels: TFLite Micro's integer requantization arithmetic in C99.
 *
 * Bit-exact with tinygen/fixedpoint.py (and so with TFLM's reference kernels):
 * the gemmlowp "double rounding" MultiplyByQuantizedMultiplier with a 64-bit
 * intermediate product, and the fixed-point helpers the softmax needs.
 *
 * Cortex-M DSP requantizations (below): the shortcut tg_rq_dsp (SMMULR; exact only where the
 * generator proved the accumulators small enough) and the exact tg_rqx_dsp (SMLAL; exact for
 * every accumulator when the shift is a right shift), whose arithmetic tg_rqx_ref spells out.
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

/* Offset of element (i0, ..., i4) of a tensor read through broadcast strides (0 along a broadcast axis):
 * the 5-axis loops of the broadcasting kernels (tg_bcast_t) index both inputs with it. A macro, not an
 * inline function: the same expression as written out, so the code does not change (the function cost
 * Cortex-M0 code 2-4 bytes per kernel). */
#define TG_BCAST_AT(st, i0, i1, i2, i3, i4) \
    ((i0) * (st)[0] + (i1) * (st)[1] + (i2) * (st)[2] + (i3) * (st)[3] + (i4) * (st)[4])

/* The 5-axis loop of a broadcasting kernel over output element k (counting up from the caller's k): the
 * statements run with ia, ib the offsets of element k in inputs a and b. The caller declares int32_t
 * i0, i1, i2, i3, i4 and k; d is s->dims. */
#define TG_BCAST_EACH(s, d, k, ...)                                                                           \
    for (i0 = 0; i0 < (d)[0]; i0++)                                                                           \
        for (i1 = 0; i1 < (d)[1]; i1++)                                                                       \
            for (i2 = 0; i2 < (d)[2]; i2++)                                                                   \
                for (i3 = 0; i3 < (d)[3]; i3++)                                                               \
                    for (i4 = 0; i4 < (d)[4]; i4++, (k)++) {                                                  \
                        const int32_t ia = TG_BCAST_AT((s)->a_strides, i0, i1, i2, i3, i4);                   \
                        const int32_t ib = TG_BCAST_AT((s)->b_strides, i0, i1, i2, i3, i4);                   \
                        __VA_ARGS__                                                                           \
                    }

/* Count of leading zero bits of a uint32 (32 for 0), portable C99. */
static inline int tg_clz32(uint32_t x)
{
    int n = 0;
    if (x == 0) {
        return 32;
    }
    while (!(x & 0x80000000u)) {
        x <<= 1;
        n++;
    }
    return n;
}

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

/* gemmlowp SaturatingRoundingMultiplyByPOT<exponent> for 0 < exponent < 31 (DIV / L2 and SOFTMAX). */
static inline int32_t tg_sat_shl(int32_t x, int exponent)
{
    const int32_t threshold = (int32_t)(((int32_t)1 << (31 - exponent)) - 1);
    if (x > threshold) {
        return TG_INT32_MAX;
    }
    if (x < -threshold) {
        return TG_INT32_MIN;
    }
    return tg_wrap_shl(x, exponent);
}

TG_INLINE int32_t tg_clamp(int32_t x, int32_t lo, int32_t hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

/* clamp(x + offset, lo, hi) without int32 overflow (x may be near the int32 limits): x is compared
 * with lo - offset and hi - offset, which cannot overflow for the int8/int16 ranges and zero
 * points this is used with (|lo|, |hi|, |offset| < 2^30), so no 64-bit arithmetic is needed. */
TG_INLINE int32_t tg_offset_clamp(int32_t x, int32_t offset, int32_t lo, int32_t hi)
{
    return x < lo - offset ? lo : (x > hi - offset ? hi : x + offset);
}

/* gemmlowp SaturatingRoundingDoublingHighMul(a, b): round(a * b / 2^31), saturating.
 * gemmlowp divides ab + (ab >= 0 ? 2^30 : 1 - 2^30) by 2^31 truncating toward zero; for ab < 0
 * that is ceil((ab + 1 - 2^30) / 2^31) = floor((ab + 2^30) / 2^31), the same floor as for ab >= 0:
 * one add and an arithmetic shift of the 64-bit product, no division (on RV32: MUL, MULH, a
 * carry and a funnel shift; the high word alone is not enough, the rounding bit is bit 30). */
TG_INLINE int32_t tg_srdhm(int32_t a, int32_t b)
{
    if (a == TG_INT32_MIN && b == TG_INT32_MIN) {
        return TG_INT32_MAX;
    }
    return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 30)) >> 31);
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

/* TFLite's MultiplyByQuantizedMultiplier(int64_t x, int32_t M, int shift) (16x8 convolutions, LSTM,
 * BATCH_MATMUL, TRANSPOSE_CONV with int64 accumulators): one rounding with M reduced to 16 bits, the int64
 * result narrowed to int32 with wrap-around as TFLM's release build does (its range assert is compiled
 * out; callers then clamp). Right shifts of negative values: arithmetic on every compiler tinygen targets. */
static inline int32_t tg_mbqm64(int64_t x, int32_t multiplier, int32_t shift)
{
    const int64_t reduced = multiplier < 0x7FFF0000 ? (int64_t)((multiplier + (1 << 15)) >> 16) : 0x7FFF;
    const int total = 15 - (int)shift;
    const uint32_t u = (uint32_t)(uint64_t)((x * reduced + ((int64_t)1 << (total - 1))) >> total);
    return u >= 0x80000000u ? (int32_t)(u - 0x80000000u) - (int32_t)0x7FFFFFFF - 1 : (int32_t)u;
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

/*
 * The exact DSP requantization (tg_rqx_t rows, see tg_kernels.h) in portable C: the arithmetic the
 * DSP kernels do with one SMLAL, written with int64_t. Equal to tg_mbqm(acc, mult, -(rm1 + 1)) for
 * every int32 acc when 0 <= rm1 <= 30 and mult is 0 or in [2^30, 2^31) (TFLM's QuantizeMultiplier):
 *
 *   SaturatingRoundingDoublingHighMul(a, m) = floor((a * m + 2^30) / 2^31)   (m >= 0: gemmlowp's
 *       truncating division of a * m + (a * m >= 0 ? 2^30 : 1 - 2^30) is that floor; no saturation);
 *   RoundingDivideByPOT(y, r) = floor((y + 2^(r-1) - [y < 0]) / 2^r), and y < 0 <=> a < 0 whenever
 *       it matters (m > 2^30; for m in {0, 2^30} and a = -1, y = 0 either way);
 *   nested floors: result = floor((a * m + 2^30 + 2^(30+r) - [a < 0] * 2^31) / 2^(31+r))
 *       = hi(a * m + K - [a < 0] * 2^31) >> (r - 1), K = klo + 2^32 * khi = 2^30 + 2^(30+r),
 *   and hi(P - 2^31) = hi(P) - [bit 31 of lo(P) is clear]: one BIC and one ADD after the SMLAL.
 */
TG_INLINE int32_t tg_rqx_ref(int32_t acc, int32_t mult, int32_t klo, int32_t khi, int32_t rm1)
{
    const int64_t k = (int64_t)(((uint64_t)(uint32_t)khi << 32) | (uint32_t)klo);
    const int64_t p = (int64_t)acc * mult + k; /* |acc * mult| <= 2^62, K <= 2^62: no overflow */
    int32_t hi = (int32_t)(p >> 32);
    const uint32_t lo = (uint32_t)p;
    if (acc < 0 && !(lo & 0x80000000u)) {
        hi -= 1;
    }
    return hi >> rm1;
}

/* ------------------------------------------------------------------ Cortex-M DSP helpers */

/* TG_DSP: compile the DSP variants (Cortex-M4/M7/M33... with the DSP extension), unless
 * TG_PORTABLE is defined. */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__thumb2__) && !defined(__ARM_BIG_ENDIAN) && \
    !defined(TG_PORTABLE)
#define TG_DSP 1
#else
#define TG_DSP 0
#endif

#if TG_DSP
#include <arm_acle.h>
#include <string.h>

/* 32-bit load from any address (LDR: Cortex-M3/M4/M7 allow unaligned single loads). */
TG_INLINE uint32_t tg_ld32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

TG_INLINE void tg_st32(void *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

/* int8 lanes 0 and 2 of x as two int16 lanes */
TG_INLINE uint32_t tg_sxtb16(uint32_t x)
{
    return (uint32_t)__sxtb16((int32_t)x);
}

/* int8 lanes 1 and 3 of x as two int16 lanes (SXTB16 with its built-in rotation) */
TG_INLINE uint32_t tg_sxtb16_ror8(uint32_t x)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

/* acc + lo(a) * lo(b) + hi(a) * hi(b), int16 lanes, wrapping like the C99 path's int32 sums */
TG_INLINE int32_t tg_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    return __smlad((int32_t)a, (int32_t)b, acc);
}

TG_INLINE int32_t tg_smlabb(uint32_t a, uint32_t b, int32_t acc)
{
    return __smlabb((int32_t)a, (int32_t)b, acc);
}

TG_INLINE int32_t tg_smlatt(uint32_t a, uint32_t b, int32_t acc)
{
    return __smlatt((int32_t)a, (int32_t)b, acc);
}

/*
 * Requantization with three instructions fewer than tg_mbqm, for ops where the generator
 * proved it exact (tg_rq_t, `dsp` = 1), i.e. |acc| * 2^(left + 1) < 2^31 and no int32 overflow
 * below:
 *   SaturatingRoundingDoublingHighMul(acc << left, mult) = SMMULR(acc << (left + 1), mult)
 *       ((2x * m + 2^31) >> 32 == (x * m + 2^30) >> 31, and the saturating case needs
 *       x == m == INT32_MIN);
 *   RoundingDivideByPOT(y, right) + zp = (2y + 2^right - (y < 0) + zp * 2^(right+1)) >> (right + 1)
 *       (rounding half away from zero; the odd numerator makes the -1 act as -2 would).
 * rq->round holds 2^right + zp * 2^(right + 1); rq->shifts bits 0-7 right + 1 (ASR by a
 * register uses its bottom byte), bits 8-15 left + 1. Returns the value before clamping.
 */
TG_INLINE int32_t tg_rq_dsp(int32_t acc, int32_t mult, int32_t round, int32_t shifts)
{
    int32_t y;
    int32_t t;
    const int32_t x = (int32_t)((uint32_t)acc << ((uint32_t)shifts >> 8));
    __asm__("smmulr %0, %1, %2" : "=r"(y) : "r"(x), "r"(mult));
    t = (int32_t)((uint32_t)round + ((uint32_t)y << 1)) + (y >> 31);
    __asm__("asr %0, %1, %2" : "=r"(t) : "r"(t), "r"(shifts));
    return t;
}
/* tg_rq_dsp + saturation to int8 with the parameters loaded by one LDM (rq: a tg_rq_t). */
TG_INLINE int32_t tg_rq_sat8(int32_t acc, const void *rq)
{
    int32_t out;
    __asm__("ldm    %[rq], {r4, r5, r6}\n\t"
            "lsr    %[o], r6, #8\n\t"
            "lsl    %[o], %[acc], %[o]\n\t"
            "smmulr %[o], %[o], r4\n\t"
            "add    r5, r5, %[o], lsl #1\n\t"
            "add    r5, r5, %[o], asr #31\n\t"
            "asr    r5, r5, r6\n\t"
            "ssat   %[o], #8, r5\n\t"
            : [o] "=&r"(out)
            : [acc] "r"(acc), [rq] "r"(rq), "m"(*(const int32_t(*)[3])rq)
            : "r4", "r5", "r6");
    return out;
}

/*
 * The exact requantization (see tg_rqx_ref) on the DSP extension: 4 instructions after the row is
 * loaded, as cheap as the shortcut and exact for every accumulator. rx: a tg_rqx_t row
 * {mult, klo, khi, rm1}. Returns the requantized value before the output zero point and clamping.
 * Assembly kernels use the same sequence (TG_RQX_ASM).
 */
TG_INLINE int32_t tg_rqx_dsp(int32_t acc, int32_t mult, int32_t klo, int32_t khi, int32_t rm1)
{
    uint32_t lo = (uint32_t)klo;
    int32_t hi = khi;
    __asm__("smlal  %[lo], %[hi], %[a], %[m]\n\t"
            "bic    %[lo], %[a], %[lo]\n\t"
            "add    %[hi], %[hi], %[lo], asr #31\n\t"
            "asr    %[hi], %[hi], %[s]"
            : [lo] "+&r"(lo), [hi] "+&r"(hi)
            : [a] "r"(acc), [m] "r"(mult), [s] "r"(rm1));
    return hi;
}

/* tg_rqx_dsp + output zero point + saturation to int8 (rx: a tg_rqx_t row {mult, klo, khi, rm1}). */
TG_INLINE int32_t tg_rqx_sat8(int32_t acc, const int32_t *rx, int32_t zp)
{
    return __ssat(tg_rqx_dsp(acc, rx[0], rx[1], rx[2], rx[3]) + zp, 8);
}

/* The same in an assembly kernel: ACC (in/out: the int8-saturated result) with the row in
 * registers M, KLO, KHI (both clobbered), RM1 and the output zero point in ZP. */
#define TG_RQX_ASM(ACC, M, KLO, KHI, RM1, ZP)               \
    "smlal  " KLO ", " KHI ", " ACC ", " M "\n\t"          \
    "bic    " KLO ", " ACC ", " KLO "\n\t"                 \
    "add    " KHI ", " KHI ", " KLO ", asr #31\n\t"        \
    "asr    " KHI ", " KHI ", " RM1 "\n\t"                 \
    "add    " KHI ", " KHI ", " ZP "\n\t"                  \
    "ssat   " ACC ", #8, " KHI "\n\t"

/* Left-shifted channels (TFLM shift L >= 0, tg_rqx_t row {mult, INT32_MIN, 0, -(L + 1)}: rm1 < 0):
 * SaturatingRoundingDoublingHighMul(acc << L, mult) = floor((2 (acc << L) mult + 2^31) / 2^32), the
 * high word after two SMLALs of (acc << L) * mult onto klo = 2^31 (RoundingDivideByPOT by 0 is the
 * identity; mult < 2^31, so the saturating case cannot occur). ACC: in/out, KLO/KHI clobbered; L holds
 * the shift L (the row's ~rm1). */
#define TG_LQX_ASM(ACC, M, KLO, KHI, L, ZP)                    \
        "lsl    " ACC ", " ACC ", " L "\n\t"                   \
        "smlal  " KLO ", " KHI ", " ACC ", " M "\n\t"          \
        "smlal  " KLO ", " KHI ", " ACC ", " M "\n\t"          \
        "add    " KHI ", " KHI ", " ZP "\n\t"                  \
        "ssat   " ACC ", #8, " KHI "\n\t"

/* 4 int32 values already saturated to int8 -> one word of 4 int8 lanes (a in lane 0) */
TG_INLINE uint32_t tg_pack4(int32_t a, int32_t b, int32_t c, int32_t d)
{
    uint32_t r = (uint32_t)a;
    __asm__("bfi %0, %1, #8, #8" : "+r"(r) : "r"(b));
    __asm__("bfi %0, %1, #16, #8" : "+r"(r) : "r"(c));
    __asm__("bfi %0, %1, #24, #8" : "+r"(r) : "r"(d));
    return r;
}

/* per int8 lane: max(v, lo) then min(., hi) (lo4/hi4: the bounds in every lane) */
TG_INLINE uint32_t tg_clamp4(uint32_t v, uint32_t lo4, uint32_t hi4)
{
    (void)__ssub8((int32_t)v, (int32_t)lo4);
    v = (uint32_t)__sel((int32_t)v, (int32_t)lo4);
    (void)__ssub8((int32_t)v, (int32_t)hi4);
    return (uint32_t)__sel((int32_t)hi4, (int32_t)v);
}

/* An empty asm statement in a loop body keeps the compiler from turning a short copy or fill
 * loop into a call to memcpy / memmove / memset (newlib-nano's copy bytes one at a time). */
#define TG_NO_LIBCALL() __asm__ volatile("")

/* The DSP inner loops are asm statements without a "memory" clobber (so that their
 * accumulators stay in registers): call this between writing a scratch buffer and reading it
 * from such a loop. */
TG_INLINE void tg_barrier(void)
{
    __asm__ volatile("" : : : "memory");
}

TG_INLINE uint32_t tg_splat4(int32_t v)
{
    return (uint32_t)(uint8_t)v * 0x01010101u;
}
#endif /* TG_DSP */

#ifdef __cplusplus
}
#endif

#endif /* TG_REQUANT_H */
