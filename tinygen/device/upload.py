"""Input uploads with selective repeat and a sliding window (docs/protocol.md, "Noisy links").

`SelectiveUpload` sends one input tensor to a device that takes unit-aligned `INFER_CHUNK`s
in any order (INFO flag GAPS). Chunks go out as independent requests, each with its own
seq, while at most `WINDOW` wire bytes are unanswered (a device's receive ring holds one
maximal frame, so it never overflows); every reply lets the next chunk go (a sliding
window, no round trip per burst). The device answers frames in the order they arrive, so a
reply to one chunk also settles every chunk sent before it: those without a confirmation
were lost and are sent again (a NAK settles only the chunk it names: its seq comes from a
damaged header). A device with INFO flag SACK puts a bitmap of
the units it holds beyond its contiguous prefix into every reply, so one reply that gets
through confirms the chunks whose own replies the link lost (they are not sent again).
A chunk whose reply is overdue (its expected reply time: the bytes ahead of it at the
learned link speed, plus the turnaround allowance, doubled per silent stall) is settled
the same way. Chunk sizes follow the link's error rate (`LinkQuality`) for their own
bytes: a burst shares the turnaround.
"""
from __future__ import annotations

import collections
import struct
import time
from dataclasses import dataclass

from tinygen.errors import DeviceError
from tinygen.device.link import Frame, Garbage, encode_frame
from tinygen.device.codes import (CMD_BOOT, CMD_ERROR, CMD_INFER_CHUNK, ERROR_NAMES, FRAMING_ERRORS, REPLY_FLAG,
                                  WINDOW, ProtocolError)

REQ_OVERHEAD = 19           # wire bytes of an INFER_CHUNK around its data
REPLY_BYTES = 21            # wire bytes of a reply without SACK bitmap


@dataclass
class _Chunk:
    off: int
    n: int
    wire: int                # encoded bytes on the wire
    sent: float              # monotonic send time
    ahead: int               # wire bytes (requests and its reply) to get through before its reply
    due: float               # when its reply is overdue
    wait: float = 0.0        # its wait from the send (or, for a query, from the last reply heard)
    replied: bool = False


class SelectiveUpload:
    """One input upload (see the module doc). `run()` returns when the device holds all
    of `data`; raises DeviceError (budget spent, silence), ProtocolError, DeviceResetError."""

    def __init__(self, client, data: bytes, unit: int, step: int, sack: bool, *, min_wait: float = 0.25):
        self.c = client
        self.min_wait = min_wait
        self.data = data
        self.total = len(data)
        self.unit = unit
        self.step = step
        self.sack = sack
        self.nunits = (self.total + unit - 1) // unit
        self.have = bytearray(self.nunits)      # units the device confirmed
        self.busy = bytearray(self.nunits)      # units in a chunk awaiting its reply
        self.ever = bytearray(self.nunits)      # units sent at least once
        self.recv = 0                           # the device's contiguous prefix
        self.inflight: collections.OrderedDict = collections.OrderedDict()   # seq -> _Chunk
        self.seqs: dict = {}                    # every seq of this upload -> (off, n)
        self.inflight_wire = 0
        self.fails = 0                          # stalls in a row without progress
        self.heard = False                      # anything arrived since the last stall
        self.probe = None                       # seq of the query in flight, if any
        self.last_frame = 0.0                   # when the last good frame arrived

    # ------------------------------------------------------------------ the loop
    def run(self) -> None:
        c = self.c
        while self.recv < self.total:
            self._fill_window()
            ev = c._next_event()
            if ev is None:
                self._expire(time.monotonic())
            else:
                self.heard = True
                self._on_event(ev)
        c._fails = 0
        c._garbage_only = False

    # ------------------------------------------------------------------ sending
    def _chunk_size(self) -> int:
        size = self.c.quality.chunk(self.step, overhead=REQ_OVERHEAD) if self.c.adaptive else self.step
        return max(self.unit, (size // self.unit) * self.unit)

    def _next_run(self, k: int, size: int):
        """The first unit from k that is neither confirmed nor in flight, and the run of such
        units after it (at most `size` bytes): (off, n, next k) or None."""
        have, busy, nunits, unit = self.have, self.busy, self.nunits, self.unit
        while k < nunits and (have[k] or busy[k]):
            k += 1
        if k >= nunits:
            return None
        j = k
        while j < nunits and not have[j] and not busy[j] and (j - k + 1) * unit <= size:
            j += 1
        off = k * unit
        return off, min(self.total, j * unit) - off, j

    def _fill_window(self) -> None:
        c = self.c
        out = bytearray()
        k = self.recv // self.unit
        size = self._chunk_size()
        now = time.monotonic()
        while self.inflight_wire < WINDOW:
            found = self._next_run(k, size)
            if found is None:
                if not self.inflight and not out:
                    out += self._query(now)       # nothing unconfirmed in flight, the prefix short: ask
                break
            off, n, k = found
            out += self._send(off, n, now)
        if out:
            c._write(bytes(out))

    def _send(self, off: int, n: int, now: float) -> bytes:
        c = self.c
        seq = c._next_seq()
        lo, hi = off // self.unit, (off + n + self.unit - 1) // self.unit
        again = any(self.ever[lo:hi])
        c.stats["resent" if again else "sent"] += 1
        c.sizes[n] += 1
        for q in range(lo, hi):
            self.ever[q] = 1
            self.busy[q] = 1
        payload = struct.pack("<I", off) + self.data[off:off + n]
        return self._track(seq, off, n, now, encode_frame(seq, CMD_INFER_CHUNK, payload))

    def _query(self, now: float) -> bytes:
        """An empty chunk: its reply tells what the device holds, and settles every chunk sent
        before it (the probe when replies are overdue: cheaper than sending their data again)."""
        c = self.c
        seq = c._next_seq()
        c.stats["queries"] += 1
        self.probe = seq
        return self._track(seq, 0, 0, now, encode_frame(seq, CMD_INFER_CHUNK, struct.pack("<I", 0)))

    def _track(self, seq: int, off: int, n: int, now: float, wire: bytes) -> bytes:
        c = self.c
        self.inflight_wire += len(wire)
        ahead = self.inflight_wire + REPLY_BYTES
        margin = (c._lat + 4.0 * c._lat_var + 0.03) * (2.0 ** min(c._silences, 6))
        wait = 1.5 * c._byte_time * ahead + margin
        if not n:
            # the last resort before data is sent again: twice a chunk's wait, at least half the
            # shortest request wait, doubled per silent stall
            wait = max(0.5 * self.min_wait * (2.0 ** min(c._silences, 6)), 2.0 * wait)
        wait = min(c.timeout, wait)
        self.inflight[seq] = _Chunk(off, n, len(wire), now, ahead, now + wait, wait)
        self.seqs[seq] = (off, n)
        return wire

    # ------------------------------------------------------------------ receiving
    def _on_event(self, ev) -> None:
        c = self.c
        if isinstance(ev, Garbage):
            if self.probe is not None and next(iter(self.inflight)) == self.probe:
                # damaged bytes while only the query is out: its reply, damaged; ask again soon
                probe = self.inflight[self.probe]
                probe.due = min(probe.due, time.monotonic() + 0.005 + 2.0 * (c._lat + 2.0 * c._lat_var))
            return
        self.last_frame = time.monotonic()
        if ev.cmd == CMD_BOOT:
            c._on_boot(ev)             # raises DeviceResetError once synced
            return
        if ev.cmd == (CMD_INFER_CHUNK | REPLY_FLAG) and ev.seq in self.seqs:
            self._on_reply(ev)
        elif ev.cmd == CMD_ERROR and len(ev.payload) >= 6:
            self._on_error(ev)
        else:
            c.stats["stale"] += 1

    def _on_reply(self, ev: Frame) -> None:
        c = self.c
        c._synced = True
        before = (self.recv, sum(self.have))
        off, n = self.seqs[ev.seq]
        self._mark(off, off + n)
        self._apply_ack(ev.payload)
        chunk = self.inflight.get(ev.seq)
        if chunk is not None:
            chunk.replied = True
            c._learn(time.monotonic() - chunk.sent, chunk.ahead, False)
            self._settle_through(ev.seq)
        else:
            c.stats["late_replies"] += 1
        if (self.recv, sum(self.have)) != before:
            self._progress()

    def _on_error(self, ev: Frame) -> None:
        c = self.c
        code, ecmd, detail = struct.unpack_from("<BBI", ev.payload)
        if code in FRAMING_ERRORS:
            c.stats["naks"] += 1
            chunk = self.inflight.pop(ev.seq, None)
            if chunk is not None:
                # that chunk arrived damaged. (Not the ones before it: the seq is what the device read
                # from a damaged header, perhaps another chunk's; a later good reply settles those.)
                self._settle(ev.seq, chunk, True)
            return
        if ev.seq not in self.seqs:
            c.stats["stale"] += 1
            return
        c._synced = True
        raise c._translate(ProtocolError(
            f"device error {ERROR_NAMES.get(code, code)} for INFER_CHUNK (detail {detail})",
            code=code, cmd=ecmd, detail=detail), CMD_INFER_CHUNK, True)

    def _apply_ack(self, payload: bytes) -> None:
        (received,) = struct.unpack_from("<I", payload)
        if received > self.total:
            raise DeviceError(f"INFER_CHUNK: device holds {received} bytes of a {self.total}-byte input")
        if received > self.recv:
            self.recv = received
            self._mark(0, received)
        if self.sack and len(payload) > 4:
            base = received // self.unit
            bitmap = payload[4:]
            for i in range(8 * len(bitmap)):
                if bitmap[i >> 3] >> (i & 7) & 1 and base + i < self.nunits:
                    self.have[base + i] = 1

    def _mark(self, begin: int, end: int) -> None:
        """The units wholly inside [begin, end) (the last, short one when end == total)."""
        unit = self.unit
        k = -(-begin // unit)
        while k < self.nunits and min(self.total, (k + 1) * unit) <= end:
            self.have[k] = 1
            k += 1

    # ------------------------------------------------------------------ settling
    def _settle_through(self, seq: int, answered: bool = True) -> None:
        """The device answered `seq`: it has handled every chunk sent before it too (or, with
        `answered` False, their replies are overdue)."""
        while self.inflight:
            s, chunk = self.inflight.popitem(last=False)
            self._settle(s, chunk, answered)
            if s == seq:
                break

    def _settle(self, seq: int, chunk: _Chunk, answered: bool) -> None:
        c = self.c
        self.inflight_wire -= chunk.wire
        if seq == self.probe:
            self.probe = None
        lo, hi = chunk.off // self.unit, (chunk.off + chunk.n + self.unit - 1) // self.unit
        for q in range(lo, hi):
            self.busy[q] = 0
        if not chunk.n or not answered:
            return             # overdue only: a slow or busy device is no reason for smaller chunks
        delivered = all(self.have[lo:hi])
        if delivered and not chunk.replied:
            c.stats["garbled_replies"] += 1       # its reply was lost, another one confirmed it
        if c.adaptive:
            c.quality.record(chunk.n + REQ_OVERHEAD, delivered)

    def _expire(self, now: float) -> None:
        """The oldest chunk's reply is overdue: ask the device (a query) what it holds; when
        the query's reply is overdue too, every chunk up to it counts as lost (a stall)."""
        if not self.inflight:
            return
        oldest = next(iter(self.inflight.values()))
        if oldest.due > now:
            return
        if self.probe is None:
            self.c._write(self._query(now))
            return
        probe = self.inflight[self.probe]
        # replies still arriving after the query went out: the device is slow (a busy host,
        # a long queue), not deaf; wait until the line has been quiet for the query's wait
        if self.last_frame > probe.sent:
            probe.due = max(probe.due, self.last_frame + probe.wait)
        if probe.due <= now:
            self._settle_through(self.probe, answered=False)
            self._stalled(now)

    def _progress(self) -> None:
        c = self.c
        self.fails = 0
        c._fails = 0
        c._silences = 0                 # the device answers: no backoff
        c._garbage_only = False

    def _stalled(self, now: float) -> None:
        c = self.c
        self.fails += 1
        if not self.heard:
            c._silences += 1
            c.stats["timeouts"] += 1
        self.heard = False
        if self.fails > c.retries or (c._silences >= 2 and now - c._last_heard > 4.0 * c.timeout):
            self.fails = 0
            raise DeviceError(f"no reply to INFER_CHUNK from {c.port} after {c.retries} "
                              f"stalls without progress")
