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
- `kernel_variant(p, target) -> KernelVariant`: which C kernel variant runs the op on a target
  (`DSP_SHORTCUT`, `DSP_EXACT`, `C99`, ...), why, and its scratch bytes; `inspect`, `generate` and
  benchmarks/mcu_bench.py show it. Default: the portable C99 kernel.
- class flags: `alias` (output shares input 0's bytes: RESHAPE/SQUEEZE/EXPAND_DIMS),
  `inplace` (element-wise: the output may overwrite input 0 when input 0 dies here).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from tinygen.errors import UnsupportedOpError
from tinygen.model.graph import Graph, Operator

REGISTRY: dict[str, "Op"] = {}

# Kernel variant names (KernelVariant.name)
C99 = "c99"  # the portable C99 kernel
DSP_SHORTCUT = "dsp-shortcut"  # Cortex-M DSP kernel, SMMULR requantization shortcut proved exact
DSP_EXACT = "dsp-exact"  # Cortex-M DSP kernel, exact SMLAL requantization (tg_rqx_dsp)
DSP = "dsp"  # Cortex-M DSP kernel without a requantization choice (e.g. element-wise)
MVE = "mve"  # Helium (MVE) kernel of Cortex-M55/M85 (firmware/kernels/tg_mve.c)

# CPUs (generate --target names, board `core`) whose compilers define __ARM_FEATURE_DSP: the kernels
# compile their DSP variants there. None (no target given) counts as a DSP target.
DSP_CORES = ("cortex-m4", "cortex-m7", "cortex-m33", "cortex-m35p", "cortex-m55", "cortex-m85")


# CPUs whose compilers define __ARM_FEATURE_MVE (integer Helium): the kernels compile their MVE
# variants there (tg_mve.h), and the generator lays depthwise parameters out for them.
MVE_CORES = ("cortex-m55", "cortex-m85")


def _core_of(target: str | None) -> str:
    """A CPU name from a target: a core (`cortex-m55`) or a board id ending in one (`qemu-cortex-m55`)."""
    t = str(target).lower()
    for core in DSP_CORES:
        if t == core or t.endswith("-" + core):
            return core
    return t


def target_has_dsp(target: str | None) -> bool:
    return target is None or _core_of(target) in DSP_CORES


def target_has_mve(target: str | None) -> bool:
    """Does `target` (a CPU, or a board id ending in one) compile the Helium kernels? None: no (a
    Cortex-M with the DSP extension)."""
    return target is not None and _core_of(target) in MVE_CORES


@dataclass(frozen=True)
class KernelVariant:
    """The C kernel variant an op runs with on a target (Op.kernel_variant)."""

    name: str  # C99, DSP_SHORTCUT, DSP_EXACT, DSP, ...
    reason: str  # why this variant (for the C99 path on a DSP target: what keeps the DSP kernel off)
    scratch: int  # bytes of kernel scratch planned in the arena for the op

    @property
    def variant(self) -> str:
        return self.name

    @property
    def scratch_bytes(self) -> int:
        return self.scratch

    @property
    def dsp(self) -> bool:
        return self.name.startswith("dsp")

    def as_dict(self) -> dict:
        return {"variant": self.name, "reason": self.reason, "scratch_bytes": int(self.scratch)}


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

    def grow_scratch(self, p: Any, room: int):
        """Offer a faster setting of params `p` that needs more kernel scratch, at most `room` bytes in all:
        switch `p` to it in place and return a callable that undoes the switch, or None (nothing faster, or no
        room). plan_memory calls it to put kernel scratch into holes the plan leaves free (the arena must
        not grow)."""
        return None

    def for_speed(self, p: Any) -> Any:
        """Params `p` for `generate --optimize speed`: the op's fastest kernel where its default trades speed for
        code size (a copy; `p` itself where nothing changes)."""
        return p

    def kernel_variant(self, p: Any, target: str | None = None) -> KernelVariant:
        """The C kernel variant that runs this op (prepared params `p`) when the generated code is
        compiled for `target` (a CPU name: `generate --target`, a board's core; None: a Cortex-M
        with the DSP extension): name, reason, and the kernel scratch bytes in the arena (planned
        whatever the target: the generated code is the same for every CPU)."""
        return KernelVariant(C99, "portable C kernel (no DSP variant for this op)", self.scratch_bytes(p))


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


def padded_shape(shape, rank: int) -> tuple:
    """shape with leading 1s up to rank (numpy's alignment of broadcast shapes)."""
    return (1,) * (rank - len(shape)) + tuple(int(d) for d in shape)


def require_broadcast(op: Operator, t0, t1, to) -> None:
    """The output tensor's shape is the numpy broadcast of the two input tensors' shapes."""
    try:
        b = tuple(np.broadcast_shapes(tuple(t0.shape), tuple(t1.shape)))
    except ValueError:
        b = None
    require(b is not None and b == tuple(to.shape), op,
            f"output shape {list(to.shape)} is not the broadcast of {list(t0.shape)} and {list(t1.shape)}")


# ---------------------------------------------------------------- per-dtype variants of one builtin


class VariantParams:
    """Params of a variant implementation (see DtypeDispatch): the variant and its own params."""

    __slots__ = ("impl", "p")

    def __init__(self, impl: "Op", p: Any):
        self.impl, self.p = impl, p

    def __repr__(self) -> str:
        return f"VariantParams({type(self.impl).__name__}, {self.p!r})"


class DtypeDispatch(Op):
    """One builtin with several implementations, chosen by the type of the op's input 0: the
    registered (int8) op plus variants from other family modules (`register_variant`), so that
    e.g. the 16x8 kernels live apart from the int8 ones. The base op's params pass through as
    they are; a variant's are wrapped in VariantParams."""

    def __init__(self, base: Op):
        self.base = base
        self.variants: dict[str, Op] = {}
        self.name = base.name

    def _pick(self, g: Graph, op: Operator) -> Op:
        if op.inputs and op.inputs[0] >= 0:
            return self.variants.get(g.tensors[op.inputs[0]].dtype_name, self.base)
        return self.base

    @property
    def dtypes(self):  # type: ignore[override]
        out = list(self.base.dtypes)
        for v in self.variants.values():
            out += [d for d in v.dtypes if d not in out]
        return tuple(out)

    @property
    def dsp_dtypes(self):  # type: ignore[override]
        out = list(self.base.dsp_dtypes)
        for v in self.variants.values():
            out += [d for d in v.dsp_dtypes if d not in out]
        return tuple(out)

    @property
    def alias(self):  # type: ignore[override]
        return self.base.alias

    @property
    def inplace(self):  # type: ignore[override]
        return self.base.inplace or any(v.inplace for v in self.variants.values())

    def is_inplace(self, g, op) -> bool:
        impl = self._pick(g, op)
        if not impl.inplace:
            return False
        return impl.is_inplace(g, op) if hasattr(impl, "is_inplace") else True

    def check(self, g, op):
        self._pick(g, op).check(g, op)

    def prepare(self, g, op):
        impl = self._pick(g, op)
        p = impl.prepare(g, op)
        return p if impl is self.base else VariantParams(impl, p)

    def run(self, p, inputs):
        return p.impl.run(p.p, inputs) if isinstance(p, VariantParams) else self.base.run(p, inputs)

    def macs(self, g, op):
        return self._pick(g, op).macs(g, op)

    def emit_c(self, p, ctx):
        return p.impl.emit_c(p.p, ctx) if isinstance(p, VariantParams) else self.base.emit_c(p, ctx)

    def scratch_bytes(self, p):
        return p.impl.scratch_bytes(p.p) if isinstance(p, VariantParams) else self.base.scratch_bytes(p)

    def grow_scratch(self, p, room):
        return p.impl.grow_scratch(p.p, room) if isinstance(p, VariantParams) else self.base.grow_scratch(p, room)

    def for_speed(self, p):
        return VariantParams(p.impl, p.impl.for_speed(p.p)) if isinstance(p, VariantParams) else self.base.for_speed(p)

    def kernel_variant(self, p, target=None):
        if isinstance(p, VariantParams):
            return p.impl.kernel_variant(p.p, target)
        return self.base.kernel_variant(p, target)

    def __getattr__(self, name):  # anything else the base op offers (helpers tests or benchmarks use)
        if name in ("base", "variants"):
            raise AttributeError(name)
        return getattr(self.base, name)


def register_variant(name: str, dtype: str):
    """Class decorator: the implementation of builtin `name` for models whose input 0 is `dtype`."""

    def deco(cls):
        inst = cls()
        cur = REGISTRY.get(name)
        if cur is None:
            raise RuntimeError(f"register_variant({name}): register the base op first")
        if not isinstance(cur, DtypeDispatch):
            cur = REGISTRY[name] = DtypeDispatch(cur)
        if dtype in cur.variants:
            raise RuntimeError(f"op {name} variant {dtype} registered twice")
        cur.variants[dtype] = inst
        return cls

    return deco
