"""Helpers around the `tflite_micro` package (TFLite Micro's reference interpreter).

Used for `convert --tflm` (arena suggestion) and benchmarks (TFLM's arena vs
tinygen's). TFLM can crash the process on a too-small arena, so measurements
run in a subprocess.
"""
from __future__ import annotations

import re
import subprocess
import sys
import tempfile

from tinygen.errors import ToolError

_PROBE = r"""
import sys
from tflite_micro import runtime
data = open(sys.argv[1], 'rb').read()
it = runtime.Interpreter.from_bytes(data, arena_size=int(sys.argv[2]))
it.print_allocations()
"""


def tflm_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("tflite_micro") is not None


def tflm_arena_bytes(model_bytes: bytes, timeout: float = 120.0) -> int:
    """Arena bytes TFLite Micro allocates for this model (host build, 64-bit pointers).

    The recording allocator's total; 32-bit targets need slightly less.
    """
    if not tflm_available():
        raise ToolError("measuring TFLite Micro's arena needs the tflite-micro package: pip install 'tinygen[test]'")
    with tempfile.NamedTemporaryFile(suffix=".tflite") as f:
        f.write(model_bytes)
        f.flush()
        arena = max(1 << 20, 8 * len(model_bytes))
        for _ in range(3):
            r = subprocess.run([sys.executable, "-c", _PROBE, f.name, str(arena)], capture_output=True, text=True,
                               timeout=timeout)
            m = re.search(r"Arena allocation total (\d+) bytes", r.stdout + r.stderr)
            if r.returncode == 0 and m:
                return int(m.group(1))
            arena *= 8
    raise ToolError("TFLite Micro could not allocate this model (see `tinygen inspect` for unsupported ops)")
