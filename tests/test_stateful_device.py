"""Models with state (LSTM, SVDF) on QEMU Cortex-M4 through the serial protocol: `validate` resets the
board's state before every sample (RESET_STATE) by default, or runs the samples as one sequence with
--stateful; both bit-exact with the emulator (and so with tflite_micro). A sequence interrupted by a
board reset is replayed from its start; `monitor --run` does the same. The corpus LSTM models
(micro_speech LSTM, DTLN with two stateful LSTMs) pass both ways."""
from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pytest

from tests.support.corpus import corpus_dir
from tests.support.opmodels import lstm_model, svdf_model
from tinygen.device.validate import format_report, random_inputs, validate, validate_link
from tinygen.emulator.engine import Emulator
from tinygen.model.reader import load_int8_model

pytestmark = [pytest.mark.qemu,
              pytest.mark.skipif(not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")),
                                 reason="needs arm-none-eabi-gcc and qemu-system-arm")]
BOARD = "qemu-cortex-m4"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("stateful_models")
    out = {"lstm": d / "lstm_stream.tflite", "svdf": d / "svdf_stream.tflite"}
    # one time step per sample: the output depends on the samples before it only through the state
    out["lstm"].write_bytes(lstm_model(np.random.default_rng(3), batch=1, steps=1, n_input=6, units=5,
                                       hidden_q=(0.01, -4)))
    out["svdf"].write_bytes(svdf_model(np.random.default_rng(5), n_input=16, units=8, rank=2, memory=6, e1=-5, e2=-21))
    return out


def _device_outputs(r) -> np.ndarray:
    return np.stack([o[0] for o in r.outputs]).reshape(len(r.outputs), -1)


@pytest.mark.parametrize("name", ["lstm", "svdf"])
def test_validate_resets_by_default_and_carries_state_with_stateful(models, name):
    path = models[name]
    g = load_int8_model(path)
    fresh = validate(path, BOARD, samples=6, seed=4)
    seq = validate(path, BOARD, samples=6, seed=4, stateful=True)
    for r in (fresh, seq):
        assert r.passed and r.error is None and r.samples == 6, format_report(r)
    assert fresh.state["bytes"] > 0 and fresh.state == {"stateful": False, "bytes": fresh.state["bytes"], "resets": 6}
    assert seq.state == {"stateful": True, "bytes": fresh.state["bytes"], "resets": 1}
    xs = random_inputs(g, 6, 4)
    emu = Emulator(g)
    assert np.array_equal(_device_outputs(fresh), emu.run_internal(xs)[0].reshape(6, -1))
    assert np.array_equal(_device_outputs(seq), emu.run_internal(xs, stateful=True)[0].reshape(6, -1))
    assert not np.array_equal(_device_outputs(fresh)[1:], _device_outputs(seq)[1:]), "the state did not carry"
    assert "one sequence" in format_report(seq) and json.dumps(seq.as_dict()["state"])


def test_sequence_replayed_after_a_board_reset(models):
    """A RESET slipped to the board in the middle of a --stateful run: the board's state is lost, so the
    host replays the sequence from its start; every sample still equals the emulator's sequence."""
    from tests.support.faultproxy import FaultProxy, QemuVM
    from tinygen.device.link import encode_frame
    from tinygen.device.protocol import CMD_INFER_CHUNK, CMD_RESET
    from tinygen.device.target import Link, ensure_emulated_firmware

    path = models["lstm"]
    g = load_int8_model(path)
    elf = ensure_emulated_firmware(g, BOARD)
    with QemuVM(BOARD, elf) as vm, FaultProxy(vm.address) as proxy:
        proxy.on_frame_up(CMD_INFER_CHUNK, 4, lambda: proxy.inject_up(encode_frame(0x4242, CMD_RESET)))
        with Link(proxy.url) as link:
            r = validate_link(link, str(path), g, board=BOARD, samples=7, seed=9, stateful=True, timeout=0.5)
    assert r.passed and r.samples == 7, format_report(r)
    assert len(r.recoveries) == 1 and r.state["resets"] == 2
    want = Emulator(g).run_internal(random_inputs(g, 7, 9), stateful=True)[0].reshape(7, -1)
    assert np.array_equal(_device_outputs(r), want)


def test_monitor_run_stateful(models):
    from tests.support.faultproxy import QemuVM
    from tinygen.device.monitor import Monitor
    from tinygen.device.target import Link, ensure_emulated_firmware

    path = models["svdf"]
    g = load_int8_model(path)
    elf = ensure_emulated_firmware(g, BOARD)
    recs = {}
    with QemuVM(BOARD, elf) as vm:
        for stateful in (False, True):
            out = io.StringIO()
            mon = Monitor(out=out, as_json=True)
            with Link(f"socket://{vm.address[0]}:{vm.address[1]}") as link:
                assert mon.drive(link, 5, graph=g, stateful=stateful) is None
            mon.close()
            recs[stateful] = [json.loads(ln) for ln in out.getvalue().splitlines()]
    for stateful, rs in recs.items():
        runs = [r for r in rs if r["type"] == "result" and r["source"] == "run"]
        assert [r["bit_exact"] for r in runs] == [True] * 5
        (st,) = [r for r in rs if r["type"] == "state"]
        assert st["state_bytes"] > 0 and st["stateful"] is stateful


# ---------------------------------------------------------------- the corpus LSTM models


@pytest.mark.parametrize("name", ["tflm_micro_speech_lstm_int8", "tflm_dtln_noise_suppression_int8"])
def test_corpus_lstm_models_validate_both_ways(name):
    d = corpus_dir()
    if d is None or not (d / f"{name}.tflite").is_file():
        pytest.skip(f"{name} not in the corpus (TINYGEN_MODELS)")
    path = d / f"{name}.tflite"
    fresh = validate(path, BOARD, samples=3)
    seq = validate(path, BOARD, samples=3, stateful=True)
    for r in (fresh, seq):
        assert r.passed and r.samples == 3 and r.state["bytes"] > 0, format_report(r)
    assert (fresh.state["resets"], seq.state["resets"]) == (3, 1)
    if name.startswith("tflm_dtln"):   # a streaming model: its outputs depend on the state
        assert not np.array_equal(_device_outputs(fresh)[1:], _device_outputs(seq)[1:])


def test_per_layer_rerun_restores_the_state():
    """DTLN's two LSTM layers are not kept in the arena, so `--per-layer` reads them by re-running the model on
    the board; the re-run starts from the state the run started from (saved by the firmware), so with the last
    layer corrupted on purpose every earlier layer still matches, by default and as a sequence."""
    d = corpus_dir()
    name = "tflm_dtln_noise_suppression_int8"
    if d is None or not (d / f"{name}.tflite").is_file():
        pytest.skip(f"{name} not in the corpus (TINYGEN_MODELS)")
    path = d / f"{name}.tflite"
    for stateful in (False, True):
        r = validate(path, BOARD, samples=2, per_layer=True, stateful=stateful,
                     extra_cflags=["-DTG_TEST_CORRUPT_LAYER=3"])
        assert not r.passed and r.error is None, format_report(r)
        assert r.first_divergent_layer is not None and r.first_divergent_layer.index == 3, format_report(r)
        assert r.per_layer["checked"] == 4 and not r.per_layer["unavailable"]
