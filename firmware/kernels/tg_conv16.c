/* CONV_2D with int16 activations and int8 weights (16x8), and TRANSPOSE_CONV (int8 and 16x8),
 * bit-exact with TFLite Micro's reference kernels (see tinygen/ops/conv16.py). Portable C99. */
#include "tg_kernels.h"
#include "tg_requant.h"

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

/* TRANSPOSE_CONV as a gather: each output pixel sums the input taps that scatter into it
 * (oy = iy * stride_h - pad_top + ky, likewise x), over all input channels, into one accumulator
 * per output channel, so no scratch. The sum is the same as TFLM's scatter into whole-output
 * scratch accumulators: int64 sums are exact, int32 sums wrap (mod 2^32) whatever the order. */
void tg_transpose_conv(const tg_conv16_params_t *p, const void *input, void *output)
{
    const size_t wstep = (size_t)p->k_h * p->k_w * p->in_c;
    size_t at_out = 0;
    int32_t b, oy, ox, oc, ky, kx, ic;
    for (b = 0; b < p->batches; b++) {
        const size_t in_off = (size_t)b * p->in_h * p->in_w * p->in_c;
        for (oy = 0; oy < p->out_h; oy++) {
            const int32_t ty = oy + p->pad_top; /* = iy * stride_h + ky */
            const int32_t ky0 = ty % p->stride_h;
            for (ox = 0; ox < p->out_w; ox++) {
                const int32_t tx = ox + p->pad_left;
                const int32_t kx0 = tx % p->stride_w;
                for (oc = 0; oc < p->out_c; oc++) {
                    const int8_t *wo = p->weights + (size_t)oc * wstep;
                    int64_t acc64 = 0;
                    uint32_t acc32 = 0; /* int32 accumulator, wrapping (as unsigned) */
                    int64_t acc;
                    int32_t y;
                    for (ky = ky0; ky < p->k_h && ky <= ty; ky += p->stride_h) {
                        const int32_t iy = (ty - ky) / p->stride_h;
                        if (iy >= p->in_h) {
                            continue;
                        }
                        for (kx = kx0; kx < p->k_w && kx <= tx; kx += p->stride_w) {
                            const int32_t ix = (tx - kx) / p->stride_w;
                            const size_t at = in_off + ((size_t)iy * p->in_w + ix) * p->in_c;
                            const int8_t *w = wo + ((size_t)ky * p->k_w + kx) * p->in_c;
                            if (ix >= p->in_w) {
                                continue;
                            }
                            if (p->int16) {
                                const int16_t *x = (const int16_t *)input + at;
                                for (ic = 0; ic < p->in_c; ic++) {
                                    acc64 += (int64_t)x[ic] * w[ic];
                                }
                            } else if (p->acc64) {
                                const int8_t *x = (const int8_t *)input + at;
                                for (ic = 0; ic < p->in_c; ic++) {
                                    acc64 += (int64_t)((int32_t)x[ic] - p->input_zp) * w[ic];
                                }
                            } else {
                                const int8_t *x = (const int8_t *)input + at;
                                for (ic = 0; ic < p->in_c; ic++) {
                                    acc32 += (uint32_t)(((int32_t)x[ic] - p->input_zp) * w[ic]);
                                }
                            }
                        }
                    }
                    if (p->int16 || p->acc64) {
                        acc = p->acc64 ? acc64 : tg_wrap32(acc64);
                    } else {
                        acc = (int64_t)(int32_t)acc32;
                    }
                    if (p->acc64) {
                        acc += p->bias64 != NULL ? p->bias64[oc] : 0;
                    } else {
                        acc = tg_wrap32(acc + (p->bias32 != NULL ? p->bias32[oc] : 0));
                    }
                    y = tg_conv16_out(p, acc, oc);
                    if (p->int16) {
                        ((int16_t *)output)[at_out++] = (int16_t)y;
                    } else {
                        ((int8_t *)output)[at_out++] = (int8_t)y;
                    }
                }
            }
        }
    }
}
