/* ADD / SUB / MUL with int16 activations: TFLM's general quantized arithmetic (left shift 15 for
 * ADD/SUB), numpy broadcasting over up to 5 axes. See tinygen/ops/elementwise16.py. */
#include "tg_kernels.h"
#include "tg_requant.h"

void tg_eltwise_s16(const tg_eltwise16_params_t *p, const int16_t *a, const int16_t *b, int16_t *output)
{
    int32_t i0, i1, i2, i3, i4, k = 0;
    const tg_bcast_t *s = &p->shape;
    const int32_t *d = s->dims;
    for (i0 = 0; i0 < d[0]; i0++) {
        for (i1 = 0; i1 < d[1]; i1++) {
            for (i2 = 0; i2 < d[2]; i2++) {
                for (i3 = 0; i3 < d[3]; i3++) {
                    for (i4 = 0; i4 < d[4]; i4++, k++) {
                        const int32_t ia = i0 * s->a_strides[0] + i1 * s->a_strides[1] + i2 * s->a_strides[2] +
                                           i3 * s->a_strides[3] + i4 * s->a_strides[4];
                        const int32_t ib = i0 * s->b_strides[0] + i1 * s->b_strides[1] + i2 * s->b_strides[2] +
                                           i3 * s->b_strides[3] + i4 * s->b_strides[4];
                        const int32_t va = a[ia] + p->input1_offset, vb = b[ib] + p->input2_offset;
                        int32_t raw;
                        if (p->kind == 2) {
                            raw = tg_mbqm(va * vb, p->output_multiplier, p->output_shift);
                        } else {
                            const int32_t sa = tg_mbqm_lt1(tg_wrap_shl(va, p->left_shift), p->input1_multiplier, p->input1_shift);
                            const int32_t sb = tg_mbqm_lt1(tg_wrap_shl(vb, p->left_shift), p->input2_multiplier, p->input2_shift);
                            raw = tg_mbqm_lt1(p->kind == 0 ? sa + sb : sa - sb, p->output_multiplier, p->output_shift);
                        }
                        output[k] = (int16_t)tg_offset_clamp(raw, p->output_offset, p->act_min, p->act_max);
                    }
                }
            }
        }
    }
}
