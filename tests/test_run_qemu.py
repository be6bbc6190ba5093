"""Generated firmware projects on the emulated boards: built with their own Makefile, run in
QEMU, and read over the serial port with pyserial. The banner and the self-test output must
equal the emulator's; the serial protocol serves inference, per-layer cycles and outputs."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import serial

from tests.support.fwprojects import (ALL_MODELS, EXAMPLE, HAVE_ARM_GCC, HAVE_QEMU, OTHER_QEMU_BOARDS, QEMU_BOARDS,
                                      RISCV_BOARD, model_file, obj_cache)  # noqa: F401 (fixture)
from tinygen.boards.catalog import load_board
from tinygen.cli import main
from tinygen.device.selftest import compare_selftest, selftest_qemu
from tinygen.emulator.engine import Emulator
from tinygen.boards.firmware_build import memory_usage
from tinygen.boards.project import write_project
from tinygen.device.protocol import Client, ProtocolError
from tinygen.boards.qemu import QemuSession, read_line
from tinygen.model.reader import load_int8_model

pytestmark = [pytest.mark.qemu,
              pytest.mark.skipif(not (HAVE_ARM_GCC and HAVE_QEMU), reason="needs arm-none-eabi-gcc and qemu-system-arm")]


@pytest.fixture(scope="module")
def graphs(zoo):
    return {name: load_int8_model(model_file(zoo, name)) for name in ALL_MODELS}


_BUILT: dict = {}


@pytest.fixture(scope="module")
def build_root(tmp_path_factory):
    return tmp_path_factory.mktemp("projects")


def built(graph, board, path, obj_cache, *make_args):
    """The project of `graph` on `board`, generated and built with make. Default builds are
    shared by the tests of this module (they do not modify the project); `path` is used
    for the first one."""
    key = (graph.sha256, graph.name, board)
    if not make_args and key in _BUILT and _BUILT[key].firmware.is_file():
        return _BUILT[key]
    proj = write_project(graph, board, path)
    obj_cache.make(proj.path, board, *make_args)
    if not make_args:
        _BUILT[key] = proj
    return proj


@pytest.mark.parametrize("board,name", [(b, n) for b in QEMU_BOARDS for n in ALL_MODELS] + [
    pytest.param(b, n, marks=[] if n == "kws_micro" else [pytest.mark.slow])
    for b in OTHER_QEMU_BOARDS for n in ALL_MODELS] + [
    pytest.param("qemu-riscv32", "kws_micro", marks=RISCV_BOARD.marks)])
def test_selftest_in_qemu_equals_emulator(name, board, graphs, build_root, obj_cache):
    g = graphs[name]
    proj = built(g, board, build_root / f"{name}-{board}", obj_cache)
    with QemuSession(board, proj.firmware) as q:
        banner = json.loads(read_line(q.serial, 10))
        selftest = json.loads(read_line(q.serial, 60))["selftest"]
    m = proj.manifest
    assert banner["model"] == g.name and banner["sha256"] == g.sha256[:16] and banner["board"] == board
    assert banner["tinygen"] and banner["arena_bytes"] == m["arena_bytes"] and banner["layers"] == len(g.operators)
    assert banner["clock_hz"] == load_board(board).clock_hz
    assert [i["shape"] for i in banner["inputs"]] == [list(t.shape) for t in g.input_tensors]
    assert [o["zero_point"] for o in banner["outputs"]] == [t.zero_point if t.quant else 0 for t in g.output_tensors]
    assert selftest["status"] == 0 and selftest["cycles"] > 0 and 0 < selftest["stack_used"] < banner["stack_bytes"]
    assert compare_selftest(selftest, m["expected"]) == []     # expected = the emulator's outputs
    for got, exp in zip(selftest["outputs"], m["expected"]["outputs"]):
        assert got.get("values") == exp.get("values") and got.get("hex") == exp.get("hex")
    # the fit estimate is conservative: the real image is no bigger
    use = memory_usage(proj.firmware)
    fit = m["fit"]
    extra = m["capture_bytes"] + m["capture_input_bytes"]
    assert use.flash <= fit["flash"]["needed"]
    assert use.ram + load_board(board).stack_size <= fit["ram"]["needed"] + extra


@pytest.mark.parametrize("board", QEMU_BOARDS + OTHER_QEMU_BOARDS + [RISCV_BOARD])
def test_protocol_inference_profile_and_every_layer(board, graphs, build_root, obj_cache):
    g = graphs["kws_micro"]
    proj = built(g, board, build_root / f"kws_micro-{board}", obj_cache)
    emu = Emulator(g)
    rng = np.random.default_rng(5)
    with QemuSession(board, proj.firmware) as q:
        texts = []
        client = Client(q.serial, on_text=texts.append, expected_sha256=g.sha256)
        client.sync(timeout=10)
        info = client.info()
        assert (info.model_name, info.board_name, info.num_layers) == (g.name, board, len(g.operators))
        assert info.arena_bytes == proj.manifest["arena_bytes"] and info.sha256_hex == g.sha256
        assert info.inputs[0].shape == tuple(g.input_tensors[0].shape) and info.inputs[0].dtype_name == "int8"
        assert [json.loads(t).keys() for t in texts][:2] and "selftest" in texts[1]
        for _ in range(2):
            x = rng.integers(-128, 128, g.input_tensors[0].shape, dtype=np.int8)
            out, cycles = client.infer(x.tobytes())
            y, layers = emu.run(x, layers=True)
            assert np.frombuffer(out, np.int8).tolist() == np.asarray(y).reshape(-1).tolist()
            prof = client.profile()
            assert len(prof) == len(g.operators) and all(c > 0 for c in prof) and sum(prof) <= cycles
            for lo in layers:          # in place or captured by re-running: every layer is readable
                data = client.layer(lo.op_index)
                assert np.frombuffer(data, np.int8).tolist() == lo.value.reshape(-1).tolist(), lo.op
        assert proj.manifest["layer_outputs"] == "every layer"


def test_layers_without_capture_room_are_unavailable(graphs, build_root, obj_cache):
    """mobilenet on the 128 KB STM32F4: no RAM to re-run-capture layers whose arena bytes get
    reused; those read as UNAVAILABLE, the kept ones (the last ones) match the emulator."""
    g = graphs["mobilenet_v1_025_vww"]
    proj = built(g, "qemu-stm32f4", build_root / "mobilenet_v1_025_vww-qemu-stm32f4", obj_cache)
    assert proj.manifest["capture_bytes"] == 0 and "no RAM" in proj.manifest["layer_outputs"]
    kept = [k for k, lay in enumerate(proj.manifest["layers"]) if lay["kept"]]
    lost = [k for k, lay in enumerate(proj.manifest["layers"]) if not lay["kept"]]
    assert kept and lost
    x = np.random.default_rng(2).integers(-128, 128, g.input_tensors[0].shape, dtype=np.int8)
    y, layers = Emulator(g).run(x, layers=True)
    with QemuSession("qemu-stm32f4", proj.firmware) as q:
        client = Client(q.serial)
        client.sync(timeout=10)
        out, _ = client.infer(x.tobytes())
        assert np.frombuffer(out, np.int8).tolist() == np.asarray(y).reshape(-1).tolist()
        with pytest.raises(ProtocolError) as ei:
            client.layer(lost[0])
        assert ei.value.code_name == "UNAVAILABLE"
        k = kept[-1]
        assert np.frombuffer(client.layer(k), np.int8).tolist() == layers[k].value.reshape(-1).tolist()


EXIT_AFTER_SELFTEST = "EXTRA_CFLAGS=-DTG_FW_EXIT_AFTER_SELFTEST"


def test_exit_after_selftest_switch(graphs, tmp_path, obj_cache):
    """-DTG_FW_EXIT_AFTER_SELFTEST: QEMU exits through semihosting right after the self-test line."""
    g = graphs["kws_micro"]
    proj = write_project(g, "qemu-stm32f4", tmp_path / "p")
    obj_cache.make(proj.path, "qemu-stm32f4", EXIT_AFTER_SELFTEST)
    with QemuSession("qemu-stm32f4", proj.firmware) as q:
        out, status = q.read_to_exit(30)
    lines = out.decode().splitlines()
    assert status == 0 and len(lines) == 2 and json.loads(lines[0])["model"] == g.name
    assert compare_selftest(json.loads(lines[1])["selftest"], proj.manifest["expected"]) == []


def test_exit_on_reset_switch(graphs, tmp_path, obj_cache):
    """-DTG_FW_EXIT_ON_RESET: the protocol's RESET exits (status 0) instead of rebooting."""
    proj = write_project(graphs["kws_micro"], "qemu-cortex-m4", tmp_path / "p")
    obj_cache.make(proj.path, "qemu-cortex-m4", "EXTRA_CFLAGS=-DTG_FW_EXIT_ON_RESET")
    with QemuSession("qemu-cortex-m4", proj.firmware) as q:
        client = Client(q.serial)
        client.sync(timeout=10)
        client.ping(b"hi")
        with pytest.raises(Exception):
            client.reset(timeout=3)
        assert q.wait(10) == 0


@pytest.mark.parametrize("board", ["qemu-cortex-m4", RISCV_BOARD])
def test_protocol_reset_reboots_the_firmware(board, graphs, build_root, obj_cache):
    """Default build: RESET is a real system reset (SYSRESETREQ; on RISC-V virt the SiFive test
    device's reset); the firmware boots again and prints its banner and self-test again."""
    proj = built(graphs["kws_micro"], board, build_root / f"kws_micro-{board}", obj_cache)
    with QemuSession(board, proj.firmware) as q:
        texts = []
        client = Client(q.serial, on_text=texts.append)
        client.sync(timeout=10)
        boot = client.reset(timeout=10)
        assert boot["model"] == "kws_micro" and q.returncode is None
        client.sync(timeout=10)
        assert sum('"selftest"' in t for t in texts) == 2


# ------------------------------------------------------------------ CLI: run, flash

def test_run_cli_on_emulated_board(tmp_path, capsys):
    rc = main(["run", str(EXAMPLE), "--board", "qemu-stm32f4", "-o", str(tmp_path / "p"), "--json"])
    captured = capsys.readouterr()
    res = json.loads(captured.out)
    assert rc == 0 and res["ok"] and res["mismatches"] == [] and res["board"] == "qemu-stm32f4"
    assert res["banner"]["model"] == "kws_micro" and res["selftest"]["cycles"] > 0
    assert res["build"]["flash_used"] > 0 and set(res["timings"]) == {"generate", "build", "run"}
    assert "building" in captured.err and "running" in captured.err        # progress on stderr
    assert (tmp_path / "p" / "build" / "kws_micro.elf").is_file()


def test_run_cli_reports_a_mismatch(tmp_path, capsys, monkeypatch):
    import tinygen.boards.project as project

    real = project.expected_selftest

    def wrong(graph, seed=project.TEST_SEED):
        exp = real(graph, seed)
        exp["outputs"][0]["values"][0] ^= 1
        exp["outputs"][0]["crc32"] = "0x00000000"
        return exp

    monkeypatch.setattr(project, "expected_selftest", wrong)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    rc = main(["run", str(EXAMPLE), "--board", "qemu-cortex-m4"])          # in a temporary project
    captured = capsys.readouterr()
    assert rc == 1 and "differs from the emulator" in captured.err and "first at [0]" in captured.err
    out = captured.out.splitlines()
    assert out[0].startswith("kws_micro (sha256 7c97bf49cb3c2b38) on qemu-cortex-m4, tinygen firmware ")
    assert out[1] == "output 0: [-128, -128, -128, 127]" and out[2].endswith(" instructions (QEMU -icount)")
    assert out[3].startswith("build flash ") and out[4].startswith("times: generate ")
    assert not any("match:" in ln for ln in out)
    assert list(tmp_path.iterdir()) == []                                  # temporary project removed


def _tinygen(*args):
    return subprocess.Popen([sys.executable, "-m", "tinygen.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_flash_cli_serves_qemu_until_the_firmware_exits(graphs, tmp_path, obj_cache):
    proj = write_project(graphs["kws_micro"], "qemu-stm32f4", tmp_path / "p")
    obj_cache.make(proj.path, "qemu-stm32f4", EXIT_AFTER_SELFTEST)
    p = _tinygen("flash", str(proj.path))
    try:
        url = p.stdout.readline().strip()
        assert url.startswith("socket://127.0.0.1:")
        ser = serial.serial_for_url(url, timeout=0.05)
        banner = json.loads(read_line(ser, 10))
        selftest = json.loads(read_line(ser, 30))["selftest"]
        assert banner["board"] == "qemu-stm32f4"
        assert compare_selftest(selftest, proj.manifest["expected"]) == []
        assert p.wait(20) == 0
        assert "firmware exited with status 0" in p.stderr.read()
        ser.close()
    finally:
        if p.poll() is None:
            p.kill()


def test_flash_cli_on_a_given_port_stops_on_ctrl_c(graphs, build_root, obj_cache):
    from tinygen.boards.qemu import free_tcp_port

    proj = built(graphs["kws_micro"], "qemu-cortex-m4", build_root / "kws_micro-qemu-cortex-m4", obj_cache)
    port = free_tcp_port()
    p = _tinygen("flash", str(proj.path), "--port", str(port))
    try:
        assert p.stdout.readline().strip() == f"socket://127.0.0.1:{port}"
        with serial.serial_for_url(f"socket://127.0.0.1:{port}", timeout=0.05) as ser:
            assert json.loads(read_line(ser, 10))["model"] == "kws_micro"
            client = Client(ser)
            client.sync(timeout=10)
            p.send_signal(signal.SIGINT)
            assert p.wait(10) == 130
        assert p.stderr.read().strip().splitlines()[-1] == "tinygen: aborted"
        time.sleep(0.2)
        from tests.support.faultproxy import port_listened

        assert not port_listened(port)    # QEMU is gone with it
    finally:
        if p.poll() is None:
            p.kill()


def test_flash_cli_busy_tcp_port(graphs, build_root, obj_cache, capsys):
    import socket

    proj = built(graphs["kws_micro"], "qemu-stm32f4", build_root / "kws_micro-qemu-stm32f4", obj_cache)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        rc = main(["flash", str(proj.path), "--port", str(port)])
    err = capsys.readouterr().err
    assert rc == 2 and err.strip().splitlines()[-1] == f"tinygen: error: TCP port {port} is busy; pick another with --port"


def test_flash_cli_needs_a_build(graphs, tmp_path, capsys):
    write_project(graphs["kws_micro"], "qemu-stm32f4", tmp_path / "p")
    rc = main(["flash", str(tmp_path / "p")])
    err = capsys.readouterr().err
    assert rc == 2 and "not found: build it first (tinygen build" in err


def test_selftest_qemu_helper(graphs, build_root, obj_cache):
    proj = built(graphs["add_mul"], "qemu-cortex-m4", build_root / "add_mul-qemu-cortex-m4", obj_cache)
    res = selftest_qemu(proj)
    assert res.ok and res.banner["model"] == "add_mul" and res.as_dict()["ok"]
    assert os.path.isfile(proj.firmware)


def two_input_model() -> bytes:
    from tests.support.opmodels import ModelBuilder

    m = ModelBuilder()
    a = m.tensor([1, 4, 4, 3], scale=0.1, zero_point=-5, name="a")
    b = m.tensor([1, 4, 4, 3], scale=0.2, zero_point=3, name="b")
    s = m.tensor([1, 4, 4, 3], scale=0.25, zero_point=-1, name="sum")
    y = m.tensor([1, 4, 4, 3], scale=0.3, zero_point=2, name="out")
    m.op("ADD", [a, b], [s], fused_activation_function="NONE")
    m.op("MUL", [s, b], [y], fused_activation_function="RELU")
    return m.build([a, b], [y], description="two inputs")


def test_two_input_model(tmp_path, obj_cache):
    """Input k of the self-test is the LCG stream from seed + k; the protocol feeds both inputs."""
    from tinygen.model.reader import parse_model

    g = parse_model(two_input_model(), name="two_inputs")
    proj = built(g, "qemu-cortex-m4", tmp_path / "p", obj_cache)
    assert len(proj.manifest["expected"]["inputs"]) == 2
    rng = np.random.default_rng(3)
    xs = [rng.integers(-128, 128, (1, 4, 4, 3), dtype=np.int8) for _ in range(2)]
    with QemuSession("qemu-cortex-m4", proj.firmware) as q:
        texts = []
        client = Client(q.serial, on_text=texts.append)
        client.sync(timeout=10)
        outs, _ = client.run([x.tobytes() for x in xs])
    assert compare_selftest(json.loads(texts[1])["selftest"], proj.manifest["expected"]) == []
    y = Emulator(g).run(*xs)
    assert np.frombuffer(outs[0], np.int8).tolist() == np.asarray(y).reshape(-1).tolist()


def test_session_on_a_raced_port_reads_its_own_qemu(graphs, build_root, obj_cache, monkeypatch):
    """Two sessions that draw the same TCP port (free_tcp_port's race with QEMU's bind, seen once as a
    banner read from the middle of another test's output under parallel load): the session whose QEMU
    loses the bind must not connect to the winner's QEMU; it retries on another port and reads its own
    firmware, and the winner's session is undisturbed."""
    import tinygen.boards.qemu as qemu_mod

    proj_a = built(graphs["kws_micro"], "qemu-cortex-m4", build_root / "kws_micro-qemu-cortex-m4", obj_cache)
    proj_b = built(graphs["mean"], "qemu-cortex-m4", build_root / "mean-qemu-cortex-m4", obj_cache)
    with QemuSession("qemu-cortex-m4", proj_a.firmware) as a:
        drawn = [a.port]
        real = qemu_mod.free_tcp_port
        monkeypatch.setattr(qemu_mod, "free_tcp_port", lambda: drawn.pop() if drawn else real())
        with QemuSession("qemu-cortex-m4", proj_b.firmware) as b:
            assert b.port != a.port
            assert json.loads(read_line(b.serial, 10))["model"] == "mean"
        assert json.loads(read_line(a.serial, 10))["model"] == "kws_micro"
