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

/* PRELU, int8 (TFLM BroadcastPrelu4DSlow). */
void tg_prelu_s8(const tg_prelu_params_t *p, const int8_t *input, const int8_t *alpha, int8_t *output)
{
    const tg_bcast_t *s = &p->shape;
    const int32_t *d = s->dims;
    int32_t i0, i1, i2, i3, i4, k = 0;
    TG_BCAST_EACH(s, d, k,
        const int32_t x = p->input_offset + input[ia];
        int32_t v;
        if (x >= 0) {
            v = tg_mbqm(x, p->mult1, p->shift1);
        } else {
            v = tg_mbqm(x * (p->alpha_offset + alpha[ib]), p->mult2, p->shift2);
        }
        output[k] = (int8_t)tg_offset_clamp(v, p->output_zp, -128, 127);
    );
}

void tg_gather_nd(const tg_gather_nd_params_t *p, const int8_t *params, const int32_t *indices, int8_t *output)
{
    const int32_t bytes = p->slice_size * p->elem_bytes;
    int32_t i, j, b;
    for (i = 0; i < p->n_idx; i++) {
        int32_t off = 0, ok = 1;
        int8_t *dst = output + i * bytes;
        for (j = 0; j < p->depth; j++) {
            const int32_t v = indices[i * p->depth + j];
            if (v < 0 || v >= p->dims[j]) {
                ok = 0;
                break;
            }
            off += v * p->strides[j];
        }
        for (b = 0; b < bytes; b++) {
            dst[b] = ok ? params[off * p->elem_bytes + b] : 0;
        }
    }
}

void tg_update_slice(const tg_update_slice_params_t *p, const int8_t *operand, const int8_t *update, const int32_t *start,
                     int8_t *output)
{
    int32_t st[TG_MAX_DIMS] = {0, 0, 0, 0, 0};
    int32_t strides[TG_MAX_DIMS];
    int32_t total = 1, d, i0, i1, i2, i3, b;
    const int32_t eb = p->elem_bytes;
    const int8_t *src = update;
    for (d = TG_MAX_DIMS - 1; d >= 0; d--) {
        strides[d] = total;
        total *= p->dims[d];
    }
    if (output != operand) {
        for (b = 0; b < total * eb; b++) {
            output[b] = operand[b];
        }
    }
    for (d = 0; d < p->rank; d++) {
        const int32_t k = TG_MAX_DIMS - p->rank + d;
        const int32_t hi = p->dims[k] - p->udims[k];
        const int32_t v = start[d];
        st[k] = v < 0 ? 0 : (v > hi ? hi : v);
    }
    for (i0 = 0; i0 < p->udims[0]; i0++) {
        for (i1 = 0; i1 < p->udims[1]; i1++) {
            for (i2 = 0; i2 < p->udims[2]; i2++) {
                for (i3 = 0; i3 < p->udims[3]; i3++) {
                    const int32_t off = (st[0] + i0) * strides[0] + (st[1] + i1) * strides[1] + (st[2] + i2) * strides[2] +
                                        (st[3] + i3) * strides[3] + st[4];
                    const int32_t n = p->udims[4] * eb;
                    for (b = 0; b < n; b++) {
                        output[off * eb + b] = src[b];
                    }
                    src += n;
                }
            }
        }
    }
}

void tg_cumsum_s8(const tg_cumsum_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t start = tg_mbqm_lt1(p->input_offset * (1 << 20), p->input_multiplier, p->input_shift);
    int32_t o, i, d;
    for (o = 0; o < p->outer; o++) {
        for (i = 0; i < p->inner; i++) {
            int32_t acc = start;
            for (d = 0; d < p->depth; d++) {
                const int32_t dd = p->reverse ? p->depth - 1 - d : d;
                const int32_t idx = (o * p->depth + dd) * p->inner + i;
                const int32_t y = tg_mbqm_lt1((p->input_offset + input[idx]) * (1 << 20), p->input_multiplier, p->input_shift);
                int32_t out;
                if (p->exclusive) {
                    out = acc;
                    acc = tg_wrap_add(acc, y);
                } else {
                    acc = tg_wrap_add(acc, y);
                    out = acc;
                }
                output[idx] = (int8_t)tg_offset_clamp(tg_mbqm_lt1(out, p->output_multiplier, p->output_shift), p->output_zp, -128, 127);
            }
        }
    }
}
