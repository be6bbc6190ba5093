/*
 * QUANTIZE float32 -> int8 / int16 and DEQUANTIZE int8 -> float32 (TFLM AffineQuantize / Dequantize), and
 * the table lookup of QUANTIZE int8 -> int16 / int32 (tg_lut_s8_wide: 256 entries of the output type).
 *
 * Quantize: q = (int32)round(x / scale) + zero_point, clamped to int8. The division is a
 * float32 division, round() goes half away from zero (computed exactly, without libm), and
 * values outside the int32 range (and NaN) become INT32_MIN as static_cast does on x86,
 * where the reference runs.
 */
#include "tg_kernels.h"
#include "tg_requant.h"

void tg_quantize_f32(const float *input, void *output, int32_t size, float scale, int32_t zero_point, int32_t out_bytes)
{
    int32_t i;
    for (i = 0; i < size; i++) {
        const float q = input[i] / scale;
        int32_t r;
        if (q >= -2147483648.0f && q < 2147483648.0f) {
            r = (int32_t)q; /* truncates toward zero */
            {
                const float frac = q - (float)r; /* exact */
                if (frac >= 0.5f) {
                    r += 1;
                } else if (frac <= -0.5f) {
                    r -= 1;
                }
            }
        } else {
            r = TG_INT32_MIN;
        }
        if (out_bytes == 2) {
            ((int16_t *)output)[i] = (int16_t)tg_clamp(tg_wrap_add(r, zero_point), -32768, 32767);
        } else {
            ((int8_t *)output)[i] = (int8_t)tg_clamp(tg_wrap_add(r, zero_point), -128, 127);
        }
    }
}

void tg_lut_s8_wide(const int8_t *input, void *output, int32_t size, const void *table, int32_t out_bytes)
{
    int32_t i;
    if (out_bytes == 2) {
        for (i = 0; i < size; i++) {
            ((int16_t *)output)[i] = ((const int16_t *)table)[input[i] + 128];
        }
    } else {
        for (i = 0; i < size; i++) {
            ((int32_t *)output)[i] = ((const int32_t *)table)[input[i] + 128];
        }
    }
}

void tg_dequantize_s8_f32(const int8_t *input, float *output, int32_t size, float scale, int32_t zero_point)
{
    int32_t i;
    for (i = 0; i < size; i++) {
        output[i] = scale * (float)((int32_t)input[i] - zero_point);
    }
}
