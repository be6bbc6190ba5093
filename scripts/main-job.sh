#!/usr/bin/env bash
# The main job, end to end on the example model: model -> firmware -> emulated board (QEMU STM32F405)
# -> validated over the serial port against the host emulator. Run scripts/setup.sh first
# (README command 1 does). Needs no hardware.
set -euo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL=2
TG=.venv/bin/tinygen
MODEL=${MODEL:-examples/kws_micro.tflite}
BOARD=${BOARD:-qemu-stm32f4}
OUT=${OUT:-out/$(basename "$MODEL" .tflite)}

echo "== 1/3 inspect $MODEL"
$TG inspect "$MODEL"
echo
echo "== 2/3 run on $BOARD: generate the firmware project, build it, start the board, compare its self-test with the emulator"
$TG run "$MODEL" --board "$BOARD" -o "$OUT/$BOARD"
echo
echo "== 3/3 validate on $BOARD over the serial protocol: 20 random inputs, bit-exact against the host emulator"
$TG validate "$MODEL" --board "$BOARD" --project "$OUT/$BOARD" --samples 20
