"""Interpreter-free C inference code from a Graph, the op registry's C bindings and a static memory plan.

    from tinygen.codegen.generator import generate
    res = generate(graph, "out/", "kws")       # writes out/kws_model.c, out/kws_model.h + kernel sources

The generated code
------------------
* `kws_model.h`: the C binding contract (see templates/model.h.j2): `KWS_ARENA_BYTES`, the
  shape / dtype / scale / zero point of every input and output, `KWS_MODEL_SHA256`,
  `int kws_invoke(const T *input, U *output)` (one input, one output; T/U are `int8_t` or
  `float` for models with QUANTIZE/DEQUANTIZE edges), `int kws_invoke_multi(const void *const
  *inputs, void *const *outputs)`, `int kws_run(void)` with `kws_input_buffer(i)` /
  `kws_output_buffer(i)` (no copies), `kws_set_arena()` when compiled with TG_EXTERNAL_ARENA.
* `kws_model.c`: every constant (weights, folded biases, per-channel multipliers and shifts,
  lookup tables, kernel parameter structs) as `static const` data (flash), the arena as one
  static, 16-byte aligned byte array (or the caller's, with TG_EXTERNAL_ARENA), and one kernel
  call per op at offsets fixed by `tinygen.planner`. Model inputs and outputs live in the
  arena: `invoke` copies the inputs in, runs, and copies the outputs out.
* Hooks, compiled in with macros: TG_LAYER_TIMING calls `tg_on_layer(i, "CONV_2D")` before op
  i and `tg_on_layer(i, NULL)` after it; TG_LAYER_OUTPUT calls `tg_on_layer_output(i, data,
  bytes)` after op i for each of its outputs.
* Kernel sources (C99, no malloc) are copied from `firmware/kernels/`: the headers and the
  `.c` files the bindings asked for.

Op bindings
-----------
Each op class in `tinygen/ops/` implements `emit_c(params, ctx)` and returns the C statements
that run it. `ctx` is an `EmitContext`: tensor pointer expressions (`ctx.input(i)`,
`ctx.output(i)`), constant arrays (`ctx.const(array)`), parameter structs (`ctx.struct(type,
fields)`), the op's kernel scratch (`ctx.scratch()`), and `ctx.need("tg_conv.c")` for the
kernel sources it calls.
"""
from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tinygen.errors import TinygenError, UnsupportedOpError
from tinygen.paths import data_dir
from tinygen.model.graph import Graph, Tensor
from tinygen.ops.c_emit import broadcast_fields, pad_shape  # noqa: F401  (used by bindings through ctx)
from tinygen.codegen.planner import DEFAULT_ALIGNMENT, MemoryPlan, plan_memory

# TFLite TensorType codes (schema.fbs), as firmware/protocol/tg_app.h reports them.
DTYPE_CODES = {
    np.dtype(np.float32): 0,
    np.dtype(np.int32): 2,
    np.dtype(np.uint8): 3,
    np.dtype(np.int64): 4,
    np.dtype(np.bool_): 6,
    np.dtype(np.int16): 7,
    np.dtype(np.int8): 9,
}

CTYPES = {
    np.dtype(np.float32): "float",
    np.dtype(np.int32): "int32_t",
    np.dtype(np.uint8): "uint8_t",
    np.dtype(np.int64): "int64_t",
    np.dtype(np.bool_): "uint8_t",
    np.dtype(np.int16): "int16_t",
    np.dtype(np.int8): "int8_t",
    np.dtype(np.uint32): "uint32_t",
    np.dtype(np.uint16): "uint16_t",
}

_INT_RANGES = {
    "int8_t": (-(1 << 7), (1 << 7) - 1),
    "uint8_t": (0, (1 << 8) - 1),
    "int16_t": (-(1 << 15), (1 << 15) - 1),
    "uint16_t": (0, (1 << 16) - 1),
    "int32_t": (-(1 << 31), (1 << 31) - 1),
    "uint32_t": (0, (1 << 32) - 1),
    "int64_t": (-(1 << 63), (1 << 63) - 1),
}

KERNEL_HEADERS = ("tg_kernels.h", "tg_requant.h", "tg_mve.h")


def _data_root() -> Path:
    return data_dir()


def kernels_dir() -> Path:
    return _data_root() / "firmware" / "kernels"


def templates_dir() -> Path:
    return _data_root() / "templates"


# ---------------------------------------------------------------- C literals


def c_int(v: int) -> str:
    v = int(v)
    if v == -(1 << 31):
        return "(-2147483647 - 1)"
    if v < -(1 << 31) or v > (1 << 32) - 1:
        raise TinygenError(f"integer constant {v} does not fit 32 bits")
    return str(v)


def c_float(v: float) -> str:
    """An exact C float literal (hex) of the float32 value of v."""
    f = float(np.float32(v))
    if not np.isfinite(f):
        if np.isnan(f):
            return "(0.0f / 0.0f)"
        return "(1.0f / 0.0f)" if f > 0 else "(-1.0f / 0.0f)"
    return f.hex() + "f"


def c_identifier(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_]", "_", name)
    if not s or s[0].isdigit():
        s = "m_" + s
    return s


def _format_values(values: np.ndarray, ctype: str, per_line: int = 20) -> str:
    flat = np.asarray(values).reshape(-1)
    if ctype == "float":
        items = [c_float(v) for v in flat.tolist()]
        per_line = 6
    else:
        lo, hi = _INT_RANGES[ctype]
        ints = flat.astype(np.int64) if flat.dtype != np.bool_ else flat.astype(np.int64)
        if ints.size and (int(ints.min()) < lo or int(ints.max()) > hi):
            raise TinygenError(f"constant out of range for {ctype}: [{int(ints.min())}, {int(ints.max())}]")
        if ctype == "int32_t":
            items = [c_int(v) for v in ints.tolist()]
        else:
            items = [str(v) for v in ints.tolist()]
    lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    return "    " + ",\n    ".join(lines)


# ---------------------------------------------------------------- emit context


@dataclass
class _Const:
    name: str
    ctype: str
    count: int
    body: str
    align: int
    comment: str = ""


class EmitContext:
    """What an op's `emit_c(params, ctx)` uses to write its kernel call."""

    def __init__(self, gen: "_Generator", op_index: int):
        self._gen = gen
        self.graph: Graph = gen.graph
        self.plan: MemoryPlan = gen.plan
        self.op = gen.graph.operators[op_index]
        self.op_index = op_index
        self.target = gen.target
        # stateful ops (LSTM): reset their state at the start of every run unless generated --stateful
        self.reset_state_each_invoke = not gen.stateful
        self._n_structs = 0

    # tensors -------------------------------------------------------------
    def tensor(self, tid: int) -> str:
        """A C pointer expression to tensor `tid`: `T(int8_t, 1024)` (arena) or a const array's name."""
        return self._gen.tensor_expr(tid)

    def input(self, i: int) -> str:
        tid = self.op.inputs[i]
        if tid < 0:
            return "NULL"
        return self.tensor(tid)

    def output(self, i: int = 0) -> str:
        return self.tensor(self.op.outputs[i])

    def input_tensor(self, i: int) -> Tensor | None:
        tid = self.op.inputs[i]
        return None if tid < 0 else self.graph.tensors[tid]

    def output_tensor(self, i: int = 0) -> Tensor:
        return self.graph.tensors[self.op.outputs[i]]

    def shares_bytes(self, t1: int, t2: int) -> bool:
        """True when the planner put tensors t1 and t2 on the same bytes (alias / in place)."""
        return self.plan.shares_bytes(t1, t2)

    def scratch(self) -> str:
        """Pointer (`void *`) to this op's kernel scratch (`scratch_bytes(params)` bytes)."""
        off = self.plan.scratch_offset(self.op_index)
        if off is None:
            raise TinygenError(f"op {self.op_index} ({self.op.op}) asked for scratch but scratch_bytes() is 0")
        return f"((void *)(arena + {off}))"

    # constants -----------------------------------------------------------
    def const(self, values, ctype: str | None = None, name: str | None = None, align: int = 4) -> str:
        """Add a `static const` array (flash) and return its name. Identical arrays are shared."""
        return self._gen.add_const(values, ctype, name or f"op{self.op_index}", align)

    def struct(self, ctype: str, fields: dict[str, Any], name: str | None = None) -> str:
        """Add a `static const <ctype>` initialised with designated initialisers; returns `&name`.

        Field values: int / bool / float (exact), str (raw C), list/tuple (brace list),
        numpy arrays (a const array, given as its pointer), dict (nested struct).
        """
        self._n_structs += 1
        nm = name or (f"op{self.op_index}_p" if self._n_structs == 1 else f"op{self.op_index}_p{self._n_structs}")
        body = self._gen.struct_body(fields, self, 1)
        self._gen.structs.append(f"static const {ctype} {nm} = {{\n{body}\n}};")
        return f"&{nm}"

    def need(self, *sources: str) -> None:
        """Kernel source files (in firmware/kernels/) this op's C code calls."""
        for s in sources:
            if not (kernels_dir() / s).is_file():
                raise TinygenError(f"kernel source {s} not found in {kernels_dir()}")
            if s not in self._gen.sources:
                self._gen.sources.append(s)

    # literals ------------------------------------------------------------
    c_int = staticmethod(c_int)
    c_float = staticmethod(c_float)


# ---------------------------------------------------------------- helpers for bindings


def lut_from_run(impl, p, in_tensor: Tensor) -> np.ndarray:
    """The 256-entry int8 table of a unary element-wise int8 op, from its numpy kernel."""
    size = max(in_tensor.size, 1)
    n = -(-256 // size)
    flat = (np.arange(n * size) % 256 - 128).astype(np.int8)
    out = impl.run(p, [flat.reshape((n,) + tuple(in_tensor.shape))])[0]
    return np.asarray(out).reshape(-1)[:256].astype(np.int8)


# ---------------------------------------------------------------- generator


@dataclass
class IOInfo:
    index: int  # tensor index
    name: str
    shape: tuple
    ctype: str
    dtype_code: int
    dtype_name: str
    size: int
    nbytes: int
    scale: float
    zero_point: int
    offset: int | None  # arena offset (None: constant)
    expr: str


@dataclass
class GeneratedModel:
    name: str
    out_dir: Path
    c_file: Path
    h_file: Path
    kernel_sources: list[Path]
    files: list[Path]
    plan: MemoryPlan
    arena_bytes: int
    flash_bytes: int  # bytes of constant data (approximate flash use without code)
    state_bytes: int = 0  # bytes of variable tensors (recurrent state) in the arena


class _Generator:
    def __init__(self, graph: Graph, name: str, target: str, alignment: int, plan: MemoryPlan | None, params,
                 fit_scratch: bool = True, stateful: bool = False):
        from tinygen.ops import REGISTRY, check_graph

        check_graph(graph)
        self.graph = graph
        self.name = name
        self.target = target
        self.stateful = stateful
        self.impls = [REGISTRY[op.op] for op in graph.operators]
        self.params = list(params) if params is not None else [impl.prepare(graph, op) for impl, op in zip(self.impls, graph.operators)]
        if not fit_scratch:  # --optimize speed: every op its fastest kernel, whatever its scratch or code size
            self.params = [impl.for_speed(p) for impl, p in zip(self.impls, self.params)]
        self.plan = plan or plan_memory(graph, self.params, alignment=alignment, fit_scratch=fit_scratch)
        self.consts: list[_Const] = []
        self._const_index: dict[tuple, str] = {}
        self._const_names: set[str] = set()
        self.tensor_consts: dict[int, str] = {}
        self.structs: list[str] = []
        self.sources: list[str] = []
        self.flash_bytes = 0

    # ------------------------------------------------------------------
    def add_const(self, values, ctype: str | None, hint: str, align: int = 4) -> str:
        arr = np.asarray(values)
        if ctype is None:
            ctype = CTYPES.get(arr.dtype)
            if ctype is None:
                raise TinygenError(f"no C type for constant of dtype {arr.dtype}")
        if ctype == "float":
            arr = arr.astype(np.float32)
            key_bytes = arr.tobytes()
        else:
            arr = arr.astype(np.int64)
            key_bytes = arr.tobytes()
        count = int(arr.size)
        key = (ctype, count, hashlib.sha256(key_bytes).hexdigest())
        if key in self._const_index:
            return self._const_index[key]
        base = c_identifier(hint)
        nm, k = base, 1
        while nm in self._const_names:
            k += 1
            nm = f"{base}_{k}"
        self._const_names.add(nm)
        body = _format_values(arr, ctype) if count else "    0"
        self.consts.append(_Const(nm, ctype, max(count, 1), body, align))
        self._const_index[key] = nm
        self.flash_bytes += count * int(np.dtype({"float": np.float32, "int8_t": np.int8, "uint8_t": np.uint8,
                                                  "int16_t": np.int16, "uint16_t": np.uint16, "int32_t": np.int32,
                                                  "uint32_t": np.uint32, "int64_t": np.int64}[ctype]).itemsize)
        return nm

    def tensor_expr(self, tid: int) -> str:
        t = self.graph.tensors[tid]
        ctype = CTYPES.get(np.dtype(t.dtype))
        if ctype is None:
            raise TinygenError(f"tensor {tid} '{t.name}' has dtype {t.dtype_name}, which the code generator cannot place")
        if t.is_const:
            if tid not in self.tensor_consts:
                self.tensor_consts[tid] = self.add_const(t.data, ctype, f"tensor{tid}")
            return self.tensor_consts[tid]
        off = self.plan.offsets.get(tid)
        if off is None:
            raise TinygenError(f"tensor {tid} '{t.name}' has no place in the memory plan")
        return f"T({ctype}, {off})"

    def struct_body(self, fields: dict, ctx: EmitContext, depth: int, width: int = 100) -> str:
        """Designated initialisers, packed several to a line."""
        ind = "    " * depth
        lines, cur = [], ""
        for k, v in fields.items():
            item = f".{k} = {self._field_value(v, ctx, depth, k)},"
            if "\n" in item:
                if cur:
                    lines.append(cur)
                lines.append(ind + item)
                cur = ""
            elif not cur:
                cur = ind + item
            elif len(cur) + 1 + len(item) <= width:
                cur += " " + item
            else:
                lines.append(cur)
                cur = ind + item
        if cur:
            lines.append(cur)
        return "\n".join(lines)

    def _field_value(self, v, ctx, depth, key):
        if isinstance(v, dict):
            return "{\n" + self.struct_body(v, ctx, depth + 1) + "\n" + "    " * depth + "}"
        if isinstance(v, (bool, np.bool_)):
            return "1" if v else "0"
        if isinstance(v, (int, np.integer)):
            return c_int(int(v))
        if isinstance(v, (float, np.floating)):
            return c_float(float(v))
        if isinstance(v, str):
            return v
        if isinstance(v, np.ndarray):
            return ctx.const(v, name=f"op{ctx.op_index}_{key}")
        if isinstance(v, (list, tuple)):
            return "{" + ", ".join(self._field_value(x, ctx, depth, key) for x in v) + "}"
        if v is None:
            return "NULL"
        raise TinygenError(f"cannot write struct field {key}={v!r} in C")

    # ------------------------------------------------------------------
    def io_info(self, tid: int, k: int) -> IOInfo:
        t = self.graph.tensors[tid]
        dt = np.dtype(t.dtype)
        return IOInfo(index=tid, name=t.name, shape=tuple(int(d) for d in t.shape), ctype=CTYPES[dt],
                      dtype_code=DTYPE_CODES.get(dt, -1), dtype_name=dt.name, size=t.size, nbytes=t.nbytes,
                      scale=float(t.scale) if t.quant is not None else 0.0,
                      zero_point=int(t.zero_point) if t.quant is not None else 0,
                      offset=None if t.is_const else self.plan.offsets.get(tid), expr=self.tensor_expr(tid))

    def op_calls(self) -> list[dict]:
        calls = []
        for k in self.plan.order:
            op = self.graph.operators[k]
            impl = self.impls[k]
            ctx = EmitContext(self, k)
            try:
                code = impl.emit_c(self.params[k], ctx)
            except NotImplementedError as e:
                raise UnsupportedOpError(op.index, op.op, f"no C binding yet ({e})") from None
            if isinstance(code, (list, tuple)):
                code = "\n".join(code)
            code = (code or "").rstrip()
            outs = []
            for tid in op.outputs:
                t = self.graph.tensors[tid]
                if not t.is_const:
                    outs.append(dict(expr=self.tensor_expr(tid), nbytes=t.nbytes))
            desc_in = ", ".join(self._describe(t) for t in op.inputs if t >= 0 and not self.graph.tensors[t].is_const)
            desc_out = ", ".join(self._describe(t) for t in op.outputs)
            calls.append(dict(index=k, op=op.op, code=_indent(code, 4), outputs=outs,
                              comment=f"op {k}: {op.op}  in: {desc_in or '-'}  out: {desc_out}"
                              + (" (in place)" if k in self.plan.inplace_ops else "")))
        return calls

    def _describe(self, tid: int) -> str:
        t = self.graph.tensors[tid]
        off = self.plan.offsets.get(tid)
        return f"t{tid} {list(t.shape)} {t.dtype_name} @{off}"


def _indent(code: str, n: int) -> str:
    pad = " " * n
    return "\n".join(pad + line if line.strip() else "" for line in code.splitlines())


def _jinja_env():
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())), keep_trailing_newline=True,
                              trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)


def generate(graph: Graph, out_dir, name: str = "model", target: str = "generic", *,
             alignment: int = DEFAULT_ALIGNMENT, plan: MemoryPlan | None = None,
             params: Sequence[Any] | None = None, optimize: str = "size", stateful: bool = False) -> GeneratedModel:
    """Write NAME_model.c / NAME_model.h and the kernel sources they need into out_dir.

    `target` is recorded in the generated files (`NAME_TARGET`); the kernels pick optimised
    variants from the compiler's predefined macros. `plan` / `params`: reuse a memory plan /
    prepared op params (computed when None). `optimize`: "size" (default: the arena stays within
    1.05x the live-tensor bound + 64 B, kernels with too much scratch take a slower scratch-free
    variant) or "speed" (every op keeps its fastest kernel, whatever scratch it needs).
    """
    if optimize not in ("size", "speed"):
        raise TinygenError(f"optimize must be 'size' or 'speed', got {optimize!r}")
    cname = c_identifier(name)
    gen = _Generator(graph, cname, target, alignment, plan, params, fit_scratch=optimize != "speed", stateful=stateful)
    # the order matters: the op calls, then the I/O, then the state add the constants in the order they are written
    calls = gen.op_calls()
    inputs, outputs = _model_io(gen)
    states = _reset_states(gen)
    ctx = _template_context(gen, alignment, stateful, calls, inputs, outputs, states)
    out = Path(out_dir)
    c_file, h_file = _render_model(out, cname, ctx)
    copied = _copy_kernels(out, gen.sources)
    return GeneratedModel(name=cname, out_dir=out, c_file=c_file, h_file=h_file,
                          kernel_sources=[out / s for s in gen.sources], files=[c_file, h_file] + copied,
                          plan=gen.plan, arena_bytes=gen.plan.arena_bytes, flash_bytes=gen.flash_bytes,
                          state_bytes=ctx["state_bytes"])


def _model_io(gen: _Generator) -> tuple[list[IOInfo], list[IOInfo]]:
    """The model's inputs and outputs; a constant input is refused (the caller could not write it)."""
    inputs = [gen.io_info(t, k) for k, t in enumerate(gen.graph.inputs)]
    outputs = [gen.io_info(t, k) for k, t in enumerate(gen.graph.outputs)]
    for io in inputs:
        if io.offset is None:
            raise TinygenError(f"model input {io.index} '{io.name}' is a constant tensor")
    return inputs, outputs


def _reset_states(gen: _Generator) -> list[dict]:
    """Variable tensors (recurrent state) that ops read: NAME_reset() sets them to TFLM's reset values
    (int8: the zero point, else 0)."""
    g = gen.graph
    used = {t for op in g.operators for t in op.inputs if t >= 0}
    states = []
    for t in g.tensors:
        if t.is_variable and t.index in used and t.index in gen.plan.offsets:
            fill = (int(t.zero_point) & 0xFF) if (t.dtype == np.int8 and t.quant is not None) else 0
            states.append(dict(expr=gen.tensor_expr(t.index), nbytes=int(t.nbytes), fill=fill, name=t.name))
    return states


def _sha256_bytes(sha: str) -> str:
    """The model's SHA-256 as a C initialiser list (`0x12, 0xab, ...`), "" when it is not a full digest."""
    return ", ".join(f"0x{sha[i:i + 2]}" for i in range(0, len(sha), 2)) if len(sha) == 64 else ""


def _template_context(gen: _Generator, alignment: int, stateful: bool, calls: list[dict], inputs: list[IOInfo],
                      outputs: list[IOInfo], states: list[dict]) -> dict:
    """Everything templates/model.{c,h}.j2 read."""
    g = gen.graph
    sha = g.sha256 or hashlib.sha256(g.model_bytes).hexdigest()
    return dict(
        name=gen.name,
        NAME=gen.name.upper(),
        target=gen.target,
        source_name=g.name,
        sha256=sha,
        sha256_bytes=_sha256_bytes(sha),
        arena_bytes=gen.plan.arena_bytes,
        arena_alloc=max(gen.plan.arena_bytes, alignment),
        alignment=alignment,
        lower_bound=gen.plan.lower_bound_bytes,
        inputs=inputs,
        outputs=outputs,
        single_io=len(inputs) == 1 and len(outputs) == 1,
        consts=gen.consts,
        structs=gen.structs,
        calls=calls,
        n_ops=len(g.operators),
        states=states,
        state_bytes=sum(st["nbytes"] for st in states),
        stateful=bool(stateful),
        op_names=[g.operators[k].op for k in range(len(g.operators))],
        kernel_sources=list(gen.sources),
        flash_bytes=gen.flash_bytes,
        c_float=c_float,
        c_int=c_int,
    )


def _render_model(out: Path, cname: str, ctx: dict) -> tuple[Path, Path]:
    """Write NAME_model.h and NAME_model.c from the templates; returns (c_file, h_file)."""
    env = _jinja_env()
    out.mkdir(parents=True, exist_ok=True)
    h_file = out / f"{cname}_model.h"
    c_file = out / f"{cname}_model.c"
    h_file.write_text(env.get_template("model.h.j2").render(**ctx))
    c_file.write_text(env.get_template("model.c.j2").render(**ctx))
    return c_file, h_file


def _copy_kernels(out: Path, sources: list[str]) -> list[Path]:
    """Copy the kernel headers and the kernel sources the ops need from firmware/kernels/ into `out`."""
    kdir = kernels_dir()
    copied = []
    for f in list(KERNEL_HEADERS) + sources:
        dst = out / f
        shutil.copyfile(kdir / f, dst)
        copied.append(dst)
    return copied


__all__ = ["generate", "EmitContext", "GeneratedModel", "broadcast_fields", "pad_shape", "lut_from_run",
           "c_float", "c_int", "c_identifier", "kernels_dir", "templates_dir", "DTYPE_CODES", "CTYPES"]
