"""SVDF (int8 input and output; int16 state and time weights, or int8 state and time weights).

The arithmetic is TFLite Micro's integer SVDF reference kernel (the keyword benchmark model's op):
per invoke the activation state (batch x filters x memory, the op's variable tensor, input 4) moves
one step back in time (the oldest value of every filter drops out); the feature product
`weights_feature (filters x input) . (x - input_zp)` requantized to the state's scale, saturated to
the state type, plus the state's zero point (narrowed with wrap-around: the `tflite_micro` package
adds the zero point after the clamp; TFLM's current source adds it before), becomes each filter's
newest value; the time
product `weights_time[f] . (state[f] - state_zp)` (int32, wrapping as TFLM's int32 scratch does),
summed over the `rank` filters of each unit, plus the bias, is requantized to the int8 output.

What the `tflite_micro` package's kernel accepts (checked by building each): input int8 only
(int16 input is refused), output int8 only (int32 output is refused), weights_feature int8,
weights_time and state both int16 or both int8, a bias (TFLM's prepare reads its scale, so a
missing bias crashes it). The integer kernel ignores the fused activation (TFLM applies it only in
the float kernel); tinygen does the same, bit-exact.

The state is reset (TFLM's ResetVariableTensors) to the zero point for an int8 state and to 0 for
an int16 one. `run` starts every sample from that reset state, `run_stateful` from given states.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinygen.model import fixedpoint as fp
from .base import C99, DSP, KernelVariant, Op, register, require, target_has_dsp


@dataclass
class SvdfParams:
    batch: int
    n_input: int
    n_filter: int
    rank: int
    memory: int
    state_dtype: np.dtype
    w_feature: np.ndarray  # int8 (filters, input)
    f_bias: np.ndarray  # int64 (filters,): -input_zp * row sums of w_feature
    w_time: np.ndarray  # int16 / int8 (filters, memory)
    bias: np.ndarray  # int64 (units,): bias - state_zp * sum of the unit's time weights (wrapped to int32)
    m1: tuple[int, int]  # feature product -> state
    m2: tuple[int, int]  # time product -> output
    state_zp: int
    out_zp: int
    state_shape: tuple

    @property
    def units(self) -> int:
        return self.n_filter // self.rank


def _f32_ratio(a, b, c) -> float:
    """TFLM computes the effective scales in float: a * b / c in float32, then as a double."""
    return float(np.float32(np.float32(a) * np.float32(b)) / np.float32(c))


def _check_svdf_types(op, x, wf, wt, b, s, y) -> None:
    """int8 input and output, constant int8 feature and int16/int8 time weights (per tensor), a variable
    state of the time weights' type, a constant int32 bias."""
    require(x is not None and x.dtype == np.int8 and x.quant is not None, op,
            f"input is {x.dtype_name if x is not None else 'missing'}; only int8 is supported (as in TFLM, "
            "whose SVDF refuses int16 input)")
    require(y.dtype == np.int8 and y.quant is not None, op,
            f"output is {y.dtype_name}; only int8 is supported (as in TFLM, whose SVDF refuses int32 output)")
    require(len(x.shape) == 2 and len(y.shape) == 2, op, "input and output must have 2 dimensions")
    require(wf is not None and wf.is_const and wf.dtype == np.int8 and wf.quant is not None, op,
            "weights_feature must be a constant int8 tensor")
    require(wt is not None and wt.is_const and wt.dtype in (np.int8, np.int16) and wt.quant is not None, op,
            "weights_time must be a constant int16 or int8 tensor")
    require(not wf.quant.per_channel and not wt.quant.per_channel, op, "per-channel SVDF weights are not supported")
    require(s is not None and not s.is_const and s.quant is not None, op, "the activation state must be a variable tensor")
    require(s.dtype == wt.dtype, op,
            f"activation state is {s.dtype_name} and weights_time {wt.dtype_name}; TFLM needs both int16 or both int8")
    require(b is not None and b.is_const and b.dtype == np.int32, op,
            "bias must be a constant int32 tensor (TFLM's integer SVDF needs one)")


def _check_svdf_shapes(op, x, wf, wt, b, s, y, rank: int) -> None:
    """Weights, bias, state and output shaped for the input, `rank` and the memory; TFLM's bias scale."""
    require(len(wf.shape) == 2 and len(wt.shape) == 2, op, "weights must have 2 dimensions")
    n_filter, n_input = wf.shape
    memory = wt.shape[1]
    require(n_filter % rank == 0, op, f"{n_filter} filters are not a multiple of rank {rank}")
    require(wt.shape[0] == n_filter and n_input == x.shape[1], op, "weight shapes do not match the input")
    require(tuple(y.shape) == (x.shape[0], n_filter // rank), op, f"output shape {list(y.shape)} does not match")
    require(b.size == n_filter // rank, op, "bias size is not the number of units")
    require(tuple(s.shape) == (x.shape[0], memory * n_filter), op, f"state shape {list(s.shape)} does not match")
    require(abs(float(b.scale) - float(np.float32(s.scale) * np.float32(wt.scale))) < 1e-5, op,
            "bias scale is not state scale x time weights scale (TFLM refuses it)")
    require(memory >= 1, op, "memory size must be at least 1")


@register
class Svdf(Op):
    name = "SVDF"
    dtypes = ("int8 (int16 state)", "int8 (int8 state)")
    dsp_dtypes = ("int8 (int16 state)", "int8 (int8 state)")
    stateful = True
    STATE_INPUTS = (4,)

    def check(self, g, op):
        require(len(op.inputs) == 5 and len(op.outputs) == 1, op, "expects 5 inputs and one output")
        t = lambda i: g.tensors[op.inputs[i]] if op.inputs[i] >= 0 else None  # noqa: E731
        x, wf, wt, b, s = (t(i) for i in range(5))
        y = g.tensors[op.outputs[0]]
        _check_svdf_types(op, x, wf, wt, b, s, y)
        rank = int(op.options.get("rank", 0))
        require(rank > 0, op, f"rank {rank} must be positive")
        _check_svdf_shapes(op, x, wf, wt, b, s, y, rank)

    def prepare(self, g, op):
        t = lambda i: g.tensors[op.inputs[i]]  # noqa: E731
        x, wf, wt, b, s = (t(i) for i in range(5))
        y = g.tensors[op.outputs[0]]
        rank = int(op.options["rank"])
        n_filter, n_input = wf.shape
        memory = wt.shape[1]
        w_feature = wf.data.astype(np.int8)
        w_time = wt.data.astype(wt.dtype)
        f_bias = -int(x.zero_point) * w_feature.astype(np.int64).sum(axis=1)
        szp = int(s.zero_point)
        wt_sums = w_time.astype(np.int64).sum(axis=1).reshape(n_filter // rank, rank).sum(axis=1)
        bias = fp.wrap_int32(b.data.astype(np.int64) - szp * wt_sums)
        return SvdfParams(
            batch=int(x.shape[0]), n_input=int(n_input), n_filter=int(n_filter), rank=rank, memory=int(memory),
            state_dtype=np.dtype(s.dtype), w_feature=w_feature, f_bias=f_bias, w_time=w_time, bias=bias,
            m1=fp.quantize_multiplier(_f32_ratio(x.scale, wf.scale, s.scale)),
            m2=fp.quantize_multiplier(_f32_ratio(s.scale, wt.scale, y.scale)),
            state_zp=szp, out_zp=int(y.zero_point), state_shape=tuple(s.shape))

    # ------------------------------------------------------------------ numpy kernel
    @staticmethod
    def reset_values(p: SvdfParams) -> tuple[np.ndarray]:
        """TFLM's ResetVariableTensors: an int8 state is set to its zero point, any other to 0."""
        fill = p.state_zp if p.state_dtype == np.int8 else 0
        return (np.full(p.state_shape, fill, dtype=p.state_dtype),)

    def run_stateful(self, p: SvdfParams, inputs):
        """From the given state (inputs[4], (N or 1, batch, memory * filters)); returns ([output], state)."""
        x = inputs[0].astype(np.int64)  # (N, batch, input)
        n = x.shape[0]
        info = np.iinfo(p.state_dtype)
        st = np.broadcast_to(inputs[4], (n,) + p.state_shape).astype(np.int64)
        st = st.reshape(n, p.batch, p.n_filter, p.memory)
        feat = x @ p.w_feature.T.astype(np.int64) + p.f_bias  # (N, batch, filters)
        # the installed tflite_micro saturates first and then adds the zero point, narrowing with wrap-around
        feat = np.clip(fp.multiply_by_quantized_multiplier(feat, *p.m1), info.min, info.max) + p.state_zp
        feat = (feat - info.min) % (1 << (8 * p.state_dtype.itemsize)) + info.min
        st = np.concatenate([st[..., 1:], feat[..., None]], axis=-1)
        # time product: int32 sums (TFLM's int32 scratch wraps; the zero point is folded into the bias)
        tprod = fp.wrap_int32((st * p.w_time.astype(np.int64)).sum(axis=-1))  # (N, batch, filters)
        acc = fp.wrap_int32(tprod.reshape(n, p.batch, p.units, p.rank).sum(axis=-1) + p.bias)
        out = np.clip(fp.multiply_by_quantized_multiplier(acc, *p.m2) + p.out_zp, -128, 127).astype(np.int8)
        return [out], st.reshape((n,) + p.state_shape).astype(p.state_dtype)

    def run(self, p: SvdfParams, inputs):
        """Each sample from TFLM's reset state (the state input is ignored)."""
        args = list(inputs)
        args[4] = self.reset_values(p)[0][None]
        return self.run_stateful(p, args)[0]

    def macs(self, g, op):
        x = g.tensors[op.inputs[0]]
        n_filter, n_input = g.tensors[op.inputs[1]].shape
        memory = g.tensors[op.inputs[2]].shape[1]
        return int(x.shape[0]) * n_filter * (n_input + memory)

    # ------------------------------------------------------------------ C binding
    def emit_c(self, p: SvdfParams, ctx):
        """tg_svdf_s8_s16 / tg_svdf_s8_s8 (firmware/kernels/tg_svdf.c): the state buffer (input 4) is
        updated in place; `reset`: the op resets it first (each invoke from the reset state)."""
        ctx.need("tg_svdf.c")
        k = ctx.op_index
        wide = p.state_dtype == np.int16
        fields = dict(batch=p.batch, n_input=p.n_input, n_filter=p.n_filter, rank=p.rank, memory=p.memory,
                      w_feature=ctx.const(p.w_feature, "int8_t", f"op{k}_w_feature"),
                      f_bias=ctx.const(fp.wrap_int32(p.f_bias), "int32_t", f"op{k}_f_bias"),
                      w_time=ctx.const(p.w_time, "int16_t" if wide else "int8_t", f"op{k}_w_time"),
                      bias=ctx.const(p.bias, "int32_t", f"op{k}_bias"),
                      m1=p.m1[0], s1=p.m1[1], m2=p.m2[0], s2=p.m2[1], state_zp=p.state_zp, out_zp=p.out_zp,
                      reset_fill=int(self.reset_values(p)[0].flat[0]),
                      reset=bool(getattr(ctx, "reset_state_each_invoke", True)))
        fn = "tg_svdf_s8_s16" if wide else "tg_svdf_s8_s8"
        ctype = "int16_t" if wide else "int8_t"
        return (f"{fn}({ctx.struct('tg_svdf_params_t', fields)}, {ctx.input(0)}, {ctx.output()}, "
                f"({ctype} *)(void *){ctx.input(4)});")

    def kernel_variant(self, p: SvdfParams, target: str | None = None) -> KernelVariant:
        """The feature and time products are dot products: SMLAD on DSP targets."""
        if target_has_dsp(target):
            return KernelVariant(DSP, "SMLAD dot products for the feature and time products", 0)
        return KernelVariant(C99, f"{target} has no DSP extension", 0)
