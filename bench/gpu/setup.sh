# Source this ON THE GPU MACHINE at the start of every call, from the repository root:
#   source bench/gpu/setup.sh
# Installs the carried wheels (.whl, and .whl-av when carried) into /tmp/site, puts them and src/ on
# PYTHONPATH (the image's python3 holds torch with CUDA; nothing can be installed from a registry there),
# and checks that streamt2v imports and sees the GPU before any work. DEVICE=cpu (a dry run of the calls
# on a machine without a GPU, with the project's .venv active and no wheels) skips the GPU checks.
export DEVICE=${DEVICE:-cuda}
# $OUT (the files that come back) exists on the GPU machine; a dry run here may name a new folder, where
# step's log and call 2's copies would fail (step's benchmark then did not run at all)
if [ -n "${OUT:-}" ]; then mkdir -p "$OUT" || return 1; fi
for wheels in .whl .whl-av; do
  if ls "$wheels"/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
      "$wheels"/*.whl || return 1
  fi
done
export PYTHONPATH=/tmp/site:$PWD/src${PYTHONPATH:+:$PYTHONPATH}
[ "$DEVICE" = cpu ] || nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || return 1
python3 - <<'PY' || return 1
import torch, diffusers, transformers, accelerate
import streamt2v
import os
if os.environ["DEVICE"] != "cpu":
    assert torch.cuda.is_available(), "torch sees no CUDA device"
    print("gpu", torch.cuda.get_device_name())
print("torch", torch.__version__, "diffusers", diffusers.__version__, "transformers", transformers.__version__,
      "accelerate", accelerate.__version__)
PY

# step SECONDS NAME COMMAND...: one benchmark with its own time limit (a slow one costs only itself; a
# SIGTERM lets the bench scripts keep the rows they measured), its output appended to $OUT/calls.log (at
# most 8 files come back from a call), how it ended said on stdout.
step() {
  local limit=$1 name=$2 t0=$SECONDS
  shift 2
  echo "== $name: $*" >>"$OUT/calls.log"
  timeout --signal=TERM --kill-after=20 "$limit" "$@" >>"$OUT/calls.log" 2>&1
  echo "$name: exit $? after $((SECONDS - t0)) s" | tee -a "$OUT/calls.log"
}
