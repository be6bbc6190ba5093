"""ADD, SUB, MUL: bit-exact with TFLite Micro, with broadcasting up to rank 5 and fused activations."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import examples
from tests.support.opmodels import ModelBuilder
from tests.support.oracle import assert_bit_exact
from tinygen.errors import UnsupportedOpError
from tinygen.ops import REGISTRY, check_graph
from tinygen.ops.elementwise import _add_sub_reals, _smaller_than_one
from tinygen.model.reader import parse_model

ACTIVATIONS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]
zero_points = st.one_of(st.sampled_from([-128, 127, 0]), st.integers(-128, 127))


def log_uniform(lo, hi):
    return st.floats(np.log(lo), np.log(hi)).map(lambda v: float(np.float32(np.exp(v))))


def binary_model(op, shape0, shape1, q0, q1, qo, act="NONE", const1=None, pre_reshape=False, out_shape=None):
    """Single-op model; input 1 is a constant when const1 is given. pre_reshape puts a RESHAPE first (op index 1)."""
    m = ModelBuilder()
    a = m.tensor(shape0, scale=q0[0], zero_point=q0[1])
    src = a
    if pre_reshape:
        src = m.tensor(shape0, scale=q0[0], zero_point=q0[1])
        m.op("RESHAPE", [a], [src], new_shape=list(shape0))
    if const1 is not None:
        b = m.tensor(shape1, scale=q1[0], zero_point=q1[1], data=const1)
    else:
        b = m.tensor(shape1, scale=q1[0], zero_point=q1[1])
    if out_shape is None:
        out_shape = np.broadcast_shapes(tuple(shape0), tuple(shape1))
    y = m.tensor(out_shape, scale=qo[0], zero_point=qo[1])
    m.op(op, [src, b], [y], fused_activation_function=act)
    return m.build([a] if const1 is not None else [a, b], [y])


@st.composite
def broadcast_shapes(draw):
    """Two shapes broadcasting to a rank <= 5 output: each dim kept or set to 1, leading dims maybe dropped."""
    rank = draw(st.integers(1, 5))
    out = draw(st.lists(st.integers(1, 5), min_size=rank, max_size=rank))
    if draw(st.booleans()):
        return tuple(out), tuple(out)  # the non-broadcast path
    shapes = []
    for _ in range(2):
        s = [d if draw(st.integers(0, 2)) else 1 for d in out]
        shapes.append(tuple(s[draw(st.integers(0, rank - 1)):]))
    return tuple(shapes)


def scales_for(op, draw):
    s0 = draw(log_uniform(0.002, 0.2))
    s1 = draw(st.one_of(st.just(s0), log_uniform(0.002, 0.2)))  # equal scales are common in real models
    if op == "MUL":
        so = float(np.float32(s0 * s1 * 128 * draw(log_uniform(0.1, 4.0))))
    else:
        so = float(np.float32((s0 + s1) * draw(log_uniform(0.3, 2.0))))
    return s0, s1, so


def run_random(op, data, seed, n=4):
    draw = data.draw
    shape0, shape1 = draw(broadcast_shapes())
    s0, s1, so = scales_for(op, draw)
    q0, q1, qo = (s0, draw(zero_points)), (s1, draw(zero_points)), (so, draw(zero_points))
    act = draw(st.sampled_from(ACTIVATIONS))
    const = draw(st.booleans())
    rng = np.random.default_rng(seed)
    c1 = rng.integers(-128, 128, size=shape1, dtype=np.int8) if const else None
    mb = binary_model(op, shape0, shape1, q0, q1, qo, act, const1=c1)
    assert_bit_exact(mb, rng, n, context=f"{op} {shape0}x{shape1} {q0} {q1} -> {qo} {act} const={const}")


@settings(max_examples=examples(25), deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_add_bit_exact(data, seed):
    run_random("ADD", data, seed)


@settings(max_examples=examples(25), deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_sub_bit_exact(data, seed):
    run_random("SUB", data, seed)


@settings(max_examples=examples(25), deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_mul_bit_exact(data, seed):
    run_random("MUL", data, seed)


# --- every pair of int8 values in one sample ---------------------------------------------------------

V = np.arange(-128, 128, dtype=np.int8)
GRID_A = np.broadcast_to(V[:, None], (256, 256)).reshape(1, 1, 256, 256).copy()
GRID_B = np.broadcast_to(V[None, :], (256, 256)).reshape(1, 1, 256, 256).copy()


@settings(max_examples=examples(8), deadline=None)
@given(op=st.sampled_from(["ADD", "SUB", "MUL"]), data=st.data())
def test_all_input_pairs(op, data):
    s0, s1, so = scales_for(op, data.draw)
    q = [(s, data.draw(zero_points)) for s in (s0, s1, so)]
    act = data.draw(st.sampled_from(ACTIVATIONS))
    mb = binary_model(op, (1, 256, 256), (1, 256, 256), *q, act)
    assert_bit_exact(mb, None, inputs=[GRID_A, GRID_B], context=f"{op} {q} {act}")


# Scale triples where TFLM's double-precision ratios and a float-precision variant give different
# multipliers and different outputs: pins ADD and SUB to the precision the oracle uses.
@pytest.mark.parametrize("op,q0,q1,qo", [
    ("SUB", (0.0901246890425682, -61), (0.06608684360980988, -70), (0.035122763365507126, -32)),
    ("SUB", (0.06222991645336151, 102), (0.07047954201698303, -52), (0.05591278150677681, 66)),
    ("ADD", (0.09214799851179123, 80), (0.0645972192287445, 120), (0.11785250157117844, 58)),
])
def test_add_sub_multiplier_precision(op, q0, q1, qo):
    assert _add_sub_reals(q0[0], q1[0], qo[0], 20) != _add_sub_reals(q0[0], q1[0], qo[0], 20, float_ratios=True)
    assert [_smaller_than_one(r) for r in _add_sub_reals(q0[0], q1[0], qo[0], 20)] != \
        [_smaller_than_one(r) for r in _add_sub_reals(q0[0], q1[0], qo[0], 20, float_ratios=True)]
    mb = binary_model(op, (1, 256, 256), (1, 256, 256), q0, q1, qo)
    assert_bit_exact(mb, None, inputs=[GRID_A, GRID_B], context=f"{op} {q0} {q1} {qo}")


@pytest.mark.parametrize("op", ["ADD", "SUB", "MUL"])
@pytest.mark.parametrize("shape0,shape1", [
    ((1, 4, 4, 8), (8,)), ((8,), (1, 4, 4, 8)), ((2, 1, 3, 1, 5), (1, 4, 1, 6, 1)), ((1, 1, 1, 1), (3, 1, 2, 1)),
    ((1,), (2, 3, 4, 5, 2)),
])
def test_broadcast_patterns(op, shape0, shape1):
    rng = np.random.default_rng(3)
    q = (0.05, 3), (0.07, -9), ((0.05 * 0.07 * 128) if op == "MUL" else 0.1, -5)
    assert_bit_exact(binary_model(op, shape0, shape1, *q, "RELU6"), rng, 4, context=f"{op} {shape0}x{shape1}")
    assert_bit_exact(binary_model(op, shape0, shape1, *q, "NONE", const1=rng.integers(-128, 128, size=shape1)),
                     rng, 4, context=f"{op} {shape0}x{shape1} const")


@pytest.mark.parametrize("op", ["ADD", "SUB", "MUL"])
def test_scalar_constant_operand(op):
    # (a scalar model input cannot go through the oracle helper, which feeds arrays of rank >= 1)
    rng = np.random.default_rng(4)
    q = (0.05, 3), (0.07, -9), ((0.05 * 0.07 * 128) if op == "MUL" else 0.1, -5)
    for c in (-128, -3, 0, 77, 127):
        mb = binary_model(op, (2, 3, 5), (), *q, "NONE", const1=np.int8(c))
        assert_bit_exact(mb, rng, 3, context=f"{op} scalar {c}")


@pytest.mark.parametrize("op", ["ADD", "SUB", "MUL"])
def test_edge_zero_points_and_equal_inputs(op):
    rng = np.random.default_rng(5)
    shape = (1, 8, 8, 4)
    for zps in [(-128, -128, -128), (127, 127, 127), (-128, 127, 0)]:
        q = [(s, z) for s, z in zip((0.03, 0.03, 0.0005 * 128 if op == "MUL" else 0.06), zps)]
        mb = binary_model(op, shape, shape, *q, "NONE")
        consts = [np.full((3,) + shape, v, dtype=np.int8) for v in (-128, 127)]
        consts[0][1], consts[1][2] = 0, 0
        assert_bit_exact(mb, rng, inputs=consts, context=f"{op} {zps} constant")
        assert_bit_exact(mb, rng, 3, context=f"{op} {zps}")


def test_inplace_flag():
    for op in ("ADD", "SUB", "MUL"):
        assert REGISTRY[op].inplace
        g = parse_model(binary_model(op, (1, 4, 8), (8,), (0.1, 0), (0.1, 0), (0.1, 0)))
        assert REGISTRY[op].is_inplace(g, g.operators[0])
        g = parse_model(binary_model(op, (8,), (1, 4, 8), (0.1, 0), (0.1, 0), (0.1, 0)))
        assert not REGISTRY[op].is_inplace(g, g.operators[0])


# --- check() refuses what the kernels do not implement ---------------------------------------------

def refused(model_bytes, *needles):
    with pytest.raises(UnsupportedOpError) as ei:
        check_graph(parse_model(model_bytes))
    e = ei.value
    assert e.op_index == 1 and "op 1 (" in str(e), str(e)
    for n in needles:
        assert n in str(e), str(e)


Q = (0.1, 0)


@pytest.mark.parametrize("op", ["ADD", "SUB", "MUL"])
def test_refuses_other_fused_activations(op):
    for act in ("TANH", "SIGN_BIT"):
        refused(binary_model(op, (1, 4), (1, 4), Q, Q, Q, act, pre_reshape=True), op, f"fused activation {act} not supported")


@pytest.mark.parametrize("op", ["ADD", "MUL"])
def test_refuses_rank_6(op):
    s = (1, 2, 1, 2, 1, 2)
    refused(binary_model(op, s, s, Q, Q, Q, pre_reshape=True), "broadcast of rank > 5")


def test_refuses_mixed_int16_and_bad_shapes():
    """int16 inputs with an int8 output: neither the int8 ADD nor the int16 one (test_ops_elementwise16.py)."""
    m = ModelBuilder()
    a = m.tensor([1, 4], dtype=np.int16, scale=0.1, zero_point=0)
    a2 = m.tensor([1, 4], dtype=np.int16, scale=0.1, zero_point=0)
    b = m.tensor([1, 4], dtype=np.int16, scale=0.1, zero_point=0)
    y = m.tensor([1, 4], scale=0.1, zero_point=0)
    m.op("RESHAPE", [a], [a2], new_shape=[1, 4])
    m.op("ADD", [a2, b], [y])
    refused(m.build([a, b], [y]), "ADD", "is int8", "int16 ADD needs int16 throughout")
    refused(binary_model("SUB", (1, 4), (1, 4), Q, Q, Q, pre_reshape=True, out_shape=(4,)), "not the broadcast shape")


def test_refuses_multipliers_tflm_would_abort_on():
    # output scale so small that the ADD output multiplier 2 * max_in / (2^20 * out) is >= 1
    refused(binary_model("ADD", (1, 4), (1, 4), (1.0, 0), (1.0, 0), (1e-7, 0), pre_reshape=True), "not in (0, 1)")
    refused(binary_model("MUL", (1, 4), (1, 4), (10.0, 0), (10.0, 0), (1e-5, 0), pre_reshape=True), "too large")
