/* int32 element-wise arithmetic (see tinygen/ops/int32.py): ADD, SUB, MUL, DIV, MAXIMUM, MINIMUM,
 * SQUARED_DIFFERENCE over numpy broadcasting, as TFLM's int32 kernels compute them: plain integer
 * math, no requantization, wrapping modulo 2^32 (computed in uint32_t so that the wrap is defined C). */
#include "tg_kernels.h"
#include "tg_requant.h"

static int32_t tg_wrap32(uint32_t v)
{
    /* two's complement conversion without implementation-defined behaviour */
    return v <= 0x7FFFFFFFu ? (int32_t)v : (int32_t)(v - 0x80000000u) - 0x7FFFFFFF - 1;
}

static int32_t tg_binop_s32(int32_t a, int32_t b, int32_t code)
{
    uint32_t d;
    switch (code) {
    case 0: return tg_wrap32((uint32_t)a + (uint32_t)b);
    case 1: return tg_wrap32((uint32_t)a - (uint32_t)b);
    case 2: return tg_wrap32((uint32_t)a * (uint32_t)b);
    case 3: return a > b ? a : b;
    case 4: return a < b ? a : b;
    case 6: /* DIV: C division; x / 0 -> 0 and INT32_MIN / -1 -> INT32_MIN (TFLM's process dies on both) */
        if (b == 0) {
            return 0;
        }
        if (b == -1) {
            return tg_wrap32(0u - (uint32_t)a);
        }
        return a / b;
    default:
        d = (uint32_t)a - (uint32_t)b;
        return tg_wrap32(d * d);
    }
}

void tg_binary_s32(const tg_bcast_t *s, const int32_t *a, const int32_t *b, int32_t *output, int32_t code,
                   int32_t act_min, int32_t act_max)
{
    int32_t i0, i1, i2, i3, i4, k = 0;
    const int32_t *d = s->dims;
    if (!s->broadcast) {
        for (k = 0; k < s->size; k++) {
            int32_t v = tg_binop_s32(a[k], b[k], code);
            output[k] = v < act_min ? act_min : v > act_max ? act_max : v;
        }
        return;
    }
    TG_BCAST_EACH(s, d, k,
        int32_t v = tg_binop_s32(a[ia], b[ib], code);
        output[k] = v < act_min ? act_min : v > act_max ? act_max : v;
    );
}

void tg_broadcast_args_s32(const int32_t *a, int32_t n0, const int32_t *b, int32_t n1, int32_t *output, int32_t n_out)
{
    int32_t i;
    for (i = 0; i < n_out; i++) {
        const int32_t ia = i - (n_out - n0), ib = i - (n_out - n1);
        const int32_t va = ia >= 0 ? a[ia] : 1, vb = ib >= 0 ? b[ib] : 1;
        output[i] = va == vb ? va : va == 1 ? vb : vb == 1 ? va : (va > vb ? va : vb);
    }
}
