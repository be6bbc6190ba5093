"""16x8 convolutions (int16 activations, int8 weights) and TRANSPOSE_CONV (int8 and 16x8), as
TFLite Micro's reference kernels compute them.

- CONV_2D with int16 input and output (a variant of the int8 CONV_2D in conv.py, chosen by the
  input type; reference_integer_ops::ConvPerChannel<AccumScalar>): no input offset (the int16
  zero points must be 0), the accumulator is int64 when the bias is int64 or absent and int32
  (wrapping) when it is int32; then MultiplyByQuantizedMultiplier of that accumulator type:
  the 64-bit overload rounds once with a 16-bit multiplier
  (`(x * ((M + 2^15) >> 16) + 2^(14 - shift)) >> (15 - shift)`), the 32-bit one is the usual
  double rounding; clamp to the fused activation range, no output offset.
- TRANSPOSE_CONV (reference_integer_ops::TransposeConv): every input pixel adds
  `(x - input_zp) * w` into the output pixels its filter covers (TFLM: whole-output scratch
  accumulators, int32 wrapping for int8, int64 for int16; tinygen's C kernel gathers the taps
  of one output value instead, the same sum, no scratch; on a Cortex-M DSP: tg_tconv.c, the same
  gather with SMLAD (int8) / SMLALD (16x8) dot products, two output channels per pass), padding from ComputePaddingHeightWidth on the *output* size,
  then bias, requantization as above, output zero point (int8 only), clamp. The output shape
  comes from the output tensor (input 0, `output_shape`, is not read: TFLM Micro does not).

- DEPTHWISE_CONV_2D 16x8 (reference_integer_ops::DepthwiseConvPerChannel for int16): int64
  accumulator, int64 bias (TFLM reads the bias as int64: an int32 bias is refused), no offsets. It is
  the grouped CONV_2D above with one group per input channel (depth multiplier = outputs per group),
  the [1, KH, KW, C*m] filter seen as [C*m, KH, KW, 1]: the same numpy and C kernels.
- FULLY_CONNECTED 16x8 (reference_integer_ops::FullyConnected(PerChannel) for int16): the input as a
  [batches, depth] matrix, int64 accumulator with an int64 bias or none, int32 with an int32 bias; it
  is a 1x1 CONV_2D over a [1, batches, 1, depth] image, again the same kernels.

Per-channel multipliers come from conv.py's `channel_multipliers` (double precision, as TFLM).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinygen.model import fixedpoint as fp
from .base import C99, DSP, KernelVariant, Op, register, register_variant, require, target_has_dsp
from .conv import (check_activation, check_weights, channel_multipliers, check_window_options, output_size, pad_nhwc,
                   padding_before, per_channel_scales, tap_slice)

INT16_MIN, INT16_MAX = -(1 << 15), (1 << 15) - 1


def activation_range(activation: str, scale: float, zero_point: int, qmin: int, qmax: int) -> tuple[int, int]:
    """TFLM CalculateActivationRangeQuantized for an output type with range [qmin, qmax]."""

    def q(v: float) -> int:
        return zero_point + fp.tflite_round(float(np.float32(v) / np.float32(scale)))

    if activation == "NONE":
        return qmin, qmax
    if activation == "RELU":
        return max(qmin, q(0.0)), qmax
    if activation == "RELU6":
        return max(qmin, q(0.0)), min(qmax, q(6.0))
    if activation == "RELU_N1_TO_1":
        return max(qmin, q(-1.0)), min(qmax, q(1.0))
    raise ValueError(activation)


def mbqm_int64(x, multiplier, shift) -> np.ndarray:
    """TFLite's MultiplyByQuantizedMultiplier(int64_t x, int32_t M, int shift): one rounding with the
    multiplier reduced to 16 bits (|x| < 2^47, shift in [-31, 7]); the int64 result narrowed to int32
    with wrap-around, as TFLM's release build does (its range assert is compiled out)."""
    x = np.asarray(x, dtype=np.int64)
    m = np.asarray(multiplier, dtype=np.int64)
    s = np.asarray(shift, dtype=np.int64)
    reduced = np.where(m < 0x7FFF0000, (m + (1 << 15)) >> 16, 0x7FFF)
    total = 15 - s
    return fp.wrap_int32((x * reduced + (np.int64(1) << (total - 1))) >> total)


def requantize(acc, p) -> np.ndarray:
    """acc (int64, bias included) -> the output type, as the op's accumulator type dictates."""
    if p.acc64:
        y = mbqm_int64(acc, p.multiplier, p.shift)
    else:
        y = fp.multiply_by_quantized_multiplier(fp.wrap_int32(acc), p.multiplier, p.shift)
    y = np.clip(y + p.output_zp, p.act_min, p.act_max)
    return y.astype(np.int16 if p.itemsize == 2 else np.int8)


def _bias(g, op, idx: int, channels: int, allowed: tuple):
    if len(op.inputs) <= idx or op.inputs[idx] < 0:
        return None
    b = g.tensors[op.inputs[idx]]
    require(b.is_const, op, f"bias '{b.name}' is not a constant tensor")
    names = " or ".join(np.dtype(t).name for t in allowed)
    require(b.dtype in allowed, op, f"bias '{b.name}' is {b.dtype_name}; expected {names}")
    require(b.size == channels, op, f"bias '{b.name}' has {b.size} elements, expected {channels}")
    return b


def _zero_points_zero(g, op, tids) -> None:
    for role, tid in tids:
        t = g.tensors[tid]
        require(t.quant is not None and not t.quant.per_channel, op, f"{role} '{t.name}' needs per-tensor quantization")
        require(t.zero_point == 0, op, f"int16 {role} '{t.name}' has zero point {t.zero_point}; TFLM's 16x8 kernels need 0")
        require(t.scale > 0, op, f"{role} '{t.name}' has scale {t.scale}; must be positive")


@dataclass
class Conv16Params:
    kind: str  # "conv" or "tconv"
    input_shape: tuple
    output_shape: tuple
    filter_hw: tuple
    stride: tuple
    dilation: tuple
    pad: tuple  # (top, left)
    pad_after: tuple  # conv: (bottom, right) the last window reaches past the input
    groups: int
    input_zp: int
    output_zp: int
    multiplier: np.ndarray
    shift: np.ndarray
    act_min: int
    act_max: int
    weights: np.ndarray  # int8 OHWI
    bias: np.ndarray | None  # int64 values
    acc64: bool  # int64 accumulator (int64 bias) or int32
    itemsize: int  # bytes per activation: 1 (int8) or 2 (int16)
    out_shape: tuple | None = None  # FULLY_CONNECTED: the output tensor's own shape


# ---------------------------------------------------------------- CONV_2D, int16 activations


@register_variant("CONV_2D", "int16")
class Conv2DInt16(Op):
    name = "CONV_2D"
    dtypes = ("int16 (16x8)",)

    def kernel_variant(self, p, target=None):
        return KernelVariant(C99, "int16 activations (16x8): no DSP kernel yet", self.scratch_bytes(p))

    def check(self, g, op):
        require(len(op.inputs) in (2, 3) and len(op.outputs) == 1, op, f"expected 2 or 3 inputs and 1 output")
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        require(x.dtype == np.int16 and y.dtype == np.int16, op, f"input is {x.dtype_name}, output {y.dtype_name}; the 16x8 CONV_2D needs int16 both")
        _zero_points_zero(g, op, (("input", op.inputs[0]), ("output", op.outputs[0])))
        require(len(x.shape) == 4 and len(y.shape) == 4, op, "input and output must be 4-D (NHWC)")
        require(x.shape[0] == y.shape[0], op, f"input batch {x.shape[0]} != output batch {y.shape[0]}")
        check_activation(op)
        w = check_weights(g, op, 1, 4)
        oc, kh, kw, cf = w.shape
        require(min(w.shape) >= 1 and y.shape[3] == oc, op, f"output has {y.shape[3]} channels, filter {list(w.shape)}")
        require(x.shape[3] % cf == 0 and oc % (x.shape[3] // cf) == 0, op,
                f"input channels {x.shape[3]} and filter {list(w.shape)} do not form groups")
        _bias(g, op, 2, oc, (np.int64, np.int32))
        dil = (op.options.get("dilation_h_factor", 1), op.options.get("dilation_w_factor", 1))
        check_window_options(op, x.shape[1:3], (kh, kw), y.shape[1:3], dil)
        channel_multipliers(op, x.scale, per_channel_scales(op, w, oc, 0), y.scale)

    def prepare(self, g, op):
        x, y, w = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]], g.tensors[op.inputs[1]]
        oc, kh, kw, cf = w.shape
        dil = (op.options.get("dilation_h_factor", 1), op.options.get("dilation_w_factor", 1))
        stride, pad_b, pad_a = check_window_options(op, x.shape[1:3], (kh, kw), y.shape[1:3], dil)
        mult, shift = channel_multipliers(op, x.scale, per_channel_scales(op, w, oc, 0), y.scale)
        bt = _bias(g, op, 2, oc, (np.int64, np.int32))
        amin, amax = activation_range(op.activation, y.scale, 0, INT16_MIN, INT16_MAX)
        return Conv16Params("conv", tuple(x.shape), tuple(y.shape), (kh, kw), tuple(stride), tuple(dil), tuple(pad_b),
                            tuple(pad_a), x.shape[3] // cf, 0, 0, mult, shift, int(amin), int(amax),
                            np.asarray(w.data, np.int8), None if bt is None else np.asarray(bt.data, np.int64).reshape(-1),
                            bt is None or bt.dtype == np.int64, 2)

    def run(self, p: Conv16Params, inputs):
        x = inputs[0]
        n = x.shape[0]
        b, h, w, c = p.input_shape
        _, oh, ow, oc = p.output_shape
        kh, kw = p.filter_hw
        xs = x.reshape(n * b, h, w, c)
        xp = pad_nhwc(xs, p.pad, p.pad_after, 0)
        taps = kh * kw
        cols = np.empty((n * b, oh, ow, taps, c), dtype=np.float64)
        for ky in range(kh):
            for kx in range(kw):
                cols[:, :, :, ky * kw + kx, :] = tap_slice(xp, ky, kx, (oh, ow), p.stride, p.dilation)
        rows = n * b * oh * ow
        cg, fg = c // p.groups, oc // p.groups
        c3 = cols.reshape(rows, taps, c)
        acc = np.empty((rows, oc), dtype=np.int64)
        for gi in range(p.groups):  # exact: |products| < 2^22, at most 2^16 of them
            sub = c3[:, :, gi * cg:(gi + 1) * cg].reshape(rows, taps * cg)
            wm = p.weights[gi * fg:(gi + 1) * fg].reshape(fg, taps * cg).T.astype(np.float64)
            acc[:, gi * fg:(gi + 1) * fg] = (sub @ wm).astype(np.int64)
        if p.bias is not None:
            acc = acc + p.bias
        return [requantize(acc, p).reshape(n, b, oh, ow, oc)]

    def macs(self, g, op):
        y, w = g.tensors[op.outputs[0]], g.tensors[op.inputs[1]]
        return int(np.prod(y.shape)) * int(np.prod(w.shape[1:]))

    def emit_c(self, p: Conv16Params, ctx):
        """C binding: tg_conv2d_s16 (firmware/kernels/tg_conv16.c), direct loops, int64 or int32 accumulator."""
        return _emit(p, ctx, "tg_conv2d_s16", "(const int16_t *)" + ctx.input(0), "(int16_t *)" + ctx.output(), None)


# ---------------------------------------------------------------- TRANSPOSE_CONV


@register
class TransposeConv(Op):
    name = "TRANSPOSE_CONV"
    dtypes = ("int8", "int16 (16x8)")

    dsp_dtypes = ("int8", "int16 (16x8)")

    def kernel_variant(self, p, target=None):
        if target_has_dsp(target):
            how = ("SMLAD: int8 input widened on the fly (SXTB16, SSUB16)" if p.itemsize == 1
                   else "SMLALD: int16 input paired on the fly, int64 sums")
            return KernelVariant(DSP, f"{how}, 2 output channels per pass, no scratch", 0)
        return KernelVariant(C99, f"TRANSPOSE_CONV gather kernel (target {target} has no DSP extension)", 0)

    def check(self, g, op):
        require(len(op.inputs) in (3, 4) and len(op.outputs) == 1, op,
                f"has {len(op.inputs)} inputs and {len(op.outputs)} outputs, expected 3 or 4 and 1")
        x, y = g.tensors[op.inputs[2]], g.tensors[op.outputs[0]]
        require(x.dtype in (np.int8, np.int16), op, f"input '{x.name}' is {x.dtype_name}; int8 and int16 are supported")
        require(y.dtype == x.dtype, op, f"output is {y.dtype_name}, input {x.dtype_name}")
        if x.dtype == np.int16:
            _zero_points_zero(g, op, (("input", op.inputs[2]), ("output", op.outputs[0])))
        for role, t in (("input", x), ("output", y)):
            require(t.quant is not None and not t.quant.per_channel and t.scale > 0, op,
                    f"{role} '{t.name}' needs per-tensor quantization with a positive scale")
        require(len(x.shape) == 4 and len(y.shape) == 4, op, "input and output must be 4-D (NHWC)")
        require(x.shape[0] == y.shape[0], op, f"input batch {x.shape[0]} != output batch {y.shape[0]}")
        shp = g.tensors[op.inputs[0]] if op.inputs[0] >= 0 else None
        require(shp is not None and shp.dtype == np.int32 and shp.size == 4, op, "output_shape (input 0) must be an int32 [4] tensor")
        if shp.is_const:
            require([int(v) for v in shp.data.reshape(-1)] == list(y.shape), op,
                    f"output_shape {shp.data.reshape(-1).tolist()} differs from the output tensor's shape {list(y.shape)}")
        check_activation(op)
        w = check_weights(g, op, 1, 4)
        oc, kh, kw, ic = w.shape
        require(ic == x.shape[3], op, f"filter {list(w.shape)} takes {ic} input channels, the input has {x.shape[3]}")
        require(oc == y.shape[3], op, f"filter {list(w.shape)} makes {oc} channels, the output has {y.shape[3]}")
        _bias(g, op, 3, oc, (np.int64,) if x.dtype == np.int16 else (np.int32,))
        o = op.options
        sh, sw = int(o.get("stride_h", 1)), int(o.get("stride_w", 1))
        require(sh >= 1 and sw >= 1, op, f"stride {sh}x{sw} must be >= 1")
        padding = o.get("padding", "SAME")
        require(padding in ("SAME", "VALID"), op, f"padding {padding} not supported")
        for axis, (i, out, k, s) in enumerate(((x.shape[1], y.shape[1], kh, sh), (x.shape[2], y.shape[2], kw, sw))):
            require(output_size(padding, out, k, s, 1) == i, op,
                    f"input size {i} along axis {axis + 1} is not what a {padding} convolution of the output size {out} gives")
        channel_multipliers(op, x.scale, per_channel_scales(op, w, oc, 0), y.scale)

    def prepare(self, g, op):
        x, y, w = g.tensors[op.inputs[2]], g.tensors[op.outputs[0]], g.tensors[op.inputs[1]]
        oc, kh, kw, ic = w.shape
        o = op.options
        sh, sw = int(o.get("stride_h", 1)), int(o.get("stride_w", 1))
        padding = o.get("padding", "SAME")
        pads = tuple(padding_before(out, k, s, 1, output_size(padding, out, k, s, 1))
                     for out, k, s in ((y.shape[1], kh, sh), (y.shape[2], kw, sw)))
        mult, shift = channel_multipliers(op, x.scale, per_channel_scales(op, w, oc, 0), y.scale)
        int16 = x.dtype == np.int16
        bt = _bias(g, op, 3, oc, (np.int64,) if int16 else (np.int32,))
        qmin, qmax = (INT16_MIN, INT16_MAX) if int16 else (-128, 127)
        amin, amax = activation_range(op.activation, y.scale, y.zero_point, qmin, qmax)
        return Conv16Params("tconv", tuple(x.shape), tuple(y.shape), (kh, kw), (sh, sw), (1, 1), pads, (0, 0), 1,
                            int(x.zero_point), int(y.zero_point), mult, shift, int(amin), int(amax),
                            np.asarray(w.data, np.int8), None if bt is None else np.asarray(bt.data, np.int64).reshape(-1),
                            int16, 2 if int16 else 1)

    def run(self, p: Conv16Params, inputs):
        x = inputs[2]
        n = x.shape[0]
        b, h, w, ic = p.input_shape
        _, oh, ow, oc = p.output_shape
        kh, kw = p.filter_hw
        sh, sw = p.stride
        xs = x.reshape(n * b, h * w, ic).astype(np.float64) - p.input_zp
        wm = p.weights.transpose(3, 1, 2, 0).reshape(ic, kh * kw * oc).astype(np.float64)
        contrib = (xs @ wm).astype(np.int64).reshape(n * b, h, w, kh, kw, oc)  # exact: < 2^53
        full_h = max((h - 1) * sh + kh, p.pad[0] + oh)
        full_w = max((w - 1) * sw + kw, p.pad[1] + ow)
        acc = np.zeros((n * b, full_h, full_w, oc), dtype=np.int64)
        for ky in range(kh):
            for kx in range(kw):
                acc[:, ky:ky + (h - 1) * sh + 1:sh, kx:kx + (w - 1) * sw + 1:sw, :] += contrib[:, :, :, ky, kx, :]
        acc = acc[:, p.pad[0]:p.pad[0] + oh, p.pad[1]:p.pad[1] + ow, :]
        if not p.acc64:
            acc = fp.wrap_int32(acc)  # TFLM's int32 scratch accumulators
        if p.bias is not None:
            acc = acc + p.bias
        return [requantize(acc, p).reshape(n, b, oh, ow, oc)]

    def macs(self, g, op):
        x, w = g.tensors[op.inputs[2]], g.tensors[op.inputs[1]]
        return int(np.prod(x.shape)) * int(w.shape[0] * w.shape[1] * w.shape[2])

    def emit_c(self, p: Conv16Params, ctx):
        """C binding: tg_transpose_conv (firmware/kernels/tg_conv16.c): a gather over the input taps
        of each output value, no scratch, called through tg_transpose_conv_dsp (firmware/kernels/tg_tconv.c),
        the same gather with SMLAD / SMLALD dot products, which runs tg_transpose_conv where the DSP
        extension is missing."""
        ctx.need("tg_tconv.c")
        return _emit(p, ctx, "tg_transpose_conv_dsp", "(const void *)" + ctx.input(2), "(void *)" + ctx.output(), None)


def _emit(p: Conv16Params, ctx, fn: str, inp: str, out: str, scratch: str | None) -> str:
    ctx.need("tg_conv16.c")
    b, ih, iw, ic = p.input_shape
    _, oh, ow, oc = p.output_shape
    fields = dict(batches=b, in_h=ih, in_w=iw, in_c=ic, out_h=oh, out_w=ow, out_c=oc, k_h=p.filter_hw[0], k_w=p.filter_hw[1],
                  stride_h=p.stride[0], stride_w=p.stride[1], dil_h=p.dilation[0], dil_w=p.dilation[1],
                  pad_top=p.pad[0], pad_left=p.pad[1], groups=p.groups, input_zp=p.input_zp, output_zp=p.output_zp,
                  act_min=p.act_min, act_max=p.act_max, acc64=int(p.acc64), int16=int(p.itemsize == 2),
                  weights=p.weights.reshape(-1).astype(np.int8),
                  bias32=(p.bias.astype(np.int32) if p.bias is not None and not p.acc64 else "NULL"),
                  bias64=(p.bias.astype(np.int64) if p.bias is not None and p.acc64 else "NULL"),
                  multiplier=np.asarray(p.multiplier, np.int32), shift=np.asarray(p.shift, np.int32))
    args = [ctx.struct("tg_conv16_params_t", fields), inp, out] + ([scratch] if scratch is not None else [])
    return f"{fn}({', '.join(args)});"


# ---------------------------------------------------------------- DEPTHWISE_CONV_2D and FULLY_CONNECTED, 16x8


def _io16(g, op, what: str):
    x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
    require(x.dtype == np.int16 and y.dtype == np.int16, op,
            f"input is {x.dtype_name}, output {y.dtype_name}; the 16x8 {what} needs int16 both")
    _zero_points_zero(g, op, (("input", op.inputs[0]), ("output", op.outputs[0])))
    return x, y


class _Op16x8(Op):
    """A 16x8 op (int16 activations, int8 weights) with the portable C kernel only."""
    dtypes = ("int16 (16x8)",)

    def kernel_variant(self, p, target=None):
        return KernelVariant(C99, "int16 activations (16x8): no DSP kernel yet", 0)


@register_variant("DEPTHWISE_CONV_2D", "int16")
class DepthwiseConv2DInt16(_Op16x8):
    name = "DEPTHWISE_CONV_2D"

    def check(self, g, op):
        require(len(op.inputs) in (2, 3) and len(op.outputs) == 1, op, "expected 2 or 3 inputs and 1 output")
        x, y = _io16(g, op, "DEPTHWISE_CONV_2D")
        require(len(x.shape) == 4 and len(y.shape) == 4, op, "input and output must be 4-D (NHWC)")
        require(x.shape[0] == y.shape[0], op, f"input batch {x.shape[0]} != output batch {y.shape[0]}")
        check_activation(op)
        w = check_weights(g, op, 1, 4)
        one, kh, kw, oc = w.shape
        require(one == 1 and min(w.shape) >= 1, op, f"filter '{w.name}' has shape {list(w.shape)}; expected [1, KH, KW, channels]")
        require(y.shape[3] == oc, op, f"output has {y.shape[3]} channels, filter {oc}")
        dm = op.options.get("depth_multiplier", 1)
        require(isinstance(dm, int) and dm >= 1 and x.shape[3] * dm == oc, op,
                f"depth multiplier {dm} with {x.shape[3]} input channels does not give the filter's {oc} output channels")
        _bias(g, op, 2, oc, (np.int64,))
        dil = (op.options.get("dilation_h_factor", 1), op.options.get("dilation_w_factor", 1))
        check_window_options(op, x.shape[1:3], (kh, kw), y.shape[1:3], dil)
        channel_multipliers(op, x.scale, per_channel_scales(op, w, oc, 3), y.scale)

    def prepare(self, g, op):
        x, y, w = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]], g.tensors[op.inputs[1]]
        _, kh, kw, oc = w.shape
        dil = (op.options.get("dilation_h_factor", 1), op.options.get("dilation_w_factor", 1))
        stride, pad_b, pad_a = check_window_options(op, x.shape[1:3], (kh, kw), y.shape[1:3], dil)
        mult, shift = channel_multipliers(op, x.scale, per_channel_scales(op, w, oc, 3), y.scale)
        bt = _bias(g, op, 2, oc, (np.int64,))
        amin, amax = activation_range(op.activation, y.scale, 0, INT16_MIN, INT16_MAX)
        weights = np.ascontiguousarray(np.asarray(w.data, np.int8).transpose(3, 1, 2, 0))  # [oc, kh, kw, 1]
        return Conv16Params("conv", tuple(x.shape), tuple(y.shape), (kh, kw), tuple(stride), tuple(dil), tuple(pad_b),
                            tuple(pad_a), x.shape[3], 0, 0, mult, shift, int(amin), int(amax), weights,
                            None if bt is None else np.asarray(bt.data, np.int64).reshape(-1), True, 2)

    def run(self, p: Conv16Params, inputs):
        return Conv2DInt16.run(self, p, inputs)

    def macs(self, g, op):
        y, w = g.tensors[op.outputs[0]], g.tensors[op.inputs[1]]
        return int(np.prod(y.shape)) * int(w.shape[1] * w.shape[2])

    def emit_c(self, p: Conv16Params, ctx):
        """C binding: tg_conv2d_s16 (firmware/kernels/tg_conv16.c) with one group per input channel."""
        return _emit(p, ctx, "tg_conv2d_s16", "(const int16_t *)" + ctx.input(0), "(int16_t *)" + ctx.output(), None)


@register_variant("FULLY_CONNECTED", "int16")
class FullyConnectedInt16(_Op16x8):
    name = "FULLY_CONNECTED"

    def check(self, g, op):
        from .fully_connected import _per_tensor_multiplier

        require(len(op.inputs) in (2, 3) and len(op.outputs) == 1, op, "expected 2 or 3 inputs and 1 output")
        x, y = _io16(g, op, "FULLY_CONNECTED")
        check_activation(op)
        wf = op.options.get("weights_format", 0)
        require(wf in (0, "DEFAULT"), op, f"weights format {wf} not supported (only DEFAULT)")
        w = check_weights(g, op, 1, 2, "weights")
        units, k = w.shape
        require(units >= 1 and k >= 1, op, f"weights '{w.name}' have an empty shape {list(w.shape)}")
        require(len(y.shape) >= 1 and y.shape[-1] == units, op, f"output shape {list(y.shape)} does not end in the weights' {units} units")
        batches = int(np.prod(y.shape[:-1]))
        require(x.size == batches * k, op,
                f"input has {x.size} elements; the output shape {list(y.shape)} and weights {list(w.shape)} need {batches} x {k}")
        b = _bias(g, op, 2, units, (np.int64, np.int32))
        if w.quant.per_channel:
            require(w.quant.scale.size == units and w.quant.axis == 0, op,
                    f"weights '{w.name}' are per-channel quantized along axis {w.quant.axis} with {w.quant.scale.size} scales; "
                    f"only one scale per output unit (axis 0) is supported")
            channel_multipliers(op, x.scale, w.quant.scale, y.scale)
        else:
            if b is not None:
                diff = abs(float(np.float32(x.scale)) * float(np.float32(w.scale)) - float(np.float32(b.scale)))
                require(diff / float(np.float32(y.scale)) <= 0.02, op,
                        f"bias '{b.name}' scale {b.scale:g} does not match input scale * weights scale "
                        f"{x.scale * w.scale:g} (TFLM refuses this model)")
            _per_tensor_multiplier(op, x.scale, w.scale, y.scale)

    def prepare(self, g, op):
        x, y, w = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]], g.tensors[op.inputs[1]]
        units, k = w.shape
        per_channel = w.quant.per_channel
        mult, shift = channel_multipliers(op, x.scale, per_channel_scales(op, w, units, 0) if per_channel
                                          else np.full(units, w.scale, np.float32), y.scale)
        bt = _bias(g, op, 2, units, (np.int64, np.int32))
        amin, amax = activation_range(op.activation, y.scale, 0, INT16_MIN, INT16_MAX)
        rows = int(np.prod(y.shape[:-1]))
        p = Conv16Params("conv", (1, rows, 1, k), (1, rows, 1, units), (1, 1), (1, 1), (1, 1), (0, 0), (0, 0), 1, 0, 0,
                         mult, shift, int(amin), int(amax), np.asarray(w.data, np.int8).reshape(units, 1, 1, k),
                         None if bt is None else np.asarray(bt.data, np.int64).reshape(-1), bt is None or bt.dtype == np.int64, 2,
                         tuple(y.shape))
        return p

    def run(self, p: Conv16Params, inputs):
        x = inputs[0]
        y = Conv2DInt16.run(self, p, [x.reshape((x.shape[0],) + p.input_shape)])[0]
        return [y.reshape((x.shape[0],) + p.out_shape)]

    def macs(self, g, op):
        return int(np.prod(g.tensors[op.outputs[0]].shape)) * int(g.tensors[op.inputs[1]].shape[1])

    def emit_c(self, p: Conv16Params, ctx):
        """C binding: tg_conv2d_s16 (firmware/kernels/tg_conv16.c) as a 1x1 convolution."""
        return _emit(p, ctx, "tg_conv2d_s16", "(const int16_t *)" + ctx.input(0), "(int16_t *)" + ctx.output(), None)
