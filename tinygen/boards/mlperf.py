"""MLPerf Tiny benchmark mode: what a benchmark ID means for a model (firmware/mlperf).

    spec = mlperf_spec(graph, "vww01")       # TinygenError (one line) if the model does not fit the ID
    spec.db_bytes                            # bytes the runner loads with `db load N` / `db HEX`
    xs = spec.model_inputs(raw)              # the model input arrays the DUT builds from those bytes
    spec.results(raw, outputs)               # the floats the DUT prints in m-results-[...]
    spec.results_text(raw, outputs)          # ... exactly as printed ("0.996,0.004")

The IDs follow the MLPerf Tiny reference submissions (mlcommons/tiny, benchmark/reference_submissions):

| ID | db bytes | into the model input | m-results |
|---|---|---|---|
| `kws01` | int8 features as sent | int8 input 0 | dequantized outputs |
| `vww01`, `ic01` | uint8 pixels | minus 128 into int8 input 0 | dequantized outputs |
| `ad01` | float32 values | quantized with input 0's scale and zero point (a float32 input takes them as they are) | the mean squared difference between dequantized output 0 and the input (anomaly score) |
| any other name | the raw bytes of every input tensor, in order | as they are | dequantized outputs |

Dequantized means (q - zero_point) * scale in float32 (float32 outputs as they are); printed with
3 decimals, correctly rounded like printf("%.3f").
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from tinygen.errors import TinygenError
from tinygen.model.graph import Graph

STANDARD_IDS = ("kws01", "vww01", "ic01", "ad01")
RAW, U8, F32 = "raw", "uint8-128", "float32"
OUTPUTS, MSE = "outputs", "mse"
_ID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")

# Benchmark -> (input kind, result kind, what the ID stands for)
_KINDS = {
    "kws01": (RAW, OUTPUTS, "keyword spotting"),
    "vww01": (U8, OUTPUTS, "visual wake words"),
    "ic01": (U8, OUTPUTS, "image classification"),
    "ad01": (F32, MSE, "anomaly detection"),
}
DTYPE_CODES = {np.dtype(np.float32): 0, np.dtype(np.int32): 2, np.dtype(np.uint8): 3,
               np.dtype(np.int16): 7, np.dtype(np.int8): 9}


@dataclass(frozen=True)
class MlperfSpec:
    model_id: str
    input_kind: str            # RAW | U8 | F32
    result_kind: str           # OUTPUTS | MSE
    db_bytes: int
    graph: Graph

    @property
    def standard(self) -> bool:
        return self.model_id in _KINDS

    @property
    def task(self) -> str:
        return _KINDS[self.model_id][2] if self.standard else "user benchmark"

    @property
    def metric(self) -> str:
        """The accuracy metric of the benchmark: 'auc' for ad01, else 'top-1'."""
        return "auc" if self.result_kind == MSE else "top-1"

    # -- host-side mirror of the DUT ----------------------------------------------------
    def model_inputs(self, raw: bytes) -> list[np.ndarray]:
        """The model input arrays (model shape and dtype) the DUT builds from `raw` db bytes."""
        raw = bytes(raw)
        if len(raw) != self.db_bytes:
            raise TinygenError(f"{self.model_id}: an input is {self.db_bytes} bytes, got {len(raw)}")
        g = self.graph
        ins = g.input_tensors
        if self.input_kind == RAW:
            out, off = [], 0
            for t in ins:
                out.append(np.frombuffer(raw[off:off + t.nbytes], dtype=t.dtype).reshape(t.shape).copy())
                off += t.nbytes
            return out
        t = ins[0]
        if self.input_kind == U8:
            return [(np.frombuffer(raw, dtype=np.uint8) ^ 0x80).view(np.int8).reshape(t.shape).copy()]
        x = np.frombuffer(raw, dtype="<f4")
        if t.dtype == np.float32:
            return [x.reshape(t.shape).copy()]
        return [quantize_like_dut(x, t.scale, t.zero_point).reshape(t.shape)]

    def results(self, raw: bytes, outputs: list[np.ndarray]) -> list[float]:
        """The float32 values the DUT prints after inferring `raw` with these outputs."""
        g = self.graph
        if self.result_kind == MSE:
            deq = dequantize(outputs[0], g.output_tensors[0]).reshape(-1)
            x = np.frombuffer(bytes(raw), dtype="<f4")
            total = np.float32(0)
            for a, b in zip(deq, x):          # the DUT's order and float32 arithmetic, no FMA
                d = np.float32(a - b)
                total = np.float32(total + np.float32(d * d))
            return [float(np.float32(total / np.float32(len(deq))))]
        vals = []
        for o, t in zip(outputs, g.output_tensors):
            vals += [float(v) for v in dequantize(o, t).reshape(-1)]
        return vals

    def results_text(self, raw: bytes, outputs: list[np.ndarray]) -> str:
        return ",".join(format_f3(v) for v in self.results(raw, outputs))


def format_f3(v: float) -> str:
    """printf("%.3f") of a float32 value, as the DUT prints it ("nan", "inf" beyond 1e15)."""
    v = float(np.float32(v))
    if v != v:
        return "nan"
    if abs(v) > float(np.float32(1.0e15)):
        return ("-" if v < 0 else "") + "inf"
    return f"{v:.3f}"


def quantize_like_dut(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """float32 -> int8 as the ad01 DUT does (TFLite Micro's QuantizeFloatToInt8): round(x / scale)
    half away from zero in float32, plus the zero point, clamped to int8."""
    q = np.asarray(x, dtype=np.float32) / np.float32(scale)
    q = np.nan_to_num(q, nan=0.0, posinf=1000.0, neginf=-1000.0).astype(np.float64)
    q = np.clip(q, -1000.0, 1000.0)
    r = np.sign(q) * np.floor(np.abs(q) + 0.5)
    return np.clip(r + int(zero_point), -128, 127).astype(np.int8)


def dequantize(a: np.ndarray, t) -> np.ndarray:
    """Output values as the DUT computes them: float32((q - zero_point)) * float32(scale)."""
    a = np.asarray(a)
    if a.dtype == np.float32:
        return a.astype(np.float32)
    if a.dtype in (np.int8, np.uint8, np.int16):
        scale = np.float32(t.scale) if t.quant is not None else np.float32(0.0)
        if a.dtype == np.int16 and scale == 0:
            scale = np.float32(1.0)
        zp = int(t.zero_point) if t.quant is not None else 0
        return (a.astype(np.int32) - zp).astype(np.float32) * scale
    return a.astype(np.float32)


def mlperf_spec(graph: Graph, model_id: str) -> MlperfSpec:
    """The benchmark spec of `graph` as `model_id`; one-line TinygenError when they do not match."""
    if not _ID.match(model_id or ""):
        raise TinygenError(f"--mlperf {model_id!r}: give kws01, vww01, ic01, ad01 or a name of your own "
                           "(letters, digits, '_', '.', '-'; at most 32)")
    ins, outs = graph.input_tensors, graph.output_tensors
    for t in list(ins) + list(outs):
        if np.dtype(t.dtype) not in DTYPE_CODES:
            raise TinygenError(f"--mlperf: tensor '{t.name}' has dtype {t.dtype_name}; "
                               "the MLPerf firmware handles int8, uint8, int16, int32 and float32")
    if model_id not in _KINDS:
        return MlperfSpec(model_id, RAW, OUTPUTS, int(sum(t.nbytes for t in ins)), graph)
    kind, result, task = _KINDS[model_id]
    if len(ins) != 1:
        raise TinygenError(f"--mlperf {model_id} ({task}) needs a model with one input, this one has {len(ins)}; "
                           "use a name of your own for the raw input bytes")
    t = ins[0]
    if kind in (RAW, U8) and t.dtype != np.int8:
        raise TinygenError(f"--mlperf {model_id} ({task}) needs an int8 input, this model's is {t.dtype_name} "
                           f"{list(t.shape)}; use a name of your own (e.g. --mlperf {model_id}f) to send "
                           "the raw input bytes")
    if kind == F32:
        if t.dtype not in (np.int8, np.float32):
            raise TinygenError(f"--mlperf ad01 needs an int8 or float32 input, this model's is {t.dtype_name}")
        if outs[0].size != t.size:
            raise TinygenError(f"--mlperf ad01 (anomaly detection) scores the reconstruction error: output 0 must "
                               f"have as many values as input 0 ({outs[0].size} vs {t.size})")
        return MlperfSpec(model_id, F32, result, int(t.size * 4), graph)
    return MlperfSpec(model_id, kind, result, int(t.size), graph)


__all__ = ["DTYPE_CODES", "F32", "MSE", "MlperfSpec", "OUTPUTS", "RAW", "STANDARD_IDS", "U8", "dequantize",
           "format_f3", "mlperf_spec", "quantize_like_dut"]
