/*
 * Helium (MVE) kernels for Cortex-M55/M85 (TG_MVE, see tg_mve.h): CONV_2D, FULLY_CONNECTED, ADD,
 * DEPTHWISE_CONV_2D and their requantization, bit-exact with the C99 / DSP kernels (and TFLM).
 *
 * - CONV_2D (tg_conv2d_mve; groups 1): 4 output pixels at a time. Their windows are gathered as int8
 *   columns into the op's scratch (4 x w_row bytes: the DSP kernel's scratch holds them), or read in
 *   place for 1x1 filters without padding (any stride: a pixel's taps are its in_c bytes); then each
 *   filter row meets the 4 columns, 16 taps per VLDRB, one VMLADAVA per column (a 16-lane int8 dot
 *   product into a 32-bit accumulator; the tail of a row with a predicated load): 9 instructions per
 *   64 multiply-accumulates. The 4 accumulators become one vector: + bias, requantized with the
 *   channel's (mult, shift) on 4 lanes, clamped, stored with one scatter (VSTRB, stride out_c).
 * - FULLY_CONNECTED (tg_fc_mve; the [units][w_row] layout of tg_fc_dot_s8): 4 units at a time against
 *   the input row, the same dot products; requantized per unit.
 * - ADD (tg_add_mve; no broadcast): TFLM's int8 ADD on 4 lanes, element by element the arithmetic of
 *   tg_add_one (the rescalings with tg_mve_rq), the tail predicated.
 * - DEPTHWISE_CONV_2D (tg_dwconv_mve_s8): 4 output channels on the lanes, pixel by pixel: per tap one
 *   gather of the 4 channels' inputs (any depth multiplier), one load of their 4 weights, VMUL + VADD
 *   (MVE has no vector-by-vector multiply-accumulate); padded taps add input_zp * w (VMLA by a scalar).
 */
#include "tg_kernels.h"
#include "tg_mve.h"
#include "tg_requant.h"

#if TG_MVE
#include <arm_mve.h>

/* TFLM MultiplyByQuantizedMultiplier(x, mult, shift) on 4 lanes (see tg_mve.h). */
TG_INLINE int32x4_t tg_mve_rq(int32x4_t x, int32_t mult, int32_t shift)
{
    if (shift > 0) {
        x = vshlq_r_s32(x, shift); /* wraps, as tg_wrap_shl */
    }
    x = vqrdmulhq_n_s32(x, mult);
    if (shift < 0) {
        x = vqaddq_s32(x, vshrq_n_s32(x, 31));
        x = vrshlq_n_s32(x, shift);
    }
    return x;
}

/* + zero point, clamped to [lo, hi] */
TG_INLINE int32x4_t tg_mve_out(int32x4_t x, int32_t zp, int32x4_t lo, int32x4_t hi)
{
    return vminq_s32(vmaxq_s32(vaddq_n_s32(x, zp), lo), hi);
}

/* The 4 dot products sum over i < k of pj[i] * q[i] (j = 0..3) as one vector. 16 products per
 * VMLADAVA, the pointers post-incremented (10 instructions per 64 multiply-accumulates in the
 * low-overhead loop); the last k % 16 taps with predicated loads (no byte past pj + k or q + k is read). */
TG_INLINE int32x4_t tg_mve_dot4(const int8_t *p0, const int8_t *p1, const int8_t *p2, const int8_t *p3, const int8_t *q,
                                int32_t k)
{
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    const int32_t n = k >> 4, rem = k & 15;
    int8x16_t vq, vx;
    int32x4_t v;
    if (n > 0) {
        __asm__ volatile("dls    lr, %[n]\n\t"
                         "1:\n\t"
                         "vldrb.8 %q[vq], [%[q]], #16\n\t"
                         "vldrb.8 %q[vx], [%[p0]], #16\n\t"
                         "vmladava.s8 %[a0], %q[vx], %q[vq]\n\t"
                         "vldrb.8 %q[vx], [%[p1]], #16\n\t"
                         "vmladava.s8 %[a1], %q[vx], %q[vq]\n\t"
                         "vldrb.8 %q[vx], [%[p2]], #16\n\t"
                         "vmladava.s8 %[a2], %q[vx], %q[vq]\n\t"
                         "vldrb.8 %q[vx], [%[p3]], #16\n\t"
                         "vmladava.s8 %[a3], %q[vx], %q[vq]\n\t"
                         "le     lr, 1b\n\t"
                         : [a0] "+Te"(a0), [a1] "+Te"(a1), [a2] "+Te"(a2), [a3] "+Te"(a3), [p0] "+r"(p0), [p1] "+r"(p1),
                           [p2] "+r"(p2), [p3] "+r"(p3), [q] "+r"(q), [vq] "=&w"(vq), [vx] "=&w"(vx)
                         : [n] "r"(n)
                         : "lr", "memory");
    }
    if (rem > 0) {
        __asm__ volatile("vctp.8 %[r]\n\t"
                         "vpstt\n\t"
                         "vldrbt.8 %q[vq], [%[q]]\n\t"
                         "vldrbt.8 %q[vx], [%[p0]]\n\t"
                         "vpstt\n\t"
                         "vmladavat.s8 %[a0], %q[vx], %q[vq]\n\t"
                         "vldrbt.8 %q[vx], [%[p1]]\n\t"
                         "vpstt\n\t"
                         "vmladavat.s8 %[a1], %q[vx], %q[vq]\n\t"
                         "vldrbt.8 %q[vx], [%[p2]]\n\t"
                         "vpstt\n\t"
                         "vmladavat.s8 %[a2], %q[vx], %q[vq]\n\t"
                         "vldrbt.8 %q[vx], [%[p3]]\n\t"
                         "vpst\n\t"
                         "vmladavat.s8 %[a3], %q[vx], %q[vq]\n\t"
                         : [a0] "+Te"(a0), [a1] "+Te"(a1), [a2] "+Te"(a2), [a3] "+Te"(a3), [vq] "=&w"(vq), [vx] "=&w"(vx)
                         : [r] "r"(rem), [p0] "r"(p0), [p1] "r"(p1), [p2] "r"(p2), [p3] "r"(p3), [q] "r"(q)
                         : "memory");
    }
    v = vdupq_n_s32(a0);
    v = vsetq_lane_s32(a1, v, 1);
    v = vsetq_lane_s32(a2, v, 2);
    return vsetq_lane_s32(a3, v, 3);
}

TG_INLINE void tg_mve_copy(int8_t *dst, const int8_t *src, int32_t n)
{
    for (; n >= 16; n -= 16, dst += 16, src += 16) {
        vst1q_s8(dst, vld1q_s8(src));
    }
    if (n > 0) {
        const mve_pred16_t pr = vctp8q((uint32_t)n);
        vstrbq_p_s8(dst, vldrbq_z_s8(src, pr), pr);
    }
}

TG_INLINE void tg_mve_fill(int8_t *dst, int8x16_t v, int32_t n)
{
    for (; n >= 16; n -= 16, dst += 16) {
        vst1q_s8(dst, v);
    }
    if (n > 0) {
        vstrbq_p_s8(dst, v, vctp8q((uint32_t)n));
    }
}

/* The window of the output pixel whose top-left input tap is (y0, x0) as one column of
 * k_h * k_w * in_c int8 taps (padded taps = input_zp). */
static void tg_mve_im2col(const tg_conv_params_t *p, const int8_t *in_b, int32_t y0, int32_t x0, int8_t *col)
{
    const int32_t cin = p->in_c, in_w = p->in_w, in_h = p->in_h;
    const int32_t run = p->k_w * cin;
    const int8x16_t zp = vdupq_n_s8((int8_t)p->input_zp);
    const int whole = p->dil_w == 1 && x0 >= 0 && x0 + p->k_w <= in_w;
    int32_t ky, kx;
    for (ky = 0; ky < p->k_h; ky++, col += run) {
        const int32_t iy = y0 + ky * p->dil_h;
        const int8_t *row = in_b + (size_t)iy * in_w * cin;
        if (iy < 0 || iy >= in_h) {
            tg_mve_fill(col, zp, run);
        } else if (whole) {
            tg_mve_copy(col, row + (size_t)x0 * cin, run);
        } else {
            for (kx = 0; kx < p->k_w; kx++) {
                const int32_t ix = x0 + kx * p->dil_w;
                if (ix >= 0 && ix < in_w) {
                    tg_mve_copy(col + kx * cin, row + (size_t)ix * cin, cin);
                } else {
                    tg_mve_fill(col + kx * cin, zp, cin);
                }
            }
        }
    }
}

int tg_conv2d_mve(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch)
{
    const int32_t cin = p->in_c, oc_n = p->out_c, w_row = p->w_row;
    const int32_t k = p->k_h * p->k_w * cin;
    const int32_t n = p->batches * p->out_h * p->out_w;
    const size_t in_size = (size_t)p->in_h * p->in_w * cin;
    const int direct = p->k_h == 1 && p->k_w == 1 && p->pad_top == 0 && p->pad_left == 0;
    const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
    const int32_t zp = p->output_zp;
    int8_t *cols = (int8_t *)scratch;
    int32_t i, j, oc, b = 0, oy = 0, ox = 0;
    if (p->groups != 1 || (!direct && scratch == NULL)) {
        return 0;
    }
    for (i = 0; i < n; i += 4) {
        const int8_t *c[4];
        uint32_t offs[4];
        uint32x4_t voffs;
        const int8_t *w = (const int8_t *)p->weights;
        int8_t *o = output + (size_t)i * oc_n;
        for (j = 0; j < 4; j++) {
            if (i + j >= n) { /* past the last pixel: the last one again (same value, same place) */
                c[j] = c[j - 1];
                offs[j] = offs[j - 1];
                continue;
            }
            offs[j] = (uint32_t)(j * oc_n);
            {
                const int8_t *in_b = input + (size_t)b * in_size;
                const int32_t y0 = oy * p->stride_h - p->pad_top, x0 = ox * p->stride_w - p->pad_left;
                if (direct) {
                    c[j] = in_b + ((size_t)y0 * p->in_w + x0) * cin;
                } else {
                    tg_mve_im2col(p, in_b, y0, x0, cols + j * w_row);
                    c[j] = cols + j * w_row;
                }
            }
            if (++ox == p->out_w) {
                ox = 0;
                if (++oy == p->out_h) {
                    oy = 0;
                    b++;
                }
            }
        }
        voffs = vld1q_u32(offs);
        for (oc = 0; oc < oc_n; oc++, w += w_row) {
            int32x4_t v = tg_mve_dot4(c[0], c[1], c[2], c[3], w, k);
            v = tg_mve_rq(vaddq_n_s32(v, p->bias[oc]), TG_RQ_MULT_OF(p, oc), TG_RQ_SHIFT_OF(p, oc));
            vstrbq_scatter_offset_s32(o + oc, voffs, tg_mve_out(v, zp, lo, hi));
        }
    }
    return 1;
}

void tg_fc_mve(const tg_fc_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t units = p->units, depth = p->depth, w_row = p->w_row;
    const int8_t *wt = (const int8_t *)p->weights;
    int32_t b, u, j;
    for (b = 0; b < p->batches; b++, input += depth, output += units) {
        for (u = 0; u < units; u += 4) {
            int32_t acc[4];
            const int32_t u1 = u + 1 < units ? u + 1 : u, u2 = u + 2 < units ? u + 2 : u1,
                          u3 = u + 3 < units ? u + 3 : u2;
            vst1q_s32(acc, tg_mve_dot4(wt + (size_t)u * w_row, wt + (size_t)u1 * w_row, wt + (size_t)u2 * w_row,
                                       wt + (size_t)u3 * w_row, input, depth));
            for (j = 0; j < 4 && u + j < units; j++) {
                const int32_t r = p->per_channel ? u + j : 0;
                output[u + j] = tg_requant_s8(tg_wrap_add(acc[j], p->bias[u + j]), TG_RQ_MULT_OF(p, r),
                                              TG_RQ_SHIFT_OF(p, r), p->output_zp, p->act_min, p->act_max);
            }
        }
    }
}

/* tg_mve_rq for shift <= 0 without a branch: rneg = shift, fix = 1 if shift < 0 else 0 (the VRSHL rounding's
 * fix-up, see tg_mve.h, only applies to a real right shift). */
TG_INLINE int32x4_t tg_mve_rq_right(int32x4_t x, int32_t mult, int32_t rneg, int32_t fix)
{
    x = vqrdmulhq_n_s32(x, mult);
    x = vqaddq_s32(x, vmulq_n_s32(vshrq_n_s32(x, 31), fix));
    return vrshlq_n_s32(x, rneg);
}

TG_INLINE void tg_add_mve_loop(const tg_add_params_t *p, const int8_t *a, const int8_t *b, int8_t *output, int sub)
{
    const int32_t ls = p->left_shift, off1 = p->input1_offset, off2 = p->input2_offset;
    const int32_t m1 = p->input1_multiplier, s1 = p->input1_shift, m2 = p->input2_multiplier, s2 = p->input2_shift;
    const int32_t mo = p->output_multiplier, so = p->output_shift, zp = p->output_offset;
    const int32_t f1 = s1 < 0, f2 = s2 < 0, fo = so < 0, lo = p->act_min, hi = p->act_max;
    int32_t n = p->shape.size;
    for (; n > 0; n -= 4, a += 4, b += 4, output += 4) {
        const mve_pred16_t pr = vctp32q((uint32_t)n);
        const int32x4_t x1 = vshlq_r_s32(vaddq_n_s32(vldrbq_z_s32(a, pr), off1), ls);
        const int32x4_t x2 = vshlq_r_s32(vaddq_n_s32(vldrbq_z_s32(b, pr), off2), ls);
        const int32x4_t y1 = tg_mve_rq_right(x1, m1, s1, f1), y2 = tg_mve_rq_right(x2, m2, s2, f2);
        int32x4_t o = tg_mve_rq_right(sub ? vsubq_s32(y1, y2) : vaddq_s32(y1, y2), mo, so, fo);
        o = vminq_s32(vmaxq_s32(vaddq_n_s32(o, zp), vdupq_n_s32(lo)), vdupq_n_s32(hi));
        vstrbq_p_s32(output, o, pr);
    }
}

/* ADD / SUB (the input and output rescalings are TFLM's "smaller than one": shifts <= 0; tg_add_s8 checks). */
void tg_add_mve(const tg_add_params_t *p, const int8_t *a, const int8_t *b, int8_t *output)
{
    if (p->subtract) {
        tg_add_mve_loop(p, a, b, output, 1);
    } else {
        tg_add_mve_loop(p, a, b, output, 0);
    }
}

/* Depthwise taps of one output pixel whose window is inside the input, 4 channels: acc + sum over the
 * k_h x k_w taps of w (4 int8 per tap, in tap order) * the input (one gather: s + the lanes' channel
 * offsets `offs`), s the window's top-left pixel, dcol / drow the byte steps between taps along a row /
 * between rows. 6 instructions per tap. */
TG_INLINE int32x4_t tg_dw_taps(int32x4_t acc, const int8_t *s, uint32x4_t offs, const int8_t *w, int32_t k_h,
                               int32_t k_w, int32_t dcol, int32_t drow)
{
    int32x4_t x, wv;
    const int32_t adj = drow - k_w * dcol;
    __asm__ volatile("2:\n\t"
                     "dls    lr, %[kw]\n\t"
                     "1:\n\t"
                     "vldrb.s32 %q[x], [%[s], %q[o]]\n\t"
                     "vldrb.s32 %q[wv], [%[w]], #4\n\t"
                     "add    %[s], %[s], %[dc]\n\t"
                     "vmul.i32 %q[x], %q[x], %q[wv]\n\t"
                     "vadd.i32 %q[acc], %q[acc], %q[x]\n\t"
                     "le     lr, 1b\n\t"
                     "add    %[s], %[s], %[adj]\n\t"
                     "subs   %[kh], %[kh], #1\n\t"
                     "bne    2b\n\t"
                     : [acc] "+w"(acc), [x] "=&w"(x), [wv] "=&w"(wv), [s] "+r"(s), [w] "+r"(w), [kh] "+r"(k_h)
                     : [o] "w"(offs), [dc] "r"(dcol), [adj] "r"(adj), [kw] "r"(k_w)
                     : "lr", "cc", "memory");
    return acc;
}

/* DEPTHWISE_CONV_2D (tg_dwconv_mve_s8's layout, see tg_kernels.h): per group of 4 output channels, per
 * output pixel: the taps on 4 lanes (channels), the requantization with the group's parameter vectors. */
static void tg_dwconv_mve(const tg_conv_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t cin = p->in_c, oc_n = p->out_c, dm = p->depth_multiplier;
    const int32_t in_h = p->in_h, in_w = p->in_w, k_h = p->k_h, k_w = p->k_w, taps = k_h * k_w;
    const int32_t dcol = p->dil_w * cin, drow = p->dil_h * in_w * cin;
    const int32_t span_h = (k_h - 1) * p->dil_h, span_w = (k_w - 1) * p->dil_w;
    const int32_t izp = p->input_zp, ozp = p->output_zp, lo = p->act_min, hi = p->act_max;
    int32_t b, c0, oy, ox, ky, kx;
    for (b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + (size_t)b * in_h * in_w * cin;
        int8_t *out_b = output + (size_t)b * p->out_h * p->out_w * oc_n;
        for (c0 = 0; c0 < oc_n; c0 += 4) {
            const mve_pred16_t pr = vctp32q((uint32_t)(oc_n - c0));
            const int8_t *wg = (const int8_t *)p->weights + (size_t)c0 * taps;
            const int32_t *rq = (const int32_t *)(const void *)p->rq + 4 * c0;
            const int32x4_t bias = vld1q_s32(p->bias + c0);
            uint32_t ic[4];
            uint32x4_t offs;
            int8_t *o = out_b + c0;
            int32_t j;
            for (j = 0; j < 4; j++) { /* the lanes' input channels (past the last channel: the last) */
                ic[j] = (uint32_t)((c0 + j < oc_n ? c0 + j : oc_n - 1) / dm);
            }
            offs = vld1q_u32(ic);
            for (oy = 0; oy < p->out_h; oy++) {
                const int32_t y0 = oy * p->stride_h - p->pad_top;
                const int rows_in = y0 >= 0 && y0 + span_h < in_h;
                for (ox = 0; ox < p->out_w; ox++, o += oc_n) {
                    const int32_t x0 = ox * p->stride_w - p->pad_left;
                    int32x4_t acc = bias;
                    if (rows_in && x0 >= 0 && x0 + span_w < in_w) {
                        acc = tg_dw_taps(acc, in_b + ((size_t)y0 * in_w + x0) * cin, offs, wg, k_h, k_w, dcol, drow);
                    } else {
                        const int8_t *w = wg;
                        for (ky = 0; ky < k_h; ky++) {
                            const int32_t iy = y0 + ky * p->dil_h;
                            for (kx = 0; kx < k_w; kx++, w += 4) {
                                const int32_t ix = x0 + kx * p->dil_w;
                                const int32x4_t wv = vldrbq_s32(w);
                                if (iy >= 0 && iy < in_h && ix >= 0 && ix < in_w) {
                                    const int32x4_t x = vldrbq_gather_offset_s32(in_b + ((size_t)iy * in_w + ix) * cin, offs);
                                    acc = vaddq_s32(acc, vmulq_s32(x, wv));
                                } else {
                                    acc = vmlaq_n_s32(acc, wv, izp);
                                }
                            }
                        }
                    }
                    /* TFLM MultiplyByQuantizedMultiplier with the group's rows mult, left, -right, fix-up mask */
                    acc = vshlq_s32(acc, vld1q_s32(rq + 4));
                    acc = vqrdmulhq_s32(acc, vld1q_s32(rq));
                    acc = vqaddq_s32(acc, vandq_s32(vshrq_n_s32(acc, 31), vld1q_s32(rq + 12)));
                    acc = vrshlq_s32(acc, vld1q_s32(rq + 8));
                    acc = vminq_s32(vmaxq_s32(vaddq_n_s32(acc, ozp), vdupq_n_s32(lo)), vdupq_n_s32(hi));
                    vstrbq_p_s32(o, acc, pr);
                }
            }
        }
    }
}
#endif /* TG_MVE */

#if !TG_MVE
/* The same arithmetic in C99 (builds without Helium), from the same layout. */
static void tg_dwconv_mve_c(const tg_conv_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t cin = p->in_c, oc_n = p->out_c, dm = p->depth_multiplier, taps = p->k_h * p->k_w;
    const int32_t *rq = (const int32_t *)(const void *)p->rq;
    int32_t b, oy, ox, oc, ky, kx;
    for (b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + (size_t)b * p->in_h * p->in_w * cin;
        for (oy = 0; oy < p->out_h; oy++) {
            for (ox = 0; ox < p->out_w; ox++) {
                for (oc = 0; oc < oc_n; oc++) {
                    const int8_t *w = (const int8_t *)p->weights + (size_t)(oc >> 2) * taps * 4 + (oc & 3);
                    const int32_t *r = rq + 16 * (oc >> 2) + (oc & 3);
                    int32_t acc = 0;
                    for (ky = 0; ky < p->k_h; ky++) {
                        const int32_t iy = oy * p->stride_h - p->pad_top + ky * p->dil_h;
                        for (kx = 0; kx < p->k_w; kx++, w += 4) {
                            const int32_t ix = ox * p->stride_w - p->pad_left + kx * p->dil_w;
                            const int inside = iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w;
                            const int32_t x = inside ? in_b[((size_t)iy * p->in_w + ix) * cin + oc / dm] : p->input_zp;
                            acc += x * *w;
                        }
                    }
                    *output++ = tg_requant_s8(tg_wrap_add(acc, p->bias[oc]), r[0], r[4] + r[8], p->output_zp,
                                              p->act_min, p->act_max);
                }
            }
        }
    }
}
#endif

void tg_dwconv_mve_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch)
{
    (void)scratch;
#if TG_MVE
    tg_dwconv_mve(p, input, output);
#else
    tg_dwconv_mve_c(p, input, output);
#endif
}
