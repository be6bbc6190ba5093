"""Unary int8 activations: LOGISTIC, TANH, RELU, RELU6, LEAKY_RELU, HARD_SWISH.

Each result depends on one input value only, so `prepare` runs TFLite Micro's exact
integer arithmetic (the reference kernels' fixed-point paths, with the parameters
their Prepare computes) over all 256 int8 inputs and keeps the 256-entry table.
The numpy kernel and the C binding both just look values up:

    out = table[x + 128]        # table: int8[256], entry i is the output for input i - 128

`LutParams.tflm` keeps the TFLM parameters the table was built from (for reports / tests).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from tinygen.model import fixedpoint as fp
from .base import Op, register, require, require_int8

INT8_INPUTS = np.arange(-128, 128, dtype=np.int64)


@dataclass
class LutParams:
    table: np.ndarray  # int8[256], indexed by x + 128
    tflm: dict = field(default_factory=dict)


def lut_lookup(table: np.ndarray, x: np.ndarray) -> np.ndarray:
    return table[x.astype(np.int16) + 128]


def _to_table(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.int64)
    assert values.shape == (256,) and values.min() >= -128 and values.max() <= 127
    return values.astype(np.int8)


class _Lut(Op):
    """Shared check/run for the table-driven unary ops."""

    inplace = True

    def check(self, g, op):
        require(len(op.inputs) >= 1 and len(op.outputs) == 1, op, "expects one input and one output")
        require_int8(g, op)
        src, dst = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        require(src.size == dst.size, op, f"output has {dst.size} elements, input {src.size}")
        require(src.scale > 0 and dst.scale > 0, op, "quantization scales must be positive")

    def run(self, p: LutParams, inputs):
        return [lut_lookup(p.table, inputs[0])]

    def macs(self, g, op):
        return 0

    def emit_c(self, p: LutParams, ctx):
        """C binding: tg_lut_s8 (firmware/kernels/tg_lut.c) with the 256-entry table in flash."""
        ctx.need("tg_lut.c")
        table = ctx.const(p.table, "int8_t", f"op{ctx.op_index}_table")
        return f"tg_lut_s8({ctx.input(0)}, {ctx.output()}, {ctx.output_tensor().size}, {table});"


def _frexp_multiplier(real: float) -> tuple[int, int]:
    """std::frexp + TfLiteRound(q * 2^31), as LOGISTIC/TANH Prepare compute it (no renormalisation)."""
    q, shift = math.frexp(real)
    return fp.tflite_round(q * (1 << 31)), shift


def _sigmoid_tanh_params(input_scale: float):
    """input_multiplier / input_left_shift / input_range_radius (kInputIntegerBits = 4)."""
    real = float(input_scale) * float(1 << 27)
    multiplier, left_shift = _frexp_multiplier(real)
    return multiplier, left_shift, fp.calculate_input_radius(4, left_shift, 31)


def _check_sigmoid_tanh_input(g, op):
    s = g.tensors[op.inputs[0]].scale
    _, left_shift = math.frexp(float(s) * float(1 << 27))
    require(left_shift >= 0, op, f"input scale {s:g} is too small (TFLM's input_left_shift would be negative)")
    require(left_shift <= 31, op, f"input scale {s:g} is too large")


def _fixed_unary_int8(x, zero_point, radius, multiplier, left_shift, fn, out_shift, out_offset):
    """The common LOGISTIC/TANH int8 reference path on int64 input values."""
    inp = np.asarray(x, dtype=np.int64) - zero_point
    q4 = fp.multiply_by_quantized_multiplier(np.clip(inp, -radius, radius), multiplier, left_shift)
    q0 = fn(q4, 4)
    out = np.clip(fp.rounding_divide_by_pot(q0, out_shift) + out_offset, -128, 127)
    return np.where(inp <= -radius, -128, np.where(inp >= radius, 127, out))


@register
class Logistic(_Lut):
    name = "LOGISTIC"

    def check(self, g, op):
        super().check(g, op)
        dst = g.tensors[op.outputs[0]]
        require(dst.zero_point == -128, op, f"output zero point is {dst.zero_point}; TFLM requires -128")
        require(dst.scale == 1.0 / 256, op, f"output scale is {dst.scale:g}; TFLM's int8 LOGISTIC always produces 1/256")
        _check_sigmoid_tanh_input(g, op)

    def prepare(self, g, op):
        src = g.tensors[op.inputs[0]]
        m, s, r = _sigmoid_tanh_params(src.scale)
        table = _fixed_unary_int8(INT8_INPUTS, src.zero_point, r, m, s, fp.fixed_logistic, 23, -128)
        return LutParams(_to_table(table), dict(input_zero_point=src.zero_point, input_multiplier=m,
                                                input_left_shift=s, input_range_radius=r))


@register
class Tanh(_Lut):
    name = "TANH"

    def check(self, g, op):
        super().check(g, op)
        dst = g.tensors[op.outputs[0]]
        require(dst.zero_point == 0 and dst.scale == 1.0 / 128, op,
                f"output quantization is scale {dst.scale:g} zero point {dst.zero_point}; "
                "TFLM's int8 TANH always produces scale 1/128, zero point 0")
        _check_sigmoid_tanh_input(g, op)

    def prepare(self, g, op):
        src = g.tensors[op.inputs[0]]
        m, s, r = _sigmoid_tanh_params(src.scale)
        table = _fixed_unary_int8(INT8_INPUTS, src.zero_point, r, m, s, fp.fixed_tanh, 24, 0)
        return LutParams(_to_table(table), dict(input_zero_point=src.zero_point, input_multiplier=m,
                                                input_left_shift=s, input_range_radius=r))


def _check_multiplier(op, what: str, real: float):
    m, shift = fp.quantize_multiplier(real)
    require(shift <= 23, op, f"{what} multiplier {real:g} is too large")
    return m, shift


@register
class Relu(_Lut):
    """TFLM ReluQuantized: requantize input -> output, clamp at the output's zero (and int8 max)."""

    name = "RELU"

    def check(self, g, op):
        super().check(g, op)
        src, dst = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        _check_multiplier(op, "input/output scale", float(src.scale) / float(dst.scale))

    def prepare(self, g, op):
        src, dst = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        m, shift = fp.quantize_multiplier(float(src.scale) / float(dst.scale))
        # act_min = 0: zero_point + roundf(0 / scale) = zero_point
        qmin = max(-128, dst.zero_point)
        y = dst.zero_point + fp.multiply_by_quantized_multiplier(INT8_INPUTS - src.zero_point, m, shift)
        table = np.clip(y, qmin, 127)
        return LutParams(_to_table(table), dict(output_multiplier=m, output_shift=shift, input_offset=src.zero_point,
                                                output_offset=dst.zero_point, quantized_activation_min=qmin,
                                                quantized_activation_max=127))


@register
class Relu6(_Lut):
    """TFLM Relu6Quantized: clamp in the input domain to [q(0), q(6)], no requantization."""

    name = "RELU6"

    def check(self, g, op):
        super().check(g, op)
        src, dst = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        require(src.scale == dst.scale and src.zero_point == dst.zero_point, op,
                "input and output quantization differ; TFLM's int8 RELU6 does not requantize")
        # TFLM converts round(6 / scale) + zero_point from float to int32: out of range is undefined
        require(abs(float(np.float32(6.0) / np.float32(src.scale))) < 2.0**30, op, f"input scale {src.scale:g} is too small")

    def prepare(self, g, op):
        src = g.tensors[op.inputs[0]]
        # FloatToQuantizedType<int8_t>(6.0f, scale, zero_point): round(float(6 / scale)) + zp, clamped
        six = fp.tflite_round(float(np.float32(6.0) / np.float32(src.scale))) + src.zero_point
        six = int(min(max(six, -128), 127))
        zero = src.zero_point
        table = np.where(INT8_INPUTS > six, six, np.where(INT8_INPUTS < zero, zero, INT8_INPUTS))
        return LutParams(_to_table(table), dict(zero=zero, six=six))


@register
class LeakyRelu(_Lut):
    """TFLM QuantizeLeakyRelu: identity multiplier for x >= zp, alpha multiplier below."""

    name = "LEAKY_RELU"

    @staticmethod
    def _multipliers(g, op):
        """(alpha, real alpha multiplier, real identity multiplier): double(in_scale) * double(alpha) /
        double(out_scale) and double(in_scale) / double(out_scale), in double as the `tflite_micro` oracle
        computes them (the float32 quotients differ in the last bits and flip rounding ties: found by
        tests/test_ops_activations16.py, alpha 1.7 with equal scales in int8)."""
        src, dst = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        alpha = np.float32(op.options.get("alpha", 0.2))
        s_in, s_out = float(np.float32(src.scale)), float(np.float32(dst.scale))
        return alpha, s_in * float(alpha) / s_out, s_in / s_out

    def check(self, g, op):
        super().check(g, op)
        alpha, real_alpha, real_identity = self._multipliers(g, op)
        require(np.isfinite(alpha), op, f"alpha {alpha} is not finite")
        _check_multiplier(op, "identity", real_identity)
        _check_multiplier(op, "alpha", abs(real_alpha))

    def prepare(self, g, op):
        src, dst = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        alpha, real_alpha, real_identity = self._multipliers(g, op)
        m_alpha, s_alpha = fp.quantize_multiplier(real_alpha)
        m_id, s_id = fp.quantize_multiplier(real_identity)
        v = INT8_INPUTS - src.zero_point
        ident = fp.multiply_by_quantized_multiplier(v, m_id, s_id)
        # TFLM applies the alpha multiplier's magnitude and negates afterwards for a negative alpha
        scaled = fp.multiply_by_quantized_multiplier(v, abs(m_alpha), s_alpha)
        scaled = -scaled if m_alpha < 0 else scaled
        table = np.clip(dst.zero_point + np.where(v >= 0, ident, scaled), -128, 127)
        return LutParams(_to_table(table), dict(alpha=float(alpha), output_multiplier_alpha=m_alpha,
                                                output_shift_alpha=s_alpha, output_multiplier_identity=m_id,
                                                output_shift_identity=s_id, input_offset=src.zero_point,
                                                output_offset=dst.zero_point))


def _down_scale_int32_to_int16_multiplier(m: int) -> int:
    """TFLM DownScaleInt32ToInt16Multiplier."""
    assert m >= 0
    if m >= (1 << 31) - 1 - (1 << 15):
        return (1 << 15) - 1
    return (m + (1 << 15)) >> 16


def _wrap_int16(x):
    return ((np.asarray(x, dtype=np.int64) + (1 << 15)) & 0xFFFF) - (1 << 15)


def _saturating_left_shift_int16(x, amount: int):
    return np.clip(np.asarray(x, dtype=np.int64) * (1 << amount), -(1 << 15), (1 << 15) - 1)


def _saturating_doubling_high_mul_int16(a, b):
    """SQDMULH-like: (a * b) / 2^15 truncated toward zero, saturating -1 * -1."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    ab = a * b
    q = np.abs(ab) >> 15
    res = _wrap_int16(np.where(ab < 0, -q, q))
    return np.where((a == -(1 << 15)) & (b == -(1 << 15)), (1 << 15) - 1, res)


def _hard_swish_params(g, op):
    src, dst = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
    hires_input_scale = np.float32(1.0 / 128.0) * np.float32(src.scale)
    reluish_scale = np.float32(3.0) / np.float32(32768.0)
    out_m32, out_exp = fp.quantize_multiplier(float(np.float32(hires_input_scale / np.float32(dst.scale))))
    rel_m32, rel_exp = fp.quantize_multiplier(float(np.float32(hires_input_scale / reluish_scale)))
    return dict(input_zero_point=src.zero_point, output_zero_point=dst.zero_point,
                output_multiplier_fixedpoint_int16=_down_scale_int32_to_int16_multiplier(out_m32),
                output_multiplier_exponent=out_exp,
                reluish_multiplier_fixedpoint_int16=_down_scale_int32_to_int16_multiplier(rel_m32),
                reluish_multiplier_exponent=rel_exp)


@register
class HardSwish(_Lut):
    """TFLM's int8 reference HardSwish (16-bit fixed-point path), tabulated."""

    name = "HARD_SWISH"

    def check(self, g, op):
        super().check(g, op)
        p = _hard_swish_params(g, op)
        require(p["output_multiplier_exponent"] <= 0, op,
                "output multiplier exponent > 0 (input scale / 128 >= output scale): TFLM refuses it")
        require(p["output_multiplier_exponent"] >= -15, op, "output multiplier too small (exponent < -15)")
        require(-15 <= p["reluish_multiplier_exponent"] <= 31, op,
                f"input scale {g.tensors[op.inputs[0]].scale:g} out of range for the reluish multiplier")

    def prepare(self, g, op):
        p = _hard_swish_params(g, op)
        srdhm16 = fp.saturating_rounding_doubling_high_mul_int16
        input_value = _wrap_int16(INT8_INPUTS - p["input_zero_point"])
        hires = _wrap_int16(input_value * (1 << 7))
        preshift_out = srdhm16(hires, p["output_multiplier_fixedpoint_int16"])
        reluish = hires
        e = p["reluish_multiplier_exponent"]
        if e > 0:
            reluish = _saturating_left_shift_int16(reluish, e - 1)
        reluish = srdhm16(reluish, p["reluish_multiplier_fixedpoint_int16"])
        if e > 0:
            reluish = _saturating_left_shift_int16(reluish, 1)
        if e < 0:
            reluish = fp.rounding_divide_by_pot(reluish, -e)
        reluish = _wrap_int16((reluish + (1 << 15)) >> 1)
        preshift = _saturating_doubling_high_mul_int16(reluish, preshift_out)
        out = fp.rounding_divide_by_pot(preshift, -p["output_multiplier_exponent"])
        out = _wrap_int16(out + p["output_zero_point"])
        table = np.clip(out, -128, 127)
        return LutParams(_to_table(table), p)
