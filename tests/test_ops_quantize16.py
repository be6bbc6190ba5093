"""QUANTIZE int16 -> int8 / int16 and DEQUANTIZE int16 -> float32: bit-exact with TFLite Micro over every 16th
int16 value and the edges, and the generated C on QEMU Cortex-M4."""
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


def q16_model(name, out_dtype, s_in, s_out, z_out) -> bytes:
    m = ModelBuilder()
    x = m.tensor([2, 2063], dtype=np.int16, scale=s_in, zero_point=0)
    y = (m.tensor([2, 2063], dtype=np.float32) if out_dtype == np.float32
         else m.tensor([2, 2063], dtype=out_dtype, scale=s_out, zero_point=z_out))
    m.op(name, [x], [y])
    return m.build([x], [y])


@settings(max_examples=examples(4), deadline=None)
@given(st.sampled_from([np.int8, np.int16]), st.floats(-16, -4), st.floats(-16, 0), st.integers(-128, 127))
def test_requantize_int16_values(out_dtype, e_in, e_out, z):
    s_in, s_out = float(np.float32(2.0 ** e_in)), float(np.float32(2.0 ** e_out))
    z = z if out_dtype == np.int8 else 0
    assert_bit_exact(q16_model("QUANTIZE", out_dtype, s_in, s_out, z), None, inputs=[ALL16], context=f"{s_in} {s_out} {z}")


def test_dequantize_int16_values():
    assert_bit_exact(q16_model("DEQUANTIZE", np.float32, 0.000123, 0, 0), None, inputs=[ALL16], context="DEQUANTIZE")


def quantize16_models() -> dict[str, bytes]:
    return {"rq16_8": q16_model("QUANTIZE", np.int8, 0.0005, 0.05, -7), "rq16_16": q16_model("QUANTIZE", np.int16, 0.0005, 0.0009, 0),
            "dq16": q16_model("DEQUANTIZE", np.float32, 0.000123, 0, 0)}


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
