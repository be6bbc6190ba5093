"""int16 TRANSPOSE, STRIDED_SLICE, CONCATENATION, PAD, PADV2 and the aliases RESHAPE / SQUEEZE / EXPAND_DIMS:
bit-exact with TFLite Micro, and the generated C on QEMU Cortex-M4."""
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
from tinygen.model.reader import parse_model

Q = dict(dtype=np.int16, scale=0.001, zero_point=0)


def transpose16(shape, perm) -> bytes:
    m = ModelBuilder()
    x = m.tensor(shape, **Q)
    y = m.tensor([shape[i] for i in perm], **Q)
    m.op("TRANSPOSE", [x, m.const(np.array(perm, np.int32))], [y])
    return m.build([x], [y])


def slice16(shape, begin, end, strides, out, **masks) -> bytes:
    m = ModelBuilder()
    x = m.tensor(shape, **Q)
    y = m.tensor(out, **Q)
    m.op("STRIDED_SLICE", [x, m.const(np.array(begin, np.int32)), m.const(np.array(end, np.int32)), m.const(np.array(strides, np.int32))],
         [y], **masks)
    return m.build([x], [y])


def concat16(shapes, axis) -> bytes:
    m = ModelBuilder()
    xs = [m.tensor(s, **Q) for s in shapes]
    out = list(shapes[0])
    out[axis] = sum(s[axis] for s in shapes)
    y = m.tensor(out, **Q)
    m.op("CONCATENATION", xs, [y], axis=axis)
    return m.build(xs, [y])


def pad16(shape, pads, v2_value=None) -> bytes:
    m = ModelBuilder()
    x = m.tensor(shape, **Q)
    y = m.tensor([d + a + b for d, (a, b) in zip(shape, pads)], **Q)
    ins = [x, m.const(np.array(pads, np.int32))]
    if v2_value is not None:
        ins.append(m.tensor([], data=np.array(v2_value), **Q))
    m.op("PADV2" if v2_value is not None else "PAD", ins, [y])
    return m.build([x], [y])


def alias16(name, shape, out, **kw) -> bytes:
    m = ModelBuilder()
    x = m.tensor(shape, **Q)
    y = m.tensor(out, **Q)
    ins = [x] + ([m.const(np.array(out, np.int32))] if name == "RESHAPE" else []) + ([m.const(np.array([kw.pop("axis")], np.int32))] if name == "EXPAND_DIMS" else [])
    m.op(name, ins, [y], **kw)
    z = m.tensor(out, **Q)  # a copy after the alias, so the alias is not the whole model
    m.op("MAXIMUM", [y, y], [z])
    return m.build([x], [z])


@settings(max_examples=examples(8), deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=5), st.data())
def test_transpose16(shape, data):
    perm = data.draw(st.permutations(range(len(shape))))
    assert_bit_exact(transpose16(shape, list(perm)), np.random.default_rng(1), n=2, context=f"{shape} {perm}")


@settings(max_examples=examples(8), deadline=None)
@given(st.lists(st.integers(1, 3), min_size=1, max_size=3), st.integers(1, 3), st.data())
def test_concat_and_pad16(shape, n, data):
    axis = data.draw(st.integers(0, len(shape) - 1))
    shapes = [[data.draw(st.integers(1, 3)) if d == axis else s for d, s in enumerate(shape)] for _ in range(n)]
    assert_bit_exact(concat16(shapes, axis), np.random.default_rng(2), n=2, context=f"concat {shapes} {axis}")
    pads = [[data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2))] for _ in shape]
    assert_bit_exact(pad16(shape, pads), np.random.default_rng(3), n=2, context=f"pad {shape} {pads}")
    assert_bit_exact(pad16(shape, pads, v2_value=-1234), np.random.default_rng(4), n=2, context=f"padv2 {shape} {pads}")


def test_strided_slice_and_aliases16():
    rng = np.random.default_rng(5)
    for model in (slice16([2, 8, 7, 3], [0, 1, 6, 0], [2, 8, 0, 3], [1, 2, -2, 1], [2, 4, 3, 3]),
                  slice16([3, 5, 6], [1, 0, 1], [2, 5, 6], [1, 1, 2], [5, 3], shrink_axis_mask=1),
                  alias16("RESHAPE", [2, 6], [3, 4]), alias16("SQUEEZE", [1, 4, 1], [4], squeeze_dims=[0, 2]),
                  alias16("EXPAND_DIMS", [3, 2], [3, 1, 2], axis=1)):
        assert_bit_exact(model, rng, n=2)


def layout16_models() -> dict[str, bytes]:
    return {"tr16": transpose16([2, 3, 4], [2, 0, 1]), "ss16": slice16([2, 8, 7, 3], [0, 1, 6, 0], [2, 8, 0, 3], [1, 2, -2, 1], [2, 4, 3, 3]),
            "cat16": concat16([[2, 3], [2, 1], [2, 2]], 1), "pad16": pad16([2, 3], [[1, 0], [2, 1]]),
            "padv2_16": pad16([3, 1, 2], [[0, 1], [1, 1], [2, 0]], v2_value=777), "reshape16": alias16("RESHAPE", [2, 6], [4, 3]),
            "squeeze16": alias16("SQUEEZE", [1, 4, 1], [4], squeeze_dims=[0, 2]), "expand16": alias16("EXPAND_DIMS", [3, 2], [3, 1, 2], axis=1)}


@pytest.mark.qemu
@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                    reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_layout16_on_cortex_m4(tmp_path):
    rng = np.random.default_rng(17)
    models = layout16_models()
    graphs = {n: parse_model(b, name=n) for n, b in models.items()}
    xs = {n: [[rng.integers(-32768, 32768, size=t.shape).astype(np.int16) for t in g.input_tensors] for _ in range(2)]
          for n, g in graphs.items()}
    assert_bit_exact_on_board(models, graphs, xs, tmp_path)
