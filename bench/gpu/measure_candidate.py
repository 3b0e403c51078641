"""Measure microworld model folders the way the release measures the shipped one, side by side.

For a candidate stages-1–2 model (``streamt2v assemble model`` of new base and stream runs) against the
shipped one: the behaviour prompts with the CAM ablation, then ``--more-seeds`` further held-out seeds of
each (``microworld.behaviour``; the model card's "Behaviour" and "Seed spread" tables), 80-frame videos
with each model's recommended sampler. Writes one JSON (every video's figures, the worst case of each
thresholded figure over all the videos, how many videos pass each) and prints a table. A model ships only
when it passes what the shipped one passes (model card, Notes).

    python bench/gpu/measure_candidate.py microworld runs/gpu/candidate --device cuda --out figures.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

FIGURES = (
    "colour_presence",
    "shape_presence",
    "background",
    "jump_ratio",
    "speed_ratio",
    "colours_first_last",
)


def at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be ≥ {low}, got {value}")
        return value

    return parse


def measure_model(name: str, device: Any, frames: int, prompts: int, more_seeds: int) -> dict[str, Any]:
    """Every video's figures and their summary for the model folder (or ``microworld``) ``name``."""
    from streamt2v.microworld import behaviour
    from streamt2v.models.bundle import StreamingT2VModel

    model = StreamingT2VModel.from_pretrained(name, device=device)
    tested = behaviour.behaviour_prompts()[:prompts]
    start = time.perf_counter()
    videos = behaviour.measure(model, tested, num_frames=frames)
    videos += behaviour.measure(model, behaviour.more_seeds(tested, more_seeds), frames, ablation=False)
    passing = {k: 0 for k in FIGURES}
    for video in videos:
        for figure, ok in behaviour.video_passes(video).items():
            passing[figure] += ok
    return {
        "model": name,
        "seconds": round(time.perf_counter() - start, 1),
        "summary": behaviour.summary(videos),
        "passing": passing,
        "videos": [v.as_dict() for v in videos],
    }


def table(results: list[dict[str, Any]]) -> str:
    from streamt2v.microworld.behaviour import THRESHOLDS

    head = "| figure | threshold | " + " | ".join(r["model"] for r in results) + " |"
    rows = [head, "|---|---|" + "---|" * len(results)]
    for figure in (*FIGURES, "cam_ablation_gain"):
        bound = "≤" if figure == "jump_ratio" else "≥"
        threshold = f"{bound} {THRESHOLDS[figure]}" if figure in THRESHOLDS else "all"
        cells = []
        for r in results:
            worst = r["summary"][figure]
            cell = "nan" if isinstance(worst, float) and math.isnan(worst) else f"{worst:.3f}"
            if figure in r["passing"]:
                cell += f" ({r['passing'][figure]}/{len(r['videos'])} pass)"
            cells.append(cell)
        rows.append(f"| {figure} | {threshold} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="model folders, or 'microworld' for the shipped model")
    parser.add_argument("--out", required=True, help="JSON file of every figure (written atomically)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    parser.add_argument("--frames", type=at_least(24), default=80, help="frames per video (default 80)")
    parser.add_argument(
        "--prompts", type=at_least(1), default=4, help="how many of the 4 behaviour prompts (default 4)"
    )
    parser.add_argument(
        "--more-seeds", type=at_least(0), default=2, help="further held-out seeds per prompt (default 2)"
    )
    args = parser.parse_args(argv)
    for name in args.models:
        if name != "microworld" and not Path(name, "model_index.json").is_file():
            parser.error(f"{name!r} is not a model folder (no model_index.json in it)")
    from streamt2v.io.folders import atomic_write_file, check_writable_parent
    from streamt2v.memory import describe_machine, resolve_device

    # a folder would fail only at the write, after every video was measured (minutes on a GPU)
    if args.out.endswith(("/", os.sep)) or Path(args.out).is_dir():
        example = str(Path(args.out) / "figures.json")
        parser.error(f"--out {args.out!r} is a folder; give the JSON file, e.g. {example!r}")
    args.out = Path(args.out)
    try:
        device = resolve_device(args.device)
        check_writable_parent(args.out, "--out")
    except (ValueError, OSError) as err:
        parser.error(str(err))
    from streamt2v.cli import library_bars_off, stderr_is_terminal

    logging.basicConfig(level=logging.WARNING)
    started = datetime.now(timezone.utc)  # the figures say when, as every results file of bench/ does
    with contextlib.ExitStack() as bars:
        if not stderr_is_terminal():  # model loading's bars are noise in a log
            bars.enter_context(library_bars_off())
        results = [measure_model(m, device, args.frames, args.prompts, args.more_seeds) for m in args.models]
    report = {
        "machine": describe_machine(device=device),
        "started": f"{started:%Y-%m-%d %H:%M} UTC",
        "frames": args.frames,
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_file(args.out, lambda tmp: tmp.write_text(json.dumps(report, indent=1) + "\n"))
    print(table(results))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
