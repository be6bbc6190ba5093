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

/* CAST: types 0 int8, 1 int16, 2 int32, 3 bool (one byte, 0/1), 4 float32 (output only). Integers
 * narrow by keeping the low bits (through uint32_t: no implementation-defined signed conversion). */
void tg_cast(const void *input, int32_t in_type, void *output, int32_t out_type, int32_t size)
{
    int32_t i;
    for (i = 0; i < size; i++) {
        int32_t v;
        uint32_t u;
        switch (in_type) {
        case 0: v = ((const int8_t *)input)[i]; break;
        case 1: v = ((const int16_t *)input)[i]; break;
        case 2: v = ((const int32_t *)input)[i]; break;
        default: v = ((const uint8_t *)input)[i] != 0; break;
        }
        u = (uint32_t)v;
        switch (out_type) {
        case 0: ((int8_t *)output)[i] = (int8_t)((u & 0x80u) ? (int32_t)(u & 0xffu) - 256 : (int32_t)(u & 0xffu)); break;
        case 1: ((int16_t *)output)[i] = (int16_t)((u & 0x8000u) ? (int32_t)(u & 0xffffu) - 65536 : (int32_t)(u & 0xffffu)); break;
        case 2: ((int32_t *)output)[i] = v; break;
        case 3: ((uint8_t *)output)[i] = (uint8_t)(v != 0); break;
        default: ((float *)output)[i] = (float)v; break;
        }
    }
}
