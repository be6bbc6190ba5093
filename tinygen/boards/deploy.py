"""Build, flash and run generated firmware projects (tinygen.project).

    proj = load_project("out/kws")
    res = build_project(proj)                   # make / pio run; flash and RAM used
    argv = flash_command(proj, port)            # real boards: the exact flashing argv
    serve_qemu(proj, port=None, ...)            # emulated boards: serial on a TCP port

The firmware's self-test report is read by tinygen.device.selftest.

Every failure is a one-line TinygenError: ToolError for a missing or failing tool (with
the install command), DeviceError for no board / several candidates / a busy port /
a silent board.
"""
from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tinygen.boards.catalog import Board
from tinygen.errors import DeviceError, TinygenError, ToolError
from tinygen.boards.project import Project

APT_MAKE = "sudo apt-get install make"
PIP_PIO = "pip install platformio"
APT_OPENOCD = "sudo apt-get install openocd"
APT_STLINK = "sudo apt-get install stlink-tools"
PIP_ESPTOOL = "pip install esptool"

Progress = Callable[[str], None]


def _quiet(msg: str) -> None:
    pass


# ------------------------------------------------------------------ build

@dataclass
class BuildResult:
    board: str
    firmware: Path
    flash_used: int
    flash_available: int
    ram_used: int               # static RAM (.data + .bss), without the stack
    ram_available: int
    stack_bytes: int            # reserved main stack (bare metal), 0 if unknown
    seconds: float
    log: Path | None = None

    def as_dict(self) -> dict:
        return {"board": self.board, "firmware": str(self.firmware), "flash_used": self.flash_used,
                "flash_available": self.flash_available, "ram_used": self.ram_used,
                "ram_available": self.ram_available, "stack_bytes": self.stack_bytes,
                "seconds": round(self.seconds, 3)}

    def summary(self) -> str:
        def pct(a, b):
            return f"{100.0 * a / b:.1f}%" if b else "?"
        ram_total = self.ram_used + self.stack_bytes
        stack = f" incl. {self.stack_bytes / 1024:.1f} KB stack" if self.stack_bytes else ""
        return (f"flash {self.flash_used / 1024:.1f} KB of {self.flash_available / 1024:.0f} KB "
                f"({pct(self.flash_used, self.flash_available)}), RAM {ram_total / 1024:.1f} KB{stack} of "
                f"{self.ram_available / 1024:.0f} KB ({pct(ram_total, self.ram_available)})")


def find_platformio() -> list[str]:
    """argv prefix that runs PlatformIO: `pio` on PATH, else this Python's platformio module."""
    for name in ("pio", "platformio"):
        path = shutil.which(name)
        if path:
            return [path]
    import importlib.util

    if importlib.util.find_spec("platformio") is not None:
        return [sys.executable, "-m", "platformio"]
    raise ToolError(f"PlatformIO not found; install it with: {PIP_PIO}")


_PIO_SIZE = re.compile(r"^(RAM|Flash):.*\(used (\d+) bytes from (\d+) bytes\)", re.M)


def _first_error(log: str) -> str:
    from tinygen.boards.firmware_build import _first_error as fe

    return fe(log)


def build_project(project: Project, *, progress: Progress = _quiet, jobs: int | None = None,
                  extra_cflags: str = "") -> BuildResult:
    board = project.board
    t0 = time.monotonic()
    if project.build_system == "make":
        from tinygen.boards.firmware_build import find_gcc, memory_usage

        make = shutil.which("make")
        if make is None:
            raise ToolError(f"make not found; install it with: {APT_MAKE}")
        gcc = Path(find_gcc(board)).name
        cmd = [make, "-C", str(project.path), f"-j{jobs or os.cpu_count() or 2}"]
        if extra_cflags:
            cmd.append(f"EXTRA_CFLAGS={extra_cflags}")
        progress(f"building {project.name} for {board.id} with make + {gcc}")
        proc = subprocess.run(cmd, capture_output=True, text=True)
        log = project.path / "build" / "build.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(" ".join(cmd) + "\n" + proc.stdout + proc.stderr, encoding="utf-8")
        if proc.returncode != 0:
            raise ToolError(f"build failed for {board.id}: {_first_error(proc.stdout + proc.stderr)} (log: {log})")
        use = memory_usage(project.firmware)
        return BuildResult(board.id, project.firmware, use.flash, project.manifest["flash_available"], use.ram,
                           project.manifest["ram_available"], board.stack_size, time.monotonic() - t0, log)

    pio = find_platformio()
    cmd = [*pio, "run", "-d", str(project.path)]
    progress(f"building {project.name} for {board.id} with PlatformIO ({board.platformio.platform}, "
             "first build downloads the toolchain)")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    log = project.path / "build.log"
    log.write_text(" ".join(cmd) + "\n" + proc.stdout + proc.stderr, encoding="utf-8")
    if proc.returncode != 0:
        raise ToolError(f"PlatformIO build failed for {board.id}: {_first_error(proc.stdout + proc.stderr)} (log: {log})")
    sizes = {m.group(1): (int(m.group(2)), int(m.group(3))) for m in _PIO_SIZE.finditer(proc.stdout)}
    flash = sizes.get("Flash", (0, project.manifest["flash_available"]))
    ram = sizes.get("RAM", (0, project.manifest["ram_available"]))
    return BuildResult(board.id, project.firmware, flash[0], flash[1], ram[0], ram[1], 0, time.monotonic() - t0, log)


# ------------------------------------------------------------------ serial ports

def candidate_ports(board: Board) -> list:
    """Serial ports whose USB VID:PID is the board's (serial.tools.list_ports)."""
    from serial.tools import list_ports

    if board.serial.usb_vid_pid is None:
        return []
    vid, pid = board.serial.usb_vid_pid
    return sorted((p for p in list_ports.comports() if p.vid == vid and p.pid == pid), key=lambda p: p.device)


def pick_port(board: Board, port: str | None = None):
    """The board's serial port: `port` when given (it must exist), else the one port with
    the board's USB VID:PID. Returns a ListPortInfo-like object (`.device`,
    `.serial_number`) or, for a port not in the list, a plain object with `.device`."""
    from serial.tools import list_ports

    if port:
        for p in list_ports.comports():
            if p.device == port:
                return p
        if not os.path.exists(port):
            raise DeviceError(f"serial port {port} does not exist")
        return _PortName(port)
    ports = candidate_ports(board)
    if not ports:
        raise DeviceError(f"no {board.name} found: no serial port with USB ID {board.usb_vid_pid_str}; "
                          "connect the board (data cable) or pass --port")
    if len(ports) > 1:
        raise DeviceError(f"several {board.name} candidates ({', '.join(p.device for p in ports)}); "
                          "pick one with --port")
    return ports[0]


@dataclass
class _PortName:
    device: str
    serial_number: str | None = None


def check_port_free(port: str) -> None:
    """DeviceError when the serial port cannot be opened (busy, no permission)."""
    import serial

    try:
        s = serial.Serial()
        s.port = port
        s.exclusive = True
        s.open()
        s.close()
    except serial.SerialException as e:
        err = getattr(e, "errno", None)
        text = str(e)
        if err == errno.EBUSY or "busy" in text.lower() or "exclusively lock" in text:
            raise DeviceError(f"serial port {port} is busy (open in another program, e.g. a serial monitor?)") from None
        if err == errno.EACCES or "ermission" in text:
            raise DeviceError(f"no permission to open {port}; add yourself to the 'dialout' group "
                              "(sudo usermod -aG dialout $USER, then log in again)") from None
        if err == errno.ENOENT or "No such file" in text:
            raise DeviceError(f"serial port {port} does not exist") from None
        raise DeviceError(f"cannot open serial port {port}: {text}") from None


# ------------------------------------------------------------------ flashing real boards

def _esptool() -> list[str] | None:
    for name in ("esptool", "esptool.py"):
        path = shutil.which(name)
        if path:
            return [path]
    import importlib.util

    if importlib.util.find_spec("esptool") is not None:
        return [sys.executable, "-m", "esptool"]
    return None


def _esp32_images(project: Project) -> list[str]:
    """offset/path pairs of an arduino-esp32 build (bootloader, partitions, boot_app0, app)."""
    build = project.path / ".pio" / "build" / project.board.id
    app = build / "firmware.bin"
    boot = build / "bootloader.bin"
    parts = build / "partitions.bin"
    missing = [p for p in (app, boot, parts) if not p.is_file()]
    if missing:
        raise ToolError(f"{missing[0]} not found: build the project first (tinygen build {project.path}; "
                        f"needs PlatformIO: {PIP_PIO})")
    esp = project.board.extra.get("esptool", {})
    boot_at = int(esp.get("bootloader_offset", 0x1000)) if isinstance(esp, dict) else 0x1000
    images = [f"0x{boot_at:x}", str(boot), "0x8000", str(parts)]
    boot_app0 = Path.home() / ".platformio" / "packages" / "framework-arduinoespressif32" / "tools" / "partitions" / "boot_app0.bin"
    if boot_app0.is_file():
        images += ["0xe000", str(boot_app0)]
    return images + ["0x10000", str(app)]


def flash_command(project: Project, port=None) -> list[str]:
    """The argv that flashes `project` onto its (real) board. `port` is a pick_port()
    result (its `.device` and, for ST-Link, `.serial_number` select the board)."""
    board = project.board
    device = getattr(port, "device", port)
    serial_number = getattr(port, "serial_number", None)
    if board.build_system == "make":
        elf = project.firmware
        oc = board.extra.get("openocd", {}) if isinstance(board.extra.get("openocd"), dict) else {}
        openocd = shutil.which("openocd")
        if openocd and oc.get("interface") and oc.get("target"):
            cmd = [openocd, "-f", oc["interface"], "-f", oc["target"]]
            if serial_number:
                cmd += ["-c", f"adapter serial {serial_number}"]
            return cmd + ["-c", f"program {elf} verify reset exit"]
        st_flash = shutil.which("st-flash")
        if st_flash:
            cmd = [st_flash]
            if serial_number:
                cmd += ["--serial", serial_number]
            return cmd + ["--reset", "write", str(elf.with_suffix(".bin")), f"0x{board.flash.origin:08x}"]
        raise ToolError(f"neither openocd nor st-flash found; install one with: {APT_OPENOCD} (or {APT_STLINK})")
    try:
        pio = find_platformio()
    except ToolError:
        if board.flash_tool == "esptool":
            esptool = _esptool()
            if esptool is None:
                raise ToolError(f"neither PlatformIO nor esptool found; install one with: {PIP_PIO} "
                                f"(or {PIP_ESPTOOL})") from None
            esp = board.extra.get("esptool", {})
            chip = str(esp.get("chip", "esp32")) if isinstance(esp, dict) else "esp32"
            return [*esptool, "--chip", chip, "--port", device, "--baud", "460800",
                    "--before", "default_reset", "--after", "hard_reset", "write_flash", "-z",
                    "--flash_mode", "dio", "--flash_freq", "40m", "--flash_size", "detect",
                    *_esp32_images(project)]
        raise
    cmd = [*pio, "run", "-d", str(project.path), "-t", "upload"]
    if device:
        cmd += ["--upload-port", device]
    return cmd


def flash_real(project: Project, port: str | None = None, *, progress: Progress = _quiet) -> str:
    """Flash a real board; returns the serial port device it uses."""
    board = project.board
    if board.is_emulated:
        raise TinygenError(f"{board.id} is emulated: use serve_qemu()")
    info = pick_port(board, port)
    check_port_free(info.device)
    if board.build_system == "make" and not project.firmware.is_file():
        raise TinygenError(f"{project.firmware} not found: build it first (tinygen build {project.path})")
    cmd = flash_command(project, info)
    progress(f"flashing {board.name} on {info.device}: {' '.join(cmd)}")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ToolError(f"flashing failed ({Path(cmd[0]).name} exit {proc.returncode}): "
                        f"{_flash_error(proc.stdout + proc.stderr)}")
    return info.device


def _flash_error(log: str) -> str:
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    for ln in lines:
        if re.search(r"error|Error|failed|not found|No such", ln):
            return ln
    return lines[-1] if lines else "(no output)"


# ------------------------------------------------------------------ emulated boards

def _start_qemu_tcp(project: Project, port: int | None, extra_args=(), progress: Progress = _quiet):
    """Start QEMU for `project` with its serial port a TCP server on 127.0.0.1 (wait=on: the CPU
    starts when the first client connects). Returns (process, port) once QEMU listens. A port
    of None: a free one, retried when another program takes it first."""
    from tinygen.boards.processes import child_setup, spawn, stop_process
    from tinygen.boards.qemu import find_qemu, free_tcp_port, qemu_command

    board = project.board
    if not project.firmware.is_file():
        raise TinygenError(f"{project.firmware} not found: build it first (tinygen build {project.path})")
    binary = find_qemu(board.emulator.binary)
    progress(f"starting QEMU {board.emulator.machine} for {board.id}")
    for _attempt in range(5):
        tcp = port or free_tcp_port()
        cmd = qemu_command(board, project.firmware, tcp, icount=True, qemu_binary=binary, extra_args=extra_args)
        proc = spawn(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                     preexec_fn=child_setup if os.name == "posix" else None)
        try:
            lines = []
            while True:
                line = proc.stdout.readline()
                if not line:
                    break
                lines.append(line)
                if b"waiting for connection" in line:
                    return proc, tcp
        except BaseException:
            stop_process(proc)
            raise
        status = proc.wait()
        msg = " ".join(ln.decode(errors="replace").strip() for ln in lines)[-300:] or f"exit {status}"
        if "in use" in msg or "Address already" in msg:
            if port:
                raise DeviceError(f"TCP port {tcp} is busy; pick another with --port")
            continue
        raise ToolError(f"QEMU failed to start for {board.id}: {msg}")
    raise ToolError(f"QEMU could not bind a serial port for {board.id}")


def serve_qemu(project: Project, port: int | None = None, *, on_ready: Callable[[str], None] = print,
               progress: Progress = _quiet, extra_args=()) -> int:
    """Run the firmware in QEMU with its serial port on 127.0.0.1:`port` (a free one by
    default); calls on_ready("socket://127.0.0.1:PORT") once QEMU listens. QEMU starts
    the CPU when the first client connects (no output is lost). Returns the firmware's
    exit status when it exits; Ctrl-C, SIGTERM, SIGHUP stop QEMU (the exception propagates)."""
    from tinygen.boards.processes import stop_process

    proc, tcp = _start_qemu_tcp(project, port, extra_args, progress)
    try:
        on_ready(f"socket://127.0.0.1:{tcp}")
        # Relay anything QEMU itself prints (semihosting console, errors) to stderr.
        for line in proc.stdout:
            sys.stderr.write(line.decode(errors="replace"))
        return proc.wait()
    finally:
        stop_process(proc)


def serve_qemu_pty(project: Project, *, on_ready: Callable[[str], None] = print,
                   progress: Progress = _quiet, extra_args=(), start_now: bool | None = None) -> int:
    """Run the firmware in QEMU with its serial port on a new pseudo-terminal; calls
    on_ready("/dev/pts/N") once it exists. Any program can open that path as a serial port
    (pyserial: `serial.Serial(path, 115200)`; the baud rate is ignored).

    The CPU starts when a program first opens the terminal, so nothing the firmware prints is
    lost. While no program has it open, what the board sends is dropped (as on a real UART);
    a program that opens it later sees only what comes after. Returns the firmware's exit
    status when it exits; Ctrl-C, SIGTERM, SIGHUP stop QEMU (the exception propagates).

    MLPerf firmware (`generate --mlperf`) starts at once instead (`start_now`, default: for
    those projects): the MLPerf runners expect a DUT that is already up and silent when they
    open its port, as a powered board is; its boot lines would shift their replies.
    """
    from tinygen.boards.processes import stop_process
    from tinygen.boards.ptyrelay import PtyRelay

    if start_now is None:
        start_now = project.manifest.get("protocol") == "mlperf"

    if os.name != "posix":
        raise TinygenError("--pty needs a POSIX system (pseudo-terminals)")
    proc, tcp = _start_qemu_tcp(project, None, extra_args, progress)
    try:
        with PtyRelay(("127.0.0.1", tcp), proc, start_now=start_now) as relay:
            relay.prepare()              # start_now: the board boots (output dropped) before the path is given
            on_ready(relay.path)
            relay.run()
        return proc.wait()
    finally:
        stop_process(proc)


__all__ = ["BuildResult", "build_project", "candidate_ports", "check_port_free",
           "find_platformio", "flash_command", "flash_real", "pick_port", "serve_qemu", "serve_qemu_pty"]
