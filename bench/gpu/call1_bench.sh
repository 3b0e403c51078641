#!/usr/bin/env bash
# Call 1 of a GPU session, ON THE GPU MACHINE (carry .whl and .whl-av): the figures the README lists as not
# measured on a GPU yet, each into $OUT as the bench scripts write them. Each step has its own time limit,
# so a slow one costs only itself; the sum stays under the 10-minute call. One log, call1.log (at most 8
# files come back).
#   bash bench/gpu/call1_bench.sh
set -u
source bench/gpu/setup.sh || exit 1
out=${OUT:?OUT is the folder whose files come back}
step() {  # step SECONDS NAME COMMAND...: run one benchmark, say how it ended
  local limit=$1 name=$2
  shift 2
  local t0=$SECONDS
  echo "== $name: $*" >>"$out/call1.log"
  timeout --signal=TERM --kill-after=20 "$limit" "$@" >>"$out/call1.log" 2>&1
  echo "$name: exit $? after $((SECONDS - t0)) s" | tee -a "$out/call1.log"
}
# the shipped model with its current sampler (bench/results/generate_microworld_cuda.md is stale)
step 60 gen-microworld python3 bench/bench_generate.py --model microworld --device "$DEVICE" --lengths 80 240 --out "$out/"
# inductor on a GPU, small then full size
step 150 gen-microworld-compile python3 bench/bench_generate.py --model microworld --device "$DEVICE" --compile \
  --lengths 80 240 --out "$out/generate_microworld_cuda_compile.md"
# training speed of the UNet runs at the batch sizes a GPU run would use, bf16 (call 2 sizes its steps by it)
step 120 train-tiny python3 bench/bench_train.py --runs base stream --batch-sizes 8 32 64 --device "$DEVICE" \
  --mixed-precision bf16 --out "$out/"
step 90 train-small python3 bench/bench_train.py --runs base stream --batch-sizes 32 64 --device "$DEVICE" \
  --mixed-precision bf16 --preset small --out "$out/train_cuda_bf16_small.md"
# stages 1-2 at full size compiled (random weights; the uncompiled figures are in bench/results)
step 200 gen-1.7b-compile python3 bench/bench_generate.py --preset modelscope-1.7b --steps 50 --device "$DEVICE" \
  --dtype bf16 --compile --lengths 80 --out "$out/generate_modelscope-1.7b_cuda_bf16_compile.md"
ls -la "$out"
