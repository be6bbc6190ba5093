/*
 * ADD_N, int8 (TFLM reference_ops::AddN, quantized): per element, the inputs' (q - zp) << 20 scaled
 * by the input multiplier and summed (starting from one scaled -zp term, as TFLM), then the output
 * multiplier, the output zero point, clamped.
 */
#include "tg_kernels.h"
#include "tg_requant.h"

void tg_add_n_s8(const tg_add_n_params_t *p, const int8_t *const *inputs, int8_t *output)
{
    const int32_t first = tg_mbqm_lt1(p->input_offset * (1 << 20), p->input_multiplier, p->input_shift);
    int32_t i, j;
    for (i = 0; i < p->size; i++) {
        int32_t acc = first;
        for (j = 0; j < p->n; j++) {
            const int32_t y = (p->input_offset + inputs[j][i]) * (1 << 20);
            acc = tg_wrap_add(acc, tg_mbqm_lt1(y, p->input_multiplier, p->input_shift));
        }
        output[i] = (int8_t)tg_offset_clamp(tg_mbqm_lt1(acc, p->output_multiplier, p->output_shift), p->output_zp, -128, 127);
    }
}
