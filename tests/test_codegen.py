"""Generated C == the emulator, element for element, for single-op models of every op with a
C binding, a few multi-op graphs and every zoo model.

All models go into one "suite": generated once, compiled into one host harness binary per
compiler configuration (gcc -O2 -Werror; gcc with ASan/UBSan; clang), each model run in one
process over many samples (inputs on stdin, outputs on stdout). The Cortex-M4 cross compiler
only compiles (-c).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import tflite
import pytest

from tests.support.opmodels import ModelBuilder, conv16_model, dynamic_flatten, lstm_model, resize_model, transpose_conv_model
from tinygen.codegen.generator import generate, kernels_dir
from tinygen.emulator.engine import Emulator
from tinygen.errors import UnsupportedOpError
from tinygen.ops import REGISTRY, Op
from tinygen.model.reader import parse_model, read_model

WARN = ["-std=c99", "-Wall", "-Wextra", "-Werror"]
ARM = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-O2"]
SAN = ["-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
N_RANDOM = 24  # random samples per model (plus the edge samples)
N_SAN = 4  # samples per model under the sanitizers
JOBS = max(2, os.cpu_count() or 2)

# ================================================================= single-op / small models


def _conv(rng, in_shape, oc, k, stride=1, padding="SAME", act="NONE", dil=1, per_channel=True, bias=True,
          in_zp=-3, out_zp=5, depthwise=False, dm=1, groups=1):
    m = ModelBuilder()
    _, h, w, c = in_shape
    in_scale = 0.05
    x = m.tensor(in_shape, scale=in_scale, zero_point=in_zp)
    if depthwise:
        oc = c * dm
        wd = rng.integers(-127, 128, size=(1, k, k, oc))
        axis = 3
    else:
        wd = rng.integers(-127, 128, size=(oc, k, k, c // groups))
        axis = 0
    ws = rng.uniform(0.002, 0.02, size=oc) if per_channel else 0.01
    wt = m.tensor(wd.shape, data=wd, scale=ws, zero_point=0, axis=axis)
    ins = [x, wt]
    if bias:
        ins.append(m.tensor([oc], dtype=np.int32, data=rng.integers(-3000, 3000, size=oc), scale=in_scale * np.atleast_1d(ws)))
    eff = (k - 1) * dil + 1
    if padding == "SAME":
        oh, ow = -(-h // stride), -(-w // stride)
    else:
        oh, ow = (h - eff) // stride + 1, (w - eff) // stride + 1
    taps = k * k * (1 if depthwise else c // groups)
    out_scale = float(np.sqrt(taps) * 74 * 0.011 * 74 * in_scale / 40)
    y = m.tensor([in_shape[0], oh, ow, oc], scale=out_scale, zero_point=out_zp)
    opts = dict(padding=padding, stride_h=stride, stride_w=stride, dilation_h_factor=dil, dilation_w_factor=dil,
                fused_activation_function=act)
    if depthwise:
        m.op("DEPTHWISE_CONV_2D", ins, [y], depth_multiplier=dm, **opts)
    else:
        m.op("CONV_2D", ins, [y], **opts)
    return m.build([x], [y])


def _fc(rng, in_shape, units, per_channel=False, bias=True, act="NONE", keep_num_dims=False):
    m = ModelBuilder()
    k = in_shape[-1]
    rows = int(np.prod(in_shape[:-1]))
    x = m.tensor(in_shape, scale=0.04, zero_point=7)
    ws = rng.uniform(0.002, 0.02, size=units) if per_channel else 0.01
    wt = m.tensor([units, k], data=rng.integers(-127, 128, size=(units, k)), scale=ws, zero_point=0)
    ins = [x, wt]
    if bias:
        ins.append(m.tensor([units], dtype=np.int32, data=rng.integers(-5000, 5000, size=units), scale=0.04 * np.atleast_1d(ws)))
    out_shape = list(in_shape[:-1]) + [units] if keep_num_dims else [rows, units]
    y = m.tensor(out_shape, scale=float(np.sqrt(k) * 74 * 0.01 * 74 * 0.04 / 40), zero_point=-10)
    m.op("FULLY_CONNECTED", ins, [y], fused_activation_function=act, keep_num_dims=keep_num_dims)
    return m.build([x], [y])


def _pool(kind, in_shape, k, stride, padding, act="NONE"):
    m = ModelBuilder()
    b, h, w, c = in_shape
    x = m.tensor(in_shape, scale=0.1, zero_point=-4)
    oh, ow = (-(-h // stride), -(-w // stride)) if padding == "SAME" else ((h - k) // stride + 1, (w - k) // stride + 1)
    y = m.tensor([b, oh, ow, c], scale=0.1, zero_point=-4)
    m.op(kind, [x], [y], padding=padding, stride_h=stride, stride_w=stride, filter_height=k, filter_width=k,
         fused_activation_function=act)
    return m.build([x], [y])


def _binary(kind, shape0, shape1, act="NONE", s=(0.05, 0.08, 0.1), z=(3, -7, 2)):
    m = ModelBuilder()
    a = m.tensor(shape0, scale=s[0], zero_point=z[0])
    b = m.tensor(shape1, scale=s[1], zero_point=z[1])
    y = m.tensor(list(np.broadcast_shapes(tuple(shape0), tuple(shape1))), scale=s[2], zero_point=z[2])
    m.op(kind, [a, b], [y], fused_activation_function=act)
    return m.build([a, b], [y])


def _binary_const(kind, rng, shape, const_shape):
    m = ModelBuilder()
    a = m.tensor(shape, scale=0.05, zero_point=1)
    c = m.tensor(const_shape, scale=0.03, zero_point=-2, data=rng.integers(-128, 128, size=const_shape))
    y = m.tensor(shape, scale=0.07, zero_point=0)
    m.op(kind, [a, c], [y])
    return m.build([a], [y])


def _unary(kind, shape, in_q=(0.06, 4), out_q=(0.05, -3), **opts):
    m = ModelBuilder()
    x = m.tensor(shape, scale=in_q[0], zero_point=in_q[1])
    y = m.tensor(shape, scale=out_q[0], zero_point=out_q[1])
    m.op(kind, [x], [y], **opts)
    return m.build([x], [y])


def _softmax(shape, beta=1.0, int16=False, in_q=(0.1, 5)):
    m = ModelBuilder()
    x = m.tensor(shape, scale=in_q[0], zero_point=in_q[1])
    if int16:
        y = m.tensor(shape, dtype=np.int16, scale=1.0 / 65536, zero_point=-32768)
    else:
        y = m.tensor(shape, scale=1.0 / 256, zero_point=-128)
    m.op("SOFTMAX", [x], [y], beta=beta)
    return m.build([x], [y])


def _mean(shape, axes, keep):
    m = ModelBuilder()
    x = m.tensor(shape, scale=0.07, zero_point=-5)
    ax = m.const(np.array(axes, dtype=np.int32))
    rank = len(shape)
    res = [a % rank for a in axes]
    out = [1 if d in res else s for d, s in enumerate(shape)] if keep else [s for d, s in enumerate(shape) if d not in res]
    y = m.tensor(out, scale=0.03, zero_point=6)
    m.op("MEAN", [x, ax], [y], keep_dims=keep)
    return m.build([x], [y])


def _concat(rng, shapes, axis, const_first=False):
    m = ModelBuilder()
    ins, feeds = [], []
    for i, s in enumerate(shapes):
        if const_first and i == 0:
            ins.append(m.tensor(s, scale=0.1, zero_point=2, data=rng.integers(-128, 128, size=s)))
        else:
            t = m.tensor(s, scale=0.1, zero_point=2)
            ins.append(t)
            feeds.append(t)
    out = list(shapes[0])
    out[axis] = sum(s[axis] for s in shapes)
    y = m.tensor(out, scale=0.1, zero_point=2)
    m.op("CONCATENATION", ins, [y], axis=axis)
    return m.build(feeds, [y])


def _pad(shape, pads, v2=False, runtime_value=False):
    m = ModelBuilder()
    x = m.tensor(shape, scale=0.1, zero_point=3)
    pt = m.const(np.array(pads, dtype=np.int32))
    ins, feeds = [x, pt], [x]
    if v2:
        cv = m.tensor([1], scale=0.1, zero_point=3, data=None if runtime_value else np.array([-77], np.int8))
        ins.append(cv)
        if runtime_value:
            feeds.append(cv)
    y = m.tensor([s + a + b for s, (a, b) in zip(shape, pads)], scale=0.1, zero_point=3)
    m.op("PADV2" if v2 else "PAD", ins, [y])
    return m.build(feeds, [y])


def _strided_slice(shape, begin, end, strides, out_shape, **masks):
    m = ModelBuilder()
    x = m.tensor(shape, scale=0.1, zero_point=0)
    ins = [x] + [m.const(np.array(v, dtype=np.int32)) for v in (begin, end, strides)]
    y = m.tensor(out_shape, scale=0.1, zero_point=0)
    m.op("STRIDED_SLICE", ins, [y], **masks)
    return m.build([x], [y])


def _transpose(shape, perm):
    m = ModelBuilder()
    x = m.tensor(shape, scale=0.1, zero_point=1)
    y = m.tensor([shape[i] for i in perm], scale=0.1, zero_point=1)
    m.op("TRANSPOSE", [x, m.const(np.array(perm, dtype=np.int32))], [y])
    return m.build([x], [y])


def _quantize_float(shape):
    m = ModelBuilder()
    x = m.tensor(shape, dtype=np.float32)
    y = m.tensor(shape, scale=0.02, zero_point=-9)
    m.op("QUANTIZE", [x], [y])
    return m.build([x], [y])


def _requantize(shape):
    m = ModelBuilder()
    x = m.tensor(shape, scale=0.02, zero_point=-9)
    y = m.tensor(shape, scale=0.037, zero_point=11)
    m.op("QUANTIZE", [x], [y])
    return m.build([x], [y])


def _dequantize(shape):
    m = ModelBuilder()
    x = m.tensor(shape, scale=0.0173, zero_point=-9)
    y = m.tensor(shape, dtype=np.float32)
    m.op("DEQUANTIZE", [x], [y])
    return m.build([x], [y])


def _alias(kind, shape, out_shape):
    m = ModelBuilder()
    x = m.tensor(shape, scale=0.1, zero_point=1)
    y = m.tensor(out_shape, scale=0.1, zero_point=1)
    if kind == "RESHAPE":
        m.op("RESHAPE", [x, m.const(np.array(out_shape, dtype=np.int32))], [y], new_shape=list(out_shape))
    elif kind == "SQUEEZE":
        m.op("SQUEEZE", [x], [y])
    else:
        axis = [i for i, (a, b) in enumerate(zip(list(out_shape), list(shape) + [None])) if a != b][0] if out_shape[:-1] != list(shape) else len(shape)
        m.op("EXPAND_DIMS", [x, m.const(np.array([axis], dtype=np.int32))], [y])
    return m.build([x], [y])


def _chain(rng):
    """conv -> RELU (in place) -> ADD const (in place) -> RESHAPE (alias) -> FC -> SOFTMAX."""
    m = ModelBuilder()
    x = m.tensor([1, 6, 6, 2], scale=0.05, zero_point=-1)
    w = m.tensor([4, 3, 3, 2], data=rng.integers(-127, 128, size=(4, 3, 3, 2)), scale=0.01, zero_point=0)
    c1 = m.tensor([1, 6, 6, 4], scale=0.2, zero_point=-20)
    m.op("CONV_2D", [x, w], [c1], padding="SAME", stride_h=1, stride_w=1)
    r = m.tensor([1, 6, 6, 4], scale=0.2, zero_point=-20)
    m.op("RELU", [c1], [r])
    k = m.tensor([4], scale=0.05, zero_point=0, data=rng.integers(-128, 128, size=4))
    a = m.tensor([1, 6, 6, 4], scale=0.25, zero_point=-10)
    m.op("ADD", [r, k], [a])
    f = m.tensor([1, 144], scale=0.25, zero_point=-10)
    m.op("RESHAPE", [a, m.const(np.array([1, 144], np.int32))], [f], new_shape=[1, 144])
    fw = m.tensor([10, 144], data=rng.integers(-127, 128, size=(10, 144)), scale=0.005, zero_point=0)
    l = m.tensor([1, 10], scale=0.3, zero_point=4)
    m.op("FULLY_CONNECTED", [f, fw], [l])
    y = m.tensor([1, 10], scale=1.0 / 256, zero_point=-128)
    m.op("SOFTMAX", [l], [y], beta=1.0)
    return m.build([x], [y])


def _two_io():
    """Two inputs, two outputs: a + b and a * b (b broadcast), plus a TANH of the sum."""
    m = ModelBuilder()
    a = m.tensor([1, 4, 5], scale=0.05, zero_point=3)
    b = m.tensor([1, 1, 5], scale=0.04, zero_point=-2)
    s = m.tensor([1, 4, 5], scale=0.08, zero_point=1)
    m.op("ADD", [a, b], [s])
    p = m.tensor([1, 4, 5], scale=0.003, zero_point=0)
    m.op("MUL", [a, b], [p])
    t = m.tensor([1, 4, 5], scale=1.0 / 128, zero_point=0)
    m.op("TANH", [s], [t])
    return m.build([a, b], [t, p])


def _const_reshape(rng):
    """RESHAPE of a constant: not aliased, copied."""
    m = ModelBuilder()
    c = m.tensor([2, 3], scale=0.1, zero_point=0, data=rng.integers(-128, 128, size=(2, 3)))
    r = m.tensor([6], scale=0.1, zero_point=0)
    m.op("RESHAPE", [c, m.const(np.array([6], np.int32))], [r], new_shape=[6])
    x = m.tensor([6], scale=0.1, zero_point=0)
    y = m.tensor([6], scale=0.2, zero_point=0)
    m.op("ADD", [x, r], [y])
    return m.build([x], [y])


def single_op_models() -> dict[str, bytes]:
    rng = np.random.default_rng(1234)
    M = {}
    M["conv_same_relu"] = _conv(rng, [1, 9, 7, 3], 8, 3, 1, "SAME", "RELU")
    M["conv_valid_s2_relu6"] = _conv(rng, [1, 11, 10, 4], 6, 3, 2, "VALID", "RELU6", per_channel=False)
    M["conv_dilated_nobias"] = _conv(rng, [1, 10, 10, 2], 5, 3, 1, "SAME", dil=2, bias=False, in_zp=-128)
    M["conv_5x5_s2_same"] = _conv(rng, [1, 13, 12, 3], 4, 5, 2, "SAME", "RELU_N1_TO_1", in_zp=127)
    M["conv_1x1"] = _conv(rng, [1, 6, 5, 16], 12, 1, 1, "VALID")
    M["conv_1x1_s2"] = _conv(rng, [1, 7, 7, 8], 5, 1, 2, "SAME")
    M["conv_batch2"] = _conv(rng, [2, 5, 5, 3], 4, 3, 1, "SAME")
    M["conv_grouped"] = _conv(rng, [1, 6, 6, 8], 6, 3, 1, "SAME", groups=2)
    M["dwconv_m1_same"] = _conv(rng, [1, 9, 8, 6], 0, 3, 1, "SAME", "RELU6", depthwise=True)
    M["dwconv_m2_valid_s2"] = _conv(rng, [1, 10, 9, 3], 0, 3, 2, "VALID", depthwise=True, dm=2)
    M["dwconv_dilated"] = _conv(rng, [1, 9, 9, 4], 0, 3, 1, "SAME", dil=2, depthwise=True, per_channel=False)
    M["fc_per_tensor"] = _fc(rng, [1, 40], 10)
    M["fc_per_channel_relu"] = _fc(rng, [1, 33], 7, per_channel=True, act="RELU")
    M["fc_nobias_batch3"] = _fc(rng, [3, 20], 6, bias=False)
    M["fc_keep_dims"] = _fc(rng, [1, 2, 3, 8], 5, keep_num_dims=True)
    M["avgpool_same"] = _pool("AVERAGE_POOL_2D", [1, 7, 9, 5], 3, 2, "SAME")
    M["avgpool_valid_relu"] = _pool("AVERAGE_POOL_2D", [1, 8, 8, 3], 2, 2, "VALID", "RELU")
    M["maxpool_same"] = _pool("MAX_POOL_2D", [1, 7, 7, 4], 3, 2, "SAME")
    M["maxpool_valid_relu6"] = _pool("MAX_POOL_2D", [2, 6, 6, 3], 2, 1, "VALID", "RELU6")
    M["add_same_shape"] = _binary("ADD", [1, 4, 4, 3], [1, 4, 4, 3], "RELU")
    M["add_broadcast"] = _binary("ADD", [1, 3, 1, 4], [2, 1, 5, 1])
    M["sub_broadcast"] = _binary("SUB", [2, 3, 4], [4], "RELU6")
    M["mul_same_shape"] = _binary("MUL", [1, 6, 7], [1, 6, 7], s=(0.05, 0.08, 0.004))
    M["mul_broadcast_5d"] = _binary("MUL", [2, 1, 3, 1, 2], [1, 2, 1, 4, 1], s=(0.05, 0.08, 0.004))
    M["add_const"] = _binary_const("ADD", rng, [1, 4, 4, 3], [3])
    M["mul_const_scalar"] = _binary_const("MUL", rng, [1, 5, 3], [1])
    M["logistic"] = _unary("LOGISTIC", [1, 300], out_q=(1.0 / 256, -128))
    M["tanh"] = _unary("TANH", [2, 150], out_q=(1.0 / 128, 0))
    M["relu"] = _unary("RELU", [1, 260])
    M["relu6"] = _unary("RELU6", [1, 260], in_q=(0.05, 4), out_q=(0.05, 4))
    M["leaky_relu"] = _unary("LEAKY_RELU", [1, 260], alpha=0.15)
    M["hard_swish"] = _unary("HARD_SWISH", [1, 260], in_q=(0.04, 10), out_q=(0.03, -20))
    M["softmax"] = _softmax([3, 10])
    M["softmax_beta_big_rows"] = _softmax([1, 4, 300], beta=0.7, in_q=(0.05, -4))
    M["softmax_int16"] = _softmax([2, 12], int16=True)
    M["mean_hw_keep"] = _mean([1, 5, 6, 7], [1, 2], True)
    M["mean_last"] = _mean([2, 3, 9], [-1], False)
    M["mean_axis0"] = _mean([4, 3, 2], [0], True)
    M["concat_channels"] = _concat(rng, [[1, 3, 3, 2], [1, 3, 3, 5], [1, 3, 3, 1]], 3)
    M["concat_axis1_const"] = _concat(rng, [[2, 2, 3], [2, 4, 3]], 1, const_first=True)
    M["pad"] = _pad([1, 4, 5, 3], [[0, 0], [1, 2], [2, 1], [0, 1]])
    M["padv2_const"] = _pad([1, 3, 3, 2], [[0, 0], [1, 1], [0, 2], [0, 0]], v2=True)
    M["padv2_runtime_value"] = _pad([2, 3], [[1, 0], [2, 2]], v2=True, runtime_value=True)
    # rows only (W and C merge into H: one run per input row block) and batch only (everything after N merges)
    M["pad_rows_merged"] = _pad([1, 4, 5, 3], [[0, 0], [1, 2], [0, 0], [0, 0]])
    M["pad_batch_merged"] = _pad([2, 3, 2, 2], [[1, 2], [0, 0], [0, 0], [0, 0]])
    # runs of >= 64 bytes (TG_PAD_RUN): the gaps filled one by one (rows of 20 x 8 bytes, padded in H and W)
    M["pad_long_runs"] = _pad([1, 5, 20, 8], [[0, 0], [1, 1], [2, 1], [0, 0]])
    M["strided_slice"] = _strided_slice([1, 8, 7, 4], [0, 1, 6, 0], [1, 8, 0, 4], [1, 2, -2, 1], [1, 4, 3, 4])
    M["strided_slice_shrink"] = _strided_slice([3, 5, 6], [1, 0, 1], [2, 5, 6], [1, 1, 2], [5, 3], shrink_axis_mask=1)
    M["transpose"] = _transpose([1, 3, 4, 5], [0, 3, 1, 2])
    M["transpose_5d"] = _transpose([2, 3, 1, 4, 2], [4, 1, 0, 3, 2])
    M["quantize_float"] = _quantize_float([2, 50])
    M["requantize"] = _requantize([1, 300])
    M["dequantize"] = _dequantize([1, 260])
    M["reshape"] = _alias("RESHAPE", [1, 4, 6], [1, 24])
    M["squeeze"] = _alias("SQUEEZE", [1, 1, 6, 1], [6])
    M["expand_dims"] = _alias("EXPAND_DIMS", [2, 5], [2, 5, 1])
    M["chain_inplace_alias"] = _chain(rng)
    M["two_inputs_two_outputs"] = _two_io()
    M["const_reshape_copy"] = _const_reshape(rng)
    M["dynamic_flatten_folded"] = dynamic_flatten(extra_concat=True)
    M["resize_nn_2x"] = resize_model([1, 3, 4, 5], [6, 8])
    M["resize_nn_align_corners"] = resize_model([2, 5, 3, 2], [7, 7], align_corners=True)
    M["resize_nn_int16_half_pixel"] = resize_model([1, 4, 5, 3], [9, 3], np.int16, half_pixel_centers=True)
    M["conv16_same_relu"] = conv16_model(rng, [1, 6, 5, 4], 3, (3, 3), act="RELU")
    M["conv16_int32_bias_s2"] = conv16_model(rng, [2, 7, 7, 3], 2, (2, 3), stride=(2, 2), bias="int32", padding="VALID")
    M["tconv8_s2"] = transpose_conv_model(rng, [1, 3, 3, 4], 5, (3, 3), stride=(2, 2))
    from tests.test_ops_movement import movement_models

    from tests.test_ops_select import select_models

    M.update(movement_models())
    M.update(select_models())
    from tests.test_ops_reduce import reduce_models

    M.update(reduce_models())
    from tests.test_ops_reverse import reverse_models

    M.update(reverse_models())
    from tests.test_ops_arith import arith_models

    M.update(arith_models())
    from tests.test_ops_arith import gather_nd_models

    M.update(gather_nd_models())
    from tests.test_ops_arith import update_slice_models

    M.update(update_slice_models())
    from tests.test_ops_arith import cumsum_models

    M.update(cumsum_models())
    from tests.test_ops_cast import cast_models

    M.update(cast_models())
    from tests.test_ops_gather import host_models

    M.update(host_models())
    from tests.test_ops_compare import compare_models

    M.update(compare_models())
    from tests.test_ops_resize import bilinear_models

    M.update(bilinear_models())
    from tests.test_ops_elementwise16 import elementwise16_models

    M.update(elementwise16_models())
    from tests.test_ops_layout16 import layout16_models

    M.update(layout16_models())
    from tests.test_ops_quantize16 import quantize16_models

    M.update(quantize16_models())
    from tests.test_ops_int32 import int32_models

    M.update(int32_models())
    from tests.test_ops_shape_args import shape_args_models

    M.update(shape_args_models())
    from tests.test_int16_on_board import int16_models

    M.update(int16_models())
    from tests.test_ops_fxmath import fxmath_models

    M.update(fxmath_models())
    from tests.test_ops_batch_matmul import batch_matmul_models

    M.update(batch_matmul_models())
    from tests.test_ops_tconv_dsp import tconv_dsp_models

    M.update(tconv_dsp_models())
    M["tconv16_shape_input"] = transpose_conv_model(rng, [1, 2, 3, 4], 3, (2, 2), stride=(2, 1), dtype=np.int16, shape_input=True)
    from tests.test_ops_svdf import svdf_models

    M.update(svdf_models())
    M["lstm"] = lstm_model(rng, batch=1, steps=4, n_input=7, units=5, in_q=(0.1, 127), hidden_q=(0.01, -128))
    M["lstm16"] = lstm_model(rng, batch=2, steps=3, n_input=11, units=6, in_q=(2.0 ** -9, 0), hidden_q=(2.0 ** -14, 0),
                             cell_power=-12, dtype=np.int16, bias_scale=2**33)
    M["lstm_time_major_b2"] = lstm_model(rng, batch=2, steps=3, n_input=9, units=6, time_major=True, cell_power=-14,
                                         cell_clip=0.0)
    return M


# ================================================================= the suite


def _zoo_models() -> dict[str, Path]:
    try:
        from tests.support import zoo
    except ImportError:
        return {}
    try:
        return zoo.build_zoo()
    except Exception as e:  # no TensorFlow: the single-op models still run
        print(f"zoo unavailable: {e}")
        return {}


def _cc(args, cwd=None):
    p = subprocess.run(args, capture_output=True, text=True, cwd=cwd)
    if p.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args[:8]))} ... failed:\n{p.stderr[-4000:]}")
    return p


def _compile_all(cc: str, flags: list[str], sources: list[Path], obj_dir: Path, includes: list[Path]) -> list[Path]:
    obj_dir.mkdir(parents=True, exist_ok=True)
    inc = [f"-I{d}" for d in includes]

    def one(src: Path) -> Path:
        obj = obj_dir / (src.parent.name + "__" + src.stem + ".o")
        _cc([cc, *WARN, *flags, *inc, "-c", str(src), "-o", str(obj)])
        return obj

    with ThreadPoolExecutor(JOBS) as ex:
        return list(ex.map(one, sources))


_HARNESS_HEAD = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
{includes}

typedef int (*invoke_fn)(const void *const *inputs, void *const *outputs);

/* stdin: u32 n, then n samples (all inputs back to back); stdout: the outputs of each sample */
static int serve(invoke_fn fn, int ni, const long *ib, int no, const long *ob)
{{
    void *in[16];
    void *out[16];
    unsigned n, s;
    int k, rc = 0;
    for (k = 0; k < ni; k++) in[k] = malloc((size_t)ib[k] + 1);
    for (k = 0; k < no; k++) out[k] = malloc((size_t)ob[k] + 1);
    if (fread(&n, 4, 1, stdin) != 1) return 2;
    for (s = 0; s < n && rc == 0; s++) {{
        for (k = 0; k < ni; k++)
            if (fread(in[k], 1, (size_t)ib[k], stdin) != (size_t)ib[k]) return 3;
        if (fn((const void *const *)in, out) != 0) rc = 4;
        for (k = 0; k < no; k++) fwrite(out[k], 1, (size_t)ob[k], stdout);
    }}
    for (k = 0; k < ni; k++) free(in[k]);
    for (k = 0; k < no; k++) free(out[k]);
    return rc;
}}
"""

_HARNESS_SINGLE = r"""
static int single_{n}(const void *const *in, void *const *out)
{{
    return {n}_invoke((const {N}_INPUT_TYPE *)in[0], ({N}_OUTPUT_TYPE *)out[0]);
}}
"""


def _harness(models: list[tuple[str, object]]) -> str:
    parts = [_HARNESS_HEAD.format(includes="\n".join(f'#include "{n}_model.h"' for n, _ in models))]
    main = ["int main(int argc, char **argv)", "{", "    if (argc < 2) return 1;"]
    for n, g in models:
        N = n.upper()
        single = len(g.inputs) == 1 and len(g.outputs) == 1
        if single:
            parts.append(_HARNESS_SINGLE.format(n=n, N=N))
        ib = ", ".join(f"{N}_INPUT{k}_BYTES" for k in range(len(g.inputs)))
        ob = ", ".join(f"{N}_OUTPUT{k}_BYTES" for k in range(len(g.outputs)))
        fn = f"single_{n}" if single else f"{n}_invoke_multi"
        main.append(f'    if (!strcmp(argv[1], "{n}")) {{ static const long ib[] = {{{ib}}}, ob[] = {{{ob}}}; '
                    f"return serve({fn}, {N}_NUM_INPUTS, ib, {N}_NUM_OUTPUTS, ob); }}")
    main += ["    return 1;", "}"]
    return "\n".join(parts) + "\n" + "\n".join(main) + "\n"


class Suite:
    def __init__(self, root: Path):
        self.root = root
        self.graphs: dict[str, object] = {}
        self.gen: dict[str, object] = {}
        self.skipped: dict[str, str] = {}
        self.exes: dict[str, Path] = {}

    def add(self, name: str, g):
        try:
            res = generate(g, self.root / name, name, target="host")
        except UnsupportedOpError as e:  # an op without a C binding yet
            self.skipped[name] = str(e)
            return
        self.graphs[name] = g
        self.gen[name] = res

    def sources(self) -> list[Path]:
        kd = kernels_dir()
        return [r.c_file for r in self.gen.values()] + sorted(kd.glob("*.c")) + [self.root / "harness.c"]

    def build(self, key: str, cc: str, flags: list[str]) -> Path:
        objs = _compile_all(cc, flags, self.sources(), self.root / f"obj_{key}", [kernels_dir()] + [r.out_dir for r in self.gen.values()])
        exe = self.root / f"harness_{key}"
        _cc([cc, *flags, *map(str, objs), "-o", str(exe)])
        self.exes[key] = exe
        return exe


def samples_for(g, rng, n_random: int) -> list[np.ndarray]:
    """Random samples plus the edge samples: all minimum, all maximum, all = zero point (int8/16/32); 0, +-inf,
    NaN, huge and rounding ties (float)."""
    xs = []
    for t in g.input_tensors:
        shape = tuple(t.shape)
        if t.dtype == np.bool_:
            edges = np.stack([np.zeros(shape, bool), np.ones(shape, bool), np.arange(int(np.prod(shape))).reshape(shape) % 2 == 1])
            rand = rng.integers(0, 2, size=(n_random,) + shape).astype(bool)
        elif t.dtype in (np.int8, np.int16, np.int32):
            lo, hi = int(np.iinfo(t.dtype).min), int(np.iinfo(t.dtype).max)
            edges = np.stack([np.full(shape, lo), np.full(shape, hi), np.full(shape, t.zero_point)]).astype(t.dtype)
            rand = rng.integers(lo, hi, size=(n_random,) + shape, endpoint=True, dtype=t.dtype)
        else:
            special = np.array([0.0, np.inf, -np.inf, np.nan, 1e10, -1e10, 3e9, -2.2e9, 0.01, -0.01], np.float32)
            e0 = np.zeros(shape, np.float32)
            e1 = np.resize(special, shape).astype(np.float32)
            ties = (np.arange(int(np.prod(shape))) - 40).reshape(shape) + 0.5
            e2 = (ties * 0.02).astype(np.float32)  # about (k + 0.5) * scale
            edges = np.stack([e0, e1, e2])
            rand = rng.uniform(-4, 4, size=(n_random,) + shape).astype(np.float32)
        xs.append(np.concatenate([edges, rand]))
    return xs


def run_model(exe: Path, name: str, g, xs: list[np.ndarray], env=None) -> list[np.ndarray]:
    n = xs[0].shape[0]
    data = np.uint32(n).tobytes() + b"".join(x[s].tobytes() for s in range(n) for x in xs)
    p = subprocess.run([str(exe), name], input=data, capture_output=True, env=env, timeout=300)
    assert p.returncode == 0, f"{name}: harness exit {p.returncode}\n{p.stderr.decode(errors='replace')[-3000:]}"
    per = sum(t.nbytes for t in g.output_tensors)
    assert len(p.stdout) == per * n, f"{name}: {len(p.stdout)} output bytes, expected {per * n}"
    raw = np.frombuffer(p.stdout, np.uint8).reshape(n, per)
    outs, o = [], 0
    for t in g.output_tensors:
        outs.append(raw[:, o : o + t.nbytes].copy().view(t.dtype).reshape((n,) + tuple(t.shape)))
        o += t.nbytes
    return outs


def assert_same(name, ours, ref):
    for k, (a, b) in enumerate(zip(ours, ref)):
        assert a.dtype == b.dtype and a.shape == b.shape, f"{name} output {k}: {a.dtype}{a.shape} vs {b.dtype}{b.shape}"
        if a.dtype == np.float32:  # bitwise, so NaN == NaN and -0.0 != 0.0
            a, b = a.view(np.uint32), b.view(np.uint32)
        if not np.array_equal(a, b):
            bad = np.argwhere(a != b)
            raise AssertionError(f"{name} output {k}: {len(bad)}/{a.size} elements differ, first at {bad[0].tolist()}: "
                                 f"C {a[tuple(bad[0])]} vs emulator {b[tuple(bad[0])]}")


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    s = Suite(tmp_path_factory.mktemp("codegen"))
    for name, data in single_op_models().items():
        s.add(name, parse_model(data, name=name))
    for name, path in _zoo_models().items():
        s.add(f"zoo_{name}", read_model(path))
    assert s.gen, "nothing generated"
    (s.root / "harness.c").write_text(_harness([(n, s.graphs[n]) for n in s.gen]))
    return s


@pytest.fixture(scope="module")
def gcc_exe(suite):
    return suite.build("gcc", "gcc", ["-O2"])


def _reference(g, xs):
    return Emulator(g).run_internal(xs)


# ================================================================= tests


def test_every_registered_op_has_a_binding():
    missing = sorted(n for n, impl in REGISTRY.items() if type(impl).emit_c is Op.emit_c)
    assert not missing, f"ops without emit_c: {missing}"


def test_single_op_models_cover_every_binding(suite):
    covered = {op.op for n, g in suite.graphs.items() if not n.startswith("zoo_") for op in g.operators}
    bound = {n for n, impl in REGISTRY.items() if type(impl).emit_c is not Op.emit_c}
    assert bound <= covered, f"bindings without a single-op test model: {sorted(bound - covered)}"
    assert not suite.skipped, suite.skipped


def _registered_pairs(dtype: str) -> set[tuple[str, str | None]]:
    """'int8/int16 -> int32' -> {(int8, int32), (int16, int32)}; 'int16 (16x8)' -> {(int16, None)} (output: any)."""
    left, _, right = re.sub(r"\s*\([^)]*\)", "", dtype).partition("->")
    outs = right.strip().split("/") if right else [None]
    return {(i, o) for i in left.strip().split("/") for o in outs}


def test_single_op_models_cover_every_registered_dtype(suite):
    """docs/ops.md lists the same types in its emulator and C columns: each op/type the registry declares has a
    single-op model that the generator turned into C here (then built with gcc, sanitizers, clang and for the
    Cortex-M4, and compared with the emulator by the tests below), so no type runs only in the emulator."""
    from tinygen.ops.base import DtypeDispatch
    from tinygen.ops.catalog import has_c

    for name, impl in REGISTRY.items():  # every implementation behind a builtin (int8 op and its type variants)
        parts = [impl.base, *impl.variants.values()] if isinstance(impl, DtypeDispatch) else [impl]
        assert all(type(p).emit_c is not Op.emit_c for p in parts) and has_c(impl), f"{name}: a type without C"
    seen: dict[str, set[tuple[str, str]]] = {}
    for n, g in suite.graphs.items():
        if n.startswith("zoo_"):
            continue
        for op in g.operators:
            ins = [g.tensors[i] for i in op.inputs if i >= 0]
            acts = {t.dtype_name for t in ins if not t.is_const} or {t.dtype_name for t in ins}
            seen.setdefault(op.op, set()).update((a, g.tensors[op.outputs[0]].dtype_name) for a in acts)
    missing = []
    for name, impl in sorted(REGISTRY.items()):
        for d in impl.dtypes:
            for i, o in _registered_pairs(d):
                if name == "CAST" and i == o:
                    continue  # CAST is between two different types (the same type is refused, as in TFLM)
                if not any(i in ("any", a) and o in (None, b) for a, b in seen.get(name, ())):
                    missing.append(f"{name} {i} -> {o or 'any'} ({d})")
    assert not missing, f"registered op types without a generated-C test model: {missing}"


def test_gcc_bit_exact(suite, gcc_exe, capsys):
    rng = np.random.default_rng(7)
    rows = []
    for name, g in suite.graphs.items():
        xs = samples_for(g, rng, N_RANDOM)
        assert_same(name, run_model(gcc_exe, name, g, xs), _reference(g, xs))
        plan = suite.gen[name].plan
        rows.append(f"{name:34s} {len(g.operators):3d} ops  arena {plan.arena_bytes:7d} B (lower bound {plan.lower_bound_bytes:7d})"
                    f"  consts {suite.gen[name].flash_bytes:7d} B")
    with capsys.disabled():
        print(f"\n{len(rows)} models bit-exact on {N_RANDOM} random + 3 edge samples:\n" + "\n".join(rows))


def test_sanitizers(suite):
    exe = suite.build("san", "gcc", SAN)
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0:abort_on_error=0", UBSAN_OPTIONS="print_stacktrace=1")
    rng = np.random.default_rng(11)
    for name, g in suite.graphs.items():
        xs = samples_for(g, rng, N_SAN)
        assert_same(name, run_model(exe, name, g, xs, env=env), _reference(g, xs))


@pytest.mark.skipif(shutil.which("clang") is None, reason="no clang")
def test_clang_bit_exact(suite):
    exe = suite.build("clang", "clang", ["-O2"])
    rng = np.random.default_rng(13)
    for name, g in suite.graphs.items():
        xs = samples_for(g, rng, 2)
        assert_same(name, run_model(exe, name, g, xs), _reference(g, xs))


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="no arm-none-eabi-gcc")
def test_cortex_m4_compiles(suite):
    srcs = [r.c_file for r in suite.gen.values()] + sorted(kernels_dir().glob("*.c"))
    objs = _compile_all("arm-none-eabi-gcc", ARM, srcs, suite.root / "obj_arm", [kernels_dir()])
    assert all(o.stat().st_size > 0 for o in objs)


# ---------------------------------------------------------------- hooks, external arena, header

_HOOK_HARNESS = r"""
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include "{n}_model.h"

static uint8_t big[{N}_ARENA_BYTES + 64] __attribute__((aligned(16)));
static int depth = 0, bad = 0, events = 0;

void tg_on_layer(int op_index, const char *op_name)
{{
    if (op_name != NULL) {{
        if (depth != 0) bad = 1;
        depth = 1;
        if (op_name != {n}_op_name(op_index)) bad = 2;
        printf("B %d %s\n", op_index, op_name);
    }} else {{
        if (depth != 1) bad = 3;
        depth = 0;
        printf("E %d\n", op_index);
    }}
    events++;
}}

void tg_on_layer_output(int op_index, const int8_t *data, int bytes)
{{
    int i;
    printf("O %d %d", op_index, bytes);
    for (i = 0; i < bytes; i++) printf(" %d", data[i]);
    printf("\n");
}}

int main(void)
{{
    static {N}_INPUT_TYPE in[{N}_INPUT_SIZE];
    static {N}_OUTPUT_TYPE out[{N}_OUTPUT_SIZE];
    int i;
    if ({n}_invoke(in, out) != -1) return 10;            /* no arena yet */
    if ({n}_set_arena(big + 1) != -1) return 11;          /* misaligned */
    if ({n}_set_arena(NULL) != -1) return 12;
    if ({n}_set_arena(big + 16) != 0) return 13;
    if (fread(in, 1, sizeof in, stdin) != sizeof in) return 14;
    if ({n}_invoke(in, out) != 0) return 15;
    printf("Y");
    for (i = 0; i < {N}_OUTPUT_SIZE; i++) printf(" %d", out[i]);
    printf("\n");
    if ({n}_op_name(-1) != NULL || {n}_op_name({N}_NUM_OPS) != NULL) return 16;
    return bad ? 20 + bad : (events == 2 * {N}_NUM_OPS ? 0 : 30);
}}
"""


def _hook_model(suite):
    for name in ("zoo_resnet8_ic", "chain_inplace_alias"):
        if name in suite.gen:
            return name
    pytest.skip("no multi-op model generated")


def test_hooks_and_external_arena(suite):
    name = _hook_model(suite)
    g = suite.graphs[name]
    res = suite.gen[name]
    d = suite.root / "hooks"
    d.mkdir(exist_ok=True)
    (d / "main.c").write_text(_HOOK_HARNESS.format(n=name, N=name.upper()))
    exe = d / "hooks"
    srcs = [res.c_file, *res.kernel_sources, d / "main.c"]
    _cc(["gcc", *WARN, "-O2", "-DTG_EXTERNAL_ARENA", "-DTG_LAYER_TIMING", "-DTG_LAYER_OUTPUT", f"-I{res.out_dir}",
         *map(str, srcs), "-o", str(exe)])
    x = np.random.default_rng(5).integers(-128, 128, size=(1,) + tuple(g.input_tensors[0].shape), dtype=np.int8)
    p = subprocess.run([str(exe)], input=x.tobytes(), capture_output=True, timeout=60)
    assert p.returncode == 0, f"hook harness exit {p.returncode}: {p.stderr.decode()[-2000:]}"
    lines = p.stdout.decode().splitlines()
    begins = [ln.split() for ln in lines if ln.startswith("B ")]
    assert [int(b[1]) for b in begins] == list(range(len(g.operators)))
    assert [b[2] for b in begins] == [op.op for op in g.operators]
    emu_out, layers = Emulator(g).run(x.reshape((1,) + tuple(g.input_tensors[0].shape)), layers=True)
    outs = [ln.split() for ln in lines if ln.startswith("O ")]
    assert len(outs) == len(layers)
    for o, lay in zip(outs, layers):
        assert int(o[1]) == lay.op_index
        got = np.array([int(v) for v in o[3:]], dtype=np.int8)
        assert int(o[2]) == lay.value.nbytes
        assert np.array_equal(got, lay.value.reshape(-1).view(np.int8)), f"layer {lay.op_index} ({lay.op}) output differs"
    y = [ln.split() for ln in lines if ln.startswith("Y")][0]
    assert np.array_equal(np.array([int(v) for v in y[1:]]), np.asarray(emu_out).reshape(-1))


def _defines(h: Path) -> dict[str, str]:
    return {m.group(1): m.group(2).strip() for m in re.finditer(r"^#define (\w+) (.*)$", h.read_text(), re.M)}


def test_header_contract(suite):
    for name, res in suite.gen.items():
        g = suite.graphs[name]
        d = _defines(res.h_file)
        N = name.upper()
        assert d[f"{N}_ARENA_BYTES"] == str(res.plan.arena_bytes)
        assert d[f"{N}_MODEL_SHA256"] == f'"{g.sha256}"'
        assert d[f"{N}_NUM_INPUTS"] == str(len(g.inputs)) and d[f"{N}_NUM_OUTPUTS"] == str(len(g.outputs))
        for kind, ts in (("INPUT", g.input_tensors), ("OUTPUT", g.output_tensors)):
            for k, t in enumerate(ts):
                assert d[f"{N}_{kind}{k}_DIMS"] == "{ " + ", ".join(map(str, t.shape)) + " }"
                assert d[f"{N}_{kind}{k}_BYTES"] == str(t.nbytes)
                assert d[f"{N}_{kind}{k}_ZERO_POINT"] == str(t.zero_point if t.quant is not None else 0)
                scale = float.fromhex(d[f"{N}_{kind}{k}_SCALE"].rstrip("f"))
                assert scale == float(np.float32(t.scale if t.quant is not None else 0.0))
                assert d[f"{N}_{kind}{k}_DTYPE"] == str(getattr(tflite.TensorType, np.dtype(t.dtype).name.upper()))  # TFLite's enum
        c = res.c_file.read_text()
        assert "__attribute__((aligned(16)))" in c
        # weights and parameters are const (flash); the only mutable data is the arena
        assert not re.search(r"^static (?!const)(?!uint8_t \*arena)(?!uint8_t arena\[)\w", c, re.M)


def test_missing_binding_is_reported(monkeypatch, tmp_path):
    impl = REGISTRY["RELU"]
    monkeypatch.setattr(type(impl), "emit_c", Op.emit_c)
    g = parse_model(_unary("RELU", [1, 8]))
    with pytest.raises(UnsupportedOpError, match="no C binding"):
        generate(g, tmp_path, "relu_only")


def test_kernel_scratch_is_planned_and_harmless(monkeypatch, tmp_path):
    """An op that asks for scratch gets arena bytes that overlap nothing live: a binding that
    fills its scratch with garbage before the real kernel runs leaves the results exact."""
    cls = type(REGISTRY["RELU"])
    real = cls.emit_c
    monkeypatch.setattr(cls, "scratch_bytes", lambda self, p: 300, raising=False)
    monkeypatch.setattr(cls, "emit_c", lambda self, p, ctx: f"memset({ctx.scratch()}, 0x55, 300);\n" + real(self, p, ctx))
    g = parse_model(_chain(np.random.default_rng(3)), name="chain")
    res = generate(g, tmp_path, "chain_scratch")
    relu = [op.index for op in g.operators if op.op == "RELU"]
    # (conv / fully-connected ops have their own DSP scratch)
    assert set(relu) <= set(res.plan.scratch_offsets) and all(res.plan.scratch_bytes[k] == 300 for k in relu)
    assert res.plan.lower_bound_bytes >= 300
    (tmp_path / "harness.c").write_text(_harness([("chain_scratch", g)]))
    exe = tmp_path / "h"
    _cc(["gcc", *WARN, "-O2", f"-I{tmp_path}", str(res.c_file), *map(str, res.kernel_sources), str(tmp_path / "harness.c"), "-o", str(exe)])
    xs = samples_for(g, np.random.default_rng(4), 8)
    assert_same("chain_scratch", run_model(exe, "chain_scratch", g, xs), _reference(g, xs))
