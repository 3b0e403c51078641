"""Wall time and peak memory of the demo with the shipped microworld models: a 240-frame video from a
prompt (stages 1–2 at 32×32) enhanced to 64×64 (stage 3), written as mp4 — what ``make demo`` does.

Usage: ``python bench/bench_demo.py --threads 2`` (recommended sampler / enhancer settings stored with
the models; ``--steps`` etc. override them). Results go to ``bench/results/demo_cpu.md`` with the machine
named. Peak memory = the process's max RSS. The video is made ``--repeats`` times (the same seed, so
the same work) and each phase's median, fastest and slowest are reported: shared CPUs vary by a third
from run to run.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompt", default="a red circle bouncing on a blue background")
    ap.add_argument("--frames", type=int, default=240)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=None, help="stage-2 steps (default: the model's)")
    ap.add_argument("--init-steps", type=int, default=None, help="stage-1 steps (default: the model's)")
    ap.add_argument("--enhance-steps", type=int, default=None, help="stage-3 steps (default: the refiner's)")
    ap.add_argument("--out", default="bench/results/demo_cpu.md")
    ap.add_argument("--video", default=None, help="also keep the mp4 here")
    ap.add_argument("--repeats", type=int, default=3, help="videos made (the median is reported)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from streamt2v.assets import microworld_model_dir, microworld_refiner_dir
    from streamt2v.io.video import write_video
    from streamt2v.memory import describe_machine
    from streamt2v.models.bundle import StreamingT2VModel
    from streamt2v.pipeline.enhance import enhance_video
    from streamt2v.pipeline.generate import StreamingT2VPipeline
    from streamt2v.pipeline.refiner import Refiner

    if args.repeats < 1:
        ap.error(f"--repeats must be at least 1, got {args.repeats}")
    times: dict[str, list[float]] = {}
    t = time.perf_counter()
    model = StreamingT2VModel.from_pretrained(microworld_model_dir(), torch_dtype=torch.float32)
    refiner = Refiner.from_pretrained(microworld_refiner_dir())
    times["load"] = [time.perf_counter() - t]

    sampler = dict(model.sampler)
    if args.steps is not None:
        sampler["steps"] = args.steps
    if args.init_steps is not None:
        sampler["init_steps"] = args.init_steps
    enhance = dict(refiner.recommended)
    if args.enhance_steps is not None:
        enhance["num_inference_steps"] = args.enhance_steps

    for _ in range(args.repeats):
        t = time.perf_counter()
        video = StreamingT2VPipeline(model)(args.prompt, args.frames, seed=args.seed, **sampler)
        times.setdefault("stages 1-2", []).append(time.perf_counter() - t)
        t = time.perf_counter()
        big = enhance_video(
            video, args.prompt, refiner, refiner.config(**enhance), seed=args.seed, progress=False
        )
        times.setdefault("stage 3", []).append(time.perf_counter() - t)
        t = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            write_video(args.video or Path(tmp) / "demo.mp4", big[0], float(model.fps))
        times.setdefault("write mp4", []).append(time.perf_counter() - t)
    # a run's total: the one load plus that run's phases
    times["total"] = [
        times["load"][0] + sum(phase)
        for phase in zip(times["stages 1-2"], times["stage 3"], times["write mp4"])
    ]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    lines = [
        "# Demo on CPU (shipped microworld models)",
        "",
        f"`{args.prompt}`, {args.frames} frames, seed {args.seed}: stages 1–2 at "
        f"{model.config.frame_size}×{model.config.frame_size}, stage 3 to "
        f"{refiner.frame_size[0]}×{refiner.frame_size[1]}, mp4 written. Machine: {describe_machine()}.",
        "",
        f"Sampler: `{json.dumps(sampler)}`; enhancer: `{json.dumps(enhance)}`.",
        "",
        f"Seconds over {args.repeats} video(s) (the models loaded once):",
        "",
        "| phase | median | fastest | slowest |",
        "|---|---:|---:|---:|",
        *[
            f"| {k} | {statistics.median(v):.1f} | {min(v):.1f} | {max(v):.1f} |"
            if k != "total"
            else f"| **total** | **{statistics.median(v):.1f}** | {min(v):.1f} | {max(v):.1f} |"
            for k, v in times.items()
        ],
        "",
        f"Peak memory (max RSS): {rss:.0f} MiB. Goal: ≤ 60 s on 2 CPU cores.",
    ]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
