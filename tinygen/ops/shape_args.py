"""SHAPE (any -> int32) and BROADCAST_ARGS (int32): the shape arithmetic ops.

Every tensor shape is static in a TFLite Micro model, so SHAPE always gives the same values, and
BROADCAST_ARGS does too when its inputs are constant: tinygen/model/fold.py folds both at generation
time (their outputs become constants, the ops are removed) whenever the output is not a graph output.
The ops here run what is left:
- SHAPE whose output is a graph output: the kernel writes the constant shape (a copy from flash);
  the input's values are never read.
- BROADCAST_ARGS whose shape inputs are computed at run time (graph inputs): TFLM's BroadcastArgs,
  the numpy broadcast of two 1-D shape vectors aligned at their last element (a 1 takes the other
  side's size; two sizes that differ and are not 1 are an error in TFLM: tinygen writes the larger).
C kernels: memcpy (SHAPE), tg_broadcast_args_s32 (firmware/kernels/tg_int32.c).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import Op, register, require


@dataclass(frozen=True)
class ShapeParams:
    values: np.ndarray  # the constant shape, output type


@register
class Shape(Op):
    name = "SHAPE"
    dtypes = ("any -> int32",)

    def check(self, g, op):
        require(len(op.inputs) == 1 and len(op.outputs) == 1, op, "expects one input and one output")
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        require(y.dtype == np.int32, op, f"output is {y.dtype_name}; TFLM's SHAPE writes int32 only")
        require(tuple(y.shape) == (len(x.shape),), op, f"output shape {list(y.shape)} is not [{len(x.shape)}]")

    def prepare(self, g, op):
        return ShapeParams(np.array(g.tensors[op.inputs[0]].shape, dtype=np.int32))

    def run(self, p: ShapeParams, inputs):
        n = inputs[0].shape[0] if inputs[0] is not None else 1
        return [np.ascontiguousarray(np.broadcast_to(p.values, (n,) + p.values.shape))]

    def emit_c(self, p: ShapeParams, ctx):
        """C binding: a copy of the constant shape (the input's values are not read)."""
        if p.values.size == 0:
            return "/* SHAPE of a scalar: nothing to write */"
        tab = ctx.const(p.values, "int32_t", f"op{ctx.op_index}_shape")
        return f"memcpy({ctx.output()}, {tab}, {4 * p.values.size});"


@dataclass(frozen=True)
class BroadcastArgsParams:
    n0: int
    n1: int
    n_out: int


def broadcast_args(a: np.ndarray, b: np.ndarray, n_out: int) -> np.ndarray:
    """TFLM's BroadcastArgs over a batch: a (N, n0), b (N, n1) -> (N, n_out), aligned at the end."""
    n = max(a.shape[0], b.shape[0])
    pa = np.ones((n, n_out), dtype=np.int64)
    pb = np.ones((n, n_out), dtype=np.int64)
    if a.shape[1]:
        pa[:, n_out - a.shape[1]:] = a
    if b.shape[1]:
        pb[:, n_out - b.shape[1]:] = b
    return np.where(pa == pb, pa, np.where(pa == 1, pb, np.where(pb == 1, pa, np.maximum(pa, pb))))


@register
class BroadcastArgs(Op):
    name = "BROADCAST_ARGS"
    dtypes = ("int32",)

    def check(self, g, op):
        require(len(op.inputs) == 2 and len(op.outputs) == 1, op, "expects two inputs (shapes) and one output")
        a, b, y = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]], g.tensors[op.outputs[0]]
        for t, role in ((a, "input 0"), (b, "input 1"), (y, "output")):
            require(t.dtype == np.int32, op, f"{role} is {t.dtype_name}; int32 shapes are supported")
            require(len(t.shape) == 1, op, f"{role} has shape {list(t.shape)}; shapes are 1-D")
        require(y.shape[0] == max(a.shape[0], b.shape[0]), op,
                f"output has {y.shape[0]} values, expected {max(a.shape[0], b.shape[0])}")

    def prepare(self, g, op):
        a, b, y = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]], g.tensors[op.outputs[0]]
        return BroadcastArgsParams(int(a.shape[0]), int(b.shape[0]), int(y.shape[0]))

    def run(self, p: BroadcastArgsParams, inputs):
        a = inputs[0].reshape(inputs[0].shape[0], p.n0).astype(np.int64)
        b = inputs[1].reshape(inputs[1].shape[0], p.n1).astype(np.int64)
        return [broadcast_args(a, b, p.n_out).astype(np.int32)]

    def emit_c(self, p: BroadcastArgsParams, ctx):
        """C binding: tg_broadcast_args_s32 (firmware/kernels/tg_int32.c)."""
        ctx.need("tg_int32.c")
        return (f"tg_broadcast_args_s32((const int32_t *){ctx.input(0)}, {p.n0}, (const int32_t *){ctx.input(1)}, {p.n1}, "
                f"(int32_t *){ctx.output()}, {p.n_out});")


__all__ = ["Shape", "BroadcastArgs", "broadcast_args"]
