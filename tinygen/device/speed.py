"""Raising the serial link's speed after the handshake (docs/protocol.md, "Link speed").

    rate, note = raise_baud(client, 921600)     # after client.sync() and client.info()

The host asks with `SET_BAUD(rate)` at the rate both sides use (the board's, e.g. 115200).
The device acknowledges at that rate (or answers UNAVAILABLE: its port cannot run at that
rate, or the rate does not matter, as on a USB CDC port), then both switch; the host probes
the new rate with a PING. Any failure (no acknowledgement, a probe without a good reply)
puts both sides back on the old rate: the host at once, the device at the first damaged
frame or when no good frame arrived within about a second (firmware/app/tg_fw.c). A device
that resets (BOOT) runs at its default rate again, and so must the host: `sync_at()` tries
the given rates in turn.

QEMU's UARTs ignore the baud rate, so the exchange (switch, probe, fallback) is testable
here, the speed gain is not.
"""
from __future__ import annotations

import os
import struct
import time

from tinygen.errors import DeviceError
from tinygen.device.codes import CMD_SET_BAUD, ERR_UNAVAILABLE, ERR_UNKNOWN_CMD, PortError, ProtocolError

PROBE_TIMEOUT = 0.5          # wait per probe attempt (s)
PROBE_ATTEMPTS = 3
DEVICE_FALLBACK = 1.0        # the device's own fallback when no good frame arrives (tg_fw.c)


def port_baud(ser) -> int | None:
    """The rate the host side of the port runs at (None: not a UART, e.g. a pipe)."""
    rate = getattr(ser, "baudrate", None)
    return int(rate) if isinstance(rate, (int, float)) and rate > 0 else None


def _set_port_baud(ser, rate: int) -> None:
    try:
        ser.flush()                  # what was written leaves at the old rate
    except Exception:                # pragma: no cover - adapters without flush()
        pass
    ser.baudrate = rate


def raise_baud(client, rate: int) -> tuple[int, str]:
    """Switches the link to `rate` (see the module doc). Returns (the rate in use, a
    one-line note). Raises DeviceError only when the device answers at neither rate."""
    old = port_baud(client.ser)
    if old is None:
        return 0, "not a serial port: the rate does not apply"
    if rate == old:
        return old, f"{old} baud"
    try:
        reply = client.request(CMD_SET_BAUD, struct.pack("<I", rate))
    except ProtocolError as e:
        if e.code in (ERR_UNAVAILABLE, ERR_UNKNOWN_CMD):
            return old, f"{old} baud (the board cannot switch to {rate})"
        raise
    if len(reply) < 4 or struct.unpack_from("<I", reply)[0] != rate:
        raise DeviceError(f"SET_BAUD: the device acknowledged another rate than {rate}")
    _set_port_baud(client.ser, rate)
    client.line_rate_changed(old, rate)
    if _probe(client):
        return rate, f"{rate} baud (raised from {old})"
    _set_port_baud(client.ser, old)
    client.line_rate_changed(rate, old)
    client.sync(DEVICE_FALLBACK + 4.0)         # the device is back on `old` within about a second
    return old, f"{old} baud (the probe at {rate} failed: fell back)"


def _probe(client) -> bool:
    saved = client.retries
    client.retries = PROBE_ATTEMPTS - 1
    try:
        client.ping(os.urandom(16), timeout=PROBE_TIMEOUT)
        return True
    except PortError:
        raise
    except ProtocolError:
        return False
    except DeviceError:
        return False
    finally:
        client.retries = saved
        client._fails = 0
        client._silences = 0


def sync_at(client, rates: list, timeout: float) -> int | None:
    """client.sync() at each of `rates` in turn (a device may still run at a raised rate, or
    be back at its default after a reset) until one answers; returns that rate (None: the
    port has no rate). Raises the last DeviceError when none does."""
    rates = [r for i, r in enumerate(rates) if r and r not in rates[:i]]
    if not rates or port_baud(client.ser) is None:
        client.sync(timeout)
        return None
    end = time.monotonic() + timeout
    last = None
    for k, rate in enumerate(rates):
        left = end - time.monotonic()
        share = left / (len(rates) - k) if k < len(rates) - 1 else left
        if share <= 0:
            break
        if port_baud(client.ser) != rate:
            _set_port_baud(client.ser, rate)
        try:
            client.sync(share)
            return rate
        except PortError:
            raise
        except DeviceError as e:
            if isinstance(e, ProtocolError):
                raise
            last = e
    raise last or DeviceError(f"device on {client.port} did not answer within {timeout:g} s")
