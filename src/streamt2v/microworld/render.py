"""Procedural microworld scenes and their renderer, with per-frame ground truth (DESIGN.md §6).

A scene is a background (palette colour, plain or patterned, optionally panning at a constant speed)
and one or two objects moving at constant velocity and bouncing off the frame edges, so motion never
ends and long videos (paper §5: 240–1200 frames) stay dynamic. Everything is analytic in time, so any
frame range renders directly (``start_frame``) and at any square size (base and refiner resolution
show the same scene).

Coordinates are normalised: ``x`` to the right, ``y`` downwards, both in ``[0, 1]`` over the frame.
Object ``size`` is the half-extent of its bounding box as a fraction of the frame; velocities are in
frames-widths per frame. Edges are antialiased analytically: each pixel's coverage is
``clip(0.5 - signed_distance / pixel_size, 0, 1)`` (a box-filter approximation, exact on straight edges).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np
import torch

from streamt2v.microworld.palette import BACKGROUND_PATTERNS, COLOURS, SHAPES, colour_rgb, pattern_shade

# Speed classes (caption words "slowly"/"fast"): object speed range in frame-widths per frame.
SPEEDS: dict[str, tuple[float, float]] = {"slow": (0.012, 0.022), "fast": (0.035, 0.05)}
PAN_DIRECTIONS: dict[str, tuple[float, float]] = {
    "none": (0.0, 0.0),
    "left": (-1.0, 0.0),
    "right": (1.0, 0.0),
    "up": (0.0, -1.0),
    "down": (0.0, 1.0),
}
PAN_SPEED_RANGE = (0.01, 0.02)  # camera speed, frame-widths per frame
SIZE_RANGE = (0.12, 0.2)  # object half-extent, fraction of the frame
PATTERN_PERIOD = 0.25  # stripes/checker period, fraction of the frame
FPS = 8  # microworld frame rate
# Frame indices are float64 times: exact below 2**53; past it neighbouring frames rendered identical.
FRAME_LIMIT = 2**53

Rng = np.random.Generator | torch.Generator | int


def _check_pair(name: str, value: object) -> None:
    """``value`` must be two finite numbers: a NaN velocity or pan rendered a silently NaN video."""
    try:
        pair = tuple(value)  # type: ignore[call-overload]
    except TypeError:
        pair = ()
    real = [isinstance(v, numbers.Real) and not isinstance(v, bool) for v in pair]
    if len(pair) != 2 or not all(real) or not all(math.isfinite(v) for v in pair):
        raise ValueError(f"{name} must be two finite numbers (x, y), got {value!r}")


@dataclass(frozen=True)
class ObjectSpec:
    """One moving object: shape and colour names from the palette, half-extent, start centre, velocity."""

    shape: str
    colour: str
    size: float
    position: tuple[float, float]
    velocity: tuple[float, float]

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ValueError(f"unknown shape {self.shape!r}; allowed: {', '.join(SHAPES)}")
        colour_rgb(self.colour)
        if not 0.02 <= self.size < 0.5:
            raise ValueError(f"object size {self.size} must be in [0.02, 0.5) (fraction of the frame)")
        _check_pair("object position", self.position)
        _check_pair("object velocity", self.velocity)

    @property
    def speed(self) -> float:
        return math.hypot(*self.velocity)


@dataclass(frozen=True)
class SceneSpec:
    """A whole scene: background colour/pattern, camera pan velocity, 1–2 objects (drawn in order)."""

    background: str
    pattern: str = "plain"
    pan: tuple[float, float] = (0.0, 0.0)
    objects: tuple[ObjectSpec, ...] = field(default_factory=tuple)
    speed: str = "slow"  # the speed class the velocities were drawn from (caption word)

    def __post_init__(self) -> None:
        colour_rgb(self.background)
        _check_pair("pan", self.pan)
        if self.pattern not in BACKGROUND_PATTERNS:
            raise ValueError(f"unknown pattern {self.pattern!r}; allowed: {', '.join(BACKGROUND_PATTERNS)}")
        if not 1 <= len(self.objects) <= 2:
            raise ValueError(f"a scene has 1 or 2 objects, got {len(self.objects)}")
        for obj in self.objects:
            if obj.colour == self.background:
                raise ValueError(f"object colour {obj.colour!r} equals the background colour")
        colours = [obj.colour for obj in self.objects]
        if len(set(colours)) != len(colours):
            # the probes (metrics/probes.py) tell objects apart by colour
            raise ValueError(f"the objects of a scene need distinct colours, got {colours}")
        if self.speed not in SPEEDS:
            raise ValueError(f"unknown speed {self.speed!r}; allowed: {', '.join(SPEEDS)}")

    @property
    def pan_direction(self) -> str:
        """``none``/``left``/``right``/``up``/``down`` from the pan velocity (the dominant axis)."""
        px, py = self.pan
        if px == 0.0 and py == 0.0:
            return "none"
        if abs(px) >= abs(py):
            return "left" if px < 0 else "right"
        return "up" if py < 0 else "down"


@dataclass(frozen=True)
class SceneConstraints:
    """What a caption fixes about a scene (``None`` = free); see ``captions.parse_caption``."""

    objects: tuple[tuple[str | None, str | None], ...] | None = None  # (colour, shape) per object
    background: str | None = None
    pattern: str | None = None
    speed: str | None = None
    pan: str | None = None

    def matches(self, scene: SceneSpec) -> bool:
        """True when ``scene`` satisfies every fixed field."""
        if self.objects is not None:
            if len(self.objects) != len(scene.objects):
                return False
            for (c, s), obj in zip(self.objects, scene.objects):
                if (c is not None and c != obj.colour) or (s is not None and s != obj.shape):
                    return False
        checks = (
            (self.background, scene.background),
            (self.pattern, scene.pattern),
            (self.speed, scene.speed),
            (self.pan, scene.pan_direction),
        )
        return all(want is None or want == got for want, got in checks)


def as_numpy_rng(rng: Rng) -> np.random.Generator:
    """A numpy Generator from a numpy Generator, an int seed, or a torch CPU generator (consumed)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, torch.Generator):
        seed = int(torch.randint(0, 2**62, (1,), generator=rng).item())
        return np.random.default_rng(seed)
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        if rng < 0:
            raise ValueError(f"a scene seed must be a non-negative int, got {int(rng)}")
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be a numpy Generator, torch Generator or int seed, got {type(rng).__name__}")


def sample_scene(
    rng: Rng,
    constraints: SceneConstraints | None = None,
    *,
    num_objects: int | None = None,
    pan_probability: float = 0.4,
) -> SceneSpec:
    """Draw a random scene (optionally satisfying ``constraints``), deterministic in ``rng``.

    Objects get distinct colours, none equal to the background; pan only on patterned backgrounds
    (a plain background shows no camera motion).
    """
    if num_objects is not None and num_objects not in (1, 2):
        raise ValueError(f"num_objects must be 1 or 2, got {num_objects!r}")
    if not 0.0 <= pan_probability <= 1.0:
        raise ValueError(f"pan_probability must be in [0, 1], got {pan_probability!r}")
    if constraints is not None and not isinstance(constraints, SceneConstraints):
        hint = " (a caption is read by captions.parse_caption)" if isinstance(constraints, str) else ""
        raise TypeError(
            f"constraints must be SceneConstraints or None, got {type(constraints).__name__} "
            f"{constraints!r}{hint}"
        )
    if constraints is not None and constraints.speed is not None and constraints.speed not in SPEEDS:
        raise ValueError(f"unknown speed {constraints.speed!r}; allowed: {', '.join(SPEEDS)}")
    g = as_numpy_rng(rng)
    c = constraints or SceneConstraints()
    colours = list(COLOURS)
    n = len(c.objects) if c.objects is not None else (num_objects or int(g.integers(1, 3)))
    if not 1 <= n <= 2:
        raise ValueError(f"a scene has 1 or 2 objects, the constraints name {n}")
    if c.objects is not None and num_objects is not None and num_objects != n:
        raise ValueError(f"num_objects={num_objects} contradicts the constraints' {n} object(s)")
    wanted = [oc for oc, _ in (c.objects or ())]
    if c.background is not None:
        background = c.background
    else:
        background = str(g.choice([k for k in colours if k not in wanted]))
    pattern = c.pattern if c.pattern is not None else str(g.choice(BACKGROUND_PATTERNS))
    speed = c.speed if c.speed is not None else str(g.choice(list(SPEEDS)))
    if c.pan is not None:
        pan_dir = c.pan
    elif pattern != "plain" and g.random() < pan_probability:
        pan_dir = str(g.choice([d for d in PAN_DIRECTIONS if d != "none"]))
    else:
        pan_dir = "none"
    if pan_dir not in PAN_DIRECTIONS:
        raise ValueError(f"unknown pan direction {pan_dir!r}; allowed: {', '.join(PAN_DIRECTIONS)}")
    pan_speed = float(g.uniform(*PAN_SPEED_RANGE))
    pan = tuple(pan_speed * d for d in PAN_DIRECTIONS[pan_dir])

    used = {background}
    objects = []
    for i in range(n):
        want_colour, want_shape = c.objects[i] if c.objects is not None else (None, None)
        if want_colour is None:
            want_colour = str(g.choice([k for k in colours if k not in used and k not in wanted]))
        used.add(want_colour)
        shape = want_shape if want_shape is not None else str(g.choice(SHAPES))
        size = float(g.uniform(*SIZE_RANGE))
        pos = (float(g.uniform(size, 1 - size)), float(g.uniform(size, 1 - size)))
        # Direction away from the axes (10°–80° within a quadrant), so both coordinates move.
        angle = float(g.uniform(math.radians(10), math.radians(80)) + g.integers(0, 4) * math.pi / 2)
        mag = float(g.uniform(*SPEEDS[speed]))
        objects.append(
            ObjectSpec(shape, want_colour, size, pos, (mag * math.cos(angle), mag * math.sin(angle)))
        )
    return SceneSpec(background, pattern, pan, tuple(objects), speed)  # type: ignore[arg-type]


def object_centres(scene: SceneSpec, frames: np.ndarray) -> np.ndarray:
    """Normalised centres ``(len(frames), num_objects, 2)`` (x, y) with reflection at the edges.

    The centre moves at constant velocity inside ``[size, 1 - size]`` and reflects off its ends
    (a triangle wave in time), so a bounding box never leaves the frame.
    """
    t = np.asarray(frames, dtype=np.float64)[:, None]
    out = np.empty((t.shape[0], len(scene.objects), 2))
    for k, obj in enumerate(scene.objects):
        lo, span = obj.size, 1.0 - 2.0 * obj.size
        for a in range(2):
            x = obj.position[a] - lo + obj.velocity[a] * t[:, 0]
            m = np.mod(x, 2.0 * span)
            out[:, k, a] = lo + np.where(m <= span, m, 2.0 * span - m)
    return out


def shape_sdf(shape: str, dx: np.ndarray, dy: np.ndarray, r: float) -> np.ndarray:
    """Signed distance (in the units of ``dx``, ``dy``, ``r``; negative inside) of a shape of half-extent
    ``r`` centred at 0, as drawn by the renderer (also the probes' shape templates)."""
    if shape == "circle":
        return np.sqrt(dx * dx + dy * dy) - r
    if shape == "square":
        return np.maximum(np.abs(dx), np.abs(dy)) - 0.85 * r
    if shape == "diamond":
        return (np.abs(dx) + np.abs(dy) - r) / math.sqrt(2.0)
    if shape == "triangle":
        # Apex (0, -r), base corners (±r, r/2): centroid at the centre. Max of edge half-planes.
        base = dy - 0.5 * r
        norm = math.hypot(1.5, 1.0)
        side = (1.5 * np.abs(dx) - dy - r) / norm
        return np.maximum(base, side)
    raise ValueError(f"unknown shape {shape!r}; allowed: {', '.join(SHAPES)}")


def _coverage(sdf: np.ndarray, size: int) -> np.ndarray:
    return np.clip(0.5 - sdf * size, 0.0, 1.0).astype(np.float32)


def _band(u: np.ndarray, period: float, size: int) -> np.ndarray:
    """Antialiased square wave in ``u`` (1 on the second half of each period)."""
    half = period / 2.0
    m = np.mod(u, period)
    # Signed distance to the band [half, period): negative inside.
    d = np.minimum(np.abs(m - half), np.abs(m - period))
    d = np.minimum(d, m)
    inside = m >= half
    sdf = np.where(inside, -d, d)
    return _coverage(sdf, size)


def _pattern_weight(scene: SceneSpec, t: np.ndarray, xs: np.ndarray, size: int) -> np.ndarray:
    """Weight ``(T, H, W)`` of the pattern shade over the background colour."""
    px = xs[None, None, :] + scene.pan[0] * t[:, None, None]  # (T, 1, W)
    py = xs[None, :, None] + scene.pan[1] * t[:, None, None]  # (T, H, 1)
    shape = (t.shape[0], size, size)
    if scene.pattern == "plain":
        return np.zeros(shape, np.float32)
    if scene.pattern == "stripes":  # diagonal, so any pan direction shows
        u = (px + py) / math.sqrt(2.0)
        return np.broadcast_to(_band(u, PATTERN_PERIOD / math.sqrt(2.0), size), shape)
    if scene.pattern == "checker":  # XOR of two box-filtered bands is exact for a separable filter
        bx, by = _band(px, PATTERN_PERIOD, size), _band(py, PATTERN_PERIOD, size)
        return np.broadcast_to(bx * (1 - by) + (1 - bx) * by, shape)
    if scene.pattern == "gradient":  # periodic triangle ramp along the diagonal, period one frame
        u = np.mod((px + py) / 2.0, 1.0)
        return np.broadcast_to((1.0 - np.abs(2.0 * u - 1.0)).astype(np.float32), shape)
    raise ValueError(f"unknown pattern {scene.pattern!r}; allowed: {', '.join(BACKGROUND_PATTERNS)}")


@dataclass(frozen=True)
class FrameTruth:
    """Ground truth of rendered frames (for probes, ``metrics/probes.py``).

    ``centres``: ``(T, N, 2)`` object centres in pixels (x, y); ``visible``: ``(T, N, H, W)`` bool masks
    of each object's visible pixels (coverage ≥ 0.5 after occlusion by later objects); ``ids``:
    ``(T, H, W)`` int64, 0 = background, k = object k-1; ``colours``/``shapes`` per object and the
    background colour name/RGB.
    """

    centres: np.ndarray
    visible: np.ndarray
    ids: np.ndarray
    colours: tuple[str, ...]
    shapes: tuple[str, ...]
    background: str
    background_rgb: tuple[int, int, int]


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_args(num_frames: int, size: int, start_frame: int) -> None:
    if not _is_int(num_frames) or num_frames < 1:
        raise ValueError(f"num_frames must be a positive int, got {num_frames!r}")
    if not _is_int(size) or size < 4:
        raise ValueError(f"size must be an int ≥ 4 (square frames), got {size!r}")
    if not _is_int(start_frame) or start_frame < 0:
        raise ValueError(f"start_frame must be a non-negative int, got {start_frame!r}")
    if start_frame + num_frames > FRAME_LIMIT:
        raise ValueError(
            f"start_frame + num_frames must be ≤ 2**53 (float64 frame times are exact up to there), "
            f"got {start_frame} + {num_frames}"
        )


def render_with_truth(
    scene: SceneSpec, num_frames: int, size: int, start_frame: int = 0
) -> tuple[torch.Tensor, FrameTruth]:
    """Render frames ``start_frame … start_frame + num_frames - 1`` of ``scene`` at ``size``×``size``.

    Returns the video ``(3, T, H, W)`` float32 in ``[-1, 1]`` and its :class:`FrameTruth`.
    """
    if not isinstance(scene, SceneSpec):
        hint = ""
        if isinstance(scene, (str, SceneConstraints)):
            hint = "; sample_scene(seed, constraints) draws one (captions.parse_caption reads a caption)"
        raise TypeError(f"scene must be a SceneSpec, got {type(scene).__name__} {scene!r}{hint}")
    _check_args(num_frames, size, start_frame)
    t = np.arange(start_frame, start_frame + num_frames, dtype=np.float64)
    xs = (np.arange(size, dtype=np.float64) + 0.5) / size  # pixel centres
    bg = np.asarray(colour_rgb(scene.background), np.float32)
    shade = np.asarray(pattern_shade(scene.background), np.float32)
    w = _pattern_weight(scene, t, xs, size)[..., None]  # (T, H, W, 1)
    img = bg * (1.0 - w) + shade * w  # (T, H, W, 3)

    centres = object_centres(scene, t)  # (T, N, 2)
    covs = []
    for k, obj in enumerate(scene.objects):
        dx = xs[None, None, :] - centres[:, k, 0][:, None, None]  # (T, 1, W)
        dy = xs[None, :, None] - centres[:, k, 1][:, None, None]  # (T, H, 1)
        cov = _coverage(shape_sdf(obj.shape, dx, dy, obj.size), size)  # (T, H, W)
        rgb = np.asarray(colour_rgb(obj.colour), np.float32)
        img = img * (1.0 - cov[..., None]) + rgb * cov[..., None]
        covs.append(cov)
    # Visible coverage after occlusion by objects drawn later.
    visible_cov = []
    for k, cov in enumerate(covs):
        v = cov.copy()
        for later in covs[k + 1 :]:
            v *= 1.0 - later
        visible_cov.append(v)
    vis = np.stack(visible_cov, axis=1)  # (T, N, H, W)
    visible = vis >= 0.5
    ids = np.zeros((num_frames, size, size), np.int64)
    for k in range(len(covs)):
        ids[visible[:, k]] = k + 1

    video = torch.from_numpy(np.ascontiguousarray(img.transpose(3, 0, 1, 2)))  # (3, T, H, W)
    video = video / 127.5 - 1.0
    truth = FrameTruth(
        centres=centres * size,
        visible=visible,
        ids=ids,
        colours=tuple(o.colour for o in scene.objects),
        shapes=tuple(o.shape for o in scene.objects),
        background=scene.background,
        background_rgb=colour_rgb(scene.background),
    )
    return video, truth


def render(scene: SceneSpec, num_frames: int, size: int, start_frame: int = 0) -> torch.Tensor:
    """Render a clip ``(3, T, H, W)`` float32 in ``[-1, 1]`` (see :func:`render_with_truth`)."""
    return render_with_truth(scene, num_frames, size, start_frame)[0]
