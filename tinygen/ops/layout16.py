"""int16 variants of the byte-moving layout ops (TRANSPOSE, STRIDED_SLICE, CONCATENATION, PAD, PADV2):
the same index maps as the int8 ops in layout.py, over 2-byte values (register_variant by input type).

TFLM copies int16 values as they are, like int8 ones; PAD fills with the output zero point (or the
constant_values tensor). The C code reuses the element-size generic kernels of movement.py
(tg_gather_n, tg_take_n) and tg_concat.
"""
from __future__ import annotations

import numpy as np

from .base import Op, register_variant, require
from .layout import Concatenation, Pad, PadV2, StridedSlice, Transpose  # noqa: F401
from .movement import MoveParams, _Move, _strides, strided_map, table_map


class _Int16Layout(_Move):
    dtypes = ("int16",)

    def _int16_io(self, g, op):
        """Input and output of the variant's type (int16 here; the int32 variants set dtypes = ("int32",))."""
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        dt = self.dtypes[0]
        require(x.dtype == np.dtype(dt) and y.dtype == np.dtype(dt), op, f"{x.dtype_name} -> {y.dtype_name}: the {dt} {self.name} needs {dt} both")


@register_variant("TRANSPOSE", "int16")
class TransposeInt16(_Int16Layout):
    name = "TRANSPOSE"

    def check(self, g, op):
        self._int16_io(g, op)
        perm = [int(v) for v in g.tensors[op.inputs[1]].data.reshape(-1)] if op.inputs[1] >= 0 and g.tensors[op.inputs[1]].is_const else None
        require(perm is not None, op, "non-constant perm is not supported")
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        require(sorted(perm) == list(range(len(x.shape))) and len(x.shape) <= 5, op, f"perm {perm} is not a permutation of rank {len(x.shape)} (<= 5)")
        require(tuple(y.shape) == tuple(x.shape[i] for i in perm), op, f"output shape {list(y.shape)} does not match the permuted input")

    def maps(self, g, op):
        x = g.tensors[op.inputs[0]]
        perm = [int(v) for v in g.tensors[op.inputs[1]].data.reshape(-1)]
        st = _strides(x.shape)
        return [strided_map([x.shape[i] for i in perm], [st[i] for i in perm], 0)]


@register_variant("STRIDED_SLICE", "int16")
class StridedSliceInt16(_Int16Layout):
    name = "STRIDED_SLICE"

    def check(self, g, op):
        self._int16_io(g, op)
        # the int8 op's checks on a view of the model with int8 types would duplicate them; run its option checks directly
        o = op.options
        require(not o.get("ellipsis_mask", 0) and not o.get("new_axis_mask", 0) and not o.get("offset", False), op,
                "ellipsis_mask, new_axis_mask and offset are not supported")
        require(1 <= len(g.tensors[op.inputs[0]].shape) <= 4, op, "rank 1..4 inputs only (as TFLM)")
        p = StridedSlice.prepare(StridedSlice, g, op)
        require(all(s != 0 for s in p.strides), op, "a stride of 0 is not allowed")
        require(p.out_shape == tuple(g.tensors[op.outputs[0]].shape), op, "output shape does not match the slice")

    def maps(self, g, op):
        x = g.tensors[op.inputs[0]]
        p = StridedSlice.prepare(StridedSlice, g, op)
        st = _strides(x.shape)
        dims = [len(range(a, b, s)) for a, b, s in zip(p.starts, p.stops, p.strides)]
        off = sum(a * st[d] for d, a in enumerate(p.starts)) if all(dims) else 0
        m = strided_map(dims, [st[d] * p.strides[d] for d in range(len(dims))], off)
        m.shape = p.out_shape
        return [m]


@register_variant("CONCATENATION", "int16")
class ConcatenationInt16(Op):
    name = "CONCATENATION"
    dtypes = ("int16",)
    max_rank = None  # the int32 variant limits the rank to 1..6
    same_quant = True  # TFLM requires inputs quantized like the output (not for int32: no quantization)

    def check(self, g, op):
        n = len(op.inputs)
        y = g.tensors[op.outputs[0]] if op.outputs else None
        dt = self.dtypes[0]
        require(1 <= n <= 10 and len(op.outputs) == 1, op, f"{n} inputs; TFLM concatenates at most 10")
        require(op.activation == "NONE", op, "fused activation not supported")
        rank = len(y.shape)
        if self.max_rank is not None:
            require(1 <= rank <= self.max_rank, op, f"rank {rank} tensors are not supported (1..{self.max_rank})")
        axis = int(op.options.get("axis", 0))
        require(-rank <= axis < rank, op, f"axis {axis} out of range")
        axis %= rank
        total = 0
        for tid in op.inputs:
            t = g.tensors[tid]
            require(t.dtype == np.dtype(dt) and y.dtype == np.dtype(dt), op, f"'{t.name}' is {t.dtype_name}: the {dt} CONCATENATION needs {dt} throughout")
            require(len(t.shape) == rank and all(t.shape[d] == y.shape[d] for d in range(rank) if d != axis), op,
                    f"input '{t.name}' shape {list(t.shape)} does not match the output off axis {axis}")
            if self.same_quant:
                require(t.scale == y.scale and t.zero_point == y.zero_point, op, f"input '{t.name}' is quantized unlike the output (TFLM requires equal)")
            total += t.shape[axis]
        require(total == y.shape[axis], op, f"inputs add up to {total} along axis {axis}, output has {y.shape[axis]}")

    def prepare(self, g, op):
        return Concatenation.prepare(Concatenation, g, op)

    def run(self, p, inputs):
        return Concatenation.run(Concatenation, p, inputs)

    def emit_c(self, p, ctx):
        """C binding: tg_concat over bytes (2 per int16 value, 4 per int32)."""
        ctx.need("tg_layout.c")
        size = np.dtype(self.dtypes[0]).itemsize
        outer = int(np.prod(p.out_shape[: p.axis], dtype=np.int64))
        tail = int(np.prod(p.out_shape[p.axis + 1:], dtype=np.int64))
        n = len(p.sizes)
        inner = ctx.const(np.array([size * s * tail for s in p.sizes], dtype=np.int64), "int32_t", f"op{ctx.op_index}_inner")
        ins = ", ".join(f"(const int8_t *){ctx.input(i)}" for i in range(n))
        return "\n".join(["{", f"    const int8_t *const inputs[{n}] = {{{ins}}};",
                          f"    tg_concat({n}, inputs, {inner}, {outer}, (int8_t *){ctx.output()});", "}"])


class _PadInt16(_Int16Layout):
    def check(self, g, op):
        self._int16_io(g, op)
        require(len(op.inputs) in (2, 3), op, "expects 2 or 3 inputs")
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        require(len(x.shape) <= 5, op, "rank > 5 not supported")
        pads = np.asarray(g.tensors[op.inputs[1]].data, np.int64) if g.tensors[op.inputs[1]].is_const else None
        require(pads is not None and pads.size == 2 * len(x.shape) and (pads >= 0).all(), op, "paddings must be constant, non-negative [rank, 2]")
        pads = pads.reshape(-1, 2)
        require(tuple(y.shape) == tuple(int(x.shape[d] + pads[d].sum()) for d in range(len(x.shape))), op, "output shape does not match the padding")
        if len(op.inputs) == 3 and op.inputs[2] >= 0:
            cv = g.tensors[op.inputs[2]]
            dt = self.dtypes[0]
            require(cv.is_const and cv.dtype == np.dtype(dt) and cv.size == 1, op, f"constant_values must be a constant {dt} scalar")

    def maps(self, g, op):
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        pads = np.asarray(g.tensors[op.inputs[1]].data, np.int64).reshape(-1, 2)
        value = y.zero_point
        if len(op.inputs) == 3 and op.inputs[2] >= 0:
            value = int(g.tensors[op.inputs[2]].data.reshape(-1)[0])
        st = _strides(x.shape)
        idx = np.zeros(tuple(y.shape) if y.shape else (1,), dtype=np.int64)
        inside = np.ones_like(idx, dtype=bool)
        for d, n in enumerate(y.shape):
            src = np.arange(n) - int(pads[d, 0])
            ok = (src >= 0) & (src < x.shape[d])
            shape = [1] * len(y.shape)
            shape[d] = n
            idx = idx + (np.where(ok, src, 0) * st[d]).reshape(shape)
            inside = inside & ok.reshape(shape)
        return [table_map(y.shape, np.where(inside, idx, -1), pad=value)]


@register_variant("PAD", "int16")
class PadInt16(_PadInt16):
    name = "PAD"


@register_variant("PADV2", "int16")
class PadV2Int16(_PadInt16):
    name = "PADV2"


__all__ = ["TransposeInt16", "StridedSliceInt16", "ConcatenationInt16", "PadInt16", "PadV2Int16", "MoveParams", "Pad", "PadV2"]
