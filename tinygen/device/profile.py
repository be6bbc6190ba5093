"""Per-layer cycle counts read from the board (`tinygen profile`).

    from tinygen.device.profile import profile
    prof = profile("kws.tflite", "qemu-cortex-m4", runs=5)
    prof.layer_cycles()          # median per layer over the runs
    prof.as_dict()

Runs the model `runs` times on random inputs (fixed seed) over the serial protocol
(docs/protocol.md) and after each run pages through the firmware's per-layer cycle
counts (PROFILE, 127 layers per reply). The firmware times each op between its
`tg_on_layer()` hooks; the whole inference (INFER_RUN's count, what `validate` reports)
also holds the hooks themselves and the glue code between ops, so the layers sum to a
little less than the whole: `overhead_cycles` says how much.

On an emulated board started here with the cycle-estimating QEMU plugin
(`tinygen.boards.cycle_model`), each run also carries the plugin's estimate of Cortex-M4
core cycles for the whole inference and for each layer.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from tinygen.errors import DeviceError, TinygenError

DEFAULT_RUNS = 5
MAX_RECOVERIES = 3


@dataclass
class ProfileRun:
    total: int                                  # INFER_RUN's cycle count (the whole inference)
    layers: list                                # per-layer counts (PROFILE)
    estimate: dict | None = None                # cycle-model figures (QEMU plugin), see cycle_model.Window


def _median(values) -> float:
    m = float(np.median(np.asarray(values, dtype=np.float64)))
    return int(m) if m == int(m) else m


@dataclass
class Profile:
    model: str
    model_path: str
    sha256: str
    board: str
    port: str
    clock_hz: int
    emulated: bool
    num_layers: int
    runs: list = field(default_factory=list)    # ProfileRun per completed run
    recoveries: list = field(default_factory=list)
    wall_s: float = 0.0
    cycle_model: dict | None = None             # the timing table's name/sources, when estimated

    @property
    def cycle_unit(self) -> str:
        return "instructions" if self.emulated else "cycles"

    def total_cycles(self) -> float:
        return _median([r.total for r in self.runs])

    def layer_cycles(self) -> list:
        """Median per layer over the runs."""
        return [_median([r.layers[k] for r in self.runs]) for k in range(self.num_layers)]

    def estimated(self) -> bool:
        return bool(self.runs) and all(r.estimate is not None for r in self.runs)

    def total_cycles_estimated(self) -> float | None:
        if not self.estimated():
            return None
        return _median([r.estimate["cycles"] for r in self.runs])

    def layer_cycles_estimated(self) -> list | None:
        if not self.estimated():
            return None
        return [_median([r.estimate["layers"][k]["cycles"] for r in self.runs]) for k in range(self.num_layers)]

    def as_dict(self) -> dict:
        total = self.total_cycles() if self.runs else None
        layers = self.layer_cycles() if self.runs else []
        s = sum(layers)
        d = {
            "model": self.model,
            "model_path": self.model_path,
            "sha256": self.sha256,
            "board": self.board,
            "port": self.port,
            "clock_hz": self.clock_hz,
            "emulated": self.emulated,
            "cycle_unit": self.cycle_unit,
            "runs": len(self.runs),
            "num_layers": self.num_layers,
            "total_cycles": total,
            "total_cycles_per_run": [r.total for r in self.runs],
            "layer_cycles": layers,
            "layer_cycles_sum": s,
            "overhead_cycles": (total - s) if total is not None else None,
            "recoveries": self.recoveries,
            "wall_s": round(self.wall_s, 3),
        }
        if self.estimated():
            d["total_cycles_estimated"] = self.total_cycles_estimated()
            d["layer_cycles_estimated"] = self.layer_cycles_estimated()
            d["total_instructions_plugin"] = _median([r.estimate["instructions"] for r in self.runs])
            d["cycle_model"] = self.cycle_model
        return d


def profile_link(link, model_path: str, graph=None, *, board: str = "?", runs: int = DEFAULT_RUNS, seed: int = 0,
                 timeout: float = 2.0, retries: int | None = None, sync_timeout: float = 10.0,
                 progress: Callable[[int, int], None] | None = None,
                 say: Callable[[str], None] = lambda m: None) -> Profile:
    """Profiles over an open `tinygen.device.target.Link`. Raises DeviceError (one line)
    when the board cannot be profiled."""
    from tinygen.device.protocol import DEFAULT_RETRIES, Client, DeviceResetError
    from tinygen.device.validate import _check_device, random_inputs
    from tinygen.model.reader import load_int8_model

    if runs < 1:
        raise TinygenError("--runs must be at least 1")
    t_start = time.monotonic()
    graph = graph if graph is not None else load_int8_model(model_path)
    xs = random_inputs(graph, runs, seed)
    client = Client(link.serial, timeout=timeout, retries=DEFAULT_RETRIES if retries is None else retries)
    client.sync(sync_timeout)
    info = client.info()
    _check_device(info, graph, model_path, link.description)
    client.expected_sha256 = bytes.fromhex(graph.sha256)
    if info.num_layers != len(graph.operators):
        raise DeviceError(f"the board reports {info.num_layers} layers, the model has {len(graph.operators)} ops")
    estimator = getattr(link, "estimator", None)
    prof = Profile(model=graph.name, model_path=str(model_path), sha256=graph.sha256,
                   board=info.board_name or board, port=link.description, clock_hz=info.clock_hz,
                   emulated=bool(getattr(link, "emulated", False)) or (info.board_name or board).startswith("qemu-"),
                   num_layers=info.num_layers,
                   cycle_model=estimator.describe() if estimator is not None else None)
    # a model with state (LSTM, SVDF): every run from the reset state, as validate's samples by default
    from tinygen.boards.project import has_state

    resets = has_state(graph) and client.state_device()
    i = 0
    while i < runs:
        try:
            if resets:
                client.reset_state()
            _outs, total = client.run([x[i].tobytes() for x in xs])
            layers = client.profile()
        except DeviceResetError as e:
            if len(prof.recoveries) >= MAX_RECOVERIES:
                raise DeviceError(f"device reset during run {i} ({e}); giving up after "
                                  f"{MAX_RECOVERIES} recoveries") from None
            say(f"device reset during run {i}: resyncing")
            prof.recoveries.append(f"device reset during run {i}")
            client.sync(sync_timeout)
            continue
        if len(layers) != prof.num_layers:
            raise DeviceError(f"PROFILE returned {len(layers)} layers, INFO said {prof.num_layers}")
        est = None
        if estimator is not None:
            est = estimator.last_inference(prof.num_layers)
        prof.runs.append(ProfileRun(total=int(total), layers=[int(c) for c in layers], estimate=est))
        i += 1
        if progress:
            progress(i, runs)
    prof.wall_s = time.monotonic() - t_start
    return prof


def profile(model_path, board: str, *, port: str | None = None, baud: int | None = None, project_dir=None,
            estimate: bool = True, say: Callable[[str], None] = lambda m: None, **kw) -> Profile:
    """Profiles `model_path` on `board`: QEMU (built and started here, with the
    cycle-estimating plugin when `estimate`) for an emulated board without `port`, else the
    firmware already flashed on the board at `port` (or the auto-detected one)."""
    from tinygen.device.target import open_target
    from tinygen.model.reader import load_int8_model

    t0 = time.monotonic()
    graph = load_int8_model(model_path)
    with open_target(board, port=port, baud=baud, graph=graph, project_dir=project_dir, estimate=estimate,
                     say=say) as link:
        prof = profile_link(link, str(model_path), graph, board=board, say=say, **kw)
    prof.wall_s = time.monotonic() - t0
    return prof
