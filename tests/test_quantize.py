"""tinygen.quantize: float Keras model / SavedModel -> full-int8 .tflite plus a float-vs-int8 report."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

pytest.importorskip("tensorflow")
tflite = pytest.importorskip("tflite")

from tinygen.errors import TinygenError  # noqa: E402
from tinygen.model.quantize import QuantizeReport, quantize_model  # noqa: E402

INPUT_SHAPE = (8, 8, 2)
N_CAL = 24


def _io_types_and_ops(data: bytes):
    m = tflite.Model.GetRootAsModel(data, 0)
    sg = m.Subgraphs(0)
    ins = [sg.Tensors(int(i)).Type() for i in sg.InputsAsNumpy()]
    outs = [sg.Tensors(int(i)).Type() for i in sg.OutputsAsNumpy()]
    ops = []
    for k in range(sg.OperatorsLength()):
        oc = m.OperatorCodes(sg.Operators(k).OpcodeIndex())
        ops.append(tflite.opcode2name(max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())))
    return ins, outs, ops


def _small_model(batch_size=None):
    import keras

    keras.utils.set_random_seed(7)
    L = keras.layers
    inp = keras.Input(INPUT_SHAPE, batch_size=batch_size)
    x = L.Conv2D(6, 3, padding="same", activation="relu", bias_initializer="random_normal")(inp)
    x = L.MaxPooling2D(2)(x)
    x = L.Flatten()(x)
    out = L.Dense(5, activation="softmax", bias_initializer="random_normal")(x)
    return keras.Model(inp, out)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("quantize")
    model = _small_model()
    paths = {"keras": d / "small.keras", "savedmodel": d / "small_savedmodel", "h5": d / "fixed_batch.h5"}
    with warnings.catch_warnings():  # Keras' own numpy-2 copy= DeprecationWarning while saving
        warnings.simplefilter("ignore", DeprecationWarning)
        model.save(paths["keras"])
        model.export(str(paths["savedmodel"]), verbose=False)
        _small_model(batch_size=1).save(paths["h5"])
    return paths


@pytest.fixture(scope="module")
def calibration():
    return np.random.default_rng(3).standard_normal((N_CAL, *INPUT_SHAPE)).astype(np.float32)


@pytest.fixture(scope="module")
def int8_result(models, calibration):
    calls = []
    data, report = quantize_model(models["keras"], calibration, progress=lambda i, n: calls.append((i, n)))
    return data, report, calls


def test_int8_model_and_report(int8_result):
    data, report, calls = int8_result
    ins, outs, ops = _io_types_and_ops(data)
    assert ins == [tflite.TensorType.INT8] and outs == [tflite.TensorType.INT8]
    assert {"CONV_2D", "MAX_POOL_2D", "FULLY_CONNECTED", "SOFTMAX"} <= set(ops)
    assert not {"SHAPE", "STRIDED_SLICE", "PACK", "QUANTIZE", "DEQUANTIZE"} & set(ops), ops

    assert isinstance(report, QuantizeReport)
    assert report.samples == N_CAL
    assert 0.0 <= report.top1_agreement <= 1.0
    assert report.top1_agreement >= 0.75  # a tiny softmax model quantizes well
    assert 0.0 <= report.mean_abs_error <= report.max_abs_error < 0.1
    assert report.input_dtype == "int8" and report.output_dtype == "int8"
    assert report.input_shape == (1, *INPUT_SHAPE) and report.output_shape == (1, 5)
    assert report.model_bytes == len(data)
    assert calls == [(i, N_CAL) for i in range(1, N_CAL + 1)]


def test_report_serialises(int8_result):
    _, report, _ = int8_result
    d = report.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["samples"] == N_CAL and d["io"] == "int8"
    lines = report.summary_lines()
    assert lines and all(isinstance(s, str) and "\n" not in s for s in lines)
    assert any("agreement" in s for s in lines)


def test_float_io(models, calibration):
    data, report = quantize_model(models["keras"], calibration, io="float")
    ins, outs, ops = _io_types_and_ops(data)
    assert ins == [tflite.TensorType.FLOAT32] and outs == [tflite.TensorType.FLOAT32]
    assert ops[0] == "QUANTIZE" and ops[-1] == "DEQUANTIZE"
    assert report.io == "float" and report.input_dtype == report.output_dtype == "float32"
    assert 0.0 <= report.top1_agreement <= 1.0


def test_int16_activations_make_a_16x8_model_tinygen_runs(models, calibration):
    """--activations int16: int16 activations and I/O, int8 weights; the oracle's report, and tinygen's
    emulator bit-exact with TFLM on it."""
    from tests.support.oracle import assert_bit_exact
    from tinygen.model.reader import parse_model

    data, report = quantize_model(models["keras"], calibration, activations="int16")
    ins, outs, ops = _io_types_and_ops(data)
    assert ins == [tflite.TensorType.INT16] and outs == [tflite.TensorType.INT16]
    assert {"CONV_2D", "MAX_POOL_2D", "FULLY_CONNECTED", "SOFTMAX"} <= set(ops), ops
    assert report.activations == "int16" and report.input_dtype == report.output_dtype == "int16"
    assert report.top1_agreement >= 0.75 and report.max_abs_error < 0.05
    assert any("16x8" in line for line in report.summary_lines())
    g = parse_model(data)
    assert {t.dtype for t in g.tensors if not t.is_const and t.dtype != np.int32} == {np.dtype(np.int16)}
    assert_bit_exact(data, np.random.default_rng(2), n=4, context="quantize --activations int16")
    with pytest.raises(TinygenError, match="activations must be one of int8, int16"):
        quantize_model(models["keras"], calibration, activations="int4")


def test_batch_axis_and_npy_path_give_the_same_model(models, calibration, int8_result, tmp_path):
    data = int8_result[0]
    with_axis, _ = quantize_model(models["keras"], calibration[:, None])
    assert with_axis == data
    npy = tmp_path / "cal.npy"
    np.save(npy, calibration)
    from_file, report = quantize_model(models["keras"], str(npy))
    assert from_file == data and report.samples == N_CAL


@pytest.mark.parametrize("kind", ["savedmodel", "h5"])
def test_other_formats(models, calibration, kind):
    data, report = quantize_model(models[kind], calibration[:8])
    ins, outs, ops = _io_types_and_ops(data)
    assert ins == outs == [tflite.TensorType.INT8]
    assert not {"SHAPE", "STRIDED_SLICE", "PACK"} & set(ops), ops
    assert report.samples == 8 and 0.0 <= report.top1_agreement <= 1.0
    assert report.max_abs_error < 0.1


def _bad_inputs(tmp_path, models, calibration):
    not_model = tmp_path / "notes.txt"
    not_model.write_text("hello")
    fake_keras = tmp_path / "fake.keras"
    fake_keras.write_bytes(b"not a zip")
    fake_h5 = tmp_path / "fake.h5"
    fake_h5.write_bytes(b"not hdf5 at all")
    empty_dir = tmp_path / "empty_dir"
    empty_dir.mkdir()
    tfl = tmp_path / "m.tflite"
    tfl.write_bytes(b"TFL3")
    not_npy = tmp_path / "cal.txt"
    not_npy.write_text("1 2 3")
    garbage_npy = tmp_path / "garbage.npy"
    garbage_npy.write_bytes(b"definitely not numpy")
    k = models["keras"]
    return {
        "missing model": (tmp_path / "missing.keras", calibration),
        "not a model": (not_model, calibration),
        "fake .keras": (fake_keras, calibration),
        "fake .h5": (fake_h5, calibration),
        "dir without SavedModel": (empty_dir, calibration),
        "tflite given": (tfl, calibration),
        "calibration not npy": (k, not_npy),
        "calibration garbage npy": (k, garbage_npy),
        "calibration missing": (k, tmp_path / "missing.npy"),
        "calibration wrong shape": (k, calibration[:, :4]),
        "calibration wrong rank": (k, calibration[0]),
        "calibration no samples": (k, calibration[:0]),
        "calibration not numbers": (k, np.array([["a"]])),
        "calibration nan": (k, np.full_like(calibration, np.nan)),
    }


BAD_CASES = [
    "missing model", "not a model", "fake .keras", "fake .h5", "dir without SavedModel", "tflite given",
    "calibration not npy", "calibration garbage npy", "calibration missing", "calibration wrong shape",
    "calibration wrong rank", "calibration no samples", "calibration not numbers", "calibration nan",
]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_inputs_raise_one_line_tinygen_errors(case, tmp_path, models, calibration):
    model, cal = _bad_inputs(tmp_path, models, calibration)[case]
    with pytest.raises(TinygenError) as info:
        quantize_model(model, cal)
    msg = str(info.value)
    assert msg and "\n" not in msg and len(msg) < 300, msg


def test_bad_io_mode(models, calibration):
    with pytest.raises(TinygenError, match="io"):
        quantize_model(models["keras"], calibration, io="int4")


def test_quantize_command_writes_model_and_report(models, calibration, tmp_path, capsys):
    from tinygen.cli import main
    from tinygen.model.reader import load_int8_model

    np.save(tmp_path / "cal.npy", calibration)
    out = tmp_path / "q.tflite"
    assert main(["quantize", str(models["keras"]), "-o", str(out), "--calibration", str(tmp_path / "cal.npy"),
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["output"] == str(out) and 0.0 <= report["top1_agreement"] <= 1.0
    g = load_int8_model(out)  # full int8: the rest of tinygen accepts it
    assert g.input_tensors[0].dtype == np.int8
    # bad calibration file: one line, exit 2, nothing written
    (tmp_path / "bad.npy").write_bytes(b"nope")
    out2 = tmp_path / "q2.tflite"
    assert main(["quantize", str(models["keras"]), "-o", str(out2), "--calibration", str(tmp_path / "bad.npy")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a readable .npy" in err and not out2.exists()


def _quantize_in_fresh_process(models, calibration, tmp_path, *extra):
    import os
    import subprocess
    import sys
    from pathlib import Path

    np.save(tmp_path / "cal.npy", calibration)
    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TINYGEN_DEBUG")}
    env["PYTHONPATH"] = str(root)
    code = "import sys; from tinygen.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *extra, "quantize", str(models["keras"]), "-o",
                           str(tmp_path / "q.tflite"), "--calibration", str(tmp_path / "cal.npy")],
                          capture_output=True, text=True, env=env, timeout=300)


def test_tensorflow_start_up_noise_stays_off_stderr(models, calibration, tmp_path):
    """A fresh process (TensorFlow imported by the command): stderr holds nothing but tinygen's
    own lines (before the fix: absl's InitializeLog warning, oneDNN and CUDA lines, cuInit)."""
    quiet = _quantize_in_fresh_process(models, calibration, tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == "", quiet.stderr
    assert quiet.stdout.splitlines()[-1].startswith("wrote ")


@pytest.mark.slow
def test_debug_shows_tensorflow_logging(models, calibration, tmp_path):
    """--debug lets TensorFlow's C++/absl logging through (so the quiet check above means something)."""
    noisy = _quantize_in_fresh_process(models, calibration, tmp_path, "--debug")
    assert noisy.returncode == 0
    assert "absl" in noisy.stderr or "I0000" in noisy.stderr or "tensorflow" in noisy.stderr.lower(), noisy.stderr
