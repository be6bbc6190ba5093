"""FULLY_CONNECTED (int8 activations, per-tensor or per-channel int8 weights).

TFLite Micro semantics (fully_connected_common.cc CalculateOpDataFullyConnected,
reference_integer_ops::FullyConnected / FullyConnectedPerChannel):
- per-tensor weights: one multiplier from `double(input_scale) * double(filter_scale) /
  double(output_scale)`, and Prepare fails unless
  `|input_scale * filter_scale - bias_scale| / output_scale <= 0.02` when there is a bias.
  (Older TFLite sources take the product `input_scale * filter_scale` in float32 first;
  the tflite_micro build used as the oracle computes it in double: tests/test_ops_fc.py
  pins this with accumulators that round differently under the two.)
- per-channel weights (one scale per output unit): the same all-double formula per unit;
- the input is read as a flat [batches, accum_depth] matrix, where accum_depth is the
  filter's last dimension and batches is the product of all output dimensions but the
  last (so inputs of rank > 2 are flattened, and keep_num_dims only changes the shape).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from tinygen.model.fixedpoint import activation_range_int8, quantize_multiplier, requantize_to_int8
from .base import C99, DSP, MVE, KernelVariant, Op, register, require, require_int8, target_has_dsp, target_has_mve
from .conv import (
    _F32_EXACT_K,
    _MAX_TAPS,
    acc_may_overflow,
    channel_multipliers,
    check_activation,
    check_bias,
    check_scales,
    check_weights,
    dsp_mode,
    left_channels,
    pad_rows,
    rq_table,
    rqx_table,
    rqxl_table,
)


@dataclass
class FullyConnectedParams:
    input_shape: tuple
    output_shape: tuple
    batches: int  # rows of the flattened input per sample
    accum_depth: int  # K
    units: int  # output channels
    per_channel: bool
    input_zero_point: int
    output_zero_point: int
    multiplier: np.ndarray  # int32 values: (units,) per channel, (1,) per tensor
    shift: np.ndarray  # TFLM convention: > 0 shifts left
    act_min: int
    act_max: int
    weights: np.ndarray  # int8 (units, K)
    bias: np.ndarray | None  # int32 (units,) or None
    folded_bias: np.ndarray  # int64 (units,): bias - input_zero_point * row sums of the weights
    overflow: bool = False
    dot: bool = False  # a small layer on the dot-product kernel (fc_model_dot; fc_dsp_mode)
    _wmat: np.ndarray | None = field(default=None, repr=False)  # (K, units) float


def _per_tensor_multiplier(op, input_scale: float, filter_scale: float, output_scale: float):
    real = float(np.float32(input_scale)) * float(np.float32(filter_scale)) / float(np.float32(output_scale))
    m, s = quantize_multiplier(real)
    require(s <= 30, op, "effective output scale (input_scale * filter_scale / output_scale) >= 2^30 not supported")
    return np.array([m], dtype=np.int64), np.array([s], dtype=np.int64)


@register
class FullyConnected(Op):
    name = "FULLY_CONNECTED"
    dsp_dtypes = ("int8",)

    def check(self, g, op):
        require(len(op.inputs) in (2, 3), op, f"expected 2 or 3 inputs, got {len(op.inputs)}")
        require(len(op.outputs) == 1, op, f"expected 1 output, got {len(op.outputs)}")
        require_int8(g, op)
        check_scales(g, op)
        check_activation(op)
        wf = op.options.get("weights_format", 0)
        require(wf in (0, "DEFAULT"), op, f"weights format {wf} not supported (only DEFAULT)")
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        w = check_weights(g, op, 1, 2, "weights")
        units, k = w.shape
        require(units >= 1 and k >= 1, op, f"weights '{w.name}' have an empty shape {list(w.shape)}")
        require(k <= _MAX_TAPS, op, f"{k} inputs per unit; more than {_MAX_TAPS} not supported")
        require(len(y.shape) >= 1 and y.shape[-1] == units, op, f"output shape {list(y.shape)} does not end in the weights' {units} units")
        batches = int(np.prod(y.shape[:-1]))
        require(x.size == batches * k, op,
                f"input has {x.size} elements; the output shape {list(y.shape)} and weights {list(w.shape)} need {batches} x {k}")
        b = check_bias(g, op, 2, units)
        if w.quant.per_channel:
            require(w.quant.scale.size == units and w.quant.axis == 0, op,
                    f"weights '{w.name}' are per-channel quantized along axis {w.quant.axis} with {w.quant.scale.size} scales; "
                    f"only one scale per output unit (axis 0) is supported")
            channel_multipliers(op, x.scale, w.quant.scale, y.scale)
        else:
            if b is not None:
                bias_scale = b.scale  # 0.0 without quantization parameters, like TFLM's params.scale
                diff = abs(float(np.float32(x.scale)) * float(np.float32(w.scale)) - float(np.float32(bias_scale)))
                require(diff / float(np.float32(y.scale)) <= 0.02, op,
                        f"bias '{b.name}' scale {bias_scale:g} does not match input scale * weights scale "
                        f"{x.scale * w.scale:g} (TFLM refuses this model)")
            _per_tensor_multiplier(op, x.scale, w.scale, y.scale)

    def prepare(self, g, op):
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        w = g.tensors[op.inputs[1]]
        units, k = w.shape
        bt = check_bias(g, op, 2, units)
        per_channel = w.quant.per_channel
        if per_channel:
            mult, shift = channel_multipliers(op, x.scale, w.quant.scale, y.scale)
        else:
            mult, shift = _per_tensor_multiplier(op, x.scale, w.scale, y.scale)
        amin, amax = activation_range_int8(op.activation, y.scale, y.zero_point)
        wd = np.asarray(w.data, dtype=np.int8)
        bias = None if bt is None else np.asarray(bt.data, dtype=np.int32).reshape(-1)
        folded = -int(x.zero_point) * wd.astype(np.int64).sum(axis=1)
        if bias is not None:
            folded = folded + bias.astype(np.int64)
        ftype = np.float32 if k <= _F32_EXACT_K else np.float64
        p = FullyConnectedParams(
            input_shape=tuple(x.shape), output_shape=tuple(y.shape), batches=int(np.prod(y.shape[:-1])),
            accum_depth=k, units=units, per_channel=per_channel, input_zero_point=int(x.zero_point),
            output_zero_point=int(y.zero_point), multiplier=mult, shift=shift, act_min=int(amin), act_max=int(amax),
            weights=wd, bias=bias, folded_bias=folded, overflow=acc_may_overflow(k, bias),
            _wmat=np.ascontiguousarray(wd.T.astype(ftype)),
        )
        p.dot = fc_model_dot(p, g, self)
        return p

    def run(self, p: FullyConnectedParams, inputs):
        x = inputs[0]
        n = x.shape[0]
        rows = x.reshape(n * p.batches, p.accum_depth).astype(p._wmat.dtype)
        out = requantize_to_int8(rows @ p._wmat, p.multiplier, p.shift, p.output_zero_point, p.act_min, p.act_max,
                                 bias=p.folded_bias, wrap=p.overflow)
        return [out.reshape((n,) + p.output_shape)]

    def macs(self, g, op):
        y = g.tensors[op.outputs[0]]
        w = g.tensors[op.inputs[1]]
        return int(np.prod(y.shape[:-1])) * int(w.shape[0]) * int(w.shape[1])

    def emit_c(self, p: FullyConnectedParams, ctx):
        """C binding: tg_fc_s8 / tg_fc_p_s8 (paired weights) or tg_fc_dot_s8 (firmware/kernels/tg_fc.c); the bias carries the folded
        -input_zero_point * row-sum term (wrapped to int32 like the C accumulator); weight rows
        are padded to 4 bytes; `dsp`: the requantization of the Cortex-M DSP blocks of 4 units
        (the DSP build runs SMLAD dot products with the C requantization where it is 0 or there
        are fewer than 4 units). No scratch."""
        from tinygen.model.fixedpoint import wrap_int32

        ctx.need("tg_fc.c", "tg_mve.c")  # tg_mve.c: the Helium kernel tg_fc_dot_s8 hands ops to (tg_mve.h)
        k = ctx.op_index
        weights = pad_rows(p.weights)
        w_row = weights.shape[1]
        dsp = fc_dsp_mode(p)[0]
        if p.units < 4 or p.dot:
            dsp = dsp_mode(p.weights, p.folded_bias, p.multiplier, p.shift, p.output_zero_point)[0]
        pairs = 0
        mve = target_has_mve(ctx.target)  # Helium: tg_fc_dot_s8's plain rows (its MVE kernel reads 16 at a time)
        left = dsp == 2 and bool(np.any(left_channels(p.multiplier, p.shift)))  # exact table with left shifts
        blocks = bool(dsp) and p.units >= 4 and not mve and not p.dot
        if blocks:
            weights = block_weights(weights)
            if pairs_ok(p.weights) and not left:
                weights, pairs = pair_weights(weights, p.accum_depth), 1
        if dsp == 2:
            rq = rqxl_table(p.multiplier, p.shift) if left else rqx_table(p.multiplier, p.shift)
        else:
            rq = rq_table(p.multiplier, p.shift, p.output_zero_point)
        fields = dict(batches=p.batches, depth=p.accum_depth, units=p.units, per_channel=bool(p.per_channel),
                      output_zp=p.output_zero_point, act_min=p.act_min, act_max=p.act_max,
                      w_row=w_row, dsp=dsp, pairs=pairs,
                      weights=ctx.const(weights, "int8_t", f"op{k}_weights"),
                      bias=ctx.const(wrap_int32(p.folded_bias), "int32_t", f"op{k}_bias"),
                      rq="(const tg_rq_t *)(const void *)" + ctx.const(rq, "int32_t", f"op{k}_rq"))
        fn = ("tg_fc_dspl_s8" if left else "tg_fc_p_s8" if pairs else "tg_fc_s8") if blocks else "tg_fc_dot_s8"
        return f"{fn}({ctx.struct('tg_fc_params_t', fields)}, {ctx.input(0)}, {ctx.output()}, NULL);"

    def for_speed(self, p: FullyConnectedParams) -> FullyConnectedParams:
        """`--optimize speed`: a small layer keeps the block kernel (fc_model_dot's code-size trade undone)."""
        return replace(p, dot=False) if p.dot else p

    def scratch_bytes(self, p: FullyConnectedParams) -> int:
        """No scratch: the DSP kernel reads the int8 input directly (as CMSIS-NN does)."""
        return 0

    def kernel_variant(self, p: FullyConnectedParams, target: str | None = None) -> KernelVariant:
        scratch = self.scratch_bytes(p)
        if not target_has_dsp(target):
            return KernelVariant(C99, f"target {target} has no DSP extension", scratch)
        if target_has_mve(target):
            return KernelVariant(MVE, "Helium: 4 units x 16 inputs per VMLADAVA (tg_fc_dot_s8's rows)", scratch)
        mode, name, reason = fc_dsp_mode(p)
        return KernelVariant(name, reason, scratch)


def block_weights(w: np.ndarray) -> np.ndarray:
    """(units >= 4, w_row) int8 rows -> tg_fc_s8's layout (firmware/kernels/tg_kernels.h): blocks of 4 units
    (block b: units u0 = min(4b, units - 4) .. u0 + 3), in each block for every group of 4 inputs 4 bytes
    of each row, so that one LDM brings 4 weights of 4 rows."""
    units, w_row = w.shape
    nb = -(-units // 4)
    u0 = np.minimum(4 * np.arange(nb), units - 4)
    rows = w[u0[:, None] + np.arange(4)[None, :]]  # (nb, 4, w_row)
    return np.ascontiguousarray(rows.reshape(nb, 4, w_row // 4, 4).transpose(0, 2, 1, 3)).reshape(nb, 4 * w_row)


def pairs_ok(w: np.ndarray) -> bool:
    """The paired layout (pair_weights) recovers the odd rows' dot products mod 2^24: exact when every
    row's |sum x * w| < 2^23 for every int8 input (|x| <= 128)."""
    return int(np.abs(w.astype(np.int64)).sum(axis=1).max(initial=0)) * 128 < (1 << 23)


def pair_weights(blocked: np.ndarray, depth: int) -> np.ndarray:
    """block_weights' layout -> the paired layout of tg_fc_s8's DSP kernel (`pairs` = 1): in each group of 4
    inputs of a block of rows r0..r3, word 0 holds (r0[0] ^ 0x80, r1[0], r0[2] ^ 0x80, r1[2]), word 1 the
    same for inputs 1 and 3, words 2 and 3 the same for r2 / r3. One SMLAD of a word against the
    sign-extended input pair adds 256 * (odd row) + (even row + 128) products; UXTB16 of the word then
    gives the even row + 128 alone: 3 instructions per 4 MACs instead of 4. (Groups past depth // 4, the
    tail, keep block_weights' layout.)"""
    nb, n = blocked.shape
    kq = depth // 4
    out = blocked.copy().reshape(nb, n // 16, 4, 4)  # [block][group][row j][input i]
    g = out[:, :kq].copy()
    new = np.empty_like(g)
    for pair in range(2):  # rows 2*pair (even, offset) and 2*pair + 1
        ev = (g[:, :, 2 * pair].view(np.uint8) ^ 0x80).view(np.int8)
        od = g[:, :, 2 * pair + 1]
        for parity in range(2):  # inputs (0, 2) or (1, 3)
            word = new[:, :, 2 * pair + parity]
            word[:, :, 0] = ev[:, :, parity]
            word[:, :, 1] = od[:, :, parity]
            word[:, :, 2] = ev[:, :, parity + 2]
            word[:, :, 3] = od[:, :, parity + 2]
    out[:, :kq] = new
    return out.reshape(nb, n)


# FULLY_CONNECTED layers of at most this many MACs take the dot-product kernel (tg_fc_dot_s8: SMLAD dot products of two
# units at a time, C requantization) instead of the blocks of 4 units, unless the model links the block kernel their
# requantization picks for a larger layer anyway (fc_model_dot): the block kernel and its driver are ~1.1 KB of code
# against the 12 KB kernels + runtime budget, for a few thousand instructions on the small heads of classifiers
# (mltk MobileNetV2's 8 x 384, DS-CNN-L's 12 x 276).
FC_DOT_MAX_MACS = 4096


def fc_block_entry(p: FullyConnectedParams) -> str | None:
    """The block kernel's entry point this layer takes on a DSP target without the small-layer rule (None: the dot
    kernel anyway, fewer than 4 units or no DSP requantization)."""
    if p.units < 4:
        return None
    mode = dsp_mode(p.weights, p.folded_bias, p.multiplier, p.shift, p.output_zero_point, left_ok=True)[0]
    if mode == 0:
        return None
    if mode == 2 and np.any(left_channels(p.multiplier, p.shift)):
        return "tg_fc_dspl_s8"
    return "tg_fc_p_s8" if pairs_ok(p.weights) else "tg_fc_s8"


def fc_macs(p: FullyConnectedParams) -> int:
    return p.batches * p.units * p.accum_depth


def fc_model_dot(p: FullyConnectedParams, graph, impl) -> bool:
    """Does this layer take the dot-product kernel as a small one (FC_DOT_MAX_MACS): its block kernel is not linked
    for a larger FULLY_CONNECTED of the model. The larger layers' entry points: once per graph (cached)."""
    entry = fc_block_entry(p)
    if entry is None or fc_macs(p) > FC_DOT_MAX_MACS:
        return False
    cache = graph.__dict__.setdefault("_tg_fc_model", {})
    if "big" not in cache:
        big = set()
        cache["big"] = big  # (no recursion: the larger layers' own rule stops at FC_DOT_MAX_MACS)
        for op in graph.operators:
            if op.op == "FULLY_CONNECTED" and graph.tensors[op.inputs[0]].dtype == np.int8:
                q = impl.prepare(graph, op)
                if fc_macs(q) > FC_DOT_MAX_MACS and fc_block_entry(q):
                    big.add(fc_block_entry(q))
    return entry not in cache["big"]


def fc_dsp_mode(p: FullyConnectedParams) -> tuple[int, str, str]:
    """(dsp field, variant, reason) of the DSP build (see conv.dsp_mode): blocks of 4 units with the
    shortcut or the exact requantization (units with an effective scale >= 0.5 too: rqxl_table's left-shift
    rows, tg_fc_dspl_s8), else (0, DSP, ...): SMLAD dot products and the C99 requantization."""
    if p.units < 4:
        return 0, DSP, f"{p.units} units (< 4): SMLAD dot products of 2 units at a time, C requantization"
    if p.dot:
        return 0, DSP, (f"a small layer ({fc_macs(p):,} MACs <= {FC_DOT_MAX_MACS:,}): SMLAD dot products of 2 units at "
                        "a time, C requantization (no block kernel linked for it: 12 KB code budget)")
    mode, name, reason = dsp_mode(p.weights, p.folded_bias, p.multiplier, p.shift, p.output_zero_point, left_ok=True)
    if mode == 0:
        return 0, DSP, f"SMLAD dot products, C requantization ({reason})"
    return mode, name, reason
