"""Ops that only move bytes: RESHAPE, SQUEEZE, EXPAND_DIMS (aliases, no data written)."""
from __future__ import annotations

import numpy as np

from .base import Op, register, require

MAX_SQUEEZE_RANK = 8  # TFLM squeeze: max_squeeze_dims


class _Alias(Op):
    """The output holds exactly input 0's bytes with another shape."""

    alias = True
    dtypes = ("int8", "int16")  # any type moves the same way; int16 checked against TFLM (tests/test_ops_layout16.py)

    def check(self, g, op):
        src, dst = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        require(src.size == dst.size, op, f"output has {dst.size} elements, input {src.size}")
        require(src.dtype == dst.dtype, op, f"input is {src.dtype_name}, output {dst.dtype_name}")
        if src.quant is not None and dst.quant is not None:
            require(
                src.scale == dst.scale and src.zero_point == dst.zero_point,
                op,
                "input and output quantization differ",
            )

    def prepare(self, g, op):
        return tuple(g.tensors[op.outputs[0]].shape)

    def run(self, out_shape, inputs):
        x = inputs[0]
        return [x.reshape((x.shape[0],) + out_shape)]

    def emit_c(self, p, ctx):
        """No code when the planner gave the output input 0's bytes; a copy otherwise (constant input)."""
        src, dst = ctx.op.inputs[0], ctx.op.outputs[0]
        if ctx.shares_bytes(src, dst):
            return "/* no data moved: the output is the input's bytes */"
        return f"memcpy({ctx.output()}, {ctx.input(0)}, {ctx.output_tensor().nbytes});"


@register
class Reshape(_Alias):
    name = "RESHAPE"
    dtypes = ("int8", "int16", "int32")  # int32 checked against TFLM (tests/test_ops_int32.py)

    def check(self, g, op):
        n = len(op.inputs)
        require(n in (1, 2) and len(op.outputs) == 1, op, f"has {n} inputs and {len(op.outputs)} outputs, expected 1 or 2 and 1")
        super().check(g, op)


@register
class Squeeze(_Alias):
    name = "SQUEEZE"
    dtypes = ("int8", "int16", "int32")

    def check(self, g, op):
        require(len(op.inputs) == 1 and len(op.outputs) == 1, op,
                f"has {len(op.inputs)} inputs and {len(op.outputs)} outputs, expected 1 and 1")
        super().check(g, op)
        src, dst = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        rank = len(src.shape)
        require(rank <= MAX_SQUEEZE_RANK, op, f"rank {rank} input is not supported (TFLM squeezes up to rank {MAX_SQUEEZE_RANK})")
        dims = op.options.get("squeeze_dims") or []
        if dims:
            squeeze = set()
            for d in dims:
                a = d + rank if d < 0 else d
                require(0 <= a < rank and src.shape[a] == 1, op, f"squeeze_dims entry {d} does not name a size-1 axis of {list(src.shape)}")
                squeeze.add(a)
        else:
            squeeze = {a for a in range(rank) if src.shape[a] == 1}
        expected = [s for a, s in enumerate(src.shape) if a not in squeeze]
        require(list(dst.shape) == expected, op, f"output shape {list(dst.shape)} is not the squeezed input shape {expected}")


@register
class ExpandDims(_Alias):
    name = "EXPAND_DIMS"

    def check(self, g, op):
        require(len(op.inputs) == 2 and len(op.outputs) == 1, op,
                f"has {len(op.inputs)} inputs and {len(op.outputs)} outputs, expected 2 and 1")
        super().check(g, op)
        src, dst = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        at = g.tensors[op.inputs[1]] if op.inputs[1] >= 0 else None
        require(at is not None and at.is_const, op, "non-constant axis tensor is not supported")
        require(at.dtype == np.int32, op, f"axis tensor is {at.dtype_name}, expected int32")
        require(len(at.shape) <= 1 and at.size == 1, op, f"axis tensor has shape {list(at.shape)}, expected one value")
        rank = len(src.shape)
        axis = int(at.data.reshape(-1)[0])
        axis = axis + rank + 1 if axis < 0 else axis
        require(0 <= axis <= rank, op, f"axis {int(at.data.reshape(-1)[0])} is out of range for a rank {rank} input")
        expected = list(src.shape[:axis]) + [1] + list(src.shape[axis:])
        require(list(dst.shape) == expected, op, f"output shape {list(dst.shape)} is not the expanded input shape {expected}")
