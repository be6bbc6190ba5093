"""MAXIMUM, MINIMUM (int8, int16; broadcasting), ARG_MAX, ARG_MIN (int8 -> int32),
ABS (int8, int16) and ELU (int8), as TFLite Micro's reference kernels compute them.

- MAXIMUM / MINIMUM compare the stored values (no requantization, as TFLM's maximum_minimum.cc),
  numpy broadcasting up to rank 5.
- ARG_MAX / ARG_MIN: the index of the first largest / smallest value along a constant axis
  (TFLM's ArgMinMax keeps the first on ties).
- ABS (elementwise.cc): |q - input_zp|, rescaled with MultiplyByQuantizedMultiplier when the
  float32 scales differ (QuantizeMultiplier(double(in_scale) / double(out_scale))), + output_zp,
  clamped. int16 needs zero points 0.
- ELU int8 (elu.cc): TFLM's 256-entry table, each entry from float32 arithmetic:
  round(f(in_scale * (q - in_zp)) * (1 / out_scale)) + out_zp, f(v) = v < 0 ? expf(v) - 1 : v;
  expf is the C library's (called through ctypes), as TFLM calls it.
int8 ABS and ELU run in C through tg_lut_s8 with the table the numpy kernel computes.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass

import numpy as np

from tinygen.model import fixedpoint as fp
from .base import Op, padded_shape, register, require, require_broadcast

MAX_RANK = 5


# ---------------------------------------------------------------- MAXIMUM / MINIMUM


@dataclass(frozen=True)
class MaxMinParams:
    shape0: tuple
    shape1: tuple
    out_shape: tuple
    itemsize: int


class _MaxMin(Op):
    dtypes = ("int8", "int16")

    def check(self, g, op):
        require(len(op.inputs) == 2 and len(op.outputs) == 1, op, "expects two inputs and one output")
        t0, t1, to = (g.tensors[op.inputs[0]], g.tensors[op.inputs[1]], g.tensors[op.outputs[0]])
        require(t0.dtype in (np.int8, np.int16), op, f"input 0 is {t0.dtype_name}; int8 and int16 are supported")
        require(t1.dtype == t0.dtype and to.dtype == t0.dtype, op, f"types differ: {t0.dtype_name}, {t1.dtype_name} -> {to.dtype_name}")
        for t, role in ((t0, "input 0"), (t1, "input 1"), (to, "output")):
            require(len(t.shape) <= MAX_RANK, op, f"{role} has rank {len(t.shape)}: rank > {MAX_RANK} not supported")
        require_broadcast(op, t0, t1, to)

    def prepare(self, g, op):
        t0, t1, to = (g.tensors[op.inputs[0]], g.tensors[op.inputs[1]], g.tensors[op.outputs[0]])
        r = len(to.shape)
        return MaxMinParams(padded_shape(t0.shape, r), padded_shape(t1.shape, r), tuple(to.shape), int(np.dtype(to.dtype).itemsize))

    def run(self, p: MaxMinParams, inputs):
        a = inputs[0].reshape((inputs[0].shape[0],) + p.shape0)
        b = inputs[1].reshape((inputs[1].shape[0],) + p.shape1)
        y = np.maximum(a, b) if self.name == "MAXIMUM" else np.minimum(a, b)
        n = max(a.shape[0], b.shape[0])
        return [np.ascontiguousarray(np.broadcast_to(y, (n,) + p.out_shape))]

    def emit_c(self, p: MaxMinParams, ctx):
        """C binding: tg_maxmin (firmware/kernels/tg_select.c) over tg_bcast_t strides."""
        from tinygen.ops.c_emit import broadcast_fields

        ctx.need("tg_select.c")
        st = ctx.struct("tg_bcast_t", broadcast_fields(p.shape0, p.shape1, p.out_shape))
        return (f"tg_maxmin({st}, (const void *){ctx.input(0)}, (const void *){ctx.input(1)}, (void *){ctx.output()}, "
                f"{p.itemsize}, {1 if self.name == 'MAXIMUM' else 0});")


@register
class Maximum(_MaxMin):
    name = "MAXIMUM"


@register
class Minimum(_MaxMin):
    name = "MINIMUM"


# ---------------------------------------------------------------- ARG_MAX / ARG_MIN


@dataclass(frozen=True)
class ArgParams:
    outer: int
    axis_len: int
    inner: int
    out_shape: tuple
    out_itemsize: int
    in_itemsize: int


class _Arg(Op):
    dtypes = ("int8 -> int32",)

    def _axis(self, g, op) -> int:
        x = g.tensors[op.inputs[0]]
        at = g.tensors[op.inputs[1]] if len(op.inputs) > 1 and op.inputs[1] >= 0 else None
        require(at is not None and at.is_const and at.size == 1 and at.dtype in (np.int32, np.int64), op,
                "the axis must be a constant int32/int64 scalar")
        a = int(at.data.reshape(-1)[0])
        require(-len(x.shape) <= a < len(x.shape), op, f"axis {a} is out of range for rank {len(x.shape)}")
        return a % len(x.shape)

    def check(self, g, op):
        require(len(op.inputs) == 2 and len(op.outputs) == 1, op, "expects two inputs (input, axis) and one output")
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        # TFLM's arg_min_max: int8 (or float / uint8) input, int32 output only
        require(x.dtype == np.int8, op, f"input is {x.dtype_name}; TFLM's {self.name} has an int8 kernel only")
        require(y.dtype == np.int32, op, f"output is {y.dtype_name}; TFLM writes int32 only")
        a = self._axis(g, op)
        require(x.shape[a] >= 1, op, "empty axis")
        expected = [d for i, d in enumerate(x.shape) if i != a]
        require(list(y.shape) == expected, op, f"output shape {list(y.shape)} is not the reduced shape {expected}")

    def prepare(self, g, op):
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        a = self._axis(g, op)
        return ArgParams(int(np.prod(x.shape[:a], dtype=np.int64)), int(x.shape[a]), int(np.prod(x.shape[a + 1:], dtype=np.int64)),
                         tuple(y.shape), int(np.dtype(y.dtype).itemsize), int(np.dtype(x.dtype).itemsize))

    def run(self, p: ArgParams, inputs):
        x = inputs[0]
        v = x.reshape(x.shape[0], p.outer, p.axis_len, p.inner)
        idx = np.argmax(v, axis=2) if self.name == "ARG_MAX" else np.argmin(v, axis=2)  # first on ties, as TFLM
        return [idx.astype(np.int32 if p.out_itemsize == 4 else np.int64).reshape((x.shape[0],) + p.out_shape)]

    def emit_c(self, p: ArgParams, ctx):
        """C binding: tg_argminmax (firmware/kernels/tg_select.c)."""
        ctx.need("tg_select.c")
        return (f"tg_argminmax((const void *){ctx.input(0)}, (void *){ctx.output()}, {p.outer}, {p.axis_len}, {p.inner}, "
                f"{p.in_itemsize}, {p.out_itemsize}, {1 if self.name == 'ARG_MAX' else 0});")


@register
class ArgMax(_Arg):
    name = "ARG_MAX"


@register
class ArgMin(_Arg):
    name = "ARG_MIN"


# ---------------------------------------------------------------- ABS, ELU


@dataclass(frozen=True)
class UnaryParams:
    table: np.ndarray | None  # int8: 256 entries indexed by q + 128
    rescale: bool
    multiplier: int
    shift: int
    input_zp: int
    output_zp: int
    itemsize: int


def _unary_io(g, op, types):
    require(len(op.inputs) == 1 and len(op.outputs) == 1, op, "expects one input and one output")
    x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
    require(x.dtype in types, op, f"input is {x.dtype_name}; {' and '.join(np.dtype(t).name for t in types)} supported")
    require(y.dtype == x.dtype and tuple(y.shape) == tuple(x.shape), op, "output type and shape must equal the input's")
    for t, role in ((x, "input"), (y, "output")):
        require(t.quant is not None and not t.quant.per_channel and t.scale > 0, op,
                f"{role} '{t.name}' needs per-tensor quantization with a positive scale")
    return x, y


def _abs_values(q, p: UnaryParams, lo: int, hi: int):
    v = np.abs(np.asarray(q, dtype=np.int64) - p.input_zp)
    if p.rescale:
        v = fp.multiply_by_quantized_multiplier(v, p.multiplier, p.shift)
    return np.clip(v + p.output_zp, lo, hi)


@register
class Abs(Op):
    name = "ABS"
    dtypes = ("int8", "int16")
    inplace = True

    def check(self, g, op):
        x, y = _unary_io(g, op, (np.int8, np.int16))
        if x.dtype == np.int16:
            require(x.zero_point == 0 and y.zero_point == 0, op, "int16 ABS needs zero points 0 (as TFLM)")

    def prepare(self, g, op):
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        rescale = bool(np.float32(x.scale) != np.float32(y.scale))
        m, s = fp.quantize_multiplier(float(np.float32(x.scale)) / float(np.float32(y.scale))) if rescale else (0, 0)
        p = UnaryParams(None, rescale, m, s, x.zero_point, y.zero_point, int(np.dtype(x.dtype).itemsize))
        if x.dtype == np.int8:
            table = _abs_values(np.arange(-128, 128), p, -128, 127).astype(np.int8)
            p = UnaryParams(table, rescale, m, s, x.zero_point, y.zero_point, 1)
        return p

    def run(self, p: UnaryParams, inputs):
        x = inputs[0]
        if p.table is not None:
            return [p.table[x.astype(np.int16) + 128]]
        return [_abs_values(x, p, -32768, 32767).astype(np.int16)]

    def emit_c(self, p: UnaryParams, ctx):
        """C binding: tg_lut_s8 (int8, table) or tg_abs_s16 (firmware/kernels/tg_select.c)."""
        n = ctx.output_tensor().size
        if p.table is not None:
            ctx.need("tg_lut.c")
            return f"tg_lut_s8({ctx.input(0)}, {ctx.output()}, {n}, {ctx.const(p.table, 'int8_t', f'op{ctx.op_index}_table')});"
        ctx.need("tg_select.c")
        return (f"tg_abs_s16((const int16_t *){ctx.input(0)}, (int16_t *){ctx.output()}, {n}, {int(p.rescale)}, "
                f"{p.multiplier}, {p.shift});")


def _libm_expf():
    name = ctypes.util.find_library("m") or "libm.so.6"
    f = ctypes.CDLL(name).expf
    f.restype, f.argtypes = ctypes.c_float, [ctypes.c_float]
    return f


@register
class Elu(Op):
    name = "ELU"
    inplace = True

    def check(self, g, op):
        _unary_io(g, op, (np.int8,))

    def prepare(self, g, op):
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        expf = _libm_expf()
        f32 = np.float32
        inv = f32(1) / f32(y.scale)
        table = np.empty(256, dtype=np.int8)
        for q in range(-128, 128):
            d = f32(f32(x.scale) * f32(q - x.zero_point))
            t = f32(f32(expf(float(d))) - f32(1)) if d < 0 else d
            r = fp.tflite_round(float(f32(t * inv)))
            table[q + 128] = max(-128, min(127, int(f32(f32(r) + f32(y.zero_point)))))
        return UnaryParams(table, False, 0, 0, x.zero_point, y.zero_point, 1)

    def run(self, p: UnaryParams, inputs):
        return [p.table[inputs[0].astype(np.int16) + 128]]

    def emit_c(self, p: UnaryParams, ctx):
        """C binding: tg_lut_s8 (firmware/kernels/tg_lut.c) with TFLM's table."""
        ctx.need("tg_lut.c")
        return (f"tg_lut_s8({ctx.input(0)}, {ctx.output()}, {ctx.output_tensor().size}, "
                f"{ctx.const(p.table, 'int8_t', f'op{ctx.op_index}_table')});")
