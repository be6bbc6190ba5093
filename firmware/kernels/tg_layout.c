/* Byte-moving ops: TRANSPOSE / STRIDED_SLICE (gather), CONCATENATION, PAD / PADV2. */
#include <string.h>

#include "tg_kernels.h"

/* Compiled for size: a data mover that runs once per TRANSPOSE / GATHER op, a small share of any model's
 * instructions (MCUNet's TRANSPOSE: 0.1 %) next to the 12 KB kernels + runtime budget (-48 B on Cortex-M4). */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("Os")))
#endif
void tg_gather_s8(const tg_gather_params_t *p, const int8_t *input, int8_t *output)
{
    int32_t i0, i1, i2, i3, i4;
    const int32_t *d = p->dims;
    const int32_t *s = p->strides;
    const int8_t *base = input + p->offset;
    for (i0 = 0; i0 < d[0]; i0++) {
        for (i1 = 0; i1 < d[1]; i1++) {
            for (i2 = 0; i2 < d[2]; i2++) {
                for (i3 = 0; i3 < d[3]; i3++) {
                    const int8_t *src = base + i0 * s[0] + i1 * s[1] + i2 * s[2] + i3 * s[3];
                    if (s[4] == 1) {
                        memcpy(output, src, (size_t)d[4]);
                        output += d[4];
                    } else {
                        for (i4 = 0; i4 < d[4]; i4++) {
                            *output++ = src[i4 * s[4]];
                        }
                    }
                }
            }
        }
    }
}

void tg_concat(int32_t n_inputs, const int8_t *const *inputs, const int32_t *inner, int32_t outer, int8_t *output)
{
    int32_t o, k;
    for (o = 0; o < outer; o++) {
        for (k = 0; k < n_inputs; k++) {
            memcpy(output, inputs[k] + (size_t)o * inner[k], (size_t)inner[k]);
            output += inner[k];
        }
    }
}

/* Compiled for size too: its time is in memcpy / memset. TG_PAD_RUN: see tg_pad_s8. */
#define TG_PAD_RUN 64
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("Os")))
#endif
void tg_pad_s8(const tg_pad_params_t *p, const int8_t *input, int8_t *output, int32_t pad_value)
{
    /* The input's runs of in_dims[4] bytes in output order (the generator merges unpadded trailing axes into
     * runs: tinygen/ops/layout.py pad_runs), each copied. Runs of TG_PAD_RUN bytes or more: the padding between
     * them filled gap by gap, every output byte written once; shorter ones (channel padding, e.g. 8 -> 16
     * channels: a memset call per 8-byte gap costs more than filling the whole output once): the whole output
     * filled first. */
    const int32_t *od = p->out_dims;
    const int32_t *id = p->in_dims;
    const int32_t *b = p->before;
    const size_t run = (size_t)id[4];
    const size_t total = (size_t)od[0] * od[1] * od[2] * od[3] * od[4];
    const int gaps = run >= TG_PAD_RUN;
    const int v = (int)(int8_t)pad_value;
    size_t done = gaps ? 0 : total; /* output bytes filled */
    int32_t i0, i1, i2, i3;
    memset(output, v, done);
    for (i0 = 0; i0 < id[0]; i0++) {
        for (i1 = 0; i1 < id[1]; i1++) {
            for (i2 = 0; i2 < id[2]; i2++) {
                size_t o = ((((size_t)(i0 + b[0]) * od[1] + (size_t)(i1 + b[1])) * od[2] + (size_t)(i2 + b[2])) * od[3]
                            + (size_t)b[3]) * od[4] + (size_t)b[4];
                for (i3 = 0; i3 < id[3]; i3++, o += (size_t)od[4], input += run) {
                    if (gaps) {
                        memset(output + done, v, o - done);
                        done = o + run;
                    }
                    memcpy(output + o, input, run);
                }
            }
        }
    }
    memset(output + done, v, total - done);
}
