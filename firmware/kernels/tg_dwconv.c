/*
 * DEPTHWISE_CONV_2D, int8 (TFLM reference_integer_ops::DepthwiseConvPerChannel semantics), any
 * depth multiplier, filter size, stride, dilation and padding, with the zero-point term folded
 * into the bias as in tg_conv.c:
 *
 *   acc = sum over taps inside the image of w * x  +  sum over padded taps of w * input_zp
 *       + bias_folded                       (bias_folded = bias - input_zp * sum(w))
 *
 * Parameters (laid out by tinygen/ops/conv.py, dw_blocks): `weights` holds, per group of 4 output
 * channels c0..c3, an int32 block of TG_DW_BLOCK(taps) words:
 *   bias[4] (folded), then per tap 2 words of int16 weights (c0, c2), (c1, c3) (the lanes SXTB16 /
 *   SXTB16 ROR 8 make of 4 int8 inputs), then rq[4][4], one row {mult, klo, khi, rm1} per channel;
 * `bias` and `rq` are unused. Requantization rows: TFLM shift = -(rm1 + 1); rm1 >= 0 (a right
 * shift of rm1 + 1) is done by the exact DSP requantization (tg_rqx_sat8, one SMLAL: TFLM's
 * SaturatingRoundingDoublingHighMul + RoundingDivideByPOT for every accumulator), rm1 < 0
 * (shift >= 0) by tg_requant_s8 (tg_rqx_t rows, see tg_kernels.h / tg_requant.h).
 *
 * Two implementations: C99 (any CPU), and Cortex-M DSP (TG_DSP) for ops the generator marked
 * `dsp` (every depthwise op: the DSP kernel has no precondition).
 */
#include "tg_kernels.h"
#include "tg_requant.h"

#define TG_DW_BLOCK(taps) (20 + 2 * (taps))

/* ================================================================== C99 */

static void tg_dwconv_c(const tg_conv_params_t *p, const int8_t *input, int8_t *output)
{
    static const uint8_t lane[4] = {0, 2, 1, 3};
    const int32_t dm = p->depth_multiplier;
    const int32_t taps = p->k_h * p->k_w;
    int32_t b, oy, ox, ic, m, ky, kx;
    for (b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + (size_t)b * p->in_h * p->in_w * p->in_c;
        for (oy = 0; oy < p->out_h; oy++) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            for (ox = 0; ox < p->out_w; ox++) {
                const int32_t x0 = ox * p->stride_w - p->pad_left;
                for (ic = 0; ic < p->in_c; ic++) {
                    for (m = 0; m < dm; m++) {
                        const int32_t oc = ic * dm + m;
                        const int32_t *blk = (const int32_t *)p->weights + (size_t)(oc >> 2) * TG_DW_BLOCK(taps);
                        const int32_t *rq = blk + 4 + 2 * taps + 4 * (oc & 3);
                        /* taps of channel oc: 4 int16 apart */
                        const int16_t *w = (const int16_t *)(blk + 4) + lane[oc & 3];
                        int32_t acc = 0;
                        int32_t pad_sum = 0;
                        for (ky = 0; ky < p->k_h; ky++) {
                            const int32_t iy = y0 + ky * p->dil_h;
                            for (kx = 0; kx < p->k_w; kx++, w += 4) {
                                const int32_t ix = x0 + kx * p->dil_w;
                                if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
                                    pad_sum += *w;
                                } else {
                                    acc += (int32_t)*w * (int32_t)in_b[((size_t)iy * p->in_w + ix) * p->in_c + ic];
                                }
                            }
                        }
                        acc += pad_sum * p->input_zp;
                        acc = tg_wrap_add(acc, blk[oc & 3]);
                        *output++ = tg_requant_s8(acc, rq[0], -(rq[3] + 1), p->output_zp, p->act_min, p->act_max);
                    }
                }
            }
        }
    }
}

/* ================================================================== Cortex-M DSP */
#if TG_DSP

/*
 * Ring kernel. The output is computed group by group (4 output channels) over the whole plane;
 * for one group the scratch holds a ring of R = (k_h - 1) * dil_h + 1 padded input rows
 * (padding = input_zp), each widened once to int16 pairs in the weights' lane order: [px][2
 * words], px = 0..wp-1 padded columns. Every tap of an output pixel reads its 4 channels with one
 * LDRD and no bounds check, the weights with another, 4 SMLABB/SMLATT. A depth multiplier > 1
 * only changes how a ring row is filled (lane j holds input channel (4g + j) / dm). Scratch:
 * R tag words, k_h row pointers, R * wp * 8 bytes: a few hundred bytes, not a whole row of
 * every channel.
 */
typedef struct {
    int32_t wp, rows; /* padded row width, ring rows */
    int32_t *tag;     /* padded row held by each ring row, -1: none */
    uint32_t *ring;   /* rows * wp * 2 words */
} tg_dw_ring_t;

/* n (>= 1) groups of 4 channels, `step` bytes apart in the input, widened into (c0, c2),
 * (c1, c3) pairs `dstep` bytes apart: 13 instructions per 2 groups */
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

/* Widen padded input row py (input row py - pad_top) of group g into its ring row: padding
 * columns as input_zp pairs; depth multiplier 1 and a whole group: tg_dw_widen, else lane by
 * lane (ic[j]: input channel of lane j, -1: a lane past the last channel). */
static void tg_dw_load_row(const tg_conv_params_t *p, const tg_dw_ring_t *r, const int8_t *in_b, int32_t py,
                           int32_t g, const int32_t *ic)
{
    const int32_t c_n = p->in_c;
    const int32_t iy = py - p->pad_top;
    const uint32_t z = tg_sxtb16(tg_splat4(p->input_zp));
    uint32_t *dst = r->ring + (size_t)(py % r->rows) * r->wp * 2;
    /* padded columns [px0, px1) hold input columns */
    int32_t px0 = p->pad_left < r->wp ? p->pad_left : r->wp;
    int32_t px1 = p->pad_left + p->in_w < r->wp ? p->pad_left + p->in_w : r->wp;
    int32_t px;
    if (iy < 0 || iy >= p->in_h) {
        px0 = px1 = r->wp;
    }
    for (px = 0; px < px0; px++) {
        dst[2 * px] = z;
        dst[2 * px + 1] = z;
        TG_NO_LIBCALL();
    }
    if (px1 > px0) {
        const int8_t *x = in_b + ((size_t)iy * p->in_w + (px0 - p->pad_left)) * c_n;
        if (p->depth_multiplier == 1 && 4 * g + 4 <= c_n) {
            tg_dw_widen(dst + 2 * px0, x + 4 * g, c_n, px1 - px0, 8);
        } else {
            for (px = px0; px < px1; px++, x += c_n) {
                const int32_t v0 = ic[0] >= 0 ? x[ic[0]] : 0, v1 = ic[1] >= 0 ? x[ic[1]] : 0;
                const int32_t v2 = ic[2] >= 0 ? x[ic[2]] : 0, v3 = ic[3] >= 0 ? x[ic[3]] : 0;
                dst[2 * px] = (uint32_t)(uint16_t)v0 | ((uint32_t)v2 << 16);
                dst[2 * px + 1] = (uint32_t)(uint16_t)v1 | ((uint32_t)v3 << 16);
            }
        }
    }
    for (px = px1; px < r->wp; px++) {
        dst[2 * px] = z;
        dst[2 * px + 1] = z;
        TG_NO_LIBCALL();
    }
    r->tag[py % r->rows] = py;
}

/* 4 channels, one tap: x and w are (c0, c2), (c1, c3) int16 pairs */
#define TG_DW_TAP(x, w)                          \
    do {                                         \
        const uint32_t xa_ = (x)[0], xb_ = (x)[1]; \
        const uint32_t wa_ = (w)[0], wb_ = (w)[1]; \
        a0 = tg_smlabb(xa_, wa_, a0);            \
        a2 = tg_smlatt(xa_, wa_, a2);            \
        a1 = tg_smlabb(xb_, wb_, a1);            \
        a3 = tg_smlatt(xb_, wb_, a3);            \
    } while (0)

/* State of tg_dw3x3_px (field offsets are used by its assembly). */
typedef struct {
    const int32_t *blk;         /* 0: the group's parameter block */
    const uint32_t *const *row; /* 4: the 3 ring rows (their first column) */
    int32_t xoff;               /* 8: bytes from a ring row's start to the current pixel */
    int32_t px_step;            /* 12: bytes from pixel to pixel (stride_w columns) */
    int8_t *out;                /* 16: the current pixel's 4 outputs */
    int32_t out_step;           /* 20: bytes from pixel to pixel in the output (out_c) */
    int32_t pixels;             /* 24: >= 1 */
    int32_t zp;                 /* 28: output zero point */
    uint32_t lo4, hi4;          /* 32, 36: activation bounds in every byte lane */
} tg_dwk_t;

/* one row of 3 taps of 4 channels, acc r0..r3: x pairs at [r7 + 0/8/16] (r7 = ring row + xoff),
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

/* 3x3 depthwise, dilation 1 along the row, one group of 4 channels whose rows all have rm1 >= 0:
 * output pixels one after the other (bias, 9 taps x 4 SMLABB/SMLATT, exact requantization,
 * packed clamp, one 32-bit store). External linkage: the compiler must keep its calling
 * convention (r0 = a). */
void tg_dw3x3_px(tg_dwk_t *a);
__attribute__((naked, noinline)) void tg_dw3x3_px(tg_dwk_t *a __attribute__((unused)))
{
    __asm__(
        "push   {r4-r11, lr}\n\t"
        "sub    sp, sp, #40\n\t"
        "ldm    r0, {r1-r10}\n\t"
        "stm    sp, {r1-r10}\n\t"
        "1:\n\t"
        "ldr    r4, [sp, #0]\n\t"
        "ldm    r4!, {r0-r3}\n\t"
        "ldrd   r5, r6, [sp, #4]\n\t"
        TG_DWK_ROW("0") TG_DWK_ROW("4") TG_DWK_ROW("8")
        "ldr    r11, [sp, #28]\n\t"
        TG_DWK_RQ("r0") TG_DWK_RQ("r1") TG_DWK_RQ("r2") TG_DWK_RQ("r3")
        "bfi    r0, r1, #8, #8\n\t"
        "bfi    r0, r2, #16, #8\n\t"
        "bfi    r0, r3, #24, #8\n\t"
        "ldrd   r4, r5, [sp, #32]\n\t"
        "ssub8  r6, r0, r4\n\t"
        "sel    r0, r0, r4\n\t"
        "ssub8  r6, r0, r5\n\t"
        "sel    r0, r5, r0\n\t"
        "ldrd   r4, r5, [sp, #16]\n\t"
        "str    r0, [r4]\n\t"
        "add    r4, r4, r5\n\t"
        "str    r4, [sp, #16]\n\t"
        "ldrd   r6, r7, [sp, #8]\n\t"
        "add    r6, r6, r7\n\t"
        "str    r6, [sp, #8]\n\t"
        "ldr    r6, [sp, #24]\n\t"
        "subs   r6, r6, #1\n\t"
        "str    r6, [sp, #24]\n\t"
        "bne    1b\n\t"
        "add    sp, sp, #40\n\t"
        "pop    {r4-r11, pc}\n\t");
}

/* scratch: R tag words (R rounded up to even), k_h row pointers (rounded up to even), the ring */
static void tg_dwconv_dsp(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch)
{
    const int32_t oc_n = p->out_c, dm = p->depth_multiplier;
    const int32_t taps = p->k_h * p->k_w;
    const int32_t groups = (oc_n + 3) >> 2;
    const uint32_t lo4 = tg_splat4(p->act_min), hi4 = tg_splat4(p->act_max);
    const int fast3 = p->k_h == 3 && p->k_w == 3 && p->dil_w == 1;
    const int32_t xstep = 2 * p->dil_w;
    tg_dw_ring_t r;
    const uint32_t **row;
    int32_t b, g, oy, ox, ky, kx, k;
    r.wp = (p->out_w - 1) * p->stride_w + (p->k_w - 1) * p->dil_w + 1;
    r.rows = (p->k_h - 1) * p->dil_h + 1;
    r.tag = (int32_t *)scratch;
    row = (const uint32_t **)((uint32_t *)scratch + ((r.rows + 1) & ~1));
    r.ring = (uint32_t *)scratch + ((r.rows + 1) & ~1) + ((p->k_h + 1) & ~1);
    for (b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + (size_t)b * p->in_h * p->in_w * p->in_c;
        int8_t *out_b = output + (size_t)b * p->out_h * p->out_w * oc_n;
        for (g = 0; g < groups; g++) {
            const int32_t *blk = (const int32_t *)p->weights + (size_t)g * TG_DW_BLOCK(taps);
            const int32_t *rq = blk + 4 + 2 * taps;
            const int whole = 4 * g + 4 <= oc_n;
            const int exact = rq[3] >= 0 && rq[7] >= 0 && rq[11] >= 0 && rq[15] >= 0;
            int32_t ic[4];
            for (k = 0; k < 4; k++) {
                ic[k] = 4 * g + k < oc_n ? (4 * g + k) / dm : -1;
            }
            for (k = 0; k < r.rows; k++) {
                r.tag[k] = -1;
                TG_NO_LIBCALL();
            }
            for (oy = 0; oy < p->out_h; oy++) {
                int8_t *out = out_b + (size_t)oy * p->out_w * oc_n + 4 * g;
                tg_barrier(); /* the previous row's reads are done before the ring is written */
                for (ky = 0; ky < p->k_h; ky++) {
                    const int32_t py = oy * p->stride_h + ky * p->dil_h;
                    if (r.tag[py % r.rows] != py) {
                        tg_dw_load_row(p, &r, in_b, py, g, ic);
                    }
                    row[ky] = r.ring + (size_t)(py % r.rows) * r.wp * 2;
                }
                tg_barrier();
                if (fast3 && whole && exact) {
                    tg_dwk_t a;
                    a.blk = blk;
                    a.row = row;
                    a.xoff = 0;
                    a.px_step = p->stride_w * 8;
                    a.out = out;
                    a.out_step = oc_n;
                    a.pixels = p->out_w;
                    a.zp = p->output_zp;
                    a.lo4 = lo4;
                    a.hi4 = hi4;
                    tg_dw3x3_px(&a);
                    tg_barrier();
                    continue;
                }
                for (ox = 0; ox < p->out_w; ox++, out += oc_n) {
                    const uint32_t *w = (const uint32_t *)blk + 4;
                    const int32_t px_off = ox * p->stride_w * 2;
                    int32_t a0 = blk[0], a1 = blk[1], a2 = blk[2], a3 = blk[3];
                    for (ky = 0; ky < p->k_h; ky++) {
                        const uint32_t *x = row[ky] + px_off;
                        for (kx = 0; kx < p->k_w; kx++, w += 2, x += xstep) {
                            TG_DW_TAP(x, w);
                        }
                    }
                    if (whole && exact) {
                        const uint32_t v = tg_pack4(tg_rqx_sat8(a0, rq, p->output_zp), tg_rqx_sat8(a1, rq + 4, p->output_zp),
                                                    tg_rqx_sat8(a2, rq + 8, p->output_zp),
                                                    tg_rqx_sat8(a3, rq + 12, p->output_zp));
                        tg_st32(out, tg_clamp4(v, lo4, hi4));
                    } else {
                        const int32_t acc[4] = {a0, a1, a2, a3};
                        for (k = 0; k < 4 && 4 * g + k < oc_n; k++) {
                            const int32_t *q = rq + 4 * k;
                            out[k] = tg_requant_s8(acc[k], q[0], -(q[3] + 1), p->output_zp, p->act_min, p->act_max);
                        }
                    }
                }
            }
        }
    }
}

#endif /* TG_DSP */

/* ================================================================== entry point */

void tg_dwconv_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch)
{
#if TG_DSP
    if (p->dsp) {
        tg_dwconv_dsp(p, input, output, scratch);
        return;
    }
#endif
    (void)scratch;
    tg_dwconv_c(p, input, output);
}
