"""The reader accepts what TFLM's loader accepts, the way TFLM reads it.

Each case is a small model written through the flatbuffer schema with one inconsistency that real
converters produce (or that the schema allows). For each: the `tflite_micro` interpreter runs it, tinygen
reads it, notes the inconsistency (inspect shows the note) and computes exactly what TFLM computes. The
cases TFLM cannot run either stay refused with one line.
"""
from __future__ import annotations

import numpy as np
import pytest
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as S

from tests.support.opmodels import ModelBuilder
from tests.support.oracle import tflm_run
from tinygen.emulator.engine import Emulator
from tinygen.errors import ModelError, UnsupportedModelError
from tinygen.model.reader import parse_model
from tinygen.ops import unsupported_ops


def depthwise(bias_scales=None, bias_zero_points=0, bias_axis=0, hook=None) -> bytes:
    """A 3x3 depthwise conv on 5x5x8, per-channel filter scales on axis 3, int32 bias."""
    rng = np.random.default_rng(3)
    m = ModelBuilder()
    x = m.tensor([1, 5, 5, 8], scale=0.05, zero_point=-3, name="x")
    ws = rng.uniform(0.002, 0.02, 8)
    w = m.tensor([1, 3, 3, 8], data=rng.integers(-127, 128, (1, 3, 3, 8)), scale=ws, axis=3, name="w")
    b = m.tensor([8], dtype=np.int32, data=rng.integers(-500, 500, 8), name="b",
                 scale=0.05 * ws if bias_scales is None else bias_scales, zero_point=bias_zero_points, axis=bias_axis)
    y = m.tensor([1, 5, 5, 8], scale=0.2, zero_point=4, name="y")
    m.op("DEPTHWISE_CONV_2D", [x, w, b], [y], padding="SAME", stride_w=1, stride_h=1, depth_multiplier=1,
         dilation_w_factor=1, dilation_h_factor=1)
    return m.build([x], [y], hook=hook)


def assert_runs_like_tflm(data: bytes, note: str | None, reference: bytes | None = None, samples: int = 3):
    """tinygen reads `data` (noting `note`) and its emulator equals TFLM on `reference` (default: the same
    bytes) for random inputs."""
    g = parse_model(data)
    if note is None:
        assert g.notes == [], g.notes
    else:
        assert any(note in n for n in g.notes), (note, g.notes)
    assert unsupported_ops(g) == []
    rng = np.random.default_rng(1)
    emu = Emulator(g)
    for _ in range(samples):
        xs = [rng.integers(-128, 128, size=t.shape, dtype=np.int8) for t in g.input_tensors]
        ours = emu.run_internal([x[None] for x in xs])
        ref = tflm_run(reference or data, xs, g)
        for a, b in zip(ours, ref):
            assert np.array_equal(a[0], b), f"differs from TFLM: {a[0].ravel()[:8]} vs {b.ravel()[:8]}"
    return g


def test_baseline_has_no_notes():
    assert_runs_like_tflm(depthwise(), None)


def test_bias_per_channel_axis_beyond_its_rank():
    """The known real case: a 1-D depthwise bias whose quantization says quantized_dimension 3 with 8 scales
    for 8 elements (older converters copied the filter's axis). TFLM never checks a bias's axis."""
    scales = 0.05 * np.random.default_rng(3).uniform(0.002, 0.02, 8)
    g = assert_runs_like_tflm(depthwise(bias_scales=scales, bias_axis=3), "8 per-channel scales on axis 3 of shape [8]")
    assert g.tensors[2].quant.axis == 3 and g.tensors[2].quant.scale.size == 8


def test_zero_point_count_differs_from_scale_count():
    """TFLM uses zero_point[0] for every channel when the counts differ."""
    g = assert_runs_like_tflm(depthwise(bias_zero_points=[0, 0, 0]), "8 scales but 3 zero points")
    assert g.tensors[2].quant.zero_point.tolist() == [0] * 8


def test_several_subgraphs_only_the_first_runs():
    def hook(m):
        extra = S.SubGraphT()
        extra.tensors, extra.inputs, extra.outputs, extra.operators, extra.name = [], [], [], [], "unused"
        m.subgraphs = [m.subgraphs[0], m.subgraphs[0], extra]
    assert_runs_like_tflm(depthwise(hook=hook), "3 subgraphs; tinygen runs subgraph 0")


def test_control_flow_into_another_subgraph_is_refused_by_name():
    m = ModelBuilder()
    x = m.tensor([1, 4], scale=0.1)
    y = m.tensor([1, 4], scale=0.1)
    m.op("WHILE", [x], [y])
    g = parse_model(m.build([x], [y], subgraphs=2))
    assert [(p["index"], p["op"]) for p in unsupported_ops(g)] == [(0, "WHILE")]


def test_op_versions_metadata_and_signature_defs_are_ignored():
    def hook(m):
        m.operatorCodes[0].version = 77
        buf = S.BufferT()
        buf.data = np.frombuffer(b"1.14.0\0\0", np.uint8)
        m.buffers.append(buf)
        good, broken = S.MetadataT(), S.MetadataT()
        good.name, good.buffer = "min_runtime_version", len(m.buffers) - 1
        broken.name, broken.buffer = "points_nowhere", 999
        m.metadata = [good, broken]
        sd = S.SignatureDefT()
        sd.signatureKey, sd.subgraphIndex = "serving_default", 0
        tin, tout = S.TensorMapT(), S.TensorMapT()
        tin.name, tin.tensorIndex, tout.name, tout.tensorIndex = "x", 0, "y", 3
        sd.inputs, sd.outputs = [tin], [tout]
        m.signatureDefs = [sd]
    g = assert_runs_like_tflm(depthwise(hook=hook), None)
    assert g.operators[0].version == 77 and g.metadata["min_runtime_version"].startswith(b"1.14.0")


def test_shape_signature_with_a_dynamic_batch():
    def hook(m):
        for t in m.subgraphs[0].tensors:
            if t.shape and t.shape[0] == 1:
                t.shapeSignature = [-1] + list(t.shape[1:])
    g = assert_runs_like_tflm(depthwise(hook=hook), None)
    assert g.input_tensors[0].shape == (1, 5, 5, 8)


def _unused_tensor(kind):
    def hook(m):
        t = S.TensorT()
        t.name, t.buffer, t.type, t.shape = f"unused_{kind}", 0, S.TensorType.INT8, [4]
        if kind == "dynamic":
            t.shape = [-1, 4]
        elif kind == "complex64":
            t.type = S.TensorType.COMPLEX64
        elif kind == "int4":
            t.type = S.TensorType.INT4
        elif kind == "short_buffer":
            buf = S.BufferT()
            buf.data = np.arange(7, dtype=np.uint8)
            m.buffers.append(buf)
            t.type, t.buffer = S.TensorType.INT32, len(m.buffers) - 1
        elif kind in ("unused_buffer", "empty_buffer"):
            buf = S.BufferT()
            buf.data = np.arange(9 if kind == "unused_buffer" else 0, dtype=np.uint8)
            m.buffers.append(buf)
            if kind == "empty_buffer":  # a tensor on an empty buffer is an ordinary (non-constant) tensor
                t.buffer = len(m.buffers) - 1
        m.subgraphs[0].tensors.append(t)
    return hook


@pytest.mark.parametrize("kind, note", [("dynamic", "dynamic shape [-1, 4]"), ("complex64", "type COMPLEX64"),
                                        ("int4", "type INT4"), ("short_buffer", "needs 16 bytes, its buffer has 7"),
                                        ("unused_buffer", None), ("empty_buffer", None)])
def test_unused_tensors_and_buffers(kind, note):
    g = assert_runs_like_tflm(depthwise(hook=_unused_tensor(kind)), note)
    assert len(g.tensors) == 5


def test_constant_buffer_longer_than_its_shape():
    def hook(m):
        bias = m.buffers[m.subgraphs[0].tensors[2].buffer]
        bias.data = np.concatenate([bias.data, np.full(8, 0x5A, np.uint8)])
    g = assert_runs_like_tflm(depthwise(hook=hook), "40-byte buffer for 32 bytes")
    assert g.tensors[2].data.shape == (8,)


def test_missing_builtin_options_mean_the_schema_defaults():
    def drop(m):
        for op in m.subgraphs[0].operators:
            op.builtinOptionsType, op.builtinOptions = 0, None
    rng = np.random.default_rng(0)
    m = ModelBuilder()
    a = m.tensor([1, 6], scale=0.1, zero_point=0)
    b = m.tensor([1, 6], scale=0.07, zero_point=2)
    s = m.tensor([1, 6], scale=0.2, zero_point=-1)
    w = m.tensor([4, 6], data=rng.integers(-127, 128, (4, 6)), scale=0.01)
    y = m.tensor([1, 4], scale=0.05, zero_point=3)
    r = m.tensor([4], scale=0.05, zero_point=3)
    m.op("ADD", [a, b], [s])
    m.op("FULLY_CONNECTED", [s, w, -1], [y])
    m.op("RESHAPE", [y, m.const([4])], [r])
    data = m.build([a, b], [r], hook=drop)
    g = parse_model(data)
    # noted for ADD and FULLY_CONNECTED; RESHAPE's options are routinely left out (its shape is input 1)
    assert [n.split(" has no builtin options")[0] for n in g.notes] == ["op 0 (ADD)", "op 1 (FULLY_CONNECTED)"], g.notes
    assert g.operators[0].activation == "NONE" and g.operators[1].options["keep_num_dims"] is False
    xs = [rng.integers(-128, 128, size=(1, 6), dtype=np.int8) for _ in range(2)]
    assert np.array_equal(Emulator(g).run_internal([x[None] for x in xs])[0][0], tflm_run(data, xs, g)[0])


def test_buffers_stored_after_the_flatbuffer():
    """Converters put buffers after the flatbuffer (offset/size) for models over 2 GB. tinygen reads them
    (and so computes what the same model with inline buffers computes in TFLM); the tflite_micro
    interpreter ignores such buffers, so the reference is the inline twin."""
    inline = depthwise()
    blobs = []

    def move(base):
        def hook(m):
            pos = base
            blobs.clear()
            for b in m.buffers:
                if b.data is not None and len(b.data):
                    blobs.append(bytes(b.data))
                    b.data, b.offset, b.size = None, pos, len(b.data)
                    pos += b.size
        return hook

    head = depthwise(hook=move(1 << 20))  # same length whatever the offsets' values
    base = -(-len(head) // 16) * 16
    head = depthwise(hook=move(base))
    data = head + bytes(base - len(head)) + b"".join(blobs)
    g = assert_runs_like_tflm(data, "stored after the flatbuffer", reference=inline)
    assert g.tensors[1].is_const and g.tensors[2].is_const


# ---------------------------------------------------------------- what TFLM cannot run either


def test_used_tensor_problems_stay_refused():
    def dyn(m):
        m.subgraphs[0].tensors[0].shape = [-1, 5, 5, 8]
    with pytest.raises(UnsupportedModelError, match=r"tensor 0 \(x\) has a dynamic shape"):
        parse_model(depthwise(hook=dyn))

    def short(m):
        bias = m.buffers[m.subgraphs[0].tensors[2].buffer]
        bias.data = bias.data[:20]
    with pytest.raises(ModelError, match=r"corrupt model: tensor 2 \(b\) shape \[8\] needs 32 bytes, its buffer has 20"):
        parse_model(depthwise(hook=short))

    def int4_filter(m):
        m.subgraphs[0].tensors[1].type = S.TensorType.INT4
    with pytest.raises(UnsupportedModelError, match=r"tensor 1 \(w\) has type INT4"):
        parse_model(depthwise(hook=int4_filter))


def test_quantization_without_zero_points_is_no_quantization():
    """TFLM reads quantization only when both scales and zero points are present (and then refuses the
    conv: its input has none); tinygen's op check refuses it by name."""
    def no_zp(m):
        m.subgraphs[0].tensors[0].quantization.zeroPoint = []
    g = parse_model(depthwise(hook=no_zp))
    assert g.tensors[0].quant is None
    (problem,) = unsupported_ops(g)
    assert "input 0 'x' has no quantization parameters" in problem["reason"]


def test_inspect_shows_the_notes(tmp_path, capsys):
    import json

    from tinygen.cli import main

    scales = 0.05 * np.random.default_rng(3).uniform(0.002, 0.02, 8)
    p = tmp_path / "m.tflite"
    p.write_bytes(depthwise(bias_scales=scales, bias_axis=3))
    assert main(["inspect", str(p), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["unsupported_ops"] == [] and any("axis 3 of shape [8]" in n for n in d["notes"])
    assert main(["inspect", str(p)]) == 0
    assert "note: tensor 2 has 8 per-channel scales on axis 3 of shape [8]" in capsys.readouterr().out
