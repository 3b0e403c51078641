"""Frames/s and peak memory of stages 1-2 vs. video length on CPU.

Usage: ``python bench/bench_generate.py --model microworld`` (the shipped model with its recommended
sampler; results in ``bench/results/generate_microworld_cpu.md``) or ``--preset tiny --steps 1`` (random
weights; ``bench/results/generate_cpu.md``). The machine is named in the results. Peak memory = the process's max
RSS (CPU); it must stay flat with length (finished chunks are not kept by the stream).
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
    ap.add_argument("--out", help="results file (default: bench/results/generate_<model>_cpu.md)")
    args = ap.parse_args()

    from streamt2v.assets import microworld_model_dir
    from streamt2v.memory import describe_machine
    from streamt2v.models.bundle import StreamingT2VModel
    from streamt2v.pipeline.stream import StreamConfig, stream

    results = Path(__file__).parent / "results"
    if args.model:
        path = microworld_model_dir() if args.model == "microworld" else Path(args.model)
        model = StreamingT2VModel.from_pretrained(path)
        label, out = f"Model `{args.model}` (trained weights)", results / f"generate_{Path(path).name}_cpu.md"
    else:
        model = StreamingT2VModel.from_preset(args.preset, device="cpu", seed=0)
        label, out = f"Preset `{args.preset}` (random weights)", results / "generate_cpu.md"
    sampler = dict(model.sampler) or {"steps": 1, "init_steps": 1}
    if args.steps is not None:
        sampler.update(steps=args.steps, init_steps=args.steps)
    rows = []
    for n in args.lengths:
        cfg = StreamConfig(num_frames=n, **sampler)
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
        f"{label}, sampler {sampler} (guidance > 1 means batched CFG). Machine: {machine}.",
        "",
        "| frames | seconds | frames/s | process max RSS (MiB) |",
        "|---:|---:|---:|---:|",
        *[f"| {n} | {dt:.1f} | {fps:.2f} | {rss:.0f} |" for n, dt, fps, rss in rows],
        "",
    ]
    out = Path(args.out) if args.out else out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
