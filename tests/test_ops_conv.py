"""CONV_2D and DEPTHWISE_CONV_2D: bit-exact against TFLite Micro, and the refusals of check()."""
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
from tinygen.ops.conv import output_size
from tinygen.model.reader import parse_model

ACTIVATIONS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]

# Zero points: mostly anywhere, often the extremes.
zero_points = st.one_of(st.sampled_from([-128, 127, 0]), st.integers(-128, 127))


def log_uniform(draw, lo, hi):
    return float(np.exp(draw(st.floats(np.log(lo), np.log(hi)))))


def _output_scale(draw, in_scale, w_scales, k):
    """An output scale that makes the outputs span a good part of int8 (typical |acc| ~ sqrt(k) * 74 * 74)."""
    typical = in_scale * float(np.mean(w_scales)) * np.sqrt(k) * 74 * 74
    return typical / 40 * log_uniform(draw, 0.5, 2.0)


def _bias(draw, rng, channels, k, omitted=True):
    """None (no bias slot), -1 (omitted optional input) or int32 values of realistic size."""
    kind = draw(st.sampled_from(["none", "omitted", "values", "values"] if omitted else ["none", "values", "values"]))
    if kind == "none":
        return None
    if kind == "omitted":
        return -1
    return rng.integers(-k * 3000 - 1, k * 3000 + 1, channels).astype(np.int32)


def _inputs(draw, rng, shape, n=3):
    """Random int8 samples, or all-equal ones (every sample one constant)."""
    if draw(st.integers(0, 5)) == 0:
        v = draw(st.sampled_from([-128, 127, 0, 1]))
        return np.full((n,) + tuple(shape), v, dtype=np.int8), True
    return rng.integers(-128, 128, size=(n,) + tuple(shape), dtype=np.int8), False


def _run_and_check(model_bytes, xs, constant, stats, context):
    g = assert_bit_exact(model_bytes, None, inputs=[xs], context=context)
    y = Emulator(g).run_internal([xs])[0]
    if not constant:
        stats.append(float(np.mean((y > -128) & (y < 127))))
    return y


def _assert_not_mostly_saturated(stats):
    stats = np.array(stats)
    print(f"unsaturated share per example: median {np.median(stats):.2f}, >0.2 in {np.mean(stats > 0.2):.0%} of {stats.size}")
    assert stats.size >= 3
    # most examples have a good share of outputs strictly inside the int8 range
    assert np.mean(stats > 0.2) >= 0.6, f"outputs mostly saturated: {np.round(stats, 2)}"


def build_conv(in_shape, w, w_scales, bias, in_scale, in_zp, out_scale, out_zp, *, stride, dilation, padding, act,
               per_channel_axis=0, extra_first=False):
    b, h, wd, c = in_shape
    oc, kh, kw, _ = w.shape
    oh = output_size(padding, h, kh, stride[0], dilation[0])
    ow = output_size(padding, wd, kw, stride[1], dilation[1])
    m = ModelBuilder()
    x = m.tensor(in_shape, scale=in_scale, zero_point=in_zp)
    wt = m.tensor(w.shape, data=w, scale=w_scales, zero_point=0, axis=per_channel_axis)
    ins = [x, wt]
    if bias is not None:
        if isinstance(bias, int):
            ins.append(bias)
        else:
            ins.append(m.tensor([oc], dtype=np.int32, data=bias, scale=in_scale * np.atleast_1d(w_scales)))
    y = m.tensor([b, oh, ow, oc], scale=out_scale, zero_point=out_zp)
    m.op("CONV_2D", ins, [y], padding=padding, stride_h=stride[0], stride_w=stride[1],
         dilation_h_factor=dilation[0], dilation_w_factor=dilation[1], fused_activation_function=act)
    return m.build([x], [y]), (b, oh, ow, oc)


def build_depthwise(in_shape, w, w_scales, bias, in_scale, in_zp, out_scale, out_zp, *, stride, dilation, padding, act,
                    depth_multiplier, per_channel_axis=3):
    b, h, wd, c = in_shape
    _, kh, kw, oc = w.shape
    oh = output_size(padding, h, kh, stride[0], dilation[0])
    ow = output_size(padding, wd, kw, stride[1], dilation[1])
    m = ModelBuilder()
    x = m.tensor(in_shape, scale=in_scale, zero_point=in_zp)
    wt = m.tensor(w.shape, data=w, scale=w_scales, zero_point=0, axis=per_channel_axis)
    ins = [x, wt]
    if bias is not None:
        if isinstance(bias, int):
            ins.append(bias)
        else:
            ins.append(m.tensor([oc], dtype=np.int32, data=bias, scale=in_scale * np.atleast_1d(w_scales)))
    y = m.tensor([b, oh, ow, oc], scale=out_scale, zero_point=out_zp)
    m.op("DEPTHWISE_CONV_2D", ins, [y], padding=padding, stride_h=stride[0], stride_w=stride[1],
         dilation_h_factor=dilation[0], dilation_w_factor=dilation[1], depth_multiplier=depth_multiplier,
         fused_activation_function=act)
    return m.build([x], [y]), (b, oh, ow, oc)


@st.composite
def window(draw, max_in=11, max_k=4):
    """(H, W, KH, KW, stride, dilation, padding) with at least one output position."""
    padding = draw(st.sampled_from(["SAME", "VALID"]))
    h, w = draw(st.integers(1, max_in)), draw(st.integers(1, max_in))
    kh, kw = draw(st.integers(1, max_k)), draw(st.integers(1, max_k))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    if padding == "VALID":  # shrink the window until it fits
        while (kh - 1) * dilation[0] + 1 > h:
            kh, dilation = (kh - 1, dilation) if kh > 1 else (kh, (1, dilation[1]))
        while (kw - 1) * dilation[1] + 1 > w:
            kw, dilation = (kw - 1, dilation) if kw > 1 else (kw, (dilation[0], 1))
    return h, w, kh, kw, stride, dilation, padding


def test_conv2d_bit_exact():
    stats = []

    @settings(max_examples=examples(25), deadline=None)
    @given(data=st.data(), win=window(), seed=st.integers(0, 2**32 - 1))
    def prop(data, win, seed):
        draw = data.draw
        rng = np.random.default_rng(seed)
        h, w, kh, kw, stride, dilation, padding = win
        groups = draw(st.sampled_from([1, 1, 1, 2]))
        cf = draw(st.integers(1, 6))
        c = cf * groups
        oc = groups * draw(st.integers(1, 6))
        batch = draw(st.sampled_from([1, 1, 2]))
        per_channel = draw(st.booleans())
        in_scale = log_uniform(draw, 0.005, 0.1)
        w_scales = np.array([log_uniform(draw, 0.0005, 0.02) for _ in range(oc)]) if per_channel else log_uniform(draw, 0.0005, 0.02)
        k = kh * kw * cf
        weights = rng.integers(-127, 128, (oc, kh, kw, cf), dtype=np.int8)
        bias = _bias(draw, rng, oc, k)
        act = draw(st.sampled_from(ACTIVATIONS))
        in_zp, out_zp = draw(zero_points), draw(zero_points)
        out_scale = _output_scale(draw, in_scale, w_scales, k)
        if act == "RELU_N1_TO_1":
            out_scale = min(out_scale, 2.5 / 255)  # keep [-1, 1] a useful part of the range
        model, _ = build_conv((batch, h, w, c), weights, w_scales, bias, in_scale, in_zp, out_scale, out_zp,
                              stride=stride, dilation=dilation, padding=padding, act=act)
        xs, constant = _inputs(draw, rng, (batch, h, w, c))
        ctx = f"conv {win} groups={groups} c={c} oc={oc} act={act} zp={in_zp}/{out_zp} per_channel={per_channel}"
        note(ctx)
        _run_and_check(model, xs, constant, stats, ctx)

    prop()
    _assert_not_mostly_saturated(stats)


def test_depthwise_conv2d_bit_exact():
    stats = []

    @settings(max_examples=examples(25), deadline=None)
    @given(data=st.data(), win=window(max_in=12, max_k=5), seed=st.integers(0, 2**32 - 1))
    def prop(data, win, seed):
        draw = data.draw
        rng = np.random.default_rng(seed)
        h, w, kh, kw, stride, dilation, padding = win
        c = draw(st.integers(1, 8))
        dm = draw(st.sampled_from([1, 1, 2, 3]))
        oc = c * dm
        batch = draw(st.sampled_from([1, 1, 2]))
        per_channel = draw(st.booleans())
        in_scale = log_uniform(draw, 0.005, 0.1)
        w_scales = np.array([log_uniform(draw, 0.0005, 0.02) for _ in range(oc)]) if per_channel else log_uniform(draw, 0.0005, 0.02)
        k = kh * kw
        weights = rng.integers(-127, 128, (1, kh, kw, oc), dtype=np.int8)
        bias = _bias(draw, rng, oc, k, omitted=False)  # TFLM segfaults on an omitted (-1) depthwise bias: see below
        act = draw(st.sampled_from(ACTIVATIONS))
        in_zp, out_zp = draw(zero_points), draw(zero_points)
        out_scale = _output_scale(draw, in_scale, w_scales, k)
        if act == "RELU_N1_TO_1":
            out_scale = min(out_scale, 2.5 / 255)
        model, _ = build_depthwise((batch, h, w, c), weights, w_scales, bias, in_scale, in_zp, out_scale, out_zp,
                                   stride=stride, dilation=dilation, padding=padding, act=act, depth_multiplier=dm)
        xs, constant = _inputs(draw, rng, (batch, h, w, c))
        ctx = f"depthwise {win} c={c} dm={dm} act={act} zp={in_zp}/{out_zp} per_channel={per_channel}"
        note(ctx)
        _run_and_check(model, xs, constant, stats, ctx)

    prop()
    _assert_not_mostly_saturated(stats)


# ----------------------------------------------------------------------------- fixed cases


def test_conv_int32_accumulator_wraps_like_tflm():
    """A bias near the int32 limits: TFLM's int32 accumulator wraps, and so does the emulator."""
    m = ModelBuilder()
    x = m.tensor([1, 1, 1, 2], scale=0.05, zero_point=0)
    w = m.tensor([4, 1, 1, 2], data=np.full((4, 1, 1, 2), 127, np.int8), scale=0.01)
    b = m.tensor([4], dtype=np.int32, data=np.array([2**31 - 1, 2**31 - 20000, -(2**31), 5], np.int32), scale=0.0005)
    y = m.tensor([1, 1, 1, 4], scale=2**31 * 0.0005 / 100, zero_point=0)
    m.op("CONV_2D", [x, w, b], [y], padding="VALID", stride_w=1, stride_h=1)
    xs = np.array([[[[[100, 100]]]], [[[[-100, -100]]]], [[[[0, 0]]]]], np.int8)
    assert_bit_exact(m.build([x], [y]), None, inputs=[xs], context="int32 wrap")


def test_effective_scale_is_computed_in_double():
    """Scales for which a float32 product input_scale * filter_scale gives another multiplier than
    the all-double computation, with accumulators exactly where the two round differently."""
    from tinygen.model.fixedpoint import quantize_multiplier, requantize_to_int8

    rng = np.random.default_rng(5)
    for _ in range(100000):
        in_s, w_s = np.float32(rng.uniform(0.005, 0.1)), np.float32(rng.uniform(0.0005, 0.02))
        out_s = np.float32(rng.uniform(0.0001, 0.01))
        f = quantize_multiplier(float(np.float32(in_s * w_s)) / float(out_s))
        d = quantize_multiplier(float(in_s) * float(w_s) / float(out_s))
        if f == d:
            continue
        acc = np.arange(-(2**20), 2**20, dtype=np.int64)
        differ = acc[requantize_to_int8(acc, *f, 0, -128, 127) != requantize_to_int8(acc, *d, 0, -128, 127)]
        if differ.size:
            break
    else:
        pytest.fail("no discriminating scales found")
    accs = differ[:8].astype(np.int32)
    u = accs.size
    m = ModelBuilder()
    x = m.tensor([1, 1, 1, 1], scale=in_s, zero_point=0)
    w = m.tensor([u, 1, 1, 1], data=np.ones((u, 1, 1, 1), np.int8), scale=w_s)
    b = m.tensor([u], dtype=np.int32, data=accs, scale=float(in_s) * float(w_s))
    y = m.tensor([1, 1, 1, u], scale=out_s, zero_point=0)
    m.op("CONV_2D", [x, w, b], [y], padding="VALID", stride_w=1, stride_h=1)
    assert_bit_exact(m.build([x], [y]), None, inputs=[np.zeros((1, 1, 1, 1, 1), np.int8)], context="double scale")


def test_mobilenet_like_block_batch():
    """A stride-2 3x3 conv, a depthwise 3x3 and a pointwise conv on a 32x32 input, 4 samples."""
    rng = np.random.default_rng(7)
    m = ModelBuilder()
    x = m.tensor([1, 32, 32, 3], scale=0.02, zero_point=-1)
    w1 = m.tensor([8, 3, 3, 3], data=rng.integers(-127, 128, (8, 3, 3, 3), dtype=np.int8), scale=rng.uniform(0.002, 0.01, 8))
    b1 = m.tensor([8], dtype=np.int32, data=rng.integers(-500, 500, 8), scale=0.02 * 0.005)
    h1 = m.tensor([1, 16, 16, 8], scale=0.05, zero_point=-128)
    m.op("CONV_2D", [x, w1, b1], [h1], padding="SAME", stride_w=2, stride_h=2, fused_activation_function="RELU6")
    w2 = m.tensor([1, 3, 3, 8], data=rng.integers(-127, 128, (1, 3, 3, 8), dtype=np.int8), scale=rng.uniform(0.002, 0.01, 8), axis=3)
    h2 = m.tensor([1, 16, 16, 8], scale=0.05, zero_point=-128)
    m.op("DEPTHWISE_CONV_2D", [h1, w2], [h2], padding="SAME", stride_w=1, stride_h=1, depth_multiplier=1,
         fused_activation_function="RELU")
    w3 = m.tensor([16, 1, 1, 8], data=rng.integers(-127, 128, (16, 1, 1, 8), dtype=np.int8), scale=0.004)
    y = m.tensor([1, 16, 16, 16], scale=0.1, zero_point=3)
    m.op("CONV_2D", [h2, w3], [y], padding="SAME", stride_w=1, stride_h=1)
    assert_bit_exact(m.build([x], [y]), rng, n=4, context="block")


def test_depthwise_omitted_bias_equals_zero_bias():
    """TFLM crashes (segfault) on a DEPTHWISE_CONV_2D whose bias input is -1, so there is no oracle for
    it; tinygen treats it as "no bias": the result must equal a zero bias (which TFLM does run)."""
    rng = np.random.default_rng(3)
    w = rng.integers(-127, 128, (1, 3, 3, 6), dtype=np.int8)
    args = ((1, 7, 5, 3), w, rng.uniform(0.002, 0.02, 6), None, 0.05, -7, 0.08, 4)
    kw = dict(stride=(2, 1), dilation=(1, 1), padding="SAME", act="RELU", depth_multiplier=2)
    omitted, _ = build_depthwise(*args[:3], -1, *args[4:], **kw)
    zero, _ = build_depthwise(*args[:3], np.zeros(6, np.int32), *args[4:], **kw)
    xs = rng.integers(-128, 128, (4, 1, 7, 5, 3), dtype=np.int8)
    assert_bit_exact(zero, None, inputs=[xs], context="zero bias")
    a = Emulator(parse_model(omitted)).run_internal([xs])[0]
    b = Emulator(parse_model(zero)).run_internal([xs])[0]
    assert np.array_equal(a, b)


def test_large_batches_run_in_blocks(monkeypatch):
    """Batches whose scratch memory exceeds the block budget are cut into blocks of samples."""
    import tinygen.ops.conv as conv_mod

    monkeypatch.setattr(conv_mod, "_BLOCK_BYTES", 3000)
    rng = np.random.default_rng(9)
    model, _ = build_conv((1, 9, 8, 3), rng.integers(-127, 128, (5, 3, 3, 3), dtype=np.int8), rng.uniform(0.002, 0.02, 5),
                          rng.integers(-900, 900, 5).astype(np.int32), 0.05, 2, 0.3, 1, stride=(2, 1), dilation=(1, 2),
                          padding="SAME", act="RELU")
    assert_bit_exact(model, rng, n=7, context="conv blocks")
    model, _ = build_depthwise((1, 9, 8, 3), rng.integers(-127, 128, (1, 3, 3, 6), dtype=np.int8), 0.01, None, 0.05, 2, 0.2,
                               1, stride=(2, 2), dilation=(1, 1), padding="VALID", act="NONE", depth_multiplier=2)
    assert_bit_exact(model, rng, n=7, context="depthwise blocks")


# ----------------------------------------------------------------------------- refusals


def _refusal(build_op):
    """Build [MAX_POOL (fine), <op under test>] and return the UnsupportedOpError for op 1."""
    m = ModelBuilder()
    x0 = m.tensor([1, 6, 6, 4], scale=0.05, zero_point=0)
    x = m.tensor([1, 6, 6, 4], scale=0.05, zero_point=0)
    m.op("MAX_POOL_2D", [x0], [x], padding="SAME", stride_w=1, stride_h=1, filter_width=1, filter_height=1)
    y = build_op(m, x)
    g = parse_model(m.build([x0], [y]))
    with pytest.raises(UnsupportedOpError) as ei:
        check_graph(g)
    assert ei.value.op_index == 1
    return str(ei.value)


def _conv(m, x, *, act="NONE", w_zp=0, axis=0, w_dtype=np.int8, const_w=True, out_hw=(6, 6), bias_dtype=np.int32,
          stride=1, x_override=None):
    w_data = np.ones((4, 3, 3, 4), w_dtype)
    w = m.tensor([4, 3, 3, 4], dtype=w_dtype, data=w_data if const_w else None, scale=[0.01] * 4, zero_point=w_zp, axis=axis)
    b = m.tensor([4], dtype=bias_dtype, data=np.zeros(4, bias_dtype), scale=0.0005)
    y = m.tensor([1, *out_hw, 4], scale=0.1, zero_point=0)
    m.op("CONV_2D", [x if x_override is None else x_override, w, b], [y], padding="SAME", stride_w=stride, stride_h=stride,
         fused_activation_function=act)
    return y


@pytest.mark.parametrize("kwargs, message", [
    (dict(act="TANH"), "fused activation TANH not supported"),
    (dict(act="SIGN_BIT"), "fused activation SIGN_BIT not supported"),
    (dict(w_zp=3), "non-zero zero points"),
    (dict(axis=3), "quantized along axis 3"),
    (dict(const_w=False), "not a constant tensor"),
    (dict(out_hw=(5, 6)), "output height is 5"),
    (dict(bias_dtype=np.int64), "only int32 bias"),
    (dict(stride=0, out_hw=(6, 6)), "stride 0x0 not supported"),
])
def test_conv_refusals(kwargs, message):
    text = _refusal(lambda m, x: _conv(m, x, **kwargs))
    assert "op 1 (CONV_2D)" in text and message in text, text


def test_conv_refuses_mixed_int16_int8_activations():
    """int16 in, int8 out: neither the int8 kernel nor the 16x8 one (tests/test_ops_conv16.py) runs it."""
    m = ModelBuilder()
    x16 = m.tensor([1, 6, 6, 4], dtype=np.int16, scale=0.05, zero_point=0)
    y = _conv(m, None, x_override=x16)
    g = parse_model(m.build([x16], [y]))
    with pytest.raises(UnsupportedOpError, match=r"op 0 \(CONV_2D\): input is int16, output int8; the 16x8 CONV_2D needs int16 both") as ei:
        check_graph(g)
    assert ei.value.op_index == 0


def _dw(m, x, *, dm=1, oc=4, lead=1, act="NONE"):
    w = m.tensor([lead, 3, 3, oc], data=np.ones((lead, 3, 3, oc), np.int8), scale=0.01, axis=3)
    y = m.tensor([1, 6, 6, oc], scale=0.1, zero_point=0)
    m.op("DEPTHWISE_CONV_2D", [x, w], [y], padding="SAME", stride_w=1, stride_h=1, depth_multiplier=dm,
         fused_activation_function=act)
    return y


@pytest.mark.parametrize("kwargs, message", [
    (dict(dm=2, oc=4), "depth multiplier 2 with 4 input channels"),
    (dict(lead=2, oc=4), "expected [1, KH, KW, channels]"),
    (dict(act="TANH"), "fused activation TANH not supported"),
])
def test_depthwise_refusals(kwargs, message):
    text = _refusal(lambda m, x: _dw(m, x, **kwargs))
    assert "op 1 (DEPTHWISE_CONV_2D)" in text and message in text, text
