"""AVERAGE_POOL_2D / MAX_POOL_2D int8 on an emulated Cortex-M4: the DSP kernels of tg_pool.c (4 channels
per word) and the C99 path (-DTG_PORTABLE), bit-exact with the emulator and with tflite_micro.

* the DSP average's division (SSUB16 + SEL + SADD16 + SMULWB/SMULWT, see tg_pool.c) mirrored in numpy and
  checked against TFLM's rounding for every tap count it serves (1..128) and every int8 sum;
* random pooling layers (filters, strides, SAME/VALID padding, odd widths, channels not multiple of 4,
  batches, activation clamps, windows past the 128-tap DSP bound) and the corpus models' pool shapes, on
  QEMU with the DSP kernels and with the C99 kernels (one firmware each);
* the kernel variant `inspect` / `generate` report for the pools.
"""
from __future__ import annotations

import os
import re
import shutil

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.opmodels import ModelBuilder
from tinygen.ops.conv import output_size

ACTS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]
BOARD = "qemu-cortex-m4"
needs_qemu = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                                reason="needs arm-none-eabi-gcc and qemu-system-arm")


# ---------------------------------------------------------------- the DSP average's division, in numpy


def tflm_average(acc: np.ndarray, n: int) -> np.ndarray:
    """TFLM reference_integer_ops::AveragePool: (acc +- n/2) / n, C's truncating division."""
    h = n // 2
    num = np.where(acc > 0, acc + h, acc - h)
    return np.sign(num) * (np.abs(num) // n)


def dsp_average(acc: np.ndarray, n: int) -> np.ndarray:
    """tg_pool_avg4's arithmetic on one int16 lane: AND takes the lane's sign bit where n is even, SSUB16
    subtracts it from 128 n + n/2, SADD16 adds the sum (must stay a non-negative int16), SMULWB by
    m = ceil(2^24 / n) keeps bits 16..47 of the product, the packing takes bits 8..15, EOR 0x80 takes the
    128 off."""
    h = n // 2
    m = -(-(1 << 24) // n)
    sign = ((acc & 0xFFFF) >> 15) & (0 if n % 2 else 1)  # bit 15 of the int16 lane, masked
    num = acc + (128 * n + h - sign)
    assert np.array_equal(num, acc + 128 * n + np.where(acc >= 0, h, n - 1 - h))  # the c of the comment
    assert num.min() >= 0 and num.max() <= 32767, "the numerator left the int16 lane"
    assert np.abs(acc).max() <= 32767
    r = (num * m) >> 16
    assert r.max() < 1 << 16
    return ((r >> 8) & 0xFF) - 128


def test_dsp_average_division_exact_for_every_count_and_sum():
    for n in range(1, 129):
        acc = np.arange(-128 * n, 127 * n + 1, dtype=np.int64)
        np.testing.assert_array_equal(dsp_average(acc, n), tflm_average(acc, n), err_msg=f"{n} taps")


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 128), taps=st.data())
def test_dsp_average_matches_tflm_on_random_windows(n, taps):
    """The same from int8 taps (sums built as the kernel builds them), against the C99 rounding."""
    xs = np.array(taps.draw(st.lists(st.integers(-128, 127), min_size=n, max_size=n)), np.int64)
    acc = np.array([xs.sum()])
    assert dsp_average(acc, n)[0] == tflm_average(acc, n)[0]


# ---------------------------------------------------------------- pooling layers on QEMU


def build_pool(kind, in_shape, k, stride, padding, scale, zp, act="NONE") -> bytes:
    b, h, w, c = in_shape
    out_hw = (output_size(padding, h, k[0], stride[0], 1), output_size(padding, w, k[1], stride[1], 1))
    m = ModelBuilder()
    x = m.tensor(list(in_shape), scale=scale, zero_point=zp)
    y = m.tensor([b, *out_hw, c], scale=scale, zero_point=zp)
    m.op(kind, [x], [y], padding=padding, stride_h=stride[0], stride_w=stride[1], filter_height=k[0],
         filter_width=k[1], fused_activation_function=act)
    return m.build([x], [y])


# the corpus models' pools (micronet CIFAR-10, DS-CNN L, micronet M, YOLO-fastest, ResNet, MobileNet, on/off)
CORPUS_SHAPES = [
    ("AVERAGE_POOL_2D", (1, 32, 32, 16), (3, 3), (2, 2), "SAME"),
    ("AVERAGE_POOL_2D", (1, 16, 16, 96), (3, 3), (2, 2), "SAME"),
    ("AVERAGE_POOL_2D", (1, 8, 8, 10), (8, 8), (8, 8), "SAME"),
    ("AVERAGE_POOL_2D", (1, 13, 5, 276), (13, 5), (13, 5), "VALID"),
    ("AVERAGE_POOL_2D", (1, 25, 5, 196), (25, 5), (1, 1), "VALID"),
    ("AVERAGE_POOL_2D", (1, 8, 8, 160), (8, 8), (8, 8), "VALID"),
    ("AVERAGE_POOL_2D", (1, 3, 3, 512), (3, 3), (3, 3), "VALID"),
    ("AVERAGE_POOL_2D", (1, 2, 1, 40), (2, 1), (2, 1), "VALID"),
    ("MAX_POOL_2D", (1, 6, 6, 48), (3, 3), (1, 1), "SAME"),
    ("MAX_POOL_2D", (1, 6, 6, 48), (5, 5), (1, 1), "SAME"),
    ("MAX_POOL_2D", (1, 6, 6, 48), (9, 9), (1, 1), "SAME"),
]


def random_pool(rng, kind: str, big: bool = False):
    padding = str(rng.choice(["SAME", "VALID"]))
    if big:  # windows of more than 128 taps (the DSP average's bound): 12x12 .. 16x13
        h, w = int(rng.integers(12, 17)), int(rng.integers(11, 14))
        k = (h, w) if padding == "VALID" else (int(rng.integers(12, h + 1)), int(rng.integers(11, w + 1)))
        stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    else:
        h, w = int(rng.integers(1, 12)), int(rng.integers(1, 12))
        k = (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
        if padding == "VALID":
            k = (min(k[0], h), min(k[1], w))
        stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    c = int(rng.choice([1, 2, 3, 4, 5, 7, 8, 12, 13, 16, 33]))
    b = int(rng.choice([1, 1, 1, 2]))
    act = str(rng.choice(ACTS))
    zp = int(rng.choice([-128, 127, 0, int(rng.integers(-128, 128))]))
    scale = float(rng.uniform(0.005, 0.1))
    if act == "RELU_N1_TO_1":
        scale = min(scale, 2.5 / 255)
    return build_pool(kind, (b, h, w, c), k, stride, padding, scale, zp, act)


def pool_models(seed: int = 10) -> dict[str, object]:
    from tinygen.errors import UnsupportedOpError
    from tinygen.model.reader import parse_model
    from tinygen.ops import check_graph

    rng = np.random.default_rng(seed)
    models = {}
    for i, (kind, shape, k, stride, padding) in enumerate(CORPUS_SHAPES):
        act = "RELU" if i % 3 == 1 else "NONE"
        models[f"corpus_{kind[:3].lower()}_{i}"] = build_pool(kind, shape, k, stride, padding, 0.03, int(rng.integers(-20, 20)),
                                                            act)
    for i in range(24):
        kind = "AVERAGE_POOL_2D" if i % 2 == 0 else "MAX_POOL_2D"
        models[f"rand_{kind[:3].lower()}_{i}"] = random_pool(rng, kind)
    for i in range(3):
        models[f"big_avg_{i}"] = random_pool(rng, "AVERAGE_POOL_2D", big=True)
    out = {}
    for name, data in models.items():
        try:
            g = parse_model(data, name=name)
            check_graph(g)
        except UnsupportedOpError:
            continue
        out[name] = (g, data)
    return out


def pool_samples(g, rng, n_random: int) -> list[list[np.ndarray]]:
    """Edge inputs (all -128, all 127, all zero point, +-1 around the zero point in a checkerboard: exact
    halves of the average) and random ones."""
    t = g.input_tensors[0]
    shape = tuple(t.shape)
    zp = t.zero_point
    board = (np.indices(shape).sum(axis=0) % 2).astype(np.int64)
    xs = [np.full(shape, -128), np.full(shape, 127), np.full(shape, zp), np.clip(zp - 1 + 2 * board, -128, 127),
          np.where(board == 1, 127, -128)]
    xs += [rng.integers(-128, 128, size=shape) for _ in range(n_random)]
    return [[x.astype(np.int8)] for x in xs]


@pytest.fixture(scope="module")
def pools():
    return pool_models()


@pytest.mark.qemu
@needs_qemu
def test_random_pools_dsp_and_portable_bit_exact(pools, tmp_path):
    from tests.support.oracle import tflm_run_batch
    from tinygen.boards.mcu_run import build_models, run_models
    from tinygen.emulator.engine import Emulator

    assert len(pools) >= 35, sorted(pools)
    graphs = {n: g for n, (g, _) in pools.items()}
    rng = np.random.default_rng(3)
    xs = {n: pool_samples(g, rng, 3) for n, g in graphs.items()}
    # the emulator equals tflite_micro on every sample (the reference both builds are compared with)
    refs = {}
    for n, (g, data) in pools.items():
        batch = np.stack([s[0] for s in xs[n]])
        refs[n] = Emulator(g).run_internal([batch])[0]
        oracle = tflm_run_batch(data, [batch], g)[0]
        np.testing.assert_array_equal(refs[n], oracle, err_msg=f"{n}: emulator vs tflite_micro")
    # windows past the DSP average's 128 taps and windows within it are both among them
    taps = {n: g.operators[0].options["filter_height"] * g.operators[0].options["filter_width"] for n, g in graphs.items()}
    assert any(t > 128 for n, t in taps.items() if n.startswith("big")) and any(t <= 128 for t in taps.values())
    assert sum(g.tensors[g.inputs[0]].shape[3] % 4 != 0 for g in graphs.values()) >= 8
    dsp = build_models(BOARD, graphs, xs, tmp_path / "dsp")
    port = build_models(BOARD, graphs, xs, tmp_path / "portable", portable=True, generated=dsp.generated)
    # both average-pool entries run: tg_avgpool4_s8 (no C per-pixel code) and tg_avgpool_s8 (windows past 128
    # taps, fewer than 4 channels)
    calls = [re.findall(r"(tg_avgpool4?_s8)\(", dsp.generated[n].c_file.read_text()) for n in graphs]
    assert ["tg_avgpool4_s8"] in calls and ["tg_avgpool_s8"] in calls, calls
    for fw in (dsp, port):
        res = run_models(fw, timeout=120)
        for name, g in graphs.items():
            for s, r in enumerate(res.models[name]):
                got, want = r.outputs[0], refs[name][s]
                if not np.array_equal(got, want):
                    bad = np.argwhere(got != want)
                    raise AssertionError(f"{name} ({'portable' if fw is port else 'dsp'}) sample {s}: {len(bad)}/"
                                         f"{got.size} differ, first at {bad[0].tolist()}: Cortex-M4 "
                                         f"{got[tuple(bad[0])]} vs emulator {want[tuple(bad[0])]}")


def test_pool_kernel_variants(pools):
    from tinygen.ops import REGISTRY
    from tinygen.ops.base import C99, DSP

    for name, (g, _) in list(pools.items())[:6]:
        op = g.operators[0]
        impl = REGISTRY[op.op]
        p = impl.prepare(g, op)
        v = impl.kernel_variant(p, "cortex-m4")
        assert v.name == DSP and v.scratch == 0 and "4 channels per word" in v.reason, (name, v)
        assert impl.kernel_variant(p, "cortex-m0plus").name == C99


@pytest.mark.qemu
@needs_qemu
@pytest.mark.parametrize("board", ["qemu-cortex-m7", "qemu-cortex-m33", "qemu-cortex-m55"])
def test_pools_dsp_bit_exact_on_other_cores(pools, board, tmp_path):
    """The same DSP kernels on the other Cortex-M cores with the DSP extension (a third of the layers:
    every corpus shape, random ones with odd channel counts and clamps, a window past 128 taps)."""
    from tinygen.boards.mcu_run import build_models, run_models
    from tinygen.emulator.engine import Emulator

    names = [n for n in pools if n.startswith("corpus")] + [n for n in pools if n.startswith("rand")][::3] + \
        [n for n in pools if n.startswith("big")][:1]
    graphs = {n: pools[n][0] for n in names}
    rng = np.random.default_rng(7)
    xs = {n: pool_samples(g, rng, 1) for n, g in graphs.items()}
    fw = build_models(board, graphs, xs, tmp_path / "dsp")
    res = run_models(fw, timeout=120)
    for name, g in graphs.items():
        want = Emulator(g).run_internal([np.stack([s[0] for s in xs[name]])])[0]
        for s, r in enumerate(res.models[name]):
            np.testing.assert_array_equal(r.outputs[0], want[s], err_msg=f"{name} on {board}, sample {s}")
