"""GATHER_ND (int8 params (TFLM refuses int16; int32 params not done); int32 indices, constant or computed at run time), as TFLite Micro's
reference kernel: indices of shape [..., k] pick slices params[i0, ..., ik-1, :, ...]; the output shape
is indices.shape[:-1] + params.shape[k:]. An index out of range is an error in the emulator (TFLM fails
the invoke) and gives a zero slice in C."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinygen.errors import TinygenError
from .base import Op, register, require

MAX_INDEX_DEPTH = 5


@dataclass(frozen=True)
class GatherNdParams:
    n_idx: int  # index tuples
    depth: int  # k
    dims: tuple  # params.shape[:k]
    strides: tuple  # slice strides of those dims (elements)
    slice_size: int
    out_shape: tuple
    itemsize: int


@register
class GatherNd(Op):
    name = "GATHER_ND"
    dtypes = ("int8",)

    def check(self, g, op):
        require(len(op.inputs) == 2 and len(op.outputs) == 1, op, "expects 2 inputs (params, indices) and 1 output")
        x, ind, y = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]], g.tensors[op.outputs[0]]
        require(x.dtype == np.int8, op, f"params are {x.dtype_name}; int8 is supported (TFLM has no int16 GATHER_ND)")
        require(y.dtype == x.dtype, op, f"output is {y.dtype_name}, params {x.dtype_name}")
        require(ind.dtype == np.int32, op, f"indices are {ind.dtype_name}; int32 indices are supported")
        require(len(ind.shape) >= 1 and len(x.shape) >= 1, op, "params and indices need rank >= 1")
        k = int(ind.shape[-1])
        require(1 <= k <= min(len(x.shape), MAX_INDEX_DEPTH), op, f"index depth {k} is not in 1..{min(len(x.shape), MAX_INDEX_DEPTH)}")
        p = self.prepare(g, op)
        require(tuple(y.shape) == p.out_shape, op, f"output shape {list(y.shape)} is not the gathered shape {list(p.out_shape)}")

    def prepare(self, g, op):
        x, ind = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]]
        k = int(ind.shape[-1])
        slice_size = int(np.prod(x.shape[k:], dtype=np.int64))
        strides = tuple(int(np.prod(x.shape[d + 1 :], dtype=np.int64)) for d in range(k))
        out_shape = tuple(ind.shape[:-1]) + tuple(x.shape[k:])
        return GatherNdParams(int(np.prod(ind.shape[:-1], dtype=np.int64)), k, tuple(int(d) for d in x.shape[:k]), strides,
                              slice_size, out_shape, int(np.dtype(x.dtype).itemsize))

    def run(self, p: GatherNdParams, inputs):
        data, idx = inputs
        n = max(data.shape[0], idx.shape[0])
        flat = np.broadcast_to(data.reshape(data.shape[0], -1), (n, int(np.prod(data.shape[1:], dtype=np.int64))))
        ii = np.broadcast_to(idx.reshape(idx.shape[0], p.n_idx, p.depth), (n, p.n_idx, p.depth)).astype(np.int64)
        bad = (ii < 0) | (ii >= np.array(p.dims, np.int64))
        if bad.any():
            raise TinygenError(f"GATHER_ND: index {int(ii[bad][0])} is out of range (TFLM fails the invoke too)")
        base = (ii * np.array(p.strides, np.int64)).sum(axis=-1)  # (n, n_idx)
        take = base[:, :, None] + np.arange(p.slice_size, dtype=np.int64)
        y = np.take_along_axis(flat, take.reshape(n, -1), axis=1)
        return [np.ascontiguousarray(y).reshape((n,) + p.out_shape)]

    def emit_c(self, p: GatherNdParams, ctx):
        """C binding: tg_gather_nd (firmware/kernels/tg_arith.c)."""
        ctx.need("tg_arith.c")
        fill = lambda v: list(v) + [0] * (MAX_INDEX_DEPTH - len(v))  # noqa: E731
        fields = dict(n_idx=p.n_idx, depth=p.depth, dims=fill(p.dims), strides=fill(p.strides), slice_size=p.slice_size, elem_bytes=p.itemsize)
        return (f"tg_gather_nd({ctx.struct('tg_gather_nd_params_t', fields)}, (const int8_t *){ctx.input(0)}, "
                f"(const int32_t *){ctx.input(1)}, (int8_t *){ctx.output()});")
