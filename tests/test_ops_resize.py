"""RESIZE_NEAREST_NEIGHBOR (int8, int16): bit-exact with TFLite Micro (property test over sizes and the
align_corners / half_pixel_centers options), and the refusals."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import examples
from tests.support.opmodels import ModelBuilder, resize_model
from tests.support.oracle import assert_bit_exact
from tinygen.emulator.engine import Emulator
from tinygen.errors import UnsupportedOpError
from tinygen.model.reader import parse_model
from tinygen.ops.resize import nearest_indices


@st.composite
def cases(draw):
    b = draw(st.integers(1, 2))
    ih, iw = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    oh, ow = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    c = draw(st.integers(1, 5))
    ac = draw(st.booleans())
    hp = False if ac else draw(st.booleans())  # TFLM refuses both at once
    return [b, ih, iw, c], [oh, ow], ac, hp, draw(st.sampled_from([np.int8, np.int16])), draw(st.integers(0, 2**31))


@settings(max_examples=examples(30), deadline=None)
@given(cases())
def test_resize_nearest_bit_exact(case):
    in_shape, size, ac, hp, dtype, seed = case
    assert_bit_exact(resize_model(in_shape, size, dtype, ac, hp), np.random.default_rng(seed), n=2,
                     context=f"{in_shape} -> {size} align_corners={ac} half_pixel={hp} {np.dtype(dtype).name}")


@pytest.mark.parametrize("ac,hp", [(False, False), (True, False), (False, True)])
def test_upsample_2x_and_odd_ratios(ac, hp):
    rng = np.random.default_rng(1)
    for in_shape, size in (([1, 6, 6, 18], [12, 12]), ([1, 5, 7, 3], [13, 4]), ([1, 1, 1, 2], [3, 5]), ([1, 64, 3, 1], [129, 2])):
        assert_bit_exact(resize_model(in_shape, size, np.int8, ac, hp), rng, n=2, context=f"{in_shape}->{size}")


def test_indices_are_float32_like_tflm():
    # 2x upsampling: every source row twice; with half-pixel centres the same
    assert nearest_indices(3, 6, False, False) == [0, 0, 1, 1, 2, 2]
    assert nearest_indices(3, 6, False, True) == [0, 0, 1, 1, 2, 2]
    assert nearest_indices(3, 5, True, False) == [0, 1, 1, 2, 2]  # round half away from zero at 0.5, 1.5


def test_refusals():
    m = ModelBuilder()
    x = m.tensor([1, 2, 2, 1], scale=0.1, zero_point=0)
    s = m.tensor([2], dtype=np.int32)  # a graph input: not constant
    y = m.tensor([1, 2, 2, 1], scale=0.1, zero_point=0)
    m.op("RESIZE_NEAREST_NEIGHBOR", [x, s], [y])
    with pytest.raises(UnsupportedOpError, match=r"op 0 \(RESIZE_NEAREST_NEIGHBOR\): non-constant size"):
        Emulator(parse_model(m.build([x, s], [y])))
    with pytest.raises(UnsupportedOpError, match=r"output shape \[1, 4, 4, 1\] is not the resized shape \[1, 3, 4, 1\]"):
        m = ModelBuilder()
        x = m.tensor([1, 2, 2, 1], scale=0.1, zero_point=0)
        y = m.tensor([1, 4, 4, 1], scale=0.1, zero_point=0)
        m.op("RESIZE_NEAREST_NEIGHBOR", [x, m.const(np.array([3, 4], np.int32))], [y])
        Emulator(parse_model(m.build([x], [y])))


@pytest.mark.qemu
@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                    reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_resize_on_cortex_m4(tmp_path):
    """The generated C on QEMU Cortex-M4 equals the emulator (and so TFLM), int8 and int16."""
    from tinygen.boards.mcu_run import build_models, run_models

    rng = np.random.default_rng(9)
    models = {"rs_2x": resize_model([1, 6, 6, 18], [12, 12]),
              "rs_ac": resize_model([2, 5, 3, 3], [7, 9], align_corners=True),
              "rs_hp16": resize_model([1, 4, 5, 3], [9, 3], np.int16, half_pixel_centers=True),
              "rs_down": resize_model([1, 9, 8, 1], [4, 3], np.int16)}
    graphs = {n: parse_model(b, name=n) for n, b in models.items()}
    xs = {}
    for n, g in graphs.items():
        info = np.iinfo(g.input_tensors[0].dtype)
        xs[n] = [[rng.integers(info.min, info.max, size=g.input_tensors[0].shape, endpoint=True).astype(info.dtype)]
                 for _ in range(2)]
    fw = build_models("qemu-cortex-m4", graphs, xs, tmp_path / "fw")
    res = run_models(fw, timeout=120)
    for n, g in graphs.items():
        ref = assert_bit_exact(models[n], None, inputs=[np.stack([s[0] for s in xs[n]])], context=n)
        want = Emulator(ref).run_internal([np.stack([s[0] for s in xs[n]])])[0]
        for k, r in enumerate(res.models[n]):
            np.testing.assert_array_equal(r.outputs[0], want[k], err_msg=f"{n} sample {k}")


# ---------------------------------------------------------------- RESIZE_BILINEAR


def bilinear_model(in_shape, size, align_corners=False, half_pixel_centers=False) -> bytes:
    m = ModelBuilder()
    x = m.tensor(in_shape, scale=0.05, zero_point=3)
    y = m.tensor([in_shape[0], size[0], size[1], in_shape[3]], scale=0.05, zero_point=3)
    m.op("RESIZE_BILINEAR", [x, m.const(np.array(size, np.int32))], [y], align_corners=align_corners,
         half_pixel_centers=half_pixel_centers)
    return m.build([x], [y])


@settings(max_examples=examples(20), deadline=None)
@given(cases())
def test_resize_bilinear_bit_exact(case):
    in_shape, size, ac, hp, _, seed = case
    assert_bit_exact(bilinear_model(in_shape, size, ac, hp), np.random.default_rng(seed), n=2,
                     context=f"{in_shape} -> {size} align_corners={ac} half_pixel={hp}")


def bilinear_models() -> dict[str, bytes]:
    return {"bl_2x": bilinear_model([1, 3, 4, 5], [6, 8]), "bl_ac": bilinear_model([2, 5, 3, 2], [7, 4], align_corners=True),
            "bl_hp_down": bilinear_model([1, 9, 7, 3], [4, 5], half_pixel_centers=True)}


@pytest.mark.qemu
@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                    reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_bilinear_on_cortex_m4(tmp_path):
    from tinygen.boards.mcu_run import build_models, run_models

    rng = np.random.default_rng(10)
    models = bilinear_models()
    graphs = {n: parse_model(b, name=n) for n, b in models.items()}
    xs = {n: [[rng.integers(-128, 128, size=g.input_tensors[0].shape).astype(np.int8)] for _ in range(2)] for n, g in graphs.items()}
    fw = build_models("qemu-cortex-m4", graphs, xs, tmp_path / "fw")
    res = run_models(fw, timeout=120)
    for n, g in graphs.items():
        batch = [np.stack([s[0] for s in xs[n]])]
        assert_bit_exact(models[n], None, inputs=batch, context=n)
        want = Emulator(g).run_internal(batch)[0]
        for k, r in enumerate(res.models[n]):
            np.testing.assert_array_equal(r.outputs[0], want[k], err_msg=f"{n} sample {k}")
