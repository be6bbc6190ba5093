"""tinygen validate over a noisy serial link: bit-exactness, requests, resends, frame sizes and
throughput per byte error rate (issue 16).

    .venv/bin/python benchmarks/noisy_link.py                          # KWS 30 samples, VWW 5 samples
    .venv/bin/python benchmarks/noisy_link.py --only kws --rates 0 0.01 --json out.json
    .venv/bin/python benchmarks/noisy_link.py --only vww --rates 0 0.01 --repeat 3   # best of 3 seeds

Each model's firmware is built for `qemu-cortex-m4` and run in QEMU behind the fault proxy of
tests/support/faultproxy.py, which damages a fraction `rate` of the bytes in both directions at
random (half of them get one bit flipped, half are lost: `noisy(rate)`), seeded. A RESET frame
is slipped to the device after every `--reset-every`-th INFER_RUN (the device reboots; tinygen
notices, resyncs and resumes). `tinygen.device.validate.validate_link` then runs the samples
and compares every output with the emulator. The table gives, per model and rate: samples
bit-exact, requests sent and resent (frames damaged on the way out / replies damaged /
timeouts), the data bytes per INFER_CHUNK / page read the adaptive framing used (min, median,
max), recoveries (resets survived), the wire bytes sent to the device per sample (all
requests, resends included: independent of the machine's load), the inference throughput over
the link and its ratio to the clean link's (rate 0, same run). Wall-clock throughput depends on the machine's load:
compare rows of one run.

`--baud RATE` gives the proxy a line rate (each direction at most RATE/10 bytes per second,
independently, like a UART at 8N1): 115200 models a real board's default link, where the upload
time is bandwidth-bound (27 KB of VWW input take 2.4 s) instead of bound by the round trips of
an unlimited TCP link (the default).

Models: the real trained models in $TINYGEN_MODELS (default ../shared/models from the
repository, then /work/shared/models): arm_kws_micronet_m_int8 (KWS, 49x10x1 int8: 490-byte
input) and mlperf_vww_mbv1_20blk_791k_int8 (MLPerf Tiny visual wake words, MobileNetV1
96x96x3 int8: 27,648-byte input).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

BOARD = "qemu-cortex-m4"
MODELS = {
    "kws": ("arm_kws_micronet_m_int8.tflite", "KWS MicroNet-M (490 B in)", 30),
    "vww": ("mlperf_vww_mbv1_20blk_791k_int8.tflite", "VWW MobileNetV1 (27 KB in)", 5),
}


def models_dir() -> Path | None:
    env = os.environ.get("TINYGEN_MODELS")
    for d in ([Path(env)] if env else []) + [ROOT.parent / "shared" / "models", Path("/work/shared/models")]:
        if d.is_dir():
            return d
    return None


def _parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", choices=sorted(MODELS), default=sorted(MODELS))
    ap.add_argument("--rates", nargs="+", type=float, default=[0.0, 0.005, 0.01],
                    help="fractions of damaged bytes per direction (0 = the clean link)")
    ap.add_argument("--kws-samples", type=int, default=MODELS["kws"][2])
    ap.add_argument("--vww-samples", type=int, default=MODELS["vww"][2])
    ap.add_argument("--reset-every", type=int, default=10, help="slip a RESET after every Nth INFER_RUN (0: never)")
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs per rate (seeds SEED, SEED+1, ...); `best vs clean` compares each rate's best run")
    ap.add_argument("--baud", type=int, default=None,
                    help="line rate of the proxy, each direction (baud/10 bytes/s, like a UART); default: unlimited")
    ap.add_argument("--json", type=Path, help="write the results as JSON")
    return ap.parse_args(argv)


def run_one(graph, path: Path, elf: Path, rate: float, samples: int, reset_every: int, seed: int,
            baud: int | None = None) -> dict:
    from tinygen.device.protocol import CMD_INFER_RUN, CMD_RESET, encode_frame
    from tinygen.device.target import Link
    from tinygen.device.validate import size_summary, validate_link
    from tests.support.faultproxy import FaultProxy, QemuVM, noisy

    with QemuVM(BOARD, elf) as vm, FaultProxy(vm.address, seed=seed, baud=baud) as proxy:
        proxy.faults(up=noisy(rate), down=noisy(rate))
        if reset_every:
            for k in range(reset_every, samples, reset_every):
                proxy.on_frame_up(CMD_INFER_RUN, k, lambda: proxy.inject_up(encode_frame(0x4247, CMD_RESET)))
        t0 = time.monotonic()
        with Link(proxy.url, baud or 115200) as link:
            r = validate_link(link, str(path), graph, board=BOARD, samples=samples, sync_timeout=30.0)
        wall = time.monotonic() - t0
        faults = proxy.fault_counts()
        bytes_up, bytes_down = proxy.bytes_up, proxy.bytes_down
    d = r.as_dict()
    st = d["link"]
    sizes = st.get("sizes") or {}
    lo, hi, med = size_summary(sizes) if sizes else (None, None, None)
    return {
        "rate": rate, "baud": baud, "samples": d["samples"], "samples_requested": samples, "bit_exact": d["bit_exact"],
        "passed": r.passed, "error": r.error, "requests": st.get("sent", 0), "resent": st.get("resent", 0),
        "naks": st.get("naks", 0), "garbled_replies": st.get("garbled_replies", 0),
        "timeouts": st.get("timeouts", 0), "queries": st.get("queries", 0),
        "late_replies": st.get("late_replies", 0), "garbage_bytes": st.get("garbage_bytes", 0),
        "size_min": lo, "size_median": med, "size_max": hi, "sizes": sizes,
        "recoveries": len(r.recoveries), "run_s": round(r.run_s, 3), "wall_s": round(wall, 3),
        "inferences_per_s": (d["samples"] / r.run_s) if r.run_s > 0 and d["samples"] else None,
        "bytes_up": bytes_up, "bytes_down": bytes_down,
        "faults_up": sum(faults["up"].values()), "faults_down": sum(faults["down"].values()),
    }


def main(argv=None) -> int:
    args = _parse_args(argv)
    from tinygen.device.target import ensure_emulated_firmware
    from tinygen.model.reader import load_int8_model

    mdir = models_dir()
    if mdir is None:
        print("no model directory: set TINYGEN_MODELS to the shared models (see its SOURCES.md)", file=sys.stderr)
        return 2
    results = []
    for key in args.only:
        fname, label, _n = MODELS[key]
        path = mdir / fname
        if not path.is_file():
            print(f"skipping {key}: {path} not found", file=sys.stderr)
            continue
        samples = args.kws_samples if key == "kws" else args.vww_samples
        graph = load_int8_model(path)
        print(f"building {fname} for {BOARD} ...", file=sys.stderr)
        elf = ensure_emulated_firmware(graph, BOARD)
        model_rows = []
        for rate in args.rates:
            for k in range(args.repeat):
                seed = args.seed + k
                print(f"{key}: rate {rate:g}, {samples} samples, seed {seed}, "
                      f"{args.baud or 'unlimited'} baud ...", file=sys.stderr)
                res = run_one(graph, path, elf, rate, samples, args.reset_every, seed, args.baud)
                res.update(model=key, label=label, file=fname, seed=seed)
                print(f"  -> {res['samples']}/{samples} samples, bit-exact {res['bit_exact']}, "
                      f"{res['inferences_per_s'] or 0:.3f} inf/s, error {res['error']}", file=sys.stderr)
                model_rows.append(res)
        # wall-clock throughput only ever suffers from the machine's load: each rate's best run
        # is the clean comparison (`vs clean`: best at this rate / best on the clean link)
        best = {}
        for r in model_rows:
            if r["inferences_per_s"]:
                best[r["rate"]] = max(best.get(r["rate"], 0.0), r["inferences_per_s"])
        clean = best.get(0.0)
        for r in model_rows:
            r["best_inferences_per_s"] = best.get(r["rate"])
            r["vs_clean"] = (r["inferences_per_s"] / clean) if clean and r["inferences_per_s"] else None
            r["best_vs_clean"] = (best[r["rate"]] / clean) if clean and best.get(r["rate"]) else None
        results += model_rows
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    ok = all(r["passed"] for r in results)
    return 0 if ok else 1


def print_table(results: list) -> None:
    head = ("| model | line | damaged bytes | samples bit-exact | requests | resent (out / replies / timeouts) | "
            "data bytes per frame min / median / max | recoveries | KB up per sample | inferences/s | vs clean |")
    print(head)
    print("|" + "|".join(":--" if i < 3 else "--:" for i in range(head.count("|") - 1)) + "|")
    for r in results:
        sizes = (f"{r['size_min']} / {r['size_median']} / {r['size_max']}" if r["size_min"] is not None else "-")
        ips = f"{r['inferences_per_s']:.3f}" if r["inferences_per_s"] else "-"
        vs = f"{100 * r['vs_clean']:.0f}%" if r["vs_clean"] else "-"
        ok = f"{round(r['bit_exact'] * r['samples']) if r['bit_exact'] is not None else 0}/{r['samples_requested']}"
        line = f"{r['baud']} baud" if r.get("baud") else "unlimited"
        print(f"| {r['label']} | {line} | {100 * r['rate']:g}% | {ok} | {r['requests']} | "
              f"{r['resent']} ({r['naks']} / {r['garbled_replies']} / {r['timeouts']}) | {sizes} | "
              f"{r['recoveries']} | {r['bytes_up'] / 1000 / max(1, r['samples']):.1f} | {ips} | {vs} |")
    if any(r.get("seed") is not None for r in results) and max(
            sum(1 for q in results if q["model"] == r["model"] and q["rate"] == r["rate"]) for r in results) > 1:
        print("\n| model | damaged bytes | runs (seeds) | inferences/s per run | best vs best clean |")
        print("|:--|:--|--:|--:|--:|")
        seen = set()
        for r in results:
            if (r["model"], r["rate"]) in seen:
                continue
            seen.add((r["model"], r["rate"]))
            runs = [q for q in results if q["model"] == r["model"] and q["rate"] == r["rate"]]
            per = ", ".join(f"{q['inferences_per_s']:.3f}" if q["inferences_per_s"] else "-" for q in runs)
            bv = f"{100 * r['best_vs_clean']:.0f}%" if r.get("best_vs_clean") else "-"
            print(f"| {r['label']} | {100 * r['rate']:g}% | {len(runs)} ({', '.join(str(q['seed']) for q in runs)}) | "
                  f"{per} | {bv} |")
    if any(r["error"] for r in results):
        for r in results:
            if r["error"]:
                print(f"\n{r['label']} at {100 * r['rate']:g}%: {r['error']}")


if __name__ == "__main__":
    sys.exit(main())
