"""CAST between int8/int16/int32/bool and to float32: bit-exact with TFLite Micro, refusals, QEMU Cortex-M4."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from tests.support.opmodels import ModelBuilder
from tests.support.oracle import assert_bit_exact
from tests.support.onboard import assert_bit_exact_on_board
from tinygen.emulator.engine import Emulator
from tinygen.errors import UnsupportedOpError
from tinygen.model.reader import parse_model

SRC = [np.int8, np.int16, np.int32, np.bool_]
DST = [np.int8, np.int16, np.int32, np.bool_, np.float32]


def cast_model(shape, a, b) -> bytes:
    m = ModelBuilder()
    x = m.tensor(shape, dtype=a)
    y = m.tensor(shape, dtype=b)
    m.op("CAST", [x], [y])
    return m.build([x], [y])


def _inputs(shape, a, rng, n=4):
    if a == np.bool_:
        return rng.integers(0, 2, size=(n, *shape)).astype(bool)
    info = np.iinfo(a)
    x = rng.integers(info.min, info.max, size=(n, *shape), endpoint=True).astype(a)
    x[0].reshape(-1)[:4] = np.array([info.min, info.max, 0, -1], a)[: x[0].size]  # the edges of each type
    return x


@pytest.mark.parametrize("a, b", [(a, b) for a in SRC for b in DST if a != b], ids=lambda t: np.dtype(t).name)
def test_cast_bit_exact(a, b):
    rng = np.random.default_rng(7)
    for shape in ([5], [2, 3, 4]):
        assert_bit_exact(cast_model(shape, a, b), rng, inputs=[_inputs(shape, a, rng)], context=f"{np.dtype(a).name} -> {np.dtype(b).name}")


def test_cast_refusals():
    for a, b in ((np.float32, np.int8), (np.uint8, np.int8), (np.int8, np.uint8)):
        with pytest.raises(UnsupportedOpError) as ei:
            Emulator(parse_model(cast_model([3], a, b)))
        assert ei.value.op_name == "CAST" and "is not supported" in str(ei.value), str(ei.value)


def cast_models() -> dict[str, bytes]:
    """Every source/destination pair (tests/test_codegen.py checks each registered pair has a C model)."""
    short = {np.int8: "i8", np.int16: "i16", np.int32: "i32", np.bool_: "bool", np.float32: "f32"}
    return {f"cast_{short[a]}_{short[b]}": cast_model([3 + k % 4], a, b)
            for k, (a, b) in enumerate((a, b) for a in SRC for b in DST if a != b)}


@pytest.mark.qemu
@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                    reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_cast_on_cortex_m4(tmp_path):
    rng = np.random.default_rng(43)
    models = cast_models()
    graphs = {n: parse_model(b, name=n) for n, b in models.items()}
    xs = {n: [[_inputs(tuple(t.shape), t.dtype.type, rng, n=1)[0] for t in g.input_tensors] for _ in range(2)] for n, g in graphs.items()}
    assert_bit_exact_on_board(models, graphs, xs, tmp_path)
