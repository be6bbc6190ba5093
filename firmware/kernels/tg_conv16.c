/* CONV_2D with int16 activations and int8 weights (16x8), and TRANSPOSE_CONV (int8 and 16x8),
 * bit-exact with TFLite Micro's reference kernels (see tinygen/ops/conv16.py). Portable C99. */
#include <string.h>

#include "tg_kernels.h"
#include "tg_requant.h"

/* TFLite's MultiplyByQuantizedMultiplier(int64_t x, int32_t M, int shift): one rounding with M
 * reduced to 16 bits; |x| < 2^47 keeps x * M16 within int64. Saturates to int32 where TFLite
 * would abort. (Right shifts of negative values: arithmetic on every compiler tinygen targets.) */
static int32_t tg_mbqm64(int64_t x, int32_t multiplier, int32_t shift)
{
    const int64_t reduced = multiplier < 0x7FFF0000 ? (int64_t)((multiplier + (1 << 15)) >> 16) : 0x7FFF;
    const int total = 15 - (int)shift;
    int64_t r = x * reduced + ((int64_t)1 << (total - 1));
    r >>= total;
    if (r > TG_INT32_MAX) {
        return TG_INT32_MAX;
    }
    if (r < TG_INT32_MIN) {
        return TG_INT32_MIN;
    }
    return (int32_t)r;
}

/* acc (bias included; int32 accumulators arrive wrapped) -> output value, clamped. */
static int32_t tg_conv16_out(const tg_conv16_params_t *p, int64_t acc, int32_t oc)
{
    int32_t y;
    if (p->acc64) {
        y = tg_mbqm64(acc, p->multiplier[oc], p->shift[oc]);
    } else {
        y = tg_mbqm((int32_t)acc, p->multiplier[oc], p->shift[oc]);
    }
    return tg_offset_clamp(y, p->output_zp, p->act_min, p->act_max);
}

/* int32 two's complement wrap of an int64 (C's int32 overflow is undefined; TFLM's wraps). */
static int64_t tg_wrap32(int64_t v)
{
    return (int64_t)(int32_t)(uint32_t)(uint64_t)v;
}

void tg_conv2d_s16(const tg_conv16_params_t *p, const int16_t *input, int16_t *output)
{
    const int32_t cf = p->in_c / p->groups;
    const int32_t fg = p->out_c / p->groups;
    int32_t b, oy, ox, oc, ky, kx, ic;
    for (b = 0; b < p->batches; b++) {
        const int16_t *image = input + (size_t)b * p->in_h * p->in_w * p->in_c;
        for (oy = 0; oy < p->out_h; oy++) {
            for (ox = 0; ox < p->out_w; ox++) {
                for (oc = 0; oc < p->out_c; oc++) {
                    const int32_t g = oc / fg;
                    const int8_t *w = p->weights + (size_t)oc * p->k_h * p->k_w * cf;
                    int64_t acc = 0;
                    for (ky = 0; ky < p->k_h; ky++) {
                        const int32_t iy = oy * p->stride_h - p->pad_top + ky * p->dil_h;
                        if (iy < 0 || iy >= p->in_h) {
                            continue;
                        }
                        for (kx = 0; kx < p->k_w; kx++) {
                            const int32_t ix = ox * p->stride_w - p->pad_left + kx * p->dil_w;
                            const int16_t *px;
                            const int8_t *wt = w + ((size_t)ky * p->k_w + kx) * cf;
                            if (ix < 0 || ix >= p->in_w) {
                                continue;
                            }
                            px = image + ((size_t)iy * p->in_w + ix) * p->in_c + (size_t)g * cf;
                            for (ic = 0; ic < cf; ic++) {
                                acc += (int64_t)px[ic] * wt[ic];
                            }
                        }
                    }
                    if (p->acc64) {
                        if (p->bias64 != NULL) {
                            acc += p->bias64[oc];
                        }
                    } else {
                        acc = tg_wrap32(acc + (p->bias32 != NULL ? p->bias32[oc] : 0));
                    }
                    *output++ = (int16_t)tg_conv16_out(p, acc, oc);
                }
            }
        }
    }
}

void tg_transpose_conv(const tg_conv16_params_t *p, const void *input, void *output, void *scratch)
{
    const size_t plane = (size_t)p->out_h * p->out_w * p->out_c;
    int64_t *acc64 = (int64_t *)scratch;
    uint32_t *acc32 = (uint32_t *)scratch; /* int32 accumulators, wrapping (as unsigned) */
    int32_t b, iy, ix, ic, ky, kx, oc;
    size_t i;
    for (b = 0; b < p->batches; b++) {
        const size_t in_off = (size_t)b * p->in_h * p->in_w * p->in_c;
        if (p->acc64) {
            memset(acc64, 0, plane * sizeof(int64_t));
        } else {
            memset(acc32, 0, plane * sizeof(uint32_t));
        }
        for (iy = 0; iy < p->in_h; iy++) {
            for (ix = 0; ix < p->in_w; ix++) {
                for (ic = 0; ic < p->in_c; ic++) {
                    const size_t at = in_off + ((size_t)iy * p->in_w + ix) * p->in_c + ic;
                    const int32_t x = (p->int16 ? (int32_t)((const int16_t *)input)[at] : (int32_t)((const int8_t *)input)[at]) - p->input_zp;
                    for (ky = 0; ky < p->k_h; ky++) {
                        const int32_t oy = iy * p->stride_h - p->pad_top + ky;
                        if (oy < 0 || oy >= p->out_h) {
                            continue;
                        }
                        for (kx = 0; kx < p->k_w; kx++) {
                            const int32_t ox = ix * p->stride_w - p->pad_left + kx;
                            const size_t o = ((size_t)oy * p->out_w + ox) * p->out_c;
                            const int8_t *w = p->weights + ((size_t)ky * p->k_w + kx) * p->in_c + ic;
                            const size_t wstep = (size_t)p->k_h * p->k_w * p->in_c;
                            if (ox < 0 || ox >= p->out_w) {
                                continue;
                            }
                            if (p->acc64) {
                                for (oc = 0; oc < p->out_c; oc++) {
                                    acc64[o + oc] += (int64_t)x * w[oc * wstep];
                                }
                            } else {
                                for (oc = 0; oc < p->out_c; oc++) {
                                    acc32[o + oc] += (uint32_t)(x * w[oc * wstep]);
                                }
                            }
                        }
                    }
                }
            }
        }
        for (i = 0; i < plane; i++) {
            const int32_t oc_i = (int32_t)(i % (size_t)p->out_c);
            int64_t acc;
            int32_t y;
            if (p->acc64) {
                acc = acc64[i] + (p->bias64 != NULL ? p->bias64[oc_i] : 0);
            } else {
                acc = tg_wrap32((int64_t)(int32_t)acc32[i] + (p->bias32 != NULL ? p->bias32[oc_i] : 0));
            }
            y = tg_conv16_out(p, acc, oc_i);
            if (p->int16) {
                ((int16_t *)output)[b * plane + i] = (int16_t)y;
            } else {
                ((int8_t *)output)[b * plane + i] = (int8_t)y;
            }
        }
    }
}
