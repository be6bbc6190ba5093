"""Where a model's firmware runs, seen from the host: a serial link to a real board or to QEMU.

    with open_target("qemu-cortex-m4", graph=graph) as link:      # builds + starts QEMU
        client = Client(link.serial)
    with open_target("nucleo-f446re", port=None) as link:         # auto-detected USB port
        ...

`Link` is a re-openable serial connection: after a USB board resets, its port may vanish
for a moment; after QEMU exits, it is gone for good (`reopen` says why). Emulated boards
get their firmware from a project written by `tinygen.project.write_project` into a cache
directory keyed by the model's SHA-256, the board and the firmware sources (or into
`project_dir`), built with the project's own Makefile when the ELF is missing or stale.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterable

from .boards import Board, data_dir, load_board
from .errors import DeviceError, TinygenError, ToolError

DEFAULT_BAUD = 115200
Say = Callable[[str], None]


def _quiet(_msg: str) -> None:
    pass


# ----------------------------------------------------------------------------- ports
def list_serial_ports() -> list:
    """pyserial's view of the machine's serial ports (ListPortInfo objects)."""
    from serial.tools import list_ports

    return list(list_ports.comports())


def find_port(board: Board | None = None) -> str:
    """The serial port of `board`: the single USB port with the board's VID:PID, or, for a
    board without one (or board None), the single USB serial port. Raises DeviceError
    (one line) when there is none or several."""
    ports = [p for p in list_serial_ports() if p.vid is not None]
    what = "USB serial port"
    if board is not None and board.serial.usb_vid_pid is not None:
        vid, pid = board.serial.usb_vid_pid
        matching = [p for p in ports if (p.vid, p.pid) == (vid, pid)]
        what = f"serial port with USB id {board.usb_vid_pid_str} ({board.name})"
        if matching or not ports:
            ports = matching
        else:
            others = ", ".join(f"{p.device} ({p.vid:04X}:{p.pid:04X})" for p in ports)
            raise DeviceError(f"no {what} found (other USB serial ports: {others}); pass --port")
    if not ports:
        raise DeviceError(f"no {what} found: is the board plugged in? (or pass --port)")
    if len(ports) > 1:
        names = ", ".join(p.device for p in ports)
        raise DeviceError(f"several candidate serial ports ({names}): pass --port")
    return ports[0].device


def open_port(url: str, baud: int = DEFAULT_BAUD, timeout: float = 0.05):
    """Opens a device path or a pyserial URL (socket://host:port, rfc2217://, loop://)."""
    import serial

    try:
        return serial.serial_for_url(url, baudrate=baud, timeout=timeout, write_timeout=5.0)
    except (serial.SerialException, OSError, ValueError) as e:
        msg = str(e)
        if "busy" in msg.lower() or "resource temporarily unavailable" in msg.lower():
            raise DeviceError(f"serial port {url} is busy (another program has it open?)") from None
        raise DeviceError(f"cannot open serial port {url}: {msg}") from None


class Link:
    """A serial connection that can be re-opened after the port vanished."""

    def __init__(self, url: str, baud: int = DEFAULT_BAUD, *, timeout: float = 0.05, say: Say = _quiet):
        self.url = url
        self.baud = baud
        self.timeout = timeout
        self.say = say
        self.serial = None
        self.emulated = False

    @property
    def description(self) -> str:
        return self.url

    def open(self):
        self.serial = open_port(self.url, self.baud, self.timeout)
        return self.serial

    def _close_serial(self) -> None:
        if self.serial is not None:
            with contextlib.suppress(Exception):
                self.serial.close()
            self.serial = None

    def reopen(self, timeout: float = 10.0):
        """Closes the port and opens it again, retrying for `timeout` seconds (a USB board
        re-enumerating after a reset). Raises DeviceError when it does not come back."""
        self._close_serial()
        deadline = time.monotonic() + timeout
        last = None
        while True:
            try:
                return self.open()
            except DeviceError as e:
                last = e
            if time.monotonic() >= deadline:
                raise DeviceError(f"serial port {self.url} disappeared and did not come back within "
                                  f"{timeout:g} s ({last})")
            time.sleep(0.2)

    def close(self) -> None:
        self._close_serial()

    def __enter__(self):
        if self.serial is None:
            self.open()
        return self

    def __exit__(self, *exc):
        self.close()


class QemuLink(Link):
    """QEMU running `elf` for an emulated board; the serial port is its TCP socket."""

    def __init__(self, board: Board | str, elf: Path, *, timeout: float = 0.05, say: Say = _quiet,
                 extra_args: Iterable[str] = ()):
        super().__init__("", DEFAULT_BAUD, timeout=timeout, say=say)
        self.board = load_board(board)
        self.elf = Path(elf)
        self.extra_args = tuple(extra_args)
        self.session = None
        self.emulated = True

    @property
    def description(self) -> str:
        return f"QEMU {self.board.id} ({self.url})" if self.url else f"QEMU {self.board.id}"

    def open(self):
        from .qemu import QemuSession

        if self.session is None:
            self.say(f"starting QEMU ({self.board.emulator.machine}) for {self.board.id}")
            self.session = QemuSession(self.board, self.elf, serial_timeout=self.timeout,
                                       extra_args=self.extra_args)
            self.session.__enter__()
            self.url = f"socket://127.0.0.1:{self.session.port}"
            self.serial = self.session.serial
            return self.serial
        return super().open()

    def reopen(self, timeout: float = 10.0):
        s = self.session
        if s is None or s.returncode is not None:
            status = None if s is None else s.returncode
            log = "" if s is None else s.log_text().strip().splitlines()
            last = f": {log[-1]}" if log else ""
            raise DeviceError(f"QEMU ({self.board.id}) exited with status {status}{last}")
        self.session.serial = None
        return super().reopen(timeout)

    def close(self) -> None:
        self._close_serial()
        if self.session is not None:
            self.session.close()
            self.session = None


# -------------------------------------------------------------- emulated firmware
_FIRMWARE_INPUTS = ("firmware", "templates")
_PY_INPUTS = ("codegen.py", "planner.py", "project.py", "fit.py", "carray.py", "firmware_build.py", "ops")


def cache_root() -> Path:
    base = os.environ.get("TINYGEN_CACHE")
    return Path(base).expanduser() if base else Path.home() / ".cache" / "tinygen"


def firmware_key(board: Board, extra_cflags: Iterable[str] = ()) -> str:
    """Hash of everything besides the model that goes into a firmware image: tinygen's
    version, the firmware and template sources, the code generator, the board file and
    extra compiler flags. A changed tinygen never reuses a stale cached build."""
    from . import __version__

    h = hashlib.sha256(f"tinygen {__version__}\0{board.id}\0".encode())
    root = data_dir()
    pkg = Path(__file__).resolve().parent
    files = []
    for sub in _FIRMWARE_INPUTS:
        files += sorted(p for p in (root / sub).rglob("*") if p.is_file())
    for name in _PY_INPUTS:
        p = pkg / name
        files += sorted(p.rglob("*.py")) if p.is_dir() else [p]
    if board.path is not None:
        files.append(board.path)
    for p in files:
        h.update(str(p.name).encode() + b"\0")
        with contextlib.suppress(OSError):
            h.update(p.read_bytes())
    h.update("\0".join(extra_cflags).encode())
    return h.hexdigest()[:12]


@contextlib.contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _run_make(project_dir: Path, build: str, extra_cflags: Iterable[str], say: Say) -> None:
    make = shutil.which("make")
    if make is None:
        raise ToolError("make not found; install it with: sudo apt-get install make")
    cmd = [make, "-C", str(project_dir), f"-j{min(8, os.cpu_count() or 1)}", f"BUILD={build}"]
    flags = list(extra_cflags)
    if flags:
        cmd.append("EXTRA_CFLAGS=" + " ".join(shlex.quote(f) for f in flags))
    say(f"building {project_dir / build}")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    (project_dir / f"{build}.log").write_text(" ".join(cmd) + "\n" + log, encoding="utf-8")
    if proc.returncode != 0:
        lines = [ln for ln in log.splitlines() if "error" in ln.lower()] or log.strip().splitlines() or ["?"]
        raise ToolError(f"firmware build failed in {project_dir}: {lines[0].strip()} "
                        f"(log: {project_dir / (build + '.log')})")


def _stale(elf: Path, project_dir: Path) -> bool:
    if not elf.is_file():
        return True
    t = elf.stat().st_mtime
    for p in project_dir.rglob("*"):
        if p.suffix in (".c", ".h", ".ld") or p.name == "Makefile":
            if "build" not in p.relative_to(project_dir).parts[0] and p.stat().st_mtime > t:
                return True
    return False


def ensure_emulated_firmware(graph, board: Board | str, *, project_dir=None, extra_cflags: Iterable[str] = (),
                             say: Say = _quiet) -> Path:
    """The ELF of `graph`'s firmware for the emulated `board`, generating the project and
    building it when needed. Without `project_dir` the project lives in
    `<cache>/projects/<sha16>-<board>-<key>`. Safe to call from several processes."""
    from .project import load_project, write_project

    board = load_board(board)
    if not board.is_emulated:
        raise TinygenError(f"board {board.id!r} is not emulated; flash it and pass --port")
    if board.build_system != "make":
        raise TinygenError(f"board {board.id!r}: only make-built emulated boards are supported")
    flags = list(extra_cflags)
    key = firmware_key(board, flags)
    if project_dir is None:
        pdir = cache_root() / "projects" / f"{graph.sha256[:16]}-{board.id}-{key}"
    else:
        pdir = Path(project_dir)
    build = "build" if not flags else f"build-{hashlib.sha256(' '.join(flags).encode()).hexdigest()[:8]}"
    lock = pdir.parent / f".{pdir.name}.lock"
    with _locked(lock):
        proj = None
        try:
            proj = load_project(pdir)
        except TinygenError:
            if pdir.exists() and project_dir is not None and any(pdir.iterdir()):
                raise
        if proj is not None and (proj.manifest.get("model_sha256") != graph.sha256
                                 or proj.manifest.get("board") != board.id):
            say(f"{pdir} holds another model or board: regenerating it")
            proj = None
        if proj is None:
            say(f"generating the {board.id} project for {graph.name} in {pdir}")
            proj = write_project(graph, board, pdir, progress=say)
        elf = proj.path / build / Path(proj.manifest["firmware"]).name
        if _stale(elf, proj.path):
            _run_make(proj.path, build, flags, say)
        if not elf.is_file():
            raise ToolError(f"the build of {proj.path} made no {elf.name}")
        return elf


@contextlib.contextmanager
def open_target(board: Board | str | None, *, port: str | None = None, baud: int | None = None, graph=None,
                project_dir=None, extra_cflags: Iterable[str] = (), elf=None, timeout: float = 0.05,
                say: Say = _quiet):
    """A connected `Link` for `board`: the given `port`; else, on an emulated board, QEMU
    running `elf` (or the firmware built for `graph`); else the auto-detected USB port.
    QEMU is stopped when the block ends."""
    b = load_board(board) if board is not None else None
    rate = baud or (b.serial.baud if b is not None else DEFAULT_BAUD)
    if port:
        link = Link(port, rate, timeout=timeout, say=say)
    elif b is not None and b.is_emulated:
        if elf is None:
            if graph is None:
                raise TinygenError(f"board {b.id} is emulated: give a model (or --port of a running QEMU)")
            elf = ensure_emulated_firmware(graph, b, project_dir=project_dir, extra_cflags=extra_cflags, say=say)
        link = QemuLink(b, elf, timeout=timeout, say=say)
    else:
        link = Link(find_port(b), rate, timeout=timeout, say=say)
    try:
        link.open()
        yield link
    finally:
        link.close()
