"""Emulator speed against TFLite Micro on a MobileNetV1-0.25 96x96x3 int8 model.

    .venv/bin/python benchmarks/emulator_speed.py                 # zoo model (built on first use)
    .venv/bin/python benchmarks/emulator_speed.py --model m.tflite
    .venv/bin/python benchmarks/emulator_speed.py --synthetic     # random-weight MobileNet via ModelBuilder
    .venv/bin/python benchmarks/emulator_speed.py --threads 1     # single-threaded BLAS (TFLM is single-threaded)

Prints emulator ms/inference on one batch (default 32 samples), tflite_micro invoke
ms/inference on the same samples in the same run, and their ratio; also checks that the
two agree in every output element.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--model", type=Path, help=".tflite file (default: the zoo's mobilenet_v1_025_vww)")
    src.add_argument("--synthetic", action="store_true", help="build a random-weight MobileNetV1-0.25 with ModelBuilder")
    ap.add_argument("--batch", type=int, default=32, help="samples per batch (default 32)")
    ap.add_argument("--repeat", type=int, default=3, help="timed repetitions; the median is reported (default 3)")
    ap.add_argument("--threads", type=int, default=None, help="BLAS threads for numpy (sets OPENBLAS_NUM_THREADS etc.)")
    ap.add_argument("--seed", type=int, default=0)
    return ap.parse_args(argv)


def synthetic_mobilenet_v1_025(seed: int = 0) -> bytes:
    """MobileNetV1 alpha 0.25 on 96x96x3 with random per-channel int8 weights (no TensorFlow needed).

    Same layer shapes as the zoo model: conv 3x3/2, 13 depthwise-separable blocks, 3x3 average
    pool, fully connected to 2 classes (int8 output, no softmax)."""
    import numpy as np

    from tests.support.opmodels import ModelBuilder

    rng = np.random.default_rng(seed)
    m = ModelBuilder()
    act_scale = 0.05  # RELU6 outputs: [0, 6] over [-128, 127]
    x = m.tensor([1, 96, 96, 3], scale=0.0078125, zero_point=0, name="input")
    inp = x

    def out_scale(in_scale, w_scales, k):
        return float(in_scale * np.mean(w_scales) * np.sqrt(k) * 74 * 74 / 40)

    def conv(x, shape, in_scale, cout, k, stride, depthwise=False):
        h, w, cin = shape
        oh, ow = -(-h // stride), -(-w // stride)
        if depthwise:
            wshape, axis, kk = (1, k, k, cin), 3, k * k
        else:
            wshape, axis, kk = (cout, k, k, cin), 0, k * k * cin
        n = wshape[axis]
        ws = rng.uniform(0.002, 0.02, n)
        wt = m.tensor(wshape, data=rng.integers(-127, 128, wshape, dtype=np.int8), scale=ws, axis=axis)
        b = m.tensor([n], dtype=np.int32, data=rng.integers(-2000, 2000, n), scale=in_scale * ws)
        s = max(out_scale(in_scale, ws, kk), act_scale / 4)
        y = m.tensor([1, oh, ow, n], scale=s, zero_point=-128)
        if depthwise:
            m.op("DEPTHWISE_CONV_2D", [x, wt, b], [y], padding="SAME", stride_w=stride, stride_h=stride,
                 depth_multiplier=1, fused_activation_function="RELU6")
        else:
            m.op("CONV_2D", [x, wt, b], [y], padding="SAME", stride_w=stride, stride_h=stride,
                 fused_activation_function="RELU6")
        return y, (oh, ow, n), s

    y, shape, s = conv(x, (96, 96, 3), 0.0078125, 8, 3, 2)
    blocks = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    for filters, stride in blocks:
        y, shape, s = conv(y, shape, s, shape[2], 3, stride, depthwise=True)
        y, shape, s = conv(y, shape, s, filters // 4, 1, 1)
    pooled = m.tensor([1, 1, 1, shape[2]], scale=s, zero_point=-128)
    m.op("AVERAGE_POOL_2D", [y], [pooled], padding="VALID", stride_w=3, stride_h=3, filter_width=3, filter_height=3)
    ws = 0.01
    wt = m.tensor([2, shape[2]], data=rng.integers(-127, 128, (2, shape[2]), dtype=np.int8), scale=ws)
    b = m.tensor([2], dtype=np.int32, data=rng.integers(-2000, 2000, 2), scale=s * ws)
    out = m.tensor([1, 2], scale=out_scale(s, [ws], shape[2]), zero_point=0, name="output")
    m.op("FULLY_CONNECTED", [pooled, wt, b], [out])
    return m.build([inp], [out], description="synthetic MobileNetV1-0.25 96x96")


def main(argv=None) -> int:
    args = _parse_args(argv)
    if args.threads:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(ROOT))

    import numpy as np

    from tinygen.emulator.engine import Emulator
    from tinygen.model.reader import parse_model

    if args.model:
        data, source = args.model.read_bytes(), str(args.model)
    elif args.synthetic:
        data, source = synthetic_mobilenet_v1_025(args.seed), "synthetic MobileNetV1-0.25 (ModelBuilder, random weights)"
    else:
        try:
            from tests.support import zoo

            path = zoo.model_path("mobilenet_v1_025_vww")
            data, source = path.read_bytes(), f"zoo mobilenet_v1_025_vww ({path})"
        except Exception as e:  # no zoo module or no TensorFlow to build it
            print(f"zoo model unavailable ({type(e).__name__}: {e}); using the synthetic model", file=sys.stderr)
            data, source = synthetic_mobilenet_v1_025(args.seed), "synthetic MobileNetV1-0.25 (ModelBuilder, random weights)"

    from tflite_micro import runtime

    g = parse_model(data)
    emu = Emulator(g)
    rng = np.random.default_rng(args.seed)
    t_in = g.input_tensors[0]
    x = rng.integers(-128, 128, size=(args.batch,) + tuple(t_in.shape), dtype=np.int8)

    arena = 256 * 1024 + 4 * len(data) + 4 * sum(t.nbytes for t in g.tensors if not t.is_const)
    interp = runtime.Interpreter.from_bytes(data, arena_size=arena)

    def run_tflm():
        outs = []
        for s in range(args.batch):
            interp.set_input(np.ascontiguousarray(x[s]), 0)
            interp.invoke()
            outs.append(np.array(interp.get_output(0)))
        return np.stack(outs)

    emu.run_internal([x[:2]])  # warm up (allocations, BLAS threads)
    run_tflm()
    t_emu, t_tflm = [], []
    for _ in range(max(1, args.repeat)):
        t0 = time.perf_counter()
        ours = emu.run_internal([x])[0]
        t_emu.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ref = run_tflm()
        t_tflm.append(time.perf_counter() - t0)
    same = ours.shape == ref.shape and np.array_equal(ours, ref)

    e = float(np.median(t_emu)) / args.batch * 1000
    f = float(np.median(t_tflm)) / args.batch * 1000
    macs = sum(emu_op.macs(g, op) for op, emu_op in ((op, _registry()[op.op]) for op in g.operators))
    blas = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(f"model: {source}")
    print(f"  {len(g.operators)} ops, {macs / 1e6:.1f} M MACs/inference, batch {args.batch}, median of {args.repeat}, "
          f"BLAS threads: {blas}, {os.cpu_count()} CPUs")
    print()
    print(f"| {'engine':<34} | {'ms / inference':>14} |")
    print(f"|{'-' * 36}|{'-' * 16}|")
    print(f"| {'tinygen emulator (batch of %d)' % args.batch:<34} | {e:>14.3f} |")
    print(f"| {'tflite_micro invoke (same samples)':<34} | {f:>14.3f} |")
    print(f"| {'ratio emulator / tflite_micro':<34} | {e / f:>14.3f} |")
    print()
    print(f"outputs bit-exact: {'yes' if same else 'NO'}")
    return 0 if same else 1


def _registry():
    from tinygen.ops import REGISTRY

    return REGISTRY


if __name__ == "__main__":
    raise SystemExit(main())
