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
 * - DEPTHWISE_CONV_2D (tg_dwconv_mve_s8), three kernels, the first that applies: the plane kernel (3x3
 *   filters, small planes: a channel's padded input plane on the stack, 4 output pixels per vector, a tap
 *   = one gather + one VMLA by the weight), the row kernel (a ring of padded planar rows per channel; 3x3
 *   stride 1 rows in assembly), and the pixel kernel (4 channels on the lanes, any size: per tap a gather
 *   of the inputs, a load of the weights, VMUL + VADD; padded taps add input_zp * w).
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

/* State of tg_mve_ocs (field offsets are used by its assembly). */
typedef struct {
    const int8_t *col[4];  /* 0: the 4 pixels' columns (k int8 taps each) */
    const int8_t *w;       /* 16: the first output channel's filter row */
    int32_t wadj;          /* 20: w_row - k */
    int32_t chunks;        /* 24: k / 16 (>= 1; k a multiple of 16) */
    const int32_t *bias;   /* 28 */
    const int32_t *rq;     /* 32: per output channel {mult, left shift, -right shift, 1 if right > 0} */
    int8_t *o;             /* 36: the first output channel of the first pixel */
    int32_t n;             /* 40: output channels, >= 1 */
    int32_t zp;            /* 44 */
    int32_t lo, hi;        /* 48, 52 */
    uint32_t offs[4];      /* 56: byte offsets of the 4 pixels' outputs */
    int32_t rem;           /* 72: k % 16: the last taps, with predicated loads */
} tg_mve_ocs_t;

/*
 * Every output channel of 4 pixels (the CONV_2D micro-kernel): per channel, the filter row against the 4
 * columns (16 taps per VMLADAVA, 10 instructions per 64 multiply-accumulates; the last k % 16 taps with
 * predicated loads, which read nothing past a row or a column), the 4 sums as one vector, + bias, TFLM's
 * requantization (VSHL, VQRDMULH, the rounding fix-up, VRSHL), + zero point, clamped, one scatter store:
 * about 30 instructions per channel besides the dot products.
 */
void tg_mve_ocs(tg_mve_ocs_t *a);
__attribute__((naked, noinline)) void tg_mve_ocs(tg_mve_ocs_t *a __attribute__((unused)))
{
    __asm__("push   {r4-r11, lr}\n\t"
            "vpush  {d8-d13}\n\t"
            "ldr    r9, [r0, #16]\n\t"
            "ldr    r10, [r0, #36]\n\t"
            "ldr    r11, [r0, #28]\n\t"
            "ldr    r12, [r0, #32]\n\t"
            "add    r1, r0, #56\n\t"
            "vldrw.32 q4, [r1]\n\t"
            "ldr    r1, [r0, #48]\n\t"
            "vdup.32 q5, r1\n\t"
            "ldr    r1, [r0, #52]\n\t"
            "vdup.32 q6, r1\n\t"
            "3:\n\t"
            "ldm    r0, {r1, r3, r5, r7}\n\t"
            "movs   r2, #0\n\t"
            "movs   r4, #0\n\t"
            "movs   r6, #0\n\t"
            "mov    r8, #0\n\t"
            "ldr    lr, [r0, #24]\n\t"
            "wls    lr, lr, 2f\n\t"
            "1:\n\t"
            "vldrb.8 q0, [r9], #16\n\t"
            "vldrb.8 q1, [r1], #16\n\t"
            "vmladava.s8 r2, q1, q0\n\t"
            "vldrb.8 q1, [r3], #16\n\t"
            "vmladava.s8 r4, q1, q0\n\t"
            "vldrb.8 q1, [r5], #16\n\t"
            "vmladava.s8 r6, q1, q0\n\t"
            "vldrb.8 q1, [r7], #16\n\t"
            "vmladava.s8 r8, q1, q0\n\t"
            "le     lr, 1b\n\t"
            "2:\n\t"
            "ldr    lr, [r0, #72]\n\t"
            "cmp    lr, #0\n\t"
            "beq    4f\n\t"
            "vctp.8 lr\n\t"
            "vpstt\n\t"
            "vldrbt.8 q0, [r9]\n\t"
            "vldrbt.8 q1, [r1]\n\t"
            "vpstt\n\t"
            "vmladavat.s8 r2, q1, q0\n\t"
            "vldrbt.8 q1, [r3]\n\t"
            "vpstt\n\t"
            "vmladavat.s8 r4, q1, q0\n\t"
            "vldrbt.8 q1, [r5]\n\t"
            "vpstt\n\t"
            "vmladavat.s8 r6, q1, q0\n\t"
            "vldrbt.8 q1, [r7]\n\t"
            "vpst\n\t"
            "vmladavat.s8 r8, q1, q0\n\t"
            "4:\n\t"
            "vmov   q2[2], q2[0], r2, r6\n\t"
            "vmov   q2[3], q2[1], r4, r8\n\t"
            "ldr    r1, [r11], #4\n\t"
            "vadd.i32 q2, q2, r1\n\t"
            "ldm    r12!, {r2, r4, r6, r8}\n\t"
            "vshl.s32 q2, r4\n\t"
            "vqrdmulh.s32 q2, q2, r2\n\t"
            "vshr.s32 q3, q2, #31\n\t"
            "vmul.i32 q3, q3, r8\n\t"
            "vqadd.s32 q2, q2, q3\n\t"
            "vrshl.s32 q2, r6\n\t"
            "ldr    r1, [r0, #44]\n\t"
            "vadd.i32 q2, q2, r1\n\t"
            "vmax.s32 q2, q2, q5\n\t"
            "vmin.s32 q2, q2, q6\n\t"
            "vstrb.32 q2, [r10, q4]\n\t"
            "add    r10, r10, #1\n\t"
            "ldr    r1, [r0, #20]\n\t"
            "add    r9, r9, r1\n\t"
            "ldr    r1, [r0, #40]\n\t"
            "subs   r1, r1, #1\n\t"
            "str    r1, [r0, #40]\n\t"
            "bne    3b\n\t"
            "vpop   {d8-d13}\n\t"
            "pop    {r4-r11, pc}\n\t");
}

/* Output channels the conv kernel decodes into tg_mve_ocs rows on the stack (16 bytes each). */
#define TG_MVE_OCS_MAX 256

int tg_conv2d_mve(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch)
{
    const int32_t cin = p->in_c, oc_n = p->out_c, w_row = p->w_row;
    const int32_t k = p->k_h * p->k_w * cin;
    const int32_t n = p->batches * p->out_h * p->out_w;
    const size_t in_size = (size_t)p->in_h * p->in_w * cin;
    const int direct = p->k_h == 1 && p->k_w == 1 && p->pad_top == 0 && p->pad_left == 0;
    int8_t *cols = (int8_t *)scratch;
    int32_t rows[4 * TG_MVE_OCS_MAX] __attribute__((aligned(8)));
    tg_mve_ocs_t a;
    int32_t i, j, oc, oc0;
    if (p->groups != 1 || (!direct && scratch == NULL) || k <= 0) {
        return 0;
    }
    a.wadj = w_row - (k & ~15);
    a.chunks = k >> 4;
    a.rem = k & 15;
    a.rq = rows;
    a.zp = p->output_zp;
    a.lo = p->act_min;
    a.hi = p->act_max;
    for (oc0 = 0; oc0 < oc_n; oc0 += TG_MVE_OCS_MAX) { /* (one pass unless out_c > TG_MVE_OCS_MAX) */
        const int32_t noc = oc_n - oc0 < TG_MVE_OCS_MAX ? oc_n - oc0 : TG_MVE_OCS_MAX;
        int32_t b = 0, oy = 0, ox = 0;
        for (oc = 0; oc < noc; oc++) { /* requantization rows, decoded once */
            const int32_t sh = TG_RQ_SHIFT_OF(p, oc0 + oc);
            rows[4 * oc] = TG_RQ_MULT_OF(p, oc0 + oc);
            rows[4 * oc + 1] = sh > 0 ? sh : 0;
            rows[4 * oc + 2] = sh < 0 ? sh : 0;
            rows[4 * oc + 3] = sh < 0;
        }
        a.w = (const int8_t *)p->weights + (size_t)oc0 * w_row;
        a.bias = p->bias + oc0;
        for (i = 0; i < n; i += 4) {
            for (j = 0; j < 4; j++) {
                if (i + j >= n) { /* past the last pixel: the last one again (same value, same place) */
                    a.col[j] = a.col[j - 1];
                    a.offs[j] = a.offs[j - 1];
                    continue;
                }
                a.offs[j] = (uint32_t)(j * oc_n);
                {
                    const int8_t *in_b = input + (size_t)b * in_size;
                    const int32_t y0 = oy * p->stride_h - p->pad_top, x0 = ox * p->stride_w - p->pad_left;
                    if (direct) {
                        a.col[j] = in_b + ((size_t)y0 * p->in_w + x0) * cin;
                    } else {
                        tg_mve_im2col(p, in_b, y0, x0, cols + j * w_row);
                        a.col[j] = cols + j * w_row;
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
            a.o = output + (size_t)i * oc_n + oc0;
            a.n = noc;
            tg_mve_ocs(&a);
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

/* State of tg_add_mve_asm (field offsets are used by its assembly). */
typedef struct {
    const int8_t *a, *b; /* 0, 4 */
    int8_t *o;           /* 8 */
    int32_t n;           /* 12: elements, >= 1 */
    int32_t ls;          /* 16: left shift */
    int32_t m1, s1, f1;  /* 20, 24, 28: input 1 multiplier, shift (<= 0), 1 if shift < 0 */
    int32_t m2, s2, f2;  /* 32, 36, 40 */
    int32_t mo;          /* 44: output multiplier */
    int32_t off1, off2, zp, lo, hi; /* 48, 52, 56, 60, 64 */
    int32_t so, fo;      /* 68, 72: output shift (<= 0), 1 if < 0 */
    int32_t sub;         /* 76: SUB */
} tg_add_mve_t;

/* tg_mve_rq_right of Q (temporary q2) with multiplier M, shift S <= 0, fix-up flag F (registers) */
#define TG_ADD_RQ(Q, M, S, F)                 \
    "vqrdmulh.s32 " Q ", " Q ", " M "\n\t"   \
    "vshr.s32 q2, " Q ", #31\n\t"             \
    "vmul.i32 q2, q2, " F "\n\t"              \
    "vqadd.s32 " Q ", " Q ", q2\n\t"          \
    "vrshl.s32 " Q ", " S "\n\t"
#define TG_ADD_BODY(L, OP)                                                   \
    L ":\n\t"                                                                \
    "vctp.32 r12\n\t"                                                        \
    "vpstt\n\t"                                                              \
    "vldrbt.s32 q0, [r1], #4\n\t"                                            \
    "vldrbt.s32 q1, [r2], #4\n\t"                                            \
    "vadd.i32 q0, q0, q4\n\t"                                                \
    "vadd.i32 q1, q1, q5\n\t"                                                \
    "vshl.s32 q0, r4\n\t"                                                    \
    "vshl.s32 q1, r4\n\t"                                                    \
    TG_ADD_RQ("q0", "r5", "r6", "r7") TG_ADD_RQ("q1", "r8", "r9", "r10")    \
    OP " q0, q0, q1\n\t"                                                     \
    TG_ADD_RQ("q0", "lr", "r0", "r11")                                      \
    "vadd.i32 q0, q0, q6\n\t"                                                \
    "vmax.s32 q0, q0, q7\n\t"                                                \
    "vmin.s32 q0, q0, q3\n\t"                                                \
    "vpst\n\t"                                                               \
    "vstrbt.32 q0, [r3], #4\n\t"                                             \
    "subs   r12, r12, #4\n\t"                                                \
    "bgt    " L "b\n\t"

/* ADD / SUB on 4 elements per iteration, every parameter in a register: 31 instructions per 4 elements. */
void tg_add_mve_asm(const tg_add_mve_t *a);
__attribute__((naked, noinline)) void tg_add_mve_asm(const tg_add_mve_t *a __attribute__((unused)))
{
    __asm__("push   {r4-r11, lr}\n\t"
            "vpush  {d8-d15}\n\t"
            "ldr    r1, [r0, #48]\n\t"
            "vdup.32 q4, r1\n\t" /* off1 */
            "ldr    r1, [r0, #52]\n\t"
            "vdup.32 q5, r1\n\t" /* off2 */
            "ldr    r1, [r0, #56]\n\t"
            "vdup.32 q6, r1\n\t" /* zp */
            "ldr    r1, [r0, #60]\n\t"
            "vdup.32 q7, r1\n\t" /* lo */
            "ldr    r1, [r0, #64]\n\t"
            "vdup.32 q3, r1\n\t" /* hi */
            "ldr    r11, [r0, #72]\n\t" /* fo */
            "ldr    r12, [r0, #76]\n\t" /* sub */
            "add    r4, r0, #16\n\t"
            "ldm    r4, {r4-r10, lr}\n\t" /* ls, m1, s1, f1, m2, s2, f2, mo */
            "cmp    r12, #0\n\t"
            "ldr    r12, [r0, #12]\n\t" /* n */
            "ldm    r0, {r1, r2, r3}\n\t" /* a, b, o */
            "ldr    r0, [r0, #68]\n\t"   /* so */
            "bne    5f\n\t"
            TG_ADD_BODY("4", "vadd.i32")
            "b      6f\n\t"
            TG_ADD_BODY("5", "vsub.i32")
            "6:\n\t"
            "vpop   {d8-d15}\n\t"
            "pop    {r4-r11, pc}\n\t");
}

/* ADD / SUB (the input and output rescalings are TFLM's "smaller than one": shifts <= 0; tg_add_s8 checks),
 * the arithmetic of tg_mve_rq_right on 4 lanes. */
void tg_add_mve(const tg_add_params_t *p, const int8_t *a, const int8_t *b, int8_t *output)
{
    tg_add_mve_t s;
    if (p->shape.size <= 0) {
        return;
    }
    s.a = a;
    s.b = b;
    s.o = output;
    s.n = p->shape.size;
    s.ls = p->left_shift;
    s.m1 = p->input1_multiplier;
    s.s1 = p->input1_shift;
    s.f1 = p->input1_shift < 0;
    s.m2 = p->input2_multiplier;
    s.s2 = p->input2_shift;
    s.f2 = p->input2_shift < 0;
    s.mo = p->output_multiplier;
    s.off1 = p->input1_offset;
    s.off2 = p->input2_offset;
    s.zp = p->output_offset;
    s.lo = p->act_min;
    s.hi = p->act_max;
    s.so = p->output_shift;
    s.fo = p->output_shift < 0;
    s.sub = p->subtract;
    tg_add_mve_asm(&s);
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

/* Planar rows of the row kernel (tg_dwconv_mve_rows): at most this many bytes on the stack. */
#define TG_DW_ROWS_BYTES 3072
#define TG_DW_MAX_KH 16

/* The row kernel's taps for 4 output pixels (lanes) of one channel: acc + sum over ky, kx of
 * w[ky][kx] * rp[ky][off + kx * dw + lane * sw] (rp: the k_h planar rows). */
TG_INLINE int32x4_t tg_dw_row_taps(int32x4_t acc, int8_t *const *rp, int32_t off, const int8_t *w, int32_t k_h,
                                   int32_t k_w, int32_t dw, int32_t sw, uint32x4_t soffs)
{
    int32x4_t x;
    int32_t wv;
    const int8_t *s;
    if (sw == 1 && dw == 1 && k_w == 3) { /* 13 instructions per filter row */
        __asm__ volatile("2:\n\t"
                         "ldr    %[s], [%[rp]], #4\n\t"
                         "add    %[s], %[s], %[off]\n\t"
                         "ldrsb  %[wv], [%[w]], #1\n\t"
                         "vldrb.s32 %q[x], [%[s]]\n\t"
                         "vmla.s32 %q[acc], %q[x], %[wv]\n\t"
                         "ldrsb  %[wv], [%[w]], #1\n\t"
                         "vldrb.s32 %q[x], [%[s], #1]\n\t"
                         "vmla.s32 %q[acc], %q[x], %[wv]\n\t"
                         "ldrsb  %[wv], [%[w]], #1\n\t"
                         "vldrb.s32 %q[x], [%[s], #2]\n\t"
                         "vmla.s32 %q[acc], %q[x], %[wv]\n\t"
                         "subs   %[kh], %[kh], #1\n\t"
                         "bne    2b\n\t"
                         : [acc] "+w"(acc), [x] "=&w"(x), [wv] "=&r"(wv), [s] "=&l"(s), [w] "+r"(w), [kh] "+r"(k_h),
                           [rp] "+r"(rp)
                         : [off] "r"(off)
                         : "cc", "memory");
    } else if (sw == 1) { /* 5 instructions per tap */
        __asm__ volatile("2:\n\t"
                         "ldr    %[s], [%[rp]], #4\n\t"
                         "add    %[s], %[s], %[off]\n\t"
                         "dls    lr, %[kw]\n\t"
                         "1:\n\t"
                         "vldrb.s32 %q[x], [%[s]]\n\t"
                         "ldrsb  %[wv], [%[w]], #1\n\t"
                         "add    %[s], %[s], %[dw]\n\t"
                         "vmla.s32 %q[acc], %q[x], %[wv]\n\t"
                         "le     lr, 1b\n\t"
                         "subs   %[kh], %[kh], #1\n\t"
                         "bne    2b\n\t"
                         : [acc] "+w"(acc), [x] "=&w"(x), [wv] "=&r"(wv), [s] "=&l"(s), [w] "+r"(w), [kh] "+r"(k_h),
                           [rp] "+r"(rp)
                         : [off] "r"(off), [kw] "r"(k_w), [dw] "r"(dw)
                         : "lr", "cc", "memory");
    } else { /* strided: one gather of the 4 pixels per tap */
        __asm__ volatile("2:\n\t"
                         "ldr    %[s], [%[rp]], #4\n\t"
                         "add    %[s], %[s], %[off]\n\t"
                         "dls    lr, %[kw]\n\t"
                         "1:\n\t"
                         "vldrb.s32 %q[x], [%[s], %q[so]]\n\t"
                         "ldrsb  %[wv], [%[w]], #1\n\t"
                         "add    %[s], %[s], %[dw]\n\t"
                         "vmla.s32 %q[acc], %q[x], %[wv]\n\t"
                         "le     lr, 1b\n\t"
                         "subs   %[kh], %[kh], #1\n\t"
                         "bne    2b\n\t"
                         : [acc] "+w"(acc), [x] "=&w"(x), [wv] "=&r"(wv), [s] "=&l"(s), [w] "+r"(w), [kh] "+r"(k_h),
                           [rp] "+r"(rp)
                         : [off] "r"(off), [kw] "r"(k_w), [dw] "r"(dw), [so] "w"(soffs)
                         : "lr", "cc", "memory");
    }
    return acc;
}

/* State of tg_dw3x3_row (3x3 filter, stride and dilation 1 along the row). */
typedef struct {
    const int8_t *r0, *r1, *r2; /* the 3 planar rows, at the first block's first tap */
    const int8_t *w;            /* the channel's 9 weights */
    int8_t *o;                  /* the first block's output (channel oc of its first pixel) */
    int32_t ostep;              /* 4 * out_c */
    int32_t blocks;             /* full blocks of 4 output pixels, >= 1 */
    int32_t mult, left, rneg, fix, zp; /* requantization: fix = 1 where rneg < 0 */
} tg_dw3_t;

/* Full blocks of 4 output pixels of one channel and output row, 3x3 taps from 3 planar rows: 45
 * instructions per block (27 for the taps, 10 for the requantization, clamp and scatter store). */
TG_INLINE void tg_dw3x3_row(const tg_dw3_t *a, int32x4_t bias, uint32x4_t ooffs, int32x4_t lo, int32x4_t hi)
{
    const int8_t *r0 = a->r0, *r1 = a->r1, *r2 = a->r2, *w = a->w;
    int8_t *o = a->o;
    int32_t n = a->blocks, wv;
    int32x4_t acc, x;
    __asm__ volatile("1:\n\t"
                     "vmov   %q[acc], %q[bias]\n\t"
                     "ldrsb  %[wv], [%[w]], #1\n\t"
                     "vldrb.s32 %q[x], [%[r0]]\n\t"
                     "vmla.s32 %q[acc], %q[x], %[wv]\n\t"
                     "ldrsb  %[wv], [%[w]], #1\n\t"
                     "vldrb.s32 %q[x], [%[r0], #1]\n\t"
                     "vmla.s32 %q[acc], %q[x], %[wv]\n\t"
                     "ldrsb  %[wv], [%[w]], #1\n\t"
                     "vldrb.s32 %q[x], [%[r0], #2]\n\t"
                     "vmla.s32 %q[acc], %q[x], %[wv]\n\t"
                     "ldrsb  %[wv], [%[w]], #1\n\t"
                     "vldrb.s32 %q[x], [%[r1]]\n\t"
                     "vmla.s32 %q[acc], %q[x], %[wv]\n\t"
                     "ldrsb  %[wv], [%[w]], #1\n\t"
                     "vldrb.s32 %q[x], [%[r1], #1]\n\t"
                     "vmla.s32 %q[acc], %q[x], %[wv]\n\t"
                     "ldrsb  %[wv], [%[w]], #1\n\t"
                     "vldrb.s32 %q[x], [%[r1], #2]\n\t"
                     "vmla.s32 %q[acc], %q[x], %[wv]\n\t"
                     "ldrsb  %[wv], [%[w]], #1\n\t"
                     "vldrb.s32 %q[x], [%[r2]]\n\t"
                     "vmla.s32 %q[acc], %q[x], %[wv]\n\t"
                     "ldrsb  %[wv], [%[w]], #1\n\t"
                     "vldrb.s32 %q[x], [%[r2], #1]\n\t"
                     "vmla.s32 %q[acc], %q[x], %[wv]\n\t"
                     "ldrsb  %[wv], [%[w]], #-8\n\t"
                     "vldrb.s32 %q[x], [%[r2], #2]\n\t"
                     "vmla.s32 %q[acc], %q[x], %[wv]\n\t"
                     /* TFLM MultiplyByQuantizedMultiplier (see tg_mve.h), + zero point, clamp */
                     "ldr    %[wv], [%[a], #32]\n\t"
                     "vshl.s32 %q[acc], %[wv]\n\t"
                     "ldr    %[wv], [%[a], #28]\n\t"
                     "vqrdmulh.s32 %q[acc], %q[acc], %[wv]\n\t"
                     "vshr.s32 %q[x], %q[acc], #31\n\t"
                     "ldr    %[wv], [%[a], #40]\n\t"
                     "vmul.i32 %q[x], %q[x], %[wv]\n\t"
                     "vqadd.s32 %q[acc], %q[acc], %q[x]\n\t"
                     "ldr    %[wv], [%[a], #36]\n\t"
                     "vrshl.s32 %q[acc], %[wv]\n\t"
                     "ldr    %[wv], [%[a], #44]\n\t"
                     "vadd.i32 %q[acc], %q[acc], %[wv]\n\t"
                     "vmax.s32 %q[acc], %q[acc], %q[lo]\n\t"
                     "vmin.s32 %q[acc], %q[acc], %q[hi]\n\t"
                     "vstrb.32 %q[acc], [%[o], %q[oo]]\n\t"
                     "ldr    %[wv], [%[a], #20]\n\t"
                     "adds   %[r0], #4\n\t"
                     "adds   %[r1], #4\n\t"
                     "adds   %[r2], #4\n\t"
                     "add    %[o], %[o], %[wv]\n\t"
                     "subs   %[n], %[n], #1\n\t"
                     "bne    1b\n\t"
                     : [acc] "=&w"(acc), [x] "=&w"(x), [wv] "=&r"(wv), [r0] "+l"(r0), [r1] "+l"(r1), [r2] "+l"(r2),
                       [w] "+r"(w), [o] "+r"(o), [n] "+r"(n)
                     : [a] "r"(a), [bias] "w"(bias), [oo] "w"(ooffs), [lo] "w"(lo), [hi] "w"(hi)
                     : "cc", "memory");
}

/*
 * DEPTHWISE_CONV_2D, the row kernel: per output channel, the input rows its windows read are gathered
 * (VLDRB.S32 at the channel stride: 4 pixels per instruction) into a ring of planar rows padded with
 * input_zp on the stack, each input row once per channel; then 4 output pixels per vector: per tap one
 * load of their 4 inputs (a gather at stride > 1) and one VMLA by the tap's weight, the channel's
 * requantization on 4 lanes, one scatter store. Returns 0 (nothing done) where the ring would not fit
 * TG_DW_ROWS_BYTES.
 */
static int tg_dwconv_mve_rows(const tg_conv_params_t *p, const int8_t *input, int8_t *output)
{
    int8_t ring[TG_DW_ROWS_BYTES] __attribute__((aligned(4)));
    int8_t *rp[TG_DW_MAX_KH];
    int32_t tag[TG_DW_MAX_KH * 4];
    const int32_t cin = p->in_c, oc_n = p->out_c, dm = p->depth_multiplier;
    const int32_t in_h = p->in_h, in_w = p->in_w, k_h = p->k_h, k_w = p->k_w, taps = k_h * k_w;
    const int32_t sw = p->stride_w, dw = p->dil_w, dh = p->dil_h;
    const int32_t nrows = (k_h - 1) * dh + 1; /* ring rows */
    const int32_t ocp = (oc_n + 3) & ~3;
    /* padded row: every column a block of 4 output pixels reads (the last block's phantom lanes too) */
    const int32_t wp = ((p->out_w + 3) & ~3) * sw + (k_w - 1) * dw;
    const int32_t wpa = (wp + 15) & ~15;
    const int8_t *wplain = (const int8_t *)p->weights + (size_t)ocp * taps; /* [oc][taps] */
    const int32_t *rq = (const int32_t *)(const void *)p->rq;
    const int8x16_t zp16 = vdupq_n_s8((int8_t)p->input_zp);
    const uint32x4_t lane = vidupq_n_u32(0, 1);
    const uint32x4_t coffs = vmulq_n_u32(lane, (uint32_t)cin);  /* 4 input pixels of one channel */
    const uint32x4_t soffs = vmulq_n_u32(lane, (uint32_t)sw);   /* 4 output pixels in a planar row */
    const uint32x4_t ooffs = vmulq_n_u32(lane, (uint32_t)oc_n); /* 4 output pixels of one channel */
    const int32_t x_lo = p->pad_left;                            /* first padded column holding input */
    const int32_t x_hi = p->pad_left + in_w < wp ? p->pad_left + in_w : wp;
    int32_t b, oc, oy, ox0, ky, i;
    if (k_h > TG_DW_MAX_KH || nrows > 4 * TG_DW_MAX_KH || nrows * wpa > TG_DW_ROWS_BYTES) {
        return 0;
    }
    for (b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + (size_t)b * in_h * in_w * cin;
        int8_t *out_b = output + (size_t)b * p->out_h * p->out_w * oc_n;
        for (oc = 0; oc < oc_n; oc++) {
            const int8_t *in_c = in_b + oc / dm;
            const int8_t *w = wplain + (size_t)oc * taps;
            const int32_t *r = rq + 16 * (oc >> 2) + (oc & 3);
            const int32_t mult = r[0], shift = r[4] + r[8], bias = p->bias[oc];
            const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
            for (i = 0; i < nrows; i++) {
                tag[i] = -0x7fffffff; /* no input row yet */
            }
            for (oy = 0; oy < p->out_h; oy++) {
                const int32_t y0 = oy * p->stride_h - p->pad_top;
                int8_t *o = out_b + (size_t)oy * p->out_w * oc_n + oc;
                for (ky = 0; ky < k_h; ky++) {
                    const int32_t iy = y0 + ky * dh;
                    const int32_t slot = ((iy % nrows) + nrows) % nrows;
                    int8_t *dst = ring + slot * wpa;
                    rp[ky] = dst;
                    if (tag[slot] == iy) {
                        continue;
                    }
                    tag[slot] = iy;
                    for (i = 0; i < wpa; i += 16) {
                        vst1q_s8(dst + i, zp16);
                    }
                    if (iy >= 0 && iy < in_h) {
                        const int8_t *src = in_c + (size_t)iy * in_w * cin;
                        for (i = x_lo; i < x_hi; i += 4, src += 4 * cin) {
                            const mve_pred16_t pr = vctp32q((uint32_t)(x_hi - i));
                            vstrbq_p_s32(dst + i, vldrbq_gather_offset_z_s32(src, coffs, pr), pr);
                        }
                    }
                }
                ox0 = 0;
                if (k_h == 3 && k_w == 3 && sw == 1 && dw == 1 && p->out_w >= 4) {
                    tg_dw3_t a;
                    a.r0 = rp[0];
                    a.r1 = rp[1];
                    a.r2 = rp[2];
                    a.w = w;
                    a.o = o;
                    a.ostep = 4 * oc_n;
                    a.blocks = p->out_w >> 2;
                    a.mult = mult;
                    a.left = shift > 0 ? shift : 0;
                    a.rneg = shift < 0 ? shift : 0;
                    a.fix = shift < 0;
                    a.zp = p->output_zp;
                    tg_dw3x3_row(&a, vdupq_n_s32(bias), ooffs, lo, hi);
                    ox0 = 4 * a.blocks;
                    o += (size_t)a.blocks * 4 * oc_n;
                }
                for (; ox0 < p->out_w; ox0 += 4, o += 4 * oc_n) {
                    int32x4_t acc = tg_dw_row_taps(vdupq_n_s32(bias), rp, ox0 * sw, w, k_h, k_w, dw, sw, soffs);
                    acc = tg_mve_out(tg_mve_rq(acc, mult, shift), p->output_zp, lo, hi);
                    vstrbq_scatter_offset_p_s32(o, ooffs, acc, vctp32q((uint32_t)(p->out_w - ox0)));
                }
            }
        }
    }
    return 1;
}

/* State of tg_dw_plane_blocks (field offsets are used by its assembly). */
typedef struct {
    const int8_t *r0, *r1, *r2; /* 0, 4, 8: the plane's rows of filter rows 0, 1, 2 (first block) */
    const int8_t *w;            /* 12: the channel's 9 weights */
    const uint32_t *offs;       /* 16: per block, the 4 lanes' offsets in the plane */
    int8_t *o;                  /* 20: the first block's output (channel oc of pixel 0) */
    int32_t ostep;              /* 24: 4 * out_c */
    int32_t n;                  /* 28: blocks, >= 1 */
    int32_t mult, left, rneg;   /* 32, 36, 40 */
    int32_t fix;                /* 44: 1 where rneg < 0 */
    int32_t bias, zp, lo, hi;   /* 48, 52, 56, 60 */
    int32_t dx;                 /* 64: dilation along the row */
    uint32_t ooffs[4];          /* 68: the lanes' output offsets */
} tg_dwp_t;

/* one column kx of the 3x3 taps: weights at W + kx, + 3, + 6, rows r1 .. r3, lane offsets in q0 */
#define TG_DWP_COL(K0, K1, K2)                        \
    "ldrsb  r12, [r4, #" K0 "]\n\t"                 \
    "vldrb.s32 q1, [r1, q0]\n\t"                      \
    "vmla.s32 q2, q1, r12\n\t"                        \
    "ldrsb  r12, [r4, #" K1 "]\n\t"                 \
    "vldrb.s32 q1, [r2, q0]\n\t"                      \
    "vmla.s32 q2, q1, r12\n\t"                        \
    "ldrsb  r12, [r4, #" K2 "]\n\t"                 \
    "vldrb.s32 q1, [r3, q0]\n\t"                      \
    "vmla.s32 q2, q1, r12\n\t"
#define TG_DWP_LOOP(L, FIX)                           \
    L ":\n\t"                                         \
    "vldrw.32 q0, [r5], #16\n\t"                      \
    "vdup.32 q2, lr\n\t"                              \
    TG_DWP_COL("0", "3", "6")                         \
    "vadd.i32 q0, q0, r0\n\t"                         \
    TG_DWP_COL("1", "4", "7")                         \
    "vadd.i32 q0, q0, r0\n\t"                         \
    TG_DWP_COL("2", "5", "8")                         \
    "vshl.s32 q2, r10\n\t"                            \
    "vqrdmulh.s32 q2, q2, r9\n\t"                     \
    FIX                                               \
    "vrshl.s32 q2, r11\n\t"                           \
    "vadd.i32 q2, q2, q5\n\t"                         \
    "vmax.s32 q2, q2, q6\n\t"                         \
    "vmin.s32 q2, q2, q7\n\t"                         \
    "vstrb.32 q2, [r6, q4]\n\t"                       \
    "add    r6, r6, r7\n\t"                           \
    "subs   r8, r8, #1\n\t"                           \
    "bne    " L "b\n\t"

/* The plane kernel's blocks of one channel (3x3 taps, 4 output pixels per block): 27 instructions of taps,
 * 10 of requantization, clamp and store, 5 of loop: 42 per 36 multiply-accumulates. */
void tg_dw_plane_blocks(const tg_dwp_t *a);
__attribute__((naked, noinline)) void tg_dw_plane_blocks(const tg_dwp_t *a __attribute__((unused)))
{
    __asm__("push   {r4-r11, lr}\n\t"
            "vpush  {d8-d15}\n\t"
            "ldr    r1, [r0, #52]\n\t"
            "vdup.32 q5, r1\n\t" /* zp */
            "ldr    r1, [r0, #56]\n\t"
            "vdup.32 q6, r1\n\t" /* lo */
            "ldr    r1, [r0, #60]\n\t"
            "vdup.32 q7, r1\n\t" /* hi */
            "add    r1, r0, #68\n\t"
            "vldrw.32 q4, [r1]\n\t" /* output offsets */
            "ldr    r12, [r0, #44]\n\t" /* fix */
            "ldr    lr, [r0, #48]\n\t"  /* bias */
            "ldm    r0, {r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11}\n\t"
            "ldr    r0, [r0, #64]\n\t" /* dx */
            "cmp    r12, #0\n\t"
            "bne    5f\n\t"
            TG_DWP_LOOP("4", "")
            "b      6f\n\t"
            TG_DWP_LOOP("5", "vshr.s32 q3, q2, #31\n\tvqadd.s32 q2, q2, q3\n\t")
            "6:\n\t"
            "vpop   {d8-d15}\n\t"
            "pop    {r4-r11, pc}\n\t");
}

/* The plane kernel's limits: the padded input plane of one channel, and its blocks of 4 output pixels. */
#define TG_DW_PLANE_BYTES 3072
#define TG_DW_PLANE_BLOCKS 192

/*
 * DEPTHWISE_CONV_2D, the plane kernel (3x3 filters, output planes of at most 4 * TG_DW_PLANE_BLOCKS pixels):
 * per output channel, its input plane gathered (VLDRB.S32 at the channel stride) into a planar copy
 * padded with input_zp on the stack; the output plane in blocks of 4 consecutive pixels (lanes, across
 * rows: narrow planes fill the lanes), each lane's window found through an offset vector computed once
 * per call, so that a tap is one gather and one VMLA by the tap's weight (any stride and dilation), then
 * the channel's requantization on 4 lanes and one scatter store. Returns 0 where it does not apply.
 */
static int tg_dwconv_mve_plane(const tg_conv_params_t *p, const int8_t *input, int8_t *output)
{
    int8_t plane[TG_DW_PLANE_BYTES] __attribute__((aligned(4)));
    uint32_t offs[4 * TG_DW_PLANE_BLOCKS] __attribute__((aligned(8)));
    const int32_t cin = p->in_c, oc_n = p->out_c, dm = p->depth_multiplier;
    const int32_t in_h = p->in_h, in_w = p->in_w, out_w = p->out_w;
    const int32_t npix = p->out_h * out_w, nblk = (npix + 3) >> 2;
    const int32_t ocp = (oc_n + 3) & ~3;
    /* the padded plane: every input pixel a window reads, input_zp around */
    const int32_t wpp = (out_w - 1) * p->stride_w + 2 * p->dil_w + 1;
    const int32_t hpp = (p->out_h - 1) * p->stride_h + 2 * p->dil_h + 1;
    const int32_t pt = p->pad_top, pl = p->pad_left;
    const int32_t dx = p->dil_w, dy = p->dil_h * wpp;
    const int8_t *wplain = (const int8_t *)p->weights + (size_t)ocp * 9; /* [oc][9] */
    const int32_t *rq = (const int32_t *)(const void *)p->rq;
    const int8x16_t zp16 = vdupq_n_s8((int8_t)p->input_zp);
    const uint32x4_t coffs = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)cin);
    const uint32x4_t ooffs = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)oc_n);
    int32_t b, oc, i, y, x0, x1;
    if (p->k_h != 3 || p->k_w != 3 || hpp * wpp + 16 > TG_DW_PLANE_BYTES || nblk > TG_DW_PLANE_BLOCKS) {
        return 0;
    }
    for (i = 0; i < 4 * nblk; i++) { /* lane i: output pixel i (past the last: the last) */
        const int32_t q = i < npix ? i : npix - 1;
        offs[i] = (uint32_t)((q / out_w) * p->stride_h * wpp + (q % out_w) * p->stride_w);
    }
    /* input columns [x0, x1) of a plane row hold input pixels 0 .. */
    x0 = pl;
    x1 = pl + in_w < wpp ? pl + in_w : wpp;
    for (b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + (size_t)b * in_h * in_w * cin;
        int8_t *out_b = output + (size_t)b * npix * oc_n;
        for (oc = 0; oc < oc_n; oc++) {
            const int8_t *in_c = in_b + oc / dm;
            const int8_t *w = wplain + (size_t)oc * 9;
            const int32_t *r = rq + 16 * (oc >> 2) + (oc & 3);
            const int32_t mult = r[0], shift = r[4] + r[8];
            const int8_t *r0 = plane, *r1 = plane + dy, *r2 = plane + 2 * dy;
            int8_t *o = out_b + oc;
            for (i = 0; i < hpp * wpp; i += 16) {
                vst1q_s8(plane + i, zp16);
            }
            for (y = 0; y < hpp; y++) {
                const int32_t iy = y - pt;
                if (iy >= 0 && iy < in_h) {
                    const int8_t *src = in_c + (size_t)iy * in_w * cin;
                    int8_t *dst = plane + y * wpp;
                    for (i = x0; i < x1; i += 4, src += 4 * cin) {
                        const mve_pred16_t pr = vctp32q((uint32_t)(x1 - i));
                        vstrbq_p_s32(dst + i, vldrbq_gather_offset_z_s32(src, coffs, pr), pr);
                    }
                }
            }
            {
                tg_dwp_t a;
                a.r0 = r0;
                a.r1 = r1;
                a.r2 = r2;
                a.w = w;
                a.offs = offs;
                a.o = o;
                a.ostep = 4 * oc_n;
                a.n = nblk;
                a.mult = mult;
                a.left = shift > 0 ? shift : 0;
                a.rneg = shift < 0 ? shift : 0;
                a.fix = shift < 0;
                a.bias = p->bias[oc];
                a.zp = p->output_zp;
                a.lo = p->act_min;
                a.hi = p->act_max;
                a.dx = dx;
                vst1q_u32(a.ooffs, ooffs);
                if (npix >> 2) {
                    a.n = npix >> 2;
                    tg_dw_plane_blocks(&a);
                }
                if (npix & 3) {
                    /* the last block: its lanes past the last pixel repeat it (offs), and are stored at its
                     * address too, not past the output */
                    for (i = 0; i < 4; i++) {
                        a.ooffs[i] = (uint32_t)((i < (npix & 3) ? i : (npix & 3) - 1) * oc_n);
                    }
                    a.offs = offs + 4 * (npix >> 2);
                    a.o = o + (size_t)4 * (npix >> 2) * oc_n;
                    a.n = 1;
                    tg_dw_plane_blocks(&a);
                }
            }
        }
    }
    return 1;
}

/* DEPTHWISE_CONV_2D (tg_dwconv_mve_s8's layout, see tg_kernels.h) where the row kernel's rows do not fit:
 * per group of 4 output channels, per output pixel: the taps on 4 lanes (channels), the requantization
 * with the group's parameter vectors. */
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
    if (!tg_dwconv_mve_plane(p, input, output) && !tg_dwconv_mve_rows(p, input, output)) {
        tg_dwconv_mve(p, input, output);
    }
#else
    tg_dwconv_mve_c(p, input, output);
#endif
}
