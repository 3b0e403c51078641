"""Behaviour checks of a trained microworld model (issue 5; paper §4.1 CAM, §4.2 APM, §5.1 dynamics).

Measured from generated frames with :mod:`streamt2v.metrics.probes` (palette segmentation, no learned
metric), on held-out prompts and seeds (:data:`~streamt2v.microworld.dataset.EVAL_PROMPTS`):

- **identity**: for each prompted object, the fraction of frames in which an object of its colour is
  present (≥ 30% of its frame-0 area) and, separately, has the prompted shape; the prompted colours are
  present in the first and in the last frame; the background colour is the prompted one;
- **jump ratio**: mean object-centre displacement across chunk boundaries over the median displacement
  inside chunks (CAM: seamless transitions);
- **speed ratio**: mean object speed (px/frame) over the speed the caption implies (the middle of the
  caption's speed class, the slow class when the caption names none) — no stagnation;
- **CAM ablation**: the same video with every streaming chunk conditioned on the frames of an unrelated
  video (another scene of the same prompt) instead of its own previous frames; its jump ratio over the
  normal one (geometric mean over videos) shows that the CAM is used.

:data:`THRESHOLDS` are the pass marks used by ``tests/test_microworld_behaviour.py`` and the model card.
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from streamt2v.metrics.inputs import as_uint8_frames
from streamt2v.metrics.probes import FrameSegmentation, caption_claims, probe_segmentations, segment_frame
from streamt2v.microworld.captions import parse_caption
from streamt2v.microworld.dataset import EVAL_PROMPTS, eval_scene
from streamt2v.microworld.render import SPEEDS, render

if TYPE_CHECKING:
    from streamt2v.models.bundle import StreamingT2VModel

logger = logging.getLogger(__name__)

THRESHOLDS: dict[str, float] = {
    "colour_presence": 0.9,  # ≥: fraction of frames each prompted colour is present
    "shape_presence": 0.9,  # ≥: fraction of frames each prompted object has its prompted shape
    "background": 0.9,  # ≥: fraction of frames with the prompted background colour
    "jump_ratio": 3.0,  # ≤: boundary displacement / median displacement inside chunks
    "speed_ratio": 0.5,  # ≥: mean object speed / speed the caption implies
    "cam_ablation_gain": 1.5,  # ≥: jump ratio without CAM conditioning / with it (geometric mean)
}

# Held-out prompts of the behaviour tests (indices into EVAL_PROMPTS): one- and two-object scenes,
# plain / patterned / panning backgrounds, both speed words.
BEHAVIOUR_PROMPTS: tuple[int, ...] = (1, 4, 6, 2)
# Further seeds of a held-out prompt: seed + k · SEED_STRIDE (k ≥ 1), still ≥ EVAL_SEED_BASE, so held out.
SEED_STRIDE = 1000


@dataclass
class VideoBehaviour:
    """Measured behaviour of one generated video (see the module docstring)."""

    prompt: str
    seed: int
    colour_presence: float  # min over prompted objects
    shape_presence: float  # min over prompted objects
    colours_first_last: bool
    background: float
    jump_ratio: float
    speed: float  # px / frame
    implied_speed: float  # px / frame
    speed_ratio: float
    ablated_jump_ratio: float = math.nan
    # The CAM ablation's reference: the jump ratio of the same video sampled with CAM_ONLY, when the
    # sampler also hands the conditioning frames over otherwise (then the ablation runs with CAM_ONLY
    # too); None when the video itself is the reference.
    cam_jump_ratio: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_prompt(prompt: str) -> None:
    """Raise unless ``prompt`` is a microworld caption the checks can measure: a background colour and a
    colour for every object (the probes find objects and background by colour). Before any generation:
    without a background it was a bare StopIteration, an object without colour 'min() arg is an empty
    sequence', after the video was made."""
    constraints = parse_caption(prompt)  # unknown words, contradictions: named there
    if constraints.background is None:
        raise ValueError(
            f"behaviour prompt {prompt!r} names no background colour; the checks measure prompts "
            "'a COLOUR SHAPE bouncing on a COLOUR background' (docs/microworld.md)"
        )
    if any(colour is None for colour, _ in constraints.objects or ()):
        raise ValueError(
            f"behaviour prompt {prompt!r} names an object without its colour; the probes find objects by "
            "colour ('a red circle', not 'a circle')"
        )


def implied_speed(prompt: str, size: int) -> float:
    """Object speed (px/frame) a caption implies: the middle of its speed class (slow when unsaid)."""
    speed = parse_caption(prompt).speed or "slow"
    lo, hi = SPEEDS[speed]
    return 0.5 * (lo + hi) * size


def chunk_boundaries(num_frames: int, chunk_frames: int = 16, cond_frames: int = 8) -> list[int]:
    """First frame index of every chunk after the first (text-to-video, no prefix)."""
    from streamt2v.pipeline.chunking import plan_chunks

    plan = plan_chunks(num_frames, chunk_frames=chunk_frames, cond_frames=cond_frames)
    return [c.start for c in plan[1:]]


def sampler_options(model: StreamingT2VModel, **overrides: Any) -> dict[str, Any]:
    """The model's recommended sampler settings (``model.sampler``) with ``overrides``."""
    return {**getattr(model, "sampler", {}), **overrides}


# Stage-2 settings under which a chunk sees its conditioning frames through the CAM only: the replacement
# method and a chunk start from the conditioning frames (``chunk_strength`` < 1) would hand the unrelated
# frames of the CAM ablation to the chunk directly, so the ablation (and its reference) runs with these.
CAM_ONLY = {"cond_replacement": False, "chunk_strength": 1.0}


def bypasses_cam(options: dict[str, Any]) -> bool:
    """Whether sampler ``options`` hand the conditioning frames to a chunk other than through the CAM."""
    return any(options.get(k, v) != v for k, v in CAM_ONLY.items())


@torch.no_grad()
def generate(
    model: StreamingT2VModel, prompt: str, seed: int, num_frames: int, **options: Any
) -> torch.Tensor:
    """``(1, 3, T, H, W)`` video in ``[-1, 1]`` through the public pipeline API."""
    from streamt2v.pipeline.generate import StreamingT2VPipeline

    pipe = StreamingT2VPipeline(model)
    return pipe(prompt, num_frames, seed=seed, **sampler_options(model, **options))


@torch.no_grad()
def regenerate_streaming(
    model: StreamingT2VModel, prompt: str, seed: int, video: torch.Tensor, **options: Any
) -> torch.Tensor:
    """What :func:`generate` makes with ``options`` from the ``prompt`` and ``seed`` that made ``video``
    (``(1, 3, T, H, W)``, by :func:`generate`), when ``options`` change stage-2 settings only (e.g.
    :data:`CAM_ONLY`): ``video``'s stage-1 chunk, then every streaming chunk sampled again, continuing
    from it as the full run does (same state, same per-chunk noise); stage 1 is not sampled twice."""
    from streamt2v.pipeline.generate import StreamingT2VPipeline
    from streamt2v.pipeline.stream import StreamConfig, StreamState

    options = sampler_options(model, **options)
    num_frames = video.shape[2]
    cfg = StreamConfig(num_frames=num_frames, seed=seed, **options).resolved()  # the official rest
    starts = chunk_boundaries(num_frames, cfg.chunk_frames, cfg.cond_frames)
    if not starts:  # stage 1 only
        return video.clone()
    first = starts[0]
    state = StreamState(
        next_chunk=1,
        tail=video[:, :, first - cfg.cond_frames : first].clone(),
        anchor=video[:, :, :1].clone(),
        anchor_prompt=prompt.strip(),  # as the schedule of the prompt holds it
    )
    chunks = StreamingT2VPipeline(model).stream(prompt, num_frames, resume=state, seed=seed, **options)
    return torch.cat([video[:, :, :first], *(c.frames for c in chunks)], dim=2)


@torch.no_grad()
def generate_without_cam(
    model: StreamingT2VModel,
    prompt: str,
    seed: int,
    video: torch.Tensor,
    unrelated: torch.Tensor,
    **options: Any,
) -> torch.Tensor:
    """``video`` with every streaming chunk regenerated from the frames of ``unrelated`` (same length,
    ``(1, 3, T, H, W)``) as CAM conditioning instead of its own previous frames. The APM anchor (frame 0),
    the prompt and each chunk's noise stay those of the normal run. Always with :data:`CAM_ONLY`: this
    ablation is about the CAM."""
    from streamt2v.pipeline.stream import StreamConfig, StreamState, stream

    options = sampler_options(model, **{**options, **CAM_ONLY})
    cfg = StreamConfig(num_frames=video.shape[2], seed=seed, **options).resolved()
    f_cond = cfg.cond_frames
    out = [video[:, :, : cfg.chunk_frames]]
    anchor = video[:, :, :1].clone()
    for k, start in enumerate(chunk_boundaries(video.shape[2], cfg.chunk_frames, f_cond), start=1):
        state = StreamState(
            next_chunk=k,
            tail=unrelated[:, :, start - f_cond : start].clone(),
            anchor=anchor,
            anchor_prompt=prompt.strip(),
        )
        chunk = next(iter(stream(model, prompt, cfg, resume=state)))
        out.append(chunk.frames)
    return torch.cat(out, dim=2)


def _segmentations(
    frames: np.ndarray, background: str
) -> tuple[list[FrameSegmentation], list[FrameSegmentation]]:
    """Each frame segmented on its own background colour (as :func:`~streamt2v.metrics.probes.probe_video`
    does) and on the prompted ``background``: once where the two colours agree (the same computation)."""
    own = [segment_frame(f) for f in frames]
    prompted = [
        s if s.background == background else segment_frame(f, background=background)
        for f, s in zip(frames, own)
    ]
    return own, prompted


def measure_video(video: torch.Tensor, prompt: str, seed: int, boundaries: Sequence[int]) -> VideoBehaviour:
    """Probe one generated video against its prompt."""
    check_prompt(prompt)
    frames = as_uint8_frames(video[0] if video.dim() == 5 else video, min_frames=2)
    size = frames.shape[1]
    claims = caption_claims(prompt)
    objects = [(c, s) for c, s, is_bg in claims if not is_bg]
    background = next(c for c, _, is_bg in claims if is_bg)
    own, segs = _segmentations(frames, background)
    # the figures probe_video gives with these expected colours and background
    probes = probe_segmentations(
        own, boundaries=boundaries, expected_colours=[c for c, _ in objects], expected_background=background
    )
    # reference area: the rendered object's area at this size (the generated frame 0 may be off)
    ref_area = {
        c: max(4.0, 0.3 * float(np.median([s.objects[c].area for s in segs if c in s.objects] or [4])))
        for c, _ in objects
    }
    colour_frac, shape_frac = [], []
    for c, shape in objects:
        present = [c in s.objects and s.objects[c].area >= ref_area[c] for s in segs]
        colour_frac.append(float(np.mean(present)))
        shaped = [p and (shape is None or s.objects[c].shape == shape) for p, s in zip(present, segs)]
        shape_frac.append(float(np.mean(shaped)))
    first_last = all(c in segs[0].objects and c in segs[-1].objects for c, _ in objects)
    implied = implied_speed(prompt, size)
    return VideoBehaviour(
        prompt=prompt,
        seed=int(seed),
        colour_presence=min(colour_frac),
        shape_presence=min(shape_frac),
        colours_first_last=bool(first_last),
        background=probes.background_identity,
        jump_ratio=probes.jump_ratio,
        speed=probes.motion,
        implied_speed=implied,
        speed_ratio=probes.motion / implied,
    )


def unrelated_video(prompt: str, seed: int, num_frames: int, size: int) -> torch.Tensor:
    """Another ground-truth scene of the same prompt (different positions and velocities)."""
    return render(eval_scene(prompt, seed + 7919), num_frames, size)[None]


def measure(
    model: StreamingT2VModel,
    prompts: Sequence[tuple[str, int]] | None = None,
    num_frames: int = 80,
    ablation: bool = True,
    **options: Any,
) -> list[VideoBehaviour]:
    """Generate and measure one video per ``(prompt, seed)`` (default: :data:`BEHAVIOUR_PROMPTS`)."""
    prompts = list(prompts) if prompts is not None else behaviour_prompts()
    for prompt, _ in prompts:
        check_prompt(prompt)
    bounds = chunk_boundaries(num_frames)
    size = model.config.frame_size
    results = []
    for prompt, seed in prompts:
        video = generate(model, prompt, seed, num_frames, **options)
        r = measure_video(video, prompt, seed, bounds)
        if ablation:
            reference = video
            if bypasses_cam(sampler_options(model, **options)):
                # the ablation runs with CAM_ONLY (generate_without_cam), so its reference does
                reference = regenerate_streaming(model, prompt, seed, video, **{**options, **CAM_ONLY})
                r.cam_jump_ratio = measure_video(reference, prompt, seed, bounds).jump_ratio
            other = unrelated_video(prompt, seed, num_frames, size)
            ablated = generate_without_cam(model, prompt, seed, reference, other, **options)
            r.ablated_jump_ratio = measure_video(ablated, prompt, seed, bounds).jump_ratio
        logger.info("behaviour %s", r.as_dict())
        results.append(r)
    return results


# Long videos are measured in windows of the tested videos' length, each window as one such video.
LONG_WINDOW = 80


def measure_windows(
    video: torch.Tensor, prompt: str, seed: int, window: int = LONG_WINDOW
) -> list[VideoBehaviour]:
    """The figures of every whole ``window``-frame window of a long text-to-video ``video``
    ``(1, 3, T, H, W)``, each measured as a video of its own, with the chunk boundaries inside it: does
    the video keep its identity and motion at frame 1000 as at frame 50?"""
    num_frames = video.shape[2]
    if window < 2 or num_frames < window:
        raise ValueError(f"window must be in [2, {num_frames}] (the video's frames), got {window}")
    starts = chunk_boundaries(num_frames)
    return [
        measure_video(
            video[:, :, a : a + window], prompt, seed, [c - a for c in starts if a < c < a + window]
        )
        for a in range(0, num_frames - window + 1, window)
    ]


def measure_long(
    model: StreamingT2VModel,
    prompts: Sequence[tuple[str, int]],
    num_frames: int,
    window: int = LONG_WINDOW,
    **options: Any,
) -> list[dict[str, Any]]:
    """One ``num_frames``-frame video per ``(prompt, seed)``, measured per window
    (:func:`measure_windows`): ``{"prompt", "seed", "num_frames", "window", "windows": [figures...]}``."""
    from streamt2v.progress_bars import progress_bar

    prompts = list(prompts)  # iterated twice: a generator would be spent by the check
    for prompt, _ in prompts:
        check_prompt(prompt)
    rows = []
    for prompt, seed in progress_bar(prompts, desc=f"{num_frames}-frame videos"):
        video = generate(model, prompt, seed, num_frames, **options)
        windows = measure_windows(video, prompt, seed, window)
        rows.append(
            {
                "prompt": prompt,
                "seed": int(seed),
                "num_frames": num_frames,
                "window": window,
                "windows": [w.as_dict() for w in windows],
            }
        )
    return rows


@torch.no_grad()
def measure_reference(
    prompts: Sequence[tuple[str, int]] | None = None,
    num_frames: int = 80,
    size: int = 32,
    autoencoder: Any = None,
) -> list[VideoBehaviour]:
    """The same figures on the ground truth of each ``(prompt, seed)`` (default: :data:`BEHAVIOUR_PROMPTS`):
    its held-out scene rendered (:func:`~streamt2v.microworld.dataset.eval_scene`), or, with
    ``autoencoder`` (a :class:`~streamt2v.models.autoencoder.VideoAutoencoder`), encoded and decoded by it.
    What a model can reach: a threshold the rendered scenes miss is beyond the probes, one the round trip
    misses is beyond that VAE, whatever the UNets learn."""
    prompts = list(prompts) if prompts is not None else behaviour_prompts()
    for prompt, _ in prompts:
        check_prompt(prompt)
    bounds = chunk_boundaries(num_frames)
    results = []
    for prompt, seed in prompts:
        video = render(eval_scene(prompt, seed), num_frames, size)[None]  # (1, 3, T, H, W) in [-1, 1]
        if autoencoder is not None:
            video = autoencoder.decode(autoencoder.encode(video)).float().cpu()
        results.append(measure_video(video.clamp(-1, 1), prompt, seed, bounds))
    return results


def behaviour_prompts() -> list[tuple[str, int]]:
    """The tested held-out ``(prompt, seed)`` pairs (:data:`BEHAVIOUR_PROMPTS`)."""
    return [EVAL_PROMPTS[i] for i in BEHAVIOUR_PROMPTS]


def more_seeds(prompts: Sequence[tuple[str, int]], repeats: int) -> list[tuple[str, int]]:
    """``repeats`` further held-out seeds of each ``(prompt, seed)``: ``seed + k · SEED_STRIDE`` for
    ``k = 1 … repeats``, grouped by ``k`` (how much one seed's figures vary, model card)."""
    if isinstance(repeats, bool) or not isinstance(repeats, numbers.Integral):
        raise TypeError(f"repeats must be an int ≥ 0, got {type(repeats).__name__} {repeats!r}")
    if repeats < 0:
        raise ValueError(f"repeats must be ≥ 0, got {repeats}")
    return [(p, s + k * SEED_STRIDE) for k in range(1, repeats + 1) for p, s in prompts]


def video_passes(r: VideoBehaviour) -> dict[str, bool]:
    """Per-video pass of each :data:`THRESHOLDS` figure measured on one video (an untracked object,
    NaN jump or speed ratio, fails)."""
    t = THRESHOLDS
    return {
        "colour_presence": r.colour_presence >= t["colour_presence"],
        "shape_presence": r.shape_presence >= t["shape_presence"],
        "background": r.background >= t["background"],
        "jump_ratio": bool(np.isfinite(r.jump_ratio)) and r.jump_ratio <= t["jump_ratio"],
        "speed_ratio": bool(np.isfinite(r.speed_ratio)) and r.speed_ratio >= t["speed_ratio"],
        "colours_first_last": r.colours_first_last,
    }


def cam_ablation_gain(results: Sequence[VideoBehaviour]) -> float:
    """Geometric mean over videos of (jump ratio without CAM conditioning) / (jump ratio with it, of the
    ablation's reference: ``cam_jump_ratio`` where set), over the videos where both are finite and
    positive (a ratio of means would be ruled by one outlier)."""
    pairs = [
        (r.ablated_jump_ratio, r.jump_ratio if r.cam_jump_ratio is None else r.cam_jump_ratio)
        for r in results
    ]
    ratios = [a / j for a, j in pairs if np.isfinite(a) and np.isfinite(j) and a > 0 and j > 0]
    return float(np.exp(np.mean(np.log(ratios)))) if ratios else math.nan


def summary(results: Sequence[VideoBehaviour]) -> dict[str, float]:
    """Worst case over videos of each thresholded figure (NaN jump ratios count as failures: no object
    found to track), and the CAM-ablation gain."""
    if not results:  # was min()'s 'arg is an empty sequence'
        raise ValueError(
            "no behaviour results to summarise (measure() returned none: were no prompts given?)"
        )
    jumps = [r.jump_ratio if np.isfinite(r.jump_ratio) else math.inf for r in results]
    return {
        "colour_presence": min(r.colour_presence for r in results),
        "shape_presence": min(r.shape_presence for r in results),
        "colours_first_last": float(all(r.colours_first_last for r in results)),
        "background": min(r.background for r in results),
        "jump_ratio": max(jumps),
        "speed_ratio": min(r.speed_ratio if np.isfinite(r.speed_ratio) else 0.0 for r in results),
        "cam_ablation_gain": cam_ablation_gain(results),
    }
