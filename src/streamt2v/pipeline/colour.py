"""Colour coherence for long videos: match a chunk's colour distribution to the anchor frame's.

Each streamed chunk is conditioned on the decoded frames of the previous one, so a small colour shift per
chunk compounds over a long video. Matching every new chunk's per-channel histogram in CIELAB to the
anchor frame's (the "colour coherence" of long image-to-image animation tools) pulls it back each time;
a strength below 1 blends the matched colours with the generated ones, so that the chunk's own content
(an object that moved out of view, a new one under a scheduled prompt) is not forced into the anchor's
proportions. Not in the official release; opt in with ``StreamConfig.anchor_colour_match``.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch


def _to_lab(video: torch.Tensor) -> np.ndarray:
    """(1, 3, T, H, W) in [-1, 1] → (T, H, W, 3) float32 CIELAB (L in [0, 100])."""
    rgb = ((video[0].permute(1, 2, 3, 0).float().clamp(-1, 1) + 1) / 2).numpy()
    return np.stack([cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2LAB) for f in rgb])


def _from_lab(lab: np.ndarray) -> torch.Tensor:
    rgb = np.stack([cv2.cvtColor(np.ascontiguousarray(f, dtype=np.float32), cv2.COLOR_LAB2RGB) for f in lab])
    return (torch.from_numpy(rgb).permute(3, 0, 1, 2).unsqueeze(0) * 2 - 1).clamp(-1, 1)


def match_histogram(source: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Map each value of ``source`` to the ``reference`` value at the same quantile (arrays of any shape,
    each pooled over all its values; the result has ``source``'s shape)."""
    _, inverse, counts = np.unique(source, return_inverse=True, return_counts=True)
    ref_values, ref_counts = np.unique(reference, return_counts=True)
    quantiles = np.cumsum(counts) / source.size
    ref_quantiles = np.cumsum(ref_counts) / reference.size
    return np.interp(quantiles, ref_quantiles, ref_values)[inverse.reshape(-1)].reshape(source.shape)


def match_colours(frames: torch.Tensor, reference: torch.Tensor, strength: float = 1.0) -> torch.Tensor:
    """``frames`` (1, 3, T, H, W) in [-1, 1] with each CIELAB channel's distribution over all T frames
    matched to that of ``reference`` (1, 3, R, H', W'), blended with the original at ``strength`` (1 = fully
    matched); returned as float32 on the CPU."""
    for name, video in (("frames", frames), ("reference", reference)):
        if video.dim() != 5 or video.shape[:2] != (1, 3):
            raise ValueError(f"{name} must be shaped (1, 3, T, H, W), got {tuple(video.shape)}")
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], got {strength}")
    frames = frames.detach().to("cpu", torch.float32)
    lab, ref = _to_lab(frames), _to_lab(reference.detach().cpu())
    matched = np.stack(
        [match_histogram(lab[..., c].ravel(), ref[..., c].ravel()).reshape(lab.shape[:-1]) for c in range(3)],
        axis=-1,
    )
    # The correction is applied as an RGB difference, so the CIELAB round trip's own error cancels.
    blended = _from_lab((lab + strength * (matched - lab)).astype(np.float32))
    return (frames + (blended - _from_lab(lab))).clamp(-1, 1)
