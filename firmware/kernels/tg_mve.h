/*
 * tinygen kernels: Helium (the Armv8.1-M vector extension, MVE) variants for Cortex-M55/M85.
 *
 * TG_MVE is 1 where the compiler has integer MVE (__ARM_FEATURE_MVE bit 0: -mcpu=cortex-m55 or
 * cortex-m85) unless TG_PORTABLE or TG_NO_MVE is defined; the kernels in tg_mve.c then replace the
 * DSP (or C99) code of CONV_2D, FULLY_CONNECTED and ADD at their entry points (tg_conv.c, tg_fc.c,
 * tg_eltwise.c), reading the same parameter tables; DEPTHWISE_CONV_2D runs tg_dwconv_mve_s8, which the
 * generator calls for Helium targets (its own, plain parameter layout; a C99 loop elsewhere).
 *
 * The requantization is TFLM's MultiplyByQuantizedMultiplier on 4 lanes (tg_mve_rq):
 *   SaturatingRoundingDoublingHighMul(x, m)  = VQRDMULH (round(2xm / 2^32) saturated: the same
 *       rounding, floor((xm + 2^30) / 2^31), and the same saturation at x = m = INT32_MIN);
 *   RoundingDivideByPOT(y, r) (half away from zero) = VRSHL(y + (y < 0 ? -1 : 0), -r) for r >= 1:
 *       VRSHL rounds half up, floor((y + 2^(r-1)) / 2^r); one less in the numerator moves negative
 *       ties down (floor((y - 1 + 2^(r-1)) / 2^r) = floor(y / 2^r) + [y mod 2^r > 2^(r-1)],
 *       TFLM's threshold for y < 0), and leaves every other value where it was. The -1 is a
 *       saturating add (VQADD of y >> 31): y = INT32_MIN stays, and rounds to INT32_MIN >> r either way.
 */
#ifndef TG_MVE_H
#define TG_MVE_H

#include <stdint.h>

#include "tg_kernels.h"

#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1) && !defined(TG_PORTABLE) && !defined(TG_NO_MVE) && \
    !defined(__ARM_BIG_ENDIAN)
#define TG_MVE 1
#else
#define TG_MVE 0
#endif

#ifdef __cplusplus
extern "C" {
#endif

#if TG_MVE
/* Entry points the DSP / C99 kernels hand their ops to (tg_mve.c). Return 0 where they do not take
 * the op (the caller then runs its own code). */
int tg_conv2d_mve(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch);
void tg_fc_mve(const tg_fc_params_t *p, const int8_t *input, int8_t *output);
void tg_add_mve(const tg_add_params_t *p, const int8_t *a, const int8_t *b, int8_t *output);
#endif

/* DEPTHWISE_CONV_2D on Helium targets: tg_dwconv_mve_s8, declared in tg_kernels.h. */

#ifdef __cplusplus
}
#endif

#endif /* TG_MVE_H */
