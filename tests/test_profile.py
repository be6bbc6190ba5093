"""tinygen profile on both QEMU boards: per-layer cycles read over the serial protocol
(PROFILE pages), their sum against the whole inference `validate` reports, the JSON/CSV
outputs, a model with more layers than one PROFILE page, and the estimated cycles of the
QEMU plugin (tinygen/boards/cycle_model.py)."""
from __future__ import annotations

import contextlib
import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tinygen.analysis.profile import format_profile, profile_csv, profile_data
from tinygen.cli import main
from tinygen.device.profile import profile
from tinygen.device.validate import validate
from tinygen.model.reader import load_int8_model
from tinygen.ops import REGISTRY
from tests.support.opmodels import ModelBuilder

ROOT = Path(__file__).resolve().parents[1]
KWS = ROOT / "examples" / "kws_micro.tflite"
BOARDS = ("qemu-stm32f4", "qemu-cortex-m4")
PROFILE_PAGE = 127          # cycles per PROFILE reply (docs/protocol.md)
HOOK_BOUND = 250            # instructions per layer outside the layer windows (hooks + glue), generous

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


@pytest.fixture(scope="module", params=BOARDS)
def kws_profile(request):
    board = request.param
    return board, profile(KWS, board, runs=3)


def test_layer_sum_agrees_with_validate_within_the_hook_overhead(kws_profile):
    board, prof = kws_profile
    d = prof.as_dict()
    g = load_int8_model(KWS)
    n = len(g.operators)
    assert d["runs"] == 3 and d["num_layers"] == n and len(d["layer_cycles"]) == n
    assert all(c > 0 for c in d["layer_cycles"])
    total, s = d["total_cycles"], d["layer_cycles_sum"]
    assert 0 <= total - s <= HOOK_BOUND * n, (total, s)
    assert d["overhead_cycles"] == total - s
    # the whole inference is the latency validate reports (other random inputs: same count
    # up to the SysTick resolution of 40 instructions and the odd interrupt)
    v = validate(KWS, board, samples=2, seed=5, estimate=False).as_dict()
    assert v["passed"]
    assert abs(v["latency_cycles"]["median"] - total) <= 0.001 * total


def test_estimated_cycles_per_layer(kws_profile):
    board, prof = kws_profile
    d = prof.as_dict()
    est = d["layer_cycles_estimated"]
    assert d["cycle_model"]["core"] == "cortex-m4"
    # exact instructions counted by the plugin between the same measurement points as the
    # firmware's SysTick (resolution 40 instructions on mps2, ~6 on the STM32F4)
    assert abs(d["total_instructions_plugin"] - d["total_cycles"]) <= 2 * 40 + 200
    for k, (c, e) in enumerate(zip(d["layer_cycles"], est)):
        assert c <= e <= 3 * c + 100, (k, c, e)         # a Cortex-M4 needs at least a cycle per instruction
    cpi = d["total_cycles_estimated"] / d["total_cycles"]
    assert 1.2 < cpi < 2.0, cpi
    assert sum(est) <= d["total_cycles_estimated"]


def test_profile_table_json_and_csv_come_from_the_same_data(kws_profile):
    board, prof = kws_profile
    g = load_int8_model(KWS)
    data = profile_data(g, prof.as_dict())
    for key in ("model", "board", "runs", "total_cycles", "layers"):
        assert key in data
    assert data["board"] == board and data["model"] == "kws_micro"
    for k, (row, op) in enumerate(zip(data["layers"], g.operators)):
        assert set(row) >= {"index", "op", "output_shape", "macs", "cycles", "mac_per_cycle", "share", "kernel",
                            "scratch_bytes", "cycles_estimated"}
        assert row["index"] == k and row["op"] == op.op
        assert row["output_shape"] == list(g.tensors[op.outputs[0]].shape)
        assert row["macs"] == REGISTRY[op.op].macs(g, op)
        assert row["cycles"] == prof.layer_cycles()[k]
        assert row["share"] == pytest.approx(row["cycles"] / data["total_cycles"])
        assert row["ms"] == pytest.approx(row["cycles_estimated"] * 1e3 / data["clock_hz"])    # from the estimate
    assert sum(r["share"] for r in data["layers"]) <= 1.0
    convs = [r for r in data["layers"] if r["op"] == "CONV_2D"]
    assert convs and all(r["kernel"].startswith("dsp") and r["kernel_reason"] for r in convs)   # Cortex-M4: DSP
    rows = list(csv.DictReader(io.StringIO(profile_csv(data))))
    assert [int(r["cycles"]) for r in rows] == [r["cycles"] for r in data["layers"]]
    assert [r["op"] for r in rows] == [r["op"] for r in data["layers"]]
    text = format_profile(data)
    assert "a cycle is one instruction executed" in text and "estimate" in text
    assert f"{data['overhead_cycles']:,}" in text and "hook overhead" in text
    ms = data["total_cycles_estimated"] * 1e3 / data["clock_hz"]
    assert f"{ms:.3f} ms" in text and data["total_ms_basis"] == "estimated"


def test_profile_text_without_a_whole_inference_count(kws_profile):
    """A profile whose whole-inference count is 0 (an estimate but nothing to divide by) still prints."""
    _, prof = kws_profile
    d = prof.as_dict()
    d["total_cycles"] = 0
    data = profile_data(load_int8_model(KWS), d)
    assert data["cycles_per_instruction"] is None
    text = format_profile(data)
    assert f"estimated        {data['total_cycles_estimated']:,}" in text and "per instruction" not in text


def test_cli_json(tmp_path):
    rc, out, err = cli("profile", KWS, "--board", "qemu-cortex-m4", "--runs", 2, "--json", "-q")
    assert rc == 0, err
    d = json.loads(out)
    assert d["runs"] == 2 and d["board"] == "qemu-cortex-m4" and len(d["layers"]) == 8
    assert d["layers"][0]["op"] == "CONV_2D" and d["layers"][0]["cycles_estimated"] > d["layers"][0]["cycles"]
    assert d["total_ms"] == pytest.approx(d["total_cycles_estimated"] / 25e3)


@pytest.mark.parametrize("args, msg", [(("--runs", "0"), "--runs must be at least 1"),
                                       (("--json", "--csv"), "exclude each other")])
def test_cli_bad_options(args, msg):
    rc, out, err = cli("profile", KWS, "--board", "qemu-cortex-m4", *args)
    assert rc == 2 and out == ""
    assert err.strip().splitlines() == [f"tinygen: error: {err.split('error: ', 1)[1].strip()}"]
    assert msg in err


def _fc_chain(n_ops: int, width: int = 8) -> bytes:
    """n_ops FULLY_CONNECTED layers width -> width in a chain (more ops than one PROFILE page)."""
    rng = np.random.default_rng(3)
    m = ModelBuilder()
    x = m.tensor([1, width], scale=0.05, zero_point=0)
    for _ in range(n_ops):
        w = m.tensor([width, width], data=rng.integers(-60, 61, size=(width, width)), scale=0.02, zero_point=0)
        b = m.tensor([width], dtype=np.int32, data=rng.integers(-200, 200, size=width), scale=0.05 * 0.02)
        y = m.tensor([1, width], scale=0.05, zero_point=0)
        m.op("FULLY_CONNECTED", [x, w, b], [y], fused_activation_function="RELU")
        x = y
    first = 0
    return m.build([first], [x])


def test_more_layers_than_one_profile_page(tmp_path):
    n = PROFILE_PAGE + 13
    path = tmp_path / "fc_chain.tflite"
    path.write_bytes(_fc_chain(n))
    prof = profile(path, "qemu-cortex-m4", runs=2)
    d = prof.as_dict()
    assert d["num_layers"] == n and len(d["layer_cycles"]) == n and len(d["layer_cycles_estimated"]) == n
    assert all(c > 0 for c in d["layer_cycles"])       # the second page is read too
    # identical layers cost about the same (SysTick resolution: 40 instructions)
    body = d["layer_cycles"][1:]
    assert max(body) - min(body) <= 80
    assert 0 <= d["total_cycles"] - d["layer_cycles_sum"] <= HOOK_BOUND * n


def test_profile_cli_on_cortex_m55():
    """The other emulated cores profile too, with their own core's timing table (cortex-m55.toml)."""
    rc, out, err = cli("profile", KWS, "--board", "qemu-cortex-m55", "--runs", 2, "--json", "-q")
    assert rc == 0, err
    d = json.loads(out)
    n = len(load_int8_model(KWS).operators)
    assert d["board"] == "qemu-cortex-m55" and d["cycle_unit"] == "instructions" and d["clock_hz"] == 32_000_000
    assert len(d["layers"]) == n and all(lay["cycles"] > 0 for lay in d["layers"])
    assert sum(lay["cycles"] for lay in d["layers"]) == pytest.approx(d["layer_cycles_sum"])
    assert 0 <= d["total_cycles"] - d["layer_cycles_sum"] <= HOOK_BOUND * n
    assert d["total_ms_basis"] == "estimated" and d["cycle_model"]["label"] == "Cortex-M55"
    assert d["cycle_model"]["table"] == "qemu-plugins/timing/cortex-m55.toml"
    assert all(lay["cycles_estimated"] > 0 for lay in d["layers"])
