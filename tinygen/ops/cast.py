"""CAST between the integer types and bool, and from them to float32, as TFLite Micro's cast kernel
(a static_cast per element; quantization parameters are ignored).

Checked against the `tflite_micro` package: int8/int16/int32 narrow by keeping the low bits (two's
complement wrap), bool -> number is 0/1, number -> bool is != 0. float32 -> integer is not run: TFLM's
static_cast of an out-of-range float is undefined (the oracle saturates where a Cortex-M would not
agree in general). uint8 and the other types are refused as TFLM's cast refuses them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import Op, register, require

_IN = {"int8": 0, "int16": 1, "int32": 2, "bool": 3}
_OUT = {"int8": 0, "int16": 1, "int32": 2, "bool": 3, "float32": 4}
_NP = {"int8": np.int8, "int16": np.int16, "int32": np.int32, "bool": np.bool_, "float32": np.float32}


@dataclass(frozen=True)
class CastParams:
    src: str
    dst: str
    size: int


@register
class Cast(Op):
    name = "CAST"
    dtypes = ("int8/int16/int32/bool -> int8/int16/int32/bool/float32",)

    def check(self, g, op):
        require(len(op.inputs) == 1 and len(op.outputs) == 1, op, f"has {len(op.inputs)} inputs and {len(op.outputs)} outputs, expected 1 and 1")
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        require(x.dtype_name in _IN and y.dtype_name in _OUT and x.dtype_name != y.dtype_name, op,
                f"CAST {x.dtype_name} -> {y.dtype_name} is not supported (from {', '.join(_IN)} to another of {', '.join(_OUT)})")
        require(tuple(x.shape) == tuple(y.shape), op, f"output shape {list(y.shape)} differs from the input's {list(x.shape)}")

    def prepare(self, g, op):
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        return CastParams(x.dtype_name, y.dtype_name, int(x.size))

    def run(self, p: CastParams, inputs):
        x = inputs[0]
        if p.dst == "bool":
            return [x != 0]
        if p.src == "bool":
            return [x.astype(_NP[p.dst])]
        # numpy's integer astype keeps the low bits (wraps), as static_cast does
        return [x.astype(np.int64).astype(_NP[p.dst]) if p.dst != "float32" else x.astype(np.float32)]

    def emit_c(self, p: CastParams, ctx):
        """C binding: tg_cast (firmware/kernels/tg_arith.c)."""
        ctx.need("tg_arith.c")
        return f"tg_cast((const void *){ctx.input(0)}, {_IN[p.src]}, (void *){ctx.output()}, {_OUT[p.dst]}, {p.size});"
