"""Boards on other machines through a REAL labgrid farm on 127.0.0.1: labgrid's coordinator and
exporter, Debian's ser2net, and the example model's firmware running in QEMU with its UART on a
pseudo-terminal, exported as a RawSerialPort (tests/support/labfarm.py). tinygen acquires the
place, talks RFC 2217 to ser2net, and releases the place on every way out."""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.labfarm import Lab, PtyBoard, free_port, have_labgrid

ROOT = Path(__file__).resolve().parents[1]
KWS = ROOT / "examples" / "kws_micro.tflite"
BOARD = "qemu-cortex-m4"

_why_not = have_labgrid()
pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")),
                       reason="needs arm-none-eabi-gcc and qemu-system-arm"),
    pytest.mark.skipif(_why_not is not None, reason=_why_not or ""),
]


def cli(*args, env: dict | None = None):
    from tinygen.cli import main

    out, err = io.StringIO(), io.StringIO()
    old = dict(os.environ)
    os.environ.pop("LG_COORDINATOR", None)
    os.environ.update(env or {})
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main([str(a) for a in args])
    finally:
        os.environ.clear()
        os.environ.update(old)
    return rc, out.getvalue(), err.getvalue()


def error_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("tinygen: error:") or "Traceback" in ln]


def wait_for(cond, timeout: float = 10.0, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return cond()


@pytest.fixture(scope="module")
def projects():
    """The example model's firmware projects for qemu-cortex-m4 (built in tinygen's cache):
    the protocol firmware, and the MLPerf Tiny DUT firmware (benchmark ID 'kws_micro')."""
    from tinygen.boards.mlperf import mlperf_spec
    from tinygen.device.target import ensure_emulated_firmware
    from tinygen.model.reader import load_int8_model

    g = load_int8_model(KWS)
    plain = ensure_emulated_firmware(g, BOARD).parent.parent
    mlperf = ensure_emulated_firmware(g, BOARD, mlperf=mlperf_spec(g, "kws_micro").model_id).parent.parent
    return plain, mlperf


@pytest.fixture(scope="module")
def lab(tmp_path_factory, projects):
    """Coordinator + exporter `lab1` on 127.0.0.1 exporting two emulated boards served by
    `tinygen flash DIR --pty`: group `board1` (the protocol firmware; place `p1`, tagged
    board=qemu-cortex-m4) and group `mlperf1` (the MLPerf DUT firmware; place `p2`)."""
    work = tmp_path_factory.mktemp("lab")
    boards = [PtyBoard(projects[0], work), PtyBoard(projects[1], work)]
    with Lab(work) as lab:
        try:
            ptys = [b.start() for b in boards]
            lab.groups = {"board1": {"RawSerialPort": {"port": ptys[0], "speed": 115200}},
                          "mlperf1": {"RawSerialPort": {"port": ptys[1], "speed": 115200}},
                          # a NUCLEO's ST-Link that is not plugged in here: published, never available
                          "nucleo1": {"USBDebugger": {"match": {"ID_SERIAL_SHORT": "0671FF485688494867114523"}}}}
            lab.start_coordinator()
            lab.start_exporter("lab1", lab.groups)
            lab.client("-p", "p1", "create")                  # as a user would, once
            lab.client("-p", "p1", "add-match", "lab1/board1/*")
            lab.create_place("p1", create=False, board=BOARD)  # the rest in-process (faster than the CLI)
            lab.create_place("p2", "lab1/mlperf1/*")
            lab.create_place("n1", "lab1/nucleo1/*")
            yield lab
        finally:
            for b in boards:
                b.close()


@pytest.fixture
def farm(lab):
    """The lab with `p1` free and the exporter running, before and after the test."""
    if "lab1" not in lab.exporters:
        lab.start_exporter("lab1", lab.groups)
    yield lab
    with lab.session() as s:
        holders = {p: s.holder(p) for p in ("p1", "p2", "n1")}
    for p, holder in holders.items():
        if holder:
            lab.client("-p", p, "release", "--kick", check=False)
    assert holders == {"p1": None, "p2": None, "n1": None}, f"left acquired: {holders}"


def env_for(lab) -> dict:
    return {"LG_COORDINATOR": lab.address}


# ------------------------------------------------------------------------ validate / monitor
def test_validate_through_a_place_is_bit_exact_and_releases_it(farm):
    rc, out, err = cli("validate", KWS, "--place", "p1", "--samples", 3, "--seed", 5, "--json",
                       env=env_for(farm))
    assert rc == 0, err
    d = json.loads(out)
    assert d["samples"] == 3 and d["bit_exact"] == 1.0 and d["passed"] and d["error"] is None
    assert d["board"] == BOARD and d["port"].startswith("place p1 (rfc2217://127.0.0.1:")
    assert "acquiring place p1" in err and "released place p1" in err
    assert d["latency_cycles"]["min"] > 0 and d["link"]["sent"] > 0


def test_coordinator_option_and_a_place_this_user_already_holds(farm):
    with farm.session() as mine:
        mine.acquire("p1")                                # this user, this host: tinygen uses it as is
        rc, out, err = cli("validate", KWS, "--place", "p1", "--samples", 2, "--coordinator", farm.address)
        assert rc == 0, err
        assert "PASS" in out and "already acquired by you" in err
        assert mine.holder("p1") is not None              # left as the user had it

        # the place's port straight from the coordinator: --port rfc2217://... (pyserial's RFC 2217
        # client refuses a write timeout; a pty behind ser2net needs ign_set_control)
        url = mine.serial_resource("p1").url
        assert url.startswith("rfc2217://127.0.0.1:") and url.endswith("?ign_set_control")
        rc, out, err = cli("validate", KWS, "--board", BOARD, "--port", url, "--samples", 2)
        assert rc == 0, err
        assert "bit-exact       2/2" in out
        bare = url.split("?")[0] + "?timeout=0.5"
        rc, out, err = cli("validate", KWS, "--board", BOARD, "--port", bare, "--samples", 2)
        assert rc == 2 and len(error_lines(err)) == 1 and "add ?ign_set_control" in err, err


def test_monitor_through_a_place(farm):
    rc, out, err = cli("monitor", "--place", "p1", "--model", KWS, "--run", 2, "--json", env=env_for(farm))
    assert rc == 0, err
    events = [json.loads(ln) for ln in out.splitlines() if ln.strip()]
    results = [e for e in events if e.get("type") == "result"]
    assert len(results) == 2 and all(e["bit_exact"] is True for e in results), events
    assert "released place p1" in err and not error_lines(err)


def test_profile_through_a_place(farm):
    rc, out, err = cli("profile", KWS, "--place", "p1", "--runs", 2, "--json", env=env_for(farm))
    assert rc == 0, err
    d = json.loads(out)
    assert d["board"] == BOARD and len(d["layers"]) == 8 and all(la["cycles"] > 0 for la in d["layers"])
    assert "released place p1" in err


def test_benchmark_through_a_place(farm):
    """The MLPerf Tiny DUT firmware behind `flash --pty` on the lab host, benchmarked through p2."""
    rc, out, err = cli("benchmark", KWS, "--board", BOARD, "--place", "p2", "--runs", 2, "--warmups", 0, "--json",
                       env=env_for(farm))
    assert rc == 0, err
    d = json.loads(out)
    assert d["ok"] and d["bit_exact"] == 2 and d["model"] == "kws_micro"
    assert "acquiring place p2" in err and "released place p2" in err


def test_several_boards_at_once(farm):
    rc, out, err = cli("validate", KWS, "--place", "p1", "--board", "qemu-stm32f4", "--samples", 3, "--json",
                       "-q", env=env_for(farm))
    assert rc == 0, err
    d = json.loads(out)
    assert d["passed"] is True and [b["target"] for b in d["boards"]] == ["qemu-stm32f4", "place p1"]
    for b in d["boards"]:
        assert b["passed"] and b["report"]["bit_exact"] == 1.0 and b["report"]["samples"] == 3
    assert {b["report"]["board"] for b in d["boards"]} == {"qemu-stm32f4", BOARD}
    # the same inputs on both: the emulator's outputs, so the board outputs agree too
    rc, out, err = cli("validate", KWS, "--place", "p1", "--board", "qemu-stm32f4", "--samples", 2,
                       env=env_for(farm))
    assert rc == 0, err
    rows = [ln for ln in out.splitlines() if ln.startswith("  ") and ("place p1" in ln or "qemu-stm32f4  " in ln)]
    assert len(rows) == 2 and all(r.rstrip().endswith("PASS") for r in rows), out
    assert out.rstrip().splitlines()[-1].startswith("PASS: every output of all 2 boards")

    # a board that cannot be reached (no NUCLEO on this machine): its row says so, the others still run
    rc, out, err = cli("validate", KWS, "--place", "p1", "--board", "nucleo-f446re", "--samples", 2, "--json", "-q",
                       env=env_for(farm))
    assert rc == 2
    d = json.loads(out)
    by = {b["target"]: b for b in d["boards"]}
    assert d["passed"] is False and by["place p1"]["passed"] and by["place p1"]["report"]["bit_exact"] == 1.0
    assert by["nucleo-f446re"]["report"] is None and "nucleo" in by["nucleo-f446re"]["error"].lower()
    lines = error_lines(err)
    assert len(lines) == 1 and lines[0].startswith("tinygen: error: nucleo-f446re: "), err


# ------------------------------------------------------------------------ one line each
def test_place_held_by_someone_else(farm):
    with farm.session(user="alice", host="labpc") as alice:
        alice.acquire("p1")
        rc, out, err = cli("validate", KWS, "--place", "p1", "--samples", 2, env=env_for(farm))
        assert rc == 2 and out == ""
        lines = error_lines(err)
        assert len(lines) == 1 and "held by alice on labpc" in lines[0], err
        rc, out, err = cli("monitor", "--place", "p1", "--duration", 1, env=env_for(farm))
        assert rc == 2 and len(error_lines(err)) == 1 and "alice" in err
        assert alice.holder("p1") == "labpc/alice"           # still hers


def test_coordinator_down():
    port = free_port()                                      # nothing listens there
    t0 = time.monotonic()
    rc, out, err = cli("validate", KWS, "--place", "p1", "--samples", 2, "--coordinator", f"127.0.0.1:{port}")
    assert rc == 2 and out == ""
    lines = error_lines(err)
    assert len(lines) == 1 and f"cannot reach the labgrid coordinator at 127.0.0.1:{port}" in lines[0], err
    assert time.monotonic() - t0 < 15
    rc, out, err = cli("monitor", "--place", "p1", env={"LG_COORDINATOR": f"127.0.0.1:{port}"})
    assert rc == 2 and len(error_lines(err)) == 1 and "coordinator" in err


def test_unknown_place_and_missing_board(farm):
    rc, _, err = cli("validate", KWS, "--place", "nope", env=env_for(farm))
    assert rc == 2 and len(error_lines(err)) == 1 and "no place 'nope'" in err and "p1" in err
    rc, _, err = cli("validate", KWS, env=env_for(farm))
    assert rc == 2 and "--board BOARD" in err and "--place NAME" in err


def test_board_vanishes_mid_run(farm, monkeypatch):
    """The exporter (and with it ser2net) stops in the middle of a run: the samples done are
    reported, the run ends with one line naming the place, and the place is released."""
    import threading

    from tinygen.commands import validate_cmd

    progress = threading.Event()
    seen = []
    real_call = validate_cmd._Progress.__call__

    def observe(self, i, n):                # the CLI's progress hook: samples done so far
        seen.append(i)
        if i >= 5:
            progress.set()
        return real_call(self, i, n)

    monkeypatch.setattr(validate_cmd._Progress, "__call__", observe)
    result = {}

    def run():
        result["r"] = cli("validate", KWS, "--place", "p1", "--samples", 400, "--reconnect", 2, "--json",
                          env=env_for(farm))

    t = threading.Thread(target=run)
    t.start()
    try:
        assert progress.wait(60), "no samples went through the place"
        farm.stop_exporter("lab1")
    finally:
        t.join(120)
    rc, out, err = result["r"]
    assert rc == 2
    d = json.loads(out)
    assert 5 <= d["samples"] < 400 and d["bit_exact"] == 1.0 and not d["passed"]
    assert "place p1" in d["error"] and "exporter lab1" in d["error"], d["error"]
    lines = error_lines(err)
    assert len(lines) == 1 and "did not come back" in lines[0], err
    assert farm.holder("p1") is None
    assert not farm.ser2net_pids()                          # stopped with its exporter


def test_sigterm_releases_the_place(farm):
    """`kill` (SIGTERM) in the middle of a run on a place and a local QEMU board at once: the
    place is released, QEMU stopped, tinygen exits, nothing of it is left running."""
    env = dict(farm.env(), LG_COORDINATOR=farm.address, PYTHONPATH=str(ROOT))
    p = subprocess.Popen([sys.executable, "-m", "tinygen.cli", "validate", str(KWS), "--place", "p1",
                          "--board", "qemu-stm32f4", "--samples", "1000"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    try:
        assert wait_for(lambda: farm.holder("p1") is not None, 60)
        assert wait_for(lambda: "qemu-system-arm" in subprocess.run(["ps", "-o", "args=", "-s", str(p.pid)],
                                                                    capture_output=True, text=True).stdout, 60)
        time.sleep(1.5)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 143, err
    assert "Traceback" not in err and "released place p1" in err and "stopped by SIGTERM" in err
    assert farm.holder("p1") is None
    left = subprocess.run(["ps", "-o", "pid=,args=", "-s", str(p.pid)], capture_output=True, text=True).stdout
    assert left.strip() == "", left                          # no QEMU, no helper of tinygen's
    assert wait_for(lambda: not farm.ser2net_pids(), 10)   # the exporter stops ser2net on the release


# ------------------------------------------------------------------------ flash / run
def test_run_at_a_place_reads_the_self_test_through_it(farm, tmp_path):
    rc, out, err = cli("run", KWS, "--board", BOARD, "--place", "p1", "-o", tmp_path / "fw", "--json",
                       env=env_for(farm))
    assert rc == 0, err
    d = json.loads(out)
    from tinygen.model.reader import load_int8_model

    assert d["ok"] is True and d["banner"]["sha256"] == load_int8_model(KWS).sha256[:16]
    assert d["banner"]["board"] == BOARD and d["selftest"]["status"] == 0 and "flash" in d["timings"]
    assert "nothing to flash" in err and "released place p1" in err

    # flash --place on an emulated board: checks the place runs the project's model
    rc, out, err = cli("flash", tmp_path / "fw", "--place", "p1", env=env_for(farm))
    assert rc == 0 and "already runs kws_micro" in out, err


def test_flash_at_a_place_one_line_each(farm, tmp_path):
    from tests.support.fwprojects import big_activation_model

    other = tmp_path / "other.tflite"
    other.write_bytes(big_activation_model())
    assert cli("generate", other, "--board", BOARD, "-o", tmp_path / "other")[0] == 0
    rc, out, err = cli("flash", tmp_path / "other", "--place", "p1", env=env_for(farm))
    assert rc == 2 and out == "" and len(error_lines(err)) == 1
    assert "runs model 'kws_micro'" in err and "not other" in err, err

    assert cli("generate", KWS, "--board", "nucleo-f446re", "-o", tmp_path / "nucleo")[0] == 0
    rc, out, err = cli("flash", tmp_path / "nucleo", "--place", "p1", env=env_for(farm))
    assert rc == 2 and len(error_lines(err)) == 1 and "no USB debugger for OpenOCD" in err, err
    assert "NetworkSerialPort" in err

    # through labgrid's OpenOCDDriver: the place has the ST-Link as a USBDebugger, but it is unplugged
    rc, out, err = cli("flash", tmp_path / "nucleo", "--place", "n1", env=env_for(farm))
    assert rc == 2 and len(error_lines(err)) == 1, err
    assert "its USB debugger lab1/nucleo1 is not available" in err and "released place n1" in err

    assert cli("generate", KWS, "--board", "esp32-devkitc", "-o", tmp_path / "esp32")[0] == 0
    rc, out, err = cli("flash", tmp_path / "esp32", "--place", "p1", env=env_for(farm))
    assert rc == 2 and len(error_lines(err)) == 1 and "labgrid has no driver for esptool" in err, err
    rc, out, err = cli("run", KWS, "--board", "esp32-devkitc", "--place", "p1", env=env_for(farm))
    assert rc == 2 and len(error_lines(err)) == 1 and "labgrid has no driver for esptool" in err, err


def _monitor_process(farm):
    """`tinygen monitor --place p1` in a process of its own, once it watches the port."""
    import selectors

    env = dict(farm.env(), LG_COORDINATOR=farm.address, PYTHONPATH=str(ROOT))
    p = subprocess.Popen([sys.executable, "-m", "tinygen.cli", "monitor", "--place", "p1", "--reconnect", "2"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ)
    if not sel.select(60):
        p.kill()
        raise AssertionError(f"monitor did not start: {p.communicate()}")
    first = p.stdout.readline()
    assert first.startswith("--- monitoring place p1 (rfc2217://127.0.0.1:"), first
    return p


def _finish(p, timeout: float = 30):
    try:
        return p.communicate(timeout=timeout)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_monitor_when_the_board_vanishes(farm):
    p = _monitor_process(farm)
    farm.stop_exporter("lab1")
    out, err = _finish(p)
    assert p.returncode == 2, err
    lines = error_lines(err)
    assert len(lines) == 1 and "place p1" in lines[0] and "exporter lab1" in lines[0], err
    assert "--- " in out                                     # the summary
    assert farm.holder("p1") is None and not farm.ser2net_pids()


def test_monitor_ctrl_c_releases_the_place(farm):
    p = _monitor_process(farm)
    p.send_signal(signal.SIGINT)
    out, err = _finish(p)
    assert p.returncode == 0 and not error_lines(err), err
    assert "released place p1" in err and "0 inference results" in out
    assert farm.holder("p1") is None
