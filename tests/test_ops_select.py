"""MAXIMUM, MINIMUM, ARG_MAX, ARG_MIN, ABS, ELU: bit-exact with TFLite Micro (property tests against the
oracle), and the generated C on QEMU Cortex-M4."""
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

SET = settings(max_examples=examples(8), deadline=None)
DTYPES = st.sampled_from([np.int8, np.int16])
SCALES = st.floats(-12, 2).map(lambda e: float(np.float32(2.0 ** e)))


def maxmin_model(name, s0, s1, dtype=np.int8, const1=None) -> bytes:
    m = ModelBuilder()
    q = (0.05, 3) if dtype == np.int8 else (0.001, 0)
    a = m.tensor(s0, dtype=dtype, scale=q[0], zero_point=q[1])
    b = (m.tensor(s1, dtype=dtype, scale=q[0], zero_point=q[1], data=const1) if const1 is not None
         else m.tensor(s1, dtype=dtype, scale=q[0], zero_point=q[1]))
    y = m.tensor(list(np.broadcast_shapes(tuple(s0), tuple(s1))), dtype=dtype, scale=q[0], zero_point=q[1])
    m.op(name, [a, b], [y])
    return m.build([a] if const1 is not None else [a, b], [y])


def arg_model(name, shape, axis, dtype=np.int8, out=np.int32) -> bytes:
    m = ModelBuilder()
    x = m.tensor(shape, dtype=dtype, scale=0.05, zero_point=0)
    y = m.tensor([d for i, d in enumerate(shape) if i != axis % len(shape)], dtype=out)
    m.op(name, [x, m.const(np.array([axis], np.int32))], [y], output_type=2 if out == np.int32 else 4)
    return m.build([x], [y])


def unary_model(name, shape, dtype, in_q, out_q) -> bytes:
    m = ModelBuilder()
    x = m.tensor(shape, dtype=dtype, scale=in_q[0], zero_point=in_q[1])
    y = m.tensor(shape, dtype=dtype, scale=out_q[0], zero_point=out_q[1])
    m.op(name, [x], [y])
    return m.build([x], [y])


@st.composite
def bshapes(draw):
    out = draw(st.lists(st.integers(1, 4), min_size=1, max_size=5))
    def sub():
        r = draw(st.integers(1, len(out)))
        return [draw(st.sampled_from([1, d])) for d in out[len(out) - r:]]
    return sub(), sub()


@SET
@given(bshapes(), DTYPES, st.sampled_from(["MAXIMUM", "MINIMUM"]), st.integers(0, 2**31))
def test_maximum_minimum(shapes, dtype, name, seed):
    s0, s1 = shapes
    assert_bit_exact(maxmin_model(name, s0, s1, dtype), np.random.default_rng(seed), n=2, context=f"{name} {s0} {s1}")


@SET
@given(st.lists(st.integers(1, 5), min_size=1, max_size=4), st.sampled_from(["ARG_MAX", "ARG_MIN"]), st.data())
def test_arg_max_min(shape, name, data):
    dtype, out = np.int8, np.int32  # TFLM's only integer combination
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    model = arg_model(name, shape, axis, dtype, out)
    x = rng.integers(-3, 3, size=(2,) + tuple(shape)).astype(dtype)  # few distinct values: many ties
    assert_bit_exact(model, rng, inputs=[x], context=f"{name} {shape} axis {axis}")


@SET
@given(st.lists(st.integers(1, 6), min_size=1, max_size=3), DTYPES, SCALES, SCALES, st.integers(-128, 127),
       st.integers(-128, 127), st.booleans(), st.integers(0, 2**31))
def test_abs(shape, dtype, s_in, s_out, zin, zout, same, seed):
    if same:
        s_out = s_in
    if dtype == np.int16:
        zin = zout = 0
    assert_bit_exact(unary_model("ABS", shape, dtype, (s_in, zin), (s_out, zout)), np.random.default_rng(seed), n=2,
                     context=f"ABS {np.dtype(dtype).name} {s_in} {s_out} {zin} {zout}")


@SET
@given(SCALES, SCALES, st.integers(-128, 127), st.integers(-128, 127))
def test_elu_every_int8_value(s_in, s_out, zin, zout):
    x = np.arange(-128, 128, dtype=np.int8).reshape(1, 1, 256)
    assert_bit_exact(unary_model("ELU", [1, 256], np.int8, (s_in, zin), (s_out, zout)), None, inputs=[x],
                     context=f"ELU {s_in} {s_out} {zin} {zout}")


def test_refusals():
    with pytest.raises(UnsupportedOpError, match=r"op 0 \(ABS\): int16 ABS needs zero points 0"):
        Emulator(parse_model(unary_model("ABS", [4], np.int16, (0.01, 3), (0.01, 0))))
    with pytest.raises(UnsupportedOpError, match=r"op 0 \(ARG_MAX\): output is int64; TFLM writes int32 only"):
        Emulator(parse_model(arg_model("ARG_MAX", [2, 3], 1, np.int8, np.int64)))
    with pytest.raises(UnsupportedOpError, match=r"op 0 \(MAXIMUM\): types differ"):
        m = ModelBuilder()
        a = m.tensor([2], scale=0.1, zero_point=0)
        b = m.tensor([2], dtype=np.int16, scale=0.1, zero_point=0)
        y = m.tensor([2], scale=0.1, zero_point=0)
        m.op("MAXIMUM", [a, b], [y])
        Emulator(parse_model(m.build([a, b], [y])))


def select_models() -> dict[str, bytes]:
    rng = np.random.default_rng(3)
    return {
        "sel_max_bcast": maxmin_model("MAXIMUM", [2, 1, 3], [4, 1]),
        "sel_min": maxmin_model("MINIMUM", [3, 2], [2]),
        "sel_min16_const": maxmin_model("MINIMUM", [1, 3, 4], [4], np.int16, const1=rng.integers(-300, 300, size=4)),
        "sel_argmax": arg_model("ARG_MAX", [2, 5, 3], 1),
        "sel_argmin": arg_model("ARG_MIN", [3, 4], -1),
        "sel_abs_rescale": unary_model("ABS", [2, 40], np.int8, (0.05, -7), (0.02, -128)),
        "sel_abs16": unary_model("ABS", [50], np.int16, (0.001, 0), (0.0007, 0)),
        "sel_elu": unary_model("ELU", [1, 256], np.int8, (0.05, 10), (0.04, -20)),
    }


@pytest.mark.qemu
@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                    reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_select_on_cortex_m4(tmp_path):
    rng = np.random.default_rng(13)
    models = select_models()
    graphs = {n: parse_model(b, name=n) for n, b in models.items()}
    xs = {n: [[rng.integers(np.iinfo(t.dtype).min, np.iinfo(t.dtype).max, size=t.shape, endpoint=True).astype(t.dtype)
               for t in g.input_tensors] for _ in range(2)] for n, g in graphs.items()}
    xs["sel_argmax"].append([rng.integers(-2, 2, size=(2, 5, 3)).astype(np.int8)])  # ties
    assert_bit_exact_on_board(models, graphs, xs, tmp_path)
