"""ADD_N, PRELU (int8): bit-exact with TFLite Micro, the refusals, and the generated C on QEMU Cortex-M4."""
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

ZERO_POINTS = st.one_of(st.sampled_from([-128, 127, 0]), st.integers(-128, 127))


def f32(x: float) -> float:
    return float(np.float32(x))


def add_n_model(shape, n, s_in, z_in, s_out, z_out, in_quant=None) -> bytes:
    m = ModelBuilder()
    qs = in_quant or [(s_in, z_in)] * n
    xs = [m.tensor(shape, scale=s, zero_point=z) for s, z in qs]
    y = m.tensor(shape, scale=s_out, zero_point=z_out)
    m.op("ADD_N", xs, [y])
    return m.build(xs, [y])


@settings(max_examples=examples(30), deadline=None)
@given(st.lists(st.integers(1, 5), min_size=1, max_size=4), st.integers(2, 6), st.floats(-8, 1), ZERO_POINTS,
       st.floats(-2, 4), ZERO_POINTS, st.integers(0, 2**31))
def test_add_n_bit_exact(shape, n, e_in, z_in, e_out, z_out, seed):
    s_in = f32(2.0**e_in)
    s_out = f32(s_in * 2.0**e_out)
    assert_bit_exact(add_n_model(shape, n, s_in, z_in, s_out, z_out), np.random.default_rng(seed), n=3,
                     context=f"{shape} n={n} {s_in} {z_in} {s_out} {z_out}")


def test_add_n_refusals():
    cases = ((add_n_model([2, 3], 2, 0.1, 0, 0.1, 0, in_quant=[(0.1, 0), (0.1, 1)]), "quantized differently"),
             (add_n_model([2, 3], 16, 0.1, 0, 0.1, 0), "16 inputs"))
    for mb, words in cases:
        with pytest.raises(UnsupportedOpError) as ei:
            Emulator(parse_model(mb))
        assert ei.value.op_name == "ADD_N" and words in str(ei.value), str(ei.value)


def prelu_model(shape, alpha_shape, q_in, q_alpha, q_out, alpha=None) -> bytes:
    m = ModelBuilder()
    x = m.tensor(shape, scale=q_in[0], zero_point=q_in[1])
    a = (m.tensor(alpha_shape, scale=q_alpha[0], zero_point=q_alpha[1]) if alpha is None else
         m.tensor(alpha_shape, data=alpha, scale=q_alpha[0], zero_point=q_alpha[1]))
    y = m.tensor(list(np.broadcast_shapes(tuple(shape), tuple(alpha_shape))), scale=q_out[0], zero_point=q_out[1])
    m.op("PRELU", [x, a], [y])
    return m.build([x] if alpha is not None else [x, a], [y])


@settings(max_examples=examples(30), deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), st.data())
def test_prelu_bit_exact(shape, data):
    alpha_shape = [data.draw(st.sampled_from([d, 1])) for d in shape][data.draw(st.integers(0, len(shape) - 1)):]
    if data.draw(st.booleans()):  # the input broadcast against alpha too
        shape = [1 if data.draw(st.integers(0, 3)) == 0 else d for d in shape]
    q = lambda: (f32(2.0 ** data.draw(st.floats(-8, 0))), data.draw(ZERO_POINTS))  # noqa: E731
    q_in, q_alpha, q_out = q(), q(), q()
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    const = data.draw(st.booleans())
    alpha = rng.integers(-128, 128, size=alpha_shape).astype(np.int8) if const else None
    assert_bit_exact(prelu_model(shape, alpha_shape, q_in, q_alpha, q_out, alpha), rng, n=3,
                     context=f"{shape} {alpha_shape} {q_in} {q_alpha} {q_out} const={const}")


def arith_models() -> dict[str, bytes]:
    rng = np.random.default_rng(5)
    return {"add_n3": add_n_model([2, 3, 4], 3, 0.05, -7, 0.11, 4), "add_n2_sat": add_n_model([17], 2, 0.1, 127, 0.02, -128),
            "prelu_const": prelu_model([1, 3, 4, 5], [1, 1, 5], (0.05, -3), (0.01, 2), (0.04, 6), rng.integers(-128, 128, size=[1, 1, 5]).astype(np.int8)),
            "prelu_runtime": prelu_model([2, 1, 3], [4, 1], (0.1, 20), (0.02, -5), (0.07, -10))}


@pytest.mark.qemu
@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                    reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_arith_on_cortex_m4(tmp_path):
    rng = np.random.default_rng(41)
    models = arith_models()
    graphs = {n: parse_model(b, name=n) for n, b in models.items()}
    xs = {n: [[rng.integers(-128, 128, size=t.shape).astype(np.int8) for t in g.input_tensors] for _ in range(2)] for n, g in graphs.items()}
    assert_bit_exact_on_board(models, graphs, xs, tmp_path)


# ---------------------------------------------------------------- GATHER_ND


def gather_nd_model(pshape, ishape, dtype=np.int8, indices=None) -> bytes:
    m = ModelBuilder()
    q = dict(scale=0.05, zero_point=3) if dtype == np.int8 else dict(scale=0.001, zero_point=0)
    x = m.tensor(pshape, dtype=dtype, **q)
    ind = m.tensor(ishape, dtype=np.int32) if indices is None else m.const(np.asarray(indices, np.int32))
    y = m.tensor(list(ishape[:-1]) + list(pshape[ishape[-1]:]), dtype=dtype, **q)
    m.op("GATHER_ND", [x, ind], [y])
    return m.build([x] if indices is not None else [x, ind], [y])


def _valid_indices(pshape, ishape, rng, n=None):
    size = (ishape if n is None else (n, *ishape))
    return np.stack([rng.integers(0, pshape[j], size=size[:-1]) for j in range(ishape[-1])], axis=-1).astype(np.int32)


@settings(max_examples=examples(25), deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), st.lists(st.integers(1, 3), min_size=0, max_size=2),
       st.sampled_from([np.int8]), st.booleans(), st.data())
def test_gather_nd_bit_exact(pshape, lead, dtype, const, data):
    k = data.draw(st.integers(1, len(pshape)))
    ishape = [*lead, k]
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    info = np.iinfo(dtype)
    if const:
        mb = gather_nd_model(pshape, ishape, dtype, _valid_indices(pshape, ishape, rng))
        xs = [rng.integers(info.min, info.max, size=(2, *pshape), endpoint=True).astype(dtype)]
    else:
        mb = gather_nd_model(pshape, ishape, dtype)
        xs = [rng.integers(info.min, info.max, size=(2, *pshape), endpoint=True).astype(dtype), _valid_indices(pshape, ishape, rng, n=2)]
    assert_bit_exact(mb, rng, inputs=xs, context=f"{pshape} {ishape} {np.dtype(dtype).name} const={const}")


def test_gather_nd_refusals_and_bad_index():
    with pytest.raises(UnsupportedOpError) as ei:
        Emulator(parse_model(gather_nd_model([3, 4], [2, 1], np.int16)))
    assert "int16" in str(ei.value)
    g = parse_model(gather_nd_model([3, 4], [2, 1]))
    from tinygen.errors import TinygenError

    with pytest.raises(TinygenError, match="out of range"):
        Emulator(g).run_internal([np.zeros((1, 3, 4), np.int8), np.array([[[0], [3]]], np.int32)])


def gather_nd_models() -> dict[str, bytes]:
    rng = np.random.default_rng(9)
    return {"gnd_const": gather_nd_model([3, 4, 5], [2, 2], np.int8, _valid_indices([3, 4, 5], [2, 2], rng)),
            "gnd_row": gather_nd_model([4, 3], [3, 1], np.int8, _valid_indices([4, 3], [3, 1], rng))}


@pytest.mark.qemu
@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                    reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_gather_nd_on_cortex_m4(tmp_path):
    rng = np.random.default_rng(47)
    models = gather_nd_models()
    graphs = {n: parse_model(b, name=n) for n, b in models.items()}
    xs = {n: [[rng.integers(np.iinfo(t.dtype).min, np.iinfo(t.dtype).max, size=t.shape, endpoint=True).astype(t.dtype)
               for t in g.input_tensors] for _ in range(2)] for n, g in graphs.items()}
    assert_bit_exact_on_board(models, graphs, xs, tmp_path)


# ---------------------------------------------------------------- DYNAMIC_UPDATE_SLICE


def update_slice_model(shape, ushape, dtype=np.int8, start=None) -> bytes:
    m = ModelBuilder()
    q = dict(scale=0.05, zero_point=3) if dtype == np.int8 else (dict(scale=0.001, zero_point=0) if dtype == np.int16 else {})
    x = m.tensor(shape, dtype=dtype, **q)
    u = m.tensor(ushape, dtype=dtype, **q)
    s = m.tensor([len(shape)], dtype=np.int32) if start is None else m.const(np.asarray(start, np.int32))
    y = m.tensor(shape, dtype=dtype, **q)
    m.op("DYNAMIC_UPDATE_SLICE", [x, u, s], [y])
    return m.build([x, u] if start is not None else [x, u, s], [y])


@settings(max_examples=examples(25), deadline=None)
@given(st.lists(st.integers(1, 5), min_size=1, max_size=4), st.sampled_from([np.int8, np.int16, np.int32]), st.booleans(), st.data())
def test_dynamic_update_slice_bit_exact(shape, dtype, const, data):
    ushape = [data.draw(st.integers(1, d)) for d in shape]
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    info = np.iinfo(dtype)
    vals = lambda s: rng.integers(max(info.min, -2**20), min(info.max, 2**20), size=(2, *s), endpoint=True).astype(dtype)  # noqa: E731
    starts = rng.integers(-3, 7, size=(2, len(shape))).astype(np.int32)  # some out of range: clamped
    if const:
        mb, xs = update_slice_model(shape, ushape, dtype, starts[0]), [vals(shape), vals(ushape)]
    else:
        mb, xs = update_slice_model(shape, ushape, dtype), [vals(shape), vals(ushape), starts]
    assert_bit_exact(mb, rng, inputs=xs, context=f"{shape} {ushape} {np.dtype(dtype).name} {starts.tolist()} const={const}")


def update_slice_models() -> dict[str, bytes]:
    return {"dus_const": update_slice_model([3, 4, 5], [2, 2, 3], np.int8, [1, 5, -1]),
            "dus_runtime16": update_slice_model([4, 6], [2, 3], np.int16), "dus_i32": update_slice_model([5], [2], np.int32, [2])}


@pytest.mark.qemu
@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                    reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_update_slice_on_cortex_m4(tmp_path):
    rng = np.random.default_rng(53)
    models = update_slice_models()
    graphs = {n: parse_model(b, name=n) for n, b in models.items()}
    xs = {n: [[rng.integers(-100, 100, size=t.shape).astype(t.dtype) for t in g.input_tensors] for _ in range(2)] for n, g in graphs.items()}
    assert_bit_exact_on_board(models, graphs, xs, tmp_path)


# ---------------------------------------------------------------- CUMSUM


def cumsum_model(shape, axis, exclusive, reverse, q_in, q_out) -> bytes:
    m = ModelBuilder()
    x = m.tensor(shape, scale=q_in[0], zero_point=q_in[1])
    y = m.tensor(shape, scale=q_out[0], zero_point=q_out[1])
    m.op("CUMSUM", [x, m.const(np.array([axis], np.int32))], [y], exclusive=exclusive, reverse=reverse)
    return m.build([x], [y])


@settings(max_examples=examples(30), deadline=None)
@given(st.lists(st.integers(1, 6), min_size=1, max_size=4), st.booleans(), st.booleans(), st.floats(-8, 0), ZERO_POINTS,
       st.floats(-1, 4), ZERO_POINTS, st.data())
def test_cumsum_bit_exact(shape, exclusive, reverse, e_in, z_in, e_out, z_out, data):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    s_in = f32(2.0**e_in)
    q_in, q_out = (s_in, z_in), (f32(s_in * 2.0**e_out), z_out)
    assert_bit_exact(cumsum_model(shape, axis, exclusive, reverse, q_in, q_out), np.random.default_rng(len(shape)), n=3,
                     context=f"{shape} axis={axis} excl={exclusive} rev={reverse} {q_in} {q_out}")


def cumsum_models() -> dict[str, bytes]:
    return {"cumsum": cumsum_model([2, 5, 3], 1, False, False, (0.05, -4), (0.2, 7)),
            "cumsum_excl_rev": cumsum_model([4, 6], -1, True, True, (0.1, 10), (0.3, -2))}


@pytest.mark.qemu
@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                    reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_cumsum_on_cortex_m4(tmp_path):
    rng = np.random.default_rng(59)
    models = cumsum_models()
    graphs = {n: parse_model(b, name=n) for n, b in models.items()}
    xs = {n: [[rng.integers(-128, 128, size=t.shape).astype(np.int8) for t in g.input_tensors] for _ in range(2)] for n, g in graphs.items()}
    assert_bit_exact_on_board(models, graphs, xs, tmp_path)
