"""The videos the metrics take, and the checks of their numeric arguments.

Inputs accepted everywhere in ``streamt2v.metrics`` ("a video", :data:`VideoLike`):
- a tensor or array as ``streamt2v.io.video.video_frames`` takes it: a float tensor ``(1, 3, T, H, W)`` or
  ``(3, T, H, W)`` in ``[-1, 1]`` (0–255 floats, NaN and inf are refused), a uint8 tensor in ``0..255``
  as those or as frames ``(T, H, W, 3)``, a uint8 array ``(T, H, W, 3)`` (RGB);
- a path to a video file or a folder of frames (decoded at call time, :func:`read_video_file`).

Float ``[0, 1]`` frames cannot be told apart from a bright ``[-1, 1]`` video: convert them (``x * 2 - 1``).
"""

from __future__ import annotations

import math
import numbers
import os

import numpy as np
import torch

from streamt2v.io.folders import home_path, named_path
from streamt2v.wording import counted

VideoLike = torch.Tensor | np.ndarray | str | os.PathLike  # see the module docstring


def read_video_file(path: str | os.PathLike) -> tuple[np.ndarray, float]:
    """Decode a video file (or a folder of frame images) to ``uint8 (T, H, W, 3)`` RGB and its fps via
    ``streamt2v.io.video``."""
    given, path = path, home_path(path)  # ~/v.mp4, as the command line's arguments take it
    if not path.exists():
        raise FileNotFoundError(f"video file not found: {named_path(given)}")
    from streamt2v.io.decoding import decode_frames  # lazy: the I/O room owns decoding
    from streamt2v.io.video import read_video, video_frames

    if path.is_dir():
        video, fps = read_video(path)
        return video_frames(video), float(fps)
    # uint8 straight from the decoder: through read_video's float32 video a 20-frame 4K file (500 MB of
    # frames) peaked at 8.3 GB. SCuts and the flow assume even spacing, hence the variable-rate warning.
    frames, fps = decode_frames(path, warn_variable_rate=True)
    return frames, float(fps)


def as_uint8_frames(video: VideoLike, min_frames: int = 1) -> np.ndarray:
    """Any accepted video form → ``uint8 (T, H, W, 3)`` RGB, with at least ``min_frames`` frames."""
    if isinstance(video, (str, os.PathLike)):
        frames, _ = read_video_file(video)
    elif isinstance(video, (torch.Tensor, np.ndarray)):
        from streamt2v.io.video import video_frames

        frames = video_frames(video)
    else:
        raise TypeError(f"expected a video tensor, a uint8 array or a path, got {type(video).__name__}")
    if frames.shape[0] < min_frames:
        raise ValueError(
            f"the video has {counted(frames.shape[0], 'frame')}; this metric needs at least {min_frames}"
        )
    if frames.shape[1] < 1 or frames.shape[2] < 1:
        raise ValueError(f"the video has empty frames of shape {frames.shape[1:]}")
    return frames


def check_positive(value: object, name: str) -> float:
    """``value`` as a float; raises unless it is a finite real number > 0 (``name`` in the message)."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)
