"""Serial protocol: framing unit tests and the device side (host build with
ASan/UBSan) driven from Python through a subprocess pipe."""
from __future__ import annotations

import ctypes
import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
import serial
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygen.device import link, protocol
from tinygen.errors import DeviceError
from tinygen.device.link import (Frame, FrameError, FrameReader, Garbage, ProcessSerial, Text, cobs_decode,
                          cobs_encode, decode_frame, encode_frame, frame_bytes, parse_frame)
from tinygen.device.protocol import Client, DeviceResetError, PortError, ProtocolError

ROOT = Path(__file__).resolve().parents[1]
PROTO_DIR = ROOT / "firmware" / "protocol"
TESTS_DIR = ROOT / "firmware" / "tests"
PROTO_SOURCES = [PROTO_DIR / "tg_proto.c", TESTS_DIR / "proto_host_app.c"]
HOST_CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-fsanitize=address,undefined",
               "-fno-sanitize-recover=all", "-g", "-O1"]
SANITIZER_ENV = {"ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0:halt_on_error=1",
                 "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "SUMMARY: UndefinedBehaviorSanitizer",
                     "AddressSanitizer", "LeakSanitizer")

# The toy model of firmware/tests/proto_host_app.c
TOY_IN, TOY_OUT = 3000, 4100
TOY_SHA = bytes(range(32))
TOY_LAYER_CYCLES = [6000, 12300, 12345678901]


def toy_model(data: bytes) -> bytes:
    x = np.frombuffer(data, np.int8).astype(np.int16)
    y = np.clip(x + 1, -128, 127).astype(np.int8)
    return y[np.arange(TOY_OUT) % TOY_IN].tobytes()


# ---------------------------------------------------------------- build helpers
def build_host_device(out_dir: Path) -> Path:
    """Builds firmware/tests/proto_host_main.c with ASan + UBSan; skips without gcc."""
    cc = shutil.which("gcc")
    if cc is None:
        pytest.skip("gcc not found: cannot build the protocol host harness")
    exe = Path(out_dir) / "proto_host"
    cmd = [cc, *HOST_CFLAGS, f"-I{PROTO_DIR}", *map(str, PROTO_SOURCES), str(TESTS_DIR / "proto_host_main.c"),
           "-o", str(exe)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, f"host build failed:\n{r.stderr}"
    return exe


class HostDevice:
    """The sanitized host build as a pyserial-like port, stderr kept for checks."""

    def __init__(self, exe: Path, tmp: Path):
        self.stderr_path = Path(tmp) / f"stderr-{os.getpid()}-{id(self)}.txt"
        self._stderr = open(self.stderr_path, "wb")
        env = dict(os.environ, **SANITIZER_ENV)
        self.ser = ProcessSerial([exe], env=env, stderr=self._stderr)

    def stderr(self) -> str:
        if not self._stderr.closed:
            self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def close(self) -> int | None:
        rc = self.ser.close()
        self._stderr.close()
        return rc

    def assert_clean(self) -> None:
        err = self.stderr()
        assert not any(m in err for m in SANITIZER_MARKERS), f"sanitizer report:\n{err}"


@pytest.fixture(scope="session")
def host_exe(tmp_path_factory):
    return build_host_device(tmp_path_factory.mktemp("proto_host"))


@pytest.fixture
def device(host_exe, tmp_path):
    dev = HostDevice(host_exe, tmp_path)
    yield dev
    rc = dev.close()
    dev.assert_clean()
    assert rc in (0, None) or rc == -9, f"host device exited with {rc}:\n{dev.stderr()}"


@pytest.fixture
def client(device):
    lines = []
    c = Client(device.ser, on_text=lines.append, timeout=2.0, retries=2)
    c.text_lines = lines
    c.sync()
    return c


@pytest.fixture(scope="session")
def proto_lib(tmp_path_factory):
    """tg_proto.c (+ toy app) as a shared library for ctypes comparisons."""
    cc = shutil.which("gcc")
    if cc is None:
        pytest.skip("gcc not found")
    so = tmp_path_factory.mktemp("proto_lib") / "libtgproto.so"
    r = subprocess.run([cc, "-std=c99", "-O1", "-shared", "-fPIC", f"-I{PROTO_DIR}", *map(str, PROTO_SOURCES),
                        "-o", str(so)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    lib = ctypes.CDLL(str(so))
    lib.tg_proto_crc32.restype = ctypes.c_uint32
    lib.tg_proto_crc32.argtypes = [ctypes.c_uint32, ctypes.c_char_p, ctypes.c_size_t]
    for fn in (lib.tg_proto_cobs_encode, lib.tg_proto_cobs_decode):
        fn.restype = ctypes.c_size_t
        fn.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
    return lib


# ---------------------------------------------------------------- constants
def _c_defines(path: Path) -> dict:
    defs = {}
    for m in re.finditer(r"^#define\s+(TG_\w+)\s+(0x[0-9A-Fa-f]+|\d+)\b", path.read_text(), re.M):
        defs[m.group(1)] = int(m.group(2), 0)
    return defs


def test_constants_agree_with_c_header():
    c = _c_defines(PROTO_DIR / "tg_proto.h")
    pairs = {
        "TG_PROTO_VERSION": protocol.PROTOCOL_VERSION, "TG_PROTO_MAGIC": protocol.MAGIC,
        "TG_PROTO_HEADER_SIZE": protocol.HEADER_SIZE, "TG_PROTO_CRC_SIZE": protocol.CRC_SIZE,
        "TG_PROTO_MAX_PAYLOAD": protocol.MAX_PAYLOAD, "TG_PROTO_MAX_FRAME": protocol.MAX_FRAME,
        "TG_PROTO_MAX_ENCODED": protocol.MAX_ENCODED, "TG_PROTO_SEQ_NONE": protocol.SEQ_NONE,
        "TG_PROTO_SEQ_BOOT": protocol.SEQ_BOOT, "TG_PROTO_REPLY_FLAG": protocol.REPLY_FLAG,
        "TG_PROTO_SHA_PREFIX": protocol.SHA_PREFIX, "TG_PROTO_MAX_STRING": protocol.MAX_STRING,
        "TG_PROTO_MAX_TENSORS": protocol.MAX_TENSORS, "TG_PROTO_MAX_DIMS": protocol.MAX_DIMS,
        "TG_PROTO_INFO_FLAGS": protocol.INFO_FLAGS, "TG_PROTO_FLAG_PAGED": protocol.FLAG_PAGED,
        "TG_PROTO_FLAG_GAPS": protocol.FLAG_GAPS, "TG_PROTO_FLAG_STATE": protocol.FLAG_STATE,
        "TG_PROTO_MIN_UNIT": protocol.MIN_UNIT,
        "TG_PROTO_MAX_UNITS": protocol.MAX_UNITS,
    }
    for name, value in pairs.items():
        assert c[name] == value, name
    c_cmds = {k[len("TG_CMD_"):]: v for k, v in c.items() if k.startswith("TG_CMD_")}
    c_errs = {k[len("TG_ERR_"):]: v for k, v in c.items() if k.startswith("TG_ERR_")}
    assert c_cmds == {name: code for code, name in protocol.COMMAND_NAMES.items()}
    assert c_errs == {name: code for code, name in protocol.ERROR_NAMES.items()}
    app = _c_defines(PROTO_DIR / "tg_app.h")
    dtypes = {k[len("TG_DTYPE_"):].lower(): v for k, v in app.items() if k.startswith("TG_DTYPE_")}
    assert all(protocol.DTYPE_NAMES[v] == k for k, v in dtypes.items())
    assert app["TG_APP_MAX_DIMS"] == protocol.MAX_DIMS
    # the worst-case encoded frame really is MAX_ENCODED bytes
    assert len(cobs_encode(b"\xff" * protocol.MAX_FRAME)) == protocol.MAX_ENCODED


# ---------------------------------------------------------------- COBS / CRC
@pytest.mark.parametrize("raw, enc", [
    (b"", b"\x01"),
    (b"\x00", b"\x01\x01"),
    (b"\x00\x00", b"\x01\x01\x01"),
    (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
    (b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44"),
    (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
    (bytes(range(1, 255)), b"\xff" + bytes(range(1, 255))),
    (bytes(range(0, 255)), b"\x01\xff" + bytes(range(1, 255))),
    (bytes(range(1, 256)), b"\xff" + bytes(range(1, 255)) + b"\x02\xff"),
    (bytes(range(1, 255)) + b"\x00", b"\xff" + bytes(range(1, 255)) + b"\x01\x01"),
])
def test_cobs_vectors(raw, enc, proto_lib):
    assert cobs_encode(raw) == enc
    assert cobs_decode(enc) == raw
    buf = ctypes.create_string_buffer(len(enc) + 8)
    n = proto_lib.tg_proto_cobs_encode(raw, len(raw), buf, len(buf))
    assert buf.raw[:n] == enc


@settings(max_examples=200)
@given(st.binary(max_size=3000))
def test_cobs_roundtrip(data):
    enc = cobs_encode(data)
    assert 0 not in enc
    assert len(enc) <= len(data) + (len(data) + 253) // 254 + 1
    assert cobs_decode(enc) == data


@settings(max_examples=100)
@given(st.binary(max_size=2000))
def test_cobs_matches_c(proto_lib, data):
    out = ctypes.create_string_buffer(len(data) + len(data) // 254 + 2)
    n = proto_lib.tg_proto_cobs_encode(data, len(data), out, len(out))
    assert out.raw[:n] == cobs_encode(data)
    back = ctypes.create_string_buffer(len(data) + 1)
    m = proto_lib.tg_proto_cobs_decode(out.raw[:n], n, back, len(back))
    assert back.raw[:m] == data


@settings(max_examples=100)
@given(st.binary(max_size=200))
def test_cobs_decode_garbage_python_and_c_agree(proto_lib, data):
    try:
        expected = cobs_decode(data)
    except FrameError:
        expected = None
    out = ctypes.create_string_buffer(len(data) + 1)
    n = proto_lib.tg_proto_cobs_decode(data, len(data), out, len(out))
    if expected is None:
        assert n == ctypes.c_size_t(-1).value
    else:
        assert out.raw[:n] == expected


@settings(max_examples=200)
@given(st.binary(max_size=3000), st.integers(0, 2**32 - 1))
def test_crc_matches_c_and_zlib(proto_lib, data, seed):
    assert proto_lib.tg_proto_crc32(0, data, len(data)) == zlib.crc32(data) == link.crc32(data)
    assert proto_lib.tg_proto_crc32(seed, data, len(data)) == zlib.crc32(data, seed)


def test_crc_check_value(proto_lib):
    assert proto_lib.tg_proto_crc32(0, b"123456789", 9) == 0xCBF43926


# ---------------------------------------------------------------- frames
@settings(max_examples=100)
@given(st.integers(0, 0xFFFF), st.integers(0, 0xFF), st.binary(max_size=protocol.MAX_PAYLOAD))
def test_frame_roundtrip(seq, cmd, payload):
    wire = encode_frame(seq, cmd, payload)
    assert wire[0] == 0 and wire[-1] == 0 and 0 not in wire[1:-1]
    assert len(wire) <= protocol.MAX_ENCODED + 2
    assert decode_frame(wire[1:-1]) == Frame(seq, cmd, payload)
    assert FrameReader().feed(wire) == [Frame(seq, cmd, payload)]


def test_frame_errors():
    raw = bytearray(frame_bytes(7, protocol.CMD_PING, b"abc"))
    assert parse_frame(bytes(raw)) == Frame(7, protocol.CMD_PING, b"abc")
    bad = bytearray(raw)
    bad[-1] ^= 1
    with pytest.raises(FrameError, match="CRC"):
        parse_frame(bytes(bad))
    with pytest.raises(FrameError, match="short"):
        parse_frame(bytes(raw[:9]))
    bad = bytearray(raw[:-4])
    bad[0] = 0xA2
    with pytest.raises(FrameError, match="protocol version 2"):
        parse_frame(bytes(bad) + struct.pack("<I", link.crc32(bytes(bad))))
    bad[0] = 0xB1
    with pytest.raises(FrameError, match="magic"):
        parse_frame(bytes(bad) + struct.pack("<I", link.crc32(bytes(bad))))
    bad = bytearray(raw[:-4])
    bad[4] = 9
    with pytest.raises(FrameError, match="length"):
        parse_frame(bytes(bad) + struct.pack("<I", link.crc32(bytes(bad))))
    with pytest.raises(ValueError):
        frame_bytes(1, 1, bytes(protocol.MAX_PAYLOAD + 1))
    with pytest.raises(FrameError):
        cobs_decode(b"\x05\x11\x22")


def _frame_with_code_0a() -> bytes:
    # first zero at decoded index 9 -> the COBS code byte is 0x0A ('\n')
    payload = b"xyz\x00" + b"w" * 256   # length 260: no zero in the header
    wire = encode_frame(0x0101, 0x81, payload)
    assert wire[1] == 0x0A
    return wire


def test_reader_text_and_frames_any_split():
    f1 = encode_frame(3, 0x81, b"hello")
    f2 = _frame_with_code_0a()
    stream = b"boot banner\r\nsecond line\n" + f1 + b"\n" + f2 + b"tail text\n" + b"\x00"
    expected = [Text("boot banner"), Text("second line"), Frame(3, 0x81, b"hello"),
                decode_frame(f2[1:-1]), Text("tail text")]
    assert FrameReader().feed(stream) == expected
    for step in (1, 2, 3, 7, 64):
        r = FrameReader()
        events = []
        for i in range(0, len(stream), step):
            events += r.feed(stream[i:i + step])
        assert events == expected, step


def test_reader_text_directly_followed_by_frame():
    f = encode_frame(9, 0x81, b"x")
    events = FrameReader().feed(b"no delimiter\n" + f[1:])
    assert events == [Text("no delimiter"), Frame(9, 0x81, b"x")]


def test_reader_garbage_and_resync():
    r = FrameReader()
    events = r.feed(b"\x00\x83\xa1\xff\xfe\x00" + bytes([0xEE]) * 3000 + encode_frame(1, 0x81, b""))
    assert isinstance(events[0], Garbage)
    assert isinstance(events[1], Garbage) and "longer" in events[1].reason
    assert events[-1] == Frame(1, 0x81, b"")


def test_reader_want_reads_exactly_a_frame():
    wire = encode_frame(5, 0x81, bytes(range(1, 256)) * 3)
    r = FrameReader()
    pos, reads, events = 0, 0, []
    while pos < len(wire):
        n = r.want()
        events += r.feed(wire[pos:pos + n])
        pos += n
        reads += 1
    assert pos == len(wire), "want() asked for bytes beyond the frame"
    assert events == [Frame(5, 0x81, bytes(range(1, 256)) * 3)]
    assert reads <= 8


def test_loop_url_roundtrip_and_client_timeout():
    ser = serial.serial_for_url("loop://", timeout=0.05)
    wire = encode_frame(42, protocol.CMD_PING, b"abc")
    ser.write(wire)
    assert FrameReader().feed(ser.read(len(wire))) == [Frame(42, protocol.CMD_PING, b"abc")]
    # a loopback echoes requests: never a reply, so the client must time out cleanly
    c = Client(ser, timeout=0.2, retries=1)
    with pytest.raises(DeviceError, match="no reply to PING .* after 2 attempts"):
        c.ping()
    assert c.stats["resent"] == 1


def test_socket_port_keeps_what_the_device_sent_at_connect(monkeypatch):
    """QEMU (wait=on) starts the guest when tinygen connects; pyserial's socket port discarded what arrived before
    its open() ended: on a busy host the firmware's first line (a flaky monitor test). open_port keeps it (the
    delay between the connect and the end of open() is injected here)."""
    import socket
    import threading
    import time

    from serial.urlhandler import protocol_socket

    from tinygen.device.target import open_port

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def serve():
        c, _ = srv.accept()
        c.sendall(b"[self-test] top\n")
        time.sleep(1.0)
        c.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    configure = protocol_socket.Serial._reconfigure_port

    def busy_host(self, *a, **k):
        time.sleep(0.3)                 # the greeting is in the socket before open() ends
        return configure(self, *a, **k)

    monkeypatch.setattr(protocol_socket.Serial, "_reconfigure_port", busy_host)
    ser = open_port(f"socket://127.0.0.1:{srv.getsockname()[1]}", timeout=0.2)
    try:
        data, deadline = b"", time.monotonic() + 3
        while b"\n" not in data and time.monotonic() < deadline:
            data += ser.read(64)
        assert data == b"[self-test] top\n"
    finally:
        ser.close()
        srv.close()
        t.join(2)


class _Garbler:
    """A pyserial-like object that answers every read with noise."""
    port = "garbler"
    timeout = 0.01

    def __init__(self):
        self.rng = np.random.default_rng(1)

    def write(self, data):
        return len(data)

    def read(self, n):
        return self.rng.integers(0, 256, size=max(n, 16), dtype=np.uint8).tobytes()


class _FutureDevice:
    """Answers every request with a well-formed frame of protocol version 2."""
    port = "future"
    timeout = 0.01

    def __init__(self):
        self.out = b""

    def write(self, data):
        frame = link.cobs_decode(data[1:-1])
        body = bytes([0xA2]) + frame[1:-4]
        self.out += b"\x00" + cobs_encode(body + struct.pack("<I", link.crc32(body))) + b"\x00"
        return len(data)

    def read(self, n):
        data, self.out = self.out[:n], self.out[n:]
        return data


def test_other_protocol_version_is_a_clear_error():
    with pytest.raises(DeviceError, match="protocol version 2, this tinygen speaks 1"):
        Client(_FutureDevice(), timeout=0.3).ping()


def test_garbage_only_is_a_clear_error():
    c = Client(_Garbler(), timeout=0.3, retries=2)
    with pytest.raises(DeviceError, match="only garbage"):
        c.ping()


# ---------------------------------------------------------------- host-built device
def test_boot_banner_and_frame(client):
    assert client.text_lines == ["tinygen protocol host build: booting"]
    assert client.boot["model"] == "toy" and client.boot["proto"] == 1
    assert client.boot["sha256"] == TOY_SHA.hex()


def test_ping(client):
    for payload in (b"", b"x", bytes(range(256)) * 4):
        assert client.ping(payload) < 2.0


def test_info(client):
    info = client.info()
    assert info.protocol_version == 1 and info.max_payload == protocol.MAX_PAYLOAD
    assert (info.model_name, info.board_name, info.fw_version) == ("toy", "host", "test-0")
    assert info.sha256 == TOY_SHA and info.clock_hz == 1_000_000 and info.arena_bytes == 8192
    assert info.num_layers == 3
    (i,), (o,) = info.inputs, info.outputs
    assert (i.dtype_name, i.shape, i.scale, i.zero_point, i.bytes) == ("int8", (1, 10, 10, 30), 0.5, -3, TOY_IN)
    assert (o.dtype_name, o.shape, o.scale, o.zero_point, o.bytes) == ("int8", (1, TOY_OUT), 0.25, 7, TOY_OUT)


def test_infer_multichunk_profile_layers(client):
    rng = np.random.default_rng(0)
    for _ in range(2):
        data = rng.integers(-128, 128, TOY_IN, dtype=np.int8).tobytes()
        out, cycles = client.infer(data)
        assert out == toy_model(data)
        assert cycles == sum(TOY_LAYER_CYCLES)
    assert client.profile() == TOY_LAYER_CYCLES
    assert client.layer(0) == toy_model(data)[:TOY_IN]
    assert client.layer(1) == toy_model(data)
    assert client.read_output(0) == toy_model(data)
    with pytest.raises(ProtocolError, match="UNAVAILABLE") as e:
        client.layer(2)
    assert e.value.code == protocol.ERR_UNAVAILABLE
    with pytest.raises(ProtocolError, match="OUT_OF_RANGE") as e:
        client.layer(3)
    assert e.value.detail == 3 and not e.value.reset
    with pytest.raises(ProtocolError, match="OUT_OF_RANGE"):
        client.read_output(1)
    # the input was consumed: running again needs a fresh input
    with pytest.raises(ProtocolError, match="BAD_STATE"):
        client.request(protocol.CMD_INFER_RUN)


def test_reset_state(client):
    """RESET_STATE: the state's size (the toy has none), a payload is BAD_LENGTH, and it ends the last run
    (its outputs are no longer readable); the device announces it with INFO flag bit 2."""
    assert client.info().flags & protocol.FLAG_STATE and client.state_device()
    data = bytes(range(100)) * 30
    out, _ = client.infer(data)
    assert client.read_output(0) == out
    assert client.reset_state() == 0
    with pytest.raises(ProtocolError, match="BAD_STATE"):
        client.request(protocol.CMD_OUTPUT_READ, struct.pack("<BIH", 0, 0, 0))
    with pytest.raises(ProtocolError, match="BAD_LENGTH"):
        client.request(protocol.CMD_RESET_STATE, b"\x00")
    assert client.infer(data)[0] == out


def test_numpy_input_and_expected_sha(device):
    c = Client(device.ser, expected_sha256=TOY_SHA.hex())
    c.sync()
    assert c.info().model_name == "toy"
    x = np.arange(TOY_IN, dtype=np.int64).astype(np.int8)
    out, _ = c.infer(x)
    assert out == toy_model(x.tobytes())


def test_model_mismatch(device):
    c = Client(device.ser, expected_sha256=bytes(32))
    c.sync()
    with pytest.raises(ProtocolError, match="model mismatch") as e:
        c.info()
    assert e.value.code == protocol.ERR_MODEL_MISMATCH
    with pytest.raises(ProtocolError, match="model mismatch") as e:
        c.infer(bytes(TOY_IN))
    assert e.value.code == protocol.ERR_MODEL_MISMATCH


def test_error_replies(client):
    def err(cmd, payload=b""):
        with pytest.raises(ProtocolError) as e:
            client.request(cmd, payload)
        return e.value.code_name, e.value.detail

    assert err(0x55) == ("UNKNOWN_CMD", 0)
    assert err(protocol.CMD_INFO, b"x") == ("BAD_LENGTH", 0)
    assert err(protocol.CMD_INFER_BEGIN, struct.pack("<BBI", 0, 0, 100)) == ("BAD_LENGTH", TOY_IN)
    assert err(protocol.CMD_INFER_BEGIN, struct.pack("<BBI", 1, 0, TOY_IN)) == ("OUT_OF_RANGE", 1)
    assert err(protocol.CMD_INFER_BEGIN, b"\x00") == ("BAD_LENGTH", 6)
    assert err(protocol.CMD_INFER_CHUNK, struct.pack("<I", 0) + b"ab")[0] == "BAD_STATE"
    assert err(protocol.CMD_INFER_RUN)[0] == "BAD_STATE"
    assert err(protocol.CMD_PROFILE, b"\x00\x00")[0] == "BAD_STATE"
    assert err(protocol.CMD_LAYER, bytes(8))[0] == "BAD_STATE"
    assert err(protocol.CMD_OUTPUT_READ, bytes(7))[0] == "BAD_STATE"
    assert err(protocol.CMD_PROFILE, b"\x00")[0] == "BAD_LENGTH"
    assert err(protocol.CMD_RESET, b"\x00")[0] == "BAD_LENGTH"
    client.request(protocol.CMD_INFER_BEGIN, struct.pack("<BBI", 0, 0, TOY_IN))
    assert err(protocol.CMD_INFER_CHUNK, struct.pack("<I", 10) + b"ab") == ("OUT_OF_RANGE", 0)   # gap
    client.request(protocol.CMD_INFER_CHUNK, struct.pack("<I", 0) + bytes(1000))
    assert err(protocol.CMD_INFER_CHUNK, struct.pack("<I", 2500) + bytes(10)) == ("OUT_OF_RANGE", 1000)
    assert err(protocol.CMD_INFER_RUN) == ("BAD_STATE", 0)   # input 0 incomplete
    # the app's own failure code comes back as APP with the code
    client.request(protocol.CMD_INFER_BEGIN, struct.pack("<BBI", 0, 0, TOY_IN))
    for off in range(0, TOY_IN, 1000):
        client.request(protocol.CMD_INFER_CHUNK, struct.pack("<I", off) + b"\x80" * 1000)
    assert err(protocol.CMD_INFER_RUN) == ("APP", 7)


def _raw_exchange(device, wire: bytes, want_seq: int, timeout: float = 2.0) -> Frame:
    """Writes raw bytes, returns the first frame whose seq is want_seq."""
    import time
    device.ser.write(wire)
    r = FrameReader()
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for ev in r.feed(device.ser.read(r.want())):
            if isinstance(ev, Frame) and ev.seq == want_seq:
                return ev
    raise AssertionError("no frame with the expected seq")


def _error_of(frame: Frame):
    assert frame.cmd == protocol.CMD_ERROR, frame
    return struct.unpack_from("<BBI", frame.payload)


def test_framing_errors_get_replies(client, device):
    raw = bytearray(frame_bytes(0x1234, protocol.CMD_PING, b"hi"))
    raw[-2] ^= 0x40
    code, cmd, _ = _error_of(_raw_exchange(device, b"\x00" + cobs_encode(bytes(raw)) + b"\x00", 0x1234))
    assert (code, cmd) == (protocol.ERR_BAD_CRC, protocol.CMD_PING)
    # too short to hold a header: seq unknown
    code, _, detail = _error_of(_raw_exchange(device, b"\x00\x03ab\x00", protocol.SEQ_NONE))
    assert (code, detail) == (protocol.ERR_BAD_FRAME, 2)
    # truncated COBS block
    code, _, _ = _error_of(_raw_exchange(device, b"\x00\x09\xa1\x77\x77\x00", 0x7777))
    assert code == protocol.ERR_BAD_FRAME
    # longer than any frame
    code, _, detail = _error_of(_raw_exchange(device, b"\x00\x01\xa1\x66\x66" + b"\x42" * 3000 + b"\x00",
                                              0x6666))
    assert (code, detail) == (protocol.ERR_OVERFLOW, protocol.MAX_FRAME)
    # wrong magic/version with a valid CRC
    body = bytes([0xA2]) + frame_bytes(0x2222, protocol.CMD_PING)[1:-4]
    wire = b"\x00" + cobs_encode(body + struct.pack("<I", link.crc32(body))) + b"\x00"
    assert _error_of(_raw_exchange(device, wire, 0x2222))[0] == protocol.ERR_BAD_VERSION
    # length field disagreeing with the frame
    body = frame_bytes(0x3333, protocol.CMD_PING, b"abc")[:-4]
    body = body[:4] + b"\x09\x00" + body[6:]
    wire = b"\x00" + cobs_encode(body + struct.pack("<I", link.crc32(body))) + b"\x00"
    assert _error_of(_raw_exchange(device, wire, 0x3333))[:2] == (protocol.ERR_BAD_LENGTH, protocol.CMD_PING)
    # a reply-type cmd sent as a request
    assert _error_of(_raw_exchange(device, encode_frame(0x4444, 0x81), 0x4444))[0] == protocol.ERR_UNKNOWN_CMD
    client.ping(b"still alive")


def test_resync_after_garbage(client, device):
    rng = np.random.default_rng(5)
    for _ in range(5):
        noise = rng.integers(1, 256, size=int(rng.integers(1, 2500)), dtype=np.uint8).tobytes()
        device.ser.write(noise)            # no delimiter: the device is mid-"frame"
        client.ping(b"after noise")        # the client's leading 0x00 resynchronises
    assert client.info().model_name == "toy"


def test_duplicate_request_answered_from_cache(client, device):
    client.request(protocol.CMD_INFER_BEGIN, struct.pack("<BBI", 0, 0, TOY_IN))
    for off in range(0, TOY_IN, 1000):
        client.request(protocol.CMD_INFER_CHUNK, struct.pack("<I", off) + bytes([off // 1000]) * 1000)
    wire = encode_frame(0x0BAD, protocol.CMD_INFER_RUN)
    first = _raw_exchange(device, wire, 0x0BAD)
    second = _raw_exchange(device, wire, 0x0BAD)   # a retransmission: must not run again
    assert first == second and first.cmd == protocol.CMD_INFER_RUN | protocol.REPLY_FLAG
    third = _raw_exchange(device, encode_frame(0x0BAE, protocol.CMD_INFER_RUN), 0x0BAE)
    assert _error_of(third)[0] == protocol.ERR_BAD_STATE


def test_reset_command_and_reset_detection(client, device):
    boot = client.reset()
    assert boot["model"] == "toy"
    client.sync()
    client.infer(bytes(TOY_IN))
    # the device resets behind the client's back (watchdog, brown-out, ...)
    assert _raw_exchange(device, encode_frame(0x5555, protocol.CMD_RESET), 0x5555).cmd == 0xB0
    with pytest.raises(DeviceResetError, match="reset") as e:
        client.ping()
    assert e.value.reset and e.value.boot["model"] == "toy"
    client.sync()
    assert client.ping() >= 0


class _DropReplies:
    """Wraps a port and removes the device's frames with cmd `drop_cmd` from what is read."""

    def __init__(self, ser, drop_cmd):
        self.ser, self.drop_cmd, self.port = ser, drop_cmd, "dropper"
        self.reader, self.out, self.dropped = FrameReader(), b"", 0
        self.timeout = ser.timeout

    def write(self, data):
        return self.ser.write(data)

    def read(self, n):
        if not self.out:
            for ev in self.reader.feed(self.ser.read(self.reader.want())):
                if isinstance(ev, Frame) and ev.cmd == self.drop_cmd:
                    self.dropped += 1
                elif isinstance(ev, Frame):
                    self.out += encode_frame(ev.seq, ev.cmd, ev.payload)
                elif isinstance(ev, Text):
                    self.out += ev.line.encode() + b"\n"
        data, self.out = self.out[:n], self.out[n:]
        return data


def test_reset_with_lost_reply(device):
    c = Client(device.ser)
    c.sync()
    c.ser = _DropReplies(device.ser, protocol.CMD_RESET | protocol.REPLY_FLAG)
    boot = c.reset()              # the BOOT frame stands in for the lost reply
    assert boot["model"] == "toy"
    assert c.ser.dropped == 1 and c.stats["resent"] == 0
    c.sync()


def test_lost_state_is_reported_as_reset(client, device):
    client.infer(bytes(TOY_IN))
    device.ser.write(encode_frame(0x5556, protocol.CMD_RESET))
    client._reader = FrameReader()
    # swallow the reset's BOOT frame so that only the lost state reveals the reset
    import time
    time.sleep(0.2)
    device.ser.reset_input_buffer()
    with pytest.raises(DeviceResetError, match="lost its inference state"):
        client.profile()


class _Flaky:
    """Wraps a port; corrupts selected written frames and read bytes."""

    def __init__(self, ser, corrupt_writes=(), corrupt_reads_at=()):
        self.ser = ser
        self.port = "flaky"
        self.writes = 0
        self.read_bytes = 0
        self.corrupt_writes = set(corrupt_writes)
        self.corrupt_reads_at = set(corrupt_reads_at)

    @property
    def timeout(self):
        return self.ser.timeout

    @timeout.setter
    def timeout(self, v):
        self.ser.timeout = v

    def write(self, data):
        data = bytearray(data)
        if self.writes in self.corrupt_writes:
            data[len(data) // 2] ^= 0x10
        self.writes += 1
        return self.ser.write(bytes(data))

    def read(self, n):
        data = bytearray(self.ser.read(n))
        for i in range(len(data)):
            if self.read_bytes + i in self.corrupt_reads_at and data[i] not in (0, 0x10):
                data[i] ^= 0x10
        self.read_bytes += len(data)
        return bytes(data)


def test_retries_on_corruption_both_ways(device):
    c = Client(device.ser, retries=3)
    c.sync()
    flaky = _Flaky(device.ser, corrupt_writes={1, 4}, corrupt_reads_at={40, 3000, 5000})
    c.ser = flaky
    data = bytes(range(256)) * 11 + bytes(TOY_IN - 2816)
    out, _ = c.infer(data)
    assert out == toy_model(data)
    assert c.stats["resent"] >= 2


def test_port_disappearing(client, device):
    device.ser.proc.kill()
    device.ser.proc.wait()
    with pytest.raises(PortError, match="failed"):
        client.ping()
