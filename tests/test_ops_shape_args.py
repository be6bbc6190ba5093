"""SHAPE and BROADCAST_ARGS: folded at generation time where their values are constant, run as ops where
SHAPE's output is a graph output or BROADCAST_ARGS reads run-time shapes; bit-exact with TFLite Micro,
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

I32 = np.int32


def shape_output_model(shape, reshape_too: bool = False) -> bytes:
    """x -> SHAPE -> graph output (not folded); with reshape_too also RESHAPE(x, SHAPE(x)) -> second output."""
    m = ModelBuilder()
    x = m.tensor(shape, scale=0.05, zero_point=3)
    s = m.tensor([len(shape)], dtype=I32)
    m.op("SHAPE", [x], [s], out_type=2)
    outs = [s]
    if reshape_too:
        y = m.tensor(shape, scale=0.05, zero_point=3)
        m.op("RESHAPE", [x, s], [y])
        outs.append(y)
    return m.build([x], outs)


def broadcast_args_model(n0: int, n1: int) -> bytes:
    m = ModelBuilder()
    a, b = m.tensor([n0], dtype=I32), m.tensor([n1], dtype=I32)
    y = m.tensor([max(n0, n1)], dtype=I32)
    m.op("BROADCAST_ARGS", [a, b], [y])
    return m.build([a, b], [y])


def folded_broadcast_args_model(shape0, shape1) -> bytes:
    """RESHAPE(x, BROADCAST_ARGS(const shape0, const shape1)) (TFLM's BROADCAST_TO wants a constant shape):
    the shape arithmetic is folded."""
    m = ModelBuilder()
    out = list(np.broadcast_shapes(tuple(shape0), tuple(shape1)))
    x = m.tensor([int(np.prod(out))], scale=0.1, zero_point=0)
    s = m.tensor([len(out)], dtype=I32)
    m.op("BROADCAST_ARGS", [m.const(np.array(shape0, I32)), m.const(np.array(shape1, I32))], [s])
    y = m.tensor(out, scale=0.1, zero_point=0)
    m.op("RESHAPE", [x, s], [y])
    return m.build([x], [y])


@settings(max_examples=examples(3), deadline=None)
@given(st.lists(st.integers(1, 5), min_size=1, max_size=5), st.booleans())
def test_shape_as_graph_output(shape, reshape_too):
    model = shape_output_model(shape, reshape_too)
    g = assert_bit_exact(model, np.random.default_rng(1), n=2, context=f"SHAPE {shape}")
    assert [op.op for op in g.operators][:1] == ["SHAPE"] and not g.folded


@st.composite
def compatible_shapes(draw):
    out = draw(st.lists(st.integers(1, 6), min_size=1, max_size=5))

    def sub():
        r = draw(st.integers(0, len(out)))
        return [draw(st.sampled_from([1, d])) for d in out[len(out) - r:]]

    return sub(), sub()


@settings(max_examples=examples(4), deadline=None)
@given(compatible_shapes(), compatible_shapes())
def test_broadcast_args_at_run_time(case0, case1):
    # one model, two samples: the vector lengths are static, the values differ per sample
    n0, n1 = max(len(case0[0]), len(case1[0]), 1), max(len(case0[1]), len(case1[1]), 1)

    def pad(v, n):  # left-pad with 1s: the same broadcast
        return [1] * (n - len(v)) + list(v)

    a = np.array([pad(case0[0], n0), pad(case1[0], n0)], I32)
    b = np.array([pad(case0[1], n1), pad(case1[1], n1)], I32)
    assert_bit_exact(broadcast_args_model(n0, n1), None, inputs=[a, b], context=f"{a.tolist()} {b.tolist()}")


def test_broadcast_args_folded():
    model = folded_broadcast_args_model([3, 1], [2, 1, 4])
    g = assert_bit_exact(model, np.random.default_rng(2), n=2, context="folded BROADCAST_ARGS")
    assert [op.op for op in g.folded] == ["BROADCAST_ARGS"] and [op.op for op in g.operators] == ["RESHAPE"]


def test_shape_refusals():
    m = ModelBuilder()
    x = m.tensor([2, 3], scale=0.1)
    s = m.tensor([2], dtype=np.int64)
    m.op("SHAPE", [x], [s], out_type=4)
    with pytest.raises(UnsupportedOpError, match=r"op 0 \(SHAPE\): output is int64; TFLM's SHAPE writes int32 only"):
        Emulator(parse_model(m.build([x], [s])))


def shape_args_models() -> dict[str, bytes]:
    return {
        "shape_out": shape_output_model([2, 3, 4]),
        "shape_out_reshape": shape_output_model([1, 5, 2], reshape_too=True),
        "broadcast_args": broadcast_args_model(2, 4),
    }


def _samples(g, rng):
    if g.name == "broadcast_args":
        return [[np.array([3, 1], I32), np.array([2, 1, 1, 7], I32)], [np.array([1, 5], I32), np.array([4, 3, 6, 1], I32)]]
    return [[rng.integers(-128, 128, size=t.shape).astype(t.dtype) for t in g.input_tensors] for _ in range(2)]


@pytest.mark.qemu
@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                    reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_shape_args_on_cortex_m4(tmp_path):
    rng = np.random.default_rng(41)
    models = shape_args_models()
    graphs = {n: parse_model(b, name=n) for n, b in models.items()}
    xs = {n: _samples(g, rng) for n, g in graphs.items()}
    assert_bit_exact_on_board(models, graphs, xs, tmp_path)
