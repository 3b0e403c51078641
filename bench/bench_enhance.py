"""Enhancer speed: seconds per frame, all chunks of a step batched vs chunk-sequential (paper §4.3).

CPU, tiny random-weight refiner (``Refiner.random``: the tiny preset UNet): ``python bench/bench_enhance.py``.
Writes ``bench/results/enhance_cpu.md`` with the machine named. Not asserted anywhere.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import torch

from streamt2v.memory import describe_machine
from streamt2v.pipeline.enhance import EnhanceConfig, enhance_video
from streamt2v.pipeline.refiner import Refiner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=56)
    parser.add_argument("--size", type=int, default=32, help="input frame size; refiner at twice that")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "enhance_cpu.md"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    refiner = Refiner.random((2 * args.size, 2 * args.size), seed=0)
    video = torch.rand(1, 3, args.frames, args.size, args.size, generator=torch.Generator().manual_seed(0))
    video = video * 2 - 1
    rows = []
    outs = {}
    for label, cap in (("chunk-sequential", 1), ("batched 2", 2), ("batched all", 1000)):
        cfg = EnhanceConfig(num_inference_steps=args.steps, max_batch_chunks=cap)
        best = float("inf")
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            outs[label] = enhance_video(video, "a red circle", refiner, cfg, seed=0, progress=False)
            best = min(best, time.perf_counter() - t0)
        rows.append((label, cap, best, best / args.frames))
    diff = (outs["batched all"] - outs["chunk-sequential"]).abs().max().item()
    n_chunks = len(range(0, args.frames - 24, 16)) + 1
    lines = [
        "# Enhancer speed (CPU)",
        "",
        f"Machine: {describe_machine()}.",
        f"Tiny random-weight refiner at {2 * args.size}x{2 * args.size}, {args.frames} frames "
        f"({n_chunks} chunks of 24, overlap 8), {args.steps} DPM++ 2M SDE steps, CFG 7.5, "
        f"best of {args.repeats}. Produced by `bench/bench_enhance.py`.",
        "",
        "| schedule | max_batch_chunks | seconds | s/frame |",
        "|---|---|---|---|",
        *(f"| {label} | {cap} | {sec:.2f} | {spf:.4f} |" for label, cap, sec, spf in rows),
        "",
        f"Max |batched − sequential| over the output video: {diff:.2e}.",
        "",
        "On a CPU batching only saves per-call overhead; its purpose is GPU utilisation. "
        "Timings on a shared machine are noisy.",
        "",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
