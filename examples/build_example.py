"""Build examples/kws_micro.tflite: a small keyword-spotting-shaped full-int8 model.

Usage (from the repository root):

    TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python examples/build_example.py [--out PATH]

The model takes a 49x10x1 "MFCC" input (49 frames of 10 coefficients, the
MLPerf Tiny keyword-spotting layout) and outputs 4 class probabilities. It is a
scaled-down DS-CNN: one strided conv, two depthwise-separable blocks, average
pooling, a dense layer and softmax. It is trained for a few epochs on seeded
synthetic data (a fixed random pattern per class plus noise), so its weights
are non-trivial but it recognises nothing real: it exists to demonstrate and
test tinygen, not to spot keywords.

Quantization goes through `tinygen.model.quantize.quantize_model`, which also checks
the int8 model against the float one on the TFLite Micro reference interpreter.
With the same TensorFlow version the output is byte-for-byte reproducible.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing

SEED = 20240611
INPUT_SHAPE = (49, 10, 1)
CLASSES = 4
TRAIN_SAMPLES = 480
CALIBRATION_SAMPLES = 64
EPOCHS = 4


def synthetic_data(rng: np.random.Generator, n: int):
    """Per-class fixed patterns (smooth along time) plus Gaussian noise."""
    t = np.linspace(0.0, 1.0, INPUT_SHAPE[0])[:, None]
    k = np.arange(INPUT_SHAPE[1])[None, :]
    protos = []
    for c in range(CLASSES):
        phase = rng.uniform(0, 2 * np.pi, INPUT_SHAPE[1])
        protos.append(np.sin(2 * np.pi * (c + 1) * t + phase[None, :]) * (1.0 - 0.05 * k))
    protos = np.stack(protos)[..., None].astype(np.float32)
    y = rng.integers(0, CLASSES, n)
    x = protos[y] + 1.5 * rng.standard_normal((n, *INPUT_SHAPE)).astype(np.float32)
    return x.astype(np.float32), y.astype(np.int32)


def build_float_model(keras):
    L = keras.layers

    def bn_relu(x):
        return L.ReLU()(L.BatchNormalization(momentum=0.7)(x))

    inp = keras.Input(INPUT_SHAPE, batch_size=1, name="mfcc")
    x = L.Conv2D(16, (10, 4), strides=(2, 2), padding="same")(inp)  # -> 25x5x16
    x = bn_relu(x)
    for filters in (24, 32):
        x = L.DepthwiseConv2D(3, padding="same")(x)
        x = bn_relu(x)
        x = L.Conv2D(filters, 1)(x)
        x = bn_relu(x)
    x = L.AveragePooling2D(pool_size=(25, 5))(x)
    x = L.Flatten()(x)
    out = L.Dense(CLASSES, activation="softmax", name="probabilities")(x)
    return keras.Model(inp, out, name="kws_micro")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "kws_micro.tflite")
    args = parser.parse_args(argv)

    import keras
    import tensorflow as tf

    from tinygen.model.quantize import quantize_model

    keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    rng = np.random.default_rng(SEED)
    x, y = synthetic_data(rng, TRAIN_SAMPLES + CALIBRATION_SAMPLES)
    x_train, y_train = x[:TRAIN_SAMPLES], y[:TRAIN_SAMPLES]
    x_cal, y_cal = x[TRAIN_SAMPLES:], y[TRAIN_SAMPLES:]

    model = build_float_model(keras)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=32, epochs=EPOCHS, shuffle=True, verbose=0)
    probs = model.predict(x_cal, batch_size=1, verbose=0)
    print(f"float accuracy on held-out synthetic data: {np.mean(probs.argmax(-1) == y_cal):.2%}")

    with tempfile.TemporaryDirectory() as tmp:
        keras_path = Path(tmp) / "kws_micro.keras"
        model.save(keras_path)
        data, report = quantize_model(keras_path, x_cal, io="int8")
    for line in report.summary_lines():
        print(line)
    args.out.write_bytes(data)
    print(f"wrote {args.out} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
