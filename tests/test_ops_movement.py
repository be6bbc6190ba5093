"""Data movement ops (SLICE, SPLIT, SPLIT_V, UNPACK, PACK, DEPTH_TO_SPACE, SPACE_TO_DEPTH, BROADCAST_TO,
MIRROR_PAD, SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND): bit-exact with TFLite Micro (property tests against
the oracle), int8 and int16 where TFLM has both, and the generated C on QEMU Cortex-M4."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import examples
from tests.support.opmodels import ModelBuilder
from tests.support.oracle import assert_bit_exact
from tinygen.emulator.engine import Emulator
from tinygen.errors import UnsupportedOpError
from tinygen.model.reader import parse_model

SET = settings(max_examples=examples(5), deadline=None)
DTYPES = st.sampled_from([np.int8, np.int16])


def _q(dtype):
    return (0.05, 3) if dtype == np.int8 else (0.001, 0)


def one_op(name, in_shape, out_shapes, dtype=np.int8, params=(), data_pos=0, **opts) -> bytes:
    """A model of one op: data input at `data_pos`, constant int32 `params` at the other positions."""
    m = ModelBuilder()
    s, z = _q(dtype)
    x = m.tensor(in_shape, dtype=dtype, scale=s, zero_point=z)
    ins = [m.const(np.asarray(p, np.int32)) for p in params]
    ins.insert(data_pos, x)
    ys = [m.tensor(o, dtype=dtype, scale=s, zero_point=z) for o in out_shapes]
    m.op(name, ins, ys, **opts)
    return m.build([x], ys)


def check(model: bytes, seed: int, context: str):
    assert_bit_exact(model, np.random.default_rng(seed), n=2, context=context)


shapes = st.lists(st.integers(1, 4), min_size=1, max_size=5)


@SET
@given(shapes, DTYPES, st.data())
def test_slice(shape, dtype, data):
    begin = [data.draw(st.integers(0, d - 1)) for d in shape]
    size = [data.draw(st.sampled_from([-1, data.draw(st.integers(1, d - b))])) for d, b in zip(shape, begin)]
    out = [d - b if s == -1 else s for d, b, s in zip(shape, begin, size)]
    check(one_op("SLICE", shape, [out], dtype, params=(begin, size)), 1, f"{shape} {begin} {size}")


@SET
@given(shapes, DTYPES, st.data())
def test_split_and_split_v(shape, dtype, data):
    axis = data.draw(st.integers(0, len(shape) - 1))
    n = data.draw(st.sampled_from([k for k in (1, 2, 3, 4) if shape[axis] % k == 0]))
    outs = [[shape[axis] // n if d == axis else s for d, s in enumerate(shape)]] * n
    neg = data.draw(st.booleans())
    check(one_op("SPLIT", shape, outs, dtype, params=([axis - len(shape) if neg else axis],), data_pos=1, num_splits=n),
          2, f"SPLIT {shape} axis {axis} n {n}")
    sizes = data.draw(st.lists(st.integers(1, 3), min_size=0, max_size=3).filter(lambda v: sum(v) < shape[axis]))
    sizes = sizes + [shape[axis] - sum(sizes)]
    spec = list(sizes)
    if data.draw(st.booleans()):
        spec[data.draw(st.integers(0, len(spec) - 1))] = -1
    outs = [[s if d == axis else e for d, e in enumerate(shape)] for s in sizes]
    check(one_op("SPLIT_V", shape, outs, dtype, params=(spec, [axis]), num_splits=len(sizes)), 3, f"SPLIT_V {shape} {spec} axis {axis}")


@SET
@given(shapes, DTYPES, st.data())
def test_unpack_and_pack(shape, dtype, data):
    axis = data.draw(st.integers(0, len(shape) - 1))
    rest = [d for i, d in enumerate(shape) if i != axis]
    check(one_op("UNPACK", shape, [rest] * shape[axis], dtype, num=shape[axis], axis=axis), 4, f"UNPACK {shape} {axis}")
    n = data.draw(st.integers(1, 4))
    axis = data.draw(st.integers(0, len(shape)))
    m = ModelBuilder()
    s, z = _q(dtype)
    xs = [m.tensor(shape, dtype=dtype, scale=s, zero_point=z) for _ in range(n)]
    y = m.tensor(shape[:axis] + [n] + shape[axis:], dtype=dtype, scale=s, zero_point=z)
    m.op("PACK", xs, [y], values_count=n, axis=axis)
    check(m.build(xs, [y]), 5, f"PACK {shape} {n} {axis}")


@SET
@given(st.integers(1, 2), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3))
def test_depth_to_space_and_back(b, h, w, c, bs):
    check(one_op("DEPTH_TO_SPACE", [b, h, w, c * bs * bs], [[b, h * bs, w * bs, c]], block_size=bs), 6, "D2S")
    check(one_op("SPACE_TO_DEPTH", [b, h * bs, w * bs, c], [[b, h, w, c * bs * bs]], block_size=bs), 7, "S2D")


@SET
@given(st.lists(st.integers(1, 3), min_size=1, max_size=5), DTYPES, st.data())
def test_broadcast_to(out, dtype, data):
    rank = data.draw(st.integers(1, len(out)))
    shape = [data.draw(st.sampled_from([1, d])) for d in out[len(out) - rank:]]
    check(one_op("BROADCAST_TO", shape, [out], dtype, params=(out,)), 8, f"{shape} -> {out}")


@SET
@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), st.integers(0, 1), st.data())
def test_mirror_pad(shape, mode, data):
    lim = [d if mode == 1 else d - 1 for d in shape]
    pads = [[data.draw(st.integers(0, l)), data.draw(st.integers(0, l))] for l in lim]
    out = [d + a + b for d, (a, b) in zip(shape, pads)]
    check(one_op("MIRROR_PAD", shape, [out], params=(pads,), mode=mode), 9, f"{shape} {pads} mode {mode}")


@SET
@given(st.integers(1, 2), st.integers(1, 4), st.integers(1, 4), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.data())
def test_space_batch(b, h, w, c, bh, bw, data):
    h, w = h * bh, w * bw  # TFLM leaves padded elements uninitialised: only unpadded inputs are reproducible
    pads = [[0, 0], [0, 0]]
    oh, ow = (h + sum(pads[0])) // bh, (w + sum(pads[1])) // bw
    check(one_op("SPACE_TO_BATCH_ND", [b, h, w, c], [[b * bh * bw, oh, ow, c]], params=([bh, bw], pads)), 10, f"S2B {pads}")
    h, w = h // bh, w // bw
    crops = [[data.draw(st.integers(0, h * bh // 2)), 0], [data.draw(st.integers(0, w * bw // 2)), 0]]
    check(one_op("BATCH_TO_SPACE_ND", [b * bh * bw, h, w, c], [[b, h * bh - crops[0][0], w * bw - crops[1][0], c]],
                 params=([bh, bw], crops)), 11, f"B2S {crops}")


def test_refusals():
    with pytest.raises(UnsupportedOpError, match=r"op 0 \(SPLIT\): axis 1 of size 3 cannot be split into 2"):
        Emulator(parse_model(one_op("SPLIT", [2, 3], [[2, 1], [2, 2]], params=([1],), data_pos=1, num_splits=2)))
    with pytest.raises(UnsupportedOpError, match=r"op 0 \(SPACE_TO_BATCH_ND\): paddings .* uninitialised"):
        Emulator(parse_model(one_op("SPACE_TO_BATCH_ND", [1, 3, 4, 1], [[4, 2, 2, 1]], params=([2, 2], [[1, 0], [0, 0]]))))
    with pytest.raises(UnsupportedOpError, match=r"op 0 \(DEPTH_TO_SPACE\): input is int16; TFLM's DEPTH_TO_SPACE has an int8 kernel only"):
        Emulator(parse_model(one_op("DEPTH_TO_SPACE", [1, 1, 1, 4], [[1, 2, 2, 1]], np.int16, block_size=2)))
    with pytest.raises(UnsupportedOpError, match=r"op 0 \(MIRROR_PAD\): input is int16"):
        Emulator(parse_model(one_op("MIRROR_PAD", [3], [[5]], np.int16, params=([[1, 1]],), mode=0)))


def _pack_model(dtype=np.int16):
    m = ModelBuilder()
    s, z = _q(dtype)
    xs = [m.tensor([2, 3], dtype=dtype, scale=s, zero_point=z) for _ in range(3)]
    y = m.tensor([2, 3, 3], dtype=dtype, scale=s, zero_point=z)
    m.op("PACK", xs, [y], values_count=3, axis=1)
    return m.build(xs, [y])


def movement_models() -> dict[str, bytes]:
    """One model per op and map kind (strided int8 / int16, index table), for the C tests."""
    return {
        "mv_slice16": one_op("SLICE", [2, 5, 4, 3], [[1, 3, 2, 3]], np.int16, params=([1, 1, 2, 0], [1, 3, -1, 3])),
        "mv_split": one_op("SPLIT", [1, 4, 6], [[1, 4, 2]] * 3, params=([2],), data_pos=1, num_splits=3),
        "mv_split_v16": one_op("SPLIT_V", [3, 5], [[1, 5], [2, 5]], np.int16, params=([1, -1], [0]), num_splits=2),
        "mv_unpack": one_op("UNPACK", [2, 3, 4], [[2, 4]] * 3, num=3, axis=1),
        "mv_d2s": one_op("DEPTH_TO_SPACE", [1, 2, 3, 8], [[1, 4, 6, 2]], block_size=2),
        "mv_s2d": one_op("SPACE_TO_DEPTH", [2, 4, 6, 3], [[2, 2, 3, 12]], block_size=2),
        "mv_bcast16": one_op("BROADCAST_TO", [3, 1, 2], [[2, 3, 4, 2]], np.int16, params=([2, 3, 4, 2],)),
        "mv_mirror": one_op("MIRROR_PAD", [2, 3, 4], [[4, 5, 9]], params=([[1, 1], [0, 2], [3, 2]],), mode=1),
        "mv_s2b": one_op("SPACE_TO_BATCH_ND", [1, 6, 4, 2], [[4, 3, 2, 2]], params=([2, 2], [[0, 0], [0, 0]])),
        "mv_b2s": one_op("BATCH_TO_SPACE_ND", [4, 2, 3, 2], [[1, 3, 5, 2]], params=([2, 2], [[1, 0], [0, 1]])),
        "mv_pack16": _pack_model(),
        "mv_fill_runtime": fill_model([3, 2], np.int8, 0, runtime_value=True),
        "mv_fill_const": fill_model([2, 3], np.int8, -7),
        "mv_zeros_like": zeros_like_model([4, 3], np.int8),
        # the other activation type of each op (tests/test_codegen.py: every registered op/dtype has a C model)
        "mv_slice": one_op("SLICE", [2, 5, 4, 3], [[1, 3, 2, 3]], params=([1, 1, 2, 0], [1, 3, -1, 3])),
        "mv_split16": one_op("SPLIT", [1, 4, 6], [[1, 4, 2]] * 3, np.int16, params=([2],), data_pos=1, num_splits=3),
        "mv_split_v": one_op("SPLIT_V", [3, 5], [[1, 5], [2, 5]], params=([1, -1], [0]), num_splits=2),
        "mv_unpack16": one_op("UNPACK", [2, 3, 4], [[2, 4]] * 3, np.int16, num=3, axis=1),
        "mv_bcast": one_op("BROADCAST_TO", [3, 1, 2], [[2, 3, 4, 2]], params=([2, 3, 4, 2],)),
        "mv_pack": _pack_model(np.int8),
        "mv_zeros_like32": zeros_like_model([4, 3], np.int32),
    }


@pytest.mark.qemu
@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                    reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_movement_on_cortex_m4(tmp_path):
    from tinygen.boards.mcu_run import build_models, run_models

    rng = np.random.default_rng(12)
    models = movement_models()
    graphs = {n: parse_model(b, name=n) for n, b in models.items()}
    xs = {}
    for n, g in graphs.items():
        xs[n] = [[rng.integers(np.iinfo(t.dtype).min, np.iinfo(t.dtype).max, size=t.shape, endpoint=True).astype(t.dtype)
                  for t in g.input_tensors] for _ in range(2)]
    fw = build_models("qemu-cortex-m4", graphs, xs, tmp_path / "fw")
    res = run_models(fw, timeout=120)
    for n, g in graphs.items():
        batch = [np.stack([s[k] for s in xs[n]]) for k in range(len(g.inputs))]
        assert_bit_exact(models[n], None, inputs=batch, context=n)  # emulator == TFLM on these samples
        want = Emulator(g).run_internal(batch)
        for k, r in enumerate(res.models[n]):
            for j, o in enumerate(r.outputs):
                np.testing.assert_array_equal(o, want[j][k], err_msg=f"{n} sample {k} output {j}")


# ---------------------------------------------------------------- FILL, ZEROS_LIKE


def fill_model(dims, dtype, value, runtime_value=False) -> bytes:
    """FILL of a constant value (int8 / int16 quantized) into dims; with runtime_value the value is computed
    (a RESHAPE of a [1] graph input) so the op runs instead of being folded."""
    m = ModelBuilder()
    kw = dict(scale=0.1, zero_point=2) if dtype != np.int32 else {}
    if runtime_value:
        x = m.tensor([1], dtype=dtype, **kw)
        v = m.tensor([], dtype=dtype, **kw)
        m.op("RESHAPE", [x], [v])
    else:
        x = m.tensor(dims, dtype=dtype, **kw)
        v = m.tensor([], dtype=dtype, data=np.array(value), **kw)
    y = m.tensor(dims, dtype=dtype, **kw)
    m.op("FILL", [m.const(np.array(dims, np.int32)), v], [y])
    if runtime_value:
        return m.build([x], [y])
    z = m.tensor(dims, dtype=dtype, **kw)  # y + a graph input, so the model has one
    m.op("MAXIMUM", [x, y], [z])
    return m.build([x], [z])


def zeros_like_model(shape, dtype) -> bytes:
    m = ModelBuilder()
    kw = dict(scale=0.1, zero_point=7) if dtype != np.int32 else {}
    x = m.tensor(shape, dtype=dtype, **kw)
    y = m.tensor(shape, dtype=dtype, **kw)
    m.op("ZEROS_LIKE", [x], [y])
    return m.build([x], [y])


def test_fill_bit_exact():
    check(fill_model([2, 3, 4], np.int8, -5), 13, "FILL const")
    check(fill_model([3, 2], np.int8, 0, runtime_value=True), 14, "FILL run-time")
    with pytest.raises(UnsupportedOpError, match=r"op 1 \(FILL\): value int16 -> output int16"):  # TFLM's int16 FILL fails
        Emulator(parse_model(fill_model([3, 2], np.int16, 0, runtime_value=True)))


def test_zeros_like_int8_raw_zeros_and_int32_folded():
    check(zeros_like_model([2, 5], np.int8), 15, "ZEROS_LIKE int8")
    g = parse_model(zeros_like_model([2, 5], np.int8))
    assert Emulator(g).run_internal([np.full((1, 2, 5), 9, np.int8)])[0].tolist() == [[[0] * 5] * 2]  # raw 0, not the zero point
