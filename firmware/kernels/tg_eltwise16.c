/* ADD / SUB / MUL with int16 activations: TFLM's general quantized arithmetic (left shift 15 for
 * ADD/SUB), numpy broadcasting over up to 5 axes. See tinygen/ops/elementwise16.py. */
#include "tg_kernels.h"
#include "tg_requant.h"

void tg_eltwise_s16(const tg_eltwise16_params_t *p, const int16_t *a, const int16_t *b, int16_t *output)
{
    int32_t i0, i1, i2, i3, i4, k = 0;
    const tg_bcast_t *s = &p->shape;
    const int32_t *d = s->dims;
    TG_BCAST_EACH(s, d, k,
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
    );
}

void tg_requantize_s16(const int16_t *input, void *output, int32_t size, int32_t input_zp, int32_t multiplier, int32_t shift,
                       int32_t output_zp, int32_t out_bytes)
{
    int32_t i;
    for (i = 0; i < size; i++) {
        const int32_t y = tg_mbqm(input[i] - input_zp, multiplier, shift);
        if (out_bytes == 1) {
            ((int8_t *)output)[i] = (int8_t)tg_offset_clamp(y, output_zp, -128, 127);
        } else if (out_bytes == 4) {
            ((int32_t *)output)[i] = y + output_zp; /* the op's check keeps this inside int32 */
        } else {
            ((int16_t *)output)[i] = (int16_t)tg_offset_clamp(y, output_zp, -32768, 32767);
        }
    }
}

void tg_dequantize_s16_f32(const int16_t *input, float *output, int32_t size, float scale, int32_t zero_point)
{
    int32_t i;
    for (i = 0; i < size; i++) {
        output[i] = scale * (float)(input[i] - zero_point);
    }
}

void tg_leaky_relu_s16(const int16_t *input, int16_t *output, int32_t size, int32_t input_zp, int32_t output_zp,
                       int32_t m_identity, int32_t s_identity, int32_t m_alpha, int32_t s_alpha, int32_t negate_alpha)
{
    int32_t i;
    for (i = 0; i < size; i++) {
        const int32_t v = input[i] - input_zp;
        int32_t y;
        if (v >= 0) {
            y = tg_mbqm(v, m_identity, s_identity);
        } else {
            y = tg_mbqm(v, m_alpha, s_alpha);
            y = negate_alpha ? -y : y;
        }
        output[i] = (int16_t)tg_offset_clamp(y, output_zp, -32768, 32767);
    }
}

void tg_requantize_s32(const int32_t *input, void *output, int32_t size, int32_t input_zp, int32_t multiplier, int32_t shift,
                       int32_t output_zp, int32_t out_bytes)
{
    int32_t i;
    for (i = 0; i < size; i++) {
        const int32_t y = tg_mbqm(tg_wrap_sub(input[i], input_zp), multiplier, shift);
        if (out_bytes == 1) {
            ((int8_t *)output)[i] = (int8_t)tg_offset_clamp(y, output_zp, -128, 127);
        } else {
            ((int16_t *)output)[i] = (int16_t)tg_offset_clamp(y, output_zp, -32768, 32767);
        }
    }
}

void tg_sigmoid_tanh_s16(const int16_t *input, int16_t *output, int32_t size, int32_t multiplier, int32_t shift,
                         int32_t is_tanh, const uint16_t *table)
{
    /* sigmoid: table step 512 (9 fraction bits); tanh = 2 sigmoid(2x) - 1: step 256 (8 bits) */
    const int32_t frac = is_tanh ? 8 : 9;
    const uint32_t mask = ((uint32_t)1 << frac) - 1u;
    const int32_t half = shift > 0 ? (int32_t)1 << (shift - 1) : 0;
    int32_t i;
    for (i = 0; i < size; i++) {
        /* |x * multiplier| + round < 2^31: the op's check bounds the multiplier */
        const int32_t v = (input[i] * multiplier + half) >> shift;
        const uint32_t a = (uint32_t)(v < 0 ? -v : v);
        const uint32_t uh = a >> frac;
        uint32_t r;
        if (uh >= 255u) {
            r = is_tanh ? (0xFFFFu << 8) : (0x7FFFu << 10);
        } else {
            const uint32_t ua = table[uh], ub = table[uh + 1u];
            r = (ua << frac) + (a & mask) * (ub - ua);
        }
        if (is_tanh) {
            const int32_t s = (int32_t)r;
            output[i] = (int16_t)((v >= 0 ? s - (1 << 23) + (1 << 7) : -s + (1 << 23) + (1 << 7) - 1) >> 8);
        } else {
            output[i] = (int16_t)((v >= 0 ? r + (1u << 9) : (1u << 25) - r + (1u << 9) - 1u) >> 10);
        }
    }
}
