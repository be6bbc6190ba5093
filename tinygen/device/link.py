"""Framing layer of the serial protocol: COBS, CRC-32, frames, a stream parser.

A frame on the wire is ``0x00 COBS(header + payload + crc32) 0x00`` where the
header is ``magic u8, seq u16 LE, cmd u8, payload length u16 LE`` and the CRC-32
(IEEE, zlib's) covers header and payload, little-endian. See docs/protocol.md.

`FrameReader` turns an arbitrary byte stream (frames, text lines printed by the
firmware, noise) into events; `ProcessSerial` is a pyserial-like object over a
subprocess's stdin/stdout, used to drive host-built firmware in tests.
"""
from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import termios
import time
import zlib
from dataclasses import dataclass

# Mirrored in firmware/protocol/tg_proto.h (tests/test_protocol.py checks they agree).
PROTOCOL_VERSION = 1
MAGIC = 0xA0 | PROTOCOL_VERSION
HEADER_SIZE = 6
CRC_SIZE = 4
MAX_PAYLOAD = 1024
MAX_FRAME = HEADER_SIZE + MAX_PAYLOAD + CRC_SIZE
MAX_ENCODED = MAX_FRAME + (MAX_FRAME + 253) // 254
SEQ_NONE = 0xFFFF
SEQ_BOOT = 0
MAGIC_BYTE = bytes([MAGIC])

_HEADER = struct.Struct("<BHBH")
# Bytes a firmware text line may contain (printable ASCII, tab, CR, LF).
_TEXT_BYTES = bytes(range(0x20, 0x7F)) + b"\t\r\n"
_MAX_TEXT_LINE = 4096


class FrameError(ValueError):
    """Bytes that are not a valid frame (bad COBS, short, bad CRC, bad magic, bad length)."""


def crc32(data: bytes, crc: int = 0) -> int:
    """CRC-32 as in zlib / IEEE 802.3 (same as tg_proto_crc32)."""
    return zlib.crc32(data, crc) & 0xFFFFFFFF


def cobs_encode(data: bytes) -> bytes:
    """Consistent Overhead Byte Stuffing: the result has no 0x00 byte.

    No delimiter is added. A final full 254-byte block gets no trailing code byte.
    """
    data = bytes(data)
    out = bytearray()
    n = len(data)
    i = 0
    while True:
        j = data.find(b"\x00", i, min(n, i + 254))
        if j < 0:
            j = min(n, i + 254)
        out.append(j - i + 1)
        out += data[i:j]
        if j >= n:
            return bytes(out)
        i = j if j - i == 254 else j + 1


def cobs_decode(data: bytes) -> bytes:
    """Inverse of cobs_encode (also accepts a trailing 0x01 after a full block)."""
    data = bytes(data)
    out = bytearray()
    n = len(data)
    i = 0
    while i < n:
        code = data[i]
        if code == 0:
            raise FrameError("COBS: zero byte inside a frame")
        end = i + code
        if end > n:
            raise FrameError("COBS: truncated block")
        block = data[i + 1:end]
        if 0 in block:
            raise FrameError("COBS: zero byte inside a frame")
        out += block
        i = end
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


@dataclass(frozen=True)
class Frame:
    seq: int
    cmd: int
    payload: bytes


def frame_bytes(seq: int, cmd: int, payload: bytes = b"") -> bytes:
    """The decoded frame: header + payload + CRC (not COBS-encoded)."""
    payload = bytes(payload)
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds the maximum of {MAX_PAYLOAD}")
    body = _HEADER.pack(MAGIC, seq & 0xFFFF, cmd & 0xFF, len(payload)) + payload
    return body + struct.pack("<I", crc32(body))


def encode_frame(seq: int, cmd: int, payload: bytes = b"") -> bytes:
    """A frame ready for the wire: 0x00 + COBS(frame) + 0x00."""
    return b"\x00" + cobs_encode(frame_bytes(seq, cmd, payload)) + b"\x00"


def parse_frame(raw: bytes) -> Frame:
    """Checks and splits a decoded frame (header + payload + CRC)."""
    if len(raw) < HEADER_SIZE + CRC_SIZE:
        raise FrameError(f"frame too short ({len(raw)} bytes)")
    if len(raw) > MAX_FRAME:
        raise FrameError(f"frame too long ({len(raw)} bytes)")
    (crc,) = struct.unpack_from("<I", raw, len(raw) - CRC_SIZE)
    if crc32(raw[:-CRC_SIZE]) != crc:
        raise FrameError("bad CRC")
    magic, seq, cmd, length = _HEADER.unpack_from(raw)
    if magic != MAGIC and (magic & 0xF0) == (MAGIC & 0xF0):
        raise FrameError(f"frame of protocol version {magic & 0x0F}, this tinygen speaks {PROTOCOL_VERSION}")
    if magic != MAGIC:
        raise FrameError(f"bad magic/version byte 0x{magic:02x} (expected 0x{MAGIC:02x})")
    if length != len(raw) - HEADER_SIZE - CRC_SIZE:
        raise FrameError(f"length field {length} disagrees with the frame ({len(raw) - HEADER_SIZE - CRC_SIZE})")
    return Frame(seq, cmd, bytes(raw[HEADER_SIZE:-CRC_SIZE]))


def decode_frame(encoded: bytes) -> Frame:
    """COBS-decodes and checks one frame given without its 0x00 delimiters."""
    return parse_frame(cobs_decode(encoded))


@dataclass(frozen=True)
class Text:
    """A line of text printed by the firmware outside any frame (no line terminator)."""
    line: str


@dataclass(frozen=True)
class Garbage:
    """Bytes that are neither a valid frame nor text."""
    data: bytes
    reason: str


def _is_text(data: bytes) -> bool:
    return not data.translate(None, _TEXT_BYTES)


def _as_text_lines(data: bytes):
    """Lines of `data` if it is printable UTF-8 text, else None."""
    try:
        s = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not all(c.isprintable() or c in "\t\r\n" for c in s):
        return None
    return [line.rstrip("\r") for line in s.split("\n") if line.rstrip("\r")]


class FrameReader:
    """Incremental parser: bytes in, `Frame` / `Text` / `Garbage` events out.

    Segments are the bytes between 0x00 delimiters. A segment that decodes to a
    valid frame is a `Frame`. ASCII text is reported line by line as soon as
    its newline arrives (a COBS-encoded frame is never pure ASCII: its second
    byte is the magic 0xA1). Anything else is `Garbage`, reported when its
    delimiter arrives or when it grows beyond the largest possible frame.

    On a noisy link a delimiter may be lost, so the reader also resynchronises
    without one: every position in a segment where a frame could start (a COBS
    code byte followed by the magic) is followed along its COBS blocks, and a
    frame is taken as soon as its last block is complete and it checks (CRC,
    magic, length), with or without its trailing 0x00; bytes before it are
    garbage (or text). A frame is only ever accepted whole and CRC-checked.
    """

    def __init__(self):
        self._seg = bytearray()
        self._seg_text = True      # the segment so far is pure ASCII text
        self._next_code = 0        # index in _seg of the next COBS code byte (walk from 0)
        self._cands = {}           # start -> index of its next COBS code byte (frames without a 0x00)
        self._scanned = 0          # _seg[:_scanned] has been searched for frame starts

    def pending(self) -> int:
        """Bytes of an unfinished segment held back (no delimiter yet)."""
        return len(self._seg)

    def want(self) -> int:
        """How many bytes to read next: the rest of the current COBS block and
        the byte after it (next code byte or delimiter). Never waits for bytes
        that a well-formed frame would not send."""
        seg = self._seg
        n = max(1, self._next_code - len(seg) + 1)
        if len(seg) < 2 or (seg[1] == MAGIC and seg[0] >= 2):
            return n              # the segment itself looks like a frame: follow it
        for nxt in self._cands.values():
            n = min(n, max(1, nxt - len(self._seg) + 1))
        return n

    def feed(self, data: bytes) -> list:
        events = []
        data = bytes(data)
        start = 0
        while start < len(data):
            z = data.find(b"\x00", start)
            end = len(data) if z < 0 else z
            if end > start:
                self._append(data[start:end], events)
            if z < 0:
                break
            self._end_segment(events)
            start = z + 1
        return events

    def _append(self, chunk: bytes, events: list) -> None:
        self._seg += chunk
        self._seg_text = self._seg_text and _is_text(chunk)
        self._walk_codes()
        seg = self._seg
        # A lone first byte may be a frame's COBS code byte (0x0A is a valid
        # one); from the second byte on, a frame is never pure text.
        if self._seg_text and len(seg) >= 2:
            nl = seg.rfind(b"\n")
            if nl >= 0 or len(seg) > _MAX_TEXT_LINE:
                cut = nl + 1 if nl >= 0 else len(seg)
                for line in bytes(seg[:cut]).decode("ascii").split("\n"):
                    line = line.rstrip("\r")
                    if line:
                        events.append(Text(line))
                self._restart(bytes(seg[cut:]))
            return
        if self._seg_text:
            return
        self._find_frames(events)
        seg = self._seg
        if len(seg) > 2 * MAX_ENCODED:
            # garbage without a delimiter: report the head, keep looking for a frame in the tail
            cut = len(seg) - MAX_ENCODED
            self._emit_prefix(bytes(seg[:cut]), events, "longer than any frame")
            self._restart(bytes(seg[cut:]))
            self._find_frames(events)

    def _walk_codes(self) -> None:
        seg = self._seg
        while self._next_code < len(seg):
            self._next_code += max(1, seg[self._next_code])

    def _find_frames(self, events: list) -> None:
        """Follows every possible frame start in the segment; takes the first (earliest
        starting) one that is complete and valid."""
        seg = self._seg
        n = len(seg)
        # new candidate starts: a code byte >= 2 followed by the magic
        i = max(0, self._scanned - 1)
        while True:
            j = seg.find(MAGIC_BYTE, i + 1)
            if j < 0 or j >= n:
                break
            if seg[j - 1] >= 2:
                self._cands.setdefault(j - 1, j - 1)
            i = j
        self._scanned = n
        done = None
        for start in sorted(self._cands):
            nxt = self._cands[start]
            while nxt < n:
                nxt += max(1, seg[nxt])
            if nxt - start > MAX_ENCODED:
                del self._cands[start]
                continue
            self._cands[start] = nxt
            if nxt == n and n - start >= HEADER_SIZE + CRC_SIZE + 1:
                try:
                    frame = decode_frame(bytes(seg[start:]))
                except FrameError:
                    continue
                done = (start, frame)
                break
        if done is not None:
            start, frame = done
            if start:
                self._emit_prefix(bytes(seg[:start]), events, "bytes before a frame without its 0x00")
            events.append(frame)
            self._restart(b"")

    def _emit_prefix(self, data: bytes, events: list, reason: str) -> None:
        lines = _as_text_lines(data)
        if lines is not None:
            events.extend(Text(line) for line in lines)
        else:
            events.append(Garbage(data, reason))

    def _restart(self, rest: bytes) -> None:
        self._seg = bytearray(rest)
        self._seg_text = _is_text(rest)
        self._next_code = 0
        self._cands = {}
        self._scanned = 0
        self._walk_codes()

    def _end_segment(self, events: list) -> None:
        seg = bytes(self._seg)
        self._restart(b"")
        if not seg:
            return
        try:
            events.append(decode_frame(seg))
            return
        except FrameError as e:
            reason = str(e)
        lines = _as_text_lines(seg)
        if lines is not None:
            events.extend(Text(line) for line in lines)
            return
        # a frame whose leading 0x00 was lost (or text without a delimiter before it)
        i = 0
        while True:
            j = seg.find(MAGIC_BYTE, i + 1)
            if j < 0:
                break
            if seg[j - 1] >= 2:
                try:
                    frame = decode_frame(seg[j - 1:])
                except FrameError:
                    frame = None
                if frame is not None:
                    self._emit_prefix(seg[:j - 1], events, "bytes before a frame without its 0x00")
                    events.append(frame)
                    return
            i = j
        events.append(Garbage(seg, reason))


class ProcessSerial:
    """A minimal pyserial-like port over a subprocess's stdin/stdout.

    Supports what `tinygen.protocol.Client` uses: read(size) with `timeout`,
    write, in_waiting, reset_input_buffer, flush, close. Reading after the
    process exited raises serial.SerialException, like a vanished port.
    """

    def __init__(self, argv, *, timeout: float | None = 0.05, env=None, stderr=None, cwd=None):
        self.port = " ".join(str(a) for a in argv)
        self.timeout = timeout
        self.proc = subprocess.Popen(
            [str(a) for a in argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=stderr, env=env, cwd=cwd, bufsize=0)
        self._rfd = self.proc.stdout.fileno()
        self.is_open = True

    @staticmethod
    def _exception(msg):
        import serial
        return serial.SerialException(msg)

    @property
    def in_waiting(self) -> int:
        buf = bytearray(4)
        fcntl.ioctl(self._rfd, termios.FIONREAD, buf)
        return int.from_bytes(buf, "little")

    def read(self, size: int = 1) -> bytes:
        if not self.is_open:
            raise self._exception("port is closed")
        out = bytearray()
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while len(out) < size:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self._rfd], [], [], left)
            if not ready:
                break
            chunk = os.read(self._rfd, size - len(out))
            if not chunk:
                if out:
                    break
                raise self._exception(f"process {self.proc.pid} closed its output (exit code {self.proc.poll()})")
            out += chunk
        return bytes(out)

    def write(self, data: bytes) -> int:
        if not self.is_open:
            raise self._exception("port is closed")
        try:
            self.proc.stdin.write(bytes(data))
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError) as e:
            raise self._exception(f"process {self.proc.pid} closed its input: {e}") from e
        return len(data)

    def flush(self) -> None:
        pass

    def reset_input_buffer(self) -> None:
        while self.in_waiting:
            if not os.read(self._rfd, self.in_waiting):
                break

    def close(self, timeout: float = 5.0) -> int | None:
        """Closes stdin (the firmware exits at end of input) and waits for the process."""
        if not self.is_open:
            return self.proc.returncode
        self.is_open = False
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
