"""GATHER (int8 params, int32 run-time or constant indices, axis, batch_dims) and EMBEDDING_LOOKUP
(int8 rows): bit-exact with TFLite Micro, and the generated C on QEMU Cortex-M4."""
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
from tinygen.errors import TinygenError
from tinygen.model.reader import parse_model


def gather_model(shape, ind_shape, axis, batch_dims=0, idx_dtype=np.int32, const_idx=None) -> bytes:
    m = ModelBuilder()
    x = m.tensor(shape, scale=0.05, zero_point=3)
    ind = (m.tensor(ind_shape, dtype=idx_dtype, data=const_idx) if const_idx is not None else m.tensor(ind_shape, dtype=idx_dtype))
    a = axis % len(shape)
    y = m.tensor(list(shape[:a]) + list(ind_shape[batch_dims:]) + list(shape[a + 1:]), scale=0.05, zero_point=3)
    m.op("GATHER", [x, ind], [y], axis=axis, batch_dims=batch_dims)
    return m.build([x] if const_idx is not None else [x, ind], [y])


def embedding_model(rows, width, n, rng, const_ids=None) -> bytes:
    """ids a graph input and the table constant, or (const_ids) the other way round."""
    m = ModelBuilder()
    if const_ids is None:
        ids = m.tensor([n], dtype=np.int32)
        v = m.tensor([rows, width], data=rng.integers(-128, 128, size=(rows, width)), scale=0.02, zero_point=0)
    else:
        ids = m.tensor([n], dtype=np.int32, data=const_ids)
        v = m.tensor([rows, width], scale=0.02, zero_point=0)
    y = m.tensor([n, width], scale=0.02, zero_point=0)
    m.op("EMBEDDING_LOOKUP", [ids, v], [y])
    return m.build([ids] if const_ids is None else [v], [y])


@st.composite
def cases(draw):
    shape = draw(st.lists(st.integers(1, 4), min_size=1, max_size=4))
    axis = draw(st.integers(0, len(shape) - 1))
    bd = draw(st.integers(0, axis)) if draw(st.booleans()) else 0
    ind_shape = shape[:bd] + draw(st.lists(st.integers(1, 3), min_size=1, max_size=2))
    return shape, ind_shape, axis - (len(shape) if draw(st.booleans()) else 0), bd, np.int32  # TFLM: int32 positions only


@settings(max_examples=examples(10), deadline=None)
@given(cases(), st.integers(0, 2**31))
def test_gather_bit_exact(case, seed):
    shape, ind_shape, axis, bd, idt = case
    rng = np.random.default_rng(seed)
    a = axis % len(shape)
    x = rng.integers(-128, 128, size=(2,) + tuple(shape)).astype(np.int8)
    ind = rng.integers(0, shape[a], size=(2,) + tuple(ind_shape)).astype(idt)
    assert_bit_exact(gather_model(shape, ind_shape, axis, bd, idt), rng, inputs=[x, ind], context=f"{case}")


def test_embedding_lookup_and_constant_indices():
    rng = np.random.default_rng(2)
    ids = rng.integers(0, 7, size=(3, 5)).astype(np.int32)
    assert_bit_exact(embedding_model(7, 6, 5, rng), rng, inputs=[ids], context="EMBEDDING_LOOKUP")
    assert_bit_exact(gather_model([5, 4], [3], 1, const_idx=np.array([3, 0, 3])), rng, n=2, context="const indices")


def test_int64_positions_refused_like_tflm():
    from tinygen.errors import UnsupportedOpError

    with pytest.raises(UnsupportedOpError, match=r"op 0 \(GATHER\): indices are int64"):
        Emulator(parse_model(gather_model([3, 4], [2], 0, idx_dtype=np.int64)))


def test_out_of_range_index_is_an_error():
    g = parse_model(gather_model([4, 2], [2], 0))
    with pytest.raises(TinygenError, match=r"GATHER: index 4 is out of range \[0, 4\)"):
        Emulator(g).run_internal([np.zeros((1, 4, 2), np.int8), np.array([[1, 4]], np.int32)])


def host_models() -> dict[str, bytes]:
    """Models whose inputs may take any value (constant indices), for tests/test_codegen.py."""
    return {"ga_const": gather_model([6, 2], [2, 2], 0, const_idx=np.array([[5, 0], [2, 2]])),
            "emb_const_ids": embedding_model(5, 3, 4, None, const_ids=np.array([4, 0, 0, 2]))}


def gather_models() -> dict[str, bytes]:
    rng = np.random.default_rng(5)
    return {"ga_axis1": gather_model([2, 5, 3], [4], 1),
            "ga_batch": gather_model([2, 4, 3], [2, 3], 1, batch_dims=1),
            "ga_const": gather_model([6, 2], [2, 2], 0, const_idx=np.array([[5, 0], [2, 2]])),
            "emb": embedding_model(9, 5, 4, rng), **host_models()}


@pytest.mark.qemu
@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                    reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_gather_on_cortex_m4(tmp_path):
    rng = np.random.default_rng(6)
    models = gather_models()
    graphs = {n: parse_model(b, name=n) for n, b in models.items()}
    xs = {}
    for n, g in graphs.items():
        samples = []
        for _ in range(2):
            one = []
            for t in g.input_tensors:
                if t.dtype in (np.int32, np.int64):  # indices within the gathered axis
                    op = g.operators[0]
                    data = g.tensors[op.inputs[1] if op.op == "EMBEDDING_LOOKUP" else op.inputs[0]]
                    axis = 0 if op.op == "EMBEDDING_LOOKUP" else int(op.options.get("axis", 0)) % len(data.shape)
                    one.append(rng.integers(0, data.shape[axis], size=t.shape).astype(t.dtype))
                else:
                    one.append(rng.integers(-128, 128, size=t.shape).astype(t.dtype))
            samples.append(one)
        xs[n] = samples
    assert_bit_exact_on_board(models, graphs, xs, tmp_path)
