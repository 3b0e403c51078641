"""Frames/s and peak memory of stages 1-2 vs. video length on CPU (tiny preset, random weights).

Usage: ``OMP_NUM_THREADS=1 python bench/bench_generate.py --lengths 80 240 600 1200 --steps 1``.
Results go to ``bench/results/generate_cpu.md`` with the machine named. Peak memory = the process's max
RSS (CPU); it must stay flat with length (finished chunks are not kept by the stream).
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lengths", type=int, nargs="+", default=[80, 240, 600, 1200])
    ap.add_argument("--steps", type=int, default=1)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "generate_cpu.md"))
    args = ap.parse_args()

    from streamt2v.memory import describe_machine
    from streamt2v.models.bundle import StreamingT2VModel
    from streamt2v.pipeline.stream import StreamConfig, stream

    model = StreamingT2VModel.from_preset(args.preset, device="cpu", seed=0)
    rows = []
    for n in args.lengths:
        cfg = StreamConfig(num_frames=n, steps=args.steps, init_steps=args.steps)
        t0, frames = time.perf_counter(), 0
        for chunk in stream(model, "a red circle bouncing", cfg):
            frames += chunk.frames.shape[2]
        dt = time.perf_counter() - t0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB (Linux: KiB)
        rows.append((n, dt, frames / dt, rss))
        print(f"{n} frames: {dt:.1f} s, {frames / dt:.2f} frames/s, max RSS {rss:.0f} MiB")
    machine = describe_machine()
    lines = [
        "# Stages 1-2 on CPU",
        "",
        f"Preset `{args.preset}` (random weights), {args.steps} denoising step(s) per chunk in both stages, "
        f"CFG on (batched). Machine: {machine}; torch {torch.__version__}.",
        "",
        "| frames | seconds | frames/s | process max RSS (MiB) |",
        "|---:|---:|---:|---:|",
        *[f"| {n} | {dt:.1f} | {fps:.2f} | {rss:.0f} |" for n, dt, fps, rss in rows],
        "",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines))


if __name__ == "__main__":
    main()
