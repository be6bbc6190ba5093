"""Which kernel variant each op gets (Op.kernel_variant), and `inspect` / `generate` showing it:
on a trained model (the corpus's MLPerf-Tiny VWW MobileNetV1) whose 1x1 convolutions with 64-512
input channels defeat the SMMULR shortcut, every CONV_2D gets a DSP kernel, those with the exact
requantization; a CPU without the DSP extension gets the C99 kernels, with that reason."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tests.support.corpus import SKIP_REASON, corpus_dir
from tinygen.cli import cli as main

VWW = "mlperf_vww_mbv1_20blk_791k_int8.tflite"


@pytest.fixture(scope="module")
def vww():
    d = corpus_dir()
    if d is None or not (d / VWW).is_file():
        pytest.skip(SKIP_REASON)
    return d / VWW


@pytest.fixture(scope="module")
def vww_inspect(vww):
    r = CliRunner().invoke(main, ["inspect", "--json", str(vww)])
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def test_inspect_every_conv_and_fc_has_a_variant_and_reason(vww_inspect):
    ops = vww_inspect["ops"]
    convs = [o for o in ops if o["op"] == "CONV_2D"]
    assert convs and all(o["kernel"] in ("dsp-shortcut", "dsp-exact") for o in convs), [o["kernel"] for o in convs]
    # trained 1x1 convolutions with >= 64 input channels: the shortcut cannot be proved, the exact path runs
    exact = [o for o in convs if o["kernel"] == "dsp-exact"]
    assert len(exact) >= 10 and all(o["inputs"][0][-1] >= 64 for o in exact)
    for o in ops:
        if o["op"] in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            assert o["kernel_reason"], o
        if o["op"] == "CONV_2D":
            assert o["scratch_bytes"] > 0, o  # im2col columns
    # FULLY_CONNECTED (2 units): SMLAD dot products, no scratch
    fc = [o for o in ops if o["op"] == "FULLY_CONNECTED"]
    assert fc and all(o["kernel"] == "dsp" and o["scratch_bytes"] == 0 for o in fc), fc


def test_inspect_table_shows_kernels(vww):
    r = CliRunner().invoke(main, ["inspect", str(vww)])
    assert r.exit_code == 0, r.output
    assert "kernel (M4)" in r.output and "dsp-exact" in r.output
    assert "kernels (Cortex-M4/M7/M33)" in r.output


@pytest.mark.parametrize("target, dsp", [("cortex-m4", True), ("cortex-m0", False)])
def test_generate_json_reports_kernels_per_target(vww, tmp_path, target, dsp):
    r = CliRunner().invoke(main, ["generate", str(vww), "-o", str(tmp_path / target), "--target", target, "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    ks = d["kernels"]
    assert len(ks) == 40  # 20 CONV_2D, 19 DEPTHWISE_CONV_2D, 1 FULLY_CONNECTED
    conv = [k for k in ks if k["op"] == "CONV_2D"]
    if dsp:
        assert all(k["kernel"].startswith("dsp") for k in conv)
        assert all(k["kernel"].startswith("dsp") for k in ks if k["op"] == "FULLY_CONNECTED")
    else:
        assert all(k["kernel"] == "c99" and "no DSP extension" in k["kernel_reason"] for k in ks)
    # the dsp field in the generated C follows the variants (2: the exact requantization)
    # (the generated C is the same for every CPU; the DSP build reads `dsp`, 2: the exact requantization)
    src = next((tmp_path / target).glob("*_model.c")).read_text()
    if dsp:
        assert src.count(".dsp = 2") == sum(k["kernel"] == "dsp-exact" for k in ks if k["op"] == "CONV_2D") > 0
    assert d["arena_bytes"] <= 1.05 * d["arena_lower_bound_bytes"] + 64
