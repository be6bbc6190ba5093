"""LEAKY_RELU, LOGISTIC and TANH with int16 activations (16x8 models): bit-exact with TFLite Micro over every
8th int16 value and the edges (LEAKY_RELU: positive, negative, small and > 1 alphas and nonzero zero points;
LOGISTIC / TANH: the power-of-two input scale and others, all 65536 inputs at a few scales, and the derived
sigmoid table at every one of its points); the generated C runs in tests/test_int16_on_board.py (QEMU) and
tests/test_codegen.py (host, sanitizers)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import examples
from tests.support.opmodels import ModelBuilder
from tests.support.oracle import assert_bit_exact, tflm_run
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


def sigmoid16_model(name, s_in, s_out=1.0 / 32768, z_in=0, z_out=0, shape=None, out_dtype=np.int16) -> bytes:
    shape = list(shape or ALL16.shape[1:])
    m = ModelBuilder()
    x = m.tensor(shape, dtype=np.int16, scale=s_in, zero_point=z_in)
    y = m.tensor(shape, dtype=out_dtype, scale=s_out, zero_point=z_out)
    m.op(name, [x], [y])
    return m.build([x], [y])


@settings(max_examples=examples(6), deadline=None)
@given(st.sampled_from(["LOGISTIC", "TANH"]), st.one_of(st.floats(-36, 2.4), st.sampled_from([-12.0, -11.0, -13.0])),
       st.floats(0.5, 1.0))
def test_logistic_tanh_int16_bit_exact(name, e_in, mant):
    """Any input scale: the power-of-two case 2^-12 (x * 3), the general multiplier (from tiny scales, most
    inputs in the first segments, to large ones, most saturated), negative inputs by symmetry."""
    s_in = float(np.float32(2.0 ** e_in * (1.0 if e_in == int(e_in) else mant)))
    assert_bit_exact(sigmoid16_model(name, s_in), None, inputs=[ALL16], context=f"{name} scale {s_in}")


@pytest.mark.parametrize("s_in", [2.0 ** -12, 2.0 / 12288, 0.00123])
def test_logistic_tanh_int16_every_input(s_in):
    """All 65536 int16 inputs of both ops at the power-of-two scale, at 2/12288 (scaled input 2x: every
    table segment, both signs) and at a general one."""
    xs = np.arange(-32768, 32768, dtype=np.int16).reshape(1, 65536)
    for name in ("LOGISTIC", "TANH"):
        assert_bit_exact(sigmoid16_model(name, s_in, shape=[65536]), None, inputs=[xs], context=f"{name} {s_in}")


def test_sigmoid_table_matches_tflm_at_every_point():
    """At scaled input 256 i TFLM's int16 TANH returns table[i] - 32768 (no interpolation): input scale
    2/12288 scales x by 2, so x = 128 i reads point i; point 255 (only reached as the upper end of
    segment 254) shows in the interpolated outputs of the every-input test above."""
    from tinygen.ops.activations16 import sigmoid_table16, sigmoid_tanh_params16

    assert sigmoid_tanh_params16(2.0 / 12288) == (16384, 13)  # exactly 2x
    table = sigmoid_table16().astype(np.int64)
    xs = (128 * np.arange(255)).astype(np.int16).reshape(1, 255)
    ref = tflm_run(sigmoid16_model("TANH", 2.0 / 12288, shape=[255]), [xs[0]])[0].astype(np.int64)
    assert np.array_equal(ref + 32768, table[:255]), np.nonzero(ref + 32768 != table[:255])
    assert table[0] == 32768 and table[-1] == 65535 and np.all(np.diff(table) >= 0)


def test_logistic_tanh_int16_refusals():
    for name in ("LOGISTIC", "TANH"):
        with pytest.raises(UnsupportedOpError, match=rf"op 0 \({name}\): input zero point is 3; TFLM's int16 {name} requires 0"):
            Emulator(parse_model(sigmoid16_model(name, 0.001, z_in=3, shape=[4])))
        with pytest.raises(UnsupportedOpError, match=rf"op 0 \({name}\): output scale is 1.52588e-05; TFLM's int16 {name} requires 1/32768"):
            Emulator(parse_model(sigmoid16_model(name, 0.001, s_out=1.0 / 65536, shape=[4])))
        with pytest.raises(UnsupportedOpError, match=rf"op 0 \({name}\): input scale 8 is too large"):
            Emulator(parse_model(sigmoid16_model(name, 8.0, shape=[4])))
        with pytest.raises(UnsupportedOpError, match=rf"op 0 \({name}\): output 0 .* is int8; the int16 {name} needs int16 both"):
            Emulator(parse_model(sigmoid16_model(name, 0.001, out_dtype=np.int8, shape=[4])))


def activations16_models() -> dict[str, bytes]:
    """Models for the generated-C tests (host sanitizers in test_codegen, QEMU in test_int16_on_board)."""
    return {"leaky16": leaky16_model(0.2, 0.0005, 0.0004, shape=[3, 50]),
            "leaky16_neg_alpha_zp": leaky16_model(-0.7, 0.0005, 0.0011, 33, -9, shape=[2, 40]),
            "logistic16_pot": sigmoid16_model("LOGISTIC", 2.0 ** -12, shape=[2, 64]),
            "logistic16": sigmoid16_model("LOGISTIC", 0.00041, shape=[3, 40]),
            "tanh16_pot": sigmoid16_model("TANH", 2.0 ** -12, shape=[2, 64]),
            "tanh16": sigmoid16_model("TANH", 0.00023, shape=[3, 40]),
            "logistic16_large_scale": sigmoid16_model("LOGISTIC", 5.0, shape=[40]),  # multiplier 61440, no shift
            "tanh16_tiny_scale": sigmoid16_model("TANH", 1e-9, shape=[40])}  # right shift 31


def test_leaky_relu_int8_multipliers_in_double():
    """The int8 op computes its multipliers as the int16 one (double): with float32 quotients this model
    differed from TFLM in 9 of the 256 inputs (alpha 1.7, equal scales)."""
    m = ModelBuilder()
    x = m.tensor([256], scale=0.009499582462012768, zero_point=-41)
    y = m.tensor([256], scale=0.009499582462012768, zero_point=33)
    m.op("LEAKY_RELU", [x], [y], alpha=1.7)
    assert_bit_exact(m.build([x], [y]), None, inputs=[np.arange(-128, 128, dtype=np.int8).reshape(1, 256)], context="int8 alpha 1.7")
