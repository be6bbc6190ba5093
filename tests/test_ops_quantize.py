"""QUANTIZE (float32 -> int8, int8 -> int8) and DEQUANTIZE (int8 -> float32): bit-exact with TFLite Micro (the int16 /
int32 combinations: test_ops_quantize16.py)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import examples
from tests.support.opmodels import ModelBuilder
from tests.support.oracle import assert_bit_exact
from tinygen.emulator.engine import Emulator
from tinygen.errors import UnsupportedOpError
from tinygen.model.reader import parse_model

ZERO_POINTS = st.one_of(st.sampled_from([-128, 127, 0]), st.integers(-128, 127))
SETTINGS = settings(max_examples=examples(25), deadline=None)
SHAPES = st.lists(st.integers(1, 6), min_size=1, max_size=4)
ALL_INT8 = np.arange(-128, 128, dtype=np.int8)


def f32(x: float) -> float:
    return float(np.float32(x))


def scales(lo: float, hi: float):
    """float32 scales, log-uniform in [2^lo, 2^hi], mantissas not just powers of two."""
    return st.floats(lo, hi).map(lambda e: f32(2.0**e))


def refused(model_bytes: bytes, op_index: int, op_name: str, *words: str) -> None:
    with pytest.raises(UnsupportedOpError) as ei:
        Emulator(parse_model(model_bytes))
    e = ei.value
    assert e.op_index == op_index and e.op_name == op_name, str(e)
    assert str(e).startswith(f"op {op_index} ({op_name}): ")
    for w in words:
        assert w in str(e), str(e)


def int8_batch(shape, rng, n=3) -> np.ndarray:
    """n samples holding the int8 values -128..127 tiled (every value when there is room), shuffled."""
    size = int(np.prod(shape))
    flat = np.tile(ALL_INT8, -(-size * n // 256))[: size * n]
    rng.shuffle(flat)
    return flat.reshape((n,) + tuple(shape))


# ---------------------------------------------------------------- QUANTIZE float32 -> int8


@st.composite
def quantize_cases(draw):
    return draw(SHAPES), draw(scales(-14, 3)), draw(ZERO_POINTS), draw(st.integers(0, 2**31))


@SETTINGS
@given(quantize_cases())
def test_quantize_float_bit_exact(case):
    shape, scale, zp, seed = case
    rng = np.random.default_rng(seed)
    m = ModelBuilder()
    x = m.tensor(shape, dtype=np.float32)
    y = m.tensor(shape, scale=scale, zero_point=zp)
    m.op("QUANTIZE", [x], [y])
    n, size = 3, int(np.prod(shape))
    # real values around the whole int8 grid (and past it, to clamp), exact ties q.5 * scale, and odd values
    q = rng.integers(-300, 300, size=(n, size)) - zp
    ties = rng.choice([0.5, -0.5, 0.0, 0.49999997, -0.49999997, 0.25], size=(n, size))
    frac = np.where(rng.random((n, size)) < 0.5, ties, rng.uniform(-0.5, 0.5, (n, size)))
    xs = ((q + frac) * np.float64(scale)).astype(np.float32)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 3e38, -3e38, 1e-45, scale / 2, -scale / 2, 127.5 * scale], np.float32)
    xs.reshape(-1)[: min(size * n, specials.size)] = specials[: size * n]
    assert_bit_exact(m.build([x], [y]), rng, inputs=[xs.reshape((n,) + tuple(shape))], context=str(case))


# ---------------------------------------------------------------- QUANTIZE int8 -> int8 (requantize)


@st.composite
def requantize_cases(draw):
    s_in = draw(scales(-12, 2))
    ratio = draw(st.one_of(st.floats(-4, 4), st.floats(-12, 8), st.just(0.0)))
    return draw(SHAPES), s_in, draw(ZERO_POINTS), f32(s_in * 2.0**ratio), draw(ZERO_POINTS), draw(st.integers(0, 2**31))


@SETTINGS
@given(requantize_cases())
def test_requantize_bit_exact(case):
    shape, s_in, z_in, s_out, z_out, seed = case
    rng = np.random.default_rng(seed)
    m = ModelBuilder()
    x = m.tensor(shape, scale=s_in, zero_point=z_in)
    y = m.tensor(shape, scale=s_out, zero_point=z_out)
    m.op("QUANTIZE", [x], [y])
    assert_bit_exact(m.build([x], [y]), rng, inputs=[int8_batch(shape, rng)], context=str(case))


# ---------------------------------------------------------------- DEQUANTIZE int8 -> float32


@st.composite
def dequantize_cases(draw):
    # arbitrary float32 scales (any mantissa), plus a few awkward fixed ones
    scale = draw(st.one_of(st.floats(f32(1e-7), 1e3, width=32, allow_subnormal=False), st.sampled_from([f32(0.1), f32(1 / 3), f32(2**-20)])))
    return draw(SHAPES), float(scale), draw(ZERO_POINTS), draw(st.integers(0, 2**31))


@SETTINGS
@given(dequantize_cases())
def test_dequantize_bit_exact(case):
    shape, scale, zp, seed = case
    rng = np.random.default_rng(seed)
    m = ModelBuilder()
    x = m.tensor(shape, scale=scale, zero_point=zp)
    y = m.tensor(shape, dtype=np.float32)
    m.op("DEQUANTIZE", [x], [y])
    # assert_bit_exact demands exact float equality (np.array_equal) for float outputs
    assert_bit_exact(m.build([x], [y]), rng, inputs=[int8_batch(shape, rng)], context=str(case))


def test_dequantize_formula_is_one_float32_multiply():
    """scale * (q - zp) rounded once to float32 (not computed in double and then rounded)."""
    from tinygen.ops.quantize import dequantize_int8

    scale, zp = f32(0.1), 3
    got = dequantize_int8(ALL_INT8, scale, zp)
    assert got.dtype == np.float32
    assert np.array_equal(got, np.float32(scale) * (ALL_INT8.astype(np.float32) - np.float32(zp)))


# ---------------------------------------------------------------- refusals


def _model(op_name, in_dtype=np.int8, out_dtype=np.int8, in_q=(0.1, 0), out_q=(0.2, 1), out_axis=0):
    m = ModelBuilder()
    shape = [1, 4]
    if in_dtype == np.int8:  # an int8 graph input goes through a RESHAPE first: the op under test is op 1
        x = m.tensor(shape, scale=in_q[0], zero_point=in_q[1])
        x0 = m.tensor(shape, scale=in_q[0], zero_point=in_q[1])
        m.op("RESHAPE", [x], [x0])
        index = 1
    else:
        x = x0 = m.tensor(shape, dtype=in_dtype, scale=in_q[0] if in_q else None, zero_point=in_q[1] if in_q else 0)
        index = 0
    y = m.tensor(shape, dtype=out_dtype, scale=out_q[0] if out_q else None, zero_point=out_q[1] if out_q else 0, axis=out_axis)
    m.op(op_name, [x0], [y])
    return m.build([x], [y]), index


def test_quantize_refusals():
    mb, i = _model("QUANTIZE", in_dtype=np.int16, in_q=(0.1, 0), out_dtype=np.float32, out_q=None)  # int16 -> int8/16/32 run (test_ops_quantize16.py)
    refused(mb, i, "QUANTIZE", "float32", "int8, int16 or int32 expected")
    mb, i = _model("QUANTIZE", in_dtype=np.float32, in_q=None, out_dtype=np.int32)
    refused(mb, i, "QUANTIZE", "int32", "float32 input quantizes to int8 or int16")
    mb, i = _model("QUANTIZE", out_q=([0.1, 0.2, 0.3, 0.4], 0), out_axis=1)
    refused(mb, i, "QUANTIZE", "per-channel")
    mb, i = _model("QUANTIZE", in_dtype=np.float32, in_q=None, out_q=None)
    refused(mb, i, "QUANTIZE", "no quantization parameters")
    mb, i = _model("QUANTIZE", in_dtype=np.uint8, in_q=(0.1, 128))
    refused(mb, i, "QUANTIZE", "uint8")


def test_dequantize_refusals():
    mb, i = _model("DEQUANTIZE", in_dtype=np.int16, out_dtype=np.int32, out_q=None)  # int16 -> float32 runs (test_ops_quantize16.py)
    refused(mb, i, "DEQUANTIZE", "int32", "only float32 output")
    mb, i = _model("DEQUANTIZE", out_dtype=np.int32, out_q=None)
    refused(mb, i, "DEQUANTIZE", "int32", "only float32 output")
    m = ModelBuilder()
    x = m.tensor([1, 4], scale=[0.1, 0.2, 0.3, 0.4], zero_point=0, axis=1)
    y = m.tensor([1, 4], dtype=np.float32)
    m.op("DEQUANTIZE", [x], [y])
    refused(m.build([x], [y]), 0, "DEQUANTIZE", "per-channel")
