"""`tinygen flash DIR --pty`: an emulated board's serial port on a pseudo-terminal that any
program opens by path (pyserial `serial.Serial(path, 115200)`), and the one mechanism that
stops child processes on Ctrl-C, SIGTERM and SIGHUP (tinygen.boards.processes)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import serial

from tests.support.fwprojects import EXAMPLE, HAVE_ARM_GCC, HAVE_QEMU, obj_cache  # noqa: F401 (fixture)
from tinygen.boards.processes import stop_on_signals, stop_process
from tinygen.boards.project import write_project
from tinygen.boards.qemu import read_line
from tinygen.cli import main
from tinygen.device.protocol import Client
from tinygen.emulator.engine import Emulator
from tinygen.errors import Terminated
from tinygen.model.reader import load_int8_model

needs_qemu = pytest.mark.skipif(not (HAVE_ARM_GCC and HAVE_QEMU), reason="needs arm-none-eabi-gcc and qemu-system-arm")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def graph():
    return load_int8_model(EXAMPLE)


@pytest.fixture(scope="module")
def project(graph, tmp_path_factory, obj_cache):
    proj = write_project(graph, "qemu-cortex-m4", tmp_path_factory.mktemp("pty") / "kws")
    obj_cache.make(proj.path, "qemu-cortex-m4")
    return proj


def _flash_pty(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "tinygen.cli", "flash", *args, "--pty"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _children(pid: int) -> list[int]:
    kids = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids += [int(x) for x in (task / "children").read_text().split()]
    return kids


def _gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return True
        if stat.rsplit(")", 1)[1].split()[0] == "Z":   # a zombie nobody reaps yet is gone too
            return True
        time.sleep(0.05)
    return False


@needs_qemu
@pytest.mark.parametrize("sig, code, last", [(signal.SIGTERM, 143, "tinygen: stopped by SIGTERM"),
                                             (signal.SIGHUP, 129, "tinygen: stopped by SIGHUP"),
                                             (signal.SIGINT, 130, "tinygen: aborted")])
def test_pty_serves_the_board_until_a_signal_stops_it_and_qemu(graph, project, sig, code, last):
    p = _flash_pty(str(project.path))
    try:
        path = p.stdout.readline().strip()
        assert path.startswith("/dev/pts/") and os.path.exists(path)
        qemu = _children(p.pid)
        assert len(qemu) == 1 and b"qemu-system-arm" in Path(f"/proc/{qemu[0]}/cmdline").read_bytes()
        time.sleep(0.3)                     # the CPU waits for the first open: nothing is lost
        with serial.Serial(path, 115200, timeout=0.05) as ser:
            banner = json.loads(read_line(ser, 10))
            assert banner["model"] == "kws_micro" and banner["board"] == "qemu-cortex-m4"
            Client(ser).sync(timeout=10)
            ser.write(b"\x00garbage that makes the firmware answer")   # replies left unread ...
            time.sleep(0.3)
        with serial.Serial(path, 115200, timeout=0.05) as ser:        # ... are not seen by the next program
            client = Client(ser)
            client.sync(timeout=10)
            x = np.random.default_rng(sig).integers(-128, 128, project.manifest["inputs"][0]["shape"], dtype=np.int8)
            out, _cycles = client.infer(x.tobytes())
            assert out == Emulator(graph).run(x[None]).tobytes()
            p.send_signal(sig)
            assert p.wait(10) == code
        assert p.stderr.read().strip().splitlines()[-1] == last
        assert _gone(qemu[0]), "QEMU still runs"
        assert not os.path.exists(path)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


@needs_qemu
def test_pty_flash_ends_with_the_firmware(graph, tmp_path, obj_cache):
    proj = write_project(graph, "qemu-cortex-m4", tmp_path / "p")
    obj_cache.make(proj.path, "qemu-cortex-m4", "EXTRA_CFLAGS=-DTG_FW_EXIT_AFTER_SELFTEST")
    p = _flash_pty(str(proj.path))
    try:
        path = p.stdout.readline().strip()
        with serial.Serial(path, 115200, timeout=0.05) as ser:
            assert json.loads(read_line(ser, 10))["model"] == "kws_micro"
            assert "selftest" in json.loads(read_line(ser, 30))
            assert p.wait(20) == 0
        assert "firmware exited with status 0" in p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_pty_option_errors(graph, tmp_path, capsys):
    emu = write_project(graph, "qemu-cortex-m4", tmp_path / "emu")
    assert main(["flash", str(emu.path), "--pty", "--port", "4444"]) == 2
    assert capsys.readouterr().err.strip() == "tinygen: error: --pty and --port exclude each other"
    real = write_project(graph, "nucleo-f446re", tmp_path / "real")
    assert main(["flash", str(real.path), "--pty"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tinygen: error: --pty is for emulated boards; nucleo-f446re is a real board")
    assert main(["flash", str(emu.path), "--pty"]) == 2          # not built
    assert "not found: build it first (tinygen build" in capsys.readouterr().err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_stop_on_signals_unwinds_and_restores(sig):
    before = signal.getsignal(sig)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    cleaned = []
    try:
        with pytest.raises(Terminated) as ei:
            with stop_on_signals():
                try:
                    os.kill(os.getpid(), sig)
                    time.sleep(5)          # the handler raises before this ends
                finally:
                    cleaned.append(stop_process(child))
        assert ei.value.signum == sig and ei.value.exit_code == 128 + sig
        assert isinstance(ei.value, KeyboardInterrupt)   # every Ctrl-C cleanup path runs for it too
        assert cleaned == [-signal.SIGTERM] and child.poll() is not None
        assert signal.getsignal(sig) == before
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
