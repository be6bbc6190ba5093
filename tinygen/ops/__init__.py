"""tinygen's op registry. Importing this package registers every op family."""
from __future__ import annotations

import importlib

from tinygen.errors import UnsupportedOpError
from tinygen.model.graph import Graph
from .base import REGISTRY, Op, register, require, require_int8, unsupported

# One module per op family; each registers its ops with @register.
_FAMILIES = ["shape", "layout", "conv", "fully_connected", "pooling", "elementwise", "activations", "softmax", "reduce", "quantize"]
for _m in _FAMILIES:
    try:
        importlib.import_module(f"{__name__}.{_m}")
    except ModuleNotFoundError as e:  # a family not written yet
        if e.name != f"{__name__}.{_m}":
            raise


def supported_ops() -> list[str]:
    return sorted(REGISTRY)


def get_op(name: str) -> Op | None:
    return REGISTRY.get(name)


def unsupported_ops(g: Graph) -> list[dict]:
    """Every op of the graph tinygen cannot run, with the reason (empty list when all are fine)."""
    problems = []
    for op in g.operators:
        impl = REGISTRY.get(op.op)
        if impl is None:
            problems.append({"index": op.index, "op": op.op, "reason": f"op {op.index} ({op.op}): not supported by tinygen"})
            continue
        try:
            impl.check(g, op)
        except UnsupportedOpError as e:
            problems.append({"index": op.index, "op": op.op, "reason": str(e)})
    return problems


def check_graph(g: Graph) -> None:
    """Raise the first UnsupportedOpError of the graph."""
    for op in g.operators:
        impl = REGISTRY.get(op.op)
        if impl is None:
            raise UnsupportedOpError(op.index, op.op, f"not supported by tinygen (supported: {', '.join(supported_ops())})")
        impl.check(g, op)


__all__ = ["REGISTRY", "Op", "register", "require", "require_int8", "unsupported", "supported_ops", "get_op",
           "unsupported_ops", "check_graph"]
