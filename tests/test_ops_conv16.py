"""16x8 CONV_2D (int16 activations, int8 weights, int64 / int32 / no bias), DEPTHWISE_CONV_2D and
FULLY_CONNECTED 16x8, and TRANSPOSE_CONV (int8 and 16x8): bit-exact with TFLite Micro (property tests
against the oracle), the SEANet corpus layers bit-exact with tflite-micro's golden CSVs, and the generated
C on QEMU Cortex-M4 (the depthwise and fully connected ones in tests/test_int16_on_board.py)."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import examples
from tests.support.corpus import corpus_dir
from tests.support.opmodels import ModelBuilder, conv16_model, transpose_conv_model
from tests.support.oracle import assert_bit_exact, tflm_run_batch
from tinygen.emulator.engine import Emulator
from tinygen.errors import UnsupportedOpError
from tinygen.model.reader import parse_model, read_model
from tinygen.ops.conv16 import mbqm_int64

ACTS = st.sampled_from(["NONE", "NONE", "RELU", "RELU6", "RELU_N1_TO_1"])


@st.composite
def conv16_cases(draw):
    groups = draw(st.sampled_from([1, 1, 1, 2]))
    c = groups * draw(st.integers(1, 6))
    oc = groups * draw(st.integers(1, 5))
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dil = (draw(st.sampled_from([1, 1, 2])), draw(st.sampled_from([1, 1, 2])))
    padding = draw(st.sampled_from(["SAME", "VALID"]))
    h = draw(st.integers((k[0] - 1) * dil[0] + 1, 9))
    w = draw(st.integers((k[1] - 1) * dil[1] + 1, 9))
    return dict(in_shape=[draw(st.integers(1, 2)), h, w, c], oc=oc, k=k, stride=stride, padding=padding, dil=dil,
                bias=draw(st.sampled_from(["int64", "int64", "int32", None])), act=draw(ACTS),
                per_channel=draw(st.booleans()), groups=groups), draw(st.integers(0, 2**31))


@settings(max_examples=examples(25), deadline=None)
@given(conv16_cases())
def test_conv2d_int16_bit_exact(case):
    kw, seed = case
    rng = np.random.default_rng(seed)
    assert_bit_exact(conv16_model(rng, **kw), rng, n=2, context=str(kw))


@st.composite
def tconv_cases(draw):
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(st.sampled_from(["SAME", "VALID"]))
    dtype = draw(st.sampled_from([np.int8, np.int16]))
    return dict(in_shape=[draw(st.integers(1, 2)), draw(st.integers(1, 6)), draw(st.integers(1, 6)), draw(st.integers(1, 6))],
                oc=draw(st.integers(1, 6)), k=k, stride=stride, padding=padding, dtype=dtype, bias=draw(st.booleans()),
                act=draw(ACTS), per_channel=draw(st.booleans())), draw(st.integers(0, 2**31))


@settings(max_examples=examples(25), deadline=None)
@given(tconv_cases())
def test_transpose_conv_bit_exact(case):
    kw, seed = case
    rng = np.random.default_rng(seed)
    assert_bit_exact(transpose_conv_model(rng, **kw), rng, n=2, context=str(kw))


def dwconv16_model(rng, in_shape, dm, k, stride=(1, 1), padding="SAME", dil=(1, 1), bias=True, act="NONE",
                   per_channel=True) -> bytes:
    """DEPTHWISE_CONV_2D with int16 activations, int8 weights, an int64 bias or none (16x8)."""
    m = ModelBuilder()
    b, h, w, c = in_shape
    oc = c * dm
    in_scale = float(rng.uniform(0.0002, 0.002))
    x = m.tensor(in_shape, dtype=np.int16, scale=in_scale, zero_point=0)
    ws = rng.uniform(0.002, 0.02, size=oc) if per_channel else float(rng.uniform(0.002, 0.02))
    wt = m.tensor([1, k[0], k[1], oc], data=rng.integers(-127, 128, size=(1, k[0], k[1], oc)), scale=ws, zero_point=0, axis=3)
    ins = [x, wt]
    if bias:
        bd = rng.integers(-1 << 22, 1 << 22, size=oc)
        bd[0] = bd[0] * 1024 if oc > 1 else bd[0]  # one value beyond the int32 range
        ins.append(m.tensor([oc], dtype=np.int64, data=bd, scale=in_scale * np.atleast_1d(ws)))
    eff = [(kk - 1) * d + 1 for kk, d in zip(k, dil)]
    if padding == "SAME":
        oh, ow = -(-h // stride[0]), -(-w // stride[1])
    else:
        oh, ow = (h - eff[0]) // stride[0] + 1, (w - eff[1]) // stride[1] + 1
    typical = float(np.sqrt(k[0] * k[1]) * 19000 * np.mean(ws) * 73 * in_scale / 8000)
    y = m.tensor([b, oh, ow, oc], dtype=np.int16, scale=typical * float(rng.uniform(0.3, 3)), zero_point=0)
    m.op("DEPTHWISE_CONV_2D", ins, [y], padding=padding, stride_h=stride[0], stride_w=stride[1], dilation_h_factor=dil[0],
         dilation_w_factor=dil[1], depth_multiplier=dm, fused_activation_function=act)
    return m.build([x], [y])


def fc16_model(rng, in_shape, units, bias="int64", act="NONE", per_channel=False, keep_num_dims=False) -> bytes:
    """FULLY_CONNECTED with int16 activations, int8 weights, an int64 / int32 bias or none (16x8)."""
    m = ModelBuilder()
    k = in_shape[-1]
    rows = int(np.prod(in_shape[:-1]))
    in_scale = float(rng.uniform(0.0002, 0.002))
    x = m.tensor(in_shape, dtype=np.int16, scale=in_scale, zero_point=0)
    ws = rng.uniform(0.002, 0.02, size=units) if per_channel else float(rng.uniform(0.002, 0.02))
    wt = m.tensor([units, k], data=rng.integers(-127, 128, size=(units, k)), scale=ws, zero_point=0)
    ins = [x, wt]
    if bias is not None:
        bd = rng.integers(-1 << 22, 1 << 22, size=units)
        if bias == "int64" and units > 1:
            bd[0] *= 1024  # one value beyond the int32 range
        ins.append(m.tensor([units], dtype=np.int64 if bias == "int64" else np.int32, data=bd, scale=in_scale * np.atleast_1d(ws)))
    out_shape = list(in_shape[:-1]) + [units] if keep_num_dims else [rows, units]
    typical = float(np.sqrt(k) * 19000 * np.mean(ws) * 73 * in_scale / 8000)
    y = m.tensor(out_shape, dtype=np.int16, scale=typical * float(rng.uniform(0.3, 3)), zero_point=0)
    m.op("FULLY_CONNECTED", ins, [y], fused_activation_function=act, keep_num_dims=keep_num_dims)
    return m.build([x], [y])


@settings(max_examples=examples(8), deadline=None)
@given(st.integers(1, 5), st.sampled_from([1, 1, 2, 3]), st.tuples(st.integers(1, 4), st.integers(1, 4)),
       st.tuples(st.integers(1, 3), st.integers(1, 3)), st.sampled_from([(1, 1), (1, 1), (2, 1), (2, 2)]),
       st.sampled_from(["SAME", "VALID"]), st.booleans(), ACTS, st.booleans(), st.integers(0, 2**31))
def test_dwconv_int16_bit_exact(c, dm, k, stride, dil, padding, bias, act, per_channel, seed):
    rng = np.random.default_rng(seed)
    h = int(rng.integers((k[0] - 1) * dil[0] + 1, 9))
    w = int(rng.integers((k[1] - 1) * dil[1] + 1, 9))
    kw = dict(in_shape=[int(rng.integers(1, 3)), h, w, c], dm=dm, k=k, stride=stride, padding=padding, dil=dil, bias=bias,
              act=act, per_channel=per_channel)
    assert_bit_exact(dwconv16_model(rng, **kw), rng, n=2, context=str(kw))


@settings(max_examples=examples(8), deadline=None)
@given(st.lists(st.integers(1, 5), min_size=1, max_size=3), st.integers(1, 40), st.integers(1, 9),
       st.sampled_from(["int64", "int64", "int32", None]), ACTS, st.booleans(), st.booleans(), st.integers(0, 2**31))
def test_fully_connected_int16_bit_exact(lead, k, units, bias, act, per_channel, keep, seed):
    rng = np.random.default_rng(seed)
    kw = dict(in_shape=lead + [k], units=units, bias=bias, act=act, per_channel=per_channel, keep_num_dims=keep)
    assert_bit_exact(fc16_model(rng, **kw), rng, n=2, context=str(kw))


def fc16_wrap_model() -> bytes:
    """FULLY_CONNECTED 16x8 whose int64 bias puts the requantized value beyond int32: TFLM's release build
    narrows MultiplyByQuantizedMultiplier's int64 result with wrap-around (here to a negative value, so the
    output saturates low, not high)."""
    m = ModelBuilder()
    x = m.tensor([1, 4], dtype=np.int16, scale=0.001, zero_point=0)
    w = m.tensor([3, 4], data=np.array([[1, 2, 3, 4], [5, 6, 7, 8], [-1, -2, -3, -4]]), scale=0.01, zero_point=0)
    b = m.tensor([3], dtype=np.int64, data=np.array([(1 << 46) - 12345, -(1 << 45) + 777, 3 << 40]), scale=1e-5)
    y = m.tensor([1, 3], dtype=np.int16, scale=0.01, zero_point=0)
    m.op("FULLY_CONNECTED", [x, w, b], [y], fused_activation_function="NONE")
    return m.build([x], [y])


def test_int64_requantization_wraps_like_tflm():
    g = parse_model(fc16_wrap_model(), name="fc16_wrap")
    xs = [np.array([[[100, -200, 300, 5]], [[-32768, 32767, 0, 1]]], np.int16)]
    got = Emulator(g).run_internal(xs)[0]
    np.testing.assert_array_equal(got, tflm_run_batch(g.model_bytes, xs, g)[0])
    assert (got[..., 2] == -32768).all()  # 3 * 2^40 * 1e-3 > 2^31 wraps negative; clipping would give 32767


def dense16_models() -> dict[str, bytes]:
    """DEPTHWISE_CONV_2D / FULLY_CONNECTED 16x8 models for the generated-C tests (host sanitizers, QEMU)."""
    rng = np.random.default_rng(1608)
    return {"dw16_m2_s2": dwconv16_model(rng, [1, 7, 6, 3], 2, (3, 3), stride=(2, 2), act="RELU"),
            "dw16_dil_valid_nobias": dwconv16_model(rng, [2, 7, 7, 4], 1, (2, 3), dil=(2, 1), padding="VALID", bias=False),
            "fc16_i64": fc16_model(rng, [3, 33], 7, per_channel=True),
            "fc16_i32_keep": fc16_model(rng, [2, 2, 12], 5, bias="int32", act="RELU6", keep_num_dims=True),
            "fc16_nobias": fc16_model(rng, [1, 20], 4, bias=None),
            "fc16_wrap": fc16_wrap_model()}


def test_mbqm_int64_rounds_once_with_a_16_bit_multiplier():
    # 0x7FFF0000 and above saturate the reduced multiplier; ties round up (+2^(total-1))
    assert int(mbqm_int64(3, 1 << 30, 0)) == 2  # 3 * 0.5 = 1.5 -> 2
    assert int(mbqm_int64(-3, 1 << 30, 0)) == -1  # -1.5 -> -1 (round half up, unlike double rounding)
    assert int(mbqm_int64(1 << 20, 0x7FFFFFFF, 0)) == (1 << 20) * 0x7FFF >> 15


def test_refusals():
    rng = np.random.default_rng(0)
    m = ModelBuilder()
    x = m.tensor([1, 4, 4, 2], dtype=np.int16, scale=0.001, zero_point=5)
    wt = m.tensor([3, 1, 1, 2], data=rng.integers(-127, 128, size=(3, 1, 1, 2)), scale=0.01, zero_point=0)
    y = m.tensor([1, 4, 4, 3], dtype=np.int16, scale=0.001, zero_point=0)
    m.op("CONV_2D", [x, wt], [y], padding="SAME", stride_h=1, stride_w=1)
    with pytest.raises(UnsupportedOpError, match=r"op 0 \(CONV_2D\): int16 input .* zero point 5"):
        Emulator(parse_model(m.build([x], [y])))
    m = ModelBuilder()
    x = m.tensor([1, 2, 2, 2], scale=0.1, zero_point=0)
    wt = m.tensor([3, 3, 3, 2], data=rng.integers(-127, 128, size=(3, 3, 3, 2)), scale=0.01, zero_point=0)
    y = m.tensor([1, 5, 5, 3], scale=0.1, zero_point=0)
    m.op("TRANSPOSE_CONV", [m.const(np.array([1, 5, 5, 3], np.int32)), wt, x], [y], padding="SAME", stride_h=2, stride_w=2)
    with pytest.raises(UnsupportedOpError, match=r"op 0 \(TRANSPOSE_CONV\): input size 2 along axis 1 is not"):
        Emulator(parse_model(m.build([x], [y])))


# ---------------------------------------------------------------- SEANet corpus layers (golden CSVs)

SEANET = ("tflm_seanet_conv10_int16x8", "tflm_seanet_transpose_conv0_int16x8")


def _golden(name: str):
    d = corpus_dir()
    if d is None or not (d / f"{name}.tflite").exists():
        pytest.skip(f"corpus model {name} absent (set TINYGEN_MODELS)")
    td = d / "testdata"
    csv = lambda f: np.loadtxt(td / f, delimiter=",").reshape(-1)  # noqa: E731
    g = read_model(d / f"{name}.tflite")
    if "transpose" in name:
        xs = [csv("transpose_conv0_input0_int32.csv").astype(np.int32), csv("transpose_conv0_input1_int16.csv").astype(np.int16)]
        gold = csv("transpose_conv0_golden_int16.csv").astype(np.int16)
    else:
        xs = [csv("conv10_input0_int16.csv").astype(np.int16)]
        gold = csv("conv10_golden_int16.csv").astype(np.int16)
    xs = [x.reshape((1,) + tuple(t.shape)) for x, t in zip(xs, g.input_tensors)]
    return g, xs, gold


@pytest.mark.parametrize("name", SEANET)
def test_seanet_layer_equals_golden_and_tflm(name):
    g, xs, gold = _golden(name)
    ours = Emulator(g).run_internal(xs)[0]
    np.testing.assert_array_equal(ours.reshape(-1), gold)
    rng = np.random.default_rng(8)  # and on random int16 inputs, against the oracle
    rxs = [x if x.dtype == np.int32 else rng.integers(-32768, 32768, size=(3,) + x.shape[1:], dtype=np.int16) for x in xs]
    rxs = [np.repeat(x, 3, axis=0) if x.dtype == np.int32 else x for x in rxs]
    np.testing.assert_array_equal(Emulator(g).run_internal(rxs)[0], tflm_run_batch(g.model_bytes, rxs, g)[0])


# ---------------------------------------------------------------- generated C on QEMU Cortex-M4


@pytest.mark.qemu
@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                    reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_on_cortex_m4(tmp_path):
    """(tg_conv16.c has no DSP variant; the int8 TRANSPOSE_CONV DSP variant and its portable build: tests/test_ops_tconv_dsp.py.)"""
    from tinygen.boards.mcu_run import build_models, run_models

    rng = np.random.default_rng(21)
    models = {
        "c16_same": conv16_model(rng, [1, 7, 6, 5], 4, (3, 3), act="RELU"),
        "c16_s2_dil_i32": conv16_model(rng, [2, 9, 9, 4], 3, (3, 2), stride=(2, 1), dil=(2, 1), bias="int32", padding="VALID"),
        "c16_grouped_nobias": conv16_model(rng, [1, 5, 5, 6], 4, (1, 3), bias=None, groups=2),
        "tc8_s2": transpose_conv_model(rng, [1, 3, 4, 5], 6, (3, 3), stride=(2, 2), act="RELU6"),
        "tc8_valid_nobias": transpose_conv_model(rng, [2, 2, 3, 2], 3, (2, 4), stride=(1, 3), padding="VALID", bias=False),
        "tc16_s2": transpose_conv_model(rng, [1, 3, 3, 4], 5, (3, 4), stride=(2, 2), dtype=np.int16),
    }
    graphs = {n: parse_model(b, name=n) for n, b in models.items()}
    for name in SEANET:
        d = corpus_dir()
        if d is not None and (d / f"{name}.tflite").exists():
            graphs[name] = _golden(name)[0]
    xs = {}
    for n, g in graphs.items():
        samples = []
        for s in range(2):
            one = []
            for t in g.input_tensors:
                if t.dtype == np.int32:  # SEANet's output_shape input (not read, like TFLM Micro)
                    one.append(np.array(g.output_tensors[0].shape, np.int32))
                else:
                    info = np.iinfo(t.dtype)
                    one.append(rng.integers(info.min, info.max, size=t.shape, endpoint=True).astype(t.dtype))
            samples.append(one)
        xs[n] = samples
    if "tflm_seanet_conv10_int16x8" in graphs:  # the golden input too
        g, gx, _ = _golden("tflm_seanet_conv10_int16x8")
        xs["tflm_seanet_conv10_int16x8"].append([gx[0][0]])
    fw = build_models("qemu-cortex-m4", graphs, xs, tmp_path / "fw")
    res = run_models(fw, timeout=300)
    for n, g in graphs.items():
        batch = [np.stack([s[k] for s in xs[n]]) for k in range(len(g.inputs))]
        want = Emulator(g).run_internal(batch)[0]
        np.testing.assert_array_equal(want, tflm_run_batch(g.model_bytes, batch, g)[0], err_msg=f"{n}: emulator vs TFLM")
        for k, r in enumerate(res.models[n]):
            np.testing.assert_array_equal(r.outputs[0], want[k], err_msg=f"{n} sample {k}: Cortex-M4 vs emulator")
