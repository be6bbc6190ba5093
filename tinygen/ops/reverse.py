"""REVERSE_V2 (int8, int16, int32): TFLM's reference reverse copies the values (no requantization) with the
given axes reversed. An index map of the input like the other data-movement ops (tinygen/ops/movement.py):
a strided map with negative strides on the reversed axes, so the C kernel is tg_gather_s8 / tg_gather_n
and no table goes to flash. TFLM takes one run of adjacent axes (in any order), not repeated."""
from __future__ import annotations

from .base import register, require
from .movement import _Move, _const_ints, _strides, strided_map

MAX_REVERSE_RANK = 5


@register
class ReverseV2(_Move):
    name = "REVERSE_V2"

    def _axes(self, g, op) -> list[int]:
        rank = len(g.tensors[op.inputs[0]].shape)
        out: list[int] = []
        for a in _const_ints(g, op, 1, "axis").reshape(-1):
            require(-rank <= int(a) < rank, op, f"axis {int(a)} is out of range for rank {rank}")
            a = int(a) % rank
            require(a not in out, op, f"axis {a} is given twice")
            out.append(a)
        return out

    def _check(self, g, op):
        require(len(op.inputs) == 2 and len(op.outputs) == 1, op, "expects 2 inputs (input, axis) and 1 output")
        rank = len(g.tensors[op.inputs[0]].shape)
        require(1 <= rank <= MAX_REVERSE_RANK, op, f"rank {rank} input is not supported (1..{MAX_REVERSE_RANK})")
        axes = sorted(self._axes(g, op))
        require(axes == list(range(axes[0], axes[0] + len(axes))) if axes else True, op,
                f"axes {axes} are not contiguous (TFLM reverses one run of adjacent axes)")

    def maps(self, g, op):
        x = g.tensors[op.inputs[0]]
        axes = self._axes(g, op)
        st = _strides(x.shape)
        strides = [-s if d in axes else s for d, s in enumerate(st)]
        offset = sum((x.shape[d] - 1) * st[d] for d in axes)
        return [strided_map(list(x.shape), strides, offset)]
