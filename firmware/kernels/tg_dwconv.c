/*
 * DEPTHWISE_CONV_2D, int8 (TFLM reference_integer_ops::DepthwiseConvPerChannel semantics), with
 * the zero-point term folded into the bias as in tg_conv.c:
 *
 *   acc = sum over taps inside the image of w * x  +  sum over padded taps of w * input_zp
 *       + bias_folded                       (bias_folded = bias - input_zp * sum(w))
 *
 * Weights: int16, [out_c / 4 rounded up][k_h * k_w][4] in the lane order c0, c2, c1, c3 (see
 * tg_conv_params_t). Two implementations: C99, and Cortex-M DSP (TG_DSP) for ops the generator
 * marked `dsp`.
 */
#include "tg_kernels.h"
#include "tg_requant.h"

TG_INLINE int8_t tg_rq_c(int32_t acc, const tg_rq_t *rq, const tg_conv_params_t *p)
{
    return tg_requant_s8(acc, rq->mult, TG_RQ_SHIFT(rq), p->output_zp, p->act_min, p->act_max);
}

/* ================================================================== C99 */

static void tg_dwconv_c(const tg_conv_params_t *p, const int8_t *input, int8_t *output)
{
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
                        /* taps of channel oc: 4 apart, in its group of 4 channels */
                        static const uint8_t lane[4] = {0, 2, 1, 3};
                        const int16_t *w = (const int16_t *)p->weights + (size_t)(oc >> 2) * taps * 4 + lane[oc & 3];
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
                        acc = tg_wrap_add(acc, p->bias[oc]);
                        *output++ = tg_rq_c(acc, &p->rq[oc], p);
                    }
                }
            }
        }
    }
}

/* ================================================================== Cortex-M DSP */
#if TG_DSP

/*
 * Depthwise (depth multiplier 1). The scratch holds a ring of R = (k_h - 1) * dil_h + 1
 * padded input rows (left/right/top/bottom padding = input_zp), each widened once to int16
 * pairs in the weights' lane order and stored group-major: [g][px][2 words], g = groups of 4
 * channels, px = 0..wp-1 padded columns. Every tap of every output pixel then reads its
 * 4 channels with one LDRD, with no bounds checks; the weights (int16, laid out by the
 * generator) with another; 4 SMLABB/SMLATT.
 */
typedef struct {
    int32_t groups, wp, rows; /* channel groups, padded row width, ring rows */
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

/* Widen padded input row py (input row py - pad_top) into its ring row: group by group, the
 * padding columns as input_zp pairs, the input's columns with tg_dw_widen. */
static void tg_dw_load_row(const tg_conv_params_t *p, const tg_dw_ring_t *r, const int8_t *in_b, int32_t py)
{
    const int32_t c_n = p->in_c;
    const int32_t full = c_n >> 2;
    const int32_t row_words = r->wp * 2;
    const int32_t iy = py - p->pad_top;
    const uint32_t z = tg_sxtb16(tg_splat4(p->input_zp));
    uint32_t *dst = r->ring + (size_t)(py % r->rows) * r->groups * row_words;
    /* padded columns [px0, px1) hold input columns */
    int32_t px0 = p->pad_left < r->wp ? p->pad_left : r->wp;
    int32_t px1 = p->pad_left + p->in_w < r->wp ? p->pad_left + p->in_w : r->wp;
    int32_t px, g;
    if (iy < 0 || iy >= p->in_h) {
        px0 = px1 = r->wp;
    }
    if (px1 - px0 < 8 && full == r->groups) {
        /* narrow rows: pixel by pixel, all groups of a pixel (one group's row after another) */
        for (px = 0; px < r->wp; px++) {
            uint32_t *d = dst + 2 * px;
            if (px >= px0 && px < px1) {
                tg_dw_widen(d, in_b + ((size_t)iy * p->in_w + (px - p->pad_left)) * c_n, 4, full, row_words * 4);
            } else {
                for (g = 0; g < full; g++, d += row_words) {
                    d[0] = z;
                    d[1] = z;
                    TG_NO_LIBCALL();
                }
            }
        }
        r->tag[py % r->rows] = py;
        return;
    }
    for (g = 0; g < r->groups; g++, dst += row_words) {
        uint32_t *d = dst;
        for (px = 0; px < px0; px++, d += 2) {
            d[0] = z;
            d[1] = z;
            TG_NO_LIBCALL();
        }
        if (px1 > px0) {
            const int8_t *x = in_b + ((size_t)iy * p->in_w + (px0 - p->pad_left)) * c_n + 4 * g;
            if (g < full) {
                tg_dw_widen(d, x, c_n, px1 - px0, 8);
            } else {
                for (px = px0; px < px1; px++, x += c_n) {
                    /* the last 1-3 channels: byte loads, never past the input */
                    uint8_t t[4] = {0, 0, 0, 0};
                    uint32_t v;
                    int32_t k;
                    for (k = 0; k < (c_n & 3); k++) {
                        t[k] = (uint8_t)x[k];
                    }
                    v = tg_ld32(t);
                    d[2 * (px - px0)] = tg_sxtb16(v);
                    d[2 * (px - px0) + 1] = tg_sxtb16_ror8(v);
                }
            }
            d += 2 * (px1 - px0);
        }
        for (px = px1; px < r->wp; px++, d += 2) {
            d[0] = z;
            d[1] = z;
            TG_NO_LIBCALL();
        }
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

/* State of tg_dw3x3_row (field offsets are used by its assembly). */
typedef struct {
    const int32_t *bias;        /* 0: current group's */
    const tg_rq_t *rq;          /* 4 */
    int8_t *out;                /* 8: outputs, pixel after pixel */
    const uint32_t *w;          /* 12 */
    const uint32_t *const *row; /* 16: the 3 ring rows (their first column) */
    int32_t goff;               /* 20: bytes from a ring row's start to the current pixel and group */
    int32_t gstride;            /* 24: bytes from group to group */
    int32_t groups_left;        /* 28 */
    uint32_t lo4, hi4;          /* 32, 36 */
    const int32_t *bias0;       /* 40: the first group's bias, rq, weights */
    const tg_rq_t *rq0;         /* 44 */
    const uint32_t *w0;         /* 48 */
    int32_t groups;             /* 52: groups of 4 channels per pixel, >= 1 */
    int32_t poff;               /* 56: bytes from a ring row's start to the current pixel */
    int32_t px_step;            /* 60: bytes from pixel to pixel (stride_w columns) */
    int32_t pixels_left;        /* 64: >= 1 */
} tg_dwg_t;

/* one row of 3 taps of 4 channels, acc r0..r3: x pairs at [r7 + 0/8/16] (r7 = ring row + goff),
 * weight pairs from [r4]: taps 0 and 1 by one LDM, tap 2 by LDRD */
#define TG_DWG_MAC(xa, xb, wa, wb)          \
    "smlabb r0, " xa ", " wa ", r0\n\t"      \
    "smlatt r2, " xa ", " wa ", r2\n\t"      \
    "smlabb r1, " xb ", " wb ", r1\n\t"      \
    "smlatt r3, " xb ", " wb ", r3\n\t"
#define TG_DWG_ROW(roff)                    \
    "ldr    r7, [r5, #" roff "]\n\t"         \
    "add    r7, r7, r6\n\t"                 \
    "ldm    r4!, {r8-r11}\n\t"              \
    "ldrd   r12, lr, [r7, #0]\n\t"          \
    TG_DWG_MAC("r12", "lr", "r8", "r9")     \
    "ldrd   r12, lr, [r7, #8]\n\t"          \
    TG_DWG_MAC("r12", "lr", "r10", "r11")   \
    "ldrd   r8, r9, [r4], #8\n\t"           \
    "ldrd   r12, lr, [r7, #16]\n\t"         \
    TG_DWG_MAC("r12", "lr", "r8", "r9")
#define TG_DWG_RQ(a)                        \
    "ldm    r12!, {r4, r5, r6}\n\t"         \
    "lsr    r7, r6, #8\n\t"                 \
    "lsl    r8, " a ", r7\n\t"               \
    "smmulr r8, r8, r4\n\t"                 \
    "add    r9, r5, r8, lsl #1\n\t"         \
    "add    r9, r9, r8, asr #31\n\t"        \
    "asr    r9, r9, r6\n\t"                 \
    "ssat   " a ", #8, r9\n\t"

/* 3x3 depthwise, dilation 1: output pixels one after the other, every group of 4 channels
 * (bias, 9 taps x 4 SMLABB/SMLATT, requantization, packed clamp, one 32-bit store). External
 * linkage: the compiler must keep its calling convention (r0 = a). */
void tg_dw3x3_row(tg_dwg_t *a);
__attribute__((naked, noinline)) void tg_dw3x3_row(tg_dwg_t *a __attribute__((unused)))
{
    __asm__(
        "push   {r4-r11, lr}\n\t"
        "sub    sp, sp, #68\n\t"
        "ldm    r0!, {r1-r10}\n\t"
        "stm    sp, {r1-r10}\n\t"
        "ldm    r0, {r1-r7}\n\t"
        "add    r8, sp, #40\n\t"
        "stm    r8, {r1-r7}\n\t"
        "1:\n\t"
        "ldr    r12, [sp, #0]\n\t"
        "ldm    r12!, {r0-r3}\n\t"
        "str    r12, [sp, #0]\n\t"
        "ldrd   r4, r5, [sp, #12]\n\t"
        "ldr    r6, [sp, #20]\n\t"
        TG_DWG_ROW("0") TG_DWG_ROW("4") TG_DWG_ROW("8")
        "str    r4, [sp, #12]\n\t"
        "ldr    r7, [sp, #24]\n\t"
        "add    r6, r6, r7\n\t"
        "str    r6, [sp, #20]\n\t"
        "ldr    r12, [sp, #4]\n\t"
        TG_DWG_RQ("r0") TG_DWG_RQ("r1") TG_DWG_RQ("r2") TG_DWG_RQ("r3")
        "str    r12, [sp, #4]\n\t"
        "bfi    r0, r1, #8, #8\n\t"
        "bfi    r0, r2, #16, #8\n\t"
        "bfi    r0, r3, #24, #8\n\t"
        "ldrd   r4, r5, [sp, #32]\n\t"
        "ssub8  r6, r0, r4\n\t"
        "sel    r0, r0, r4\n\t"
        "ssub8  r6, r0, r5\n\t"
        "sel    r0, r5, r0\n\t"
        "ldr    r4, [sp, #8]\n\t"
        "str    r0, [r4], #4\n\t"
        "str    r4, [sp, #8]\n\t"
        "ldr    r6, [sp, #28]\n\t"
        "subs   r6, r6, #1\n\t"
        "str    r6, [sp, #28]\n\t"
        "bne    1b\n\t"
        /* next pixel: back to the first group, one pixel step along the ring rows */
        "ldr    r6, [sp, #64]\n\t"
        "subs   r6, r6, #1\n\t"
        "beq    2f\n\t"
        "str    r6, [sp, #64]\n\t"
        "ldrd   r0, r1, [sp, #40]\n\t"
        "ldrd   r2, r3, [sp, #48]\n\t"
        "ldrd   r4, r5, [sp, #56]\n\t"
        "add    r4, r4, r5\n\t"
        "str    r0, [sp, #0]\n\t"
        "str    r1, [sp, #4]\n\t"
        "str    r2, [sp, #12]\n\t"
        "str    r3, [sp, #28]\n\t"
        "str    r4, [sp, #56]\n\t"
        "str    r4, [sp, #20]\n\t"
        "b      1b\n\t"
        "2:\n\t"
        "add    sp, sp, #68\n\t"
        "pop    {r4-r11, pc}\n\t");
}

static void tg_dwconv_dsp(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch)
{
    const int32_t c_n = p->in_c;
    const uint32_t lo4 = tg_splat4(p->act_min), hi4 = tg_splat4(p->act_max);
    const int fast3 = p->k_w == 3 && p->dil_w == 1;
    tg_dw_ring_t r;
    int32_t b, oy, ox, ky, kx, g, k;
    r.groups = (c_n + 3) >> 2;
    r.wp = (p->out_w - 1) * p->stride_w + (p->k_w - 1) * p->dil_w + 1;
    r.rows = (p->k_h - 1) * p->dil_h + 1;
    r.tag = (int32_t *)scratch;
    r.ring = (uint32_t *)scratch + ((r.rows + 1) & ~1);
    for (b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + (size_t)b * p->in_h * p->in_w * c_n;
        for (k = 0; k < r.rows; k++) {
            r.tag[k] = -1;
            TG_NO_LIBCALL();
        }
        for (oy = 0; oy < p->out_h; oy++) {
            const uint32_t *row[16];
            tg_barrier(); /* the previous row's reads are done before the ring is written */
            const int32_t gstride = r.wp * 2; /* words from one group's row to the next */
            for (ky = 0; ky < p->k_h; ky++) {
                const int32_t py = oy * p->stride_h + ky * p->dil_h;
                if (r.tag[py % r.rows] != py) {
                    tg_dw_load_row(p, &r, in_b, py);
                }
                row[ky] = r.ring + (size_t)(py % r.rows) * r.groups * gstride;
            }
            tg_barrier();
            ox = 0;
            if (fast3 && p->k_h == 3 && c_n >= 4) {
                /* the whole row of pixels (c_n a multiple of 4) or one pixel at a time (the last
                 * 1-3 channels in C below) */
                tg_dwg_t a;
                const int whole = (c_n & 3) == 0;
                a.bias = a.bias0 = p->bias;
                a.rq = a.rq0 = p->rq;
                a.out = output;
                a.w = a.w0 = (const uint32_t *)p->weights;
                a.row = row;
                a.goff = a.poff = 0;
                a.gstride = gstride * 4;
                a.groups_left = a.groups = c_n >> 2;
                a.lo4 = lo4;
                a.hi4 = hi4;
                a.px_step = p->stride_w * 8;
                a.pixels_left = whole ? p->out_w : 1;
                if (whole) {
                    tg_dw3x3_row(&a);
                    output += (size_t)p->out_w * c_n;
                    continue;
                }
            }
            for (; ox < p->out_w; ox++, output += c_n) {
                const int32_t px_off = ox * p->stride_w * 2;
                const uint32_t *w = (const uint32_t *)p->weights;
                g = 0;
                if (fast3 && p->k_h == 3 && c_n >= 4) {
                    tg_dwg_t a;
                    a.bias = a.bias0 = p->bias;
                    a.rq = a.rq0 = p->rq;
                    a.out = output;
                    a.w = a.w0 = w;
                    a.row = row;
                    a.goff = a.poff = px_off * 4;
                    a.gstride = gstride * 4;
                    a.groups_left = a.groups = c_n >> 2;
                    a.lo4 = lo4;
                    a.hi4 = hi4;
                    a.px_step = 0;
                    a.pixels_left = 1;
                    tg_dw3x3_row(&a);
                    g = c_n >> 2;
                    w += (size_t)g * 18;
                }
                for (; g < r.groups; g++) {
                    const int32_t c = 4 * g;
                    const int32_t goff = g * gstride + px_off;
                    const tg_rq_t *rq = p->rq + c;
                    int32_t a[4];
                    uint32_t v;
                    if (c + 4 <= c_n) {
                        a[0] = p->bias[c];
                        a[1] = p->bias[c + 1];
                        a[2] = p->bias[c + 2];
                        a[3] = p->bias[c + 3];
                    } else {
                        a[0] = p->bias[c];
                        a[1] = c + 1 < c_n ? p->bias[c + 1] : 0;
                        a[2] = c + 2 < c_n ? p->bias[c + 2] : 0;
                        a[3] = 0;
                    }
                    {
                        const int32_t xstep = 2 * p->dil_w;
                        int32_t a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
                        for (ky = 0; ky < p->k_h; ky++) {
                            const uint32_t *x = row[ky] + goff;
                            for (kx = 0; kx < p->k_w; kx++, w += 2, x += xstep) {
                                TG_DW_TAP(x, w);
                            }
                        }
                        a[0] = a0;
                        a[1] = a1;
                        a[2] = a2;
                        a[3] = a3;
                    }
                    if (c + 4 <= c_n) {
                        v = tg_pack4(tg_rq_sat8(a[0], rq), tg_rq_sat8(a[1], rq + 1), tg_rq_sat8(a[2], rq + 2),
                                     tg_rq_sat8(a[3], rq + 3));
                        tg_st32(output + c, tg_clamp4(v, lo4, hi4));
                    } else {
                        /* last 1-3 channels (the padded lanes' parameters repeat channel c) */
                        v = tg_pack4(tg_rq_sat8(a[0], rq), tg_rq_sat8(a[1], c + 1 < c_n ? rq + 1 : rq),
                                     tg_rq_sat8(a[2], c + 2 < c_n ? rq + 2 : rq), 0);
                        v = tg_clamp4(v, lo4, hi4);
                        for (k = c; k < c_n; k++, v >>= 8) {
                            output[k] = (int8_t)v;
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
