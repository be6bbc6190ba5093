"""tinygen's op registry. Importing this package registers every op family."""
from __future__ import annotations

import importlib

from tinygen.errors import UnsupportedOpError
from tinygen.model.graph import Graph
from .base import REGISTRY, Op, register, register_variant, require, require_int8, unsupported

# One module per op family; each registers its ops with @register.
_FAMILIES = ["shape", "layout", "conv", "fully_connected", "pooling", "elementwise", "activations", "softmax", "reduce", "quantize", "resize", "conv16", "movement", "select", "compare", "elementwise16", "layout16", "quantize16", "reverse", "recurrent", "arith", "cast", "gather_nd", "update_slice", "svdf", "fxmath", "int32", "shape_args", "batch_matmul"]
_FAMILIES += ["activations16", "softmax16"]  # int16 variants (register_variant: after their base ops)
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


def op_dtypes(g: Graph, op) -> str:
    """The op's activation types, e.g. 'int8 -> int32' or 'int16, int32 -> int16' (constants left out,
    unless every input is constant)."""
    ins = [g.tensors[i] for i in op.inputs if i >= 0]
    acts = [t for t in ins if not t.is_const] or ins

    def names(ts):
        return ", ".join(dict.fromkeys(t.dtype_name for t in ts)) or "none"

    return f"{names(acts)} -> {names([g.tensors[i] for i in op.outputs])}"


def file_index(op) -> int:
    """The op's index in the .tflite file (ops after folded shape arithmetic are renumbered in the Graph)."""
    return op.source_index if getattr(op, "source_index", -1) >= 0 else op.index


def _in_file_terms(op, e: UnsupportedOpError) -> UnsupportedOpError:
    k = file_index(op)
    return e if k == e.op_index else UnsupportedOpError(k, e.op_name, e.problem)


def unsupported_ops(g: Graph) -> list[dict]:
    """Every op of the graph tinygen cannot run, with the reason and its activation types
    (empty list when all are fine)."""
    problems = []
    for op in g.operators:
        impl = REGISTRY.get(op.op)
        dt = op_dtypes(g, op)
        k = file_index(op)
        if impl is None:
            problems.append({"index": k, "op": op.op, "dtypes": dt,
                             "reason": f"op {k} ({op.op}, {dt}): not supported by tinygen"})
            continue
        try:
            impl.check(g, op)
        except UnsupportedOpError as e:
            e = _in_file_terms(op, e)
            problems.append({"index": k, "op": op.op, "dtypes": dt, "reason": f"{e} [{dt}; tinygen runs {op.op} for {', '.join(impl.dtypes)}]"})
    return problems


def check_graph(g: Graph) -> None:
    """Raise the first UnsupportedOpError of the graph."""
    for op in g.operators:
        impl = REGISTRY.get(op.op)
        if impl is None:
            raise UnsupportedOpError(file_index(op), op.op, f"{op_dtypes(g, op)}: not supported by tinygen (supported: {', '.join(supported_ops())}; see docs/ops.md)")
        try:
            impl.check(g, op)
        except UnsupportedOpError as e:
            raise _in_file_terms(op, e) from None


__all__ = ["REGISTRY", "Op", "register", "require", "require_int8", "unsupported", "supported_ops", "get_op",
           "unsupported_ops", "check_graph", "op_dtypes", "file_index"]
