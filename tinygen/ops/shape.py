"""Ops that only move bytes: RESHAPE, SQUEEZE, EXPAND_DIMS (aliases, no data written)."""
from __future__ import annotations

import numpy as np

from .base import Op, register, require


class _Alias(Op):
    """The output holds exactly input 0's bytes with another shape."""

    alias = True

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


@register
class Reshape(_Alias):
    name = "RESHAPE"


@register
class Squeeze(_Alias):
    name = "SQUEEZE"


@register
class ExpandDims(_Alias):
    name = "EXPAND_DIMS"
