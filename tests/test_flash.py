"""Flashing real boards (tinygen.deploy, `tinygen flash`): the exact argv built for each board and
tool, serial-port detection by USB VID:PID, and the one-line failures (no board, several
candidates, busy port, missing tool). No hardware: list_ports results are faked with
monkeypatch and the tools are fake executables on a fake PATH."""
from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest
import serial

import tinygen.boards.deploy as deploy
import tinygen.device.selftest as selftest
from tests.support.fwprojects import EXAMPLE
from tinygen.boards.catalog import load_board
from tinygen.cli import main
from tinygen.errors import DeviceError, ToolError
from tinygen.boards.project import write_project
from tinygen.model.reader import load_int8_model


@dataclass
class FakePort:
    device: str
    vid: int | None
    pid: int | None
    serial_number: str | None = None
    description: str = "fake"


ST_LINK = dict(vid=0x0483, pid=0x374B)
ST_LINK_V3 = dict(vid=0x0483, pid=0x374E)      # NUCLEO-H743ZI2's STLINK-V3E
NANO = dict(vid=0x2341, pid=0x805A)
CP2102 = dict(vid=0x10C4, pid=0xEA60)


@pytest.fixture(scope="module")
def graph():
    return load_int8_model(EXAMPLE)


@pytest.fixture
def ports(monkeypatch):
    """Set the serial ports the system reports: ports.set(FakePort(...), ...)."""
    from serial.tools import list_ports

    class Ports:
        items: list = []

        def set(self, *items):
            self.items = list(items)

    p = Ports()
    monkeypatch.setattr(list_ports, "comports", lambda *a, **k: list(p.items))
    return p


@pytest.fixture
def fake_path(tmp_path, monkeypatch):
    """PATH with only the fake tools created by fake_path.add(name)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    monkeypatch.setenv("PATH", str(bindir))

    class Bin:
        dir = bindir

        def add(self, name, script="exit 0"):
            exe = bindir / name
            exe.write_text(f"#!/bin/sh\n{script}\n")
            exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
            return str(exe)

    return Bin()


@pytest.fixture
def no_platformio(monkeypatch):
    def missing():
        raise ToolError(f"PlatformIO not found; install it with: {deploy.PIP_PIO}")

    monkeypatch.setattr(deploy, "find_platformio", missing)


@pytest.fixture
def port_free(monkeypatch):
    monkeypatch.setattr(deploy, "check_port_free", lambda port: None)


def project(graph, board, tmp_path):
    return write_project(graph, board, tmp_path / board)


# ------------------------------------------------------------------ argv per board and tool

def test_nucleo_openocd_argv(graph, tmp_path, fake_path):
    proj = project(graph, "nucleo-f446re", tmp_path)
    openocd = fake_path.add("openocd")
    fake_path.add("st-flash")
    elf = proj.path / "build" / "kws_micro.elf"
    assert deploy.flash_command(proj, FakePort("/dev/ttyACM0", **ST_LINK)) == [
        openocd, "-f", "interface/stlink.cfg", "-f", "target/stm32f4x.cfg",
        "-c", f"program {elf} verify reset exit"]
    # a known probe serial number selects that ST-Link
    assert deploy.flash_command(proj, FakePort("/dev/ttyACM1", serial_number="0671FF485550", **ST_LINK)) == [
        openocd, "-f", "interface/stlink.cfg", "-f", "target/stm32f4x.cfg",
        "-c", "adapter serial 0671FF485550", "-c", f"program {elf} verify reset exit"]


def test_nucleo_st_flash_argv_when_no_openocd(graph, tmp_path, fake_path):
    proj = project(graph, "nucleo-f446re", tmp_path)
    st_flash = fake_path.add("st-flash")
    binary = proj.path / "build" / "kws_micro.bin"
    assert deploy.flash_command(proj, FakePort("/dev/ttyACM0", serial_number="066", **ST_LINK)) == [
        st_flash, "--serial", "066", "--reset", "write", str(binary), "0x08000000"]


def test_nucleo_no_tool(graph, tmp_path, fake_path):
    proj = project(graph, "nucleo-f446re", tmp_path)
    with pytest.raises(ToolError) as ei:
        deploy.flash_command(proj, FakePort("/dev/ttyACM0", **ST_LINK))
    assert str(ei.value) == ("neither openocd nor st-flash found; install one with: sudo apt-get install openocd "
                             "(or sudo apt-get install stlink-tools)")


def test_nucleo_h743zi2_openocd_and_st_flash_argv(graph, tmp_path, fake_path):
    proj = project(graph, "nucleo-h743zi2", tmp_path)
    st_flash = fake_path.add("st-flash")
    elf = proj.path / "build" / "kws_micro.elf"
    assert deploy.flash_command(proj, FakePort("/dev/ttyACM0", serial_number="003A", **ST_LINK_V3)) == [
        st_flash, "--serial", "003A", "--reset", "write", str(elf.with_suffix(".bin")), "0x08000000"]
    openocd = fake_path.add("openocd")
    assert deploy.flash_command(proj, FakePort("/dev/ttyACM0", **ST_LINK_V3)) == [
        openocd, "-f", "interface/stlink.cfg", "-f", "target/stm32h7x.cfg",
        "-c", f"program {elf} verify reset exit"]
    assert "openocd -f interface/stlink.cfg -f target/stm32h7x.cfg" in (
        (proj.path / "Makefile").read_text().replace("$(OPENOCD)", "openocd"))


def test_flash_cli_nucleo_h743zi2_no_board_no_tool(graph, tmp_path, fake_path, ports, port_free, capsys):
    proj = project(graph, "nucleo-h743zi2", tmp_path)
    ports.set(FakePort("/dev/ttyACM0", **ST_LINK))                   # an F446RE's ST-Link V2-1 is not it
    assert main(["flash", str(proj.path)]) == 2
    assert capsys.readouterr().err == ("tinygen: error: no ST NUCLEO-H743ZI2 found: no serial port with USB ID "
                                       "0483:374E; connect the board (data cable) or pass --port\n")
    ports.set(FakePort("/dev/ttyACM1", **ST_LINK_V3))
    (proj.path / "build").mkdir()
    proj.firmware.write_bytes(b"\x7fELF")
    assert main(["flash", str(proj.path)]) == 2
    assert capsys.readouterr().err == ("tinygen: error: neither openocd nor st-flash found; install one with: "
                                       "sudo apt-get install openocd (or sudo apt-get install stlink-tools)\n")


@pytest.mark.parametrize("board", ["nano33ble", "esp32-devkitc", "esp32-c3-devkitm-1", "esp32-s3-devkitc-1"])
def test_platformio_upload_argv(board, graph, tmp_path, fake_path):
    proj = project(graph, board, tmp_path)
    pio = fake_path.add("pio")
    assert deploy.flash_command(proj, FakePort("/dev/ttyACM3", **NANO)) == [
        pio, "run", "-d", str(proj.path), "-t", "upload", "--upload-port", "/dev/ttyACM3"]


def test_platformio_from_the_python_module(graph, tmp_path, fake_path):
    """No `pio` on PATH: PlatformIO's module in this Python (the `pio` extra) is used."""
    import importlib.util
    import sys

    if importlib.util.find_spec("platformio") is None:
        pytest.skip("platformio not installed")
    proj = project(graph, "nano33ble", tmp_path)
    assert deploy.flash_command(proj, FakePort("/dev/ttyACM0", **NANO))[:4] == [
        sys.executable, "-m", "platformio", "run"]


def _fake_esp32_build(proj):
    build = proj.path / ".pio" / "build" / proj.board.id
    build.mkdir(parents=True)
    for f in ("firmware.bin", "bootloader.bin", "partitions.bin"):
        (build / f).write_bytes(b"\xe9fake")
    return build


def test_esp32_esptool_argv_without_platformio(graph, tmp_path, fake_path, no_platformio, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))          # no boot_app0.bin from a PlatformIO install
    proj = project(graph, "esp32-devkitc", tmp_path)
    esptool = fake_path.add("esptool")
    build = _fake_esp32_build(proj)
    assert deploy.flash_command(proj, FakePort("/dev/ttyUSB0", **CP2102)) == [
        esptool, "--chip", "esp32", "--port", "/dev/ttyUSB0", "--baud", "460800", "--before", "default_reset",
        "--after", "hard_reset", "write_flash", "-z", "--flash_mode", "dio", "--flash_freq", "40m",
        "--flash_size", "detect", "0x1000", str(build / "bootloader.bin"), "0x8000", str(build / "partitions.bin"),
        "0x10000", str(build / "firmware.bin")]
    app0 = tmp_path / "home" / ".platformio" / "packages" / "framework-arduinoespressif32" / "tools" / "partitions"
    app0.mkdir(parents=True)
    (app0 / "boot_app0.bin").write_bytes(b"\x00")
    argv = deploy.flash_command(proj, FakePort("/dev/ttyUSB0", **CP2102))
    assert argv[argv.index("0xe000") + 1] == str(app0 / "boot_app0.bin")


@pytest.mark.parametrize("board,chip", [("esp32-c3-devkitm-1", "esp32c3"), ("esp32-s3-devkitc-1", "esp32s3")])
def test_esp32_c3_s3_esptool_chip_and_bootloader_at_0(board, chip, graph, tmp_path, fake_path, no_platformio,
                                                      monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    proj = project(graph, board, tmp_path)
    esptool = fake_path.add("esptool")
    build = _fake_esp32_build(proj)
    argv = deploy.flash_command(proj, FakePort("/dev/ttyUSB0", **CP2102))
    assert argv[:5] == [esptool, "--chip", chip, "--port", "/dev/ttyUSB0"]
    assert argv[-6:] == ["0x0", str(build / "bootloader.bin"), "0x8000", str(build / "partitions.bin"),
                         "0x10000", str(build / "firmware.bin")]


def test_esp32_esptool_needs_a_build(graph, tmp_path, fake_path, no_platformio):
    proj = project(graph, "esp32-devkitc", tmp_path)
    fake_path.add("esptool")
    with pytest.raises(ToolError, match="firmware.bin not found: build the project first"):
        deploy.flash_command(proj, FakePort("/dev/ttyUSB0", **CP2102))


def test_esp32_no_tool(graph, tmp_path, fake_path, no_platformio, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "esptool" else real(n, *a))
    proj = project(graph, "esp32-devkitc", tmp_path)
    with pytest.raises(ToolError) as ei:
        deploy.flash_command(proj, FakePort("/dev/ttyUSB0", **CP2102))
    assert str(ei.value) == ("neither PlatformIO nor esptool found; install one with: pip install platformio "
                             "(or pip install esptool)")


def test_nano33ble_no_platformio(graph, tmp_path, fake_path, no_platformio):
    proj = project(graph, "nano33ble", tmp_path)
    with pytest.raises(ToolError, match="^PlatformIO not found; install it with: pip install platformio$"):
        deploy.flash_command(proj, FakePort("/dev/ttyACM0", **NANO))


# ------------------------------------------------------------------ port detection

def test_pick_port_by_vid_pid(ports):
    board = load_board("nucleo-f446re")
    ports.set(FakePort("/dev/ttyS0", None, None), FakePort("/dev/ttyACM0", **NANO),
              FakePort("/dev/ttyACM1", serial_number="066", **ST_LINK))
    assert deploy.pick_port(board).device == "/dev/ttyACM1"
    assert deploy.pick_port(board).serial_number == "066"
    assert deploy.pick_port(load_board("nano33ble")).device == "/dev/ttyACM0"


def test_pick_port_no_board(ports):
    ports.set(FakePort("/dev/ttyS0", None, None), FakePort("/dev/ttyUSB0", **CP2102))
    with pytest.raises(DeviceError) as ei:
        deploy.pick_port(load_board("nucleo-f446re"))
    assert str(ei.value) == ("no ST NUCLEO-F446RE found: no serial port with USB ID 0483:374B; "
                             "connect the board (data cable) or pass --port")


def test_pick_port_several_candidates(ports):
    ports.set(FakePort("/dev/ttyUSB1", **CP2102), FakePort("/dev/ttyUSB0", **CP2102))
    with pytest.raises(DeviceError) as ei:
        deploy.pick_port(load_board("esp32-devkitc"))
    assert str(ei.value) == ("several Espressif ESP32-DevKitC candidates (/dev/ttyUSB0, /dev/ttyUSB1); "
                             "pick one with --port")


def test_pick_port_explicit(ports, tmp_path):
    board = load_board("esp32-devkitc")
    ports.set(FakePort("/dev/ttyUSB1", serial_number="AB", **CP2102), FakePort("/dev/ttyUSB0", **CP2102))
    assert deploy.pick_port(board, "/dev/ttyUSB1").serial_number == "AB"       # several, but chosen
    other = tmp_path / "ttyFAKE"
    other.write_text("")
    assert deploy.pick_port(board, str(other)).device == str(other)           # not in the list but exists
    with pytest.raises(DeviceError, match="^serial port /dev/ttyNOPE9 does not exist$"):
        deploy.pick_port(board, "/dev/ttyNOPE9")


@pytest.mark.parametrize("exc,message", [
    (serial.SerialException(errno.EBUSY, "could not open port /dev/ttyACM0: [Errno 16] Device or resource busy"),
     "serial port /dev/ttyACM0 is busy (open in another program, e.g. a serial monitor?)"),
    (serial.SerialException("Could not exclusively lock port /dev/ttyACM0: [Errno 11] Resource temporarily unavailable"),
     "serial port /dev/ttyACM0 is busy (open in another program, e.g. a serial monitor?)"),
    (serial.SerialException(errno.EACCES, "could not open port /dev/ttyACM0: [Errno 13] Permission denied"),
     "no permission to open /dev/ttyACM0; add yourself to the 'dialout' group (sudo usermod -aG dialout $USER, "
     "then log in again)"),
])
def test_busy_or_forbidden_port(monkeypatch, exc, message):
    def fail(self):
        raise exc

    monkeypatch.setattr(serial.Serial, "open", fail)
    with pytest.raises(DeviceError) as ei:
        deploy.check_port_free("/dev/ttyACM0")
    assert str(ei.value) == message


def test_free_port_check_on_a_pty():
    import pty

    master, slave = pty.openpty()
    try:
        deploy.check_port_free(os.ttyname(slave))
    finally:
        os.close(master)
        os.close(slave)


# ------------------------------------------------------------------ flash_real and the CLI

def test_flash_real_runs_the_tool(graph, tmp_path, fake_path, ports, port_free):
    proj = project(graph, "nucleo-f446re", tmp_path)
    (proj.path / "build").mkdir()
    proj.firmware.write_bytes(b"\x7fELF")
    log = tmp_path / "argv.txt"
    fake_path.add("openocd", f'printf "%s\\n" "$@" > {log}')
    ports.set(FakePort("/dev/ttyACM0", serial_number="S1", **ST_LINK))
    assert deploy.flash_real(proj) == "/dev/ttyACM0"
    assert log.read_text().splitlines() == ["-f", "interface/stlink.cfg", "-f", "target/stm32f4x.cfg", "-c",
                                            "adapter serial S1", "-c", f"program {proj.firmware} verify reset exit"]


def test_flash_real_tool_failure_is_one_line(graph, tmp_path, fake_path, ports, port_free):
    proj = project(graph, "nucleo-f446re", tmp_path)
    (proj.path / "build").mkdir()
    proj.firmware.write_bytes(b"\x7fELF")
    fake_path.add("openocd", 'echo "Open On-Chip Debugger 0.12.0"; echo "Error: open failed" >&2; exit 1')
    ports.set(FakePort("/dev/ttyACM0", **ST_LINK))
    with pytest.raises(ToolError) as ei:
        deploy.flash_real(proj)
    assert str(ei.value) == "flashing failed (openocd exit 1): Error: open failed"


def test_flash_cli_no_board(graph, tmp_path, fake_path, ports, capsys):
    proj = project(graph, "nucleo-f446re", tmp_path)
    fake_path.add("openocd")
    ports.set()
    rc = main(["flash", str(proj.path)])
    err = capsys.readouterr().err
    assert rc == 2 and err == ("tinygen: error: no ST NUCLEO-F446RE found: no serial port with USB ID 0483:374B; "
                               "connect the board (data cable) or pass --port\n")


def test_flash_cli_missing_tool(graph, tmp_path, fake_path, ports, port_free, capsys, no_platformio):
    proj = project(graph, "nano33ble", tmp_path)
    ports.set(FakePort("/dev/ttyACM0", **NANO))
    rc = main(["flash", str(proj.path)])
    err = capsys.readouterr().err
    assert rc == 2 and err == "tinygen: error: PlatformIO not found; install it with: pip install platformio\n"


def test_flash_cli_nucleo_needs_a_build(graph, tmp_path, fake_path, ports, port_free, capsys):
    proj = project(graph, "nucleo-f446re", tmp_path)
    fake_path.add("openocd")
    ports.set(FakePort("/dev/ttyACM0", **ST_LINK))
    rc = main(["flash", str(proj.path)])
    err = capsys.readouterr().err
    assert rc == 2 and "kws_micro.elf not found: build it first (tinygen build" in err and err.count("\n") == 1


def test_flash_cli_success_prints_the_port(graph, tmp_path, fake_path, ports, port_free, capsys):
    proj = project(graph, "esp32-devkitc", tmp_path)
    fake_path.add("pio")
    ports.set(FakePort("/dev/ttyUSB0", **CP2102))
    rc = main(["flash", str(proj.path)])
    out = capsys.readouterr().out
    assert rc == 0 and out == "flashed firmware.bin to Espressif ESP32-DevKitC; serial port /dev/ttyUSB0 (115200 baud)\n"


def test_flash_cli_not_a_project(tmp_path, capsys):
    rc = main(["flash", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and "not a tinygen project" in err


def test_emulated_board_port_must_be_a_number(graph, tmp_path, capsys):
    proj = project(graph, "qemu-stm32f4", tmp_path)
    rc = main(["flash", str(proj.path), "--port", "/dev/ttyACM0"])
    err = capsys.readouterr().err
    assert rc == 2 and "give a TCP port number for an emulated board" in err


# ------------------------------------------------------------------ self-test over a real serial port

def test_selftest_serial_reads_banner_after_reset(graph, tmp_path, monkeypatch):
    """selftest_serial() sends a protocol RESET and parses the banner and self-test lines the
    board prints when it boots again (here: a fake board on a pty)."""
    import json
    import pty
    import threading

    from tinygen.device.link import FrameReader
    from tinygen.device.protocol import CMD_RESET

    proj = project(graph, "nucleo-f446re", tmp_path)
    master, slave = pty.openpty()
    exp = proj.manifest["expected"]
    lines = [json.dumps({"tinygen": "0.1.0", "model": "kws_micro", "sha256": graph.sha256[:16],
                         "board": "nucleo-f446re"}),
             json.dumps({"selftest": {"seed": exp["seed"], "inputs": exp["inputs"], "status": 0, "cycles": 123,
                                      "outputs": exp["outputs"]}})]

    def board():
        reader = FrameReader()
        while True:
            data = os.read(master, 256)
            frames = [e for e in reader.feed(data) if getattr(e, "cmd", None) == CMD_RESET]
            if frames:
                os.write(master, b"\x00garbage\x00" + "\n".join(lines).encode() + b"\n")
                return

    t = threading.Thread(target=board, daemon=True)
    t.start()
    try:
        res = selftest.selftest_serial(proj, os.ttyname(slave), timeout=10)
    finally:
        os.close(master)
        os.close(slave)
    assert res.ok and res.selftest["cycles"] == 123 and res.banner["board"] == "nucleo-f446re"


def test_run_cli_fails_fast_without_a_board(tmp_path, ports, capsys):
    ports.set()
    rc = main(["run", str(EXAMPLE), "--board", "nano33ble", "-o", str(tmp_path / "p")])
    err = capsys.readouterr().err
    assert rc == 2 and err == ("tinygen: error: no Arduino Nano 33 BLE found: no serial port with USB ID 2341:805A; "
                               "connect the board (data cable) or pass --port\n")
    assert not (tmp_path / "p").exists()


# ------------------------------------------------------------------ PlatformIO build (fake pio)

PIO_OUTPUT = """Processing nano33ble (platform: nordicnrf52; board: nano33ble; framework: arduino)
Checking size .pio/build/nano33ble/firmware.elf
RAM:   [==        ]  17.9% (used 46872 bytes from 262144 bytes)
Flash: [=         ]  10.4% (used 102116 bytes from 983040 bytes)
========================= [SUCCESS] Took 41.43 seconds ========================="""


def test_build_cli_platformio_sizes(graph, tmp_path, fake_path, capsys):
    proj = project(graph, "nano33ble", tmp_path)
    log = tmp_path / "pio-argv.txt"
    lines = " ".join(f"'{ln}'" for ln in PIO_OUTPUT.splitlines())        # shell builtins only: no cat on PATH
    fake_path.add("pio", f'printf "%s\\n" "$@" > {log}; printf "%s\\n" {lines}')
    assert main(["build", str(proj.path), "--json"]) == 0
    res = __import__("json").loads(capsys.readouterr().out)
    assert log.read_text().splitlines() == ["run", "-d", str(proj.path)]
    assert (res["flash_used"], res["flash_available"], res["ram_used"], res["ram_available"]) == (
        102116, 983040, 46872, 262144)
    assert res["firmware"].endswith(".pio/build/nano33ble/firmware.elf")


def test_build_cli_platformio_failure_is_one_line(graph, tmp_path, fake_path, capsys):
    proj = project(graph, "esp32-devkitc", tmp_path)
    fake_path.add("pio", 'echo "Processing esp32-devkitc"; echo "src/x.c:1:1: error: boom" >&2; exit 1')
    rc = main(["build", str(proj.path)])
    err = capsys.readouterr().err
    assert rc == 2 and err.splitlines()[-1].startswith(
        "tinygen: error: PlatformIO build failed for esp32-devkitc: src/x.c:1:1: error: boom (log: ")
