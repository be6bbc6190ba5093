"""The op registry: each supported op is defined once, here and in its family module.

An op definition (a subclass of `Op`, registered with `@register`) holds:
- `check(g, op)`: Prepare-time checks; raise `UnsupportedOpError(op.index, op.op, "...option...")`
  for any configuration tinygen does not implement. Run once before anything else.
- `prepare(g, op) -> params`: everything that can be computed before inference
  (multipliers and shifts, padding offsets, activation ranges, folded zero-point terms,
  lookup tables). Both the numpy kernel and the C binding use these params, so the
  emulator and the generated C can never disagree.
- `run(p, inputs) -> list[np.ndarray]`: the numpy (host) kernel. Each input array has a
  leading batch axis in front of the tensor's full shape: `(N, *tensor.shape)` for activations,
  `(1, *tensor.shape)` for constants (so they broadcast). Outputs likewise `(N, *shape)`.
  `inputs[i]` is None for an omitted optional input (tensor index -1).
- `macs(g, op) -> int`: multiply-accumulates per inference (for `inspect`).
- `emit_c(p, ctx)`: the C kernel binding used by the code generator (see `tinygen/codegen.py`,
  `EmitContext`): returns the C statements that run the op.
- `scratch_bytes(p) -> int`: bytes of kernel scratch memory the C kernel needs while the op
  runs (the planner gives it a slice of the arena that lives only during this op). Default 0.
- `dtypes`: the activation types the op runs (emulator and C), as listed in docs/ops.md;
  `dsp_dtypes`: the types with a Cortex-M DSP kernel variant.
- class flags: `alias` (output shares input 0's bytes: RESHAPE/SQUEEZE/EXPAND_DIMS),
  `inplace` (element-wise: the output may overwrite input 0 when input 0 dies here).
"""
from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from tinygen.errors import UnsupportedOpError
from tinygen.model.graph import Graph, Operator

REGISTRY: dict[str, "Op"] = {}


def register(cls):
    """Class decorator: instantiate and register an Op under `cls.name` (or each of `cls.names`)."""
    inst = cls()
    for name in getattr(cls, "names", None) or (cls.name,):
        if name in REGISTRY:
            raise RuntimeError(f"op {name} registered twice")
        REGISTRY[name] = inst
    return cls


class Op:
    name: ClassVar[str] = ""
    alias: ClassVar[bool] = False
    inplace: ClassVar[bool] = False
    dtypes: ClassVar[tuple[str, ...]] = ("int8",)
    dsp_dtypes: ClassVar[tuple[str, ...]] = ()

    def check(self, g: Graph, op: Operator) -> None:
        pass

    def prepare(self, g: Graph, op: Operator) -> Any:
        return None

    def run(self, p: Any, inputs: list[np.ndarray | None]) -> list[np.ndarray]:
        raise NotImplementedError

    def macs(self, g: Graph, op: Operator) -> int:
        return 0

    def emit_c(self, p: Any, ctx: Any):
        raise NotImplementedError(f"{self.name}: no C binding yet")

    def scratch_bytes(self, p: Any) -> int:
        return 0


def unsupported(op: Operator, problem: str) -> UnsupportedOpError:
    return UnsupportedOpError(op.index, op.op, problem)


def require(cond: bool, op: Operator, problem: str) -> None:
    """Raise UnsupportedOpError(op, problem) unless cond."""
    if not cond:
        raise unsupported(op, problem)


def require_int8(g: Graph, op: Operator, inputs=(0,), outputs=(0,)) -> None:
    """Activation inputs/outputs (by position) must be per-tensor quantized int8."""
    for role, idxs, tids in (("input", inputs, op.inputs), ("output", outputs, op.outputs)):
        for i in idxs:
            if i >= len(tids) or tids[i] < 0:
                raise unsupported(op, f"missing {role} {i}")
            t = g.tensors[tids[i]]
            require(t.dtype == np.int8, op, f"{role} {i} '{t.name}' is {t.dtype_name}, only int8 is supported")
            require(t.quant is not None, op, f"{role} {i} '{t.name}' has no quantization parameters")
            require(not t.quant.per_channel, op, f"{role} {i} '{t.name}' is per-channel quantized; only per-tensor activations are supported")
