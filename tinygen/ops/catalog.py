"""TFLite Micro's builtin ops and tinygen's support for each: the source of `docs/ops.md`.

`python -m tinygen.ops.catalog` prints the page; `python -m tinygen.ops.catalog --write` rewrites
`docs/ops.md` (tests/test_ops_catalog.py fails when the committed page differs from the registry).

The TFLM column lists the activation types of the builtin's reference kernel for quantized
models (integer kernels; `float32` only where TFLM has no integer kernel), read from TFLM's
`tensorflow/lite/micro/kernels/*.cc`; for the ops tinygen runs it was checked against the
`tflite_micro` package (the tests build each type), for the others it is as read, unchecked. tinygen's status comes from the registry: an op class's
`dtypes` (activation types it runs), whether it has a C binding (`emit_c`), and `dsp_dtypes`
(types with a Cortex-M DSP kernel variant).
"""
from __future__ import annotations

import sys
from pathlib import Path

from . import REGISTRY, Op
from .base import DtypeDispatch

# builtin -> (TFLM reference kernel types for quantized models, scope)
# scope: "" = in scope of tinygen; otherwise why tinygen does not aim to run it.
TFLM_BUILTINS: dict[str, tuple[str, str]] = {
    "ABS": ("int8, int16", ""),
    "ADD": ("int8, int16, int32", ""),
    "ADD_N": ("int8", ""),  # checked: the oracle refuses int32 (ADD_N runs float32 and int8)
    "ARG_MAX": ("int8 -> int32", ""),
    "ARG_MIN": ("int8 -> int32", ""),
    "ASSIGN_VARIABLE": ("any", "resource variable"),
    "AVERAGE_POOL_2D": ("int8, int16", ""),
    "BATCH_MATMUL": ("int8, int16", ""),
    "BATCH_TO_SPACE_ND": ("int8", ""),
    "BROADCAST_ARGS": ("int32", ""),
    "BROADCAST_TO": ("int8, int16, int32", ""),
    "CALL_ONCE": ("-", "control flow"),
    "CAST": ("int8, int16, int32", ""),
    "CEIL": ("float32", "float only"),
    "CONCATENATION": ("int8, int16, int32", ""),
    "CONV_2D": ("int8, int16 (16x8)", ""),
    "COS": ("float32", "float only"),
    "CUMSUM": ("int8", ""),
    "DEPTH_TO_SPACE": ("int8", ""),
    "DEPTHWISE_CONV_2D": ("int8, int16 (16x8)", ""),
    "DEQUANTIZE": ("int8, int16 -> float32", ""),
    "DIV": ("int8, int32", ""),  # checked: the oracle runs int32 DIV (C division, RELU clamps)
    "DYNAMIC_UPDATE_SLICE": ("int8, int16, int32", ""),
    "ELU": ("int8", ""),
    "EMBEDDING_LOOKUP": ("int8", ""),
    "EQUAL": ("int8, int32 -> bool", ""),
    "ETHOSU": ("-", "vendor op"),
    "EXP": ("float32", "float only"),
    "EXPAND_DIMS": ("int8, int16", ""),  # checked: the oracle refuses INT32 (float32 too)
    "FILL": ("int8, int32", ""),
    "FLOOR": ("float32", "float only"),
    "FLOOR_DIV": ("float32", "float only"),  # checked: the oracle refuses INT32
    "FLOOR_MOD": ("float32", "float only"),  # checked: the oracle refuses INT32
    "FULLY_CONNECTED": ("int8, int16 (16x8)", ""),
    "GATHER": ("int8 (int32 positions)", ""),  # checked: the oracle refuses INT32 params
    "GATHER_ND": ("int8", ""),  # checked: the oracle refuses INT32 params
    "GREATER": ("int8, int32 -> bool", ""),
    "GREATER_EQUAL": ("int8, int32 -> bool", ""),
    "HARD_SWISH": ("int8", ""),
    "IF": ("-", "control flow"),
    "L2_NORMALIZATION": ("int8", ""),
    "L2_POOL_2D": ("float32", "float only"),
    "LEAKY_RELU": ("int8, int16", ""),
    "LESS": ("int8, int32 -> bool", ""),
    "LESS_EQUAL": ("int8, int32 -> bool", ""),
    "LOG": ("float32", "float only"),
    "LOG_SOFTMAX": ("int8", ""),
    "LOGICAL_AND": ("bool", ""),
    "LOGICAL_NOT": ("bool", ""),
    "LOGICAL_OR": ("bool", ""),
    "LOGISTIC": ("int8, int16", ""),
    "MAX_POOL_2D": ("int8, int16", ""),
    "MAXIMUM": ("int8, int16, int32", ""),
    "MEAN": ("int8, int16", ""),
    "MINIMUM": ("int8, int16, int32", ""),
    "MIRROR_PAD": ("int8", ""),
    "MUL": ("int8, int16, int32", ""),
    "NEG": ("float32", "float only"),
    "NOT_EQUAL": ("int8, int32 -> bool", ""),
    "PACK": ("int8, int16, int32", ""),
    "PAD": ("int8, int16, int32", ""),
    "PADV2": ("int8, int16, int32", ""),
    "PRELU": ("int8", ""),
    "QUANTIZE": ("float32/int8/int16/int32 -> int8/int16/int32", ""),
    "READ_VARIABLE": ("any", "resource variable"),
    "REDUCE_MAX": ("int8", ""),
    "REDUCE_MIN": ("int8", ""),
    "RELU": ("int8", ""),
    "RELU6": ("int8", ""),
    "RESHAPE": ("any", ""),
    "RESIZE_BILINEAR": ("int8", ""),
    "RESIZE_NEAREST_NEIGHBOR": ("int8, int16", ""),
    "REVERSE_V2": ("int8, int16, int32", ""),
    "ROUND": ("float32", "float only"),
    "RSQRT": ("int8", ""),
    "SELECT_V2": ("int8, int16", ""),  # checked: the oracle refuses INT32
    "SHAPE": ("any -> int32", ""),
    "SIN": ("float32", "float only"),
    "SLICE": ("int8, int16, int32", ""),
    "SOFTMAX": ("int8 -> int8/int16, int16", ""),
    "SPACE_TO_BATCH_ND": ("int8 (padding left uninitialised)", ""),
    "SPACE_TO_DEPTH": ("int8", ""),
    "SPLIT": ("int8, int16, int32", ""),
    "SPLIT_V": ("int8, int16, int32", ""),
    "SQRT": ("float32", "float only"),
    "SQUARE": ("float32", "float only"),
    "SQUARED_DIFFERENCE": ("int8, int16, int32", ""),
    "SQUEEZE": ("any", ""),
    "STRIDED_SLICE": ("int8, int16, int32", ""),
    "SUB": ("int8, int16, int32", ""),
    "SUM": ("int8, int16", ""),
    "SVDF": ("int8 (int16 or int8 state)", ""),  # checked: the oracle refuses int16 input and int32 output
    "TANH": ("int8, int16", ""),
    "TRANSPOSE": ("int8, int16", ""),
    "TRANSPOSE_CONV": ("int8, int16 (16x8)", ""),
    "UNIDIRECTIONAL_SEQUENCE_LSTM": ("int8 (int16 cell state), int16", ""),
    "UNPACK": ("int8, int16, int32", ""),
    "VAR_HANDLE": ("-", "resource variable"),
    "WHILE": ("-", "control flow"),
    "ZEROS_LIKE": ("int8, int32", ""),
}


def has_c(impl: Op) -> bool:
    """The op has a C binding (its class overrides Op.emit_c): for an op with type variants, the int8 op
    and every variant."""
    parts = [impl.base, *impl.variants.values()] if isinstance(impl, DtypeDispatch) else [impl]
    return all(type(p).emit_c is not Op.emit_c for p in parts)


def op_status(name: str) -> dict:
    """tinygen's support of one builtin: emulator/C/DSP activation types."""
    impl = REGISTRY.get(name)
    if impl is None:
        return {"op": name, "emulator": [], "c": [], "dsp": []}
    dtypes = list(impl.dtypes)
    return {"op": name, "emulator": dtypes, "c": dtypes if has_c(impl) else [], "dsp": list(impl.dsp_dtypes)}


def _cell(types: list[str]) -> str:
    return ", ".join(types) if types else "-"


def render() -> str:
    names = sorted(set(TFLM_BUILTINS) | set(REGISTRY))
    in_scope = [n for n in names if not TFLM_BUILTINS.get(n, ("", ""))[1]]
    done = [n for n in in_scope if REGISTRY.get(n) is not None]
    lines = [
        "# Ops: TFLite Micro's builtins and tinygen's support",
        "",
        "<!-- generated by `python -m tinygen.ops.catalog --write` from the op registry; do not edit."
        " tests/test_ops_catalog.py checks it is current. -->",
        "",
        "One row per builtin op that TFLite Micro registers (plus any tinygen op TFLM does not list). "
        "`TFLM` gives the activation types of TFLM's reference kernel for quantized models; "
        "`emulator` the types tinygen's bit-exact numpy kernel runs; `C` the types the generated portable C99 runs; "
        "`DSP` the types with a Cortex-M DSP (SXTB16/SMLAD) kernel variant. "
        "Every op tinygen supports has both a numpy kernel and a C kernel, tested bit-exact against "
        "the `tflite_micro` reference kernels (on the host and on QEMU Cortex-M4). "
        "Activations are per-tensor quantized; weights may be per-channel where TFLM allows it. "
        "The TFLM column was checked against the `tflite_micro` package for the ops tinygen runs; for the "
        "others it is as read from TFLM's kernel sources.",
        "",
        f"tinygen runs {len(done)} of the {len(in_scope)} builtins in scope "
        f"({len(REGISTRY)} ops registered).",
        "",
        "| op | TFLM | emulator | C | DSP | note |",
        "|---|---|---|---|---|---|",
    ]
    for n in names:
        tflm, scope = TFLM_BUILTINS.get(n, ("(not a TFLM builtin)", ""))
        s = op_status(n)
        note = scope or ("" if s["emulator"] else "not yet")
        if not note and "int16" in tflm and not any("int16" in d for d in s["emulator"]):
            note = "int16 not yet"
        lines.append(f"| {n} | {tflm} | {_cell(s['emulator'])} | {_cell(s['c'])} | {_cell(s['dsp'])} | {note} |")
    lines.append("")
    return "\n".join(lines)


def doc_path() -> Path:
    return Path(__file__).resolve().parents[2] / "docs" / "ops.md"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    text = render()
    if "--write" in argv:
        doc_path().write_text(text)
        print(f"wrote {doc_path()}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
