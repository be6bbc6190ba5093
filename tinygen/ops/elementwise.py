"""Binary element-wise int8 ops: ADD, SUB, MUL with broadcasting (rank <= 5) and fused activations.

ADD / SUB follow TFLM's general 8-bit path: both inputs are offset, shifted left by
`left_shift` = 20, scaled by per-input multipliers (< 1) onto a common scale, added or
subtracted, then requantized with the output multiplier; everything with TFLM's
double-rounding MultiplyByQuantizedMultiplierSmallerThanOneExp.
MUL multiplies the offset inputs and requantizes with one MultiplyByQuantizedMultiplier.

Prepare-time arithmetic matches TFLM exactly:
- ADD and SUB: twice_max_input_scale = 2 * max(float scales), every ratio in double. (Some
  tflite-micro revisions compute SUB's ratios in float; the `tflite_micro` oracle does not:
  checked against it on scale pairs where the two precisions give different multipliers.)
- MUL: in1_scale * in2_scale / out_scale in double.

Broadcasting follows numpy rules on the shapes left-padded with ones to the output rank
(what TFLM's broadcast loops compute); the output must have the broadcast shape.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinygen.model import fixedpoint as fp
from .base import C99, DSP, MVE, KernelVariant, Op, register, require, require_int8, target_has_dsp, target_has_mve

MAX_RANK = 5
_FUSED = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")


@dataclass
class BinaryParams:
    op: str  # "ADD", "SUB" or "MUL"
    shape0: tuple  # input shapes left-padded with ones to the output rank
    shape1: tuple
    out_shape: tuple
    input1_offset: int  # -zero_point
    input2_offset: int
    output_offset: int  # +zero_point
    activation_min: int
    activation_max: int
    output_multiplier: int
    output_shift: int
    # ADD / SUB only
    left_shift: int = 0
    input1_multiplier: int = 0
    input1_shift: int = 0
    input2_multiplier: int = 0
    input2_shift: int = 0

    @property
    def requires_broadcast(self) -> bool:
        return self.shape0 != self.shape1


def _padded(shape, rank) -> tuple:
    return (1,) * (rank - len(shape)) + tuple(shape)


def _smaller_than_one(real: float) -> tuple[int, int] | None:
    """QuantizeMultiplierSmallerThanOneExp, or None where TFLM's checks would abort."""
    if not (0.0 < real < 1.0):
        return None
    m, shift = fp.quantize_multiplier(real)
    return (m, shift) if shift <= 0 else None


def _add_sub_reals(s1: float, s2: float, so: float, left_shift: int, float_ratios: bool = False):
    """(real_input1, real_input2, real_output) multipliers of TFLM's ADD/SUB Prepare.

    float_ratios=True gives the float-precision variant of some tflite-micro revisions' SUB
    (not what the oracle does; kept for the tests that tell the two apart).
    """
    if not float_ratios:
        twice = 2.0 * float(max(np.float32(s1), np.float32(s2)))
        return float(s1) / twice, float(s2) / twice, twice / (float(1 << left_shift) * float(so))
    f1, f2, fo = np.float32(s1), np.float32(s2), np.float32(so)
    twice = np.float32(2) * max(f1, f2)
    return (float(np.float32(f1 / twice)), float(np.float32(f2 / twice)),
            float(np.float32(twice / np.float32(np.float32(1 << left_shift) * fo))))


class _Binary(Op):
    inplace = True  # see is_inplace(): only when the output has input 0's shape

    def is_inplace(self, g, op) -> bool:
        """The output may overwrite input 0: same shape (input 1 may still broadcast)."""
        return tuple(g.tensors[op.inputs[0]].shape) == tuple(g.tensors[op.outputs[0]].shape)

    def check(self, g, op):
        require(len(op.inputs) == 2 and len(op.outputs) == 1, op, "expects two inputs and one output")
        require_int8(g, op, inputs=(0, 1))
        t0, t1, to = (g.tensors[op.inputs[0]], g.tensors[op.inputs[1]], g.tensors[op.outputs[0]])
        for t, role in ((t0, "input 0"), (t1, "input 1"), (to, "output")):
            require(len(t.shape) <= MAX_RANK, op, f"{role} has rank {len(t.shape)}: broadcast of rank > {MAX_RANK} not supported")
            require(t.scale > 0, op, f"{role} scale must be positive")
        try:
            bshape = tuple(np.broadcast_shapes(tuple(t0.shape), tuple(t1.shape)))
        except ValueError:
            bshape = None
        require(bshape is not None, op, f"input shapes {list(t0.shape)} and {list(t1.shape)} do not broadcast")
        require(bshape == tuple(to.shape), op,
                f"output shape {list(to.shape)} is not the broadcast shape {list(bshape)} of the inputs")
        act = op.activation
        require(act in _FUSED, op, f"fused activation {act} not supported")

    def _common(self, g, op) -> dict:
        t0, t1, to = (g.tensors[op.inputs[0]], g.tensors[op.inputs[1]], g.tensors[op.outputs[0]])
        rank = len(to.shape)
        amin, amax = fp.activation_range_int8(op.activation, to.scale, to.zero_point)
        return dict(op=self.name, shape0=_padded(t0.shape, rank), shape1=_padded(t1.shape, rank),
                    out_shape=tuple(to.shape), input1_offset=-t0.zero_point, input2_offset=-t1.zero_point,
                    output_offset=to.zero_point, activation_min=amin, activation_max=amax)

    @staticmethod
    def _operands(p: BinaryParams, inputs):
        a = inputs[0].reshape((inputs[0].shape[0],) + p.shape0).astype(np.int64) + p.input1_offset
        b = inputs[1].reshape((inputs[1].shape[0],) + p.shape1).astype(np.int64) + p.input2_offset
        return a, b

    @staticmethod
    def _finish(p: BinaryParams, raw):
        # the padded input shapes broadcast to exactly (batch, *out_shape)
        return np.clip(raw + p.output_offset, p.activation_min, p.activation_max).astype(np.int8)

    def macs(self, g, op):
        return g.tensors[op.outputs[0]].size


class _AddSub(_Binary):
    LEFT_SHIFT = 20
    dsp_dtypes = ("int8",)

    def _reals(self, g, op):
        t0, t1, to = (g.tensors[op.inputs[0]], g.tensors[op.inputs[1]], g.tensors[op.outputs[0]])
        return _add_sub_reals(t0.scale, t1.scale, to.scale, self.LEFT_SHIFT)

    def check(self, g, op):
        super().check(g, op)
        r1, r2, ro = self._reals(g, op)
        for what, r in (("input 0", r1), ("input 1", r2), ("output", ro)):
            require(_smaller_than_one(r) is not None, op,
                    f"{what} rescaling multiplier {r:g} is not in (0, 1) (output scale too small for the inputs' scales)")

    def prepare(self, g, op):
        r1, r2, ro = self._reals(g, op)
        (m1, s1), (m2, s2), (mo, so) = (_smaller_than_one(r) for r in (r1, r2, ro))
        return BinaryParams(**self._common(g, op), output_multiplier=mo, output_shift=so, left_shift=self.LEFT_SHIFT,
                            input1_multiplier=m1, input1_shift=s1, input2_multiplier=m2, input2_shift=s2)

    def run(self, p: BinaryParams, inputs):
        a, b = self._operands(p, inputs)
        mul = fp.multiply_by_quantized_multiplier_smaller_than_one_exp
        sa = mul(a * (1 << p.left_shift), p.input1_multiplier, p.input1_shift)
        sb = mul(b * (1 << p.left_shift), p.input2_multiplier, p.input2_shift)
        raw = sa + sb if p.op == "ADD" else sa - sb
        return [self._finish(p, mul(raw, p.output_multiplier, p.output_shift))]

    def emit_c(self, p: BinaryParams, ctx):
        """C binding (ADD and SUB, firmware/kernels/tg_eltwise.c): tg_add_half_s8 / tg_add_period_s8 where the DSP
        shortcut is proved exact (no broadcast / a periodic input), else tg_add_s8: one entry point per variant,
        so that a firmware links only the code its ops use."""
        from tinygen.ops.c_emit import broadcast_fields

        ctx.need("tg_eltwise.c", "tg_mve.c")  # tg_mve.c: the Helium kernel tg_add_s8 hands ops to (tg_mve.h)
        fields = dict(shape=broadcast_fields(p.shape0, p.shape1, p.out_shape), subtract=p.op == "SUB",
                      input1_offset=p.input1_offset, input2_offset=p.input2_offset, output_offset=p.output_offset,
                      left_shift=p.left_shift, input1_multiplier=p.input1_multiplier, input1_shift=p.input1_shift,
                      input2_multiplier=p.input2_multiplier, input2_shift=p.input2_shift,
                      output_multiplier=p.output_multiplier, output_shift=p.output_shift,
                      act_min=p.activation_min, act_max=p.activation_max, **_add_dsp_fields(p))
        fn = ("tg_add_period_s8" if fields["period"] else "tg_add_half_s8") if fields["dsp"] else "tg_add_s8"
        return f"{fn}({ctx.struct('tg_add_params_t', fields)}, {ctx.input(0)}, {ctx.input(1)}, {ctx.output()});"

    def kernel_variant(self, p: BinaryParams, target: str | None = None) -> KernelVariant:
        if target_has_mve(target) and p.shape0 == p.shape1 == tuple(p.out_shape):
            return KernelVariant(MVE, "Helium: 4 elements per vector, VQRDMULH/VRSHL rescaling (no broadcast)", 0)
        return _dsp_variant(_add_dsp_fields(p), p, "ADD", target) or KernelVariant(
            C99, "portable C kernel (general broadcast, a periodic input with the larger scale, or rescaling steps "
            "too large for the SMMULR shortcut)", 0)


def _periodic(shape0, shape1, out_shape) -> tuple[int, int]:
    """(period, full) when one input has the output's shape (full: 0 = input 0, 1 = input 1) and the other
    is ones followed by the output's trailing axes (a per-channel [C], a row [W, C], a scalar), so that
    it repeats with `period` = the product of those axes along the flat output; else (0, 0)."""
    o = tuple(out_shape)
    for full, (f, q) in enumerate(((tuple(shape0), tuple(shape1)), (tuple(shape1), tuple(shape0)))):
        if f != o or q == o:
            continue
        k = 0
        while k < len(q) and q[k] == 1:
            k += 1
        if q[k:] == o[k:]:
            return int(np.prod(o[k:], dtype=np.int64)), full
    return 0, 0


def _add_dsp_fields(p: BinaryParams) -> dict:
    """tg_add_params_t's DSP fields (tg_add_dsp / tg_add_dsp_period in tg_eltwise.c) and whether they are exact.

    Both kernels need an input whose real multiplier is exactly 1/2 (multiplier 2^30, shift 0: the
    larger-scale input, TFLM's multiplier = scale / (2 * max scale)): SRDHM(x, 2^30) = x / 2 exactly for the
    even x = (q + offset) << 20, so that input needs no rounding step. Without broadcast the other input takes
    the SMMULR shortcut (SMMULR, rounding by one add and one shift; see tg_rq_dsp); with a periodic input
    (per-channel broadcast, _periodic) the full input must be the 1/2 one and the periodic values are
    rescaled exactly (tg_mbqm_lt1), once each. The shortcut is exact where every intermediate stays within
    int32 for int8 inputs (|q + offset| <= 255)."""
    lim = 1 << 31
    none = dict(dsp=False, round1=0, round2=0, round_out=0, period=0, full=0, half=0)
    half = int(p.input1_multiplier == 1 << 30 and p.input1_shift == 0) | \
        (int(p.input2_multiplier == 1 << 30 and p.input2_shift == 0) << 1)
    period, full = _periodic(p.shape0, p.shape1, p.out_shape)
    if period:
        if not half & (1 << full):
            return none
        stepped = ()
    elif p.requires_broadcast or not half:
        return none
    else:
        stepped = (1,) if half & 1 else (0,)  # the input that is not the 1/2 one
    e = {0: -p.input1_shift, 1: -p.input2_shift}
    eo = -p.output_shift
    x = 255 << p.left_shift  # >= |(q + offset) << left_shift|; |y| <= |x| after the multiply
    ok = (p.left_shift == 20 and 2 * x < lim and 0 <= eo <= 29 and min(e.values()) >= 0
          and all(e[i] <= 29 and 2 * x + (1 << e[i]) + 1 < lim for i in stepped))
    raw = (x >> e[0]) + 1 + (x >> e[1]) + 1  # >= |s1 +- s2|
    ok = ok and 2 * raw < lim and 2 * raw + (1 << eo) + 1 + abs(p.output_offset) * (1 << (eo + 1)) < lim
    if not ok:
        return none
    r = {i: (1 << e[i]) if i in stepped else 0 for i in (0, 1)}
    return dict(dsp=True, round1=r[0], round2=r[1], round_out=(1 << eo) + p.output_offset * (1 << (eo + 1)),
                period=period, full=full, half=half)


def _mul_dsp_fields(p: BinaryParams) -> dict:
    """tg_mul_params_t's DSP fields (tg_mul_dsp in tg_eltwise.c): SMMULR(prod << (left + 1), m) equals
    SaturatingRoundingDoublingHighMul(prod << left, m) while prod << (left + 1) fits int32 (|prod| <= 255^2),
    then RoundingDivideByPOT as (round + 2y - (y < 0)) >> (e + 1), the output offset folded into `round`
    where that cannot overflow either."""
    lim = 1 << 31
    ls, e = max(p.output_shift, 0), max(-p.output_shift, 0)
    period, full = _periodic(p.shape0, p.shape1, p.out_shape)
    prod = 255 * 255
    ymax = prod << ls  # |SRDHM(x, m)| <= |x| for m < 2^31
    if not ((prod << (ls + 1)) < lim and e <= 30 and 2 * ymax + (1 << e) + 1 < lim):
        return dict(dsp=False, lshift1=0, rshift1=0, round=0, offset_folded=0, period=0, full=0)
    fold = 2 * ymax + (1 << e) + 1 + abs(p.output_offset) * (1 << (e + 1)) < lim
    return dict(dsp=True, lshift1=ls + 1, rshift1=e + 1,
                round=(1 << e) + (p.output_offset * (1 << (e + 1)) if fold else 0), offset_folded=int(fold),
                period=period, full=full)


def _dsp_variant(fields: dict, p: BinaryParams, what: str, target: str | None) -> KernelVariant | None:
    if not target_has_dsp(target):
        return KernelVariant(C99, f"target {target} has no DSP extension", 0)
    if not fields["dsp"]:
        return None
    if fields["period"]:
        return KernelVariant(DSP, f"{what}: per-period broadcast (period {fields['period']}), SMMULR rescaling "
                                  "proved exact", 0)
    if not p.requires_broadcast:
        return KernelVariant(DSP, f"{what}: SMMULR rescaling proved exact", 0)
    return None


@register
class Add(_AddSub):
    name = "ADD"


@register
class Sub(_AddSub):
    name = "SUB"


@register
class Mul(_Binary):
    name = "MUL"

    def _real(self, g, op) -> float:
        t0, t1, to = (g.tensors[op.inputs[0]], g.tensors[op.inputs[1]], g.tensors[op.outputs[0]])
        return float(t0.scale) * float(t1.scale) / float(to.scale)

    def check(self, g, op):
        super().check(g, op)
        _, shift = fp.quantize_multiplier(self._real(g, op))
        require(shift <= 15, op, f"output multiplier {self._real(g, op):g} is too large")

    def prepare(self, g, op):
        m, shift = fp.quantize_multiplier(self._real(g, op))
        return BinaryParams(**self._common(g, op), output_multiplier=m, output_shift=shift)

    def run(self, p: BinaryParams, inputs):
        a, b = self._operands(p, inputs)
        raw = fp.multiply_by_quantized_multiplier(a * b, p.output_multiplier, p.output_shift)
        return [self._finish(p, raw)]

    def emit_c(self, p: BinaryParams, ctx):
        """C binding: tg_mul_s8 in firmware/kernels/tg_eltwise.c."""
        from tinygen.ops.c_emit import broadcast_fields

        ctx.need("tg_eltwise.c", "tg_mve.c")
        fields = dict(shape=broadcast_fields(p.shape0, p.shape1, p.out_shape),
                      input1_offset=p.input1_offset, input2_offset=p.input2_offset, output_offset=p.output_offset,
                      output_multiplier=p.output_multiplier, output_shift=p.output_shift,
                      act_min=p.activation_min, act_max=p.activation_max, **_mul_dsp_fields(p))
        return f"tg_mul_s8({ctx.struct('tg_mul_params_t', fields)}, {ctx.input(0)}, {ctx.input(1)}, {ctx.output()});"

    def kernel_variant(self, p: BinaryParams, target: str | None = None) -> KernelVariant:
        return _dsp_variant(_mul_dsp_fields(p), p, "MUL", target) or KernelVariant(
            C99, "portable C kernel (general broadcast, or a multiplier shift outside the SMMULR shortcut)", 0)
