"""Boards on other machines, shared through a labgrid board farm (the `farm` extra).

    with Farm.connect(coordinator=None, say=print) as farm:       # --coordinator / LG_COORDINATOR
        with farm.place("nucleo-1") as place:                       # acquired here, always released
            link = PlaceLink(place)                                 # rfc2217://host:port of its serial
            ...

labgrid (https://labgrid.readthedocs.io) keeps boards on lab hosts: an exporter on each
lab host publishes the boards' resources (serial ports through ser2net's RFC 2217 server,
USB debuggers, ...) to a coordinator; a *place* groups the resources of one board and
users acquire a place to use it alone. tinygen talks to the coordinator with labgrid's own
client session (gRPC), acquires the place (unless this user already holds it), finds its
serial resource (a NetworkSerialPort: `rfc2217://host:port?ign_set_control`, or
`socket://host:port` for a raw TCP one) and releases the place on every way out (success,
error, Ctrl-C, SIGTERM). A place held by someone else, a coordinator that cannot be
reached, a place without a serial port and a board that vanished are each one line.

`ign_set_control`: a pseudo-terminal or a USB CDC port behind ser2net does not acknowledge
modem-control requests; pyserial would otherwise wait for them and fail to open the port.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from tinygen.device.target import DEFAULT_BAUD, Link
from tinygen.errors import DeviceError, TinygenError

DEFAULT_COORDINATOR = "127.0.0.1:20408"     # labgrid-client's default
CONNECT_TIMEOUT = 10.0
RESOURCE_TIMEOUT = 15.0                     # acquired resource -> ser2net running, port known
SERIAL_CLASSES = ("NetworkSerialPort",)
PREFERRED_SERIAL_NAMES = ("tinygen", "console", "serial")
Say = Callable[[str], None]


def _quiet(_msg: str) -> None:
    pass


class FarmError(DeviceError):
    """The labgrid coordinator, a place or its resources are not usable."""


def coordinator_address(coordinator: str | None = None) -> str:
    """`--coordinator`, else $LG_COORDINATOR, else 127.0.0.1:20408 (as labgrid-client)."""
    return coordinator or os.environ.get("LG_COORDINATOR") or DEFAULT_COORDINATOR


def _require_labgrid():
    # gRPC's fork handlers print a line on every fork (QEMU, compilers) while a session is open
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    try:
        import labgrid.remote.client as client  # noqa: F401
    except ImportError as e:
        raise TinygenError(f"--place needs labgrid: pip install 'tinygen[farm]' ({e})") from None
    return client


def whoami() -> str:
    """`host/user` as labgrid records the holder of a place (LG_HOSTNAME, LG_USERNAME)."""
    import getpass
    import socket

    return f"{os.environ.get('LG_HOSTNAME', socket.gethostname())}/{os.environ.get('LG_USERNAME', getpass.getuser())}"


def describe_holder(holder: str) -> str:
    host, _, user = holder.partition("/")
    return f"{user} on {host}" if user else holder


class _Collect(logging.Handler):
    """Keeps labgrid's log records (it logs to the root logger) instead of letting Python's
    last-resort handler print them: tinygen reports one line of its own."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record):
        with contextlib.suppress(Exception):
            self.messages.append(record.getMessage())
            del self.messages[:-50]


@dataclass
class SerialResource:
    path: tuple                 # (exporter, group, cls, name)
    name: str                   # the resource name in the place (after a match's rename)
    host: str
    port: int | None
    speed: int
    protocol: str
    avail: bool
    present: bool = True            # False: the coordinator dropped it (exporter disconnected)
    proxy_required: bool = False

    @property
    def url(self) -> str:
        if self.protocol == "raw":
            return f"socket://{self.host}:{self.port}"
        return f"rfc2217://{self.host}:{self.port}?ign_set_control"

    @property
    def label(self) -> str:
        return "/".join(self.path[:2])


@dataclass
class Place:
    """A place this process uses (acquired here or already held by this user)."""

    farm: "Farm"
    name: str
    acquired_here: bool
    tags: dict = field(default_factory=dict)
    released: bool = False

    @property
    def board(self) -> str | None:
        """The board id from the place's `board` tag (labgrid-client set-tags board=ID), if any."""
        return self.tags.get("board")

    def serial(self, timeout: float = RESOURCE_TIMEOUT) -> SerialResource:
        return self.farm.serial_resource(self.name, timeout=timeout)

    def release(self) -> None:
        if self.acquired_here and not self.released:
            self.released = True
            self.farm.release(self.name)


class Farm:
    """A labgrid client session. Not thread-safe by itself: every use of its event loop
    takes `self.lock`, so links in several threads may re-resolve their ports."""

    def __init__(self, address: str, *, say: Say = _quiet, connect_timeout: float = CONNECT_TIMEOUT,
                 identity: str | None = None):
        self.address = address
        self.identity = identity or whoami()
        self.say = say
        self.connect_timeout = connect_timeout
        self.lock = threading.RLock()
        self.loop = None
        self.session = None
        self.places: dict[str, Place] = {}
        self._log = _Collect()

    # ------------------------------------------------------------------ session
    @classmethod
    @contextlib.contextmanager
    def connect(cls, coordinator: str | None = None, *, say: Say = _quiet,
                connect_timeout: float = CONNECT_TIMEOUT, identity: str | None = None):
        """A connected Farm; on leaving, every place acquired through it is released and
        the session closed (also on errors, Ctrl-C and SIGTERM). `identity`: the `host/user`
        to appear as (default: this user here, or LG_HOSTNAME / LG_USERNAME)."""
        farm = cls(coordinator_address(coordinator), say=say, connect_timeout=connect_timeout, identity=identity)
        from tinygen.boards.processes import stop_on_signals

        with stop_on_signals():                # SIGTERM/SIGHUP unwind like Ctrl-C: the places are released
            try:
                farm.start()
                yield farm
            finally:
                farm.close()

    def _run(self, coro, timeout: float | None = None):
        """Runs a coroutine (or a function making one: gRPC calls take the loop when they are
        made) on this session's loop."""
        with self.lock:
            asyncio.set_event_loop(self.loop)
            if callable(coro):
                coro = coro()
            if timeout is not None:
                coro = asyncio.wait_for(coro, timeout)
            asyncio.set_event_loop(self.loop)      # grpc.aio looks the loop up (threads, nested farms)
            return self.loop.run_until_complete(coro)

    def start(self) -> None:
        client = _require_labgrid()
        from labgrid.util.proxy import proxymanager

        root = logging.getLogger()
        root.addHandler(self._log)
        self.loop = asyncio.new_event_loop()
        address = proxymanager.get_grpc_address(self.address, default_port=20408)
        # grpc.aio binds the channel to the current event loop of this thread
        asyncio.set_event_loop(self.loop)
        try:
            self.session = client.ClientSession(address, self.loop)
            host, _, user = self.identity.partition("/")
            self.session.gethostname = lambda: host
            self.session.getuser = lambda: user
            self._own_connection()
            self._run(self.session.start, self.connect_timeout)
        except (client.Error, asyncio.TimeoutError, OSError) as e:
            why = "no answer" if isinstance(e, asyncio.TimeoutError) else self._last_reason(str(e))
            raise FarmError(f"cannot reach the labgrid coordinator at {self.address} ({why}); start it or "
                            "point --coordinator / LG_COORDINATOR at it") from None

    def _own_connection(self) -> None:
        """gRPC shares one TCP connection between channels to the same address, and the
        coordinator tells its clients apart by that connection: a second session in this
        process (a test's, a library user's) would be refused. Give this session its own."""
        import grpc

        old = self.session.channel
        self.session.channel = grpc.aio.insecure_channel(
            target=self.session.address,
            options=[("grpc.keepalive_time_ms", 7500), ("grpc.keepalive_timeout_ms", 10000),
                     ("grpc.http2.ping_timeout_ms", 10000), ("grpc.http2.max_pings_without_data", 0),
                     ("grpc.use_local_subchannel_pool", 1)])
        self.session.stub = type(self.session.stub)(self.session.channel)
        self._run(old.close)

    def _last_reason(self, default: str) -> str:
        for m in reversed(self._log.messages):
            if "unavailable" in m:
                return m.split("\n")[0].rsplit(": ", 1)[-1][:160]
        return default

    def sync(self, timeout: float = 5.0) -> None:
        """Lets the session take in the coordinator's updates (places, resources)."""
        client = _require_labgrid()
        try:
            ok = self._run(self.session.sync_with_coordinator, timeout)
        except asyncio.TimeoutError:
            ok = False
        except client.Error:
            ok = False
        if not ok or self.session.stopping.is_set():
            raise FarmError(f"lost the labgrid coordinator at {self.address}")

    def close(self) -> None:
        try:
            for p in list(self.places.values()):
                try:
                    p.release()
                except FarmError as e:
                    self.say(f"could not release place {p.name}: {e}")
                except KeyboardInterrupt:
                    with contextlib.suppress(BaseException):
                        p.release()
        finally:
            if self.session is not None:
                with contextlib.suppress(BaseException):
                    self._run(self.session.stop, 5.0)
                with contextlib.suppress(BaseException):
                    self._run(self.session.close, 5.0)
                self.session = None
            if self.loop is not None:
                with contextlib.suppress(BaseException):
                    self.loop.close()
                with contextlib.suppress(BaseException):
                    if asyncio.get_event_loop_policy().get_event_loop() is self.loop:
                        asyncio.set_event_loop(None)
                self.loop = None
            logging.getLogger().removeHandler(self._log)

    # ------------------------------------------------------------------ places
    def _find(self, name: str):
        places = self.session.places
        if name in places:
            return places[name]
        for p in places.values():
            if any(a == name or a.split(":", 1)[-1] == name for a in p.aliases):
                return p
        known = ", ".join(sorted(places)) or "none"
        raise FarmError(f"no place {name!r} on the labgrid coordinator at {self.address} (places: {known})")

    @contextlib.contextmanager
    def place(self, name: str):
        """Acquires place `name` for the block (unless this user holds it already: then it
        is used and left acquired) and releases it afterwards."""
        p = self.acquire(name)
        try:
            yield p
        finally:
            p.release()
            self.places.pop(p.name, None)

    def acquire(self, name: str) -> Place:
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb2
        import grpc

        self.sync()
        lp = self._find(name)
        me = self.identity
        if lp.acquired:
            if lp.acquired == me or me in lp.allowed:
                self.say(f"place {lp.name}: already acquired by you ({lp.acquired}); using it and leaving it acquired")
                p = Place(self, lp.name, acquired_here=False, tags=dict(lp.tags))
                self.places[lp.name] = p
                return p
            raise FarmError(f"place {lp.name} is held by {describe_holder(lp.acquired)} ({lp.acquired}); "
                            f"ask them to release it (labgrid-client -p {lp.name} release)")
        self.say(f"acquiring place {lp.name} on {self.address}")
        try:
            self._run(lambda: self.session.stub.AcquirePlace(pb2.AcquirePlaceRequest(placename=lp.name)), 30.0)
        except grpc.aio.AioRpcError as e:
            self.sync()
            lp = self._find(name)
            if lp.acquired and lp.acquired != me:
                raise FarmError(f"place {lp.name} is held by {describe_holder(lp.acquired)} ({lp.acquired}); "
                                f"ask them to release it (labgrid-client -p {lp.name} release)") from None
            raise FarmError(f"cannot acquire place {lp.name}: {e.details()}") from None
        except asyncio.TimeoutError:
            raise FarmError(f"cannot acquire place {lp.name}: no answer from the coordinator") from None
        p = Place(self, lp.name, acquired_here=True, tags=dict(lp.tags))
        self.places[lp.name] = p
        self.sync()
        return p

    def release(self, name: str) -> None:
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb2
        import grpc

        try:
            self._run(lambda: self.session.stub.ReleasePlace(pb2.ReleasePlaceRequest(placename=name)), 10.0)
            self.say(f"released place {name}")
        except grpc.aio.AioRpcError as e:
            raise FarmError(e.details()) from None
        except asyncio.TimeoutError:
            raise FarmError("no answer from the coordinator") from None

    def holder(self, name: str) -> str | None:
        self.sync()
        return self._find(name).acquired

    # ------------------------------------------------------------------ resources
    def serial_resources(self, name: str) -> list[SerialResource]:
        lp = self._find(name)
        out = []
        for path in lp.acquired_resources:
            exporter, group, cls, rname = path
            if cls not in SERIAL_CLASSES:
                continue
            match = lp.getmatch(path)
            entry = self.session.resources.get(exporter, {}).get(group, {}).get(rname)
            if entry is not None and "cls" not in entry.data:
                entry = None                      # deleted: its exporter went away
            params = entry.params if entry is not None else {}
            extra = entry.extra if entry is not None else {}
            out.append(SerialResource(
                path=tuple(path), name=(match.rename if match and match.rename else rname),
                host=params.get("host") or exporter, port=params.get("port"),
                speed=int(params.get("speed") or DEFAULT_BAUD), protocol=params.get("protocol") or "rfc2217",
                avail=bool(entry is not None and entry.avail), present=entry is not None, proxy_required=bool(extra.get("proxy_required"))))
        return out

    def serial_resource(self, name: str, *, timeout: float = RESOURCE_TIMEOUT) -> SerialResource:
        """The place's serial port, once its exporter serves it (ser2net runs only while the
        place is acquired: its TCP port is known a moment after the acquire)."""
        deadline = time.monotonic() + timeout
        while True:
            self.sync()
            lp = self._find(name)
            if not lp.acquired:
                raise FarmError(f"place {lp.name} is no longer acquired (released by someone else?)")
            found = self.serial_resources(name)
            if not found and lp.acquired_resources:
                kinds = ", ".join(sorted({p[2] for p in lp.acquired_resources}))
                raise FarmError(f"place {lp.name} has no serial port (NetworkSerialPort); its resources: {kinds}")
            if not found:
                raise FarmError(f"place {lp.name} has no resources: is its exporter running? "
                                f"(labgrid-client -p {lp.name} show)")
            if len(found) > 1:
                pref = [r for r in found if r.name in PREFERRED_SERIAL_NAMES]
                if len(pref) != 1:
                    names = ", ".join(r.name for r in found)
                    raise FarmError(f"place {lp.name} has several serial ports ({names}); name the board's one "
                                    f"'tinygen' (labgrid-client -p {lp.name} add-match ...::tinygen)")
                found = pref
            res = found[0]
            if res.proxy_required:
                raise FarmError(f"place {lp.name}: the exporter {res.path[0]} is isolated (needs an SSH proxy), "
                                "which tinygen does not set up; export the port without --isolated")
            if res.avail and res.port:
                return res
            if time.monotonic() >= deadline:
                if not res.present:
                    state = f"is gone (its exporter {res.path[0]} disconnected from the coordinator)"
                elif not res.avail:
                    state = f"is not available (exporter {res.path[0]} offline or the device unplugged?)"
                else:
                    state = f"has no TCP port yet (exporter {res.path[0]} did not start ser2net?)"
                raise FarmError(f"place {lp.name}: its serial port {res.label} {state}")
            self._run(lambda: asyncio.sleep(0.1))


class PlaceLink(Link):
    """The serial port of a labgrid place. Re-opening asks the coordinator again (the
    exporter may have come back with another TCP port) and, when the port stays away,
    says whether the exporter is gone."""

    def __init__(self, place: Place, *, baud: int | None = None, timeout: float = 0.05, say: Say = _quiet):
        res = place.serial()
        super().__init__(res.url, baud or res.speed, timeout=timeout, say=say)
        self.place = place
        self.resource = res

    @property
    def description(self) -> str:
        return f"place {self.place.name} ({self.url})"

    def reopen(self, timeout: float = 10.0):
        self._close_serial()
        deadline = time.monotonic() + timeout
        last = None
        while True:
            try:
                res = self.place.serial(timeout=max(0.0, min(1.0, deadline - time.monotonic())))
                self.resource, self.url = res, res.url
                return self.open()
            except FarmError as e:
                last = e
            except DeviceError as e:
                last = e
            if time.monotonic() >= deadline:
                break
            time.sleep(0.2)
        raise DeviceError(f"the board at place {self.place.name} did not come back within {timeout:g} s ({last})")


def open_place_link(place: Place, *, baud: int | None = None, timeout: float = 0.05, say: Say = _quiet) -> PlaceLink:
    link = PlaceLink(place, baud=baud, timeout=timeout, say=say)
    say(f"place {place.name}: serial port {link.url} ({link.resource.label})")
    link.open()
    return link


@contextlib.contextmanager
def place_target(name: str, *, coordinator: str | None = None, baud: int | None = None, timeout: float = 0.05,
                 say: Say = _quiet):
    """An open PlaceLink to the board at place `name`: connects to the coordinator, acquires
    the place, opens its serial port; closes, releases and disconnects on leaving."""
    with Farm.connect(coordinator, say=say) as farm, farm.place(name) as p:
        link = open_place_link(p, baud=baud, timeout=timeout, say=say)
        try:
            yield link
        finally:
            link.close()


# ----------------------------------------------------------------------------- flashing
def check_model_at_place(place: Place, project, *, say: Say = _quiet, sync_timeout: float = 10.0) -> dict:
    """An emulated board at a place runs where it is exported (a QEMU started with
    `tinygen flash DIR --pty` on the lab host): checks over the protocol that it runs this
    project's model. Returns the device's INFO as a dict; FarmError when it runs another."""
    from tinygen.device.protocol import Client

    m = project.manifest
    with contextlib.closing(open_place_link(place, say=say)) as link:
        client = Client(link.serial, timeout=2.0)
        client.sync(sync_timeout)
        info = client.info()
    if info.sha256.hex() != m["model_sha256"]:
        raise FarmError(f"place {place.name} runs model {info.model_name!r} (sha256 {info.sha256.hex()[:16]}...), "
                        f"not {m['model']} (sha256 {m['model_sha256'][:16]}...): start this project's firmware "
                        f"on the lab host (tinygen flash {project.path.name} --pty) and export its pty")
    return {"model": info.model_name, "board": info.board_name, "fw": info.fw_version,
            "sha256": info.sha256.hex()}


def flasher_problem(board) -> str | None:
    """None when tinygen can flash `board` through a place, else the one line why not."""
    if board.is_emulated or board.flash_method == "openocd":
        return None
    return (f"labgrid has no driver for {board.flash_tool} ({board.id}): flash the board on the lab host "
            f"(tinygen flash DIR there); --place then works for validate and monitor")


def flash_place(place: Place, project, *, say: Say = _quiet) -> str:
    """Puts `project`'s firmware on the board at `place`: OpenOCD through labgrid's
    OpenOCDDriver and the place's USB debugger (run on the lab host over SSH by labgrid) for
    OpenOCD boards; for emulated boards, checks that the place already runs this model.
    Returns a one-line summary."""
    board = project.board
    why = flasher_problem(board)
    if why:
        raise FarmError(why)
    if board.is_emulated:
        info = check_model_at_place(place, project, say=say)
        return (f"place {place.name} already runs {info['model']} on {info['board']} (emulated boards run "
                f"where they are exported): nothing to flash")
    return _flash_openocd(place, project, say=say)


def _flash_openocd(place: Place, project, *, say: Say) -> str:
    from labgrid import Target
    from labgrid.driver import OpenOCDDriver
    from labgrid.resource.remote import RemotePlace, RemotePlaceManager

    farm = place.farm
    board = project.board
    lp = farm._find(place.name)
    kinds = {p[2] for p in lp.acquired_resources}
    if "NetworkUSBDebugger" not in kinds:
        raise FarmError(f"place {place.name} has no USB debugger for OpenOCD (resources: "
                        f"{', '.join(sorted(kinds)) or 'none'}); export the board's ST-Link as a USBDebugger")
    for exporter, group, cls, rname in lp.acquired_resources:
        if cls != "NetworkUSBDebugger":
            continue
        entry = farm.session.resources.get(exporter, {}).get(group, {}).get(rname)
        if entry is None or "cls" not in entry.data or not entry.avail:
            raise FarmError(f"place {place.name}: its USB debugger {exporter}/{group} is not available (the board "
                            f"unplugged, or exporter {exporter} does not see its ST-Link)")
    if not project.firmware.is_file():
        raise TinygenError(f"{project.firmware} not found: build it first (tinygen build {project.path})")
    oc = board.extra.get("openocd", {}) if isinstance(board.extra.get("openocd"), dict) else {}
    interface = str(oc.get("interface", "interface/stlink.cfg")).removeprefix("interface/")
    target_cfg = oc.get("target", "target/stm32f4x.cfg")
    with farm.lock:
        asyncio.set_event_loop(farm.loop)
        mgr = RemotePlaceManager.get()
        mgr.session, mgr.loop = farm.session, farm.loop
        target = Target(place.name)
        try:
            RemotePlace(target, name=place.name)
            drv = OpenOCDDriver(target, name=None, interface_config=interface,
                                load_commands=[f"source [find {target_cfg}]", "program {filename} verify reset exit"])
            target.activate(drv)
            say(f"flashing {board.name} at place {place.name} with OpenOCD (labgrid OpenOCDDriver)")
            drv.load(str(project.firmware))
        except Exception as e:                 # labgrid's ExecutionError, NoResourceFoundError, ...
            text = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
            stdout = getattr(e, "stdout", None) or []
            errs = [ln for ln in (list(stdout) + text) if "rror" in str(ln)]
            raise FarmError(f"flashing {board.id} at place {place.name} failed: "
                            f"{(errs or text or [type(e).__name__])[-1]}") from None
        finally:
            with contextlib.suppress(Exception):
                target.deactivate_all_drivers()
    return f"flashed {project.firmware.name} to {board.name} at place {place.name}"
