"""Real trained models (`../shared/models`, see tests/support/corpus.py) end to end.

For every corpus model tinygen supports (decided by tinygen's own reader and op registry, so a model
refused today is picked up here as soon as its ops are implemented):
* `tinygen inspect --json` describes it: op counts, I/O shapes, dtypes and quantization as in models.json;
* `tinygen emulate` equals tflite_micro (TFLM's reference kernels) in every element on random and edge inputs;
* `tinygen generate` writes C that, compiled for the host with ASan + UBSan, equals tflite_micro;
* the generated C built for `qemu-cortex-m4` (Cortex-M4 DSP kernels) and run on QEMU equals tflite_micro.
For every model it refuses: inspect names the op that stops it, and emulate / generate refuse with one line
naming it, exit status 2, nothing written.

Models above BIG_WEIGHT_BYTES of weights (MobileNetV2 224) run the host-C and QEMU legs only with
--run-slow. All other models share one host harness and as few firmwares as fit the 4 MB code memory.
"""
from __future__ import annotations

import collections
import os
import re
import shutil

import numpy as np
import pytest

from tests.support.corpus import SKIP_REASON, corpus_dir, corpus_models, golden
from tests.support.oracle import tflm_run_batch
from tinygen.cli import main

pytestmark = pytest.mark.skipif(corpus_dir() is None, reason=SKIP_REASON)

MODELS = corpus_models()
SUPPORTED = [m for m in MODELS if m.supported]
REFUSED = [m for m in MODELS if not m.supported]
BIG_WEIGHT_BYTES = 2_000_000  # host C with sanitizers and QEMU only under --run-slow above this
N_RANDOM = 2  # random samples per model, plus the edge samples (all -128, all 127, all = zero point)


def _params(ms):
    if not ms:
        return [pytest.param(None, marks=pytest.mark.skip(reason="no such corpus model"))]
    return [pytest.param(m, id=m.name) for m in ms]


def run_cli(capsys, *args):
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def samples(g, rng, n_random: int = N_RANDOM, fixed=None) -> list[np.ndarray]:
    """Per model input an array (N, *full shape): edge samples then random ones (float inputs: values in
    [-4, 4) and zero). `fixed[k]`: input k takes this value in every sample (a shape tensor)."""
    xs = []
    for k, t in enumerate(g.input_tensors):
        shape = tuple(t.shape)
        if fixed is not None and k in fixed:
            xs.append(np.stack([fixed[k].reshape(shape)] * (n_random + 3)))
        elif t.dtype in (np.int8, np.int16):
            info = np.iinfo(t.dtype)
            edge = [np.full(shape, info.min), np.full(shape, info.max), np.full(shape, t.zero_point)]
            rand = [rng.integers(info.min, info.max + 1, size=shape) for _ in range(n_random)]
            xs.append(np.stack(edge + rand).astype(t.dtype))
        else:
            rand = [rng.uniform(-4, 4, size=shape) for _ in range(n_random + 2)]
            xs.append(np.stack([np.zeros(shape)] + rand).astype(t.dtype))
    return xs


def assert_equal_outputs(what: str, ours, ref) -> None:
    assert len(ours) == len(ref), f"{what}: {len(ours)} outputs, TFLM has {len(ref)}"
    for k, (a, b) in enumerate(zip(ours, ref)):
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape, f"{what} output {k}: {a.dtype}{a.shape} vs TFLM {b.dtype}{b.shape}"
        if a.dtype.kind == "f":
            a, b = a.view(np.uint32), b.view(np.uint32)
        if not np.array_equal(a, b):
            bad = np.argwhere(a != b)
            raise AssertionError(f"{what} output {k}: {len(bad)}/{a.size} elements differ from tflite_micro, first at "
                                 f"{bad[0].tolist()}: {a[tuple(bad[0])]} vs {b[tuple(bad[0])]}")


class _Cases(dict):
    """name -> (graph, inputs, TFLM outputs), computed on first use (under pytest-xdist each worker computes
    only the models its tests need)."""

    def __missing__(self, name):
        from tinygen.model.reader import read_model

        m = next(m for m in SUPPORTED if m.name == name)
        g = read_model(m.path)
        gold = golden(m)
        # integer inputs that are not activations (an output_shape tensor) keep their reference value
        fixed = {k: v for k, (t, v) in enumerate(zip(g.input_tensors, gold[0]))
                 if t.dtype == np.int32} if gold else None
        rng = np.random.default_rng(sum(map(ord, name)))  # fixed per model
        xs = samples(g, rng, fixed=fixed)
        self[name] = (g, xs, tflm_run_batch(m.path.read_bytes(), xs, g))
        return self[name]


@pytest.fixture(scope="module")
def cases():
    return _Cases()


# ---------------------------------------------------------------- the corpus itself


def test_every_corpus_model_is_run_or_refused_with_a_reason(capsys):
    assert len(MODELS) >= 17, f"expected the 17-model corpus in {corpus_dir()}, found {len(MODELS)}"
    assert SUPPORTED, "tinygen supports none of the corpus models"
    for m in REFUSED:
        assert m.reason and m.unsupported_ops, f"{m.name}: refused without naming an op: {m.reason!r}"
    with capsys.disabled():
        print(f"\ncorpus {corpus_dir()}: {len(SUPPORTED)} supported, {len(REFUSED)} refused")
        for m in REFUSED:
            print(f"  refused {m.path.name}: {m.reason}")


# ---------------------------------------------------------------- supported: inspect, emulate, generate


@pytest.mark.parametrize("m", _params(SUPPORTED))
def test_inspect_describes_the_model(m, capsys):
    import json

    rc, out, err = run_cli(capsys, "inspect", m.path, "--json")
    assert rc == 0, err
    d = json.loads(out)
    assert d["unsupported_ops"] == []
    # every op of the file: those tinygen runs and the shape arithmetic it folded at load time (by file index)
    ops = {o["index"]: o["op"] for o in d.get("folded_ops", [])} | {o["index"]: o["op"] for o in d["ops"]}
    assert sorted(ops) == list(range(m.info["num_ops"]))
    assert dict(collections.Counter(ops.values())) == m.info["ops"]
    assert d["macs"] > 0
    for ours, theirs in ((d["inputs"], m.info["inputs"]), (d["outputs"], m.info["outputs"])):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            assert a["shape"] == b["shape"] and a["dtype"] == b["dtype"], (a, b)
            if b["dtype"] in ("int8", "int16"):
                assert a["scale"] == pytest.approx(b["scale"][0], rel=1e-6) and a["zero_point"] == b["zero_point"][0]


@pytest.mark.parametrize("m", _params(SUPPORTED))
def test_emulate_equals_tflite_micro(m, cases, tmp_path, capsys):
    """`tinygen emulate` (user-facing batches: a model batch axis of 1 becomes N) == tflite_micro."""
    g, xs, ref = cases[m.name]
    args = ["emulate", m.path]
    for k, (t, x) in enumerate(zip(g.input_tensors, xs)):
        user = x[:, 0] if len(t.shape) and t.shape[0] == 1 else x
        np.save(tmp_path / f"in{k}.npy", user)
        args += ["--inputs", tmp_path / f"in{k}.npy"]
    out = tmp_path / "out.npz"
    rc, _, err = run_cli(capsys, *args, "--output", out)
    assert rc == 0, err
    got = np.load(out)
    ours = []
    for k, t in enumerate(g.output_tensors):
        y = got[f"output_{k}"]
        ours.append(y.reshape((y.shape[0],) + tuple(t.shape)))
    assert_equal_outputs(f"{m.name} (emulate)", ours, ref)


@pytest.mark.parametrize("m", _params(SUPPORTED))
def test_every_weighted_layer_names_its_kernel(m):
    """On a DSP target (Cortex-M4) every CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED / TRANSPOSE_CONV layer
    reports the kernel variant it runs, and a layer left on the portable C99 kernel says why."""
    from tinygen.analysis.inspect import kernel_info
    from tinygen.model.reader import read_model

    g = read_model(m.path)
    for op, k in zip(g.operators, kernel_info(g)):
        if op.op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV"):
            assert k["kernel"] not in ("", "-"), f"op {op.index} ({op.op}): no kernel variant"
            if not k["kernel"].startswith("dsp"):
                assert k["kernel_reason"] and k["kernel_reason"] != "portable C kernel", \
                    f"op {op.index} ({op.op}) runs {k['kernel']} on a DSP target without a named reason"


# Known gaps, each named: the test fails (strict xfail) as soon as one is fixed, to drop it from here.
ARENA_GAPS: dict[str, str] = {}


@pytest.mark.parametrize("m", [pytest.param(p.values[0], id=p.id, marks=[pytest.mark.xfail(
    strict=True, reason=ARENA_GAPS[p.id])] if p.id in ARENA_GAPS else []) for p in _params(SUPPORTED)])
def test_arena_within_the_live_tensor_bound(m):
    """The default plan (kernel scratch included) needs at most 1.05x the live-tensor bound + 64 B."""
    from tinygen.codegen.planner import plan_memory
    from tinygen.model.reader import read_model

    plan = plan_memory(read_model(m.path))
    assert plan.arena_bytes <= 1.05 * plan.live_bound_bytes + 64, \
        f"arena {plan.arena_bytes} B, live-tensor bound {plan.live_bound_bytes} B, scratch {plan.scratch_bytes}"


@pytest.mark.parametrize("m", _params([m for m in MODELS if m.info.get("testdata")]))
def test_reference_data_is_what_tflite_micro_computes(m):
    """The reader of the reference data (used below once tinygen runs these models) is right."""
    from tflite_micro import runtime

    ins, outs = golden(m)
    it = runtime.Interpreter.from_bytes(m.path.read_bytes(), arena_size=4 << 20)
    for k, x in enumerate(ins):
        it.set_input(x.reshape(it.get_input_details(k)["shape"]), k)
    it.invoke()
    assert_equal_outputs(f"{m.name} (TFLM on the golden input)", [it.get_output(k).reshape(-1) for k in range(len(outs))], outs)


@pytest.mark.parametrize("m", _params([m for m in SUPPORTED if m.info.get("testdata")]))
def test_emulator_matches_the_reference_data(m):
    """Models that ship TFLM's integration-test data (input and golden output CSVs): bit-exact with it."""
    from tinygen.emulator.engine import Emulator
    from tinygen.model.reader import read_model

    g = read_model(m.path)
    ins, outs = golden(m)
    xs = [x.reshape((1,) + tuple(t.shape)) for t, x in zip(g.input_tensors, ins)]
    ours = Emulator(g).run_internal(xs)
    assert_equal_outputs(f"{m.name} (golden data)", [o.reshape(-1) for o in ours], outs)


# ---------------------------------------------------------------- generated C on the host, sanitizers on


def _sets():
    """The supported models in two sets: the default one and the big ones (only with --run-slow). Each set
    is one test, so that pytest-xdist builds each harness and firmware once."""
    small = [m for m in SUPPORTED if m.weight_bytes <= BIG_WEIGHT_BYTES]
    big = [m for m in SUPPORTED if m.weight_bytes > BIG_WEIGHT_BYTES]
    out = [pytest.param(small, id="models")] if small else []
    if big:
        out.append(pytest.param(big, id="big_models", marks=pytest.mark.slow))
    return out or [pytest.param([], marks=pytest.mark.skip(reason="no supported corpus model"))]


@pytest.mark.parametrize("ms", _sets())
def test_generated_c_with_sanitizers_equals_tflite_micro(ms, cases, tmp_path, capsys):
    """`tinygen generate` for every model; all of them in one host harness built with gcc -O1
    -fsanitize=address,undefined; each model's outputs == tflite_micro."""
    from tests.test_codegen import SAN, Suite, _harness, run_model

    if shutil.which("gcc") is None:
        pytest.skip("needs gcc")
    suite = Suite(tmp_path)
    for m in ms:
        # the command writes the files a user gets; the harness compiles the same generator's output
        rc, out, err = run_cli(capsys, "generate", m.path, "-o", tmp_path / "cli" / m.name, "--name", m.name)
        assert rc == 0, err
        assert (tmp_path / "cli" / m.name / f"{m.name}_model.c").is_file()
        suite.add(m.name, cases[m.name][0])
    assert not suite.skipped, suite.skipped
    (tmp_path / "harness.c").write_text(_harness([(n, suite.graphs[n]) for n in suite.gen]))
    exe = suite.build("san", "gcc", SAN)
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0:abort_on_error=0", UBSAN_OPTIONS="print_stacktrace=1")
    failures = []
    for m in ms:
        g, xs, ref = cases[m.name]
        try:
            assert_equal_outputs(f"{m.name} (host C, ASan+UBSan)", run_model(exe, m.name, g, xs, env=env), ref)
        except AssertionError as e:
            failures.append(str(e).splitlines()[0])
    assert not failures, "\n".join(failures)


# ---------------------------------------------------------------- Cortex-M4 on QEMU


QEMU_OK = shutil.which("arm-none-eabi-gcc") is not None and shutil.which("qemu-system-arm") is not None


@pytest.mark.qemu
@pytest.mark.parametrize("ms", _sets())
def test_cortex_m4_on_qemu_equals_tflite_micro(ms, cases, tmp_path):
    """Every model built for qemu-cortex-m4 (the Cortex-M4 DSP kernels) into as few firmwares as fit its
    code memory, each run once in QEMU; each model's outputs == tflite_micro."""
    from tinygen.boards.mcu_run import build_models, run_models

    if not QEMU_OK:
        pytest.skip("needs arm-none-eabi-gcc and qemu-system-arm")
    names = [m.name for m in ms]
    # big models: one random sample (the baked-in inputs share the 4 MB of code memory with the weights)
    picks = {n: [3] if m.weight_bytes > BIG_WEIGHT_BYTES else list(range(cases[n][1][0].shape[0]))
             for n, m in zip(names, ms)}
    failures = []
    for i, group in enumerate(_pack(names, picks, cases)):
        graphs = {n: cases[n][0] for n in group}
        xs = {n: [[x[s] for x in cases[n][1]] for s in picks[n]] for n in group}
        res = run_models(build_models("qemu-cortex-m4", graphs, xs, tmp_path / f"fw{i}"), timeout=900)
        for n in group:
            g, _, ref = cases[n]
            got = res.models[n]
            ours = [np.stack([s.outputs[k] for s in got]) for k in range(len(g.outputs))]
            assert all(s.instructions > 0 for s in got)
            try:
                assert_equal_outputs(f"{n} (Cortex-M4, QEMU)", ours, [r[picks[n]] for r in ref])
            except AssertionError as e:
                failures.append(str(e).splitlines()[0])
    assert not failures, "\n".join(failures)


FLASH_BUDGET = 3_300_000  # of qemu-cortex-m4's 4 MB code memory: weights + baked-in samples per firmware


def _pack(names, picks, cases) -> list[list[str]]:
    """Models into as few firmwares as fit the code memory (first fit, largest first)."""
    def cost(n):
        g, xs, _ = cases[n]
        weights = sum(t.nbytes for t in g.tensors if t.is_const)
        return weights + len(picks[n]) * sum(x[0].nbytes for x in xs)

    bins: list[tuple[int, list[str]]] = []
    for n in sorted(names, key=cost, reverse=True):
        for k, (used, members) in enumerate(bins):
            if used + cost(n) <= FLASH_BUDGET:
                bins[k] = (used + cost(n), members + [n])
                break
        else:
            bins.append((cost(n), [n]))
    return [members for _, members in bins]


# ---------------------------------------------------------------- refused models


@pytest.mark.parametrize("m", _params(REFUSED))
def test_refused_model_names_the_op_everywhere(m, tmp_path, capsys):
    import json

    names = {op for _, op in m.unsupported_ops}
    rc, out, err = run_cli(capsys, "inspect", m.path, "--json")
    if rc == 0:  # readable int8 model: the table lists the ops tinygen cannot run
        listed = {u["op"] for u in json.loads(out)["unsupported_ops"]}
        assert names <= listed and listed, (names, listed)
    else:
        _assert_one_line_naming(err, rc, names)
    for args in (["emulate", m.path, "--inputs", _dummy_inputs(tmp_path), "--output", tmp_path / "o.npy"],
                 ["generate", m.path, "-o", tmp_path / "gen"],
                 ["generate", m.path, "-o", tmp_path / "fw", "--board", "qemu-cortex-m4"]):
        rc, out, err = run_cli(capsys, *args)
        _assert_one_line_naming(err, rc, names)
        assert not (tmp_path / "gen").exists() and not (tmp_path / "fw").exists() and not (tmp_path / "o.npy").exists()


def _dummy_inputs(tmp_path):
    p = tmp_path / "x.npy"
    np.save(p, np.zeros((1, 4), np.int8))
    return p


def _assert_one_line_naming(err: str, rc: int, names: set[str]) -> None:
    lines = err.strip().splitlines()
    assert rc == 2, err
    assert len(lines) == 1 and lines[0].startswith("tinygen: error: "), err
    assert any(re.search(rf"\({n}[,)]", lines[0]) for n in names), (lines[0], names)
    assert "Traceback" not in err
