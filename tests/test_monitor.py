"""tinygen monitor: the stream splitter, and live sessions on QEMU (a test firmware that
prints 2000 known lines with a system reset in the middle; the kws firmware; --run)."""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygen.boards.firmware_build import build_firmware
from tinygen.device.link import Frame, encode_frame
from tinygen.device.monitor import DamagedFrame, Line, Monitor, Noise, StreamSplitter, load_labels
from tinygen.device.protocol import CMD_BOOT, CMD_INFER_CHUNK, CMD_RESET
from tinygen.model.reader import load_int8_model
from tinygen.device.target import QemuLink, ensure_emulated_firmware

from .support.faultproxy import FaultProxy, QemuVM

ROOT = Path(__file__).resolve().parents[1]
FW = ROOT / "firmware"
KWS = ROOT / "examples" / "kws_micro.tflite"
LINES_PER_BOOT = 1000
HAVE_QEMU = bool(shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm"))
needs_qemu = pytest.mark.skipif(not HAVE_QEMU, reason="needs arm-none-eabi-gcc and qemu-system-arm")


def expected_line(i: int) -> str:
    return f"line {i:04d} 0x{(i * 2654435761) & 0xFFFFFFFF:08x} the quick brown fox"


# ------------------------------------------------------------------- splitter
def _frame_with_code_0x0a() -> bytes:
    # header A1 01 01 01 01 01 (seq 0x0101, cmd 1, len 257), payload 01 02 03 00 ...: the first
    # COBS code byte is 0x0A, i.e. '\n'
    payload = bytes([1, 2, 3, 0]) + bytes(range(1, 254)) + bytes(range(1, 5))
    wire = encode_frame(0x0101, 0x01, payload)
    assert wire[1] == 0x0A
    return wire


STREAM_PARTS = [
    b"boot noise \x80\xff\x01\n",
    b"hello\r\n",
    b"\n",                                    # an empty line is a line too
    encode_frame(0, CMD_BOOT, b'{"boot":1}'),
    "caf\u00e9 \u00b0C\n".encode(),           # UTF-8 text
    _frame_with_code_0x0a(),
    b"partial",                               # ended by the next frame's delimiter
    encode_frame(7, 0x81, b"pong"),
    b"x" * 1500 + b"\n",                      # longer than any frame
    b"tail without newline",
]


def _events(chunks):
    sp = StreamSplitter()
    ev = []
    for c in chunks:
        ev += sp.feed(c)
    return ev + sp.flush()


EXPECTED_EVENTS = [
    Line("boot noise \\x80\\xff\\x01", damaged=True, raw=b"boot noise \x80\xff\x01"), Line("hello"), Line(""), Frame(0, CMD_BOOT, b'{"boot":1}'),
    Line("caf\u00e9 \u00b0C"), None, Line("partial", partial=True), Frame(7, 0x81, b"pong"),
    Line("x" * 1500), Line("tail without newline", partial=True),
]


def _check(events):
    assert len(events) == len(EXPECTED_EVENTS), events
    for got, exp in zip(events, EXPECTED_EVENTS):
        if exp is None:
            assert isinstance(got, Frame) and got.seq == 0x0101
        else:
            assert got == exp


def test_splitter_whole_stream():
    _check(_events([b"".join(STREAM_PARTS)]))


def test_splitter_byte_by_byte():
    data = b"".join(STREAM_PARTS)
    _check(_events([data[i:i + 1] for i in range(len(data))]))


@settings(max_examples=60)
@given(st.lists(st.integers(1, 400), min_size=1, max_size=40))
def test_splitter_any_chunking(sizes):
    data = b"".join(STREAM_PARTS)
    chunks, pos = [], 0
    for s in sizes:
        chunks.append(data[pos:pos + s])
        pos += s
    chunks.append(data[pos:])
    _check(_events(chunks))


def test_damaged_frames_are_shown_as_such():
    """A frame that fails its checks is a DamagedFrame (not noise), whatever the damage: a
    flipped payload bit, a lost byte, a lost trailing 0x00 with text after it; text lines
    around it come out whole, damaged text lines as damaged lines."""
    good = encode_frame(5, 0x91, b"\x10\x00\x00\x00")
    flipped = bytearray(encode_frame(6, 0x91, b"\x20\x00\x00\x00"))
    flipped[5] ^= 0x04
    lost = encode_frame(7, 0x91, b"\x30\x00\x00\x00")
    lost = lost[:6] + lost[7:]
    no_tail = bytearray(encode_frame(8, 0x93, bytes(range(1, 40))))
    no_tail[20] ^= 0x01                    # a payload byte: the COBS blocks still end right
    stream = (b"hello\n" + good + bytes(flipped) + lost + bytes(no_tail[:-1]) + b"after the frame\n"
              + b"temp\xe9rature 21.5 C\n" + encode_frame(9, 0x81, b"ok"))
    for chunks in ([stream], [stream[i:i + 3] for i in range(0, len(stream), 3)]):
        ev = _events(chunks)
        kinds = [type(e).__name__ for e in ev]
        assert kinds == ["Line", "Frame", "DamagedFrame", "DamagedFrame", "DamagedFrame", "Line", "Line",
                         "Frame"], ev
        assert ev[0] == Line("hello") and ev[5] == Line("after the frame")
        assert ev[6].damaged and "\\xe9" in ev[6].text
        assert all("CRC" in e.reason or "COBS" in e.reason or "length" in e.reason
                   for e in ev if isinstance(e, DamagedFrame)), ev
    out = io.StringIO()
    mon = Monitor(out=out, as_json=True)
    mon.quiet_frames = True                  # as in --run: good replies are the client's business
    mon.feed(stream)
    mon.finish()
    recs = [json.loads(ln) for ln in out.getvalue().splitlines()]
    assert [r["type"] for r in recs].count("damaged_frame") == 3 == mon.counts["damaged_frames"]
    assert mon.counts["noise_bytes"] == 0 and mon.counts["damaged_lines"] == 1
    text = io.StringIO()
    mon = Monitor(out=text)
    mon.feed(stream)
    mon.print_summary()
    assert "[damaged frame, " in text.getvalue() and "3 damaged frames" in text.getvalue()


def test_labels_file_formats(tmp_path):
    (tmp_path / "a.txt").write_text("silence\nyes\n\nno\n")
    (tmp_path / "b.json").write_text('["a", "b"]')
    assert load_labels(tmp_path / "a.txt") == ["silence", "yes", "no"]
    assert load_labels(tmp_path / "b.json") == ["a", "b"]


# ------------------------------------------------------------------- QEMU sessions
_elfs = {}


def monitor_elf(board, tmp_path_factory):
    if board not in _elfs:
        out = tmp_path_factory.mktemp(f"monfw-{board}")
        _elfs[board] = build_firmware(
            board, [FW / "tests" / "monitor_main.c", FW / "protocol" / "tg_proto.c", FW / "tests" / "proto_host_app.c"],
            out, include_dirs=[FW / "protocol"], name="monitor_test")
    return _elfs[board]


def _log_records(path: Path) -> list[str]:
    """The log without its timestamps (every line starts with one)."""
    recs = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        stamp, _, rest = raw.partition(" ")
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}", stamp), raw
        recs.append(rest)
    return recs


@pytest.mark.qemu
@needs_qemu
@pytest.mark.parametrize("board", ["qemu-cortex-m4", "qemu-stm32f4"])
def test_every_line_logged_in_order_and_reset_reported(board, tmp_path, tmp_path_factory):
    elf = monitor_elf(board, tmp_path_factory)
    log = tmp_path / "board.log"
    out = io.StringIO()
    mon = Monitor(out=out, log_path=log, labels=["a", "b", "c"])
    with QemuLink(board, elf) as link:
        reason = mon.watch(link, reconnect=0)
    mon.print_summary()
    mon.close()
    assert reason and "closed" in reason           # QEMU exited at the end of the test firmware

    recs = _log_records(log)
    lines = [r for r in recs if r.startswith("line ")]
    assert lines == [expected_line(i) for i in range(2 * LINES_PER_BOOT)]      # all, in order
    order = [r.split(" ")[0] if r.startswith("[") else ("line" if r.startswith("line ") else r[:12]) for r in recs]
    # banner, 1000 lines, BOOT, result line, its decoded result, noise, "resetting", BOOT, the reset, 1000 lines, done
    i_reset = order.index("[reset]")
    assert recs[0].startswith('{"tinygen":"test"')
    assert order[1:1 + LINES_PER_BOOT] == ["line"] * LINES_PER_BOOT
    assert recs[1 + LINES_PER_BOOT].startswith("[frame BOOT]")
    assert recs[2 + LINES_PER_BOOT].startswith('{"selftest"')
    assert recs[3 + LINES_PER_BOOT].startswith("[result]")
    assert recs[4 + LINES_PER_BOOT].startswith("[noise")
    assert recs[5 + LINES_PER_BOOT] == "resetting"
    assert recs[6 + LINES_PER_BOOT].startswith("[frame BOOT]")                # the new boot's frame ...
    assert i_reset == 7 + LINES_PER_BOOT and "BOOT frame" in recs[i_reset]    # ... tells of the reset
    assert lines[LINES_PER_BOOT] == recs[i_reset + 1]
    assert recs[-2] == "done" and recs[-1].startswith("[summary]")

    result = json.loads(recs[3 + LINES_PER_BOOT][len("[result] "):])
    assert result["top"] == 1 and result["label"] == "b" and result["score"] == 4.0   # (9 - 1) * 0.5
    s = mon.summary()
    assert s["resets"] == 1 and s["boots"] == 2 and s["results"] == 1 and s["noise_bytes"] == 6
    assert s["lines"] == 2 * LINES_PER_BOOT + 4
    text = out.getvalue()
    assert "--- device reset (BOOT frame): resynchronised ---" in text
    assert "[self-test]  top 1 'b' score 4" in text


def _cli(*args):
    from tinygen.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in args])
    return rc, out.getvalue(), err.getvalue()


@pytest.mark.qemu
@needs_qemu
def test_cli_json_lines_and_log(tmp_path, tmp_path_factory):
    elf = monitor_elf("qemu-cortex-m4", tmp_path_factory)
    log = tmp_path / "m.log"
    with QemuVM("qemu-cortex-m4", elf) as vm:
        rc, out, err = _cli("monitor", "--port", f"socket://127.0.0.1:{vm.port}", "--board", "qemu-cortex-m4",
                            "--log", log, "--json", "--reconnect", "0")
    assert rc == 2 and "closed" in err            # the firmware exits: the port goes away
    recs = [json.loads(ln) for ln in out.splitlines()]
    kinds = [r["type"] for r in recs]
    assert kinds.count("reset") == 1 and kinds.count("boot") == 2 and kinds[-1] == "summary"
    texts = [r["text"] for r in recs if r["type"] == "line" and r["text"].startswith("line ")]
    assert texts == [expected_line(i) for i in range(2 * LINES_PER_BOOT)]
    res = [r for r in recs if r["type"] == "result"][0]
    assert res["cycles"] == 250000 and res["ms"] == pytest.approx(10.0)       # 250000 cycles at 25 MHz
    assert sum(1 for r in _log_records(log) if r.startswith("line ")) == 2 * LINES_PER_BOOT


@pytest.mark.qemu
@needs_qemu
def test_ctrl_c_exits_0_with_summary(tmp_path):
    elf = ensure_emulated_firmware(load_int8_model(KWS), "qemu-cortex-m4")
    log = tmp_path / "k.log"
    with QemuVM("qemu-cortex-m4", elf) as vm:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        p = subprocess.Popen([sys.executable, "-m", "tinygen.cli", "monitor", "--port", f"socket://127.0.0.1:{vm.port}",
                              "--board", "qemu-cortex-m4", "--log", str(log)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not (log.exists() and "[frame BOOT]" in log.read_text()):
                time.sleep(0.05)
            p.send_signal(signal.SIGINT)
            out, err = p.communicate(timeout=10)
        finally:
            if p.poll() is None:
                p.kill()
    assert p.returncode == 0, err
    assert "[boot] model 'kws_micro' on qemu-cortex-m4" in out
    assert "[self-test]  top" in out and "cycles = " in out and "ms @ 25 MHz" in out
    assert re.search(r"--- [\d.]+ s, [\d,]+ bytes: 2 lines, 1 frames, 0 noise bytes, 1 boots, 0 resets, "
                     r"1 inference results", out), out


@pytest.mark.qemu
@needs_qemu
@pytest.mark.parametrize("board", ["qemu-cortex-m4", "qemu-cortex-m55"])
def test_run_mode_drives_inferences(board, tmp_path):
    (tmp_path / "labels.txt").write_text("silence\nunknown\nyes\nno\n")
    rc, out, _ = _cli("monitor", "--board", board, "--model", KWS, "--run", 4, "--json",
                      "--labels", tmp_path / "labels.txt")
    assert rc == 0
    recs = [json.loads(ln) for ln in out.splitlines()]
    runs = [r for r in recs if r["type"] == "result" and r["source"] == "run"]
    assert len(runs) == 4 and all(r["bit_exact"] for r in runs)
    assert all(r["label"] in ("silence", "unknown", "yes", "no") and r["cycles"] > 0 for r in runs)
    assert recs[-1]["type"] == "summary" and recs[-1]["results"] == 5 and recs[-1]["inferences_per_s"]


@pytest.mark.qemu
@needs_qemu
def test_run_mode_survives_a_reset(tmp_path):
    """--run through a proxy that slips a RESET to the board mid-run: the reset is reported
    (banner, then BOOT frame) and every inference still completes."""
    graph = load_int8_model(KWS)
    elf = ensure_emulated_firmware(graph, "qemu-cortex-m4")
    log = tmp_path / "r.log"
    with QemuVM("qemu-cortex-m4", elf) as vm, FaultProxy(vm.address) as proxy:
        proxy.on_frame_up(CMD_INFER_CHUNK, 3, lambda: proxy.inject_up(encode_frame(0x4242, CMD_RESET)))
        out = io.StringIO()
        mon = Monitor(out=out, log_path=log, as_json=True)
        from tinygen.device.target import Link

        with Link(proxy.url) as link:
            reason = mon.drive(link, 6, graph=graph, timeout=0.5)
        mon.close()
    assert reason is None
    recs = [json.loads(ln) for ln in out.getvalue().splitlines()]
    runs = [r for r in recs if r["type"] == "result" and r["source"] == "run"]
    assert [r["bit_exact"] for r in runs] == [True] * 6
    assert mon.counts["resets"] == 1
    assert "[reset] device reset detected (banner)" in log.read_text()



@pytest.mark.qemu
@needs_qemu
def test_run_mode_shows_damaged_replies_as_damaged_frames(tmp_path):
    """--run through a proxy that damages 1% of the bytes coming back from the board: the
    replies hit by it are shown (and counted) as damaged frames, not as noise, and every
    inference still completes bit-exact."""
    from tinygen.device.target import Link

    from .support.faultproxy import Faults

    graph = load_int8_model(KWS)
    elf = ensure_emulated_firmware(graph, "qemu-cortex-m4")
    with QemuVM("qemu-cortex-m4", elf) as vm, FaultProxy(vm.address, seed=5) as proxy:
        proxy.faults(down=Faults(flip_rate=0.01))
        out = io.StringIO()
        mon = Monitor(out=out, as_json=True)
        with Link(proxy.url) as link:
            reason = mon.drive(link, 8, graph=graph, timeout=0.5)
        flips = proxy.fault_counts()["down"]["flip"]
        mon.close()
    assert reason is None
    recs = [json.loads(ln) for ln in out.getvalue().splitlines()]
    runs = [r for r in recs if r["type"] == "result" and r["source"] == "run"]
    damaged = [r for r in recs if r["type"] == "damaged_frame"]
    assert [r["bit_exact"] for r in runs] == [True] * 8
    assert flips > 0 and damaged and len(damaged) == mon.counts["damaged_frames"], (flips, mon.counts)
    assert all(r["reason"] and r["hex"] for r in damaged)
