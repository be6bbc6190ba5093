"""A 16x8 model made by TensorFlow's converter (EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8, int16
input and output), with the int16 ops of issue 13 in a row: DEPTHWISE_CONV_2D, LEAKY_RELU, MAX_POOL_2D,
AVERAGE_POOL_2D, MEAN, FULLY_CONNECTED, SOFTMAX. The emulator equals tflite_micro on it, and `tinygen validate`
runs it bit-exact on QEMU Cortex-M4 (generated C, serial protocol, int16 I/O).

The model is built once per recipe and TensorFlow version into $TINYGEN_CACHE (default ~/.cache/tinygen)."""
from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from tests.support.oracle import assert_bit_exact
from tinygen.model.reader import parse_model

IN_SHAPE = (12, 10, 4)


def _recipe(tf, keras):
    tf.keras.utils.set_random_seed(3)
    inp = keras.Input(IN_SHAPE, batch_size=1)
    x = keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(inp)
    x = keras.layers.LeakyReLU(0.15)(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.AveragePooling2D(2, padding="same")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(10)(x)
    return keras.Model(inp, keras.layers.Softmax()(x))


def _build() -> bytes:
    import tensorflow as tf
    import keras

    tf.config.experimental.enable_op_determinism()
    model = _recipe(tf, keras)
    rep = np.random.default_rng(4).standard_normal((32, *IN_SHAPE)).astype("float32")

    def representative():
        for s in rep:
            yield [s[None]]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    conv.inference_input_type = tf.int16
    conv.inference_output_type = tf.int16
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bytes(conv.convert())


@pytest.fixture(scope="module")
def model16(tmp_path_factory) -> Path:
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("building the 16x8 model needs TensorFlow")
    from importlib.metadata import version

    key = hashlib.sha256(Path(__file__).read_bytes() + version("tensorflow").encode()).hexdigest()[:12]
    base = os.environ.get("TINYGEN_CACHE")
    root = Path(base).expanduser() if base else Path.home() / ".cache" / "tinygen"
    path = root / f"int16-tf-{key}.tflite"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(_build())
        tmp.replace(path)
    return path


def test_converter_model_is_all_int16_and_bit_exact(model16):
    data = model16.read_bytes()
    g = parse_model(data)
    ops = [op.op for op in g.operators]
    assert ops == ["DEPTHWISE_CONV_2D", "LEAKY_RELU", "MAX_POOL_2D", "AVERAGE_POOL_2D", "MEAN", "FULLY_CONNECTED", "SOFTMAX"], ops
    for op in g.operators:
        assert g.tensors[op.inputs[0]].dtype == np.int16 and g.tensors[op.outputs[0]].dtype == np.int16, op.op
    rng = np.random.default_rng(5)
    s = g.input_tensors[0].scale
    typical = np.clip(rng.standard_normal((6, 1, *IN_SHAPE)) / s, -32768, 32767).astype(np.int16)
    assert_bit_exact(data, None, inputs=[typical], context="16x8 converter model, calibration-like inputs")
    assert_bit_exact(data, rng, n=4, context="16x8 converter model, full-range inputs")


@pytest.mark.qemu
@pytest.mark.skipif(not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")),
                    reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_validate_on_qemu(model16, tmp_path):
    from tinygen.cli import main
    from tinygen.emulator.engine import Emulator

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["validate", str(model16), "--board", "qemu-cortex-m4", "--samples", "4", "--seed", "3", "--json",
                   "--save-outputs", str(tmp_path / "dev.npy"), "-q"])
    assert rc == 0, out.getvalue() + err.getvalue()
    d = json.loads(out.getvalue())
    assert d["samples"] == 4 and d["bit_exact"] == 1.0 and d["passed"] is True
    saved = np.load(tmp_path / "dev.npy")
    assert saved.dtype == np.int16 and saved.shape == (4, 10)
    assert int(saved.max()) > 0  # softmax probabilities, not all zero
    g = parse_model(model16.read_bytes())
    assert np.all(np.abs(saved.astype(np.int64).sum(axis=1) - 32768) <= 10)  # rows sum to ~1.0 in Q0.15
    assert g.output_tensors[0].dtype == np.int16 and Emulator is not None


def test_selftest_inputs_of_an_int16_model_are_the_firmware_bytes(model16):
    """The firmware fills an int16 input with its LCG test bytes (little-endian pairs): the host's
    expectation for `tinygen run` reads the same bytes as int16."""
    from tinygen.boards.project import TEST_SEED, lcg_bytes, selftest_inputs

    g = parse_model(model16.read_bytes())
    (x,) = selftest_inputs(g)
    t = g.input_tensors[0]
    assert x.dtype == np.int16 and x.shape == tuple(t.shape)
    np.testing.assert_array_equal(x.reshape(-1), lcg_bytes(t.nbytes, TEST_SEED).view("<i2"))
