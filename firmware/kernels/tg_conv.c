/*
 * CONV_2D and DEPTHWISE_CONV_2D, int8 (TFLM reference_integer_ops::ConvPerChannel /
 * DepthwiseConvPerChannel semantics) with the zero-point term folded into the bias:
 *
 *   acc = sum over taps inside the image of w * x  +  sum over padded taps of w * input_zp
 *       + bias_folded                       (bias_folded = bias - input_zp * sum(w))
 *
 * which equals TFLM's sum of w * (x - input_zp) over the inside taps + bias. The products
 * are summed in int32 (|w * x| <= 2^14, at most 2^16 taps per output); the bias is added
 * with wrap-around, as TFLM's int32 accumulator would.
 */
#include "tg_kernels.h"
#include "tg_requant.h"

/* The inner product of the convolutions. A Cortex-M DSP variant (SXTB16 + SMLAD, two
 * products per instruction) replaces this body under #if defined(__ARM_FEATURE_DSP). */
static int32_t tg_dot_s8(const int8_t *w, const int8_t *x, int32_t n)
{
    int32_t acc = 0;
    int32_t i;
    for (i = 0; i < n; i++) {
        acc += (int32_t)w[i] * (int32_t)x[i];
    }
    return acc;
}

static int32_t tg_sum_s8(const int8_t *w, int32_t n)
{
    int32_t s = 0;
    int32_t i;
    for (i = 0; i < n; i++) {
        s += w[i];
    }
    return s;
}

void tg_conv2d_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t cg = p->in_c / p->groups;   /* input channels per group */
    const int32_t fg = p->out_c / p->groups;  /* output channels per group */
    const int32_t tap_stride = cg;
    const int32_t filter_stride = p->k_h * p->k_w * cg;
    int32_t b, oy, ox, oc, ky, kx;
    for (b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + (size_t)b * p->in_h * p->in_w * p->in_c;
        for (oy = 0; oy < p->out_h; oy++) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            for (ox = 0; ox < p->out_w; ox++) {
                const int32_t x0 = ox * p->stride_w - p->pad_left;
                for (oc = 0; oc < p->out_c; oc++) {
                    const int32_t c0 = (oc / fg) * cg;
                    const int8_t *w = p->weights + (size_t)oc * filter_stride;
                    int32_t acc = 0;
                    int32_t pad_sum = 0; /* sum of the weights of padded taps */
                    for (ky = 0; ky < p->k_h; ky++) {
                        const int32_t iy = y0 + ky * p->dil_h;
                        for (kx = 0; kx < p->k_w; kx++, w += tap_stride) {
                            const int32_t ix = x0 + kx * p->dil_w;
                            if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
                                pad_sum += tg_sum_s8(w, cg);
                            } else {
                                acc += tg_dot_s8(w, in_b + ((size_t)iy * p->in_w + ix) * p->in_c + c0, cg);
                            }
                        }
                    }
                    acc += pad_sum * p->input_zp;
                    acc = tg_wrap_add(acc, p->bias[oc]);
                    *output++ = tg_requant_s8(acc, p->mult[oc], p->shift[oc], p->output_zp, p->act_min, p->act_max);
                }
            }
        }
    }
}

void tg_conv2d_1x1_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t c = p->in_c;
    int32_t b, oy, ox, oc;
    for (b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + (size_t)b * p->in_h * p->in_w * c;
        for (oy = 0; oy < p->out_h; oy++) {
            for (ox = 0; ox < p->out_w; ox++) {
                const int8_t *x = in_b + ((size_t)(oy * p->stride_h) * p->in_w + (size_t)(ox * p->stride_w)) * c;
                const int8_t *w = p->weights;
                for (oc = 0; oc < p->out_c; oc++, w += c) {
                    const int32_t acc = tg_wrap_add(tg_dot_s8(w, x, c), p->bias[oc]);
                    *output++ = tg_requant_s8(acc, p->mult[oc], p->shift[oc], p->output_zp, p->act_min, p->act_max);
                }
            }
        }
    }
}

void tg_dwconv_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t dm = p->depth_multiplier;
    const int32_t oc_n = p->out_c;
    int32_t b, oy, ox, ic, m, ky, kx;
    for (b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + (size_t)b * p->in_h * p->in_w * p->in_c;
        for (oy = 0; oy < p->out_h; oy++) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            for (ox = 0; ox < p->out_w; ox++) {
                const int32_t x0 = ox * p->stride_w - p->pad_left;
                for (ic = 0; ic < p->in_c; ic++) {
                    for (m = 0; m < dm; m++) {
                        const int32_t oc = ic * dm + m;
                        const int8_t *w = p->weights + oc;
                        int32_t acc = 0;
                        int32_t pad_sum = 0;
                        for (ky = 0; ky < p->k_h; ky++) {
                            const int32_t iy = y0 + ky * p->dil_h;
                            for (kx = 0; kx < p->k_w; kx++, w += oc_n) {
                                const int32_t ix = x0 + kx * p->dil_w;
                                if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
                                    pad_sum += *w;
                                } else {
                                    acc += (int32_t)*w * (int32_t)in_b[((size_t)iy * p->in_w + ix) * p->in_c + ic];
                                }
                            }
                        }
                        acc += pad_sum * p->input_zp;
                        acc = tg_wrap_add(acc, p->bias[oc]);
                        *output++ = tg_requant_s8(acc, p->mult[oc], p->shift[oc], p->output_zp, p->act_min, p->act_max);
                    }
                }
            }
        }
    }
}
