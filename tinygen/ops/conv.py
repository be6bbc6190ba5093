"""CONV_2D and DEPTHWISE_CONV_2D (int8 activations, per-tensor or per-channel int8 weights).

Semantics follow TFLite Micro's reference kernels:
- Prepare (conv_common.cc / depthwise_conv_common.cc, PopulateConvolutionQuantizationParams):
  one multiplier per output channel from the double-precision effective scale
  `double(input_scale) * double(filter_scale[c]) / double(output_scale)` (a per-tensor
  filter scale is broadcast over the channels); padding from ComputePaddingHeightWidth;
  the fused activation range from CalculateActivationRangeQuantized.
- Eval (reference_integer_ops::ConvPerChannel / DepthwiseConvPerChannel): an int32
  accumulator of `w * (x - input_zero_point)` over the taps inside the image (taps in the
  padding are skipped, i.e. act as x == input_zero_point), plus bias, then
  MultiplyByQuantizedMultiplier (double rounding), + output zero point, clamp.

Supported: SAME/VALID padding, any strides and dilations, depth multipliers, grouped
convolutions (input channels a multiple of the filter's), per-channel or per-tensor
symmetric int8 weights, an int32 bias or none (2 inputs or a -1 bias input), fused
NONE/RELU/RELU6/RELU_N1_TO_1. (TFLM itself segfaults on a DEPTHWISE_CONV_2D with a -1 bias
input; tinygen runs it as "no bias".)

The numpy kernels pad the input with the input zero point, fold `-zp * sum(w)` into the
bias, and compute the dot products as float matmuls (exact: int8 products summed stay far
below the float mantissa; float32 is used while K * 2^14 <= 2^24, float64 beyond).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tinygen.model.fixedpoint import activation_range_int8, quantize_multiplier, requantize_to_int8
from .base import (C99, DSP_EXACT, DSP_SHORTCUT, MVE, KernelVariant, Op, register, require, require_int8, target_has_dsp,
                   target_has_mve)

SUPPORTED_ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")

# Largest dot-product length for which a float32 matmul of int8 x int8 values is exact:
# every partial sum is an integer of magnitude <= K * 128 * 128 <= 2^24.
_F32_EXACT_K = (1 << 24) // (128 * 128)
# TFLM's reference kernels assume at most 2^16 products per accumulator (int32 headroom);
# tinygen's int32 depthwise accumulation needs KH*KW * 2^14 < 2^31.
_MAX_TAPS = 1 << 16


# ----------------------------------------------------------------------------- shared helpers
# (also used by fully_connected.py and pooling.py)


def check_activation(op, activation: str | None = None) -> str:
    act = op.activation if activation is None else activation
    require(act in SUPPORTED_ACTIVATIONS, op, f"fused activation {act} not supported (supported: {', '.join(SUPPORTED_ACTIVATIONS)})")
    return act


def output_size(padding: str, in_size: int, filter_size: int, stride: int, dilation: int) -> int:
    """TFLM ComputeOutSize (C integer division; <= 0 means TFLM refuses the op)."""
    eff = (filter_size - 1) * dilation + 1
    if padding == "SAME":
        num = in_size + stride - 1
    else:
        num = in_size + stride - eff
    if num < 0:
        return -1
    return num // stride


def padding_before(in_size: int, filter_size: int, stride: int, dilation: int, out_size: int) -> int:
    """TFLM ComputePaddingWithOffset: the padding before the first element (top / left)."""
    eff = (filter_size - 1) * dilation + 1
    total = max(0, (out_size - 1) * stride + eff - in_size)
    return total // 2


def padding_after(in_size: int, filter_size: int, stride: int, dilation: int, out_size: int, before: int) -> int:
    """How many elements past the end of the input the last window reaches (bottom / right)."""
    eff = (filter_size - 1) * dilation + 1
    return max(0, (out_size - 1) * stride + eff - before - in_size)


def check_window_options(op, in_hw, filter_hw, out_hw, dilation=(1, 1)):
    """Padding / strides / output size checks shared by convolutions and pooling.

    Returns ((stride_h, stride_w), (pad_top, pad_left), (pad_bottom, pad_right)).
    """
    o = op.options
    padding = o.get("padding")
    require(padding in ("SAME", "VALID"), op, f"padding {padding} not supported (SAME or VALID)")
    sh, sw = o.get("stride_h"), o.get("stride_w")
    require(isinstance(sh, int) and isinstance(sw, int) and sh >= 1 and sw >= 1, op, f"stride {sh}x{sw} not supported (strides must be >= 1)")
    dh, dw = dilation
    pads_b, pads_a = [], []
    for axis, i, k, s, d, out in (("height", in_hw[0], filter_hw[0], sh, dh, out_hw[0]), ("width", in_hw[1], filter_hw[1], sw, dw, out_hw[1])):
        expect = output_size(padding, i, k, s, d)
        require(expect >= 1, op, f"{padding} padding leaves no output {axis} (input {i}, window {(k - 1) * d + 1}, stride {s})")
        require(out == expect, op, f"output {axis} is {out}, but {padding} padding with stride {s} gives {expect}")
        b = padding_before(i, k, s, d, out)
        pads_b.append(b)
        pads_a.append(padding_after(i, k, s, d, out, b))
    return (sh, sw), tuple(pads_b), tuple(pads_a)


def pad_nhwc(x: np.ndarray, before, after, value: int) -> np.ndarray:
    """Pad axes 1 and 2 of an (N, H, W, C) array with a constant."""
    (pt, pl), (pb, pr) = before, after
    if not (pt or pl or pb or pr):
        return x
    n, h, w, c = x.shape
    out = np.empty((n, h + pt + pb, w + pl + pr, c), dtype=x.dtype)
    out[:, :pt] = value
    out[:, pt + h :] = value
    out[:, pt : pt + h, :pl] = value
    out[:, pt : pt + h, pl + w :] = value
    out[:, pt : pt + h, pl : pl + w] = x
    return out


def tap_slice(xp: np.ndarray, ky: int, kx: int, out_hw, stride, dilation) -> np.ndarray:
    """The (N, OH, OW, C) view of the padded input that filter tap (ky, kx) reads."""
    (oh, ow), (sh, sw), (dh, dw) = out_hw, stride, dilation
    y0, x0 = ky * dh, kx * dw
    return xp[:, y0 : y0 + (oh - 1) * sh + 1 : sh, x0 : x0 + (ow - 1) * sw + 1 : sw, :]


# Scratch memory a kernel may use at once; larger batches run in blocks of samples.
_BLOCK_BYTES = 64 << 20


def run_in_blocks(fn, p, x: np.ndarray, bytes_per_sample: int) -> np.ndarray:
    """fn(p, x[i:j]) over blocks of samples (axis 0) so scratch memory stays under _BLOCK_BYTES."""
    step = max(1, _BLOCK_BYTES // max(1, bytes_per_sample))
    if x.shape[0] <= step:
        return fn(p, x)
    return np.concatenate([fn(p, x[i : i + step]) for i in range(0, x.shape[0], step)])


def check_weights(g, op, idx: int, rank: int, what: str = "filter"):
    require(len(op.inputs) > idx and op.inputs[idx] >= 0, op, f"missing {what} (input {idx})")
    w = g.tensors[op.inputs[idx]]
    require(w.is_const, op, f"{what} '{w.name}' is not a constant tensor; only constant weights are supported")
    require(w.dtype == np.int8, op, f"{what} '{w.name}' is {w.dtype_name}; only int8 weights are supported")
    require(len(w.shape) == rank, op, f"{what} '{w.name}' has rank {len(w.shape)}, expected {rank}")
    require(w.quant is not None, op, f"{what} '{w.name}' has no quantization parameters")
    require(bool(np.all(w.quant.zero_point == 0)), op, f"{what} '{w.name}' has non-zero zero points; only symmetric int8 weights are supported")
    require(bool(np.all(w.quant.scale >= 0)), op, f"{what} '{w.name}' has negative scales")
    return w


def check_bias(g, op, idx: int, channels: int):
    """The optional int32 bias; returns the Tensor or None."""
    if len(op.inputs) <= idx or op.inputs[idx] < 0:
        return None
    b = g.tensors[op.inputs[idx]]
    require(b.is_const, op, f"bias '{b.name}' is not a constant tensor")
    require(b.dtype == np.int32, op, f"bias '{b.name}' is {b.dtype_name}; only int32 bias is supported with int8 activations")
    require(b.size == channels, op, f"bias '{b.name}' has {b.size} elements, expected {channels}")
    return b


def per_channel_scales(op, w, channels: int, axis: int) -> np.ndarray:
    """The filter scales broadcast to one per output channel (TFLM's convention)."""
    q = w.quant
    if q.per_channel:
        require(q.scale.size == channels, op, f"filter '{w.name}' has {q.scale.size} scales for {channels} output channels")
        require(q.axis == axis, op, f"filter '{w.name}' is quantized along axis {q.axis}; expected axis {axis}")
        return q.scale.astype(np.float32)
    return np.full(channels, q.scale[0], dtype=np.float32)


def channel_multipliers(op, input_scale: float, filter_scales: np.ndarray, output_scale: float):
    """Per-channel (multiplier, shift) as TFLM computes them: everything in double."""
    mult = np.empty(filter_scales.size, dtype=np.int64)
    shift = np.empty(filter_scales.size, dtype=np.int64)
    for i, fs in enumerate(filter_scales):
        real = float(np.float32(input_scale)) * float(np.float32(fs)) / float(np.float32(output_scale))
        mult[i], shift[i] = quantize_multiplier(real)
    require(bool(np.all(shift <= 30)), op, "effective output scale (input_scale * filter_scale / output_scale) >= 2^30 not supported")
    return mult, shift


def check_scales(g, op):
    for role, tid in (("input", op.inputs[0]), ("output", op.outputs[0])):
        t = g.tensors[tid]
        require(t.scale > 0, op, f"{role} '{t.name}' has scale {t.scale}; must be positive")


def acc_may_overflow(k: int, bias: np.ndarray | None) -> bool:
    """Can an int32 accumulator (k products of int8 * (int8 - zp), plus bias) leave the int32 range?"""
    bound = k * 128 * 255 + (int(np.abs(bias.astype(np.int64)).max()) if bias is not None and bias.size else 0)
    return bound >= (1 << 31)


# ----------------------------------------------------------------------------- C binding helpers
# (also used by fully_connected.py)


def pad_rows(w: np.ndarray, multiple: int = 4) -> np.ndarray:
    """(rows, K) int8 -> (rows, K rounded up to `multiple`), zero-padded: the C kernels' weight
    rows (`w_row` bytes), so the DSP variants read 4 weights per aligned 32-bit load."""
    rows, k = w.shape
    kp = -(-k // multiple) * multiple
    out = np.zeros((rows, kp), dtype=np.int8)
    out[:, :k] = w
    return out


def rq_table(multiplier: np.ndarray, shift: np.ndarray, output_zero_point: int) -> np.ndarray:
    """tg_rq_t rows (mult, round, shifts) for the C kernels (firmware/kernels/tg_kernels.h):
    shifts = (right + 1) | (left + 1) << 8, round = 2^right + output_zp * 2^(right + 1)."""
    m = np.asarray(multiplier, dtype=np.int64).reshape(-1)
    sh = np.asarray(shift, dtype=np.int64).reshape(-1)
    left, right = np.maximum(sh, 0), np.maximum(-sh, 0)
    rnd = (np.int64(1) << right) + int(output_zero_point) * (np.int64(1) << (right + 1))
    rnd = np.where(np.abs(rnd) < (1 << 31), rnd, 0)  # out of range: the DSP shortcut is off (dsp_exact)
    return np.stack([m, rnd, (right + 1) | ((left + 1) << 8)], axis=1)


def rqx_problem(multiplier: np.ndarray, shift: np.ndarray) -> str | None:
    """Why the exact DSP requantization (tg_rqx_dsp in tg_requant.h) cannot serve these channels,
    or None when it can: it needs a right shift (TFLM shift <= -1; a zero multiplier is fine with
    any shift) of at most 31, and multipliers in [2^30, 2^31) or 0."""
    m = np.asarray(multiplier, dtype=np.int64).reshape(-1)
    sh = np.broadcast_to(np.asarray(shift, dtype=np.int64).reshape(-1), m.shape)
    live = m != 0
    bad = np.flatnonzero(live & (sh >= 0))
    if bad.size:
        return (f"channel {int(bad[0])}: effective scale >= 0.5 (left shift {int(sh[bad[0]])}); "
                f"the exact DSP requantization needs a right shift")
    bad = np.flatnonzero(live & ((sh < -31) | (m < (1 << 30)) | (m >= (1 << 31))))
    if bad.size:
        return f"channel {int(bad[0])}: multiplier {int(m[bad[0]])} / shift {int(sh[bad[0]])} out of range"
    return None


def rqx_table(multiplier: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """tg_rqx_t rows (mult, klo, khi, rm1) for the exact DSP requantization (tg_kernels.h):
    klo + 2^32 * khi = 2^30 + 2^(30 + right), rm1 = right - 1 (right = -shift >= 1; channels with a
    zero multiplier get right = 1). int32 values (klo may be 0xC0000000, stored as negative)."""
    m = np.asarray(multiplier, dtype=np.int64).reshape(-1)
    sh = np.broadcast_to(np.asarray(shift, dtype=np.int64).reshape(-1), m.shape)
    right = np.where(m == 0, 1, -sh)
    k = (np.int64(1) << 30) + (np.int64(1) << (30 + right))
    klo = k & 0xFFFFFFFF
    klo = np.where(klo >= (1 << 31), klo - (1 << 32), klo)
    khi = k >> 32
    return np.stack([m, klo, khi, right - 1], axis=1)


def left_channels(multiplier: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Live channels with an effective scale >= 0.5 (TFLM shift >= 0: a left shift)."""
    m = np.asarray(multiplier, dtype=np.int64).reshape(-1)
    sh = np.broadcast_to(np.asarray(shift, dtype=np.int64).reshape(-1), m.shape)
    return (m != 0) & (sh >= 0)


def rqxl_problem(multiplier: np.ndarray, shift: np.ndarray) -> str | None:
    """rqx_problem for CONV_2D's exact kernel with left-shifted channels (tg_conv2d_dspl_s8): right-shift
    channels as rqx_problem, left-shift channels need a shift <= 31 and 0 <= multiplier < 2^31."""
    m = np.asarray(multiplier, dtype=np.int64).reshape(-1)
    sh = np.broadcast_to(np.asarray(shift, dtype=np.int64).reshape(-1), m.shape)
    left = left_channels(m, sh)
    right = (m != 0) & ~left
    bad = np.flatnonzero(right & ((sh < -31) | (m < (1 << 30)) | (m >= (1 << 31))))
    bad = np.union1d(bad, np.flatnonzero(left & ((sh > 31) | (m < 0) | (m >= (1 << 31)))))
    if bad.size:
        return f"channel {int(bad[0])}: multiplier {int(m[bad[0]])} / shift {int(sh[bad[0]])} out of range"
    return None


def rqxl_table(multiplier: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """rqx_table with left-shifted channels (TFLM shift L >= 0) as rows {mult, INT32_MIN, 0, -(L + 1)}
    (tg_conv_pairs_l: LSL by L, two SMLALs onto 2^31, the high word; rm1 < 0 marks the row, and
    -(rm1 + 1) = L keeps TG_RQ_SHIFT_OF right for the C99 code)."""
    m = np.asarray(multiplier, dtype=np.int64).reshape(-1)
    sh = np.broadcast_to(np.asarray(shift, dtype=np.int64).reshape(-1), m.shape)
    left = left_channels(m, sh)
    rows = rqx_table(m, np.where(left, -1, sh))
    rows[left, 1] = -(1 << 31)
    rows[left, 2] = 0
    rows[left, 3] = -(sh[left] + 1)
    return rows


def rqxl_apply(acc, row) -> np.ndarray:
    """numpy model of one left-shift row of tg_conv_pairs_l (before the output zero point)."""
    a = np.asarray(acc, dtype=np.int64)
    m, klo, khi, rm1 = (int(v) for v in row)
    shl = -(rm1 + 1)
    t = ((a << shl) + (1 << 31)) % (1 << 32) - (1 << 31)  # LSL: wraps to int32
    p = 2 * t * m + ((khi << 32) + (klo & 0xFFFFFFFF))
    return p >> 32


def rqx_apply(acc, row) -> np.ndarray:
    """numpy model of tg_rqx_ref / the kernels' SMLAL sequence for int32 accumulators `acc` and one
    tg_rqx_t `row` (before the output zero point): documents and tests the arithmetic."""
    a = np.asarray(acc, dtype=np.int64)
    m, klo, khi, rm1 = (int(v) for v in row)
    p = a * m + ((khi << 32) + (klo & 0xFFFFFFFF))
    hi = p >> 32
    hi = hi - ((a < 0) & (((p & 0xFFFFFFFF) >> 31) == 0))
    return hi >> rm1


def dsp_exact(rows: np.ndarray, folded_bias: np.ndarray, multiplier: np.ndarray, shift: np.ndarray,
              output_zero_point: int) -> bool:
    """Is the C kernels' DSP requantization (tg_rq_dsp in tg_requant.h) exact for every output of
    these filters? rows: (channels, taps) int8 weights; multiplier/shift: per channel or one.

    With A = 128 * sum|w| + |bias| >= |acc| (inputs and padded taps are int8): needs
    A * 2^(left+1) < 2^31 (SMMULR of the doubled accumulator) and, with |y| <= A * 2^left,
    2|y| + 2^right + 1 + |zp| * 2^(right+1) < 2^31 (the rounding sum)."""
    n = rows.shape[0]
    a = 128 * np.abs(rows.astype(np.int64)).sum(axis=1) + np.abs(np.asarray(folded_bias, dtype=np.int64))
    sh = np.broadcast_to(np.asarray(shift, dtype=np.int64).reshape(-1), (n,))
    m = np.broadcast_to(np.asarray(multiplier, dtype=np.int64).reshape(-1), (n,))
    left, right = np.maximum(sh, 0), np.maximum(-sh, 0)
    if np.any(left > 29) or np.any(right > 29) or np.any(m < 0) or np.any(m >= (1 << 31)):
        return False
    lim = 1 << 31
    ok = (a << (left + 1)) < lim
    ok &= 2 * (a << left) + (np.int64(1) << right) + 1 + abs(int(output_zero_point)) * (np.int64(1) << (right + 1)) < lim
    return bool(np.all(ok))


# The column kernel from this depth multiplier on (below it, the ring kernel: see dw_columns).
DW_COLUMNS_MIN_DM = 4


def dw_regs(p: "ConvParams") -> bool:
    """Does the depthwise op take the register kernel (tg_dwconv_dmr_s8, `w_row` = -3): 3x3 filter, depth
    multiplier 2 or 3, at least 4 input channels, any stride, dilation and padding. It reads the int8 input
    directly (one word = 4 input channels of a tap, widened in registers with SXTB16) and meets each input
    value with 2 of its dm filters (8 SMLABB/SMLATT per tap, 14 instructions per 8 MACs); its only scratch is
    a row of input_zp bytes for the padded taps (in_c rounded up to 4 bytes), so it needs no trade between
    speed and RAM. Measured (benchmarks/mcu_bench.py, tinymaix MNIST 7x7x16 -> 7x7x32 dm 2): 0.05
    MAC/instruction on the column kernel, 0.18 on the ring kernel, this one: see README."""
    kh, kw = p.filter_hw
    return p.depth_multiplier in (2, 3) and (kh, kw) == (3, 3) and p.input_shape[3] >= 4


def dw_reg_c(p: "ConvParams") -> bool:
    """Does the register kernel need its C code (tg_dwconv_dmrl_s8 rather than tg_dwconv_dmr_s8, which
    links none): a partial group of 4 input channels, or a channel with a left shift (effective scale >= 0.5)."""
    return bool(p.input_shape[3] % 4) or bool(np.any(left_channels(p.multiplier, p.shift)))


def dw_columns(p: "ConvParams") -> bool:
    """Does the depthwise op take the column kernel (each input channel's window is gathered as int16
    columns and met by its dm filters) rather than the ring kernel (tg_dwconv.c)? The gather costs about
    10 instructions per tap and pixel whatever dm, so it pays only where many filters share it: from
    depth multiplier DW_COLUMNS_MIN_DM on. Below (e.g. dm 2 on a 5x5 filter), the ring kernel, whose rows
    hold input channel (4g + j) / dm in lane j, unless the planner asked for less scratch (`low_ram`: the
    column kernel needs 4 x taps bytes). 3x3 layers with depth multiplier 2-3 take the register kernel
    (dw_regs)."""
    if dw_regs(p):
        return False
    dm = p.depth_multiplier
    return dm >= DW_COLUMNS_MIN_DM or (dm >= 2 and p.low_ram)


# The ring kernel's scratch budget: this share of the op's input + output bytes (both are live
# while it runs, so the arena bound is at least their sum: the scratch stays within its 5 % slack).
DW_RING_SHARE = 0.04


def _dw_geometry_rows(p: "ConvParams") -> dict:
    """dw_geometry before the pair kernel's transposition (dw_transposed)."""
    _, h, w, _ = p.input_shape
    _, oh, ow, _ = p.output_shape
    kh, kw = p.filter_hw
    g = dict(in_h=h, in_w=w, out_h=oh, out_w=ow, k_h=kh, k_w=kw, stride_h=p.stride[0], stride_w=p.stride[1],
             dil_h=p.dilation[0], dil_w=p.dilation[1], pad_top=p.padding[0], pad_left=p.padding[1])
    if w == ow == kw == 1 and h > 1:
        g.update(in_h=1, in_w=h, out_h=1, out_w=oh, k_h=1, k_w=kh, stride_h=1, stride_w=p.stride[0], dil_h=1,
                 dil_w=p.dilation[0], pad_top=0, pad_left=p.padding[0])
    return g


def _dw_swap(g: dict) -> dict:
    """The geometry of the transposed image (rows <-> columns)."""
    t = dict(g)
    for a, b in (("in_h", "in_w"), ("out_h", "out_w"), ("k_h", "k_w"), ("stride_h", "stride_w"), ("dil_h", "dil_w"),
                 ("pad_top", "pad_left")):
        t[a], t[b] = g[b], g[a]
    return t


def _dw_pair_rows_ok(g: dict, fast: bool = True) -> bool:
    """3x3, dilation 1 along the row, stride 1 or 2 along it: the pair kernel can run the layer this way
    round (any width). `fast`: and its rows are wide enough for it to beat the SMLABB ring kernel, measured
    (benchmarks/mcu_bench.py, trained VWW / tinymaix MobileNetV1): from 4 output columns at stride 1 (6x6:
    0.29 -> 0.34 MAC/instruction), 8 at stride 2 (12 columns: 0.25 -> 0.27; 6 columns: 3 % slower);
    narrower rows waste a phantom pixel and the per-row set-up."""
    if g["k_h"] != 3 or g["k_w"] != 3 or g["dil_w"] != 1 or g["stride_w"] not in (1, 2):
        return False
    if not fast:
        return True
    return (g["stride_w"] == 1 and g["out_w"] >= 4) or (g["stride_w"] == 2 and g["out_w"] >= 8)


def _dw_passes(g: dict) -> int:
    """The 2-pixel pass's passes over a channel group at stride 1 (ceil(out_w / 2) per row): transposed where that
    is fewer (an odd row width wastes a phantom pixel per row), measured on mltk MobileNetV2 (mcu_bench, per layer):
    8x7 -> 7x8 0.446 -> 0.464, 30x25 0.480 -> 0.487, 15x13 0.474 -> 0.478."""
    return -(-g["out_w"] // 2) * g["out_h"]


def _dw_pair_orientation(p: "ConvParams") -> str | None:
    """How the pair kernel would run the layer: "rows", "cols" (transposed, dw_transposed) or None (it
    cannot: depth multiplier != 1, not 3x3, a partial group of 4 channels). Channels with a left shift
    (effective scale >= 0.5) are fixed up in C row by row (tg_dwconv_p3l_s8, dw_kernel)."""
    if p.depth_multiplier != 1 or p.output_shape[3] % 4:
        return None
    g = _dw_geometry_rows(p)
    if _dw_tiny_shape(g) and dw_tiny(p):  # the tiny-image kernel's rows
        return "rows"
    t = _dw_swap(g)
    gf, tf = _dw_pair_rows_ok(g), _dw_pair_rows_ok(t)
    if gf and tf and g["stride_w"] == t["stride_w"] == 2:  # stride 2 both ways: the way the 4-pixel kernel takes
        rows4, cols4 = _dw_pair2_width_ok(g["out_w"]), _dw_pair2_width_ok(t["out_w"])
        if rows4 != cols4:
            return "cols" if cols4 else "rows"
    if tf and (not gf or t["out_w"] >= 2 * g["out_w"]):
        return "cols"
    if gf and tf and g["stride_w"] == t["stride_w"] == 1 and _dw_passes(t) < _dw_passes(g):
        return "cols"
    if gf or _dw_pair_rows_ok(g, fast=False):
        return "rows"
    return "cols" if _dw_pair_rows_ok(t, fast=False) else None


def dw_transposed(p: "ConvParams") -> bool:
    """Does the pair kernel run this layer transposed (`w_row` = -2): its rows are too narrow or its
    columns at least twice as long (e.g. 25x5 KWS layers, 5 columns), so the kernel walks the image column
    by column (a ring of 3 columns, pixel pairs along a column, the filter transposed): fewer, longer passes.
    Measured on the 25x5 layers: 0.24-0.29 MAC/instruction on the ring kernel, 0.34-0.37 transposed."""
    return _dw_pair_orientation(p) == "cols"


def dw_geometry(p: "ConvParams") -> dict:
    """The depthwise op's window geometry as the C kernels get it. A layer one column wide (input,
    output and filter width 1, e.g. a temporal convolution over [T, 1, C]) is passed transposed:
    [1, T, C] has the same bytes in NHWC, and its filter taps keep their order, so the kernels see
    one long row (a ring of one row) instead of T rows of one pixel each. A layer the pair kernel runs
    transposed (dw_transposed) has rows and columns swapped (the kernel addresses NHWC accordingly)."""
    g = _dw_geometry_rows(p)
    if p.pair_kernel and dw_transposed(p):
        g = _dw_swap(g)
    return g


def dw_pair_possible(p: "ConvParams") -> bool:
    """Can the ring kernel's 3x3 pair layout (tg_dwconv.c, `w_row` = -1, or -2 transposed) run this layer:
    3x3, depth multiplier 1, stride 1 or 2 and dilation 1 along the row (or along the column), whole groups
    of 4 channels (left-shift channels are redone in C: tg_dwconv_p3l_s8). The ring then holds each channel's row as int16 pixel pairs, and the
    filter rows are (w0, w1), (w1, w2) pairs, so that SMLAD does two taps of one channel: 2 output pixels x
    3 taps in 2 SMLAD + 2 SMLAxy."""
    return _dw_pair_orientation(p) is not None


def dw_pairs3(p: "ConvParams") -> bool:
    """dw_pair_possible, and faster there than the SMLABB ring kernel (rows, or columns, wide enough)."""
    o = _dw_pair_orientation(p)
    if o is None:
        return False
    g = _dw_geometry_rows(p)
    return _dw_pair_rows_ok(g if o == "rows" else _dw_swap(g))


# Filter widths of the k x k pair kernel (dw_kpairs): square 5x5 / 7x7 filters, and filters one row high (1 x k, e.g.
# a temporal k x 1 convolution over [T, 1, C], which dw_geometry passes as one row) up to 9 wide. A pass reads at
# most DW_KPAIR_MAX_NPR pairs of a filter row (_dw_kpair_npr: 9 wide at stride 2 reads 6).
DW_KPAIR_SIZES = (5, 7)
DW_KPAIR_ROW_SIZES = (5, 7, 9)
DW_KPAIR_MAX_NPR = 6


def dw_kpairs(p: "ConvParams") -> bool:
    """Can the k x k pair kernel (tg_dwconv.c tg_dwk_pairs, entry tg_dwconv_pk_s8, `w_row` = -6) run this layer:
    a square 5x5 or 7x7 filter, or one row of 5, 7 or 9 taps as dw_geometry passes it (1 x k, and temporal k x 1
    filters over [T, 1, C]; at most DW_KPAIR_MAX_NPR pairs per pass), depth multiplier 1, stride 1 or 2 and
    dilation 1 along the row (any along the column), whole groups of 4 channels, every channel requantized by SMMLAR on doubled accumulators
    (dw_pair_smmlar_ok: |bias| + 128 * sum|w| < 2^30, a right shift; the kernel has no SMLAL rows and no C
    fix-up, which keeps it small: a dead channel with a huge bias, or a left shift, keeps the layer on the SMLABB
    ring kernel). The ring holds the 3x3 pair kernel's pixel pairs, and
    each pair of a filter row meets two weight words per channel (one SMLAD for each of the pass's 2 output
    pixels): k + 1 multiplies per 2k multiply-accumulates at stride 1, where the SMLABB kernel needs 2k. Faster
    than the SMLABB kernel at every width measured (benchmarks/mcu_bench.py: MCUNet's and YOLO-fastest's 5x5 and
    7x7 layers, 3 to 12 output columns; mltk on/off's 9x1 layers 0.14 -> 0.38 MAC/instruction; see README)."""
    if p.depth_multiplier != 1 or p.output_shape[3] % 4:
        return False
    g = _dw_geometry_rows(p)
    square = g["k_h"] == g["k_w"] and g["k_w"] in DW_KPAIR_SIZES
    if not (square or g["k_h"] == 1 and g["k_w"] in DW_KPAIR_ROW_SIZES) or g["dil_w"] != 1 or g["stride_w"] not in (1, 2):
        return False
    if _dw_kpair_npr(p) > DW_KPAIR_MAX_NPR:
        return False
    # a left padding of 2-4 (5x5 / 7x7 / 1x9 SAME): the ring rows are widened as if padded by 1 or 0, 1 or 2 pairs
    # further on, so the input row must end inside the ring (SAME pads the right at least as much: always)
    passes = (g["out_w"] + 1) // 2
    np_ = (2 * passes if g["stride_w"] == 2 else passes) + (g["k_w"] - 1) // 2
    if g["pad_left"] > 4 or (g["pad_left"] >= 2 and g["in_w"] + g["pad_left"] > 2 * np_):
        return False
    return bool(_dw_kpair_rq(p)[3].all())


def _dw_kpair_rq(p: "ConvParams"):
    """(folded bias, weights (taps, oc), multiplier, SMMLAR-ok per channel) of a depthwise op, int64."""
    from tinygen.model.fixedpoint import wrap_int32

    oc = p.output_shape[3]
    w = p.weights.reshape(-1, oc).astype(np.int64)
    bias = np.asarray(wrap_int32(p.folded_bias), dtype=np.int64).reshape(-1)
    mult = np.broadcast_to(np.asarray(p.multiplier, dtype=np.int64).reshape(-1), (oc,)).copy()
    shift = np.broadcast_to(np.asarray(p.shift, dtype=np.int64).reshape(-1), (oc,)).copy()
    rq = dw_rq_rows(mult, shift)
    return bias, w, (mult, shift), dw_pair_smmlar_ok(bias, w.T, rq, int(p.output_zero_point))


def _dw_kpair_npr(p: "ConvParams") -> int:
    """Pairs of a filter row a pass of the k x k pair kernel reads: m + 1 at stride 1, m + 2 at stride 2
    (m = (k - 1) / 2, k the filter width as dw_geometry passes it)."""
    g = _dw_geometry_rows(p)
    return (g["k_w"] - 1) // 2 + 1 + (g["stride_w"] == 2)


def dw_kpair_blocks(p: "ConvParams") -> np.ndarray:
    """Parameter blocks of the k x k pair kernel (dw_kpairs; tg_dwconv.c tg_dwk_pairs, `w_row` = -6): per group of
    4 output channels two halves (channels c0, c1 then c2, c3) of 12 + 4 * k_h * npr int32 words (npr:
    _dw_kpair_npr), requantized as dw_pair_blocks's SMMLAR groups (every group: dw_kpairs; weights and bias
    doubled, rows {m, C, r, 0}). A half: bias of its two channels twice (pixels A, B), then per
    filter row ky and pair i: WA, WB of the first channel, WA, WB of the second, each two int16 weights (first in
    the low half): stride 1, WA_i = (w[2i], w[2i + 1]), WB_i = (w[2i - 1], w[2i]); stride 2, WA_i as at stride 1,
    WB_i = (w[2i - 2], w[2i - 1]); w[j] = 0 outside the filter; then the two channels' rows."""
    g = _dw_geometry_rows(p)  # (a temporal k x 1 filter as one row of k taps: the same taps in the same order)
    kh, kw = g["k_h"], g["k_w"]
    oc = p.output_shape[3]
    assert oc % 4 == 0 and dw_kpairs(p), "k x k pair layout for a layer dw_kpairs refuses"
    groups = oc // 4
    npr = _dw_kpair_npr(p)
    bias, w, (mult, shift), _ = _dw_kpair_rq(p)
    rq = dw_smmlar_rows(mult, shift, int(p.output_zero_point)).reshape(groups, 2, 8)
    w, bias = w * 2, bias * 2  # |bias| + 128 * sum|w| < 2^30: no wrap
    # w[j] at index j + 2 (zeros around the filter)
    wz = np.zeros((groups, 4, kh, kw + 6), dtype=np.int64)
    wz[..., 2:kw + 2] = w.reshape(kh, kw, groups, 4).transpose(2, 3, 0, 1)
    i = np.arange(npr)
    lo = lambda v: v & 0xFFFF  # noqa: E731
    wa = lo(wz[..., 2 * i + 2]) | (lo(wz[..., 2 * i + 3]) << 16)  # (groups, 4, kh, npr)
    b0 = 2 * i + (1 if g["stride_w"] == 1 else 0)
    wb = lo(wz[..., b0]) | (lo(wz[..., b0 + 1]) << 16)
    pairs = np.stack([wa, wb], axis=-1)  # (groups, 4, kh, npr, 2)
    halves = pairs.reshape(groups, 2, 2, kh, npr, 2).transpose(0, 1, 3, 4, 2, 5).reshape(groups, 2, 4 * kh * npr)
    halves = np.where(halves >= (1 << 31), halves - (1 << 32), halves)
    b = bias.reshape(groups, 2, 2)
    words = np.concatenate([b[:, 0], b[:, 0], halves[:, 0], rq[:, 0], b[:, 1], b[:, 1], halves[:, 1], rq[:, 1]],
                           axis=1)
    assert words.shape[1] == 2 * (12 + 4 * kh * npr)
    return words.astype(np.int32)


# The pair layout's per-group parameter block, int32 words: bias c0, c1, c0, c1, 12 weight words of
# c0/c1, bias c2, c3, c2, c3, 12 weight words of c2/c3, 4 requantization rows, a mode word (dw_pair_blocks).
DW_PAIR_BLOCK = 49

# The pair kernel only where such layers carry this share of the model's ring-kernel depthwise MACs.
DW_PAIR_SHARE = 0.75


def dw_model_pairs(p: "ConvParams", graph, impl) -> bool:
    """Does this op of `graph` take the 3x3 pair kernel? Only where the model's dw_pairs3 layers carry
    >= DW_PAIR_SHARE of the MACs of its depthwise ops with depth multiplier 1: a model that would link both
    ring kernels for little gain keeps the SMLABB one alone (kernels + runtime <= 12 KB; measured:
    mltk_kws_mobilenetv2 14.5 KB with both). There, the dw_pairs3 layers take it, and so do the other layers
    it can run (dw_pair_possible: small 3x3 layers, a little slower) unless some layer needs the SMLABB
    kernel anyway, so that a firmware links one ring kernel where it can. Decided once at prepare time
    (ConvParams.pair_kernel), so that the generated code, inspect and generate report the same kernel
    (dw_kernel)."""
    if not (dw_pair_possible(p) or dw_kpairs(p)):
        return False
    pairs, needs_ring, _ = _dw_model_scan(graph, impl)
    if not pairs:
        return False
    return dw_pairs3(p) or dw_kpairs(p) or not needs_ring


def _dw_model_scan(graph, impl) -> tuple[bool, bool, bool]:
    """The model's depthwise ops with depth multiplier 1, once per graph (cached): (the pair kernels' layers
    carry >= DW_PAIR_SHARE of their MACs, some layer needs the SMLABB kernel, the model is mostly 5x5 / 7x7
    layers on the k x k pair kernel: its 3x3 layers carry less than half of those MACs)."""
    cache = graph.__dict__.setdefault("_tg_dw_model", {})
    if "scan" not in cache:
        total = fast = mac3 = 0
        needs_ring = kk = False
        for op in graph.operators:
            if op.op == "DEPTHWISE_CONV_2D" and op.options.get("depth_multiplier", 1) == 1:
                q = impl._prepare_op(graph, op)
                n = int(np.prod(q.output_shape)) * q.filter_hw[0] * q.filter_hw[1]
                total += n
                fast += n if dw_pairs3(q) or dw_kpairs(q) else 0
                needs_ring = needs_ring or not (dw_pair_possible(q) or dw_kpairs(q))
                kk = kk or dw_kpairs(q)
                mac3 += n if q.filter_hw == (3, 3) else 0
        pairs = total > 0 and fast >= DW_PAIR_SHARE * total
        cache["scan"] = (pairs, needs_ring, pairs and kk and 2 * mac3 < total)
    return cache["scan"]


def dw_model_pair2(graph, impl) -> bool:
    """May the model's stride-2 layers take the stride-2 4-pixel pair kernel (dw_pair2)? Not in a model mostly of
    5x5 / 7x7 layers on the k x k pair kernel (its 3x3 layers less than half of the depthwise MACs): there the
    two add ~1.8 KB and ~1.1 KB of code to the 3x3 pair kernel, past the 12 KB kernels + runtime budget, for
    little (MCUNet at 2fc42d9: 13,032 B with both, 11,118 B without, the 4-pixel kernel's code 1,910 B; its 42 -> 20
    layer 0.402 on the 4-pixel kernel, 0.374 on the 2-pixel pass at 68b182e: ~0.2 % of the model's instructions).
    Models mostly of 3x3 layers keep it (YOLO-fastest: its stride-2 layers 8.7-10.5 % faster with it, 11,174 ->
    12,998 B)."""
    return not _dw_model_scan(graph, impl)[2]


# The stride-2 pair kernel on rows of at least this many output columns, a multiple of 4 (whole blocks) or 3
# more (a last block over the row's last 4 pixels, overlapping: tg_dwconv_p3s2p_s8), in layers of at least this many MACs (its
# ~2.4 KB of code against the 12 KB budget: a smaller layer saves a few thousand instructions), or smaller
# ones in a model that has such a layer on it anyway (ConvParams.pair2_small: the code is linked already).
DW_PAIR2_MIN_W = 4
DW_PAIR2_MIN_MACS = 30_000


def _dw_pair2_width_ok(out_w: int) -> bool:
    """Rows the stride-2 4-pixel kernel beats the 2-pixel pass on, measured (mcu_bench, per layer): whole
    blocks of 4 output pixels (4, 8: mltk MobileNetV2 9x9 -> 4x4 0.308 -> 0.337, 17x15 -> 8x7 0.344 -> 0.386),
    or whole blocks and a partial last one of 3 (15: mltk 31x27 -> 15x13 transposed 0.337 -> 0.365; at least 2
    whole ones: rows of 7, MobileNetV2-224's 14 -> 7, would link the partial block's ~450 B of code past the
    12 KB budget for a layer of 14 passes per row). The last block now overlaps the whole ones (tg_dws2_part: the
    row's last 4 pixels, one widening; 15x13 0.362 -> 0.368). Rows of 4 nb + 1 or 2 pixels were measured slower
    with a partial last block of 1-2 pixels widened pair by pair (25: MicroNet-M 0.348 -> 0.307, 13: DS-CNN-L 0.336
    -> 0.286, 6: 0.343 -> 0.276), and with the overlapping block still are (7b7af54, their stride-2 layers: DS-CNN-L
    0.367 -> 0.274, its arena past 1.05x the bound; MicroNet-M 0.371 -> 0.301)."""
    return out_w >= DW_PAIR2_MIN_W and (out_w % 4 == 0 or out_w % 4 == 3 and out_w >= 11)


def dw_model_pair2_small(graph, impl) -> bool:
    """Does the model have a stride-2 layer of >= DW_PAIR2_MIN_MACS on the 4-pixel kernel (so that its smaller
    stride-2 layers may take it too: no more code)? Once per graph (cached)."""
    cache = graph.__dict__.setdefault("_tg_dw_model", {})
    if "pair2_small" not in cache:
        cache["pair2_small"] = False
        ok = dw_model_pair2(graph, impl)
        for op in graph.operators:
            if ok and op.op == "DEPTHWISE_CONV_2D" and op.options.get("depth_multiplier", 1) == 1:
                q = impl._prepare_op(graph, op)
                q.pair_kernel = dw_model_pairs(q, graph, impl)
                if q.pair_kernel and dw_pair2_shape(q) and 9 * int(np.prod(q.output_shape)) >= DW_PAIR2_MIN_MACS:
                    cache["pair2_small"] = True
                    break
    return cache["pair2_small"]


def dw_pair2(p: "ConvParams") -> bool:
    """Does the stride-2 pair kernel (tg_dwconv_p3s2_s8 on a DSP target: dw_pair2_blocks, one channel x 4
    output pixels per pass; tg_dwconv_p3s2p_s8 where the rows end with a partial block) run this layer: the
    pair kernel at stride 2 along rows of 4 nb or 4 nb + 3 output pixels (_dw_pair2_width_ok), in layers of >=
    DW_PAIR2_MIN_MACS or in a model that links the kernel anyway (ConvParams.pair2_small). Other stride-2 rows
    keep the 2-pixel pass of tg_dwconv_p3_s8: measured (mcu_bench, corpus), the 4-pixel blocks lose there (a
    partial last block of 1-2 pixels, pairs with padding widened one by one, see _dw_pair2_width_ok), and the
    kernel would add ~2.4 KB of code to models without a layer it speeds up (the 12 KB budget)."""
    if not p.pair_kernel or not p.pair2_ok:  # (dw_model_pair2: not next to the k x k pair kernel)
        return False
    return dw_pair2_shape(p)


def dw_pair2_shape(p: "ConvParams") -> bool:
    """dw_pair2's layer conditions (the model-wide one: ConvParams.pair2_ok, dw_model_pair2)."""
    g = dw_geometry(p)
    macs = 9 * int(np.prod(p.output_shape))
    return ((g["k_h"], g["k_w"], g["stride_w"]) == (3, 3, 2) and _dw_pair2_width_ok(g["out_w"])
            and (macs >= DW_PAIR2_MIN_MACS or p.pair2_small) and not dw_kpairs(p))


def dw_kernel(p: "ConvParams") -> str:
    """The C entry point (tg_dwconv.c) the generated code calls for this depthwise op: the one decision
    emit_c and kernel_variant (inspect, generate, mcu_bench) share."""
    if dw_regs(p):
        return "tg_dwconv_dmrl_s8" if dw_reg_c(p) else "tg_dwconv_dmr_s8"
    if dw_columns(p):
        return "tg_dwconv_dm_s8"
    if dw_tiny(p):
        return "tg_dwconv_p3t_s8"  # 3x3 SAME on images 4 or 2 pixels wide (its own code: any model)
    if p.pair_kernel:
        if dw_kpairs(p):
            return "tg_dwconv_pk_s8"
        if dw_pair2(p):
            # left-shift channels in its assembly too: groups with SMLAL rows (tg_dws2_rq_other linked) or rows
            # ending with a partial block (tg_dws2_part linked) take their own entry points
            if (dw_pair2_blocks(p)[:, 0] != DW_PAIR_SMMLAR).any():
                return "tg_dwconv_p3s2x_s8"
            return "tg_dwconv_p3s2p_s8" if dw_geometry(p)["out_w"] % 4 else "tg_dwconv_p3s2_s8"
        if dw_pair_c_channels(p):
            return "tg_dwconv_p3l_s8"  # left-shift channels fixed up in C row by row (either stride)
        if (dw_pair_blocks(p)[:, 48] != DW_PAIR_SMMLAR).any():
            return "tg_dwconv_p3x_s8"  # SMLAL or flagged SMMLAR groups (tg_dw_rq_other linked; either stride)
        if dw_small_rows(p):
            return "tg_dwconv_p3q_s8"  # rows of 2-6 pixels with a left edge (tg_dw_widen_small linked)
        if dw_fast(p):
            return f"tg_dwconv_p3f{dw_geometry(p)['stride_w']}_s8"  # the fast pass of its stride linked
        return "tg_dwconv_p3_s8"  # (stride 1, or 2 on narrow rows)
    return "tg_dwconv_s8"


# The 2-pixel pass's fast copies (tg_dwconv_p3f1_s8 / tg_dwconv_p3f2_s8, tg_dw3x3_fast1 / 2: the pass with the SMMLAR
# requantization, the packing and the store inline, no jumps: 2 instructions fewer per pass, ~520 / ~560 B of code
# each) for the layers whose groups are all SMMLAR and whose act range is [-128, 127], in a model that links neither
# the stride-2 4-pixel kernel nor the k x k pair kernel (those models are near the 12 KB budget: zoo / VWW MobileNetV1,
# mltk MobileNetV2, MobileNetV2 224, MCUNet), per stride where such layers carry at least this many MACs.
DW_FAST_MIN_MACS = 100_000


def dw_fast(p: "ConvParams") -> bool:
    """Does this 3x3 layer on the 2-pixel pass take its stride's fast pass (dw_model_fast: ConvParams.fast_strides)?"""
    return dw_fast_shape(p) in p.fast_strides


def dw_fast_shape(p: "ConvParams") -> int:
    """The stride of a layer the fast pass could run (the plain 2-pixel pass's entry, tg_dwconv_p3_s8, without a
    clamp: every group SMMLAR, act range [-128, 127]), else 0."""
    if not p.pair_kernel or dw_kpairs(p) or dw_pair2(p) or dw_pair_c_channels(p) or dw_small_rows(p) or dw_tiny(p):
        return 0
    if (dw_pair_blocks(p)[:, 48] != DW_PAIR_SMMLAR).any() or p.act_min > -128 or p.act_max < 127:
        return 0
    return dw_geometry(p)["stride_w"]


def dw_model_fast(graph, impl) -> frozenset:
    """The strides whose 3x3 layers take the fast pass (dw_fast): none in a model with a layer on the stride-2
    4-pixel kernel or the k x k one; else those whose fast-pass layers carry >= DW_FAST_MIN_MACS. Once per graph
    (cached)."""
    cache = graph.__dict__.setdefault("_tg_dw_model", {})
    if "fast" not in cache:
        macs: dict[int, int] = {}
        big = False
        for op in graph.operators:
            if op.op == "DEPTHWISE_CONV_2D" and op.options.get("depth_multiplier", 1) == 1:
                q = _dw_model_op(graph, impl, op)
                q.small_ok = dw_model_small(graph, impl)
                if q.pair_kernel and (dw_kpairs(q) or dw_pair2(q)):
                    big = True
                    break
                s_ = dw_fast_shape(q)
                if s_:
                    macs[s_] = macs.get(s_, 0) + 9 * int(np.prod(q.output_shape))
        cache["fast"] = frozenset() if big else frozenset(s_ for s_, n in macs.items() if n >= DW_FAST_MIN_MACS)
    return cache["fast"]


# Image widths of the tiny-image kernel (dw_tiny).
DW_TINY_WIDTHS = (2, 4)


def dw_tiny(p: "ConvParams") -> bool:
    """Does the tiny-image kernel (tg_dwconv.c tg_dwconv_tiny, entry tg_dwconv_p3t_s8, `w_row` = -7, dw_tiny_blocks)
    run this layer: 3x3 SAME at stride 1, dilation 1, on an image 4 or 2 pixels wide (any height; the late layers of
    small MobileNets, 4x4 and 2x2), not transposed, every group requantized by SMMLAR (dw_pair2_blocks' mode words),
    act range [-128, 127]. The whole image is widened once per group of 4 channels with the input zero point
    subtracted, so the padded taps are skipped instead of computed: mltk MobileNetV2's 4x4x96 layers 334 -> ~230
    instructions per channel (the ring kernel's 2-pixel passes spend a pass's set-up on 2 pixels and a widened
    padding pair per row)."""
    if p.depth_multiplier != 1 or p.output_shape[3] % 4 or not _dw_tiny_shape(_dw_geometry_rows(p)):
        return False
    if p.act_min > -128 or p.act_max < 127:
        return False
    # every channel within the SMMLAR bound (dw_pair2_blocks' mode words; independent of the orientation)
    from tinygen.model.fixedpoint import wrap_int32

    oc = p.output_shape[3]
    mult = np.broadcast_to(np.asarray(p.multiplier, dtype=np.int64).reshape(-1), (oc,))
    shift = np.broadcast_to(np.asarray(p.shift, dtype=np.int64).reshape(-1), (oc,))
    bias = np.asarray(wrap_int32(p.folded_bias), dtype=np.int64).reshape(-1)
    w = p.weights.reshape(-1, oc).astype(np.int64)
    return bool(dw_pair_smmlar_ok(bias, w.T, dw_rq_rows(mult, shift), int(p.output_zero_point)).all())


def _dw_tiny_shape(g: dict) -> bool:
    """The tiny-image kernel's geometry (dw_tiny): 3x3 SAME, stride and dilation 1, rows of 2 or 4 pixels (its
    layers are never transposed: _dw_pair_orientation)."""
    return ((g["k_h"], g["k_w"], g["stride_h"], g["stride_w"], g["dil_h"], g["dil_w"], g["pad_top"], g["pad_left"])
            == (3, 3, 1, 1, 1, 1, 1, 1) and g["in_w"] in DW_TINY_WIDTHS and g["out_w"] == g["in_w"]
            and g["out_h"] == g["in_h"])


def dw_tiny_blocks(p: "ConvParams") -> np.ndarray:
    """The tiny-image kernel's parameter blocks (dw_tiny): dw_pair2_blocks' words with each channel's raw bias
    (TFLM's, without the folded -input_zp * sum(w) term: the kernel subtracts the zero point from the input and
    skips padded taps) doubled like its weights (wrapped; the sum is exact mod 2^32 and within dw_pair_smmlar_ok's
    bound at the end). The C99 path (tg_dw_bias) folds it back."""
    from tinygen.model.fixedpoint import wrap_int32

    blocks = dw_pair2_blocks(p).astype(np.int64)
    oc = p.output_shape[3]
    raw = np.zeros(oc, dtype=np.int64) if p.bias is None else np.asarray(p.bias, dtype=np.int64).reshape(-1)
    ch = blocks[:, 1:].reshape(oc // 4, 4, DW_PAIR2_CH)
    ch[:, :, 0] = np.asarray(wrap_int32(2 * raw), dtype=np.int64).reshape(oc // 4, 4)
    blocks[:, 1:] = ch.reshape(oc // 4, 4 * DW_PAIR2_CH)
    return blocks.astype(np.int32)


def dw_small_rows(p: "ConvParams") -> bool:
    """Are the 3x3 pair kernel's ring rows (stride 1) rows of 2-6 input pixels with a left edge: (zp, x0),
    (x1, x2), (x3, zp) / (zp, x0), (x1, x2), (zp, zp) / (zp, x0), (x1, zp), and the 5 / 6 pixel ones (3x3 SAME on
    2-6 pixel rows, the late layers of MobileNets)? Such rows are widened straight on, group after group
    (tg_dw_widen_small, entry point tg_dwconv_p3q_s8: only models with such layers link its ~270 B). The plan of
    tg_dwconv.c's tg_dw_row_plan: pairs [q0, q1) of two input pixels, the edges."""
    return p.small_ok and dw_small_rows_shape(p)


def dw_small_rows_shape(p: "ConvParams") -> bool:
    """dw_small_rows' layer conditions (the model-wide one: ConvParams.small_ok, dw_model_small)."""
    if not p.pair_kernel or dw_kpairs(p) or dw_pair2(p) or dw_tiny(p):
        return False
    g = dw_geometry(p)
    if g["stride_w"] != 1 or g["pad_left"] != 1:
        return False
    np_ = (g["out_w"] + 1) // 2 + 1
    q1 = min((g["in_w"] + 1) >> 1, np_)
    q0 = min(1, q1)
    r1 = int(q1 < np_ and 2 * q1 - 1 < g["in_w"])
    edges = q0 | (r1 << 1) | ((np_ - q1 - r1) << 8)
    return (edges, q1 - q0) in ((3, 0), (3, 1), (3, 2), (0x101, 1), (0x101, 2))


def _dw_model_op(graph, impl, op) -> "ConvParams":
    """A depthwise op's params with the model-wide pair-kernel choices the scans below depend on (prepare's, without
    small_ok / fast_strides: the scans that decide those)."""
    q = impl._prepare_op(graph, op)
    q.pair_kernel = dw_model_pairs(q, graph, impl)
    q.pair2_ok = dw_model_pair2(graph, impl)
    q.pair2_small = q.pair2_ok and dw_model_pair2_small(graph, impl)
    return q


def dw_model_small(graph, impl) -> bool:
    """May the model's layers on rows of 2-6 pixels take tg_dwconv_p3q_s8 (dw_small_rows: ~300 B of code)? Not in
    a model that links the stride-2 4-pixel kernel's partial blocks (a layer on dw_pair2 whose rows are not whole
    blocks: tg_dwconv_p3s2p_s8 / tg_dwconv_p3s2x_s8): with both, mltk MobileNetV2 takes 12,466 B of kernels +
    runtime, past the 12 KB budget (its 31x27 -> 15x13 layer gains ~19 k instructions there, its 4x4 / 2x2
    layers ~10 k here). Once per graph (cached)."""
    cache = graph.__dict__.setdefault("_tg_dw_model", {})
    if "small" not in cache:
        cache["small"] = True
        for op in graph.operators:
            if op.op == "DEPTHWISE_CONV_2D" and op.options.get("depth_multiplier", 1) == 1:
                q = _dw_model_op(graph, impl, op)
                if q.pair_kernel and dw_pair2(q) and dw_geometry(q)["out_w"] % 4:
                    cache["small"] = False
                    break
    return cache["small"]


def dw_pair_c_channels(p: "ConvParams") -> int:
    """The pair kernel's left-shift channels that its assembly cannot requantize (dw_pair_left_kinds: the bound
    fails, or a right-shift channel of their group keeps it on SMLAL): redone in C row by row."""
    if not left_channels(p.multiplier, p.shift).any():
        return 0
    return int(np.count_nonzero(dw_pair_blocks(p)[:, 32:48].reshape(-1, 4)[:, 3] < 0))


def _dw_ring_dims(p: "ConvParams") -> tuple[int, int, int]:
    """Ring kernel: (ring rows R, padded row width wp, groups of 4 channels per block)."""
    g = dw_geometry(p)
    rows = (g["k_h"] - 1) * g["dil_h"] + 1
    wp = (g["out_w"] - 1) * g["stride_w"] + (g["k_w"] - 1) * g["dil_w"] + 1
    groups = -(-p.output_shape[3] // 4)
    in_out = int(np.prod(p.input_shape)) + int(np.prod(p.output_shape))
    block = int(max(1, min(groups, DW_RING_SHARE * in_out // (rows * wp * 8))))
    if p.ring_block is not None:  # the planner's choice (plan_memory: scratch grown into the plan's holes)
        block = int(max(1, min(groups, p.ring_block)))
    if p.pair_kernel and dw_kpairs(p):
        # pixel pairs: one per pass (stride 1) or two (stride 2), + m read ahead (tg_dwconv_kpairs)
        passes = (g["out_w"] + 1) // 2
        wp = 2 * ((2 * passes if g["stride_w"] == 2 else passes) + (g["k_w"] - 1) // 2)
    elif p.pair_kernel:
        # whole pixel pairs; a pass reads one pair (stride 1) or two (stride 2) ahead, an odd row's last pixel
        # (the pixel-A pass) one: out_w + 1 pairs at stride 2 (the block is the ring kernel's, which runs
        # instead where the model keeps it: same speed, enough scratch)
        wp = 2 * ((g["out_w"] + 1) // 2 + 1) if g["stride_w"] == 1 else 2 * (g["out_w"] + 1)
        if dw_pair2(p):  # stride-2 layout (dw_pair2_blocks): 3 slots x 5 pairs per 4 output pixels
            rows, wp = 3, 10 * (-(-g["out_w"] // 4))
    return rows, wp, block


def dw_scratch_bytes(p: "ConvParams") -> int:
    """Scratch of the DSP depthwise kernels (tg_dwconv.c). Ring kernel, a block of groups of 4
    channels at a time (as many as fit in DW_RING_SHARE of the op's input + output bytes, at least
    one): R = (k_h - 1) * dil_h + 1 ring rows of the padded width, 8 bytes per column and group, +
    R tag words and k_h row pointers (each rounded up to an even count). Column kernel: the int16
    taps of two pixels, 4 * w_row bytes (w_row = k_h * k_w rounded up to 4). Register kernel (dw_regs): a row
    of input_zp bytes for the padded taps, in_c rounded up to 4."""
    kh, kw = p.filter_hw
    if dw_regs(p):
        return -(-p.input_shape[3] // 4) * 4
    if dw_columns(p):
        return 4 * (-(-(kh * kw) // 4) * 4)
    if dw_tiny(p):  # tg_dwconv_p3t_s8: one group's widened image, a zero row above and below
        return 8 * p.input_shape[2] * (p.input_shape[1] + 2)
    rows, wp, block = _dw_ring_dims(p)
    if dw_pair2(p):  # tg_dwconv_p3s2_s8: the ring only (3 slots x 5 pairs x 4 channels x 16 B per 4 pixels)
        return rows * block * wp * 8
    geo = dw_geometry(p)
    kh = geo["k_h"]
    # the k x k pair kernel: a left padding of 2-4 spills the last group's 1-2 leading input_zp pairs past the ring
    spill = 16 * (geo["pad_left"] >> 1) if p.pair_kernel and dw_kpairs(p) else 0
    return 4 * (-(-rows // 2) * 2) + 4 * (-(-kh // 2) * 2) + rows * block * wp * 8 + spill


def dw_rq_rows(multiplier: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Requantization rows {mult, klo, khi, rm1} of the depthwise kernels (tg_dwconv.c), one per
    channel: rqx_table's tg_rqx_t rows (the exact DSP requantization) for right shifts; a shift >= 0
    (effective scale >= 0.5) is stored as rm1 = -(shift + 1) < 0, klo = khi = 0, and requantized in
    C by the kernel. A zero multiplier is given right = 1 (its result is 0 with any shift)."""
    m = np.asarray(multiplier, dtype=np.int64).reshape(-1)
    sh = np.broadcast_to(np.asarray(shift, dtype=np.int64).reshape(-1), m.shape)
    sh = np.where(m == 0, -1, sh)
    rows = rqx_table(m, np.minimum(sh, -1))
    left = sh >= 0
    rows[left, 1:3] = 0
    rows[left, 3] = -(sh[left] + 1)
    return rows


def dw_blocks(p: "ConvParams") -> np.ndarray:
    """The depthwise kernels' parameter blocks (tg_dwconv.c): per group of 4 output channels
    c0..c3, int32 words bias[4] (folded, wrapped), per tap the int16 weights (c0, c2), (c1, c3)
    packed two per word (c0 / c1 in the low half), then 4 dw_rq_rows. Channels past the last are
    zero (multiplier 0)."""
    from tinygen.model.fixedpoint import wrap_int32

    kh, kw = p.filter_hw
    taps = kh * kw
    oc = p.output_shape[3]
    groups = -(-oc // 4)
    n = groups * 4
    w16 = np.zeros((taps, n), dtype=np.int64)
    w16[:, :oc] = p.weights.reshape(taps, oc)
    w16 = w16.reshape(taps, groups, 4).transpose(1, 0, 2)[:, :, [0, 2, 1, 3]]  # (groups, taps, 4)
    words = (w16[..., 0::2] & 0xFFFF) | ((w16[..., 1::2] & 0xFFFF) << 16)  # (groups, taps, 2)
    words = np.where(words >= (1 << 31), words - (1 << 32), words).reshape(groups, 2 * taps)
    bias = np.zeros(n, dtype=np.int64)
    bias[:oc] = np.asarray(wrap_int32(p.folded_bias), dtype=np.int64)
    mult = np.zeros(n, dtype=np.int64)
    mult[:oc] = np.asarray(p.multiplier, dtype=np.int64).reshape(-1)
    shift = np.full(n, -1, dtype=np.int64)
    shift[:oc] = np.asarray(p.shift, dtype=np.int64).reshape(-1)
    rq = dw_rq_rows(mult, shift).reshape(groups, 16)
    return np.concatenate([bias.reshape(groups, 4), words, rq], axis=1).astype(np.int32)


def dw_pair_smmlar_ok(folded_bias: np.ndarray, w: np.ndarray, rq: np.ndarray, zp: int) -> np.ndarray:
    """Per channel: can the pair kernel requantize it with SMMLAR (tg_dwconv.c TG_DWP_RQ2N: 4 instructions
    per output, the row kept for both pixels of a pass) instead of SMLAL? The kernel then accumulates 2a
    (doubled weights and bias), and Y = SMMLAR(2a, m, C) = C + SaturatingRoundingDoublingHighMul(a, m)
    exactly, C = 2^(r-1) + zp * 2^r (r = rm1 + 1: the right shift); (Y - [a < 0]) >> r is then TFLM's
    RoundingDivideByPOT plus the zero point (see tg_rqx_ref for why [a < 0] stands for the sign of the
    product). Exact where 2a and Y cannot wrap: |a| <= |bias| + 128 * sum|w| < 2^30 (trained layers' dead
    channels with huge biases fail it and keep SMLAL) and |SRDHM| + |C| + 2 < 2^31.
    folded_bias (n,) wrapped int32 values, w (n, taps), rq (n, 4) dw_rq_rows."""
    amax = np.abs(np.asarray(folded_bias, dtype=np.int64)) + 128 * np.abs(np.asarray(w, dtype=np.int64)).sum(axis=1)
    m, rm1 = rq[:, 0].astype(np.int64), rq[:, 3].astype(np.int64)
    r = rm1 + 1
    ok = (amax < (1 << 30)) & (rm1 >= 0) & (r <= 30) & (m >= 0)
    rs = np.where(ok, r, 1)
    xmax = (np.minimum(amax, 1 << 30) * m >> 31) + 1
    c = (np.int64(1) << (rs - 1)) + np.int64(zp) * (np.int64(1) << rs)
    return ok & (xmax + np.abs(c) + 2 < (1 << 31))


# The pair layout's word 48 (dw_pair_blocks) for a group requantized with SMMLAR (doubled accumulators).
DW_PAIR_SMMLAR = 256
# ... for an SMMLAR group whose rows carry a sign-correction flag (word 3): left-shift channels whose
# accumulator may take either sign share the group with right-shift ones (TG_DWP_RQ1M: 5 instructions per output;
# 512: the kernel's loop over the channels stops at the mode word, and no multiplier is 512).
DW_PAIR_SMMLAR_FLAG = 512

# dw_pair_left_kinds: a left-shift channel the SMMLAR groups can requantize (accumulator scaled by 2^(L+1)),
# whose accumulator is >= 0 for every input, < 0 for every input, or may take either sign.
DW_LEFT_POS, DW_LEFT_NEG, DW_LEFT_ANY = 1, 2, 3


def dw_pair_left_kinds(folded_bias: np.ndarray, w: np.ndarray, multiplier: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Per channel: can the pair kernel's SMMLAR groups requantize this left-shift channel (TFLM shift L >= 0:
    SaturatingRoundingDoublingHighMul(a * 2^L, m), no rounding shift, then + zp)? 0 where not (a right shift, a
    zero multiplier, or the bound fails: those keep SMLAL / the C fix-up), else DW_LEFT_POS / DW_LEFT_NEG /
    DW_LEFT_ANY: the sign of the accumulator a over every input (each tap's input, padding included, is an int8
    value: a lies in [bias + sum min(-128 w, 127 w), bias + sum max(-128 w, 127 w)]).
    The kernel then holds X = a * 2^(L+1) (weights and bias scaled; they stay int16: max|w| * 2^(L+1) < 2^15),
    and SMMLAR(X, m, C) = C + floor((a 2^L m + 2^30) / 2^31) = C + TFLM's SaturatingRoundingDoublingHighMul
    exactly where X cannot wrap: A * 2^(L+1) < 2^31 with A = |bias| + 128 * sum|w| >= |a| (then a * 2^L does not
    wrap in TFLM either, m < 2^31: no saturation case). The kernel's sign correction -[X < 0] (the right
    shifts' RoundingDivideByPOT) is a constant where the sign is: C = zp (DW_LEFT_POS) or zp + 1 (DW_LEFT_NEG),
    shift 0, in the 4-instruction group (DW_PAIR_SMMLAR); DW_LEFT_ANY needs the flagged group (its row's word 3
    = 0: no correction; DW_PAIR_SMMLAR_FLAG). folded_bias (n,) wrapped int32, w (n, taps)."""
    b = np.asarray(folded_bias, dtype=np.int64)
    w = np.asarray(w, dtype=np.int64)
    m = np.asarray(multiplier, dtype=np.int64).reshape(-1)
    sh = np.broadcast_to(np.asarray(shift, dtype=np.int64).reshape(-1), m.shape)
    amax = np.abs(b) + 128 * np.abs(w).sum(axis=1)
    s = np.int64(1) << np.clip(sh + 1, 0, 40)
    ok = (m != 0) & (sh >= 0) & (sh <= 29) & (m > 0) & (m < (1 << 31))
    ok &= (amax * s < (1 << 31)) & (np.abs(w).max(axis=1, initial=0) * s < (1 << 15))
    lo = b + np.minimum(-128 * w, 127 * w).sum(axis=1)
    hi = b + np.maximum(-128 * w, 127 * w).sum(axis=1)
    kind = np.where(lo >= 0, DW_LEFT_POS, np.where(hi < 0, DW_LEFT_NEG, DW_LEFT_ANY))
    return np.where(ok, kind, 0)


def dw_pair_apply(x: np.ndarray, row: np.ndarray, mode: int) -> np.ndarray:
    """numpy mirror of the SMMLAR groups' requantization (tg_dwconv.c TG_DWP_RQ2N for mode DW_PAIR_SMMLAR,
    TG_DWP_RQ1M for DW_PAIR_SMMLAR_FLAG; C mirror tg_dw_rqv) on the kernel's accumulator register x (int32: 2a
    for right shifts, a * 2^(L+1) for left ones) and a row {m, C, r, f}: Y = SMMLAR(x, m, C), then Y - [x < 0]
    (DW_PAIR_SMMLAR) or Y + (f if x >= 0 else 0) (DW_PAIR_SMMLAR_FLAG), ASR r; before the int8 saturation
    (int32 wrap-around of each step included)."""
    def w32(v):
        return (v + (1 << 31)) % (1 << 32) - (1 << 31)

    x = w32(np.asarray(x, dtype=np.int64))
    y = w32(((x * int(row[0]) + (1 << 31)) >> 32) + int(row[1]))
    y = w32(y - (x < 0)) if mode == DW_PAIR_SMMLAR else w32(y + np.where(x >= 0, int(row[3]), 0))
    return y >> int(row[2])


def dw_smmlar_rows(multiplier: np.ndarray, shift: np.ndarray, zp: int) -> np.ndarray:
    """The pair kernel's SMMLAR rows {m, C, r, 0} (dw_pair_blocks) for right shifts: r = -shift (1 for
    a zero multiplier), C = 2^(r-1) + zp * 2^r."""
    rq = dw_rq_rows(multiplier, shift)
    r = rq[:, 3] + 1
    c = (np.int64(1) << (r - 1)) + np.int64(zp) * (np.int64(1) << r)
    return np.stack([rq[:, 0], c, r, np.zeros_like(r)], axis=1)


def dw_smmlar_apply(acc: np.ndarray, row: np.ndarray) -> np.ndarray:
    """numpy mirror of TG_DWP_RQ2N (tg_dwconv.c) on accumulators a (the kernel holds 2a): SMMLAR (int32
    wrap-around of its result included), ADD of the sign, ASR; before the int8 saturation."""
    a2 = (np.asarray(acc, dtype=np.int64) * 2 + (1 << 31)) % (1 << 32) - (1 << 31)
    y = ((a2 * int(row[0]) + (1 << 31)) >> 32) + int(row[1])
    y = (y + (1 << 31)) % (1 << 32) - (1 << 31)
    y = y - (a2 < 0)
    y = (y + (1 << 31)) % (1 << 32) - (1 << 31)
    return y >> int(row[2])


# The register kernel's parameter block, int32 words, for a filter of `taps` taps: bias[8], 4 words per
# tap, 8 requantization rows.
def dw_reg_block_words(taps: int) -> int:
    return 40 + 4 * taps


def dw_reg_blocks(p: "ConvParams") -> np.ndarray:
    """Parameter blocks of the register kernel (dw_regs; tg_dwconv.c tg_dwconv_regs, `w_row` = -3): one per
    group of 4 input channels c0..c3 and pair of filters (m0, m1) = (2q, 2q + 1) of each (groups outer; a
    depth multiplier of 3 has a second pair whose m1 is all zero, multiplier 0). The 8 outputs of a block
    in accumulator order i = 4 * (m - m0) + j (output channel (4g + j) * dm + m): bias[8] (folded, wrapped),
    per tap the int16 weight pairs (c0, c2) of m0, of m1, (c1, c3) of m0, of m1 (c0 / c1 in the low half:
    the lanes SXTB16 / SXTB16 ROR 8 make of 4 int8 inputs), then 8 dw_rq_rows. Channels past the last
    input channel are zero (multiplier 0)."""
    from tinygen.model.fixedpoint import wrap_int32

    kh, kw = p.filter_hw
    taps = kh * kw
    c = p.input_shape[3]
    dm = p.depth_multiplier
    groups, pairs = -(-c // 4), -(-dm // 2)
    cn, mn = 4 * groups, 2 * pairs
    w = np.zeros((taps, cn, mn), dtype=np.int64)
    w[:, :c, :dm] = p.weights.reshape(taps, c, dm)
    bias = np.zeros((cn, mn), dtype=np.int64)
    bias[:c, :dm] = np.asarray(wrap_int32(p.folded_bias), dtype=np.int64).reshape(c, dm)
    mult = np.zeros((cn, mn), dtype=np.int64)
    mult[:c, :dm] = np.broadcast_to(np.asarray(p.multiplier, dtype=np.int64).reshape(-1), (c * dm,)).reshape(c, dm)
    shift = np.full((cn, mn), -1, dtype=np.int64)
    shift[:c, :dm] = np.broadcast_to(np.asarray(p.shift, dtype=np.int64).reshape(-1), (c * dm,)).reshape(c, dm)
    rq = dw_rq_rows(mult.reshape(-1), shift.reshape(-1)).reshape(groups, 4, pairs, 2, 4)
    # accumulator order (g, q, k, j): k = m - m0, j = lane
    bias_b = bias.reshape(groups, 4, pairs, 2).transpose(0, 2, 3, 1).reshape(groups, pairs, 8)
    rq_b = rq.transpose(0, 2, 3, 1, 4).reshape(groups, pairs, 32)
    wg = w.reshape(taps, groups, 4, pairs, 2).transpose(1, 3, 0, 2, 4)  # (g, q, t, j, k)
    lo = lambda v: v & 0xFFFF  # noqa: E731
    wa = lo(wg[:, :, :, 0, :]) | (lo(wg[:, :, :, 2, :]) << 16)  # (g, q, t, k): (c0, c2)
    wb = lo(wg[:, :, :, 1, :]) | (lo(wg[:, :, :, 3, :]) << 16)  # (c1, c3)
    words = np.concatenate([wa, wb], axis=3).reshape(groups, pairs, 4 * taps)  # m0 A, m1 A, m0 B, m1 B
    words = np.where(words >= (1 << 31), words - (1 << 32), words)
    out = np.concatenate([bias_b, words, rq_b], axis=2).reshape(groups * pairs, dw_reg_block_words(taps))
    return out.astype(np.int32)


def dw_pair_const_channels(bias: np.ndarray, w: np.ndarray, mult: np.ndarray, shift: np.ndarray, zp: int,
                           act_min: int = -128, act_max: int = 127) -> tuple[np.ndarray, np.ndarray]:
    """Per channel: is its output one value for every input (trained layers' dead channels: tiny scales, huge
    biases, long right shifts), and which: (mask, value). TFLM's output clamp(MultiplyByQuantizedMultiplier(a) +
    zp) is non-decreasing in the accumulator a (m >= 0: SaturatingRoundingDoublingHighMul and RoundingDivideByPOT
    are; a left shift only where a * 2^L cannot wrap), so it is constant where its values at both ends of a's
    range [bias + sum min(-128 w, 127 w), bias + sum max(...)] (int8 inputs, padding included) agree and a cannot
    wrap in int32 there. The pair kernel then stores the channel as weights and bias 0 with the row {0, value, 0,
    0}: SMMLAR(0, 0, value) = value in either SMMLAR group. bias (n,) folded, wrapped; w (n, taps)."""
    from tinygen.model.fixedpoint import multiply_by_quantized_multiplier

    b = np.asarray(bias, dtype=np.int64)
    w = np.asarray(w, dtype=np.int64)
    m = np.asarray(mult, dtype=np.int64).reshape(-1)
    sh = np.broadcast_to(np.asarray(shift, dtype=np.int64).reshape(-1), m.shape)
    lo = b + np.minimum(-128 * w, 127 * w).sum(axis=1)
    hi = b + np.maximum(-128 * w, 127 * w).sum(axis=1)
    lim = np.int64(1) << 31
    left = np.clip(sh, 0, 31)
    ok = (lo >= -lim) & (hi < lim) & (m >= 0) & (m < lim) & (sh >= -31) & (sh <= 31)
    ok &= (m == 0) | (sh <= 0) | (((lo << left) >= -lim) & ((hi << left) < lim))
    lo, hi = np.clip(lo, -lim, lim - 1), np.clip(hi, -lim, lim - 1)
    vlo = np.clip(multiply_by_quantized_multiplier(lo, m, np.clip(sh, -31, 31)) + zp, act_min, act_max)
    vhi = np.clip(multiply_by_quantized_multiplier(hi, m, np.clip(sh, -31, 31)) + zp, act_min, act_max)
    return ok & (vlo == vhi), vlo


def dw_pair_requant(bias: np.ndarray, w: np.ndarray, mult: np.ndarray, shift: np.ndarray, zp: int,
                    act_min: int = -128, act_max: int = 127):
    """The pair layout's requantization (dw_pair_blocks) of n = 4 * groups channels: (mode word per group (groups,),
    rows (n, 4), scale of each channel's weights and bias (n,)). bias (n,) folded, wrapped; w (n, 9); mult, shift (n,)
    (a zero multiplier with shift -1 past the last channel); the op's output clamp."""
    n = len(bias)
    groups = n // 4
    rq = dw_rq_rows(mult, shift)
    right = dw_pair_smmlar_ok(bias, w, rq, zp)
    lk = dw_pair_left_kinds(bias, w, mult, shift)
    const, value = dw_pair_const_channels(bias, w, mult, shift, zp, act_min, act_max)
    const &= ~right & (lk == 0)  # only where nothing else serves
    smm = np.repeat((right | const | (lk == DW_LEFT_POS) | (lk == DW_LEFT_NEG)).reshape(groups, 4).all(axis=1), 4)
    flg = np.repeat((right | const | (lk > 0)).reshape(groups, 4).all(axis=1), 4) & ~smm
    fold = np.repeat(((rq[:, 3] >= 0) & (rq[:, 3] <= 22)).reshape(groups, 4).all(axis=1), 4) & ~smm & ~flg
    mode = np.where(fold[::4], 0, zp)
    mode = np.where(flg[::4], DW_PAIR_SMMLAR_FLAG, mode)
    mode = np.where(smm[::4], DW_PAIR_SMMLAR, mode)
    rq[fold, 2] += np.int64(zp) << rq[fold, 3]
    lft = (smm | flg) & (lk > 0)
    cst = (smm | flg) & const
    rgt = (smm | flg) & ~lft & ~cst
    rq[rgt] = dw_smmlar_rows(mult[rgt], shift[rgt], zp)
    rq[flg & rgt, 1] -= 1
    rq[flg & rgt, 3] = 1
    zero = np.zeros(int(lft.sum()), dtype=np.int64)
    rq[lft] = np.stack([mult[lft], zp + (smm[lft] & (lk[lft] == DW_LEFT_NEG)), zero, zero], axis=1)
    zero = np.zeros(int(cst.sum()), dtype=np.int64)
    rq[cst] = np.stack([zero, value[cst], zero, zero], axis=1)
    scale = np.where(lft, np.int64(1) << np.clip(np.asarray(shift, dtype=np.int64) + 1, 0, 40), np.where(rgt, 2, 1))
    scale = np.where(cst, 0, scale)
    return mode, rq, scale


def dw_pair_blocks(p: "ConvParams") -> np.ndarray:
    """Parameter blocks of the ring kernel's 3x3 pair layout (dw_pairs3; tg_dwconv.c): per group
    of 4 output channels DW_PAIR_BLOCK int32 words: bias c0, c1, c0, c1 (folded, wrapped; one
    per pixel of a pass), per filter row ky the int16 pairs (w[ky][0], w[ky][1]), (w[ky][1],
    w[ky][2]) of c0 then of c1, bias c2, c3, c2, c3, the same 12 words for c2 and c3, 4
    requantization rows (words 32-47), then a mode word (48). Three kinds of group:
    - SMMLAR (mode word DW_PAIR_SMMLAR): every channel a right shift within dw_pair_smmlar_ok's bound (weights
      and bias doubled, row {m, C, r, 0} with C = 2^(r-1) + zp * 2^r: the output zero point folded in) or a left
      shift L whose accumulator has one sign for every input (dw_pair_left_kinds DW_LEFT_POS / NEG: weights and
      bias scaled by 2^(L+1), row {m, zp + [a < 0], 0, 0});
    - flagged SMMLAR (mode word DW_PAIR_SMMLAR_FLAG): the same channels and any left shift within the bound
      (DW_LEFT_ANY); rows {m, C - 1, r, 1} (right shifts: + [a >= 0] is - [a < 0] with C - 1) and {m, zp, 0, 0}
      (left shifts: no sign correction); in either, a channel beyond those bounds whose output is one value v for
      every input (dw_pair_const_channels: dead channels) has weights and bias 0 and the row {0, v, 0, 0};
    - SMLAL: dw_rq_rows. Where all 4 rows have 0 <= rm1 <= 22 the output zero point is folded into them:
      khi += zp << rm1 (floor((h + zp * 2^rm1) / 2^rm1) = floor(h / 2^rm1) + zp, and |h| <= 2^30 + 2^rm1
      leaves room for it) and the mode word is 0; else it holds zp (the kernel adds it). Its left-shift channels
      (rm1 < 0) are redone in C (tg_dwconv_p3l_s8).
    The C99 path (tg_dwconv_c_ch) uses the rows and the mode word alike."""
    from tinygen.model.fixedpoint import wrap_int32

    kh, kw = p.filter_hw
    oc = p.output_shape[3]
    groups = -(-oc // 4)
    n = groups * 4
    w = np.zeros((kh * kw, n), dtype=np.int64)
    wt = p.weights.reshape(kh, kw, oc)
    if p.pair_kernel and dw_transposed(p):  # the kernel's rows are the image's columns
        wt = wt.transpose(1, 0, 2)
    w[:, :oc] = wt.reshape(kh * kw, oc)
    bias = np.zeros(n, dtype=np.int64)
    bias[:oc] = np.asarray(wrap_int32(p.folded_bias), dtype=np.int64)
    mult = np.zeros(n, dtype=np.int64)
    mult[:oc] = np.asarray(p.multiplier, dtype=np.int64).reshape(-1)
    shift = np.full(n, -1, dtype=np.int64)
    shift[:oc] = np.asarray(p.shift, dtype=np.int64).reshape(-1)
    zp = int(p.output_zero_point)
    # whole groups only (dw_pairs3); left-shift rows (rm1 < 0) in SMLAL groups: the kernel redoes those
    # channels in C (tg_dwconv_p3l_s8)
    assert oc % 4 == 0, "pair layout for a layer dw_pairs3 refuses"
    mode, rq, scale = dw_pair_requant(bias, w.T, mult, shift, zp, p.act_min, p.act_max)
    w = w * scale
    bias = bias * scale  # within the bounds there: no wrap
    w = w.reshape(3, 3, groups, 4).transpose(2, 3, 0, 1)  # (groups, 4, ky, kx)
    lo = lambda v: v & 0xFFFF  # noqa: E731
    w01 = lo(w[..., 0]) | (lo(w[..., 1]) << 16)
    w12 = lo(w[..., 1]) | (lo(w[..., 2]) << 16)
    pairs = np.stack([w01, w12], axis=-1)  # (groups, 4, 3, 2)
    halves = pairs.reshape(groups, 2, 2, 3, 2).transpose(0, 1, 3, 2, 4).reshape(groups, 2, 12)  # ky, c, pair
    halves = np.where(halves >= (1 << 31), halves - (1 << 32), halves)
    bias = bias.reshape(groups, 2, 2)
    words = np.concatenate([bias[:, 0], bias[:, 0], halves[:, 0], bias[:, 1], bias[:, 1], halves[:, 1],
                            rq.reshape(groups, 16), mode.reshape(groups, 1)], axis=1)
    assert words.shape[1] == DW_PAIR_BLOCK
    return words.astype(np.int32)


# The stride-2 pair layout (dw_pair2_blocks): a mode word, then per channel DW_PAIR2_CH int32 words.
DW_PAIR2_CH = 11
DW_PAIR2_BLOCK = 1 + 4 * DW_PAIR2_CH


def dw_pair2_blocks(p: "ConvParams") -> np.ndarray:
    """Parameter blocks of the stride-2 pair kernel (tg_dwconv_p3s2_s8 on DSP targets, tg_dw3x3_s2: one
    channel x 4 output pixels per pass): per group of 4 output channels DW_PAIR2_BLOCK int32 words: the
    mode word (DW_PAIR_SMMLAR, or 0), then per channel the folded bias (wrapped), the int16 weight pairs
    (w[ky][0], w[ky][1]), (w[ky][1], w[ky][2]) of filter row 1, row 0, row 2 (the order the pass reads its
    ring slots in), and a requantization row: SMMLAR groups (dw_pair_smmlar_ok for all 4 channels) have
    weights and bias doubled and rows {m, C, r, lo4} (dw_smmlar_rows, the output zero point in C; lo4: act_min in
    every byte where the act range clamps the lower bound only, the pass's register for it, else 0); the others
    dw_rq_rows {m, klo, khi, rm1} (a left shift where rm1 < 0), the kernel adding the zero point."""
    from tinygen.model.fixedpoint import wrap_int32

    oc = p.output_shape[3]
    assert oc % 4 == 0, "pair layout for a layer dw_pairs3 refuses"
    groups = oc // 4
    wt = p.weights.reshape(3, 3, oc).astype(np.int64)
    if dw_transposed(p):  # the kernel's rows are the image's columns
        wt = wt.transpose(1, 0, 2)
    w = wt.reshape(9, oc)
    bias = np.asarray(wrap_int32(p.folded_bias), dtype=np.int64).reshape(-1)
    mult = np.asarray(p.multiplier, dtype=np.int64).reshape(-1)
    mult = np.broadcast_to(mult, (oc,)).copy()
    shift = np.broadcast_to(np.asarray(p.shift, dtype=np.int64).reshape(-1), (oc,)).copy()
    rq = dw_rq_rows(mult, shift)
    zp = int(p.output_zero_point)
    smm = np.repeat(dw_pair_smmlar_ok(bias, w.T, rq, zp).reshape(groups, 4).all(axis=1), 4)
    rq[smm] = dw_smmlar_rows(mult[smm], shift[smm], zp)
    if p.act_min > -128 and p.act_max >= 127:
        rq[smm, 3] = (int(p.act_min) & 0xFF) * 0x01010101
    w[:, smm] *= 2
    bias = np.where(smm, bias * 2, bias)  # |bias| < 2^30 there: no wrap
    w = w.reshape(3, 3, oc)
    lo = lambda v: v & 0xFFFF  # noqa: E731
    w01 = lo(w[:, 0]) | (lo(w[:, 1]) << 16)  # (ky, oc)
    w12 = lo(w[:, 1]) | (lo(w[:, 2]) << 16)
    pairs = np.stack([w01, w12], axis=-1)[[1, 0, 2]].transpose(1, 0, 2).reshape(oc, 6)  # rows 1, 0, 2
    ch = np.concatenate([bias.reshape(oc, 1), pairs, rq], axis=1)  # (oc, DW_PAIR2_CH)
    mode = np.where(smm[::4], DW_PAIR_SMMLAR, 0).reshape(groups, 1)
    words = np.concatenate([mode, ch.reshape(groups, 4 * DW_PAIR2_CH)], axis=1)
    words = np.where(words >= (1 << 31), words - (1 << 32), words)
    assert words.shape[1] == DW_PAIR2_BLOCK
    return words.astype(np.int32)


def dw_pair2_params(p: "ConvParams") -> np.ndarray:
    """The stride-2 pair kernel's parameter array: dw_pair2_blocks, then the same blocks with filter rows 0
    and 2 swapped (the pass of an output row whose top input row is in ring slot 2: the driver keeps the
    previous row's bottom row where it is instead of copying it, and reads this second set every other row)."""
    blocks = dw_pair2_blocks(p)
    groups = blocks.shape[0]
    ch = blocks[:, 1:].reshape(groups, 4, DW_PAIR2_CH)
    swapped = ch[:, :, [0, 1, 2, 5, 6, 3, 4, 7, 8, 9, 10]].reshape(groups, 4 * DW_PAIR2_CH)
    return np.concatenate([blocks, np.concatenate([blocks[:, :1], swapped], axis=1)], axis=0)


def dw_mve_kernel(p: "ConvParams") -> str:
    """Which of tg_dwconv_mve_s8's kernels (firmware/kernels/tg_mve.c) runs the op: "plane" (3x3, the
    padded input plane of a channel within 3 KB and at most 768 output pixels), "row" (a ring of padded
    planar rows within 3 KB) or "pixel" (any size). Mirrors the C conditions."""
    g = dw_geometry(p)
    kh, kw = g["k_h"], g["k_w"]
    if kh == 3 and kw == 3:
        wpp = (g["out_w"] - 1) * g["stride_w"] + 2 * g["dil_w"] + 1
        hpp = (g["out_h"] - 1) * g["stride_h"] + 2 * g["dil_h"] + 1
        if hpp * wpp + 16 <= 3072 and -(-(g["out_h"] * g["out_w"]) // 4) <= 192:
            return "plane"
    nrows = (kh - 1) * g["dil_h"] + 1
    wp = (-(-g["out_w"] // 4) * 4) * g["stride_w"] + (kw - 1) * g["dil_w"]
    if kh <= 16 and nrows <= 64 and nrows * (-(-wp // 16) * 16) <= 3072:
        return "row"
    return "pixel"


def dw_mve_tables(p: "ConvParams") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Helium depthwise kernel's parameters (tg_dwconv_mve_s8, tg_kernels.h), channels in groups of 4
    (zero-padded): weights (groups, taps, 4) int8 followed by the same as (channels, taps); the folded bias
    (wrapped) per padded channel; the
    requantization (groups, 4, 4) int32: multiplier, left shift, -right shift, -1 where right > 0."""
    from tinygen.model.fixedpoint import wrap_int32

    kh, kw = p.filter_hw
    taps, oc = kh * kw, p.output_shape[3]
    groups = -(-oc // 4)
    n = 4 * groups
    w = np.zeros((taps, n), dtype=np.int8)
    w[:, :oc] = p.weights.reshape(taps, oc)
    # [group][tap][4] (the pixel kernel), then [channel][tap] (the row kernel)
    weights = np.concatenate([w.reshape(taps, groups, 4).transpose(1, 0, 2).reshape(-1), w.T.reshape(-1)])
    bias = np.zeros(n, dtype=np.int64)
    bias[:oc] = np.asarray(wrap_int32(p.folded_bias), dtype=np.int64)
    mult = np.zeros(n, dtype=np.int64)
    mult[:oc] = np.broadcast_to(np.asarray(p.multiplier, dtype=np.int64).reshape(-1), (oc,))
    shift = np.zeros(n, dtype=np.int64)
    shift[:oc] = np.broadcast_to(np.asarray(p.shift, dtype=np.int64).reshape(-1), (oc,))
    rows = np.stack([mult, np.maximum(shift, 0), np.minimum(shift, 0), np.where(shift < 0, -1, 0)])
    rq = np.ascontiguousarray(rows.reshape(4, groups, 4).transpose(1, 0, 2))
    return weights, bias.astype(np.int32), rq.astype(np.int32)


def _acc_bound(rows: np.ndarray, folded_bias) -> int:
    return int((128 * np.abs(rows.astype(np.int64)).sum(axis=1) + np.abs(np.asarray(folded_bias, dtype=np.int64))).max())


def dsp_mode(rows: np.ndarray, folded_bias, multiplier, shift, output_zero_point: int,
             left_ok: bool = False) -> tuple[int, str, str]:
    """Requantization of a DSP kernel (conv / fully-connected) with these filter `rows`:
    (1 = TG_DSP_SHORTCUT, variant, reason) where the SMMULR shortcut is proved exact, else
    (2 = TG_DSP_EXACT, ...) where the exact SMLAL requantization applies (left_ok: the kernel also
    takes left-shifted channels, rqxl_table), else (0, C99, reason)."""
    if dsp_exact(rows, folded_bias, multiplier, shift, output_zero_point):
        return 1, DSP_SHORTCUT, f"accumulators within +-{_acc_bound(rows, folded_bias)}: SMMULR requantization proved exact"
    problem = rqx_problem(multiplier, shift)
    head = (f"SMMULR shortcut not provably exact (accumulators up to +-{_acc_bound(rows, folded_bias)}, "
            f"right shifts up to {int(np.max(-np.asarray(shift, dtype=np.int64)))}, "
            f"output zero point {int(output_zero_point)}): exact SMLAL requantization")
    if problem is None:
        return 2, DSP_EXACT, head
    if left_ok and rqxl_problem(multiplier, shift) is None:
        n_left = int(np.count_nonzero(left_channels(multiplier, shift)))
        return 2, DSP_EXACT, f"{head}; {n_left} channel(s) with effective scale >= 0.5: left shift, 2 SMLAL"
    return 0, C99, f"no exact DSP requantization: {problem}"


def conv2d_dsp_mode(p: "ConvParams") -> tuple[int, str, str]:
    """CONV_2D: (dsp field, variant name, reason) of the DSP build (see dsp_mode)."""
    if p.groups != 1:
        return 0, C99, f"grouped convolution ({p.groups} groups): no DSP kernel"
    if p.output_shape[3] < 2:
        return 0, C99, "a single output channel: no DSP kernel (it works on channel pairs)"
    if p.low_ram:
        return 0, C99, (f"RAM: its {_conv2d_dsp_scratch(p)} B of im2col scratch would raise the arena above "
                        f"1.05x the live-tensor bound (generate --optimize speed keeps the DSP kernel)")
    return dsp_mode(p.weights.reshape(p.weights.shape[0], -1), p.folded_bias, p.multiplier, p.shift, p.output_zero_point,
                    left_ok=True)


def conv2d_mve(p: "ConvParams") -> bool:
    """Does CONV_2D run the Helium kernel (tg_conv2d_mve in tg_mve.c) in an MVE build? Groups 1, and
    either a 1x1 filter without padding (read in place) or the DSP kernel's entry with its scratch
    (which holds the kernel's 4 int8 columns)."""
    if p.groups != 1:
        return False
    one = p.filter_hw == (1, 1) and p.padding == (0, 0)
    return one or conv2d_dsp_mode(p)[0] != 0


# Packed channel pairs (tg_conv2d_dspp_s8): the odd channel's sum is recovered modulo 2^24.
PACK_BOUND = 1 << 23


def _pack_ok_weights(w: np.ndarray) -> bool:
    """Filters (OC, ...) int8 whose channel pairs may be packed (pack_conv_pairs): every channel's
    128 * sum |w| < 2^23 (so any odd channel's sum is recovered exactly from its 24 low bits) and no
    weight -128 (256 * w_odd + w_even must fit int16)."""
    w = np.asarray(w).reshape(w.shape[0], -1).astype(np.int64)
    return bool(w.size) and int(w.min()) > -128 and int(np.abs(w).sum(axis=1).max()) * 128 < PACK_BOUND


def conv_pack_ok(p: "ConvParams") -> bool:
    """Can this CONV_2D take the packed-pair DSP kernel: a DSP requantization without left-shifted
    channels, at least 2 output channels, groups 1, and weights within _pack_ok_weights."""
    if p.groups != 1 or p.output_shape[3] < 2:
        return False
    mode = dsp_mode(p.weights.reshape(p.weights.shape[0], -1), p.folded_bias, p.multiplier, p.shift,
                    p.output_zero_point, left_ok=True)[0]
    if mode == 0 or (mode == 2 and np.any(left_channels(p.multiplier, p.shift))):
        return False
    return _pack_ok_weights(p.weights)


def conv_model_packed(p: "ConvParams", graph) -> bool:
    """Does this op take the packed-pair kernel: conv_pack_ok, and so does every other CONV_2D of `graph`
    that has a DSP kernel (groups 1, >= 2 output channels), so that a firmware links one copy of the DSP
    convolution driver (kernels + runtime <= 12 KB). Cached on the graph."""
    if not conv_pack_ok(p):
        return False
    cache = graph.__dict__.setdefault("_tg_conv_packed", {})
    if "model" not in cache:
        ok = True
        for op in graph.operators:
            if op.op != "CONV_2D" or len(op.inputs) < 2:
                continue
            x, y, w = (graph.tensors[i] for i in (op.inputs[0], op.outputs[0], op.inputs[1]))
            if (w.data is None or len(w.shape) != 4 or len(x.shape) != 4 or x.shape[3] != w.shape[3] or w.shape[0] < 2
                    or x.dtype != np.int8):
                continue  # grouped, single-channel, 16x8 or odd ops run other kernels
            if not _pack_ok_weights(np.asarray(w.data, dtype=np.int8)):
                ok = False
                break
            try:
                mult, shift = channel_multipliers(op, x.scale, per_channel_scales(op, w, w.shape[0], 0), y.scale)
            except Exception:  # refused elsewhere
                continue
            if np.any(left_channels(mult, shift)):
                ok = False
                break
        cache["model"] = ok
    return cache["model"]


def conv_model_driver(graph) -> int:
    """Which entries of the DSP convolution driver this model's ops call (so that a firmware links one driver copy,
    the smallest that serves them): 1 where every int8 CONV_2D of `graph` that may run the driver (groups 1, >= 2
    output channels; ops of the narrow kernel's shape, conv_narrow_geometry, run the driver only if their
    requantization rules the narrow kernel out) is a 1x1 filter at stride 1 without padding with in_c % 4 == 0 (the
    matrix-product loop alone: tg_conv2d_dsp1_s8 / dspp1 / dspl1, about 900 B less code); else 4 where every such op
    has in_c % 4 == 0 (no staging code: tg_conv2d_dsp4_s8 / dspp4 / dspl4, about 650 B less); else 0 (the general
    entries). A model op outside its model's class (a narrow-shaped op whose requantization refuses the narrow
    kernel) takes the general entry: correct, at the cost of a second driver copy. Cached on the graph."""
    cache = graph.__dict__.setdefault("_tg_conv_driver", {})
    if "model" not in cache:
        only4 = only1 = True
        for op in graph.operators:
            if op.op != "CONV_2D" or len(op.inputs) < 2:
                continue
            x, y, w = (graph.tensors[i] for i in (op.inputs[0], op.outputs[0], op.inputs[1]))
            if (w.data is None or len(w.shape) != 4 or len(x.shape) != 4 or x.shape[3] != w.shape[3] or w.shape[0] < 2
                    or x.dtype != np.int8):
                continue  # grouped, single-channel or 16x8 ops run other kernels
            oc, kh, kw, cin = (int(v) for v in w.shape)
            o = op.options
            dil = (o.get("dilation_h_factor", 1), o.get("dilation_w_factor", 1))
            q = -(-(kw * cin) // 4)
            if oc % 4 == 0 and dil == (1, 1) and narrow_shape(kh, q):
                continue  # the narrow kernel's shape
            if cin % 4:
                only4 = only1 = False
                break
            if (kh, kw, o.get("stride_h", 1), o.get("stride_w", 1)) != (1, 1, 1, 1):
                only1 = False
        cache["model"] = 1 if only1 else (4 if only4 else 0)
    return cache["model"]


def conv_driver_entry(p: "ConvParams") -> str:
    """The suffix of this op's driver entry (conv_model_driver): "1", "4" or ""."""
    c = p.input_shape[3]
    if c % 4:
        return ""
    if p.driver == 1 and p.filter_hw == (1, 1) and tuple(p.stride) == (1, 1) and tuple(p.padding) == (0, 0):
        return "1"
    return "4" if p.driver in (1, 4) else ""


def pack_conv_pairs(w: np.ndarray, w_row: int) -> np.ndarray:
    """(OC >= 2, taps) int8 -> tg_conv2d_dspp_s8's weights: for each channel pair (2q, 2q + 1), and for an odd
    OC an extra pair (OC - 2, OC - 1), a block of 2 * w_row bytes (w_row: taps rounded up to 4): per group of
    4 taps two words (H(t0), H(t2)), (H(t1), H(t3)) of int16 H = 256 * w_odd + w_even."""
    oc, taps = w.shape
    pad = np.zeros((oc, w_row), dtype=np.int64)
    pad[:, :taps] = w
    pairs = [(2 * q, 2 * q + 1) for q in range(oc // 2)] + ([(oc - 2, oc - 1)] if oc % 2 else [])
    out = []
    for ev, od in pairs:
        h = (256 * pad[od] + pad[ev]).astype(np.int16).reshape(-1, 4)  # [group][tap]
        out.append(h[:, [0, 2, 1, 3]].reshape(-1))
    return np.ascontiguousarray(np.stack(out)).view(np.int8).reshape(len(pairs), 2 * w_row)


# Narrow convolutions (tg_conv2d_dspn{2,4,6,8}_s8 in tg_conv.c): few taps per output, the window's words widened
# once per pixel into registers, 4 channels per packed store, a 4-instruction SMMLAR requantization.
NARROW_WORDS = (2, 4, 6, 8)  # 8: one window row only (1x1 with 13-16 input channels, ...)


def conv_narrow_geometry(p: "ConvParams") -> tuple[int, int] | None:
    """(R, Q) of the narrow kernel: R = k_h window rows of Q input words each (k_w * in_c taps read as whole
    words), 2 R Q in NARROW_WORDS and R == 1 or Q == 1; None where the layer does not have that shape
    (groups 1, dilation 1, out_c a multiple of 4 also required)."""
    kh, kw = p.filter_hw
    cin = p.input_shape[3]
    oc = p.output_shape[3]
    if p.groups != 1 or tuple(p.dilation) != (1, 1) or oc % 4 or oc < 4:
        return None
    q = -(-(kw * cin) // 4)
    if not narrow_shape(kh, q):
        return None
    return kh, q


def conv_narrow_on(p: "ConvParams", target: str | None) -> int:
    """conv_narrow for a build for `target`: on Helium cores a 1x1 convolution with >= 16 input channels runs
    the Helium kernel in place (4 pixels x 16 taps per VMLADAVA, no scratch) instead of the narrow DSP kernel.
    Measured on QEMU mps3-an547 (benchmarks/mcu_bench.py --board qemu-cortex-m55): VWW's 48x48x16 -> 32 1x1
    layer 0.74 MAC/instruction narrow, 1.25 Helium; mltk MobileNetV2's 8-channel 1x1 layers 0.54-0.61 narrow,
    0.39-0.59 Helium (one VMLADAVA of 8 predicated lanes per output)."""
    if target_has_mve(target) and _conv_kind(p) == "1x1 conv" and p.input_shape[3] >= 16 and conv2d_mve(p):
        return 0
    return conv_narrow(p)


def narrow_shape(kh: int, q: int) -> bool:
    """Window rows x input words per row that the narrow kernel's register widths take: R == 1 (1-4 words) or
    Q == 1 (2-3 rows)."""
    return (kh == 1 and 1 <= q <= 4) or (q == 1 and 2 <= kh <= 3)


def narrow_rq_bound_problem(acc_bound: int, multiplier, shift, output_zero_point: int) -> str | None:
    """Why the narrow kernel's requantization (SMMLAR of the doubled accumulator, see tg_conv.c; rows
    dw_smmlar_rows, arithmetic dw_smmlar_apply) is not provably exact for accumulators |acc| <= acc_bound,
    or None: every live channel needs a right shift r >= 1 (TFLM shift <= -1) of at most 30, a multiplier in
    [0, 2^31), |2 acc| < 2^31 and |y| + 2^(r-1) + |zp| 2^r + 1 < 2^31 (y: the rounded product, |y| <= |acc|)."""
    m = np.asarray(multiplier, dtype=np.int64).reshape(-1)
    sh = np.broadcast_to(np.asarray(shift, dtype=np.int64).reshape(-1), m.shape)
    live = m != 0
    if np.any(live & (sh >= 0)):
        return "a channel with effective scale >= 0.5 (left shift)"
    if np.any((m < 0) | (m >= (1 << 31))) or np.any(live & (sh < -30)):
        return "multiplier / shift out of range"
    r = np.where(live, -sh, 1)
    a = int(acc_bound)
    lim = 1 << 31
    if 2 * a >= lim:
        return f"accumulators up to +-{a}"
    if np.any(a + (np.int64(1) << (r - 1)) + abs(int(output_zero_point)) * (np.int64(1) << r) + 1 >= lim):
        return f"accumulators up to +-{a} with right shifts up to {int(r.max())}"
    return None


def narrow_rq_problem(p: "ConvParams") -> str | None:
    """narrow_rq_bound_problem for this layer: |acc| <= 128 sum|w| + |folded bias| per channel."""
    oc = p.output_shape[3]
    return narrow_rq_bound_problem(_acc_bound(p.weights.reshape(oc, -1), p.folded_bias), p.multiplier, p.shift,
                                   p.output_zero_point)


def conv_narrow(p: "ConvParams") -> int:
    """Widened tap words per pixel (2, 4, 6 or 8) of the narrow kernel for this CONV_2D, 0 where it does not
    apply (conv_narrow_geometry, narrow_rq_problem)."""
    g = conv_narrow_geometry(p)
    if g is None or narrow_rq_problem(p) is not None:
        return 0
    return 2 * g[0] * g[1]


def narrow_records(p: "ConvParams") -> np.ndarray:
    """The narrow kernel's weights (int32 words): per output channel [2 * folded bias, NW words of int16
    pairs 2 * w (taps (0, 2), (1, 3) of each group of 4: SXTB16 order; zero past k_w * in_c in each window
    row), mult, ra = 2^(r-1) + zp 2^r, r], and after every 4 channels [lo4, hi4, more]."""
    from tinygen.model.fixedpoint import wrap_int32

    kh, q = conv_narrow_geometry(p)
    oc = p.output_shape[3]
    nw = 2 * kh * q
    w = p.weights.reshape(oc, kh, -1).astype(np.int64)
    taps = np.zeros((oc, kh, 4 * q), dtype=np.int64)
    taps[:, :, : w.shape[2]] = 2 * w
    g = taps.reshape(oc, kh * q, 4)  # [channel][group][byte]
    lo = np.stack([g[:, :, 0], g[:, :, 1]], axis=2)  # words 2j, 2j + 1: low halves (b0, b1)
    hi = np.stack([g[:, :, 2], g[:, :, 3]], axis=2)  # high halves (b2, b3)
    words = ((lo & 0xFFFF) | ((hi & 0xFFFF) << 16)).reshape(oc, nw)
    m = np.broadcast_to(np.asarray(p.multiplier, dtype=np.int64).reshape(-1), (oc,))
    sh = np.broadcast_to(np.asarray(p.shift, dtype=np.int64).reshape(-1), (oc,))
    rows = dw_smmlar_rows(m, sh, p.output_zero_point)[:, :3]  # m, ra = 2^(r-1) + zp 2^r, r: as the depthwise pair kernel
    bias2 = 2 * np.asarray(p.folded_bias, dtype=np.int64)
    rec = np.concatenate([bias2[:, None], words, rows], axis=1)
    lo4 = int(np.uint8(np.int8(p.act_min))) * 0x01010101
    hi4 = int(np.uint8(np.int8(p.act_max))) * 0x01010101
    blocks = []
    for b in range(oc // 4):
        blocks.append(rec[4 * b : 4 * b + 4].reshape(-1))
        blocks.append(np.array([lo4, hi4, int(b + 1 < oc // 4)], dtype=np.int64))
    return wrap_int32(np.concatenate(blocks)).astype(np.int32)


def conv2d_scratch_bytes(p: "ConvParams") -> int:
    """CONV_2D's DSP kernel scratch (tg_conv2d_dsp): two im2col columns of int16 (+ in_c bytes of
    input_zp, or two staging rows when the input channels are not a multiple of 4)."""
    if conv2d_dsp_mode(p)[0] == 0 or conv_narrow(p):
        return 0
    return _conv2d_dsp_scratch(p)


def _conv2d_dsp_scratch(p: "ConvParams") -> int:
    kh, kw = p.filter_hw
    cin = p.input_shape[3]
    w_row = -(-(kh * kw * cin) // 4) * 4
    return 4 * w_row + (2 * (w_row + 4) if cin % 4 else cin)


def _conv_kind(p: "ConvParams") -> str:
    kh, kw = p.filter_hw
    if (kh, kw) == (1, 1) and p.groups == 1 and p.padding == (0, 0):
        return "1x1 conv"
    return "conv"


# ----------------------------------------------------------------------------- CONV_2D


@dataclass
class ConvParams:
    """Everything CONV_2D / DEPTHWISE_CONV_2D needs at run time (shared with the C binding)."""

    op: str
    input_shape: tuple  # (B, H, W, C)
    output_shape: tuple  # (B, OH, OW, OC)
    filter_hw: tuple  # (KH, KW)
    stride: tuple  # (sh, sw)
    dilation: tuple  # (dh, dw)
    padding: tuple  # (top, left): TFLM padding_values (height, width)
    padding_after: tuple  # (bottom, right): extent read past the input by the last window
    input_zero_point: int
    output_zero_point: int
    multiplier: np.ndarray  # int32 values, one per output channel
    shift: np.ndarray  # TFLM convention: > 0 shifts left
    act_min: int
    act_max: int
    weights: np.ndarray  # int8, as stored: OHWI (conv) or 1HWO (depthwise)
    bias: np.ndarray | None  # int32 (OC,) or None
    folded_bias: np.ndarray  # int64 (OC,): bias - input_zero_point * sum(weights of the channel)
    depth_multiplier: int = 1  # depthwise only
    groups: int = 1  # conv only: input channels / filter input channels
    overflow: bool = False  # the int32 accumulator may wrap
    low_ram: bool = False  # the planner asked for less scratch (arena target; plan_memory): conv: the scratch-free C99 kernel; depthwise dm 2-3 (not 3x3): the column kernel
    packed: bool = False  # conv: the DSP kernel takes packed channel pairs (conv_model_packed; tg_conv2d_dspp_s8)
    driver: int = 0  # conv: the model's DSP driver entries (conv_model_driver: 1 = 1x1 matrix product only, 4 = in_c % 4 == 0 only)
    pair_kernel: bool = False  # depthwise: the model takes a pair kernel for this op: the 3x3 one, or the k x k one for
    # dw_kpairs layers (dw_model_pairs; dw_kernel)
    pair2_ok: bool = True  # depthwise: the model may take the stride-2 4-pixel pair kernel (dw_model_pair2, dw_pair2)
    pair2_small: bool = False  # ... on layers < DW_PAIR2_MIN_MACS too (dw_model_pair2_small: it is linked anyway)
    small_ok: bool = True  # depthwise: rows of 2-6 pixels may take tg_dwconv_p3q_s8 (dw_model_small, dw_small_rows)
    fast_strides: frozenset = frozenset()  # depthwise: strides whose 3x3 layers take the fast pass (dw_model_fast)
    ring_block: int | None = None  # depthwise ring kernel: groups of 4 channels per block (None: _dw_ring_dims' default)
    # numpy kernel internals
    _wmats: list = field(default_factory=list, repr=False)  # conv: per group (KH*KW*Cg, Fg) float matrices
    _wtaps: np.ndarray | None = field(default=None, repr=False)  # depthwise: (KH, KW, C, dm) int32


def _conv_common_checks(g, op):
    require(len(op.inputs) in (2, 3), op, f"expected 2 or 3 inputs, got {len(op.inputs)}")
    require(len(op.outputs) == 1, op, f"expected 1 output, got {len(op.outputs)}")
    require_int8(g, op)
    check_scales(g, op)
    x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
    require(len(x.shape) == 4, op, f"input has rank {len(x.shape)}, expected 4 (NHWC)")
    require(len(y.shape) == 4, op, f"output has rank {len(y.shape)}, expected 4 (NHWC)")
    require(x.shape[0] == y.shape[0], op, f"input batch {x.shape[0]} != output batch {y.shape[0]}")
    check_activation(op)
    o = op.options
    dh, dw = o.get("dilation_h_factor", 1), o.get("dilation_w_factor", 1)
    require(isinstance(dh, int) and isinstance(dw, int) and dh >= 1 and dw >= 1, op, f"dilation {dh}x{dw} not supported (must be >= 1)")
    return x, y, (dh, dw)


def _conv_prepare_common(g, op, x, y, w, b, filter_hw, dilation, filter_scales):
    stride, pad_b, pad_a = check_window_options(op, x.shape[1:3], filter_hw, y.shape[1:3], dilation)
    mult, shift = channel_multipliers(op, x.scale, filter_scales, y.scale)
    act_min, act_max = activation_range_int8(op.activation, y.scale, y.zero_point)
    return stride, pad_b, pad_a, mult, shift, act_min, act_max


def _inner_columns(ow: int, w: int, kw: int, sw: int, pl: int) -> tuple[int, int]:
    """CONV_2D's narrow kernel: the output columns [lo, hi) whose windows lie inside the input (no padding taps)."""
    lo = next((x for x in range(ow) if x * sw >= pl), ow)
    hi = max([lo] + [x + 1 for x in range(lo, ow) if x * sw - pl + kw <= w])
    return lo, hi


def _conv_packs_pairs(p: "ConvParams", dsp: int, target: str | None) -> bool:
    """Does CONV_2D lay its weights out in packed channel pairs (pack_conv_pairs)?"""
    # packed channel pairs only for the Cortex-M DSP kernel: Helium reads one row per channel, and cores
    # without the DSP extension keep the C99 kernel's own layout
    return bool(dsp and p.packed) and target_has_dsp(target) and not target_has_mve(target)


def _conv_weight_rows(p: "ConvParams", packed: bool) -> tuple[np.ndarray, int]:
    """CONV_2D's int8 weights as the C kernels read them, and the bytes per row (`w_row`): packed channel
    pairs, else one row per output channel padded to 4 bytes."""
    oc = p.output_shape[3]
    if packed:
        w_row = -(-(p.filter_hw[0] * p.filter_hw[1] * p.input_shape[3]) // 4) * 4
        return pack_conv_pairs(p.weights.reshape(oc, -1), w_row), w_row
    weights = pad_rows(p.weights.reshape(oc, -1))
    return weights, weights.shape[1]


def _conv_rq_table(p: "ConvParams", dsp: int, left: bool) -> np.ndarray:
    """CONV_2D's per-channel requantization table: the exact SMLAL rows (dsp 2; with left-shifted channels
    rqxl_table), else rq_table."""
    if dsp == 2:
        return rqxl_table(p.multiplier, p.shift) if left else rqx_table(p.multiplier, p.shift)
    return rq_table(p.multiplier, p.shift, p.output_zero_point)


def _conv_entry(p: "ConvParams", dsp: int, left: bool, packed: bool, target: str | None) -> str:
    """The C entry point of CONV_2D's kernel."""
    if not dsp:
        one = p.filter_hw == (1, 1) and p.groups == 1 and p.padding == (0, 0)
        return "tg_conv2d_1x1_s8" if one else "tg_conv2d_s8"
    # the DSP kernel (the C99 code in a portable build); with left-shifted channels its variant that
    # links the left-shift requantization
    fn = "tg_conv2d_dspl_s8" if left else ("tg_conv2d_dspp_s8" if packed else "tg_conv2d_dsp_s8")
    if target_has_dsp(target) and not target_has_mve(target):
        fn = fn[:-3] + conv_driver_entry(p) + "_s8"  # the model's smallest driver copy (conv_model_driver)
    return fn


@register
class Conv2D(Op):
    name = "CONV_2D"
    dsp_dtypes = ("int8",)

    def check(self, g, op):
        x, y, dil = _conv_common_checks(g, op)
        w = check_weights(g, op, 1, 4)
        oc, kh, kw, cf = w.shape
        require(min(w.shape) >= 1, op, f"filter '{w.name}' has an empty shape {list(w.shape)}")
        require(kh * kw * cf <= _MAX_TAPS, op, f"filter {kh}x{kw}x{cf} has more than {_MAX_TAPS} products per output; not supported")
        require(y.shape[3] == oc, op, f"output has {y.shape[3]} channels, filter {oc}")
        cin = x.shape[3]
        require(cin % cf == 0, op, f"input has {cin} channels, not a multiple of the filter's {cf} input channels")
        groups = cin // cf
        require(oc % groups == 0, op, f"{oc} output channels cannot be split into {groups} groups")
        check_bias(g, op, 2, oc)
        per_channel_scales(op, w, oc, 0)
        check_window_options(op, x.shape[1:3], (kh, kw), y.shape[1:3], dil)
        channel_multipliers(op, x.scale, per_channel_scales(op, w, oc, 0), y.scale)

    def prepare(self, g, op):
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        dil = (op.options.get("dilation_h_factor", 1), op.options.get("dilation_w_factor", 1))
        w = g.tensors[op.inputs[1]]
        bt = check_bias(g, op, 2, w.shape[0])
        oc, kh, kw, cf = w.shape
        groups = x.shape[3] // cf
        stride, pad_b, pad_a, mult, shift, amin, amax = _conv_prepare_common(
            g, op, x, y, w, bt, (kh, kw), dil, per_channel_scales(op, w, oc, 0))
        wd = np.asarray(w.data, dtype=np.int8)
        bias = None if bt is None else np.asarray(bt.data, dtype=np.int32).reshape(-1)
        wsum = wd.astype(np.int64).reshape(oc, -1).sum(axis=1)
        folded = -int(x.zero_point) * wsum
        if bias is not None:
            folded = folded + bias.astype(np.int64)
        k = kh * kw * cf
        ftype = np.float32 if k <= _F32_EXACT_K else np.float64
        fg = oc // groups
        wmats = [np.ascontiguousarray(wd[gi * fg : (gi + 1) * fg].reshape(fg, k).T.astype(ftype)) for gi in range(groups)]
        p = ConvParams(
            op=op.op, input_shape=tuple(x.shape), output_shape=tuple(y.shape), filter_hw=(kh, kw), stride=stride,
            dilation=dil, padding=pad_b, padding_after=pad_a, input_zero_point=int(x.zero_point),
            output_zero_point=int(y.zero_point), multiplier=mult, shift=shift, act_min=int(amin), act_max=int(amax),
            weights=wd, bias=bias, folded_bias=folded, groups=groups, overflow=acc_may_overflow(k, bias), _wmats=wmats,
        )
        p.packed = conv_model_packed(p, g)
        p.driver = conv_model_driver(g)
        return p

    def run(self, p: ConvParams, inputs):
        x = inputs[0]
        n = x.shape[0]
        b, h, w, c = p.input_shape
        _, oh, ow, oc = p.output_shape
        kh, kw = p.filter_hw
        per_sample = oh * ow * kh * kw * c * p._wmats[0].itemsize  # im2col bytes per sample
        out = run_in_blocks(self._block, p, x.reshape(n * b, h, w, c), per_sample)
        return [out.reshape(n, b, oh, ow, oc)]

    @staticmethod
    def _block(p: ConvParams, x: np.ndarray) -> np.ndarray:
        """(S, H, W, C) int8 -> (S, OH, OW, OC) int8."""
        s_, h, w, c = x.shape
        _, oh, ow, oc = p.output_shape
        kh, kw = p.filter_hw
        ftype = p._wmats[0].dtype
        rows = s_ * oh * ow
        if kh == kw == 1 and p.stride == (1, 1) and (oh, ow) == (h, w):
            cols = x.reshape(rows, c).astype(ftype)
            taps = 1
        else:
            xp = pad_nhwc(x, p.padding, p.padding_after, p.input_zero_point)
            taps = kh * kw
            cols = np.empty((s_, oh, ow, taps, c), dtype=ftype)
            for ky in range(kh):
                for kx in range(kw):
                    cols[:, :, :, ky * kw + kx, :] = tap_slice(xp, ky, kx, (oh, ow), p.stride, p.dilation)
            cols = cols.reshape(rows, taps * c)
        if p.groups == 1:
            acc = cols @ p._wmats[0]
        else:
            cg = c // p.groups
            fg = oc // p.groups
            acc = np.empty((rows, oc), dtype=ftype)
            c3 = cols.reshape(rows, taps, c)
            for gi in range(p.groups):
                sub = c3[:, :, gi * cg : (gi + 1) * cg].reshape(rows, taps * cg)
                acc[:, gi * fg : (gi + 1) * fg] = sub @ p._wmats[gi]
        out = requantize_to_int8(acc, p.multiplier, p.shift, p.output_zero_point, p.act_min, p.act_max,
                                 bias=p.folded_bias, wrap=p.overflow)
        return out.reshape(s_, oh, ow, oc)

    def macs(self, g, op):
        y = g.tensors[op.outputs[0]]
        w = g.tensors[op.inputs[1]]
        return int(np.prod(y.shape)) * int(np.prod(w.shape[1:]))

    def emit_c(self, p: ConvParams, ctx):
        """C binding: tg_conv2d_dsp_s8 (dsp != 0), else tg_conv2d_s8 or tg_conv2d_1x1_s8 (firmware/kernels/tg_conv.c); the bias
        carries the folded -input_zero_point * sum(w) term (wrapped to int32 like the C
        accumulator). Weights are laid out for 32-bit loads (rows padded to 4 bytes); `dsp`
        enables the Cortex-M DSP variant where it is exact, with its im2col scratch."""
        ctx.need("tg_conv.c", "tg_mve.c")  # tg_mve.c: the Helium kernel the entry points hand ops to (tg_mve.h)
        nw = conv_narrow_on(p, ctx.target)
        if nw:  # every target: the DSP kernel, or its C99 loop over the same records
            return self._emit_narrow(p, ctx, nw)
        return self._emit_rows(p, ctx)

    @staticmethod
    def _emit_narrow(p: ConvParams, ctx, nw: int) -> str:
        """tg_conv2d_dspnN_s8 over narrow_records (N = nw registers of taps per pixel): no bias or
        requantization table of its own, no scratch. `pairs` / `depth_multiplier` carry the range
        [lo, hi) of output columns whose windows lie inside the input."""
        b, h, w, c = p.input_shape
        _, oh, ow, oc = p.output_shape
        kh, kw = p.filter_hw
        sh_, sw_ = p.stride
        pt, pl = p.padding
        if (kh, kw, sh_, sw_, pt, pl) == (1, 1, 1, 1, 0, 0):  # one row of pixels
            h, w, oh, ow = 1, h * w, 1, oh * ow
        lo, hi = _inner_columns(ow, w, kw, sw_, pl)
        fields = dict(batches=b, in_h=h, in_w=w, in_c=c, out_h=oh, out_w=ow, out_c=oc, k_h=kh, k_w=kw,
                      stride_h=sh_, stride_w=sw_, dil_h=1, dil_w=1, pad_top=pt, pad_left=pl, groups=1,
                      depth_multiplier=hi, input_zp=p.input_zero_point, output_zp=p.output_zero_point,
                      act_min=p.act_min, act_max=p.act_max, w_row=4 * conv_narrow_geometry(p)[1], dsp=1, pairs=lo,
                      weights=ctx.const(narrow_records(p), "int32_t", f"op{ctx.op_index}_narrow"), bias="NULL", rq="NULL")
        return f"tg_conv2d_dspn{nw}_s8({ctx.struct('tg_conv_params_t', fields)}, {ctx.input(0)}, {ctx.output()}, NULL);"

    @staticmethod
    def _emit_rows(p: ConvParams, ctx) -> str:
        """The kernels over weight rows: tg_conv2d_s8 / tg_conv2d_1x1_s8 (C99), or the DSP kernel and its variants
        (dsp != 0) with the requantization table of its mode and its im2col scratch."""
        from tinygen.model.fixedpoint import wrap_int32

        b, h, w, c = p.input_shape
        _, oh, ow, oc = p.output_shape
        kh, kw = p.filter_hw
        k = ctx.op_index
        dsp = conv2d_dsp_mode(p)[0]
        packed = _conv_packs_pairs(p, dsp, ctx.target)
        weights, w_row = _conv_weight_rows(p, packed)
        left = dsp == 2 and bool(np.any(left_channels(p.multiplier, p.shift)))
        fields = dict(batches=b, in_h=h, in_w=w, in_c=c, out_h=oh, out_w=ow, out_c=oc, k_h=kh, k_w=kw,
                      stride_h=p.stride[0], stride_w=p.stride[1], dil_h=p.dilation[0], dil_w=p.dilation[1],
                      pad_top=p.padding[0], pad_left=p.padding[1], groups=p.groups, depth_multiplier=p.depth_multiplier,
                      input_zp=p.input_zero_point, output_zp=p.output_zero_point, act_min=p.act_min, act_max=p.act_max,
                      w_row=w_row, dsp=dsp, pairs=int(packed),
                      weights=ctx.const(weights, "int8_t", f"op{k}_weights"),
                      bias=ctx.const(wrap_int32(p.folded_bias), "int32_t", f"op{k}_bias"),
                      rq="(const tg_rq_t *)(const void *)" + ctx.const(_conv_rq_table(p, dsp, left), "int32_t", f"op{k}_rq"))
        fn = _conv_entry(p, dsp, left, packed, ctx.target)
        scratch = ctx.scratch() if dsp and conv2d_scratch_bytes(p) else "NULL"  # (Helium 1x1 in place: none)
        return f"{fn}({ctx.struct('tg_conv_params_t', fields)}, {ctx.input(0)}, {ctx.output()}, {scratch});"

    def scratch_bytes(self, p: ConvParams) -> int:
        return conv2d_scratch_bytes(p)

    def kernel_variant(self, p: ConvParams, target: str | None = None) -> KernelVariant:
        scratch = self.scratch_bytes(p)
        if not target_has_dsp(target):
            return KernelVariant(C99, f"target {target} has no DSP extension", scratch)
        nw = conv_narrow_on(p, target)
        if nw:
            return KernelVariant(DSP_SHORTCUT, f"narrow {_conv_kind(p)} ({p.filter_hw[0] * p.filter_hw[1] * p.input_shape[3]} "
                                               f"taps in {nw} registers per pixel, 4 channels per store, no scratch): "
                                               f"SMMLAR requantization proved exact", scratch)
        mode, name, reason = conv2d_dsp_mode(p)
        if target_has_mve(target) and conv2d_mve(p):
            how = "in place" if _conv_kind(p) == "1x1 conv" else "int8 im2col columns in the scratch"
            return KernelVariant(MVE, f"{_conv_kind(p)}: Helium, 4 pixels x 16 taps per VMLADAVA ({how}), "
                                      f"VQRDMULH/VRSHL requantization", scratch)
        if mode and p.packed and not target_has_mve(target):
            reason += "; channel pairs packed (SMLAD + SXTB16, 12 instructions per 16 MACs)"
        return KernelVariant(name, f"{_conv_kind(p)}: {reason}" if mode else reason, scratch)


# ----------------------------------------------------------------------------- DEPTHWISE_CONV_2D


# ----------------------------------------------------------------------------- depthwise kernel reasons
# (DepthwiseConv2D.kernel_variant: the text inspect and generate print per layer)


def _dw_mve_reason(p: "ConvParams") -> str:
    """The Helium depthwise kernel (dw_mve_kernel) in words."""
    kh, kw = p.filter_hw
    how = {"plane": "plane kernel: the channel's padded plane on the stack, 4 output pixels per vector, "
                    "a gather + VMLA per tap",
           "row": "row kernel: a ring of padded planar rows on the stack, 4 output pixels per vector, "
                  "a load + VMLA per tap",
           "pixel": "pixel kernel: 4 channels per vector, a gather + VMUL + VADD per tap"}[dw_mve_kernel(p)]
    return f"depthwise {kh}x{kw}: Helium {how}, VQRDMULH/VRSHL requantization (no arena scratch used)"


def _dw_on_p3(p: "ConvParams") -> bool:
    """Does the layer run on the 3x3 pair kernel's 2-pixel pass (tg_dwconv_p3*_s8 other than the stride-2 ones)?"""
    return p.pair_kernel and not dw_regs(p) and not dw_columns(p) and not dw_kpairs(p) and not dw_pair2(p)


def _dw_left_tail(p: "ConvParams") -> str:
    """What happens to the channels with an effective scale >= 0.5 (left shifts), or ""."""
    sh = np.asarray(p.shift).reshape(-1)
    live = np.asarray(p.multiplier).reshape(-1) != 0
    n_left = int(np.count_nonzero(live & (np.broadcast_to(sh, live.shape) >= 0)))
    if p.pair_kernel and dw_pair2(p):
        return f"; {n_left} channel(s) with effective scale >= 0.5 (left shifts: SMLAL rows in the assembly)" if n_left else ""
    n_c = dw_pair_c_channels(p) if _dw_on_p3(p) else n_left
    tail = f"; {n_c} channel(s) with effective scale >= 0.5 requantized in C" if n_c else ""
    if n_left > n_c:
        tail = (f"; {n_left - n_c} channel(s) with effective scale >= 0.5 in SMMLAR groups (accumulator "
                f"scaled by 2^(shift+1))" + tail)
    return tail


def _dw_pair_modes(p: "ConvParams") -> np.ndarray:
    """The pair kernels' requantization mode per group of 4 channels (DW_PAIR_SMMLAR, ..._FLAG, or SMLAL)."""
    if dw_kpairs(p):
        return np.full(1, DW_PAIR_SMMLAR)
    return dw_pair2_blocks(p)[:, 0] if dw_pair2(p) else dw_pair_blocks(p)[:, 48]


def _dw_const_channels(p: "ConvParams", modes: np.ndarray) -> int:
    """Dead channels of the 3x3 pair layout's SMMLAR groups whose row holds their one output value
    (dw_pair_const_channels)."""
    oc = p.output_shape[3]
    mult = np.broadcast_to(np.asarray(p.multiplier).reshape(-1), (oc,))
    rows = dw_pair_blocks(p)[:, 32:48].reshape(-1, 4)[:oc]
    grp = np.repeat(modes >= DW_PAIR_SMMLAR, 4)[:oc]
    return int(np.count_nonzero(grp & (rows[:, 0] == 0) & (mult != 0)))


def _dw_rq_reason(p: "ConvParams") -> str:
    """The depthwise kernel's requantization in words: SMLAL rows, or SMMLAR on (some of) the pair kernels' groups."""
    if not p.pair_kernel:
        return "exact SMLAL requantization"
    modes = _dw_pair_modes(p)
    n_flg = int(np.count_nonzero(modes == DW_PAIR_SMMLAR_FLAG))
    n_smm = int(np.count_nonzero(modes == DW_PAIR_SMMLAR)) + n_flg
    flg = (f"; {n_flg} of them flagged: a sign correction per channel, for left shifts whose accumulator "
           "takes either sign" if n_flg else "")
    n_const = _dw_const_channels(p, modes) if _dw_on_p3(p) else 0
    if n_const:
        flg += f"; {n_const} dead channel(s) with one output value for every input (weights 0, the value in the row)"
    if n_smm == modes.size:
        return f"exact SMMLAR requantization (doubled accumulators{flg})"
    if not n_smm:
        return "exact SMLAL requantization"
    return (f"exact requantization: SMMLAR (doubled accumulators) on {n_smm} of {modes.size} groups of 4 "
            f"channels{' (' + flg[2:] + ')' if flg else ''}, SMLAL on the others (|bias| + 128 * sum|w| >= 2^30, a "
            "long shift, or a left shift L with (|bias| + 128 * sum|w|) * 2^(L+1) >= 2^31 or weights * 2^(L+1) "
            "beyond int16)")


def _dw_how(p: "ConvParams") -> str:
    """How the DSP kernel runs the layer, and why not a faster one where it does not take it."""
    if dw_regs(p):
        how = ("int8 input read directly, 4 channels per word widened in registers (SXTB16), "
               "each meeting 2 of its filters (SMLABB/SMLATT), no ring")
        if p.input_shape[3] % 4:
            how += f"; the last {p.input_shape[3] % 4} input channel(s) (a partial group of 4) in C"
        return how
    if dw_columns(p):
        how = "per input channel, int16 window columns of 2 pixels x dm filters (SMLAD)"
        if p.depth_multiplier < DW_COLUMNS_MIN_DM:
            how += " (RAM: the faster ring kernel's scratch does not fit the arena target)"
        return how
    kh, kw = p.filter_hw
    rows, _, block = _dw_ring_dims(p)
    how = f"ring of {rows} widened rows x {4 * block} channels"
    turned = ", transposed (columns as rows)" if dw_transposed(p) else ""
    if p.pair_kernel and dw_kpairs(p):
        return how + f", {kh}x{kw} tap pairs x 2 pixels (SMLAD)"
    if dw_tiny(p):
        return (f"the whole {p.input_shape[1]}x{p.input_shape[2]} image widened once per 4 channels (input zero point "
                "subtracted: padded taps skipped), 1 channel x a row per pass (SMLAD)")
    if dw_pair2(p):
        return how + ", 3x3 tap pairs, 1 channel x 4 pixels per pass (SMLAD)" + turned
    if p.pair_kernel:
        return how + ", 3x3 tap pairs x 2 pixels (SMLAD)" + turned + _dw_p3_notes(p)
    if dw_pairs3(p) or dw_kpairs(p):
        how += f"; {kh}x{kw} pair kernel not used (< 75 % of the model's depthwise MACs would run on the pair kernels)"
    return how


def _dw_p3_notes(p: "ConvParams") -> str:
    """The 3x3 pair kernel's 2-pixel pass: why not the stride-2 4-pixel kernel, how its small rows are widened."""
    notes = _dw_not_pair2(p) + _dw_narrow_pair_note(p)
    if dw_small_rows(p):
        notes += ", rows of 2-6 pixels widened straight on"
    if dw_fast(p):
        notes += "; fast pass (requantization and store inline: every group SMMLAR, no clamp)"
    elif dw_small_rows_shape(p):
        notes += ("; rows of 2-6 pixels widened group by group, not straight on: the model links the "
                  "stride-2 4-pixel kernel's partial blocks (12 KB code budget)")
    return notes


def _dw_narrow_pair_note(p: "ConvParams") -> str:
    """Why a layer narrower than the 2-pixel pass's break-even (_dw_pair_rows_ok fast) with the SMLABB ring kernel
    runs on it all the same (dw_model_pairs: no layer of the model needs the SMLABB kernel), or "". Rows of 2-6
    pixels widened straight on (dw_small_rows) are left out: that path was built for them."""
    if dw_pairs3(p) or dw_small_rows(p):
        return ""
    g = dw_geometry(p)
    least = 4 if g["stride_w"] == 1 else 8
    return (f"; below {least} pixels per row at stride {g['stride_w']} the SMLABB ring kernel beat the 2-pixel pass "
            "(measured), but no other layer needs it: one ring kernel linked (12 KB code budget)")


def _dw_not_pair2(p: "ConvParams") -> str:
    """Why a 3x3 stride-2 layer on the pair kernel stays on the 2-pixel pass (not dw_pair2), or "" (stride 1)."""
    g = dw_geometry(p)
    if (g["k_h"], g["k_w"], g["stride_w"]) != (3, 3, 2):
        return ""
    head = "; not the stride-2 4-pixel kernel: "
    if not p.pair2_ok and dw_pair2_shape(p):
        return head + "the model is mostly 5x5 / 7x7 layers on the k x k pair kernel (12 KB code budget)"
    width = _dw_pair2_width_problem(g["out_w"], "columns" if dw_transposed(p) else "rows")
    if width:
        return head + width
    macs = 9 * int(np.prod(p.output_shape))
    if macs < DW_PAIR2_MIN_MACS and not p.pair2_small:
        return (head + f"{macs:,} MACs (< {DW_PAIR2_MIN_MACS:,}) and no larger stride-2 layer of the model links "
                "its ~2.4 KB of code (12 KB code budget)")
    return ""


# Measured per layer (benchmarks/mcu_bench.py, corpus: see _dw_pair2_width_ok): output row width ->
# (MAC/instruction on the 2-pixel pass, on the 4-pixel kernel) where a partial last block of 1-2 pixels loses.
DW_PAIR2_PARTIAL_MEASURED = {25: (0.348, 0.307), 13: (0.336, 0.286), 6: (0.343, 0.276)}


def _dw_pair2_width_problem(out_w: int, rows: str = "rows") -> str:
    """Why rows of `out_w` output pixels keep the 2-pixel pass (_dw_pair2_width_ok), or "" where they need not."""
    if _dw_pair2_width_ok(out_w):
        return ""
    if out_w < DW_PAIR2_MIN_W:
        return f"{rows} of {out_w} pixels, less than one block of 4"
    part = out_w % 4
    if part == 3:
        return (f"{rows} of {out_w} pixels end with a partial block of 3 after one whole block (its ~450 B of "
                "code only for rows of at least 2 whole blocks: 12 KB code budget)")
    two, four = DW_PAIR2_PARTIAL_MEASURED.get(out_w, (None, None))
    slower = (f"slower there: {four} vs {two} MAC/instruction, measured" if two else
              f"slower on the rows of {', '.join(map(str, sorted(DW_PAIR2_PARTIAL_MEASURED)))} measured")
    return f"{rows} of {out_w} pixels end with a partial block of {part} ({slower})"


@register
class DepthwiseConv2D(Op):
    name = "DEPTHWISE_CONV_2D"
    dsp_dtypes = ("int8",)

    def check(self, g, op):
        x, y, dil = _conv_common_checks(g, op)
        w = check_weights(g, op, 1, 4)
        one, kh, kw, oc = w.shape
        require(one == 1, op, f"filter '{w.name}' has shape {list(w.shape)}; expected [1, KH, KW, channels]")
        require(kh * kw <= _MAX_TAPS, op, f"filter {kh}x{kw} has more than {_MAX_TAPS} taps; not supported")
        require(min(w.shape) >= 1, op, f"filter '{w.name}' has an empty shape {list(w.shape)}")
        require(y.shape[3] == oc, op, f"output has {y.shape[3]} channels, filter {oc}")
        dm = op.options.get("depth_multiplier", 1)
        require(isinstance(dm, int) and dm >= 1, op, f"depth multiplier {dm} not supported")
        cin = x.shape[3]
        require(cin * dm == oc, op, f"depth multiplier {dm} with {cin} input channels does not give the filter's {oc} output channels")
        check_bias(g, op, 2, oc)
        per_channel_scales(op, w, oc, 3)
        check_window_options(op, x.shape[1:3], (kh, kw), y.shape[1:3], dil)
        channel_multipliers(op, x.scale, per_channel_scales(op, w, oc, 3), y.scale)

    def prepare(self, g, op):
        p = self._prepare_op(g, op)
        p.pair_kernel = dw_model_pairs(p, g, self)
        p.pair2_ok = dw_model_pair2(g, self)
        p.pair2_small = p.pair2_ok and dw_model_pair2_small(g, self)
        p.small_ok = dw_model_small(g, self)
        p.fast_strides = dw_model_fast(g, self)
        return p

    def _prepare_op(self, g, op):
        """The op's params on their own (prepare adds the model-wide kernel choice)."""
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        dil = (op.options.get("dilation_h_factor", 1), op.options.get("dilation_w_factor", 1))
        w = g.tensors[op.inputs[1]]
        _, kh, kw, oc = w.shape
        bt = check_bias(g, op, 2, oc)
        dm = op.options.get("depth_multiplier", 1)
        stride, pad_b, pad_a, mult, shift, amin, amax = _conv_prepare_common(
            g, op, x, y, w, bt, (kh, kw), dil, per_channel_scales(op, w, oc, 3))
        wd = np.asarray(w.data, dtype=np.int8)
        bias = None if bt is None else np.asarray(bt.data, dtype=np.int32).reshape(-1)
        wsum = wd.astype(np.int64).reshape(kh * kw, oc).sum(axis=0)
        folded = -int(x.zero_point) * wsum
        if bias is not None:
            folded = folded + bias.astype(np.int64)
        cin = x.shape[3]
        return ConvParams(
            op=op.op, input_shape=tuple(x.shape), output_shape=tuple(y.shape), filter_hw=(kh, kw), stride=stride,
            dilation=dil, padding=pad_b, padding_after=pad_a, input_zero_point=int(x.zero_point),
            output_zero_point=int(y.zero_point), multiplier=mult, shift=shift, act_min=int(amin), act_max=int(amax),
            weights=wd, bias=bias, folded_bias=folded, depth_multiplier=dm, overflow=acc_may_overflow(kh * kw, bias),
            _wtaps=wd.reshape(kh, kw, cin, dm).astype(np.int32),
        )

    def run(self, p: ConvParams, inputs):
        x = inputs[0]
        n = x.shape[0]
        b, h, w, c = p.input_shape
        _, oh, ow, oc = p.output_shape
        out = run_in_blocks(self._block, p, x.reshape(n * b, h, w, c), oh * ow * oc * 8)
        return [out.reshape(n, b, oh, ow, oc)]

    @staticmethod
    def _block(p: ConvParams, x: np.ndarray) -> np.ndarray:
        """(S, H, W, C) int8 -> (S, OH, OW, OC) int8."""
        s_, h, w, c = x.shape
        _, oh, ow, oc = p.output_shape
        kh, kw = p.filter_hw
        dm = p.depth_multiplier
        xp = pad_nhwc(x, p.padding, p.padding_after, p.input_zero_point)
        # int32 is exact: |sum of w * x| <= KH*KW * 2^14 < 2^31 (check() bounds the taps)
        shape = (s_, oh, ow, c) if dm == 1 else (s_, oh, ow, c, dm)
        wt = p._wtaps.reshape(kh, kw, c) if dm == 1 else p._wtaps
        acc = np.zeros(shape, dtype=np.int32)
        tmp = np.empty_like(acc)
        for ky in range(kh):
            for kx in range(kw):
                xs = tap_slice(xp, ky, kx, (oh, ow), p.stride, p.dilation)
                np.multiply(xs if dm == 1 else xs[..., None], wt[ky, kx], out=tmp)
                np.add(acc, tmp, out=acc)
        out = requantize_to_int8(acc.reshape(s_, oh, ow, oc), p.multiplier, p.shift, p.output_zero_point,
                                 p.act_min, p.act_max, bias=p.folded_bias, wrap=p.overflow)
        return out

    def macs(self, g, op):
        y = g.tensors[op.outputs[0]]
        w = g.tensors[op.inputs[1]]
        return int(np.prod(y.shape)) * int(w.shape[1] * w.shape[2])

    def emit_c(self, p: ConvParams, ctx):
        """C binding: tg_dwconv_s8 / tg_dwconv_p3_s8 / tg_dwconv_dm_s8 / tg_dwconv_dmr_s8 (firmware/kernels/tg_dwconv.c;
        register kernel, dw_regs: the blocks of dw_reg_blocks, `w_row` = -3). Ring kernel
        (3x3 stride 1 rows: tg_dwconv_p3_s8 with dw_pair_blocks, see dw_pairs3); ring kernel
        (depth multiplier 1): the parameter blocks of dw_blocks (bias, weights, requantization rows per group of 4
        channels); column kernel (dw_columns): int8 filter rows, folded bias, dw_rq_rows. The DSP
        kernel runs for every depthwise op (`dsp` = 1), with its scratch (dw_scratch_bytes)."""
        b, _, _, c = p.input_shape
        oc = p.output_shape[3]
        kh, kw = p.filter_hw
        k = ctx.op_index
        if target_has_mve(ctx.target):  # (the pair kernel's transposition is not the Helium kernel's)
            return self._emit_mve(p, ctx, _dw_geometry_rows(p))
        geo = dw_geometry(p)  # (transposed for layers one column wide, and where the pair kernel runs transposed)
        ctx.need("tg_dwconv.c")
        fields = dict(batches=b, in_h=geo["in_h"], in_w=geo["in_w"], in_c=c, out_h=geo["out_h"], out_w=geo["out_w"],
                      out_c=oc, k_h=geo["k_h"], k_w=geo["k_w"], stride_h=geo["stride_h"], stride_w=geo["stride_w"],
                      dil_h=geo["dil_h"], dil_w=geo["dil_w"], pad_top=geo["pad_top"], pad_left=geo["pad_left"],
                      groups=1 if dw_columns(p) else _dw_ring_dims(p)[2],
                      depth_multiplier=p.depth_multiplier, input_zp=p.input_zero_point, output_zp=p.output_zero_point,
                      act_min=p.act_min, act_max=p.act_max, w_row=0, dsp=1)
        if dw_regs(p):
            fields.update(weights=ctx.const(dw_reg_blocks(p), "int32_t", f"op{k}_params"), bias="NULL", rq="NULL",
                          w_row=-3, groups=1)
        elif dw_columns(p):
            from tinygen.model.fixedpoint import wrap_int32

            weights = pad_rows(p.weights.reshape(kh * kw, oc).T)  # [oc][w_row] int8 filter rows
            fields.update(w_row=weights.shape[1], weights=ctx.const(weights, "int8_t", f"op{k}_weights"),
                          bias=ctx.const(wrap_int32(p.folded_bias), "int32_t", f"op{k}_bias"),
                          rq="(const tg_rq_t *)(const void *)" + ctx.const(dw_rq_rows(p.multiplier, p.shift), "int32_t",
                                                                           f"op{k}_rq"))
        elif p.pair_kernel and dw_kpairs(p):
            fields.update(weights=ctx.const(dw_kpair_blocks(p), "int32_t", f"op{k}_params"), bias="NULL", rq="NULL",
                          w_row=-6)
        else:
            pairs = p.pair_kernel
            if dw_tiny(p) and target_has_dsp(ctx.target):
                fields.update(weights=ctx.const(dw_tiny_blocks(p), "int32_t", f"op{k}_params"), bias="NULL",
                              rq="NULL", w_row=-7)
            elif pairs and dw_pair2(p) and target_has_dsp(ctx.target):  # (the C99 code reads dw_pair_blocks)
                fields.update(weights=ctx.const(dw_pair2_params(p), "int32_t", f"op{k}_params"), bias="NULL",
                              rq="NULL", w_row=-5 if dw_transposed(p) else -4)
            else:
                blocks = dw_pair_blocks(p) if pairs else dw_blocks(p)
                fields.update(weights=ctx.const(blocks, "int32_t", f"op{k}_params"), bias="NULL", rq="NULL",
                              w_row=(-2 if dw_transposed(p) else -1) if pairs else 0)
        return f"{dw_kernel(p)}({ctx.struct('tg_conv_params_t', fields)}, {ctx.input(0)}, {ctx.output()}, {ctx.scratch()});"

    def _emit_mve(self, p: ConvParams, ctx, geo) -> str:
        """Helium targets: tg_dwconv_mve_s8 (firmware/kernels/tg_mve.c; layout in tg_kernels.h): groups of 4
        channels, weights [group][tap][4], folded bias, requantization rows (mult, left, -right, fix-up
        mask) per group as 4-lane vectors; no scratch."""
        ctx.need("tg_mve.c")
        k = ctx.op_index
        weights, bias, rq = dw_mve_tables(p)
        fields = dict(batches=p.input_shape[0], in_h=geo["in_h"], in_w=geo["in_w"], in_c=p.input_shape[3],
                      out_h=geo["out_h"], out_w=geo["out_w"], out_c=p.output_shape[3], k_h=geo["k_h"], k_w=geo["k_w"],
                      stride_h=geo["stride_h"], stride_w=geo["stride_w"], dil_h=geo["dil_h"], dil_w=geo["dil_w"],
                      pad_top=geo["pad_top"], pad_left=geo["pad_left"], groups=1, depth_multiplier=p.depth_multiplier,
                      input_zp=p.input_zero_point, output_zp=p.output_zero_point, act_min=p.act_min,
                      act_max=p.act_max, w_row=4 * p.filter_hw[0] * p.filter_hw[1], dsp=0,
                      weights=ctx.const(weights, "int8_t", f"op{k}_weights"),
                      bias=ctx.const(bias, "int32_t", f"op{k}_bias"),
                      rq="(const tg_rq_t *)(const void *)" + ctx.const(rq, "int32_t", f"op{k}_rq"))
        return f"tg_dwconv_mve_s8({ctx.struct('tg_conv_params_t', fields)}, {ctx.input(0)}, {ctx.output()}, NULL);"

    def scratch_bytes(self, p: ConvParams) -> int:
        return dw_scratch_bytes(p)

    def grow_scratch(self, p: ConvParams, room: int):
        """Ring kernel: a larger block of channels (fewer passes over the rows: less per-row set-up), the
        largest whose scratch fits in `room` (plan_memory: holes of the plan); up to every channel."""
        if dw_columns(p) or dw_regs(p) or dw_tiny(p):
            return None
        old = p.ring_block
        cur = _dw_ring_dims(p)[2]
        best = cur
        for b in range(cur + 1, -(-p.output_shape[3] // 4) + 1):
            p.ring_block = b
            if dw_scratch_bytes(p) > room:
                break
            best = b
        if best == cur:
            p.ring_block = old
            return None
        p.ring_block = best

        def undo():
            p.ring_block = old
        return undo

    def kernel_variant(self, p: ConvParams, target: str | None = None) -> KernelVariant:
        """The depthwise kernel on `target` and why (dw_kernel: the C entry point the generated code calls), for
        inspect / generate: the kernel, how it runs the layer, its requantization, and why the layer is not on a
        faster kernel where it is not (_dw_how)."""
        scratch = self.scratch_bytes(p)
        if not target_has_dsp(target):
            return KernelVariant(C99, f"target {target} has no DSP extension", scratch)
        if target_has_mve(target):
            return KernelVariant(MVE, _dw_mve_reason(p), scratch)
        kh, kw = p.filter_hw
        what = f"depthwise {kh}x{kw}" + (f", depth multiplier {p.depth_multiplier}" if p.depth_multiplier > 1 else "")
        return KernelVariant(DSP_EXACT, f"{what}: {dw_kernel(p)}, {_dw_how(p)}, {_dw_rq_reason(p)}{_dw_left_tail(p)}",
                             scratch)
