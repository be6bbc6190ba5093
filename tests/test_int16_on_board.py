"""The int16 (16x8) variants of pooling, fully connected, depthwise convolution, activations, softmax,
reductions and QUANTIZE: their generated C on QEMU Cortex-M4, bit-exact with the emulator
(and the emulator with tflite_micro on the same samples). One firmware for all of them; the single-op
models come from each family's test file (also used by test_codegen's host builds with sanitizers)."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from tests.support.onboard import assert_bit_exact_on_board
from tinygen.model.reader import parse_model


def int16_models() -> dict[str, bytes]:
    from tests.test_ops_activations16 import activations16_models
    from tests.test_ops_conv16 import dense16_models
    from tests.test_ops_reduce import reduce16_models
    from tests.test_ops_softmax16 import softmax16_models
    from tests.test_ops_pool import pool16_models
    from tests.test_ops_quantize16 import quantize_wide_models

    models = {}
    models.update(pool16_models())
    models.update(quantize_wide_models())
    models.update(dense16_models())
    models.update(reduce16_models())
    models.update(activations16_models())
    models.update(softmax16_models())
    return models


def _samples(g, rng, n=2):
    out = []
    for _ in range(n):
        one = []
        for t in g.input_tensors:
            if t.dtype == np.float32:
                one.append(rng.uniform(-3, 3, size=t.shape).astype(np.float32))
            else:
                info = np.iinfo(t.dtype)
                one.append(rng.integers(info.min, info.max, size=t.shape, endpoint=True).astype(t.dtype))
        out.append(one)
    return out


@pytest.mark.qemu
@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                    reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_int16_ops_on_cortex_m4(tmp_path):
    rng = np.random.default_rng(1616)
    models = int16_models()
    graphs = {n: parse_model(b, name=n) for n, b in models.items()}
    xs = {n: _samples(g, rng) for n, g in graphs.items()}
    assert_bit_exact_on_board(models, graphs, xs, tmp_path, timeout=300)
