"""Integer arithmetic builtins: ADD_N, PRELU (int8), as TFLite Micro's reference kernels compute them.

ADD_N (int8; TFLM's ADD_N runs float32 and int8 only): every input has the same shape, scale and zero
point (TFLM's Prepare refuses otherwise). Per element, in int32: each input y = q - zp is shifted left by
20 and scaled by the input multiplier (0.5, MultiplyByQuantizedMultiplierSmallerThanOneExp), the scaled
values are summed, starting from one more scaled (-zp) term as TFLM's reference_ops::AddN does, then the
sum is scaled by the output multiplier 2 * s_in / (2^20 * s_out), the output zero point added, clamped.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinygen.model.fixedpoint import multiply_by_quantized_multiplier_smaller_than_one_exp as mbqm_lt1
from tinygen.model.fixedpoint import multiply_by_quantized_multiplier as mbqm
from tinygen.model.fixedpoint import quantize_multiplier, wrap_int32
from .base import Op, register, require, require_int8

ADD_N_LEFT_SHIFT = 20
MAX_ADD_N_INPUTS = 15  # (n + 1) * 255 * 2^19 stays inside int32


@dataclass(frozen=True)
class AddNParams:
    n: int
    size: int
    input_offset: int  # -input zero point
    output_zp: int
    input_multiplier: int
    input_shift: int
    output_multiplier: int
    output_shift: int


@register
class AddN(Op):
    name = "ADD_N"

    def check(self, g, op):
        n = len(op.inputs)
        require(n >= 2 and len(op.outputs) == 1, op, f"has {n} inputs and {len(op.outputs)} outputs, expected at least 2 and 1")
        require(n <= MAX_ADD_N_INPUTS, op, f"{n} inputs are not supported (at most {MAX_ADD_N_INPUTS}: the int32 sum could overflow)")
        require_int8(g, op, inputs=tuple(range(n)))
        x0, out = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        for i in range(1, n):
            x = g.tensors[op.inputs[i]]
            require(tuple(x.shape) == tuple(x0.shape), op, f"input {i} has shape {list(x.shape)}, input 0 {list(x0.shape)} (no broadcasting)")
            require(float(np.float32(x.scale)) == float(np.float32(x0.scale)) and x.zero_point == x0.zero_point, op,
                    f"input {i} is quantized differently from input 0 (TFLM requires the same scale and zero point)")
        require(tuple(out.shape) == tuple(x0.shape), op, f"output shape {list(out.shape)} differs from the inputs' {list(x0.shape)}")
        real_out = 2.0 * float(x0.scale) / ((1 << ADD_N_LEFT_SHIFT) * float(out.scale))
        require(0.0 < real_out < 1.0, op, f"output multiplier {real_out:g} is not in (0, 1) (input scale {x0.scale:g}, output scale {out.scale:g})")

    def prepare(self, g, op):
        x0, out = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        twice = 2.0 * float(x0.scale)
        mi, si = quantize_multiplier(float(x0.scale) / twice)
        mo, so = quantize_multiplier(twice / ((1 << ADD_N_LEFT_SHIFT) * float(out.scale)))
        return AddNParams(len(op.inputs), int(x0.size), -x0.zero_point, out.zero_point, mi, si, mo, so)

    def run(self, p: AddNParams, inputs):
        def scaled(y):
            return mbqm_lt1(np.asarray(y, np.int64) * (1 << ADD_N_LEFT_SHIFT), p.input_multiplier, p.input_shift)

        acc = scaled(np.full(inputs[0].shape, p.input_offset, np.int64))
        for x in inputs:
            acc = wrap_int32(acc + scaled(x.astype(np.int64) + p.input_offset))
        y = mbqm_lt1(acc, p.output_multiplier, p.output_shift) + p.output_zp
        return [np.clip(y, -128, 127).astype(np.int8)]

    def macs(self, g, op):
        return g.tensors[op.outputs[0]].size * len(op.inputs)

    def emit_c(self, p: AddNParams, ctx):
        """C binding: tg_add_n_s8 (firmware/kernels/tg_arith.c) over an array of the input pointers."""
        ctx.need("tg_arith.c")
        fields = dict(n=p.n, size=p.size, input_offset=p.input_offset, output_zp=p.output_zp, input_multiplier=p.input_multiplier,
                      input_shift=p.input_shift, output_multiplier=p.output_multiplier, output_shift=p.output_shift)
        st = ctx.struct("tg_add_n_params_t", fields)
        ins = ", ".join(f"(const int8_t *){ctx.input(i)}" for i in range(p.n))
        return f"{{\n    const int8_t *ins[{p.n}] = {{{ins}}};\n    tg_add_n_s8({st}, ins, {ctx.output()});\n}}"


# ---------------------------------------------------------------- PRELU


@dataclass(frozen=True)
class PreluParams:
    shape0: tuple
    shape1: tuple
    out_shape: tuple
    input_offset: int
    alpha_offset: int
    output_zp: int
    mult1: int  # input_scale / output_scale (x >= 0)
    shift1: int
    mult2: int  # input_scale * alpha_scale / output_scale (x < 0)
    shift2: int


@register
class Prelu(Op):
    """PRELU (int8), TFLM's BroadcastPrelu4DSlow: x = q - zp; x >= 0: MBQM(x, m1, s1); else
    MBQM(x * (alpha - alpha_zp), m2, s2); plus the output zero point, clamped. Alpha broadcasts
    against the input (up to rank 4) and may be computed at run time."""

    name = "PRELU"

    def check(self, g, op):
        require(len(op.inputs) == 2 and len(op.outputs) == 1, op, "expects two inputs (input, alpha) and one output")
        require_int8(g, op, inputs=(0, 1))
        t0, t1, to = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]], g.tensors[op.outputs[0]]
        for t, role in ((t0, "input"), (t1, "alpha"), (to, "output")):
            require(len(t.shape) <= 4, op, f"{role} has rank {len(t.shape)}: TFLM's PRELU broadcasts up to rank 4")
        try:
            b = tuple(np.broadcast_shapes(tuple(t0.shape), tuple(t1.shape)))
        except ValueError:
            b = None
        require(b is not None and b == tuple(to.shape), op,
                f"output shape {list(to.shape)} is not the broadcast of {list(t0.shape)} and alpha {list(t1.shape)}")

    def prepare(self, g, op):
        t0, t1, to = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]], g.tensors[op.outputs[0]]
        r = len(to.shape)
        pad = lambda s: (1,) * (r - len(s)) + tuple(int(d) for d in s)  # noqa: E731
        m1, s1 = quantize_multiplier(float(t0.scale) / float(to.scale))
        m2, s2 = quantize_multiplier(float(t0.scale) * float(t1.scale) / float(to.scale))
        return PreluParams(pad(t0.shape), pad(t1.shape), tuple(to.shape), -t0.zero_point, -t1.zero_point, to.zero_point, m1, s1, m2, s2)

    def run(self, p: PreluParams, inputs):
        x = inputs[0].reshape((inputs[0].shape[0],) + p.shape0).astype(np.int64) + p.input_offset
        a = inputs[1].reshape((inputs[1].shape[0],) + p.shape1).astype(np.int64) + p.alpha_offset
        n = max(x.shape[0], a.shape[0])
        x = np.broadcast_to(x, (n,) + p.out_shape)
        a = np.broadcast_to(a, (n,) + p.out_shape)
        pos = mbqm(x, p.mult1, p.shift1)
        neg = mbqm(x * a, p.mult2, p.shift2)
        y = np.where(x >= 0, pos, neg) + p.output_zp
        return [np.clip(y, -128, 127).astype(np.int8)]

    def macs(self, g, op):
        return g.tensors[op.outputs[0]].size

    def emit_c(self, p: PreluParams, ctx):
        """C binding: tg_prelu_s8 (firmware/kernels/tg_arith.c) over tg_bcast_t strides."""
        from tinygen.ops.c_emit import broadcast_fields

        ctx.need("tg_arith.c")
        fields = dict(shape=broadcast_fields(p.shape0, p.shape1, p.out_shape), input_offset=p.input_offset, alpha_offset=p.alpha_offset,
                      output_zp=p.output_zp, mult1=p.mult1, shift1=p.shift1, mult2=p.mult2, shift2=p.shift2)
        return f"tg_prelu_s8({ctx.struct('tg_prelu_params_t', fields)}, {ctx.input(0)}, {ctx.input(1)}, {ctx.output()});"


# ---------------------------------------------------------------- CUMSUM


@dataclass(frozen=True)
class CumsumParams:
    outer: int  # elements before the axis (product of dims)
    depth: int  # the axis
    inner: int  # elements after the axis
    exclusive: bool
    reverse: bool
    input_offset: int
    output_zp: int
    input_multiplier: int
    input_shift: int
    output_multiplier: int
    output_shift: int


@register
class Cumsum(Op):
    """CUMSUM (int8), TFLM's quantized reference CumSum: the ADD_N arithmetic (left shift 20, input
    multiplier 0.5, the accumulator starting from one scaled -zp term) along one axis, exclusive and/or
    reversed; each partial sum requantized with the output multiplier."""

    name = "CUMSUM"

    def check(self, g, op):
        require(len(op.inputs) == 2 and len(op.outputs) == 1, op, "expects 2 inputs (input, axis) and 1 output")
        require_int8(g, op)
        x, at, y = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]], g.tensors[op.outputs[0]]
        require(at.is_const and at.dtype == np.int32 and at.size == 1, op, "the axis must be one constant int32 value")
        rank = len(x.shape)
        a = int(at.data.reshape(-1)[0])
        require(rank >= 1 and -rank <= a < rank, op, f"axis {a} is out of range for rank {rank}")
        require(tuple(y.shape) == tuple(x.shape), op, f"output shape {list(y.shape)} differs from the input's {list(x.shape)}")
        real_out = 2.0 * float(x.scale) / ((1 << ADD_N_LEFT_SHIFT) * float(y.scale))
        require(0.0 < real_out < 1.0, op, f"output multiplier {real_out:g} is not in (0, 1)")

    def prepare(self, g, op):
        x, at, y = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]], g.tensors[op.outputs[0]]
        rank = len(x.shape)
        a = int(at.data.reshape(-1)[0]) % rank
        twice = 2.0 * float(x.scale)
        mi, si = quantize_multiplier(float(x.scale) / twice)
        mo, so = quantize_multiplier(twice / ((1 << ADD_N_LEFT_SHIFT) * float(y.scale)))
        prod = lambda s: int(np.prod(s, dtype=np.int64))  # noqa: E731
        return CumsumParams(prod(x.shape[:a]), int(x.shape[a]), prod(x.shape[a + 1:]), bool(op.options.get("exclusive", False)),
                            bool(op.options.get("reverse", False)), -x.zero_point, y.zero_point, mi, si, mo, so)

    def run(self, p: CumsumParams, inputs):
        x = inputs[0]
        n = x.shape[0]
        v = x.reshape(n, p.outer, p.depth, p.inner).astype(np.int64)
        if p.reverse:
            v = v[:, :, ::-1, :]
        scaled = mbqm_lt1((v + p.input_offset) * (1 << ADD_N_LEFT_SHIFT), p.input_multiplier, p.input_shift)
        start = int(mbqm_lt1(np.int64(p.input_offset * (1 << ADD_N_LEFT_SHIFT)), p.input_multiplier, p.input_shift))
        acc = start + np.cumsum(scaled, axis=2)
        if p.exclusive:
            acc = np.concatenate([np.full_like(acc[:, :, :1], start), acc[:, :, :-1]], axis=2)
        acc = wrap_int32(acc)
        y = np.clip(mbqm_lt1(acc, p.output_multiplier, p.output_shift) + p.output_zp, -128, 127)
        if p.reverse:
            y = y[:, :, ::-1, :]
        return [np.ascontiguousarray(y).astype(np.int8).reshape(x.shape)]

    def macs(self, g, op):
        return g.tensors[op.inputs[0]].size

    def emit_c(self, p: CumsumParams, ctx):
        """C binding: tg_cumsum_s8 (firmware/kernels/tg_arith.c)."""
        ctx.need("tg_arith.c")
        fields = dict(outer=p.outer, depth=p.depth, inner=p.inner, exclusive=int(p.exclusive), reverse=int(p.reverse),
                      input_offset=p.input_offset, output_zp=p.output_zp, input_multiplier=p.input_multiplier,
                      input_shift=p.input_shift, output_multiplier=p.output_multiplier, output_shift=p.output_shift)
        return f"tg_cumsum_s8({ctx.struct('tg_cumsum_params_t', fields)}, {ctx.input(0)}, {ctx.output()});"
