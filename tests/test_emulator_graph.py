"""Multi-op graphs end to end: every output and every intermediate tensor equals TFLite Micro's,
and `Emulator.run` takes user batches and float input for int8 models."""
from __future__ import annotations

import numpy as np
import pytest

from tests.support.opmodels import ModelBuilder
from tests.support.oracle import tflm_run
from tinygen.emulator.engine import Emulator
from tinygen.errors import TinygenError
from tinygen.model.reader import check_full_int8, parse_model

S, Z = 0.02, -5  # the shared quantization of graph A's int8 tensors


def graph_a() -> bytes:
    """Two float inputs: QUANTIZE -> (requantize, TRANSPOSE) -> RESHAPE -> CONCATENATION -> PAD -> DEQUANTIZE.

    Outputs: the dequantized float result and the int8 concatenation."""
    m = ModelBuilder()
    xa = m.tensor([1, 4, 6], dtype=np.float32, name="xa")
    xb = m.tensor([1, 6, 4], dtype=np.float32, name="xb")
    qa = m.tensor([1, 4, 6], scale=S, zero_point=Z, name="qa")
    qb = m.tensor([1, 6, 4], scale=0.035, zero_point=11, name="qb")
    qb2 = m.tensor([1, 6, 4], scale=S, zero_point=Z, name="qb_requantized")
    tb = m.tensor([1, 4, 6], scale=S, zero_point=Z, name="qb_transposed")
    ra = m.tensor([1, 24], scale=S, zero_point=Z, name="ra")
    rb = m.tensor([1, 24], scale=S, zero_point=Z, name="rb")
    cat = m.tensor([1, 48], scale=S, zero_point=Z, name="cat")
    pad = m.tensor([1, 53], scale=S, zero_point=Z, name="padded")
    out = m.tensor([1, 53], dtype=np.float32, name="out")
    m.op("QUANTIZE", [xa], [qa])
    m.op("QUANTIZE", [xb], [qb])
    m.op("QUANTIZE", [qb], [qb2])
    m.op("TRANSPOSE", [qb2, m.const(np.array([0, 2, 1], np.int32))], [tb])
    m.op("RESHAPE", [qa, m.const(np.array([1, 24], np.int32))], [ra])
    m.op("RESHAPE", [tb, m.const(np.array([1, 24], np.int32))], [rb])
    m.op("CONCATENATION", [ra, rb], [cat], axis=-1)
    m.op("PAD", [cat, m.const(np.array([[0, 0], [2, 3]], np.int32))], [pad])
    m.op("DEQUANTIZE", [pad], [out])
    return m.build([xa, xb], [out, cat])


def graph_b() -> bytes:
    """int8 input: PADV2 -> STRIDED_SLICE -> MEAN (H, W) -> SQUEEZE -> DEQUANTIZE, plus the slice as an int8 output."""
    m = ModelBuilder()
    x = m.tensor([1, 8, 8, 3], scale=0.04, zero_point=-3, name="x")
    p = m.tensor([1, 10, 10, 3], scale=0.04, zero_point=-3, name="padded")
    s = m.tensor([1, 5, 4, 3], scale=0.04, zero_point=-3, name="sliced")
    mean = m.tensor([1, 1, 1, 3], scale=0.01, zero_point=4, name="mean")
    sq = m.tensor([1, 3], scale=0.01, zero_point=4, name="squeezed")
    out = m.tensor([1, 3], dtype=np.float32, name="out")
    cv = m.const(np.array([100], np.int8), dtype=np.int8, scale=0.04, zero_point=-3)
    m.op("PADV2", [x, m.const(np.array([[0, 0], [1, 1], [1, 1], [0, 0]], np.int32)), cv], [p])
    vec = lambda v: m.const(np.array(v, np.int32))  # noqa: E731
    m.op("STRIDED_SLICE", [p, vec([0, 1, 0, 0]), vec([1, 10, 10, 3]), vec([1, 2, 3, 1])], [s])
    m.op("MEAN", [s, vec([1, 2])], [mean], keep_dims=True)
    m.op("SQUEEZE", [mean], [sq], squeeze_dims=[1, 2])
    m.op("DEQUANTIZE", [sq], [out])
    return m.build([x], [out, s])


def tflm_tensor(v) -> np.ndarray:
    """A tensor from tflm_run(..., preserve_all=True): the tflite_micro wheel's GetTensor returns
    a dict {dtype, shape, tensor_data}, which the oracle helper wraps in a 0-d object array."""
    v = np.asarray(v)
    if v.dtype == object:
        d = v.item()
        return np.asarray(d["tensor_data"], dtype=d["dtype"]).reshape(tuple(d["shape"]))
    return v


def user_inputs(g, rng, n):
    """Per model input, a user-facing batch [N, *shape without the batch axis of 1]."""
    xs = []
    for t in g.input_tensors:
        shape = (n,) + tuple(t.shape[1:])
        if t.dtype == np.float32:
            # about +-3 int8 ranges of the QUANTIZE that follows (so some values clamp)
            xs.append(rng.uniform(-4.0, 4.0, size=shape).astype(np.float32))
        else:
            xs.append(rng.integers(-128, 128, size=shape, dtype=np.int8))
    return xs


@pytest.mark.parametrize("build", [graph_a, graph_b], ids=["A", "B"])
def test_every_tensor_matches_tflm(build):
    mb = build()
    g = parse_model(mb)
    check_full_int8(g)  # float only on the QUANTIZE input and DEQUANTIZE output edges
    emu = Emulator(g)
    rng = np.random.default_rng(7)
    n = 4
    xs = user_inputs(g, rng, n)
    outs, layers = emu.run(*xs, layers=True)
    assert isinstance(outs, list) and len(outs) == len(g.outputs)
    produced = {t for op in g.operators for t in op.outputs}
    assert [l.tensor_index for l in layers] == [t for op in g.operators for t in op.outputs]
    assert {l.tensor_index for l in layers} == produced
    for i in range(n):
        ref_outs, ref = tflm_run(mb, [x[i].reshape(t.shape) for x, t in zip(xs, g.input_tensors)], g, preserve_all=True)
        for k, (a, b) in enumerate(zip(outs, ref_outs)):
            assert a.dtype == b.dtype, f"output {k}"
            assert np.array_equal(a[i].reshape(b.shape), b), f"sample {i}: output {k} differs from TFLM"
        for layer in layers:
            want = tflm_tensor(ref[layer.tensor_index])
            t = g.tensors[layer.tensor_index]
            assert layer.value.dtype == want.dtype == t.dtype, layer.tensor_name
            assert layer.value.shape == (n,) + tuple(t.shape[1:]), layer.tensor_name
            got = layer.value[i].reshape(want.shape)
            assert np.array_equal(got, want), (
                f"sample {i}: op {layer.op_index} ({layer.op}) tensor '{layer.tensor_name}' differs from TFLM in "
                f"{int((got != want).sum())}/{got.size} elements"
            )


def test_user_batch_layouts():
    g = parse_model(graph_a())
    emu = Emulator(g)
    rng = np.random.default_rng(3)
    xa, xb = user_inputs(g, rng, 5)  # [5, 4, 6], [5, 6, 4]
    out, cat = emu.run(xa, xb)
    assert out.shape == (5, 53) and out.dtype == np.float32
    assert cat.shape == (5, 48) and cat.dtype == np.int8
    # the model's full shape with its batch axis of 1 is accepted too, and gives the same result
    out_full, cat_full = emu.run(xa[:, None], xb[:, None])
    assert np.array_equal(out_full, out) and np.array_equal(cat_full, cat)
    # a single sample without any batch axis is a batch of one
    out_one, cat_one = emu.run(xa[2], xb[2])
    assert out_one.shape == (1, 53) and np.array_equal(out_one[0], out[2]) and np.array_equal(cat_one[0], cat[2])
    # samples are independent: running them one at a time gives the same rows
    for i in range(5):
        o, c = emu.run(xa[i : i + 1], xb[i : i + 1])
        assert np.array_equal(o[0], out[i]) and np.array_equal(c[0], cat[i])
    with pytest.raises(TinygenError, match=r"expected \[N, 4, 6\]"):
        emu.run(xa[:, :3], xb)


def test_float_input_for_int8_model():
    """An int8 model fed float32 data quantizes it with the input's scale and zero point."""
    mb = graph_b()
    g = parse_model(mb)
    t = g.input_tensors[0]
    assert t.dtype == np.int8
    emu = Emulator(g)
    rng = np.random.default_rng(11)
    n = 6
    shape = (n,) + tuple(t.shape[1:])
    k = rng.integers(-140, 141, size=shape)  # beyond the int8 grid on both sides: must clamp
    frac = rng.uniform(-0.45, 0.45, size=shape)  # away from rounding ties
    x_float = ((k + frac) * t.scale).astype(np.float32)
    x_int = np.clip(k + t.zero_point, -128, 127).astype(np.int8)
    out_f, layers_f = emu.run(x_float, layers=True)
    out_i, layers_i = emu.run(x_int, layers=True)
    for a, b in zip(out_f, out_i):
        assert np.array_equal(a, b)
    for a, b in zip(layers_f, layers_i):
        assert np.array_equal(a.value, b.value), a.tensor_name
    # and the int8 run is TFLM's
    for i in range(n):
        ref_outs = tflm_run(mb, [x_int[i].reshape(t.shape)], g)
        for a, b in zip(out_i, ref_outs):
            assert np.array_equal(a[i].reshape(b.shape), b)
    # values at the clamping edges
    edge = np.full((1,) + tuple(t.shape[1:]), 1e6, np.float32)
    assert np.array_equal(emu.run(edge)[1], emu.run(np.full_like(edge, 127, dtype=np.int8))[1])


def test_int16_and_int32_inputs_are_fed():
    """16x8 models take int16 activations (floats quantized to int16 like TFLM's QUANTIZE, integers
    range-checked); shape inputs (int32) take integers."""
    from tinygen.emulator.engine import to_internal
    from tinygen.model.graph import Quantization, Tensor

    q = Quantization(scale=np.array([0.5], np.float32), zero_point=np.array([0]))
    t16 = Tensor(index=0, name="x", shape=(1, 3), dtype=np.dtype(np.int16), quant=q)
    got = to_internal(np.array([[1.25, -20000.0, 1e9]], np.float32), t16)
    assert got.dtype == np.int16 and got.tolist() == [[[3, -32768, 32767]]]  # 2.5 rounds away from zero
    assert to_internal(np.array([[7, -32768, 32767]]), t16).tolist() == [[[7, -32768, 32767]]]
    with pytest.raises(TinygenError, match="outside the int16 range"):
        to_internal(np.array([[0, 0, 40000]]), t16)
    t32 = Tensor(index=1, name="shape", shape=(4,), dtype=np.dtype(np.int32))
    assert to_internal(np.array([[1, 3, 12, 64]], np.int64), t32).dtype == np.int32
    with pytest.raises(TinygenError, match="no quantization parameters"):
        to_internal(np.array([[1.0, 3, 12, 64]]), t32)
