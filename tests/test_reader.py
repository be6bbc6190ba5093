"""The model reader: one Graph from a .tflite file, and one clear error for every kind of bad input."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import examples
from tests.support.opmodels import ModelBuilder
from tinygen.errors import ModelError, TinygenError, UnsupportedModelError
from tinygen.model.reader import check_full_int8, load_int8_model, parse_model, read_model


def conv_model(per_channel=True, bias=True) -> bytes:
    rng = np.random.default_rng(1)
    m = ModelBuilder()
    x = m.tensor([1, 6, 6, 3], scale=0.05, zero_point=-4, name="input")
    ws = rng.uniform(0.001, 0.01, 4) if per_channel else 0.004
    w = m.tensor([4, 3, 3, 3], data=rng.integers(-127, 128, (4, 3, 3, 3)), scale=ws, zero_point=0, axis=0, name="w")
    ins = [x, w]
    if bias:
        ins.append(m.tensor([4], dtype=np.int32, data=[1, -2, 3, 400], scale=0.05 * np.atleast_1d(ws), name="b"))
    y = m.tensor([1, 2, 2, 4], scale=0.1, zero_point=7, name="out")
    m.op("CONV_2D", ins, [y], padding="VALID", stride_w=2, stride_h=2, fused_activation_function="RELU6",
         dilation_w_factor=1, dilation_h_factor=1)
    return m.build([x], [y], description="conv test")


def test_reads_tensors_ops_quantization_and_options():
    g = parse_model(conv_model(), name="conv")
    assert g.name == "conv" and g.description == "conv test" and len(g.sha256) == 64
    assert [t.name for t in g.input_tensors] == ["input"] and [t.name for t in g.output_tensors] == ["out"]
    (op,) = g.operators
    assert op.op == "CONV_2D" and op.version == 1 and op.activation == "RELU6"
    assert op.options["padding"] == "VALID" and op.options["stride_w"] == 2 and op.options["dilation_h_factor"] == 1
    w = g.tensors[op.inputs[1]]
    assert w.is_const and w.dtype == np.int8 and w.data.shape == (4, 3, 3, 3)
    assert w.quant.per_channel and w.quant.axis == 0 and w.quant.scale.shape == (4,)
    b = g.tensors[op.inputs[2]]
    assert b.dtype == np.int32 and b.data.tolist() == [1, -2, 3, 400]
    x = g.tensors[op.inputs[0]]
    assert not x.is_const and x.scale == pytest.approx(0.05) and x.zero_point == -4
    check_full_int8(g)  # no error


def test_vector_options_decoded():
    m = ModelBuilder()
    x = m.tensor([1, 4, 6], scale=0.1)
    s = m.const([1, 24])
    y = m.tensor([1, 24], scale=0.1)
    m.op("RESHAPE", [x, s], [y], new_shape=[1, 24])
    g = parse_model(m.build([x], [y]))
    assert g.operators[0].options["new_shape"] == [1, 24]


def _write(tmp_path, data: bytes, name="m.tflite"):
    p = tmp_path / name
    p.write_bytes(data)
    return p


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty file"),
        (b"TFL3", "only 4 bytes"),
        (b"\x00" * 64, "file identifier"),
        (b"PK\x03\x04" + b"\x00" * 60, "file identifier"),  # a zip / .keras file
    ],
)
def test_not_a_tflite(tmp_path, data, message):
    with pytest.raises(ModelError, match=message):
        read_model(_write(tmp_path, data))


def test_truncated_file(tmp_path):
    data = conv_model()
    for cut in (12, len(data) // 3, len(data) // 2, len(data) - 20):
        with pytest.raises(ModelError):
            read_model(_write(tmp_path, data[:cut]))


def test_offset_out_of_range(tmp_path):
    data = bytearray(conv_model())
    data[0:4] = (len(data) + 1000).to_bytes(4, "little")  # root table offset past the end
    with pytest.raises(ModelError, match="past the end"):
        read_model(_write(tmp_path, bytes(data)))


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ModelError, match="no such file"):
        read_model(tmp_path / "absent.tflite")
    with pytest.raises(ModelError, match="is a directory"):
        read_model(tmp_path)


def test_several_subgraphs_run_the_first_as_tflm_does():
    m = ModelBuilder()
    x = m.tensor([1, 4], scale=0.1)
    y = m.tensor([1, 4], scale=0.1)
    m.op("RELU", [x], [y])
    g = parse_model(m.build([x], [y], subgraphs=2))  # more in tests/test_reader_tflm.py
    assert [op.op for op in g.operators] == ["RELU"]
    assert any("2 subgraphs" in n for n in g.notes)


def test_custom_op_and_unknown_builtin():
    for name, message in (("CUSTOM:MyFancyOp", "custom op 'MyFancyOp'"), ("CODE:4000", "unknown builtin operator code 4000")):
        m = ModelBuilder()
        x = m.tensor([1, 4], scale=0.1)
        y = m.tensor([1, 4], scale=0.1)
        m.op(name, [x], [y])
        with pytest.raises(UnsupportedModelError, match=message):
            parse_model(m.build([x], [y]))


def test_float_model_names_op_and_tensor(tmp_path):
    m = ModelBuilder()
    x = m.tensor([1, 8], dtype=np.float32, name="features")
    w = m.tensor([4, 8], dtype=np.float32, data=np.ones((4, 8)), name="dense/w")
    y = m.tensor([1, 4], dtype=np.float32, name="logits")
    m.op("FULLY_CONNECTED", [x, w, -1], [y])
    p = _write(tmp_path, m.build([x], [y]))
    read_model(p)  # readable ...
    with pytest.raises(UnsupportedModelError, match=r"float model: op 0 \(FULLY_CONNECTED\) has float32 input 'features'"):
        load_int8_model(p)  # ... but not a full-int8 model


def test_hybrid_model_is_refused(tmp_path):
    m = ModelBuilder()
    x = m.tensor([1, 8], dtype=np.float32, name="features")
    w = m.tensor([4, 8], data=np.ones((4, 8)), scale=0.01, name="dense/w")
    y = m.tensor([1, 4], dtype=np.float32, name="logits")
    m.op("FULLY_CONNECTED", [x, w, -1], [y])
    with pytest.raises(UnsupportedModelError, match=r"hybrid \(dynamic-range\) model: op 0 \(FULLY_CONNECTED\)"):
        load_int8_model(_write(tmp_path, m.build([x], [y])))


def test_float_io_edges_are_allowed():
    m = ModelBuilder()
    x = m.tensor([1, 8], dtype=np.float32)
    q = m.tensor([1, 8], scale=0.1, zero_point=3)
    r = m.tensor([1, 8], scale=0.1, zero_point=3)
    y = m.tensor([1, 8], dtype=np.float32)
    m.op("QUANTIZE", [x], [q])
    m.op("RELU", [q], [r])
    m.op("DEQUANTIZE", [r], [y])
    check_full_int8(parse_model(m.build([x], [y])))


# Every way of damaging a valid model raises tinygen's own error type and nothing else.
VALID = [conv_model(), conv_model(per_channel=False, bias=False)]


@settings(max_examples=examples(300), deadline=None)
@given(which=st.integers(0, len(VALID) - 1), data=st.data())
def test_fuzz_truncation_and_mutation(which, data):
    model = bytearray(VALID[which])
    kind = data.draw(st.sampled_from(["truncate", "flip", "overwrite", "splice"]))
    if kind == "truncate":
        model = model[: data.draw(st.integers(0, len(model) - 1))]
    elif kind == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            i = data.draw(st.integers(0, len(model) - 1))
            model[i] ^= 1 << data.draw(st.integers(0, 7))
    elif kind == "overwrite":
        i = data.draw(st.integers(0, len(model) - 4))
        model[i : i + 4] = data.draw(st.binary(min_size=4, max_size=4))
    else:
        i = data.draw(st.integers(0, len(model)))
        model[i:i] = data.draw(st.binary(min_size=1, max_size=16))
    try:
        g = parse_model(bytes(model))
    except TinygenError:
        return
    # A mutation that still parses must give a self-consistent graph.
    for t in g.tensors:
        if t.data is not None:
            assert t.data.shape == t.shape
