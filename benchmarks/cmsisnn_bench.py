"""tinygen against the CMSIS-NN kernels, per layer and per model, on the emulated Cortex-M4 (QEMU mps2-an386).

The issue's speed target ("every real model with >= 100 k MACs at <= 0.6x the instructions of TFLM+CMSIS-NN,
none slower than CMSIS-NN on any layer type") needs TFLM + CMSIS-NN's instruction counts. This benchmark
measures their kernel part: for each model it generates one C harness (more for a model whose weights and layer
inputs exceed the board's 4 MB of code memory, e.g. MobileNetV2 224) that calls every CONV_2D,
DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD, MUL, AVERAGE_POOL_2D, MAX_POOL_2D and SOFTMAX layer through the
CMSIS-NN s8 API the way TFLM's CMSIS-NN kernels (tensorflow/lite/micro/kernels/cmsis_nn/*.cc) call it:
the wrapper functions, the same cmsis_nn_*_params / dims structs, the scratch sized by the *_get_buffer_size
function, the layer's real weights and, as input, the activations tinygen's emulator computes for that layer
(seeded random model input). Each call runs between the bench markers the generated firmware uses
(tg_bench_begin/tg_bench_end, SysTick under `-icount shift=0`: instructions), and each output is checked
against the emulator's (bit-exact, or the layer is reported as a mismatch).

    CMSIS_NN_DIR=/path/to/CMSIS-NN .venv/bin/python benchmarks/cmsisnn_bench.py            # default set
    .venv/bin/python benchmarks/cmsisnn_bench.py --cmsis-nn DIR mlperf_vww_mbv1_20blk_791k_int8 --markdown
    .venv/bin/python benchmarks/cmsisnn_bench.py --cmsis-nn DIR --zoo --json out.json

Models: like benchmarks/mcu_bench.py (paths, corpus names from $TINYGEN_MODELS, zoo names; default: the
corpus's supported conv models below 2 MB of weights + the four zoo models). The tinygen column comes from
mcu_bench's own builds (whole-model run and its TG_LAYER_TIMING per-layer build, the per-layer hook's
instructions taken out).

Per model, "CMSIS-NN kernels (lower bound of TFLM+CMSIS-NN)" = the CMSIS-NN calls' instructions + the ops
CMSIS-NN has no kernel for (PAD, RESHAPE, MEAN, CONCATENATION, QUANTIZE, ... TFLM runs its reference
kernels there; also layers the CMSIS-NN path does not take, e.g. broadcasting ADD, grouped conv) counted
at tinygen's own instructions. TFLM's interpreter overhead is not included, so TFLM+CMSIS-NN takes more:
tinygen <= 0.6x this lower bound means the issue's target holds.

CMSIS-NN itself is not part of tinygen: get it with
    git clone https://github.com/ARM-software/CMSIS-NN && git -C CMSIS-NN checkout 46fee474cf968e2f070a59d94359a419369ae833
(26 October 2022, the int8_t API of the TFLM kernels of that time) and pass the folder (--cmsis-nn or
$CMSIS_NN_DIR). The harness includes its own stand-in for CMSIS Core's cmsis_compiler.h (the DSP intrinsics
as inline assembly, like CMSIS Core's GCC header), so CMSIS_5/CMSIS_6 is not needed.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

BOARD = "qemu-cortex-m4"
CMSIS_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "MUL", "AVERAGE_POOL_2D", "MAX_POOL_2D", "SOFTMAX")
# the CMSIS-NN folders whose int8 sources the harness compiles (every *.c there but the float, int4 and int16
# ones: the file list differs between CMSIS-NN versions; --gc-sections keeps what the harness calls)
CMSIS_SOURCE_DIRS = ("ConvolutionFunctions", "FullyConnectedFunctions", "NNSupportFunctions", "BasicMathFunctions",
                     "PoolingFunctions", "SoftmaxFunctions")
_SKIP_SOURCE = re.compile(r"_(f16|f32|s4|q15)\.c$|(?<!_s8)_s16\.c$|_f16_|_f32_|_s4_|svdf|lstm")
# files the harness needs in every CMSIS-NN version it works with (checked up front for a clear error)
CMSIS_SOURCES = ("Source/ConvolutionFunctions/arm_convolve_wrapper_s8.c",
                 "Source/ConvolutionFunctions/arm_depthwise_conv_wrapper_s8.c",
                 "Source/FullyConnectedFunctions/arm_fully_connected_s8.c",
                 "Source/SoftmaxFunctions/arm_softmax_s8.c")
# per-channel FULLY_CONNECTED: TFLM's CMSIS-NN kernel calls it (through arm_fully_connected_per_channel_s8) since
# CMSIS-NN 2024; used where the tree has it, else such layers count at tinygen's instructions
PER_CHANNEL_FC_SOURCE = "Source/NNSupportFunctions/arm_nn_vec_mat_mult_t_per_ch_s8.c"
CMSIS_HEADERS = ("Include/arm_nnfunctions.h", "Include/arm_nnsupportfunctions.h", "Include/arm_nn_types.h",
                 "Include/arm_nn_math_types.h")
FLASH_BUDGET = 3_800_000  # bytes of layer data one harness may bake in (mps2-an386: 4 MB of code SSRAM)

# tinygen's stand-in for CMSIS Core's cmsis_compiler.h (GCC, Armv7E-M with the DSP extension): the few
# intrinsics CMSIS-NN's s8 kernels use, as inline assembly (volatile, like CMSIS Core's GCC header).
COMPILER_SHIM = r"""/* cmsis_compiler.h: written by tinygen's benchmarks/cmsisnn_bench.py, a minimal stand-in for CMSIS Core's
 * header (arm-none-eabi-gcc, Cortex-M4): the intrinsics CMSIS-NN's s8 kernels use. */
#ifndef TG_CMSIS_COMPILER_SHIM_H
#define TG_CMSIS_COMPILER_SHIM_H
#include <stdint.h>
#ifndef __ASM
#define __ASM __asm
#endif
#ifndef __INLINE
#define __INLINE inline
#endif
#ifndef __STATIC_INLINE
#define __STATIC_INLINE static inline
#endif
#ifndef __STATIC_FORCEINLINE
#define __STATIC_FORCEINLINE __attribute__((always_inline)) static inline
#endif
#ifndef __RESTRICT
#define __RESTRICT __restrict
#endif
#ifndef __ALIGNED
#define __ALIGNED(x) __attribute__((aligned(x)))
#endif

__STATIC_FORCEINLINE uint32_t __ROR(uint32_t op1, uint32_t op2)
{
    op2 %= 32u;
    return op2 == 0u ? op1 : (op1 >> op2) | (op1 << (32u - op2));
}

__STATIC_FORCEINLINE uint8_t __CLZ(uint32_t value)
{
    return value == 0u ? 32u : (uint8_t)__builtin_clz(value);
}

#define TG_DSP2(NAME, INSN)                                                                 \
    __STATIC_FORCEINLINE uint32_t NAME(uint32_t a, uint32_t b)                            \
    {                                                                                       \
        uint32_t r;                                                                         \
        __ASM volatile(INSN " %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));                     \
        return r;                                                                           \
    }
TG_DSP2(__SXTAB16, "sxtab16")
TG_DSP2(__QADD16, "qadd16")
TG_DSP2(__SADD16, "sadd16")
TG_DSP2(__QSUB16, "qsub16")
TG_DSP2(__QSUB8, "qsub8")
#undef TG_DSP2

__STATIC_FORCEINLINE int32_t __QADD(int32_t a, int32_t b)
{
    int32_t r;
    __ASM volatile("qadd %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

__STATIC_FORCEINLINE int32_t __QSUB(int32_t a, int32_t b)
{
    int32_t r;
    __ASM volatile("qsub %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

__STATIC_FORCEINLINE uint32_t __SXTB16(uint32_t a)
{
    uint32_t r;
    __ASM volatile("sxtb16 %0, %1" : "=r"(r) : "r"(a));
    return r;
}

__STATIC_FORCEINLINE uint32_t __SMLAD(uint32_t a, uint32_t b, uint32_t acc)
{
    uint32_t r;
    __ASM volatile("smlad %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}

__STATIC_FORCEINLINE uint32_t __SXTB16_RORn(uint32_t a, uint32_t rotate)
{
    uint32_t r;
    if (__builtin_constant_p(rotate) && (rotate == 8u || rotate == 16u || rotate == 24u)) {
        __ASM volatile("sxtb16 %0, %1, ROR %2" : "=r"(r) : "r"(a), "i"(rotate));
    } else {
        r = __SXTB16(__ROR(a, rotate));
    }
    return r;
}

__STATIC_FORCEINLINE uint32_t __SXTAB16_RORn(uint32_t a, uint32_t b, uint32_t rotate)
{
    uint32_t r;
    if (__builtin_constant_p(rotate) && (rotate == 8u || rotate == 16u || rotate == 24u)) {
        __ASM volatile("sxtab16 %0, %1, %2, ROR %3" : "=r"(r) : "r"(a), "r"(b), "i"(rotate));
    } else {
        r = __SXTAB16(a, __ROR(b, rotate));
    }
    return r;
}

#define __PKHBT(A, B, S) __extension__({ uint32_t tg_r_, tg_a_ = (uint32_t)(A), tg_b_ = (uint32_t)(B); \
    __ASM volatile("pkhbt %0, %1, %2, lsl %3" : "=r"(tg_r_) : "r"(tg_a_), "r"(tg_b_), "I"(S)); tg_r_; })
#define __PKHTB(A, B, S) __extension__({ uint32_t tg_r_, tg_a_ = (uint32_t)(A), tg_b_ = (uint32_t)(B); \
    if ((S) == 0) { __ASM volatile("pkhtb %0, %1, %2" : "=r"(tg_r_) : "r"(tg_a_), "r"(tg_b_)); } \
    else { __ASM volatile("pkhtb %0, %1, %2, asr %3" : "=r"(tg_r_) : "r"(tg_a_), "r"(tg_b_), "I"(S)); } tg_r_; })
#define __SSAT(X, N) __extension__({ int32_t tg_r_, tg_x_ = (X); \
    __ASM volatile("ssat %0, %1, %2" : "=r"(tg_r_) : "I"(N), "r"(tg_x_)); tg_r_; })
#define __USAT(X, N) __extension__({ uint32_t tg_r_; int32_t tg_x_ = (X); \
    __ASM volatile("usat %0, %1, %2" : "=r"(tg_r_) : "I"(N), "r"(tg_x_)); tg_r_; })

#endif
"""


class BenchError(Exception):
    """A problem the benchmark reports in one line (missing CMSIS-NN, bad model name, build failure)."""


# ----------------------------------------------------------------------------- layers


@dataclass
class Layer:
    """One operator of the model, as the harness calls it (or why it does not)."""

    index: int  # operator index in tinygen's graph (= mcu_bench's layer index)
    op: str
    macs: int
    desc: str
    kind: str  # layer type for the per-type table
    cmsis: bool  # True: the harness runs it through CMSIS-NN
    reason: str = ""  # why not (cmsis False)
    fn: str = ""  # the CMSIS-NN function called
    inputs: list = field(default_factory=list)  # tensor ids read (activations baked in as layer inputs)
    output: int = -1  # output tensor id
    out_bytes: int = 0
    scratch: int = 0  # bytes the harness reserves (>= the *_get_buffer_size result, checked at run time)
    body: str = ""  # C statements: set up, get the buffer size, time the call
    consts: list = field(default_factory=list)  # (C name, C type, np.ndarray) of the layer's constant data


def _dims(shape) -> str:
    n, h, w, c = (list(shape) + [1, 1, 1, 1])[:4]
    return f"{{{n}, {h}, {w}, {c}}}"


def _i32(a) -> np.ndarray:
    return np.asarray(a, dtype=np.int64).astype(np.int32)


def _conv_kind(p, first: bool) -> str:
    kh, kw = p.filter_hw
    cin = p.input_shape[3]
    if first:
        return "CONV_2D first layer"
    if (kh, kw) == (1, 1):
        for hi in (16, 32, 64, 128):
            if cin <= hi:
                lo = {16: 1, 32: 17, 64: 33, 128: 65}[hi]
                return f"CONV_2D 1x1, {lo}-{hi} input channels"
        return "CONV_2D 1x1, > 128 input channels"
    return f"CONV_2D {kh}x{kw}"


def _dw_kind(p) -> str:
    kh, kw = p.filter_hw
    if p.depth_multiplier > 1:
        return "DEPTHWISE depth multiplier > 1"
    if (kh, kw) == (3, 3) and p.stride in ((1, 1), (2, 2)):
        return f"DEPTHWISE 3x3 stride {p.stride[0]}"
    return f"DEPTHWISE {kh}x{kw}" + (f" stride {p.stride[0]}x{p.stride[1]}" if p.stride != (1, 1) else "")


def _describe(g, op) -> str:
    try:
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        if op.op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            w = g.tensors[op.inputs[1]]
            return (f"{'x'.join(map(str, x.shape[1:]))} -> {'x'.join(map(str, y.shape[1:]))}, "
                    f"{w.shape[1]}x{w.shape[2]}/{op.options.get('stride_h', 1)}")
        if op.op == "FULLY_CONNECTED":
            w = g.tensors[op.inputs[1]]
            return f"{w.shape[-1]} -> {w.shape[0]}"
        return f"{'x'.join(map(str, x.shape))} -> {'x'.join(map(str, y.shape))}"
    except (IndexError, TypeError):
        return ""


def extract_layers(g, per_channel_fc: bool = True) -> list[Layer]:
    """One Layer per operator of `g` (tinygen Graph): the CMSIS-NN call for the int8 layers CMSIS-NN has a
    kernel for, with the parameters tinygen's ops prepare (TFLM's: per-channel multipliers/shifts, zero
    points, padding, activation range); the other ops are marked with the reason. `per_channel_fc`: the
    CMSIS-NN tree has arm_nn_vec_mat_mult_t_per_ch_s8 (per-channel FULLY_CONNECTED)."""
    from tinygen.analysis.inspect import model_stats
    from tinygen.ops import REGISTRY

    stats = model_stats(g)
    graph_inputs = set(g.inputs)
    layers = []
    for op, st in zip(g.operators, stats.ops):
        lay = Layer(index=op.index, op=op.op, macs=int(st.macs), desc=_describe(g, op), kind=op.op, cmsis=False,
                    output=op.outputs[0] if op.outputs else -1)
        layers.append(lay)
        if op.op not in CMSIS_OPS:
            lay.reason = "no CMSIS-NN kernel (TFLM reference kernel)"
            continue
        xs = [g.tensors[t] for t in op.inputs if t >= 0]
        y = g.tensors[op.outputs[0]]
        if xs[0].dtype != np.int8 or y.dtype != np.int8:
            lay.reason = f"{xs[0].dtype_name} -> {y.dtype_name}: the harness covers the int8 (s8) kernels only"
            continue
        p = REGISTRY[op.op].prepare(g, op)
        k = op.index
        try:
            extra = False
            if op.op == "FULLY_CONNECTED":
                extra = per_channel_fc
            elif op.op == "CONV_2D":  # first layer: reads the model input, or a k x k conv over 1-3 channels
                extra = op.inputs[0] in graph_inputs or (xs[0].shape[-1] <= 3 and tuple(xs[1].shape[1:3]) != (1, 1))
            _FILL[op.op](lay, g, op, p, k, extra)
        except _NotCmsis as e:
            lay.reason = str(e)
            lay.cmsis = False
            lay.consts = []
            continue
        lay.cmsis = True
        lay.out_bytes = y.nbytes
    return layers


class _NotCmsis(Exception):
    pass


def _timed(call: str, size_expr: str | None = None, scratch: int = 0) -> str:
    """The timed part of a layer block: buffer size check (not timed: TFLM sizes its scratch in Prepare),
    then the call between the bench markers."""
    pre = ""
    if size_expr is not None:
        pre = (f"        bs = {size_expr};\n"
               f"        if (bs > {scratch}) {{ bad_scratch(LAYER, bs); return 1; }}\n"
               f"        ctx.buf = bs > 0 ? (void *)scratch_buf : NULL;\n        ctx.size = bs;\n")
    return (pre + "        tg_bench_begin();\n"
            f"        rc = (int)({call});\n"
            "        instr = tg_bench_end();\n"
            "        report(LAYER, instr, rc, out_buf, OUT_BYTES);\n")


def _fill_conv(lay: Layer, g, op, p, k: int, first: bool) -> None:
    if p.groups != 1:
        raise _NotCmsis(f"grouped convolution ({p.groups} groups): the CMSIS-NN s8 conv takes one group")
    b, h, w, c = p.input_shape
    _, oh, ow, oc = p.output_shape
    kh, kw = p.filter_hw
    lay.kind = _conv_kind(p, first)
    lay.fn = "arm_convolve_wrapper_s8"
    lay.inputs = [op.inputs[0]]
    lay.scratch = 2 * c * kh * kw * 2 + 64
    bias = _conv_consts(lay, p, k)
    lay.body = (
        f"        static const cmsis_nn_conv_params cp = {{{-p.input_zero_point}, {p.output_zero_point}, "
        f"{{{p.stride[1]}, {p.stride[0]}}}, {{{p.padding[1]}, {p.padding[0]}}}, {{{p.dilation[1]}, {p.dilation[0]}}}, "
        f"{{{p.act_min}, {p.act_max}}}}};\n"
        f"        const cmsis_nn_per_channel_quant_params qp = {{(int32_t *)l{k}_mult, (int32_t *)l{k}_shift}};\n"
        f"        static const cmsis_nn_dims in_d = {_dims((b, h, w, c))}, f_d = {_dims((oc, kh, kw, c))}, "
        f"b_d = {_dims((1, 1, 1, oc))}, o_d = {_dims((b, oh, ow, oc))};\n"
        + _timed(f"arm_convolve_wrapper_s8(&ctx, &cp, &qp, &in_d, l{k}_in0, &f_d, l{k}_w, &b_d, {bias}, &o_d, out_buf)",
                 "arm_convolve_wrapper_s8_get_buffer_size(&cp, &in_d, &f_d, &o_d)", lay.scratch))


def _conv_consts(lay: Layer, p, k: int) -> str:
    """The layer's weights, per-channel multipliers and shifts (and bias) as harness constants; returns the
    bias argument (its name, or NULL)."""
    lay.consts = [(f"l{k}_w", "int8_t", p.weights.reshape(-1)), (f"l{k}_mult", "int32_t", _i32(p.multiplier)),
                  (f"l{k}_shift", "int32_t", _i32(p.shift))]
    if p.bias is None:
        return "NULL"
    lay.consts.append((f"l{k}_b", "int32_t", _i32(p.bias)))
    return f"l{k}_b"


def _fill_dw(lay: Layer, g, op, p, k: int, first: bool) -> None:
    b, h, w, c = p.input_shape
    _, oh, ow, oc = p.output_shape
    kh, kw = p.filter_hw
    lay.kind = _dw_kind(p)
    lay.fn = "arm_depthwise_conv_wrapper_s8"
    lay.inputs = [op.inputs[0]]
    lay.scratch = c * kh * kw * 2 + 64
    bias = _conv_consts(lay, p, k)
    lay.body = (
        f"        static const cmsis_nn_dw_conv_params cp = {{{-p.input_zero_point}, {p.output_zero_point}, "
        f"{p.depth_multiplier}, {{{p.stride[1]}, {p.stride[0]}}}, {{{p.padding[1]}, {p.padding[0]}}}, "
        f"{{{p.dilation[1]}, {p.dilation[0]}}}, {{{p.act_min}, {p.act_max}}}}};\n"
        f"        const cmsis_nn_per_channel_quant_params qp = {{(int32_t *)l{k}_mult, (int32_t *)l{k}_shift}};\n"
        f"        static const cmsis_nn_dims in_d = {_dims((b, h, w, c))}, f_d = {_dims((1, kh, kw, oc))}, "
        f"b_d = {_dims((1, 1, 1, oc))}, o_d = {_dims((b, oh, ow, oc))};\n"
        + _timed(f"arm_depthwise_conv_wrapper_s8(&ctx, &cp, &qp, &in_d, l{k}_in0, &f_d, l{k}_w, &b_d, {bias}, &o_d, "
                 "out_buf)", "arm_depthwise_conv_wrapper_s8_get_buffer_size(&cp, &in_d, &f_d, &o_d)", lay.scratch))


def _fill_fc(lay: Layer, g, op, p, k: int, per_channel_fc: bool) -> None:
    lay.kind = "FULLY_CONNECTED"
    lay.inputs = [op.inputs[0]]
    lay.consts = [(f"l{k}_w", "int8_t", p.weights.reshape(-1))]
    bias = "NULL"
    if p.bias is not None:
        lay.consts.append((f"l{k}_b", "int32_t", _i32(p.bias)))
        bias = f"l{k}_b"
    nb, depth, units = p.batches, p.accum_depth, p.units
    if p.per_channel:
        if not per_channel_fc:
            raise _NotCmsis(f"per-channel FULLY_CONNECTED: this CMSIS-NN tree has no {Path(PER_CHANNEL_FC_SOURCE).name}")
        # arm_fully_connected_per_channel_s8's loop (CMSIS-NN 2024): one vector x matrix product per batch row
        lay.fn = "arm_nn_vec_mat_mult_t_per_ch_s8"
        lay.consts += [(f"l{k}_mult", "int32_t", _i32(p.multiplier)), (f"l{k}_shift", "int32_t", _i32(p.shift))]
        call = (f"fc_per_channel(l{k}_in0, l{k}_w, {bias}, out_buf, {-p.input_zero_point}, {p.output_zero_point}, "
                f"l{k}_mult, l{k}_shift, {depth}, {units}, {p.act_min}, {p.act_max}, {nb})")
        lay.body = _timed(call)
        return
    lay.fn = "arm_fully_connected_s8"
    lay.body = (
        f"        static const cmsis_nn_fc_params fp = {{{-p.input_zero_point}, 0, {p.output_zero_point}, "
        f"{{{p.act_min}, {p.act_max}}}}};\n"
        f"        static const cmsis_nn_per_tensor_quant_params qp = {{{int(p.multiplier[0])}, {int(p.shift[0])}}};\n"
        f"        static const cmsis_nn_dims in_d = {_dims((nb, 1, 1, depth))}, f_d = {_dims((depth, 1, 1, units))}, "
        f"b_d = {_dims((1, 1, 1, units))}, o_d = {_dims((nb, 1, 1, units))};\n"
        + _timed(f"arm_fully_connected_s8(&ctx, &fp, &qp, &in_d, l{k}_in0, &f_d, l{k}_w, &b_d, {bias}, &o_d, out_buf)",
                 "arm_fully_connected_s8_get_buffer_size(&f_d)", 64))


def _fill_binary(lay: Layer, g, op, p, k: int, first: bool) -> None:
    if p.requires_broadcast or tuple(p.shape0) != tuple(p.out_shape):
        raise _NotCmsis(f"broadcasting {op.op}: TFLM's CMSIS-NN kernel runs its reference broadcast there")
    n = int(np.prod(p.out_shape))
    lay.kind = op.op
    lay.inputs = [op.inputs[0], op.inputs[1]]
    if op.op == "ADD":
        lay.fn = "arm_elementwise_add_s8"
        call = (f"arm_elementwise_add_s8(l{k}_in0, l{k}_in1, {p.input1_offset}, {p.input1_multiplier}, "
                f"{p.input1_shift}, {p.input2_offset}, {p.input2_multiplier}, {p.input2_shift}, {p.left_shift}, "
                f"out_buf, {p.output_offset}, {p.output_multiplier}, {p.output_shift}, {p.activation_min}, "
                f"{p.activation_max}, {n})")
    else:
        lay.fn = "arm_elementwise_mul_s8"
        call = (f"arm_elementwise_mul_s8(l{k}_in0, l{k}_in1, {p.input1_offset}, {p.input2_offset}, out_buf, "
                f"{p.output_offset}, {p.output_multiplier}, {p.output_shift}, {p.activation_min}, "
                f"{p.activation_max}, {n})")
    lay.body = _timed(call)


def _fill_pool(lay: Layer, g, op, p, k: int, first: bool) -> None:
    b, h, w, c = p.input_shape
    _, oh, ow, _ = p.output_shape
    kh, kw = p.filter_hw
    lay.kind = op.op
    lay.inputs = [op.inputs[0]]
    avg = op.op == "AVERAGE_POOL_2D"
    lay.fn = "arm_avgpool_s8" if avg else "arm_max_pool_s8"
    lay.scratch = 4 * c + 64
    head = (f"        static const cmsis_nn_pool_params pp = {{{{{p.stride[1]}, {p.stride[0]}}}, "
            f"{{{p.padding[1]}, {p.padding[0]}}}, {{{p.act_min}, {p.act_max}}}}};\n"
            f"        static const cmsis_nn_dims in_d = {_dims((b, h, w, c))}, f_d = {_dims((1, kh, kw, 1))}, "
            f"o_d = {_dims((b, oh, ow, c))};\n")
    if avg:
        if b != 1:
            raise _NotCmsis("AVERAGE_POOL_2D with batch > 1")
        lay.body = head + _timed(f"arm_avgpool_s8(&ctx, &pp, &in_d, l{k}_in0, &f_d, &o_d, out_buf)",
                                 f"arm_avgpool_s8_get_buffer_size({ow}, {c})", lay.scratch)
    else:
        lay.body = head + _timed(f"arm_max_pool_s8(&ctx, &pp, &in_d, l{k}_in0, &f_d, &o_d, out_buf)")


def _fill_softmax(lay: Layer, g, op, p, k: int, first: bool) -> None:
    if p.output_bits != 8:
        raise _NotCmsis("int8 -> int16 SOFTMAX: the harness covers arm_softmax_s8 only")
    y = g.tensors[op.outputs[0]]
    rows = y.size // p.depth
    lay.kind = "SOFTMAX"
    lay.fn = "arm_softmax_s8"
    lay.inputs = [op.inputs[0]]
    lay.body = _timed(f"(arm_softmax_s8(l{k}_in0, {rows}, {p.depth}, {p.input_multiplier}, {p.input_left_shift}, "
                      f"{p.diff_min}, out_buf), 0)")


_FILL = {"CONV_2D": _fill_conv, "DEPTHWISE_CONV_2D": _fill_dw, "FULLY_CONNECTED": _fill_fc, "ADD": _fill_binary,
         "MUL": _fill_binary, "AVERAGE_POOL_2D": _fill_pool, "MAX_POOL_2D": _fill_pool, "SOFTMAX": _fill_softmax}


# ----------------------------------------------------------------------------- harness


def fnv1a(data: bytes) -> int:
    """32-bit FNV-1a, as the harness computes it over each layer's output."""
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def _fnv1a_np(a: np.ndarray) -> int:
    return fnv1a(np.ascontiguousarray(a).view(np.uint8).tobytes())


def layer_activations(g, x: list[np.ndarray]) -> dict[int, np.ndarray]:
    """Every tensor's value (one sample, its full shape) when tinygen's emulator runs the model on `x`."""
    from tinygen.emulator.engine import Emulator

    _, values = Emulator(g).run_internal([np.stack([xi]) for xi in x], keep_all=True)
    return {tid: v[0] for tid, v in values.items()}


_HEAD = r"""/* generated by tinygen benchmarks/cmsisnn_bench.py: {name}'s layers through the CMSIS-NN s8 API */
#include <string.h>
#include "tg_runtime.h"
#include "arm_nnfunctions.h"

static int8_t out_buf[{out_bytes}] __attribute__((aligned(8)));
static int16_t scratch_buf[{scratch_halfwords}] __attribute__((aligned(8)));

static uint32_t fnv1a(const int8_t *p, uint32_t n)
{{
    uint32_t h = 0x811C9DC5u;
    uint32_t i;
    for (i = 0; i < n; i++) {{
        h = (h ^ (uint8_t)p[i]) * 0x01000193u;
    }}
    return h;
}}

static void report(int layer, uint64_t instr, int rc, const int8_t *out, uint32_t n)
{{
    tg_puts("L ");
    tg_put_u32((uint32_t)layer);
    tg_putc(' ');
    tg_put_u64(instr);
    tg_putc(' ');
    tg_put_i32(rc);
    tg_putc(' ');
    tg_put_hex32(fnv1a(out, n));
    tg_putc('\n');
}}

/* arm_fully_connected_per_channel_s8 (CMSIS-NN 2024) for the DSP build: the batch loop over the per-channel
   vector x matrix kernel (filter offset 0, no kernel sums on a DSP core) */
arm_cmsis_nn_status arm_nn_vec_mat_mult_t_per_ch_s8(const int8_t *lhs, const int8_t *rhs, const int32_t *kernel_sum,
                                                    const int32_t *bias, int8_t *dst, const int32_t lhs_offset,
                                                    const int32_t dst_offset, const int32_t *dst_multiplier,
                                                    const int32_t *dst_shift, const int32_t rhs_cols,
                                                    const int32_t rhs_rows, const int32_t activation_min,
                                                    const int32_t activation_max, const int32_t address_offset,
                                                    const int32_t rhs_offset);

__attribute__((noinline, unused)) static int fc_per_channel(const int8_t *input, const int8_t *kernel,
    const int32_t *bias, int8_t *output, int32_t input_offset, int32_t output_offset, const int32_t *mult,
    const int32_t *shift, int32_t depth, int32_t units, int32_t act_min, int32_t act_max, int32_t batches)
{{
    while (batches) {{
        arm_nn_vec_mat_mult_t_per_ch_s8(input, kernel, NULL, bias, output, input_offset, output_offset, mult, shift,
                                        depth, units, act_min, act_max, 1L, 0);
        input += depth;
        output += units;
        batches--;
    }}
    return ARM_CMSIS_NN_SUCCESS;
}}

static void bad_scratch(int layer, int32_t need)
{{
    tg_puts("X ");
    tg_put_u32((uint32_t)layer);
    tg_putc(' ');
    tg_put_i32(need);
    tg_putc('\n');
}}
"""


def _c_array(name: str, ctype: str, a: np.ndarray) -> str:
    from tinygen.boards.mcu_run import _c_bytes

    a = np.ascontiguousarray(a)
    if ctype == "int8_t":
        body = _c_bytes(a.astype(np.int8))  # byte values 0..255: stored as uint8_t, read through an int8_t pointer
        return (f"static const uint8_t {name}_u8[{max(a.size, 1)}] __attribute__((aligned(8))) = {body};\n"
                f"#define {name} ((const int8_t *){name}_u8)")
    vals = a.astype(np.int64).reshape(-1)
    lines = [", ".join(str(int(v)) for v in vals[i:i + 16]) for i in range(0, vals.size, 16)]
    return f"static const {ctype} {name}[{max(vals.size, 1)}] = {{\n    " + ",\n    ".join(lines or ["0"]) + "\n};"


def harness_source(name: str, layers: list[Layer], values: dict[int, np.ndarray], g) -> str:
    """The harness C source: each CMSIS-NN layer's constants and input activations, then main() timing
    every call in model order and printing `L index instructions status fnv1a(output)` lines."""
    run = [lay for lay in layers if lay.cmsis]
    out_bytes = max([lay.out_bytes for lay in run] + [16])
    scratch = max([lay.scratch for lay in run] + [64])
    parts = [_HEAD.format(name=name, out_bytes=(out_bytes + 7) // 8 * 8, scratch_halfwords=(scratch + 15) // 16 * 8)]
    for lay in run:
        k = lay.index
        for i, tid in enumerate(lay.inputs):
            t = g.tensors[tid]
            v = t.data if t.is_const else values[tid]
            parts.append(_c_array(f"l{k}_in{i}", "int8_t", np.asarray(v, dtype=np.int8).reshape(-1)))
        for cname, ctype, arr in lay.consts:
            parts.append(_c_array(cname, ctype, arr))
    parts.append("int main(void)\n{\n    uint64_t instr, empty;\n    int32_t bs;\n    int rc;\n"
                 "    cmsis_nn_context ctx = {NULL, 0};\n    (void)bs;\n    tg_board_init();\n"
                 "    tg_bench_begin();\n    empty = tg_bench_end();\n"
                 "    tg_puts(\"B \");\n    tg_put_u64(empty);\n    tg_putc('\\n');")
    for lay in run:
        parts.append(f"    {{ /* {lay.index}: {lay.op} {lay.desc} -> {lay.fn} */\n"
                     f"#define LAYER {lay.index}\n#define OUT_BYTES {lay.out_bytes}u\n"
                     f"        ctx.buf = NULL;\n        ctx.size = 0;\n"
                     f"{lay.body}#undef LAYER\n#undef OUT_BYTES\n    }}")
    parts.append("    tg_puts(\"E\\n\");\n    return 0;\n}\n")
    return "\n".join(parts)


def harness_bytes(layers: list[Layer], g) -> int:
    """Bytes of constant data (weights, parameters, input activations) the harness bakes in."""
    n = 0
    for lay in layers:
        if lay.cmsis:
            n += sum(g.tensors[t].nbytes for t in lay.inputs)
            n += sum(np.asarray(a).size * (1 if ct == "int8_t" else 4) for _, ct, a in lay.consts)
    return n


def split_layers(layers: list[Layer], g, budget: int = FLASH_BUDGET) -> list[list[Layer]]:
    """The CMSIS-NN layers in model order, cut into consecutive groups whose baked-in data fits one harness
    (one group for every model of the default set; MobileNetV2 224's 3.5 MB of weights take two)."""
    groups: list[list[Layer]] = [[]]
    size = 0
    for lay in layers:
        if not lay.cmsis:
            continue
        n = harness_bytes([lay], g)
        if n > budget:
            raise BenchError(f"layer {lay.index} ({lay.op}) alone bakes in {n:,} B, more than a harness holds "
                             f"({budget:,} B)")
        if size + n > budget and groups[-1]:
            groups.append([])
            size = 0
        groups[-1].append(lay)
        size += n
    return [grp for grp in groups if grp]


def find_cmsis_nn(arg: str | None) -> Path:
    """The CMSIS-NN folder from --cmsis-nn or $CMSIS_NN_DIR, checked for the files the harness compiles."""
    raw = arg or os.environ.get("CMSIS_NN_DIR")
    if not raw:
        raise BenchError("no CMSIS-NN: pass --cmsis-nn DIR or set CMSIS_NN_DIR (git clone "
                         "https://github.com/ARM-software/CMSIS-NN; see the module docstring for the commit)")
    d = Path(raw).expanduser()
    missing = [p for p in CMSIS_HEADERS + CMSIS_SOURCES if not (d / p).is_file()]
    if missing:
        raise BenchError(f"{d} is not a CMSIS-NN checkout: {missing[0]} not found"
                         + (f" (and {len(missing) - 1} more files)" if len(missing) > 1 else ""))
    return d


def _gcc_run(cmd: list[str]) -> None:
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        lines = p.stderr.strip().splitlines() or ["?"]
        err = next((ln for ln in lines if "error" in ln or "undefined reference" in ln), lines[-1])
        what = Path(cmd[cmd.index("-c") + 1]).name if "-c" in cmd else "the link"
        raise BenchError(f"{Path(cmd[0]).name} failed on {what}: {err.strip()}")


def has_per_channel_fc(cmsis_dir: Path) -> bool:
    return (cmsis_dir / PER_CHANNEL_FC_SOURCE).is_file()


def cmsis_sources(cmsis_dir: Path) -> list[Path]:
    """The int8 sources of the CMSIS-NN tree the harness compiles."""
    out = []
    for d in CMSIS_SOURCE_DIRS:
        for p in sorted((cmsis_dir / "Source" / d).glob("*.c")):
            if not _SKIP_SOURCE.search(p.name):
                out.append(p)
    return out


def _flags(out_dir: Path, cmsis_dir: Path) -> list[str]:
    from tinygen.boards.catalog import load_board
    from tinygen.boards.firmware_build import compile_flags

    (out_dir / "shim").mkdir(parents=True, exist_ok=True)
    (out_dir / "shim" / "cmsis_compiler.h").write_text(COMPILER_SHIM)
    return [f for f in compile_flags(load_board(BOARD), [], [cmsis_dir / "Include", out_dir / "shim"]) if f != "-Werror"]


def build_cmsis_nn(cmsis_dir: Path, out_dir: Path, jobs: int = 2) -> list[Path]:
    """Compile the CMSIS-NN int8 sources once (mcu_bench's flags: -O2, Cortex-M4 DSP + FPU; the third-party
    code's warnings are not errors). A file that does not compile is left out; the link reports what is missing."""
    from tinygen.boards.firmware_build import find_gcc

    flags = _flags(out_dir, cmsis_dir) + ["-Wno-unused-parameter", "-Wno-sign-compare"]
    gcc = find_gcc(BOARD)
    obj_dir = out_dir / "obj"
    obj_dir.mkdir(parents=True, exist_ok=True)

    def one(src: Path):
        obj = obj_dir / f"{src.stem}.o"
        p = subprocess.run([gcc, *flags, "-c", str(src), "-o", str(obj)], capture_output=True, text=True)
        return obj if p.returncode == 0 else None

    with ThreadPoolExecutor(max(1, jobs)) as ex:
        objs = [o for o in ex.map(one, cmsis_sources(cmsis_dir)) if o is not None]
    if not objs:
        raise BenchError(f"no CMSIS-NN source of {cmsis_dir} compiles")
    return objs


def build_harness(cmsis_dir: Path, source: str, out_dir: Path, lib: list[Path], jobs: int = 2) -> Path:
    """Compile the harness and the board runtime and link them with the CMSIS-NN objects into `out_dir/harness.elf`."""
    from tinygen.boards.catalog import load_board
    from tinygen.boards.firmware_build import find_gcc, link_flags, render_linker_script, runtime_sources

    board = load_board(BOARD)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "harness.c").write_text(source)
    flags = _flags(out_dir, cmsis_dir)
    gcc = find_gcc(board)
    obj_dir = out_dir / "obj"
    obj_dir.mkdir(exist_ok=True)
    units = list(runtime_sources(board)) + [out_dir / "harness.c"]

    def one(src):
        obj = obj_dir / f"{src.parent.name}__{src.stem}.o"
        _gcc_run([gcc, *flags, "-c", str(src), "-o", str(obj)])
        return obj

    with ThreadPoolExecutor(max(1, jobs)) as ex:
        objs = list(ex.map(one, units))
    ld = out_dir / "harness.ld"
    ld.write_text(render_linker_script(board))
    elf = out_dir / "harness.elf"
    _gcc_run([gcc, *map(str, objs), *map(str, lib), *link_flags(board, ld, out_dir / "harness.map"), "-o", str(elf)])
    return elf


@dataclass
class HarnessRun:
    instructions: dict[int, int]  # layer index -> instructions (marker overhead removed)
    status: dict[int, int]  # layer index -> the call's return code
    hashes: dict[int, int]  # layer index -> fnv1a of the output
    marker_overhead: int


def run_harness(elf: Path, timeout: float = 600.0) -> HarnessRun:
    from tinygen.boards.qemu import QemuSession

    with QemuSession(BOARD, elf, icount=True, serial_timeout=0.2) as q:
        data, status = q.read_to_exit(timeout)
    text = data.decode("ascii", "replace")
    if status != 0 or "\nE\n" not in text:
        bad = re.search(r"^X (\d+) (-?\d+)$", text, re.M)
        if bad:
            raise BenchError(f"layer {bad.group(1)}: CMSIS-NN asks for {bad.group(2)} B of scratch, more than the "
                             "harness reserved")
        raise BenchError(f"harness exited with status {status}; output tail: {text[-300:]!r}")
    res = HarnessRun({}, {}, {}, 0)
    for line in text.splitlines():
        parts = line.split()
        if parts[:1] == ["B"]:
            res.marker_overhead = int(parts[1])
        elif parts[:1] == ["L"]:
            i = int(parts[1])
            res.instructions[i] = int(parts[2]) - res.marker_overhead
            res.status[i] = int(parts[3])
            res.hashes[i] = int(parts[4], 16)
    return res


# ----------------------------------------------------------------------------- tables


def _load_mcu_bench():
    spec = importlib.util.spec_from_file_location("mcu_bench", ROOT / "benchmarks" / "mcu_bench.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["mcu_bench"] = mod  # its dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def _m(v: float) -> str:
    return f"{v / 1e6:.2f} M"


def model_summary(layers: list[dict], tinygen_total: int) -> dict:
    """Per model: CMSIS-NN kernel instructions, the other ops at tinygen's count, the lower bound, ratio."""
    cm = sum(r["cmsis_instr"] for r in layers if r["cmsis_instr"] is not None)
    other = sum(r["tinygen_instr"] for r in layers if r["cmsis_instr"] is None)
    bound = cm + other
    return dict(cmsis_kernels=cm, other_ops_at_tinygen=other, lower_bound=bound, tinygen=tinygen_total,
                ratio=tinygen_total / bound if bound else None,
                cmsis_layers=sum(1 for r in layers if r["cmsis_instr"] is not None), n_layers=len(layers))


def type_table(results: dict) -> list[dict]:
    """Per layer type over all models: MACs, CMSIS-NN and tinygen instructions (layers CMSIS-NN ran)."""
    acc: dict[str, dict] = {}
    for r in results.values():
        for lay in r["layers"]:
            if lay["cmsis_instr"] is None:
                continue
            a = acc.setdefault(lay["kind"], dict(kind=lay["kind"], layers=0, macs=0, cmsis=0, tinygen=0))
            a["layers"] += 1
            a["macs"] += lay["macs"]
            a["cmsis"] += lay["cmsis_instr"]
            a["tinygen"] += lay["tinygen_instr"]
    rows = sorted(acc.values(), key=lambda a: a["kind"])
    for a in rows:
        a["ratio"] = a["tinygen"] / a["cmsis"] if a["cmsis"] else None
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", help=".tflite paths, corpus model names or zoo model names")
    ap.add_argument("--cmsis-nn", help="CMSIS-NN checkout (default: $CMSIS_NN_DIR)")
    ap.add_argument("--corpus", action="store_true", help="the corpus's supported conv models (default with --zoo)")
    ap.add_argument("--zoo", action="store_true", help="the four MLPerf-Tiny-shaped zoo models")
    ap.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    ap.add_argument("--json", type=Path, help="write the results as JSON")
    ap.add_argument("--no-layers", action="store_true", help="do not print the per-layer tables")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--build-dir", type=Path, help="keep the builds here (default: a temporary directory)")
    args = ap.parse_args(argv)
    try:
        cmsis_dir = find_cmsis_nn(args.cmsis_nn)
    except BenchError as e:
        print(f"cmsisnn_bench: {e}", file=sys.stderr)
        return 2
    mb = _load_mcu_bench()
    mb.BOARD = BOARD
    margs = argparse.Namespace(models=args.models, corpus=args.corpus, zoo=args.zoo, board=BOARD)
    try:
        benches = mb.select_models(margs)
    except SystemExit as e:
        print(f"cmsisnn_bench: {str(e).removeprefix('mcu_bench: ')}", file=sys.stderr)
        return 2
    from tinygen.errors import TinygenError
    from tinygen.model.reader import load_int8_model
    from tinygen.ops import check_graph

    tmp = None
    if args.build_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="tinygen-cmsisnn-bench-")
        base = Path(tmp.name)
    else:
        base = args.build_dir
    results: dict[str, dict] = {}
    failed = []
    try:
        try:
            lib = build_cmsis_nn(cmsis_dir, base / "cmsis-nn")
        except BenchError as e:
            print(f"cmsisnn_bench: {e}", file=sys.stderr)
            return 2
        for i, b in enumerate(benches):
            try:
                g = load_int8_model(b.path)
                check_graph(g)
            except TinygenError as e:
                print(f"{b.label}: skipped: {e}", file=sys.stderr)
                continue
            print(f"[{i + 1}/{len(benches)}] {b.label}: CMSIS-NN harness and tinygen builds ...", file=sys.stderr,
                  flush=True)
            try:
                results[b.label] = bench_model(mb, b, g, cmsis_dir, base / b.name, args.seed, lib)
            except (BenchError, TinygenError) as e:
                print(f"{b.label}: FAILED: {e}", file=sys.stderr)
                failed.append(b.label)
                continue
            if not args.no_layers:
                print_layers(b.label, results[b.label], args.markdown)
    finally:
        if tmp is not None:
            tmp.cleanup()
    print_tables(results, args.markdown)
    if args.json:
        args.json.write_text(json.dumps(dict(cmsis_nn=str(cmsis_dir), board=BOARD, models=results,
                                             layer_types=type_table(results)), indent=1, default=int))
    mismatched = [f"{m} layer {lay['index']}" for m, r in results.items() for lay in r["layers"]
                  if lay["cmsis_instr"] is not None and not lay["bit_exact"]]
    if mismatched:
        print("CMSIS-NN output differs from the emulator: " + ", ".join(mismatched))
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 0 if not (failed or mismatched) else 1


def bench_model(mb, b, g, cmsis_dir: Path, out: Path, seed: int, lib: list[Path]) -> dict:
    x = mb.bench_inputs(g, b, np.random.default_rng(seed))
    layers = extract_layers(g, per_channel_fc=has_per_channel_fc(cmsis_dir))
    values = layer_activations(g, x)
    run = HarnessRun({}, {}, {}, 0)
    for ci, chunk in enumerate(split_layers(layers, g)):
        sub = out / ("cmsis" if ci == 0 else f"cmsis{ci}")
        part = run_harness(build_harness(cmsis_dir, harness_source(b.name, chunk, values, g), sub, lib))
        for d, src in ((run.instructions, part.instructions), (run.status, part.status), (run.hashes, part.hashes)):
            d.update(src)
    tg = mb._measure(b, g, x, out / "tinygen", False, True)
    tl = tg["layers"]
    n_ops = len(g.operators)
    hook = max(0, (sum(tl) - tg["instructions"]) // n_ops) if n_ops else 0
    rows = []
    for lay in layers:
        t_instr = max(0, (tl[lay.index] if lay.index < len(tl) else 0) - hook)
        row = dict(index=lay.index, op=lay.op, kind=lay.kind, desc=lay.desc, macs=lay.macs, fn=lay.fn,
                   reason=lay.reason, tinygen_instr=t_instr, cmsis_instr=None, bit_exact=None)
        if lay.cmsis:
            if lay.index not in run.instructions:
                raise BenchError(f"no result for layer {lay.index} ({lay.op})")
            row["cmsis_instr"] = run.instructions[lay.index]
            expect = values[lay.output]
            row["bit_exact"] = run.status[lay.index] == 0 and run.hashes[lay.index] == _fnv1a_np(expect.astype(np.int8))
        rows.append(row)
    return dict(path=str(b.path), layers=rows, layer_hook=hook, tinygen_bit_exact=tg["bit_exact"],
                reference=b.reference, **model_summary(rows, tg["instructions"]))


def _table(headers, rows, markdown, right=None):
    mb = sys.modules.get("mcu_bench") or _load_mcu_bench()
    return mb._table(headers, rows, right=right, markdown=markdown)


def print_layers(label: str, r: dict, markdown: bool) -> None:
    print(f"\n{label}: per layer (instructions; tinygen from mcu_bench's layer-timing build, "
          f"{r['layer_hook']} instructions of hook per layer taken out)\n")
    head = ["#", "op", "shape", "MACs", "CMSIS-NN", "tinygen", "tinygen/CMSIS", "CMSIS-NN call"]
    rows = []
    for lay in r["layers"]:
        c = lay["cmsis_instr"]
        t = lay["tinygen_instr"]
        rows.append([str(lay["index"]), lay["op"], lay["desc"], f"{lay['macs']:,}",
                     f"{c:,}" if c is not None else "-", f"{t:,}", f"{t / c:.2f}" if c else "-",
                     (lay["fn"] + ("" if lay["bit_exact"] else " MISMATCH")) if c is not None else lay["reason"]])
    print(_table(head, rows, markdown, right={0, 3, 4, 5, 6}), flush=True)


def print_tables(results: dict, markdown: bool) -> None:
    print("\nPer model: instructions per inference on QEMU mps2-an386 (Cortex-M4, -icount shift=0). "
          "\"CMSIS-NN kernels (lower bound of TFLM+CMSIS-NN)\" = CMSIS-NN's s8 kernels for the layers it has, "
          "the other ops at tinygen's count, no interpreter overhead.\n")
    head = ["model", "MACs", "CMSIS-NN layers", "CMSIS-NN kernels", "other ops (tinygen)",
            "CMSIS-NN kernels (lower bound of TFLM+CMSIS-NN)", "tinygen", "tinygen / bound", "quoted TFLM+CMSIS-NN"]
    rows = []
    for m, r in results.items():
        macs = sum(lay["macs"] for lay in r["layers"])
        rows.append([m, f"{macs / 1e6:.2f} M", f"{r['cmsis_layers']} of {r['n_layers']}", _m(r["cmsis_kernels"]),
                     _m(r["other_ops_at_tinygen"]), _m(r["lower_bound"]), _m(r["tinygen"]),
                     f"{r['ratio']:.2f}x" if r["ratio"] else "-", _m(r["reference"]) if r.get("reference") else "-"])
    print(_table(head, rows, markdown))
    print("\nPer layer type (all models, the layers run through CMSIS-NN): instructions and MAC per instruction\n")
    head = ["layer type", "layers", "MACs", "CMSIS-NN instr", "tinygen instr", "CMSIS-NN MAC/instr",
            "tinygen MAC/instr", "tinygen / CMSIS-NN", "tinygen slower"]
    rows = []
    for a in type_table(results):
        rows.append([a["kind"], str(a["layers"]), f"{a['macs']:,}", f"{a['cmsis']:,}", f"{a['tinygen']:,}",
                     f"{a['macs'] / a['cmsis']:.3f}" if a["cmsis"] and a["macs"] else "-",
                     f"{a['macs'] / a['tinygen']:.3f}" if a["tinygen"] and a["macs"] else "-",
                     f"{a['ratio']:.2f}" if a["ratio"] else "-", "YES" if (a["ratio"] or 0) > 1 else ""])
    print(_table(head, rows, markdown, right={1, 2, 3, 4, 5, 6, 7}))
    slower = [a["kind"] for a in type_table(results) if (a["ratio"] or 0) > 1]
    print("\nlayer types where tinygen takes more instructions than CMSIS-NN: " + (", ".join(slower) or "none"))


if __name__ == "__main__":
    sys.exit(main())
