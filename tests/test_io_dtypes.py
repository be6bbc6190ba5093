"""Models whose inputs/outputs are not int8 (issue 13): int16 I/O (16x8), int32 I/O, and int8 internals with
float32 I/O (QUANTIZE / DEQUANTIZE at the ends), through every command that feeds a model on QEMU Cortex-M4:
`emulate`, `run`, `validate` (random inputs of the input's type), `monitor --run`, `profile` and `benchmark`
(user benchmark: raw input bytes). Each answer is checked against the emulator (bit-exact) by the command
itself; the test asserts the commands say so. One tiny model per I/O type; the firmware builds are cached
($TINYGEN_CACHE) and shared between the commands."""
from __future__ import annotations

import contextlib
import io
import json
import shutil

import numpy as np
import pytest

from tinygen.cli import main
from tinygen.model.reader import parse_model
from tests.support.opmodels import ModelBuilder

BOARD = "qemu-cortex-m4"

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")),
                       reason="needs arm-none-eabi-gcc and qemu-system-arm"),
]


def int16_model() -> bytes:
    m = ModelBuilder()
    a = m.tensor([1, 24], dtype=np.int16, scale=0.01, zero_point=0)
    b = m.tensor([1, 24], dtype=np.int16, scale=0.02, zero_point=0)
    y = m.tensor([1, 24], dtype=np.int16, scale=0.025, zero_point=0)
    m.op("ADD", [a, b], [y], fused_activation_function="NONE")
    return m.build([a, b], [y])


def int32_model() -> bytes:
    m = ModelBuilder()
    a = m.tensor([1, 12], dtype=np.int32)
    b = m.tensor([1, 12], dtype=np.int32)
    y = m.tensor([1, 12], dtype=np.int32)
    z = m.tensor([1, 12], dtype=np.int32)
    m.op("MUL", [a, b], [y], fused_activation_function="NONE")
    m.op("ADD", [y, a], [z], fused_activation_function="RELU")
    return m.build([a, b], [z])


def float_io_model() -> bytes:
    m = ModelBuilder()
    x = m.tensor([1, 20], dtype=np.float32)
    q = m.tensor([1, 20], scale=0.05, zero_point=3)
    s = m.tensor([1, 20], scale=0.08, zero_point=-5)
    y = m.tensor([1, 20], dtype=np.float32)
    m.op("QUANTIZE", [x], [q])
    m.op("ADD", [q, q], [s], fused_activation_function="NONE")
    m.op("DEQUANTIZE", [s], [y])
    return m.build([x], [y])


MODELS = {"io_int16": (int16_model, "int16"), "io_int32": (int32_model, "int32"), "io_floatio": (float_io_model, "float32")}


def cli(*args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in args])
    return rc, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_command_with_non_int8_io(name, tmp_path):
    build, dtype = MODELS[name]
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(build())
    g = parse_model(path.read_bytes())
    assert {t.dtype_name for t in g.input_tensors + g.output_tensors} == {dtype}

    # emulate: a batch of the input's own type
    rng = np.random.default_rng(5)
    files = []
    for k, t in enumerate(g.input_tensors):
        x = (rng.standard_normal((3, *t.shape)) if dtype == "float32" else
             rng.integers(-30000, 30000, (3, *t.shape))).astype(dtype)
        np.save(tmp_path / f"in{k}.npy", x)
        files += ["--inputs", tmp_path / f"in{k}.npy"]
    rc, out, err = cli("emulate", path, *files, "--output", tmp_path / "out.npy", "--json")
    assert rc == 0, err
    y = np.load(tmp_path / "out.npy")
    assert y.dtype == np.dtype(dtype) and y.shape[0] == 3 and y[0].size == g.output_tensors[0].size

    # run: generate, build, self-test in QEMU, compared with the emulator
    rc, out, err = cli("run", path, "--board", BOARD, "--json")
    assert rc == 0, err
    r = json.loads(out)
    assert r["ok"] is True and not r["mismatches"]

    # validate: random inputs of the input's type, and the emulate batch
    rc, out, err = cli("validate", path, "--board", BOARD, "--samples", 2, "--json")
    assert rc == 0, err
    rep = json.loads(out)
    assert rep["passed"] and rep["samples"] == 2 and rep["bit_exact_samples"] == 2
    rc, out, err = cli("validate", path, "--board", BOARD, *files, "--save-outputs", tmp_path / "dev.npy", "--json")
    assert rc == 0, err
    np.testing.assert_array_equal(np.load(tmp_path / "dev.npy"), y)

    # monitor --run: random inputs through the protocol, each checked against the emulator
    rc, out, err = cli("monitor", "--board", BOARD, "--model", path, "--run", 2, "--json", "--duration", 60)
    assert rc == 0, err
    recs = [json.loads(ln) for ln in out.splitlines()]
    runs = [r for r in recs if r["type"] == "result" and r.get("source") == "run"]
    assert len(runs) == 2 and all(r["bit_exact"] for r in runs), out[-2000:]

    # profile: per-layer cycles of random inputs
    rc, out, err = cli("profile", path, "--board", BOARD, "--runs", 1, "--no-estimate", "--json", "-q")
    assert rc == 0, err
    prof = json.loads(out)
    assert len(prof["layers"]) == len(g.operators)

    # benchmark (MLPerf DUT protocol, user benchmark: raw input bytes of the input's type)
    rc, out, err = cli("benchmark", path, "--board", BOARD, "--runs", 1, "--json")
    assert rc == 0, err
    b = json.loads(out)
    assert b["ok"] and b["bit_exact"] == b["samples"] >= 1 and not b["mismatches"]
