"""docs/ops.md is generated from the op registry and kept current; no op is emulator-only."""
from __future__ import annotations

import numpy as np

from tinygen.ops import REGISTRY, unsupported_ops
from tinygen.ops.catalog import TFLM_BUILTINS, doc_path, has_c, render
from tests.support.opmodels import ModelBuilder


def test_docs_ops_md_is_current():
    assert doc_path().read_text() == render(), "docs/ops.md is stale: run `python -m tinygen.ops.catalog --write`"


def test_every_registered_op_has_a_c_kernel_and_types():
    for name, impl in REGISTRY.items():
        assert has_c(impl), f"{name} runs only in the emulator"
        assert impl.dtypes, name
        assert set(impl.dsp_dtypes) <= set(impl.dtypes), name


def test_every_registered_op_is_a_tflm_builtin_in_scope():
    for name in REGISTRY:
        assert name in TFLM_BUILTINS, name
        assert TFLM_BUILTINS[name][1] == "", f"{name} is registered but listed as out of scope"


def test_table_rows_match_registry():
    rows = {line.split(" | ")[0].lstrip("| "): line for line in render().splitlines() if line.startswith("| ") and "---" not in line}
    for name in REGISTRY:
        assert f"| {name} | " in rows[name] + " " and " - | - |" not in rows[name].split(" | ", 2)[2][:10], name
    for name, (_, scope) in TFLM_BUILTINS.items():
        if not scope and name not in REGISTRY:
            assert rows[name].endswith("| not yet |"), name
    assert rows["SVDF"].endswith("|  |")
    assert rows["DEPTHWISE_CONV_2D"].endswith("|  |") and rows["CONV_2D"].endswith("|  |")
    for name, row in rows.items():  # "int16 not yet" exactly where TFLM runs int16 and tinygen does not
        cells = row.split(" | ")
        if name in REGISTRY and TFLM_BUILTINS.get(name, ("", ""))[1] == "":
            assert row.endswith("| int16 not yet |") == ("int16" in cells[1] and "int16" not in cells[2]), row


def test_unsupported_names_op_and_dtype():
    m = ModelBuilder()
    x = m.tensor([1, 4], dtype=np.int16, scale=0.1, zero_point=0)
    y = m.tensor([1, 4], dtype=np.int16, scale=0.1, zero_point=0)
    m.op("NEG", [x], [y])
    from tinygen.model.reader import parse_model

    problems = unsupported_ops(parse_model(m.build([x], [y])))
    assert len(problems) == 1
    assert problems[0]["op"] == "NEG" and problems[0]["dtypes"] == "int16 -> int16"
    assert "NEG" in problems[0]["reason"] and "int16" in problems[0]["reason"]


def test_inspect_names_op_and_dtype_of_a_registered_op_with_an_unsupported_type(tmp_path, capsys):
    """An op tinygen runs, with a type it does not (int16 LESS: TFLM's comparisons are int8 / int32 too): inspect's
    report and generate's one-line error name both the op and the types."""
    from tinygen.cli import main

    m = ModelBuilder()
    a = m.tensor([1, 4], dtype=np.int16, scale=0.1, zero_point=0)
    b = m.tensor([1, 4], dtype=np.int16, scale=0.1, zero_point=0)
    y = m.tensor([1, 4], dtype=np.bool_)
    m.op("LESS", [a, b], [y])
    path = tmp_path / "less16.tflite"
    path.write_bytes(m.build([a, b], [y]))
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if "(LESS)" in ln)
    assert "int16 -> bool" in line and "tinygen runs LESS for int8 -> bool, int32 -> bool" in line, line
    assert main(["generate", str(path), "-o", str(tmp_path / "gen")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "LESS" in err[0] and "int16" in err[0], err
    assert not (tmp_path / "gen").exists()


def test_readme_lists_every_supported_op():
    readme = (doc_path().parents[1] / "README.md").read_text()
    para = readme[readme.index("Supported ops (int8 unless noted"):]
    para = para[: para.index("\n\n")]
    for name in REGISTRY:
        assert name in para.replace("\n", " "), f"README's op list misses {name}"
