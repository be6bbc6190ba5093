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
import time
from pathlib import Path
from typing import Callable, Iterable

from tinygen.boards.catalog import Board, data_dir, load_board
from tinygen.errors import DeviceError, TinygenError, ToolError

DEFAULT_BAUD = 115200
Say = Callable[[str], None]


def _quiet(_msg: str) -> None:
    pass


# ----------------------------------------------------------------------------- ports
def find_port(board: Board) -> str:
    """The auto-detected serial port of a real board (the single port with its USB VID:PID;
    tinygen.deploy.pick_port). DeviceError (one line) when there is none or several."""
    from tinygen.boards.deploy import pick_port

    return pick_port(board).device


def _no_delay(ser) -> None:
    """TCP_NODELAY on a socket:// / rfc2217:// port (pyserial leaves Nagle on): a small frame
    written while an earlier one is unacknowledged would otherwise wait for the peer's delayed
    ACK, up to 40 ms per frame -- the noisy link's small frames and replies paid it each time."""
    import socket

    sock = getattr(ser, "_socket", None)
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, AttributeError):
            pass


def open_port(url: str, baud: int = DEFAULT_BAUD, timeout: float = 0.05):
    """Opens a device path or a pyserial URL (socket://host:port, rfc2217://, loop://).

    Writes time out after 5 s, except on rfc2217:// ports: pyserial's RFC 2217 client
    refuses a write timeout (NotImplementedError), and its writes go to a TCP socket."""
    import serial

    kw = {} if url.lower().startswith("rfc2217://") else {"write_timeout": 5.0}
    try:
        ser = serial.serial_for_url(url, baudrate=baud, timeout=timeout, do_not_open=True, **kw)
        if url.lower().startswith("socket://"):
            # pyserial's socket port discards what arrived between the connect and the end of open(); QEMU
            # (wait=on) starts the guest at the connect, so on a busy host that was the firmware's first line
            ser.reset_input_buffer = lambda: None
            try:
                ser.open()
            finally:
                del ser.reset_input_buffer
        else:
            ser.open()
        _no_delay(ser)
        return ser
    except NotImplementedError as e:
        raise DeviceError(f"cannot open serial port {url}: {e}") from None
    except (serial.SerialException, OSError, ValueError) as e:
        msg = str(e)
        if "busy" in msg.lower() or "resource temporarily unavailable" in msg.lower():
            raise DeviceError(f"serial port {url} is busy (another program has it open?)") from None
        if "waiting for option 'control'" in msg and "ign_set_control" not in url:
            msg += (" (a pty or USB CDC port behind ser2net acknowledges no modem control: "
                    "add ?ign_set_control to the URL)")
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
        self.estimator = None          # tinygen.boards.cycle_model.CycleEstimator on QEMU boards started here

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
                why = str(last).rsplit(": ", 1)[-1]
                raise DeviceError(f"serial port {self.url} did not come back within {timeout:g} s ({why})")
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
        from tinygen.boards.qemu import QemuSession

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
_PY_INPUTS = ("codegen", "ops", "boards/project.py", "boards/fit.py", "boards/firmware_build.py", "boards/mlperf.py")


def cache_root() -> Path:
    base = os.environ.get("TINYGEN_CACHE")
    return Path(base).expanduser() if base else Path.home() / ".cache" / "tinygen"


def firmware_key(board: Board, extra_cflags: Iterable[str] = ()) -> str:
    """Hash of everything besides the model that goes into a firmware image: tinygen's
    version, the firmware and template sources, the code generator, the board file and
    extra compiler flags. A changed tinygen never reuses a stale cached build."""
    from tinygen import __version__

    h = hashlib.sha256(f"tinygen {__version__}\0{board.id}\0".encode())
    root = data_dir()
    pkg = Path(__file__).resolve().parent.parent   # tinygen/
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


STALE_PROJECT_SECONDS = 24 * 3600


def _prune_stale_projects(pdir: Path) -> None:
    """Removes cached projects of the same model and board built by another tinygen (another
    firmware key) that nobody has used for a day; skips any that is locked right now."""
    import shutil

    prefix = pdir.name.rsplit("-", 1)[0] + "-"
    now = time.time()
    for old in pdir.parent.glob(prefix + "*"):
        if old == pdir or not old.is_dir() or old.name.count("-") != pdir.name.count("-"):
            continue
        lock = old.parent / f".{old.name}.lock"
        try:
            if now - max(old.stat().st_mtime, lock.stat().st_mtime if lock.exists() else 0) < STALE_PROJECT_SECONDS:
                continue
            with open(lock, "a+") as f:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                shutil.rmtree(old, ignore_errors=True)
            lock.unlink()
        except OSError:
            continue


def ensure_emulated_firmware(graph, board: Board | str, *, project_dir=None, extra_cflags: Iterable[str] = (),
                             say: Say = _quiet, mlperf: str | None = None) -> Path:
    """The ELF of `graph`'s firmware for the emulated `board`, generating the project when
    needed and building it (make: a no-op when up to date). Without `project_dir` the
    project lives in `<cache>/projects/<sha16>-<board>-<key>` (the key covers
    `extra_cflags`). `mlperf`: the MLPerf Tiny DUT firmware for that benchmark ID instead
    (its own cache directory). Safe to call from several processes."""
    from tinygen.boards.deploy import build_project
    from tinygen.boards.project import load_project, write_project

    board = load_board(board)
    if not board.is_emulated:
        raise TinygenError(f"board {board.id!r} is not emulated; flash it and pass --port")
    if board.build_system != "make":
        raise TinygenError(f"board {board.id!r}: only make-built emulated boards are supported")
    flags = list(extra_cflags)
    key = firmware_key(board, flags)
    if project_dir is None:
        kind = f"-mlperf_{mlperf.replace('-', '_')}" if mlperf else ""
        pdir = cache_root() / "projects" / f"{graph.sha256[:16]}-{board.id}{kind}-{key}"
    else:
        pdir = Path(project_dir)
    lock = pdir.parent / f".{pdir.name}.lock"
    if project_dir is None:
        _prune_stale_projects(pdir)
    with _locked(lock):
        os.utime(lock)                     # last use, for _prune_stale_projects
        proj = None
        try:
            proj = load_project(pdir)
        except TinygenError:
            if pdir.exists() and project_dir is not None and any(pdir.iterdir()):
                raise
        if proj is not None and (proj.manifest.get("model_sha256") != graph.sha256
                                 or proj.manifest.get("board") != board.id
                                 or proj.manifest.get("mlperf", {}).get("id") != mlperf):
            say(f"{pdir} holds another model or board: regenerating it")
            proj = None
        if proj is None:
            say(f"generating the {board.id} project for {graph.name} in {pdir}")
            proj = write_project(graph, board, pdir, progress=say, mlperf=mlperf)
        build_project(proj, progress=say, extra_cflags=" ".join(shlex.quote(f) for f in flags))
        if not proj.firmware.is_file():
            raise ToolError(f"the build of {proj.path} made no {proj.firmware.name}")
        return proj.firmware


@contextlib.contextmanager
def open_target(board: Board | str | None, *, port: str | None = None, baud: int | None = None, graph=None,
                project_dir=None, extra_cflags: Iterable[str] = (), elf=None, timeout: float = 0.05,
                estimate: bool = False, say: Say = _quiet):
    """A connected `Link` for `board`: the given `port`; else, on an emulated board, QEMU
    running `elf` (or the firmware built for `graph`); else the auto-detected USB port.
    With `estimate`, QEMU runs the cycle-estimating plugin (`tinygen.boards.cycle_model`)
    and `link.estimator` reads its figures (None when the core has no timing table or the
    plugin cannot be built: said through `say`). QEMU is stopped when the block ends."""
    import shutil

    b = load_board(board) if board is not None else None
    rate = baud or (b.serial.baud if b is not None else DEFAULT_BAUD)
    workdir = None
    if port:
        link = Link(port, rate, timeout=timeout, say=say)
    elif b is not None and b.is_emulated:
        if elf is None:
            elf = _emulated_elf(b, graph, project_dir, extra_cflags, say)
        est, workdir = _cycle_estimator(b, elf, say) if estimate else (None, None)
        link = QemuLink(b, elf, timeout=timeout, say=say, extra_args=est.qemu_args() if est else ())
        link.estimator = est
    else:
        link = Link(find_port(b), rate, timeout=timeout, say=say)
    try:
        why = _open_with_plugin(link)
        if why is not None:
            # a QEMU that does not load the plugin (e.g. another plugin API version): run without it
            say(f"no estimated cycles: QEMU did not start with the cycle-estimating plugin ({why})")
            link.close()
            link = QemuLink(b, elf, timeout=timeout, say=say)
            link.open()
        yield link
    finally:
        link.close()
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)


def _emulated_elf(b: Board, graph, project_dir, extra_cflags: Iterable[str], say: Say) -> Path:
    """The firmware for `graph` on emulated board `b` (built where needed)."""
    if graph is None:
        raise TinygenError(f"board {b.id} is emulated: give a model (or --port of a running QEMU)")
    return ensure_emulated_firmware(graph, b, project_dir=project_dir, extra_cflags=extra_cflags, say=say)


def _cycle_estimator(b: Board, elf, say: Say) -> tuple:
    """(the cycle-estimating QEMU plugin for `elf` on `b`, its work directory), or (None, None)
    when the core has no timing table or the plugin cannot be built (said through `say`)."""
    import shutil
    import tempfile

    from tinygen.boards.cycle_model import CycleEstimator

    workdir = tempfile.mkdtemp(prefix="tinygen-cycles-")
    est = None
    try:
        est = CycleEstimator.for_board(b, elf, workdir)
    except ToolError as e:
        say(f"no estimated cycles: {e}")
    if est is None:
        shutil.rmtree(workdir, ignore_errors=True)
        return None, None
    return est, workdir


def _open_with_plugin(link) -> str | None:
    """Opens `link`. With a cycle estimator: None when QEMU runs with its plugin, else why not
    (QEMU did not start, or never loaded the plugin); the link is then to be restarted without it."""
    try:
        link.open()
    except ToolError as e:
        if link.estimator is None:
            raise
        return str(e)
    if link.estimator is None:
        return None
    session = link.session
    if link.estimator.wait_loaded(lambda: session.returncode is not None):
        return None
    lines = [ln for ln in session.log_text().splitlines() if ln.strip()]
    return lines[-1].strip() if lines else "no sign of the plugin"
