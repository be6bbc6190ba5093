"""AVERAGE_POOL_2D and MAX_POOL_2D: bit-exact against TFLite Micro, and the refusals of check()."""
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
zero_points = st.one_of(st.sampled_from([-128, 127, 0]), st.integers(-128, 127))


def build_pool(kind, in_shape, k, stride, padding, scale, zp, act="NONE", out_hw=None, out_scale=None, out_zp=None,
               out_dtype=np.int8, in_dtype=np.int8):
    b, h, w, c = in_shape
    if out_hw is None:
        out_hw = (output_size(padding, h, k[0], stride[0], 1), output_size(padding, w, k[1], stride[1], 1))
    m = ModelBuilder()
    x = m.tensor(in_shape, dtype=in_dtype, scale=scale, zero_point=zp)
    y = m.tensor([b, *out_hw, c], dtype=out_dtype, scale=scale if out_scale is None else out_scale,
                 zero_point=zp if out_zp is None else out_zp)
    m.op(kind, [x], [y], padding=padding, stride_h=stride[0], stride_w=stride[1], filter_height=k[0], filter_width=k[1],
         fused_activation_function=act)
    return m.build([x], [y])


@pytest.mark.parametrize("kind", ["AVERAGE_POOL_2D", "MAX_POOL_2D"])
def test_pool_bit_exact(kind):
    stats = []

    @settings(max_examples=examples(25), deadline=None)
    @given(data=st.data(), seed=st.integers(0, 2**32 - 1))
    def prop(data, seed):
        draw = data.draw
        rng = np.random.default_rng(seed)
        padding = draw(st.sampled_from(["SAME", "VALID"]))
        h, w, c = draw(st.integers(1, 12)), draw(st.integers(1, 12)), draw(st.integers(1, 8))
        kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
        if padding == "VALID":
            kh, kw = min(kh, h), min(kw, w)
        stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        batch = draw(st.sampled_from([1, 1, 2]))
        act = draw(st.sampled_from(ACTIVATIONS))
        zp = draw(zero_points)
        # scales: RELU6 / RELU_N1_TO_1 clamp at 6 / 1, so let the int8 range cover a bit more than that
        scale = float(np.exp(draw(st.floats(np.log(0.005), np.log(0.1)))))
        if act == "RELU_N1_TO_1":
            scale = min(scale, 2.5 / 255)
        model = build_pool(kind, (batch, h, w, c), (kh, kw), stride, padding, scale, zp, act)
        n = 3
        if draw(st.integers(0, 5)) == 0:
            xs, constant = np.full((n, batch, h, w, c), draw(st.sampled_from([-128, 127, 0, -1, 1])), np.int8), True
        else:
            xs, constant = rng.integers(-128, 128, (n, batch, h, w, c), dtype=np.int8), False
        ctx = f"{kind} {h}x{w}x{c} k={kh}x{kw} s={stride} {padding} act={act} zp={zp} scale={scale:.4g}"
        note(ctx)
        g = assert_bit_exact(model, None, inputs=[xs], context=ctx)
        if not constant:
            y = Emulator(g).run_internal([xs])[0]
            stats.append(float(np.mean((y > -128) & (y < 127))))

    prop()
    stats = np.array(stats)
    print(f"unsaturated share per example: median {np.median(stats):.2f}, >0.2 in {np.mean(stats > 0.2):.0%} of {stats.size}")
    assert stats.size >= 3 and np.mean(stats > 0.2) >= 0.6, f"outputs mostly saturated: {np.round(stats, 2)}"


def test_average_pool_rounding_and_border_counts():
    """Exact halves, negative sums and padded borders (fewer taps): the cases TFLM's rounding decides."""
    model = build_pool("AVERAGE_POOL_2D", (1, 5, 5, 2), (2, 2), (1, 1), "SAME", 0.05, -3)
    base = np.array([[1, -1], [2, -2], [3, -3], [-128, 127], [127, -128]], np.int8)
    xs = np.stack([
        np.tile(base[:, None, :], (1, 5, 1)),
        np.tile(base[None, :, :], (5, 1, 1)),
        np.full((5, 5, 2), -1, np.int8),
        np.arange(50, dtype=np.int64).reshape(5, 5, 2).astype(np.int8) - 25,
    ])[:, None]
    assert_bit_exact(model, None, inputs=[xs], context="rounding")
    model = build_pool("AVERAGE_POOL_2D", (1, 4, 7, 3), (3, 4), (2, 3), "SAME", 0.05, 10, "RELU6")
    assert_bit_exact(model, np.random.default_rng(1), n=6, context="borders")


def test_global_average_pool_batch():
    rng = np.random.default_rng(4)
    model = build_pool("AVERAGE_POOL_2D", (1, 7, 7, 32), (7, 7), (1, 1), "VALID", 0.02, -5)
    assert_bit_exact(model, rng, n=8, context="global")


# ----------------------------------------------------------------------------- int16 (16x8 models)


@settings(max_examples=examples(8), deadline=None)
@given(kind=st.sampled_from(["AVERAGE_POOL_2D", "MAX_POOL_2D"]), padding=st.sampled_from(["SAME", "VALID"]),
       hwc=st.tuples(st.integers(1, 9), st.integers(1, 9), st.integers(1, 5)), k=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       stride=st.tuples(st.integers(1, 3), st.integers(1, 3)), act=st.sampled_from(ACTIVATIONS),
       scale_e=st.floats(-14, -6), zp=st.sampled_from([0, 0, 0, 17]), seed=st.integers(0, 2**32 - 1))
def test_pool_int16_bit_exact(kind, padding, hwc, k, stride, act, scale_e, zp, seed):
    h, w, c = hwc
    if padding == "VALID":
        k = (min(k[0], h), min(k[1], w))
    scale = float(np.float32(2.0 ** scale_e))
    model = build_pool(kind, (2, h, w, c), k, stride, padding, scale, zp, act, in_dtype=np.int16, out_dtype=np.int16)
    rng = np.random.default_rng(seed)
    xs = rng.integers(-32768, 32768, (3, 2, h, w, c), dtype=np.int16)
    xs[2] = np.where(rng.random(xs[2].shape) < 0.5, -32768, 32767)  # sums at the int16 extremes
    assert_bit_exact(model, None, inputs=[xs], context=f"{kind} {hwc} k={k} s={stride} {padding} {act} zp={zp}")


def pool16_models() -> dict[str, bytes]:
    """Single-op int16 models for the generated-C tests (host sanitizers in test_codegen, QEMU here)."""
    return {"avgpool16_same_relu": build_pool("AVERAGE_POOL_2D", (1, 7, 6, 3), (3, 3), (2, 2), "SAME", 0.001, 0, "RELU",
                                                  in_dtype=np.int16, out_dtype=np.int16),
            "maxpool16_valid": build_pool("MAX_POOL_2D", (2, 6, 5, 2), (2, 3), (1, 2), "VALID", 0.0005, 0,
                                              in_dtype=np.int16, out_dtype=np.int16)}


# ----------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("kind", ["AVERAGE_POOL_2D", "MAX_POOL_2D"])
@pytest.mark.parametrize("kwargs, message", [
    (dict(act="TANH"), "fused activation TANH not supported"),
    (dict(out_scale=0.06), "differ; TFLM needs the same quantization"),
    (dict(out_zp=4), "zero point 4 differ"),
    (dict(out_hw=(3, 3)), "output height is 3"),
    (dict(k=(0, 2)), "filter size 0x2 not supported"),
    (dict(in_dtype=np.int16, out_dtype=np.int8), "is int8, the input int16"),
    (dict(in_dtype=np.float32, out_dtype=np.float32), "is float32; int8 and int16 are supported"),
    (dict(padding="VALID", k=(7, 2), out_hw=(1, 5)), "VALID padding leaves no output height"),
])
def test_pool_refusals(kind, kwargs, message):
    args = dict(in_shape=(1, 6, 6, 2), k=(2, 2), stride=(1, 1), padding="SAME", scale=0.05, zp=0)
    args.update(kwargs)
    if "out_hw" not in kwargs and min(args["k"]) < 1:
        args["out_hw"] = (6, 6)
    g = parse_model(build_pool(kind, **args))
    with pytest.raises(UnsupportedOpError) as ei:
        check_graph(g)
    text = str(ei.value)
    assert ei.value.op_index == 0 and f"op 0 ({kind})" in text and message in text, text
