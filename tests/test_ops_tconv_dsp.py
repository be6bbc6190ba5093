"""TRANSPOSE_CONV int8 and 16x8, the Cortex-M DSP variant (firmware/kernels/tg_tconv.c: SMLAD, SMLALD): on QEMU Cortex-M4 with the DSP
kernels and with -DTG_PORTABLE (tg_transpose_conv), both equal to the emulator, which equals TFLite Micro
(the emulator's property tests against the oracle: tests/test_ops_conv16.py)."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from tests.support.opmodels import transpose_conv_model
from tests.support.onboard import assert_bit_exact_on_board
from tinygen.model.reader import parse_model
from tinygen.ops import REGISTRY


def tconv_dsp_models() -> dict[str, bytes]:
    rng = np.random.default_rng(81)
    return {
        "tcd_s2_c8": transpose_conv_model(rng, [1, 4, 3, 8], 6, (3, 3), stride=(2, 2), act="RELU"),
        "tcd_tail_c5": transpose_conv_model(rng, [1, 3, 4, 5], 4, (2, 3), stride=(2, 1)),
        "tcd_c3_valid": transpose_conv_model(rng, [2, 2, 3, 3], 3, (2, 4), stride=(1, 3), padding="VALID", bias=False),
        "tcd_c17_s3": transpose_conv_model(rng, [1, 2, 2, 17], 5, (4, 4), stride=(3, 3), per_channel=False),
        "tcd16_s2_c8": transpose_conv_model(rng, [1, 3, 4, 8], 5, (3, 4), stride=(2, 2), dtype=np.int16),
        "tcd16_tail_c6": transpose_conv_model(rng, [2, 2, 3, 6], 3, (2, 2), stride=(1, 2), dtype=np.int16, act="RELU"),
    }


def test_kernel_variant():
    op = REGISTRY["TRANSPOSE_CONV"]
    rng = np.random.default_rng(1)
    for dtype in (np.int8, np.int16):
        g = parse_model(transpose_conv_model(rng, [1, 3, 3, 5], 6, (3, 3), stride=(2, 2), dtype=dtype))
        p = op.prepare(g, g.operators[0])
        kv = op.kernel_variant(p, "cortex-m4")
        assert kv.name == "dsp" and kv.scratch == 0 and op.scratch_bytes(p) == 0, kv
        assert op.kernel_variant(p, "cortex-m0").name == "c99"


@pytest.mark.qemu
@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                    reason="needs arm-none-eabi-gcc and qemu-system-arm")
@pytest.mark.parametrize("portable", [False, True], ids=["dsp", "portable"])
def test_tconv_dsp_on_cortex_m4(tmp_path, portable):
    rng = np.random.default_rng(91)
    models = tconv_dsp_models()
    graphs = {n: parse_model(b, name=n) for n, b in models.items()}
    xs = {}
    for n, g in graphs.items():
        t = g.input_tensors[0]
        info = np.iinfo(t.dtype)
        xs[n] = [[rng.integers(info.min, info.max, size=t.shape, endpoint=True).astype(t.dtype)] for _ in range(2)]
        xs[n].append([np.full(t.shape, info.min, t.dtype)])  # the extremes: the largest products
    assert_bit_exact_on_board(models, graphs, xs, tmp_path, portable=portable)
