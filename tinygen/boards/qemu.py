"""Run firmware on an emulated board (qemu-system-arm) with its serial port on a TCP socket.

    with QemuSession("qemu-cortex-m4", elf) as qemu:
        banner = read_until(qemu.serial, b"\\n", timeout=5)
        qemu.serial.write(b"q")
        assert qemu.wait(5) == 0          # firmware's semihosting exit status

The firmware's UART is a TCP server (`wait=on`: QEMU does not start the CPU before we are
connected, so no early output is lost). With `icount=True` (`-icount shift=0`) one guest
instruction is one virtual nanosecond and SysTick-based cycle counts are deterministic.
pyserial's `socket://` reports `in_waiting` as 0 or 1 only: use `read_until`/`read_exact`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Sequence

import serial

from tinygen.boards.catalog import Board, list_boards, load_board
from tinygen.boards.processes import spawn
from tinygen.errors import DeviceError, TinygenError, ToolError

QEMU = "qemu-system-arm"
APT_INSTALL = "sudo apt-get install qemu-system-arm"


def find_qemu(binary: str = QEMU) -> str:
    path = shutil.which(binary)
    if path is None:
        pkg = "qemu-system-misc" if "riscv" in binary else "qemu-system-arm"
        raise ToolError(f"{binary} not found; install it with: sudo apt-get install {pkg}")
    return path


def free_tcp_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (QemuSession retries on a race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def qemu_command(board: Board | str, elf_path: Path | str, port: int, *, icount: bool = True,
                 qemu_binary: str | None = None, extra_args: Sequence[str] = ()) -> list[str]:
    """The QEMU argv for `board` (its [emulator] binary unless `qemu_binary`), firmware `elf_path`,
    serial on 127.0.0.1:`port`."""
    board = load_board(board)
    if board.emulator is None:
        emulated = ", ".join(b for b in list_boards() if load_board(b).emulator is not None)
        raise TinygenError(f"board {board.id!r} cannot be emulated; emulated boards: {emulated}")
    cmd = [qemu_binary or board.emulator.binary, "-M", board.emulator.machine, "-nographic", "-monitor", "none",
           *board.emulator.args, "-kernel", str(elf_path)]
    # QEMU numbers serial ports in -serial order: park the ones before the firmware's UART.
    cmd += ["-serial", "null"] * board.emulator.serial_index
    cmd += ["-serial", f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on",
            "-semihosting-config", "enable=on,target=native"]
    if icount:
        cmd += ["-icount", "shift=0"]
    cmd += list(extra_args)
    return cmd


class QemuSession:
    """Context manager: start QEMU, connect to the firmware's serial port, always kill QEMU.

    Attributes once started: `serial` (pyserial object, `timeout` = `serial_timeout`),
    `port`, `process` (`subprocess.Popen`), `command` (argv).
    """

    def __init__(self, board: Board | str, elf_path: Path | str, icount: bool = True, *,
                 connect_timeout: float = 10.0, serial_timeout: float = 0.05,
                 qemu_binary: str | None = None, extra_args: Sequence[str] = ()):
        self.board = load_board(board)
        self.elf_path = Path(elf_path)
        self.icount = icount
        self.connect_timeout = connect_timeout
        self.serial_timeout = serial_timeout
        self.qemu_binary = qemu_binary
        self.extra_args = tuple(extra_args)
        self.serial: serial.SerialBase | None = None
        self.process: subprocess.Popen | None = None
        self.port: int | None = None
        self.command: list[str] = []
        self._log = None

    # -- lifecycle ---------------------------------------------------------------------
    def __enter__(self) -> "QemuSession":
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        if not self.elf_path.is_file():
            raise TinygenError(f"firmware not found: {self.elf_path}")
        binary = find_qemu(self.qemu_binary or (self.board.emulator.binary if self.board.emulator else QEMU))
        for _attempt in range(5):
            self.port = free_tcp_port()
            self.command = qemu_command(self.board, self.elf_path, self.port, icount=self.icount,
                                        qemu_binary=binary, extra_args=self.extra_args)
            self._log = tempfile.TemporaryFile(prefix="tinygen-qemu-")
            # no preexec_fn: Python code between fork and exec can crash the child when other
            # threads (gRPC's, a labgrid session's) exist; the core limit is set from here
            # spawn: a signal while QEMU starts stops it too (no orphan)
            self.process = spawn(self.command, stdin=subprocess.DEVNULL, stdout=self._log,
                                 stderr=subprocess.STDOUT)
            _no_core_dumps(self.process.pid)
            if self._connect():
                return
            log = self.log_text()
            status = self.process.poll()
            self._reap()
            if "in use" not in log:   # anything but a lost race for the port is fatal
                how = f"killed by signal {-status}" if status is not None and status < 0 else f"exit status {status}"
                raise ToolError(f"QEMU failed to start for {self.board.id} ({how}): {_last_line(log)}")
        raise ToolError(f"QEMU could not bind a serial port for {self.board.id}")

    def _connect(self) -> bool:
        """Connect to QEMU's serial server. False if QEMU exited first."""
        deadline = time.monotonic() + self.connect_timeout
        url = f"socket://127.0.0.1:{self.port}"
        while True:
            if self.process.poll() is not None:
                return False
            # only our QEMU's server, once it says it listens (as deploy._start_qemu_tcp waits): two sessions
            # may draw the same port from free_tcp_port, and the loser must not connect to the winner's QEMU
            # (it would read that firmware's output, or wait behind its client); its QEMU exits "in use"
            if "waiting for connection" in self.log_text():
                try:
                    self.serial = serial.serial_for_url(url, timeout=self.serial_timeout)
                    return True
                except (serial.SerialException, OSError):
                    pass
            if time.monotonic() > deadline:
                raise ToolError(f"QEMU did not open its serial port within {self.connect_timeout} s: "
                                f"{_last_line(self.log_text())}")
            time.sleep(0.005)

    def wait(self, timeout: float) -> int:
        """Wait for QEMU to exit (firmware's tg_exit): returns the exit status."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise DeviceError(f"{self.board.id}: QEMU did not exit within {timeout} s") from None

    def read_to_exit(self, timeout: float) -> tuple[bytes, int]:
        """Read serial output until QEMU exits; returns (output, exit status).

        Reads one byte per call: pyserial's socket:// `read(n)` discards the bytes it has
        already collected when it meets end-of-file in the same call, which would lose
        the last output before an exit (e.g. a fault report).
        """
        deadline = time.monotonic() + timeout
        buf = bytearray()
        while True:
            try:
                buf += self.serial.read(1)
            except serial.SerialException:      # QEMU closed the socket: it is exiting
                break
            if time.monotonic() > deadline:
                raise DeviceError(f"{self.board.id}: QEMU did not exit within {timeout} s; "
                                  f"output so far {bytes(buf[-200:])!r}")
        return bytes(buf), self.wait(max(0.1, deadline - time.monotonic()))

    def log_text(self) -> str:
        """QEMU's own stdout+stderr so far (error messages, semihosting console output)."""
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        data = self._log.read().decode("utf-8", "replace")
        self._log.seek(0, os.SEEK_END)
        return data

    def _reap(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def close(self) -> None:
        if self.serial is not None:
            try:
                self.serial.close()
            except Exception:
                pass
        self._reap()

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()


def _no_core_dumps(pid: int) -> None:
    """QEMU aborts (SIGABRT) on a guest lockup, e.g. a fault inside the fault handler:
    keep that from writing core files (set on the running child: prlimit)."""
    try:
        import resource
        resource.prlimit(pid, resource.RLIMIT_CORE, (0, 0))
    except (ImportError, AttributeError, OSError, ValueError):
        pass


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else "(no output)"


def _read_some(ser, n: int) -> bytes:
    try:
        return ser.read(n)
    except serial.SerialException as exc:   # socket:// raises when the peer (QEMU) is gone
        raise DeviceError(f"serial port closed: {exc}") from None


def _overlap(buf: bytes | bytearray, marker: bytes) -> int:
    """Length of the longest suffix of `buf` that is a proper prefix of `marker`."""
    for k in range(min(len(marker) - 1, len(buf)), 0, -1):
        if buf.endswith(marker[:k]):
            return k
    return 0


def read_until(ser, marker: bytes, timeout: float) -> bytes:
    """Read up to and including `marker`; raises DeviceError after `timeout` seconds.

    Never reads past the marker: each read asks for exactly the number of bytes that
    could complete it, so later reads see everything that follows. (Per-read waits
    use the port's own short `timeout`.)
    """
    if not marker:
        raise ValueError("empty marker")
    deadline = time.monotonic() + timeout
    buf = bytearray()
    while not buf.endswith(marker):
        if time.monotonic() > deadline:
            raise DeviceError(f"timed out after {timeout} s waiting for {marker!r}; got {bytes(buf[-200:])!r}")
        buf += _read_some(ser, len(marker) - _overlap(buf, marker))
    return bytes(buf)


def read_exact(ser, n: int, timeout: float) -> bytes:
    """Read exactly `n` bytes; raises DeviceError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    buf = bytearray()
    while len(buf) < n:
        if time.monotonic() > deadline:
            raise DeviceError(f"timed out after {timeout} s: got {len(buf)} of {n} bytes")
        buf += _read_some(ser, n - len(buf))
    return bytes(buf)


def read_line(ser, timeout: float) -> bytes:
    """One b"\\n"-terminated line, without the newline."""
    return read_until(ser, b"\n", timeout)[:-1]
