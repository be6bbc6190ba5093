"""Read a .tflite file into a `tinygen.graph.Graph`.

This is the only module that touches the flatbuffer (through the generated
`tflite` schema package). Anything wrong with the file surfaces as a
`ModelError` (unreadable) or `UnsupportedModelError` (readable, but not a model
tinygen handles), each with a one-line message.
"""
from __future__ import annotations

import hashlib
import inspect as _inspect
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import tflite

from tinygen.errors import ModelError, TinygenError, UnsupportedModelError
from tinygen.model.graph import Graph, Operator, Quantization, Tensor
from tinygen.model.fold import fold_shape_arithmetic

FILE_IDENTIFIER = b"TFL3"

# TensorType -> numpy dtype (types tinygen can at least describe).
_DTYPES = {
    tflite.TensorType.FLOAT32: np.float32,
    tflite.TensorType.FLOAT16: np.float16,
    tflite.TensorType.INT32: np.int32,
    tflite.TensorType.UINT8: np.uint8,
    tflite.TensorType.INT64: np.int64,
    tflite.TensorType.BOOL: np.bool_,
    tflite.TensorType.INT16: np.int16,
    tflite.TensorType.INT8: np.int8,
    tflite.TensorType.FLOAT64: np.float64,
    tflite.TensorType.UINT32: np.uint32,
    tflite.TensorType.UINT16: np.uint16,
}


def _enum_names(enum_cls) -> dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


_OP_NAMES = _enum_names(tflite.BuiltinOperator)
_OPTIONS_NAMES = _enum_names(tflite.BuiltinOptions)
_TYPE_NAMES = _enum_names(tflite.TensorType)
_ENUM_FIELDS = {
    "padding": _enum_names(tflite.Padding),
    "fused_activation_function": _enum_names(tflite.ActivationFunctionType),
}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@lru_cache(maxsize=None)
def _option_fields(options_name: str):
    """The generated class for an options table and its (field, kind) accessors."""
    module = __import__(f"tflite.{options_name}", fromlist=[options_name])
    cls = getattr(module, options_name)
    fields = []
    for attr, fn in vars(cls).items():
        if attr.startswith("_") or attr == "Init" or attr.startswith("GetRootAs") or attr.endswith("BufferHasIdentifier"):
            continue
        if attr.endswith(("Length", "IsNone", "AsNumpy")) or not callable(fn):
            continue
        nparams = len(_inspect.signature(fn).parameters)
        if nparams == 1:
            fields.append((attr, "scalar"))
        elif nparams == 2 and hasattr(cls, attr + "Length"):
            fields.append((attr, "vector"))
    return cls, tuple(fields)


def _decode_table(name: str, table) -> dict:
    cls, fields = _option_fields(name)
    obj = cls()
    obj.Init(table.Bytes, table.Pos)
    out = {}
    for attr, kind_ in fields:
        key = _snake(attr)
        if kind_ == "scalar":
            value = getattr(obj, attr)()
            if key in _ENUM_FIELDS:
                value = _ENUM_FIELDS[key].get(value, str(value))
            elif isinstance(value, (bytes, bytearray)):
                value = value.decode("utf-8", "replace")
            elif not isinstance(value, (int, float, bool, str)) and value is not None:
                continue  # nested tables are not used by tinygen's ops
            out[key] = value
        else:
            n = getattr(obj, attr + "Length")()
            out[key] = [getattr(obj, attr)(j) for j in range(n)]
    return out


# Ops whose options table is not named after the op (CamelCase(op) + "Options", compared case-insensitively).
_OPTIONS_OF = {"AVERAGE_POOL_2D": "Pool2DOptions", "MAX_POOL_2D": "Pool2DOptions", "L2_POOL_2D": "Pool2DOptions",
               "MEAN": "ReducerOptions", "SUM": "ReducerOptions", "REDUCE_MAX": "ReducerOptions",
               "REDUCE_MIN": "ReducerOptions", "REDUCE_PROD": "ReducerOptions", "REDUCE_ANY": "ReducerOptions",
               "LOGISTIC": None, "TANH": None, "RELU": None, "RELU6": None, "QUANTIZE": None, "DEQUANTIZE": None}
_OPTIONS_USUALLY_ABSENT = {"RESHAPE"}
_OPTIONS_BY_FOLDED_NAME = {n.lower(): n for n in _OPTIONS_NAMES.values()}


def options_table_for(op_name: str) -> str | None:
    """The BuiltinOptions table an op takes (None: it takes none, or tinygen does not know which)."""
    if op_name in _OPTIONS_OF:
        return _OPTIONS_OF[op_name]
    return _OPTIONS_BY_FOLDED_NAME.get(op_name.replace("_", "").lower() + "options")


@lru_cache(maxsize=None)
def _default_options(options_name: str) -> tuple:
    """The schema defaults of an options table (decoding an empty table gives every field's default)."""
    import flatbuffers

    b = flatbuffers.Builder(16)
    b.StartObject(0)
    b.Finish(b.EndObject())
    data = bytearray(b.Output())
    table = flatbuffers.table.Table(data, flatbuffers.encode.Get(flatbuffers.packer.uoffset, data, 0))
    return tuple(sorted(_decode_table(options_name, table).items()))


def _decode_options(op_fb, op_name: str, notes: list[str], index: int) -> dict:
    kind = op_fb.BuiltinOptionsType()
    table = op_fb.BuiltinOptions() if kind != 0 else None
    if kind != 0:
        name = _OPTIONS_NAMES.get(kind)
        if name is None:
            raise ModelError(f"unknown builtin options type {kind}")
        if table is not None:
            return _decode_table(name, table)
    expected = options_table_for(op_name)
    if expected is None:
        return {}
    # TFLM keeps its defaults when an op has no options table; tinygen uses the schema's defaults
    # (converters routinely leave RESHAPE's out: its shape comes from input 1)
    if op_name not in _OPTIONS_USUALLY_ABSENT:
        notes.append(f"op {index} ({op_name}) has no builtin options: the schema defaults are used")
    return {k: (list(v) if isinstance(v, list) else v) for k, v in _default_options(expected)}


class _Reader:
    def __init__(self, buf: bytes):
        self.buf = buf
        self.size = len(buf)

    def check_len(self, what: str, n: int, elem: int = 4):
        if n < 0 or n * elem > self.size:
            raise ModelError(f"corrupt model: {what} claims {n} entries, more than the file can hold (offset out of range)")
        return n


def parse_model(data: bytes, name: str = "model") -> Graph:
    """Parse .tflite bytes into a Graph. Raises ModelError / UnsupportedModelError."""
    if len(data) == 0:
        raise ModelError("empty file: expected a .tflite model")
    if len(data) < 8:
        raise ModelError(f"not a .tflite model: only {len(data)} bytes")
    if data[4:8] != FILE_IDENTIFIER:
        raise ModelError(
            f"not a .tflite model: file identifier is {data[4:8]!r}, expected {FILE_IDENTIFIER!r}"
        )
    root = int.from_bytes(data[0:4], "little")
    if root + 4 > len(data):
        raise ModelError(f"corrupt or truncated model: root table offset {root} is past the end of the {len(data)}-byte file")
    try:
        return _parse(data, name)
    except TinygenError:
        raise
    except RecursionError:
        raise ModelError("corrupt model: flatbuffer offsets form a loop") from None
    except Exception as e:  # struct.error, IndexError, UnicodeDecodeError... from a damaged buffer
        raise ModelError(f"corrupt or truncated model: {type(e).__name__} while reading the flatbuffer (offset out of range)") from e


def _parse(data: bytes, name: str) -> Graph:
    buf = bytearray(data)  # flatbuffers wants a mutable-compatible buffer for numpy views
    rd = _Reader(buf)
    notes: list[str] = []  # inconsistencies tolerated the way TFLM tolerates them (inspect shows them)
    model = tflite.Model.GetRootAs(buf, 0)
    sg = _first_subgraph(rd, model, notes)
    opcodes = _read_opcodes(rd, model)
    buffers = _read_buffers(rd, model, buf, notes)
    refs = _TensorRefs(rd, rd.check_len("tensor list", sg.TensorsLength()))
    operators = [_read_operator(sg.Operators(i), i, opcodes, refs, notes)
                 for i in range(rd.check_len("operator list", sg.OperatorsLength()))]
    g_in = refs.indices("graph inputs", sg.InputsLength(), sg.Inputs)
    g_out = refs.indices("graph outputs", sg.OutputsLength(), sg.Outputs)
    used = {i for op in operators for i in op.inputs + op.outputs if i >= 0} | set(g_in) | set(g_out)
    tensors = [_read_tensor(rd, sg.Tensors(i), i, buffers, i in used, notes) for i in range(refs.n)]
    g = Graph(tensors=tensors, operators=operators, inputs=g_in, outputs=g_out, name=name,
              description=_str(model.Description()), version=int(model.Version()),
              metadata=_read_metadata(rd, model, buffers),
              sha256=hashlib.sha256(data).hexdigest(), model_bytes=bytes(data), notes=notes)
    return fold_shape_arithmetic(g)


def _first_subgraph(rd: _Reader, model, notes: list[str]):
    """Subgraph 0, the one TFLM invokes. Further subgraphs are only reached through control-flow ops
    (IF, WHILE, CALL_ONCE, ...), which the op registry refuses by name."""
    n_sub = rd.check_len("subgraph list", model.SubgraphsLength())
    if n_sub == 0:
        raise ModelError("corrupt model: no subgraph")
    if n_sub > 1:
        notes.append(f"the model has {n_sub} subgraphs; tinygen runs subgraph 0, the one TFLM invokes")
    return model.Subgraphs(0)


def _read_opcodes(rd: _Reader, model) -> list[tuple[str, int]]:
    """(op name, version) per operator code; custom and unknown codes are named, refused later if used."""
    opcodes: list[tuple[str, int]] = []
    for i in range(rd.check_len("operator code list", model.OperatorCodesLength())):
        oc = model.OperatorCodes(i)
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        if code == tflite.BuiltinOperator.CUSTOM:
            custom = oc.CustomCode()
            custom = custom.decode("utf-8", "replace") if custom else "?"
            opcodes.append((f"CUSTOM:{custom}", oc.Version()))
        elif code not in _OP_NAMES:
            opcodes.append((f"UNKNOWN:{code}", oc.Version()))
        else:
            opcodes.append((_OP_NAMES[code], oc.Version()))
    return opcodes


def _read_buffers(rd: _Reader, model, buf: bytearray, notes: list[str]) -> list[bytes | None]:
    """Raw bytes per buffer (None when empty); tensors give them a dtype and shape."""
    buffers: list[bytes | None] = []
    outside = 0
    for i in range(rd.check_len("buffer list", model.BuffersLength())):
        b = model.Buffers(i)
        off, size = b.Offset(), b.Size()
        if off > 1:  # large models keep buffers after the flatbuffer (offset from the start of the file)
            if off + size > len(buf):
                raise ModelError(f"truncated model: buffer {i} ends at byte {off + size}, file has {len(buf)}")
            buffers.append(bytes(buf[off : off + size]) if size else None)
            outside += 1
            continue
        n = rd.check_len(f"buffer {i}", b.DataLength(), 1)
        buffers.append(b.DataAsNumpy().tobytes() if n else None)
    if outside:
        notes.append(f"{outside} buffer(s) are stored after the flatbuffer (offset/size, as converters write models "
                     "over 2 GB); tinygen reads them, the tflite_micro interpreter does not (its tensors would be "
                     "left uninitialised)")
    return buffers


def _read_quantization(rd: _Reader, q, i: int, shape: tuple[int, ...], notes: list[str]) -> Quantization | None:
    """Affine quantization as TFLM's loader reads it: only when there are scales AND zero points; a
    zero-point list whose length differs from the scales' means zero_point[0] for every channel;
    `quantized_dimension` is not checked against the shape (the kernels that use per-channel
    parameters check their own tensors: a conv's filter, never its bias)."""
    if q is None or q.ScaleLength() == 0 or q.ZeroPointLength() == 0:
        return None
    rd.check_len(f"tensor {i} scales", q.ScaleLength())
    rd.check_len(f"tensor {i} zero points", q.ZeroPointLength(), 8)
    scale = q.ScaleAsNumpy().astype(np.float32).copy()
    zp = q.ZeroPointAsNumpy().astype(np.int64).copy()
    if zp.size != scale.size:
        if zp.size != 1:
            notes.append(f"tensor {i} has {scale.size} scales but {zp.size} zero points: zero point {int(zp[0])} "
                         "is used for every channel (as TFLM does)")
        zp = np.full(scale.size, int(zp[0]), dtype=np.int64)
    axis = int(q.QuantizedDimension())
    if scale.size > 1 and not (0 <= axis < len(shape) and shape[axis] == scale.size):
        notes.append(f"tensor {i} has {scale.size} per-channel scales on axis {axis} of shape {list(shape)}; "
                     "TFLM does not check this (only a kernel's own per-channel tensors must match)")
    return Quantization(scale=scale, zero_point=zp, axis=axis)


def _placeholder(t, i: int, notes: list[str], problem: str) -> Tensor:
    """An unused tensor tinygen cannot represent: kept (indices stay valid) as an empty tensor."""
    notes.append(f"unused tensor {i} ({_str(t.Name())}) {problem}; ignored (TFLM ignores it too)")
    return Tensor(index=i, name=_str(t.Name()) or f"tensor_{i}", shape=(0,), dtype=np.dtype(np.uint8))


def _read_tensor(rd: _Reader, t, i: int, buffers: list[bytes | None], used: bool, notes: list[str]) -> Tensor:
    """One tensor. A problem with a tensor no op and no graph input/output refers to is noted, not
    refused: TFLM's loader does not look at such tensors beyond their type."""
    ttype = t.Type()
    if ttype not in _DTYPES:
        tname = _TYPE_NAMES.get(ttype, str(ttype))
        if not used:
            return _placeholder(t, i, notes, f"has type {tname}")
        raise UnsupportedModelError(f"tensor {i} ({_str(t.Name())}) has type {tname}, which tinygen does not handle")
    dtype = np.dtype(_DTYPES[ttype])
    ndim = rd.check_len(f"tensor {i} shape", t.ShapeLength())
    shape = tuple(int(t.Shape(j)) for j in range(ndim))
    if any(d < 0 for d in shape):
        if not used:
            return _placeholder(t, i, notes, f"has a dynamic shape {list(shape)}")
        raise UnsupportedModelError(f"tensor {i} ({_str(t.Name())}) has a dynamic shape {list(shape)}; give the model a fixed batch size")
    bidx = t.Buffer()
    if bidx >= len(buffers):
        raise ModelError(f"corrupt model: tensor {i} refers to buffer {bidx}, the model has {len(buffers)}")
    quant = _read_quantization(rd, t.Quantization(), i, shape, notes)
    raw = buffers[bidx] if bidx > 0 else None
    arr = None
    if raw is not None:
        count = int(np.prod(shape)) if shape else 1
        need = count * dtype.itemsize
        if len(raw) < need:
            problem = f"shape {list(shape)} needs {need} bytes, its buffer has {len(raw)}"
            if not used:
                return _placeholder(t, i, notes, problem)
            raise ModelError(f"corrupt model: tensor {i} ({_str(t.Name())}) {problem}")
        if len(raw) > need:  # TFLM reads the first bytes the shape needs
            notes.append(f"tensor {i} ({_str(t.Name())}) has a {len(raw)}-byte buffer for {need} bytes of data; "
                         "the rest is ignored (as TFLM does)")
            raw = raw[:need]
        arr = np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(shape)
        arr.setflags(write=False)
    return Tensor(index=i, name=_str(t.Name()) or f"tensor_{i}", shape=shape, dtype=dtype,
                  quant=quant, data=arr, is_variable=bool(t.IsVariable()))


class _TensorRefs:
    """Checks lists of tensor indices (op inputs/outputs, graph I/O) against the tensor count."""

    def __init__(self, rd: _Reader, n_tensors: int):
        self.rd, self.n = rd, n_tensors

    def indices(self, what: str, length: int, getter, allow_optional: bool = False) -> list[int]:
        n = self.rd.check_len(what, length)
        out = [int(getter(j)) for j in range(n)]
        for v in out:
            if not (0 <= v < self.n or (allow_optional and v == -1)):
                raise ModelError(f"corrupt model: {what} refers to tensor {v}, the model has {self.n}")
        return out


def _read_operator(o, i: int, opcodes: list[tuple[str, int]], refs: _TensorRefs, notes: list[str]) -> Operator:
    oc_idx = o.OpcodeIndex()
    if oc_idx >= len(opcodes):
        raise ModelError(f"corrupt model: op {i} uses operator code {oc_idx}, the model has {len(opcodes)}")
    op_name, version = opcodes[oc_idx]
    if op_name.startswith("CUSTOM:"):
        raise UnsupportedModelError(f"op {i} is the custom op '{op_name[7:]}'; tinygen supports builtin ops only")
    if op_name.startswith("UNKNOWN:"):
        raise UnsupportedModelError(f"op {i} has unknown builtin operator code {op_name[8:]} (newer schema than tinygen knows)")
    ins = refs.indices(f"op {i} inputs", o.InputsLength(), o.Inputs, allow_optional=True)
    outs = refs.indices(f"op {i} outputs", o.OutputsLength(), o.Outputs)
    return Operator(index=i, op=op_name, version=int(version), inputs=ins, outputs=outs,
                    options=_decode_options(o, op_name, notes, i))


def _read_metadata(rd: _Reader, model, buffers: list[bytes | None]) -> dict[str, bytes]:
    metadata = {}
    for i in range(rd.check_len("metadata list", model.MetadataLength())):
        m = model.Metadata(i)
        b = m.Buffer()
        if b < len(buffers):
            metadata[_str(m.Name())] = buffers[b] or b""
    return metadata


def _str(b) -> str:
    if b is None:
        return ""
    return b.decode("utf-8", "replace") if isinstance(b, (bytes, bytearray)) else str(b)


def _prefixed(e: TinygenError, prefix: str) -> TinygenError:
    e.args = (f"{prefix}: {e.args[0] if e.args else e}",) + tuple(e.args[1:])
    return e


def read_model(path) -> Graph:
    """Read a .tflite file. Raises ModelError for missing/unreadable/corrupt files."""
    p = Path(path)
    if not p.exists():
        raise ModelError(f"{p}: no such file")
    if p.is_dir():
        raise ModelError(f"{p}: is a directory, expected a .tflite file")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise ModelError(f"{p}: cannot read: {e.strerror}") from None
    try:
        return parse_model(data, name=p.stem)
    except TinygenError as e:
        raise _prefixed(e, p.name) from None


# ---------------------------------------------------------------- int8 check

# float tensors may only appear on these ops' float sides
_FLOAT_EDGE_OPS = {"QUANTIZE": "inputs", "DEQUANTIZE": "outputs"}


def check_full_int8(g: Graph) -> None:
    """Refuse float and hybrid (dynamic-range) models, naming the op and tensor.

    A full-integer model has int8 (or, 16x8-quantized, int16) activations and int8
    weights (int32/int64 biases and shape tensors are fine); float32 may appear only as
    the input of a QUANTIZE or the output of a DEQUANTIZE (float model I/O). Which op runs
    which types is each op's own check (tinygen.ops), which names the op and type.
    """
    for op in g.operators:
        edge = _FLOAT_EDGE_OPS.get(op.op)
        tensors = [(t, "input") for t in g.op_inputs(op) if t is not None] + [(t, "output") for t in g.op_outputs(op)]
        has_int8_weight = any(t.is_const and t.dtype == np.int8 for t, _ in tensors)
        for t, role in tensors:
            if t.dtype in (np.float32, np.float16, np.float64):
                if edge and (role + "s") == edge:
                    continue
                if has_int8_weight:
                    raise UnsupportedModelError(
                        f"hybrid (dynamic-range) model: op {op.index} ({op.op}) has int8 weights but float {role} '{t.name}'; "
                        "tinygen needs full-integer quantization (tinygen quantize)"
                    )
                raise UnsupportedModelError(
                    f"float model: op {op.index} ({op.op}) has {t.dtype_name} {role} '{t.name}'; "
                    "tinygen needs a full-integer int8 model (tinygen quantize)"
                )
            if t.dtype == np.uint8 and not t.is_const:
                raise UnsupportedModelError(
                    f"op {op.index} ({op.op}) has {t.dtype_name} {role} '{t.name}'; tinygen supports int8 (and int16) activations only, not legacy uint8 quantization"
                )


def load_int8_model(path) -> Graph:
    """read_model + check_full_int8, for the stages that need full int8."""
    g = read_model(path)
    try:
        check_full_int8(g)
    except TinygenError as e:
        raise _prefixed(e, Path(path).name) from None
    return g


__all__ = ["read_model", "parse_model", "check_full_int8", "load_int8_model", "FILE_IDENTIFIER"]
