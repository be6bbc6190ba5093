"""Host side of the MLPerf Tiny DUT protocol (firmware/mlperf) and `tinygen benchmark`.

    dut = MlperfDut(serial_port)                 # any pyserial object (socket://, /dev/pts/N, a USB port)
    dut.sync()                                   # past the boot lines, name answered
    dut.name(), dut.profile()                    # "tinygen qemu-cortex-m4", ("ULPMark ...", "kws01")
    dut.load(raw_bytes)                          # db load N + db HEX... in 31-byte chunks (the runner's)
    r = dut.infer(1, 0)                          # InferResult: start/end us, results text and floats
    dut.cycles(), dut.output(0)                  # tinygen additions: cycles, raw output bytes

    report = run_benchmark(dut, spec, runs=5, warmups=1, dataset=(x, y), progress=...)

Every reply ends with "m-ready"; an "e-[...]" line in it raises DutError (a DeviceError) with
the DUT's text. Outputs are checked against tinygen's emulator: the raw output bytes must be
equal, and so must the printed results (3 decimals) to the host's rendering of those outputs.
"""
from __future__ import annotations

import re
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from tinygen.boards.mlperf import MlperfSpec
from tinygen.errors import DeviceError, TinygenError

READY = "m-ready"
RUNNER_CHUNK = 31                  # bytes per `db` command, as the MLPerf runner sends them
_LAP = re.compile(r"^m-lap-us-(\d+)$")
_RESULTS = re.compile(r"^m-results-\[(.*)\]$")


class DutError(DeviceError):
    """The DUT answered a command with an e-[...] line."""


@dataclass
class InferResult:
    iterations: int
    warmups: int
    start_us: int
    end_us: int
    results_text: str
    results: list[float]
    lines: list[str]

    @property
    def elapsed_us(self) -> int:
        return self.end_us - self.start_us


class MlperfDut:
    def __init__(self, ser, *, timeout: float = 10.0, chunk: int = RUNNER_CHUNK):
        self.ser = ser
        self.timeout = timeout
        self.chunk = chunk
        self._buf = bytearray()

    # -- lines ----------------------------------------------------------------------------
    def _read_line(self, deadline: float) -> str:
        while True:
            i = self._buf.find(b"\n")
            if i >= 0:
                raw = bytes(self._buf[:i])
                del self._buf[:i + 1]
                return raw.decode("ascii", "replace").strip("\r\x00 ")
            if time.monotonic() > deadline:
                tail = bytes(self._buf[-120:])
                raise DeviceError(f"the DUT did not answer in time (got {tail!r}); is it an MLPerf firmware "
                                  "(tinygen generate --mlperf ID) at the right baud rate?")
            try:
                n = getattr(self.ser, "in_waiting", 0) or 1
                self._buf += self.ser.read(min(n, 4096))
            except Exception as e:       # noqa: BLE001  (pyserial raises several types when a port vanishes)
                raise DeviceError(f"serial port closed: {e}") from None

    def _drain(self, quiet: float = 0.2, limit: float = 3.0) -> None:
        """Discard what the DUT sends until it has been quiet for `quiet` seconds."""
        end = time.monotonic() + limit
        last = time.monotonic()
        while time.monotonic() < end and time.monotonic() - last < quiet:
            try:
                data = self.ser.read(getattr(self.ser, "in_waiting", 0) or 1)
            except Exception as e:       # noqa: BLE001
                raise DeviceError(f"serial port closed: {e}") from None
            if data:
                last = time.monotonic()
        self._buf.clear()

    def command(self, cmd: str, *, timeout: float | None = None, check: bool = True) -> list[str]:
        """Send `cmd` + '%'; the reply's lines up to m-ready (not included). DutError on an e- line."""
        self.ser.write(cmd.encode("ascii") + b"%")
        deadline = time.monotonic() + (timeout or self.timeout)
        lines = []
        while True:
            ln = self._read_line(deadline)
            if ln == READY:
                break
            if ln:
                lines.append(ln)
        errors = [ln for ln in lines if ln.startswith("e-[")]
        if errors and check:
            raise DutError(f"the DUT refused {cmd[:40]!r}: {errors[0][3:-1] if errors[0].endswith(']') else errors[0]}")
        return lines

    # -- commands -------------------------------------------------------------------------
    def sync(self, timeout: float = 10.0) -> str:
        """Skip whatever the DUT printed so far (boot lines) and check that it answers `name`."""
        self._drain()
        self.ser.write(b"%")          # ends any half-sent command
        deadline = time.monotonic() + timeout
        while True:
            self._drain(quiet=0.1, limit=1.0)
            try:
                return self.name(timeout=max(1.0, min(3.0, deadline - time.monotonic())))
            except DeviceError:
                if time.monotonic() > deadline:
                    raise

    def name(self, timeout: float | None = None) -> str:
        for ln in self.command("name", timeout=timeout):
            m = re.match(r"^m-name-dut-\[([^]]+)\]$", ln)
            if m:
                return m.group(1)
        raise DeviceError("the DUT's answer to 'name' has no m-name-dut-[...] line")

    def profile(self) -> tuple[str, str]:
        prof = model = None
        for ln in self.command("profile"):
            m = re.match(r"^m-(profile|model)-\[([^]]+)\]$", ln)
            if m and m.group(1) == "profile":
                prof = m.group(2)
            elif m:
                model = m.group(2)
        if prof is None or model is None:
            raise DeviceError("the DUT's answer to 'profile' lacks m-profile-[...] or m-model-[...]")
        return prof, model

    def load(self, data: bytes) -> None:
        data = bytes(data)
        lines = self.command(f"db load {len(data)}")
        if f"m-[Expecting {len(data)} bytes]" not in lines:
            raise DeviceError(f"unexpected answer to 'db load {len(data)}': {lines}")
        done = False
        for i in range(0, len(data), self.chunk):
            lines = self.command("db " + data[i:i + self.chunk].hex())
            done = "m-load-done" in lines
        if not done:
            raise DeviceError(f"the DUT did not confirm the {len(data)}-byte load (m-load-done)")

    def infer(self, iterations: int = 1, warmups: int = 0, *, timeout: float | None = None) -> InferResult:
        lines = self.command(f"infer {iterations} {warmups}", timeout=timeout or self.timeout + 60.0)
        laps = [int(m.group(1)) for m in map(_LAP.match, lines) if m]
        res = [m.group(1) for m in map(_RESULTS.match, lines) if m]
        if len(laps) != 2 or len(res) != 1:
            raise DeviceError(f"unexpected answer to 'infer': {lines[:8]}")
        values = [float(v) for v in res[0].split(",") if v.strip()]
        return InferResult(iterations, warmups, laps[0], laps[1], res[0], values, lines)

    def results(self) -> str:
        res = [m.group(1) for m in map(_RESULTS.match, self.command("results")) if m]
        if len(res) != 1:
            raise DeviceError("the DUT's answer to 'results' has no m-results-[...] line")
        return res[0]

    def cycles(self) -> int:
        for ln in self.command("cycles"):
            m = re.match(r"^m-cycles-\[(\d+)\]$", ln)
            if m:
                return int(m.group(1))
        raise DeviceError("the DUT does not report cycles (not a tinygen MLPerf firmware?)")

    def output(self, k: int = 0) -> bytes:
        for ln in self.command(f"output {k}"):
            m = re.match(r"^m-output-\[(\d+)\]-\[([0-9a-f]*)\]$", ln)
            if m and int(m.group(1)) == k:
                return bytes.fromhex(m.group(2))
        raise DeviceError(f"the DUT's answer to 'output {k}' has no m-output line")


# ------------------------------------------------------------------ benchmark

@dataclass
class BenchmarkReport:
    model_id: str
    task: str
    dut_name: str
    profile: str
    runs: int
    warmups: int
    latencies_us: list[float] = field(default_factory=list)    # per inference
    cycles: list[float] = field(default_factory=list)          # per inference
    iterations: int = 1                                         # inferences per timed window
    samples: int = 0
    exact: int = 0
    mismatches: list[str] = field(default_factory=list)
    metric: str = "top-1"
    accuracy: float | None = None        # top-1 fraction, or AUC for ad01
    results: list[str] = field(default_factory=list)     # m-results text of every timed run, then every sample
    seconds: float = 0.0

    @property
    def median_us(self) -> float:
        return float(statistics.median(self.latencies_us)) if self.latencies_us else 0.0

    @property
    def median_cycles(self) -> float:
        return float(statistics.median(self.cycles)) if self.cycles else 0.0

    @property
    def throughputs(self) -> list[float]:
        return [1e6 / t if t > 0 else 0.0 for t in self.latencies_us]

    @property
    def throughput(self) -> float:
        return 1e6 / self.median_us if self.median_us > 0 else 0.0

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def as_dict(self) -> dict:
        return {
            "model": self.model_id, "task": self.task, "dut": self.dut_name, "profile": self.profile,
            "runs": self.runs, "warmups": self.warmups, "iterations": self.iterations,
            "latency_us": self.latencies_us, "cycles": self.cycles,
            "median_latency_ms": round(self.median_us / 1000.0, 6), "median_cycles": self.median_cycles,
            "throughput": round(self.throughput, 6),
            "windows": [{"iterations": self.iterations, "elapsed_us": round(t * self.iterations, 3),
                         "throughput": round(th, 6)} for t, th in zip(self.latencies_us, self.throughputs)],
            "samples": self.samples, "bit_exact": self.exact, "mismatches": self.mismatches,
            "metric": self.metric if self.accuracy is not None else None,
            "accuracy": None if self.accuracy is None else round(self.accuracy, 6),
            "results": self.results, "seconds": round(self.seconds, 3), "ok": self.ok,
        }


def auc(scores, labels) -> float:
    """Area under the ROC curve of `scores` (higher = more anomalous) for binary `labels`
    (1 = anomaly), by ranks (Mann-Whitney U, ties counted half)."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels).astype(bool)
    pos, neg = s[y], s[~y]
    if len(pos) == 0 or len(neg) == 0:
        raise TinygenError("AUC needs both normal (label 0) and anomalous (label 1) samples in the dataset")
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def load_dataset(path, spec: MlperfSpec) -> tuple[list[bytes], np.ndarray]:
    """DATA.npz: `x` (or `inputs`), one sample per row in the benchmark's input format (kws01:
    int8 features, vww01/ic01: uint8 pixels, ad01: float32 values, a user ID: the raw input
    bytes), and `y` (or `labels`): class indices (ad01: 1 = anomaly, 0 = normal)."""
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise TinygenError(f"{path}: not a readable .npz dataset ({e})") from None
    keys = set(getattr(data, "files", []))
    xk = next((k for k in ("x", "inputs") if k in keys), None)
    yk = next((k for k in ("y", "labels") if k in keys), None)
    if xk is None or yk is None:
        raise TinygenError(f"{path}: a dataset needs arrays 'x' (inputs) and 'y' (labels); it has {sorted(keys)}")
    x, y = data[xk], np.asarray(data[yk]).reshape(-1)
    if len(x) != len(y) or len(x) == 0:
        raise TinygenError(f"{path}: {len(x)} inputs but {len(y)} labels")
    want = {"raw": None, "uint8-128": np.uint8, "float32": np.float32}[spec.input_kind]
    if spec.model_id == "kws01":
        want = np.int8
    if want is not None and x.dtype != want:
        if want == np.float32 and np.issubdtype(x.dtype, np.floating):
            x = x.astype(np.float32)
        else:
            raise TinygenError(f"{path}: {spec.model_id} inputs are {np.dtype(want).name}, 'x' holds {x.dtype}")
    x = np.ascontiguousarray(x).astype(x.dtype.newbyteorder("<"), copy=False)
    per = x[0].nbytes
    if per != spec.db_bytes:
        raise TinygenError(f"{path}: each sample is {per} bytes ({x.shape[1:]} {x.dtype}); {spec.model_id} for this "
                           f"model takes {spec.db_bytes}")
    if not np.issubdtype(y.dtype, np.integer):
        raise TinygenError(f"{path}: labels must be integers, 'y' holds {y.dtype}")
    return [x[i].tobytes() for i in range(len(x))], y.astype(np.int64)


def default_input(spec: MlperfSpec, seed: int = 0) -> bytes:
    """A reproducible input when no dataset is given (ad01: float32 values in the input's range)."""
    rng = np.random.default_rng(seed)
    if spec.input_kind == "uint8-128":
        return rng.integers(0, 256, spec.db_bytes, dtype=np.uint8).tobytes()
    tensors = spec.graph.input_tensors if spec.input_kind == "raw" else spec.graph.input_tensors[:1]
    parts = []
    for t in tensors:
        if spec.input_kind == "float32" or t.dtype == np.float32:
            q = _quant_of_float_input(spec.graph, t)
            lo, hi = ((-128 - q[1]) * q[0], (127 - q[1]) * q[0]) if q else (-1.0, 1.0)
            parts.append(rng.uniform(lo, hi, t.size).astype("<f4").tobytes())
        else:
            parts.append(rng.integers(0, 256, t.nbytes, dtype=np.uint8).tobytes())
    return b"".join(parts)


def _quant_of_float_input(graph, t):
    """(scale, zero point) the model quantizes input `t` with: its own, or its QUANTIZE op's."""
    if t.dtype != np.float32 and t.quant is not None:
        return float(t.scale), int(t.zero_point)
    for op in graph.operators:
        if op.op == "QUANTIZE" and op.inputs and op.inputs[0] == t.index:
            o = graph.tensors[op.outputs[0]]
            if o.quant is not None and o.scale:
                return float(o.scale), int(o.zero_point)
    return None


def check_sample(dut: MlperfDut, spec: MlperfSpec, emulator, raw: bytes, inf: InferResult,
                 cache: dict | None = None) -> list[str]:
    """Problems (empty: none) with the DUT's outputs for `raw` against the emulator
    (`cache`: emulator outputs by input, for repeated inferences of one input)."""
    g = spec.graph
    expected = cache.get(raw) if cache is not None else None
    if expected is None:
        xs = spec.model_inputs(raw)
        outs = emulator.run_internal([x[None] for x in xs])
        expected = [np.ascontiguousarray(o[0]).astype(t.dtype) for o, t in zip(outs, g.output_tensors)]
        if cache is not None:
            cache[raw] = expected
    problems = []
    for k, (e, t) in enumerate(zip(expected, g.output_tensors)):
        got = dut.output(k)
        if got != e.tobytes():
            a = np.frombuffer(got, dtype=t.dtype) if len(got) == e.nbytes else None
            diff = int(np.max(np.abs(a.astype(np.int64) - e.reshape(-1).astype(np.int64)))) if (
                a is not None and np.issubdtype(t.dtype, np.integer)) else None
            problems.append(f"output {k} differs from the emulator" + (f" (max |diff| {diff})" if diff else ""))
    want = spec.results_text(raw, [e.reshape(t.shape) for e, t in zip(expected, g.output_tensors)])
    if inf.results_text != want:
        problems.append(f"m-results-[{inf.results_text[:60]}] but the emulator's outputs print as [{want[:60]}]")
    return problems


def run_benchmark(dut: MlperfDut, spec: MlperfSpec, *, runs: int = 5, warmups: int = 1, iterations: int = 1,
                  dataset=None, progress: Callable[[int, int], None] | None = None,
                  say: Callable[[str], None] | None = None) -> BenchmarkReport:
    """Performance: one sample loaded, `warmups` warm-up inferences, then `runs` windows of
    `iterations` timed inferences each (`infer ITERATIONS 0`; latency = window time / iterations
    from the DUT's m-lap-us timestamps, cycles from the tinygen `cycles` command, per inference). Accuracy (with `dataset` = (list of raw inputs, labels)): every sample loaded and
    inferred once; top-1 (argmax of the results) or, for ad01, the AUC of the anomaly scores.
    Every output of every inference is checked against the emulator."""
    from tinygen.emulator.engine import Emulator

    say = say or (lambda m: None)
    t0 = time.monotonic()
    emu = Emulator(spec.graph)
    name = dut.sync()
    prof, model = dut.profile()
    if model != spec.model_id:
        raise DeviceError(f"the DUT runs benchmark {model!r}, not {spec.model_id!r} (regenerate with --mlperf "
                          f"{spec.model_id})")
    rep = BenchmarkReport(spec.model_id, spec.task, name, prof, runs, warmups, metric=spec.metric,
                          iterations=iterations)
    inputs, labels = dataset if dataset is not None else ([default_input(spec)], None)
    total = runs + (len(inputs) if labels is not None else 0)
    done = 0

    def tick():
        nonlocal done
        done += 1
        if progress:
            progress(done, total)

    # performance mode
    raw = inputs[0]
    cache: dict = {}
    dut.load(raw)
    if warmups:
        inf = dut.infer(1, warmups)
        rep.mismatches += [f"warm-up: {p}" for p in check_sample(dut, spec, emu, raw, inf, cache)]
    for _ in range(runs):
        inf = dut.infer(iterations, 0)
        rep.latencies_us.append(inf.elapsed_us / iterations)
        rep.cycles.append(dut.cycles() / iterations)
        rep.results.append(inf.results_text)
        rep.samples += 1
        problems = check_sample(dut, spec, emu, raw, inf, cache)
        rep.exact += not problems
        rep.mismatches += [f"run {len(rep.latencies_us)}: {p}" for p in problems]
        tick()

    # accuracy mode
    if labels is not None:
        scores = []
        for i, raw in enumerate(inputs):
            dut.load(raw)
            inf = dut.infer(1, 0)
            problems = check_sample(dut, spec, emu, raw, inf)
            rep.samples += 1
            rep.exact += not problems
            rep.mismatches += [f"sample {i}: {p}" for p in problems]
            rep.results.append(inf.results_text)
            scores.append(inf.results)
            tick()
        if spec.metric == "auc":
            rep.accuracy = auc([s[0] for s in scores], labels)
        else:
            pred = np.array([int(np.argmax(s)) for s in scores])
            rep.accuracy = float(np.mean(pred == labels))
    rep.seconds = time.monotonic() - t0
    return rep


__all__ = ["BenchmarkReport", "DutError", "InferResult", "MlperfDut", "auc", "check_sample", "default_input",
           "load_dataset", "run_benchmark"]
