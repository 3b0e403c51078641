"""Pure index math for the streaming stage: which frames each chunk produces (paper §4, Fig. 2).

Terms: ``F`` = ``chunk_frames`` (frames sampled per chunk, 16), ``F_cond`` = ``cond_frames`` (frames of the
video so far that the CAM sees, 8), ``S = F - F_cond`` new frames kept per streaming chunk (8).

How ``N`` output frames map to chunks (``prefix = 0``, text-to-video):

- chunk 0 (stage 1, initialization) samples ``F`` frames and keeps ``min(N, F)``;
- chunk ``k >= 1`` (stage 2, streaming) samples ``F`` frames, drops its first ``F_cond`` (they regenerate
  the conditioning frames) and keeps frames ``[F + (k-1) S, F + k S)`` of the video, trimmed to ``N``;
- so ``num_chunks = 1`` if ``N <= F`` else ``1 + ceil((N - F) / S)``. With F = 16, F_cond = 8:
  N = 1…16 → 1 chunk, 17…24 → 2, 80 → 9, 81 → 10, 240 → 29, 1200 → 149.

With a given prefix of ``P`` frames (extend mode: an input video; or an input image, ``P = 1``) chunk 0 is the
prefix itself (stage 0, not sampled) and every later chunk is a streaming chunk adding ``S`` frames:
``num_chunks = 1 + ceil((N - P) / S)``. When the video so far is shorter than ``F_cond`` frames, the
conditioning frames are left-padded by repeating its first frame (:func:`cond_frame_indices`).
"""

from __future__ import annotations

from dataclasses import dataclass

from streamt2v.pipeline.setting_checks import SettingError
from streamt2v.typed_values import shown_number
from streamt2v.wording import counted

# The most frames a chunk (stages 1-2) or a refiner window (stage 3) may have: its frames are denoised at
# once, in memory (a million took 22 GB and was killed), and the temporal attention has no positional
# embedding to bound them. The models are trained on 16 (stages 1-2) and 24 (the refiner): 256 is far past.
MAX_CHUNK_FRAMES = 256


@dataclass(frozen=True)
class ChunkSpec:
    """One chunk of the plan. ``start:stop`` are the output frames it contributes (its *new* frames)."""

    index: int
    stage: int  # 0 = given prefix (not sampled), 1 = initialization model, 2 = streaming model
    start: int
    stop: int
    keep_offset: int  # index inside the sampled chunk of the first kept frame (0 for stage 1, F_cond for 2)

    @property
    def num_new(self) -> int:
        return self.stop - self.start


def check_chunk_frames(chunk_frames: int) -> None:
    """Refuse a ``chunk_frames`` above :data:`MAX_CHUNK_FRAMES`, before any run folder is made."""
    if chunk_frames > MAX_CHUNK_FRAMES:
        raise SettingError(
            f"chunk_frames must be at most {MAX_CHUNK_FRAMES}, got {shown_number(chunk_frames)}: a chunk's "
            "frames are denoised at once, in memory (the official models' chunks are 16 frames, the "
            "refiner's 24)"
        )


def validate_sizes(chunk_frames: int, cond_frames: int) -> None:
    """Raise unless ``0 < cond_frames < chunk_frames <= MAX_CHUNK_FRAMES`` (each streaming chunk must add
    frames)."""
    check_chunk_frames(chunk_frames)
    if cond_frames < 1:
        raise SettingError(f"cond_frames must be >= 1, got {shown_number(cond_frames)}")
    if chunk_frames <= cond_frames:
        raise SettingError(
            f"chunk_frames ({shown_number(chunk_frames)}) must be greater than cond_frames "
            f"({shown_number(cond_frames)}): each streaming chunk keeps the difference as new frames"
        )


def num_chunks(
    num_frames: int, *, chunk_frames: int = 16, cond_frames: int = 8, prefix_frames: int = 0
) -> int:
    """Number of chunks (including chunk 0) that make ``num_frames`` output frames; see module docstring."""
    return len(
        plan_chunks(
            num_frames, chunk_frames=chunk_frames, cond_frames=cond_frames, prefix_frames=prefix_frames
        )
    )


def plan_chunks(
    num_frames: int, *, chunk_frames: int = 16, cond_frames: int = 8, prefix_frames: int = 0
) -> list[ChunkSpec]:
    """The chunk plan for exactly ``num_frames`` output frames (``>= 1``; more than ``prefix_frames``)."""
    validate_sizes(chunk_frames, cond_frames)
    if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames < 1:
        raise SettingError(f"num_frames must be an integer >= 1, got {shown_number(num_frames)}")
    if prefix_frames < 0:
        raise ValueError(f"prefix_frames must be >= 0, got {prefix_frames}")
    step = chunk_frames - cond_frames
    if prefix_frames:
        if num_frames <= prefix_frames:
            raise SettingError(
                f"num_frames ({shown_number(num_frames)}) must exceed the "
                f"{counted(prefix_frames, 'input frame')}: it counts the whole output, input frames "
                f"included, so {prefix_frames + 1} or more"
            )
        plan = [ChunkSpec(0, 0, 0, prefix_frames, 0)]
        pos = prefix_frames
    else:
        first = min(num_frames, chunk_frames)
        plan = [ChunkSpec(0, 1, 0, first, 0)]
        pos = first
    while pos < num_frames:
        stop = min(pos + step, num_frames)
        plan.append(ChunkSpec(len(plan), 2, pos, stop, cond_frames))
        pos = stop
    return plan


def cond_frame_indices(num_available: int, cond_frames: int) -> list[int]:
    """Indices (into the video so far) of the CAM's conditioning frames: the last ``cond_frames``, left-padded
    with frame 0 when fewer exist (an input image, or a short input video)."""
    if num_available < 1:
        raise ValueError("the CAM needs at least one frame of the video so far")
    last = list(range(max(0, num_available - cond_frames), num_available))
    return [last[0]] * (cond_frames - len(last)) + last


def chunk_seed(seed: int, index: int) -> int:
    """A 63-bit seed for chunk ``index`` derived from the run's ``seed`` (DESIGN §4): chunk noise does not
    depend on earlier chunks having been sampled in this process, so a resumed run reproduces them."""
    import numpy as np

    if seed < 0 or index < 0:
        raise ValueError(f"seed and chunk index must be >= 0, got seed={seed}, index={index}")
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1, dtype=np.uint64)[0] >> 1)
