"""DIV, RSQRT, L2_NORMALIZATION, LOG_SOFTMAX (int8): bit-exact with TFLite Micro (property tests against the oracle),
and the generated C on QEMU Cortex-M4 (host C with sanitizers: tests/test_codegen.py)."""
from __future__ import annotations

import shutil

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

SET = settings(max_examples=examples(6), deadline=None)
SCALES = st.floats(-8, 3).map(lambda e: float(np.float32(2.0 ** e)))
ZPS = st.integers(-128, 127)
ACTS = st.sampled_from(["NONE", "RELU", "RELU6", "RELU_N1_TO_1"])


def div_model(s0, s1, q0, q1, qo, act="NONE") -> bytes:
    m = ModelBuilder()
    a = m.tensor(s0, scale=q0[0], zero_point=q0[1])
    b = m.tensor(s1, scale=q1[0], zero_point=q1[1])
    y = m.tensor(list(np.broadcast_shapes(tuple(s0), tuple(s1))), scale=qo[0], zero_point=qo[1])
    m.op("DIV", [a, b], [y], fused_activation_function=act)
    return m.build([a, b], [y])


def unary_model(name, shape, q_in, q_out, **opts) -> bytes:
    m = ModelBuilder()
    x = m.tensor(shape, scale=q_in[0], zero_point=q_in[1])
    y = m.tensor(shape, scale=q_out[0], zero_point=q_out[1])
    m.op(name, [x], [y], **opts)
    return m.build([x], [y])


def _divisors(rng, shape, zp) -> np.ndarray:
    """int8 values != zp (TFLM's DIV is undefined for a zero divisor)."""
    v = rng.integers(-128, 128, size=shape)
    return np.where(v == zp, np.where(zp < 127, zp + 1, zp - 1), v).astype(np.int8)


@st.composite
def bshapes(draw):
    out = draw(st.lists(st.integers(1, 4), min_size=1, max_size=5))

    def sub():
        r = draw(st.integers(1, len(out)))
        return [draw(st.sampled_from([1, d])) for d in out[len(out) - r:]]

    return sub(), sub()


def assert_div_exact(model, a, b, context) -> int:
    """Emulator == TFLM on every element except where TFLM's C++ shifts an int32 right by 32 or more
    (undefined behaviour: the x86 oracle gives large values there, tinygen the rounded quotient 0);
    returns how many elements were left out."""
    from tests.support.oracle import tflm_run_batch
    from tinygen.ops import REGISTRY
    from tinygen.ops.fxmath import div_shift_undefined

    g = parse_model(model)
    ours = Emulator(g).run_internal([a, b])[0]
    ref = tflm_run_batch(model, [a, b], g)[0]
    p = REGISTRY["DIV"].prepare(g, g.operators[0])
    r = len(g.output_tensors[0].shape)
    pa = a.reshape((a.shape[0],) + (1,) * (r - a.ndim + 1) + a.shape[1:])
    pb = b.reshape((b.shape[0],) + (1,) * (r - b.ndim + 1) + b.shape[1:])
    ub = np.broadcast_to(div_shift_undefined(p, pa, pb), ours.shape)
    bad = (ours != ref) & ~ub
    assert not bad.any(), f"{context}: {int(bad.sum())}/{bad.size} elements differ from TFLM, first at {np.argwhere(bad)[0].tolist()}"
    assert (ours[ub] == np.clip(p.output_offset, p.act_min, p.act_max)).all()  # the quotient rounds to 0 there
    return int(ub.sum())


@SET
@given(bshapes(), SCALES, SCALES, SCALES, ZPS, ZPS, ZPS, ACTS, st.integers(0, 2**31))
def test_div(shapes, s0, s1, so, z0, z1, zo, act, seed):
    model = div_model(shapes[0], shapes[1], (s0, z0), (s1, z1), (so, zo), act)
    rng = np.random.default_rng(seed)
    xs = [rng.integers(-128, 128, size=(3,) + tuple(shapes[0])).astype(np.int8), _divisors(rng, (3,) + tuple(shapes[1]), z1)]
    assert_div_exact(model, xs[0], xs[1], f"DIV {shapes} {s0} {s1} {so} {z0} {z1} {zo} {act}")


@pytest.mark.parametrize("q", [((0.05, -3), (0.02, 5), (0.5, 10)), ((0.05, -3), (0.02, 5), (0.01, 10)), ((0.3, 7), (0.001, -100), (2.0, -20))])
def test_div_every_pair(q):
    """All 256 x 255 dividend / divisor pairs of one quantization."""
    a = np.repeat(np.arange(-128, 128), 256).astype(np.int8)
    b = np.tile(np.arange(-128, 128), 256).astype(np.int8)
    keep = b != q[1][1]
    a, b = a[keep], b[keep]
    left_out = assert_div_exact(div_model([a.size], [a.size], *q), a[None], b[None], f"DIV every pair {q}")
    assert left_out < a.size // 20


def test_div_refusals():
    m = ModelBuilder()
    x = m.tensor([3], dtype=np.int16, scale=0.1)
    y = m.tensor([3], dtype=np.int16, scale=0.1)
    z = m.tensor([3], dtype=np.int16, scale=0.1)
    m.op("DIV", [x, y], [z])
    with pytest.raises(UnsupportedOpError, match=r"op 0 \(DIV\): input 0 't0' is int16, only int8 is supported"):
        Emulator(parse_model(m.build([x, y], [z])))


@SET
@given(SCALES, SCALES, ZPS, ZPS)
def test_rsqrt_every_value(s_in, s_out, zin, zout):
    x = np.arange(zin, 128, dtype=np.int8).reshape(1, 1, -1)  # TFLM fails the inference below the zero point
    model = unary_model("RSQRT", [1, x.shape[-1]], (s_in, zin), (s_out, zout))
    assert_bit_exact(model, None, inputs=[x], context=f"RSQRT {s_in} {s_out} {zin} {zout}")


@SET
@given(st.lists(st.integers(1, 6), min_size=1, max_size=4), SCALES, ZPS, st.integers(0, 2**31), st.booleans())
def test_l2_normalization(shape, s_in, zin, seed, near_zp):
    rng = np.random.default_rng(seed)
    model = unary_model("L2_NORMALIZATION", shape, (s_in, zin), (1 / 128, 0))
    x = rng.integers(-128, 128, size=(3,) + tuple(shape))
    if near_zp:  # small sums of squares (the inv-sqrt special cases 0 and 1)
        x = np.clip(zin + rng.integers(-1, 2, size=x.shape), -128, 127)
    assert_bit_exact(model, None, inputs=[x.astype(np.int8)], context=f"L2_NORMALIZATION {shape} {zin}")


def test_l2_normalization_long_rows():
    rng = np.random.default_rng(4)
    model = unary_model("L2_NORMALIZATION", [2, 3000], (0.1, -128), (1 / 128, 0))
    assert_bit_exact(model, rng, n=2, context="L2_NORMALIZATION 3000")


@SET
@given(st.lists(st.integers(1, 6), min_size=1, max_size=3), st.integers(1, 300), st.floats(-7, 3).map(lambda e: float(np.float32(2.0 ** e))),
       ZPS, st.integers(0, 2**31), st.sampled_from(["random", "ties", "one_high"]))
def test_log_softmax(outer, depth, s_in, zin, seed, kind):
    rng = np.random.default_rng(seed)
    shape = outer[:-1] + [depth]
    model = unary_model("LOG_SOFTMAX", shape, (s_in, zin), (16 / 256, 127))
    x = rng.integers(-128, 128, size=(2,) + tuple(shape))
    if kind == "ties":  # rows of (nearly) equal values: the largest sums of exps
        x = np.clip(x[..., :1] + rng.integers(0, 2, size=x.shape), -128, 127)
    elif kind == "one_high":
        x = np.where(rng.random(x.shape) < 0.9, -128, 127)
    assert_bit_exact(model, None, inputs=[x.astype(np.int8)], context=f"LOG_SOFTMAX {shape} {s_in} {zin} {kind}")


def test_log_softmax_refusals():
    with pytest.raises(UnsupportedOpError, match=r"op 0 \(LOG_SOFTMAX\): output scale 0.1, zero point 127: TFLM requires 16/256 and 127"):
        Emulator(parse_model(unary_model("LOG_SOFTMAX", [4], (0.1, 0), (0.1, 127))))


def fxmath_models() -> dict[str, bytes]:
    return {
        "fx_div": div_model([2, 3], [2, 3], (0.05, -3), (0.02, 5), (0.5, 10), "RELU"),
        "fx_div_bcast": div_model([2, 1, 4], [3, 1], (0.1, 0), (0.03, -20), (0.25, -5)),
        "fx_rsqrt": unary_model("RSQRT", [1, 256], (0.01, -128), (0.05, -100)),
        "fx_l2norm": unary_model("L2_NORMALIZATION", [3, 17], (0.07, 4), (1 / 128, 0)),
        "fx_log_softmax": unary_model("LOG_SOFTMAX", [3, 21], (0.08, -2), (16 / 256, 127)),
        "fx_log_softmax_wide": unary_model("LOG_SOFTMAX", [1, 700], (0.5, 0), (16 / 256, 127)),
    }


def _samples(g, rng):
    if g.name.startswith("fx_div"):
        zp = g.input_tensors[1].zero_point
        return [[rng.integers(-128, 128, size=g.input_tensors[0].shape).astype(np.int8), _divisors(rng, g.input_tensors[1].shape, zp)]
                for _ in range(2)]
    if g.name == "fx_rsqrt":
        return [[np.arange(-128, 128, dtype=np.int8).reshape(1, 256)]]
    return [[rng.integers(-128, 128, size=g.input_tensors[0].shape).astype(np.int8)] for _ in range(2)]


@pytest.mark.qemu
@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                    reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_fxmath_on_cortex_m4(tmp_path):
    rng = np.random.default_rng(51)
    models = fxmath_models()
    graphs = {n: parse_model(b, name=n) for n, b in models.items()}
    xs = {n: _samples(g, rng) for n, g in graphs.items()}
    assert_bit_exact_on_board(models, graphs, xs, tmp_path)
