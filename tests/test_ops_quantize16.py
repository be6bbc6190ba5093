"""QUANTIZE int16 -> int8 / int16 / int32, int8 -> int16 / int32, int32 -> int8 / int16, float32 -> int16 and DEQUANTIZE
int16 -> float32:
bit-exact with TFLite Micro over every 16th int16 value (every int8 value) and the edges, and the generated C
on QEMU Cortex-M4."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import examples
from tests.support.opmodels import ModelBuilder
from tests.support.oracle import assert_bit_exact
from tinygen.emulator.engine import Emulator
from tinygen.model.reader import parse_model

# every 16th int16 value plus the 15 above -32768 and below 32767 (edges)
ALL16 = np.concatenate([np.arange(-32768, 32768, 16), np.arange(-32767, -32752), np.arange(32752, 32767)])
ALL16 = np.concatenate([ALL16, np.zeros(4126 - ALL16.size)]).astype(np.int16).reshape(1, 2, 2063)


def q16_model(name, out_dtype, s_in, s_out, z_out, in_dtype=np.int16, z_in=0, shape=(2, 2063)) -> bytes:
    m = ModelBuilder()
    shape = list(shape)
    x = (m.tensor(shape, dtype=np.float32) if in_dtype == np.float32
         else m.tensor(shape, dtype=in_dtype, scale=s_in, zero_point=z_in))
    y = (m.tensor(shape, dtype=np.float32) if out_dtype == np.float32
         else m.tensor(shape, dtype=out_dtype, scale=s_out, zero_point=z_out))
    m.op(name, [x], [y])
    return m.build([x], [y])


@settings(max_examples=examples(4), deadline=None)
@given(st.sampled_from([np.int8, np.int16, np.int32]), st.floats(-16, -4), st.floats(-16, 0), st.integers(-128, 127))
def test_requantize_int16_values(out_dtype, e_in, e_out, z):
    s_in, s_out = float(np.float32(2.0 ** e_in)), float(np.float32(2.0 ** e_out))
    if out_dtype == np.int32:  # int32 outputs (e.g. into SVDF / a sum): any scale that stays in range
        s_out = float(np.float32(2.0 ** (e_in - e_out / 4)))
    z = z if out_dtype == np.int8 else (z * 1000 if out_dtype == np.int32 else 0)
    assert_bit_exact(q16_model("QUANTIZE", out_dtype, s_in, s_out, z), None, inputs=[ALL16], context=f"{s_in} {s_out} {z}")


ALL8 = np.arange(-128, 128, dtype=np.int8).reshape(1, 2, 128)


@settings(max_examples=examples(6), deadline=None)
@given(st.sampled_from([np.int16, np.int32]), st.floats(-10, -2), st.floats(-16, 0), st.integers(-128, 127), st.integers(-5000, 5000))
def test_requantize_int8_to_wider(out_dtype, e_in, e_out, z_in, z_out):
    """int8 -> int16 / int32 over all 256 values (TFLM's Requantize, clamped to the output type)."""
    s_in, s_out = float(np.float32(2.0 ** e_in)), float(np.float32(2.0 ** e_out))
    z_out = 0 if out_dtype == np.int16 and e_out < -12 else z_out
    model = q16_model("QUANTIZE", out_dtype, s_in, s_out, z_out, in_dtype=np.int8, z_in=z_in, shape=(2, 128))
    assert_bit_exact(model, None, inputs=[ALL8], context=f"{out_dtype} {s_in} {s_out} {z_in} {z_out}")


@settings(max_examples=examples(6), deadline=None)
@given(st.floats(-14, -4), st.sampled_from([0, 0, 17, -300]), st.integers(0, 2**31))
def test_quantize_float_to_int16(e_out, z, seed):
    """float32 -> int16 (AffineQuantize): float32 division, half away from zero, clamped; exact halves too."""
    s_out = float(np.float32(2.0 ** e_out) * np.float32(1.3))
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((3, 2, 64)) * s_out * 20000).astype(np.float32)
    x[2, 0] = (np.arange(64) - 32 + 0.5).astype(np.float32) * np.float32(s_out)  # near-ties
    x[2, 1, :4] = [np.inf, -np.inf, 1e30, -1e30]
    model = q16_model("QUANTIZE", np.int16, 0, s_out, z, in_dtype=np.float32, shape=(2, 64))
    assert_bit_exact(model, None, inputs=[x], context=f"{s_out} {z}")


@settings(max_examples=examples(6), deadline=None)
@given(st.sampled_from([np.int8, np.int16]), st.floats(-20, -8), st.floats(-12, 2), st.integers(-1000, 1000), st.integers(-100, 100),
       st.integers(0, 2**31))
def test_requantize_int32_input(out_dtype, e_in, e_ratio, z_in, z_out, seed):
    """int32 -> int8 / int16 (TFLM Requantize from int32, e.g. after an int32 sum): accumulator-sized values,
    small ones and the int32 extremes."""
    s_in = float(np.float32(2.0 ** e_in * 1.37))
    s_out = float(np.float32(s_in / 2.0 ** e_ratio))
    z_out = z_out if out_dtype == np.int8 else 0
    rng = np.random.default_rng(seed)
    x = rng.integers(-(1 << 20), 1 << 20, size=(3, 2, 40)).astype(np.int32)
    x[1] = rng.integers(-300, 300, size=(2, 40))
    x[2, 0, :4] = [2**31 - 1, -2**31, 2**31 - 1 - 1000, -2**31 + 1000]
    model = q16_model("QUANTIZE", out_dtype, s_in, s_out, z_out, in_dtype=np.int32, z_in=z_in, shape=(2, 40))
    assert_bit_exact(model, None, inputs=[x], context=f"{out_dtype} {s_in} {s_out} {z_in} {z_out}")


def test_requantize_overflow_refused():
    from tinygen.errors import UnsupportedOpError

    with pytest.raises(UnsupportedOpError, match=r"op 0 \(QUANTIZE\): scale ratio 65536 .* overflows TFLM's int32 requantization"):
        Emulator(parse_model(q16_model("QUANTIZE", np.int32, 1.0, 2.0 ** -16, 0)))
    with pytest.raises(UnsupportedOpError, match=r"float32 input quantizes to int8 or int16"):
        Emulator(parse_model(q16_model("QUANTIZE", np.int32, 0, 0.1, 0, in_dtype=np.float32, shape=(4,))))


def test_dequantize_int16_values():
    assert_bit_exact(q16_model("DEQUANTIZE", np.float32, 0.000123, 0, 0), None, inputs=[ALL16], context="DEQUANTIZE")


def quantize16_models() -> dict[str, bytes]:
    return {"rq16_8": q16_model("QUANTIZE", np.int8, 0.0005, 0.05, -7), "rq16_16": q16_model("QUANTIZE", np.int16, 0.0005, 0.0009, 0),
            "dq16": q16_model("DEQUANTIZE", np.float32, 0.000123, 0, 0)}


def quantize_wide_models() -> dict[str, bytes]:
    """The QUANTIZE combinations added for 16x8 / int32 models (host C with sanitizers, QEMU)."""
    return {"rq16_32": q16_model("QUANTIZE", np.int32, 0.0005, 0.0001, 1234, shape=(3, 40)),
            "rq8_16": q16_model("QUANTIZE", np.int16, 0.05, 0.0003, -11, in_dtype=np.int8, z_in=5, shape=(3, 40)),
            "rq8_32": q16_model("QUANTIZE", np.int32, 0.05, 0.001, 77, in_dtype=np.int8, z_in=-9, shape=(3, 40)),
            "qf32_16": q16_model("QUANTIZE", np.int16, 0, 0.0007, 3, in_dtype=np.float32, shape=(3, 40)),
            "rq32_8": q16_model("QUANTIZE", np.int8, 0.00002, 0.05, -7, in_dtype=np.int32, z_in=11, shape=(3, 40)),
            "rq32_16": q16_model("QUANTIZE", np.int16, 0.00002, 0.0003, 0, in_dtype=np.int32, shape=(3, 40))}


@pytest.mark.qemu
@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                    reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_quantize16_on_cortex_m4(tmp_path):
    from tinygen.boards.mcu_run import build_models, run_models

    models = quantize16_models()
    graphs = {n: parse_model(b, name=n) for n, b in models.items()}
    xs = {n: [[ALL16[0]]] for n in graphs}
    fw = build_models("qemu-cortex-m4", graphs, xs, tmp_path / "fw")
    res = run_models(fw, timeout=120)
    for n, g in graphs.items():
        want = Emulator(g).run_internal([ALL16])[0]
        got = res.models[n][0].outputs[0]
        if got.dtype == np.float32:
            got, want = got.view(np.uint32), want.view(np.uint32)
        np.testing.assert_array_equal(got, want[0], err_msg=n)
