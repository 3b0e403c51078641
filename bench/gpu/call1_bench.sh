#!/usr/bin/env bash
# Call 1 of a GPU session, ON THE GPU MACHINE (carry .whl and .whl-av), ~7 minutes: the shipped model's
# figures on a GPU and the training step times that size call 2, each into $OUT as the bench scripts write
# them (setup.sh's `step`: each with its own time limit; one log, calls.log).
#   bash bench/gpu/call1_bench.sh
set -u
source bench/gpu/setup.sh || exit 1
out=${OUT:?OUT is the folder whose files come back}
# the shipped model with its current sampler (bench/results/generate_microworld_cuda.md is stale), then
# the same compiled with inductor
step 60 gen-microworld python3 bench/bench_generate.py --model microworld --device "$DEVICE" --lengths 80 240 \
  --out "$out/"
step 120 gen-microworld-compile python3 bench/bench_generate.py --model microworld --device "$DEVICE" \
  --compile --lengths 80 240 --out "$out/generate_microworld_${DEVICE}_compile.md"
# training speed of the UNet runs at the batch sizes a GPU run would use, bf16: call 2 sizes its steps by it
step 100 train-tiny python3 bench/bench_train.py --runs base stream --batch-sizes 8 32 64 --device "$DEVICE" \
  --mixed-precision bf16 --num-workers 4 --out "$out/"
step 80 train-small python3 bench/bench_train.py --runs base stream --batch-sizes 32 64 --device "$DEVICE" \
  --mixed-precision bf16 --num-workers 4 --preset small --out "$out/train_${DEVICE}_bf16_small.md"
ls -la "$out"
