"""MEAN, SUM (int8, int16), REDUCE_MAX, REDUCE_MIN (int8): bit-exact with TFLite Micro over arbitrary axes,
keep_dims true/false, and the refusals."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import examples
from tests.support.opmodels import ModelBuilder
from tests.support.oracle import assert_bit_exact
from tests.support.onboard import assert_bit_exact_on_board
from tinygen.emulator.engine import Emulator
from tinygen.errors import UnsupportedOpError
from tinygen.model.reader import parse_model

ZERO_POINTS = st.one_of(st.sampled_from([-128, 127, 0]), st.integers(-128, 127))


def f32(x: float) -> float:
    return float(np.float32(x))


def mean_model(shape, axes, keep, s_in, z_in, s_out, z_out, dtype=np.int8, op="MEAN") -> bytes:
    rank = len(shape)
    resolved = {a % rank for a in axes}
    out = [1 if d in resolved else n for d, n in enumerate(shape)] if keep else [n for d, n in enumerate(shape) if d not in resolved]
    m = ModelBuilder()
    x = m.tensor(shape, dtype=dtype, scale=s_in, zero_point=z_in)
    a = m.const(np.array(axes, np.int32))
    y = m.tensor(out, dtype=dtype, scale=s_out, zero_point=z_out)
    m.op(op, [x, a], [y], keep_dims=keep)
    return m.build([x], [y])


def structured_inputs(shape, axes, rng, n=3) -> np.ndarray:
    """Per-output offsets spread over the int8 range plus noise along the reduced axes,
    so the means (not only their zero point) cover much of the range; some samples are
    saturated at -128/127."""
    rank = len(shape)
    resolved = {a % rank for a in axes}
    base_shape = [1 if d in resolved else s for d, s in enumerate(shape)]
    base = rng.integers(-128, 128, size=(n, *base_shape))
    noise = rng.integers(-40, 41, size=(n, *shape))
    x = np.clip(base + noise, -128, 127)
    x[0].reshape(-1)[::7] = 127
    if n > 2:
        x[2] = -128 if rng.random() < 0.5 else x[2]
    return x.astype(np.int8)


@st.composite
def mean_cases(draw):
    rank = draw(st.integers(1, 5))
    shape = draw(st.lists(st.integers(1, 7), min_size=rank, max_size=rank))
    n_axes = draw(st.integers(1, min(2, rank)))
    axes = draw(st.lists(st.integers(0, rank - 1), min_size=n_axes, max_size=n_axes, unique=True))
    # spell axes negatively and repeat them sometimes (TFLM resolves and de-duplicates)
    axes = [a - rank if draw(st.booleans()) else a for a in axes]
    if draw(st.integers(0, 4)) == 0:
        axes.append(axes[0])
    keep = draw(st.booleans())
    s_in = f32(2.0 ** draw(st.floats(-10, 1)))
    z_in = draw(ZERO_POINTS)
    kind = draw(st.sampled_from(["same", "scale", "both", "extreme"]))
    if kind == "same":  # identical quantization
        s_out, z_out = s_in, z_in
    elif kind == "scale":
        s_out, z_out = f32(s_in * 2.0 ** draw(st.floats(-2, 1))), z_in
    elif kind == "both":
        s_out, z_out = f32(s_in * 2.0 ** draw(st.floats(-2, 1))), draw(ZERO_POINTS)
    else:  # multipliers far from 1: folding 1/count meets the shift clamps
        s_out, z_out = f32(s_in * 2.0 ** draw(st.sampled_from([-7.3, -5, 9.5, 14, 21]))), draw(ZERO_POINTS)
    return shape, axes, keep, s_in, z_in, s_out, z_out, draw(st.integers(0, 2**31))


@settings(max_examples=examples(60), deadline=None)
@given(mean_cases())
def test_mean_bit_exact(case):
    shape, axes, keep, s_in, z_in, s_out, z_out, seed = case
    rng = np.random.default_rng(seed)
    mb = mean_model(shape, axes, keep, s_in, z_in, s_out, z_out)
    assert_bit_exact(mb, rng, inputs=[structured_inputs(shape, axes, rng)], context=str(case))


# The common global-average-pooling MEAN of [1, H, W, C] over H, W. Older TFLM releases had a
# dedicated kernel for it (and a truncating integer path for equal quantization); the oracle
# runs the general QuantizedMeanOrSum there too, and so must the emulator.
@pytest.mark.parametrize("keep", [True, False])
@pytest.mark.parametrize("hw", [(5, 7), (9, 9), (1, 1), (32, 32), (64, 48)])
@pytest.mark.parametrize("quant", [(0.05, 3, 0.05, 3), (0.05, -20, 0.02, 7), (0.1, -128, 0.1, -128), (0.02, 127, 0.01, -128)])
def test_mean_global_average_pool(keep, hw, quant):
    shape = [1, *hw, 4]
    rng = np.random.default_rng(sum(hw))
    mb = mean_model(shape, [1, 2], keep, *quant)
    assert_bit_exact(mb, rng, inputs=[structured_inputs(shape, [1, 2], rng, n=4)])


# ---------------------------------------------------------------- refusals


def _refused(model_bytes, op_index, *words):
    with pytest.raises(UnsupportedOpError) as ei:
        Emulator(parse_model(model_bytes))
    e = ei.value
    assert e.op_index == op_index and e.op_name == "MEAN", str(e)
    assert str(e).startswith(f"op {op_index} (MEAN): ")
    for w in words:
        assert w in str(e), str(e)


def _model(shape=(1, 4, 4, 3), axes=(1, 2), keep=True, axis_const=True, axis_dtype=np.int32, dtype=np.int8, out_shape=None):
    m = ModelBuilder()
    x = m.tensor(list(shape), dtype=dtype, scale=0.1, zero_point=0)
    x0 = m.tensor(list(shape), dtype=dtype, scale=0.1, zero_point=0)
    m.op("RESHAPE", [x], [x0])  # op 0; MEAN is op 1
    graph = [x]
    if axis_const:
        a = m.const(np.array(axes, axis_dtype), dtype=axis_dtype)
    else:
        a = m.tensor([len(axes)], dtype=axis_dtype)
        graph.append(a)
    rank = len(shape)
    resolved = {ax % rank for ax in axes}
    if out_shape is None:
        out_shape = [1 if d in resolved else n for d, n in enumerate(shape)] if keep else [n for d, n in enumerate(shape) if d not in resolved]
    y = m.tensor(out_shape, dtype=dtype, scale=0.1, zero_point=0)
    m.op("MEAN", [x0, a], [y], keep_dims=keep)
    return m.build(graph, [y])


def test_mean_refusals():
    _refused(_model(axes=(1, 2, 3)), 1, "MEAN over 3 axes", "at most 2")
    _refused(_model(axis_const=False), 1, "non-constant axis")
    _refused(_model(axis_dtype=np.int64), 1, "axis tensor is int64")
    _refused(_model(axes=(4,)), 1, "axis 4 is out of range")
    _refused(_model(dtype=np.float32), 1, "float32", "only int8")
    _refused(_model(shape=(1, 2, 2, 2, 2, 2), axes=(1,)), 1, "rank 6")
    _refused(_model(out_shape=[1, 2]), 1, "does not match the reduced shape")


def test_mean_over_the_model_batch_axis_is_per_sample():
    """Axis 0 of the model tensor is not the emulator's batch: reducing it stays per sample."""
    shape = [3, 4, 5]
    rng = np.random.default_rng(0)
    mb = mean_model(shape, [0], False, 0.05, 2, 0.03, -1)
    assert_bit_exact(mb, rng, inputs=[structured_inputs(shape, [0], rng, n=5)])


# ---------------------------------------------------------------- SUM, REDUCE_MAX, REDUCE_MIN


def reduce_model(op, shape, axes, keep, s_in, z_in, s_out, z_out) -> bytes:
    rank = len(shape)
    resolved = {a % rank for a in axes}
    out = [1 if d in resolved else n for d, n in enumerate(shape)] if keep else [n for d, n in enumerate(shape) if d not in resolved]
    m = ModelBuilder()
    x = m.tensor(shape, scale=s_in, zero_point=z_in)
    y = m.tensor(out, scale=s_out, zero_point=z_out)
    m.op(op, [x, m.const(np.array(axes, np.int32))], [y], keep_dims=keep)
    return m.build([x], [y])


@st.composite
def reduce_cases(draw, op):
    rank = draw(st.integers(1, 5))
    shape = draw(st.lists(st.integers(1, 6), min_size=rank, max_size=rank))
    axes = draw(st.lists(st.integers(0, rank - 1), min_size=1, max_size=rank, unique=True))
    axes = [a - rank if draw(st.booleans()) else a for a in axes]
    if draw(st.integers(0, 4)) == 0:
        axes.append(axes[0])
    keep = draw(st.booleans())
    s_in = f32(2.0 ** draw(st.floats(-10, 1)))
    z_in = draw(ZERO_POINTS)
    if op == "SUM":  # sums leave the int8 range (clamped): scales both near and far
        s_out, z_out = f32(s_in * 2.0 ** draw(st.floats(-3, 8))), draw(ZERO_POINTS)
    else:
        s_out, z_out = s_in, z_in
    return shape, axes, keep, s_in, z_in, s_out, z_out, draw(st.integers(0, 2**31))


@pytest.mark.parametrize("op", ["SUM", "REDUCE_MAX", "REDUCE_MIN"])
def test_sum_max_min_bit_exact(op):
    @settings(max_examples=examples(25), deadline=None)
    @given(reduce_cases(op))
    def check(case):
        shape, axes, keep, s_in, z_in, s_out, z_out, seed = case
        rng = np.random.default_rng(seed)
        mb = reduce_model(op, shape, axes, keep, s_in, z_in, s_out, z_out)
        assert_bit_exact(mb, rng, inputs=[structured_inputs(shape, axes, rng)], context=f"{op} {case}")

    check()


def test_sum_rounding_ties_and_saturation():
    """Scale ratios of 1/2 and 1/4 put results on .5 ties; the sums of [4, 16] int8 values leave int8 (clamped)."""
    rng = np.random.default_rng(3)
    for s_out, z_in, z_out in ((0.2, 0, 0), (0.4, 3, -5), (0.1, -128, 127), (0.05, 17, 0)):
        mb = reduce_model("SUM", [4, 16], [1], False, 0.1, z_in, s_out, z_out)
        assert_bit_exact(mb, rng, inputs=[rng.integers(-128, 128, size=(6, 4, 16)).astype(np.int8)], context=f"{s_out} {z_in} {z_out}")


def test_reduce_refusals():
    def refused(mb, name, *words):
        with pytest.raises(UnsupportedOpError) as ei:
            Emulator(parse_model(mb))
        assert ei.value.op_name == name, str(ei.value)
        for w in words:
            assert w in str(ei.value), str(ei.value)

    refused(reduce_model("REDUCE_MAX", [2, 3], [1], False, 0.1, 0, 0.2, 0), "REDUCE_MAX", "quantization differ")
    refused(reduce_model("REDUCE_MIN", [2, 3], [1], False, 0.1, 0, 0.1, 1), "REDUCE_MIN", "quantization differ")
    refused(reduce_model("SUM", [2, 3], [5], False, 0.1, 0, 0.1, 0), "SUM", "out of range")


# ---------------------------------------------------------------- int16 MEAN and SUM (16x8 models)


@settings(max_examples=examples(8), deadline=None)
@given(st.sampled_from(["MEAN", "SUM"]), st.integers(1, 4), st.booleans(), st.floats(-14, -6), st.floats(-3, 3),
       st.sampled_from([0, 0, 0, 50]), st.integers(0, 2**31), st.data())
def test_mean_sum_int16_bit_exact(op, rank, keep, e_in, e_ratio, zp, seed, data):
    shape = data.draw(st.lists(st.integers(1, 6), min_size=rank, max_size=rank))
    n_axes = data.draw(st.integers(1, min(2, rank)))
    axes = data.draw(st.lists(st.integers(0, rank - 1), min_size=n_axes, max_size=n_axes, unique=True))
    s_in = f32(2.0 ** e_in * 1.37)
    count = int(np.prod([shape[a] for a in axes]))
    s_out = f32(s_in * 2.0 ** e_ratio * (np.sqrt(count) if op == "SUM" else 1.0))
    model = mean_model(shape, axes, keep, s_in, zp, s_out, -zp, dtype=np.int16, op=op)
    rng = np.random.default_rng(seed)
    xs = rng.integers(-32768, 32768, size=(3, *shape)).astype(np.int16)
    xs[2] = rng.integers(-300, 300, size=shape)  # small values: unsaturated outputs
    assert_bit_exact(model, None, inputs=[xs], context=f"{op} {shape} {axes} keep={keep} {s_in} {s_out} zp={zp}")


def reduce16_models() -> dict[str, bytes]:
    """int16 MEAN / SUM models for the generated-C tests (host sanitizers in test_codegen, QEMU in test_int16_on_board)."""
    return {"mean16_hw": mean_model([1, 4, 5, 3], [1, 2], True, 0.0004, 0, 0.0003, 0, dtype=np.int16),
            "sum16_last": mean_model([2, 3, 7], [-1], False, 0.0004, 0, 0.002, 0, dtype=np.int16, op="SUM")}


def reduce_models() -> dict[str, bytes]:
    """Single-op models for the generated-C tests (host sanitizers, QEMU)."""
    return {"sum_r4": reduce_model("SUM", [2, 3, 4, 5], [1, 3], False, 0.05, 3, 0.3, -7),
            "sum_all": reduce_model("SUM", [3, 4, 2], [0, 1, 2], True, 0.1, -20, 0.4, 9),
            "rmax_3ax": reduce_model("REDUCE_MAX", [2, 3, 4, 2, 3], [0, 2, 4], False, 0.1, 5, 0.1, 5),
            "rmin_1ax": reduce_model("REDUCE_MIN", [5, 6], [-1], True, 0.02, -3, 0.02, -3)}


@pytest.mark.qemu
@pytest.mark.skipif(__import__("shutil").which("arm-none-eabi-gcc") is None or __import__("shutil").which("qemu-system-arm") is None,
                    reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_reduce_on_cortex_m4(tmp_path):
    rng = np.random.default_rng(23)
    models = reduce_models()
    graphs = {n: parse_model(b, name=n) for n, b in models.items()}
    xs = {n: [[rng.integers(-128, 128, size=t.shape).astype(np.int8) for t in g.input_tensors] for _ in range(3)] for n, g in graphs.items()}
    assert_bit_exact_on_board(models, graphs, xs, tmp_path)
