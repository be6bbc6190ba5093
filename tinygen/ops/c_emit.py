"""Helpers the ops' C bindings (`emit_c`) and the code generator share: field values of the C
kernels' parameter structs. Sits below both, so ops never import the generator."""
from __future__ import annotations

import numpy as np

from tinygen.errors import TinygenError


def broadcast_fields(shape0, shape1, out_shape, max_dims: int = 5) -> dict:
    """tg_bcast_t fields for a binary element-wise op (numpy broadcasting)."""
    rank = max(len(out_shape), 1)
    if rank > max_dims:
        raise TinygenError(f"broadcast of rank {rank} > {max_dims}")
    pad = lambda s: (1,) * (max_dims - len(s)) + tuple(int(d) for d in s)  # noqa: E731
    o, a, b = pad(out_shape), pad(shape0), pad(shape1)

    def strides(s):
        st, acc = [0] * max_dims, 1
        for d in range(max_dims - 1, -1, -1):
            st[d] = 0 if s[d] == 1 and o[d] != 1 else acc
            acc *= s[d]
        return st

    size = int(np.prod(o))
    broadcast = int(tuple(a) != tuple(o) or tuple(b) != tuple(o))
    return dict(size=size, broadcast=broadcast, dims=list(o), a_strides=strides(a), b_strides=strides(b))


def pad_shape(shape, rank: int = 5, fill: int = 1) -> list[int]:
    shape = [int(d) for d in shape]
    if len(shape) > rank:
        raise TinygenError(f"rank {len(shape)} > {rank}")
    return [fill] * (rank - len(shape)) + shape
