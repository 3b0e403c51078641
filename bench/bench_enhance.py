"""Enhancer speed: seconds per frame, all chunks of a step batched vs chunk-sequential (paper §4.3).

CPU, tiny random-weight refiner (``Refiner.random``: the tiny preset UNet): ``python bench/bench_enhance.py``.
Writes ``bench/results/enhance_cpu.md`` (beside this script; ``--out`` elsewhere) with the machine named.
Not asserted anywhere.
"""

from __future__ import annotations

import argparse
import logging
import time

from _common import command, machine, output_path, plural, positive, run, write_results

# max_batch_chunks of each timed schedule (1000: every chunk of these videos in one batch)
SCHEDULES = (("chunk-sequential", 1), ("batched 2", 2), ("batched all", 1000))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=positive, default=56, help="input video length (default 56)")
    parser.add_argument(
        "--size",
        type=positive,
        default=32,
        help="input frame size, even; the refiner works at twice that (default 32)",
    )
    parser.add_argument("--steps", type=positive, default=4, help="stage-3 denoising steps (default 4)")
    parser.add_argument(
        "--repeats", type=positive, default=2, help="runs per schedule; the fastest is reported (default 2)"
    )
    parser.add_argument("--threads", type=positive, help="torch threads (default: torch's)")
    parser.add_argument(
        "--out",
        help="results file, or a folder for enhance_cpu.md (default: bench/results/enhance_cpu.md beside this script)",
    )
    args = parser.parse_args()
    # imported after the arguments are read: --help and a bad flag take a second, not the ~10 s of these
    import torch

    from streamt2v.pipeline.enhance import chunk_plan_for, enhance_video
    from streamt2v.pipeline.enhance_config import EnhanceConfig
    from streamt2v.pipeline.refiner import Refiner

    if args.size % 2:  # Refiner.random needs a frame size (2 × --size) divisible by 4
        parser.error(
            f"--size must be even (the random refiner's frame size, twice it, must divide by 4), got {args.size}"
        )
    try:  # e.g. more steps than the default start step allows: said before any timing
        configs = [
            (label, cap, EnhanceConfig(num_inference_steps=args.steps, max_batch_chunks=cap))
            for label, cap in SCHEDULES
        ]
    except ValueError as err:
        parser.error(str(err))
    out = output_path(parser, args.out, "enhance_cpu.md")
    if args.threads:
        torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)

    refiner = Refiner.random((2 * args.size, 2 * args.size), seed=0)
    video = torch.rand(1, 3, args.frames, args.size, args.size, generator=torch.Generator().manual_seed(0))
    video = video * 2 - 1
    rows = []
    outs = {}
    for label, cap, cfg in configs:
        best = float("inf")
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            outs[label] = enhance_video(video, "a red circle", refiner, cfg, seed=0, progress=False)
            best = min(best, time.perf_counter() - t0)
        rows.append((label, cap, best, best / args.frames))
    diff = (outs["batched all"] - outs["chunk-sequential"]).abs().max().item()
    shared = configs[0][2]  # the schedules differ only in max_batch_chunks
    plan = chunk_plan_for(args.frames, shared)  # the same plan for every schedule
    chunks = plural(len(plan.starts), "chunk")
    # a video shorter than a chunk is one chunk of its own length, without overlap
    layout = f"{chunks} of {plan.chunk_frames}" + (
        f", overlap {plan.overlap}" if len(plan.starts) > 1 else ""
    )
    lines = [
        "# Enhancer speed (CPU)",
        "",
        f"Machine: {machine()}.",
        f"Tiny random-weight refiner at {2 * args.size}x{2 * args.size}, {args.frames} frames "
        f"({layout}), {plural(args.steps, f'{shared.scheduler} step')} from t = {shared.start_step}, "
        f"CFG {shared.guidance_scale:g}, best of {args.repeats}. Produced by `{command()}`.",
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
    write_results(out, "\n".join(lines))
    print("\n".join(lines))
    print(f"wrote {out}")


if __name__ == "__main__":
    run(main)
