"""The corpus of real, trained, public models in `../shared/models` (never copied into the repository).

    from tests.support.corpus import corpus_dir, corpus_models
    for m in corpus_models():          # sorted by file name
        m.name, m.path, m.info          # info: the model's entry of models.json (ops, I/O, MACs, source, ...)
        m.supported, m.reason           # decided by tinygen itself: reader + int8 check + the op registry
        m.unsupported_ops               # [(op index, op name), ...] that stop it

The folder is `$TINYGEN_MODELS`, else `<repository>/../shared/models`, else `/work/shared/models`.
`corpus_dir()` returns None when none of them exists; tests then skip with `SKIP_REASON`.

"Supported" is not a list kept here: a model is supported when tinygen reads it, accepts it as a
full-integer model and every op passes its registry check (`tinygen.ops.check_graph`). A model refused
today (an op, a dtype or a configuration tinygen does not implement yet) becomes supported, and is tested
end to end, as soon as tinygen learns what it needs.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FALLBACK = Path("/work/shared/models")
SKIP_REASON = ("corpus of real models not found: set TINYGEN_MODELS to the folder holding models.json "
               "(default <repository>/../shared/models)")


def corpus_dir() -> Path | None:
    env = os.environ.get("TINYGEN_MODELS")
    candidates = [Path(env)] if env else [ROOT.parent / "shared" / "models", FALLBACK]
    for c in candidates:
        if (c / "models.json").is_file():
            return c
    return None


@dataclass
class CorpusModel:
    name: str  # file stem, also a C identifier
    path: Path
    info: dict
    supported: bool = False
    reason: str = ""  # why tinygen refuses it ("" when supported)
    unsupported_ops: list[tuple[int, str]] = field(default_factory=list)

    @property
    def macs(self) -> int:
        return int(self.info.get("macs", 0))

    @property
    def weight_bytes(self) -> int:
        return int(self.info.get("weights_bytes", 0)) + int(self.info.get("bias_bytes", 0))


def _classify(m: CorpusModel) -> None:
    from tinygen.errors import TinygenError, UnsupportedOpError
    from tinygen.model.reader import load_int8_model
    from tinygen.ops import unsupported_ops

    try:
        g = load_int8_model(m.path)
    except UnsupportedOpError as e:
        m.reason, m.unsupported_ops = str(e), [(e.op_index, e.op_name)]
        return
    except TinygenError as e:
        m.reason = str(e)
        hit = re.search(r"op (\d+) \(([A-Z0-9_]+)[,)]", str(e))
        m.unsupported_ops = [(int(hit.group(1)), hit.group(2))] if hit else []
        return
    problems = unsupported_ops(g)
    if problems:
        m.reason = "; ".join(p["reason"] for p in problems)
        m.unsupported_ops = [(p["index"], p["op"]) for p in problems]
        return
    m.supported = True


@lru_cache(maxsize=None)
def _load(folder: str) -> tuple[CorpusModel, ...]:
    d = Path(folder)
    info = {e["file"]: e for e in json.loads((d / "models.json").read_text())["models"]}
    out = []
    for p in sorted(d.glob("*.tflite")):
        m = CorpusModel(name=p.stem, path=p, info=info.get(p.name, {}))
        _classify(m)
        out.append(m)
    return tuple(out)


def corpus_models() -> list[CorpusModel]:
    """Every .tflite of the corpus (empty when the folder is absent)."""
    d = corpus_dir()
    return list(_load(str(d))) if d is not None else []


def corpus_model(name: str) -> CorpusModel | None:
    return next((m for m in corpus_models() if m.name == name or m.path.name == name), None)


def golden(m: CorpusModel) -> tuple[list, list] | None:
    """The model's reference data from the corpus's testdata/ (TFLM's integration-test CSVs): (inputs,
    expected outputs), flat numpy arrays in the model's I/O order, or None when it has none."""
    import numpy as np

    files = [m.path.parent / f for f in m.info.get("testdata") or []]
    if not files:
        return None

    def load(p: Path):
        dtype = np.dtype(p.stem.rsplit("_", 1)[-1])
        return np.array([int(v) for v in p.read_text().replace("\n", ",").split(",") if v.strip()], dtype=dtype)

    ins = sorted((p for p in files if re.search(r"_input\d+_", p.name)),
                 key=lambda p: int(re.search(r"_input(\d+)_", p.name).group(1)))
    outs = [p for p in files if "_golden" in p.name]
    return [load(p) for p in ins], [load(p) for p in outs]
