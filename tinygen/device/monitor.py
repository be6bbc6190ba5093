"""Live view of what a board sends over its serial port (`tinygen monitor`).

    mon = Monitor(out=sys.stdout, log_path="board.log", labels=["silence", "yes", "no"])
    mon.watch(link)                    # until Ctrl-C, or the port is gone for good
    mon.drive(link, 20, graph=graph)   # --run N: random inputs through the protocol
    print(mon.summary())

The byte stream is split into text lines, protocol frames (COBS + CRC, docs/protocol.md)
and noise by `StreamSplitter`, which never drops a byte: a line that is not clean text is
reported as noise (escaped), and a partial line is flushed at a frame delimiter or at
exit. With a log file every received line is appended with a timestamp and flushed
at once. Firmware JSON lines are decoded: the banner (`{"tinygen": ...}`) and the BOOT
frame start a boot (a second boot is reported as a device reset), the self-test line
(`{"selftest": ...}`) is an inference result (label/score, cycles, ms at the board clock).
"""
from __future__ import annotations

import datetime as _dt
import json
import select
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinygen.errors import DeviceError, TinygenError
from tinygen.device.link import (CRC_SIZE, HEADER_SIZE, MAGIC, MAGIC_BYTE, MAX_ENCODED, Frame, FrameError,
                                 decode_frame)

_MAX_SHOWN = 240          # characters of a text line shown on the terminal (the log gets all)
MAX_LINE = 1 << 20        # a "line" this long without a newline is reported in pieces


# ----------------------------------------------------------------------------- splitting
@dataclass(frozen=True)
class Line:
    text: str
    partial: bool = False     # ended by a frame delimiter, a reset or the end of the session
    damaged: bool = False     # bytes that are not text inside it (shown escaped in `text`)
    raw: bytes | None = None  # the bytes of a damaged line


@dataclass(frozen=True)
class Noise:
    data: bytes


@dataclass(frozen=True)
class DamagedFrame:
    """A segment that began like a protocol frame (after a 0x00, COBS code, magic byte) but
    fails its checks (CRC, COBS, length): a frame damaged on the way."""
    data: bytes
    reason: str


def _readable(raw: bytes) -> int:
    return sum(1 for b in raw if 0x20 <= b < 0x7F or b == 0x09)


def _cobs_end(seg: bytes) -> int:
    """Where a frame starting at seg[0] ends if its COBS code bytes and its length field are
    right: the block that completes header + payload + CRC (else the whole segment)."""
    end = 0
    decoded = bytearray()
    want = None
    while end < len(seg) and end <= MAX_ENCODED:
        code = max(1, seg[end])
        decoded += seg[end + 1:end + code] + (b"\x00" if code < 0xFF else b"")
        end += code
        if want is None and len(decoded) >= HEADER_SIZE:
            want = HEADER_SIZE + int.from_bytes(decoded[4:6], "little") + CRC_SIZE
        if want is not None and len(decoded) >= want:
            return min(end, len(seg))
    return len(seg)


def _clean(text: str) -> bool:
    return all(c.isprintable() or c == "\t" for c in text)


def _leading_frame(seg: bytes):
    """(frame, length) when `seg` starts with a whole valid frame (COBS-encoded, no
    delimiter), else None."""
    if len(seg) < 2 or seg[1] != MAGIC:
        return None
    end = 0
    while end < len(seg) and end <= MAX_ENCODED:
        end += max(1, seg[end])
        if HEADER_SIZE + CRC_SIZE < end <= len(seg):
            try:
                return decode_frame(seg[:end]), end
            except FrameError:
                pass
    return None


class StreamSplitter:
    """Bytes in; `Line`, `Noise`, `DamagedFrame` and `Frame` events out, in arrival order.

    Segments are delimited by 0x00 (protocol frames are 0x00-delimited). A segment whose
    second byte is the protocol magic is held as a frame candidate until its delimiter;
    anything else is cut into lines at every newline as soon as it arrives."""

    def __init__(self):
        self._seg = bytearray()
        self._fresh = True          # the segment began at a 0x00 (or at the start of the stream)
        self.bytes_in = 0

    def _frame_like(self) -> bool:
        """The segment may still become a frame: it started at a delimiter (the device sends
        0x00 before every frame), nothing was cut from it, and its second byte (the first
        byte inside the COBS block) is the magic -- or has not arrived yet."""
        s = self._seg
        return self._fresh and (len(s) < 2 or s[1] == MAGIC) and len(s) <= MAX_ENCODED + 1

    def feed(self, data: bytes) -> list:
        events: list = []
        self.bytes_in += len(data)
        start = 0
        data = bytes(data)
        while start < len(data):
            z = data.find(b"\x00", start)
            end = len(data) if z < 0 else z
            self._seg += data[start:end]
            self._cut_lines(events)
            if z < 0:
                break
            self._end_segment(events)
            start = z + 1
        return events

    def flush(self) -> list:
        """The bytes held back (a partial line), as an event."""
        events: list = []
        if self._seg:
            self._emit(bytes(self._seg), events, partial=True)
            self._seg.clear()
            self._fresh = False
        return events

    def _cut_lines(self, events: list) -> None:
        if self._frame_like():
            # a frame is taken once its last COBS block is complete, even if its trailing
            # 0x00 never comes (what follows it is then text again)
            found = _leading_frame(bytes(self._seg))
            if found is None:
                return
            frame, end = found
            events.append(frame)
            del self._seg[:end]
            self._fresh = False
            if not self._seg:
                self._fresh = True
                return
        while True:
            nl = self._seg.find(b"\n")
            if nl < 0:
                break
            raw = bytes(self._seg[:nl])
            del self._seg[:nl + 1]
            self._fresh = False
            self._emit(raw, events)
        if len(self._seg) > MAX_LINE:
            self._emit(bytes(self._seg), events, partial=True)     # a very long line without newline
            self._seg.clear()
            self._fresh = False

    def _end_segment(self, events: list) -> None:
        seg = bytes(self._seg)
        fresh = self._fresh
        self._seg.clear()
        self._fresh = True
        if not seg:
            return
        try:
            events.append(decode_frame(seg))
            return
        except FrameError as e:
            reason = str(e)
        # a frame whose trailing 0x00 was lost, followed by text: the frame ends where its
        # COBS blocks end
        found = _leading_frame(seg)
        if found is not None:
            events.append(found[0])
            self._emit_lines(seg[found[1]:], events)
            return
        # text directly followed by a frame whose leading 0x00 was lost
        j = seg.find(MAGIC_BYTE, 1)
        while j > 0:
            if seg[j - 1] >= 2:
                try:
                    frame = decode_frame(seg[j - 1:])
                except FrameError:
                    frame = None
                if frame is not None:
                    self._emit_lines(seg[:j - 1], events)
                    events.append(frame)
                    return
            j = seg.find(MAGIC_BYTE, j + 1)
        if fresh and self._damaged_frame(seg, reason, events):
            return
        self._emit_lines(seg, events)

    def _damaged_frame(self, seg: bytes, reason: str, events: list) -> bool:
        """A segment after a 0x00 that looks like a frame (the magic byte after a COBS code,
        or binary bytes of a frame's size) but failed its checks: a DamagedFrame, and the
        text after its COBS blocks (its trailing 0x00 lost) as lines. False: not frame-like."""
        magic = len(seg) >= 2 and seg[0] >= 2 and seg[1] == MAGIC
        binary = len(seg) > HEADER_SIZE + CRC_SIZE and _readable(seg) < 0.75 * len(seg)
        if not (magic or binary):
            return False
        end = _cobs_end(seg)
        rest = seg[end:]
        if rest and _readable(rest) >= 0.75 * len(rest.replace(b"\n", b"").replace(b"\r", b"")):
            events.append(DamagedFrame(seg[:end], reason))
            self._emit_lines(rest, events)
        else:
            events.append(DamagedFrame(seg, reason))
        return True

    def _emit_lines(self, data: bytes, events: list) -> None:
        """Bytes that end at a delimiter: lines (the last one partial)."""
        parts = data.split(b"\n")
        for k, part in enumerate(parts):
            last = k == len(parts) - 1
            if last and not part:
                break
            self._emit(part, events, partial=last)

    @staticmethod
    def _emit(raw: bytes, events: list, partial: bool = False) -> None:
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None and _clean(text):
            events.append(Line(text, partial))
            return
        # a line with bytes that are not text: a text line damaged on the way (shown as
        # such, escaped), or noise
        readable = _readable(raw)
        if len(raw) >= 8 and readable >= 0.75 * len(raw):
            shown = raw.decode("ascii", "backslashreplace")
            shown = "".join(c if (c.isprintable() or c == "\t") else f"\\x{ord(c):02x}" for c in shown)
            events.append(Line(shown, partial, damaged=True, raw=raw))
            return
        events.append(Noise(raw))


def read_available(ser, n: int = 4096) -> bytes:
    """What the port has, waiting at most its timeout for the first byte; never drops
    bytes that arrived just before the port closed (pyserial's socket:// read(n) does).
    Raises serial.SerialException when the port is gone."""
    import serial

    # pyserial socket:// (QEMU) only: its rfc2217:// class has a `_socket` too, but a reader
    # thread owns it (telnet option negotiation) and reading it here would steal its bytes
    sock = getattr(ser, "_socket", None) if type(ser).__module__.endswith("protocol_socket") else None
    if sock is not None:
        if not ser.is_open:
            raise serial.SerialException("port is closed")
        try:
            ready, _, _ = select.select([sock], [], [], ser.timeout)
            if not ready:
                return b""
            data = sock.recv(n)
        except OSError as e:
            raise serial.SerialException(f"read failed: {e}") from None
        if not data:
            raise serial.SerialException("socket disconnected")
        return data
    first = ser.read(1)
    if not first:
        return b""
    try:
        waiting = ser.in_waiting
    except Exception:
        waiting = 0
    return first + (ser.read(min(n, waiting)) if waiting else b"")


class TeeSerial:
    """A pyserial-like wrapper that hands every byte read to `sink` (monitor --run: the
    Client talks, the monitor sees the raw stream)."""

    def __init__(self, ser, sink):
        self._ser = ser
        self._sink = sink

    def read(self, n: int = 1) -> bytes:
        data = self._ser.read(n)
        if data:
            self._sink(data)
        return data

    def write(self, data) -> int:
        return self._ser.write(data)

    def __getattr__(self, name):
        return getattr(self._ser, name)

    def __setattr__(self, name, value):
        if name in ("_ser", "_sink"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._ser, name, value)


# ----------------------------------------------------------------------------- labels
def load_labels(path: str | Path) -> list[str]:
    """Labels from a file: a JSON list, or one label per line."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise TinygenError(f"{path}: cannot read labels ({e.strerror or e})") from None
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            labels = json.loads(stripped)
        except ValueError as e:
            raise TinygenError(f"{path}: not a JSON list of labels ({e})") from None
        if not isinstance(labels, list):
            raise TinygenError(f"{path}: not a JSON list of labels")
        return [str(x) for x in labels]
    return [ln.strip() for ln in text.splitlines() if ln.strip()]


def project_labels(project_dir: str | Path) -> list[str] | None:
    """Labels of a tinygen project: `labels` in its manifest, or a labels.txt next to it."""
    d = Path(project_dir)
    m = d / "tinygen.json"
    if m.is_file():
        try:
            labels = json.loads(m.read_text(encoding="utf-8")).get("labels")
        except ValueError:
            labels = None
        if isinstance(labels, list) and labels:
            return [str(x) for x in labels]
    for name in ("labels.txt", "labels.json"):
        if (d / name).is_file():
            return load_labels(d / name)
    return None


# ----------------------------------------------------------------------------- monitor
def _now() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="milliseconds")


def _short(text: str) -> str:
    return text if len(text) <= _MAX_SHOWN else f"{text[:_MAX_SHOWN]}... ({len(text) - _MAX_SHOWN} more chars)"


class Monitor:
    """Turns received bytes into a live display, a log and a summary."""

    def __init__(self, *, out=None, log_path=None, as_json: bool = False, clock_hz: int | None = None,
                 labels: list | None = None, output_quant: tuple | None = None):
        self.out = out if out is not None else sys.stdout
        self.as_json = as_json
        self.clock_hz = clock_hz
        self.labels = labels
        self.output_quant = output_quant      # (scale, zero_point) of output 0
        self.splitter = StreamSplitter()
        self.log = open(log_path, "a", encoding="utf-8", buffering=1) if log_path else None
        self.t0 = time.monotonic()
        self.counts = {"lines": 0, "noise_bytes": 0, "frames": 0, "boots": 0, "resets": 0, "results": 0,
                       "mismatches": 0, "damaged_lines": 0, "damaged_frames": 0}
        self.latencies: list = []
        self.result_times: list = []
        self._seen_any = False              # anything received before the current boot marker
        self._banner_pending = False        # a banner line started this boot, its BOOT frame is due
        self.quiet_frames = False           # drive(): the client's replies are not shown
        self.last_boot: dict | None = None

    # -- output --------------------------------------------------------------------------
    def _log(self, text: str) -> None:
        if self.log is not None:
            self.log.write(f"{_now()} {text}\n")
            self.log.flush()

    def emit(self, kind: str, display: str, **fields) -> None:
        """One display record: a human line, or a JSON line (`fields`) with --json."""
        if self.as_json:
            rec = {"t": round(time.monotonic() - self.t0, 4), "type": kind}
            rec.update(fields)
            if "text" not in rec and display:
                rec["text"] = display
            self.out.write(json.dumps(rec, default=_json_default) + "\n")
        else:
            self.out.write(f"{time.monotonic() - self.t0:9.3f}  {display}\n")
        self.out.flush()

    # -- input ---------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        for ev in self.splitter.feed(data):
            self.handle(ev)

    def finish(self) -> None:
        for ev in self.splitter.flush():
            self.handle(ev)

    def handle(self, ev) -> None:
        if isinstance(ev, Line):
            self.counts["lines"] += 1
            self._log(ev.text + (" [damaged]" if ev.damaged else ""))
            self._on_line(ev)
        elif isinstance(ev, Noise):
            self.counts["noise_bytes"] += len(ev.data)
            shown = repr(ev.data)                 # b'...' with escapes: one clean log line
            self._log(f"[noise {len(ev.data)} bytes] {shown}")
            self.emit("noise", f"[noise {len(ev.data)} bytes] {_short(shown)}", hex=ev.data.hex())
            self._seen_any = True
        elif isinstance(ev, DamagedFrame):
            self.counts["damaged_frames"] += 1
            self._log(f"[damaged frame {len(ev.data)} bytes: {ev.reason}] {ev.data.hex()}")
            self.emit("damaged_frame", f"[damaged frame, {len(ev.data)} bytes: {ev.reason}]",
                      bytes=len(ev.data), reason=ev.reason, hex=ev.data.hex())
            self._seen_any = True
        elif isinstance(ev, Frame):
            self.counts["frames"] += 1
            self._on_frame(ev)

    def _boot_marker(self, how: str, info: dict) -> None:
        self.counts["boots"] += 1
        self.last_boot = info
        if self._seen_any:
            self.counts["resets"] += 1
            self._log(f"[reset] device reset detected ({how})")
            self.emit("reset", f"--- device reset ({how}): resynchronised ---", how=how, boot=info)
        self._seen_any = False

    def _on_line(self, ev: Line) -> None:
        obj = None
        s = ev.text.strip()
        if s.startswith("{") and s.endswith("}"):
            try:
                obj = json.loads(s)
            except ValueError:
                obj = None
        if isinstance(obj, dict) and "tinygen" in obj:
            self._boot_marker("banner", obj)
            self._banner_pending = True
            self._take_banner(obj)
        if ev.damaged:
            bad = sum(1 for b in ev.raw if not (0x20 <= b < 0x7F or b == 0x09))
            self.counts["damaged_lines"] += 1
            self.emit("line", f"{_short(ev.text)} [damaged: {bad} unreadable byte(s)]"
                      + (" [partial]" if ev.partial else ""), text=ev.text, partial=ev.partial, damaged=True,
                      hex=ev.raw.hex())
            self._seen_any = True
            return
        self.emit("line", _short(ev.text) + (" [partial]" if ev.partial else ""), text=ev.text,
                  partial=ev.partial)
        self._seen_any = True
        if isinstance(obj, dict) and isinstance(obj.get("selftest"), dict):
            self._on_selftest(obj["selftest"])

    def _take_banner(self, b: dict) -> None:
        if isinstance(b.get("clock_hz"), int) and b["clock_hz"] > 0 and not self.clock_hz:
            self.clock_hz = b["clock_hz"]
        outs = b.get("outputs")
        if self.output_quant is None and isinstance(outs, list) and outs and isinstance(outs[0], dict):
            o = outs[0]
            if o.get("scale"):
                self.output_quant = (float(o["scale"]), int(o.get("zero_point", 0)))

    def _on_frame(self, f: Frame) -> None:
        from tinygen.device.protocol import CMD_BOOT, COMMAND_NAMES, REPLY_FLAG

        if f.cmd == CMD_BOOT:
            text = f.payload.decode("utf-8", "replace")
            self._log(f"[frame BOOT] {text}")
            try:
                boot = json.loads(text)
            except ValueError:
                boot = {"raw": text}
            if self._banner_pending:
                self._banner_pending = False     # the same boot as the banner line
                self.last_boot = boot
            else:
                self._boot_marker("BOOT frame", boot)
            self.emit("boot", f"[boot] model {boot.get('model', '?')!r} on {boot.get('board', '?')} "
                              f"(fw {boot.get('fw', '?')}, protocol {boot.get('proto', '?')})", boot=boot)
            self._seen_any = True
            return
        self._seen_any = True
        name = COMMAND_NAMES.get(f.cmd & ~REPLY_FLAG if f.cmd != 0xFF else f.cmd, f"0x{f.cmd:02x}")
        if self.quiet_frames:
            return
        self._log(f"[frame {name} seq {f.seq}] {len(f.payload)} bytes")
        self.emit("frame", f"[frame {name} seq {f.seq}, {len(f.payload)} bytes]", cmd=f.cmd, seq=f.seq,
                  bytes=len(f.payload))

    # -- results -------------------------------------------------------------------------
    def _on_selftest(self, st: dict) -> None:
        if st.get("status") != 0:
            self.emit("result", f"[result] self-test failed with status {st.get('status')}", status=st.get("status"))
            return
        values = None
        outs = st.get("outputs") or []
        if outs and isinstance(outs[0], dict) and isinstance(outs[0].get("values"), list):
            values = np.array(outs[0]["values"], dtype=np.int64)
        self.result(int(st.get("cycles", 0)), values, source="self-test")

    def result(self, cycles: int, values, *, source: str, exact: bool | None = None, index: int | None = None) -> None:
        """Shows one inference result: label/score of output 0, latency."""
        self.counts["results"] += 1
        self.latencies.append(cycles)
        self.result_times.append(time.monotonic())
        fields = {"source": source, "cycles": cycles}
        parts = [f"[{source}{'' if index is None else ' ' + str(index)}]"]
        if values is not None and np.size(values):
            v = np.asarray(values).reshape(-1)
            top = int(np.argmax(v))
            label = self.labels[top] if self.labels and top < len(self.labels) else None
            score = float(v[top])
            if self.output_quant is not None:
                scale, zp = self.output_quant
                score = (float(v[top]) - zp) * scale
            fields.update(top=top, label=label, score=round(score, 6))
            parts.append(f"top {top}" + (f" {label!r}" if label is not None else "") + f" score {score:.4g}")
        ms = None
        if self.clock_hz:
            ms = cycles * 1e3 / self.clock_hz
            fields["ms"] = round(ms, 4)
            parts.append(f"{cycles:,} cycles = {ms:.3f} ms @ {self.clock_hz / 1e6:g} MHz")
        else:
            parts.append(f"{cycles:,} cycles")
        if len(self.result_times) >= 2:
            span = self.result_times[-1] - self.result_times[0]
            if span > 0:
                rate = (len(self.result_times) - 1) / span
                fields["inferences_per_s"] = round(rate, 2)
                parts.append(f"{rate:.1f} inf/s")
        if exact is not None:
            fields["bit_exact"] = exact
            if not exact:
                self.counts["mismatches"] += 1
            parts.append("bit-exact" if exact else "DIFFERS from the emulator")
        self._log("[result] " + json.dumps(fields, default=_json_default))
        self.emit("result", "  ".join(parts), **fields)

    # -- sessions ------------------------------------------------------------------------
    def watch(self, link, *, reconnect: float = 5.0, duration: float | None = None) -> str | None:
        """Shows everything the board sends until Ctrl-C (KeyboardInterrupt propagates), the
        `duration` ends, or the port is gone for more than `reconnect` seconds. Returns
        None, or the one-line reason the port was lost."""
        import serial

        end = None if duration is None else time.monotonic() + duration
        while end is None or time.monotonic() < end:
            try:
                data = read_available(link.serial)
            except (serial.SerialException, OSError) as e:
                self.finish()
                if reconnect <= 0:
                    return f"serial port {link.description} closed ({e})"
                self.emit("port", f"--- port {link.description} lost ({e}); waiting {reconnect:g} s for it ---")
                try:
                    link.reopen(reconnect)
                except TinygenError as e2:
                    return str(e2)
                self.emit("port", f"--- port {link.description} re-opened ---")
                continue
            if data:
                self.feed(data)
        self.finish()
        return None

    def drive(self, link, n: int, *, graph=None, seed: int = 0, timeout: float = 2.0,
              max_recoveries: int = 3, sync_timeout: float = 10.0, stateful: bool = False,
              link_baud: int | None = None) -> str | None:
        """--run N: N inferences with random inputs through the protocol, each shown as it
        completes (with the emulator's verdict when `graph` is given). Returns None or the
        one-line reason the run stopped. A model with state: RESET_STATE before every inference,
        unless `stateful` (the N inputs are one sequence: one reset first; replayed from its start
        after a recovery). With `link_baud` the link is raised to that rate after each handshake
        (SET_BAUD, with fallback)."""
        self.quiet_frames = True
        driver = _Driver(self, link, graph, timeout=timeout, sync_timeout=sync_timeout, link_baud=link_baud,
                         max_recoveries=max_recoveries)
        try:
            info = driver.connect()
            self._show_info(info)
            state_bytes = driver.client.reset_state() if driver.client.state_device() else 0
        except DeviceError as e:
            self.finish()
            return str(e)
        sequence = bool(stateful and state_bytes)
        if state_bytes:
            self.emit("state", f"[state] {state_bytes} bytes of model state: " +
                      ("the inputs are one sequence" if sequence else "reset before every inference"),
                      state_bytes=state_bytes, stateful=sequence)
        xs, expected, emu_out = self._inputs(info, graph, n, seed, stateful=sequence)
        self.result_times = []               # inferences/s of the driven runs only
        reason = driver.run_all(xs, expected, emu_out, n, state_bytes=state_bytes, sequence=sequence)
        self.finish()
        return reason

    def _show_info(self, info) -> None:
        """Takes the clock and output quantization from INFO (unless given) and shows the board."""
        if not self.clock_hz:
            self.clock_hz = info.clock_hz
        if self.output_quant is None and info.outputs and info.outputs[0].scale:
            self.output_quant = (info.outputs[0].scale, info.outputs[0].zero_point)
        self.emit("info", f"[info] {info.model_name!r} on {info.board_name} (fw {info.fw_version}), "
                          f"{info.num_layers} layers, arena {info.arena_bytes} bytes, clock {info.clock_hz / 1e6:g} MHz",
                  model=info.model_name, board=info.board_name, clock_hz=info.clock_hz)

    def _show_run(self, i: int, raw, cycles: int, expected, emu_out) -> None:
        """Shows the result of driven inference `i`, bit-exact or not when the emulator's is known."""
        values = None
        exact = None
        if raw:
            dt = np.dtype(emu_out[0].dtype) if emu_out else np.int8
            values = np.frombuffer(raw[0], dtype=dt)
            if expected is not None:
                exact = all(r == np.ascontiguousarray(o[i]).tobytes() for r, o in zip(raw, expected))
        self.result(int(cycles), values, source="run", exact=exact, index=i)

    @staticmethod
    def _inputs(info, graph, n, seed, stateful: bool = False):
        """Random inputs (and the emulator's outputs when the model is known)."""
        if graph is not None:
            from tinygen.emulator.engine import Emulator
            from tinygen.device.validate import random_inputs

            xs = random_inputs(graph, n, seed)
            outs = Emulator(graph).run_internal(xs, stateful=stateful)
            return xs, outs, outs
        rng = np.random.default_rng(seed)
        xs = []
        for t in info.inputs:
            if t.dtype == 0:
                xs.append(rng.uniform(-1, 1, (n, t.bytes // 4)).astype(np.float32))
            else:
                xs.append(rng.integers(0, 256, (n, t.bytes), dtype=np.uint8))
        np_dt = {0: np.float32, 2: np.int32, 3: np.uint8, 7: np.int16, 9: np.int8}
        dts = [np.empty(0, np_dt.get(t.dtype, np.int8)) for t in info.outputs[:1]]
        return xs, None, dts

    # -- summary -------------------------------------------------------------------------
    def summary(self) -> dict:
        lat = None
        if self.latencies:
            a = np.array(self.latencies, dtype=np.float64)
            lat = {"median": float(np.median(a)), "min": int(a.min()), "max": int(a.max())}
        rate = None
        if len(self.result_times) >= 2 and self.result_times[-1] > self.result_times[0]:
            rate = (len(self.result_times) - 1) / (self.result_times[-1] - self.result_times[0])
        return {"seconds": round(time.monotonic() - self.t0, 3), "bytes": self.splitter.bytes_in, **self.counts,
                "latency_cycles": lat,
                "latency_ms": ({k: v * 1e3 / self.clock_hz for k, v in lat.items()} if lat and self.clock_hz
                               else None),
                "clock_hz": self.clock_hz,
                "inferences_per_s": round(rate, 2) if rate else None}

    def print_summary(self) -> dict:
        s = self.summary()
        self._log("[summary] " + json.dumps(s))
        if self.as_json:
            self.out.write(json.dumps({"type": "summary", **s}) + "\n")
        else:
            text = (f"--- {s['seconds']:.1f} s, {s['bytes']:,} bytes: {s['lines']} lines, {s['frames']} frames, "
                    f"{s['noise_bytes']} noise bytes, "
                    + (f"{s['damaged_lines']} damaged lines, " if s["damaged_lines"] else "")
                    + (f"{s['damaged_frames']} damaged frames, " if s["damaged_frames"] else "")
                    + f"{s['boots']} boots, {s['resets']} resets, "
                    f"{s['results']} inference results")
            if s["latency_cycles"]:
                lc = s["latency_cycles"]
                text += f"; latency median {lc['median']:,.0f} cycles"
                if s["latency_ms"]:
                    text += f" ({s['latency_ms']['median']:.3f} ms)"
            if s["inferences_per_s"]:
                text += f"; {s['inferences_per_s']} inferences/s"
            if s["mismatches"]:
                text += f"; {s['mismatches']} results differ from the emulator"
            self.out.write(text + " ---\n")
        self.out.flush()
        return s

    def close(self) -> None:
        if self.log is not None:
            self.log.close()
            self.log = None


class _Driver:
    """The protocol side of `Monitor.drive`: the client, the link rate it raised, and the recovery
    from resets, lost ports and silences between inferences."""

    def __init__(self, monitor: Monitor, link, graph, *, timeout: float, sync_timeout: float,
                 link_baud: int | None, max_recoveries: int):
        from tinygen.device.speed import port_baud

        self.monitor = monitor
        self.link = link
        self.graph = graph
        self.timeout = timeout
        self.sync_timeout = sync_timeout
        self.link_baud = link_baud
        self.max_recoveries = max_recoveries
        self.client = None
        self.base = port_baud(link.serial)
        self.raised = None

    def connect(self, wait: float | None = None, after_reset: bool = False):
        """A fresh client (keeping what the old one learned), synchronised, checked against the
        model, the link raised; returns the board's INFO."""
        from tinygen.device.protocol import Client
        from tinygen.device.speed import raise_baud, sync_at

        old = self.client
        self.client = Client(TeeSerial(self.link.serial, self.monitor.feed), timeout=self.timeout, on_text=None)
        if old is not None:
            self.client.adopt(old)           # what was learned about the link
        rates = [self.base, self.raised] if after_reset else [self.raised, self.base]
        sync_at(self.client, rates, self.sync_timeout if wait is None else wait)
        info = self.client.info()
        if self.graph is not None and info.sha256.hex() != self.graph.sha256:
            raise DeviceError(f"the board on {self.link.description} runs model {info.model_name!r}, "
                              f"not {self.graph.name!r} (sha256 differs)")
        if self.link_baud:
            got, note = raise_baud(self.client, self.link_baud)
            self.raised = got if got and got != self.base else None
            self.monitor.emit("link", f"[link] {note}", baud=got or None, note=note)
        return info

    def run_all(self, xs, expected, emu_out, n: int, *, state_bytes: int, sequence: bool) -> str | None:
        """Runs inferences 0..n-1, showing each; returns None or why it stopped."""
        recoveries = 0          # in a row, without 5 good results between them
        good = 0
        i = 0
        replay = 0              # a sequence replayed after a recovery: results below this were shown
        while i < n:
            try:
                if state_bytes and (i == 0 or not sequence):
                    self.client.reset_state()
                raw, cycles = self.client.run([x[i].tobytes() for x in xs])
            except DeviceError as e:
                recoveries += 1
                good = 0
                reason = self._recover(e, recoveries)
                if reason is not None:
                    return reason
                if sequence:
                    replay, i = max(replay, i), 0
                continue
            if i >= replay:
                self.monitor._show_run(i, raw, cycles, expected, emu_out)
                good += 1
                if good >= 5:
                    recoveries = 0
            i += 1
        return None

    def _recover(self, e: DeviceError, recoveries: int) -> str | None:
        """Back in contact after `e` (the `recoveries`-th in a row), or the reason to give up."""
        from tinygen.device.protocol import DeviceResetError, PortError

        if isinstance(e, (DeviceResetError, PortError)):
            return self._reconnect(e, recoveries)
        return self._resync(e, recoveries)

    def _reconnect(self, e: DeviceError, recoveries: int) -> str | None:
        """After a device reset or a lost port: re-open the port if it went, synchronise again."""
        from tinygen.device.protocol import DeviceResetError, PortError

        if recoveries > self.max_recoveries:
            return f"{e}; giving up after {self.max_recoveries} recoveries"
        if isinstance(e, DeviceResetError) and getattr(e, "boot", None) is None:
            # no BOOT frame (lost): the state break gave the reset away
            self.monitor.counts["resets"] += 1
            self.monitor._log(f"[reset] {e}")
            self.monitor.emit("reset", f"--- device reset ({e}): resynchronising ---", how="state lost")
        try:
            if isinstance(e, PortError):
                self.monitor.emit("port", f"--- {e}: re-opening ---")
                self.link.reopen(10.0)
            self.connect(after_reset=isinstance(e, DeviceResetError))
        except DeviceError as e2:
            return str(e2)
        return None

    def _resync(self, e: DeviceError, recoveries: int) -> str | None:
        """After no reply (a protocol error ends the run): is the device still there?"""
        from tinygen.device.protocol import ProtocolError

        if isinstance(e, ProtocolError) or recoveries > self.max_recoveries:
            return str(e)
        self.monitor.emit("port", f"--- {e}: resyncing ---")
        try:
            self.connect(min(self.sync_timeout, max(2.0, 4 * self.timeout)))
        except DeviceError:
            return f"{e}; then no answer to a resync"
        return None


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)
