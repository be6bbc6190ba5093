/* BATCH_MATMUL int8 / int16 (see tinygen/ops/batch_matmul.py): TFLM's reference BatchMatMul.
 * lhs element (i, k) of output batch b at lhs[lhs_off[b] + i * l_si + k * l_sk], rhs element (k, j)
 * at rhs[rhs_off[b] + k * r_sk + j * r_sj]; the output is row-major (batch, rows, cols).
 *
 * Cortex-M DSP variant (int8, lhs rows contiguous, dsp = 1): per output column the rhs column minus
 * its zero point is widened once into `scratch` as int16, each group of 4 stored in SXTB16's lane
 * order (k, k + 2, k + 1, k + 3); each lhs row is read 4 values per 32-bit load, sign-extended
 * with SXTB16 / SXTB16 ROR 8 and accumulated with two SMLAD. The lhs zero point enters once per
 * output: acc - zp_l * sum_k (rhs - zp_r). Exact: the same int32 sum as the C99 loop. int16 (zero points 0):
 * the rhs column gathered once into scratch, 2 lhs values per load, SMLALD into the int64 sum. */
#include "tg_kernels.h"
#include "tg_requant.h"

static int8_t tg_bmm_out8(int32_t acc, const tg_bmm_params_t *p)
{
    const int32_t v = tg_mbqm(acc, p->multiplier, p->shift) + p->out_zp;
    return (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v);
}

#if TG_DSP
static void tg_bmm_dsp_batch(const tg_bmm_params_t *p, const int8_t *lhs, const int8_t *rhs, int8_t *out, int16_t *col)
{
    const int32_t depth = p->depth, d4 = depth & ~3;
    int32_t i, j, k;
    for (j = 0; j < p->cols; j++) {
        int32_t colsum = 0;
        for (k = 0; k < depth; k++) {
            const int32_t v = (int32_t)rhs[k * p->r_sk + j * p->r_sj] - p->rhs_zp;
            /* group of 4: lanes (k, k + 2) then (k + 1, k + 3) */
            const int32_t pos = (k & ~3) + ((k & 1) ? 2 : 0) + ((k & 2) ? 1 : 0);
            col[pos] = (int16_t)v;
            colsum += v;
        }
        for (i = 0; i < p->rows; i++) {
            const int8_t *x = lhs + (size_t)i * (size_t)p->l_si;
            int32_t acc = 0;
            for (k = 0; k < d4; k += 4) {
                const uint32_t w = tg_ld32(x + k);
                uint32_t c02, c13;
                memcpy(&c02, col + k, 4);
                memcpy(&c13, col + k + 2, 4);
                acc = tg_smlad(tg_sxtb16(w), c02, acc);
                acc = tg_smlad(tg_sxtb16_ror8(w), c13, acc);
            }
            for (; k < depth; k++) {
                const int32_t pos = (k & ~3) + ((k & 1) ? 2 : 0) + ((k & 2) ? 1 : 0);
                acc += (int32_t)x[k] * (int32_t)col[pos];
            }
            out[(size_t)i * (size_t)p->cols + (size_t)j] = tg_bmm_out8(acc - p->lhs_zp * colsum, p);
        }
    }
}
#endif

void tg_batch_matmul_s8(const tg_bmm_params_t *p, const int8_t *lhs, const int8_t *rhs, int8_t *output, int16_t *scratch)
{
    int32_t b, i, j, k;
    for (b = 0; b < p->batches; b++) {
        const int8_t *l = lhs + p->lhs_off[b];
        const int8_t *r = rhs + p->rhs_off[b];
        int8_t *o = output + (size_t)b * (size_t)p->rows * (size_t)p->cols;
#if TG_DSP
        if (p->dsp && scratch != 0) {
            tg_bmm_dsp_batch(p, l, r, o, scratch);
            continue;
        }
#else
        (void)scratch;
#endif
        for (i = 0; i < p->rows; i++) {
            for (j = 0; j < p->cols; j++) {
                int32_t acc = 0;
                for (k = 0; k < p->depth; k++) {
                    acc += ((int32_t)l[i * p->l_si + k * p->l_sk] - p->lhs_zp) * ((int32_t)r[k * p->r_sk + j * p->r_sj] - p->rhs_zp);
                }
                o[(size_t)i * (size_t)p->cols + (size_t)j] = tg_bmm_out8(acc, p);
            }
        }
    }
}


static int16_t tg_bmm_out16(int64_t acc, const tg_bmm_params_t *p)
{
    /* TFLM casts the int64 result to int32 (wrapping), then adds the zero point and clamps */
    const int64_t v = (int64_t)tg_mbqm64(acc, p->multiplier, p->shift) + p->out_zp;
    return (int16_t)(v < -32768 ? -32768 : v > 32767 ? 32767 : v);
}

#if TG_DSP
/* 16x16: the rhs column gathered once into scratch (int16, natural order), each lhs row read 2 values per
 * load, SMLALD (two 16 x 16 products into the int64 sum) */
static void tg_bmm16_dsp_batch(const tg_bmm_params_t *p, const int16_t *lhs, const int16_t *rhs, int16_t *out, int16_t *col)
{
    const int32_t depth = p->depth, d2 = depth & ~1;
    int32_t i, j, k;
    for (j = 0; j < p->cols; j++) {
        for (k = 0; k < depth; k++) {
            col[k] = rhs[k * p->r_sk + j * p->r_sj];
        }
        for (i = 0; i < p->rows; i++) {
            const int16_t *x = lhs + (size_t)i * (size_t)p->l_si;
            int64_t acc = 0;
            for (k = 0; k < d2; k += 2) {
                uint32_t c;
                memcpy(&c, col + k, 4);
                acc = __smlald((int16x2_t)tg_ld32(x + k), (int16x2_t)c, acc);
            }
            if (k < depth) {
                acc += (int64_t)x[k] * col[k];
            }
            out[(size_t)i * (size_t)p->cols + (size_t)j] = tg_bmm_out16(acc, p);
        }
    }
}
#endif

void tg_batch_matmul_s16(const tg_bmm_params_t *p, const int16_t *lhs, const int16_t *rhs, int16_t *output, int16_t *scratch)
{
    int32_t b, i, j, k;
    for (b = 0; b < p->batches; b++) {
        const int16_t *l = lhs + p->lhs_off[b];
        const int16_t *r = rhs + p->rhs_off[b];
        int16_t *o = output + (size_t)b * (size_t)p->rows * (size_t)p->cols;
#if TG_DSP
        if (p->dsp && scratch != 0) {
            tg_bmm16_dsp_batch(p, l, r, o, scratch);
            continue;
        }
#else
        (void)scratch;
#endif
        for (i = 0; i < p->rows; i++) {
            for (j = 0; j < p->cols; j++) {
                int64_t acc = 0;
                for (k = 0; k < p->depth; k++) {
                    acc += (int64_t)l[i * p->l_si + k * p->l_sk] * (int64_t)r[k * p->r_sk + j * p->r_sj];
                }
                o[(size_t)i * (size_t)p->cols + (size_t)j] = tg_bmm_out16(acc, p);
            }
        }
    }
}
