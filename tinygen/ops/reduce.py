"""Reductions: MEAN, SUM (int8, int16), REDUCE_MAX, REDUCE_MIN (int8), as TFLite Micro's reference reduce kernels
compute them. int16 MEAN / SUM (16x8 models) run the same QuantizedMeanOrSum arithmetic (int32 sum) clamped
to the int16 range.

SUM (int8) is QuantizedMeanOrSum with compute_sum: as MEAN without 1/count folded into the
multiplier (the oracle runs this integer path, not the float one of TFLite's older reference code:
checked in tests/test_ops_reduce.py), over any number of axes.
REDUCE_MAX / REDUCE_MIN (int8) need equal input and output quantization (TFLM refuses otherwise at
Eval) and take the max / min over any number of axes.

The TFLM build behind the `tflite_micro` oracle runs every int8 MEAN through
reference_ops::QuantizedMeanOrSum: sum in int32, subtract input_zero_point * count,
then MultiplyByQuantizedMultiplier with the input/output multiplier into which 1/count
has been folded, add the output zero point and clamp. Older TFLM releases had two more
int8 paths (reference_integer_ops::Mean for 4-D keep_dims means over H,W, and a
truncating integer division when input and output quantization are equal); the oracle
uses neither, whatever the quantization or axes (checked against it, see
tests/test_ops_reduce.py), so neither is reproduced here.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinygen.model.fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier, wrap_int32
from .base import Op, register, require, require_int8

MAX_MEAN_RANK = 5  # TFLM kMaxNumberOfAxis (temp_index)
MAX_MEAN_AXES = 2  # TFLM kMaxNumberOfReducedAxis (resolved_axis has room for 2)


@dataclass(frozen=True)
class MeanParams:
    axes: tuple[int, ...]  # resolved, de-duplicated model axes, in TFLM's order
    count: int  # elements averaged per output
    out_shape: tuple[int, ...]
    input_zp: int
    output_zp: int
    multiplier: int  # input/output multiplier with 1/count folded in
    shift: int
    itemsize: int = 1  # 1 int8, 2 int16


def fold_count(multiplier: int, shift: int, count: int) -> tuple[int, int]:
    """QuantizedMeanOrSum's folding of 1/count into (multiplier, shift)."""
    s = min(count.bit_length() - 1, 32, 31 + shift)
    return int((multiplier << s) // count), shift - s


def _resolve_axes(axis_data, rank: int) -> list[int]:
    out: list[int] = []
    for a in axis_data:
        a = int(a) + rank if a < 0 else int(a)
        if a not in out:
            out.append(a)
    return out


def _check_reduction(g, op, name: str, max_axes: int | None = None, int16: bool = False):
    """The checks MEAN, SUM, REDUCE_MAX and REDUCE_MIN share: int8 (or int16 where `int16`), rank, a constant
    int32 axis list in range, and an output with the reduced element count. Returns (input tensor, output tensor)."""
    require(len(op.inputs) == 2 and len(op.outputs) == 1, op, f"has {len(op.inputs)} inputs and {len(op.outputs)} outputs, expected 2 and 1")
    x, out = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
    if int16 and x.dtype == np.int16:
        for role, t in (("input", x), ("output", out)):
            require(t.dtype == np.int16, op, f"{role} 0 '{t.name}' is {t.dtype_name}; the int16 {name} needs int16 both")
            require(t.quant is not None and not t.quant.per_channel, op, f"{role} 0 '{t.name}' needs per-tensor quantization")
    else:
        require_int8(g, op)
    rank = len(x.shape)
    require(1 <= rank <= MAX_MEAN_RANK, op, f"{name} of a rank {rank} input is not supported (1..{MAX_MEAN_RANK})")
    at = g.tensors[op.inputs[1]] if op.inputs[1] >= 0 else None
    require(at is not None, op, "missing axis tensor")
    require(at.size > 0, op, "an empty axis list is not supported")
    require(at.is_const, op, "non-constant axis tensor is not supported")
    require(at.dtype == np.int32, op, f"axis tensor is {at.dtype_name}, expected int32")
    data = at.data.reshape(-1)
    for a in data:
        require(-rank <= a < rank, op, f"axis {int(a)} is out of range for rank {rank}")
    axes = _resolve_axes(data, rank)
    if max_axes is not None:
        require(len(axes) <= max_axes, op,
                f"{name} over {len(axes)} axes {axes} is not supported (TFLM's reference kernel reduces at most {max_axes})")
    require(0 not in x.shape, op, "zero-sized input is not supported")
    keep = bool(op.options.get("keep_dims", False))
    reduced = [1 if d in axes else s for d, s in enumerate(x.shape)] if keep else [s for d, s in enumerate(x.shape) if d not in axes]
    # TFLM writes the reduced values in input order and only uses the output's element count
    require(out.size == int(np.prod(reduced)), op, f"output shape {list(out.shape)} does not match the reduced shape {reduced} (keep_dims={keep})")
    return x, out


def _range(itemsize: int) -> tuple[int, int]:
    return (-32768, 32767) if itemsize == 2 else (-128, 127)


@register
class Mean(Op):
    name = "MEAN"
    dtypes = ("int8", "int16")

    def check(self, g, op):
        _check_reduction(g, op, "MEAN", MAX_MEAN_AXES, int16=True)

    def prepare(self, g, op):
        x, out = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        rank = len(x.shape)
        axes = _resolve_axes(g.tensors[op.inputs[1]].data.reshape(-1), rank)
        count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
        # Prepare: real multiplier in double from the float scales, as TFLM does.
        m, s = quantize_multiplier(float(x.scale) / float(out.scale))
        m, s = fold_count(m, s, count)
        return MeanParams(tuple(axes), count, tuple(out.shape), x.zero_point, out.zero_point, m, s, int(np.dtype(x.dtype).itemsize))

    def run(self, p: MeanParams, inputs):
        x = inputs[0]
        n = x.shape[0]
        total = wrap_int32(x.astype(np.int64).sum(axis=tuple(a + 1 for a in p.axes)))  # TFLM accumulates in int32
        shifted = wrap_int32(total - p.input_zp * p.count)
        y = multiply_by_quantized_multiplier(shifted, p.multiplier, p.shift) + p.output_zp
        y = np.clip(y, *_range(p.itemsize))
        return [y.astype(np.int16 if p.itemsize == 2 else np.int8).reshape((n,) + p.out_shape)]

    def macs(self, g, op):
        return g.tensors[op.inputs[0]].size

    def emit_c(self, p: MeanParams, ctx):
        """C binding: tg_mean_s8 (firmware/kernels/tg_reduce.c): per output, loops over the reduced axes."""
        ctx.need("tg_reduce.c")
        shape = [int(d) for d in ctx.input_tensor(0).shape]
        st = [int(np.prod(shape[d + 1 :], dtype=np.int64)) for d in range(len(shape))]
        kept = [d for d in range(len(shape)) if d not in p.axes]
        fill = lambda v: list(v) + [0] * (5 - len(v))  # noqa: E731
        fields = dict(out_size=int(np.prod([shape[d] for d in kept], dtype=np.int64)), n_kept=len(kept),
                      kept_dims=fill([shape[d] for d in kept]), kept_strides=fill([st[d] for d in kept]),
                      n_red=len(p.axes), red_dims=fill([shape[d] for d in p.axes]), red_strides=fill([st[d] for d in p.axes]),
                      count=p.count, input_zp=p.input_zp, output_zp=p.output_zp, multiplier=p.multiplier, shift=p.shift,
                      itemsize=p.itemsize)
        return f"tg_mean_s8({ctx.struct('tg_mean_params_t', fields)}, (const void *){ctx.input(0)}, (void *){ctx.output()});"


# ---------------------------------------------------------------- SUM, REDUCE_MAX, REDUCE_MIN

@dataclass(frozen=True)
class ReduceParams:
    kind: str  # "sum", "max", "min"
    axes: tuple[int, ...]
    count: int
    out_shape: tuple[int, ...]
    input_zp: int = 0  # SUM
    output_zp: int = 0
    multiplier: int = 0
    shift: int = 0
    itemsize: int = 1  # 1 int8, 2 int16 (SUM)


class _Reduce(Op):
    kind = ""

    def check(self, g, op):
        x, out = _check_reduction(g, op, self.name, int16=self.kind == "sum")
        if self.kind in ("max", "min"):
            require(float(np.float32(x.scale)) == float(np.float32(out.scale)) and x.zero_point == out.zero_point, op,
                    f"input and output quantization differ (scale {x.scale:g}/{out.scale:g}, zero point {x.zero_point}/{out.zero_point}); "
                    "TFLM's int8 kernel requires them equal")

    def prepare(self, g, op):
        x, out = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        axes = _resolve_axes(g.tensors[op.inputs[1]].data.reshape(-1), len(x.shape))
        count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
        if self.kind != "sum":
            return ReduceParams(self.kind, tuple(axes), count, tuple(out.shape))
        m, s = quantize_multiplier(float(x.scale) / float(out.scale))
        return ReduceParams("sum", tuple(axes), count, tuple(out.shape), x.zero_point, out.zero_point, m, s,
                            int(np.dtype(x.dtype).itemsize))

    def run(self, p: ReduceParams, inputs):
        x = inputs[0]
        n = x.shape[0]
        ax = tuple(a + 1 for a in p.axes)
        if p.kind == "max":
            y = x.max(axis=ax)
        elif p.kind == "min":
            y = x.min(axis=ax)
        else:
            total = wrap_int32(x.astype(np.int64).sum(axis=ax))  # TFLM accumulates in int32
            shifted = wrap_int32(total - p.input_zp * p.count)
            y = np.clip(multiply_by_quantized_multiplier(shifted, p.multiplier, p.shift) + p.output_zp, *_range(p.itemsize))
        return [np.asarray(y).astype(np.int16 if p.itemsize == 2 else np.int8).reshape((n,) + p.out_shape)]

    def macs(self, g, op):
        return g.tensors[op.inputs[0]].size

    def emit_c(self, p: ReduceParams, ctx):
        """C binding: tg_reduce_s8 (firmware/kernels/tg_reduce.c): per output, an odometer over the reduced axes."""
        ctx.need("tg_reduce.c")
        shape = [int(d) for d in ctx.input_tensor(0).shape]
        st = [int(np.prod(shape[d + 1 :], dtype=np.int64)) for d in range(len(shape))]
        kept = [d for d in range(len(shape)) if d not in p.axes]
        fill = lambda v: list(v) + [0] * (5 - len(v))  # noqa: E731
        fields = dict(out_size=int(np.prod([shape[d] for d in kept], dtype=np.int64)), n_kept=len(kept),
                      kept_dims=fill([shape[d] for d in kept]), kept_strides=fill([st[d] for d in kept]),
                      n_red=len(p.axes), red_dims=fill([shape[d] for d in p.axes]), red_strides=fill([st[d] for d in p.axes]),
                      kind={"sum": "TG_REDUCE_SUM", "max": "TG_REDUCE_MAX", "min": "TG_REDUCE_MIN"}[p.kind],
                      count=p.count, input_zp=p.input_zp, output_zp=p.output_zp, multiplier=p.multiplier, shift=p.shift,
                      itemsize=p.itemsize)
        return f"tg_reduce_s8({ctx.struct('tg_reduce_params_t', fields)}, (const void *){ctx.input(0)}, (void *){ctx.output()});"


@register
class Sum(_Reduce):
    name = "SUM"
    kind = "sum"
    dtypes = ("int8", "int16")


@register
class ReduceMax(_Reduce):
    name = "REDUCE_MAX"
    kind = "max"


@register
class ReduceMin(_Reduce):
    name = "REDUCE_MIN"
    kind = "min"
