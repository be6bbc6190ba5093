"""A real labgrid board farm on 127.0.0.1 for the tests: labgrid's coordinator and exporter
(PyPI `labgrid`), Debian's ser2net, and an emulated board whose UART is a QEMU pseudo-terminal
exported as a RawSerialPort.

    with Lab(tmp_path) as lab:
        lab.start_coordinator()
        lab.start_exporter("lab1", {"board1": {"RawSerialPort": {"port": "/dev/pts/3", "speed": 115200}}})
        lab.client("-p", "p1", "create")
        lab.client("-p", "p1", "add-match", "lab1/board1/*")

Every process runs in its own session (process group) and is killed with its children
(ser2net) when the lab closes. The exporter finds ser2net through a wrapper on its PATH
that binds ser2net's TCP accepter to 127.0.0.1 (labgrid starts it on all interfaces).
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
REAL_SER2NET = shutil.which("ser2net") or ("/usr/sbin/ser2net" if Path("/usr/sbin/ser2net").exists() else None)

_WRAPPER = """#!/bin/sh
# The real ser2net, with its TCP accepters bound to 127.0.0.1 only (test farm).
for a in "$@"; do
  case "$a" in *",tcp,"*) a=$(printf '%s' "$a" | sed 's/,tcp,\\([0-9]\\)/,tcp,127.0.0.1,\\1/');; esac
  set -- "$@" "$a"; shift
done
exec {real} "$@"
"""


def have_labgrid() -> str | None:
    """None when the farm can run here, else why not."""
    import importlib.util

    # not imported here: gRPC must see tinygen's settings (no fork handlers) when it loads
    if importlib.util.find_spec("labgrid") is None:
        return "labgrid is not installed (pip install 'tinygen[farm]')"
    if REAL_SER2NET is None:
        return "ser2net is not installed (apt-get install ser2net)"
    for tool in ("labgrid-coordinator", "labgrid-exporter", "labgrid-client"):
        if not (BIN / tool).exists():
            return f"{tool} not found next to {sys.executable}"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_tcp(port: int, timeout: float, proc: subprocess.Popen, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited: {log.read_text()[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port}: {log.read_text()[-2000:]}")


def kill_group(proc: subprocess.Popen, sig=signal.SIGTERM, timeout: float = 5.0) -> None:
    """Signals the process's whole group (it and its children, e.g. ser2net), then kills
    whatever is left."""
    if proc is None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def group_alive(pgid: int) -> list[int]:
    """Pids still in process group `pgid`."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if os.getpgid(int(d.name)) == pgid:
                    out.append(int(d.name))
            except (ProcessLookupError, PermissionError):
                pass
    return out


class Lab:
    def __init__(self, workdir: Path):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.coordinator = None
        self.port = None
        self.exporters: dict[str, subprocess.Popen] = {}
        self.exporter_groups: dict[str, int] = {}
        self.wrapper_dir = self.dir / "bin"
        self.wrapper_dir.mkdir(exist_ok=True)
        w = self.wrapper_dir / "ser2net"
        w.write_text(_WRAPPER.format(real=REAL_SER2NET))
        w.chmod(0o755)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def env(self, **extra) -> dict:
        env = dict(os.environ)
        env.pop("LG_COORDINATOR", None)
        env["PATH"] = f"{self.wrapper_dir}{os.pathsep}{env.get('PATH', '')}"
        env.update(extra)
        return env

    def _spawn(self, argv, log_name: str, env=None) -> subprocess.Popen:
        log = open(self.dir / log_name, "ab")
        try:
            return subprocess.Popen([str(a) for a in argv], cwd=self.dir, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True, env=env or self.env())
        finally:
            log.close()

    def start_coordinator(self) -> str:
        self.port = free_port()
        self.coordinator = self._spawn([BIN / "labgrid-coordinator", "-l", self.address], "coordinator.log")
        _wait_tcp(self.port, 30.0, self.coordinator, "labgrid-coordinator", self.dir / "coordinator.log")
        return self.address

    def stop_coordinator(self) -> None:
        kill_group(self.coordinator)
        self.coordinator = None

    def start_exporter(self, name: str, groups: dict, timeout: float = 30.0) -> None:
        """Starts an exporter publishing `groups` ({group: {ResourceClass: {params}}}) and
        waits until the coordinator lists its resources."""
        import yaml

        cfg = self.dir / f"exporter-{name}.yaml"
        cfg.write_text(yaml.safe_dump(groups, sort_keys=False))
        proc = self._spawn([BIN / "labgrid-exporter", "-c", self.address, "--name", name, "--hostname", "127.0.0.1",
                            cfg], f"exporter-{name}.log")
        self.exporters[name] = proc
        self.exporter_groups[name] = proc.pid
        deadline = time.monotonic() + timeout
        want = [f"{name}/{g}/" for g in groups]
        with self.session() as farm:        # the coordinator's view, unavailable resources included
            while time.monotonic() < deadline:
                farm.sync()
                published = [f"{name}/{g}/" for g, res in farm.session.resources.get(name, {}).items()
                             if any("cls" in r.data for r in res.values())]
                if all(w in published for w in want):
                    return
                if proc.poll() is not None:
                    break
                time.sleep(0.2)
        raise RuntimeError(f"exporter {name} did not publish {want}: "
                           f"{(self.dir / f'exporter-{name}.log').read_text()[-2000:]}")

    def stop_exporter(self, name: str, sig=signal.SIGTERM) -> None:
        kill_group(self.exporters.pop(name, None), sig)

    def client(self, *args, check: bool = True, user: str | None = None, host: str | None = None,
               timeout: float = 60.0) -> subprocess.CompletedProcess:
        extra = {}
        if user:
            extra["LG_USERNAME"] = user
        if host:
            extra["LG_HOSTNAME"] = host
        proc = subprocess.run([str(BIN / "labgrid-client"), "-x", self.address, *map(str, args)],
                              capture_output=True, text=True, env=self.env(**extra), timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"labgrid-client {' '.join(map(str, args))}: {proc.stdout}{proc.stderr}")
        return proc

    @contextlib.contextmanager
    def session(self, user: str | None = None, host: str | None = None):
        """An in-process labgrid client session (tinygen.device.farm.Farm) as `host/user`
        (default: this user here); places it acquires are released when it ends."""
        from tinygen.device.farm import Farm, whoami

        me_host, _, me_user = whoami().partition("/")
        with Farm.connect(self.address, identity=f"{host or me_host}/{user or me_user}") as farm:
            yield farm

    def create_place(self, name: str, *patterns: str, create: bool = True, **tags: str) -> None:
        """As `labgrid-client -p NAME create` (unless not `create`), `add-match PATTERN...`,
        `set-tags K=V...`, in one session."""
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb2

        with self.session() as farm:
            stub = farm.session.stub
            if create:
                farm._run(lambda: stub.AddPlace(pb2.AddPlaceRequest(name=name)), 10.0)
            for pat in patterns:
                farm._run(lambda: stub.AddPlaceMatch(pb2.AddPlaceMatchRequest(placename=name, pattern=pat)), 10.0)
            if tags:
                farm._run(lambda: stub.SetPlaceTags(pb2.SetPlaceTagsRequest(placename=name, tags=tags)), 10.0)

    def holder(self, place: str) -> str | None:
        with self.session() as farm:
            return farm.holder(place)

    def ser2net_pids(self) -> list[int]:
        """ser2net processes started by this lab's exporters (running or left behind)."""
        pids = []
        for pid in (p for pgid in self.exporter_groups.values() for p in group_alive(pgid)):
            try:
                if "ser2net" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                    pids.append(pid)
            except OSError:
                pass
        return pids

    def close(self) -> None:
        for name in list(self.exporters):
            self.stop_exporter(name)
        for pgid in self.exporter_groups.values():
            for pid in group_alive(pgid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.stop_coordinator()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class PtyBoard:
    """An emulated board on the lab host: `tinygen flash DIR --pty` (QEMU with its UART on a
    pseudo-terminal, the path printed on stdout), as a lab host would run it for labgrid."""

    def __init__(self, project_dir: Path, workdir: Path):
        self.project_dir = Path(project_dir)
        self.log = Path(workdir) / f"flash-pty-{self.project_dir.name}.log"
        self.proc = None
        self.pty = None

    def start(self, timeout: float = 60.0) -> str:
        root = Path(__file__).resolve().parents[2]
        env = dict(os.environ, PYTHONPATH=str(root))
        with open(self.log, "wb") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "tinygen.cli", "flash", str(self.project_dir), "--pty"],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, text=True,
                                         env=env, start_new_session=True)
        import selectors

        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            self.close()
            raise RuntimeError(f"flash --pty printed no path within {timeout} s: {self.log.read_text()[-2000:]}")
        line = self.proc.stdout.readline().strip()
        if not line.startswith("/dev/"):
            self.close()
            raise RuntimeError(f"flash --pty: {line!r} {self.log.read_text()[-2000:]}")
        self.pty = line
        return line

    def close(self) -> None:
        kill_group(self.proc)
        self.proc = None
