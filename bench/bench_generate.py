"""Frames/s and peak memory of stages 1-2 vs. video length, on CPU or a GPU.

Usage: ``python bench/bench_generate.py --model microworld`` (the shipped model with its recommended
sampler; results in ``bench/results/generate_microworld_cpu.md``) or ``--preset tiny --steps 1`` (random
weights; ``bench/results/generate_cpu.md``). On a GPU, e.g. the official architecture at its defaults:
``--preset modelscope-1.7b --steps 50 --device cuda --dtype fp16 --lengths 80 240``
(``bench/results/generate_modelscope-1.7b_cuda_fp16.md``). The machine is named in the results. Peak memory =
the process's max RSS, and on a GPU the peak of memory allocated by torch during the video; both must
stay flat with length (finished chunks are not kept by the stream). ``--compile`` compiles the model
(``StreamingT2VModel.compile``) and makes a 24-frame video first (stage 1 and one stage-2 chunk: the
compile), timed apart; results in ``..._compile.md``.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

from _common import (
    INCOMPLETE,
    add_compile_flag,
    check_device,
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

# The prompt of every committed result (all of them used this one): kept for --model runs so that new
# figures measure the same videos. A preset's random text encoder reads only max_length tokens (16 for
# `tiny`, byte-level: 14 characters), so presets get a prompt that fits; with random weights the prompt's
# words change nothing measured (the encoder always pads to max_length), only the truncation warning.
MODEL_PROMPT = "a red circle bouncing"
PRESET_PROMPT = "a red circle"


def main() -> None:
    from streamt2v.config import PRESETS

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    ap.add_argument(
        "--lengths",
        type=positive,
        nargs="+",
        default=[80, 240, 600, 1200],
        help="video lengths in frames, one timed video each (default 80 240 600 1200)",
    )
    ap.add_argument(
        "--steps", type=positive, help="steps in both stages (default: the model's recommendation, else 1)"
    )
    ap.add_argument(
        "--preset",
        default="tiny",
        choices=sorted(PRESETS),
        help="architecture preset with random weights (default tiny)",
    )
    ap.add_argument(
        "--model", help="a model folder, or 'microworld' for the shipped model (overrides --preset)"
    )
    ap.add_argument(
        "--prompt",
        help=f"the videos' prompt (default: {MODEL_PROMPT!r} with --model, {PRESET_PROMPT!r} with a preset)",
    )
    ap.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, mps or auto (default cpu)")
    ap.add_argument(
        "--dtype", default="fp32", choices=["fp32", "fp16", "bf16"], help="compute dtype (default fp32)"
    )
    ap.add_argument("--threads", type=positive, help="torch threads (default: torch's)")
    add_compile_flag(ap)
    ap.add_argument(
        "--out",
        help="results file, or a folder for the default name "
        "(default: bench/results/generate_<model>_<device>[_<dtype>].md beside this script)",
    )
    args = ap.parse_args()
    check_prompt(ap, args.prompt)
    from streamt2v.pipeline.stream_config import MAX_FRAMES  # seconds to import: not for --help

    if max(args.lengths) > MAX_FRAMES:
        ap.error(f"--lengths must be at most {MAX_FRAMES:,} frames, got {max(args.lengths):,}")

    import torch

    from streamt2v.assets import microworld_model_dir
    from streamt2v.models.bundle import StreamingT2VModel
    from streamt2v.pipeline.chunking import plan_chunks
    from streamt2v.pipeline.step_counts import check_step_counts
    from streamt2v.pipeline.stream import StreamConfig, stream

    device, dtype = check_device(ap, args.device, args.dtype)
    if args.compile:
        from streamt2v.compiling import check_compile_support

        try:  # an unknown backend or no C++ compiler: said now, not after the model loads
            check_compile_support(device, args.compile)
        except (ValueError, RuntimeError) as err:
            ap.error(f"--compile: {err}")
    if args.threads:
        torch.set_num_threads(args.threads)
    gpu = device.type == "cuda"
    if args.model:
        path = microworld_model_dir() if args.model == "microworld" else Path(args.model)
        name = Path(path).name
    else:
        name = args.preset if args.preset != "tiny" or gpu else ""  # tiny on the CPU: generate_cpu.md
    # named by the device it ran on (an MPS run was generate_..._cpu.md "on CPU"); GPU memory is CUDA's alone
    suffix = device.type + ("" if args.dtype == "fp32" else f"_{args.dtype}")
    if args.compile:
        suffix += "_compile" if args.compile == "inductor" else f"_compile-{args.compile}"
    out = output_path(ap, args.out, f"generate_{name}_{suffix}.md" if name else f"generate_{suffix}.md")
    quiet_library_bars()
    if args.model:
        try:
            model = StreamingT2VModel.from_pretrained(path, torch_dtype=dtype, device=device)
        except (OSError, ValueError) as err:  # no such folder, a file, not a model folder
            ap.error(f"--model {args.model}: {err}")
        label = f"Model `{args.model}` (trained weights)"
    else:
        # built on the device itself: a full-size preset's random init is slow on a few CPU cores
        model = StreamingT2VModel.from_preset(args.preset, device=device, seed=0)
        if dtype != torch.float32:
            model.to(dtype=dtype)
        label = f"Preset `{args.preset}` (random weights)"
    prompt = args.prompt or (MODEL_PROMPT if args.model else PRESET_PROMPT)
    sampler = dict(model.sampler) or {"steps": 1, "init_steps": 1}
    if args.steps is not None:
        sampler.update(steps=args.steps, init_steps=args.steps)
    timesteps = int(model.scheduler_config.get("num_train_timesteps", 1000))
    try:  # every length's settings, step counts too, checked before the first timed video
        configs = [StreamConfig(num_frames=n, **sampler).resolved() for n in args.lengths]
        # an untimed first video (stages 1 and 2) for the compile, and on a GPU for its one-time costs (the
        # CUDA context, kernel loading, cuDNN's autotuning), which the first timed length would carry
        warmup = [StreamConfig(num_frames=24, **sampler).resolved()] if args.compile or gpu else []
        for cfg in configs + warmup:
            plan = plan_chunks(cfg.num_frames, chunk_frames=cfg.chunk_frames, cond_frames=cfg.cond_frames)
            check_step_counts(cfg, plan, timesteps)
    except ValueError as err:
        # --steps sets both stages' steps; the others are the model's recommendation (sampler above)
        given = (
            " (--steps sets steps and init_steps; the others are the model's sampler)"
            if args.steps is not None
            else ""
        )
        ap.error(f"{err}{given}")
    print(f"Machine: {machine(device=device)}.", flush=True)  # as in the results file, for a log of the run
    compiling = ""
    if args.compile:
        model.compile(args.compile)
    if warmup:
        t0 = time.perf_counter()
        for _ in stream(model, prompt, warmup[0]):
            pass
        if gpu:
            torch.cuda.synchronize(device)
        what = f"Compiled with torch.compile ({args.compile}); the compile and a" if args.compile else "A"
        compiling = (
            f" {what} first 24-frame video (untimed warm-up) took {time.perf_counter() - t0:.1f} s before "
            "the timed videos."
        )
        print(compiling.strip(), flush=True)
    gpu_col = " GPU peak allocated (MiB) |" if gpu else ""
    header = [
        f"# Stages 1-2 on {'CPU' if device.type == 'cpu' else 'GPU'}",
        "",
        f"{label}, {args.dtype}, prompt `{prompt}`, sampler {sampler} (guidance > 1 means batched CFG). "
        f"{stamp(device)} Command: `{command()}`." + compiling,
        "",
        f"| frames | seconds | s/frame | frames/s | process max RSS (MiB) |{gpu_col}",
        "|---:|---:|---:|---:|---:|" + ("---:|" if gpu else ""),
    ]

    def results_text(done: bool) -> str:
        table = [
            f"| {n} | {dt:.1f} | {dt / n:.3f} | {fps:.2f} | {rss:.0f} |" + (f" {peak:.0f} |" if gpu else "")
            for n, dt, fps, rss, peak in rows
        ]
        return "\n".join(header + table + ([] if done else ["", INCOMPLETE]) + [""])

    rows = []
    for cfg in configs:
        n = cfg.num_frames
        if gpu:
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
        t0, frames = time.perf_counter(), 0
        for chunk in stream(model, prompt, cfg):
            frames += chunk.frames.shape[2]
        if gpu:
            torch.cuda.synchronize(device)
        dt = time.perf_counter() - t0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB (Linux: KiB)
        peak = torch.cuda.max_memory_allocated(device) / 2**20 if gpu else None
        rows.append((n, dt, frames / dt, rss, peak))
        extra = f", GPU peak {peak:.0f} MiB" if gpu else ""
        print(f"{n} frames: {dt:.1f} s, {dt / frames:.3f} s/frame, max RSS {rss:.0f} MiB{extra}", flush=True)
        if len(rows) < len(configs):  # rewritten after every length: a run stopped part-way keeps them
            write_results(out, results_text(done=False), len(rows))
    write_results(out, results_text(done=True))
    print(f"wrote {out}")


if __name__ == "__main__":
    run(main)
