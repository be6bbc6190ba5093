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


# ---------------------------------------------------------------- RESIZE_BILINEAR (int8)


def _trunc_div(a, d: int):
    a = np.asarray(a, dtype=np.int64)
    q = np.abs(a) // d
    return np.where(a < 0, -q, q)


def bilinear_coords(in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool):
    """TFLM's ResizeBilinearInteger per output coordinate: (lower, upper, scaled - 1024 * lower)."""
    if align_corners and out_size > 1:
        scale10 = ((1 << 10) * (in_size - 1) + (out_size - 1) // 2) // (out_size - 1)
    else:
        scale10 = ((1 << 10) * in_size + out_size // 2) // out_size
    v = np.arange(out_size, dtype=np.int64)
    scaled = v * scale10 + (scale10 // 2 - (1 << 9) if half_pixel_centers else 0)
    lower = np.maximum(_trunc_div(scaled, 1 << 10), 0)
    upper = np.minimum(_trunc_div(scaled + (1 << 10) - 1, 1 << 10), in_size - 1)
    return lower, upper, scaled - (1 << 10) * lower


@dataclass(frozen=True)
class BilinearParams:
    y0: tuple
    y1: tuple
    dy: tuple
    x0: tuple
    x1: tuple
    dx: tuple
    in_shape: tuple
    out_shape: tuple


@register
class ResizeBilinear(Op):
    name = "RESIZE_BILINEAR"
    dtypes = ("int8",)

    def check(self, g, op):
        require(len(op.inputs) == 2 and len(op.outputs) == 1, op,
                f"has {len(op.inputs)} inputs and {len(op.outputs)} outputs, expected 2 and 1")
        x, out = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        require(x.dtype == np.int8 and out.dtype == np.int8, op, f"{x.dtype_name} -> {out.dtype_name}: TFLM's RESIZE_BILINEAR has an int8 kernel only")
        require(len(x.shape) == 4 and len(out.shape) == 4, op, "input and output must be 4-D (NHWC)")
        require(not (op.options.get("align_corners") and op.options.get("half_pixel_centers")), op,
                "align_corners and half_pixel_centers together (TFLM refuses them)")
        size = g.tensors[op.inputs[1]] if op.inputs[1] >= 0 else None
        require(size is not None and size.is_const, op, "non-constant size tensor is not supported (as TFLM)")
        require(size.dtype == np.int32 and size.size == 2, op, f"size tensor is {size.dtype_name}{list(size.shape)}, expected int32[2]")
        h, w = (int(v) for v in size.data.reshape(-1))
        expected = (x.shape[0], h, w, x.shape[3])
        require(h > 0 and w > 0 and tuple(out.shape) == expected, op, f"output shape {list(out.shape)} is not the resized shape {list(expected)}")

    def prepare(self, g, op):
        x, out = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        ac, hp = bool(op.options.get("align_corners", False)), bool(op.options.get("half_pixel_centers", False))
        ys = bilinear_coords(x.shape[1], out.shape[1], ac, hp)
        xs = bilinear_coords(x.shape[2], out.shape[2], ac, hp)
        t = lambda a: tuple(int(v) for v in a)  # noqa: E731
        return BilinearParams(t(ys[0]), t(ys[1]), t(ys[2]), t(xs[0]), t(xs[1]), t(xs[2]), tuple(x.shape), tuple(out.shape))

    def run(self, p: BilinearParams, inputs):
        x = inputs[0].astype(np.int64)
        y0, y1, dy = (np.array(v, np.int64)[None, None, :, None, None] for v in (p.y0, p.y1, p.dy))
        x0, x1, dx = (np.array(v, np.int64)[None, None, None, :, None] for v in (p.x0, p.x1, p.dx))
        rows0, rows1 = x[:, :, list(p.y0)], x[:, :, list(p.y1)]
        ll, rl = rows0[:, :, :, list(p.x0)], rows0[:, :, :, list(p.x1)]
        lu, ru = rows1[:, :, :, list(p.x0)], rows1[:, :, :, list(p.x1)]
        one = 1 << 10
        acc = ll * (one - dy) * (one - dx) + lu * dy * (one - dx) + rl * (one - dy) * dx + ru * dy * dx
        acc = _trunc_div(acc + np.where(acc > 0, 1 << 19, -(1 << 19)), 1 << 20)
        return [acc.astype(np.int8)]  # static_cast<int8_t>: wraps like the C cast

    def emit_c(self, p: BilinearParams, ctx):
        """C binding: tg_resize_bilinear_s8 (firmware/kernels/tg_resize.c) with the per-row/column tables."""
        ctx.need("tg_resize.c")
        b, ih, iw, c = p.in_shape
        arr = lambda v: np.array(v, dtype=np.int32)  # noqa: E731
        fields = dict(batches=b, in_h=ih, in_w=iw, channels=c, out_h=p.out_shape[1], out_w=p.out_shape[2],
                      y0=arr(p.y0), y1=arr(p.y1), dy=arr(p.dy), x0=arr(p.x0), x1=arr(p.x1), dx=arr(p.dx))
        return f"tg_resize_bilinear_s8({ctx.struct('tg_bilinear_params_t', fields)}, {ctx.input(0)}, {ctx.output()});"
