"""Window plans, shared noise and randomized blending for the enhancer (paper §4.3, eq. 7–8).

Pure tensor functions with an explicit ``torch.Generator``; no models, no schedulers.

The enhancer splits a long video of ``T`` frames into overlapping chunks of ``F`` frames (default 24) that
overlap by ``O`` frames (default 8):

* **Window plan** — windows start every ``F - O`` frames; the last window is aligned to the end of the video
  so that no frame is dropped (the official code trims the video to a multiple of the stride instead).
  Its overlap with the previous window may therefore be larger than ``O`` (at most ``F - 1``); the extra
  frames are taken from the left window and only the last ``O`` frames of that overlap are blended. A
  video shorter than one chunk is a single chunk of its own length.
* **Shared noise** (eq. 7) — one noise tensor for the whole video; each chunk takes its frames from it, so
  overlapping frames of consecutive chunks carry identical noise.
* **Randomized blending** (eq. 8) — for consecutive chunks ``V_{i-1}``, ``V_i`` with overlap ``O_i`` a cut
  ``f_thr`` is drawn uniformly from ``{0, …, O_i}``; overlap frames before the cut come from the left chunk,
  the others from the right chunk. Frame ``f ∈ {1, …, O}`` (1-based) of the overlap therefore comes from
  the left chunk with probability ``1 − f/(O+1)``. The official code draws from ``{0, …, O−1}``.

Chunk tensors are stacked as ``(n_chunks, B, C, F, H, W)``; videos are ``(B, C, T, H, W)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

#: ``independent``: each chunk has its own noise, chunks merged once at the end by a fixed cut (naive
#: concatenation, Fig. 4a); ``shared-noise``: the same, but noise shared over overlaps (Fig. 4b);
#: ``randomized``: shared noise and randomized blending at every denoising step (Fig. 4c, the default).
BLEND_MODES: tuple[str, ...] = ("independent", "shared-noise", "randomized")


def check_mode(mode: str) -> str:
    """Return ``mode`` if it is one of :data:`BLEND_MODES`, else raise naming the allowed values."""
    if mode not in BLEND_MODES:
        raise ValueError(f"unknown enhancement mode {mode!r}; choose one of {', '.join(BLEND_MODES)}")
    return mode


@dataclass(frozen=True)
class WindowPlan:
    """Overlapping windows ``[start, start + chunk_frames)`` covering ``num_frames`` frames (paper §4.3)."""

    num_frames: int
    chunk_frames: int  # frames per window (== num_frames when the video is shorter than one chunk)
    overlap: int  # nominal overlap O
    starts: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def windows(self) -> list[tuple[int, int]]:
        """``(start, end)`` frame ranges, end exclusive."""
        return [(s, s + self.chunk_frames) for s in self.starts]

    @property
    def overlaps(self) -> list[int]:
        """Actual overlap between window ``i`` and ``i + 1`` (``O``, or more for the end-aligned last one)."""
        return [a + self.chunk_frames - b for a, b in zip(self.starts[:-1], self.starts[1:])]

    @property
    def cut_ranges(self) -> list[tuple[int, int]]:
        """Allowed cuts ``(lo, hi)`` (inclusive) per pair: ``(O_i - O, O_i)``.

        The blended region is always the last ``O`` frames of an overlap; the extra frames of the
        end-aligned last window's larger overlap are taken from the left (regularly placed) chunk.
        """
        return [(o - self.overlap, o) for o in self.overlaps]


def plan_windows(num_frames: int, chunk_frames: int = 24, overlap: int = 8) -> WindowPlan:
    """Windows of ``chunk_frames`` frames every ``chunk_frames - overlap`` frames, the last one end-aligned.

    Nothing is dropped: every frame ``0 … num_frames-1`` lies in at least one window. A video of at most
    ``chunk_frames`` frames is one window of ``num_frames`` frames.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if overlap < 0:
        raise ValueError(f"overlap must be >= 0, got {overlap}")
    if chunk_frames <= overlap:
        raise ValueError(
            f"chunk_frames ({chunk_frames}) must be larger than overlap ({overlap}): "
            "consecutive chunks would not advance"
        )
    if num_frames <= chunk_frames:
        return WindowPlan(num_frames, num_frames, overlap, (0,))
    stride = chunk_frames - overlap
    starts = list(range(0, num_frames - chunk_frames, stride))
    starts.append(num_frames - chunk_frames)  # end-aligned last window; > previous start by construction
    return WindowPlan(num_frames, chunk_frames, overlap, tuple(starts))


def _check_video(video: torch.Tensor, plan: WindowPlan, name: str = "video") -> None:
    if video.ndim != 5:
        raise ValueError(f"{name} must be (B, C, T, H, W), got shape {tuple(video.shape)}")
    if video.shape[2] != plan.num_frames:
        raise ValueError(f"{name} has {video.shape[2]} frames but the window plan covers {plan.num_frames}")


def split_chunks(video: torch.Tensor, plan: WindowPlan) -> torch.Tensor:
    """``(B, C, T, H, W)`` → ``(n_chunks, B, C, F, H, W)``: each window's frames (a copy)."""
    _check_video(video, plan)
    return torch.stack([video[:, :, s:e] for s, e in plan.windows])


def shared_noise(
    shape: tuple[int, ...],
    *,
    generator: torch.Generator,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """One noise tensor for the whole video ``(B, C, T, H, W)`` (eq. 7), drawn on CPU and moved.

    Split it with :func:`split_chunks`: overlapping frames of consecutive chunks then share their noise,
    which is the paper's construction (fresh noise for the new ``F - O`` frames concatenated with the
    previous chunk's overlap noise).
    """
    return torch.randn(shape, generator=generator, dtype=torch.float32).to(device=device, dtype=dtype)


def chunk_noise(
    shape: tuple[int, ...],
    plan: WindowPlan,
    mode: str,
    *,
    generator: torch.Generator,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Noise for every chunk, ``(n_chunks, B, C, F, H, W)`` for a video of ``shape = (B, C, T, H, W)``.

    ``independent``: every chunk draws its own noise; ``shared-noise`` / ``randomized``: chunks are views
    of one whole-video noise (eq. 7).
    """
    check_mode(mode)
    if len(shape) != 5 or shape[2] != plan.num_frames:
        raise ValueError(f"noise shape {tuple(shape)} is not (B, C, {plan.num_frames}, H, W)")
    if mode == "independent":
        b, c, _, h, w = shape
        noise = torch.randn((len(plan), b, c, plan.chunk_frames, h, w), generator=generator)
        return noise.to(device=device, dtype=dtype)
    return split_chunks(shared_noise(shape, generator=generator, device=device, dtype=dtype), plan)


def draw_cuts(plan: WindowPlan, *, generator: torch.Generator) -> tuple[int, ...]:
    """Random cuts for randomized blending (eq. 8): ``cuts[i] ~ U{0, …, O}`` for ``i ≥ 1``; ``cuts[0] = 0``.

    For the end-aligned last window, whose overlap ``O_i`` may exceed ``O``, the cut is shifted by
    ``O_i - O`` (see :attr:`WindowPlan.cut_ranges`). Drawn on the (CPU) ``generator``.
    """
    if len(plan) == 1:
        return (0,)
    draws = torch.randint(0, plan.overlap + 1, (len(plan) - 1,), generator=generator)
    return (0, *(lo + int(d) for (lo, _), d in zip(plan.cut_ranges, draws)))


def fixed_cuts(plan: WindowPlan) -> tuple[int, ...]:
    """Deterministic cuts in the middle of each blended region (``O // 2``): naive concatenation (Fig. 4a/b).

    With ``O = 0`` this is plain concatenation of the windows.
    """
    return (0, *(lo + plan.overlap // 2 for lo, _ in plan.cut_ranges))


def blend_chunks(chunks: torch.Tensor, plan: WindowPlan, cuts: tuple[int, ...]) -> torch.Tensor:
    """Merge per-chunk tensors ``(n_chunks, B, C, F, H, W)`` into the video ``(B, C, T, H, W)`` (eq. 8).

    Window ``i`` supplies frames ``[start_i + cuts[i], end_i)``, written in chunk order, so in the overlap
    of windows ``i-1`` and ``i`` the first ``cuts[i]`` frames come from the left chunk (x_L) and the rest
    from the right chunk (x_R).
    """
    if chunks.ndim != 6 or chunks.shape[0] != len(plan) or chunks.shape[3] != plan.chunk_frames:
        raise ValueError(
            f"chunks must be (n_chunks={len(plan)}, B, C, F={plan.chunk_frames}, H, W), "
            f"got shape {tuple(chunks.shape)}"
        )
    if len(cuts) != len(plan) or cuts[0] != 0:
        raise ValueError(f"need {len(plan)} cuts starting with 0, got {cuts}")
    for i, (cut, (lo, hi)) in enumerate(zip(cuts[1:], plan.cut_ranges), start=1):
        if not lo <= cut <= hi:
            raise ValueError(f"cut {cut} of chunk {i} is outside its allowed range {{{lo}, …, {hi}}}")
    _, b, c, f, h, w = chunks.shape
    out = chunks.new_empty((b, c, plan.num_frames, h, w))
    for chunk, (start, end), cut in zip(chunks, plan.windows, cuts):
        out[:, :, start + cut : end] = chunk[:, :, cut:]
    return out
