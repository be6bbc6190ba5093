"""AVERAGE_POOL_2D and MAX_POOL_2D on int8 and int16 tensors.

TFLite Micro semantics (pooling_common.cc PoolingPrepare, reference_integer_ops::AveragePool
/ MaxPool):
- Prepare demands the same quantization on input and output (|scale difference| <= 1e-6,
  equal zero points); the fused activation clamps with the output's quantized range;
- padding from ComputePaddingHeightWidth (no dilation); only window taps inside the input
  take part: the average divides by the number of taps inside the input (smaller at padded
  borders) and rounds half away from zero: `(sum +- count/2) / count` with C's truncating
  division; the maximum ignores padded taps.
- int16 (reference_integer_ops::AveragePool / MaxPool for int16_t): the same arithmetic (int32 sum)
  with the int16 range; the activation range from the output's int16 quantization.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import C99, DSP, KernelVariant, Op, register, require, target_has_dsp
from .conv16 import INT16_MIN, activation_range
from .conv import check_activation, check_scales, check_window_options, pad_nhwc, tap_slice


@dataclass
class PoolParams:
    op: str
    input_shape: tuple  # (B, H, W, C)
    output_shape: tuple  # (B, OH, OW, C)
    filter_hw: tuple  # (KH, KW)
    stride: tuple  # (sh, sw)
    padding: tuple  # (top, left): TFLM padding_values (height, width)
    padding_after: tuple  # (bottom, right)
    act_min: int
    act_max: int
    itemsize: int = 1  # 1: int8, 2: int16
    counts: np.ndarray | None = None  # average pool: (OH, OW, 1) int32 taps inside the input per output position


def _tap_counts(in_size: int, k: int, stride: int, pad: int, out: int) -> np.ndarray:
    start = np.arange(out) * stride - pad
    lo = np.maximum(0, -start)
    hi = np.minimum(k, in_size - start)
    return np.maximum(hi - lo, 0)


class _Pool(Op):
    dtypes = ("int8", "int16")
    dsp_dtypes = ("int8",)

    def check(self, g, op):
        require(len(op.inputs) == 1, op, f"expected 1 input, got {len(op.inputs)}")
        require(len(op.outputs) == 1, op, f"expected 1 output, got {len(op.outputs)}")
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        require(x.dtype in (np.int8, np.int16), op, f"input 0 '{x.name}' is {x.dtype_name}; int8 and int16 are supported")
        require(y.dtype == x.dtype, op, f"output 0 '{y.name}' is {y.dtype_name}, the input {x.dtype_name}")
        for role, t in (("input", x), ("output", y)):
            require(t.quant is not None and not t.quant.per_channel, op, f"{role} 0 '{t.name}' needs per-tensor quantization")
        check_scales(g, op)
        require(len(x.shape) == 4, op, f"input has rank {len(x.shape)}, expected 4 (NHWC)")
        require(len(y.shape) == 4, op, f"output has rank {len(y.shape)}, expected 4 (NHWC)")
        require(x.shape[0] == y.shape[0] and x.shape[3] == y.shape[3], op,
                f"input shape {list(x.shape)} and output shape {list(y.shape)} differ in batch or channels")
        require(abs(float(x.scale) - float(y.scale)) <= 1e-6, op,
                f"input scale {x.scale:g} and output scale {y.scale:g} differ; TFLM needs the same quantization")
        require(x.zero_point == y.zero_point, op,
                f"input zero point {x.zero_point} and output zero point {y.zero_point} differ; TFLM needs the same quantization")
        check_activation(op)
        kh, kw = op.options.get("filter_height"), op.options.get("filter_width")
        require(isinstance(kh, int) and isinstance(kw, int) and kh >= 1 and kw >= 1, op, f"filter size {kh}x{kw} not supported")
        check_window_options(op, x.shape[1:3], (kh, kw), y.shape[1:3])

    def prepare(self, g, op):
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        kh, kw = op.options["filter_height"], op.options["filter_width"]
        stride, pad_b, pad_a = check_window_options(op, x.shape[1:3], (kh, kw), y.shape[1:3])
        info = np.iinfo(x.dtype)
        amin, amax = activation_range(op.activation, y.scale, y.zero_point, int(info.min), int(info.max))
        p = PoolParams(op=op.op, input_shape=tuple(x.shape), output_shape=tuple(y.shape), filter_hw=(kh, kw),
                       stride=stride, padding=pad_b, padding_after=pad_a, act_min=int(amin), act_max=int(amax),
                       itemsize=int(np.dtype(x.dtype).itemsize))
        if op.op == "AVERAGE_POOL_2D":
            cy = _tap_counts(x.shape[1], kh, stride[0], pad_b[0], y.shape[1])
            cx = _tap_counts(x.shape[2], kw, stride[1], pad_b[1], y.shape[2])
            p.counts = (cy[:, None] * cx[None, :]).astype(np.int32)[:, :, None]
        return p

    def macs(self, g, op):
        return 0

    def emit_c(self, p: PoolParams, ctx):
        """C binding: tg_avgpool_s8 (tg_avgpool4_s8 where every window has 1-128 taps and there are >= 4
        channels) / tg_maxpool_s8 / tg_avgpool_s16 / tg_maxpool_s16 (firmware/kernels/tg_pool.c)."""
        ctx.need("tg_pool.c")
        b, h, w, c = p.input_shape
        _, oh, ow, _ = p.output_shape
        fields = dict(batches=b, in_h=h, in_w=w, channels=c, out_h=oh, out_w=ow, k_h=p.filter_hw[0], k_w=p.filter_hw[1],
                      stride_h=p.stride[0], stride_w=p.stride[1], pad_top=p.padding[0], pad_left=p.padding[1],
                      act_min=p.act_min, act_max=p.act_max)
        fn = ("tg_avgpool" if p.op == "AVERAGE_POOL_2D" else "tg_maxpool") + ("_s16" if p.itemsize == 2 else "_s8")
        if fn == "tg_avgpool_s8" and c >= 4 and 1 <= int(np.min(p.counts)) and int(np.max(p.counts)) <= 128:
            fn = "tg_avgpool4_s8"  # no window needs the C per-pixel code: a DSP build links none of it
        cast = "(const int16_t *)" if p.itemsize == 2 else ""
        ocast = "(int16_t *)" if p.itemsize == 2 else ""
        return f"{fn}({ctx.struct('tg_pool_params_t', fields)}, {cast}{ctx.input(0)}, {ocast}{ctx.output()});"

    def kernel_variant(self, p: PoolParams, target: str | None = None) -> KernelVariant:
        """int8 on a DSP target: tg_avgpool_s8 / tg_maxpool_s8's DSP path (firmware/kernels/tg_pool.c)."""
        if p.itemsize != 1:
            return KernelVariant(C99, "portable C kernel (int16: no DSP variant)", 0)
        if not target_has_dsp(target):
            return KernelVariant(C99, f"target {target} has no DSP extension", 0)
        _, _, _, c = p.input_shape
        tail = f"; the last {c % 4} channels in C" if c % 4 else ""
        if p.op == "MAX_POOL_2D":
            return KernelVariant(DSP, f"4 channels per word, SSUB8 + SEL per tap{tail}", 0)
        big = p.filter_hw[0] * p.filter_hw[1] > 128 and int(np.max(p.counts)) > 128
        return KernelVariant(DSP, "4 channels per word, SXTAB16 sums, SMULW rounded division"
                             + (" (windows of more than 128 taps in C)" if big else "") + tail, 0)


@register
class AveragePool2D(_Pool):
    name = "AVERAGE_POOL_2D"

    def run(self, p: PoolParams, inputs):
        x = inputs[0]
        n = x.shape[0]
        b, h, w, c = p.input_shape
        _, oh, ow, _ = p.output_shape
        kh, kw = p.filter_hw
        xp = pad_nhwc(x.reshape(n * b, h, w, c), p.padding, p.padding_after, 0)  # padded taps add 0
        acc = np.zeros((n * b, oh, ow, c), dtype=np.int32)
        for ky in range(kh):
            for kx in range(kw):
                acc += tap_slice(xp, ky, kx, (oh, ow), p.stride, (1, 1))
        cnt = p.counts
        q = (np.abs(acc) + cnt // 2) // cnt  # rounds half away from zero, as TFLM's truncating division
        q = np.where(acc > 0, q, -q)
        np.clip(q, p.act_min, p.act_max, out=q)
        return [q.astype(np.int16 if p.itemsize == 2 else np.int8).reshape(n, b, oh, ow, c)]


@register
class MaxPool2D(_Pool):
    name = "MAX_POOL_2D"

    def run(self, p: PoolParams, inputs):
        x = inputs[0]
        n = x.shape[0]
        b, h, w, c = p.input_shape
        _, oh, ow, _ = p.output_shape
        kh, kw = p.filter_hw
        lowest = INT16_MIN if p.itemsize == 2 else -128  # the type's lowest: never wins
        xp = pad_nhwc(x.reshape(n * b, h, w, c), p.padding, p.padding_after, lowest)
        out = None
        for ky in range(kh):
            for kx in range(kw):
                s = tap_slice(xp, ky, kx, (oh, ow), p.stride, (1, 1))
                out = s.copy() if out is None else np.maximum(out, s, out=out)
        np.clip(out, p.act_min, p.act_max, out=out)
        return [out.reshape(n, b, oh, ow, c)]
