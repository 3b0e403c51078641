"""Run every benchmark with its defaults (``make bench``), one after the other, each writing its results
file naming the machine it ran on.

By default the results go to ``bench/results/``, replacing the committed figures there; ``--out DIR``
writes them elsewhere. On 2 CPU cores the whole run takes roughly 13 minutes (an estimate from the
committed results' wall times; see bench/README.md). Usage:
``python bench/run_all.py [--only demo generate ...] [--threads N] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from _common import RESULTS, make_folder, positive

HERE = Path(__file__).resolve().parent
# name → arguments of bench/bench_NAME.py
BENCHMARKS: dict[str, list[str]] = {
    "demo": [],
    "generate": ["--model", "microworld"],
    "enhance": [],
    "metrics": [],
    "train": [],
}


def minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " ").replace("``", ""))
    ap.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run only these benchmarks")
    ap.add_argument(
        "--threads",
        type=positive,
        help="torch threads for every benchmark (default: each script's own: 2 for demo, torch's for the others)",
    )
    ap.add_argument(
        "--out",
        metavar="DIR",
        help="folder for the results files (default: bench/results beside this script, replacing the "
        "committed ones)",
    )
    args = ap.parse_args()
    # Checked (and created) before the first benchmark: a bad folder would otherwise fail in each script.
    if args.out is not None and not args.out.strip():  # "" would be the current folder
        ap.error("--out is empty; give a folder")
    out_dir = RESULTS if args.out is None else Path(args.out).expanduser().resolve()
    make_folder(ap, out_dir, "--out")
    if not os.access(out_dir, os.W_OK):
        ap.error(f"--out: cannot write into {str(out_dir)!r} (permission denied)")
    names = [name for name in BENCHMARKS if not args.only or name in args.only]
    if out_dir == RESULTS:
        print(f"writing into {out_dir}, replacing the committed results (--out DIR to keep them)", flush=True)
    start = time.perf_counter()
    for i, name in enumerate(names, 1):
        cmd = [sys.executable, str(HERE / f"bench_{name}.py"), *BENCHMARKS[name], "--out", f"{out_dir}/"]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        print(f"[{i}/{len(names)}] {name}: {' '.join(cmd[1:])}", flush=True)
        t0 = time.perf_counter()
        returncode, stopped_by = run_benchmark(cmd)
        terminated = stopped_by == signal.SIGTERM or returncode in (143, -signal.SIGTERM)
        if terminated or stopped_by or returncode in (130, -signal.SIGINT):
            # a stopped benchmark said on its own line what it kept
            how = "finished" if returncode == 0 else "stopped"
            print(f"interrupted: benchmark {name!r} {how}; later ones not run", file=sys.stderr)
            return 143 if terminated else 130
        if returncode != 0:
            print(f"error: benchmark {name!r} failed (command above); later ones not run", file=sys.stderr)
            return 1
        print(
            f"[{i}/{len(names)}] {name} done in {minutes(time.perf_counter() - t0)} "
            f"(all so far: {minutes(time.perf_counter() - start)})",
            flush=True,
        )
    print(f"results in {out_dir}", flush=True)
    return 0


def run_benchmark(cmd: list[str]) -> tuple[int, int | None]:
    """Run one benchmark to its end: ``(its exit code, the signal that stopped this process or None)``.

    A Ctrl-C reaches the benchmark by itself (the terminal signals the whole process group), which saves
    what it measured and exits 130: here it is only noted, and the benchmark waited for (raising
    KeyboardInterrupt would kill it a quarter-second later, in the middle of that). A SIGTERM sent to
    this process alone is passed on to the benchmark, which stops the same way (143)."""
    stopped_by: list[int] = []
    proc = subprocess.Popen(cmd)

    def on_signal(signum, _frame) -> None:
        stopped_by.append(signum)
        if signum == signal.SIGTERM:
            proc.send_signal(signal.SIGTERM)

    previous = {kind: signal.signal(kind, on_signal) for kind in (signal.SIGINT, signal.SIGTERM)}
    try:
        returncode = proc.wait()
    finally:
        for kind, handler in previous.items():
            if handler is not None:
                signal.signal(kind, handler)
    return returncode, (stopped_by[0] if stopped_by else None)


if __name__ == "__main__":
    sys.exit(main())
