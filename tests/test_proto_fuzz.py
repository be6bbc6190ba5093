"""Fuzzing the device side of the protocol.

- hypothesis: random byte streams, mutated valid frames and valid frames with
  arbitrary commands/payloads are fed to the ASan/UBSan host build; after each
  example the device must still answer a PING, and stderr must stay free of
  sanitizer reports.
- libFuzzer (firmware/tests/proto_fuzz.c): a short smoke run over a seed corpus
  by default, 60 s with --run-slow.
"""
from __future__ import annotations

import os
import shutil
import struct
import subprocess
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_protocol import (PROTO_DIR, PROTO_SOURCES, TESTS_DIR, TOY_IN, HostDevice,
                                 build_host_device)
from tinygen.device import protocol
from tinygen.device.link import Frame, FrameReader, cobs_encode, crc32, encode_frame

# ---------------------------------------------------------------- valid requests
def _valid_requests() -> list:
    chunk = protocol.MAX_PAYLOAD - 4
    reqs = [
        (protocol.CMD_PING, b""), (protocol.CMD_PING, b"hello"), (protocol.CMD_INFO, b""),
        (protocol.CMD_INFER_BEGIN, struct.pack("<BBI", 0, 0, TOY_IN)),
        (protocol.CMD_INFER_BEGIN, struct.pack("<BBI", 0, 0, TOY_IN) + bytes(range(8))),
    ]
    for off in range(0, TOY_IN, chunk):
        reqs.append((protocol.CMD_INFER_CHUNK, struct.pack("<I", off) + bytes([off % 251 + 1]) * min(chunk, TOY_IN - off)))
    reqs += [
        (protocol.CMD_INFER_RUN, b""),
        (protocol.CMD_OUTPUT_READ, struct.pack("<BIH", 0, 0, 0)),
        (protocol.CMD_OUTPUT_READ, struct.pack("<BIH", 0, 4000, 50)),
        (protocol.CMD_PROFILE, struct.pack("<H", 0)), (protocol.CMD_PROFILE, struct.pack("<H", 2)),
        (protocol.CMD_LAYER, struct.pack("<HIH", 0, 0, 0)), (protocol.CMD_LAYER, struct.pack("<HIH", 1, 3000, 0)),
        (protocol.CMD_LAYER, struct.pack("<HIH", 2, 0, 0)), (protocol.CMD_RESET_STATE, b""), (protocol.CMD_RESET, b""),
    ]
    return reqs


VALID = _valid_requests()
SEQUENCE = [encode_frame(i + 1, cmd, payload) for i, (cmd, payload) in enumerate(VALID) if cmd != protocol.CMD_RESET]


def _raw_frame(seq: int, cmd: int, payload: bytes, length: int | None = None) -> bytes:
    """A frame with a valid CRC but possibly an oversized payload / wrong length field."""
    body = struct.pack("<BHBH", protocol.MAGIC, seq, cmd, len(payload) if length is None else length & 0xFFFF)
    body += payload
    return b"\x00" + cobs_encode(body + struct.pack("<I", crc32(body))) + b"\x00"


@st.composite
def mutated_frames(draw):
    picks = draw(st.lists(st.sampled_from(SEQUENCE + [encode_frame(9, c, p) for c, p in VALID]),
                          min_size=1, max_size=6))
    data = bytearray(b"".join(picks))
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "dup"]))
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            data[i] = draw(st.integers(0, 255))
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[i:i + draw(st.integers(1, 16))]
        elif op == "truncate":
            del data[i:]
        else:
            data[i:i] = data[i:i + draw(st.integers(1, 64))]
    return bytes(data)


@st.composite
def structured_frames(draw):
    frames = []
    for _ in range(draw(st.integers(1, 4))):
        cmd = draw(st.one_of(st.sampled_from(sorted(protocol.COMMAND_NAMES)), st.integers(0, 255)))
        payload = draw(st.one_of(st.binary(max_size=24), st.binary(min_size=1000, max_size=1100)))
        length = draw(st.one_of(st.none(), st.integers(0, 0xFFFF)))
        frames.append(_raw_frame(draw(st.integers(0, 0xFFFF)), cmd, payload, length))
    return b"".join(frames)


# ---------------------------------------------------------------- the device under test
@pytest.fixture(scope="module")
def fuzz_device(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("proto_fuzz")
    dev = HostDevice(build_host_device(tmp), tmp)
    dev.next_seq = 0x8000
    yield dev
    rc = dev.close()
    dev.assert_clean()
    assert rc == 0, dev.stderr()


def _assert_answers_ping(dev, timeout=5.0):
    dev.next_seq = dev.next_seq % 0x7FFE + 0x8001   # 0x8001..0xFFFE, never the fuzz seqs' habits
    seq = dev.next_seq
    payload = os.urandom(6)
    dev.ser.write(encode_frame(seq, protocol.CMD_PING, payload))
    reader = FrameReader()
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            data = dev.ser.read(reader.want())
        except Exception as e:  # the process died
            pytest.fail(f"host device died: {e}\n{dev.stderr()}")
        for ev in reader.feed(data):
            if isinstance(ev, Frame) and ev.seq == seq and ev.cmd == protocol.CMD_PING | protocol.REPLY_FLAG:
                assert ev.payload == payload
                return
    pytest.fail(f"no PING reply after the fuzz input (process {'alive' if dev.ser.proc.poll() is None else 'dead'})"
                f"\n{dev.stderr()}")


FUZZ_SETTINGS = settings(max_examples=150, deadline=None,
                         suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@FUZZ_SETTINGS
@given(st.one_of(st.binary(max_size=2048), mutated_frames(), structured_frames(),
                 st.lists(st.one_of(st.binary(max_size=64), mutated_frames()), max_size=4).map(b"".join)))
def test_device_survives_any_input(fuzz_device, data):
    fuzz_device.ser.write(data)
    _assert_answers_ping(fuzz_device)
    fuzz_device.assert_clean()


def test_full_sequence_still_works_after_fuzzing(fuzz_device):
    """A clean inference after the fuzz examples (same process)."""
    c = protocol.Client(fuzz_device.ser)
    c.sync()
    out, cycles = c.infer(bytes(range(256)) * 11 + bytes(TOY_IN - 2816))
    assert len(out) == 4100 and cycles > 0
    fuzz_device.assert_clean()


# ---------------------------------------------------------------- libFuzzer
def _seed_corpus(directory):
    os.makedirs(directory, exist_ok=True)
    # structured mode (first byte odd): records cmd u8, length u16, payload
    records = b"".join(bytes([cmd]) + struct.pack("<H", len(p)) + p for cmd, p in VALID)
    seeds = {"structured_all": b"\x01" + records,
             "raw_sequence": b"\x00" + b"".join(SEQUENCE),
             "raw_ping": b"\x00" + encode_frame(1, protocol.CMD_PING, b"x"),
             "raw_noise": b"\x00" + bytes(range(1, 256)) * 5}
    for name, data in seeds.items():
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)


@pytest.fixture(scope="module")
def libfuzzer_exe(tmp_path_factory):
    clang = shutil.which("clang")
    if clang is None:
        pytest.skip("clang not found: libFuzzer target not built")
    tmp = tmp_path_factory.mktemp("libfuzzer")
    probe = tmp / "probe.c"
    probe.write_text("#include <stddef.h>\n#include <stdint.h>\n"
                     "int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n")
    r = subprocess.run([clang, "-fsanitize=fuzzer", str(probe), "-o", str(tmp / "probe")],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"clang's libFuzzer runtime is not available: {r.stderr.strip().splitlines()[-1:]}")
    exe = tmp / "proto_fuzz"
    r = subprocess.run([clang, "-g", "-O1", "-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=all",
                        "-Wall", "-Wextra", "-Werror", f"-I{PROTO_DIR}", *map(str, PROTO_SOURCES),
                        str(TESTS_DIR / "proto_fuzz.c"), "-o", str(exe)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    corpus = tmp / "corpus"
    _seed_corpus(corpus)
    return exe, corpus


def _run_libfuzzer(exe, corpus, *args, timeout):
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0", UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    r = subprocess.run([str(exe), *args, "-max_len=4096", "-timeout=10", "-print_final_stats=1", str(corpus)],
                       capture_output=True, text=True, timeout=timeout, env=env, cwd=corpus.parent)
    assert r.returncode == 0, r.stderr[-4000:]
    assert "ERROR:" not in r.stderr and "runtime error" not in r.stderr, r.stderr[-4000:]
    return r.stderr


def test_libfuzzer_smoke(libfuzzer_exe):
    exe, corpus = libfuzzer_exe
    out = _run_libfuzzer(exe, corpus, "-runs=3000", "-seed=1", timeout=120)
    assert "Done 3000 runs" in out


@pytest.mark.slow
def test_libfuzzer_60s(libfuzzer_exe):
    exe, corpus = libfuzzer_exe
    out = _run_libfuzzer(exe, corpus, "-max_total_time=60", timeout=180)
    assert "Done" in out
