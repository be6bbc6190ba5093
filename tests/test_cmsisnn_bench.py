"""benchmarks/cmsisnn_bench.py: the layer extraction and harness generation (pure Python, no CMSIS-NN needed)
and, where CMSIS-NN is available ($CMSIS_NN_DIR), a real run: every layer through the CMSIS-NN s8 API on
QEMU Cortex-M4, bit-exact with tinygen's emulator."""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from tests.support.benchmarks import load_benchmark
from tests.support.corpus import SKIP_REASON, corpus_model

MODEL = "tinymaix_mnist_dwconv_int8"  # 7.5 KB: conv (first layer, 3x3/2), depthwise dm 1 and 2, MEAN, FC, SOFTMAX


def _bench():
    return load_benchmark("cmsisnn_bench")


def _graph():
    from tinygen.model.reader import load_int8_model

    m = corpus_model(MODEL)
    if m is None:
        pytest.skip(SKIP_REASON)
    return load_int8_model(m.path)


def test_fnv1a_matches_the_reference_vectors():
    bench = _bench()
    # FNV-1a 32-bit test vectors (the algorithm's published values)
    assert bench.fnv1a(b"") == 0x811C9DC5
    assert bench.fnv1a(b"a") == 0xE40C292C
    assert bench.fnv1a(b"foobar") == 0xBF9CF968
    a = np.array([-1, 0, 5], dtype=np.int8)
    assert bench._fnv1a_np(a) == bench.fnv1a(bytes([255, 0, 5]))


def test_layers_take_tinygens_prepared_parameters():
    """Each CMSIS-NN-able layer becomes a call with the weights, multipliers and shifts tinygen's op
    prepares; the rest (MEAN) is counted at tinygen's instructions, with the reason."""
    from tinygen.ops import REGISTRY

    bench = _bench()
    g = _graph()
    layers = bench.extract_layers(g)
    assert [lay.index for lay in layers] == [op.index for op in g.operators]
    by_op = {}
    for lay, op in zip(layers, g.operators):
        by_op.setdefault(op.op, []).append(lay)
        if op.op == "MEAN":
            assert not lay.cmsis and "no CMSIS-NN kernel" in lay.reason
            continue
        assert lay.cmsis, (op.op, lay.reason)
        assert lay.out_bytes == g.tensors[op.outputs[0]].nbytes
        assert lay.macs >= 0 and lay.body.count("tg_bench_begin()") == 1
        p = REGISTRY[op.op].prepare(g, op)
        consts = {name: arr for name, _, arr in lay.consts}
        if op.op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            k = op.index
            np.testing.assert_array_equal(consts[f"l{k}_w"], p.weights.reshape(-1))
            np.testing.assert_array_equal(consts[f"l{k}_mult"], p.multiplier.astype(np.int32))
            np.testing.assert_array_equal(consts[f"l{k}_shift"], p.shift.astype(np.int32))
            # TFLM's CMSIS-NN kernels: input offset = -zero point, padding/stride as {w, h}
            assert f"{{{-p.input_zero_point}, {p.output_zero_point}," in lay.body
            assert f"{{{p.stride[1]}, {p.stride[0]}}}, {{{p.padding[1]}, {p.padding[0]}}}" in lay.body
            assert f"{{{p.act_min}, {p.act_max}}}" in lay.body
    assert [lay.fn for lay in by_op["CONV_2D"]] == ["arm_convolve_wrapper_s8"] * 2
    assert by_op["CONV_2D"][0].kind == "CONV_2D first layer"
    assert {lay.kind for lay in by_op["DEPTHWISE_CONV_2D"]} == {"DEPTHWISE 3x3 stride 1", "DEPTHWISE depth multiplier > 1"}
    assert by_op["FULLY_CONNECTED"][0].fn == "arm_fully_connected_s8"
    assert by_op["SOFTMAX"][0].fn == "arm_softmax_s8"


def test_harness_bakes_in_the_emulators_layer_inputs():
    bench = _bench()
    g = _graph()
    x = [np.random.default_rng(1).integers(-128, 128, size=tuple(t.shape)).astype(np.int8) for t in g.input_tensors]
    values = bench.layer_activations(g, x)
    layers = bench.extract_layers(g)
    src = bench.harness_source("m", layers, values, g)
    run = [lay for lay in layers if lay.cmsis]
    for lay in run:
        assert f"/* {lay.index}: {lay.op}" in src and lay.fn + "(" in src
        # the layer's input activation as the emulator computed it, byte for byte
        v = np.asarray(values[lay.inputs[0]], dtype=np.int8).reshape(-1).view(np.uint8)
        start = src.index(f"l{lay.index}_in0_u8[{v.size}]")
        first = src[src.index("{", start) + 1:].split(",", 8)[:8]
        assert [int(s) for s in first] == [int(b) for b in v[:8]]
    assert src.count("tg_bench_begin();") == len(run) + 1  # + the empty marker pair
    assert "MEAN" not in src.split("int main")[1]
    assert bench.harness_bytes(layers, g) > sum(g.tensors[lay.inputs[0]].nbytes for lay in run)


def test_big_models_are_split_in_model_order():
    bench = _bench()
    g = _graph()
    layers = bench.extract_layers(g)
    run = [lay for lay in layers if lay.cmsis]
    assert [[lay.index for lay in grp] for grp in bench.split_layers(layers, g)] == [[lay.index for lay in run]]
    sizes = [bench.harness_bytes([lay], g) for lay in run]
    budget = max(sizes) + 1
    groups = bench.split_layers(layers, g, budget)
    assert len(groups) > 1 and [lay.index for grp in groups for lay in grp] == [lay.index for lay in run]
    assert all(bench.harness_bytes(grp, g) <= budget for grp in groups)
    with pytest.raises(bench.BenchError, match="alone bakes in"):
        bench.split_layers(layers, g, max(sizes) - 1)


def test_missing_cmsis_nn_is_one_clear_line(tmp_path, capsys, monkeypatch):
    bench = _bench()
    monkeypatch.delenv("CMSIS_NN_DIR", raising=False)
    assert bench.main([MODEL]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cmsisnn_bench: no CMSIS-NN") and "\n" not in err
    assert bench.main([MODEL, "--cmsis-nn", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "is not a CMSIS-NN checkout" in err and "arm_nnfunctions.h" in err and "\n" not in err


@pytest.mark.qemu
@pytest.mark.skipif(not os.environ.get("CMSIS_NN_DIR"),
                    reason="needs CMSIS-NN: set CMSIS_NN_DIR to a checkout (see benchmarks/cmsisnn_bench.py)")
@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                    reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_cmsis_nn_layers_run_bit_exact_on_qemu(tmp_path, capsys):
    m = corpus_model(MODEL)
    if m is None:
        pytest.skip(SKIP_REASON)
    bench = _bench()
    out = tmp_path / "r.json"
    assert bench.main([str(m.path), "--json", str(out), "--build-dir", str(tmp_path / "b")]) == 0
    text = capsys.readouterr().out
    r = json.loads(out.read_text())
    (res,) = r["models"].values()
    ran = [lay for lay in res["layers"] if lay["cmsis_instr"] is not None]
    assert len(ran) == 6 and all(lay["bit_exact"] and lay["cmsis_instr"] > 0 for lay in ran)
    assert res["lower_bound"] == res["cmsis_kernels"] + res["other_ops_at_tinygen"] > 0
    assert res["tinygen_bit_exact"] and res["ratio"] == pytest.approx(res["tinygen"] / res["lower_bound"])
    assert {t["kind"] for t in r["layer_types"]} >= {"CONV_2D first layer", "FULLY_CONNECTED", "SOFTMAX"}
    for head in ("CMSIS-NN kernels (lower bound of TFLM+CMSIS-NN)", "MAC/instr", "arm_depthwise_conv_wrapper_s8"):
        assert head in text
