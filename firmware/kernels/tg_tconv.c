/* TRANSPOSE_CONV int8 and 16x8, Cortex-M DSP variant (see tinygen/ops/conv16.py): the gather of tg_transpose_conv
 * in tg_conv16.c (one accumulator per output value, in a register, no scratch), two output channels at a time
 * so that each input word is widened once for both; each tap's dot products with the DSP extension:
 * - int8: the input widened on the fly (SXTB16, SSUB16 for the zero point) against SXTB16'd weights, SMLAD
 *   (int32 sums wrapping modulo 2^32, like TFLM's int32 accumulators);
 * - 16x8: the int16 input regrouped on the fly into lane pairs (k, k + 2), (k + 1, k + 3) against SXTB16'd
 *   weights, SMLALD (int64 sums, as TFLM).
 * (A variant with per-channel accumulators in scratch and each input pixel widened once measured only 3-4 %
 * fewer instructions: not kept.) Without the DSP extension (or with TG_PORTABLE) it runs tg_transpose_conv. */
#include "tg_kernels.h"
#include "tg_requant.h"

#if TG_DSP
static void tg_tconv_tap8x2(const int8_t *x, const int8_t *w0, const int8_t *w1, int32_t n, int32_t zp, uint32_t zp2,
                            int32_t *a0, int32_t *a1)
{
    int32_t k, s0 = *a0, s1 = *a1;
    for (k = 0; k + 4 <= n; k += 4) {
        const uint32_t xv = tg_ld32(x + k);
        const uint32_t xl = (uint32_t)__ssub16((int32_t)tg_sxtb16(xv), (int32_t)zp2);
        const uint32_t xh = (uint32_t)__ssub16((int32_t)tg_sxtb16_ror8(xv), (int32_t)zp2);
        const uint32_t v0 = tg_ld32(w0 + k), v1 = tg_ld32(w1 + k);
        s0 = tg_smlad(tg_sxtb16(v0), xl, s0);
        s0 = tg_smlad(tg_sxtb16_ror8(v0), xh, s0);
        s1 = tg_smlad(tg_sxtb16(v1), xl, s1);
        s1 = tg_smlad(tg_sxtb16_ror8(v1), xh, s1);
    }
    for (; k < n; k++) {
        const int32_t v = (int32_t)x[k] - zp;
        s0 = (int32_t)((uint32_t)s0 + (uint32_t)(v * w0[k]));
        s1 = (int32_t)((uint32_t)s1 + (uint32_t)(v * w1[k]));
    }
    *a0 = s0;
    *a1 = s1;
}

static void tg_tconv_tap16x2(const int16_t *x, const int8_t *w0, const int8_t *w1, int32_t n, int64_t *a0, int64_t *a1)
{
    int32_t k;
    int64_t s0 = *a0, s1 = *a1;
    for (k = 0; k + 4 <= n; k += 4) {
        const uint32_t x01 = tg_ld32(x + k), x23 = tg_ld32(x + k + 2);
        const uint32_t lo = (x01 & 0xFFFFu) | (x23 << 16), hi = (x01 >> 16) | (x23 & 0xFFFF0000u);
        const uint32_t v0 = tg_ld32(w0 + k), v1 = tg_ld32(w1 + k);
        s0 = __smlald((int16x2_t)tg_sxtb16(v0), (int16x2_t)lo, s0);
        s0 = __smlald((int16x2_t)tg_sxtb16_ror8(v0), (int16x2_t)hi, s0);
        s1 = __smlald((int16x2_t)tg_sxtb16(v1), (int16x2_t)lo, s1);
        s1 = __smlald((int16x2_t)tg_sxtb16_ror8(v1), (int16x2_t)hi, s1);
    }
    for (; k < n; k++) {
        s0 += (int64_t)x[k] * w0[k];
        s1 += (int64_t)x[k] * w1[k];
    }
    *a0 = s0;
    *a1 = s1;
}

static void tg_tconv_store(const tg_conv16_params_t *p, void *output, size_t at, int32_t oc, int32_t acc32, int64_t acc64)
{
    int32_t y;
    if (p->int16) {
        y = tg_mbqm64(acc64 + (p->bias64 != NULL ? p->bias64[oc] : 0), p->multiplier[oc], p->shift[oc]);
        ((int16_t *)output)[at] = (int16_t)tg_offset_clamp(y, p->output_zp, p->act_min, p->act_max);
    } else {
        acc32 = (int32_t)((uint32_t)acc32 + (uint32_t)(p->bias32 != NULL ? p->bias32[oc] : 0));
        y = tg_mbqm(acc32, p->multiplier[oc], p->shift[oc]);
        ((int8_t *)output)[at] = (int8_t)tg_offset_clamp(y, p->output_zp, p->act_min, p->act_max);
    }
}
#endif

void tg_transpose_conv_dsp(const tg_conv16_params_t *p, const void *input, void *output)
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
                for (oc = 0; oc < p->out_c; oc += 2) {
                    /* channels oc and oc + 1 (an odd last channel computes itself twice and stores once) */
                    const int32_t oc1 = oc + 1 < p->out_c ? oc + 1 : oc;
                    const int8_t *wo0 = p->weights + (size_t)oc * wstep, *wo1 = p->weights + (size_t)oc1 * wstep;
                    int64_t s64a = 0, s64b = 0;
                    int32_t s32a = 0, s32b = 0;
                    for (ky = ty % p->stride_h; ky < p->k_h && ky <= ty; ky += p->stride_h) {
                        const int32_t iy = (ty - ky) / p->stride_h;
                        if (iy >= p->in_h) {
                            continue;
                        }
                        for (kx = tx % p->stride_w; kx < p->k_w && kx <= tx; kx += p->stride_w) {
                            const int32_t ix = (tx - kx) / p->stride_w;
                            const size_t at = in_off + ((size_t)iy * p->in_w + ix) * p->in_c;
                            const size_t wk = ((size_t)ky * p->k_w + kx) * p->in_c;
                            if (ix >= p->in_w) {
                                continue;
                            }
                            if (p->int16) {
                                tg_tconv_tap16x2((const int16_t *)input + at, wo0 + wk, wo1 + wk, p->in_c, &s64a, &s64b);
                            } else {
                                tg_tconv_tap8x2((const int8_t *)input + at, wo0 + wk, wo1 + wk, p->in_c, p->input_zp, zp2,
                                                &s32a, &s32b);
                            }
                        }
                    }
                    tg_tconv_store(p, output, at_out++, oc, s32a, s64a);
                    if (oc1 != oc) {
                        tg_tconv_store(p, output, at_out++, oc1, s32b, s64b);
                    }
                }
            }
        }
    }
#else
    tg_transpose_conv(p, input, output);
#endif
}
