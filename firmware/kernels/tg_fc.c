/*
 * FULLY_CONNECTED, int8 (TFLM reference_integer_ops::FullyConnected / FullyConnectedPerChannel)
 * with the input zero-point term folded into the bias (bias - input_zp * row sum of the weights).
 */
#include "tg_kernels.h"
#include "tg_requant.h"

void tg_fc_s8(const tg_fc_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t k = p->depth;
    int32_t b, u, i;
    for (b = 0; b < p->batches; b++) {
        const int8_t *x = input + (size_t)b * k;
        const int8_t *w = p->weights;
        for (u = 0; u < p->units; u++, w += k) {
            const int32_t c = p->per_channel ? u : 0;
            int32_t acc = 0;
            for (i = 0; i < k; i++) {
                acc += (int32_t)w[i] * (int32_t)x[i];
            }
            acc = tg_wrap_add(acc, p->bias[u]);
            *output++ = tg_requant_s8(acc, p->mult[c], p->shift[c], p->output_zp, p->act_min, p->act_max);
        }
    }
}
