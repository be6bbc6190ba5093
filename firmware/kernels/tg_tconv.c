/* TRANSPOSE_CONV int8, Cortex-M DSP variant (see tinygen/ops/conv16.py). Same gather formulation and the
 * same int32 (wrapping) sums as tg_transpose_conv in tg_conv16.c, reorganised per output pixel: each
 * input pixel a tap reads is widened once to int16 with its zero point subtracted (SXTB16, SSUB16: lanes
 * k, k + 2 then k + 1, k + 3) into scratch, and every output channel's weight row is multiplied against
 * it 4 values per 32-bit load (SXTB16 / SXTB16 ROR 8, two SMLAD), into one int32 accumulator per
 * channel in scratch. SMLAD adds modulo 2^32 like TFLM's int32 accumulators, so the result is exact.
 * scratch: 4 * out_c + 2 * (in_c rounded up to 4) bytes. Without the DSP extension (or with
 * TG_PORTABLE) it runs tg_transpose_conv.
 *
 * 16x8 (int16 input, int8 weights, int64 accumulators as TFLM): the same per-pixel organisation, the
 * input pixel's int16 values regrouped into lane pairs (k, k + 2), (k + 1, k + 3) in scratch, SMLALD
 * (two 16 x 16 products into a 64-bit accumulator) per weight half-word pair. scratch: 8 * out_c +
 * 2 * (in_c rounded up to 4) bytes. */
#include "tg_kernels.h"
#include "tg_requant.h"

#if TG_DSP
static void tg_tconv_widen(const int8_t *x, int32_t n, int32_t zp, uint32_t *xs)
{
    const uint32_t zp2 = ((uint32_t)zp & 0xFFFFu) | ((uint32_t)zp << 16);
    const int32_t n4 = n & ~3;
    int32_t k;
    for (k = 0; k < n4; k += 4) {
        const uint32_t v = tg_ld32(x + k);
        xs[k / 2] = (uint32_t)__ssub16((int32_t)tg_sxtb16(v), (int32_t)zp2);
        xs[k / 2 + 1] = (uint32_t)__ssub16((int32_t)tg_sxtb16_ror8(v), (int32_t)zp2);
    }
    if (k < n) { /* tail: the same lane order, zeros past the end */
        int16_t t[4] = {0, 0, 0, 0};
        int32_t j;
        for (j = 0; k + j < n; j++) {
            t[(j & 1) ? 2 + (j >> 1) : (j >> 1)] = (int16_t)((int32_t)x[k + j] - zp);
        }
        memcpy(&xs[k / 2], t, 8);
    }
}

static int32_t tg_tconv_dot(const int8_t *w, const uint32_t *xs, int32_t n, int32_t acc)
{
    const int32_t n4 = n & ~3;
    int32_t k;
    for (k = 0; k < n4; k += 4) {
        const uint32_t v = tg_ld32(w + k);
        acc = tg_smlad(tg_sxtb16(v), xs[k / 2], acc);
        acc = tg_smlad(tg_sxtb16_ror8(v), xs[k / 2 + 1], acc);
    }
    if (k < n) {
        const int16_t *t = (const int16_t *)(const void *)&xs[k / 2];
        int32_t j;
        for (j = 0; k + j < n; j++) {
            acc = (int32_t)((uint32_t)acc + (uint32_t)((int32_t)w[k + j] * t[(j & 1) ? 2 + (j >> 1) : (j >> 1)]));
        }
    }
    return acc;
}
#endif

#if TG_DSP
/* int16 input pixel -> lane pairs (k, k + 2), (k + 1, k + 3); zeros past the end */
static void tg_tconv_pair16(const int16_t *x, int32_t n, uint32_t *xs)
{
    int32_t k;
    for (k = 0; k < n; k += 4) {
        const uint32_t x0 = (uint16_t)x[k];
        const uint32_t x1 = k + 1 < n ? (uint16_t)x[k + 1] : 0;
        const uint32_t x2 = k + 2 < n ? (uint16_t)x[k + 2] : 0;
        const uint32_t x3 = k + 3 < n ? (uint16_t)x[k + 3] : 0;
        xs[k / 2] = x0 | (x2 << 16);
        xs[k / 2 + 1] = x1 | (x3 << 16);
    }
}

/* TFLite's MultiplyByQuantizedMultiplier(int64_t x, int32_t M, int shift), saturated to int32 (as tg_conv16.c) */
static int32_t tg_tconv_mbqm64(int64_t x, int32_t multiplier, int32_t shift)
{
    const int64_t reduced = multiplier < 0x7FFF0000 ? (int64_t)((multiplier + (1 << 15)) >> 16) : 0x7FFF;
    const int total = 15 - (int)shift;
    const int64_t r = (x * reduced + ((int64_t)1 << (total - 1))) >> total;
    return r > TG_INT32_MAX ? TG_INT32_MAX : r < TG_INT32_MIN ? TG_INT32_MIN : (int32_t)r;
}
#endif

void tg_transpose_conv_s16_dsp(const tg_conv16_params_t *p, const int16_t *input, int16_t *output, void *scratch)
{
#if TG_DSP
    int64_t *acc = (int64_t *)scratch;
    uint32_t *xs = (uint32_t *)(void *)(acc + p->out_c);
    const size_t wstep = (size_t)p->k_h * p->k_w * p->in_c;
    const int32_t n4 = p->in_c & ~3;
    size_t at_out = 0;
    int32_t b, oy, ox, oc, ky, kx, k;
    for (b = 0; b < p->batches; b++) {
        const int16_t *image = input + (size_t)b * p->in_h * p->in_w * p->in_c;
        for (oy = 0; oy < p->out_h; oy++) {
            const int32_t ty = oy + p->pad_top;
            for (ox = 0; ox < p->out_w; ox++) {
                const int32_t tx = ox + p->pad_left;
                for (oc = 0; oc < p->out_c; oc++) {
                    acc[oc] = 0;
                }
                for (ky = ty % p->stride_h; ky < p->k_h && ky <= ty; ky += p->stride_h) {
                    const int32_t iy = (ty - ky) / p->stride_h;
                    if (iy >= p->in_h) {
                        continue;
                    }
                    for (kx = tx % p->stride_w; kx < p->k_w && kx <= tx; kx += p->stride_w) {
                        const int32_t ix = (tx - kx) / p->stride_w;
                        const int8_t *wt;
                        if (ix >= p->in_w) {
                            continue;
                        }
                        tg_tconv_pair16(image + ((size_t)iy * p->in_w + ix) * p->in_c, p->in_c, xs);
                        wt = p->weights + ((size_t)ky * p->k_w + kx) * p->in_c;
                        for (oc = 0; oc < p->out_c; oc++) {
                            const int8_t *w = wt + (size_t)oc * wstep;
                            int64_t a = acc[oc];
                            for (k = 0; k < n4; k += 4) {
                                const uint32_t v = tg_ld32(w + k);
                                a = __smlald((int16x2_t)tg_sxtb16(v), (int16x2_t)xs[k / 2], a);
                                a = __smlald((int16x2_t)tg_sxtb16_ror8(v), (int16x2_t)xs[k / 2 + 1], a);
                            }
                            for (; k < p->in_c; k++) {
                                a += (int64_t)w[k] * image[((size_t)iy * p->in_w + ix) * p->in_c + k];
                            }
                            acc[oc] = a;
                        }
                    }
                }
                for (oc = 0; oc < p->out_c; oc++) {
                    const int64_t a = acc[oc] + (p->bias64 != NULL ? p->bias64[oc] : 0);
                    const int32_t y = tg_tconv_mbqm64(a, p->multiplier[oc], p->shift[oc]);
                    output[at_out++] = (int16_t)tg_offset_clamp(y, p->output_zp, p->act_min, p->act_max);
                }
            }
        }
    }
#else
    (void)scratch;
    tg_transpose_conv(p, input, output);
#endif
}

void tg_transpose_conv_s8_dsp(const tg_conv16_params_t *p, const int8_t *input, int8_t *output, void *scratch)
{
#if TG_DSP
    int32_t *acc = (int32_t *)scratch;
    uint32_t *xs = (uint32_t *)(void *)(acc + p->out_c);
    const size_t wstep = (size_t)p->k_h * p->k_w * p->in_c;
    size_t at_out = 0;
    int32_t b, oy, ox, oc, ky, kx;
    for (b = 0; b < p->batches; b++) {
        const int8_t *image = input + (size_t)b * p->in_h * p->in_w * p->in_c;
        for (oy = 0; oy < p->out_h; oy++) {
            const int32_t ty = oy + p->pad_top; /* = iy * stride_h + ky */
            for (ox = 0; ox < p->out_w; ox++) {
                const int32_t tx = ox + p->pad_left;
                for (oc = 0; oc < p->out_c; oc++) {
                    acc[oc] = 0;
                }
                for (ky = ty % p->stride_h; ky < p->k_h && ky <= ty; ky += p->stride_h) {
                    const int32_t iy = (ty - ky) / p->stride_h;
                    if (iy >= p->in_h) {
                        continue;
                    }
                    for (kx = tx % p->stride_w; kx < p->k_w && kx <= tx; kx += p->stride_w) {
                        const int32_t ix = (tx - kx) / p->stride_w;
                        const int8_t *w;
                        if (ix >= p->in_w) {
                            continue;
                        }
                        tg_tconv_widen(image + ((size_t)iy * p->in_w + ix) * p->in_c, p->in_c, p->input_zp, xs);
                        w = p->weights + ((size_t)ky * p->k_w + kx) * p->in_c;
                        for (oc = 0; oc < p->out_c; oc++) {
                            acc[oc] = tg_tconv_dot(w + (size_t)oc * wstep, xs, p->in_c, acc[oc]);
                        }
                    }
                }
                for (oc = 0; oc < p->out_c; oc++) {
                    const int32_t a = (int32_t)((uint32_t)acc[oc] + (uint32_t)(p->bias32 != NULL ? p->bias32[oc] : 0));
                    const int32_t y = tg_mbqm(a, p->multiplier[oc], p->shift[oc]);
                    output[at_out++] = (int8_t)tg_offset_clamp(y, p->output_zp, p->act_min, p->act_max);
                }
            }
        }
    }
#else
    (void)scratch;
    tg_transpose_conv(p, input, output);
#endif
}

/* ------------------------------------------------------------------ scratch-free DSP variants
 * The gather of tg_transpose_conv (one accumulator per output value, in a register), each tap's dot
 * product with the DSP extension: int8 input widened on the fly (SXTB16, SSUB16) against SXTB16'd
 * weights with SMLAD; int16 input regrouped on the fly into lane pairs (k, k + 2), (k + 1, k + 3)
 * against SXTB16'd weights with SMLALD. Where the planner cannot afford the variants' scratch. */
#if TG_DSP
static int32_t tg_tconv_tap8(const int8_t *x, const int8_t *w, int32_t n, int32_t zp, uint32_t zp2, int32_t acc)
{
    int32_t k;
    for (k = 0; k + 4 <= n; k += 4) {
        const uint32_t xv = tg_ld32(x + k), wv = tg_ld32(w + k);
        acc = tg_smlad(tg_sxtb16(wv), (uint32_t)__ssub16((int32_t)tg_sxtb16(xv), (int32_t)zp2), acc);
        acc = tg_smlad(tg_sxtb16_ror8(wv), (uint32_t)__ssub16((int32_t)tg_sxtb16_ror8(xv), (int32_t)zp2), acc);
    }
    for (; k < n; k++) {
        acc = (int32_t)((uint32_t)acc + (uint32_t)(((int32_t)x[k] - zp) * w[k]));
    }
    return acc;
}

static int64_t tg_tconv_tap16(const int16_t *x, const int8_t *w, int32_t n, int64_t acc)
{
    int32_t k;
    for (k = 0; k + 4 <= n; k += 4) {
        const uint32_t x01 = tg_ld32(x + k), x23 = tg_ld32(x + k + 2), wv = tg_ld32(w + k);
        const uint32_t lo = (x01 & 0xFFFFu) | (x23 << 16), hi = (x01 >> 16) | (x23 & 0xFFFF0000u);
        acc = __smlald((int16x2_t)tg_sxtb16(wv), (int16x2_t)lo, acc);
        acc = __smlald((int16x2_t)tg_sxtb16_ror8(wv), (int16x2_t)hi, acc);
    }
    for (; k < n; k++) {
        acc += (int64_t)x[k] * w[k];
    }
    return acc;
}
#endif

void tg_transpose_conv_dsp_ns(const tg_conv16_params_t *p, const void *input, void *output)
{
#if TG_DSP
    const size_t wstep = (size_t)p->k_h * p->k_w * p->in_c;
    const uint32_t zp2 = ((uint32_t)p->input_zp & 0xFFFFu) | ((uint32_t)p->input_zp << 16);
    size_t at_out = 0;
    int32_t b, oy, ox, oc, ky, kx;
    for (b = 0; b < p->batches; b++) {
        const size_t in_off = (size_t)b * p->in_h * p->in_w * p->in_c;
        for (oy = 0; oy < p->out_h; oy++) {
            const int32_t ty = oy + p->pad_top;
            for (ox = 0; ox < p->out_w; ox++) {
                const int32_t tx = ox + p->pad_left;
                for (oc = 0; oc < p->out_c; oc++) {
                    const int8_t *wo = p->weights + (size_t)oc * wstep;
                    int64_t acc64 = 0;
                    int32_t acc32 = 0, y;
                    for (ky = ty % p->stride_h; ky < p->k_h && ky <= ty; ky += p->stride_h) {
                        const int32_t iy = (ty - ky) / p->stride_h;
                        if (iy >= p->in_h) {
                            continue;
                        }
                        for (kx = tx % p->stride_w; kx < p->k_w && kx <= tx; kx += p->stride_w) {
                            const int32_t ix = (tx - kx) / p->stride_w;
                            const size_t at = in_off + ((size_t)iy * p->in_w + ix) * p->in_c;
                            const int8_t *w = wo + ((size_t)ky * p->k_w + kx) * p->in_c;
                            if (ix >= p->in_w) {
                                continue;
                            }
                            if (p->int16) {
                                acc64 = tg_tconv_tap16((const int16_t *)input + at, w, p->in_c, acc64);
                            } else {
                                acc32 = tg_tconv_tap8((const int8_t *)input + at, w, p->in_c, p->input_zp, zp2, acc32);
                            }
                        }
                    }
                    if (p->int16) {
                        y = tg_tconv_mbqm64(acc64 + (p->bias64 != NULL ? p->bias64[oc] : 0), p->multiplier[oc], p->shift[oc]);
                        ((int16_t *)output)[at_out++] = (int16_t)tg_offset_clamp(y, p->output_zp, p->act_min, p->act_max);
                    } else {
                        acc32 = (int32_t)((uint32_t)acc32 + (uint32_t)(p->bias32 != NULL ? p->bias32[oc] : 0));
                        y = tg_mbqm(acc32, p->multiplier[oc], p->shift[oc]);
                        ((int8_t *)output)[at_out++] = (int8_t)tg_offset_clamp(y, p->output_zp, p->act_min, p->act_max);
                    }
                }
            }
        }
    }
#else
    tg_transpose_conv(p, input, output);
#endif
}
