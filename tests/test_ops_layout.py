"""CONCATENATION, PAD, PADV2, STRIDED_SLICE, TRANSPOSE: bit-exact with TFLite Micro, and the refusals."""
from __future__ import annotations

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

ZERO_POINTS = st.one_of(st.sampled_from([-128, 127, 0]), st.integers(-128, 127))
SCALES = st.floats(-12, 3).map(lambda e: float(np.float32(2.0**e)))
SETTINGS = settings(max_examples=examples(25), deadline=None)


def rng_for(seed: int):
    return np.random.default_rng(seed)


def refused(model_bytes: bytes, op_index: int, op_name: str, *words: str) -> str:
    """Building the emulator must raise UnsupportedOpError naming the op, its index and the words."""
    with pytest.raises(UnsupportedOpError) as ei:
        Emulator(parse_model(model_bytes))
    e = ei.value
    msg = str(e)
    assert e.op_index == op_index and e.op_name == op_name, msg
    assert msg.startswith(f"op {op_index} ({op_name}): "), msg
    for w in words:
        assert w in msg, msg
    return msg


def prelude(m: ModelBuilder, shape, scale=0.05, zero_point=0):
    """Graph input -> RESHAPE (op 0): the op under test becomes op 1."""
    x = m.tensor(shape, scale=scale, zero_point=zero_point)
    y = m.tensor(shape, scale=scale, zero_point=zero_point)
    m.op("RESHAPE", [x], [y])
    return x, y


# ---------------------------------------------------------------- CONCATENATION


@st.composite
def concat_cases(draw):
    rank = draw(st.integers(1, 6))
    base = draw(st.lists(st.integers(1, 4), min_size=rank, max_size=rank))
    axis = draw(st.integers(-rank, rank - 1))
    n = draw(st.integers(1, 10)) if draw(st.booleans()) else draw(st.integers(1, 4))
    sizes = draw(st.lists(st.integers(1, 4), min_size=n, max_size=n))
    const = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    const[draw(st.integers(0, n - 1))] = False  # at least one graph input
    return rank, base, axis, sizes, const, draw(SCALES), draw(ZERO_POINTS), draw(st.integers(0, 2**31))


@SETTINGS
@given(concat_cases())
def test_concatenation_bit_exact(case):
    rank, base, axis, sizes, const, scale, zp, seed = case
    rng = rng_for(seed)
    ax = axis % rank
    m = ModelBuilder()
    ins, graph_ins = [], []
    for size, c in zip(sizes, const):
        shape = list(base)
        shape[ax] = size
        if c:
            ins.append(m.tensor(shape, scale=scale, zero_point=zp, data=rng.integers(-128, 128, size=shape, dtype=np.int8)))
        else:
            ins.append(m.tensor(shape, scale=scale, zero_point=zp))
            graph_ins.append(ins[-1])
    out_shape = list(base)
    out_shape[ax] = sum(sizes)
    y = m.tensor(out_shape, scale=scale, zero_point=zp)
    m.op("CONCATENATION", ins, [y], axis=axis)
    assert_bit_exact(m.build(graph_ins, [y]), rng, 3, context=str(case))


def _concat_model(scales, zps, out_scale, out_zp, act="NONE", n=None):
    m = ModelBuilder()
    x, x0 = prelude(m, [1, 2, 3], scales[0], zps[0])
    ins, graph = [x0], [x]
    for s, z in zip(scales[1:], zps[1:]):
        t = m.tensor([1, 2, 3], scale=s, zero_point=z)
        ins.append(t)
        graph.append(t)
    y = m.tensor([1, 2, 3 * len(ins)], scale=out_scale, zero_point=out_zp)
    m.op("CONCATENATION", ins, [y], axis=2, fused_activation_function=act)
    return m.build(graph, [y])


def test_concatenation_refuses_requantization():
    refused(_concat_model([0.1, 0.2], [0, 0], 0.1, 0), 1, "CONCATENATION", "per-input requantization", "scale 0.2")
    refused(_concat_model([0.1, 0.1], [0, 3], 0.1, 0), 1, "CONCATENATION", "per-input requantization", "zero point 3")
    refused(_concat_model([0.1, 0.1], [0, 0], 0.1, 5), 1, "CONCATENATION", "per-input requantization")


def test_concatenation_refuses_activation_and_too_many_inputs():
    refused(_concat_model([0.1, 0.1], [0, 0], 0.1, 0, act="RELU"), 1, "CONCATENATION", "fused activation RELU")
    refused(_concat_model([0.1] * 11, [0] * 11, 0.1, 0), 1, "CONCATENATION", "11 inputs", "at most 10")


def test_concatenation_refuses_mixed_int16_int8():
    """int16 inputs, int8 output (int16 throughout runs: tests/test_ops_layout16.py)."""
    m = ModelBuilder()
    a = m.tensor([1, 4], dtype=np.int16, scale=0.1)
    b = m.tensor([1, 4], dtype=np.int16, scale=0.1)
    y = m.tensor([1, 8], scale=0.1)
    m.op("CONCATENATION", [a, b], [y], axis=1)
    refused(m.build([a, b], [y]), 0, "CONCATENATION", "int16 CONCATENATION needs int16 throughout")


# ---------------------------------------------------------------- PAD / PADV2


@st.composite
def pad_cases(draw):
    rank = draw(st.integers(1, 5))
    shape = draw(st.lists(st.integers(1, 5), min_size=rank, max_size=rank))
    pads = draw(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=rank, max_size=rank))
    kind = draw(st.sampled_from(["PAD", "PADV2", "PAD+value"]))
    same_q = draw(st.booleans())
    in_q = (draw(SCALES), draw(ZERO_POINTS))
    out_q = in_q if same_q else (draw(SCALES), draw(ZERO_POINTS))
    value = draw(st.integers(-128, 127))
    return shape, pads, kind, in_q, out_q, value, draw(st.integers(0, 2**31))


@SETTINGS
@given(pad_cases())
def test_pad_bit_exact(case):
    shape, pads, kind, (si, zi), (so, zo), value, seed = case
    m = ModelBuilder()
    x = m.tensor(shape, scale=si, zero_point=zi)
    p = m.const(np.array(pads, np.int32))
    y = m.tensor([s + a + b for s, (a, b) in zip(shape, pads)], scale=so, zero_point=zo)
    ins = [x, p]
    if kind != "PAD":  # PAD with three inputs is accepted by TFLM too
        ins.append(m.const(np.array([value], np.int8), dtype=np.int8, scale=so, zero_point=zo))
    m.op("PADV2" if kind == "PADV2" else "PAD", ins, [y])
    assert_bit_exact(m.build([x], [y]), rng_for(seed), 3, context=str(case))


def test_padv2_runtime_constant_value():
    """A constant_values tensor fed at run time (a graph input) is read per sample."""
    m = ModelBuilder()
    x = m.tensor([1, 3, 3, 2], scale=0.1, zero_point=3)
    p = m.const(np.array([[0, 0], [1, 2], [2, 1], [0, 1]], np.int32))
    cv = m.tensor([1], scale=0.1, zero_point=3)
    y = m.tensor([1, 6, 6, 3], scale=0.1, zero_point=3)
    m.op("PADV2", [x, p, cv], [y])
    rng = rng_for(1)
    xs = [rng.integers(-128, 128, (4, 1, 3, 3, 2), dtype=np.int8), np.array([[-128], [127], [0], [42]], np.int8)]
    assert_bit_exact(m.build([x, cv], [y]), rng, inputs=xs)


def test_pad_runs_merge_unpadded_trailing_axes():
    """tg_pad_s8 copies runs of in_dims[4] bytes: the unpadded trailing axes merge into the axis before them."""
    from tinygen.ops.layout import pad_runs

    # NHWC padded in H and W: a run is one input row (W x C bytes)
    assert pad_runs([1, 30, 25, 48], [1, 31, 27, 48], [0, 0, 1, 0]) == ([1, 30, 1200], [1, 31, 1296], [0, 0, 48])
    # H only: W and C merge into H, whose rows are contiguous: one run of the whole batch image
    assert pad_runs([1, 4, 5, 3], [1, 7, 5, 3], [0, 1, 0, 0]) == ([1, 60], [1, 105], [0, 15])
    # the last axis padded: nothing merges; nothing padded: one run
    assert pad_runs([2, 3], [3, 7], [1, 2]) == ([2, 3], [3, 7], [1, 2])
    assert pad_runs([2, 3, 4], [2, 3, 4], [0, 0, 0]) == ([24], [24], [0])


def _pad_model(pads, shape=(1, 3, 3, 2), const=True, dtype=np.int32, cv=None):
    m = ModelBuilder()
    x, x0 = prelude(m, list(shape))
    graph = [x]
    if const:
        p = m.const(np.array(pads, dtype), dtype=dtype)
    else:
        p = m.tensor(np.array(pads).shape, dtype=dtype)
        graph.append(p)
    ins = [x0, p]
    if cv is not None:
        ins.append(m.const(np.array([0], np.int8), dtype=np.int8, scale=cv[0], zero_point=cv[1]))
    out = [s + max(a, 0) + max(b, 0) for s, (a, b) in zip(shape, pads)]
    y = m.tensor(out, scale=0.05, zero_point=0)
    m.op("PAD" if cv is None else "PADV2", ins, [y])
    return m.build(graph, [y])


def test_pad_refusals():
    four = [[0, 0], [1, 1], [1, 1], [0, 0]]
    refused(_pad_model(four, const=False), 1, "PAD", "non-constant paddings")
    refused(_pad_model(four, dtype=np.int64), 1, "PAD", "paddings", "int64", "only int32")
    refused(_pad_model([[0, 0], [-1, 1], [1, 1], [0, 0]]), 1, "PAD", "negative paddings")
    refused(_pad_model([[0, 0]] * 6, shape=(1, 2, 1, 2, 1, 2)), 1, "PAD", "rank 6")
    refused(_pad_model(four, cv=(0.05, 3)), 1, "PADV2", "constant_values quantization")


# ---------------------------------------------------------------- STRIDED_SLICE


@st.composite
def slice_cases(draw):
    """Non-empty slices in every encoding TFLM resolves: negative indices, out-of-range clamping, masks, shrink."""
    rank = draw(st.integers(1, 4))
    shape = draw(st.lists(st.integers(1, 7), min_size=rank, max_size=rank))
    begin, end, strides = [], [], []
    bm = em = sm = 0
    py = []  # the same slice in Python's terms (an independent reference for the output shape)
    for d, size in enumerate(shape):
        stride = draw(st.sampled_from([1, 1, 2, 3, -1, -2, -3]))
        a = draw(st.integers(0, size - 1))  # resolved first index
        if stride > 0 and draw(st.integers(0, 3)) == 0:  # shrink this axis
            sm |= 1 << d
            begin.append(draw(st.sampled_from([a, a - size])))
            end.append(draw(st.integers(-9, 9)))  # ignored by shrink
            strides.append(stride)
            py.append(a)
            continue
        if stride > 0:
            e = draw(st.integers(a + 1, size))
            e_enc = draw(st.sampled_from([e, e - size if e < size else 99, 99 if e == size else e]))
            b_enc = draw(st.sampled_from([a, a - size, -99 if a == 0 else a]))
        else:
            e = draw(st.integers(-1, a - 1))
            e_enc = draw(st.sampled_from([e if e >= 0 else -99, e - size if e >= 0 else -99]))
            b_enc = draw(st.sampled_from([a, a - size, 99 if a == size - 1 else a]))
        if draw(st.integers(0, 4)) == 0:
            bm |= 1 << d
            a = 0 if stride > 0 else size - 1
            b_enc = draw(st.integers(-9, 9))  # ignored under begin_mask
        if draw(st.integers(0, 4)) == 0:
            em |= 1 << d
            e = size if stride > 0 else -1
            e_enc = draw(st.integers(-9, 9))  # ignored under end_mask
        begin.append(b_enc)
        end.append(e_enc)
        strides.append(stride)
        py.append(slice(a, e if e >= 0 else None, stride))
    out_shape = list(np.empty(shape)[tuple(py)].shape)
    return shape, begin, end, strides, bm, em, sm, out_shape, draw(ZERO_POINTS), draw(st.integers(0, 2**31))


@settings(max_examples=examples(60), deadline=None)
@given(slice_cases())
def test_strided_slice_bit_exact(case):
    shape, begin, end, strides, bm, em, sm, out_shape, zp, seed = case
    assert all(d > 0 for d in out_shape)
    m = ModelBuilder()
    x = m.tensor(shape, scale=0.1, zero_point=zp)
    b, e, s = (m.const(np.array(v, np.int32)) for v in (begin, end, strides))
    y = m.tensor(out_shape, scale=0.1, zero_point=zp)
    m.op("STRIDED_SLICE", [x, b, e, s], [y], begin_mask=bm, end_mask=em, shrink_axis_mask=sm)
    assert_bit_exact(m.build([x], [y]), rng_for(seed), 3, context=str(case))


def _slice_model(shape=(1, 4, 4, 2), begin=(0, 0, 0, 0), end=(1, 2, 2, 2), strides=(1, 1, 1, 1), out=(1, 2, 2, 2),
                 const=True, **masks):
    m = ModelBuilder()
    x, x0 = prelude(m, list(shape))
    graph = [x]
    vecs = []
    for v in (begin, end, strides):
        if const:
            vecs.append(m.const(np.array(v, np.int32)))
        else:
            vecs.append(m.tensor([len(v)], dtype=np.int32))
            graph.append(vecs[-1])
    y = m.tensor(list(out), scale=0.05, zero_point=0)
    m.op("STRIDED_SLICE", [x0, *vecs], [y], **masks)
    return m.build(graph, [y])


def test_strided_slice_refusals():
    refused(_slice_model(ellipsis_mask=2), 1, "STRIDED_SLICE", "ellipsis_mask not supported")
    refused(_slice_model(new_axis_mask=1), 1, "STRIDED_SLICE", "new_axis_mask not supported")
    refused(_slice_model(offset=True), 1, "STRIDED_SLICE", "offset")
    refused(_slice_model(const=False), 1, "STRIDED_SLICE", "non-constant begin")
    refused(_slice_model(shape=(1, 2, 2, 2, 2), begin=(0,) * 5, end=(1, 2, 2, 2, 2), strides=(1,) * 5, out=(1, 2, 2, 2, 2)),
            1, "STRIDED_SLICE", "rank 5")
    refused(_slice_model(begin=(0, 3, 0, 0), end=(1, 2, 2, 2), strides=(1, -1, 1, 1), out=(1, 2, 2), shrink_axis_mask=2),
            1, "STRIDED_SLICE", "shrink_axis_mask", "negative stride")
    refused(_slice_model(begin=(0, 4, 0, 0), end=(1, 5, 2, 2), out=(1, 2, 2), shrink_axis_mask=2),
            1, "STRIDED_SLICE", "shrink_axis_mask", "out of range")
    refused(_slice_model(strides=(1, 0, 1, 1)), 1, "STRIDED_SLICE", "stride of 0")
    refused(_slice_model(out=(1, 3, 2, 2)), 1, "STRIDED_SLICE", "does not match the slice")


# ---------------------------------------------------------------- TRANSPOSE


@st.composite
def transpose_cases(draw):
    rank = draw(st.integers(1, 5))
    shape = draw(st.lists(st.integers(1, 5), min_size=rank, max_size=rank))
    perm = draw(st.permutations(range(rank)))
    same_q = draw(st.booleans())
    q_in = (draw(SCALES), draw(ZERO_POINTS))
    return shape, list(perm), q_in, q_in if same_q else (draw(SCALES), draw(ZERO_POINTS)), draw(st.integers(0, 2**31))


@SETTINGS
@given(transpose_cases())
def test_transpose_bit_exact(case):
    shape, perm, (si, zi), (so, zo), seed = case
    m = ModelBuilder()
    x = m.tensor(shape, scale=si, zero_point=zi)
    p = m.const(np.array(perm, np.int32))
    y = m.tensor([shape[i] for i in perm], scale=so, zero_point=zo)
    m.op("TRANSPOSE", [x, p], [y])
    assert_bit_exact(m.build([x], [y]), rng_for(seed), 3, context=str(case))


def _transpose_model(perm, shape=(1, 2, 3, 4), const=True):
    m = ModelBuilder()
    x, x0 = prelude(m, list(shape))
    graph = [x]
    if const:
        p = m.const(np.array(perm, np.int32))
    else:
        p = m.tensor([len(perm)], dtype=np.int32)
        graph.append(p)
    y = m.tensor([shape[i % len(shape)] for i in perm], scale=0.05, zero_point=0)
    m.op("TRANSPOSE", [x0, p], [y])
    return m.build(graph, [y])


def test_transpose_refusals():
    refused(_transpose_model([0, 3, 1, 2], const=False), 1, "TRANSPOSE", "non-constant perm")
    refused(_transpose_model([0, 1, 1, 2]), 1, "TRANSPOSE", "not a permutation")
    refused(_transpose_model([0, 1, 2, 3, 5, 4], shape=(1, 2, 1, 2, 1, 2)), 1, "TRANSPOSE", "rank 6")
    refused(_transpose_model([0, 1, 2]), 1, "TRANSPOSE", "perm has shape [3]")
