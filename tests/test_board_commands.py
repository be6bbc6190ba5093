"""The board commands on every emulated core (issue 14's audit): `run`, `flash` (QEMU as a
served serial port) + `monitor --run` + `profile` through it, and `benchmark` (MLPerf Tiny
firmware), each with instruction counts, on qemu-cortex-m7, -m33, -m55 and qemu-riscv32.

`generate --board` / `build` / the self-test and the protocol run on every emulated board in
tests/test_run_qemu.py, `validate` in tests/test_validate.py (M55, RV32 by default, M7/M33 with
--run-slow); this file covers the commands those leave to the Cortex-M4 boards. Cheap: the
example model, one project build + one MLPerf build per board, one inference per command.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.faultproxy import port_listened
from tests.support.fwprojects import HAVE_ARM_GCC, HAVE_QEMU, RISCV_BOARD
from tinygen.boards.catalog import load_board
from tinygen.cli import main
from tinygen.model.reader import load_int8_model

ROOT = Path(__file__).resolve().parent.parent
KWS = ROOT / "examples" / "kws_micro.tflite"

needs_arm_qemu = pytest.mark.skipif(not (HAVE_ARM_GCC and HAVE_QEMU), reason="needs arm-none-eabi-gcc and qemu-system-arm")
BOARDS = [pytest.param(b, marks=[pytest.mark.qemu, needs_arm_qemu])
          for b in ("qemu-cortex-m7", "qemu-cortex-m33", "qemu-cortex-m55")] + [RISCV_BOARD]


def cli(*args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in args])
    return rc, out.getvalue(), err.getvalue()


def _port_open(url: str) -> bool:
    host, port = url.removeprefix("socket://").rsplit(":", 1)
    return port_listened(int(port), host)


@pytest.mark.parametrize("board", BOARDS)
def test_run_flash_monitor_profile_benchmark(board, tmp_path):
    graph = load_int8_model(KWS)
    b = load_board(board)

    # run: generate + build + one inference in QEMU, compared with the emulator
    proj = tmp_path / "fw"
    rc, out, err = cli("run", KWS, "--board", board, "-o", proj, "--json")
    assert rc == 0, err
    d = json.loads(out)
    assert d["ok"] and d["mismatches"] == [] and d["banner"]["board"] == board
    assert d["selftest"]["outputs"] == d["expected"]["outputs"]          # expected: the emulator's
    assert d["selftest"]["cycles"] > 10_000 and d["banner"]["clock_hz"] == b.clock_hz
    assert d["build"]["flash_used"] > 0 and (proj / "build").is_dir()

    # flash: QEMU serving the firmware's serial port until SIGTERM
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    flash = subprocess.Popen([sys.executable, "-m", "tinygen.cli", "flash", str(proj)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    try:
        line = flash.stdout.readline()
        m = re.fullmatch(r"(socket://127\.0\.0\.1:\d+)\n", line)
        assert m, (line, flash.stderr.read() if flash.poll() is not None else "")
        url = m.group(1)
        # monitor --run through the served port: bit-exact against the emulator, with cycles (instructions)
        rc, out, err = cli("monitor", "--port", url, "--board", board, "--model", KWS, "--run", 1, "--json")
        assert rc == 0, err
        recs = [json.loads(ln) for ln in out.splitlines()]
        runs = [r for r in recs if r["type"] == "result" and r["source"] == "run"]
        assert len(runs) == 1 and runs[0]["bit_exact"] and runs[0]["cycles"] > 10_000
        assert recs[-1]["type"] == "summary" and recs[-1]["clock_hz"] == b.clock_hz
        # profile through the same QEMU (reconnect): per-layer instruction counts that add up
        rc, out, err = cli("profile", KWS, "--board", board, "--port", url, "--runs", 1, "--json", "-q")
        assert rc == 0, err
        p = json.loads(out)
        assert p["board"] == board and len(p["layers"]) == len(graph.operators)
        layer_sum = sum(lay["cycles"] for lay in p["layers"])
        assert all(lay["cycles"] > 0 for lay in p["layers"] if lay["macs"])
        assert 0.9 * p["total_cycles"] <= layer_sum <= p["total_cycles"]
        assert abs(p["total_cycles"] - runs[0]["cycles"]) <= 0.01 * runs[0]["cycles"]
    finally:
        if flash.poll() is None:
            flash.send_signal(signal.SIGTERM)
        try:
            flash.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(flash.pid, signal.SIGKILL)
            flash.wait()
            raise AssertionError("tinygen flash ignored SIGTERM")
    assert not _port_open(url), "QEMU still serves the port after flash stopped"

    # benchmark: the MLPerf Tiny DUT firmware, every output checked against the emulator
    rc, out, err = cli("benchmark", KWS, "--board", board, "--runs", 1, "--warmups", 0, "--json")
    assert rc == 0, err
    r = json.loads(out)
    assert r["ok"] and r["board"] == board and r["emulated"] and r["clock_hz"] == b.clock_hz
    assert r["samples"] == r["bit_exact"] == 1 and r["mismatches"] == []
    assert r["cycle_unit"].startswith("instructions") and r["median_cycles"] > 10_000
    # the MLPerf firmware runs the same kernels: within 2% of the protocol firmware's count
    assert abs(r["median_cycles"] - runs[0]["cycles"]) <= 0.02 * runs[0]["cycles"]
