/*
 * CONV_2D, int8 (TFLM reference_integer_ops::ConvPerChannel semantics) with the zero-point term
 * folded into the bias (DEPTHWISE_CONV_2D: tg_dwconv.c):
 *
 *   acc = sum over taps inside the image of w * x  +  sum over padded taps of w * input_zp
 *       + bias_folded                       (bias_folded = bias - input_zp * sum(w))
 *
 * which equals TFLM's sum of w * (x - input_zp) over the inside taps + bias. The products
 * are summed in int32 (|w * x| <= 2^14, at most 2^16 taps per output); the bias is added
 * with wrap-around, as TFLM's int32 accumulator would.
 *
 * Two implementations of each function:
 * - C99 (any compiler and CPU);
 * - Cortex-M DSP (TG_DSP, see tg_requant.h), for ops the generator marked `dsp` (the others,
 *   e.g. grouped convolutions, run the C99 code in the same build):
 *   * convolutions: two output pixels at a time are gathered (im2col) into the kernel scratch
 *     as sign-extended int16 pairs, padded taps = input_zp, interleaved so that one LDM brings
 *     4 taps of both pixels; each filter row (4 weights per 32-bit load, SXTB16 + SXTB16 ROR 8)
 *     then meets both pixels: 2 output channels x 2 pixels = 4 accumulators, 8 SMLAD per 4
 *     taps (tg_conv_pairs, in assembly with the requantization, so that nothing spills);
 *   * requantization with SMMULR (tg_rq_dsp) where the generator proved that shortcut exact
 *     (dsp = TG_DSP_SHORTCUT), else exactly with SMLAL (dsp = TG_DSP_EXACT: tg_rqx_dsp, tg_rqx_t
 *     rows): about as fast; 4 outputs saturated, packed into a word and
 *     clamped lane by lane (SSUB8 / SEL).
 */
#include <string.h>

#include "tg_kernels.h"
#include "tg_mve.h"
#include "tg_requant.h"

/* Output channel oc of a convolution whose rq table may hold tg_rqx_t rows (dsp == TG_DSP_EXACT). */
TG_INLINE int8_t tg_rq_ch(int32_t acc, const tg_conv_params_t *p, int32_t oc)
{
    return tg_requant_s8(acc, TG_RQ_MULT_OF(p, oc), TG_RQ_SHIFT_OF(p, oc), p->output_zp, p->act_min, p->act_max);
}

/* ================================================================== C99
 * Tuned for cores without SIMD multiply-accumulate (RV32IMC, Cortex-M0+/M3, or -DTG_PORTABLE):
 * int32 accumulators, four filters at a time over one input run (each input byte loaded once for
 * four multiply-adds), the runs 4-way unrolled, and no division in any loop. A filter row's taps
 * inside the image are one contiguous run of the input when groups == 1 and dil_w == 1, so the
 * dot products are as long as k_w x in_c instead of in_c. */

/* acc[j] += sum_i w[j * w_row + i] * x[i] for the filters j < 4 */
static void tg_mac4_s8(int32_t *acc, const int8_t *w, int32_t w_row, const int8_t *x, int32_t n)
{
    const int8_t *w0 = w, *w1 = w + w_row, *w2 = w1 + w_row, *w3 = w2 + w_row;
    const int8_t *end = x + (n & ~3);
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    while (x != end) {
        const int32_t x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3];
        a0 += w0[0] * x0 + w0[1] * x1 + w0[2] * x2 + w0[3] * x3;
        a1 += w1[0] * x0 + w1[1] * x1 + w1[2] * x2 + w1[3] * x3;
        a2 += w2[0] * x0 + w2[1] * x1 + w2[2] * x2 + w2[3] * x3;
        a3 += w3[0] * x0 + w3[1] * x1 + w3[2] * x2 + w3[3] * x3;
        x += 4;
        w0 += 4;
        w1 += 4;
        w2 += 4;
        w3 += 4;
    }
    for (n &= 3; n > 0; n--) {
        const int32_t xv = *x++;
        a0 += *w0++ * xv;
        a1 += *w1++ * xv;
        a2 += *w2++ * xv;
        a3 += *w3++ * xv;
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

static int32_t tg_dot_s8(const int8_t *w, const int8_t *x, int32_t n)
{
    int32_t a0 = 0, a1 = 0;
    const int8_t *end = x + (n & ~3);
    while (x != end) {
        a0 += w[0] * x[0] + w[2] * x[2];
        a1 += w[1] * x[1] + w[3] * x[3];
        w += 4;
        x += 4;
    }
    for (n &= 3; n > 0; n--) {
        a0 += *w++ * *x++;
    }
    return a0 + a1;
}

static int32_t tg_sum_s8(const int8_t *w, int32_t n)
{
    int32_t s = 0;
    int32_t i;
    for (i = 0; i < n; i++) {
        s += w[i];
    }
    return s;
}

/* nf (1..4) filters, w_row apart: acc[j] += w_j . x (x != NULL) or pad[j] += sum(w_j) (x == NULL) */
static void tg_run_s8(int32_t *acc, int32_t *pad, int32_t nf, const int8_t *w, int32_t w_row, const int8_t *x,
                      int32_t n)
{
    int32_t j;
    if (n <= 0) {
        return;
    }
    if (x != NULL && nf == 4) {
        tg_mac4_s8(acc, w, w_row, x, n);
        return;
    }
    for (j = 0; j < nf; j++, w += w_row) {
        if (x != NULL) {
            acc[j] += tg_dot_s8(w, x, n);
        } else {
            pad[j] += tg_sum_s8(w, n);
        }
    }
}

__attribute__((noinline)) static void tg_conv2d_c(const tg_conv_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t cg = p->in_c / p->groups;   /* input channels per group */
    const int32_t fg = p->out_c / p->groups;  /* output channels per group */
    const int32_t w_row = p->w_row;
    const int32_t row_len = p->k_w * cg;      /* weights per filter row */
    const int32_t runs = p->groups == 1 && p->dil_w == 1;
    int32_t b, oy, ox, g, ky, kx;
    for (b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + (size_t)b * p->in_h * p->in_w * p->in_c;
        for (oy = 0; oy < p->out_h; oy++) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            for (ox = 0; ox < p->out_w; ox++, output += p->out_c) {
                const int32_t x0 = ox * p->stride_w - p->pad_left;
                /* taps kx in [kx_lo, kx_hi) are inside the image (dil_w == 1) */
                const int32_t kx_lo = x0 < 0 ? (-x0 < p->k_w ? -x0 : p->k_w) : 0;
                int32_t kx_hi = p->in_w - x0 < p->k_w ? p->in_w - x0 : p->k_w;
                if (kx_hi < kx_lo) {
                    kx_hi = kx_lo;
                }
                for (g = 0; g < p->groups; g++) {
                    const int32_t c0 = g * cg;
                    int32_t oc = g * fg;
                    const int32_t oc_end = oc + fg;
                    for (; oc < oc_end; oc += 4) {
                        const int32_t nf = oc_end - oc < 4 ? oc_end - oc : 4;
                        const int8_t *w = (const int8_t *)p->weights + (size_t)oc * w_row;
                        int32_t acc[4] = {0, 0, 0, 0}, pad[4] = {0, 0, 0, 0};
                        int32_t j;
                        for (ky = 0; ky < p->k_h; ky++, w += row_len) {
                            const int32_t iy = y0 + ky * p->dil_h;
                            const int8_t *in_row;
                            if (iy < 0 || iy >= p->in_h) {
                                tg_run_s8(acc, pad, nf, w, w_row, NULL, row_len);
                                continue;
                            }
                            in_row = in_b + (size_t)iy * p->in_w * p->in_c;
                            if (runs) {
                                tg_run_s8(acc, pad, nf, w, w_row, NULL, kx_lo * cg);
                                tg_run_s8(acc, pad, nf, w + kx_lo * cg, w_row, in_row + (x0 + kx_lo) * p->in_c,
                                          (kx_hi - kx_lo) * cg);
                                tg_run_s8(acc, pad, nf, w + kx_hi * cg, w_row, NULL, (p->k_w - kx_hi) * cg);
                            } else {
                                for (kx = 0; kx < p->k_w; kx++) {
                                    const int32_t ix = x0 + kx * p->dil_w;
                                    const int inside = ix >= 0 && ix < p->in_w;
                                    tg_run_s8(acc, pad, nf, w + kx * cg, w_row,
                                              inside ? in_row + (size_t)ix * p->in_c + c0 : NULL, cg);
                                }
                            }
                        }
                        for (j = 0; j < nf; j++) {
                            const int32_t a = tg_wrap_add(acc[j] + pad[j] * p->input_zp, p->bias[oc + j]);
                            output[oc + j] = tg_rq_ch(a, p, oc + j);
                        }
                    }
                }
            }
        }
    }
}

#if !TG_DSP
/* Weight of output channel oc, tap t (0 .. k_h * k_w * in_c - 1) in the packed layout (pairs = 1, see
 * TG_PPAIR_STEP): channel pair blocks of 2 * w_row bytes, an odd last channel in an extra block for the pair
 * (out_c - 2, out_c - 1). */
static int32_t tg_conv_w_packed(const tg_conv_params_t *p, int32_t oc, int32_t t)
{
    const int32_t blk = (p->out_c & 1) && oc == p->out_c - 1 ? p->out_c >> 1 : oc >> 1;
    const int32_t odd = (p->out_c & 1) && oc == p->out_c - 1 ? 1 : oc & 1;
    const int8_t *g = (const int8_t *)p->weights + (size_t)blk * 2 * p->w_row + (size_t)(t >> 2) * 8 +
                      (size_t)(t & 1) * 4 + (size_t)((t >> 1) & 1) * 2;
    const int32_t ev = g[0];
    const int32_t h = (int32_t)(uint8_t)g[0] + 256 * (int32_t)g[1]; /* 256 * odd + even */
    return odd ? (h - ev) / 256 : ev;
}

__attribute__((noinline)) static void tg_conv2d_packed_c(const tg_conv_params_t *p, const int8_t *input,
                                                         int8_t *output)
{
    const int32_t cin = p->in_c;
    int32_t b, oy, ox, oc, ky, kx, c;
    for (b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + (size_t)b * p->in_h * p->in_w * cin;
        for (oy = 0; oy < p->out_h; oy++) {
            for (ox = 0; ox < p->out_w; ox++) {
                for (oc = 0; oc < p->out_c; oc++) {
                    int32_t acc = 0, t = 0;
                    for (ky = 0; ky < p->k_h; ky++) {
                        const int32_t iy = oy * p->stride_h - p->pad_top + ky * p->dil_h;
                        for (kx = 0; kx < p->k_w; kx++) {
                            const int32_t ix = ox * p->stride_w - p->pad_left + kx * p->dil_w;
                            const int ok = iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w;
                            for (c = 0; c < cin; c++, t++) {
                                const int32_t x = ok ? in_b[((size_t)iy * p->in_w + ix) * cin + c] : p->input_zp;
                                acc += tg_conv_w_packed(p, oc, t) * x;
                            }
                        }
                    }
                    *output++ = tg_rq_ch(tg_wrap_add(acc, p->bias[oc]), p, oc);
                }
            }
        }
    }
}
#endif

static void tg_conv2d_1x1_c(const tg_conv_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t c = p->in_c;
    const int32_t w_row = p->w_row;
    int32_t b, oy, ox, oc, j;
    for (b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + (size_t)b * p->in_h * p->in_w * c;
        for (oy = 0; oy < p->out_h; oy++) {
            for (ox = 0; ox < p->out_w; ox++, output += p->out_c) {
                const int8_t *x = in_b + ((size_t)(oy * p->stride_h) * p->in_w + (size_t)(ox * p->stride_w)) * c;
                const int8_t *w = (const int8_t *)p->weights;
                for (oc = 0; oc < p->out_c; oc += 4, w += 4 * w_row) {
                    const int32_t nf = p->out_c - oc < 4 ? p->out_c - oc : 4;
                    int32_t acc[4] = {0, 0, 0, 0};
                    tg_run_s8(acc, NULL, nf, w, w_row, x, c);
                    for (j = 0; j < nf; j++) {
                        output[oc + j] = tg_rq_ch(tg_wrap_add(acc[j], p->bias[oc + j]), p, oc + j);
                    }
                }
            }
        }
    }
}

/* ================================================================== Cortex-M DSP */
#if TG_DSP

/*
 * im2col. Two output pixels at a time are gathered into the scratch as pairs of sign-extended
 * taps, interleaved: for taps 4j..4j+3, words 4j, 4j+1 = (x0, x2), (x1, x3) of pixel A (what
 * SXTB16 and SXTB16 ROR 8 make of 4 weights), words 4j+2, 4j+3 the same of pixel B, so that one
 * LDM brings 4 taps of both.
 */

/* n (>= 1) groups of 4 int8 taps of pixels A and B -> interleaved int16 pairs; 10 instructions
 * per group */
TG_INLINE int32_t *tg_widen_pair(int32_t *col, const int8_t *a, const int8_t *b, int32_t n)
{
    uint32_t va, vb, t0, t1;
    __asm__ volatile("1:\n\t"
                     "ldr    %[va], [%[a]], #4\n\t"
                     "ldr    %[vb], [%[b]], #4\n\t"
                     "sxtb16 %[t0], %[va]\n\t"
                     "sxtb16 %[t1], %[va], ror #8\n\t"
                     "strd   %[t0], %[t1], [%[c]], #8\n\t"
                     "sxtb16 %[t0], %[vb]\n\t"
                     "sxtb16 %[t1], %[vb], ror #8\n\t"
                     "strd   %[t0], %[t1], [%[c]], #8\n\t"
                     "subs   %[n], %[n], #1\n\t"
                     "bne    1b\n\t"
                     : [c] "+r"(col), [a] "+r"(a), [b] "+r"(b), [n] "+r"(n), [va] "=&r"(va), [vb] "=&r"(vb),
                       [t0] "=&r"(t0), [t1] "=&r"(t1)
                     :
                     : "cc", "memory");
    return col;
}

TG_INLINE void tg_copy_s8(int8_t *__restrict dst, const int8_t *src, int32_t n)
{
    for (; n > 0; n--) {
        *dst++ = *src++;
        TG_NO_LIBCALL();
    }
}

/* Input channels a multiple of 4: both pixels tap by tap, padded taps read `zp` (in_c bytes
 * of input_zp); windows inside the input (the usual case) without any check. */
TG_INLINE void tg_im2col_pair(const tg_conv_params_t *p, const int8_t *in_a, int32_t ya, int32_t xa,
                           const int8_t *in_b, int32_t yb, int32_t xb, int32_t *__restrict col, const int8_t *zp)
{
    const int32_t cin = p->in_c, in_w = p->in_w, in_h = p->in_h;
    const int32_t groups = cin >> 2;
    const int32_t span_h = (p->k_h - 1) * p->dil_h, span_w = (p->k_w - 1) * p->dil_w;
    const ptrdiff_t row = (ptrdiff_t)in_w * cin;
    const ptrdiff_t dcol = (ptrdiff_t)p->dil_w * cin, drow = (ptrdiff_t)p->dil_h * row;
    int32_t ky, kx;
    if (ya >= 0 && ya + span_h < in_h && xa >= 0 && xa + span_w < in_w && yb >= 0 && yb + span_h < in_h &&
        xb >= 0 && xb + span_w < in_w) {
        const int8_t *ra = in_a + ya * row + xa * cin, *rb = in_b + yb * row + xb * cin;
        for (ky = 0; ky < p->k_h; ky++, ra += drow, rb += drow) {
            const int8_t *sa = ra, *sb = rb;
            for (kx = 0; kx < p->k_w; kx++, sa += dcol, sb += dcol) {
                col = tg_widen_pair(col, sa, sb, groups);
            }
        }
        return;
    }
    for (ky = 0; ky < p->k_h; ky++, ya += p->dil_h, yb += p->dil_h) {
        const int oka = ya >= 0 && ya < in_h, okb = yb >= 0 && yb < in_h;
        const int8_t *ra = in_a + ya * row, *rb = in_b + yb * row;
        int32_t ia = xa, ib = xb;
        for (kx = 0; kx < p->k_w; kx++, ia += p->dil_w, ib += p->dil_w) {
            const int8_t *sa = oka && ia >= 0 && ia < in_w ? ra + ia * cin : zp;
            const int8_t *sb = okb && ib >= 0 && ib < in_w ? rb + ib * cin : zp;
            col = tg_widen_pair(col, sa, sb, groups);
        }
    }
}

/* Other channel counts: the window as one byte run (w_row bytes, zero tail) in `stage`; rows
 * inside the input are copied a word at a time where the input has the bytes (a run's last
 * word may spill up to 3 bytes, overwritten by the next run or the zero tail). */
static void tg_stage_window(const tg_conv_params_t *p, const int8_t *in_b, int32_t y0, int32_t x0, int8_t *stage)
{
    const int32_t cin = p->in_c, in_w = p->in_w;
    const int32_t span = p->k_w * cin;
    const int8_t *in_end = in_b + (size_t)p->in_h * in_w * cin;
    const int whole = p->dil_w == 1 && x0 >= 0 && x0 + p->k_w <= in_w;
    int8_t *s = stage;
    int32_t ky, kx, c;
    if (whole && y0 >= 0 && y0 + (p->k_h - 1) * p->dil_h < p->in_h) {
        /* inside the input: k_h runs of span bytes, dil_h rows apart */
        const ptrdiff_t drow = (ptrdiff_t)p->dil_h * in_w * cin;
        const int8_t *src = in_b + ((size_t)y0 * in_w + x0) * cin;
        if (src + (p->k_h - 1) * drow + ((span + 3) & ~3) <= in_end) {
            for (ky = 0; ky < p->k_h; ky++, src += drow, s += span) {
                for (c = 0; c < span; c += 4) {
                    tg_st32(s + c, tg_ld32(src + c));
                    TG_NO_LIBCALL();
                }
            }
            goto tail;
        }
    }
    for (ky = 0; ky < p->k_h; ky++) {
        const int32_t iy = y0 + ky * p->dil_h;
        const int row_ok = iy >= 0 && iy < p->in_h;
        if (row_ok && whole) {
            const int8_t *src = in_b + ((size_t)iy * in_w + x0) * cin;
            if (src + ((span + 3) & ~3) <= in_end) {
                for (c = 0; c < span; c += 4) {
                    tg_st32(s + c, tg_ld32(src + c));
                    TG_NO_LIBCALL();
                }
            } else {
                tg_copy_s8(s, src, span);
            }
            s += span;
            continue;
        }
        for (kx = 0; kx < p->k_w; kx++) {
            const int32_t ix = x0 + kx * p->dil_w;
            if (row_ok && ix >= 0 && ix < in_w) {
                tg_copy_s8(s, in_b + ((size_t)iy * in_w + ix) * cin, cin);
                s += cin;
            } else {
                for (c = 0; c < cin; c++) {
                    *s++ = (int8_t)p->input_zp;
                    TG_NO_LIBCALL();
                }
            }
        }
    }
tail:
    while (s < stage + p->w_row) {
        *s++ = 0;
        TG_NO_LIBCALL();
    }
}

/* State of tg_conv_pairs (field offsets are used by its assembly). */
typedef struct {
    const int8_t *w;     /* 0: filter row of the channel pair's first channel */
    int32_t w_row;       /* 4 */
    const int32_t *cols; /* 8 */
    int32_t kq;          /* 12: groups of 4 taps, >= 1 */
    const int32_t *bias; /* 16 */
    const tg_rq_t *rq;   /* 20 */
    int8_t *out0;        /* 24: output channels of pixel 0 */
    int8_t *out1;        /* 28: of pixel 1 */
    int32_t pairs;       /* 32: channel pairs to do, >= 1 */
    uint32_t lo4, hi4;   /* 36, 40: activation bounds in every byte lane */
    int32_t exact;       /* 44: 1: rq holds tg_rqx_t rows (TG_DSP_EXACT), 0: tg_rq_t rows */
    int32_t zp;          /* 48: output zero point (exact requantization) */
} tg_pairs_t;

#define TG_STR_(x) #x
#define TG_STR(x) TG_STR_(x)
/* r0..r3 = acc (px0 ch0, px0 ch1, px1 ch0, px1 ch1); r4, r5 = filter rows; r6 = columns: one
 * LDM brings 4 taps of both columns (r8..r11), each row's 4 weights become (lo, hi) pairs in
 * (r12, lr) in turn. 15 instructions per 16 multiply-accumulates. */
#define TG_PAIR_STEP                  \
    "ldr    r12, [r4], #4\n\t"         \
    "ldm    r6!, {r8-r11}\n\t"         \
    "sxtb16 lr, r12, ror #8\n\t"       \
    "sxtb16 r12, r12\n\t"              \
    "smlad  r0, r12, r8, r0\n\t"       \
    "smlad  r0, lr, r9, r0\n\t"        \
    "smlad  r2, r12, r10, r2\n\t"      \
    "smlad  r2, lr, r11, r2\n\t"       \
    "ldr    r12, [r5], #4\n\t"         \
    "sxtb16 lr, r12, ror #8\n\t"       \
    "sxtb16 r12, r12\n\t"              \
    "smlad  r1, r12, r8, r1\n\t"       \
    "smlad  r1, lr, r9, r1\n\t"        \
    "smlad  r3, r12, r10, r3\n\t"      \
    "smlad  r3, lr, r11, r3\n\t"
/* requantize acc `a` with the parameters in r4 (mult), r5 (round), r6 (shifts), r7 = left + 1 */
#define TG_PAIR_RQ(a)                          \
    "lsl    r8, " a ", r7\n\t"                  \
    "smmulr r8, r8, r4\n\t"                    \
    "add    r9, r5, r8, lsl #1\n\t"            \
    "add    r9, r9, r8, asr #31\n\t"           \
    "asr    r9, r9, r6\n\t"                    \
    "ssat   " a ", #8, r9\n\t"

/*
 * Output channel pairs of two pixels (the micro-kernel of the DSP convolution): for each pair,
 * 2 x 2 accumulators from the bias, 8 SMLAD per 4 taps, requantization (tg_rq_dsp), the 4
 * results packed into one word, clamped lane-wise, stored as two halfwords. All 14 registers
 * in the tap loop; the state lives in a copy of *a on the stack.
 */
/* The requantization of one channel pair (rows at r12, zp in r11) for both variants:
 * shortcut (exact = 0: tg_rq_t rows) or exact (tg_rqx_t rows). */
#define TG_PAIRS_RQ_SHORTCUT                                   \
        "ldm    r12!, {r4, r5, r6}\n\t"                       \
        "lsr    r7, r6, #8\n\t"                                \
        TG_PAIR_RQ("r0") TG_PAIR_RQ("r2")                      \
        "ldm    r12!, {r4, r5, r6}\n\t"                       \
        "lsr    r7, r6, #8\n\t"                                \
        TG_PAIR_RQ("r1") TG_PAIR_RQ("r3")
/* the row of one channel (r4 = mult, r5/r6 = klo/khi, r7 = rm1) applied to the accumulators a, b */
#define TG_PAIRS_RQX_ROW(a, b)                                 \
        "mov    r8, r5\n\t"                                    \
        "mov    r9, r6\n\t"                                    \
        TG_RQX_ASM(a, "r4", "r8", "r9", "r7", "r11")           \
        TG_RQX_ASM(b, "r4", "r5", "r6", "r7", "r11")
/* Left-shifted channels: TG_LQX_ASM (tg_requant.h) */
#define TG_PAIRS_LQX_ROW(a, b)                                 \
        "mvn    r7, r7\n\t"                                    \
        "mov    r8, r5\n\t"                                    \
        "mov    r9, r6\n\t"                                    \
        TG_LQX_ASM(a, "r4", "r8", "r9", "r7", "r11")           \
        TG_LQX_ASM(b, "r4", "r5", "r6", "r7", "r11")

/* The body of tg_conv_pairs / tg_conv_pairs_l: EXACT is the exact requantization of a channel pair
 * (r0, r2: channel 0 of both pixels; r1, r3: channel 1), rows at r12 (advanced), zp in r11. */
#define TG_CONV_PAIRS_BODY(EXACT) TG_CONV_PAIRS_BODY_T(TG_PAIRS_TAPS, EXACT)
/* the tap loop of tg_conv_pairs: bias pair in r0, r1; leaves the 4 accumulators in r0..r3 and the next
 * pair's weights' address at [sp, #0] */
#define TG_PAIRS_TAPS                                                                 \
        "mov    r2, r0\n\t"                                                           \
        "mov    r3, r1\n\t"                                                           \
        "ldrd   r4, r5, [sp, #0]\n\t"                                                 \
        "add    r5, r4, r5\n\t"                                                       \
        "ldrd   r6, r7, [sp, #8]\n\t"                                                 \
        "tst    r7, #1\n\t"                                                           \
        "beq    2f\n\t"                                                               \
        TG_PAIR_STEP                                                                  \
        "2:\n\t"                                                                      \
        "lsrs   r7, r7, #1\n\t"                                                       \
        "beq    3f\n\t"                                                               \
        "1:\n\t"                                                                      \
        TG_PAIR_STEP TG_PAIR_STEP                                                     \
        "subs   r7, r7, #1\n\t"                                                       \
        "bne    1b\n\t"                                                               \
        "3:\n\t"                                                                      \
        "str    r5, [sp, #0]\n\t" /* the next pair's first row follows this pair's second */
/* Packed channel pairs (tg_conv2d_dspp_s8, `pairs` = 1): each 16-bit half of a weight word holds
 * H = 256 * w_odd + w_even (int16; tinygen/ops/conv.py pack_conv_pairs), words (H(t0), H(t2)), (H(t1), H(t3))
 * per 4 taps. SMLAD of the word accumulates 256 * odd + even, SXTB16 of it (in place) leaves the even
 * channel's weights for a second SMLAD: 12 instructions per 16 multiply-accumulates. Both accumulators of
 * a pixel start at the even channel's bias; (mix - even) / 256 is the odd channel's sum, exact modulo 2^24
 * (the generator's bound: 128 * sum |w_odd| < 2^23), + its bias (r5). r0, r2: even; r1, r3: mix -> odd. */
#define TG_PPAIR_STEP                  \
    "ldm    r6!, {r8-r11}\n\t"        \
    "ldrd   r12, lr, [r4], #8\n\t"    \
    "smlad  r1, r12, r8, r1\n\t"      \
    "smlad  r3, r12, r10, r3\n\t"     \
    "sxtb16 r12, r12\n\t"             \
    "smlad  r0, r12, r8, r0\n\t"      \
    "smlad  r2, r12, r10, r2\n\t"     \
    "smlad  r1, lr, r9, r1\n\t"       \
    "smlad  r3, lr, r11, r3\n\t"      \
    "sxtb16 lr, lr\n\t"               \
    "smlad  r0, lr, r9, r0\n\t"       \
    "smlad  r2, lr, r11, r2\n\t"
#define TG_PPAIRS_TAPS                 \
        "mov    r5, r1\n\t"            \
        "mov    r1, r0\n\t"            \
        "mov    r2, r0\n\t"            \
        "mov    r3, r0\n\t"            \
        "ldr    r4, [sp, #0]\n\t"      \
        "ldrd   r6, r7, [sp, #8]\n\t"  \
        "tst    r7, #1\n\t"            \
        "beq    2f\n\t"                \
        TG_PPAIR_STEP                   \
        "2:\n\t"                       \
        "lsrs   r7, r7, #1\n\t"        \
        "beq    3f\n\t"                \
        "1:\n\t"                       \
        TG_PPAIR_STEP TG_PPAIR_STEP     \
        "subs   r7, r7, #1\n\t"        \
        "bne    1b\n\t"                \
        "3:\n\t"                       \
        "sub    r1, r1, r0\n\t"        \
        "add    r1, r5, r1, asr #8\n\t" \
        "sub    r3, r3, r2\n\t"        \
        "add    r3, r5, r3, asr #8\n\t" \
        "str    r4, [sp, #0]\n\t"
#define TG_CONV_PAIRS_BODY_T(TAPS, EXACT)                                             \
        "push   {r4-r11, lr}\n\t"                                                     \
        "sub    sp, sp, #52\n\t"                                                      \
        "ldm    r0!, {r1-r11}\n\t"                                                    \
        "stm    sp, {r1-r11}\n\t"                                                     \
        "ldm    r0, {r1, r2}\n\t"                                                     \
        "strd   r1, r2, [sp, #44]\n\t"                                                \
        "4:\n\t"                                                                      \
        "ldr    r12, [sp, #16]\n\t"                                                   \
        "ldrd   r0, r1, [r12], #8\n\t"                                                \
        "str    r12, [sp, #16]\n\t"                                                   \
        TAPS                                                                          \
        "ldr    r12, [sp, #20]\n\t"                                                   \
        "ldrd   r7, r11, [sp, #44]\n\t" /* exact, zp */                               \
        "cmp    r7, #0\n\t"                                                           \
        "bne    5f\n\t"                                                               \
        TG_PAIRS_RQ_SHORTCUT                                                          \
        "b      6f\n\t"                                                               \
        "5:\n\t"                                                                      \
        EXACT                                                                         \
        "6:\n\t"                                                                      \
        "str    r12, [sp, #20]\n\t"                                                   \
        "bfi    r0, r1, #8, #8\n\t"                                                   \
        "bfi    r0, r2, #16, #8\n\t"                                                  \
        "bfi    r0, r3, #24, #8\n\t"                                                  \
        "ldrd   r4, r5, [sp, #36]\n\t"                                                \
        "ssub8  r6, r0, r4\n\t"                                                       \
        "sel    r0, r0, r4\n\t"                                                       \
        "ssub8  r6, r0, r5\n\t"                                                       \
        "sel    r0, r5, r0\n\t"                                                       \
        "ldrd   r4, r5, [sp, #24]\n\t"                                                \
        "strh   r0, [r4], #2\n\t"                                                     \
        "lsr    r0, r0, #16\n\t"                                                      \
        "strh   r0, [r5], #2\n\t"                                                     \
        "strd   r4, r5, [sp, #24]\n\t"                                                \
        "ldr    r6, [sp, #32]\n\t"                                                    \
        "subs   r6, r6, #1\n\t"                                                       \
        "str    r6, [sp, #32]\n\t"                                                    \
        "bne    4b\n\t"                                                               \
        "add    sp, sp, #52\n\t"                                                      \
        "pop    {r4-r11, pc}\n\t"

/* external linkage: the compiler must keep its calling convention (r0 = a) */
void tg_conv_pairs(tg_pairs_t *a);
__attribute__((naked, noinline)) void tg_conv_pairs(tg_pairs_t *a __attribute__((unused)))
{
    __asm__(TG_CONV_PAIRS_BODY("ldm    r12!, {r4, r5, r6, r7}\n\t"
                               TG_PAIRS_RQX_ROW("r0", "r2")
                               "ldm    r12!, {r4, r5, r6, r7}\n\t"
                               TG_PAIRS_RQX_ROW("r1", "r3")));
}

/* tg_conv_pairs for exact tables that hold left-shifted channels (rm1 < 0; tg_conv2d_dspl_s8): each
 * row takes the right- or the left-shift sequence. Linked only where such an op exists. */
void tg_conv_pairs_l(tg_pairs_t *a);
__attribute__((naked, noinline)) void tg_conv_pairs_l(tg_pairs_t *a __attribute__((unused)))
{
    __asm__(TG_CONV_PAIRS_BODY("ldm    r12!, {r4, r5, r6, r7}\n\t"
                               "cmp    r7, #0\n\t"
                               "blt    7f\n\t"
                               TG_PAIRS_RQX_ROW("r0", "r2")
                               "b      8f\n\t"
                               "7:\n\t"
                               TG_PAIRS_LQX_ROW("r0", "r2")
                               "8:\n\t"
                               "ldm    r12!, {r4, r5, r6, r7}\n\t"
                               "cmp    r7, #0\n\t"
                               "blt    7f\n\t"
                               TG_PAIRS_RQX_ROW("r1", "r3")
                               "b      6f\n\t"
                               "7:\n\t"
                               TG_PAIRS_LQX_ROW("r1", "r3")));
}

/* tg_conv_pairs for packed channel pairs (TG_PPAIRS_TAPS; right-shift or shortcut tables) */
void tg_conv_ppairs(tg_pairs_t *a);
__attribute__((naked, noinline)) void tg_conv_ppairs(tg_pairs_t *a __attribute__((unused)))
{
    __asm__(TG_CONV_PAIRS_BODY_T(TG_PPAIRS_TAPS, "ldm    r12!, {r4, r5, r6, r7}\n\t"
                                 TG_PAIRS_RQX_ROW("r0", "r2")
                                 "ldm    r12!, {r4, r5, r6, r7}\n\t"
                                 TG_PAIRS_RQX_ROW("r1", "r3")));
}

typedef void (*tg_pairs_fn)(tg_pairs_t *a);

/* All output channels of two pixels from their interleaved columns. out1 may equal out0
 * (odd pixel count: the same pixel twice). An odd last channel is done as the pair (out_c - 2,
 * out_c - 1): channel out_c - 2 is stored again, with the same value (out_c >= 2: the generator's
 * condition). */
TG_INLINE void tg_conv_cols_any(tg_pairs_t *a, const tg_conv_params_t *p, int8_t *out0, int8_t *out1,
                                tg_pairs_fn pairs)
{
    const int32_t oc_n = p->out_c;
    a->out0 = out0;
    a->out1 = out1;
    pairs(a); /* (the assembly works on a copy of *a) */
    if (oc_n & 1) {
        const int32_t oc = oc_n - 2;
        const int8_t *w = a->w;
        const int32_t *bias = a->bias;
        const tg_rq_t *rq = a->rq;
        a->w = w + (size_t)(oc + p->pairs) * p->w_row; /* packed: an extra pair block */
        a->bias = bias + oc;
        a->rq = (const tg_rq_t *)(const void *)((const char *)rq +
                                                (size_t)oc * (a->exact ? sizeof(tg_rqx_t) : sizeof(tg_rq_t)));
        a->out0 = out0 + oc;
        a->out1 = out1 + oc;
        a->pairs = 1;
        pairs(a);
        a->w = w;
        a->bias = bias;
        a->rq = rq;
        a->pairs = oc_n >> 1;
    }
}

/* the state of tg_conv_cols for an op (the columns at `cols`), set once per call of the kernel */
__attribute__((noinline)) static void tg_conv_pairs_setup(tg_pairs_t *a, const tg_conv_params_t *p, const int32_t *cols)
{
    a->w = (const int8_t *)p->weights;
    a->w_row = p->w_row;
    a->cols = cols;
    a->kq = p->w_row >> 2;
    a->bias = p->bias;
    a->rq = p->rq;
    a->pairs = p->out_c >> 1;
    a->lo4 = tg_splat4(p->act_min);
    a->hi4 = tg_splat4(p->act_max);
    a->exact = p->dsp == TG_DSP_EXACT;
    a->zp = p->output_zp;
}

/* one out-of-line copy per channel-pair kernel, each calling it directly */
__attribute__((noinline)) static void tg_conv_cols(tg_pairs_t *a, const tg_conv_params_t *p, int8_t *out0, int8_t *out1)
{
    tg_conv_cols_any(a, p, out0, out1, tg_conv_pairs);
}

__attribute__((noinline)) static void tg_conv_cols_l(tg_pairs_t *a, const tg_conv_params_t *p, int8_t *out0, int8_t *out1)
{
    tg_conv_cols_any(a, p, out0, out1, tg_conv_pairs_l);
}

__attribute__((noinline)) static void tg_conv_cols_p(tg_pairs_t *a, const tg_conv_params_t *p, int8_t *out0, int8_t *out1)
{
    tg_conv_cols_any(a, p, out0, out1, tg_conv_ppairs);
}

typedef void (*tg_cols_fn)(tg_pairs_t *a, const tg_conv_params_t *p, int8_t *out0, int8_t *out1);

/* scratch: 2 columns (4 * w_row bytes), then in_c bytes of input_zp (in_c a multiple of 4) or
 * two staging rows (2 x (w_row + 4) bytes). Pixels are visited in pairs, in order, with their
 * coordinates kept incrementally. Inlined into both entry points with a constant `pairs` (direct
 * calls): a firmware links the copy its ops use (both, ~1.4 KB more, only where some CONV_2D has
 * left-shifted channels and another has none). */
TG_INLINE void tg_conv2d_dsp(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch,
                             tg_cols_fn cols_fn, int only)
{
    int32_t *cols = (int32_t *)scratch;
    int8_t *extra = (int8_t *)scratch + 4 * p->w_row;
    int8_t *stage_b = extra + p->w_row + 4;
    const int32_t cin = p->in_c, oc_n = p->out_c;
    const int32_t n = p->batches * p->out_h * p->out_w;
    const size_t in_size = (size_t)p->in_h * p->in_w * cin;
    /* only: 4 = the entries for in_c % 4 == 0 (no staging code), 1 = for 1x1 filters at stride 1 without padding and
     * in_c % 4 == 0 (the matrix product alone) */
    const int direct = only || (cin & 3) == 0;
    int32_t i, b = 0, oy = 0, ox = 0;
    tg_pairs_t a;
    tg_conv_pairs_setup(&a, p, cols);
    if (only == 1 || (direct && p->k_h == 1 && p->k_w == 1 && p->stride_h == 1 && p->stride_w == 1 &&
                      p->pad_top == 0 && p->pad_left == 0)) {
        /* a matrix product: pixel i's taps are its in_c input channels */
        for (i = 0; i < n; i += 2) {
            const int32_t j = i + 1 < n ? i + 1 : i;
            tg_widen_pair(cols, input + (size_t)i * cin, input + (size_t)j * cin, cin >> 2);
            tg_barrier();
            cols_fn(&a, p, output + (size_t)i * oc_n, output + (size_t)j * oc_n);
            tg_barrier();
        }
        return;
    }
    if (direct) {
        for (i = 0; i < cin; i++) {
            extra[i] = (int8_t)p->input_zp;
            TG_NO_LIBCALL();
        }
    }
    for (i = 0; i < n; i += 2) {
        /* pixel A = (b, oy, ox), pixel B the next one (or A again at the end) */
        int32_t bb = b, by = oy, bx = ox + 1;
        const int32_t j = i + 1 < n ? i + 1 : i;
        const int8_t *in_a = input + (size_t)b * in_size;
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
            const int8_t *in_b = input + (size_t)bb * in_size;
            if (direct) {
                tg_im2col_pair(p, in_a, ya, xa, in_b, yb, xb, cols, extra);
            } else {
                tg_stage_window(p, in_a, ya, xa, extra);
                tg_stage_window(p, in_b, yb, xb, stage_b);
                tg_widen_pair(cols, extra, stage_b, p->w_row >> 2);
            }
        }
        tg_barrier();
        cols_fn(&a, p, output + (size_t)i * oc_n, output + (size_t)j * oc_n);
        tg_barrier();
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

#endif /* TG_DSP */

/* ================================================================== narrow convolutions
 * tg_conv2d_dspn{2,4,6,8}_s8: convolutions with few taps per output (1x1 with <= 16 input channels, first
 * layers over 1-channel images, ...), where the channel-pair kernel above spends most of its time on
 * requantization, packing and loop state. The generator (tinygen/ops/conv.py conv_narrow) picks it when
 * each window row's k_w * in_c taps are Q words of input (read as whole words: up to 3 bytes past the
 * row meet zero weights), R = k_h rows, NW = 2 * R * Q widened words: R == 1 with Q <= 4, or Q == 1 with R <= 3;
 * out_c a multiple of 4, and the requantization below is proved exact. No scratch.
 *
 * Per output pixel the window's taps are widened once into NW registers (SXTB16 and SXTB16 ROR 8 of each
 * word: taps (0, 2), (1, 3)); then every output channel streams one record from flash (p->weights):
 *   [2 * folded bias, NW words of int16 pairs (2 * w) in the same tap order, mult, ra, r]
 * and after each 4 channels [lo4, hi4, more] (activation bounds in every byte lane; more = 0 after the last
 * block). The doubled accumulator acc2 = 2 * acc starts at the doubled bias (the first SMLAD's addend), and
 *   SMMLAR(acc2, mult, ra) = ra + floor((acc * mult + 2^30) / 2^31) = ra + SaturatingRoundingDoublingHighMul
 * (mult >= 0, so no saturation), ra = 2^(r-1) + output_zp * 2^r, then + (acc2 >> 31) (-1 for acc < 0: the
 * half-away-from-zero nudge, exact as acc < 0 <=> y < 0 wherever it matters for r >= 1) and ASR r give
 * RoundingDivideByPOT(y, r) + output_zp: 4 instructions with the SSAT, for right shifts r >= 1 while
 * |2 acc| < 2^31 and |y| + 2^(r-1) + |zp| 2^r + 1 < 2^31 (the generator's bound). 4 channels of one pixel
 * are packed into a word, clamped lane-wise and stored at once. */

/* one kernel call: pixels along an output row (state updated in place) */
typedef struct {
    const int8_t *in;  /* 0: the first window row's first byte */
    int32_t n;         /* 4: pixels (>= 1) */
    int32_t step;      /* 8: bytes from one pixel's window to the next */
    int32_t off1;      /* 12: offset of the second input word from `in` (4: one window row; else the next row):
                        * word i is at i * off1 (NW 8: one row, the assembly loads at 4, 8, 12) */
    int32_t off2;      /* 16: 2 * off1, the third word (NW 6) */
    const int32_t *rec; /* 20: the channel records */
} tg_narrow_t;

#if TG_DSP
/* The requantization of acc2 in r7 (record words m, ra, r in r8, r9, r10) into channel J's byte of r12. */
#define TG_NRW_RQ(J)                        \
    "smmlar r9, r7, r8, r9\n\t"             \
    "add    r9, r9, r7, asr #31\n\t"        \
    "asr    r9, r9, r10\n\t"                \
    TG_NRW_PUT_##J
#define TG_NRW_PUT_0 "ssat   r12, #8, r9\n\t"
#define TG_NRW_PUT_1 "ssat   lr, #8, r9\n\t" "bfi    r12, lr, #8, #8\n\t"
#define TG_NRW_PUT_2 "ssat   lr, #8, r9\n\t" "bfi    r12, lr, #16, #8\n\t"
#define TG_NRW_PUT_3 "ssat   lr, #8, r9\n\t" "bfi    r12, lr, #24, #8\n\t"
/* the taps of one channel (record at r6, advanced): acc2 in r7, then m, ra, r in r8..r10 */
#define TG_NRW_TAPS2                        \
    "ldm    r6!, {r7, r8, r9}\n\t"          \
    "smlad  r7, r8, r0, r7\n\t"             \
    "smlad  r7, r9, r1, r7\n\t"             \
    "ldm    r6!, {r8, r9, r10}\n\t"
#define TG_NRW_TAPS4                        \
    "ldm    r6!, {r4, r5, r7, r8, r9}\n\t"  \
    "smlad  r4, r5, r0, r4\n\t"             \
    "smlad  r4, r7, r1, r4\n\t"             \
    "smlad  r4, r8, r2, r4\n\t"             \
    "smlad  r7, r9, r3, r4\n\t"             \
    "ldm    r6!, {r8, r9, r10}\n\t"
#define TG_NRW_TAPS6                        \
    "ldm    r6!, {r7, r8, r9, r10}\n\t"     \
    "smlad  r7, r8, r0, r7\n\t"             \
    "smlad  r7, r9, r1, r7\n\t"             \
    "smlad  r7, r10, r2, r7\n\t"            \
    "ldm    r6!, {r8, r9, r10}\n\t"         \
    "smlad  r7, r8, r3, r7\n\t"             \
    "smlad  r7, r9, r4, r7\n\t"             \
    "smlad  r7, r10, r5, r7\n\t"            \
    "ldm    r6!, {r8, r9, r10}\n\t"
/* the input words of one pixel (state at r12: in, n, step, off1, off2 -> r6..r10) into r1, r3, r5 */
#define TG_NRW_LOAD2 "ldr    r1, [r6]\n\t"
#define TG_NRW_LOAD4 "ldr    r1, [r6]\n\t" "ldr    r3, [r6, r9]\n\t"
#define TG_NRW_LOAD6 "ldr    r1, [r6]\n\t" "ldr    r3, [r6, r9]\n\t" "ldr    r5, [r6, r10]\n\t"
#define TG_NRW_WIDEN2 "sxtb16 r0, r1\n\t" "sxtb16 r1, r1, ror #8\n\t"
#define TG_NRW_WIDEN4 TG_NRW_WIDEN2 "sxtb16 r2, r3\n\t" "sxtb16 r3, r3, ror #8\n\t"
#define TG_NRW_WIDEN6 TG_NRW_WIDEN4 "sxtb16 r4, r5\n\t" "sxtb16 r5, r5, ror #8\n\t"
/* r0 = state, r1 = out. Registers: r0..r5 taps, r6 record, r7 acc2, r8..r10 record words, r11 out,
 * r12 4 packed outputs, lr scratch; the state pointer at [sp]. */
#define TG_NARROW_BODY(NW)                                                  \
    "push   {r0, r4-r11, lr}\n\t"                                           \
    "mov    r11, r1\n\t"                                                    \
    "1:\n\t"                                                                \
    "ldr    r12, [sp]\n\t"                                                  \
    "ldm    r12, {r6, r7, r8, r9, r10}\n\t"                                 \
    TG_NRW_LOAD##NW                                                         \
    "add    r6, r6, r8\n\t"                                                 \
    "sub    r7, r7, #1\n\t"                                                 \
    "strd   r6, r7, [r12]\n\t"                                              \
    "ldr    r6, [r12, #20]\n\t"                                             \
    TG_NRW_WIDEN##NW                                                        \
    "2:\n\t"                                                                \
    TG_NRW_TAPS##NW TG_NRW_RQ(0)                                            \
    TG_NRW_TAPS##NW TG_NRW_RQ(1)                                            \
    TG_NRW_TAPS##NW TG_NRW_RQ(2)                                            \
    TG_NRW_TAPS##NW TG_NRW_RQ(3)                                            \
    "ldm    r6!, {r8, r9, r10}\n\t"                                         \
    "ssub8  r7, r12, r8\n\t"                                                \
    "sel    r12, r12, r8\n\t"                                               \
    "ssub8  r7, r12, r9\n\t"                                                \
    "sel    r12, r9, r12\n\t"                                               \
    "str    r12, [r11], #4\n\t"                                             \
    "cmp    r10, #0\n\t"                                                    \
    "bne    2b\n\t"                                                         \
    "ldr    r12, [sp]\n\t"                                                  \
    "ldr    r7, [r12, #4]\n\t"                                              \
    "cmp    r7, #0\n\t"                                                     \
    "bne    1b\n\t"                                                         \
    "pop    {r0, r4-r11, pc}\n\t"

void tg_narrow_px2(tg_narrow_t *st, int8_t *out);
__attribute__((naked, noinline)) void tg_narrow_px2(tg_narrow_t *st __attribute__((unused)),
                                                    int8_t *out __attribute__((unused)))
{
    __asm__(TG_NARROW_BODY(2));
}
void tg_narrow_px4(tg_narrow_t *st, int8_t *out);
__attribute__((naked, noinline)) void tg_narrow_px4(tg_narrow_t *st __attribute__((unused)),
                                                    int8_t *out __attribute__((unused)))
{
    __asm__(TG_NARROW_BODY(4));
}
void tg_narrow_px6(tg_narrow_t *st, int8_t *out);
__attribute__((naked, noinline)) void tg_narrow_px6(tg_narrow_t *st __attribute__((unused)),
                                                    int8_t *out __attribute__((unused)))
{
    __asm__(TG_NARROW_BODY(6));
}

/* NW = 8 (one window row of 4 words: 1x1 with 13-16 input channels): all 8 tap registers r0..r7 stay live, so the
 * record streams through r10 / lr two words at a time: r8 record, r9 acc2, r11 out, r12 4 packed outputs. */
#define TG_NRW8_CH(J)                       \
    "ldm    r8!, {r9, r10, lr}\n\t"         \
    "smlad  r9, r10, r0, r9\n\t"            \
    "smlad  r9, lr, r1, r9\n\t"             \
    "ldm    r8!, {r10, lr}\n\t"             \
    "smlad  r9, r10, r2, r9\n\t"            \
    "smlad  r9, lr, r3, r9\n\t"             \
    "ldm    r8!, {r10, lr}\n\t"             \
    "smlad  r9, r10, r4, r9\n\t"            \
    "smlad  r9, lr, r5, r9\n\t"             \
    "ldm    r8!, {r10, lr}\n\t"             \
    "smlad  r9, r10, r6, r9\n\t"            \
    "smlad  r9, lr, r7, r9\n\t"             \
    "ldm    r8!, {r10, lr}\n\t"             \
    "smmlar lr, r9, r10, lr\n\t"            \
    "add    lr, lr, r9, asr #31\n\t"        \
    "ldr    r10, [r8], #4\n\t"              \
    "asr    lr, lr, r10\n\t"                \
    TG_NRW8_PUT_##J
#define TG_NRW8_PUT_0 "ssat   r12, #8, lr\n\t"
#define TG_NRW8_PUT_1 "ssat   r9, #8, lr\n\t" "bfi    r12, r9, #8, #8\n\t"
#define TG_NRW8_PUT_2 "ssat   r9, #8, lr\n\t" "bfi    r12, r9, #16, #8\n\t"
#define TG_NRW8_PUT_3 "ssat   r9, #8, lr\n\t" "bfi    r12, r9, #24, #8\n\t"

void tg_narrow_px8(tg_narrow_t *st, int8_t *out);
__attribute__((naked, noinline)) void tg_narrow_px8(tg_narrow_t *st __attribute__((unused)),
                                                    int8_t *out __attribute__((unused)))
{
    __asm__("push   {r0, r4-r11, lr}\n\t"
            "mov    r11, r1\n\t"
            "1:\n\t"
            "ldr    r12, [sp]\n\t"
            "ldm    r12, {r8, r9, r10}\n\t"
            "ldr    r1, [r8]\n\t"
            "ldr    r3, [r8, #4]\n\t"
            "ldr    r5, [r8, #8]\n\t"
            "ldr    r7, [r8, #12]\n\t"
            "add    r8, r8, r10\n\t"
            "sub    r9, r9, #1\n\t"
            "strd   r8, r9, [r12]\n\t"
            "ldr    r8, [r12, #20]\n\t"
            TG_NRW_WIDEN6
            "sxtb16 r6, r7\n\t"
            "sxtb16 r7, r7, ror #8\n\t"
            "2:\n\t"
            TG_NRW8_CH(0) TG_NRW8_CH(1) TG_NRW8_CH(2) TG_NRW8_CH(3)
            "ldm    r8!, {r9, r10}\n\t"
            "ssub8  lr, r12, r9\n\t"
            "sel    r12, r12, r9\n\t"
            "ssub8  lr, r12, r10\n\t"
            "sel    r12, r10, r12\n\t"
            "str    r12, [r11], #4\n\t"
            "ldr    lr, [r8], #4\n\t"
            "cmp    lr, #0\n\t"
            "bne    2b\n\t"
            "ldr    r12, [sp]\n\t"
            "ldr    r9, [r12, #4]\n\t"
            "cmp    r9, #0\n\t"
            "bne    1b\n\t"
            "pop    {r0, r4-r11, pc}\n\t");
}
#else
/* The same arithmetic in C99 (cores without the DSP extension, -DTG_PORTABLE). */
static void tg_narrow_px_c(tg_narrow_t *st, int8_t *out, int32_t nw, int32_t oc_n, int32_t act_min,
                           int32_t act_max)
{
    for (; st->n > 0; st->n--, st->in += st->step) {
        int32_t x[16], i, oc;
        const int32_t *r = st->rec;
        for (i = 0; i < nw / 2; i++) {
            const int8_t *s = st->in + i * st->off1; /* word i: 4 i bytes on (one window row) or i rows down */
            x[4 * i] = s[0];
            x[4 * i + 1] = s[2];
            x[4 * i + 2] = s[1];
            x[4 * i + 3] = s[3];
        }
        for (oc = 0; oc < oc_n; oc++, r += nw + 4) {
            uint32_t acc = (uint32_t)r[0];
            int64_t t;
            for (i = 0; i < nw; i++) {
                acc += (uint32_t)((int32_t)(int16_t)(r[1 + i] & 0xFFFF) * x[2 * i] +
                                  (int32_t)(int16_t)((uint32_t)r[1 + i] >> 16) * x[2 * i + 1]);
            }
            t = (int64_t)r[nw + 2] + ((((int64_t)(int32_t)acc * r[nw + 1]) + ((int64_t)1 << 31)) >> 32) -
                ((int32_t)acc < 0);
            out[oc] = (int8_t)tg_clamp(tg_clamp((int32_t)(t >> r[nw + 3]), -128, 127), act_min, act_max);
            if ((oc & 3) == 3) {
                r += 3;
            }
        }
        out += oc_n;
    }
}
#endif

typedef void (*tg_narrow_fn)(tg_narrow_t *st, int8_t *out);

/* the driver and staging run once per row or edge pixel: compiled for size where the compiler allows */
#if defined(__GNUC__) && !defined(__clang__)
#define TG_NRW_SMALL __attribute__((noinline, optimize("Os")))
#else
#define TG_NRW_SMALL __attribute__((noinline))
#endif

#if TG_DSP
#define TG_NRW_FENCE() tg_barrier()
#define TG_NRW_NOLIB() TG_NO_LIBCALL()
#else
#define TG_NRW_FENCE() ((void)0)
#define TG_NRW_NOLIB() ((void)0)
#endif

/* The driver: output rows in runs of pixels whose windows lie inside the input (no word read past the
 * input's end), the others one at a time from a staged copy (padded taps = input_zp). */
/* The window of the output pixel at (y0, x0) (top-left tap) as k_h rows of w_row bytes, padded taps = input_zp. */
TG_NRW_SMALL static void tg_narrow_stage(const tg_conv_params_t *p, const int8_t *in_b,
                                                                      int32_t y0, int32_t x0, int8_t *s)
{
    const int32_t cin = p->in_c;
    int32_t ky, t;
    for (ky = y0; ky < y0 + p->k_h; ky++) {
        int32_t ix = x0, c = 0;
        for (t = 0; t < p->w_row; t++) {
            int8_t v = (int8_t)p->input_zp;
            if (ix < x0 + p->k_w && (uint32_t)ky < (uint32_t)p->in_h && (uint32_t)ix < (uint32_t)p->in_w) {
                v = in_b[(ky * p->in_w + ix) * cin + c];
            }
            if (++c == cin) {
                c = 0;
                ix++;
            }
            *s++ = v;
            TG_NRW_NOLIB();
        }
    }
}

TG_NRW_SMALL static void tg_conv2d_narrow(const tg_conv_params_t *p,
                                                                       const int8_t *input, int8_t *output,
                                                                       tg_narrow_fn fn, int32_t nw)
{
    /* the generator writes a 1x1 filter at stride 1 without padding as one row of pixels (in_h = out_h = 1)
     * and the output columns whose windows lie inside the input's columns, [pairs, depth_multiplier) */
    const int32_t cin = p->in_c, k_h = p->k_h, in_h = p->in_h, in_w = p->in_w, sw = p->stride_w;
    const int32_t q4 = p->w_row;                     /* bytes read per window row (whole words) */
    const int32_t row = in_w * cin, step = sw * cin;
    const int32_t in_size = in_h * row;
    const int32_t off = k_h == 1 ? 4 : row;
    const int8_t *in_b = input;
    int32_t b, oy, ox;
    uint32_t stage[4];
    tg_narrow_t st;
    st.rec = (const int32_t *)p->weights;
    for (b = 0; b < p->batches; b++, in_b += in_size) {
        for (oy = 0; oy < p->out_h; oy++) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            for (ox = 0; ox < p->out_w; ox += st.n, output += st.n * p->out_c) {
                const int32_t x0 = ox * sw - p->pad_left;
                const int8_t *src = in_b + y0 * row + x0 * cin;
                /* pixels ox .. ox + n - 1: windows inside, the last word read within the input */
                int32_t n = 0;
                if (y0 >= 0 && y0 + k_h <= in_h && ox >= p->pairs && ox < p->depth_multiplier) {
                    n = p->depth_multiplier - ox;
                    while (n > 0 && src + (n - 1) * step + (k_h - 1) * row + q4 > in_b + in_size) {
                        n--;
                    }
                }
                st.in = src;
                st.step = step;
                st.off1 = off;
                st.off2 = 2 * off;
                if (n == 0) {
                    tg_narrow_stage(p, in_b, y0, x0, (int8_t *)stage);
                    n = 1;
                    st.in = (const int8_t *)stage;
                    st.off1 = 4;
                    st.off2 = 8;
                }
                st.n = n;
                TG_NRW_FENCE();
#if TG_DSP
                (void)nw;
                fn(&st, output);
#else
                (void)fn;
                tg_narrow_px_c(&st, output, nw, p->out_c, p->act_min, p->act_max);
#endif
                st.n = n;
                TG_NRW_FENCE();
            }
        }
    }
}

#if TG_DSP
#define TG_NARROW_FN(NW) tg_narrow_px##NW
#else
#define TG_NARROW_FN(NW) NULL
#endif

#define TG_NARROW_ENTRY(NW)                                                                                \
    void tg_conv2d_dspn##NW##_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch) \
    {                                                                                                      \
        (void)scratch;                                                                                     \
        tg_conv2d_narrow(p, input, output, TG_NARROW_FN(NW), NW);                                          \
    }

TG_NARROW_ENTRY(2)
TG_NARROW_ENTRY(4)
TG_NARROW_ENTRY(6)
TG_NARROW_ENTRY(8)

/* ================================================================== entry points
 * The generator calls tg_conv2d_dsp_s8 for ops it gave a DSP requantization (dsp != 0) and the C99
 * entries for the others, so that a DSP build links the C99 code only where some op needs it. */

void tg_conv2d_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch)
{
#if TG_MVE
    if (tg_conv2d_mve(p, input, output, scratch)) { /* Helium (tg_mve.c): 1x1 filters without scratch */
        return;
    }
#endif
    (void)scratch;
    tg_conv2d_c(p, input, output);
}

void tg_conv2d_1x1_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch)
{
#if TG_MVE
    if (tg_conv2d_mve(p, input, output, scratch)) {
        return;
    }
#endif
    (void)scratch;
    tg_conv2d_1x1_c(p, input, output);
}

#if !TG_DSP
/* acc[j] += w_j . xa, acc[4 + j] += w_j . xb for the filters j < 4 (w_row apart): two output pixels,
 * each weight loaded once for two multiply-adds */
static void tg_mac2x4_s8(int32_t *acc, const int8_t *w, int32_t w_row, const int8_t *xa, const int8_t *xb, int32_t n)
{
    const int8_t *w0 = w, *w1 = w + w_row, *w2 = w1 + w_row, *w3 = w2 + w_row;
    const int8_t *end = xa + (n & ~1);
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int32_t b0 = acc[4], b1 = acc[5], b2 = acc[6], b3 = acc[7];
    while (xa != end) {
        int32_t u = xa[0], v = xb[0], k;
        k = w0[0]; a0 += k * u; b0 += k * v;
        k = w1[0]; a1 += k * u; b1 += k * v;
        k = w2[0]; a2 += k * u; b2 += k * v;
        k = w3[0]; a3 += k * u; b3 += k * v;
        u = xa[1];
        v = xb[1];
        k = w0[1]; a0 += k * u; b0 += k * v;
        k = w1[1]; a1 += k * u; b1 += k * v;
        k = w2[1]; a2 += k * u; b2 += k * v;
        k = w3[1]; a3 += k * u; b3 += k * v;
        xa += 2;
        xb += 2;
        w0 += 2;
        w1 += 2;
        w2 += 2;
        w3 += 2;
    }
    if (n & 1) {
        const int32_t u = *xa, v = *xb;
        a0 += *w0 * u; b0 += *w0 * v;
        a1 += *w1 * u; b1 += *w1 * v;
        a2 += *w2 * u; b2 += *w2 * v;
        a3 += *w3 * u; b3 += *w3 * v;
    }
    acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3;
    acc[4] = b0; acc[5] = b1; acc[6] = b2; acc[7] = b3;
}

/* The k_h x k_w x in_c window of the output pixel at (y0, x0) (top-left tap), padded taps = input_zp,
 * as one contiguous run in col (k_h * k_w * in_c bytes; groups == 1). */
static void tg_im2col_s8(const tg_conv_params_t *p, const int8_t *in_b, int32_t y0, int32_t x0, int8_t *col)
{
    const int32_t c = p->in_c;
    int32_t ky, kx;
    for (ky = 0; ky < p->k_h; ky++) {
        const int32_t iy = y0 + ky * p->dil_h;
        if (iy < 0 || iy >= p->in_h) {
            memset(col, p->input_zp, (size_t)p->k_w * c);
            col += p->k_w * c;
            continue;
        }
        if (p->dil_w == 1 && x0 >= 0 && x0 + p->k_w <= p->in_w) {
            memcpy(col, in_b + ((size_t)iy * p->in_w + x0) * c, (size_t)p->k_w * c);
            col += p->k_w * c;
            continue;
        }
        for (kx = 0; kx < p->k_w; kx++, col += c) {
            const int32_t ix = x0 + kx * p->dil_w;
            if (ix < 0 || ix >= p->in_w) {
                memset(col, p->input_zp, (size_t)c);
            } else {
                memcpy(col, in_b + ((size_t)iy * p->in_w + ix) * c, (size_t)c);
            }
        }
    }
}

/* Packed channel pairs (pairs = 1, see tg_conv2d_packed_c): per 4 taps t0..t3 the halfwords
 * H(t0), H(t2), H(t1), H(t3), H = 256 * w_odd + w_even, whose low byte is w_even. Two pair blocks
 * (g0, g1) meet two pixels: E += w_even * x, S += H * x per pair and pixel, and then the odd channel's
 * sum is (S - E) / 256, exact because the generator packs only convolutions whose odd sums stay
 * below 2^23 in magnitude (wrapping arithmetic in between). out: e0a, o0a, e1a, o1a, e0b, o0b, e1b, o1b. */
/* the int16 at a (2-byte aligned: the packed weights are a 4-byte aligned array of 8-byte groups) */
#if defined(__GNUC__)
typedef int16_t tg_i16_alias __attribute__((may_alias, aligned(2)));
TG_INLINE int32_t tg_ld_h(const int8_t *a)
{
    return *(const tg_i16_alias *)(const void *)a;
}
#else
TG_INLINE int32_t tg_ld_h(const int8_t *a)
{
    return (int16_t)((uint16_t)(uint8_t)a[0] | (uint16_t)((uint16_t)(uint8_t)a[1] << 8));
}
#endif

/* one tap J of both pixels (xa, xb) against both channels' packed weights (g0, g1) */
#define TG_MACPK_TAP(J)                                                                                      \
    do {                                                                                                     \
        const int32_t u = xa[J], v = xb[J], o = pos[J];                                                      \
        const int32_t we0 = g0[o], h0 = tg_ld_h(g0 + o);                                                     \
        const int32_t we1 = g1[o], h1 = tg_ld_h(g1 + o);                                                     \
        e0a += (uint32_t)(we0 * u);                                                                          \
        s0a += (uint32_t)(h0 * u);                                                                           \
        e1a += (uint32_t)(we1 * u);                                                                          \
        s1a += (uint32_t)(h1 * u);                                                                           \
        e0b += (uint32_t)(we0 * v);                                                                          \
        s0b += (uint32_t)(h0 * v);                                                                           \
        e1b += (uint32_t)(we1 * v);                                                                          \
        s1b += (uint32_t)(h1 * v);                                                                           \
    } while (0)

static void tg_macpk_s8(int32_t *out, const int8_t *g0, const int8_t *g1, const int8_t *xa, const int8_t *xb,
                        int32_t k)
{
    static const uint8_t pos[4] = {0, 4, 2, 6};   /* byte offset of tap t's halfword in its group */
    uint32_t e0a = 0, s0a = 0, e1a = 0, s1a = 0, e0b = 0, s0b = 0, e1b = 0, s1b = 0;
    const int8_t *end = xa + (k & ~3);
    int32_t t;
#if defined(__GNUC__)
    g0 = (const int8_t *)__builtin_assume_aligned(g0, 4);
    g1 = (const int8_t *)__builtin_assume_aligned(g1, 4);
#endif
    while (xa != end) {
        int32_t j;
        for (j = 0; j < 4; j++) {     /* unrolled by the compiler: constant offsets */
            TG_MACPK_TAP(j);
        }
        xa += 4;
        xb += 4;
        g0 += 8;
        g1 += 8;
    }
    for (t = 0; t < (k & 3); t++) {
        TG_MACPK_TAP(t);
    }
    out[0] = (int32_t)e0a;
    out[1] = (int32_t)(s0a - e0a) >> 8;
    out[2] = (int32_t)e1a;
    out[3] = (int32_t)(s1a - e1a) >> 8;
    out[4] = (int32_t)e0b;
    out[5] = (int32_t)(s0b - e0b) >> 8;
    out[6] = (int32_t)e1b;
    out[7] = (int32_t)(s1b - e1b) >> 8;
}

/* The ops the generator gave a DSP kernel, on a core without it (RV32, -DTG_PORTABLE): the kernel
 * scratch (>= 4 * w_row bytes, see tinygen/ops/conv.py) holds the windows of two output pixels
 * (im2col; a 1x1 stride-any convolution without padding reads the input directly), and every
 * weight meets both: 2 pixels x 4 filters per pass over one K = k_h * k_w * in_c run. */
static void tg_conv2d_col_c(const tg_conv_params_t *p, const int8_t *input, int8_t *output, int8_t *scratch,
                            int packed)
{
    const int32_t k = p->k_h * p->k_w * p->in_c, w_row = p->w_row;
    const int32_t npix = p->out_h * p->out_w;
    const int direct = p->k_h == 1 && p->k_w == 1 && p->pad_top == 0 && p->pad_left == 0;
    int32_t b, q, oc, j;
    for (b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + (size_t)b * p->in_h * p->in_w * p->in_c;
        int8_t *out_b = output + (size_t)b * npix * p->out_c;
        int32_t oy = 0, ox = 0;
        for (q = 0; q < npix; q += 2) {
            const int two = q + 1 < npix;
            const int8_t *xa, *xb;
            int8_t *oa = out_b + (size_t)q * p->out_c, *ob = oa + p->out_c;
            int32_t oy2 = oy, ox2 = ox + 1;
            if (ox2 == p->out_w) {
                ox2 = 0;
                oy2++;
            }
            if (direct) {
                xa = in_b + ((size_t)(oy * p->stride_h) * p->in_w + (size_t)(ox * p->stride_w)) * p->in_c;
                xb = two ? in_b + ((size_t)(oy2 * p->stride_h) * p->in_w + (size_t)(ox2 * p->stride_w)) * p->in_c : xa;
            } else {
                tg_im2col_s8(p, in_b, oy * p->stride_h - p->pad_top, ox * p->stride_w - p->pad_left, scratch);
                if (two) {
                    tg_im2col_s8(p, in_b, oy2 * p->stride_h - p->pad_top, ox2 * p->stride_w - p->pad_left,
                                 scratch + w_row);
                }
                xa = scratch;
                xb = two ? scratch + w_row : xa;
            }
            if (packed) {
                /* pair blocks (2q, 2q + 1), and for an odd out_c a last block (out_c - 2, out_c - 1) */
                const int32_t nblk = (p->out_c + 1) >> 1;
                int32_t q2;
                for (q2 = 0; q2 < nblk; q2 += 2) {
                    const int32_t q3 = q2 + 1 < nblk ? q2 + 1 : q2;
                    int32_t acc[8], ch[4];
                    tg_macpk_s8(acc, (const int8_t *)p->weights + (size_t)q2 * 2 * w_row,
                                (const int8_t *)p->weights + (size_t)q3 * 2 * w_row, xa, xb, k);
                    ch[0] = 2 * q2 < p->out_c - 1 ? 2 * q2 : p->out_c - 2;
                    ch[1] = ch[0] + 1;
                    ch[2] = 2 * q3 < p->out_c - 1 ? 2 * q3 : p->out_c - 2;
                    ch[3] = ch[2] + 1;
                    for (j = 0; j < 4; j++) {
                        const int32_t c = ch[j], bias = p->bias[c], mult = TG_RQ_MULT_OF(p, c);
                        const int32_t shift = TG_RQ_SHIFT_OF(p, c);
                        const int32_t zp = p->output_zp, lo = p->act_min, hi = p->act_max;
                        const int8_t ya = tg_requant_s8(tg_wrap_add(acc[j], bias), mult, shift, zp, lo, hi);
                        const int8_t yb = tg_requant_s8(tg_wrap_add(acc[4 + j], bias), mult, shift, zp, lo, hi);
                        oa[c] = ya;
                        if (two) {
                            ob[c] = yb;
                        }
                    }
                }
            }
            for (oc = 0; oc < (packed ? 0 : p->out_c); oc += 4) {
                const int32_t nf = p->out_c - oc < 4 ? p->out_c - oc : 4;
                const int8_t *w = (const int8_t *)p->weights + (size_t)oc * w_row;
                int32_t acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
                if (nf == 4) {
                    tg_mac2x4_s8(acc, w, w_row, xa, xb, k);
                } else {
                    for (j = 0; j < nf; j++) {
                        acc[j] = tg_dot_s8(w + (size_t)j * w_row, xa, k);
                        acc[4 + j] = tg_dot_s8(w + (size_t)j * w_row, xb, k);
                    }
                }
                for (j = 0; j < nf; j++) {
                    /* read before the stores, which may alias *p */
                    const int32_t bias = p->bias[oc + j], mult = TG_RQ_MULT_OF(p, oc + j);
                    const int32_t shift = TG_RQ_SHIFT_OF(p, oc + j);
                    const int32_t zp = p->output_zp, lo = p->act_min, hi = p->act_max;
                    const int8_t ya = tg_requant_s8(tg_wrap_add(acc[j], bias), mult, shift, zp, lo, hi);
                    const int8_t yb = tg_requant_s8(tg_wrap_add(acc[4 + j], bias), mult, shift, zp, lo, hi);
                    oa[oc + j] = ya;
                    if (two) {
                        ob[oc + j] = yb;
                    }
                }
            }
            oy = oy2;
            ox = ox2 + 1;
            if (ox == p->out_w) {
                ox = 0;
                oy++;
            }
        }
    }
}

static void tg_conv2d_any_c(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch)
{
    if (scratch != NULL && p->groups == 1) {
        tg_conv2d_col_c(p, input, output, (int8_t *)scratch, 0);
    } else if (p->k_h == 1 && p->k_w == 1 && p->groups == 1 && p->pad_top == 0 && p->pad_left == 0) {
        tg_conv2d_1x1_c(p, input, output);
    } else {
        tg_conv2d_c(p, input, output);
    }
}
#endif

void tg_conv2d_dsp_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch)
{
#if TG_MVE
    if (tg_conv2d_mve(p, input, output, scratch)) { /* Helium (tg_mve.c) */
        return;
    }
#endif
#if TG_DSP
    tg_conv2d_dsp(p, input, output, scratch, tg_conv_cols, 0);
#else
    tg_conv2d_any_c(p, input, output, scratch);
#endif
}

void tg_conv2d_dspp_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch)
{
#if TG_DSP
    tg_conv2d_dsp(p, input, output, scratch, tg_conv_cols_p, 0);
#else
    if (scratch != NULL && p->groups == 1 && p->out_c >= 2) {
        tg_conv2d_col_c(p, input, output, (int8_t *)scratch, 1);
    } else {
        tg_conv2d_packed_c(p, input, output);
    }
#endif
}

void tg_conv2d_dspl_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch)
{
#if TG_MVE
    if (tg_conv2d_mve(p, input, output, scratch)) { /* Helium (tg_mve.c) */
        return;
    }
#endif
#if TG_DSP
    tg_conv2d_dsp(p, input, output, scratch, tg_conv_cols_l, 0);
#else
    tg_conv2d_any_c(p, input, output, scratch);
#endif
}

/* The same three for ops with in_c % 4 == 0 (the generator's choice where every such op of the model has
 * them: conv_model_only4): the driver without the staging of other channel counts (about 650 B less). */
#if TG_DSP
#define TG_CONV_ENTRY(NAME, COLS, ONLY, FALLBACK)                                                          \
    void NAME(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch)              \
    {                                                                                                      \
        tg_conv2d_dsp(p, input, output, scratch, COLS, ONLY);                                              \
    }
#else
#define TG_CONV_ENTRY(NAME, COLS, ONLY, FALLBACK)                                                          \
    void NAME(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch)              \
    {                                                                                                      \
        FALLBACK(p, input, output, scratch);                                                               \
    }
#endif

TG_CONV_ENTRY(tg_conv2d_dsp4_s8, tg_conv_cols, 4, tg_conv2d_any_c)
TG_CONV_ENTRY(tg_conv2d_dspp4_s8, tg_conv_cols_p, 4, tg_conv2d_dspp_s8)
TG_CONV_ENTRY(tg_conv2d_dspl4_s8, tg_conv_cols_l, 4, tg_conv2d_any_c)

/* ... and for 1x1 filters at stride 1 without padding, in_c % 4 == 0 (conv_model_only1x1: every such model op is
 * one; the driver is then the matrix-product loop alone) */
TG_CONV_ENTRY(tg_conv2d_dsp1_s8, tg_conv_cols, 1, tg_conv2d_any_c)
TG_CONV_ENTRY(tg_conv2d_dspp1_s8, tg_conv_cols_p, 1, tg_conv2d_dspp_s8)
TG_CONV_ENTRY(tg_conv2d_dspl1_s8, tg_conv_cols_l, 1, tg_conv2d_any_c)
