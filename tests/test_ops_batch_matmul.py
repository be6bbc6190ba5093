"""BATCH_MATMUL (int8, int16; adj_x / adj_y, broadcasting batch axes, constant rhs): bit-exact with TFLite
Micro (property tests against the oracle), and the generated C on QEMU Cortex-M4 with the DSP variant and
with the portable kernels (host C with sanitizers: tests/test_codegen.py)."""
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
from tinygen.ops import REGISTRY

SET = settings(max_examples=examples(8), deadline=None)


def bmm_model(lhs_batch, rhs_batch, rows, depth, cols, adj_x=False, adj_y=False, dtype=np.int8, q=None,
              rhs_const=None) -> bytes:
    """lhs (*lhs_batch, rows, depth) (transposed with adj_x) @ rhs (*rhs_batch, depth, cols) (adj_y)."""
    if q is None:
        q = ((0.05, -3), (0.02, 7), (0.3, 4)) if dtype == np.int8 else ((0.001, 0), (0.002, 0), (0.01, 0))
    m = ModelBuilder()
    ls = list(lhs_batch) + ([depth, rows] if adj_x else [rows, depth])
    rs = list(rhs_batch) + ([cols, depth] if adj_y else [depth, cols])
    a = m.tensor(ls, dtype=dtype, scale=q[0][0], zero_point=q[0][1])
    b = (m.tensor(rs, dtype=dtype, scale=q[1][0], zero_point=q[1][1], data=rhs_const) if rhs_const is not None
         else m.tensor(rs, dtype=dtype, scale=q[1][0], zero_point=q[1][1]))
    r = max(len(ls), len(rs))
    batch = list(np.broadcast_shapes(tuple(lhs_batch), tuple(rhs_batch)))
    y = m.tensor(batch + [rows, cols], dtype=dtype, scale=q[2][0], zero_point=q[2][1])
    assert len(batch) + 2 == r
    m.op("BATCH_MATMUL", [a, b], [y], adj_x=adj_x, adj_y=adj_y)
    return m.build([a] if rhs_const is not None else [a, b], [y])


@st.composite
def batches(draw):
    out = draw(st.lists(st.integers(1, 3), min_size=0, max_size=3))

    def sub():
        r = draw(st.integers(0, len(out)))
        return [draw(st.sampled_from([1, d])) for d in out[len(out) - r:]]

    a, b = sub(), sub()
    if len(a) < len(out) and len(b) < len(out):  # the output rank is the larger input rank
        a = [draw(st.sampled_from([1, d])) for d in out]
    return a, b


SCALES = st.floats(-10, 0).map(lambda e: float(np.float32(2.0 ** e)))


@SET
@given(batches(), st.integers(1, 5), st.integers(1, 19), st.integers(1, 5), st.booleans(), st.booleans(),
       st.sampled_from([np.int8, np.int16]), SCALES, SCALES, SCALES, st.integers(-128, 127), st.integers(-128, 127),
       st.integers(-128, 127), st.integers(0, 2**31))
def test_batch_matmul(bt, rows, depth, cols, adj_x, adj_y, dtype, s0, s1, so, z0, z1, zo, seed):
    if dtype == np.int16:
        z0 = z1 = zo = 0
    model = bmm_model(bt[0], bt[1], rows, depth, cols, adj_x, adj_y, dtype, ((s0, z0), (s1, z1), (so, zo)))
    assert_bit_exact(model, np.random.default_rng(seed), n=2,
                     context=f"BATCH_MATMUL {bt} {rows}x{depth}x{cols} adj {adj_x} {adj_y} {np.dtype(dtype).name}")


def test_batch_matmul_constant_rhs():
    rng = np.random.default_rng(3)
    w = rng.integers(-128, 128, size=(2, 9, 6))
    assert_bit_exact(bmm_model([3, 1], [2], 4, 9, 6, rhs_const=w), rng, n=3, context="constant rhs")


def test_batch_matmul_refusals():
    with pytest.raises(UnsupportedOpError, match=r"op 0 \(BATCH_MATMUL\): int16 lhs has zero point 3; TFLM needs 0"):
        Emulator(parse_model(bmm_model([], [], 2, 3, 2, dtype=np.int16, q=((0.01, 3), (0.01, 0), (0.01, 0)))))
    m = ModelBuilder()
    a, b = m.tensor([2, 3], scale=0.1), m.tensor([4, 2], scale=0.1)
    y = m.tensor([2, 2], scale=0.1)
    m.op("BATCH_MATMUL", [a, b], [y])
    with pytest.raises(UnsupportedOpError, match=r"lhs depth 3 differs from rhs depth 4"):
        Emulator(parse_model(m.build([a, b], [y])))


def test_kernel_variants():
    op = REGISTRY["BATCH_MATMUL"]
    for adj_x, want in ((False, "dsp"), (True, "c99")):
        g = parse_model(bmm_model([2], [1], 3, 8, 4, adj_x=adj_x))
        kv = op.kernel_variant(op.prepare(g, g.operators[0]), "cortex-m4")
        assert kv.name == want and (kv.scratch == 16) == (want == "dsp"), kv
    g = parse_model(bmm_model([], [], 3, 8, 4))
    assert op.kernel_variant(op.prepare(g, g.operators[0]), "cortex-m0").name == "c99"
    g = parse_model(bmm_model([2], [2], 3, 7, 4, dtype=np.int16))
    kv = op.kernel_variant(op.prepare(g, g.operators[0]), "cortex-m4")
    assert kv.name == "dsp" and "SMLALD" in kv.reason and kv.scratch == 16, kv


def batch_matmul_models() -> dict[str, bytes]:
    rng = np.random.default_rng(61)
    return {
        "bmm_s8": bmm_model([2], [2], 3, 11, 4),
        "bmm_s8_bcast_adj_y": bmm_model([2, 1], [3], 2, 8, 5, adj_y=True),
        "bmm_s8_adj_x": bmm_model([], [2], 4, 6, 3, adj_x=True),
        "bmm_s8_const": bmm_model([1], [], 5, 33, 7, rhs_const=rng.integers(-128, 128, size=(33, 7))),
        "bmm_s16": bmm_model([2], [1], 3, 7, 2, adj_x=True, adj_y=True, dtype=np.int16),
        "bmm_s16_dsp": bmm_model([3], [3], 4, 9, 3, adj_y=True, dtype=np.int16),
        "bmm_s16_dsp_even": bmm_model([1], [], 2, 16, 5, dtype=np.int16),
    }


@pytest.mark.qemu
@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                    reason="needs arm-none-eabi-gcc and qemu-system-arm")
@pytest.mark.parametrize("portable", [False, True], ids=["dsp", "portable"])
def test_batch_matmul_on_cortex_m4(tmp_path, portable):
    rng = np.random.default_rng(71)
    models = batch_matmul_models()
    graphs = {n: parse_model(b, name=n) for n, b in models.items()}
    xs = {n: [[rng.integers(np.iinfo(t.dtype).min, np.iinfo(t.dtype).max, size=t.shape, endpoint=True).astype(t.dtype)
               for t in g.input_tensors] for _ in range(2)] for n, g in graphs.items()}
    assert_bit_exact_on_board(models, graphs, xs, tmp_path, portable=portable, optimize="speed")  # speed: every DSP kernel kept
