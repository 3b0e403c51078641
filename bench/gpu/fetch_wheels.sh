#!/usr/bin/env bash
# Run HERE (not on the GPU machine), from the repository root: download the wheels of the packages the GPU
# machine's image lacks (KINDS.md of the device tool lists what it has), for its Python 3.12 on x86-64.
#   .whl/     diffusers and the small packages it and scenedetect need (~7 MB): every call carries it
#   .whl-av/  PyAV (~36 MB): only calls that write videos carry it (the working tree + carried paths must
#             stay under 64 MiB a call)
# Both folders are ignored by git (.gitignore). Versions are constraints.txt's.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
pin() { grep -i "^$1==" constraints.txt | head -n 1; }
platforms=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
fetch() {
  local dest=$1
  shift
  mkdir -p "$dest"
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${platforms[@]}" -d "$dest" "$@"
}
fetch .whl "$(pin diffusers)" "$(pin scenedetect)" "$(pin platformdirs)" "$(pin importlib_metadata)"
fetch .whl-av "$(pin av)"
du -sh .whl .whl-av
