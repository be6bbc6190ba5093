/*
 * DEPTHWISE_CONV_2D, int8 (TFLM reference_integer_ops::DepthwiseConvPerChannel semantics), any
 * depth multiplier, filter size, stride, dilation and padding, with the zero-point term folded
 * into the bias as in tg_conv.c:
 *
 *   acc = sum over taps inside the image of w * x  +  sum over padded taps of w * input_zp
 *       + bias_folded                       (bias_folded = bias - input_zp * sum(w))
 *
 * Parameters (laid out by tinygen/ops/conv.py), two layouts:
 * - ring kernel (depth multiplier 1; w_row == 0): `weights` holds, per group of 4 output channels
 *   c0..c3, an int32 block of TG_DW_BLOCK(taps) words: bias[4] (folded), then per tap 2 words of
 *   int16 weights (c0, c2), (c1, c3) (the lanes SXTB16 / SXTB16 ROR 8 make of 4 int8 inputs), then
 *   rq[4][4], one row {mult, klo, khi, rm1} per channel; `bias` and `rq` are unused (dw_blocks);
 * - column kernel (depth multiplier >= 2; w_row > 0): `weights` int8 filter rows [out_c][w_row]
 *   (taps, zero-padded to a multiple of 4), `bias` [out_c] (folded), `rq` [out_c] rows;
 * - register kernel (3x3, depth multiplier 2-3; w_row == -3): per group of 4 input channels c0..c3
 *   and pair of filters (m0, m1) of each, a block of TG_DWR_BLOCK(taps) words: bias[8] (folded;
 *   accumulator order i = 4 * (m - m0) + j, output channel (4g + j) * dm + m), per tap 4 words of
 *   int16 weights (c0, c2) of m0, of m1, (c1, c3) of m0, of m1, then rq[8][4] (conv.py dw_reg_blocks).
 * Requantization rows (dw_rq_rows): TFLM shift = -(rm1 + 1); rm1 >= 0 (a right shift of rm1 + 1)
 * is done by the exact DSP requantization (tg_rqx_sat8 / TG_RQX_ASM, one SMLAL: TFLM's
 * SaturatingRoundingDoublingHighMul + RoundingDivideByPOT for every accumulator; tg_rqx_t rows,
 * see tg_kernels.h / tg_requant.h), rm1 < 0 (shift >= 0, rare) by tg_requant_s8.
 *
 * Two implementations: C99 (any CPU), and Cortex-M DSP (TG_DSP: the DSP kernels have no
 * precondition, so they run every depthwise op there). Entry points: tg_dwconv_s8 (ring layout),
 * tg_dwconv_dm_s8 (column layout).
 */
#include "tg_kernels.h"
#include "tg_requant.h"

#define TG_DW_BLOCK(taps) (20 + 2 * (taps))
#define TG_DW_PBLOCK 49 /* pair layout (w_row == -1), see tinygen/ops/conv.py dw_pair_blocks */
#define TG_DWP_SMMLAR 256 /* the pair layout's mode word of a group requantized with SMMLAR (DW_PAIR_SMMLAR) */
#define TG_DWP_SMMLARF 512 /* ... with a sign-correction flag per row (DW_PAIR_SMMLAR_FLAG) */
#define TG_DWR_BLOCK(taps) (40 + 4 * (taps)) /* register layout (w_row == -3), dw_reg_blocks */
#define TG_DWS2_CH 11                        /* stride-2 pair layout (w_row == -4 / -5; -7), dw_pair2_blocks */
#define TG_DWS2_BLOCK (1 + 4 * TG_DWS2_CH)

/* The C requantization of one output with a {mult, klo, khi, rm1} row (TFLM shift -(rm1 + 1)),
 * out of line: every path's fallback shares it. */
__attribute__((noinline)) static int8_t tg_dw_requant(int32_t acc, const int32_t *q, const tg_conv_params_t *p)
{
    return tg_requant_s8(acc, q[0], -(q[3] + 1), p->output_zp, p->act_min, p->act_max);
}

/* ================================================================== C99 (CPUs without the DSP extension) */

#if !TG_DSP /* the DSP kernels run every depthwise op there */
/* Register layout (w_row == -3): the block of output channel oc, its accumulator index in *i. */
__attribute__((noinline)) static const int32_t *tg_dwr_blk(const tg_conv_params_t *p, int32_t oc, int32_t *i)
{
    const int32_t dm = p->depth_multiplier, ic = oc / dm, m = oc - ic * dm;
    *i = 4 * (m & 1) + (ic & 3);
    return (const int32_t *)p->weights +
           (size_t)((ic >> 2) * ((dm + 1) >> 1) + (m >> 1)) * TG_DWR_BLOCK(p->k_h * p->k_w);
}

/* k x k pair layout (w_row == -6, dw_kpair_blocks): pairs per filter row and pass, and the words of half a
 * parameter block (channels c0, c1 or c2, c3: 4 bias words, 4 weight words per pair and row, 2 SMMLAR rows) */
TG_INLINE int32_t tg_dwk_npr(const tg_conv_params_t *p)
{
    return (p->k_w - 1) / 2 + 1 + (p->stride_w == 2);
}

TG_INLINE const int32_t *tg_dwk_blk(const tg_conv_params_t *p, int32_t oc, int32_t *half)
{
    *half = 12 + 4 * p->k_h * tg_dwk_npr(p);
    return (const int32_t *)p->weights + (size_t)(oc >> 2) * (2 * *half);
}

/* Stride-2 pair layout (w_row == -4 / -5, dw_pair2_blocks): output channel oc's words (its bias first). */
TG_INLINE const int32_t *tg_dws2_ch(const tg_conv_params_t *p, int32_t oc)
{
    return (const int32_t *)p->weights + (size_t)(oc >> 2) * TG_DWS2_BLOCK + 1 + TG_DWS2_CH * (oc & 3);
}

/* Weight of output channel oc at tap t, its folded bias and requantization row, in any layout. */
__attribute__((noinline)) static int32_t tg_dw_weight(const tg_conv_params_t *p, int32_t oc, int32_t t)
{
    static const uint8_t lane[4] = {0, 2, 1, 3};
    if (p->w_row == -3) {
        int32_t i;
        const uint32_t v = (uint32_t)tg_dwr_blk(p, oc, &i)[8 + 4 * t + 2 * (i & 1) + (i >> 2)];
        return (int16_t)((i & 2) ? v >> 16 : v & 0xFFFFu);
    }
    if (p->w_row == -6) { /* tap kx of row ky: half kx & 1 of WA of pair kx / 2 */
        int32_t h;
        const int32_t j = oc & 3, ky = t / p->k_w, kx = t % p->k_w;
        const int32_t *blk = tg_dwk_blk(p, oc, &h) + (j >> 1) * h;
        const uint32_t v = (uint32_t)blk[4 + 4 * (ky * tg_dwk_npr(p) + (kx >> 1)) + 2 * (j & 1)];
        return (int16_t)((kx & 1) ? v >> 16 : v & 0xFFFFu);
    }
    if (p->w_row <= -4) {
        /* stride-2 pair layout: per channel (after the group's mode word) bias, then the filter rows 1, 0, 2 */
        const int32_t ky = t / 3, kx = t % 3;
        const uint32_t v = (uint32_t)tg_dws2_ch(p, oc)[1 + 2 * (ky == 1 ? 0 : ky + 1 - (ky == 2)) + (kx == 2)];
        return (int16_t)(kx == 0 ? v & 0xFFFFu : v >> 16);
    }
    if (p->w_row < 0) {
        /* pair layout: (w0, w1), (w1, w2) per filter row; tap kx 0, 1: W01 low, high; 2: W12 high */
        const int32_t j = oc & 3, ky = t / 3, kx = t % 3;
        const int32_t *blk = (const int32_t *)p->weights + (size_t)(oc >> 2) * TG_DW_PBLOCK;
        const uint32_t v = (uint32_t)blk[(j < 2 ? 4 : 20) + 4 * ky + 2 * (j & 1) + (kx == 2)];
        return (int16_t)(kx == 0 ? v & 0xFFFFu : v >> 16);
    }
    if (p->w_row) {
        return ((const int8_t *)p->weights)[(size_t)oc * p->w_row + t];
    }
    return ((const int16_t *)((const int32_t *)p->weights + (size_t)(oc >> 2) * TG_DW_BLOCK(p->k_h * p->k_w) + 4))
        [4 * t + lane[oc & 3]];
}

__attribute__((noinline)) static const int32_t *tg_dw_rq(const tg_conv_params_t *p, int32_t oc)
{
    const int32_t taps = p->k_h * p->k_w;
    if (p->w_row == -3) {
        int32_t i;
        return tg_dwr_blk(p, oc, &i) + 8 + 4 * taps + 4 * i;
    }
    if (p->w_row == -6) {
        int32_t h;
        const int32_t *blk = tg_dwk_blk(p, oc, &h);
        return blk + ((oc & 3) >> 1) * h + h - 8 + 4 * (oc & 1);
    }
    if (p->w_row <= -4) {
        return tg_dws2_ch(p, oc) + 7;
    }
    if (p->w_row < 0) {
        return (const int32_t *)p->weights + (size_t)(oc >> 2) * TG_DW_PBLOCK + 32 + 4 * (oc & 3);
    }
    if (p->w_row) {
        return (const int32_t *)(const void *)p->rq + 4 * oc;
    }
    return (const int32_t *)p->weights + (size_t)(oc >> 2) * TG_DW_BLOCK(taps) + 4 + 2 * taps + 4 * (oc & 3);
}

__attribute__((noinline)) static int32_t tg_dw_bias(const tg_conv_params_t *p, int32_t oc)
{
    if (p->w_row == -3) {
        int32_t i;
        const int32_t *blk = tg_dwr_blk(p, oc, &i);
        return blk[i];
    }
    if (p->w_row == -6) {
        int32_t h;
        return tg_dwk_blk(p, oc, &h)[((oc & 3) >> 1) * h + (oc & 1)];
    }
    if (p->w_row == -7) { /* tiny-image layout: the raw bias (scaled like the weights), folded here */
        int32_t t, s = 0;
        for (t = 0; t < 9; t++) {
            s += tg_dw_weight(p, oc, t);
        }
        return tg_wrap_sub(tg_dws2_ch(p, oc)[0], s * p->input_zp);
    }
    if (p->w_row <= -4) {
        return tg_dws2_ch(p, oc)[0];
    }
    if (p->w_row < 0) {
        return ((const int32_t *)p->weights)[(size_t)(oc >> 2) * TG_DW_PBLOCK + ((oc & 3) < 2 ? (oc & 3) : 14 + (oc & 3))];
    }
    if (p->w_row) {
        return p->bias[oc];
    }
    return ((const int32_t *)p->weights)[(size_t)(oc >> 2) * TG_DW_BLOCK(p->k_h * p->k_w) + (oc & 3)];
}

/* The zero point to add after the exact requantization: the pair layout may have it folded into
 * khi, its mode word is what remains, or TG_DWP_SMMLAR / TG_DWP_SMMLARF (a group with scaled weights
 * and bias and SMMLAR rows, see tg_dw_rqv). */
TG_INLINE int32_t tg_dw_rqx_zp(const tg_conv_params_t *p, int32_t oc)
{
    if (p->w_row == -6) {
        return TG_DWP_SMMLAR; /* every group */
    }
    if (p->w_row <= -4) { /* the stride-2 layout's SMLAL rows leave the zero point to add */
        const int32_t mode = ((const int32_t *)p->weights)[(size_t)(oc >> 2) * TG_DWS2_BLOCK];
        return mode == TG_DWP_SMMLAR ? mode : p->output_zp;
    }
    return p->w_row == -1 || p->w_row == -2 ? ((const int32_t *)p->weights)[(size_t)(oc >> 2) * TG_DW_PBLOCK + 48]
                                            : p->output_zp;
}

/* The requantized value before the clamp of a right-shift row q: the exact requantization plus zp, or
 * for zp == TG_DWP_SMMLAR the pair layout's SMMLAR row {m, C, r, 0} applied to acc (2a, or a * 2^(L+1)
 * for a left shift L: what the assembly's SMMLAR, ADD and ASR compute), for zp == TG_DWP_SMMLARF its
 * row {m, C, r, f} (+ f where acc >= 0 instead of - [acc < 0]: TG_DWP_RQ1M); conv.py dw_pair_apply. */
TG_INLINE int32_t tg_dw_rqv(int32_t acc, const int32_t *q, int32_t zp)
{
    if (zp == TG_DWP_SMMLAR || zp == TG_DWP_SMMLARF) {
        const int64_t y = (((int64_t)acc * q[0] + ((int64_t)1 << 31)) >> 32) + q[1] +
                          (zp == TG_DWP_SMMLAR ? -(acc < 0) : (acc < 0 ? 0 : q[3]));
        return (int32_t)(y >> q[2]);
    }
    return tg_rqx_ref(acc, q[0], q[1], q[2], q[3]) + zp;
}

/* Per-tap weights decoded once per channel (filters up to this many taps; larger ones decode per
 * tap). */
#define TG_DW_C_TAPS 64
/* 3x3 filters with a right-shift requantization: a channel's input plane with its padding up to this
 * many bytes is copied into a stack buffer (padding = input_zp), the outputs then take one loop. */
#ifndef TG_DW_PLANE
#define TG_DW_PLANE 1024
#endif

/* A run of n 3x3 outputs of one channel with the whole window inside the image and a right-shift
 * (exact) requantization row: out of line, so that the 9 weights, the row and the pointers stay in
 * registers where the compiler can; no dilation along the row: its taps at immediate offsets. */
__attribute__((noinline)) static void tg_dw_run33(const int32_t *wk, const int32_t *rq, int32_t zp,
                                                  const tg_conv_params_t *p, const int8_t *r0, int8_t *o,
                                                  int32_t n, size_t dy, size_t ocol)
{
    const int32_t w0 = wk[0], w1 = wk[1], w2 = wk[2], w3 = wk[3], w4 = wk[4], w5 = wk[5];
    const int32_t w6 = wk[6], w7 = wk[7], w8 = wk[8];
    const int32_t bias = wk[9];
    const int32_t lo = p->act_min, hi = p->act_max;
    const size_t sx = (size_t)p->stride_w;
    for (; n > 0; n--, r0 += sx, o += ocol) {
        const int8_t *r1 = r0 + dy, *r2 = r1 + dy;
        int32_t a = w0 * r0[0] + w1 * r0[1] + w2 * r0[2];
        int32_t v;
        a += w3 * r1[0] + w4 * r1[1] + w5 * r1[2];
        a += w6 * r2[0] + w7 * r2[1] + w8 * r2[2];
        v = tg_dw_rqv(tg_wrap_add(a, bias), rq, zp);
        *o = (int8_t)(v < lo ? lo : (v > hi ? hi : v));
    }
}

/* One output of a channel: acc (bias included) requantized with its row q, out of line (the
 * edge outputs and the generic filters share it). The exact requantization (tg_rqx_ref: one
 * 32x32->64 multiply, no rounding steps) for the right shifts (0 <= rm1 <= 30, every row TFLM's
 * QuantizeMultiplier makes for a scale below 1/2), TFLM's MultiplyByQuantizedMultiplier for the
 * others. zp: the zero point still to add after the exact requantization (the pair layout folds it
 * into khi where it can, dw_pair_blocks). */
__attribute__((noinline)) static int8_t tg_dw_out(int32_t acc, const int32_t *q, int32_t zp, const tg_conv_params_t *p)
{
    if (zp == TG_DWP_SMMLAR || (q[3] >= 0 && q[3] <= 30)) { /* (the stride-2 layout's SMMLAR rows: lo4 in q[3]) */
        const int32_t v = tg_dw_rqv(acc, q, zp);
        return (int8_t)(v < p->act_min ? p->act_min : (v > p->act_max ? p->act_max : v));
    }
    return tg_dw_requant(acc, q, p);
}

/* Output channel oc of every pixel, its weights decoded into wk. Channel-outer loop order: the
 * weights, bias and requantization row are read once per channel. A 3x3 filter with a right-shift
 * row (and no dilation along the row) copies the channel's input plane, padded with input_zp, into
 * a stack buffer (TG_DW_PLANE bytes) and runs every output through tg_dw_run33: no edge case, no
 * bound check. Otherwise pixels whose window lies inside the image take the loop without bound
 * checks, edge pixels the checked loop with the padded taps' weights times input_zp.
 * irow/icol/orow/ocol: element steps of a row and a column (see tg_dwconv_c: the transposed pair
 * layout swaps them). */
static void tg_dwconv_c_ch(const tg_conv_params_t *p, const int8_t *input, int8_t *output, int32_t oc,
                           const int32_t *wk, size_t irow, size_t icol, size_t orow, size_t ocol)
{
    /* every parameter in a local: the int8 output stores may alias *p, which would reload it */
    const int32_t *rq = tg_dw_rq(p, oc);
    const int32_t bias = tg_dw_bias(p, oc);
    const int32_t rqx_zp = tg_dw_rqx_zp(p, oc);
    /* a right shift: the exact requantization (an SMMLAR row: the stride-2 layout's hold lo4 in rq[3]) */
    const int exact = rqx_zp == TG_DWP_SMMLAR || (rq[3] >= 0 && rq[3] <= 30);
    const int32_t in_h = p->in_h, in_w = p->in_w, out_h = p->out_h, out_w = p->out_w;
    const int32_t k_h = p->k_h, k_w = p->k_w, dil_h = p->dil_h, dil_w = p->dil_w;
    const int32_t stride_h = p->stride_h, stride_w = p->stride_w, pad_top = p->pad_top, pad_left = p->pad_left;
    const int32_t input_zp = p->input_zp;
    const size_t in_size = (size_t)in_h * in_w * p->in_c, out_size = (size_t)out_h * out_w * p->out_c;
    const int32_t batches = p->batches;
    const size_t dy = (size_t)dil_h * irow, dx = (size_t)dil_w * icol;
    const int k33 = k_h == 3 && k_w == 3;
    const int32_t span_y = (k_h - 1) * dil_h, span_x = (k_w - 1) * dil_w;
    int32_t wsum = 0, t, b, oy, ox, ky, kx;
    for (t = 0; t < k_h * k_w; t++) {
        wsum += wk[t];
    }
    if (k33 && exact && dil_w == 1) {
        /* the channel's plane padded with input_zp, so that every output takes the unchecked loop */
        const int32_t ph = (out_h - 1) * stride_h + 2 * dil_h + 1, pw = (out_w - 1) * stride_w + 2 * dil_w + 1;
        if (ph > 0 && pw > 0 && (size_t)ph * (size_t)pw <= TG_DW_PLANE) {
            int8_t plane[TG_DW_PLANE];
            int32_t wk9[10]; /* the weights, then the bias */
            int32_t py, px;
            wk9[9] = bias;
            for (t = 0; t < 9; t++) {
                wk9[t] = wk[t];
            }
            for (b = 0; b < batches; b++) {
                const int8_t *in_b = input + (size_t)b * in_size + oc / p->depth_multiplier;
                int8_t *out_b = output + (size_t)b * out_size + oc;
                int8_t *q = plane;
                for (py = 0; py < ph; py++) {
                    const int32_t iy = py - pad_top;
                    const int row = (uint32_t)iy < (uint32_t)in_h;
                    const int8_t *x = row ? in_b + (size_t)iy * irow : in_b; /* the row's next pixel */
                    for (px = 0; px < pw; px++) {
                        const int32_t ix = px - pad_left;
                        if (row && (uint32_t)ix < (uint32_t)in_w) {
                            *q++ = *x;
                            x += icol;
                        } else {
                            *q++ = (int8_t)input_zp;
                        }
                    }
                }
                for (oy = 0; oy < out_h; oy++) {
                    tg_dw_run33(wk9, rq, rqx_zp, p, plane + (size_t)oy * stride_h * pw, out_b + (size_t)oy * orow, out_w,
                                (size_t)dil_h * (size_t)pw, ocol);
                }
            }
            return;
        }
    }
    for (b = 0; b < batches; b++) {
        const int8_t *in_b = input + (size_t)b * in_size + oc / p->depth_multiplier;
        int8_t *out_b = output + (size_t)b * out_size + oc;
        for (oy = 0; oy < out_h; oy++) {
            const int32_t y0 = oy * stride_h - pad_top;
            const int rows_in = y0 >= 0 && y0 + span_y < in_h;
            int8_t *o = out_b + (size_t)oy * orow;
            for (ox = 0; ox < out_w; ox++, o += ocol) {
                const int32_t x0 = ox * stride_w - pad_left;
                int32_t acc = 0;
                if (rows_in && x0 >= 0 && x0 + span_x < in_w) {
                    const int8_t *r0 = in_b + (size_t)y0 * irow + (size_t)x0 * icol;
                    const int32_t *w = wk;
                    for (ky = 0; ky < k_h; ky++, r0 += dy) {
                        const int8_t *x = r0;
                        for (kx = 0; kx < k_w; kx++, x += dx) {
                            acc += *w++ * *x;
                        }
                    }
                } else {
                    /* edge: the taps inside the image, the others' weights times input_zp */
                    int32_t inside = 0;
                    for (ky = 0; ky < k_h; ky++) {
                        const int32_t iy = y0 + ky * dil_h;
                        const int32_t *w = wk + ky * k_w;
                        if (iy < 0 || iy >= in_h) {
                            continue;
                        }
                        for (kx = 0; kx < k_w; kx++) {
                            const int32_t ix = x0 + kx * dil_w;
                            if (ix >= 0 && ix < in_w) {
                                acc += w[kx] * in_b[(size_t)iy * irow + (size_t)ix * icol];
                                inside += w[kx];
                            }
                        }
                    }
                    acc += (wsum - inside) * input_zp;
                }
                *o = tg_dw_out(tg_wrap_add(acc, bias), rq, rqx_zp, p);
            }
        }
    }
}

/* output channels [c_lo, c_hi) of every pixel. The pair layout transposed (w_row == -2) has the
 * geometry of the transposed image: (row y, column x) is NHWC pixel (x, y). */
static void tg_dwconv_c(const tg_conv_params_t *p, const int8_t *input, int8_t *output, int32_t c_lo, int32_t c_hi)
{
    const int32_t dm = p->depth_multiplier;
    const int tr = p->w_row == -2 || p->w_row == -5;
    const int32_t taps = p->k_h * p->k_w;
    /* element steps of a row and a column, input and output */
    const size_t irow = (size_t)(tr ? 1 : p->in_w) * p->in_c, icol = (size_t)(tr ? p->in_h : 1) * p->in_c;
    const size_t orow = (size_t)(tr ? 1 : p->out_w) * p->out_c, ocol = (size_t)(tr ? p->out_h : 1) * p->out_c;
    int32_t b, oy, ox, oc, ky, kx;
    if (taps <= TG_DW_C_TAPS) {
        int32_t wk[TG_DW_C_TAPS];
        for (oc = c_lo; oc < c_hi; oc++) {
            int32_t t;
            for (t = 0; t < taps; t++) {
                wk[t] = tg_dw_weight(p, oc, t);
            }
            tg_dwconv_c_ch(p, input, output, oc, wk, irow, icol, orow, ocol);
        }
        return;
    }
    for (b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + (size_t)b * p->in_h * p->in_w * p->in_c;
        int8_t *out_b = output + (size_t)b * p->out_h * p->out_w * p->out_c;
        for (oy = 0; oy < p->out_h; oy++) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            for (ox = 0; ox < p->out_w; ox++) {
                const int32_t x0 = ox * p->stride_w - p->pad_left;
                int8_t *o = out_b + oy * orow + ox * ocol;
                for (oc = c_lo; oc < c_hi; oc++) {
                    const int32_t ic = oc / dm;
                    const int32_t *rq = tg_dw_rq(p, oc);
                    int32_t acc = 0, pad_sum = 0, t = 0;
                    for (ky = 0; ky < p->k_h; ky++) {
                        const int32_t iy = y0 + ky * p->dil_h;
                        for (kx = 0; kx < p->k_w; kx++, t++) {
                            const int32_t ix = x0 + kx * p->dil_w;
                            const int32_t w = tg_dw_weight(p, oc, t);
                            if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
                                pad_sum += w;
                            } else {
                                acc += w * (int32_t)in_b[iy * irow + ix * icol + ic];
                            }
                        }
                    }
                    acc += pad_sum * p->input_zp;
                    acc = tg_wrap_add(acc, tg_dw_bias(p, oc));
                    o[oc] = tg_dw_requant(acc, rq, p);
                }
            }
        }
    }
}
#endif


/* ================================================================== Cortex-M DSP */
#if TG_DSP

/*
 * Ring kernel (depth multiplier 1). The output is computed block by block of `groups` (the
 * generator's choice, field `groups`) groups of 4 output channels over the whole plane; for one
 * block the scratch holds a ring of R = (k_h - 1) * dil_h + 1 padded input rows (padding =
 * input_zp), each widened once to int16 pairs in the weights' lane order: [g][px][2 words],
 * px = 0..wp-1 padded columns. Every tap of an output pixel reads its 4 channels with one LDRD
 * and no bounds check, the weights with another, 4 SMLABB/SMLATT. Scratch: R tag words, k_h row
 * pointers, R * groups * wp * 8 bytes (a block of channels, not every channel: the arena stays at
 * the live-tensor bound). A depth multiplier > 1 (column kernel's job, but valid here too) only
 * changes how a ring row is filled (lane j holds input channel (4g + j) / dm).
 */
typedef struct {
    int32_t wp, rows, groups; /* padded row width, ring rows, groups of 4 channels per block */
    int32_t *tag;             /* padded row held by each ring row, -1: none */
    uint32_t *ring;           /* rows * groups * wp * 2 words */
} tg_dw_ring_t;

/* n (>= 1) groups of 4 channels, `step` bytes apart in the input (pixels of one group, or groups
 * of one pixel), widened into (c0, c2), (c1, c3) pairs `dstep` bytes apart: 13 instructions per
 * 2 groups */
__attribute__((noinline)) static void tg_dw_widen(uint32_t *d, const int8_t *src, int32_t step, int32_t n, int32_t dstep)
{
    uint32_t v0, v1, t0, t1;
    if (n & 1) {
        __asm__ volatile("ldr    %[v0], [%[s]]\n\t"
                         "add    %[s], %[s], %[st]\n\t"
                         "sxtb16 %[t0], %[v0]\n\t"
                         "sxtb16 %[t1], %[v0], ror #8\n\t"
                         "strd   %[t0], %[t1], [%[d]]\n\t"
                         "add    %[d], %[d], %[ds]\n\t"
                         : [d] "+r"(d), [s] "+r"(src), [v0] "=&r"(v0), [t0] "=&r"(t0), [t1] "=&r"(t1)
                         : [st] "r"(step), [ds] "r"(dstep)
                         : "memory");
    }
    n >>= 1;
    if (n > 0) {
        __asm__ volatile("1:\n\t"
                         "ldr    %[v0], [%[s]]\n\t"
                         "ldr    %[v1], [%[s], %[st]]\n\t"
                         "add    %[s], %[s], %[st], lsl #1\n\t"
                         "sxtb16 %[t0], %[v0]\n\t"
                         "sxtb16 %[t1], %[v0], ror #8\n\t"
                         "strd   %[t0], %[t1], [%[d]]\n\t"
                         "add    %[d], %[d], %[ds]\n\t"
                         "sxtb16 %[t0], %[v1]\n\t"
                         "sxtb16 %[t1], %[v1], ror #8\n\t"
                         "strd   %[t0], %[t1], [%[d]]\n\t"
                         "add    %[d], %[d], %[ds]\n\t"
                         "subs   %[n], %[n], #1\n\t"
                         "bne    1b\n\t"
                         : [d] "+r"(d), [s] "+r"(src), [n] "+r"(n), [v0] "=&r"(v0), [v1] "=&r"(v1), [t0] "=&r"(t0),
                           [t1] "=&r"(t1)
                         : [st] "r"(step), [ds] "r"(dstep)
                         : "cc", "memory");
    }
}

/* Widen padded input row py (input row py - pad_top) of the block starting at group g0 (ng
 * groups) into its ring row: padding columns as input_zp pairs; the input's columns with
 * tg_dw_widen where a group has 4 input channels in a row (depth multiplier 1), pixel by pixel
 * for narrow rows, else lane by lane (lane j of group g: input channel (4g + j) / dm). */
static void tg_dw_load_row(const tg_conv_params_t *p, const tg_dw_ring_t *r, const int8_t *in_b, int32_t py,
                           int32_t g0, int32_t ng)
{
    const int32_t c_n = p->in_c;
    const int32_t iy = py - p->pad_top;
    const int32_t row_words = r->wp * 2;
    const uint32_t z = tg_sxtb16(tg_splat4(p->input_zp));
    uint32_t *dst = r->ring + (size_t)(py % r->rows) * r->groups * row_words;
    /* padded columns [px0, px1) hold input columns */
    int32_t px0 = p->pad_left < r->wp ? p->pad_left : r->wp;
    int32_t px1 = p->pad_left + p->in_w < r->wp ? p->pad_left + p->in_w : r->wp;
    const int whole = p->depth_multiplier == 1 && 4 * (g0 + ng) <= c_n;
    int32_t px, g;
    if (iy < 0 || iy >= p->in_h) {
        px0 = px1 = r->wp;
    }
    for (g = 0; g < ng; g++) {
        uint32_t *d = dst + (size_t)g * row_words;
        for (px = 0; px < px0; px++) {
            d[2 * px] = z;
            d[2 * px + 1] = z;
            TG_NO_LIBCALL();
        }
        for (px = px1; px < r->wp; px++) {
            d[2 * px] = z;
            d[2 * px + 1] = z;
            TG_NO_LIBCALL();
        }
    }
    if (px1 > px0) {
        const int8_t *x = in_b + ((size_t)iy * p->in_w + (px0 - p->pad_left)) * c_n;
        if (whole && px1 - px0 < 2 * ng) {
            /* narrow rows: pixel by pixel, the block's groups of a pixel */
            for (px = px0; px < px1; px++, x += c_n) {
                tg_dw_widen(dst + 2 * px, x + 4 * g0, 4, ng, row_words * 4);
            }
        } else if (whole) {
            for (g = 0; g < ng; g++) {
                tg_dw_widen(dst + (size_t)g * row_words + 2 * px0, x + 4 * (g0 + g), c_n, px1 - px0, 8);
            }
        } else {
            for (g = 0; g < ng; g++) {
                int32_t icg[4], j;
                uint32_t *d = dst + (size_t)g * row_words + 2 * px0;
                for (j = 0; j < 4; j++) {
                    const int32_t c = 4 * (g0 + g) + j;
                    icg[j] = c < p->out_c ? c / p->depth_multiplier : -1;
                }
                const int8_t *xp = x;
                for (px = px0; px < px1; px++, xp += c_n, d += 2) {
                    const int32_t v0 = icg[0] >= 0 ? xp[icg[0]] : 0, v1 = icg[1] >= 0 ? xp[icg[1]] : 0;
                    const int32_t v2 = icg[2] >= 0 ? xp[icg[2]] : 0, v3 = icg[3] >= 0 ? xp[icg[3]] : 0;
                    d[0] = (uint32_t)(uint16_t)v0 | ((uint32_t)v2 << 16);
                    d[1] = (uint32_t)(uint16_t)v1 | ((uint32_t)v3 << 16);
                }
            }
        }
    }
    r->tag[py % r->rows] = py;
}

/* State of tg_dw_taps (field offsets are used by its assembly). */
typedef struct {
    int32_t acc[4];              /* 0: in: biases, out: sums (c0, c1, c2, c3) */
    const uint32_t *w;           /* 16: the group's weights, tap after tap */
    const uint32_t *const *rows; /* 20: the k_h ring rows (first group, first column) */
    int32_t off;                 /* 24: bytes from a ring row's start to the pixel's first tap */
    int32_t kh, kw;              /* 28, 32: >= 1 */
    int32_t xstep;               /* 36: bytes from tap to tap along a row (8 * dil_w) */
} tg_dwt_t;

/* Any filter: the k_h x k_w taps of one pixel and group of 4 channels, 9 instructions per tap
 * (LDRD of the inputs, LDRD of the weights, 4 SMLABB/SMLATT). External linkage: the compiler
 * must keep its calling convention (r0 = a). */
void tg_dw_taps(tg_dwt_t *a);
__attribute__((naked, noinline)) void tg_dw_taps(tg_dwt_t *a __attribute__((unused)))
{
    __asm__(
        "push   {r0, r4-r11, lr}\n\t"
        "add    r12, r0, #16\n\t"
        "ldm    r12, {r4-r9}\n\t"
        "ldm    r0, {r0-r3}\n\t"
        "sub    sp, sp, #8\n\t"
        "strd   r6, r8, [sp]\n\t"
        "2:\n\t"
        "ldr    r10, [r5], #4\n\t"
        "ldr    r12, [sp]\n\t"
        "add    r10, r10, r12\n\t"
        "ldr    r11, [sp, #4]\n\t"
        "1:\n\t"
        "ldrd   r12, lr, [r10]\n\t"
        "add    r10, r10, r9\n\t"
        "ldrd   r6, r8, [r4], #8\n\t"
        "smlabb r0, r12, r6, r0\n\t"
        "smlatt r2, r12, r6, r2\n\t"
        "smlabb r1, lr, r8, r1\n\t"
        "smlatt r3, lr, r8, r3\n\t"
        "subs   r11, r11, #1\n\t"
        "bne    1b\n\t"
        "subs   r7, r7, #1\n\t"
        "bne    2b\n\t"
        "add    sp, sp, #8\n\t"
        "ldr    r12, [sp]\n\t"
        "stm    r12, {r0-r3}\n\t"
        "pop    {r0, r4-r11, pc}\n\t");
}

/* State of tg_dw3x3_px (field offsets are used by its assembly). */
typedef struct {
    const int32_t *blk;         /* 0: the block's first parameter block (the others follow it) */
    const uint32_t *const *row; /* 4: the 3 ring rows (first group, first column) */
    int32_t xoff;               /* 8: bytes from a ring row's start to the current pixel */
    int32_t px_step;            /* 12: bytes from pixel to pixel (stride_w columns) */
    int8_t *out;                /* 16: the current pixel's first output of the block */
    int32_t out_step;           /* 20: bytes from pixel to pixel in the output (out_c) */
    int32_t pixels;             /* 24: >= 1 */
    int32_t zp;                 /* 28: output zero point */
    uint32_t lo4, hi4;          /* 32, 36: activation bounds in every byte lane */
    int32_t gstride;            /* 40: bytes from a group's ring row to the next group's */
    int32_t groups;             /* 44: groups in the block, >= 1 */
} tg_dwk_t;

/* one row of 3 taps of 4 channels, acc r0..r3: x pairs at [r7 + 0/8/16] (r7 = ring row + r6),
 * weight pairs from [r4]: taps 0 and 1 by one LDM, tap 2 by LDRD */
#define TG_DWK_MAC(xa, xb, wa, wb)          \
    "smlabb r0, " xa ", " wa ", r0\n\t"      \
    "smlatt r2, " xa ", " wa ", r2\n\t"      \
    "smlabb r1, " xb ", " wb ", r1\n\t"      \
    "smlatt r3, " xb ", " wb ", r3\n\t"
#define TG_DWK_ROW(roff)                    \
    "ldr    r7, [r5, #" roff "]\n\t"         \
    "add    r7, r7, r6\n\t"                 \
    "ldm    r4!, {r8-r11}\n\t"              \
    "ldrd   r12, lr, [r7, #0]\n\t"          \
    TG_DWK_MAC("r12", "lr", "r8", "r9")     \
    "ldrd   r12, lr, [r7, #8]\n\t"          \
    TG_DWK_MAC("r12", "lr", "r10", "r11")   \
    "ldrd   r8, r9, [r4], #8\n\t"           \
    "ldrd   r12, lr, [r7, #16]\n\t"         \
    TG_DWK_MAC("r12", "lr", "r8", "r9")
/* exact requantization (TG_RQX_ASM) of acc `a` with the next tg_rqx_t row from [r4], zp in r11 */
#define TG_DWK_RQ(a)                        \
    "ldm    r4!, {r7-r10}\n\t"              \
    TG_RQX_ASM(a, "r7", "r8", "r9", "r10", "r11")

/* 3x3 depthwise, dilation 1 along the row, a block of whole groups of 4 channels whose rows all
 * have rm1 >= 0: output pixels one after the other, in each the block's groups (bias, 9 taps x 4
 * SMLABB/SMLATT, exact requantization, packed clamp, one 32-bit store). Stack: the state, then
 * 48: group offset in the ring rows, 52: output pointer, 56: groups left. External linkage: the
 * compiler must keep its calling convention (r0 = a). */
void tg_dw3x3_px(tg_dwk_t *a);
__attribute__((naked, noinline)) void tg_dw3x3_px(tg_dwk_t *a __attribute__((unused)))
{
    __asm__(
        "push   {r4-r11, lr}\n\t"
        "sub    sp, sp, #64\n\t"
        "ldm    r0!, {r1-r8}\n\t"
        "stm    sp, {r1-r8}\n\t"
        "ldm    r0, {r1-r4}\n\t"
        "add    r0, sp, #32\n\t"
        "stm    r0, {r1-r4}\n\t"
        "1:\n\t" /* pixel */
        "ldr    r4, [sp, #0]\n\t"
        "ldr    r6, [sp, #8]\n\t"
        "ldr    r7, [sp, #16]\n\t"
        "ldr    r8, [sp, #44]\n\t"
        "str    r7, [sp, #52]\n\t"
        "str    r8, [sp, #56]\n\t"
        "2:\n\t" /* group */
        "str    r6, [sp, #48]\n\t"
        "ldm    r4!, {r0-r3}\n\t"
        "ldr    r5, [sp, #4]\n\t"
        TG_DWK_ROW("0") TG_DWK_ROW("4") TG_DWK_ROW("8")
        "ldr    r11, [sp, #28]\n\t"
        TG_DWK_RQ("r0") TG_DWK_RQ("r1") TG_DWK_RQ("r2") TG_DWK_RQ("r3")
        "bfi    r0, r1, #8, #8\n\t"
        "bfi    r0, r2, #16, #8\n\t"
        "bfi    r0, r3, #24, #8\n\t"
        "ldrd   r6, r7, [sp, #32]\n\t"
        "ssub8  r5, r0, r6\n\t"
        "sel    r0, r0, r6\n\t"
        "ssub8  r5, r0, r7\n\t"
        "sel    r0, r7, r0\n\t"
        "ldr    r5, [sp, #52]\n\t"
        "str    r0, [r5], #4\n\t"
        "str    r5, [sp, #52]\n\t"
        "ldrd   r6, r7, [sp, #40]\n\t"
        "ldr    r5, [sp, #48]\n\t"
        "add    r6, r6, r5\n\t"
        "ldr    r7, [sp, #56]\n\t"
        "subs   r7, r7, #1\n\t"
        "str    r7, [sp, #56]\n\t"
        "bne    2b\n\t"
        /* next pixel */
        "ldrd   r5, r6, [sp, #8]\n\t"
        "add    r5, r5, r6\n\t"
        "str    r5, [sp, #8]\n\t"
        "ldrd   r5, r6, [sp, #16]\n\t"
        "add    r5, r5, r6\n\t"
        "str    r5, [sp, #16]\n\t"
        "ldr    r5, [sp, #24]\n\t"
        "subs   r5, r5, #1\n\t"
        "str    r5, [sp, #24]\n\t"
        "bne    1b\n\t"
        "add    sp, sp, #64\n\t"
        "pop    {r4-r11, pc}\n\t");
}

/* The outputs of one row of the block's channels with a left shift (rm1 < 0, requantized in C),
 * from the ring rows (3x3, dilation 1 along the row): the 3x3 assembly computed the others. */
__attribute__((noinline)) static void tg_dw_fix_row(const tg_conv_params_t *p, const tg_dw_ring_t *r,
                                                    const uint32_t *const *row, const int32_t *blk0, int32_t ng,
                                                    int8_t *out)
{
    int32_t g, j, ox, ky, kx;
    for (g = 0; g < ng; g++) {
        const int32_t *blk = blk0 + (size_t)g * TG_DW_BLOCK(9);
        const int16_t *w = (const int16_t *)(blk + 4);
        for (j = 0; j < 4; j++) {
            /* lane of channel j: word (j & 1) of a tap's pair, half j >> 1 */
            const int32_t lane = 2 * (j & 1) + (j >> 1);
            const int32_t *q = blk + 4 + 18 + 4 * j;
            if (q[3] >= 0) {
                continue;
            }
            for (ox = 0; ox < p->out_w; ox++) {
                int32_t acc = blk[j];
                for (ky = 0; ky < 3; ky++) {
                    const int16_t *x = (const int16_t *)(row[ky] + (size_t)g * r->wp * 2) + 4 * ox * p->stride_w;
                    for (kx = 0; kx < 3; kx++) {
                        acc = tg_wrap_add(acc, (int32_t)x[4 * kx + lane] * w[4 * (3 * ky + kx) + lane]);
                    }
                }
                out[(size_t)ox * p->out_c + 4 * g + j] = tg_dw_requant(acc, q, p);
            }
        }
    }
}

/* scratch: R tag words (R rounded up to even), k_h row pointers (rounded up to even), the ring */
static void tg_dwconv_dsp(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch)
{
    const int32_t oc_n = p->out_c;
    const int32_t taps = p->k_h * p->k_w;
    const int32_t groups = (oc_n + 3) >> 2;
    const uint32_t lo4 = tg_splat4(p->act_min), hi4 = tg_splat4(p->act_max);
    const int fast3 = p->k_h == 3 && p->k_w == 3 && p->dil_w == 1;
    const int32_t xstep = 8 * p->dil_w; /* bytes */
    tg_dw_ring_t r;
    const uint32_t **row;
    int32_t b, g0, g, oy, ox, ky, k;
    r.wp = (p->out_w - 1) * p->stride_w + (p->k_w - 1) * p->dil_w + 1;
    r.rows = (p->k_h - 1) * p->dil_h + 1;
    r.groups = p->groups < 1 ? 1 : p->groups;
    r.tag = (int32_t *)scratch;
    row = (const uint32_t **)((uint32_t *)scratch + ((r.rows + 1) & ~1));
    r.ring = (uint32_t *)scratch + ((r.rows + 1) & ~1) + ((p->k_h + 1) & ~1);
    for (b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + (size_t)b * p->in_h * p->in_w * p->in_c;
        int8_t *out_b = output + (size_t)b * p->out_h * p->out_w * oc_n;
        for (g0 = 0; g0 < groups; g0 += r.groups) {
            const int32_t ng = groups - g0 < r.groups ? groups - g0 : r.groups;
            const int32_t *blk0 = (const int32_t *)p->weights + (size_t)g0 * TG_DW_BLOCK(taps);
            const int fast = fast3 && 4 * (g0 + ng) <= oc_n;
            int fix = 0; /* channels with a left shift (rm1 < 0): the assembly's result for them is
                          * replaced, row by row, by tg_dw_fix_row's */
            for (g = 0; g < ng; g++) {
                const int32_t *rq = blk0 + (size_t)g * TG_DW_BLOCK(taps) + 4 + 2 * taps;
                fix = fix || (rq[3] | rq[7] | rq[11] | rq[15]) < 0;
            }
            for (k = 0; k < r.rows; k++) {
                r.tag[k] = -1;
                TG_NO_LIBCALL();
            }
            for (oy = 0; oy < p->out_h; oy++) {
                int8_t *out = out_b + (size_t)oy * p->out_w * oc_n + 4 * g0;
                tg_barrier(); /* the previous row's reads are done before the ring is written */
                for (ky = 0; ky < p->k_h; ky++) {
                    const int32_t py = oy * p->stride_h + ky * p->dil_h;
                    if (r.tag[py % r.rows] != py) {
                        tg_dw_load_row(p, &r, in_b, py, g0, ng);
                    }
                    row[ky] = r.ring + (size_t)(py % r.rows) * r.groups * r.wp * 2;
                }
                tg_barrier();
                if (fast) {
                    tg_dwk_t a;
                    a.blk = blk0;
                    a.row = row;
                    a.xoff = 0;
                    a.px_step = p->stride_w * 8;
                    a.out = out;
                    a.out_step = oc_n;
                    a.pixels = p->out_w;
                    a.zp = p->output_zp;
                    a.lo4 = lo4;
                    a.hi4 = hi4;
                    a.gstride = r.wp * 8;
                    a.groups = ng;
                    tg_dw3x3_px(&a);
                    tg_barrier();
                    if (fix) {
                        tg_dw_fix_row(p, &r, row, blk0, ng, out);
                    }
                    continue;
                }
                for (ox = 0; ox < p->out_w; ox++, out += oc_n) {
                    const int32_t px_off = ox * p->stride_w * 2;
                    for (g = 0; g < ng; g++) {
                        const int32_t *blk = blk0 + (size_t)g * TG_DW_BLOCK(taps);
                        const int32_t *rq = blk + 4 + 2 * taps;
                        const int32_t c0 = 4 * (g0 + g);
                        const size_t goff = (size_t)g * r.wp * 2;
                        int8_t *o = out + 4 * g;
                        int32_t a0, a1, a2, a3;
                        {
                            tg_dwt_t t;
                            t.acc[0] = blk[0];
                            t.acc[1] = blk[1];
                            t.acc[2] = blk[2];
                            t.acc[3] = blk[3];
                            t.w = (const uint32_t *)blk + 4;
                            t.rows = row;
                            t.off = (int32_t)(goff + px_off) * 4;
                            t.kh = p->k_h;
                            t.kw = p->k_w;
                            t.xstep = xstep;
                            tg_dw_taps(&t);
                            a0 = t.acc[0];
                            a1 = t.acc[1];
                            a2 = t.acc[2];
                            a3 = t.acc[3];
                        }
                        if (c0 + 4 <= oc_n && rq[3] >= 0 && rq[7] >= 0 && rq[11] >= 0 && rq[15] >= 0) {
                            const uint32_t v =
                                tg_pack4(tg_rqx_sat8(a0, rq, p->output_zp), tg_rqx_sat8(a1, rq + 4, p->output_zp),
                                         tg_rqx_sat8(a2, rq + 8, p->output_zp), tg_rqx_sat8(a3, rq + 12, p->output_zp));
                            tg_st32(o, tg_clamp4(v, lo4, hi4));
                        } else {
                            const int32_t acc[4] = {a0, a1, a2, a3};
                            for (k = 0; k < 4 && c0 + k < oc_n; k++) {
                                const int32_t *q = rq + 4 * k;
                                o[k] = tg_dw_requant(acc[k], q, p);
                            }
                        }
                    }
                }
            }
        }
    }
}

/*
 * Ring kernel, 3x3 pair layout (w_row == -1: 3x3 filter, depth multiplier 1, stride 1 and
 * dilation 1 along the row; parameter blocks of TG_DW_PBLOCK words, see dw_pair_blocks). A ring
 * row holds, per group of 4 channels, whole pixel pairs q: 4 words (x[2q], x[2q + 1]) of c0..c3
 * as int16 pairs. Output pixels 2q, 2q + 1 of channel c and filter row (w0, w1, w2):
 *   A = SMLAD(P_q, W01) + SMLABT(P_q+1, W12)   (x0 w0 + x1 w1, x2 w2)
 *   B = SMLAD(P_q+1, W12) + SMLATB(P_q, W01)   (x2 w1 + x3 w2, x1 w0)
 * 4 instructions for 6 multiply-accumulates; the exact requantization has the output zero point
 * folded into its row (khi) where 0 <= rm1 <= 22 (5 instructions per output), else added. The
 * generator gives this layout only to layers of whole groups of 4 channels whose rows are all
 * right shifts (rm1 >= 0; conv.py dw_pairs3): there is no other path. w_row == -2: the same on the
 * transposed image (rows of the kernel = columns of the layer, conv.py dw_transposed).
 */
/* One ring row of ng (>= 1) groups of 4 channels, np pairs each: for each group (its first pixel at src + 4 g,
 * pixels `step` bytes apart), with edges bit 0 first a pair (input_zp, pixel), then n (>= 0) pairs of two
 * pixels (10 instructions per pair: four pairs per iteration, two pointer adds (offsets 0, step, 2 step,
 * 3 step), one STM per pair; n % 4 pairs enter the loop part-way, at an address chosen once for all groups),
 * then with edges bit 1 a pair (pixel, input_zp), then edges >> 8 pairs (input_zp, input_zp): each pair 4
 * words (x0, x1) of c0, c1, c2, c3 as int16 pairs, a group's pairs contiguous. n, edges and z4 (input_zp in 4
 * bytes) from the plan w (tg_dw_wplan_t). The choices (left edge, the loop's entry, the right edge) are made
 * once per layer, as code addresses: the first call (w->k[1] == 0) keeps them with the loop's counts in w->k,
 * the frame the group loop reads (the next calls' set-up: one LDM). `step` must be the same in every call of
 * a plan. External linkage: the compiler must keep its calling convention (r0 = d, r1 = src, r2 = step,
 * r3 = ng, then w on the stack). */
struct tg_dw_wplan_s;
void tg_dw_widen_row(uint32_t *d, const int8_t *src, int32_t step, int32_t ng, struct tg_dw_wplan_s *w);
/* words a, b (pixels x0, x1 of c0..c3) into (x0, x1) of c0, c1, c2, c3, stored at [r0]! */
#define TG_DW_WPAIR(a, b)                    \
    "pkhbt  r4, " a ", " b ", lsl #16\n\t"   \
    "pkhtb  " b ", " b ", " a ", asr #16\n\t" \
    "sxtb16 r5, r4, ror #8\n\t"              \
    "sxtb16 r4, r4\n\t"                      \
    "sxtb16 r6, " b "\n\t"                   \
    "sxtb16 r7, " b ", ror #8\n\t"           \
    "stm    r0!, {r4-r7}\n\t"
#define TG_DW_WLOAD4                         \
    "ldr    r8, [r1]\n\t"                    \
    "ldr    r9, [r1, r2]\n\t"                \
    "ldr    r10, [r1, r2, lsl #1]\n\t"       \
    "ldr    r11, [r1, lr]\n\t"               \
    "add    r1, r1, r2, lsl #2\n\t"
__attribute__((naked, noinline)) void tg_dw_widen_row(uint32_t *d __attribute__((unused)),
                                                      const int8_t *src __attribute__((unused)),
                                                      int32_t step __attribute__((unused)),
                                                      int32_t ng __attribute__((unused)),
                                                      struct tg_dw_wplan_s *w __attribute__((unused)))
{
    __asm__("push   {r4-r11, lr}\n\t"
            "ldr    r12, [sp, #36]\n\t" /* w */
            "ldr    r4, [r12, #20]\n\t" /* w->k[1]: 0 until the first call's choices */
            "cbz    r4, 30f\n\t"
            "31:\n\t"
            "add    r12, r12, #16\n\t"
            "ldm    r12, {r4-r11}\n\t"
            "push   {r4-r11}\n\t" /* sp: iterations, entry, (zp, zp) pairs, src skip, (zp, zp), right edge,
                                   * group start, after a (pixel, zp) pair */
            "mov    r12, r3\n\t"    /* ng */
            "add    lr, r2, r2, lsl #1\n\t"
            "ldr    pc, [sp, #24]\n\t"
            "30:\n\t" /* the layer's choices (lr: n) */
            "ldr    lr, [r12, #4]\n\t"
            "ldrd   r9, r10, [r12, #8]\n\t" /* edges, z4 */
            "sxtb16 r10, r10\n\t"           /* (zp, zp) */
            "and    r7, r9, #1\n\t"
            "add    r7, r7, lr, lsl #1\n\t"
            "mul    r7, r7, r2\n\t"
            "rsb    r7, r7, #4\n\t"         /* 4 - (2 n + left) step: from a group's end to the next group's src */
            /* where a group's right edge starts: none (22), one (zp, zp) pair (26), more (24); (pixel, zp) first
             * (23), then one of those (r8) */
            "lsrs   r6, r9, #8\n\t" /* (zp, zp) pairs */
            "adr.w  r8, 22f+1\n\t"
            "cmp    r6, #1\n\t"
            "it     eq\n\t"
            "adreq.w r8, 26f+1\n\t"
            "it     hi\n\t"
            "adrhi.w r8, 24f+1\n\t"
            "mov    r11, r8\n\t"
            "tst    r9, #2\n\t"
            "it     ne\n\t"
            "adrne.w r11, 23f+1\n\t"
            /* where the pairs enter the loop (n % 4; none: the right edge) */
            "lsls   r4, lr, #31\n\t" /* N: n bit 0, C: n bit 1 */
            "adr.w  r5, 1f+1\n\t"      /* n % 4 == 0 */
            "bcc    6f\n\t"
            "adr.w  r5, 3f+1\n\t"      /* n % 4 == 2 */
            "bpl    7f\n\t"
            "adr.w  r5, 8f+1\n\t"      /* n % 4 == 3 */
            "b      7f\n\t"
            "6:\n\t"
            "bpl    7f\n\t"
            "adr.w  r5, 9f+1\n\t"      /* n % 4 == 1 */
            "7:\n\t"
            "cmp    lr, #0\n\t"
            "it     eq\n\t"
            "moveq  r5, r11\n\t"
            "adds   r4, lr, #3\n\t"
            "lsrs   r4, r4, #2\n\t"  /* iterations */
            /* where a group starts: the left edge or the pairs */
            "adr.w  lr, 20f+1\n\t"
            "tst    r9, #1\n\t"
            "it     eq\n\t"
            "adreq.w lr, 21f+1\n\t"
            "mov    r9, r11\n\t"
            "mov    r11, r8\n\t"
            "mov    r8, r10\n\t"
            "mov    r10, lr\n\t"
            "add    lr, r12, #16\n\t"
            "stm    lr, {r4-r11}\n\t" /* w->k */
            "b      31b\n\t"
            "26:\n\t" /* one (zp, zp) pair */
            "ldr    r4, [sp, #16]\n\t"
            "mov    r5, r4\n\t"
            "mov    r6, r4\n\t"
            "mov    r7, r4\n\t"
            "stm    r0!, {r4-r7}\n\t"
            "b      22f\n\t"
            "20:\n\t" /* (zp, pixel) */
            "ldr    r8, [r1]\n\t"
            "add    r1, r1, r2\n\t"
            "ldr    r11, [sp, #16]\n\t"
            "sxtb16 r9, r8\n\t"
            "sxtb16 r10, r8, ror #8\n\t"
            "pkhbt  r4, r11, r9, lsl #16\n\t"
            "pkhbt  r5, r11, r10, lsl #16\n\t"
            "pkhtb  r6, r9, r11\n\t"
            "pkhtb  r7, r10, r11\n\t"
            "stm    r0!, {r4-r7}\n\t"
            "21:\n\t" /* the pairs */
            "ldrd   r3, r4, [sp]\n\t"
            "bx     r4\n\t"
            "8:\n\t" /* one pair, then the loop's second */
            "ldr    r10, [r1]\n\t"
            "ldr    r11, [r1, r2]\n\t"
            "add    r1, r1, r2, lsl #1\n\t"
            "b      2f\n\t"
            "9:\n\t" /* one pair, then the loop's fourth */
            "ldr    r10, [r1]\n\t"
            "ldr    r11, [r1, r2]\n\t"
            "add    r1, r1, r2, lsl #1\n\t"
            "b      4f\n\t"
            "1:\n\t"
            TG_DW_WLOAD4
            TG_DW_WPAIR("r8", "r9")
            "2:\n\t"
            TG_DW_WPAIR("r10", "r11")
            "3:\n\t"
            TG_DW_WLOAD4
            TG_DW_WPAIR("r8", "r9")
            "4:\n\t"
            TG_DW_WPAIR("r10", "r11")
            "subs   r3, r3, #1\n\t"
            "bne    1b\n\t"
            "ldr    pc, [sp, #20]\n\t"
            "23:\n\t" /* (pixel, zp) */
            "ldr    r8, [r1]\n\t"
            "ldr    r11, [sp, #16]\n\t"
            "sxtb16 r9, r8\n\t"
            "sxtb16 r10, r8, ror #8\n\t"
            "pkhbt  r4, r9, r11\n\t"
            "pkhbt  r5, r10, r11\n\t"
            "pkhtb  r6, r11, r9, asr #16\n\t"
            "pkhtb  r7, r11, r10, asr #16\n\t"
            "stm    r0!, {r4-r7}\n\t"
            "ldr    pc, [sp, #28]\n\t"
            "24:\n\t" /* (zp, zp) pairs (>= 2) */
            "ldr    r3, [sp, #8]\n\t"
            "ldr    r4, [sp, #16]\n\t"
            "mov    r5, r4\n\t"
            "mov    r6, r4\n\t"
            "mov    r7, r4\n\t"
            "25:\n\t"
            "stm    r0!, {r4-r7}\n\t"
            "subs   r3, r3, #1\n\t"
            "bne    25b\n\t"
            "22:\n\t" /* the next group */
            "subs   r12, r12, #1\n\t"
            "beq    29f\n\t"
            "ldr    r5, [sp, #12]\n\t"
            "add    r1, r1, r5\n\t"
            "ldr    pc, [sp, #24]\n\t"
            "29:\n\t"
            "add    sp, sp, #32\n\t"
            "pop    {r4-r11, pc}\n\t");
}

/* (input_zp, x) of c0, c1, c2, c3 from word x (pixel x of c0..c3), (zp, zp) in r8, stored at [r0]! */
#define TG_DW_WLEFT(x)                       \
    "sxtb16 r6, " x "\n\t"                   \
    "sxtb16 r7, " x ", ror #8\n\t"           \
    "pkhbt  r4, r8, r6, lsl #16\n\t"         \
    "pkhbt  r5, r8, r7, lsl #16\n\t"         \
    "pkhtb  r6, r6, r8\n\t"                  \
    "pkhtb  r7, r7, r8\n\t"                  \
    "stm    r0!, {r4-r7}\n\t"
/* A ring row of rows of 2-6 input pixels with a left edge (3x3 SAME at stride 1 on 2-6 pixel rows:
 * conv.py dw_small_rows, entry point tg_dwconv_p3q_s8): per group straight on, its pixels in registers, no
 * per-group dispatch: 4 pixels (plan n 1, edges 3) (zp, x0), (x1, x2), (x3, zp), 30 instructions per group (41 in
 * tg_dw_widen_row); 3 (n 1, edges 0x101) (zp, x0), (x1, x2), (zp, zp): the 4-pixel code with x3 = input_zp in
 * 4 bytes (29, was 38); 2 (n 0, edges 3) (zp, x0), (x1, zp) (22, was 27); 6 (n 2, edges 3) and 5 (n 2, edges
 * 0x101) one pair more (41 / 39, were 50 / 47). Same arguments as tg_dw_widen_row (the plan's n, edges and z4
 * only). External linkage: the compiler must keep its calling convention. */
void tg_dw_widen_small(uint32_t *d, const int8_t *src, int32_t step, int32_t ng, struct tg_dw_wplan_s *w);
__attribute__((naked, noinline)) void tg_dw_widen_small(uint32_t *d __attribute__((unused)),
                                                        const int8_t *src __attribute__((unused)),
                                                        int32_t step __attribute__((unused)),
                                                        int32_t ng __attribute__((unused)),
                                                        struct tg_dw_wplan_s *w __attribute__((unused)))
{
    __asm__("push   {r4-r11, lr}\n\t"
            "ldr    r12, [sp, #36]\n\t" /* w */
            "ldrd   r4, r5, [r12, #4]\n\t" /* n, edges */
            "ldr    r11, [r12, #12]\n\t"   /* z4: the odd rows' last "pixel" (its pair (zp, zp)) */
            "sxtb16 r8, r11\n\t"           /* (zp, zp) */
            "add    lr, r2, r2, lsl #1\n\t"
            "mov    r12, r3\n\t"
            /* the group's start (r6) and where its pairs (x1, x2) go on (r7): (x3, x4) for 5-6 pixels, else the
             * last pair */
            "adr.w  r7, 43f+1\n\t"
            "cmp    r4, #1\n\t"
            "it     hi\n\t"
            "adrhi.w r7, 52f+1\n\t"
            "adr.w  r6, 51f+1\n\t" /* edges 0x101: 3, 5 pixels (the last one input_zp) */
            "cmp    r5, #3\n\t"
            "bne    1f\n\t"
            "adr.w  r6, 40f+1\n\t" /* edges 3: n 1, 4 pixels */
            "cmp    r4, #1\n\t"
            "it     lo\n\t"
            "adrlo.w r6, 42f+1\n\t" /* n 0: 2 */
            "it     hi\n\t"
            "adrhi.w r6, 50f+1\n\t" /* n 2: 6 */
            "1:\n\t"
            "push   {r6, r7}\n\t"
            "bx     r6\n\t"
            "50:\n\t" /* 6 pixels: the last one (x5) in r11 */
            "add    r11, r1, r2, lsl #2\n\t"
            "ldr    r11, [r11, r2]\n\t"
            "b      51f\n\t"
            "40:\n\t" /* 4 pixels: the last one (x3) in r11 */
            "ldr    r11, [r1, lr]\n\t"
            "51:\n\t" /* (zp, x0), (x1, x2), then (x3, x4) and the last pair, or the last pair */
            "ldr    r10, [r1, r2, lsl #1]\n\t"
            "ldr    r9, [r1, r2]\n\t"
            "ldr    r3, [r1]\n\t"
            TG_DW_WLEFT("r3")
            TG_DW_WPAIR("r9", "r10")
            "ldr    pc, [sp, #4]\n\t"
            "42:\n\t" /* 2 pixels: (zp, x0), then (x1, zp) */
            "ldr    r11, [r1, r2]\n\t"
            "ldr    r3, [r1]\n\t"
            TG_DW_WLEFT("r3")
            "43:\n\t" /* (x, zp) of the last pixel (r11; input_zp for odd rows), the next group (src + 4) */
            "sxtb16 r6, r11\n\t"
            "sxtb16 r7, r11, ror #8\n\t"
            "pkhbt  r4, r6, r8\n\t"
            "pkhbt  r5, r7, r8\n\t"
            "pkhtb  r6, r8, r6, asr #16\n\t"
            "pkhtb  r7, r8, r7, asr #16\n\t"
            "stm    r0!, {r4-r7}\n\t"
            "add    r1, r1, #4\n\t"
            "subs   r12, r12, #1\n\t"
            "it     ne\n\t"
            "ldrne  pc, [sp]\n\t"
            "add    sp, sp, #8\n\t"
            "pop    {r4-r11, pc}\n\t"
            "52:\n\t" /* 5-6 pixels: (x3, x4) */
            "ldr    r9, [r1, lr]\n\t"
            "ldr    r10, [r1, r2, lsl #2]\n\t"
            TG_DW_WPAIR("r9", "r10")
            "b      43b\n\t");
}

#if defined(__GNUC__) && !defined(__clang__)
#define TG_DWP_SMALL __attribute__((noinline, optimize("Os")))
#else
#define TG_DWP_SMALL __attribute__((noinline))
#endif
/* n (>= 1) pixel pairs of input_zp at d: every word (zp, zp), two pairs per STM (8 registers), an odd n's
 * first pair by a conditional STM (one pair: 10 instructions, as one STM per pair). External linkage: the
 * compiler must keep its calling convention (r0 = d, r1 = n, r2 = z4). */
void tg_dw_fill_pairs(uint32_t *d, int32_t n, uint32_t z4);
__attribute__((naked, noinline)) void tg_dw_fill_pairs(uint32_t *d __attribute__((unused)),
                                                       int32_t n __attribute__((unused)),
                                                       uint32_t z4 __attribute__((unused)))
{
    __asm__("push   {r4-r7, lr}\n\t"
            "sxtb16 r2, r2\n\t"
            "mov    r3, r2\n\t"
            "mov    r4, r2\n\t"
            "mov    r5, r2\n\t"
            "lsrs   r1, r1, #1\n\t" /* C: n bit 0, Z: n < 2 */
            "it     cs\n\t"
            "stmcs  r0!, {r2-r5}\n\t"
            "beq    2f\n\t"
            "mov    r6, r2\n\t"
            "mov    r7, r2\n\t"
            "mov    r12, r2\n\t"
            "mov    lr, r2\n\t"
            "1:\n\t"
            "stm    r0!, {r2-r7, r12, lr}\n\t"
            "subs   r1, r1, #1\n\t"
            "bne    1b\n\t"
            "2:\n\t"
            "pop    {r4-r7, pc}\n\t");
}

/* How a ring row is widened (tg_dw_row_plan, once per layer): pairs q in [q0, q1) have both pixels inside
 * the input, n = q1 - q0 of them; pad_left <= 1 (3x3, stride <= 2, TFLite's SAME / VALID): at most a left
 * edge pair (input_zp, pixel 0); on the right, pair q1 holds the last pixel if it is inside the input, then
 * (input_zp, input_zp) pairs (tg_dw_widen_row's edges). */
typedef struct tg_dw_wplan_s {
    ptrdiff_t off;  /* 0: bytes from a row's pixel 0 to the first pixel the widening reads */
    int32_t n;      /* 4: pairs of two input pixels */
    uint32_t edges; /* 8: tg_dw_widen_row's */
    uint32_t z4;    /* 12: input_zp in 4 bytes */
    uint32_t k[8];  /* 16: tg_dw_widen_row's choices and counts (k[1] == 0: not made yet) */
    /* tg_dwconv_pairs_f's rows (tg_dw_pairs_row): the widening (tg_dw_widen_row or tg_dw_widen_small), the
     * block's input at pixel 0 of row 0, bytes from row to row and pixel to pixel, groups, pairs of a row */
    void (*widen)(uint32_t *, const int8_t *, int32_t, int32_t, struct tg_dw_wplan_s *);
    const int8_t *x;
    size_t irow;
    int32_t icol, ng, nfill;
} tg_dw_wplan_t;

static void tg_dw_row_plan(const tg_conv_params_t *p, int32_t np, size_t icol, tg_dw_wplan_t *w)
{
    int32_t q0 = (p->pad_left + 1) >> 1, q1 = (p->in_w + p->pad_left) >> 1, r1;
    if (q1 > np) {
        q1 = np;
    }
    if (q0 > q1) {
        q0 = q1;
    }
    r1 = q1 < np && 2 * q1 - p->pad_left < p->in_w;
    w->off = (ptrdiff_t)(q0 - p->pad_left) * (ptrdiff_t)icol;
    w->n = q1 - q0;
    w->edges = (uint32_t)(q0 | (r1 << 1) | ((np - q1 - r1) << 8));
    w->z4 = tg_splat4(p->input_zp);
    w->k[1] = 0;
}

/* Widen padded row py into a ring row (dst) of ng groups of np pairs: an input row (x: the block's first
 * channel at pixel 0 of input row 0, `irow` bytes from row to row) by tg_dw_widen_row, a row outside the
 * input as input_zp pairs (the groups' rows are contiguous: one run). */
typedef void (*tg_dw_widen_fn)(uint32_t *, const int8_t *, int32_t, int32_t, struct tg_dw_wplan_s *);
TG_INLINE void tg_dw_load_pairs(const tg_conv_params_t *p, tg_dw_wplan_t *w, uint32_t *dst, const int8_t *x,
                                int32_t py, int32_t ng, int32_t np, size_t irow, size_t icol)
{
    const int32_t iy = py - p->pad_top;
    if ((uint32_t)iy < (uint32_t)p->in_h) {
        tg_dw_widen_row(dst, x + (size_t)iy * irow + w->off, (int32_t)icol, ng, w);
    } else {
        tg_dw_fill_pairs(dst, ng * np, w->z4);
    }
}

/* tg_dw_load_pairs for tg_dwconv_pairs_f: padded row py into ring row d, the rest from the plan (its widening:
 * tg_dw_widen_row, or tg_dw_widen_small for the entry point tg_dwconv_p3q_s8). One call site per row kind
 * (lean and tagged rows), out of line: the driver's code stays small and its registers free. */
TG_DWP_SMALL static void tg_dw_pairs_row(const tg_conv_params_t *p, tg_dw_wplan_t *w, uint32_t *d, int32_t py)
{
    const int32_t iy = py - p->pad_top;
    if ((uint32_t)iy < (uint32_t)p->in_h) {
        w->widen(d, w->x + (size_t)iy * w->irow + w->off, w->icol, w->ng, w);
    } else {
        tg_dw_fill_pairs(d, w->nfill, w->z4);
    }
}

/* State of tg_dw3x3_pairs (field offsets are used by its assembly). */
typedef struct {
    const uint32_t *row[3]; /* 0, 4, 8: the 3 ring rows (first group, pair 0) */
    const int32_t *blk;     /* 12: the first group's parameter block */
    int8_t *out;            /* 16: the first group's output at pixel 0 */
    int32_t pixels;         /* 20: the pairs' pixels (>= 0: 0 in rows of 1 pixel, the pixel-A pass alone) */
    int32_t flags;          /* 24: bit 0: act range is [-128, 127] (no clamp), bit 1: act_min is -128
                             * (clamp the upper bound only), bit 2: stride 2, bit 3: after the row's
                             * pixels (even) one more, pixel A only (odd rows, either stride), bit 4: act_max is
                             * 127 and act_min above -128 (clamp the lower bound only) */
    uint32_t hi4, lo4;      /* 28, 32 (the frame's 44, 48: lo4 next to out_step, one LDRD in the lower clamp) */
    int32_t out_step;       /* 36: out_c */
    int32_t gstride;        /* 40: bytes from a group's ring row to the next group's */
    const int32_t *gend;    /* 44: past the block's last group's parameter block (blk + groups * TG_DW_PBLOCK) */
    const void *rqx;        /* 48: the SMLAL and flagged SMMLAR groups' requantization (tg_dw_rq_other) or NULL
                             * (every group SMMLAR: layers without such groups do not link it) */
    int32_t step;           /* 52: the call's choices, made by the first call (0 at 56 until then) and kept for
                             * the layer's next ones: the step from a group's last pass to the next group's */
    uint32_t addr[9];       /* 56: the SMMLAR requantization's, the clamp's, the pass's, after a group's pairs,
                             * the pixel-A pass's, after it, a group's entry (the frame's 84-108), the pixel-A
                             * pass's requantization (SMMLAR or through 84: 116) and its store (clamped or
                             * not: 24) */
    const void *fast;       /* 92: NULL, or the pass of a layer whose groups are all SMMLAR, without a clamp
                             * (tg_dw3x3_fast1 / tg_dw3x3_fast2 for its stride: no jumps to the requantization
                             * and the clamp; linked only by tg_dwconv_p3f1_s8 / tg_dwconv_p3f2_s8) */
} tg_dwp_t;

#define TG_DWP_MAC8                          \
    "smlad  r0, r4, r8, r0\n\t"              \
    "smlabt r0, r6, r9, r0\n\t"              \
    "smlad  r2, r6, r9, r2\n\t"              \
    "smlatb r2, r4, r8, r2\n\t"              \
    "smlad  r1, r5, r10, r1\n\t"             \
    "smlabt r1, r7, r11, r1\n\t"             \
    "smlad  r3, r7, r11, r3\n\t"             \
    "smlatb r3, r5, r10, r3\n\t"
/* channels c0, c1 of filter row (ring row pointer at [sp + off], advanced by one pair) */
#define TG_DWP_ROWA(off)                     \
    "ldr    lr, [sp, #" off "]\n\t"          \
    "ldrd   r4, r5, [lr], #16\n\t"           \
    "ldrd   r6, r7, [lr]\n\t"                \
    "str    lr, [sp, #" off "]\n\t"          \
    "ldm    r12!, {r8-r11}\n\t"              \
    TG_DWP_MAC8
/* channels c2, c3 (the pointer already advanced) */
#define TG_DWP_ROWB(off)                     \
    "ldr    lr, [sp, #" off "]\n\t"          \
    "ldrd   r4, r5, [lr, #-8]\n\t"           \
    "ldrd   r6, r7, [lr, #8]\n\t"            \
    "ldm    r12!, {r8-r11}\n\t"              \
    TG_DWP_MAC8
/* Pixel A only (an odd row's last pixel, either stride): c0, c1 (c2, c3: off + 8) of filter row k (ring row
 * pointer at [sp + roff], not advanced): A = SMLAD(P_q, W01) + SMLABT(P_q+1, W12) */
#define TG_DWP_ROW1(roff, off, off2)         \
    "ldr    lr, [sp, #" roff "]\n\t"        \
    "ldrd   r4, r5, [lr, #" off "]\n\t"     \
    "ldrd   r6, r7, [lr, #" off2 "]\n\t"    \
    "ldm    r12!, {r8-r11}\n\t"              \
    "smlad  r0, r4, r8, r0\n\t"              \
    "smlabt r0, r6, r9, r0\n\t"              \
    "smlad  r1, r5, r10, r1\n\t"             \
    "smlabt r1, r7, r11, r1\n\t"
/* the rows of one channel from [r12] applied to accumulators a and b, the zero point in r11 */
#define TG_DWP_RQ2Z(a, b)                    \
    "ldm    r12!, {r4-r7}\n\t"               \
    TG_RQX_ASM(a, "r4", "r5", "r6", "r7", "r11") \
    "ldrd   r5, r6, [r12, #-12]\n\t"         \
    TG_RQX_ASM(b, "r4", "r5", "r6", "r7", "r11")
/* Stride 2 along the row: output pixels q, q + 1 read pairs q, q + 1, q + 2 (one pair per output
 * pixel): A = SMLAD(P_q, W01) + SMLABT(P_q+1, W12), B = SMLAD(P_q+1, W01) + SMLABT(P_q+2, W12). */
#define TG_DWP2_MAC4(xa, xb, xc, acca, accb)  \
    "smlad  " acca ", " xa ", r10, " acca "\n\t" \
    "smlabt " acca ", " xb ", r11, " acca "\n\t" \
    "smlad  " accb ", " xb ", r10, " accb "\n\t" \
    "smlabt " accb ", " xc ", r11, " accb "\n\t"
#define TG_DWP2_ROWA(off)                    \
    "ldr    lr, [sp, #" off "]\n\t"          \
    "ldrd   r4, r5, [lr]\n\t"                \
    "ldrd   r6, r7, [lr, #16]\n\t"           \
    "ldrd   r8, r9, [lr, #32]!\n\t"          \
    "str    lr, [sp, #" off "]\n\t"          \
    "ldrd   r10, r11, [r12], #8\n\t"         \
    TG_DWP2_MAC4("r4", "r6", "r8", "r0", "r2") \
    "ldrd   r10, r11, [r12], #8\n\t"         \
    TG_DWP2_MAC4("r5", "r7", "r9", "r1", "r3")
/* c2, c3 of filter row k (ring row pointer in lr, already advanced; weights at r12 + 16k, r12 not moved):
 * the rows go last to first, so that the first one's pointer is still in lr from TG_DWP2_ROWA's last */
#define TG_DWP2_ROWB(woff, woff2)            \
    "ldrd   r4, r5, [lr, #-24]\n\t"          \
    "ldrd   r6, r7, [lr, #-8]\n\t"           \
    "ldrd   r8, r9, [lr, #8]\n\t"            \
    "ldrd   r10, r11, [r12, #" woff "]\n\t"  \
    TG_DWP2_MAC4("r4", "r6", "r8", "r0", "r2") \
    "ldrd   r10, r11, [r12, #" woff2 "]\n\t" \
    TG_DWP2_MAC4("r5", "r7", "r9", "r1", "r3")
/* The taps of a pass of 2 pixels x 4 channels (the group's block at [sp + 28], its ring rows at [sp + 64..72]):
 * stride 1, the accumulators of c0 / c1 left at sp (pixels A, B), those of c2 / c3 in r0-r3; stride 2 the same
 * (its c2 / c3 rows last to first). tg_dw3x3_pairs's passes and the fast ones (tg_dw3x3_fast1 / 2) */
#define TG_DWP_PASS1                         \
    "ldr    r12, [sp, #28]\n\t"              \
    "ldm    r12!, {r0-r3}\n\t"               \
    TG_DWP_ROWA("64") TG_DWP_ROWA("68") TG_DWP_ROWA("72") \
    "stm    sp, {r0-r3}\n\t"                 \
    "ldm    r12!, {r0-r3}\n\t"               \
    TG_DWP_ROWB("64") TG_DWP_ROWB("68") TG_DWP_ROWB("72")
#define TG_DWP_PASS2                         \
    "ldr    r12, [sp, #28]\n\t"              \
    "ldm    r12!, {r0-r3}\n\t"               \
    TG_DWP2_ROWA("64") TG_DWP2_ROWA("68") TG_DWP2_ROWA("72") \
    "stm    sp, {r0-r3}\n\t"                 \
    "ldm    r12!, {r0-r3}\n\t"               \
    TG_DWP2_ROWB("32", "40")                 \
    "ldr    lr, [sp, #68]\n\t"               \
    TG_DWP2_ROWB("16", "24")                 \
    "ldr    lr, [sp, #64]\n\t"               \
    "ldrd   r4, r5, [lr, #-24]\n\t"          \
    "ldrd   r6, r7, [lr, #-8]\n\t"           \
    "ldrd   r8, r9, [lr, #8]\n\t"            \
    "ldrd   r10, r11, [r12], #8\n\t"         \
    TG_DWP2_MAC4("r4", "r6", "r8", "r0", "r2") \
    "ldrd   r10, r11, [r12], #40\n\t" /* past the 3 rows */ \
    TG_DWP2_MAC4("r5", "r7", "r9", "r1", "r3")
/* SMMLAR groups (mode word TG_DWP_SMMLAR, rows {m, C, r, 0}; conv.py dw_pair_smmlar_ok): the accumulators
 * hold 2a (doubled weights and bias), Y = SMMLAR(2a, m, C) = C + SaturatingRoundingDoublingHighMul(a, m),
 * then (Y - [a < 0]) >> r with the zero point in C: 4 instructions per output, one row load per channel */
#define TG_DWP_RQ2N(a, b)                    \
    "ldm    r12!, {r4-r7}\n\t"               \
    "smmlar r7, " a ", r4, r5\n\t"           \
    "add    r7, r7, " a ", asr #31\n\t"      \
    "asr    r7, r7, r6\n\t"                  \
    "ssat   " a ", #8, r7\n\t"               \
    "smmlar r7, " b ", r4, r5\n\t"           \
    "add    r7, r7, " b ", asr #31\n\t"      \
    "asr    r7, r7, r6\n\t"                  \
    "ssat   " b ", #8, r7\n\t"
/* pixel A only (the pixel-A pass of an SMMLAR group): channel a's row, 5 instructions */
#define TG_DWP_RQ1N(a)                       \
    "ldm    r12!, {r4-r7}\n\t"               \
    "smmlar r7, " a ", r4, r5\n\t"           \
    "add    r7, r7, " a ", asr #31\n\t"      \
    "asr    r7, r7, r6\n\t"                  \
    "ssat   " a ", #8, r7\n\t"
/* flagged SMMLAR groups (mode word TG_DWP_SMMLARF, rows {m, C, r, f}; dw_pair_blocks): as TG_DWP_RQ2N, but
 * the sign correction is f & ~(acc asr 31): a right shift's row has C - 1 and f = 1 (+[acc >= 0] - 1 is
 * -[acc < 0]), a left shift's (accumulator a * 2^(L+1), C = zp, r = 0) f = 0: none. 5 instructions per output
 * (tg_dw_rq_other). */
#define TG_DWP_RQ1M(a)                       \
    "smmlar r11, " a ", r4, r5\n\t"          \
    "bic    " a ", r7, " a ", asr #31\n\t"   \
    "add    r11, r11, " a "\n\t"             \
    "asr    r11, r11, r6\n\t"                \
    "ssat   " a ", #8, r11\n\t"
/* The store of pixels A (r8) and B (r10) of a pass, B first: every pass has both (an odd row's last pixel is the
 * pixel-A pass's); the pixel-A pass of a group that is not SMMLAR comes through here with out_step 0 (28:), so
 * that A is stored over B. Then the next pass (r5: the pixels left). TG_DWP_ST2R: with out_step already in r6 */
#define TG_DWP_ST2R                          \
    "ldrd   r4, r5, [sp, #76]\n\t"          \
    "str    r10, [r4, r6]\n\t"              \
    "str    r8, [r4]\n\t"                   \
    "subs   r5, r5, #2\n\t"                 \
    "add    r4, r4, r6, lsl #1\n\t"          \
    "strd   r4, r5, [sp, #76]\n\t"
#define TG_DWP_ST2                           \
    "ldr    r6, [sp, #52]\n\t"              \
    TG_DWP_ST2R
/* After the store: back to the pass (a direct branch: one copy per stride) while pixels are left, else on to 96 */
#define TG_DWP_NEXT(pass)                    \
    "bgt    " pass "b\n\t"                  \
    "ldr    pc, [sp, #96]\n\t"
/* The clamp's upper bound (min) on both pixels: entries upper (then on to none) and both (falls through into the
 * lower bound that follows) */
#define TG_DWP_CLAMP_HI(both, upper, none)    \
    upper ":\n\t"                              \
    "ldr    r5, [sp, #44]\n\t"                  \
    "ssub8  r6, r8, r5\n\t"                     \
    "sel    r8, r5, r8\n\t"                     \
    "ssub8  r6, r10, r5\n\t"                    \
    "sel    r10, r5, r10\n\t"                   \
    "b      " none "f\n\t"                       \
    both ":\n\t"                               \
    "ldr    r5, [sp, #44]\n\t"                  \
    "ssub8  r6, r8, r5\n\t"                     \
    "sel    r8, r5, r8\n\t"                     \
    "ssub8  r6, r10, r5\n\t"                    \
    "sel    r10, r5, r10\n\t"
/* The clamp (entries both: upper bound (min) then lower (max); lower: the lower one only (act_max 127: ReLU6 /
 * ReLU outputs whose zero point is above -128); upper: the upper one only, then on to none; none), the store
 * of pixels A (r8) and B (r10) and the loop back to the pass (chosen with the clamp at 88) */
#define TG_DWP_STORE(both, upper, lower, none, pass) \
    TG_DWP_CLAMP_HI(both, upper, none)         \
    lower ":\n\t"                              \
    "ldr    r4, [sp, #48]\n\t"                  \
    "ssub8  r6, r8, r4\n\t"                     \
    "sel    r8, r8, r4\n\t"                     \
    "ssub8  r6, r10, r4\n\t"                    \
    "sel    r10, r10, r4\n\t"                   \
    none ":\n\t"                               \
    TG_DWP_ST2 TG_DWP_NEXT(pass)
/* The stride-1 pass's: as TG_DWP_STORE, but the lower bound (both bounds' second half) has its own store, lo4 and
 * out_step loaded by one LDRD (1 instruction fewer per pass: MobileNetV2 224's ReLU6 layers, zero point above
 * -128) */
#define TG_DWP_STORE_LO(both, upper, lower, none, pass) \
    TG_DWP_CLAMP_HI(both, upper, none)         \
    lower ":\n\t"                              \
    "ldrd   r4, r6, [sp, #48]\n\t"              \
    "ssub8  r5, r8, r4\n\t"                     \
    "sel    r8, r8, r4\n\t"                     \
    "ssub8  r5, r10, r4\n\t"                    \
    "sel    r10, r10, r4\n\t"                   \
    TG_DWP_ST2R TG_DWP_NEXT(pass)              \
    none ":\n\t"                               \
    TG_DWP_ST2 TG_DWP_NEXT(pass)
/* The block's groups one after the other, in each the row's pixel pairs (the last pass of an odd
 * row stores pixel A only). The choices fixed for a call or a group are made once, as code addresses
 * on the stack that the pass jumps through (LDR PC): the pass for the stride (92), the clamp (88), the
 * group's requantization (84: SMMLAR or SMLAL). Stack: 0-12 the accumulators of c0/c1 (one STM / LDM
 * at sp), 16 the step from one group's last pass to the next group's rows, 28-60 the state (block and
 * output of the current group; its row pointers go to 64-72), 64-72 the pass's row pointers, 76 output, 80
 * pixels left, 84-92 the addresses, 96 where a group's pairs end (100, 104: the pixel-A pass, the next group
 * after it where the pixel-A pass goes through 84), 108 a group's entry after its output and pixels are set (the pass, or where every group is SMMLAR
 * (rqx NULL, 84 set once): the mode word's check), 112 rqx. External linkage: the compiler
 * must keep its calling convention (r0 = a). */
void tg_dw3x3_pairs(tg_dwp_t *a);
__attribute__((naked, noinline)) void tg_dw3x3_pairs(tg_dwp_t *a __attribute__((unused)))
{
    __asm__(
        "push   {r4-r11, lr}\n\t"
        "sub    sp, sp, #120\n\t"
        "ldm    r0!, {r1-r8}\n\t"
        "add    r9, sp, #64\n\t"
        "stm    r9, {r1-r3}\n\t" /* the passes' row pointers */
        "add    r9, sp, #28\n\t"
        "stm    r9!, {r4-r8}\n\t"
        "ldm    r0!, {r1-r5}\n\t"
        "stm    r9, {r1-r4}\n\t"
        "str    r5, [sp, #112]\n\t" /* rqx */
        "ldm    r0, {r1-r8}\n\t" /* the choices of the layer's first call */
        "cbz    r2, 30f\n\t"
        "str    r1, [sp, #16]\n\t"
        "add    r9, sp, #84\n\t"
        "stm    r9, {r2-r8}\n\t"
        "ldrd   r1, r2, [r0, #32]\n\t"
        "str    r1, [sp, #116]\n\t"
        "str    r2, [sp, #24]\n\t"
        "3:\n\t" /* group */
        "ldrd   r0, r1, [sp, #32]\n\t"
        "strd   r0, r1, [sp, #76]\n\t"
        "ldr    pc, [sp, #108]\n\t"
        "30:\n\t"
        "mov    r12, r0\n\t"
        /* clamp: flags bit 0 none, bit 1 the upper bound only, bit 4 the lower bound only, else both */
        "ldr    r4, [sp, #40]\n\t"
        "tst    r4, #4\n\t" /* stride 2: the copies that loop back to its pass */
        "bne    21f\n\t"
        "lsls   r6, r4, #31\n\t"
        "adr.w  r5, 4f+1\n\t"
        "bmi    10f\n\t"
        "adr.w  r5, 11f+1\n\t"
        "bcs    10f\n\t"
        "adr.w  r5, 9f+1\n\t"
        "tst    r4, #16\n\t"
        "bne    10f\n\t"
        "adr.w  r5, 12f+1\n\t"
        "b      10f\n\t"
        "21:\n\t"
        "lsls   r6, r4, #31\n\t"
        "adr.w  r5, 40f+1\n\t"
        "bmi    10f\n\t"
        "adr.w  r5, 41f+1\n\t"
        "bcs    10f\n\t"
        "adr.w  r5, 43f+1\n\t"
        "tst    r4, #16\n\t"
        "bne    10f\n\t"
        "adr.w  r5, 42f+1\n\t"
        "10:\n\t"
        "str    r5, [sp, #88]\n\t"
        /* the pass: flags bit 2 stride 2 */
        "adr.w  r5, 1f+1\n\t"
        "tst    r4, #4\n\t"
        "beq    13f\n\t"
        "adr.w  r5, 7f+1\n\t"
        "13:\n\t"
        "ldr    r6, [r12, #40]\n\t" /* the fast pass (tg_dwp_t.fast) where the layer has one */
        "cbz    r6, 23f\n\t"
        "mov    r5, r6\n\t"
        "23:\n\t"
        "ldr    r6, [sp, #36]\n\t" /* rows of 1 pixel (no pairs): the pixel-A pass alone */
        "cbnz   r6, 22f\n\t"
        "adr.w  r5, 20f+1\n\t"
        "22:\n\t"
        "str    r5, [sp, #92]\n\t"
        /* a group's entry: its mode word's check (19) where some group may not be SMMLAR, else the pass
         * with the SMMLAR requantization (84) for every group */
        "ldr    r6, [sp, #112]\n\t"
        "cbz    r6, 29f\n\t"
        "adr.w  r5, 19f+1\n\t"
        "29:\n\t"
        "str    r5, [sp, #108]\n\t"
        /* the pixel-A pass: its requantization (116: SMMLAR here where every group is, else through the
         * group's, 84, at 28) and its store (24: clamped, or not where the act range is [-128, 127]) */
        "adr.w  r5, 27f+1\n\t"
        "cbz    r6, 31f\n\t"
        "adr.w  r5, 28f+1\n\t"
        "31:\n\t"
        "str    r5, [sp, #116]\n\t"
        "adr.w  r5, 26f+1\n\t"
        "lsls   r6, r4, #31\n\t"
        "bpl    32f\n\t"
        "adr.w  r5, 25f+1\n\t"
        "32:\n\t"
        "str    r5, [sp, #24]\n\t"
        "adr.w  r5, 14f+1\n\t"
        "str    r5, [sp, #84]\n\t"
        /* after a group's pairs (96): the next group (16), or with flags bit 3 its pixel A (20), which
         * goes on to the next group itself (every group SMMLAR) or through 17 (set at 96 from 104), which sets
         * 96 back to 20 (100) */
        "adr.w  r5, 16f+1\n\t"
        "tst    r4, #8\n\t"
        "beq    18f\n\t"
        "adr.w  r5, 17f+1\n\t"
        "str    r5, [sp, #104]\n\t"
        "adr.w  r5, 20f+1\n\t"
        "str    r5, [sp, #100]\n\t"
        "18:\n\t"
        "str    r5, [sp, #96]\n\t"
        /* 16: from where a group's passes leave the row pointers to the next group's rows: gstride -
         * (pixels + 1) / 2 passes x 16 bytes (x 32 at stride 2) */
        "ldr    r0, [sp, #36]\n\t"
        "adds   r0, r0, #1\n\t"
        "lsrs   r0, r0, #1\n\t"
        "lsls   r0, r0, #4\n\t"
        "tst    r4, #4\n\t"
        "it     ne\n\t"
        "lslne  r0, r0, #1\n\t"
        "ldr    r1, [sp, #56]\n\t"
        "sub    r0, r1, r0\n\t"
        "str    r0, [sp, #16]\n\t"
        "add    r9, sp, #84\n\t" /* kept for the layer's next calls */
        "ldm    r9, {r1-r7}\n\t"
        "stm    r12, {r0-r7}\n\t"
        "ldr    r1, [sp, #116]\n\t"
        "ldr    r2, [sp, #24]\n\t"
        "strd   r1, r2, [r12, #32]\n\t"
        "b      3b\n\t"
        "19:\n\t" /* the group's requantization: mode word 48 of its block */
        "ldr    r0, [sp, #28]\n\t"
        "ldr    r1, [r0, #192]\n\t"
        "adr.w  r2, 14f+1\n\t"
        "cmp    r1, #256\n\t"
        "beq    15f\n\t"
        "ldr    r2, [sp, #112]\n\t" /* SMLAL (a zero point) or flagged SMMLAR (512): tg_dw_rq_other */
        "15:\n\t"
        "str    r2, [sp, #84]\n\t"
        "ldr    pc, [sp, #92]\n\t"
        "1:\n\t" /* pixel pair, stride 1 */
        TG_DWP_PASS1
        "8:\n\t"
        "ldm    sp, {r8-r10, lr}\n\t"
        "ldr    pc, [sp, #84]\n\t"
        "14:\n\t"
        TG_DWP_RQ2N("r8", "r10") TG_DWP_RQ2N("r9", "lr") TG_DWP_RQ2N("r0", "r2") TG_DWP_RQ2N("r1", "r3")
        "6:\n\t"
        "bfi    r8, r9, #8, #8\n\t"
        "bfi    r8, r0, #16, #8\n\t"
        "bfi    r8, r1, #24, #8\n\t"
        "bfi    r10, lr, #8, #8\n\t"
        "bfi    r10, r2, #16, #8\n\t"
        "bfi    r10, r3, #24, #8\n\t"
        "ldr    pc, [sp, #88]\n\t"
        TG_DWP_STORE_LO("12", "11", "9", "4", "1")
        "17:\n\t" /* after pixel A through the group's requantization: the next group's row ends with its pixel
                     * A again */
        "ldr    r4, [sp, #100]\n\t"
        "str    r4, [sp, #96]\n\t"
        "ldr    r4, [sp, #20]\n\t" /* out_step, 0 for the pixel-A pass's store (28) */
        "str    r4, [sp, #52]\n\t"
        "16:\n\t" /* next group: every way here leaves r12 at the group's mode word (its block + 192) */
        "ldr    r0, [sp, #16]\n\t"
        "add    r4, sp, #64\n\t"
        "ldm    r4, {r1-r3}\n\t"
        "add    r1, r1, r0\n\t"
        "add    r2, r2, r0\n\t"
        "add    r3, r3, r0\n\t"
        "stm    r4, {r1-r3}\n\t"
        "add    r1, r12, #4\n\t"       /* the next block */
        "ldrd   r2, r3, [sp, #32]\n\t" /* output, pixels */
        "adds   r2, r2, #4\n\t"
        "strd   r1, r2, [sp, #28]\n\t"
        "strd   r2, r3, [sp, #76]\n\t" /* the group's output and pixels left (3:) */
        "ldr    r0, [sp, #60]\n\t"     /* the block's end */
        "cmp    r1, r0\n\t"
        "it     ne\n\t"
        "ldrne  pc, [sp, #108]\n\t"
        "add    sp, sp, #120\n\t"
        "pop    {r4-r11, pc}\n\t"
        "7:\n\t" /* stride 2 along the row */
        TG_DWP_PASS2
        "ldm    sp, {r8-r10, lr}\n\t"
        "ldr    pc, [sp, #84]\n\t"
        TG_DWP_STORE("42", "41", "43", "40", "7")
        "20:\n\t" /* pixel A only (flags bit 3: the last pixel of an odd row): 24 multiplies, the ring
                     * pointers left where the pairs left them (at pair q, pixel A's taps in pairs q and
                     * q + 1 at either stride: 2q, 2q + 1, 2q + 2 at stride 1, pixel q at stride 2); where
                     * every group is SMMLAR (rqx NULL) pixel A's requantization only (B's packed bytes are
                     * not stored), else the group's (84). Rows of 1 pixel: the pass itself (92) */
        "ldr    r12, [sp, #28]\n\t"
        "ldrd   r0, r1, [r12], #16\n\t"
        TG_DWP_ROW1("64", "0", "16") TG_DWP_ROW1("68", "0", "16") TG_DWP_ROW1("72", "0", "16")
        "strd   r0, r1, [sp]\n\t"
        "ldrd   r0, r1, [r12], #16\n\t"
        TG_DWP_ROW1("64", "8", "24") TG_DWP_ROW1("68", "8", "24") TG_DWP_ROW1("72", "8", "24")
        "ldrd   r8, r9, [sp]\n\t"
        "ldr    pc, [sp, #116]\n\t"
        "27:\n\t" /* every group SMMLAR */
        TG_DWP_RQ1N("r8") TG_DWP_RQ1N("r9") TG_DWP_RQ1N("r0") TG_DWP_RQ1N("r1")
        /* packed, clamped where the act range needs it (both bounds: no-ops for [-128, 127] on the other side)
         * and stored here, then the next group */
        "bfi    r8, r9, #8, #8\n\t"
        "bfi    r8, r0, #16, #8\n\t"
        "bfi    r8, r1, #24, #8\n\t"
        "ldr    pc, [sp, #24]\n\t"
        "26:\n\t"
        "ldrd   r5, r4, [sp, #44]\n\t"
        "ssub8  r6, r8, r4\n\t"
        "sel    r8, r8, r4\n\t"
        "ssub8  r6, r8, r5\n\t"
        "sel    r8, r5, r8\n\t"
        "25:\n\t"
        "ldr    r4, [sp, #76]\n\t"
        "str    r8, [r4]\n\t"
        "b      16b\n\t"
        "28:\n\t" /* through the group's requantization, the clamp and the store with out_step 0 (A stored
                     * over B), then 17 (which restores out_step) */
        "ldr    r4, [sp, #104]\n\t"
        "str    r4, [sp, #96]\n\t"
        "ldr    r4, [sp, #52]\n\t"
        "str    r4, [sp, #20]\n\t"
        "movs   r4, #0\n\t"
        "str    r4, [sp, #52]\n\t"
        "ldr    pc, [sp, #84]\n\t");
}

/* The fast passes (tg_dwp_t.fast): tg_dw3x3_pairs's pass for a stride (1: / 7:) with the SMMLAR requantization,
 * the packing and the store straight after it (no jumps through 84 and 88: 2 instructions fewer per pass), for
 * layers whose groups are all SMMLAR and whose act range is [-128, 127]; code that runs in tg_dw3x3_pairs's
 * frame (entered through 92, back through 96 after the group's pairs, r12 at the group's mode word as there).
 * Each is linked only by its entry point (tg_dwconv_p3f1_s8, tg_dwconv_p3f2_s8: conv.py dw_model_fast, models
 * that link neither the stride-2 4-pixel kernel nor the k x k one, the 12 KB budget). */
#define TG_DWP_FAST_TAIL(pass)               \
    "ldm    sp, {r8-r10, lr}\n\t"           \
    TG_DWP_RQ2N("r8", "r10") TG_DWP_RQ2N("r9", "lr") TG_DWP_RQ2N("r0", "r2") TG_DWP_RQ2N("r1", "r3") \
    "bfi    r8, r9, #8, #8\n\t"             \
    "bfi    r8, r0, #16, #8\n\t"            \
    "bfi    r8, r1, #24, #8\n\t"            \
    "bfi    r10, lr, #8, #8\n\t"            \
    "bfi    r10, r2, #16, #8\n\t"           \
    "bfi    r10, r3, #24, #8\n\t"           \
    TG_DWP_ST2 TG_DWP_NEXT(pass)
void tg_dw3x3_fast1(void);
__attribute__((naked, noinline)) void tg_dw3x3_fast1(void)
{
    __asm__(
        "1:\n\t"
        TG_DWP_PASS1
        TG_DWP_FAST_TAIL("1"));
}

void tg_dw3x3_fast2(void);
__attribute__((naked, noinline)) void tg_dw3x3_fast2(void)
{
    __asm__(
        "7:\n\t"
        TG_DWP_PASS2
        TG_DWP_FAST_TAIL("7"));
}

/* The requantization of the groups that are not plain SMMLAR (dw_pair_requant), a continuation of tg_dw3x3_pairs
 * in its frame (its mode address 84 for such a group): the accumulators in r8, r9, r0, r1 (pixel A of c0..c3)
 * and r10, lr, r2, r3 (B), r12 at the group's rows; packed as tg_dw3x3_pairs does (6:), then on to its clamp
 * (88). SMLAL groups (mode word: the zero point the rows do not hold, 0 where they do): TG_DWP_RQ2Z, 5-6
 * instructions per output. Flagged SMMLAR groups (TG_DWP_SMMLARF): TG_DWP_RQ1M, one channel (r8, r10) at a
 * time, the 4 rotated through them, until r12 reaches the mode word. Only entry points of layers with such
 * groups link it (tg_dwconv_p3x_s8, tg_dwconv_p3l_s8): no corpus layer has one (dead channels whose output is
 * one value for every input are SMMLAR rows), so the others leave its code out. */
__attribute__((naked, noinline)) static void tg_dw_rq_other(void)
{
    __asm__(
        "ldr    r11, [r12, #64]\n\t" /* the mode word */
        "cmp    r11, #512\n\t"
        "beq    1f\n\t"
        TG_DWP_RQ2Z("r8", "r10") TG_DWP_RQ2Z("r9", "lr") TG_DWP_RQ2Z("r0", "r2") TG_DWP_RQ2Z("r1", "r3")
        "b      2f\n\t"
        "1:\n\t" /* flagged: (r8, r9, r0, r1) <- (r9, r0, r1, r8), the same for pixel B, 4 times */
        "ldm    r12!, {r4-r7}\n\t"
        TG_DWP_RQ1M("r8") TG_DWP_RQ1M("r10")
        "mov    r11, r8\n\t"
        "mov    r8, r9\n\t"
        "mov    r9, r0\n\t"
        "mov    r0, r1\n\t"
        "mov    r1, r11\n\t"
        "mov    r11, r10\n\t"
        "mov    r10, lr\n\t"
        "mov    lr, r2\n\t"
        "mov    r2, r3\n\t"
        "mov    r3, r11\n\t"
        "ldr    r4, [r12]\n\t"
        "cmp    r4, #512\n\t" /* the mode word: no multiplier is 512 */
        "bne    1b\n\t"
        "2:\n\t"
        "bfi    r8, r9, #8, #8\n\t"
        "bfi    r8, r0, #16, #8\n\t"
        "bfi    r8, r1, #24, #8\n\t"
        "bfi    r10, lr, #8, #8\n\t"
        "bfi    r10, r2, #16, #8\n\t"
        "bfi    r10, r3, #24, #8\n\t"
        "ldr    pc, [sp, #88]\n\t");
}

/* The outputs of one row of the block's channels with a left shift (rm1 < 0: requantized in C), from
 * the ring rows (pair layout: pixel px of channel j at int16 half px & 1 of word 4 (px >> 1) + j): the
 * assembly computed the others (its result for these is replaced). Weights, bias and row from the
 * parameter block (dw_pair_blocks; such groups keep the SMLAL layout: weights not doubled). */
typedef void (*tg_dw_pfix_t)(const tg_conv_params_t *, const uint32_t *const *, const int32_t *, int32_t, int32_t,
                             int8_t *, size_t);
__attribute__((noinline)) static void tg_dw_fix_pairs(const tg_conv_params_t *p, const uint32_t *const *row,
                                                      const int32_t *blk0, int32_t ng, int32_t gwords, int8_t *out,
                                                      size_t ocol)
{
    const int32_t sx = p->stride_w, zp = p->output_zp, lo = p->act_min, hi = p->act_max;
    int32_t g, j, ox, k;
    for (g = 0; g < ng; g++) {
        const int32_t *blk = blk0 + (size_t)g * TG_DW_PBLOCK;
        for (j = 0; j < 4; j++) {
            const int32_t *q = blk + 32 + 4 * j;
            const int32_t bias = blk[j < 2 ? j : 14 + j], m = q[0], left = -(q[3] + 1);
            const int16_t *x[3];
            int32_t wk[9];
            int8_t *o = out + 4 * g + j;
            if (q[3] >= 0) {
                continue;
            }
            for (k = 0; k < 3; k++) {
                /* filter row k: (w0, w1), (w1, w2) of the channel; its ring row, the channel's lane */
                const int32_t *w = blk + (j < 2 ? 4 : 20) + 4 * k + 2 * (j & 1);
                wk[3 * k] = (int16_t)(w[0] & 0xFFFF);
                wk[3 * k + 1] = (int16_t)((uint32_t)w[0] >> 16);
                wk[3 * k + 2] = (int16_t)((uint32_t)w[1] >> 16);
                x[k] = (const int16_t *)(const void *)(row[k] + (size_t)g * gwords) + 2 * j;
            }
            for (ox = 0; ox < p->out_w; ox++, o += ocol) {
                /* taps px, px + 1, px + 2 (px = ox * stride) at int16 offsets o0, o1, o0 + 8 */
                const int32_t px = ox * sx, o0 = 8 * (px >> 1) + (px & 1), o1 = o0 + ((px & 1) ? 7 : 1);
                const int32_t acc = tg_wrap_add(
                    bias, x[0][o0] * wk[0] + x[0][o1] * wk[1] + x[0][o0 + 8] * wk[2] + x[1][o0] * wk[3] +
                              x[1][o1] * wk[4] + x[1][o0 + 8] * wk[5] + x[2][o0] * wk[6] + x[2][o1] * wk[7] +
                              x[2][o0 + 8] * wk[8]);
                /* TFLM with a left shift: SaturatingRoundingDoublingHighMul(acc << left, m), no rounding shift */
                *o = (int8_t)tg_offset_clamp(tg_srdhm(tg_wrap_shl(acc, left), m), zp, lo, hi);
            }
        }
    }
}

/* scratch as tg_dwconv_dsp's (the ring rows are np = wp / 2 pixel pairs of 16 bytes per group); fix: the
 * left-shift channels' row fix-up (tg_dw_fix_pairs, entry tg_dwconv_p3l_s8) or NULL; rqx: the SMLAL and flagged
 * groups' requantization (tg_dw_rq_other, entries tg_dwconv_p3x_s8 / tg_dwconv_p3l_s8) or NULL; fast: the fast pass
 * of stride fast_s (tg_dw3x3_fast1 / 2, entries tg_dwconv_p3f1_s8 / tg_dwconv_p3f2_s8) or NULL, taken where every
 * group is SMMLAR and the act range is [-128, 127]. Compiled for size: its per-row work is small next to the passes
 * (-76 B, +0.03 % on VWW's depthwise layers, the 12 KB budget). */
TG_DWP_SMALL static void tg_dwconv_pairs_f(const tg_conv_params_t *p, const int8_t *input, int8_t *output,
                                           void *scratch, tg_dw_pfix_t fix, const void *rqx, tg_dw_widen_fn widen,
                                           const void *fast, int32_t fast_s)
{
    const int32_t oc_n = p->out_c;
    const int32_t groups = (oc_n + 3) >> 2;
    const int tr = p->w_row == -2; /* transposed: a row is a column of the image */
    const size_t irow = (size_t)(tr ? 1 : p->in_w) * p->in_c, icol = (size_t)(tr ? p->in_h : 1) * p->in_c;
    const size_t orow = (size_t)(tr ? 1 : p->out_w) * oc_n, ocol = (size_t)(tr ? p->out_h : 1) * oc_n;
    tg_dw_ring_t r;
    tg_dwp_t a;
    int32_t b, g0, oy, ky, k, np;
    size_t rstep; /* words from a ring row to the next */
    tg_dw_wplan_t wplan;
    const int lean = p->stride_h == 1 && p->dil_h == 1;
    /* pairs a pass reads: stride 1, p and p + 1 for pixels 2p, 2p + 1; stride 2, 2p .. 2p + 2 (pixel o reads
     * pairs o and o + 1: an odd row's last pixel, by the pixel-A pass, pairs out_w - 1 and out_w). conv.py's
     * _dw_ring_dims width. */
    r.wp = p->stride_w == 1 ? 2 * ((p->out_w + 1) / 2 + 1) : 2 * (p->out_w + 1);
    r.rows = 2 * p->dil_h + 1;
    r.groups = p->groups < 1 ? 1 : p->groups;
    r.tag = (int32_t *)scratch;
    r.ring = (uint32_t *)scratch + ((r.rows + 1) & ~1) + 4; /* (after 4 words unused here: tg_dwconv_dsp's layout) */
    /* an odd row: its pairs (none: a row of 1), then its last pixel by the pixel-A pass (flags bit 3) */
    const int odd = p->out_w & 1;
    a.pixels = p->out_w - odd;
    a.flags = (p->act_min <= -128 && p->act_max >= 127) | (p->act_min <= -128 ? 2 : 0) | (p->stride_w == 2 ? 4 : 0) |
              (odd ? 8 : 0) | (p->act_min > -128 && p->act_max >= 127 ? 16 : 0);
    a.lo4 = tg_splat4(p->act_min);
    a.hi4 = tg_splat4(p->act_max);
    a.out_step = (int32_t)ocol;
    a.gstride = r.wp * 8;
    a.rqx = rqx;
    a.fast = fast && !rqx && p->stride_w == fast_s && p->act_min <= -128 && p->act_max >= 127 ? fast : 0;
    a.addr[0] = 0; /* tg_dw3x3_pairs makes its choices at the first call */
    np = r.wp >> 1;
    rstep = (size_t)r.groups * np * 4;
    tg_dw_row_plan(p, np, icol, &wplan);
    wplan.widen = widen;
    wplan.irow = irow;
    wplan.icol = (int32_t)icol;
    for (g0 = 0; g0 < groups; g0 += r.groups) {
        const int32_t ng = groups - g0 < r.groups ? groups - g0 : r.groups;
        const int32_t *blk0 = (const int32_t *)p->weights + (size_t)g0 * TG_DW_PBLOCK;
        wplan.ng = ng;
        wplan.nfill = ng * np;
        for (b = 0; b < p->batches; b++) {
            int8_t *out_b = output + (size_t)b * p->out_h * p->out_w * oc_n;
            wplan.x = input + (size_t)b * p->in_h * p->in_w * p->in_c + 4 * g0;
            for (k = 0; k < r.rows; k++) {
                r.tag[k] = -1;
                TG_NO_LIBCALL();
            }
            a.blk = blk0; /* the pass leaves blk, out and groups as they are */
            a.gend = blk0 + (size_t)ng * TG_DW_PBLOCK;
            a.out = out_b + 4 * g0;
            for (oy = 0; oy < p->out_h; oy++) {
                tg_barrier(); /* the previous row's reads are done before the ring is written */
                if (lean && oy > 0) {
                    /* stride 1, dilation 1: rows oy, oy + 1 are the previous call's second and third; row
                     * oy + 2 goes where row oy - 1 was (the pass keeps a.row as it was given; no tags: they
                     * are reset before the block's next row 0) */
                    uint32_t *d = (uint32_t *)(uintptr_t)a.row[0];
                    a.row[0] = a.row[1];
                    a.row[1] = a.row[2];
                    a.row[2] = d;
                    tg_dw_pairs_row(p, &wplan, d, oy + 2);
                } else {
                    for (ky = 0; ky < 3; ky++) {
                        const int32_t py = oy * p->stride_h + ky * p->dil_h, slot = py % r.rows;
                        uint32_t *d = r.ring + (size_t)slot * rstep;
                        a.row[ky] = d;
                        if (r.tag[slot] != py) {
                            r.tag[slot] = py;
                            tg_dw_pairs_row(p, &wplan, d, py);
                        }
                    }
                }
                tg_barrier();
                tg_dw3x3_pairs(&a);
                tg_barrier();
                if (fix) {
                    fix(p, a.row, blk0, ng, r.wp * 2, a.out, ocol);
                }
                a.out += orow;
            }
        }
    }
}

static void tg_dwconv_pairs(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch)
{
    tg_dwconv_pairs_f(p, input, output, scratch, (tg_dw_pfix_t)0, (const void *)0, tg_dw_widen_row, 0, 0);
}

/* every group SMMLAR, act range [-128, 127]: the fast pass of stride 1 or 2 (conv.py dw_fast) */
static void tg_dwconv_pairs_f1(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch)
{
    tg_dwconv_pairs_f(p, input, output, scratch, (tg_dw_pfix_t)0, (const void *)0, tg_dw_widen_row,
                      (const void *)tg_dw3x3_fast1, 1);
}

static void tg_dwconv_pairs_f2(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch)
{
    tg_dwconv_pairs_f(p, input, output, scratch, (tg_dw_pfix_t)0, (const void *)0, tg_dw_widen_row,
                      (const void *)tg_dw3x3_fast2, 2);
}

/* rows of 2-6 input pixels with a left edge, every group SMMLAR (tg_dw_widen_small: conv.py dw_small_rows) */
static void tg_dwconv_pairs_q(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch)
{
    tg_dwconv_pairs_f(p, input, output, scratch, (tg_dw_pfix_t)0, (const void *)0, tg_dw_widen_small, 0, 0);
}

static void tg_dwconv_pairs_x(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch)
{
    tg_dwconv_pairs_f(p, input, output, scratch, (tg_dw_pfix_t)0, (const void *)tg_dw_rq_other, tg_dw_widen_row, 0, 0);
}

static void tg_dwconv_pairs_l(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch)
{
    tg_dwconv_pairs_f(p, input, output, scratch, tg_dw_fix_pairs, (const void *)tg_dw_rq_other, tg_dw_widen_row, 0, 0);
}

/*
 * Stride-2 pair kernel (tg_dwconv_p3s2_s8; w_row == -4, or -5 transposed: conv.py dw_pair2_blocks): a
 * pass is one channel x 4 output pixels. Ring: per group of 4 channels, per block of 4 output pixels,
 * per channel 3 slots (M: the middle filter row, A: the top one, B: the bottom one, in this order) of 5
 * words, the int16 pixel pairs P_4b .. P_4b+4 of the channel (P_q = (x_2q, x_2q+1); P_4b+4, the next
 * block's first, is stored twice): 240 bytes per block and group, groups nb * 240 bytes apart. One LDM
 * reads a slot; output pixel 4b + j is SMLAD(P_4b+j, W01) + SMLABT(P_4b+j+1, W12) per filter row. The
 * pass copies slot B to slot A after reading it (STMDB), so that the next output row finds its top row
 * (the bottom row of this one at stride 2) in A: only slots M and B are widened per output row.
 */
/* Widen nblk (>= 1) blocks of 8 input pixels (4 channels each, `step` bytes apart; block ba's first at src
 * for group 0) into the slot's words at d (block ba, channel 0 of the slot): pairs j0..j3 of channel c at
 * d + 60 c, j0 again as the previous block's j4 (the first block's: a dummy on the stack); the last
 * block's j4 from the pixel at p8 (only the low half of a j4 word is read). For each of ng groups (d then
 * advances dskip, src sskip, p8 p8step more bytes): 50 instructions per 8 pixels x 4 channels, 11 per
 * group. External linkage (r0 = d, r1 = src, r2 = step, r3 = nblk; ng, dskip, sskip, p8, p8step on the
 * stack). */
void tg_dws2_widen(uint32_t *d, const int8_t *src, int32_t step, int32_t nblk, int32_t ng, int32_t dskip,
                   int32_t sskip, const int8_t *p8, int32_t p8step);
#define TG_DWS2_W4                           \
    "ldr    r4, [r1]\n\t"                    \
    "ldr    r5, [r1, r2]\n\t"                \
    "ldr    r6, [r1, r2, lsl #1]\n\t"        \
    "ldr    r7, [r1, r11]\n\t"               \
    "add    r1, r1, r2, lsl #2\n\t"          \
    "pkhbt  r8, r4, r5, lsl #16\n\t"         \
    "pkhtb  r5, r5, r4, asr #16\n\t"         \
    "pkhbt  r9, r6, r7, lsl #16\n\t"         \
    "pkhtb  r7, r7, r6, asr #16\n\t"
/* channel c's two pairs at [r0 + off] */
#define TG_DWS2_ST(x, y, off)                \
    "sxtb16 r4, " x "\n\t"                   \
    "sxtb16 r6, " y "\n\t"                   \
    "strd   r4, r6, [r0, #" off "]\n\t"
/* the first of them (j0) also as the previous block's j4 */
#define TG_DWS2_DUP(off) "str    r4, [r10, #" off "]\n\t"
/* pixel r6: channel c in the low half of the last block's j4 */
#define TG_DWS2_J4(rot, off)                 \
    "sxtb16 r7, r6" rot "\n\t"               \
    "str    r7, [r10, #" off "]\n\t"
__attribute__((naked, noinline)) void tg_dws2_widen(uint32_t *d __attribute__((unused)),
                                                    const int8_t *src __attribute__((unused)),
                                                    int32_t step __attribute__((unused)),
                                                    int32_t nblk __attribute__((unused)),
                                                    int32_t ng __attribute__((unused)),
                                                    int32_t dskip __attribute__((unused)),
                                                    int32_t sskip __attribute__((unused)),
                                                    const int8_t *p8 __attribute__((unused)),
                                                    int32_t p8step __attribute__((unused)))
{
    __asm__("push   {r4-r11, lr}\n\t"
            "sub    sp, sp, #184\n\t"
            "ldr    r12, [sp, #220]\n\t" /* ng */
            "add    r11, r2, r2, lsl #1\n\t"
            "0:\n\t"
            "mov    r10, sp\n\t"
            "mov    lr, r3\n\t"
            "1:\n\t"
            TG_DWS2_W4
            TG_DWS2_ST("r8", "r9", "0") TG_DWS2_DUP("0")
            TG_DWS2_ST("r8, ror #8", "r9, ror #8", "60") TG_DWS2_DUP("60")
            TG_DWS2_ST("r5", "r7", "120") TG_DWS2_DUP("120")
            TG_DWS2_ST("r5, ror #8", "r7, ror #8", "180") TG_DWS2_DUP("180")
            TG_DWS2_W4
            TG_DWS2_ST("r8", "r9", "8")
            TG_DWS2_ST("r8, ror #8", "r9, ror #8", "68")
            TG_DWS2_ST("r5", "r7", "128")
            TG_DWS2_ST("r5, ror #8", "r7, ror #8", "188")
            "add    r10, r0, #16\n\t"
            "add    r0, r0, #240\n\t"
            "subs   lr, lr, #1\n\t"
            "bne    1b\n\t"
            "ldrd   r4, r5, [sp, #232]\n\t" /* p8, p8step */
            "ldr    r6, [r4]\n\t"
            "add    r4, r4, r5\n\t"
            "str    r4, [sp, #232]\n\t"
            TG_DWS2_J4("", "0") TG_DWS2_J4(", ror #8", "60") TG_DWS2_J4(", ror #16", "120")
            TG_DWS2_J4(", ror #24", "180")
            "ldrd   r4, r5, [sp, #224]\n\t" /* dskip, sskip */
            "add    r0, r0, r4\n\t"
            "add    r1, r1, r5\n\t"
            "subs   r12, r12, #1\n\t"
            "bne    0b\n\t"
            "add    sp, sp, #184\n\t"
            "pop    {r4-r11, pc}\n\t");
}

/* Pair (pixel a at pa, b at pb; a padded pixel reads the input_zp word with step 0) of every group into the
 * words of a slot at d + 60 c (the next group's dstep bytes on; pa / pb advance sa / sb): 17 instructions
 * per group. External linkage (r0 = d, r1 = pa, r2 = pb, r3 = ng; sa, sb, dstep on the stack). */
void tg_dws2_pair(uint32_t *d, const int8_t *pa, const int8_t *pb, int32_t ng, int32_t sa, int32_t sb,
                  int32_t dstep);
__attribute__((naked, noinline)) void tg_dws2_pair(uint32_t *d __attribute__((unused)),
                                                   const int8_t *pa __attribute__((unused)),
                                                   const int8_t *pb __attribute__((unused)),
                                                   int32_t ng __attribute__((unused)),
                                                   int32_t sa __attribute__((unused)),
                                                   int32_t sb __attribute__((unused)),
                                                   int32_t dstep __attribute__((unused)))
{
    __asm__("push   {r4-r8, lr}\n\t"
            "ldrd   r12, lr, [sp, #24]\n\t" /* sa, sb */
            "ldr    r8, [sp, #32]\n\t"      /* dstep */
            "1:\n\t"
            "ldr    r4, [r1]\n\t"
            "ldr    r5, [r2]\n\t"
            "add    r1, r1, r12\n\t"
            "add    r2, r2, lr\n\t"
            "pkhbt  r6, r4, r5, lsl #16\n\t"
            "pkhtb  r5, r5, r4, asr #16\n\t"
            "sxtb16 r4, r6\n\t"
            "str    r4, [r0]\n\t"
            "sxtb16 r4, r6, ror #8\n\t"
            "str    r4, [r0, #60]\n\t"
            "sxtb16 r4, r5\n\t"
            "str    r4, [r0, #120]\n\t"
            "sxtb16 r4, r5, ror #8\n\t"
            "str    r4, [r0, #180]\n\t"
            "add    r0, r0, r8\n\t"
            "subs   r3, r3, #1\n\t"
            "bne    1b\n\t"
            "pop    {r4-r8, pc}\n\t");
}

/* What tg_dws2_load needs of a ring block: the layer, the ring, the batch's input, the block's first group
 * and its group count, whole blocks of 4 output pixels per row (nb), the pixels past them (part, 0-3), the
 * input's row and column steps in bytes. Ring: the ng groups' nb whole blocks (240 bytes each, a group 240 nb
 * bytes on from the previous one), then, where part > 0, the groups' last, overlapping blocks (240 bytes each,
 * tg_dws2_part). */
typedef struct {
    const tg_conv_params_t *p;
    uint32_t *ring;
    const int8_t *in_b;
    int32_t g0, ng, nb, part;
    int32_t pl, iw; /* the padded pixels left of block 0 (pad_left), the input pixels from in_b on (in_w) */
    size_t irow, icol;
} tg_dws2_ctx_t;

/* Padded row py of the block's groups into slot s (0: M, 1: A, 2: B), its nb (>= 1) blocks (pixel 0 of block 0
 * at padded pixel c->pl left of input pixel 0): the blocks whose 8 pixels are inside the input straight from it
 * (the last one's pixel 8 from the input or input_zp), the others (a padded pixel on the left, the row's end)
 * pair by pair (tg_dws2_pair); rows outside the input: input_zp pairs. */
TG_DWP_SMALL static void tg_dws2_load(const tg_dws2_ctx_t *c, int32_t s, int32_t py)
{
    const tg_conv_params_t *p = c->p;
    const int32_t iy = py - p->pad_top, nb = c->nb, ng = c->ng, icol = (int32_t)c->icol;
    uint32_t *d = c->ring + 5 * s;
    const uint32_t z4 = tg_splat4(p->input_zp);
    const int8_t *x0;
    int32_t ba, bb, b, j;
    if (iy < 0 || iy >= p->in_h) {
        tg_dws2_widen(d, (const int8_t *)&z4, 0, nb, ng, 0, 0, (const int8_t *)&z4, 0);
        return;
    }
    x0 = c->in_b + (size_t)iy * c->irow + 4 * c->g0;
    /* blocks [ba, bb): pixels 8 b .. 8 b + 7 inside the input */
    ba = (c->pl + 7) >> 3;
    bb = (c->iw + c->pl) >> 3;
    if (bb > nb) {
        bb = nb;
    }
    if (bb > ba) {
        const int32_t j8 = 8 * bb - c->pl, in8 = j8 < c->iw;
        tg_dws2_widen(d + 60 * ba, x0 + (8 * ba - c->pl) * icol, icol, bb - ba, ng, 240 * (nb - (bb - ba)),
                      4 - 8 * (bb - ba) * icol, in8 ? x0 + j8 * icol : (const int8_t *)&z4, in8 ? 4 : 0);
    } else {
        ba = bb = 0;
    }
    for (b = ba == 0 ? bb : 0; b < nb; b = b + 1 == ba ? bb : b + 1) {
        /* pairs j0..j3 of the block, then j4 (pixel 8 b + 8, with a padded partner) */
        for (j = 0; j < 5; j++) {
            const int32_t jx = 8 * b + 2 * j - c->pl;
            const int ina = (uint32_t)jx < (uint32_t)c->iw, inb = j < 4 && (uint32_t)(jx + 1) < (uint32_t)c->iw;
            tg_dws2_pair(d + 60 * b + j, ina ? x0 + jx * icol : (const int8_t *)&z4,
                         inb ? x0 + (jx + 1) * icol : (const int8_t *)&z4, ng, ina ? 4 : 0, inb ? 4 : 0, 240 * nb);
        }
    }
}

/* State of tg_dw3x3_s2 (field offsets are used by its assembly): one output row of the block's groups. */
typedef struct {
    uint32_t *ring;     /* 0: group 0, block 0, channel 0, slot M */
    const int32_t *blk; /* 4: group 0's parameter block (its mode word) */
    int8_t *out;        /* 8: the row's output: group 0's channel 0 at pixel 0 */
    int32_t nb;         /* 12: blocks of 4 output pixels (>= 1; the row has 4 nb) */
    int32_t clamp;      /* 16: 0: the act range is [-128, 127], 2: act_max is 127 (the lower bound only), 1: both */
    uint32_t lo4, hi4;  /* 20, 24 */
    int32_t ocol;       /* 28: bytes from output pixel to pixel */
    int32_t groups;     /* 32: >= 1 */
    int32_t zp;         /* 36: the output zero point (SMLAL groups) */
    int32_t fast;       /* 40: every group SMMLAR and no clamp: the pass TG_DWS2_FAST */
    int32_t off[3];     /* 44: bytes from pixel 0 to the pixel the results 1..3 go to: ocol, 2 ocol, 3 ocol */
    void (*rq)(void);   /* 56: tg_dws2_rq_other (groups with SMLAL rows: tg_dwconv_p3s2x_s8), else NULL */
} tg_dws2_t;

#define TG_DWS2_MAC8                         \
    "smlad  r0, r4, r9, r0\n\t"              \
    "smlabt r0, r5, r10, r0\n\t"             \
    "smlad  r1, r5, r9, r1\n\t"              \
    "smlabt r1, r6, r10, r1\n\t"             \
    "smlad  r2, r6, r9, r2\n\t"              \
    "smlabt r2, r7, r10, r2\n\t"             \
    "smlad  r3, r7, r9, r3\n\t"              \
    "smlabt r3, r8, r10, r3\n\t"
#define TG_DWS2_RQN(a)                       \
    "smmlar r8, " a ", r4, r5\n\t"           \
    "add    r8, r8, " a ", asr #31\n\t"      \
    "asr    r8, r8, r6\n\t"                  \
    "ssat   " a ", #8, r8\n\t"
/* The pass of a layer whose groups are all SMMLAR, without a clamp (tg_dws2_t.fast): the general pass with
 * its requantization and store inline, 54 instructions. Loops to label L over the group's blocks. */
#define TG_DWS2_FAST(L)                          \
    "ldm    r12!, {r3, r9, r10}\n\t"             \
    "ldm    r11!, {r4-r8}\n\t"                   \
    "smlad  r0, r4, r9, r3\n\t"                  \
    "smlabt r0, r5, r10, r0\n\t"                 \
    "smlad  r1, r5, r9, r3\n\t"                  \
    "smlabt r1, r6, r10, r1\n\t"                 \
    "smlad  r2, r6, r9, r3\n\t"                  \
    "smlabt r2, r7, r10, r2\n\t"                 \
    "smlad  r3, r7, r9, r3\n\t"                  \
    "smlabt r3, r8, r10, r3\n\t"                 \
    "ldm    r11!, {r4-r8}\n\t"                   \
    "ldrd   r9, r10, [r12], #8\n\t"             \
    TG_DWS2_MAC8                                 \
    "ldm    r11!, {r4-r8}\n\t"                   \
    "ldrd   r9, r10, [r12], #8\n\t"             \
    TG_DWS2_MAC8                                 \
    "ldm    r12!, {r4-r7}\n\t"                   \
    TG_DWS2_RQN("r0") TG_DWS2_RQN("r1") TG_DWS2_RQN("r2") TG_DWS2_RQN("r3") \
    "ldm    sp, {r5-r7}\n\t"                     \
    "strb   r3, [lr, r7]\n\t"                    \
    "strb   r2, [lr, r6]\n\t"                    \
    "strb   r1, [lr, r5]\n\t"                    \
    "strb   r0, [lr], #1\n\t"                    \
    "tst    lr, #3\n\t"                          \
    "bne    " L "\n\t"                           \
    "ldr    r0, [sp, #20]\n\t"                   \
    "subs   r0, r0, #1\n\t"                      \
    "str    r0, [sp, #20]\n\t"                   \
    "ldr    r1, [sp, #36]\n\t"                   \
    "add    lr, lr, r1\n\t"                      \
    "sub    r12, r12, #176\n\t"                  \
    "bne    " L "\n\t"                           \
    "b      60b\n\t"
/* The row's groups, in each its blocks, in each the 4 channels (a pass each: LDM of the bias and the
 * middle row's weights, 3 x (LDM of a slot, 8 MACs), the group's requantization
 * through a jump address (SMMLAR, or SMLAL with a left shift where rm1 < 0, output by output), then the
 * store's (4 STRB, the clamp first where the act range needs it). Stack: 0-8 the store offsets ocol - 1,
 * 2 ocol - 1, 3 ocol - 1, 12 the requantization, 16 the store, 20 blocks left, 24 the group's parameter
 * block, 28 its output, 32 groups left, 36 4 ocol - 4, 40 lo4, 44 hi4, 48 zp, 52 nb, 56-68 the accumulators
 * (SMLAL rows), 72 fast. Where every group is SMMLAR and the layer has no clamp (tg_dws2_t.fast), the pass is
 * TG_DWS2_FAST's instead (54 instructions instead of 56: no jumps). The output is 4-byte aligned (the
 * arena's tensors, out_c a multiple of 4: the channel loop ends at lr % 4 == 0). External linkage (r0 = a). */
void tg_dw3x3_s2(tg_dws2_t *a);
__attribute__((naked, noinline)) void tg_dw3x3_s2(tg_dws2_t *a __attribute__((unused)))
{
    __asm__(
        "push   {r4-r11, lr}\n\t"
        "sub    sp, sp, #80\n\t"
        "ldr    r1, [r0, #40]\n\t" /* fast */
        "str    r1, [sp, #72]\n\t"
        "add    r1, r0, #44\n\t" /* the store offsets of pixels 1..3, rq */
        "ldm    r1, {r1-r4}\n\t"
        "stm    sp, {r1-r3}\n\t"
        "str    r4, [sp, #76]\n\t"
        "ldm    r0, {r1-r10}\n\t" /* ring, blk, out, nb, clamp, lo4, hi4, ocol, groups, zp */
        "lsls   r0, r8, #2\n\t"
        "subs   r0, r0, #4\n\t"
        "str    r0, [sp, #36]\n\t"
        "strd   r6, r7, [sp, #40]\n\t"
        "str    r10, [sp, #48]\n\t"
        "str    r4, [sp, #52]\n\t"
        "str    r9, [sp, #32]\n\t"
        "strd   r2, r3, [sp, #24]\n\t"
        "adr.w  r0, 20f+1\n\t" /* (+1: the Thumb bit) */
        "cbz    r5, 1f\n\t"
        "adr.w  r0, 21f+1\n\t"
        "cmp    r5, #2\n\t"
        "bne    1f\n\t"
        "adr.w  r0, 22f+1\n\t"
        "1:\n\t"
        "str    r0, [sp, #16]\n\t"
        "mov    r11, r1\n\t"
        "2:\n\t" /* group: its requantization */
        "ldr    r0, [sp, #52]\n\t"
        "str    r0, [sp, #20]\n\t"
        "ldr    lr, [sp, #28]\n\t"
        "ldr    r12, [sp, #24]\n\t"
        "ldr    r1, [sp, #72]\n\t"
        "ldr    r0, [r12], #4\n\t"
        "cmp    r1, #0\n\t"
        "bne    51f\n\t"
        "adr.w  r1, 30f+1\n\t"
        "cmp    r0, #256\n\t"
        "it     ne\n\t"
        "ldrne  r1, [sp, #76]\n\t" /* tg_dws2_rq_other */
        "str    r1, [sp, #12]\n\t"
        "3:\n\t" /* block */
        "ldr    r12, [sp, #24]\n\t"
        "add    r12, r12, #4\n\t"
        "4:\n\t" /* pass: channel r12, slots at r11, output at lr */
        "ldm    r12!, {r3, r9, r10}\n\t"
        "ldm    r11!, {r4-r8}\n\t"
        "smlad  r0, r4, r9, r3\n\t"
        "smlabt r0, r5, r10, r0\n\t"
        "smlad  r1, r5, r9, r3\n\t"
        "smlabt r1, r6, r10, r1\n\t"
        "smlad  r2, r6, r9, r3\n\t"
        "smlabt r2, r7, r10, r2\n\t"
        "smlad  r3, r7, r9, r3\n\t"
        "smlabt r3, r8, r10, r3\n\t"
        "ldm    r11!, {r4-r8}\n\t"
        "ldrd   r9, r10, [r12], #8\n\t"
        TG_DWS2_MAC8
        "ldm    r11!, {r4-r8}\n\t"
        "ldrd   r9, r10, [r12], #8\n\t"
        TG_DWS2_MAC8
        "ldr    pc, [sp, #12]\n\t"
        "30:\n\t" /* SMMLAR rows {m, C, r, lo4} */
        "ldm    r12!, {r4-r7}\n\t"
        TG_DWS2_RQN("r0") TG_DWS2_RQN("r1") TG_DWS2_RQN("r2") TG_DWS2_RQN("r3")
        "ldr    pc, [sp, #16]\n\t"
        "21:\n\t" /* clamp 1: the 4 pixels as one word, max(lo), min(hi) per lane */
        "bfi    r0, r1, #8, #8\n\t"
        "bfi    r0, r2, #16, #8\n\t"
        "bfi    r0, r3, #24, #8\n\t"
        "ldrd   r4, r5, [sp, #40]\n\t"
        "ssub8  r6, r0, r4\n\t"
        "sel    r0, r0, r4\n\t"
        "ssub8  r6, r0, r5\n\t"
        "sel    r0, r5, r0\n\t"
        "b      23f\n\t"
        "22:\n\t" /* clamp 2, the lower bound only (act_max 127): the 4 pixels as one word, max(lo) per lane, lo
                     * in r7 (an SMMLAR row's 4th word, dw_pair2_blocks; tg_dws2_rq_other loads it) */
        "bfi    r0, r1, #8, #8\n\t"
        "bfi    r0, r2, #16, #8\n\t"
        "bfi    r0, r3, #24, #8\n\t"
        "ssub8  r6, r0, r7\n\t"
        "sel    r0, r0, r7\n\t"
        "23:\n\t"
        "lsrs   r1, r0, #8\n\t"
        "lsrs   r2, r0, #16\n\t"
        "lsrs   r3, r0, #24\n\t"
        "20:\n\t" /* pixels 4b .. 4b + 3 of the channel */
        "ldm    sp, {r5-r7}\n\t"
        "strb   r3, [lr, r7]\n\t"
        "strb   r2, [lr, r6]\n\t"
        "strb   r1, [lr, r5]\n\t"
        "strb   r0, [lr], #1\n\t"
        "tst    lr, #3\n\t"
        "bne    4b\n\t"
        /* block done */
        "ldr    r0, [sp, #20]\n\t"
        "subs   r0, r0, #1\n\t"
        "str    r0, [sp, #20]\n\t"
        "ldr    r1, [sp, #36]\n\t"
        "add    lr, lr, r1\n\t"
        "bne    3b\n\t"
        "60:\n\t" /* group done */
        "ldrd   r0, r1, [sp, #24]\n\t"
        "add    r0, r0, #180\n\t"
        "add    r1, r1, #4\n\t"
        "strd   r0, r1, [sp, #24]\n\t"
        "ldr    r0, [sp, #32]\n\t"
        "subs   r0, r0, #1\n\t"
        "str    r0, [sp, #32]\n\t"
        "bne    2b\n\t"
        "add    sp, sp, #80\n\t"
        "pop    {r4-r11, pc}\n\t"
        "51:\n\t" /* SMMLAR groups, no clamp */
        TG_DWS2_FAST("51b"));
}

/* The row's last block where it has 4 nb + part output pixels (tg_dwconv_p3s2p_s8: nb >= 1, part 1..3; the ring's
 * groups' extra blocks after their whole ones, 240 bytes apart): a whole block over output pixels s = out_w - 4 ..
 * out_w - 1, overlapping the last whole block by 4 - part pixels (stored again, with the same values). Its rows
 * are loaded as rows of one block from input pixel 2 s - pad_left on (>= 1, and its 8 pixels inside the input:
 * one widening, its pixel 8 from the input or input_zp at the row's end); the top row into slot 1 unless kept
 * from the previous row (t > 0 at stride_h 2 dil_h), the middle one into 0, the bottom one into 3 - st; then one
 * pass call on it, the row's `a` otherwise. */
TG_DWP_SMALL static void tg_dws2_part(const tg_dws2_ctx_t *c, const tg_dws2_t *a, int32_t st, int32_t t)
{
    const int32_t dh = c->p->dil_h, s = 4 * c->nb + c->part - 4, x0 = 2 * s - c->pl;
    const int kept = t > 0 && c->p->stride_h == 2 * dh; /* the top row: the previous row's bottom one */
    tg_dws2_ctx_t cp = *c;
    tg_dws2_t ap = *a;
    cp.ring = c->ring + 60 * c->nb * c->ng;
    cp.nb = 1;
    cp.pl = 0;
    cp.iw = c->iw - x0;
    cp.in_b = c->in_b + x0 * c->icol;
    if (!kept) {
        tg_dws2_load(&cp, 1, t);
    }
    tg_dws2_load(&cp, 0, t + dh);
    tg_dws2_load(&cp, 3 - st, t + 2 * dh);
    ap.ring = cp.ring;
    ap.nb = 1;
    ap.out = a->out + s * a->ocol;
    tg_barrier();
    tg_dw3x3_s2(&ap);
}

typedef void (*tg_dws2_part_t)(const tg_dws2_ctx_t *, const tg_dws2_t *, int32_t, int32_t);
typedef void (*tg_dws2_rq_t)(void);

/* The requantization of tg_dw3x3_s2's groups with SMLAL rows {m, klo, khi, rm1} (rm1 < 0: a left shift L = ~rm1),
 * output by output: not called but jumped to from the pass (tg_dws2_t.rq, its frame: the accumulators r0-r3,
 * the rows at r12), back to the store through [sp, #16]. Linked only by tg_dwconv_p3s2x_s8, the entry point of
 * layers with such groups (dead channels beyond the SMMLAR bound, left shifts). */
void tg_dws2_rq_other(void);
__attribute__((naked, noinline)) void tg_dws2_rq_other(void)
{
    __asm__(
                "add    r8, sp, #56\n\t"
        "stm    r8, {r0-r3}\n\t"
        "ldm    r12!, {r4-r7}\n\t"
        "ldr    r9, [sp, #48]\n\t"
        "mov    r10, #4\n\t"
        "34:\n\t"
        "ldr    r0, [r8]\n\t"
        "cmp    r7, #0\n\t"
        "blt    35f\n\t"
        "mov    r1, r5\n\t"
        "mov    r2, r6\n\t"
        TG_RQX_ASM("r0", "r4", "r1", "r2", "r7", "r9")
        "b      36f\n\t"
        "35:\n\t"
        "mvn    r3, r7\n\t"
        "mov    r1, #0x80000000\n\t"
        "movs   r2, #0\n\t"
        TG_LQX_ASM("r0", "r4", "r1", "r2", "r3", "r9")
        "36:\n\t"
        "str    r0, [r8], #4\n\t"
        "subs   r10, r10, #1\n\t"
        "bne    34b\n\t"
        "ldmdb  r8, {r0-r3}\n\t"
        "ldr    r7, [sp, #40]\n\t" /* lo4 for the lower-bound clamp (22: r7, an SMMLAR row's 4th word) */
        "ldr    pc, [sp, #16]\n\t"
    );
}

/* scratch: the ring (conv.py dw_scratch_bytes: groups-per-block x ceil(out_w / 4) x 240 bytes). Output row oy
 * reads padded rows t = oy * stride_h, t + dil_h, t + 2 dil_h: the middle one goes to slot 0 (M), the bottom one
 * to the slot (1 or 2) that does not hold the top one; the top one is the previous row's bottom one at
 * stride 2 (kept, no copy), else it is widened into slot 1. Where slot 2 holds the top row, the pass reads
 * the parameter blocks' second set (conv.py dw_pair2_params: filter rows 0 and 2 swapped). Rows of 4 nb + v
 * pixels (nb >= 1, v 1..3: tg_dwconv_p3s2p_s8) end with an overlapping last block (`part`: tg_dws2_part). */
TG_DWP_SMALL static void tg_dwconv_s2_f(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch,
                                        tg_dws2_part_t part, tg_dws2_rq_t rq)
{
    const int32_t oc_n = p->out_c;
    const int32_t groups = oc_n >> 2;
    const int tr = p->w_row == -5; /* transposed: a row is a column of the image */
    const size_t orow = (size_t)(tr ? 1 : p->out_w) * oc_n, ocol = (size_t)(tr ? p->out_h : 1) * oc_n;
    const int32_t gb = p->groups < 1 ? 1 : p->groups, dh = p->dil_h;
    tg_dws2_ctx_t c;
    tg_dws2_t a;
    int32_t b, oy;
    c.p = p;
    c.ring = (uint32_t *)scratch;
    c.nb = p->out_w >> 2;
    c.part = p->out_w & 3;
    if (!c.part) {
        part = 0; /* (tg_dwconv_p3s2x_s8 on whole rows) */
    }
    c.pl = p->pad_left;
    c.iw = p->in_w;
    c.irow = (size_t)(tr ? 1 : p->in_w) * p->in_c;
    c.icol = (size_t)(tr ? p->in_h : 1) * p->in_c;
    a.ring = c.ring;
    a.nb = c.nb;
    a.clamp = (p->act_min <= -128 && p->act_max >= 127) ? 0 : (p->act_min > -128 && p->act_max >= 127) ? 2 : 1;
    a.lo4 = tg_splat4(p->act_min);
    a.hi4 = tg_splat4(p->act_max);
    a.ocol = (int32_t)ocol;
    a.off[0] = (int32_t)ocol;
    a.off[1] = 2 * (int32_t)ocol;
    a.off[2] = 3 * (int32_t)ocol;
    a.zp = p->output_zp;
    a.rq = rq;
    a.fast = !a.clamp;
    for (b = 0; b < groups && a.fast; b++) {
        a.fast = ((const int32_t *)p->weights)[b * TG_DWS2_BLOCK] == 256;
    }
    for (c.g0 = 0; c.g0 < groups; c.g0 += gb) {
        c.ng = groups - c.g0 < gb ? groups - c.g0 : gb;
        a.groups = c.ng;
        for (b = 0; b < p->batches; b++) {
            int32_t top = -1, ts = 1; /* the padded row slot ts holds for the next output row: none */
            int8_t *out = output + (size_t)b * p->out_h * p->out_w * oc_n + 4 * c.g0;
            c.in_b = input + (size_t)b * p->in_h * p->in_w * p->in_c;
            for (oy = 0; oy < p->out_h; oy++, out += orow) {
                const int32_t t = oy * p->stride_h;
                int32_t st = 1; /* the top row's slot */
                tg_barrier(); /* the previous row's reads are done before the ring is written */
                if (top == t) {
                    st = ts;
                } else {
                    tg_dws2_load(&c, 1, t);
                }
                tg_dws2_load(&c, 0, t + dh);
                tg_dws2_load(&c, 3 - st, t + 2 * dh);
                top = t + 2 * dh;
                ts = 3 - st;
                a.blk = (const int32_t *)p->weights + (size_t)(c.g0 + (st == 2 ? groups : 0)) * TG_DWS2_BLOCK;
                tg_barrier();
                a.out = out;
                tg_dw3x3_s2(&a);
                if (part) {
                    part(&c, &a, st, t);
                }
            }
        }
    }
}

static inline void tg_dwconv_s2(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch)
{
    tg_dwconv_s2_f(p, input, output, scratch, 0, 0);
}

static inline void tg_dwconv_s2p(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch)
{
    tg_dwconv_s2_f(p, input, output, scratch, tg_dws2_part, 0);
}

static inline void tg_dwconv_s2x(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch)
{
    tg_dwconv_s2_f(p, input, output, scratch, tg_dws2_part, (tg_dws2_rq_t)((uintptr_t)tg_dws2_rq_other | 1));
}

/*
 * Ring kernel, k x k pair layout (w_row == -6: a k_h x k_w filter, k_w odd, depth multiplier 1, stride 1 or 2
 * and dilation 1 along the row, whole groups of 4 channels, right-shift rows only; parameter blocks of
 * conv.py dw_kpair_blocks). The ring rows are the 3x3 pair kernel's (tg_dw_load_pairs: pixel pairs
 * (x[2j], x[2j + 1]) of c0..c3, 16 bytes per pair), one per filter row (dilated). With m = (k_w - 1) / 2, a pass
 * (output pixels A, B of 4 channels) reads npr pairs of each filter row, pairs q + i (i = 0..m, npr = m + 1) at
 * stride 1, 2q + i (i = 0..m + 1, npr = m + 2) at stride 2, and each pair meets two weight words per channel,
 * one SMLAD for A and one for B (w[j] = 0 outside 0..k_w - 1):
 *   stride 1: WA_i = (w[2i], w[2i + 1]), WB_i = (w[2i - 1], w[2i])
 *   stride 2: WA_i = (w[2i], w[2i + 1]), WB_i = (w[2i - 2], w[2i - 1])
 * k_w + 1 multiplies for 2 k_w multiply-accumulates per filter row and channel at stride 1 (k_w + 3 at
 * stride 2). Requantization: SMMLAR on doubled weights and bias (TG_DWP_RQ2N's), every group (conv.py dw_kpairs
 * requires it), each half of a group (2 channels) right after its taps.
 */
/* State of tg_dwk_pairs (copied to its stack at 52: field offsets are used by its assembly). */
typedef struct {
    const uint32_t *const *row; /* 52: the k_h ring rows (first group, pair 0) */
    const int32_t *blk;         /* 56: the first group's parameter block */
    int8_t *out;                /* 60: the first group's output at pixel 0 */
    int32_t pixels;             /* 64: >= 1 */
    int32_t pstep;              /* 68: bytes from pass to pass in a ring row: 16 (stride 1), 32 (stride 2) */
    uint32_t lo4, hi4;          /* 72, 76 */
    int32_t out_step;           /* 80: bytes from pixel to pixel in the output */
    int32_t gstride;            /* 84: bytes from a group's ring row to the next group's */
    int32_t groups;             /* 88: >= 1 */
    int32_t kh;                 /* 92: filter rows, >= 1 */
    int32_t npr;                /* 96: pairs per filter row and pass, 1..6 (conv.py DW_KPAIR_MAX_NPR) */
    int32_t bbytes;             /* 100: bytes per parameter block */
} tg_dwkp_t;

/* one pair of a filter row: 2 channels (inputs r4, r5), weights WA, WB of each, accumulators A r0 / r1, B r2 / r3;
 * 24 bytes of code (the pass enters the row's 6 copies at its npr-th last) */
#define TG_DWKP_TAP                          \
    "ldrd   r4, r5, [lr], #16\n\t"           \
    "ldm    r12!, {r6-r9}\n\t"               \
    "smlad  r0, r4, r6, r0\n\t"              \
    "smlad  r2, r4, r7, r2\n\t"              \
    "smlad  r1, r5, r8, r1\n\t"              \
    "smlad  r3, r5, r9, r3\n\t"
/* SMMLAR rows {m, C, r, 0} (as TG_DWP_RQ2N) of one channel, for its accumulators a (pixel A) and b (pixel B),
 * rows from [r12] */
#define TG_DWKP_RQN(a, b)                    \
    "ldm    r12!, {r4-r7}\n\t"               \
    "smmlar r7, " a ", r4, r5\n\t"           \
    "add    r7, r7, " a ", asr #31\n\t"      \
    "asr    r7, r7, r6\n\t"                  \
    "ssat   " a ", #8, r7\n\t"               \
    "smmlar r7, " b ", r4, r5\n\t"           \
    "add    r7, r7, " b ", asr #31\n\t"      \
    "asr    r7, r7, r6\n\t"                  \
    "ssat   " b ", #8, r7\n\t"
/* The block's groups one after the other, in each the row's passes (the last pass of an odd row stores pixel A
 * only); a pass: for channels c0, c1 then c2, c3, every filter row's npr pairs (a jump into 6 copies of the
 * pair) and their 4 SMMLAR requantizations (every group: dw_kpairs), then packing, clamp, 2 stores. The clamp is
 * chosen once (an address on the stack). Stack: 0-4 pixels A, B of c0 / c1 (bytes 0, 1), 16 offset of the current half's
 * pairs in a ring row, 20 the pass's, 24 the group's, 28 the row's entry into the pairs, 32 unused,
 * 36 clamp, 40 output, 44 pixels left, 52-100 the state. External linkage: the
 * compiler must keep its calling convention (r0 = a). */
void tg_dwk_pairs(tg_dwkp_t *a);
__attribute__((naked, noinline)) void tg_dwk_pairs(tg_dwkp_t *a __attribute__((unused)))
{
    __asm__(
        "push   {r4-r11, lr}\n\t"
        "sub    sp, sp, #104\n\t"
        "ldm    r0!, {r1-r9}\n\t"
        "add    r10, sp, #52\n\t"
        "stm    r10!, {r1-r9}\n\t"
        "ldm    r0, {r1-r4}\n\t"
        "stm    r10, {r1-r4}\n\t"
        /* clamp: both bounds, the upper one only (lower bound -128) or none (and 127) */
        "ldrd   r6, r7, [sp, #72]\n\t"
        "adr.w  r5, 12f+1\n\t" /* (+1: Thumb code addresses) */
        "cmp    r6, #0x80808080\n\t"
        "bne    10f\n\t"
        "adr.w  r5, 11f+1\n\t"
        "cmp    r7, #0x7f7f7f7f\n\t"
        "bne    10f\n\t"
        "adr.w  r5, 4f+1\n\t"
        "10:\n\t"
        "str    r5, [sp, #36]\n\t"
        /* a row's entry: npr copies of the pair before its end */
        "ldr    r6, [sp, #96]\n\t"
        "adr.w  r5, 9f+1\n\t"
        "add    r6, r6, r6, lsl #1\n\t"
        "sub    r5, r5, r6, lsl #3\n\t"
        "str    r5, [sp, #28]\n\t"
        "movs   r5, #0\n\t"
        "str    r5, [sp, #24]\n\t"
        "3:\n\t" /* group */
        "ldr    r0, [sp, #60]\n\t"
        "ldr    r1, [sp, #64]\n\t"
        "strd   r0, r1, [sp, #40]\n\t"
        "ldr    r0, [sp, #24]\n\t"
        "str    r0, [sp, #20]\n\t"
        "1:\n\t" /* pass: pixels A, B */
        "ldr    r12, [sp, #56]\n\t"
        "ldm    r12!, {r0-r3}\n\t"
        "ldr    r4, [sp, #20]\n\t"
        "str    r4, [sp, #16]\n\t"
        "2:\n\t" /* half: 2 channels */
        "ldr    r10, [sp, #52]\n\t"
        "ldr    r11, [sp, #92]\n\t"
        "7:\n\t" /* filter row */
        "ldr    lr, [r10], #4\n\t"
        "ldr    r4, [sp, #16]\n\t"
        "add    lr, lr, r4\n\t"
        "ldr    pc, [sp, #28]\n\t"
        TG_DWKP_TAP TG_DWKP_TAP TG_DWKP_TAP TG_DWKP_TAP TG_DWKP_TAP TG_DWKP_TAP
        "9:\n\t"
        "subs   r11, r11, #1\n\t"
        "bne    7b\n\t"
        /* the half's 2 channels requantized (rows after its weights) and packed: A in r0, B in r2 (bytes 0, 1) */
        TG_DWKP_RQN("r0", "r2") TG_DWKP_RQN("r1", "r3")
        "bfi    r0, r1, #8, #8\n\t"
        "bfi    r2, r3, #8, #8\n\t"
        "ldrd   r4, r5, [sp, #16]\n\t"
        "cmp    r4, r5\n\t"
        "bne    8f\n\t"
        "strd   r0, r2, [sp]\n\t"
        "ldm    r12!, {r0-r3}\n\t"
        "add    r4, r4, #8\n\t"
        "str    r4, [sp, #16]\n\t"
        "b      2b\n\t"
        "8:\n\t"
        "ldrd   r8, r10, [sp]\n\t"
        "pkhbt  r8, r8, r0, lsl #16\n\t"
        "pkhbt  r10, r10, r2, lsl #16\n\t"
        "ldr    pc, [sp, #36]\n\t"
        "12:\n\t" /* clamp: the lower bound (max), then the upper one (min) */
        "ldr    r4, [sp, #72]\n\t"
        "ssub8  r6, r8, r4\n\t"
        "sel    r8, r8, r4\n\t"
        "ssub8  r6, r10, r4\n\t"
        "sel    r10, r10, r4\n\t"
        "11:\n\t"
        "ldr    r5, [sp, #76]\n\t"
        "ssub8  r6, r8, r5\n\t"
        "sel    r8, r5, r8\n\t"
        "ssub8  r6, r10, r5\n\t"
        "sel    r10, r5, r10\n\t"
        "4:\n\t"
        "ldrd   r4, r5, [sp, #40]\n\t"
        "ldr    r6, [sp, #80]\n\t"
        "str    r8, [r4]\n\t"
        "subs   r5, r5, #2\n\t"
        "it     ge\n\t"
        "strge  r10, [r4, r6]\n\t" /* pixel B, unless the row's last pass has pixel A only */
        "add    r4, r4, r6, lsl #1\n\t"
        "strd   r4, r5, [sp, #40]\n\t"
        "ble    16f\n\t"
        "ldr    r4, [sp, #20]\n\t"
        "ldr    r5, [sp, #68]\n\t"
        "add    r4, r4, r5\n\t"
        "str    r4, [sp, #20]\n\t"
        "b      1b\n\t"
        "16:\n\t" /* next group */
        "ldr    r0, [sp, #24]\n\t"
        "ldr    r1, [sp, #84]\n\t"
        "add    r0, r0, r1\n\t"
        "str    r0, [sp, #24]\n\t"
        "ldrd   r0, r1, [sp, #56]\n\t"
        "ldr    r2, [sp, #100]\n\t"
        "add    r0, r0, r2\n\t"
        "add    r1, r1, #4\n\t"
        "strd   r0, r1, [sp, #56]\n\t"
        "ldr    r1, [sp, #88]\n\t"
        "subs   r1, r1, #1\n\t"
        "str    r1, [sp, #88]\n\t"
        "bne    3b\n\t"
        "add    sp, sp, #104\n\t"
        "pop    {r4-r11, pc}\n\t");
}

/* scratch as tg_dwconv_dsp's: R = (k_h - 1) * dil_h + 1 ring rows of np = wp / 2 pixel pairs (16 bytes per
 * group), stride 1: one pair per pass + m, stride 2: two per pass + m, then zl = pad_left / 2 pairs (conv.py
 * _dw_ring_dims, dw_scratch_bytes). Ring rows through tg_dw_load_pairs, whose plan (tg_dw_row_plan) widens rows
 * with pad_left <= 1 (a group's np pairs contiguous): with pad_left 2 or 3 (5x5 / 7x7 SAME) the plan is made for
 * pad_left % 2 and the row widened zl pairs further on, so that a group's zl leading input_zp pairs are the previous group's last
 * (its trailing input_zp pairs: SAME pads the right at least as much as the left, conv.py dw_kpairs); the first
 * group's are set with the row, the last group's spill into the next ring row's, or the zl pairs after the ring.
 * Compiled for size. */
TG_DWP_SMALL static void tg_dwconv_kpairs(const tg_conv_params_t *p, const int8_t *input, int8_t *output,
                                          void *scratch)
{
    const int32_t kh = p->k_h, s2 = p->stride_w == 2, npr = (p->k_w + 1) / 2 + s2, rows = (kh - 1) * p->dil_h + 1;
    const int32_t bwords = 8 * kh * npr + 24; /* conv.py dw_kpair_blocks */
    const int32_t np = (((p->out_w + 1) >> 1) << s2) + npr - 1 - s2, ngmax = p->groups; /* >= 1 (_dw_ring_dims) */
    const size_t irow = (size_t)p->in_w * p->in_c, orow = (size_t)p->out_w * p->out_c, rstep = (size_t)ngmax * np * 4;
    int32_t *tag = (int32_t *)scratch;
    const uint32_t **row = (const uint32_t **)(tag + ((rows + 1) & ~1));
    uint32_t *ring = (uint32_t *)row + ((kh + 1) & ~1);
    const int32_t zl = p->pad_left >> 1;
    const uint32_t z = tg_sxtb16(tg_splat4(p->input_zp));
    tg_conv_params_t w = *p; /* the widening's view: pad_left 0 or 1 */
    tg_dw_wplan_t plan;
    tg_dwkp_t a;
    int32_t b, g0, oy, ky;
    w.pad_left &= 1;
    tg_dw_row_plan(&w, np, (size_t)p->in_c, &plan);
    a.row = row;
    a.pixels = p->out_w;
    a.pstep = p->stride_w * 16;
    a.lo4 = tg_splat4(p->act_min);
    a.hi4 = tg_splat4(p->act_max);
    a.out_step = p->out_c;
    a.gstride = np * 16;
    a.kh = kh;
    a.npr = npr;
    a.bbytes = 4 * bwords;
    a.blk = (const int32_t *)p->weights;
    for (g0 = 0; g0 < p->out_c >> 2; g0 += ngmax, a.blk += ngmax * bwords) {
        const int8_t *in_b = input + 4 * g0;
        int8_t *out = output + 4 * g0;
        a.groups = (p->out_c >> 2) - g0 < ngmax ? (p->out_c >> 2) - g0 : ngmax;
        for (b = 0; b < p->batches; b++, in_b += (size_t)p->in_h * irow) {
            for (ky = 0; ky < rows; ky++) {
                tag[ky] = -1;
                TG_NO_LIBCALL();
            }
            for (oy = 0; oy < p->out_h; oy++, out += orow) {
                tg_barrier(); /* the previous row's reads are done before the ring is written */
                for (ky = 0; ky < kh; ky++) {
                    const int32_t py = oy * p->stride_h + ky * p->dil_h, slot = py % rows;
                    uint32_t *d = ring + slot * rstep;
                    if (tag[slot] != py) {
                        /* the first group's leading input_zp pairs (zl <= 2: pad_left <= 4; rewritten where zl is 0) */
                        d[0] = d[1] = d[2] = d[3] = d[4] = d[5] = d[6] = d[7] = z;
                        tg_dw_load_pairs(p, &plan, d + 4 * zl, in_b, py, a.groups, np, irow, (size_t)p->in_c);
                        tag[slot] = py;
                    }
                    row[ky] = d;
                }
                a.out = out;
                tg_barrier();
                tg_dwk_pairs(&a);
                tg_barrier();
            }
        }
    }
}

/*
 * Column kernel (depth multiplier >= 2; `w_row` > 0: int8 filter rows [out_c][w_row], `bias`
 * [out_c], `rq` [out_c] rows): each input channel's window is one small convolution with
 * dm filters. Two output pixels at a time, channel by channel, the window's taps of both pixels
 * are gathered into the scratch as int16 (2 x w_row of them, padded taps = input_zp), interleaved
 * as the conv kernel's im2col columns: for taps 4j..4j+3, (x0, x2), (x1, x3) of pixel A, then of
 * pixel B; each filter row (4 weights per 32-bit load, SXTB16 + SXTB16 ROR 8) meets both
 * pixels: 2 output channels x 2 pixels, 8 SMLAD per 4 taps. Scratch: 4 * w_row bytes.
 */
static void tg_dw_gather(const tg_conv_params_t *p, const int8_t *pin, int32_t y0, int32_t x0, int16_t *col)
{
    /* one pixel's window (its input channel: pin already offset), tap t at int16 index
     * 8 * (t / 4) + {0, 2, 1, 3}[t % 4] of col (pixel B: col + 4) */
    static const uint8_t pos[4] = {0, 2, 1, 3};
    const int32_t c_n = p->in_c, in_w = p->in_w, kw = p->k_w;
    const ptrdiff_t dx = (ptrdiff_t)p->dil_w * c_n;
    const int16_t zp = (int16_t)p->input_zp;
    int32_t lo = 0, hi = kw, ky, kx, t = 0;
    /* taps kx in [lo, hi) fall inside the input horizontally */
    while (lo < kw && x0 + lo * p->dil_w < 0) {
        lo++;
    }
    while (hi > lo && x0 + (hi - 1) * p->dil_w >= in_w) {
        hi--;
    }
    for (ky = 0; ky < p->k_h; ky++) {
        const int32_t iy = y0 + ky * p->dil_h;
        const int8_t *s = pin + ((ptrdiff_t)iy * in_w + x0) * c_n;
        if (iy < 0 || iy >= p->in_h) {
            for (kx = 0; kx < kw; kx++, t++) {
                col[((t >> 2) << 3) + pos[t & 3]] = zp;
            }
        } else if (dx == 1 && lo == 0 && hi == kw && (kw & 3) == 0) {
            /* a whole row of contiguous bytes, 4 taps per word: (x0, x2), (x1, x3) */
            uint32_t *d = (uint32_t *)(void *)(col + ((t >> 2) << 3));
            for (kx = 0; kx < kw; kx += 4, s += 4, d += 4) {
                const uint32_t v = tg_ld32(s);
                d[0] = tg_sxtb16(v);
                d[1] = tg_sxtb16_ror8(v);
            }
            t += kw;
        } else {
            for (kx = 0; kx < kw; kx++, t++, s += dx) {
                col[((t >> 2) << 3) + pos[t & 3]] = kx >= lo && kx < hi ? *s : zp;
            }
        }
    }
}

/* requantize + clamp + store one output (rq row q) */
__attribute__((noinline)) static void tg_dw_put(const tg_conv_params_t *p, int8_t *o, int32_t acc, const int32_t *q)
{
    int32_t v;
    if (q[3] < 0) {
        *o = tg_dw_requant(acc, q, p);
        return;
    }
    v = tg_rqx_sat8(acc, q, p->output_zp);
    *o = (int8_t)(v < p->act_min ? p->act_min : (v > p->act_max ? p->act_max : v));
}

/* State of tg_dw_dot2 (field offsets are used by its assembly). */
typedef struct {
    const int8_t *w0, *w1; /* 0, 4: filter rows of the channel pair */
    const uint32_t *cols;  /* 8: the two pixels' columns */
    int32_t kq;            /* 12: groups of 4 taps, >= 1 */
    int32_t acc[4];        /* 16: in: biases, out: sums (A ch0, A ch1, B ch0, B ch1) */
} tg_dwdot_t;

/* acc += both filter rows . both columns: per 4 taps one LDM of the columns, each row's 4 weights
 * (one LDR) as SXTB16 / SXTB16 ROR 8 pairs, 8 SMLAD: 17 instructions per 16 multiply-accumulates.
 * External linkage: the compiler must keep its calling convention (r0 = a). */
void tg_dw_dot2(tg_dwdot_t *a);
__attribute__((naked, noinline)) void tg_dw_dot2(tg_dwdot_t *a __attribute__((unused)))
{
    __asm__(
        "push   {r0, r4-r11, lr}\n\t"
        "ldm    r0!, {r4-r7}\n\t"
        "ldm    r0, {r0-r3}\n\t"
        "1:\n\t"
        "ldr    r12, [r4], #4\n\t"
        "ldm    r6!, {r8-r11}\n\t"
        "sxtb16 lr, r12, ror #8\n\t"
        "sxtb16 r12, r12\n\t"
        "smlad  r0, r12, r8, r0\n\t"
        "smlad  r0, lr, r9, r0\n\t"
        "smlad  r2, r12, r10, r2\n\t"
        "smlad  r2, lr, r11, r2\n\t"
        "ldr    r12, [r5], #4\n\t"
        "sxtb16 lr, r12, ror #8\n\t"
        "sxtb16 r12, r12\n\t"
        "smlad  r1, r12, r8, r1\n\t"
        "smlad  r1, lr, r9, r1\n\t"
        "smlad  r3, r12, r10, r3\n\t"
        "smlad  r3, lr, r11, r3\n\t"
        "subs   r7, r7, #1\n\t"
        "bne    1b\n\t"
        "ldr    r12, [sp]\n\t"
        "add    r12, r12, #16\n\t"
        "stm    r12, {r0-r3}\n\t"
        "pop    {r0, r4-r11, pc}\n\t");
}

/* output channels [oc0, oc0 + n) (filters of one input channel) of pixels A and B from their columns */
static void tg_dw_cols_dot(const tg_conv_params_t *p, const uint32_t *cols, int32_t oc0, int32_t n, int8_t *oa,
                           int8_t *ob)
{
    const int32_t kq = p->w_row >> 2;
    const int32_t *rq = (const int32_t *)(const void *)p->rq;
    const uint32_t lo4 = tg_splat4(p->act_min), hi4 = tg_splat4(p->act_max);
    int32_t oc;
    for (oc = oc0; oc < oc0 + n; oc += 2) {
        /* an odd last channel: the pair (oc - 1, oc) again (stores the same values twice) */
        const int32_t o = oc + 1 < oc0 + n ? oc : oc - 1;
        tg_dwdot_t d;
        int32_t a0, a1, b0, b1;
        d.w0 = (const int8_t *)p->weights + (size_t)o * p->w_row;
        d.w1 = d.w0 + p->w_row;
        d.cols = cols;
        d.kq = kq;
        d.acc[0] = d.acc[2] = p->bias[o];
        d.acc[1] = d.acc[3] = p->bias[o + 1];
        tg_dw_dot2(&d);
        a0 = d.acc[0];
        a1 = d.acc[1];
        b0 = d.acc[2];
        b1 = d.acc[3];
        if ((rq[4 * o + 3] | rq[4 * o + 7]) >= 0) {
            /* both rows exact-DSP: inline, clamped with one SSUB8/SEL pair per bound */
            const uint32_t v = tg_clamp4(tg_pack4(tg_rqx_sat8(a0, rq + 4 * o, p->output_zp),
                                                  tg_rqx_sat8(a1, rq + 4 * o + 4, p->output_zp),
                                                  tg_rqx_sat8(b0, rq + 4 * o, p->output_zp),
                                                  tg_rqx_sat8(b1, rq + 4 * o + 4, p->output_zp)),
                                         lo4, hi4);
            oa[o] = (int8_t)v;
            oa[o + 1] = (int8_t)(v >> 8);
            ob[o] = (int8_t)(v >> 16);
            ob[o + 1] = (int8_t)(v >> 24);
            continue;
        }
        tg_dw_put(p, oa + o, a0, rq + 4 * o);
        tg_dw_put(p, oa + o + 1, a1, rq + 4 * (o + 1));
        tg_dw_put(p, ob + o, b0, rq + 4 * o);
        tg_dw_put(p, ob + o + 1, b1, rq + 4 * (o + 1));
    }
}

static void tg_dwconv_cols(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch)
{
    uint32_t *cols = (uint32_t *)scratch;
    const int32_t c_n = p->in_c, dm = p->depth_multiplier, oc_n = p->out_c;
    const int32_t n = p->batches * p->out_h * p->out_w;
    const size_t in_size = (size_t)p->in_h * p->in_w * c_n;
    int32_t i, ic, b = 0, oy = 0, ox = 0;
    for (i = 0; i < n; i += 2) {
        /* pixel A = (b, oy, ox), pixel B the next one (or A again at the end) */
        int32_t bb = b, by = oy, bx = ox + 1;
        const int32_t j = i + 1 < n ? i + 1 : i;
        if (bx == p->out_w) {
            bx = 0;
            if (++by == p->out_h) {
                by = 0;
                bb++;
            }
        }
        if (j == i) {
            bb = b;
            by = oy;
            bx = ox;
        }
        {
            const int32_t ya = oy * p->stride_h - p->pad_top, xa = ox * p->stride_w - p->pad_left;
            const int32_t yb = by * p->stride_h - p->pad_top, xb = bx * p->stride_w - p->pad_left;
            const int8_t *in_a = input + (size_t)b * in_size, *in_bb = input + (size_t)bb * in_size;
            int8_t *oa = output + (size_t)i * oc_n, *ob = output + (size_t)j * oc_n;
            for (ic = 0; ic < c_n; ic++) {
                tg_dw_gather(p, in_a + ic, ya, xa, (int16_t *)cols);
                tg_dw_gather(p, in_bb + ic, yb, xb, (int16_t *)cols + 4);
                tg_barrier();
                tg_dw_cols_dot(p, cols, ic * dm, dm, oa, ob);
            }
        }
        /* advance A by two pixels */
        b = bb;
        oy = by;
        ox = bx + 1;
        if (ox == p->out_w) {
            ox = 0;
            if (++oy == p->out_h) {
                oy = 0;
                b++;
            }
        }
    }
}

/*
 * Register kernel (3x3, depth multiplier 2-3; w_row == -3, blocks of conv.py dw_reg_blocks): no ring,
 * no widened copy. An output pixel's 9 taps are byte offsets from its first input (the window's
 * top-left tap, channel 0); a padded tap's offset points at a row of input_zp bytes instead (the
 * kernel's whole scratch: in_c bytes rounded up to 4). For every group of 4 input channels and pair
 * of filters (m0, m1) of each, one word of each tap holds the 4 channels' int8 inputs, SXTB16 /
 * SXTB16 ROR 8 widen it in registers to (c0, c2), (c1, c3), and each half meets the weight pairs of
 * m0 and m1: 8 SMLABB/SMLATT per tap (14 instructions per 8 MACs), then 8 exact requantizations
 * (TG_RQX_ASM) and two packed, clamped words (depth multiplier 2: the 8 outputs are contiguous; 3:
 * byte stores, the second pair's m1 is a zero filter, not stored). Pixels whose window lies inside
 * the image share one offset table: a run of them is one call. Channels past the last whole group
 * (in_c % 4) and blocks with a left-shift row (rm1 < 0) are (re)computed in C from the same blocks
 * (tg_dwr_c).
 */
/* State of tg_dwr_run (field offsets are used by its assembly). */
typedef struct {
    int32_t off[9];       /* 0: byte offsets of the taps from `in` (padded taps: the zero-point row) */
    const int32_t *blk;   /* 36: the first block */
    int8_t *out;          /* 40: the first pixel's output channel 0 */
    int32_t groups;       /* 44: whole groups of 4 input channels, >= 1 */
    int32_t pairs;        /* 48: filter pairs per group, (dm + 1) / 2 */
    int32_t zp;           /* 52: output zero point */
    uint32_t lo4, hi4;    /* 56, 60: activation bounds in every byte lane */
    int32_t dm;           /* 64 */
    const int8_t *in;     /* 68: the first pixel's window, channel 0 */
    int32_t n;            /* 72: pixels, >= 1 */
    int32_t in_step;      /* 76: bytes from pixel to pixel in the input (stride_w * in_c) */
    int32_t out_step;     /* 80: ... in the output (out_c) */
} tg_dwr_t;

/* one tap: inputs from [r12 (window + goff) + offset], weights from [r11], accumulators r0..r7 */
#define TG_DWR_TAP(off)                     \
    "ldr    lr, [sp, #" off "]\n\t"          \
    "ldr    lr, [r12, lr]\n\t"              \
    "sxtb16 r8, lr\n\t"                     \
    "ldrd   r9, r10, [r11], #8\n\t"         \
    "smlabb r0, r8, r9, r0\n\t"             \
    "smlatt r2, r8, r9, r2\n\t"             \
    "smlabb r4, r8, r10, r4\n\t"            \
    "smlatt r6, r8, r10, r6\n\t"            \
    "sxtb16 r8, lr, ror #8\n\t"             \
    "ldrd   r9, r10, [r11], #8\n\t"         \
    "smlabb r1, r8, r9, r1\n\t"             \
    "smlatt r3, r8, r9, r3\n\t"             \
    "smlabb r5, r8, r10, r5\n\t"            \
    "smlatt r7, r8, r10, r7\n\t"
/* exact requantization of accumulator a with the next row from [r11], output zero point in lr */
#define TG_DWR_RQ(a)                        \
    "ldm    r11!, {r8-r10, r12}\n\t"        \
    TG_RQX_ASM(a, "r8", "r9", "r10", "r12", "lr")

/* A run of output pixels with one offset table: every whole group, every filter pair. Stack: the
 * state (0-83), 84: the group's input (window + goff), 88: pairs left, 92: groups left, 96: the
 * group's first output, 100: the pass's first output. External linkage: the compiler must keep its
 * calling convention (r0 = a). */
void tg_dwr_run(tg_dwr_t *a);
__attribute__((naked, noinline)) void tg_dwr_run(tg_dwr_t *a __attribute__((unused)))
{
    __asm__(
        "push   {r4-r11, lr}\n\t"
        "sub    sp, sp, #104\n\t"
        "ldm    r0!, {r1-r11}\n\t"
        "stm    sp, {r1-r11}\n\t"
        "ldm    r0, {r1-r10}\n\t"
        "add    r11, sp, #44\n\t"
        "stm    r11, {r1-r10}\n\t"
        "2:\n\t" /* pixel */
        "ldrd   r11, r1, [sp, #36]\n\t"
        "ldr    r2, [sp, #44]\n\t"
        "ldr    r12, [sp, #68]\n\t"
        "str    r1, [sp, #96]\n\t"
        "str    r2, [sp, #92]\n\t"
        "3:\n\t" /* group */
        "ldr    r0, [sp, #48]\n\t"
        "ldr    r1, [sp, #96]\n\t"
        "str    r0, [sp, #88]\n\t"
        "str    r1, [sp, #100]\n\t"
        "1:\n\t" /* filter pair */
        "ldm    r11!, {r0-r7}\n\t"
        TG_DWR_TAP("0") TG_DWR_TAP("4") TG_DWR_TAP("8")
        TG_DWR_TAP("12") TG_DWR_TAP("16") TG_DWR_TAP("20")
        TG_DWR_TAP("24") TG_DWR_TAP("28") TG_DWR_TAP("32")
        "str    r12, [sp, #84]\n\t"
        "ldr    lr, [sp, #52]\n\t"
        TG_DWR_RQ("r0") TG_DWR_RQ("r1") TG_DWR_RQ("r2") TG_DWR_RQ("r3")
        TG_DWR_RQ("r4") TG_DWR_RQ("r5") TG_DWR_RQ("r6") TG_DWR_RQ("r7")
        /* word 0: c0m0 c0m1 c1m0 c1m1, word 1: c2m0 c2m1 c3m0 c3m1 */
        "bfi    r0, r4, #8, #8\n\t"
        "bfi    r0, r1, #16, #8\n\t"
        "bfi    r0, r5, #24, #8\n\t"
        "bfi    r2, r6, #8, #8\n\t"
        "bfi    r2, r3, #16, #8\n\t"
        "bfi    r2, r7, #24, #8\n\t"
        "ldrd   r8, r9, [sp, #56]\n\t"
        "ssub8  r10, r0, r8\n\t"
        "sel    r0, r0, r8\n\t"
        "ssub8  r10, r0, r9\n\t"
        "sel    r0, r9, r0\n\t"
        "ssub8  r10, r2, r8\n\t"
        "sel    r2, r2, r8\n\t"
        "ssub8  r10, r2, r9\n\t"
        "sel    r2, r9, r2\n\t"
        "ldr    r10, [sp, #100]\n\t"
        "ldr    r9, [sp, #64]\n\t"
        "cmp    r9, #2\n\t"
        "bne    5f\n\t"
        "str    r0, [r10]\n\t"
        "str    r2, [r10, #4]\n\t"
        "6:\n\t"
        "add    r10, r10, #2\n\t"
        "str    r10, [sp, #100]\n\t"
        "ldr    r12, [sp, #84]\n\t"
        "ldr    r9, [sp, #88]\n\t"
        "subs   r9, r9, #1\n\t"
        "str    r9, [sp, #88]\n\t"
        "bne    1b\n\t"
        /* next group */
        "ldr    r9, [sp, #96]\n\t"
        "ldr    r8, [sp, #64]\n\t"
        "add    r9, r9, r8, lsl #2\n\t"
        "str    r9, [sp, #96]\n\t"
        "add    r12, r12, #4\n\t"
        "ldr    r9, [sp, #92]\n\t"
        "subs   r9, r9, #1\n\t"
        "str    r9, [sp, #92]\n\t"
        "bne    3b\n\t"
        /* next pixel */
        "ldrd   r0, r1, [sp, #68]\n\t"
        "ldrd   r2, r3, [sp, #76]\n\t"
        "ldr    r4, [sp, #40]\n\t"
        "add    r0, r0, r2\n\t"
        "add    r4, r4, r3\n\t"
        "str    r4, [sp, #40]\n\t"
        "subs   r1, r1, #1\n\t"
        "strd   r0, r1, [sp, #68]\n\t"
        "bne    2b\n\t"
        "add    sp, sp, #104\n\t"
        "pop    {r4-r11, pc}\n\t"
        "5:\n\t" /* depth multiplier != 2: byte stores, channel j's outputs at +j * dm (r9 = dm) */
        "ldr    r3, [sp, #88]\n\t"
        "and    r4, r9, #1\n\t"
        "cmp    r3, #1\n\t"
        "it     eq\n\t"
        "cmpeq  r4, #1\n\t" /* eq: the last pair of an odd dm (its m1 is no filter) */
        "add    r5, r10, r9, lsl #1\n\t"
        "strb   r0, [r10]\n\t"
        "lsr    r1, r0, #16\n\t"
        "strb   r1, [r10, r9]\n\t"
        "strb   r2, [r5]\n\t"
        "lsr    r3, r2, #16\n\t"
        "strb   r3, [r5, r9]\n\t"
        "beq    6b\n\t"
        "add    r6, r10, r9\n\t"
        "add    r7, r5, r9\n\t"
        "lsr    r4, r0, #8\n\t"
        "strb   r4, [r10, #1]\n\t"
        "lsr    r4, r0, #24\n\t"
        "strb   r4, [r6, #1]\n\t"
        "lsr    r4, r2, #8\n\t"
        "strb   r4, [r5, #1]\n\t"
        "lsr    r4, r2, #24\n\t"
        "strb   r4, [r7, #1]\n\t"
        "b      6b\n\t");
}

/* Blocks of groups g0.. of one pixel in C (window `in`, tap offsets off): the partial group (lanes
 * j < in_c - 4g) and blocks with a left-shift row (rm1 < 0), every row; out: the pixel's output
 * channel 0. Rarely run: compiled for size (cold). */
__attribute__((noinline, cold)) static void tg_dwr_c(const tg_conv_params_t *p, const int8_t *in, const int32_t *off,
                                                     int32_t g0, int8_t *out)
{
    const int32_t dm = p->depth_multiplier, pairs = (dm + 1) >> 1;
    const int32_t *blk = (const int32_t *)p->weights + (size_t)g0 * pairs * TG_DWR_BLOCK(9);
    int32_t k, i, t;
    for (k = g0 * pairs; k < ((p->in_c + 3) >> 2) * pairs; k++, blk += TG_DWR_BLOCK(9)) {
        const int32_t g = k / pairs, q = k - g * pairs;
        int fix = 4 * g + 4 > p->in_c;
        for (i = 0; i < 8; i++) {
            fix |= blk[47 + 4 * i] < 0;
        }
        for (i = 0; i < 8 && fix; i++) {
            const int32_t j = i & 3, m = 2 * q + (i >> 2), c = 4 * g + j;
            int32_t acc = blk[i];
            if (c >= p->in_c || m >= dm) {
                continue;
            }
            for (t = 0; t < 9; t++) {
                const uint32_t v = (uint32_t)blk[8 + 4 * t + 2 * (j & 1) + (i >> 2)];
                acc = tg_wrap_add(acc, (int32_t)in[off[t] + c] * (int16_t)((j & 2) ? v >> 16 : v & 0xFFFFu));
            }
            tg_dw_put(p, out + (size_t)c * dm + m, acc, blk + 44 + 4 * i);
        }
    }
}

typedef void (*tg_dwr_fix_t)(const tg_conv_params_t *, const int8_t *, const int32_t *, int32_t, int8_t *);

/* scratch: in_c bytes (rounded up to 4) of input_zp, the padded taps' inputs. fix: tg_dwr_c, or NULL
 * where every group is whole and every row a right shift (tg_dwconv_dmr_s8: the C code is not linked). */
__attribute__((noinline)) static void tg_dwconv_regs(const tg_conv_params_t *p, const int8_t *input, int8_t *output,
                                                     void *scratch, tg_dwr_fix_t fix)
{
    const int32_t c_n = p->in_c, oc_n = p->out_c, irow = p->in_w * c_n;
    const int32_t whole = c_n >> 2, blocks = ((c_n + 3) >> 2) * ((p->depth_multiplier + 1) >> 1);
    const int32_t *w = (const int32_t *)p->weights;
    int8_t *zrow = (int8_t *)scratch;
    int32_t inner[9]; /* the taps' offsets from the window */
    tg_dwr_t a;
    int32_t b, oy, ox, k, fix_from = whole;
    for (k = 0; k < 4 * ((c_n + 3) >> 2); k++) {
        zrow[k] = (int8_t)p->input_zp;
        TG_NO_LIBCALL();
    }
    for (k = 0; fix && k < 8 * blocks; k++) { /* a row with a left shift (rm1 < 0): C redoes its block */
        fix_from = w[(k >> 3) * TG_DWR_BLOCK(9) + 47 + 4 * (k & 7)] < 0 ? 0 : fix_from;
    }
    for (k = 0; k < 9; k++) {
        inner[k] = (k / 3) * p->dil_h * irow + (k % 3) * p->dil_w * c_n;
    }
    a.blk = w;
    a.groups = whole;
    a.pairs = (p->depth_multiplier + 1) >> 1;
    a.zp = p->output_zp;
    a.lo4 = tg_splat4(p->act_min);
    a.hi4 = tg_splat4(p->act_max);
    a.dm = p->depth_multiplier;
    a.in_step = p->stride_w * c_n;
    a.out_step = oc_n;
    for (b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + (size_t)b * p->in_h * irow;
        int8_t *out = output + (size_t)b * p->out_h * p->out_w * oc_n;
        for (oy = 0; oy < p->out_h; oy++) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            /* taps inside the image as a mask (bit 3 * ky + kx): the rows' here, the columns' per window */
            uint32_t rmask = 0;
            for (k = 0; k < 3; k++) {
                rmask |= (uint32_t)y0 + (uint32_t)(k * p->dil_h) < (uint32_t)p->in_h ? 7u << (3 * k) : 0;
            }
            for (ox = 0; ox < p->out_w; ox += a.n, out += (size_t)a.n * oc_n) {
                const int32_t x0 = ox * p->stride_w - p->pad_left;
                const int8_t *win = in_b + (ptrdiff_t)y0 * irow + (ptrdiff_t)x0 * c_n;
                const int32_t zoff = (int32_t)(zrow - win);
                uint32_t mask = 0;
                for (k = 0; k < 3; k++) {
                    mask |= (uint32_t)x0 + (uint32_t)(k * p->dil_w) < (uint32_t)p->in_w ? 0x49u << k : 0;
                }
                mask &= rmask;
                for (k = 0; k < 9; k++) {
                    a.off[k] = (mask >> k) & 1 ? inner[k] : zoff;
                }
                a.n = 1;
                if (mask == 0x1FF) { /* a run of windows inside the image: one offset table */
                    const int32_t n = (p->in_w - 1 - 2 * p->dil_w - x0) / p->stride_w + 1;
                    a.n = n < p->out_w - ox ? n : p->out_w - ox;
                }
                if (whole > 0) {
                    a.in = win;
                    a.out = out;
                    tg_barrier();
                    tg_dwr_run(&a);
                    tg_barrier();
                }
                for (k = 0; fix && fix_from * 4 < c_n && k < a.n; k++) {
                    fix(p, win + (ptrdiff_t)k * a.in_step, a.off, fix_from, out + (size_t)k * oc_n);
                }
            }
        }
    }
}

/*
 * Tiny-image kernel (tg_dwconv_p3t_s8; w_row == -7: conv.py dw_tiny_blocks, the stride-2 pair layout's words
 * with the raw bias): 3x3 SAME at stride 1 on images 4 or 2 pixels wide (the late layers of small MobileNets,
 * 4x4 and 2x2), every group SMMLAR, act range [-128, 127]. Per group of 4 channels the whole image is widened
 * once into the scratch, with the input zero point subtracted (SXTAB16): a channel's row is (x0, x1), (x2, x3)
 * (or (x0, x1) alone), its padded taps are zeros, which the kernel skips along the row and reads as the zero
 * rows above and below the image (rows 0 and h + 1 of each channel, written once). The accumulator then is
 * TFLM's own (raw bias, no folded zero-point term), doubled for the SMMLAR requantization. A row of 4 outputs
 * per filter row: SMLAD (x0, x1).(w1, w2), SMLAD (x0, x1).(w0, w1) + SMLABT x2.w2, SMLAD (x2, x3).(w1, w2) +
 * SMLATB x1.w0, SMLAD (x2, x3).(w0, w1): 6 multiplies for 12 taps (2 pixels: 2 SMLAD).
 */
/* State of tg_dwtiny_run (field offsets are used by its assembly): one group of 4 channels. */
typedef struct {
    uint32_t *rows;   /* 0: the scratch: row 0 (zeros), rows 1 .. h (widened here), row h + 1 (zeros) */
    const int32_t *q; /* 4: channel 0's words: doubled raw bias, (w0, w1), (w1, w2) of filter rows 1, 0, 2, the
                       * SMMLAR row {m, C, r}, lo4 (11 words a channel) */
    int8_t *out;      /* 8: channel 0's output at pixel 0 */
    int32_t h;        /* 12: rows (>= 1) */
    int32_t c;        /* 16: bytes from pixel to pixel (in_c) */
    const int8_t *in; /* 20: the group's input (channel 0 at pixel 0) */
    int32_t step;     /* 24: bytes of a channel's widened row: 8 (4 pixels) or 4 (2 pixels) */
    uint32_t nzp;     /* 28: -input_zp in both halves */
} tg_dwtiny_t;

/* a filter row's taps on a row of 4 added to b0..b3 (lr, the bias, for the first): r4 = (x0, x1), r5 = (x2, x3),
 * r6 = (w0, w1), r7 = (w1, w2) */
#define TG_DWTINY_MAC6(b0, b1, b2, b3)       \
    "smlad  r0, r4, r7, " b0 "\n\t"          \
    "smlad  r1, r4, r6, " b1 "\n\t"          \
    "smlabt r1, r5, r7, r1\n\t"              \
    "smlad  r2, r5, r7, " b2 "\n\t"          \
    "smlatb r2, r4, r6, r2\n\t"              \
    "smlad  r3, r5, r6, " b3 "\n\t"
/* filter row k (its words at r9 + woff) on the row of 4 at r8 + xoff, added to b0..b3 */
#define TG_DWTINY_FROW4(xoff, woff, b0, b1, b2, b3) \
    "ldrd   r4, r5, [r8, #" xoff "]\n\t"   \
    "ldrd   r6, r7, [r9, #" woff "]\n\t"   \
    TG_DWTINY_MAC6(b0, b1, b2, b3)
/* the SMMLAR requantization of a doubled accumulator: row {m, C, r} in r4, r5, r6 (conv.py dw_pair_apply) */
#define TG_DWTINY_RQ(a)                      \
    "smmlar r7, " a ", r4, r5\n\t"           \
    "add    r7, r7, " a ", asr #31\n\t"      \
    "asr    r7, r7, r6\n\t"                  \
    "ssat   " a ", #8, r7\n\t"
/* A row of 4 outputs after its filter rows: the requantization, 4 byte stores, the next row (label L) */
#define TG_DWTINY_TAIL4(L)                   \
    "add    r8, r8, #32\n\t"                 \
    "ldrd   r4, r5, [r9, #28]\n\t"           \
    "ldr    r6, [r9, #36]\n\t"               \
    TG_DWTINY_RQ("r0") TG_DWTINY_RQ("r1") TG_DWTINY_RQ("r2") TG_DWTINY_RQ("r3") \
    "strb   r0, [r10]\n\t"                   \
    "strb   r1, [r10, r11]\n\t"              \
    "add    r10, r10, r11, lsl #1\n\t"       \
    "strb   r2, [r10]\n\t"                   \
    "strb   r3, [r10, r11]\n\t"              \
    "add    r10, r10, r11, lsl #1\n\t"       \
    "subs   r12, r12, #1\n\t"                \
    "bne    " L "\n\t"
/* filter row k (words at r9 + woff) on the row of 2 at r8 + xoff into r0, r1, added to b */
#define TG_DWTINY_MAC2(xoff, woff, b0, b1)   \
    "ldr    r4, [r8, #" xoff "]\n\t"         \
    "ldrd   r6, r7, [r9, #" woff "]\n\t"     \
    "smlad  r0, r4, r7, " b0 "\n\t"          \
    "smlad  r1, r4, r6, " b1 "\n\t"
/* the next channel (its rows `step` bytes on), back to label L while channels are left */
#define TG_DWTINY_NEXT(step, L)              \
    "ldrd   r8, r10, [sp, #8]\n\t"           \
    "add    r8, r8, #" step "\n\t"           \
    "add    r10, r10, #1\n\t"                \
    "add    r9, r9, #44\n\t"                 \
    "ldr    r0, [sp, #16]\n\t"               \
    "subs   r0, r0, #1\n\t"                  \
    "str    r0, [sp, #16]\n\t"               \
    "bne    " L "\n\t"
/* One group of 4 channels. The image is widened first, row by row (4 pixels: 21 instructions, 2: 12), into rows of
 * the 4 channels' pairs (channel j's j * step bytes into the row, rows 4 step bytes apart), with the input zero
 * point subtracted (SXTAB16); then each channel row by row, the middle filter row first (its MACs start from the
 * bias), the top output row without the zero row above the image: a row of 4 outputs takes 51 instructions (3 x
 * (2 LDRD, 6 MACs), 16 requantization, 6 stores; the top one 8 fewer), a row of 2 outputs 28 (the top one 4
 * fewer). Frame: 0 h, 4 step, 8 the channel's rows, 12 its output, 16 channels left, 20 the first channel's words.
 * External linkage (r0 = a). */
void tg_dwtiny_run(tg_dwtiny_t *a);
__attribute__((naked, noinline)) void tg_dwtiny_run(tg_dwtiny_t *a __attribute__((unused)))
{
    __asm__("push   {r4-r11, lr}\n\t"
            "sub    sp, sp, #24\n\t"
            "ldm    r0, {r4-r11}\n\t" /* rows, q, out, h, c, in, step, nzp */
            "strd   r7, r10, [sp]\n\t"
            "str    r5, [sp, #20]\n\t"
            "strd   r4, r6, [sp, #8]\n\t"
            "mov    r2, r8\n\t" /* c */
            "mov    r1, r9\n\t" /* the input */
            "mov    r12, r7\n\t"
            "mov    lr, r11\n\t"
            "add    r8, r4, r10, lsl #2\n\t" /* row 1 */
            "cmp    r10, #4\n\t"
            "beq    6f\n\t"
            "add    r3, r2, r2, lsl #1\n\t"
            "5:\n\t" /* widen a row of 4 pixels */
            "ldr    r4, [r1]\n\t"
            "ldr    r5, [r1, r2]\n\t"
            "ldr    r6, [r1, r2, lsl #1]\n\t"
            "ldr    r7, [r1, r3]\n\t"
            "add    r1, r1, r2, lsl #2\n\t"
            "pkhbt  r9, r4, r5, lsl #16\n\t"
            "pkhtb  r10, r5, r4, asr #16\n\t"
            "pkhbt  r4, r6, r7, lsl #16\n\t"
            "pkhtb  r5, r7, r6, asr #16\n\t"
            "sxtab16 r6, lr, r9\n\t"
            "sxtab16 r7, lr, r4\n\t"
            "sxtab16 r9, lr, r9, ror #8\n\t"
            "sxtab16 r11, lr, r4, ror #8\n\t"
            "stm    r8!, {r6, r7, r9, r11}\n\t"
            "sxtab16 r6, lr, r10\n\t"
            "sxtab16 r7, lr, r5\n\t"
            "sxtab16 r9, lr, r10, ror #8\n\t"
            "sxtab16 r11, lr, r5, ror #8\n\t"
            "stm    r8!, {r6, r7, r9, r11}\n\t"
            "subs   r12, r12, #1\n\t"
            "bne    5b\n\t"
            "b      7f\n\t"
            "6:\n\t" /* widen a row of 2 pixels */
            "ldr    r4, [r1]\n\t"
            "ldr    r5, [r1, r2]\n\t"
            "add    r1, r1, r2, lsl #1\n\t"
            "pkhbt  r9, r4, r5, lsl #16\n\t"
            "pkhtb  r10, r5, r4, asr #16\n\t"
            "sxtab16 r6, lr, r9\n\t"
            "sxtab16 r7, lr, r9, ror #8\n\t"
            "sxtab16 r9, lr, r10\n\t"
            "sxtab16 r11, lr, r10, ror #8\n\t"
            "stm    r8!, {r6, r7, r9, r11}\n\t"
            "subs   r12, r12, #1\n\t"
            "bne    6b\n\t"
            "7:\n\t"
            "mov    r11, r2\n\t"
            "ldr    r9, [sp, #20]\n\t"
            "movs   r0, #4\n\t"
            "str    r0, [sp, #16]\n\t"
            "ldrd   r8, r10, [sp, #8]\n\t"
            "ldr    r0, [sp, #4]\n\t"
            "cmp    r0, #4\n\t"
            "beq    30f\n\t"
            "10:\n\t" /* a channel of rows of 4: rows r8, words r9, output r10; the top row (filter rows 1, 2) */
            "strd   r8, r10, [sp, #8]\n\t"
            "ldr    r12, [sp]\n\t"
            "ldr    lr, [r9]\n\t"
            TG_DWTINY_FROW4("32", "4", "lr", "lr", "lr", "lr")
            TG_DWTINY_FROW4("64", "20", "r0", "r1", "r2", "r3")
            "b      12f\n\t"
            "11:\n\t" /* the next rows: filter rows 1, 0, 2 */
            TG_DWTINY_FROW4("32", "4", "lr", "lr", "lr", "lr")
            TG_DWTINY_FROW4("0", "12", "r0", "r1", "r2", "r3")
            TG_DWTINY_FROW4("64", "20", "r0", "r1", "r2", "r3")
            "12:\n\t"
            TG_DWTINY_TAIL4("11b")
            TG_DWTINY_NEXT("8", "10b")
            "b      40f\n\t"
            "30:\n\t" /* a channel of rows of 2: the top row */
            "strd   r8, r10, [sp, #8]\n\t"
            "ldr    r12, [sp]\n\t"
            "ldr    lr, [r9]\n\t"
            TG_DWTINY_MAC2("16", "4", "lr", "lr")
            TG_DWTINY_MAC2("32", "20", "r0", "r1")
            "b      32f\n\t"
            "31:\n\t"
            TG_DWTINY_MAC2("16", "4", "lr", "lr")
            TG_DWTINY_MAC2("0", "12", "r0", "r1")
            TG_DWTINY_MAC2("32", "20", "r0", "r1")
            "32:\n\t"
            "add    r8, r8, #16\n\t"
            "ldrd   r4, r5, [r9, #28]\n\t"
            "ldr    r6, [r9, #36]\n\t"
            TG_DWTINY_RQ("r0") TG_DWTINY_RQ("r1")
            "strb   r0, [r10]\n\t"
            "strb   r1, [r10, r11]\n\t"
            "add    r10, r10, r11, lsl #1\n\t"
            "subs   r12, r12, #1\n\t"
            "bne    31b\n\t"
            TG_DWTINY_NEXT("4", "30b")
            "40:\n\t"
            "add    sp, sp, #24\n\t"
            "pop    {r4-r11, pc}\n\t");
}

/* scratch: (in_h + 2) rows x 4 channels x in_w / 2 words (conv.py dw_scratch_bytes) */
static void tg_dwconv_tiny(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch)
{
    const size_t c = (size_t)p->in_c, img = (size_t)p->in_h * p->in_w * c;
    tg_dwtiny_t a;
    int32_t b, g;
    a.rows = (uint32_t *)scratch;
    a.h = p->in_h;
    a.c = (int32_t)c;
    a.step = 2 * p->in_w;
    a.nzp = ((uint32_t)(-p->input_zp) & 0xFFFFu) * 0x10001u;
    memset(scratch, 0, (size_t)(a.h + 2) * 4 * a.step); /* rows 0 and h + 1 stay zero */
    for (b = 0; b < p->batches; b++) {
        for (g = 0; 4 * g < p->out_c; g++) {
            a.in = input + (size_t)b * img + 4 * g;
            a.q = (const int32_t *)p->weights + (size_t)g * TG_DWS2_BLOCK + 1;
            a.out = output + (size_t)b * img + 4 * g;
            tg_barrier();
            tg_dwtiny_run(&a);
            tg_barrier();
        }
    }
}

#endif /* TG_DSP */

/* ================================================================== entry points */

/* One entry point per kernel, so that a firmware links only the kernels its ops use (--gc-sections). With the
 * DSP extension the DSP kernels run every depthwise op (the generator sets `dsp` for all of them),
 * so the C99 code is compiled only without it. */

#if TG_DSP
#define TG_DW_ENTRY(NAME, DSP_KERNEL)                                                                  \
    void NAME(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch)          \
    {                                                                                                 \
        DSP_KERNEL(p, input, output, scratch);                                                        \
    }
#else
#define TG_DW_ENTRY(NAME, DSP_KERNEL)                                                                  \
    void NAME(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch)          \
    {                                                                                                 \
        (void)scratch;                                                                                \
        tg_dwconv_c(p, input, output, 0, p->out_c);                                                   \
    }
#endif

TG_DW_ENTRY(tg_dwconv_s8, tg_dwconv_dsp)        /* ring kernel (SMLABB), any filter */
TG_DW_ENTRY(tg_dwconv_p3_s8, tg_dwconv_pairs)   /* ring kernel, 3x3 pair layout (w_row == -1) */
TG_DW_ENTRY(tg_dwconv_p3q_s8, tg_dwconv_pairs_q) /* the same on rows of 2-6 pixels with a left edge */
TG_DW_ENTRY(tg_dwconv_p3f1_s8, tg_dwconv_pairs_f1) /* ... every group SMMLAR, no clamp: the fast pass, stride 1 */
TG_DW_ENTRY(tg_dwconv_p3f2_s8, tg_dwconv_pairs_f2) /* ... stride 2 along the row */
TG_DW_ENTRY(tg_dwconv_p3s2_s8, tg_dwconv_s2)   /* stride 2 along the row (w_row == -4 / -5): 1 channel x 4 pixels */
TG_DW_ENTRY(tg_dwconv_p3s2p_s8, tg_dwconv_s2p) /* ... rows of 4 nb + 3 pixels (an overlapping last block) */
TG_DW_ENTRY(tg_dwconv_p3s2x_s8, tg_dwconv_s2x) /* ... either, groups with SMLAL rows (tg_dws2_rq_other) */
/* the same as tg_dwconv_p3_s8 with SMLAL or flagged SMMLAR groups, either stride (tg_dw_rq_other linked) */
TG_DW_ENTRY(tg_dwconv_p3x_s8, tg_dwconv_pairs_x)
TG_DW_ENTRY(tg_dwconv_p3l_s8, tg_dwconv_pairs_l) /* ... and left-shift channels redone in C */
TG_DW_ENTRY(tg_dwconv_p3t_s8, tg_dwconv_tiny)    /* 3x3 SAME on images 4 or 2 pixels wide (w_row == -7) */
TG_DW_ENTRY(tg_dwconv_pk_s8, tg_dwconv_kpairs)  /* ring kernel, k x k pair layout (w_row == -6), k_w 5 / 7 */
TG_DW_ENTRY(tg_dwconv_dm_s8, tg_dwconv_cols)    /* depth multiplier >= 2: column kernel */

/* 3x3, depth multiplier 2-3: register kernel (w_row == -3); the second with its C code for a partial group of
 * input channels and left-shift rows */
#if TG_DSP
void tg_dwconv_dmr_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch)
{
    tg_dwconv_regs(p, input, output, scratch, 0);
}

void tg_dwconv_dmrl_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch)
{
    tg_dwconv_regs(p, input, output, scratch, tg_dwr_c);
}
#else
TG_DW_ENTRY(tg_dwconv_dmr_s8, tg_dwconv_regs)
TG_DW_ENTRY(tg_dwconv_dmrl_s8, tg_dwconv_regs)
#endif
