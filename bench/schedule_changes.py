"""What a prompt schedule changes in a video of the shipped microworld models (stages 1–2, no stage 3).

``python bench/schedule_changes.py`` (about 25 minutes on 2 shared cores at 1 thread; ``--seeds 1 --frames
64`` for a quick check). One schedule of four scenes, each changing the object's colour and shape and the last
two the background (``SCENES``), is generated with each seed under several sampler settings (``VARIANTS``):
the recommended ones, ``--reanchor``, ``--anchor-colour-match 0``, both, and a chunk start from pure noise
without the replacement. For every scene the palette probes (``metrics/probes.py``) count the frames whose
background is the scheduled colour, those holding an object of the scheduled colour, of the scheduled shape as
well, and those still holding the previous scene's object colour. Two references: the video of the first
prompt alone (the same seeds and chunk noise: what the schedule's chunks would show if their text did nothing;
also the mean pixel difference of the scheduled video from it) and each scene's prompt alone as a 16-frame
video (stage 1: what the models make of that prompt from noise), also without its speed word. Writes
``bench/results/schedule_changes_cpu.md`` (``--out`` elsewhere) with the machine named. A behaviour
measurement: ``run_all.py`` does not run it; its tests check the measure on rendered scenes.
"""

from __future__ import annotations

import argparse
import logging

import numpy as np
import torch

from _common import (
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
from streamt2v.metrics.probes import caption_claims, segment_video

# With a speed word: every training caption has one, and without it the shipped models misread the colours
# (each prompt alone: the table's last rows, the plain form "a yellow square bouncing on a blue background").
SCENES = (
    "a red circle bouncing slowly on a blue background",
    "a yellow square bouncing slowly on a blue background",
    "a green triangle bouncing slowly on a white background",
    "a red circle bouncing slowly on a black background",
)
VARIANTS: dict[str, dict[str, object]] = {
    "recommended": {},
    "--reanchor": {"reanchor": True},
    "--anchor-colour-match 0": {"anchor_colour_match": 0.0},
    "--reanchor --anchor-colour-match 0": {"reanchor": True, "anchor_colour_match": 0.0},
    "--chunk-strength 1 --no-cond-replacement": {"chunk_strength": 1.0, "cond_replacement": False},
}
ALONE_FRAMES = 16  # stage 1 only


def scene_claim(prompt: str) -> tuple[str, str, str]:
    """(object colour, object shape, background colour) of a one-object microworld prompt."""
    claims = caption_claims(prompt)
    (colour, shape, _), (background, _, _) = (
        next(c for c in claims if not c[2]),
        next(c for c in claims if c[2]),
    )
    return colour, shape, background


def fractions(video: torch.Tensor, prompt: str, previous: str | None) -> tuple[float, float, float, float]:
    """Fractions of frames with the prompt's background, its object's colour, colour and shape, and the
    ``previous`` prompt's object colour (nan without one, or when it is this prompt's colour)."""
    colour, shape, background = scene_claim(prompt)
    old = scene_claim(previous)[0] if previous else None
    segs = segment_video(video)
    bg = np.mean([s.background == background for s in segs])
    has = np.mean([colour in s.objects for s in segs])
    shaped = np.mean([colour in s.objects and s.objects[colour].shape == shape for s in segs])
    kept = np.mean([old in s.objects for s in segs]) if old and old != colour else float("nan")
    return float(bg), float(has), float(shaped), float(kept)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=at_least(0), nargs="+", default=[1, 2, 3], help="seeds (default 1 2 3)")
    p.add_argument(
        "--frames", type=positive, default=128, help="video length; the scenes split it in four (default 128)"
    )
    p.add_argument("--out", help="results file or folder (default bench/results/schedule_changes_cpu.md)")
    args = p.parse_args()
    if args.frames < 4 * 16:
        p.error(
            f"--frames {args.frames}: give at least 64, so that each of the 4 scenes gets streaming chunks"
        )
    out = output_path(p, args.out, "schedule_changes_cpu.md")
    quiet_library_bars()
    logging.getLogger("streamt2v").setLevel(logging.WARNING)
    print(machine(), flush=True)

    from streamt2v.pipeline.generate import StreamingT2VPipeline
    from streamt2v.pipeline.prompts import PromptSchedule

    pipe = StreamingT2VPipeline.from_pretrained(device="cpu")
    # scene starts on chunk starts (16 + 8k), so each scene's frames are its own chunks'
    starts = [0] + [16 + 8 * round((i * args.frames / 4 - 16) / 8) for i in (1, 2, 3)]
    schedule = PromptSchedule(tuple(zip(starts, SCENES)))
    bounds = list(zip(starts, starts[1:] + [args.frames]))

    rows: list[str] = []
    diffs: list[str] = []
    first_alone = {seed: pipe(SCENES[0], args.frames, seed=seed) for seed in args.seeds}
    for name, settings in {"first prompt alone (no schedule)": None, **VARIANTS}.items():
        per_scene = np.zeros((len(SCENES), len(args.seeds), 4))
        for j, seed in enumerate(args.seeds):
            video = (
                first_alone[seed] if settings is None else pipe(schedule, args.frames, seed=seed, **settings)
            )
            for i, (a, b) in enumerate(bounds):
                previous = SCENES[i - 1] if i else None
                per_scene[i, j] = fractions(video[:, :, a:b], SCENES[i], previous)
            if settings is not None:
                d = [
                    (video[:, :, a:b] - first_alone[seed][:, :, a:b]).abs().mean().item() * 127.5
                    for a, b in bounds
                ]
                diffs.append(f"| {name} | {seed} | " + " | ".join(f"{x:.1f}" for x in d) + " |")
            print(name, seed, flush=True)
        for i in range(1, len(SCENES)):
            m = per_scene[i].mean(axis=0)  # the previous colour is nan for every seed or none
            cells = " | ".join("–" if np.isnan(x) else f"{x:.2f}" for x in m)
            rows.append(f"| {name} | {i + 1}: {' '.join(scene_claim(SCENES[i]))} | {cells} |")

    alone_rows = []
    for prompt in SCENES + tuple(p.replace(" slowly", "") for p in SCENES):
        m = np.mean([fractions(pipe(prompt, ALONE_FRAMES, seed=s), prompt, None) for s in args.seeds], axis=0)
        alone_rows.append(f"| {prompt} | {m[0]:.2f} | {m[1]:.2f} | {m[2]:.2f} |")

    seeds = " ".join(map(str, args.seeds))
    text = "\n".join(
        [
            "# What a prompt schedule changes (shipped microworld models, stages 1–2)",
            "",
            f"{stamp()} Command: `{command()}`.",
            "",
            f"Schedule ({args.frames} frames, seeds {seeds}): "
            + "; ".join(f"`{a}: {t}`" for a, t in schedule.entries)
            + ". Scene 1 is the stage-1 chunk and the streaming chunks after it under the first prompt.",
            "",
            "Each scene's frames, mean over the seeds of the fraction of frames whose background is the "
            "scheduled colour, that hold an object of the scheduled colour, of that colour and the scheduled "
            "shape, and that still hold the previous scene's object colour (– where it is the same colour):",
            "",
            "| settings | scene (object, shape, background) | background | colour | colour + shape | previous colour |",
            "|---|---|---:|---:|---:|---:|",
            *rows,
            "",
            "Mean absolute pixel difference (0–255) of each scene's frames from the first prompt alone "
            "(same seed, same chunk noise; scene 1 differs only where the settings change the colour matching):",
            "",
            "| settings | seed | " + " | ".join(f"scene {i + 1}" for i in range(len(SCENES))) + " |",
            "|---|---:|" + "---:|" * len(SCENES),
            *diffs,
            "",
            f"Each prompt alone ({ALONE_FRAMES} frames, the same seeds, recommended settings): what the models "
            "make of it from noise (stage 1), with the speed word and without it.",
            "",
            "| prompt | background | colour | colour + shape |",
            "|---|---:|---:|---:|",
            *alone_rows,
            "",
        ]
    )
    write_results(out, text)
    print(f"wrote {out}")


if __name__ == "__main__":
    run(main)
