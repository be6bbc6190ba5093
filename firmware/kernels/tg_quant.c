/*
 * QUANTIZE float32 -> int8 and DEQUANTIZE int8 -> float32 (TFLM AffineQuantize / Dequantize).
 *
 * Quantize: q = (int32)round(x / scale) + zero_point, clamped to int8. The division is a
 * float32 division, round() goes half away from zero (computed exactly, without libm), and
 * values outside the int32 range (and NaN) become INT32_MIN as static_cast does on x86,
 * where the reference runs.
 */
#include "tg_kernels.h"
#include "tg_requant.h"

void tg_quantize_f32_s8(const float *input, int8_t *output, int32_t size, float scale, int32_t zero_point)
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
        output[i] = (int8_t)tg_clamp(tg_wrap_add(r, zero_point), -128, 127);
    }
}

void tg_dequantize_s8_f32(const int8_t *input, float *output, int32_t size, float scale, int32_t zero_point)
{
    int32_t i;
    for (i = 0; i < size; i++) {
        output[i] = scale * (float)((int32_t)input[i] - zero_point);
    }
}
