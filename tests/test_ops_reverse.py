"""REVERSE_V2 (int8, int16): bit-exact with TFLite Micro over any axes, and the generated C on QEMU Cortex-M4."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import examples
from tests.support.oracle import assert_bit_exact
from tests.support.onboard import assert_bit_exact_on_board
from tests.test_ops_movement import one_op
from tinygen.emulator.engine import Emulator
from tinygen.errors import UnsupportedOpError
from tinygen.model.reader import parse_model


@settings(max_examples=examples(20), deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=5), st.sampled_from([np.int8, np.int16]), st.data())
def test_reverse_v2(shape, dtype, data):
    rank = len(shape)
    first = data.draw(st.integers(0, rank - 1))
    axes = list(range(first, data.draw(st.integers(first + 1, rank))))  # TFLM: one run of adjacent axes
    axes = data.draw(st.permutations(axes))
    axes = [a - rank if data.draw(st.booleans()) else a for a in axes]
    assert_bit_exact(one_op("REVERSE_V2", shape, [shape], dtype, params=(axes,)), np.random.default_rng(len(axes)), n=2,
                     context=f"{shape} {axes} {np.dtype(dtype).name}")


def test_reverse_v2_refusals():
    for axes, words in (([3], "out of range"), ([0, -3], "given twice"), ([0, 2], "not contiguous")):
        with pytest.raises(UnsupportedOpError) as ei:
            Emulator(parse_model(one_op("REVERSE_V2", [2, 3, 2], [[2, 3, 2]], params=(axes,))))
        assert ei.value.op_name == "REVERSE_V2" and words in str(ei.value), str(ei.value)


def reverse_models() -> dict[str, bytes]:
    return {"rev_s8": one_op("REVERSE_V2", [2, 3, 4, 5], [[2, 3, 4, 5]], params=([2, 1],)),
            "rev_s16": one_op("REVERSE_V2", [3, 4, 2], [[3, 4, 2]], np.int16, params=([-3, 1, 2],))}


@pytest.mark.qemu
@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                    reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_reverse_on_cortex_m4(tmp_path):
    rng = np.random.default_rng(31)
    models = reverse_models()
    graphs = {n: parse_model(b, name=n) for n, b in models.items()}
    xs = {n: [[rng.integers(np.iinfo(t.dtype).min, np.iinfo(t.dtype).max, size=t.shape, endpoint=True).astype(t.dtype)
               for t in g.input_tensors] for _ in range(2)] for n, g in graphs.items()}
    assert_bit_exact_on_board(models, graphs, xs, tmp_path)
