"""MLPerf Tiny benchmark mode: the DUT firmware (`generate --mlperf ID`) on QEMU, reached through
`tinygen flash --pty` by an independent client written from the protocol's description
(tests/support/mlperf_client.py), and `tinygen benchmark`.

Real trained models from $TINYGEN_MODELS (default <repo>/../shared/models):
kws01 = Arm's MicroNet-M keyword spotter (int8 features), ad01 = the MLTK ECG autoencoder
(float32 I/O); vww01 / ic01 with the MLPerf Tiny models run behind --run-slow.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.support.fwprojects import HAVE_ARM_GCC, HAVE_GCC, HAVE_QEMU, obj_cache  # noqa: F401 (fixture)
from tests.support.mlperf_client import SpecClient
from tinygen.boards.mlperf import mlperf_spec
from tinygen.boards.project import write_project
from tinygen.device.mlperf import default_input
from tinygen.cli import main
from tinygen.emulator.engine import Emulator
from tinygen.model.reader import load_int8_model

ROOT = Path(__file__).resolve().parents[1]
needs_qemu = pytest.mark.skipif(not (HAVE_ARM_GCC and HAVE_QEMU), reason="needs arm-none-eabi-gcc and qemu-system-arm")

BENCH = {   # benchmark ID -> (model file, board)
    "kws01": ("arm_kws_micronet_m_int8.tflite", "qemu-cortex-m4"),
    "ad01": ("mltk_ecg_autoencoder_int8_floatio.tflite", "qemu-stm32f4"),
    "vww01": ("mlperf_vww_mbv1_20blk_791k_int8.tflite", "qemu-cortex-m4"),
    "ic01": ("mlperf_ic_resnet_large_int8.tflite", "qemu-cortex-m4"),
}


def models_dir() -> Path:
    env = os.environ.get("TINYGEN_MODELS")
    if env:
        return Path(env)
    default = ROOT.parent / "shared" / "models"
    return default if default.is_dir() else Path("/work/shared/models")


def model_path(bench: str) -> Path:
    p = models_dir() / BENCH[bench][0]
    if not p.is_file():
        pytest.skip(f"real model {p.name} not found in {models_dir()} (set TINYGEN_MODELS)")
    return p


# ------------------------------------------------------------ what the DUT must print (from the spec)

def f3(v) -> str:
    return f"{float(np.float32(v)):.3f}"


def expected_results(bench: str, graph, raw: bytes) -> str:
    """m-results-[...] text for `raw` db bytes, from the reference submissions' rules and the emulator."""
    t = graph.input_tensors[0]
    if bench == "ad01":
        x = np.frombuffer(raw, dtype="<f4")
        inp = x if t.dtype == np.float32 else np.clip(
            np.sign(x / np.float32(t.scale)) * np.floor(np.abs(x / np.float32(t.scale)).astype(np.float64) + 0.5)
            + t.zero_point, -128, 127).astype(np.int8)
    elif bench in ("ic01", "vww01"):
        inp = (np.frombuffer(raw, dtype=np.uint8).astype(np.int16) - 128).astype(np.int8)
    else:
        inp = np.frombuffer(raw, dtype=t.dtype)
    out = Emulator(graph).run_internal([inp.reshape((1, *t.shape))])[0][0]
    o = graph.output_tensors[0]
    deq = out.reshape(-1).astype(np.float32) if out.dtype == np.float32 else \
        (out.reshape(-1).astype(np.int32) - o.zero_point).astype(np.float32) * np.float32(o.scale)
    if bench == "ad01":
        acc = np.float32(0)
        for a, b in zip(deq, np.frombuffer(raw, dtype="<f4")):
            d = np.float32(a - b)
            acc = np.float32(acc + np.float32(d * d))
        return f3(np.float32(acc / np.float32(len(deq))))
    return ",".join(f3(v) for v in deq)


def sample(bench: str, graph, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    t = graph.input_tensors[0]
    if bench == "ad01":
        return rng.normal(0.0, 1.0, t.size).astype("<f4").tobytes()
    return rng.integers(0, 256, t.size, dtype=np.uint8).tobytes()


# ------------------------------------------------------------ the DUTs, each behind `tinygen flash --pty`

class Dut:
    def __init__(self, bench, graph, proj, path, proc):
        self.bench, self.graph, self.proj, self.path, self.proc = bench, graph, proj, path, proc

    @property
    def db_bytes(self) -> int:
        return self.proj.manifest["mlperf"]["db_bytes"]


def _start_dut(bench, tmp_path_factory, obj_cache):
    graph = load_int8_model(model_path(bench))
    board = BENCH[bench][1]
    proj = write_project(graph, board, tmp_path_factory.mktemp(bench) / "p", mlperf=bench)
    obj_cache.make(proj.path, board)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "tinygen.cli", "flash", str(proj.path), "--pty"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    path = proc.stdout.readline().strip()
    assert path.startswith("/dev/pts/"), proc.stderr.read() if proc.poll() is not None else path
    return Dut(bench, graph, proj, path, proc)


def _stop_dut(dut):
    dut.proc.send_signal(signal.SIGTERM)
    try:
        assert dut.proc.wait(10) == 143
    finally:
        if dut.proc.poll() is None:
            dut.proc.kill()
            dut.proc.wait()


@pytest.fixture(scope="module", params=["kws01", "ad01"])
def dut(request, tmp_path_factory, obj_cache):
    if not (HAVE_ARM_GCC and HAVE_QEMU):
        pytest.skip("needs arm-none-eabi-gcc and qemu-system-arm")
    d = _start_dut(request.param, tmp_path_factory, obj_cache)
    yield d
    _stop_dut(d)


def _session(dut) -> SpecClient:
    """A new program on the DUT's pty: as the MLPerf runner expects, the DUT is up and silent (its
    boot lines were dropped before the path was printed; nothing stale from earlier programs)."""
    c = SpecClient(dut.path)
    assert c.drain(0.3) == b""
    return c


def _full_run(c: SpecClient, dut, raw: bytes, chunk_sizes=(31,), pieces=None, n=2, w=1):
    replies = c.load(raw, chunk_sizes, pieces)
    assert replies[0] == [f"m-[Expecting {len(raw)} bytes]"]
    assert all(not r.errors() for r in replies)
    assert replies[-1] == ["m-load-done"] and all(r == [] for r in replies[1:-1])
    reply = c.send(f"infer {n} {w}", pieces)
    assert reply.errors() == []
    assert reply[:3] == [f"m-warmup-start-{w}", "m-warmup-done", f"m-infer-start-{n}"]
    laps = [int(v) for v in reply.prefixed("m-lap-us-")]
    assert len(laps) == 2 and laps[1] > laps[0]
    assert reply[-2] == "m-infer-done"
    assert reply.prefixed("m-results-[") == [expected_results(dut.bench, dut.graph, raw) + "]"]
    return laps


@needs_qemu
def test_boot_name_profile_load_infer_results(dut):
    with _session(dut) as c:
        assert c.send("name") == ["m-name-dut-[tinygen " + BENCH[dut.bench][1] + "]"]
        assert c.send("profile") == ["m-profile-[ULPMark for tinyML Firmware V0.0.1]", f"m-model-[{dut.bench}]"]
        help_text = c.send("help")
        assert any(ln.startswith("infer N") for ln in help_text) and any(ln.startswith("db SUBCMD") for ln in help_text)
        assert len(c.send("timestamp").prefixed("m-lap-us-")) == 1
        raw = sample(dut.bench, dut.graph, 1)
        laps = _full_run(c, dut, raw, n=3, w=1)
        assert c.send("results") == [f"m-results-[{expected_results(dut.bench, dut.graph, raw)}]"]
        # db print: 8 bytes per line, dash separated, N bytes from offset
        assert c.send("db print 10 3") == ["m-buffer-" + "-".join(f"{b:02x}" for b in raw[3:11]),
                                           "m-buffer-" + "-".join(f"{b:02x}" for b in raw[11:13])]
        # µs timer on the QEMU virtual clock: 3 inferences take (3 x cycles) / 1000 us, to the us
        cyc = int(c.send("cycles").prefixed("m-cycles-[")[0].rstrip("]"))
        assert abs((laps[1] - laps[0]) - cyc / 1000) <= 2


@needs_qemu
def test_odd_chunk_sizes_and_dribbled_bytes(dut):
    with _session(dut) as c:
        raw = sample(dut.bench, dut.graph, 2)
        _full_run(c, dut, raw, chunk_sizes=(1, 7, 31, 13, 2, 30, 5), n=1, w=0)
        # whole commands written in odd pieces, with pauses between them
        raw = sample(dut.bench, dut.graph, 3)
        replies = c.load(raw[:40], (17, 23), pieces=(3, 1, 5))
        assert replies[0] == ["m-[Expecting 40 bytes]"] and replies[-1] == ["m-load-done"]
        assert c.send("db print 40 0", pieces=(2, 7)) == [
            "m-buffer-" + "-".join(f"{b:02x}" for b in raw[i:i + 8]) for i in range(0, 40, 8)]
        _full_run(c, dut, raw, chunk_sizes=(29, 31), pieces=(11, 4), n=1, w=0)


@needs_qemu
def test_errors_get_an_error_line_and_the_dut_keeps_serving(dut):
    n = dut.db_bytes
    with _session(dut) as c:
        checks = [
            ("bogus-command", "Unknown command"),
            (f"db load {n + 1}", f"db load {n + 1} exceeds the input size of {n} bytes"),
            ("db load 0", "byte count > 0"),
            ("db load many", "byte count > 0"),
            ("db", "requires a subcommand"),
            ("infer -1", "must be >0"),
            ("infer 2 x", "warmup must be >=0"),
        ]
        for cmd, text in checks:
            r = c.send(cmd)
            assert len(r.errors()) == 1 and text in r.errors()[0], (cmd, r)
            assert c.send("name")[0].startswith("m-name-dut-[")
        # garbage between commands: control bytes, binary, CR/LF
        c.write(b"\x00\xff\xfe\x13garbage \r\n%")
        r = c.read_reply()
        assert len(r.errors()) == 1 and r.errors()[0].startswith("e-[Unknown command: ")
        assert c.send("profile")[1] == f"m-model-[{dut.bench}]"
        # a command longer than the DUT's buffer
        r = c.send("db " + "ab" * 100)
        assert r.errors() and "too long" in r.errors()[0]
        # malformed hex: odd digit count, non-hex digits (nothing is stored)
        assert c.send("db load 4") == ["m-[Expecting 4 bytes]"]
        assert "hex digits" in c.send("db abc").errors()[0]
        assert "Invalid hex digit" in c.send("db 12zz").errors()[0]
        assert c.send("db 0102") == []
        assert "incomplete: 2 of" in c.send("infer 1 0").errors()[0]
        assert c.send("db 0304") == ["m-load-done"]
        assert c.send("db print 4") == ["m-buffer-01-02-03-04"]
        assert "already loaded" in c.send("db 05").errors()[0]
        assert "incomplete: 4 of" in c.send("infer 1 0").errors()[0]    # 4 bytes is not a whole input
        # after all that, a full load + inference is still right
        _full_run(c, dut, sample(dut.bench, dut.graph, 4), n=1, w=0)


@needs_qemu
def test_reopened_port_does_not_see_stale_replies(dut):
    c = _session(dut)
    c.write(b"name%profile%")          # replies that arrive but are never read ...
    time.sleep(0.5)
    c.close()
    time.sleep(0.1)
    with SpecClient(dut.path) as c2:    # ... are not delivered to the next program
        assert c2.drain(0.3) == b""
        assert c2.send("name") == ["m-name-dut-[tinygen " + BENCH[dut.bench][1] + "]"]


# ------------------------------------------------------------ tinygen benchmark

@needs_qemu
def test_benchmark_cli_through_the_pty(dut, capsys):
    """`benchmark --port /dev/pts/N` drives a DUT served by `flash --pty` (after other programs used it)."""
    rc = main(["benchmark", str(model_path(dut.bench)), "--board", BENCH[dut.bench][1], "--mlperf", dut.bench,
               "--port", dut.path, "--runs", "2", "--warmups", "0", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["ok"] and out["bit_exact"] == 2 and out["model"] == dut.bench
    raw_default = default_input(mlperf_spec(dut.graph, dut.bench))      # the input benchmark sends
    assert out["results"] == [expected_results(dut.bench, dut.graph, raw_default)] * 2


@needs_qemu
def test_benchmark_reports_outputs_that_differ_from_the_emulator(dut, capsys):
    """A DUT running another model with the same input size: every inference is flagged, exit 1."""
    if dut.bench != "kws01":
        pytest.skip("needs a kws01 DUT")
    other = ROOT / "examples" / "kws_micro.tflite"      # int8 [1, 49, 10, 1] as well, 4 outputs instead of 12
    rc = main(["benchmark", str(other), "--board", "qemu-cortex-m4", "--mlperf", "kws01", "--port", dut.path,
               "--runs", "2", "--warmups", "0", "--json"])
    cap = capsys.readouterr()
    out = json.loads(cap.out)
    assert rc == 1 and not out["ok"] and out["bit_exact"] == 0 and len(out["mismatches"]) >= 2
    assert "output 0 differs from the emulator" in out["mismatches"][0]
    assert cap.err.strip().splitlines()[-1].startswith("tinygen: error: ")
    assert "differ from the emulator" in cap.err.strip().splitlines()[-1]


@needs_qemu
def test_benchmark_cli_json_with_dataset_kws(tmp_path, capsys):
    graph = load_int8_model(model_path("kws01"))
    xs = np.stack([np.frombuffer(sample("kws01", graph, 10 + i), dtype=np.int8).reshape(49, 10, 1) for i in range(4)])
    emu = Emulator(graph).run(xs)
    pred = np.argmax(emu.reshape(4, -1), axis=1)
    labels = pred.copy()
    labels[:1] = (pred[:1] + 1) % 12               # 1 of 4 wrong: top-1 = 3/4
    np.savez(tmp_path / "kws.npz", x=xs, y=labels)
    rc = main(["benchmark", str(model_path("kws01")), "--board", "qemu-cortex-m4", "--mlperf", "kws01",
               "--dataset", str(tmp_path / "kws.npz"), "--runs", "2", "--warmups", "1", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["ok"] and out["mismatches"] == []
    assert out["samples"] == 2 + 4 and out["bit_exact"] == 6
    assert out["metric"] == "top-1" and out["accuracy"] == pytest.approx(3 / 4)
    assert len(out["latency_us"]) == 2 and max(out["cycles"]) - min(out["cycles"]) < 100   # -icount: deterministic
    assert out["median_latency_ms"] == pytest.approx(out["median_cycles"] / 1e6, abs=0.002)
    assert out["throughput"] == pytest.approx(1000 / out["median_latency_ms"], rel=1e-3)
    assert out["model"] == "kws01" and out["dut"] == "tinygen qemu-cortex-m4"


@needs_qemu
def test_benchmark_cli_auc_for_ad01(tmp_path, capsys):
    graph = load_int8_model(model_path("ad01"))
    rng = np.random.default_rng(5)
    xs = rng.normal(0, 1, (8, 140)).astype(np.float32)
    xs[4:] *= 3.0                                   # the "anomalies": larger values
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    np.savez(tmp_path / "ad.npz", x=xs, y=labels)
    scores = [float(expected_results("ad01", graph, x.astype("<f4").tobytes())) for x in xs]
    pos, neg = [s for s, y in zip(scores, labels) if y], [s for s, y in zip(scores, labels) if not y]
    want = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))
    rc = main(["benchmark", str(model_path("ad01")), "--board", "qemu-stm32f4", "--mlperf", "ad01",
               "--dataset", str(tmp_path / "ad.npz"), "--runs", "2", "--iterations", "20", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["ok"] and out["metric"] == "auc"
    # 20 inferences per window: the per-inference latency resolves below the DUT's 1 us tick
    assert out["iterations"] == 20 and out["windows"][0]["iterations"] == 20
    assert out["median_latency_ms"] == pytest.approx(out["median_cycles"] / 1e6, abs=1e-4)
    assert out["accuracy"] == pytest.approx(want)


@needs_qemu
def test_ad01_int8_input_is_quantized_like_the_reference(zoo, tmp_path, capsys):
    """ad01 on an int8-input autoencoder (the zoo's MLPerf-style 640-value model): the DUT quantizes
    the float32 values itself (round half away from zero, clamped); ties and out-of-range values."""
    model = zoo["fc_autoencoder_ad"]
    graph = load_int8_model(model)
    t = graph.input_tensors[0]
    scale = np.float32(t.scale)
    k = np.arange(-320, 320, dtype=np.float32)
    xs = np.stack([(k + np.float32(0.5)) * scale,                       # halfway cases (as far as float32 allows)
                   np.linspace(-40, 40, 640, dtype=np.float32)])         # beyond the int8 range: clamped
    np.savez(tmp_path / "ad.npz", x=xs, y=np.array([0, 1]))
    rc = main(["benchmark", str(model), "--board", "qemu-cortex-m4", "--mlperf", "ad01",
               "--dataset", str(tmp_path / "ad.npz"), "--runs", "1", "--warmups", "0", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["ok"] and out["bit_exact"] == 3
    assert out["results"][1:] == [expected_results("ad01", graph, x.astype("<f4").tobytes()) for x in xs]


@needs_qemu
def test_benchmark_cli_table(capsys):
    rc = main(["benchmark", str(model_path("kws01")), "--board", "qemu-cortex-m4", "--mlperf", "kws01",
               "--runs", "2", "--warmups", "0"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "ulp-mlperf: Performance results for window 2:" in out and "Median throughput is" in out
    assert "2/2 inferences bit-exact with the emulator" in out


def test_mlperf_options_are_checked(tmp_path, capsys):
    kws_float = models_dir() / "arm_kws_ds_cnn_l_int8_floatio.tflite"
    if not kws_float.is_file():
        pytest.skip(f"{kws_float.name} not in {models_dir()}")
    cases = [
        (["generate", str(kws_float), "--board", "qemu-cortex-m4", "--mlperf", "kws01", "-o", str(tmp_path / "a")],
         "--mlperf kws01 (keyword spotting) needs an int8 input, this model's is float32"),
        (["generate", str(kws_float), "--board", "qemu-cortex-m4", "--mlperf", "ad01", "-o", str(tmp_path / "b")],
         "output 0 must have as many values as input 0 (12 vs 490)"),
        (["generate", str(kws_float), "--board", "qemu-cortex-m4", "--mlperf", "bad id!", "-o", str(tmp_path / "c")],
         "give kws01, vww01, ic01, ad01 or a name of your own"),
        (["generate", str(kws_float), "--board", "qemu-cortex-m4", "--mlperf", "kwsf", "--energy",
          "-o", str(tmp_path / "d")], "energy mode needs a real board"),
        (["generate", str(kws_float), "--mlperf", "kws01", "-o", str(tmp_path / "e")], "give --board too"),
    ]
    for argv, text in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("tinygen: error: ") and text in err[0], (argv, err)
        assert not any(p.name in "abcde" for p in tmp_path.iterdir())      # nothing written


@needs_qemu
def test_user_id_raw_float_input_and_energy_build(tmp_path):
    """A user's ID takes the raw input bytes (here float32); energy mode builds for the NUCLEO."""
    kws_float = models_dir() / "arm_kws_ds_cnn_l_int8_floatio.tflite"
    if not kws_float.is_file():
        pytest.skip(f"{kws_float.name} not in {models_dir()}")
    g = load_int8_model(kws_float)
    proj = write_project(g, "qemu-cortex-m4", tmp_path / "user", mlperf="kws_float")
    assert proj.manifest["mlperf"]["db_bytes"] == 490 * 4 and proj.manifest["mlperf"]["input"] == "raw"
    real = write_project(load_int8_model(model_path("kws01")), "nucleo-f446re", tmp_path / "nucleo",
                         mlperf="kws01", energy=True)
    assert real.manifest["mlperf"]["baud"] == 9600 and "PA8" in real.manifest["mlperf"]["timestamp_pin"]
    # the DUT and its STM32 timestamp-pin code compile with the project's own flags (9600 baud, energy mode)
    objs = ["build/obj/app/tg_mlperf.o", "build/obj/app/tg_mlperf_pin_stm32f4.o"]
    proc = subprocess.run(["make", "-C", str(real.path), *objs], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "-DTG_UART_BAUD=9600u" in proc.stdout
    nm = subprocess.run(["arm-none-eabi-nm", *(str(real.path / o) for o in objs)], capture_output=True,
                        text=True).stdout
    assert " T tg_mlperf_timestamp_pin" in nm and " U tg_mlperf_timestamp_pin" in nm


@pytest.mark.slow
@needs_qemu
@pytest.mark.parametrize("bench", ["vww01", "ic01"])
def test_image_benchmarks_through_the_pty(bench, tmp_path_factory, obj_cache):
    d = _start_dut(bench, tmp_path_factory, obj_cache)
    try:
        with _session(d) as c:
            assert c.send("profile")[1] == f"m-model-[{bench}]"
            _full_run(c, d, sample(bench, d.graph, 7), n=1, w=0)
            r = c.send(f"db load {d.db_bytes + 1}")
            assert len(r.errors()) == 1
    finally:
        _stop_dut(d)


def _host_build_esp32_mlperf(proj, tmp_path):
    """The ESP32 project's src/ built for the host against tests/support/arduino_stub (Serial = stdio)."""
    from tests.support.fwprojects import ARDUINO_STUB, run

    src = proj.path / "src"
    objs = tmp_path / "obj"
    objs.mkdir()
    defines = ["-DTG_ARDUINO=1", "-DARDUINO_ARCH_ESP32"]
    run(["gcc", "-O2", "-std=c99", "-Wall", "-Wextra", "-Werror", *defines, f"-I{src}", "-c",
         *sorted(src.glob("*.c"))], cwd=objs)
    exe = tmp_path / "esp32_mlperf"
    run(["g++", "-O1", "-std=gnu++11", "-Wall", "-Wextra", "-Werror", *defines, f"-I{ARDUINO_STUB}", f"-I{src}",
         *sorted(src.glob("*.cpp")), ARDUINO_STUB / "arduino_host.cpp", *sorted(objs.glob("*.o")), "-o", exe])
    return exe


@pytest.mark.skipif(not HAVE_GCC, reason="needs gcc and g++")
def test_esp32_dut_on_the_host_in_energy_mode(tmp_path):
    """The Arduino flavour of the DUT (ESP32 project, host-built with a stub core): same protocol;
    in energy mode no m-lap-us lines but one low pulse on GPIO4 per timestamp."""
    from tinygen.device.link import ProcessSerial

    energy = True
    graph = load_int8_model(model_path("ad01"))          # a small model: the host build is quick
    proj = write_project(graph, "esp32-devkitc", tmp_path / "esp32", mlperf="ad01", energy=energy)
    exe = _host_build_esp32_mlperf(proj, tmp_path)
    log = tmp_path / "stderr.txt"
    with open(log, "wb") as err, ProcessSerial([str(exe)], stderr=err) as ser:
        c = SpecClient(ser)
        boot = c.read_reply()
        mode = "energy" if energy else "performance"
        assert boot[0] == f"m-timestamp-mode-{mode}" and boot[-1] == "m-init-done"
        assert c.send("profile") == ["m-profile-[ULPMark for tinyML Firmware V0.0.1]", "m-model-[ad01]"]
        raw = sample("ad01", graph, 9)
        c.load(raw, (31,))
        reply = c.send("infer 2 0")
        assert reply.prefixed("m-results-[") == [expected_results("ad01", graph, raw) + "]"]
        assert len(reply.prefixed("m-lap-us-")) == (0 if energy else 2)
        assert len(c.send("timestamp").prefixed("m-lap-us-")) == (0 if energy else 1)
        assert len(c.send(f"db load {len(raw) + 1}").errors()) == 1
    pulses = log.read_text().count("pin 4=0")
    assert pulses == (1 + 2 + 1 if energy else 0)       # boot, infer (before and after), timestamp


@needs_qemu
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143)])     # Ctrl-C: the same unwinding (test_flash_pty)
def test_benchmark_stops_qemu_on_a_signal(sig, code):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.Popen([sys.executable, "-m", "tinygen.cli", "benchmark", str(model_path("kws01")), "--board",
                          "qemu-cortex-m4", "--mlperf", "kws01", "--runs", "10000", "--warmups", "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        for line in p.stderr:                       # QEMU runs once the benchmark line is printed
            if line.startswith("benchmark kws01"):
                break
        qemu = [int(x) for x in Path(f"/proc/{p.pid}/task/{p.pid}/children").read_text().split()]
        assert qemu and all(b"qemu-system-arm" in Path(f"/proc/{q}/cmdline").read_bytes() for q in qemu)
        time.sleep(0.5)
        p.send_signal(sig)
        assert p.wait(20) == code
        deadline = time.monotonic() + 5
        while any(Path(f"/proc/{q}").exists() for q in qemu) and time.monotonic() < deadline:
            time.sleep(0.05)                        # (an exited QEMU may linger a moment before it is reaped)
        assert not any(Path(f"/proc/{q}").exists() for q in qemu), "QEMU still runs"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


@pytest.mark.skipif(not HAVE_ARM_GCC, reason="needs arm-none-eabi-gcc")
def test_nano33ble_dut_compiles_against_the_stub_core(tmp_path):
    """The Nano 33 BLE flavour (Cortex-M4 Arduino core, DWT cycles, D7 timestamp pin) compiles."""
    from tests.support.fwprojects import ARDUINO_STUB, run

    proj = write_project(load_int8_model(model_path("ad01")), "nano33ble", tmp_path / "nano", mlperf="ad01",
                         energy=True)
    src = proj.path / "src"
    flags = ["-mcpu=cortex-m4", "-mthumb", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", "-DTG_ARDUINO=1",
             f"-I{ARDUINO_STUB}", f"-I{src}"]
    run(["arm-none-eabi-gcc", "-std=c99", *flags, src / "tg_mlperf.c"])
    run(["arm-none-eabi-g++", "-std=gnu++14", *flags, src / "main.cpp", src / "tg_port_arduino.cpp",
         src / "tg_mlperf_pin_arduino.cpp"])
    assert proj.manifest["mlperf"]["timestamp_pin"].startswith("D7")
