"""DYNAMIC_UPDATE_SLICE (int8, int16, int32 values; int32 start indices, constant or computed), as TFLite
Micro's kernel: the output is the operand with `update` written at the start indices, each clamped to
[0, operand_dim - update_dim] (XLA semantics)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import Op, register, require

MAX_RANK = 5


@dataclass(frozen=True)
class UpdateSliceParams:
    shape: tuple  # operand shape, left-padded to 5 with 1
    ushape: tuple  # update shape, likewise
    rank: int
    itemsize: int


def _pad(s):
    return (1,) * (MAX_RANK - len(s)) + tuple(int(d) for d in s)


@register
class DynamicUpdateSlice(Op):
    name = "DYNAMIC_UPDATE_SLICE"
    dtypes = ("int8", "int16", "int32")

    def check(self, g, op):
        require(len(op.inputs) == 3 and len(op.outputs) == 1, op, "expects 3 inputs (operand, update, start indices) and 1 output")
        x, u, s, y = (g.tensors[t] for t in (*op.inputs, op.outputs[0]))
        require(x.dtype in (np.int8, np.int16, np.int32), op, f"operand is {x.dtype_name}; int8, int16 and int32 are supported")
        require(u.dtype == x.dtype and y.dtype == x.dtype, op, f"types differ: operand {x.dtype_name}, update {u.dtype_name}, output {y.dtype_name}")
        require(s.dtype == np.int32, op, f"start indices are {s.dtype_name}; int32 is supported")
        require(1 <= len(x.shape) <= MAX_RANK, op, f"rank {len(x.shape)} is not supported (1..{MAX_RANK})")
        require(len(u.shape) == len(x.shape) and all(a <= b for a, b in zip(u.shape, x.shape)), op,
                f"update shape {list(u.shape)} does not fit the operand {list(x.shape)}")
        require(s.size == len(x.shape), op, f"{s.size} start indices for rank {len(x.shape)}")
        require(tuple(y.shape) == tuple(x.shape), op, f"output shape {list(y.shape)} differs from the operand's {list(x.shape)}")

    def prepare(self, g, op):
        x, u = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]]
        return UpdateSliceParams(_pad(x.shape), _pad(u.shape), len(x.shape), int(np.dtype(x.dtype).itemsize))

    def run(self, p: UpdateSliceParams, inputs):
        x, u, s = inputs
        n = max(x.shape[0], u.shape[0], s.shape[0])
        k = MAX_RANK - p.rank
        out = np.array(np.broadcast_to(x, (n,) + x.shape[1:])).reshape((n,) + p.shape)
        uu = np.broadcast_to(u, (n,) + u.shape[1:]).reshape((n,) + p.ushape)
        ss = np.broadcast_to(s.reshape(s.shape[0], -1), (n, p.rank)).astype(np.int64)
        for b in range(n):
            st = [0] * k + [int(min(max(ss[b, d], 0), p.shape[k + d] - p.ushape[k + d])) for d in range(p.rank)]
            out[(b,) + tuple(slice(a, a + e) for a, e in zip(st, p.ushape))] = uu[b]
        return [out.reshape((n,) + tuple(x.shape[1:]))]

    def emit_c(self, p: UpdateSliceParams, ctx):
        """C binding: tg_update_slice (firmware/kernels/tg_arith.c)."""
        ctx.need("tg_arith.c")
        fields = dict(dims=list(p.shape), udims=list(p.ushape), rank=p.rank, elem_bytes=p.itemsize)
        return (f"tg_update_slice({ctx.struct('tg_update_slice_params_t', fields)}, (const int8_t *){ctx.input(0)}, "
                f"(const int8_t *){ctx.input(1)}, (const int32_t *){ctx.input(2)}, (int8_t *){ctx.output()});")
