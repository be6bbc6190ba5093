/* MAXIMUM / MINIMUM, ARG_MAX / ARG_MIN and int16 ABS (see tinygen/ops/select.py). Portable C99. */
#include "tg_kernels.h"
#include "tg_requant.h"

static int32_t tg_load(const void *p, int32_t i, int32_t bytes)
{
    return bytes == 1 ? (int32_t)((const int8_t *)p)[i] : (int32_t)((const int16_t *)p)[i];
}

void tg_maxmin(const tg_bcast_t *s, const void *a, const void *b, void *output, int32_t elem_bytes, int32_t is_max)
{
    int32_t i0, i1, i2, i3, i4, k = 0;
    const int32_t *d = s->dims;
    TG_BCAST_EACH(s, d, k,
        const int32_t va = tg_load(a, ia, elem_bytes), vb = tg_load(b, ib, elem_bytes);
        const int32_t v = is_max ? (va > vb ? va : vb) : (va < vb ? va : vb);
        if (elem_bytes == 1) {
            ((int8_t *)output)[k] = (int8_t)v;
        } else {
            ((int16_t *)output)[k] = (int16_t)v;
        }
    );
}

void tg_argminmax(const void *input, void *output, int32_t outer, int32_t axis_len, int32_t inner, int32_t in_bytes,
                  int32_t out_bytes, int32_t is_max)
{
    int32_t o, j, a;
    for (o = 0; o < outer; o++) {
        for (j = 0; j < inner; j++) {
            const int32_t base = o * axis_len * inner + j;
            int32_t best = tg_load(input, base, in_bytes), at = 0;
            for (a = 1; a < axis_len; a++) {
                const int32_t v = tg_load(input, base + a * inner, in_bytes);
                if (is_max ? v > best : v < best) {
                    best = v;
                    at = a;
                }
            }
            if (out_bytes == 4) {
                ((int32_t *)output)[o * inner + j] = at;
            } else {
                ((int64_t *)output)[o * inner + j] = at;
            }
        }
    }
}

void tg_abs_s16(const int16_t *input, int16_t *output, int32_t size, int32_t rescale, int32_t multiplier, int32_t shift)
{
    int32_t i;
    for (i = 0; i < size; i++) {
        int32_t v = input[i] < 0 ? -(int32_t)input[i] : (int32_t)input[i];
        if (rescale) {
            v = tg_mbqm(v, multiplier, shift);
        }
        output[i] = (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
    }
}
