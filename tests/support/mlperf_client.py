"""An MLPerf Tiny DUT client for the tests, written from the public protocol description
(mlcommons/tiny benchmark/api and benchmark/runner), independent of tinygen's own driver
(tinygen/device/mlperf.py): it opens a serial device path, sends commands terminated by '%'
(optionally dribbled in odd-sized pieces), and collects the text lines of each reply up to
the line "m-ready".
"""
from __future__ import annotations

import time

import serial


class Reply(list):
    """The lines of one reply (without m-ready)."""

    def errors(self) -> list[str]:
        return [ln for ln in self if ln.startswith("e-[")]

    def prefixed(self, prefix: str) -> list[str]:
        return [ln[len(prefix):] for ln in self if ln.startswith(prefix)]


class SpecClient:
    def __init__(self, path, baud: int = 115200, timeout: float = 20.0):
        """`path`: a serial device path, or an already open pyserial-like port."""
        self.port = serial.Serial(path, baud, timeout=0.05) if isinstance(path, str) else path
        self.timeout = timeout
        self.pending = b""

    def close(self) -> None:
        self.port.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def write(self, data: bytes, pieces=None, pause: float = 0.002) -> None:
        """Write `data`, in pieces of the given sizes (cycled) when `pieces` is set."""
        if not pieces:
            self.port.write(data)
            return
        i = k = 0
        while i < len(data):
            n = pieces[k % len(pieces)]
            self.port.write(data[i:i + n])
            self.port.flush()
            time.sleep(pause)
            i += n
            k += 1

    def read_reply(self, timeout: float | None = None) -> Reply:
        end = time.monotonic() + (timeout or self.timeout)
        lines = Reply()
        while True:
            while b"\n" in self.pending:
                raw, self.pending = self.pending.split(b"\n", 1)
                text = raw.decode("latin-1").strip()
                if text == "m-ready":
                    return lines
                if text:
                    lines.append(text)
            if time.monotonic() > end:
                raise TimeoutError(f"no m-ready; got {lines} + {self.pending!r}")
            self.pending += self.port.read(256)

    def send(self, command: str, pieces=None, timeout: float | None = None) -> Reply:
        self.write(command.encode() + b"%", pieces)
        return self.read_reply(timeout)

    def drain(self, quiet: float = 0.3) -> bytes:
        got = self.pending
        self.pending = b""
        last = time.monotonic()
        while time.monotonic() - last < quiet:
            chunk = self.port.read(256)
            if chunk:
                got += chunk
                last = time.monotonic()
        return got

    def load(self, data: bytes, chunk_sizes=(31,), pieces=None) -> list[Reply]:
        """db load N, then db HEX... with the given numbers of bytes per command (cycled)."""
        replies = [self.send(f"db load {len(data)}", pieces)]
        i = k = 0
        while i < len(data):
            n = chunk_sizes[k % len(chunk_sizes)]
            replies.append(self.send("db " + data[i:i + n].hex(), pieces))
            i += n
            k += 1
        return replies
