"""Enhancer speed: seconds per frame, all chunks of a step batched vs chunk-sequential (paper §4.3).

CPU, tiny random-weight refiner (``Refiner.random``: the tiny preset UNet): ``python bench/bench_enhance.py``.
Writes ``bench/results/enhance_cpu.md`` (beside this script; ``--out`` elsewhere) with the machine named.
Full size on a GPU: ``--preset modelscope-1.7b --device cuda --dtype bf16 --frames 80 --repeats 1 --schedules
chunk-sequential batched-all`` (minutes a schedule) runs the official refiner's architecture with random
weights at the official setting (256x256 frames fitted into a 720x1280 canvas, 30 steps from t = 600, CFG 7.5
rescaled 0.2, v-prediction) and writes ``enhance_modelscope-1.7b_cuda_bf16.md``; every run but the default
one also reports frames/s, the process's max RSS and, on CUDA, the peak GPU memory allocated. Not asserted
anywhere.
"""

from __future__ import annotations

import argparse
import gc
import logging
import resource
import time
from dataclasses import replace

from _common import (
    INCOMPLETE,
    check_device,
    command,
    machine,
    output_path,
    positive,
    run,
    stamp,
    write_results,
)
from streamt2v.wording import counted

# max_batch_chunks of each timed schedule (1000: every chunk of these videos in one batch)
SCHEDULES = (("chunk-sequential", 1), ("batched 2", 2), ("batched all", 1000))

FULL = "modelscope-1.7b"
# What each --preset runs unless told otherwise: input side (--size) and steps (--steps). The full-size one is
# the official stage 3 (official-facts §1.5, §3.1): 256x256 frames (stage 2's), 30 DPM++ 2M SDE steps.
DEFAULTS = {"tiny": {"size": 32, "steps": 4}, FULL: {"size": 256, "steps": 30}}
# The official canvas: each frame resized to 720x720 and padded with black to 1280x720 (H x W here).
OFFICIAL_CANVAS = (720, 1280)


def canvas_size(text: str) -> tuple[int, int]:
    """``--resolution HxW``: two positive integers."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        h = w = 0
    if h < 1 or w < 1:
        raise argparse.ArgumentTypeError(f"expected HxW with positive sides such as 720x1280, got {text!r}")
    return h, w


def full_size_refiner(device, dtype):
    """The official refiner's architecture with random weights (seed 0) on ``device`` in ``dtype``:
    ``Refiner.from_preset`` of the ``modelscope-1.7b`` preset (MS-Vid2Vid-XL's UNet is of its kind and size:
    ~1.4B parameters, its 5.65 GB fp32 checkpoint) at the official canvas, v-prediction."""
    from streamt2v.pipeline.refiner import Refiner

    return Refiner.from_preset(
        FULL, OFFICIAL_CANVAS, device=device, dtype=dtype, seed=0, prediction_type="v_prediction"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=positive, default=56, help="input video length (default 56)")
    parser.add_argument(
        "--size",
        type=positive,
        help="input frame size; tiny: even, the refiner works at twice that (default 32); "
        f"{FULL}: fitted into the canvas (default 256, stage 2's)",
    )
    parser.add_argument(
        "--resolution",
        type=canvas_size,
        metavar="HxW",
        help="the enhancer's canvas (default: tiny twice --size, "
        f"{FULL} {OFFICIAL_CANVAS[0]}x{OFFICIAL_CANVAS[1]}, the official); sides divisible by the VAE's "
        "factor (4 tiny, 8 full size); smaller ones check the full-size path on a CPU",
    )
    parser.add_argument(
        "--steps", type=positive, help="stage-3 denoising steps (default 4 tiny, 30 full size: the official)"
    )
    parser.add_argument(
        "--preset",
        default="tiny",
        choices=sorted(DEFAULTS),
        help=f"random-weight refiner: tiny (default) or {FULL}, the official refiner's size",
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, mps or auto (default cpu)")
    parser.add_argument(
        "--dtype", default="fp32", choices=["fp32", "fp16", "bf16"], help="compute dtype (default fp32)"
    )
    names = [label.replace(" ", "-") for label, _ in SCHEDULES]
    parser.add_argument(
        "--schedules",
        nargs="+",
        choices=names,
        default=names,
        help="the schedules to time (default all; the full size at 80 frames takes minutes each on an "
        "H200); the outputs are compared when chunk-sequential and batched-all both run",
    )
    parser.add_argument(
        "--repeats", type=positive, default=2, help="runs per schedule; the fastest is reported (default 2)"
    )
    parser.add_argument("--threads", type=positive, help="torch threads (default: torch's)")
    parser.add_argument(
        "--out",
        help="results file, or a folder for the default name (default: bench/results/enhance_cpu.md beside "
        "this script, enhance_<preset>_<device>[_<dtype>].md for other presets, devices and dtypes)",
    )
    args = parser.parse_args()
    full = args.preset == FULL
    size = args.size or DEFAULTS[args.preset]["size"]
    steps = args.steps or DEFAULTS[args.preset]["steps"]
    # imported after the arguments are read: --help and a bad flag take a second, not the ~10 s of these
    import torch

    from streamt2v.pipeline.enhance import chunk_plan_for, enhance_video
    from streamt2v.pipeline.enhance_config import EnhanceConfig, check_resolution
    from streamt2v.pipeline.refiner import STAND_IN_VAE_FACTOR, Refiner

    if not full and size % 2:  # Refiner.random needs a frame size (2 × --size) divisible by 4
        parser.error(
            f"--size must be even (the random refiner's frame size, twice it, must divide by 4), got {size}"
        )
    device, dtype = check_device(parser, args.device, args.dtype)
    canvas = args.resolution or (OFFICIAL_CANVAS if full else (2 * size, 2 * size))
    # the official settings beyond the defaults: frames padded into the canvas (cropped back here),
    # CFG rescaled 0.2; the tiny table keeps what it always measured
    official = {"guidance_rescale": 0.2, "pad_to_aspect": True} if full else {}
    try:  # e.g. more steps than the default start step allows: said before any timing
        configs = [
            (
                label,
                cap,
                EnhanceConfig(
                    steps=steps,
                    max_batch_chunks=cap,
                    resolution=canvas if full else args.resolution,
                    **official,
                ),
            )
            for label, cap in SCHEDULES
            if label.replace(" ", "-") in args.schedules
        ]
    except ValueError as err:  # the library names its setting as the flag that gave it (steps: --steps)
        parser.error(str(err))
    try:  # the VAE's factor: the library checks it only once the video is read
        check_resolution(configs[0][2], 8 if full else STAND_IN_VAE_FACTOR)
    except ValueError as err:
        parser.error(f"--{err}")
    gpu = device.type == "cuda"
    # named like bench_generate's files: the default run keeps enhance_cpu.md and its table
    name = args.preset if full or device.type != "cpu" else ""
    suffix = device.type + ("" if args.dtype == "fp32" else f"_{args.dtype}")
    extended = bool(name) or suffix != "cpu"
    out = output_path(parser, args.out, f"enhance_{name}_{suffix}.md" if name else f"enhance_{suffix}.md")
    if args.threads:
        torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    print(f"Machine: {machine(device=device)}.", flush=True)  # as in the results file, for a log of the run

    if full:
        refiner = full_size_refiner(device, dtype)
    else:
        refiner = Refiner.random((2 * size, 2 * size), seed=0).to(device=device, dtype=dtype)
    params = sum(p.numel() for p in refiner.unet.parameters())
    video = torch.rand(1, 3, args.frames, size, size, generator=torch.Generator().manual_seed(0))
    video = video * 2 - 1
    shared = configs[0][2]  # the schedules differ only in max_batch_chunks
    plan = chunk_plan_for(args.frames, shared)  # the same plan for every schedule
    chunks = counted(len(plan.starts), "chunk")
    # a video shorter than a chunk is one chunk of its own length, without overlap
    layout = f"{chunks} of {plan.chunk_frames}" + (
        f", overlap {plan.overlap}" if len(plan.starts) > 1 else ""
    )
    if gpu:  # CUDA's start (context, kernels) not in the first timed row: one step on one chunk's frames
        warm = replace(shared, steps=1)
        enhance_video(
            video[:, :, : shared.chunk_frames], "a red circle", refiner, warm, seed=0, progress=False
        )
    if full:
        what = (
            f"Preset `{FULL}` refiner, random weights, the official refiner's size (ModelScope T2V video "
            f"UNet, {params / 1e6:,.0f}M parameters; SD-2.1 VAE; OpenCLIP-H-sized text encoder), "
            f"{args.dtype} on {device.type}: {size}x{size} input fitted and padded into a "
            f"{canvas[0]}x{canvas[1]} canvas (HxW; cropped back after)"
        )
        guidance = f"CFG {shared.guidance:g} rescaled {shared.guidance_rescale:g}, v-prediction"
    else:
        # the dtype and device said in every file, the default one's too (fp32 on the CPU was left unsaid)
        what = f"Tiny random-weight refiner at {canvas[0]}x{canvas[1]}, {args.dtype} on {device.type}"
        guidance = f"CFG {shared.guidance:g}"
    columns = ["schedule", "max_batch_chunks", "seconds", "s/frame"]
    if extended:
        columns += ["frames/s", "process max RSS (MiB)"] + (["GPU peak allocated (MiB)"] if gpu else [])
    header = [
        f"# Enhancer speed ({'GPU' if gpu else 'CPU'})",
        "",
        stamp(device),
        f"{what}, {args.frames} frames ({layout}), "
        f"{counted(steps, f'{shared.scheduler} step')} from t = {shared.start_step}, {guidance}, "
        f"best of {args.repeats}. Produced by `{command()}`.",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    notes = []
    if full:
        notes.append(
            "The official release runs chunk after chunk (the chunk-sequential row), with MS-Vid2Vid-XL's own "
            "UNet, of this kind and size, whose every temporal attention runs twice (an upstream hook, "
            "official-facts §3.1); this one runs it once."
        )
    if extended:
        notes.append(
            "Process max RSS: the most this process has held so far (it never goes down; the outputs "
            "compared below the table are kept)."
        )
    if gpu:
        notes.append(
            "GPU peak: the most memory torch allocated during that schedule's runs, the weights included; "
            "a warm-up (one step on one chunk's frames) ran before the timed rows."
        )
    else:
        notes.append(
            "On a CPU batching only saves per-call overhead; its purpose is GPU utilisation. "
            "Timings on a shared machine are noisy."
        )

    def results_text(rows, diff: str | None) -> str:
        table = []
        for label, cap, sec, rss, peak in rows:
            if sec is None:
                table.append(f"| {label} | {cap} | out of memory |" + " |" * (len(columns) - 3))
                continue
            cells = [label, str(cap), f"{sec:.2f}", f"{sec / args.frames:.4f}"]
            if extended:
                cells += [f"{args.frames / sec:.3f}", f"{rss:.0f}"] + ([f"{peak:.0f}"] if gpu else [])
            table.append("| " + " | ".join(cells) + " |")
        if diff is None:
            return "\n".join([*header, *table, "", INCOMPLETE, ""])
        return "\n".join([*header, *table, "", diff, "", " ".join(notes), ""])

    rows = []
    kept = {}  # the outputs compared at the end
    for label, cap, cfg in configs:
        if gpu:  # what an earlier schedule (or its running out of memory) left is not counted
            gc.collect()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
        best = float("inf")
        try:
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                result = enhance_video(video, "a red circle", refiner, cfg, seed=0, progress=False)
                best = min(best, time.perf_counter() - t0)  # the output is on the CPU: the GPU is done
        except torch.OutOfMemoryError:
            rows.append((label, cap, None, None, None))
            print(f"{label}: out of memory", flush=True)
        else:
            if label in ("chunk-sequential", "batched all"):
                kept[label] = result
            del result
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB (Linux: KiB)
            peak = torch.cuda.max_memory_allocated(device) / 2**20 if gpu else None
            rows.append((label, cap, best, rss, peak))
            extra = f", GPU peak {peak:.0f} MiB" if gpu else ""
            print(
                f"{label}: {best:.2f} s, {best / args.frames:.4f} s/frame, max RSS {rss:.0f} MiB{extra}",
                flush=True,
            )
        if len(rows) < len(configs):  # rewritten after every schedule: a run stopped part-way keeps them
            write_results(out, results_text(rows, None), len(rows))
    if len(kept) == 2:
        d = (kept["batched all"] - kept["chunk-sequential"]).abs().max().item()
        diff = f"Max |batched − sequential| over the output video: {d:.2e}."
    elif any(row[2] is None for row in rows):
        diff = "Max |batched − sequential|: not measured (a schedule ran out of memory)."
    else:
        diff = (
            "Max |batched − sequential|: not measured (it needs the chunk-sequential and batched-all runs)."
        )
    text = results_text(rows, diff)
    write_results(out, text)
    print(text)
    print(f"wrote {out}")


if __name__ == "__main__":
    run(main)
