/*
 * tinygen kernels: portable C99 int8 kernels, bit-exact with TFLite Micro's reference kernels
 * (and with tinygen's numpy kernels in tinygen/ops/).
 *
 * - no malloc, no global state; every kernel reads a const parameter struct the code
 *   generator writes into flash, plus the tensor pointers (in the arena);
 * - one function per op variant; the generated model code calls them in execution order;
 * - tensor layouts are TFLite's: NHWC activations, OHWI conv filters, 1HWO depthwise
 *   filters, [units, depth] fully-connected weights;
 * - conv / depthwise / fully-connected biases arrive *folded*: bias - input_zp * sum(w)
 *   (computed by the generator), so the inner loops accumulate plain w * x products;
 *   padded taps act as x == input_zp, as in TFLM;
 * - conv / fully-connected weight rows are padded with zeros to a multiple of 4 bytes and
 *   depthwise weights are stored in groups of 4 channels (see tg_conv_params_t), so that the
 *   Cortex-M DSP variants can read them 32 bits at a time;
 * - Cortex-M DSP variants (SXTB16 + SMLAD: two multiply-accumulates per instruction) are
 *   compiled in when the compiler has the DSP extension (__ARM_FEATURE_DSP: Cortex-M4/M7/M33
 *   ...), unless TG_PORTABLE is defined; they are bit-exact with the C99 path and run when the
 *   generator proved their shortcut requantization exact for the op (`dsp` = 1), else the C99
 *   path runs. They use the op's kernel scratch (planned in the arena by the generator).
 */
#ifndef TG_KERNELS_H
#define TG_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define TG_ALIGNED(n) __attribute__((aligned(n)))
#else
#define TG_ALIGNED(n)
#endif

#define TG_MAX_DIMS 5 /* broadcasting / layout kernels work on shapes padded to this rank */

/* ------------------------------------------------------------------ convolutions */

/* Requantization of one output channel: TFLM's MultiplyByQuantizedMultiplier(acc, mult, shift)
 * with shift = left - right (left, right >= 0, one of them 0), + output zero point.
 * `round` and the packing of `shifts` serve the DSP variants:
 *   shifts = (right + 1) | (left + 1) << 8,   round = 2^right + output_zp * 2^(right + 1). */
typedef struct {
    int32_t mult;
    int32_t round;
    int32_t shifts;
} tg_rq_t;

/* TFLM's shift (> 0: left) of a tg_rq_t. */
#define TG_RQ_SHIFT(rq) ((((rq)->shifts >> 8) & 0xFF) - ((rq)->shifts & 0xFF))

/* Requantization of one output channel for the exact DSP requantization (tg_rqx_* in
 * tg_requant.h; ops with `dsp` = TG_DSP_EXACT): TFLM's MultiplyByQuantizedMultiplier(acc, mult,
 * -(rm1 + 1)), i.e. a right shift right = rm1 + 1 >= 1 (no left shift), as one SMLAL:
 *   klo + 2^32 * khi = 2^30 + 2^(30 + right)   (the two roundings' nudges),
 * and the result is the high word of acc * mult + that, corrected by -1 for acc < 0 when the low
 * word's bit 31 is clear, arithmetically shifted right by rm1. The generator writes these rows
 * (tinygen/ops/conv.py rqx_table) where `dsp` = TG_DSP_EXACT, in place of tg_rq_t rows.
 * CONV_2D (tg_conv2d_dspl_s8) also takes left-shifted channels, TFLM shift L >= 0, as rows
 * {mult, INT32_MIN, 0, -(L + 1)} (rm1 < 0; tinygen/ops/conv.py rqxl_table): the accumulator shifted
 * left by L, two SMLALs onto 2^31, the high word; -(rm1 + 1) = L for TG_RQ_SHIFT_OF. */
typedef struct {
    int32_t mult;
    int32_t klo;
    int32_t khi;
    int32_t rm1;
} tg_rqx_t;

/* `dsp` field of the conv / fully-connected parameters: which requantization the DSP kernels use
 * (the C99 path, which runs without the DSP extension, reads either table). */
#define TG_DSP_OFF 0      /* C99 kernel; `rq` holds tg_rq_t rows */
#define TG_DSP_SHORTCUT 1 /* DSP kernel, tg_rq_dsp shortcut proved exact; tg_rq_t rows */
#define TG_DSP_EXACT 2    /* DSP kernel, exact SMLAL requantization; `rq` holds tg_rqx_t rows */

/* TFLM's (multiplier, shift) of output channel c from a parameter struct's rq table. */
#define TG_RQ_MULT_OF(p, c) \
    ((p)->dsp == TG_DSP_EXACT ? ((const tg_rqx_t *)(const void *)(p)->rq)[c].mult : (p)->rq[c].mult)
#define TG_RQ_SHIFT_OF(p, c) \
    ((p)->dsp == TG_DSP_EXACT ? -(((const tg_rqx_t *)(const void *)(p)->rq)[c].rm1 + 1) : TG_RQ_SHIFT(&(p)->rq[c]))

typedef struct {
    int32_t batches;
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_top, pad_left;
    int32_t groups;           /* conv: in_c / filter input channels; depthwise: groups of 4 channels per ring block */
    int32_t depth_multiplier; /* depthwise: out_c / in_c */
    int32_t input_zp;         /* value of the padded taps */
    int32_t output_zp;
    int32_t act_min, act_max;
    int32_t w_row;            /* conv: bytes per filter, k_h * k_w * in_c / groups rounded up to 4 */
    int32_t dsp;              /* TG_DSP_OFF / TG_DSP_SHORTCUT / TG_DSP_EXACT (see tg_rq_t, tg_rqx_t) */
    /* conv: int8 OHWI, each filter zero-padded to w_row bytes.
     * depthwise: see tg_dwconv.c (parameter blocks per group of 4 channels, or int8 filter rows
     * when w_row > 0). */
    const void *weights;
    const int32_t *bias;      /* folded, one per output channel */
    const tg_rq_t *rq;        /* one per output channel (tg_rqx_t rows when dsp == TG_DSP_EXACT) */
    /* conv: 1 = weights of channel pairs packed (tg_conv2d_dspp_s8, see tg_conv.c TG_PPAIR_STEP), 0 = one row
     * per channel */
    int32_t pairs;
} tg_conv_params_t;

/* `scratch`: the op's kernel scratch (NULL when the generator planned none). */
void tg_conv2d_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch);
/* 1x1 filter, no padding, groups == 1 (any stride). */
void tg_conv2d_1x1_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch);
/* Ops with dsp != 0 (groups == 1, out_c >= 2): the DSP kernel where compiled in, else the C99 code
 * (tg_conv2d_s8 / tg_conv2d_1x1_s8 always run the C99 code). */
void tg_conv2d_dsp_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch);
/* tg_conv2d_dsp_s8 for dsp == TG_DSP_EXACT tables with left-shifted channels (TFLM shift L >= 0:
 * row {mult, INT32_MIN, 0, -(L + 1)}, so that TG_RQ_SHIFT_OF still gives L). */
void tg_conv2d_dspl_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch);
/* tg_conv2d_dsp_s8 for packed channel pairs (pairs = 1; no left-shifted channels) */
void tg_conv2d_dspp_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch);
/* tg_conv2d_dsp_s8 / dspp / dspl for in_c % 4 == 0 only (their driver links no staging code) */
void tg_conv2d_dsp4_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch);
void tg_conv2d_dspp4_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch);
void tg_conv2d_dspl4_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch);
/* ... for 1x1 filters at stride 1 without padding, in_c % 4 == 0 only (their driver is the matrix product alone) */
void tg_conv2d_dsp1_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch);
void tg_conv2d_dspp1_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch);
void tg_conv2d_dspl1_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch);
/* Narrow convolutions (tg_conv.c: few taps per output, out_c a multiple of 4, no scratch): weights = the
 * generator's channel records (tinygen/ops/conv.py narrow_records), w_row = 4 x the input words per window
 * row; the suffix is the widened tap words per pixel (2, 4, 6, 8). bias and rq are unused; the output columns whose
 * windows lie inside the input's columns are [pairs, depth_multiplier); a 1x1 filter at stride 1 without padding
 * comes as one row of pixels (in_h = out_h = 1). */
void tg_conv2d_dspn2_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch);
void tg_conv2d_dspn4_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch);
void tg_conv2d_dspn6_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch);
void tg_conv2d_dspn8_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch);
void tg_dwconv_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch);
/* depthwise with depth multiplier >= 2 (the column layout: w_row > 0, see tg_dwconv.c) */
void tg_dwconv_dm_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch);
/* 3x3 depthwise with depth multiplier 2-3 (the register layout: w_row == -3, see tg_dwconv.c): whole groups
 * of 4 input channels and right-shift rows only; tg_dwconv_dmrl_s8: any (C code for the others) */
void tg_dwconv_dmr_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch);
void tg_dwconv_dmrl_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch);
/* depthwise 3x3, depth multiplier 1, stride and dilation 1 along the row (pair layout, w_row == -1) */
void tg_dwconv_p3_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch);
/* the same on rows of 2-6 input pixels with a left edge (3x3 SAME on 2x2 .. 6x6 images), every group SMMLAR */
void tg_dwconv_p3q_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch);
/* the same (p3_s8) where every group is SMMLAR and the act range is [-128, 127]: the fast pass of stride 1 / 2 */
void tg_dwconv_p3f1_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch);
void tg_dwconv_p3f2_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch);
/* the same with stride 2 along the row */
void tg_dwconv_p3s2_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch);
/* ... rows ending with a partial block; either, with SMLAL groups (dead channels, left shifts) */
void tg_dwconv_p3s2p_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch);
void tg_dwconv_p3s2x_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch);
/* the same (either stride) with SMLAL groups (channels beyond the SMMLAR bound) or flagged SMMLAR groups
 * (left-shift channels whose accumulator takes either sign) */
void tg_dwconv_p3x_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch);
/* the same with channels whose effective scale is >= 0.5 (left shifts) beyond that bound, fixed up in C */
void tg_dwconv_p3l_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch);
/* 3x3 SAME at stride 1 on images 4 or 2 pixels wide (w_row == -7: the stride-2 pair layout's words with the raw
 * bias), every group SMMLAR, act range [-128, 127] */
void tg_dwconv_p3t_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch);
/* depthwise k_h x k_w (k_w odd: 5, 7), depth multiplier 1, stride 1 or 2 and dilation 1 along the row (k x k pair
 * layout, w_row == -6): whole groups of 4 channels and right-shift rows only */
void tg_dwconv_pk_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch);
/* Helium targets (Cortex-M55/M85: the generator's call there; tg_mve.c), any depth multiplier, no scratch,
 * the channels in groups of 4 (zero-padded past out_c): weights [group][tap][4] int8 then [channel][tap], bias (folded) one
 * per padded channel, rq (cast): int32 [group][4][4]: multiplier, left shift (>= 0), -right shift (<= 0),
 * -1 where the right shift is > 0 (else 0), 4 channels each. The C99 loop in builds without MVE. */
void tg_dwconv_mve_s8(const tg_conv_params_t *p, const int8_t *input, int8_t *output, void *scratch);

/* ------------------------------------------------------------------ fully connected */

typedef struct {
    int32_t batches;     /* rows of the flattened input */
    int32_t depth;       /* inputs per unit */
    int32_t units;
    int32_t per_channel; /* rq: one per unit (1) or a single one (0) */
    int32_t output_zp;
    int32_t act_min, act_max;
    int32_t w_row;       /* bytes per weight row: depth rounded up to 4 */
    int32_t dsp;         /* TG_DSP_OFF / TG_DSP_SHORTCUT / TG_DSP_EXACT (see tg_rq_t, tg_rqx_t) */
    const int8_t *weights; /* [units][w_row], zero-padded rows (tg_fc_s8: in blocks of 4 units, see below) */
    const int32_t *bias;   /* folded, one per unit */
    const tg_rq_t *rq;     /* one per unit or one (per_channel); tg_rqx_t rows when dsp == TG_DSP_EXACT */
    int32_t pairs;         /* 1: tg_fc_s8's weights in the paired layout (tinygen/ops/fully_connected.py
                              pair_weights): every row's |sum x * w| < 2^23 */
} tg_fc_params_t;

/* tg_fc_s8: ops with dsp != 0 and at least 4 units (DSP build: blocks of 4 units), whose weights are
 * laid out in blocks of 4 units: block b (units u0 = min(4b, units - 4) .. u0 + 3) holds, for each group
 * of 4 inputs, 4 bytes of each of its 4 rows (4 * w_row bytes per block; the last block overlaps the
 * previous one when units % 4 != 0). tg_fc_dot_s8: any op, weights as [units][w_row] (DSP build: SMLAD
 * dot products, C requantization). Both run C99 loops in portable builds. */
void tg_fc_s8(const tg_fc_params_t *p, const int8_t *input, int8_t *output, void *scratch);
void tg_fc_p_s8(const tg_fc_params_t *p, const int8_t *input, int8_t *output, void *scratch);
/* tg_fc_s8 for dsp == TG_DSP_EXACT tables with left-shift rows ({mult, INT32_MIN, 0, -(L + 1)}, as
 * tg_conv2d_dspl_s8's; unpaired weights) */
void tg_fc_dspl_s8(const tg_fc_params_t *p, const int8_t *input, int8_t *output, void *scratch);
void tg_fc_dot_s8(const tg_fc_params_t *p, const int8_t *input, int8_t *output, void *scratch);

/* ------------------------------------------------------------------ pooling */

typedef struct {
    int32_t batches;
    int32_t in_h, in_w, channels;
    int32_t out_h, out_w;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left;
    int32_t act_min, act_max;
} tg_pool_params_t;

void tg_avgpool_s8(const tg_pool_params_t *p, const int8_t *input, int8_t *output);
void tg_avgpool4_s8(const tg_pool_params_t *p, const int8_t *input, int8_t *output);
void tg_maxpool_s8(const tg_pool_params_t *p, const int8_t *input, int8_t *output);
void tg_avgpool_s16(const tg_pool_params_t *p, const int16_t *input, int16_t *output);
void tg_maxpool_s16(const tg_pool_params_t *p, const int16_t *input, int16_t *output);

/* ------------------------------------------------------------------ element-wise binary */

typedef struct {
    int32_t size;                    /* output elements */
    int32_t broadcast;               /* 0: both inputs have the output's shape */
    int32_t dims[TG_MAX_DIMS];       /* output shape, left-padded with 1 */
    int32_t a_strides[TG_MAX_DIMS];  /* element strides of input 0 (0 on broadcast axes) */
    int32_t b_strides[TG_MAX_DIMS];  /* element strides of input 1 */
} tg_bcast_t;

typedef struct {
    tg_bcast_t shape;
    int32_t subtract; /* SUB: 1 */
    int32_t input1_offset, input2_offset, output_offset;
    int32_t left_shift;
    int32_t input1_multiplier, input1_shift;
    int32_t input2_multiplier, input2_shift;
    int32_t output_multiplier, output_shift;
    int32_t act_min, act_max;
    /* DSP variants (tg_add_dsp: same shapes; tg_add_dsp_period: see period), where the generator proved them
     * exact (dsp = 1): 2^-shift for the input taking the SMMULR step (else 0),
     * 2^-output_shift + output_offset * 2^(1 - output_shift) */
    int32_t dsp;
    int32_t round1, round2, round_out;
    /* period > 0: one input has the output's shape ("full": 0 = input 0, 1 = input 1), the other repeats
     * with this period along the flat output (its shape is 1s then the output's trailing axes, e.g. a
     * per-channel [C]); the DSP kernel rescales each of its `period` values once (exactly); the full input
     * must have the real multiplier 1/2 (half). */
    int32_t period, full;
    /* bit i set: input i's real multiplier is exactly 1/2 (multiplier 2^30, shift 0), so its rescaled value
     * is (q + offset) << 19 with no rounding (dsp = 1 only) */
    int32_t half;
} tg_add_params_t;

typedef struct {
    tg_bcast_t shape;
    int32_t input1_offset, input2_offset, output_offset;
    int32_t output_multiplier, output_shift;
    int32_t act_min, act_max;
    /* DSP variant (dsp = 1, proved exact by the generator): SMMULR(prod << lshift1, multiplier), then
     * (round + 2y - (y < 0)) >> rshift1 (round = 2^e [+ output_offset * 2^(e+1) when offset_folded]);
     * period / full as in tg_add_params_t (0: no broadcast or a general one). */
    int32_t dsp, lshift1, rshift1, round, offset_folded;
    int32_t period, full;
} tg_mul_params_t;

/* ADD and SUB. In place (output == input 0) is allowed when input 0 has the output's shape. */
void tg_add_s8(const tg_add_params_t *p, const int8_t *a, const int8_t *b, int8_t *output);
void tg_add_half_s8(const tg_add_params_t *p, const int8_t *a, const int8_t *b, int8_t *output);
void tg_add_period_s8(const tg_add_params_t *p, const int8_t *a, const int8_t *b, int8_t *output);
void tg_mul_s8(const tg_mul_params_t *p, const int8_t *a, const int8_t *b, int8_t *output);

/* ------------------------------------------------------------------ unary */

/* output[i] = table[input[i] + 128]; in place allowed. */
void tg_lut_s8(const int8_t *input, int8_t *output, int32_t size, const int8_t *table);

typedef struct {
    int32_t rows, depth;
    int32_t output_bits;  /* 8: int8 output, 16: int16 output */
    const int32_t *exp_table; /* [256]: exp of (x - max) for x - max = -i, 0 below diff_min (Q0.31) */
} tg_softmax_params_t;

void tg_softmax_s8(const tg_softmax_params_t *p, const int8_t *input, void *output);

/* SOFTMAX int16 -> int16 (TFLM SoftmaxInt16): the exp and 1/(1+x) 513-entry tables of TFLM's gen_lut. */
typedef struct {
    int32_t rows, depth;
    int32_t multiplier, shift; /* x - max(row) -> [-65535, 0] meaning [-10, 0] */
    const int16_t *exp_lut;
    const int16_t *recip_lut;
} tg_softmax16_params_t;

void tg_softmax_s16(const tg_softmax16_params_t *p, const int16_t *input, int16_t *output);

/* float32 -> int8 (out_bytes 1) or int16 (2): (int32)round(x / scale) + zero_point, clamped (x86 semantics out of range). */
void tg_quantize_f32(const float *input, void *output, int32_t size, float scale, int32_t zero_point, int32_t out_bytes);
/* output[i] = table[input[i] + 128], table and output int16 (out_bytes 2) or int32 (4). */
void tg_lut_s8_wide(const int8_t *input, void *output, int32_t size, const void *table, int32_t out_bytes);
/* int8 -> float32: scale * (float)(q - zero_point). */
void tg_dequantize_s8_f32(const int8_t *input, float *output, int32_t size, float scale, int32_t zero_point);

/* ------------------------------------------------------------------ reductions */

typedef struct {
    int32_t out_size;
    int32_t n_kept;
    int32_t kept_dims[TG_MAX_DIMS];    /* the kept axes, outermost first */
    int32_t kept_strides[TG_MAX_DIMS]; /* their input strides (elements) */
    int32_t n_red;
    int32_t red_dims[TG_MAX_DIMS];
    int32_t red_strides[TG_MAX_DIMS];
    int32_t count; /* elements averaged per output */
    int32_t input_zp, output_zp;
    int32_t multiplier, shift; /* 1/count folded in */
    int32_t itemsize;          /* 2: int16 input and output; otherwise int8 */
} tg_mean_params_t;

void tg_mean_s8(const tg_mean_params_t *p, const void *input, void *output);

/* SUM (as MEAN, without 1/count in the multiplier),
 * REDUCE_MAX, REDUCE_MIN (equal quantization) over any of the axes. */
enum { TG_REDUCE_SUM = 0, TG_REDUCE_MAX = 1, TG_REDUCE_MIN = 2 };
typedef struct {
    int32_t out_size;
    int32_t n_kept;
    int32_t kept_dims[TG_MAX_DIMS];
    int32_t kept_strides[TG_MAX_DIMS];
    int32_t n_red;
    int32_t red_dims[TG_MAX_DIMS];
    int32_t red_strides[TG_MAX_DIMS];
    int32_t kind; /* TG_REDUCE_* */
    int32_t count, input_zp, output_zp, multiplier, shift; /* SUM */
    int32_t itemsize;                                      /* 2: int16 input and output (SUM); otherwise int8 */
} tg_reduce_params_t;

void tg_reduce_s8(const tg_reduce_params_t *p, const void *input, void *output);

/* ------------------------------------------------------------------ integer arithmetic */

typedef struct {
    int32_t n, size;
    int32_t input_offset, output_zp; /* -input zero point (all inputs share it), output zero point */
    int32_t input_multiplier, input_shift, output_multiplier, output_shift; /* shifts <= 0 */
} tg_add_n_params_t;

/* ADD_N: output = sum of inputs[0..n-1] (int8, same shape and quantization). */
void tg_add_n_s8(const tg_add_n_params_t *p, const int8_t *const *inputs, int8_t *output);

typedef struct {
    tg_bcast_t shape;
    int32_t input_offset, alpha_offset, output_zp;
    int32_t mult1, shift1; /* x >= 0 */
    int32_t mult2, shift2; /* x < 0: x * alpha */
} tg_prelu_params_t;

/* PRELU (int8): alpha broadcasts against the input. */
void tg_prelu_s8(const tg_prelu_params_t *p, const int8_t *input, const int8_t *alpha, int8_t *output);

typedef struct {
    int32_t n_idx, depth;             /* index tuples, values per tuple (k) */
    int32_t dims[TG_MAX_DIMS];        /* params.shape[:k] */
    int32_t strides[TG_MAX_DIMS];     /* their strides (elements) */
    int32_t slice_size, elem_bytes;
} tg_gather_nd_params_t;

/* GATHER_ND: per index tuple, copy one slice of params; a tuple out of range gives zeros (TFLM fails the invoke). */
void tg_gather_nd(const tg_gather_nd_params_t *p, const int8_t *params, const int32_t *indices, int8_t *output);

typedef struct {
    int32_t dims[TG_MAX_DIMS];  /* operand shape, left-padded with 1 */
    int32_t udims[TG_MAX_DIMS]; /* update shape, likewise */
    int32_t rank, elem_bytes;   /* rank: number of start indices */
} tg_update_slice_params_t;

/* DYNAMIC_UPDATE_SLICE: output = operand with update at the clamped start indices (output may be the operand). */
void tg_update_slice(const tg_update_slice_params_t *p, const int8_t *operand, const int8_t *update, const int32_t *start,
                     int8_t *output);

typedef struct {
    int32_t outer, depth, inner; /* elements before the axis, along it, after it */
    int32_t exclusive, reverse;
    int32_t input_offset, output_zp;
    int32_t input_multiplier, input_shift, output_multiplier, output_shift; /* shifts <= 0 */
} tg_cumsum_params_t;

/* CUMSUM (int8), the ADD_N arithmetic along one axis. */
void tg_cumsum_s8(const tg_cumsum_params_t *p, const int8_t *input, int8_t *output);

/* CAST: in_type 0 int8, 1 int16, 2 int32, 3 bool; out_type also 4 float32. */
void tg_cast(const void *input, int32_t in_type, void *output, int32_t out_type, int32_t size);

/* ------------------------------------------------------------------ data movement */

/* output[j] = input[offset + sum_d idx_d * strides[d]] over the output's index space (C order):
 * TRANSPOSE, STRIDED_SLICE, SLICE. Strides may be negative. */
typedef struct {
    int32_t dims[TG_MAX_DIMS]; /* output shape, left-padded with 1 */
    int32_t strides[TG_MAX_DIMS];
    int32_t offset;
} tg_gather_params_t;

void tg_gather_s8(const tg_gather_params_t *p, const int8_t *input, int8_t *output);

/* CONCATENATION: for each of `outer` blocks, copy inner[k] bytes of every input k in turn. */
void tg_concat(int32_t n_inputs, const int8_t *const *inputs, const int32_t *inner, int32_t outer, int8_t *output);

typedef struct {
    int32_t in_dims[TG_MAX_DIMS];  /* left-padded with 1 */
    int32_t out_dims[TG_MAX_DIMS];
    int32_t before[TG_MAX_DIMS];   /* padding before, per axis */
} tg_pad_params_t;

void tg_pad_s8(const tg_pad_params_t *p, const int8_t *input, int8_t *output, int32_t pad_value);

/* ------------------------------------------------------------------ resize (tg_resize.c) */

/* RESIZE_NEAREST_NEIGHBOR, any value type: output pixel (b, y, x) = input pixel (b, in_y[y], in_x[x]),
 * pixel_bytes = channels * bytes per value. */
typedef struct {
    int32_t batches, in_h, in_w, out_h, out_w, pixel_bytes;
    const int32_t *in_y; /* [out_h] source rows */
    const int32_t *in_x; /* [out_w] source columns */
} tg_resize_params_t;

void tg_resize_nearest(const tg_resize_params_t *p, const int8_t *input, int8_t *output);

/* RESIZE_BILINEAR int8 (TFLM's ResizeBilinearInteger): per output row / column the two source
 * indices and the 10-bit fraction (scaled - 1024 * lower). */
typedef struct {
    int32_t batches, in_h, in_w, channels, out_h, out_w;
    const int32_t *y0, *y1, *dy;
    const int32_t *x0, *x1, *dx;
} tg_bilinear_params_t;

void tg_resize_bilinear_s8(const tg_bilinear_params_t *p, const int8_t *input, int8_t *output);

/* ------------------------------------------------------------------ data movement (tg_movement.c) */

/* tg_gather_s8 for elements of `elem_bytes` bytes (offset and strides in elements). */
void tg_gather_n(const tg_gather_params_t *p, const int8_t *input, int8_t *output, int32_t elem_bytes);
/* GATHER / EMBEDDING_LOOKUP with run-time indices (int32 or int64: index_bytes 4 or 8): for every
 * batch, outer block and index, copy `inner` values of `elem_bytes`; an index outside [0, axis_size)
 * gives zeros (TFLM fails the invoke). */
void tg_gather_rows(const int8_t *params, const void *indices, int32_t index_bytes, int8_t *output, int32_t batch,
                    int32_t outer, int32_t axis_size, int32_t inner, int32_t coords, int32_t elem_bytes);
/* FILL: `count` copies of the one value at `value` (elem_bytes 1, 2 or 4). */
void tg_fill(const void *value, void *output, int32_t count, int32_t elem_bytes);
/* output[i] = index[i] < 0 ? pad_value : input[index[i]], elements of `elem_bytes` bytes (1: int8, 2: int16). */
void tg_take_n(const int32_t *index, int32_t count, const int8_t *input, int8_t *output, int32_t elem_bytes, int32_t pad_value);

/* ------------------------------------------------------------------ select (tg_select.c) */

/* MAXIMUM (is_max = 1) / MINIMUM of int8 (elem_bytes 1) or int16 (2) values, numpy broadcasting. */
void tg_maxmin(const tg_bcast_t *shape, const void *a, const void *b, void *output, int32_t elem_bytes, int32_t is_max);
/* ARG_MAX (is_max = 1) / ARG_MIN over the middle axis of [outer, axis_len, inner]: the first extreme
 * index, written as int32 (out_bytes 4) or int64 (8); input int8 (in_bytes 1) or int16 (2). */
void tg_argminmax(const void *input, void *output, int32_t outer, int32_t axis_len, int32_t inner, int32_t in_bytes,
                  int32_t out_bytes, int32_t is_max);
/* int16 ABS (zero points 0): |x|, rescaled by TFLM's MultiplyByQuantizedMultiplier when `rescale`. */
void tg_abs_s16(const int16_t *input, int16_t *output, int32_t size, int32_t rescale, int32_t multiplier, int32_t shift);

/* ------------------------------------------------------------------ comparisons, logical, select (tg_compare.c) */

typedef struct {
    tg_bcast_t shape;
    int32_t code;       /* 0 ==, 1 !=, 2 <, 3 <=, 4 >, 5 >= */
    int32_t scaled;     /* 1: int8 inputs rescaled (TFLM ComparisonWithScaling); 0: int32 compared as they are */
    int32_t left_shift;
    int32_t offset1, mult1, shift1;
    int32_t offset2, mult2, shift2;
} tg_compare_params_t;

/* bool output: one byte, 0 or 1 */
void tg_compare(const tg_compare_params_t *p, const void *a, const void *b, uint8_t *output);
/* code 0 AND, 1 OR, 2 NOT (b unused) */
void tg_logical(const tg_bcast_t *shape, const uint8_t *a, const uint8_t *b, uint8_t *output, int32_t code);

typedef struct {
    int32_t dims[TG_MAX_DIMS];
    int32_t c_strides[TG_MAX_DIMS], x_strides[TG_MAX_DIMS], y_strides[TG_MAX_DIMS];
    int32_t elem_bytes;
} tg_select_params_t;

void tg_select_v2(const tg_select_params_t *p, const uint8_t *cond, const void *x, const void *y, void *output);

/* SQUARED_DIFFERENCE int8 / int16 (TFLM's rescale, square, requantize). */
typedef struct {
    tg_bcast_t shape;
    int32_t left_shift, offset1, offset2, output_offset;
    int32_t mult1, shift1, mult2, shift2, out_mult, out_shift;
    int32_t qmin, qmax, elem_bytes;
} tg_sqdiff_params_t;

void tg_squared_difference(const tg_sqdiff_params_t *p, const void *a, const void *b, void *output);

/* ------------------------------------------------------------------ int16 ADD / SUB / MUL (tg_eltwise16.c) */

typedef struct {
    tg_bcast_t shape;
    int32_t kind; /* 0 ADD, 1 SUB, 2 MUL */
    int32_t input1_offset, input2_offset, output_offset;
    int32_t left_shift;
    int32_t input1_multiplier, input1_shift;
    int32_t input2_multiplier, input2_shift;
    int32_t output_multiplier, output_shift;
    int32_t act_min, act_max;
} tg_eltwise16_params_t;

void tg_eltwise_s16(const tg_eltwise16_params_t *p, const int16_t *a, const int16_t *b, int16_t *output);
/* QUANTIZE int16 -> int8 (out_bytes 1) / int16 (2) / int32 (4): TFLM's Requantize. */
void tg_requantize_s16(const int16_t *input, void *output, int32_t size, int32_t input_zp, int32_t multiplier, int32_t shift,
                       int32_t output_zp, int32_t out_bytes);
/* DEQUANTIZE int16 -> float32: (float)scale * (float)(q - zero_point). */
void tg_dequantize_s16_f32(const int16_t *input, float *output, int32_t size, float scale, int32_t zero_point);
/* QUANTIZE int32 -> int8 (out_bytes 1) / int16 (2): TFLM's Requantize, int32 wrap-around where TFLM's C++ is undefined. */
void tg_requantize_s32(const int32_t *input, void *output, int32_t size, int32_t input_zp, int32_t multiplier, int32_t shift,
                       int32_t output_zp, int32_t out_bytes);
/* LEAKY_RELU int16 (TFLM QuantizeLeakyRelu): zp_out + MBQM(x - zp_in) with the identity multiplier for
 * x >= zp_in, the alpha one (its magnitude, the product negated when negate_alpha) below, clamped to int16. */
void tg_leaky_relu_s16(const int16_t *input, int16_t *output, int32_t size, int32_t input_zp, int32_t output_zp,
                       int32_t m_identity, int32_t s_identity, int32_t m_alpha, int32_t s_alpha, int32_t negate_alpha);
/* LOGISTIC / TANH int16 (TFLM's reference_integer_ops::Logistic / Tanh): x * multiplier rounded >> shift
 * (1 / 12288 per unit), linear interpolation in the 256-entry 0.16 table of sigmoid(i / 24) (9 fraction bits;
 * tanh = 2 sigmoid(2x) - 1 with 8), mirrored below 0, saturated from point 255 on. */
void tg_sigmoid_tanh_s16(const int16_t *input, int16_t *output, int32_t size, int32_t multiplier, int32_t shift,
                         int32_t is_tanh, const uint16_t *table);

/* ------------------------------------------------------------------ 16x8 conv, transpose conv (tg_conv16.c) */

/* CONV_2D with int16 activations (16x8) and TRANSPOSE_CONV (int8 or 16x8), TFLM's reference
 * arithmetic: accumulator int64 (acc64, int64 bias) or int32, requantized per output channel by
 * TFLM's 64-bit (single rounding) or 32-bit (double rounding) MultiplyByQuantizedMultiplier. */
typedef struct {
    int32_t batches;
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_top, pad_left;
    int32_t groups;
    int32_t input_zp, output_zp; /* 0 for int16 */
    int32_t act_min, act_max;
    int32_t acc64;               /* 1: int64 accumulator and bias64; 0: int32 accumulator and bias32 */
    int32_t int16;               /* 1: int16 activations; 0: int8 (transpose conv) */
    const int8_t *weights;       /* OHWI */
    const int32_t *bias32;       /* or NULL */
    const int64_t *bias64;       /* or NULL */
    const int32_t *multiplier;   /* per output channel */
    const int32_t *shift;
} tg_conv16_params_t;

void tg_conv2d_s16(const tg_conv16_params_t *p, const int16_t *input, int16_t *output);
/* gather formulation: one accumulator per output value, no scratch */
void tg_transpose_conv(const tg_conv16_params_t *p, const void *input, void *output);
/* TRANSPOSE_CONV (int8 or 16x8), Cortex-M DSP variant (tg_tconv.c): the same gather with SMLAD / SMLALD dot
 * products, no scratch (tg_transpose_conv without the DSP extension) */
void tg_transpose_conv_dsp(const tg_conv16_params_t *p, const void *input, void *output);

/* ------------------------------------------------------------------ LSTM (tg_lstm.c) */

typedef struct {
    const int8_t *w_in, *w_rec;   /* (units, input) and (units, units) int8 weights */
    const int32_t *b_in, *b_rec;  /* bias - zero point * row sums, per unit (8x8) */
    const int64_t *b_in64;        /* 16x8: the int64 bias, per unit (zero points are 0: no recurrent bias) */
    int32_t m_in, s_in, m_rec, s_rec;  /* requantization to Q3.12 */
} tg_lstm_gate_t;

typedef struct {
    int32_t batch, steps, n_input, n_state;
    int32_t time_major, cell_tanh;
    tg_lstm_gate_t gates[4];      /* input, forget, cell, output */
    int32_t forget_m, forget_s, input_m, input_s, output_m, output_s;
    int32_t hidden_zp, cell_tanh_mult, cell_tanh_shift, cell_clip;
    int32_t reset;                /* reset the state at the start of every call */
    const uint16_t *sigmoid_table;  /* 256 entries */
} tg_lstm_params_t;

/* hidden (int8) and cell (int16) states: batch x units, updated in place; no scratch */
void tg_lstm_s8(const tg_lstm_params_t *p, const int8_t *input, int8_t *output, int8_t *hidden, int16_t *cell);
void tg_lstm_reset(const tg_lstm_params_t *p, int8_t *hidden, int16_t *cell);
/* 16x8: int16 input, hidden state and output (zero points 0), int64 accumulators; portable C */
void tg_lstm_s16(const tg_lstm_params_t *p, const int16_t *input, int16_t *output, int16_t *hidden, int16_t *cell);

/* ------------------------------------------------------------------ SVDF (tg_svdf.c) */

typedef struct {
    int32_t batch, n_input, n_filter, rank, memory;
    const int8_t *w_feature;      /* (filters, input) int8 */
    const int32_t *f_bias;        /* -input_zp * row sums of w_feature, per filter */
    const void *w_time;           /* (filters, memory): int16 (tg_svdf_s8_s16) or int8 (tg_svdf_s8_s8) */
    const int32_t *bias;          /* per unit: bias - state_zp * the unit's time weight sums */
    int32_t m1, s1, m2, s2;       /* feature product -> state, time product -> output */
    int32_t state_zp, out_zp, reset_fill;
    int32_t reset;                /* reset the state at the start of every call */
} tg_svdf_params_t;

/* state: batch x filters x memory, updated in place; no scratch */
void tg_svdf_s8_s16(const tg_svdf_params_t *p, const int8_t *input, int8_t *output, int16_t *state);
void tg_svdf_s8_s8(const tg_svdf_params_t *p, const int8_t *input, int8_t *output, int8_t *state);

/* ------------------------------------------------------------------ int32 arithmetic (tg_int32.c) */

/* code: 0 ADD, 1 SUB, 2 MUL, 3 MAXIMUM, 4 MINIMUM, 5 SQUARED_DIFFERENCE, 6 DIV; wraps modulo 2^32, then
 * clamps to [act_min, act_max]. In place (output == a) allowed when a has the output's shape. */
void tg_binary_s32(const tg_bcast_t *s, const int32_t *a, const int32_t *b, int32_t *output, int32_t code,
                   int32_t act_min, int32_t act_max);
/* BROADCAST_ARGS: the broadcast of shape vectors a (n0 values) and b (n1), aligned at the end */
void tg_broadcast_args_s32(const int32_t *a, int32_t n0, const int32_t *b, int32_t n1, int32_t *output, int32_t n_out);

/* ------------------------------------------------------------------ DIV, L2_NORMALIZATION (tg_fxmath.c) */

typedef struct {
    tg_bcast_t shape;
    int32_t input1_offset, output_offset, output_multiplier, act_min, act_max;
    const int32_t *inv;        /* per divisor value q2 + 128: GetReciprocal raw of |q2 - zp2| */
    const int8_t *base_shift;  /* output_shift - reciprocal shift */
    const int8_t *neg;         /* 1 where q2 - zp2 < 0 */
} tg_div_params_t;

void tg_div_s8(const tg_div_params_t *p, const int8_t *a, const int8_t *b, int8_t *output);
/* TFLM GetInvSqrtQuantizedMultiplierExp with kReverseShift = -1 */
void tg_inv_sqrt_exp(int32_t x, int32_t *multiplier, int32_t *shift);
void tg_l2norm_s8(const int8_t *input, int8_t *output, int32_t outer, int32_t depth, int32_t input_zp);

typedef struct {
    int32_t outer, depth;
    const int32_t *q5;    /* per difference to the row maximum (-255 .. 0, index d + 255): Q5.26 */
    const int32_t *exps;  /* Rescale<12>(exp(q5)), 0 below diff_min */
    int32_t diff_min, reverse_divisor, reverse_shift;
} tg_log_softmax_params_t;

void tg_log_softmax_s8(const tg_log_softmax_params_t *p, const int8_t *input, int8_t *output);

/* ------------------------------------------------------------------ BATCH_MATMUL (tg_bmm.c) */

typedef struct {
    int32_t batches, rows, cols, depth;
    const int32_t *lhs_off, *rhs_off;  /* element offset of each output batch's matrices */
    int32_t l_si, l_sk, r_sk, r_sj;    /* element strides: lhs (row i, depth k), rhs (depth k, column j) */
    int32_t lhs_zp, rhs_zp, out_zp, multiplier, shift;
    int32_t dsp;                       /* 1: lhs rows contiguous (l_sk = 1): the DSP variant may run */
} tg_bmm_params_t;

/* scratch: 2 * depth rounded up to 4 bytes (the DSP variants; may be 0 otherwise) */
void tg_batch_matmul_s8(const tg_bmm_params_t *p, const int8_t *lhs, const int8_t *rhs, int8_t *output, int16_t *scratch);
void tg_batch_matmul_s16(const tg_bmm_params_t *p, const int16_t *lhs, const int16_t *rhs, int16_t *output, int16_t *scratch);

#ifdef __cplusplus
}
#endif

#endif /* TG_KERNELS_H */
