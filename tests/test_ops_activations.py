"""LOGISTIC, TANH, RELU, RELU6, LEAKY_RELU, HARD_SWISH: bit-exact with TFLite Micro.

Each property example builds a single-op model whose input holds every int8 value
(all 256, shuffled, in one sample) plus random samples, and demands equality with
TFLM in every element. The op's prepare tabulates the same 256 values, so one
example checks the whole lookup table.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import examples
from tests.support.opmodels import ModelBuilder
from tests.support.oracle import assert_bit_exact
from tinygen.errors import UnsupportedOpError
from tinygen.ops import REGISTRY, check_graph
from tinygen.model.reader import parse_model

# Shapes of 256 * k elements (rank 1..5), so one sample can hold every int8 value.
SHAPES = [(256,), (1, 256), (2, 128), (1, 16, 16), (1, 4, 4, 16), (1, 2, 2, 4, 16), (1, 8, 8, 8)]

zero_points = st.one_of(st.sampled_from([-128, 127, 0, -1]), st.integers(-128, 127))


def log_uniform(lo, hi):
    return st.floats(np.log(lo), np.log(hi)).map(lambda v: float(np.float32(np.exp(v))))


def unary_model(op, shape, in_scale, in_zp, out_scale, out_zp, out_dtype=np.int8, pre_reshape=False, **opts):
    """A single-op model (optionally preceded by a RESHAPE, so the op under test has index 1)."""
    m = ModelBuilder()
    x = m.tensor(shape, scale=in_scale, zero_point=in_zp)
    src = x
    if pre_reshape:
        src = m.tensor(shape, scale=in_scale, zero_point=in_zp)
        m.op("RESHAPE", [x], [src], new_shape=list(shape))
    y = m.tensor(shape, dtype=out_dtype, scale=out_scale, zero_point=out_zp)
    m.op(op, [src], [y], **opts)
    return m.build([x], [y])


def all_int8_inputs(shape, rng, n_random=2):
    """Sample 0: every int8 value (tiled to the shape, shuffled); then n_random random samples."""
    size = int(np.prod(shape))
    exhaustive = np.tile(np.arange(-128, 128, dtype=np.int8), size // 256)
    rng.shuffle(exhaustive)
    rand = rng.integers(-128, 128, size=(n_random, size), dtype=np.int8)
    return [np.concatenate([exhaustive[None], rand]).reshape((n_random + 1,) + tuple(shape))]


def check_exact(model_bytes, shape, seed, context=""):
    rng = np.random.default_rng(seed)
    assert_bit_exact(model_bytes, rng, inputs=all_int8_inputs(shape, rng), context=context)


def table_of(model_bytes):
    g = parse_model(model_bytes)
    op = g.operators[-1]
    impl = REGISTRY[op.op]
    impl.check(g, op)
    return impl.prepare(g, op).table


common = dict(shape=st.sampled_from(SHAPES), in_zp=zero_points, seed=st.integers(0, 2**32 - 1))


@settings(max_examples=examples(25), deadline=None)
@given(in_scale=st.one_of(log_uniform(0.01, 0.25), log_uniform(0.25, 2.0)), **common)
def test_logistic_bit_exact(shape, in_scale, in_zp, seed):
    mb = unary_model("LOGISTIC", shape, in_scale, in_zp, 1 / 256, -128)
    check_exact(mb, shape, seed, f"LOGISTIC scale={in_scale} zp={in_zp}")


@settings(max_examples=examples(25), deadline=None)
@given(in_scale=st.one_of(log_uniform(0.005, 0.15), log_uniform(0.15, 2.0)), **common)
def test_tanh_bit_exact(shape, in_scale, in_zp, seed):
    mb = unary_model("TANH", shape, in_scale, in_zp, 1 / 128, 0)
    check_exact(mb, shape, seed, f"TANH scale={in_scale} zp={in_zp}")


@settings(max_examples=examples(25), deadline=None)
@given(in_scale=log_uniform(0.002, 1.0), ratio=log_uniform(0.2, 2.0),
       out_zp=st.one_of(st.integers(-128, -64), zero_points), **common)
def test_relu_bit_exact(shape, in_scale, ratio, in_zp, out_zp, seed):
    out_scale = float(np.float32(in_scale * ratio))
    mb = unary_model("RELU", shape, in_scale, in_zp, out_scale, out_zp)
    check_exact(mb, shape, seed, f"RELU in=({in_scale},{in_zp}) out=({out_scale},{out_zp})")


@settings(max_examples=examples(25), deadline=None)
@given(in_scale=st.one_of(log_uniform(6 / 250, 0.1), log_uniform(0.1, 1.0), log_uniform(0.001, 6 / 250)), **common)
def test_relu6_bit_exact(shape, in_scale, in_zp, seed):
    mb = unary_model("RELU6", shape, in_scale, in_zp, in_scale, in_zp)
    check_exact(mb, shape, seed, f"RELU6 scale={in_scale} zp={in_zp}")


@settings(max_examples=examples(25), deadline=None)
@given(in_scale=log_uniform(0.005, 0.5), ratio=log_uniform(0.3, 3.0), out_zp=zero_points,
       alpha=st.one_of(st.sampled_from([0.0, 0.01, 0.1, 0.2, 0.3, 1.0, -0.5]), st.floats(-1.5, 1.5)), **common)
def test_leaky_relu_bit_exact(shape, in_scale, ratio, in_zp, out_zp, alpha, seed):
    out_scale = float(np.float32(in_scale * ratio))
    mb = unary_model("LEAKY_RELU", shape, in_scale, in_zp, out_scale, out_zp, alpha=alpha)
    check_exact(mb, shape, seed, f"LEAKY_RELU alpha={alpha} in=({in_scale},{in_zp}) out=({out_scale},{out_zp})")


@settings(max_examples=examples(25), deadline=None)
@given(in_scale=st.one_of(log_uniform(0.01, 0.1), log_uniform(0.0005, 0.01), log_uniform(0.1, 2.0)),
       ratio=log_uniform(0.3, 2.0), out_zp=zero_points, **common)
def test_hard_swish_bit_exact(shape, in_scale, ratio, in_zp, out_zp, seed):
    out_scale = float(np.float32(in_scale * ratio))
    mb = unary_model("HARD_SWISH", shape, in_scale, in_zp, out_scale, out_zp)
    check_exact(mb, shape, seed, f"HARD_SWISH in=({in_scale},{in_zp}) out=({out_scale},{out_zp})")


# --- the tables are meaningful (not saturated) for typical quantization ---------------------------

def test_tables_span_the_range():
    assert np.ptp(table_of(unary_model("LOGISTIC", (1, 256), 0.06, 0, 1 / 256, -128)).astype(int)) >= 250
    assert np.ptp(table_of(unary_model("TANH", (1, 256), 0.03, 0, 1 / 128, 0)).astype(int)) >= 250
    t = table_of(unary_model("HARD_SWISH", (1, 256), 0.05, -20, 0.04, -100)).astype(int)
    assert np.ptp(t) >= 150 and np.all(np.diff(t[108:]) >= 0)  # monotone above -3
    t = table_of(unary_model("LEAKY_RELU", (1, 256), 0.05, 0, 0.05, 0, alpha=0.5)).astype(int)
    assert t[128 + 100] == 100 and t[128 - 100] == -50


@pytest.mark.parametrize("op,scale,zp,out_scale,out_zp", [
    ("LOGISTIC", 0.1, -128, 1 / 256, -128), ("LOGISTIC", 0.1, 127, 1 / 256, -128),
    ("TANH", 0.02, -128, 1 / 128, 0), ("TANH", 0.02, 127, 1 / 128, 0),
    ("RELU", 0.05, -128, 0.05, -128), ("RELU6", 0.05, 127, 0.05, 127), ("HARD_SWISH", 0.05, 127, 0.05, -128),
])
def test_edge_zero_points_and_constant_inputs(op, scale, zp, out_scale, out_zp):
    shape = (1, 4, 4, 16)
    mb = unary_model(op, shape, scale, zp, out_scale, out_zp)
    rng = np.random.default_rng(7)
    consts = np.stack([np.full(shape, v, dtype=np.int8) for v in (-128, -1, 0, 1, 127)])
    assert_bit_exact(mb, rng, inputs=[consts], context=f"{op} constant inputs")
    check_exact(mb, shape, 11, f"{op} zp={zp}")


# --- check() refuses what the kernels do not implement ---------------------------------------------

def refused(model_bytes, *needles):
    with pytest.raises(UnsupportedOpError) as ei:
        check_graph(parse_model(model_bytes))
    e = ei.value
    assert e.op_index == 1 and "op 1 (" in str(e), str(e)
    for n in needles:
        assert n in str(e), str(e)
    return e


def test_refuses_int16_activations():
    m = ModelBuilder()
    x = m.tensor([1, 16], dtype=np.int16, scale=1 / 4096, zero_point=0)
    x2 = m.tensor([1, 16], dtype=np.int16, scale=1 / 4096, zero_point=0)
    y = m.tensor([1, 16], dtype=np.int16, scale=1 / 32768, zero_point=0)
    m.op("RESHAPE", [x], [x2], new_shape=[1, 16])
    m.op("RELU", [x2], [y])  # (LOGISTIC / TANH / LEAKY_RELU int16: tests/test_ops_activations16.py)
    refused(m.build([x], [y]), "RELU", "int16", "only int8")


def test_refuses_nonstandard_output_quantization():
    refused(unary_model("LOGISTIC", (1, 16), 0.1, 0, 1 / 256, 0, pre_reshape=True), "zero point", "-128")
    refused(unary_model("LOGISTIC", (1, 16), 0.1, 0, 1 / 128, -128, pre_reshape=True), "1/256")
    refused(unary_model("TANH", (1, 16), 0.1, 0, 1 / 256, 0, pre_reshape=True), "TANH", "1/128")
    refused(unary_model("TANH", (1, 16), 0.1, 0, 1 / 128, 5, pre_reshape=True), "zero point 0")


def test_refuses_relu6_requantization():
    refused(unary_model("RELU6", (1, 16), 0.05, 3, 0.1, -20, pre_reshape=True), "RELU6", "does not requantize")


def test_refuses_out_of_range_scales():
    refused(unary_model("LOGISTIC", (1, 16), 1e-9, 0, 1 / 256, -128, pre_reshape=True), "too small")
    refused(unary_model("HARD_SWISH", (1, 16), 1.0, 0, 0.001, 0, pre_reshape=True), "HARD_SWISH", "exponent")
    refused(unary_model("RELU", (1, 16), 1.0, 0, 1e-8, 0, pre_reshape=True), "too large")
