/*
 * FULLY_CONNECTED, int8 (TFLM reference_integer_ops::FullyConnected / FullyConnectedPerChannel)
 * with the input zero-point term folded into the bias (bias - input_zp * row sum of the weights).
 *
 * Cortex-M DSP variant (TG_DSP, ops the generator marked `dsp`), no scratch: four weight rows at a
 * time (at least 4 units) against the int8 input read directly, 4 inputs and 4 weights per 32-bit
 * load, both sign-extended to int16 pairs (SXTB16 / SXTB16 ROR 8), 8 SMLAD per 16 products, and the 4 results requantized (the SMMULR shortcut where the generator proved it
 * exact, else exactly with SMLAL: tg_rqx_t rows, dsp = TG_DSP_EXACT), packed and clamped as one word.
 * Where the generator proved every dot product below 2^23 (pairs = 1), two rows share each weight word
 * (tg_fc_pblocks): SMLAD, UXTB16, SMLAD per word, 16 instructions per 16 products. Units with an
 * effective scale >= 0.5 (a left shift) in an exact table: tg_fc_dspl_s8 (TG_LQX_ASM per such row).
 */
#include "tg_kernels.h"
#include "tg_mve.h"
#include "tg_requant.h"

#if TG_DSP
/* State of tg_fc_blocks (field offsets are used by its assembly). */
typedef struct {
    const int8_t *w;     /* 0: the block's weights (4 rows interleaved, kq * 16 bytes) */
    int32_t w_row;       /* 4: unused */
    const int8_t *x;     /* 8: input row (any alignment) */
    int32_t kq;          /* 12: groups of 4 inputs, >= 0 */
    const int32_t *bias; /* 16 */
    const tg_rq_t *rq;   /* 20 */
    int32_t rq_step;     /* 24: bytes from one unit's row to the next (12 or 16; 0: per-tensor) */
    int8_t *out;         /* 28 */
    int32_t blocks;      /* 32: blocks of 4 units, >= 1 */
    uint32_t lo4, hi4;   /* 36, 40 */
    int32_t exact;       /* 44: 1: rq holds tg_rqx_t rows (TG_DSP_EXACT) */
    int32_t zp;          /* 48: output zero point (exact requantization) */
    int32_t xsum128;     /* 52: 128 * the sum of the inputs 0 .. 4 * kq - 1 (paired layout) */
} tg_fc_blocks_t;

/* r0..r3 acc, r4 weights of the block (4 rows interleaved 4 bytes at a time: one LDM brings 4 weights
 * of each row into r5, r6, r7, r10), r8 x: 4 int8 inputs (one LDR, sign-extended to int16 pairs like
 * the weights: no scratch) against the 4 rows. 20 instructions per 16 multiply-accumulates. */
#define TG_FCB_ROW(a, w)                   \
    "sxtb16 r11, " w ", ror #8\n\t"         \
    "sxtb16 " w ", " w "\n\t"               \
    "smlad  " a ", " w ", r12, " a "\n\t"    \
    "smlad  " a ", r11, lr, " a "\n\t"
#define TG_FCB_STEP                        \
    "ldr    r12, [r8], #4\n\t"            \
    "ldm    r4!, {r5, r6, r7, r10}\n\t"    \
    "sxtb16 lr, r12, ror #8\n\t"          \
    "sxtb16 r12, r12\n\t"                 \
    TG_FCB_ROW("r0", "r5") TG_FCB_ROW("r1", "r6") TG_FCB_ROW("r2", "r7") TG_FCB_ROW("r3", "r10")
/* requantize acc `a` with the tg_rq_t at r12 (then advanced by r9 = rq_step) */
#define TG_FCB_RQ(a)                       \
    "ldm    r12, {r4, r5, r6}\n\t"         \
    "add    r12, r12, r9\n\t"              \
    "lsr    r7, r6, #8\n\t"                \
    "lsl    r8, " a ", r7\n\t"              \
    "smmulr r8, r8, r4\n\t"                \
    "add    r10, r5, r8, lsl #1\n\t"       \
    "add    r10, r10, r8, asr #31\n\t"     \
    "asr    r10, r10, r6\n\t"              \
    "ssat   " a ", #8, r10\n\t"

/* exact requantization of acc `a`: tg_rqx_t row at r12 (advanced by r9), zp in r11 */
#define TG_FCB_RQX(a)                  \
    "ldm    r12, {r4, r5, r6, r7}\n\t" \
    "add    r12, r12, r9\n\t"          \
    TG_RQX_ASM(a, "r4", "r5", "r6", "r7", "r11")

/* exact requantization of acc `a` for tables with left-shift rows too (rm1 < 0: TFLM shift L = -(rm1 + 1)
 * >= 0, row {mult, INT32_MIN, 0, rm1}: TG_LQX_ASM, two SMLALs; see tinygen/ops/conv.py rqxl_table) */
#define TG_FCB_RQXL(a)                 \
    "ldm    r12, {r4, r5, r6, r7}\n\t" \
    "add    r12, r12, r9\n\t"          \
    "cmp    r7, #0\n\t"                \
    "blt    7f\n\t"                    \
    TG_RQX_ASM(a, "r4", "r5", "r6", "r7", "r11") \
    "b      8f\n\t"                    \
    "7:\n\t"                           \
    "mvn    r7, r7\n\t"                \
    TG_LQX_ASM(a, "r4", "r5", "r6", "r7", "r11") \
    "8:\n\t"

/* Blocks of 4 units: bias, 8 SMLAD per 4 inputs x 4 rows, requantization, packed lane-wise clamp,
 * one 32-bit store. EXACT: the exact requantization of r0..r3 (rows at r12, advanced by r9; zp in r11). */
#define TG_FC_BLOCKS_BODY(EXACT)                                                 \
        "push   {r4-r11, lr}\n\t"                                                \
        "sub    sp, sp, #52\n\t"                                                 \
        "ldm    r0!, {r1-r11}\n\t"                                               \
        "stm    sp, {r1-r11}\n\t"                                                \
        "ldm    r0, {r1, r2}\n\t"                                                \
        "strd   r1, r2, [sp, #44]\n\t"                                           \
        "4:\n\t"                                                                 \
        "ldr    r12, [sp, #16]\n\t"                                              \
        "ldm    r12!, {r0-r3}\n\t"                                               \
        "str    r12, [sp, #16]\n\t"                                              \
        "ldr    r4, [sp, #0]\n\t"                                                \
        "ldrd   r8, r9, [sp, #8]\n\t"                                            \
        "tst    r9, #1\n\t"                                                      \
        "beq    2f\n\t"                                                          \
        TG_FCB_STEP                                                              \
        "2:\n\t"                                                                 \
        "lsrs   r9, r9, #1\n\t"                                                  \
        "beq    3f\n\t"                                                          \
        "1:\n\t"                                                                 \
        TG_FCB_STEP TG_FCB_STEP                                                  \
        "subs   r9, r9, #1\n\t"                                                  \
        "bne    1b\n\t"                                                          \
        "3:\n\t"                                                                 \
        "str    r4, [sp, #0]\n\t" /* the next block follows this one */          \
        "ldrd   r12, r9, [sp, #20]\n\t"                                          \
        "ldrd   r7, r11, [sp, #44]\n\t" /* exact, zp */                          \
        "cmp    r7, #0\n\t"                                                      \
        "bne    5f\n\t"                                                          \
        TG_FCB_RQ("r0") TG_FCB_RQ("r1") TG_FCB_RQ("r2") TG_FCB_RQ("r3")          \
        "b      6f\n\t"                                                          \
        "5:\n\t"                                                                 \
        EXACT                                                                    \
        "6:\n\t"                                                                 \
        "str    r12, [sp, #20]\n\t"                                              \
        "bfi    r0, r1, #8, #8\n\t"                                              \
        "bfi    r0, r2, #16, #8\n\t"                                             \
        "bfi    r0, r3, #24, #8\n\t"                                             \
        "ldrd   r4, r5, [sp, #36]\n\t"                                           \
        "ssub8  r6, r0, r4\n\t"                                                  \
        "sel    r0, r0, r4\n\t"                                                  \
        "ssub8  r6, r0, r5\n\t"                                                  \
        "sel    r0, r5, r0\n\t"                                                  \
        "ldr    r4, [sp, #28]\n\t"                                               \
        "str    r0, [r4], #4\n\t"                                                \
        "str    r4, [sp, #28]\n\t"                                               \
        "ldr    r6, [sp, #32]\n\t"                                               \
        "subs   r6, r6, #1\n\t"                                                  \
        "str    r6, [sp, #32]\n\t"                                               \
        "bne    4b\n\t"                                                          \
        "add    sp, sp, #52\n\t"                                                 \
        "pop    {r4-r11, pc}\n\t"

/* External linkage: the compiler must keep its calling convention (r0 = a). */
void tg_fc_blocks(tg_fc_blocks_t *a);
__attribute__((naked, noinline)) void tg_fc_blocks(tg_fc_blocks_t *a __attribute__((unused)))
{
    __asm__(TG_FC_BLOCKS_BODY(TG_FCB_RQX("r0") TG_FCB_RQX("r1") TG_FCB_RQX("r2") TG_FCB_RQX("r3")));
}

/* tg_fc_blocks for exact tables with left-shift rows (tg_fc_dspl_s8; linked only where such an op exists) */
void tg_fc_blocks_l(tg_fc_blocks_t *a);
__attribute__((naked, noinline)) void tg_fc_blocks_l(tg_fc_blocks_t *a __attribute__((unused)))
{
    __asm__(TG_FC_BLOCKS_BODY(TG_FCB_RQXL("r0") TG_FCB_RQXL("r1") TG_FCB_RQXL("r2") TG_FCB_RQXL("r3")));
}

/* The paired layout (pairs = 1, see tinygen/ops/fully_connected.py pair_weights): accumulators r0 (row 0
 * + 128 * x), r1 (256 * row 1 + r0's), r2, r3 likewise for rows 2 and 3. SMLAD of the word, UXTB16 of it
 * in place, SMLAD again: 16 instructions per 16 multiply-accumulates. */
#define TG_FCP_PAIR(even, mix, w, x)          \
    "smlad  " mix ", " w ", " x ", " mix "\n\t" \
    "uxtb16 " w ", " w "\n\t"                  \
    "smlad  " even ", " w ", " x ", " even "\n\t"
#define TG_FCP_STEP                        \
    "ldr    r12, [r8], #4\n\t"            \
    "ldm    r4!, {r5, r6, r7, r10}\n\t"    \
    "sxtb16 lr, r12, ror #8\n\t"          \
    "sxtb16 r12, r12\n\t"                 \
    TG_FCP_PAIR("r0", "r1", "r5", "r12") TG_FCP_PAIR("r0", "r1", "r6", "lr") \
    TG_FCP_PAIR("r2", "r3", "r7", "r12") TG_FCP_PAIR("r2", "r3", "r10", "lr")

/* tg_fc_blocks for the paired layout: both accumulators of a pair start at the even row's bias, so
 * that (mix - even) = 256 * (odd row's sum) mod 2^32, exact below 2^23 (the generator's bound); then
 * odd = its bias + that / 256, even -= 128 * sum(x). Frame: the 56-byte state, then b1, b3. */
void tg_fc_pblocks(tg_fc_blocks_t *a);
__attribute__((naked, noinline)) void tg_fc_pblocks(tg_fc_blocks_t *a __attribute__((unused)))
{
    __asm__(
        "push   {r4-r11, lr}\n\t"
        "sub    sp, sp, #64\n\t"
        "ldm    r0!, {r1-r11}\n\t"
        "stm    sp, {r1-r11}\n\t"
        "ldm    r0, {r1, r2, r3}\n\t"
        "add    r4, sp, #44\n\t"
        "stm    r4, {r1, r2, r3}\n\t"
        "4:\n\t"
        "ldr    r12, [sp, #16]\n\t"
        "ldm    r12!, {r0-r3}\n\t"
        "str    r12, [sp, #16]\n\t"
        "strd   r1, r3, [sp, #56]\n\t"
        "mov    r1, r0\n\t"
        "mov    r3, r2\n\t"
        "ldr    r4, [sp, #0]\n\t"
        "ldrd   r8, r9, [sp, #8]\n\t"
        "tst    r9, #1\n\t"
        "beq    2f\n\t"
        TG_FCP_STEP
        "2:\n\t"
        "lsrs   r9, r9, #1\n\t"
        "beq    3f\n\t"
        "1:\n\t"
        TG_FCP_STEP TG_FCP_STEP
        "subs   r9, r9, #1\n\t"
        "bne    1b\n\t"
        "3:\n\t"
        "str    r4, [sp, #0]\n\t"
        "sub    r1, r1, r0\n\t"
        "sub    r3, r3, r2\n\t"
        "ldrd   r5, r6, [sp, #56]\n\t"
        "add    r1, r5, r1, asr #8\n\t"
        "add    r3, r6, r3, asr #8\n\t"
        "ldr    r5, [sp, #52]\n\t"
        "sub    r0, r0, r5\n\t"
        "sub    r2, r2, r5\n\t"
        "ldrd   r12, r9, [sp, #20]\n\t"
        "ldrd   r7, r11, [sp, #44]\n\t" /* exact, zp */
        "cmp    r7, #0\n\t"
        "bne    5f\n\t"
        TG_FCB_RQ("r0") TG_FCB_RQ("r1") TG_FCB_RQ("r2") TG_FCB_RQ("r3")
        "b      6f\n\t"
        "5:\n\t"
        TG_FCB_RQX("r0") TG_FCB_RQX("r1") TG_FCB_RQX("r2") TG_FCB_RQX("r3")
        "6:\n\t"
        "str    r12, [sp, #20]\n\t"
        "bfi    r0, r1, #8, #8\n\t"
        "bfi    r0, r2, #16, #8\n\t"
        "bfi    r0, r3, #24, #8\n\t"
        "ldrd   r4, r5, [sp, #36]\n\t"
        "ssub8  r6, r0, r4\n\t"
        "sel    r0, r0, r4\n\t"
        "ssub8  r6, r0, r5\n\t"
        "sel    r0, r5, r0\n\t"
        "ldr    r4, [sp, #28]\n\t"
        "str    r0, [r4], #4\n\t"
        "str    r4, [sp, #28]\n\t"
        "ldr    r6, [sp, #32]\n\t"
        "subs   r6, r6, #1\n\t"
        "str    r6, [sp, #32]\n\t"
        "bne    4b\n\t"
        "add    sp, sp, #64\n\t"
        "pop    {r4-r11, pc}\n\t");
}

/* 128 * the sum of x[0 .. 4 * kq - 1] (int32: |sum| <= 2^7 * 4 * kq) */
static int32_t tg_fc_xsum128(const int8_t *x, int32_t kq)
{
    int32_t s = 0, q;
    for (q = 0; q < kq; q++) {
        const uint32_t v = tg_ld32(x + 4 * q);
        s = tg_smlad(tg_sxtb16(v), 0x00010001u, s);
        s = tg_smlad(tg_sxtb16_ror8(v), 0x00010001u, s);
    }
    return (int32_t)((uint32_t)s << 7);
}

/* Blocks of 4 units reading the int8 input directly (no scratch). Inputs past the last multiple of 4
 * (depth % 4 of them) are folded into the accumulators' start values, block by block, so that no
 * load reads past the input row. */
typedef void (*tg_fcb_fn)(tg_fc_blocks_t *a);

/* Compiled for size: once per layer, its loops are the input sum (pairs) and the depth % 4 tail, the blocks'
 * work is in the assembly (-122 B: the 12 KB kernels + runtime budget; the layer's instruction count is
 * unchanged at the benchmark's resolution, mltk MobileNetV2 384 -> 8). */
#if defined(__GNUC__) && !defined(__clang__)
#define TG_FC_SMALL __attribute__((noinline, optimize("Os")))
#else
#define TG_FC_SMALL __attribute__((noinline))
#endif
TG_FC_SMALL static void tg_fc_dsp(const tg_fc_params_t *p, const int8_t *input, int8_t *output, tg_fcb_fn blocks)
{
    const int32_t k = p->depth, kq = k >> 2, tail = k & 3;
    const int32_t w_row = p->w_row;
    const int32_t units = p->units;
    const int32_t exact = p->dsp == TG_DSP_EXACT;
    const int32_t rq_step = p->per_channel ? (exact ? (int32_t)sizeof(tg_rqx_t) : (int32_t)sizeof(tg_rq_t)) : 0;
    int32_t b;
    tg_fc_blocks_t a;
    a.w_row = w_row;
    a.kq = kq;
    a.rq_step = rq_step;
    a.lo4 = tg_splat4(p->act_min);
    a.hi4 = tg_splat4(p->act_max);
    a.exact = exact;
    a.zp = p->output_zp;
    for (b = 0; b < p->batches; b++, output += units) {
        const int8_t *x = input + (size_t)b * k;
        /* units >= 4 (the generator's condition); a last partial block overlaps the previous
         * one and stores some outputs again, with the same values */
        const int32_t last = units - 4;
        const int32_t nb = (units + 3) >> 2;
        int32_t bi = 0;
        a.x = x;
        if (p->pairs) {
            a.xsum128 = tg_fc_xsum128(x, kq);
        }
        if (tail == 0) {
            a.w = p->weights;
            a.bias = p->bias;
            a.rq = p->rq;
            a.out = output;
            a.blocks = units >> 2;
            blocks(&a);
            bi = units >> 2;
        }
        for (; bi < nb; bi++) {
            /* block bi: units u0..u0+3, weights at bi * 4 * w_row (tinygen/ops/fully_connected.py
             * block_weights) */
            int32_t init[4];
            const int32_t u0 = 4 * bi < last ? 4 * bi : last;
            const int8_t *wb = p->weights + (size_t)bi * 4 * w_row;
            int32_t j, i;
            for (j = 0; j < 4; j++) {
                const int8_t *w = wb + 16 * kq + 4 * j;
                int32_t acc = p->bias[u0 + j];
                for (i = 0; i < tail; i++) {
                    acc = tg_wrap_add(acc, (int32_t)w[i] * (int32_t)x[4 * kq + i]);
                }
                init[j] = acc;
            }
            tg_barrier(); /* init is read by the assembly */
            a.w = wb;
            a.bias = init;
            a.rq = (const tg_rq_t *)(const void *)((const char *)p->rq + (size_t)u0 * rq_step);
            a.out = output + u0;
            a.blocks = 1;
            blocks(&a);
            tg_barrier();
        }
    }
}

/* Unit u's accumulator requantized (exact with either table), out of line: one copy of the C requantization. */
__attribute__((noinline)) static int8_t tg_fc_out(const tg_fc_params_t *p, int32_t acc, int32_t u)
{
    const int32_t c = p->per_channel ? u : 0;
    return tg_requant_s8(acc, TG_RQ_MULT_OF(p, c), TG_RQ_SHIFT_OF(p, c), p->output_zp, p->act_min, p->act_max);
}

/* Fewer than 4 units, or a small layer (tinygen/ops/fully_connected.py FC_DOT_MAX_MACS): SMLAD dot products of two
 * units at a time (each input word loaded and widened once for both; an odd last unit is computed twice), C
 * requantization. */
TG_FC_SMALL static void tg_fc_dsp_small(const tg_fc_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t k = p->depth, units = p->units;
    int32_t b, u, i;
    for (b = 0; b < p->batches; b++, output += units) {
        const int8_t *x = input + (size_t)b * k;
        for (u = 0; u < units; u += 2) {
            const int32_t v = u + 1 < units ? u + 1 : u;
            const int8_t *w0 = p->weights + (size_t)u * p->w_row, *w1 = p->weights + (size_t)v * p->w_row;
            int32_t a0 = p->bias[u], a1 = p->bias[v];
            i = k >> 2;
            if (i > 0) { /* 4 inputs x 2 units: 15 instructions (the compiler's loop spilled registers: 22) */
                const int8_t *xp = x, *p0 = w0, *p1 = w1;
                uint32_t t0, t1, t2, t3, t4;
                __asm__ volatile("1:\n\t"
                                 "ldr    %[t0], [%[x]], #4\n\t"
                                 "ldr    %[t1], [%[p0]], #4\n\t"
                                 "ldr    %[t2], [%[p1]], #4\n\t"
                                 "sxtb16 %[t3], %[t0]\n\t"
                                 "sxtb16 %[t0], %[t0], ror #8\n\t"
                                 "sxtb16 %[t4], %[t1]\n\t"
                                 "sxtb16 %[t1], %[t1], ror #8\n\t"
                                 "smlad  %[a0], %[t3], %[t4], %[a0]\n\t"
                                 "smlad  %[a0], %[t0], %[t1], %[a0]\n\t"
                                 "sxtb16 %[t4], %[t2]\n\t"
                                 "sxtb16 %[t2], %[t2], ror #8\n\t"
                                 "smlad  %[a1], %[t3], %[t4], %[a1]\n\t"
                                 "smlad  %[a1], %[t0], %[t2], %[a1]\n\t"
                                 "subs   %[n], %[n], #1\n\t"
                                 "bne    1b\n\t"
                                 : [a0] "+r"(a0), [a1] "+r"(a1), [x] "+r"(xp), [p0] "+r"(p0), [p1] "+r"(p1), [n] "+r"(i),
                                   [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2), [t3] "=&r"(t3), [t4] "=&r"(t4)
                                 :
                                 : "cc", "memory");
            }
            for (i = k & ~3; i < k; i++) {
                a0 = tg_wrap_add(a0, (int32_t)w0[i] * (int32_t)x[i]);
                a1 = tg_wrap_add(a1, (int32_t)w1[i] * (int32_t)x[i]);
            }
            output[u] = tg_fc_out(p, a0, u);
            output[v] = tg_fc_out(p, a1, v);
        }
    }
}

#endif /* TG_DSP */

#if !TG_DSP
/* tg_fc_s8's weights are in blocks of 4 units (see tg_fc_dsp): unit u's input i. */
static int32_t tg_fc_w_blocked(const tg_fc_params_t *p, int32_t u, int32_t i)
{
    const int32_t nb = (p->units + 3) >> 2, last = p->units - 4;
    const int32_t bi = (u >> 2) < nb - 1 ? u >> 2 : nb - 1;
    const int32_t u0 = 4 * bi < last ? 4 * bi : last;
    const int32_t j = u - u0;
    const int8_t *g = p->weights + (size_t)bi * 4 * p->w_row + (size_t)(i >> 2) * 16;
    if (p->pairs && (i >> 2) < (p->depth >> 2)) {
        /* paired layout: word (j / 2) * 2 + i % 2, byte (i / 2 % 2) * 2 + j % 2; even rows XOR 0x80 */
        const int32_t v = g[((j >> 1) * 2 + (i & 1)) * 4 + ((i >> 1) & 1) * 2 + (j & 1)];
        return (j & 1) ? v : (v < 0 ? v + 128 : v - 128);
    }
    return g[(size_t)j * 4 + (i & 3)];
}

/* The blocked layout (units >= 4) a block of 4 units at a time: per 4 inputs the block's 16 weights
 * (plain: unit j's 4 in a row; paired: see tg_fc_w_blocked) meet the 4 inputs loaded once. */
static void tg_fc_c_blocked(const tg_fc_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t k = p->depth, units = p->units, nb = (units + 3) >> 2, kq = k >> 2;
    int32_t b, bi, q, i, j;
    for (b = 0; b < p->batches; b++) {
        const int8_t *x = input + (size_t)b * k;
        int8_t *out = output + (size_t)b * units;
        for (bi = 0; bi < nb; bi++) {
            const int32_t u0 = 4 * bi < units - 4 ? 4 * bi : units - 4;
            const int8_t *g = p->weights + (size_t)bi * 4 * p->w_row;
            int32_t acc[4] = {0, 0, 0, 0};
            for (q = 0; q < kq; q++, g += 16, x += 4) {
                const int32_t x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3];
                if (p->pairs) {
                    /* word (j / 2) * 2 + i % 2, byte (i / 2 % 2) * 2 + j % 2; even units' bytes XOR 0x80 */
                    for (j = 0; j < 4; j++) {
                        const int8_t *r = g + (j >> 1) * 8 + (j & 1);
                        const int32_t f = (j & 1) ? 0 : 0x80;
                        acc[j] += (int8_t)(r[0] ^ f) * x0 + (int8_t)(r[4] ^ f) * x1 + (int8_t)(r[2] ^ f) * x2
                                + (int8_t)(r[6] ^ f) * x3;
                    }
                } else {
                    acc[0] += g[0] * x0 + g[1] * x1 + g[2] * x2 + g[3] * x3;
                    acc[1] += g[4] * x0 + g[5] * x1 + g[6] * x2 + g[7] * x3;
                    acc[2] += g[8] * x0 + g[9] * x1 + g[10] * x2 + g[11] * x3;
                    acc[3] += g[12] * x0 + g[13] * x1 + g[14] * x2 + g[15] * x3;
                }
            }
            x -= 4 * kq;
            for (i = 4 * kq; i < k; i++) {
                for (j = 0; j < 4; j++) {
                    acc[j] += tg_fc_w_blocked(p, u0 + j, i) * (int32_t)x[i];
                }
            }
            for (j = 0; j < 4; j++) {
                const int32_t u = u0 + j, c = p->per_channel ? u : 0;
                const int8_t y = tg_requant_s8(tg_wrap_add(acc[j], p->bias[u]), TG_RQ_MULT_OF(p, c),
                                               TG_RQ_SHIFT_OF(p, c), p->output_zp, p->act_min, p->act_max);
                out[u] = y;
            }
        }
    }
}

static void tg_fc_c(const tg_fc_params_t *p, const int8_t *input, int8_t *output)
{
    const int32_t k = p->depth;
    int32_t b, u, i;
    for (b = 0; b < p->batches; b++) {
        const int8_t *x = input + (size_t)b * k;
        const int8_t *w = p->weights;
        for (u = 0; u < p->units; u++, w += p->w_row) {
            const int32_t c = p->per_channel ? u : 0;
            int32_t acc = 0, acc1 = 0;
            for (i = 0; i + 2 <= k; i += 2) {
                acc += (int32_t)w[i] * (int32_t)x[i];
                acc1 += (int32_t)w[i + 1] * (int32_t)x[i + 1];
            }
            if (i < k) {
                acc += (int32_t)w[i] * (int32_t)x[i];
            }
            acc += acc1;
            acc = tg_wrap_add(acc, p->bias[u]);
            *output++ = tg_requant_s8(acc, TG_RQ_MULT_OF(p, c), TG_RQ_SHIFT_OF(p, c), p->output_zp, p->act_min,
                                      p->act_max);
        }
    }
}
#endif

/* The generator calls tg_fc_s8 for ops with a DSP requantization (dsp != 0) and at least 4 units,
 * tg_fc_dot_s8 for the others and for small layers: a DSP build links only the code its ops use. */
void tg_fc_s8(const tg_fc_params_t *p, const int8_t *input, int8_t *output, void *scratch)
{
    (void)scratch;
#if TG_DSP
    tg_fc_dsp(p, input, output, tg_fc_blocks);
#else
    tg_fc_c_blocked(p, input, output);
#endif
}

/* tg_fc_s8 with the paired weight layout (pairs = 1): its own entry point, so that a firmware links only the
 * block kernel its ops use */
void tg_fc_p_s8(const tg_fc_params_t *p, const int8_t *input, int8_t *output, void *scratch)
{
    (void)scratch;
#if TG_DSP
    tg_fc_dsp(p, input, output, tg_fc_pblocks);
#else
    tg_fc_c_blocked(p, input, output);
#endif
}

/* tg_fc_s8 for exact tables (dsp == TG_DSP_EXACT) with left-shift rows (units with an effective scale >= 0.5;
 * unpaired weights) */
void tg_fc_dspl_s8(const tg_fc_params_t *p, const int8_t *input, int8_t *output, void *scratch)
{
    (void)scratch;
#if TG_DSP
    tg_fc_dsp(p, input, output, tg_fc_blocks_l);
#else
    tg_fc_c_blocked(p, input, output);
#endif
}

void tg_fc_dot_s8(const tg_fc_params_t *p, const int8_t *input, int8_t *output, void *scratch)
{
    (void)scratch;
#if TG_MVE
    (void)tg_fc_dsp_small; /* Helium (tg_mve.c) instead: the DSP code is not linked */
    tg_fc_mve(p, input, output);
#elif TG_DSP
    tg_fc_dsp_small(p, input, output);
#else
    tg_fc_c(p, input, output);
#endif
}
