"""LEAKY_RELU with int16 activations (16x8 models): a variant of activations.py's table-driven int8 op,
chosen by the input type (register_variant). 65536 possible inputs make a table too big for flash, so
numpy and C compute TFLM's QuantizeLeakyRelu directly: `zp_out + MultiplyByQuantizedMultiplier(x - zp_in,
M, shift)` with the identity multiplier for x >= zp_in and the alpha one below (for a negative alpha:
its magnitude, the product negated, as the int8 op), clamped to int16. The multipliers: QuantizeMultiplier
of double(in_scale) / double(out_scale) and of double(in_scale) * double(alpha) / double(out_scale), all
in double: the float32
quotient differs in the last bits and flips ties (found against the `tflite_micro` oracle, which
matches only this variant of the candidates tried: float / double quotients, single / double rounding,
negative multiplier / negated magnitude).
"""
from __future__ import annotations

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
