"""SOFTMAX, int8 input -> int8 output (scale 1/256, zero point -128) or int16 output
(scale 1/65536, zero point -32768), over the last axis.

TFLM's quantized reference path: per row, input_diff = x - max(row); entries with
input_diff >= diff_min are rescaled by input_multiplier << input_left_shift
(MultiplyByQuantizedMultiplierGreaterThanOne) into Q5.26, exponentiated with gemmlowp's
exp_on_negative_values, summed in Q12.19, inverted with GetReciprocal
(one_over_one_plus_x_for_x_in_0_1) and each exp scaled by the reciprocal. Entries below
diff_min give the output minimum. Prepare (PreprocessSoftmaxScaling) computes
beta * input_scale * 2^26 in double, capped at 2^31 - 1.

TFLM aborts (TFLITE_CHECK on the output exponent) on an int8-output row whose sum of exps
reaches 512, which needs a row of >= 512 entries that are all (nearly) equal; every
probability of such a row is below 1/512, and tinygen gives them all the output minimum
(-128), which is what the arithmetic yields with the out-of-range exponent.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinygen.model import fixedpoint as fp
from .base import Op, register, require

SCALED_DIFF_INTEGER_BITS = 5
ACCUMULATION_INTEGER_BITS = 12
MAX_DEPTH = 4095  # 4096 equal entries overflow TFLM's int32 Q12.19 sum of exps


@dataclass
class SoftmaxParams:
    input_multiplier: int
    input_left_shift: int
    diff_min: int
    output_bits: int  # 8 (int8 output) or 16 (int16 output)
    depth: int
    beta: float


def _real_multiplier(beta: float, input_scale: float) -> float:
    real = float(beta) * float(input_scale) * float(1 << (31 - SCALED_DIFF_INTEGER_BITS))
    return min(real, float((1 << 31) - 1))


@register
class Softmax(Op):
    name = "SOFTMAX"
    dtypes = ("int8", "int8 -> int16")
    inplace = False  # each row is read again after its maximum and sum are known

    def check(self, g, op):
        require(len(op.inputs) == 1 and len(op.outputs) == 1, op, "expects one input and one output")
        src, dst = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        require(src.dtype == np.int8, op, f"input is {src.dtype_name}; only int8 input is supported")
        require(src.quant is not None and not src.quant.per_channel, op, "input must be per-tensor quantized")
        require(dst.quant is not None and not dst.quant.per_channel, op, "output must be per-tensor quantized")
        if dst.dtype == np.int8:
            require(dst.zero_point == -128, op, f"int8 output zero point is {dst.zero_point}; TFLM requires -128")
            require(dst.scale == 1.0 / 256, op, f"int8 output scale is {dst.scale:g}; TFLM requires 1/256")
        elif dst.dtype == np.int16:
            require(dst.zero_point == -32768, op, f"int16 output zero point is {dst.zero_point}; TFLM requires -32768")
            delta = abs(np.float32(dst.scale) - np.float32(1.0 / 65536))
            require(delta <= np.float32(0.001) * np.float32(1.0 / 65536), op,
                    f"int16 output scale is {dst.scale:g}; TFLM requires 1/65536")
        else:
            require(False, op, f"output is {dst.dtype_name}; only int8 and int16 outputs are supported")
        require(len(src.shape) >= 1, op, "input must have rank >= 1")
        require(tuple(src.shape) == tuple(dst.shape), op, f"output shape {list(dst.shape)} differs from input {list(src.shape)}")
        depth = src.shape[-1]
        require(depth <= MAX_DEPTH, op, f"softmax over {depth} entries overflows TFLM's accumulator (max {MAX_DEPTH})")
        require(src.scale > 0, op, "input scale must be positive")
        beta = op.options.get("beta", 1.0)
        require(np.isfinite(beta) and beta > 0, op, f"beta {beta} must be positive")
        real = _real_multiplier(beta, src.scale)
        require(real > 1.0, op, f"beta * input_scale = {beta * src.scale:g} is too small (TFLM needs > 2^-26)")

    def prepare(self, g, op):
        src, dst = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        beta = float(op.options.get("beta", 1.0))
        m, shift = fp.quantize_multiplier(_real_multiplier(beta, src.scale))
        diff_min = -fp.calculate_input_radius(SCALED_DIFF_INTEGER_BITS, shift, 31)
        return SoftmaxParams(m, shift, diff_min, 8 * np.dtype(dst.dtype).itemsize, int(src.shape[-1]), beta)

    def run(self, p: SoftmaxParams, inputs):
        x = inputs[0].astype(np.int64)
        diff = x - x.max(axis=-1, keepdims=True)
        keep = diff >= p.diff_min
        rescaled = fp.multiply_by_quantized_multiplier_greater_than_one(diff, p.input_multiplier, p.input_left_shift)
        exp_q0 = fp.exp_on_negative_values(rescaled, SCALED_DIFF_INTEGER_BITS)
        terms = np.where(keep, fp.rescale_fixed(exp_q0, 0, ACCUMULATION_INTEGER_BITS), 0)
        sum_of_exps = fp.wrap_int32(terms.sum(axis=-1, keepdims=True))
        reciprocal, num_bits_over_unit = fp.get_reciprocal(sum_of_exps, ACCUMULATION_INTEGER_BITS)
        exponent = num_bits_over_unit + 31 - p.output_bits
        unsat = fp.rounding_divide_by_pot(fp.saturating_rounding_doubling_high_mul(reciprocal, exp_q0), exponent)
        lo, hi = -(1 << (p.output_bits - 1)), (1 << (p.output_bits - 1)) - 1
        out = np.where(keep, np.clip(unsat + lo, lo, hi), lo)
        return [out.astype(np.int8 if p.output_bits == 8 else np.int16)]

    def macs(self, g, op):
        return 0

    def emit_c(self, p: SoftmaxParams, ctx):
        """C binding: tg_softmax_s8 (firmware/kernels/tg_softmax.c). The Q0.31 exp of every
        possible x - max(row) (0 below diff_min) is tabulated here; the C code sums, inverts
        and scales as the numpy kernel does."""
        ctx.need("tg_softmax.c")
        diff = -np.arange(256, dtype=np.int64)
        rescaled = fp.multiply_by_quantized_multiplier_greater_than_one(diff, p.input_multiplier, p.input_left_shift)
        exp_q0 = fp.exp_on_negative_values(rescaled, SCALED_DIFF_INTEGER_BITS)
        table = np.where(diff >= p.diff_min, exp_q0, 0)
        fields = dict(rows=ctx.output_tensor().size // p.depth, depth=p.depth, output_bits=p.output_bits,
                      exp_table=ctx.const(table, "int32_t", f"op{ctx.op_index}_exp"))
        return f"tg_softmax_s8({ctx.struct('tg_softmax_params_t', fields)}, {ctx.input(0)}, {ctx.output()});"
