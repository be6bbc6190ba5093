"""Data-movement ops: SLICE, SPLIT, SPLIT_V, UNPACK, PACK, BROADCAST_TO (int8, int16, int32), DEPTH_TO_SPACE,
SPACE_TO_DEPTH, MIRROR_PAD, SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND (int8: TFLM has no int16 kernel for
them), GATHER, EMBEDDING_LOOKUP (int8).

TFLite Micro copies the values of these ops as they are (no requantization). Every output is an
index map of input 0 resolved in `prepare` from the static shapes and the constant parameter
tensors (TFLM Micro has no dynamic shapes):
- a *strided* map (output element (i0..i4) = input[offset + sum i_d * stride_d], up to 5 axes after
  merging): C kernel tg_gather_s8 (int8) or tg_gather_n (any element size), no table in flash;
- otherwise (MIRROR_PAD, SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND) a table of input indices, -1 for a
  padded element that takes the pad value: C kernel tg_take_n.
PACK is a concatenation of its inputs along a new axis (tg_concat).
The numpy kernels use the same flat index arrays, so both agree by construction; the property
tests compare them with tflite_micro.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import Op, register, require

_TYPES = (np.int8, np.int16, np.int32)  # int32: TFLM copies int32 values the same way (checked with tflite_micro)
MAX_DIMS = 5


@dataclass
class OutMap:
    shape: tuple[int, ...]
    idx: np.ndarray  # flat int64 input index per output element, -1: pad value
    strided: tuple | None  # (dims[5], strides[5], offset) when the map is strided
    pad: int = 0


@dataclass
class MoveParams:
    outs: list[OutMap]
    itemsize: int
    pack: tuple | None = None  # PACK: (outer, inner element counts per input)


def _strides(shape) -> list[int]:
    st, acc = [0] * len(shape), 1
    for d in range(len(shape) - 1, -1, -1):
        st[d] = acc
        acc *= int(shape[d])
    return st


def strided_map(dims, strides, offset: int) -> OutMap:
    """The map output[i] = input[offset + sum i_d * strides_d] over `dims` (C order)."""
    dims = [int(d) for d in dims]
    idx = np.full(dims if dims else [1], int(offset), dtype=np.int64)
    for d, (n, s) in enumerate(zip(dims, strides)):
        shape = [1] * len(dims)
        shape[d] = n
        idx = idx + (np.arange(n, dtype=np.int64) * int(s)).reshape(shape)
    merged = _merge(dims, [int(s) for s in strides])
    spec = None
    if len(merged[0]) <= MAX_DIMS:
        k = MAX_DIMS - len(merged[0])
        spec = ([1] * k + merged[0], [0] * k + merged[1], int(offset))
    return OutMap(tuple(dims), idx.reshape(-1), spec)


def _merge(dims, strides):
    """Drop size-1 axes and merge axis pairs that are contiguous (stride_a == dim_b * stride_b)."""
    d2, s2 = [], []
    for n, s in zip(dims, strides):
        if n == 1:
            continue
        if d2 and s2[-1] == n * s:
            d2[-1] *= n
            s2[-1] = s
        else:
            d2.append(n)
            s2.append(s)
    return d2, s2


def table_map(shape, idx: np.ndarray, pad: int = 0) -> OutMap:
    return OutMap(tuple(int(d) for d in shape), np.asarray(idx, dtype=np.int64).reshape(-1), None, int(pad))


def _const_ints(g, op, pos: int, what: str) -> np.ndarray:
    require(pos < len(op.inputs) and op.inputs[pos] >= 0, op, f"missing {what} input")
    t = g.tensors[op.inputs[pos]]
    require(t.is_const, op, f"non-constant {what} tensor '{t.name}' is not supported (TFLM Micro has no dynamic shapes)")
    require(t.dtype in (np.int32, np.int64), op, f"{what} tensor '{t.name}' is {t.dtype_name}, expected int32 or int64")
    return np.asarray(t.data, dtype=np.int64)


class _Move(Op):
    data_input = 0  # which input is moved
    dtypes = ("int8", "int16", "int32")

    def maps(self, g, op) -> list[OutMap]:  # one per output
        raise NotImplementedError

    def check(self, g, op):
        require(op.inputs and op.inputs[self.data_input] >= 0, op, "missing input")
        x = g.tensors[op.inputs[self.data_input]]
        require(x.dtype in _TYPES, op, f"input '{x.name}' is {x.dtype_name}, only int8, int16 and int32 are supported")
        for tid in op.outputs:
            y = g.tensors[tid]
            require(y.dtype == x.dtype, op, f"output '{y.name}' is {y.dtype_name}, input {x.dtype_name}")
        require(len(x.shape) <= 6, op, f"rank {len(x.shape)} input is not supported")
        self._check(g, op)
        maps = self.maps(g, op)
        require(len(maps) == len(op.outputs), op, f"has {len(op.outputs)} outputs, expected {len(maps)}")
        for m, tid in zip(maps, op.outputs):
            y = g.tensors[tid]
            require(tuple(m.shape) == tuple(y.shape), op, f"output '{y.name}' has shape {list(y.shape)}, expected {list(m.shape)}")
            require(y.size > 0, op, f"output '{y.name}' is empty (shape {list(y.shape)}); TFLM cannot allocate it")

    def _check(self, g, op) -> None:
        pass

    def prepare(self, g, op):
        x = g.tensors[op.inputs[self.data_input]]
        return MoveParams(self.maps(g, op), int(np.dtype(x.dtype).itemsize))

    def run(self, p: MoveParams, inputs):
        x = inputs[self.data_input]
        flat = x.reshape(x.shape[0], -1)
        outs = []
        for m in p.outs:
            if m.strided is not None or not (m.idx < 0).any():
                y = flat[:, m.idx]
            else:
                y = np.where(m.idx >= 0, flat[:, np.maximum(m.idx, 0)], np.array(m.pad, dtype=x.dtype))
            outs.append(np.ascontiguousarray(y.reshape((x.shape[0],) + m.shape)).astype(x.dtype))
        return outs

    def emit_c(self, p: MoveParams, ctx):
        """C binding: per output, tg_gather_s8 / tg_gather_n (strided maps) or tg_take_n (index tables),
        firmware/kernels/tg_layout.c and tg_movement.c."""
        ctx.need("tg_layout.c", "tg_movement.c")
        src = f"(const int8_t *){ctx.input(self.data_input)}"
        lines = []
        for k, m in enumerate(p.outs):
            dst = f"(int8_t *){ctx.output(k)}"
            if m.strided is not None:
                dims, strides, off = m.strided
                fields = dict(dims=list(dims), strides=list(strides), offset=off)
                st = ctx.struct("tg_gather_params_t", fields)
                if p.itemsize == 1:
                    lines.append(f"tg_gather_s8({st}, {src}, {dst});")
                else:
                    lines.append(f"tg_gather_n({st}, {src}, {dst}, {p.itemsize});")
            else:
                tab = ctx.const(m.idx.astype(np.int32), "int32_t", f"op{ctx.op_index}_idx{k}")
                lines.append(f"tg_take_n({tab}, {m.idx.size}, {src}, {dst}, {p.itemsize}, {int(m.pad)});")
        return "\n".join(lines)


# ---------------------------------------------------------------- SLICE


@register
class Slice(_Move):
    name = "SLICE"

    def _check(self, g, op):
        require(len(op.inputs) == 3 and len(op.outputs) == 1, op, "expects 3 inputs (input, begin, size) and 1 output")
        x = g.tensors[op.inputs[0]]
        rank = len(x.shape)
        require(rank <= MAX_DIMS, op, f"rank {rank} input is not supported (TFLM slices up to rank 5)")
        begin, size = _const_ints(g, op, 1, "begin"), _const_ints(g, op, 2, "size")
        require(begin.size == rank and size.size == rank, op, f"begin/size have {begin.size}/{size.size} values, expected {rank}")
        for d in range(rank):
            b, s = int(begin[d]), int(size[d])
            s = x.shape[d] - b if s == -1 else s
            require(0 <= b and s >= 0 and b + s <= x.shape[d], op, f"slice [{b}, +{int(size[d])}) is out of range on axis {d} (size {x.shape[d]})")

    def maps(self, g, op):
        x = g.tensors[op.inputs[0]]
        begin, size = _const_ints(g, op, 1, "begin"), _const_ints(g, op, 2, "size")
        dims = [x.shape[d] - int(begin[d]) if int(size[d]) == -1 else int(size[d]) for d in range(len(x.shape))]
        st = _strides(x.shape)
        return [strided_map(dims, st, sum(int(begin[d]) * st[d] for d in range(len(dims))))]


# ---------------------------------------------------------------- SPLIT, SPLIT_V, UNPACK


def _axis(op, axis: int, rank: int) -> int:
    require(-rank <= axis < rank, op, f"axis {axis} is out of range for rank {rank}")
    return axis % rank


def _split_maps(shape, axis: int, sizes) -> list[OutMap]:
    st = _strides(shape)
    out, start = [], 0
    for s in sizes:
        dims = list(shape)
        dims[axis] = s
        out.append(strided_map(dims, st, start * st[axis]))
        start += s
    return out


@register
class Split(_Move):
    name = "SPLIT"
    data_input = 1

    def _sizes(self, g, op):
        x = g.tensors[op.inputs[1]]
        axis = _axis(op, int(_const_ints(g, op, 0, "axis").reshape(-1)[0]), len(x.shape))
        n = int(op.options.get("num_splits", len(op.outputs)))
        require(n >= 1 and x.shape[axis] % n == 0, op, f"axis {axis} of size {x.shape[axis]} cannot be split into {n}")
        return axis, [x.shape[axis] // n] * n

    def _check(self, g, op):
        require(len(op.inputs) == 2, op, "expects 2 inputs (axis, input)")
        self._sizes(g, op)

    def maps(self, g, op):
        axis, sizes = self._sizes(g, op)
        return _split_maps(g.tensors[op.inputs[1]].shape, axis, sizes)


@register
class SplitV(_Move):
    name = "SPLIT_V"

    def _sizes(self, g, op):
        x = g.tensors[op.inputs[0]]
        axis = _axis(op, int(_const_ints(g, op, 2, "axis").reshape(-1)[0]), len(x.shape))
        sizes = [int(v) for v in _const_ints(g, op, 1, "size_splits").reshape(-1)]
        if sizes.count(-1) == 1:
            sizes[sizes.index(-1)] = x.shape[axis] - (sum(sizes) + 1)
        require(all(s >= 0 for s in sizes) and sum(sizes) == x.shape[axis], op,
                f"size_splits {sizes} do not add up to axis {axis} of size {x.shape[axis]}")
        return axis, sizes

    def _check(self, g, op):
        require(len(op.inputs) == 3, op, "expects 3 inputs (input, size_splits, axis)")
        self._sizes(g, op)

    def maps(self, g, op):
        axis, sizes = self._sizes(g, op)
        return _split_maps(g.tensors[op.inputs[0]].shape, axis, sizes)


@register
class Unpack(_Move):
    name = "UNPACK"

    def _check(self, g, op):
        x = g.tensors[op.inputs[0]]
        axis = _axis(op, int(op.options.get("axis", 0)), len(x.shape))
        require(int(op.options.get("num", x.shape[axis])) == x.shape[axis], op, f"num {op.options.get('num')} differs from axis size {x.shape[axis]}")

    def maps(self, g, op):
        x = g.tensors[op.inputs[0]]
        axis = _axis(op, int(op.options.get("axis", 0)), len(x.shape))
        st = _strides(x.shape)
        dims = [d for i, d in enumerate(x.shape) if i != axis]
        sts = [s for i, s in enumerate(st) if i != axis]
        return [strided_map(dims, sts, k * st[axis]) for k in range(x.shape[axis])]


# ---------------------------------------------------------------- PACK


@register
class Pack(Op):
    name = "PACK"
    dtypes = ("int8", "int16", "int32")

    def check(self, g, op):
        n = len(op.inputs)
        require(n >= 1 and len(op.outputs) == 1, op, f"has {n} inputs and {len(op.outputs)} outputs")
        require(int(op.options.get("values_count", n)) == n, op, f"values_count {op.options.get('values_count')} != {n} inputs")
        x0, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        require(x0.dtype in _TYPES, op, f"input '{x0.name}' is {x0.dtype_name}, only int8, int16 and int32 are supported")
        for tid in op.inputs:
            t = g.tensors[tid]
            require(t.dtype == x0.dtype and tuple(t.shape) == tuple(x0.shape), op, f"input '{t.name}' differs from input 0 in type or shape")
        require(y.dtype == x0.dtype, op, f"output is {y.dtype_name}, inputs {x0.dtype_name}")
        axis = _axis(op, int(op.options.get("axis", 0)), len(x0.shape) + 1)
        expected = list(x0.shape[:axis]) + [n] + list(x0.shape[axis:])
        require(list(y.shape) == expected, op, f"output shape {list(y.shape)} is not the packed shape {expected}")

    def prepare(self, g, op):
        x0 = g.tensors[op.inputs[0]]
        axis = int(op.options.get("axis", 0)) % (len(x0.shape) + 1)
        outer = int(np.prod(x0.shape[:axis], dtype=np.int64))
        inner = int(np.prod(x0.shape[axis:], dtype=np.int64))
        return MoveParams([], int(np.dtype(x0.dtype).itemsize), pack=(axis, outer, inner, len(op.inputs), tuple(g.tensors[op.outputs[0]].shape)))

    def run(self, p: MoveParams, inputs):
        axis = p.pack[0]
        n = max(a.shape[0] for a in inputs)
        parts = [np.broadcast_to(a, (n,) + a.shape[1:]) for a in inputs]
        return [np.ascontiguousarray(np.stack(parts, axis=axis + 1))]

    def emit_c(self, p: MoveParams, ctx):
        """C binding: tg_concat (firmware/kernels/tg_layout.c) of the inputs' bytes, `outer` blocks."""
        ctx.need("tg_layout.c")
        _, outer, inner, n, _ = p.pack
        tab = ctx.const(np.full(n, inner * p.itemsize, dtype=np.int64), "int32_t", f"op{ctx.op_index}_inner")
        ins = ", ".join(f"(const int8_t *){ctx.input(i)}" for i in range(n))
        return "\n".join(["{", f"    const int8_t *const inputs[{n}] = {{{ins}}};",
                          f"    tg_concat({n}, inputs, {tab}, {outer}, (int8_t *){ctx.output()});", "}"])


# ---------------------------------------------------------------- DEPTH_TO_SPACE, SPACE_TO_DEPTH


@register
class DepthToSpace(_Move):
    name = "DEPTH_TO_SPACE"

    dtypes = ("int8",)

    def _check(self, g, op):
        x = g.tensors[op.inputs[0]]
        require(x.dtype == np.int8, op, f"input is {x.dtype_name}; TFLM's {self.name} has an int8 kernel only")
        bs = int(op.options.get("block_size", 0))
        require(len(x.shape) == 4, op, "input must be 4-D (NHWC)")
        require(bs >= 1 and x.shape[3] % (bs * bs) == 0, op, f"block_size {bs}: {x.shape[3]} channels are not a multiple of {bs * bs}")

    def maps(self, g, op):
        b, h, w, c = g.tensors[op.inputs[0]].shape
        bs = int(op.options["block_size"])
        co = c // (bs * bs)
        # output (b, h, i, w, j, c') = input (b, h, w, (i * bs + j) * c' + c')
        dims = [b, h, bs, w, bs, co]
        strides = [h * w * c, w * c, bs * co, c, co, 1]
        m = strided_map(dims, strides, 0)
        m.shape = (b, h * bs, w * bs, co)
        return [m]


@register
class SpaceToDepth(_Move):
    name = "SPACE_TO_DEPTH"

    dtypes = ("int8",)

    def _check(self, g, op):
        x = g.tensors[op.inputs[0]]
        require(x.dtype == np.int8, op, f"input is {x.dtype_name}; TFLM's {self.name} has an int8 kernel only")
        bs = int(op.options.get("block_size", 0))
        require(len(x.shape) == 4, op, "input must be 4-D (NHWC)")
        require(bs >= 1 and x.shape[1] % bs == 0 and x.shape[2] % bs == 0, op, f"block_size {bs} does not divide {list(x.shape[1:3])}")

    def maps(self, g, op):
        b, h, w, c = g.tensors[op.inputs[0]].shape
        bs = int(op.options["block_size"])
        # output (b, h', w', i, j, c) = input (b, h' * bs + i, w' * bs + j, c)
        dims = [b, h // bs, w // bs, bs, bs, c]
        strides = [h * w * c, bs * w * c, bs * c, w * c, c, 1]
        m = strided_map(dims, strides, 0)
        m.shape = (b, h // bs, w // bs, bs * bs * c)
        return [m]


# ---------------------------------------------------------------- BROADCAST_TO


@register
class BroadcastTo(_Move):
    name = "BROADCAST_TO"

    def _check(self, g, op):
        require(len(op.inputs) == 2, op, "expects 2 inputs (input, shape)")
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        shape = [int(v) for v in _const_ints(g, op, 1, "shape").reshape(-1)]
        require(len(shape) <= MAX_DIMS, op, f"rank {len(shape)} output is not supported (TFLM broadcasts up to rank 5)")
        require(len(x.shape) <= len(shape), op, f"input rank {len(x.shape)} > output rank {len(shape)}")
        padded = [1] * (len(shape) - len(x.shape)) + list(x.shape)
        require(all(a in (1, b) for a, b in zip(padded, shape)), op, f"input shape {list(x.shape)} does not broadcast to {shape}")

    def maps(self, g, op):
        x = g.tensors[op.inputs[0]]
        shape = [int(v) for v in _const_ints(g, op, 1, "shape").reshape(-1)]
        padded = [1] * (len(shape) - len(x.shape)) + list(x.shape)
        st = _strides(padded)
        return [strided_map(shape, [0 if a == 1 and b != 1 else s for a, b, s in zip(padded, shape, st)], 0)]


# ---------------------------------------------------------------- MIRROR_PAD


def mirror_index(p: int, before: int, size: int, symmetric: bool) -> int:
    """TFLM mirror_pad's GetInputDimension: the input index of padded position p."""
    offset = 0 if symmetric else 1
    if p < before:
        orig = before + offset - 1
        return orig - min(p, orig - offset)
    p -= before
    if p >= size:
        p -= size
        orig = size - (1 + offset)
        return orig - min(p, orig)
    return p


@register
class MirrorPad(_Move):
    name = "MIRROR_PAD"
    dtypes = ("int8",)

    def _pads(self, g, op):
        x = g.tensors[op.inputs[0]]
        pads = _const_ints(g, op, 1, "paddings")
        require(pads.size == 2 * len(x.shape), op, f"paddings have {pads.size} values, expected {2 * len(x.shape)}")
        return pads.reshape(len(x.shape), 2)

    def _check(self, g, op):
        x = g.tensors[op.inputs[0]]
        require(x.dtype == np.int8, op, f"input is {x.dtype_name}; TFLM's MIRROR_PAD has an int8 kernel only")
        pads = self._pads(g, op)
        sym = int(op.options.get("mode", 0)) == 1
        for d, (a, b) in enumerate(pads):
            lim = x.shape[d] if sym else x.shape[d] - 1
            require(0 <= a <= lim and 0 <= b <= lim, op, f"paddings {[int(a), int(b)]} on axis {d} exceed {lim} (size {x.shape[d]})")

    def maps(self, g, op):
        x = g.tensors[op.inputs[0]]
        pads = self._pads(g, op)
        sym = int(op.options.get("mode", 0)) == 1
        st = _strides(x.shape)
        out_shape = [int(x.shape[d] + pads[d, 0] + pads[d, 1]) for d in range(len(x.shape))]
        idx = np.zeros(out_shape if out_shape else [1], dtype=np.int64)
        for d, n in enumerate(out_shape):
            src = np.array([mirror_index(p, int(pads[d, 0]), x.shape[d], sym) for p in range(n)], dtype=np.int64) * st[d]
            shape = [1] * len(out_shape)
            shape[d] = n
            idx = idx + src.reshape(shape)
        return [table_map(out_shape, idx)]


# ---------------------------------------------------------------- SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND


class _BatchSpace(_Move):
    dtypes = ("int8",)

    def _params(self, g, op, what: str):
        x = g.tensors[op.inputs[0]]
        require(x.dtype == np.int8, op, f"input is {x.dtype_name}; TFLM's {self.name} has an int8 kernel only")
        require(len(x.shape) == 4, op, f"rank {len(x.shape)} input is not supported (4-D NHWC only)")
        require(len(op.inputs) == 3, op, f"expects 3 inputs (input, block_shape, {what})")
        block = [int(v) for v in _const_ints(g, op, 1, "block_shape").reshape(-1)]
        require(len(block) == 2 and min(block) >= 1, op, f"block_shape {block} must be 2 positive values")
        pc = _const_ints(g, op, 2, what)
        require(pc.size == 4 and bool((pc >= 0).all()), op, f"{what} must be 2x2 non-negative values")
        return x, block, pc.reshape(2, 2)


@register
class SpaceToBatchND(_BatchSpace):
    name = "SPACE_TO_BATCH_ND"

    def _check(self, g, op):
        x, (bh, bw), pads = self._params(g, op, "paddings")
        # TFLM Micro never sets the pad value (SpaceToBatchParams::output_offset): padded elements hold
        # whatever its arena held, so only unpadded SPACE_TO_BATCH_ND is reproducible
        require(not pads.any(), op, f"paddings {pads.tolist()} are not supported: TFLM fills them with an uninitialised value")
        ph, pw = x.shape[1] + pads[0].sum(), x.shape[2] + pads[1].sum()
        require(ph % bh == 0 and pw % bw == 0, op, f"padded size {[int(ph), int(pw)]} is not a multiple of the block {[bh, bw]}")

    def maps(self, g, op):
        x, (bh, bw), pads = self._params(g, op, "paddings")
        b, h, w, c = x.shape
        oh, ow = (h + int(pads[0].sum())) // bh, (w + int(pads[1].sum())) // bw
        ob = b * bh * bw
        st = _strides(x.shape)
        ob_i, oy, ox, oc = np.meshgrid(np.arange(ob), np.arange(oh), np.arange(ow), np.arange(c), indexing="ij")
        bi = ob_i % b
        blk = ob_i // b
        iy = oy * bh + blk // bw - int(pads[0, 0])
        ix = ox * bw + blk % bw - int(pads[1, 0])
        inside = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)
        idx = np.where(inside, bi * st[0] + iy * st[1] + ix * st[2] + oc, -1)
        y = g.tensors[op.outputs[0]]
        return [table_map((ob, oh, ow, c), idx, pad=y.zero_point)]


@register
class BatchToSpaceND(_BatchSpace):
    name = "BATCH_TO_SPACE_ND"

    def _check(self, g, op):
        x, (bh, bw), crops = self._params(g, op, "crops")
        require(x.shape[0] % (bh * bw) == 0, op, f"batch {x.shape[0]} is not a multiple of the block {[bh, bw]}")
        require(crops[0].sum() <= x.shape[1] * bh and crops[1].sum() <= x.shape[2] * bw, op, "crops larger than the output")

    def maps(self, g, op):
        x, (bh, bw), crops = self._params(g, op, "crops")
        ib, h, w, c = x.shape
        b = ib // (bh * bw)
        oh, ow = h * bh - int(crops[0].sum()), w * bw - int(crops[1].sum())
        st = _strides(x.shape)
        bi, oy, ox, oc = np.meshgrid(np.arange(b), np.arange(oh), np.arange(ow), np.arange(c), indexing="ij")
        y_full, x_full = oy + int(crops[0, 0]), ox + int(crops[1, 0])
        src_b = ((y_full % bh) * bw + x_full % bw) * b + bi
        idx = src_b * st[0] + (y_full // bh) * st[1] + (x_full // bw) * st[2] + oc
        return [table_map((b, oh, ow, c), idx)]


# ---------------------------------------------------------------- GATHER, EMBEDDING_LOOKUP (run-time indices)


@dataclass(frozen=True)
class GatherParams:
    batch: int  # prod(params.shape[:batch_dims])
    outer: int  # prod(params.shape[batch_dims:axis])
    axis_size: int
    inner: int  # prod(params.shape[axis + 1:])
    coords: int  # prod(indices.shape[batch_dims:])
    out_shape: tuple
    itemsize: int
    data_pos: int  # GATHER: params at 0, indices at 1; EMBEDDING_LOOKUP: ids at 0, values at 1


class _GatherBase(Op):
    dtypes = ("int8", "int16")

    def _run_gather(self, p: GatherParams, data: np.ndarray, idx: np.ndarray):
        n = max(data.shape[0], idx.shape[0])
        x = np.broadcast_to(data, (n,) + data.shape[1:]).reshape(n, p.batch, p.outer, p.axis_size, p.inner)
        ii = np.broadcast_to(idx, (n,) + idx.shape[1:]).reshape(n, p.batch, p.coords).astype(np.int64)
        if ii.size and (ii.min() < 0 or ii.max() >= p.axis_size):
            from tinygen.errors import TinygenError

            bad = int(ii[(ii < 0) | (ii >= p.axis_size)][0])
            raise TinygenError(f"{self.name}: index {bad} is out of range [0, {p.axis_size}) (TFLM fails the invoke too)")
        y = np.empty((n, p.batch, p.outer, p.coords, p.inner), dtype=data.dtype)
        for s in range(n):
            for b in range(p.batch):
                y[s, b] = x[s, b][:, ii[s, b], :]
        return [y.reshape((n,) + p.out_shape)]

    def emit_c(self, p: GatherParams, ctx):
        """C binding: tg_gather_rows (firmware/kernels/tg_movement.c): one memcpy of `inner` values per index;
        an index out of range gives zeros (TFLM fails the invoke)."""
        ctx.need("tg_movement.c")
        idx_t = ctx.input_tensor(1 - p.data_pos)
        return (f"tg_gather_rows((const int8_t *){ctx.input(p.data_pos)}, (const void *){ctx.input(1 - p.data_pos)}, "
                f"{np.dtype(idx_t.dtype).itemsize}, (int8_t *){ctx.output()}, {p.batch}, {p.outer}, {p.axis_size}, "
                f"{p.inner}, {p.coords}, {p.itemsize});")


@register
class Gather(_GatherBase):
    name = "GATHER"
    dtypes = ("int8",)

    def check(self, g, op):
        require(len(op.inputs) == 2 and len(op.outputs) == 1, op, "expects 2 inputs (params, indices) and 1 output")
        x, ind, y = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]], g.tensors[op.outputs[0]]
        require(x.dtype == np.int8, op, f"params are {x.dtype_name}; TFLM's GATHER has an int8 kernel (and float, int32)")
        require(y.dtype == x.dtype, op, f"output is {y.dtype_name}, params {x.dtype_name}")
        require(ind.dtype == np.int32, op, f"indices are {ind.dtype_name}; TFLM's GATHER takes int32 positions only")
        p = self.prepare(g, op)
        require(tuple(y.shape) == p.out_shape, op, f"output shape {list(y.shape)} is not the gathered shape {list(p.out_shape)}")

    def prepare(self, g, op):
        x, ind = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]]
        rank = len(x.shape)
        bd = int(op.options.get("batch_dims", 0))
        bd = bd + len(ind.shape) if bd < 0 else bd
        axis = int(op.options.get("axis", 0))
        axis = axis + rank if axis < 0 else axis
        require(0 <= bd <= axis < rank and bd <= len(ind.shape), op, f"axis {axis} / batch_dims {bd} out of range")
        require(tuple(x.shape[:bd]) == tuple(ind.shape[:bd]), op, "params and indices differ in their batch dimensions")
        out_shape = tuple(x.shape[:axis]) + tuple(ind.shape[bd:]) + tuple(x.shape[axis + 1:])
        prod = lambda s: int(np.prod(s, dtype=np.int64))  # noqa: E731
        return GatherParams(prod(x.shape[:bd]), prod(x.shape[bd:axis]), int(x.shape[axis]), prod(x.shape[axis + 1:]),
                            prod(ind.shape[bd:]), out_shape, int(np.dtype(x.dtype).itemsize), 0)

    def run(self, p: GatherParams, inputs):
        return self._run_gather(p, inputs[0], inputs[1])


@register
class EmbeddingLookup(_GatherBase):
    name = "EMBEDDING_LOOKUP"
    dtypes = ("int8",)

    def check(self, g, op):
        require(len(op.inputs) == 2 and len(op.outputs) == 1, op, "expects 2 inputs (ids, values) and 1 output")
        ids, v, y = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]], g.tensors[op.outputs[0]]
        require(ids.dtype == np.int32 and len(ids.shape) == 1, op, f"ids are {ids.dtype_name}{list(ids.shape)}, expected int32 [N]")
        require(v.dtype == np.int8 and y.dtype == np.int8, op,
                f"values {v.dtype_name} -> output {y.dtype_name}: only int8 -> int8 (a row copy) is supported; the hybrid int8 -> float32 lookup is not")
        require(len(v.shape) >= 2, op, "values must have rank >= 2")
        expected = (ids.shape[0],) + tuple(v.shape[1:])
        require(tuple(y.shape) == expected, op, f"output shape {list(y.shape)} is not {list(expected)}")

    def prepare(self, g, op):
        ids, v = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]]
        inner = int(np.prod(v.shape[1:], dtype=np.int64))
        return GatherParams(1, 1, int(v.shape[0]), inner, int(ids.shape[0]), (ids.shape[0],) + tuple(v.shape[1:]), 1, 1)

    def run(self, p: GatherParams, inputs):
        return self._run_gather(p, inputs[1], inputs[0])


# ---------------------------------------------------------------- FILL, ZEROS_LIKE


@dataclass(frozen=True)
class FillParams:
    out_shape: tuple
    itemsize: int
    dtype: str
    zeros: bool  # ZEROS_LIKE: raw zeros (not the zero point, as TFLM)


@register
class Fill(Op):
    """FILL: the output (shape from the constant dims tensor) filled with the scalar value tensor's raw value."""

    name = "FILL"
    dtypes = ("int8", "int32")

    def check(self, g, op):
        require(len(op.inputs) == 2 and len(op.outputs) == 1, op, "expects 2 inputs (dims, value) and 1 output")
        v, y = g.tensors[op.inputs[1]], g.tensors[op.outputs[0]]
        require(v.dtype in (np.int8, np.int32) and y.dtype == v.dtype, op,
                f"value {v.dtype_name} -> output {y.dtype_name}: equal int8 or int32 expected (TFLM's int16 FILL fails)")
        require(v.size == 1, op, f"value has {v.size} elements, expected 1")
        dims = [int(d) for d in _const_ints(g, op, 0, "dims").reshape(-1)]
        require(dims == list(y.shape), op, f"dims {dims} differ from the output shape {list(y.shape)}")

    def prepare(self, g, op):
        y = g.tensors[op.outputs[0]]
        return FillParams(tuple(y.shape), int(np.dtype(y.dtype).itemsize), np.dtype(y.dtype).name, False)

    def run(self, p: FillParams, inputs):
        v = inputs[1].reshape(inputs[1].shape[0], -1)[:, 0]
        return [np.ascontiguousarray(np.broadcast_to(v.reshape((-1,) + (1,) * len(p.out_shape)), (v.shape[0],) + p.out_shape))]

    def emit_c(self, p: FillParams, ctx):
        """C binding: tg_fill (firmware/kernels/tg_movement.c)."""
        ctx.need("tg_movement.c")
        n = int(np.prod(p.out_shape, dtype=np.int64))
        return f"tg_fill((const void *){ctx.input(1)}, (void *){ctx.output()}, {n}, {p.itemsize});"


@register
class ZerosLike(Op):
    name = "ZEROS_LIKE"
    dtypes = ("int8", "int32")

    def check(self, g, op):
        require(len(op.inputs) == 1 and len(op.outputs) == 1, op, "expects one input and one output")
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        require(x.dtype in (np.int8, np.int32) and y.dtype == x.dtype, op,
                f"{x.dtype_name} -> {y.dtype_name}: int8 or int32 expected (TFLM has no int16 kernel)")
        require(tuple(y.shape) == tuple(x.shape), op, "output shape must equal the input's")

    def prepare(self, g, op):
        y = g.tensors[op.outputs[0]]
        return FillParams(tuple(y.shape), int(np.dtype(y.dtype).itemsize), np.dtype(y.dtype).name, True)

    def run(self, p: FillParams, inputs):
        return [np.zeros((inputs[0].shape[0],) + p.out_shape, dtype=np.dtype(p.dtype))]

    def emit_c(self, p: FillParams, ctx):
        return f"memset({ctx.output()}, 0, {ctx.output_tensor().nbytes});"
