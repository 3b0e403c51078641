#!/usr/bin/env bash
# Call 3 of a GPU session, ON THE GPU MACHINE (carry .whl and .whl-av), ~9 minutes: the full-size
# architecture (random weights) where it is not measured yet: stage 3 at the official setting (256x256 into
# a 720x1280 canvas, 30 steps from t = 600; bench/README.md) and stages 1-2 compiled with inductor.
#   bash bench/gpu/call3_fullsize.sh
set -u
source bench/gpu/setup.sh || exit 1
out=${OUT:?OUT is the folder whose files come back}
# one schedule per step, each its own file (minutes each at full size: a time limit costs only its own)
step 180 enhance-1.7b-batched python3 bench/bench_enhance.py --preset modelscope-1.7b --device "$DEVICE" \
  --dtype bf16 --frames 48 --steps 30 --repeats 1 --schedules batched-all \
  --out "$out/enhance_modelscope-1.7b_${DEVICE}_bf16_batched.md"
step 130 enhance-1.7b-sequential python3 bench/bench_enhance.py --preset modelscope-1.7b --device "$DEVICE" \
  --dtype bf16 --frames 48 --steps 30 --repeats 1 --schedules chunk-sequential \
  --out "$out/enhance_modelscope-1.7b_${DEVICE}_bf16_sequential.md"
step 170 gen-1.7b-compile python3 bench/bench_generate.py --preset modelscope-1.7b --steps 50 --device "$DEVICE" \
  --dtype bf16 --compile --lengths 80 --out "$out/generate_modelscope-1.7b_${DEVICE}_bf16_compile.md"
ls -la "$out"
