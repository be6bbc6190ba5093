/* Comparisons (int8 rescaled as TFLM's ComparisonWithScaling, int32 as they are), LOGICAL_AND / OR / NOT
 * and SELECT_V2, with numpy broadcasting over up to 5 axes. See tinygen/ops/compare.py. */
#include "tg_kernels.h"
#include "tg_requant.h"

static int32_t tg_cmp(int32_t code, int32_t a, int32_t b)
{
    switch (code) {
    case 0: return a == b;
    case 1: return a != b;
    case 2: return a < b;
    case 3: return a <= b;
    case 4: return a > b;
    default: return a >= b;
    }
}

#define TG_FOR5(d)                                          \
    for (i0 = 0; i0 < (d)[0]; i0++)                         \
        for (i1 = 0; i1 < (d)[1]; i1++)                     \
            for (i2 = 0; i2 < (d)[2]; i2++)                 \
                for (i3 = 0; i3 < (d)[3]; i3++)             \
                    for (i4 = 0; i4 < (d)[4]; i4++, k++)

#define TG_AT(st) (i0 * (st)[0] + i1 * (st)[1] + i2 * (st)[2] + i3 * (st)[3] + i4 * (st)[4])

void tg_compare(const tg_compare_params_t *p, const void *a, const void *b, uint8_t *output)
{
    int32_t i0, i1, i2, i3, i4, k = 0;
    const tg_bcast_t *s = &p->shape;
    TG_FOR5(s->dims)
    {
        int32_t va, vb;
        if (p->scaled) {
            va = tg_mbqm_lt1(tg_wrap_shl(((const int8_t *)a)[TG_AT(s->a_strides)] + p->offset1, p->left_shift), p->mult1, p->shift1);
            vb = tg_mbqm_lt1(tg_wrap_shl(((const int8_t *)b)[TG_AT(s->b_strides)] + p->offset2, p->left_shift), p->mult2, p->shift2);
        } else {
            va = ((const int32_t *)a)[TG_AT(s->a_strides)];
            vb = ((const int32_t *)b)[TG_AT(s->b_strides)];
        }
        output[k] = (uint8_t)tg_cmp(p->code, va, vb);
    }
}

void tg_logical(const tg_bcast_t *s, const uint8_t *a, const uint8_t *b, uint8_t *output, int32_t code)
{
    int32_t i0, i1, i2, i3, i4, k = 0;
    TG_FOR5(s->dims)
    {
        const int32_t va = a[TG_AT(s->a_strides)] != 0;
        if (code == 2) {
            output[k] = (uint8_t)!va;
        } else {
            const int32_t vb = b[TG_AT(s->b_strides)] != 0;
            output[k] = (uint8_t)(code == 0 ? (va && vb) : (va || vb));
        }
    }
}

void tg_select_v2(const tg_select_params_t *p, const uint8_t *cond, const void *x, const void *y, void *output)
{
    int32_t i0, i1, i2, i3, i4, k = 0;
    TG_FOR5(p->dims)
    {
        const int32_t c = cond[TG_AT(p->c_strides)] != 0;
        if (p->elem_bytes == 1) {
            ((int8_t *)output)[k] = c ? ((const int8_t *)x)[TG_AT(p->x_strides)] : ((const int8_t *)y)[TG_AT(p->y_strides)];
        } else {
            ((int16_t *)output)[k] = c ? ((const int16_t *)x)[TG_AT(p->x_strides)] : ((const int16_t *)y)[TG_AT(p->y_strides)];
        }
    }
}

void tg_squared_difference(const tg_sqdiff_params_t *p, const void *a, const void *b, void *output)
{
    int32_t i0, i1, i2, i3, i4, k = 0;
    const tg_bcast_t *s = &p->shape;
    TG_FOR5(s->dims)
    {
        const int32_t ia = TG_AT(s->a_strides), ib = TG_AT(s->b_strides);
        const int32_t va = p->elem_bytes == 1 ? ((const int8_t *)a)[ia] : ((const int16_t *)a)[ia];
        const int32_t vb = p->elem_bytes == 1 ? ((const int8_t *)b)[ib] : ((const int16_t *)b)[ib];
        const int32_t sa = tg_mbqm_lt1(tg_wrap_shl(va + p->offset1, p->left_shift), p->mult1, p->shift1);
        const int32_t sb = tg_mbqm_lt1(tg_wrap_shl(vb + p->offset2, p->left_shift), p->mult2, p->shift2);
        const int32_t d = (int32_t)((uint32_t)(sa - sb) * (uint32_t)(sa - sb));
        int32_t y = tg_mbqm(d, p->out_mult, p->out_shift);
        y = tg_offset_clamp(y, p->output_offset, p->qmin, p->qmax);
        if (p->elem_bytes == 1) {
            ((int8_t *)output)[k] = (int8_t)y;
        } else {
            ((int16_t *)output)[k] = (int16_t)y;
        }
    }
}
