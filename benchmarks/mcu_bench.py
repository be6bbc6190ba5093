"""tinygen on an emulated Cortex-M4: instructions per inference of the four MLPerf-Tiny-shaped zoo
models, against TFLite Micro + CMSIS-NN on the same emulator.

    .venv/bin/python benchmarks/mcu_bench.py                  # DSP kernels (the default build)
    .venv/bin/python benchmarks/mcu_bench.py --portable       # also the C99 kernels (-DTG_PORTABLE): speed-up
    .venv/bin/python benchmarks/mcu_bench.py --layers         # + instructions per layer
    .venv/bin/python benchmarks/mcu_bench.py --models resnet8_ic --json out.json

Each model is generated for `qemu-cortex-m4` (QEMU mps2-an386, arm-none-eabi-gcc -O2, -mcpu=cortex-m4
-mfpu=fpv4-sp-d16 -mfloat-abi=hard) into its own firmware with one random input baked in, and run
under `-icount shift=0`, where one instruction is one virtual nanosecond: `tg_cycles()` (SysTick x 40)
around `NAME_run()` (bracketed by `tg_bench_begin()` / `tg_bench_end()`, marker cost subtracted) counts
instructions, deterministically, at a resolution of 40. The output is checked against the emulator.

Columns:
- instr: instructions per inference; MAC/instr: MACs (tinygen.analysis.inspect.model_stats) per instruction;
- ref: TFLite Micro + CMSIS-NN on this emulator (from the issue), and tinygen's speed-up over it;
- arena: tinygen's static plan (with the DSP kernels' scratch) vs TFLite Micro's arena (the
  recording allocator's total on the host, 64-bit pointers: a 32-bit target needs a little less);
- flash: arm-none-eabi-size of the firmware (text + data) split from the linker map into weights
  (the generated model's constants: weights, biases, requantization parameters), tinygen code
  (kernels + runtime, the 12 KB budget), the generated run() code, libc/libgcc, and the benchmark's
  own main() + baked input;
- stack: high-water mark of the whole firmware (painted stack), main() included.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

BOARD = "qemu-cortex-m4"
MODELS = ["ds_cnn_kws", "mobilenet_v1_025_vww", "resnet8_ic", "fc_autoencoder_ad"]
LABELS = {"ds_cnn_kws": "DS-CNN (KWS)", "mobilenet_v1_025_vww": "MobileNetV1-0.25 (VWW)",
          "resnet8_ic": "ResNet-8 (IC)", "fc_autoencoder_ad": "FC autoencoder (AD)"}
# TFLite Micro + CMSIS-NN on this emulator (issue 4): instructions per inference
REFERENCE = {"ds_cnn_kws": 7.70e6, "mobilenet_v1_025_vww": 24.1e6, "resnet8_ic": 29.9e6, "fc_autoencoder_ad": 0.58e6}
TARGET_MAC_PER_INSTR = {"ds_cnn_kws": 0.45, "mobilenet_v1_025_vww": 0.45, "resnet8_ic": 0.45, "fc_autoencoder_ad": 0.5}
CODE_BUDGET = 12 * 1024


def _parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    ap.add_argument("--portable", action="store_true", help="also build and run the C99 kernels (-DTG_PORTABLE)")
    ap.add_argument("--layers", action="store_true", help="print instructions per layer (TG_LAYER_TIMING build)")
    ap.add_argument("--no-tflm", action="store_true", help="skip measuring TFLite Micro's arena")
    ap.add_argument("--json", type=Path, help="write the results as JSON")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--build-dir", type=Path, help="keep the firmware here (default: a temporary directory)")
    return ap.parse_args(argv)


def _measure(name, g, x, out_dir: Path, portable: bool, layers: bool):
    import numpy as np

    from tinygen.emulator.engine import Emulator
    from tinygen.boards.firmware_build import memory_usage
    from tinygen.boards.mcu_run import build_models, code_sizes, run_models

    fw = build_models(BOARD, {name: g}, {name: [x]}, out_dir, portable=portable)
    res = run_models(fw, timeout=600)
    sample = res.models[name][0]
    ref = Emulator(g).run_internal([np.stack([xi]) for xi in x])
    exact = all(np.array_equal(a, b[0]) for a, b in zip(sample.outputs, ref))
    sizes = code_sizes(fw)
    use = memory_usage(fw.elf)
    out = dict(instructions=sample.instructions, bit_exact=exact, stack=res.stack_used, flash=use.flash,
               groups=sizes.groups, tinygen_code=sizes.tinygen_code, arena=fw.generated[name].arena_bytes,
               functions=sizes.functions)
    if layers:
        fwl = build_models(BOARD, {name: g}, {name: [x]}, out_dir / "layers", portable=portable, layer_timing=True)
        out["layers"] = run_models(fwl, timeout=600).layers[name]
    return out


def _table(headers, rows, right=None):
    right = set(range(1, len(headers))) if right is None else right
    widths = [max(len(str(r[i])) for r in [headers] + rows) for i in range(len(headers))]
    fmt = lambda r: "| " + " | ".join(str(c).rjust(w) if i in right else str(c).ljust(w)  # noqa: E731
                                        for i, (c, w) in enumerate(zip(r, widths))) + " |"
    sep = "|" + "|".join(("-" * (w + 1) + ":") if i in right else (":" + "-" * (w + 1)) for i, w in enumerate(widths)) + "|"
    return "\n".join([fmt(headers), sep] + [fmt(r) for r in rows])


def _m(v: float) -> str:
    return f"{v / 1e6:.2f} M"


def main(argv=None) -> int:
    args = _parse_args(argv)
    import numpy as np

    from tinygen.analysis.inspect import model_stats
    from tinygen.ops import REGISTRY
    from tinygen.model.reader import read_model
    from tests.support.zoo import build_zoo

    zoo = build_zoo(args.models)
    rng = np.random.default_rng(args.seed)
    tmp = None
    if args.build_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="tinygen-mcu-bench-")
        base = Path(tmp.name)
    else:
        base = args.build_dir
    results = {}
    for name in args.models:
        g = read_model(zoo[name])
        stats = model_stats(g)
        x = [rng.integers(-128, 128, size=tuple(t.shape), dtype=np.int8) for t in g.input_tensors]
        r = {"macs": stats.macs, "reference_instructions": REFERENCE[name]}
        print(f"{name}: building and running ...", file=sys.stderr, flush=True)
        r["dsp"] = _measure(name, g, x, base / name / "dsp", False, args.layers)
        if args.portable:
            r["portable"] = _measure(name, g, x, base / name / "portable", True, args.layers)
        if not args.no_tflm:
            from tinygen.codegen.tflm import tflm_arena_bytes

            r["tflm_arena"] = tflm_arena_bytes(zoo[name].read_bytes())
        r["ops"] = [op.op for op in g.operators]
        r["op_macs"] = [o.macs for o in stats.ops]
        r["op_desc"] = [_describe(REGISTRY[op.op], g, op) for op in g.operators]
        results[name] = r

    # ---------------------------------------------------------------- speed
    headers = ["model", "MACs", "instr", "MAC/instr", "TFLM+CMSIS-NN instr", "MAC/instr ", "vs TFLM"]
    if args.portable:
        headers += ["C99 instr", "C99 MAC/instr", "DSP vs C99"]
    rows = []
    for name, r in results.items():
        d = r["dsp"]
        row = [LABELS[name], f"{r['macs'] / 1e6:.2f} M", _m(d["instructions"]), f"{r['macs'] / d['instructions']:.2f}",
               _m(r["reference_instructions"]), f"{r['macs'] / r['reference_instructions']:.2f}",
               f"{r['reference_instructions'] / d['instructions']:.2f}x"]
        if args.portable:
            pt = r["portable"]
            row += [_m(pt["instructions"]), f"{r['macs'] / pt['instructions']:.3f}",
                    f"{pt['instructions'] / d['instructions']:.1f}x"]
        rows.append(row)
    print("\nSpeed: instructions per inference on QEMU mps2-an386 (Cortex-M4, -icount shift=0)\n")
    print(_table(headers, rows))

    # ---------------------------------------------------------------- memory
    headers = ["model", "arena", "TFLM arena", "flash", "weights", "kernels+runtime", "run() code", "libc", "stack"]
    rows = []
    for name, r in results.items():
        d = r["dsp"]
        gr = d["groups"]
        rows.append([LABELS[name], f"{d['arena']:,}", f"{r['tflm_arena']:,}" if "tflm_arena" in r else "-",
                     f"{d['flash'] - gr.get('main', 0):,}", f"{gr.get('model_const', 0):,}", f"{d['tinygen_code']:,}",
                     f"{gr.get('model_code', 0):,}", f"{gr.get('libc', 0):,}", f"{d['stack']:,}"])
    print("\nMemory (bytes; DSP build; flash without the benchmark's main() and baked input)\n")
    print(_table(headers, rows))

    # ---------------------------------------------------------------- checks
    print()
    ok = True
    for name, r in results.items():
        d = r["dsp"]
        mpi = r["macs"] / d["instructions"]
        checks = [(f"MAC/instr {mpi:.2f} >= {TARGET_MAC_PER_INSTR[name]}", mpi >= TARGET_MAC_PER_INSTR[name]),
                  (f"kernels+runtime {d['tinygen_code']:,} B <= {CODE_BUDGET:,} B", d["tinygen_code"] <= CODE_BUDGET),
                  ("output bit-exact with the emulator", d["bit_exact"])]
        if args.portable:
            checks.append(("C99 build bit-exact too", r["portable"]["bit_exact"]))
        for text, good in checks:
            ok &= good
        print(f"{name}: " + "; ".join(f"{t} {'ok' if g_ else 'FAILED'}" for t, g_ in checks))

    if args.layers:
        for name, r in results.items():
            print(f"\n{name}: instructions per layer (layer-timing build: ~100 instructions of hook per layer)")
            builds = [("dsp", r["dsp"])] + ([("C99", r["portable"])] if args.portable else [])
            head = ["#", "op", "MACs"] + [h for b, _ in builds for h in (f"{b} instr", f"{b} MAC/instr")] + ["shape"]
            rows = []
            for i, op in enumerate(r["ops"]):
                row = [str(i), op, f"{r['op_macs'][i]:,}"]
                for _, b in builds:
                    c = b["layers"][i] if i < len(b["layers"]) else 0
                    row += [f"{c:,}", f"{r['op_macs'][i] / c:.2f}" if c and r["op_macs"][i] else "-"]
                rows.append(row + [r["op_desc"][i]])
            print(_table(head, rows, right={0, 2, 3, 4, 5, 6} - {len(head) - 1}))

    if args.json:
        for r in results.values():
            for k in ("dsp", "portable"):
                if k in r:
                    r[k].pop("functions", None)
        args.json.write_text(json.dumps(results, indent=1))
    if tmp is not None:
        tmp.cleanup()
    return 0 if ok else 1


def _describe(impl, g, op) -> str:
    try:
        p = impl.prepare(g, op)
    except Exception:  # pragma: no cover
        return ""
    if op.op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        (_, h, w, c), (_, oh, ow, oc) = p.input_shape, p.output_shape
        return f"{h}x{w}x{c} -> {oh}x{ow}x{oc}, {p.filter_hw[0]}x{p.filter_hw[1]}/{p.stride[0]}"
    if op.op == "FULLY_CONNECTED":
        return f"{p.accum_depth} -> {p.units}"
    return ""


if __name__ == "__main__":
    sys.exit(main())
