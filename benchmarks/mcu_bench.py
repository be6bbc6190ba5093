"""tinygen on an emulated Cortex-M (default Cortex-M4; --board for the others): instructions per inference and per layer, kernel variants, scratch, arena
against the live-tensor bound and code size, for any .tflite (default: the real corpus's conv models and the
MLPerf-Tiny-shaped zoo models).

    .venv/bin/python benchmarks/mcu_bench.py                       # corpus conv models + zoo (about 3 min)
    .venv/bin/python benchmarks/mcu_bench.py model.tflite other.tflite
    .venv/bin/python benchmarks/mcu_bench.py mlperf_vww_mbv1_20blk_791k_int8 --no-layers   # a corpus model by name
    .venv/bin/python benchmarks/mcu_bench.py --zoo                  # only the four zoo models
    .venv/bin/python benchmarks/mcu_bench.py --corpus --portable    # + the C99 kernels (-DTG_PORTABLE)
    .venv/bin/python benchmarks/mcu_bench.py --json out.json --markdown   # results as JSON; tables as Markdown
    .venv/bin/python benchmarks/mcu_bench.py --board qemu-cortex-m55 --zoo  # another emulated core
        (Helium boards: the MVE kernels, and beside them the DSP kernels built with -DTG_NO_MVE)

A MODEL argument is a path to a .tflite, the name of a corpus model (`$TINYGEN_MODELS`, default
`../shared/models`) or of a zoo model (tests/support/zoo.py). Corpus models above 2 MB of weights
(MobileNetV2 224) are left out of the default set; name them to run them.

Each model is generated for `--board` (default `qemu-cortex-m4`: QEMU mps2-an386, arm-none-eabi-gcc -O2,
-mcpu=cortex-m4 -mfpu=fpv4-sp-d16 -mfloat-abi=hard; also qemu-cortex-m7, qemu-cortex-m33, qemu-cortex-m55
and qemu-stm32f4, each with its board's flags) into its own firmware with one random input baked in, and run under
`-icount shift=0`, where one instruction is one virtual nanosecond: `tg_cycles()` (SysTick ticks x 1e9 / the
SysTick clock: 40 on mps2-an386) around `NAME_run()` counts instructions, deterministically, at a resolution
of one tick. The output is checked against the
emulator (itself bit-exact with tflite_micro: tests/test_corpus.py). A second build with TG_LAYER_TIMING gives
the instructions per layer (about 100 instructions of hook per layer included).

Tables:
- speed: MACs, instructions, MAC/instruction; TFLite Micro + CMSIS-NN on the same emulator (Cortex-M4) where it was
  measured (the figures quoted in issues 4 and 10; "not measured" elsewhere) and tinygen's ratio to it;
- memory: tinygen's arena (kernel scratch included) against the live-tensor bound (the largest sum of the
  activations live at one step, scratch excluded: no plan can use less without recomputation) and TFLM's
  arena (models.json for corpus models, else measured with the tflite_micro host interpreter, 64-bit
  pointers); flash split into weights, kernels + runtime (budget 12 KB, checked for DS-CNN / MobileNet / MCUNet models), run() code, libc;
- per layer (unless --no-layers): instructions, MAC/instruction, kernel variant (and why), scratch bytes.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

BOARD = "qemu-cortex-m4"
ZOO = ["ds_cnn_kws", "mobilenet_v1_025_vww", "resnet8_ic", "fc_autoencoder_ad"]
ZOO_LABELS = {"ds_cnn_kws": "zoo DS-CNN (KWS)", "mobilenet_v1_025_vww": "zoo MobileNetV1-0.25 (VWW)",
              "resnet8_ic": "zoo ResNet-8 (IC)", "fc_autoencoder_ad": "zoo FC autoencoder (AD)"}
# TFLite Micro + CMSIS-NN on this emulator, instructions per inference (issue 4 for the zoo's architectures;
# issue 10: a trained MobileNetV1-0.25 96x96 VWW model takes the same 24.1 M). No other model was measured.
REFERENCE = {"ds_cnn_kws": 7.70e6, "mobilenet_v1_025_vww": 24.1e6, "resnet8_ic": 29.9e6, "fc_autoencoder_ad": 0.58e6}
CODE_BUDGET = 12 * 1024
# The budget is the rule for DS-CNN and MobileNet-type models (issue 10): models whose name says so (the
# zoo's DS-CNN and MobileNetV1, the corpus's DS-CNN, MobileNet V1/V2 and MCUNet); the others (YOLO-fastest, ResNet,
# micronet, ...) have their code size printed, not checked.
BUDGET_MODELS = ("ds_cnn", "mobilenet", "mbv1", "mcunet")
# RV32IMAC code is larger than Thumb-2 for the same C: tinygen's kernels + runtime + protocol sources,
# -O2, 48,880 B with riscv64-unknown-elf-gcc -march=rv32imac vs 42,836 B with arm-none-eabi-gcc
# -mcpu=cortex-m4 -DTG_PORTABLE (1.14x): the same budget scaled, rounded to 14 KB.
CODE_BUDGET_RV32 = 14 * 1024
BIG_WEIGHT_BYTES = 2_000_000
CONV_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D"}


@dataclass
class Bench:
    name: str  # C identifier / key
    label: str
    path: Path
    reference: float | None = None  # TFLM + CMSIS-NN instructions
    tflm_arena: int | None = None
    fixed: dict = field(default_factory=dict)  # input index -> value (int32 shape inputs, from testdata)
    result: dict = field(default_factory=dict)


def _parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", help=".tflite paths, corpus model names or zoo model names")
    ap.add_argument("--corpus", action="store_true", help="the corpus's supported conv models (default with --zoo)")
    ap.add_argument("--zoo", action="store_true", help="the four MLPerf-Tiny-shaped zoo models")
    ap.add_argument("--portable", action="store_true", help="also build and run the C99 kernels (-DTG_PORTABLE)")
    ap.add_argument("--no-layers", action="store_true", help="skip the per-layer (TG_LAYER_TIMING) build")
    ap.add_argument("--no-tflm", action="store_true", help="do not measure TFLite Micro's arena (zoo / files)")
    ap.add_argument("--markdown", action="store_true", help="print the summary tables as Markdown")
    ap.add_argument("--json", type=Path, help="write the results as JSON")
    ap.add_argument("--board", default=BOARD, help="emulated board to run on (default: %(default)s)")
    ap.add_argument("--no-mve-compare", action="store_true",
                    help="Helium boards (Cortex-M55): skip the second build with the DSP kernels (-DTG_NO_MVE)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--build-dir", type=Path, help="keep the firmware here (default: a temporary directory)")
    return ap.parse_args(argv)


def _corpus():
    from tests.support.corpus import corpus_models

    return corpus_models()


def _corpus_bench(m) -> Bench:
    from tests.support.corpus import golden

    b = Bench(m.name, m.name, m.path, tflm_arena=m.info.get("tflm_min_arena_bytes"))
    gold = golden(m)
    if gold:
        b.fixed = {k: v for k, v in enumerate(gold[0]) if v.dtype == "int32"}
    return b


def select_models(args) -> list[Bench]:
    want_corpus = args.corpus or not (args.models or args.zoo)
    want_zoo = args.zoo or not (args.models or args.corpus)
    out: list[Bench] = []
    corpus = {m.name: m for m in _corpus()} if (want_corpus or args.models) else {}
    if want_corpus:
        for m in corpus.values():
            if m.supported and set(m.info.get("ops", {})) & CONV_OPS and m.weight_bytes <= BIG_WEIGHT_BYTES:
                out.append(_corpus_bench(m))
    zoo_names = list(ZOO) if want_zoo else []
    for a in args.models:
        p = Path(a)
        if p.is_file():
            out.append(Bench(_ident(p.stem), p.stem, p))
        elif a.removesuffix(".tflite") in corpus:
            out.append(_corpus_bench(corpus[a.removesuffix(".tflite")]))
        elif a in ZOO_LABELS or not a.endswith(".tflite"):
            zoo_names.append(a)
        else:
            raise SystemExit(f"mcu_bench: {a}: no such file, corpus model or zoo model")
    if zoo_names:
        from tests.support.zoo import MODEL_NAMES, build_zoo

        unknown = [n for n in zoo_names if n not in MODEL_NAMES]
        if unknown:
            raise SystemExit(f"mcu_bench: {unknown[0]}: no such file, corpus model or zoo model")
        zoo = build_zoo(zoo_names)
        for n in zoo_names:
            # the TFLM + CMSIS-NN reference counts were measured on the Cortex-M4 board only
            ref = REFERENCE.get(n) if args.board == "qemu-cortex-m4" else None
            out.append(Bench(n, ZOO_LABELS.get(n, f"zoo {n}"), Path(zoo[n]), reference=ref))
    return out


def bench_inputs(g, b: Bench, rng) -> list:
    """The model's inputs for one run: `b.fixed` ones as given, integer ones uniform over their range, float
    ones uniform in [-2, 2)."""
    import numpy as np

    x = []
    for k, t in enumerate(g.input_tensors):
        if k in b.fixed:
            x.append(b.fixed[k].reshape(tuple(t.shape)).astype(t.dtype))
        elif t.dtype in (np.int8, np.int16):
            info = np.iinfo(t.dtype)
            x.append(rng.integers(info.min, info.max + 1, size=tuple(t.shape)).astype(t.dtype))
        else:
            x.append(rng.uniform(-2, 2, size=tuple(t.shape)).astype(t.dtype))
    return x


def _ident(s: str) -> str:
    from tinygen.codegen.generator import c_identifier

    return c_identifier(s)


def live_tensor_bound(plan) -> int:
    """Largest sum of the activation bytes live at one step (kernel scratch excluded)."""
    if hasattr(plan, "live_bound_bytes"):
        return int(plan.live_bound_bytes)
    steps = max((b.end for b in plan.buffers), default=-1) + 1
    return max((sum(b.nbytes for b in plan.buffers if b.scratch_op is None and b.start <= s <= b.end)
                for s in range(steps)), default=0)


def kernel_rows(g, plan, target: str | None = None) -> list[dict]:
    """Per op: kernel variant, reason, scratch (the ops' kernel-variant API through
    tinygen.analysis.inspect.kernel_info) for the `target` core (the board's: a core without the DSP
    extension, such as RV32, runs the C99 kernels). Until an op reports its variant, conv / depthwise /
    FC are labelled from their scratch request (the DSP kernels take scratch, the C99 path none)."""
    from tinygen.analysis.inspect import kernel_info
    from tinygen.ops.base import target_has_dsp

    rows = kernel_info(g, plan, target=target)
    for op, r in zip(g.operators, rows):
        if r["kernel"] == "-" and op.op in CONV_OPS | {"FULLY_CONNECTED"}:
            dsp = target_has_dsp(target) and plan.scratch_bytes.get(op.index, 0) > 0
            r["kernel"] = "dsp*" if dsp else "c99*"
        r["desc"] = _describe(g, op)
    return rows


def _measure(b: Bench, g, x, out_dir: Path, portable: bool, layers: bool, no_mve: bool = False) -> dict:
    """`no_mve`: on a Helium board, the DSP kernels instead (code generated for a plain DSP core, kernels
    built with -DTG_NO_MVE): the figure the Helium kernels are compared with."""
    import numpy as np

    from tinygen.boards.firmware_build import memory_usage
    from tinygen.boards.mcu_run import build_models, code_sizes, run_models
    from tinygen.emulator.engine import Emulator

    gen, kflags = None, []
    if no_mve:
        from tinygen.codegen.generator import generate

        gen = {b.name: generate(g, out_dir / "models" / b.name, b.name, target="cortex-m7")}
        kflags = ["-DTG_NO_MVE=1"]
    fw = build_models(BOARD, {b.name: g}, {b.name: [x]}, out_dir, portable=portable, generated=gen,
                      kernel_cflags=kflags)
    res = run_models(fw, timeout=900)
    sample = res.models[b.name][0]
    ref = Emulator(g).run_internal([np.stack([xi]) for xi in x])
    exact = all(np.array_equal(o.view(np.uint8), r[0].view(np.uint8)) for o, r in zip(sample.outputs, ref))
    sizes = code_sizes(fw)
    out = dict(instructions=sample.instructions, bit_exact=exact, stack=res.stack_used, flash=memory_usage(fw.elf).flash,
               groups=sizes.groups, tinygen_code=sizes.tinygen_code, arena=fw.generated[b.name].arena_bytes)
    if layers:
        fwl = build_models(BOARD, {b.name: g}, {b.name: [x]}, out_dir / "layers", portable=portable,
                           layer_timing=True, generated=fw.generated, kernel_cflags=kflags)
        out["layers"] = run_models(fwl, timeout=900).layers[b.name]
    return out


def _table(headers, rows, right=None, markdown=True):
    right = set(range(1, len(headers))) if right is None else right
    widths = [max(len(str(r[i])) for r in [headers] + rows) for i in range(len(headers))]
    if markdown:
        fmt = lambda r: "| " + " | ".join(str(c).rjust(w) if i in right else str(c).ljust(w)  # noqa: E731
                                            for i, (c, w) in enumerate(zip(r, widths))) + " |"
        sep = "|" + "|".join(("-" * (w + 1) + ":") if i in right else (":" + "-" * (w + 1)) for i, w in enumerate(widths)) + "|"
        return "\n".join([fmt(headers), sep] + [fmt(r) for r in rows])
    fmt = lambda r: "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w)  # noqa: E731
                              for i, (c, w) in enumerate(zip(r, widths))).rstrip()
    return "\n".join([fmt(headers), "  ".join("-" * w for w in widths)] + [fmt(r) for r in rows])


def _m(v: float) -> str:
    return f"{v / 1e6:.2f} M"


def main(argv=None) -> int:
    global BOARD
    args = _parse_args(argv)
    from tinygen.boards.catalog import load_board
    from tinygen.errors import TinygenError as _Err

    try:
        board = load_board(args.board)
    except _Err as e:
        raise SystemExit(f"mcu_bench: {e}") from None
    if board.emulator is None or board.build_system != "make":
        raise SystemExit(f"mcu_bench: board {board.id!r} is not an emulated bare-metal board")
    BOARD = board.id
    import numpy as np

    from tinygen.ops.base import target_has_mve

    helium = target_has_mve(board.core)
    mve = helium and not args.no_mve_compare

    from tinygen.analysis.inspect import model_stats
    from tinygen.codegen.planner import plan_memory
    from tinygen.errors import TinygenError
    from tinygen.model.reader import load_int8_model
    from tinygen.ops import check_graph

    benches = select_models(args)
    rng = np.random.default_rng(args.seed)
    tmp = None
    if args.build_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="tinygen-mcu-bench-")
        base = Path(tmp.name)
    else:
        base = args.build_dir
    done: list[Bench] = []
    failed: list[str] = []
    for i, b in enumerate(benches):
        try:
            g = load_int8_model(b.path)
            check_graph(g)
        except TinygenError as e:
            print(f"{b.label}: skipped: {e}", file=sys.stderr)
            continue
        print(f"[{i + 1}/{len(benches)}] {b.label}: building and running ...", file=sys.stderr, flush=True)
        stats = model_stats(g)
        plan = plan_memory(g)
        x = bench_inputs(g, b, rng)
        r = b.result
        r.update(macs=stats.macs, ops=[op.op for op in g.operators], op_macs=[o.macs for o in stats.ops],
                 kernels=kernel_rows(g, plan, board.core), live_bound=live_tensor_bound(plan), planned_arena=plan.arena_bytes,
                 reference_instructions=b.reference, board=BOARD)
        try:
            r["dsp"] = _measure(b, g, x, base / b.name / "dsp", False, not args.no_layers)
            if args.portable:
                r["portable"] = _measure(b, g, x, base / b.name / "portable", True, False)
            if mve:
                r["dsp_only"] = _measure(b, g, x, base / b.name / "dsp_only", False, False, no_mve=True)
        except TinygenError as e:
            print(f"{b.label}: FAILED: {e}", file=sys.stderr)
            failed.append(b.label)
            continue
        if b.tflm_arena is None and not args.no_tflm:
            from tinygen.codegen.tflm import tflm_arena_bytes, tflm_available

            if tflm_available():
                b.tflm_arena = tflm_arena_bytes(b.path.read_bytes())
        r["tflm_arena"] = b.tflm_arena
        done.append(b)
        if not args.no_layers:
            print_layers(b)

    md = args.markdown
    # ---------------------------------------------------------------- speed
    headers = ["model", "MACs", "instr", "MAC/instr", "TFLM+CMSIS-NN instr", "tinygen / TFLM", "C99 layers"]
    if args.portable:
        headers += ["C99 instr", "DSP vs C99"]
    if mve:
        headers[2:4] = ["MVE instr", "MVE MAC/instr"]
        headers += ["DSP instr", "DSP MAC/instr", "MVE vs DSP"]
    rows = []
    for b in done:
        r, d = b.result, b.result["dsp"]
        c99 = sum(1 for op, k in zip(r["ops"], r["kernels"])
                  if op in CONV_OPS | {"FULLY_CONNECTED"} and k["kernel"].lower().startswith(("c99", "portable")))
        convs = sum(1 for op in r["ops"] if op in CONV_OPS | {"FULLY_CONNECTED"})
        row = [b.label, f"{r['macs'] / 1e6:.2f} M", _m(d["instructions"]), f"{r['macs'] / d['instructions']:.2f}",
               _m(b.reference) if b.reference else "not measured",
               f"{d['instructions'] / b.reference:.2f}x" if b.reference else "-", f"{c99} of {convs}"]
        if args.portable:
            pt = r["portable"]
            row += [_m(pt["instructions"]), f"{pt['instructions'] / d['instructions']:.1f}x"]
        if mve:
            do = r["dsp_only"]
            row += [_m(do["instructions"]), f"{r['macs'] / do['instructions']:.2f}",
                    f"{do['instructions'] / d['instructions']:.2f}x fewer"]
        rows.append(row)
    kind = "portable C99 build (no DSP extension)" if board.core.startswith("rv") else "DSP build"
    if mve:
        kind = "Helium (MVE) build, beside the DSP kernels' build (-DTG_NO_MVE) on the same board"
    print(f"\nSpeed: instructions per inference on QEMU {board.emulator.machine} ({board.core}, -icount shift=0), "
          f"{kind}\n")
    print(_table(headers, rows, markdown=md))

    # ---------------------------------------------------------------- memory
    headers = ["model", "arena", "live-tensor bound", "arena / bound", "TFLM arena", "weights", "kernels+runtime",
               "run() code", "libc", "stack"]
    rows = []
    for b in done:
        r, d = b.result, b.result["dsp"]
        gr = d["groups"]
        rows.append([b.label, f"{d['arena']:,}", f"{r['live_bound']:,}",
                     f"{d['arena'] / r['live_bound']:.2f}" if r["live_bound"] else "-",
                     f"{b.tflm_arena:,}" if b.tflm_arena else "-", f"{gr.get('model_const', 0):,}",
                     f"{d['tinygen_code']:,}", f"{gr.get('model_code', 0):,}", f"{gr.get('libc', 0):,}", f"{d['stack']:,}"])
    print("\nMemory (bytes; DSP build; arena includes kernel scratch; flash without the benchmark's main() and input)\n")
    print(_table(headers, rows, markdown=md))

    # ---------------------------------------------------------------- checks
    print()
    ok = True
    for b in done:
        r, d = b.result, b.result["dsp"]
        bound = r["live_bound"]
        budget = CODE_BUDGET_RV32 if args.board == "qemu-riscv32" else CODE_BUDGET
        checks = [("output bit-exact with the emulator", d["bit_exact"])]
        budgeted = any(k in b.name.lower() for k in BUDGET_MODELS) and not helium
        if budgeted:
            checks.append((f"kernels+runtime {d['tinygen_code']:,} B <= {budget:,} B", d["tinygen_code"] <= budget))
        if args.portable:
            checks.append(("C99 build bit-exact too", r["portable"]["bit_exact"]))
        if mve:
            checks.append(("DSP build (-DTG_NO_MVE) bit-exact too", r["dsp_only"]["bit_exact"]))
        info = [] if budgeted else [
            f"kernels+runtime {d['tinygen_code']:,} B (" + ("a Helium build carries the Helium and the DSP kernels; the "
                                                           f"{budget:,} B budget is checked on DSP builds)" if helium else
                                                           f"the {budget:,} B budget is for DS-CNN / MobileNet models)")]
        info += [f"arena {d['arena']:,} B vs 1.05 x live bound + 64 = {int(1.05 * bound + 64):,} B "
                f"({'within' if d['arena'] <= 1.05 * bound + 64 else 'above'})"]
        if b.reference:
            info.append(f"{d['instructions'] / b.reference:.2f}x TFLM+CMSIS-NN (target <= 0.6x)")
        for _, good in checks:
            ok &= good
        print(f"{b.label}: " + "; ".join(f"{t} {'ok' if g_ else 'FAILED'}" for t, g_ in checks) + "; " + "; ".join(info))

    if args.json:
        args.json.write_text(json.dumps({b.label: dict(b.result, path=str(b.path)) for b in done}, indent=1, default=int))
    if tmp is not None:
        tmp.cleanup()
    if failed:
        print(f"failed to build or run: {', '.join(failed)}")
    return 0 if ok and not failed else 1


def print_layers(b: Bench) -> None:
    r = b.result
    layers = r["dsp"].get("layers", [])
    inferred = any(k["kernel"].endswith("*") for k in r["kernels"])
    print(f"\n{b.label}: per layer (layer-timing build: about 100 instructions of hook per layer"
          + ("; kernel *: inferred from the op's scratch request, the op reports no variant itself)" if inferred else ")"))
    head = ["#", "op", "MACs", "instr", "MAC/instr", "kernel", "why", "scratch B", "shape"]
    rows = []
    for i, op in enumerate(r["ops"]):
        c = layers[i] if i < len(layers) else 0
        k = r["kernels"][i]
        rows.append([str(i), op, f"{r['op_macs'][i]:,}", f"{c:,}",
                     f"{r['op_macs'][i] / c:.2f}" if c and r["op_macs"][i] else "-", k["kernel"],
                     k["kernel_reason"], f"{k['scratch_bytes']:,}", k["desc"]])
    print(_table(head, rows, right={0, 2, 3, 4, 7}, markdown=False), flush=True)


def _describe(g, op) -> str:
    """Shapes of a conv / depthwise / FC layer, from the graph (any dtype variant)."""
    try:
        x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        w = g.tensors[op.inputs[1]]
        if op.op in CONV_OPS:
            return (f"{'x'.join(map(str, x.shape[1:]))} -> {'x'.join(map(str, y.shape[1:]))}, "
                    f"{w.shape[1]}x{w.shape[2]}/{op.options.get('stride_h', 1)}")
        if op.op == "FULLY_CONNECTED":
            return f"{w.shape[-1]} -> {w.shape[0]}"
    except (IndexError, TypeError):
        pass
    return ""


if __name__ == "__main__":
    sys.exit(main())
