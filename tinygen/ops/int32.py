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

from .base import Op, padded_shape, register_variant, require, require_broadcast
from . import fxmath  # noqa: F401  (DIV is registered there; its int32 variant here)
from .layout import StridedSlice
from .layout16 import ConcatenationInt16, _PadInt16, StridedSliceInt16
from .movement import _Move

# the op codes of tg_binary_s32
CODES = {"ADD": 0, "SUB": 1, "MUL": 2, "MAXIMUM": 3, "MINIMUM": 4, "SQUARED_DIFFERENCE": 5, "DIV": 6}
I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1
_ACT_RANGE = {"NONE": (I32_MIN, I32_MAX), "RELU": (0, I32_MAX), "RELU6": (0, 6), "RELU_N1_TO_1": (-1, 1)}


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
        require_broadcast(op, t0, t1, to)
        require(op.activation in _ACT_RANGE, op, f"fused activation {op.activation} not supported")

    def prepare(self, g, op):
        t0, t1, to = (g.tensors[i] for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
        r = len(to.shape)
        lo, hi = _ACT_RANGE[op.activation] if self.clamps else (I32_MIN, I32_MAX)
        return Binary32Params(CODES[self.name], padded_shape(t0.shape, r), padded_shape(t1.shape, r), tuple(to.shape), lo, hi)

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
# the int16 classes check and move values of self.dtypes[0]: the int32 variants only change the type


@register_variant("STRIDED_SLICE", "int32")
class StridedSliceInt32(StridedSliceInt16):
    dtypes = ("int32",)


class _PadInt32(_PadInt16):
    dtypes = ("int32",)


@register_variant("PAD", "int32")
class PadInt32(_PadInt32):
    name = "PAD"


@register_variant("PADV2", "int32")
class PadV2Int32(_PadInt32):
    name = "PADV2"


@register_variant("CONCATENATION", "int32")
class ConcatenationInt32(ConcatenationInt16):
    dtypes = ("int32",)
    max_rank = 6
    same_quant = False  # int32 tensors are not requantized: their quantization parameters are ignored


__all__ = ["CODES", "AddInt32", "SubInt32", "MulInt32", "MaximumInt32", "MinimumInt32", "SquaredDifferenceInt32",
           "DivInt32", "StridedSliceInt32", "PadInt32", "PadV2Int32", "ConcatenationInt32", "StridedSlice", "_Move"]
