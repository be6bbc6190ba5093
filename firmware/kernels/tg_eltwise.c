/*
 * ADD, SUB, MUL on int8 with numpy/TFLM broadcasting (TFLM reference_integer_ops::Add /
 * Mul and their broadcast loops): shapes are left-padded to TG_MAX_DIMS axes, broadcast
 * axes of an input have stride 0. The output is written in order, element i after reading
 * element i of each input, so output == input 0 is safe when input 0 is not broadcast.
 */
#include "tg_kernels.h"
#include "tg_requant.h"

static int8_t tg_add_one(const tg_add_params_t *p, int32_t a, int32_t b)
{
    const int32_t x1 = tg_wrap_shl(a + p->input1_offset, (int)p->left_shift);
    const int32_t x2 = tg_wrap_shl(b + p->input2_offset, (int)p->left_shift);
    const int32_t s1 = tg_mbqm_lt1(x1, p->input1_multiplier, p->input1_shift);
    const int32_t s2 = tg_mbqm_lt1(x2, p->input2_multiplier, p->input2_shift);
    const int32_t raw = p->subtract ? tg_wrap_sub(s1, s2) : tg_wrap_add(s1, s2);
    const int32_t out = tg_mbqm_lt1(raw, p->output_multiplier, p->output_shift);
    return (int8_t)tg_offset_clamp(out, p->output_offset, p->act_min, p->act_max);
}

static int8_t tg_mul_one(const tg_mul_params_t *p, int32_t a, int32_t b)
{
    const int32_t prod = (a + p->input1_offset) * (b + p->input2_offset);
    const int32_t out = tg_mbqm(prod, p->output_multiplier, p->output_shift);
    return (int8_t)tg_offset_clamp(out, p->output_offset, p->act_min, p->act_max);
}

/* The broadcast loop, shared by the binary kernels through a macro (keeps the per-element
 * function inlined). */
#define TG_BCAST_LOOP(S, A, B, OUT, ONE, P)                                                     \
    do {                                                                                        \
        int32_t i0, i1, i2, i3, i4;                                                             \
        if (!(S)->broadcast) {                                                                  \
            int32_t i_;                                                                         \
            for (i_ = 0; i_ < (S)->size; i_++) {                                                \
                (OUT)[i_] = ONE((P), (A)[i_], (B)[i_]);                                         \
            }                                                                                   \
            break;                                                                              \
        }                                                                                       \
        for (i0 = 0; i0 < (S)->dims[0]; i0++) {                                                 \
            for (i1 = 0; i1 < (S)->dims[1]; i1++) {                                             \
                for (i2 = 0; i2 < (S)->dims[2]; i2++) {                                         \
                    const int8_t *a_ = (A) + i0 * (S)->a_strides[0] + i1 * (S)->a_strides[1]    \
                                       + i2 * (S)->a_strides[2];                                \
                    const int8_t *b_ = (B) + i0 * (S)->b_strides[0] + i1 * (S)->b_strides[1]    \
                                       + i2 * (S)->b_strides[2];                                \
                    for (i3 = 0; i3 < (S)->dims[3]; i3++) {                                     \
                        const int8_t *a3_ = a_ + i3 * (S)->a_strides[3];                        \
                        const int8_t *b3_ = b_ + i3 * (S)->b_strides[3];                        \
                        const int32_t sa_ = (S)->a_strides[4], sb_ = (S)->b_strides[4];         \
                        for (i4 = 0; i4 < (S)->dims[4]; i4++) {                                 \
                            *(OUT)++ = ONE((P), a3_[i4 * sa_], b3_[i4 * sb_]);                  \
                        }                                                                       \
                    }                                                                           \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
    } while (0)

void tg_add_s8(const tg_add_params_t *p, const int8_t *a, const int8_t *b, int8_t *output)
{
    TG_BCAST_LOOP(&p->shape, a, b, output, tg_add_one, p);
}

void tg_mul_s8(const tg_mul_params_t *p, const int8_t *a, const int8_t *b, int8_t *output)
{
    TG_BCAST_LOOP(&p->shape, a, b, output, tg_mul_one, p);
}
