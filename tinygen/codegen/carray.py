"""`convert`: the model bytes as an aligned C array plus a header describing it.

Output is deterministic (no timestamps), written atomically, and never
overwrites a file tinygen did not generate.
"""
from __future__ import annotations

import keyword
import os
import re
import tempfile
from pathlib import Path

from tinygen.codegen.c_text import MARKER, c_comment
from tinygen.errors import TinygenError
from tinygen.model.graph import Graph, Tensor

C_KEYWORDS = {
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum", "extern",
    "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return", "short", "signed",
    "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void", "volatile", "while", "bool",
    "class", "new", "delete", "template", "this", "namespace", "operator", "private", "public", "protected",
    "virtual", "try", "catch", "throw", "true", "false", "asm", "friend", "mutable", "typename", "using",
}

_CTYPES = {"int8": "int8_t", "uint8": "uint8_t", "int16": "int16_t", "int32": "int32_t", "float32": "float", "int64": "int64_t"}


def c_identifier(name: str) -> str:
    """Any file name -> a valid, non-reserved C/C++ identifier."""
    ident = re.sub(r"[^0-9A-Za-z_]", "_", name)
    ident = re.sub(r"_+", "_", ident).strip("_") or "model"
    if ident[0].isdigit():
        ident = "model_" + ident
    if ident in C_KEYWORDS or keyword.iskeyword(ident):
        ident += "_model"
    return ident


def _shape_init(shape) -> str:
    return "{" + ", ".join(str(d) for d in shape) + "}" if shape else "{1}"


def _float_lit(v: float) -> str:
    s = repr(float(v))
    if "e" not in s and "." not in s:
        s += ".0"
    return s + "f"


def _tensor_macros(prefix: str, t: Tensor) -> list[str]:
    out = [
        f"#define {prefix}_NAME \"{_c_str(t.name)}\"",
        f"#define {prefix}_DIMS {len(t.shape)}",
        f"#define {prefix}_SHAPE {_shape_init(t.shape)}",
        f"#define {prefix}_ELEMENTS {t.size}",
        f"#define {prefix}_BYTES {t.nbytes}",
        f"#define {prefix}_DTYPE \"{t.dtype_name}\"",
        f"#define {prefix}_CTYPE {_CTYPES.get(t.dtype_name, 'uint8_t')}",
    ]
    if t.quant is not None:
        out.append(f"#define {prefix}_SCALE {_float_lit(t.scale)}")
        out.append(f"#define {prefix}_ZERO_POINT ({t.zero_point})")
    return out


def _c_str(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"').encode("ascii", "replace").decode()


ALIGN_MACROS = """\
/* Portable 16-byte alignment: GCC/Clang/armclang, armcc, IAR, MSVC. */
#ifndef TG_ALIGN_BEGIN
#if defined(__ICCARM__) || defined(__IAR_SYSTEMS_ICC__)
#define TG_ALIGN_BEGIN _Pragma("data_alignment=16")
#define TG_ALIGN_END
#elif defined(_MSC_VER)
#define TG_ALIGN_BEGIN __declspec(align(16))
#define TG_ALIGN_END
#elif defined(__GNUC__) || defined(__clang__) || defined(__CC_ARM) || defined(__ARMCC_VERSION)
#define TG_ALIGN_BEGIN
#define TG_ALIGN_END __attribute__((aligned(16)))
#else
#define TG_ALIGN_BEGIN
#define TG_ALIGN_END
#endif
#endif
"""


def render_header(g: Graph, ident: str) -> str:
    up = ident.upper()
    ops = g.model_op_names()
    lines = [
        f"/* {MARKER} from {c_comment(g.name)}.tflite. Do not edit. */",
        f"/* sha256 {g.sha256} */",
        f"#ifndef {up}_H_",
        f"#define {up}_H_",
        "",
        "#include <stdint.h>",
        "",
        f"#define {up}_LEN {len(g.model_bytes)}u",
        f"#define {up}_SHA256 \"{g.sha256}\"",
        f"#define {up}_OP_COUNT {g.model_op_count}",
        f"#define {up}_OP_KINDS {len(ops)}",
        f"#define {up}_OP_LIST \"{','.join(ops)}\"",
        f"#define {up}_INPUT_COUNT {len(g.inputs)}",
        f"#define {up}_OUTPUT_COUNT {len(g.outputs)}",
    ]
    for i, t in enumerate(g.input_tensors):
        lines += _tensor_macros(f"{up}_INPUT{i}", t)
    for i, t in enumerate(g.output_tensors):
        lines += _tensor_macros(f"{up}_OUTPUT{i}", t)
    lines += [
        "",
        "#ifdef __cplusplus",
        'extern "C" {',
        "#endif",
        "",
        f"/* The .tflite model, 16-byte aligned (TFLite Micro requires >= 4). */",
        f"extern const unsigned char {ident}[];",
        f"extern const unsigned int {ident}_len;",
        "",
        "#ifdef __cplusplus",
        "}",
        "#endif",
        "",
        f"#endif /* {up}_H_ */",
        "",
    ]
    return "\n".join(lines)


def render_source(g: Graph, ident: str, header_name: str) -> str:
    data = g.model_bytes
    body = []
    for i in range(0, len(data), 16):
        body.append("  " + ", ".join(f"0x{b:02x}" for b in data[i : i + 16]) + ",")
    return "\n".join([
        f"/* {MARKER} from {c_comment(g.name)}.tflite. Do not edit. */",
        f"/* sha256 {g.sha256} */",
        f'#include "{header_name}"',
        "",
        ALIGN_MACROS,
        f"TG_ALIGN_BEGIN const unsigned char {ident}[{len(data)}] TG_ALIGN_END = {{",
        *body,
        "};",
        "",
        f"const unsigned int {ident}_len = {len(data)}u;",
        "",
    ])


def check_overwrite(paths: list[Path]) -> None:
    for p in paths:
        if p.exists():
            try:
                head = p.read_text(errors="replace")[:400]
            except OSError:
                head = ""
            if MARKER not in head:
                raise TinygenError(f"{p}: exists and was not generated by tinygen; refusing to overwrite it")


def write_files(files: dict[Path, str]) -> None:
    """Write all files or none: render first, refuse foreign files, then rename temp files into place."""
    check_overwrite(list(files))
    tmps = []
    try:
        for p, text in files.items():
            p.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
            with os.fdopen(fd, "w", newline="\n") as f:
                f.write(text)
            tmps.append((tmp, p))
        for tmp, p in tmps:
            os.replace(tmp, p)
    except BaseException:
        for tmp, _ in tmps:
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise


def convert(g: Graph, out_dir: Path, name: str | None = None, lang: str = "c", tflm: bool = False,
            arena_bytes: int | None = None) -> list[Path]:
    ident = c_identifier(name or g.name)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise TinygenError(f"{out_dir}: exists and is not a directory")
    header = f"{ident}.h"
    files = {
        out_dir / header: render_header(g, ident),
        out_dir / f"{ident}.{'cc' if lang == 'cpp' else 'c'}": render_source(g, ident, header),
    }
    if tflm:
        from tinygen.codegen.tflm_resolver import render_resolver

        files[out_dir / f"{ident}_tflm.h"] = render_resolver(g, ident, header, arena_bytes)
    write_files(files)
    return list(files)
