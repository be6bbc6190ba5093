"""RESIZE_NEAREST_NEIGHBOR (int8, int16), as TFLite Micro's reference kernel computes it.

Each output pixel copies the values of one input pixel: the source row of output row y is
GetNearestNeighbor(y, in_h, scale_h), in float32 like TFLM:
- scale = in / out (float32), or (in - 1) / (out - 1) with align_corners and out > 1;
- offset = 0.5 with half_pixel_centers, else 0;
- src = min(align_corners ? round((y + offset) * scale) : floor((y + offset) * scale), in - 1),
  and max(src, 0) with half_pixel_centers (round: half away from zero, TfLiteRound).
The values are copied as they are (TFLM does not requantize, whatever the output's quantization).
The size input must be a constant int32 [2] tensor (TFLM Micro has no dynamic shapes).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import Op, register, require

_TYPES = (np.int8, np.int16)


@dataclass(frozen=True)
class ResizeParams:
    in_y: tuple[int, ...]  # source row of every output row
    in_x: tuple[int, ...]  # source column of every output column
    in_shape: tuple[int, ...]  # [B, H, W, C]
    out_shape: tuple[int, ...]
    itemsize: int


def nearest_indices(in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool) -> list[int]:
    """TFLM's GetNearestNeighbor for every output coordinate (float32 arithmetic)."""
    f32 = np.float32
    if align_corners and out_size > 1:
        scale = f32(in_size - 1) / f32(out_size - 1)
    else:
        scale = f32(in_size) / f32(out_size)
    offset = f32(0.5) if half_pixel_centers else f32(0.0)
    pos = (np.arange(out_size, dtype=f32) + offset) * scale  # float32 throughout
    if align_corners:  # std::round, half away from zero; pos >= 0 and float64 holds pos + 0.5 exactly
        src = np.floor(pos.astype(np.float64) + 0.5)
    else:
        src = np.floor(pos)
    src = np.minimum(src.astype(np.int64), in_size - 1)
    if half_pixel_centers:
        src = np.maximum(src, 0)
    return [int(v) for v in src]


@register
class ResizeNearestNeighbor(Op):
    name = "RESIZE_NEAREST_NEIGHBOR"
    dtypes = ("int8", "int16")

    def check(self, g, op):
        require(len(op.inputs) == 2 and len(op.outputs) == 1, op,
                f"has {len(op.inputs)} inputs and {len(op.outputs)} outputs, expected 2 and 1")
        x, out = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        require(x.dtype in _TYPES, op, f"input '{x.name}' is {x.dtype_name}, only int8 and int16 are supported")
        require(out.dtype == x.dtype, op, f"output is {out.dtype_name}, input {x.dtype_name}")
        require(len(x.shape) == 4 and len(out.shape) == 4, op, "input and output must be 4-D (NHWC)")
        size = g.tensors[op.inputs[1]] if op.inputs[1] >= 0 else None
        require(size is not None and size.is_const, op, "non-constant size tensor is not supported (TFLM Micro has no dynamic shapes)")
        require(size.dtype == np.int32 and size.size == 2, op, f"size tensor is {size.dtype_name}{list(size.shape)}, expected int32[2]")
        h, w = (int(v) for v in size.data.reshape(-1))
        require(h > 0 and w > 0, op, f"size {[h, w]} must be positive")
        expected = (x.shape[0], h, w, x.shape[3])
        require(tuple(out.shape) == expected, op, f"output shape {list(out.shape)} is not the resized shape {list(expected)}")

    def prepare(self, g, op):
        x, out = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        ac, hp = bool(op.options.get("align_corners", False)), bool(op.options.get("half_pixel_centers", False))
        return ResizeParams(tuple(nearest_indices(x.shape[1], out.shape[1], ac, hp)),
                            tuple(nearest_indices(x.shape[2], out.shape[2], ac, hp)),
                            tuple(x.shape), tuple(out.shape), int(np.dtype(x.dtype).itemsize))

    def run(self, p: ResizeParams, inputs):
        x = inputs[0]
        y = x[:, :, list(p.in_y)][:, :, :, list(p.in_x)]
        return [np.ascontiguousarray(y)]

    def emit_c(self, p: ResizeParams, ctx):
        """C binding: tg_resize_nearest (firmware/kernels/tg_resize.c): one memcpy of C values per output pixel."""
        ctx.need("tg_resize.c")
        b, ih, iw, c = p.in_shape
        fields = dict(batches=b, in_h=ih, in_w=iw, out_h=p.out_shape[1], out_w=p.out_shape[2], pixel_bytes=c * p.itemsize,
                      in_y=np.array(p.in_y, dtype=np.int32), in_x=np.array(p.in_x, dtype=np.int32))
        return (f"tg_resize_nearest({ctx.struct('tg_resize_params_t', fields)}, (const int8_t *){ctx.input(0)}, "
                f"(int8_t *){ctx.output()});")
