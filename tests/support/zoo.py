"""The test-model zoo: small full-int8 .tflite models built with TensorFlow.

Every model is built from a recipe in this file with fixed seeds, so the same
recipe and TensorFlow version give the same bytes. Built models are cached in
``$TINYGEN_CACHE/zoo-<key>`` (default ``~/.cache/tinygen/zoo-<key>``), where the
key hashes this file's source and the TensorFlow version: changing a recipe
(or TensorFlow) builds a fresh zoo.

Two families:

* op-coverage models, each named for the operator (or option) it exercises,
  e.g. ``conv_s2_valid_relu6`` or ``depthwise_m2``;
* benchmark models shaped like MLPerf Tiny and TFLM's micro_speech (``BENCHMARK_MODELS``), trained
  for a couple of epochs on seeded synthetic data so their weights are not
  trivial.

All models have int8 weights and activations; all but ``float_io`` have int8
input and output (``float_io`` keeps float32 I/O and so contains QUANTIZE and
DEQUANTIZE).

TensorFlow is imported only when a model has to be built, so ``import
tests.support.zoo``, ``zoo_dir()`` and cache hits are cheap.

Command line: ``python -m tests.support.zoo [--list] [NAMES...]``.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import io
import os
import sys
import tempfile
import time
import warnings
import zlib
from collections import Counter
from pathlib import Path
from typing import Callable, Iterable

from tinygen.errors import TinygenError

# --------------------------------------------------------------------------- API

OP_MODELS = [
    "conv_s1_same_relu",
    "conv_s2_valid_relu6",
    "conv_dilated",
    "depthwise_m1",
    "depthwise_m2",
    "fully_connected",
    "avg_pool",
    "max_pool",
    "add_mul",
    "reshape_softmax",
    "mean",
    "concat",
    "pad",
    "logistic_tanh",
    "float_io",
]

BENCHMARK_MODELS = [
    "ds_cnn_kws",
    "mobilenet_v1_025_vww",
    "resnet8_ic",
    "fc_autoencoder_ad",
    "micro_speech_kws",
]

MODEL_NAMES = OP_MODELS + BENCHMARK_MODELS

# The builtin operators each model must contain (checked after every build).
REQUIRED_OPS: dict[str, set[str]] = {
    "conv_s1_same_relu": {"CONV_2D"},
    "conv_s2_valid_relu6": {"CONV_2D"},
    "conv_dilated": {"CONV_2D"},
    "depthwise_m1": {"DEPTHWISE_CONV_2D"},
    "depthwise_m2": {"DEPTHWISE_CONV_2D"},
    "fully_connected": {"FULLY_CONNECTED"},
    "avg_pool": {"AVERAGE_POOL_2D"},
    "max_pool": {"MAX_POOL_2D"},
    "add_mul": {"ADD", "MUL"},
    "reshape_softmax": {"RESHAPE", "SOFTMAX"},
    "mean": {"MEAN"},
    "concat": {"CONCATENATION"},
    "pad": {"PAD"},
    "logistic_tanh": {"LOGISTIC", "TANH"},
    "float_io": {"QUANTIZE", "DEQUANTIZE"},
    "ds_cnn_kws": {"CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "FULLY_CONNECTED", "SOFTMAX"},
    "mobilenet_v1_025_vww": {"CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "FULLY_CONNECTED", "SOFTMAX"},
    "resnet8_ic": {"CONV_2D", "ADD", "AVERAGE_POOL_2D", "FULLY_CONNECTED", "SOFTMAX"},
    "fc_autoencoder_ad": {"FULLY_CONNECTED"},
    "micro_speech_kws": {"DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "SOFTMAX"},
}

# Models whose input and output stay float32.
FLOAT_IO_MODELS = {"float_io"}

ProgressFn = Callable[[int, int, str, str], None]
"""progress(i, n, name, status): i is 1-based, status is "cached", "building" or "built"."""


class ZooError(TinygenError):
    """Unknown zoo model name, or the zoo cannot be built (TensorFlow missing)."""


def zoo_key() -> str:
    """Short hash of this file's source and the installed TensorFlow version."""
    h = hashlib.sha256(Path(__file__).read_bytes())
    h.update(b"\0tensorflow=" + _tf_version().encode())
    return h.hexdigest()[:12]


def zoo_dir() -> Path:
    """The cache directory for this zoo recipe (not created)."""
    base = os.environ.get("TINYGEN_CACHE")
    root = Path(base).expanduser() if base else Path.home() / ".cache" / "tinygen"
    return root / f"zoo-{zoo_key()}"


def model_path(name: str) -> Path:
    """Path of the zoo model `name`, building it first if it is not cached."""
    return build_zoo([name])[name]


def build_zoo(names: Iterable[str] | None = None, progress: ProgressFn | None = None) -> dict[str, Path]:
    """Build the missing models among `names` (default: all) and return their paths.

    Safe to call from several processes at once: building happens under an
    exclusive lock on ``<zoo_dir>/.lock`` and every file is written to a temp
    file and renamed into place.
    """
    names = list(MODEL_NAMES if names is None else names)
    unknown = [n for n in names if n not in MODEL_NAMES]
    if unknown:
        raise ZooError(f"unknown zoo model {unknown[0]!r} (known: {', '.join(MODEL_NAMES)})")
    directory = zoo_dir()
    paths = {n: directory / f"{n}.tflite" for n in names}
    total = len(names)

    if all(p.is_file() for p in paths.values()):
        if progress:
            for i, n in enumerate(names, 1):
                progress(i, total, n, "cached")
        return paths

    directory.mkdir(parents=True, exist_ok=True)
    with _locked(directory / ".lock"):
        for i, n in enumerate(names, 1):
            path = paths[n]
            if path.is_file():  # maybe built by another process while we waited
                if progress:
                    progress(i, total, n, "cached")
                continue
            if progress:
                progress(i, total, n, "building")
            data = build_model(n)
            _atomic_write(path, data)
            if progress:
                progress(i, total, n, "built")
    return paths


def build_model(name: str) -> bytes:
    """Build zoo model `name` from its recipe and return the .tflite bytes (no caching)."""
    if name not in MODEL_NAMES:
        raise ZooError(f"unknown zoo model {name!r} (known: {', '.join(MODEL_NAMES)})")
    tf, keras = _import_tf()
    import random

    import numpy as np

    # keras.utils.set_random_seed also seeds Python's and NumPy's global RNGs:
    # put them back afterwards so building the zoo does not reseed the caller.
    saved_states = random.getstate(), np.random.get_state()
    try:
        # Every model gets its own seed (not dependent on build order) and a fresh
        # Keras session, so layer and tensor names restart from the same counters.
        keras.backend.clear_session()
        seed = zlib.crc32(name.encode()) & 0x7FFFFFFF
        keras.utils.set_random_seed(seed)
        model, rep_data = _RECIPES[name](tf, keras, seed)
        data = _convert(tf, model, rep_data, float_io=name in FLOAT_IO_MODELS)
        keras.backend.clear_session()
    finally:
        random.setstate(saved_states[0])
        np.random.set_state(saved_states[1])
    missing = REQUIRED_OPS[name] - set(op_names(data))
    if missing:  # a recipe bug, not a user error
        raise RuntimeError(f"zoo model {name} lacks {sorted(missing)}; ops: {op_names(data)}")
    return data


def op_names(data: bytes) -> list[str]:
    """Builtin operator names of the main subgraph, in execution order."""
    import tflite

    model = tflite.Model.GetRootAsModel(data, 0)
    sg = model.Subgraphs(0)
    out = []
    for i in range(sg.OperatorsLength()):
        oc = model.OperatorCodes(sg.Operators(i).OpcodeIndex())
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        out.append(tflite.opcode2name(code))
    return out


# ------------------------------------------------------------------ internals


def _tf_version() -> str:
    try:
        return importlib.metadata.version("tensorflow")
    except importlib.metadata.PackageNotFoundError:
        return "none"


@contextlib.contextmanager
def _locked(lock_path: Path):
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


_determinism_enabled = False


def _import_tf():
    global _determinism_enabled
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf
        import keras
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ZooError(f"building the model zoo needs TensorFlow ({e}); install tinygen[tf]") from None
    if not _determinism_enabled:
        tf.config.experimental.enable_op_determinism()
        _determinism_enabled = True
    return tf, keras


def _convert(tf, model, rep_data, float_io: bool) -> bytes:
    """Full-integer post-training quantization of a Keras model with batch-1 input."""
    def representative():
        for sample in rep_data:
            yield [sample[None].astype("float32")]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    io_type = tf.float32 if float_io else tf.int8
    conv.inference_input_type = io_type
    conv.inference_output_type = io_type
    # from_keras_model exports a temporary SavedModel and prints about it on stdout.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        return bytes(conv.convert())


# ------------------------------------------------------------------- recipes
# Each recipe: (tf, keras, seed) -> (keras model with batch-1 input, representative samples
# as a float32 array [N, *input_shape_without_batch]).

_N_REP = 32


def _rng(seed):
    import numpy as np

    return np.random.default_rng(seed)


def _random_rep(seed, shape, n=_N_REP):
    return _rng(seed + 1).standard_normal((n, *shape)).astype("float32")


def _op_model(keras, shape, body):
    inp = keras.Input(shape, batch_size=1, name="input")
    return keras.Model(inp, body(keras.layers, inp))


def _conv(L, filters, kernel, **kw):
    kw.setdefault("bias_initializer", "random_normal")
    return L.Conv2D(filters, kernel, **kw)


def _r_conv_s1_same_relu(tf, keras, seed):
    shape = (12, 12, 3)
    m = _op_model(keras, shape, lambda L, x: _conv(L, 8, 3, padding="same", activation="relu")(x))
    return m, _random_rep(seed, shape)


def _r_conv_s2_valid_relu6(tf, keras, seed):
    shape = (13, 13, 3)
    m = _op_model(
        keras, shape, lambda L, x: _conv(L, 8, 3, strides=2, padding="valid", activation="relu6")(x)
    )
    # scale up so ReLU6's upper clamp is reached by part of the range
    return m, 3.0 * _random_rep(seed, shape)


def _r_conv_dilated(tf, keras, seed):
    shape = (12, 12, 4)
    m = _op_model(keras, shape, lambda L, x: _conv(L, 8, 3, dilation_rate=2, padding="same")(x))
    return m, _random_rep(seed, shape)


def _r_depthwise_m1(tf, keras, seed):
    shape = (12, 12, 8)

    def body(L, x):
        return L.DepthwiseConv2D(3, padding="same", activation="relu", bias_initializer="random_normal")(x)

    return _op_model(keras, shape, body), _random_rep(seed, shape)


def _r_depthwise_m2(tf, keras, seed):
    shape = (11, 11, 4)

    def body(L, x):
        return L.DepthwiseConv2D(
            3, strides=2, depth_multiplier=2, padding="valid", bias_initializer="random_normal"
        )(x)

    return _op_model(keras, shape, body), _random_rep(seed, shape)


def _r_fully_connected(tf, keras, seed):
    shape = (4, 4, 4)

    def body(L, x):
        x = L.Flatten()(x)
        x = L.Dense(24, activation="relu", bias_initializer="random_normal")(x)
        return L.Dense(10, bias_initializer="random_normal")(x)

    return _op_model(keras, shape, body), _random_rep(seed, shape)


def _r_avg_pool(tf, keras, seed):
    shape = (12, 12, 4)

    def body(L, x):
        x = _conv(L, 8, 1)(x)
        x = L.AveragePooling2D(2)(x)
        return L.AveragePooling2D(3, strides=2, padding="same")(x)

    return _op_model(keras, shape, body), _random_rep(seed, shape)


def _r_max_pool(tf, keras, seed):
    shape = (12, 12, 4)

    def body(L, x):
        x = _conv(L, 8, 1)(x)
        x = L.MaxPooling2D(2)(x)
        return L.MaxPooling2D(3, strides=2, padding="same")(x)

    return _op_model(keras, shape, body), _random_rep(seed, shape)


def _r_add_mul(tf, keras, seed):
    shape = (8, 8, 4)

    def body(L, x):
        a = _conv(L, 8, 1)(x)
        b = _conv(L, 8, 3, padding="same")(x)
        s = L.Add()([a, b])
        return L.Multiply()([s, a])

    return _op_model(keras, shape, body), _random_rep(seed, shape)


def _r_reshape_softmax(tf, keras, seed):
    shape = (4, 4, 3)

    def body(L, x):
        x = _conv(L, 4, 1)(x)
        x = L.Reshape((16, 4))(x)
        return L.Softmax(axis=-1)(x)

    return _op_model(keras, shape, body), 2.0 * _random_rep(seed, shape)


def _r_mean(tf, keras, seed):
    shape = (8, 8, 4)

    def body(L, x):
        x = _conv(L, 8, 3, padding="same", activation="relu")(x)
        return L.GlobalAveragePooling2D()(x)

    return _op_model(keras, shape, body), _random_rep(seed, shape)


def _r_concat(tf, keras, seed):
    shape = (8, 8, 4)

    def body(L, x):
        a = _conv(L, 6, 1)(x)
        b = _conv(L, 3, 3, padding="same", activation="relu")(x)
        return L.Concatenate(axis=-1)([a, b])

    return _op_model(keras, shape, body), _random_rep(seed, shape)


def _r_pad(tf, keras, seed):
    shape = (8, 8, 4)

    def body(L, x):
        x = _conv(L, 6, 1)(x)
        return L.ZeroPadding2D(((1, 2), (2, 1)))(x)

    return _op_model(keras, shape, body), _random_rep(seed, shape)


def _r_logistic_tanh(tf, keras, seed):
    shape = (16,)

    def body(L, x):
        x = L.Dense(16, bias_initializer="random_normal")(x)
        x = L.Activation("sigmoid")(x)
        x = L.Dense(8, bias_initializer="random_normal")(x)
        return L.Activation("tanh")(x)

    return _op_model(keras, shape, body), 2.0 * _random_rep(seed, shape)


def _r_float_io(tf, keras, seed):
    shape = (8, 8, 3)

    def body(L, x):
        x = _conv(L, 8, 3, strides=2, padding="same", activation="relu")(x)
        x = L.Flatten()(x)
        return L.Dense(5, bias_initializer="random_normal")(x)

    return _op_model(keras, shape, body), _random_rep(seed, shape)


# -- benchmark-shaped models, trained briefly on synthetic data


def _synthetic_classes(seed, shape, classes, n=320):
    """Class prototypes plus noise: learnable, so a short training run moves the weights."""
    rng = _rng(seed + 2)
    protos = rng.standard_normal((classes, *shape)).astype("float32")
    y = rng.integers(0, classes, n)
    x = 0.6 * protos[y] + rng.standard_normal((n, *shape)).astype("float32")
    return x.astype("float32"), y.astype("int32")


def _train_classifier(keras, model, x, y, epochs=3):
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x, y, batch_size=32, epochs=epochs, shuffle=True, verbose=0)
    return model


def _bn(L, x):
    # A low momentum lets the moving statistics catch up within the few training
    # steps; with Keras' default (0.99) they stay near their initial values and the
    # inference-mode model outputs almost the same thing for every input.
    return L.BatchNormalization(momentum=0.7)(x)


def _bn_relu(L, x):
    return L.ReLU()(_bn(L, x))


def _r_ds_cnn_kws(tf, keras, seed):
    # MLPerf Tiny keyword spotting DS-CNN: 49x10 MFCC input, 12 classes.
    shape, classes = (49, 10, 1), 12
    L = keras.layers
    inp = keras.Input(shape, batch_size=1, name="input")
    x = L.Conv2D(64, (10, 4), strides=(2, 2), padding="same")(inp)
    x = _bn_relu(L, x)
    x = L.Dropout(0.2)(x)
    for _ in range(4):
        x = L.DepthwiseConv2D(3, padding="same")(x)
        x = _bn_relu(L, x)
        x = L.Conv2D(64, 1, padding="same")(x)
        x = _bn_relu(L, x)
    x = L.Dropout(0.4)(x)
    x = L.AveragePooling2D(pool_size=(25, 5))(x)
    x = L.Flatten()(x)
    out = L.Dense(classes, activation="softmax")(x)
    model = keras.Model(inp, out, name="ds_cnn_kws")
    xs, ys = _synthetic_classes(seed, shape, classes)
    _train_classifier(keras, model, xs, ys)
    return model, xs[:_N_REP]


def _r_mobilenet_v1_025_vww(tf, keras, seed):
    # MobileNetV1, width multiplier 0.25, 96x96x3 input, 2 classes (person / no person).
    shape, classes, alpha = (96, 96, 3), 2, 0.25
    L = keras.layers
    inp = keras.Input(shape, batch_size=1, name="input")
    x = L.Conv2D(int(32 * alpha), 3, strides=2, padding="same", use_bias=False)(inp)
    x = _bn_relu(L, x)
    blocks = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)]
    blocks += [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    for filters, stride in blocks:
        x = L.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(x)
        x = _bn_relu(L, x)
        x = L.Conv2D(int(filters * alpha), 1, padding="same", use_bias=False)(x)
        x = _bn_relu(L, x)
    x = L.AveragePooling2D(pool_size=3)(x)  # 96 / 32 = 3
    x = L.Flatten()(x)
    out = L.Dense(classes, activation="softmax")(x)
    model = keras.Model(inp, out, name="mobilenet_v1_025_vww")
    xs, ys = _synthetic_classes(seed, shape, classes, n=256)
    _train_classifier(keras, model, xs, ys)
    return model, xs[:_N_REP]


def _r_resnet8_ic(tf, keras, seed):
    # MLPerf Tiny image classification ResNet-8: CIFAR-10 sized input, stacks of 16/32/64.
    shape, classes = (32, 32, 3), 10
    L = keras.layers
    inp = keras.Input(shape, batch_size=1, name="input")
    x = L.Conv2D(16, 3, padding="same")(inp)
    x = _bn_relu(L, x)
    for filters, stride in [(16, 1), (32, 2), (64, 2)]:
        y = L.Conv2D(filters, 3, strides=stride, padding="same")(x)
        y = _bn_relu(L, y)
        y = L.Conv2D(filters, 3, padding="same")(y)
        y = _bn(L, y)
        if stride != 1:
            x = L.Conv2D(filters, 1, strides=stride, padding="same")(x)
        x = L.ReLU()(L.Add()([x, y]))
    x = L.AveragePooling2D(pool_size=x.shape[1])(x)
    x = L.Flatten()(x)
    out = L.Dense(classes, activation="softmax")(x)
    model = keras.Model(inp, out, name="resnet8_ic")
    xs, ys = _synthetic_classes(seed, shape, classes)
    _train_classifier(keras, model, xs, ys)
    return model, xs[:_N_REP]


def _r_fc_autoencoder_ad(tf, keras, seed):
    # MLPerf Tiny anomaly detection: 640 (5 frames x 128 mel bins) -> 128x4 -> 8 -> 128x4 -> 640.
    L = keras.layers
    inp = keras.Input((640,), batch_size=1, name="input")
    x = inp
    for units in [128] * 4 + [8] + [128] * 4:
        x = L.Dense(units)(x)
        x = _bn_relu(L, x)
    out = L.Dense(640)(x)
    model = keras.Model(inp, out, name="fc_autoencoder_ad")
    # Synthetic "spectrogram" frames: a few smooth spectral shapes plus noise.
    rng = _rng(seed + 2)
    basis = rng.standard_normal((6, 640)).astype("float32")
    coef = rng.standard_normal((384, 6)).astype("float32")
    xs = (coef @ basis / 2.0 + 0.3 * rng.standard_normal((384, 640))).astype("float32")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    model.fit(xs, xs, batch_size=32, epochs=2, shuffle=True, verbose=0)
    return model, xs[:_N_REP]


def _r_micro_speech_kws(tf, keras, seed):
    # TFLite Micro's micro_speech model shape: a 49x40 spectrogram, one DEPTHWISE_CONV_2D 10x8,
    # stride 2, depth multiplier 8 (25x20x8), then FULLY_CONNECTED to 4 classes and softmax.
    shape, classes = (49, 40, 1), 4
    L = keras.layers
    inp = keras.Input(shape, batch_size=1, name="input")
    x = L.DepthwiseConv2D((10, 8), strides=(2, 2), depth_multiplier=8, padding="same", activation="relu",
                          bias_initializer="random_normal")(inp)
    x = L.Flatten()(x)
    out = L.Dense(classes, activation="softmax")(x)
    model = keras.Model(inp, out, name="micro_speech_kws")
    xs, ys = _synthetic_classes(seed, shape, classes, n=256)
    _train_classifier(keras, model, xs, ys, epochs=2)
    return model, xs[:_N_REP]


_RECIPES = {name: globals()[f"_r_{name}"] for name in MODEL_NAMES}


# ------------------------------------------------------------------------ CLI


def _describe_ops(ops: list[str]) -> str:
    counts = Counter(ops)
    return " ".join(f"{op}x{c}" if c > 1 else op for op, c in counts.items())


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m tests.support.zoo",
        description="Build (if missing) and list the tinygen test-model zoo.",
    )
    parser.add_argument("--list", action="store_true", help="only list model names and cache state")
    parser.add_argument("names", nargs="*", help="models to build (default: all)")
    args = parser.parse_args(argv)
    names = args.names or MODEL_NAMES
    try:
        if args.list:
            directory = zoo_dir()
            print(f"# zoo cache: {directory}")
            for n in names:
                if n not in MODEL_NAMES:
                    raise ZooError(f"unknown zoo model {n!r}")
                p = directory / f"{n}.tflite"
                state = f"{p.stat().st_size} bytes" if p.is_file() else "not built"
                print(f"{n:24s} {state}")
            return 0

        started = {}

        def progress(i, n, name, status):
            if status == "building":
                started[name] = time.monotonic()
                print(f"[{i}/{n}] building {name} ...", file=sys.stderr, flush=True)
            elif status == "built":
                dt = time.monotonic() - started.get(name, time.monotonic())
                print(f"[{i}/{n}] built {name} in {dt:.1f} s", file=sys.stderr, flush=True)

        paths = build_zoo(names, progress=progress)
    except TinygenError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    print(f"# zoo cache: {zoo_dir()}")
    for n, p in paths.items():
        data = p.read_bytes()
        print(f"{n:24s} {len(data):8d} bytes  {_describe_ops(op_names(data))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
