"""A TCP proxy that damages a serial link on purpose, and QEMU behind a fixed address.

    vm = QemuVM("qemu-cortex-m4", elf)            # QEMU with its UART on a TCP server
    with FaultProxy(vm.address, seed=1) as proxy:
        proxy.faults(down=Faults(corrupt_every=900))
        validate_link(Link(proxy.url), ...)       # tinygen connects to the proxy
        vm.restart(); proxy.set_upstream(vm.address)   # a power cycle behind tinygen's back

The client (tinygen) side of the proxy stays connected while the upstream (QEMU) side
may be replaced. "up" is client -> device, "down" is device -> client. Faults are
scheduled at byte positions drawn from a seeded RNG with a minimum spacing, so a
resent frame gets through; `Faults()` (the default) passes bytes unchanged.
"""
from __future__ import annotations

import random
import select
import socket
import subprocess
import threading
import time
from dataclasses import dataclass

from tinygen.boards.qemu import find_qemu, free_tcp_port, qemu_command


@dataclass
class Faults:
    """Mean spacing in bytes between faults of each kind (0: never), on one direction."""
    drop_every: int = 0
    dup_every: int = 0
    corrupt_every: int = 0
    garbage_every: int = 0          # insert 3-40 random non-zero bytes
    min_gap: int = 1200             # no two faults closer than this many bytes
    flip_rate: float = 0.0          # probability per byte of one flipped bit (independent, no min_gap)
    loss_rate: float = 0.0          # probability per byte of losing it (independent, no min_gap)
    blackhole: bool = False         # swallow everything
    garbage_only: bool = False      # replace every byte by a random byte (a wrong baud rate)


class _Scheduler:
    def __init__(self, faults: Faults, rng: random.Random):
        self.f = faults
        self.rng = rng
        self.pos = 0
        self.next = {}
        for kind in ("drop", "dup", "corrupt", "garbage"):
            every = getattr(faults, f"{kind}_every")
            if every:
                self.next[kind] = self._gap(every)
        self.counts = {k: 0 for k in ("drop", "dup", "corrupt", "garbage", "flip", "loss")}

    def _gap(self, every: int) -> int:
        return self.pos + self.f.min_gap + int(self.rng.expovariate(1.0 / every))

    def apply(self, data: bytes) -> bytes:
        f = self.f
        if f.blackhole:
            self.pos += len(data)
            return b""
        if f.garbage_only:
            self.pos += len(data)
            return bytes(self.rng.randrange(0, 256) for _ in data)
        if f.flip_rate or f.loss_rate:
            data = self._random_damage(data)
        if not self.next:
            self.pos += len(data)
            return data
        out = bytearray()
        for b in data:
            self.pos += 1
            fired = None
            for kind, at in self.next.items():
                if self.pos >= at:
                    fired = kind
                    break
            if fired is None:
                out.append(b)
                continue
            self.counts[fired] += 1
            # push every pending fault past the minimum gap
            for kind in self.next:
                self.next[kind] = max(self.next[kind], self.pos + f.min_gap)
            self.next[fired] = self._gap(getattr(f, f"{fired}_every"))
            if fired == "drop":
                continue
            if fired == "dup":
                out += bytes([b, b])
            elif fired == "corrupt":
                out.append(b ^ (1 << self.rng.randrange(8)))
            else:
                out += bytes(self.rng.randrange(1, 256) for _ in range(self.rng.randrange(3, 41)))
                out.append(b)
        return bytes(out)


    def _random_damage(self, data: bytes) -> bytes:
        out = bytearray()
        rnd = self.rng.random
        flip, loss = self.f.flip_rate, self.f.loss_rate
        for b in data:
            r = rnd()
            if r < loss:
                self.counts["loss"] += 1
                continue
            if r < loss + flip:
                self.counts["flip"] += 1
                b ^= 1 << self.rng.randrange(8)
            out.append(b)
        return bytes(out)


def noisy(rate: float) -> Faults:
    """A link damaging `rate` of the bytes at random: half of them get one bit flipped,
    half are lost (the issue-16 fault model: "1%" is noisy(0.01))."""
    return Faults(flip_rate=rate / 2, loss_rate=rate / 2)


class _Line:
    """One direction of a UART at `baud` (10 bits per byte: start, 8 data, stop): bytes leave no
    faster than baud/10 per second. Bytes handed over while the line is busy queue behind the
    ones before them (the line catches up after an oversleep); a line idle since before the
    bytes arrived starts when they arrive. A byte is delivered at the end of its own frame."""

    SLICE_S = 0.004                 # deliver in slices of ~4 ms of line time

    def __init__(self, baud: int):
        self.bytes_per_s = baud / 10.0
        self.free_at = 0.0          # monotonic time at which the line is idle

    def send(self, data: bytes, deliver, *, queued: bool) -> None:
        now = time.monotonic()
        if not queued or self.free_at < now - 0.02:
            self.free_at = max(self.free_at, now)
        step = max(1, int(self.bytes_per_s * self.SLICE_S))
        for i in range(0, len(data), step):
            piece = data[i:i + step]
            self.free_at += len(piece) / self.bytes_per_s
            delay = self.free_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            deliver(piece)


class FaultProxy:
    """127.0.0.1:`port` -> `upstream`, one client at a time, with injectable faults.

    `baud`: model a UART at that line rate, each direction on its own (bytes per second
    = baud / 10); None (the default) forwards as fast as TCP goes."""

    def __init__(self, upstream: tuple[str, int], *, seed: int = 0, baud: int | None = None):
        if baud is not None and baud <= 0:
            raise ValueError(f"baud must be positive, not {baud}")
        self.baud = baud
        self._lines = {"up": _Line(baud), "down": _Line(baud)} if baud else None
        self.rng = random.Random(seed)
        self._upstream_addr = upstream
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(1)
        self.port = self._listener.getsockname()[1]
        self._client = None
        self._upstream = None
        self._stop = threading.Event()
        self._up = _Scheduler(Faults(), self.rng)
        self._down = _Scheduler(Faults(), self.rng)
        self.bytes_up = 0
        self.bytes_down = 0
        self._triggers = []            # (direction, at_bytes, fn)
        self._frame_triggers = []      # [cmd, nth, fn]: after the nth request frame with cmd went up
        self._up_seg = bytearray()
        self._threads = [threading.Thread(target=self._serve, daemon=True)]
        self._threads[0].start()

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    # -- control -------------------------------------------------------------------------
    def faults(self, up: Faults | None = None, down: Faults | None = None) -> None:
        with self._lock:
            # each direction its own generator (the pumps run in two threads)
            if up is not None:
                self._up = _Scheduler(up, random.Random(self.rng.getrandbits(64)))
            if down is not None:
                self._down = _Scheduler(down, random.Random(self.rng.getrandbits(64)))

    def fault_counts(self) -> dict:
        return {"up": dict(self._up.counts), "down": dict(self._down.counts)}

    def on_bytes(self, direction: str, at: int, fn) -> None:
        """Call fn() (in a new thread) once `direction` ("up"/"down") has carried `at` bytes."""
        with self._lock:
            self._triggers.append((direction, at, fn))

    def on_frame_up(self, cmd: int, nth: int, fn) -> None:
        """Call fn() in the proxy's thread right after the `nth` (1-based) request frame with
        command `cmd` has been forwarded to the device, before anything else goes up."""
        with self._lock:
            self._frame_triggers.append([cmd, nth, fn])

    def _scan_frames(self, data: bytes) -> None:
        from tinygen.device.link import FrameError, decode_frame

        for b in data:
            if b != 0:
                self._up_seg.append(b)
                continue
            seg, self._up_seg = bytes(self._up_seg), bytearray()
            if not seg:
                continue
            try:
                f = decode_frame(seg)
            except FrameError:
                continue
            fire = []
            with self._lock:
                for t in self._frame_triggers:
                    if t[0] == f.cmd:
                        t[1] -= 1
                        if t[1] == 0:
                            fire.append(t[2])
                self._frame_triggers = [t for t in self._frame_triggers if t[1] > 0]
            for fn in fire:
                fn()

    def inject_up(self, data: bytes) -> None:
        """Send bytes to the device as if the client had sent them."""
        with self._lock:
            up = self._upstream
        if up is not None:
            up.sendall(data)

    def drop_upstream(self) -> None:
        """Forget the device side (it is being killed): bytes from the client are discarded."""
        with self._lock:
            up, self._upstream = self._upstream, None
        if up is not None:
            _close(up)

    def set_upstream(self, addr: tuple[str, int], timeout: float = 10.0) -> None:
        """Connect to a (new) device; the client connection is kept."""
        self.drop_upstream()
        self._upstream_addr = addr
        sock = _connect(addr, timeout)
        with self._lock:
            self._upstream = sock
        t = threading.Thread(target=self._pump_down, args=(sock,), daemon=True)
        t.start()
        self._threads.append(t)

    def disconnect_client(self, *, stop_listening: bool = False) -> None:
        """The port "disappears": close tinygen's connection (and refuse new ones)."""
        if stop_listening:
            _close(self._listener)
        with self._lock:
            c, self._client = self._client, None
        if c is not None:
            _close(c)

    def close(self) -> None:
        self._stop.set()
        _close(self._listener)
        self.disconnect_client()
        self.drop_upstream()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- pumps ---------------------------------------------------------------------------
    def _fire(self, direction: str, count: int) -> None:
        with self._lock:
            due = [t for t in self._triggers if t[0] == direction and count >= t[1]]
            self._triggers = [t for t in self._triggers if t not in due]
        for _d, _at, fn in due:
            threading.Thread(target=fn, daemon=True).start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                old, self._client = self._client, conn
                need_upstream = self._upstream is None
            if old is not None:
                _close(old)
            if need_upstream:      # QEMU (wait=on) starts its CPU when we connect: not before the client
                try:
                    self.set_upstream(self._upstream_addr)
                except OSError:
                    pass
            self._pump_up(conn)

    def _pump_up(self, conn) -> None:
        queued = False
        while not self._stop.is_set():
            try:
                r, _, _ = select.select([conn], [], [], 0.0 if self._lines else 0.1)
                queued = bool(r)
                if not r and self._lines:
                    r, _, _ = select.select([conn], [], [], 0.1)
                if not r:
                    continue
                data = conn.recv(4096)
            except (OSError, ValueError):
                return
            if not data:
                return
            if self._lines:
                self._lines["up"].send(data, self._forward_up, queued=queued)
            else:
                self._forward_up(data)

    def _forward_up(self, data: bytes) -> None:
        with self._lock:
            sched, up = self._up, self._upstream
        self.bytes_up += len(data)
        out = sched.apply(data)
        if up is not None and out:
            try:
                up.sendall(out)
            except OSError:
                pass
            if self._frame_triggers:
                self._scan_frames(out)
        self._fire("up", self.bytes_up)

    def _pump_down(self, sock) -> None:
        queued = False
        while not self._stop.is_set():
            try:
                r, _, _ = select.select([sock], [], [], 0.0 if self._lines else 0.1)
                queued = bool(r)
                if not r and self._lines:
                    r, _, _ = select.select([sock], [], [], 0.1)
                if not r:
                    with self._lock:
                        if self._upstream is not sock:
                            return
                    continue
                data = sock.recv(4096)
            except (OSError, ValueError):      # closed under us (drop_upstream)
                return
            if not data:
                return
            with self._lock:
                current = self._upstream is sock
            if not current:
                return
            if self._lines:
                self._lines["down"].send(data, lambda piece: self._forward_down(sock, piece), queued=queued)
            else:
                self._forward_down(sock, data)

    def _forward_down(self, sock, data: bytes) -> None:
        with self._lock:
            sched, client = self._down, self._client
            if self._upstream is not sock:      # replaced while these bytes waited for the line
                return
        self.bytes_down += len(data)
        out = sched.apply(data)
        if client is not None and out:
            try:
                client.sendall(out)
            except OSError:
                pass
        self._fire("down", self.bytes_down)


def _connect(addr, timeout: float):
    deadline = time.monotonic() + timeout
    while True:
        try:
            s = socket.create_connection(addr, timeout=2.0)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.settimeout(None)
            return s
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _close(s) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass


def port_listened(port: int, host: str = "127.0.0.1") -> bool:
    """Does some process listen on TCP `port`? Asked by binding it (SO_REUSEADDR, as QEMU binds), never
    by connecting: a connection to a port that another test's QEMU has taken meanwhile would be that
    QEMU's first client (wait=on: it starts the CPU) and take the head of its output."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


class QemuVM:
    """qemu-system-arm running `elf` with its UART on a TCP server (wait=on), no client."""

    def __init__(self, board: str, elf):
        self.board = board
        self.elf = elf
        self.proc = None
        self.port = None
        self.starts = 0
        self.start()

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def start(self) -> None:
        for _ in range(5):
            self.port = free_tcp_port()
            cmd = qemu_command(self.board, self.elf, self.port, qemu_binary=find_qemu())
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT)
            out = b""
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                line = self.proc.stdout.readline()
                if not line:
                    break
                out += line
                if b"waiting for connection" in line:
                    self.starts += 1
                    threading.Thread(target=self._drain, args=(self.proc,), daemon=True).start()
                    return
            self.kill()
            if b"in use" not in out:
                raise RuntimeError(f"QEMU did not start: {out.decode(errors='replace')[-300:]}")
        raise RuntimeError("QEMU could not bind a port")

    @staticmethod
    def _drain(proc) -> None:
        try:
            for _ in proc.stdout:
                pass
        except (OSError, ValueError):
            pass

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self) -> None:
        self.kill()
        self.start()

    def close(self) -> None:
        self.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

