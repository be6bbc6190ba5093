"""Per-op statistics of a Graph: MACs, weight bytes, activation bytes, support status."""
from __future__ import annotations

from dataclasses import dataclass, field

from tinygen.model.graph import Graph, Tensor
from tinygen.ops import REGISTRY, file_index, supported_ops, unsupported_ops


@dataclass
class OpStats:
    index: int
    op: str
    version: int
    inputs: list[list[int]]
    outputs: list[list[int]]
    macs: int
    weight_bytes: int
    activation_bytes: int
    supported: bool
    kernel: str = "-"  # C kernel variant on a Cortex-M with the DSP extension (Op.kernel_variant)
    kernel_reason: str = ""
    scratch_bytes: int = 0
    folded: bool = False


@dataclass
class ModelStats:
    name: str
    sha256: str
    size_bytes: int
    ops: list[OpStats]
    inputs: list[dict]
    outputs: list[dict]
    macs: int
    params_bytes: int
    largest_activation_bytes: int
    unsupported_ops: list[dict]
    supported_ops: list[str] = field(default_factory=list)
    arena_bytes: int | None = None
    arena_lower_bound_bytes: int | None = None
    folded_ops: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # inconsistencies the reader tolerated (as TFLM does)

    def to_dict(self) -> dict:
        d = {
            "name": self.name,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "ops": [
                {"index": o.index, "op": o.op, "version": o.version, "inputs": o.inputs, "outputs": o.outputs,
                 "macs": o.macs, "weight_bytes": o.weight_bytes, "activation_bytes": o.activation_bytes,
                 "supported": o.supported, "kernel": o.kernel, "kernel_reason": o.kernel_reason,
                 "scratch_bytes": o.scratch_bytes, "folded": o.folded}
                for o in self.ops
            ],
            "inputs": self.inputs,
            "outputs": self.outputs,
            "macs": self.macs,
            "params_bytes": self.params_bytes,
            "largest_activation_bytes": self.largest_activation_bytes,
            "unsupported_ops": self.unsupported_ops,
            "supported_ops": self.supported_ops,
            "folded_ops": self.folded_ops,
            "notes": self.notes,
        }
        if self.arena_bytes is not None:
            d["arena_bytes"] = self.arena_bytes
            d["arena_lower_bound_bytes"] = self.arena_lower_bound_bytes
        return d


def tensor_info(t: Tensor) -> dict:
    q = t.quant
    return {
        "name": t.name,
        "shape": list(t.shape),
        "dtype": t.dtype_name,
        "scale": float(q.scale[0]) if q is not None else None,
        "zero_point": int(q.zero_point[0]) if q is not None else None,
    }


def model_stats(g: Graph) -> ModelStats:
    problems = unsupported_ops(g)
    ops = _op_stats(g, {p["index"] for p in problems})
    const_ids = {i for op in g.operators for i in op.inputs if i >= 0 and g.tensors[i].is_const}
    acts = [t.nbytes for t in g.tensors if not t.is_const]
    stats = ModelStats(
        name=g.name, sha256=g.sha256, size_bytes=len(g.model_bytes), ops=ops,
        inputs=[tensor_info(t) for t in g.input_tensors],
        outputs=[tensor_info(t) for t in g.output_tensors],
        macs=sum(o.macs for o in ops),
        params_bytes=sum(g.tensors[i].nbytes for i in const_ids),
        largest_activation_bytes=max(acts, default=0),
        unsupported_ops=problems,
        supported_ops=supported_ops(),
        folded_ops=[{"index": file_index(o), "op": o.op} for o in g.folded],
        notes=list(g.notes),
    )
    if not problems:
        _add_plan(g, stats)
    return stats


def _op_stats(g: Graph, bad: set[int]) -> list[OpStats]:
    """Every op of the file, in file order (folded ones too, flagged), with its cost."""
    folded = {id(op) for op in g.folded}
    ops = []
    for op in sorted(g.operators + g.folded, key=file_index):
        impl = REGISTRY.get(op.op)
        k = file_index(op)
        macs = 0
        if impl is not None and k not in bad and id(op) not in folded:
            macs = int(impl.macs(g, op))
        ins = g.op_inputs(op)
        ops.append(OpStats(
            index=k, op=op.op, version=op.version,
            inputs=[list(t.shape) for t in ins if t is not None and not t.is_const],
            outputs=[list(t.shape) for t in g.op_outputs(op)],
            macs=macs,
            weight_bytes=sum(t.nbytes for t in ins if t is not None and t.is_const),
            activation_bytes=sum(t.nbytes for t in g.op_outputs(op)),
            supported=k not in bad,
            folded=id(op) in folded,
        ))
    return ops


def _add_plan(g: Graph, stats: ModelStats) -> None:
    """The planned arena and every op's kernel variant and scratch (a model tinygen supports)."""
    from tinygen.codegen.planner import plan_memory

    params = [REGISTRY[op.op].prepare(g, op) for op in g.operators]
    plan = plan_memory(g, params)
    stats.arena_bytes = int(plan.arena_bytes)
    stats.arena_lower_bound_bytes = int(plan.lower_bound_bytes)
    kept = [o for o in stats.ops if not o.folded]  # g.operators, in order
    for o, k in zip(kept, kernel_info(g, plan, params=params)):
        o.kernel, o.kernel_reason, o.scratch_bytes = k["kernel"], k["kernel_reason"], k["scratch_bytes"]


def _fmt_shapes(shapes: list[list[int]]) -> str:
    return " ".join("x".join(map(str, s)) if s else "scalar" for s in shapes)


def _fmt_q(d: dict) -> str:
    if d["scale"] is None:
        return d["dtype"]
    return f"{d['dtype']} scale={d['scale']:.6g} zp={d['zero_point']}"


def format_table(s: ModelStats) -> str:
    rows = [("#", "op", "v", "inputs", "outputs", "MACs", "weights B", "out B", "kernel (M4)", "scratch B", "")]
    for o in s.ops:
        rows.append((str(o.index), o.op, str(o.version), _fmt_shapes(o.inputs), _fmt_shapes(o.outputs),
                     f"{o.macs:,}", f"{o.weight_bytes:,}", f"{o.activation_bytes:,}", o.kernel,
                     f"{o.scratch_bytes:,}" if o.scratch_bytes else "",
                     "folded" if o.folded else "" if o.supported else "UNSUPPORTED"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    right = {0, 2, 5, 6, 7, 9}
    lines = [f"model {s.name}  ({s.size_bytes:,} bytes, sha256 {s.sha256[:16]}...)", ""]
    for k, r in enumerate(rows):
        lines.append("  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths).rstrip())
    lines.append("")
    lines.append(f"total MACs             {s.macs:,}")
    lines.append(f"parameter bytes        {s.params_bytes:,}")
    lines.append(f"largest activation     {s.largest_activation_bytes:,} bytes")
    if s.arena_bytes is not None:
        lines.append(f"arena (planned)        {s.arena_bytes:,} bytes (lower bound {s.arena_lower_bound_bytes:,})")
    lines.extend(_kernel_lines(s))
    lines.append("")
    for kind, items in (("input", s.inputs), ("output", s.outputs)):
        for i, d in enumerate(items):
            lines.append(f"{kind} {i}: {d['name']}  {'x'.join(map(str, d['shape']))}  {_fmt_q(d)}")
    lines.append("")
    lines.extend(_support_lines(s))
    lines.append(f"tinygen supports: {', '.join(s.supported_ops)}")
    return "\n".join(lines)


def _kernel_lines(s: ModelStats) -> list[str]:
    """Which kernel variants the MAC ops got, and why any runs the C99 kernel."""
    mac_ops = [o for o in s.ops if o.kernel != "-" and o.macs]
    if not mac_ops:
        return []
    counts: dict[str, int] = {}
    for o in mac_ops:
        counts[o.kernel] = counts.get(o.kernel, 0) + 1
    lines = ["kernels (Cortex-M4/M7/M33) " + ", ".join(f"{n} {k}" for k, n in counts.items())
             + f"; scratch up to {max(o.scratch_bytes for o in s.ops):,} bytes (--json: every op's reason)"]
    lines.extend(f"  op {o.index} {o.op} runs the C99 kernel: {o.kernel_reason}"
                 for o in mac_ops if not o.kernel.startswith("dsp"))
    return lines


def _support_lines(s: ModelStats) -> list[str]:
    """Folded ops, the reader's notes and what is unsupported."""
    lines = []
    if s.folded_ops:
        lines.append("folded at load time (constant shape arithmetic, no code): "
                     + ", ".join(f"op {o['index']} {o['op']}" for o in s.folded_ops))
    lines.extend(f"note: {n}" for n in s.notes)
    if s.unsupported_ops:
        lines.append(f"unsupported ({len(s.unsupported_ops)}):")
        lines.extend(f"  {p['reason']}" for p in s.unsupported_ops)
    else:
        lines.append("all ops supported by tinygen")
    return lines


def _variant_of(impl, params, target=None) -> tuple[str, str, int | None]:
    """(variant, reason, scratch bytes or None) from the op's kernel-variant API when it has
    one (`kernel_variant(params)` returning a dict, a tuple or an object with `variant`,
    `reason`, `scratch_bytes`), else ("-", "", None)."""
    fn = getattr(impl, "kernel_variant", None)
    if fn is None or params is None:
        return "-", "", None
    try:
        v = fn(params, target)
    except Exception:       # an op family without a variant for these params
        return "-", "", None
    if v is None:
        return "-", "", None
    if isinstance(v, str):
        return v, "", None
    if isinstance(v, dict):
        return str(v.get("variant", "-")), str(v.get("reason", "")), v.get("scratch_bytes")
    if isinstance(v, (tuple, list)):
        items = list(v) + [None, None, None]
        return str(items[0]), str(items[1] or ""), items[2]
    return (str(getattr(v, "variant", v)), str(getattr(v, "reason", "") or ""),
            getattr(v, "scratch_bytes", None))


def kernel_info(g: Graph, plan=None, *, params=None, target: str | None = None, fit_scratch: bool = True) -> list[dict]:
    """Per op: the kernel variant the generated C runs on `target` (`Op.kernel_variant`; None: a
    Cortex-M with the DSP extension), why, and the kernel scratch bytes the memory plan gives it.
    `params`: the ops' prepared params (computed when None)."""
    from tinygen.codegen.planner import plan_memory

    if params is None:
        params = []
        for op in g.operators:
            impl = REGISTRY.get(op.op)
            try:
                p = impl.prepare(g, op) if impl is not None else None
                # --optimize speed: the fastest kernels, as the generator takes them (Op.for_speed)
                params.append(impl.for_speed(p) if p is not None and not fit_scratch else p)
            except Exception:
                params.append(None)
        # fresh params: the planner marks the ops that must give up their scratch (plan_memory fit_scratch)
        own = plan_memory(g, params, fit_scratch=fit_scratch) if all(p is not None for p in params) else None
        plan = plan if plan is not None else own
    if plan is None:
        plan = plan_memory(g, params, fit_scratch=fit_scratch)
    out = []
    for op, p in zip(g.operators, params):
        impl = REGISTRY.get(op.op)
        variant, reason, scratch = _variant_of(impl, p, target)
        planned = int(plan.scratch_bytes.get(op.index, 0))
        out.append({"index": op.index, "kernel": variant, "kernel_reason": reason,
                    "scratch_bytes": planned if scratch is None else int(scratch)})
    return out
