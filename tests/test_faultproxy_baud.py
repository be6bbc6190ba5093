"""The fault proxy's line rate (`baud=`): each direction delivers at most baud/10 bytes per
second, like a UART, independently of the other. A property of the test tool itself (plain
sockets, no QEMU): the benchmark's bandwidth-limited numbers rest on it."""
from __future__ import annotations

import socket
import threading
import time

import pytest

from .support.faultproxy import FaultProxy


class _Peer:
    """A TCP server standing in for the device: records when bytes arrive, can send a burst."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = self.listener.getsockname()
        self.conn = None
        self.got = 0
        self.last = None
        self.accepted = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        self.conn, _ = self.listener.accept()
        self.accepted.set()
        while True:
            try:
                data = self.conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            self.got += len(data)
            self.last = time.monotonic()

    def close(self):
        for s in (self.conn, self.listener):
            if s is not None:
                s.close()


def _receive(sock, n: int, timeout: float) -> float:
    """Read n bytes; return the arrival time of the last one."""
    sock.settimeout(timeout)
    got = 0
    while got < n:
        data = sock.recv(65536)
        if not data:
            break
        got += len(data)
    assert got == n
    return time.monotonic()


@pytest.mark.parametrize("baud", [115200, 921600])
def test_each_direction_is_held_to_the_line_rate_independently(baud):
    rate = baud / 10                        # bytes per second: start + 8 data + stop bits
    n = int(rate * 0.5)                     # half a second of line time each way
    peer = _Peer()
    try:
        with FaultProxy(peer.address, baud=baud) as proxy:
            client = socket.create_connection(("127.0.0.1", proxy.port))
            assert peer.accepted.wait(5)
            t0 = time.monotonic()
            client.sendall(bytes(n))        # up: client -> device
            peer.conn.sendall(bytes(n))     # down: device -> client, at the same time
            t_down = _receive(client, n, timeout=10)
            deadline = time.monotonic() + 10
            while peer.got < n and time.monotonic() < deadline:
                time.sleep(0.01)
            assert peer.got == n
            up_s, down_s = peer.last - t0, t_down - t0
            client.close()
    finally:
        peer.close()
    line_s = n / rate
    # never faster than the line (the last byte ends its frame at n/rate at the earliest) ...
    assert up_s >= 0.98 * line_s and down_s >= 0.98 * line_s, (up_s, down_s, line_s)
    # ... and the two directions do not share the line: both finish well before 2 x line_s
    assert max(up_s, down_s) < 1.6 * line_s, (up_s, down_s, line_s)


def test_unlimited_by_default_and_bad_rate_refused():
    peer = _Peer()
    try:
        with FaultProxy(peer.address) as proxy:
            assert proxy.baud is None
            client = socket.create_connection(("127.0.0.1", proxy.port))
            assert peer.accepted.wait(5)
            n = 200_000                     # 17 s at 115200: unlimited carries it at once
            t0 = time.monotonic()
            client.sendall(bytes(n))
            deadline = t0 + 10
            while peer.got < n and time.monotonic() < deadline:
                time.sleep(0.01)
            assert peer.got == n
            client.close()
        with pytest.raises(ValueError):
            FaultProxy(peer.address, baud=0)
    finally:
        peer.close()
