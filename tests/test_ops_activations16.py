"""LEAKY_RELU with int16 activations (16x8 models): bit-exact with TFLite Micro over every 8th int16 value and
the edges, for positive, negative, small and > 1 alphas and nonzero zero points; the generated C runs in
tests/test_int16_on_board.py (QEMU) and tests/test_codegen.py (host, sanitizers)."""
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

# every 8th int16 value and the edges
ALL16 = np.concatenate([np.arange(-32768, 32768, 8), np.arange(-32767, -32760), np.arange(32760, 32768)])
ALL16 = np.concatenate([ALL16, np.arange(-40, 41)])
ALL16 = ALL16[: ALL16.size // 2 * 2].astype(np.int16).reshape(1, 2, -1)


def leaky16_model(alpha, s_in, s_out, z_in=0, z_out=0, shape=None, out_dtype=np.int16) -> bytes:
    shape = list(shape or ALL16.shape[1:])
    m = ModelBuilder()
    x = m.tensor(shape, dtype=np.int16, scale=s_in, zero_point=z_in)
    y = m.tensor(shape, dtype=out_dtype, scale=s_out, zero_point=z_out)
    m.op("LEAKY_RELU", [x], [y], alpha=alpha)
    return m.build([x], [y])


@settings(max_examples=examples(6), deadline=None)
@given(st.sampled_from([0.2, 0.01, 0.3, -0.5, 1.7, 0.0]), st.floats(-14, -6), st.floats(-1.5, 1.5),
       st.sampled_from([0, 0, 0, 120, -77]))
def test_leaky_relu_int16_bit_exact(alpha, e_in, e_ratio, zp):
    s_in = float(np.float32(2.0 ** e_in * 1.13))
    s_out = float(np.float32(s_in * 2.0 ** e_ratio))
    model = leaky16_model(alpha, s_in, s_out, zp, -zp)
    assert_bit_exact(model, None, inputs=[ALL16], context=f"alpha={alpha} {s_in} {s_out} zp={zp}")


def test_leaky_relu_int16_refusals():
    with pytest.raises(UnsupportedOpError, match=r"op 0 \(LEAKY_RELU\): output 0 .* is int8; the int16 LEAKY_RELU needs int16 both"):
        Emulator(parse_model(leaky16_model(0.2, 0.001, 0.01, out_dtype=np.int8, shape=[4])))
    with pytest.raises(UnsupportedOpError, match=r"op 0 \(LEAKY_RELU\): identity multiplier .* is too large"):
        Emulator(parse_model(leaky16_model(0.2, 1.0, 2.0 ** -25, shape=[4])))


def activations16_models() -> dict[str, bytes]:
    """Models for the generated-C tests (host sanitizers in test_codegen, QEMU in test_int16_on_board)."""
    return {"leaky16": leaky16_model(0.2, 0.0005, 0.0004, shape=[3, 50]),
            "leaky16_neg_alpha_zp": leaky16_model(-0.7, 0.0005, 0.0011, 33, -9, shape=[2, 40])}


def test_leaky_relu_int8_multipliers_in_double():
    """The int8 op computes its multipliers as the int16 one (double): with float32 quotients this model
    differed from TFLM in 9 of the 256 inputs (alpha 1.7, equal scales)."""
    m = ModelBuilder()
    x = m.tensor([256], scale=0.009499582462012768, zero_point=-41)
    y = m.tensor([256], scale=0.009499582462012768, zero_point=33)
    m.op("LEAKY_RELU", [x], [y], alpha=1.7)
    assert_bit_exact(m.build([x], [y]), None, inputs=[np.arange(-128, 128, dtype=np.int8).reshape(1, 256)], context="int8 alpha 1.7")
