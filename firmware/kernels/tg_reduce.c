/*
 * MEAN, int8 and int16 (TFLM reference_ops::QuantizedMeanOrSum): per output, the int32 sum of the
 * reduced elements minus input_zp * count, requantized with 1/count folded into the
 * multiplier, plus the output zero point, clamped.
 */
#include "tg_kernels.h"
#include "tg_requant.h"

/* Compiled for size: a model's MEAN is its global average pool, a few hundred outputs once per inference (cold
 * code next to the 12 KB kernels + runtime budget: -160 B on Cortex-M4). */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("Os")))
#endif
void tg_mean_s8(const tg_mean_params_t *p, const void *input_v, void *output_v)
{
    const int wide = p->itemsize == 2;
    const int32_t n0 = p->n_red > 0 ? p->red_dims[0] : 1;
    const int32_t n1 = p->n_red > 1 ? p->red_dims[1] : 1;
    const int32_t s0 = p->n_red > 0 ? p->red_strides[0] : 0;
    const int32_t s1 = p->n_red > 1 ? p->red_strides[1] : 0;
    const int32_t hi = wide ? 32767 : 127;
    const int32_t zsum = (int32_t)((uint32_t)p->input_zp * (uint32_t)p->count);
    int32_t idx[TG_MAX_DIMS] = {0, 0, 0, 0, 0};
    int32_t base = 0; /* the output's first input element, advanced with the kept index */
    int32_t o, d;
    for (o = 0; o < p->out_size; o++) {
        int32_t sum = 0, r0, r1, v;
        for (r0 = 0; r0 < n0; r0++) {
            int32_t at = base + r0 * s0;
            if (wide) {
                for (r1 = 0; r1 < n1; r1++, at += s1) {
                    sum = tg_wrap_add(sum, ((const int16_t *)input_v)[at]);
                }
            } else {
                for (r1 = 0; r1 < n1; r1++, at += s1) {
                    sum = tg_wrap_add(sum, ((const int8_t *)input_v)[at]);
                }
            }
        }
        v = tg_offset_clamp(tg_mbqm(tg_wrap_sub(sum, zsum), p->multiplier, p->shift), p->output_zp, -hi - 1, hi);
        if (wide) {
            ((int16_t *)output_v)[o] = (int16_t)v;
        } else {
            ((int8_t *)output_v)[o] = (int8_t)v;
        }
        /* next output index (C order over the kept axes) */
        for (d = p->n_kept - 1; d >= 0; d--) {
            base += p->kept_strides[d];
            if (++idx[d] < p->kept_dims[d]) {
                break;
            }
            base -= p->kept_strides[d] * p->kept_dims[d];
            idx[d] = 0;
        }
    }
}

void tg_reduce_s8(const tg_reduce_params_t *p, const void *input_v, void *output_v)
{
    const int8_t *input = (const int8_t *)input_v;
    const int16_t *input16 = (const int16_t *)input_v;
    int8_t *output = (int8_t *)output_v;
    const int wide = p->itemsize == 2; /* SUM only */
    int32_t idx[TG_MAX_DIMS] = {0, 0, 0, 0, 0};
    int32_t o, d;
    for (o = 0; o < p->out_size; o++) {
        int32_t base = 0;
        int32_t ridx[TG_MAX_DIMS] = {0, 0, 0, 0, 0};
        int32_t acc = p->kind == TG_REDUCE_SUM ? 0 : (p->kind == TG_REDUCE_MAX ? -128 : 127);
        for (d = 0; d < p->n_kept; d++) {
            base += idx[d] * p->kept_strides[d];
        }
        for (;;) {
            int32_t off = base;
            int32_t v;
            for (d = 0; d < p->n_red; d++) {
                off += ridx[d] * p->red_strides[d];
            }
            v = wide ? input16[off] : input[off];
            if (p->kind == TG_REDUCE_SUM) {
                acc = tg_wrap_add(acc, v);
            } else if (p->kind == TG_REDUCE_MAX) {
                acc = v > acc ? v : acc;
            } else {
                acc = v < acc ? v : acc;
            }
            for (d = p->n_red - 1; d >= 0; d--) {
                if (++ridx[d] < p->red_dims[d]) {
                    break;
                }
                ridx[d] = 0;
            }
            if (d < 0) {
                break;
            }
        }
        if (p->kind == TG_REDUCE_SUM) {
            acc = tg_wrap_sub(acc, (int32_t)((uint32_t)p->input_zp * (uint32_t)p->count));
            if (wide) {
                ((int16_t *)output_v)[o] = (int16_t)tg_offset_clamp(tg_mbqm(acc, p->multiplier, p->shift), p->output_zp, -32768, 32767);
            } else {
                output[o] = (int8_t)tg_offset_clamp(tg_mbqm(acc, p->multiplier, p->shift), p->output_zp, -128, 127);
            }
        } else {
            output[o] = (int8_t)acc;
        }
        for (d = p->n_kept - 1; d >= 0; d--) {
            if (++idx[d] < p->kept_dims[d]) {
                break;
            }
            idx[d] = 0;
        }
    }
}
