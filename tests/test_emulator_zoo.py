"""Every zoo model and the example model, end to end: emulator == TFLite Micro in every element,
outputs and every intermediate tensor; and `tinygen emulate` runs on each."""
from __future__ import annotations

import numpy as np
import pytest

from tests.support.oracle import random_inputs, tflm_run
from tinygen.cli import main
from tinygen.emulator.engine import Emulator
from tinygen.model.reader import read_model

ZOO_NAMES = [
    "conv_s1_same_relu", "conv_s2_valid_relu6", "conv_dilated", "depthwise_m1", "depthwise_m2", "fully_connected",
    "avg_pool", "max_pool", "add_mul", "reshape_softmax", "mean", "concat", "pad", "logistic_tanh", "float_io",
    "ds_cnn_kws", "mobilenet_v1_025_vww", "resnet8_ic", "fc_autoencoder_ad", "micro_speech_kws",
]


def test_zoo_names_match():
    from tests.support.zoo import MODEL_NAMES

    assert sorted(MODEL_NAMES) == sorted(ZOO_NAMES)


@pytest.mark.parametrize("name", ZOO_NAMES)
def test_zoo_model_bit_exact_with_every_intermediate(zoo, name):
    g = read_model(zoo[name])
    emu = Emulator(g)
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    samples = 2 if name in ("mobilenet_v1_025_vww", "resnet8_ic") else 4
    xs = random_inputs(g, rng, samples)
    # edge inputs: all -128, all 127, the input zero point
    t0 = g.input_tensors[0]
    if t0.dtype == np.int8:
        for v in (-128, 127, t0.zero_point):
            xs[0] = np.concatenate([xs[0], np.full((1,) + t0.shape, v, np.int8)])
    outs, values = emu.run_internal(xs, keep_all=True)
    checked = 0
    for s in range(xs[0].shape[0]):
        ref_outs, ref_tensors = tflm_run(g.model_bytes, [x[s] for x in xs], g, preserve_all=True)
        for k, ref in enumerate(ref_outs):
            assert np.array_equal(outs[k][s], ref), f"{name}: output {k} differs on sample {s}"
        for op in g.operators:
            for tid in op.outputs:
                ours = values[tid][s]
                ref = ref_tensors[tid].reshape(ours.shape)
                if not np.array_equal(ours, ref):
                    d = np.abs(ours.astype(np.float64) - ref.astype(np.float64))
                    pytest.fail(f"{name}: op {op.index} ({op.op}) output '{g.tensors[tid].name}' differs on sample {s}: "
                                f"{int((d != 0).sum())} elements, max |diff| {d.max()}")
                checked += 1
    assert checked >= len(g.operators)


def test_emulate_cli_on_every_zoo_model(zoo, tmp_path, capsys):
    for name in ZOO_NAMES:
        g = read_model(zoo[name])
        xs = [np.asarray(x) for x in random_inputs(g, np.random.default_rng(0), 2)]
        args = ["emulate", str(zoo[name])]
        for i, x in enumerate(xs):
            np.save(tmp_path / f"{name}_{i}.npy", x)
            args += ["--inputs", str(tmp_path / f"{name}_{i}.npy")]
        out = tmp_path / f"{name}_out.npz"
        assert main(args + ["--output", str(out)]) == 0, capsys.readouterr().err
        ref = Emulator(g).run_internal(xs)
        got = np.load(out)
        for k, r in enumerate(ref):
            assert np.array_equal(got[f"output_{k}"].reshape(r.shape), r)


def test_example_model_matches_tflm():
    from pathlib import Path

    p = Path(__file__).resolve().parent.parent / "examples" / "kws_micro.tflite"
    g = read_model(p)
    xs = random_inputs(g, np.random.default_rng(7), 8)
    ours = Emulator(g).run_internal(xs)[0]
    for s in range(8):
        assert np.array_equal(ours[s], tflm_run(g.model_bytes, [xs[0][s]], g)[0])
