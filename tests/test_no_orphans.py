"""No orphans: `tinygen flash`, `run`, `validate` and `monitor` on an emulated board stop the QEMU
they started when they get SIGTERM or SIGHUP, as on Ctrl-C (issue 16). Each command runs as a
real process; the test waits until its QEMU child is up, sends the signal, and checks that the
command ends and that QEMU is gone."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
KWS = ROOT / "examples" / "kws_micro.tflite"
BOARD = "qemu-cortex-m4"

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")),
                       reason="needs arm-none-eabi-gcc and qemu-system-arm"),
]


def _children(pid: int) -> list[int]:
    kids = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            kids += [int(x) for x in (task / "children").read_text().split()]
    except (FileNotFoundError, ProcessLookupError):
        pass
    return kids


def _qemu_child(pid: int, timeout: float = 60.0) -> int | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for kid in _children(pid):
            try:
                if b"qemu-system-arm" in Path(f"/proc/{kid}/cmdline").read_bytes():
                    return kid
            except FileNotFoundError:
                continue
        time.sleep(0.01)
    return None


def _gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return True
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def project():
    """The example model's emulated firmware, built once (the cache validate also uses)."""
    from tinygen.device.target import ensure_emulated_firmware
    from tinygen.model.reader import load_int8_model

    elf = ensure_emulated_firmware(load_int8_model(KWS), BOARD)
    return elf.parent.parent          # <project>/build/NAME.elf


def _tinygen(*args) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.Popen([sys.executable, "-m", "tinygen.cli", *map(str, args)], cwd=ROOT, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


CASES = [
    pytest.param("flash", signal.SIGTERM, None, id="flash-SIGTERM"),
    pytest.param("flash", signal.SIGHUP, None, id="flash-SIGHUP"),
    pytest.param("validate", signal.SIGTERM, 0.5, id="validate-SIGTERM"),
    pytest.param("validate", signal.SIGHUP, 0.5, id="validate-SIGHUP"),
    pytest.param("monitor", signal.SIGTERM, 0.5, id="monitor-SIGTERM"),
    pytest.param("monitor", signal.SIGHUP, 0.5, id="monitor-SIGHUP"),
    pytest.param("run", signal.SIGTERM, None, id="run-SIGTERM", marks=pytest.mark.slow),   # generates + builds: ~25 s
]


@pytest.mark.parametrize("command, sig, settle", CASES)
def test_signal_stops_the_qemu_the_command_started(project, tmp_path, command, sig, settle):
    args = {
        "flash": ["flash", project],
        "validate": ["validate", KWS, "--board", BOARD, "--samples", "100000", "-q"],
        "monitor": ["monitor", "--board", BOARD, "--model", KWS],
        "run": ["run", KWS, "--board", BOARD, "-o", tmp_path / "run"],
    }[command]
    p = _tinygen(*args)
    qemu = None
    try:
        qemu = _qemu_child(p.pid)
        assert qemu is not None, f"no QEMU child: {p.communicate(timeout=30)}"
        if settle:
            time.sleep(settle)             # mid-run: talking to the board
        p.send_signal(sig)
        code = p.wait(30)
        err = p.stderr.read()
        if command == "run" and code == 0:
            pass                            # the run was already over: it stopped QEMU itself
        elif command == "monitor":
            assert code == 0, err           # monitor: a signal ends the watch like Ctrl-C, with a summary
            assert "---" in p.stdout.read()
        else:
            assert code == 128 + sig, err
        assert _gone(qemu), f"QEMU {qemu} still runs after {sig.name} to tinygen {command}"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        if qemu is not None and not _gone(qemu, 0.1):
            os.kill(qemu, signal.SIGKILL)         # never leave one behind, even when the test fails
