"""SOFTMAX int16 -> int16 (16x8 models): a variant of softmax.py's op chosen by the input type, as TFLite
Micro's reference SoftmaxInt16 computes it.

Prepare: input_multiplier / shift = QuantizeMultiplier(double(input_scale) * double(beta) / (10 / 65535))
(x - max(row), in [-65535, 0], scaled so that -65535 means -10), and two 513-entry int16 tables made
by TFLM's gen_lut over 512 steps in float32: exp(x) on [-10, 0] and 1 / (1 + x) on [0, 1], each with
output range [-1, 1] (Q0.15), every entry biased by half the rounded error of linear interpolation at
the step's midpoint. tinygen derives both tables here with that float32 arithmetic (`gen_lut16`).

Per row: exp of every entry by table lookup with linear interpolation (index 256 + (v >> 7), 7 fraction
bits) of `clamp(MBQM(x - max) + 32767)`; the int32 sum of those; its reciprocal from the 1/(1+x) table
after normalising the sum to 15 bits (count of leading zeros); each exp times the reciprocal, rounded
and shifted back, clamped to [0, 32767]. The output scale must be 1/32768 and both zero points 0
(TFLM refuses others); the exps are kept in the output buffer between the passes, as TFLM does.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinygen.model import fixedpoint as fp
from .base import Op, register_variant, require

LUT_STEPS = 512
MAX_DEPTH = 65535  # the int32 sum of exps (each <= 32767) stays in range


def _round(v: np.float32) -> np.float32:
    """TfLiteRound on a float: half away from zero."""
    return np.float32(math.copysign(math.floor(abs(float(v)) + 0.5), float(v)))


def gen_lut16(func, input_min: float, input_max: float) -> np.ndarray:
    """TFLM's gen_lut<float, int16_t, int16_t>(func, input_min, input_max, -1, 1): 513 int16 values."""
    f32 = np.float32
    lo, hi = f32(input_min), f32(input_max)
    step = f32((hi - lo) / f32(LUT_STEPS))
    half_step = f32(step / f32(2))
    inv = f32(f32(65536) / f32(2))  # (int16 max - min + 1) / (output_max - output_min)
    out = np.empty(LUT_STEPS + 1, dtype=np.int16)
    for i in range(LUT_STEPS):
        x = f32(lo + f32(f32(i) * step))
        val = func(x)
        val_mid = func(f32(x + half_step))
        val_next = func(f32(lo + f32(f32(i + 1) * step)))
        sample = _round(f32(val * inv))
        interp = _round(f32(f32(f32(val_next * inv) + sample) / f32(2)))
        mid = _round(f32(val_mid * inv))
        bias = _round(f32(f32(interp - mid) / f32(2)))
        out[i] = int(min(max(float(f32(sample - bias)), -32768.0), 32767.0))
    out[LUT_STEPS] = int(min(max(float(_round(f32(func(hi) * inv))), -32768.0), 32767.0))
    return out


def _expf(x: np.float32) -> np.float32:
    return np.float32(math.exp(float(x)))  # the correctly rounded float exp


def _one_over_one_plus_x(x: np.float32) -> np.float32:
    return np.float32(np.float32(1) / np.float32(np.float32(1) + x))


_TABLES: dict[str, np.ndarray] = {}


def tables() -> tuple[np.ndarray, np.ndarray]:
    """(exp table on [-10, 0], 1 / (1 + x) table on [0, 1]): fixed, computed once."""
    if not _TABLES:
        _TABLES["exp"] = gen_lut16(_expf, -10.0, 0.0)
        _TABLES["recip"] = gen_lut16(_one_over_one_plus_x, 0.0, 1.0)
    return _TABLES["exp"], _TABLES["recip"]


def lut_lookup16(v, lut: np.ndarray) -> np.ndarray:
    """TFLM's LUTLookup(int16_t, const int16_t *): the 512-step table with 7 fraction bits of interpolation."""
    v = np.asarray(v, dtype=np.int64)
    idx = 256 + (v >> 7)
    off = v & 0x7F
    base = lut.astype(np.int64)[idx]
    slope = fp.wrap_int32(lut.astype(np.int64)[idx + 1] - base)
    slope = ((slope + 32768) & 0xFFFF) - 32768  # int16
    delta = (slope * off + 64) >> 7
    return (((base + delta) + 32768) & 0xFFFF) - 32768


@dataclass(frozen=True)
class Softmax16Params:
    multiplier: int
    shift: int
    depth: int


@register_variant("SOFTMAX", "int16")
class SoftmaxInt16(Op):
    name = "SOFTMAX"
    dtypes = ("int16",)

    def check(self, g, op):
        require(len(op.inputs) == 1 and len(op.outputs) == 1, op, "expects one input and one output")
        src, dst = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        require(dst.dtype == np.int16, op, f"output is {dst.dtype_name}; the int16 SOFTMAX gives int16")
        for role, t in (("input", src), ("output", dst)):
            require(t.quant is not None and not t.quant.per_channel and t.scale > 0, op,
                    f"{role} must be per-tensor quantized with a positive scale")
        require(dst.zero_point == 0, op, f"int16 output zero point is {dst.zero_point}; TFLM requires 0")
        delta = abs(np.float32(dst.scale) - np.float32(1.0 / 32768))
        require(delta <= np.float32(0.001) * np.float32(1.0 / 32768), op, f"int16 output scale is {dst.scale:g}; TFLM requires 1/32768")
        require(len(src.shape) >= 1 and tuple(src.shape) == tuple(dst.shape), op,
                f"output shape {list(dst.shape)} differs from input {list(src.shape)}")
        require(src.shape[-1] <= MAX_DEPTH, op, f"softmax over {src.shape[-1]} entries: more than {MAX_DEPTH} not supported")
        beta = op.options.get("beta", 1.0)
        require(np.isfinite(beta) and beta > 0, op, f"beta {beta} must be positive")
        m, shift = fp.quantize_multiplier(self._real(g, op))
        require(shift <= 15, op, f"input_scale * beta = {float(src.scale) * beta:g} is too large "
                "((x - max) << shift would overflow TFLM's int32 arithmetic)")

    @staticmethod
    def _real(g, op) -> float:
        src = g.tensors[op.inputs[0]]
        return float(np.float32(src.scale)) * float(np.float32(op.options.get("beta", 1.0))) / (10.0 / 65535.0)

    def prepare(self, g, op):
        m, shift = fp.quantize_multiplier(self._real(g, op))
        return Softmax16Params(int(m), int(shift), int(g.tensors[op.inputs[0]].shape[-1]))

    def run(self, p: Softmax16Params, inputs):
        exp_lut, recip_lut = tables()
        x = inputs[0].astype(np.int64)
        diff = x - x.max(axis=-1, keepdims=True)
        scaled = fp.multiply_by_quantized_multiplier(diff, p.multiplier, p.shift)
        e = lut_lookup16(np.clip(scaled + 32767, -32768, 32767), exp_lut)
        total = e.sum(axis=-1, keepdims=True)  # > 0: the maximum's exp
        headroom = 32 - np.vectorize(lambda v: int(v).bit_length(), otypes=[np.int64])(total)  # CountLeadingZeros
        shifted = ((total << (headroom - 1)) + (1 << 13)) >> 14
        recip = lut_lookup16(np.clip(shifted - ((1 << 15) + (1 << 16)), -32768, 32767), recip_lut)
        right = 31 - headroom
        y = (e * recip + (np.int64(1) << (right - 1))) >> right
        return [np.clip(y, 0, 32767).astype(np.int16)]

    def macs(self, g, op):
        return 0

    def emit_c(self, p: Softmax16Params, ctx):
        """C binding: tg_softmax_s16 (firmware/kernels/tg_softmax.c) with the two 513-entry tables in flash."""
        ctx.need("tg_softmax.c")
        exp_lut, recip_lut = tables()
        fields = dict(rows=ctx.output_tensor().size // p.depth, depth=p.depth, multiplier=p.multiplier, shift=p.shift,
                      exp_lut=ctx.const(exp_lut, "int16_t", "tg_softmax16_exp_lut"),
                      recip_lut=ctx.const(recip_lut, "int16_t", "tg_softmax16_recip_lut"))
        return (f"tg_softmax_s16({ctx.struct('tg_softmax16_params_t', fields)}, (const int16_t *){ctx.input(0)}, "
                f"(int16_t *){ctx.output()});")
