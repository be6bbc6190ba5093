"""tinygen validate end to end on QEMU: generated firmware, serial protocol over the
emulated UART (pyserial socket://), outputs compared with the host emulator."""
from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tinygen.cli import main
from tinygen.emulator.engine import Emulator
from tinygen.boards.qemu import QemuSession
from tinygen.model.reader import load_int8_model
from tinygen.device.target import ensure_emulated_firmware
from tinygen.device.validate import format_report, random_inputs, validate
from tests.support.fwprojects import RISCV_BOARD
from tests.support.zoo import MODEL_NAMES

ROOT = Path(__file__).resolve().parents[1]
KWS = ROOT / "examples" / "kws_micro.tflite"
BENCHMARKS = ("ds_cnn_kws", "mobilenet_v1_025_vww", "resnet8_ic", "fc_autoencoder_ad")
SLOW_UPLOAD = {"mobilenet_v1_025_vww": 1}      # 27 KB input: ~3 s per sample at QEMU's 10 KB/s
OP_MODELS = [n for n in MODEL_NAMES if n not in BENCHMARKS]

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")),
                       reason="needs arm-none-eabi-gcc and qemu-system-arm"),
]


def cli(*args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in args])
    return rc, out.getvalue(), err.getvalue()


# ------------------------------------------------------------------- zoo, both boards
@pytest.mark.parametrize("name", OP_MODELS + ["ds_cnn_kws"])
def test_zoo_bit_exact_on_stm32f4(zoo, name):
    r = validate(zoo[name], "qemu-stm32f4", samples=3)
    d = r.as_dict()
    assert r.error is None, r.error
    assert d["samples"] == 3 and d["bit_exact"] == 1.0 and d["max_abs_diff"] == 0 and r.passed
    assert d["cosine"] == pytest.approx(1.0) and d["top1_agreement"] == 1.0
    assert d["latency_cycles"]["min"] > 0 and d["clock_hz"] == 168_000_000


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_zoo_bit_exact_on_cortex_m4(zoo, name):
    n = SLOW_UPLOAD.get(name, 2)
    r = validate(zoo[name], "qemu-cortex-m4", samples=n)
    d = r.as_dict()
    assert r.error is None, r.error
    assert d["samples"] == n and d["bit_exact"] == 1.0 and r.passed
    est = d["latency_cycles_estimated"]            # the cycle-estimating QEMU plugin
    assert est is not None and est["median"] > d["latency_cycles"]["median"] and d["latency_ms_basis"] == "estimated"
    assert d["latency_ms"]["median"] == pytest.approx(est["median"] / 25e3)


# ------------------------------------------------------------------- the CLI
def test_cli_json_report_and_saved_outputs(tmp_path):
    out = tmp_path / "dev.npy"
    rc, stdout, _ = cli("validate", KWS, "--board", "qemu-cortex-m4", "--samples", 4, "--seed", 7, "--json",
                        "--save-outputs", out, "-q")
    assert rc == 0
    d = json.loads(stdout)
    for key in ("samples", "bit_exact", "max_abs_diff", "mean_abs_diff", "rmse", "cosine", "top1_agreement",
                "latency_cycles", "latency_ms", "first_divergent_layer", "error"):
        assert key in d
    assert d["samples"] == 4 and d["bit_exact"] == 1.0 and d["rmse"] == 0 and d["error"] is None
    assert d["first_divergent_layer"] is None and d["passed"] is True
    assert set(d["latency_cycles"]) == {"median", "min", "max"}
    g = load_int8_model(KWS)
    expected = Emulator(g).run(random_inputs(g, 4, 7)[0])
    saved = np.load(out)
    assert saved.shape == (4, 4) and saved.dtype == np.int8
    np.testing.assert_array_equal(saved, expected)


def test_cli_inputs_file_float_and_human_report(tmp_path):
    x = np.random.default_rng(3).normal(0, 2, (3, 49, 10, 1)).astype(np.float32)
    np.save(tmp_path / "in.npy", x)
    rc, stdout, _ = cli("validate", KWS, "--board", "qemu-stm32f4", "--inputs", tmp_path / "in.npy",
                        "--save-outputs", tmp_path / "o.npy", "-q")
    assert rc == 0, stdout
    assert "bit-exact       3/3 (100.0%)" in stdout and "PASS" in stdout and "at 168 MHz" in stdout
    np.testing.assert_array_equal(np.load(tmp_path / "o.npy"), Emulator.from_file(KWS).run(x))


def test_model_mismatch_is_one_line_exit_2(zoo):
    """The board runs kws_micro; validating another model against it is refused."""
    elf = ensure_emulated_firmware(load_int8_model(KWS), "qemu-cortex-m4")
    with QemuSession("qemu-cortex-m4", elf) as q:
        q.serial.close()          # free QEMU's single connection for tinygen
        rc, stdout, err = cli("validate", zoo["pad"], "--board", "qemu-cortex-m4", "--port",
                              f"socket://127.0.0.1:{q.port}", "-q")
    assert rc == 2 and stdout == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "runs model 'kws_micro'" in lines[0] and "not pad.tflite" in lines[0]


def test_real_board_without_a_port():
    rc, _, err = cli("validate", KWS, "--board", "nucleo-f446re", "-q")
    assert rc == 2 and "NUCLEO-F446RE" in err and len(err.strip().splitlines()) == 1


# ------------------------------------------------------------------- --per-layer
@pytest.mark.parametrize("k", [2, 4])
def test_per_layer_finds_the_corrupted_layer(k):
    """Firmware built with TG_TEST_CORRUPT_LAYER=k flips the bytes of layer k's output."""
    r = validate(KWS, "qemu-cortex-m4", samples=3, per_layer=True, extra_cflags=[f"-DTG_TEST_CORRUPT_LAYER={k}"])
    d = r.as_dict()
    assert r.error is None and not r.passed
    assert d["bit_exact"] == 0.0 and d["first_mismatch_sample"] == 0
    fl = d["first_divergent_layer"]
    assert fl["index"] == k and fl["op"] == "CONV_2D" and fl["sample"] == 0
    assert fl["mismatched"] > 0 and fl["max_abs_diff"] > 0
    assert d["per_layer"]["checked"] == k + 1
    assert f"first divergent layer: {k} CONV_2D" in format_report(r)


def test_per_layer_cli_and_tolerance():
    k = 2
    elf = ensure_emulated_firmware(load_int8_model(KWS), "qemu-cortex-m4",
                                   extra_cflags=[f"-DTG_TEST_CORRUPT_LAYER={k}"])
    with QemuSession("qemu-cortex-m4", elf) as q:
        q.serial.close()
        port = f"socket://127.0.0.1:{q.port}"
        rc, stdout, _ = cli("validate", KWS, "--board", "qemu-cortex-m4", "--port", port, "--samples", 2,
                            "--per-layer", "--json", "-q")
        assert rc == 1
        d = json.loads(stdout)
        assert d["first_divergent_layer"]["index"] == k and d["bit_exact"] == 0.0 and d["error"] is None
        worst = d["max_abs_diff"]
        rc, stdout, _ = cli("validate", KWS, "--board", "qemu-cortex-m4", "--port", port, "--samples", 2,
                            "--tolerance", worst, "--json", "-q")
        d = json.loads(stdout)
        assert rc == 0 and d["passed"] and d["within_tolerance"] == 1.0 and d["bit_exact"] == 0.0


# ------------------------------------------------------------------- the other emulated cores
@pytest.mark.parametrize("board", [pytest.param("qemu-cortex-m7", marks=pytest.mark.slow),
                                   pytest.param("qemu-cortex-m33", marks=pytest.mark.slow), "qemu-cortex-m55",
                                   RISCV_BOARD])
def test_cli_validate_on_other_cores(board):
    from tinygen.boards.catalog import load_board

    rc, stdout, err = cli("validate", KWS, "--board", board, "--samples", 3, "--seed", 3, "--json", "-q")
    assert rc == 0, err
    d = json.loads(stdout)
    assert d["board"] == board and d["samples"] == 3 and d["bit_exact"] == 1.0 and d["max_abs_diff"] == 0
    assert d["clock_hz"] == load_board(board).clock_hz and d["latency_cycles"]["min"] > 0
