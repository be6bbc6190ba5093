"""BATCH_MATMUL (int8, int16 with zero points 0), as TFLite Micro's reference BatchMatMul computes it.

out[b, i, j] = clamp(MultiplyByQuantizedMultiplier(sum_k (lhs[b, i, k] - zp_l) * (rhs[b, k, j] - zp_r),
M, shift) + zp_out), M, shift = QuantizeMultiplier(s_lhs * s_rhs / s_out) (double, like TFLM's
GetQuantizedConvolutionMultipler); adj_x / adj_y take lhs / rhs transposed (their last two axes
swapped); the batch axes (rank 2..5) broadcast like numpy's. int8 accumulates in int32 and requantizes
with the 32-bit MultiplyByQuantizedMultiplier, int16 (TFLM requires zero points 0) in int64 with the
64-bit one (the 16-bit reduced multiplier, one rounding). No fused activation (TFLM has none).

C: tg_batch_matmul_s8 / _s16 (firmware/kernels/tg_bmm.c) over per-batch element offsets computed at
generation time and element strides for the (adj) layouts. DSP variant (int8, lhs rows contiguous:
adj_x false): per output column the rhs column is widened once to int16 (zero point subtracted) in the
op's scratch, in the lane order SXTB16 gives, and each lhs row is read 4 int8 values per 32-bit load,
sign-extended with SXTB16 and multiplied with two SMLAD; the lhs zero point is applied once per output
(zp_l * the column sum). int16: the rhs column gathered into scratch, 2 lhs values per load, SMLALD.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinygen.model import fixedpoint as fp
from .base import C99, DSP, KernelVariant, Op, register, require, target_has_dsp
from .conv16 import mbqm_int64


@dataclass
class BmmParams:
    itemsize: int
    lhs_shape: tuple  # padded to the output rank, adj applied (..., rows, depth)
    rhs_shape: tuple  # (..., depth, cols)
    adj_x: bool
    adj_y: bool
    out_shape: tuple
    rows: int
    cols: int
    depth: int
    lhs_off: np.ndarray  # int32 element offset of each output batch's lhs matrix
    rhs_off: np.ndarray
    lhs_zp: int
    rhs_zp: int
    out_zp: int
    multiplier: int
    shift: int
    low_ram: bool = False  # the planner chose the scratch-free C99 kernel (planner.plan_memory)

    @property
    def dsp_ok(self) -> bool:
        return not self.adj_x and not self.low_ram


def _batch_offsets(shape, out_batch) -> np.ndarray:
    """Element offset of the matrix of every output batch index (C order) in a tensor of `shape`
    (padded to the output rank; broadcast batch axes have stride 0)."""
    nb = len(out_batch)
    mat = int(shape[-1]) * int(shape[-2])
    strides, acc = [0] * nb, mat
    for d in range(nb - 1, -1, -1):
        strides[d] = 0 if shape[d] == 1 else acc
        acc *= int(shape[d])
    idx = np.indices(out_batch, dtype=np.int64).reshape(nb, -1) if nb else np.zeros((0, 1), np.int64)
    return (np.asarray(strides, np.int64)[:, None] * idx).sum(axis=0).astype(np.int32)


@register
class BatchMatMul(Op):
    name = "BATCH_MATMUL"
    dtypes = ("int8", "int16")
    dsp_dtypes = ("int8", "int16")

    def check(self, g, op):
        require(len(op.inputs) == 2 and len(op.outputs) == 1, op, "expects two inputs (lhs, rhs) and one output")
        lhs, rhs, out = (g.tensors[i] for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
        require(lhs.dtype in (np.int8, np.int16), op, f"lhs is {lhs.dtype_name}; int8 and int16 are supported")
        require(rhs.dtype == lhs.dtype and out.dtype == lhs.dtype, op,
                f"{lhs.dtype_name}, {rhs.dtype_name} -> {out.dtype_name}: TFLM needs one type throughout")
        for t, role in ((lhs, "lhs"), (rhs, "rhs"), (out, "output")):
            require(t.quant is not None and not t.quant.per_channel and t.scale > 0, op, f"{role} '{t.name}' needs per-tensor quantization")
            if lhs.dtype == np.int16:
                require(t.zero_point == 0, op, f"int16 {role} has zero point {t.zero_point}; TFLM needs 0")
        require(2 <= len(lhs.shape) <= 5 and 2 <= len(rhs.shape) <= 5, op, "lhs and rhs need rank 2..5 (as TFLM)")
        r = max(len(lhs.shape), len(rhs.shape))
        ls, rs = self._shapes(g, op)
        try:
            batch = tuple(np.broadcast_shapes(ls[:-2], rs[:-2]))
        except ValueError:
            batch = None
        require(batch is not None, op, f"batch axes {list(lhs.shape[:-2])} and {list(rhs.shape[:-2])} do not broadcast")
        require(ls[-1] == rs[-2], op, f"lhs depth {ls[-1]} differs from rhs depth {rs[-2]} (adj_x {self._adj(op)[0]}, adj_y {self._adj(op)[1]})")
        expected = batch + (ls[-2], rs[-1])
        require(tuple(out.shape) == expected and len(out.shape) == r, op, f"output shape {list(out.shape)} is not {list(expected)}")
        if lhs.dtype == np.int8:
            require(ls[-1] * 128 * 255 < (1 << 31), op, f"depth {ls[-1]}: the int32 accumulator could overflow")
        m, s = self._multiplier(g, op)
        require(s <= 30, op, "effective output scale (lhs_scale * rhs_scale / output_scale) >= 2^30 not supported")

    @staticmethod
    def _adj(op) -> tuple[bool, bool]:
        return bool(op.options.get("adj_x", False)), bool(op.options.get("adj_y", False))

    def _shapes(self, g, op):
        lhs, rhs = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]]
        r = max(len(lhs.shape), len(rhs.shape))
        ls = (1,) * (r - len(lhs.shape)) + tuple(int(d) for d in lhs.shape)
        rs = (1,) * (r - len(rhs.shape)) + tuple(int(d) for d in rhs.shape)
        ax, ay = self._adj(op)
        if ax:
            ls = ls[:-2] + (ls[-1], ls[-2])
        if ay:
            rs = rs[:-2] + (rs[-1], rs[-2])
        return ls, rs

    @staticmethod
    def _multiplier(g, op):
        lhs, rhs, out = (g.tensors[i] for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
        real = float(np.float32(lhs.scale)) * float(np.float32(rhs.scale)) / float(np.float32(out.scale))
        return fp.quantize_multiplier(real)

    def prepare(self, g, op):
        lhs, rhs, out = (g.tensors[i] for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
        ls, rs = self._shapes(g, op)
        ax, ay = self._adj(op)
        batch = tuple(int(d) for d in out.shape[:-2])
        # offsets in the stored (un-adjusted) layouts: the matrix size is the same either way
        m, s = self._multiplier(g, op)
        return BmmParams(int(np.dtype(lhs.dtype).itemsize), ls, rs, ax, ay, tuple(out.shape), ls[-2], rs[-1], ls[-1],
                         _batch_offsets(ls, batch), _batch_offsets(rs, batch), lhs.zero_point, rhs.zero_point,
                         out.zero_point, int(m), int(s))

    def run(self, p: BmmParams, inputs):
        def view(x, shape, adj):
            v = x.reshape((x.shape[0],) + (shape[:-2] + ((shape[-1], shape[-2]) if adj else shape[-2:])))
            return np.swapaxes(v, -1, -2) if adj else v

        a = view(inputs[0], p.lhs_shape, p.adj_x).astype(np.int64) - p.lhs_zp
        b = view(inputs[1], p.rhs_shape, p.adj_y).astype(np.int64) - p.rhs_zp
        acc = np.matmul(a, b)
        if p.itemsize == 1:
            y = fp.multiply_by_quantized_multiplier(fp.wrap_int32(acc), p.multiplier, p.shift)
            lo, hi, t = -128, 127, np.int8
        else:
            y = fp.wrap_int32(mbqm_int64(acc, p.multiplier, p.shift))  # TFLM casts the int64 result to int32
            lo, hi, t = -32768, 32767, np.int16
        y = np.clip(y + p.out_zp, lo, hi).astype(t)
        n = max(inputs[0].shape[0], inputs[1].shape[0])
        return [np.ascontiguousarray(np.broadcast_to(y, (n,) + p.out_shape))]

    def macs(self, g, op):
        p = self.prepare(g, op)
        return int(p.lhs_off.size) * p.rows * p.cols * p.depth

    def scratch_bytes(self, p: BmmParams) -> int:
        return 2 * (-(-p.depth // 4) * 4) if p.dsp_ok else 0

    def kernel_variant(self, p: BmmParams, target=None):
        if p.dsp_ok and target_has_dsp(target):
            how = ("SMLAD over the rhs column widened to int16 in scratch, 4 lhs values per load" if p.itemsize == 1
                   else "SMLALD over the rhs column gathered in scratch, 2 lhs values per load, int64 sums")
            return KernelVariant(DSP, how, self.scratch_bytes(p))
        if p.low_ram:
            why = "RAM: the DSP variant's scratch would raise the arena above 1.05x the live-tensor bound"
        elif p.adj_x:
            why = "adj_x: lhs rows are not contiguous (no DSP kernel)"
        else:
            why = f"target {target} has no DSP extension"
        return KernelVariant(C99, why, self.scratch_bytes(p))

    def emit_c(self, p: BmmParams, ctx):
        """C binding: tg_batch_matmul_s8 / _s16 (firmware/kernels/tg_bmm.c)."""
        ctx.need("tg_bmm.c")
        k = ctx.op_index
        fields = dict(batches=int(p.lhs_off.size), rows=p.rows, cols=p.cols, depth=p.depth,
                      lhs_off=ctx.const(p.lhs_off, "int32_t", f"op{k}_lhs_off"),
                      rhs_off=ctx.const(p.rhs_off, "int32_t", f"op{k}_rhs_off"),
                      l_si=1 if p.adj_x else p.depth, l_sk=p.rows if p.adj_x else 1,
                      r_sk=1 if p.adj_y else p.cols, r_sj=p.depth if p.adj_y else 1,
                      lhs_zp=p.lhs_zp, rhs_zp=p.rhs_zp, out_zp=p.out_zp, multiplier=p.multiplier, shift=p.shift,
                      dsp=int(p.dsp_ok))
        st = ctx.struct("tg_bmm_params_t", fields)
        scratch = f"(int16_t *){ctx.scratch()}" if p.dsp_ok else "(int16_t *)0"
        return f"tg_batch_matmul_s{8 * p.itemsize}({st}, {ctx.input(0)}, {ctx.input(1)}, {ctx.output()}, {scratch});"


__all__ = ["BatchMatMul", "BmmParams"]
