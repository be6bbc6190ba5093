"""Host side of tinygen's framed serial protocol (docs/protocol.md).

    ser = serial.serial_for_url("socket://127.0.0.1:4321")   # or /dev/ttyACM0, rfc2217://...
    client = Client(ser, on_text=print)
    client.sync()                       # waits for the device, skipping boot noise
    info = client.info()
    out, cycles = client.infer(input_bytes)

Every failure is a `tinygen.errors.DeviceError` with a one-line message;
`ProtocolError` (an error reply) and `DeviceResetError` (the board rebooted,
`.reset` is True: callers may resync and resume) are subclasses.
"""
from __future__ import annotations

import collections
import json
import os
import random
import struct
import time
from dataclasses import dataclass, field

from tinygen.errors import DeviceError
from tinygen.device.link import (  # noqa: F401  (re-exported)
    CRC_SIZE, HEADER_SIZE, MAGIC, MAX_ENCODED, MAX_FRAME, MAX_PAYLOAD, PROTOCOL_VERSION,
    SEQ_BOOT, SEQ_NONE, Frame, FrameError, FrameReader, Garbage, ProcessSerial, Text,
    cobs_decode, cobs_encode, crc32, decode_frame, encode_frame, frame_bytes, parse_frame,
)

REPLY_FLAG = 0x80
SHA_PREFIX = 8
MAX_STRING = 63
MAX_TENSORS = 8
MAX_DIMS = 6

# requests
CMD_PING = 0x01
CMD_INFO = 0x02
CMD_INFER_BEGIN = 0x10
CMD_INFER_CHUNK = 0x11
CMD_INFER_RUN = 0x12
CMD_OUTPUT_READ = 0x13
CMD_PROFILE = 0x20
CMD_LAYER = 0x21
CMD_RESET = 0x30
# device -> host only
CMD_BOOT = 0xFE
CMD_ERROR = 0xFF

ERR_BAD_CRC = 1
ERR_BAD_LENGTH = 2
ERR_UNKNOWN_CMD = 3
ERR_BAD_STATE = 4
ERR_OUT_OF_RANGE = 5
ERR_MODEL_MISMATCH = 6
ERR_OVERFLOW = 7
ERR_BAD_VERSION = 8
ERR_BAD_FRAME = 9
ERR_APP = 10
ERR_UNAVAILABLE = 11

COMMAND_NAMES = {v: k[4:] for k, v in globals().items() if k.startswith("CMD_")}
ERROR_NAMES = {v: k[4:] for k, v in globals().items() if k.startswith("ERR_")}
# Error replies meaning "your frame did not arrive intact": resend it.
FRAMING_ERRORS = frozenset({ERR_BAD_CRC, ERR_BAD_FRAME, ERR_OVERFLOW})

DTYPE_NAMES = {0: "float32", 2: "int32", 3: "uint8", 7: "int16", 9: "int8", 0xFF: "unknown"}


class ProtocolError(DeviceError):
    """The device answered a request with an error reply."""

    reset = False

    def __init__(self, message, code=None, cmd=None, detail=None):
        super().__init__(message)
        self.code = code
        self.cmd = cmd
        self.detail = detail

    @property
    def code_name(self):
        return ERROR_NAMES.get(self.code, str(self.code))


class PortError(DeviceError):
    """The serial port failed or disappeared (unplugged board, QEMU exited)."""


class DeviceResetError(ProtocolError):
    """The device rebooted (BOOT frame) or lost its state mid-run. `.boot` holds
    the BOOT frame's JSON when one was seen; `client.sync()` then resume."""

    reset = True

    def __init__(self, message, boot=None, **kw):
        super().__init__(message, **kw)
        self.boot = boot


@dataclass
class TensorInfo:
    dtype: int
    shape: tuple
    scale: float
    zero_point: int
    bytes: int

    @property
    def dtype_name(self) -> str:
        return DTYPE_NAMES.get(self.dtype, f"type{self.dtype}")


@dataclass
class DeviceInfo:
    protocol_version: int
    max_payload: int
    num_inputs: int
    num_outputs: int
    num_layers: int
    clock_hz: int
    arena_bytes: int
    sha256: bytes
    fw_version: str
    model_name: str
    board_name: str
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)

    @property
    def sha256_hex(self) -> str:
        return self.sha256.hex()


def parse_info(payload: bytes) -> DeviceInfo:
    """Decodes an INFO reply payload (layout in docs/protocol.md)."""
    try:
        (ver, _flags, max_payload, ni, no, nl, clock, arena) = struct.unpack_from("<BBHBBHII", payload, 0)
        pos = 16
        sha = bytes(payload[pos:pos + 32])
        if len(sha) != 32:
            raise struct.error("short sha256")
        pos += 32
        strings = []
        for _ in range(3):
            n = payload[pos]
            s = bytes(payload[pos + 1:pos + 1 + n])
            if len(s) != n:
                raise struct.error("short string")
            strings.append(s.decode("utf-8", "replace"))
            pos += 1 + n
        tensors = []
        for _ in range(min(ni, MAX_TENSORS) + min(no, MAX_TENSORS)):
            dtype, ndim = struct.unpack_from("<BB", payload, pos)
            pos += 2
            dims = struct.unpack_from(f"<{ndim}i", payload, pos)
            pos += 4 * ndim
            scale, zp, nbytes = struct.unpack_from("<fiI", payload, pos)
            pos += 12
            tensors.append(TensorInfo(dtype, tuple(dims), scale, zp, nbytes))
    except (struct.error, IndexError) as e:
        raise DeviceError(f"malformed INFO reply ({len(payload)} bytes): {e}") from None
    k = min(ni, MAX_TENSORS)
    return DeviceInfo(ver, max_payload, ni, no, nl, clock, arena, sha, strings[0], strings[1], strings[2],
                      tensors[:k], tensors[k:])


def _as_bytes(data) -> bytes:
    if hasattr(data, "tobytes"):
        return data.tobytes()
    return bytes(data)


def _sha_bytes(value) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = bytes.fromhex(value)
    value = bytes(value)
    if len(value) != 32:
        raise ValueError("expected_sha256 must be 32 bytes (or 64 hex digits)")
    return value


class Client:
    """Request/reply client over any pyserial-like object (read/write/timeout).

    Stop-and-wait: one request in flight. Each request is resent with the same
    seq (the device answers a resend from its reply cache without executing it
    twice) after `timeout` seconds without a reply, on a framing-error reply
    to it, or when a corrupted frame arrives instead of the reply; at most
    `retries` resends.
    """

    def __init__(self, ser, *, timeout: float = 2.0, run_timeout: float = 60.0, retries: int = 3,
                 on_text=None, expected_sha256=None, read_timeout: float = 0.05):
        self.ser = ser
        self.timeout = timeout
        self.run_timeout = run_timeout
        self.retries = retries
        self.on_text = on_text
        self.expected_sha256 = _sha_bytes(expected_sha256)
        self.boot = None             # JSON of the last BOOT frame seen
        self.info_cache = None       # DeviceInfo from the last info()
        self.stats = {"sent": 0, "resent": 0, "stale": 0, "garbage_bytes": 0, "text_lines": 0}
        self._reader = FrameReader()
        self._pending = collections.deque()   # parsed events not consumed yet
        self._seq = random.randrange(1, SEQ_NONE)
        self._synced = False         # a reply was received since the last (re)boot
        self._ran = False            # an inference completed since the last (re)boot
        try:
            if getattr(ser, "timeout", None) != read_timeout:
                ser.timeout = read_timeout
        except Exception:  # some adapters have a read-only timeout
            pass

    # ------------------------------------------------------------------ I/O
    @property
    def port(self) -> str:
        return str(getattr(self.ser, "port", None) or getattr(self.ser, "name", "?"))

    def _port_gone(self, e) -> DeviceError:
        return PortError(f"serial port {self.port} failed (disconnected?): {e}")

    def _write(self, data: bytes) -> None:
        import serial
        try:
            self.ser.write(data)
        except (serial.SerialException, OSError) as e:
            raise self._port_gone(e) from None

    def _next_event(self):
        """The next Frame or Garbage event, or None after one read timeout.
        Text lines are handed to on_text on the way."""
        import serial
        while True:
            while self._pending:
                ev = self._pending.popleft()
                if isinstance(ev, Text):
                    self.stats["text_lines"] += 1
                    if self.on_text is not None:
                        self.on_text(ev.line)
                    continue
                if isinstance(ev, Garbage):
                    self.stats["garbage_bytes"] += len(ev.data)
                return ev
            try:
                data = self.ser.read(self._reader.want())
            except (serial.SerialException, OSError) as e:
                raise self._port_gone(e) from None
            if not data:
                return None
            self._pending.extend(self._reader.feed(data))

    def _boot_seen(self, frame: Frame) -> dict:
        try:
            boot = json.loads(frame.payload.decode("utf-8", "replace"))
        except ValueError:
            boot = {"raw": frame.payload.decode("utf-8", "replace")}
        self.boot = boot
        return boot

    def _on_boot(self, frame: Frame) -> None:
        boot = self._boot_seen(frame)
        was_synced = self._synced
        self._synced = False
        self._ran = False
        if was_synced:
            raise DeviceResetError(
                f"device on {self.port} reset (BOOT frame received: model {boot.get('model', '?')!r})",
                boot=boot)

    def poll(self, duration: float) -> list:
        """Reads for `duration` seconds; text lines go to on_text; returns the
        frames and garbage seen (BOOT frames are recorded, never raised)."""
        end = time.monotonic() + duration
        events = []
        while time.monotonic() < end:
            ev = self._next_event()
            if isinstance(ev, Frame) and ev.cmd == CMD_BOOT:
                self._boot_seen(ev)
                self._synced = False
            if ev is not None:
                events.append(ev)
        return events

    # ------------------------------------------------------------- requests
    def _next_seq(self) -> int:
        self._seq = self._seq % (SEQ_NONE - 1) + 1   # 1 .. 0xFFFE
        return self._seq

    def request(self, cmd: int, payload: bytes = b"", *, timeout: float | None = None,
                boot_ends: bool = False) -> bytes | None:
        """Sends one request, returns the reply payload. Raises ProtocolError on
        an error reply, DeviceResetError on a reboot, DeviceError otherwise.
        With boot_ends, a BOOT frame ends the wait instead (returns None)."""
        timeout = self.timeout if timeout is None else timeout
        seq = self._next_seq()
        wire = encode_frame(seq, cmd, payload)
        name = COMMAND_NAMES.get(cmd, f"0x{cmd:02x}")
        garbage = frames = 0
        for attempt in range(self.retries + 1):
            self._write(wire)
            self.stats["sent" if attempt == 0 else "resent"] += 1
            deadline = time.monotonic() + timeout
            resend = False
            while not resend and time.monotonic() < deadline:
                ev = self._next_event()
                if ev is None:
                    continue
                if isinstance(ev, Garbage):
                    if ev.reason.startswith("frame of protocol version"):
                        raise DeviceError(f"device on {self.port} sent a {ev.reason}: "
                                          "regenerate the firmware or update tinygen")
                    garbage += 1
                    resend = True   # possibly our reply, corrupted: ask again
                    continue
                frames += 1
                if ev.cmd == CMD_BOOT:
                    if boot_ends:
                        self._boot_seen(ev)
                        return None
                    self._on_boot(ev)
                    continue
                if ev.seq != seq:
                    self.stats["stale"] += 1
                    continue
                if ev.cmd == (cmd | REPLY_FLAG):
                    self._synced = True
                    return ev.payload
                if ev.cmd == CMD_ERROR and len(ev.payload) >= 6:
                    code, ecmd, detail = struct.unpack_from("<BBI", ev.payload)
                    if code in FRAMING_ERRORS:
                        resend = True
                        continue
                    self._synced = True
                    raise ProtocolError(
                        f"device error {ERROR_NAMES.get(code, code)} for {name} (detail {detail})",
                        code=code, cmd=ecmd, detail=detail)
                self.stats["stale"] += 1   # unexpected reply type with our seq
        if garbage and not frames:
            raise DeviceError(
                f"no valid frame from {self.port}, only garbage ({self.stats['garbage_bytes']} bytes): "
                "wrong baud rate, or not a tinygen firmware?")
        raise DeviceError(f"no reply to {name} from {self.port} after {self.retries + 1} attempts "
                          f"({timeout:g} s each)")

    def sync(self, timeout: float = 5.0) -> float:
        """Waits until the device answers a PING (skipping boot text and noise).
        Returns the round-trip time of the successful ping in seconds."""
        end = time.monotonic() + timeout
        self._synced = False
        last = None
        saved = self.retries
        self.retries = 0
        try:
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    raise last or DeviceError(f"device on {self.port} did not answer within {timeout:g} s")
                try:
                    return self.ping(os.urandom(8), timeout=min(0.5, left))
                except (ProtocolError, PortError):
                    raise
                except DeviceError as e:
                    last = e
        finally:
            self.retries = saved

    def ping(self, payload: bytes = b"", *, timeout: float | None = None) -> float:
        """Round trip of a PING carrying `payload` (echoed back), in seconds."""
        t0 = time.perf_counter()
        reply = self.request(CMD_PING, payload, timeout=timeout)
        dt = time.perf_counter() - t0
        if reply != bytes(payload):
            raise DeviceError(f"PING echo from {self.port} differs from what was sent")
        return dt

    def info(self) -> DeviceInfo:
        info = parse_info(self.request(CMD_INFO))
        self.info_cache = info
        if info.protocol_version != PROTOCOL_VERSION:
            raise DeviceError(f"device speaks protocol version {info.protocol_version}, "
                              f"tinygen speaks {PROTOCOL_VERSION}: regenerate the firmware")
        if self.expected_sha256 is not None and info.sha256 != self.expected_sha256:
            raise ProtocolError(
                f"model mismatch: the board runs {info.model_name!r} (sha256 {info.sha256.hex()[:16]}...), "
                f"expected sha256 {self.expected_sha256.hex()[:16]}...", code=ERR_MODEL_MISMATCH)
        return info

    def _checked(self, cmd, payload=b"", *, timeout=None, state_needs_run=False) -> bytes:
        try:
            return self.request(cmd, payload, timeout=timeout)
        except DeviceResetError:
            raise
        except ProtocolError as e:
            if e.code == ERR_MODEL_MISMATCH:
                raise ProtocolError(
                    f"model mismatch: the board's model sha256 does not start with "
                    f"{self.expected_sha256.hex()[:16] if self.expected_sha256 else '?'}",
                    code=e.code, cmd=e.cmd, detail=e.detail) from None
            if e.code == ERR_BAD_STATE and state_needs_run:
                raise DeviceResetError(
                    f"device on {self.port} lost its inference state during {COMMAND_NAMES.get(cmd)} "
                    "(reset?)", code=e.code, cmd=e.cmd, detail=e.detail) from None
            raise

    def _max_payload(self) -> int:
        return min(MAX_PAYLOAD, self.info_cache.max_payload) if self.info_cache else MAX_PAYLOAD

    def send_input(self, index: int, data: bytes) -> None:
        data = _as_bytes(data)
        begin = struct.pack("<BBI", index, 0, len(data))
        if self.expected_sha256 is not None:
            begin += self.expected_sha256[:SHA_PREFIX]
        reply = self._checked(CMD_INFER_BEGIN, begin)
        _idx, total, max_chunk = struct.unpack_from("<BIH", reply)
        if total != len(data):
            raise DeviceError(f"INFER_BEGIN: device acknowledged {total} bytes, sent {len(data)}")
        step = max(1, min(max_chunk, self._max_payload() - 4))
        for off in range(0, len(data), step):
            piece = data[off:off + step]
            reply = self._checked(CMD_INFER_CHUNK, struct.pack("<I", off) + piece, state_needs_run=True)
            (received,) = struct.unpack_from("<I", reply)
            if received != off + len(piece):
                raise DeviceError(f"INFER_CHUNK: device holds {received} bytes, expected {off + len(piece)}")

    def read_output(self, index: int = 0) -> bytes:
        """Reads output tensor `index` of the last inference."""
        return self._paged(CMD_OUTPUT_READ, lambda off: struct.pack("<BIH", index, off, 0), 9, "<BII", b"")

    def _paged(self, cmd, make_request, header_size, header_fmt, first) -> bytes:
        out = bytearray(first)
        total = None
        while total is None or len(out) < total:
            reply = self._checked(cmd, make_request(len(out)), state_needs_run=self._ran)
            fields = struct.unpack_from(header_fmt, reply)
            total, offset = fields[-2], fields[-1]
            chunk = reply[header_size:]
            if offset != len(out) or (not chunk and len(out) < total):
                raise DeviceError(f"{COMMAND_NAMES.get(cmd)}: bad page (offset {offset}, "
                                  f"{len(chunk)} bytes, total {total})")
            out += chunk
        return bytes(out)

    def run(self, inputs) -> tuple:
        """Sends all inputs (a list of byte strings, one per model input), runs
        the model; returns (list of output byte strings, cycles)."""
        for i, data in enumerate(inputs):
            self.send_input(i, data)
        reply = self._checked(CMD_INFER_RUN, timeout=self.run_timeout, state_needs_run=True)
        cycles, n_out, total0 = struct.unpack_from("<QBI", reply)
        self._ran = True
        outputs = []
        if n_out:
            first = reply[13:]
            if len(first) < total0:
                rest = self._paged(CMD_OUTPUT_READ, lambda off: struct.pack("<BIH", 0, off, 0), 9, "<BII", first)
                outputs.append(rest)
            else:
                outputs.append(bytes(first[:total0]))
            for i in range(1, n_out):
                outputs.append(self.read_output(i))
        return outputs, cycles

    def infer(self, input_bytes) -> tuple:
        """Single-input inference: returns (output 0 bytes, cycles)."""
        if isinstance(input_bytes, (list, tuple)):
            outputs, cycles = self.run(input_bytes)
        else:
            outputs, cycles = self.run([input_bytes])
        return (outputs[0] if outputs else b""), cycles

    def profile(self) -> list:
        """Per-layer cycle counts of the last inference."""
        cycles = []
        nl = None
        while nl is None or len(cycles) < nl:
            reply = self._checked(CMD_PROFILE, struct.pack("<H", len(cycles)), state_needs_run=self._ran)
            nl, first, count = struct.unpack_from("<HHH", reply)
            if first != len(cycles) or len(reply) != 6 + 8 * count or (count == 0 and len(cycles) < nl):
                raise DeviceError("PROFILE: bad page")
            cycles.extend(struct.unpack_from(f"<{count}Q", reply, 6))
        return cycles

    def layer(self, k: int) -> bytes:
        """Output tensor of layer k of the last inference (raw bytes)."""
        def make(off):
            return struct.pack("<HIH", k, off, 0)
        return self._paged(CMD_LAYER, make, 10, "<HII", b"")

    def reset(self, *, wait_boot: bool = True, timeout: float = 10.0) -> dict | None:
        """Asks the device to reset; waits for its BOOT frame and returns it."""
        self._synced = False
        self._ran = False
        if self.request(CMD_RESET, boot_ends=True) is None:   # the reply was lost, the BOOT was not
            return self.boot
        self._synced = False
        if not wait_boot:
            return None
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            ev = self._next_event()
            if isinstance(ev, Frame) and ev.cmd == CMD_BOOT:
                return self._boot_seen(ev)
        raise DeviceError(f"device on {self.port} acknowledged RESET but sent no BOOT frame within {timeout:g} s")
