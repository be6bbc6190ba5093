"""The benchmark scripts (benchmarks/*.py) as modules, for the tests that call their functions."""
from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from tests.support.corpus import ROOT


def load_benchmark(name: str) -> ModuleType:
    """benchmarks/NAME.py, imported once under its own name (its dataclasses look their module up)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod
