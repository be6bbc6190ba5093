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
    } else if (elem_bytes == 2) {
        const int16_t *in16 = (const int16_t *)(const void *)input;
        int16_t *out16 = (int16_t *)(void *)output;
        for (i = 0; i < count; i++) {
            out16[i] = index[i] < 0 ? (int16_t)pad_value : in16[index[i]];
        }
    } else {
        const int32_t *in32 = (const int32_t *)(const void *)input;
        int32_t *out32 = (int32_t *)(void *)output;
        for (i = 0; i < count; i++) {
            out32[i] = index[i] < 0 ? pad_value : in32[index[i]];
        }
    }
}

void tg_gather_rows(const int8_t *params, const void *indices, int32_t index_bytes, int8_t *output, int32_t batch,
                    int32_t outer, int32_t axis_size, int32_t inner, int32_t coords, int32_t elem_bytes)
{
    int32_t b, o, i;
    const size_t row = (size_t)inner * (size_t)elem_bytes;
    for (b = 0; b < batch; b++) {
        for (o = 0; o < outer; o++) {
            const int8_t *block = params + ((size_t)b * outer + o) * (size_t)axis_size * row;
            for (i = 0; i < coords; i++) {
                const int32_t k = b * coords + i;
                const int64_t at = index_bytes == 8 ? ((const int64_t *)indices)[k] : (int64_t)((const int32_t *)indices)[k];
                if (at >= 0 && at < axis_size) {
                    memcpy(output, block + (size_t)at * row, row);
                } else {
                    memset(output, 0, row);
                }
                output += row;
            }
        }
    }
}

void tg_fill(const void *value, void *output, int32_t count, int32_t elem_bytes)
{
    int32_t i;
    int8_t *out = (int8_t *)output;
    for (i = 0; i < count; i++) {
        memcpy(out + (size_t)i * (size_t)elem_bytes, value, (size_t)elem_bytes);
    }
}
