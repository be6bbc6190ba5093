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
import math
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

from tinygen.device.codes import (  # noqa: F401  (re-exported)
    REPLY_FLAG, SHA_PREFIX, MAX_STRING, MAX_TENSORS, MAX_DIMS, CMD_PING, CMD_INFO, CMD_INFER_BEGIN,
    CMD_INFER_CHUNK, CMD_INFER_RUN, CMD_OUTPUT_READ, CMD_PROFILE, CMD_LAYER, CMD_RESET, CMD_RESET_STATE, CMD_SET_BAUD,
    CMD_BOOT, CMD_ERROR,
    ERR_BAD_CRC, ERR_BAD_LENGTH, ERR_UNKNOWN_CMD, ERR_BAD_STATE, ERR_OUT_OF_RANGE, ERR_MODEL_MISMATCH,
    ERR_OVERFLOW, ERR_BAD_VERSION, ERR_BAD_FRAME, ERR_APP, ERR_UNAVAILABLE, COMMAND_NAMES, ERROR_NAMES,
    FRAMING_ERRORS, FLAG_PAGED, FLAG_GAPS, FLAG_SACK, FLAG_STATE, INFO_FLAGS, SACK_BYTES, MIN_UNIT, MAX_UNITS, WINDOW,
    DTYPE_NAMES, ProtocolError, PortError, DeviceResetError,
)
from tinygen.device.upload import SelectiveUpload


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
    flags: int = 0

    @property
    def sha256_hex(self) -> str:
        return self.sha256.hex()


def parse_info(payload: bytes) -> DeviceInfo:
    """Decodes an INFO reply payload (layout in docs/protocol.md)."""
    try:
        (ver, flags, max_payload, ni, no, nl, clock, arena) = struct.unpack_from("<BBHBBHII", payload, 0)
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
                      tensors[:k], tensors[k:], flags)


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


DEFAULT_RETRIES = 32        # failed attempts in a row, without progress, before giving up
INFO_REPLY_BYTES = 160      # an INFO reply's bytes until one arrived (names and I/O tensors: ~100-250)
GIVE_UP_ODDS = 1e-6         # ... or, on a noisy link, as many as make such a streak this improbable (Client._limit)
MIN_CHUNK = 32              # smallest data chunk / page the adaptive framing goes down to
MIN_WAIT = 0.25             # shortest wait for a reply (s); longer ones follow the link's speed
MIN_WAIT_NOISY = 0.1        # the same on a link that has damaged frames lately
_REQ_OVERHEAD = 19          # wire bytes of a request around its data (delimiters, COBS, header, offset, CRC)
_REPLY_OVERHEAD = 17        # the same for a small reply
_COST_OVERHEAD = 40         # per-exchange cost in byte times: both overheads and the turnaround


class LinkQuality:
    """Estimates the byte error rate of the link from the exchanges' outcomes and picks the
    data size per frame that maximises the expected goodput.

    Each attempt of B wire bytes (request + reply) succeeds with probability (1-e)^B; with
    exponentially decayed counts of attempts, successes and bytes the estimate is
    e = -ln(successes / attempts) / (mean bytes per attempt). For a chunk of n data bytes the
    goodput is n (1-e)^(n+h) / (n+a) (h: the frames' overhead bytes, a: the exchange's cost
    in byte times); its maximum is at n = (sqrt(a^2 + 4a/l) - a) / 2 with l = -ln(1-e).
    A clean link gives the largest frames; every damaged or missing reply shrinks them
    (down to `min_chunk`); clean exchanges grow them back."""

    DECAY = 0.9

    def __init__(self, max_chunk: int = MAX_PAYLOAD - 4, min_chunk: int = MIN_CHUNK):
        self.max_chunk = max_chunk
        self.min_chunk = min(min_chunk, max_chunk)
        self.attempts = 2.0          # prior: two clean exchanges of the largest size
        self.ok = 2.0
        self.bytes = 2.0 * (max_chunk + _REQ_OVERHEAD + _REPLY_OVERHEAD)

    def record(self, wire_bytes: int, ok: bool) -> None:
        d = self.DECAY
        self.attempts = self.attempts * d + 1.0
        self.ok = self.ok * d + (1.0 if ok else 0.0)
        self.bytes = self.bytes * d + float(wire_bytes)

    @property
    def error_rate(self) -> float:
        import math

        if self.ok >= self.attempts * 0.999999:
            return 0.0
        ratio = max(self.ok, 0.05) / self.attempts
        return min(0.5, -math.log(ratio) / max(1.0, self.bytes / self.attempts))

    def chunk(self, limit: int | None = None, turnaround_bytes: float = 0.0, overhead: int = _COST_OVERHEAD) -> int:
        """The best data size per frame (`turnaround_bytes`: the exchange's latency in byte times;
        `overhead`: the wire bytes each frame costs beyond its data, both ways)."""
        import math

        top = self.max_chunk if limit is None else max(1, min(self.max_chunk, limit))
        e = self.error_rate
        if e <= 0.0:
            return top
        lam = -math.log1p(-e)
        a = float(overhead) + min(max(0.0, turnaround_bytes), 2000.0)
        n = (math.sqrt(a * a + 4.0 * a / lam) - a) / 2.0
        return max(min(self.min_chunk, top), min(top, int(n)))


class _Outcome:
    """How one attempt ended when it brought no usable reply."""
    NAK = "nak"              # the device says our frame arrived damaged
    GARBAGE = "garbage"      # damaged bytes arrived instead of the reply
    SILENCE = "silence"      # nothing usable within the wait


@dataclass
class _Wait:
    """One attempt's wait for its reply: what it waits for, until when, and what damage it saw."""
    seq: int
    cmd: int
    alt: object              # other seqs whose reply to `cmd` is taken too (earlier attempts)
    boot_ends: bool
    grace: float
    deadline: float
    suspect: str | None = None   # _Outcome.GARBAGE / NAK seen: a failure unless the reply follows

    def suspect_damage(self, outcome: str) -> None:
        """Damage seen: the attempt fails unless its reply arrives within the grace."""
        self.suspect = outcome
        self.deadline = min(self.deadline, time.monotonic() + self.grace)


class Client:
    """Request/reply client over any pyserial-like object (read/write/timeout).

    Stop-and-wait: one request in flight. A request that got no usable reply (none within
    the wait, a framing-error reply, damaged bytes instead of it) is sent again. Requests
    that must not run twice (INFER_RUN, INFER_BEGIN, RESET, ...) are resent with the same
    seq (the device answers from its reply cache); idempotent transfers (INFER_CHUNK,
    OUTPUT_READ, LAYER, PROFILE) go out as new requests sized by the link's error rate
    (`LinkQuality`): chunks and pages shrink after damage and grow back on a clean link,
    and after a lost chunk reply the device is asked how much it holds instead of sending
    the data again.

    The wait for a reply follows the link's measured speed (at least MIN_WAIT, at most
    `timeout`; INFER_RUN: the last inference's time, at most `run_timeout`) and doubles
    after each silent attempt. `retries` failed attempts in a row without progress give
    up (any good reply renews the budget; on a link that damages frames, as many as make the
    streak improbable at its measured error rate, up to 8 `retries`: _limit), as does silence
    (no frame, no garbage) for longer than 4 `timeout`s.
    """

    def __init__(self, ser, *, timeout: float = 2.0, run_timeout: float = 60.0, retries: int = DEFAULT_RETRIES,
                 on_text=None, expected_sha256=None, read_timeout: float = 0.01, min_chunk: int = MIN_CHUNK,
                 adaptive: bool = True):
        self.ser = ser
        self.timeout = timeout
        self.run_timeout = run_timeout
        self.retries = retries
        self.on_text = on_text
        self.expected_sha256 = _sha_bytes(expected_sha256)
        self.boot = None             # JSON of the last BOOT frame seen
        self.info_cache = None       # DeviceInfo from the last info()
        self.adaptive = adaptive
        self.quality = LinkQuality(min_chunk=min_chunk)
        self.stats = {"sent": 0, "resent": 0, "stale": 0, "garbage_bytes": 0, "text_lines": 0,
                      "naks": 0, "timeouts": 0, "garbled_replies": 0, "queries": 0,
                      "late_replies": 0}
        self.sizes = collections.Counter()     # data bytes per INFER_CHUNK / page read: count
        self._reader = FrameReader()
        self._pending = collections.deque()   # parsed events not consumed yet
        self._seq = random.randrange(1, SEQ_NONE)
        self._synced = False         # a reply was received since the last (re)boot
        self._ran = False            # an inference completed since the last (re)boot
        self._fails = 0              # failed attempts in a row without progress
        self._streak = 0             # the attempts a streak of failures may take on this link (_limit)
        self._silences = 0           # silent attempts in a row (backoff exponent)
        self._last_heard = time.monotonic()   # last frame or garbage from the device
        # seconds per wire byte, learned: to start, the port's line rate (8N1: 10 bits a byte),
        # 115200 where the port has none (a pipe, a process)
        rate = getattr(ser, "baudrate", None)
        self._byte_time = (10.0 / rate if isinstance(rate, (int, float)) and not isinstance(rate, bool)
                           and rate > 0 else 1.0 / 11520)
        self._run_time = None        # seconds of the last clean INFER_RUN exchange
        self._info_bytes = INFO_REPLY_BYTES   # an INFO reply's size: the last one's
        self._sends = {}             # seq -> [send time, wire bytes, is INFER_RUN, times sent]
        self._lat = 0.005            # smoothed turnaround beyond the transfer time (s)
        self._lat_var = 0.005        # its mean deviation
        try:
            if getattr(ser, "timeout", None) != read_timeout:
                ser.timeout = read_timeout
        except Exception:  # some adapters have a read-only timeout
            pass

    def line_rate_changed(self, old: int, new: int) -> None:
        """The port switched from `old` to `new` baud: the learned byte time scales with it."""
        if old > 0 and new > 0:
            self._byte_time *= old / new
        self._framed = False

    def adopt(self, other: "Client") -> None:
        """Takes over what `other` (an earlier client on the same link) learned: the error
        rate estimate, the speed, the turnaround and the inference time."""
        self.quality = other.quality
        self._byte_time = other._byte_time
        self._lat, self._lat_var = other._lat, other._lat_var
        self._run_time = other._run_time
        self._info_bytes = other._info_bytes

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
                self._last_heard = time.monotonic()
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

    def _wait_for(self, wire_bytes: int, cap: float, run: bool) -> float:
        """Seconds to wait for the reply to an attempt of `wire_bytes` (request + reply): the
        transfer time at the learned speed plus a TCP-like allowance for the turnaround
        (smoothed latency + 4 deviations), doubled per silent attempt in a row."""
        if self._handshake:
            return cap             # sync(): the device may still be booting; nothing learned yet
        if run:
            # the first inference: `timeout`, doubled per silent attempt up to run_timeout (a
            # resend during a long inference is answered from the reply cache once it ends)
            base = (min(cap, self.timeout) if self._run_time is None
                    else 2.0 * self._run_time + 4.0 * self._byte_time * wire_bytes)
        else:
            base = 2.0 * self._byte_time * wire_bytes + self._lat + 4.0 * self._lat_var + 0.01
        # a link that damages frames loses many replies: retry sooner there (a premature resend is
        # answered from the reply cache); a clean one keeps the longer floor (a busy host is no loss)
        floor = MIN_WAIT_NOISY if self.adaptive and self.quality.error_rate > 0.0 else MIN_WAIT
        wait = max(floor, base) * (2.0 ** min(self._silences, 16))
        return min(cap, wait)

    def _learn(self, dt: float, wire_bytes: int, run: bool) -> None:
        if run:
            self._run_time = dt if self._run_time is None else 0.7 * self._run_time + 0.3 * dt
            return
        if wire_bytes >= 256:
            self._byte_time = 0.8 * self._byte_time + 0.2 * (dt / wire_bytes)
        excess = max(0.0, dt - self._byte_time * wire_bytes)
        self._lat_var = 0.75 * self._lat_var + 0.25 * abs(excess - self._lat)
        self._lat = 0.875 * self._lat + 0.125 * excess

    def _attempt(self, seq: int, cmd: int, wire: bytes, wait: float, boot_ends: bool, alt=(), grace: float = 0.02):
        """Sends `wire` once and waits up to `wait` s. Returns ("ok", payload), ("boot", None)
        or (_Outcome.*, None); raises ProtocolError / DeviceResetError / DeviceError.

        Damaged bytes, or a framing-error reply that does not carry our seq (it may be our
        NAK with a damaged header, or a stale one), make the attempt a failure unless the
        reply still arrives within `grace` seconds: a reply split by noise, or noise on an
        idle line, then costs no resend."""
        self._write(wire)
        at = _Wait(seq, cmd, alt, boot_ends, grace, deadline=time.monotonic() + wait)
        while time.monotonic() < at.deadline:
            ev = self._next_event()
            if ev is None:
                continue
            done = self._on_garbage(ev, at) if isinstance(ev, Garbage) else self._on_frame(ev, at)
            if done is not None:
                return done
        return self._no_reply(at.suspect)

    def _on_garbage(self, ev: Garbage, at: _Wait) -> None:
        """Damaged bytes during an attempt: a damaged reply, unless a good one follows within the grace."""
        if ev.reason.startswith("frame of protocol version"):
            raise DeviceError(f"device on {self.port} sent a {ev.reason}: "
                              "regenerate the firmware or update tinygen")
        if at.suspect is None:
            at.suspect_damage(_Outcome.GARBAGE)

    def _on_frame(self, ev: Frame, at: _Wait):
        """A frame during an attempt: the attempt's result, or None to wait on."""
        self._heard_frame = self._framed = True
        sent = self._sends.pop(ev.seq, None) if ev.seq not in (SEQ_BOOT, SEQ_NONE) else None
        if sent is not None and sent[3] == 1:
            # a round-trip sample from a request sent once, even when its reply comes late
            # (after a timeout): the waits follow the link's real turnaround
            self._learn(time.monotonic() - sent[0], sent[1], sent[2] and ev.cmd != CMD_ERROR)
        if ev.cmd == CMD_BOOT:
            if at.boot_ends:
                self._boot_seen(ev)
                return "boot", None
            self._on_boot(ev)
            return None
        if ev.cmd == CMD_ERROR and len(ev.payload) >= 6:
            return self._on_error_reply(ev, at)
        if ev.seq != at.seq and not (ev.seq in at.alt and ev.cmd == (at.cmd | REPLY_FLAG)):
            self.stats["stale"] += 1
            return None
        if ev.cmd == (at.cmd | REPLY_FLAG):
            # (or a late reply to an earlier attempt of the same transfer: its content
            # describes itself -- bytes received, page offset -- and the caller checks it)
            self._synced = True
            if ev.seq != at.seq:
                self.stats["late_replies"] += 1
            return "ok", ev.payload
        self.stats["stale"] += 1   # unexpected reply type with our seq
        return None

    def _on_error_reply(self, ev: Frame, at: _Wait):
        """An ERROR frame during an attempt: our NAK (the outcome), a suspect one, a stale one (None),
        or the device's error for our request (raised)."""
        code, ecmd, detail = struct.unpack_from("<BBI", ev.payload)
        if code in FRAMING_ERRORS:
            if ev.seq == at.seq:          # our frame arrived damaged
                self.stats["naks"] += 1
                return _Outcome.NAK, None
            if at.suspect is None or at.suspect == _Outcome.GARBAGE:
                at.suspect_damage(_Outcome.NAK)   # probably ours, its header damaged too
            return None
        if ev.seq != at.seq:
            self.stats["stale"] += 1
            return None
        self._synced = True
        name = COMMAND_NAMES.get(at.cmd, f"0x{at.cmd:02x}")
        raise ProtocolError(
            f"device error {ERROR_NAMES.get(code, code)} for {name} (detail {detail})",
            code=code, cmd=ecmd, detail=detail)

    def _no_reply(self, suspect: str | None):
        """How an attempt without a usable reply ended (booked in the stats)."""
        if suspect == _Outcome.NAK:
            self.stats["naks"] += 1
            return _Outcome.NAK, None
        if suspect is not None or self._reader.pending():
            # damaged bytes, or bytes without their delimiter: a damaged reply (the device is alive)
            self.stats["garbled_replies"] += 1
            return _Outcome.GARBAGE, None
        self.stats["timeouts"] += 1
        return _Outcome.SILENCE, None

    def _limit(self, wire_bytes: int) -> int:
        """The failed attempts in a row a request may take before giving up: `retries`, or where the link damages
        frames (the adaptive framing's error rate when the streak began), as many as make the streak improbable
        (< GIVE_UP_ODDS) for an exchange of `wire_bytes`, at most 8 `retries`: at 2 % byte damage both ways even
        the smallest page fails 4 times in 5, and 32 failures in a row end about one transfer in 2000."""
        if not self.adaptive:
            return self.retries
        p = (1.0 - self.quality.error_rate) ** max(1, wire_bytes)   # one attempt's chance
        if p >= 1.0:
            return self.retries
        n = math.ceil(math.log(GIVE_UP_ODDS) / math.log1p(-p)) if p > 0.0 else 8 * self.retries
        return int(min(8 * self.retries, max(self.retries, n)))

    def _failed(self, name: str, outcome: str, wire_bytes: int, cap: float) -> None:
        """Books a failed attempt; raises DeviceError when the budget is spent."""
        if self._fails == 0:
            self._streak = self._limit(wire_bytes)
        self._fails += 1
        if self.adaptive and outcome != _Outcome.SILENCE:
            # damage, not silence: a slow or busy device is no reason for smaller frames
            self.quality.record(wire_bytes, False)
        if outcome == _Outcome.SILENCE:
            self._silences += 1
        else:
            self._silences = max(0, self._silences - 1)
        silent_for = time.monotonic() - self._last_heard
        # only garbage on a link that never framed (a wrong rate?): `retries`
        limit = self.retries if self._garbage_only and not self._framed else max(self.retries, self._streak)
        if self._fails > limit or (outcome == _Outcome.SILENCE and self._fails >= 2
                                          and silent_for > max(4.0 * self.timeout, cap)):
            attempts = self._fails
            self._fails = 0
            if self._garbage_only:
                raise DeviceError(
                    f"no valid frame from {self.port}, only garbage ({self.stats['garbage_bytes']} bytes): "
                    "wrong baud rate, or not a tinygen firmware?")
            raise DeviceError(f"no reply to {name} from {self.port} after {attempts} attempts "
                              f"({cap:g} s at most each)")

    def _succeeded(self, wire_bytes: int) -> None:
        self._fails = 0
        self._silences = max(0, self._silences - 1)     # the backoff unwinds step by step
        self._garbage_only = False
        if self.adaptive:
            self.quality.record(wire_bytes, True)

    _garbage_only = False
    _heard_frame = False
    _framed = False              # a valid frame arrived since the port was opened (or its rate changed)
    _handshake = False

    def _transact(self, cmd: int, payload: bytes, *, reply_bytes: int = 0, timeout: float | None = None,
                  run: bool = False, boot_ends: bool = False, once: bool = False, alt=None):
        """One request (resent with the same seq until it gets a reply). With `once`, a failed
        attempt returns (outcome, None) after booking it, so that the caller can change the
        request. Returns ("ok", payload) / ("boot", None) / (outcome, None)."""
        cap = self.timeout if timeout is None else timeout
        seq = self._next_seq()
        wire = encode_frame(seq, cmd, payload)
        nbytes = len(wire) + reply_bytes + _REPLY_OVERHEAD
        name = COMMAND_NAMES.get(cmd, f"0x{cmd:02x}")
        first = True
        while True:
            self.stats["sent" if first and self._fails == 0 else "resent"] += 1
            first = False
            wait = self._wait_for(nbytes, cap, run)
            self._heard_frame = False
            entry = self._sends.get(seq)
            if entry is None:
                self._sends[seq] = [time.monotonic(), nbytes, run, 1]
                if len(self._sends) > 64:
                    self._sends.pop(next(iter(self._sends)))
            else:
                entry[3] += 1          # resent with the same seq: its round trip is ambiguous (Karn)
            grace = max(0.005, min(0.1, self._lat + 2.0 * self._lat_var)
                        + 2.0 * self._byte_time * (reply_bytes + _REPLY_OVERHEAD))
            kind, reply = self._attempt(seq, cmd, wire, wait, boot_ends, () if alt is None else alt, grace)
            if alt is not None:
                alt.add(seq)
            if kind in ("ok", "boot"):
                if kind == "ok":
                    self._succeeded(nbytes if not run else len(wire) + _REPLY_OVERHEAD + len(reply or b""))
                return kind, reply
            self._garbage_only = (kind == _Outcome.GARBAGE and not self._heard_frame
                                  and (self._garbage_only or self._fails == 0))
            self._failed(name, kind, nbytes, cap)
            if once:
                return kind, None

    def request(self, cmd: int, payload: bytes = b"", *, timeout: float | None = None,
                boot_ends: bool = False, reply_bytes: int = 0) -> bytes | None:
        """Sends one request, returns the reply payload. Raises ProtocolError on
        an error reply, DeviceResetError on a reboot, DeviceError otherwise.
        With boot_ends, a BOOT frame ends the wait instead (returns None). `reply_bytes`:
        the reply's expected data bytes (its wait and, on a noisy link, its retry budget)."""
        kind, reply = self._transact(cmd, payload, timeout=timeout, boot_ends=boot_ends,
                                     run=(cmd == CMD_INFER_RUN), reply_bytes=reply_bytes)
        return None if kind == "boot" else reply

    def sync(self, timeout: float = 5.0) -> float:
        """Waits until the device answers a PING (skipping boot text and noise).
        Returns the round-trip time of the successful ping in seconds."""
        end = time.monotonic() + timeout
        self._synced = False
        last = None
        saved = self.retries
        self.retries = 0
        self._handshake = True
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
            self._handshake = False
            self._fails = 0
            self._silences = 0

    def ping(self, payload: bytes = b"", *, timeout: float | None = None) -> float:
        """Round trip of a PING carrying `payload` (echoed back), in seconds."""
        t0 = time.perf_counter()
        reply = self.request(CMD_PING, payload, timeout=timeout)
        dt = time.perf_counter() - t0
        if reply != bytes(payload):
            raise DeviceError(f"PING echo from {self.port} differs from what was sent")
        return dt

    def info(self) -> DeviceInfo:
        payload = self.request(CMD_INFO, reply_bytes=self._info_bytes)
        info = parse_info(payload)
        self._info_bytes = len(payload)
        self.info_cache = info
        if info.protocol_version != PROTOCOL_VERSION:
            raise DeviceError(f"device speaks protocol version {info.protocol_version}, "
                              f"tinygen speaks {PROTOCOL_VERSION}: regenerate the firmware")
        if self.expected_sha256 is not None and info.sha256 != self.expected_sha256:
            raise ProtocolError(
                f"model mismatch: the board runs {info.model_name!r} (sha256 {info.sha256.hex()[:16]}...), "
                f"expected sha256 {self.expected_sha256.hex()[:16]}...", code=ERR_MODEL_MISMATCH)
        return info

    def _translate(self, e: ProtocolError, cmd: int, state_needs_run: bool) -> ProtocolError:
        if isinstance(e, DeviceResetError):
            return e
        if e.code == ERR_MODEL_MISMATCH:
            return ProtocolError(
                f"model mismatch: the board's model sha256 does not start with "
                f"{self.expected_sha256.hex()[:16] if self.expected_sha256 else '?'}",
                code=e.code, cmd=e.cmd, detail=e.detail)
        if e.code == ERR_BAD_STATE and state_needs_run:
            return DeviceResetError(
                f"device on {self.port} lost its inference state during {COMMAND_NAMES.get(cmd)} "
                "(reset?)", code=e.code, cmd=e.cmd, detail=e.detail)
        return e

    def _checked(self, cmd, payload=b"", *, timeout=None, state_needs_run=False, once=False, reply_bytes=0,
                 run=False, alt=None):
        try:
            if once or run or reply_bytes:
                return self._transact(cmd, payload, timeout=timeout, once=once, reply_bytes=reply_bytes, run=run,
                                      alt=alt)
            return self.request(cmd, payload, timeout=timeout)
        except ProtocolError as e:
            t = self._translate(e, cmd, state_needs_run)
            if t is e:
                raise
            raise t from None

    def _max_payload(self) -> int:
        return min(MAX_PAYLOAD, self.info_cache.max_payload) if self.info_cache else MAX_PAYLOAD

    def _gaps_device(self) -> bool:
        return bool(self.info_cache is not None and self.info_cache.flags & FLAG_GAPS)

    def _paged_device(self) -> bool:
        return bool(self.info_cache is not None and self.info_cache.flags & FLAG_PAGED)

    def chunk_size(self, limit: int | None = None) -> int:
        """Data bytes for the next chunk or page, from the link's estimated error rate."""
        if not self.adaptive:
            return self.quality.max_chunk if limit is None else min(limit, self.quality.max_chunk)
        return self.quality.chunk(limit, self._lat / self._byte_time)

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
        if len(reply) >= 9 and self._gaps_device() and self.adaptive and len(data):
            (unit,) = struct.unpack_from("<H", reply, 7)
            if 0 < unit <= step:
                sack = bool(self.info_cache.flags & FLAG_SACK)
                floor = MIN_WAIT_NOISY if self.quality.error_rate > 0.0 else MIN_WAIT
                SelectiveUpload(self, data, unit, step, sack, min_wait=floor).run()
                return
        off = 0
        ask = False            # the last chunk's reply was lost: ask how much the device holds
        alt = set()            # seqs of this upload's chunks: any of their replies tells what the device holds
        while off < len(data) or ask:
            if ask:
                payload = struct.pack("<I", 0)
                self.stats["queries"] += 1
            else:
                n = self.chunk_size(step)
                payload = struct.pack("<I", off) + data[off:off + n]
            kind, reply = self._checked(CMD_INFER_CHUNK, payload, state_needs_run=True, once=True,
                                        reply_bytes=4, alt=alt)
            if kind != "ok":
                ask = kind != _Outcome.NAK
                continue
            if not ask:
                self.sizes[len(payload) - 4] += 1
            ask = False
            (received,) = struct.unpack_from("<I", reply)
            if received > len(data):
                raise DeviceError(f"INFER_CHUNK: device holds {received} bytes of a {len(data)}-byte input")
            off = max(off, received)     # each reply is a fact about this upload; the largest is the latest

    def read_output(self, index: int = 0) -> bytes:
        """Reads output tensor `index` of the last inference."""
        return self._paged(CMD_OUTPUT_READ, lambda off, n: struct.pack("<BIH", index, off, n), 9, "<BII", b"")

    def _paged(self, cmd, make_request, header_size, header_fmt, first) -> bytes:
        out = bytearray(first)
        total = None
        alt = set()            # late replies to earlier page requests are good if they hold the next bytes
        while total is None or len(out) < total:
            page = self.chunk_size(self._max_payload() - header_size)
            kind, reply = self._checked(cmd, make_request(len(out), page), state_needs_run=self._ran,
                                        once=True, reply_bytes=page + header_size, alt=alt)
            if kind != "ok":
                continue
            fields = struct.unpack_from(header_fmt, reply)
            total, offset = fields[-2], fields[-1]
            chunk = reply[header_size:]
            if offset < len(out) and offset + len(chunk) <= len(out):
                continue           # a late reply to a page already read
            if offset < len(out):
                chunk = chunk[len(out) - offset:]
                offset = len(out)
            if offset != len(out) or (not chunk and len(out) < total) or len(out) + len(chunk) > total:
                raise DeviceError(f"{COMMAND_NAMES.get(cmd)}: bad page (offset {offset}, "
                                  f"{len(chunk)} bytes, total {total})")
            self.sizes[len(chunk)] += 1
            out += chunk
        return bytes(out)

    def run(self, inputs) -> tuple:
        """Sends all inputs (a list of byte strings, one per model input), runs
        the model; returns (list of output byte strings, cycles)."""
        for i, data in enumerate(inputs):
            self.send_input(i, data)
        payload = b""
        inline = 0
        if self._paged_device():
            inline = self.chunk_size(self._max_payload() - 13)
            payload = struct.pack("<H", inline)
        _kind, reply = self._checked(CMD_INFER_RUN, payload, timeout=self.run_timeout, state_needs_run=True,
                                     run=True)
        cycles, n_out, total0 = struct.unpack_from("<QBI", reply)
        self._ran = True
        outputs = []
        if n_out:
            first = reply[13:]
            if len(first) < total0:
                rest = self._paged(CMD_OUTPUT_READ, lambda off, n: struct.pack("<BIH", 0, off, n), 9, "<BII",
                                   first)
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
            req = struct.pack("<H", len(cycles))
            if self._paged_device():
                req += struct.pack("<H", max(1, self.chunk_size() // 8))
            kind, reply = self._checked(CMD_PROFILE, req, state_needs_run=self._ran, once=True, reply_bytes=64)
            if kind != "ok":
                continue
            nl, first, count = struct.unpack_from("<HHH", reply)
            if first != len(cycles) or len(reply) != 6 + 8 * count or (count == 0 and len(cycles) < nl):
                raise DeviceError("PROFILE: bad page")
            cycles.extend(struct.unpack_from(f"<{count}Q", reply, 6))
        return cycles

    def layer(self, k: int) -> bytes:
        """Output tensor of layer k of the last inference (raw bytes)."""
        def make(off, n):
            return struct.pack("<HIH", k, off, n)
        return self._paged(CMD_LAYER, make, 10, "<HII", b"")

    def state_device(self) -> bool:
        """The device understands RESET_STATE (INFO flag bit 3; call info() first)."""
        return bool(self.info_cache is not None and self.info_cache.flags & FLAG_STATE)

    def reset_state(self) -> int:
        """RESET_STATE: the device resets its model's state (NAME_reset()), so the next run starts a new
        sequence; returns the state's size in bytes (0: a model without state). Ends the last run (its
        outputs and layers are no longer readable)."""
        if self.info_cache is not None and not self.state_device():
            raise DeviceError(f"the firmware on {self.port} does not know RESET_STATE (built by an older tinygen): "
                              "rebuild it")
        reply = self._checked(CMD_RESET_STATE)
        self._ran = False
        if len(reply) != 4:
            raise DeviceError(f"RESET_STATE: bad reply ({len(reply)} bytes) from {self.port}")
        return struct.unpack("<I", reply)[0]

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
