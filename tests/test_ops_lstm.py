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
