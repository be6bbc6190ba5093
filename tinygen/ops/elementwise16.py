"""ADD, SUB and MUL with int16 activations (16x8 models): variants of the int8 ops in elementwise.py,
chosen by the input type (register_variant).

TFLM's quantized ADD/SUB path is the same general rescaling as for int8 with `left_shift` = 15
(add_common.cc: 15 for int16 outputs, 20 for int8) and the int16 range; MUL is the int8 formula with
the int16 range. The oracle tests (tests/test_ops_elementwise16.py) pin this down.
"""
from __future__ import annotations

import numpy as np

from .base import register_variant, require
from .conv16 import INT16_MAX, INT16_MIN, activation_range
from .elementwise import MAX_RANK, _FUSED, BinaryParams, _AddSub, _Binary, Mul


class _Int16Mixin:
    dtypes = ("int16",)
    dsp_dtypes = ()

    def check(self, g, op):
        require(len(op.inputs) == 2 and len(op.outputs) == 1, op, "expects two inputs and one output")
        t0, t1, to = (g.tensors[op.inputs[0]], g.tensors[op.inputs[1]], g.tensors[op.outputs[0]])
        for t, role in ((t0, "input 0"), (t1, "input 1"), (to, "output")):
            require(t.dtype == np.int16, op, f"{role} '{t.name}' is {t.dtype_name}; the int16 {self.name} needs int16 throughout")
            require(t.quant is not None and not t.quant.per_channel and t.scale > 0, op, f"{role} needs per-tensor quantization")
            require(len(t.shape) <= MAX_RANK, op, f"{role} has rank {len(t.shape)}: rank > {MAX_RANK} not supported")
        try:
            b = tuple(np.broadcast_shapes(tuple(t0.shape), tuple(t1.shape)))
        except ValueError:
            b = None
        require(b == tuple(to.shape), op, f"output shape {list(to.shape)} is not the broadcast of the inputs")
        require(op.activation in _FUSED, op, f"fused activation {op.activation} not supported")
        self._check_scales(g, op)

    def _check_scales(self, g, op):
        pass

    def _common(self, g, op) -> dict:
        d = _Binary._common(self, g, op)
        to = g.tensors[op.outputs[0]]
        d["activation_min"], d["activation_max"] = activation_range(op.activation, to.scale, to.zero_point, INT16_MIN, INT16_MAX)
        return d

    @staticmethod
    def _finish(p: BinaryParams, raw):
        return np.clip(raw + p.output_offset, p.activation_min, p.activation_max).astype(np.int16)

    def emit_c(self, p: BinaryParams, ctx):
        """C binding: tg_eltwise_s16 (firmware/kernels/tg_eltwise16.c)."""
        from tinygen.ops.c_emit import broadcast_fields

        ctx.need("tg_eltwise16.c")
        kind = {"ADD": 0, "SUB": 1, "MUL": 2}[p.op]
        fields = dict(shape=broadcast_fields(p.shape0, p.shape1, p.out_shape), kind=kind, input1_offset=p.input1_offset,
                      input2_offset=p.input2_offset, output_offset=p.output_offset, left_shift=p.left_shift,
                      input1_multiplier=p.input1_multiplier, input1_shift=p.input1_shift,
                      input2_multiplier=p.input2_multiplier, input2_shift=p.input2_shift,
                      output_multiplier=p.output_multiplier, output_shift=p.output_shift,
                      act_min=p.activation_min, act_max=p.activation_max)
        return (f"tg_eltwise_s16({ctx.struct('tg_eltwise16_params_t', fields)}, (const int16_t *){ctx.input(0)}, "
                f"(const int16_t *){ctx.input(1)}, (int16_t *){ctx.output()});")


class _AddSub16(_Int16Mixin, _AddSub):
    LEFT_SHIFT = 15

    def _check_scales(self, g, op):
        from .elementwise import _smaller_than_one

        r1, r2, ro = self._reals(g, op)
        for what, r in (("input 0", r1), ("input 1", r2), ("output", ro)):
            require(_smaller_than_one(r) is not None, op, f"{what} rescaling multiplier {r:g} is not in (0, 1)")


@register_variant("ADD", "int16")
class AddInt16(_AddSub16):
    name = "ADD"


@register_variant("SUB", "int16")
class SubInt16(_AddSub16):
    name = "SUB"


@register_variant("MUL", "int16")
class MulInt16(_Int16Mixin, Mul):
    name = "MUL"

    def _check_scales(self, g, op):
        from tinygen.model import fixedpoint as fp

        _, shift = fp.quantize_multiplier(self._real(g, op))
        require(shift <= 15, op, f"output multiplier {self._real(g, op):g} is too large")
