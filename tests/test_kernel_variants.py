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
        if o["op"] == "CONV_2D":  # im2col columns, but for the narrow kernel (few taps per output: none)
            assert (o["scratch_bytes"] > 0) != o["kernel_reason"].startswith("narrow"), o
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
    assert d["arena_bytes"] <= 1.05 * d["live_tensor_bound_bytes"] + 64


def _wide_conv_model() -> bytes:
    """A 3x3 conv over a 2x2x256 input: its DSP im2col scratch (about 9 KB) dwarfs the activations (1.1 KB)."""
    import numpy as np

    from tests.support.opmodels import ModelBuilder

    rng = np.random.default_rng(3)
    m = ModelBuilder()
    x = m.tensor([1, 2, 2, 256], scale=0.05, zero_point=3)
    w = m.tensor([16, 3, 3, 256], data=rng.integers(-127, 128, size=(16, 3, 3, 256)), scale=0.004, zero_point=0)
    b = m.tensor([16], dtype=np.int32, data=rng.integers(-3000, 3000, size=16), scale=0.05 * 0.004)
    y = m.tensor([1, 2, 2, 16], scale=2.0, zero_point=-5)
    m.op("CONV_2D", [x, w, b], [y], padding="SAME", stride_h=1, stride_w=1, dilation_h_factor=1, dilation_w_factor=1,
         fused_activation_function="NONE")
    return m.build([x], [y])


def test_scratch_that_does_not_fit_takes_the_scratch_free_kernel(tmp_path):
    """By default the arena stays within 1.05x the live-tensor bound + 64 B: the conv whose scratch would
    break that runs the C99 kernel, with the reason; --optimize speed keeps the DSP kernel and reports the
    arena it costs. Both generated programs compute the same (the emulator's) output on QEMU in
    tests/test_mcu_kernels.py's random cases; here the plan and the C parameters."""
    from tinygen.codegen.generator import generate
    from tinygen.model.reader import parse_model

    path = tmp_path / "wide.tflite"
    path.write_bytes(_wide_conv_model())
    g = parse_model(path.read_bytes(), name="wide")
    size = generate(g, tmp_path / "size", "wide", target="cortex-m4")
    speed = generate(g, tmp_path / "speed", "wide", target="cortex-m4", optimize="speed")
    assert size.arena_bytes <= size.plan.ram_limit_bytes < speed.arena_bytes
    assert ".dsp = 0" in size.c_file.read_text() and "tg_conv2d_s8(" in size.c_file.read_text()
    assert "tg_conv2d_dsp4_s8(" in speed.c_file.read_text()  # in_c 256: the entry without staging code

    r = CliRunner().invoke(main, ["inspect", "--json", str(path)])
    op = json.loads(r.output)["ops"][0]
    assert op["kernel"] == "c99" and op["kernel_reason"].startswith("RAM:") and op["scratch_bytes"] == 0
    r = CliRunner().invoke(main, ["generate", str(path), "-o", str(tmp_path / "cli"), "--target", "cortex-m4",
                                  "--optimize", "speed", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["kernels"][0]["kernel"].startswith("dsp") and d["kernels"][0]["scratch_bytes"] > 8000
    assert d["arena_bytes"] > d["size_arena_bytes"] == size.arena_bytes


def test_small_fully_connected_dot_kernel_by_default_block_kernel_for_speed(tmp_path):
    """A classifier head of 8 x 384 (3,072 MACs, like mltk MobileNetV2's) takes the dot-product kernel by default
    (the block kernel's code left out: FC_DOT_MAX_MACS) and says why in inspect and generate --json; --optimize
    speed gives it the paired block kernel, and generate --json reports that one."""
    import numpy as np

    from tests.support.opmodels import ModelBuilder

    rng = np.random.default_rng(3)
    m = ModelBuilder()
    x = m.tensor([1, 384], scale=0.05, zero_point=-128)
    wt = m.tensor([8, 384], data=rng.integers(-127, 128, size=(8, 384)), scale=0.004, zero_point=0)
    b = m.tensor([8], dtype=np.int32, data=rng.integers(-9000, 9000, size=8), scale=0.05 * 0.004)
    y = m.tensor([1, 8], scale=0.5, zero_point=3)
    m.op("FULLY_CONNECTED", [x, wt, b], [y])
    path = tmp_path / "head.tflite"
    path.write_bytes(m.build([x], [y]))
    r = CliRunner().invoke(main, ["inspect", "--json", str(path)])
    op = json.loads(r.output)["ops"][0]
    assert op["kernel"] == "dsp" and op["kernel_reason"].startswith("a small layer (3,072 MACs <= 4,096)"), op
    for opt, fn, reason in (("size", "tg_fc_dot_s8(", "a small layer"), ("speed", "tg_fc_p_s8(", "accumulators within")):
        out = tmp_path / opt
        r = CliRunner().invoke(main, ["generate", str(path), "-o", str(out), "--target", "cortex-m4", "--optimize", opt,
                                      "--json"])
        assert r.exit_code == 0, r.output
        k = json.loads(r.output)["kernels"][0]
        assert reason in k["kernel_reason"], (opt, k)
        assert fn in next(out.glob("*_model.c")).read_text(), opt


@pytest.mark.parametrize("model", [VWW, "mcunet_vww_80_int8_floatio.tflite", "mltk_kws_mobilenetv2_int8.tflite",
                                   "kws_micro"])
def test_depthwise_variant_names_the_kernel_the_code_calls(model, tmp_path):
    """inspect and generate name, per DEPTHWISE_CONV_2D, the C entry point the generated code calls (one
    decision, conv.dw_kernel). The pair kernels are chosen model-wide (>= 75 % of the ring depthwise MACs):
    VWW calls the 3x3 one, MCUNet (mostly 5x5 / 7x7 depthwise MACs) the 3x3 one and the k x k one (no SMLABB
    ring kernel linked); the MobileNetV2 KWS model runs its stride-1 layers on the 3x3 pair kernel and its 4x4 / 2x2
    ones on the tiny-image kernel (no SMLABB ring kernel linked), its stride-2 rows of 4, 8 and 15 pixels on the
    4-pixel one."""
    import re
    from pathlib import Path

    if model == "kws_micro":
        path = Path(__file__).resolve().parents[1] / "examples" / "kws_micro.tflite"
    else:
        d = corpus_dir()
        if d is None or not (d / model).is_file():
            pytest.skip(SKIP_REASON)
        path = d / model
    r = CliRunner().invoke(main, ["generate", str(path), "-o", str(tmp_path / "g"), "--target", "cortex-m4", "--json"])
    assert r.exit_code == 0, r.output
    gen = {k["index"]: k for k in json.loads(r.output)["kernels"] if k["op"] == "DEPTHWISE_CONV_2D"}
    r = CliRunner().invoke(main, ["inspect", "--json", str(path)])
    assert r.exit_code == 0, r.output
    ins = {o["index"]: o for o in json.loads(r.output)["ops"] if o["op"] == "DEPTHWISE_CONV_2D"}
    src = next((tmp_path / "g").glob("*_model.c")).read_text()
    calls = {int(i): fn for fn, i in re.findall(r"\b(tg_dwconv\w*)\(&op(\d+)_p,", src)}
    assert gen and set(calls) == set(gen) == set(ins)
    kernels = {"tg_dwconv_s8", "tg_dwconv_p3_s8", "tg_dwconv_p3q_s8", "tg_dwconv_p3s2_s8", "tg_dwconv_p3s2p_s8",
               "tg_dwconv_p3s2x_s8", "tg_dwconv_p3x_s8", "tg_dwconv_p3l_s8", "tg_dwconv_dm_s8", "tg_dwconv_dmr_s8",
               "tg_dwconv_dmrl_s8", "tg_dwconv_pk_s8", "tg_dwconv_p3t_s8"}
    for i, fn in calls.items():
        for rep in (gen[i], ins[i]):
            named = [k for k in kernels if re.search(rf"\b{k}\b", rep["kernel_reason"])]
            assert named == [fn], (i, fn, rep["kernel_reason"])
            assert ("tap pairs" in rep["kernel_reason"]) == (fn.startswith(("tg_dwconv_p3", "tg_dwconv_pk"))
                                                             and fn != "tg_dwconv_p3t_s8"), rep
            assert ("image widened once" in rep["kernel_reason"]) == (fn == "tg_dwconv_p3t_s8"), rep
            assert rep["scratch_bytes"] == gen[i]["scratch_bytes"]
    if model == VWW:
        assert {"tg_dwconv_p3_s8", "tg_dwconv_p3s2_s8"} <= set(calls.values())
    if model.startswith("mcunet"):  # 3x3 layers on the 3x3 pair kernel, 5x5 / 7x7 on the k x k one: no SMLABB kernel
        # (and, next to the k x k kernel, no stride-2 4-pixel kernel: its 42 -> 20 layer on the 2-pixel pass)
        # (its 3x3 images: rows of 3 pixels with a left edge, tg_dwconv_p3q_s8)
        assert set(calls.values()) == {"tg_dwconv_p3_s8", "tg_dwconv_p3q_s8", "tg_dwconv_pk_s8"}
        assert any("pair kernel (12 KB code budget)" in o["kernel_reason"] for o in ins.values())
        assert not any("pair kernel not used" in o["kernel_reason"] for o in ins.values())
    if model.startswith("mltk"):  # stride 2: 31x27 -> 15x13 transposed (rows of 3 blocks + 3 pixels), 17x15 -> 8x7
        # transposed and 9x9 -> 4x4 (whole blocks) on the 4-pixel kernel, 5x5 -> 2x2 on the 2-pixel pass; its 4x4 and
        # 2x2 stride-1 layers on the tiny-image kernel, the 8x7 ones on the 2-pixel pass transposed (fewer passes)
        assert set(calls.values()) == {"tg_dwconv_p3_s8", "tg_dwconv_p3s2_s8", "tg_dwconv_p3s2p_s8", "tg_dwconv_p3t_s8"}
        tiny = {i for i, fn in calls.items() if fn == "tg_dwconv_p3t_s8"}
        assert len(tiny) == 9 and all(gen[i]["scratch_bytes"] in (192, 64) for i in tiny), {i: gen[i] for i in tiny}
        # its stride-1 layers on the 2-pixel pass (30x25, 15x13, 8x7 x2) run transposed: fewer passes
        p3 = [i for i, fn in calls.items() if fn == "tg_dwconv_p3_s8" and "3x3/2" not in ins[i].get("desc", "")]
        assert sum("transposed" in ins[i]["kernel_reason"] for i in p3) >= 4, {i: ins[i]["kernel_reason"] for i in p3}


def test_helium_depthwise_gets_the_layers_own_geometry(tmp_path):
    """The DSP pair kernel runs kws_micro's 25x5 layers transposed (w_row -2); the Helium kernel has no such
    mode, so a cortex-m55 build passes them untransposed (bit-exactness on QEMU: test_mcu_kernels'
    zoo test on qemu-cortex-m55, --run-slow)."""
    import re
    from pathlib import Path

    from tinygen.codegen.generator import generate
    from tinygen.model.reader import read_model

    g = read_model(Path(__file__).resolve().parents[1] / "examples" / "kws_micro.tflite")
    m4 = generate(g, tmp_path / "m4", "kws", target="cortex-m4").c_file.read_text()
    m55 = generate(g, tmp_path / "m55", "kws", target="cortex-m55").c_file.read_text()
    assert "w_row = -2," in m4
    structs = re.findall(r"op\d+_p = \{(.*?)\};", m55, re.S)
    dws = [s for s in structs if ".k_h = 3" in s and ".out_c = 16" in s or ".out_c = 24" in s and ".k_h = 3" in s]
    assert len(dws) == 2 and "tg_dwconv_mve_s8(" in m55
    for s in dws:
        assert ".in_h = 25, .in_w = 5," in s, s


def test_packed_conv_pairs_only_on_dsp_cores(vww, tmp_path):
    """The trained VWW model's convolutions take the packed channel-pair weights (tg_conv2d_dspp_s8) on a
    Cortex-M with the DSP extension, and say so; Helium (cortex-m55) and cores without the DSP extension
    (RV32) get one weight row per channel (tg_conv2d_dsp_s8: the MVE kernel's and the C99 kernel's layout)."""
    import re

    from tinygen.codegen.generator import generate
    from tinygen.model.reader import read_model
    from tinygen.ops import REGISTRY

    g = read_model(vww)
    calls = {}
    for t in ("cortex-m4", "cortex-m55", "qemu-riscv32"):
        c = generate(g, tmp_path / t, "vww", target=t).c_file.read_text()
        calls[t] = set(re.findall(r"(tg_conv2d_\w+)\(", c))
    # (+ its 48x48x16 -> 48x48x32 1x1 layer on the narrow kernel, whose records serve every target but Helium:
    # there a 1x1 layer with >= 16 input channels runs the Helium kernel in place)
    assert calls["cortex-m4"] == {"tg_conv2d_dspp_s8", "tg_conv2d_dspn8_s8"}, calls
    assert calls["qemu-riscv32"] == {"tg_conv2d_dsp_s8", "tg_conv2d_dspn8_s8"}, calls
    assert calls["cortex-m55"] == {"tg_conv2d_dsp_s8"}, calls
    op = next(o for o in g.operators if o.op == "CONV_2D")
    p = REGISTRY["CONV_2D"].prepare(g, op)
    assert "channel pairs packed" in REGISTRY["CONV_2D"].kernel_variant(p, "cortex-m4").reason
    assert "packed" not in REGISTRY["CONV_2D"].kernel_variant(p, "cortex-m55").reason


def _dw_chain(kks, big_bias_last: bool) -> bytes:
    """Depthwise layers with these filter sizes (stride 1, SAME, 8 channels, 12x12), in a chain; the last one's
    biases near 2^30 (beyond the SMMLAR bound of the k x k pair kernel) if big_bias_last."""
    import numpy as np

    from tests.support.opmodels import ModelBuilder

    rng = np.random.default_rng(3)
    m = ModelBuilder()
    x = m.tensor([1, 12, 12, 8], scale=0.05, zero_point=3)
    cur = x
    for i, k in enumerate(kks):
        ws = rng.uniform(0.002, 0.02, size=8)
        wt = m.tensor([1, k, k, 8], data=rng.integers(-127, 128, size=(1, k, k, 8)), scale=ws, zero_point=0, axis=3)
        bias = rng.integers(-5000, 5000, size=8)
        if big_bias_last and i == len(kks) - 1:
            bias[:] = 2**30 - 2**14
        b = m.tensor([8], dtype=np.int32, data=bias, scale=0.05 * ws)
        y = m.tensor([1, 12, 12, 8], scale=0.1, zero_point=-2)
        m.op("DEPTHWISE_CONV_2D", [cur, wt, b], [y], padding="SAME", stride_h=1, stride_w=1, dilation_h_factor=1,
             dilation_w_factor=1, depth_multiplier=1, fused_activation_function="NONE")
        cur = y
    return m.build([x], [cur])


def test_kxk_pair_kernel_is_chosen_model_wide():
    """A 3x3 layer next to a 7x7 one (most of the MACs): both pair kernels (3x3 and k x k) where the 7x7 layer
    can take the k x k one; where it cannot (biases beyond the SMMLAR bound), it keeps the SMLABB ring kernel,
    and so does the 3x3 layer, whose reason says why (one ring kernel per firmware); so does a 7x7 layer next to
    such a 5x5 one."""
    from tinygen.model.reader import parse_model
    from tinygen.ops.conv import DepthwiseConv2D, dw_kernel

    for big, want in ((False, ["tg_dwconv_p3_s8", "tg_dwconv_pk_s8"]), (True, ["tg_dwconv_s8", "tg_dwconv_s8"])):
        g = parse_model(_dw_chain([3, 7], big), name="chain")
        ps = [DepthwiseConv2D().prepare(g, op) for op in g.operators]
        assert [dw_kernel(p) for p in ps] == want
        reasons = [DepthwiseConv2D().kernel_variant(p, "cortex-m4").reason for p in ps]
        assert ("pair kernel not used" in reasons[0]) == big, reasons
        assert ("7x7 tap pairs" in reasons[1]) != big, reasons
    # a 7x7 layer the k x k kernel could run, next to a 5x5 one it cannot (a third of the MACs): the SMLABB kernel
    g = parse_model(_dw_chain([7, 5], True), name="chain2")
    ps = [DepthwiseConv2D().prepare(g, op) for op in g.operators]
    assert [dw_kernel(p) for p in ps] == ["tg_dwconv_s8", "tg_dwconv_s8"]
    reason = DepthwiseConv2D().kernel_variant(ps[0], "cortex-m4").reason
    assert "7x7 pair kernel not used" in reason, reason


def _dw_s2_layer(hw: int, channels: int) -> bytes:
    """One 3x3 stride-2 SAME depthwise layer on a hw x hw x channels image (output (hw + 1) // 2 square)."""
    import numpy as np

    from tests.support.opmodels import ModelBuilder

    rng = np.random.default_rng(7)
    m = ModelBuilder()
    x = m.tensor([1, hw, hw, channels], scale=0.05, zero_point=3)
    ws = rng.uniform(0.002, 0.02, size=channels)
    wt = m.tensor([1, 3, 3, channels], data=rng.integers(-127, 128, size=(1, 3, 3, channels)), scale=ws, zero_point=0,
                  axis=3)
    b = m.tensor([channels], dtype=np.int32, data=rng.integers(-5000, 5000, size=channels), scale=0.05 * ws)
    ow = (hw + 1) // 2
    y = m.tensor([1, ow, ow, channels], scale=0.1, zero_point=-2)
    m.op("DEPTHWISE_CONV_2D", [x, wt, b], [y], padding="SAME", stride_h=2, stride_w=2, dilation_h_factor=1,
         dilation_w_factor=1, depth_multiplier=1, fused_activation_function="NONE")
    return m.build([x], [y])


@pytest.mark.parametrize("hw,channels,kernel,why", [
    # rows of 13 output pixels: 3 whole blocks of 4 and a partial one of 1 (the 4-pixel kernel loses there)
    (26, 8, "tg_dwconv_p3_s8", "not the stride-2 4-pixel kernel: rows of 13 pixels end with a partial block of 1 ("),
    # rows of 12: whole blocks, but 9 x 12 x 12 x 8 = 10,368 MACs, too few for the kernel's code
    (24, 8, "tg_dwconv_p3_s8", "not the stride-2 4-pixel kernel: 10,368 MACs (< 30,000)"),
    # the same rows with 32 channels (41,472 MACs): the 4-pixel kernel, no such reason
    (24, 32, "tg_dwconv_p3s2_s8", None),
])
def test_stride2_layer_off_the_4pixel_kernel_says_why(tmp_path, hw, channels, kernel, why):
    """A 3x3 stride-2 layer the pair kernel runs with its 2-pixel pass rather than the stride-2 4-pixel kernel names
    the reason in inspect --json (row width: a partial last block of 1-2 pixels; or its MACs), next to the kernel
    the generated code calls; one that takes the 4-pixel kernel has no such reason."""
    from tinygen.model.reader import parse_model
    from tinygen.ops.conv import DepthwiseConv2D, dw_kernel

    data = _dw_s2_layer(hw, channels)
    g = parse_model(data, name="s2")
    assert dw_kernel(DepthwiseConv2D().prepare(g, g.operators[0])) == kernel
    path = tmp_path / "s2.tflite"
    path.write_bytes(data)
    r = CliRunner().invoke(main, ["inspect", "--json", str(path)])
    assert r.exit_code == 0, r.output
    (op,) = [o for o in json.loads(r.output)["ops"] if o["op"] == "DEPTHWISE_CONV_2D"]
    assert op["kernel"] == "dsp-exact" and kernel in op["kernel_reason"], op
    if why is None:
        assert "not the stride-2 4-pixel kernel" not in op["kernel_reason"], op
    else:
        assert why in op["kernel_reason"], op


def test_corpus_stride2_layers_off_the_4pixel_kernel_say_why():
    """Every 3x3 stride-2 depthwise layer of the corpus (and zoo) on the pair kernel's 2-pixel pass names why it is
    not on the stride-2 4-pixel kernel."""
    from tests.support import zoo
    from tinygen.model.reader import read_model
    from tinygen.ops.conv import DepthwiseConv2D, dw_geometry, dw_kernel

    d = corpus_dir()
    if d is None:
        pytest.skip(SKIP_REASON)
    models = sorted(d.glob("*.tflite")) + sorted(zoo.zoo_dir().glob("*.tflite"))
    seen = 0
    for path in models:
        try:
            g = read_model(path)
        except Exception:  # (models the reader refuses: not this test's business)
            continue
        for op in g.operators:
            if op.op != "DEPTHWISE_CONV_2D":
                continue
            p = DepthwiseConv2D().prepare(g, op)
            geo = dw_geometry(p)
            if p.pair_kernel and dw_kernel(p) == "tg_dwconv_p3_s8" and (geo["k_w"], geo["stride_w"]) == (3, 2):
                seen += 1
                reason = DepthwiseConv2D().kernel_variant(p, "cortex-m4").reason
                assert "not the stride-2 4-pixel kernel: " in reason, (path.name, op.index, reason)
    assert seen, "no 3x3 stride-2 layer on the 2-pixel pass in the corpus"
