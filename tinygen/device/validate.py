"""On-target validation: does the board compute exactly what the host emulator computes?

    from tinygen.device.validate import validate
    report = validate("kws.tflite", "qemu-cortex-m4", samples=10, per_layer=True)
    report.passed, report.as_dict()["bit_exact"]

Sends each input over the serial protocol (docs/protocol.md), collects the outputs and
the cycle counts, and compares them with `tinygen.emulator` (bit-exact with TFLite
Micro's reference kernels). With `per_layer`, the first sample whose output differs is
run again and the layers' outputs (LAYER k) are compared in order until the first one
that differs.

Faults are survived where that is possible and reported where not: the Client resends
on timeouts and damaged frames; a device reset (BOOT frame, or the state break when the
BOOT was lost) resyncs and resumes at the interrupted sample, at most `max_recoveries`
times; a vanished port is re-opened for a while. Anything else ends the run with one
line in `report.error` and the samples done so far kept in the report.
"""
from __future__ import annotations

import collections
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from tinygen.errors import DeviceError, TinygenError

DEFAULT_SAMPLES = 10
DEFAULT_SEED = 0
MAX_RECOVERIES = 3
RENEW_AFTER = 5          # good samples in a row that renew the recovery budget

_NP_DTYPES = {0: np.float32, 2: np.int32, 3: np.uint8, 7: np.int16, 9: np.int8}


# ----------------------------------------------------------------------------- inputs
def _float_input_params(graph, tid: int) -> tuple[float, int]:
    """Scale / zero point for random values of a float32 input: those of the QUANTIZE op
    that reads it, else 1/16 and 0."""
    for op in graph.operators:
        if op.op == "QUANTIZE" and op.inputs and op.inputs[0] == tid:
            t = graph.tensors[op.outputs[0]]
            if t.quant is not None and t.scale > 0:
                return float(t.scale), int(t.zero_point)
    return 1.0 / 16.0, 0


def random_inputs(graph, samples: int, seed: int = DEFAULT_SEED) -> list[np.ndarray]:
    """Per model input, a batch (N, *full_shape) of random values: uniform int8 (int16 over the
    int16 range, for 16x8 models; int32 over the int16 range too, wide enough for int32 arithmetic
    and small enough not to overflow sums), or for a float32 input the dequantized values of uniform
    int8. Fixed by `seed`."""
    rng = np.random.default_rng(seed)
    xs = []
    for t in graph.input_tensors:
        if t.dtype in (np.int16, np.int32):
            xs.append(rng.integers(-32768, 32768, (samples, *t.shape), dtype=t.dtype))
            continue
        q = rng.integers(-128, 128, (samples, *t.shape), dtype=np.int8)
        if t.dtype == np.int8:
            xs.append(q)
        elif t.dtype == np.float32:
            scale, zp = _float_input_params(graph, t.index)
            xs.append(((q.astype(np.int32) - zp).astype(np.float32) * np.float32(scale)))
        else:
            raise TinygenError(f"input '{t.name}' has dtype {t.dtype_name}; tinygen makes random inputs of int8, int16, int32 or float32 only")
    return xs


def prepare_inputs(graph, arrays: list | None, samples: int, seed: int) -> list[np.ndarray]:
    """User arrays ([N, *input_shape], one per model input) or random ones, as internal
    (N, *full_shape) arrays of each input's dtype."""
    from tinygen.emulator.engine import to_internal

    if not arrays:
        if samples < 1:
            raise TinygenError("--samples must be at least 1")
        return random_inputs(graph, samples, seed)
    if len(arrays) != len(graph.inputs):
        raise TinygenError(f"model has {len(graph.inputs)} input(s); got {len(arrays)} input file(s)")
    xs = [to_internal(a, graph.tensors[t]) for a, t in zip(arrays, graph.inputs)]
    n = {x.shape[0] for x in xs}
    if len(n) != 1:
        raise TinygenError("all input files must hold the same number of samples")
    if n.pop() == 0:
        raise TinygenError("the input file holds no samples")
    return xs


# ----------------------------------------------------------------------------- report
@dataclass
class LayerDiff:
    index: int
    op: str
    tensor: str
    sample: int
    elements: int
    mismatched: int
    max_abs_diff: float
    first_index: list
    device_bytes: int
    expected_bytes: int

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Report:
    model: str
    model_path: str
    sha256: str
    board: str
    port: str
    clock_hz: int
    samples_requested: int
    tolerance: float = 0.0
    device: dict = field(default_factory=dict)
    cycles: list = field(default_factory=list)            # per completed sample
    cycles_estimated: list = field(default_factory=list)  # per completed sample: plugin estimate or None
    cycle_model: dict | None = None                       # the timing table behind cycles_estimated
    outputs: list = field(default_factory=list)           # per completed sample: list of arrays (user layout)
    max_abs: list = field(default_factory=list)           # per completed sample
    exact: list = field(default_factory=list)             # per completed sample: bool
    _sum_abs: float = 0.0
    _sum_sq: float = 0.0
    _count: int = 0
    _dot: float = 0.0
    _norm_dev: float = 0.0
    _norm_exp: float = 0.0
    top1: list = field(default_factory=list)
    recoveries: list = field(default_factory=list)        # one line per reset / reconnect survived
    first_divergent_layer: LayerDiff | None = None
    per_layer: dict | None = None
    error: str | None = None
    interrupted: bool = False
    interrupt_exit: int = 130          # exit status after an interruption: 130 Ctrl-C, 143 SIGTERM, 129 SIGHUP
    wall_s: float = 0.0
    run_s: float = 0.0
    client_stats: dict = field(default_factory=dict)
    device_text: list = field(default_factory=list)       # last text lines the firmware printed
    state: dict | None = None       # model with state: {"stateful": one sequence?, "bytes", "resets"}

    @property
    def samples(self) -> int:
        return len(self.cycles)

    @property
    def mismatched_samples(self) -> list:
        return [i for i, m in enumerate(self.max_abs) if m > self.tolerance]

    @property
    def passed(self) -> bool:
        return (self.error is None and self.samples == self.samples_requested and self.samples > 0
                and not self.mismatched_samples)

    @property
    def estimated(self) -> bool:
        return bool(self.cycles_estimated) and all(c is not None for c in self.cycles_estimated)

    def add(self, device_outs: list, expected: list, cycles: int, scales: list, estimated: int | None = None) -> None:
        """Records one sample: device and expected outputs (arrays of the same dtype/shape)."""
        worst = 0.0
        exact = True
        for k, (d, e) in enumerate(zip(device_outs, expected)):
            exact = exact and d.shape == e.shape and d.tobytes() == e.tobytes()
            diff = d.astype(np.float64) - e.astype(np.float64)
            a = np.abs(diff)
            if a.size:
                worst = max(worst, float(a.max()))
            self._sum_abs += float(a.sum())
            self._sum_sq += float((diff * diff).sum())
            self._count += diff.size
            scale, zp = scales[k]
            dv = (d.astype(np.float64) - zp) * scale
            ev = (e.astype(np.float64) - zp) * scale
            self._dot += float((dv * ev).sum())
            self._norm_dev += float((dv * dv).sum())
            self._norm_exp += float((ev * ev).sum())
        if device_outs:
            d0, e0 = device_outs[0].reshape(-1), expected[0].reshape(-1)
            self.top1.append(bool(d0.size and int(np.argmax(d0)) == int(np.argmax(e0))))
        self.outputs.append(device_outs)
        self.cycles.append(int(cycles))
        self.cycles_estimated.append(None if estimated is None else int(estimated))
        self.max_abs.append(worst)
        self.exact.append(exact)

    def as_dict(self) -> dict:
        n = self.samples
        lat, lat_est, lat_ms = self._latencies()
        mism = self.mismatched_samples
        return {
            "model": self.model,
            "model_path": self.model_path,
            "sha256": self.sha256,
            "board": self.board,
            "port": self.port,
            "samples": n,
            "samples_requested": self.samples_requested,
            "bit_exact": (sum(self.exact) / n) if n else None,
            "bit_exact_samples": int(sum(self.exact)),
            "tolerance": self.tolerance,
            "within_tolerance": (n - len(mism)) / n if n else None,
            "max_abs_diff": max(self.max_abs) if n else None,
            "mean_abs_diff": (self._sum_abs / self._count) if self._count else None,
            "rmse": float(np.sqrt(self._sum_sq / self._count)) if self._count else None,
            "cosine": float(self._cosine()) if n else None,
            "top1_agreement": (sum(self.top1) / len(self.top1)) if self.top1 else None,
            "latency_cycles": lat,
            "latency_cycles_estimated": lat_est,
            "latency_ms": lat_ms,
            "latency_ms_basis": None if lat_ms is None else ("estimated" if lat_est is not None else "exact"),
            "cycle_model": self.cycle_model if lat_est is not None else None,
            "clock_hz": self.clock_hz,
            "mismatched_samples": mism[:100],
            "first_mismatch_sample": mism[0] if mism else None,
            "first_divergent_layer": self.first_divergent_layer.as_dict() if self.first_divergent_layer else None,
            "per_layer": self.per_layer,
            "recoveries": self.recoveries,
            "state": self.state,
            "wall_s": round(self.wall_s, 3),
            "inferences_per_s": round(n / self.run_s, 2) if n and self.run_s > 0 else None,
            "link": self.client_stats,
            "device": self.device,
            "passed": self.passed,
            "error": self.error,
        }

    def _latencies(self) -> tuple:
        """(latency_cycles, latency_cycles_estimated, latency_ms): the stats, the ones of the cycle
        model's estimate (when every sample has one), ms from the estimate if any; Nones before a sample."""
        if not self.samples:
            return None, None, None
        lat = _stats(np.array(self.cycles, dtype=np.float64))
        lat_est = _stats(np.array(self.cycles_estimated, dtype=np.float64)) if self.estimated else None
        lat_ms = None
        if self.clock_hz:
            basis = lat_est if lat_est is not None else lat
            lat_ms = {k: v * 1e3 / self.clock_hz for k, v in basis.items()}
        return lat, lat_est, lat_ms

    def _cosine(self) -> float:
        """Cosine similarity of the dequantized device and expected outputs (1 when both are all zero)."""
        if self._norm_dev == 0.0 and self._norm_exp == 0.0:
            return 1.0
        if self._norm_dev == 0.0 or self._norm_exp == 0.0:
            return 0.0
        return self._dot / np.sqrt(self._norm_dev * self._norm_exp)


def _stats(values: np.ndarray) -> dict:
    d = {"median": float(np.median(values)), "min": int(values.min()), "max": int(values.max())}
    if d["median"] == int(d["median"]):
        d["median"] = int(d["median"])
    return d


def size_summary(sizes: dict) -> tuple:
    """(min, max, median) of a {size: count} histogram."""
    items = sorted((int(k), int(v)) for k, v in sizes.items())
    total = sum(v for _k, v in items)
    acc, med = 0, items[0][0]
    for k, v in items:
        acc += v
        if 2 * acc >= total:
            med = k
            break
    return items[0][0], items[-1][0], med


def format_report(r: Report) -> str:
    """Human-readable summary (several lines)."""
    d = r.as_dict()
    lines = [f"validate {r.model} on {r.board} via {r.port}"]
    lines += _sample_lines(r, d) if d["samples"] else ["  no sample completed"]
    lines += _link_lines(r.client_stats or {})
    lines += [f"  recovered: {rec}" for rec in r.recoveries]
    lines += _finding_lines(r, d)
    lines.append(_verdict_line(r, d))
    return "\n".join(lines)


def _sample_lines(r: Report, d: dict) -> list[str]:
    """What the completed samples showed: exactness, differences, latency, speed."""
    n = d["samples"]
    exact = d["bit_exact_samples"]
    lines = [f"  samples         {n}" + (f" of {r.samples_requested}" if n != r.samples_requested else ""),
             f"  bit-exact       {exact}/{n} ({100.0 * exact / n:.1f}%)"]
    if r.state:
        how = ("one sequence (state reset once, then carried from sample to sample)" if r.state["stateful"]
               else "each sample from the reset state (RESET_STATE before every sample)")
        lines.append(f"  state           {r.state['bytes']} bytes: {how}")
    lines.append(f"  max |diff|      {d['max_abs_diff']:g}   mean |diff| {d['mean_abs_diff']:.4g}   "
                 f"RMSE {d['rmse']:.4g}  (output LSB)")
    lines.append(f"  cosine          {d['cosine']:.6f}   top-1 agreement {100.0 * d['top1_agreement']:.1f}%")
    lines.append(_latency_text(r, d))
    lines.append(f"  wall time       {d['wall_s']:.2f} s, {d['inferences_per_s']} inferences/s over the link")
    return lines


def _latency_text(r: Report, d: dict) -> str:
    """The latency entry: measured, estimated by the cycle model, in ms; what a QEMU cycle is."""
    lc = d["latency_cycles"]
    emulated = r.board.startswith("qemu-")
    unit = "instructions (exact)" if emulated else "cycles"
    lat = f"  latency         median {lc['median']:,} {unit}, min {lc['min']:,}, max {lc['max']:,}"
    le = d["latency_cycles_estimated"]
    if le:
        core = (d["cycle_model"] or {}).get("label", "core")
        lat += (f"\n                  median {le['median']:,} {core} cycles (estimated), min {le['min']:,}, "
                f"max {le['max']:,}")
    if d["latency_ms"]:
        lm = d["latency_ms"]
        lat += (f"\n                  median {lm['median']:.3f} ms, min {lm['min']:.3f}, max {lm['max']:.3f}"
                f" at {r.clock_hz / 1e6:g} MHz" + (" (from the estimate)" if le else ""))
    if emulated:
        lat += ("\n                  (QEMU -icount: a cycle is one instruction executed"
                + (f"; estimated cycles: the timing model {(d['cycle_model'] or {}).get('table', '')})"
                   if le else ")"))
    return lat


def _link_lines(st: dict) -> list[str]:
    """The link's troubles (resends, garbage, adaptive frame sizes) and its raised speed, if any."""
    lines = []
    if st.get("resent") or st.get("garbage_bytes"):
        lines.append(f"  link            {st.get('sent', 0)} requests, {st.get('resent', 0)} resent "
                     f"({st.get('naks', 0)} damaged on the way out, {st.get('garbled_replies', 0)} replies "
                     f"damaged, {st.get('timeouts', 0)} timeouts), {st.get('garbage_bytes', 0)} garbage bytes")
        sizes = st.get("sizes") or {}
        if sizes:
            lo, hi, med = size_summary(sizes)
            lines.append(f"                  data per frame {lo}..{hi} bytes, median {med} (adaptive framing)")
    if st.get("baud_note"):
        lines.append(f"  link speed      {st['baud_note']}")
    return lines


def _finding_lines(r: Report, d: dict) -> list[str]:
    """Tolerance, the differing samples, the first divergent layer and why the run stopped early."""
    n = d["samples"]
    mism = d["mismatched_samples"]
    lines = []
    if r.tolerance and n:
        lines.append(f"  within tolerance {r.tolerance:g}: {n - len(mism)}/{n}")
    if mism:
        lines.append(f"  differing samples: {', '.join(map(str, mism[:20]))}" + (" ..." if len(mism) > 20 else ""))
    fl = r.first_divergent_layer
    if fl is not None:
        name = fl.tensor if len(fl.tensor) <= 48 else fl.tensor[:45] + "..."
        lines.append(f"  first divergent layer: {fl.index} {fl.op} (tensor '{name}', sample {fl.sample}): "
                     f"{fl.mismatched}/{fl.elements} values differ, max |diff| {fl.max_abs_diff:g}, "
                     f"first at {fl.first_index}")
    elif r.per_layer is not None:
        lines.append(f"  per-layer: {r.per_layer.get('note', 'no layer differs')}")
    if r.error:
        lines.append(f"  stopped early: {r.error}")
    return lines


def _verdict_line(r: Report, d: dict) -> str:
    verdict = "PASS" if r.passed else "FAIL"
    return f"{verdict}: " + ("every output is bit-exact" if r.passed and not r.tolerance else
                             "every output within tolerance" if r.passed else
                             "the run did not finish" if r.error else
                             f"{len(d['mismatched_samples'])} of {d['samples']} outputs differ")


# ----------------------------------------------------------------------------- running
class _Session:
    """A Client on a Link, re-created after the port is re-opened."""

    def __init__(self, link, *, timeout: float, retries: int, sha: bytes, text_sink):
        self.link = link
        self.timeout = timeout
        self.retries = retries
        self.sha = sha
        self.text_sink = text_sink
        self.client = None
        self.run_timeout = 60.0
        self._stats = {}
        self._sizes = collections.Counter()
        self.base_baud = None        # the port's rate at the first handshake (the firmware's default)
        self.raised = None           # the rate SET_BAUD switched to, while in use
        self.baud_note = None

    def connect(self, sync_timeout: float, *, after_reset: bool = False):
        """A new Client on the link, synced: at the raised rate first (the device may still
        run at it), then at the default one -- the other way round after a reset."""
        from tinygen.device.protocol import Client
        from tinygen.device.speed import port_baud, sync_at

        old = self.client
        if old is not None:
            self._merge(old)
        self.client = Client(self.link.serial, timeout=self.timeout, retries=self.retries,
                             run_timeout=self.run_timeout, on_text=self.text_sink)
        if old is not None:
            self.client.adopt(old)
        if self.base_baud is None:
            self.base_baud = port_baud(self.link.serial)
        rates = [self.base_baud, self.raised] if after_reset else [self.raised, self.base_baud]
        rate = sync_at(self.client, rates, sync_timeout)
        if rate is not None and rate == self.base_baud:
            self.raised = None
        return self.client

    def raise_speed(self, rate: int | None, say) -> None:
        """SET_BAUD to `rate` (None: leave the link as it is); falls back to the default rate."""
        from tinygen.device.speed import raise_baud

        if not rate or self.raised == rate:
            return
        got, self.baud_note = raise_baud(self.client, rate)
        self.raised = got if got and got != self.base_baud else None
        say(f"link speed: {self.baud_note}")

    def _merge(self, client) -> None:
        for k, v in client.stats.items():
            self._stats[k] = self._stats.get(k, 0) + v
        self._sizes.update(client.sizes)

    def stats(self) -> dict:
        """The link statistics of every client so far: requests, resends, ..., and `sizes`,
        the data bytes per INFER_CHUNK / page read -> count."""
        out = dict(self._stats)
        sizes = collections.Counter(self._sizes)
        if self.client is not None:
            for k, v in self.client.stats.items():
                out[k] = out.get(k, 0) + v
            sizes.update(self.client.sizes)
        out["sizes"] = {int(k): int(v) for k, v in sorted(sizes.items())}
        if self.baud_note:
            out["baud"] = self.raised or self.base_baud
            out["baud_note"] = self.baud_note
        return out


def _tail(e: Exception) -> str:
    """The innermost reason of a chained one-line message ("... failed: socket disconnected")."""
    return str(e).rsplit(": ", 1)[-1]


def _check_device(info, graph, model_path: str, port: str) -> None:
    if info.sha256.hex() != graph.sha256:
        raise DeviceError(
            f"the board on {port} runs model {info.model_name!r} (sha256 {info.sha256.hex()[:16]}...), "
            f"not {Path(model_path).name} (sha256 {graph.sha256[:16]}...): flash this model's firmware first")


def _decode_outputs(raw: list, out_tensors: list, info) -> list:
    from tinygen.emulator.engine import sample_shape

    outs = []
    for k, t in enumerate(out_tensors):
        if k >= len(raw):
            raise DeviceError(f"the board returned {len(raw)} output(s), the model has {len(out_tensors)}")
        data = raw[k]
        if len(data) != t.nbytes:
            raise DeviceError(f"output {k}: the board sent {len(data)} bytes, the model's output has {t.nbytes}")
        outs.append(np.frombuffer(data, dtype=t.dtype).reshape(sample_shape(t)).copy())
    return outs


def _expected_sample(expected: list, i: int, out_tensors: list) -> list:
    from tinygen.emulator.engine import sample_shape

    return [np.ascontiguousarray(o[i]).reshape(sample_shape(t)) for o, t in zip(expected, out_tensors)]


def first_divergent_layer(client, emu, graph, xs_sample: list, sample: int, say=lambda m: None,
                          prefix: list | None = None, reset: bool = False):
    """Runs one sample on the device and compares its layers (LAYER k = op k) with the
    emulator's, in order. Returns (LayerDiff or None, summary dict).
    A model with state: `reset` sends RESET_STATE first; `prefix` (per input, the samples before this one
    in a sequence) is run first on both sides, so that the sample starts from the same state."""
    from tinygen.device.protocol import ERR_OUT_OF_RANGE, ERR_UNAVAILABLE, ProtocolError

    stateful = prefix is not None
    if reset:
        client.reset_state()
    if stateful:
        emu.reset_state()
        if len(prefix[0]):
            emu.run_internal(prefix, stateful=True)
        for s in range(len(prefix[0])):
            client.run([x[s].tobytes() for x in prefix])
    _outs, layers = emu.run(*[x[None] for x in xs_sample], layers=True, stateful=stateful)
    first_out = {}
    for lo in layers:
        first_out.setdefault(lo.op_index, lo)
    client.run([x.tobytes() for x in xs_sample])
    # reading a layer the firmware did not keep re-runs the model on the board: allow for that
    client.timeout = max(client.timeout, client.run_timeout)
    num_layers = client.info_cache.num_layers if client.info_cache else len(graph.operators)
    unavailable, checked = [], 0
    for k in range(min(num_layers, len(graph.operators))):
        lo = first_out.get(k)
        if lo is None:
            continue
        try:
            data = client.layer(k)
        except ProtocolError as e:
            if e.code in (ERR_UNAVAILABLE, ERR_OUT_OF_RANGE) and not e.reset:
                unavailable.append(k)
                continue
            raise
        checked += 1
        exp = np.ascontiguousarray(lo.value[0])
        say(f"layer {k} {lo.op}: {len(data)} bytes")
        if len(data) != exp.nbytes:
            return (LayerDiff(k, lo.op, lo.tensor_name, sample, int(exp.size), int(exp.size), float("inf"), [],
                              len(data), int(exp.nbytes)),
                    {"checked": checked, "unavailable": unavailable})
        dev = np.frombuffer(data, dtype=exp.dtype).reshape(exp.shape)
        if dev.tobytes() != exp.tobytes():
            diff = np.abs(dev.astype(np.float64) - exp.astype(np.float64))
            bad = np.argwhere(dev != exp)
            return (LayerDiff(k, lo.op, lo.tensor_name, sample, int(exp.size), int(len(bad)), float(diff.max()),
                              [int(v) for v in bad[0]] if len(bad) else [], len(data), int(exp.nbytes)),
                    {"checked": checked, "unavailable": unavailable})
    note = (f"all {checked} readable layers match" + (f"; layers {unavailable} not readable on the board"
                                                     if unavailable else ""))
    return None, {"checked": checked, "unavailable": unavailable, "note": note}


def validate_link(link, model_path: str, graph=None, *, board: str = "?", inputs: list | None = None,
                  samples: int = DEFAULT_SAMPLES, seed: int = DEFAULT_SEED, per_layer: bool = False,
                  tolerance: float = 0.0, timeout: float = 2.0, retries: int | None = None,
                  max_recoveries: int = MAX_RECOVERIES, reconnect_timeout: float = 10.0,
                  sync_timeout: float = 10.0, progress: Callable[[int, int], None] | None = None,
                  say: Callable[[str], None] = lambda m: None, stateful: bool = False,
                  link_baud: int | None = None) -> Report:
    """Validation over an open `tinygen.target.Link`. Never raises for device faults once
    the board has been identified: they end the run and land in `Report.error`.

    A model with state (LSTM, SVDF): by default every sample starts from the reset state (the host
    sends RESET_STATE before each, as `emulate` runs them); `stateful`: the samples are one sequence
    (RESET_STATE once, then the state carries), compared with the emulator's stateful run. After a
    recovery (reset, lost reply) a sequence is replayed from its start, the replayed samples not
    counted again. With `link_baud` the link is raised to that rate after the handshake
    (SET_BAUD, falling back to the default rate when the board cannot or the probe fails)."""
    from tinygen.model.reader import load_int8_model

    t_start = time.monotonic()
    graph = graph if graph is not None else load_int8_model(model_path)
    link_baud = resolve_link_baud(link_baud, board)
    run = _LinkRun(link, str(model_path), graph, board=board, timeout=timeout, retries=retries,
                   max_recoveries=max_recoveries, reconnect_timeout=reconnect_timeout,
                   sync_timeout=sync_timeout, link_baud=link_baud, say=say)
    run.prepare(inputs, samples, seed, stateful)
    run.connect(tolerance)                     # errors here are plain failures: nothing to keep
    report = run.run(per_layer, progress)
    report.wall_s = time.monotonic() - t_start
    return report


class _LinkRun:
    """One validate_link() run: the session, the recovery budget and the report."""

    def __init__(self, link, model_path: str, graph, *, board, timeout, retries, max_recoveries,
                 reconnect_timeout, sync_timeout, link_baud, say):
        from tinygen.device.protocol import DEFAULT_RETRIES

        self.link = link
        self.model_path = model_path
        self.graph = graph
        self.board = board
        self.timeout = timeout
        self.max_recoveries = max_recoveries
        self.reconnect_timeout = reconnect_timeout
        self.sync_timeout = sync_timeout
        self.link_baud = link_baud
        self.say = say
        self.text_tail: list = []
        self.sess = _Session(link, timeout=timeout, retries=DEFAULT_RETRIES if retries is None else retries,
                             sha=bytes.fromhex(graph.sha256), text_sink=self._on_text)
        self.client = None
        self.info = None
        self.report = None
        self.recoveries = 0         # in a row, without RENEW_AFTER good samples between them
        self.good = 0
        self.clean_dts: list = []
        self.estimator = getattr(link, "estimator", None)

    def _on_text(self, line: str) -> None:
        self.text_tail.append(line)
        del self.text_tail[:-20]

    # -- setup ---------------------------------------------------------------------------------
    def prepare(self, inputs, samples: int, seed: int, stateful: bool = False) -> None:
        from tinygen.emulator.engine import Emulator

        self.emu = Emulator(self.graph)
        self.xs = prepare_inputs(self.graph, inputs, samples, seed)
        self.n = self.xs[0].shape[0]
        self.has_state = self.emu.has_state
        self.sequence = bool(stateful and self.has_state)   # the samples are one sequence
        self.say(f"emulating {self.n} sample(s) on the host" + (" as one sequence" if self.sequence else ""))
        self.expected = self.emu.run_internal(self.xs, stateful=self.sequence)

    def connect(self, tolerance: float) -> None:
        graph, link = self.graph, self.link
        self.client = self.sess.connect(self.sync_timeout)
        info = self.info = self.client.info()
        _check_device(info, graph, self.model_path, link.description)
        self.client.expected_sha256 = bytes.fromhex(graph.sha256)
        # a model with state: RESET_STATE before every sample (or once, before a sequence); firmware that
        # predates RESET_STATE resets the state at every run itself
        self.resets = self.has_state and self.client.state_device()
        if self.sequence and not self.resets:
            raise DeviceError(f"the firmware on {link.description} cannot keep the model's state across samples "
                              "(it predates RESET_STATE): rebuild it with this tinygen")
        self.sess.raise_speed(self.link_baud, self.say)
        self.text_tail.clear()                  # from now on: what the firmware prints during the run
        self.report = Report(
            model=graph.name, model_path=self.model_path, sha256=graph.sha256, board=info.board_name or self.board,
            port=link.description, clock_hz=info.clock_hz, samples_requested=self.n, tolerance=float(tolerance),
            device={"model": info.model_name, "board": info.board_name, "fw": info.fw_version,
                    "arena_bytes": info.arena_bytes, "num_layers": info.num_layers})
        self.scales = [(float(t.scale), int(t.zero_point)) if (t.quant is not None and t.dtype != np.float32)
                       else (1.0, 0) for t in graph.output_tensors]
        if self.estimator is not None:
            self.report.cycle_model = self.estimator.describe()
        if self.has_state:
            self.report.state = {"stateful": self.sequence, "bytes": None, "resets": 0}

    # -- recovery ------------------------------------------------------------------------------
    def recover(self, why: str, reopen: bool, resync_timeout: float | None = None) -> None:
        """Re-opens the port if needed, resyncs, checks the model again. A reset or a lost
        port while doing so counts as one more recovery; a device that does not answer
        ends the run (DeviceError naming `why`)."""
        self.good = 0
        while True:
            self.recoveries += 1
            if self.recoveries > self.max_recoveries:
                raise DeviceError(f"{why}; giving up after {self.max_recoveries} recoveries")
            self.say(f"{why}: {'re-opening the port and ' if reopen else ''}resyncing")
            if reopen:
                self._reopen(why)
            again = self._resync(why, resync_timeout or self.sync_timeout, after_reset="reset" in why)
            self.report.recoveries.append(why)
            if again is None:
                return
            why, reopen = again

    def _reopen(self, why: str) -> None:
        try:
            self.link.reopen(self.reconnect_timeout)
        except DeviceError as e:
            raise DeviceError(f"{why}; then {e}") from None

    def _resync(self, why: str, wait: float, after_reset: bool = False):
        """None when the device answers with the right model; (why, reopen) for another
        recovery when it reset again or its port vanished meanwhile."""
        from tinygen.device.protocol import DeviceResetError, PortError, ProtocolError

        try:
            self.client = self.sess.connect(wait, after_reset=after_reset)
            inf = self.client.info()
            self.sess.raise_speed(self.link_baud, self.say)
        except DeviceResetError as e:
            return f"device reset again while resyncing ({e})", False
        except PortError as e:
            return f"serial port lost while resyncing ({_tail(e)})", True
        except DeviceError as e:
            if isinstance(e, ProtocolError):
                raise
            raise DeviceError(f"{why}; then no answer to a resync within {wait:g} s ({_tail(e)})") from None
        _check_device(inf, self.graph, self.model_path, self.link.description)
        self.client.expected_sha256 = bytes.fromhex(self.graph.sha256)
        return None

    def _guarded(self, what: str, fn, *, resync_timeout: float | None = None):
        """fn() -> (True, result), or (False, None) after recovering from a reset, a lost port
        or a request without reply (a ProtocolError is a definite answer: raised)."""
        from tinygen.device.protocol import DeviceResetError, PortError, ProtocolError

        try:
            return True, fn()
        except DeviceResetError as e:
            self.recover(f"device reset during {what} ({e})", reopen=False)
        except PortError as e:
            self.recover(f"serial port lost during {what} ({_tail(e)})", reopen=True)
        except DeviceError as e:
            if isinstance(e, ProtocolError) or resync_timeout is None:
                raise
            # No reply even after the resends (a noisy link, or a reset whose BOOT frame was
            # damaged too): one resync decides whether the device is still there.
            self.recover(f"{what}: {e}", reopen=False, resync_timeout=resync_timeout)
        return False, None

    # -- the run -------------------------------------------------------------------------------
    def run(self, per_layer: bool, progress) -> Report:
        report = self.report
        t_run = time.monotonic()
        try:
            self._samples(progress)
            report.run_s = time.monotonic() - t_run
            if per_layer and report.mismatched_samples:
                self._per_layer(report.mismatched_samples[0])
        except DeviceError as e:
            report.error = str(e)
        except KeyboardInterrupt as e:       # Ctrl-C, or SIGTERM / SIGHUP (tinygen.errors.Terminated)
            signame = getattr(e, "signame", None)
            report.error = f"stopped by {signame}" if signame else "interrupted"
            report.interrupted = True
            report.interrupt_exit = getattr(e, "exit_code", 130)
        if not report.run_s:
            report.run_s = time.monotonic() - t_run
        if report.error and self.text_tail:
            report.device_text = self.text_tail[-5:]
        report.client_stats = self.sess.stats()
        return report

    def _run_sample(self, i: int, sample_inputs):
        if self.resets and (i == 0 or not self.sequence):
            self.report.state["bytes"] = self.client.reset_state()
            self.report.state["resets"] += 1
        return self.client.run(sample_inputs)

    def _samples(self, progress) -> None:
        i = 0
        replay = 0          # a sequence replayed after a recovery: samples below this were already counted
        resync = min(self.sync_timeout, max(2.0, 4 * self.timeout))
        while i < self.n:
            sample_inputs = [x[i].tobytes() for x in self.xs]
            resent0 = self.client.stats["resent"]
            t0 = time.monotonic()
            ok, result = self._guarded(f"sample {i}", lambda: self._run_sample(i, sample_inputs),
                                       resync_timeout=resync)
            if not ok:
                if self.sequence:   # the board's state is lost or uncertain: run the sequence again from its start
                    replay, i = max(replay, i), 0
                continue
            if i < replay:          # replaying the sequence up to where the recovery interrupted it
                i += 1
                continue
            if self.client.stats["resent"] == resent0:
                self._clean_sample(time.monotonic() - t0)
            self._record(i, *result)
            i += 1
            self.good += 1
            if self.good >= RENEW_AFTER:
                self.recoveries = 0          # a device that keeps working earns its budget back
            if progress:
                progress(i, self.n)

    def _clean_sample(self, dt: float) -> None:
        """The run timeout follows the speed of clean samples: a lost RUN reply then costs
        about one inference, not a minute. Resending too early is harmless (the device
        answers the resend from its reply cache once the run is done)."""
        self.clean_dts.append(dt)
        self.sess.run_timeout = self.client.run_timeout = min(60.0, 2.0 * self.timeout
                                                              + 4.0 * max(self.clean_dts[-20:]))

    def _record(self, i: int, raw, cycles) -> None:
        out_tensors = self.graph.output_tensors
        est = self.estimator.last_inference(self.info.num_layers) if self.estimator is not None else None
        self.report.add(_decode_outputs(raw, out_tensors, self.info), _expected_sample(self.expected, i, out_tensors),
                        cycles, self.scales, estimated=est["cycles"] if est else None)

    def _per_layer(self, k: int) -> None:
        self.say(f"sample {k} differs: comparing its layers")
        diff, summary = None, {"note": "per-layer check did not run"}
        for _attempt in range(self.max_recoveries + 1):
            ok, result = self._guarded("the per-layer check", lambda: first_divergent_layer(
                self.client, self.emu, self.graph, [x[k] for x in self.xs], k, self.say,
                prefix=[x[:k] for x in self.xs] if self.sequence else None, reset=bool(self.resets)))
            if ok:
                diff, summary = result
                break
        self.report.first_divergent_layer = diff
        self.report.per_layer = summary


def resolve_link_baud(choice, board) -> int | None:
    """--link-baud: "auto" (the board's max_baud, if it has one), "off"/None, or a rate."""
    from tinygen.boards.catalog import Board, load_board

    if choice in (None, "off", 0):
        return None
    if choice == "auto":
        try:
            b = board if isinstance(board, Board) else load_board(board)
        except TinygenError:
            return None            # a board without data (a labgrid place's, "?"): leave the link as it is
        return b.serial.max_baud
    return int(choice)


def validate(model_path, board: str, *, port: str | None = None, baud: int | None = None,
             project_dir=None, extra_cflags=(), estimate: bool = True, say: Callable[[str], None] = lambda m: None,
             **kw) -> Report:
    """Validates `model_path` on `board`: QEMU (built and started here, with the
    cycle-estimating plugin when `estimate`) for an emulated board without `port`, else the
    firmware already flashed on the board at `port` (or the auto-detected one). Keyword
    arguments go to `validate_link`."""
    from tinygen.model.reader import load_int8_model
    from tinygen.device.target import open_target

    t0 = time.monotonic()
    graph = load_int8_model(model_path)
    with open_target(board, port=port, baud=baud, graph=graph, project_dir=project_dir,
                     extra_cflags=extra_cflags, estimate=estimate, say=say) as link:
        report = validate_link(link, str(model_path), graph, board=board, say=say, **kw)
    report.wall_s = time.monotonic() - t0
    return report


def save_outputs(report: Report, path: str | Path) -> None:
    """Writes the device outputs of the completed samples: OUT.npy [N, *output_shape]
    (output 0) or OUT.npz (output_0, output_1, ...)."""
    path = Path(path)
    if not report.outputs:
        return
    per_output = list(zip(*report.outputs))
    arrays = [np.stack(o) for o in per_output]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    try:
        if path.suffix == ".npz":
            np.savez(tmp, **{f"output_{k}": a for k, a in enumerate(arrays)})
        else:
            np.save(tmp, arrays[0])
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()


# ----------------------------------------------------------------------------- several boards
@dataclass
class TargetResult:
    """One board of a several-board run: its report, or why it could not run."""

    target: str                     # "qemu-stm32f4", "place nucleo-1"
    kind: str                       # "board" or "place"
    report: Report | None = None
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and self.report is not None and self.report.passed

    @property
    def failed_to_run(self) -> bool:
        return self.report is None or bool(self.report.error)

    def as_dict(self) -> dict:
        d = {"target": self.target, "kind": self.kind, "passed": self.passed,
             "error": self.error or (self.report.error if self.report else None)}
        d["report"] = self.report.as_dict() if self.report is not None else None
        return d


def validate_many(model_path, targets: list, *, say: Callable[[str], None] = lambda m: None,
                  **kw) -> list[TargetResult]:
    """Runs the same inputs on several boards at once, one thread per board.

    `targets`: (label, kind, opener) where `opener()` is a context manager giving an open
    Link (and closing it, stopping a QEMU it started, on exit). Keyword arguments go to
    `validate_link`. Ctrl-C closes every link, which ends the runs; the results then carry
    `interrupted` reports or errors, and KeyboardInterrupt is raised again afterwards."""
    import threading

    from tinygen.model.reader import load_int8_model

    graph = load_int8_model(model_path)
    results = [TargetResult(label, kind) for label, kind, _ in targets]
    links: dict = {}
    lock = threading.Lock()
    stopping = threading.Event()

    def work(k: int, opener) -> None:
        res = results[k]
        try:
            with opener() as link:          # may build firmware and start QEMU
                with lock:
                    if stopping.is_set():   # interrupted meanwhile: close (stop QEMU) at once
                        res.error = "interrupted"
                        return
                    links[k] = link
                res.report = validate_link(link, str(model_path), graph, board=res.target,
                                           say=lambda m: say(f"{res.target}: {m}"), **kw)
        except TinygenError as e:
            res.error = str(e)
        except Exception as e:          # a closed link in another thread after Ctrl-C, ...
            res.error = f"{type(e).__name__}: {e}"
        finally:
            with lock:
                links.pop(k, None)

    threads = [threading.Thread(target=work, args=(k, opener), name=f"validate-{label}", daemon=True)
               for k, (label, _kind, opener) in enumerate(targets)]
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(0.2)
    except KeyboardInterrupt:
        with lock:
            stopping.set()
            open_links = list(links.values())
        for link in open_links:             # ends the runs (their reads fail) and stops QEMU
            with contextlib.suppress(Exception):
                link.close()
        deadline = time.monotonic() + 120.0  # a build in progress finishes, then its QEMU is not started
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        for res in results:
            if res.report is None and res.error is None:
                res.error = "interrupted"
        raise
    return results


def format_many(model: str, results: list[TargetResult]) -> str:
    """One row per board and a combined verdict."""
    n_req = max((r.report.samples_requested for r in results if r.report), default=0)
    lines = [f"validate {model} on {len(results)} boards" + (f", {n_req} samples each" if n_req else "")]
    header = ("TARGET", "BOARD", "BIT-EXACT", "MAX|DIFF|", "LATENCY (median)", "RESENT", "RESULT")
    rows = [header] + [_target_row(r) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    for r in results:
        err = r.error or (r.report.error if r.report else None)
        if err:
            lines.append(f"  {r.target}: {err}")
    lines.append(_many_verdict(results))
    return "\n".join(lines)


def _target_row(r: TargetResult) -> tuple:
    """The table row of one target of `format_many`."""
    rep = r.report
    if rep is None:
        return (r.target, "-", "-", "-", "-", "-", "ERROR")
    d = rep.as_dict()
    n = d["samples"]
    lat = "-"
    if n:
        lat = f"{d['latency_cycles']['median']:,} cycles"
        if d["latency_ms"]:
            lat += f" {d['latency_ms']['median']:.3f} ms"
    verdict = "PASS" if rep.passed else ("ERROR" if rep.error else "FAIL")
    return (r.target, rep.board, f"{d['bit_exact_samples']}/{n}" + ("" if n == rep.samples_requested
                                                                   else f" of {rep.samples_requested}"),
            f"{d['max_abs_diff']:g}" if n else "-", lat, str((rep.client_stats or {}).get("resent", 0)),
            verdict)


def _many_verdict(results: list[TargetResult]) -> str:
    ok = sum(r.passed for r in results)
    if ok == len(results):
        return (f"PASS: every output of all {len(results)} boards is bit-exact"
                if not any(r.report.tolerance for r in results) else
                f"PASS: every output of all {len(results)} boards within tolerance")
    bad = [r.target for r in results if not r.passed]
    return f"FAIL: {ok} of {len(results)} boards passed; not: {', '.join(bad)}"
