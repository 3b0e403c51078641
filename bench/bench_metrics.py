"""Metric speed on the CPU: seconds per video (paper §5.1 setting: 240 frames at 720×720).

``python bench/bench_metrics.py`` (takes minutes at the full size; ``--frames 24 --size 96`` for a quick
check). Measures optical flow and MAWE for each flow backend, SCuts, the CLIP image tower (random
ViT-B/32 weights unless ``--clip-model`` is given: same FLOPs as the real model) and the microworld
probes (at ``--probe-size``, the microworld's frame size). Writes ``bench/results/metrics_cpu.md`` (beside
this script; ``--out`` elsewhere) with the machine named. Not asserted anywhere.
"""

from __future__ import annotations

import argparse
import logging
import re
import time

import numpy as np
import torch

from _common import (
    INCOMPLETE,
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
from streamt2v.metrics.clip_score import ClipScorer, load_clip
from streamt2v.metrics.flow import FLOW_BACKENDS, compute_flows
from streamt2v.metrics.mawe import mawe
from streamt2v.metrics.probes import probe_video
from streamt2v.metrics.scuts import scuts
from streamt2v.microworld.palette import COLOURS


def synthetic_video(frames: int, size: int, seed: int = 0) -> np.ndarray:
    """A panning random texture with a moving palette-coloured square: uint8 (T, size, size, 3)."""
    rng = np.random.default_rng(seed)
    tile = rng.integers(0, 256, size=(size // 8 + 1, (size + 2 * frames) // 8 + 2, 3), dtype=np.uint8)
    big = np.kron(tile, np.ones((8, 8, 1), np.uint8))
    out = np.empty((frames, size, size, 3), np.uint8)
    side = max(4, size // 8)
    for t in range(frames):
        out[t] = big[:size, 2 * t : 2 * t + size]
        x = (3 * t) % (size - side)
        out[t, size // 3 : size // 3 + side, x : x + side] = COLOURS["red"]
    return out


def probe_video_frames(frames: int, size: int) -> np.ndarray:
    out = np.empty((frames, size, size, 3), np.uint8)
    side = max(4, size // 6)
    for t in range(frames):
        out[t] = COLOURS["blue"]
        out[t, :, ::4] = (np.array(COLOURS["blue"]) * 0.6).astype(np.uint8)
        x = t % (size - side)
        out[t, size // 4 : size // 4 + side, x : x + side] = COLOURS["yellow"]
    return out


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Sizes below these fail inside OpenCV or the synthetic video after minutes of other metrics.
    p.add_argument(
        "--frames", type=at_least(2), default=240, help="video length; flow needs 2 frames (default 240)"
    )
    p.add_argument(
        "--size",
        type=at_least(12),
        default=720,
        help="frame and flow size, at least 12 (DIS's minimum) (paper and default: 720)",
    )
    p.add_argument(
        "--probe-size",
        type=at_least(5),
        default=64,
        help="frame size of the probe video, at least 5 (its moving square is 4 px) (default 64)",
    )
    p.add_argument(
        "--backends",
        default=",".join(FLOW_BACKENDS),
        help=f"comma-separated flow backends to time, of {', '.join(FLOW_BACKENDS)} (default: all; "
        "raft is skipped with a note where torchvision or its weights are missing)",
    )
    p.add_argument(
        "--clip-model",
        default=None,
        help="CLIP to time: a folder, a hub id or 'microworld' (default: random ViT-B/32 weights)",
    )
    p.add_argument("--threads", type=positive, help="torch threads (default: torch's)")
    p.add_argument(
        "--out",
        help="results file, or a folder for metrics_cpu.md (default: bench/results/metrics_cpu.md beside this script)",
    )
    args = p.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = [b for b in backends if b not in FLOW_BACKENDS]
    if not backends:
        p.error(f"--backends names no backend, got {args.backends!r}; choose from {', '.join(FLOW_BACKENDS)}")
    if unknown:
        p.error(
            f"--backends: unknown {', '.join(map(repr, unknown))}; choose from {', '.join(FLOW_BACKENDS)}"
        )
    out = output_path(p, args.out, "metrics_cpu.md")
    if args.threads:
        torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    log = logging.getLogger("bench_metrics")

    # The CLIP model loads before anything is timed, so a wrong name fails in seconds, not after the flows.
    if args.clip_model:
        quiet_library_bars(("transformers",))  # the only library whose models load here
        try:
            scorer, clip_name = load_clip(args.clip_model), args.clip_model
        except OSError as err:  # no such folder, a file, not reachable
            p.error(f"--clip-model: {err}")
    else:
        from transformers import CLIPConfig, CLIPModel

        scorer, clip_name = ClipScorer(None, model=CLIPModel(CLIPConfig())), "random ViT-B/32"

    log.info("Machine: %s.", machine())  # as in the results file, for a log of the run
    video = synthetic_video(args.frames, args.size)
    rows: list[tuple[str, str, str, float]] = []
    skipped: list[str] = []
    header = [
        "# Metric speed (CPU)",
        "",
        stamp(),
        "",
        f"Command: `{command()}`: one synthetic video of {args.frames} frames at {args.size}×{args.size} "
        f"(panning texture + moving square; the probes' at {args.probe_size}×{args.probe_size}); seconds "
        "per video, not asserted anywhere. "
        "`mawe` includes its flow; `clip` is the image tower only (the one prompt is negligible).",
        "",
        "| metric | backend | frame size | s / video | s / frame |",
        "|---|---|---|---:|---:|",
    ]

    def results_text(done: bool) -> str:
        table = [f"| {m} | {b} | {s} | {sec:.2f} | {sec / args.frames:.4f} |" for m, b, s, sec in rows]
        notes = ([] if done else ["", INCOMPLETE]) + ["", *skipped]
        return "\n".join(header + table + notes + [""])

    def add(metric: str, backend: str, size: int, seconds: float) -> None:
        rows.append((metric, backend, f"{size}×{size}", seconds))
        log.info(
            "%-8s %-10s %4d px  %8.2f s/video  %.4f s/frame",
            metric,
            backend,
            size,
            seconds,
            seconds / args.frames,
        )
        # rewritten after every row: a run stopped part-way (minutes at the paper's size) keeps them
        write_results(out, results_text(done=False), len(rows))

    for backend in backends:
        try:
            add(
                "flow",
                backend,
                args.size,
                timed(lambda b=backend: compute_flows(video, backend=b, size=None)),
            )
            add("mawe", backend, args.size, timed(lambda b=backend: mawe(video, flow=b, flow_size=None)))
        except RuntimeError as err:  # raft without torchvision or its weights
            # The library's hint names the evaluate CLI's flags (--flow, --raft-weights); keep its first
            # sentence (what is missing) and name this script's flag instead.
            reason = re.split(r"\.\s+(?=[A-Z])", str(err).splitlines()[0])[0].rstrip(".")
            others = ",".join(b for b in FLOW_BACKENDS if b != backend)
            log.info("skipping flow backend %s: %s; leave it out with --backends %s", backend, reason, others)
            skipped.append(f"- `{backend}` not measured: {reason} (leave it out with `--backends {others}`).")
    add("scuts", "-", args.size, timed(lambda: scuts(video)))

    torch.set_grad_enabled(False)
    add("clip", clip_name, args.size, timed(lambda: scorer.embed_frames(video, batch_size=32)))
    small = probe_video_frames(args.frames, args.probe_size)
    add(
        "probes",
        "-",
        args.probe_size,
        timed(lambda: probe_video(small, boundaries=range(16, args.frames, 8))),
    )
    write_results(out, results_text(done=True))
    log.info("wrote %s", out)


if __name__ == "__main__":
    run(main)
