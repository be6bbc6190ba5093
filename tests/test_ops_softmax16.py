"""SOFTMAX int16 -> int16 (16x8 models): bit-exact with TFLite Micro (its exp and 1/(1+x) tables derived in
tinygen by TFLM's float32 gen_lut arithmetic; rows of equal, spread and saturating values, betas, depths);
generated C in tests/test_int16_on_board.py (QEMU) and tests/test_codegen.py (host, sanitizers)."""
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
from tinygen.model.reader import parse_model


def softmax16_model(shape, s_in, beta=1.0, s_out=1.0 / 32768, z_out=0) -> bytes:
    m = ModelBuilder()
    x = m.tensor(list(shape), dtype=np.int16, scale=s_in, zero_point=0)
    y = m.tensor(list(shape), dtype=np.int16, scale=s_out, zero_point=z_out)
    m.op("SOFTMAX", [x], [y], beta=beta)
    return m.build([x], [y])


@settings(max_examples=examples(8), deadline=None)
@given(st.lists(st.integers(1, 5), min_size=0, max_size=2), st.integers(1, 70), st.floats(-14, -8), st.sampled_from([1.0, 1.0, 0.5, 2.0]),
       st.integers(0, 2**31))
def test_softmax_int16_bit_exact(lead, depth, e_in, beta, seed):
    shape = lead + [depth]
    s_in = float(np.float32(2.0 ** e_in * 1.21))
    rng = np.random.default_rng(seed)
    xs = rng.integers(-32768, 32768, size=(4, *shape)).astype(np.int16)
    xs[1] = rng.integers(-2000, 2000, size=shape)  # close values: many non-zero probabilities
    xs[2] = 1234  # equal values
    xs[3] = np.where(rng.random(shape) < 0.5, -32768, 32767)
    assert_bit_exact(softmax16_model(shape, s_in, beta), None, inputs=[xs], context=f"{shape} {s_in} {beta}")


def test_softmax_int16_refusals():
    with pytest.raises(UnsupportedOpError, match=r"op 0 \(SOFTMAX\): int16 output scale is .*; TFLM requires 1/32768"):
        Emulator(parse_model(softmax16_model([4], 0.001, s_out=1.0 / 65536)))
    with pytest.raises(UnsupportedOpError, match=r"op 0 \(SOFTMAX\): int16 output zero point is 5; TFLM requires 0"):
        Emulator(parse_model(softmax16_model([4], 0.001, z_out=5)))
    with pytest.raises(UnsupportedOpError, match=r"op 0 \(SOFTMAX\): input_scale \* beta = .* is too large"):
        Emulator(parse_model(softmax16_model([4], 8.0)))


def softmax16_models() -> dict[str, bytes]:
    """Models for the generated-C tests (host sanitizers in test_codegen, QEMU in test_int16_on_board)."""
    return {"softmax16": softmax16_model([3, 10], 0.0004), "softmax16_beta_wide": softmax16_model([1, 300], 0.00013, beta=0.7)}
