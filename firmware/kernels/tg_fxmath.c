/* DIV and L2_NORMALIZATION int8 (see tinygen/ops/fxmath.py): TFLM's gemmlowp fixed-point reciprocal
 * and inverse square root. RSQRT runs through tg_lut_s8 with a generated table. Portable C99. */
#include "tg_kernels.h"
#include "tg_requant.h"

/* CountLeadingSignBits(int32): 31 for 0 and -1 */
static int tg_clrsb32(int32_t x)
{
    uint32_t u = x < 0 ? ~(uint32_t)x : (uint32_t)x;
    int n = 0;
    if (u == 0) {
        return 31;
    }
    while (!(u & 0x80000000u)) {
        u <<= 1;
        n++;
    }
    return n - 1;
}

static int8_t tg_div_one(const tg_div_params_t *p, int8_t a, int8_t b)
{
    const int k = (int)b + 128;
    int32_t v1 = (int32_t)a + p->input1_offset;
    int headroom;
    int32_t uq, out, right;
    if (p->neg[k]) {
        v1 = -v1;
    }
    headroom = tg_clrsb32(v1);
    uq = tg_mbqm_gt1(v1, p->inv[k], headroom);
    right = headroom - (int32_t)p->base_shift[k];
    /* a right shift of 32 or more rounds to 0 (TFLM's C++ shifts an int32 that far: undefined there) */
    out = p->output_offset + (right > 31 ? 0 : tg_rdbpot(tg_srdhm(uq, p->output_multiplier), right < 0 ? 0 : (int)right));
    return (int8_t)(out < p->act_min ? p->act_min : out > p->act_max ? p->act_max : out);
}

void tg_div_s8(const tg_div_params_t *p, const int8_t *a, const int8_t *b, int8_t *output)
{
    const tg_bcast_t *s = &p->shape;
    int32_t i0, i1, i2, i3, i4, k = 0;
    const int32_t *d = s->dims;
    if (!s->broadcast) {
        for (k = 0; k < s->size; k++) {
            output[k] = tg_div_one(p, a[k], b[k]);
        }
        return;
    }
    TG_BCAST_EACH(s, d, k,
        output[k] = tg_div_one(p, a[ia], b[ib]);
    );
}

/* TFLM GetInvSqrtQuantizedMultiplierExp(x, kReverseShift = -1) */
void tg_inv_sqrt_exp(int32_t x, int32_t *multiplier, int32_t *shift)
{
    int32_t sh = 11, f_in, half_in, r;
    int pairs, i;
    if (x <= 1) {
        *multiplier = TG_INT32_MAX;
        *shift = 0;
        return;
    }
    while (x >= ((int32_t)1 << 29)) {
        x /= 4;
        sh++;
    }
    pairs = (tg_clz32((uint32_t)x) - 1) / 2 - 1;
    sh -= pairs;
    x = (int32_t)((uint32_t)x << (2 * pairs));
    f_in = x >> 1;
    half_in = tg_rdbpot(f_in, 1);
    r = (int32_t)1 << 28;
    for (i = 0; i < 5; i++) {
        const int32_t x3 = tg_sat_shl(tg_srdhm(tg_srdhm(r, r), r), 6);
        r = tg_sat_shl(tg_wrap_sub(tg_srdhm((1 << 28) + (1 << 27), r), tg_srdhm(half_in, x3)), 3);
    }
    r = tg_srdhm(r, 1518500250);
    if (sh < 0) {
        r = tg_wrap_shl(r, (int)-sh);
        sh = 0;
    }
    *multiplier = r;
    *shift = -sh;
}

void tg_l2norm_s8(const int8_t *input, int8_t *output, int32_t outer, int32_t depth, int32_t input_zp)
{
    int32_t o, i;
    for (o = 0; o < outer; o++) {
        const int8_t *x = input + (size_t)o * (size_t)depth;
        int8_t *y = output + (size_t)o * (size_t)depth;
        int32_t acc = 0, m, s;
        for (i = 0; i < depth; i++) {
            const int32_t v = (int32_t)x[i] - input_zp;
            acc += v * v;
        }
        tg_inv_sqrt_exp(acc, &m, &s);
        for (i = 0; i < depth; i++) {
            const int32_t v = tg_mbqm((int32_t)x[i] - input_zp, m, s + 7);
            y[i] = (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v);
        }
    }
}

/* ------------------------------------------------------------------ LOG_SOFTMAX */

/* gemmlowp SaturatingRoundingMultiplyByPOTParam, 0 <= exponent <= 31 */
static int32_t tg_sat_shl_param(int32_t x, int exponent)
{
    return exponent == 0 ? x : tg_sat_shl(x, exponent);
}

static int32_t tg_sat_add32(int32_t a, int32_t b)
{
    const int64_t s = (int64_t)a + (int64_t)b;
    return s > TG_INT32_MAX ? TG_INT32_MAX : s < TG_INT32_MIN ? TG_INT32_MIN : (int32_t)s;
}

static int32_t tg_half_sum(int32_t a, int32_t b)
{
    const int64_t s = (int64_t)a + (int64_t)b;
    return (int32_t)((s + (s >= 0 ? 1 : -1)) / 2);
}

/* gemmlowp one_over_one_plus_x_for_x_in_0_1, Q0.31 in and out */
static int32_t tg_recip_1px(int32_t a)
{
    const int32_t half_den = tg_half_sum(a, TG_INT32_MAX);
    int32_t x = tg_wrap_add(1515870810, tg_srdhm(half_den, -1010580540));
    int i;
    for (i = 0; i < 3; i++) {
        const int32_t one_minus = tg_wrap_sub((int32_t)1 << 29, tg_srdhm(half_den, x));
        x = tg_wrap_add(x, tg_sat_shl(tg_srdhm(x, one_minus), 2));
    }
    return tg_sat_shl(x, 1);
}

/* TFLM log_x_for_x_greater_than_or_equal_to_1<5>(FixedPoint<int32, 12>): Q5.26 raw */
static int32_t tg_log_q12_to_q5(int32_t z_a)
{
    const int accum = 6, input_bits = 12;
    const int32_t shifted_quarter = (int32_t)1 << 23; /* Rescale<6>(1/4) */
    const int hp1 = tg_clz32((uint32_t)z_a);
    const int32_t r_a = tg_sat_shl_param(tg_srdhm(tg_sat_shl_param(z_a, hp1 - 1), 1518500250), 1);
    const int32_t z_a_adj = tg_sat_add32(tg_sat_shl_param(input_bits - hp1, 31 - accum), shifted_quarter);
    const int32_t z_b = tg_srdhm(z_a, 1518500250);
    const int z_b_headroom = tg_clz32((uint32_t)z_b) - 1;
    const int32_t r_b = tg_sat_shl_param(z_a, z_b_headroom);
    const int32_t z_b_adj = tg_sat_add32(tg_sat_shl_param(input_bits - z_b_headroom, 31 - accum), -shifted_quarter);
    const int32_t r = r_a < r_b ? r_a : r_b;
    const int32_t z_adj = z_a_adj > z_b_adj ? z_a_adj : z_b_adj;
    const int32_t p = tg_half_sum(r, 1805811301);
    int32_t q = tg_wrap_sub(r, 1805811301), common_sq, num, denom, recip;
    q = tg_wrap_add(q, q);
    common_sq = tg_srdhm(q, q);
    num = tg_wrap_add(tg_srdhm(q, r), tg_srdhm(tg_srdhm(q, common_sq), 117049297));
    denom = tg_wrap_add(tg_srdhm(p, tg_wrap_add(tg_wrap_add(1057819769, q), tg_srdhm(127690142, common_sq))),
                        tg_srdhm(638450708, q));
    recip = tg_recip_1px(denom);
    return tg_sat_shl(tg_wrap_add(tg_srdhm(z_adj, 1488522236), tg_srdhm(tg_rdbpot(num, accum), recip)), 1);
}

void tg_log_softmax_s8(const tg_log_softmax_params_t *p, const int8_t *input, int8_t *output)
{
    int32_t o, i;
    for (o = 0; o < p->outer; o++) {
        const int8_t *x = input + (size_t)o * (size_t)p->depth;
        int8_t *y = output + (size_t)o * (size_t)p->depth;
        int32_t mx = -128, sum = 0, log_sum, adjusted, lim;
        for (i = 0; i < p->depth; i++) {
            mx = x[i] > mx ? x[i] : mx;
        }
        for (i = 0; i < p->depth; i++) {
            sum = tg_wrap_add(sum, p->exps[(int32_t)x[i] - mx + 255]);
        }
        log_sum = tg_log_q12_to_q5(sum);
        adjusted = tg_mbqm(tg_wrap_add(log_sum, TG_INT32_MIN), p->reverse_divisor, p->reverse_shift);
        lim = p->diff_min - 1;
        adjusted = adjusted > lim ? adjusted : lim;
        for (i = 0; i < p->depth; i++) {
            const int32_t d = (int32_t)x[i] - mx;
            if (d > adjusted) {
                const int32_t v = tg_rdbpot(tg_wrap_sub(p->q5[d + 255], log_sum), 22) + 127;
                y[i] = (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v);
            } else {
                y[i] = -128;
            }
        }
    }
}
