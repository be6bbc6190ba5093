"""SOFTMAX int8 -> int8 / int16: bit-exact with TFLite Micro's fixed-point path."""
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
from tinygen.model.reader import parse_model

OUT_INT8 = (np.int8, 1 / 256, -128)
OUT_INT16 = (np.int16, 1 / 65536, -32768)


def log_uniform(lo, hi):
    return st.floats(np.log(lo), np.log(hi)).map(lambda v: float(np.float32(np.exp(v))))


def softmax_model(shape, in_scale, in_zp, beta=1.0, out=OUT_INT8, pre_reshape=False, out_shape=None):
    m = ModelBuilder()
    x = m.tensor(shape, scale=in_scale, zero_point=in_zp)
    src = x
    if pre_reshape:
        src = m.tensor(shape, scale=in_scale, zero_point=in_zp)
        m.op("RESHAPE", [x], [src], new_shape=list(shape))
    y = m.tensor(out_shape or shape, dtype=out[0], scale=out[1], zero_point=out[2])
    m.op("SOFTMAX", [src], [y], beta=beta)
    return m.build([x], [y])


shapes = st.one_of(
    st.lists(st.integers(1, 12), min_size=1, max_size=4).map(tuple),          # small rows: big probabilities
    st.tuples(st.integers(1, 3), st.integers(1, 400)).map(lambda t: (1,) + t),  # long rows
)


@settings(max_examples=examples(25), deadline=None)
@given(shape=shapes,
       in_scale=st.one_of(log_uniform(0.01, 0.2), log_uniform(0.2, 2.0), log_uniform(0.0005, 0.01)),
       in_zp=st.one_of(st.sampled_from([-128, 127, 0]), st.integers(-128, 127)),
       beta=st.one_of(st.just(1.0), st.floats(0.1, 4.0)),
       out=st.sampled_from([OUT_INT8, OUT_INT16]),
       spread=st.sampled_from([256, 64, 16, 2]),
       seed=st.integers(0, 2**32 - 1))
def test_softmax_bit_exact(shape, in_scale, in_zp, beta, out, spread, seed):
    """Inputs drawn with a random spread around a random centre, so rows range from peaked to flat."""
    rng = np.random.default_rng(seed)
    mb = softmax_model(shape, in_scale, in_zp, beta, out)
    n = 4
    centre = rng.integers(-128, 128, size=(n,) + (1,) * len(shape))
    x = np.clip(centre + rng.integers(-spread // 2, spread // 2 + 1, size=(n,) + shape), -128, 127).astype(np.int8)
    assert_bit_exact(mb, rng, inputs=[x], context=f"SOFTMAX {shape} scale={in_scale} zp={in_zp} beta={beta} out={out[0].__name__}")


@pytest.mark.parametrize("out", [OUT_INT8, OUT_INT16])
def test_every_difference_from_the_row_maximum(out):
    """Row c holds {127, 127 - c}: every input_diff 0..-255 with one and with many partners."""
    x = np.full((1, 256, 2), 127, dtype=np.int8)
    x[0, :, 1] = np.arange(127, -129, -1, dtype=np.int16).astype(np.int8)
    many = np.full((1, 256, 40), 127, dtype=np.int8)
    many[0, :, 1:] = x[0, :, 1:2]
    for scale, beta in [(0.05, 1.0), (0.2, 1.0), (0.01, 2.0), (1.0, 1.0), (0.001, 1.0)]:
        assert_bit_exact(softmax_model((256, 2), scale, 0, beta, out), None, inputs=[x], context=f"{scale} {beta}")
        assert_bit_exact(softmax_model((256, 40), scale, 0, beta, out), None, inputs=[many], context=f"{scale} {beta}")


@pytest.mark.parametrize("depth", [1, 2, 511, 1000, 4095])
def test_all_equal_inputs(depth):
    # (TFLM aborts on int8-output rows of >= 512 equal entries: int8 output only up to 511 here)
    outs = (OUT_INT8, OUT_INT16) if depth < 512 else (OUT_INT16,)
    for v in (-128, 0, 127):
        x = np.full((1, 1, depth), v, dtype=np.int8)
        for out in outs:
            assert_bit_exact(softmax_model((1, depth), 0.1, -128, 1.0, out), None, inputs=[x], context=f"{depth} {v}")


def test_long_rows_int8_output():
    """1000 classes (an ImageNet head) with int8 output, on rows with a clear winner and on random rows."""
    rng = np.random.default_rng(9)
    x = rng.integers(-128, 128, size=(4, 1, 1000), dtype=np.int8)
    x[0, 0, 17] = 127
    x[1] = np.clip(x[1] // 4, -128, 127)
    x[1, 0, 3] = 100
    for scale in (0.1, 0.05, 0.2):
        assert_bit_exact(softmax_model((1, 1000), scale, -10, 1.0), None, inputs=[x], context=f"1000 classes {scale}")


def test_uniform_long_int8_rows_saturate_to_the_minimum():
    """Where TFLM would abort (sum of exps >= 512 for an int8 output), tinygen outputs -128."""
    mb = softmax_model((1, 1000), 0.1, 0, 1.0)
    g = parse_model(mb)
    y = REGISTRY["SOFTMAX"].run(REGISTRY["SOFTMAX"].prepare(g, g.operators[0]), [np.zeros((1, 1, 1000), np.int8)])[0]
    assert np.all(y == -128)


def test_capped_multiplier_and_diff_min():
    # beta * scale * 2^26 above 2^31 - 1: TFLM caps the multiplier; only the maxima survive diff_min
    mb = softmax_model((1, 10), 64.0, 0, 1.0)
    g = parse_model(mb)
    p = REGISTRY["SOFTMAX"].prepare(g, g.operators[0])
    assert p.input_multiplier == (1 << 31) - 1 or p.input_left_shift == 31
    assert p.diff_min == 0
    rng = np.random.default_rng(1)
    assert_bit_exact(mb, rng, 6, context="capped")


def refused(model_bytes, *needles):
    with pytest.raises(UnsupportedOpError) as ei:
        check_graph(parse_model(model_bytes))
    e = ei.value
    assert e.op_index == 1 and "op 1 (SOFTMAX)" in str(e), str(e)
    for n in needles:
        assert n in str(e), str(e)


def test_refuses_wrong_output_quantization():
    refused(softmax_model((1, 10), 0.1, 0, out=(np.int8, 1 / 256, 0), pre_reshape=True), "zero point", "-128")
    refused(softmax_model((1, 10), 0.1, 0, out=(np.int8, 1 / 255, -128), pre_reshape=True), "1/256")
    refused(softmax_model((1, 10), 0.1, 0, out=(np.int16, 1 / 32768, 0), pre_reshape=True), "-32768")
    refused(softmax_model((1, 10), 0.1, 0, out=(np.int32, 1 / 256, -128), pre_reshape=True), "int32", "only int8 and int16")


def test_refuses_float_input_and_unsupported_parameters():
    m = ModelBuilder()  # (int16 input runs: tests/test_ops_softmax16.py)
    x = m.tensor([1, 10], dtype=np.float32)
    x2 = m.tensor([1, 10], dtype=np.float32)
    y = m.tensor([1, 10], dtype=np.float32)
    m.op("RESHAPE", [x], [x2], new_shape=[1, 10])
    m.op("SOFTMAX", [x2], [y], beta=1.0)
    refused(m.build([x], [y]), "float32", "only int8 input")
    refused(softmax_model((1, 10), 1e-9, 0, pre_reshape=True), "too small")
    refused(softmax_model((1, 4096), 0.1, 0, pre_reshape=True), "4096", "accumulator")
    refused(softmax_model((1, 10), 0.1, 0, beta=-1.0, pre_reshape=True), "beta")
