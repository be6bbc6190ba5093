"""Ops that rearrange int8 bytes: CONCATENATION, PAD, PADV2, STRIDED_SLICE, TRANSPOSE.

None of them does arithmetic: TFLite Micro copies the int8 values as they are.
PAD, STRIDED_SLICE and TRANSPOSE do so even when the output is quantized unlike
the input, and these kernels do the same. TFLM's int8 CONCATENATION does not
requantize either: it refuses inputs whose scale or zero point differ from the
output's, and so does `check` here.

Shape parameters (paddings, begin/end/strides, perm) must be constant int32
tensors, as TFLM requires; everything is resolved in `prepare`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinygen.model.fold import slice_axis

from .base import Op, register, require, require_int8


def _const_int32(g, op, pos: int, what: str) -> np.ndarray:
    """The data of constant int32 input `pos` (TFLM reads these tensors as int32_t)."""
    require(pos < len(op.inputs) and op.inputs[pos] >= 0, op, f"missing {what} input")
    t = g.tensors[op.inputs[pos]]
    require(t.is_const, op, f"non-constant {what} tensor '{t.name}' is not supported")
    require(t.dtype == np.int32, op, f"{what} tensor '{t.name}' is {t.dtype_name}, only int32 is supported")
    return np.asarray(t.data, dtype=np.int64)


def _n_inputs(op, *allowed: int) -> None:
    n = len(op.inputs)
    require(n in allowed, op, f"has {n} inputs, expected {' or '.join(map(str, allowed))}")
    require(len(op.outputs) == 1, op, f"has {len(op.outputs)} outputs, expected 1")


def _batch(arrays) -> int:
    return max(a.shape[0] for a in arrays)


# ---------------------------------------------------------------- CONCATENATION

MAX_CONCAT_INPUTS = 10  # TFLM kMaxInputNum
MAX_CONCAT_RANK = 6  # TFLM RuntimeShape::kMaxSmallSize


@dataclass(frozen=True)
class ConcatParams:
    axis: int  # non-negative axis of the model tensors (the emulator adds 1 for its batch axis)
    sizes: tuple[int, ...]  # each input's extent along axis
    out_shape: tuple[int, ...]


@register
class Concatenation(Op):
    name = "CONCATENATION"

    def check(self, g, op):
        n = len(op.inputs)
        require(1 <= n <= MAX_CONCAT_INPUTS, op, f"{n} inputs; TFLM concatenates at most {MAX_CONCAT_INPUTS}")
        require(len(op.outputs) == 1, op, f"has {len(op.outputs)} outputs, expected 1")
        require_int8(g, op, inputs=tuple(range(n)))
        require(op.activation == "NONE", op, f"fused activation {op.activation} is not supported (TFLM accepts NONE only)")
        out = g.tensors[op.outputs[0]]
        rank = len(out.shape)
        require(1 <= rank <= MAX_CONCAT_RANK, op, f"rank {rank} tensors are not supported (1..{MAX_CONCAT_RANK})")
        axis = int(op.options.get("axis", 0))
        require(-rank <= axis < rank, op, f"axis {axis} is out of range for rank {rank}")
        axis %= rank
        total = 0
        for tid in op.inputs:
            t = g.tensors[tid]
            require(len(t.shape) == rank, op, f"input '{t.name}' has rank {len(t.shape)}, output rank {rank}")
            same = all(t.shape[d] == out.shape[d] for d in range(rank) if d != axis)
            require(same, op, f"input '{t.name}' shape {list(t.shape)} does not match output {list(out.shape)} off axis {axis}")
            total += t.shape[axis]
            # TFLM's int8 CONCATENATION copies bytes and refuses (at Prepare) inputs quantized unlike the output
            require(t.scale == out.scale and t.zero_point == out.zero_point, op,
                    f"input '{t.name}' (scale {t.scale:.9g}, zero point {t.zero_point}) is quantized unlike the output "
                    f"(scale {out.scale:.9g}, zero point {out.zero_point}); per-input requantization is not supported "
                    "(TFLM requires equal quantization)")
        require(total == out.shape[axis], op, f"inputs add up to {total} along axis {axis}, output has {out.shape[axis]}")

    def prepare(self, g, op):
        out = g.tensors[op.outputs[0]]
        axis = int(op.options.get("axis", 0)) % len(out.shape)
        return ConcatParams(axis, tuple(g.tensors[t].shape[axis] for t in op.inputs), tuple(out.shape))

    def run(self, p: ConcatParams, inputs):
        n = _batch(inputs)
        parts = [np.broadcast_to(x, (n,) + x.shape[1:]) for x in inputs]
        return [np.concatenate(parts, axis=p.axis + 1)]

    def emit_c(self, p: ConcatParams, ctx):
        """C binding: tg_concat (firmware/kernels/tg_layout.c): per outer block, each input's bytes in turn."""
        ctx.need("tg_layout.c")
        outer = int(np.prod(p.out_shape[: p.axis], dtype=np.int64))
        tail = int(np.prod(p.out_shape[p.axis + 1 :], dtype=np.int64))
        n = len(p.sizes)
        inner = ctx.const(np.array([s * tail for s in p.sizes], dtype=np.int64), "int32_t", f"op{ctx.op_index}_inner")
        ins = ", ".join(ctx.input(i) for i in range(n))
        return "\n".join(["{", f"    const int8_t *const inputs[{n}] = {{{ins}}};",
                          f"    tg_concat({n}, inputs, {inner}, {outer}, {ctx.output()});", "}"])


# ---------------------------------------------------------------- PAD / PADV2

MAX_PAD_RANK = 5  # TFLM PadKernelMaxDimensionCount()


@dataclass(frozen=True)
class PadParams:
    pads: tuple[tuple[int, int], ...]  # (before, after) per model axis
    pad_value: int | None  # constant pad value, or None: read input 2 at run time
    out_shape: tuple[int, ...]


class _PadBase(Op):
    def check(self, g, op):
        _n_inputs(op, 2, 3)
        require_int8(g, op)
        x, out = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        rank = len(x.shape)
        require(rank <= MAX_PAD_RANK, op, f"rank {rank} input is not supported (TFLM pads up to rank {MAX_PAD_RANK})")
        require(len(out.shape) == rank, op, f"output rank {len(out.shape)} differs from input rank {rank}")
        pads = _const_int32(g, op, 1, "paddings")
        require(pads.size == 2 * rank, op, f"paddings have {pads.size} values, expected {2 * rank} ([{rank}, 2])")
        pads = pads.reshape(rank, 2)
        require(bool((pads >= 0).all()), op, "negative paddings are not supported")
        expected = tuple(int(x.shape[d] + pads[d, 0] + pads[d, 1]) for d in range(rank))
        require(expected == tuple(out.shape), op, f"output shape {list(out.shape)} does not match padded shape {list(expected)}")
        if len(op.inputs) == 3 and op.inputs[2] >= 0:
            cv = g.tensors[op.inputs[2]]
            require(cv.dtype == np.int8, op, f"constant_values '{cv.name}' is {cv.dtype_name}, expected int8")
            require(cv.size == 1, op, f"constant_values '{cv.name}' has {cv.size} elements, expected 1")
            require(cv.quant is not None and not cv.quant.per_channel, op, f"constant_values '{cv.name}' needs per-tensor quantization")
            require(cv.zero_point == out.zero_point and cv.scale == out.scale, op,
                    "constant_values quantization differs from the output's (TFLM requires them equal)")

    def prepare(self, g, op):
        x, out = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        pads = _const_int32(g, op, 1, "paddings").reshape(len(x.shape), 2)
        value: int | None = out.zero_point
        if len(op.inputs) == 3 and op.inputs[2] >= 0:
            cv = g.tensors[op.inputs[2]]
            value = int(cv.data.reshape(-1)[0]) if cv.is_const else None
        return PadParams(tuple((int(a), int(b)) for a, b in pads), value, tuple(out.shape))

    def run(self, p: PadParams, inputs):
        x = inputs[0]
        n = x.shape[0]
        out = np.empty((n,) + p.out_shape, dtype=np.int8)
        if p.pad_value is None:
            out[...] = inputs[2].reshape(inputs[2].shape[0], -1)[:, 0].reshape((-1,) + (1,) * len(p.out_shape))
        else:
            out.fill(p.pad_value)
        inner = tuple(slice(a, a + d) for (a, _), d in zip(p.pads, x.shape[1:]))
        out[(slice(None),) + inner] = x
        return [out]

    def emit_c(self, p: PadParams, ctx):
        """C binding: tg_pad_s8 (firmware/kernels/tg_layout.c), shapes left-padded to rank 5."""
        from tinygen.ops.c_emit import pad_shape

        ctx.need("tg_layout.c")
        in_dims, out_dims, before = pad_runs(ctx.input_tensor(0).shape, p.out_shape, [a for a, _ in p.pads])
        fields = dict(in_dims=pad_shape(in_dims), out_dims=pad_shape(out_dims), before=pad_shape(before, fill=0))
        value = str(int(p.pad_value)) if p.pad_value is not None else f"(int32_t)*{ctx.input(2)}"
        return f"tg_pad_s8({ctx.struct('tg_pad_params_t', fields)}, {ctx.input(0)}, {ctx.output()}, {value});"


def pad_runs(in_shape, out_shape, before) -> tuple[list[int], list[int], list[int]]:
    """The PAD geometry with every unpadded trailing axis merged into the axis before it (NHWC padded in H and W
    only: each input row of W x C bytes one contiguous run of the output), so that tg_pad_s8 copies whole runs:
    (in dims, out dims, padding before). Axis k with out == in (nothing before or after it) joins axis k - 1:
    its index becomes i_(k-1) * d_k + i_k in both, the padding before it b_(k-1) * d_k."""
    ind, outd, b = [int(d) for d in in_shape], [int(d) for d in out_shape], [int(a) for a in before]
    while len(ind) > 1 and ind[-1] == outd[-1]:
        d = ind.pop()
        outd.pop()
        b.pop()
        ind[-1] *= d
        outd[-1] *= d
        b[-1] *= d
    return ind, outd, b


@register
class Pad(_PadBase):
    name = "PAD"


@register
class PadV2(_PadBase):
    name = "PADV2"


# ---------------------------------------------------------------- STRIDED_SLICE

MAX_SLICE_RANK = 4  # TFLM strided_slice kMaxDim


@dataclass(frozen=True)
class StridedSliceParams:
    starts: tuple[int, ...]  # resolved first index per model axis
    stops: tuple[int, ...]  # resolved (exclusive) stop per axis, -1 allowed for negative strides
    strides: tuple[int, ...]
    out_shape: tuple[int, ...]

    @property
    def indices(self) -> tuple[np.ndarray, ...]:
        return tuple(np.arange(a, b, s) for a, b, s in zip(self.starts, self.stops, self.strides))


_slice_axis = slice_axis  # TFLM StridedSliceStartForAxis / EndForAxis (tinygen.model.fold)


@register
class StridedSlice(Op):
    name = "STRIDED_SLICE"

    def check(self, g, op):
        _n_inputs(op, 4)
        require_int8(g, op)
        o = op.options
        require(not o.get("ellipsis_mask", 0), op, "strided slice with ellipsis_mask not supported")
        require(not o.get("new_axis_mask", 0), op, "strided slice with new_axis_mask not supported")
        require(not o.get("offset", False), op, "strided slice with offset=true not supported (TFLM ignores it)")
        x, out = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        rank = len(x.shape)
        require(1 <= rank <= MAX_SLICE_RANK, op, f"rank {rank} input is not supported (TFLM slices rank 1..{MAX_SLICE_RANK})")
        vecs = [_const_int32(g, op, i, w) for i, w in ((1, "begin"), (2, "end"), (3, "strides"))]
        for v, w in zip(vecs, ("begin", "end", "strides")):
            require(v.ndim == 1 and v.size == rank, op, f"{w} has shape {list(v.shape)}, expected [{rank}]")
        strides = vecs[2]
        require(bool((strides != 0).all()), op, "a stride of 0 is not allowed")
        shrink = int(o.get("shrink_axis_mask", 0))
        for d in range(rank):
            if shrink >> d & 1:
                require(strides[d] > 0, op, f"shrink_axis_mask on axis {d} with a negative stride is not supported (TFLM writes nothing)")
                b = int(vecs[0][d]) + (x.shape[d] if vecs[0][d] < 0 else 0)
                if o.get("begin_mask", 0) >> d & 1:
                    b = 0
                require(0 <= b < x.shape[d], op, f"shrink_axis_mask on axis {d}: begin {int(vecs[0][d])} is out of range")
        p = self.prepare(g, op)
        require(p.out_shape == tuple(out.shape), op, f"output shape {list(out.shape)} does not match the slice {list(p.out_shape)}")

    def prepare(self, g, op):
        x = g.tensors[op.inputs[0]]
        begin, end, strides = (_const_int32(g, op, i, w) for i, w in ((1, "begin"), (2, "end"), (3, "strides")))
        o = op.options
        bm, em, sm = int(o.get("begin_mask", 0)), int(o.get("end_mask", 0)), int(o.get("shrink_axis_mask", 0))
        starts, stops, out_shape = [], [], []
        for d, size in enumerate(x.shape):
            a, b = _slice_axis(int(begin[d]), int(end[d]), int(strides[d]), size, bool(bm >> d & 1), bool(em >> d & 1), bool(sm >> d & 1))
            starts.append(a)
            stops.append(b)
            if not sm >> d & 1:
                out_shape.append(len(range(a, b, int(strides[d]))))
        return StridedSliceParams(tuple(starts), tuple(stops), tuple(int(s) for s in strides), tuple(out_shape))

    def run(self, p: StridedSliceParams, inputs):
        x = inputs[0]
        y = x[(slice(None),) + np.ix_(*p.indices)]
        return [np.ascontiguousarray(y.reshape((x.shape[0],) + p.out_shape))]

    def emit_c(self, p: StridedSliceParams, ctx):
        """C binding: tg_gather_s8 (firmware/kernels/tg_layout.c) over the input's axes, shrunk axes counted once."""
        ctx.need("tg_layout.c")
        shape = [int(d) for d in ctx.input_tensor(0).shape]
        st = [int(np.prod(shape[d + 1 :], dtype=np.int64)) for d in range(len(shape))]
        dims = [len(range(a, b, s)) for a, b, s in zip(p.starts, p.stops, p.strides)]
        offset = sum(p.starts[d] * st[d] for d in range(len(shape))) if all(dims) else 0
        k = 5 - len(shape)
        fields = dict(dims=[1] * k + dims, strides=[0] * k + [st[d] * p.strides[d] for d in range(len(shape))], offset=offset)
        return f"tg_gather_s8({ctx.struct('tg_gather_params_t', fields)}, {ctx.input(0)}, {ctx.output()});"


# ---------------------------------------------------------------- TRANSPOSE

MAX_TRANSPOSE_RANK = 5  # TFLM TransposePrepare


@register
class Transpose(Op):
    name = "TRANSPOSE"

    def check(self, g, op):
        _n_inputs(op, 2)
        require_int8(g, op)
        x, out = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        rank = len(x.shape)
        require(1 <= rank <= MAX_TRANSPOSE_RANK, op, f"rank {rank} input is not supported (TFLM transposes rank 1..{MAX_TRANSPOSE_RANK})")
        perm = _const_int32(g, op, 1, "perm")
        require(perm.ndim == 1 and perm.size == rank, op, f"perm has shape {list(perm.shape)}, expected [{rank}]")
        require(sorted(perm.tolist()) == list(range(rank)), op, f"perm {perm.tolist()} is not a permutation of 0..{rank - 1}")
        expected = tuple(x.shape[i] for i in perm)
        require(expected == tuple(out.shape), op, f"output shape {list(out.shape)} does not match the permuted input {list(expected)}")

    def prepare(self, g, op):
        return tuple(int(i) for i in _const_int32(g, op, 1, "perm"))

    def run(self, perm, inputs):
        return [np.ascontiguousarray(np.transpose(inputs[0], (0,) + tuple(i + 1 for i in perm)))]

    def emit_c(self, perm, ctx):
        """C binding: tg_gather_s8 (firmware/kernels/tg_layout.c) with permuted input strides."""
        ctx.need("tg_layout.c")
        shape = [int(d) for d in ctx.input_tensor(0).shape]
        st = [int(np.prod(shape[d + 1 :], dtype=np.int64)) for d in range(len(shape))]
        k = 5 - len(shape)
        fields = dict(dims=[1] * k + [shape[i] for i in perm], strides=[0] * k + [st[i] for i in perm], offset=0)
        return f"tg_gather_s8({ctx.struct('tg_gather_params_t', fields)}, {ctx.input(0)}, {ctx.output()});"


__all__ = ["Concatenation", "Pad", "PadV2", "StridedSlice", "Transpose", "ConcatParams", "PadParams", "StridedSliceParams"]
