"""UNIDIRECTIONAL_SEQUENCE_LSTM (int8, int16 cell state): bit-exact against TFLite Micro, and the refusals.

The oracle runs each sample of a batch from TFLM's reset state (tests/support/oracle.py), as the
emulator does by default."""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.corpus import corpus_dir
from tests.support.opmodels import lstm_model
from tests.support.oracle import assert_bit_exact, tflm_run
from tinygen.emulator.engine import Emulator
from tinygen.errors import UnsupportedOpError
from tinygen.model.reader import parse_model, read_model
from tinygen.ops import check_graph
from tinygen.ops.recurrent import sigmoid_int16, tanh_int16


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), batch=st.integers(1, 3), steps=st.integers(1, 6), n_input=st.integers(1, 40),
       units=st.integers(1, 24), time_major=st.booleans(),
       in_q=st.tuples(st.floats(0.002, 1.0), st.integers(-128, 127)),
       hidden_q=st.tuples(st.floats(0.002, 0.05), st.integers(-128, 127)),
       cell_power=st.integers(-15, -6), cell_clip=st.sampled_from([0.0, 0.5, 3.0, 10.0]),
       w_scale=st.floats(0.001, 0.2), bias_scale=st.sampled_from([0, 100, 5000, 200000]))
def test_lstm_bit_exact(seed, batch, steps, n_input, units, time_major, in_q, hidden_q, cell_power, cell_clip, w_scale,
                        bias_scale):
    rng = np.random.default_rng(seed)
    model = lstm_model(rng, batch=batch, steps=steps, n_input=n_input, units=units, time_major=time_major, in_q=in_q,
                       hidden_q=hidden_q, cell_power=cell_power, cell_clip=cell_clip, w_scale=w_scale,
                       bias_scale=bias_scale)
    assert_bit_exact(model, rng, n=3, context=f"lstm seed={seed}")


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), batch=st.integers(1, 3), steps=st.integers(1, 6), n_input=st.integers(1, 40),
       units=st.integers(1, 24), time_major=st.booleans(), in_e=st.floats(-14, -2), hidden_e=st.floats(-15, -8),
       cell_power=st.integers(-15, -6), cell_clip=st.sampled_from([0.0, 0.5, 3.0, 10.0]),
       w_scale=st.floats(0.001, 0.2), bias_scale=st.sampled_from([0, 100, 5000, 200000, 2**40]))
def test_lstm_16x8_bit_exact_fresh_and_as_a_sequence(seed, batch, steps, n_input, units, time_major, in_e, hidden_e,
                                                      cell_power, cell_clip, w_scale, bias_scale):
    """16x8 (int16 input/hidden/output, int64 biases): bit-exact from the reset state and over a sequence."""
    from tests.support.oracle import random_inputs, tflm_run_batch

    rng = np.random.default_rng(seed)
    model = lstm_model(rng, batch=batch, steps=steps, n_input=n_input, units=units, time_major=time_major,
                       in_q=(float(np.float32(2.0 ** in_e)), 0), hidden_q=(float(np.float32(2.0 ** hidden_e)), 0),
                       cell_power=cell_power, cell_clip=cell_clip, w_scale=w_scale, bias_scale=bias_scale,
                       dtype=np.int16)
    g = parse_model(model)
    xs = random_inputs(g, rng, 3)
    emu = Emulator(g)
    for stateful in (False, True):
        np.testing.assert_array_equal(emu.run_internal(xs, stateful=stateful)[0],
                                      tflm_run_batch(model, xs, g, stateful=stateful)[0],
                                      err_msg=f"lstm16 seed={seed} stateful={stateful}")


def test_lstm_16x8_refusals():
    g = parse_model(lstm_model(np.random.default_rng(0), dtype=np.int16, bias_dtype=np.int32))
    with pytest.raises(UnsupportedOpError, match="int64"):
        check_graph(g)
    g = parse_model(lstm_model(np.random.default_rng(0), dtype=np.int16))
    g.tensors[g.operators[0].inputs[18]].quant.zero_point[:] = 3
    with pytest.raises(UnsupportedOpError, match="zero points must be 0"):
        check_graph(g)


def test_int16_sigmoid_and_tanh_are_monotone_and_symmetric():
    """The table-interpolated int16 activations over every int16 input: monotone, within range, and
    sigmoid(-x) = 1 - sigmoid(x) up to 1 LSB."""
    x = np.arange(-32768, 32768, dtype=np.int64)
    s = sigmoid_int16(x).astype(np.int64)
    assert np.all(np.diff(s) >= 0) and s.min() >= 0 and s.max() <= 32767
    pos = np.arange(1, 32768)
    assert np.max(np.abs(sigmoid_int16(pos).astype(np.int64) + sigmoid_int16(-pos) - 32768)) <= 1
    for power in (-12, -11, -15, -8):
        t = tanh_int16(x, power).astype(np.int64)
        assert np.all(np.diff(t) >= 0) and t.min() >= -32768 and t.max() <= 32767


def test_lstm_intermediate_output_on_corpus_model():
    """micro_speech_lstm's softmax saturates on random input: compare the LSTM's own output (49 x 80)."""
    if corpus_dir() is None:
        pytest.skip("corpus models not found (TINYGEN_MODELS)")
    path = corpus_dir() / "tflm_micro_speech_lstm_int8.tflite"
    if not path.is_file():
        pytest.skip(f"{path.name} not in the corpus")
    data = path.read_bytes()
    g = read_model(path)
    lstm = g.operators[0]
    assert lstm.op == "UNIDIRECTIONAL_SEQUENCE_LSTM"
    rng = np.random.default_rng(5)
    x = rng.integers(-128, 128, size=g.input_tensors[0].shape).astype(np.int8)
    _, tensors = tflm_run(data, [x], g, preserve_all=True)
    _, ours = Emulator(g).run_internal([x[None]], keep_all=True)
    ref = tensors[lstm.outputs[0]]
    assert np.array_equal(ours[lstm.outputs[0]][0], ref), "LSTM output differs from tflite_micro"
    assert len(np.unique(ref)) > 20  # a real sequence, not a saturated constant


def _refused(mutate) -> str:
    model = lstm_model(np.random.default_rng(0))
    g = parse_model(model)
    mutate(g, g.operators[0])
    with pytest.raises(UnsupportedOpError) as e:
        check_graph(g)
    return str(e.value)


def test_refuses_what_tflm_does_not_run():
    def peephole(g, op):
        op.inputs[9] = op.inputs[1]

    def projection(g, op):
        op.inputs[16] = op.inputs[5]

    def float_cell(g, op):
        g.tensors[op.inputs[19]].dtype = np.dtype(np.int8)

    def odd_cell_scale(g, op):
        g.tensors[op.inputs[19]].quant.scale[:] = 0.0003

    def cifg(g, op):
        op.inputs[1] = -1

    assert "peephole" in _refused(peephole)
    assert "projection" in _refused(projection)
    assert "cell state is int8" in _refused(float_cell)
    assert "power of two" in _refused(odd_cell_scale)
    assert "CIFG" in _refused(cifg)


# ---------------------------------------------------------------- state across invokes


def _stream_model():
    return lstm_model(np.random.default_rng(3), batch=1, steps=1, n_input=6, units=5, hidden_q=(0.01, -4))


def test_emulator_stateful_equals_tflite_micro_without_reset():
    """--stateful: the batch is one sequence (TFLM invoked sample after sample without reset()); the default
    equals TFLM with reset() between samples, and the two differ."""
    from tests.support.oracle import tflm_run_batch

    model = _stream_model()
    g = parse_model(model)
    rng = np.random.default_rng(4)
    xs = [rng.integers(-128, 128, size=(6, *g.input_tensors[0].shape)).astype(np.int8)]
    emu = Emulator(g)
    fresh = emu.run_internal(xs)[0]
    stream = emu.run_internal(xs, stateful=True)[0]
    assert np.array_equal(fresh, tflm_run_batch(model, xs, g)[0])
    assert np.array_equal(stream, tflm_run_batch(model, xs, g, stateful=True)[0])
    assert not np.array_equal(fresh[1:], stream[1:])
    # the state carries into the next stateful call until reset_state()
    again = emu.run_internal(xs, stateful=True)[0]
    emu.reset_state()
    assert np.array_equal(emu.run_internal(xs, stateful=True)[0], stream)
    assert not np.array_equal(again, stream)


@pytest.mark.parametrize("dtype", [np.int8, np.int16])
def test_generated_c_stateful_and_reset(tmp_path, dtype):
    """Generated C: by default every run starts from the reset state; generated --stateful the state
    carries from run to run (host harness runs the samples in one process), as TFLM without reset()."""
    import shutil

    from tests.support.oracle import tflm_run_batch
    import subprocess

    from tests.test_codegen import SAN, _harness, run_model
    from tinygen.codegen.generator import generate

    if shutil.which("gcc") is None:
        pytest.skip("needs gcc")
    model = (_stream_model() if dtype == np.int8 else
             lstm_model(np.random.default_rng(3), batch=1, steps=1, n_input=6, units=5, in_q=(2.0 ** -10, 0),
                        hidden_q=(2.0 ** -13, 0), dtype=np.int16))
    g = parse_model(model, name="lstm_stream")
    rng = np.random.default_rng(9)
    info = np.iinfo(dtype)
    xs = [rng.integers(info.min, info.max + 1, size=(5, *g.input_tensors[0].shape)).astype(dtype)]
    outs = {}
    for stateful in (False, True):
        d = tmp_path / f"s{int(stateful)}"
        res = generate(g, d, "m", target="host", stateful=stateful)
        assert res.state_bytes == 5 * np.dtype(dtype).itemsize + 10
        text = res.c_file.read_text()
        assert "void m_reset(void)" in text and ("state_ready" in text) == stateful
        (d / "harness.c").write_text(_harness([("m", g)]))
        exe = d / "harness"
        subprocess.run(["gcc", *SAN, "-I", str(d), str(res.c_file), *map(str, res.kernel_sources), str(d / "harness.c"),
                        "-o", str(exe)], check=True, capture_output=True, timeout=300)
        outs[stateful] = run_model(exe, "m", g, xs)[0]
    assert np.array_equal(outs[False], tflm_run_batch(model, xs, g)[0])
    assert np.array_equal(outs[True], tflm_run_batch(model, xs, g, stateful=True)[0])


def test_emulate_cli_stateful(tmp_path, capsys):
    import json

    from tinygen.cli import main

    model = tmp_path / "lstm.tflite"
    model.write_bytes(_stream_model())
    g = parse_model(model.read_bytes())
    x = np.random.default_rng(2).integers(-128, 128, size=(4, *g.input_tensors[0].shape)).astype(np.int8)
    np.save(tmp_path / "x.npy", x)
    res = {}
    for flag in ([], ["--stateful"]):
        out = tmp_path / f"y{len(flag)}.npy"
        assert main(["emulate", str(model), "--inputs", str(tmp_path / "x.npy"), "--output", str(out), "--json", *flag]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["stateful_model"] is True and summary["stateful"] is bool(flag)
        res[bool(flag)] = np.load(out)
    emu = Emulator(g)
    assert np.array_equal(res[False], emu.run(x))
    assert np.array_equal(res[True], emu.run(x, stateful=True))


# ---------------------------------------------------------------- Cortex-M4 (QEMU): DSP and portable kernels


@pytest.mark.qemu
def test_lstm_dsp_and_portable_bit_exact_on_cortex_m4(tmp_path):
    """Random LSTMs (input depths and unit counts not multiples of 4, time-major, batches, extreme zero
    points) built for qemu-cortex-m4 with the SMLAD dot products and with -DTG_PORTABLE: both equal the
    emulator on edge and random samples."""
    import shutil

    if shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None:
        pytest.skip("needs arm-none-eabi-gcc and qemu-system-arm")
    from tests.test_mcu_kernels import check, samples
    from tinygen.boards.mcu_run import build_models, run_models

    rng = np.random.default_rng(21)
    configs = [dict(n_input=257, units=13, steps=3, in_q=(0.6, -128), hidden_q=(1 / 128, -1)),
               dict(n_input=9, units=6, steps=4, batch=2, time_major=True, cell_power=-14, cell_clip=0.0),
               dict(n_input=33, units=17, steps=2, batch=3, in_q=(0.02, 127), hidden_q=(0.004, 127), cell_power=-8),
               dict(n_input=4, units=4, steps=5, w_scale=0.2, bias_scale=200000)]
    configs16 = [dict(n_input=13, units=7, steps=3, in_q=(2.0 ** -8, 0), hidden_q=(2.0 ** -14, 0), bias_scale=2**34),
                 dict(n_input=5, units=9, steps=2, batch=2, time_major=True, in_q=(2.0 ** -12, 0), hidden_q=(2.0 ** -12, 0),
                      cell_power=-9, cell_clip=0.0)]
    graphs = {f"lstm_{i}": parse_model(lstm_model(rng, **kw), name=f"lstm_{i}") for i, kw in enumerate(configs)}
    graphs.update({f"lstm16_{i}": parse_model(lstm_model(rng, dtype=np.int16, **kw), name=f"lstm16_{i}")
                   for i, kw in enumerate(configs16)})
    xs = {n: samples(g, rng, 2) for n, g in graphs.items() if not n.startswith("lstm16")}
    for n, g in graphs.items():   # int16 inputs: the extremes, zero, random
        if n.startswith("lstm16"):
            shape = tuple(g.input_tensors[0].shape)
            xs[n] = [[np.full(shape, v, np.int16)] for v in (-32768, 32767, 0)]
            xs[n] += [[rng.integers(-32768, 32768, size=shape).astype(np.int16)] for _ in range(2)]
    dsp = build_models("qemu-cortex-m4", graphs, xs, tmp_path / "dsp")
    port = build_models("qemu-cortex-m4", graphs, xs, tmp_path / "portable", portable=True, generated=dsp.generated)
    for fw in (dsp, port):
        res = run_models(fw, timeout=120)
        for name, g in graphs.items():
            check(f"{name} ({'portable' if fw is port else 'dsp'})", g, xs[name], res.models[name])
