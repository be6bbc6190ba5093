"""int32 variants of ADD, SUB, MUL, DIV, MAXIMUM, MINIMUM, SQUARED_DIFFERENCE and of the data-movement ops
(SLICE, STRIDED_SLICE, SPLIT, SPLIT_V, PACK, UNPACK, CONCATENATION, PAD, PADV2, BROADCAST_TO, REVERSE_V2,
RESHAPE, SQUEEZE): bit-exact with TFLite Micro (property tests against the oracle, overflowing values
included), and the generated C on QEMU Cortex-M4 (the host C with sanitizers: tests/test_codegen.py)."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import examples
from tests.support.opmodels import ModelBuilder
from tests.support.oracle import assert_bit_exact
from tests.support.onboard import assert_bit_exact_on_board
from tinygen.emulator.engine import Emulator
from tinygen.errors import UnsupportedOpError
from tinygen.model.reader import parse_model

I32 = np.int32
SET = settings(max_examples=examples(6), deadline=None)
ACTS = st.sampled_from(["NONE", "RELU", "RELU6", "RELU_N1_TO_1"])


def binary_model(name, s0, s1, act="NONE", const1=None) -> bytes:
    m = ModelBuilder()
    a = m.tensor(s0, dtype=I32)
    b = m.tensor(s1, dtype=I32, data=const1) if const1 is not None else m.tensor(s1, dtype=I32)
    y = m.tensor(list(np.broadcast_shapes(tuple(s0), tuple(s1))), dtype=I32)
    opts = {"fused_activation_function": act} if name in ("ADD", "SUB", "MUL", "DIV") else {}
    m.op(name, [a, b], [y], **opts)
    return m.build([a] if const1 is not None else [a, b], [y])


def int32_values(rng, shape, small: bool) -> np.ndarray:
    """Full-range values (sums and products overflow) or small ones (activation clamps matter)."""
    if small:
        return rng.integers(-9, 10, size=shape).astype(I32)
    v = rng.integers(-(1 << 31), 1 << 31, size=shape, dtype=np.int64)
    v.reshape(-1)[:2] = [(1 << 31) - 1, -(1 << 31)][: v.size]
    return v.astype(I32)


@st.composite
def bshapes(draw, max_rank=5):
    out = draw(st.lists(st.integers(1, 3), min_size=1, max_size=max_rank))

    def sub():
        r = draw(st.integers(1, len(out)))
        return [draw(st.sampled_from([1, d])) for d in out[len(out) - r:]]

    return sub(), sub()


@SET
@given(st.sampled_from(["ADD", "SUB", "MUL", "DIV", "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE"]), st.data(), ACTS,
       st.booleans(), st.integers(0, 2**31))
def test_int32_arithmetic(name, data, act, small, seed):
    s0, s1 = data.draw(bshapes(4 if name == "SQUARED_DIFFERENCE" else 5))
    rng = np.random.default_rng(seed)
    model = binary_model(name, s0, s1, act)
    xs = [int32_values(rng, (2,) + tuple(s), small) for s in (s0, s1)]
    if name == "DIV":  # TFLM's process dies (SIGFPE) on x / 0 and INT32_MIN / -1
        xs[1] = np.where((xs[1] == 0) | (xs[1] == -1), 3, xs[1]).astype(I32)
    assert_bit_exact(model, rng, inputs=xs, context=f"{name} {s0} {s1} {act} small={small}")


def unary_model(name, in_shape, out_shape, params=(), n_out=1, **opts) -> bytes:
    """One int32 input moved by `name`; params: constant int32 inputs after it (SPLIT: before it)."""
    m = ModelBuilder()
    x = m.tensor(in_shape, dtype=I32)
    consts = [m.const(np.asarray(p, np.int32)) for p in params]
    ins = consts + [x] if name == "SPLIT" else [x] + consts
    outs = [m.tensor(s, dtype=I32) for s in (out_shape if n_out > 1 else [out_shape])]
    m.op(name, ins, outs, **opts)
    return m.build([x], outs)


def movement_cases() -> dict[str, bytes]:
    return {
        "i32_slice": unary_model("SLICE", [3, 4, 2], [2, 3, 2], ([1, 1, 0], [2, -1, 2])),
        "i32_strided_slice": unary_model("STRIDED_SLICE", [4, 5], [2, 2], ([0, 4], [4, 0], [2, -2])),
        "i32_split": unary_model("SPLIT", [2, 6], [[2, 2], [2, 2], [2, 2]], ([1],), n_out=3, num_splits=3),
        "i32_split_v": unary_model("SPLIT_V", [5, 2], [[1, 2], [4, 2]], ([1, -1], [0]), n_out=2, num_splits=2),
        "i32_unpack": unary_model("UNPACK", [3, 2, 2], [[3, 2], [3, 2]], n_out=2, axis=1, num=2),
        "i32_pad": unary_model("PAD", [2, 3], [3, 6], ([[1, 0], [2, 1]],)),
        "i32_padv2": unary_model("PADV2", [2, 3], [4, 3], ([[1, 1], [0, 0]], [-77])),
        "i32_broadcast_to": unary_model("BROADCAST_TO", [3, 1], [2, 3, 4], ([2, 3, 4],)),
        "i32_reverse": unary_model("REVERSE_V2", [2, 3, 4], [2, 3, 4], ([1, 2],)),
        "i32_reshape": unary_model("RESHAPE", [2, 6], [3, 4], ([3, 4],)),
        "i32_squeeze": unary_model("SQUEEZE", [1, 6, 1], [6]),
        "i32_concat": _concat([[2, 1, 3], [2, 2, 3], [2, 1, 3]], 1),
        "i32_pack": _pack([3, 2], 3, 1),
    }


def _concat(shapes, axis) -> bytes:
    m = ModelBuilder()
    xs = [m.tensor(s, dtype=I32) for s in shapes]
    out = list(shapes[0])
    out[axis] = sum(s[axis] for s in shapes)
    y = m.tensor(out, dtype=I32)
    m.op("CONCATENATION", xs, [y], axis=axis)
    return m.build(xs, [y])


def _pack(shape, n, axis) -> bytes:
    m = ModelBuilder()
    xs = [m.tensor(shape, dtype=I32) for _ in range(n)]
    y = m.tensor(list(shape[:axis]) + [n] + list(shape[axis:]), dtype=I32)
    m.op("PACK", xs, [y], axis=axis, values_count=n)
    return m.build(xs, [y])


@pytest.mark.parametrize("name", sorted(movement_cases()))
def test_int32_movement(name):
    assert_bit_exact(movement_cases()[name], np.random.default_rng(5), n=2, context=name)


@SET
@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), st.data())
def test_int32_strided_slice_and_pad(shape, data):
    rank = len(shape)
    begin = [data.draw(st.integers(-d, d - 1)) for d in shape]
    end = [data.draw(st.integers(-d, d)) for d in shape]
    strides = [data.draw(st.sampled_from([1, 2, -1])) for _ in shape]
    m = ModelBuilder()
    x = m.tensor(shape, dtype=I32)
    from tinygen.model.fold import slice_axis

    out = [len(range(*slice_axis(b, e, s, d, False, False, False), s)) for b, e, s, d in zip(begin, end, strides, shape)]
    if 0 in out:
        return
    y = m.tensor(out, dtype=I32)
    m.op("STRIDED_SLICE", [x, m.const(np.array(begin, I32)), m.const(np.array(end, I32)), m.const(np.array(strides, I32))], [y])
    pads = [[data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2))] for _ in range(rank)]
    z = m.tensor([o + a + b for o, (a, b) in zip(out, pads)], dtype=I32)
    m.op("PAD", [y, m.const(np.array(pads, I32))], [z])
    assert_bit_exact(m.build([x], [z]), np.random.default_rng(data.draw(st.integers(0, 99))), n=2,
                     context=f"{shape} {begin} {end} {strides} {pads}")


def test_int32_refusals():
    m = ModelBuilder()
    a, b = m.tensor([2], dtype=I32), m.tensor([2], dtype=np.int8, scale=0.1)
    y = m.tensor([2], dtype=I32)
    m.op("ADD", [a, b], [y])
    with pytest.raises(UnsupportedOpError, match=r"op 0 \(ADD\): int32, int8 -> int32: the int32 ADD needs int32 throughout"):
        Emulator(parse_model(m.build([a, b], [y])))
    with pytest.raises(UnsupportedOpError, match=r"SQUARED_DIFFERENCE.*rank 5"):
        Emulator(parse_model(binary_model("SQUARED_DIFFERENCE", [2, 1, 2, 1, 2], [2])))


def int32_models() -> dict[str, bytes]:
    """Models for the generated-C tests (host sanitizers in tests/test_codegen.py, QEMU here)."""
    rng = np.random.default_rng(21)
    ms = {
        "i32_add_bcast": binary_model("ADD", [2, 1, 3], [4, 1], "RELU"),
        "i32_sub_relu6": binary_model("SUB", [3, 4], [3, 4], "RELU6"),
        "i32_mul_const": binary_model("MUL", [2, 3, 1, 2, 2], [2], "NONE", const1=rng.integers(-70000, 70000, size=2)),
        "i32_max": binary_model("MAXIMUM", [5], [1]),
        "i32_min_bcast": binary_model("MINIMUM", [1, 4], [3, 1]),
        "i32_sqdiff": binary_model("SQUARED_DIFFERENCE", [2, 3], [2, 1]),
        "i32_div_relu": binary_model("DIV", [2, 3], [3], "RELU"),
    }
    ms.update(movement_cases())
    return ms


@pytest.mark.qemu
@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                    reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_int32_on_cortex_m4(tmp_path):
    rng = np.random.default_rng(31)
    models = int32_models()
    graphs = {n: parse_model(b, name=n) for n, b in models.items()}
    xs = {n: [[int32_values(rng, tuple(t.shape), small=k == 1) for t in g.input_tensors] for k in range(2)]
          for n, g in graphs.items()}
    for s in xs["i32_div_relu"]:  # no x / 0 nor INT32_MIN / -1 (TFLM's process dies on them)
        s[1] = np.where((s[1] == 0) | (s[1] == -1), 7, s[1]).astype(I32)
    assert_bit_exact_on_board(models, graphs, xs, tmp_path)


def test_int32_div_by_zero_and_overflow():
    """Where TFLM's process dies (x / 0, INT32_MIN / -1: SIGFPE), the emulator gives 0 and INT32_MIN (the C kernel
    computes the same: tests/test_codegen.py runs it under the sanitizers with all-minimum and random samples)."""
    g = parse_model(binary_model("DIV", [4], [4]))
    a = np.array([[7, -7, -(1 << 31), 5]], I32)
    b = np.array([[0, 0, -1, -1]], I32)
    y = Emulator(g).run_internal([a, b])[0]
    assert y.tolist() == [[0, 0, -(1 << 31), -5]]


@SET
@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), st.data())
def test_int32_split_concat_pack(shape, data):
    """SPLIT_V then CONCATENATION of the parts in reverse order, and PACK of two inputs, on int32 values."""
    rank = len(shape)
    axis = data.draw(st.integers(0, rank - 1))
    n = shape[axis]
    cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=2)))
    sizes = [b - a for a, b in zip([0] + cuts, cuts + [n])]
    sizes = [s for s in sizes if s > 0]
    m = ModelBuilder()
    x = m.tensor(shape, dtype=I32)
    parts = [m.tensor(shape[:axis] + [s] + shape[axis + 1:], dtype=I32) for s in sizes]
    m.op("SPLIT_V", [x, m.const(np.array(sizes, I32)), m.const(np.array([axis], I32))], parts, num_splits=len(sizes))
    y = m.tensor(shape, dtype=I32)
    m.op("CONCATENATION", parts[::-1], [y], axis=axis)
    pack_axis = data.draw(st.integers(0, rank))
    z = m.tensor(shape[:pack_axis] + [2] + shape[pack_axis:], dtype=I32)
    m.op("PACK", [y, x], [z], axis=pack_axis, values_count=2)
    rng = np.random.default_rng(data.draw(st.integers(0, 99)))
    assert_bit_exact(m.build([x], [z]), None, inputs=[int32_values(rng, (2,) + tuple(shape), False)],
                     context=f"{shape} axis {axis} sizes {sizes} pack {pack_axis}")
