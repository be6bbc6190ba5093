"""Shape arithmetic on int32 tensors (SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE, as Keras emits for
a Flatten without a fixed batch size) is folded when the model is read: bit-exact with TFLM, no code
for the folded ops, and the corpus MobileNetV1 whose classifier reshape is computed that way runs
bit-exact in the emulator and on QEMU Cortex-M4."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.support.opmodels import ModelBuilder, dynamic_flatten
from tests.support.oracle import tflm_run_batch
from tinygen.analysis.inspect import model_stats
from tinygen.codegen.carray import render_header
from tinygen.emulator.engine import Emulator
from tinygen.model.reader import parse_model, read_model


def _models_dir() -> Path:
    env = os.environ.get("TINYGEN_MODELS")
    if env:
        return Path(env)
    d = Path(__file__).resolve().parents[1].parent / "shared" / "models"
    return d if d.is_dir() else Path("/work/shared/models")


MOBILENET = _models_dir() / "tinymaix_mobilenet_v1_025_128_imagenet_int8.tflite"


@pytest.mark.parametrize("extra", [False, True])
def test_folded_and_bit_exact_with_tflm(extra):
    data = dynamic_flatten(extra_concat=extra)
    g = parse_model(data, name="flat")
    assert [op.op for op in g.operators] == ["RESHAPE", "LOGISTIC"]
    assert [op.op for op in g.folded][:3] == ["SHAPE", "STRIDED_SLICE", "PACK"]
    assert [op.index for op in g.operators] == [0, 1] and g.operators[0].source_index == len(g.folded)
    assert g.tensors[g.operators[0].inputs[1]].data.tolist() == [1, 30]
    rng = np.random.default_rng(5)
    x = rng.integers(-128, 128, size=(6, 1, 2, 3, 5), dtype=np.int8)
    ours = Emulator(g).run_internal([x])[0]
    ref = tflm_run_batch(data, [x], g)[0]
    np.testing.assert_array_equal(ours, ref)


def test_inspect_and_convert_name_the_folded_ops():
    g = parse_model(dynamic_flatten(), name="flat")
    d = model_stats(g).to_dict()
    assert [o["op"] for o in d["folded_ops"]] == ["SHAPE", "STRIDED_SLICE", "PACK"]
    assert d["unsupported_ops"] == []
    # convert hands the unchanged model to TFLM: its header lists every op of the file
    h = render_header(g, "flat")
    assert "#define FLAT_OP_COUNT 5" in h and "SHAPE" in h and "PACK" in h


def test_non_constant_or_output_shape_tensors_are_not_folded():
    m = ModelBuilder()
    x = m.tensor([1, 4], scale=0.1, zero_point=0)
    s = m.tensor([2], dtype=np.int32)
    m.op("SHAPE", [x], [s], out_type=2)
    g = parse_model(m.build([x], [s]))  # the shape is the graph output: kept (and refused as unsupported)
    assert [op.op for op in g.operators] == ["SHAPE"] and not g.folded


@pytest.mark.skipif(not MOBILENET.exists(), reason=f"corpus model {MOBILENET} absent (set TINYGEN_MODELS)")
def test_corpus_mobilenet_bit_exact_in_emulator():
    g = read_model(MOBILENET)
    assert {op.op for op in g.folded} == {"SHAPE", "STRIDED_SLICE", "PACK"}
    rng = np.random.default_rng(3)
    x = rng.integers(-128, 128, size=(2, 1, 128, 128, 3), dtype=np.int8)
    np.testing.assert_array_equal(Emulator(g).run_internal([x])[0], tflm_run_batch(MOBILENET.read_bytes(), [x], g)[0])


@pytest.mark.qemu
@pytest.mark.skipif(not MOBILENET.exists(), reason=f"corpus model {MOBILENET} absent (set TINYGEN_MODELS)")
@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                    reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_corpus_mobilenet_bit_exact_on_cortex_m4(tmp_path):
    from tinygen.boards.mcu_run import build_models, run_models

    g = read_model(MOBILENET)
    small = parse_model(dynamic_flatten(extra_concat=True), name="flat")
    rng = np.random.default_rng(4)
    xs = {"mbv1": [[rng.integers(-128, 128, size=(1, 128, 128, 3), dtype=np.int8)]],
          "flat": [[rng.integers(-128, 128, size=(1, 2, 3, 5), dtype=np.int8)] for _ in range(2)]}
    graphs = {"mbv1": g, "flat": small}
    fw = build_models("qemu-cortex-m4", graphs, xs, tmp_path / "fw")
    res = run_models(fw, timeout=300)
    for name, gr in graphs.items():
        ref = Emulator(gr).run_internal([np.stack([s[0] for s in xs[name]])])[0]
        ora = tflm_run_batch(gr.model_bytes, [np.stack([s[0] for s in xs[name]])], gr)[0]
        np.testing.assert_array_equal(ref, ora)
        for k, r in enumerate(res.models[name]):
            np.testing.assert_array_equal(r.outputs[0], ref[k], err_msg=f"{name} sample {k}")
