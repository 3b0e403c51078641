"""Seconds per optimizer step of the microworld release's training runs, on CPU or a GPU.

Usage: ``python bench/bench_train.py`` (every run of ``train/microworld_release.py`` at its own batch size;
results in ``bench/results/train_cpu.md`` beside this script; ``--out`` elsewhere), ``--runs base-3
stream-aug`` for some of them, and on a GPU e.g. ``--device cuda --mixed-precision bf16 --batch-sizes 16 64
256`` (would write ``train_cuda_bf16.md``; not measured yet) to see how the step time grows with the batch;
``--compile`` compiles the trained network (``TrainConfig.compile``, results in ``..._compile.md``), whose
one-off cost is the first step's time, given in the table; each measurement starts from an empty dynamo cache,
as a new process does (else torch.compile runs a function eagerly after 8 graphs of it, silently).
``--preset small`` times the UNet runs at another architecture preset (random weights; the stream's base UNet
a random one of that preset; results in ``..._small.md``). A batch that does not fit in GPU memory is a row
saying so, and the results file is rewritten after every measurement, so a run stopped part-way keeps what
it measured. Each run is built with its recipe options, the
shipped models standing in for the run folders it starts from (the step time does not depend on the
weights), and trained for ``--warmup + --steps`` steps through the real loop (``train.loop.train``: accelerate, EMA, data loading on
the main process unless ``--num-workers``) in a temporary folder. The figure is the median time of the
measured steps from the run's loss log; at the run's own batch size the table also gives the run's
estimated wall time (its steps at that speed). The machine is named in the results.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from _common import (
    INCOMPLETE,
    add_compile_flag,
    at_least,
    command,
    machine,
    output_path,
    positive,
    quiet_library_bars,
    run,
    stamp,
    write_results,
)
from streamt2v.wording import counted

UNET_RECIPES = ("base", "stream", "refiner")


def stand_in_options(
    recipe: str,
    options: dict[str, Any],
    runs_root: Path,
    preset: str | None = None,
    base_unets: dict[str, Path] | None = None,
) -> dict[str, Any]:
    """``options`` of a release run with every folder of another run (under ``runs_root``) replaced by the
    shipped folder of the same architecture. With ``preset`` (a UNet run's architecture other than the
    shipped ``tiny``), the UNet starts from random weights of that preset (no ``init_unet``) and a stream's
    base UNet is ``base_unets[preset]`` (:func:`random_base_unet`)."""
    from streamt2v.assets import microworld_model_dir, microworld_refiner_dir

    if preset is not None and recipe in UNET_RECIPES:
        options = {k: v for k, v in options.items() if k != "init_unet"}
        options["preset"] = preset
        if recipe == "stream":
            options["base_unet"] = str((base_unets or {})[preset])

    shipped, refiner = microworld_model_dir(), microworld_refiner_dir()
    vae = (refiner if options.get("size", 32) == 64 else shipped) / "vae"
    stand_ins = {
        "vae": vae,
        "decoder_only_from": vae,
        "degrade_vae": shipped / "vae",
        "clip": shipped,
        "base_unet": shipped / "init_unet",
        "init_unet": {
            "base": shipped / "init_unet",
            "stream": shipped / "unet",
            "refiner": refiner / "unet",
        }.get(recipe),
    }
    out = {}
    for key, value in options.items():
        if isinstance(value, str) and Path(value).is_relative_to(runs_root):
            if stand_ins.get(key) is None:
                raise ValueError(f"no shipped stand-in for option {key}={value!r} of a {recipe} run")
            value = str(stand_ins[key])
        out[key] = value
    return out


def random_base_unet(preset: str, options: dict[str, Any], runs_root: Path, folder: Path) -> Path:
    """A base UNet of ``preset`` with random weights (a stream run's base when timing another preset), built
    as the ``base`` recipe builds it from ``options`` (the stream run's VAE, text encoder and size), saved in
    ``folder``."""
    import torch

    from streamt2v.train.recipes import make_recipe

    base = {k: v for k, v in options.items() if k in ("size", "vae", "clip")}
    recipe = make_recipe("base", **stand_in_options("base", base, runs_root, preset))
    torch.manual_seed(0)
    recipe.build().net.save_pretrained(folder, safe_serialization=True)
    return folder


def results_text(args: argparse.Namespace, rows: list[tuple], gpu: bool, done: bool) -> str:
    """The results file's Markdown for the ``rows`` measured so far (``done``: all of them)."""
    preset = f", UNet preset {args.preset} (random weights)" if args.preset else ""
    lines = [
        "# Training speed of the microworld release's runs",
        "",
        f"{stamp()} Device {args.device}, mixed precision {args.mixed_precision}, "
        f"torch.compile {args.compile or 'off'}, {counted(args.num_workers, 'data worker')}{preset}; median of "
        f"{counted(args.steps, 'step')} after {counted(args.warmup, 'warm-up step')}, "
        "through `train.loop.train` with each run's recipe options and loop settings "
        f"(`{command()}`). Samples/s = batch / (s/step); a sample is a 16-frame clip for "
        "the UNet runs, `frames_per_sample` frames (4, or 1 for the decoder runs) for the VAE runs and a "
        "frame with its caption for `clip`. The release runs two runs side by side on 2 cores, most of them "
        "with 1 thread each (`RecipeRun.threads`), so its wall times differ from these estimates. "
        "The first step includes one-off costs (with compile: compiling, unless inductor's cache "
        "already holds the graphs); the wall time estimates leave them out.",
        "",
        "| run | recipe | batch | first step s | s/step | samples/s | release steps | est. wall time"
        + (" | GPU peak GiB |" if gpu else " |"),
        "|---|---|---:|---:|---:|---:|---:|---:|" + ("---:|" if gpu else ""),
    ]
    for name, recipe, batch, first, sec, rate, steps, wall, peak in rows:
        if sec is None:  # did not fit
            lines.append(f"| {name} | {recipe} | {batch} | out of memory | | | | |" + (" |" if gpu else ""))
            continue
        lines.append(
            f"| {name} | {recipe} | {batch} | {first:.2f} | {sec:.3f} | {rate:.1f} | {steps} | {wall} |"
            + (f" {peak} |" if gpu else "")
        )
    if not done:
        lines += ["", INCOMPLETE]
    minutes: dict[str, float] = {}
    for _, recipe, _, _, sec, _, steps, _, _ in rows:
        if steps and sec is not None:  # at the run's own batch size
            minutes[recipe] = minutes.get(recipe, 0.0) + steps * sec / 60
    if minutes and done:
        per_recipe = ", ".join(f"{recipe} {m:.0f} min" for recipe, m in minutes.items())
        lines += ["", f"Estimated wall time of each recipe's runs together at these speeds: {per_recipe}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    from streamt2v.config import PRESETS
    from streamt2v.train.microworld_release import ORDER

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--runs",
        nargs="+",
        choices=ORDER,
        default=list(ORDER),
        metavar="RUN",
        help=f"release runs to time, of {', '.join(ORDER)} (default: all)",
    )
    ap.add_argument(
        "--batch-sizes", type=positive, nargs="+", help="batch sizes to time (default: each run's own)"
    )
    ap.add_argument(
        "--warmup", type=at_least(0), default=2, help="steps not measured (first-call overheads; default 2)"
    )
    ap.add_argument("--steps", type=positive, default=5, help="steps measured (default 5)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="device (default cpu)")
    ap.add_argument(
        "--mixed-precision",
        default="no",
        choices=["no", "fp16", "bf16"],
        help="autocast precision (default no: fp32; fp16 needs CUDA)",
    )
    ap.add_argument("--threads", type=positive, help="torch threads (default: torch's)")
    ap.add_argument(
        "--num-workers",
        type=at_least(0),
        default=0,
        help="data-loading worker processes (default 0: main process)",
    )
    add_compile_flag(ap)
    ap.add_argument(
        "--preset",
        choices=[p for p in PRESETS if p != "tiny"],
        help="time the UNet runs (base, stream, refiner) at this architecture preset instead of the shipped "
        "tiny, from random weights (default: the release's)",
    )
    ap.add_argument(
        "--out",
        help="results file, or a folder for the default name "
        "(default: bench/results/train_<device>[_<precision>][_compile][_<preset>].md beside this script)",
    )
    args = ap.parse_args()

    import torch

    from streamt2v.train.loop import TrainConfig, train
    from streamt2v.train.microworld_release import release_runs
    from streamt2v.train.recipes import make_recipe

    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: CUDA is not available on this machine")
    if args.mixed_precision == "fp16" and args.device == "cpu":
        # accelerate would quietly train in fp32 (the train CLI refuses it too)
        ap.error("--mixed-precision fp16 needs CUDA; on the CPU use no or bf16")
    if args.compile:
        from streamt2v.compiling import check_compile_support

        try:  # an unknown backend or no C++ compiler: said now, not in the first run's first step
            check_compile_support(args.device, args.compile)
        except (ValueError, RuntimeError) as err:
            ap.error(f"--compile: {err}")
    if args.threads:
        torch.set_num_threads(args.threads)
    gpu = args.device == "cuda"
    suffix = args.device + ("" if args.mixed_precision == "no" else f"_{args.mixed_precision}")
    if args.compile:
        suffix += "_compile" if args.compile == "inductor" else f"_compile-{args.compile}"
    if args.preset:
        suffix += f"_{args.preset}"
    out = output_path(ap, args.out, f"train_{suffix}.md")
    quiet_library_bars()  # the shipped models standing in for the runs' folders load

    print(f"Machine: {machine()}.", flush=True)  # as in the results file, for a log of the run
    rows: list[tuple] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "runs"
        runs = release_runs(root)
        base_unets: dict[str, Path] = {}
        for name in args.runs:
            run = runs[name]
            if args.preset and run.recipe == "stream" and args.preset not in base_unets:
                base_unets[args.preset] = random_base_unet(
                    args.preset, run.options, root, Path(tmp) / f"base-unet-{args.preset}"
                )
            options = stand_in_options(run.recipe, run.options, root, args.preset, base_unets)
            recipe = make_recipe(run.recipe, **options)
            for batch in args.batch_sizes or [run.train["batch_size"]]:
                settings = {k: v for k, v in run.train.items() if k not in ("mixed_precision", "num_workers")}
                cfg = TrainConfig(
                    **{
                        **settings,
                        "steps": args.warmup + args.steps,
                        "batch_size": batch,
                        "checkpoint_every": args.warmup + args.steps,
                        "mixed_precision": args.mixed_precision,
                        "num_workers": args.num_workers,
                        "cpu": not gpu,
                        "compile": args.compile,
                    }
                )
                if args.compile:
                    # dynamo compiles a function for at most 8 guards (shapes, modules) per process, then
                    # runs it eagerly with only a warning: every measurement compiles as a new process would
                    import torch._dynamo

                    torch._dynamo.reset()
                if gpu:  # what an earlier measurement (or its out-of-memory failure) left is not counted
                    gc.collect()
                    torch.cuda.empty_cache()
                    torch.cuda.reset_peak_memory_stats()
                run_dir = Path(tmp) / f"{name}-{batch}"
                try:
                    train(recipe, cfg, run_dir, progress=False, export=False)
                except torch.OutOfMemoryError:
                    rows.append((name, run.recipe, batch, None, None, None, "", "", ""))
                    print(f"{name}: batch {batch}, out of memory", flush=True)
                    write_results(out, results_text(args, rows, gpu, done=False), len(rows))
                    continue
                log = [json.loads(line) for line in (run_dir / "loss.jsonl").read_text().splitlines()]
                sec = statistics.median(entry["sec"] for entry in log[args.warmup :])
                first = log[0]["sec"]
                own = batch == run.train["batch_size"]
                wall = f"{run.train['steps'] * sec / 60:.0f} min" if own else ""
                peak = f"{torch.cuda.max_memory_allocated() / 2**30:.1f}" if gpu else ""
                rows.append(
                    (
                        name,
                        run.recipe,
                        batch,
                        first,
                        sec,
                        batch / sec,
                        run.train["steps"] if own else "",
                        wall,
                        peak,
                    )
                )
                estimate = f", its {run.train['steps']} steps ~{wall}" if wall else ""
                print(
                    f"{name}: batch {batch}, {sec:.3f} s/step, {batch / sec:.1f} samples/s{estimate}",
                    flush=True,
                )
                write_results(out, results_text(args, rows, gpu, done=False), len(rows))

    write_results(out, results_text(args, rows, gpu, done=True))
    print(f"wrote {out}")


if __name__ == "__main__":
    run(main)
