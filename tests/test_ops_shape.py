"""RESHAPE, SQUEEZE, EXPAND_DIMS (aliases): bit-exact with TFLite Micro, and the refusals."""
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
from tinygen.ops import REGISTRY
from tinygen.model.reader import parse_model

ZERO_POINTS = st.one_of(st.sampled_from([-128, 127, 0]), st.integers(-128, 127))
SCALES = st.floats(-12, 3).map(lambda e: float(np.float32(2.0**e)))
SETTINGS = settings(max_examples=examples(25), deadline=None)


def refused(model_bytes, op_index, op_name, *words):
    with pytest.raises(UnsupportedOpError) as ei:
        Emulator(parse_model(model_bytes))
    e = ei.value
    assert e.op_index == op_index and e.op_name == op_name, str(e)
    assert str(e).startswith(f"op {op_index} ({op_name}): ")
    for w in words:
        assert w in str(e), str(e)


@st.composite
def reshape_cases(draw):
    # the element count as a product of small factors, regrouped into two random shapes
    factors = draw(st.lists(st.sampled_from([1, 2, 2, 3, 5]), min_size=1, max_size=6))

    def group():
        fs = list(draw(st.permutations(factors)))
        cuts = sorted(draw(st.lists(st.integers(0, len(fs)), max_size=4)))
        parts = [fs[a:b] for a, b in zip([0, *cuts], [*cuts, len(fs)])]
        shape = [int(np.prod(p)) for p in parts if p] or [1]
        return shape[:6]

    a, b = group(), group()
    if np.prod(a) != np.prod(b):  # group() truncated one of them
        b = [int(np.prod(a))]
    return a, b, draw(st.booleans()), draw(SCALES), draw(ZERO_POINTS), draw(st.integers(0, 2**31))


@SETTINGS
@given(reshape_cases())
def test_reshape_bit_exact(case):
    in_shape, out_shape, with_shape_tensor, scale, zp, seed = case
    m = ModelBuilder()
    x = m.tensor(in_shape, scale=scale, zero_point=zp)
    y = m.tensor(out_shape, scale=scale, zero_point=zp)
    ins = [x, m.const(np.array(out_shape, np.int32))] if with_shape_tensor else [x]
    m.op("RESHAPE", ins, [y])
    assert_bit_exact(m.build([x], [y]), np.random.default_rng(seed), 3, context=str(case))


@st.composite
def squeeze_cases(draw):
    rank = draw(st.integers(1, 6))
    shape = draw(st.lists(st.sampled_from([1, 1, 2, 3, 4]), min_size=rank, max_size=rank))
    ones = [d for d, s in enumerate(shape) if s == 1]
    dims = draw(st.lists(st.sampled_from(ones), unique=True)) if ones else []
    dims = [d - rank if draw(st.booleans()) else d for d in dims]
    squeezed = {d % rank for d in dims} if dims else set(ones)
    out = [s for d, s in enumerate(shape) if d not in squeezed]
    return shape, dims, out, draw(ZERO_POINTS), draw(st.integers(0, 2**31))


@SETTINGS
@given(squeeze_cases())
def test_squeeze_bit_exact(case):
    shape, dims, out, zp, seed = case
    m = ModelBuilder()
    x = m.tensor(shape, scale=0.1, zero_point=zp)
    y = m.tensor(out, scale=0.1, zero_point=zp)
    m.op("SQUEEZE", [x], [y], squeeze_dims=dims)
    assert_bit_exact(m.build([x], [y]), np.random.default_rng(seed), 3, context=str(case))


@st.composite
def expand_cases(draw):
    rank = draw(st.integers(1, 5))
    shape = draw(st.lists(st.integers(1, 4), min_size=rank, max_size=rank))
    axis = draw(st.integers(-rank - 1, rank))
    a = axis + rank + 1 if axis < 0 else axis
    return shape, axis, shape[:a] + [1] + shape[a:], draw(st.booleans()), draw(ZERO_POINTS), draw(st.integers(0, 2**31))


@SETTINGS
@given(expand_cases())
def test_expand_dims_bit_exact(case):
    shape, axis, out, scalar_axis, zp, seed = case
    m = ModelBuilder()
    x = m.tensor(shape, scale=0.1, zero_point=zp)
    a = m.const(np.array(axis if scalar_axis else [axis], np.int32))
    y = m.tensor(out, scale=0.1, zero_point=zp)
    m.op("EXPAND_DIMS", [x, a], [y])
    assert_bit_exact(m.build([x], [y]), np.random.default_rng(seed), 3, context=str(case))


def test_shape_ops_are_aliases():
    for name in ("RESHAPE", "SQUEEZE", "EXPAND_DIMS"):
        assert REGISTRY[name].alias


# ---------------------------------------------------------------- refusals


def _with_prelude(build_op):
    """x -> QUANTIZE (op 0, identity requantize) -> op under test (op 1)."""
    m = ModelBuilder()
    x = m.tensor([1, 2, 1, 3], scale=0.1, zero_point=0)
    x0 = m.tensor([1, 2, 1, 3], scale=0.1, zero_point=0)
    m.op("QUANTIZE", [x], [x0])
    graph_ins, y = build_op(m, x0)
    return m.build([x, *graph_ins], [y])


def test_reshape_refusals():
    def quant_differs(m, x0):
        y = m.tensor([1, 6], scale=0.2, zero_point=0)
        m.op("RESHAPE", [x0], [y])
        return [], y

    def size_differs(m, x0):
        y = m.tensor([1, 7], scale=0.1, zero_point=0)
        m.op("RESHAPE", [x0], [y])
        return [], y

    def dtype_differs(m, x0):
        y = m.tensor([1, 6], dtype=np.int16, scale=0.1, zero_point=0)
        m.op("RESHAPE", [x0], [y])
        return [], y

    refused(_with_prelude(quant_differs), 1, "RESHAPE", "quantization differ")
    refused(_with_prelude(size_differs), 1, "RESHAPE", "7 elements", "input 6")
    refused(_with_prelude(dtype_differs), 1, "RESHAPE", "int16")


def test_squeeze_refusals():
    def bad_dims(m, x0):
        y = m.tensor([1, 6], scale=0.1, zero_point=0)
        m.op("SQUEEZE", [x0], [y], squeeze_dims=[1])
        return [], y

    def bad_output(m, x0):
        y = m.tensor([6], scale=0.1, zero_point=0)
        m.op("SQUEEZE", [x0], [y], squeeze_dims=[2])
        return [], y

    refused(_with_prelude(bad_dims), 1, "SQUEEZE", "squeeze_dims entry 1", "size-1 axis")
    refused(_with_prelude(bad_output), 1, "SQUEEZE", "not the squeezed input shape [1, 2, 3]")


def test_expand_dims_refusals():
    def dynamic_axis(m, x0):
        a = m.tensor([1], dtype=np.int32)
        y = m.tensor([1, 2, 1, 1, 3], scale=0.1, zero_point=0)
        m.op("EXPAND_DIMS", [x0, a], [y])
        return [a], y

    def bad_axis(m, x0):
        a = m.const(np.array([6], np.int32))
        y = m.tensor([1, 2, 1, 3, 1], scale=0.1, zero_point=0)
        m.op("EXPAND_DIMS", [x0, a], [y])
        return [], y

    def wrong_output(m, x0):
        a = m.const(np.array([0], np.int32))
        y = m.tensor([1, 2, 1, 3, 1], scale=0.1, zero_point=0)
        m.op("EXPAND_DIMS", [x0, a], [y])
        return [], y

    refused(_with_prelude(dynamic_axis), 1, "EXPAND_DIMS", "non-constant axis")
    refused(_with_prelude(bad_axis), 1, "EXPAND_DIMS", "axis 6 is out of range")
    refused(_with_prelude(wrong_output), 1, "EXPAND_DIMS", "not the expanded input shape [1, 1, 2, 1, 3]")
