"""QUANTIZE (float32 -> int8 / int16, int8 -> int8 / int16 / int32) and DEQUANTIZE (int8 -> float32), as
TFLite Micro computes them (quantize16.py has the int16-input QUANTIZE).

- QUANTIZE float32 -> int8 / int16 (reference AffineQuantize): q = (int32)round(x / (float)scale) + zero_point,
  clamped to the output type; the division is float32, round is std::round (half away from zero).
- QUANTIZE int8 -> int8 / int16 / int32 (reference Requantize): MultiplyByQuantizedMultiplier(q - in_zp, M,
  shift) + out_zp, clamped to the output type, with M/shift from QuantizeMultiplier(double(in_scale) /
  double(out_scale)). tinygen refuses scales whose requantization would overflow int32 (undefined in TFLM).
- DEQUANTIZE int8 -> float32 (reference Dequantize): (float)scale * (float)(q - zero_point), one float32 multiply.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinygen.model.fixedpoint import (INT32_MAX, INT32_MIN, cast_float_to_int32, multiply_by_quantized_multiplier, quantize_multiplier,
                          round_half_away_from_zero, wrap_int32)
from .base import Op, register, require


def _io(g, op):
    require(len(op.inputs) == 1 and len(op.outputs) == 1, op,
            f"has {len(op.inputs)} inputs and {len(op.outputs)} outputs, expected 1 and 1")
    return g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]


def _per_tensor(op, t, role: str) -> None:
    require(t.quant is not None, op, f"{role} '{t.name}' has no quantization parameters")
    require(not t.quant.per_channel, op, f"{role} '{t.name}' is per-channel quantized; only per-tensor quantization is supported")


@dataclass(frozen=True)
class QuantizeParams:
    float_input: bool
    scale: float  # output scale (float input)
    output_zp: int
    input_zp: int  # int8 input
    multiplier: int
    shift: int
    out_shape: tuple[int, ...]
    out_bytes: int = 1  # 1 int8, 2 int16, 4 int32


_OUT = {1: np.int8, 2: np.int16, 4: np.int32}


def affine_quantize_int8(x: np.ndarray, scale: float, zero_point: int, out_dtype=np.int8) -> np.ndarray:
    """TFLM AffineQuantize to int8 (or int16): float32 division, std::round, int32 cast (x86: out of range ->
    INT32_MIN), clamp to the output type."""
    with np.errstate(over="ignore", invalid="ignore"):  # inf/NaN inputs behave like the C code, see cast_float_to_int32
        q = np.asarray(x, dtype=np.float32) / np.float32(scale)
    q = cast_float_to_int32(round_half_away_from_zero(q))
    info = np.iinfo(out_dtype)
    return np.clip(wrap_int32(q + zero_point), info.min, info.max).astype(out_dtype)


def requantize_int8(q: np.ndarray, input_zp: int, multiplier: int, shift: int, output_zp: int, out_dtype=np.int8) -> np.ndarray:
    """TFLM Requantize (int8 or int16 input) -> out_dtype (int8, int16 or int32)."""
    acc = multiply_by_quantized_multiplier(np.asarray(q, dtype=np.int64) - input_zp, multiplier, shift) + output_zp
    info = np.iinfo(out_dtype)
    return np.clip(acc, info.min, info.max).astype(out_dtype)


def check_requantize_range(op, x, y, shift: int) -> None:
    """TFLM's Requantize computes in int32: (q - in_zp) << shift must not overflow, nor the sum with the output
    zero point (undefined behaviour in C; tinygen refuses such scales)."""
    info = np.iinfo(x.dtype)
    span = max(abs(int(info.min) - int(x.zero_point)), abs(int(info.max) - int(x.zero_point)))
    bound = span * (1 << max(int(shift), 0))
    require(bound < (1 << 30) and bound + abs(int(y.zero_point)) < (1 << 31), op,
            f"scale ratio {float(x.scale) / float(y.scale):g} (input / output) overflows TFLM's int32 requantization")


@register
class Quantize(Op):
    name = "QUANTIZE"
    dtypes = ("float32 -> int8/int16", "int8 -> int8/int16/int32")

    def check(self, g, op):
        x, y = _io(g, op)
        require(x.dtype in (np.float32, np.int8), op, f"input '{x.name}' is {x.dtype_name}; only float32, int8 and int16 inputs are supported")
        outs = (np.int8, np.int16) if x.dtype == np.float32 else (np.int8, np.int16, np.int32)
        require(y.dtype in outs, op, f"output '{y.name}' is {y.dtype_name}; {x.dtype_name} input quantizes to "
                + " or ".join(np.dtype(t).name for t in outs))
        _per_tensor(op, y, "output")
        if x.dtype == np.int8:
            _per_tensor(op, x, "input")
            check_requantize_range(op, x, y, quantize_multiplier(float(x.scale) / float(y.scale))[1])
        require(x.size == y.size, op, f"input has {x.size} elements, output {y.size}")

    def prepare(self, g, op):
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        ob = int(np.dtype(y.dtype).itemsize)
        if x.dtype == np.float32:
            return QuantizeParams(True, float(y.scale), y.zero_point, 0, 0, 0, tuple(y.shape), ob)
        # Prepare: effective scale in double from the float32 scales
        m, s = quantize_multiplier(float(x.scale) / float(y.scale))
        return QuantizeParams(False, float(y.scale), y.zero_point, x.zero_point, m, s, tuple(y.shape), ob)

    def run(self, p: QuantizeParams, inputs):
        x = inputs[0]
        if p.float_input:
            y = affine_quantize_int8(x, p.scale, p.output_zp, _OUT[p.out_bytes])
        else:
            y = requantize_int8(x, p.input_zp, p.multiplier, p.shift, p.output_zp, _OUT[p.out_bytes])
        return [y.reshape((x.shape[0],) + p.out_shape)]

    def macs(self, g, op):
        return g.tensors[op.inputs[0]].size

    def emit_c(self, p: QuantizeParams, ctx):
        """C binding: tg_quantize_f32 (float input, firmware/kernels/tg_quant.c) or a 256-entry requantization
        table of the output type (int8 input: tg_lut_s8 for int8 out, tg_lut_s8_wide for int16 / int32)."""
        n = ctx.output_tensor().size
        if p.float_input:
            ctx.need("tg_quant.c")
            return (f"tg_quantize_f32({ctx.input(0)}, (void *){ctx.output()}, {n}, {ctx.c_float(p.scale)}, {p.output_zp}, "
                    f"{p.out_bytes});")
        out_dtype = _OUT[p.out_bytes]
        table = requantize_int8(np.arange(-128, 128), p.input_zp, p.multiplier, p.shift, p.output_zp, out_dtype)
        if p.out_bytes == 1:
            ctx.need("tg_lut.c")
            return f"tg_lut_s8({ctx.input(0)}, {ctx.output()}, {n}, {ctx.const(table, 'int8_t', f'op{ctx.op_index}_table')});"
        ctx.need("tg_quant.c")
        ctype = {2: "int16_t", 4: "int32_t"}[p.out_bytes]
        return (f"tg_lut_s8_wide({ctx.input(0)}, (void *){ctx.output()}, {n}, "
                f"(const void *){ctx.const(table, ctype, f'op{ctx.op_index}_table')}, {p.out_bytes});")


@dataclass(frozen=True)
class DequantizeParams:
    scale: float  # exactly representable in float32
    zero_point: int
    out_shape: tuple[int, ...]


def dequantize_int8(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """TFLM Dequantize: one float32 multiply of (float)scale by (float)(q - zero_point)."""
    return np.float32(scale) * (np.asarray(q, dtype=np.int32) - np.int32(zero_point)).astype(np.float32)


@register
class Dequantize(Op):
    name = "DEQUANTIZE"
    dtypes = ("int8 -> float32",)

    def check(self, g, op):
        x, y = _io(g, op)
        require(x.dtype == np.int8, op, f"input '{x.name}' is {x.dtype_name}; only int8 input is supported")
        _per_tensor(op, x, "input")
        require(y.dtype == np.float32, op, f"output '{y.name}' is {y.dtype_name}; only float32 output is supported")
        require(x.size == y.size, op, f"input has {x.size} elements, output {y.size}")

    def prepare(self, g, op):
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        return DequantizeParams(float(np.float32(x.scale)), x.zero_point, tuple(y.shape))

    def run(self, p: DequantizeParams, inputs):
        x = inputs[0]
        return [dequantize_int8(x, p.scale, p.zero_point).reshape((x.shape[0],) + p.out_shape)]

    def macs(self, g, op):
        return g.tensors[op.inputs[0]].size

    def emit_c(self, p: DequantizeParams, ctx):
        """C binding: tg_dequantize_s8_f32 (firmware/kernels/tg_quant.c): one float32 multiply per element."""
        ctx.need("tg_quant.c")
        n = ctx.output_tensor().size
        return f"tg_dequantize_s8_f32({ctx.input(0)}, {ctx.output()}, {n}, {ctx.c_float(p.scale)}, {p.zero_point});"
