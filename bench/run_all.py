"""Run every benchmark with its defaults (``make bench``); each writes ``bench/results/*.md`` naming the
machine it ran on, replacing the figures of the last run there.

Usage: ``python bench/run_all.py [--only demo generate ...]``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
# name → arguments of bench/bench_NAME.py
BENCHMARKS: dict[str, list[str]] = {
    "demo": [],
    "generate": ["--model", "microworld"],
    "enhance": [],
    "metrics": [],
    "train": [],
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run only these benchmarks")
    args = ap.parse_args()
    for name in args.only or list(BENCHMARKS):
        cmd = [sys.executable, str(HERE / f"bench_{name}.py"), *BENCHMARKS[name]]
        print(f"== {name}: {' '.join(cmd[1:])}", flush=True)
        t0 = time.perf_counter()
        if subprocess.run(cmd).returncode != 0:
            print(f"benchmark {name!r} failed (command above); later ones not run", file=sys.stderr)
            return 1
        print(f"== {name}: {time.perf_counter() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
