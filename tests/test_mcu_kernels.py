"""The kernels on an emulated Cortex-M4 (QEMU mps2-an386, arm-none-eabi-gcc -O2 with the DSP
extension): bit-exact with the emulator, element for element.

* every zoo model, generated for `qemu-cortex-m4`, run on random and edge inputs (all -128,
  all 127, all = zero point) baked into the firmware, outputs read back as hex;
* random CONV_2D (general and 1x1), DEPTHWISE_CONV_2D, FULLY_CONNECTED and ADD/SUB configurations
  (odd channel counts and filter sizes, padding, strides, dilation, batches, extreme zero
  points, left and right shifts, and accumulators too large for the DSP shortcut), each built
  once with the Cortex-M DSP kernels and once with -DTG_PORTABLE (the C99 path), both run on
  QEMU and compared with the emulator (and so with each other).

All models of a group share one firmware, so QEMU starts three times in all.
"""
from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from tests.support.opmodels import ModelBuilder
from tinygen.emulator.engine import Emulator
from tinygen.errors import UnsupportedOpError
from tinygen.model.reader import parse_model, read_model

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                       reason="needs arm-none-eabi-gcc and qemu-system-arm"),
]

BOARD = "qemu-cortex-m4"
BENCH = ("ds_cnn_kws", "mobilenet_v1_025_vww", "resnet8_ic", "fc_autoencoder_ad")


def samples(g, rng, n_random: int) -> list[list[np.ndarray]]:
    """Edge samples (all -128, all 127, all = zero point) then random ones; float inputs: random
    values and zero."""
    per_input = []
    for t in g.input_tensors:
        shape = tuple(t.shape)
        if t.dtype == np.int8:
            xs = [np.full(shape, -128), np.full(shape, 127), np.full(shape, t.zero_point)]
            xs += [rng.integers(-128, 128, size=shape) for _ in range(n_random)]
            xs = [x.astype(np.int8) for x in xs]
        else:
            xs = [np.zeros(shape, np.float32)] + [rng.uniform(-4, 4, size=shape).astype(np.float32)
                                                  for _ in range(n_random + 2)]
        per_input.append(xs)
    return [list(s) for s in zip(*per_input)]


def check(name, g, xs, got) -> None:
    ref = Emulator(g).run_internal([np.stack([s[k] for s in xs]) for k in range(len(g.inputs))])
    for s, res in enumerate(got):
        for k, (a, b) in enumerate(zip(res.outputs, ref)):
            b = b[s]
            if a.dtype == np.float32:
                a, b = a.view(np.uint32), b.view(np.uint32)
            if not np.array_equal(a, b):
                bad = np.argwhere(a != b)
                raise AssertionError(f"{name} sample {s} output {k}: {len(bad)}/{a.size} elements differ, first at "
                                     f"{bad[0].tolist()}: Cortex-M4 {a[tuple(bad[0])]} vs emulator {b[tuple(bad[0])]}")


def check_builds(graphs, xs, dsp, port, timeout: float = 120) -> None:
    """Every model of the DSP build and of the C99 build (run_models) equals the emulator on every sample."""
    from tinygen.boards.mcu_run import run_models

    for fw in (dsp, port):
        res = run_models(fw, timeout=timeout)
        for name, g in graphs.items():
            check(f"{name} ({'portable' if fw is port else 'dsp'})", g, xs[name], res.models[name])


def dsp_flags(gen) -> list[int]:
    """The `dsp` field of every conv / fully-connected parameter struct of a generated model."""
    return [int(v) for v in re.findall(r"\.dsp = (\d)", gen.c_file.read_text())]


# ---------------------------------------------------------------- zoo


def test_zoo_bit_exact_on_cortex_m4(zoo, tmp_path):
    from tinygen.boards.mcu_run import build_models, run_models

    rng = np.random.default_rng(2024)
    graphs = {name: read_model(path) for name, path in sorted(zoo.items())}
    xs = {name: samples(g, rng, 2) for name, g in graphs.items()}
    fw = build_models(BOARD, graphs, xs, tmp_path / "zoo")
    for name in BENCH:  # the benchmark models run on the DSP kernels (but for FCs of < 4 units)
        flags = dsp_flags(fw.generated[name])
        g = graphs[name]
        small = sum(1 for op in g.operators if op.op == "FULLY_CONNECTED" and g.tensors[op.outputs[0]].shape[-1] < 4)
        assert flags and flags.count(0) <= small, f"{name}: DSP path off for some ops: {flags}"
    res = run_models(fw, timeout=300)
    for name, g in graphs.items():
        check(name, g, xs[name], res.models[name])


# ---------------------------------------------------------------- random single ops


def _q_scales(rng, n, per_channel):
    return rng.uniform(0.002, 0.03, size=n) if per_channel else float(rng.uniform(0.002, 0.03))


def _out_scale(rng, typical: float) -> float:
    """Mostly a realistic output scale; sometimes far smaller (effective scale > 1: left shifts)
    or larger (long right shifts)."""
    r = rng.random()
    if r < 0.12:
        return typical / float(rng.uniform(30, 3000))
    if r < 0.2:
        return typical * float(rng.uniform(20, 300))
    return typical * float(rng.uniform(0.3, 3))


def _zp(rng):
    return int(rng.choice([-128, 127, 0, int(rng.integers(-128, 128))]))


def random_conv(rng, depthwise: bool, one_by_one: bool = False, huge_bias: bool = False, trained: bool = False) -> bytes:
    """trained: like a trained layer that defeats the SMMULR shortcut: 64-256 input channels,
    per-channel scales with some dead channels (tiny scales: right shifts of 24 and more) and
    weights using the full int8 range per channel."""
    m = ModelBuilder()
    b = int(rng.choice([1, 1, 1, 2]))
    h, w = int(rng.integers(1, 10)), int(rng.integers(1, 10))
    c = int(rng.choice([1, 2, 3, 4, 5, 7, 8, 12, 16, 17, 32]))
    if trained:
        h, w = int(rng.integers(1, 6)), int(rng.integers(1, 6))
        c = int(rng.choice([64, 96, 128, 256, 67]))
    if one_by_one:
        kh = kw = 1
        padding = "VALID"
        stride = int(rng.choice([1, 1, 2]))
        dil = 1
    else:
        kh, kw = (int(v) for v in rng.choice([(3, 3), (3, 3), (1, 1), (5, 5), (2, 3), (3, 1), (1, 4), (4, 4)]))
        padding = str(rng.choice(["SAME", "VALID"]))
        stride = int(rng.choice([1, 1, 2, 3]))
        dil = int(rng.choice([1, 1, 1, 2]))
    sh = sw = stride
    if padding == "VALID":
        h = max(h, (kh - 1) * dil + 1)
        w = max(w, (kw - 1) * dil + 1)
    in_scale = float(rng.uniform(0.01, 0.1))
    in_zp = _zp(rng)
    x = m.tensor([b, h, w, c], scale=in_scale, zero_point=in_zp)
    per_channel = trained or bool(rng.random() < 0.7)
    if depthwise:
        dm = int(rng.choice([1, 1, 1, 1, 1, 2]))
        oc = c * dm
        wd = rng.integers(-127, 128, size=(1, kh, kw, oc))
        axis, taps = 3, kh * kw
    else:
        oc = int(rng.choice([1, 2, 3, 5, 8, 9, 16] if not trained else [8, 9, 16, 32]))
        wd = rng.integers(-127, 128, size=(oc, kh, kw, c))
        axis, taps = 0, kh * kw * c
    ws = _q_scales(rng, oc, per_channel)
    if trained:
        wd = np.clip(np.round(rng.normal(0, 45, size=wd.shape)), -127, 127).astype(np.int64)
        wd.flat[:8] = 127  # the full range in some channel
        ws = np.where((rng.random(oc) < 0.25) | (np.arange(oc) == 0), rng.uniform(1e-10, 1e-8, size=oc), ws)
    wt = m.tensor(wd.shape, data=wd, scale=ws, zero_point=0, axis=axis)
    ins = [x, wt]
    if huge_bias or rng.random() < 0.85:
        lim = 2_000_000_000 if huge_bias else 5000
        ins.append(m.tensor([oc], dtype=np.int32, data=rng.integers(-lim, lim, size=oc),
                            scale=in_scale * np.atleast_1d(ws)))
    eff_h, eff_w = (kh - 1) * dil + 1, (kw - 1) * dil + 1
    if padding == "SAME":
        oh, ow = -(-h // sh), -(-w // sw)
    else:
        oh, ow = (h - eff_h) // sh + 1, (w - eff_w) // sw + 1
    typical = float(np.sqrt(taps) * 60 * np.mean(ws) * 60 * in_scale / 40)
    out_scale = typical * float(rng.uniform(0.3, 3)) if trained else _out_scale(rng, typical)
    y = m.tensor([b, oh, ow, oc], scale=out_scale, zero_point=int(rng.choice([-128, -70, 45, 127])) if trained else _zp(rng))
    opts = dict(padding=padding, stride_h=sh, stride_w=sw, dilation_h_factor=dil, dilation_w_factor=dil,
                fused_activation_function=str(rng.choice(["NONE", "RELU", "RELU6", "RELU_N1_TO_1"])))
    if depthwise:
        m.op("DEPTHWISE_CONV_2D", ins, [y], depth_multiplier=dm, **opts)
    else:
        m.op("CONV_2D", ins, [y], **opts)
    return m.build([x], [y])


def random_dw(rng, trained: bool = False, temporal: bool = False, dm: int | None = None, k33: int = 0,
              big_bias: bool = False, left: int = 0, kk: int = 0, k1d: str = "") -> bytes:
    """A DEPTHWISE_CONV_2D with depth multiplier 1, 2, 3 or 8, filters 1x1 .. 10x8, strides 1-3,
    dilations 1-2, SAME/VALID. `trained`: weights like a trained layer's (roughly Gaussian, per-channel
    scales over two decades, a few dead channels with tiny scales and large biases, whose long right
    shifts defeat any requantization shortcut), and sometimes an output scale small enough for left
    shifts (effective scale >= 0.5). `temporal`: one column wide, a k x 1 filter. `k33` (1 or 2): 3x3,
    that stride and dilation 1 along the row (the pair kernels, tg_dwconv_p3_s8 / tg_dwconv_p3s2_s8); 6 (7
    transposed): 3x3, stride 2 along rows of 8-28 output pixels, a multiple of 4 (tg_dwconv_p3s2_s8); 3:
    3x3 with rows of 2-7 pixels and long columns, stride 1 (3) or 2 (4) along the column (the pair kernels
    transposed); 8: 3x3, stride 2 along rows of 11 or 15 output pixels (whole blocks and a partial one of 3:
    tg_dwconv_p3s2p_s8); 9: the same partial rows along the columns,
    stride 2 both ways, rows of 9-14 pixels (the 4-pixel kernel transposed: rows of 4 nb + 1 or 2 pixels do not take
    it); 5: 3x3 with at least 4 input channels (with depth multiplier 2-3: the register kernel,
    tg_dwconv_dmr_s8), any stride, dilation and padding. `big_bias`: a third of the channels get biases near
    +-2^30 (live scales): the pair kernel's SMMLAR requantization needs |bias| + 128 * sum|w| < 2^30, so these
    straddle the bound and their groups fall back to SMLAL with the zero point folded. `left` (with
    `trained`): an output scale that gives channels left shifts (1: whole groups of 4 channels, 2: a partial
    group, 3: whole groups, shifts so long that the pair kernel's scaled weights would leave int16 (its C
    fix-up), 4: whole groups, no dead channels, most channels with weights of one sign and a bias of that sign larger than
    128 * sum|w| (an accumulator of one sign for every input: tinymaix MobileNetV1's left-shift channel)).
    `kk` (5 or 7): a kk x kk filter, depth multiplier 1, whole groups of 4 channels, stride 1 or 2 along the row,
    dilation 1 along it (1 or 2 along the column), rows of 1-20 pixels (the k x k pair kernel, tg_dwconv_pk_s8).
    `k1d` ("col" / "row"): a one-dimensional filter of 5, 7 or 9 taps on the k x k pair kernel: a temporal k x 1
    filter over [T, 1, C] (passed as one row of T pixels) or a 1 x k one on an image, stride 1 or 2 along it (9 taps
    at stride 2: 6 pairs per pass; SAME with 9 taps: a left padding of 4, two leading input_zp pairs)."""
    m = ModelBuilder()
    b = int(rng.choice([1, 1, 1, 2]))
    dm = int(rng.choice([1, 1, 2, 3, 8])) if dm is None else dm
    c = int(rng.choice([1, 2, 3, 4, 5, 8, 12, 16, 17])) if dm > 1 else int(rng.choice([1, 3, 4, 8, 12, 16, 17, 32, 64]))
    kh, kw = (int(v) for v in rng.choice([(3, 3), (3, 3), (1, 1), (5, 5), (7, 7), (10, 8), (9, 1), (1, 9), (2, 3), (4, 4)]))
    padding = str(rng.choice(["SAME", "VALID"]))
    sh, sw = int(rng.choice([1, 1, 2, 3])), int(rng.choice([1, 1, 2]))
    dil = int(rng.choice([1, 1, 1, 2]))
    h, w = int(rng.integers(1, 12)), int(rng.integers(1, 12))
    if k33 in (1, 2):
        kh, kw, sw, dil, w = 3, 3, int(k33), 1, int(rng.integers(8, 20)) if k33 == 1 else int(rng.integers(48, 60))
    elif k33 in (3, 4):  # narrow rows, long columns: the pair kernel transposed (w_row -2)
        kh, kw, dil, w, c = 3, 3, 1, int(rng.integers(2, 8)), int(rng.choice([4, 8, 12, 16, 17]))
        sh = k33 - 2
        h = int(rng.integers(8, 30)) if sh == 1 else int(rng.integers(50, 56))
    elif k33 == 5:
        kh, kw, c, dil = 3, 3, int(rng.choice([4, 5, 7, 8, 12, 16, 17])), int(rng.choice([1, 2]))
    elif k33 in (6, 7):  # stride 2 along rows of a multiple of 4 output pixels (tg_dwconv_p3s2_s8, layers of
        # >= 30 k MACs: conv.DW_PAIR2_MIN_MACS); 7: transposed
        ow4 = int(rng.choice([8, 12, 16, 24, 28] if k33 == 6 else [24, 28]))
        n_in = 2 * ow4 - int(rng.integers(0, 2)) if padding == "SAME" else 2 * ow4 + 1 + int(rng.integers(0, 2))
        kh, kw, dil, c = 3, 3, 1, int(rng.choice([32, 48, 64]) if k33 == 6 else 64)
        if k33 == 6:
            sw, w = 2, n_in
        else:  # rows of 5-6 pixels, columns of n_in: the kernel walks the columns at stride 2
            sh, sw, h, w = 2, 1, n_in, int(rng.integers(5, 7))
    elif k33 == 8:  # stride 2 along rows of blocks + 3 pixels (>= 30 k MACs)
        ow4 = int(rng.choice([11, 15]))
        n_in = 2 * ow4 - int(rng.integers(0, 2)) if padding == "SAME" else 2 * ow4 + 1 + int(rng.integers(0, 2))
        kh, kw, dil, c, sw, w = 3, 3, 1, int(rng.choice([32, 48, 64])), 2, n_in
    elif k33 == 9:  # stride 2 both ways, columns of blocks + 3 pixels, rows of 4 nb + 1 or 2: transposed
        ow4, ow = int(rng.choice([11, 15])), int(rng.choice([9, 10, 13, 14]))
        n_in = 2 * ow4 - int(rng.integers(0, 2)) if padding == "SAME" else 2 * ow4 + 1 + int(rng.integers(0, 2))
        n_w = 2 * ow - int(rng.integers(0, 2)) if padding == "SAME" else 2 * ow + 1 + int(rng.integers(0, 2))
        kh, kw, dil, c, sh, sw, h, w = 3, 3, 1, 64, 2, 2, n_in, n_w
    dil_h = dil
    if kk:
        kh = kw = kk
        c, w, dil, dil_h = int(rng.choice([4, 8, 12, 16, 24])), int(rng.integers(1, 21)), 1, int(rng.choice([1, 1, 2]))
    if left:  # whole groups of 4 channels (the pair kernel); left == 2: a partial group (the SMLABB ring kernel)
        c = int(rng.choice([4, 8, 12, 16] if left != 2 else [5, 6, 7, 9, 13]))
    if k33 in (6, 8):  # >= 30 k MACs, columns shorter than twice the row (not transposed)
        c = max(c, 32)
        h = max(h, sh * (-(-30000 // (9 * ow4 * c)) - 1) + (1 if padding == "SAME" else 3))
    elif k33 in (7, 9):
        c = 64

    if temporal:  # a 1-D convolution over [T, 1, C] (one column wide)
        kh, kw, w, sw, h = int(rng.choice([3, 5, 9])), 1, 1, 1, int(rng.integers(4, 40))
    if k1d:
        k, st, n = int(rng.choice([5, 7, 9])), int(rng.choice([1, 2])), int(rng.integers(2, 60))
        c, dil, dil_h = int(rng.choice([4, 8, 12, 16, 24])), 1, 1
        if k1d == "col":
            kh, kw, h, w, sh, sw = k, 1, n, 1, st, 1
        else:
            kh, kw, h, w, sh, sw = 1, k, int(rng.integers(1, 4)), n, int(rng.choice([1, 2])), st
    if padding == "VALID":
        h = max(h, (kh - 1) * dil_h + 1 + int(rng.integers(0, 3)))
        w = max(w, (kw - 1) * dil + 1 + int(rng.integers(0, 3)))
    in_scale = float(rng.uniform(0.01, 0.1))
    x = m.tensor([b, h, w, c], scale=in_scale, zero_point=_zp(rng))
    oc = c * dm
    if trained:
        wd = np.clip(np.round(rng.normal(0, 40, size=(1, kh, kw, oc))), -127, 127).astype(np.int64)
        ws = 10 ** rng.uniform(-3.5, -1.5, size=oc)
        dead = (rng.random(oc) < 0.15) & (left != 4)
        ws[dead] = 10 ** rng.uniform(-9, -7, size=int(dead.sum()))
        one_sign = np.zeros(oc, dtype=bool)
        if left == 4:
            one_sign = rng.random(oc) < 0.8
            sign = rng.choice([-1, 1], size=oc)
            wd[..., one_sign] = np.abs(wd[..., one_sign]) * sign[one_sign]
    else:
        wd = rng.integers(-127, 128, size=(1, kh, kw, oc))
        ws = _q_scales(rng, oc, True) if rng.random() < 0.7 else np.full(oc, _q_scales(rng, 1, False))
    wt = m.tensor(wd.shape, data=wd, scale=ws, zero_point=0, axis=3)
    ins = [x, wt]
    if trained or big_bias or rng.random() < 0.85:
        bias = rng.integers(-5000, 5000, size=oc)
        if trained:
            bias[dead] = rng.integers(-2**30, 2**30, size=int(dead.sum()))
            if left == 4:
                reach = 128 * np.abs(wd).reshape(-1, oc).sum(axis=0)
                bias[one_sign] = sign[one_sign] * (reach[one_sign] + rng.integers(1, 20000, size=int(one_sign.sum())))
        if big_bias:
            big = rng.random(oc) < 0.35
            bias[big] = rng.choice([-1, 1], size=int(big.sum())) * rng.integers(2**30 - 2**21, 2**30, size=int(big.sum()))
        ins.append(m.tensor([oc], dtype=np.int32, data=bias, scale=in_scale * np.atleast_1d(ws)))
    eff_h, eff_w = (kh - 1) * dil_h + 1, (kw - 1) * dil + 1
    if padding == "SAME":
        oh, ow = -(-h // sh), -(-w // sw)
    else:
        oh, ow = (h - eff_h) // sh + 1, (w - eff_w) // sw + 1
    typical = float(np.sqrt(kh * kw) * 60 * np.median(ws) * 60 * in_scale / 40)
    r = 0.0 if left else rng.random()
    if trained and r < 0.25:  # left shifts
        out_scale = typical / float(rng.uniform(50, 500) if left != 3 else rng.uniform(5000, 30000))
    elif r < 0.5:  # right shifts of 1-5 for most channels: many rounding ties
        out_scale = in_scale * float(np.median(ws)) / float(2.0 ** rng.uniform(-5, -1))
    else:
        out_scale = _out_scale(rng, typical)
    y = m.tensor([b, oh, ow, oc], scale=out_scale, zero_point=_zp(rng))
    m.op("DEPTHWISE_CONV_2D", ins, [y], padding=padding, stride_h=sh, stride_w=sw, dilation_h_factor=dil_h,
         dilation_w_factor=dil, depth_multiplier=dm,
         fused_activation_function=str(rng.choice(["NONE", "RELU", "RELU6", "RELU_N1_TO_1"])))
    return m.build([x], [y])


def random_dw_dead_steps(rng, stride: int, folded: bool, left: bool = False) -> bytes:
    """A 3x3 depthwise layer for the pair kernel (stride 1 with odd rows, or 2 on rows its 2-pixel pass keeps:
    out_w not a multiple of 4) whose dead channels are not constant: each bias (|bias| >= 2^30, beyond the SMMLAR
    bound) sits at a step of its output (output = round(bias * scale) changes there), so the channel's output
    takes two values and its group keeps SMLAL: `folded`, effective scales of 2^-23.9 .. 2^-22.5 (right shifts
    up to 23: the zero point folded into the rows), else 2^-29 .. 2^-24.5 (longer: added). `left`: one live
    channel with an effective scale of 0.75 (a left shift in an SMLAL group: the C fix-up)."""
    m = ModelBuilder()
    c = int(rng.choice([4, 8, 12]))
    # (stride 1: an odd height, so that the odd rows are fewer passes than the columns: not transposed)
    h = int(rng.integers(3, 7)) if stride != 1 else int(rng.choice([3, 5]))
    w = 2 * int(rng.integers(4, 10)) + 1 if stride == 1 else 2 * int(rng.choice([9, 10, 11, 13, 14, 15]))
    in_scale = 0.05
    x = m.tensor([1, h, w, c], scale=in_scale, zero_point=_zp(rng))
    wd = np.clip(np.round(rng.normal(0, 40, size=(1, 3, 3, c))), -127, 127).astype(np.int64)
    ws = 10 ** rng.uniform(-3.5, -1.5, size=c)
    out_scale = in_scale * float(np.median(ws)) * float(2.0 ** rng.uniform(2, 6))
    zp = int(rng.integers(-60, 60))
    bias = rng.integers(-5000, 5000, size=c)
    dead = rng.random(c) < 0.5
    dead[int(rng.integers(0, c))] = True
    for k in np.flatnonzero(dead):
        eff = 2.0 ** (rng.uniform(-23.9, -22.5) if folded else rng.uniform(-29, -24.5))
        t = int(np.ceil(2.0 ** 30.05 * eff)) * int(rng.choice([-1, 1]))  # output level t + zp at |bias| ~ 2^30
        ws[k] = eff * out_scale / in_scale
        bias[k] = int(round((t + 0.5) / eff))
    if left:
        ws[int(np.flatnonzero(~dead)[0]) if (~dead).any() else 0] = 0.75 * out_scale / in_scale
    wt = m.tensor(wd.shape, data=wd, scale=ws, zero_point=0, axis=3)
    b = m.tensor([c], dtype=np.int32, data=bias, scale=in_scale * ws)
    y = m.tensor([1, h, -(-w // stride), c], scale=out_scale, zero_point=zp)
    m.op("DEPTHWISE_CONV_2D", [x, wt, b], [y], padding="SAME", stride_h=1, stride_w=stride, dilation_h_factor=1,
         dilation_w_factor=1, depth_multiplier=1, fused_activation_function="NONE")
    return m.build([x], [y])


def random_fc(rng, huge_bias: bool = False, trained: bool = False) -> bytes:
    """trained: 64-256 inputs, per-unit scales with dead units (see random_conv)."""
    m = ModelBuilder()
    k = int(rng.choice([1, 3, 4, 7, 8, 13, 16, 33, 64, 67, 130] if not trained else [64, 128, 200, 256]))
    units = int(rng.choice([1, 2, 3, 4, 5, 7, 8, 12] if not trained else [4, 7, 12, 16]))
    rows = int(rng.choice([1, 1, 2, 3]))
    in_scale = float(rng.uniform(0.01, 0.1))
    x = m.tensor([rows, k], scale=in_scale, zero_point=_zp(rng))
    per_channel = trained or bool(rng.random() < 0.4)
    ws = _q_scales(rng, units, per_channel)
    wd = rng.integers(-127, 128, size=(units, k))
    if trained:
        wd = np.clip(np.round(rng.normal(0, 45, size=wd.shape)), -127, 127).astype(np.int64)
        ws = np.where((rng.random(units) < 0.25) | (np.arange(units) == 0), rng.uniform(1e-10, 1e-8, size=units), ws)
    wt = m.tensor([units, k], data=wd, scale=ws, zero_point=0)
    ins = [x, wt]
    if huge_bias or rng.random() < 0.85:
        lim = 2_000_000_000 if huge_bias else 8000
        ins.append(m.tensor([units], dtype=np.int32, data=rng.integers(-lim, lim, size=units),
                            scale=in_scale * np.atleast_1d(ws)))
    typical = float(np.sqrt(k) * 60 * np.mean(ws) * 60 * in_scale / 40)
    y = m.tensor([rows, units], scale=_out_scale(rng, typical) if not trained else typical * float(rng.uniform(0.3, 3)),
                 zero_point=int(rng.choice([-128, -70, 45, 127])) if trained else _zp(rng))
    m.op("FULLY_CONNECTED", ins, [y], fused_activation_function=str(rng.choice(["NONE", "RELU", "RELU6"])))
    return m.build([x], [y])


def fc_pairs_model(rng, k: int, units: int, paired: bool) -> bytes:
    """FULLY_CONNECTED at the edge of tg_fc_s8's paired weight layout (every row's 128 * sum |w| < 2^23):
    paired: k = 512 full-scale weights of one sign per row (alternating), so the all -128 / all 127
    samples reach |sum x * w| = 8,323,072, just below 2^23; else |w| >= 100 on k inputs, beyond it (the
    unpaired layout). The output scale keeps those extremes inside the int8 range."""
    m = ModelBuilder()
    in_scale, w_scale = 0.02, 0.004
    x = m.tensor([1, k], scale=in_scale, zero_point=0)
    if paired:
        wd = np.where(np.arange(units)[:, None] % 2 == 0, 127, -127) * np.ones((1, k), np.int64)
    else:
        wd = rng.integers(100, 128, size=(units, k)) * rng.choice([-1, 1], size=(units, k))
    wt = m.tensor([units, k], data=wd, scale=w_scale, zero_point=0)
    b = m.tensor([units], dtype=np.int32, data=rng.integers(-3000, 3000, size=units), scale=in_scale * w_scale)
    y = m.tensor([1, units], scale=in_scale * w_scale * 128 * 127 * k / 120, zero_point=0)
    m.op("FULLY_CONNECTED", [x, wt, b], [y])
    return m.build([x], [y])


def left_shift_conv(rng, one_by_one: bool, ties: bool = False) -> bytes:
    """CONV_2D whose SMMULR shortcut is not provable (a channel with a bias near 2^30) with channels of every
    kind: effective scale >= 0.5 (left shifts up to 2^5; one or two taps of +-1, so that outputs do not all
    saturate, and biases near 2^30 on some, so that the shifted accumulator wraps), ordinary right shifts and
    dead channels (shifts of 24 and more): the exact kernel with left-shift rows (tg_conv2d_dspl_s8).
    ties: power-of-two scales with effective scales of exactly 0.5 / 0.75 / 1 / 1.5 (and 0.375 on right shifts), so that many accumulators
    land on SaturatingRoundingDoublingHighMul's rounding ties."""
    m = ModelBuilder()
    b = int(rng.choice([1, 2]))
    h, w = int(rng.integers(2, 7)), int(rng.integers(2, 7))
    c = int(rng.choice([3, 8, 16, 67])) if not one_by_one else int(rng.choice([8, 32, 64]))
    kh, kw = (1, 1) if one_by_one else (3, 3)
    padding = "VALID" if one_by_one else str(rng.choice(["SAME", "VALID"]))
    h, w = max(h, kh), max(w, kw)
    oc = int(rng.choice([6, 9, 16]))
    kind = rng.integers(0, 3, size=oc)  # 0: left shift, 1: right shift, 2: dead
    kind[:3] = [0, 1, 2]
    wd = np.clip(np.round(rng.normal(0, 45, size=(oc, kh, kw, c))), -127, 127).astype(np.int64)
    for o in np.flatnonzero(kind == 0):  # 1 or 2 taps of +-1: outputs of all sizes, not only saturated ones
        wd[o] = 0
        wd[o].flat[rng.choice(wd[o].size, size=int(rng.integers(1, 3)), replace=False)] = rng.choice([-1, 1], size=2)[:1]
    if ties:
        in_scale, out_scale = 2.0 ** -6, 2.0 ** -12
        eff = np.where(kind == 0, rng.choice([0.75, 1.5, 0.5, 1.0], size=oc), rng.choice([0.375, 0.0234375], size=oc))
        eff = np.where(kind == 2, 2.0 ** -26, eff)
    else:
        in_scale, out_scale = float(rng.uniform(0.01, 0.1)), float(rng.uniform(0.01, 0.1))
        eff = np.where(kind == 0, rng.uniform(0.5, 4, size=oc), rng.uniform(0.0005, 0.49, size=oc))
        eff[0] = 32.0  # and one large left shift
        eff = np.where(kind == 2, rng.uniform(1e-9, 1e-7, size=oc), eff)
    ws = eff * out_scale / in_scale
    x = m.tensor([b, h, w, c], scale=in_scale, zero_point=_zp(rng))
    wt = m.tensor(wd.shape, data=wd, scale=ws, zero_point=0, axis=0)
    bias = np.where(rng.random(oc) < 0.25, rng.integers(-(1 << 30), 1 << 30, size=oc), rng.integers(-200, 200, size=oc))
    bias[2] = 1 << 30  # the dead channel's bias defeats the shortcut's bound
    bt = m.tensor([oc], dtype=np.int32, data=bias, scale=in_scale * ws)
    oh, ow = (h, w) if padding == "SAME" else (h - kh + 1, w - kw + 1)
    y = m.tensor([b, oh, ow, oc], scale=out_scale, zero_point=int(rng.choice([-128, -20, 0, 37])))
    m.op("CONV_2D", [x, wt, bt], [y], padding=padding, stride_h=1, stride_w=1,
         fused_activation_function=str(rng.choice(["NONE", "NONE", "RELU"])))
    return m.build([x], [y])


def left_shift_fc(rng, ties: bool = False) -> bytes:
    """FULLY_CONNECTED whose SMMULR shortcut is not provable (a unit with a bias near 2^30) with units of every
    kind, as left_shift_conv: effective scale >= 0.5 (left shifts up to 2^5; one or two weights of +-1, biases
    near 2^30 on some, so that the shifted accumulator wraps), right shifts, dead units: the exact kernel with
    left-shift rows (tg_fc_dspl_s8). Per-channel or per-tensor (one left-shift row for every unit), 4-16
    units (a partial last block of 4), depths with a tail (depth % 4), batches. ties: power-of-two scales
    with effective scales of exactly 0.5 / 0.75 / 1 / 1.5 (rounding ties)."""
    m = ModelBuilder()
    rows = int(rng.choice([1, 2, 3]))
    k = int(rng.choice([5, 16, 64, 67, 130]))
    units = int(rng.choice([4, 6, 9, 16]))
    per_channel = bool(rng.random() < 0.75)
    kind = rng.integers(0, 3, size=units) if per_channel else np.zeros(units, dtype=np.int64)
    if per_channel:
        kind[:3] = [0, 1, 2]
    wd = np.clip(np.round(rng.normal(0, 45, size=(units, k))), -127, 127).astype(np.int64)
    for u in np.flatnonzero(kind == 0):  # 1 or 2 weights of +-1: outputs of all sizes, not only saturated ones
        wd[u] = 0
        wd[u, rng.choice(k, size=int(rng.integers(1, 3)), replace=False)] = rng.choice([-1, 1])
    if ties:
        in_scale, out_scale = 2.0 ** -6, 2.0 ** -12
        eff = np.where(kind == 0, rng.choice([0.75, 1.5, 0.5, 1.0], size=units), rng.choice([0.375, 0.0234375], size=units))
        eff = np.where(kind == 2, 2.0 ** -26, eff)
    else:
        in_scale, out_scale = float(rng.uniform(0.01, 0.1)), float(rng.uniform(0.01, 0.1))
        eff = np.where(kind == 0, rng.uniform(0.5, 4, size=units), rng.uniform(0.0005, 0.49, size=units))
        eff[0] = 32.0 if per_channel else float(rng.uniform(0.5, 4))
        eff = np.where(kind == 2, rng.uniform(1e-9, 1e-7, size=units), eff)
    ws = eff * out_scale / in_scale
    x = m.tensor([rows, k], scale=in_scale, zero_point=_zp(rng))
    wt = m.tensor([units, k], data=wd, scale=ws if per_channel else float(ws[0]), zero_point=0)
    bias = np.where(rng.random(units) < 0.25, rng.integers(-(1 << 30), 1 << 30, size=units),
                    rng.integers(-200, 200, size=units))
    bias[min(2, units - 1)] = 1 << 30  # defeats the shortcut's bound
    bt = m.tensor([units], dtype=np.int32, data=bias, scale=in_scale * (ws if per_channel else np.full(units, ws[0])))
    y = m.tensor([rows, units], scale=out_scale, zero_point=int(rng.choice([-128, -20, 0, 37])))
    m.op("FULLY_CONNECTED", [x, wt, bt], [y], fused_activation_function=str(rng.choice(["NONE", "NONE", "RELU"])))
    return m.build([x], [y])


def conv_pack_edge_model(rng, cin: int, packed: bool) -> bytes:
    """1x1 CONV_2D at the edge of the packed channel pairs' bound (tg_conv2d_dspp_s8: every channel's
    128 * sum |w| < 2^23): 3 output channels (an odd count: the extra pair block), the odd ones all 127 or all
    -127 over cin inputs, so that the all -128 / all 127 samples reach |sum| = 128 * 127 * cin: just below 2^23
    for cin = 516 (packed), beyond it for cin = 520 (one row per channel)."""
    m = ModelBuilder()
    in_scale, w_scale = 0.02, 0.004
    x = m.tensor([1, 2, 1, cin], scale=in_scale, zero_point=0)
    wd = np.stack([rng.integers(-127, 128, size=cin), np.full(cin, 127), np.full(cin, -127)]).reshape(3, 1, 1, cin)
    wt = m.tensor(wd.shape, data=wd, scale=w_scale, zero_point=0, axis=0)
    b = m.tensor([3], dtype=np.int32, data=rng.integers(-3000, 3000, size=3), scale=in_scale * w_scale)
    y = m.tensor([1, 2, 1, 3], scale=in_scale * w_scale * 128 * 127 * cin / 120, zero_point=0)
    m.op("CONV_2D", [x, wt, b], [y], padding="VALID", stride_h=1, stride_w=1)
    assert packed == (128 * 127 * cin < (1 << 23))
    return m.build([x], [y])


def random_add(rng, broadcast: bool = False) -> bytes:
    """ADD / SUB of two int8 tensors (same shape: the DSP path; broadcast: the C99 loop)."""
    m = ModelBuilder()
    shape = [1, int(rng.integers(1, 6)), int(rng.integers(1, 9)), int(rng.choice([1, 3, 4, 16, 33]))]
    shape1 = [1, 1, 1, shape[3]] if broadcast else shape
    s0, s1 = float(rng.uniform(0.01, 0.2)), float(rng.uniform(0.01, 0.2))
    so = max(s0, s1) * float(rng.uniform(0.6, 4.0))
    a = m.tensor(shape, scale=s0, zero_point=_zp(rng))
    b = m.tensor(shape1, scale=s1, zero_point=_zp(rng))
    y = m.tensor(shape, scale=so, zero_point=_zp(rng))
    m.op(str(rng.choice(["ADD", "SUB"])), [a, b], [y], fused_activation_function=str(rng.choice(["NONE", "RELU", "RELU6"])))
    return m.build([a, b], [y])


def random_models(seed: int = 77) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    makers = ([("conv", lambda: random_conv(rng, False))] * 16 + [("conv1x1", lambda: random_conv(rng, False, True))] * 8
              + [("dw", lambda: random_conv(rng, True))] * 20 + [("fc", lambda: random_fc(rng))] * 12
              + [("conv_trained", lambda: random_conv(rng, False, trained=True))] * 3
              + [("conv1x1_trained", lambda: random_conv(rng, False, True, trained=True))] * 3
              + [("fc_trained", lambda: random_fc(rng, trained=True))] * 3
              + [("conv_bigbias", lambda: random_conv(rng, False, huge_bias=True)),
                 ("dw_bigbias", lambda: random_conv(rng, True, huge_bias=True)),
                 ("fc_bigbias", lambda: random_fc(rng, huge_bias=True))]
              + [("add", lambda: random_add(rng))] * 8 + [("add_bcast", lambda: random_add(rng, True))] * 2
              + [("fc_pairs_edge", lambda: fc_pairs_model(rng, 512, 6, True)),
                 ("fc_unpaired", lambda: fc_pairs_model(rng, 1101, 5, False))]
              + [("conv_left", lambda: left_shift_conv(rng, False))] * 3
              + [("conv1x1_left", lambda: left_shift_conv(rng, True))] * 2
              + [("conv_left_ties", lambda: left_shift_conv(rng, bool(rng.random() < 0.5), ties=True))] * 3
              + [("conv_pack_edge", lambda: conv_pack_edge_model(rng, 516, True)),
                 ("conv_pack_over", lambda: conv_pack_edge_model(rng, 520, False))]
              + [("fcl", lambda: left_shift_fc(rng))] * 5 + [("fcl_ties", lambda: left_shift_fc(rng, True))] * 3)
    out = {}
    for i, (kind, make) in enumerate(makers):
        name = f"{kind}_{i}"
        try:
            g = parse_model(make(), name=name)
            from tinygen.ops import check_graph

            check_graph(g)
        except UnsupportedOpError:
            continue
        out[name] = g
    return out


def test_random_conv_dw_fc_dsp_and_portable_bit_exact(tmp_path):
    from tinygen.boards.mcu_run import build_models

    graphs = random_models()
    assert len(graphs) >= 45
    rng = np.random.default_rng(5)
    xs = {name: samples(g, rng, 3) for name, g in graphs.items()}
    # optimize="speed": these small layers keep their DSP kernels even where the im2col scratch exceeds the
    # default arena target (the default build would give some the C99 kernel, which the portable build covers)
    dsp = build_models(BOARD, graphs, xs, tmp_path / "dsp", optimize="speed")
    port = build_models(BOARD, graphs, xs, tmp_path / "portable", portable=True, generated=dsp.generated)
    flags = {n: dsp_flags(dsp.generated[n]) for n in graphs if not n.startswith("add")}
    on = [n for n, f in flags.items() if f in ([1], [2])]
    assert len(on) >= 0.8 * len(flags), f"DSP path on for only {len(on)} of {len(flags)} models"
    shortcut = [n for n, f in flags.items() if f == [1]]
    exact = [n for n, f in flags.items() if f == [2]]
    assert len(shortcut) >= 20 and len(exact) >= 8, (shortcut, exact)  # both requantizations run
    # layers that defeat the shortcut take the exact DSP requantization
    from tinygen.ops import REGISTRY

    for n, g in graphs.items():  # no FULLY_CONNECTED needs scratch (the DSP kernel reads int8 directly)
        if n.startswith("fc"):
            op = g.operators[0]
            assert REGISTRY[op.op].scratch_bytes(REGISTRY[op.op].prepare(g, op)) == 0
    trained = {n: f for n, f in flags.items() if "trained" in n}
    assert all(f in ([1], [2]) for f in trained.values()) and sum(f == [2] for f in trained.values()) >= 6, trained
    assert all(flags[n] == [1] for n in flags if n.startswith("dw"))  # every depthwise op on its DSP kernel
    # both weight layouts of tg_fc_s8: paired (3 instructions per 4 MACs) and, past its bound, unpaired
    pairs = {n: re.findall(r"\.pairs = (\d)", dsp.generated[n].c_file.read_text()) for n in graphs if n.startswith("fc")}
    assert pairs["fc_pairs_edge_78"] == ["1"] and pairs["fc_unpaired_79"] == ["0"], pairs
    assert sum(v == ["1"] for v in pairs.values()) >= 10, pairs
    # each layout its own entry point (a firmware links only the block kernel its ops use)
    for n, v in pairs.items():
        text = dsp.generated[n].c_file.read_text()
        if "tg_fc_dot_s8(" not in text and "tg_fc_dspl_s8(" not in text:
            assert ("tg_fc_p_s8(" if v == ["1"] else "tg_fc_s8(") in text, (n, v)
    # the driver's entries, general or smaller (conv_model_driver: tg_conv2d_dsp*4_s8 without staging code for
    # in_c % 4 == 0, tg_conv2d_dsp*1_s8 the matrix product alone for 1x1 filters at stride 1)
    entry = {n: [f"{e}_s8" for e in re.findall(r"(tg_conv2d_dsp[pl]?)[14]?_s8\(", dsp.generated[n].c_file.read_text())]
             for n in graphs if n.startswith("conv")}
    left = [n for n in graphs if "_left" in n]  # left-shifted channels: the exact kernel's variant for them
    assert len(left) == 8 and all(flags[n] == [2] and entry[n] == ["tg_conv2d_dspl_s8"] for n in left), \
        {n: flags[n] for n in left}
    # FULLY_CONNECTED with left-shifted units: the exact DSP kernel with left-shift rows (tg_fc_dspl_s8)
    fcl = [n for n in graphs if n.startswith("fcl")]
    assert len(fcl) == 8 and all(flags[n] == [2] and "tg_fc_dspl_s8(" in dsp.generated[n].c_file.read_text()
                                 for n in fcl), {n: flags[n] for n in fcl}
    only4 = [n for n in entry if re.search(r"tg_conv2d_dsp[pl]?4_s8\(", dsp.generated[n].c_file.read_text())]
    only1 = [n for n in entry if re.search(r"tg_conv2d_dsp[pl]?1_s8\(", dsp.generated[n].c_file.read_text())]
    assert len(only4) >= 5 and len(only1) >= 3, (only4, only1)
    # packed channel pairs (tg_conv2d_dspp_s8) and one row per channel (tg_conv2d_dsp_s8) both run, at the bound
    packed = [n for n, e in entry.items() if e == ["tg_conv2d_dspp_s8"]]
    rows = [n for n, e in entry.items() if e == ["tg_conv2d_dsp_s8"]]
    assert len(packed) >= 15 and len(rows) >= 4, entry
    assert entry["conv_pack_edge_88"] == ["tg_conv2d_dspp_s8"] and entry["conv_pack_over_89"] == ["tg_conv2d_dsp_s8"]
    adds = [n for n in graphs if n.startswith("add_") and dsp_flags(dsp.generated[n]) == [1]]
    assert len(adds) >= 6, adds
    check_builds(graphs, xs, dsp, port)


NARROW_SHAPES = [  # (k_h, k_w, in_c): the narrow kernel's geometries (tg_conv2d_dspn{2,4,6,8}_s8)
    (1, 1, 4), (1, 1, 8), (1, 1, 1), (1, 1, 2), (1, 1, 3), (1, 1, 5), (1, 1, 12), (3, 3, 1), (3, 1, 1), (2, 2, 2),
    (3, 4, 1), (1, 3, 3), (2, 1, 3), (1, 5, 2), (1, 1, 16), (1, 1, 13), (1, 4, 4), (1, 2, 7),
]


def random_narrow_conv(rng, k_h: int, k_w: int, cin: int, ties: bool = False) -> bytes:
    """A CONV_2D with few taps per output (the narrow kernel): odd widths, SAME / VALID padding, strides 1-2,
    4-24 output channels, extreme zero points, activations, some dead channels (all-zero weights, bias only),
    an output scale that keeps most outputs inside the int8 range; with `ties`, small weights and an effective
    scale of exactly 2^-1 .. 2^-3, so that RoundingDivideByPOT meets exact halves (rounding ties) often."""
    m = ModelBuilder()
    b = int(rng.choice([1, 1, 2]))
    h, w = int(rng.integers(1, 9)), int(rng.integers(1, 12)) | 1
    padding = str(rng.choice(["SAME", "VALID"]))
    sh, sw = int(rng.choice([1, 1, 2])), int(rng.choice([1, 1, 2]))
    if padding == "VALID":
        h, w = max(h, k_h), max(w, k_w)
    in_scale = 1.0 / 8 if ties else float(rng.uniform(0.01, 0.1))
    x = m.tensor([b, h, w, cin], scale=in_scale, zero_point=_zp(rng))
    oc = int(rng.choice([4, 8, 8, 12, 24]))
    wd = rng.integers(-4, 5, size=(oc, k_h, k_w, cin)) if ties else rng.integers(-127, 128, size=(oc, k_h, k_w, cin))
    dead = rng.random(oc) < 0.15
    wd[dead] = 0
    if ties:
        ws = np.full(oc, 1.0 / 64)
    else:
        ws = rng.uniform(0.002, 0.03, size=oc) if rng.random() < 0.7 else np.full(oc, float(rng.uniform(0.002, 0.03)))
    wt = m.tensor(wd.shape, data=wd, scale=ws, zero_point=0, axis=0)
    lim = 300 if ties else 6000
    bt = m.tensor([oc], dtype=np.int32, data=rng.integers(-lim, lim, size=oc), scale=in_scale * ws)
    oh = -(-h // sh) if padding == "SAME" else (h - k_h) // sh + 1
    ow = -(-w // sw) if padding == "SAME" else (w - k_w) // sw + 1
    taps = k_h * k_w * cin
    if ties:  # effective scale in_scale * w_scale / out_scale = 2^-e exactly
        out_scale = in_scale * ws[0] * float(2 ** int(rng.integers(1, 4)))
    else:  # the accumulator's spread for random inputs (~74 * 73 * sqrt(taps)) over about +-3 sigma of int8
        out_scale = float(np.sqrt(taps) * 74 * 73 * np.mean(ws) * in_scale / 45) * float(rng.uniform(0.5, 2))
    y = m.tensor([b, oh, ow, oc], scale=out_scale, zero_point=_zp(rng))
    act = str(rng.choice(["NONE", "NONE", "RELU", "RELU6", "RELU_N1_TO_1"], p=[0.35, 0.2, 0.25, 0.1, 0.1]))
    m.op("CONV_2D", [x, wt, bt], [y], padding=padding, stride_h=sh, stride_w=sw, fused_activation_function=act)
    return m.build([x], [y])


def narrow_models(seed: int = 1010) -> dict[str, object]:
    from tinygen.ops import check_graph

    rng = np.random.default_rng(seed)
    out = {}
    for i, (kh, kw, cin) in enumerate(NARROW_SHAPES * 2):
        name = f"narrow_{kh}x{kw}x{cin}_{i}"
        g = parse_model(random_narrow_conv(rng, kh, kw, cin, ties=i % 3 == 2), name=name)
        check_graph(g)
        out[name] = g
    return out


def test_narrow_conv_dsp_and_portable_bit_exact(tmp_path):
    """CONV_2D with few taps per output (1x1 with 1-16 input channels, 3x3 / 3x1 / 2x2 / 3x4 over 1-2 channel
    images, 1x3 / 1x4 / 1x5 rows, ...) takes the narrow kernel (tg_conv2d_dspn{2,4,6,8}_s8: taps widened once per pixel, 4-instruction
    SMMLAR requantization, no scratch); the DSP build and the C99 build (-DTG_PORTABLE, same records) both
    equal the emulator on random and edge inputs, with padding, strides, odd widths, dead channels and
    rounding ties."""
    from tinygen.boards.mcu_run import build_models
    from tinygen.ops import REGISTRY

    graphs = narrow_models()
    rng = np.random.default_rng(6)
    xs = {name: samples(g, rng, 3) for name, g in graphs.items()}
    dsp = build_models(BOARD, graphs, xs, tmp_path / "dsp")
    port = build_models(BOARD, graphs, xs, tmp_path / "portable", portable=True, generated=dsp.generated)
    entry = {n: re.findall(r"(tg_conv2d_\w+_s8)\(", dsp.generated[n].c_file.read_text()) for n in graphs}
    narrow = [n for n, e in entry.items() if len(e) == 1 and e[0].startswith("tg_conv2d_dspn")]
    assert {e[0] for n in narrow for e in [entry[n]]} == {f"tg_conv2d_dspn{k}_s8" for k in (2, 4, 6, 8)}
    assert len(narrow) >= 0.8 * len(graphs), entry
    for n in narrow:
        g = graphs[n]
        op = g.operators[0]
        assert REGISTRY[op.op].scratch_bytes(REGISTRY[op.op].prepare(g, op)) == 0
    check_builds(graphs, xs, dsp, port)


def dw_pair_chain(rng, strides: tuple[int, ...] = (1, 2), hw: tuple[int, int] | None = None,
                  upper: bool = False) -> bytes:
    """Two 3x3 depthwise layers: one at stride 1 (the pair kernel's; 80 % of the MACs) then a small one at
    stride 2 (2-7 output columns) that the pair kernel runs too, because the model needs no SMLABB ring
    kernel (conv.dw_model_pairs): small widths, odd and even, on the pair kernel. strides (1, 2, 1): then a
    narrow stride-1 layer (rows of 2-7 pixels: odd ones end with the pixel-A pass). `hw`: the input's. `upper`:
    the last layer's activation is RELU6 on output zero point -128 (the clamp of the upper bound only)."""
    m = ModelBuilder()
    c = int(rng.choice([4, 8, 16]))
    h, w = hw if hw else (int(rng.integers(4, 15)), int(rng.integers(4, 15)))
    x = m.tensor([1, h, w, c], scale=0.05, zero_point=_zp(rng))
    cur, cur_hw = x, (h, w)
    for li, stride in enumerate(strides):
        wd = rng.integers(-127, 128, size=(1, 3, 3, c))
        ws = _q_scales(rng, c, True)
        wt = m.tensor(wd.shape, data=wd, scale=ws, zero_point=0, axis=3)
        b = m.tensor([c], dtype=np.int32, data=rng.integers(-5000, 5000, size=c), scale=0.05 * np.atleast_1d(ws))
        oh, ow = -(-cur_hw[0] // stride), -(-cur_hw[1] // stride)
        scale, zp, act = float(rng.uniform(0.02, 0.2)), _zp(rng), str(rng.choice(["NONE", "RELU6"]))
        if upper and li == len(strides) - 1:
            scale, zp, act = 0.05, -128, "RELU6"
        y = m.tensor([1, oh, ow, c], scale=scale, zero_point=zp)
        m.op("DEPTHWISE_CONV_2D", [cur, wt, b], [y], padding="SAME", stride_h=stride, stride_w=stride,
             dilation_h_factor=1, dilation_w_factor=1, depth_multiplier=1, fused_activation_function=act)
        cur, cur_hw = y, (oh, ow)
    return m.build([x], [cur])


def random_dw_models(seed: int = 91, n: int = 36) -> dict[str, object]:
    from tinygen.ops import check_graph
    from tinygen.ops.conv import DW_PAIR_SMMLAR, DepthwiseConv2D, dw_geometry, dw_pair_blocks, dw_transposed

    rng = np.random.default_rng(seed)
    out = {}
    for i in range(n):
        name = f"dw{'_trained' if i % 2 else ''}_{i}"
        try:
            g = parse_model(random_dw(rng, trained=bool(i % 2), temporal=i % 6 == 5, dm=(1, 2, 8, 1, 3, 1, 1)[i % 7]),
                            name=name)
            check_graph(g)
        except UnsupportedOpError:
            continue
        out[name] = g
    for i in range(10):  # the 3x3 pair kernel: odd and even widths, partial groups, trained-like rows
        name = f"dw3x3{'_trained' if i % 2 else ''}_{i}"
        g = parse_model(random_dw(rng, trained=bool(i % 2), dm=1, k33=1), name=name)
        check_graph(g)
        out[name] = g
    for i in range(4):  # ... biases near the SMMLAR bound (groups on SMLAL with the zero point folded)
        name = f"dw3x3big_{i}"
        g = parse_model(random_dw(rng, dm=1, k33=1 + i % 2, big_bias=True), name=name)
        check_graph(g)
        out[name] = g
    for i in range(4):  # ... channels with left shifts (redone in C: tg_dwconv_p3l_s8), stride 1, 2, transposed
        name = f"dw3x3left_{i}"
        g = parse_model(random_dw(rng, trained=True, dm=1, k33=(1, 2, 3, 1)[i], left=1), name=name)
        check_graph(g)
        out[name] = g
    for i in range(2):  # ... and in a partial group: the SMLABB ring kernel, those channels redone in C
        name = f"dw3x3leftring_{i}"
        g = parse_model(random_dw(rng, trained=True, dm=1, k33=1 + i, left=2), name=name)
        check_graph(g)
        out[name] = g
    for i in range(6):  # ... stride 2 along the row
        name = f"dw3x3s2{'_trained' if i % 2 else ''}_{i}"
        g = parse_model(random_dw(rng, trained=bool(i % 2), dm=1, k33=2), name=name)
        check_graph(g)
        out[name] = g
    for i in range(6):  # ... small layers after a wide one (no ring kernel in the model)
        name = f"dw3x3chain_{i}"
        g = parse_model(dw_pair_chain(rng), name=name)
        check_graph(g)
        out[name] = g
    for i in range(4):  # ... and narrow stride-1 layers after them (rows of 2-7 pixels, 2, 3 and 7 among them;
        # the last from its own generator: the models after these stay as they were)
        name = f"dw3x3chain1_{i}"
        g = parse_model(dw_pair_chain(rng if i < 3 else np.random.default_rng(seed + 1),
                                      ((1, 1, 2, 1), (1, 2, 1), (1, 2, 1), (1, 1, 2, 1))[i],
                                      ((6, 6), (10, 13), None, (4, 4))[i]), name=name)
        check_graph(g)
        out[name] = g
    for i in range(12):  # the register kernel: 3x3, depth multiplier 2-3, partial groups, trained-like rows
        name = f"dwreg{'_trained' if i % 2 else ''}_{i}"
        g = parse_model(random_dw(rng, trained=bool(i % 2), dm=(2, 2, 3)[i % 3], k33=5), name=name)
        check_graph(g)
        out[name] = g
    for i in range(10):  # ... transposed: narrow rows, long columns (stride 1 or 2 along the column)
        name = f"dw3x3t{'_trained' if i % 2 else ''}_{i}"
        g = parse_model(random_dw(rng, trained=bool(i % 2), dm=1, k33=3 + (i % 4 >= 2)), name=name)
        check_graph(g)
        out[name] = g
    for i in range(4):  # pair kernel, left shifts: too long for its SMMLAR groups (C fix-up), stride 1 and 2
        name = f"dw3x3leftc_{i}"
        g = parse_model(random_dw(rng, trained=True, dm=1, k33=1 + i % 2, left=3), name=name)
        check_graph(g)
        out[name] = g
    for i in range(4):  # ... accumulators of one sign (4-instruction SMMLAR groups), stride 1, 2, transposed
        name = f"dw3x3leftsign_{i}"
        g = parse_model(random_dw(rng, trained=True, dm=1, k33=(1, 2, 3, 1)[i], left=4), name=name)
        check_graph(g)
        out[name] = g
    for i in range(12):  # the k x k pair kernel: 5x5 and 7x7, stride 1 and 2, rows of 1-20 pixels
        name = f"dwkk_{i}"
        g = parse_model(random_dw(rng, dm=1, kk=(5, 7)[i % 2], big_bias=i >= 10), name=name)
        check_graph(g)
        out[name] = g
    k1 = np.random.default_rng(seed + 7)  # (its own generator: the models before stay as they were)
    for i in range(16):  # ... and one-dimensional filters: temporal k x 1 (as one row) and 1 x k, 5-9 taps
        name = f"dwk1d_{i}"
        g = parse_model(random_dw(k1, dm=1, k1d=("col", "row")[i % 2], trained=i % 4 == 3), name=name)
        check_graph(g)
        out[name] = g
    for i in range(4):  # pair kernel, dead channels that are not constant: SMLAL groups, stride 1 and 2
        name = f"dw3x3deadstep_{i}"
        g = parse_model(random_dw_dead_steps(rng, 1 + i % 2, folded=i < 2, left=i == 0), name=name)
        check_graph(g)
        out[name] = g
    mix = np.random.default_rng(seed + 5)  # odd rows at stride 1 (not transposed: fewer passes along them) with
    # SMMLAR groups next to others (one-sign left shifts): its own generator, a few draws
    for _ in range(100):
        g = parse_model(random_dw(mix, trained=True, dm=1, k33=1, left=4), name="dw3x3mix")
        check_graph(g)
        p = DepthwiseConv2D().prepare(g, g.operators[0])
        mode = dw_pair_blocks(p)[:, 48]
        if (p.pair_kernel and dw_geometry(p)["out_w"] % 2 and dw_geometry(p)["out_w"] > 3 and not dw_transposed(p)
                and (mode == DW_PAIR_SMMLAR).any() and (mode != DW_PAIR_SMMLAR).any()):
            out["dw3x3mix"] = g
            break
    for i, hw in enumerate([(9, 9), (12, 11)]):  # the 2-pixel pass at stride 2 with the upper bound's clamp only
        # (odd and even rows; their own generator: the models before stay as they were)
        name = f"dw3x3upper_{i}"
        g = parse_model(dw_pair_chain(np.random.default_rng(seed + 2 + i), (1, 2), hw, upper=True), name=name)
        check_graph(g)
        out[name] = g
    return out


def test_random_depthwise_dsp_and_portable_bit_exact(tmp_path):
    from tinygen.ops.conv import DepthwiseConv2D, dw_pair_blocks

    """DEPTHWISE_CONV_2D with depth multipliers 1/2/3/8, filters 1x1 .. 10x8, strides, dilations and
    trained-like weights (dead channels, long right shifts, left shifts): every op runs the DSP kernel
    and both builds equal the emulator."""
    from tinygen.boards.mcu_run import build_models, run_models

    graphs = random_dw_models()
    assert len(graphs) >= 30
    dms = {g.operators[0].options["depth_multiplier"] for g in graphs.values()}
    assert {1, 2, 8} <= dms, dms
    rng = np.random.default_rng(6)
    xs = {name: samples(g, rng, 2) for name, g in graphs.items()}
    dsp = build_models(BOARD, graphs, xs, tmp_path / "dsp")
    assert all(set(dsp_flags(dsp.generated[n])) == {1} for n in graphs)
    # the 3x3 pair kernel (tg_dwconv_p3_s8) is among them, trained-like and not, odd and even widths
    pairs = [n for n in graphs if "tg_dwconv_p3_s8(" in dsp.generated[n].c_file.read_text()]
    assert len(pairs) >= 5, pairs
    # ... and with channels whose effective scale is >= 0.5 (left shifts) beyond the SMMLAR groups' bound (redone
    # in C row by row: tg_dwconv_p3l_s8), stride 1 and 2
    left = [n for n in graphs if "tg_dwconv_p3l_s8(" in dsp.generated[n].c_file.read_text()]
    assert len(left) >= 2 and {graphs[n].operators[0].options["stride_w"] for n in left} == {1, 2}, left
    # ... and with SMLAL groups or left-shift channels whose accumulator takes either sign in flagged SMMLAR groups
    # (the entry point that links tg_dw_rq_other), stride 1 and 2
    flagged = [n for n in graphs if "tg_dwconv_p3x_s8(" in dsp.generated[n].c_file.read_text()]
    assert {graphs[n].operators[0].options["stride_w"] for n in flagged} == {1, 2}, flagged
    # stride 2 along the row: the 2-pixel pass (tg_dwconv_p3_s8, rows whose output width is not a multiple of 4)
    # and the stride-2 kernel (tg_dwconv_p3s2_s8, test_depthwise_stride2_pair_kernel_bit_exact)
    from tinygen.ops.conv import dw_geometry as _geo

    def _s2(n):
        return _geo(DepthwiseConv2D().prepare(graphs[n], graphs[n].operators[0]))["stride_w"] == 2

    s2 = [n for n in pairs + left + flagged if _s2(n)]
    assert len(s2) >= 2, s2
    # ... and transposed (rows of 2-7 pixels: the kernel walks the columns), stride 1 and 2
    tr = {n: dsp.generated[n].c_file.read_text() for n in graphs if "w_row = -2," in dsp.generated[n].c_file.read_text()}
    assert len(tr) >= 4 and any(_s2(n) for n in tr), sorted(tr)
    # ... with groups of all three requantizations (mode word 48): SMMLAR on doubled accumulators (stride 1
    # and 2), SMLAL with the output zero point folded into the rows (biases near the SMMLAR bound) and SMLAL
    # adding it (rows with rm1 > 22); odd widths
    # ... left-shift channels in SMMLAR groups (accumulators scaled by 2^(L+1)): of one sign (4 instructions) and
    # of either sign (flagged groups, DW_PAIR_SMMLAR_FLAG), stride 1 and 2, and in SMLAL groups (C fix-up)
    from tinygen.ops.conv import DW_PAIR_SMMLAR, DW_PAIR_SMMLAR_FLAG, dw_geometry, dw_kernel, dw_kpairs, dw_pair2, dw_transposed

    kinds = set()
    for n in pairs + s2 + left + flagged + list(tr):
        op = graphs[n].operators[0]
        p = DepthwiseConv2D().prepare(graphs[n], op)
        blocks = dw_pair_blocks(p)
        mode = blocks[:, 48]
        s = "s2" if dw_geometry(p)["stride_w"] == 2 else "s1"
        lch = ((np.asarray(p.multiplier).reshape(-1) != 0) & (np.asarray(p.shift).reshape(-1) >= 0)).reshape(-1, 4)
        kinds |= {f"smmlar {s}"} if (mode == DW_PAIR_SMMLAR).any() else set()
        kinds |= {f"smmlar left {s}"} if lch[mode == DW_PAIR_SMMLAR].any() else set()
        kinds |= {f"flagged left {s}"} if lch[mode == DW_PAIR_SMMLAR_FLAG].any() else set()
        kinds |= {f"left in C {s}"} if (blocks[:, 32:48].reshape(-1, 4, 4)[..., 3] < 0).any() else set()
        kinds |= {"smlal folded"} if (mode == 0).any() else set()
        kinds |= {"smlal zp added"} if ((mode != 0) & (mode < DW_PAIR_SMMLAR)).any() else set()
        kinds |= {"odd"} if p.output_shape[2] % 2 else set()
    # odd rows (>= 3 pixels) at stride 1 end with the pixel-A pass (tg_dw3x3_pairs flags bit 3), after
    # every requantization, with left-shift channels, narrow (3-7) and long, transposed (rows = columns)
    for n in graphs:
        for op in graphs[n].operators:
            p = DepthwiseConv2D().prepare(graphs[n], op)
            if (not p.pair_kernel or dw_kpairs(p) or dw_geometry(p)["stride_w"] != 1
                    or dw_geometry(p)["out_w"] % 2 == 0):
                continue
            row, mode = dw_geometry(p)["out_w"], dw_pair_blocks(p)[:, 48]
            kinds |= {"odd s1 smmlar"} if (mode == DW_PAIR_SMMLAR).any() else set()
            kinds |= {"odd s1 flagged"} if (mode == DW_PAIR_SMMLAR_FLAG).any() else set()
            kinds |= {"odd s1 smlal"} if (mode < DW_PAIR_SMMLAR).any() else set()
            kinds |= {"odd s1 left"} if dw_kernel(p) == "tg_dwconv_p3l_s8" else set()
            kinds |= {"odd s1 3"} if row == 3 else {"odd s1 5-7"} if row <= 7 else {"odd s1 long"}
            kinds |= {"odd s1 transposed"} if p.pair_kernel and dw_transposed(p) else set()
            # every group SMMLAR (tg_dwconv_p3_s8: the pixel-A pass requantizes pixel A only), and SMMLAR groups
            # next to others (their pixel-A pass through the group's requantization)
            kinds |= {"odd s1 every group smmlar"} if dw_kernel(p) == "tg_dwconv_p3_s8" else set()
            kinds |= {"odd s1 smmlar next to others"} if (
                (mode == DW_PAIR_SMMLAR).any() and (mode != DW_PAIR_SMMLAR).any()) else set()
    assert kinds == {"smmlar s1", "smmlar s2", "smlal folded", "smlal zp added", "odd", "smmlar left s1",
                     "smmlar left s2", "flagged left s1", "flagged left s2", "left in C s1", "left in C s2",
                     "odd s1 smmlar", "odd s1 flagged", "odd s1 smlal", "odd s1 left", "odd s1 3", "odd s1 5-7",
                     "odd s1 long", "odd s1 transposed", "odd s1 every group smmlar",
                     "odd s1 smmlar next to others"}, kinds
    # ... whose ring rows (tg_dw_load_pairs, tg_dw_widen_row) widen runs of every length mod 4 (the 4-pair loop
    # entered at n % 4) and none (rows of 2), a padded edge pair on the left (input_zp, pixel), on the right
    # (pixel, input_zp) and (input_zp, input_zp) pairs (one: more in the k x k pair kernel's rows, its test); at
    # stride 2, rows of out_w + 1 pairs (an odd row's last pixel by the pixel-A pass reads pairs out_w - 1, out_w)
    runs = set()
    for n in graphs:
        for op in graphs[n].operators:
            p = DepthwiseConv2D().prepare(graphs[n], op)
            if not p.pair_kernel or dw_kpairs(p) or dw_pair2(p):
                continue
            geo = dw_geometry(p)
            ow, iw, pl, sw = geo["out_w"], geo["in_w"], geo["pad_left"], geo["stride_w"]
            npairs = (ow + 1) // 2 + 1 if sw == 1 else ow + 1
            q1 = min((iw + pl) // 2, npairs)
            q0 = min((pl + 1) // 2, q1)
            r1 = q1 < npairs and 2 * q1 - pl < iw
            runs |= {f"run {(q1 - q0) % 4}" if q1 > q0 else "run none"}
            runs |= {"left edge"} if q0 > 0 else set()
            runs |= {"right (pixel, zp)"} if r1 else set()
            runs |= {f"right (zp, zp) x{npairs - q1 - r1}"} if npairs - q1 - r1 > 0 else set()
            runs |= {f"s2 {'odd' if ow % 2 else 'even'}"} if sw == 2 else set()
            # tg_dw3x3_pairs has one copy of the clamp and store per stride (each loops straight back to its
            # pass): every clamp at both strides
            if dw_kernel(p) in ("tg_dwconv_p3_s8", "tg_dwconv_p3l_s8", "tg_dwconv_p3x_s8", "tg_dwconv_p3q_s8"):
                clamp = ("none" if (p.act_min, p.act_max) == (-128, 127) else "upper" if p.act_min == -128
                         else "lower" if p.act_max == 127 else "both")
                runs |= {f"clamp {clamp} s{sw}"}
    assert runs == {"run 0", "run 1", "run 2", "run 3", "run none", "left edge", "right (pixel, zp)",
                    "right (zp, zp) x1", "s2 odd", "s2 even", "clamp none s1", "clamp upper s1",
                    "clamp lower s1", "clamp both s1", "clamp none s2", "clamp upper s2", "clamp lower s2",
                    "clamp both s2"}, runs
    # the 3x3 ring kernel with channels whose effective scale is >= 0.5 (left shifts): the assembly runs the
    # block, those channels are redone in C row by row (tg_dw_fix_row)
    from tinygen.ops.conv import dw_geometry, dw_kernel

    fixed = []
    for n, g in graphs.items():
        p = DepthwiseConv2D().prepare(g, g.operators[0])
        geo = dw_geometry(p)
        left = (np.asarray(p.multiplier).reshape(-1) != 0) & (np.asarray(p.shift).reshape(-1) >= 0)
        if (dw_kernel(p) == "tg_dwconv_s8" and (geo["k_h"], geo["k_w"], geo["dil_w"]) == (3, 3, 1)
                and p.output_shape[3] >= 4 and left[: p.output_shape[3] // 4 * 4].any()):
            fixed.append(n)
    assert len(fixed) >= 2, fixed
    # the k x k pair kernel (tg_dwconv_pk_s8, w_row -6): 5x5 and 7x7, stride 1 and 2 along the row, odd and even
    # widths (an odd row's last pass stores pixel A only), narrow rows, padded and not (left padding 2 and 3: leading
    # input_zp pairs), dilation 2 along the
    # column, every clamp (none, the upper bound, both), batches; a layer whose biases defeat the SMMLAR bound
    # keeps the SMLABB ring kernel
    kk = {n for n in graphs if "tg_dwconv_pk_s8(" in dsp.generated[n].c_file.read_text()}
    kinds = set()
    for n in kk:
        p = DepthwiseConv2D().prepare(graphs[n], graphs[n].operators[0])
        assert dw_kpairs(p) and p.pair_kernel and "w_row = -6," in dsp.generated[n].c_file.read_text(), n
        ow = p.output_shape[2]
        kinds |= {f"k{p.filter_hw[1]}", f"s{p.stride[1]}", "odd" if ow % 2 else "even", "narrow" if ow <= 3 else "wide"}
        kinds |= {"padded"} if max(p.padding) > 0 else {"valid"}
        kinds |= {f"pad_left {p.padding[1]}"} if p.padding[1] >= 2 else set()  # leading input_zp pairs
        kinds |= {"dil2"} if p.dilation[0] == 2 else set()
        kinds |= {"batch"} if p.input_shape[0] > 1 else set()
        kinds |= {"no clamp" if (p.act_min, p.act_max) == (-128, 127) else "upper" if p.act_min == -128 else "both"}
    assert kinds >= {"k5", "k7", "s1", "s2", "odd", "even", "narrow", "wide", "padded", "valid", "dil2", "no clamp",
                     "upper", "both", "pad_left 2", "pad_left 3", "batch"}, sorted(kinds)
    # one-dimensional filters: 5, 7, 9 taps, both strides (9 at stride 2: 6 pairs per pass), a left padding of 4
    k1d = set()
    for n in graphs:
        if n.startswith("dwk1d_"):
            p = DepthwiseConv2D().prepare(graphs[n], graphs[n].operators[0])
            geo = dw_geometry(p)
            if n in kk:
                k1d |= {f"k{geo['k_w']}", f"s{geo['stride_w']}", f"pad_left {geo['pad_left']}",
                        "col" if p.filter_hw[1] == 1 else "row"}
    assert k1d >= {"k5", "k7", "k9", "s1", "s2", "pad_left 4", "col", "row"}, sorted(k1d)
    ring = [n for n in graphs if n.startswith("dwkk") and n not in kk]
    assert ring and all("tg_dwconv_s8(" in dsp.generated[n].c_file.read_text() for n in ring), ring
    chains = [n for n in graphs if n.startswith("dw3x3chain")]
    assert chains and all(len(re.findall(r"tg_dwconv_p3\w*\(&op", dsp.generated[n].c_file.read_text()))
                          == len(graphs[n].operators) for n in chains), chains
    # 3x3 layers with depth multiplier 2-3 and >= 4 input channels take the register kernel: depth multipliers
    # 2 and 3, partial groups of 4 input channels (C), left shifts (C redoes those blocks), stride 2, dilation
    # 2, padded edges and windows inside (runs of pixels), batches
    from tinygen.ops.conv import dw_regs

    reg = {n for n in graphs if re.search(r"tg_dwconv_dmrl?_s8\(", dsp.generated[n].c_file.read_text())}
    assert len(reg) >= 12, sorted(reg)
    kinds = set()
    for n in reg:
        p = DepthwiseConv2D().prepare(graphs[n], graphs[n].operators[0])
        text = dsp.generated[n].c_file.read_text()
        left = (np.asarray(p.multiplier).reshape(-1) != 0) & (np.asarray(p.shift).reshape(-1) >= 0)
        # the entry point without the C code only where every group is whole and every row a right shift
        plain = p.input_shape[3] % 4 == 0 and not left.any()
        assert dw_regs(p) and "w_row = -3," in text and f"{dw_kernel(p)}(" in text
        assert dw_kernel(p) == ("tg_dwconv_dmr_s8" if plain else "tg_dwconv_dmrl_s8"), n
        kinds |= {"plain"} if plain else set()
        kinds |= {f"dm{p.depth_multiplier}"}
        kinds |= {"partial"} if p.input_shape[3] % 4 else {"whole"}
        kinds |= {"left"} if left.any() else set()
        kinds |= {"stride2"} if max(p.stride) == 2 else set()
        kinds |= {"dil2"} if max(p.dilation) == 2 else set()
        kinds |= {"padded"} if max(p.padding) > 0 else set()
        kinds |= {"batch"} if p.input_shape[0] > 1 else set()
        oh, ow = p.output_shape[1:3]
        kinds |= {"run"} if oh >= 3 and ow >= 4 else set()
    assert kinds >= {"dm2", "dm3", "partial", "whole", "left", "stride2", "dil2", "padded", "batch", "run",
                     "plain"}, sorted(kinds)
    port = build_models(BOARD, graphs, xs, tmp_path / "portable", portable=True, generated=dsp.generated)
    # other depth multipliers 2-3 take the ring kernel (lane j: input channel (4g + j) / dm) where the arena has
    # room for its scratch, else the column kernel; --optimize speed always gives them the ring kernel
    dm23 = {n: g for n, g in graphs.items() if g.operators[0].options["depth_multiplier"] in (2, 3)}
    assert len(set(dm23) - reg) >= 4, sorted(dm23)
    speed = build_models(BOARD, dm23, {n: xs[n] for n in dm23}, tmp_path / "speed", optimize="speed")
    assert all(re.search(r"tg_dwconv_dmrl?_s8\(" if n in reg else r"tg_dwconv_s8\(", speed.generated[n].c_file.read_text())
               for n in dm23)
    for fw, gs in ((dsp, graphs), (port, graphs), (speed, dm23)):
        res = run_models(fw, timeout=120)
        for name, g in gs.items():
            check(f"{name} ({'portable' if fw is port else 'speed' if fw is speed else 'dsp'})", g, xs[name],
                  res.models[name])


def dw_small_chain(rng, hw: tuple[int, int], layers: tuple[tuple[int, str], ...], c: int, kind: str,
                   batch: int = 1, last: tuple[str, int] | None = None,
                   acts: tuple[tuple[str, int] | None, ...] | None = None) -> bytes:
    """3x3 depthwise layers (depth multiplier 1, stride (s, s), padding of each `layers` entry) one after the
    other from an input of `hw`: the pair kernel on small images (rows of 1-7 pixels: tg_dw_widen_small on rows
    of 2-6 pixels with a left edge, the pixel-A pass, padded top and bottom rows by tg_dw_fill_pairs). `kind`: "plain" (SMMLAR groups), "dead" (trained-like: dead channels with tiny scales and
    huge biases, constant outputs), "smlal" (biases beyond the SMMLAR bound at a step of the output: SMLAL
    groups), "left" (channels with
    effective scales 0.5-2: left shifts in SMMLAR or flagged groups), "leftc" (effective scales 2^9-2^13: the C
    fix-up), "ties" (right shifts of 1-5: rounding ties). `last`: the last layer's activation and output zero point
    (else random ones); `acts`: each layer's (activation, output zero point) or None (random; drawn all the same)."""
    m = ModelBuilder()
    x = m.tensor([batch, hw[0], hw[1], c], scale=0.05, zero_point=_zp(rng))
    cur, (h, w), in_scale = x, hw, 0.05
    for li, (stride, padding) in enumerate(layers):
        if kind == "dead":
            wd = np.clip(np.round(rng.normal(0, 40, size=(1, 3, 3, c))), -127, 127).astype(np.int64)
        else:
            wd = rng.integers(-127, 128, size=(1, 3, 3, c))
        ws = _q_scales(rng, c, True)
        bias = rng.integers(-5000, 5000, size=c)
        typical = float(3 * 60 * np.median(ws) * 60 * in_scale / 40)
        out_scale = typical * float(rng.uniform(0.3, 3))
        if kind == "ties":
            out_scale = in_scale * float(np.median(ws)) / float(2.0 ** rng.uniform(-5, -1))
        if kind == "dead":
            dead = rng.random(c) < 0.25
            dead[int(rng.integers(0, c))] = True
            ws[dead] = 10 ** rng.uniform(-9, -7, size=int(dead.sum()))
            bias[dead] = rng.integers(-2**30, 2**30, size=int(dead.sum()))
        if kind == "smlal":  # biases (|bias| >= 2^30) at a step of the output: two values, SMLAL groups, the
            # zero point folded (shifts <= 23) or added (random_dw_dead_steps)
            for k in np.flatnonzero(rng.random(c) < 0.35) if c > 1 else [0]:
                eff = 2.0 ** (rng.uniform(-23.9, -22.5) if k % 2 else rng.uniform(-29, -24.5))
                t = int(np.ceil(2.0 ** 30.05 * eff)) * int(rng.choice([-1, 1]))
                ws[k] = eff * out_scale / in_scale
                bias[k] = int(round((t + 0.5) / eff))
        if kind in ("left", "leftc"):
            lch = rng.random(c) < 0.3
            lch[int(rng.integers(0, c))] = True
            eff = rng.uniform(0.5, 2, size=int(lch.sum())) if kind == "left" else 2.0 ** rng.uniform(
                9, 13, size=int(lch.sum()))
            ws[lch] = eff * out_scale / in_scale
        wt = m.tensor(wd.shape, data=wd, scale=ws, zero_point=0, axis=3)
        b = m.tensor([c], dtype=np.int32, data=bias, scale=in_scale * np.atleast_1d(ws))
        if padding == "SAME":
            oh, ow = -(-h // stride), -(-w // stride)
        else:
            oh, ow = (h - 3) // stride + 1, (w - 3) // stride + 1
        zp, act = _zp(rng), str(rng.choice(["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]))
        if li == len(layers) - 1 and last is not None:
            act, zp = last
        if acts is not None and acts[li] is not None:
            act, zp = acts[li]
        y = m.tensor([batch, oh, ow, c], scale=out_scale, zero_point=zp)
        m.op("DEPTHWISE_CONV_2D", [cur, wt, b], [y], padding=padding, stride_h=stride, stride_w=stride,
             dilation_h_factor=1, dilation_w_factor=1, depth_multiplier=1, fused_activation_function=act)
        cur, (h, w), in_scale = y, (oh, ow), out_scale
    return m.build([x], [cur])


def test_depthwise_pair_kernel_small_images_bit_exact(tmp_path):
    """The 3x3 pair kernel (stride 1) on small images, as in the late layers of MobileNets (mltk MobileNetV2
    4x4x96 / 2x2x144, MCUNet 3x3x480 / 5x5x240): 1x1, 2x2, 3x3, 4x4, 5x5, 2x7 and 7x2 images (7x2: transposed),
    SAME and VALID, odd and even widths, every requantization kind (SMMLAR, constant dead channels, SMLAL,
    left shifts in SMMLAR / flagged groups and in the C fix-up, rounding ties), clamps, batches, layers alone
    (several ring blocks: no hole in the plan to grow them) and after a wide layer: the DSP build and the C99
    build equal the emulator."""
    from tinygen.boards.mcu_run import build_models
    from tinygen.ops.conv import DepthwiseConv2D, dw_geometry, dw_kernel, dw_pair_blocks

    rng = np.random.default_rng(2026)
    kinds = ("plain", "dead", "smlal", "left", "leftc", "ties")
    specs = [  # input, layers, channels, batch
        ((4, 4), ((1, "SAME"),), 64, 1), ((4, 4), ((1, "SAME"),) * 2, 16, 2),
        ((2, 7), ((1, "SAME"),), 32, 1), ((7, 2), ((1, "SAME"),), 32, 1),
        ((6, 6), ((1, "VALID"),), 24, 1), ((5, 6), ((1, "SAME"),), 12, 1),
        ((8, 8), ((1, "SAME"), (2, "SAME"), (1, "SAME")), 16, 1),        # 8x8, 4x4, 4x4
        ((8, 8), ((1, "SAME"), (2, "SAME"), (1, "SAME")), 12, 2),
        ((10, 10), ((1, "SAME"), (2, "SAME"), (1, "SAME")), 8, 1),       # 10x10, 5x5, 5x5
        ((12, 12), ((1, "SAME"), (2, "SAME"), (1, "SAME"), (2, "SAME"), (1, "SAME")), 8, 1),  # 6x6, 3x3, 3x3
        ((16, 16), ((1, "SAME"), (2, "SAME"), (2, "SAME"), (2, "SAME"), (1, "SAME")), 8, 1),  # 2x2, 2x2
        ((16, 16), ((1, "SAME"),) + ((2, "SAME"),) * 4 + ((1, "SAME"),), 8, 1),  # 1x1, 1x1
        ((12, 12), ((1, "SAME"), (2, "SAME"), (1, "VALID")), 8, 1),      # 6x6 VALID -> 4x4
        ((9, 9), ((1, "SAME"), (2, "SAME"), (1, "SAME")), 12, 1),        # 5x5
    ]
    graphs = {}
    for i, (hw, layers, c, batch) in enumerate(specs):
        for j, kind in enumerate(kinds):
            if (i + j) % 2:  # half of the combinations (every kind and shape, both parities)
                continue
            name = f"dwsmall_{i}_{kind}"
            graphs[name] = parse_model(dw_small_chain(rng, hw, layers, c, kind, batch), name=name)
    xs = {name: samples(g, rng, 2) for name, g in graphs.items()}
    dsp = build_models(BOARD, graphs, xs, tmp_path / "dsp")
    # every stride-1 layer runs the pair kernel: small images (<= 5 output columns) of every shape above, rows of
    # 2-6 input pixels with a left edge (the straight widening), entry points of every requantization
    seen, entries = set(), set()
    for n, g in graphs.items():
        text = dsp.generated[n].c_file.read_text()
        for op in g.operators:
            p = DepthwiseConv2D().prepare(g, op)
            geo = dw_geometry(p)
            if geo["stride_w"] != 1 and geo["stride_h"] != 1:
                continue
            assert p.pair_kernel and f"{dw_kernel(p)}(" in text, (n, geo)
            entries.add(dw_kernel(p))
            oh, ow = p.output_shape[1:3]
            if max(oh, ow) <= 7:
                seen.add((int(oh), int(ow)))
            if geo["pad_left"] == 1 and 2 <= geo["in_w"] <= 6:
                seen.add(f"widen {geo['in_w']}")
            mode = dw_pair_blocks(p)[:, 48]
            seen |= {"smlal"} if (mode < 256).any() else set()
            seen |= {"flagged"} if (mode == 512).any() else set()
            seen |= {"batch"} if p.input_shape[0] > 1 else set()
        # ring blocks of fewer groups than the layer has (the driver's block loop)
        seen |= {"blocks"} if any(int(g_) < -(-int(c_) // 4) for c_, g_ in re.findall(
            r"\.out_c = (\d+),.*?\.groups = (\d+),", text, re.S)) else set()
    assert {(1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (2, 7), (7, 2), "widen 2", "widen 3", "widen 4", "widen 5",
            "widen 6", "smlal",
            "flagged", "batch", "blocks"} <= seen, sorted(map(str, seen))
    assert {"tg_dwconv_p3_s8", "tg_dwconv_p3q_s8", "tg_dwconv_p3x_s8", "tg_dwconv_p3l_s8"} <= entries, entries
    # rows of 2-6 pixels with a left edge, every group SMMLAR, take tg_dwconv_p3q_s8 (tg_dw_widen_small), the others not
    # (nor where the model links the stride-2 kernel's partial blocks: conv.dw_model_small)
    for n, g in graphs.items():
        for op in g.operators:
            p = DepthwiseConv2D().prepare(g, op)
            if p.pair_kernel and dw_kernel(p) in ("tg_dwconv_p3_s8", "tg_dwconv_p3q_s8"):
                geo = dw_geometry(p)
                small = geo["stride_w"] == 1 and geo["pad_left"] == 1 and 2 <= geo["in_w"] <= 6
                assert (dw_kernel(p) == "tg_dwconv_p3q_s8") == (small and p.small_ok), (n, geo)
    port = build_models(BOARD, graphs, xs, tmp_path / "portable", portable=True, generated=dsp.generated)
    check_builds(graphs, xs, dsp, port)


def test_depthwise_pair_kernel_stride2_odd_rows_bit_exact(tmp_path):
    """The 3x3 pair kernel's 2-pixel pass at stride 2 on rows of an odd width (1, 3, 5, 7, 9, 13, 25 output pixels:
    DS-CNN-L's 25x10 -> 13x5, MicroNet-M's 49x10 -> 25x5, VWW's 6x6 -> 3x3, MobileNetV2-224's 14 -> 7): the row's
    pairs, then its last pixel alone by the pixel-A pass (tg_dw3x3_pairs flags bit 3; a row of 1 pixel: that pass
    alone), ring rows of out_w + 1 pairs; rows and columns (transposed), SAME padded on both sides or on the right
    only, VALID; every group SMMLAR without a clamp, with the upper or the lower bound's, with both (the pixel-A
    pass packs, clamps and stores itself), SMLAL and flagged groups (through the group's requantization), left shifts redone in
    C, rounding ties, batches: the DSP build and the C99 build equal the emulator."""
    from tinygen.boards.mcu_run import build_models
    from tinygen.ops.conv import _dw_ring_dims, DepthwiseConv2D, dw_geometry, dw_kernel, dw_pair_blocks, dw_transposed

    rng = np.random.default_rng(2027)
    s, v = "SAME", "VALID"
    specs = [  # input, layers, channels, batch, kinds (the last layer's activation and zero point, else random)
        ((25, 10), ((1, s), (2, s)), 8, 1, ("plain", "smlal", "leftc")),   # 13x5 transposed, padded on both sides
        ((10, 25), ((1, s), (2, s)), 8, 2, ("plain", "left")),             # 5x13 (rows of 13)
        ((49, 10), ((1, s), (2, s)), 4, 1, ("plain", "dead")),             # 25x5 transposed
        ((9, 51), ((1, s), (2, v)), 8, 1, ("plain", "smlal")),             # 4x25 VALID
        ((27, 8), ((1, s), (2, v)), 8, 1, ("ties", "left")),               # 13x3 VALID, transposed
        ((18, 5), ((1, s), (2, s)), 4, 2, ("plain",)),                     # 9x3 transposed, padded on the right
        ((14, 14), ((1, s), (2, s)), 8, 1, ("plain", "smlal", "leftc")),   # 7x7, padded on the right
        ((13, 13), ((1, s), (2, s)), 8, 2, ("plain", "dead")),             # 7x7, both sides
        ((15, 15), ((1, s), (2, v)), 12, 1, ("plain", "left")),            # 7x7 VALID
        ((12, 12), ((1, s), (2, s), (1, s), (2, s)), 8, 1, ("plain", "smlal")),  # 6x6, then 3x3
        ((11, 11), ((1, s), (2, v)), 8, 1, ("plain", "leftc")),            # 5x5 VALID
        ((10, 10), ((1, s), (2, s)), 16, 1, ("plain", "ties")),            # 5x5
        ((8, 8), ((1, s),) * 2 + ((2, s),) * 4, 8, 2, ("plain", "smlal")),  # 4, 2, 1, 1 (both sides)
        ((14, 14), ((1, s), (2, s), (2, v)), 8, 1, ("plain", "left")),     # 7x7, then 3x3 VALID
        ((6, 6), ((1, s), (1, s), (2, s)), 4, 1, ("plain",)),              # 3x3, padded on the right
        ((12, 12), ((1, s), (2, s), (2, s), (2, v)), 8, 1, ("plain", "dead")),  # 6, 3, then 1x1 VALID
    ]
    lasts = [("NONE", 5), ("RELU6", -128), ("RELU_N1_TO_1", 0), ("RELU", 3)]  # no clamp, upper, both, lower
    graphs = {}
    for i, (hw, layers, c, batch, kinds) in enumerate(specs):
        for j, kind in enumerate(kinds):
            name = f"dws2odd_{i}_{kind}"
            last = lasts[(i + j) % len(lasts)] if kind == "plain" else None
            graphs[name] = parse_model(dw_small_chain(rng, hw, layers, c, kind, batch, last), name=name)
    xs = {name: samples(g, rng, 2) for name, g in graphs.items()}
    dsp = build_models(BOARD, graphs, xs, tmp_path / "dsp")
    seen = set()
    for n, g in graphs.items():
        text = dsp.generated[n].c_file.read_text()
        for op in g.operators:
            p = DepthwiseConv2D().prepare(g, op)
            geo = dw_geometry(p)
            assert p.pair_kernel and f"{dw_kernel(p)}(" in text, (n, geo)
            if geo["stride_w"] != 2 or geo["out_w"] % 2 == 0:
                continue
            # the 2-pixel pass (not the 4-pixel kernel), its ring rows out_w + 1 pairs wide
            assert dw_kernel(p) in ("tg_dwconv_p3_s8", "tg_dwconv_p3x_s8", "tg_dwconv_p3l_s8"), (n, geo)
            assert _dw_ring_dims(p)[1] == 2 * (geo["out_w"] + 1), (n, geo)
            ow, mode = geo["out_w"], dw_pair_blocks(p)[:, 48]
            seen.add(f"w{ow}{' transposed' if dw_transposed(p) else ''}")
            pad_right = (ow - 1) * 2 + 3 - geo["in_w"] - geo["pad_left"]
            seen.add("valid" if geo["pad_left"] == pad_right == 0 else "both sides" if geo["pad_left"] else "right")
            if dw_kernel(p) == "tg_dwconv_p3_s8":
                clamp = ("none" if (p.act_min, p.act_max) == (-128, 127) else "upper" if p.act_min == -128
                         else "lower" if p.act_max == 127 else "both")
                seen.add(f"every group smmlar, clamp {clamp}")
            seen |= {"smlal"} if (mode < 256).any() else set()
            seen |= {"flagged"} if (mode == 512).any() else set()
            seen |= {"smmlar next to others"} if (mode == 256).any() and (mode != 256).any() else set()
            seen |= {"left in C"} if dw_kernel(p) == "tg_dwconv_p3l_s8" else set()
            seen |= {"batch"} if p.input_shape[0] > 1 else set()
    assert {"w1", "w3", "w5", "w7", "w9 transposed", "w13", "w13 transposed", "w25", "w25 transposed", "valid",
            "both sides", "right", "every group smmlar, clamp none", "every group smmlar, clamp upper",
            "every group smmlar, clamp both", "every group smmlar, clamp lower", "smlal", "flagged", "smmlar next to others", "left in C",
            "batch"} <= seen, sorted(seen)
    port = build_models(BOARD, graphs, xs, tmp_path / "portable", portable=True, generated=dsp.generated)
    check_builds(graphs, xs, dsp, port)


def test_depthwise_pair_fast_pass_bit_exact(tmp_path):
    """The 2-pixel pass's fast copies (tg_dwconv_p3f1_s8 / tg_dwconv_p3f2_s8: the pass with the SMMLAR requantization
    and the store inline) in models that link neither the stride-2 4-pixel kernel nor the k x k one and whose
    fast-pass layers carry >= DW_FAST_MIN_MACS per stride (conv.dw_model_fast): rows of an odd width (the pixel-A
    pass after the fast pairs) and an even one, at stride 1 and 2, rows and columns (transposed), batches, dead
    channels in SMMLAR groups, rounding ties, next to layers of the same model on the plain pass (a
    clamp): the DSP build and the C99 build equal the emulator."""
    from tinygen.boards.mcu_run import build_models
    from tinygen.ops.conv import DW_FAST_MIN_MACS, DepthwiseConv2D, dw_geometry, dw_kernel, dw_transposed

    rng = np.random.default_rng(4242)
    s, v, none = "SAME", "VALID", ("NONE", -128)
    specs = [  # input, layers, channels, batch, kind, each layer's (activation, zero point) or None (random)
        ((25, 33), ((1, s), (2, s), (1, s), (2, s)), 64, 1, "plain", (none, ("NONE", 7), ("RELU6", -128), none)),
        ((50, 10), ((1, s), (2, s)), 96, 2, "plain", (none, ("NONE", -3))),  # columns as rows: 50, then 25
        ((36, 36), ((1, s), (2, s), (1, v)), 48, 1, "plain", (none, none, ("RELU", 5))),  # 36, 18 (even), 16
        ((26, 26), ((1, s), (2, s)), 72, 1, "dead", (none, none)),
    ]
    graphs = {}
    for i, (hw, layers, c, batch, kind, acts) in enumerate(specs):
        name = f"dwfast_{i}_{kind}"
        graphs[name] = parse_model(dw_small_chain(rng, hw, layers, c, kind, batch, acts=acts), name=name)
    # rounding ties (right shifts of 1-5) on both fast passes: the first draw of an own generator whose channels
    # all shift right (a shift of 0 is a left one: flagged groups, not the fast pass)
    trng = np.random.default_rng(77)
    for _ in range(50):
        g = parse_model(dw_small_chain(trng, (60, 50), ((1, s), (2, s)), 16, "ties", acts=(none, none)),
                        name="dwfast_ties")
        if all(dw_kernel(DepthwiseConv2D().prepare(g, op)).startswith("tg_dwconv_p3f") for op in g.operators):
            graphs["dwfast_ties"] = g
            break
    xs = {name: samples(g, rng, 2) for name, g in graphs.items()}
    dsp = build_models(BOARD, graphs, xs, tmp_path / "dsp")
    seen = set()
    for n, g in graphs.items():
        text = dsp.generated[n].c_file.read_text()
        for op in g.operators:
            p = DepthwiseConv2D().prepare(g, op)
            geo = dw_geometry(p)
            k = dw_kernel(p)
            assert f"{k}(" in text, (n, k)
            assert not k.startswith(("tg_dwconv_p3s2", "tg_dwconv_pk")), (n, k)  # (the fast passes' condition)
            if k.startswith("tg_dwconv_p3f"):
                assert k == f"tg_dwconv_p3f{geo['stride_w']}_s8" and (p.act_min, p.act_max) == (-128, 127), (n, k)
                macs = 9 * int(np.prod(p.output_shape))
                seen.add(f"fast s{geo['stride_w']} {'odd' if geo['out_w'] % 2 else 'even'}"
                         f"{' transposed' if dw_transposed(p) else ''}")
                seen |= {"batch"} if p.input_shape[0] > 1 else set()
                seen |= {f"small layer s{geo['stride_w']}"} if macs < DW_FAST_MIN_MACS else set()
                seen |= {n.split("_")[-1]} if n.endswith(("dead", "ties")) else set()
            else:
                seen.add(f"plain pass next to fast ones: {k}")
    assert {"fast s1 odd", "fast s1 even", "fast s2 odd", "fast s2 even", "fast s1 even transposed",
            "fast s2 odd transposed", "batch", "small layer s2", "dead", "ties",
            "plain pass next to fast ones: tg_dwconv_p3_s8"} <= seen, sorted(seen)
    port = build_models(BOARD, graphs, xs, tmp_path / "portable", portable=True, generated=dsp.generated)
    check_builds(graphs, xs, dsp, port)


def test_depthwise_stride2_pair_kernel_bit_exact(tmp_path):
    """The stride-2 pair kernel (tg_dwconv_p3s2_s8, tg_dw3x3_s2: one channel x 4 output pixels per pass, its
    own ring of 4-pixel blocks) on rows of 8-28 output pixels: SAME with even and odd input widths (no left
    padding / one padded pixel on the left, a padded or unneeded pixel on the right), VALID, transposed
    (long columns), stride 1 or 2..3 along the column (the copied top slot or a widened one), batches,
    clamps (the lower bound alone with SMLAL groups next to SMMLAR ones), SMMLAR groups, SMLAL groups (dead
    channels, biases near the SMMLAR bound) and left shifts in the assembly, the general pass and the fast one
    (every group SMMLAR, no clamp), the top row in ring slot 1 or 2 (the parameters' second set, filter rows 0
    and 2 swapped): the DSP build and the C99 build equal the emulator."""
    from tinygen.boards.mcu_run import build_models
    from tinygen.ops import check_graph
    from tinygen.ops.conv import DW_PAIR_SMMLAR, DepthwiseConv2D, dw_geometry, dw_kernel, dw_pair2, dw_pair2_blocks

    rng = np.random.default_rng(29)
    graphs = {}
    for i in range(14):
        name = f"dws2_{i}"
        g = parse_model(random_dw(rng, trained=i % 2 == 1, dm=1, k33=7 if i % 5 == 4 else 6,
                                  big_bias=i in (2, 8), left=1 if i in (3, 11) else 0), name=name)
        check_graph(g)
        graphs[name] = g
    # one whole block, or rows ending with a partial block of 3 pixels (tg_dwconv_p3s2p_s8; with SMLAL groups
    # tg_dwconv_p3s2x_s8), along rows and transposed
    prng = np.random.default_rng(37)
    for i in range(6):
        g = parse_model(random_dw(prng, trained=i % 2 == 1, dm=1, k33=9 if i % 3 == 2 else 8,
                                  big_bias=i == 1, left=1 if i == 3 else 0), name=f"dws2p_{i}")
        check_graph(g)
        graphs[f"dws2p_{i}"] = g

    def fast_swapped(g):  # every group SMMLAR, no clamp, stride 2 along the column: the fast pass, slots swapped
        p = DepthwiseConv2D().prepare(g, g.operators[0])
        geo = dw_geometry(p)
        return (dw_pair2(p) and (dw_pair2_blocks(p)[:, 0] == DW_PAIR_SMMLAR).all() and p.act_min <= -128
                and p.act_max >= 127 and geo["stride_h"] == 2 * geo["dil_h"] and geo["out_h"] > 1)

    # one such layer along rows and one transposed (a few draws of an own generator)
    frng = np.random.default_rng(31)
    for k33 in (6, 7):
        for _ in range(200):
            g = parse_model(random_dw(frng, trained=False, dm=1, k33=k33), name=f"dws2_fast{k33}")
            if fast_swapped(g):
                check_graph(g)
                graphs[f"dws2_fast{k33}"] = g
                break
    xs = {name: samples(g, rng, 2) for name, g in graphs.items()}
    dsp = build_models(BOARD, graphs, xs, tmp_path / "dsp")
    kinds = set()
    for n, g in graphs.items():
        p = DepthwiseConv2D().prepare(g, g.operators[0])
        geo = dw_geometry(p)
        text = dsp.generated[n].c_file.read_text()
        modes = dw_pair2_blocks(p)[:, 0]
        entry = ("tg_dwconv_p3s2x_s8" if (modes != DW_PAIR_SMMLAR).any()
                 else "tg_dwconv_p3s2p_s8" if geo["out_w"] % 4 else "tg_dwconv_p3s2_s8")
        assert dw_pair2(p) and dw_kernel(p) == entry and f"{entry}(" in text, n
        kinds |= {f"{geo['out_w'] % 4 and 'partial block' or 'whole blocks'}"
                  f"{', transposed' if 'w_row = -5,' in text else ''}"}
        kinds |= {"partial block, smlal"} if geo["out_w"] % 4 and (modes != DW_PAIR_SMMLAR).any() else set()
        sh = np.asarray(p.shift).reshape(-1)
        kinds |= {"smmlar"} if (modes == DW_PAIR_SMMLAR).any() else set()
        kinds |= {"smlal"} if (modes != DW_PAIR_SMMLAR).any() else set()
        kinds |= {"left"} if ((sh >= 0) & (np.asarray(p.multiplier).reshape(-1) != 0)).any() else set()
        kinds |= {"transposed"} if "w_row = -5," in text else {"rows"}
        kinds |= {f"pad_left {geo['pad_left']}"}
        kinds |= {"unneeded last pixel"} if geo["in_w"] + geo["pad_left"] > 2 * geo["out_w"] + 1 else set()
        kinds |= {"column stride 2"} if geo["stride_h"] == 2 else {"column stride 1/3"}
        kinds |= {"batch"} if p.input_shape[0] > 1 else set()
        kinds |= ({"clamp lower"} if p.act_min > -128 and p.act_max == 127 else {"clamp"}
                  if p.act_min > -128 or p.act_max < 127 else set())
        # the lower bound's clamp reads it from r7: an SMMLAR row's 4th word, put there by tg_dws2_rq_other after
        # an SMLAL group
        if p.act_min > -128 and p.act_max == 127 and (modes == DW_PAIR_SMMLAR).any() and (modes != DW_PAIR_SMMLAR).any():
            kinds |= {"clamp lower, smlal next to smmlar"}
        # every group SMMLAR, no clamp: the fast pass; stride 2 along the column: the previous row's bottom row
        # stays in its ring slot, the top row in slot 2 every other row (the parameters' second set)
        fast = (modes == DW_PAIR_SMMLAR).all() and p.act_min <= -128 and p.act_max >= 127
        swapped = ", slots swapped" if geo["stride_h"] == 2 * geo["dil_h"] and geo["out_h"] > 1 else ""
        kinds |= {("fast pass" if fast else "general pass") + swapped}
    assert kinds >= {"smmlar", "smlal", "left", "transposed", "rows", "pad_left 0", "pad_left 1",
                     "unneeded last pixel", "column stride 2", "column stride 1/3", "batch", "clamp", "clamp lower",
                     "clamp lower, smlal next to smmlar",
                     "fast pass, slots swapped", "general pass, slots swapped", "whole blocks",
                     "partial block", "partial block, transposed", "partial block, smlal"}, sorted(kinds)
    port = build_models(BOARD, graphs, xs, tmp_path / "portable", portable=True, generated=dsp.generated)
    check_builds(graphs, xs, dsp, port)


def fc_two_model(rng, k: int, big_units: int, small_units: int) -> bytes:
    """Two FULLY_CONNECTED layers: k inputs -> big_units (k * big_units > FC_DOT_MAX_MACS) -> small_units, both on
    the paired block layout's bound (weights within 128 * sum |w| < 2^23), per-tensor scales."""
    m = ModelBuilder()
    x = m.tensor([1, k], scale=0.03, zero_point=_zp(rng))
    cur, depth = x, k
    for units in (big_units, small_units):
        wd = rng.integers(-127, 128, size=(units, depth))
        ws = _q_scales(rng, 1, False)
        wt = m.tensor([units, depth], data=wd, scale=ws, zero_point=0)
        b = m.tensor([units], dtype=np.int32, data=rng.integers(-8000, 8000, size=units), scale=0.03 * ws)
        typical = float(np.sqrt(depth) * 60 * ws * 60 * 0.03 / 40)
        y = m.tensor([1, units], scale=typical * float(rng.uniform(0.5, 2)), zero_point=_zp(rng))
        m.op("FULLY_CONNECTED", [cur, wt, b], [y])
        cur, depth = y, units
    return m.build([x], [cur])


def test_small_fully_connected_layers_take_the_dot_kernel_bit_exact(tmp_path):
    """FULLY_CONNECTED layers of <= FC_DOT_MAX_MACS MACs take the dot-product kernel (tg_fc_dot_s8: SMLAD dot
    products of 2 units at a time, C requantization) unless the model links their block kernel for a larger layer:
    odd and even unit counts, depths with a tail (depth % 4), batches, per-channel and per-tensor scales, the exact
    requantization with left-shift rows; in a model whose larger layer takes the paired block kernel, the small
    one keeps it. `--optimize speed` gives every one the block kernel back. The DSP and C99 builds equal the
    emulator."""
    from tinygen.boards.mcu_run import build_models
    from tinygen.codegen.generator import generate
    from tinygen.ops import REGISTRY, check_graph
    from tinygen.ops.fully_connected import FC_DOT_MAX_MACS, fc_block_entry, fc_macs

    rng = np.random.default_rng(61)
    graphs = {}
    for i in range(40):
        g = parse_model(random_fc(rng, trained=i % 4 == 3) if i % 5 else left_shift_fc(rng), name=f"fcdot_{i}")
        check_graph(g)
        p = REGISTRY["FULLY_CONNECTED"].prepare(g, g.operators[0])
        if fc_block_entry(p) and fc_macs(p) <= FC_DOT_MAX_MACS:
            graphs[f"fcdot_{i}"] = g
    for i, (k, big, small) in enumerate([(96, 48, 12), (64, 80, 7)]):
        g = parse_model(fc_two_model(rng, k, big, small), name=f"fctwo_{i}")
        check_graph(g)
        graphs[f"fctwo_{i}"] = g
    xs = {name: samples(g, rng, 2) for name, g in graphs.items()}
    dsp = build_models(BOARD, graphs, xs, tmp_path / "dsp")
    kinds = set()
    for n, g in graphs.items():
        text = dsp.generated[n].c_file.read_text()
        ps = [REGISTRY["FULLY_CONNECTED"].prepare(g, op) for op in g.operators]
        if n.startswith("fctwo"):  # the larger layer's paired block kernel: the small one takes it too
            assert fc_macs(ps[0]) > FC_DOT_MAX_MACS and fc_block_entry(ps[0]) == fc_block_entry(ps[1]) == "tg_fc_p_s8"
            assert not ps[1].dot and text.count("tg_fc_p_s8(") == 2 and "tg_fc_dot_s8(" not in text, n
            continue
        p = ps[0]
        assert p.dot and "tg_fc_dot_s8(" in text and not re.search(r"tg_fc_(p_|dspl_)?s8\(", text), n
        kinds |= {"odd units" if p.units % 2 else "even units", "tail" if p.accum_depth % 4 else "no tail"}
        kinds |= {"batch"} if p.batches > 1 else set()
        kinds |= {"per-channel"} if p.per_channel else {"per-tensor"}
        kinds |= {"left rows"} if fc_block_entry(p) == "tg_fc_dspl_s8" else set()
        kinds |= {"depth < 4"} if p.accum_depth < 4 else set()
    assert kinds >= {"odd units", "even units", "tail", "no tail", "batch", "per-channel", "per-tensor", "left rows",
                     "depth < 4"}, sorted(kinds)
    port = build_models(BOARD, graphs, xs, tmp_path / "portable", portable=True, generated=dsp.generated)
    check_builds(graphs, xs, dsp, port)
    # --optimize speed: the block kernels
    n = next(n for n in graphs if n.startswith("fcdot"))
    text = generate(graphs[n], tmp_path / "speed", "m", target="cortex-m4", optimize="speed").c_file.read_text()
    assert "tg_fc_dot_s8(" not in text and re.search(r"tg_fc_(p_|dspl_)?s8\(", text)


def dw_tiny_model(rng, h: int, w: int, c: int, b: int = 1, act: str = "NONE", bias: bool = True,
                  big_bias: bool = False, x_zp: int | None = None, trained: bool = False) -> bytes:
    """One 3x3 SAME depthwise layer at stride 1 on an h x w image (the tiny-image kernel's shapes: w 2 or 4). `act`
    with the output zero point -128 where it is RELU (the act range stays [-128, 127]) or RELU6 (a clamp: not the
    tiny kernel's). `big_bias`: biases near 2^30 in the first group (past the SMMLAR bound: SMLAL, not the tiny
    kernel's). `trained`: trained-like weights (roughly Gaussian, per-channel scales over two decades)."""
    m = ModelBuilder()
    x_zp = _zp(rng) if x_zp is None else x_zp
    x = m.tensor([b, h, w, c], scale=0.04, zero_point=x_zp)
    if trained:
        wd = np.clip(np.round(rng.normal(0, 40, size=(1, 3, 3, c))), -127, 127).astype(np.int64)
        ws = 10 ** rng.uniform(-3.5, -1.5, size=c)
    else:
        wd = rng.integers(-127, 128, size=(1, 3, 3, c))
        ws = _q_scales(rng, c, True)
    wt = m.tensor(wd.shape, data=wd, scale=ws, zero_point=0, axis=3)
    ins = [x, wt]
    if bias:
        bv = rng.integers(-20000, 20000, size=c)
        if big_bias:
            bv[:2] = rng.choice([-1, 1], size=2) * rng.integers(2**30 - 2**14, 2**30, size=2)
        ins.append(m.tensor([c], dtype=np.int32, data=bv, scale=0.04 * np.atleast_1d(ws)))
    typical = float(3 * 60 * np.median(ws) * 60 * 0.04 / 40)
    zp = -128 if act != "NONE" else _zp(rng)
    y = m.tensor([b, h, w, c], scale=typical * float(rng.uniform(0.3, 3)), zero_point=zp)  # (right shifts)
    m.op("DEPTHWISE_CONV_2D", ins, [y], padding="SAME", stride_h=1, stride_w=1, dilation_h_factor=1,
         dilation_w_factor=1, depth_multiplier=1, fused_activation_function=act)
    return m.build([x], [y])


def test_depthwise_tiny_image_kernel_bit_exact(tmp_path):
    """The tiny-image kernel (tg_dwconv_p3t_s8, tg_dwtiny_run: the whole image widened once per group of 4
    channels with the input zero point subtracted, padded taps skipped) on images 4 and 2 pixels wide: square
    (4x4, 2x2: small MobileNets' late layers), one row, taller than wide, many groups, batches, input zero points at
    both ends of the range and between, no bias, trained-like weights, RELU on output zero point -128 (no clamp):
    the DSP build and the C99 build (its tg_dw_bias folds the raw bias back) equal the emulator, and a host build of
    the DSP target's code with sanitizers too. A clamp (RELU6) or a group past the SMMLAR bound keeps the ring
    kernel."""
    from tinygen.boards.mcu_run import build_models
    from tinygen.ops import check_graph
    from tinygen.ops.conv import DepthwiseConv2D, dw_kernel, dw_tiny

    rng = np.random.default_rng(53)
    shapes = [(4, 4, 8, 1), (2, 2, 12, 2), (1, 4, 4, 1), (6, 4, 16, 1), (3, 2, 8, 1), (1, 2, 4, 2), (5, 4, 4, 2),
              (4, 4, 96, 1), (8, 4, 8, 1), (2, 2, 144, 1)]
    graphs = {}
    for i, (h, w, c, b) in enumerate(shapes):
        g = parse_model(dw_tiny_model(rng, h, w, c, b, act="RELU" if i % 3 == 1 else "NONE", bias=i != 4,
                                      x_zp=(-128, 127, 0, 55, -37)[i % 5], trained=i % 2 == 1), name=f"dwtiny_{i}")
        check_graph(g)
        graphs[f"dwtiny_{i}"] = g
    for i, kw in enumerate([dict(act="RELU6"), dict(big_bias=True)]):
        g = parse_model(dw_tiny_model(rng, 4, 4, 8, **kw), name=f"dwtiny_not_{i}")
        check_graph(g)
        graphs[f"dwtiny_not_{i}"] = g
    xs = {name: samples(g, rng, 2) for name, g in graphs.items()}
    dsp = build_models(BOARD, graphs, xs, tmp_path / "dsp")
    kinds = set()
    for n, g in graphs.items():
        p = DepthwiseConv2D().prepare(g, g.operators[0])
        text = dsp.generated[n].c_file.read_text()
        if n.startswith("dwtiny_not"):
            assert not dw_tiny(p) and "tg_dwconv_p3t_s8(" not in text, n
            continue
        assert dw_tiny(p) and dw_kernel(p) == "tg_dwconv_p3t_s8" and "tg_dwconv_p3t_s8(" in text, n
        assert "w_row = -7," in text, n
        _, h, w, c = p.input_shape
        kinds |= {f"w{w}", "one row" if h == 1 else "square" if h == w else "tall"}
        kinds |= {"batch"} if p.input_shape[0] > 1 else set()
        kinds |= {"groups > 8"} if c > 32 else set()
        kinds |= {f"x_zp {p.input_zero_point}"} if p.input_zero_point in (-128, 127, 0) else {"x_zp other"}
        kinds |= {"no bias"} if p.bias is None else set()
        kinds |= {"relu"} if p.output_zero_point == -128 and g.operators[0].activation == "RELU" else set()
    assert kinds >= {"w4", "w2", "one row", "square", "tall", "batch", "groups > 8", "x_zp -128", "x_zp 127",
                     "x_zp 0", "x_zp other", "no bias", "relu"}, sorted(kinds)
    port = build_models(BOARD, graphs, xs, tmp_path / "portable", portable=True, generated=dsp.generated)
    check_builds(graphs, xs, dsp, port)
    _check_dsp_layouts_on_host(graphs, xs, tmp_path / "host")


def test_pair_kernel_transposes_stride1_layers_where_the_columns_take_fewer_passes():
    """The 2-pixel pass runs a stride-1 3x3 layer transposed where the columns take fewer passes (ceil(width / 2)
    x height; an odd row wastes a phantom pixel per row), else along its rows (ties too); a 4- or 2-pixel-wide
    layer the tiny-image kernel takes stays along its rows; one whose columns are at least twice as long as its
    rows is transposed whatever the passes (the 25x5 KWS layers)."""
    from tinygen.ops import check_graph
    from tinygen.ops.conv import DepthwiseConv2D, dw_tiny, dw_transposed

    rng = np.random.default_rng(17)
    cases = {(8, 7): True, (7, 8): False, (30, 25): True, (15, 13): True, (13, 15): False, (6, 6): False,
             (7, 7): False, (25, 5): True, (5, 25): False}
    for (h, w), want in cases.items():
        g = parse_model(dw_tiny_model(rng, h, w, 8), name="o")
        check_graph(g)
        assert dw_transposed(DepthwiseConv2D().prepare(g, g.operators[0])) == want, (h, w)
    for act, tiny in (("NONE", True), ("RELU6", False)):  # 8x4: columns twice the rows, unless on the tiny kernel
        g = parse_model(dw_tiny_model(rng, 8, 4, 8, act=act), name="o")
        p = DepthwiseConv2D().prepare(g, g.operators[0])
        assert dw_tiny(p) == tiny and dw_transposed(p) == (not tiny), act


def _check_dsp_layouts_on_host(graphs, xs, root) -> None:
    """The DSP target's generated code (its parameter layouts) built for the host (the C99 kernels read them) with
    -fsanitize=address,undefined: each model equals the emulator."""
    import os

    from tests.test_codegen import SAN, Suite, _harness, run_model
    from tinygen.codegen.generator import generate

    if shutil.which("gcc") is None:
        return
    suite = Suite(root)
    for name, g in graphs.items():
        suite.graphs[name] = g
        suite.gen[name] = generate(g, root / name, name, target="cortex-m4")
    (root / "harness.c").write_text(_harness([(n, suite.graphs[n]) for n in suite.gen]))
    exe = suite.build("san", "gcc", SAN)
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0:abort_on_error=0", UBSAN_OPTIONS="print_stacktrace=1")
    for name, g in graphs.items():
        got = run_model(exe, name, g, [np.stack([s[k] for s in xs[name]]) for k in range(len(g.inputs))], env=env)
        ref = Emulator(g).run_internal([np.stack([s[k] for s in xs[name]]) for k in range(len(g.inputs))])
        for k, (a, b) in enumerate(zip(got, ref)):
            assert np.array_equal(a, b), f"{name} (host C, ASan+UBSan, DSP layouts) output {k} differs"


# ---------------------------------------------------------------- builds


def test_dsp_kernels_build_at_every_optimization_level(tmp_path):
    """The inline assembly leaves the compiler enough registers at -O0 and with a frame pointer,
    and assembles with clang too (compile only); the Helium kernels likewise on the Cortex-M55 (GCC)."""
    import subprocess

    from tinygen.codegen.generator import kernels_dir

    arch = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-std=c99", "-Wall", "-Wextra", "-Werror"]
    compilers = [["arm-none-eabi-gcc"]]
    if shutil.which("clang"):
        compilers.append(["clang", "--target=arm-none-eabi", "-isystem", "/usr/lib/arm-none-eabi/include"])
    for cc in compilers:
        for opt in (["-O0"], ["-Og"], ["-Os"], ["-O3"], ["-O2", "-fno-omit-frame-pointer"]):
            for src in ("tg_conv.c", "tg_dwconv.c", "tg_fc.c", "tg_eltwise.c"):
                p = subprocess.run([*cc, *arch, *opt, f"-I{kernels_dir()}", "-c", str(kernels_dir() / src),
                                    "-o", str(tmp_path / "k.o")], capture_output=True, text=True)
                assert p.returncode == 0, f"{cc[0]} {' '.join(opt)} {src}:\n{p.stderr[-2000:]}"
                nm = subprocess.run(["arm-none-eabi-nm", str(tmp_path / "k.o")], capture_output=True, text=True).stdout
                if src == "tg_conv.c":
                    assert "tg_conv_pairs" in nm, "DSP path not compiled"
    # the Helium kernels (inline assembly with even / low register constraints, a naked micro-kernel) and the
    # entry points that hand ops to them, on the Cortex-M55 with GCC
    arch55 = ["-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard", "-mfpu=auto", "-std=c99", "-Wall", "-Wextra", "-Werror"]
    for opt in (["-O0"], ["-Og"], ["-Os"], ["-O3"], ["-O2", "-fno-omit-frame-pointer"]):
        for src in ("tg_mve.c", "tg_conv.c", "tg_fc.c", "tg_eltwise.c"):
            p = subprocess.run(["arm-none-eabi-gcc", *arch55, *opt, f"-I{kernels_dir()}", "-c", str(kernels_dir() / src),
                                "-o", str(tmp_path / "k.o")], capture_output=True, text=True)
            assert p.returncode == 0, f"cortex-m55 {' '.join(opt)} {src}:\n{p.stderr[-2000:]}"
            nm = subprocess.run(["arm-none-eabi-nm", str(tmp_path / "k.o")], capture_output=True, text=True).stdout
            if src == "tg_mve.c":
                assert "tg_mve_ocs" in nm and "tg_conv2d_mve" in nm, "Helium path not compiled"


# ---------------------------------------------------------------- other emulated cores

# The other emulated Cortex-M boards (M7 mps2-an500, M33 mps2-an505, M55 mps3-an547): all three
# have the DSP extension, so the kernels' DSP path is what runs on the M7 and M33; the M55 runs the Helium
# (MVE) kernels of tg_mve.c for CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED and ADD (below), the DSP path
# in a build with -DTG_NO_MVE.
OTHER_CORES = ("qemu-cortex-m7", "qemu-cortex-m33", "qemu-cortex-m55")
M55 = "qemu-cortex-m55"
MVE_FUNCS = ("tg_conv2d_mve", "tg_dwconv_mve_s8", "tg_fc_mve", "tg_add_mve")


def linked(fw, names) -> set[str]:
    """Which of these functions the firmware's ELF defines (nm)."""
    import subprocess

    out = subprocess.run(["arm-none-eabi-nm", str(fw.elf)], capture_output=True, text=True, check=True).stdout
    syms = {line.split()[-1] for line in out.splitlines() if line.strip()}
    return {n for n in names if n in syms}


@pytest.mark.parametrize("board", OTHER_CORES)
def test_small_model_bit_exact_on_other_cores(board, zoo, tmp_path):
    """One small zoo model (DS-CNN: CONV_2D, DEPTHWISE_CONV_2D, AVERAGE_POOL, FULLY_CONNECTED,
    SOFTMAX) on the DSP kernels and on the C99 path, bit-exact with the emulator."""
    from tinygen.boards.mcu_run import build_models, run_models

    name = "ds_cnn_kws"
    g = read_model(zoo[name])
    rng = np.random.default_rng(17)
    xs = {name: samples(g, rng, 1)}
    dsp = build_models(board, {name: g}, xs, tmp_path / "dsp")
    flags = dsp_flags(dsp.generated[name])
    if board == M55:  # Helium: depthwise ops get the MVE kernel's own layout (dsp = 0); the others the DSP tables
        assert dsp.generated[name].c_file.read_text().count("tg_dwconv_mve_s8(") == 4
        assert linked(dsp, MVE_FUNCS) == set(MVE_FUNCS) - {"tg_add_mve"}
        flags = [f for f, op in zip(flags, [o for o in g.operators if o.op in ("CONV_2D", "DEPTHWISE_CONV_2D",
                                                                                  "FULLY_CONNECTED")])
                 if op.op != "DEPTHWISE_CONV_2D"]
    assert flags and 0 not in flags
    port = build_models(board, {name: g}, xs, tmp_path / "portable", portable=True, generated=dsp.generated)
    cost = {}
    for fw in (dsp, port):
        res = run_models(fw, timeout=120)
        check(f"{name} on {board}", g, xs[name], res.models[name])
        cost[fw is dsp] = res.models[name][0].instructions
    assert cost[True] < cost[False], f"the DSP build must run fewer instructions on {board}: {cost}"


def wide_conv(rng, oc: int = 300) -> bytes:
    """A 1x1 CONV_2D with more output channels than the Helium kernel decodes at once (passes of 256)."""
    m = ModelBuilder()
    cin = 20
    x = m.tensor([1, 3, 3, cin], scale=0.05, zero_point=_zp(rng))
    wd = rng.integers(-127, 128, size=(oc, 1, 1, cin))
    ws = _q_scales(rng, oc, True)
    w = m.tensor(wd.shape, data=wd, scale=ws, zero_point=0, axis=0)
    bias = m.tensor([oc], dtype=np.int32, data=rng.integers(-5000, 5000, size=oc), scale=0.05 * ws)
    y = m.tensor([1, 3, 3, oc], scale=_out_scale(rng, float(np.sqrt(cin) * 60 * np.median(ws) * 60 * 0.05 / 40)),
                 zero_point=_zp(rng))
    m.op("CONV_2D", [x, w, bias], [y], padding="VALID", stride_h=1, stride_w=1, fused_activation_function="NONE")
    return m.build([x], [y])


def wide_dw(rng) -> bytes:
    """A 7x7 DEPTHWISE_CONV_2D over rows 500 pixels wide: too wide for the Helium plane and row kernels'
    stack buffers, so the pixel kernel runs it (edges included: SAME padding)."""
    m = ModelBuilder()
    c = 5
    x = m.tensor([1, 7, 500, c], scale=0.05, zero_point=_zp(rng))
    wd = rng.integers(-127, 128, size=(1, 7, 7, c))
    ws = _q_scales(rng, c, True)
    w = m.tensor(wd.shape, data=wd, scale=ws, zero_point=0, axis=3)
    bias = m.tensor([c], dtype=np.int32, data=rng.integers(-5000, 5000, size=c), scale=0.05 * ws)
    y = m.tensor([1, 7, 500, c], scale=_out_scale(rng, float(7 * 60 * np.median(ws) * 60 * 0.05 / 40)),
                 zero_point=_zp(rng))
    m.op("DEPTHWISE_CONV_2D", [x, w, bias], [y], padding="SAME", stride_h=1, stride_w=1, depth_multiplier=1,
         fused_activation_function="RELU6")
    return m.build([x], [y])


def test_mve_kernels_bit_exact_on_cortex_m55(tmp_path):
    """The Helium kernels (tg_mve.c) on QEMU mps3-an547: random CONV_2D (general, 1x1, strided, padded,
    dilated, odd channel counts), DEPTHWISE_CONV_2D (depth multipliers 1/2/3/8, large and temporal
    filters), FULLY_CONNECTED, ADD/SUB (and broadcast ADD, which stays on C) with trained-like weights,
    left and right shifts, many rounding ties and huge biases: every op on its MVE kernel, equal to the
    emulator element for element; the same generated code built with -DTG_NO_MVE (the DSP kernels, conv /
    FC / ADD; the depthwise layout's C99 loop) equal too, and slower."""
    from tinygen.analysis.inspect import kernel_info
    from tinygen.boards.mcu_run import build_models, run_models

    graphs = {**random_models(), **random_dw_models(n=24)}
    graphs["conv_wide"] = parse_model(wide_conv(np.random.default_rng(300)), name="conv_wide")
    graphs["dw_wide"] = parse_model(wide_dw(np.random.default_rng(500)), name="dw_wide")
    from tinygen.ops.conv import DepthwiseConv2D, dw_mve_kernel

    dwk = {dw_mve_kernel(DepthwiseConv2D().prepare(g, g.operators[0])) for n, g in graphs.items() if n.startswith("dw")}
    assert dwk == {"plane", "row", "pixel"}, dwk  # all three depthwise kernels run
    rng = np.random.default_rng(55)
    xs = {name: samples(g, rng, 2) for name, g in graphs.items()}
    mve = build_models(M55, graphs, xs, tmp_path / "mve", optimize="speed")
    assert linked(mve, MVE_FUNCS) == set(MVE_FUNCS)
    variants = {n: kernel_info(g, target="cortex-m55", fit_scratch=False)[0]["kernel"] for n, g in graphs.items()}
    on = [n for n, v in variants.items() if v == "mve"]
    off = {n: v for n, v in variants.items() if v != "mve"}
    # every op but grouped / single-channel convs without the DSP entry and broadcast ADDs
    assert all(n.startswith(("conv", "add_bcast")) for n in off), off
    assert len(on) >= 0.9 * len(graphs), off
    assert sum(n.startswith("dw") for n in on) >= 30 and sum(n.startswith("fc") for n in on) >= 15
    assert sum(n.startswith("add_") and not n.startswith("add_bcast") for n in on) >= 6
    res = run_models(mve, timeout=120)
    for name, g in graphs.items():
        check(f"{name} (mve)", g, xs[name], res.models[name])
    # a sample of them built with -DTG_NO_MVE: the DSP kernels (depthwise: the MVE layout's C99 loop)
    sub = {n: graphs[n] for n in on[::6]}
    nomve = build_models(M55, sub, {n: xs[n] for n in sub}, tmp_path / "nomve", kernel_cflags=["-DTG_NO_MVE=1"],
                         generated={n: mve.generated[n] for n in sub})
    assert linked(nomve, MVE_FUNCS) == {"tg_dwconv_mve_s8"}
    res_off = run_models(nomve, timeout=120)
    for name, g in sub.items():
        check(f"{name} (no MVE)", g, xs[name], res_off.models[name])
    cost = [sum(r.models[n][0].instructions for n in sub) for r in (res, res_off)]
    assert cost[0] < cost[1], cost


@pytest.mark.parametrize("name", ["mlperf_ic_resnet_large_int8",
                                  pytest.param("mlperf_vww_mbv1_20blk_791k_int8", marks=pytest.mark.slow)])
def test_corpus_model_on_cortex_m55_helium(name, tmp_path):
    """A real trained model on the M55 with the Helium kernels, its weights in the QSPI flash ([rodata]):
    the corpus's reference input and a random one, bit-exact with the emulator; every CONV_2D /
    DEPTHWISE_CONV_2D / FULLY_CONNECTED reports the "mve" variant. (VWW's 800 KB of weights did not fit
    the 512 KB ITCM before.)"""
    from tests.support.corpus import SKIP_REASON, corpus_model, golden
    from tinygen.analysis.inspect import kernel_info
    from tinygen.boards.mcu_run import build_models, run_models

    m = corpus_model(name)
    if m is None:
        pytest.skip(SKIP_REASON)
    g = read_model(m.path)
    rng = np.random.default_rng(47)
    xs = samples(g, rng, 1)[3:]  # one random input
    gold = golden(m)
    if gold:
        xs.append([gold[0][0].reshape(tuple(g.input_tensors[0].shape)).astype(g.input_tensors[0].dtype)])
    fw = build_models(M55, {name: g}, {name: xs}, tmp_path / "m55")
    assert linked(fw, ["tg_conv2d_mve"])
    kinds = {k["kernel"] for k, op in zip(kernel_info(g, target="cortex-m55"), g.operators)
             if op.op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")}
    assert kinds == {"mve"}, kinds
    res = run_models(fw, timeout=300)
    check(f"{name} on {M55} (mve)", g, xs, res.models[name])


@pytest.mark.slow
@pytest.mark.parametrize("board", OTHER_CORES)
def test_zoo_bit_exact_on_other_cores(board, zoo, tmp_path):
    from tinygen.boards.mcu_run import build_models, run_models

    from tinygen.boards.catalog import load_board

    rng = np.random.default_rng(2025)
    graphs = {name: read_model(path) for name, path in sorted(zoo.items())}
    xs = {name: samples(g, rng, 2) for name, g in graphs.items()}
    # The whole zoo is ~900 KB of code and weights: on the M55's 512 KB ITCM it runs in groups.
    budget = load_board(board).flash.size // 2
    groups, size = [[]], 0
    for name in graphs:
        n = zoo[name].stat().st_size
        if groups[-1] and size + n > budget:
            groups.append([])
            size = 0
        groups[-1].append(name)
        size += n
    for i, group in enumerate(groups):
        fw = build_models(board, {n: graphs[n] for n in group}, {n: xs[n] for n in group}, tmp_path / f"zoo{i}")
        res = run_models(fw, timeout=300)
        for name in group:
            check(f"{name} on {board}", graphs[name], xs[name], res.models[name])


@pytest.mark.slow
@pytest.mark.parametrize("board", OTHER_CORES)
def test_random_ops_dsp_and_portable_bit_exact_on_other_cores(board, tmp_path):
    from tinygen.boards.mcu_run import build_models, run_models

    graphs = {**random_models(), **random_dw_models()}
    rng = np.random.default_rng(8)
    xs = {name: samples(g, rng, 2) for name, g in graphs.items()}
    dsp = build_models(board, graphs, xs, tmp_path / "dsp")
    port = build_models(board, graphs, xs, tmp_path / "portable", portable=True, generated=dsp.generated)
    for fw in (dsp, port):
        res = run_models(fw, timeout=300)
        for name, g in graphs.items():
            check(f"{name} on {board} ({'portable' if fw is port else 'dsp'})", g, xs[name], res.models[name])


@pytest.mark.skipif(shutil.which("riscv64-unknown-elf-gcc") is None or shutil.which("qemu-system-riscv32") is None,
                    reason="needs riscv64-unknown-elf-gcc (+ picolibc) and qemu-system-riscv32")
@pytest.mark.parametrize("name", ["ds_cnn_kws", pytest.param("resnet8_ic", marks=pytest.mark.slow)])
def test_portable_kernels_bit_exact_on_riscv32(name, zoo, tmp_path):
    """RV32IMAC (QEMU virt): the C99 kernels (no DSP extension there) bit-exact with the emulator."""
    from tinygen.boards.mcu_run import build_models, run_models

    g = read_model(zoo[name])
    rng = np.random.default_rng(23)
    xs = {name: samples(g, rng, 1)}
    fw = build_models("qemu-riscv32", {name: g}, xs, tmp_path / "rv")
    res = run_models(fw, timeout=300)
    check(f"{name} on qemu-riscv32", g, xs[name], res.models[name])
    assert res.models[name][0].instructions > 0


@pytest.mark.skipif(shutil.which("riscv64-unknown-elf-gcc") is None or shutil.which("qemu-system-riscv32") is None,
                    reason="needs riscv64-unknown-elf-gcc (+ picolibc) and qemu-system-riscv32")
def test_random_conv_dw_fc_bit_exact_on_riscv32(tmp_path):
    """The random CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED / ADD models of the Cortex-M tests on
    RV32IMAC: the C99 kernels (the RV32-tuned paths: im2col of two pixels into the DSP scratch, 4-filter
    runs, channel-outer depthwise, blocked and paired FC layouts) read every layout the generator writes for
    RV32 (packed conv channel pairs are for DSP targets only; their C path runs in the portable Cortex-M tests):
    optimize="speed" gives every layer its DSP layout and scratch, the default plan gives some convolutions
    the plain C99 kernel."""
    from tinygen.boards.mcu_run import build_models, run_models

    graphs = {**random_models(), **random_dw_models()}
    rng = np.random.default_rng(29)
    xs = {name: samples(g, rng, 2) for name, g in graphs.items()}
    fast = build_models("qemu-riscv32", graphs, xs, tmp_path / "speed", optimize="speed")
    convs = {n: g for n, g in graphs.items() if n.startswith("conv")}
    plain = build_models("qemu-riscv32", convs, {n: xs[n] for n in convs}, tmp_path / "default")
    text = "".join(fw.generated[n].c_file.read_text() for fw in (fast, plain) for n in fw.generated)
    for call in ("tg_conv2d_dsp_s8(", "tg_conv2d_dspl_s8(", "tg_conv2d_s8(", "tg_fc_s8(", "tg_fc_p_s8(", "tg_dwconv_s8(",
                 "tg_dwconv_p3_s8(", "tg_dwconv_dm_s8("):
        assert call in text, f"no model calls {call[:-1]}"
    assert re.search(r"\.pairs = 1", text) and re.search(r"\.w_row = -2", text)   # paired FC, transposed 3x3
    for fw in (fast, plain):
        res = run_models(fw, timeout=300)
        for name in fw.generated:
            check(f"{name} on qemu-riscv32", graphs[name], xs[name], res.models[name])


# ---------------------------------------------------------------- element-wise ADD / SUB / MUL

_PERIODIC = ("chan", "chan_rank1", "row", "scalar")


def _eltwise_shapes(rng, kind: str):
    """(full shape, other shape): the other is the full one (same), a per-channel [1,1,1,C] or [C], a row
    [1,1,W,C], a scalar [1], or (general) a shape broadcasting on both sides."""
    h, w, c = int(rng.integers(2, 7)), int(rng.integers(1, 9)), int(rng.choice([1, 3, 4, 8, 16, 33]))
    full = [1, h, w, c]
    other = {"same": full, "chan": [1, 1, 1, c], "chan_rank1": [c], "row": [1, 1, w, c], "scalar": [1],
             "general": [1, h, 1, c]}[kind]
    if kind == "general":  # both inputs broadcast: [1, H, 1, C] with [1, 1, W, C]
        return [1, 1, w, c], other, [1, h, w, c]
    return full, other, full


def eltwise_model(rng, op: str, kind: str, swap: bool, scales: str) -> bytes:
    """One ADD / SUB / MUL: `kind` of broadcast (_eltwise_shapes), the periodic input first when `swap`;
    scales: "random", "ties" (powers of two: every rescaling lands on exact halves), "tiny" (one input's
    scale below 2^-31 of the other's, like a trained per-channel bias: a right shift of 31 on it) or "left"
    (MUL: real multiplier > 1, a left shift)."""
    m = ModelBuilder()
    sa, sb, so = _eltwise_shapes(rng, kind)
    if swap:
        sa, sb = sb, sa
    if scales == "ties":
        s0, s1 = 2.0 ** -int(rng.integers(2, 8)), 2.0 ** -int(rng.integers(2, 8))
        sy = (max(s0, s1) if op != "MUL" else s0 * s1) * 2.0 ** int(rng.integers(-1, 4))
    elif scales == "tiny":
        s0 = float(rng.uniform(0.01, 0.2))
        s1 = s0 * 2.0 ** -float(rng.uniform(28.5, 31.9))
        if swap:
            s0, s1 = s1, s0
        sy = max(s0, s1) * float(rng.uniform(0.6, 4.0))
    else:
        s0, s1 = float(rng.uniform(0.005, 0.3)), float(rng.uniform(0.005, 0.3))
        if op == "MUL":
            sy = s0 * s1 * (float(rng.uniform(0.02, 0.9)) if scales == "left" else float(rng.uniform(1.2, 300.0)))
        else:
            sy = max(s0, s1) * float(rng.uniform(0.6, 4.0))
    a = m.tensor(sa, scale=s0, zero_point=_zp(rng))
    b = m.tensor(sb, scale=s1, zero_point=_zp(rng))
    y = m.tensor(so, scale=sy, zero_point=_zp(rng))
    act = str(rng.choice(["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]))
    m.op(op, [a, b], [y], fused_activation_function=act)
    return m.build([a, b], [y])


def add_table_models(seed: int = 17) -> dict[str, object]:
    """Same-shape ADDs: tg_add_half's table of the smaller-scale input's part (TG_ADD_LUT_MIN = 256 elements and
    up) and the loop without it just below: 255 / 256 / 1,500 elements, either input the larger-scale one, random
    and power-of-two (tie) scales, the full int8 range (one SSAT) or a fused RELU / RELU6 (a clamp)."""
    rng = np.random.default_rng(seed)
    out = {}
    for n, act in ((255, "NONE"), (256, "NONE"), (1500, "NONE"), (255, "RELU"), (300, "RELU"), (700, "RELU6")):
        for big_first in (False, True):
            for ties in (False, True):
                m = ModelBuilder()
                s0, s1 = ((2.0 ** -3, 2.0 ** -5) if ties else (float(rng.uniform(0.05, 0.3)), float(rng.uniform(0.005, 0.05))))
                if not big_first:
                    s0, s1 = s1, s0
                sy = max(s0, s1) * (2.0 if ties else float(rng.uniform(0.8, 3.0)))
                a = m.tensor([1, n], scale=s0, zero_point=_zp(rng))
                b = m.tensor([1, n], scale=s1, zero_point=_zp(rng))
                y = m.tensor([1, n], scale=sy, zero_point=_zp(rng))
                m.op("ADD", [a, b], [y], fused_activation_function=act)
                name = f"add_table_{n}_{act.lower()}_{'big_first' if big_first else 'big_second'}{'_ties' if ties else ''}"
                out[name] = parse_model(m.build([a, b], [y]), name=name)
    return out


def eltwise_models(seed: int = 91) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    specs = []
    for op in ("ADD", "SUB", "MUL"):
        for kind in ("same",) + _PERIODIC + ("general",):
            for swap in ((False,) if kind in ("same", "general") else (False, True)):
                for scales in ("random", "ties") + (("left",) if op == "MUL" else ("tiny",)):
                    specs.append((op, kind, swap, scales))
    out = {}
    for i, spec in enumerate(specs):
        name = "elt_{}_{}{}_{}_{}".format(spec[0].lower(), spec[1], "_swap" if spec[2] else "", spec[3], i)
        try:
            g = parse_model(eltwise_model(rng, *spec), name=name)
            from tinygen.ops import check_graph

            check_graph(g)
        except UnsupportedOpError:
            continue
        out[name] = g
    return out


def test_eltwise_dsp_and_portable_bit_exact(tmp_path):
    """ADD / SUB / MUL without broadcast, with a periodic input (per-channel [C], a row [W, C], a scalar; first
    or second), with a general broadcast, at random, power-of-two (rounding ties), tiny (right shift 31) and
    left-shifting scales, every fused activation: the DSP build (tg_add_dsp, tg_add_dsp_period, tg_mul_dsp)
    and the portable one equal the emulator element for element."""
    from tinygen.boards.mcu_run import build_models

    graphs = eltwise_models()
    assert len(graphs) >= 60, len(graphs)
    graphs.update(add_table_models())
    rng = np.random.default_rng(6)
    xs = {name: samples(g, rng, 3) for name, g in graphs.items()}
    dsp = build_models(BOARD, graphs, xs, tmp_path / "dsp")
    port = build_models(BOARD, graphs, xs, tmp_path / "portable", portable=True, generated=dsp.generated)
    fields = {n: dict(re.findall(r"\.(dsp|period|full) = (\d+)", dsp.generated[n].c_file.read_text()))
              for n in graphs}
    periodic = [n for n, f in fields.items() if f.get("dsp") == "1" and int(f.get("period", 0)) > 0]
    # the periodic DSP kernels run for ADD, SUB and MUL, with the full input first and second
    for op in ("add", "sub", "mul"):
        for full in ("0", "1"):
            assert any(n.startswith(f"elt_{op}_") and fields[n]["full"] == full for n in periodic), (op, full, fields)
    tiny = [n for n in graphs if "_tiny_" in n and "_general" not in n and "_same" not in n]
    assert len(tiny) >= 12 and all(fields[n].get("dsp") == "1" for n in tiny), fields  # the tiny side is periodic
    assert sum(f.get("dsp") == "1" for f in fields.values()) >= 0.7 * len(fields), fields
    # one entry point per ADD / SUB variant (a firmware links only what its ops use)
    for n, f in fields.items():
        if n.startswith(("elt_add_", "elt_sub_")):
            want = ("tg_add_period_s8(" if int(f.get("period", 0)) else "tg_add_half_s8(") if f.get("dsp") == "1" \
                else "tg_add_s8("
            assert want in dsp.generated[n].c_file.read_text(), (n, f, want)
    for n in graphs:  # the table models take the DSP kernel without a period (tg_add_half)
        if n.startswith("add_table_"):
            assert fields[n].get("dsp") == "1" and int(fields[n].get("period", 0)) == 0, (n, fields[n])
    check_builds(graphs, xs, dsp, port)
