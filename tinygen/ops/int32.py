"""int32 variants (register_variant by input type) of ops tinygen runs in int8/int16: ADD, SUB, MUL, DIV,
MAXIMUM, MINIMUM, SQUARED_DIFFERENCE (arithmetic), STRIDED_SLICE, CONCATENATION, PAD, PADV2 (byte
moving). The other data-movement ops (SLICE, SPLIT, SPLIT_V, UNPACK, PACK, BROADCAST_TO, REVERSE_V2,
RESHAPE, SQUEEZE) take int32 in their own modules: their kernels only move values.

TFLM's int32 arithmetic is plain integer math, no requantization (checked with the tflite_micro
package): quantization parameters of int32 tensors are ignored, results wrap modulo 2^32 (the
C++ kernels compute in int32_t; two's complement), and
- ADD ignores the fused activation (TFLM's int32 add path does not clamp),
- SUB and MUL clamp to the activation's int32 range (RELU [0, INT32_MAX], RELU6 [0, 6],
  RELU_N1_TO_1 [-1, 1]),
- SQUARED_DIFFERENCE is (a - b)^2, broadcasting up to rank 4,
- DIV is C's integer division (truncating toward zero) clamped to the activation range; TFLM's process dies
  (SIGFPE) on a zero divisor and on INT32_MIN / -1: tinygen gives 0 and INT32_MIN there,
- ADD, SUB, MUL, MAXIMUM, MINIMUM broadcast up to rank 5 here (tg_bcast_t).
C kernel: tg_binary_s32 (firmware/kernels/tg_int32.c), computing in uint32_t so that the wrap is defined.
TFLM has no int32 kernel for TRANSPOSE, EXPAND_DIMS, SELECT_V2 (it refuses them at run time).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import Op, register_variant, require
from . import fxmath  # noqa: F401  (DIV is registered there; its int32 variant here)
from .layout import Concatenation, StridedSlice
from .layout16 import _PadInt16, StridedSliceInt16
from .movement import _Move

# the op codes of tg_binary_s32
CODES = {"ADD": 0, "SUB": 1, "MUL": 2, "MAXIMUM": 3, "MINIMUM": 4, "SQUARED_DIFFERENCE": 5, "DIV": 6}
I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1
_ACT_RANGE = {"NONE": (I32_MIN, I32_MAX), "RELU": (0, I32_MAX), "RELU6": (0, 6), "RELU_N1_TO_1": (-1, 1)}


def _padded(shape, rank) -> tuple:
    return (1,) * (rank - len(shape)) + tuple(int(d) for d in shape)


@dataclass(frozen=True)
class Binary32Params:
    code: int
    shape0: tuple
    shape1: tuple
    out_shape: tuple
    act_min: int
    act_max: int


class _Binary32(Op):
    dtypes = ("int32",)
    max_rank = 5
    clamps = True  # applies the fused activation
    inplace = True

    def is_inplace(self, g, op) -> bool:
        return tuple(g.tensors[op.inputs[0]].shape) == tuple(g.tensors[op.outputs[0]].shape)

    def check(self, g, op):
        require(len(op.inputs) == 2 and len(op.outputs) == 1, op, "expects two inputs and one output")
        t0, t1, to = (g.tensors[i] for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
        require(t0.dtype == np.int32 and t1.dtype == np.int32 and to.dtype == np.int32, op,
                f"{t0.dtype_name}, {t1.dtype_name} -> {to.dtype_name}: the int32 {self.name} needs int32 throughout")
        for t, role in ((t0, "input 0"), (t1, "input 1"), (to, "output")):
            require(len(t.shape) <= self.max_rank, op,
                    f"{role} has rank {len(t.shape)}: broadcast of rank > {self.max_rank} not supported")
        try:
            b = tuple(np.broadcast_shapes(tuple(t0.shape), tuple(t1.shape)))
        except ValueError:
            b = None
        require(b is not None and b == tuple(to.shape), op,
                f"output shape {list(to.shape)} is not the broadcast of {list(t0.shape)} and {list(t1.shape)}")
        require(op.activation in _ACT_RANGE, op, f"fused activation {op.activation} not supported")

    def prepare(self, g, op):
        t0, t1, to = (g.tensors[i] for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
        r = len(to.shape)
        lo, hi = _ACT_RANGE[op.activation] if self.clamps else (I32_MIN, I32_MAX)
        return Binary32Params(CODES[self.name], _padded(t0.shape, r), _padded(t1.shape, r), tuple(to.shape), lo, hi)

    def run(self, p: Binary32Params, inputs):
        a = inputs[0].reshape((inputs[0].shape[0],) + p.shape0).astype(np.int64)
        b = inputs[1].reshape((inputs[1].shape[0],) + p.shape1).astype(np.int64)
        if p.code == 0:
            y = a + b
        elif p.code == 1:
            y = a - b
        elif p.code == 2:
            y = a * b  # |a * b| < 2^62: exact in int64, wrapped below
        elif p.code == 3:
            y = np.maximum(a, b)
        elif p.code == 4:
            y = np.minimum(a, b)
        elif p.code == 6:  # C's division, truncating toward zero; x / 0 gives 0 (TFLM crashes: SIGFPE)
            q = np.abs(a) // np.maximum(np.abs(b), 1)
            y = np.where(b == 0, 0, np.where((a < 0) != (b < 0), -q, q))
        else:
            d = (a - b) & 0xFFFFFFFF
            y = d * d
        y = ((y & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000  # two's complement wrap to int32
        y = np.clip(y, p.act_min, p.act_max).astype(np.int32)
        n = max(a.shape[0], b.shape[0])
        return [np.ascontiguousarray(np.broadcast_to(y, (n,) + p.out_shape))]

    def macs(self, g, op):
        return g.tensors[op.outputs[0]].size

    def emit_c(self, p: Binary32Params, ctx):
        """C binding: tg_binary_s32 (firmware/kernels/tg_int32.c) over tg_bcast_t strides."""
        from tinygen.ops.c_emit import broadcast_fields

        ctx.need("tg_int32.c")
        st = ctx.struct("tg_bcast_t", broadcast_fields(p.shape0, p.shape1, p.out_shape))
        return (f"tg_binary_s32({st}, (const int32_t *){ctx.input(0)}, (const int32_t *){ctx.input(1)}, "
                f"(int32_t *){ctx.output()}, {p.code}, {ctx.c_int(p.act_min)}, {ctx.c_int(p.act_max)});")


@register_variant("ADD", "int32")
class AddInt32(_Binary32):
    name = "ADD"
    clamps = False  # TFLM's int32 ADD ignores the fused activation


@register_variant("SUB", "int32")
class SubInt32(_Binary32):
    name = "SUB"


@register_variant("MUL", "int32")
class MulInt32(_Binary32):
    name = "MUL"


@register_variant("MAXIMUM", "int32")
class MaximumInt32(_Binary32):
    name = "MAXIMUM"


@register_variant("MINIMUM", "int32")
class MinimumInt32(_Binary32):
    name = "MINIMUM"


@register_variant("DIV", "int32")
class DivInt32(_Binary32):
    name = "DIV"


@register_variant("SQUARED_DIFFERENCE", "int32")
class SquaredDifferenceInt32(_Binary32):
    name = "SQUARED_DIFFERENCE"
    max_rank = 4


# ---------------------------------------------------------------- byte-moving layout ops


def _int32_io(self, g, op):
    x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
    require(x.dtype == np.int32 and y.dtype == np.int32, op, f"{x.dtype_name} -> {y.dtype_name}: the int32 {self.name} needs int32 both")


@register_variant("STRIDED_SLICE", "int32")
class StridedSliceInt32(StridedSliceInt16):
    dtypes = ("int32",)
    _int16_io = _int32_io


class _PadInt32(_PadInt16):
    dtypes = ("int32",)
    _int16_io = _int32_io

    def check(self, g, op):
        self._int16_io(g, op)
        require(len(op.inputs) in (2, 3), op, "expects 2 or 3 inputs")
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        require(len(x.shape) <= 5, op, "rank > 5 not supported")
        pt = g.tensors[op.inputs[1]]
        pads = np.asarray(pt.data, np.int64) if pt.is_const else None
        require(pads is not None and pads.size == 2 * len(x.shape) and (pads >= 0).all(), op, "paddings must be constant, non-negative [rank, 2]")
        pads = pads.reshape(-1, 2)
        require(tuple(y.shape) == tuple(int(x.shape[d] + pads[d].sum()) for d in range(len(x.shape))), op, "output shape does not match the padding")
        if len(op.inputs) == 3 and op.inputs[2] >= 0:
            cv = g.tensors[op.inputs[2]]
            require(cv.is_const and cv.dtype == np.int32 and cv.size == 1, op, "constant_values must be a constant int32 scalar")


@register_variant("PAD", "int32")
class PadInt32(_PadInt32):
    name = "PAD"


@register_variant("PADV2", "int32")
class PadV2Int32(_PadInt32):
    name = "PADV2"


@register_variant("CONCATENATION", "int32")
class ConcatenationInt32(Op):
    name = "CONCATENATION"
    dtypes = ("int32",)

    def check(self, g, op):
        n = len(op.inputs)
        y = g.tensors[op.outputs[0]] if op.outputs else None
        require(1 <= n <= 10 and len(op.outputs) == 1, op, f"{n} inputs; TFLM concatenates at most 10")
        require(op.activation == "NONE", op, "fused activation not supported")
        rank = len(y.shape)
        require(1 <= rank <= 6, op, f"rank {rank} tensors are not supported (1..6)")
        axis = int(op.options.get("axis", 0))
        require(-rank <= axis < rank, op, f"axis {axis} out of range")
        axis %= rank
        total = 0
        for tid in op.inputs:
            t = g.tensors[tid]
            require(t.dtype == np.int32 and y.dtype == np.int32, op, f"'{t.name}' is {t.dtype_name}: the int32 CONCATENATION needs int32 throughout")
            require(len(t.shape) == rank and all(t.shape[d] == y.shape[d] for d in range(rank) if d != axis), op,
                    f"input '{t.name}' shape {list(t.shape)} does not match the output off axis {axis}")
            total += t.shape[axis]
        require(total == y.shape[axis], op, f"inputs add up to {total} along axis {axis}, output has {y.shape[axis]}")

    def prepare(self, g, op):
        return Concatenation.prepare(Concatenation, g, op)

    def run(self, p, inputs):
        return Concatenation.run(Concatenation, p, inputs)

    def emit_c(self, p, ctx):
        """C binding: tg_concat over bytes (4 per value)."""
        ctx.need("tg_layout.c")
        outer = int(np.prod(p.out_shape[: p.axis], dtype=np.int64))
        tail = int(np.prod(p.out_shape[p.axis + 1:], dtype=np.int64))
        n = len(p.sizes)
        inner = ctx.const(np.array([4 * s * tail for s in p.sizes], dtype=np.int64), "int32_t", f"op{ctx.op_index}_inner")
        ins = ", ".join(f"(const int8_t *){ctx.input(i)}" for i in range(n))
        return "\n".join(["{", f"    const int8_t *const inputs[{n}] = {{{ins}}};",
                          f"    tg_concat({n}, inputs, {inner}, {outer}, (int8_t *){ctx.output()});", "}"])


__all__ = ["CODES", "AddInt32", "SubInt32", "MulInt32", "MaximumInt32", "MinimumInt32", "SquaredDifferenceInt32",
           "DivInt32", "StridedSliceInt32", "PadInt32", "PadV2Int32", "ConcatenationInt32", "StridedSlice", "_Move"]
