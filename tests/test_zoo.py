"""The test-model zoo: every model exists, is full int8, contains its op, runs on TFLM, rebuilds identically."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tflite

from tests.support import zoo as zoo_mod
from tinygen.errors import TinygenError

REPO = Path(__file__).resolve().parents[1]

INT8 = tflite.TensorType.INT8
INT32 = tflite.TensorType.INT32
FLOAT32 = tflite.TensorType.FLOAT32
SAME = tflite.Padding.SAME
VALID = tflite.Padding.VALID
AF = tflite.ActivationFunctionType

# (input shape, output shape) of the benchmark models
BENCHMARK_IO = {
    "ds_cnn_kws": ((1, 49, 10, 1), (1, 12)),
    "mobilenet_v1_025_vww": ((1, 96, 96, 3), (1, 2)),
    "resnet8_ic": ((1, 32, 32, 3), (1, 10)),
    "fc_autoencoder_ad": ((1, 640), (1, 640)),
    "micro_speech_kws": ((1, 49, 40, 1), (1, 4)),
}


class Parsed:
    """Just enough of the flatbuffer for these checks."""

    def __init__(self, data: bytes):
        self.model = tflite.Model.GetRootAsModel(data, 0)
        assert self.model.SubgraphsLength() == 1
        self.sg = self.model.Subgraphs(0)

    def tensor(self, i):
        return self.sg.Tensors(i)

    def is_const(self, i) -> bool:
        buf = self.model.Buffers(self.tensor(i).Buffer())
        return buf is not None and buf.DataLength() > 0

    def shape(self, i):
        return tuple(int(d) for d in self.tensor(i).ShapeAsNumpy())

    @property
    def inputs(self):
        return [int(i) for i in self.sg.InputsAsNumpy()]

    @property
    def outputs(self):
        return [int(i) for i in self.sg.OutputsAsNumpy()]

    def ops(self):
        """[(name, operator)] in execution order."""
        out = []
        for k in range(self.sg.OperatorsLength()):
            op = self.sg.Operators(k)
            oc = self.model.OperatorCodes(op.OpcodeIndex())
            out.append((tflite.opcode2name(max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())), op))
        return out

    def options(self, name, op_name):
        for n, op in self.ops():
            if n == op_name:
                table = op.BuiltinOptions()
                opts = getattr(tflite, name)()
                opts.Init(table.Bytes, table.Pos)
                yield op, opts


def _parsed(zoo, name) -> Parsed:
    return Parsed(zoo[name].read_bytes())


def test_names_and_tables_agree():
    assert len(zoo_mod.MODEL_NAMES) == len(set(zoo_mod.MODEL_NAMES)) == 20
    assert set(zoo_mod.BENCHMARK_MODELS) <= set(zoo_mod.MODEL_NAMES)
    assert set(zoo_mod.BENCHMARK_MODELS) == set(BENCHMARK_IO)
    assert set(zoo_mod.REQUIRED_OPS) == set(zoo_mod.MODEL_NAMES)


def test_import_and_zoo_dir_do_not_import_tensorflow(tmp_path):
    code = "import sys, tests.support.zoo as z; z.zoo_dir(); print('tensorflow' in sys.modules)"
    env = {**os.environ, "TINYGEN_CACHE": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_zoo_dir_honours_cache_env(monkeypatch, tmp_path):
    monkeypatch.setenv("TINYGEN_CACHE", str(tmp_path))
    d = zoo_mod.zoo_dir()
    assert d.parent == tmp_path and d.name == f"zoo-{zoo_mod.zoo_key()}"
    monkeypatch.delenv("TINYGEN_CACHE")
    assert zoo_mod.zoo_dir().parent == Path.home() / ".cache" / "tinygen"


def test_unknown_model_is_a_tinygen_error():
    with pytest.raises(TinygenError, match="unknown zoo model"):
        zoo_mod.build_zoo(["no_such_model"])
    with pytest.raises(TinygenError):
        zoo_mod.model_path("no_such_model")


def test_build_zoo_returns_every_model(zoo):
    assert list(zoo) == zoo_mod.MODEL_NAMES
    for name, path in zoo.items():
        assert path == zoo_mod.zoo_dir() / f"{name}.tflite"
        assert path.is_file() and path.stat().st_size > 0
    assert zoo_mod.model_path("pad") == zoo["pad"]
    assert not list(zoo_mod.zoo_dir().glob("*.tmp")), "leftover temp files"


@pytest.mark.parametrize("name", zoo_mod.MODEL_NAMES)
def test_model_is_full_int8_and_has_its_op(zoo, name):
    p = _parsed(zoo, name)
    ops = [n for n, _ in p.ops()]
    missing = zoo_mod.REQUIRED_OPS[name] - set(ops)
    assert not missing, f"{name} lacks {missing}: {ops}"
    assert all(op in ops for op in zoo_mod.REQUIRED_OPS[name])

    io_type = FLOAT32 if name == "float_io" else INT8
    for i in p.inputs + p.outputs:
        assert p.tensor(i).Type() == io_type, f"{name}: model I/O tensor {i}"
    for i in range(p.sg.TensorsLength()):
        t = p.tensor(i)
        if i in p.inputs or i in p.outputs:
            continue
        if p.is_const(i):
            # int8 weights; int32 for biases and shape/axis/padding operands
            assert t.Type() in (INT8, INT32), f"{name}: constant tensor {t.Name()} has type {t.Type()}"
        else:
            assert t.Type() == INT8, f"{name}: activation tensor {t.Name()} has type {t.Type()}"
        if t.Type() == INT8:
            q = t.Quantization()
            assert q is not None and q.ScaleLength() >= 1, f"{name}: int8 tensor {t.Name()} without scale"
    # every batch axis is fixed at 1 (Flatten would otherwise become SHAPE/STRIDED_SLICE/PACK)
    assert not {"SHAPE", "STRIDED_SLICE", "PACK"} & set(ops)
    if name == "float_io":
        assert ops[0] == "QUANTIZE" and ops[-1] == "DEQUANTIZE"
    else:
        assert not {"QUANTIZE", "DEQUANTIZE"} & set(ops), ops


def test_conv_options(zoo):
    (_, o), = _parsed(zoo, "conv_s1_same_relu").options("Conv2DOptions", "CONV_2D")
    assert (o.StrideH(), o.StrideW(), o.Padding(), o.FusedActivationFunction()) == (1, 1, SAME, AF.RELU)
    (_, o), = _parsed(zoo, "conv_s2_valid_relu6").options("Conv2DOptions", "CONV_2D")
    assert (o.StrideH(), o.StrideW(), o.Padding(), o.FusedActivationFunction()) == (2, 2, VALID, AF.RELU6)
    (_, o), = _parsed(zoo, "conv_dilated").options("Conv2DOptions", "CONV_2D")
    assert (o.DilationHFactor(), o.DilationWFactor()) == (2, 2)


@pytest.mark.parametrize("name, multiplier", [("depthwise_m1", 1), ("depthwise_m2", 2)])
def test_depthwise_multiplier(zoo, name, multiplier):
    p = _parsed(zoo, name)
    (op, o), = p.options("DepthwiseConv2DOptions", "DEPTHWISE_CONV_2D")
    in_c = p.shape(int(op.InputsAsNumpy()[0]))[-1]
    out_c = p.shape(int(op.OutputsAsNumpy()[0]))[-1]
    assert out_c == multiplier * in_c
    assert o.DepthMultiplier() in (0, multiplier)  # the converter may leave the field at 0


@pytest.mark.parametrize("name", zoo_mod.BENCHMARK_MODELS)
def test_benchmark_shapes(zoo, name):
    p = _parsed(zoo, name)
    (in_shape, out_shape) = BENCHMARK_IO[name]
    assert [p.shape(i) for i in p.inputs] == [in_shape]
    assert [p.shape(i) for i in p.outputs] == [out_shape]


@pytest.mark.parametrize("name", zoo_mod.MODEL_NAMES)
def test_runs_on_tflm(zoo, name):
    from tflite_micro import runtime

    data = zoo[name].read_bytes()
    it = runtime.Interpreter.from_bytes(data, arena_size=4 << 20)
    d = it.get_input_details(0)
    rng = np.random.default_rng(0)
    outs = []
    for _ in range(3):
        if d["dtype"] == np.int8:
            x = rng.integers(-128, 128, size=d["shape"], dtype=np.int8)
        else:
            x = rng.standard_normal(d["shape"]).astype(np.float32)
        it.set_input(x, 0)
        it.invoke()
        outs.append(np.array(it.get_output(0)))
    assert outs[0].shape == tuple(it.get_output_details(0)["shape"])
    if name in zoo_mod.BENCHMARK_MODELS:
        # trained models must not collapse to a constant output
        assert not all(np.array_equal(outs[0], o) for o in outs[1:]), f"{name}: constant output"


def test_rebuild_is_deterministic(zoo, tmp_path, monkeypatch):
    monkeypatch.setenv("TINYGEN_CACHE", str(tmp_path))
    seen = []
    first = zoo_mod.build_zoo(["pad"], progress=lambda i, n, name, status: seen.append((i, n, name, status)))
    assert seen == [(1, 1, "pad", "building"), (1, 1, "pad", "built")]
    a = first["pad"].read_bytes()
    first["pad"].unlink()
    b = zoo_mod.build_zoo(["pad"])["pad"].read_bytes()
    assert a == b
    assert a == zoo["pad"].read_bytes(), "rebuild differs from the cached zoo model"
    seen.clear()
    zoo_mod.build_zoo(["pad"], progress=lambda *args: seen.append(args))
    assert seen == [(1, 1, "pad", "cached")]
    assert (zoo_mod.zoo_dir() / ".lock").exists()


def test_concurrent_builders_agree(tmp_path):
    """Two processes building the same model at once (as pytest-xdist workers do) both succeed."""
    code = "import tests.support.zoo as z; print(z.build_zoo(['conv_s1_same_relu'])['conv_s1_same_relu'])"
    env = {**os.environ, "TINYGEN_CACHE": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "2"}
    procs = [
        subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, results):
        assert p.returncode == 0, err[-2000:]
    paths = {out.strip() for out, _ in results}
    assert len(paths) == 1
    path = Path(paths.pop())
    assert path.is_file()
    assert not list(path.parent.glob("*.tmp"))


def test_cli_lists_models(zoo, capsys):
    assert zoo_mod.main(["--list", "pad", "mean"]) == 0
    out = capsys.readouterr().out
    assert "pad" in out and "mean" in out and "bytes" in out
    assert zoo_mod.main(["pad"]) == 0
    out = capsys.readouterr().out
    assert "CONV_2D PAD" in out
    assert zoo_mod.main(["--list", "nope"]) == 2
