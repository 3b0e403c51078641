"""Metric speed on the CPU: seconds per video (paper §5.1 setting: 240 frames at 720×720).

``python bench/bench_metrics.py`` (takes minutes at the full size; ``--frames 24 --size 96`` for a quick
check). Measures optical flow and MAWE for each flow backend, SCuts, the CLIP image tower (random
ViT-B/32 weights unless ``--clip-model`` is given: same FLOPs as the real model) and the microworld
probes (at ``--probe-size``, the microworld's frame size). Writes ``bench/results/metrics_cpu.md``
with the machine named. Not asserted anywhere.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import torch

from streamt2v.memory import describe_machine
from streamt2v.metrics.clip_score import ClipScorer, load_clip
from streamt2v.metrics.flow import compute_flows
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
    p.add_argument("--frames", type=int, default=240)
    p.add_argument("--size", type=int, default=720, help="frame and flow size (paper: 720)")
    p.add_argument("--probe-size", type=int, default=64)
    p.add_argument("--backends", default="dis,farneback,raft")
    p.add_argument("--clip-model", default=None)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "metrics_cpu.md"))
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    log = logging.getLogger("bench_metrics")

    video = synthetic_video(args.frames, args.size)
    rows: list[tuple[str, str, str, float]] = []
    skipped: list[str] = []

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

    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        try:
            add(
                "flow",
                backend,
                args.size,
                timed(lambda b=backend: compute_flows(video, backend=b, size=None)),
            )
            add("mawe", backend, args.size, timed(lambda b=backend: mawe(video, flow=b, flow_size=None)))
        except RuntimeError as err:
            log.info("skipping flow backend %s: %s", backend, str(err).splitlines()[0])
            skipped.append(f"- `{backend}` not measured: {str(err).splitlines()[0]}")
    add("scuts", "-", args.size, timed(lambda: scuts(video)))

    if args.clip_model:
        scorer, clip_name = load_clip(args.clip_model), args.clip_model
    else:
        from transformers import CLIPConfig, CLIPModel

        scorer, clip_name = ClipScorer(None, model=CLIPModel(CLIPConfig())), "random ViT-B/32"
    torch.set_grad_enabled(False)
    add("clip", clip_name, args.size, timed(lambda: scorer.embed_frames(video, batch_size=32)))
    small = probe_video_frames(args.frames, args.probe_size)
    add(
        "probes",
        "-",
        args.probe_size,
        timed(lambda: probe_video(small, boundaries=range(16, args.frames, 8))),
    )

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Metric speed (CPU)",
        "",
        f"Machine: {describe_machine()}.",
        "",
        f"`python bench/bench_metrics.py --frames {args.frames} --size {args.size} "
        f"--probe-size {args.probe_size}` — one synthetic video of {args.frames} frames "
        "(panning texture + moving square); seconds per video, not asserted anywhere. "
        "`mawe` includes its flow; `clip` is the image tower only (the one prompt is negligible).",
        "",
        "| metric | backend | frame size | s / video | s / frame |",
        "|---|---|---|---:|---:|",
        *[f"| {m} | {b} | {s} | {sec:.2f} | {sec / args.frames:.4f} |" for m, b, s, sec in rows],
        "",
        *skipped,
        "",
    ]
    out.write_text("\n".join(lines), encoding="utf-8")
    log.info("wrote %s", out)


if __name__ == "__main__":
    main()
