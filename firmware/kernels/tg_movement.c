/* Data movement by index maps the generator resolved (SLICE, SPLIT, UNPACK, DEPTH_TO_SPACE, ...,
 * MIRROR_PAD, SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND): strided gathers of any element size and
 * index tables with a pad value. See tinygen/ops/movement.py. */
#include <string.h>

#include "tg_kernels.h"

void tg_gather_n(const tg_gather_params_t *p, const int8_t *input, int8_t *output, int32_t elem_bytes)
{
    int32_t i0, i1, i2, i3, i4;
    const int32_t *d = p->dims;
    const int32_t *s = p->strides;
    const size_t e = (size_t)elem_bytes;
    for (i0 = 0; i0 < d[0]; i0++) {
        for (i1 = 0; i1 < d[1]; i1++) {
            for (i2 = 0; i2 < d[2]; i2++) {
                for (i3 = 0; i3 < d[3]; i3++) {
                    const int32_t base = p->offset + i0 * s[0] + i1 * s[1] + i2 * s[2] + i3 * s[3];
                    if (s[4] == 1) {
                        memcpy(output, input + (size_t)base * e, (size_t)d[4] * e);
                        output += (size_t)d[4] * e;
                    } else {
                        for (i4 = 0; i4 < d[4]; i4++) {
                            memcpy(output, input + (size_t)(base + i4 * s[4]) * e, e);
                            output += e;
                        }
                    }
                }
            }
        }
    }
}

void tg_take_n(const int32_t *index, int32_t count, const int8_t *input, int8_t *output, int32_t elem_bytes, int32_t pad_value)
{
    int32_t i;
    if (elem_bytes == 1) {
        for (i = 0; i < count; i++) {
            output[i] = index[i] < 0 ? (int8_t)pad_value : input[index[i]];
        }
    } else {
        const int16_t *in16 = (const int16_t *)(const void *)input;
        int16_t *out16 = (int16_t *)(void *)output;
        for (i = 0; i < count; i++) {
            out16[i] = index[i] < 0 ? (int16_t)pad_value : in16[index[i]];
        }
    }
}
