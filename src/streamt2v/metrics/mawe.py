"""MAWE — Motion-Aware Warp Error (paper §5.1 and appendix "MAWE Definition"; official-facts §7.1).

Two definitions:

- ``definition="official"`` (default): the arithmetic of the official ``mawe.py``
  (``get_mawe(video_path, coeff=9.5)``). Per consecutive pair ``t → t+1``:

  1. forward-splat frame ``t`` to ``round(p + flow(p))`` (``torch.round``: half to even); targets
     outside the frame are dropped; when several sources hit one target the last in row-major source
     order wins; target pixels not hit are *unknown* (0 in the warped frame);
  2. ``W_t = Σ_known,3 channels (I_{t+1} − warp(I_t))² / (3 · N_known)`` in 0–255 units;
  3. ``m_t = mean over pixels of ‖flow‖₂`` (not squared);
  4. ``MAWE = mean_t W_t / (c · m_t)`` with ``c = 9.5`` (a mean of ratios), in float32.

  The official code sums in float32 torch, whose last digits vary with the thread count; here the sum of
  step 2 is exact (integers) and that of step 3 float64 (numpy), so MAWE does not (with the exact resize of
  ``flow.resize_frames``).

- ``definition="paper"``: the paper-v2 appendix formula ``MAWE = W / OFS`` with ``W`` the mean warp
  error over pairs and ``OFS`` the mean *squared* flow magnitude over all pairs and pixels; no ``c``.

A static video (zero flow) has no motion to normalise by: a pair with ``m_t = 0`` contributes ``inf``
(the official code divides by zero), so MAWE is ``inf``; likewise ``OFS = 0`` gives ``inf``. A pair with
no known pixel (never happens with a real flow field) has ``W_t = nan``.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field

import numpy as np
import torch

from streamt2v.metrics.flow import (
    DEFAULT_FLOW_SIZE,
    check_flow_frame_size,
    check_flow_settings,
    check_flow_size,
    make_flow_fn,
    require_raft,
    resize_frames,
)
from streamt2v.metrics.inputs import VideoLike, as_uint8_frames, check_positive
from streamt2v.progress_bars import progress_bar
from streamt2v.wording import counted

logger = logging.getLogger(__name__)

OFFICIAL_COEFF = 9.5
# c's accepted values: far from float32's limits, whatever the videos' motion m_t
COEFF_RANGE = (1e-6, 1e6)
DEFINITIONS: tuple[str, ...] = ("official", "paper")


def forward_warp(frame: torch.Tensor, flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Official forward splatting (``warp_with_flow``): frame ``(C, H, W)``, flow ``(2, H, W)``.

    Returns ``(warped (C, H, W) float32, unknown (H, W) bool)``; unknown pixels are 0 in ``warped``.
    Last-write-wins in row-major source order is computed deterministically: every target keeps the
    largest source index that hits it.
    """
    if frame.ndim != 3 or flow.ndim != 3 or flow.shape[0] != 2 or frame.shape[1:] != flow.shape[1:]:
        raise ValueError(
            f"expected frame (C, H, W) and flow (2, H, W) of the same size, "
            f"got {tuple(frame.shape)} and {tuple(flow.shape)}"
        )
    c, h, w = frame.shape
    frame = frame.to(torch.float32)
    flow = flow.to(torch.float32)
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij"
    )
    tx = torch.round(xs + flow[0])  # half to even, like the official code
    ty = torch.round(ys + flow[1])
    inside = (tx >= 0) & (tx < w) & (ty >= 0) & (ty < h)
    src = torch.arange(h * w, dtype=torch.int64)[inside.reshape(-1)]
    tgt = (ty.long() * w + tx.long())[inside]
    winner = torch.full((h * w,), -1, dtype=torch.int64)
    winner.scatter_reduce_(0, tgt, src, reduce="amax", include_self=True)
    known = winner >= 0
    warped = torch.zeros(c, h * w, dtype=torch.float32)
    warped[:, known] = frame.reshape(c, -1)[:, winner[known]]
    return warped.reshape(c, h, w), ~known.reshape(h, w)


@dataclass
class MaweResult:
    """MAWE and its per-pair parts (``warp_errors`` = W_t, ``motions`` = m_t)."""

    mawe: float
    warp_errors: np.ndarray
    motions: np.ndarray
    definition: str
    coeff: float
    ratios: np.ndarray = field(default_factory=lambda: np.empty(0, np.float32))


def pair_stats(frame_a: np.ndarray, frame_b: np.ndarray, flow: np.ndarray) -> tuple[float, float, float]:
    """``(W_t, m_t, mean ‖f‖²)`` of one pair: uint8 ``(H, W, 3)`` frames, float ``(2, H, W)`` flow.

    Nothing here depends on the torch thread count (a float32 ``torch.sum`` does, in its last digits): the
    squared errors are integers, summed exactly; the flow norms are computed and summed by numpy in float64
    (float32 in the official code: 2e-7 apart on the reference video)."""
    a = torch.from_numpy(np.ascontiguousarray(frame_a)).permute(2, 0, 1).to(torch.float32)
    f = torch.from_numpy(np.ascontiguousarray(flow)).to(torch.float32)
    warped, unknown = forward_warp(a, f)
    known = ~unknown.numpy()
    n_known = int(known.sum())
    # warped pixels are frame_a's values: integer differences, squares below 2**16
    diff = frame_b.transpose(2, 0, 1).astype(np.int32) - warped.numpy().astype(np.int32)
    sq = int((diff * diff).sum(axis=0)[known].sum(dtype=np.int64))
    werr = sq / (3 * n_known) if n_known > 0 else math.nan
    dx, dy = f.numpy().astype(np.float64)  # float64 elementwise: no torch reduction, whose order may vary
    sq_mag = dx * dx + dy * dy
    return werr, float(np.sqrt(sq_mag).mean()), float(sq_mag.mean())


def _check_shapes(frames: np.ndarray, flows: np.ndarray) -> None:
    t = frames.shape[0]
    if (
        flows.ndim != 4
        or flows.shape[0] != t - 1
        or flows.shape[1] != 2
        or flows.shape[2:] != frames.shape[1:3]
    ):
        raise ValueError(
            f"flows must have shape (T-1, 2, H, W) = ({t - 1}, 2, {frames.shape[1]}, {frames.shape[2]}), "
            f"got {flows.shape}"
        )


def _video_name(video: object, name: str | None) -> str | None:
    """The name the log gives a video: ``name``, else the path it was read from, else none."""
    if name is not None:
        return str(name)
    return str(video) if isinstance(video, (str, os.PathLike)) else None


def _result(stats: np.ndarray, coeff: float, definition: str, name: str | None = None) -> MaweResult:
    """MAWE from per-pair ``(W_t, m_t, mean ‖f‖²)`` rows (module docstring); ``name`` labels the video in
    the log line of an infinite MAWE."""
    werr, mot = stats[:, 0].astype(np.float32), stats[:, 1].astype(np.float32)
    if definition == "official":  # float32 as the official code, in numpy: no thread-dependent sum
        denom = np.float32(coeff) * mot
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = np.where(denom > 0, werr / denom, np.float32(math.inf)).astype(np.float32)
        value, used_coeff = float(ratios.mean(dtype=np.float32)), float(coeff)
    else:
        ofs = float(stats[:, 2].mean())  # equal pixel counts: mean of per-pair means = global mean
        ratios = np.empty(0, np.float32)
        value = float(np.mean(werr, dtype=np.float64) / ofs) if ofs > 0 else math.inf
        used_coeff = 1.0
    if math.isinf(value):
        which = f"MAWE of {name!r}" if name is not None else "MAWE"
        logger.info("%s is inf: the video has (some) pairs with zero optical flow (static video)", which)
    return MaweResult(value, werr, mot, definition, used_coeff, ratios)


def check_coeff(coeff: float, name: str = "coeff") -> float:
    """The rule for ``c`` shared by the API and ``streamt2v evaluate --mawe-coeff``: a number in
    :data:`COEFF_RANGE` (``name``: the caller's argument, in the message). ``c · m_t`` is float32, as in
    the official code: a ``c`` of 1e39 made every MAWE 0 and one of 1e-40 inf ("static video"); ``nan``
    would give nan."""
    what = f"{name} (the MAWE coefficient c)"
    check_positive(coeff, what)
    low, high = COEFF_RANGE
    if not low <= coeff <= high:
        raise ValueError(
            f"{what} must be from {low:g} to {high:g} (the paper's is {OFFICIAL_COEFF:g}), got {coeff:g}"
        )
    return coeff


def check_definition(definition: object) -> None:
    """Refuse an unknown MAWE definition, naming the ones there are."""
    if definition not in DEFINITIONS:
        raise ValueError(f"unknown MAWE definition {definition!r}; choose one of {', '.join(DEFINITIONS)}")


def _check_args(coeff: float, definition: str) -> None:
    check_definition(definition)
    check_coeff(coeff)


def mawe_from_flows(
    frames: VideoLike,
    flows: np.ndarray | torch.Tensor,
    coeff: float = OFFICIAL_COEFF,
    definition: str = "official",
    *,
    name: str | None = None,
) -> MaweResult:
    """MAWE from frames and precomputed flows (flow ``t``: frame ``t`` → ``t+1``, same resolution).

    See the module docstring for the two definitions and the static-video convention (``inf``).
    ``name`` labels the video in the log line of an infinite MAWE (default: the path, when ``frames`` is one).
    """
    name = _video_name(frames, name)
    _check_args(coeff, definition)
    frames = as_uint8_frames(frames, min_frames=2)
    if isinstance(flows, torch.Tensor):
        flows = flows.detach().cpu().numpy()
    flows = np.asarray(flows, dtype=np.float32)
    _check_shapes(frames, flows)
    bad = int((~np.isfinite(flows)).sum())
    if bad:  # a NaN flow splats nowhere and would give a meaningless number, not an error
        raise ValueError(f"flows have {counted(bad, 'NaN or infinite value')} of {flows.size}")
    stats = np.array([pair_stats(frames[i], frames[i + 1], flows[i]) for i in range(len(flows))])
    return _result(stats, coeff, definition, name)


def mawe(
    video: VideoLike,
    flows: np.ndarray | torch.Tensor | None = None,
    coeff: float = OFFICIAL_COEFF,
    definition: str = "official",
    flow: str = "dis",
    flow_size: int | tuple[int, int] | None = DEFAULT_FLOW_SIZE,
    progress: bool = False,
    raft_weights: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    *,
    name: str | None = None,
) -> MaweResult:
    """MAWE of one video (paper §5.1; lower is better).

    Frames are resized to ``flow_size`` (720×720 like the paper; ``None`` keeps the native size) and
    the flow is computed with ``flow`` (``dis`` | ``farneback`` | ``raft``), unless ``flows`` are given:
    then they are used as they are and must match the (resized) frames. ``name`` labels the video in the
    log line of an infinite MAWE (default: the path, when ``video`` is one).
    """
    name = _video_name(video, name)
    _check_args(coeff, definition)
    check_flow_size(flow_size)  # settings first: decoding a path can take long
    if flows is None:
        check_flow_settings(flow, flow_size)
        if flow == "raft":
            require_raft(raft_weights)
    native = as_uint8_frames(video, min_frames=2)
    if flows is not None:
        return mawe_from_flows(
            resize_frames(native, flow_size), flows, coeff=coeff, definition=definition, name=name
        )
    if flow_size is None:  # the video's own size, which its flows may not work at
        check_flow_frame_size(flow, *native.shape[1:3], "the video's frames")
    # One pair at a time, each frame resized as it is reached: 240 flows at 720×720 would need ~1 GB if kept,
    # and the resized video 1.5 MB a frame (2.2 GB for 1200 frames). The resize is per frame: the same bytes.
    fn = make_flow_fn(flow, raft_weights=raft_weights, device=device)
    stats, a = [], resize_frames(native[:1], flow_size)[0]
    for i in progress_bar(range(len(native) - 1), desc=f"MAWE ({flow})", disable=not progress, leave=False):
        b = resize_frames(native[i + 1 : i + 2], flow_size)[0]
        stats.append(pair_stats(a, b, fn(a, b)))
        a = b
    return _result(np.array(stats), coeff, definition, name)
