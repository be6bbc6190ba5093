"""SVDF (int8 input/output, int16 or int8 state): bit-exact against TFLite Micro from a fresh state and
over sequences (the state carried from invoke to invoke), the refusals, the generated C on the host
(sanitizers) and on QEMU Cortex-M4 with the DSP and the portable kernels."""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import examples
from tests.support.opmodels import svdf_model
from tests.support.oracle import tflm_run_batch
from tinygen.emulator.engine import Emulator
from tinygen.errors import UnsupportedOpError
from tinygen.model.reader import parse_model
from tinygen.ops import check_graph


def _check_sequence(model: bytes, rng, n: int, context: str):
    """n samples: the emulator from the reset state (TFLM with reset() between samples) and as one
    sequence (TFLM without reset()) equal the oracle."""
    g = parse_model(model)
    xs = [rng.integers(-128, 128, size=(n, *g.input_tensors[0].shape)).astype(np.int8)]
    emu = Emulator(g)
    for stateful in (False, True):
        want = tflm_run_batch(model, xs, g, stateful=stateful)[0]
        got = emu.run_internal(xs, stateful=stateful)[0]
        np.testing.assert_array_equal(got, want, err_msg=f"{context} stateful={stateful}")
    return g, xs


@settings(max_examples=examples(6), deadline=None)
@given(seed=st.integers(0, 2**31 - 1), batch=st.integers(1, 3), n_input=st.integers(1, 40), units=st.integers(1, 8),
       rank=st.integers(1, 3), memory=st.integers(1, 12), state=st.sampled_from([np.int16, np.int8]),
       in_q=st.tuples(st.floats(0.005, 1.0), st.sampled_from([-128, 0, 127]) | st.integers(-128, 127)),
       out_zp=st.integers(-128, 127), e1=st.floats(-16, 0), e2=st.floats(-30, -4),
       w_time_max=st.sampled_from([None, 127, 3000]))
def test_svdf_bit_exact_fresh_and_as_a_sequence(seed, batch, n_input, units, rank, memory, state, in_q, out_zp, e1, e2,
                                                  w_time_max):
    rng = np.random.default_rng(seed)
    model = svdf_model(rng, batch=batch, n_input=n_input, units=units, rank=rank, memory=memory, state=state,
                       in_q=in_q, out_zp=out_zp, e1=e1, e2=e2,
                       w_time_max=min(w_time_max, 127) if (w_time_max and state == np.int8) else w_time_max)
    _check_sequence(model, rng, 5, f"svdf seed={seed}")


def test_svdf_state_matters():
    """With memory > 1 a sequence differs from independent samples (the state really carries), and the
    keyword-benchmark-like shape (rank 1, memory 8) is bit-exact over a 12-step sequence."""
    rng = np.random.default_rng(7)
    model = svdf_model(rng, n_input=32, units=16, rank=1, memory=8, e1=-6, e2=-22)
    g, xs = _check_sequence(model, rng, 12, "kws-like")
    emu = Emulator(g)
    fresh, stream = emu.run_internal(xs)[0], emu.run_internal(xs, stateful=True)[0]
    assert np.array_equal(fresh[0], stream[0]) and not np.array_equal(fresh[1:], stream[1:])
    assert len(np.unique(stream)) > 20


def _refused(**kw) -> str:
    g = parse_model(svdf_model(np.random.default_rng(0), **kw))
    with pytest.raises(UnsupportedOpError) as e:
        check_graph(g)
    return str(e.value)


def test_refuses_what_tflm_refuses():
    assert "only int8" in _refused(input_dtype=np.int16)
    assert "only int8" in _refused(output_dtype=np.int32)
    g = parse_model(svdf_model(np.random.default_rng(0)))
    op = g.operators[0]
    g.tensors[op.inputs[2]].dtype = np.dtype(np.int8)  # int8 time weights with an int16 state
    with pytest.raises(UnsupportedOpError, match="both int16 or both int8"):
        check_graph(g)
    g = parse_model(svdf_model(np.random.default_rng(0)))
    g.operators[0].inputs[3] = -1
    with pytest.raises(UnsupportedOpError, match="bias"):
        check_graph(g)


# ---------------------------------------------------------------- generated C on the host (sanitizers)


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
@pytest.mark.parametrize("state", [np.int16, np.int8])
def test_generated_c_fresh_and_stateful_under_sanitizers(tmp_path, state):
    """Generated C (ASan/UBSan): by default each run starts from the reset state, generated --stateful the
    state carries from run to run; both equal TFLM (with and without reset())."""
    from tests.test_codegen import SAN, _harness, run_model
    from tinygen.codegen.generator import generate

    rng = np.random.default_rng(11 if state == np.int16 else 12)
    kw = dict(e1=-10, e2=-11, in_q=(0.05, 90)) if state == np.int8 else {}
    model = svdf_model(rng, batch=2, n_input=11, units=5, rank=2, memory=6, state=state, **kw)
    g = parse_model(model, name="svdf")
    xs = [rng.integers(-128, 128, size=(5, *g.input_tensors[0].shape)).astype(np.int8)]
    for stateful in (False, True):
        d = tmp_path / f"s{int(stateful)}"
        res = generate(g, d, "m", target="host", stateful=stateful)
        assert res.state_bytes == 2 * 6 * 10 * np.dtype(state).itemsize
        (d / "harness.c").write_text(_harness([("m", g)]))
        exe = d / "harness"
        subprocess.run(["gcc", *SAN, "-I", str(d), str(res.c_file), *map(str, res.kernel_sources), str(d / "harness.c"),
                        "-o", str(exe)], check=True, capture_output=True, timeout=300)
        got = run_model(exe, "m", g, xs)[0]
        np.testing.assert_array_equal(got, tflm_run_batch(model, xs, g, stateful=stateful)[0],
                                      err_msg=f"stateful={stateful}")


# ---------------------------------------------------------------- Cortex-M4 (QEMU): DSP and portable kernels


def svdf_models() -> dict[str, bytes]:
    rng = np.random.default_rng(31)
    return {"svdf_s16": svdf_model(rng, batch=1, n_input=37, units=7, rank=2, memory=9, e1=-5, e2=-21),
            "svdf_s16_b3": svdf_model(rng, batch=3, n_input=6, units=3, rank=1, memory=1, in_q=(0.3, -128)),
            "svdf_s8": svdf_model(rng, batch=2, n_input=21, units=5, rank=3, memory=7, state=np.int8, e1=-11, e2=-10,
                                  in_q=(0.02, 127))}


@pytest.mark.qemu
@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                    reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_svdf_dsp_and_portable_bit_exact_on_cortex_m4(tmp_path):
    """Odd input depths and memory sizes (the SMLAD loops' tails), rank 2 and 3, int16 and int8 states:
    the SMLAD and the portable kernels equal the emulator, which equals TFLM."""
    from tests.support.oracle import assert_bit_exact
    from tests.test_mcu_kernels import check, samples
    from tinygen.boards.mcu_run import build_models, run_models

    rng = np.random.default_rng(33)
    models = svdf_models()
    graphs = {n: parse_model(b, name=n) for n, b in models.items()}
    xs = {n: samples(g, rng, 2) for n, g in graphs.items()}
    for n, g in graphs.items():
        assert_bit_exact(models[n], None, inputs=[np.stack([s[0] for s in xs[n]])], context=n)
    dsp = build_models("qemu-cortex-m4", graphs, xs, tmp_path / "dsp")
    port = build_models("qemu-cortex-m4", graphs, xs, tmp_path / "portable", portable=True, generated=dsp.generated)
    for fw in (dsp, port):
        res = run_models(fw, timeout=120)
        for name, g in graphs.items():
            check(f"{name} ({'portable' if fw is port else 'dsp'})", g, xs[name], res.models[name])
