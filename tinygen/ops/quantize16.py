"""QUANTIZE with an int16 input (requantization to int8 or int16) and DEQUANTIZE int16 -> float32: variants
of quantize.py's ops by input type (register_variant), as TFLM computes them:
- QUANTIZE int16 -> int8 / int16 / int32 (Requantize): MultiplyByQuantizedMultiplier(q - in_zp, M, shift) + out_zp,
  clamped to the output type, M / shift from QuantizeMultiplier(double(in_scale) / double(out_scale));
- QUANTIZE int32 -> int8 / int16 (Requantize, e.g. after an int32 SVDF or sum): the same in int32
  arithmetic: q - in_zp and the left shift of an effective scale >= 1 wrap as two's complement (C's int32
  overflow, which TFLM's reference leaves undefined, wraps on the x86 host it runs on);
- DEQUANTIZE int16 -> float32: one float32 multiply (float)scale * (float)(q - zero_point).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinygen.model.fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier, wrap_int32
from .base import Op, register_variant, require
from .quantize import DequantizeParams, _io, _per_tensor, check_requantize_range, dequantize_int8


@dataclass(frozen=True)
class Requant16Params:
    input_zp: int
    output_zp: int
    multiplier: int
    shift: int
    out_bytes: int
    out_shape: tuple


@register_variant("QUANTIZE", "int16")
class QuantizeInt16(Op):
    name = "QUANTIZE"
    dtypes = ("int16 -> int8/int16/int32",)
    in_bits = 16

    def check(self, g, op):
        x, y = _io(g, op)
        require(y.dtype in (np.int8, np.int16, np.int32), op, f"output '{y.name}' is {y.dtype_name}; int8, int16 or int32 expected")
        _per_tensor(op, x, "input")
        _per_tensor(op, y, "output")
        check_requantize_range(op, x, y, quantize_multiplier(float(x.scale) / float(y.scale))[1])
        require(x.size == y.size, op, f"input has {x.size} elements, output {y.size}")

    def prepare(self, g, op):
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        m, s = quantize_multiplier(float(x.scale) / float(y.scale))
        return Requant16Params(x.zero_point, y.zero_point, m, s, int(np.dtype(y.dtype).itemsize), tuple(y.shape))

    def run(self, p: Requant16Params, inputs):
        x = inputs[0]
        info = np.iinfo({1: np.int8, 2: np.int16, 4: np.int32}[p.out_bytes])
        v = wrap_int32(np.asarray(x, np.int64) - p.input_zp)  # wraps only for int32 inputs (QuantizeInt32)
        y = multiply_by_quantized_multiplier(v, p.multiplier, p.shift) + p.output_zp
        return [np.clip(y, info.min, info.max).astype(info.dtype).reshape((x.shape[0],) + p.out_shape)]

    def macs(self, g, op):
        return g.tensors[op.inputs[0]].size

    def emit_c(self, p: Requant16Params, ctx):
        """C binding: tg_requantize_s16, tg_requantize_s32 for int32 inputs (firmware/kernels/tg_eltwise16.c)."""
        ctx.need("tg_eltwise16.c")
        n = ctx.output_tensor().size
        b = self.in_bits
        return (f"tg_requantize_s{b}((const int{b}_t *){ctx.input(0)}, (void *){ctx.output()}, {n}, {p.input_zp}, {p.multiplier}, "
                f"{p.shift}, {p.output_zp}, {p.out_bytes});")


@register_variant("QUANTIZE", "int32")
class QuantizeInt32(QuantizeInt16):
    """prepare, run and emit_c are QuantizeInt16's (tg_requantize_s32 in C)."""
    dtypes = ("int32 -> int8/int16",)
    in_bits = 32

    def check(self, g, op):
        x, y = _io(g, op)
        require(y.dtype in (np.int8, np.int16), op, f"output '{y.name}' is {y.dtype_name}; int32 input quantizes to int8 or int16")
        _per_tensor(op, x, "input")
        _per_tensor(op, y, "output")
        require(x.scale > 0 and y.scale > 0, op, "input and output scales must be positive")
        require(x.size == y.size, op, f"input has {x.size} elements, output {y.size}")


@register_variant("DEQUANTIZE", "int16")
class DequantizeInt16(Op):
    name = "DEQUANTIZE"
    dtypes = ("int16 -> float32",)

    def check(self, g, op):
        x, y = _io(g, op)
        _per_tensor(op, x, "input")
        require(y.dtype == np.float32, op, f"output '{y.name}' is {y.dtype_name}; only float32 output is supported")
        require(x.size == y.size, op, f"input has {x.size} elements, output {y.size}")

    def prepare(self, g, op):
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        return DequantizeParams(float(np.float32(x.scale)), x.zero_point, tuple(y.shape))

    def run(self, p: DequantizeParams, inputs):
        x = inputs[0]
        return [dequantize_int8(x, p.scale, p.zero_point).reshape((x.shape[0],) + p.out_shape)]

    def emit_c(self, p: DequantizeParams, ctx):
        """C binding: tg_dequantize_s16_f32 (firmware/kernels/tg_eltwise16.c)."""
        ctx.need("tg_eltwise16.c")
        n = ctx.output_tensor().size
        return f"tg_dequantize_s16_f32((const int16_t *){ctx.input(0)}, {ctx.output()}, {n}, {ctx.c_float(p.scale)}, {p.zero_point});"
