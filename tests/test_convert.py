"""`tinygen convert`: the C array equals the file, is 16-byte aligned, and compiles everywhere."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tinygen.codegen.carray import c_identifier
from tinygen.cli import main

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "kws_micro.tflite"

# A tiny host program: prints the array's alignment and bytes so the test can compare them with the file.
DUMP_C = r"""
#include <stdio.h>
#include <stdint.h>
#include "{h}"
int main(void) {{
  unsigned int i;
  printf("%u %u\n", (unsigned)((uintptr_t){ident} % 16u), {ident}_len);
  for (i = 0; i < {ident}_len; i++) printf("%02x", {ident}[i]);
  printf("\n");
  return {up}_LEN == {ident}_len ? 0 : 3;
}}
"""


def _compile(cmd, cwd):
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    assert r.returncode == 0, f"{' '.join(cmd)}:\n{r.stderr}"


@pytest.mark.parametrize("lang", ["c", "cpp"])
def test_array_equals_file_and_is_aligned(tmp_path, capsys, lang):
    assert main(["convert", str(EXAMPLE), "-o", str(tmp_path), "--lang", lang]) == 0
    ident = "kws_micro"
    src = tmp_path / (f"{ident}.c" if lang == "c" else f"{ident}.cc")
    (tmp_path / "dump.c").write_text(DUMP_C.format(h=f"{ident}.h", ident=ident, up=ident.upper()))
    if lang == "c":
        _compile(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-o", "dump", "dump.c", src.name], tmp_path)
    else:
        _compile(["g++", "-std=c++11", "-Wall", "-Wextra", "-Werror", "-c", src.name, "-o", "model.o"], tmp_path)
        _compile(["g++", "-std=c++11", "-Wall", "-Wextra", "-Werror", "-x", "c++", "-o", "dump", "dump.c", "-x", "none", "model.o"], tmp_path)
    r = subprocess.run(["./dump"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0
    first, hexdata = r.stdout.split("\n")[:2]
    misalign, length = map(int, first.split())
    data = EXAMPLE.read_bytes()
    assert misalign == 0 and length == len(data)
    assert bytes.fromhex(hexdata) == data


def test_every_zoo_model_compiles_for_c_cpp_and_cortex_m4(zoo, tmp_path, capsys):
    have_arm = shutil.which("arm-none-eabi-gcc") is not None
    for name, path in sorted(zoo.items()):
        d = tmp_path / name
        assert main(["convert", str(path), "-o", str(d)]) == 0, capsys.readouterr().err
        c = d / f"{name}.c"
        _compile(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-c", c.name], d)
        _compile(["g++", "-std=c++11", "-Wall", "-Wextra", "-Werror", "-x", "c++", "-c", c.name, "-o", "cpp.o"], d)
        if have_arm:
            _compile(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-std=c99", "-Wall", "-Wextra", "-Werror",
                      "-c", c.name, "-o", "arm.o"], d)
            nm = subprocess.run(["arm-none-eabi-nm", "arm.o"], cwd=d, capture_output=True, text=True).stdout
            assert re.search(rf"\bR {name}\b", nm), nm  # in .rodata: flash, not RAM
        h = (d / f"{name}.h").read_text()
        assert f"#define {name.upper()}_SHA256" in h and f"#define {name.upper()}_INPUT0_SHAPE" in h
    assert have_arm, "arm-none-eabi-gcc missing: scripts/setup.sh installs it"


def test_identifiers_from_any_file_name():
    assert c_identifier("9 my-model.v2") == "model_9_my_model_v2"
    assert c_identifier("int") == "int_model"
    assert c_identifier("ünïcode model") == "n_code_model"
    assert c_identifier("---") == "model"
    for name in ("a b", "x.y.z", "1", "__init__", "class"):
        ident = c_identifier(name)
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", ident), ident


def test_tflm_resolver_lists_exactly_the_model_ops(tmp_path, capsys):
    assert main(["convert", str(EXAMPLE), "-o", str(tmp_path), "--tflm"]) == 0
    h = (tmp_path / "kws_micro_tflm.h").read_text()
    calls = re.findall(r"r\.(Add\w+)\(\)", h)
    assert calls == ["AddConv2D", "AddDepthwiseConv2D", "AddAveragePool2D", "AddFullyConnected", "AddSoftmax"]
    assert "MicroMutableOpResolver<5>" in h
    arena = int(re.search(r"ArenaSize = (\d+);", h).group(1))
    assert arena % 16 == 0 and arena > 7000  # above tinygen's own plan (7 KB): TFLM needs more


def test_convert_is_deterministic_and_atomic(tmp_path, capsys):
    assert main(["convert", str(EXAMPLE), "-o", str(tmp_path / "a")]) == 0
    assert main(["convert", str(EXAMPLE), "-o", str(tmp_path / "b")]) == 0
    for f in ("kws_micro.c", "kws_micro.h"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    assert not list((tmp_path / "a").glob(".*tmp"))
