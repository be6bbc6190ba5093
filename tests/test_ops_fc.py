"""FULLY_CONNECTED: bit-exact against TFLite Micro, and the refusals of check()."""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from tests.support import examples
from tests.support.opmodels import ModelBuilder
from tests.support.oracle import assert_bit_exact
from tinygen.emulator.engine import Emulator
from tinygen.errors import UnsupportedOpError
from tinygen.ops import check_graph
from tinygen.model.reader import parse_model

ACTIVATIONS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]
zero_points = st.one_of(st.sampled_from([-128, 127, 0]), st.integers(-128, 127))


def log_uniform(draw, lo, hi):
    return float(np.exp(draw(st.floats(np.log(lo), np.log(hi)))))


def build_fc(in_shape, out_shape, w, w_scales, bias, in_scale, in_zp, out_scale, out_zp, act="NONE", keep_num_dims=False,
             axis=0, **options):
    units = w.shape[0]
    m = ModelBuilder()
    x = m.tensor(in_shape, scale=in_scale, zero_point=in_zp)
    wt = m.tensor(w.shape, data=w, scale=w_scales, zero_point=0, axis=axis)
    ins = [x, wt]
    if bias is not None:
        if isinstance(bias, int):
            ins.append(bias)
        else:
            ins.append(m.tensor([units], dtype=np.int32, data=bias, scale=in_scale * np.atleast_1d(w_scales)))
    y = m.tensor(out_shape, scale=out_scale, zero_point=out_zp)
    m.op("FULLY_CONNECTED", ins, [y], fused_activation_function=act, keep_num_dims=keep_num_dims, **options)
    return m.build([x], [y])


@st.composite
def fc_shapes(draw):
    """(input shape, output shape, K, keep_num_dims) covering 2-D inputs, flattened rank > 2 inputs and keep_num_dims."""
    units = draw(st.integers(1, 16))
    kind = draw(st.sampled_from(["2d", "2d", "flatten", "keep"]))
    if kind == "2d":
        k = draw(st.one_of(st.integers(1, 300), st.sampled_from([1024, 1025, 1500])))  # > 1024: the float64 matmul
        b = draw(st.sampled_from([1, 1, 2, 3]))
        return (b, k), (b, units), k, units, False
    if kind == "flatten":  # [1, H, W, C] -> [rows, units] with K dividing the element count
        dims = [draw(st.integers(1, 6)) for _ in range(3)]
        size = int(np.prod(dims))
        rows = draw(st.sampled_from([d for d in range(1, size + 1) if size % d == 0]))
        return (1, *dims), (rows, units), size // rows, units, False
    lead = [draw(st.integers(1, 3)) for _ in range(draw(st.integers(1, 2)))]
    k = draw(st.integers(1, 64))
    return (*lead, k), (*lead, units), k, units, True


def test_fully_connected_bit_exact():
    stats = []

    @settings(max_examples=examples(25), deadline=None)
    @given(data=st.data(), shapes=fc_shapes(), seed=st.integers(0, 2**32 - 1))
    def prop(data, shapes, seed):
        draw = data.draw
        rng = np.random.default_rng(seed)
        in_shape, out_shape, k, units, keep = shapes
        per_channel = draw(st.booleans())
        in_scale = log_uniform(draw, 0.005, 0.1)
        w_scales = np.array([log_uniform(draw, 0.0005, 0.02) for _ in range(units)]) if per_channel else log_uniform(draw, 0.0005, 0.02)
        weights = rng.integers(-127, 128, (units, k), dtype=np.int8)
        kind = draw(st.sampled_from(["none", "omitted", "values", "values"]))
        bias = {"none": None, "omitted": -1}.get(kind)
        if kind == "values":
            bias = rng.integers(-k * 3000 - 1, k * 3000 + 1, units).astype(np.int32)
        act = draw(st.sampled_from(ACTIVATIONS))
        in_zp, out_zp = draw(zero_points), draw(zero_points)
        out_scale = in_scale * float(np.mean(w_scales)) * np.sqrt(k) * 74 * 74 / 40 * log_uniform(draw, 0.5, 2.0)
        if act == "RELU_N1_TO_1":
            out_scale = min(out_scale, 2.5 / 255)
        model = build_fc(in_shape, out_shape, weights, w_scales, bias, in_scale, in_zp, out_scale, out_zp, act, keep)
        n = 3
        if draw(st.integers(0, 5)) == 0:
            xs, constant = np.full((n, *in_shape), draw(st.sampled_from([-128, 127, 0])), np.int8), True
        else:
            xs, constant = rng.integers(-128, 128, (n, *in_shape), dtype=np.int8), False
        ctx = f"fc {in_shape}->{out_shape} K={k} keep={keep} per_channel={per_channel} bias={kind} act={act} zp={in_zp}/{out_zp}"
        note(ctx)
        g = assert_bit_exact(model, None, inputs=[xs], context=ctx)
        if not constant:
            y = Emulator(g).run_internal([xs])[0]
            stats.append(float(np.mean((y > -128) & (y < 127))))

    prop()
    stats = np.array(stats)
    print(f"unsaturated share per example: median {np.median(stats):.2f}, >0.2 in {np.mean(stats > 0.2):.0%} of {stats.size}")
    assert stats.size >= 3 and np.mean(stats > 0.2) >= 0.6, f"outputs mostly saturated: {np.round(stats, 2)}"


def _discriminating_scales():
    """Scales where a float32 product input_scale * weight_scale changes the quantized multiplier,
    and accumulators at which that changes the int8 result."""
    from tinygen.model.fixedpoint import quantize_multiplier, requantize_to_int8

    rng = np.random.default_rng(11)
    acc = np.arange(-(2**20), 2**20, dtype=np.int64)
    for _ in range(100000):
        in_s, w_s = np.float32(rng.uniform(0.005, 0.1)), np.float32(rng.uniform(0.0005, 0.02))
        out_s = np.float32(rng.uniform(0.0001, 0.01))
        f = quantize_multiplier(float(np.float32(in_s * w_s)) / float(out_s))
        d = quantize_multiplier(float(in_s) * float(w_s) / float(out_s))
        if f != d:
            differ = acc[requantize_to_int8(acc, *f, 0, -128, 127) != requantize_to_int8(acc, *d, 0, -128, 127)]
            if differ.size:
                return in_s, w_s, out_s, differ[:8].astype(np.int32)
    pytest.fail("no discriminating scales found")


def test_per_tensor_effective_scale_in_double():
    """TFLM (this tflite_micro build) computes the per-tensor FC multiplier from
    double(input_scale) * double(weight_scale) / double(output_scale), not from a float32 product."""
    in_s, w_s, out_s, accs = _discriminating_scales()
    u = accs.size
    # bias = the accumulator values (x = 0, weights 1): bias scale input_scale * weight_scale passes TFLM's check
    m = ModelBuilder()
    x = m.tensor([1, 1], scale=in_s, zero_point=0)
    w = m.tensor([u, 1], data=np.ones((u, 1), np.int8), scale=w_s)
    b = m.tensor([u], dtype=np.int32, data=accs, scale=float(in_s) * float(w_s))
    y = m.tensor([1, u], scale=out_s, zero_point=0)
    m.op("FULLY_CONNECTED", [x, w, b], [y])
    model = m.build([x], [y])
    assert_bit_exact(model, None, inputs=[np.zeros((1, 1, 1), np.int8)], context="double scale")


def test_large_batch_flattened_input():
    """A [1, 4, 4, 16] input read as [8, 32] rows, per-channel weights, 5 samples."""
    rng = np.random.default_rng(2)
    w = rng.integers(-127, 128, (10, 32), dtype=np.int8)
    scales = rng.uniform(0.002, 0.01, 10)
    model = build_fc((1, 4, 4, 16), (8, 10), w, scales, rng.integers(-3000, 3000, 10).astype(np.int32),
                     0.03, 5, 0.03 * 0.006 * np.sqrt(32) * 74 * 74 / 40, -3, "RELU")
    assert_bit_exact(model, rng, n=5, context="flattened")


# ----------------------------------------------------------------------------- refusals


def _refused(model_bytes, message):
    g = parse_model(model_bytes)
    with pytest.raises(UnsupportedOpError) as ei:
        check_graph(g)
    assert ei.value.op_index == 0, str(ei.value)
    assert "op 0 (FULLY_CONNECTED)" in str(ei.value) and message in str(ei.value), str(ei.value)


W = np.ones((4, 4), np.int8)


@pytest.mark.parametrize("kwargs, message", [
    (dict(act="TANH"), "fused activation TANH not supported"),
    (dict(weights_format=1), "weights format 1 not supported"),
    (dict(axis=1, w_scales=[0.01] * 4), "per-channel quantized along axis 1"),
    (dict(out_shape=(1, 3)), "does not end in the weights' 4 units"),
    (dict(in_shape=(1, 6)), "input has 6 elements"),
])
def test_fc_refusals(kwargs, message):
    args = dict(in_shape=(1, 4), out_shape=(1, 4), w=W, w_scales=0.01, bias=None, in_scale=0.05, in_zp=0,
                out_scale=0.1, out_zp=0)
    args.update(kwargs)
    _refused(build_fc(**args), message)


def test_fc_refuses_mismatched_bias_scale():
    m = ModelBuilder()
    x = m.tensor([1, 4], scale=0.05, zero_point=0)
    w = m.tensor([4, 4], data=W, scale=0.01)
    b = m.tensor([4], dtype=np.int32, data=np.zeros(4, np.int32), scale=0.05)  # should be 0.0005
    y = m.tensor([1, 4], scale=0.1, zero_point=0)
    m.op("FULLY_CONNECTED", [x, w, b], [y])
    _refused(m.build([x], [y]), "does not match input scale * weights scale")


def test_fc_refuses_asymmetric_and_variable_weights_and_int16():
    m = ModelBuilder()
    x = m.tensor([1, 4], scale=0.05, zero_point=0)
    w = m.tensor([4, 4], data=W, scale=0.01, zero_point=2)
    y = m.tensor([1, 4], scale=0.1, zero_point=0)
    m.op("FULLY_CONNECTED", [x, w], [y])
    _refused(m.build([x], [y]), "non-zero zero points")

    m = ModelBuilder()
    x = m.tensor([1, 4], scale=0.05, zero_point=0)
    w = m.tensor([4, 4], scale=0.01)  # a graph input, not a constant
    y = m.tensor([1, 4], scale=0.1, zero_point=0)
    m.op("FULLY_CONNECTED", [x, w], [y])
    g = parse_model(m.build([x, w], [y]))
    with pytest.raises(UnsupportedOpError, match=r"op 0 \(FULLY_CONNECTED\): weights .* not a constant tensor"):
        check_graph(g)

    m = ModelBuilder()  # int16 runs (16x8, tests/test_ops_conv16.py), with int16 zero points 0 as TFLM's kernels
    x = m.tensor([1, 4], dtype=np.int16, scale=0.05, zero_point=3)
    w = m.tensor([4, 4], data=W, scale=0.01)
    y = m.tensor([1, 4], dtype=np.int16, scale=0.1, zero_point=0)
    m.op("FULLY_CONNECTED", [x, w], [y])
    _refused(m.build([x], [y]), "int16 input 't0' has zero point 3; TFLM's 16x8 kernels need 0")
