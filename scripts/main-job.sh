#!/usr/bin/env bash
# The main job, end to end as far as tinygen goes today, on the example model.
# Run scripts/setup.sh first (README command 1 does).
set -euo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL=2
TG=.venv/bin/tinygen
MODEL=examples/kws_micro.tflite
OUT=${OUT:-out/kws_micro}
mkdir -p "$OUT"

echo "== inspect"
$TG inspect "$MODEL"
echo "== convert (C array for TFLite Micro users)"
$TG convert "$MODEL" -o "$OUT/carray" --tflm
echo "== emulate (bit-exact host reference) on 8 random inputs"
.venv/bin/python -c "import numpy as np; np.save('$OUT/inputs.npy', np.random.default_rng(0).integers(-128, 128, (8, 49, 10, 1), dtype=np.int8))"
$TG emulate "$MODEL" --inputs "$OUT/inputs.npy" --output "$OUT/outputs.npy"
