"""Comparisons (EQUAL, NOT_EQUAL, LESS, LESS_EQUAL, GREATER, GREATER_EQUAL: int8 and int32 -> bool),
LOGICAL_AND, LOGICAL_OR, LOGICAL_NOT (bool) and SELECT_V2 (bool condition, int8 / int16 values), as
TFLite Micro's reference kernels compute them; numpy broadcasting (rank <= 4 as TFLM's
Broadcast4DSlow, SELECT_V2 rank <= 5).

int8 comparisons rescale both sides first (comparisons.cc, ComparisonWithScaling):
`MultiplyByQuantizedMultiplierSmallerThanOneExp((q - zp) << 8, M, shift)` with M / shift from
QuantizeMultiplierSmallerThanOneExp(double(scale)) of each input, then compare. int32 values are
compared as they are. int16 inputs are refused: the `tflite_micro` package's comparisons have no working
int16 kernel (five refuse the type; GREATER runs it with rescaling parameters never prepared for int16,
answering True for 0 > 0), so there is nothing to be bit-exact with. bool tensors are one byte (0 / 1), as in TFLM.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinygen.model import fixedpoint as fp
from .base import Op, padded_shape, register, require

_CMP = {"EQUAL": (0, np.equal), "NOT_EQUAL": (1, np.not_equal), "LESS": (2, np.less), "LESS_EQUAL": (3, np.less_equal),
        "GREATER": (4, np.greater), "GREATER_EQUAL": (5, np.greater_equal)}
LEFT_SHIFT = 8


def _broadcast_check(op, shapes, out, max_rank: int):
    for s in shapes + [out]:
        require(len(s) <= max_rank, op, f"rank {len(s)} tensors are not supported (TFLM broadcasts up to rank {max_rank})")
    try:
        b = tuple(np.broadcast_shapes(*[tuple(s) for s in shapes]))
    except ValueError:
        b = None
    require(b is not None and b == tuple(out), op, f"output shape {list(out)} is not the broadcast of {[list(s) for s in shapes]}")


@dataclass(frozen=True)
class CompareParams:
    code: int
    shape0: tuple
    shape1: tuple
    out_shape: tuple
    scaled: bool  # int8: rescale both sides
    offset1: int = 0
    mult1: int = 0
    shift1: int = 0
    offset2: int = 0
    mult2: int = 0
    shift2: int = 0


def _smaller_than_one(scale: float):
    m, s = fp.quantize_multiplier(float(scale))
    return m, s


class _Compare(Op):
    dtypes = ("int8 -> bool", "int32 -> bool")

    def check(self, g, op):
        require(len(op.inputs) == 2 and len(op.outputs) == 1, op, "expects two inputs and one output")
        a, b, y = (g.tensors[op.inputs[0]], g.tensors[op.inputs[1]], g.tensors[op.outputs[0]])
        require(a.dtype in (np.int8, np.int32) and b.dtype == a.dtype, op, f"inputs are {a.dtype_name} and {b.dtype_name}; int8 or int32 pairs are supported")
        require(y.dtype == np.bool_, op, f"output is {y.dtype_name}, expected bool")
        _broadcast_check(op, [a.shape, b.shape], y.shape, 4)
        if a.dtype == np.int8:
            for t, role in ((a, "input 0"), (b, "input 1")):
                require(t.quant is not None and not t.quant.per_channel, op, f"{role} needs per-tensor quantization")
                require(0 < float(np.float32(t.scale)) < 1, op, f"{role} scale {t.scale:g} is not in (0, 1) (TFLM requires it)")

    def prepare(self, g, op):
        a, b, y = (g.tensors[op.inputs[0]], g.tensors[op.inputs[1]], g.tensors[op.outputs[0]])
        r = len(y.shape)
        base = dict(code=_CMP[self.name][0], shape0=padded_shape(a.shape, r), shape1=padded_shape(b.shape, r), out_shape=tuple(y.shape),
                    scaled=a.dtype == np.int8)
        if a.dtype == np.int8:
            m1, s1 = _smaller_than_one(a.scale)
            m2, s2 = _smaller_than_one(b.scale)
            base.update(offset1=-a.zero_point, mult1=m1, shift1=s1, offset2=-b.zero_point, mult2=m2, shift2=s2)
        return CompareParams(**base)

    def run(self, p: CompareParams, inputs):
        a = inputs[0].reshape((inputs[0].shape[0],) + p.shape0).astype(np.int64)
        b = inputs[1].reshape((inputs[1].shape[0],) + p.shape1).astype(np.int64)
        if p.scaled:
            f = fp.multiply_by_quantized_multiplier_smaller_than_one_exp
            a = f((a + p.offset1) * (1 << LEFT_SHIFT), p.mult1, p.shift1)
            b = f((b + p.offset2) * (1 << LEFT_SHIFT), p.mult2, p.shift2)
        y = _CMP[self.name][1](a, b)
        n = max(a.shape[0], b.shape[0])
        return [np.ascontiguousarray(np.broadcast_to(y, (n,) + p.out_shape))]

    def emit_c(self, p: CompareParams, ctx):
        """C binding: tg_compare (firmware/kernels/tg_compare.c)."""
        from tinygen.ops.c_emit import broadcast_fields

        ctx.need("tg_compare.c")
        fields = dict(shape=broadcast_fields(p.shape0, p.shape1, p.out_shape), code=p.code, scaled=int(p.scaled),
                      left_shift=LEFT_SHIFT, offset1=p.offset1, mult1=p.mult1, shift1=p.shift1,
                      offset2=p.offset2, mult2=p.mult2, shift2=p.shift2)
        return (f"tg_compare({ctx.struct('tg_compare_params_t', fields)}, (const void *){ctx.input(0)}, "
                f"(const void *){ctx.input(1)}, (uint8_t *){ctx.output()});")


for _name in _CMP:
    register(type(_name.title().replace("_", ""), (_Compare,), {"name": _name}))


# ---------------------------------------------------------------- LOGICAL_AND / OR / NOT


@dataclass(frozen=True)
class LogicalParams:
    code: int  # 0 AND, 1 OR, 2 NOT
    shape0: tuple
    shape1: tuple
    out_shape: tuple


class _Logical(Op):
    dtypes = ("bool",)
    code = 0

    def check(self, g, op):
        n = 1 if self.code == 2 else 2
        require(len(op.inputs) == n and len(op.outputs) == 1, op, f"expects {n} input(s) and one output")
        ts = [g.tensors[i] for i in op.inputs] + [g.tensors[op.outputs[0]]]
        for t in ts:
            require(t.dtype == np.bool_, op, f"'{t.name}' is {t.dtype_name}; LOGICAL ops take bool tensors")
        if n == 2:
            _broadcast_check(op, [ts[0].shape, ts[1].shape], ts[2].shape, 4)
        else:
            require(tuple(ts[0].shape) == tuple(ts[1].shape), op, "output shape must equal the input's")

    def prepare(self, g, op):
        y = g.tensors[op.outputs[0]]
        r = len(y.shape)
        s0 = padded_shape(g.tensors[op.inputs[0]].shape, r)
        s1 = padded_shape(g.tensors[op.inputs[1]].shape, r) if self.code != 2 else s0
        return LogicalParams(self.code, s0, s1, tuple(y.shape))

    def run(self, p: LogicalParams, inputs):
        a = inputs[0].reshape((inputs[0].shape[0],) + p.shape0)
        if p.code == 2:
            return [np.logical_not(a)]
        b = inputs[1].reshape((inputs[1].shape[0],) + p.shape1)
        y = np.logical_and(a, b) if p.code == 0 else np.logical_or(a, b)
        return [np.ascontiguousarray(np.broadcast_to(y, (max(a.shape[0], b.shape[0]),) + p.out_shape))]

    def emit_c(self, p: LogicalParams, ctx):
        """C binding: tg_logical (firmware/kernels/tg_compare.c)."""
        from tinygen.ops.c_emit import broadcast_fields

        ctx.need("tg_compare.c")
        st = ctx.struct("tg_bcast_t", broadcast_fields(p.shape0, p.shape1, p.out_shape))
        b = ctx.input(1) if p.code != 2 else ctx.input(0)
        return f"tg_logical({st}, (const uint8_t *){ctx.input(0)}, (const uint8_t *){b}, (uint8_t *){ctx.output()}, {p.code});"


@register
class LogicalAnd(_Logical):
    name = "LOGICAL_AND"
    code = 0


@register
class LogicalOr(_Logical):
    name = "LOGICAL_OR"
    code = 1


@register
class LogicalNot(_Logical):
    name = "LOGICAL_NOT"
    code = 2


# ---------------------------------------------------------------- SELECT_V2


@dataclass(frozen=True)
class SelectParams:
    shapes: tuple  # condition, x, y padded to rank 5
    out_shape: tuple
    itemsize: int


def _strides5(shape, out5) -> list[int]:
    st, acc = [0] * 5, 1
    for d in range(4, -1, -1):
        st[d] = 0 if shape[d] == 1 and out5[d] != 1 else acc
        acc *= shape[d]
    return st


@register
class SelectV2(Op):
    name = "SELECT_V2"
    dtypes = ("int8", "int16")

    def check(self, g, op):
        require(len(op.inputs) == 3 and len(op.outputs) == 1, op, "expects 3 inputs (condition, x, y) and one output")
        c, x, y, o = (g.tensors[i] for i in list(op.inputs) + list(op.outputs))
        require(c.dtype == np.bool_, op, f"condition is {c.dtype_name}, expected bool")
        require(x.dtype in (np.int8, np.int16) and y.dtype == x.dtype and o.dtype == x.dtype, op,
                f"x, y, output are {x.dtype_name}, {y.dtype_name}, {o.dtype_name}; equal int8 or int16 expected")
        _broadcast_check(op, [c.shape, x.shape, y.shape], o.shape, 5)

    def prepare(self, g, op):
        o = g.tensors[op.outputs[0]]
        return SelectParams(tuple(padded_shape(g.tensors[i].shape, 5) for i in op.inputs), tuple(o.shape), int(np.dtype(o.dtype).itemsize))

    def run(self, p: SelectParams, inputs):
        c, x, y = (a.reshape((a.shape[0],) + s) for a, s in zip(inputs, p.shapes))
        r = np.where(c, x, y)
        n = max(a.shape[0] for a in inputs)
        return [np.ascontiguousarray(np.broadcast_to(r, (n,) + padded_shape(p.out_shape, 5)).reshape((n,) + p.out_shape))]

    def emit_c(self, p: SelectParams, ctx):
        """C binding: tg_select_v2 (firmware/kernels/tg_compare.c)."""
        ctx.need("tg_compare.c")
        o5 = padded_shape(p.out_shape, 5)
        fields = dict(dims=list(o5), c_strides=_strides5(p.shapes[0], o5), x_strides=_strides5(p.shapes[1], o5),
                      y_strides=_strides5(p.shapes[2], o5), elem_bytes=p.itemsize)
        return (f"tg_select_v2({ctx.struct('tg_select_params_t', fields)}, (const uint8_t *){ctx.input(0)}, "
                f"(const void *){ctx.input(1)}, (const void *){ctx.input(2)}, (void *){ctx.output()});")


# ---------------------------------------------------------------- SQUARED_DIFFERENCE


@dataclass(frozen=True)
class SqDiffParams:
    shape0: tuple
    shape1: tuple
    out_shape: tuple
    left_shift: int
    offset1: int
    offset2: int
    output_offset: int
    mult1: int
    shift1: int
    mult2: int
    shift2: int
    out_mult: int
    out_shift: int
    qmin: int
    qmax: int
    itemsize: int


@register
class SquaredDifference(Op):
    """TFLM squared_difference.cc: both inputs rescaled onto twice the larger scale (left shift 7 for
    int8, 0 for int16), the difference squared in int32, requantized with MultiplyByQuantizedMultiplier."""

    name = "SQUARED_DIFFERENCE"
    dtypes = ("int8", "int16")

    def _reals(self, g, op):
        a, b, y = (g.tensors[op.inputs[0]], g.tensors[op.inputs[1]], g.tensors[op.outputs[0]])
        ls = 7 if a.dtype == np.int8 else 0
        twice = 2.0 * float(max(np.float32(a.scale), np.float32(b.scale)))
        r_out = twice * twice / float(np.float32(np.float32(1 << (2 * ls)) * np.float32(y.scale)))
        return ls, float(np.float32(a.scale)) / twice, float(np.float32(b.scale)) / twice, r_out

    def check(self, g, op):
        require(len(op.inputs) == 2 and len(op.outputs) == 1, op, "expects two inputs and one output")
        a, b, y = (g.tensors[op.inputs[0]], g.tensors[op.inputs[1]], g.tensors[op.outputs[0]])
        require(a.dtype in (np.int8, np.int16) and b.dtype == a.dtype and y.dtype == a.dtype, op,
                f"{a.dtype_name}, {b.dtype_name} -> {y.dtype_name}: equal int8 or int16 types expected")
        for t, role in ((a, "input 0"), (b, "input 1"), (y, "output")):
            require(t.quant is not None and not t.quant.per_channel and t.scale > 0, op, f"{role} needs per-tensor quantization")
            if a.dtype == np.int16:
                require(t.zero_point == 0, op, f"int16 {role} has zero point {t.zero_point}; TFLM needs 0")
        _broadcast_check(op, [a.shape, b.shape], y.shape, 4)
        _, r_out = self._reals(g, op)[0], self._reals(g, op)[3]
        require(fp.quantize_multiplier(r_out)[1] <= 30, op, f"output multiplier {r_out:g} is too large")

    def prepare(self, g, op):
        a, b, y = (g.tensors[op.inputs[0]], g.tensors[op.inputs[1]], g.tensors[op.outputs[0]])
        ls, r1, r2, ro = self._reals(g, op)
        (m1, s1), (m2, s2), (mo, so) = fp.quantize_multiplier(r1), fp.quantize_multiplier(r2), fp.quantize_multiplier(ro)
        info = np.iinfo(a.dtype)
        r = len(y.shape)
        return SqDiffParams(padded_shape(a.shape, r), padded_shape(b.shape, r), tuple(y.shape), ls, -a.zero_point, -b.zero_point,
                            y.zero_point, m1, s1, m2, s2, mo, so, int(info.min), int(info.max), int(np.dtype(a.dtype).itemsize))

    def run(self, p: SqDiffParams, inputs):
        f = fp.multiply_by_quantized_multiplier_smaller_than_one_exp
        a = inputs[0].reshape((inputs[0].shape[0],) + p.shape0).astype(np.int64)
        b = inputs[1].reshape((inputs[1].shape[0],) + p.shape1).astype(np.int64)
        sa = f((a + p.offset1) * (1 << p.left_shift), p.mult1, p.shift1)
        sb = f((b + p.offset2) * (1 << p.left_shift), p.mult2, p.shift2)
        d = fp.wrap_int32((sa - sb) * (sa - sb))
        y = np.clip(fp.multiply_by_quantized_multiplier(d, p.out_mult, p.out_shift) + p.output_offset, p.qmin, p.qmax)
        n = max(a.shape[0], b.shape[0])
        return [np.ascontiguousarray(np.broadcast_to(y, (n,) + p.out_shape)).astype(np.int8 if p.itemsize == 1 else np.int16)]

    def emit_c(self, p: SqDiffParams, ctx):
        """C binding: tg_squared_difference (firmware/kernels/tg_compare.c)."""
        from tinygen.ops.c_emit import broadcast_fields

        ctx.need("tg_compare.c")
        fields = dict(shape=broadcast_fields(p.shape0, p.shape1, p.out_shape), left_shift=p.left_shift, offset1=p.offset1,
                      offset2=p.offset2, output_offset=p.output_offset, mult1=p.mult1, shift1=p.shift1, mult2=p.mult2,
                      shift2=p.shift2, out_mult=p.out_mult, out_shift=p.out_shift, qmin=p.qmin, qmax=p.qmax, elem_bytes=p.itemsize)
        return (f"tg_squared_difference({ctx.struct('tg_sqdiff_params_t', fields)}, (const void *){ctx.input(0)}, "
                f"(const void *){ctx.input(1)}, (void *){ctx.output()});")
