"""Microworld probes: behaviour measured from frames alone (DESIGN.md §6; paper §5 claims).

The microworld draws objects in the exact palette colours of ``streamt2v.microworld.palette`` on a
background of one palette colour, plain or patterned with a shade of it (stripes, checker, gradient).
The probes segment every frame by that palette, without any ground truth:

- **background**: the palette colour whose *family* (the colour, darker shades ``c·s`` and lighter
  tints ``c + (255 − c)·s``) covers most of the frame border;
- **objects**: pixels outside the background family whose nearest palette colour is within a
  tolerance, cleaned by a 3×3 opening; the object of a colour is that colour's largest connected
  region (its centroid is the object centre); its shape is the renderer's shape template that best
  overlaps it (:func:`classify_shape`).

From this:

- ``identity``: mean over frames of the fraction of expected object colours (given, or those of frame
  0) present with at least ``min_area_frac`` of their frame-0 area — 1.0 when objects keep their
  colour (long-term consistency, paper §4.2 APM);
- ``background_identity``: fraction of frames whose background colour is the expected one;
- ``jump_ratio``: mean object-centre displacement across chunk boundaries (``boundaries`` = first frame
  index of each new chunk; default: the StreamingT2V plan 16, 24, 32, …, :func:`default_boundaries`)
  over the median displacement inside chunks — ≈1 for seamless transitions, ≫1 for jumps (short-term
  consistency, paper §4.1 CAM); ``inf`` when objects are static inside chunks but move at boundaries,
  ``1.0`` when nothing moves, ``nan`` without boundaries (``boundaries=()``) or objects;
- ``motion``: mean object-centre speed in pixels per frame (dynamics, paper §5.1);
- ``caption_agreement``: fraction of the caption's colour (and colour + shape) claims satisfied,
  averaged over frames.
"""

from __future__ import annotations

import functools
import logging
import math
import numbers
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from streamt2v.metrics.inputs import VideoLike, as_uint8_frames
from streamt2v.microworld.palette import COLOURS, SHAPES
from streamt2v.microworld.render import shape_sdf
from streamt2v.pipeline.chunking import plan_chunks
from streamt2v.progress_bars import progress_bar
from streamt2v.typed_values import as_index

logger = logging.getLogger(__name__)

NAMES: tuple[str, ...] = tuple(COLOURS)
PALETTE = np.array([COLOURS[n] for n in NAMES], dtype=np.float32)  # (K, 3)
# Shades of a background colour that count as that colour's family.
DARK_SHADES = np.linspace(0.4, 1.0, 13, dtype=np.float32)
LIGHT_TINTS = np.linspace(0.0, 0.5, 11, dtype=np.float32)
BG_TOL = 40.0  # RGB distance to the background family
OBJ_TOL = 60.0  # RGB distance to an object's palette colour
_SHAPE_WORDS = {s: s for s in SHAPES} | {s + "s": s for s in SHAPES}


def default_boundaries(n_frames: int) -> list[int]:
    """First frame index of every streamed chunk after the first in the pipeline's default plan (paper §4: a
    16-frame first chunk, then 8 new frames a chunk: 16, 24, 32, ...), for probe_video and evaluate_videos."""
    return [chunk.start for chunk in plan_chunks(n_frames)[1:]] if n_frames > 0 else []


def _family(colour: np.ndarray) -> np.ndarray:
    """``(S, 3)`` shades and tints of a palette colour."""
    dark = colour[None] * DARK_SHADES[:, None]
    light = colour[None] + (255.0 - colour[None]) * LIGHT_TINTS[:, None]
    return np.concatenate([dark, light])


FAMILIES = np.stack([_family(c) for c in PALETTE])  # (K, S, 3)


def _family_distance(pixels: np.ndarray, k: int) -> np.ndarray:
    """Distance of ``(N, 3)`` pixels to the family of palette colour ``k``."""
    d = np.linalg.norm(pixels[:, None, :] - FAMILIES[k][None], axis=-1)  # (N, S)
    return d.min(axis=1)


def background_colour(frame: np.ndarray) -> str:
    """The palette colour whose family covers most of the frame border (uint8 ``(H, W, 3)``)."""
    border = np.concatenate([frame[0], frame[-1], frame[1:-1, 0], frame[1:-1, -1]]).astype(np.float32)
    cover = [(_family_distance(border, k) < BG_TOL).mean() for k in range(len(NAMES))]
    return NAMES[int(np.argmax(cover))]


@dataclass
class ObjectBlob:
    colour: str
    area: int
    centre: tuple[float, float]  # (x, y) in pixels
    shape: str


@dataclass
class FrameSegmentation:
    background: str
    objects: dict[str, ObjectBlob] = field(default_factory=dict)


_SCALES = (0.9, 1.0, 1.1)


@functools.cache
def _unit_areas() -> dict[str, float]:
    """Area of each renderer shape of half-extent 1 (its ``render.shape_sdf`` < 0 region), measured on a
    fine grid so the templates follow the renderer's geometry."""
    n, half = 601, 1.5
    g = np.linspace(-half, half, n)
    dx, dy = np.meshgrid(g, g)
    cell = (2 * half / (n - 1)) ** 2
    return {s: float((shape_sdf(s, dx, dy, 1.0) < 0).sum()) * cell for s in SHAPES}


def classify_shape(mask: np.ndarray) -> str:
    """circle | square | triangle | diamond: the renderer's shape template (``render.shape_sdf``,
    centred on the mask's centroid, scaled to its area ×0.9/1/1.1) with the highest IoU with the mask.
    Whole-template matching is robust at 32×32, where a square of 8 pixels with one blurred corner
    would fail a bounding-box fill test."""
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return "unknown"
    # templates only over a window around the blob (one blob extent of margin holds any area-matched
    # template centred on it), not the whole frame
    pad = max(2, int(max(ys.max() - ys.min(), xs.max() - xs.min())) + 1)
    y0, x0 = max(0, ys.min() - pad), max(0, xs.min() - pad)
    m = mask[y0 : ys.max() + pad + 1, x0 : xs.max() + pad + 1].astype(bool)
    gy, gx = np.mgrid[y0 : y0 + m.shape[0], x0 : x0 + m.shape[1]].astype(np.float64)
    dx, dy = gx - xs.mean(), gy - ys.mean()
    best, best_iou = "unknown", -1.0
    for shape, unit_area in _unit_areas().items():
        r0 = math.sqrt(len(ys) / unit_area)
        for scale in _SCALES:
            template = shape_sdf(shape, dx, dy, r0 * scale) < 0
            iou = float((template & m).sum()) / max(1, int((template | m).sum()))
            if iou > best_iou:
                best, best_iou = shape, iou
    return best


#: pixels whose palette distances are computed at once: the distances to a family are 24 per pixel, so a
#: 4K frame at once held 2.4 GB of differences (7.3 GB peak); the labels are the same
_PIXEL_CHUNK = 1 << 16


def _pixel_labels(pixels: np.ndarray, kb: int) -> np.ndarray:
    """For uint8 ``(N, 3)`` pixels: the index of the nearest palette colour within :data:`OBJ_TOL` (not the
    background ``kb``), or -1 for background-family pixels and pixels near no palette colour."""
    labels = np.empty(len(pixels), np.int64)
    for i in range(0, len(pixels), _PIXEL_CHUNK):
        px = pixels[i : i + _PIXEL_CHUNK].astype(np.float32)
        not_bg = _family_distance(px, kb) >= BG_TOL
        d = np.linalg.norm(px[:, None, :] - PALETTE[None], axis=-1)  # (N, K)
        d[:, kb] = np.inf
        nearest = d.argmin(axis=1)
        close = d[np.arange(len(px)), nearest] < OBJ_TOL
        labels[i : i + _PIXEL_CHUNK] = np.where(not_bg & close, nearest, -1)
    return labels


def segment_frame(frame: np.ndarray, background: str | None = None, min_area: int = 3) -> FrameSegmentation:
    """Background colour and one blob per object colour present in a uint8 ``(H, W, 3)`` frame."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        # a [-1, 1] float frame read as 0-255 was all 'black' background with no objects, silently
        raise ValueError(
            f"segment_frame takes a uint8 (H, W, 3) frame, got {frame.dtype} of shape {frame.shape}; "
            "probe_video and segment_video take videos of any accepted form"
        )
    if background is not None and background not in COLOURS:
        raise ValueError(
            f"unknown background colour {background!r}; the palette has {', '.join(sorted(COLOURS))}"
        )
    bg = background or background_colour(frame)
    kb = NAMES.index(bg)
    h, w, _ = frame.shape
    labels = _pixel_labels(frame.reshape(-1, 3), kb).reshape(h, w)
    seg = FrameSegmentation(bg)
    kernel = np.ones((3, 3), np.uint8)
    for k in np.unique(labels[labels >= 0]):
        raw = (labels == k).astype(np.uint8)
        # the opening removes thin blends at edges; areas and shapes use the raw pixels
        mask = cv2.morphologyEx(raw, cv2.MORPH_OPEN, kernel) if min(h, w) >= 24 else raw
        n, comp, stats, cents = cv2.connectedComponentsWithStats(mask, connectivity=8)
        if n <= 1:
            continue
        best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        blob = cv2.dilate((comp == best).astype(np.uint8), kernel).astype(bool) & raw.astype(bool)
        area = int(blob.sum())
        if area < min_area:
            continue
        ys, xs = np.nonzero(blob)
        name = NAMES[int(k)]
        seg.objects[name] = ObjectBlob(name, area, (float(xs.mean()), float(ys.mean())), classify_shape(blob))
    return seg


def segment_video(video: VideoLike, progress: bool = False) -> list[FrameSegmentation]:
    """Segment every frame (each frame's own background, see :func:`background_colour`); ``progress``: a
    bar over the frames (large frames take seconds each)."""
    frames = as_uint8_frames(video, min_frames=1)
    return [
        segment_frame(f)
        for f in progress_bar(frames, desc="probes", unit="frame", disable=not progress, leave=False)
    ]


def caption_claims(caption: str) -> list[tuple[str, str | None, bool]]:
    """Claims ``(colour, shape or None, is_background)`` from a microworld caption, e.g.
    "a red circle and a yellow square on a blue striped background"."""
    words = re.findall(r"[a-z]+", caption.lower())
    claims = []
    for i, word in enumerate(words):
        if word not in COLOURS:
            continue
        ahead = []
        for nxt in words[i + 1 : i + 4]:
            if nxt in COLOURS:
                break
            ahead.append(nxt)
        if "background" in ahead:
            claims.append((word, None, True))
        else:
            shape = next((_SHAPE_WORDS[a] for a in ahead[:2] if a in _SHAPE_WORDS), None)
            claims.append((word, shape, False))
    return claims


@dataclass
class ProbeResult:
    """Probe values of one video (see the module docstring)."""

    identity: float
    background_identity: float
    motion: float
    jump_ratio: float
    caption_agreement: float
    expected_colours: list[str]
    background: str

    def as_dict(self, prefix: str = "probe_") -> dict[str, float]:
        keys = ("identity", "background_identity", "motion", "jump_ratio", "caption_agreement")
        return {prefix + k: float(getattr(self, k)) for k in keys}


def _centres(segs: Sequence[FrameSegmentation], colour: str) -> np.ndarray:
    return np.array(
        [s.objects[colour].centre if colour in s.objects else (np.nan, np.nan) for s in segs], np.float64
    )


def mean_speed(segs: Sequence[FrameSegmentation], colours: Sequence[str]) -> float:
    """Mean centre displacement per frame of each of ``colours`` (frames where it is missing skipped), averaged
    over the colours seen moving; ``nan`` without any (:attr:`ProbeResult.motion`)."""
    speeds = []
    for c in colours:
        cen = _centres(segs, c)
        d = np.linalg.norm(cen[1:] - cen[:-1], axis=1)
        d = d[np.isfinite(d)]
        if len(d):
            speeds.append(float(d.mean()))
    return float(np.mean(speeds)) if speeds else math.nan


def jump_ratio(segs: Sequence[FrameSegmentation], colours: Sequence[str], boundaries: Sequence[int]) -> float:
    """Mean centre displacement into each boundary frame over the median displacement inside chunks."""
    t = len(segs)
    bset = {int(b) for b in boundaries}
    bad = [b for b in bset if not 1 <= b < t]
    if bad:
        raise ValueError(
            f"chunk boundaries must be frame indices in [1, {t - 1}], got {', '.join(map(str, sorted(bad)))}"
        )
    if not bset or not colours:
        return math.nan
    at, inside = [], []
    for c in colours:
        cen = _centres(segs, c)
        disp = np.linalg.norm(cen[1:] - cen[:-1], axis=1)  # disp[i]: frame i → i+1
        for i, d in enumerate(disp):
            if np.isfinite(d):
                (at if i + 1 in bset else inside).append(d)
    if not at or not inside:
        return math.nan
    jump, typical = float(np.mean(at)), float(np.median(inside))
    if typical == 0.0:
        return 1.0 if jump == 0.0 else math.inf
    return jump / typical


def probe_video(
    video: VideoLike,
    caption: str | None = None,
    boundaries: Sequence[int] | None = None,
    expected_colours: Sequence[str] | None = None,
    expected_background: str | None = None,
    min_area_frac: float = 0.3,
    progress: bool = False,
) -> ProbeResult:
    """All probes of one microworld video (frames only; no renderer ground truth needed).

    ``expected_colours`` / ``expected_background`` default to those found in frame 0 (or named in the
    caption when one is given). ``boundaries`` are the first frame indices of chunks after the first;
    ``None`` (default) is the StreamingT2V plan ``range(16, T, 8)`` (16-frame initial chunk + 8 new
    frames per step, paper §4, :func:`default_boundaries`), ``()`` means no boundaries (``jump_ratio``
    is then ``nan``). ``progress``: a bar over the frames.
    """
    if caption is not None and not isinstance(caption, str):
        raise TypeError(f"caption must be a str or None, got {type(caption).__name__} {caption!r}")
    if caption is not None and not caption.strip():  # was a silent nan caption agreement
        raise ValueError(
            f"caption is empty ({caption!r}); give the video's prompt, or None to probe without one"
        )
    if isinstance(expected_colours, str):  # list("red") would be the colours 'r', 'e', 'd'
        raise TypeError(f"expected_colours must be a list of colour names, got the str {expected_colours!r}")
    for c in list(expected_colours or []) + ([expected_background] if expected_background else []):
        if c not in COLOURS:
            raise ValueError(f"unknown colour {c!r}; the palette has {', '.join(sorted(COLOURS))}")
    if (
        not isinstance(min_area_frac, numbers.Real)
        or isinstance(min_area_frac, bool)
        or not 0 <= min_area_frac <= 1
    ):
        raise ValueError(f"min_area_frac must be a number in [0, 1], got {min_area_frac!r}")
    if boundaries is not None:  # before the video is read; 16 was "'int' object is not iterable" after it
        if isinstance(boundaries, (str, bytes)) or not isinstance(boundaries, Iterable):
            raise TypeError(f"boundaries must be a list of frame indices, () or None, got {boundaries!r}")
        boundaries = list(boundaries)
        if any(as_index(b) is None for b in boundaries):
            raise TypeError(f"boundaries must be frame indices (ints), got {boundaries!r}")
    return probe_segmentations(
        segment_video(video, progress=progress),
        caption,
        boundaries,
        expected_colours=expected_colours,
        expected_background=expected_background,
        min_area_frac=min_area_frac,
    )


def probe_segmentations(
    segs: Sequence[FrameSegmentation],
    caption: str | None = None,
    boundaries: Sequence[int] | None = None,
    expected_colours: Sequence[str] | None = None,
    expected_background: str | None = None,
    min_area_frac: float = 0.3,
) -> ProbeResult:
    """:func:`probe_video`'s probes from its segmentation ``segs`` (:func:`segment_video`: every frame on its
    own background), for a caller that segments a video once for several measures; the arguments as there,
    checked by it."""
    if boundaries is None:
        boundaries = default_boundaries(len(segs))
    claims = caption_claims(caption) if caption else []
    if caption and not claims:  # e.g. another language, or a prompt of another world: say why it is nan
        logger.warning(
            "caption %r names no microworld colour (%s), so probe_caption_agreement is nan and the colours "
            "are those found in frame 0",
            caption,
            ", ".join(COLOURS),
        )
    first = segs[0]
    bg = expected_background or next((c for c, _, b in claims if b), None) or first.background
    if expected_colours is None:
        named = [c for c, _, b in claims if not b]
        expected_colours = named or sorted(first.objects)
    colours = list(dict.fromkeys(expected_colours))
    ref_area = {c: first.objects[c].area if c in first.objects else None for c in colours}
    areas = [ref.area for ref in first.objects.values()]
    fallback = float(np.median(areas)) if areas else 4.0

    present = np.zeros((len(segs), len(colours)), bool)
    for t, s in enumerate(segs):
        for j, c in enumerate(colours):
            need = min_area_frac * (ref_area[c] or fallback)
            present[t, j] = c in s.objects and s.objects[c].area >= need
    identity = float(present.mean()) if colours else math.nan
    background_identity = float(np.mean([s.background == bg for s in segs]))

    motion = mean_speed(segs, colours)
    ratio = jump_ratio(segs, colours, boundaries) if len(segs) > 1 else math.nan

    agreement = math.nan
    if claims:
        per_frame = []
        for s in segs:
            ok = 0
            for colour, shape, is_bg in claims:
                if is_bg:
                    ok += s.background == colour
                elif colour in s.objects:
                    ok += shape is None or s.objects[colour].shape == shape
            per_frame.append(ok / len(claims))
        agreement = float(np.mean(per_frame))
    return ProbeResult(identity, background_identity, motion, ratio, agreement, colours, bg)
