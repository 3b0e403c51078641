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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lengths", type=int, nargs="+", default=[80, 240, 600, 1200])
    ap.add_argument(
        "--steps", type=int, help="steps in both stages (default: the model's recommendation, else 1)"
    )
    ap.add_argument("--preset", default="tiny", help="architecture preset with random weights")
    ap.add_argument(
        "--model", help="a model folder, or 'microworld' for the shipped model (overrides --preset)"
    )
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    ap.add_argument("--dtype", default="fp32", choices=["fp32", "fp16", "bf16"], help="compute dtype")
    ap.add_argument(
        "--compile", nargs="?", const="inductor", metavar="BACKEND", help="torch.compile backend (inductor)"
    )
    ap.add_argument(
        "--out", help="results file (default: bench/results/generate_<model>_<device>[_<dtype>].md)"
    )
    args = ap.parse_args()

    import torch

    from streamt2v.assets import microworld_model_dir
    from streamt2v.memory import describe_machine, resolve_device, resolve_dtype
    from streamt2v.models.bundle import StreamingT2VModel
    from streamt2v.pipeline.stream import StreamConfig, stream

    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    gpu = device.type == "cuda"
    results = Path(__file__).parent / "results"
    if args.model:
        path = microworld_model_dir() if args.model == "microworld" else Path(args.model)
        model = StreamingT2VModel.from_pretrained(path, torch_dtype=dtype, device=device)
        name = Path(path).name
        label = f"Model `{args.model}` (trained weights)"
    else:
        # built on the device itself: a full-size preset's random init is slow on a few CPU cores
        model = StreamingT2VModel.from_preset(args.preset, device=device, seed=0)
        if dtype != torch.float32:
            model.to(dtype=dtype)
        name = args.preset if args.preset != "tiny" or gpu else ""  # tiny on the CPU: generate_cpu.md
        label = f"Preset `{args.preset}` (random weights)"
    suffix = ("cuda" if gpu else "cpu") + ("" if args.dtype == "fp32" else f"_{args.dtype}")
    if args.compile:
        suffix += "_compile" if args.compile == "inductor" else f"_compile-{args.compile}"
    out = results / (f"generate_{name}_{suffix}.md" if name else f"generate_{suffix}.md")
    sampler = dict(model.sampler) or {"steps": 1, "init_steps": 1}
    if args.steps is not None:
        sampler.update(steps=args.steps, init_steps=args.steps)
    compiling = ""
    if args.compile:
        model.compile(args.compile)
        t0 = time.perf_counter()
        for _ in stream(model, "a red circle bouncing", StreamConfig(num_frames=24, **sampler)):
            pass
        compiling = (
            f" Compiled with torch.compile ({args.compile}); the compile and a first 24-frame video took "
            f"{time.perf_counter() - t0:.1f} s before the timed videos."
        )
        print(compiling.strip(), flush=True)
    rows = []
    for n in args.lengths:
        cfg = StreamConfig(num_frames=n, **sampler)
        if gpu:
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
        t0, frames = time.perf_counter(), 0
        for chunk in stream(model, "a red circle bouncing", cfg):
            frames += chunk.frames.shape[2]
        if gpu:
            torch.cuda.synchronize(device)
        dt = time.perf_counter() - t0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB (Linux: KiB)
        peak = torch.cuda.max_memory_allocated(device) / 2**20 if gpu else None
        rows.append((n, dt, frames / dt, rss, peak))
        extra = f", GPU peak {peak:.0f} MiB" if gpu else ""
        print(f"{n} frames: {dt:.1f} s, {dt / frames:.3f} s/frame, max RSS {rss:.0f} MiB{extra}", flush=True)
    machine = describe_machine()
    gpu_col = " GPU peak allocated (MiB) |" if gpu else ""
    lines = [
        f"# Stages 1-2 on {'GPU' if gpu else 'CPU'}",
        "",
        f"{label}, {args.dtype}, sampler {sampler} (guidance > 1 means batched CFG). Machine: {machine}."
        + compiling,
        "",
        f"| frames | seconds | s/frame | frames/s | process max RSS (MiB) |{gpu_col}",
        "|---:|---:|---:|---:|---:|" + ("---:|" if gpu else ""),
        *[
            f"| {n} | {dt:.1f} | {dt / n:.3f} | {fps:.2f} | {rss:.0f} |" + (f" {peak:.0f} |" if gpu else "")
            for n, dt, fps, rss, peak in rows
        ],
        "",
    ]
    out = Path(args.out) if args.out else out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
