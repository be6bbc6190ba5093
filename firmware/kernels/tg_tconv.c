/* TRANSPOSE_CONV int8, Cortex-M DSP variant (see tinygen/ops/conv16.py). Same gather formulation and the
 * same int32 (wrapping) sums as tg_transpose_conv in tg_conv16.c, reorganised per output pixel: each
 * input pixel a tap reads is widened once to int16 with its zero point subtracted (SXTB16, SSUB16: lanes
 * k, k + 2 then k + 1, k + 3) into scratch, and every output channel's weight row is multiplied against
 * it 4 values per 32-bit load (SXTB16 / SXTB16 ROR 8, two SMLAD), into one int32 accumulator per
 * channel in scratch. SMLAD adds modulo 2^32 like TFLM's int32 accumulators, so the result is exact.
 * scratch: 4 * out_c + 2 * (in_c rounded up to 4) bytes. Without the DSP extension (or with
 * TG_PORTABLE) it runs tg_transpose_conv. */
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
