"""LEAKY_RELU, LOGISTIC and TANH with int16 activations (16x8 models).

LEAKY_RELU: a variant of activations.py's table-driven int8 op,
chosen by the input type (register_variant). 65536 possible inputs make a table too big for flash, so
numpy and C compute TFLM's QuantizeLeakyRelu directly: `zp_out + MultiplyByQuantizedMultiplier(x - zp_in,
M, shift)` with the identity multiplier for x >= zp_in and the alpha one below (for a negative alpha:
its magnitude, the product negated, as the int8 op), clamped to int16. The multipliers: QuantizeMultiplier
of double(in_scale) / double(out_scale) and of double(in_scale) * double(alpha) / double(out_scale), all
in double: the float32
quotient differs in the last bits and flips ties (found against the `tflite_micro` oracle, which
matches only this variant of the candidates tried: float / double quotients, single / double rounding,
negative multiplier / negated magnitude).

LOGISTIC / TANH: TFLM's reference_integer_ops::Logistic / Tanh for int16. Prepare rescales the input to
1 / (3 * 4096) per unit (x * 3 for the power-of-two scale 2^-12, else a truncated multiplier with a
rounding right shift); the kernel interpolates linearly in a 256-entry 0.16 table of sigmoid(i / 24)
(9 fraction bits; tanh = 2 sigmoid(2x) - 1 reads the same table with 8), uses the mirror image below 0
and saturates from point 255 on. TFLM ships the table as literal numbers; tinygen derives it
(`sigmoid_table16`, see there: 256 of 256 points equal what `tflite_micro` computes; plain
round(65536 sigmoid(i / 24)) matches only 212, TFLM's gen_lut midpoint bias at most 223).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinygen.model import fixedpoint as fp
from .base import Op, register_variant, require


@dataclass(frozen=True)
class LeakyRelu16Params:
    input_zp: int
    output_zp: int
    m_identity: int
    s_identity: int
    m_alpha: int  # magnitude
    s_alpha: int
    negate_alpha: bool


def multipliers16(g, op) -> tuple[float, float, float]:
    """(alpha, real alpha multiplier, real identity multiplier): the int8 op's (in double, as TFLM's Prepare)."""
    from .activations import LeakyRelu

    return LeakyRelu._multipliers(g, op)


def leaky_relu_int16(x, p: LeakyRelu16Params) -> np.ndarray:
    v = np.asarray(x, dtype=np.int64) - p.input_zp
    ident = fp.multiply_by_quantized_multiplier(v, p.m_identity, p.s_identity)
    scaled = fp.multiply_by_quantized_multiplier(v, p.m_alpha, p.s_alpha)
    scaled = -scaled if p.negate_alpha else scaled
    return np.clip(p.output_zp + np.where(v >= 0, ident, scaled), -32768, 32767).astype(np.int16)


@register_variant("LEAKY_RELU", "int16")
class LeakyReluInt16(Op):
    name = "LEAKY_RELU"
    dtypes = ("int16",)
    inplace = True

    def check(self, g, op):
        require(len(op.inputs) >= 1 and len(op.outputs) == 1, op, "expects one input and one output")
        src, dst = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        for role, t in (("input", src), ("output", dst)):
            require(t.dtype == np.int16, op, f"{role} 0 '{t.name}' is {t.dtype_name}; the int16 LEAKY_RELU needs int16 both")
            require(t.quant is not None and not t.quant.per_channel and t.scale > 0, op,
                    f"{role} 0 '{t.name}' needs per-tensor quantization with a positive scale")
        require(src.size == dst.size, op, f"output has {dst.size} elements, input {src.size}")
        alpha, real_alpha, real_identity = multipliers16(g, op)
        require(np.isfinite(alpha), op, f"alpha {alpha} is not finite")
        for what, real in (("identity", real_identity), ("alpha", abs(real_alpha))):
            # (x - zp) << shift must stay in int32 for int16 x (TFLM's int32 arithmetic)
            require(real == 0 or fp.quantize_multiplier(real)[1] <= 14, op, f"{what} multiplier {real:g} is too large")

    def prepare(self, g, op):
        src, dst = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        _, real_alpha, real_identity = multipliers16(g, op)
        m_alpha, s_alpha = fp.quantize_multiplier(real_alpha)
        m_id, s_id = fp.quantize_multiplier(real_identity)
        return LeakyRelu16Params(int(src.zero_point), int(dst.zero_point), int(m_id), int(s_id), abs(int(m_alpha)),
                                 int(s_alpha), m_alpha < 0)

    def run(self, p: LeakyRelu16Params, inputs):
        x = inputs[0]
        return [leaky_relu_int16(x, p)]

    def macs(self, g, op):
        return 0

    def emit_c(self, p: LeakyRelu16Params, ctx):
        """C binding: tg_leaky_relu_s16 (firmware/kernels/tg_eltwise16.c)."""
        ctx.need("tg_eltwise16.c")
        n = ctx.output_tensor().size
        return (f"tg_leaky_relu_s16((const int16_t *){ctx.input(0)}, (int16_t *){ctx.output()}, {n}, {p.input_zp}, {p.output_zp}, "
                f"{p.m_identity}, {p.s_identity}, {p.m_alpha}, {p.s_alpha}, {int(p.negate_alpha)});")


# ---------------------------------------------------------------- LOGISTIC / TANH int16

SIGMOID_STEP = 24  # table point i is sigmoid(i / 24)
SIGMOID_POINTS = 256


def _chord_error(a: float, b: float) -> float:
    """Largest gap between sigmoid and its chord over [a, b] (0 <= a < b, where sigmoid is concave): at the
    point where sigmoid' = s (1 - s) equals the chord's slope m, i.e. 1 - s = 2m / (1 + sqrt(1 - 4m))."""
    fa, fb = 1.0 / (1.0 + math.exp(-a)), 1.0 / (1.0 + math.exp(-b))
    m = (fb - fa) / (b - a)
    q = 2.0 * m / (1.0 + math.sqrt(max(0.0, 1.0 - 4.0 * m)))
    x = math.log1p(-q) - math.log(q)
    return (1.0 - q) - (fa + m * (x - a))


_SIGMOID_TABLE: list = []


def sigmoid_table16() -> np.ndarray:
    """The 256-entry uint16 (0.16 format) table of sigmoid(i / 24) that TFLM's int16 LOGISTIC / TANH
    interpolate in, derived here (not copied): each point is raised by half the mean of the largest chord
    errors of its two segments, so that the linear interpolation errs equally above and below the curve
    (sigmoid is concave for x > 0: a chord runs below it; the segment left of 0 is the mirror image, with the
    opposite error, so point 0 stays 1/2), rounded to nearest; the last point is the saturation value 65535,
    where the kernels' saturated range begins. Checked against `tflite_micro` at every table point (TANH
    returns the entry itself there) and over all 65536 int16 inputs at several scales; the rounding margins
    are >= 0.0039, far above double-precision error."""
    if not _SIGMOID_TABLE:
        h = 1.0 / SIGMOID_STEP
        errs = [_chord_error(i * h, (i + 1) * h) for i in range(SIGMOID_POINTS)]
        out = np.empty(SIGMOID_POINTS, dtype=np.uint16)
        for i in range(SIGMOID_POINTS - 1):
            left = errs[i - 1] if i else -errs[0]
            v = 1.0 / (1.0 + math.exp(-i * h)) + (left + errs[i]) / 4.0
            out[i] = min(65535, int(math.floor(65536.0 * v + 0.5)))
        out[-1] = 65535
        _SIGMOID_TABLE.append(out)
    return _SIGMOID_TABLE[0]


def checked_log2(x: float) -> tuple[bool, int]:
    """TFLM's CheckedLog2 (float arithmetic): (is x within 1e-3 of a power of two in log2, rounded log2)."""
    f32 = np.float32
    lg = f32(f32(np.log(f32(x))) * f32(f32(1.0) / f32(np.log(f32(2.0)))))
    r = f32(math.copysign(math.floor(abs(float(lg)) + 0.5), float(lg)))  # TfLiteRound
    return bool(abs(float(lg - r)) < 1e-3), int(r)


@dataclass(frozen=True)
class Sigmoid16Params:
    multiplier: int
    shift: int


def sigmoid_tanh_params16(scale: float) -> tuple[int, int]:
    """(input multiplier, right shift) as TFLM's int16 LOGISTIC / TANH Prepare computes them: the input
    rescaled to 1 / (3 * 4096) per step (sigmoid table point i at 512 i, tanh's at 256 i); scale 2^-12 is
    the power-of-two case (x * 3); otherwise double(scale) * 12288 doubled while <= 32767 / 2 (at most
    31 times) and truncated."""
    pot, lg = checked_log2(scale)
    if pot and 12 + lg == 0:
        return 3, 0
    mult, shift = float(np.float32(scale)) * 4096.0 * 3.0, 0
    while mult <= 32767.0 / 2.0 and shift <= 30:
        shift += 1
        mult *= 2.0
    return int(mult), shift


def _scaled_input(x, p: Sigmoid16Params) -> np.ndarray:
    rnd = (1 << (p.shift - 1)) if p.shift > 0 else 0
    return (np.asarray(x, dtype=np.int64) * p.multiplier + rnd) >> p.shift


def _interpolate(x, p: Sigmoid16Params, frac: int, saturated: int):
    """The scaled input d and the table interpolation of |d| with frac fraction bits (saturated past the table)."""
    tab = sigmoid_table16().astype(np.int64)
    d = _scaled_input(x, p)
    a = np.abs(d)
    uh = np.minimum(a >> frac, SIGMOID_POINTS - 2)
    ua, ub = tab[uh], tab[uh + 1]
    r = np.where((a >> frac) >= SIGMOID_POINTS - 1, saturated, (ua << frac) + (a & ((1 << frac) - 1)) * (ub - ua))
    return d, r


def logistic_int16(x, p: Sigmoid16Params) -> np.ndarray:
    """TFLM's reference_integer_ops::Logistic (int16): 9 fraction bits of interpolation, symmetry below 0."""
    d, r = _interpolate(x, p, 9, 0x7FFF << 10)
    r = np.where(d >= 0, r + (1 << 9), (1 << 25) - r + (1 << 9) - 1)
    return (r >> 10).astype(np.int16)


def tanh_int16(x, p: Sigmoid16Params) -> np.ndarray:
    """TFLM's reference_integer_ops::Tanh (int16): 2 sigmoid(2x) - 1 on the same table, 8 fraction bits."""
    d, r = _interpolate(x, p, 8, 0xFFFF << 8)
    r = np.where(d >= 0, r - (1 << 23) + (1 << 7), -r + (1 << 23) + (1 << 7) - 1)
    return (r >> 8).astype(np.int16)


class _Sigmoid16(Op):
    dtypes = ("int16",)
    inplace = True
    kind = 0  # 0 LOGISTIC, 1 TANH

    def check(self, g, op):
        require(len(op.inputs) >= 1 and len(op.outputs) == 1, op, "expects one input and one output")
        src, dst = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        for role, t in (("input", src), ("output", dst)):
            require(t.dtype == np.int16, op, f"{role} 0 '{t.name}' is {t.dtype_name}; the int16 {self.name} needs int16 both")
            require(t.quant is not None and not t.quant.per_channel and t.scale > 0, op,
                    f"{role} 0 '{t.name}' needs per-tensor quantization with a positive scale")
            require(t.zero_point == 0, op, f"{role} zero point is {t.zero_point}; TFLM's int16 {self.name} requires 0")
        require(src.size == dst.size, op, f"output has {dst.size} elements, input {src.size}")
        pot, lg = checked_log2(dst.scale)
        require(pot and lg == -15, op, f"output scale is {dst.scale:g}; TFLM's int16 {self.name} requires 1/32768")
        m, _ = sigmoid_tanh_params16(src.scale)
        # x * multiplier is TFLM's int32 product
        require(m <= 65535, op, f"input scale {src.scale:g} is too large (TFLM's int32 rescaling would overflow)")

    def prepare(self, g, op):
        return Sigmoid16Params(*sigmoid_tanh_params16(g.tensors[op.inputs[0]].scale))

    def run(self, p: Sigmoid16Params, inputs):
        fn = tanh_int16 if self.kind else logistic_int16
        return [fn(inputs[0], p)]

    def macs(self, g, op):
        return 0

    def emit_c(self, p: Sigmoid16Params, ctx):
        """C binding: tg_sigmoid_tanh_s16 (firmware/kernels/tg_eltwise16.c) with the 256-entry table in flash."""
        ctx.need("tg_eltwise16.c")
        n = ctx.output_tensor().size
        table = ctx.const(sigmoid_table16(), "uint16_t", "tg_sigmoid16_table")
        return (f"tg_sigmoid_tanh_s16((const int16_t *){ctx.input(0)}, (int16_t *){ctx.output()}, {n}, {p.multiplier}, "
                f"{p.shift}, {self.kind}, {table});")


@register_variant("LOGISTIC", "int16")
class LogisticInt16(_Sigmoid16):
    name = "LOGISTIC"
    kind = 0


@register_variant("TANH", "int16")
class TanhInt16(_Sigmoid16):
    name = "TANH"
    kind = 1
