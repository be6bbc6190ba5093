"""Shape arithmetic folded at generation time.

Keras models built without a fixed batch size compute their reshape targets at run time:
SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE on int32 tensors (or BROADCAST_ARGS of constant shapes). Every tensor shape is static in
a TFLite Micro model, so such chains always give the same values: `fold_shape_arithmetic`
evaluates them once, turns their outputs into constant tensors and removes the ops. What is
left runs as before (RESHAPE then has a constant shape input).

An op is folded when its outputs are int32/int64 tensors that are not graph outputs and
every input is constant (SHAPE needs only its input's static shape). What cannot be folded (a SHAPE
whose output is a graph output, BROADCAST_ARGS of run-time shapes) runs as an op (tinygen/ops/shape_args.py). The folded ops are kept
in `Graph.folded` (with their original indices) so that `convert`, which hands the unchanged
.tflite to TFLite Micro, still lists them. The operators left are renumbered 0..n-1.
"""
from __future__ import annotations

import numpy as np

from .graph import Graph, Operator

_SHAPE_TYPES = (np.int32, np.int64)


def _clamp(v: int, lo: int, hi: int) -> int:
    return hi if v > hi else lo if v < lo else v


def slice_axis(begin: int, end: int, stride: int, size: int, begin_masked: bool, end_masked: bool, shrink: bool):
    """TFLM's StridedSliceStartForAxis / StridedSliceEndForAxis for one axis (offset = false):
    (start, stop) with stop exclusive (-1 allowed for negative strides)."""
    start = begin + size if begin < 0 else begin
    start = _clamp(start, 0, size) if stride > 0 else _clamp(start, -1, size - 1)
    if begin_masked:
        start = 0 if stride > 0 else size - 1
    if shrink:
        return start, (start if start >= size else start + 1)
    stop = end + size if end < 0 else end
    stop = _clamp(stop, 0, size) if stride > 0 else _clamp(stop, -1, size - 1)
    if end_masked:
        stop = size if stride > 0 else -1
    return start, stop


def _strided_slice(op: Operator, x: np.ndarray, begin, end, strides) -> np.ndarray | None:
    o = op.options
    if o.get("ellipsis_mask", 0) or o.get("new_axis_mask", 0) or o.get("offset", False):
        return None
    bm, em, sm = int(o.get("begin_mask", 0)), int(o.get("end_mask", 0)), int(o.get("shrink_axis_mask", 0))
    index, shape = [], []
    for d, size in enumerate(x.shape):
        s = int(strides[d])
        if s == 0:
            return None
        a, b = slice_axis(int(begin[d]), int(end[d]), s, size, bool(bm >> d & 1), bool(em >> d & 1), bool(sm >> d & 1))
        r = np.arange(a, b, s)
        index.append(r)
        if not sm >> d & 1:
            shape.append(len(r))
    return x[np.ix_(*index)].reshape(shape)


def _evaluate(g: Graph, op: Operator) -> list[np.ndarray] | None:
    """The op's outputs from its constant inputs, or None when tinygen does not fold this op."""
    ins = [g.tensors[i] if i >= 0 else None for i in op.inputs]
    outs = [g.tensors[i] for i in op.outputs]
    if op.op == "SHAPE":
        return [np.array(ins[0].shape, dtype=outs[0].dtype)]
    if op.op == "ZEROS_LIKE":  # needs only the static shape
        return [np.zeros(outs[0].shape, dtype=outs[0].dtype)]
    if any(t is not None and not t.is_const for t in ins):
        return None
    v = [None if t is None else np.asarray(t.data) for t in ins]
    if op.op == "PACK":
        return [np.stack(v, axis=int(op.options.get("axis", 0)))]
    if op.op == "CONCATENATION" and op.activation == "NONE":
        return [np.concatenate([np.atleast_1d(a) for a in v], axis=int(op.options.get("axis", 0)))]
    if op.op == "STRIDED_SLICE" and len(v) == 4 and v[0].ndim >= 1:
        y = _strided_slice(op, v[0], v[1].reshape(-1), v[2].reshape(-1), v[3].reshape(-1))
        return None if y is None else [y]
    if op.op in ("RESHAPE", "SQUEEZE", "EXPAND_DIMS"):
        return [v[0].reshape(outs[0].shape)]
    if op.op == "GATHER" and len(v) == 2:
        return [np.take(v[0], v[1].astype(np.int64), axis=int(op.options.get("axis", 0)))]
    if op.op in ("ADD", "SUB", "MUL") and op.activation == "NONE" and len(v) == 2:
        a, b = v[0].astype(np.int64), v[1].astype(np.int64)
        return [{"ADD": a + b, "SUB": a - b, "MUL": a * b}[op.op]]
    if op.op == "CAST":
        return [v[0]]
    if op.op == "BROADCAST_ARGS" and len(v) == 2 and v[0].ndim == 1 and v[1].ndim == 1:
        n = max(v[0].size, v[1].size)
        a = np.concatenate([np.ones(n - v[0].size, np.int64), v[0].astype(np.int64)])
        b = np.concatenate([np.ones(n - v[1].size, np.int64), v[1].astype(np.int64)])
        return [np.where(a == 1, b, a)]
    if op.op == "FILL" and len(v) == 2:
        return [np.full(outs[0].shape, v[1].reshape(-1)[0])]
    return None


def fold_shape_arithmetic(g: Graph) -> Graph:
    """Fold constant int32/int64 shape arithmetic in place (see the module docstring); returns g."""
    graph_outputs = set(g.outputs)
    kept: list[Operator] = []
    for op in g.operators:
        outs = [g.tensors[i] for i in op.outputs]
        foldable = (outs and all(t.dtype in _SHAPE_TYPES and t.quant is None and t.index not in graph_outputs for t in outs))
        values = _evaluate(g, op) if foldable else None
        if values is not None and len(values) == len(outs) and all(
                int(np.prod(t.shape, dtype=np.int64)) == np.asarray(val).size for t, val in zip(outs, values)):
            for t, val in zip(outs, values):
                t.data = np.asarray(val).astype(t.dtype).reshape(t.shape)
            if op.source_index < 0:
                op.source_index = op.index
            g.folded.append(op)
            continue
        kept.append(op)
    if g.folded:
        for k, op in enumerate(kept):
            if op.source_index < 0:
                op.source_index = op.index
            op.index = k
        g.operators = kept
    return g


__all__ = ["fold_shape_arithmetic", "slice_axis"]
