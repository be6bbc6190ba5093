"""DIV, RSQRT, L2_NORMALIZATION, LOG_SOFTMAX (int8): the ops whose TFLM integer kernels are gemmlowp fixed-point
math (reciprocals and inverse square roots), computed here exactly as TFLite Micro does.

- DIV (reference_ops::DivElementwise / BroadcastDivSlowQuantized, int8): v1 = q1 - zp1, v2 = q2 - zp2
  (signs flipped so that v2 > 0); inv, recip_shift = GetReciprocal(v2, 31); headroom =
  CountLeadingSignBits(v1); out = zp_out + MultiplyByQuantizedMultiplierSmallerThanOneExp(
  MultiplyByQuantizedMultiplierGreaterThanOne(v1, inv, headroom), M, shift - recip_shift - headroom),
  clamped to the fused activation; M, shift = QuantizeMultiplier(double(float(s1 / (s2 * s_out)))).
  The divisor has 256 possible values: its reciprocal, shift and sign are tabulated at generation
  time (tg_div_s8 reads the tables), so the C kernel never divides. A divisor equal to its zero
  point is undefined in TFLM (a debug check); tinygen gives what the table holds.
- RSQRT (elementwise.cc RsqrtEvalQuantized, int8): a 256-entry table of
  MultiplyByQuantizedMultiplier(MultiplyByQuantizedMultiplier(1, inv_sqrt, inv_shift + 20), M, shift - 20)
  + zp_out with GetInvSqrtQuantizedMultiplierExp(q - zp_in) and M from 1 / (sqrt(s_in) * s_out);
  q == zp_in gives 127. TFLM fails the inference on inputs below the zero point; the table holds 127 there.
- L2_NORMALIZATION (reference_integer_ops::L2Normalization, int8): per row of the last axis,
  acc = sum (q - zp)^2, inv, shift = GetInvSqrtQuantizedMultiplierExp(acc), out =
  clamp(MultiplyByQuantizedMultiplier(q - zp, inv, shift + 7)): the output is in units of 1/128 with
  zero point 0 whatever the output tensor's quantization says (TFLM does not read it). C: tg_l2norm_s8.
- LOG_SOFTMAX (reference_ops::LogSoftmaxQuantized, int8 -> int8 with scale 16/256, zero point 127): per
  row of the last axis, the rescaled differences to the row maximum (Q5.26) and their exps (Q12.19) come
  from two 256-entry tables computed at generation time; the C kernel sums the exps, takes TFLM's
  log_x_for_x_greater_than_or_equal_to_1 of the sum (run time) and writes
  RoundingDivideByPOT(q5 - log_sum, 22) + 127 where the difference is above the adjusted minimum.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinygen.model import fixedpoint as fp
from .base import Op, padded_shape, register, require, require_broadcast, require_int8

INT32_MAX = (1 << 31) - 1
_FUSED = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")


def _i64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


def count_leading_sign_bits(x) -> np.ndarray:
    """CountLeadingSignBits(int32): redundant sign bits (31 for 0 and -1)."""
    x = _i64(x)
    return fp.count_leading_zeros_u32(np.where(x < 0, ~x, x)) - 1


def inv_sqrt_multiplier_exp(x) -> tuple[np.ndarray, np.ndarray]:
    """TFLM GetInvSqrtQuantizedMultiplierExp(x, kReverseShift = -1): (multiplier, shift) of 1 / sqrt(x)."""
    x = _i64(x)
    small = x <= 1
    x = np.where(small, 2, x)
    shift = np.full(x.shape, 11, dtype=np.int64)
    while True:
        big = x >= (1 << 29)
        if not big.any():
            break
        x = np.where(big, x // 4, x)
        shift = shift + big
    pairs = ((fp.count_leading_zeros_u32(x) - 1) // 2) - 1
    shift = shift - pairs
    x = x << (2 * pairs)
    f_in = x >> 1  # F3 raw
    half_in = fp.saturating_rounding_multiply_by_pot(f_in, -1)
    half_three = (1 << 28) + (1 << 27)
    r = np.full(x.shape, 1 << 28, dtype=np.int64)  # F3 one
    mul = fp.saturating_rounding_doubling_high_mul
    for _ in range(5):
        x3 = fp.saturating_rounding_multiply_by_pot(mul(mul(r, r), r), 6)  # F9 -> F3
        r = fp.saturating_rounding_multiply_by_pot(fp.wrap_int32(mul(half_three, r) - mul(half_in, x3)), 3)  # F6 -> F3
    r = mul(r, 1518500250)  # * sqrt(2) / 2 (F0)
    neg = shift < 0
    r = np.where(neg, fp.wrap_int32(r << np.where(neg, -shift, 0)), r)
    shift = np.where(neg, 0, shift)
    return np.where(small, INT32_MAX, r), np.where(small, 0, -shift)


# ---------------------------------------------------------------- DIV


@dataclass(frozen=True)
class DivParams:
    shape0: tuple
    shape1: tuple
    out_shape: tuple
    input1_offset: int
    output_offset: int
    output_multiplier: int
    act_min: int
    act_max: int
    inv: np.ndarray  # int32 per divisor value (q2 + 128): GetReciprocal raw
    base_shift: np.ndarray  # int8 per divisor value: output_shift - recip_shift
    neg: np.ndarray  # int8 per divisor value: 1 where q2 - zp2 < 0


def _div_values(p: DivParams, q1, q2) -> np.ndarray:
    k = _i64(q2) + 128
    v1 = _i64(q1) + p.input1_offset
    v1 = np.where(p.neg[k] != 0, -v1, v1)
    headroom = count_leading_sign_bits(v1)
    uq = fp.multiply_by_quantized_multiplier_greater_than_one(v1, p.inv[k].astype(np.int64), headroom)
    total = p.base_shift[k].astype(np.int64) - headroom
    right = np.maximum(-total, 0)
    q = fp.rounding_divide_by_pot(fp.saturating_rounding_doubling_high_mul(uq, p.output_multiplier), np.minimum(right, 31))
    q = np.where(right > 31, 0, q)  # |x| / 2^32 or less rounds to 0 (TFLM shifts an int32 by >= 32 here: undefined in C++)
    return np.clip(p.output_offset + q, p.act_min, p.act_max)


def div_shift_undefined(p: "DivParams", q1, q2) -> np.ndarray:
    """Where TFLM's DIV shifts right by 32 or more (undefined behaviour in its C++: the x86 build of the
    tflite_micro package gives large values there, a Cortex-M build others): True per element."""
    k = _i64(q2) + 128
    v1 = _i64(q1) + p.input1_offset
    v1 = np.where(p.neg[k] != 0, -v1, v1)
    return count_leading_sign_bits(v1) - p.base_shift[k].astype(np.int64) > 31


@register
class Div(Op):
    name = "DIV"
    max_rank = 5

    def check(self, g, op):
        require(len(op.inputs) == 2 and len(op.outputs) == 1, op, "expects two inputs and one output")
        require_int8(g, op, inputs=(0, 1))
        t0, t1, to = (g.tensors[i] for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
        for t, role in ((t0, "input 0"), (t1, "input 1"), (to, "output")):
            require(len(t.shape) <= self.max_rank, op, f"{role} has rank {len(t.shape)}: broadcast of rank > {self.max_rank} not supported")
            require(t.scale > 0, op, f"{role} scale must be positive")
        require_broadcast(op, t0, t1, to)
        require(op.activation in _FUSED, op, f"fused activation {op.activation} not supported")

    def prepare(self, g, op):
        t0, t1, to = (g.tensors[i] for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
        f32 = np.float32  # the tflite_micro package computes the ratio in double (newer TFLM sources: in float)
        m, s = fp.quantize_multiplier(float(f32(t0.scale)) / (float(f32(t1.scale)) * float(f32(to.scale))))
        v2 = np.arange(-128, 128, dtype=np.int64) - t1.zero_point
        neg = v2 < 0
        inv, recip_shift = fp.get_reciprocal(np.abs(v2), 31)
        lo, hi = fp.activation_range_int8(op.activation, to.scale, to.zero_point)
        r = len(to.shape)
        return DivParams(padded_shape(t0.shape, r), padded_shape(t1.shape, r), tuple(to.shape), -t0.zero_point, to.zero_point, m, lo, hi,
                         inv.astype(np.int32), (s - recip_shift).astype(np.int8), neg.astype(np.int8))

    def run(self, p: DivParams, inputs):
        a = inputs[0].reshape((inputs[0].shape[0],) + p.shape0)
        b = inputs[1].reshape((inputs[1].shape[0],) + p.shape1)
        n = max(a.shape[0], b.shape[0])
        y = _div_values(p, a, b).astype(np.int8)
        return [np.ascontiguousarray(np.broadcast_to(y, (n,) + p.out_shape))]

    def macs(self, g, op):
        return g.tensors[op.outputs[0]].size

    def emit_c(self, p: DivParams, ctx):
        """C binding: tg_div_s8 (firmware/kernels/tg_fxmath.c) with the per-divisor tables."""
        from tinygen.ops.c_emit import broadcast_fields

        ctx.need("tg_fxmath.c")
        fields = dict(shape=broadcast_fields(p.shape0, p.shape1, p.out_shape), input1_offset=p.input1_offset,
                      output_offset=p.output_offset, output_multiplier=p.output_multiplier, act_min=p.act_min, act_max=p.act_max,
                      inv=ctx.const(p.inv, "int32_t", f"op{ctx.op_index}_inv"),
                      base_shift=ctx.const(p.base_shift, "int8_t", f"op{ctx.op_index}_shift"),
                      neg=ctx.const(p.neg, "int8_t", f"op{ctx.op_index}_neg"))
        st = ctx.struct("tg_div_params_t", fields)
        return f"tg_div_s8({st}, {ctx.input(0)}, {ctx.input(1)}, {ctx.output()});"


# ---------------------------------------------------------------- RSQRT


@dataclass(frozen=True)
class TableParams:
    table: np.ndarray  # int8[256], indexed by q + 128


@register
class Rsqrt(Op):
    name = "RSQRT"
    inplace = True

    def check(self, g, op):
        require(len(op.inputs) == 1 and len(op.outputs) == 1, op, "expects one input and one output")
        require_int8(g, op)
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        require(tuple(x.shape) == tuple(y.shape), op, "output shape differs from the input's")
        require(x.scale > 0 and y.scale > 0, op, "scales must be positive")

    def prepare(self, g, op):
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        real = 1.0 / (np.sqrt(float(np.float32(x.scale))) * float(np.float32(y.scale)))
        m, s = fp.quantize_multiplier(real)
        value = np.arange(-128, 128, dtype=np.int64) - x.zero_point
        inv, ishift = inv_sqrt_multiplier_exp(np.maximum(value, 0))
        data = fp.multiply_by_quantized_multiplier(np.ones_like(value), inv, ishift + 20)
        out = fp.multiply_by_quantized_multiplier(data, m, s - 20) + y.zero_point
        table = np.where(value <= 0, 127, np.clip(out, -128, 127)).astype(np.int8)
        return TableParams(table)

    def run(self, p: TableParams, inputs):
        return [p.table[inputs[0].astype(np.int16) + 128]]

    def emit_c(self, p: TableParams, ctx):
        """C binding: tg_lut_s8 with the table the numpy kernel uses."""
        ctx.need("tg_lut.c")
        n = ctx.output_tensor().size
        return f"tg_lut_s8({ctx.input(0)}, {ctx.output()}, {n}, {ctx.const(p.table, 'int8_t', f'op{ctx.op_index}_table')});"


# ---------------------------------------------------------------- L2_NORMALIZATION


@dataclass(frozen=True)
class L2NormParams:
    outer: int
    depth: int
    input_zp: int


@register
class L2Normalization(Op):
    name = "L2_NORMALIZATION"

    def check(self, g, op):
        require(len(op.inputs) == 1 and len(op.outputs) == 1, op, "expects one input and one output")
        require_int8(g, op)
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        require(tuple(x.shape) == tuple(y.shape), op, "output shape differs from the input's")
        require(1 <= len(x.shape) <= 4, op, f"rank {len(x.shape)} input: TFLM normalizes rank 1..4")
        require(op.activation == "NONE", op, f"fused activation {op.activation} is not supported (TFLM accepts NONE only)")
        require(x.shape[-1] * 255 * 255 <= INT32_MAX, op, f"last axis of {x.shape[-1]} values: the int32 sum of squares could overflow")

    def prepare(self, g, op):
        x = g.tensors[op.inputs[0]]
        return L2NormParams(int(np.prod(x.shape[:-1], dtype=np.int64)), int(x.shape[-1]), x.zero_point)

    def run(self, p: L2NormParams, inputs):
        x = inputs[0]
        v = x.reshape(x.shape[0], p.outer, p.depth).astype(np.int64) - p.input_zp
        acc = (v * v).sum(axis=2, keepdims=True)
        inv, shift = inv_sqrt_multiplier_exp(acc)
        y = np.clip(fp.multiply_by_quantized_multiplier(v, inv, shift + 7), -128, 127).astype(np.int8)
        return [y.reshape(x.shape)]

    def macs(self, g, op):
        return 2 * g.tensors[op.inputs[0]].size

    def emit_c(self, p: L2NormParams, ctx):
        """C binding: tg_l2norm_s8 (firmware/kernels/tg_fxmath.c)."""
        ctx.need("tg_fxmath.c")
        return f"tg_l2norm_s8({ctx.input(0)}, {ctx.output()}, {p.outer}, {p.depth}, {p.input_zp});"


# ---------------------------------------------------------------- LOG_SOFTMAX

LOG_2, SQRT_SQRT_HALF, SQRT_HALF = 1488522236, 1805811301, 1518500250
ALPHA_N, ALPHA_D, ALPHA_I, ALPHA_F = 117049297, 127690142, 1057819769, 638450708
INT32_MIN = -(1 << 31)


def _sat_shl(x, e) -> np.ndarray:
    """gemmlowp SaturatingRoundingMultiplyByPOTParam for exponents e >= 0 (per element)."""
    x, e = _i64(x), _i64(e)
    threshold = (np.int64(1) << (31 - e)) - 1
    shifted = fp.wrap_int32(x << e)
    out = np.where(x > threshold, INT32_MAX, np.where(x < -threshold, INT32_MIN, shifted))
    return np.where(e == 0, x, out)


def _sat(v) -> np.ndarray:
    return np.clip(_i64(v), INT32_MIN, INT32_MAX)


def log_x_ge_1(x, input_bits: int, output_bits: int) -> np.ndarray:
    """TFLM log_x_for_x_greater_than_or_equal_to_1<output_bits>(FixedPoint<int32, input_bits>) (raws)."""
    mul, add, sub = fp.saturating_rounding_doubling_high_mul, (lambda a, b: fp.wrap_int32(_i64(a) + _i64(b))), (lambda a, b: fp.wrap_int32(_i64(a) - _i64(b)))
    accum = output_bits + 1
    shifted_quarter = int(fp.rounding_divide_by_pot(536870912, accum))
    z_a = _i64(x)
    hp1 = fp.count_leading_zeros_u32(z_a)
    r_a_raw = _sat_shl(mul(_sat_shl(z_a, hp1 - 1), SQRT_HALF), 1)
    z_a_adj = _sat(_sat_shl(input_bits - hp1, 31 - accum) + shifted_quarter)
    z_b = mul(z_a, SQRT_HALF)
    z_b_headroom = fp.count_leading_zeros_u32(z_b) - 1
    r_b_raw = _sat_shl(z_a, z_b_headroom)
    z_b_adj = _sat(_sat_shl(input_bits - z_b_headroom, 31 - accum) - shifted_quarter)
    r = np.minimum(r_a_raw, r_b_raw)
    z_adj = np.maximum(z_a_adj, z_b_adj)
    p = fp.rounding_half_sum(r, SQRT_SQRT_HALF)
    q = sub(r, SQRT_SQRT_HALF)
    q = add(q, q)
    common_sq = mul(q, q)
    num = add(mul(q, r), mul(mul(q, common_sq), ALPHA_N))
    denom = add(mul(p, add(add(ALPHA_I, q), mul(ALPHA_D, common_sq))), mul(ALPHA_F, q))
    recip = fp.one_over_one_plus_x_for_x_in_0_1(denom)
    num_scaled = fp.rounding_divide_by_pot(num, accum)
    return fp.saturating_rounding_multiply_by_pot(add(mul(z_adj, LOG_2), mul(num_scaled, recip)), accum - output_bits)


LS_INPUT_BITS, LS_ACCUM_BITS, LS_OUTPUT_BITS = 5, 12, 4
LS_MAX_DEPTH = 4095  # the int32 Q12.19 sum of exps of 4096 equal entries overflows


@dataclass(frozen=True)
class LogSoftmaxParams:
    outer: int
    depth: int
    q5: np.ndarray  # int32[256]: MultiplyByQuantizedMultiplier(diff, M, left_shift) for diff = -255 + i
    exps: np.ndarray  # int32[256]: Rescale<12>(exp_on_negative_values(q5)), 0 where diff < diff_min
    diff_min: int
    reverse_divisor: int
    reverse_shift: int  # shift for MultiplyByQuantizedMultiplier (<= 0)


@register
class LogSoftmax(Op):
    """TFLM log_softmax.cc / reference_ops::LogSoftmaxQuantized (int8; output scale 16/256, zero point 127)."""

    name = "LOG_SOFTMAX"

    def check(self, g, op):
        require(len(op.inputs) == 1 and len(op.outputs) == 1, op, "expects one input and one output")
        require_int8(g, op)
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        require(tuple(x.shape) == tuple(y.shape) and len(x.shape) >= 1, op, "output shape differs from the input's")
        require(y.scale == 16.0 / 256 and y.zero_point == 127, op,
                f"output scale {y.scale:g}, zero point {y.zero_point}: TFLM requires 16/256 and 127")
        require(x.scale > 0, op, "input scale must be positive")
        require(x.shape[-1] <= LS_MAX_DEPTH, op, f"log-softmax over {x.shape[-1]} entries overflows TFLM's accumulator (max {LS_MAX_DEPTH})")
        real = min(float(np.float32(x.scale)) * float(1 << (31 - LS_INPUT_BITS)), float((1 << 31) - 1))
        require(real > 1.0, op, f"input scale {x.scale:g} is too small (TFLM needs > 2^-26)")

    def prepare(self, g, op):
        x = g.tensors[op.inputs[0]]
        real = min(1.0 * float(np.float32(x.scale)) * float(1 << (31 - LS_INPUT_BITS)), float((1 << 31) - 1))
        m, left = fp.quantize_multiplier(real)
        rd, rs = fp.quantize_multiplier(float(1 << (31 - left)) / float(m))
        diff_min = -fp.calculate_input_radius(LS_INPUT_BITS, left, 31)
        diff = np.arange(-255, 1, dtype=np.int64)
        q5 = fp.multiply_by_quantized_multiplier(diff, m, left)
        exps = np.where(diff >= diff_min, fp.rounding_divide_by_pot(fp.exp_on_negative_values(q5, LS_INPUT_BITS), LS_ACCUM_BITS), 0)
        return LogSoftmaxParams(int(np.prod(x.shape[:-1], dtype=np.int64)), int(x.shape[-1]), q5.astype(np.int32),
                                exps.astype(np.int32), int(diff_min), int(rd), int(rs))

    def run(self, p: LogSoftmaxParams, inputs):
        x = inputs[0].reshape(inputs[0].shape[0], p.outer, p.depth).astype(np.int64)
        diff = x - x.max(axis=2, keepdims=True)
        k = diff + 255
        total = fp.wrap_int32(p.exps.astype(np.int64)[k].sum(axis=2, keepdims=True))
        log_sum = log_x_ge_1(total, LS_ACCUM_BITS, LS_INPUT_BITS)
        shifted = fp.wrap_int32(log_sum + INT32_MIN)
        adjusted = np.maximum(p.diff_min - 1, fp.multiply_by_quantized_multiplier(shifted, p.reverse_divisor, p.reverse_shift))
        q5 = p.q5.astype(np.int64)[k]
        out = fp.rounding_divide_by_pot(fp.wrap_int32(q5 - log_sum), 31 - LS_INPUT_BITS - LS_OUTPUT_BITS) + 127
        y = np.where(diff > adjusted, np.clip(out, -128, 127), -128).astype(np.int8)
        return [y.reshape(inputs[0].shape)]

    def macs(self, g, op):
        return 2 * g.tensors[op.inputs[0]].size

    def emit_c(self, p: LogSoftmaxParams, ctx):
        """C binding: tg_log_softmax_s8 (firmware/kernels/tg_fxmath.c) with the q5 and exp tables."""
        ctx.need("tg_fxmath.c")
        k = ctx.op_index
        fields = dict(outer=p.outer, depth=p.depth, q5=ctx.const(p.q5, "int32_t", f"op{k}_q5"),
                      exps=ctx.const(p.exps, "int32_t", f"op{k}_exps"), diff_min=p.diff_min,
                      reverse_divisor=p.reverse_divisor, reverse_shift=p.reverse_shift)
        return f"tg_log_softmax_s8({ctx.struct('tg_log_softmax_params_t', fields)}, {ctx.input(0)}, {ctx.output()});"


__all__ = ["Div", "Rsqrt", "L2Normalization", "LogSoftmax", "inv_sqrt_multiplier_exp", "count_leading_sign_bits", "log_x_ge_1"]
