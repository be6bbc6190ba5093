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


def _axis(op: Operator) -> int:
    return int(op.options.get("axis", 0))


# ops folded from their inputs' static shapes alone: (op, input tensors, output tensors) -> outputs
def _shape(op: Operator, ins: list, outs: list) -> list:
    return [np.array(ins[0].shape, dtype=outs[0].dtype)]


def _zeros_like(op: Operator, ins: list, outs: list) -> list:
    return [np.zeros(outs[0].shape, dtype=outs[0].dtype)]


_STATIC_FOLDS = {"SHAPE": _shape, "ZEROS_LIKE": _zeros_like}


# ops folded from constant inputs: (op, input values, output tensors) -> outputs, or None (not folded)
def _pack(op: Operator, v: list, outs: list) -> list:
    return [np.stack(v, axis=_axis(op))]


def _concatenation(op: Operator, v: list, outs: list) -> list | None:
    if op.activation != "NONE":
        return None
    return [np.concatenate([np.atleast_1d(a) for a in v], axis=_axis(op))]


def _strided_slice_fold(op: Operator, v: list, outs: list) -> list | None:
    if len(v) != 4 or v[0].ndim < 1:
        return None
    y = _strided_slice(op, v[0], v[1].reshape(-1), v[2].reshape(-1), v[3].reshape(-1))
    return None if y is None else [y]


def _reshape(op: Operator, v: list, outs: list) -> list:
    return [v[0].reshape(outs[0].shape)]


def _gather(op: Operator, v: list, outs: list) -> list | None:
    if len(v) != 2:
        return None
    return [np.take(v[0], v[1].astype(np.int64), axis=_axis(op))]


def _arithmetic(op: Operator, v: list, outs: list) -> list | None:
    if op.activation != "NONE" or len(v) != 2:
        return None
    a, b = v[0].astype(np.int64), v[1].astype(np.int64)
    return [{"ADD": a + b, "SUB": a - b, "MUL": a * b}[op.op]]


def _cast(op: Operator, v: list, outs: list) -> list:
    return [v[0]]


def _broadcast_args(op: Operator, v: list, outs: list) -> list | None:
    if len(v) != 2 or v[0].ndim != 1 or v[1].ndim != 1:
        return None
    n = max(v[0].size, v[1].size)
    a = np.concatenate([np.ones(n - v[0].size, np.int64), v[0].astype(np.int64)])
    b = np.concatenate([np.ones(n - v[1].size, np.int64), v[1].astype(np.int64)])
    return [np.where(a == 1, b, a)]


def _fill(op: Operator, v: list, outs: list) -> list | None:
    if len(v) != 2:
        return None
    return [np.full(outs[0].shape, v[1].reshape(-1)[0])]


_CONST_FOLDS = {
    "PACK": _pack, "CONCATENATION": _concatenation, "STRIDED_SLICE": _strided_slice_fold,
    "RESHAPE": _reshape, "SQUEEZE": _reshape, "EXPAND_DIMS": _reshape, "GATHER": _gather,
    "ADD": _arithmetic, "SUB": _arithmetic, "MUL": _arithmetic, "CAST": _cast,
    "BROADCAST_ARGS": _broadcast_args, "FILL": _fill,
}


def _evaluate(g: Graph, op: Operator) -> list[np.ndarray] | None:
    """The op's outputs from its constant inputs, or None when tinygen does not fold this op."""
    ins = [g.tensors[i] if i >= 0 else None for i in op.inputs]
    outs = [g.tensors[i] for i in op.outputs]
    if op.op in _STATIC_FOLDS:
        return _STATIC_FOLDS[op.op](op, ins, outs)
    if any(t is not None and not t.is_const for t in ins):
        return None
    v = [None if t is None else np.asarray(t.data) for t in ins]
    fold = _CONST_FOLDS.get(op.op)
    return None if fold is None else fold(op, v, outs)


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
