"""Wall time and peak memory of the demo with the shipped microworld models: a 240-frame video from a
prompt (stages 1–2 at 32×32) enhanced to 64×64 (stage 3), written as mp4 — what ``make demo`` does.

Usage: ``python bench/bench_demo.py --threads 2`` (recommended sampler / enhancer settings stored with
the models; ``--steps`` etc. override them). Results go to ``bench/results/demo_cpu.md`` (beside this
script, wherever it is run from; ``--out`` elsewhere) with the machine named. Peak memory = the
process's max RSS. The video is made ``--repeats`` times (the same seed, so the same work) and each
phase's median, fastest and slowest are reported: shared CPUs vary by a third from run to run.
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

from _common import (
    check_prompt,
    command,
    machine,
    output_path,
    positive,
    quiet_library_bars,
    run,
    stamp,
    write_results,
)
from streamt2v.cli.flag_types import integer_at_least
from streamt2v.pipeline.setting_checks import SEED_LIMIT
from streamt2v.wording import counted

# What `make demo` runs (Makefile): the goal line of the results applies only to these settings.
DEMO_PROMPT = "a red circle bouncing on a blue background"
DEMO_FRAMES = 240
DEMO_THREADS = 2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " ").replace("``", ""))
    ap.add_argument(
        "--prompt", default=DEMO_PROMPT, help=f"the video's prompt (default: make demo's, {DEMO_PROMPT!r})"
    )
    ap.add_argument(
        "--frames", type=positive, default=DEMO_FRAMES, help=f"video length (default {DEMO_FRAMES})"
    )
    ap.add_argument(
        "--seed",
        type=integer_at_least(0, SEED_LIMIT),
        default=0,
        help="sampling seed of both stages and stage 3 (default 0)",
    )
    ap.add_argument(
        "--threads", type=positive, default=DEMO_THREADS, help=f"torch threads (default {DEMO_THREADS})"
    )
    ap.add_argument("--steps", type=positive, default=None, help="stage-2 steps (default: the model's)")
    ap.add_argument("--init-steps", type=positive, default=None, help="stage-1 steps (default: the model's)")
    ap.add_argument(
        "--enhance-steps", type=positive, default=None, help="stage-3 steps (default: the refiner's)"
    )
    ap.add_argument(
        "--out",
        help="results file, or a folder for demo_cpu.md (default: bench/results/demo_cpu.md beside this script)",
    )
    ap.add_argument("--video", default=None, help="also keep the mp4 here")
    ap.add_argument(
        "--repeats", type=positive, default=3, help="videos made; the median is reported (default 3)"
    )
    args = ap.parse_args()
    if args.seed < 0:
        ap.error(f"--seed must be at least 0, got {args.seed}")
    check_prompt(ap, args.prompt)
    out = output_path(ap, args.out, "demo_cpu.md")
    if args.video is not None:
        from streamt2v.io.output_paths import output_kind

        video_path = output_path(ap, args.video, "demo.mp4", "--video")
        try:  # a suffix write_video has no writer for: said now, not after the first video
            output_kind(video_path)
        except ValueError as err:
            ap.error(f"--video: {err}")
    torch.set_num_threads(args.threads)
    quiet_library_bars()

    from streamt2v.assets import microworld_model_dir, microworld_refiner_dir
    from streamt2v.io.video import write_video
    from streamt2v.models.bundle import StreamingT2VModel
    from streamt2v.pipeline.chunking import plan_chunks
    from streamt2v.pipeline.enhance import enhance_video
    from streamt2v.pipeline.generate import StreamingT2VPipeline
    from streamt2v.pipeline.refiner import Refiner
    from streamt2v.pipeline.step_counts import check_step_counts
    from streamt2v.pipeline.stream import StreamConfig

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
        enhance["steps"] = args.enhance_steps
    # Both stages' settings checked now (e.g. more stage-3 steps than its start step allows), not after
    # the first video's stages 1-2.
    try:
        cfg = StreamConfig(num_frames=args.frames, seed=args.seed, **sampler).resolved()
        plan = plan_chunks(cfg.num_frames, chunk_frames=cfg.chunk_frames, cond_frames=cfg.cond_frames)
        check_step_counts(cfg, plan, int(model.scheduler_config.get("num_train_timesteps", 1000)))
    except ValueError as err:
        ap.error(f"{err} (--steps sets steps, --init-steps init_steps; the others are the model's sampler)")
    try:
        enhance_config = refiner.config(**enhance)
    except ValueError as err:
        ap.error(f"{err} (--enhance-steps sets stage 3's steps; the others are the refiner's)")

    # each video takes ~30 s at the demo's settings: a line per video, not minutes of silence until the table
    print(f"Machine: {machine()}.", flush=True)  # as in the results file, for a log of the run
    for i in range(1, args.repeats + 1):
        t = time.perf_counter()
        video = StreamingT2VPipeline(model)(args.prompt, args.frames, seed=args.seed, **sampler)
        times.setdefault("stages 1-2", []).append(time.perf_counter() - t)
        t = time.perf_counter()
        big = enhance_video(video, args.prompt, refiner, enhance_config, seed=args.seed, progress=False)
        times.setdefault("stage 3", []).append(time.perf_counter() - t)
        t = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            # --video: each repeat replaces the last one's video, as the results file is replaced
            target = video_path if args.video else Path(tmp) / "demo.mp4"
            write_video(target, big[0], float(model.fps), overwrite=True)
        times.setdefault("write mp4", []).append(time.perf_counter() - t)
        print(
            f"video {i}/{args.repeats}: stages 1-2 {times['stages 1-2'][-1]:.1f} s, "
            f"stage 3 {times['stage 3'][-1]:.1f} s, write mp4 {times['write mp4'][-1]:.1f} s",
            flush=True,
        )
    # a run's total: the one load plus that run's phases
    times["total"] = [
        times["load"][0] + sum(phase)
        for phase in zip(times["stages 1-2"], times["stage 3"], times["write mp4"])
    ]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # The goal is for `make demo` itself: another length, thread count or step count is not held to it.
    at_demo_settings = (
        args.frames == DEMO_FRAMES
        and args.threads == DEMO_THREADS
        and args.steps is None
        and args.init_steps is None
        and args.enhance_steps is None
    )

    lines = [
        "# Demo on CPU (shipped microworld models)",
        "",
        f"`{args.prompt}`, {args.frames} frames, seed {args.seed}: stages 1–2 at "
        f"{model.config.frame_size}×{model.config.frame_size}, stage 3 to "
        f"{refiner.frame_size[0]}×{refiner.frame_size[1]}, mp4 written. {stamp()}",
        "",
        f"Sampler: `{json.dumps(sampler)}`; enhancer: `{json.dumps(enhance)}`. Command: `{command()}`.",
        "",
        f"Seconds over {counted(args.repeats, 'video')} (the models loaded once):",
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
        f"Peak memory (max RSS): {rss:.0f} MiB."
        + (" Goal: ≤ 60 s on 2 CPU cores." if at_demo_settings else ""),
    ]
    write_results(out, "\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {out}")


if __name__ == "__main__":
    run(main)
